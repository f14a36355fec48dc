/*
 * internal.h - the handle, hashing, seqlock and copy helpers shared by the
 * core's translation units.  Not installed.
 */
#ifndef SPL_INTERNAL_H
#define SPL_INTERNAL_H

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "splinter.h"
#include "layout.h"
#include "atomic.h"
#include "vec_kernels.h"

#define SPL_API __attribute__((visibility("default")))

#ifndef SPL_WITH_EMBEDDINGS
#define SPL_WITH_EMBEDDINGS 1
#endif

/* Undo records one handle keeps claimed for its threads; more writer
 * threads than this take a record for each write and give it back. */
#define SPL__UCACHE 16

#define SPL_FEATURES ((uint64_t)(SPL_WITH_EMBEDDINGS ? SPL_FEAT_EMBEDDINGS : 0))

/* A thread that meets a busy slot checks the owner's liveness (kill(pid, 0)
 * and /proc/PID/stat) at most once per this interval, and recovers the slot
 * if the owner is gone. */
#define SPL_CHECK_NS (1ull * 1000 * 1000)

/* The handle.  Geometry is validated once at open and copied here: after
 * that the shared header is never trusted again. */
struct spl_store {
    uint8_t *base;
    size_t map_bytes;
    struct spl_header *hdr;
    uint64_t *index;
    uint8_t *slots;
    uint32_t nslots, key_max, val_max, vec_dim, stride, probe_max;
    uint32_t nindex, imask, ibits; /* index words (a power of two), - 1, log2 */
    uint32_t val_off; /* byte offset of the value inside a slot */
    uint8_t *undo;    /* the undo records */
    uint32_t nundo, undo_stride;
    /* undo records this process claimed through this handle and keeps, one
     * per thread that overwrites (kv.c, "undo records, kept per thread") */
    uint64_t ugen;             /* 0 until registered; unique per handle */
    struct spl_store *unext;   /* registry of handles with records */
    pthread_mutex_t umu;
    uint32_t ucache[SPL__UCACHE];
    uint32_t uheld, ufree;     /* ucache[0..uheld) claimed; ufree: bitmask
                                  of those no thread holds */
    uint8_t *cells;   /* the cell arena (vectors) */
    uint32_t ncells, cell_stride;
    uint64_t seed;
    /* signal region (src/signal.c) */
    struct spl_sig_head *sig;
    struct spl_sig_stripe *stripes;
    struct spl_sig_group *groups;
    uint64_t *binds;
    struct spl_sig_rec *recs;
    uint64_t *watch;
    uint32_t *kwait;
    struct spl_sig_ent *ring;
    uint32_t feed_mask;
    uint8_t *reg;     /* the fragment registry (src/registry.c) */
    int fd;
    int rdonly;
    int holes; /* scans skip the file's holes (tmpfs: spl__data_next) */
    spl_backing backing;
    char *path; /* NULL for MEMFD */
    /* vectors (src/vec.c): validated copies of header line 6 */
    uint32_t vec_fmt;    /* spl_vec_format */
    uint32_t vec_esize;  /* bytes per element: 4, 2 or 1 */
    char tandem_sep;
    struct spl__pool *_Atomic pool; /* scan threads (src/pool.c), or NULL */
    /* ANN provider (spl_vec_ann_set): process-local, per handle */
    spl_vec_ann_fn ann_fn;
    void *ann_ud;
    /* else the one a running fragment offers (src/ann.c), made at the first
     * SPL_VQ_ANN search */
    struct spl__ann *_Atomic ann_auto;
};

/* ---- ann.c: the ANN index a running fragment offers (SPL_REG_F_ANN) ---- */
/* spl_vec_search with SPL_VQ_ANN on a handle without a provider of its
 * own: loaded in this process and cached on the handle.  0 with *out,
 * SPL_ESTALE when there is none or it declines (the exact scan answers),
 * or its error. */
int spl__ann_search(struct spl_store *s, const spl_vec_query *q, spl_vec_result **out);
/* spl_close: unload it. */
void spl__ann_free(struct spl_store *s);

