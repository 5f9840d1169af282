package jdiff;

import com.bazaarvoice.jolt.Chainr;
import com.bazaarvoice.jolt.JsonUtils;
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.*;

public class Cli {
    static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder();
        int n = 0;
        while (t != null && n++ < 5) {
            if (sb.length() > 0) sb.append(" <- ");
            sb.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
            if (t.getCause() == t) break;
            t = t.getCause();
        }
        return sb.toString();
    }
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(
            args.length > 0 ? new FileInputStream(args[0]) : System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            if (line.trim().isEmpty()) continue;
            Map<String, Object> res = new LinkedHashMap<>();
            Object id = null;
            try {
                Map<String, Object> c = JsonUtils.jsonToMap(line);
                id = c.get("id");
                res.put("id", id);
                Object spec = c.get("spec");
                Object input = c.get("input");
                Object ctx = c.get("context");
                Chainr chainr;
                try {
                    chainr = Chainr.fromSpec(spec);
                } catch (Throwable t) {
                    res.put("ok", false);
                    res.put("phase", "spec");
                    res.put("error", describe(t));
                    out.println(JsonUtils.toJsonString(res));
                    continue;
                }
                Object o;
                if (ctx instanceof Map) {
                    o = chainr.transform(input, (Map<String, Object>) ctx);
                } else {
                    o = chainr.transform(input);
                }
                res.put("ok", true);
                res.put("output", o);
                String s;
                try { s = JsonUtils.toJsonString(res); }
                catch (Throwable t) {
                    res.remove("output");
                    res.put("ok", false);
                    res.put("phase", "serialize");
                    res.put("error", describe(t));
                    s = JsonUtils.toJsonString(res);
                }
                out.println(s);
            } catch (Throwable t) {
                res.put("ok", false);
                res.put("phase", "transform");
                res.put("error", describe(t));
                res.remove("output");
                try { out.println(JsonUtils.toJsonString(res)); }
                catch (Throwable t2) { out.println("{\"id\":" + JsonUtils.toJsonString(id) + ",\"ok\":false,\"error\":\"unserializable\"}"); }
            }
        }
    }
}
