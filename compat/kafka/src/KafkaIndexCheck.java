import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

/**
 * Kafka's own index checks for strata's tests, in one JVM: `DumpLogSegments --index-sanity-check`
 * (the check a broker runs on each index at load to decide whether to rebuild it) and then
 * `DumpLogSegments --verify-index-only` (every `.index` entry must name the last offset of the
 * batch at its position; every `.timeindex` entry the max timestamp and last offset of a batch,
 * in increasing order) over the `.index` / `.timeindex` files given as arguments.
 *
 * Prints a line `@@ sanity` / `@@ verify` on stdout and stderr before each pass, so the caller
 * can tell the passes' output apart (DumpLogSegments prints mismatches on stderr and exits 0).
 * An exception (an index that fails its sanity check) ends the JVM with a non-zero status.
 *
 * The tool is found by name, so one source builds against every Kafka 4.x: it is the Java
 * `org.apache.kafka.tools.DumpLogSegments` in Kafka 4.3 and later (4.3.1 and 4.4.0 were run) and
 * the Scala `kafka.tools.DumpLogSegments` (with a static `main` forwarder) before (4.0.2, 4.1.2, 4.2.2).
 */
public final class KafkaIndexCheck {
    private KafkaIndexCheck() { }

    private static Method dumpLogSegments() throws ReflectiveOperationException {
        ClassNotFoundException missing = null;
        for (String name : new String[] {"org.apache.kafka.tools.DumpLogSegments",
                                         "kafka.tools.DumpLogSegments"}) {
            try {
                return Class.forName(name).getMethod("main", String[].class);
            } catch (ClassNotFoundException e) {
                missing = e;
            }
        }
        throw missing;
    }

    public static void main(String[] args) throws Exception {
        Method tool = dumpLogSegments();
        String files = String.join(",", args);
        for (String pass : new String[] {"sanity", "verify"}) {
            System.out.println("@@ " + pass);
            System.err.println("@@ " + pass);
            String mode = pass.equals("sanity") ? "--index-sanity-check" : "--verify-index-only";
            try {
                tool.invoke(null, (Object) new String[] {mode, "--files", files});
            } catch (InvocationTargetException e) {
                if (e.getCause() instanceof Exception cause) {
                    throw cause;
                }
                throw e;
            }
        }
        System.out.flush();
        System.err.flush();
    }
}
