#!/usr/bin/env bash
# The registry at scale: import throughput, cold start and memory per object for an N-object
# synthetic city (default 10 million), each next to a floor or peers measured in the same run:
#   import      citytwin import            vs  the FLOOR: citytwin's own rows and tables written
#                                              from memory by bare SQLite the way citytwin writes
#                                              them (64-row inserts, in-place binds, one
#                                              transaction: `sqlite_floor_same_row` of
#                                              benches/registry.rs), and two PEERS: the sqlite3
#                                              program writing rows of the same shape generated
#                                              inside SQLite (one INSERT…SELECT), and GDAL's
#                                              ogr2ogr CSV → GeoPackage of the same file
#   cold start  citytwin serve → listening, first from a dropped page cache (as after a reboot:
#               the HEADLINE, target ≤ 10 s), then with the store in the page cache (a warm
#               restart); three of each, the median reported
#               vs  a PEER: sqlite3 reading every geometry of the same store (warm)
#   memory      RSS of the ready server with N objects minus RSS with an empty store
#
# Usage: benches/registry-10m.sh [N] [WORKDIR]   (needs root to drop the page cache, sqlite3,
#                                                 and gdal-bin for the ogr2ogr peer)
# The run FAILS (exit 1) when the import rejects a row, finds a duplicate or creates other than N
# objects, when ogr2ogr or the floor writes other than N rows, when a start does not load N
# objects, or when the page cache cannot be dropped (the headline would be missing).
set -euo pipefail
N="${1:-10000000}"
W="${2:-/tmp/citytwin-bench}"
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
CMD="benches/registry-10m.sh $N $W"
# Figures as printed: N/seconds as k/s, a ratio, seconds with two decimals, a list of them.
rate() { awk -v n="$N" -v s="$1" 'BEGIN {printf "%.0fk/s", n / s / 1000}'; }
x() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f×", a / b}'; }
s2() { printf '%.2f' "$1"; }
all2() { for t in "$@"; do printf '%.2f / ' "$t"; done | sed 's| / $||'; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release --quiet --bin citytwin
BIN="$CARGO_TARGET_DIR/release/citytwin"
# The floor program: the registry bench binary, run with REGISTRY_FLOOR_CSV (see registry.rs).
FLOOR_BIN=$(cargo bench --bench registry --no-run --message-format=json 2>/dev/null \
  | jq -r 'select(.reason == "compiler-artifact" and .target.name == "registry" and .executable != null) | .executable' | tail -1)
[ -x "$FLOOR_BIN" ] || { echo "*** could not build the registry bench (the floor program)" >&2; exit 1; }
mkdir -p "$W"
CSV="$W/city-$N.csv"
# Serial width of the new store: 7 digits once a 6-digit space would be over ~80% full
# (the generator chooses the same).
if [ "$N" -gt 800000 ]; then export CITYTWIN_SERIAL_WIDTH=7; fi
STORE="$W/store-$N.gpkg"

if [ ! -f "$CSV" ]; then
  echo "== generating $N objects"
  "$BIN" generate --objects "$N" --out "$CSV.tmp"
  mv "$CSV.tmp" "$CSV"
fi
echo "== machine: $(machine)"

# Each import starts from the same memory state (`settle` in benches/lib.sh).
echo "== import"
settle "$CSV"
rm -f "$STORE" "$STORE"-wal "$STORE"-shm "$STORE"-journal
t0=$(now)
/usr/bin/time -f "citytwin import: max RSS %M KB" "$BIN" --store "$STORE" import "$CSV" \
  --mapping seeds/synthetic-city.toml --rejects "$W/rejects.csv" > "$W/import.json"
t1=$(now)
ct_import=$(echo "$t1 - $t0" | bc)
imported=$(jq -r ".created // empty" "$W/import.json" 2>/dev/null || true)
rejected=$(jq -r '(.rejected // 0) + (.duplicates // 0)' "$W/import.json" 2>/dev/null || echo "?")
[ "$imported" = "$N" ] || fail "citytwin imported ${imported:-?} objects, not $N (see $W/import.json)"
[ "$rejected" = 0 ] || fail "citytwin rejected or found duplicate $rejected rows (see $W/import.json, $W/rejects.csv)"

peer_import=""
if command -v ogr2ogr >/dev/null; then
  rm -f "$W/peer.gpkg"
  settle "$CSV"
  t0=$(now)
  ogr2ogr -f GPKG "$W/peer.gpkg" "$CSV" -nln city -a_srs EPSG:4326 \
    -oo X_POSSIBLE_NAMES=lon -oo Y_POSSIBLE_NAMES=lat -oo KEEP_GEOM_COLUMNS=NO \
    -lco SPATIAL_INDEX=NO -gt 1000000
  t1=$(now)
  peer_import=$(echo "$t1 - $t0" | bc)
  peer_rows=$(sqlite3 "$W/peer.gpkg" "SELECT count(*) FROM city")
  [ "$peer_rows" = "$N" ] || fail "ogr2ogr wrote $peer_rows rows, not $N"
else
  echo "*** SKIPPED peer: ogr2ogr (gdal-bin) not installed"
fi

# A peer, not a floor: the sqlite3 program alone writing N rows shaped like citytwin's (a layer
# row each, and the serial bitmap's 128-byte row per 1024 serials; same journal mode, sync and
# cache as citytwin's bulk write), generated inside SQLite by one INSERT…SELECT: no file to
# parse, nothing to check, no second thread, but values made by SQLite's own string functions,
# not bound the way citytwin binds them.
rm -f "$W/peer.db" "$W/peer.db-journal"
settle "$CSV"
t0=$(now)
sqlite3 "$W/peer.db" "PRAGMA journal_mode=DELETE; PRAGMA synchronous=EXTRA; PRAGMA cache_size=-262144;
CREATE TABLE t(fid INTEGER PRIMARY KEY, geom BLOB NOT NULL, serial INTEGER, number TEXT,
  check_digit BOOLEAN NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'unknown', status_changed DATETIME,
  attributes TEXT, source_file TEXT, source_id TEXT, created DATETIME NOT NULL, updated DATETIME NOT NULL);
CREATE TABLE n(block INTEGER PRIMARY KEY, given BLOB NOT NULL);
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $N)
INSERT INTO t SELECT i, zeroblob(29), i * 3, 'OP-' || (i * 3) || '-5', 1, 'ok', NULL,
  '{\"district\":\"Center\",\"name\":\"Pole ' || i || '\"}', 'city-$N.csv', i,
  '2026-11-26T04:20:00.000Z', '2026-11-26T04:20:00.000Z' FROM c;
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $N * 3 / 1024)
INSERT INTO n SELECT i, zeroblob(128) FROM c;
COMMIT;" > /dev/null
t1=$(now)
sqlite_peer=$(echo "$t1 - $t0" | bc)
rm -f "$W/peer.db" "$W/peer.gpkg"

