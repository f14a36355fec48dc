/*
 * vec.c - vectors in slots: set, get, clear, exact top-k search, and tandem
 * keys (ordered groups base, base.1, base.2, ...).  docs/VECTORS.md has the
 * lane layout, the formats and what is atomic.
 *
 * Writers use the slot protocol of kv.c (lock the slot, take a signal note,
 * odd epoch, write, even epoch, unlock, send the note) through the entry
 * points at the end of kv.c.  Readers read a lane inside the slot's seqlock
 * and keep what they computed only if the epoch did not move.  Everything
 * read from a slot (vec_state, head, key length) is bounds-checked here
 * against the handle's private geometry.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* Under ThreadSanitizer a search copies each lane out with relaxed atomic
 * loads before scoring it (instead of SIMD loads in place), so that TSan
 * sees the seqlock's deliberate race as atomics and checks the rest of the
 * vector protocol without suppressions (make test-tsan, tests/mp/tsan_vec.c). */
#if defined(__SANITIZE_THREAD__)
#define SPL__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPL__TSAN 1
#endif
#endif
#ifndef SPL__TSAN
#define SPL__TSAN 0
#endif

/* ---- tandem keys (both builds) ------------------------------------------ */

SPL_API int spl_tandem_key(spl_store *s, const char *base, uint32_t i, char *out, size_t cap)
{
    if (!s || !base || (!out && cap))
        return SPL_EINVAL;
    size_t bl = strnlen(base, (size_t)s->key_max + 1);
    if (bl == 0 || bl > s->key_max)
        return SPL_EKEYLEN;
    char suffix[16];
    int sl = i ? snprintf(suffix, sizeof suffix, "%c%u", s->tandem_sep, i) : 0;
    if (bl + (size_t)sl > s->key_max)
        return SPL_EKEYLEN;
    if (bl + (size_t)sl + 1 > cap)
        return SPL_ENOBUFS;
    memcpy(out, base, bl);
    memcpy(out + bl, suffix, (size_t)sl);
    out[bl + (size_t)sl] = 0;
    return (int)(bl + (size_t)sl);
}

/* Member i's name into a buffer of key_max + 1 bytes. */
static int spl__tkey(spl_store *s, const char *base, uint32_t i, char *name)
{
    int rc = spl_tandem_key(s, base, i, name, (size_t)s->key_max + 1);
    return rc < 0 ? rc : 0;
}

SPL_API int spl_tandem_get(spl_store *s, const char *base, uint32_t i, void *buf, size_t cap,
                           size_t *len_out)
{
    if (!s)
        return SPL_EINVAL;
    char name[SPL_KEY_MAX_LIMIT + 1];
    int rc = spl__tkey(s, base, i, name);
    return rc ? rc : spl_get(s, name, buf, cap, len_out);
}

SPL_API int spl_tandem_count(spl_store *s, const char *base)
{
    if (!s)
        return SPL_EINVAL;
    char name[SPL_KEY_MAX_LIMIT + 1];
    uint32_t n = 0;
    for (; n < s->nslots; n++) { /* a group cannot outnumber the slots */
        int rc = spl__tkey(s, base, n, name);
        if (rc == SPL_EKEYLEN && n > 0)
            break; /* the next member's name would not fit: none can exist */
        if (rc)
            return rc;
        rc = spl_exists(s, name);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
    }
    return (int)n;
}

/* Delete members from..(first absent - 1), last first, so that the members
 * present stay a gap-free run from the base.  Returns how many. */
static int spl__tandem_trim(spl_store *s, const char *base, uint32_t from, uint32_t timeout_us)
{
    char name[SPL_KEY_MAX_LIMIT + 1];
    uint32_t end = from;
    for (; end < s->nslots; end++) {
        if (spl__tkey(s, base, end, name) != 0)
            break;
        int rc = spl_exists(s, name);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
    }
    int deleted = 0;
    for (uint32_t i = end; i-- > from;) {
        int rc = spl__tkey(s, base, i, name);
        if (rc == 0)
            rc = spl_unset_wait(s, name, timeout_us);
        if (rc == 0)
            deleted++;
        else if (rc != SPL_ENOENT) /* someone else deleted it: fine */
            return rc;
    }
    return deleted;
}

