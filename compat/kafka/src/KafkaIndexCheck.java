import org.apache.kafka.tools.DumpLogSegments;

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
 */
public final class KafkaIndexCheck {
    private KafkaIndexCheck() { }

    public static void main(String[] args) throws Exception {
        String files = String.join(",", args);
        for (String pass : new String[] {"sanity", "verify"}) {
            System.out.println("@@ " + pass);
            System.err.println("@@ " + pass);
            String mode = pass.equals("sanity") ? "--index-sanity-check" : "--verify-index-only";
            DumpLogSegments.main(new String[] {mode, "--files", files});
        }
        System.out.flush();
        System.err.flush();
    }
}
