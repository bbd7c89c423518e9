#!/usr/bin/env bash
# A/B of two or more citytwin binaries on one machine, alternating, each from the same memory
# state (dirty pages written, page cache dropped when root, the input read once if cached):
#
#   benches/ab.sh import CSV BIN...   import CSV into a new store with each binary
#                                     (prints seconds, the writer's parts and CPU time)
#   benches/ab.sh start STORE BIN...  start the server on STORE with each binary, page cache
#                                     dropped first (prints ready_in_ms)
#
# ROUNDS (default 3) rounds. Build the binaries from the commits to compare, e.g.
#   git stash; cargo build --release; cp target/release/citytwin /tmp/ct-old; git stash pop
# The machines here change speed by the hour: compare only runs of one sitting.
set -euo pipefail
mode="$1"; input="$2"; shift 2
cd "$(dirname "$0")/.."
drop() { sync; if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; fi; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for _ in $(seq 1 "${ROUNDS:-3}"); do
  for bin in "$@"; do
    case "$mode" in
      import)
        drop; cat "$input" > /dev/null
        store="$work/ab.gpkg"; rm -f "$store"*
        t0=$(date +%s.%N)
        CITYTWIN_LOG=citytwin=debug /usr/bin/time -f "cpu %U user %S sys" "$bin" --store "$store" \
          import "$input" --mapping seeds/synthetic-city.toml --rejects "$work/rejects.csv" \
          > /dev/null 2> "$work/log"
        t1=$(date +%s.%N)
        parts=$(sed 's/\x1b\[[0-9;]*m//g' "$work/log" |
          grep -o 'waited_ms=[0-9]*\|rows_ms=[0-9]*\|numbers_ms=[0-9]*\|commit_ms=[0-9]*\|cpu .*' |
          tr '\n' ' ')
        printf '%s %.2f s  %s\n' "$bin" "$(echo "$t1 - $t0" | bc)" "$parts"
        ;;
      start)
        drop
        CITYTWIN_LOG=citytwin=info "$bin" --store "$input" serve --bind 127.0.0.1:0 --seed none \
          > "$work/log" 2>&1 &
        pid=$!
        until grep -q "listening on" "$work/log" 2>/dev/null; do sleep 0.05; done
        kill -TERM "$pid"; wait "$pid" || true
        echo "$bin $(sed 's/\x1b\[[0-9;]*m//g' "$work/log" | grep -o 'ready_in_ms=[0-9]*')"
        ;;
      *) echo "usage: benches/ab.sh import|start INPUT BIN..." >&2; exit 2 ;;
    esac
  done
done
