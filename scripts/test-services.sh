#!/usr/bin/env bash
# A private PostgreSQL 15 cluster and Redis 7 server on unix sockets under DIR, for the tests.
#   test-services.sh start DIR   — create (first time) and start both; idempotent
#   test-services.sh env DIR     — print export lines: MYELIN_TEST_PG (libpq conninfo), MYELIN_TEST_REDIS
#   test-services.sh stop DIR    — stop both; tolerates them being down
# The cluster trusts local connections and its superuser is "postgres", so tests (even as root)
# connect as that role and may CREATE DATABASE freely. fsync is off: the data is throwaway.
set -euo pipefail
cmd=${1:?usage: test-services.sh start|stop|env DIR}
dir=$(mkdir -p "${2:?missing DIR}" && cd "$2" && pwd)
pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/pg_ctl" ] || pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
pgdata=$dir/pg
pgsock=$dir/pg-sock

# PostgreSQL refuses to run as root: run its tools as the postgres user when we are root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
  [ -n "$pgbin" ] && [ -x "$pgbin/pg_ctl" ] || { echo "test-services: PostgreSQL is not installed" >&2; exit 1; }
  mkdir -p "$pgdata" "$pgsock"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$pgdata" "$pgsock"
    # The postgres user must be able to reach DIR (it may sit under root's home): open only
    # the ancestors it cannot already traverse.
    d=$dir
    while [ "$d" != "/" ]; do
      runuser -u postgres -- test -x "$d" 2>/dev/null || chmod o+x "$d"
      d=$(dirname "$d")
    done
  fi
  chmod 0700 "$pgdata"
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    as_pg "$pgbin/initdb" -D "$pgdata" -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_pg "$pgbin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    opts="-c listen_addresses='' -c unix_socket_directories='$pgsock' -c max_connections=400"
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    as_pg "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 -o "$opts" start >/dev/null ||
      { cat "$pgdata/server.log" >&2; exit 1; }
  fi
}

redis_running() { [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; }

start_redis() {
  command -v redis-server >/dev/null || { echo "test-services: redis-server is not installed" >&2; exit 1; }
  redis_running && return
  rm -f "$dir/redis.sock"
  redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" --save "" --appendonly no
  for _ in $(seq 100); do [ -S "$dir/redis.sock" ] && return; sleep 0.1; done
  echo "test-services: redis did not start" >&2; cat "$dir/redis.log" >&2; exit 1
}

stop_redis() {
  if redis_running; then
    pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/redis.pid" "$dir/redis.sock"
}

case "$cmd" in
  start) start_pg; start_redis ;;
  stop)
    if [ -n "$pgbin" ] && [ -f "$pgdata/PG_VERSION" ]; then
      as_pg "$pgbin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
    fi
    stop_redis
    ;;
  env)
    echo "export MYELIN_TEST_PG='host=$pgsock user=postgres dbname=postgres'"
    echo "export MYELIN_TEST_REDIS='$dir/redis.sock'"
    ;;
  *) echo "usage: test-services.sh start|stop|env DIR" >&2; exit 2 ;;
esac
