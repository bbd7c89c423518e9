#!/usr/bin/env bash
# How well the resolver hears the demo city: `citytwin resolve-eval` draws a seeded set of noisy
# queries from the city's own numbered objects (every mistake kind, errors anywhere in the
# number, numbers in words in Ukrainian, Russian and English, layer words in random case forms,
# streets and houses, the caller's area 300 m off) and prints top-1 / top-3 per kind. Accuracy,
# not speed: the same table on any machine for the same commit and seed.
#
# Usage: benches/resolve-eval.sh [OBJECTS] [SEED]     (defaults 2000 and 1)
# The run FAILS (exit 1) if any kind asked has top-3 under 90%, or if the demo city cannot be
# seeded.
set -euo pipefail
OBJECTS="${1:-2000}"
SEED="${2:-1}"
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
CMD="benches/resolve-eval.sh $OBJECTS $SEED"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q --bin citytwin
BIN="$CARGO_TARGET_DIR/release/citytwin"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# The demo city, seeded by the server's first start (then stopped).
CITYTWIN_LOG=warn "$BIN" --store "$WORK/demo.gpkg" serve --bind 127.0.0.1:0 --seed seeds/demo.toml \
  > "$WORK/serve.log" 2>&1 &
PID=$!
until grep -q "listening on" "$WORK/serve.log" 2>/dev/null; do
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; echo "*** seeding the demo city failed" >&2; exit 1; }
  sleep 0.2
done
kill -TERM "$PID"; wait "$PID" || true
CITYTWIN_LOG=warn "$BIN" --store "$WORK/demo.gpkg" resolve-eval --objects "$OBJECTS" --seed "$SEED" \
  --format json > "$WORK/eval.json"
summary_head resolve-eval "$CMD"
CITYTWIN_LOG=warn "$BIN" --store "$WORK/demo.gpkg" resolve-eval --objects "$OBJECTS" --seed "$SEED"
while read -r kind top3 asked; do
  awk -v t="$top3" -v n="$asked" 'BEGIN {exit !(n > 0 && t / n < 0.9)}' \
    && fail "$kind: top-3 $top3 of $asked"
done < <(jq -r '.kinds | to_entries[] | "\(.key|gsub(" ";"_")) \(.value.top3) \(.value.asked)"' "$WORK/eval.json")
finish "every kind's top-3 at least 90%"
