#!/usr/bin/env python3
"""Runs every engine on every generated rule set, checks they agree, prints the table.

Called by run.sh (which builds the drivers and generates the data); see README.md.
Exit status: 0 when every available engine agreed with every other on every compared event,
1 on any disagreement or engine failure.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print("[peers %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def sh(cmd, timeout=None):
    log("$ " + " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        return None, "exit %d: %s" % (p.returncode, p.stderr.strip()[-800:])
    try:
        return json.loads(p.stdout.strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, "unparsable output: %r / %s" % (p.stdout[-300:], p.stderr[-300:])


def load_matches(path, limit):
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if limit and r["line"] > limit:
                break
            if "error" in r:
                out[r["line"]] = {"<error: %s>" % r["error"]}
            else:
                out[r["line"]] = set(r["matched"]) - {"default"}
    return out


def pattern_info(path):
    names, feats = [], {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            names.append(r["name"])
            feats[r["name"]] = set(r["features"])
    return names, feats


def render_only(argv):
    """harness.py --render A/results.json B/results.json ...: one table from several runs (an
    engine re-measured later, e.g. switchboard once its `match` landed)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--render", nargs="+", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--subset", default="all")
    a = ap.parse_args(argv)
    results, bad = [], []
    for path in a.render:
        d = json.load(open(path))
        results += d["results"]
        bad += d["disagreements"] + d["failures"]
    seen, merged = set(), []
    for r in reversed(results):  # a later file's measurement of an engine wins
        key = (r["engine"], r["rules"])
        if key not in seen and (r.get("available") or not any(
                x["engine"] == r["engine"] and x["rules"] == r["rules"] and x.get("available")
                for x in results)):
            seen.add(key)
            merged.append(r)
    order = {"quamina": 0, "event-ruler": 1, "switchboard": 2, "switchboard-eb": 3, "reference": 4}
    merged.sort(key=lambda r: (r["rules"], order.get(r["engine"], 9)))
    print(render(merged, a))
    ok = {"%s @ %d rules" % (r["engine"], r["rules"]) for r in merged if r.get("available")}
    bad = [x for x in bad if not (isinstance(x, str) and x.split(":", 1)[0] in ok)]
    for x in bad:
        print(json.dumps(x, default=list))
    sys.exit(1 if bad else 0)


