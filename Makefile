# The two commands of the README:
#   make run   — install what is missing, build, and run the all-in-one server on 127.0.0.1:8008
#   make test  — install what is missing, build the test tree and pass every test
.PHONY: run build test deps bench clean

BUILD ?= build/release
JOBS ?= $(shell nproc)
export CCACHE_DIR ?= $(CURDIR)/.ccache
export CCACHE_SLOPPINESS = pch_defines,time_macros,include_file_mtime,include_file_ctime

build:
	@scripts/install-deps.sh build
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-15 >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target myelin

run: build
	$(BUILD)/myelin --data-dir var

test:
	@scripts/install-deps.sh build test
	@scripts/run-tests.sh

bench: build
	@scripts/install-deps.sh bench
	@bench/http-hop.sh $(BUILD)/myelin

clean:
	rm -rf build
