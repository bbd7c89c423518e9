#!/usr/bin/env bash
# citytwin on its two stores, the same run, the same 1M-object synthetic city: the GeoPackage
# file and PostGIS — the import, the start (time until it answers), and one cold pass of the
# tile run's equal-content list (z15–z16) — and martin 1.14.0 serving citytwin's own PostGIS
# tables (table sources over the same layers) on that list.
#
# Usage: benches/store-pg-vs-gpkg.sh WORKDIR
#   WORKDIR holds a benches/tiles-vs-martin.sh run (its city CSV, its tile lists, its wrk
#   script); env: PGURL (postgresql://postgres@127.0.0.1:5432), DB (citytwin_pvg), STARTS (3),
#   MARTIN (a martin 1.14.0 binary; else ~/.cache/martin/bin/martin), PG_SHARED_BUFFERS_MB
#   (¼ of RAM: set with ALTER SYSTEM and a restart of the local cluster, undone at exit).
# The run FAILS (exit 1) on an import that does not hold every object, any tile answer other
# than 200/204, any socket error, or a tile count that differs between the servers.
set -euo pipefail
W="$(cd "${1:?usage: $0 WORKDIR}" && pwd)"
PGURL="${PGURL:-postgresql://postgres@127.0.0.1:5432}"
DB="${DB:-citytwin_pvg}"
STARTS="${STARTS:-3}"
MEM_MB=$(free -m | awk '/Mem:/{print $2}')
PG_SHARED_BUFFERS_MB="${PG_SHARED_BUFFERS_MB:-$((MEM_MB / 4))}"
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
[ -f "$W/run.env" ] || { echo "*** $W/run.env missing: run benches/tiles-vs-martin.sh $W first" >&2; exit 2; }
# shellcheck disable=SC1091
. "$W/run.env"
CSV="$W/city-$N.csv"
PATHS="$W/paths-citytwin-equal.txt"
[ -f "$CSV" ] && [ -f "$PATHS" ] || { echo "*** $CSV or $PATHS missing" >&2; exit 2; }
CMD="benches/store-pg-vs-gpkg.sh $W"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q --bin citytwin
BIN="$CARGO_TARGET_DIR/release/citytwin"
MARTIN="${MARTIN:-$HOME/.cache/martin/bin/martin}"
"$MARTIN" --version 2>/dev/null | grep -q 1.14.0 || { echo "*** no martin 1.14.0 at $MARTIN (benches/tiles-vs-martin.sh builds it)" >&2; exit 2; }
export CITYTWIN_SERIAL_WIDTH="$WIDTH" CITYTWIN_LOG=warn
P="$W/pvg"
rm -rf "$P"; mkdir -p "$P"
PIDS=()
RESTORE=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$RESTORE" ]; then
    psql -q "$PGURL/postgres" -c "$RESTORE" && pg_ctlcluster 15 main restart || true
  fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- PostgreSQL, tuned
sb_mb=$(psql "$PGURL/postgres" -tAc "select setting::bigint * 8 / 1024 from pg_settings where name = 'shared_buffers'")
if [ "$sb_mb" -lt "$PG_SHARED_BUFFERS_MB" ]; then
  echo "== PostgreSQL: shared_buffers $sb_mb MB -> $PG_SHARED_BUFFERS_MB MB (undone at exit)"
  RESTORE="alter system reset shared_buffers"
  psql -q "$PGURL/postgres" -c "alter system set shared_buffers = '${PG_SHARED_BUFFERS_MB}MB'"
  pg_ctlcluster 15 main restart
fi
psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -q "$PGURL/$DB" -c "CREATE EXTENSION postgis" -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm"
psql -q "$PGURL/postgres" <<SQL
alter database $DB set work_mem = '64MB';
alter database $DB set jit = off;
alter database $DB set effective_cache_size = '$((MEM_MB * 3 / 4))MB';
alter database $DB set random_page_cost = 1.1;
alter database $DB set max_parallel_workers_per_gather = 0;
SQL
PGSTORE="$PGURL/$DB"

