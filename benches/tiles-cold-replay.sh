#!/usr/bin/env bash
# One cold pass of the tile benchmark's list against a freshly started citytwin, with the
# server's own CPU time for the pass (from /proc/PID/stat): the quick check used between
# changes to the tile path. Needs the WORKDIR that `benches/tiles-vs-martin.sh WORKDIR` filled
# (the store, the lists, the wrk script and what citytwin answered there), and wrk. Optional:
# PERF=1 records a perf profile of the server during the pass into WORKDIR/perf-tiles.data.
#
# Usage: benches/tiles-cold-replay.sh WORKDIR [PORT]
#   env: LIST (all | equal | unequal: which of that run's tile lists, all), CONNS (that run's),
#        BIN (a citytwin binary to measure, e.g. a copy of the one before a change; default:
#        this checkout, built), PERF_CALLGRAPH (perf's call-graph option, -g)
# The run FAILS (exit 1) on any answer other than 200/204, any socket error, a response missing,
# or a number of 200 answers other than citytwin gave for the list in the tiles-vs-martin run.
set -euo pipefail
W="$(cd "${1:?usage: $0 WORKDIR [PORT]}" && pwd)"
PORT="${2:-18091}"
LIST="${LIST:-all}"
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
[ -f "$W/run.env" ] || { echo "*** $W/run.env missing: run benches/tiles-vs-martin.sh $W first" >&2; exit 2; }
ASKED_CONNS="${CONNS:-}"
# shellcheck disable=SC1091 # STORE, WIDTH, N, CONNS
. "$W/run.env"
CONNS="${ASKED_CONNS:-$CONNS}"
PATHS="$W/paths-citytwin-$LIST.txt"
[ -f "$PATHS" ] || { echo "*** no list $PATHS (LIST=all, equal or unequal)" >&2; exit 2; }
CMD="LIST=$LIST CONNS=$CONNS benches/tiles-cold-replay.sh $W"
if [ -n "${BIN:-}" ]; then
  CMD="BIN=$BIN $CMD"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
  cargo build --release --quiet --bin citytwin
  BIN="$CARGO_TARGET_DIR/release/citytwin"
fi
export CITYTWIN_SERIAL_WIDTH="$WIDTH" CITYTWIN_LOG=warn
TOKEN=$("$BIN" --store "$STORE" token create --role engineer --name cold-replay --expires-in 1d 2>/dev/null)
"$BIN" --store "$STORE" --config "$W/citytwin.toml" serve --bind "127.0.0.1:$PORT" --seed none \
  > "$W/cold-replay.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
wait_healthy "$PID" "http://127.0.0.1:$PORT" "$W/cold-replay.log" 6000
PP=""
if [ -n "${PERF:-}" ]; then
  perf record -F 1999 ${PERF_CALLGRAPH:--g} -p "$PID" -o "$W/perf-tiles.data" 2>/dev/null &
  PP=$!
  sleep 0.5
fi
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
rm -f "$W/wrk.done"
t0=$(cpu)
wrk -t"$CONNS" -c"$CONNS" -d3600s --timeout 300s -H 'Accept-Encoding: gzip' -H "Authorization: Bearer $TOKEN" \
  -s "$W/tiles.lua" "http://127.0.0.1:$PORT" -- "$PATHS" "$CONNS" 1 "$W/wrk.done" \
  /tiles/poles/16/0/0.mvt > "$W/cold-replay-wrk.log" 2>&1 || true
t1=$(cpu)
cpu_ms=$(((t1 - t0) * 1000 / $(getconf CLK_TCK)))
if [ -n "$PP" ]; then kill -INT "$PP"; wait "$PP" || true; fi
r=$(grep '^RESULT' "$W/cold-replay-wrk.log") || { cat "$W/cold-replay-wrk.log"; echo "*** wrk printed no result" >&2; exit 1; }
echo "$r"
echo "server CPU for the pass: $cpu_ms ms"
declare -A v
for kv in ${r#RESULT }; do v[${kv%%=*}]=${kv#*=}; done
want=$(wc -l < "$PATHS")
want200=$(awk 'FILENAME == ARGV[1] {t[$1] = 1; next} $1 == 200 {n = split($3, p, "/"); z = p[n-2] "/" p[n-1] "/" p[n]; sub(/\.mvt$/, "", z); if (z in t) c++}
  END {print c + 0}' "$W/tiles-$LIST.txt" "$W/content/citytwin.raw.txt")
[ "${v[responses]}" = "$want" ] || fail "${v[responses]} responses for $want tiles"
[ "${v[other]}" = 0 ] || fail "${v[other]} answers other than 200/204"
[ "${v[sockerr]}" = 0 ] || fail "${v[sockerr]} socket errors"
[ "${v[ok200]}" = "$want200" ] || fail "${v[ok200]} tiles answered 200, the tiles-vs-martin run had $want200 (tile count mismatch)"

summary_head tiles-cold-replay "$CMD"
echo "| tiles | connections | req/s | p50 | p99 | server CPU for the pass | 200 / 204 / other | socket errors |"
echo "|---|---|---|---|---|---|---|---|"
printf '| %s (%s) | %s | %.0f | %.2f ms | %.2f ms | %s ms | %s / %s / %s | %s |\n' "$want" "$LIST" "$CONNS" \
  "${v[rps]}" "${v[p50_ms]}" "${v[p99_ms]}" "$cpu_ms" "${v[ok200]}" "${v[ok204]}" "${v[other]}" "${v[sockerr]}"
finish