/* A key's home: the low bits of its hash pick an index word.  Its natural
 * slot, the one an insert tries first, spreads the homes evenly over the
 * slots; a lookup prefetches it while the index word loads, since most keys
 * live there. */
static inline uint32_t spl__home_of(const struct spl_store *s, uint64_t h) { return (uint32_t)h & s->imask; }
static inline uint32_t spl__natural(const struct spl_store *s, uint32_t home)
{
    return (uint32_t)(((uint64_t)home * s->nslots) >> s->ibits);
}

/* Index word d of a chain starting at home. */
static inline uint32_t spl__probe_at(const struct spl_store *s, uint32_t home, uint32_t d)
{
    return (home + d) & s->imask;
}

static inline struct spl_slot *spl__slot(const struct spl_store *s, uint32_t i)
{
    return (struct spl_slot *)(void *)(s->slots + (size_t)i * s->stride);
}
static inline struct spl_cell *spl__cell(const struct spl_store *s, uint32_t c)
{
    return (struct spl_cell *)(void *)(s->cells + (size_t)c * s->cell_stride);
}
static inline uint8_t *spl__slot_key(struct spl_slot *sl) { return (uint8_t *)sl + SPL_SLOT_META; }
static inline uint8_t *spl__slot_val(const struct spl_store *s, struct spl_slot *sl)
{
    return (uint8_t *)sl + s->val_off;
}

/* Scans (src/store.c): elements i..n-1 of an array in the mapping, stride
 * bytes apart, each read at byte `field`: the first at or after i that may
 * hold anything (its field is not in a hole of the backing file, which reads
 * as zeros), and in *end the first after it that may not.  Returns n when
 * none may.  Loop: for (i = 0, end = 0; i < n; i++) { if (i >= end && (i =
 * spl__data_next(..., i, n, &end)) >= n) break; ... }.  Skipping holes keeps
 * a scan from allocating pages nobody wrote: on tmpfs a read of a hole of a
 * shared mapping allocates one.  Only there (s->holes): elsewhere a read of
 * a hole costs a clean page cache page at most, and not every file system
 * is trusted to count pages dirtied through a mapping as data. */
uint32_t spl__data_next(const struct spl_store *s, const void *arr, size_t stride, size_t field, uint32_t i,
                        uint32_t n, uint32_t *end);

/* ---- hashing: 64x64->128 multiply-fold, seeded per store ---------------- */
static inline uint64_t spl__fold(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}
/* The last n (0..7) bytes at p as a little-endian word, zero-extended,
 * without reading past p+n and without a byte-wise store (which would stall
 * store forwarding on the load that follows). */
static inline uint64_t spl__tail(const uint8_t *p, size_t n)
{
    uint32_t a, b;
    uint16_t c, d;
    if (n >= 4) {
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        return (uint64_t)a | ((uint64_t)b << ((n - 4) * 8));
    }
    if (n >= 2) {
        memcpy(&c, p, 2);
        memcpy(&d, p + n - 2, 2);
        return (uint64_t)c | ((uint64_t)d << ((n - 2) * 8));
    }
    return n ? p[0] : 0;
}
static inline uint64_t spl__hash(const void *key, size_t n, uint64_t seed)
{
    const uint8_t *p = key;
    const size_t len = n;
    uint64_t a, b;
    if (n <= 8) { /* short keys: one multiply-fold plus the finaliser */
        a = spl__tail(p, n);
        b = 0;
    } else if (n <= 16) {
        memcpy(&a, p, 8);
        memcpy(&b, p + n - 8, 8); /* overlaps a when n < 16; n is mixed in */
    } else {
        uint64_t h = seed;
        for (; n > 16; n -= 16, p += 16) {
            memcpy(&a, p, 8);
            memcpy(&b, p + 8, 8);
            h = spl__fold(a ^ h ^ 0xa0761d6478bd642full, b ^ 0xe7037ed1a0b428dbull);
        }
        memcpy(&a, p + n - 16, 8); /* the last 16 bytes, overlapping */
        memcpy(&b, p + n - 8, 8);
        seed = h;
    }
    uint64_t h = spl__fold(a ^ seed ^ 0xa0761d6478bd642full, b ^ seed ^ 0xe7037ed1a0b428dbull);
    return spl__fold(h ^ len ^ 0x8ebc6af09c88c6e3ull, 0x589965cc75374cc3ull);
}

