#!/usr/bin/env bash
# Tile serving under load: citytwin vs martin 1.14.0 (PostGIS) vs nginx (static files), on the
# same machine in the same run, with the same tile list, the same load tool and settings.
#
# Servers:
#   citytwin         the composite tile /tiles/a,b,.../z/x/y.mvt from its in-memory twin
#   martin-tables    martin's composite of seven table sources (/a,b,.../z/x/y): one query per
#                    layer, the layer tiles joined by martin
#   martin-function  martin's function source (/city/z/x/y): ONE PostgreSQL function,
#                    citytwin_composite(z, x, y) RETURNS bytea, that makes the whole composite
#                    tile in one call (ST_AsMVT per layer, concatenated; plpgsql, so each of
#                    martin's connections keeps the plans) — martin's best configuration for a
#                    multi-layer tile
#   nginx            the same tiles pre-rendered (citytwin's bytes, raw and gzip) as static
#                    files, with gzip_static and open_file_cache: the limit for a cached tile
# PostgreSQL is tuned for the machine before martin runs: per database (work_mem, jit=off,
# effective_cache_size 3/4 of RAM, random_page_cost 1.1, no parallel workers: 8 connections
# already share the cores); shared_buffers 1/4 of RAM by ALTER SYSTEM and a restart of the local
# cluster, restored (and restarted again) when the script ends (PG_RESTART=0 leaves it alone);
# every layer table and its indexes read into shared_buffers with pg_prewarm before each
# martin run.
#
# Runs:
#   cold  every tile of a list requested once: citytwin freshly started (empty tile cache),
#         martin with its tile cache off (`cache: disable`) — the cost of making a tile
#   warm  the list repeated WARM_LOOPS times with caches on, after one pass that fills them
#         (citytwin: the cold run; martin and nginx: an unmeasured priming pass)
#
# Equal and unequal content. citytwin clusters points below a layer's min zoom (poles and
# manholes 14, trees 15, cameras and cabinets 13, wifi 12, shelters 11) and wherever a tile has
# more than 4000 points of a layer; martin sends every point. Before any load the script fetches
# every tile of the list from every server, decodes them (benches/mvt_content.py) and prints per
# zoom and server the features, the object numbers compared tile by tile, and the sizes; the
# zooms of EQUAL_ZOOMS (14 15 16) where every tile holds the same objects on every server (and
# the features in the tiles' buffers agree within 2%: a point at the buffer's edge may fall
# either side of it) form the EQUAL list, the headline; every other zoom goes to the UNEQUAL
# list, reported apart (z14 is expected there: citytwin clusters trees below z15).
#
# Tile list: every tile of ZOOMS (z10..z16) that covers a BOX_KM x BOX_KM box around the city's
# centre (the centre of the layers' bbox from citytwin's /layers); layers: the synthetic city's
# seven point layers.
#
# DATA=basemap: the basemap instead (areas and lines: landuse, green, water, waterways,
# railways, bridges, buildings, streets), at z12 and z14. Its data: the basemap citytwin imports
# from Helsinki's OSM extract (data/osm), exported as GeoJSON and laid GRID x GRID times side by
# side (benches/basemap_grid.py: every shape real, the extent synthetic), imported into citytwin
# and, from citytwin's CSV export of that store (same ids, WKT, attributes as jsonb), into
# PostGIS. martin's function source makes the work citytwin does: each layer from its minimum
# zoom; below z16 rings and lines simplified by the same 2 tile units before clipping, and areas
# smaller than a pixel of a 512-px tile dropped (before clipping by a precomputed area, after
# it by the clipped area); lines simplified by 2 units at every zoom. Table sources cannot drop
# or simplify, so they would send other content: they are not run. Content is compared by
# feature id (benches/mvt_content.py --by id): a zoom is equal content when the features in one
# server's tile and not in the other's are within 2% of citytwin's. Every server gets `Accept-Encoding: gzip`. Load tool: wrk (Debian) with a Lua script in
# which each of CONNS threads has one connection and walks its own share of the list, so in the
# cold run every tile is asked exactly once; the run ends when every share is done.
#
# The run FAILS (exit 1, after printing everything) on any answer other than 200/204, any socket
# error, any response missing from a run, or a tile count mismatch: a server answering 200 for a
# different number of tiles than in its content pass, or than citytwin.
#
# Usage: benches/tiles-vs-martin.sh WORKDIR
#   env: DATA (city | basemap), N (objects, 1000000), GRID (basemap copies a side, 16),
#        CONNS (8), ROUNDS (2: every phase is run this many times), WARM_LOOPS (20), BOX_KM (16),
#        ZOOMS ("10 11 12 13 14 15 16"; basemap "12 14"), EQUAL_ZOOMS ("14 15 16"; basemap
#        "12 14"), LAYERS (the seven point layers; basemap its eight layers),
#        CT_PORT/MARTIN_PORT/NGINX_PORT (18081/18082/18083),
#        PGHOST/PGPORT/PGUSER (127.0.0.1/5432/postgres), PGDB (citytwin_bench; basemap:
#        PGDB_BASEMAP, citytwin_basemap),
#        PG_RESTART (1), PG_SHARED_BUFFERS_MB (1/4 of RAM), PG_WORK_MEM (64MB),
#        WITH_MARTIN (1; 0 skips PostGIS and martin: citytwin vs nginx only),
#        MARTIN (a martin 1.14.0 binary; else ~/.cache/martin/bin/martin or WORKDIR/martin/bin/martin
#        if either is 1.14.0, else it is built into ~/.cache/martin)
#
# Needs (installed here when missing, each install echoed): wrk, nginx and postgresql-15-postgis-3
# from Debian (apt-get; pg_prewarm comes with PostgreSQL), martin 1.14.0 from crates.io (cargo
# install --locked, ~20 min on 2 cores; built with `--no-default-features --features postgres`:
# the default `rendering` feature clones maplibre-native from GitHub in its build script, and the
# other features are for sources not used here), a running PostgreSQL 15 with trust auth for
# PGUSER on PGHOST, curl, jq, awk, bc, python3. Everything it makes (city CSV, stores, tiles,
# logs) stays in WORKDIR; reruns reuse the CSV, the store and the PostGIS tables.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 WORKDIR" >&2
  exit 2
fi
mkdir -p "$1"
W="$(cd "$1" && pwd)"
DATA="${DATA:-city}"
case "$DATA" in
  city)
    LAYERS="${LAYERS:-poles,manholes,trees,cameras,cabinets,wifi,shelters}"
    ZOOMS="${ZOOMS:-10 11 12 13 14 15 16}"
    EQUAL_ZOOMS="${EQUAL_ZOOMS:-14 15 16}"
    ;;
  basemap)
    LAYERS="${LAYERS:-landuse,green,water,waterways,railways,bridges,buildings,streets}"
    ZOOMS="${ZOOMS:-12 14}"
    EQUAL_ZOOMS="${EQUAL_ZOOMS:-12 14}"
    ;;
  *) echo "DATA=$DATA: city or basemap" >&2; exit 2 ;;
