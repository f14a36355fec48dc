#!/usr/bin/env bash
# tests/check-neon.sh - compile the AArch64 (NEON) kernels of src/vec_simd.c
# with clang for aarch64-linux-gnu, warnings as errors.  This CI machine is
# x86-64, so the NEON path is built here but never run.  The section between
# "#elif defined(__aarch64__)" and the next "#else" is compiled on its own
# (freestanding: no AArch64 libc headers are needed) against stand-ins for
# the two declarations it uses from internal.h.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/spl-neon-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
{
    cat <<'HDR'
#include <stddef.h>
#include <stdint.h>
struct spl__vk {
    const char *name;
    float (*dot_f32)(const float *, const float *, uint32_t);
    float (*dot_f16)(const float *, const uint16_t *, uint32_t);
    float (*dot_i8)(const float *, const int8_t *, uint32_t);
};
float spl__f16_to_f32(uint16_t h);
static const struct spl__vk spl__vk_scalar;
HDR
    sed -n '/^#elif defined(__aarch64__)/,/^#else/p' "$here/src/vec_simd.c" | sed '1d;$d'
    echo 'const void *spl__neon_check(void) { return spl__vk_runnable(0); }'
} > "$tmp/neon.c"
grep -q vfmaq_f32 "$tmp/neon.c" || { echo "check-neon: no NEON section found" >&2; exit 1; }
clang --target=aarch64-linux-gnu -ffreestanding -std=c11 -O2 -Wall -Wextra -Werror \
    -Wno-unused-const-variable -c "$tmp/neon.c" -o "$tmp/neon.o"
echo "check-neon: the NEON kernels compile for aarch64"
