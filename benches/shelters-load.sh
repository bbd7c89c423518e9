#!/usr/bin/env bash
# /shelters/nearest under load over HTTP on 127.0.0.1, on a generated city of EDGES street
# pieces (default 100,000) and SHELTERS shelters (3,000): 1 connection for latency (target p99
# < 20 ms), then 16 connections for throughput, each next to /health (the server's floor) in
# the same run, with wrk (Debian). Positions are 2,000 random points of the grid, asked in turn
# (k=3, and k=3 step-free with open_now), so no answer is the same as the one before.
#
# Usage: benches/shelters-load.sh [WORKDIR]   env: EDGES, SHELTERS, DURATION (10 s), PORT
# The run FAILS (exit 1) on any answer that is not 200, any socket error, any answer that
# routes no shelter, or when the store does not hold EDGES ways and SHELTERS shelters.
set -euo pipefail
W="${1:-/tmp/citytwin-shelters-bench}"
EDGES="${EDGES:-100000}"
SHELTERS="${SHELTERS:-3000}"
DURATION="${DURATION:-10}"
PORT="${PORT:-18299}"
LIMIT=100000000
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk; }
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
CMD="benches/shelters-load.sh $W"
[ "$EDGES" = 100000 ] && [ "$SHELTERS" = 3000 ] || CMD="EDGES=$EDGES SHELTERS=$SHELTERS $CMD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q --bin citytwin
BIN="$CARGO_TARGET_DIR/release/citytwin"
mkdir -p "$W"
CITY="$W/walk-$EDGES-$SHELTERS"
STORE="$CITY/store.gpkg"
if [ ! -f "$STORE" ]; then
  echo "== generating and importing $EDGES street pieces and $SHELTERS shelters"
  "$BIN" generate-walk --edges "$EDGES" --shelters "$SHELTERS" --out "$CITY"
  "$BIN" --store "$STORE.tmp" import --layer streets "$CITY/streets.geojson" >/dev/null
  "$BIN" --store "$STORE.tmp" import --layer shelters "$CITY/shelters.geojson" >/dev/null
  mv "$STORE.tmp" "$STORE"; rm -f "$STORE.tmp-wal" "$STORE.tmp-shm"
fi
WORK="$(mktemp -d)"
CITYTWIN_LOG=citytwin=info CITYTWIN_LIMITS__RESOLVE_PER_MINUTE="$LIMIT" \
  "$BIN" --store "$STORE" serve --bind "127.0.0.1:$PORT" --seed none >"$WORK/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
URL="http://127.0.0.1:$PORT"
wait_healthy "$PID" "$URL" "$WORK/server.log"
ways=$(curl -sf "$URL/layers" | python3 -c 'import json,sys; print({l["name"]: l["count"] for l in json.load(sys.stdin)}.get("streets", 0))')
sheltered=$(curl -sf "$URL/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["shelters"]["total"])')
[ "$ways" = "$EDGES" ] || fail "the store holds $ways ways, not $EDGES"
[ "$sheltered" = "$SHELTERS" ] || fail "the store holds $sheltered shelters, not $SHELTERS"
# The walking graph is built by the first question (and timed by the server's log).
curl -sf -o /dev/null "$URL/shelters/nearest?lat=47.8388&lon=35.1396"
GRAPH=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/server.log" \
  | grep -o 'nodes=[0-9]* edges=[0-9]* shelters=[0-9]* ms=[0-9]*' | tail -1 || true)
[ -n "$GRAPH" ] || fail "the server did not log its walking graph"
echo "walking graph: $GRAPH"
# Random positions within the grid.
python3 - "$CITY/shelters.geojson" "$WORK" <<'PY'
import json, random, sys
random.seed(7)
pts = [f["geometry"]["coordinates"] for f in json.load(open(sys.argv[1]))["features"]]
lo = [min(p[0] for p in pts), min(p[1] for p in pts)]
hi = [max(p[0] for p in pts), max(p[1] for p in pts)]
for name, extra in (("walk", "&k=3"), ("stepfree", "&k=3&accessible=true&open_now=true")):
    with open(f"{sys.argv[2]}/{name}.paths", "w") as out:
        for _ in range(2000):
            lon = random.uniform(lo[0], hi[0]); lat = random.uniform(lo[1], hi[1])
            out.write(f"/shelters/nearest?lat={lat:.6f}&lon={lon:.6f}{extra}\n")
with open(f"{sys.argv[2]}/health.paths", "w") as out:
    out.write("/health\n")
PY
# Every question of the lists answers 200 with walked shelters before any load.
checked=0
while read -r u; do
  code=$(curl -s -o "$WORK/answer" -w '%{http_code}' "$URL$u")
  [ "$code" = 200 ] || { fail "$u answered $code: $(head -c 200 "$WORK/answer")"; break; }
  python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); sys.exit(0 if a["shelters"] and a["shelters"][0]["routing"] == "walking" else 1)' "$WORK/answer" \
    || { fail "$u routed no shelter: $(head -c 300 "$WORK/answer")"; break; }
  checked=$((checked + 1))
done < <(head -n 50 "$WORK/walk.paths"; head -n 50 "$WORK/stepfree.paths")
echo "checked $checked questions before the load: each answered 200 with a walked route"
NAMES=('`/health` (floor)' '`/shelters/nearest` k=3' '`/shelters/nearest` k=3 step-free, open now')
LISTS=(health walk stepfree)
load_lists "$URL" "$WORK" benches/paths.lua "$DURATION" "${LISTS[@]}"

summary_head shelters-load "$CMD"
echo "Generated city: $EDGES street pieces, $SHELTERS shelters; walking graph $GRAPH (built at the first question); 2,000 random positions per route, asked in turn; wrk on the same machine, $DURATION s per route and run. Target: p99 < 20 ms at 1 connection."
echo
load_table "${NAMES[@]}"
finish