SPL_API int spl_tandem_unset(spl_store *s, const char *base, uint32_t timeout_us)
{
    if (!s || !base)
        return SPL_EINVAL;
    return spl__tandem_trim(s, base, 0, timeout_us);
}

/* The group's write order: members 1..n-1, then the base, then the surplus
 * of an older group from the end down. */
typedef int (*spl__member_fn)(spl_store *s, const char *name, uint32_t i, const void *ud,
                              uint32_t timeout_us);

static int spl__tandem_write(spl_store *s, const char *base, uint32_t n, spl__member_fn fn,
                             const void *ud, uint32_t timeout_us)
{
    if (!s || !base || n == 0)
        return SPL_EINVAL;
    char name[SPL_KEY_MAX_LIMIT + 1];
    int rc = spl__tkey(s, base, n - 1, name); /* every name fits? */
    for (uint32_t j = 1; j <= n && rc == 0; j++) {
        uint32_t i = j % n; /* 1, 2, ..., n-1, then 0 */
        rc = spl__tkey(s, base, i, name);
        if (rc == 0)
            rc = fn(s, name, i, ud, timeout_us);
    }
    if (rc)
        return rc;
    rc = spl__tandem_trim(s, base, n, timeout_us);
    return rc < 0 ? rc : 0;
}

struct spl__tvals {
    const void *const *vals;
    const size_t *lens;
};

static int spl__tmember_val(spl_store *s, const char *name, uint32_t i, const void *ud,
                            uint32_t timeout_us)
{
    const struct spl__tvals *t = ud;
    return spl_set_wait(s, name, t->vals[i], t->lens[i], timeout_us);
}

SPL_API int spl_tandem_set(spl_store *s, const char *base, const void *const *vals,
                           const size_t *lens, uint32_t n, uint32_t timeout_us)
{
    if (!vals || !lens)
        return SPL_EINVAL;
    struct spl__tvals t = {vals, lens};
    return spl__tandem_write(s, base, n, spl__tmember_val, &t, timeout_us);
}

#if SPL_WITH_EMBEDDINGS

/* ---- encoding ----------------------------------------------------------- */

