# Shell helpers shared by the benchmark scripts (sourced, not run).

now() { date +%s.%N; }

# Writes dirty pages and drops the OS page cache when allowed (root); returns 1 when not.
drop_caches() {
  sync
  [ -w /proc/sys/vm/drop_caches ] || return 1
  echo 3 > /proc/sys/vm/drop_caches
}

# The same memory state before each run: the page cache dropped, then FILE read once so that
# every program finds it cached. On a VM whose free memory is spent on old page cache, the next
# program pays for reclaiming it: the first 10M run on 2026-11-26 without this took 77 s
# (ogr2ogr 42 s) against 33–37 s.
settle() {
  drop_caches || true
  cat "$1" > /dev/null
}

# serve_once BIN STORE LOG: starts `BIN serve` on STORE, waits until it listens, stops it;
# prints "seconds rss_kb". LOG keeps what the server printed.
serve_once() {
  local bin="$1" store="$2" log="$3" t0 t1 pid rss
  # A log left by an earlier start would say "listening" before this server does.
  rm -f "$log"
  t0=$(now)
  CITYTWIN_LOG="${CITYTWIN_LOG:-citytwin=info}" "$bin" --store "$store" serve \
    --bind 127.0.0.1:0 --seed none > "$log" 2>&1 &
  pid=$!
  until grep -q "listening on" "$log" 2>/dev/null; do sleep 0.05; done
  t1=$(now)
  rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  echo "$(echo "$t1 - $t0" | bc) $rss"
}
