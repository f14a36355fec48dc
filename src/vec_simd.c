/*
 * vec_simd.c - dot-product kernels for the vector cells, one set per SIMD
 * path, and the run-time choice among them (docs/VECTORS.md, "SIMD").
 *
 * Paths: avx512vnni (AVX-512F/BW + AVX512-VNNI), avx512 (AVX-512F), avxvnni
 * (AVX2 + AVX-VNNI), avx2 (AVX2 + FMA + F16C), sse (SSE2, the x86-64
 * baseline), neon (AArch64) and scalar (the reference).  src/vec_kernels.h
 * has the kernels' contract.  Each x86 kernel is
 * compiled for its own target with a function attribute, so one binary
 * carries all of them; the best path the CPU runs is chosen once per
 * process (at the first open or create), $SPLINTER_SIMD may name another
 * one the CPU runs, and spl_vec_simd_force() switches for tests and benches.
 *
 * Kernels read the lanes in place with plain vector loads, inside the
 * caller's seqlock read section: a torn read is discarded by the caller's
 * epoch re-check, and float arithmetic on any bit pattern is harmless
 * (no traps are enabled).
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

#if SPL_WITH_EMBEDDINGS

/* ---- float16 conversions (also used by writers and readers) ------------- */

float spl__f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        float f = (float)man * (1.0f / 16777216.0f); /* subnormal: man * 2^-24, exact */
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (man << 13);
    else
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t spl__f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* infinity, NaN */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) /* rounds to 65520 or more: overflow */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) { /* below 2^-14: a half subnormal (or zero) */
        uint32_t e = ax >> 23;
        if (e < 102) /* below 2^-25: rounds to zero */
            return sign;
        uint32_t full = (ax & 0x7fffffu) | 0x800000u, shift = 126 - e;
        uint32_t m = full >> shift, rem = full & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (m & 1)))
            m++; /* may carry into the smallest normal: still right */
        return (uint16_t)(sign | m);
    }
    uint32_t e = ax - 0x38000000u; /* re-bias the exponent (127 -> 15) */
    uint32_t r = e >> 13, rem = e & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1)))
        r++;
    return (uint16_t)(sign | r);
}

/* ---- scalar: the reference ----------------------------------------------
 * One accumulator per dot, elements in order.  float16 goes through a small
 * buffer of floats; out[] is the accumulator across its chunks, so the sum
 * is still element by element. */

#define SPL__CHUNK 64

static void dots_f32_scalar(const float *q, size_t qs, uint32_t nq, const void *const *xv,
                            uint32_t n, float *out)
{
    for (uint32_t c = 0; c < SPL__GX; c++) {
        const float *x = xv[c];
        for (uint32_t j = 0; j < nq; j++) {
            const float *qj = q + j * qs;
            float acc = 0;
            for (uint32_t i = 0; i < n; i++)
                acc += qj[i] * x[i];
            out[c * nq + j] = acc;
        }
    }
}

static void dots_f16_scalar(const float *q, size_t qs, uint32_t nq, const void *const *xv,
                            uint32_t n, float *out)
{
    float buf[SPL__CHUNK];
    for (uint32_t c = 0; c < SPL__GX; c++) {
        const uint16_t *x = xv[c];
        for (uint32_t j = 0; j < nq; j++)
            out[c * nq + j] = 0;
        for (uint32_t i0 = 0; i0 < n; i0 += SPL__CHUNK) {
            uint32_t m = n - i0 < SPL__CHUNK ? n - i0 : SPL__CHUNK;
            for (uint32_t i = 0; i < m; i++)
                buf[i] = spl__f16_to_f32(x[i0 + i]);
            for (uint32_t j = 0; j < nq; j++) {
                const float *qj = q + j * qs + i0;
                float acc = out[c * nq + j];
                for (uint32_t i = 0; i < m; i++)
                    acc += qj[i] * buf[i];
                out[c * nq + j] = acc;
            }
        }
    }
}

static void dots_i8_scalar(const int8_t *q, size_t qs, uint32_t nq, const void *const *xv,
                           uint32_t n, int32_t *out)
{
    for (uint32_t c = 0; c < SPL__GX; c++) {
        const int8_t *x = xv[c];
        for (uint32_t j = 0; j < nq; j++) {
            const int8_t *qj = q + j * qs;
            int32_t acc = 0;
            for (uint32_t i = 0; i < n; i++)
                acc += (int32_t)qj[i] * x[i];
            out[c * nq + j] = acc;
        }
    }
}

static void enc_f16_scalar(const float *v, uint16_t *o, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        o[i] = spl__f32_to_f16(v[i]);
}

static void dec_f16_scalar(const uint16_t *h, float *o, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        o[i] = spl__f16_to_f32(h[i]);
}

