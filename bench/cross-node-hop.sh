#!/usr/bin/env bash
# Measures what crossing a node link costs: the same small answer (/_myelin/debug/whereami/<group>,
# a never-blocking handler) from a group on the gateway's own node and from a group on another
# node, through the same gateway. Two processes on loopback linked by a 2-node placement
# (PostgreSQL, as every multi-node placement needs: a private one from scripts/test-services.sh).
# Serial (1 connection: the round trip) and concurrent (64 connections: throughput), alternating
# for `rounds` rounds; the table shows each label's median round. Raw results: JSON lines.
# Usage: bench/cross-node-hop.sh [path/to/myelin] [seconds per run] [rounds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$root/build/release/myelin}")
secs=${2:-8}
rounds=${3:-3}
out=${BENCH_OUT:-$root/build/bench-cross-node-hop.jsonl}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$root/scripts/test-services.sh" stop "$work/services" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"$root/scripts/test-services.sh" start "$work/services" >/dev/null
eval "$("$root/scripts/test-services.sh" env "$work/services")"
psql "$MYELIN_TEST_PG" -qAtX -c "CREATE DATABASE hop" >/dev/null
pg_host=$(sed -E 's/.*host=([^ ]+).*/\1/' <<<"$MYELIN_TEST_PG")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cat > "$work/placement.yaml" <<YAML
# a: the gateway we measure through, main and event_creator (the local answer).
# b: client_reader (the remote answer).
shared_secret: "cross-node hop benchmark"
nodes:
  a: {host: 127.0.0.1, port: $(free_port)}
  b: {host: 127.0.0.1, port: $(free_port)}
groups:
  main: {node: a}
  event_creator: {node: a}
  client_reader: {node: b}
YAML

start_node() {
  local name=$1
  mkdir -p "$work/$name"
  cat > "$work/$name/homeserver.yaml" <<YAML
server_name: bench.local
listeners:
  - port: 0
    bind_addresses: ['127.0.0.1']
    resources: [{names: [client]}]
database: {name: psycopg2, args: {dbname: hop, host: $pg_host, user: postgres}}
logging: {level: info, access_log: false}
YAML
  (cd "$work/$name" && exec "$bin" --config homeserver.yaml --placement "$work/placement.yaml" --node "$name") \
    >"$work/$name/log" 2>&1 &
  pids+=($!)
}
start_node a
start_node b
for _ in $(seq 300); do
  grep -q "cluster complete" "$work/a/log" 2>/dev/null && grep -q "cluster complete" "$work/b/log" 2>/dev/null && break
  sleep 0.1
done
grep -q "cluster complete" "$work/a/log" || { echo "nodes did not link:"; for f in "$work"/a/log "$work"/b/log; do tail -n 20 "$f"; done; exit 1; }
port=$(grep -o 'ports=[0-9]*' "$work/a/log" | head -1 | cut -d= -f2)
base=http://127.0.0.1:$port
# Sanity: the two paths are answered where we think.
curl -sf "$base/_myelin/debug/whereami/event_creator" | grep -q event_creator
curl -sf "$base/_myelin/debug/whereami/client_reader" | grep -q client_reader

: > "$out"
run() {
  local label=$1 path=$2 conns=$3 threads=$4
  local line
  line=$(wrk -t"$threads" -c"$conns" -d"${secs}s" -s "$root/bench/wrk-report.lua" "$base$path" | tail -1)
  echo "{\"label\":\"$label\",\"path\":\"$path\",\"connections\":$conns,\"result\":$line}" >> "$out"
}
for round in $(seq "$rounds"); do
  echo "round $round/$rounds" >&2
  run "same node, serial" /_myelin/debug/whereami/event_creator 1 1
  run "other node, serial" /_myelin/debug/whereami/client_reader 1 1
  run "same node, 64 conns" /_myelin/debug/whereami/event_creator 64 2
  run "other node, 64 conns" /_myelin/debug/whereami/client_reader 64 2
done
python3 "$root/bench/summarize.py" "$out" "1 or 64" "$secs" "$rounds"
echo "results: $out"
