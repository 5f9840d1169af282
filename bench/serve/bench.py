#!/usr/bin/env python3
"""Issue 6's serve benchmark: Kafka -> switchboard -> Kafka against the broker's and kcat's ceilings.

Run through bench/serve/run.sh (which builds the gateway and installs kcat). Everything runs on
the same broker in one run, on fresh topics named bench.<run id>.*, with the same ~1 KB events.
Stdlib only. See README.md for what each row measures.
"""
import argparse
import http.server
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen  # noqa: E402

ID_PREFIX = "b0000006"
ID_RE = re.compile(rb"b0000006-[0-9a-f]{4}-4000-8000-([0-9a-f]{12})")
CLK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ---- machine ----------------------------------------------------------------------------------

def cpu_totals():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v), idle


def proc_cpu(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / CLK
    except OSError:
        return None


class CpuMeter:
    """Machine busy cores and one process's cores over an interval."""

    def __init__(self, pid=None):
        self.pid = pid
        self.t0 = time.time()
        self.tot0, self.idle0 = cpu_totals()
        self.p0 = proc_cpu(pid) if pid else None

    def stop(self):
        dt = time.time() - self.t0
        tot, idle = cpu_totals()
        busy = 1 - (idle - self.idle0) / max(1, tot - self.tot0)
        out = {"machine_busy_cores": round(busy * os.cpu_count(), 2)}
        if self.pid:
            p = proc_cpu(self.pid)
            if p is not None and self.p0 is not None:
                out["process_cores"] = round((p - self.p0) / dt, 2)
        return out


# ---- kafka helpers ------------------------------------------------------------------------------

class Kafka:
    def __init__(self, args):
        self.b = args.brokers
        self.home = args.kafka_home
        self.lib = os.path.join(self.home, "lib", "*")
        self.classes = os.path.join(args.work, "classes")
        self.jlog = ["-Dlog4j2.configurationFile=" + os.path.join(self.home, "tools-log4j2.properties")]

    def java(self, *argv, **kw):
        return subprocess.run(["java", "-Xmx512m", *self.jlog, "-cp", self.lib + ":" + self.classes, *argv],
                              capture_output=True, text=True, **kw)

    def compile_admin(self):
        for name in ("Topics", "Pace", "FanOut"):
            src = os.path.join(HERE, name + ".java")
            cls = os.path.join(self.classes, name + ".class")
            if os.path.exists(cls) and os.path.getmtime(cls) >= os.path.getmtime(src):
                continue
            os.makedirs(self.classes, exist_ok=True)
            # The classes already built are on the path: FanOut uses Pace's pacing loop.
            subprocess.run(["javac", "-nowarn", "-cp", self.lib + ":" + self.classes, "-d", self.classes, src], check=True)

    def pace(self, topic, rate, path, count):
        """Produces the first count lines of path at rate/s (Pace.java); returns its summary."""
        r = self.java("Pace", self.b, topic, str(rate), path, str(count))
        if r.returncode != 0:
            raise RuntimeError("Pace failed: " + r.stderr[-2000:])
        line = r.stdout.strip().splitlines()[-1]
        return {k: float(v) for k, v in (kv.split("=") for kv in line.split())}

    def admin(self, cmd, *argv, stdin=""):
        r = self.java("Topics", cmd, self.b, *argv, input=stdin)
        if r.returncode != 0:
            raise RuntimeError("Topics %s failed: %s" % (cmd, r.stderr[-2000:]))
        return r.stdout

    def create(self, names, partitions=1):
        return self.admin("create", str(partitions), stdin="\n".join(names) + "\n").strip()

    def offsets(self, names):
        out = {}
        for line in self.admin("offsets", stdin="\n".join(names) + "\n").splitlines():
            t, o = line.split("\t")
            out[t] = int(o)
        return out


def kcat(args, *argv):
    return [args.kcat, "-b", args.brokers, "-q", *argv]


def end_offset(args, topic):
    """One topic-partition's end offset, by reading its last message (a JVM per poll is too slow)."""
    r = subprocess.run(kcat(args, "-C", "-t", topic, "-p", "0", "-o", "-1", "-e", "-f", "%o\\n"), capture_output=True, text=True)
    lines = r.stdout.split()
    return int(lines[-1]) + 1 if lines else 0


# ---- the local webhook receiver (the seed's certification rule) ---------------------------------

class Hooks(http.server.ThreadingHTTPServer):
    daemon_threads = True
    count = 0


class HookHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.server.count += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


# ---- the gateway --------------------------------------------------------------------------------

def scrape(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = {"buckets": []}
    for line in text.splitlines():
        if line.startswith("events_processed_total "):
            m["processed"] = float(line.split()[1])
        elif line.startswith("event_processing_duration_seconds_count"):
            m["durable"] = float(line.split()[1])
        elif line.startswith("event_processing_duration_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            m["buckets"].append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
        elif line.startswith("events_dlq_total"):
            m["dlq"] = m.get("dlq", 0) + float(line.split()[-1])
        elif line.startswith("events_duplicate_total"):
            m["dup"] = float(line.split()[-1])
        elif line.startswith("batch_stage_duration_seconds_sum") or line.startswith("batch_stage_duration_seconds_count"):
            stage = line.split('stage="')[1].split('"')[0]
            kind = "sum" if "_sum" in line.split("{")[0] else "count"
            m.setdefault("stages", {}).setdefault(stage, {})[kind] = float(line.split()[-1])
    return m


def stage_text(stages):
    return ", ".join("%s %s ms mean over %s batches" % (k, v["mean_ms"], fmt(v["batches"])) for k, v in sorted(stages.items()))


def stage_means(before, after):
    """Mean duration (ms) and count of each batch stage between two scrapes."""
    out = {}
    for stage, a in (after or {}).get("stages", {}).items():
        b = (before or {}).get("stages", {}).get(stage, {})
        n = a.get("count", 0) - b.get("count", 0)
        if n > 0:
            out[stage] = {"batches": int(n), "mean_ms": round(1000 * (a.get("sum", 0) - b.get("sum", 0)) / n, 2)}
    return out


def bucket_quantile(before, after, q):
    """Upper bound of the bucket holding quantile q of the observations between two scrapes."""
    b0 = dict(before["buckets"]) if before else {}
    pairs = sorted((le, c - b0.get(le, 0)) for le, c in after["buckets"])
    total = pairs[-1][1] if pairs else 0
    if not total:
        return None
    for le, c in pairs:
        if c >= q * total:
            return le
    return float("inf")


class Gateway:
    def __init__(self, args, name, topics_in, group, rules_dir):
        self.args = args
        self.dir = os.path.join(args.run_dir, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "data"))
        self.port = args.port
        self.url = "http://127.0.0.1:%d" % self.port
        cfg = os.path.join(self.dir, "config.yaml")
        with open(cfg, "w") as f:
            producer = ""
            if args.producer_props:
                props = dict(kv.split("=", 1) for kv in args.producer_props.split(","))
                producer = "  producer: {%s}\n" % ", ".join('"%s": "%s"' % kv for kv in props.items())
            if args.producers:
                producer += "  producers: %d\n" % args.producers
            if args.batches_in_flight:
                producer += "  batches_in_flight: %d\n" % args.batches_in_flight
            f.write("listen: 127.0.0.1:%d\nkafka:\n  brokers: %s\n  group_id: %s\n  topics: [%s]\n"
                    "  dlq_topic: %s\n%spipeline:\n  batch_size: %d\n  dedup_window: 10m\n%s"
                    % (self.port, args.brokers, group, ", ".join(topics_in), args.prefix + "dlq", producer, args.batch_size,
                       "  batch_linger: %s\n" % args.batch_linger if args.batch_linger else ""))
        self.cmd = [args.switchboard, "serve", "--config", cfg, "--rules", rules_dir,
                    "--transforms", args.transforms, "--data", os.path.join(self.dir, "data")]
        self.proc = None

    def start(self):
        self.t_start = time.time()
        self.stderr = open(os.path.join(self.dir, "gateway.log"), "w")
        self.proc = subprocess.Popen(self.cmd, stdout=self.stderr, stderr=self.stderr, cwd=self.dir)
        return self.t_start

    def metrics(self):
        return scrape(self.url + "/metrics")

    def wait_ready(self, timeout=120):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited %s; see %s/gateway.log" % (self.proc.returncode, self.dir))
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return time.time()
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("gateway not ready in %ds" % timeout)

    def wait_durable(self, n, timeout, poll=0.05, on_first=None):
        """Polls /metrics until n events are durable. Returns (t_first_processed, t_done, metrics)."""
        t_first = None
        end = time.time() + timeout
        m = None
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited %s; see %s/gateway.log" % (self.proc.returncode, self.dir))
            m = self.metrics()
            now = time.time()
            if m:
                if t_first is None and m.get("processed", 0) > 0:
                    t_first = now
                    if on_first:
                        on_first()
                if m.get("durable", 0) >= n:
                    return t_first, now, m
            time.sleep(poll)
        raise RuntimeError("only %s of %d events durable after %ds" % (m and m.get("durable"), n, timeout))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.stderr.close()


# ---- phases -------------------------------------------------------------------------------------

def phase_data(args):
    data = os.path.join(args.cache, "data")
    os.makedirs(data, exist_ok=True)
    path = os.path.join(data, "events-%d.jsonl" % args.events)
    if not os.path.exists(path):
        log("generating %d events -> %s" % (args.events, path))
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            for i in range(args.events):
                f.write(json.dumps(gen.make_event(6, i, ID_PREFIX), separators=(",", ":")) + "\n")
        os.rename(tmp, path)
    args.events_file = path
    rules, out_topics = gen.write_rules(os.path.join(args.run_dir, "rules"), args.prefix + "out.",
                                        "http://127.0.0.1:%d/webhook" % args.hook_port, count=args.rules,
                                        topics=args.rule_topics, with_generated=args.rules > 0)
    args.rules_dir = os.path.join(args.run_dir, "rules")
    args.out_topics = out_topics
    # Expected fan-out, per event (identical deliveries collapse), cached next to the events.
    exp_path = os.path.join(data, "expected-%d-r%d-t%d.json" % (args.events, args.rules, args.rule_topics))
    if os.path.exists(exp_path):
        with open(exp_path) as f:
            exp = json.load(f)
    else:
        log("computing the expected deliveries")
        x = gen.Expected(rules, "")
        per_topic, fanout, hooks = {}, [], 0
        with open(path) as f:
            for line in f:
                outs, h = x.outputs(json.loads(line))
                fanout.append(len(outs))
                hooks += h
                for t in outs:
                    per_topic[t] = per_topic.get(t, 0) + 1
        exp = {"per_topic_suffix": per_topic, "fanout": fanout, "webhooks": hooks}
        with open(exp_path, "w") as f:
            json.dump(exp, f)
    args.expected = exp
    size = os.path.getsize(path)
    return {"events": args.events, "bytes": size, "mean_event_bytes": round(size / args.events - 1, 1),
            "rules": args.rules + 3, "output_topics": len(out_topics),
            "mean_fanout": round(sum(exp["fanout"]) / args.events, 3),
            "unmatched": sum(1 for x in exp["fanout"] if x == 0),
            "expected_messages": sum(exp["fanout"]), "expected_webhooks": exp["webhooks"]}


def phase_load(args, k):
    log("loading %d events into %s" % (args.events, args.t_in))
    t0 = time.time()
    subprocess.run(kcat(args, "-P", "-t", args.t_in, "-X", "linger.ms=20", "-X", "batch.num.messages=10000",
                        "-l", args.events_file), check=True)
    dt = time.time() - t0
    n = k.offsets([args.t_in])[args.t_in]
    if n != args.events:
        raise RuntimeError("input topic has %d messages, expected %d" % (n, args.events))
    return {"seconds": round(dt, 3), "events_per_s": round(args.events / dt)}


def phase_broker(args, k):
    log("broker ceiling: ProducerPerformance / ConsumerPerformance")
    meter = CpuMeter()
    r = k.java("org.apache.kafka.tools.ProducerPerformance", "--topic", args.t_perf, "--num-records", str(args.events),
               "--payload-file", args.events_file, "--throughput", "-1",
               "--producer-props", "bootstrap.servers=" + args.brokers, "acks=all")
    cpu_p = meter.stop()
    last = [l for l in r.stdout.splitlines() if "records sent" in l]
    if r.returncode != 0 or not last:
        raise RuntimeError("ProducerPerformance failed: " + r.stdout[-1000:] + r.stderr[-1000:])
    m = re.search(r"([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency", last[-1])
    prod = {"records_per_s": float(m.group(1)), "mb_per_s": float(m.group(2)), "avg_latency_ms": float(m.group(3)),
            "max_latency_ms": float(m.group(4)), "raw": last[-1].strip(), **cpu_p}
    p50 = re.search(r"([\d.]+) ms 50th, ([\d.]+) ms 95th, ([\d.]+) ms 99th", last[-1])
    if p50:
        prod.update({"p50_ms": float(p50.group(1)), "p99_ms": float(p50.group(3))})
    meter = CpuMeter()
    r = k.java("org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", args.brokers, "--topic", args.t_in,
               "--messages", str(args.events), "--group", args.prefix + "cperf", "--timeout", "60000")
    cpu_c = meter.stop()
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    if r.returncode != 0 or len(lines) < 2:
        raise RuntimeError("ConsumerPerformance failed: " + r.stdout[-1000:] + r.stderr[-1000:])
    hdr = [h.strip() for h in lines[-2].split(",")]
    val = [v.strip() for v in lines[-1].split(",")]
    row = dict(zip(hdr, val))
    cons = {"records_per_s": float(row.get("nMsg.sec", 0)), "mb_per_s": float(row.get("MB.sec", 0)),
            "fetch_records_per_s": float(row.get("fetch.nMsg.sec", 0)), "fetch_mb_per_s": float(row.get("fetch.MB.sec", 0)),
            "rebalance_ms": float(row.get("rebalance.time.ms", 0)), "raw": row, **cpu_c}
    return {"producer": prod, "consumer": cons}


def phase_kcat(args, k):
    log("kcat pass-through %s -> %s" % (args.t_in, args.t_kcat))
    meter = CpuMeter()
    t0 = time.time()
    c = subprocess.Popen(kcat(args, "-C", "-t", args.t_in, "-o", "beginning", "-e"), stdout=subprocess.PIPE)
    p = subprocess.Popen(kcat(args, "-P", "-t", args.t_kcat), stdin=c.stdout)
    c.stdout.close()
    c.wait()
    p.wait()
    dt = time.time() - t0
    cpu = meter.stop()
    n = k.offsets([args.t_kcat])[args.t_kcat]
    if n != args.events:
        raise RuntimeError("kcat copied %d of %d" % (n, args.events))
    return {"seconds": round(dt, 3), "events_per_s": round(args.events / dt), **cpu}


def start_profile(args, pid, name="perf.data"):
    if not args.profile or not shutil.which("perf"):
        return None
    out = os.path.join(args.run_dir, name)
    log("perf record on the gateway for %ds -> %s" % (args.profile, out))
    return subprocess.Popen(["perf", "record", "-F", "499", "-g", "-p", str(pid), "-o", out, "--", "sleep", str(args.profile)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_to_durable(args, name, group, rules_dir, profile_file, count_outputs):
    """A fresh gateway consuming the input topic until every event is durable (perf-recorded
    from its first processed event when --profile asks); count_outputs() is called before it
    stops. Returns (t0, t_ready, t_first, t_done, metrics, cpu, outputs, profiled)."""
    g = Gateway(args, name, [args.t_in], group, rules_dir)
    try:
        t0 = g.start()
        t_ready = g.wait_ready()
        meter = CpuMeter(g.proc.pid)
        prof = []
        t_first, t_done, m = g.wait_durable(args.events, timeout=args.timeout,
                                            on_first=lambda: prof.append(start_profile(args, g.proc.pid, profile_file)))
        cpu = meter.stop()
        got = count_outputs()
        if prof and prof[0]:
            prof[0].wait()
    finally:
        g.stop()
    return t0, t_ready, t_first, t_done, m, cpu, got, bool(prof and prof[0])


def phase_switchboard(args, k):
    log("switchboard: %d rules, %s -> %d topics" % (args.rules + 3, args.t_in, len(args.out_topics)))
    hooks0 = args.hooks.count
    want = sum(args.expected["fanout"])

    def count_outputs():
        # Every planned delivery written? (histogram count = events whose whole batch is durable)
        end = time.time() + 30
        while True:
            got = sum(k.offsets(args.out_topics).values())
            if got >= want or time.time() > end:
                return got
            time.sleep(1)

    t0, t_ready, t_first, t_done, m, cpu, got, profiled = run_to_durable(
        args, "gw-throughput", args.prefix + "gw", args.rules_dir, "perf.data", count_outputs)
    top = perf_top(args) if profiled else None
    wall = t_done - t0
    steady = max(t_done - t_first, 1e-3)
    res = {"events_per_s": round(args.events / wall), "steady_events_per_s": round(args.events / steady),
           "wall_seconds": round(wall, 3), "startup_seconds": round(t_ready - t0, 3),
           "first_event_after_s": round(t_first - t0, 3), "output_messages": got, "expected_output_messages": want,
           "output_messages_per_s": round(got / steady), "dlq": m.get("dlq", 0), "duplicates": m.get("dup", 0),
           "webhooks_received": args.hooks.count - hooks0, "expected_webhooks": args.expected["webhooks"],
           "bucket_p50_s": bucket_quantile(None, m, 0.5), "bucket_p99_s": bucket_quantile(None, m, 0.99),
           "stages": stage_means(None, m), **cpu}
    if top:
        res["perf_top"] = top
    if got != want:
        res["error"] = "output topics hold %d messages, expected %d" % (got, want)
    return res


def phase_passthrough(args, k):
    """The gateway on kcat's own work: one rule sends every event to one topic (one output message
    per input event, one partition in, one out), so the ratio to kcat is the gateway's per-event
    cost (decode, validate, dedup, match, plan, headers, lz4, acks=all) and not the fan-out's."""
    rules_dir = os.path.join(args.run_dir, "rules-passthrough")
    os.makedirs(rules_dir, exist_ok=True)
    with open(os.path.join(rules_dir, "00-all.rules"), "w") as f:
        f.write('rule all_events {\n  when exists eventId\n  to topic "%s"\n}\n' % args.t_pass)
    log("switchboard pass-through: 1 rule, %s -> %s" % (args.t_in, args.t_pass))
    t0, t_ready, t_first, t_done, m, cpu, got, _ = run_to_durable(
        args, "gw-passthrough", args.prefix + "gwpass", rules_dir, "perf-passthrough.data",
        lambda: k.offsets([args.t_pass])[args.t_pass])
    wall, steady = t_done - t0, max(t_done - t_first, 1e-3)
    res = {"events_per_s": round(args.events / wall), "steady_events_per_s": round(args.events / steady),
           "wall_seconds": round(wall, 3), "startup_seconds": round(t_ready - t0, 3), "output_messages": got,
           "stages": stage_means(None, m), **cpu}
    if got != args.events:
        res["error"] = "%s holds %d messages, expected %d" % (args.t_pass, got, args.events)
    return res


def perf_top(args):
    """The 25 hottest symbols (self time) of the gateway's perf.data, also written to perf-top.txt."""
    data = os.path.join(args.run_dir, "perf.data")
    r = subprocess.run(["perf", "report", "-i", data, "--no-children", "-g", "none", "--sort", "dso,symbol", "--stdio", "--percent-limit", "0.5"],
                       capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines() if l.strip() and not l.startswith("#") and "%" in l.split()[0]]
    with open(os.path.join(args.run_dir, "perf-top.txt"), "w") as f:
        f.write(r.stdout)
    return [" ".join(l.split()) for l in lines[:25]]


def read_ts(args, topic, start_ms=None):
    """{event index: [LogAppendTime ms, ...]} of a topic's messages (from start_ms on)."""
    argv = kcat(args, "-C", "-t", topic, "-e", "-f", "%T\\t%s\\n")
    argv[argv.index("-e"):argv.index("-e")] = ["-o", "s@%d" % start_ms if start_ms else "beginning"]
    out = {}
    r = subprocess.run(argv, stdout=subprocess.PIPE, check=True)
    for line in r.stdout.split(b"\n"):
        if not line:
            continue
        ts, _, val = line.partition(b"\t")
        m = ID_RE.search(val)
        if m and ts.isdigit():
            out.setdefault(int(m.group(1), 16), []).append(int(ts))
    return out


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def latency_stats(inp, outs, measured):
    per_msg, per_event = [], []
    missing = 0
    for i in measured:
        if i not in inp:
            missing += 1
            continue
        t_in = min(inp[i])
        ts = outs.get(i)
        if not ts:
            continue
        d = [t - t_in for t in ts]
        per_msg += d
        per_event.append(max(d))
    return {"messages": len(per_msg), "events": len(per_event), "inputs_missing": missing,
            "p50_ms": pct(per_msg, 0.5), "p90_ms": pct(per_msg, 0.9), "p99_ms": pct(per_msg, 0.99), "max_ms": max(per_msg) if per_msg else None,
            "event_p50_ms": pct(per_event, 0.5), "event_p99_ms": pct(per_event, 0.99)}


def paced_files(args, rate):
    """Warm-up lines (the file's last ones) and the paced run's file (its first m lines)."""
    with open(args.events_file, "rb") as f:
        lines = f.readlines()
    warm = lines[-args.warmup:]
    m = min(len(lines) - args.warmup, max(1000, int(rate * args.latency_seconds)))
    return warm, m


def produce_lines(args, topic, lines):
    subprocess.run(kcat(args, "-P", "-t", topic), input=b"".join(lines), check=True)


def phase_latency(args, k, rate, passthrough=False):
    """Added latency at a fixed rate: the main rule set (1,003 rules -> 254 topics), or with
    passthrough the one-rule set of phase_passthrough (every event -> one topic)."""
    if passthrough:
        name, t_in, rules_dir, out_topics = "gw-latency-passthrough", args.t_plat, os.path.join(args.run_dir, "rules-passthrough"), [args.t_pass]
        fanout = [1] * args.events
    else:
        name, t_in, rules_dir, out_topics = "gw-latency", args.t_lat, args.rules_dir, args.out_topics
        fanout = args.expected["fanout"]
    log("latency: switchboard (%s) at %d events/s for %ds" % (name, rate, args.latency_seconds))
    warm, m = paced_files(args, rate)
    g = Gateway(args, name, [t_in], args.prefix + name, rules_dir)
    try:
        g.start()
        g.wait_ready()
        produce_lines(args, t_in, warm)
        g.wait_durable(len(warm), timeout=120)
        before = g.metrics()
        meter = CpuMeter(g.proc.pid)
        start_ms = int(time.time() * 1000)
        pace = k.pace(t_in, rate, args.events_file, m)
        _, _, after = g.wait_durable(len(warm) + m, timeout=300)
        cpu = meter.stop()
    finally:
        g.stop()
    log("reading timestamps of %s and %d output topics" % (t_in, len(out_topics)))
    inp = read_ts(args, t_in, start_ms)
    outs = {}
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:
        for part in pool.map(lambda t: read_ts(args, t, start_ms), out_topics):
            for i, ts in part.items():
                if i < m:
                    outs.setdefault(i, []).extend(ts)
    st = latency_stats(inp, outs, range(m))
    want = sum(fanout[:m])
    st.update({"rate": rate, "events": m, "pacer": pace, "expected_output_messages": want,
               "bucket_p50_s": bucket_quantile(before, after, 0.5), "bucket_p99_s": bucket_quantile(before, after, 0.99),
               "stages": stage_means(before, after), **cpu})
    return st


def phase_floor(args, k, rate):
    """The produce leg alone: a plain producer (FanOut.java, the gateway's producer settings) sending
    the gateway's output message rate round-robin to as many fresh topics as the rules target.
    Its send -> ack latency is the floor under any gateway's added latency on this broker."""
    msgs = max(1, int(round(rate * sum(args.expected["fanout"]) / len(args.expected["fanout"]))))
    log("fan-out floor: %d messages/s over %d topics for %ds" % (msgs, len(args.out_topics), args.latency_seconds))
    topics = ["%sfloor.%03d" % (args.prefix, i) for i in range(len(args.out_topics))]
    log(k.create(topics))
    tf, pf = os.path.join(args.run_dir, "floor-topics.txt"), os.path.join(args.run_dir, "floor-payloads.jsonl")
    with open(tf, "w") as f:
        f.write("\n".join(topics) + "\n")
    with open(args.events_file, "rb") as src, open(pf, "wb") as dst:
        for _ in range(1000):
            dst.write(src.readline())
    meter = CpuMeter(None)
    r = k.java("FanOut", k.b, str(msgs), str(args.latency_seconds), tf, pf)
    cpu = meter.stop()
    if r.returncode != 0:
        raise RuntimeError("FanOut failed: " + r.stderr[-2000:])
    line = r.stdout.strip().splitlines()[-1]
    st = {kk: float(v) for kk, v in (kv.split("=") for kv in line.split())}
    st.update({"rate_messages": msgs, "rate_events": rate, "topics": len(topics), **cpu})
    return st


def phase_kcat_latency(args, k, rate):
    """kcat -C | kcat -P at the same rate. Caveat: kcat -P holds stdin lines until its input buffer
    fills or stdin closes, so this mostly measures kcat's buffering: opt-in, context only."""
    log("latency: kcat pass-through at %d events/s" % rate)
    warm, m = paced_files(args, rate)
    c = subprocess.Popen(kcat(args, "-C", "-t", args.t_klat_in, "-o", "beginning"), stdout=subprocess.PIPE)
    p = subprocess.Popen(kcat(args, "-P", "-t", args.t_klat_out, "-X", "linger.ms=0"), stdin=c.stdout)
    c.stdout.close()
    try:
        produce_lines(args, args.t_klat_in, warm)
        start_ms = int(time.time() * 1000)
        pace = k.pace(args.t_klat_in, rate, args.events_file, m)
        end = time.time() + 60
        while end_offset(args, args.t_klat_out) < len(warm) + m and time.time() < end:
            time.sleep(0.2)
    finally:
        c.terminate()
        c.wait()
        p.wait()
    inp = read_ts(args, args.t_klat_in, start_ms)
    outs = {i: ts for i, ts in read_ts(args, args.t_klat_out, start_ms).items() if i < m}
    st = latency_stats(inp, outs, range(m))
    st.update({"rate": rate, "events": m, "pacer": pace})
    return st


# ---- report -------------------------------------------------------------------------------------

def fmt(x, unit=""):
    if x is None:
        return "–"
    if isinstance(x, float) and not x.is_integer():
        return "%.1f%s" % (x, unit)
    return "{:,}{}".format(int(x), unit)


def report(args, res):
    d = res["data"]
    k = res.get("kcat", {}).get("events_per_s")
    sb = res.get("switchboard", {})
    lat = res.get("latency", {})
    klat = res.get("kcat_latency", {})
    rows = []

    def ratio(x):
        return "%.2f" % (x / k) if k and x else "–"

    b = res.get("broker", {})
    if b:
        pr, co = b["producer"], b["consumer"]
        rows.append(("Kafka ProducerPerformance (acks=all, kafka-tools)", fmt(pr["records_per_s"]), ratio(pr["records_per_s"]),
                     "%.1f MB/s" % pr["mb_per_s"], "produce only; producer-side latency avg %s ms" % fmt(pr["avg_latency_ms"])))
        rows.append(("Kafka ConsumerPerformance (kafka-tools)", fmt(co["records_per_s"]), ratio(co["records_per_s"]),
                     "%.1f MB/s" % co["mb_per_s"], "consume only; fetch-phase rate %s/s" % fmt(co["fetch_records_per_s"])))
    if res.get("load"):
        rows.append(("kcat -P (librdkafka producer, loading the input)", fmt(res["load"]["events_per_s"]), ratio(res["load"]["events_per_s"]), "", "produce only"))
    if k:
        kl = ("p50 %s / p99 %s ms" % (fmt(klat.get("p50_ms")), fmt(klat.get("p99_ms")))) if klat.get("p50_ms") is not None else "–"
        rows.append(("kcat -C | kcat -P pass-through (1 → 1 topic)", fmt(k), "1.00", kl, "copy, no parsing; cores %s" % res["kcat"].get("machine_busy_cores")))
    pt = res.get("passthrough", {})
    plat = res.get("latency_passthrough", {})
    if pt.get("events_per_s"):
        pl = ("p50 %s / p99 %s ms" % (fmt(plat.get("p50_ms")), fmt(plat.get("p99_ms")))) if plat.get("p50_ms") is not None else "–"
        rows.append(("switchboard serve, 1 rule → 1 topic (kcat's work: every event parsed, validated, deduplicated, matched, sent on)",
                     fmt(pt["events_per_s"]), ratio(pt["events_per_s"]), pl,
                     "steady %s/s from the first event; %s output msgs; gateway %s cores, machine %s%s"
                     % (fmt(pt["steady_events_per_s"]), fmt(pt["output_messages"]), pt.get("process_cores"), pt.get("machine_busy_cores"),
                        "; ERROR " + pt["error"] if pt.get("error") else "")))
    if sb and sb.get("events_per_s"):
        ll = ("p50 %s / p99 %s ms" % (fmt(lat.get("p50_ms")), fmt(lat.get("p99_ms")))) if lat.get("p50_ms") is not None else "–"
        rows.append(("switchboard serve, %d rules → %d topics (Kafka → gateway → Kafka)" % (d["rules"], d["output_topics"]),
                     fmt(sb["events_per_s"]), ratio(sb["events_per_s"]), ll,
                     "steady %s/s from the first event; %s output msgs (%.2f per event); gateway %s cores, machine %s"
                     % (fmt(sb["steady_events_per_s"]), fmt(sb["output_messages"]), d["mean_fanout"], sb.get("process_cores"), sb.get("machine_busy_cores"))))
    fl = res.get("floor", {})
    if fl.get("p50_ms") is not None:
        rows.append(("fan-out floor: a plain producer (FanOut.java, the gateway's producer settings), %s msgs/s round-robin to %d topics"
                     % (fmt(fl["rate_messages"]), fl["topics"]), "–", "–", "p50 %s / p99 %s ms" % (fmt(fl["p50_ms"]), fmt(fl["p99_ms"])),
                     "produce leg only, send → ack, the latency phase's output rate; no consume, no gateway; machine %s cores"
                     % fl.get("machine_busy_cores")))
    rows.append(("Redpanda Connect (Benthos), seed's 3 rules as a switch output", "not run", "–", "–", args.peer_reason))
    out = ["| system | events/s | vs kcat | added latency at half max rate | notes |", "|---|---:|---:|---|---|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    goals = []
    if k and sb.get("events_per_s"):
        r = sb["events_per_s"] / k
        goals.append("- ≥ 80%% of kcat pass-through: %s (%.0f%%; steady-state %.0f%%)" % ("**met**" if r >= 0.8 else "**not met**", 100 * r, 100 * sb["steady_events_per_s"] / k))
    if k and pt.get("events_per_s"):
        if not sb.get("events_per_s"):
            goals.append("- ≥ 80%% of kcat pass-through: not measured on the main rule set (skipped)")
        goals.append("  - on kcat's own work (1 rule → 1 topic, one message per event): %.0f%% of kcat (steady-state %.0f%%)"
                     % (100 * pt["events_per_s"] / k, 100 * pt["steady_events_per_s"] / k))
    goals.append("- ≥ 1.5× Redpanda Connect: **not measured** (%s)" % args.peer_reason)
    if lat.get("p99_ms") is not None:
        goals.append("- p99 added latency < 10 ms at half max rate (%s events/s): %s (p99 %s ms per output message, %s ms per event's last delivery)"
                     % (fmt(lat["rate"]), "**met**" if lat["p99_ms"] < 10 else "**not met**", fmt(lat["p99_ms"]), fmt(lat["event_p99_ms"])))
    if plat.get("p99_ms") is not None:
        if lat.get("p99_ms") is None:
            goals.append("- p99 added latency < 10 ms at half max rate: not measured on the main rule set (skipped)")
        goals.append("  - on kcat's own work (1 rule → 1 topic) at half its max rate (%s events/s): p50 %s / p90 %s / p99 %s ms"
                     % (fmt(plat["rate"]), fmt(plat["p50_ms"]), fmt(plat["p90_ms"]), fmt(plat["p99_ms"])))
    if lat.get("p99_ms") is not None and fl.get("p99_ms") is not None:
        goals.append("  - the produce leg alone (fan-out floor, same rate and topic count, no gateway) measured p50 %s / p99 %s ms in the same run"
                     % (fmt(fl["p50_ms"]), fmt(fl["p99_ms"])))
    return "\n".join(out), "\n".join(goals)


def machine_facts(args):
    facts = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            facts["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
        with open("/proc/meminfo") as f:
            facts["mem"] = f.readline().split(":")[1].strip()
        facts["load_before"] = open("/proc/loadavg").read().split()[:3]
    except (OSError, StopIteration):
        pass
    facts["kcat"] = subprocess.run([args.kcat, "-V"], capture_output=True, text=True).stdout.split("\n")[1:2]
    facts["switchboard_bin"] = args.switchboard
    return facts


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--quick", action="store_true", help="20,000 events, shorter latency phase")
    ap.add_argument("--rules", type=int, default=1000, help="generated rules besides the seed's three")
    ap.add_argument("--rule-topics", type=int, default=250)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--batch-linger", default="", help="the gateway's pipeline.batch_linger (default: the gateway's own, 5ms)")
    ap.add_argument("--latency-seconds", type=int, default=20)
    ap.add_argument("--latency-rate", type=int, default=0, help="events/s of the latency phase (default: half the measured rate)")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--skip", default="", help="comma list of phases to skip: broker,kcat,passthrough,switchboard,latency,floor")
    ap.add_argument("--kcat-latency", action="store_true", help="also kcat -C | kcat -P at the latency rate (mostly kcat's stdin buffering)")
    ap.add_argument("--profile", type=int, default=0, help="perf record the gateway for S seconds")
    ap.add_argument("--keep-topics", action="store_true")
    ap.add_argument("--producer-props", default="", help="extra librdkafka producer properties of the gateway, k=v,k=v (kafka.producer)")
    ap.add_argument("--batches-in-flight", type=int, default=0,
                    help="kafka.batches_in_flight of the gateway (default: the gateway's own default)")
    ap.add_argument("--producers", type=int, default=0, help="kafka.producers of the gateway (default: the gateway's own default)")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--brokers", default="127.0.0.1:9092")
    ap.add_argument("--port", type=int, default=0, help="the gateway's listen port (default: a free one)")
    ap.add_argument("--hook-port", type=int, default=0, help="the webhook receiver's port (default: a free one)")
    ap.add_argument("--switchboard", required=True)
    ap.add_argument("--kcat", default=shutil.which("kcat") or "kcat")
    ap.add_argument("--kafka-home", default=os.path.expanduser("~/.cache/switchboard/kafka-4.4.0"))
    ap.add_argument("--transforms", default=os.path.normpath(os.path.join(HERE, "..", "..", "transforms")))
    ap.add_argument("--cache", default=os.environ.get("BENCH_SERVE_DIR", os.path.expanduser("~/.cache/switchboard/bench-serve")))
    ap.add_argument("--results", default=None, help="default: bench/serve/RESULTS.md, or out/RESULTS-quick.md with --quick")
    ap.add_argument("--peer-reason", default="github.com/redpanda-data/connect/v4 is marked not-to-use here (not an open-source licence); "
                    "github.com/redpanda-data/benthos/v4 has no Kafka components and v4.60.0 is not an approved release")
    args = ap.parse_args()
    if args.quick:
        args.events = 20_000 if args.events == 200_000 else args.events
        args.latency_seconds = min(args.latency_seconds, 8)
    if args.results is None:
        args.results = os.path.join(HERE, "out", "RESULTS-quick.md") if args.quick else os.path.join(HERE, "RESULTS.md")
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    run_id = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    args.prefix = "bench.%s." % run_id
    args.work = args.cache
    args.run_dir = os.path.join(args.cache, "runs", run_id)
    os.makedirs(args.run_dir, exist_ok=True)
    args.t_in, args.t_perf, args.t_kcat = args.prefix + "in", args.prefix + "perf", args.prefix + "kcat.out"
    args.t_pass = args.prefix + "pass.out"
    args.t_plat = args.prefix + "plat.in"
    args.t_lat, args.t_klat_in, args.t_klat_out = args.prefix + "lat.in", args.prefix + "klat.in", args.prefix + "klat.out"
    res = {"run_id": run_id, "machine": machine_facts(args), "args": {k: v for k, v in vars(args).items() if isinstance(v, (int, str, float))}}
    k = Kafka(args)
    k.compile_admin()

    args.hooks = Hooks(("127.0.0.1", args.hook_port), HookHandler)
    args.hook_port = args.hooks.server_address[1]
    if not args.port:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            args.port = s.getsockname()[1]
    threading.Thread(target=args.hooks.serve_forever, daemon=True).start()
    try:
        res["data"] = phase_data(args)
        log("data:", res["data"])
        log(k.create([args.t_in, args.t_perf, args.t_kcat, args.t_pass, args.t_plat, args.t_lat, args.t_klat_in, args.t_klat_out, args.prefix + "dlq"] + args.out_topics))
        res["load"] = phase_load(args, k)
        if "broker" not in skip:
            res["broker"] = phase_broker(args, k)
            log("broker:", {x: res["broker"][x]["records_per_s"] for x in res["broker"]})
        if "kcat" not in skip:
            res["kcat"] = phase_kcat(args, k)
            log("kcat:", res["kcat"])
        if "passthrough" not in skip:
            res["passthrough"] = phase_passthrough(args, k)
            log("switchboard pass-through:", res["passthrough"])
        if "switchboard" not in skip:
            res["switchboard"] = phase_switchboard(args, k)
            log("switchboard:", res["switchboard"])
        rate = args.latency_rate or (res.get("switchboard", {}).get("steady_events_per_s", 0) // 2)
        if rate and "latency" not in skip:
            res["latency"] = phase_latency(args, k, rate)
            log("latency:", res["latency"])
        prate = args.latency_rate or (res.get("passthrough", {}).get("steady_events_per_s", 0) // 2)
        if prate and "passthrough" not in skip and "latency" not in skip:
            res["latency_passthrough"] = phase_latency(args, k, prate, passthrough=True)
            log("latency (pass-through):", res["latency_passthrough"])
        if rate and "floor" not in skip:
            res["floor"] = phase_floor(args, k, rate)
            log("fan-out floor:", res["floor"])
        if rate and args.kcat_latency:
            res["kcat_latency"] = phase_kcat_latency(args, k, rate)
            log("kcat latency:", res["kcat_latency"])
    finally:
        args.hooks.shutdown()
        with open(os.path.join(args.run_dir, "results.json"), "w") as f:
            json.dump(res, f, indent=1, default=str)
        if not args.keep_topics:
            try:
                log(k.admin("delete", args.prefix))
            except Exception as e:  # noqa: BLE001 - cleanup is best effort
                log("topic cleanup failed:", e)
    table, goals = report(args, res)
    mf = res["machine"]
    d = res["data"]
    md = ["# bench/serve results", "",
          "Run `%s` (%s): %s events of %s bytes on average, %d rules (the seed's 3 + %d generated) routing to %d topics, "
          "%.2f output messages per event (%d events match nothing), one partition per topic, Kafka %s on %s."
          % (run_id, "quick" if args.quick else "full", fmt(d["events"]), d["mean_event_bytes"], d["rules"], args.rules,
             d["output_topics"], d["mean_fanout"], d["unmatched"], os.path.basename(args.kafka_home), args.brokers), "",
          "Machine: %s cores (`nproc`), %s, %s; load average before the run %s. Broker, gateway, kcat and the harness share "
          "these cores, and other engineers' builds and tests may have run at the same time."
          % (mf.get("nproc"), mf.get("cpu", "?"), mf.get("mem", "?"), " ".join(mf.get("load_before", []))), "",
          table, "", "Goals of issue 6:", "", goals, ""]
    for key, what in (("latency", "Latency phase"), ("latency_passthrough", "Latency phase of the 1 rule → 1 topic set")):
        if not res.get(key):
            continue
        l = res[key]
        md += [what + ": %s events paced at %s/s over %ss into a fresh topic (LogAppendTime on every topic), "
               "added latency = output message's broker append time − its input's append time; %s output messages compared "
               "(expected %s); the pacer (Pace.java) ran %ss, at most %s ms behind schedule. p50 %s, p90 %s, p99 %s, max %s ms; per event (its last delivery) p50 %s, p99 %s ms. "
               "The gateway's own histogram (decode → durable, bucket upper bounds): p50 ≤ %s s, p99 ≤ %s s. "
               "Gateway %s cores, machine %s busy cores."
               % (fmt(l["events"]), fmt(l["rate"]), l["pacer"].get("seconds"), fmt(l["messages"]), fmt(l["expected_output_messages"]),
                  l["pacer"].get("seconds"), l["pacer"].get("max_behind_ms"),
                  fmt(l["p50_ms"]), fmt(l["p90_ms"]), fmt(l["p99_ms"]), fmt(l["max_ms"]), fmt(l["event_p50_ms"]), fmt(l["event_p99_ms"]),
                  l["bucket_p50_s"], l["bucket_p99_s"], l.get("process_cores"), l.get("machine_busy_cores")), ""]
        if l.get("messages") != l.get("expected_output_messages"):
            md += ["**%s: %s output messages compared, %s expected: some are missing.**" % (what, fmt(l.get("messages")), fmt(l.get("expected_output_messages"))), ""]
        if l.get("stages"):
            md += [what + ", per batch (`batch_stage_duration_seconds`): " + stage_text(l["stages"]) + ".", ""]
    if res.get("switchboard"):
        s = res["switchboard"]
        md += ["Throughput phase: wall time from spawning `switchboard serve` until the histogram count "
               "(events whose deliveries are all durable) reached %s: %ss (startup %ss, first event after %ss). "
               "Output topics then held %s messages (expected %s); DLQ %s; webhooks received %s (expected %s)."
               % (fmt(d["events"]), s["wall_seconds"], s["startup_seconds"], s["first_event_after_s"], fmt(s["output_messages"]),
                  fmt(s["expected_output_messages"]), fmt(s["dlq"]), fmt(s["webhooks_received"]), fmt(s["expected_webhooks"])), ""]
        if s.get("stages"):
            md += ["Throughput phase, per batch (`batch_stage_duration_seconds`): " + stage_text(s["stages"]) + ".", ""]
    md += ["Raw numbers: `%s/results.json`." % args.run_dir.replace(os.path.expanduser("~"), "~"), ""]
    text = "\n".join(md)
    print("\n" + table + "\n\n" + goals)
    with open(args.results, "w") as f:
        f.write(text)
    with open(os.path.join(args.run_dir, "RESULTS.md"), "w") as f:
        f.write(text)
    log("wrote", args.results)
    lost = any(res.get(x) and res[x].get("messages") != res[x].get("expected_output_messages") for x in ("latency", "latency_passthrough"))
    return 1 if res.get("switchboard", {}).get("error") or res.get("passthrough", {}).get("error") or lost else 0


if __name__ == "__main__":
    sys.exit(main())