static const struct spl__vk spl__vk_scalar = {"scalar", 0, dots_f32_scalar, dots_f16_scalar,
                                              dots_i8_scalar, enc_f16_scalar, dec_f16_scalar};

/* ---- x86-64 -------------------------------------------------------------
 * Register blocking: a micro-kernel keeps 4 cells x QB queries of
 * accumulators in registers, loads each cell chunk once per QB queries and
 * each query chunk once per 4 cells.  A kernel call walks the queries in
 * blocks of QB and, for each block, the cells in fours (so a block's
 * queries stay in L1 across the call's cells).  Tails: masked loads where
 * the ISA has them, else the cell's last elements copied into a zeroed
 * buffer (a cell's padding is never read: a hostile peer's garbage there
 * must not reach a score).  Queries are packed and padded (SPL__QPAD), so
 * query loads are whole and aligned. */
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#define SPL__T_SSE     __attribute__((target("sse2")))
#define SPL__T_AVX2    __attribute__((target("avx2,fma,f16c")))
#define SPL__T_AVXVNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
#define SPL__T_AVX512  __attribute__((target("avx512f,avx2,fma,f16c")))
#define SPL__T_VNNI512 __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma,f16c")))
#define SPL__AI        inline __attribute__((always_inline))

/* Run micro-kernel MK(q, qs, QB, x4, n, out, nq) over every query block and
 * cell four; QB is a compile-time constant in each instance. */
#define SPL__BLOCKS(MK, QBMAX, qtype, otype)                                          \
    for (uint32_t j0 = 0; j0 < nq; j0 += QBMAX) {                                   \
        uint32_t qb = nq - j0 < QBMAX ? nq - j0 : QBMAX;                              \
        const qtype *qj = q + j0 * qs;                                                \
        for (uint32_t h = 0; h < SPL__GX; h += 4) {                                   \
            otype *o = out + h * nq + j0;                                             \
            switch (qb) {                                                             \
            case 6: MK(qj, qs, 6, x + h, n, o, nq); break;                            \
            case 5: MK(qj, qs, 5, x + h, n, o, nq); break;                            \
            case 4: MK(qj, qs, 4, x + h, n, o, nq); break;                            \
            case 3: MK(qj, qs, 3, x + h, n, o, nq); break;                            \
            case 2: MK(qj, qs, 2, x + h, n, o, nq); break;                            \
            default: MK(qj, qs, 1, x + h, n, o, nq); break;                           \
            }                                                                         \
        }                                                                             \
    }

/* ---- sse (SSE2: every x86-64) ---- */