static inline float spl__f32_of(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
static inline uint32_t spl__bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static inline uint32_t spl__vs_want(const struct spl_store *s)
{
    return SPL_VS_HAS | (s->vec_fmt << SPL_VS_FMT_SHIFT);
}
static inline uint8_t *spl__lane(const struct spl_store *s, struct spl_slot *sl)
{
    return (uint8_t *)sl + s->vec_off;
}
static inline size_t spl__vec_bytes(const struct spl_store *s)
{
    return (size_t)s->vec_dim * s->vec_esize;
}

/* Check v and encode it in the store's format: *enc points at the bytes to
 * store (v itself for F32, else *tmp, malloc'ed, which the caller frees). */
static int spl__vec_encode(const struct spl_store *s, const float *v, struct spl_vec_head *h,
                           const void **enc, void **tmp)
{
    uint32_t n = s->vec_dim;
    double ss = 0, maxabs = 0;
    *tmp = NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            return SPL_ENAN;
        double a = fabs((double)v[i]);
        maxabs = a > maxabs ? a : maxabs;
    }
    float scale = 1;
    if (s->vec_fmt == SPL_VEC_F32) {
        for (uint32_t i = 0; i < n; i++)
            ss += (double)v[i] * v[i];
        *enc = v;
    } else if (s->vec_fmt == SPL_VEC_F16) {
        uint16_t *o = malloc((size_t)n * 2 + 8);
        if (!o)
            return SPL_ENOMEM;
        for (uint32_t i = 0; i < n; i++) {
            o[i] = spl__f32_to_f16(v[i]);
            if ((o[i] & 0x7c00u) == 0x7c00u) {
                free(o);
                return SPL_ERANGE;
            }
            double d = spl__f16_to_f32(o[i]);
            ss += d * d;
        }
        *enc = *tmp = o;
    } else {
        int8_t *o = malloc((size_t)n + 8);
        if (!o)
            return SPL_ENOMEM;
        scale = maxabs > 0 ? (float)(maxabs / 127.0) : 1.0f;
        for (uint32_t i = 0; i < n; i++) {
            long r = lrintf(v[i] / scale);
            o[i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
            double d = (double)o[i] * scale;
            ss += d * d;
        }
        *enc = *tmp = o;
    }
    float norm = (float)sqrt(ss);
    if (!isfinite(norm) || !isfinite(scale)) {
        free(*tmp);
        *tmp = NULL;
        return SPL_ENAN; /* the norm overflows float */
    }
    h->norm_bits = spl__bits_of(norm);
    h->scale_bits = spl__bits_of(scale);
    h->dim = n;
    h->spare = 0;
    return 0;
}

static int spl__vec_usable(const struct spl_store *s)
{
    if (!s)
        return SPL_EINVAL;
    return s->vec_dim ? 0 : SPL_ENOTSUP;
}

/* ---- set, clear --------------------------------------------------------- */

SPL_API int spl_vec_set(spl_store *s, const char *key, const float *vec, uint32_t dim)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!vec || !key)
        return SPL_EINVAL;
    if (dim != s->vec_dim)
        return SPL_EDIM;
    if (s->rdonly)
        return SPL_EROFS;
    struct spl_vec_head h;
    const void *enc;
    void *tmp;
    rc = spl__vec_encode(s, vec, &h, &enc, &tmp);
    if (rc)
        return rc;
    int i = spl__key_lock(s, key, 1);
    if (i < 0) {
        free(tmp);
        return i;
    }
    struct spl_slot *sl = spl__slot(s, (uint32_t)i);
    uint8_t *lane = spl__lane(s, sl);
    uint64_t now = spl__clock_ns(CLOCK_REALTIME_COARSE);
    struct spl__note note;
    spl__note_take(s, (uint32_t)i, sl, &note);
    uint64_t odd = spl__write_begin(sl);
    spl__copy_in(lane, 0, &h, sizeof h, 0);
    spl__copy_in(lane, SPL_VEC_HEAD, enc, spl__vec_bytes(s), 1);
    spl_store32_relaxed(&sl->vec_state, spl__vs_want(s));
    spl_store_relaxed(&sl->mtime_ns, now);
    spl__write_end(sl, odd);
    spl__slot_unlock(sl);
    spl__note_send(s, &note);
    free(tmp);
    return 0;
}

SPL_API int spl_vec_clear(spl_store *s, const char *key)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!key)
        return SPL_EINVAL;
    int i = spl__key_lock(s, key, 0);
    if (i < 0)
        return i;
    struct spl_slot *sl = spl__slot(s, (uint32_t)i);
    if (spl_load32_relaxed(&sl->vec_state) == 0) {
        spl__slot_unlock(sl);
        return SPL_ENOVEC;
    }
    struct spl__note note;
    spl__note_take(s, (uint32_t)i, sl, &note);
    uint64_t odd = spl__write_begin(sl);
    spl_store32_relaxed(&sl->vec_state, 0);
    spl_store_relaxed(&sl->mtime_ns, spl__clock_ns(CLOCK_REALTIME_COARSE));
    spl__write_end(sl, odd);
    spl__slot_unlock(sl);
    spl__note_send(s, &note);
    return 0;
}

/* ---- get ---------------------------------------------------------------- */

struct spl__vget {
    struct spl_vec_head head;
    void *raw;      /* vec_bytes, private */
    uint64_t epoch;
    int has;
};

/* Read section visitor: copy the head and the raw elements out. */
static int spl__rd_vec(struct spl_store *s, struct spl_slot *sl, uint64_t e, void *ctx)
{
    struct spl__vget *c = ctx;
    uint32_t vs = spl_load32_relaxed(&sl->vec_state);
    c->epoch = e;
    c->has = vs != 0;
    if (!vs)
        return 0;
    if (vs != spl__vs_want(s))
        return SPL_ECORRUPT;
    uint8_t *lane = spl__lane(s, sl);
    spl__copy_out(&c->head, lane, sizeof c->head);
    spl__copy_out(c->raw, lane + SPL_VEC_HEAD, spl__vec_bytes(s));
    return 0;
}

