#!/usr/bin/env bash
# A whole deployment on one machine, on 127.0.0.1: one PostgreSQL database with PostGIS, N
# citytwin instances over it, and nginx in front as load balancer and tile cache — the shape
# of a city's production setup (see deploy/README.md), small enough to try and to measure.
#
# Usage: deploy/loopback.sh up [WORKDIR]      starts it all (the first start seeds the demo city)
#        deploy/loopback.sh down [WORKDIR]    stops the instances and nginx (the database stays;
#                                             DROP=1 drops it too)
#        deploy/loopback.sh status [WORKDIR]  what runs, and each instance's /health
# Env:   INSTANCES (2), PORT (nginx, 18400; instances on PORT+1…), PGURL (a superuser's URL
#        without database, postgresql://postgres@127.0.0.1:5432), DB (citytwin_loopback),
#        SEED (seeds/demo.toml), BIN (a citytwin binary; else built with cargo, release),
#        EXTRA_ENV (more CITYTWIN_* settings for the instances, space-separated NAME=VALUE).
# Needs nginx (Debian: nginx), psql and PostGIS (postgresql-15-postgis-3) on the server.
set -euo pipefail
cmd="${1:-}"
W="${2:-/tmp/citytwin-loopback}"
INSTANCES="${INSTANCES:-2}"
PORT="${PORT:-18400}"
PGURL="${PGURL:-postgresql://postgres@127.0.0.1:5432}"
DB="${DB:-citytwin_loopback}"
cd "$(dirname "$0")/.."
REPO="$(pwd)"
SEED="${SEED:-$REPO/seeds/demo.toml}"

die() { echo "*** $*" >&2; exit 1; }

up() {
  command -v psql >/dev/null || die "psql is missing: apt-get install postgresql-client-15"
  [ -x /usr/sbin/nginx ] || die "nginx is missing: apt-get install nginx"
  [ -f "$W/pids" ] && die "$W holds a running deployment; deploy/loopback.sh down $W first"
  mkdir -p "$W/cache" "$W/logs"
  if [ -z "${BIN:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citytwin-target}"
    cargo build --release -q --bin citytwin
    BIN="$CARGO_TARGET_DIR/release/citytwin"
  fi
  echo "== database $DB on $PGURL"
  if [ "$(psql "$PGURL/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    psql "$PGURL/postgres" -qc "CREATE DATABASE $DB"
  fi
  psql "$PGURL/$DB" -qc "CREATE EXTENSION IF NOT EXISTS postgis" \
    || die "PostGIS cannot be added to $DB: apt-get install postgresql-15-postgis-3"
  # Each instance keeps at most POOL connections and one for the feed of the others' writes.
  local max pool=4
  max=$(psql "$PGURL/postgres" -tAc "SHOW max_connections")
  [ $((INSTANCES * (pool + 1))) -lt "$max" ] \
    || die "$INSTANCES instances × $((pool + 1)) connections reach max_connections ($max)"
  cat > "$W/citytwin.toml" <<EOF
[store]
postgres = "$PGURL/$DB"
postgres_pool = $pool

[limits]
# nginx is the only caller: the caller's address comes from X-Forwarded-For.
trusted_proxies = ["127.0.0.1"]
EOF
  : > "$W/pids"
  local upstream=""
  for i in $(seq 1 "$INSTANCES"); do
    local port=$((PORT + i)) seed=none
    [ "$i" = 1 ] && seed="$SEED"
    # shellcheck disable=SC2086
    env CITYTWIN_CONFIG="$W/citytwin.toml" CITYTWIN_LOG="${CITYTWIN_LOG:-info}" ${EXTRA_ENV:-} \
      "$BIN" serve --bind "127.0.0.1:$port" --seed "$seed" > "$W/logs/citytwin-$i.log" 2>&1 &
    echo "$!" >> "$W/pids"
    for _ in $(seq 1 1200); do
      curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break
      kill -0 "$(tail -n 1 "$W/pids")" 2>/dev/null || { tail -n 20 "$W/logs/citytwin-$i.log" >&2; die "instance $i stopped"; }
      sleep 0.1
    done
    curl -sf -o /dev/null "http://127.0.0.1:$port/health" || die "instance $i never answered"
    echo "== instance $i on 127.0.0.1:$port: $(curl -sf "http://127.0.0.1:$port/health")"
    upstream+="    server 127.0.0.1:$port max_fails=0;"$'\n'
  done
  cat > "$W/nginx.conf" <<EOF
worker_processes auto;
pid $W/nginx.pid;
error_log $W/logs/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  proxy_temp_path $W/cache/tmp;
  client_body_temp_path $W/cache/body;
  # Tiles as citytwin marks them: public ones for their max-age (a day for versioned URLs),
  # private ones (a token holder's, which may show what the public must not see) never.
  proxy_cache_path $W/cache/tiles levels=1:2 keys_zone=tiles:64m max_size=2g inactive=1d use_temp_path=off;
  upstream citytwin {
    least_conn;
$upstream    keepalive 64;
  }
  server {
    listen 127.0.0.1:$PORT reuseport backlog=4096;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    proxy_next_upstream error timeout http_502 http_503;
    location /tiles/ {
      proxy_pass http://citytwin;
      proxy_cache tiles;
      proxy_cache_bypass \$http_authorization;
      proxy_no_cache \$http_authorization;
      proxy_cache_lock on;
      proxy_cache_use_stale updating error timeout http_502 http_503;
      add_header X-Cache \$upstream_cache_status always;
    }
    location /events {
      proxy_pass http://citytwin;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }
    location / {
      proxy_pass http://citytwin;
    }
  }
}
EOF
  /usr/sbin/nginx -t -q -c "$W/nginx.conf" -p "$W" || die "nginx refused $W/nginx.conf"
  /usr/sbin/nginx -c "$W/nginx.conf" -p "$W"
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/health" && break; sleep 0.1; done
  echo "== nginx on http://127.0.0.1:$PORT: $(curl -sf "http://127.0.0.1:$PORT/health")"
  echo "up: $INSTANCES instances over $PGURL/$DB behind http://127.0.0.1:$PORT (logs in $W/logs)"
}

down() {
  if [ -f "$W/nginx.pid" ]; then
    /usr/sbin/nginx -c "$W/nginx.conf" -p "$W" -s quit 2>/dev/null || true
  fi
  if [ -f "$W/pids" ]; then
    while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done < "$W/pids"
    while read -r pid; do
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done < "$W/pids"
    rm -f "$W/pids"
  fi
  rm -rf "$W/cache"
  if [ "${DROP:-0}" = 1 ]; then
    psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
    echo "dropped $DB"
  fi
  echo "down: $W"
}

status() {
  [ -f "$W/pids" ] || { echo "nothing runs from $W"; return 0; }
  local i=0
  while read -r pid; do
    i=$((i + 1))
    if kill -0 "$pid" 2>/dev/null; then
      echo "instance $i (pid $pid): $(curl -sf "http://127.0.0.1:$((PORT + i))/health" || echo 'no answer')"
    else
      echo "instance $i (pid $pid): stopped"
    fi
  done < "$W/pids"
  echo "nginx: $(curl -sf "http://127.0.0.1:$PORT/health" || echo 'no answer')"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) sed -n 2,14p "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