SPL__T_SSE static float hsum128(__m128 v)
{
    __m128 s = _mm_add_ps(v, _mm_movehl_ps(v, v));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

SPL__T_SSE static int32_t hsum128i(__m128i v)
{
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
    return _mm_cvtsi128_si32(v);
}

#define SPL__QB_SSE 2
SPL__T_SSE static SPL__AI void mk_f32_sse(const float *q, size_t qs, const uint32_t qb,
                                          const float *const *x, uint32_t n, float *out,
                                          uint32_t nq)
{
    __m128 a[4][SPL__QB_SSE];
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 8
        for (uint32_t j = 0; j < qb; j++)
            a[c][j] = _mm_setzero_ps();
    uint32_t i = 0;
    for (;; i += 4) {
        __m128 xc[4];
        if (i + 4 <= n) {
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                xc[c] = _mm_loadu_ps(x[c] + i);
        } else if (i < n) {
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++) {
                float t[4] = {0, 0, 0, 0};
                memcpy(t, x[c] + i, (n - i) * 4);
                xc[c] = _mm_loadu_ps(t);
            }
        } else {
            break;
        }
#pragma GCC unroll 2
        for (uint32_t j = 0; j < qb; j++) {
            __m128 qv = _mm_load_ps(q + j * qs + i);
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                a[c][j] = _mm_add_ps(a[c][j], _mm_mul_ps(qv, xc[c]));
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 8
        for (uint32_t j = 0; j < qb; j++)
            out[c * nq + j] = hsum128(a[c][j]);
}

SPL__T_SSE static void dots_f32_sse(const float *q, size_t qs, uint32_t nq, const void *const *xv,
                                    uint32_t n, float *out)
{
    const float *const *x = (const float *const *)xv;
    for (uint32_t j0 = 0; j0 < nq; j0 += SPL__QB_SSE) {
        const float *qj = q + j0 * qs;
        for (uint32_t h = 0; h < SPL__GX; h += 4) {
            if (nq - j0 >= 2)
                mk_f32_sse(qj, qs, 2, x + h, n, out + h * nq + j0, nq);
            else
                mk_f32_sse(qj, qs, 1, x + h, n, out + h * nq + j0, nq);
        }
    }
}

/* float16 without a half-precision load: each chunk of the four cells
 * converted in software, then scored like float32; a dot is the sum of its
 * chunks' partial sums, in chunk order. */
SPL__T_SSE static void dots_f16_sse(const float *q, size_t qs, uint32_t nq, const void *const *xv,
                                    uint32_t n, float *out)
{
    float buf[SPL__GX][SPL__CHUNK];
    const float *bp[SPL__GX];
    float part[SPL__GX];
    for (uint32_t c = 0; c < SPL__GX; c++)
        bp[c] = buf[c];
    for (uint32_t t = 0; t < SPL__GX * nq; t++)
        out[t] = 0;
    for (uint32_t i0 = 0; i0 < n; i0 += SPL__CHUNK) {
        uint32_t m = n - i0 < SPL__CHUNK ? n - i0 : SPL__CHUNK;
        for (uint32_t c = 0; c < SPL__GX; c++)
            for (uint32_t i = 0; i < m; i++)
                buf[c][i] = spl__f16_to_f32(((const uint16_t *)xv[c])[i0 + i]);
        for (uint32_t j = 0; j < nq; j++) {
            dots_f32_sse(q + j * qs + i0, qs, 1, (const void *const *)bp, m, part);
            for (uint32_t c = 0; c < SPL__GX; c++)
                out[c * nq + j] += part[c];
        }
    }
}

/* int8 with SSE2 only: bytes sign-extended to 16 bits, pmaddwd (exact). */
SPL__T_SSE static void dots_i8_sse(const int8_t *q, size_t qs, uint32_t nq, const void *const *xv,
                                   uint32_t n, int32_t *out)
{
    for (uint32_t h = 0; h < SPL__GX; h += 4) {
        const int8_t *x[4];
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++)
            x[c] = xv[h + c];
        for (uint32_t j = 0; j < nq; j++) {
            const int8_t *qj = q + j * qs;
            __m128i a[4] = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128(),
                            _mm_setzero_si128()};
            for (uint32_t i = 0; i < n; i += 16) {
                __m128i qv = _mm_load_si128((const __m128i *)(const void *)(qj + i));
                __m128i q0 = _mm_srai_epi16(_mm_unpacklo_epi8(qv, qv), 8);
                __m128i q1 = _mm_srai_epi16(_mm_unpackhi_epi8(qv, qv), 8);
#pragma GCC unroll 8
                for (int c = 0; c < 4; c++) {
                    __m128i v;
                    if (i + 16 <= n) {
                        v = _mm_loadu_si128((const __m128i *)(const void *)(x[c] + i));
                    } else {
                        int8_t t[16] = {0};
                        memcpy(t, x[c] + i, n - i);
                        v = _mm_loadu_si128((const __m128i *)(const void *)t);
                    }
                    __m128i w0 = _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
                    __m128i w1 = _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8);
                    a[c] = _mm_add_epi32(a[c], _mm_add_epi32(_mm_madd_epi16(w0, q0),
                                                             _mm_madd_epi16(w1, q1)));
                }
            }
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                out[(h + c) * nq + j] = hsum128i(a[c]);
        }
    }
}

static const struct spl__vk spl__vk_sse = {"sse", 0, dots_f32_sse, dots_f16_sse, dots_i8_sse,
                                           enc_f16_scalar, dec_f16_scalar};

/* ---- avx2 (AVX2 + FMA + F16C) ---- */

SPL__T_AVX2 static float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

SPL__T_AVX2 static int32_t hsum256i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* lanes 0..m-1 set (m < 8): _mm256_maskload_ps reads only those */
SPL__T_AVX2 static __m256i tailmask256(uint32_t m)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define SPL__QB_AVX2 2
SPL__T_AVX2 static SPL__AI void mk_f32_avx2(const float *q, size_t qs, const uint32_t qb,
                                            const float *const *x, uint32_t n, float *out,
                                            uint32_t nq)
{
    __m256 a[4][SPL__QB_AVX2];
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 8
        for (uint32_t j = 0; j < qb; j++)
            a[c][j] = _mm256_setzero_ps();
    for (uint32_t i = 0; i < n; i += 8) {
        __m256 xc[4];
        if (i + 8 <= n) {
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                xc[c] = _mm256_loadu_ps(x[c] + i);
        } else {
            __m256i m = tailmask256(n - i);
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                xc[c] = _mm256_maskload_ps(x[c] + i, m);
        }
#pragma GCC unroll 2
        for (uint32_t j = 0; j < qb; j++) {
            __m256 qv = _mm256_load_ps(q + j * qs + i);
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                a[c][j] = _mm256_fmadd_ps(qv, xc[c], a[c][j]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 8
        for (uint32_t j = 0; j < qb; j++)
            out[c * nq + j] = hsum256(a[c][j]);
}

/* the last n - i (< 8) halves of each cell, zero-filled */
SPL__T_AVX2 static __m256 f16_tail8(const uint16_t *x, uint32_t m)
{
    uint16_t t[8] = {0};
    memcpy(t, x, m * 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)t));
}

SPL__T_AVX2 static SPL__AI void mk_f16_avx2(const float *q, size_t qs, const uint32_t qb,
                                            const uint16_t *const *x, uint32_t n, float *out,
                                            uint32_t nq)
{
    __m256 a[4][SPL__QB_AVX2];
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 8
        for (uint32_t j = 0; j < qb; j++)
            a[c][j] = _mm256_setzero_ps();
    for (uint32_t i = 0; i < n; i += 8) {
        __m256 xc[4];
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++)
            xc[c] = i + 8 <= n ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(x[c] + i)))
                               : f16_tail8(x[c] + i, n - i);
