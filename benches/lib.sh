# shellcheck shell=bash
# Shell helpers shared by the benchmark scripts (sourced, not run).

now() { date +%s.%N; }

# Writes dirty pages and drops the OS page cache when allowed (root); returns 1 when not.
drop_caches() {
  sync
  [ -w /proc/sys/vm/drop_caches ] || return 1
  echo 3 > /proc/sys/vm/drop_caches
}

# The same memory state before each run: the page cache dropped, then FILE read once so that
# every program finds it cached. On a VM whose free memory is spent on old page cache, the next
# program pays for reclaiming it: the first 10M run on 2026-11-26 without this took 77 s
# (ogr2ogr 42 s) against 33–37 s.
settle() {
  drop_caches || true
  cat "$1" > /dev/null
}

# serve_once BIN STORE LOG: starts `BIN serve` on STORE, waits until it listens, stops it;
# prints "seconds rss_kb" (nothing, and returns 1, if the server stops first). LOG keeps what
# the server printed.
serve_once() {
  local bin="$1" store="$2" log="$3" t0 t1 pid rss
  # A log left by an earlier start would say "listening" before this server does.
  rm -f "$log"
  t0=$(now)
  CITYTWIN_LOG="${CITYTWIN_LOG:-citytwin=info}" "$bin" --store "$store" serve \
    --bind 127.0.0.1:0 --seed none > "$log" 2>&1 &
  pid=$!
  until grep -q "listening on" "$log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "*** $bin serve on $store stopped before listening:" >&2
      tail -n 5 "$log" >&2
      return 1
    fi
    sleep 0.05
  done
  t1=$(now)
  rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  echo "$(echo "$t1 - $t0" | bc) $rss"
}

