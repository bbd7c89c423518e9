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
# shellcheck source=benches/lib.sh
. benches/lib.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CMD="ROUNDS=${ROUNDS:-3} benches/ab.sh $mode $input $*"
declare -A runs # binary → its figures (seconds for import, ms to ready for start)
for _ in $(seq 1 "${ROUNDS:-3}"); do
  for bin in "$@"; do
    case "$mode" in
      import)
        settle "$input"
        store="$work/ab.gpkg"; rm -f "$store"*
        t0=$(now)
        CITYTWIN_LOG=citytwin=debug /usr/bin/time -f "cpu %U user %S sys" "$bin" --store "$store" \
          import "$input" --mapping seeds/synthetic-city.toml --rejects "$work/rejects.csv" \
          > /dev/null 2> "$work/log"
        t1=$(now)
        parts=$(sed 's/\x1b\[[0-9;]*m//g' "$work/log" |
          grep -o 'waited_ms=[0-9]*\|rows_ms=[0-9]*\|index_ms=[0-9]*\|numbers_ms=[0-9]*\|commit_ms=[0-9]*\|cpu .*' |
          tr '\n' ' ')
        printf '%s %.2f s  %s\n' "$bin" "$(echo "$t1 - $t0" | bc)" "$parts"
        runs[$bin]+="$(printf '%.2f' "$(echo "$t1 - $t0" | bc)") "
        ;;
      start)
        drop_caches || true
        serve_once "$bin" "$input" "$work/log" > /dev/null
        ready=$(sed 's/\x1b\[[0-9;]*m//g' "$work/log" | grep -o 'ready_in_ms=[0-9]*')
        echo "$bin $ready"
        runs[$bin]+="${ready#ready_in_ms=} "
        ;;
      *) echo "usage: benches/ab.sh import|start INPUT BIN..." >&2; exit 2 ;;
    esac
  done
done

summary_head ab "$CMD"
unit=$([ "$mode" = import ] && echo "s to import" || echo "ms to ready")
echo "| binary | $unit, in the order run | median |"
echo "|---|---|---|"
declare -A shown
for bin in "$@"; do
  [ -z "${shown[$bin]:-}" ] || continue
  shown[$bin]=1
  read -r -a v <<< "${runs[$bin]}"
  # shellcheck disable=SC2016 # backquotes for markdown
  printf '| `%s` | %s | %s |\n' "$bin" "${v[*]}" "$(printf '%s\n' "${v[@]}" | sort -n | sed -n "$(((${#v[@]} + 1) / 2))p")"
done
finish "every import and start ran to its end"