#pragma GCC unroll 2
        for (uint32_t j = 0; j < qb; j++) {
            __m256 qv = _mm256_load_ps(q + j * qs + i);
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                a[c][j] = _mm256_fmadd_ps(qv, xc[c], a[c][j]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 8
        for (uint32_t j = 0; j < qb; j++)
            out[c * nq + j] = hsum256(a[c][j]);
}

SPL__T_AVX2 static __m256i i8_tail32(const int8_t *x, uint32_t m)
{
    int8_t t[32] = {0};
    memcpy(t, x, m);
    return _mm256_loadu_si256((const __m256i *)(const void *)t);
}

/* int8 x int8 without VNNI: |q| (unsigned) times x with q's sign
 * (vpmaddubsw: pairs at most 2 x 127 x 128, no saturation), then vpmaddwd
 * by ones into int32. */
SPL__T_AVX2 static SPL__AI void mk_i8_avx2(const int8_t *q, size_t qs, const uint32_t qb,
                                           const int8_t *const *x, uint32_t n, int32_t *out,
                                           uint32_t nq)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i a[4][SPL__QB_AVX2];
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 8
        for (uint32_t j = 0; j < qb; j++)
            a[c][j] = _mm256_setzero_si256();
    for (uint32_t i = 0; i < n; i += 32) {
        __m256i xc[4];
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++)
            xc[c] = i + 32 <= n ? _mm256_loadu_si256((const __m256i *)(const void *)(x[c] + i))
                                : i8_tail32(x[c] + i, n - i);
#pragma GCC unroll 2
        for (uint32_t j = 0; j < qb; j++) {
            __m256i qv = _mm256_load_si256((const __m256i *)(const void *)(q + j * qs + i));
            __m256i qa = _mm256_sign_epi8(qv, qv);
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++) {
                __m256i p = _mm256_maddubs_epi16(qa, _mm256_sign_epi8(xc[c], qv));
                a[c][j] = _mm256_add_epi32(a[c][j], _mm256_madd_epi16(p, ones));
            }
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 8
        for (uint32_t j = 0; j < qb; j++)
            out[c * nq + j] = hsum256i(a[c][j]);
}

SPL__T_AVX2 static void dots_f32_avx2(const float *q, size_t qs, uint32_t nq, const void *const *xv,
                                      uint32_t n, float *out)
{
    const float *const *x = (const float *const *)xv;
    for (uint32_t j0 = 0; j0 < nq; j0 += 2)
        for (uint32_t h = 0; h < SPL__GX; h += 4) {
            if (nq - j0 >= 2)
                mk_f32_avx2(q + j0 * qs, qs, 2, x + h, n, out + h * nq + j0, nq);
            else
                mk_f32_avx2(q + j0 * qs, qs, 1, x + h, n, out + h * nq + j0, nq);
        }
}

SPL__T_AVX2 static void dots_f16_avx2(const float *q, size_t qs, uint32_t nq, const void *const *xv,
                                      uint32_t n, float *out)
{
    const uint16_t *const *x = (const uint16_t *const *)xv;
    for (uint32_t j0 = 0; j0 < nq; j0 += 2)
        for (uint32_t h = 0; h < SPL__GX; h += 4) {
            if (nq - j0 >= 2)
                mk_f16_avx2(q + j0 * qs, qs, 2, x + h, n, out + h * nq + j0, nq);
            else
                mk_f16_avx2(q + j0 * qs, qs, 1, x + h, n, out + h * nq + j0, nq);
        }
}

SPL__T_AVX2 static void dots_i8_avx2(const int8_t *q, size_t qs, uint32_t nq, const void *const *xv,
                                     uint32_t n, int32_t *out)
{
    const int8_t *const *x = (const int8_t *const *)xv;
    for (uint32_t j0 = 0; j0 < nq; j0 += 2)
        for (uint32_t h = 0; h < SPL__GX; h += 4) {
            if (nq - j0 >= 2)
                mk_i8_avx2(q + j0 * qs, qs, 2, x + h, n, out + h * nq + j0, nq);
            else
                mk_i8_avx2(q + j0 * qs, qs, 1, x + h, n, out + h * nq + j0, nq);
        }
}

