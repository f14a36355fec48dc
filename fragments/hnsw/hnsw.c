/*
 * hnsw.c - an HNSW graph over a Splinter store's vectors, in a shared-memory
 * region beside the store (hnsw_layout.h), searched in place by any process.
 *
 * The algorithm is the one of Malkov and Yashunin (HNSW, 2016) as hnswlib
 * implements it: levels drawn with P(level >= l) = m^-l, greedy descent
 * through the upper levels, a best-first search with ef candidates on each
 * level below, neighbours chosen by the "heuristic" (a candidate is kept
 * only if it is closer to the new node than to every neighbour already
 * kept), reverse links added and pruned by the same heuristic.  Deletes are
 * tombstones (still walked through, never returned); a slot reused by
 * another key, or a vector rewritten, relinks its node.
 *
 * Concurrency: one writer (this process, while it owns the region), any
 * number of lock-free readers.  Each node's head, key and vector are under
 * the node's seqlock, each neighbour list under its own; readers copy a list
 * between two reads of its seq and score a vector in place between two reads
 * of the node's, and drop what changed.  The protocol is Linux's seqlock in
 * C11 atomics (Boehm, "Can seqlocks get along with programming language
 * memory models?"): writer: seq odd (relaxed), release fence, data
 * (relaxed), seq even (release); reader: seq (acquire), data (relaxed),
 * acquire fence, seq again.  The float elements are read in place with
 * plain SIMD loads, as src/vec.c's search does (a torn score is thrown away).
 *
 * Readers trust nothing: ids are checked against the node count, levels
 * against the maximum, pool indices against the pool, counts against the
 * list capacity, key lengths against key_max; a list or node that stays
 * busy (its writer died inside it) is skipped after a few tries; every hit
 * is checked against the store before it is returned.
 *
 * Banners: atomics | kernels | handle and geometry | scratch | reading the
 * region | distances | search | reader API | writer: nodes and links |
 * writer: apply, sync, rebuild, repair | regions and files | stat, check.
 */
#include "hnsw.h"
#include "hnsw_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert((int)HNSW_STATE_EMPTY == (int)HNSW_S_EMPTY && (int)HNSW_STATE_BUILDING == (int)HNSW_S_BUILDING &&
                   (int)HNSW_STATE_READY == (int)HNSW_S_READY,
               "hnsw_stat.state is the region's state");

/* ================================================================ atomics */

#define A64(p) ((_Atomic uint64_t *)(void *)(p))
#define A32(p) ((_Atomic uint32_t *)(void *)(p))
#define A8(p)  ((_Atomic uint8_t *)(void *)(p))

static inline uint64_t ld64(const uint64_t *p) { return atomic_load_explicit(A64(p), memory_order_relaxed); }
static inline uint64_t ld64_acq(const uint64_t *p) { return atomic_load_explicit(A64(p), memory_order_acquire); }
static inline void st64(uint64_t *p, uint64_t v) { atomic_store_explicit(A64(p), v, memory_order_relaxed); }
static inline void st64_rel(uint64_t *p, uint64_t v) { atomic_store_explicit(A64(p), v, memory_order_release); }
static inline void st64_sc(uint64_t *p, uint64_t v) { atomic_store_explicit(A64(p), v, memory_order_seq_cst); }
static inline uint32_t ld32(const uint32_t *p) { return atomic_load_explicit(A32(p), memory_order_relaxed); }
static inline uint32_t ld32_acq(const uint32_t *p) { return atomic_load_explicit(A32(p), memory_order_acquire); }
static inline void st32(uint32_t *p, uint32_t v) { atomic_store_explicit(A32(p), v, memory_order_relaxed); }
static inline void st32_rel(uint32_t *p, uint32_t v) { atomic_store_explicit(A32(p), v, memory_order_release); }
static inline float ldf(const float *p)
{
    uint32_t u = ld32((const uint32_t *)(const void *)p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline void stf(float *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    st32((uint32_t *)(void *)p, u);
}
static inline void fence_acq(void) { atomic_thread_fence(memory_order_acquire); }
static inline void fence_rel(void) { atomic_thread_fence(memory_order_release); }
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#define HN_TRIES 4 /* a busy list or node is retried this often, then skipped */
/* How long a read waits out a key's writer: a query's key (its vector is
 * the query), and a key the writer applies (SPL_EAGAIN then: the fragment
 * resyncs soon and the key gets done) */
#define HN_QUERY_WAIT_US 100000u
#define HN_APPLY_WAIT_US 50000u

/* make test-hnsw-broken: a build whose readers copy lists without the
 * seqlock (neither the odd check nor the re-check), and whose writer yields the CPU in the
 * middle of each list it writes (so that the race shows on two cores): the
 * concurrency test must catch torn lists there. */
#ifndef HNSW_BROKEN_NO_RECHECK
#define HNSW_BROKEN_NO_RECHECK 0
#endif

/* ================================================================ kernels
 * sum a[i] * b[i]: AVX-512F (4 x 16 lanes, masked tail), AVX2+FMA (4 x 8),
 * SSE (4 x 4), scalar; chosen once per process by CPU detection
 * ($SPLINTER_SIMD=scalar|sse|avx2 picks a lesser one, as for the store). */

static float hn_dot_scalar(const float *a, const float *b, uint32_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static float hn_dot_avx2(const float *a, const float *b, uint32_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint32_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

__attribute__((target("avx512f"))) static float hn_dot_avx512(const float *a, const float *b, uint32_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint32_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static float hn_dot_sse(const float *a, const float *b, uint32_t n)
{
    __m128 s0 = _mm_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
        s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4)));
        s2 = _mm_add_ps(s2, _mm_mul_ps(_mm_loadu_ps(a + i + 8), _mm_loadu_ps(b + i + 8)));
        s3 = _mm_add_ps(s3, _mm_mul_ps(_mm_loadu_ps(a + i + 12), _mm_loadu_ps(b + i + 12)));
    }
    __m128 s = _mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    float r = _mm_cvtss_f32(s);
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}
#endif

/* binary16 <-> float32, round to nearest even (the writer encodes; the
 * kernels below decode with F16C where the CPU has it). */
static uint16_t hn_f2h(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x47800000u) /* beyond the largest half: infinity (or NaN) */
        return (uint16_t)(sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (ax < 0x38800000u) { /* below 2^-14: a subnormal half, or zero */
        if (ax < 0x33000000u)
            return (uint16_t)sign;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u, shift = 126u - (ax >> 23);
        uint32_t k = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (k & 1)))
            k++;
        return (uint16_t)(sign | k);
    }
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u); /* round at bit 13, ties to even */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static float hn_h2f(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    float f;
    if (e == 0) {
        f = (float)m * 0x1p-24f;
        memcpy(&x, &f, 4);
        x |= sign;
    } else if (e == 31) {
        x = sign | 0x7f800000u | (m << 13);
    } else {
        x = sign | ((e + 112u) << 23) | (m << 13);
    }
    memcpy(&f, &x, 4);
    return f;
}

/* sum q[i] * half(h[i]) */
static float hn_dot16_scalar(const float *q, const uint16_t *h, uint32_t n)
{
    float s0 = 0, s1 = 0;
    uint32_t i = 0;
    for (; i + 2 <= n; i += 2) {
        s0 += q[i] * hn_h2f(h[i]);
        s1 += q[i + 1] * hn_h2f(h[i + 1]);
    }
    if (i < n)
        s0 += q[i] * hn_h2f(h[i]);
    return s0 + s1;
}

static void hn_decode16_scalar(const uint16_t *h, float *out, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        out[i] = hn_h2f(h[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static float hn_dot16_avx512(const float *q, const uint16_t *h, uint32_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint32_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_cvtph_ps(_mm256_loadu_si256((const void *)(h + i))), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16),
                             _mm512_cvtph_ps(_mm256_loadu_si256((const void *)(h + i + 16))), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 32),
                             _mm512_cvtph_ps(_mm256_loadu_si256((const void *)(h + i + 32))), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 48),
                             _mm512_cvtph_ps(_mm256_loadu_si256((const void *)(h + i + 48))), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_cvtph_ps(_mm256_loadu_si256((const void *)(h + i))), s0);
    float r = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    for (; i < n; i++)
        r += q[i] * hn_h2f(h[i]);
    return r;
}

__attribute__((target("avx2,fma,f16c"))) static float hn_dot16_avx2(const float *q, const uint16_t *h, uint32_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint32_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const void *)(h + i))), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_cvtph_ps(_mm_loadu_si128((const void *)(h + i + 8))),
                             s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16),
                             _mm256_cvtph_ps(_mm_loadu_si128((const void *)(h + i + 16))), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24),
                             _mm256_cvtph_ps(_mm_loadu_si128((const void *)(h + i + 24))), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const void *)(h + i))), s0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 hs = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    hs = _mm_add_ps(hs, _mm_movehl_ps(hs, hs));
    hs = _mm_add_ss(hs, _mm_shuffle_ps(hs, hs, 1));
    float r = _mm_cvtss_f32(hs);
    for (; i < n; i++)
        r += q[i] * hn_h2f(h[i]);
    return r;
}

__attribute__((target("avx2,f16c"))) static void hn_decode16_f16c(const uint16_t *h, float *out, uint32_t n)
{
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const void *)(h + i))));
    for (; i < n; i++)
        out[i] = hn_h2f(h[i]);
}
#endif

typedef float (*hn_dot_fn)(const float *, const float *, uint32_t);
typedef float (*hn_dot16_fn)(const float *, const uint16_t *, uint32_t);
typedef void (*hn_decode16_fn)(const uint16_t *, float *, uint32_t);
static hn_dot_fn hn_dot = hn_dot_scalar;
static hn_dot16_fn hn_dot16 = hn_dot16_scalar;
static hn_decode16_fn hn_decode16 = hn_decode16_scalar;
static pthread_once_t hn_once = PTHREAD_ONCE_INIT;

static void hn_pick_kernel(void)
{
    const char *env = getenv("SPLINTER_SIMD");
#if defined(__x86_64__)
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int avx512 = __builtin_cpu_supports("avx512f");
    if (env && strcmp(env, "scalar") == 0)
        hn_dot = hn_dot_scalar;
    else if (env && strcmp(env, "sse") == 0)
        hn_dot = hn_dot_sse;
    else if (env && strcmp(env, "avx2") == 0 && avx2)
        hn_dot = hn_dot_avx2;
    else
        hn_dot = avx512 ? hn_dot_avx512 : avx2 ? hn_dot_avx2 : hn_dot_sse;
    unsigned a = 0, b = 0, c = 0, d = 0;
    __get_cpuid(1, &a, &b, &c, &d);
    int f16c = avx2 && (c & (1u << 29)); /* CPUID.1:ECX.F16C */
    if (hn_dot == hn_dot_avx512)
        hn_dot16 = hn_dot16_avx512;
    else if (hn_dot == hn_dot_avx2 && f16c)
        hn_dot16 = hn_dot16_avx2;
    if (f16c && hn_dot != hn_dot_scalar && hn_dot != hn_dot_sse)
        hn_decode16 = hn_decode16_f16c;
#else
    (void)env;
#endif
}

/* ===================================================== handle and geometry */

struct hn_pair {
    float d;
    uint32_t id;
};

struct hn_heap {
    struct hn_pair *a;
    uint32_t n, cap;
};

struct hn_scratch {
    struct hn_scratch *next;
    uint16_t *visited;
    uint16_t tag;
    struct hn_heap cand, res;
    uint32_t ids[2 * HNSW_M_MAX];
    struct hn_pair *tmp;  /* ef-sized work arrays */
    uint32_t tmp_cap;
    float *qbuf, *vbuf, *tmp32; /* dim floats each */
    void *enc;            /* an encoded copy (dim x 4 bytes) */
    int nomem;
};

#define HN_CELLS 4

struct hnsw_index {
    spl_store *s;
    hnsw_ops ops;
    uint8_t *base;
    size_t bytes;
    int own_map;     /* munmap at close */
    int writer;      /* this handle owns the region */
    int provided;    /* registered with spl_vec_ann_set */
    struct hnsw_header *h;
    /* validated copies of the geometry (never re-read from the region) */
    uint32_t n, dim, m, m0, key_max, efc, pool_lists, list_stride;
    uint32_t esize; /* bytes per element of the copies: 4 (float32) or 2 (binary16) */
    spl_metric metric;
    uint64_t stride, nodes_off, pool_off, total, created;
    uint32_t head_off, key_off; /* in a node: the head, the key (list 0 at 0) */
    uint64_t max_lag;
    /* readers' scratch, one per concurrent search */
    pthread_mutex_t mu;
    struct hn_scratch *pool;
    /* the writer's */
    struct hn_scratch *ws;
    uint64_t rng;
    double mult;
    uint8_t *seen; /* sync: nodes confirmed (bitmap) */
    uint32_t opened_dirty, repairs, relinked;
    _Atomic(struct hn_scratch *) cells[HN_CELLS]; /* scratch without the lock */
};

static uint64_t hn_now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hnsw_params_init(hnsw_params *p)
{
    memset(p, 0, sizeof *p);
    p->m = 16;
    p->ef_construction = 200;
    p->metric = SPL_METRIC_COSINE;
    p->format = HNSW_F16;
}

static int hn_params_ok(const hnsw_params *p)
{
    return p && p->m >= HNSW_M_MIN && p->m <= HNSW_M_MAX && p->ef_construction >= 1 &&
           p->ef_construction <= 100000 && (unsigned)p->metric < SPL__METRIC_COUNT && p->format <= HNSW_F16;
}