esac
N="${N:-1000000}"
GRID="${GRID:-16}"
CONNS="${CONNS:-8}"
ROUNDS="${ROUNDS:-2}"
WARM_LOOPS="${WARM_LOOPS:-20}"
BOX_KM="${BOX_KM:-16}"
CT_PORT="${CT_PORT:-18081}"
MARTIN_PORT="${MARTIN_PORT:-18082}"
NGINX_PORT="${NGINX_PORT:-18083}"
PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
PGUSER="${PGUSER:-postgres}"
PGDB="${PGDB:-citytwin_bench}"
[ "$DATA" = basemap ] && PGDB="${PGDB_BASEMAP:-citytwin_basemap}"
PG_RESTART="${PG_RESTART:-1}"
MEM_MB=$(free -m | awk '/Mem:/{print $2}')
PG_SHARED_BUFFERS_MB="${PG_SHARED_BUFFERS_MB:-$((MEM_MB / 4))}"
PG_WORK_MEM="${PG_WORK_MEM:-64MB}"
WITH_MARTIN="${WITH_MARTIN:-1}"
export PGHOST PGPORT PGUSER PGOPTIONS="${PGOPTIONS:--c client_min_messages=warning}"
MARTIN_VERSION=1.14.0

cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
if [ "$DATA" = basemap ]; then
  CMD="DATA=basemap GRID=$GRID ROUNDS=$ROUNDS WARM_LOOPS=$WARM_LOOPS CONNS=$CONNS BOX_KM=$BOX_KM"
  [ "$ZOOMS" = "12 14" ] || CMD="$CMD ZOOMS=\"$ZOOMS\""
  [ "$EQUAL_ZOOMS" = "12 14" ] || CMD="$CMD EQUAL_ZOOMS=\"$EQUAL_ZOOMS\""
  [ "$LAYERS" = landuse,green,water,waterways,railways,bridges,buildings,streets ] || CMD="$CMD LAYERS=$LAYERS"
else
  CMD="N=$N ROUNDS=$ROUNDS WARM_LOOPS=$WARM_LOOPS CONNS=$CONNS BOX_KM=$BOX_KM"
  [ "$ZOOMS" = "10 11 12 13 14 15 16" ] || CMD="$CMD ZOOMS=\"$ZOOMS\""
  [ "$EQUAL_ZOOMS" = "14 15 16" ] || CMD="$CMD EQUAL_ZOOMS=\"$EQUAL_ZOOMS\""
  [ "$LAYERS" = poles,manholes,trees,cameras,cabinets,wifi,shelters ] || CMD="$CMD LAYERS=$LAYERS"
fi
[ "$WITH_MARTIN" = 1 ] || CMD="$CMD WITH_MARTIN=0"
[ "$PG_RESTART" = 1 ] || CMD="$CMD PG_RESTART=0"
CMD="$CMD benches/tiles-vs-martin.sh $W"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
log() { echo "== $*"; }

# ---------------------------------------------------------------- tools
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)
if [ "$WITH_MARTIN" = 1 ] && ! [ -f /usr/share/postgresql/15/extension/postgis.control ]; then
  need_apt+=(postgresql-15-postgis-3)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  log "INSTALLING with apt-get: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
is_martin() { [ -x "$1" ] && "$1" --version 2>/dev/null | grep -q "$MARTIN_VERSION"; }
if [ "$WITH_MARTIN" = 1 ]; then
  if [ -n "${MARTIN:-}" ]; then
    is_martin "$MARTIN" || { echo "*** MARTIN=$MARTIN is not martin $MARTIN_VERSION" >&2; exit 2; }
  else
    for m in "$HOME/.cache/martin/bin/martin" "$W/martin/bin/martin"; do
      if is_martin "$m"; then MARTIN="$m"; break; fi
    done
  fi
  if [ -z "${MARTIN:-}" ]; then
    log "INSTALLING martin $MARTIN_VERSION with cargo into $HOME/.cache/martin (long)"
    CARGO_TARGET_DIR="$HOME/.cache/martin/target" cargo install martin --version "$MARTIN_VERSION" --locked \
      --no-default-features --features postgres --root "$HOME/.cache/martin"
    MARTIN="$HOME/.cache/martin/bin/martin"
  fi
fi
log "building citytwin (release)"
cargo build --release --quiet --bin citytwin
BIN="$CARGO_TARGET_DIR/release/citytwin"

echo "machine: $(machine); $(wrk -v 2>&1 | sed -n 1p)"
echo "nginx: $(/usr/sbin/nginx -v 2>&1)"
if [ "$WITH_MARTIN" = 1 ]; then
  echo "martin: $("$MARTIN" --version) ($MARTIN); postgres: $(psql -d postgres -tAc 'select version()' | cut -d, -f1)"
else
  echo "*** WITH_MARTIN=0: martin and PostGIS are skipped"
fi

# ---------------------------------------------------------------- helpers
PIDS=()
PG_RESTORE=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$PG_RESTORE" ]; then
    echo "== restoring PostgreSQL's shared_buffers ($PG_RESTORE) and restarting it"
    psql -q -d postgres -c "$PG_RESTORE" || true
    pg_ctlcluster "${PG_CLUSTER[@]}" restart || true
  fi
}
trap cleanup EXIT
wait_http() { # url pid → waits until it answers (up to 10 min) while pid lives
  for _ in $(seq 1 6000); do
    curl -fs -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "*** the server for $1 stopped" >&2; return 1; }
    sleep 0.1
  done
  echo "*** $1 never answered" >&2
  return 1
}
stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------- the city
CSV="$W/city-$N.csv"
STORE="$W/store-$N.gpkg"
WIDTH=6
if [ "$N" -gt 800000 ]; then WIDTH=7; fi
if [ "$DATA" = basemap ]; then
  STORE="$W/basemap-$GRID.gpkg"
  WIDTH=6
fi
export CITYTWIN_SERIAL_WIDTH=$WIDTH
if [ "$DATA" = basemap ]; then
  if [ ! -f "$STORE" ]; then
    log "basemap: Helsinki's OSM extract, its basemap layers $GRID x $GRID times side by side"
    basemap_store "$BIN" "$W" "$GRID" "$LAYERS" "$STORE"
  fi
elif [ ! -f "$CSV" ]; then
  log "generating $N objects"
  "$BIN" generate --objects "$N" --width "$WIDTH" --out "$CSV.tmp"
  mv "$CSV.tmp" "$CSV"
