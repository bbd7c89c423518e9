#!/usr/bin/env bash
# How well the resolver hears the demo city: `citytwin resolve-eval` draws a seeded set of noisy
# queries from the city's own numbered objects (every mistake kind, errors anywhere in the
# number, numbers in words in Ukrainian, Russian and English, layer words in random case forms,
# streets and houses, the caller's area 300 m off) and prints top-1 / top-3 per kind. Accuracy,
# not speed: the same table on any machine for the same commit and seed.
#
# Usage: benches/resolve-eval.sh [OBJECTS] [SEED]     (defaults 2000 and 1)
#   env STORE: an existing store to draw from instead of the demo city (e.g. the 10M city that
#   benches/registry-10m.sh leaves)
# The run FAILS (exit 1) if a kind asked with the caller's area (`+ near`), or a whole number
# (exact, words, no check digit), has top-3 under 90%; if any kind has more than 1% answers
# confident and wrong; or if the demo city cannot be seeded. Kinds without the area are
# reported, not judged: in a city whose serial space is full (the 10M city) every one-digit
# misreading is someone's number, and only the caller's area can tell them apart.
set -euo pipefail
OBJECTS="${1:-2000}"
SEED="${2:-1}"
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
CMD="benches/resolve-eval.sh $OBJECTS $SEED"
[ -z "${STORE:-}" ] || CMD="STORE=$STORE $CMD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q --bin citytwin
BIN="$CARGO_TARGET_DIR/release/citytwin"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
DB="${STORE:-$WORK/demo.gpkg}"
if [ -z "${STORE:-}" ]; then
# The demo city, seeded by the server's first start (then stopped).
CITYTWIN_LOG=warn "$BIN" --store "$WORK/demo.gpkg" serve --bind 127.0.0.1:0 --seed seeds/demo.toml \
  > "$WORK/serve.log" 2>&1 &
PID=$!
until grep -q "listening on" "$WORK/serve.log" 2>/dev/null; do
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; echo "*** seeding the demo city failed" >&2; exit 1; }
  sleep 0.2
done
kill -TERM "$PID"; wait "$PID" || true
fi
[ -f "$DB" ] || { echo "*** no store at $DB" >&2; exit 2; }
CITYTWIN_LOG=warn "$BIN" --store "$DB" resolve-eval --objects "$OBJECTS" --seed "$SEED" \
  --format json > "$WORK/eval.json"
summary_head resolve-eval "$CMD"
CITYTWIN_LOG=warn "$BIN" --store "$DB" resolve-eval --objects "$OBJECTS" --seed "$SEED"
while read -r kind top3 asked wrong; do
  case "$kind" in
    *+_near | exact | words_* | no_check_digit)
      awk -v t="$top3" -v n="$asked" 'BEGIN {exit !(n > 0 && t / n < 0.9)}' \
        && fail "$kind: top-3 $top3 of $asked" ;;
  esac
  awk -v w="$wrong" -v n="$asked" 'BEGIN {exit !(n > 0 && w / n > 0.01)}' \
    && fail "$kind: $wrong of $asked answers confident and wrong"
done < <(jq -r '.kinds | to_entries[] | "\(.key|gsub(" ";"_")) \(.value.top3) \(.value.asked) \(.value.confident_wrong)"' "$WORK/eval.json")
finish "top-3 at least 90% for every kind with the caller's area and every whole number; at most 1% confident and wrong in any kind"
