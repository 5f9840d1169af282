#!/usr/bin/env python3
"""The switchboard column of the peer benchmark: drives `switchboard match --rules DIR`.

    drive.py --bin PATH --rules DIR --events FILE [--runs 5] [--max-run-seconds 10]
             [--check-events K] [--out matches.jsonl] [--cpu 1] [--workdir DIR]

`match` reads JSON lines on stdin and writes {"line":N,"matched":[...]} per line. With
`--timing` it reports on stderr its own load time and the wall time its events took (from the
first read to the last write), which is what is used: subtracting a separately measured load
from the whole command's time drowned the events in the load's noise at 100,000 rules (a 4 s
load +- 0.5 s against 1 s of events). Measured per run, from a file on stdin to a file on stdout:
  events   the events' time in the process: reading, parsing, matching, writing;
  baseline the same with an EMPTY rule set on the same events (reading, parsing and writing).
Reported per run:  events_per_s       = K / t_events                 (parse + match + output)
                   match_events_per_s = K / (t_events - t_baseline)  (matching only)
K is all the events, or a prefix sized so that one run takes about --max-run-seconds.
Prints one JSON object; {"available": false, "reason": ...} when `match` is not usable yet.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd, stdin_path, stdout_path):
    """Run cmd with a file on stdin and stdout; returns (seconds, exit code, max RSS kB, stderr)."""
    with open(stdin_path, "rb") as fi, open(stdout_path, "wb") as fo, tempfile.TemporaryFile() as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=fi, stdout=fo, stderr=fe)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        fe.seek(0)
        err = fe.read().decode("utf-8", "replace")[-2000:]
    return dt, p.returncode, ru.ru_maxrss, err


def timing(err):
    """The `--timing` line `match` prints last on stderr: {"load_s", "events", "events_s"}."""
    for line in reversed(err.strip().splitlines()):
        try:
            t = json.loads(line)
        except ValueError:
            continue
        if isinstance(t, dict) and "events_s" in t:
            return t
    raise RuntimeError("`switchboard match --timing` printed no timing line: %s" % err[-300:])


def prefix_file(events, k, workdir):
    path = os.path.join(workdir, "events-prefix-%d.jsonl" % k)
    if not os.path.exists(path):
        with open(events, "rb") as fi, open(path + ".tmp", "wb") as fo:
            for i, line in enumerate(fi):
                if i >= k:
                    break
                fo.write(line)
        os.replace(path + ".tmp", path)
    return path


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-run-seconds", type=float, default=10.0)
    ap.add_argument("--check-events", type=int, default=0)
    ap.add_argument("--check-max-seconds", type=float, default=120.0)
    ap.add_argument("--out")
    ap.add_argument("--cpu", default="")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    res = {"engine": "switchboard", "available": False}
    if not os.access(a.bin, os.X_OK):
        res["reason"] = "no binary at %s" % a.bin
        print(json.dumps(res))
        return
    work = a.workdir or tempfile.mkdtemp(prefix="sb-peers-")
    os.makedirs(work, exist_ok=True)
    pin = ["taskset", "-c", a.cpu] if a.cpu else []
    cmd = lambda rules: pin + [a.bin, "match", "--timing", "--rules", rules]
    devnull_in = "/dev/null"
    scratch = os.path.join(work, "scratch.out")

    # 1. is `match` there and does it answer in the documented shape?
    probe_dir = os.path.join(work, "probe-rules")
    os.makedirs(probe_dir, exist_ok=True)
    with open(os.path.join(probe_dir, "probe.rules"), "w") as f:
        f.write('rule probe { when eventType == "x" and metadata.tags contains "t" to topic "t" }\n')
    probe_ev = os.path.join(work, "probe.jsonl")
    with open(probe_ev, "w") as f:
        f.write('{"eventType":"x","metadata":{"tags":["t"]}}\n{"eventType":"y"}\n')
    dt, rc, _, err = run(cmd(probe_dir), probe_ev, scratch)
    got = open(scratch).read().split("\n")
    try:
        ok = rc == 0 and json.loads(got[0]) == {"line": 1, "matched": ["probe"]} \
            and json.loads(got[1]) == {"line": 2, "matched": []}
    except (ValueError, IndexError):
        ok = False
    if not ok:
        res["reason"] = "`switchboard match` not usable yet (exit %d): %s" % (
            rc, (err.strip().splitlines() or ["no output"])[-1][:300])
        print(json.dumps(res))
        return
    empty_dir = os.path.join(work, "empty-rules")
    os.makedirs(empty_dir, exist_ok=True)

    # 2. load time: the rule set, no events
    loads, builds, rss_load = [], [], 0
    for _ in range(3):
        dt, rc, rss, err = run(cmd(a.rules), devnull_in, scratch)
        if rc != 0:
            res["reason"] = "rule set did not load (exit %d): %s" % (rc, err.strip()[-500:])
            print(json.dumps(res))
            return
        loads.append(dt)
        builds.append(timing(err)["load_s"])
        rss_load = max(rss_load, rss)
    t_load = statistics.median(loads)

    # 3. size the runs
    total = count_lines(a.events)
    p = min(1000, total)
    dt, rc, _, err = run(cmd(a.rules), prefix_file(a.events, p, work), scratch)
    if rc != 0:
        res["reason"] = "match failed (exit %d): %s" % (rc, err.strip()[-500:])
        print(json.dumps(res))
        return
    rate = p / max(timing(err)["events_s"], 1e-6)
    # At least 20,000 events a run: each run is a new process, and its lazy regex DFAs warm up
    # on the first events (about a second with 100,000 rules); a short run would mostly time that.
    k = total if a.max_run_seconds <= 0 else int(min(total, max(p, 20000, rate * a.max_run_seconds)))
    evk = a.events if k == total else prefix_file(a.events, k, work)

    # 4. timed runs; the output of the last one is kept for the agreement check
    times, walls, rss_max = [], [], 0
    out = a.out or scratch
    for _ in range(a.runs):
        dt, rc, rss, err = run(cmd(a.rules), evk, out)
        if rc != 0:
            res["reason"] = "match failed (exit %d): %s" % (rc, err.strip()[-500:])
            print(json.dumps(res))
            return
        times.append(timing(err)["events_s"])
        walls.append(dt)
        rss_max = max(rss_max, rss)
    checked = k
    if a.out and a.check_events > k:
        c = int(min(a.check_events, total, max(k, rate * a.check_max_seconds)))
        if c > k:
            run(cmd(a.rules), a.events if c == total else prefix_file(a.events, c, work), a.out)
            checked = c
    base = [timing(run(cmd(empty_dir), evk, scratch)[3])["events_s"] for _ in range(a.runs)]
    t_base = statistics.median(base)
    matches = 0
    if a.out:
        with open(a.out) as f:
            for i, line in enumerate(f):
                if i >= k:
                    break
                matches += len(json.loads(line).get("matched", []))
    res.update({
        "available": True,
        "events": k,
        "events_measured": [k] * len(times),
        "events_checked": checked,
        "load_s": round(t_load, 4),
        "build_ms": round(statistics.median(builds) * 1000, 1),
        "baseline_s": round(t_base, 4),
        "run_s": [round(t, 4) for t in times],
        "wall_s": [round(t, 4) for t in walls],
        "events_per_s": [k / max(t, 1e-9) for t in times],
        "match_events_per_s": [k / max(t - t_base, 1e-9) for t in times],
        "matches_per_event": matches / max(k, 1) if a.out else None,
        "peak_rss_kb": rss_max,
        "rss_loaded_kb": rss_load,
    })
    print(json.dumps(res))


if __name__ == "__main__":
    main()