fi
if [ "$DATA" = city ] && [ ! -f "$STORE" ]; then
  log "importing into $STORE"
  rm -f "$STORE.tmp"*
  "$BIN" --store "$STORE.tmp" import "$CSV" --mapping seeds/synthetic-city.toml \
    --rejects "$W/rejects.csv" > "$W/import.json"
  mv "$STORE.tmp" "$STORE"
fi
# Cameras and cabinets are not public: the tiles are asked with an engineer's token (the role
# that reads every layer of the list), the metrics with an admin's. New tokens every run.
ENGINEER=$("$BIN" --store "$STORE" token create --role engineer --name bench-tiles --expires-in 1d)
ADMIN=$("$BIN" --store "$STORE" token create --role admin --name bench-metrics --expires-in 1d)
CT_AUTH="Authorization: Bearer $ENGINEER"
# A tile cache big enough for the whole list with its gzip variants (the default is 256 MiB).
CT_CONFIG="$W/citytwin.toml"
cat > "$CT_CONFIG" <<EOF
[tiles]
cache_bytes = 2147483648
EOF

CT_URL="http://127.0.0.1:$CT_PORT"
CT_PID=""
start_citytwin() {
  "$BIN" --store "$STORE" --config "$CT_CONFIG" serve --bind "127.0.0.1:$CT_PORT" --seed none \
    > "$W/citytwin.log" 2>&1 &
  CT_PID=$!
  PIDS+=("$CT_PID")
  wait_http "$CT_URL/health" "$CT_PID"
}
ct_metric() { curl -s -H "Authorization: Bearer $ADMIN" "$CT_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# ---------------------------------------------------------------- tile list
log "tile list"
start_citytwin
curl -sf -H "$CT_AUTH" "$CT_URL/layers" > "$W/layers.json"
jq -r --arg l "$LAYERS" '($l | split(",")) as $want | .[] | select(.name as $n | $want | index($n))
  | "\(.name) \(.count)"' "$W/layers.json" > "$W/layer-counts.txt"
# Each layer's geometry and the lowest zoom citytwin draws it at (what martin's function copies).
curl -sf -H "$CT_AUTH" "$CT_URL/tiles/$LAYERS.json" > "$W/tilejson.json"
jq -r --slurpfile tj "$W/tilejson.json" --arg l "$LAYERS" '($l | split(",")) as $want
  | ($tj[0].vector_layers | map({(.id): .minzoom}) | add) as $min
  | .[] | select(.name as $n | $want | index($n)) | "\(.name) \(.geometry) \($min[.name])"' \
  "$W/layers.json" > "$W/layer-kinds.txt"
read -r CLON CLAT < <(jq -r --arg l "$LAYERS" '[.[] | select(.name as $n | ($l | split(",")) | index($n))
  | .bbox] | [(map(.[0]) | min), (map(.[1]) | min), (map(.[2]) | max), (map(.[3]) | max)]
  | "\((.[0] + .[2]) / 2) \((.[1] + .[3]) / 2)"' "$W/layers.json")
stop_pid "$CT_PID"
echo "city centre: $CLON $CLAT; box ${BOX_KM} km x ${BOX_KM} km; layers: $LAYERS"
LIST="$W/tiles.txt" # z/x/y, one a line
awk -v lon="$CLON" -v lat="$CLAT" -v km="$BOX_KM" -v zooms="$ZOOMS" 'BEGIN {
  pi = atan2(0, -1)
  dlat = km / 2 / 111.32; dlon = dlat / cos(lat * pi / 180)
  nz = split(zooms, zs, " ")
  for (k = 1; k <= nz; k++) {
    z = zs[k]
    n = 2 ^ z
    x0 = tx(lon - dlon, n); x1 = tx(lon + dlon, n)
    y0 = ty(lat + dlat, n); y1 = ty(lat - dlat, n)
    for (x = x0; x <= x1; x++) for (y = y0; y <= y1; y++) print z "/" x "/" y
  }
}
function tx(lo, n) { return int((lo + 180) / 360 * n) }
function ty(la, n,   r) { r = la * pi / 180; return int((1 - log(sin(r) / cos(r) + 1 / cos(r)) / pi) / 2 * n) }' \
  > "$LIST"
NT=$(wc -l < "$LIST")
echo "tiles in the list: $NT; per zoom: $(cut -d/ -f1 "$LIST" | sort -n | uniq -c | awk '{printf "z%s %s  ", $2, $1}')"
# Each server's path for a tile z/x/y.
path_of() { # server → sed program turning z/x/y into its path
  case "$1" in
    citytwin) echo "s|^|/tiles/$LAYERS/|; s|\$|.mvt|" ;;
    martin-tables) echo "s|^|/$LAYERS/|" ;;
    martin-function) echo "s|^|/city/|" ;;
    nginx) echo "s|^|/t/|; s|\$|.mvt|" ;;
  esac
}

