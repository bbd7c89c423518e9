#!/usr/bin/env bash
# What a big polygon layer costs citytwin's memory, against what it costs PostGIS — the figures
# behind the decision on a layer "too big for memory" tiled by PostGIS instead (issue 22,
# point 6; docs/benchmarks.md says what was decided and why).
#
# The layer: the buildings citytwin imports from Helsinki's OSM extract (data/osm), laid
# GRID x GRID times side by side (benches/lib.sh basemap_store: every shape real, the extent
# synthetic). Measured:
# - citytwin's memory: the RSS of a ready server on the buildings minus that of a server on an
#   empty store, per building; again after every z12 and z14 tile of the grid was asked once
#   (what tiling adds: per-zoom shapes, the tile cache);
# - PostGIS's: the same buildings moved in by `citytwin migrate` — the table with its GiST and
#   key indexes, per building (on disk; PostgreSQL reads it through its buffers and the OS's
#   page cache);
# - from those: how many buildings this machine's memory holds in citytwin.
#
# Usage: benches/big-layer.sh WORKDIR
#   env: GRID (32), PGURL (postgresql://postgres@127.0.0.1:5432), DB (citytwin_big).
# The run FAILS (exit 1) on an import that rejects anything, any tile answer other than
# 200/204, or a PostGIS table whose count differs from the store's.
set -euo pipefail
W="$(mkdir -p "${1:?usage: $0 WORKDIR}" && cd "$1" && pwd)"
GRID="${GRID:-32}"
PGURL="${PGURL:-postgresql://postgres@127.0.0.1:5432}"
DB="${DB:-citytwin_big}"
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
CMD="benches/big-layer.sh $W"
[ "$GRID" = 32 ] || CMD="GRID=$GRID $CMD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q --bin citytwin
BIN="$CARGO_TARGET_DIR/release/citytwin"
export CITYTWIN_LOG=warn
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

STORE="$W/buildings-$GRID.gpkg"
if [ ! -f "$STORE" ]; then
  echo "== buildings: Helsinki's OSM extract, $GRID x $GRID times side by side"
  basemap_store "$BIN" "$W" "$GRID" buildings "$STORE"
fi
rejected=$(jq '.rejected // 0' "$W/import.json" 2>/dev/null || echo 0)
[ "$rejected" = 0 ] || fail "the import rejected $rejected features"

# A server on STORE until stopped; its port in $PORT, its pid in $PID.
serve() {
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$BIN" --store "$1" serve --bind "127.0.0.1:$PORT" --seed none > "$W/serve.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  wait_healthy "$PID" "http://127.0.0.1:$PORT" "$W/serve.log"
}
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

echo "== a server on an empty store"
rm -f "$W/empty.gpkg"*
read -r _ RSS0 < <(serve_once "$BIN" "$W/empty.gpkg" "$W/serve-empty.log")

echo "== a server on the buildings"
serve "$STORE"
RSS1=$(rss_kb "$PID")
NB=$(curl -sf "http://127.0.0.1:$PORT/layers" | jq '[.[] | select(.name == "buildings") | .count] | add // 0')
[ "$NB" -gt 0 ] || fail "no buildings in $STORE"
echo "   $NB buildings; RSS $((RSS1 / 1024)) MiB (empty store: $((RSS0 / 1024)) MiB)"

echo "== every z12 and z14 tile of the grid, once"
read -r TILES BAD < <(python3 - "$W/basemap-bbox.txt" "$PORT" <<'PY'
import math, sys, urllib.request, urllib.error
w, s, e, n = map(float, open(sys.argv[1]).read().split(","))
port = sys.argv[2]
def tile(lon, lat, z):
    k = 2 ** z
    x = int((lon + 180) / 360 * k)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * k)
    return x, y
count = bad = 0
for z in (12, 14):
    x0, y0 = tile(w, n, z)
    x1, y1 = tile(e, s, z)
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            url = f"http://127.0.0.1:{port}/tiles/buildings/{z}/{x}/{y}.mvt"
            try:
                with urllib.request.urlopen(url) as r:
                    r.read()
                    ok = r.status in (200, 204)
            except urllib.error.URLError:
                ok = False
            count += 1
            bad += 0 if ok else 1
print(count, bad)
PY
)
[ "$BAD" = 0 ] || fail "$BAD of $TILES tile answers were not 200/204"
RSS2=$(rss_kb "$PID")
echo "   $TILES tiles; RSS $((RSS2 / 1024)) MiB"
kill "$PID"; wait "$PID" 2>/dev/null || true

echo "== the same buildings in PostGIS (citytwin migrate)"
psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -q "$PGURL/$DB" -c "CREATE EXTENSION postgis"
"$BIN" migrate --from "$STORE" --to "$PGURL/$DB" > "$W/migrate.txt"
psql -q "$PGURL/$DB" -c "VACUUM ANALYZE buildings"
read -r PG_N PG_TABLE PG_INDEX < <(psql -tA -F ' ' "$PGURL/$DB" -c \
  "SELECT (SELECT count(*) FROM buildings), pg_table_size('buildings'), pg_indexes_size('buildings')")
[ "$PG_N" = "$NB" ] || fail "PostGIS holds $PG_N buildings, the store $NB"
psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"

MEM_KB=$(awk '/^MemTotal/{print $2}' /proc/meminfo)
per_ready=$(( (RSS1 - RSS0) * 1024 / NB ))
per_served=$(( (RSS2 - RSS0) * 1024 / NB ))
per_pg=$(( (PG_TABLE + PG_INDEX) / NB ))
summary_head big-layer "$CMD"
echo "Buildings of Helsinki's OSM extract laid ${GRID} × ${GRID} times: **$NB buildings**; $TILES tiles (every z12 and z14 tile of the grid) asked once."
echo
echo "| what | per building | for $NB | for 10 million |"
echo "|---|---|---|---|"
echo "| citytwin, ready server (RSS above an empty store, $((RSS0 / 1024)) MiB) | **$per_ready B** | $(( (RSS1 - RSS0) / 1024 )) MiB | $(( per_ready * 10000000 / 1048576 )) MiB |"
echo "| citytwin after the tile pass | $per_served B | $(( (RSS2 - RSS0) / 1024 )) MiB | $(( per_served * 10000000 / 1048576 )) MiB |"
echo "| PostGIS: table $(( PG_TABLE / 1048576 )) MiB + indexes $(( PG_INDEX / 1048576 )) MiB (on disk) | $per_pg B | $(( (PG_TABLE + PG_INDEX) / 1048576 )) MiB | $(( per_pg * 10000000 / 1048576 )) MiB |"
echo
echo "This machine's memory ($(( MEM_KB / 1048576 )) GiB) holds about **$(( MEM_KB * 1024 / per_served / 1000000 )) million** such buildings in citytwin after tiling (all of it given to citytwin; half of it: $(( MEM_KB * 512 / per_served / 1000000 )) million)."
finish "the import rejected nothing, every tile answer 200/204, PostGIS held every building"