/* Decode a consistent copy into out (vec_dim floats). */
static int spl__vec_decode(const struct spl_store *s, const struct spl__vget *c, float *out)
{
    if (c->head.dim != s->vec_dim)
        return SPL_ECORRUPT;
    uint32_t n = s->vec_dim;
    if (s->vec_fmt == SPL_VEC_F32) {
        memcpy(out, c->raw, (size_t)n * 4);
    } else if (s->vec_fmt == SPL_VEC_F16) {
        const uint16_t *x = c->raw;
        for (uint32_t i = 0; i < n; i++)
            out[i] = spl__f16_to_f32(x[i]);
    } else {
        const int8_t *x = c->raw;
        float scale = spl__f32_of(c->head.scale_bits);
        if (!isfinite(scale))
            return SPL_ECORRUPT;
        for (uint32_t i = 0; i < n; i++)
            out[i] = (float)x[i] * scale;
    }
    return 0;
}

static int spl__vec_read(spl_store *s, const char *key, float *out, uint64_t *epoch_out)
{
    struct spl__vget c = {0};
    c.raw = malloc(spl__vec_bytes(s) + 8);
    if (!c.raw)
        return SPL_ENOMEM;
    int rc = spl__key_read(s, key, spl__rd_vec, &c);
    if (rc >= 0)
        rc = c.has ? spl__vec_decode(s, &c, out) : SPL_ENOVEC;
    if (rc == 0 && epoch_out)
        *epoch_out = c.epoch;
    free(c.raw);
    return rc;
}

SPL_API int spl_vec_get(spl_store *s, const char *key, float *out, uint32_t dim,
                        uint64_t *epoch_out)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!out || !key)
        return SPL_EINVAL;
    if (dim != s->vec_dim)
        return SPL_EDIM;
    return spl__vec_read(s, key, out, epoch_out);
}

/* ---- search ------------------------------------------------------------- */

#define SPL__VTRIES     4  /* a vector that moves this many times is skipped */
#define SPL__THREADS_MAX 64

struct spl__cand {
    float good;  /* larger is better: the score, or -distance^2 for L2 */
    float score;
    uint32_t slot, key_len;
    uint64_t epoch;
    char *key;   /* in the scan's key arena */
};

/* a better than b: larger good, then smaller key bytes (then shorter). */
static inline int spl__better(const struct spl__cand *a, const struct spl__cand *b)
{
    if (a->good != b->good)
        return a->good > b->good;
    uint32_t m = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, m);
    return c ? c < 0 : a->key_len < b->key_len;
}

/* Everything one scanning thread needs; its heap keeps the k best seen,
 * the worst at the top. */
struct spl__scan {
    struct spl_store *s;
    uint64_t touch; /* keeps the look-ahead loads of spl__scan_range alive */
    const struct spl__vk *vk;
    const spl_vec_query *q;
    const float *qv;
    float qnorm, qnorm2;
    const char *self;   /* SPL_VQ_SKIP_SELF: the query's key */
    size_t self_len, prefix_len;
    uint32_t lo, hi, k, n;
    struct spl__cand *heap;
    char *arena;        /* (k + 1) keys of key_max + 8 bytes */
    void *tsan_lane;    /* SPL__TSAN builds: a private copy of the lane */
    uint64_t scanned, skipped;
    int rc;
};

