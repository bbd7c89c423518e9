#!/usr/bin/env bash
# Tile serving under load: citytwin vs martin 1.14.0 (PostGIS) vs nginx (static files), on the
# same machine in the same run, with the same tile list, the same load tool and settings.
#
#   cold  every tile of the list requested once: citytwin freshly started (empty tile cache),
#         martin with its tile cache off (`cache: disable`) — the cost of making a tile
#   warm  the list repeated WARM_LOOPS times with both caches on, after one pass that fills them
#         (citytwin: the cold run; martin and nginx: an unmeasured priming pass);
#         nginx serves the same tiles pre-rendered (fetched from citytwin) as static files, with
#         gzip_static and open_file_cache — the physical limit for a cached tile
#
# Tile list: every z10..z16 tile that covers a BOX_KM x BOX_KM box around the city's centre (the
# centre of the layers' bbox from citytwin's /layers). Layers: the synthetic city's seven point
# layers as one composite tile (citytwin /tiles/a,b,.../z/x/y.mvt, martin /a,b,.../z/x/y).
# Every server gets `Accept-Encoding: gzip`. Load tool: wrk (Debian) with a Lua script in which
# each of CONNS threads has one connection and walks its own share of the list, so in the cold
# run every tile is asked exactly once; the run ends when every share is done. Every response is
# checked: 200 and 204 count as good, any other status, socket error or missing response is an
# error.
#
# Note on content: citytwin clusters points below a layer's min zoom (poles/manholes 14, trees 15,
# cameras/cabinets/fibre 13, wifi 12, shelters 11) and wherever a tile has more than point_cap
# (4000) points; martin sends every point. Low-zoom tiles are therefore much smaller and cheaper
# from citytwin; z15-z16 tiles hold the same points on both.
#
# Usage: benches/tiles-vs-martin.sh WORKDIR
#   env: N (objects, 1000000), CONNS (8), ROUNDS (2: every phase is run this many times),
#        WARM_LOOPS (20), BOX_KM (16), CT_PORT/MARTIN_PORT/NGINX_PORT (18081/18082/18083),
#        PGHOST/PGPORT/PGUSER (127.0.0.1/5432/postgres), PGDB (citytwin_bench),
#        WITH_MARTIN (1; 0 skips PostGIS and martin: citytwin vs nginx only)
#
# Needs (installed here when missing, each install echoed): wrk, nginx and postgresql-15-postgis-3
# from Debian (apt-get), martin 1.14.0 from crates.io (cargo install --locked into
# WORKDIR/martin, ~20 min on 2 cores; built with `--no-default-features --features postgres`:
# the default `rendering` feature clones maplibre-native from GitHub in its build script, and the
# other features are for sources not used here), a running PostgreSQL 15 with trust auth for
# PGUSER on PGHOST, curl, jq, awk, bc. Everything it makes (city CSV, stores, tiles, logs) stays in WORKDIR;
# reruns reuse the CSV, the store, the PostGIS tables and the martin build.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 WORKDIR" >&2
  exit 2
fi
mkdir -p "$1"
W="$(cd "$1" && pwd)"
N="${N:-1000000}"
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
WITH_MARTIN="${WITH_MARTIN:-1}"
export PGHOST PGPORT PGUSER PGOPTIONS="${PGOPTIONS:--c client_min_messages=warning}"
LAYERS="poles,manholes,trees,cameras,cabinets,wifi,shelters"
MARTIN_VERSION=1.14.0

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
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
MARTIN="$W/martin/bin/martin"
if [ "$WITH_MARTIN" = 1 ] && { ! [ -x "$MARTIN" ] || ! "$MARTIN" --version | grep -q "$MARTIN_VERSION"; }; then
  log "INSTALLING martin $MARTIN_VERSION with cargo into $W/martin (long)"
  CARGO_TARGET_DIR="$W/martin-target" cargo install martin --version "$MARTIN_VERSION" --locked \
    --no-default-features --features postgres --root "$W/martin"
