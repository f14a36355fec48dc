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
#   libnats-dev                       : WITH_NATS=1 (mirror/: splinter-mirror, the NATS
#                                       JetStream KV mirror; nats.c with its KeyValue API)
#   nats-server                       : the mirror's tests (make test-mirror) run a real
#                                       JetStream server on loopback, and the mirror bench
#   golang-go                         : the Go binding (bindings/go, cgo; make test-go)
#   gnuplot-nox                       : bench/bindings/plot.sh, the bindings' latency plot (PNG)
#   python3                           : node-gyp, which builds the Node.js addon (bindings/node)
#   nodejs, npm (only if no node)     : the Node.js binding (make test-node); the machines come
#                                       with Node.js 20, which a Debian nodejs would downgrade
#   cmake, git                        : WITH_LLAMA=1 (CI builds it) fetches llama.cpp from
#                                       npm (scripts/llama-build.sh: npm pack, then git clone
#                                       of the package's bundle) and builds it with cmake;
#                                       python3-numpy (below) writes its test model
#   libhnswlib-dev                    : the benchmark anchor of the HNSW fragment (header-only
#                                       hnswlib, C++): make bench-hnsw runs hnsw-compare, head
#                                       to head with it (fragments/hnsw/bench_hnswlib.cpp)
#   libfaiss-dev, libopenblas-openmp-dev : make bench compares batched vector search with
#                                       FAISS's exact IndexFlatIP/L2 (bench/faiss.cpp, built
#                                       when the headers are there: WITH_FAISS); FAISS batches
#                                       go through BLAS sgemm, and libfaiss-dev alone pulls in
#                                       the reference BLAS, so OpenBLAS (the OpenMP build, one
#                                       thread pool with FAISS's) is installed to provide it
set -eu
pkgs="build-essential make pkg-config libcmocka-dev clang libclang-rt-14-dev valgrind spin
      libedit-dev libjansson-dev liblua5.4-dev lua5.4 bats jq tmux libnuma-dev numactl
      libnats-dev nats-server golang-go gnuplot-nox python3 libfaiss-dev libopenblas-openmp-dev libhnswlib-dev cmake git"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
# Python binding (bindings/python; make test-python, bench-python, install-python):
#   python3-pytest                    : its test suite (run with Debian's /usr/bin/python3)
#   python3-numpy                     : the optional numpy path of its vector calls, tested
#   python3-setuptools, python3-pip   : pip install ./bindings/python offline (no PyPI),
#                                       tested by the suite and used by make install-python
#   python3-redis, redis-server       : make bench-python compares with a redis-server on loopback
# The Rust binding (bindings/rust) needs cargo and rustc >= 1.77, which the
# machine's toolchain provides (Debian 12's rustc is older); it has no crates.
pkgs="$pkgs python3-pytest python3-numpy python3-setuptools python3-pip python3-redis redis-server"
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
