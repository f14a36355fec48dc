#!/usr/bin/env bash
# scripts/llama-build.sh [BUILD_DIR] - fetch llama.cpp's source and build it
# CPU-only as static libraries, for `make WITH_LLAMA=1`.
#
# The source comes from the npm package node-llama-cpp (pinned version and
# shasum below): it ships llama.cpp as a git bundle, llama/gitRelease.bundle,
# which is cloned into BUILD_DIR/llama/src.  Nothing of llama.cpp is kept in
# this repository.  The result (BUILD_DIR/llama/lib/*.a and the headers in
# BUILD_DIR/llama/src/include, ggml/include) is cached behind the stamp
# BUILD_DIR/llama/.built; delete it (or BUILD_DIR/llama) to rebuild.
# Link order: -lllama -lggml -lggml-cpu -lggml-base -lstdc++ -lgomp -lm.
set -euo pipefail
B=${1:-build}
D=$B/llama
PKG=node-llama-cpp
VER=3.22.1
SHA=e908932762f21939024263d58f1d6dc3e88b23e6
STAMP=$D/.built
JOBS=${LLAMA_JOBS:-$(nproc)}

# the stamp names the package and this script's own hash: an edited
# script (other cmake options) builds again
ME=$(sha1sum "$0" | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PKG@$VER $SHA $ME" ]; then
    touch "$STAMP"
    exit 0
fi
command -v npm >/dev/null || { echo "llama-build: npm is needed (apt-get install npm)" >&2; exit 1; }
command -v cmake >/dev/null || { echo "llama-build: cmake is needed (apt-get install cmake)" >&2; exit 1; }
command -v git >/dev/null || { echo "llama-build: git is needed" >&2; exit 1; }
mkdir -p "$D/npm"
D=$(cd "$D" && pwd)
TGZ=$D/npm/$PKG-$VER.tgz
if [ ! -f "$TGZ" ] || [ "$(sha1sum "$TGZ" | cut -d' ' -f1)" != "$SHA" ]; then
    rm -f "$TGZ"
    (cd "$D/npm" && npm pack "$PKG@$VER" --silent >/dev/null)
fi
got=$(sha1sum "$TGZ" | cut -d' ' -f1)
if [ "$got" != "$SHA" ]; then
    echo "llama-build: $TGZ has shasum $got, expected $SHA" >&2
    rm -f "$TGZ"; exit 1
fi
rm -rf "$D/npm/package"
tar -xzf "$TGZ" -C "$D/npm" package/llama/gitRelease.bundle
rm -rf "$D/src"
git -c advice.detachedHead=false clone -q "$D/npm/package/llama/gitRelease.bundle" "$D/src"
rm -rf "$D/cmake" "$D/lib"
cmake -S "$D/src" -B "$D/cmake" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=ON \
    -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_BLAS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON >"$D/cmake.log" 2>&1 \
    || { tail -n 30 "$D/cmake.log" >&2; exit 1; }
cmake --build "$D/cmake" --target llama -j "$JOBS" >>"$D/cmake.log" 2>&1 \
    || { tail -n 30 "$D/cmake.log" >&2; exit 1; }
mkdir -p "$D/lib"
for l in llama ggml ggml-cpu ggml-base; do
    f=$(find "$D/cmake" -name "lib$l.a" | head -n1)
    [ -n "$f" ] || { echo "llama-build: lib$l.a not built" >&2; exit 1; }
    cp "$f" "$D/lib/"
done
echo "$PKG@$VER $SHA $ME" > "$STAMP"