/* F16C: vcvtps2ph rounds to nearest even like spl__f32_to_f16 (overflow to
 * infinity, subnormals exact). */
SPL__T_AVX2 static void enc_f16_f16c(const float *v, uint16_t *o, uint32_t n)
{
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(o + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(v + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++)
        o[i] = spl__f32_to_f16(v[i]);
}

SPL__T_AVX2 static void dec_f16_f16c(const uint16_t *h, float *o, uint32_t n)
{
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(o + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(h + i))));
    for (; i < n; i++)
        o[i] = spl__f16_to_f32(h[i]);
}

static const struct spl__vk spl__vk_avx2 = {"avx2", 0, dots_f32_avx2, dots_f16_avx2, dots_i8_avx2,
                                            enc_f16_f16c, dec_f16_f16c};

/* ---- avxvnni (AVX2 + AVX-VNNI: vpdpbusd on 256 bits) ---- */

/* sum of each cell's bytes (for the bias), in int32 */
SPL__T_AVXVNNI static void sums_i8_avxvnni(const int8_t *const *x, uint32_t n, int32_t *sum)
{
    const __m256i ones = _mm256_set1_epi8(1);
    for (uint32_t c = 0; c < SPL__GX; c++) {
        __m256i s = _mm256_setzero_si256();
        for (uint32_t i = 0; i < n; i += 32)
            s = _mm256_dpbusd_avx_epi32(s, ones, i + 32 <= n ? _mm256_loadu_si256((const __m256i *)(const void *)(x[c] + i))
                                                             : i8_tail32(x[c] + i, n - i));
        sum[c] = hsum256i(s);
    }
}

SPL__T_AVXVNNI static SPL__AI void mk_i8_avxvnni(const int8_t *q, size_t qs, const uint32_t qb,
                                                 const int8_t *const *x, uint32_t n, int32_t *out,
                                                 uint32_t nq)
{
    __m256i a[4][SPL__QB_AVX2];
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 8
        for (uint32_t j = 0; j < qb; j++)
            a[c][j] = _mm256_setzero_si256();
    for (uint32_t i = 0; i < n; i += 32) {
        __m256i xc[4];
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++)
            xc[c] = i + 32 <= n ? _mm256_loadu_si256((const __m256i *)(const void *)(x[c] + i))
                                : i8_tail32(x[c] + i, n - i);
#pragma GCC unroll 2
        for (uint32_t j = 0; j < qb; j++) {
            __m256i qv = _mm256_load_si256((const __m256i *)(const void *)(q + j * qs + i));
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                a[c][j] = _mm256_dpbusd_avx_epi32(a[c][j], qv, xc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 8
        for (uint32_t j = 0; j < qb; j++)
            out[c * nq + j] = hsum256i(a[c][j]);
}

SPL__T_AVXVNNI static void dots_i8_avxvnni(const int8_t *q, size_t qs, uint32_t nq,
                                           const void *const *xv, uint32_t n, int32_t *out)
{
    const int8_t *const *x = (const int8_t *const *)xv;
    int32_t sum[SPL__GX];
    sums_i8_avxvnni(x, n, sum);
    for (uint32_t j0 = 0; j0 < nq; j0 += 2)
        for (uint32_t h = 0; h < SPL__GX; h += 4) {
            if (nq - j0 >= 2)
                mk_i8_avxvnni(q + j0 * qs, qs, 2, x + h, n, out + h * nq + j0, nq);
            else
                mk_i8_avxvnni(q + j0 * qs, qs, 1, x + h, n, out + h * nq + j0, nq);
        }
    for (uint32_t c = 0; c < SPL__GX; c++)
        for (uint32_t j = 0; j < nq; j++)
            out[c * nq + j] -= 128 * sum[c];
}

static const struct spl__vk spl__vk_avxvnni = {"avxvnni", 1, dots_f32_avx2, dots_f16_avx2,
                                               dots_i8_avxvnni, enc_f16_f16c, dec_f16_f16c};

/* ---- avx512 (AVX-512F): 4 cells x 6 queries of zmm accumulators ---- */

/* The four sums of a, b, c, d (one per cell) at once: each dot is summed
 * by the same tree (lanes i and i+8, then i and i+4, then pairs), whatever
 * sits beside it, with half the shuffles of four separate reductions. */
SPL__T_AVX512 static SPL__AI void red4_512(__m512 a, __m512 b, __m512 c, __m512 d, float *o,
                                           uint32_t stride)
{
#define SPL__HI256(v) _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))
    __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), SPL__HI256(a));
    __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), SPL__HI256(b));
    __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), SPL__HI256(c));
    __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), SPL__HI256(d));
