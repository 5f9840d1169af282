#!/usr/bin/env python3
"""Reference matcher for the generated EventBridge patterns (Python 3 stdlib only).

    refmatch.py --patterns rules-N/patterns.jsonl --events events-E.jsonl --out matches.jsonl
                [--limit K] [--skip-feature numeric]

A straightforward implementation of EventBridge's semantics for the pattern subset the generator
uses (exact, prefix, wildcard, numeric, exists, anything-but; arrays matched by membership). It is
not benchmarked: it is the independent third opinion of the agreement check, and it prints the
match statistics of a rule set (matches per event, share of events with a match). Output lines
have the `switchboard match` shape: {"line":N,"matched":[sorted rule names]}.
"""
import argparse
import json
import re
import sys
import time


def flatten(obj, prefix, out):
    """path -> list of leaf values; arrays are transparent (nested arrays flattened)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, prefix + (k,), out)
    elif isinstance(obj, list):
        for v in obj:
            flatten(v, prefix, out)
    else:
        out.setdefault(prefix, []).append(obj)


def is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if is_num(a) and is_num(b):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def glob_re(g):
    return re.compile("\\A" + ".*".join(re.escape(p) for p in g.split("*")) + "\\Z", re.S)


def compile_values(spec):
    """The array of an EventBridge leaf: returns (pred(values) -> bool, exact_strings or None)."""
    tests, exact, only_exact = [], [], True
    for item in spec:
        if isinstance(item, dict):
            only_exact = False
            (op, arg), = item.items()
            if op == "prefix":
                tests.append(lambda vs, a=arg: any(isinstance(v, str) and v.startswith(a) for v in vs))
            elif op == "wildcard":
                rx = glob_re(arg)
                tests.append(lambda vs, rx=rx: any(isinstance(v, str) and rx.match(v) for v in vs))
            elif op == "numeric":
                cmps = list(zip(arg[0::2], arg[1::2]))

                def numeric(vs, cmps=cmps):
                    for v in vs:
                        if is_num(v) and all(_cmp(v, o, b) for o, b in cmps):
                            return True
                    return False
                tests.append(numeric)
            elif op == "exists":
                tests.append((lambda vs: len(vs) > 0) if arg else (lambda vs: len(vs) == 0))
            elif op == "anything-but":
                lst = arg if isinstance(arg, list) else [arg]
                tests.append(lambda vs, lst=lst: any(not any(same(v, x) for x in lst) for v in vs))
            else:
                raise SystemExit("refmatch: unsupported operator %r" % op)
        else:
            exact.append(item)
            if not isinstance(item, str):
                only_exact = False
            tests.append(lambda vs, x=item: any(same(v, x) for v in vs))
    return (lambda vs: any(t(vs) for t in tests)), (exact if only_exact and exact else None)


def _cmp(v, op, b):
    return {"<": v < b, "<=": v <= b, "=": v == b, ">": v > b, ">=": v >= b}[op]


def compile_pattern(pat, prefix=()):
    leaves = []
    for k, v in pat.items():
        if isinstance(v, dict):
            leaves += compile_pattern(v, prefix + (k,))
        else:
            leaves.append((prefix + (k,),) + compile_values(v))
    return leaves


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--patterns", required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--skip-feature", action="append", default=[])
    a = ap.parse_args()
    rules, index, scan = [], {}, []
    for line in open(a.patterns):
        r = json.loads(line)
        if set(r["features"]) & set(a.skip_feature):
            continue
        leaves = compile_pattern(r["pattern"])
        rid = len(rules)
        rules.append((r["name"], [(p, t) for p, t, _ in leaves]))
        keyed = [(p, ex) for p, _, ex in leaves if ex]
        if keyed:
            p, ex = min(keyed, key=lambda pe: len(pe[1]))
            for x in ex:
                index.setdefault((p, x), []).append(rid)
        else:
            scan.append(rid)
    t0 = time.time()
    n = matched_events = total = 0
    with open(a.events) as f, open(a.out, "w") as out:
        for lineno, line in enumerate(f, 1):
            if a.limit and lineno > a.limit:
                break
            if not line.strip():
                continue
            n += 1
            ev = json.loads(line)
            flat = {}
            flatten(ev, (), flat)
            cand = set(scan)
            for p, vs in flat.items():
                for v in vs:
                    if isinstance(v, str):
                        hit = index.get((p, v))
                        if hit:
                            cand.update(hit)
            names = []
            for rid in cand:
                name, leaves = rules[rid]
                if all(t(flat.get(p, ())) for p, t in leaves):
                    names.append(name)
            names.sort()
            total += len(names)
            matched_events += bool(names)
            out.write(json.dumps({"line": lineno, "matched": names}, separators=(",", ":")) + "\n")
    print(json.dumps({"engine": "reference", "rules_loaded": len(rules), "events": n,
                      "matches_per_event": total / max(n, 1),
                      "events_with_match": matched_events / max(n, 1),
                      "seconds": round(time.time() - t0, 2)}))


if __name__ == "__main__":
    main()