/* ---- copies between private memory and a slot ---------------------------
 * Shared bytes are moved as relaxed 8-byte atomics (lanes are 8-aligned), so
 * a concurrent writer is a defined data race the seqlock then detects.
 *
 * Copies of SPL__COPY_BULK bytes or more go through memcpy instead: its
 * 32- or 64-byte loads and stores keep every line of a large value in flight
 * at once, where 8-byte ones fill the core's load and store buffers first
 * (`splinter-bench --only contend`, 2 KiB values: 32 processes complete
 * 9.6 M ops/s against 5.0-5.6 with word copies; bench/README.md).
 * A racing writer is then a race on plain memory, which C leaves undefined:
 * the seqlock still discards what a torn copy returns, the call is opaque to
 * the compiler (nothing is re-read or assumed), and x86 and Arm load some
 * bytes for each racing load, as every seqlock in C relies on.  Ordering is
 * unchanged: on x86 a string or vector copy's stores are ordered before a
 * later store (the epoch), its loads before later loads, and on Arm the
 * fences (write_begin's release, read_retry's acquire) order them.  Under
 * ThreadSanitizer, which would report those races, every copy stays
 * atomic. */
#if defined(__SANITIZE_THREAD__)
#define SPL__COPY_BULK ((size_t)-1)
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPL__COPY_BULK ((size_t)-1)
#endif
#endif
#ifndef SPL__COPY_BULK
#define SPL__COPY_BULK ((size_t)256)
#endif
/* memcpy, out of line (kv.c): the small copies' inline code stays as it was */
void spl__copy_bulk(void *dst, const void *src, size_t n);

static inline void spl__copy_words(void *dst, const uint8_t *src, size_t n)
{
    uint8_t *d = dst;
    if (__builtin_expect(n >= SPL__COPY_BULK, 0)) {
        spl__copy_bulk(d, src, n);
        return;
    }
    const uint64_t *s = (const uint64_t *)(const void *)src;
    for (; n >= 32; n -= 32, d += 32, s += 4) {
        /* four separate word stores: a 32-byte memcpy from a stack array
         * would be a vector load of four scalar stores (a forwarding stall) */
        uint64_t w0 = spl_load_relaxed(s), w1 = spl_load_relaxed(s + 1);
        uint64_t w2 = spl_load_relaxed(s + 2), w3 = spl_load_relaxed(s + 3);
        memcpy(d, &w0, 8);
        memcpy(d + 8, &w1, 8);
        memcpy(d + 16, &w2, 8);
        memcpy(d + 24, &w3, 8);
    }
    for (; n >= 8; n -= 8, d += 8, s++) {
        uint64_t w = spl_load_relaxed(s);
        memcpy(d, &w, 8);
    }
    if (n) {
        uint64_t w = spl_load_relaxed(s);
        memcpy(d, &w, n);
    }
}
static inline void spl__copy_out(void *dst, const uint8_t *src, size_t n)
{
#ifdef SPL_BROKEN_NO_RECHECK
    /* deliberately broken build for tests/expect-fail.sh (no epoch
     * re-check): a pause halfway through a value-sized copy lets writers
     * land in the middle of it, so that the check sees the torn values this
     * build returns however busy the machine is */
    if (n >= 128) {
        size_t h = (n / 2) & ~(size_t)7;
        spl__copy_words(dst, src, h);
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
        dst = (uint8_t *)dst + h;
        src += h;
        n -= h;
    }
#endif
    spl__copy_words(dst, src, n);
}
/* spl__copy_in's common case, a lane written whole (from its start,
 * zero-padded) with fewer than 72 bytes: one jump into a run of word copies,
 * and the last bytes as one load, where the general loops cost an insert
 * about 25 instructions more (an insert's time follows its instruction
 * count: bench/README.md, "The floor of a write"). */
