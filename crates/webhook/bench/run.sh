#!/usr/bin/env bash
# Webhook delivery benchmark: the dispatcher's deliveries/s to a fast local sink against the
# ceilings of two plain HTTP load generators on the same sink, in the same run: wrk (C) and oha
# (Rust, hyper). Usage: crates/webhook/bench/run.sh [N] [CONNECTIONS] [SECONDS]
# Needs wrk (apt-get install -y wrk). Uses oha from PATH or ~/.cache/oha/bin, and installs it there
# with `cargo install oha` (about 7 minutes, once) if it is in neither. Builds the examples with
# --release.
set -euo pipefail
N=${1:-50000}
CONNS=${2:-64}
SECS=${3:-10}
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

WRK_OUT=$(wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$HERE/post.lua" "$URL")
CEILING=$(echo "$WRK_OUT" | awk '/Requests\/sec/ {print $2}')
echo "wrk ceiling:            $CEILING req/s"

OHA_CEILING=$("$OHA" -z "${SECS}s" -c "$CONNS" -m POST -D "$BODY_FILE" -H "content-type: application/json" \
  --no-tui --output-format json "$URL" | python3 -c 'import json, sys; print(round(json.load(sys.stdin)["summary"]["requestsPerSec"]))')
echo "oha ceiling:            $OHA_CEILING req/s"

RAW=$(BENCH_RAW_REQWEST=1 "$BIN/bench_deliver" "$URL" "$N" "$CONNS" | awk '/raw_reqwest_per_sec/ {print $2}')
echo "bare reqwest client:    $RAW req/s (no outbox, no signing: the HTTP client's own share)"

DELIVER_OUT=$("$BIN/bench_deliver" "$URL" "$N" "$CONNS")
echo "$DELIVER_OUT" | sed 's/^/  /'
RATE=$(echo "$DELIVER_OUT" | awk '/deliveries_per_sec/ {print $2}')
echo "dispatcher deliveries:  $RATE /s (outbox fsync'd, signed)"
awk -v r="$RATE" -v c="$CEILING" -v o="$OHA_CEILING" 'BEGIN { printf "ratio:                  %.0f%% of the wrk ceiling, %.0f%% of the oha ceiling (goal >= 60%%)\n", 100 * r / c, 100 * r / o }'
