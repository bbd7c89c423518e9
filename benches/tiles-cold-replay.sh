#!/usr/bin/env bash
# One cold pass of the tile benchmark's list against a freshly started citytwin, with the
# server's own CPU time for the pass (from /proc/PID/stat): the quick check used between
# changes to the tile path. Needs the WORKDIR that `benches/tiles-vs-martin.sh WORKDIR` filled
# (the store, the list and the wrk script), and wrk. Optional: PERF=1 records a perf profile of
# the server during the pass into WORKDIR/perf-tiles.data.
#
# Usage: benches/tiles-cold-replay.sh WORKDIR [PORT]
set -euo pipefail
W="$(cd "${1:?usage: $0 WORKDIR [PORT]}" && pwd)"
PORT="${2:-18091}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/citytwin"
STORE=$(ls "$W"/store-*.gpkg | head -1)
export CITYTWIN_SERIAL_WIDTH=7 CITYTWIN_LOG=warn
TOKEN=$("$BIN" --store "$STORE" token create --role engineer --name cold-replay --expires-in 1d 2>/dev/null)
"$BIN" --store "$STORE" --config "$W/citytwin.toml" serve --bind "127.0.0.1:$PORT" --seed none \
  > "$W/cold-replay.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
until curl -fs -o /dev/null "http://127.0.0.1:$PORT/health"; do sleep 0.1; done
PP=""
if [ -n "${PERF:-}" ]; then
  perf record -F 1999 -g -p "$PID" -o "$W/perf-tiles.data" 2>/dev/null &
  PP=$!
  sleep 0.5
fi
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
rm -f "$W/wrk.done"
t0=$(cpu)
wrk -t8 -c8 -d3600s --timeout 300s -H 'Accept-Encoding: gzip' -H "Authorization: Bearer $TOKEN" \
  -s "$W/tiles.lua" "http://127.0.0.1:$PORT" -- "$W/paths-citytwin.txt" 8 1 "$W/wrk.done" \
  /tiles/poles/16/0/0.mvt | grep '^RESULT'
t1=$(cpu)
echo "server CPU for the pass: $(( (t1 - t0) * 1000 / $(getconf CLK_TCK) )) ms"
if [ -n "$PP" ]; then kill -INT "$PP"; wait "$PP" || true; fi