static uint64_t hn_total(uint32_t n, uint32_t key_max, uint32_t dim, uint32_t m, uint32_t esize,
                         uint64_t *pool_off, uint64_t *pool_lists)
{
    uint64_t stride = hnsw__node_stride(2 * m, key_max, dim, esize);
    uint64_t po = HNSW_HEADER_BYTES + (uint64_t)n * stride;
    uint64_t pl = hnsw__pool_lists(n, m);
    if (pool_off)
        *pool_off = po;
    if (pool_lists)
        *pool_lists = pl;
    return po + hnsw__round(pl * hnsw__list_bytes(m), 64);
}

uint64_t hnsw_region_bytes(uint32_t slots, uint32_t key_max, uint32_t vec_dim, const hnsw_params *p)
{
    hnsw_params d;
    if (!p) {
        hnsw_params_init(&d);
        p = &d;
    }
    if (!hn_params_ok(p) || !slots || !vec_dim || !key_max)
        return 0;
    return hn_total(slots, key_max, vec_dim, p->m, p->format == HNSW_F16 ? 2 : 4, NULL, NULL);
}

static uint64_t hn_changes(hnsw_index *x)
{
    if (x->ops.changes)
        return x->ops.changes(x->s);
    spl_info in;
    return x->ops.info_get(x->s, &in) == 0 ? in.changes : 0;
}

/* The store's identity: its hash seed (spl_key carries it). 0: unknown. */
static uint64_t hn_store_seed(hnsw_index *x)
{
    spl_key k;
    if (!x->ops.key_prep || x->ops.key_prep(x->s, "k", &k) != 0)
        return 0;
    return k.seed;
}

/* Validate a header against the store and this build; fill x's geometry.
 * 0, or SPL_EMAGIC, SPL_EINIT, SPL_EVERSION, SPL_ELAYOUT, SPL_ENOENT (not
 * this store's), SPL_ESIZE. */
static int hn_validate(hnsw_index *x, const struct hnsw_header *h, size_t bytes)
{
    if (bytes < HNSW_HEADER_BYTES)
        return SPL_ESIZE;
    if (ld64(&h->magic) != HNSW_MAGIC)
        return ld64(&h->magic) == 0 ? SPL_EINIT : SPL_EMAGIC;
    uint32_t ver = ld32_acq(&h->version); /* pairs with the initialiser's release */
    if (ver == 0)
        return SPL_EINIT;
    if (ver != HNSW_FORMAT_VERSION)
        return SPL_EVERSION;
    if (ld64(&h->fingerprint) != hnsw__fingerprint() || ld32(&h->header_bytes) != HNSW_HEADER_BYTES ||
        ld32(&h->level_max) != HNSW_LEVEL_MAX)
        return SPL_ELAYOUT;
    spl_info in;
    int rc = x->ops.info_get(x->s, &in);
    if (rc)
        return rc;
    uint32_t n = ld32(&h->nodes), dim = ld32(&h->dim), km = ld32(&h->key_max), m = ld32(&h->m);
    if (n != in.geom.slots || dim != in.geom.vec_dim || km != in.geom.key_max)
        return SPL_ENOENT;
    uint64_t seed = hn_store_seed(x);
    if (seed && ld64(&h->store_seed) != seed)
        return SPL_ENOENT;
    uint32_t ef = ld32(&h->elem_format);
    if (m < HNSW_M_MIN || m > HNSW_M_MAX || ld32(&h->m0) != 2 * m ||
        ld32(&h->metric) >= SPL__METRIC_COUNT || ld32(&h->ef_construction) == 0 || ef > HNSW_E_F16)
        return SPL_ELAYOUT;
    uint32_t esize = ef == HNSW_E_F16 ? 2 : 4;
    uint64_t pool_off, pool_lists;
    uint64_t total = hn_total(n, km, dim, m, esize, &pool_off, &pool_lists);
    if (ld32(&h->node_stride) != hnsw__node_stride(2 * m, km, dim, esize) ||
        ld64(&h->nodes_off) != HNSW_HEADER_BYTES || ld64(&h->pool_off) != pool_off ||
        ld32(&h->pool_lists) != pool_lists || ld32(&h->list_stride) != hnsw__list_bytes(m) ||
        ld64(&h->total_bytes) != total)
        return SPL_ELAYOUT;
    if (total > bytes)
        return SPL_ESIZE;
    x->n = n;
    x->dim = dim;
    x->m = m;
    x->m0 = 2 * m;
    x->key_max = km;
    x->efc = ld32(&h->ef_construction);
    x->metric = (spl_metric)ld32(&h->metric);
    x->esize = esize;
    x->stride = hnsw__node_stride(2 * m, km, dim, esize);
    x->nodes_off = HNSW_HEADER_BYTES;
    x->pool_off = pool_off;
    x->pool_lists = (uint32_t)pool_lists;
    x->list_stride = hnsw__list_bytes(m);
    x->total = total;
    x->created = ld64(&h->created_ns);
    x->head_off = hnsw__head_off(2 * m, km);
    x->key_off = hnsw__key_off(2 * m);
    return 0;
}

/* hnsw_ops.c (libsplinter's functions) is linked into programs, not into
 * the fragment module (built with -DHNSW_MODULE), which passes the host's
 * table: there the reference is weak and stays null. */
#ifdef HNSW_MODULE
extern const hnsw_ops hnsw_ops_default __attribute__((weak));
#define HN_HAVE_DEFAULT_OPS (&hnsw_ops_default != NULL)
#else
#define HN_HAVE_DEFAULT_OPS 1
#endif

static hnsw_index *hn_alloc(spl_store *s, const hnsw_ops *ops)
{
    if (!ops && !HN_HAVE_DEFAULT_OPS)
        return NULL;
    hnsw_index *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    pthread_once(&hn_once, hn_pick_kernel);
    x->s = s;
    x->ops = ops ? *ops : hnsw_ops_default;
    x->max_lag = HNSW_LAG_AUTO;
    pthread_mutex_init(&x->mu, NULL);
    return x;
}

/* ================================================================ scratch */

static void hn_scratch_free(struct hn_scratch *sc)
{
    if (!sc)
        return;
    free(sc->visited);
    free(sc->cand.a);
    free(sc->res.a);
    free(sc->tmp);
    free(sc->qbuf);
    free(sc->vbuf);
    free(sc->tmp32);
    free(sc->enc);
    free(sc);
}

static struct hn_scratch *hn_scratch_new(const hnsw_index *x)
{
    struct hn_scratch *sc = calloc(1, sizeof *sc);
    if (!sc)
        return NULL;
    sc->visited = calloc(x->n, sizeof *sc->visited);
    sc->qbuf = aligned_alloc(64, hnsw__round(4ull * x->dim, 64));
    sc->vbuf = aligned_alloc(64, hnsw__round(4ull * x->dim, 64));
    sc->tmp32 = aligned_alloc(64, hnsw__round(4ull * x->dim, 64));
    sc->enc = aligned_alloc(64, hnsw__round(4ull * x->dim, 64));
    if (!sc->visited || !sc->qbuf || !sc->vbuf || !sc->tmp32 || !sc->enc) {
        hn_scratch_free(sc);
        return NULL;
    }
    return sc;
}

/* Scratch for a search: from a few lock-free cells (an exchange takes one),
 * else from the locked pool, else new.  All belong to the index. */
static struct hn_scratch *hn_scratch_get(hnsw_index *x)
{
    for (int i = 0; i < HN_CELLS; i++) {
        struct hn_scratch *sc = atomic_exchange_explicit(&x->cells[i], NULL, memory_order_acquire);
        if (sc)
            return sc;
    }
    pthread_mutex_lock(&x->mu);
    struct hn_scratch *sc = x->pool;
    if (sc)
        x->pool = sc->next;
    pthread_mutex_unlock(&x->mu);
    return sc ? sc : hn_scratch_new(x);
}

static void hn_scratch_put(hnsw_index *x, struct hn_scratch *sc)
{
    for (int i = 0; i < HN_CELLS; i++) {
        struct hn_scratch *none = NULL;
        if (atomic_compare_exchange_strong_explicit(&x->cells[i], &none, sc, memory_order_release,
                                                    memory_order_relaxed))
            return;
    }
    pthread_mutex_lock(&x->mu);
    sc->next = x->pool;
    x->pool = sc;
    pthread_mutex_unlock(&x->mu);
}

/* A new visit: every node unvisited (tags wrap every 65535 searches). */
static void hn_visit_reset(const hnsw_index *x, struct hn_scratch *sc)
{
    if (++sc->tag == 0) {
        memset(sc->visited, 0, (size_t)x->n * sizeof *sc->visited);
        sc->tag = 1;
    }
}

static int hn_tmp_need(struct hn_scratch *sc, uint32_t n)
{
    if (n <= sc->tmp_cap)
        return 0;
    struct hn_pair *t = realloc(sc->tmp, (size_t)n * sizeof *t);
    if (!t)
        return SPL_ENOMEM;
    sc->tmp = t;
    sc->tmp_cap = n;
    return 0;
}

/* Binary heaps of (d, id): `cand` is a min-heap, `res` a max-heap. */
static int hn_push(struct hn_scratch *sc, struct hn_heap *hp, float d, uint32_t id, int max)
{
    if (hp->n == hp->cap) {
        uint32_t nc = hp->cap ? hp->cap * 2 : 256;
        struct hn_pair *a = realloc(hp->a, (size_t)nc * sizeof *a);
        if (!a) {
            sc->nomem = 1;
            return SPL_ENOMEM;
        }
        hp->a = a;
        hp->cap = nc;
    }
    uint32_t i = hp->n++;
    while (i) {
        uint32_t p = (i - 1) / 2;
        if (max ? !(hp->a[p].d < d) : !(hp->a[p].d > d))
            break;
        hp->a[i] = hp->a[p];
        i = p;
    }
    hp->a[i] = (struct hn_pair){d, id};
    return 0;
}

static struct hn_pair hn_pop(struct hn_heap *hp, int max)
{
    struct hn_pair top = hp->a[0], last = hp->a[--hp->n];
    uint32_t i = 0, n = hp->n;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && (max ? hp->a[c + 1].d > hp->a[c].d : hp->a[c + 1].d < hp->a[c].d))
            c++;
        if (max ? !(hp->a[c].d > last.d) : !(hp->a[c].d < last.d))
            break;
        hp->a[i] = hp->a[c];
        i = c;
    }
    if (n)
        hp->a[i] = last;
    return top;
}

/* ==================================================== reading the region */

/* A node is named by its head; its list 0 and key lie before it, its
 * vector right after. */
static inline struct hnsw_node *hn_node(const hnsw_index *x, uint32_t id)
{
    return (struct hnsw_node *)(void *)(x->base + x->nodes_off + (uint64_t)id * x->stride + x->head_off);
}
/* The node's copy: float32 or binary16 elements (x->esize). */
static inline void *hn_vec(const hnsw_index *x, const struct hnsw_node *nd)
{
    (void)x;
    return (uint8_t *)(uintptr_t)nd + HNSW_NODE_HEAD;
}

/* q . copy, read in place (inside the caller's read section). */
static inline float hn_dot_copy(const hnsw_index *x, const float *q, const struct hnsw_node *nd)
{
    if (x->esize == 4)
        return hn_dot(q, (const float *)hn_vec(x, nd), x->dim);
    return ldf(&nd->scale) * hn_dot16(q, (const uint16_t *)hn_vec(x, nd), x->dim);
}

/* The copy as float32 (the writer: a node's own vector as a query). */
static void hn_copy_out(const hnsw_index *x, const struct hnsw_node *nd, float *out)
{
    if (x->esize == 4) {
        memcpy(out, hn_vec(x, nd), 4ull * x->dim);
        return;
    }
    hn_decode16((const uint16_t *)hn_vec(x, nd), out, x->dim);
    float s = ldf(&nd->scale);
    for (uint32_t i = 0; i < x->dim; i++)
        out[i] *= s;
}
static inline char *hn_key(const hnsw_index *x, const struct hnsw_node *nd)
{
    return (char *)(uintptr_t)nd - x->head_off + x->key_off;
}
static inline struct hnsw_list *hn_list0(const hnsw_index *x, const struct hnsw_node *nd)
{
    return (struct hnsw_list *)(void *)((uint8_t *)(uintptr_t)nd - x->head_off);
}

/* Node id's list on level lvl with its capacity, or NULL (no such level, or
 * the node's level or pool index is out of bounds). */
static struct hnsw_list *hn_list(const hnsw_index *x, uint32_t id, uint32_t lvl, uint32_t *cap)
{
    struct hnsw_node *nd = hn_node(x, id);
    if (lvl == 0) {
        *cap = x->m0;
        return hn_list0(x, nd);
    }
    uint32_t top = ld32(&nd->level), up = ld32(&nd->upper);
    if (lvl > top || top > HNSW_LEVEL_MAX || up >= x->pool_lists || top > x->pool_lists - up)
        return NULL;
    *cap = x->m;
    return (struct hnsw_list *)(void *)(x->base + x->pool_off + (uint64_t)(up + lvl - 1) * x->list_stride);
}

/* Copy a list into out (cap ids at most) between two reads of its seq.
 * Returns the count; 0 for a list that stayed busy (counted in *skipped). */
