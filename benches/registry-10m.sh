#!/usr/bin/env bash
# The registry at scale: import throughput, cold start and memory per object for an N-object
# synthetic city (default 10 million), each next to a peer measured in the same run:
#   import     citytwin import         vs  GDAL ogr2ogr CSV → GeoPackage of the same file,
#                                          and the sqlite3 program alone writing rows of the
#                                          same shape (the floor for the store's bytes)
#   cold start citytwin serve → ready  vs  sqlite3 reading every geometry of the same store
#   memory     RSS of the ready server with N objects minus RSS with an empty store
#
# Usage: benches/registry-10m.sh [N] [WORKDIR]      (needs gdal-bin and sqlite3 for the peers)
set -euo pipefail
N="${1:-10000000}"
W="${2:-/tmp/citytwin-bench}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/citytwin"
mkdir -p "$W"
CSV="$W/city-$N.csv"
# Serial width of the new store: 7 digits once a 6-digit space would be over ~80% full
# (the generator chooses the same).
if [ "$N" -gt 800000 ]; then export CITYTWIN_SERIAL_WIDTH=7; fi
STORE="$W/store-$N.gpkg"
# shellcheck source=benches/lib.sh
. benches/lib.sh

if [ ! -f "$CSV" ]; then
  echo "== generating $N objects"
  "$BIN" generate --objects "$N" --out "$CSV"
fi
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"

# Each import starts from the same memory state (`settle` in benches/lib.sh).

echo "== import"
settle "$CSV"
rm -f "$STORE" "$STORE"-wal "$STORE"-shm
t0=$(now)
/usr/bin/time -f "citytwin import: max RSS %M KB" "$BIN" --store "$STORE" import "$CSV" \
  --mapping seeds/synthetic-city.toml --rejects "$W/rejects.csv" > "$W/import.json"
t1=$(now)
ct_import=$(echo "$t1 - $t0" | bc)
if command -v ogr2ogr >/dev/null; then
  rm -f "$W/peer.gpkg"
  settle "$CSV"
  t0=$(now)
  ogr2ogr -f GPKG "$W/peer.gpkg" "$CSV" -nln city -a_srs EPSG:4326 \
    -oo X_POSSIBLE_NAMES=lon -oo Y_POSSIBLE_NAMES=lat -oo KEEP_GEOM_COLUMNS=NO \
    -lco SPATIAL_INDEX=NO -gt 1000000
  t1=$(now)
  peer_import=$(echo "$t1 - $t0" | bc)
else
  peer_import=""
  echo "*** SKIPPED peer: ogr2ogr (gdal-bin) not installed"
fi

# The floor: the sqlite3 program alone writing N rows shaped like citytwin's (a layer row each,
# and the serial bitmap's 128-byte row per 1024 serials; same journal mode, sync and cache as
# citytwin's bulk write), generated inside SQLite: no file to parse, nothing to check, no
# second thread.
rm -f "$W/floor.db" "$W/floor.db-journal"
settle "$CSV"
t0=$(now)
sqlite3 "$W/floor.db" "PRAGMA journal_mode=DELETE; PRAGMA synchronous=EXTRA; PRAGMA cache_size=-262144;
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
floor_import=$(echo "$t1 - $t0" | bc)
rm -f "$W/floor.db" "$W/peer.gpkg"

echo "== cold start"
start_server() { serve_once "$BIN" "$1" "$W/serve.log"; } # store → "seconds rss_kb"

# One start with the OS page cache dropped first (the store read from disk), shown apart; then
# three with the store in the page cache, as after a restart: this machine is shared and noisy,
# so every run is printed and the median used.
if drop_caches; then
  read -r disk_cold _ < <(start_server "$STORE")
  echo "cold start with the page cache dropped: $disk_cold s"
else
  disk_cold=""
  echo "*** SKIPPED the start from disk: cannot drop the page cache (not root)"
fi
colds=(); rsss=()
for run in 1 2 3; do
  read -r c r < <(start_server "$STORE")
  echo "cold start run $run: $c s, RSS $((r / 1024)) MiB"
  colds+=("$c"); rsss+=("$r")
done
ct_cold=$(printf '%s\n' "${colds[@]}" | sort -n | sed -n 2p)
ct_rss=$(printf '%s\n' "${rsss[@]}" | sort -n | sed -n 2p)
rm -f "$W/empty.gpkg"*
read -r _ empty_rss < <(start_server "$W/empty.gpkg")
t0=$(now)
sqlite3 "$STORE" "SELECT sum(length(geom)) FROM poles; SELECT sum(length(geom)) FROM manholes; SELECT sum(length(geom)) FROM trees; SELECT sum(length(geom)) FROM cameras; SELECT sum(length(geom)) FROM cabinets; SELECT sum(length(geom)) FROM wifi; SELECT sum(length(geom)) FROM shelters;" > /dev/null
t1=$(now)
peer_cold=$(echo "$t1 - $t0" | bc)

per_obj=$(echo "($ct_rss - $empty_rss) * 1024 / $N" | bc)
echo
echo "== results for $N objects"
printf "import:     citytwin %.1f s = %.0f objects/s" "$ct_import" "$(echo "$N / $ct_import" | bc -l)"
if [ -n "$peer_import" ]; then
  printf "; ogr2ogr %.1f s = %.0f objects/s; ratio citytwin/ogr2ogr throughput = %.2f\n" \
    "$peer_import" "$(echo "$N / $peer_import" | bc -l)" "$(echo "$peer_import / $ct_import" | bc -l)"
else echo; fi
printf "            sqlite3 alone writing rows of the same shape %.1f s = %.0f rows/s; ratio citytwin/floor throughput = %.2f\n" \
  "$floor_import" "$(echo "$N / $floor_import" | bc -l)" "$(echo "$floor_import / $ct_import" | bc -l)"
printf "cold start: citytwin %.1f s to serve (median of 3: ${colds[*]}); sqlite3 reading every geometry %.1f s; ratio %.2f\n" \
  "$ct_cold" "$peer_cold" "$(echo "$ct_cold / $peer_cold" | bc -l)"
if [ -n "$disk_cold" ]; then echo "            from disk (page cache dropped first): $disk_cold s"; fi
echo "memory:     ready server RSS $((ct_rss / 1024)) MiB (empty store $((empty_rss / 1024)) MiB) = $per_obj bytes per object"
