// bench/serve's topic admin, one JVM for hundreds of topics (TopicCommand would take one each).
// Run as a single-file source program with the broker's jars on the class path:
//   java -cp "$KAFKA_HOME/lib/*" Topics.java create BOOTSTRAP PARTITIONS < names   (LogAppendTime topics)
//   java -cp "$KAFKA_HOME/lib/*" Topics.java offsets BOOTSTRAP < names            (name<TAB>end offset, summed over partitions)
//   java -cp "$KAFKA_HOME/lib/*" Topics.java delete BOOTSTRAP PREFIX              (every topic and consumer group whose name starts with PREFIX)
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.*;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;

public class Topics {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[1]);
        try (Admin admin = Admin.create(p)) {
            switch (args[0]) {
                case "create" -> create(admin, Integer.parseInt(args[2]), names());
                case "offsets" -> offsets(admin, names());
                case "delete" -> delete(admin, args[2]);
                default -> throw new IllegalArgumentException(args[0]);
            }
        }
    }

    static List<String> names() throws Exception {
        List<String> out = new ArrayList<>();
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in));
        for (String l; (l = r.readLine()) != null; ) if (!l.isBlank()) out.add(l.trim());
        return out;
    }

    static void create(Admin admin, int partitions, List<String> names) throws Exception {
        // 64 KB index files whatever the broker's default: with 10 MB ones, zero-filling their pages
        // on first touch took most of the broker's CPU on this VM (scripts/services.d/kafka.sh).
        Map<String, String> conf = Map.of("message.timestamp.type", "LogAppendTime", "segment.index.bytes", "65536");
        List<NewTopic> topics = new ArrayList<>();
        for (String n : names) topics.add(new NewTopic(n, partitions, (short) 1).configs(conf));
        CreateTopicsResult res = admin.createTopics(topics);
        int created = 0;
        for (var e : res.values().entrySet()) {
            try {
                e.getValue().get();
                created++;
            } catch (ExecutionException ex) {
                if (!(ex.getCause() instanceof TopicExistsException)) throw ex;
            }
        }
        System.out.println("created " + created + " of " + names.size());
    }

    static void offsets(Admin admin, List<String> names) throws Exception {
        Map<String, TopicDescription> desc = admin.describeTopics(names).allTopicNames().get();
        Map<TopicPartition, OffsetSpec> req = new HashMap<>();
        for (var d : desc.values())
            for (var part : d.partitions()) req.put(new TopicPartition(d.name(), part.partition()), OffsetSpec.latest());
        var res = admin.listOffsets(req).all().get();
        Map<String, Long> sum = new TreeMap<>();
        for (var e : res.entrySet()) sum.merge(e.getKey().topic(), e.getValue().offset(), Long::sum);
        for (var e : sum.entrySet()) System.out.println(e.getKey() + "\t" + e.getValue());
    }

    static void delete(Admin admin, String prefix) throws Exception {
        List<String> doomed = new ArrayList<>();
        for (String n : admin.listTopics().names().get()) if (n.startsWith(prefix)) doomed.add(n);
        if (!doomed.isEmpty()) admin.deleteTopics(doomed).all().get();
        List<String> groups = new ArrayList<>();
        for (var g : admin.listGroups().all().get()) if (g.groupId().startsWith(prefix)) groups.add(g.groupId());
        if (!groups.isEmpty()) admin.deleteConsumerGroups(groups).all().get();
        System.out.println("deleted " + doomed.size() + " topics and " + groups.size() + " consumer groups");
    }
}
