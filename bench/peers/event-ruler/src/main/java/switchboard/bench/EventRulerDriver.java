package switchboard.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import software.amazon.event.ruler.Machine;

/**
 * Peer-benchmark driver for AWS Event Ruler.
 *
 * <pre>
 * java -cp ... switchboard.bench.EventRulerDriver --patterns rules-N/patterns.jsonl
 *     --events events-E.jsonl [--runs 5] [--warmup 3] [--warmup-seconds 5] [--limit K]
 *     [--out matches.jsonl] [--skip-feature F]...
 * </pre>
 *
 * Loads the EventBridge patterns into one Machine (timed: build), warms the JIT up with
 * several untimed passes over all events, then times --runs passes of
 * {@code rulesForJSONEvent(String)} (JSON parsing included, as for the other engines) and prints
 * one JSON object on stdout. With --out, one more untimed pass writes
 * {"line":N,"matched":[sorted names]} per event, the shape of {@code switchboard match}.
 */
public final class EventRulerDriver {
    public static void main(String[] args) throws Exception {
        String patterns = null, events = null, out = null;
        int runs = 5, warmup = 3, limit = 0, checkEvents = 0;
        double warmupSeconds = 10.0, maxRunSeconds = 0, checkMaxSeconds = 0;
        Set<String> skip = new HashSet<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--patterns": patterns = args[++i]; break;
                case "--events": events = args[++i]; break;
                case "--out": out = args[++i]; break;
                case "--runs": runs = Integer.parseInt(args[++i]); break;
                case "--warmup": warmup = Integer.parseInt(args[++i]); break;
                case "--warmup-seconds": warmupSeconds = Double.parseDouble(args[++i]); break;
                case "--limit": limit = Integer.parseInt(args[++i]); break;
                case "--max-run-seconds": maxRunSeconds = Double.parseDouble(args[++i]); break;
                case "--check-events": checkEvents = Integer.parseInt(args[++i]); break;
                case "--check-max-seconds": checkMaxSeconds = Double.parseDouble(args[++i]); break;
                case "--skip-feature": skip.add(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (patterns == null || events == null) {
            throw new IllegalArgumentException("--patterns and --events are required");
        }
        ObjectMapper om = new ObjectMapper();
        List<String> names = new ArrayList<>();
        List<String> pats = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(Path.of(patterns), StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isBlank()) continue;
                JsonNode n = om.readTree(line);
                boolean ok = true;
                for (JsonNode f : n.get("features")) if (skip.contains(f.asText())) ok = false;
                if (!ok) { skipped.add(n.get("name").asText()); continue; }
                names.add(n.get("name").asText());
                pats.add(om.writeValueAsString(n.get("pattern")));
            }
        }
        List<String> evs = new ArrayList<>();
        long eventBytes = 0;
        try (BufferedReader r = Files.newBufferedReader(Path.of(events), StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null && (limit == 0 || evs.size() < limit)) {
                evs.add(line);
                eventBytes += line.length() + 1;
            }
        }
        long heapBefore = usedHeapAfterGc();
        long rssBefore = vmKb("VmRSS:");
        long t0 = System.nanoTime();
        Machine m = new Machine();
        List<String> rejected = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            try {
                m.addRule(names.get(i), pats.get(i));
            } catch (Exception e) {
                rejected.add(names.get(i) + ": " + e.getMessage());
            }
        }
        double buildMs = (System.nanoTime() - t0) / 1e6;
        pats = null;
        long heapAfter = usedHeapAfterGc();

        long deadline = (long) (maxRunSeconds * 1e9);
        long sink = 0;
        int passes = 0;
        long wStart = System.nanoTime();
        while (passes < warmup || (System.nanoTime() - wStart) / 1e9 < warmupSeconds) {
            sink += pass(m, evs, deadline)[1];
            passes++;
            if (passes >= 50) break;
        }
        double warmupS = (System.nanoTime() - wStart) / 1e9;
        List<Double> eps = new ArrayList<>();
        List<Long> measured = new ArrayList<>();
        long matches = 0, measuredLast = 0;
        for (int r = 0; r < runs; r++) {
            long s = System.nanoTime();
            long[] nm = pass(m, evs, deadline);
            long dt = System.nanoTime() - s;
            eps.add(nm[0] / (dt / 1e9));
            measured.add(nm[0]);
            matches = nm[1];
            measuredLast = nm[0];
            sink += matches;
        }
        int checked = evs.size();
        if (checkEvents > 0) checked = Math.min(checkEvents, evs.size());
        if (out != null) {
            try (BufferedWriter w = Files.newBufferedWriter(Path.of(out), StandardCharsets.UTF_8)) {
                StringBuilder sb = new StringBuilder();
                int upto = checkEvents > 0 ? Math.min(checkEvents, evs.size()) : evs.size();
                long cStart = System.nanoTime();
                for (int i = 0; i < upto; i++) {
                    if (checkMaxSeconds > 0 && i >= 1000 && (i & 255) == 0
                            && (System.nanoTime() - cStart) / 1e9 > checkMaxSeconds) {
                        checked = i;
                        break;
                    }
                    String ev = evs.get(i);
                    if (ev.isBlank()) continue;
                    List<String> got = new ArrayList<>(m.rulesForJSONEvent(ev));
                    Collections.sort(got);
                    sb.setLength(0);
                    sb.append("{\"line\":").append(i + 1).append(",\"matched\":[");
                    for (int j = 0; j < got.size(); j++) {
                        if (j > 0) sb.append(',');
                        sb.append('"').append(got.get(j)).append('"');
                    }
                    sb.append("]}\n");
                    w.write(sb.toString());
                }
            }
        }
        StringBuilder j = new StringBuilder();
        j.append("{\"engine\":\"event-ruler\",\"version\":\"")
                .append(rulerVersion()).append('"');
        j.append(",\"rules_loaded\":").append(names.size() - rejected.size());
        j.append(",\"rules_skipped\":").append(skipped.size());
        j.append(",\"rules_rejected\":").append(om.writeValueAsString(rejected));
        j.append(",\"events\":").append(evs.size());
        j.append(",\"event_bytes\":").append(eventBytes);
        j.append(",\"build_ms\":").append(String.format("%.1f", buildMs));
        j.append(",\"heap_bytes_per_rule\":")
                .append(names.isEmpty() ? 0 : Math.max(0, heapAfter - heapBefore) / names.size());
        j.append(",\"rss_before_build_kb\":").append(rssBefore);
        j.append(",\"events_measured\":").append(measured);
        j.append(",\"events_checked\":").append(out == null ? 0 : checked);
        j.append(",\"warmup_passes\":").append(passes);
        j.append(",\"warmup_s\":").append(String.format("%.2f", warmupS));
        j.append(",\"events_per_s\":[");
        for (int i = 0; i < eps.size(); i++) j.append(i > 0 ? "," : "").append(String.format("%.0f", eps.get(i)));
        j.append("],\"matches_per_event\":").append(String.format("%.4f", evs.isEmpty() ? 0.0 : (double) matches / Math.max(1, measuredLast)));
        j.append(",\"peak_rss_kb\":").append(vmKb("VmHWM:"));
        j.append(",\"sink\":").append(sink % 7);
        j.append('}');
        System.out.println(j);
    }

    /** One pass over the events, or over a prefix when deadlineNs elapses: {events, matches}. */
    private static long[] pass(Machine m, List<String> evs, long deadlineNs) throws Exception {
        long n = 0, matches = 0;
        long start = System.nanoTime();
        for (String ev : evs) {
            matches += m.rulesForJSONEvent(ev).size();
            n++;
            if (deadlineNs > 0 && (n & 255) == 0 && System.nanoTime() - start > deadlineNs) break;
        }
        return new long[] {n, matches};
    }

    private static String rulerVersion() {
        for (String e : System.getProperty("java.class.path").split(":")) {
            String f = Path.of(e).getFileName().toString();
            if (f.matches("event-ruler-[0-9].*\\.jar")) {
                return f.substring("event-ruler-".length(), f.length() - 4);
            }
        }
        return "unknown";
    }

    private static long usedHeapAfterGc() {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 3; i++) System.gc();
        return rt.totalMemory() - rt.freeMemory();
    }

    private static long vmKb(String key) {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith(key)) return Long.parseLong(l.replaceAll("[^0-9]", ""));
            }
        } catch (IOException e) {
            // not Linux
        }
        return -1;
    }
}