static uint32_t hn_list_read(const struct hnsw_list *l, uint32_t cap, uint32_t *out, uint64_t *skipped)
{
    for (int t = 0; t < HN_TRIES; t++) {
        uint32_t s1 = ld32_acq(&l->seq); /* pairs with the writer's release of the even seq */
        if ((s1 & 1) && !HNSW_BROKEN_NO_RECHECK) {
            cpu_relax();
            continue;
        }
        uint32_t c = ld32(&l->count);
        if (c > cap)
            c = cap; /* untrusted */
        for (uint32_t i = 0; i < c; i++)
            out[i] = ld32(&l->ids[i]);
        fence_acq(); /* orders the copy before the re-read (pairs with the writer's release fence) */
        if (ld32(&l->seq) == s1 || HNSW_BROKEN_NO_RECHECK)
            return c;
    }
    if (skipped)
        (*skipped)++;
    return 0;
}

/* Writer: rewrite a list whole under its seqlock. */
static void hn_list_write(struct hnsw_list *l, const uint32_t *ids, uint32_t n)
{
    uint32_t s = ld32(&l->seq);
    s += s & 1; /* a dead writer's odd seq (repair) */
    st32(&l->seq, s + 1);
    fence_rel(); /* the odd seq is visible before any id changes (pairs with the reader's acquire fence) */
    for (uint32_t i = 0; i < n; i++) {
        st32(&l->ids[i], ids[i]);
        if (HNSW_BROKEN_NO_RECHECK && i == n / 2)
            sched_yield(); /* the broken build widens the window its readers miss */
    }
    st32(&l->count, n);
    st32_rel(&l->seq, s + 2); /* publishes the list (pairs with the reader's acquire load) */
}

static void hn_node_begin(struct hnsw_node *nd)
{
    uint64_t s = ld64(&nd->seq);
    s += s & 1;
    st64(&nd->seq, s + 1);
    fence_rel(); /* as hn_list_write */
}

static void hn_node_end(struct hnsw_node *nd) { st64_rel(&nd->seq, ld64(&nd->seq) + 1); }

/* ============================================================== distances */

struct hn_query {
    const float *v;
    float norm, norm2;
    spl_metric metric;
    /* admission filters (readers) */
    uint64_t labels;
    int labels_any;
    const char *prefix;
    size_t prefix_len;
    const char *self;
    size_t self_len;
    int filtered; /* labels, prefix or self set */
    uint32_t exclude; /* writer: the node being linked */
};

/* Distances, smaller nearer: cosine -dot / (|x| |q|) (0 for a zero norm),
 * dot -dot, L2 the squared distance |q|^2 + |x|^2 - 2 dot. */
static inline float hn_dist_of(spl_metric metric, float dot, float qn, float qn2, float xn)
{
    switch (metric) {
    case SPL_METRIC_COSINE: return (xn > 0 && qn > 0) ? -(dot / (xn * qn)) : 0.0f;
    case SPL_METRIC_DOT: return -dot;
    default: return qn2 + xn * xn - 2.0f * dot;
    }
}



/* The score spl_vec_search gives (src/vec.c, same formulas). */
static inline float hn_score_of(spl_metric metric, float dot, float qn, float qn2, float xn)
{
    switch (metric) {
    case SPL_METRIC_COSINE: return (xn > 0 && qn > 0) ? dot / (xn * qn) : 0.0f;
    case SPL_METRIC_DOT: return dot;
    default: {
        float d2 = qn2 + xn * xn - 2.0f * dot;
        return sqrtf(d2 > 0 ? d2 : 0);
    }
    }
}

static int hn_labels_pass(uint64_t have, uint64_t want, int any)
{
    return !want || (any ? (have & want) != 0 : (have & want) == want);
}

/* Does the node's key pass the prefix / self filters?  Inside the node's
 * read section (key bytes read one by one, relaxed). */
static int hn_key_pass(const hnsw_index *x, const struct hnsw_node *nd, const struct hn_query *q)
{
    uint32_t kl = ld32(&nd->key_len);
    if (kl == 0 || kl > x->key_max)
        return 0;
    const uint8_t *k = (const uint8_t *)hn_key(x, nd);
    if (q->prefix_len) {
        if (kl < q->prefix_len)
            return 0;
        for (size_t i = 0; i < q->prefix_len; i++)
            if (atomic_load_explicit(A8(&k[i]), memory_order_relaxed) != (uint8_t)q->prefix[i])
                return 0;
    }
    if (q->self && kl == q->self_len) {
        size_t i = 0;
        while (i < kl && atomic_load_explicit(A8(&k[i]), memory_order_relaxed) == (uint8_t)q->self[i])
            i++;
        if (i == kl)
            return 0;
    }
    return 1;
}

enum { HN_SKIP = -1, HN_ABSENT = -2 };

/* Distance from q to node id, read in place inside the node's seqlock.
 * Returns 1 (admissible: a live node passing the filters), 0 (walkable
 * only: a tombstone or filtered out), HN_ABSENT, or HN_SKIP (busy, torn,
 * corrupt). */
static int hn_qdist(const hnsw_index *x, const struct hn_query *q, uint32_t id, float *d)
{
    const struct hnsw_node *nd = hn_node(x, id);
    if (id == q->exclude)
        return HN_ABSENT; /* the writer's node being linked: not walked through */
    for (int t = 0; t < HN_TRIES; t++) {
        uint64_t s1 = ld64_acq(&nd->seq); /* pairs with hn_node_end's release */
        if (s1 & 1) {
            cpu_relax();
            continue;
        }
        uint32_t fl = ld32(&nd->flags);
        if (!(fl & HNSW_N_PRESENT))
            return HN_ABSENT;
        float xn = ldf(&nd->norm);
        float dot = hn_dot_copy(x, q->v, nd);
        int admit = !(fl & HNSW_N_DELETED);
        if (admit && q->filtered)
            admit = hn_labels_pass(ld64(&nd->labels), q->labels, q->labels_any) && hn_key_pass(x, nd, q);
        fence_acq(); /* the reads above happen before the re-read (pairs with hn_node_begin's fence) */
        if (ld64(&nd->seq) != s1)
            continue;
        float dd = hn_dist_of(q->metric, dot, q->norm, q->norm2, xn);
        if (!isfinite(dd) || !(xn >= 0))
            return HN_SKIP; /* a corrupt vector or norm */
        *d = dd;
        return admit;
    }
    return HN_SKIP;
}

/* Writer: node a's copy as float32: in place, or decoded into tmp. */
static const float *hn_as_f32(const hnsw_index *x, uint32_t a, float *tmp)
{
    const struct hnsw_node *na = hn_node(x, a);
    if (x->esize == 4)
        return (const float *)hn_vec(x, na);
    hn_copy_out(x, na, tmp);
    return tmp;
}

/* Writer: distance from vector a (norm xa) to node b's copy. */
static float hn_vdist(const hnsw_index *x, const float *a, float xa, uint32_t b)
{
    const struct hnsw_node *nb = hn_node(x, b);
    float d = hn_dist_of(x->metric, hn_dot_copy(x, a, nb), xa, xa * xa, ldf(&nb->norm));
    return isfinite(d) ? d : INFINITY;
}

/* The head and the first lines of the vector (the hardware prefetcher
 * follows the rest of the stream). */
static inline void hn_prefetch_node(const hnsw_index *x, uint32_t id)
{
    const uint8_t *p = (const uint8_t *)hn_node(x, id);
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 128);
}


/* ================================================================= search */

struct hn_stats {
    uint64_t dists, skipped;
};

/* Greedy descent on level lvl from *cur (distance *dcur). */
static void hn_greedy(const hnsw_index *x, struct hn_scratch *sc, const struct hn_query *q, uint32_t lvl,
                      uint32_t *cur, float *dcur, struct hn_stats *st)
{
    for (uint32_t steps = 0; steps < x->n; steps++) {
        uint32_t cap;
        struct hnsw_list *l = hn_list(x, *cur, lvl, &cap);
        if (!l)
            return;
        uint32_t c = hn_list_read(l, cap, sc->ids, &st->skipped), best = *cur;
        for (uint32_t i = 0; i < c; i++)
            if (sc->ids[i] < x->n)
                hn_prefetch_node(x, sc->ids[i]);
        for (uint32_t i = 0; i < c; i++) {
            uint32_t id = sc->ids[i];
            float d;
            if (id >= x->n)
                continue;
            st->dists++;
            int r = hn_qdist(x, q, id, &d);
            if (r == HN_SKIP)
                st->skipped++;
            if (r >= 0 && d < *dcur) {
                *dcur = d;
                best = id;
            }
        }
        if (best == *cur)
            return;
        *cur = best;
    }
}

/* Best-first search of level lvl from ep (distance dep, admissible or not):
 * leaves the (at most ef) best admissible nodes in sc->res (a max-heap).
 * The walk goes through tombstones and filtered-out nodes; it stops when
 * the nearest unexpanded candidate is farther than the worst kept result
 * and ef results are kept (hnswlib's rule with deletions).  Every node is
 * visited at most once, so it ends. */
static void hn_search_layer(const hnsw_index *x, struct hn_scratch *sc, const struct hn_query *q,
                            uint32_t lvl, uint32_t ep, float dep, int ep_admit, uint32_t ef,
                            struct hn_stats *st)
{
    sc->cand.n = 0;
    sc->res.n = 0;
    hn_visit_reset(x, sc);
    sc->visited[ep] = sc->tag;
    float bound = INFINITY;
    if (ep_admit > 0) {
        hn_push(sc, &sc->res, dep, ep, 1);
        bound = dep;
    }
    hn_push(sc, &sc->cand, dep, ep, 0);
    while (sc->cand.n) {
        struct hn_pair c = sc->cand.a[0];
        if (c.d > bound && sc->res.n >= ef)
            break;
        hn_pop(&sc->cand, 0);
        uint32_t cap;
        struct hnsw_list *l = hn_list(x, c.id, lvl, &cap);
        if (!l)
            continue;
        uint32_t cnt = hn_list_read(l, cap, sc->ids, &st->skipped), nn = 0;
        /* the unvisited neighbours, all prefetched before any is scored:
         * their misses overlap instead of queueing one after another */
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t id = sc->ids[i];
            if (id >= x->n || sc->visited[id] == sc->tag)
                continue;
            sc->visited[id] = sc->tag;
            hn_prefetch_node(x, id);
            sc->ids[nn++] = id;
        }
        if (sc->cand.n)
            __builtin_prefetch(hn_list0(x, hn_node(x, sc->cand.a[0].id)));
        for (uint32_t i = 0; i < nn; i++) {
            uint32_t id = sc->ids[i];
            float d;
            st->dists++;
            int r = hn_qdist(x, q, id, &d);
            if (r < 0) {
                if (r == HN_SKIP)
                    st->skipped++;
                continue;
            }
            if (sc->res.n < ef || d < bound) {
                hn_push(sc, &sc->cand, d, id, 0);
                if (r > 0) {
                    hn_push(sc, &sc->res, d, id, 1);
                    if (sc->res.n > ef)
                        hn_pop(&sc->res, 1);
                    bound = sc->res.a[0].d;
                }
            }
        }
    }
}

/* Move the max-heap res into sc->tmp, nearest first.  Returns the count. */
static uint32_t hn_res_sorted(struct hn_scratch *sc)
{
    uint32_t n = sc->res.n;
    if (hn_tmp_need(sc, n + 1))
        return 0;
    for (uint32_t i = n; i > 0; i--)
        sc->tmp[i - 1] = hn_pop(&sc->res, 1);
    return n;
}

/* Entry point: 0 and *ep, *top set, or HN_ABSENT for an empty graph. */
static int hn_entry(const hnsw_index *x, uint32_t *ep, uint32_t *top)
{
    uint64_t e = ld64_acq(&x->h->entry); /* pairs with the writer's release */
    if (!e)
        return HN_ABSENT;
    uint32_t lv = (uint32_t)(e >> 32) - 1, id = (uint32_t)e;
    if (id >= x->n || lv > HNSW_LEVEL_MAX)
        return HN_SKIP;
    *ep = id;
    *top = lv;
    return 0;
}

/* ============================================================= reader API */

struct hn_hit {
    float score;
    uint32_t id;
    uint64_t epoch;
    uint32_t key_len;
    char *key;
};

static int hn_hit_better(spl_metric m, const struct hn_hit *a, const struct hn_hit *b)
{
    if (a->score != b->score)
        return m == SPL_METRIC_L2 ? a->score < b->score : a->score > b->score;
    size_t l = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, l);
    return c ? c < 0 : a->key_len < b->key_len;
}

static int hn_hit_cmp(const void *a, const void *b, void *ud)
{
    spl_metric m = *(const spl_metric *)ud;
    return hn_hit_better(m, a, b) ? -1 : hn_hit_better(m, b, a) ? 1 : 0;
}

static double hn_norm2d(const float *v, uint32_t n)
{
    double ss = 0;
    for (uint32_t i = 0; i < n; i++)
        ss += (double)v[i] * v[i];
    return ss;
}

/* Check candidate c against the store: the node's key is read stably (it
 * must still pass the prefix and self filters: the node may have been given
 * to another key since it was scored), then the store is asked for that
 * key's vector now and its metadata at the same epoch: the key must hold a
 * vector, live in this node's slot (else its own node answers for it) and
 * pass the label filter; the score is computed from the store's vector, so
 * a hit never carries a score the region made up.  Fills *hit (key into
 * keybuf); 0 or HN_SKIP. */
