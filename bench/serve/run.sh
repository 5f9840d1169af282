#!/usr/bin/env bash
# Issue 6's serve benchmark, one command: bench/serve/run.sh [--quick] [bench.py flags]
# Builds the gateway (release, its own target dir), installs kcat (Debian) if missing, checks the
# broker, then runs bench.py: broker ceiling, kcat pass-through, switchboard, latency at half rate.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}"
export BENCH_SERVE_DIR="${BENCH_SERVE_DIR:-$CACHE/bench-serve}"
mkdir -p "$BENCH_SERVE_DIR"

if [[ -z "${SWITCHBOARD_BIN:-}" ]]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target-bench}"
  echo "[bench] cargo build --release --bin switchboard (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)" >&2
  (cd "$ROOT" && cargo build --release --bin switchboard)
  SWITCHBOARD_BIN="$CARGO_TARGET_DIR/release/switchboard"
fi
if ! command -v kcat >/dev/null; then
  echo "[bench] installing kcat (Debian)" >&2
  apt-get update -qq && apt-get install -y -qq kcat >/dev/null
fi
command -v javac >/dev/null || { echo "[bench] needs a JDK (javac) for Topics.java" >&2; exit 2; }
if ! (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then
  echo "[bench] starting Kafka: scripts/services up kafka" >&2
  "$ROOT/scripts/services" up kafka
fi
exec python3 "$HERE/bench.py" --switchboard "$SWITCHBOARD_BIN" \
  --kafka-home "${KAFKA_HOME:-$CACHE/kafka-4.4.0}" "$@"