def main():
    if "--render" in sys.argv:
        return render_only(sys.argv[1:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="generated data dir")
    ap.add_argument("--out", required=True, help="results dir")
    ap.add_argument("--rules", default="100,1000,10000,100000")
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-run-seconds", type=float, default=10.0)
    ap.add_argument("--warmup-seconds", type=float, default=10.0)
    ap.add_argument("--check-events", type=int, default=0, help="0: all events")
    ap.add_argument("--ref-events", type=int, default=20000)
    ap.add_argument("--check-max-seconds", type=float, default=180.0,
                    help="cap on each engine's untimed agreement pass (it then covers a prefix)")
    ap.add_argument("--subset", choices=["all", "common"], default="all",
                    help="common: the rule sets without numeric conditions (all engines alike)")
    ap.add_argument("--engines", default="quamina,event-ruler,switchboard,reference")
    ap.add_argument("--cpu", default="1")
    ap.add_argument("--quamina-bin", default="")
    ap.add_argument("--quamina-unavailable", default="")
    ap.add_argument("--er-classpath", default="")
    ap.add_argument("--er-unavailable", default="")
    ap.add_argument("--jvm-opts", default="-XX:ActiveProcessorCount=1 -XX:+UseSerialGC -Xms1g -Xmx8g")
    ap.add_argument("--switchboard-bin", default="")
    ap.add_argument("--switchboard-unavailable", default="")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    engines = [e for e in a.engines.split(",") if e]
    events = os.path.join(a.data, "events-%d.jsonl" % a.events)
    check = a.check_events or a.events
    pin = ["taskset", "-c", a.cpu] if a.cpu else []
    results, failures, disagreements = [], [], []

    for n in [int(x) for x in a.rules.split(",") if x]:
        rdir = os.path.join(a.data, "rules-%d" % n + ("-common" if a.subset == "common" else ""))
        patterns = os.path.join(rdir, "patterns.jsonl")
        names, feats = pattern_info(patterns)
        all_names = set(names)
        runs = {}
        for eng in engines:
            mfile = os.path.join(a.out, "matches-%s-%d.jsonl" % (eng, n))
            if os.path.exists(mfile):
                os.remove(mfile)
            r, err, loaded, checked = None, None, all_names, check
            if eng == "quamina":
                if a.quamina_unavailable or not a.quamina_bin:
                    r = {"available": False, "reason": a.quamina_unavailable or "not built"}
                else:
                    r, err = sh(pin + [a.quamina_bin, "--patterns", patterns, "--events", events,
                                       "--runs", str(a.runs), "--warmup", "1",
                                       "--max-run-seconds", str(a.max_run_seconds),
                                       "--check-events", str(check), "--out", mfile,
                                       "--check-max-seconds", str(a.check_max_seconds),
                                       "--skip-feature", "numeric"])
                    if r:
                        rejected = {x.split(":", 1)[0] for x in r.get("rules_rejected", [])}
                        loaded = {x for x in names if "numeric" not in feats[x]} - rejected
            elif eng == "event-ruler":
                if a.er_unavailable or not a.er_classpath:
                    r = {"available": False, "reason": a.er_unavailable or "not built"}
                else:
                    r, err = sh(pin + ["java"] + a.jvm_opts.split() +
                                ["-cp", a.er_classpath, "switchboard.bench.EventRulerDriver",
                                 "--patterns", patterns, "--events", events, "--runs", str(a.runs),
                                 "--warmup", "3", "--warmup-seconds", str(a.warmup_seconds),
                                 "--max-run-seconds", str(a.max_run_seconds),
                                 "--check-events", str(check), "--out", mfile,
                                 "--check-max-seconds", str(a.check_max_seconds)])
                    if r:
                        rejected = {x.split(":", 1)[0] for x in r.get("rules_rejected", [])}
                        loaded = all_names - rejected
            elif eng in ("switchboard", "switchboard-eb"):
                if a.switchboard_unavailable or not a.switchboard_bin:
                    r = {"available": False, "reason": a.switchboard_unavailable or "not built"}
                else:
                    rules_dir = os.path.join(rdir, "dsl")
                    if eng == "switchboard-eb":
                        # The very EventBridge patterns the peers load, as `event_pattern:` rules.
                        rules_dir = os.path.join(a.out, "sb-eb-rules-%d" % n)
                        subprocess.run([sys.executable, os.path.join(HERE, "switchboard", "eb_rules.py"),
                                        patterns, rules_dir], check=True)
                    r, err = sh([sys.executable, os.path.join(HERE, "switchboard", "drive.py"),
                                 "--bin", a.switchboard_bin, "--rules", rules_dir,
                                 "--events", events, "--runs", str(a.runs),
                                 "--max-run-seconds", str(a.max_run_seconds),
                                 "--check-events", str(check), "--out", mfile, "--cpu", a.cpu,
                                 "--check-max-seconds", str(a.check_max_seconds),
                                 "--workdir", os.path.join(a.out, "sb-work")])
                    if r and r.get("available"):
                        checked = r.get("events_checked", check)
            elif eng == "reference":
                checked = min(check, a.ref_events) if a.ref_events else check
                r, err = sh([sys.executable, os.path.join(HERE, "gen", "refmatch.py"),
                             "--patterns", patterns, "--events", events, "--out", mfile,
                             "--limit", str(checked)])
            if err:
                failures.append("%s @ %d rules: %s" % (eng, n, err))
                log("FAILED %s @ %d: %s" % (eng, n, err))
                r = {"available": False, "reason": "failed: " + err[:300]}
            r.setdefault("available", True)
            r["engine"], r["rules"] = eng, n
            r["loadavg_after"] = [round(x, 1) for x in os.getloadavg()]
            if r["available"] and os.path.exists(mfile):
                r["_matches"] = load_matches(mfile, checked)
                r["_loaded"] = loaded
                r["rules_compared"] = len(loaded)
            runs[eng] = r
            log("%s @ %d rules: %s" % (eng, n, json.dumps({k: v for k, v in r.items()
                                                             if not k.startswith("_")})[:600]))
        # agreement: every pair of engines, on the events both checked and the rules both loaded
        have = [e for e in engines if "_matches" in runs[e]]
        for i, e1 in enumerate(have):
            for e2 in have[i + 1:]:
                m1, m2 = runs[e1]["_matches"], runs[e2]["_matches"]
                universe = runs[e1]["_loaded"] & runs[e2]["_loaded"]
                lines = sorted(set(m1) & set(m2))
                bad = []
                for ln in lines:
                    s1, s2 = m1[ln] & universe, m2[ln] & universe
                    if any(x.startswith("<error") for x in m1[ln] | m2[ln]):
                        s1, s2 = m1[ln], m2[ln]
                    if s1 != s2:
                        bad.append((ln, sorted(s1 - s2), sorted(s2 - s1)))
                missing = (set(m1) ^ set(m2)) & set(range(1, min(max(m1, default=0), max(m2, default=0)) + 1))
                summary = {"rules": n, "engines": [e1, e2], "events_compared": len(lines),
                           "rules_compared": len(universe), "disagreeing_events": len(bad),
                           "missing_lines": len(missing)}
                log("agreement %s vs %s @ %d: %s" % (e1, e2, n, json.dumps(summary)))
                if bad or missing:
                    summary["examples"] = [{"line": ln, "only_" + e1: x, "only_" + e2: y}
                                           for ln, x, y in bad[:10]]
                    disagreements.append(summary)
                for r in (runs[e1], runs[e2]):
                    r.setdefault("agreement", []).append(summary)
        for e in engines:
            r = runs[e]
            r.pop("_matches", None)
            r.pop("_loaded", None)
            results.append(r)
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump({"results": results, "disagreements": disagreements, "failures": failures},
                      f, indent=1, default=list)

    table = render(results, a)
    print(table)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(table + "\n")
    if disagreements:
        print("\nDISAGREEMENTS (the run fails):")
        for d in disagreements:
            print(json.dumps(d, default=list))
    if failures:
        print("\nENGINE FAILURES (the run fails):")
        for x in failures:
            print("  " + x)
    sys.exit(1 if disagreements or failures else 0)


def fmt_int(x):
    return "{:,}".format(int(round(x)))


def render(results, a):
    head = ("| engine | rules%s | events/s (median of %d, 1 core) | ns/event | build | peak RSS | "
            "rules compared | matches/event | agreement |" % (
                " (common subset: no numeric rules)" if a.subset == "common" else "", a.runs))
    lines = [head, "|" + "---|" * 9]
    loads = [r["loadavg_after"][1] for r in results if r.get("loadavg_after") and r["engine"] != "reference"]
    for r in results:
        if r["engine"] == "reference":
            continue
        if not r.get("available"):
            lines.append("| %s | %s | not available: %s | | | | | | |" % (
                r["engine"], fmt_int(r["rules"]), r.get("reason", "?").replace("|", "/")[:160]))
            continue
        eps = statistics.median(r["events_per_s"])
        cell = fmt_int(eps)
        if r["engine"].startswith("switchboard") and r.get("match_events_per_s"):
            cell += " (matching only: %s)" % fmt_int(statistics.median(r["match_events_per_s"]))
        em = r.get("events_measured") or []
        if em and max(em) < r.get("events", 0):
            cell += " [%s of %s events per run]" % (fmt_int(statistics.median(em)), fmt_int(r["events"]))
        elif r["engine"].startswith("switchboard") and r.get("events", 0) < a.events:
            cell += " [%s events per run]" % fmt_int(r["events"])
        agree = r.get("agreement", [])
        if not agree:
            ag = "not checked"
        elif all(x["disagreeing_events"] == 0 and x["missing_lines"] == 0 for x in agree):
            ag = "agrees (%s events)" % fmt_int(min(x["events_compared"] for x in agree))
        else:
            ag = "**DISAGREES** (%d events)" % sum(x["disagreeing_events"] for x in agree)
        rss = r.get("peak_rss_kb") or 0
        lines.append("| %s | %s | %s | %s | %s | %s MiB | %s | %s | %s |" % (
            r["engine"], fmt_int(r["rules"]), cell, fmt_int(1e9 / eps),
            "%.2f s" % (r["build_ms"] / 1000.0) if r.get("build_ms") is not None else "?",
            fmt_int(rss / 1024.0), fmt_int(r.get("rules_compared", r.get("rules_loaded", 0))),
            "%.2f" % r["matches_per_event"] if r.get("matches_per_event") is not None else "?", ag))
    if loads:
        lines.append("")
        lines.append("Machine load (5-minute load average on %d cores, after each engine run): %s to %s."
                     % (os.cpu_count(), min(loads), max(loads)))
    refs = [r for r in results if r["engine"] == "reference" and r.get("available")]
    if refs:
        lines.append("")
        lines.append("Reference matcher (Python, correctness only, not timed): " + "; ".join(
            "%s rules: %.2f matches/event, %.1f%% of events match (first %s events)" % (
                fmt_int(r["rules"]), r["matches_per_event"], 100 * r["events_with_match"],
                fmt_int(r["events"])) for r in refs))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
