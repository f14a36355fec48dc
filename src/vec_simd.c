/*
 * vec_simd.c - dot-product kernels for the vector cells, one set per SIMD
 * path, and the run-time choice among them (docs/VECTORS.md, "SIMD").
 *
 * Paths: avx512 (AVX-512F), avx2 (AVX2 + FMA + F16C), sse (SSE2, the x86-64
 * baseline), neon (AArch64) and scalar (the reference).  Each x86 kernel is
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

/* ---- scalar: the reference ---------------------------------------------- */

static float dot_f32_scalar(const float *q, const float *x, uint32_t n)
{
    float acc = 0;
    for (uint32_t i = 0; i < n; i++)
        acc += q[i] * x[i];
    return acc;
}

static float dot_i8_scalar(const float *q, const int8_t *x, uint32_t n)
{
    float acc = 0;
    for (uint32_t i = 0; i < n; i++)
        acc += q[i] * (float)x[i];
    return acc;
}

/* float16 through a small buffer of floats and the path's f32 kernel (for
 * the paths without a half-precision load). */
#define SPL__F16_CHUNK 64
#define SPL__F16_VIA_F32(name, f32_kernel)                                   \
    static float name(const float *q, const uint16_t *x, uint32_t n)         \
    {                                                                        \
        float buf[SPL__F16_CHUNK], acc = 0;                                  \
        for (uint32_t i = 0; i < n; i += SPL__F16_CHUNK) {                   \
            uint32_t m = n - i < SPL__F16_CHUNK ? n - i : SPL__F16_CHUNK;    \
            for (uint32_t j = 0; j < m; j++)                                 \
                buf[j] = spl__f16_to_f32(x[i + j]);                          \
            acc += f32_kernel(q + i, buf, m);                                \
        }                                                                    \
        return acc;                                                          \
    }

SPL__F16_VIA_F32(dot_f16_scalar, dot_f32_scalar)

static const struct spl__vk spl__vk_scalar = {"scalar", dot_f32_scalar, dot_f16_scalar,
                                              dot_i8_scalar};

/* ---- x86-64 ------------------------------------------------------------- */
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#define SPL__T_SSE    __attribute__((target("sse2")))
#define SPL__T_AVX2   __attribute__((target("avx2,fma,f16c")))
#define SPL__T_AVX512 __attribute__((target("avx512f")))

SPL__T_SSE static float hsum128(__m128 v)
{
    __m128 s = _mm_add_ps(v, _mm_movehl_ps(v, v));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

SPL__T_SSE static float dot_f32_sse(const float *q, const float *x, uint32_t n)
{
    __m128 a0 = _mm_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_loadu_ps(q + i), _mm_loadu_ps(x + i)));
        a1 = _mm_add_ps(a1, _mm_mul_ps(_mm_loadu_ps(q + i + 4), _mm_loadu_ps(x + i + 4)));
        a2 = _mm_add_ps(a2, _mm_mul_ps(_mm_loadu_ps(q + i + 8), _mm_loadu_ps(x + i + 8)));
        a3 = _mm_add_ps(a3, _mm_mul_ps(_mm_loadu_ps(q + i + 12), _mm_loadu_ps(x + i + 12)));
    }
    for (; i + 4 <= n; i += 4)
        a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_loadu_ps(q + i), _mm_loadu_ps(x + i)));
    float acc = hsum128(_mm_add_ps(_mm_add_ps(a0, a1), _mm_add_ps(a2, a3)));
    for (; i < n; i++)
        acc += q[i] * x[i];
    return acc;
}

SPL__T_SSE static float dot_i8_sse(const float *q, const int8_t *x, uint32_t n)
{
    __m128 a0 = _mm_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(x + i));
        /* sign-extend bytes to 32 bits with SSE2 only: duplicate, shift */
        __m128i w0 = _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
        __m128i w1 = _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8);
        __m128i d0 = _mm_srai_epi32(_mm_unpacklo_epi16(w0, w0), 16);
        __m128i d1 = _mm_srai_epi32(_mm_unpackhi_epi16(w0, w0), 16);
        __m128i d2 = _mm_srai_epi32(_mm_unpacklo_epi16(w1, w1), 16);
        __m128i d3 = _mm_srai_epi32(_mm_unpackhi_epi16(w1, w1), 16);
        a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_loadu_ps(q + i), _mm_cvtepi32_ps(d0)));
        a1 = _mm_add_ps(a1, _mm_mul_ps(_mm_loadu_ps(q + i + 4), _mm_cvtepi32_ps(d1)));
        a2 = _mm_add_ps(a2, _mm_mul_ps(_mm_loadu_ps(q + i + 8), _mm_cvtepi32_ps(d2)));
        a3 = _mm_add_ps(a3, _mm_mul_ps(_mm_loadu_ps(q + i + 12), _mm_cvtepi32_ps(d3)));
    }
    float acc = hsum128(_mm_add_ps(_mm_add_ps(a0, a1), _mm_add_ps(a2, a3)));
    for (; i < n; i++)
        acc += q[i] * (float)x[i];
    return acc;
}

