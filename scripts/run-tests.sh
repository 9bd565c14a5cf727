#!/usr/bin/env bash
# Builds the test tree (ASan + UBSan), starts a private PostgreSQL and Redis on unix sockets under
# the build tree, runs every test with ctest, and tears the servers down whatever happens.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MYELIN_TEST_BUILD:-$root/build/test}
jobs=${JOBS:-$(nproc)}
services=$build/services

export CCACHE_DIR=${CCACHE_DIR:-$root/.ccache}
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

start=$(date +%s)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DMYELIN_SANITIZE=ON \
  -DCMAKE_CXX_COMPILER=clang++-15 -DCMAKE_CXX_FLAGS="-O1" -DMYELIN_FUZZ=ON >/dev/null
cmake --build "$build" -j"$jobs"
# The load generator is outside `all` (no server target needs it); its test suite needs it built.
cmake --build "$build" -j"$jobs" --target myelin-loadgen
echo "run-tests: build took $(( $(date +%s) - start )) s"

# npm packages of the real-client suites, pinned by each directory's package-lock.json:
# matrix-js-sdk (tests/e2e/js-sdk, test_js_sdk.py) and matrix-appservice-bridge
# (tests/e2e/appservice-bridge, test_appservice_bridge.py); reinstalled only when node_modules is
# missing or older than the lock file.
for js in "$root/tests/e2e/js-sdk" "$root/tests/e2e/appservice-bridge"; do
  if [ ! -d "$js/node_modules" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
    if command -v npm >/dev/null; then
      npm ci --prefix "$js" --no-audit --no-fund
    else
      echo "run-tests: npm not found; the suites using $js will fail or skip (scripts/install-deps.sh test installs it)" >&2
    fi
  fi
done

"$root/scripts/test-services.sh" start "$services"
trap '"$root/scripts/test-services.sh" stop "$services"' EXIT
eval "$("$root/scripts/test-services.sh" env "$services")"
export MYELIN_REQUIRE_PG=1

cd "$build"
ctest --output-on-failure -j"$jobs" --timeout 600 "$@"