#undef SPL__HI256
    __m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(a8, b8, 0x20), _mm256_permute2f128_ps(a8, b8, 0x31));
    __m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(c8, d8, 0x20), _mm256_permute2f128_ps(c8, d8, 0x31));
    __m256 h = _mm256_hadd_ps(ab, cd); /* a01 a23 c01 c23 | b01 b23 d01 d23 */
    h = _mm256_hadd_ps(h, h);          /* a c a c | b d b d */
    __m128 lo = _mm256_castps256_ps128(h), hi = _mm256_extractf128_ps(h, 1);
    o[0] = _mm_cvtss_f32(lo);
    o[stride] = _mm_cvtss_f32(hi);
    o[2 * stride] = _mm_cvtss_f32(_mm_shuffle_ps(lo, lo, 1));
    o[3 * stride] = _mm_cvtss_f32(_mm_shuffle_ps(hi, hi, 1));
}

#define SPL__QB512 6
SPL__T_AVX512 static SPL__AI void mk_f32_avx512(const float *q, size_t qs, const uint32_t qb,
                                                const float *const *x, uint32_t n, float *out,
                                                uint32_t nq)
{
    __m512 a[4][SPL__QB512];
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 6
        for (uint32_t j = 0; j < qb; j++)
            a[c][j] = _mm512_setzero_ps();
    for (uint32_t i = 0; i < n; i += 16) {
        __m512 xc[4];
        if (i + 16 <= n) {
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                xc[c] = _mm512_loadu_ps(x[c] + i);
        } else { /* masked tail: loads only the n - i remaining elements */
            __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                xc[c] = _mm512_maskz_loadu_ps(m, x[c] + i);
        }
#pragma GCC unroll 6
        for (uint32_t j = 0; j < qb; j++) {
            __m512 qv = _mm512_load_ps(q + j * qs + i);
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                a[c][j] = _mm512_fmadd_ps(qv, xc[c], a[c][j]);
        }
    }
#pragma GCC unroll 6
    for (uint32_t j = 0; j < qb; j++)
        red4_512(a[0][j], a[1][j], a[2][j], a[3][j], out + j, nq);
}

SPL__T_AVX512 static __m512 f16_tail16(const uint16_t *x, uint32_t m)
{
    uint16_t t[16] = {0};
    memcpy(t, x, m * 2);
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)t));
}

SPL__T_AVX512 static SPL__AI void mk_f16_avx512(const float *q, size_t qs, const uint32_t qb,
                                                const uint16_t *const *x, uint32_t n, float *out,
                                                uint32_t nq)
{
    __m512 a[4][SPL__QB512];
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 6
        for (uint32_t j = 0; j < qb; j++)
            a[c][j] = _mm512_setzero_ps();
    for (uint32_t i = 0; i < n; i += 16) {
        __m512 xc[4];
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++)
            xc[c] = i + 16 <= n ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(x[c] + i)))
                                : f16_tail16(x[c] + i, n - i);
#pragma GCC unroll 6
        for (uint32_t j = 0; j < qb; j++) {
            __m512 qv = _mm512_load_ps(q + j * qs + i);
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                a[c][j] = _mm512_fmadd_ps(qv, xc[c], a[c][j]);
        }
    }
#pragma GCC unroll 6
    for (uint32_t j = 0; j < qb; j++)
        red4_512(a[0][j], a[1][j], a[2][j], a[3][j], out + j, nq);
}

SPL__T_AVX512 static void dots_f32_avx512(const float *q, size_t qs, uint32_t nq,
                                          const void *const *xv, uint32_t n, float *out)
{
    const float *const *x = (const float *const *)xv;
    SPL__BLOCKS(mk_f32_avx512, SPL__QB512, float, float)
}

SPL__T_AVX512 static void dots_f16_avx512(const float *q, size_t qs, uint32_t nq,
                                          const void *const *xv, uint32_t n, float *out)
{
    const uint16_t *const *x = (const uint16_t *const *)xv;
    SPL__BLOCKS(mk_f16_avx512, SPL__QB512, float, float)
}

