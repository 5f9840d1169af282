// bench/serve's fixed-rate producer for the latency phase (kcat -P holds stdin lines until its
// buffer fills or stdin closes, so it cannot pace). Single-file source program:
//   java -cp "$KAFKA_HOME/lib/*" Pace.java BOOTSTRAP TOPIC RATE FILE COUNT
// Sends the first COUNT lines of FILE, line i due at start + i/RATE; acks=all, linger.ms=0.
// Prints one line: sent=N seconds=S max_behind_ms=B errors=E
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

public class Pace {
    public static void main(String[] args) throws Exception {
        String topic = args[1];
        double rate = Double.parseDouble(args[2]);
        int count = Integer.parseInt(args[4]);
        List<String> lines = Files.readAllLines(Path.of(args[3]), StandardCharsets.UTF_8);
        count = Math.min(count, lines.size());
        byte[][] payloads = new byte[count][];
        for (int i = 0; i < count; i++) payloads[i] = lines.get(i).getBytes(StandardCharsets.UTF_8);
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("acks", "all");
        p.put("linger.ms", "0");
        p.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
        p.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
        AtomicLong errors = new AtomicLong();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            producer.partitionsFor(topic); // metadata before the clock starts
            long t0 = System.nanoTime();
            long maxBehind = paced(count, rate, i -> producer.send(new ProducerRecord<>(topic, payloads[i]), (md, e) -> {
                if (e != null) errors.incrementAndGet();
            }));
            producer.flush();
            double secs = (System.nanoTime() - t0) / 1e9;
            System.out.printf("sent=%d seconds=%.3f max_behind_ms=%.1f errors=%d%n", count, secs, maxBehind / 1e6, errors.get());
        }
    }

    /**
     * Calls send(i) for i = 0 .. count-1, call i due at start + i/rate (calls that fell due
     * together are made in a row). Returns how far behind schedule it got at most, in ns. Shared
     * with FanOut.java.
     */
    static long paced(int count, double rate, IntConsumer send) {
        long t0 = System.nanoTime();
        long maxBehind = 0;
        int sent = 0;
        while (sent < count) {
            long now = System.nanoTime();
            int due = (int) Math.min(count, (long) ((now - t0) / 1e9 * rate) + 1);
            if (due > sent) {
                maxBehind = Math.max(maxBehind, now - t0 - (long) (sent / rate * 1e9));
                for (; sent < due; sent++) send.accept(sent);
            } else {
                LockSupport.parkNanos(100_000);
            }
        }
        return maxBehind;
    }
}
