#!/usr/bin/env bash
# Webhook delivery benchmark: the dispatcher's deliveries/s to a fast local sink against the
# ceilings of two plain HTTP load generators on the same sink, in the same run: wrk (C) and oha
# (Rust, hyper). Usage: crates/webhook/bench/run.sh [N] [CONNECTIONS] [SECONDS] [ROUNDS]
# Each round measures everything once, back to back (wrk, oha, the bare clients, the dispatcher),
# and the ratios are taken within a round: this VM's speed drifts by a third within minutes (the
# host steals CPU), so a ceiling measured minutes away from the dispatcher says little. The
# summary is the median of the rounds' ratios.
# Needs wrk (apt-get install -y wrk). Uses oha from PATH or ~/.cache/oha/bin, and installs it there
# with `cargo install oha` (about 7 minutes, once) if it is in neither. Builds the examples with
# --release.
set -euo pipefail
N=${1:-50000}
CONNS=${2:-64}
SECS=${3:-5}
ROUNDS=${4:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target-webhook}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }
OHA=$(command -v oha || echo "$HOME/.cache/oha/bin/oha")
if [ ! -x "$OHA" ]; then
  echo "installing oha into ~/.cache/oha (once)" >&2
  cargo install oha --locked --root "$HOME/.cache/oha" -q
fi
(cd "$ROOT" && cargo build --release -p switchboard-webhook --examples -q)
BIN="$CARGO_TARGET_DIR/release/examples"

ADDR_FILE=$(mktemp)
"$BIN/bench_sink" 0 >"$ADDR_FILE" &
SINK=$!
BODY_FILE=$(mktemp)
trap 'kill $SINK 2>/dev/null || true; rm -f "$ADDR_FILE" "$BODY_FILE"' EXIT
# The body post.lua sends (1 KiB less its framing), for oha.
printf '{"eventId":"evt-00000000","eventType":"bench","pad":"%s"}' "$(head -c 964 /dev/zero | tr '\0' x)" >"$BODY_FILE"
for _ in $(seq 50); do [ -s "$ADDR_FILE" ] && break; sleep 0.1; done
URL="http://$(head -1 "$ADDR_FILE")/hook"
echo "sink: $URL  body: 1 KiB  connections: $CONNS"

RESULTS=$(mktemp)
trap 'kill $SINK 2>/dev/null || true; rm -f "$ADDR_FILE" "$BODY_FILE" "$RESULTS"' EXIT
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS"
  WRK=$(wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$HERE/post.lua" "$URL" | awk '/Requests\/sec/ {printf "%d", $2}')
  echo "  wrk ceiling:            $WRK req/s"
  OHA_RATE=$("$OHA" -z "${SECS}s" -c "$CONNS" -m POST -D "$BODY_FILE" -H "content-type: application/json" \
    --no-tui --output-format json "$URL" | python3 -c 'import json, sys; print(round(json.load(sys.stdin)["summary"]["requestsPerSec"]))')
  echo "  oha ceiling:            $OHA_RATE req/s"
  RAW_HYPER=$(BENCH_RAW_HYPER=1 "$BIN/bench_deliver" "$URL" "$N" "$CONNS" | awk '/raw_hyper_per_sec/ {print $2}')
  echo "  bare hyper-util client: $RAW_HYPER req/s (the dispatcher's client, no outbox, no signing)"
  RAW=$(BENCH_RAW_REQWEST=1 "$BIN/bench_deliver" "$URL" "$N" "$CONNS" | awk '/raw_reqwest_per_sec/ {print $2}')
  echo "  bare reqwest client:    $RAW req/s (the client the dispatcher used before src/client.rs)"
  DELIVER_OUT=$("$BIN/bench_deliver" "$URL" "$N" "$CONNS")
  echo "$DELIVER_OUT" | sed 's/^/    /'
  RATE=$(echo "$DELIVER_OUT" | awk '/deliveries_per_sec/ {print $2}')
  echo "  dispatcher deliveries:  $RATE /s (outbox fsync'd, signed)"
  echo "$WRK $OHA_RATE $RAW_HYPER $RAW $RATE" >>"$RESULTS"
done
echo
echo "| round | wrk | oha | bare hyper-util | bare reqwest | dispatcher | / wrk | / oha |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
awk '{ printf "| %d | %d | %d | %d | %d | %d | %.0f%% | %.0f%% |\n", NR, $1, $2, $3, $4, $5, 100 * $5 / $1, 100 * $5 / $2 }' "$RESULTS"
awk '{ print 100 * $5 / $1, 100 * $5 / $2 }' "$RESULTS" | python3 -c '
import statistics, sys
rows = [tuple(map(float, line.split())) for line in sys.stdin if line.strip()]
print("median ratio: %.0f%% of the wrk ceiling, %.0f%% of the oha ceiling (goal >= 60%%)"
      % (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)))'