static void spl__heap_down(struct spl__cand *h, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, w = i;
        if (l < n && spl__better(&h[w], &h[l]))
            w = l;
        if (l + 1 < n && spl__better(&h[w], &h[l + 1]))
            w = l + 1;
        if (w == i)
            return;
        struct spl__cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void spl__heap_push(struct spl__scan *sc, const struct spl__cand *c)
{
    struct spl__cand *h = sc->heap;
    if (sc->n < sc->k) { /* sift up */
        uint32_t i = sc->n++;
        char *mine = h[i].key;
        h[i] = *c;
        memcpy(mine, c->key, c->key_len);
        h[i].key = mine;
        while (i > 0 && spl__better(&h[(i - 1) / 2], &h[i])) {
            struct spl__cand t = h[i];
            h[i] = h[(i - 1) / 2];
            h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
        return;
    }
    char *mine = h[0].key; /* replace the worst */
    h[0] = *c;
    memcpy(mine, c->key, c->key_len);
    h[0].key = mine;
    spl__heap_down(h, sc->n, 0);
}

/* Would a candidate of this goodness enter the heap (before its key is
 * known)?  Equal goodness needs the key: say yes and let the caller check. */
static inline int spl__may_enter(const struct spl__scan *sc, float good)
{
    return sc->n < sc->k || good >= sc->heap[0].good;
}

static int spl__filters_pass(const struct spl__scan *sc, struct spl_slot *sl)
{
    const spl_vec_query *q = sc->q;
    if (q->labels) {
        uint64_t l = spl_load_relaxed(&sl->labels);
        if ((q->flags & SPL_F_LABELS_ANY) ? !(l & q->labels) : (l & q->labels) != q->labels)
            return 0;
    }
    if (sc->prefix_len) {
        uint32_t kl = spl_load32_relaxed(&sl->key_len);
        if (kl < sc->prefix_len || kl > sc->s->key_max)
            return 0;
        char buf[SPL_KEY_MAX_LIMIT + 8];
        spl__copy_out(buf, spl__slot_key(sl), sc->prefix_len);
        if (memcmp(buf, q->prefix, sc->prefix_len) != 0)
            return 0;
    }
    return 1;
}

/* Score one lane in place.  0 and *good, *score on success; -1 if the lane
 * is not scorable (bad head or a NaN result: torn or corrupt). */
static inline int spl__score_lane(const struct spl__scan *sc, struct spl_slot *sl, float *good,
                                  float *score)
{
    const struct spl_store *s = sc->s;
    const uint8_t *lane = spl__lane(s, sl);
    const struct spl_vec_head *h = (const struct spl_vec_head *)(const void *)lane;
    float norm = spl__f32_of(spl_load32_relaxed(&h->norm_bits));
    float scale = spl__f32_of(spl_load32_relaxed(&h->scale_bits));
    if (spl_load32_relaxed(&h->dim) != s->vec_dim || !(norm >= 0) || !isfinite(norm) ||
        !isfinite(scale))
        return -1;
    const void *x = lane + SPL_VEC_HEAD;
    if (SPL__TSAN) {
        spl__copy_out(sc->tsan_lane, lane + SPL_VEC_HEAD, spl__vec_bytes(s));
        x = sc->tsan_lane;
    }
    float dot;
    if (s->vec_fmt == SPL_VEC_F32)
        dot = sc->vk->dot_f32(sc->qv, x, s->vec_dim);
    else if (s->vec_fmt == SPL_VEC_F16)
        dot = sc->vk->dot_f16(sc->qv, x, s->vec_dim);
    else
        dot = sc->vk->dot_i8(sc->qv, x, s->vec_dim) * scale;
    switch (sc->q->metric) {
    case SPL_METRIC_COSINE:
        *score = (norm > 0 && sc->qnorm > 0) ? dot / (norm * sc->qnorm) : 0.0f;
        *good = *score;
        break;
    case SPL_METRIC_DOT:
        *score = *good = dot;
        break;
    default: {
        float d2 = sc->qnorm2 + norm * norm - 2.0f * dot;
        if (d2 < 0)
            d2 = 0; /* rounding of the expansion near 0 */
        *good = -d2;
        *score = sqrtf(d2);
    }
    }
    return isnan(*good) ? -1 : 0;
}

/* The next slot in [i, hi) whose tag says LIVE (a hint for prefetching:
 * the scan itself re-checks the tag). */
static inline uint32_t spl__next_live(const struct spl_store *s, uint32_t i, uint32_t hi)
{
    while (i < hi && spl_ix_state(spl_load_relaxed(&s->index[i])) != SPL_IX_LIVE)
        i++;
    return i;
}

/* Live slots are scattered over the table, so the hardware prefetcher loses
 * the stream at every gap (and runs on into the empty slot): while this slot
 * is scored, prefetch every line of the next live one.  spl__scan_range
 * also issues a real load of the next slot's epoch, which cannot be dropped
 * like a prefetch.  Measured with the scan and a plain scan alternating
 * query by query, each search after a plain scan of the same data (10k x
 * 768 f32; ratio to the plain scan): first 4 lines of the next slot
 * 0.71-0.77 at 80% load, 0.57-0.60 at 50%; every line 0.84-0.88 and
 * 0.65-0.69; adding the next-but-one slot's lines, in part or whole, was
 * within the noise of that.  At 100k (80% load): 0.58-0.64 -> 0.79-0.83. */
static inline void spl__prefetch_slot(const struct spl_store *s, uint32_t i)
{
    const uint8_t *p = (const uint8_t *)spl__slot(s, i);
    for (uint32_t off = 0; off < s->stride; off += SPL_CACHE_LINE)
        __builtin_prefetch(p + off);
}

static void spl__scan_range(struct spl__scan *sc)
{
    struct spl_store *s = sc->s;
    const uint32_t want_vs = spl__vs_want(s);
    char *kbuf = sc->arena + (size_t)sc->k * ((size_t)s->key_max + 8);
    uint32_t next = spl__next_live(s, sc->lo, sc->hi);
    if (next < sc->hi)
        spl__prefetch_slot(s, next);
    uint64_t touch = 0;
    for (uint32_t i = next; i < sc->hi; i = next) {
        next = spl__next_live(s, i + 1, sc->hi);
        if (next < sc->hi) {
            spl__prefetch_slot(s, next);
            /* a real load of the next slot's first line, issued now and used
             * only after this slot is scored: it cannot be dropped like a
             * prefetch, and its miss overlaps this slot's dot product */
            struct spl_slot *ns = spl__slot(s, next);
            touch += spl_load_relaxed(&ns->epoch);
        }
        /* acquire: pairs with the seq_cst CAS that published the LIVE tag */
        if (spl_ix_state(spl_load_acquire(&s->index[i])) != SPL_IX_LIVE)
            continue;
        struct spl_slot *sl = spl__slot(s, i);
        for (int t = 0;; t++) {
            if (t == SPL__VTRIES) {
                sc->skipped++;
                break;
            }
            uint64_t e1 = spl__read_begin(sl);
            if (e1 & 1) {
                spl__slot_busy(s, i); /* a dead writer's slot is recovered */
                spl_cpu_relax();
                continue;
            }
            float good = 0, score = 0;
            int usable = spl_load32_relaxed(&sl->vec_state) == want_vs && spl__filters_pass(sc, sl);
            int scored = usable && spl__score_lane(sc, sl, &good, &score) == 0;
            struct spl__cand c = {good, score, i, 0, e1, kbuf};
            int take = scored && spl__may_enter(sc, good);
            if (take) {
                uint32_t kl = spl_load32_relaxed(&sl->key_len);
                if (kl == 0 || kl > s->key_max) {
                    take = 0;
                    scored = 0;
                } else {
                    spl__copy_out(kbuf, spl__slot_key(sl), kl);
                    c.key_len = kl;
                }
            }
            if (spl__read_retry(sl, e1))
                continue; /* torn: nothing of it is used */
            if (take && memchr(kbuf, 0, c.key_len)) {
                take = 0; /* a key with a NUL in it: corrupt (spl_foreach skips it too) */
                scored = 0;
            }
            if (usable && !scored) {
                sc->skipped++; /* consistent but corrupt: a hostile peer's */
                break;
            }
            if (!scored)
                break; /* no vector, or filtered out */
            sc->scanned++;
            if (take && sc->self && c.key_len == sc->self_len &&
                memcmp(kbuf, sc->self, c.key_len) == 0)
                take = 0;
            if (take && (sc->n < sc->k || spl__better(&c, &sc->heap[0])))
                spl__heap_push(sc, &c);
            break;
        }
    }
    sc->touch = touch;
}

static void *spl__scan_thread(void *arg)
{
    spl__scan_range(arg);
    return NULL;
}

static int spl__cand_cmp(const void *a, const void *b)
{
    const struct spl__cand *x = a, *y = b;
    return spl__better(x, y) ? -1 : spl__better(y, x) ? 1 : 0;
}

static int spl__scan_init(struct spl__scan *sc, uint32_t k, size_t key_max)
{
    sc->k = k;
    sc->n = 0;
    sc->heap = calloc(k, sizeof *sc->heap);
    sc->arena = malloc(((size_t)k + 1) * (key_max + 8));
    if (SPL__TSAN)
        sc->tsan_lane = malloc((size_t)SPL_VEC_DIM_LIMIT * 4 + 8);
    if (!sc->heap || !sc->arena || (SPL__TSAN && !sc->tsan_lane))
        return SPL_ENOMEM;
    for (uint32_t j = 0; j < k; j++)
        sc->heap[j].key = sc->arena + (size_t)j * (key_max + 8);
    return 0;
}

/* One result block: the header, n hits, then the keys. */
static int spl__result_make(struct spl__scan *sc, uint32_t nthr, uint32_t k, spl_vec_result **out)
{
    uint32_t total = 0;
    size_t key_bytes = 0;
    for (uint32_t t = 0; t < nthr; t++)
        total += sc[t].n;
    struct spl__cand *all = malloc(((size_t)total + 1) * sizeof *all);
    if (!all)
        return SPL_ENOMEM;
    uint32_t m = 0;
    uint64_t scanned = 0, skipped = 0;
    for (uint32_t t = 0; t < nthr; t++) {
        memcpy(all + m, sc[t].heap, (size_t)sc[t].n * sizeof *all);
        m += sc[t].n;
        scanned += sc[t].scanned;
        skipped += sc[t].skipped;
    }
    qsort(all, total, sizeof *all, spl__cand_cmp);
    uint32_t n = total < k ? total : k;
    for (uint32_t j = 0; j < n; j++)
        key_bytes += all[j].key_len + 1;
    spl_vec_result *r = malloc(sizeof *r + (size_t)n * sizeof(spl_vec_hit) + key_bytes);
    if (!r) {
        free(all);
        return SPL_ENOMEM;
    }
    r->n = n;
    r->scanned = scanned;
    r->skipped = skipped;
    r->hits = (spl_vec_hit *)(void *)(r + 1);
    char *kp = (char *)(r->hits + n);
    for (uint32_t j = 0; j < n; j++) {
        memcpy(kp, all[j].key, all[j].key_len);
        kp[all[j].key_len] = 0;
        r->hits[j] = (spl_vec_hit){kp, all[j].key_len, all[j].score, all[j].slot, all[j].epoch};
        kp += all[j].key_len + 1;
    }
    free(all);
    *out = r;
    return 0;
}

SPL_API int spl_vec_search(spl_store *s, const spl_vec_query *q, spl_vec_result **out)
{
    if (out)
        *out = NULL;
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!q || !out || q->k == 0 || q->k > SPL_VEC_K_LIMIT ||
        (unsigned)q->metric >= SPL__METRIC_COUNT || (!q->vec && !q->key) ||
        q->threads > SPL__THREADS_MAX)
        return SPL_EINVAL;
    if (q->vec && q->dim != s->vec_dim)
        return SPL_EDIM;
    uint32_t nthr = q->threads ? q->threads : 1;
    if (nthr > s->nslots)
        nthr = s->nslots;
    const uint32_t nalloc = nthr;
    float *qv = malloc((size_t)s->vec_dim * 4 + 64);
    struct spl__scan *sc = calloc(nthr, sizeof *sc);
    pthread_t *tid = calloc(nthr, sizeof *tid);
    char *started = calloc(nthr, 1);
    rc = (!qv || !sc || !tid || !started) ? SPL_ENOMEM : 0;
    if (rc)
        goto done;
    if (q->vec)
        memcpy(qv, q->vec, (size_t)s->vec_dim * 4);
    else if ((rc = spl__vec_read(s, q->key, qv, NULL)) != 0)
        goto done;
    double ss = 0;
    for (uint32_t i = 0; i < s->vec_dim; i++) {
        if (!isfinite(qv[i])) {
            rc = SPL_ENAN;
            goto done;
        }
        ss += (double)qv[i] * qv[i];
    }
    size_t plen = q->prefix ? strlen(q->prefix) : 0;
    const struct spl__vk *vk = spl__vk_get();
    for (uint32_t t = 0; t < nthr; t++) {
        sc[t] = (struct spl__scan){.s = s, .vk = vk, .q = q, .qv = qv};
        sc[t].qnorm2 = (float)ss;
        sc[t].qnorm = (float)sqrt(ss);
        sc[t].prefix_len = plen;
        if ((q->flags & SPL_VQ_SKIP_SELF) && !q->vec) {
            sc[t].self = q->key;
            sc[t].self_len = strlen(q->key);
        }
        sc[t].lo = (uint32_t)((uint64_t)s->nslots * t / nthr);
        sc[t].hi = (uint32_t)((uint64_t)s->nslots * (t + 1) / nthr);
        if ((rc = spl__scan_init(&sc[t], q->k, s->key_max)) != 0)
            goto done;
    }
    if (plen > s->key_max) /* no key can carry it: an empty result */
        nthr = 0;
    for (uint32_t t = 1; t < nthr; t++)
        started[t] = pthread_create(&tid[t], NULL, spl__scan_thread, &sc[t]) == 0;
    for (uint32_t t = 0; t < nthr; t++)
        if (!started[t])
            spl__scan_range(&sc[t]); /* the caller's share, or a thread that did not start */
    for (uint32_t t = 1; t < nthr; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
    rc = spl__result_make(sc, nthr, q->k, out);
done:
    for (uint32_t t = 0; sc && t < nalloc; t++) {
        free(sc[t].heap);
        free(sc[t].arena);
        free(sc[t].tsan_lane);
    }
    free(sc);
    free(tid);
    free(started);
    free(qv);
    return rc;
}

SPL_API void spl_vec_result_free(spl_vec_result *r) { free(r); }

/* ---- tandem vectors ----------------------------------------------------- */

static int spl__tmember_vec(spl_store *s, const char *name, uint32_t i, const void *ud,
                            uint32_t timeout_us)
{
    const float *v = (const float *)ud + (size_t)i * s->vec_dim;
    unsigned round = 0;
    uint64_t end = spl__clock_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_us * 1000;
    for (;;) {
        int rc = spl_vec_set(s, name, v, s->vec_dim);
        if (rc != SPL_EAGAIN || spl__clock_ns(CLOCK_MONOTONIC) >= end)
            return rc;
        spl__backoff(&round);
    }
}

SPL_API int spl_tandem_vec_set(spl_store *s, const char *base, const float *vecs, uint32_t n,
                               uint32_t dim, uint32_t timeout_us)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!vecs)
        return SPL_EINVAL;
    if (dim != s->vec_dim)
        return SPL_EDIM;
    for (size_t i = 0; i < (size_t)n * dim; i++)
        if (!isfinite(vecs[i]))
            return SPL_ENAN; /* refuse before writing any member */
    return spl__tandem_write(s, base, n, spl__tmember_vec, vecs, timeout_us);
}

