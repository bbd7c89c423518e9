#!/usr/bin/env bash
# An air-raid alert on loopback: residents open the shelter map (its tiles) and ask for the
# nearest shelter, ramped up, against the deployment of deploy/loopback.sh — citytwin on
# PostGIS behind nginx (load balancer and tile cache) — with 1 instance and then with 2 over
# the same database. wrk on the same machine.
#
# Two lists, each asked in turn from random starting points:
#   alert    what phones ask: 10 shelter-layer tiles (z13–z16 over the city's shelters, the
#            versioned URLs the map uses, so nginx caches them) for every `/shelters/nearest`
#            (k=3, from 2,000 positions near shelters that have streets around them);
#   nearest  `/shelters/nearest` alone: the instances' own work, which the cache cannot take.
#
# Usage: benches/alert-spike.sh [WORKDIR]   env: STEPS (connections, "16 64 256"),
#        DURATION (s per step, 10), EDGES and SHELTERS (the generated city of
#        benches/shelters-load.sh: 100,000 street pieces, 3,000 shelters), PGURL and DB (as
#        deploy/loopback.sh; DB default citytwin_spike, made anew and imported into)
# The run FAILS (exit 1) on any answer that is not 2xx, any socket error, or an empty run.
set -euo pipefail
W="${1:-/tmp/citytwin-spike}"
STEPS="${STEPS:-16 64 256}"
DURATION="${DURATION:-10}"
export DB="${DB:-citytwin_spike}"
export PGURL="${PGURL:-postgresql://postgres@127.0.0.1:5432}"
EDGES="${EDGES:-100000}"
SHELTERS="${SHELTERS:-3000}"
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk; }
[ -x /usr/sbin/nginx ] || { echo "installing nginx"; apt-get install -y -qq nginx; }
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
CMD="benches/alert-spike.sh $W"
[ "$STEPS" = "16 64 256" ] || CMD="STEPS=\"$STEPS\" $CMD"
[ "$DURATION" = 10 ] || CMD="DURATION=$DURATION $CMD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q --bin citytwin
export BIN="$CARGO_TARGET_DIR/release/citytwin"
mkdir -p "$W"
PORT1=18500
PORT2=18600
cleanup() {
  PORT=$PORT1 deploy/loopback.sh down "$W/one" >/dev/null 2>&1 || true
  PORT=$PORT2 deploy/loopback.sh down "$W/two" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

# The city: the generated street grid and shelters of benches/shelters-load.sh, imported
# into a new PostGIS database.
CITY="$W/walk-$EDGES-$SHELTERS"
[ -f "$CITY/shelters.geojson" ] || "$BIN" generate-walk --edges "$EDGES" --shelters "$SHELTERS" --out "$CITY"
psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql "$PGURL/postgres" -qc "CREATE DATABASE $DB"
psql "$PGURL/$DB" -qc "CREATE EXTENSION postgis"
t0=$(now)
CITYTWIN_LOG=warn "$BIN" --postgres "$PGURL/$DB" import --layer streets "$CITY/streets.geojson" >/dev/null
CITYTWIN_LOG=warn "$BIN" --postgres "$PGURL/$DB" import --layer shelters "$CITY/shelters.geojson" >/dev/null
IMPORT_S=$(echo "$(now) - $t0" | bc)
echo "imported $EDGES street pieces and $SHELTERS shelters into PostGIS in ${IMPORT_S} s"

# The lists, from the first deployment's answers.
CITYTWIN_LOG=warn SEED=none INSTANCES=1 PORT=$PORT1 deploy/loopback.sh up "$W/one"
URL="http://127.0.0.1:$PORT1"
python3 - "$URL" "$W" <<'PY'
import json, math, random, sys, urllib.parse, urllib.request
url, w = sys.argv[1], sys.argv[2]
get = lambda p: json.load(urllib.request.urlopen(url + p))
shelters = [s for s in get("/shelters/list")["features"]]
pts = [s["geometry"]["coordinates"] for s in shelters]
if len(pts) < 10:
    sys.exit(f"only {len(pts)} shelters in the store")
# Residents where the city has its streets: shelters from whose own position a walking route
# is found (the demo city's street extract covers part of its shelter list).
random.seed(11)
walkable = []
for lon, lat in random.sample(pts, min(len(pts), 300)):
    a = get(f"/shelters/nearest?lat={lat:.6f}&lon={lon:.6f}&k=1")
    if a["routing"] == "walking":
        walkable.append((lon, lat))
if len(walkable) < 20:
    sys.exit(f"only {len(walkable)} shelters with streets around them")
pts = walkable
tj = get("/tiles/shelters.json")
parts = urllib.parse.urlsplit(tj["tiles"][0])
template = parts.path + (f"?{parts.query}" if parts.query else "")
version = parts.query
lo = [min(p[0] for p in pts), min(p[1] for p in pts)]
hi = [max(p[0] for p in pts), max(p[1] for p in pts)]
def tile(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y
tiles = []
for z in range(13, 17):
    x0, y1 = tile(lo[0], lo[1], z)
    x1, y0 = tile(hi[0], hi[1], z)
    tiles += [template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
              for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
random.shuffle(tiles)
tiles = tiles[:4000]
near = []
for _ in range(2000):
    lon, lat = random.choice(pts)
    lon += random.uniform(-0.001, 0.001); lat += random.uniform(-0.0007, 0.0007)
    near.append(f"/shelters/nearest?lat={lat:.6f}&lon={lon:.6f}&k=3")
with open(f"{w}/nearest.paths", "w") as f:
    f.write("\n".join(near) + "\n")
with open(f"{w}/alert.paths", "w") as f:
    for i, n in enumerate(near):
        for k in range(10):
            f.write(tiles[(i * 10 + k) % len(tiles)] + "\n")
        f.write(n + "\n")
print(f"{len(walkable)} shelters with streets around them (of 300 tried); {len(tiles)} tiles (z13–z16, {version or 'unversioned'}); 2000 positions")
PY
# Every question answers before any load: nearest with a walked route, tiles 200 or 204.
checked=0
while read -r u; do
  code=$(curl -s -o "$W/answer" -w '%{http_code}' "$URL$u")
  case "$u" in
    /shelters/nearest*)
      [ "$code" = 200 ] || fail "$u answered $code: $(head -c 200 "$W/answer")"
      python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); sys.exit(0 if a["shelters"] and a["shelters"][0]["routing"] == "walking" else 1)' "$W/answer" \
        || fail "$u routed no shelter: $(head -c 300 "$W/answer")" ;;
    *) [ "$code" = 200 ] || [ "$code" = 204 ] || fail "$u answered $code" ;;
  esac
  checked=$((checked + 1))
