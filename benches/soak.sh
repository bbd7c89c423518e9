#!/usr/bin/env bash
# Soak: a bounded load on 127.0.0.1 mixing tiles, resolve, nearest and writes against one server
# for a fixed time; reports errors (must be 0), throughput, and the server's resident memory
# (RSS) at the start, every minute, and at the end.
#
# Usage: benches/soak.sh [MINUTES (default 5, at most 10)] [PORT]
# Uses the release build and a fresh store seeded with the Helsinki extract; wrk from Debian.
set -euo pipefail
MINUTES="${1:-5}"
PORT="${2:-18199}"
[ "$MINUTES" -ge 1 ] && [ "$MINUTES" -le 10 ] || { echo "MINUTES must be 1..10" >&2; exit 2; }
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk; }
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q --bin citytwin
BIN="$CARGO_TARGET_DIR/release/citytwin"
WORK="$(mktemp -d)"
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
STORE="$WORK/soak.gpkg"
CITYTWIN_LOG=warn "$BIN" --store "$STORE" import data/osm/helsinki.osm.pbf >/dev/null
TOKEN="$("$BIN" --store "$STORE" token create --role engineer --name soak 2>/dev/null)"
# The load is one client (one token): lift its per-client limits for this run.
CITYTWIN_LOG=warn CITYTWIN_LIMITS__RESOLVE_PER_MINUTE=100000000 CITYTWIN_LIMITS__WRITES_PER_MINUTE=100000000 \
  "$BIN" --store "$STORE" serve --bind "127.0.0.1:$PORT" --seed none >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 60); do curl -sf "localhost:$PORT/health" >/dev/null && break; sleep 0.5; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }

# The request mix, from the store's own objects: per pole, 4 tiles (z14-z17), an exact and a
# misheard resolve, a nearest, and a PATCH of its attributes (1 write in 8 requests).
curl -s -H "Authorization: Bearer $TOKEN" "localhost:$PORT/objects?layer=poles&limit=1000" | python3 -c '
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
echo "requests in the mix: $(wc -l < "$WORK/soak.requests") (1 write in 8); RSS at start: $(rss) kB"
( for m in $(seq 1 "$MINUTES"); do sleep 60; echo "RSS after $m min: $(rss) kB"; done ) &
SAMPLER=$!
SOAK_TOKEN="$TOKEN" SOAK_REQUESTS="$WORK/soak.requests" \
  wrk -t2 -c16 -d"${MINUTES}m" --latency -s benches/soak.lua "http://127.0.0.1:$PORT" | tee "$WORK/wrk.txt"
wait "$SAMPLER" 2>/dev/null || true
echo "RSS at end: $(rss) kB"
if grep -q "Non-2xx or 3xx responses" "$WORK/wrk.txt" || grep -q "Socket errors" "$WORK/wrk.txt"; then
  echo "*** errors during the soak" >&2
  exit 1
fi
kill -0 "$PID" && echo "server still up; 0 errors"
"$BIN" --store "$STORE" audit verify > "$WORK/verify.txt"
head -n 2 "$WORK/verify.txt"
