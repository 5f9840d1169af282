#!/usr/bin/env bash
# Webhook delivery benchmark: the dispatcher's deliveries/s to a fast local sink against wrk's
# ceiling on the same sink, in the same run. Usage: crates/webhook/bench/run.sh [N] [CONNECTIONS] [SECONDS]
# Needs wrk (apt-get install -y wrk). Builds the examples with --release.
set -euo pipefail
N=${1:-50000}
CONNS=${2:-64}
SECS=${3:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target-webhook}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }
(cd "$ROOT" && cargo build --release -p switchboard-webhook --examples -q)
BIN="$CARGO_TARGET_DIR/release/examples"

ADDR_FILE=$(mktemp)
"$BIN/bench_sink" 0 >"$ADDR_FILE" &
SINK=$!
trap 'kill $SINK 2>/dev/null || true; rm -f "$ADDR_FILE"' EXIT
for _ in $(seq 50); do [ -s "$ADDR_FILE" ] && break; sleep 0.1; done
URL="http://$(head -1 "$ADDR_FILE")/hook"
echo "sink: $URL  body: 1 KiB  connections: $CONNS"

WRK_OUT=$(wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$HERE/post.lua" "$URL")
CEILING=$(echo "$WRK_OUT" | awk '/Requests\/sec/ {print $2}')
echo "wrk ceiling:            $CEILING req/s"

RAW=$(BENCH_RAW_REQWEST=1 "$BIN/bench_deliver" "$URL" "$N" "$CONNS" | awk '/raw_reqwest_per_sec/ {print $2}')
echo "bare reqwest client:    $RAW req/s (no outbox, no signing: the HTTP client's own share)"

DELIVER_OUT=$("$BIN/bench_deliver" "$URL" "$N" "$CONNS")
echo "$DELIVER_OUT" | sed 's/^/  /'
RATE=$(echo "$DELIVER_OUT" | awk '/deliveries_per_sec/ {print $2}')
echo "dispatcher deliveries:  $RATE /s (outbox fsync'd, signed)"
awk -v r="$RATE" -v c="$CEILING" 'BEGIN { printf "ratio:                  %.0f%% of the wrk ceiling (goal >= 60%%)\n", 100 * r / c }'
