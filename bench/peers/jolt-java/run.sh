#!/usr/bin/env bash
# Builds switchboard's Jolt engine and the reference Java Jolt, runs both over the same specs
# and inputs (the reference's chainr/integration cases and transforms/member_to_crm.json), and
# prints spec x (switchboard transforms/s, Java transforms/s, ratio). Single thread each; the
# figure per spec is the median of RUNS (default 5) runs of 0.5 s of thread CPU time after
# warm-up (CPU time, so that other work on the machine does not decide the result).
#
# Usage: bench/peers/jolt-java/run.sh        (SWITCHBOARD_SHARED overrides ../shared)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
export SWITCHBOARD_SHARED="${SWITCHBOARD_SHARED:-$(cd "$root/.." && pwd)/shared}"
target="${CARGO_TARGET_DIR:-$root/target}"

echo "building switchboard (release) ..." >&2
(cd "$root" && cargo build --release -q -p switchboard-jolt --example jolt_throughput)
echo "building the Java peer (Maven, jolt-core) ..." >&2
(cd "$here" && mvn -q -B package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt >&2)

rust_out="$(mktemp)"
java_out="$(mktemp)"
trap 'rm -f "$rust_out" "$java_out"' EXIT

echo "timing switchboard ..." >&2
"$target/release/examples/jolt_throughput" >"$rust_out"
echo "timing Java (JIT warm-up ${WARMUP_MS:-8000} ms of CPU per spec; WARMUP_MS overrides) ..." >&2
java -cp "$here/target/classes:$(cat "$here/target/classpath.txt")" switchboard.bench.JoltThroughput \
    "$SWITCHBOARD_SHARED" "$root/transforms/member_to_crm.json" "$root/crates/jolt/benches/member_event.json" \
    >"$java_out"

# Column 2: Chain::transform, the output sharing the input's values as Java's does (like for
# like); column 4: Chain::apply, the output copied into an owned serde_json::Value.
printf '| %-30s | %18s | %14s | %6s | %22s | %6s |\n' "spec" "switchboard (t/s)" "Java (t/s)" "ratio" "switchboard, as Value" "ratio"
printf '|%s|%s|%s|%s|%s|%s|\n' "--------------------------------" "--------------------" "----------------" "--------" "------------------------" "--------"
awk -F'\t' 'NR == FNR { java[$1] = $2; next }
    { j = java[$1]; ratio = (j > 0) ? sprintf("%.1fx", $2 / j) : "n/a"; vratio = (j > 0) ? sprintf("%.1fx", $3 / j) : "n/a";
      printf "| %-30s | %18d | %14d | %6s | %22d | %6s |\n", $1, $2, j, ratio, $3, vratio }' "$java_out" "$rust_out"