static inline __attribute__((always_inline)) void spl__copy_in_small(uint64_t *w, const uint8_t *sp, size_t n)
{
    size_t nw = n >> 3, r = n & 7;
    uint64_t v;
#define SPL__WORD(i) (memcpy(&v, sp + 8 * (i), 8), spl_store_relaxed(w + (i), v))
    switch (nw) {
    case 8: SPL__WORD(7); __attribute__((fallthrough));
    case 7: SPL__WORD(6); __attribute__((fallthrough));
    case 6: SPL__WORD(5); __attribute__((fallthrough));
    case 5: SPL__WORD(4); __attribute__((fallthrough));
    case 4: SPL__WORD(3); __attribute__((fallthrough));
    case 3: SPL__WORD(2); __attribute__((fallthrough));
    case 2: SPL__WORD(1); __attribute__((fallthrough));
    case 1: SPL__WORD(0); __attribute__((fallthrough));
    default: break;
    }
#undef SPL__WORD
    if (r) {
        if (nw) { /* the last 8 bytes, overlapping: the top r are the tail */
            memcpy(&v, sp + n - 8, 8);
            v >>= 64 - 8 * r;
        } else {
            v = spl__tail(sp, r);
        }
        spl_store_relaxed(w + nw, v);
    }
}

/* Write n bytes at byte offset off of an 8-aligned lane; zero-pads the last
 * word when pad is set.  Caller holds the slot. */
static inline __attribute__((always_inline)) void spl__copy_in(uint8_t *lane, size_t off, const void *src, size_t n, int pad)
{
    const uint8_t *sp = src;
    if (pad && off == 0 && n < 72) {
        spl__copy_in_small((uint64_t *)(void *)lane, sp, n);
        return;
    }
    uint64_t *w = (uint64_t *)(void *)(lane + (off & ~(size_t)7));
    size_t head = off & 7;
    if (__builtin_expect(n >= SPL__COPY_BULK, 0)) { /* see spl__copy_words */
        size_t end = off + n;
        spl__copy_bulk(lane + off, src, n);
        if (pad && (end & 7)) /* zero the last word's bytes past the value */
            memset(lane + end, 0, 8 - (end & 7));
        return;
    }
    if (head && n) {
        uint64_t v = spl_load_relaxed(w);
        size_t k = 8 - head < n ? 8 - head : n;
        memcpy((uint8_t *)&v + head, sp, k);
        spl_store_relaxed(w, v);
        sp += k, n -= k, w++;
    }
    for (; n >= 32; n -= 32, sp += 32, w += 4) {
        uint64_t v0, v1, v2, v3;
        memcpy(&v0, sp, 8);
        memcpy(&v1, sp + 8, 8);
        memcpy(&v2, sp + 16, 8);
        memcpy(&v3, sp + 24, 8);
        spl_store_relaxed(w, v0);
        spl_store_relaxed(w + 1, v1);
        spl_store_relaxed(w + 2, v2);
        spl_store_relaxed(w + 3, v3);
    }
    for (; n >= 8; n -= 8, sp += 8, w++) {
        uint64_t v;
        memcpy(&v, sp, 8);
        spl_store_relaxed(w, v);
    }
    if (n) { /* spl__tail: loads of 4, 2 or 1 bytes, not a call to memcpy */
        uint64_t v = spl__tail(sp, n);
        if (!pad)
            v |= spl_load_relaxed(w) & (~0ull << (8 * n));
        spl_store_relaxed(w, v);
    }
}

/* Copy n bytes between two 8-aligned shared lanes (rounded up to whole
 * words; both lanes are padded to 8).  Caller holds both. */
