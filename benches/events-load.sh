#!/usr/bin/env bash
# Live events under load on 127.0.0.1: CLIENTS listeners of /events (1,000, a dispatcher's
# token, so each gets every incident) while residents file RATE reports a second (100) for
# DURATION seconds (60), each about another pole of a generated city (each opens an incident: one
# event, delivered to every listener — 100,000 deliveries a second). The client
# (benches/events_load.rs) notes each delivery; printed: reports filed, deliveries, p50/p99/max
# from a report sent to its event delivered, events lost, and the server's RSS before and after.
# Target: p99 < 1 s, 0 lost.
#
# Usage: benches/events-load.sh [WORKDIR]   env: CLIENTS, RATE, DURATION (s), N (objects, 100,000), PORT
# The run FAILS (exit 1) on any answer that is not 201, any event lost, any listener cut.
set -euo pipefail
W="${1:-/tmp/citytwin-events-bench}"
CLIENTS="${CLIENTS:-1000}"
RATE="${RATE:-100}"
DURATION="${DURATION:-60}"
N="${N:-100000}"
PORT="${PORT:-18398}"
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
CMD="benches/events-load.sh $W"
[ "$CLIENTS" = 1000 ] || CMD="CLIENTS=$CLIENTS $CMD"
[ "$RATE" = 100 ] || CMD="RATE=$RATE $CMD"
[ "$DURATION" = 60 ] || CMD="DURATION=$DURATION $CMD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q --bin citytwin
cargo bench --no-run -q --bench events_load 2>/dev/null
BIN="$CARGO_TARGET_DIR/release/citytwin"
mkdir -p "$W"
CSV="$W/city-$N.csv"
STORE="$W/city-$N.gpkg"
if [ ! -f "$STORE" ]; then
  [ -f "$CSV" ] || "$BIN" generate --objects "$N" --out "$CSV"
  rm -f "$STORE.tmp"*
  "$BIN" --store "$STORE.tmp" import "$CSV" --mapping seeds/synthetic-city.toml >/dev/null
  mv "$STORE.tmp" "$STORE"
fi
# Each run on a fresh copy: the reports of an earlier run would be duplicates.
WORK="$(mktemp -d)"
cp "$STORE" "$WORK/store.gpkg"
TOKEN=$("$BIN" --store "$WORK/store.gpkg" token create --role dispatcher --name "events-bench-$$" | tail -1)
# A connection a listener, on both ends: the soft limit of open files raised to the hard one.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((CLIENTS * 2 + 200)) ] || { echo "*** open files limited to $(ulimit -n): too few for $CLIENTS listeners" >&2; exit 2; }
CITYTWIN_LOG=warn \
CITYTWIN_REPORTS__PER_ADDRESS_PER_HOUR=100000000 \
CITYTWIN_LIMITS__PUBLIC__WRITES_PER_MINUTE=100000000 \
  "$BIN" --store "$WORK/store.gpkg" serve --bind "127.0.0.1:$PORT" --seed none >"$WORK/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
URL="http://127.0.0.1:$PORT"
wait_healthy "$PID" "$URL" "$WORK/server.log"
rss() { awk '/^VmRSS/{print $2}' "/proc/$PID/status"; }
RSS0=$(rss)
set +e
"$(ls -t "$CARGO_TARGET_DIR"/release/deps/events_load-* | grep -v '\.d$' | head -1)" \
  "$URL" "$TOKEN" "$CLIENTS" "$RATE" "$DURATION" | tee "$WORK/out.txt"
CODE=${PIPESTATUS[0]}
set -e
RSS1=$(rss)
[ "$CODE" = 0 ] || fail "the client found errors or lost events (exit $CODE)"
kill -0 "$PID" 2>/dev/null || fail "the server stopped"
summary_head events-load "$CMD"
echo "Generated city of $N objects; $CLIENTS listeners of \`/events\` (dispatcher token) and the reports on the same machine; each report about another pole (a new incident: one event to every listener)."
echo
sed 's/^/- /' "$WORK/out.txt"
echo "- server RSS: $((RSS0 / 1024)) MiB before the listeners, $((RSS1 / 1024)) MiB at the end"
finish "every report 201, every event delivered to every listener"
