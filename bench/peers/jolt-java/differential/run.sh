#!/usr/bin/env bash
# Differential test of switchboard's Jolt engine against the reference (jolt-core 0.1.8): generates
# ~25,800 cases (the reference's unit-test data, every modify function over ~68 values with 0-3
# arguments, edge cases of every operation, 3,000 random shift specs from a fixed seed), runs each
# through both engines (`switchboard jolt` and a Java CLI over Chainr) and prints, per operation,
# how many agree, then the disagreements grouped by cause (classify.py's groups; "UNCLASSIFIED"
# ones printed in full). Two failures agree when both refuse the spec, or both fail on the input.
# Not a test: the known differences are documented in docs/transforms.md#conformance, and
# crates/jolt/tests/reference_answers.rs holds the reference's answers to the cases that once
# disagreed. Needs Java 17 and Maven (Maven Central) and Python 3.
#
# Usage: bench/peers/jolt-java/differential/run.sh
#   SWITCHBOARD_BIN  the binary to test (default: builds target/release/switchboard)
#   JDIFF_WORK       where cases and results go (default: ${TMPDIR:-/tmp}/switchboard-jolt-diff)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
export JDIFF_WORK="${JDIFF_WORK:-${TMPDIR:-/tmp}/switchboard-jolt-diff}"
if [[ -z "${SWITCHBOARD_BIN:-}" ]]; then
    echo "building switchboard (release) ..." >&2
    (cd "$root" && cargo build --release -q --bin switchboard)
    SWITCHBOARD_BIN="${CARGO_TARGET_DIR:-$root/target}/release/switchboard"
fi
export JDIFF_BIN="$SWITCHBOARD_BIN"
echo "building the reference's CLI (Maven, jolt-core) ..." >&2
(cd "$here/java" && mvn -q -B package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt >&2)
rm -rf "$JDIFF_WORK/cases" "$JDIFF_WORK/results"
mkdir -p "$JDIFF_WORK/cases"
for g in "$here"/gen/*.py; do
    [[ "$(basename "$g")" == common.py ]] || python3 "$g" >/dev/null
done
python3 "$here/driver.py" >&2
python3 "$here/classify.py"