static inline void spl__copy_shared(uint8_t *dst, const uint8_t *src, size_t n)
{
    uint64_t *d = (uint64_t *)(void *)dst;
    const uint64_t *p = (const uint64_t *)(const void *)src;
    size_t nw = (n + 7) / 8, w = 0;
    if (__builtin_expect(n >= SPL__COPY_BULK, 0)) { /* see spl__copy_words */
        spl__copy_bulk(dst, src, nw * 8);
        return;
    }
    for (; w + 4 <= nw; w += 4) { /* four loads, then four stores */
        uint64_t a = spl_load_relaxed(p + w), b = spl_load_relaxed(p + w + 1);
        uint64_t c = spl_load_relaxed(p + w + 2), e = spl_load_relaxed(p + w + 3);
        spl_store_relaxed(d + w, a);
        spl_store_relaxed(d + w + 1, b);
        spl_store_relaxed(d + w + 2, c);
        spl_store_relaxed(d + w + 3, e);
    }
    for (; w < nw; w++)
        spl_store_relaxed(d + w, spl_load_relaxed(p + w));
}

/* ---- seqlock ------------------------------------------------------------ */
/* Reader: epoch first (acquire: pairs with the release store in
 * spl__write_end), then relaxed data loads, then spl__read_retry. */
static inline uint64_t spl__read_begin(struct spl_slot *sl) { return spl_load_acquire(&sl->epoch); }
static inline int spl__seq_retry(const uint64_t *seq, uint64_t e1)
{
    /* acquire fence: pairs with the release fence in spl__write_begin, so a
     * data load that saw a store made after the odd epoch also sees it. */
    spl_fence_acquire();
#ifdef SPL_BROKEN_NO_RECHECK
    (void)seq;
    (void)e1;
    return 0; /* deliberately broken build for tests/expect-fail.sh */
#else
    return spl_load_relaxed(seq) != e1;
#endif
}
static inline int spl__read_retry(struct spl_slot *sl, uint64_t e1)
{
    return spl__seq_retry(&sl->epoch, e1);
}
/* Writer (holds sl->owner): make the epoch odd before touching data. */
static inline uint64_t spl__write_begin(struct spl_slot *sl)
{
    uint64_t e = spl_load_relaxed(&sl->epoch) | 1;
    spl_store_relaxed(&sl->epoch, e);
    spl_fence_release(); /* pairs with the acquire fence in spl__read_retry */
    return e;
}
static inline void spl__write_end(struct spl_slot *sl, uint64_t odd)
{
    spl_store_release(&sl->epoch, odd + 1); /* pairs with spl__read_begin */
}

