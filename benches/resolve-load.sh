#!/usr/bin/env bash
# Resolver under load over HTTP on 127.0.0.1: exact and misheard numbers and nearest-5, next to
# /health (the cheapest route: the server's own floor) in the same run, with wrk (Debian).
#
# Usage: benches/resolve-load.sh STORE [PORT]
#   STORE: a citytwin store (e.g. the one benches/tiles-vs-martin.sh builds: WORKDIR/store-1000000.gpkg)
#   runs every route twice: 16 connections for throughput, then 1 connection for latency.
set -euo pipefail
STORE="$1"
PORT="${2:-18099}"
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk; }
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
cargo build --release -q
BIN="$CARGO_TARGET_DIR/release/citytwin"
CITYTWIN_LOG=warn "$BIN" --store "$STORE" serve --bind "127.0.0.1:$PORT" --seed none >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "localhost:$PORT/health" >/dev/null && break; sleep 1; done
# One object from the middle of the poles, its number misheard by swapping two digits.
read -r NUMBER LAT LON < <(curl -s "localhost:$PORT/objects?layer=poles&limit=1&after=$(( $(curl -s localhost:$PORT/health | sed 's/.*"objects":\([0-9]*\).*/\1/') / 2 ))" \
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
echo "object $NUMBER at $LAT,$LON; misheard as $MISHEARD"
for conns in 16 1; do
  echo "== $conns connection(s), 8 s per route"
  for u in "/health" "/resolve?q=$NUMBER" "/resolve?q=$MISHEARD&near=$LAT,$LON" "/nearest?lat=$LAT&lon=$LON&k=5"; do
    printf '%-62s ' "$u"
    wrk -t"$(( conns < 2 ? 1 : 2 ))" -c"$conns" -d8s --latency "http://127.0.0.1:$PORT$u" 2>&1 \
      | awk '/  50%/{p50=$2} /  99%/{p99=$2} /Requests\/sec/{rps=$2} /Non-2xx/{bad=$NF} END{printf "%10s req/s  p50 %8s  p99 %8s  non-2xx %s\n", rps, p50, p99, (bad==""?0:bad)}'
  done
done