# basemap_store BIN W GRID LAYERS STORE: the basemap citytwin imports from Helsinki's OSM
# extract (data/osm), its LAYERS (comma-separated) exported as GeoJSON, laid GRID x GRID times
# side by side (benches/basemap_grid.py) and imported into STORE (a GeoPackage) whole or not at
# all. Leaves W/basemap-bbox.txt (the grid's west,south,east,north) and W/import.json.
basemap_store() {
  local bin="$1" w="$2" grid="$3" layers="$4" store="$5" l
  rm -rf "$w/basemap-src" "$w/basemap-grid" "$store.tmp"*
  mkdir -p "$w/basemap-src"
  "$bin" --store "$w/basemap-src/helsinki.gpkg" import data/osm/helsinki.osm.pbf > "$w/basemap-src/import.json"
  for l in ${layers//,/ }; do
    "$bin" --store "$w/basemap-src/helsinki.gpkg" export --layer "$l" --format geojson --out "$w/basemap-src/$l.geojson"
  done
  python3 benches/basemap_grid.py --grid "$grid" --out "$w/basemap-grid" "$w"/basemap-src/*.geojson > "$w/basemap-bbox.txt"
  "$bin" --store "$store.tmp" import "$w"/basemap-grid/*.geojson --format geojson --mapping citytwin \
    --rejects "$w/rejects.csv" --strict > "$w/import.json"
  mv "$store.tmp" "$store"
}

# Waits until the server PID answers URL/health (up to TRIES tenths of a second); exits the
# script with the server's log when the server stops or never answers.
wait_healthy() { # PID URL LOG [TRIES]
  local pid="$1" url="$2" log="$3" tries="${4:-1200}"
  for _ in $(seq 1 "$tries"); do
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "*** the server stopped" >&2; exit 1; }
    curl -sf -o /dev/null "$url/health" && return 0
    sleep 0.1
  done
  echo "*** the server never answered on $url" >&2
  exit 1
}

# ---------------------------------------------------------------- what every script ends with

# The machine, for a summary: cores, CPU model, memory.
machine() {
  printf '%s cores, %s, %s GiB' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    "$(free -g | awk '/Mem:/{print $2}')"
}

# The commit measured; `+changes` when the worktree's tracked files differ from it.
commit() {
  local c
  c=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD 2>/dev/null || c="$c+changes"
  echo "$c"
}

# summary_head NAME COMMAND: opens the block a script ends with, to be pasted under the
# `<!-- results: NAME -->` line of docs/benchmarks.md: the command, date, commit and machine.
summary_head() {
  echo
  echo "==== summary for docs/benchmarks.md (results: $1)"
  echo
  echo "\`$2\` — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(commit), $(machine)"
  echo
}

# Failures collected while a script runs on; `finish` prints them and exits 1 if there are any.
FAILS=()
fail() {
  echo "*** FAIL: $*" >&2
  FAILS+=("$*")
}
# shellcheck disable=SC2120 # the argument is optional
finish() { # [what was checked]
  if [ ${#FAILS[@]} -gt 0 ]; then
    echo
    echo "**NOT VALID: ${#FAILS[@]} failure(s):**"
    printf -- '- %s\n' "${FAILS[@]}"
    exit 1
  fi
  echo
  echo "checks passed: ${1:-every answer 2xx, no socket error, every count as expected}."
}

# wrk_stats FILE: one line from wrk's output (run with --latency):
# "rps p50 p99 requests bad sockerr" — bad: answers wrk counts as errors (status ≥ 400);
# sockerr: connect + read + write + timeout errors.
wrk_stats() {
  awk '/^ +50%/{p50=$2} /^ +99%/{p99=$2} /Requests\/sec/{rps=$2}
    / requests in /{req=$1}
    /Non-2xx or 3xx responses/{bad=$NF}
    /Socket errors/{gsub(",", ""); sock=$4+$6+$8+$10}
    END {printf "%s %s %s %s %d %d\n", (rps==""?0:rps), (p50==""?"-":p50), (p99==""?"-":p99), (req==""?0:req), bad, sock}' "$1"
}

# ------------------------------------------------ routes asked from lists of paths, in turn

# Latency and throughput of each list: `load_lists URL WORK SCRIPT DURATION LIST…` runs wrk
# with the lua SCRIPT (benches/paths.lua, or one that adds a header first) over
# WORK/LIST.paths, at 1 connection and then 16, prints a line per run, records a failure for
# any error answer, socket error or empty run, and leaves "rps p50 p99" in LOAD[i,conns]
# (i: the list's place, 0 first: the floor, /health).
declare -gA LOAD
load_lists() {
  local url="$1" work="$2" script="$3" duration="$4"
  shift 4
  local lists=("$@") conns i rps p50 p99 req bad sock
  for conns in 1 16; do
    echo "== $conns connection(s), $duration s per route"
    for i in "${!lists[@]}"; do
      PATHS="$work/${lists[$i]}.paths" wrk -t"$((conns < 2 ? 1 : 2))" -c"$conns" -d"${duration}s" --latency \
        -s "$script" "$url" > "$work/wrk.txt" 2>&1
      read -r rps p50 p99 req bad sock < <(wrk_stats "$work/wrk.txt")
      printf '%-48s %10s req/s  p50 %8s  p99 %8s  requests %s  errors %s  socket errors %s\n' \
        "${lists[$i]}" "$rps" "$p50" "$p99" "$req" "$bad" "$sock"
      [ "$bad" = 0 ] || fail "${lists[$i]} with $conns connection(s): $bad of $req answers had status >= 400"
      [ "$sock" = 0 ] || fail "${lists[$i]} with $conns connection(s): $sock socket errors"
      [ "$req" != 0 ] || fail "${lists[$i]} with $conns connection(s): no request done"
      LOAD[$i,$conns]="$rps $p50 $p99"
    done
  done
}

# The table of what load_lists measured: `load_table NAME…` (the routes' names, in the lists'
# order), each beside the first (the floor) at 16 connections.
load_table() {
  local names=("$@") i health16 p50_1 p99_1 rps16 p99_16 ratio
  echo "| route | 1 connection | 16 connections | ÷ /health at 16 |"
  echo "|---|---|---|---|"
  read -r health16 _ <<< "${LOAD[0,16]}"
  for i in "${!names[@]}"; do
    read -r _ p50_1 p99_1 <<< "${LOAD[$i,1]}"
    read -r rps16 _ p99_16 <<< "${LOAD[$i,16]}"
    ratio=$(awk -v a="$rps16" -v b="$health16" 'BEGIN {printf (b > 0 ? "%.3f×" : "-"), a / b}')
    [ "$i" = 0 ] && ratio="—"
    printf '| %s | p50 %s, p99 %s | %.0f req/s, p99 %s | %s |\n' "${names[$i]}" "$p50_1" "$p99_1" "$rps16" "$p99_16" "$ratio"
  done
}
