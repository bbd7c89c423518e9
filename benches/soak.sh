#!/usr/bin/env bash
# Soak: a bounded load on 127.0.0.1 mixing tiles, resolve, nearest and writes against one server
# for a fixed time; reports errors (must be 0), throughput, and the server's resident memory
# (RSS) at the start, every minute, and at the end; then checks the history chain.
#
# Usage: benches/soak.sh [MINUTES (default 5, at most 10)] [PORT]
#   env: LIMIT_PER_MINUTE (100000000: the per-client limits during the run, below)
# Uses the release build and a fresh store seeded with the Helsinki extract; wrk from Debian.
# The load is one client (one token): its per-client limits are lifted for the run with
# CITYTWIN_LIMITS__RESOLVE_PER_MINUTE and CITYTWIN_LIMITS__WRITES_PER_MINUTE. The run FAILS
# (exit 1) on any answer that is not 2xx (counted by benches/soak.lua), any socket error, a
# server that stopped, or a history chain that does not verify.
set -euo pipefail
MINUTES="${1:-5}"
PORT="${2:-18199}"
LIMIT="${LIMIT_PER_MINUTE:-100000000}"
[ "$MINUTES" -ge 1 ] && [ "$MINUTES" -le 10 ] || { echo "MINUTES must be 1..10" >&2; exit 2; }
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk; }
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
CMD="benches/soak.sh $MINUTES"
[ "$LIMIT" = 100000000 ] || CMD="LIMIT_PER_MINUTE=$LIMIT $CMD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q --bin citytwin
BIN="$CARGO_TARGET_DIR/release/citytwin"
WORK="$(mktemp -d)"
PID=""
trap 'if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
STORE="$WORK/soak.gpkg"
CITYTWIN_LOG=warn "$BIN" --store "$STORE" import data/osm/helsinki.osm.pbf >/dev/null
TOKEN="$("$BIN" --store "$STORE" token create --role engineer --name soak 2>/dev/null)"
CITYTWIN_LOG=warn CITYTWIN_LIMITS__RESOLVE_PER_MINUTE="$LIMIT" CITYTWIN_LIMITS__WRITES_PER_MINUTE="$LIMIT" \
  "$BIN" --store "$STORE" serve --bind "127.0.0.1:$PORT" --seed none >"$WORK/server.log" 2>&1 &
PID=$!
wait_healthy "$PID" "http://127.0.0.1:$PORT" "$WORK/server.log" 600
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0; }
changes() { sqlite3 "$STORE" "SELECT count(*) FROM citytwin_history" 2>/dev/null || echo "?"; }

# The request mix, from the store's own objects: per pole, 4 tiles (z14-z17), an exact and a
# misheard resolve, a nearest, and a PATCH of its attributes (1 write in 8 requests).
curl -sf -H "Authorization: Bearer $TOKEN" "localhost:$PORT/objects?layer=poles&limit=1000" | python3 -c '
import json, math, sys
fs = json.load(sys.stdin)["features"]
def tile(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    r = math.radians(lat)
    y = int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
    return x, y
for i, f in enumerate(fs):
    lon, lat = f["geometry"]["coordinates"]
    num = f["properties"]["number_latin"]
    for z in (14, 15, 16, 17):
        x, y = tile(lon, lat, z)
        print(f"GET\t/tiles/poles,manholes,cameras/{z}/{x}/{y}.mvt\t")
    print(f"GET\t/resolve?q={num}\t")
    wrong = num[:-3] + ("1" if num[-3] != "1" else "2") + num[-2:]
    print(f"GET\t/resolve?q={wrong}&near={lat},{lon}\t")
    print(f"GET\t/nearest?lat={lat}&lon={lon}&k=5\t")
    print(f"PATCH\t/objects/{num}\t" + "{\"attributes\": {\"soak\": %d}}")
' > "$WORK/soak.requests"
POLES=$(($(wc -l < "$WORK/soak.requests") / 8))
[ "$POLES" -gt 0 ] || { echo "*** no poles in the store: no request mix" >&2; exit 1; }
CHANGES0=$(changes)
RSS0=$(rss)
echo "requests in the mix: $(wc -l < "$WORK/soak.requests") from $POLES poles (1 write in 8); RSS at start: $RSS0 kB"
( for m in $(seq 1 "$MINUTES"); do sleep 60; rss >> "$WORK/rss.txt"; echo "RSS after $m min: $(rss) kB"; done ) &
SAMPLER=$!
SOAK_TOKEN="$TOKEN" SOAK_REQUESTS="$WORK/soak.requests" \
  wrk -t2 -c16 -d"${MINUTES}m" --latency -s benches/soak.lua "http://127.0.0.1:$PORT" | tee "$WORK/wrk.txt"
wait "$SAMPLER" 2>/dev/null || true
RSS1=$(rss)
echo "RSS at end: $RSS1 kB"
read -r rps p50 p99 req bad sock < <(wrk_stats "$WORK/wrk.txt")
not2xx=$(sed -n 's/^SOAK not_2xx=//p' "$WORK/wrk.txt")
[ -n "$not2xx" ] || fail "benches/soak.lua printed no count of answers (wrk failed?)"
[ "${not2xx:-1}" = 0 ] || fail "$not2xx of $req answers were not 2xx"
[ "$bad" = 0 ] || fail "wrk counted $bad answers with status >= 400"
[ "$sock" = 0 ] || fail "$sock socket errors"
[ "$req" != 0 ] || fail "no request done"
if kill -0 "$PID" 2>/dev/null; then echo "server still up"; else fail "the server stopped during the soak"; fi
CHANGES1=$(changes)
if "$BIN" --store "$STORE" audit verify > "$WORK/verify.txt" 2>&1; then
  chain="verified"
else
  chain="FAILED"
  fail "audit verify: $(head -n 3 "$WORK/verify.txt" | tr '\n' ' ')"
fi
head -n 2 "$WORK/verify.txt"

summary_head soak "$CMD"
echo "Helsinki store, one engineer token (per-client limits $LIMIT a minute), wrk 2 threads × 16 connections; the mix per pole of $POLES: 4 tiles (z14–z17), 2 resolves, 1 nearest, 1 PATCH."
echo
echo "| minutes | requests | req/s | p50 | p99 | not 2xx | socket errors | changes committed | chain | RSS start → per minute → end |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n' "$MINUTES" "$req" "$rps" "$p50" "$p99" \
  "${not2xx:-?}" "$sock" "$(echo "$CHANGES1 - $CHANGES0" | bc 2>/dev/null || echo ?)" "$chain" \
  "$(awk -v a="$RSS0" -v b="$RSS1" '{s = s " → " sprintf("%.1f", $1 / 1024)} END {printf "%.1f%s → %.1f MiB", a / 1024, s, b / 1024}' "$WORK/rss.txt" 2>/dev/null)"
finish