SPL__T_AVX512 static void enc_f16_avx512(const float *v, uint16_t *o, uint32_t n)
{
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(void *)(o + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(v + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    enc_f16_f16c(v + i, o + i, n - i);
}

/* int8 on AVX-512F without VNNI: the AVX2 kernel (512-bit byte ops need
 * AVX-512BW, and the CPUs that have it have VNNI too but one) */
static const struct spl__vk spl__vk_avx512 = {"avx512", 0, dots_f32_avx512, dots_f16_avx512,
                                              dots_i8_avx2, enc_f16_avx512, dec_f16_f16c};

/* ---- avx512vnni (AVX-512F/BW + AVX512-VNNI): vpdpbusd on 512 bits ---- */

SPL__T_VNNI512 static SPL__AI __m512i i8_load64(const int8_t *x, uint32_t i, uint32_t n)
{
    if (i + 64 <= n)
        return _mm512_loadu_si512((const void *)(x + i));
    return _mm512_maskz_loadu_epi8((__mmask64)((1ull << (n - i)) - 1), x + i);
}

SPL__T_VNNI512 static SPL__AI void mk_i8_vnni512(const int8_t *q, size_t qs, const uint32_t qb,
                                                 const int8_t *const *x, uint32_t n, int32_t *out,
                                                 uint32_t nq)
{
    __m512i a[4][SPL__QB512];
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 6
        for (uint32_t j = 0; j < qb; j++)
            a[c][j] = _mm512_setzero_si512();
    for (uint32_t i = 0; i < n; i += 64) {
        __m512i xc[4];
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++)
            xc[c] = i8_load64(x[c], i, n);
#pragma GCC unroll 6
        for (uint32_t j = 0; j < qb; j++) {
            __m512i qv = _mm512_load_si512((const void *)(q + j * qs + i));
#pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                a[c][j] = _mm512_dpbusd_epi32(a[c][j], qv, xc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 6
        for (uint32_t j = 0; j < qb; j++)
            out[c * nq + j] = _mm512_reduce_add_epi32(a[c][j]);
}

SPL__T_VNNI512 static void dots_i8_vnni512(const int8_t *q, size_t qs, uint32_t nq,
                                           const void *const *xv, uint32_t n, int32_t *out)
{
    const int8_t *const *x = (const int8_t *const *)xv;
    const __m512i ones = _mm512_set1_epi8(1);
    int32_t sum[SPL__GX];
    for (uint32_t c = 0; c < SPL__GX; c++) {
        __m512i s = _mm512_setzero_si512();
        for (uint32_t i = 0; i < n; i += 64)
            s = _mm512_dpbusd_epi32(s, ones, i8_load64(x[c], i, n));
        sum[c] = _mm512_reduce_add_epi32(s);
    }
    SPL__BLOCKS(mk_i8_vnni512, SPL__QB512, int8_t, int32_t)
    for (uint32_t c = 0; c < SPL__GX; c++)
        for (uint32_t j = 0; j < nq; j++)
            out[c * nq + j] -= 128 * sum[c];
}

static const struct spl__vk spl__vk_avx512vnni = {"avx512vnni", 1, dots_f32_avx512,
                                                  dots_f16_avx512, dots_i8_vnni512,
                                                  enc_f16_avx512, dec_f16_f16c};

static int spl__cpuid_bit(unsigned leaf, unsigned sub, int reg, unsigned bit)
{
    unsigned r[4];
    if (!__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]))
        return 0;
    return (r[reg] >> bit) & 1;
}

/* Paths this CPU runs, best first.  __builtin_cpu_supports checks that the
 * OS saves the AVX/AVX-512 state; the VNNI bits come from CPUID. */
static const struct spl__vk *spl__vk_runnable(int i)
{
    __builtin_cpu_init();
    const struct spl__vk *all[6];
    int n = 0;
    int f16c = spl__cpuid_bit(1, 0, 2, 29);
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    int avx512 = __builtin_cpu_supports("avx512f") && avx2;
    if (avx512 && __builtin_cpu_supports("avx512bw") && spl__cpuid_bit(7, 0, 2, 11))
        all[n++] = &spl__vk_avx512vnni;
    if (avx512)
        all[n++] = &spl__vk_avx512;
    if (avx2 && spl__cpuid_bit(7, 1, 0, 4))
        all[n++] = &spl__vk_avxvnni;
    if (avx2)
        all[n++] = &spl__vk_avx2;
    all[n++] = &spl__vk_sse;
    all[n++] = &spl__vk_scalar;
    return i < n ? all[i] : NULL;
}

/* ---- AArch64 ------------------------------------------------------------
 * One query and one cell at a time (AArch64 runs memory-bound here; the
 * blocking of the x86 kernels is left for when a NEON machine can measure
 * it); int8 exact with widening multiplies. */
#elif defined(__aarch64__)
#include <arm_neon.h>

static void dots_f32_neon(const float *q, size_t qs, uint32_t nq, const void *const *xv,
                          uint32_t n, float *out)
{
    for (uint32_t c = 0; c < SPL__GX; c++) {
        const float *x = xv[c];
        for (uint32_t j = 0; j < nq; j++) {
            const float *qj = q + j * qs;
            float32x4_t a0 = vdupq_n_f32(0), a1 = a0;
            uint32_t i = 0;
            for (; i + 8 <= n; i += 8) {
                a0 = vfmaq_f32(a0, vld1q_f32(qj + i), vld1q_f32(x + i));
                a1 = vfmaq_f32(a1, vld1q_f32(qj + i + 4), vld1q_f32(x + i + 4));
            }
            float acc = vaddvq_f32(vaddq_f32(a0, a1));
            for (; i < n; i++)
                acc += qj[i] * x[i];
            out[c * nq + j] = acc;
        }
    }
}

static void dots_f16_neon(const float *q, size_t qs, uint32_t nq, const void *const *xv,
                          uint32_t n, float *out)
{
    for (uint32_t c = 0; c < SPL__GX; c++) {
        const uint16_t *x = xv[c];
        for (uint32_t j = 0; j < nq; j++) {
            const float *qj = q + j * qs;
            float32x4_t a0 = vdupq_n_f32(0), a1 = a0;
            uint32_t i = 0;
            for (; i + 8 <= n; i += 8) {
                float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x + i));
                a0 = vfmaq_f32(a0, vld1q_f32(qj + i), vcvt_f32_f16(vget_low_f16(h)));
                a1 = vfmaq_f32(a1, vld1q_f32(qj + i + 4), vcvt_f32_f16(vget_high_f16(h)));
            }
            float acc = vaddvq_f32(vaddq_f32(a0, a1));
            for (; i < n; i++)
                acc += qj[i] * spl__f16_to_f32(x[i]);
            out[c * nq + j] = acc;
        }
    }
}

