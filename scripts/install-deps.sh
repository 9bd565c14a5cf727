#!/usr/bin/env bash
# Installs the Debian 12 packages Myelin needs, only those missing (so it is fast when all are
# there). Usage: scripts/install-deps.sh [build|test|bench]...  (build is always included)
set -euo pipefail

build=(cmake make pkg-config g++ clang-15 ccache libcaf-dev libboost1.81-dev libboost-json1.81-dev
       libboost-test1.81-dev libboost-url1.81-dev libpqxx-dev libhiredis-dev libyaml-cpp-dev libsodium-dev
       libsqlite3-dev libssl-dev libxml2-dev libvips-dev)
test=(postgresql redis-server python3 python3-matrix-nio python3-olm python3-signedjson synadm python3-pil python3-yaml gnuplot-nox openssl)
bench=(wrk python3 curl python3-pil python3-yaml gnuplot-nox)

wanted=("${build[@]}")
for set in "$@"; do
  case "$set" in
    build) ;;
    test) wanted+=("${test[@]}") ;;
    bench) wanted+=("${bench[@]}") ;;
    *) echo "install-deps: unknown set '$set' (build, test, bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The matrix-js-sdk suite needs node and npm. A newer node installed from elsewhere (nodesource,
# nvm) counts: Debian's packages are added only for the commands that are absent.
if [[ " $* " == *" test "* ]]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
