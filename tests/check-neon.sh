#!/usr/bin/env bash
# tests/check-neon.sh - compile the AArch64 (NEON) kernels of src/vec_simd.c
# with clang for aarch64-linux-gnu, warnings as errors.  This CI machine is
# x86-64, so the NEON path is built here but never run.  The section between
# "#elif defined(__aarch64__)" and the next "#else" is compiled on its own
# (freestanding: no AArch64 libc headers are needed) against the kernels'
# contract, src/vec_kernels.h (itself freestanding), and a stand-in for the
# scalar path it falls back to.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/spl-neon-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
{
    echo '#include "vec_kernels.h"'
    echo 'static const struct spl__vk spl__vk_scalar;'
    sed -n '/^#elif defined(__aarch64__)/,/^#else/p' "$here/src/vec_simd.c" | sed '1d;$d'
    echo 'const void *spl__neon_check(void) { return spl__vk_runnable(0); }'
} > "$tmp/neon.c"
grep -q vfmaq_f32 "$tmp/neon.c" || { echo "check-neon: no NEON section found" >&2; exit 1; }
clang --target=aarch64-linux-gnu -ffreestanding -std=c11 -O2 -Wall -Wextra -Werror \
    -Wno-unused-const-variable -I"$here/src" -c "$tmp/neon.c" -o "$tmp/neon.o"
echo "check-neon: the NEON kernels compile for aarch64"