# ---------------------------------------------------------------- PostGIS
PG_CLUSTER=()
pg_layers_sql() { for l in ${LAYERS//,/ }; do printf "'public.%s'::regclass," "$l"; done | sed 's/,$//'; }
pg_prewarm_all() { # → "MB read into shared_buffers"
  psql -d "$PGDB" -tAc "select round(sum(pg_prewarm(c.oid)) * 8 / 1024.0) from pg_class c
    where c.oid in ($(pg_layers_sql))
       or c.oid in (select indexrelid from pg_index where indrelid in ($(pg_layers_sql)))"
}
if [ "$WITH_MARTIN" = 1 ]; then
  log "PostGIS database $PGDB"
  psql -d postgres -tAc "select 1 from pg_database where datname = '$PGDB'" | grep -q 1 \
    || psql -q -d postgres -c "create database $PGDB"
  psql -q -d "$PGDB" -c "create extension if not exists postgis; create extension if not exists pg_prewarm"
  pg_ok=1
  while read -r name count; do
    have=$(psql -d "$PGDB" -tAc "select count(*) from public.$name" 2>/dev/null || echo -1)
    [ "$have" = "$count" ] || pg_ok=0
  done < "$W/layer-counts.txt"
  if [ "$pg_ok" = 0 ] && [ "$DATA" = basemap ]; then
    log "loading citytwin's CSV export of $STORE into PostGIS (EPSG:3857, GiST index), one table per layer"
    {
      echo "set client_min_messages = warning;"
      for l in ${LAYERS//,/ }; do
        "$BIN" --store "$STORE" export --layer "$l" --format csv --out "$W/pg-$l.csv"
        echo "drop table if exists pg_csv;"
        echo "create unlogged table pg_csv (id bigint, layer text, number text, number_latin text, check_digit text,"
        echo "  status text, lon float8, lat float8, wkt text, status_changed text, created text, updated text,"
        echo "  source_file text, source_id text, attributes jsonb);"
        echo "\\copy pg_csv from '$W/pg-$l.csv' with (format csv, header true)"
        echo "drop table if exists public.$l;"
        echo "create table public.$l as select id, status, attributes,"
        echo "  ST_Transform(ST_GeomFromText(wkt, 4326), 3857) as geom from pg_csv;"
        # The area (EPSG:3857 m²) the sub-pixel filter reads without computing it per tile.
        echo "alter table public.$l add column area float8;"
        echo "update public.$l set area = ST_Area(geom);"
        echo "alter table public.$l add primary key (id);"
        echo "create index on public.$l using gist (geom);"
        echo "vacuum analyze public.$l;"
      done
      echo "drop table pg_csv;"
    } > "$W/load.sql"
    psql -q -v ON_ERROR_STOP=1 -d "$PGDB" -f "$W/load.sql"
  elif [ "$pg_ok" = 0 ]; then
    log "loading $CSV into PostGIS (EPSG:3857 points, GiST index), one table per layer"
    {
      echo "set client_min_messages = warning;"
      echo "drop table if exists city_csv;"
      echo "create unlogged table city_csv (layer text, number text, lon float8, lat float8, name text, status text, district integer);"
      echo "\\copy city_csv from '$CSV' with (format csv, header true)"
      for l in ${LAYERS//,/ }; do
        echo "drop table if exists public.$l;"
        echo "create table public.$l as select row_number() over () as id, number, name, status, district,"
        echo "  ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), 3857)::geometry(Point, 3857) as geom"
        echo "  from city_csv where layer = '$l';"
        echo "alter table public.$l add primary key (id);"
        echo "create index on public.$l using gist (geom);"
        echo "vacuum analyze public.$l;"
      done
      echo "drop table city_csv;"
    } > "$W/load.sql"
    head -1 "$CSV" | grep -qx 'layer,number,lon,lat,name,status,district' \
      || { echo "*** unexpected CSV header: $(head -1 "$CSV")" >&2; exit 1; }
    psql -q -v ON_ERROR_STOP=1 -d "$PGDB" -f "$W/load.sql"
  fi
  while read -r name count; do
    have=$(psql -d "$PGDB" -tAc "select count(*) from public.$name")
    echo "layer $name: citytwin $count, PostGIS $have"
    [ "$have" = "$count" ] || { echo "*** $name: counts differ" >&2; exit 1; }
  done < "$W/layer-counts.txt"

  # The function source: the whole composite tile in one call, each layer as martin's table
  # source makes it (same extent, buffer, clipping, feature id and properties), joined.
  {
    echo "create or replace function public.citytwin_composite(z integer, x integer, y integer)"
    echo "returns bytea language plpgsql stable strict parallel safe as \$fn\$"
    echo "declare"
    echo "  env geometry := ST_TileEnvelope(z, x, y);"
    echo "  fat geometry := ST_TileEnvelope(z, x, y, margin => 64.0 / 4096);"
    echo "  unit float8 := 40075016.685578488 / (4096 * 2 ^ z); -- a tile unit in EPSG:3857 metres"
    echo "  mvt bytea;"
    echo "begin"
    echo "  select"
    sep=""
    for l in ${LAYERS//,/ }; do
      read -r _ kind minz < <(awk -v l="$l" '$1 == l' "$W/layer-kinds.txt")
      echo "    $sep coalesce((select ST_AsMVT(t, '$l', 4096, 'geom', 'id') from ("
      case "$DATA/$kind" in
        city/*)
          echo "      select ST_AsMVTGeom(geom, env, 4096, 64, true) as geom, id, number, name, status, district"
          echo "      from public.$l where geom && fat) t), '')"
          ;;
        basemap/line)
          echo "      select g as geom, id, status, attributes from ("
          echo "        select ST_AsMVTGeom(ST_Simplify(geom, 2 * unit), env, 4096, 64, true) as g, id, status, attributes"
          echo "        from public.$l where z >= $minz and geom && fat) s where g is not null) t), '')"
          ;;
        basemap/polygon)
          echo "      select g as geom, id, status, attributes from ("
          echo "        select ST_AsMVTGeom(case when z < 16 then ST_Simplify(geom, 2 * unit) else geom end, env, 4096, 64, true) as g,"
          echo "          id, status, attributes"
          echo "        from public.$l where z >= $minz and geom && fat and (z >= 16 or area >= 64 * unit * unit)) s"
          echo "      where g is not null and (z >= 16 or ST_Area(g) >= 64)) t), '')"
          ;;
        *) echo "*** layer $l: geometry '$kind' (DATA=$DATA)" >&2; exit 1 ;;
      esac
      sep="||"
    done
    echo "  into mvt;"
    echo "  return mvt;"
    echo "end"
    echo "\$fn\$;"
  } > "$W/function.sql"
  psql -q -v ON_ERROR_STOP=1 -d "$PGDB" -f "$W/function.sql"

  # Tuned for the machine: per database (kept with the bench database), and shared_buffers
  # (server-wide: ALTER SYSTEM + restart, undone at exit).
  psql -q -v ON_ERROR_STOP=1 -d postgres <<SQL
alter database $PGDB set work_mem = '$PG_WORK_MEM';
alter database $PGDB set jit = off;
alter database $PGDB set effective_cache_size = '$((MEM_MB * 3 / 4))MB';
alter database $PGDB set random_page_cost = 1.1;
alter database $PGDB set max_parallel_workers_per_gather = 0;
SQL
  sb_mb=$(psql -d postgres -tAc "select setting::bigint * 8 / 1024 from pg_settings where name = 'shared_buffers'")
  data_mb=$(psql -d "$PGDB" -tAc "select round(sum(pg_total_relation_size(c)) / 1048576.0) from unnest(array[$(pg_layers_sql)]) c")
  if [ "$sb_mb" -lt "$PG_SHARED_BUFFERS_MB" ]; then
    read -r -a PG_CLUSTER < <(pg_lsclusters -h 2>/dev/null | awk -v p="$PGPORT" '$3 == p {print $1, $2}') || true
    if [ "$PG_RESTART" = 1 ] && [ ${#PG_CLUSTER[@]} = 2 ] && [[ "$PGHOST" =~ ^(127\.0\.0\.1|localhost)$ ]]; then
      prior=$(psql -d postgres -tAc "select setting from pg_file_settings where name = 'shared_buffers'
        and sourcefile like '%postgresql.auto.conf' order by seqno desc limit 1")
      if [ -n "$prior" ]; then
        PG_RESTORE="alter system set shared_buffers = '$prior'"
      else
        PG_RESTORE="alter system reset shared_buffers"
      fi
      log "PostgreSQL: shared_buffers ${sb_mb} MB -> ${PG_SHARED_BUFFERS_MB} MB (ALTER SYSTEM, restart of cluster ${PG_CLUSTER[*]}; undone at exit)"
      psql -q -d postgres -c "alter system set shared_buffers = '${PG_SHARED_BUFFERS_MB}MB'"
      pg_ctlcluster "${PG_CLUSTER[@]}" restart
      sb_mb=$(psql -d postgres -tAc "select setting::bigint * 8 / 1024 from pg_settings where name = 'shared_buffers'")
    else
      echo "*** shared_buffers stays ${sb_mb} MB (PG_RESTART=$PG_RESTART, cluster '${PG_CLUSTER[*]}', host $PGHOST): martin is not given its best configuration"
    fi
  fi
  PG_SETTINGS=$(psql -d "$PGDB" -tAc "select string_agg(name || '=' || current_setting(name), ', ' order by name) from pg_settings
    where name in ('shared_buffers', 'work_mem', 'jit', 'effective_cache_size', 'random_page_cost', 'max_parallel_workers_per_gather')")
  echo "PostgreSQL for $PGDB: $PG_SETTINGS; the layer tables and their indexes: $data_mb MB"
  [ "$data_mb" -lt "$sb_mb" ] || echo "*** the tables and indexes ($data_mb MB) do not fit in shared_buffers ($sb_mb MB)"
fi

# ---------------------------------------------------------------- martin
martin_config() { # kind (tables|function) cache-MiB → config file
  local f="$W/martin-$1-cache$2.yaml"
  {
    echo "listen_addresses: '127.0.0.1:$MARTIN_PORT'"
    if [ "$2" = 0 ]; then
      echo "cache: disable"
    else
      printf 'cache:\n  size_mb: %s\n  tile_size_mb: %s\n' "$2" "$2"
    fi
    echo "postgres:"
    echo "  connection_string: 'postgresql://$PGUSER@$PGHOST:$PGPORT/$PGDB'"
    echo "  auto_publish: false"
    echo "  auto_bounds: skip"
    if [ "$1" = function ]; then
      cat <<EOF
  functions:
    city:
      schema: public
      function: citytwin_composite
      minzoom: 0
      maxzoom: 22
EOF
    else
      echo "  tables:"
      for l in ${LAYERS//,/ }; do
        cat <<EOF
    $l:
      schema: public
      table: $l
      srid: 3857
      geometry_column: geom
      geometry_type: POINT
      id_column: id
      extent: 4096
      buffer: 64
      clip_geom: true
      properties:
        number: text
        name: text
        status: text
        district: int4
EOF
      done
    fi
  } > "$f"
  echo "$f"
}
MARTIN_URL="http://127.0.0.1:$MARTIN_PORT"
MARTIN_PID=""
start_martin() { # kind cache-MiB
  "$MARTIN" --config "$(martin_config "$1" "$2")" > "$W/martin-$1.log" 2>&1 &
  MARTIN_PID=$!
  PIDS+=("$MARTIN_PID")
  wait_http "$MARTIN_URL/health" "$MARTIN_PID"
}

# ---------------------------------------------------------------- nginx
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
NGINX_PID=""
start_nginx() {
  mkdir -p "$W/nginx/tmp"
  cat > "$W/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $W/nginx/tmp/body;
  proxy_temp_path $W/nginx/tmp/proxy;
  fastcgi_temp_path $W/nginx/tmp/fastcgi;
  uwsgi_temp_path $W/nginx/tmp/uwsgi;
  scgi_temp_path $W/nginx/tmp/scgi;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  open_file_cache max=100000 inactive=300s;
  open_file_cache_valid 300s;
  types { }
  default_type application/vnd.mapbox-vector-tile;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $W/static;
    gzip_static on;
    location /t/ { try_files \$uri =204; }
  }
}
EOF
  /usr/sbin/nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" > "$W/nginx/stdout.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_http "$NGINX_URL/t/none" "$NGINX_PID"
  local first
  first=$(find "$W/static/t" -name '*.mvt' -print -quit)
  first="/t/${first#"$W/static/t/"}"
  curl -s -o /dev/null -H 'Accept-Encoding: gzip' -w '%{http_code} %{content_type}' "$NGINX_URL$first" \
    | grep -q '^200 application/vnd.mapbox-vector-tile' \
    || { echo "*** nginx does not serve $first (see $W/nginx/error.log)" >&2; exit 1; }
}


# ---------------------------------------------------------------- load tool
LUA="$W/tiles.lua"
cat > "$LUA" <<'EOF'
-- One connection per thread; thread i takes every CONNS-th path of the list (from i), walks it
-- `loops` times and stops. Counts statuses and body bytes; times the run with a monotonic clock
-- from the first request to the last response; the last thread to finish interrupts wrk's main
-- thread so the run ends at once. (Needs wrk built with LuaJIT, as Debian's is.)
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } tvb_timespec;
int clock_gettime(int clk, tvb_timespec *tp);
int kill(int pid, int sig);
int getpid(void);
uint64_t pthread_self(void);
]]
local function now()
  local t = ffi.new("tvb_timespec")
  ffi.C.clock_gettime(1, t)
  return tonumber(t.tv_sec) + tonumber(t.tv_nsec) * 1e-9
end

local threads, made = {}, 0
function setup(thread)
  thread:set("id", made)
  made = made + 1
  table.insert(threads, thread)
end

function init(args)
  local list, nthreads = args[1], tonumber(args[2])
  loops, donefile, nthreads_total = tonumber(args[3]), args[4], nthreads
  idle = wrk.format(nil, args[5])
  -- wrk calls request() once on the main thread to check the script; that call is not a request.
  main_thread = ffi.C.pthread_self()
  reqs = {}
  local i = 0
  for line in io.lines(list) do
    if line ~= "" then
      if i % nthreads == id then table.insert(reqs, wrk.format(nil, line)) end
      i = i + 1
    end
  end
  total = #reqs * loops
  k, n200, n204, nother, bytes, t0, t1 = 0, 0, 0, 0, 0, 0, 0
  finished = false
end

local function finish()
  finished = true
  t1 = now()
  local f = io.open(donefile, "a")
  f:write("x")
  f:close()
  f = io.open(donefile, "r")
  local n = #f:read("*a")
  f:close()
  if n >= nthreads_total then ffi.C.kill(ffi.C.getpid(), 2) end
  wrk.thread:stop()
end

function request()
  if ffi.C.pthread_self() == main_thread then return idle end
  k = k + 1
  if k == 1 then t0 = now() end
  if k > total then
    if not finished then finish() end
    return idle
  end
  return reqs[(k - 1) % #reqs + 1]
end

function response(status, headers, body)
  if status == 200 then
    n200 = n200 + 1
    bytes = bytes + #body
  elseif status == 204 then
    n204 = n204 + 1
  else
    nother = nother + 1
  end
end

function done(summary, latency, requests)
  local a, b, c200, c204, cother, sum = math.huge, 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    local s, e = t:get("t0"), t:get("t1")
    if s and s > 0 and s < a then a = s end
    if e and e > b then b = e end
    c200 = c200 + t:get("n200")
    c204 = c204 + t:get("n204")
    cother = cother + t:get("nother")
    sum = sum + t:get("bytes")
  end
  local e = summary.errors
  local secs = b - a
  io.write(string.format(
    "RESULT responses=%d secs=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.1f ok200=%d ok204=%d other=%d sockerr=%d bytes200=%d\n",
    c200 + c204 + cother, secs, (c200 + c204 + cother) / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    c200, c204, cother, e.connect + e.read + e.write + e.timeout, sum))
end
EOF

RESULTS="$W/results.txt" # server run list round requests rps p50 p99 errors n200 n204 other avg max secs
: > "$RESULTS"
run_load() { # server run list round base-url paths-file loops expected-200s-per-loop [extra header]
  local server="$1" run="$2" list="$3" round="$4" url="$5" paths="$6" loops="$7" want200="$8" idle
  local extra=(-H 'Accept-Encoding: gzip')
  if [ -n "${9:-}" ]; then extra+=(-H "$9"); fi
  local out="$W/wrk-$server-$run-$list-$round.log" done="$W/wrk.done" expected r line
  rm -f "$done"
  expected=$(($(wc -l < "$paths") * loops))
  # What a thread sends after its share (never read: the thread has stopped): an empty tile.
  idle=$(head -1 "$paths" | sed -E 's|[0-9]+/[0-9]+/[0-9]+(\.mvt)?$|16/0/0\1|')
  wrk -t"$CONNS" -c"$CONNS" -d3600s --timeout 300s "${extra[@]}" -s "$LUA" "$url" \
    -- "$paths" "$CONNS" "$loops" "$done" "$idle" \
    > "$out" 2>&1 || true
  if ! r=$(grep '^RESULT' "$out"); then
    cat "$out"
    fail "$server $run $list round $round: wrk printed no result"
    r="RESULT responses=0 secs=1 rps=0 p50_ms=0 p99_ms=0 max_ms=0 ok200=0 ok204=0 other=0 sockerr=0 bytes200=0"
  fi
  # errors = any status but 200/204 + socket errors + responses missing from the expected count
  line=$(echo "$r" | awk -v s="$server" -v run="$run" -v l="$list" -v round="$round" -v want="$expected" '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    missing = want - v["responses"]; if (missing < 0) missing = 0
    printf "%s %s %s %s %d %.1f %.3f %.3f %d %d %d %d %.0f %.1f %.3f\n", s, run, l, round, want, v["rps"],
      v["p50_ms"], v["p99_ms"], v["other"] + v["sockerr"] + missing, v["ok200"], v["ok204"],
      v["other"], (v["ok200"] ? v["bytes200"] / v["ok200"] : 0), v["max_ms"], v["secs"]
  }')
  echo "$line" >> "$RESULTS"
  echo "$line" | awk '{printf "   %s %s %s round %s: %d requests in %.2f s = %.0f req/s, p50 %.2f ms, p99 %.2f ms, max %.0f ms, errors %d (200: %d, 204: %d, other status: %d), avg 200 body %d B\n",
      $1, $2, $3, $4, $5, $15, $6, $7, $8, $14, $9, $10, $11, $12, $13}'
  read -r _ _ _ _ _ _ _ _ err n200 _ <<< "$line"
  [ "$err" = 0 ] || fail "$server $run $list round $round: $err errors (other status, socket errors or missing responses; see $out)"
  [ "$n200" = $((want200 * loops)) ] \
    || fail "$server $run $list round $round: $n200 tiles answered 200, expected $((want200 * loops)) (tile count mismatch)"
}

# ---------------------------------------------------------------- content: what each server sends
SERVERS=(citytwin)
MARTIN_KINDS=()
if [ "$WITH_MARTIN" = 1 ]; then
  # The basemap's work (simplify, drop sub-pixel areas) is a function's: table sources skipped.
  if [ "$DATA" = basemap ]; then MARTIN_KINDS=(function); else MARTIN_KINDS=(tables function); fi
fi
for kind in "${MARTIN_KINDS[@]}"; do SERVERS+=("martin-$kind"); done
C="$W/content"
rm -rf "$C" "$W/static"
mkdir -p "$C" "$W/static"
fetch_content() { # server base-url [header]: every tile of the list, raw into $C/server/z/x/y.mvt, and gzip
  local s="$1" url="$2" hdr=()
  if [ -n "${3:-}" ]; then hdr=(-H "$3"); fi
  sed "$(path_of "$s")" "$LIST" | paste -d' ' "$LIST" - | awk -v u="$url" -v d="$C/$s" \
    '{print "url = \"" u $2 "\""; print "output = \"" d "/" $1 ".mvt\""}' > "$C/$s.raw.cfg"
  # citytwin's gzip answers are kept: nginx serves them
  sed "$(path_of "$s")" "$LIST" | paste -d' ' "$LIST" - | awk -v u="$url" -v s="$s" -v d="$W/static/t" \
    '{print "url = \"" u $2 "\""; print "output = \"" (s == "citytwin" ? d "/" $1 ".mvt.gz" : "/dev/null") "\""}' > "$C/$s.gz.cfg"
  curl -s --create-dirs "${hdr[@]}" -K "$C/$s.raw.cfg" -w '%{http_code} %{size_download} %{url}\n' > "$C/$s.raw.txt"
  curl -s --create-dirs "${hdr[@]}" -H 'Accept-Encoding: gzip' -K "$C/$s.gz.cfg" -w '%{http_code} %{size_download} %{url}\n' > "$C/$s.gz.txt"
  find "$C/$s" -type f -size 0 -delete
  echo "   $s: $(awk '$1 == 200' "$C/$s.raw.txt" | wc -l) tiles 200, $(awk '$1 == 204' "$C/$s.raw.txt" | wc -l) 204, $(awk '$1 != 200 && $1 != 204' "$C/$s.raw.txt" | wc -l) other"
}
log "content: every tile of the list from every server (raw and gzip), decoded and compared"
start_citytwin
fetch_content citytwin "$CT_URL" "$CT_AUTH"
stop_pid "$CT_PID"
if [ "$WITH_MARTIN" = 1 ]; then
  for kind in "${MARTIN_KINDS[@]}"; do
    start_martin "$kind" 4096
    fetch_content "martin-$kind" "$MARTIN_URL"
    stop_pid "$MARTIN_PID"
  done
fi
# nginx's files: citytwin's raw and gzip answers. Empty tiles are 204: no file (nginx answers
# 204 for a missing file). A .gz that is not gzip (citytwin sent the tile uncompressed) is
# dropped: nginx then sends the raw file.
cp -r "$C/citytwin/." "$W/static/t/"
find "$W/static" -type f -size 0 -delete
find "$W/static" -name '*.gz' -type f | while read -r f; do
  [ "$(head -c2 "$f" | od -An -tx1 | tr -d ' ')" = 1f8b ] || rm -f "$f"
done
chmod -R a+rX "$W/static" # nginx's workers run as nobody
echo "   nginx's static files: $(find "$W/static" -name '*.mvt' | wc -l) tiles, $(find "$W/static" -name '*.gz' | wc -l) gzip variants, $(du -sh "$W/static" | cut -f1)"
IFS=, ; servers_csv="${SERVERS[*]}"; unset IFS
python3 benches/mvt_content.py --dir "$C" --list "$LIST" --servers "$servers_csv" \
  --candidates "${EQUAL_ZOOMS// /,}" --equal-out "$W/equal-zooms.txt" --markdown "$W/content.md" \
  --by "$([ "$DATA" = basemap ] && echo id || echo number)" \
  || fail "content pass: answers other than 200/204 (see $C/*.txt)"
if [ "$WITH_MARTIN" = 0 ]; then tr ' ' '\n' <<< "$EQUAL_ZOOMS" > "$W/equal-zooms.txt"; fi
# The two lists: equal content (the headline) and the rest.
awk -F/ 'FILENAME == ARGV[1] {eq[$1] = 1; next} ($1 in eq)' "$W/equal-zooms.txt" "$LIST" > "$W/tiles-equal.txt"
awk -F/ 'FILENAME == ARGV[1] {eq[$1] = 1; next} !($1 in eq)' "$W/equal-zooms.txt" "$LIST" > "$W/tiles-unequal.txt"
# 200s per list a server must give in every pass (nginx: citytwin's).
want200() { # server list
  local s="$1"
  [ "$s" = nginx ] && s=citytwin
  awk 'FILENAME == ARGV[1] {t[$1] = 1; next} $1 == 200 {n = split($3, p, "/"); z = p[n-2] "/" p[n-1] "/" p[n]; sub(/\.mvt$/, "", z); if (z in t) c++}
    END {print c + 0}' "$W/tiles-$2.txt" "$C/$s.raw.txt"
}
zooms_of() { cut -d/ -f1 "$1" | sort -n | uniq | awk '{printf "%sz%s", (NR > 1 ? "," : ""), $1}'; }
describe() { # list → "z15,z16: 2041 tiles, 337 with content, 1704 empty" (citytwin's answers)
  local n full
  n=$(wc -l < "$W/tiles-$1.txt")
  full=$(want200 citytwin "$1")
  echo "$(zooms_of "$W/tiles-$1.txt"): $n tiles, $full with content, $((n - full)) empty"
}
EQ_DESC=$(describe equal)
UNEQ_DESC=$(describe unequal)
echo "equal-content list: $EQ_DESC; unequal list: $UNEQ_DESC"
LISTS=()
[ -s "$W/tiles-equal.txt" ] && LISTS+=(equal)
[ -s "$W/tiles-unequal.txt" ] && LISTS+=(unequal)
[ -s "$W/tiles-equal.txt" ] || fail "no zoom of EQUAL_ZOOMS ($EQUAL_ZOOMS) has equal content: no headline"
for s in "${SERVERS[@]}" nginx; do
  for l in "${LISTS[@]}"; do sed "$(path_of "$s")" "$W/tiles-$l.txt" > "$W/paths-$s-$l.txt"; done
done
# For benches/tiles-cold-replay.sh: the whole list, and what it needs to know of this run.
cp "$LIST" "$W/tiles-all.txt"
sed "$(path_of citytwin)" "$LIST" > "$W/paths-citytwin-all.txt"
printf 'STORE=%q\nWIDTH=%q\nN=%q\nCONNS=%q\n' "$STORE" "$WIDTH" "$N" "$CONNS" > "$W/run.env"
for l in "${LISTS[@]}"; do
  for s in "${SERVERS[@]:1}"; do
    [ "$(want200 "$s" "$l")" = "$(want200 citytwin "$l")" ] \
      || fail "content pass, $l list: $s answered 200 for $(want200 "$s" "$l") tiles, citytwin for $(want200 citytwin "$l") (tile count mismatch)"
  done
done

# ---------------------------------------------------------------- the runs
for round in $(seq 1 "$ROUNDS"); do
  log "round $round: citytwin"
  start_citytwin
  echo "   (started: tile cache misses $(ct_metric citytwin_tile_cache_misses_total), hits $(ct_metric citytwin_tile_cache_hits_total))"
  for l in "${LISTS[@]}"; do
    run_load citytwin cold "$l" "$round" "$CT_URL" "$W/paths-citytwin-$l.txt" 1 "$(want200 citytwin "$l")" "$CT_AUTH"
  done
  echo "   after cold: tile cache misses $(ct_metric citytwin_tile_cache_misses_total), hits $(ct_metric citytwin_tile_cache_hits_total)"
  for l in "${LISTS[@]}"; do
    run_load citytwin warm "$l" "$round" "$CT_URL" "$W/paths-citytwin-$l.txt" "$WARM_LOOPS" "$(want200 citytwin "$l")" "$CT_AUTH"
  done
  echo "   after warm: tile cache misses $(ct_metric citytwin_tile_cache_misses_total), hits $(ct_metric citytwin_tile_cache_hits_total), entries $(ct_metric citytwin_tile_cache_entries), cache bytes $(ct_metric citytwin_tile_cache_bytes)"
  stop_pid "$CT_PID"

  if [ "$WITH_MARTIN" = 1 ]; then
    for kind in "${MARTIN_KINDS[@]}"; do
      s="martin-$kind"
      log "round $round: $s (cache off; $(pg_prewarm_all) MB prewarmed)"
      start_martin "$kind" 0
      for l in "${LISTS[@]}"; do
        run_load "$s" cold "$l" "$round" "$MARTIN_URL" "$W/paths-$s-$l.txt" 1 "$(want200 "$s" "$l")"
      done
      stop_pid "$MARTIN_PID"
      log "round $round: $s (cache 4096 MiB)"
      start_martin "$kind" 4096
      for l in "${LISTS[@]}"; do
        run_load "$s" prime "$l" "$round" "$MARTIN_URL" "$W/paths-$s-$l.txt" 1 "$(want200 "$s" "$l")"
        run_load "$s" warm "$l" "$round" "$MARTIN_URL" "$W/paths-$s-$l.txt" "$WARM_LOOPS" "$(want200 "$s" "$l")"
      done
      stop_pid "$MARTIN_PID"
    done
  fi

  log "round $round: nginx"
  start_nginx
  for l in "${LISTS[@]}"; do
    run_load nginx prime "$l" "$round" "$NGINX_URL" "$W/paths-nginx-$l.txt" 1 "$(want200 nginx "$l")"
    run_load nginx warm "$l" "$round" "$NGINX_URL" "$W/paths-nginx-$l.txt" "$WARM_LOOPS" "$(want200 nginx "$l")"
  done
  stop_pid "$NGINX_PID"
done

# ---------------------------------------------------------------- summary
echo
log "all runs: $CONNS connections, Accept-Encoding: gzip, warm = list x $WARM_LOOPS"
printf "%-16s %-5s %-8s %-5s %9s %10s %9s %9s %7s %8s %8s %9s\n" server run list round requests req/s "p50 ms" "p99 ms" errors "200s" "204s" "avg 200 B"
grep -v ' prime ' "$RESULTS" | sort -k3,3 -k2,2 -k1,1 -k4,4n -s | while read -r s run l round want rps p50 p99 err n200 n204 _ avg _; do
  printf "%-16s %-5s %-8s %-5s %9d %10.0f %9.2f %9.2f %7d %8d %8d %9d\n" "$s" "$run" "$l" "$round" "$want" "$rps" "$p50" "$p99" "$err" "$n200" "$n204" "$avg"
done
# One markdown table: per list, run and round, each server's rate and latency, and the ratios.
results_table() {
  awk -v goals="$1" '
    function cell(k) { if (!(k in rps)) return "—"; return sprintf("%s req/s, p50 %.2f ms, p99 %.2f ms", commas(rps[k]), p50[k], p99[k]) }
    function commas(x,   s, out) {
      s = sprintf("%.0f", x); out = ""
      while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
      return s out
    }
    function ratio(a, b) { return (a in rps && b in rps && rps[b] > 0) ? sprintf("%.2f×", rps[a] / rps[b]) : "—" }
    $2 != "prime" { k = $3 SUBSEP $2 SUBSEP $4 SUBSEP $1; rps[k] = $6; p50[k] = $7; p99[k] = $8; seen[$3 SUBSEP $2 SUBSEP $4] = 1 }
    END {
      print "| tiles | run | round | citytwin | martin (tables) | martin (function) | nginx (citytwin'"'"'s bytes) | citytwin ÷ martin tables / function | citytwin ÷ nginx |"
      print "|---|---|---|---|---|---|---|---|---|"
      n = split("equal unequal", lists, " ")
      for (i = 1; i <= n; i++) for (r = 1; r <= 1000; r++) for (j = 1; j <= 2; j++) {
        run = (j == 1 ? "cold" : "warm"); key = lists[i] SUBSEP run SUBSEP r
        if (!(key in seen)) continue
        c = key SUBSEP "citytwin"; mt = key SUBSEP "martin-tables"; mf = key SUBSEP "martin-function"; ng = key SUBSEP "nginx"
        g1 = (goals && lists[i] == "equal" && run == "cold") ? " (goal ≥ 5×)" : ""
        g2 = (goals && lists[i] == "equal" && run == "warm") ? " (goal ≥ 0.9×)" : ""
        printf "| %s | %s | %d | %s | %s | %s | %s | %s / %s%s | %s%s |\n", lists[i], run, r, cell(c), cell(mt), cell(mf), cell(ng),
          ratio(c, mt), ratio(c, mf), g1, (run == "warm" ? ratio(c, ng) : "—"), g2
      }
    }' "$RESULTS"
}
echo
log "ratios (same round)"
# The goals (cold ≥ 5× martin, warm ≥ 0.9× nginx) are the point city's (issue 16).
GOALS=1
[ "$DATA" = city ] || GOALS=0
results_table "$GOALS"

summary_head tiles-vs-martin "$CMD"
ZR="z${ZOOMS%% *}–z${ZOOMS##* }"
[ "$ZOOMS" = "12 14" ] && ZR="z12 and z14"
if [ "$DATA" = basemap ]; then
  echo "Basemap: Helsinki's OSM extract (data/osm) laid ${GRID} × ${GRID} times side by side, $(awk '{s += $2} END {print s}' "$W/layer-counts.txt") areas and lines ($(awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}' "$W/layer-counts.txt")); $NT tiles ($ZR over a ${BOX_KM} km box at the centre), the eight layers as one composite tile; wrk with $CONNS connections, \`Accept-Encoding: gzip\`; cold = each tile once (citytwin fresh, martin's cache off, PostgreSQL prewarmed), warm = the list × $WARM_LOOPS after a filling pass. martin: its function source only (the same simplification and sub-pixel filter as citytwin; table sources cannot do them)."
else
  echo "Synthetic city of $N objects; $NT tiles ($ZR over a ${BOX_KM} km box at the centre), the seven point layers as one composite tile; wrk with $CONNS connections, \`Accept-Encoding: gzip\`; cold = each tile once (citytwin fresh, martin's cache off, PostgreSQL prewarmed), warm = the list × $WARM_LOOPS after a filling pass."
fi
if [ "$WITH_MARTIN" = 1 ]; then
  echo "PostgreSQL: $PG_SETTINGS; martin $MARTIN_VERSION."
fi
echo
if [ "$DATA" = basemap ]; then
  echo "**Equal content** ($EQ_DESC; the same features on every server, checked by their ids: those in one server's tile and not in the other's within 2% of the features):"
else
  echo "**Equal content** ($EQ_DESC; in every tile the same objects on every server, checked by their numbers, and the features in the tiles' buffers within 2%):"
fi
echo
results_table "$GOALS" | awk -F'|' 'NR <= 2 || $2 ~ /equal/ && $2 !~ /unequal/'
echo
if [ -s "$W/tiles-unequal.txt" ]; then
  if [ "$DATA" = basemap ]; then
    echo "**Unequal content** ($UNEQ_DESC; the features differ by more than 2% — not the same work):"
  else
    echo "**Unequal content** ($UNEQ_DESC; citytwin clusters points below a layer's minimum zoom and above 4,000 points a tile, martin sends every point — not the same work):"
  fi
  echo
  results_table 0 | awk -F'|' 'NR <= 2 || $2 ~ /unequal/'
  echo
fi
echo "Content per zoom (features summed over the zoom's tiles; average sizes of the 200 answers, raw / gzip, and raw against citytwin):"
echo
cat "$W/content.md"
total_err=$(grep -v ' prime ' "$RESULTS" | awk '{e += $9} END {print e + 0}')
echo
echo "Errors in the measured runs: $total_err."
finish