static int hn_recheck(hnsw_index *x, struct hn_scratch *sc, const struct hn_query *q, const struct hn_pair *c,
                      struct hn_hit *hit, char *keybuf)
{
    uint32_t id = c->id;
    const struct hnsw_node *nd = hn_node(x, id);
    uint32_t kl = 0;
    int ok = 0;
    for (int t = 0; t < HN_TRIES && !ok; t++) {
        uint64_t s1 = ld64_acq(&nd->seq); /* pairs with hn_node_end */
        if (s1 & 1)
            continue;
        uint32_t fl = ld32(&nd->flags);
        kl = ld32(&nd->key_len);
        if (!(fl & HNSW_N_PRESENT) || (fl & HNSW_N_DELETED) || kl == 0 || kl > x->key_max)
            return HN_SKIP;
        const uint8_t *k = (const uint8_t *)hn_key(x, nd);
        for (uint32_t i = 0; i < kl; i++)
            keybuf[i] = (char)atomic_load_explicit(A8(&k[i]), memory_order_relaxed);
        keybuf[kl] = 0;
        fence_acq(); /* as hn_qdist */
        ok = ld64(&nd->seq) == s1;
    }
    if (!ok || memchr(keybuf, 0, kl))
        return HN_SKIP;
    if ((q->prefix_len && (kl < q->prefix_len || memcmp(keybuf, q->prefix, q->prefix_len) != 0)) ||
        (q->self && kl == q->self_len && memcmp(keybuf, q->self, kl) == 0))
        return HN_SKIP;
    for (int t = 0; t < HN_TRIES; t++) {
        uint64_t e;
        spl_meta m;
        int rc = x->ops.vec_get(x->s, keybuf, sc->vbuf, x->dim, &e);
        if (rc == SPL_EAGAIN)
            continue;
        if (rc)
            return HN_SKIP; /* gone, or no vector any more */
        rc = x->ops.meta_get(x->s, keybuf, &m);
        if (rc == SPL_EAGAIN || (rc == 0 && m.epoch != e))
            continue; /* written in between: read both again */
        if (rc || m.slot != id || !hn_labels_pass(m.labels, q->labels, q->labels_any))
            return HN_SKIP;
        /* the norm in float (the store keeps it computed in double: the
         * two may differ in the last bit, as two SIMD paths' sums do) */
        float xn = sqrtf(hn_dot(sc->vbuf, sc->vbuf, x->dim));
        float score = hn_score_of(q->metric, hn_dot(q->v, sc->vbuf, x->dim), q->norm, q->norm2, xn);
        if (!isfinite(score))
            return HN_SKIP;
        *hit = (struct hn_hit){score, id, e, kl, NULL};
        return 0;
    }
    return HN_SKIP;
}

/* A read of a key that met a writer in its slot (SPL_EAGAIN) waits for it:
 * asleep on the slot until the writer commits (ops.retry_pause, as the
 * *_wait calls), for up to the time hn_wait_init was given.  A host
 * without it (fragment ABI 3 or older) backs off with sched_yield, at most
 * HN_YIELDS times.  hn_wait: 0, try again; SPL_EAGAIN, give up. */
#define HN_YIELDS 1000
struct hn_wait {
    spl_retry r;
    int n;
};

static void hn_wait_init(const hnsw_index *x, struct hn_wait *w, uint32_t timeout_us)
{
    w->n = 0;
    if (x->ops.retry_init)
        x->ops.retry_init(&w->r, timeout_us);
}

static int hn_wait(hnsw_index *x, const char *key, struct hn_wait *w)
{
    if (x->ops.retry_init && x->ops.retry_pause)
        return x->ops.retry_pause(x->s, key, 0, &w->r) == 0 ? 0 : SPL_EAGAIN;
    if (++w->n > HN_YIELDS)
        return SPL_EAGAIN;
    sched_yield();
    return 0;
}

static int hn_usable(hnsw_index *x, uint64_t *gen)
{
    const struct hnsw_header *h = x->h;
    if (ld64(&h->magic) != HNSW_MAGIC || ld32_acq(&h->version) != HNSW_FORMAT_VERSION ||
        ld64(&h->created_ns) != x->created)
        return SPL_ESTALE; /* re-initialised or retired under us */
    if (ld32_acq(&h->state) != HNSW_S_READY)
        return SPL_ESTALE;
    *gen = ld64_acq(&h->generation);
    uint64_t applied = ld64_acq(&h->applied), now = hn_changes(x);
    uint64_t lim = x->max_lag;
    if (lim == HNSW_LAG_AUTO) {
        uint64_t live = ld64(&h->live);
        lim = live / 100 > 64 ? live / 100 : 64;
    }
    if (now > applied && now - applied > lim)
        return SPL_ESTALE;
    return 0;
}

int hnsw_search(hnsw_index *x, const spl_vec_query *q, spl_vec_result **out)
{
    if (out)
        *out = NULL;
    if (!x || !q || !out || q->k == 0 || q->k > SPL_VEC_K_LIMIT || (unsigned)q->metric >= SPL__METRIC_COUNT ||
        (!q->vec && !q->key))
        return SPL_EINVAL;
    if (q->vec && q->dim != x->dim)
        return SPL_EDIM;
    if (q->metric != x->metric)
        return SPL_ENOTSUP;
    uint64_t gen;
    int rc = hn_usable(x, &gen);
    if (rc)
        return rc;
    struct hn_scratch *sc = hn_scratch_get(x);
    if (!sc)
        return SPL_ENOMEM;
    sc->nomem = 0;
    struct hn_hit *hits = NULL;
    char *keys = NULL;
    spl_vec_result *r = NULL;
    if (q->vec) {
        memcpy(sc->qbuf, q->vec, 4ull * x->dim);
    } else {
        struct hn_wait w;
        hn_wait_init(x, &w, HN_QUERY_WAIT_US);
        while ((rc = x->ops.vec_get(x->s, q->key, sc->qbuf, x->dim, NULL)) == SPL_EAGAIN &&
               hn_wait(x, q->key, &w) == 0)
            ;
        if (rc)
            goto done;
    }
    double ss = 0;
    for (uint32_t i = 0; i < x->dim; i++) {
        if (!isfinite(sc->qbuf[i])) {
            rc = SPL_ENAN;
            goto done;
        }
        ss += (double)sc->qbuf[i] * sc->qbuf[i];
    }
    struct hn_query hq = {.v = sc->qbuf, .norm = (float)sqrt(ss), .norm2 = (float)ss, .metric = x->metric,
                          .labels = q->labels, .labels_any = (q->flags & SPL_F_LABELS_ANY) != 0,
                          .prefix = q->prefix, .prefix_len = q->prefix ? strlen(q->prefix) : 0,
                          .exclude = UINT32_MAX};
    if ((q->flags & SPL_VQ_SKIP_SELF) && !q->vec) {
        hq.self = q->key;
        hq.self_len = strlen(q->key);
    }
    hq.filtered = hq.labels || hq.prefix_len || hq.self;
    uint32_t ef = q->ef ? q->ef : 64; /* callers of hnsw_search know the field */
    if (ef < q->k)
        ef = q->k;
    struct hn_stats st = {0, 0};
    uint32_t ep, top, nres = 0;
    int e = hn_entry(x, &ep, &top);
    if (e == HN_SKIP) {
        rc = SPL_ESTALE; /* a corrupt entry: let the exact search answer */
        goto done;
    }
    if (e == 0) {
        float d, d2;
        st.dists++;
        if (hn_qdist(x, &hq, ep, &d) < 0)
            d = INFINITY; /* busy or absent: any neighbour is better */
        for (uint32_t l = top; l > 0; l--)
            hn_greedy(x, sc, &hq, l, &ep, &d, &st);
        int adm = hn_qdist(x, &hq, ep, &d2);
        hn_search_layer(x, sc, &hq, 0, ep, d, adm > 0 && d2 == d, ef, &st);
        nres = hn_res_sorted(sc);
    }
    if (sc->nomem) {
        rc = SPL_ENOMEM;
        goto done;
    }
    /* check the candidates against the store, nearest first, until k hits;
     * with binary16 copies also those that tie with the k-th within the
     * copies' rounding (their order may differ from the exact one there;
     * scored exactly, the best k are kept) */
    uint32_t want = x->esize == 2 ? 2 * q->k : q->k;
    float dk = INFINITY, margin = 0;
    hits = calloc((size_t)want + 1, sizeof *hits);
    keys = malloc(((size_t)want + 1) * (x->key_max + 1));
    if (!hits || !keys) {
        rc = SPL_ENOMEM;
        goto done;
    }
    uint32_t nh = 0;
    for (uint32_t i = 0; i < nres && nh < want; i++) {
        if (nh >= q->k && !(sc->tmp[i].d <= dk + margin))
            break;
        char *kb = keys + (size_t)nh * (x->key_max + 1);
        if (hn_recheck(x, sc, &hq, &sc->tmp[i], &hits[nh], kb) != 0) {
            st.skipped++;
            continue;
        }
        hits[nh].key = kb;
        int dup = 0; /* a key moved between nodes may show twice */
        for (uint32_t j = 0; j < nh && !dup; j++)
            dup = hits[j].key_len == hits[nh].key_len && memcmp(hits[j].key, kb, hits[nh].key_len) == 0;
        if (dup)
            continue;
        if (++nh == q->k) {
            /* binary16 rounding moves a distance by ~2^-12 of |q| |x|: 4x that */
            dk = sc->tmp[i].d;
            margin = x->esize == 2 ? 1e-3f * (fabsf(dk) + (x->metric == SPL_METRIC_L2 ? hq.norm2 : 0.0f)) : 0.0f;
        }
    }
    if (ld64_acq(&x->h->generation) != gen || ld32_acq(&x->h->state) != HNSW_S_READY) {
        rc = SPL_ESTALE; /* rebuilt while we searched */
        goto done;
    }
    qsort_r(hits, nh, sizeof *hits, hn_hit_cmp, &x->metric);
    if (nh > q->k)
        nh = q->k;
    size_t key_bytes = 0;
    for (uint32_t j = 0; j < nh; j++)
        key_bytes += hits[j].key_len + 1;
    r = malloc(sizeof *r + (size_t)nh * sizeof(spl_vec_hit) + key_bytes);
    if (!r) {
        rc = SPL_ENOMEM;
        goto done;
    }
    r->n = nh;
    r->scanned = st.dists;
    r->skipped = st.skipped;
    r->flags = SPL_VR_ANN;
    r->hits = (spl_vec_hit *)(void *)(r + 1);
    char *kp = (char *)(r->hits + nh);
    for (uint32_t j = 0; j < nh; j++) {
        memcpy(kp, hits[j].key, hits[j].key_len + 1);
        r->hits[j] = (spl_vec_hit){kp, hits[j].key_len, hits[j].score, hits[j].id, hits[j].epoch};
        kp += hits[j].key_len + 1;
    }
    *out = r;
    rc = 0;
done:
    free(hits);
    free(keys);
    hn_scratch_put(x, sc);
    return rc;
}

static int hn_provider(void *ud, spl_store *s, const spl_vec_query *q, spl_vec_result **out)
{
    hnsw_index *x = ud;
    if (!x || x->s != s)
        return SPL_ENOTSUP;
    return hnsw_search(x, q, out);
}

int hnsw_provide(hnsw_index *x)
{
    if (!x)
        return SPL_EINVAL;
    if (!x->ops.vec_ann_set)
        return SPL_ENOTSUP;
    int rc = x->ops.vec_ann_set(x->s, hn_provider, x);
    if (rc == 0)
        x->provided = 1;
    return rc;
}

void hnsw_set_max_lag(hnsw_index *x, uint64_t max_lag)
{
    if (x)
        x->max_lag = max_lag;
}

/* ============================================ writer: nodes and links */