/* ---- misc --------------------------------------------------------------- */
static inline uint64_t spl__clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- signals (src/signal.c) ---------------------------------------------
 * Every mutation, while it holds the slot and BEFORE it writes, takes a note
 * of what it is about to change (slot, the epoch the write will end on, the
 * key's fingerprint, the groups to pulse); after it unlocks it sends the
 * note, which pulses those groups, feeds their change rings, advances the
 * store-wide change counter and wakes sleepers.  A note with no groups costs
 * one atomic add and one load. */
struct spl__note {
    uint64_t groups; /* groups to pulse (watches | label bindings) */
    uint64_t epoch;  /* the slot's epoch once this write ends */
    uint64_t fp;     /* the key's index fingerprint */
    uint32_t idx;    /* slot index */
    uint32_t kind;   /* enum spl_event_kind: SPL_EV_CHANGED unless set */
};
/* Groups a slot with these labels pulses that someone follows: its key's
 * watches plus its labels' bindings, masked by the store's `followed` word
 * (one load when nobody subscribes).  seq_cst: a subscriber marks
 * `followed` before it counts itself and snapshots, so a mutation that reads
 * its bit clear (under the slot lock, before writing) started before the
 * subscription and is not owed to it. */
/* Groups this thread's writes do not pulse (src/host.c: a fragment that
 * asked to be quiet does not feed its own writes back through the keys
 * group).  initial-exec: one %fs load, no call. */
extern _Thread_local uint64_t spl__quiet __attribute__((tls_model("initial-exec")));
static inline uint64_t spl__groups_followed(const struct spl_store *s, uint32_t idx, uint64_t labels)
{
    uint64_t f = spl_load_seqcst(&s->sig->followed);
    if (!f)
        return 0;
    /* bind_all (spl_bind(SPL_BIND_ALL); fragments that follow a prefix or
     * glob set their group there too) shares followed's line: no extra
     * miss for writers */
    uint64_t g = spl_load_relaxed(&s->watch[idx]) | spl_load_relaxed(&s->sig->bind_all);
    while (labels) {
        g |= spl_load_relaxed(&s->binds[__builtin_ctzll(labels)]);
        labels &= labels - 1;
    }
    return g & f & ~spl__quiet;
}
static inline void spl__note_take(struct spl_store *s, uint32_t idx, struct spl_slot *sl, uint64_t fp,
                                  struct spl__note *n)
{
    n->idx = idx;
    n->kind = SPL_EV_CHANGED;
    n->epoch = (spl_load_relaxed(&sl->epoch) | 1) + 1;
    n->fp = fp;
    n->groups = spl__groups_followed(s, idx, spl_load_relaxed(&sl->labels));
    /* spl__note_send loads the slot's key-waiter count right after a locked
     * add, which stalls until the add is done: while anyone sleeps on a
     * key, start its miss now, as the write is made (it was a sixth of a
     * random spl_set) */
    if (spl_load_relaxed(&s->sig->kwaiters))
        __builtin_prefetch(&s->kwait[idx]);
}

/* The change-counter stripe of the calling thread: thread id & 15, so the
 * threads and processes writing at once mostly add to lines of their own
 * (striping by slot made two writers' adds meet on one line half the
 * time).  initial-exec: a plain %fs-relative load even in libsplinter.so
 * (the default model there calls __tls_get_addr on every write); 4 bytes
 * fit the static TLS surplus glibc keeps for libraries loaded with
 * dlopen. */
extern _Thread_local uint32_t spl__stripe_plus1 __attribute__((tls_model("initial-exec")));
uint32_t spl__my_stripe_slow(void);
static inline uint32_t spl__my_stripe(void)
{
    uint32_t p1 = spl__stripe_plus1;
    return __builtin_expect(p1 != 0, 1) ? p1 - 1 : spl__my_stripe_slow();
}
void spl__note_pulse(struct spl_store *s, const struct spl__note *n);
void spl__note_wake(struct spl_store *s, const struct spl__note *n);
static inline void spl__note_send(struct spl_store *s, const struct spl__note *n)
{
    if (n->groups)
        spl__note_pulse(s, n);
    /* seq_cst RMW: also the full barrier between the slot's epoch store
     * (release, in spl__write_end) and the key-waiter load below */
    spl_fetch_add_seqcst(&s->stripes[spl__my_stripe()].changes, 1);
    /* the sum first: it shares `followed`'s line, which this write read
     * already; the slot's own count is a line of its own (a miss) */
    if (spl_load_seqcst(&s->sig->kwaiters) && spl_load32_seqcst(&s->kwait[n->idx]))
        spl__note_wake(s, n);
}

uint64_t spl__changes(struct spl_store *s);

/* Sleep on slot idx's key bell (kwait[idx], kbell) until check() returns
 * something other than 1 (returned) or the deadline (CLOCK_MONOTONIC ns,
 * 0 = none) passes (SPL_ETIMEDOUT).  Registration, the bell read before
 * each check, and the waiter record are handled inside; check() may lower
 * *until to cut one round's sleep short.  spl_key_wait and the contention
 * sleeps (src/wait.c) both use it. */
typedef int (*spl__kcheck_fn)(struct spl_store *s, void *ctx, uint64_t *until);
int spl__kslot_sleep(struct spl_store *s, uint32_t idx, uint64_t deadline, spl__kcheck_fn check, void *ctx);
/* Tests: how many times this thread went to sleep in spl__kslot_sleep. */
uint64_t spl__kslot_stats(void);

/* ---- contention (src/wait.c): what a retrying call does after SPL_EAGAIN
 * Spin briefly, then yield; then, if the busy slot is stuck (busy with the
 * same epoch twice, a back-off apart), sleep on it until its writer commits
 * (woken by spl__note_send), re-checking the writer's liveness every few ms
 * so a dead writer's slot is recovered.  A slot that stays busy but moves
 * (writers of a hot key coming and going) gets short back-offs instead.  spl__contend_pause returns 0
 * to try again, non-zero once the time given to spl__contend_init is up.
 * write: the caller wants the slot's lock (set, unset, integer ops), not
 * only a stable epoch (get). */
struct spl__contend {
    uint64_t timeout;  /* ns, from the first SPL_EAGAIN */
    uint64_t end;      /* CLOCK_MONOTONIC ns; 0 until the first SPL_EAGAIN */
    unsigned round;    /* spin, yield, sleep */
    unsigned fallback; /* spl__backoff round while there is no stuck slot */
    uint32_t idx;      /* the busy slot last seen, and its epoch */
    uint64_t epoch;
};
void spl__contend_init(struct spl__contend *c, uint64_t timeout_ns);
int spl__contend_pause(struct spl_store *s, const char *key, int write, struct spl__contend *c);
/* In a function returning the call's result: the call, then, while it
 * gives SPL_EAGAIN, spl__contend_pause for up to timeout_us between tries
 * (the *_wait calls, kv.c; tandem vectors, vec.c). */
#define SPL__WAIT(s, key, write, call, timeout_us)                                    \
    do {                                                                              \
        int rc_ = (call); /* the common case first: nothing to set up */             \
        if (__builtin_expect(rc_ != SPL_EAGAIN, 1))                                   \
            return rc_;                                                               \
        struct spl__contend c_;                                                       \
        spl__contend_init(&c_, (uint64_t)(timeout_us)*1000);                          \
        while (!spl__contend_pause((s), (key), (write), &c_))                         \
            if ((rc_ = (call)) != SPL_EAGAIN)                                         \
                return rc_;                                                           \
        return rc_;                                                                   \
    } while (0)
/* The calling thread's totals: SPL_EAGAIN results retried by the *_wait
 * calls and spl_int, and sleeps on a slot among them (for the benchmark). */
void spl__contend_stats(uint64_t *retries, uint64_t *sleeps);
/* in kv.c, for wait.c: the index of a slot that keeps an operation on key
 * busy now (a slot tagged with the key's fingerprint whose epoch is odd, or,
 * for a writer, whose lock is held) and its epoch, after a rate-limited
 * liveness check of its owner; SPL_ENOENT if none is (or the check just
 * recovered it). */
int spl__busy_slot(struct spl_store *s, const char *key, int write, uint64_t *epoch);
/* in signal.c, for host.c: subscription u's events whose slot a writer is
 * inside wait for its commit (asleep on the slot) up to ns before they are
 * SPL_EV_UNKNOWN (0, the default: at once) */
void spl__sub_busy_wait(spl_sub *u, uint64_t ns);
/* in kv.c, for signal.c */
/* Sleep on slot idx while it stays in the write of epoch `odd` (its commit
 * wakes the sleep), until deadline (CLOCK_MONOTONIC ns); its writer's
 * liveness is checked every SPL_CHECK_NS and a dead writer's slot is
 * recovered.  Returns spl__kslot_sleep's result. */
int spl__slot_sleep(struct spl_store *s, uint32_t idx, uint64_t odd, uint64_t deadline);
int spl__feed_key(struct spl_store *s, uint32_t idx, uint64_t fp, char *key, size_t cap,
                  size_t *len);
/* ---- entry points for src/vec.c (defined at the end of kv.c) ----------
 * spl__key_lock: key's live slot, locked by the caller (create: insert the
 * key with an empty value first if absent).  Returns the index or an error
 * of spl_set.  spl__key_read: spl__find for a key string, running fn in the
 * read section (fn's negative result is passed through).  spl__slot_unlock:
 * release a slot taken by spl__key_lock.  spl__slot_busy: a reader met slot
 * i busy; checks (rate-limited) whether its writer died and recovers it. */
typedef int (*spl__read_fn)(struct spl_store *s, struct spl_slot *sl, uint64_t epoch, void *ctx);
int spl__key_lock(struct spl_store *s, const char *key, int create, uint64_t *fp);
/* Delete key only while its epoch is still `epoch` (a key a failed write
 * made, that nobody wrote since); SPL_ESTALE otherwise. */
int spl__key_drop_if(struct spl_store *s, const char *key, uint64_t epoch);
/* Tests only (NULL otherwise): called by a vector write right after it
 * created its key, before it claims a cell, so that a test can take the
 * last cell in that window. */
extern void (*spl__test_after_create)(struct spl_store *s);
int spl__key_read(struct spl_store *s, const char *key, spl__read_fn fn, void *ctx);
void spl__slot_unlock(struct spl_slot *sl);
int spl__slot_busy(struct spl_store *s, uint32_t i);
/* spl__slot_busy without its rate limit, for rare paths (vec.c: no free
 * cell): recover slot i if its writer died; 1 if it did. */
int spl__slot_dead(struct spl_store *s, uint32_t i);
/* The caller holds slot i: drop its vector, freeing its cell (vec.c; in a
 * pure-KV build it only clears vec_state). */
void spl__vec_release(struct spl_store *s, uint32_t i, struct spl_slot *sl);
/* spl_info_get's cell counts (vec.c). */
void spl__vec_info(struct spl_store *s, spl_info *out);

/* ---- undo records (kv.c; docs/PROTOCOL.md, "A writer's death loses
 * nothing").  spl__undo_arm: the caller holds slot i at an even epoch and is
 * about to overwrite in place what `what` names; it takes a record, copies
 * the slot's value (SPL_UNDO_VAL) and lets vec.c copy the vector
 * (SPL_UNDO_VEC), arms it, and returns it (NULL: every record is in use by
 * live writers, SPL_EAGAIN for the caller).  spl__undo_done: after
 * spl__write_end, disarm and give the record back. */
struct spl_undo *spl__undo_arm(struct spl_store *s, uint32_t i, struct spl_slot *sl, uint32_t what);
void spl__undo_done(struct spl_store *s, struct spl_undo *u);
void spl__undo_close(struct spl_store *s); /* spl_close: give back every kept record */
static inline uint8_t *spl__undo_val(struct spl_undo *u) { return (uint8_t *)u + sizeof *u; }
static inline uint8_t *spl__undo_cell(const struct spl_store *s, struct spl_undo *u)
{
    return (uint8_t *)u + sizeof *u + spl_round_up(s->val_max, 8);
}
/* vec.c: copy slot i's vector into the record (the slot is held, its epoch
 * even), and put it back from the record (recovery, the slot is held). */
void spl__vec_undo_save(struct spl_store *s, uint32_t i, struct spl_slot *sl, struct spl_undo *u);
void spl__vec_undo_restore(struct spl_store *s, uint32_t i, struct spl_slot *sl, struct spl_undo *u);

/* src/vec_simd.c: the kernels of one SIMD path (src/vec_kernels.h). */
const struct spl__vk *spl__vk_get(void);  /* the path in use (chosen once) */
/* src/vec.c: the least work (bytes, see SPL__SPLIT_BYTES) a search gives
 * each thread it splits over; 0 splits as asked (tests, benchmarks). */
void spl__vec_split_set(uint64_t bytes);

/* ---- the scan thread pool (src/pool.c) ----------------------------------
 * One per handle, started on the first search that splits, joined by
 * spl_close.  spl__pool_run runs fn(arg, t) for t in 0..n-1: the caller runs
 * t = 0 and whatever no worker has taken, so it never waits on a worker that
 * has not started; returns once all n are done.  After a fork the child's
 * copy of the pool has no threads: the first use in the child leaves it
 * (never touching its locks) and starts a fresh one. */
typedef void (*spl__task_fn)(void *arg, uint32_t t);
void spl__pool_run(struct spl_store *s, spl__task_fn fn, void *arg, uint32_t n);
void spl__pool_free(struct spl_store *s);

/* This process's owner id (owner.c): worked out once, and again in a
 * forked child. */
extern _Atomic uint64_t spl__my_id;
uint64_t spl__owner_id_slow(void);
static inline uint64_t spl__owner_id(void)
{
    uint64_t id = atomic_load_explicit(&spl__my_id, memory_order_relaxed);
    return __builtin_expect(id != 0, 1) ? id : spl__owner_id_slow();
}
int spl__owner_alive(uint64_t id);
uint64_t spl__fingerprint(void);
void spl__backoff(unsigned *round);

#endif /* SPL_INTERNAL_H */
