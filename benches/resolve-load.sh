#!/usr/bin/env bash
# Resolver under load over HTTP on 127.0.0.1: exact and misheard numbers and nearest-5, next to
# /health (the cheapest route: the server's own floor) in the same run, with wrk (Debian).
#
# Usage: benches/resolve-load.sh STORE [PORT]
#   STORE: a citytwin store (e.g. the one benches/tiles-vs-martin.sh builds: WORKDIR/store-N.gpkg)
#   env: DURATION (seconds per route and run, 8), LIMIT_PER_MINUTE (100000000, below)
# Every route runs twice: 16 connections for throughput, then 1 connection for latency.
#
# The load is one client: the per-client limits (600 resolver requests a minute by default) are
# lifted for the run with the same keys benches/soak.sh uses (CITYTWIN_LIMITS__RESOLVE_PER_MINUTE,
# CITYTWIN_LIMITS__WRITES_PER_MINUTE = LIMIT_PER_MINUTE); without that nearly every answer after
# the first 600 is a 429. The run FAILS (exit 1) if any route does not answer 200 before its
# run, or during a run on any answer wrk counts as an error (status ≥ 400) or any socket error.
set -euo pipefail
STORE="${1:?usage: $0 STORE [PORT]}"
PORT="${2:-18099}"
DURATION="${DURATION:-8}"
LIMIT="${LIMIT_PER_MINUTE:-100000000}"
[ -f "$STORE" ] || { echo "*** no store at $STORE" >&2; exit 2; }
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk; }
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh
CMD="DURATION=$DURATION benches/resolve-load.sh $STORE"
[ "$LIMIT" = 100000000 ] || CMD="LIMIT_PER_MINUTE=$LIMIT $CMD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q --bin citytwin
BIN="$CARGO_TARGET_DIR/release/citytwin"
WORK="$(mktemp -d)"
CITYTWIN_LOG=warn CITYTWIN_LIMITS__RESOLVE_PER_MINUTE="$LIMIT" CITYTWIN_LIMITS__WRITES_PER_MINUTE="$LIMIT" \
  "$BIN" --store "$STORE" serve --bind "127.0.0.1:$PORT" --seed none >"$WORK/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
URL="http://127.0.0.1:$PORT"
wait_healthy "$PID" "$URL" "$WORK/server.log"
# One object from the middle of the poles, its number misheard by swapping two digits.
OBJECTS=$(curl -sf "$URL/health" | sed 's/.*"objects":\([0-9]*\).*/\1/')
read -r NUMBER LAT LON < <(curl -sf "$URL/objects?layer=poles&limit=1&after=$((OBJECTS / 2))" \
  | python3 -c 'import json,sys; f=json.load(sys.stdin)["features"][0]; print(f["properties"]["number_latin"], f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0])')
case "$NUMBER" in
  [A-Z]*-[0-9]*-[0-9]) ;;
  *) echo "*** $NUMBER is not a scheme number (Latin code, serial, check digit): was the store made with the right serial width (CITYTWIN_SERIAL_WIDTH)?" >&2; exit 1 ;;
esac
CODE="${NUMBER%%-*}"; REST="${NUMBER#*-}"; SERIAL="${REST%-*}"; CHECK="${REST##*-}"
# Two adjacent digits swapped (the first pair that differs): a mistake the check digit catches.
MISHEARD=""
for ((k = 0; k < ${#SERIAL} - 1; k++)); do
  if [ "${SERIAL:k:1}" != "${SERIAL:k+1:1}" ]; then
    MISHEARD="$CODE-${SERIAL:0:k}${SERIAL:k+1:1}${SERIAL:k:1}${SERIAL:k+2}-$CHECK"
    break
  fi
done
echo "store: $STORE (/health counts $OBJECTS objects); object $NUMBER at $LAT,$LON; misheard as $MISHEARD"
echo "per-client limits for the run: $LIMIT a minute"
ROUTES=("/health" "/resolve?q=$NUMBER" "/resolve?q=$MISHEARD&near=$LAT,$LON" "/nearest?lat=$LAT&lon=$LON&k=5")
# shellcheck disable=SC2016 # backquotes for markdown
NAMES=('`/health` (peer)' '`/resolve` exact' '`/resolve` misheard (swap) with `near`' '`/nearest` k=5')
declare -A R
for conns in 16 1; do
  echo "== $conns connection(s), $DURATION s per route"
  for i in "${!ROUTES[@]}"; do
    u="${ROUTES[$i]}"
    code=$(curl -s -o "$WORK/answer" -w '%{http_code}' "$URL$u")
    if [ "$code" != 200 ]; then
      fail "$u answered $code before its run: $(head -c 200 "$WORK/answer")"
    fi
    wrk -t"$((conns < 2 ? 1 : 2))" -c"$conns" -d"${DURATION}s" --latency "$URL$u" > "$WORK/wrk.txt" 2>&1
    read -r rps p50 p99 req bad sock < <(wrk_stats "$WORK/wrk.txt")
    printf '%-62s %10s req/s  p50 %8s  p99 %8s  requests %s  errors %s  socket errors %s\n' \
      "$u" "$rps" "$p50" "$p99" "$req" "$bad" "$sock"
    [ "$bad" = 0 ] || fail "$u with $conns connection(s): $bad of $req answers had status >= 400"
    [ "$sock" = 0 ] || fail "$u with $conns connection(s): $sock socket errors"
    [ "$req" != 0 ] || fail "$u with $conns connection(s): no request done"
    R[$i,$conns]="$rps $p50 $p99 $((bad + sock))"
  done
done

summary_head resolve-load "$CMD"
echo "Store \`$STORE\` (/health counts $OBJECTS objects); wrk on the same machine, $DURATION s per route and run; per-client limits set to $LIMIT a minute for the run."
echo
echo "| route | 16 connections | ÷ /health | 1 connection | errors |"
echo "|---|---|---|---|---|"
read -r health _ <<< "${R[0,16]}"
for i in "${!ROUTES[@]}"; do
  read -r rps16 _ p99_16 e16 <<< "${R[$i,16]}"
  read -r _ p50_1 p99_1 e1 <<< "${R[$i,1]}"
  ratio=$(awk -v a="$rps16" -v b="$health" 'BEGIN {printf (b > 0 ? "%.2f×" : "-"), a / b}')
  [ "$i" = 0 ] && ratio="—"
  printf '| %s | %.0f req/s, p99 %s | %s | p50 %s, p99 %s | %d |\n' \
    "${NAMES[$i]}" "$rps16" "$p99_16" "$ratio" "$p50_1" "$p99_1" "$((e16 + e1))"
done
finish
