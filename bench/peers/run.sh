#!/usr/bin/env bash
# Peer benchmark: switchboard vs Quamina vs AWS Event Ruler on identical rule sets and events.
#
#   bench/peers/run.sh [--quick] [--rules 100,1000,...] [--events N] [--runs N]
#                      [--engines quamina,event-ruler,switchboard,switchboard-eb,reference]
#                      [--cpu N] [--no-build-switchboard] [--max-run-seconds S] [--common]
#                      [--results DIR]
#
# Builds the drivers, generates (once, cached) the rule sets and events, runs every engine on
# one core, prints the table and checks that all engines return the same matches. Exits 1 on any
# disagreement or engine failure. --common runs the rule sets without numeric conditions (the
# subset Quamina can express), so that every engine gets exactly the same rules.
# See bench/peers/README.md.
#
# Environment: BENCH_PEERS_DIR (cache/results, default ~/.cache/switchboard/bench-peers),
# SWITCHBOARD_BIN (use this binary instead of building), CARGO_TARGET_DIR (default
# ~/.cache/switchboard/target-peers), QUAMINA_VERSION (default from quamina/go.mod).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${BENCH_PEERS_DIR:-$HOME/.cache/switchboard/bench-peers}"
MODE=full
RULES=100,1000,10000,100000
EVENTS=100000
RUNS=5
MAX_RUN=10
WARMUP=10
CHECK=0
ENGINES=quamina,event-ruler,switchboard,switchboard-eb,reference
CPU="${BENCH_CPU:-1}"
BUILD_SB=1
SEED=4
SUBSET=all
RES_OVERRIDE=""

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick; RULES=100,1000; EVENTS=5000; RUNS=3; MAX_RUN=3; WARMUP=3 ;;
    --rules) RULES="$2"; shift ;;
    --events) EVENTS="$2"; shift ;;
    --runs) RUNS="$2"; shift ;;
    --engines) ENGINES="$2"; shift ;;
    --cpu) CPU="$2"; shift ;;
    --max-run-seconds) MAX_RUN="$2"; shift ;;
    --check-events) CHECK="$2"; shift ;;
    --seed) SEED="$2"; shift ;;
    --no-build-switchboard) BUILD_SB=0 ;;
    --common) SUBSET=common ;;
    --results) RES_OVERRIDE="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
case ",$ENGINES," in *,switchboard,*|*,switchboard-eb,*) ;; *) BUILD_SB=0 ;; esac

DATA="$CACHE/data"
RES="$CACHE/results-$MODE"
if [ "$SUBSET" = common ]; then RES="$RES-common"; fi
if [ -n "$RES_OVERRIDE" ]; then RES="$RES_OVERRIDE"; fi
BIN="$CACHE/bin"
mkdir -p "$DATA" "$RES" "$BIN"
say() { printf '[peers %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ---- data ------------------------------------------------------------------------------------
say "generating rule sets ($RULES) and $EVENTS events into $DATA (cached)"
python3 "$HERE/gen/generate.py" --out "$DATA" --seed "$SEED" --events "$EVENTS" --rules "$RULES"

# ---- Quamina (Go module proxy) -----------------------------------------------------------------
Q_BIN=""; Q_WHY=""
if [[ ",$ENGINES," == *,quamina,* ]]; then
  say "building the Quamina driver"
  if (cd "$HERE/quamina" && GOFLAGS=-mod=mod go build -o "$BIN/quamina-driver" . ) >"$RES/quamina-build.log" 2>&1; then
    Q_BIN="$BIN/quamina-driver"
  else
    if grep -q '403 Forbidden' "$RES/quamina-build.log"; then
      Q_WHY="the Go module proxy refuses github.com/timbray/quamina (403 Forbidden); see $RES/quamina-build.log"
    else
      Q_WHY="Quamina driver did not build: $(grep -m1 -E 'error|cannot|go:' "$RES/quamina-build.log" | head -c 200)"
    fi
    say "Quamina: $Q_WHY"
  fi
fi

# ---- Event Ruler (Maven Central) ---------------------------------------------------------------
ER_CP=""; ER_WHY=""
if [[ ",$ENGINES," == *,event-ruler,* ]]; then
  say "building the Event Ruler driver"
  if (cd "$HERE/event-ruler" && { mvn -q -B -o package -DskipTests || mvn -q -B package -DskipTests; }) >"$RES/event-ruler-build.log" 2>&1; then
    ER_CP="$HERE/event-ruler/target/event-ruler-driver-0.1.0.jar:$(ls "$HERE"/event-ruler/target/lib/*.jar | tr '\n' ':')"
  else
    ER_WHY="maven build failed: $(grep -m1 ERROR "$RES/event-ruler-build.log" | head -c 200)"
    say "Event Ruler: $ER_WHY"
  fi
fi

# ---- switchboard (release build) ---------------------------------------------------------------
SB_BIN=""; SB_WHY=""
if [[ ",$ENGINES," == *,switchboard,* || ",$ENGINES," == *,switchboard-eb,* ]]; then
  if [ -n "${SWITCHBOARD_BIN:-}" ]; then
    SB_BIN="$SWITCHBOARD_BIN"
  else
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target-peers}"
    SB_BIN="$CARGO_TARGET_DIR/release/switchboard"
    if [ "$BUILD_SB" = 1 ]; then
      say "building switchboard (cargo build --release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
      if ! (cd "$ROOT" && nice cargo build --release --bin switchboard) >"$RES/switchboard-build.log" 2>&1; then
        SB_WHY="cargo build --release failed: $(grep -m1 -E '^error' "$RES/switchboard-build.log" | head -c 200)"
        SB_BIN=""
      fi
    fi
    if [ -z "$SB_WHY" ] && [ ! -x "$SB_BIN" ]; then SB_WHY="no release binary at $SB_BIN"; SB_BIN=""; fi
  fi
  if [ -n "$SB_WHY" ]; then say "switchboard: $SB_WHY"; fi
fi

# ---- run ---------------------------------------------------------------------------------------
say "running ($MODE): rules $RULES, $EVENTS events, $RUNS runs, cpu $CPU; results in $RES"
set +e
python3 "$HERE/harness.py" --data "$DATA" --out "$RES" --rules "$RULES" --events "$EVENTS" \
  --runs "$RUNS" --max-run-seconds "$MAX_RUN" --warmup-seconds "$WARMUP" --check-events "$CHECK" \
  --engines "$ENGINES" --cpu "$CPU" --subset "$SUBSET" \
  --quamina-bin "$Q_BIN" --quamina-unavailable "$Q_WHY" \
  --er-classpath "$ER_CP" --er-unavailable "$ER_WHY" \
  --switchboard-bin "$SB_BIN" --switchboard-unavailable "$SB_WHY"
rc=$?
say "table: $RES/table.md, raw results: $RES/results.json"
exit $rc