# The floor: citytwin's rows of this city, written as citytwin writes them (registry.rs).
settle "$CSV"
REGISTRY_FLOOR_CSV="$CSV" REGISTRY_FLOOR_DB="$W/floor.gpkg" "$FLOOR_BIN" > "$W/floor.txt"
cat "$W/floor.txt"
floor_rows=$(sed -n 's/.*floor_rows=\([0-9]*\).*/\1/p' "$W/floor.txt")
floor_import=$(sed -n 's/.*floor_s=\([0-9.]*\).*/\1/p' "$W/floor.txt")
[ "$floor_rows" = "$N" ] || fail "the floor wrote ${floor_rows:-?} rows, not $N"
rm -f "$W/floor.gpkg"*

echo "== cold start"
# store → "seconds rss_kb objects": a timed start (benches/lib.sh), and the objects it loaded.
start_server() {
  local secs rss objects
  read -r secs rss < <(serve_once "$BIN" "$1" "$W/serve.log")
  objects=$(sed 's/\x1b\[[0-9;]*m//g' "$W/serve.log" | sed -n 's/.*[^a-z_]objects=\([0-9]*\).*/\1/p' | head -1)
  echo "$secs $rss ${objects:-?}"
}
# The headline first: three starts each from a dropped page cache (as after a reboot: the
# store read from disk); then three with the store in the page cache (a warm restart). This
# machine is shared and noisy: every run is printed and the median used.
disks=()
warms=(); rsss=()
if drop_caches; then
  for run in 1 2 3; do
    drop_caches
    read -r c r o < <(start_server "$STORE")
    echo "start from a dropped page cache, run $run: $(s2 "$c") s, RSS $((r / 1024)) MiB, $o objects"
    [ "$o" = "$N" ] || fail "start from a dropped page cache, run $run: $o objects loaded, not $N"
    disks+=("$c")
  done
else
  fail "cannot drop the page cache (not root?): the headline (start after a reboot) is not measured"
fi
for run in 1 2 3; do
  read -r c r o < <(start_server "$STORE")
  echo "warm restart (store in the page cache), run $run: $(s2 "$c") s, RSS $((r / 1024)) MiB, $o objects"
  [ "$o" = "$N" ] || fail "warm restart, run $run: $o objects loaded, not $N"
  warms+=("$c"); rsss+=("$r")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
