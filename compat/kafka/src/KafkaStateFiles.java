import java.io.File;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.storage.internals.checkpoint.CleanShutdownFileHandler;
import org.apache.kafka.storage.internals.checkpoint.LeaderEpochCheckpointFile;
import org.apache.kafka.storage.internals.checkpoint.OffsetCheckpointFile;
import org.apache.kafka.storage.internals.checkpoint.PartitionMetadataFile;
import org.apache.kafka.storage.internals.log.BatchMetadata;
import org.apache.kafka.storage.internals.log.EpochEntry;
import org.apache.kafka.storage.internals.log.LogDirFailureChannel;
import org.apache.kafka.storage.internals.log.ProducerStateEntry;
import org.apache.kafka.storage.internals.log.ProducerStateManager;

/**
 * The files a Kafka broker keeps beside its segments, read with the broker's own classes (the
 * readers it runs at load), for strata's tests: each argument is a file, and what Kafka read of
 * it is printed after a line `@ PATH`:
 *
 * <ul>
 * <li>{@code NNN.snapshot}: {@code ProducerStateManager.readSnapshot} (version, CRC-32C, the
 *     entries), one line per producer in file order:
 *     {@code S producerId epoch lastSequence lastOffset offsetDelta timestamp coordinatorEpoch
 *     currentTxnFirstOffset} (-1 for none, as the file stores them);</li>
 * <li>{@code leader-epoch-checkpoint}: {@code LeaderEpochCheckpointFile.read}, {@code E epoch
 *     startOffset} per entry;</li>
 * <li>{@code recovery-point-offset-checkpoint}, {@code log-start-offset-checkpoint},
 *     {@code replication-offset-checkpoint}, {@code cleaner-offset-checkpoint}:
 *     {@code OffsetCheckpointFile.read}, {@code O topic partition offset} sorted;</li>
 * <li>{@code partition.metadata}: {@code PartitionMetadataFile.read}, {@code M version topicId};</li>
 * <li>{@code .kafka_cleanshutdown}: {@code CleanShutdownFileHandler.read} on its directory,
 *     {@code C brokerEpoch} (-1 when the file holds none).</li>
 * </ul>
 *
 * Kafka's readers throw on a malformed file (a checkpoint reader reports it to the
 * LogDirFailureChannel, which the broker answers by taking the log directory offline): the
 * exception ends the JVM with a non-zero status and the file named on stderr.
 */
public final class KafkaStateFiles {
    private KafkaStateFiles() { }

    /**
     * A value class's member by name: a record accessor where the class is a Java record
     * ({@code BatchMetadata} and {@code EpochEntry} in 4.4.0), a public final field where it is
     * not (4.0.2).
     */
    private static Object member(Object of, String name) throws ReflectiveOperationException {
        try {
            return of.getClass().getMethod(name).invoke(of);
        } catch (NoSuchMethodException e) {
            return of.getClass().getField(name).get(of);
        }
    }

    public static void main(String[] args) throws Exception {
        LogDirFailureChannel channel = new LogDirFailureChannel(1);
        for (String arg : args) {
            File file = new File(arg);
            String name = file.getName();
            System.out.println("@ " + arg);
            try {
                if (name.endsWith(".snapshot")) {
                    for (ProducerStateEntry e : ProducerStateManager.readSnapshot(file)) {
                        long lastOffset = -1;
                        int lastSeq = -1;
                        int offsetDelta = 0;
                        for (BatchMetadata b : e.batchMetadata()) {
                            lastOffset = ((Number) member(b, "lastOffset")).longValue();
                            lastSeq = ((Number) member(b, "lastSeq")).intValue();
                            offsetDelta = ((Number) member(b, "offsetDelta")).intValue();
                        }
                        OptionalLong txn = e.currentTxnFirstOffset();
                        System.out.println("S " + e.producerId() + " " + e.producerEpoch() + " "
                            + lastSeq + " " + lastOffset + " " + offsetDelta + " "
                            + e.lastTimestamp() + " " + e.coordinatorEpoch() + " "
                            + (txn.isPresent() ? txn.getAsLong() : -1));
                    }
                } else if (name.equals("leader-epoch-checkpoint")) {
                    for (EpochEntry e : new LeaderEpochCheckpointFile(file, channel).read()) {
                        System.out.println("E " + member(e, "epoch") + " "
                            + member(e, "startOffset"));
                    }
                } else if (name.endsWith("-offset-checkpoint")) {
                    Map<TopicPartition, Long> read = new OffsetCheckpointFile(file, channel).read();
                    List<Map.Entry<TopicPartition, Long>> entries = new ArrayList<>(read.entrySet());
                    entries.sort(Comparator.comparing((Map.Entry<TopicPartition, Long> e) ->
                        e.getKey().topic()).thenComparingInt(e -> e.getKey().partition()));
                    for (Map.Entry<TopicPartition, Long> e : entries) {
                        System.out.println("O " + e.getKey().topic() + " "
                            + e.getKey().partition() + " " + e.getValue());
                    }
                } else if (name.equals("partition.metadata")) {
                    var read = new PartitionMetadataFile(file, channel).read();
                    System.out.println("M " + read.version() + " " + read.topicId());
                } else if (name.equals(".kafka_cleanshutdown")) {
                    OptionalLong epoch = new CleanShutdownFileHandler(file.getParent()).read();
                    System.out.println("C " + (epoch.isPresent() ? epoch.getAsLong() : -1));
                } else {
                    throw new IllegalArgumentException("no Kafka reader for " + name);
                }
            } catch (Exception e) {
                System.out.flush();
                System.err.println("Kafka could not read " + arg + ": " + e);
                throw e;
            }
        }
        System.out.flush();
    }
}