static uint64_t hn_rand(hnsw_index *x)
{
    uint64_t z = (x->rng += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t hn_draw_level(hnsw_index *x)
{
    double u = (double)((hn_rand(x) >> 11) + 1) * 0x1p-53; /* (0, 1] */
    double l = -log(u) * x->mult;
    return l >= HNSW_LEVEL_MAX ? HNSW_LEVEL_MAX : (uint32_t)l;
}

static void hn_dirty(hnsw_index *x, int on)
{
    if (on)
        st64_sc(&x->h->dirty, 1); /* before any change to the graph */
    else
        st64_rel(&x->h->dirty, 0); /* after all of them */
}

/* The heuristic: from candidates c[0..n) sorted nearest first (d = distance
 * to the base), keep one only if it is nearer to the base than to every
 * one kept; at most mmax.  Writes the kept ids to out; returns how many. */
static uint32_t hn_select(const hnsw_index *x, const struct hn_pair *c, uint32_t n, uint32_t mmax, uint32_t *out)
{
    uint32_t k = 0;
    if (n <= mmax) {
        for (uint32_t i = 0; i < n; i++)
            out[i] = c[i].id;
        return n;
    }
    for (uint32_t i = 0; i < n && k < mmax; i++) {
        int good = 1;
        const float *a = k ? hn_as_f32(x, c[i].id, x->ws->tmp32) : NULL;
        float xa = ldf(&hn_node(x, c[i].id)->norm);
        for (uint32_t j = 0; j < k && good; j++)
            good = !(hn_vdist(x, a, xa, out[j]) < c[i].d);
        if (good)
            out[k++] = c[i].id;
    }
    return k;
}

static int hn_pair_cmp(const void *a, const void *b)
{
    const struct hn_pair *x = a, *y = b;
    return x->d < y->d ? -1 : x->d > y->d ? 1 : (x->id > y->id) - (x->id < y->id);
}

/* Add a link from node s to node id on level lvl, pruning s's list with
 * the heuristic when it is full. */
static void hn_add_link(hnsw_index *x, uint32_t s, uint32_t id, uint32_t lvl)
{
    uint32_t cap;
    struct hnsw_list *l = hn_list(x, s, lvl, &cap);
    if (!l || s == id)
        return;
    uint32_t ids[2 * HNSW_M_MAX + 1];
    uint32_t c = hn_list_read(l, cap, ids, NULL);
    for (uint32_t i = 0; i < c; i++)
        if (ids[i] == id)
            return;
    if (c < cap) {
        ids[c] = id;
        hn_list_write(l, ids, c + 1);
        return;
    }
    struct hn_pair cand[2 * HNSW_M_MAX + 1];
    uint32_t nc = 0;
    const float *a = hn_as_f32(x, s, x->ws->tmp32);
    float xa = ldf(&hn_node(x, s)->norm);
    for (uint32_t i = 0; i < c; i++)
        if (ids[i] < x->n && ids[i] != s)
            cand[nc++] = (struct hn_pair){hn_vdist(x, a, xa, ids[i]), ids[i]};
    cand[nc++] = (struct hn_pair){hn_vdist(x, a, xa, id), id};
    qsort(cand, nc, sizeof *cand, hn_pair_cmp);
    uint32_t keep[2 * HNSW_M_MAX];
    uint32_t k = hn_select(x, cand, nc, cap, keep);
    hn_list_write(l, keep, k);
}

/* Writer: q becomes node id's copy (id itself not walked); a greedy
 * descent from *ep (the entry, on level top) down to level lvl + 1 moves
 * *ep.  Returns the distance to *ep. */
static float hn_descend(hnsw_index *x, uint32_t id, struct hn_query *q, uint32_t *ep, uint32_t top, uint32_t lvl,
                        struct hn_stats *st)
{
    const struct hnsw_node *nd = hn_node(x, id);
    hn_copy_out(x, nd, x->ws->qbuf);
    *q = (struct hn_query){.v = x->ws->qbuf, .norm = ldf(&nd->norm), .metric = x->metric, .exclude = id};
    q->norm2 = q->norm * q->norm;
    float d;
    if (hn_qdist(x, q, *ep, &d) < 0)
        d = INFINITY;
    for (uint32_t l = top; l > lvl; l--)
        hn_greedy(x, x->ws, q, l, ep, &d, st);
    return d;
}

/* Writer: the efConstruction nearest of q on level lvl from ep, nearest
 * first in x->ws->tmp, keeping only nodes that have the level (the start
 * may not).  Returns how many. */
static uint32_t hn_layer_near(hnsw_index *x, const struct hn_query *q, uint32_t ep, float d, uint32_t lvl,
                              struct hn_stats *st)
{
    struct hn_scratch *sc = x->ws;
    int adm = hn_qdist(x, q, ep, &d);
    if (adm < 0) {
        d = INFINITY;
        adm = 0;
    }
    hn_search_layer(x, sc, q, lvl, ep, d, adm, x->efc, st);
    uint32_t nw = hn_res_sorted(sc), w = 0;
    for (uint32_t i = 0; i < nw; i++)
        if (lvl == 0 || ld32(&hn_node(x, sc->tmp[i].id)->level) >= lvl)
            sc->tmp[w++] = sc->tmp[i];
    return w;
}

/* Link node id (its copy written, PRESENT) into the graph on its levels:
 * hnswlib's addPoint.  If id is already linked (an update) its lists are
 * chosen again; links from others to it stay. */
static void hn_link(hnsw_index *x, uint32_t id)
{
    struct hnsw_node *nd = hn_node(x, id);
    uint32_t level = ld32(&nd->level);
    uint32_t ep, top;
    if (hn_entry(x, &ep, &top) != 0) {
        st64_rel(&x->h->entry, ((uint64_t)(level + 1) << 32) | id); /* the first node (pairs with hn_entry) */
        return;
    }
    if (ep == id) {
        /* relinking the entry point itself: start from one of its own
         * neighbours, on the highest level where it has one */
        int found = 0;
        for (uint32_t l = level + 1; l-- > 0 && !found;) {
            uint32_t cap = 0;
            struct hnsw_list *li = hn_list(x, id, l, &cap);
            uint32_t c = li ? hn_list_read(li, cap, x->ws->ids, NULL) : 0;
            for (uint32_t i = 0; i < c && !found; i++) {
                uint32_t t = x->ws->ids[i];
                if (t < x->n && t != id && (ld32(&hn_node(x, t)->flags) & HNSW_N_PRESENT) &&
                    ld32(&hn_node(x, t)->level) >= l) {
                    ep = t;
                    top = l; /* the levels above keep their lists */
                    found = 1;
                }
            }
        }
        if (!found)
            return; /* alone in the graph */
    }
    struct hn_scratch *sc = x->ws;
    struct hn_query q;
    struct hn_stats st = {0, 0};
    float d = hn_descend(x, id, &q, &ep, top, level, &st);
    uint32_t sel[2 * HNSW_M_MAX];
    for (uint32_t l = (level < top ? level : top) + 1; l-- > 0;) {
        uint32_t nw = hn_layer_near(x, &q, ep, d, l, &st);
        if (!nw)
            continue;
        uint32_t k = hn_select(x, sc->tmp, nw, x->m, sel);
        uint32_t cap;
        struct hnsw_list *own = hn_list(x, id, l, &cap);
        if (own)
            hn_list_write(own, sel, k);
        for (uint32_t i = 0; i < k; i++)
            hn_add_link(x, sel[i], id, l);
        ep = sc->tmp[0].id;
        d = sc->tmp[0].d;
    }
    if (level > top)
        st64_rel(&x->h->entry, ((uint64_t)(level + 1) << 32) | id); /* pairs with hn_entry */
}

/* A node's vector was rewritten (an update, or a tombstone's slot taken by
 * another key): its old neighbours that still link to it, and are not
 * among its new neighbours, hold a link that now leads far away.  Each such
 * list is chosen again by the heuristic, from its other links and the
 * node's old neighbours (hnswlib's repair on update, in short), so that
 * churn does not wear the graph out.  old holds the old lists, level by
 * level (m0 ids for level 0, m above), with their counts in oldn. */
static void hn_repair_old(hnsw_index *x, uint32_t id, uint32_t levels, const uint32_t *old, const uint32_t *oldn)
{
    uint32_t nowl[2 * HNSW_M_MAX], ids[2 * HNSW_M_MAX], keep[2 * HNSW_M_MAX];
    struct hn_pair cand[4 * HNSW_M_MAX];
    for (uint32_t l = 0; l < levels; l++) {
        const uint32_t *ol = old + (size_t)l * 2 * HNSW_M_MAX;
        uint32_t cap;
        struct hnsw_list *own = hn_list(x, id, l, &cap);
        uint32_t nn = own ? hn_list_read(own, cap, nowl, NULL) : 0;
        for (uint32_t i = 0; i < oldn[l]; i++) {
            uint32_t s = ol[i], scap;
            if (s >= x->n || s == id || !(ld32(&hn_node(x, s)->flags) & HNSW_N_PRESENT))
                continue;
            int still = 0;
            for (uint32_t j = 0; j < nn && !still; j++)
                still = nowl[j] == s;
            struct hnsw_list *sl = hn_list(x, s, l, &scap);
            if (still || !sl)
                continue;
            uint32_t c = hn_list_read(sl, scap, ids, NULL), at = c;
            for (uint32_t j = 0; j < c; j++)
                if (ids[j] == id)
                    at = j;
            if (at == c)
                continue; /* it does not link to the node */
            const float *a = hn_as_f32(x, s, x->ws->tmp32);
            float xa = ldf(&hn_node(x, s)->norm);
            uint32_t nc = 0;
            for (uint32_t j = 0; j < c; j++)
                if (j != at && ids[j] < x->n && ids[j] != s)
                    cand[nc++] = (struct hn_pair){hn_vdist(x, a, xa, ids[j]), ids[j]};
            for (uint32_t j = 0; j < oldn[l]; j++) {
                uint32_t t = ol[j];
                int dup = t >= x->n || t == s || t == id || !(ld32(&hn_node(x, t)->flags) & HNSW_N_PRESENT) ||
                          (l && ld32(&hn_node(x, t)->level) < l);
                for (uint32_t u = 0; u < nc && !dup; u++)
                    dup = cand[u].id == t;
                if (!dup)
                    cand[nc++] = (struct hn_pair){hn_vdist(x, a, xa, t), t};
            }
            qsort(cand, nc, sizeof *cand, hn_pair_cmp);
            uint32_t k = hn_select(x, cand, nc, scap, keep);
            hn_list_write(sl, keep, k);
        }
    }
}

/* The copy of v as the region keeps it, into dst; returns its scale. */
static float hn_encode(const hnsw_index *x, const float *v, void *dst)
{
    if (x->esize == 4) {
        memcpy(dst, v, 4ull * x->dim);
        return 1.0f;
    }
    float mx = 0;
    for (uint32_t i = 0; i < x->dim; i++)
        mx = fabsf(v[i]) > mx ? fabsf(v[i]) : mx;
    uint16_t *h = dst;
    float inv = mx > 0 ? 1.0f / mx : 0.0f;
    for (uint32_t i = 0; i < x->dim; i++)
        h[i] = hn_f2h(v[i] * inv);
    return mx;
}

/* Write key/vector into node id and link it.  A node that never had a
 * level gets one (and its pool lists); a reused node keeps its own. */
static void hn_put(hnsw_index *x, uint32_t id, const char *key, size_t kl, const float *v, uint64_t epoch,
                   uint64_t labels)
{
    struct hnsw_node *nd = hn_node(x, id);
    uint32_t fl = ld32(&nd->flags);
    uint32_t level = ld32(&nd->level), upper = ld32(&nd->upper);
    st64(&x->h->busy, (uint64_t)id + 1); /* read only by a take-over, after this process died */
    if (!(fl & HNSW_N_PRESENT)) {
        /* a node that never had a level draws one and takes its pool lists;
         * one dropped by a repair keeps its own; either starts unlinked */
        if (!(level | upper)) {
            level = hn_draw_level(x);
            uint64_t used = ld64(&x->h->pool_used);
            if (used > x->pool_lists)
                used = x->pool_lists;
            if (level > x->pool_lists - used)
                level = (uint32_t)(x->pool_lists - used);
            upper = (uint32_t)used;
            st64(&x->h->pool_used, used + level); /* taken before the node names them */
        }
        uint32_t none[1];
        for (uint32_t l = 1; l <= level; l++)
            hn_list_write((struct hnsw_list *)(void *)(x->base + x->pool_off +
                                                       (uint64_t)(upper + l - 1) * x->list_stride),
                          none, 0);
        hn_list_write(hn_list0(x, nd), none, 0);
    }
    /* a rewritten node: remember its old neighbours (repaired after) */
    static __thread uint32_t old[(HNSW_LEVEL_MAX + 1) * 2 * HNSW_M_MAX];
    uint32_t oldn[HNSW_LEVEL_MAX + 1], levels = 0;
    if (fl & HNSW_N_PRESENT) {
        levels = level + 1 <= HNSW_LEVEL_MAX + 1 ? level + 1 : HNSW_LEVEL_MAX + 1;
        for (uint32_t l = 0; l < levels; l++) {
            uint32_t cap;
            struct hnsw_list *li = hn_list(x, id, l, &cap);
            oldn[l] = li ? hn_list_read(li, cap, old + (size_t)l * 2 * HNSW_M_MAX, NULL) : 0;
        }
    }
    double ss = hn_norm2d(v, x->dim);
    float scale = hn_encode(x, v, x->ws->enc);
    hn_node_begin(nd);
    memcpy(hn_vec(x, nd), x->ws->enc, (size_t)x->esize * x->dim); /* plain stores: readers re-check the seq */
    stf(&nd->scale, scale);
    memcpy(hn_key(x, nd), key, kl);
    st32(&nd->key_len, (uint32_t)kl);
    st64(&nd->vepoch, epoch);
    st64(&nd->labels, labels);
    stf(&nd->norm, (float)sqrt(ss));
    st32(&nd->level, level);
    st32(&nd->upper, upper);
    st32(&nd->flags, HNSW_N_PRESENT);
    hn_node_end(nd);
    if (!(fl & HNSW_N_PRESENT))
        st64(&x->h->live, ld64(&x->h->live) + 1);
    else if (fl & HNSW_N_DELETED) {
        st64(&x->h->live, ld64(&x->h->live) + 1);
        st64(&x->h->deleted, ld64(&x->h->deleted) - 1);
    }
    hn_link(x, id);
    if (levels)
        hn_repair_old(x, id, levels, old, oldn);
    st64(&x->h->busy, 0);
}

static void hn_tombstone(hnsw_index *x, uint32_t id)
{
    struct hnsw_node *nd = hn_node(x, id);
    uint32_t fl = ld32(&nd->flags);
    if (!(fl & HNSW_N_PRESENT) || (fl & HNSW_N_DELETED))
        return;
    hn_node_begin(nd);
    st32(&nd->flags, fl | HNSW_N_DELETED);
    hn_node_end(nd);
    st64(&x->h->live, ld64(&x->h->live) - 1);
    st64(&x->h->deleted, ld64(&x->h->deleted) + 1);
}

static int hn_node_has_key(const hnsw_index *x, uint32_t id, const char *key, size_t kl)
{
    struct hnsw_node *nd = hn_node(x, id);
    return (ld32(&nd->flags) & HNSW_N_PRESENT) && ld32(&nd->key_len) == kl &&
           memcmp(hn_key(x, nd), key, kl) == 0;
}

/* The key's current vector into node m.slot: unchanged, refreshed (same
 * vector, new epoch or labels), or written and linked. */
static void hn_upsert(hnsw_index *x, uint32_t id, const char *key, size_t kl, const float *v, uint64_t epoch,
                      uint64_t labels)
{
    struct hnsw_node *nd = hn_node(x, id);
    uint32_t fl = ld32(&nd->flags);
    float scale = hn_encode(x, v, x->ws->enc);
    if (hn_node_has_key(x, id, key, kl) && ldf(&nd->scale) == scale &&
        memcmp(hn_vec(x, nd), x->ws->enc, (size_t)x->esize * x->dim) == 0) {
        if (ld64(&nd->vepoch) == epoch && ld64(&nd->labels) == labels && !(fl & HNSW_N_DELETED))
            return;
        hn_node_begin(nd);
        st64(&nd->vepoch, epoch);
        st64(&nd->labels, labels);
        st32(&nd->flags, fl & ~(uint32_t)HNSW_N_DELETED);
        hn_node_end(nd);
        if (fl & HNSW_N_DELETED) {
            st64(&x->h->live, ld64(&x->h->live) + 1);
            st64(&x->h->deleted, ld64(&x->h->deleted) - 1);
        }
        return;
    }
    hn_put(x, id, key, kl, v, epoch, labels);
}

/* ============================== writer: apply, sync, rebuild, repair */

/* Read key's vector and metadata consistently (same epoch).  1: it has a
 * vector (in buf, *m filled); 0: it has none (or is gone); or an error. */
static int hn_read_key(hnsw_index *x, const char *key, float *buf, spl_meta *m)
{
    struct hn_wait w;
    hn_wait_init(x, &w, HN_APPLY_WAIT_US);
    for (int t = 0; t < 2000; t++) {
        uint64_t e;
        int rc = x->ops.vec_get(x->s, key, buf, x->dim, &e);
        if (rc == SPL_ENOVEC || rc == SPL_ENOENT)
            return 0;
        if (rc == 0) {
            rc = x->ops.meta_get(x->s, key, m);
            if (rc == SPL_ENOENT)
                return 0;
            if (rc == 0 && m->epoch == e)
                return 1;
        }
        if (rc && rc != SPL_EAGAIN)
            return rc;
        /* busy: wait for its writer; written between the two reads: again */
        if (rc == SPL_EAGAIN && hn_wait(x, key, &w) != 0)
            return SPL_EAGAIN;
    }
    return SPL_EAGAIN;
}

static int hn_apply_key(hnsw_index *x, uint32_t slot, const char *key)
{
    size_t kl = strlen(key);
    if (kl == 0 || kl > x->key_max)
        return SPL_EKEYLEN;
    spl_meta m;
    int rc = hn_read_key(x, key, x->ws->vbuf, &m);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        if (m.slot >= x->n)
            return SPL_ECORRUPT;
        if (slot < x->n && slot != m.slot && hn_node_has_key(x, slot, key, kl))
            hn_tombstone(x, slot); /* the key moved */
        for (uint32_t i = 0; i < x->dim; i++)
            if (!isfinite(x->ws->vbuf[i]))
                return SPL_ECORRUPT;
        hn_upsert(x, m.slot, key, kl, x->ws->vbuf, m.epoch, m.labels);
        if (x->seen)
            x->seen[m.slot >> 3] |= (uint8_t)(1u << (m.slot & 7));
        return 0;
    }
    if (slot < x->n) {
        if (hn_node_has_key(x, slot, key, kl))
            hn_tombstone(x, slot);
        return 0;
    }
    for (uint32_t id = 0; id < x->n; id++) /* no slot given: look for the key */
        if (hn_node_has_key(x, id, key, kl))
            hn_tombstone(x, id);
    return 0;
}

int hnsw_apply(hnsw_index *x, uint32_t slot, const char *key)
{
    if (!x || !key)
        return SPL_EINVAL;
    if (!x->writer)
        return SPL_EROFS;
    hn_dirty(x, 1);
    int rc = hn_apply_key(x, slot, key);
    hn_dirty(x, 0);
    return rc;
}

void hnsw_mark_applied(hnsw_index *x, uint64_t changes)
{
    if (!x || !x->writer)
        return;
    uint64_t now = hn_changes(x);
    if (changes > now)
        changes = now; /* no credit for changes not made yet */
    if (changes > ld64(&x->h->applied))
        st64_rel(&x->h->applied, changes); /* after the changes themselves */
}

struct hn_sync {
    hnsw_index *x;
    hnsw_progress_fn fn;
    void *ud;
    uint64_t done, total;
    int err;
};

static void hn_progress(hnsw_index *x, uint64_t done, uint64_t total)
{
    st64(&x->h->build_done, done);
    st64(&x->h->build_total, total);
}

static int hn_sync_cb(const spl_entry *e, void *ud)
{
    struct hn_sync *y = ud;
    hnsw_index *x = y->x;
    uint32_t slot = e->meta.slot;
    y->done++;
    if (slot < x->n) {
        struct hnsw_node *nd = hn_node(x, slot);
        uint32_t fl = ld32(&nd->flags);
        if ((fl & HNSW_N_PRESENT) && !(fl & HNSW_N_DELETED) && ld64(&nd->vepoch) == e->meta.epoch &&
            hn_node_has_key(x, slot, e->key, e->key_len)) {
            x->seen[slot >> 3] |= (uint8_t)(1u << (slot & 7));
            goto progress;
        }
    }
    int rc = hn_apply_key(x, slot, e->key);
    if (rc && rc != SPL_EAGAIN && !y->err)
        y->err = rc; /* carry on; report the first */
progress:
    if ((y->done & 255) == 0) {
        hn_progress(x, y->done, y->total);
        if (y->fn) {
            int r = y->fn(y->done, y->total, y->ud);
            if (r)
                return r;
        }
    }
    return 0;
}

int hnsw_sync(hnsw_index *x, hnsw_progress_fn progress, void *ud)
{
    if (!x)
        return SPL_EINVAL;
    if (!x->writer)
        return SPL_EROFS;
    uint64_t c0 = hn_changes(x);
    spl_info in;
    int rc = x->ops.info_get(x->s, &in);
    if (rc)
        return rc;
    x->seen = calloc(x->n / 8 + 1, 1);
    if (!x->seen)
        return SPL_ENOMEM;
    struct hn_sync y = {x, progress, ud, 0, in.used, 0};
    st64(&x->h->build_start_ns, hn_now_ns(CLOCK_REALTIME));
    hn_progress(x, 0, in.used);
    hn_dirty(x, 1);
    rc = x->ops.foreach(x->s, NULL, hn_sync_cb, &y);
    if (rc == 0) {
        /* nodes whose key was not met: deleted, moved, or lost its vector */
        for (uint32_t id = 0; id < x->n; id++) {
            struct hnsw_node *nd = hn_node(x, id);
            uint32_t fl = ld32(&nd->flags);
            if (!(fl & HNSW_N_PRESENT) || (fl & HNSW_N_DELETED) || (x->seen[id >> 3] & (1u << (id & 7))))
                continue;
            char key[SPL_KEY_MAX_LIMIT + 1];
            uint32_t kl = ld32(&nd->key_len);
            if (kl == 0 || kl > x->key_max) {
                hn_tombstone(x, id);
                continue;
            }
            memcpy(key, hn_key(x, nd), kl);
            key[kl] = 0;
            if (memchr(key, 0, kl) || hn_apply_key(x, id, key) != 0)
                hn_tombstone(x, id);
        }
        hn_progress(x, y.done, y.done);
        if (progress)
            progress(y.done, y.done, ud);
        hnsw_mark_applied(x, c0);
        rc = y.err;
    }
    hn_dirty(x, 0);
    free(x->seen);
    x->seen = NULL;
    return rc;
}

/* Forget every node (flags, level, lists), the pool and the entry. */
static void hn_clear(hnsw_index *x)
{
    uint32_t none[1];
    for (uint32_t id = 0; id < x->n; id++) {
        struct hnsw_node *nd = hn_node(x, id);
        if (ld32(&nd->flags) == 0 && ld32(&nd->level) == 0 && ld32(&nd->upper) == 0 && ld64(&nd->seq) == 0)
            continue; /* never used: leave the page untouched */
        hn_node_begin(nd);
        st32(&nd->flags, 0);
        st32(&nd->level, 0);
        st32(&nd->upper, 0);
        st32(&nd->key_len, 0);
        hn_node_end(nd);
        hn_list_write(hn_list0(x, nd), none, 0);
    }
    st64_rel(&x->h->entry, 0);
    st64(&x->h->pool_used, 0);
    st64(&x->h->live, 0);
    st64(&x->h->deleted, 0);
    st64(&x->h->applied, 0);
}

int hnsw_rebuild(hnsw_index *x, hnsw_progress_fn progress, void *ud)
{
    if (!x)
        return SPL_EINVAL;
    if (!x->writer)
        return SPL_EROFS;
    st32_rel(&x->h->state, HNSW_S_BUILDING); /* readers decline from now on */
    st64_rel(&x->h->generation, ld64(&x->h->generation) + 1);
    hn_dirty(x, 1);
    hn_clear(x);
    hn_dirty(x, 0);
    int rc = hnsw_sync(x, progress, ud);
    if (rc == 0)
        st32_rel(&x->h->state, HNSW_S_READY); /* after the graph (pairs with hn_usable) */
    return rc;
}

/* Writer: make node id (whole, present, level >= lvl) reachable on level
 * lvl without touching its own list: search the level for its nearest
 * nodes from the entry point, as an insert does, and link them to it (the
 * heuristic may prune such a link from a full list; then the nearest one's
 * farthest link gives way).  Returns 1 if linked. */
static int hn_attach(hnsw_index *x, uint32_t id, uint32_t lvl)
{
    uint32_t ep, top;
    if (hn_entry(x, &ep, &top) != 0 || ep == id || top < lvl)
        return 0;
    struct hn_scratch *sc = x->ws;
    struct hn_query q;
    struct hn_stats st = {0, 0};
    float d = hn_descend(x, id, &q, &ep, top, lvl, &st);
    uint32_t w = hn_layer_near(x, &q, ep, d, lvl, &st);
    if (!w)
        return 0;
    uint32_t sel[2 * HNSW_M_MAX], ids[2 * HNSW_M_MAX], cap;
    uint32_t k = hn_select(x, sc->tmp, w, x->m, sel), linked = 0;
    for (uint32_t i = 0; i < k; i++) {
        hn_add_link(x, sel[i], id, lvl);
        struct hnsw_list *l = hn_list(x, sel[i], lvl, &cap);
        uint32_t c = l ? hn_list_read(l, cap, ids, NULL) : 0;
        for (uint32_t j = 0; j < c && !linked; j++)
            linked = ids[j] == id;
    }
    struct hnsw_list *l = k ? hn_list(x, sel[0], lvl, &cap) : NULL;
    if (!linked && l) {
        uint32_t c = hn_list_read(l, cap, ids, NULL), far = 0;
        if (c < cap) {
            ids[c++] = id;
        } else {
            const float *a = hn_as_f32(x, sel[0], sc->tmp32);
            float xa = ldf(&hn_node(x, sel[0])->norm), worst = -INFINITY;
            for (uint32_t j = 0; j < c; j++) {
                float dj = ids[j] < x->n ? hn_vdist(x, a, xa, ids[j]) : INFINITY;
                if (dj > worst) {
                    worst = dj;
                    far = j;
                }
            }
            ids[far] = id;
        }
        hn_list_write(l, ids, c);
        linked = 1;
    }
    return linked != 0;
}

static int hn_on_level(const hnsw_index *x, uint32_t id, uint32_t lvl)
{
    const struct hnsw_node *nd = hn_node(x, id);
    uint32_t lv = ld32(&nd->level);
    return (ld32(&nd->flags) & HNSW_N_PRESENT) && lv >= lvl && lv <= HNSW_LEVEL_MAX;
}

/* Mark (in mark) what level lvl's lists reach from start, through
 * tombstones; queue holds x->n ids. */
static void hn_mark_from(const hnsw_index *x, uint32_t lvl, uint32_t start, uint8_t *mark, uint32_t *queue)
{
    if (mark[start])
        return;
    uint32_t head = 0, tail = 0, ids[2 * HNSW_M_MAX];
    mark[start] = 1;
    queue[tail++] = start;
    while (head < tail) {
        uint32_t u = queue[head++], cap;
        struct hnsw_list *l = hn_list(x, u, lvl, &cap);
        uint32_t c = l ? hn_list_read(l, cap, ids, NULL) : 0;
        for (uint32_t i = 0; i < c; i++) {
            uint32_t t = ids[i];
            if (t < x->n && !mark[t] && hn_on_level(x, t, lvl)) {
                mark[t] = 1;
                queue[tail++] = t;
            }
        }
    }
}

/* Live nodes on level lvl that the entry point does not reach; with fix
 * (the writer), each one is attached, counted in *relinked. */
static uint64_t hn_reach_level(hnsw_index *x, uint32_t lvl, uint8_t *mark, uint32_t *queue, int fix,
                               uint32_t *relinked)
{
    uint32_t ep, top;
    if (hn_entry(x, &ep, &top) != 0 || top < lvl)
        return 0;
    memset(mark, 0, x->n);
    hn_mark_from(x, lvl, ep, mark, queue);
    uint64_t lost = 0;
    for (uint32_t id = 0; id < x->n; id++) {
        if (mark[id] || !hn_on_level(x, id, lvl) || (ld32(&hn_node(x, id)->flags) & HNSW_N_DELETED))
            continue;
        lost++;
        /* each such node gets links of its own: one bridge into a cut-off
         * part makes it reachable, not findable (a search near its middle
         * need not pass the bridge) */
        if (fix && hn_attach(x, id, lvl)) {
            (*relinked)++;
            mark[id] = 1;
        }
    }
    return lost;
}

int64_t hnsw_reach(hnsw_index *x, uint64_t *per_level)
{
    if (!x)
        return SPL_EINVAL;
    uint8_t *mark = malloc(x->n ? x->n : 1);
    uint32_t *queue = malloc(((size_t)x->n + 1) * sizeof *queue);
    if (!mark || !queue) {
        free(mark);
        free(queue);
        return SPL_ENOMEM;
    }
    uint64_t lost0 = 0;
    for (uint32_t l = 0; l <= HNSW_LEVEL_MAX; l++) {
        uint64_t lost = hn_reach_level(x, l, mark, queue, 0, NULL);
        if (per_level)
            per_level[l] = lost;
        if (l == 0)
            lost0 = lost;
    }
    free(mark);
    free(queue);
    return (int64_t)lost0;
}

/* Writer, at a take-over: link again the node a dead put was changing (its
 * lists may be half chosen, its old neighbours not yet repaired), then
 * attach every live node the entry point no longer reaches, top level
 * first (a few passes: an attachment may push another link out).  Returns
 * the nodes linked. */
static uint32_t hn_relink(hnsw_index *x)
{
    uint32_t relinked = 0;
    uint64_t b = ld64(&x->h->busy);
    if (b && b <= x->n && x->ws && (ld32(&hn_node(x, (uint32_t)(b - 1))->flags) & HNSW_N_PRESENT) &&
        !(ld64(&hn_node(x, (uint32_t)(b - 1))->seq) & 1)) {
        hn_link(x, (uint32_t)(b - 1));
        relinked++;
    }
    st64(&x->h->busy, 0);
    uint8_t *mark = x->ws ? malloc(x->n ? x->n : 1) : NULL;
    uint32_t *queue = mark ? malloc(((size_t)x->n + 1) * sizeof *queue) : NULL;
    uint32_t ep, top;
    if (queue && hn_entry(x, &ep, &top) == 0)
        for (int pass = 0; pass < 3; pass++) {
            uint64_t lost = 0;
            for (uint32_t l = top + 1; l-- > 0;)
                lost += hn_reach_level(x, l, mark, queue, 1, &relinked);
            if (!lost)
                break;
        }
    free(mark);
    free(queue);
    return relinked;
}

int hnsw_repair(hnsw_index *x)
{
    if (!x)
        return SPL_EINVAL;
    if (!x->writer)
        return SPL_EROFS;
    int fixed = 0;
    uint64_t used = ld64(&x->h->pool_used);
    if (used > x->pool_lists) {
        used = x->pool_lists;
        st64(&x->h->pool_used, used);
        fixed++;
    }
    uint64_t live = 0, dead = 0;
    uint32_t best = UINT32_MAX, best_level = 0;
    /* nodes: a torn one is dropped (sync inserts it again) */
    for (uint32_t id = 0; id < x->n; id++) {
        struct hnsw_node *nd = hn_node(x, id);
        uint64_t s = ld64(&nd->seq);
        uint32_t fl = ld32(&nd->flags), lv = ld32(&nd->level), up = ld32(&nd->upper);
        uint32_t kl = ld32(&nd->key_len);
        int bad_lv = lv > HNSW_LEVEL_MAX || (lv && (up > used || lv > used - up));
        int bad = (s & 1) || (fl & ~(uint32_t)(HNSW_N_PRESENT | HNSW_N_DELETED)) ||
                  ((fl & HNSW_N_PRESENT) && (kl == 0 || kl > x->key_max || !(ldf(&nd->norm) >= 0) ||
                                             !(ldf(&nd->scale) >= 0) || !isfinite(ldf(&nd->scale))));
        if (bad || bad_lv) {
            hn_node_begin(nd);
            st32(&nd->flags, 0);
            if (bad_lv) {
                st32(&nd->level, 0);
                st32(&nd->upper, 0);
            }
            hn_node_end(nd);
            fixed++;
            fl = 0;
        }
        if (fl & HNSW_N_PRESENT) {
            if (fl & HNSW_N_DELETED)
                dead++;
            else
                live++;
            if (best == UINT32_MAX || ld32(&nd->level) > best_level) {
                best = id;
                best_level = ld32(&nd->level);
            }
        }
    }
    /* lists: whole, in range, to present nodes, no self links or repeats */
    for (uint32_t id = 0; id < x->n; id++) {
        struct hnsw_node *nd = hn_node(x, id);
        uint32_t top = ld32(&nd->level);
        for (uint32_t l = 0; l <= top; l++) {
            uint32_t cap;
            struct hnsw_list *li = hn_list(x, id, l, &cap);
            if (!li)
                break;
            uint32_t c = ld32(&li->count), s = ld32(&li->seq), keep[2 * HNSW_M_MAX], k = 0;
            int changed = (s & 1) || c > cap;
            if (c > cap)
                c = cap;
            for (uint32_t i = 0; i < c; i++) {
                uint32_t t = ld32(&li->ids[i]);
                int ok = t < x->n && t != id && (ld32(&hn_node(x, t)->flags) & HNSW_N_PRESENT);
                for (uint32_t j = 0; j < k && ok; j++)
                    ok = keep[j] != t;
                if (ok)
                    keep[k++] = t;
                else
                    changed = 1;
            }
            if (changed) {
                hn_list_write(li, keep, k);
                fixed++;
            }
        }
    }
    uint32_t ep, top;
    int e = hn_entry(x, &ep, &top);
    int entry_ok = e == 0 && (ld32(&hn_node(x, ep)->flags) & HNSW_N_PRESENT) && ld32(&hn_node(x, ep)->level) == top &&
                   top >= best_level;
    if (!(e == HN_ABSENT && best == UINT32_MAX) && !entry_ok) {
        st64_rel(&x->h->entry, best == UINT32_MAX ? 0 : ((uint64_t)(best_level + 1) << 32) | best);
        fixed++;
    }
    uint32_t relinked = hn_relink(x);
    x->relinked += relinked;
    fixed += (int)relinked;
    if (ld64(&x->h->live) != live || ld64(&x->h->deleted) != dead) {
        st64(&x->h->live, live);
        st64(&x->h->deleted, dead);
        fixed++;
    }
    return fixed;
}

/* ==================================================== regions and files */

/* /proc/PID/stat into buf; returns what follows the command's ')' (the
 * state field is p[2]), or NULL. */
static const char *hn_proc_stat(pid_t pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = 0;
    return strrchr(buf, ')');
}

static uint64_t hn_proc_start(pid_t pid)
{
    char buf[1024];
    const char *p = hn_proc_stat(pid, buf, sizeof buf);
    if (!p)
        return 0;
    /* fields after the command: state is field 3; starttime is field 22 */
    int field = 2;
    for (; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    return strtoull(p, NULL, 10);
}

static uint64_t hn_owner_self(void)
{
    pid_t pid = getpid();
    return ((uint64_t)(uint32_t)pid << 32) | (hn_proc_start(pid) & 0xffffffffu);
}

/* A zombie (dead, not reaped yet: a host is nobody's child once its
 * spawner is gone, and reaping is up to init) holds nothing. */
static int hn_proc_zombie(pid_t pid)
{
    char buf[1024];
    const char *p = hn_proc_stat(pid, buf, sizeof buf);
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static int hn_owner_alive(uint64_t o)
{
    pid_t pid = (pid_t)(o >> 32);
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 0;
    if (hn_proc_zombie(pid))
        return 0;
    uint64_t st = hn_proc_start(pid);
    return st == 0 || (st & 0xffffffffu) == (o & 0xffffffffu);
}

/* Initialise a region (version written last). */
static void hn_init_region(hnsw_index *x, struct hnsw_header *h, const hnsw_params *p, const spl_info *in,
                           uint64_t seed)
{
    st32_rel(&h->version, 0); /* readers refuse it from now on */
    uint32_t n = in->geom.slots, dim = in->geom.vec_dim, km = in->geom.key_max;
    uint32_t esize = p->format == HNSW_F16 ? 2 : 4;
    uint64_t pool_off, pool_lists, total = hn_total(n, km, dim, p->m, esize, &pool_off, &pool_lists);
    uint64_t gen = ld64(&h->generation);
    memset((uint8_t *)h + 16, 0, HNSW_HEADER_BYTES - 16);
    st64(&h->magic, HNSW_MAGIC);
    h->header_bytes = HNSW_HEADER_BYTES;
    h->fingerprint = hnsw__fingerprint();
    h->nodes = n;
    h->dim = dim;
    h->m = p->m;
    h->m0 = 2 * p->m;
    h->ef_construction = p->ef_construction;
    h->metric = (uint32_t)p->metric;
    h->key_max = km;
    h->node_stride = (uint32_t)hnsw__node_stride(2 * p->m, km, dim, esize);
    h->elem_format = p->format == HNSW_F16 ? HNSW_E_F16 : HNSW_E_F32;
    h->nodes_off = HNSW_HEADER_BYTES;
    h->pool_off = pool_off;
    h->pool_lists = (uint32_t)pool_lists;
    h->list_stride = hnsw__list_bytes(p->m);
    h->total_bytes = total;
    h->store_seed = seed;
    h->store_format = 0;
    h->level_max = HNSW_LEVEL_MAX;
    h->created_ns = hn_now_ns(CLOCK_REALTIME) | 1;
    h->generation = gen + 1;
    h->state = HNSW_S_EMPTY;
    st32_rel(&h->version, HNSW_FORMAT_VERSION); /* publishes the header (pairs with hn_validate) */
    (void)x;
}

static int hn_params_match(const hnsw_index *x, const hnsw_params *p)
{
    return x->m == p->m && x->efc == p->ef_construction && x->metric == p->metric &&
           x->esize == (p->format == HNSW_F16 ? 2u : 4u);
}

/* The writer half of open/attach: validate or initialise, take ownership,
 * repair or rebuild as needed, sync. */
static int hn_writer_setup(hnsw_index *x, const hnsw_params *p, uint32_t flags, hnsw_progress_fn progress,
                           void *ud)
{
    spl_info in;
    int rc = x->ops.info_get(x->s, &in);
    if (rc)
        return rc;
    if (!in.geom.vec_dim)
        return SPL_ENOTSUP;
    if (in.read_only)
        return SPL_EROFS;
    uint64_t need = hn_total(in.geom.slots, in.geom.key_max, in.geom.vec_dim, p->m, p->format == HNSW_F16 ? 2 : 4,
                             NULL, NULL);
    if (x->bytes < need)
        return SPL_ESIZE;
    struct hnsw_header *h = x->h;
    int init = hn_validate(x, h, x->bytes) != 0 || !hn_params_match(x, p);
    uint64_t me = hn_owner_self();
    if (!init) {
        uint64_t o = ld64(&h->owner);
        if (o && hn_owner_alive(o))
            return SPL_EAGAIN; /* another process, or another handle of this one */
        if (!atomic_compare_exchange_strong(A64(&h->owner), &o, me))
            return SPL_EAGAIN;
    } else {
        uint64_t o = ld64(&h->magic) == HNSW_MAGIC ? ld64(&h->owner) : 0;
        if (o && hn_owner_alive(o))
            return SPL_EAGAIN;
        hn_init_region(x, h, p, &in, hn_store_seed(x));
        st64(&h->owner, me);
        if ((rc = hn_validate(x, h, x->bytes)) != 0)
            return rc;
    }
    x->writer = 1;
    x->mult = 1.0 / log((double)x->m);
    x->rng = p->seed ? p->seed : hn_now_ns(CLOCK_MONOTONIC) ^ ((uint64_t)getpid() << 32);
    x->ws = hn_scratch_new(x);
    if (!x->ws)
        return SPL_ENOMEM;
    int rebuild = init || (flags & HNSW_OPEN_REBUILD) || ld32(&h->state) != HNSW_S_READY;
    if (!rebuild && ld64(&h->dirty)) {
        x->opened_dirty = 1;
        hn_dirty(x, 1);
        int r = hnsw_repair(x);
        x->repairs = r > 0 ? (uint32_t)r : 0;
        hn_dirty(x, 0);
    }
    /* more tombstones than live nodes: the graph has decayed, start afresh */
    if (!rebuild && ld64(&h->deleted) > 64 && ld64(&h->deleted) > ld64(&h->live))
        rebuild = 1;
    if (rebuild && (flags & HNSW_OPEN_NOBUILD)) {
        if (ld32(&h->state) == HNSW_S_READY)
            st32_rel(&h->state, HNSW_S_BUILDING); /* readers decline until the caller rebuilds */
        return 0;
    }
    if (rebuild)
        return hnsw_rebuild(x, progress, ud);
    if (flags & HNSW_OPEN_NOSYNC)
        return 0;
    return hnsw_sync(x, progress, ud);
}

int hnsw_attach_writer(hnsw_index **out, spl_store *s, void *addr, size_t bytes, const hnsw_params *p,
                       const hnsw_ops *ops, uint32_t flags, hnsw_progress_fn progress, void *ud)
{
    hnsw_params d;
    if (!p) {
        hnsw_params_init(&d);
        p = &d;
    }
    if (!out || !s || !addr || !hn_params_ok(p))
        return SPL_EINVAL;
    *out = NULL;
    hnsw_index *x = hn_alloc(s, ops);
    if (!x)
        return SPL_ENOMEM;
    x->base = addr;
    x->bytes = bytes;
    x->h = addr;
    int rc = bytes < HNSW_HEADER_BYTES ? SPL_ESIZE : hn_writer_setup(x, p, flags, progress, ud);
    if (rc && rc != SPL_EAGAIN && x->writer) {
        *out = x; /* usable, e.g. to rebuild again; the caller decides */
        return rc;
    }
    if (rc) {
        hnsw_close(x);
        return rc;
    }
    *out = x;
    return 0;
}

int hnsw_path(const char *name, char *out, size_t cap)
{
    if (!name || !*name || !out)
        return SPL_EINVAL;
    int n;
    if (strchr(name, '/')) {
        n = snprintf(out, cap, "%s.hnsw", name);
    } else {
        const char *env = getenv("SPLINTER_SHM_DIR");
        n = env && *env ? snprintf(out, cap, "%s/%s.hnsw", env, name)
                        : snprintf(out, cap, "/dev/shm/splinter-%u/%s.hnsw", (unsigned)geteuid(), name);
    }
    return n < 0 || (size_t)n >= cap ? SPL_ENOBUFS : n;
}

/* Map path read-write at exactly `bytes`, creating it (whole, under a
 * temporary name, then linked in) if absent.  A file of another size is an
 * index of other parameters or of an earlier store: it is marked retired
 * (readers that have it mapped decline) and replaced. */
static int hn_map_rw(const char *path, uint64_t bytes, void **map)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return SPL_ENOTREG;
            }
            if ((uint64_t)st.st_size == bytes) {
                void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                close(fd);
                if (m == MAP_FAILED)
                    return -errno;
                *map = m;
                return 0;
            }
            if ((uint64_t)st.st_size >= HNSW_HEADER_BYTES) {
                struct hnsw_header *h = mmap(NULL, HNSW_HEADER_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (h != MAP_FAILED) {
                    if (ld64(&h->magic) == HNSW_MAGIC) {
                        uint64_t o = ld64(&h->owner);
                        if (o && hn_owner_alive(o)) {
                            munmap(h, HNSW_HEADER_BYTES);
                            close(fd);
                            return SPL_EAGAIN;
                        }
                        st32_rel(&h->state, HNSW_S_EMPTY);
                        st64_rel(&h->created_ns, 0); /* retired: mapped readers decline */
                    }
                    munmap(h, HNSW_HEADER_BYTES);
                }
            }
            close(fd);
            if (unlink(path) != 0 && errno != ENOENT)
                return -errno;
            continue;
        }
        if (errno != ENOENT)
            return errno == ELOOP ? SPL_ENOTREG : -errno;
        size_t pl = strlen(path);
        char *tmp = malloc(pl + 16);
        if (!tmp)
            return SPL_ENOMEM;
        snprintf(tmp, pl + 16, "%s.tmpXXXXXX", path);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
            int e = -errno;
            free(tmp);
            return e;
        }
        int rc = fchmod(fd, 0600) == 0 && ftruncate(fd, (off_t)bytes) == 0 ? 0 : -errno;
        if (rc == 0)
            rc = link(tmp, path) == 0 ? 0 : -errno;
        unlink(tmp);
        free(tmp);
        close(fd);
        if (rc && rc != -EEXIST)
            return rc;
    }
    return SPL_EAGAIN;
}