fi
log "building citytwin (release)"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/citytwin"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(wrk -v 2>&1 | sed -n 1p)"
echo "nginx: $(/usr/sbin/nginx -v 2>&1)"
if [ "$WITH_MARTIN" = 1 ]; then
  echo "martin: $("$MARTIN" --version); postgres: $(psql -d postgres -tAc 'select version()' | cut -d, -f1)"
else
  echo "*** WITH_MARTIN=0: martin and PostGIS are skipped"
fi

# ---------------------------------------------------------------- helpers
now() { date +%s.%N; }
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
wait_http() { # url → waits until it answers (up to 10 min)
  for _ in $(seq 1 6000); do
    curl -fs -o /dev/null "$1" && return 0
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
if [ "$N" -gt 800000 ]; then export CITYTWIN_SERIAL_WIDTH=7; fi
if [ ! -f "$CSV" ]; then
  log "generating $N objects"
  if [ "$N" -gt 800000 ]; then
    "$BIN" generate --objects "$N" --width 7 --out "$CSV.tmp"
  else
    "$BIN" generate --objects "$N" --out "$CSV.tmp"
  fi
  mv "$CSV.tmp" "$CSV"
fi
if [ ! -f "$STORE" ]; then
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
  wait_http "$CT_URL/health"
}
ct_metric() { curl -s -H "Authorization: Bearer $ADMIN" "$CT_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# ---------------------------------------------------------------- tile list
log "tile list"
start_citytwin
curl -s -H "$CT_AUTH" "$CT_URL/layers" > "$W/layers.json"
jq -r --arg l "$LAYERS" '($l | split(",")) as $want | .[] | select(.name as $n | $want | index($n))
  | "\(.name) \(.count)"' "$W/layers.json" > "$W/layer-counts.txt"
read -r CLON CLAT < <(jq -r --arg l "$LAYERS" '[.[] | select(.name as $n | ($l | split(",")) | index($n))
  | .bbox] | [(map(.[0]) | min), (map(.[1]) | min), (map(.[2]) | max), (map(.[3]) | max)]
  | "\((.[0] + .[2]) / 2) \((.[1] + .[3]) / 2)"' "$W/layers.json")
stop_pid "$CT_PID"
echo "city centre: $CLON $CLAT; box ${BOX_KM} km x ${BOX_KM} km; layers: $LAYERS"
LIST="$W/tiles.txt" # z/x/y, one a line
awk -v lon="$CLON" -v lat="$CLAT" -v km="$BOX_KM" 'BEGIN {
  pi = atan2(0, -1)
  dlat = km / 2 / 111.32; dlon = dlat / cos(lat * pi / 180)
  for (z = 10; z <= 16; z++) {
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
# The same list for each server (their URL schemes differ only in the prefix).
sed "s|^|/tiles/$LAYERS/|; s|\$|.mvt|" "$LIST" > "$W/paths-citytwin.txt"
sed "s|^|/$LAYERS/|" "$LIST" > "$W/paths-martin.txt"
sed "s|^|/t/|; s|\$|.mvt|" "$LIST" > "$W/paths-nginx.txt"

# ---------------------------------------------------------------- PostGIS
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
  if [ "$pg_ok" = 0 ]; then
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
        echo "analyze public.$l;"
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
fi

# ---------------------------------------------------------------- martin
martin_config() { # cache MiB → config file
  local f="$W/martin-cache$1.yaml"
  {
    echo "listen_addresses: '127.0.0.1:$MARTIN_PORT'"
    if [ "$1" = 0 ]; then
      echo "cache: disable"
    else
      printf 'cache:\n  size_mb: %s\n  tile_size_mb: %s\n' "$1" "$1"
    fi
    echo "postgres:"
    echo "  connection_string: 'postgresql://$PGUSER@$PGHOST:$PGPORT/$PGDB'"
    echo "  auto_publish: false"
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
  } > "$f"
  echo "$f"
}
MARTIN_URL="http://127.0.0.1:$MARTIN_PORT"
MARTIN_PID=""
start_martin() { # cache MiB
  "$MARTIN" --config "$(martin_config "$1")" > "$W/martin.log" 2>&1 &
  MARTIN_PID=$!
  PIDS+=("$MARTIN_PID")
  wait_http "$MARTIN_URL/health"
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
  wait_http "$NGINX_URL/t/none"
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

RESULTS="$W/results.txt"
: > "$RESULTS"
run_load() { # server run round base-url paths-file loops [extra header]
  local server="$1" run="$2" round="$3" url="$4" paths="$5" loops="$6" idle
  local extra=(-H 'Accept-Encoding: gzip')
  if [ -n "${7:-}" ]; then extra+=(-H "$7"); fi
  local out="$W/wrk-$server-$run-$round.log" done="$W/wrk.done" expected r
  rm -f "$done"
  expected=$(( $(wc -l < "$paths") * loops ))
  # What a thread sends after its share (never read: the thread has stopped): an empty tile.
  idle=$(head -1 "$paths" | sed -E 's|[0-9]+/[0-9]+/[0-9]+(\.mvt)?$|16/0/0\1|')
  wrk -t"$CONNS" -c"$CONNS" -d3600s --timeout 300s "${extra[@]}" -s "$LUA" "$url" \
    -- "$paths" "$CONNS" "$loops" "$done" "$idle" \
    > "$out" 2>&1
  r=$(grep '^RESULT' "$out") || { cat "$out"; echo "*** wrk failed" >&2; exit 1; }
  # errors = any status but 200/204 + socket errors + responses missing from the expected count
  echo "$r" | awk -v s="$server" -v run="$run" -v round="$round" -v want="$expected" '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    missing = want - v["responses"]; if (missing < 0) missing = 0
    printf "%s %s %s %d %.1f %.3f %.3f %d %d %d %d %.0f %.1f %.3f\n", s, run, round, want, v["rps"],
      v["p50_ms"], v["p99_ms"], v["other"] + v["sockerr"] + missing, v["ok200"], v["ok204"],
      v["other"], (v["ok200"] ? v["bytes200"] / v["ok200"] : 0), v["max_ms"], v["secs"]
  }' | tee -a "$RESULTS" | awk '{printf "   %s %s round %s: %d requests in %.2f s = %.0f req/s, p50 %.2f ms, p99 %.2f ms, max %.0f ms, errors %d (200: %d, 204: %d, other status: %d), avg 200 body %d B\n",
      $1, $2, $3, $4, $14, $5, $6, $7, $13, $8, $9, $10, $11, $12}'
}

# ---------------------------------------------------------------- the runs
for round in $(seq 1 "$ROUNDS"); do
  log "round $round: citytwin"
  start_citytwin
  echo "   (started: tile cache misses $(ct_metric citytwin_tile_cache_misses_total), hits $(ct_metric citytwin_tile_cache_hits_total))"
  run_load citytwin cold "$round" "$CT_URL" "$W/paths-citytwin.txt" 1 "$CT_AUTH"
  echo "   after cold: tile cache misses $(ct_metric citytwin_tile_cache_misses_total), hits $(ct_metric citytwin_tile_cache_hits_total)"
  run_load citytwin warm "$round" "$CT_URL" "$W/paths-citytwin.txt" "$WARM_LOOPS" "$CT_AUTH"
  echo "   after warm: tile cache misses $(ct_metric citytwin_tile_cache_misses_total), hits $(ct_metric citytwin_tile_cache_hits_total), entries $(ct_metric citytwin_tile_cache_entries), cache bytes $(ct_metric citytwin_tile_cache_bytes)"
  if [ "$round" = 1 ]; then
    log "pre-rendering the list from citytwin into $W/static (raw and gzip), sizes per zoom"
    rm -rf "$W/static"
    mkdir -p "$W/static/t"
    awk -v u="$CT_URL" -v l="$LAYERS" -v d="$W/static/t" '{
      print "url = \"" u "/tiles/" l "/" $0 ".mvt\""; print "output = \"" d "/" $0 ".mvt\""
    }' "$LIST" > "$W/curl-raw.cfg"
    awk -v u="$CT_URL" -v l="$LAYERS" -v d="$W/static/t" '{
      print "url = \"" u "/tiles/" l "/" $0 ".mvt\""; print "output = \"" d "/" $0 ".mvt.gz\""
    }' "$LIST" > "$W/curl-gz.cfg"
    curl -s --create-dirs -H "$CT_AUTH" -K "$W/curl-raw.cfg" -w '%{http_code} %{size_download} %{url}\n' > "$W/sizes-citytwin-raw.txt"
    curl -s --create-dirs -H "$CT_AUTH" -H 'Accept-Encoding: gzip' -K "$W/curl-gz.cfg" -w '%{http_code} %{size_download} %{url}\n' > "$W/sizes-citytwin-gzip.txt"
    # Empty tiles are 204: no file (nginx answers 204 for a missing file). A .gz that is not
    # gzip (citytwin sent the tile uncompressed) is dropped: nginx then sends the raw file.
    find "$W/static" -type f -size 0 -delete
    find "$W/static" -name '*.gz' -type f | while read -r f; do
      [ "$(head -c2 "$f" | od -An -tx1 | tr -d ' ')" = 1f8b ] || rm -f "$f"
    done
    chmod -R a+rX "$W/static" # nginx's workers run as nobody
    echo "   static files: $(find "$W/static" -name '*.mvt' | wc -l) tiles, $(find "$W/static" -name '*.gz' | wc -l) gzip variants, $(du -sh "$W/static" | cut -f1)"
  fi
  stop_pid "$CT_PID"

  if [ "$WITH_MARTIN" = 1 ]; then
    log "round $round: martin (cache off)"
    psql -q -d "$PGDB" -tAc "select sum(pg_prewarm('public.' || t)) from unnest(string_to_array('$LAYERS', ',')) t" > /dev/null
    start_martin 0
    run_load martin cold "$round" "$MARTIN_URL" "$W/paths-martin.txt" 1
    stop_pid "$MARTIN_PID"
    log "round $round: martin (cache 4096 MiB)"
    start_martin 4096
    run_load martin prime "$round" "$MARTIN_URL" "$W/paths-martin.txt" 1
    run_load martin warm "$round" "$MARTIN_URL" "$W/paths-martin.txt" "$WARM_LOOPS"
    if [ "$round" = 1 ]; then
      awk -v u="$MARTIN_URL" -v l="$LAYERS" '{ print "url = \"" u "/" l "/" $0 "\""; print "output = \"/dev/null\"" }' \
        "$LIST" > "$W/curl-martin.cfg"
      curl -s -K "$W/curl-martin.cfg" -w '%{http_code} %{size_download} %{url}\n' > "$W/sizes-martin-raw.txt"
      curl -s -H 'Accept-Encoding: gzip' -K "$W/curl-martin.cfg" -w '%{http_code} %{size_download} %{url}\n' > "$W/sizes-martin-gzip.txt"
    fi
    stop_pid "$MARTIN_PID"
  fi

  log "round $round: nginx"
  start_nginx
  run_load nginx prime "$round" "$NGINX_URL" "$W/paths-nginx.txt" 1
  run_load nginx warm "$round" "$NGINX_URL" "$W/paths-nginx.txt" "$WARM_LOOPS"
  stop_pid "$NGINX_PID"