disk_cold=""
if [ ${#disks[@]} -gt 0 ]; then disk_cold=$(median "${disks[@]}"); fi
ct_warm=$(median "${warms[@]}")
ct_rss=$(median "${rsss[@]}")
rm -f "$W/empty.gpkg"*
read -r _ empty_rss _ < <(start_server "$W/empty.gpkg")
t0=$(now)
sqlite3 "$STORE" "SELECT sum(length(geom)) FROM poles; SELECT sum(length(geom)) FROM manholes; SELECT sum(length(geom)) FROM trees; SELECT sum(length(geom)) FROM cameras; SELECT sum(length(geom)) FROM cabinets; SELECT sum(length(geom)) FROM wifi; SELECT sum(length(geom)) FROM shelters;" > /dev/null
t1=$(now)
peer_cold=$(echo "$t1 - $t0" | bc)
per_obj=$(echo "($ct_rss - $empty_rss) * 1024 / $N" | bc)

echo
echo "== results for $N objects"
printf "import:     citytwin %.1f s = %s\n" "$ct_import" "$(rate "$ct_import")"
printf "            floor (citytwin's rows, written as citytwin writes them, from memory) %.1f s = %s; citytwin/floor throughput %s\n" \
  "$floor_import" "$(rate "$floor_import")" "$(x "$floor_import" "$ct_import")"
printf "            peer: sqlite3 program, rows generated inside SQLite %.1f s = %s; citytwin/peer throughput %s\n" \
  "$sqlite_peer" "$(rate "$sqlite_peer")" "$(x "$sqlite_peer" "$ct_import")"
if [ -n "$peer_import" ]; then
  printf "            peer: ogr2ogr CSV → GPKG %.1f s = %s; citytwin/ogr2ogr throughput %s\n" \
    "$peer_import" "$(rate "$peer_import")" "$(x "$peer_import" "$ct_import")"
fi
if [ -n "$disk_cold" ]; then
  echo "cold start from a dropped page cache (a reboot; headline, target ≤ 10 s): $(s2 "$disk_cold") s (runs: $(all2 "${disks[@]}") s)"
fi
echo "warm restart (store in the page cache): $(s2 "$ct_warm") s (runs: $(all2 "${warms[@]}") s); peer: sqlite3 reading every geometry $(s2 "$peer_cold") s"
echo "memory:     ready server RSS $((ct_rss / 1024)) MiB (empty store $((empty_rss / 1024)) MiB) = $per_obj bytes per object"

summary_head registry-10m "$CMD"
echo "| what | citytwin | floor / peers (same run) | ratio | target |"
echo "|---|---|---|---|---|"
printf '| import, %s objects | %.1f s = **%s** | floor (citytwin'"'"'s rows written as citytwin writes them, from memory): %.1f s = %s; peer sqlite3 program (rows generated inside SQLite): %.1f s; peer ogr2ogr: %s | %s the floor'"'"'s throughput; %s the sqlite3 peer'"'"'s; %s ogr2ogr'"'"'s | ≥ 500k/s |\n' \
  "$N" "$ct_import" "$(rate "$ct_import")" "$floor_import" "$(rate "$floor_import")" "$sqlite_peer" \
  "$([ -n "$peer_import" ] && printf '%.1f s' "$peer_import" || echo 'not run')" \
  "$(x "$floor_import" "$ct_import")" "$(x "$sqlite_peer" "$ct_import")" \
  "$([ -n "$peer_import" ] && x "$peer_import" "$ct_import" || echo '—')"
printf '| **cold start from a dropped page cache** (a reboot) | **%s s** (median of %s s) | — | — | ≤ 10 s |\n' \
  "$([ -n "$disk_cold" ] && s2 "$disk_cold" || echo 'not measured')" "$(all2 "${disks[@]}")"
printf '| warm restart (store in the page cache) | %s s (median of %s s) | peer: sqlite3 reading every geometry %.2f s | %s the peer'"'"'s time | — |\n' \
  "$(s2 "$ct_warm")" "$(all2 "${warms[@]}")" "$peer_cold" "$(x "$ct_warm" "$peer_cold")"
printf '| memory, ready server | %s MiB RSS = %s bytes/object above an empty store (%s MiB) | — | — | ≤ 4 GB at 10M |\n' \
  "$((ct_rss / 1024))" "$per_obj" "$((empty_rss / 1024))"
finish "the import rejected nothing, found no duplicate and created N objects, the floor wrote N rows, every start loaded N objects"