int hnsw_open_writer(hnsw_index **out, spl_store *s, const char *path, const hnsw_params *p, uint32_t flags,
                     hnsw_progress_fn progress, void *ud)
{
    hnsw_params d;
    if (!p) {
        hnsw_params_init(&d);
        p = &d;
    }
    if (!out || !s || !path || !hn_params_ok(p))
        return SPL_EINVAL;
    *out = NULL;
    spl_info in;
    if (!HN_HAVE_DEFAULT_OPS)
        return SPL_ENOTSUP; /* a module without libsplinter: attach to the host's region */
    int rc = hnsw_ops_default.info_get(s, &in);
    if (rc)
        return rc;
    if (!in.geom.vec_dim)
        return SPL_ENOTSUP;
    uint64_t bytes = hn_total(in.geom.slots, in.geom.key_max, in.geom.vec_dim, p->m, p->format == HNSW_F16 ? 2 : 4,
                              NULL, NULL);
    void *m = NULL;
    if ((rc = hn_map_rw(path, bytes, &m)) != 0)
        return rc;
    rc = hnsw_attach_writer(out, s, m, bytes, p, NULL, flags, progress, ud);
    if (*out)
        (*out)->own_map = 1;
    else
        munmap(m, bytes);
    return rc;
}

int hnsw_attach_reader(hnsw_index **out, spl_store *s, const void *addr, size_t bytes, const hnsw_ops *ops)
{
    if (!out || !s || !addr)
        return SPL_EINVAL;
    *out = NULL;
    hnsw_index *x = hn_alloc(s, ops);
    if (!x)
        return SPL_ENOMEM;
    x->base = (uint8_t *)(uintptr_t)addr;
    x->bytes = bytes;
    x->h = (struct hnsw_header *)(uintptr_t)addr;
    int rc = hn_validate(x, x->h, bytes);
    if (rc) {
        hnsw_close(x);
        return rc;
    }
    *out = x;
    return 0;
}