static void dots_i8_neon(const int8_t *q, size_t qs, uint32_t nq, const void *const *xv,
                         uint32_t n, int32_t *out)
{
    for (uint32_t c = 0; c < SPL__GX; c++) {
        const int8_t *x = xv[c];
        for (uint32_t j = 0; j < nq; j++) {
            const int8_t *qj = q + j * qs;
            int32x4_t a = vdupq_n_s32(0);
            uint32_t i = 0;
            for (; i + 16 <= n; i += 16) {
                int8x16_t qv = vld1q_s8(qj + i), xv8 = vld1q_s8(x + i);
                a = vpadalq_s16(a, vmull_s8(vget_low_s8(qv), vget_low_s8(xv8)));
                a = vpadalq_s16(a, vmull_s8(vget_high_s8(qv), vget_high_s8(xv8)));
            }
            int32_t acc = vaddvq_s32(a);
            for (; i < n; i++)
                acc += (int32_t)qj[i] * x[i];
            out[c * nq + j] = acc;
        }
    }
}

static void enc_f16_neon(const float *v, uint16_t *o, uint32_t n)
{
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) /* FPCR's default: round to nearest even, IEEE half */
        vst1_u16(o + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(v + i))));
    for (; i < n; i++)
        o[i] = spl__f32_to_f16(v[i]);
}

static void dec_f16_neon(const uint16_t *h, float *o, uint32_t n)
{
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(o + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + i))));
    for (; i < n; i++)
        o[i] = spl__f16_to_f32(h[i]);
}

static const struct spl__vk spl__vk_neon = {"neon", 0, dots_f32_neon, dots_f16_neon,
                                            dots_i8_neon, enc_f16_neon, dec_f16_neon};

static const struct spl__vk *spl__vk_runnable(int i)
{
    /* Advanced SIMD is part of every AArch64 CPU */
    return i == 0 ? &spl__vk_neon : i == 1 ? &spl__vk_scalar : NULL;
}

#else
static const struct spl__vk *spl__vk_runnable(int i) { return i == 0 ? &spl__vk_scalar : NULL; }
#endif

/* ---- the choice --------------------------------------------------------- */

static _Atomic(const struct spl__vk *) spl__vk_cur;
static pthread_once_t spl__vk_once = PTHREAD_ONCE_INIT;

static const struct spl__vk *spl__vk_named(const char *name)
{
    for (int i = 0; name && spl__vk_runnable(i); i++)
        if (strcmp(spl__vk_runnable(i)->name, name) == 0)
            return spl__vk_runnable(i);
    return NULL;
}

static void spl__vk_choose(void)
{
    const struct spl__vk *k = spl__vk_named(getenv("SPLINTER_SIMD"));
    atomic_store_explicit(&spl__vk_cur, k ? k : spl__vk_runnable(0), memory_order_release);
}

const struct spl__vk *spl__vk_get(void)
{
    pthread_once(&spl__vk_once, spl__vk_choose);
    /* acquire: pairs with the release store in spl__vk_choose / force */
    return atomic_load_explicit(&spl__vk_cur, memory_order_acquire);
}

SPL_API const char *spl_vec_simd(void) { return spl__vk_get()->name; }

SPL_API int spl_vec_simd_force(const char *name)
{
    const struct spl__vk *k = spl__vk_named(name);
    if (!k)
        return SPL_ENOTSUP;
    pthread_once(&spl__vk_once, spl__vk_choose);
    atomic_store_explicit(&spl__vk_cur, k, memory_order_release);
    return 0;
}

#else /* !SPL_WITH_EMBEDDINGS: no kernels */

SPL_API const char *spl_vec_simd(void) { return "none"; }
SPL_API int spl_vec_simd_force(const char *name)
{
    (void)name;
    return SPL_ENOTSUP;
}

#endif
