#!/usr/bin/env python3
"""Writes a generated rule set's EventBridge patterns as switchboard YAML-form rules.

    eb_rules.py PATTERNS.jsonl OUT_DIR

Each line {"name", "pattern"} of patterns.jsonl becomes a rule with `event_pattern:` (the JSON
pattern as a string) and the same target as its DSL twin (`t.<name>`), 1,000 rules per file, so
`switchboard match --rules OUT_DIR` runs the very patterns Event Ruler and Quamina load. The
harness's `switchboard-eb` engine uses it.
"""
import json
import os
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with open(src) as f:
        rules = [json.loads(line) for line in f if line.strip()]
    for start in range(0, len(rules), 1000):
        with open(os.path.join(out, f"part-{start // 1000:04d}.yaml"), "w") as f:
            f.write("routing_rules:\n")
            for r in rules[start:start + 1000]:
                pattern = json.dumps(r["pattern"], separators=(",", ":")).replace("'", "''")
                f.write(f"  - name: {r['name']}\n    event_pattern: '{pattern}'\n")
                f.write(f"    targets:\n      - topic: t.{r['name']}\n")


if __name__ == "__main__":
    main()