int hnsw_open_reader(hnsw_index **out, spl_store *s, const char *path)
{
    if (!out || !s || !path)
        return SPL_EINVAL;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SPL_ENOENT : errno == ELOOP ? SPL_ENOTREG : -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)HNSW_HEADER_BYTES) {
        close(fd);
        return SPL_ESIZE;
    }
    size_t bytes = (size_t)st.st_size;
    void *m = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return -errno;
    int rc = hnsw_attach_reader(out, s, m, bytes, NULL);
    if (rc) {
        munmap(m, bytes);
        return rc;
    }
    (*out)->own_map = 1;
    return 0;
}

/* ============================================================ stat, check */

int hnsw_stat_get(hnsw_index *x, hnsw_stat *o)
{
    if (!x || !o)
        return SPL_EINVAL;
    const struct hnsw_header *h = x->h;
    memset(o, 0, sizeof *o);
    o->state = ld32(&h->state);
    o->nodes = x->n;
    o->dim = x->dim;
    o->m = x->m;
    o->m0 = x->m0;
    o->ef_construction = x->efc;
    o->metric = x->metric;
    o->format = x->esize == 2 ? HNSW_F16 : HNSW_F32;
    uint32_t ep, top;
    if (hn_entry(x, &ep, &top) == 0)
        o->top_level = top;
    o->live = ld64(&h->live);
    o->deleted = ld64(&h->deleted);
    o->applied = ld64(&h->applied);
    uint64_t now = hn_changes(x);
    o->lag = now > o->applied ? now - o->applied : 0;
    o->generation = ld64(&h->generation);
    o->build_done = ld64(&h->build_done);
    o->build_total = ld64(&h->build_total);
    o->region_bytes = x->total;
    o->node_stride = x->stride;
    o->pool_lists = x->pool_lists;
    o->pool_used = ld64(&h->pool_used);
    uint64_t ow = ld64(&h->owner);
    o->writer_alive = ow && hn_owner_alive(ow);
    o->dirty = ld64(&h->dirty) != 0;
    o->opened_dirty = x->opened_dirty;
    o->repairs = x->repairs;
    o->relinked = x->relinked;
    return 0;
}

