// bench/serve's fan-out floor: what the produce leg alone costs on this broker, with no gateway.
//   java -cp "$KAFKA_HOME/lib/*:classes" FanOut BOOTSTRAP RATE SECONDS TOPICS_FILE PAYLOAD_FILE
// (compiled after Pace.java, whose pacing loop it uses).
// Sends RATE messages/s for SECONDS, round-robin over the topics of TOPICS_FILE (one per line), the
// values being the lines of PAYLOAD_FILE in turn, with the gateway's producer settings (idempotent,
// acks=all, lz4, batch.size 16384, linger.ms 10, 5 in flight). Latency is send -> acknowledgement,
// measured per message after the first second (metadata and the producer id come first).
// Prints one line: sent=N seconds=S max_behind_ms=B errors=E measured=M p50_ms= p90_ms= p99_ms= max_ms=
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

public class FanOut {
    public static void main(String[] args) throws Exception {
        double rate = Double.parseDouble(args[1]);
        double seconds = Double.parseDouble(args[2]);
        List<String> topics = Files.readAllLines(Path.of(args[3]), StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank()).toList();
        List<String> lines = Files.readAllLines(Path.of(args[4]), StandardCharsets.UTF_8);
        byte[][] payloads = new byte[lines.size()][];
        for (int i = 0; i < payloads.length; i++) payloads[i] = lines.get(i).getBytes(StandardCharsets.UTF_8);
        int count = (int) (rate * seconds);
        long warmup = (long) Math.min(rate, count / 4.0); // the first second's messages are not measured
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.put("compression.type", "lz4");
        p.put("batch.size", "16384");
        p.put("linger.ms", "10");
        p.put("max.in.flight.requests.per.connection", "5");
        p.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
        p.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
        long[] lat = new long[count];
        AtomicInteger measured = new AtomicInteger();
        AtomicLong errors = new AtomicLong();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (String t : topics) producer.partitionsFor(t); // metadata before the clock starts
            long t0 = System.nanoTime();
            long maxBehind = Pace.paced(count, rate, i -> {
                final long at = System.nanoTime();
                final boolean measure = i >= warmup;
                producer.send(new ProducerRecord<>(topics.get(i % topics.size()), payloads[i % payloads.length]), (md, e) -> {
                    if (e != null) {
                        errors.incrementAndGet();
                    } else if (measure) {
                        lat[measured.getAndIncrement()] = System.nanoTime() - at;
                    }
                });
            });
            producer.flush();
            double secs = (System.nanoTime() - t0) / 1e9;
            int n = measured.get();
            long[] l = Arrays.copyOf(lat, n);
            Arrays.sort(l);
            System.out.printf("sent=%d seconds=%.3f max_behind_ms=%.1f errors=%d measured=%d p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f%n",
                    count, secs, maxBehind / 1e6, errors.get(), n, q(l, 0.5), q(l, 0.9), q(l, 0.99), n == 0 ? 0 : l[n - 1] / 1e6);
        }
    }

    static double q(long[] sorted, double q) {
        return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, (int) (q * sorted.length))] / 1e6;
    }
}