done

# ---------------------------------------------------------------- summary
echo
log "tile sizes (bytes; 200 responses only; from one curl pass per server and encoding)"
touch "$W/sizes-martin-raw.txt" "$W/sizes-martin-gzip.txt"
printf "%-6s %6s %7s %7s" zoom tiles "ct 204" "mn 204"
printf " %12s %12s %12s %12s %12s %12s\n" "ct raw avg" "ct gz avg" "martin raw" "martin gz" "ct raw max" "martin raw max"
for z in 10 11 12 13 14 15 16 all; do
  awk -v z="$z" -v f="$W/sizes-citytwin-raw.txt" 'function zoom(u,  p, k) { k = split(u, p, "/"); return p[k-2] }
    FNR == 1 { file++ }
    { if (z != "all" && zoom($3) != z) next; tiles[file]++
      if ($1 == 200) { n[file]++; s[file] += $2; if ($2 > mx[file]) mx[file] = $2 } else if ($1 == 204) e[file]++ }
    END { printf "%-6s %6d %7d %7d %12.0f %12.0f %12.0f %12.0f %12d %12d\n", z, tiles[1], e[1], e[3],
      n[1] ? s[1]/n[1] : 0, n[2] ? s[2]/n[2] : 0, n[3] ? s[3]/n[3] : 0, n[4] ? s[4]/n[4] : 0, mx[1], mx[3] }' \
    "$W/sizes-citytwin-raw.txt" "$W/sizes-citytwin-gzip.txt" "$W/sizes-martin-raw.txt" "$W/sizes-martin-gzip.txt"