done < <(head -n 110 "$W/alert.paths")
[ ${#FAILS[@]} = 0 ] || finish
echo "checked $checked questions before the load"

declare -A R
run_steps() { # NAME URL
  local name="$1" url="$2" list c rps p50 p99 req bad sock
  for list in alert nearest; do
    for c in $STEPS; do
      # Warm: the instances' walking graph and nginx's cache, unmeasured.
      PATHS="$W/$list.paths" wrk -t2 -c"$c" -d2s -s benches/paths.lua "$url" > /dev/null 2>&1 || true
      PATHS="$W/$list.paths" wrk -t2 -c"$c" -d"${DURATION}s" --latency -s benches/paths.lua "$url" > "$W/wrk.txt" 2>&1
      read -r rps p50 p99 req bad sock < <(wrk_stats "$W/wrk.txt")
      printf '%-8s %-8s %4s connections: %10s req/s  p50 %8s  p99 %8s  requests %s  errors %s  socket errors %s\n' \
        "$name" "$list" "$c" "$rps" "$p50" "$p99" "$req" "$bad" "$sock"
      [ "$bad" = 0 ] || fail "$name, $list, $c connections: $bad of $req answers had status >= 400"
      [ "$sock" = 0 ] || fail "$name, $list, $c connections: $sock socket errors"
      [ "$req" != 0 ] || fail "$name, $list, $c connections: no request done"
      R[$name,$list,$c]="$rps $p50 $p99 $bad"
    done
  done
}
echo "== 1 instance behind nginx"
run_steps 1 "$URL"
PORT=$PORT1 deploy/loopback.sh down "$W/one" >/dev/null
echo "== 2 instances behind nginx"
CITYTWIN_LOG=warn SEED=none INSTANCES=2 PORT=$PORT2 deploy/loopback.sh up "$W/two"
run_steps 2 "http://127.0.0.1:$PORT2"
PORT=$PORT2 deploy/loopback.sh down "$W/two" >/dev/null

summary_head alert-spike "$CMD"
echo "A generated city of $EDGES street pieces and $SHELTERS shelters on PostGIS ($PGURL/$DB) behind nginx 1.22 (least_conn, keep-alive, tile cache) as deploy/loopback.sh sets it up; wrk with 2 threads on the same machine, $DURATION s per step after 2 s unmeasured; \`alert\`: 10 shelter-layer tiles (versioned URLs, cached by nginx) per \`/shelters/nearest\` (k=3); \`nearest\`: \`/shelters/nearest\` alone."
echo
echo "| list | connections | 1 instance | 2 instances | 2 ÷ 1 | errors |"
echo "|---|---|---|---|---|---|"
for list in alert nearest; do
  for c in $STEPS; do
    read -r r1 a1 b1 e1 <<< "${R[1,$list,$c]}"
    read -r r2 a2 b2 e2 <<< "${R[2,$list,$c]}"
    ratio=$(awk -v a="$r2" -v b="$r1" 'BEGIN {printf (b > 0 ? "%.2f×" : "-"), a / b}')
    printf '| %s | %s | %.0f req/s, p50 %s, p99 %s | %.0f req/s, p50 %s, p99 %s | %s | %s |\n' \
      "$list" "$c" "$r1" "$a1" "$b1" "$r2" "$a2" "$b2" "$ratio" "$((e1 + e2))"
  done
done
echo
echo "Machine: $(nproc) cores shared by wrk, nginx, PostgreSQL and the instances."
finish