SPL__F16_VIA_F32(dot_f16_sse, dot_f32_sse)

static const struct spl__vk spl__vk_sse = {"sse", dot_f32_sse, dot_f16_sse, dot_i8_sse};

SPL__T_AVX2 static float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

SPL__T_AVX2 static float dot_f32_avx2(const float *q, const float *x, uint32_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    uint32_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(x + i), a0);
    float acc = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        acc += q[i] * x[i];
    return acc;
}

SPL__T_AVX2 static float dot_f16_avx2(const float *q, const uint16_t *x, uint32_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 x0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(x + i)));
        __m256 x1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(x + i + 8)));
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), x0, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), x1, a1);
    }
    float acc = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        acc += q[i] * spl__f16_to_f32(x[i]);
    return acc;
}

SPL__T_AVX2 static float dot_i8_avx2(const float *q, const int8_t *x, uint32_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(x + i));
        __m256 x0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
        __m256 x1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8)));
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), x0, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), x1, a1);
    }
    float acc = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        acc += q[i] * (float)x[i];
    return acc;
}

static const struct spl__vk spl__vk_avx2 = {"avx2", dot_f32_avx2, dot_f16_avx2, dot_i8_avx2};

SPL__T_AVX512 static float dot_f32_avx512(const float *q, const float *x, uint32_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    uint32_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 32), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 48), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(x + i), a0);
    if (i < n) { /* masked tail: loads only the n - i remaining elements */
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

SPL__T_AVX512 static float dot_f16_avx512(const float *q, const uint16_t *x, uint32_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    uint32_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 x0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(x + i)));
        __m512 x1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(x + i + 16)));
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), x0, a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), x1, a1);
    }
    float acc = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; i < n; i++)
        acc += q[i] * spl__f16_to_f32(x[i]);
    return acc;
}

SPL__T_AVX512 static float dot_i8_avx512(const float *q, const int8_t *x, uint32_t n)
{
    __m512 a0 = _mm512_setzero_ps();
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(x + i));
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)), a0);
    }
    float acc = _mm512_reduce_add_ps(a0);
    for (; i < n; i++)
        acc += q[i] * (float)x[i];
    return acc;
}

static const struct spl__vk spl__vk_avx512 = {"avx512", dot_f32_avx512, dot_f16_avx512,
                                              dot_i8_avx512};

static int spl__has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

/* Paths this CPU runs, best first. */
static const struct spl__vk *spl__vk_runnable(int i)
{
    __builtin_cpu_init();
    const struct spl__vk *all[4];
    int n = 0;
    if (__builtin_cpu_supports("avx512f"))
        all[n++] = &spl__vk_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && spl__has_f16c())
        all[n++] = &spl__vk_avx2;
    all[n++] = &spl__vk_sse;
    all[n++] = &spl__vk_scalar;
    return i < n ? all[i] : NULL;
}

/* ---- AArch64 ------------------------------------------------------------ */
#elif defined(__aarch64__)
#include <arm_neon.h>

static float dot_f32_neon(const float *q, const float *x, uint32_t n)
{
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(q + i), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, vld1q_f32(q + i + 4), vld1q_f32(x + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(q + i + 8), vld1q_f32(x + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(q + i + 12), vld1q_f32(x + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        a0 = vfmaq_f32(a0, vld1q_f32(q + i), vld1q_f32(x + i));
    float acc = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++)
        acc += q[i] * x[i];
    return acc;
}

static float dot_f16_neon(const float *q, const uint16_t *x, uint32_t n)
{
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x + i));
        a0 = vfmaq_f32(a0, vld1q_f32(q + i), vcvt_f32_f16(vget_low_f16(h)));
        a1 = vfmaq_f32(a1, vld1q_f32(q + i + 4), vcvt_f32_f16(vget_high_f16(h)));
    }
    float acc = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; i++)
        acc += q[i] * spl__f16_to_f32(x[i]);
    return acc;
}

static float dot_i8_neon(const float *q, const int8_t *x, uint32_t n)
{
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int16x8_t w = vmovl_s8(vld1_s8(x + i));
        a0 = vfmaq_f32(a0, vld1q_f32(q + i), vcvtq_f32_s32(vmovl_s16(vget_low_s16(w))));
        a1 = vfmaq_f32(a1, vld1q_f32(q + i + 4), vcvtq_f32_s32(vmovl_s16(vget_high_s16(w))));
    }
    float acc = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; i++)
        acc += q[i] * (float)x[i];
    return acc;
}

static const struct spl__vk spl__vk_neon = {"neon", dot_f32_neon, dot_f16_neon, dot_i8_neon};

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