# ---------------------------------------------------------------- import
declare -A IMPORT
import() { # name store-args…
  local name="$1"; shift
  settle "$CSV"
  local t0 t1
  t0=$(now)
  "$BIN" "$@" import "$CSV" --mapping seeds/synthetic-city.toml --rejects "$P/rejects-$name.csv" > "$P/import-$name.json"
  t1=$(now)
  IMPORT[$name]=$(echo "$t1 - $t0" | bc)
  local n
  n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["created"])' "$P/import-$name.json")
  [ "$n" = "$N" ] || fail "$name import created $n objects, not $N"
  printf '%-10s import: %s objects in %.2f s (%.0f objects/s)\n' "$name" "$n" "${IMPORT[$name]}" "$(echo "$N / ${IMPORT[$name]}" | bc -l)"
}
import geopackage --store "$P/store.gpkg"
import postgis --postgres "$PGSTORE"

# ---------------------------------------------------------------- start
declare -A START
started_in() { # store-args… → seconds until /health answers (the server stopped after)
  local t0 t1 pid
  t0=$(now)
  "$BIN" "$@" serve --bind 127.0.0.1:18750 --seed none > "$P/serve.log" 2>&1 &
  pid=$!
  until curl -sf -o /dev/null http://127.0.0.1:18750/health; do
    kill -0 "$pid" 2>/dev/null || { cat "$P/serve.log" >&2; fail "the server stopped"; return 1; }
    sleep 0.02
  done
  t1=$(now)
  kill -TERM "$pid"; wait "$pid" || true
  echo "$t1 - $t0" | bc
}
for name in geopackage postgis; do
  args=(--store "$P/store.gpkg"); [ "$name" = postgis ] && args=(--postgres "$PGSTORE")
  times=()
  for _ in $(seq 1 "$STARTS"); do times+=("$(started_in "${args[@]}")"); done
  START[$name]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-10s start (warm, median of %s): %.2f s (%s)\n' "$name" "$STARTS" "${START[$name]}" "${times[*]}"
done

# A cold start: the OS page cache dropped, and PostgreSQL restarted (its shared buffers empty).
declare -A COLD
for name in geopackage postgis; do
  args=(--store "$P/store.gpkg"); [ "$name" = postgis ] && args=(--postgres "$PGSTORE")
  if [ "$name" = postgis ]; then pg_ctlcluster 15 main restart; fi
  drop_caches || fail "the page cache cannot be dropped (not root): no cold start measured"
  COLD[$name]=$(started_in "${args[@]}")
  printf '%-10s start from a dropped page cache: %.2f s\n' "$name" "${COLD[$name]}"
done

