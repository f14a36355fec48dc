#!/usr/bin/env bash
# Install the Debian packages that building and testing Splinter needs.
# Run as root (or with sudo).  Idempotent.
#   build-essential, make, pkg-config : the C toolchain and the build
#   libcmocka-dev                     : unit-test framework (tests/unit)
#   clang, libclang-rt-14-dev         : libFuzzer and sanitizer runtimes (make fuzz)
#   valgrind                          : make test WITH_VALGRIND=1
#   spin                              : model check of the slot protocol (make test-model)
#   libedit-dev                       : splinterctl's REPL (line editing, history, completion)
#   libjansson-dev                    : splinterctl's --json output and JSON Lines export/import
#   liblua5.4-dev, lua5.4             : WITH_LUA=1 (splinterctl lua, the splinter Lua module)
#                                       and the stock interpreter its tests load the module in
#   bats, jq, tmux                    : the splinterctl test suite (tests/cli, tests/lua): the
#                                       runner, JSON checks, the REPL through a pseudo-terminal
#   libnuma-dev, numactl              : WITH_NUMA=1 (src/numa.c: mbind, get_mempolicy and
#                                       move_pages for NUMA placement of stores); numactl -H
#                                       lists the nodes for the tests
#   libhnswlib-dev                    : the benchmark anchor of the HNSW fragment (header-only
#                                       hnswlib, C++): make bench-hnsw runs hnsw-compare, head
#                                       to head with it (fragments/hnsw/bench_hnswlib.cpp)
set -eu
pkgs="build-essential make pkg-config libcmocka-dev clang libclang-rt-14-dev valgrind spin
      libedit-dev libjansson-dev liblua5.4-dev lua5.4 bats jq tmux libnuma-dev numactl libhnswlib-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
