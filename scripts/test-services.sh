#!/usr/bin/env bash
# A private PostgreSQL 15 cluster and Redis 7 server on unix sockets under DIR, for the tests.
#   test-services.sh start DIR   — create (first time) and start both; idempotent
#   test-services.sh env DIR     — print export lines: MYELIN_TEST_PG (libpq conninfo), MYELIN_TEST_REDIS
#   test-services.sh stop DIR    — stop both; tolerates them being down
set -euo pipefail
cmd=${1:?usage: test-services.sh start|stop|env DIR}
dir=$(mkdir -p "${2:?missing DIR}" && cd "$2" && pwd)
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
pgdata=$dir/pg
pgsock=$dir/pg-sock
pguser=postgres

# PostgreSQL refuses to run as root: run it as the postgres user when we are root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
  [ -n "$pgbin" ] || { echo "test-services: PostgreSQL is not installed" >&2; exit 1; }
  mkdir -p "$pgdata" "$pgsock"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$pgdata" "$pgsock"
    chmod 0700 "$pgdata"
    # The postgres user must be able to reach DIR (it may sit under root's home).
    d=$dir; while [ "$d" != "/" ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
  else
    pguser=$(id -un)
  fi
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    as_pg "$pgbin/initdb" -D "$pgdata" -A trust -U postgres --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_pg "$pgbin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    as_pg "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 \
      -o "-c listen_addresses='' -c unix_socket_directories='$pgsock' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
      start >/dev/null || { cat "$pgdata/server.log" >&2; exit 1; }
  fi
}

start_redis() {
  command -v redis-server >/dev/null || { echo "test-services: redis-server is not installed" >&2; exit 1; }
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then return; fi
  redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" --save "" --appendonly no
  for _ in $(seq 50); do [ -S "$dir/redis.sock" ] && return; sleep 0.1; done
  echo "test-services: redis did not start" >&2; cat "$dir/redis.log" >&2; exit 1
}

case "$cmd" in
  start) start_pg; start_redis ;;
  stop)
    if [ -n "$pgbin" ] && [ -f "$pgdata/PG_VERSION" ]; then
      as_pg "$pgbin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [ -f "$dir/redis.pid" ]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; rm -f "$dir/redis.pid"; fi
    ;;
  env)
    echo "export MYELIN_TEST_PG='host=$pgsock user=postgres dbname=postgres'"
    echo "export MYELIN_TEST_REDIS='$dir/redis.sock'"
    ;;
  *) echo "usage: test-services.sh start|stop|env DIR" >&2; exit 2 ;;
esac