SPL_API int spl_tandem_vec_get(spl_store *s, const char *base, uint32_t i, float *out,
                               uint32_t dim)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    char name[SPL_KEY_MAX_LIMIT + 1];
    rc = spl__tkey(s, base, i, name);
    return rc ? rc : spl_vec_get(s, name, out, dim, NULL);
}

#else /* !SPL_WITH_EMBEDDINGS: the vector API exists and says so */

SPL_API int spl_vec_set(spl_store *s, const char *key, const float *vec, uint32_t dim)
{
    (void)s, (void)key, (void)vec, (void)dim;
    return SPL_ENOTSUP;
}
SPL_API int spl_vec_get(spl_store *s, const char *key, float *out, uint32_t dim,
                        uint64_t *epoch_out)
{
    (void)s, (void)key, (void)out, (void)dim, (void)epoch_out;
    return SPL_ENOTSUP;
}
SPL_API int spl_vec_clear(spl_store *s, const char *key)
{
    (void)s, (void)key;
    return SPL_ENOTSUP;
}
SPL_API int spl_vec_search(spl_store *s, const spl_vec_query *q, spl_vec_result **out)
{
    (void)s, (void)q;
    if (out)
        *out = NULL;
    return SPL_ENOTSUP;
}
SPL_API void spl_vec_result_free(spl_vec_result *r) { (void)r; }
SPL_API int spl_tandem_vec_set(spl_store *s, const char *base, const float *vecs, uint32_t n,
                               uint32_t dim, uint32_t timeout_us)
{
    (void)s, (void)base, (void)vecs, (void)n, (void)dim, (void)timeout_us;
    return SPL_ENOTSUP;
}
SPL_API int spl_tandem_vec_get(spl_store *s, const char *base, uint32_t i, float *out,
                               uint32_t dim)
{
    (void)s, (void)base, (void)i, (void)out, (void)dim;
    return SPL_ENOTSUP;
}

#endif
