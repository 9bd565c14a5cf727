#!/usr/bin/env bash
# Measures what the actor hop costs: /versions and /account/whoami through the gateway → group
# instance → back, against the same answers produced directly inside the gateway (a bare Beast
# handler in the same binary). wrk, 64 connections, bounded in time; loopback only.
# Usage: bench/http-hop.sh [path/to/myelin] [seconds per run] [rounds]
# The four runs alternate for `rounds` rounds (default 3) and the table shows each one's median
# round, so a noisy neighbour on a 2-core machine skews all four alike. Raw results: JSON lines.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/release/myelin}
secs=${2:-10}
rounds=${3:-3}
threads=${WRK_THREADS:-2}
conns=${WRK_CONNECTIONS:-64}
out=${BENCH_OUT:-$root/build/bench-http-hop.jsonl}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/homeserver.yaml" <<YAML
server_name: bench.local
listeners:
  - port: 0
    bind_addresses: ['127.0.0.1']
    resources: [{names: [client]}]
database: {name: sqlite3, args: {database: $work/hs.db}}
enable_registration: true
enable_registration_without_verification: true
logging: {level: warn, access_log: false, components: {main: info}}
YAML
"$bin" --config "$work/homeserver.yaml" --bench-direct-endpoints >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  port=$(grep -o 'ports=[0-9]*' "$work/log" | head -1 | cut -d= -f2 || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "${port:-}" ] || { echo "server did not start:"; cat "$work/log"; exit 1; }
base=http://127.0.0.1:$port
token=$(curl -sf -X POST "$base/_matrix/client/v3/register" -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench password","auth":{"type":"m.login.dummy"}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

: > "$out"
run() {
  local label=$1 path=$2 tok=$3
  local line
  line=$(MYELIN_TOKEN=$tok wrk -t"$threads" -c"$conns" -d"${secs}s" -s "$root/bench/wrk-report.lua" "$base$path" | tail -1)
  echo "{\"label\":\"$label\",\"path\":\"$path\",\"result\":$line}" >> "$out"
}
for round in $(seq "$rounds"); do
  echo "round $round/$rounds" >&2
  run "versions (actor hop)" /_matrix/client/versions ""
  run "versions (bare Beast handler)" /_myelin/direct/versions ""
  run "whoami (actor hop)" /_matrix/client/v3/account/whoami "$token"
  run "whoami (bare Beast handler)" /_myelin/direct/whoami "$token"
done
python3 "$root/bench/summarize.py" "$out" "$conns" "$secs" "$rounds"
echo "results: $out"
