#!/usr/bin/env bash
# Fibre traces under load over HTTP on 127.0.0.1, on a generated city network of SPANS cables
# (default 100,000; `citytwin generate-fibre`: wells on a 150 m grid, a random spanning tree plus
# 5% more cables closing rings, the middle well the core): /fibre/path between 2,000 random pairs
# of wells and /fibre/isolate of 2,000 random spans, asked in turn, at 1 connection (latency,
# target p99 < 20 ms) and 16, next to /health (the server's floor) in the same run, with wrk;
# then /fibre/bridges over the whole network (every bridge, articulation node and each well's
# redundancy, target < 1 s), timed by curl five times. The in-process comparison with
# petgraph is `cargo bench --bench fibre`.
#
# Usage: benches/fibre-load.sh [WORKDIR]   env: SPANS, DURATION (8 s), PORT
# The run FAILS (exit 1) on any answer that is not 200, any socket error, or a store that does
# not hold the generated network.
set -euo pipefail
W="${1:-/tmp/citytwin-fibre-bench}"
SPANS="${SPANS:-100000}"
DURATION="${DURATION:-8}"
PORT="${PORT:-18399}"
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk; }
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
CMD="benches/fibre-load.sh $W"
[ "$SPANS" = 100000 ] || CMD="SPANS=$SPANS $CMD"
[ "$DURATION" = 8 ] || CMD="DURATION=$DURATION $CMD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q --bin citytwin
BIN="$CARGO_TARGET_DIR/release/citytwin"
NET="$W/fibre-$SPANS"
STORE="$NET/store.gpkg"
mkdir -p "$NET"
if [ ! -f "$STORE" ]; then
  echo "== generating and importing about $SPANS spans"
  "$BIN" generate-fibre --spans "$SPANS" --out "$NET" > "$NET/stats.json"
  "$BIN" --store "$STORE.tmp" import --layer fibre_nodes "$NET/nodes.geojson" >/dev/null
  "$BIN" --store "$STORE.tmp" import --layer fibre_spans "$NET/spans.geojson" >/dev/null
  mv "$STORE.tmp" "$STORE"; rm -f "$STORE.tmp-wal" "$STORE.tmp-shm"
fi
read -r NODES CABLES CORE < <(jq -r '"\(.nodes) \(.spans) \(.centre)"' "$NET/stats.json")
TOKEN=$("$BIN" --store "$STORE" token create --role engineer --name "fibre-bench-$$" | tail -1)
WORK="$(mktemp -d)"
CITYTWIN_LOG=warn CITYTWIN_FIBRE__CORE="[\"$CORE\"]" CITYTWIN_LIMITS__RESOLVE_PER_MINUTE=100000000 \
  "$BIN" --store "$STORE" serve --bind "127.0.0.1:$PORT" --seed none >"$WORK/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
URL="http://127.0.0.1:$PORT"
wait_healthy "$PID" "$URL" "$WORK/server.log"
AUTH="Authorization: Bearer $TOKEN"
counts=$(curl -sf -H "$AUTH" "$URL/layers" | jq -r 'map({(.name): .count}) | add | "\(.fibre_nodes) \(.fibre_spans)"')
[ "$counts" = "$NODES $CABLES" ] || fail "the store holds $counts fibre nodes and spans, not $NODES $CABLES"
python3 - "$NODES" "$CABLES" "$WORK" <<'PY'
import random, sys
nodes, spans, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
random.seed(11)
with open(f"{work}/path.paths", "w") as out:
    for _ in range(2000):
        out.write(f"/fibre/path?from=w{random.randrange(nodes)}&to=w{random.randrange(nodes)}\n")
with open(f"{work}/isolate.paths", "w") as out:
    for _ in range(2000):
        out.write(f"/fibre/isolate?span=c{random.randrange(spans)}\n")
with open(f"{work}/health.paths", "w") as out:
    out.write("/health\n")
PY
# The graph is built by the first question; then /fibre/bridges over the whole network.
curl -sf -H "$AUTH" -o "$WORK/bridges.json" "$URL/fibre/bridges" || fail "/fibre/bridges failed"
read -r BR AP SHARE < <(jq -r '"\(.bridges | length) \(.articulation | length) \(.redundant_share)"' "$WORK/bridges.json")
BRIDGE_S=()
for _ in 1 2 3 4 5; do
  BRIDGE_S+=("$(curl -s -H "$AUTH" -o /dev/null -w '%{http_code} %{time_total}' "$URL/fibre/bridges")")
done
for t in "${BRIDGE_S[@]}"; do [ "${t%% *}" = 200 ] || fail "/fibre/bridges answered ${t%% *}"; done
BRIDGE_MAX=$(printf '%s\n' "${BRIDGE_S[@]}" | awk '{print $2}' | sort -n | tail -1)
echo "bridges: $BR, articulation nodes: $AP, redundant share $SHARE; /fibre/bridges slowest of 5: ${BRIDGE_MAX} s"
# Every question answers 200 (a path may not exist: 404 counts as an error and fails the run).
checked=0
while read -r u; do
  code=$(curl -s -H "$AUTH" -o "$WORK/answer" -w '%{http_code}' "$URL$u")
  [ "$code" = 200 ] || { fail "$u answered $code: $(head -c 200 "$WORK/answer")"; break; }
  checked=$((checked + 1))
done < <(head -n 30 "$WORK/path.paths"; head -n 30 "$WORK/isolate.paths")
echo "checked $checked questions before the load"
LISTS=(health path isolate)
NAMES=('`/health` (floor)' '`/fibre/path` random wells' '`/fibre/isolate` one random span')
cat > "$WORK/auth.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
cat "$WORK/auth.lua" benches/paths.lua > "$WORK/paths-auth.lua"
load_lists "$URL" "$WORK" "$WORK/paths-auth.lua" "$DURATION" "${LISTS[@]}"

summary_head fibre-load "$CMD"
echo "Generated network: $NODES wells, $CABLES spans (core $CORE); $BR bridges, $AP articulation nodes, redundant share $SHARE. \`/fibre/bridges\` over the whole network (every bridge, articulation node and well's redundancy, as JSON): slowest of 5 **${BRIDGE_MAX} s** (target < 1 s). 2,000 questions per route asked in turn; wrk on the same machine, $DURATION s per route and run. Target: p99 < 20 ms at 1 connection."
echo
load_table "${NAMES[@]}"
finish
