#!/usr/bin/env bash
# Resolver under load over HTTP on 127.0.0.1: exact and misheard numbers, the dispatcher's
# console typing (every keystroke's prefix query with the caller's area, for 200 objects),
# two-digits-wrong queries with the caller's area (200 objects) and nearest-5, next to /health
# (the cheapest route: the server's own floor) in the same run, with wrk (Debian).
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
# 200 poles spread over the store: each typed key by key ("OP-1", "OP-10", … the whole number)
# and each with two digits wrong, the caller's area about 300 m north (a fixed seed).
python3 - "$URL" "$OBJECTS" "$WORK" <<'PY'
import json, random, sys, urllib.request
url, objects, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random(20261203)
typed, two = [], []
for k in range(200):
    after = objects * k // 200
    with urllib.request.urlopen(f"{url}/objects?layer=poles&limit=1&after={after}") as r:
        fs = json.load(r)["features"]
    if not fs:
        continue
    f = fs[0]
    number = f["properties"]["number_latin"]
    lon, lat = f["geometry"]["coordinates"]
    near = f"{lat + 0.0027:.6f},{lon:.6f}"
    code, serial, check = number.split("-")
    digits = serial + check
    for i in range(1, len(digits) + 1):
        shown = digits[:i] if i <= len(serial) else f"{serial}-{check}"
        typed.append(f"/resolve?q={code}-{shown}&near={near}&limit=8")
    d = list(digits)
    for i in rng.sample(range(len(d)), 2):
        d[i] = str((int(d[i]) + rng.randint(1, 9)) % 10)
    two.append(f"/resolve?q={code}-{''.join(d[:-1])}-{d[-1]}&near={near}&limit=8")
open(f"{work}/typed.txt", "w").write("\n".join(typed) + "\n")
open(f"{work}/two.txt", "w").write("\n".join(two) + "\n")
print(f"{len(typed)} keystroke queries from {len(two)} poles; {len(two)} two-digits-wrong queries")
PY
echo "per-client limits for the run: $LIMIT a minute"
# A route starting with @ is a file of paths asked in turn (benches/paths.lua).
ROUTES=("/health" "/resolve?q=$NUMBER" "/resolve?q=$MISHEARD&near=$LAT,$LON" "@$WORK/typed.txt" "@$WORK/two.txt" "/nearest?lat=$LAT&lon=$LON&k=5")
# shellcheck disable=SC2016 # backquotes for markdown
NAMES=('`/health` (peer)' '`/resolve` exact' '`/resolve` misheard (swap) with `near`' '`/resolve` as typed, every keystroke, with `near`' '`/resolve` two digits wrong, with `near`' '`/nearest` k=5')
declare -A R
for conns in 16 1; do
  echo "== $conns connection(s), $DURATION s per route"
  for i in "${!ROUTES[@]}"; do
    u="${ROUTES[$i]}"
    script=()
    target="$u"
    if [ "${u:0:1}" = @ ]; then
      # Every path of the file answers 200 before the run.
      while read -r p; do
        code=$(curl -s -o "$WORK/answer" -w '%{http_code}' "$URL$p")
        [ "$code" = 200 ] || fail "$p answered $code before its run: $(head -c 200 "$WORK/answer")"
      done < "${u:1}"
      export PATHS="${u:1}"
      script=(-s benches/paths.lua)
      target="/"
    else
      code=$(curl -s -o "$WORK/answer" -w '%{http_code}' "$URL$u")
      [ "$code" = 200 ] || fail "$u answered $code before its run: $(head -c 200 "$WORK/answer")"
    fi
    wrk -t"$((conns < 2 ? 1 : 2))" -c"$conns" -d"${DURATION}s" --latency "${script[@]}" "$URL$target" > "$WORK/wrk.txt" 2>&1
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
