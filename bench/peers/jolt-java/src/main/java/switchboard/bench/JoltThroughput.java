package switchboard.bench;

import com.bazaarvoice.jolt.Chainr;
import com.bazaarvoice.jolt.Diffy;
import com.bazaarvoice.jolt.JsonUtils;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Single-thread transforms per second of the reference Jolt for each benchmarked spec, printed
 * as "spec<TAB>rate" lines: the same specs and inputs, and the same method, as switchboard's
 * jolt_throughput example. Each spec is JIT-warmed for WARMUP_MS (default 8,000) ms of CPU
 * time (after 2 s, firstSample and ismith still ran 2-3x below their steady rate), then timed in several
 * runs of 0.5 s of the process's CPU time (all its threads: the transforming one, and the
 * collector's and compiler's work it causes) and the median printed. CPU time rather than wall
 * time, because the machine these run on is shared with other work. A transform whose chain starts with an operation other than shift gets
 * its own deep copy of the input, because Jolt's default/remove/modify/cardinality change their
 * input in place (switchboard's operations never change their input, so it copies nothing).
 *
 * Arguments: SHARED_DIR MEMBER_TO_CRM_SPEC MEMBER_EVENT_INPUT
 */
public final class JoltThroughput {

    private static volatile Object sink;

    @SuppressWarnings("unchecked")
    static Object deepCopy(Object o) {
        if (o instanceof Map) {
            Map<String, Object> m = (Map<String, Object>) o;
            Map<String, Object> copy = new LinkedHashMap<>(m.size() * 2);
            for (Map.Entry<String, Object> e : m.entrySet()) {
                copy.put(e.getKey(), deepCopy(e.getValue()));
            }
            return copy;
        }
        if (o instanceof List) {
            List<Object> l = (List<Object>) o;
            List<Object> copy = new ArrayList<>(l.size());
            for (Object x : l) {
                copy.add(deepCopy(x));
            }
            return copy;
        }
        return o;
    }

    @SuppressWarnings("unchecked")
    static boolean mutatesInput(Object spec) {
        Object first = spec instanceof List ? ((List<Object>) spec).get(0) : spec;
        return !"shift".equals(((Map<String, Object>) first).get("operation"));
    }

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    /** Nanoseconds of CPU the whole process has used. */
    static long processCpuNanos() {
        return OS.getProcessCpuTime();
    }

    static double rate(Chainr chainr, Object input, boolean copy, long windowNanos) {
        long start = processCpuNanos();
        long n = 0;
        while (true) {
            for (int i = 0; i < 256; i++) {
                sink = chainr.transform(copy ? deepCopy(input) : input);
            }
            n += 256;
            long spent = processCpuNanos() - start;
            if (spent >= windowNanos) {
                return n / (spent / 1e9);
            }
        }
    }

    public static void main(String[] args) {
        if (args.length != 3) {
            System.err.println("usage: JoltThroughput SHARED_DIR MEMBER_TO_CRM_SPEC MEMBER_EVENT_INPUT");
            System.exit(2);
        }
        File integration = new File(args[0], "conformance/jolt/chainr/integration");
        File[] files = integration.listFiles((dir, name) -> name.endsWith(".json"));
        if (files == null) {
            throw new IllegalStateException("no fixtures in " + integration);
        }
        Arrays.sort(files);
        List<Object[]> cases = new ArrayList<>();
        for (File f : files) {
            Map<String, Object> doc = JsonUtils.filepathToMap(f.getPath());
            String name = "integration/" + f.getName().replace(".json", "");
            cases.add(new Object[] {name, doc.get("spec"), doc.get("input"), doc.get("expected")});
        }
        cases.add(new Object[] {"member_to_crm", JsonUtils.filepathToObject(args[1]), JsonUtils.filepathToObject(args[2]), null});

        int runs = Integer.parseInt(System.getenv().getOrDefault("RUNS", "5"));
        long warmupNanos = Long.parseLong(System.getenv().getOrDefault("WARMUP_MS", "8000")) * 1_000_000L;
        for (Object[] c : cases) {
            String name = (String) c[0];
            Chainr chainr = Chainr.fromSpec(c[1]);
            boolean copy = mutatesInput(c[1]);
            Object out = chainr.transform(deepCopy(c[2]));
            if (c[3] != null && !new Diffy().diff(c[3], out).isEmpty()) {
                System.err.println("warning: " + name + ": the reference's output differs from the fixture");
            }
            rate(chainr, c[2], copy, warmupNanos);
            double[] rates = new double[runs];
            for (int i = 0; i < runs; i++) {
                rates[i] = rate(chainr, c[2], copy, 500_000_000L);
            }
            Arrays.sort(rates);
            System.out.printf("%s\t%.0f%n", name, rates[runs / 2]);
        }
    }
}