done
bad=$(cat "$W"/sizes-*.txt | awk '$1 != 200 && $1 != 204' | wc -l)
echo "size passes: responses other than 200/204: $bad"

echo
log "summary: $NT tiles (z10-z16, ${BOX_KM} km box at the centre), $CONNS connections, Accept-Encoding: gzip, warm = list x $WARM_LOOPS"
printf "%-9s %-5s %-5s %9s %10s %9s %9s %7s %8s %8s %9s\n" server run round requests req/s "p50 ms" "p99 ms" errors "200s" "204s" "avg 200 B"
grep -v ' prime ' "$RESULTS" | sort -k2,2 -k1,1 -k3,3n -s | while read -r s run round want rps p50 p99 err n200 n204 _ avg _; do
  printf "%-9s %-5s %-5s %9d %10.0f %9.2f %9.2f %7d %8d %8d %9d\n" "$s" "$run" "$round" "$want" "$rps" "$p50" "$p99" "$err" "$n200" "$n204" "$avg"
done
# The same list must give the same empty tiles everywhere (a server answering 204 for a tile
# another one has is not serving the same data).
awk '$2 != "prime" {k = $2 " " $3; if (k in c && c[k] != $9) bad = bad "\n*** " $2 " round " $3 ": " $1 " answered " $9 " x 200, " w[k] " answered " c[k]; c[k] = $9; w[k] = $1}
  END {printf "%s", bad}' "$RESULTS" | sed '/^$/d' >&2 || true
echo
log "ratios (same round)"
for round in $(seq 1 "$ROUNDS"); do
  get() { awk -v s="$1" -v r="$2" -v n="$round" '$1 == s && $2 == r && $3 == n {print $5}' "$RESULTS"; }
  ctc=$(get citytwin cold); mc=$(get martin cold); ctw=$(get citytwin warm); mw=$(get martin warm); nw=$(get nginx warm)
  if [ "$WITH_MARTIN" = 1 ]; then
    printf "round %s: citytwin/martin cold %.2fx (goal >= 20), citytwin/martin warm %.2fx (goal >= 1), citytwin/nginx warm %.2fx (goal >= 0.5)\n" \
      "$round" "$(echo "$ctc / $mc" | bc -l)" "$(echo "$ctw / $mw" | bc -l)" "$(echo "$ctw / $nw" | bc -l)"
  else
    printf "round %s: citytwin/nginx warm %.2fx (goal >= 0.5); martin not run\n" "$round" "$(echo "$ctw / $nw" | bc -l)"
  fi
done
total_err=$(grep -v ' prime ' "$RESULTS" | awk '{e += $8} END {print e + 0}')
echo "errors in measured runs: $total_err"