# ---------------------------------------------------------------- tiles: one cold pass each
declare -A TILES
want=$(wc -l < "$PATHS")
pass() { # name url paths token → "rps p50 p99 ok200 ok204 other sockerr"
  local r
  rm -f "$P/wrk.done"
  wrk -t"$CONNS" -c"$CONNS" -d3600s --timeout 300s -H 'Accept-Encoding: gzip' ${4:+-H "Authorization: Bearer $4"} \
    -s "$W/tiles.lua" "$2" -- "$3" "$CONNS" 1 "$P/wrk.done" "$(head -n 1 "$3")" > "$P/wrk-$1.log" 2>&1 || true
  r=$(grep '^RESULT' "$P/wrk-$1.log") || { cat "$P/wrk-$1.log" >&2; fail "$1: wrk printed no result"; return; }
  declare -A v
  for kv in ${r#RESULT }; do v[${kv%%=*}]=${kv#*=}; done
  [ "${v[responses]}" = "$want" ] || fail "$1: ${v[responses]} responses for $want tiles"
  [ "${v[other]}" = 0 ] || fail "$1: ${v[other]} answers other than 200/204"
  [ "${v[sockerr]}" = 0 ] || fail "$1: ${v[sockerr]} socket errors"
  TILES[$1]="${v[rps]} ${v[p50_ms]} ${v[p99_ms]} ${v[ok200]} ${v[ok204]}"
  printf '%-10s cold pass: %.0f req/s, p50 %.2f ms, p99 %.2f ms, 200: %s, 204: %s\n' "$1" "${v[rps]}" "${v[p50_ms]}" "${v[p99_ms]}" "${v[ok200]}" "${v[ok204]}"
}
for name in geopackage postgis; do
  args=(--store "$P/store.gpkg"); [ "$name" = postgis ] && args=(--postgres "$PGSTORE")
  token=$("$BIN" "${args[@]}" token create --role engineer --name pvg --expires-in 1d)
  "$BIN" "${args[@]}" --config "$W/citytwin.toml" serve --bind 127.0.0.1:18751 --seed none > "$P/serve-$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_healthy "$pid" http://127.0.0.1:18751 "$P/serve-$name.log" 6000
  pass "$name" http://127.0.0.1:18751 "$PATHS" "$token"
  kill -TERM "$pid"; wait "$pid" || true
done

# martin over citytwin's own tables (EPSG:4326, transformed per tile), table sources.
LAYERS=$(awk -F/ 'NR == 1 {print $3}' "$PATHS")
{
  echo "listen_addresses: '127.0.0.1:18752'"
  echo "cache: disable"
  echo "postgres:"
  echo "  connection_string: '$PGSTORE'"
  echo "  auto_publish: false"
  echo "  auto_bounds: skip"
  echo "  tables:"
  for l in ${LAYERS//,/ }; do
    cat <<EOF
    $l:
      schema: public
      table: $l
      srid: 4326
      geometry_column: geom
      geometry_type: POINT
      id_column: fid
      extent: 4096
      buffer: 64
      clip_geom: true
      properties:
        number: text
        status: text
EOF
  done
} > "$P/martin.yaml"
psql -q "$PGSTORE" -c "select count(pg_prewarm(c.oid)) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('r', 'i')" > /dev/null
"$MARTIN" --config "$P/martin.yaml" > "$P/martin.log" 2>&1 &
mpid=$!
PIDS+=("$mpid")
for _ in $(seq 1 300); do curl -sf -o /dev/null http://127.0.0.1:18752/health && break; sleep 0.1; done
sed 's|^/tiles/||; s|\.mvt$||; s|^|/|' "$PATHS" > "$P/paths-martin.txt"
# An unmeasured pass first: martin's and PostgreSQL's plans and connections made.
pass martin-warmup http://127.0.0.1:18752 "$P/paths-martin.txt" ""
pass martin http://127.0.0.1:18752 "$P/paths-martin.txt" ""
read -r _ _ _ g200 g204 <<< "${TILES[geopackage]}"
for name in postgis martin; do
  read -r _ _ _ o200 o204 <<< "${TILES[$name]:-0 0 0 0 0}"
  [ "$o200" = "$g200" ] || fail "$name answered 200 for $o200 tiles, citytwin on GeoPackage for $g200 (tile count mismatch)"
done

summary_head store-pg-vs-gpkg "$CMD"
echo "Synthetic city of $N objects ($CSV); the equal-content list of the tile run ($want tiles, z15–z16, the seven point layers as one tile), one cold pass each with $CONNS connections and \`Accept-Encoding: gzip\`; PostgreSQL with shared_buffers ${PG_SHARED_BUFFERS_MB} MB, work_mem 64MB, jit off, tables and indexes prewarmed for martin. Start: until \`/health\` answers, warm (the data in the OS page cache and shared buffers, median of $STARTS), and once from a dropped page cache (PostgreSQL restarted before, so its shared buffers are empty too)."
echo
echo "| | import | start, warm | start, page cache dropped | tiles, cold pass |"
echo "|---|---|---|---|---|"
for name in geopackage postgis; do
  read -r rps p50 p99 _ _ <<< "${TILES[$name]}"
  printf '| citytwin on %s | %.1f s (%.0f objects/s) | %.2f s | %.2f s | %.0f req/s, p50 %.2f ms, p99 %.2f ms |\n' \
    "$name" "${IMPORT[$name]}" "$(echo "$N / ${IMPORT[$name]}" | bc -l)" "${START[$name]}" "${COLD[$name]}" "$rps" "$p50" "$p99"
done
read -r rps p50 p99 _ _ <<< "${TILES[martin]}"
printf '| martin 1.14.0 on citytwin'"'"'s PostGIS tables (table sources) | — | — | — | %.0f req/s, p50 %.2f ms, p99 %.2f ms |\n' "$rps" "$p50" "$p99"
echo
echo "citytwin serves tiles from memory on either store: the store changes the import and the start, not the tiles. martin reads the same tables per tile and transforms them from EPSG:4326 per query (citytwin's tables keep WGS 84); its tiles carry the number and status of each point, citytwin's its own properties — the same points, not the same bytes."
finish