int hnsw_check(hnsw_index *x, int verbose)
{
    if (!x)
        return 1;
    int bad = 0;
    uint64_t live = 0, dead = 0, used = ld64(&x->h->pool_used);
    uint32_t maxlv = 0;
#define HN_BAD(...)                                                                                \
    do {                                                                                           \
        bad++;                                                                                     \
        if (verbose && bad < 20)                                                                   \
            fprintf(stderr, "hnsw_check: " __VA_ARGS__);                                           \
    } while (0)
    for (uint32_t id = 0; id < x->n; id++) {
        struct hnsw_node *nd = hn_node(x, id);
        uint32_t fl = ld32(&nd->flags), lv = ld32(&nd->level), up = ld32(&nd->upper);
        if (ld64(&nd->seq) & 1)
            HN_BAD("node %u: odd seq\n", id);
        if (!(fl & HNSW_N_PRESENT))
            continue;
        if (fl & HNSW_N_DELETED)
            dead++;
        else
            live++;
        uint32_t kl = ld32(&nd->key_len);
        if (kl == 0 || kl > x->key_max)
            HN_BAD("node %u: key_len %u\n", id, kl);
        if (lv > HNSW_LEVEL_MAX || (lv && (up > used || lv > used - up))) {
            HN_BAD("node %u: level %u upper %u (pool used %llu)\n", id, lv, up, (unsigned long long)used);
            continue;
        }
        if (lv > maxlv)
            maxlv = lv;
        for (uint32_t l = 0; l <= lv; l++) {
            uint32_t cap;
            struct hnsw_list *li = hn_list(x, id, l, &cap);
            if (!li) {
                HN_BAD("node %u: no list for level %u\n", id, l);
                continue;
            }
            uint32_t c = ld32(&li->count);
            if (ld32(&li->seq) & 1)
                HN_BAD("node %u level %u: odd seq\n", id, l);
            if (c > cap) {
                HN_BAD("node %u level %u: count %u > %u\n", id, l, c, cap);
                c = cap;
            }
            for (uint32_t i = 0; i < c; i++) {
                uint32_t t = ld32(&li->ids[i]);
                if (t >= x->n) {
                    HN_BAD("node %u level %u: id %u out of range\n", id, l, t);
                    continue;
                }
                if (t == id)
                    HN_BAD("node %u level %u: self link\n", id, l);
                if (!(ld32(&hn_node(x, t)->flags) & HNSW_N_PRESENT))
                    HN_BAD("node %u level %u: link to absent %u\n", id, l, t);
                else if (ld32(&hn_node(x, t)->level) < l)
                    HN_BAD("node %u level %u: link to %u of level %u\n", id, l, t, ld32(&hn_node(x, t)->level));
                for (uint32_t j = 0; j < i; j++)
                    if (ld32(&li->ids[j]) == t)
                        HN_BAD("node %u level %u: %u twice\n", id, l, t);
            }
        }
    }
    if (live != ld64(&x->h->live) || dead != ld64(&x->h->deleted))
        HN_BAD("counters: live %llu/%llu deleted %llu/%llu\n", (unsigned long long)live,
               (unsigned long long)ld64(&x->h->live), (unsigned long long)dead,
               (unsigned long long)ld64(&x->h->deleted));
    uint32_t ep, top;
    int e = hn_entry(x, &ep, &top);
    if (e == HN_ABSENT) {
        if (live + dead)
            HN_BAD("no entry point with %llu nodes\n", (unsigned long long)(live + dead));
    } else if (e != 0) {
        HN_BAD("entry point out of range\n");
    } else if (!(ld32(&hn_node(x, ep)->flags) & HNSW_N_PRESENT) || ld32(&hn_node(x, ep)->level) != top ||
               top < maxlv) {
        HN_BAD("entry point %u (level %u) not the top node (max level %u)\n", ep, top, maxlv);
    }
#undef HN_BAD
    return bad;
}

int hnsw_audit(hnsw_index *x, uint64_t *lists, uint64_t *busy)
{
    if (!x)
        return 1;
    int bad = 0;
    uint64_t nl = 0, nb = 0;
    uint32_t ids[2 * HNSW_M_MAX];
    for (uint32_t id = 0; id < x->n; id++) {
        struct hnsw_node *nd = hn_node(x, id);
        uint32_t top = ld32(&nd->level);
        if (!(ld32(&nd->flags) & HNSW_N_PRESENT) || top > HNSW_LEVEL_MAX)
            continue;
        for (uint32_t l = 0; l <= top; l++) {
            uint32_t cap;
            struct hnsw_list *li = hn_list(x, id, l, &cap);
            if (!li)
                break;
            uint64_t b0 = nb;
            uint32_t c = hn_list_read(li, cap, ids, &nb);
            nl++;
            if (nb != b0)
                continue;
            for (uint32_t i = 0; i < c; i++) {
                int ok = ids[i] < x->n && ids[i] != id;
                for (uint32_t j = 0; j < i && ok; j++)
                    ok = ids[j] != ids[i];
                if (!ok) {
                    bad++;
                    break;
                }
            }
        }
    }
    if (lists)
        *lists = nl;
    if (busy)
        *busy = nb;
    return bad;
}

void hnsw_close(hnsw_index *x)
{
    if (!x)
        return;
    if (x->provided && x->ops.vec_ann_set)
        x->ops.vec_ann_set(x->s, NULL, NULL);
    if (x->writer) {
        uint64_t me = hn_owner_self();
        atomic_compare_exchange_strong(A64(&x->h->owner), &me, 0);
    }
    if (x->own_map)
        munmap(x->base, x->bytes);
    else if (x->ops.region_unmap)
        x->ops.region_unmap(x->base, x->bytes);
    hn_scratch_free(x->ws);
    for (int i = 0; i < HN_CELLS; i++)
        hn_scratch_free(atomic_load(&x->cells[i]));
    while (x->pool) {
        struct hn_scratch *n = x->pool->next;
        hn_scratch_free(x->pool);
        x->pool = n;
    }
    free(x->seen);
    pthread_mutex_destroy(&x->mu);
    free(x);
}
