/*
 * kv.c - the slot protocol: lookups, inserts, overwrites, deletes, integer
 * ops, metadata, zero-copy reads, iteration, and recovery of slots whose
 * writer died.  docs/PROTOCOL.md states the protocol and its proofs; the
 * comments here name which step each piece of code is.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>

#include "internal.h"

#define SPL__RETRY (-99999) /* internal: the key appeared during an insert, go again */

struct spl__key {
    const char *k;
    size_t len;
    uint32_t home;
    uint64_t fp;
};

static inline __attribute__((always_inline)) int spl__key_prep(const struct spl_store *s, const char *key, struct spl__key *k)
{
    if (!s || !key)
        return SPL_EINVAL;
    size_t n = strnlen(key, (size_t)s->key_max + 1);
    if (n == 0 || n > s->key_max)
        return SPL_EKEYLEN;
    uint64_t h = spl__hash(key, n, s->seed);
    k->k = key;
    k->len = n;
    k->home = spl__home_of(s, h);
    k->fp = spl_ix_fp(h);
    return 0;
}

/* spl__key_prep for a call that writes: also SPL_EROFS on a read-only
 * handle (checked after the key, as every writer did). */
static inline int spl__key_prep_w(const struct spl_store *s, const char *key, struct spl__key *k)
{
    int rc = spl__key_prep(s, key, k);
    return rc ? rc : s->rdonly ? SPL_EROFS : 0;
}

/* Compare the slot's key lane with k (caller checked the length).  The lane
 * is zero-padded after the key, so whole words compare. */
static inline int spl__key_equal(struct spl_slot *sl, const struct spl__key *k)
{
    const uint64_t *w = (const uint64_t *)(const void *)spl__slot_key(sl);
    const char *p = k->k;
    size_t n = k->len;
    for (; n >= 8; n -= 8, p += 8, w++) {
        uint64_t a;
        memcpy(&a, p, 8);
        if (spl_load_relaxed(w) != a)
            return 0;
    }
    return !n || spl_load_relaxed(w) == spl__tail((const uint8_t *)p, n);
}

static inline uint64_t spl__now(void) { return spl__clock_ns(CLOCK_REALTIME_COARSE); }

/* ---- index word updates (all CAS loops: bucket and tag share a word) ---- */

static void spl__ix_set_tag(struct spl_store *s, uint32_t i, uint64_t tag)
{
    uint64_t *p = &s->index[i];
    uint64_t w = spl_load_relaxed(p);
    while (!spl_cas_seqcst(p, &w, (w & SPL_IX_BUCKET_MASK) | tag))
        ;
}

/* Count one more key homed here (inc) and widen the probe bound to d. */
static void spl__bucket_add(struct spl_store *s, uint32_t home, uint32_t d, int inc)
{
    uint64_t *p = &s->index[home];
    uint64_t w = spl_load_relaxed(p), n;
    do {
        uint64_t cnt = spl_ix_cnt(w), dist = spl_ix_dist(w);
        if (inc && cnt < SPL_IX_CNT_MAX)
            cnt++; /* saturates: a saturated bucket never shrinks (safe) */
        if (d > dist)
            dist = d;
        n = (w & ~SPL_IX_BUCKET_MASK) | (cnt << SPL_IX_CNT_SHIFT) | (dist << SPL_IX_DIST_SHIFT);
    } while (!spl_cas_seqcst(p, &w, n));
}

static void spl__bucket_sub(struct spl_store *s, uint32_t home)
{
    uint64_t *p = &s->index[home];
    uint64_t w = spl_load_relaxed(p), n;
    do {
        uint64_t cnt = spl_ix_cnt(w);
        if (cnt == 0 || cnt == SPL_IX_CNT_MAX)
            return;
        cnt--;
        /* no key of this home left: its probe bound can start over */
        uint64_t dist = cnt ? spl_ix_dist(w) : 0;
        n = (w & ~SPL_IX_BUCKET_MASK) | (cnt << SPL_IX_CNT_SHIFT) | (dist << SPL_IX_DIST_SHIFT);
    } while (!spl_cas_seqcst(p, &w, n));
}

static inline uint32_t spl__maxdist(const struct spl_store *s, uint64_t w)
{
    uint32_t md = spl_ix_dist(w);
    return md > s->probe_max ? s->probe_max : md; /* untrusted */
}

/* A slot is being freed at epoch e (odd, inside its write section): raise
 * the store's epoch floor to e + 1 so the next insert of any key, in any
 * slot, starts above it.  Never lowers it. */
static void spl__floor_raise(struct spl_store *s, uint64_t e)
{
    uint64_t *p = &s->hdr->epoch_floor;
    uint64_t f = spl_load_relaxed(p);
    while (f < e + 1 && !spl_cas_seqcst(p, &f, e + 1))
        ;
}

/* ---- ownership and recovery --------------------------------------------- */

/* Caller holds the slot: drop what belongs to the key that leaves it (or
 * to the one an earlier key left): labels, watches, vector. */
static inline void spl__slot_forget(struct spl_store *s, uint32_t i, struct spl_slot *sl)
{
    spl_store_relaxed(&sl->labels, 0);
    spl_store_relaxed(&s->watch[i], 0);
    spl__vec_release(s, i, sl);
}

/* Caller holds the slot.  A slot with an odd epoch, or a PENDING tag, holds
 * a write that never finished (its writer died): free it, moving the epoch
 * forward.  Returns 1 if it freed something. */
static int spl__normalize(struct spl_store *s, uint32_t i, struct spl_slot *sl)
{
    uint64_t e = spl_load_relaxed(&sl->epoch);
    uint64_t w = spl_load_seqcst(&s->index[i]);
    if (!(e & 1) && spl_ix_state(w) != SPL_IX_PENDING)
        return 0;
    uint64_t odd = spl__write_begin(sl);
    spl_store32_relaxed(&sl->key_len, 0);
    spl_store32_relaxed(&sl->val_len, 0);
    spl__slot_forget(s, i, sl);
    spl__floor_raise(s, odd); /* before FREE: see spl_unset */
    spl__ix_set_tag(s, i, 0);
    spl__write_end(sl, odd);
    return 1;
}

static int spl__recover(struct spl_store *s, uint32_t i, uint64_t dead)
{
    struct spl_slot *sl = spl__slot(s, i);
    uint64_t exp = dead;
    /* acquire: pairs with nothing of the dead owner's (it never released);
     * the CAS only makes us the one recoverer. */
    if (!spl_cas_acquire(&sl->owner, &exp, spl__owner_id()))
        return 0;
    spl__normalize(s, i, sl);
    spl_fetch_add_relaxed(&s->hdr->recoveries, 1);
    spl_store_release(&sl->owner, 0);
    return 1;
}

/* Liveness checks are rate-limited per thread: a thread that meets a busy
 * slot checks its owner at most once per SPL_CHECK_NS.  A live owner costs
 * nothing but that check; a dead one is found on the first sighting after
 * the interval, whatever else the thread met in between. */
static _Thread_local uint64_t spl__last_check_ns;

/* Called when slot i is busy.  Returns 1 if it recovered the slot. */
static int spl__contended(struct spl_store *s, uint32_t i)
{
    if (s->rdonly)
        return 0;
    uint64_t now = spl__clock_ns(CLOCK_MONOTONIC_COARSE);
    if (now - spl__last_check_ns < SPL_CHECK_NS)
        return 0;
    spl__last_check_ns = now;
    struct spl_slot *sl = spl__slot(s, i);
    uint64_t owner = spl_load_relaxed(&sl->owner);
    uint64_t epoch = spl_load_relaxed(&sl->epoch);
    /* Unowned and even is normally not stuck at all; but a PENDING tag with
     * no owner is an insert nobody is finishing (only corruption makes one):
     * take it and normalise it. */
    if (!owner && !(epoch & 1) && spl_ix_state(spl_load_seqcst(&s->index[i])) != SPL_IX_PENDING)
        return 0;
    if (owner && spl__owner_alive(owner))
        return 0;
    /* The CAS from the dead id (or 0) makes this the only recoverer, and
     * fails harmlessly if the owner moved on meanwhile. */
    return spl__recover(s, i, owner);
}

static int spl__lock(struct spl_store *s, uint32_t i)
{
    struct spl_slot *sl = spl__slot(s, i);
    uint64_t me = spl__owner_id();
    for (int t = 0; t < 2; t++) {
        uint64_t exp = 0;
        /* acquire: pairs with the release store in spl__unlock */
        if (spl_cas_acquire(&sl->owner, &exp, me)) {
            spl__normalize(s, i, sl);
            return 0;
        }
        if (!spl__contended(s, i))
            break;
    }
    return SPL_EAGAIN;
}

static inline void spl__unlock(struct spl_slot *sl)
{
    spl_store_release(&sl->owner, 0); /* pairs with the CAS in spl__lock */
}

/* ---- lookup ------------------------------------------------------------- */

/* A visitor runs inside a read section on the matching slot; what it reads
 * counts only if the section validates, so it must tolerate torn data
 * (bounds-check everything) and may run more than once. */
typedef int (*spl__visit_fn)(struct spl_store *s, struct spl_slot *sl, uint64_t epoch, void *ctx);

#define SPL__READ_TRIES 4

/* Find k's live slot.  Returns its index (the visitor's result is passed
 * through when negative), SPL_ENOENT, or SPL_EAGAIN if a slot that may hold k
 * is busy.  Wait-free apart from bounded retries of torn reads. */
static inline __attribute__((always_inline)) int
spl__find(struct spl_store *s, const struct spl__key *k, spl__visit_fn fn, void *ctx)
{
    const uint64_t want = k->fp | SPL_IX_LIVE;
    /* Most keys live in their home slot: start its miss now, in parallel
     * with the index word's. */
    __builtin_prefetch(spl__slot(s, k->home));
    /* acquire: pairs with the seq_cst CAS that published the LIVE tag */
    uint64_t w = spl_load_acquire(&s->index[k->home]);
    uint32_t md = spl__maxdist(s, w);
    int busy = 0;
    for (uint32_t d = 0;;) {
        if ((w & SPL_IX_TAG_MASK) == want) {
            uint32_t i = spl__probe_at(s, k->home, d);
            struct spl_slot *sl = spl__slot(s, i);
            for (int t = 0; t < SPL__READ_TRIES; t++) {
                uint64_t e1 = spl__read_begin(sl);
                if (e1 & 1) {
                    if (spl__contended(s, i))
                        continue; /* recovered a dead writer's slot */
                    busy = 1;
                    break;
                }
                int match = spl_load32_relaxed(&sl->key_len) == k->len && spl__key_equal(sl, k);
                int rc = match && fn ? fn(s, sl, e1, ctx) : 0;
                if (spl__read_retry(sl, e1)) {
                    busy |= t == SPL__READ_TRIES - 1;
                    continue;
                }
                if (!match)
                    break;
                return rc < 0 ? rc : (int)i;
            }
        }
        if (++d > md)
            break;
        w = spl_load_acquire(&s->index[spl__probe_at(s, k->home, d)]);
    }
    return busy ? SPL_EAGAIN : SPL_ENOENT;
}

/* Find k and lock its slot: returns the index, SPL_ENOENT or SPL_EAGAIN.
 * Writers skip the read-side seqlock pass: they lock each slot whose tag
 * matches and compare the key under the lock (a 44-bit fingerprint makes a
 * wasted lock rare), so the slot's lines are fetched once, for writing. */
static int spl__find_locked(struct spl_store *s, const struct spl__key *k)
{
    const uint64_t want = k->fp | SPL_IX_LIVE;
    __builtin_prefetch(spl__slot(s, k->home), 1);
    uint64_t w = spl_load_acquire(&s->index[k->home]); /* pairs as in spl__find */
    uint32_t md = spl__maxdist(s, w);
    int busy = 0;
    for (uint32_t d = 0;;) {
        if ((w & SPL_IX_TAG_MASK) == want) {
            uint32_t i = spl__probe_at(s, k->home, d);
            if (spl__lock(s, i) != 0) {
                busy = 1;
            } else {
                struct spl_slot *sl = spl__slot(s, i);
                if ((spl_load_seqcst(&s->index[i]) & SPL_IX_TAG_MASK) == want &&
                    spl_load32_relaxed(&sl->key_len) == k->len && spl__key_equal(sl, k))
                    return (int)i;
                spl__unlock(sl);
            }
        }
        if (++d > md)
            break;
        w = spl_load_acquire(&s->index[spl__probe_at(s, k->home, d)]);
    }
    return busy ? SPL_EAGAIN : SPL_ENOENT;
}

/* ---- insert ------------------------------------------------------------- */

struct spl__newval {
    const void *val;
    size_t len;
    uint8_t type;
};

/* Insert k, known absent a moment ago.  Steps (docs/PROTOCOL.md, "Insert"):
 * claim a FREE slot near home; raise the home bucket's count and probe
 * bound; tag the slot PENDING; full fence; look for another PENDING or LIVE
 * copy of k within the bound, backing off if there is one; write; tag LIVE;
 * release.  Two racing inserters of one key cannot both miss each other. */
static int spl__insert(struct spl_store *s, const struct spl__key *k, const struct spl__newval *nv)
{
    uint64_t me = spl__owner_id();
    int skipped = 0, rc = 0;
    uint32_t d, i = 0;
    struct spl_slot *sl = NULL;
    for (d = 0; d <= s->probe_max; d++) {
        i = spl__probe_at(s, k->home, d);
        uint64_t st = spl_ix_state(spl_load_relaxed(&s->index[i]));
        if (st == SPL_IX_PENDING) {
            /* an insert in flight, or a dead inserter's: check its owner;
             * once recovered (FREE again) try this slot once more */
            skipped = 1;
            if (spl__contended(s, i))
                d--;
            continue;
        }
        if (st != SPL_IX_FREE)
            continue;
        sl = spl__slot(s, i);
        uint64_t exp = 0;
        if (!spl_cas_acquire(&sl->owner, &exp, me)) { /* pairs with spl__unlock */
            skipped = 1;
            spl__contended(s, i);
            sl = NULL;
            continue;
        }
        if (spl_ix_state(spl_load_seqcst(&s->index[i])) == SPL_IX_FREE) {
            spl__normalize(s, i, sl);
            break;
        }
        spl__unlock(sl);
        sl = NULL;
    }
    if (!sl)
        return skipped ? SPL_EAGAIN : SPL_EFULL;

    spl__bucket_add(s, k->home, d, 1);
    spl__ix_set_tag(s, i, k->fp | SPL_IX_PENDING);
    spl_fence_seqcst(); /* Dekker: our PENDING store before our scan's loads */
    uint32_t md = spl__maxdist(s, spl_load_seqcst(&s->index[k->home]));
    for (uint32_t e = 0; e <= md; e++) {
        uint32_t j = spl__probe_at(s, k->home, e);
        if (j == i)
            continue;
        uint64_t w = spl_load_seqcst(&s->index[j]);
        if ((w & SPL_IX_FP_MASK) != k->fp)
            continue;
        if (spl_ix_state(w) == SPL_IX_PENDING) {
            rc = SPL_EAGAIN; /* another insert of (maybe) k in flight */
            /* it may be a dead inserter's: recover it if so, and go again */
            if (spl__contended(s, j))
                rc = SPL__RETRY;
            goto back_off;
        }
        if (spl_ix_state(w) == SPL_IX_LIVE) {
            struct spl_slot *o = spl__slot(s, j);
            uint64_t e1 = spl__read_begin(o);
            int same = spl_load32_relaxed(&o->key_len) == k->len && spl__key_equal(o, k);
            if ((e1 & 1) || spl__read_retry(o, e1)) {
                rc = SPL_EAGAIN;
                goto back_off;
            }
            if (same) {
                /* k appeared: overwrite it instead.  Keep the bound wide
                 * enough to reach it even if the bucket was wrong. */
                spl__bucket_sub(s, k->home);
                spl__bucket_add(s, k->home, e, 0);
                spl__ix_set_tag(s, i, 0);
                spl__unlock(sl);
                return SPL__RETRY;
            }
        }
    }
    /* A new key's first epoch is above any epoch a freed slot reached, so
     * (key, epoch) never repeats across delete and re-insert (no ABA). */
    uint64_t floor = spl_load_relaxed(&s->hdr->epoch_floor) & ~1ull;
    if (floor > spl_load_relaxed(&sl->epoch))
        spl_store_relaxed(&sl->epoch, floor);
    uint64_t now = spl__now();
    struct spl__note note;
    spl__slot_forget(s, i, sl); /* not LIVE yet: no reader looks at these */
    spl__note_take(s, i, sl, &note);
    note.fp = k->fp;
    uint64_t odd = spl__write_begin(sl);
    spl_store32_relaxed(&sl->key_len, (uint32_t)k->len);
    spl__copy_in(spl__slot_key(sl), 0, k->k, k->len, 1);
    spl__copy_in(spl__slot_val(s, sl), 0, nv->val, nv->len, 1);
    spl_store32_relaxed(&sl->val_len, (uint32_t)nv->len);
    spl_store8_relaxed(&sl->type, nv->type);
    spl_store8_relaxed(&sl->user_flags, 0);
    spl_store_relaxed(&sl->ctime_ns, now);
    spl_store_relaxed(&sl->mtime_ns, now);
    spl_store_relaxed(&sl->atime_ns, 0);
    spl__write_end(sl, odd);
    spl__ix_set_tag(s, i, k->fp | SPL_IX_LIVE);
    spl__unlock(sl);
    spl__note_send(s, &note);
    return 0;
back_off:
    spl__ix_set_tag(s, i, 0);
    spl__bucket_sub(s, k->home);
    spl__unlock(sl);
    return rc;
}

/* ---- set, append, cas --------------------------------------------------- */

enum { SPL__PUT_SET, SPL__PUT_APPEND, SPL__PUT_CAS };

static int spl__put(spl_store *s, const char *key, const void *val, size_t len, int mode,
                    uint64_t expected)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    if (rc)
        return rc;
    if (!val && len)
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    if (len > s->val_max)
        return SPL_E2BIG;
    for (int attempt = 0; attempt < 4; attempt++) {
        int i = spl__find_locked(s, &k);
        if (i >= 0) {
            struct spl_slot *sl = spl__slot(s, (uint32_t)i);
            uint32_t cur = spl_load32_relaxed(&sl->val_len);
            uint64_t epoch = spl_load_relaxed(&sl->epoch);
            if (mode == SPL__PUT_CAS && (expected == 0 || expected != epoch)) {
                spl__unlock(sl);
                return expected == 0 ? SPL_EEXIST : SPL_ESTALE;
            }
            size_t off = 0;
            if (mode == SPL__PUT_APPEND) {
                if (cur > s->val_max || len > s->val_max - cur) {
                    spl__unlock(sl);
                    return cur > s->val_max ? SPL_ECORRUPT : SPL_E2BIG;
                }
                off = cur;
            }
            uint64_t now = spl__now();
            struct spl__note note;
            spl__note_take(s, (uint32_t)i, sl, &note);
            uint64_t odd = spl__write_begin(sl);
            spl__copy_in(spl__slot_val(s, sl), off, val, len, off == 0);
            spl_store32_relaxed(&sl->val_len, (uint32_t)(off + len));
            spl_store_relaxed(&sl->mtime_ns, now);
            spl__write_end(sl, odd);
            spl__unlock(sl);
            spl__note_send(s, &note);
            return 0;
        }
        if (i != SPL_ENOENT)
            return i;
        if (mode == SPL__PUT_CAS && expected != 0)
            return SPL_ENOENT;
        struct spl__newval nv = {val, len, SPL_T_VOID};
        rc = spl__insert(s, &k, &nv);
        if (rc != SPL__RETRY)
            return rc;
    }
    return SPL_EAGAIN;
}

SPL_API int spl_set(spl_store *s, const char *key, const void *val, size_t len)
{
    return spl__put(s, key, val, len, SPL__PUT_SET, 0);
}

SPL_API int spl_append(spl_store *s, const char *key, const void *data, size_t len)
{
    return spl__put(s, key, data, len, SPL__PUT_APPEND, 0);
}

SPL_API int spl_cas(spl_store *s, const char *key, uint64_t expected, const void *val, size_t len)
{
    return spl__put(s, key, val, len, SPL__PUT_CAS, expected);
}

/* ---- get, exists, meta, views ------------------------------------------- */

struct spl__get_ctx {
    void *buf;
    size_t cap, len;
};

static int spl__rd_get(struct spl_store *s, struct spl_slot *sl, uint64_t e, void *ctx)
{
    struct spl__get_ctx *c = ctx;
    (void)e;
    uint32_t vl = spl_load32_relaxed(&sl->val_len);
    if (vl > s->val_max)
        return SPL_ECORRUPT;
    c->len = vl;
    if (vl > c->cap)
        return (c->buf || c->cap) ? SPL_ENOBUFS : 0;
    spl__copy_out(c->buf, spl__slot_val(s, sl), vl);
    return 0;
}

static __attribute__((noinline)) int spl__get_slow(spl_store *s, const struct spl__key *k,
                                                   void *buf, size_t cap, size_t *len_out)
{
    struct spl__get_ctx c = {buf, cap, 0};
    int rc = spl__find(s, k, spl__rd_get, &c);
    if (len_out && (rc >= 0 || rc == SPL_ENOBUFS))
        *len_out = c.len;
    return rc < 0 ? rc : 0;
}

SPL_API int spl_get(spl_store *s, const char *key, void *buf, size_t cap, size_t *len_out)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    if (rc)
        return rc;
    if (!buf && cap)
        return SPL_EINVAL;
    /* Fast path, the common case: the key in its home slot, no writer
     * inside, the value fits.  The same steps as spl__find + spl__rd_get for
     * d = 0, without the loop (about 15% off a hot get); anything else,
     * including a torn read, goes the general way. */
    struct spl_slot *sl = spl__slot(s, k.home);
    __builtin_prefetch(sl); /* its miss overlaps the index word's */
    uint64_t w = spl_load_acquire(&s->index[k.home]); /* pairs as in spl__find */
    if ((w & SPL_IX_TAG_MASK) == (k.fp | SPL_IX_LIVE)) {
        uint64_t e1 = spl__read_begin(sl);
        uint32_t vl = spl_load32_relaxed(&sl->val_len);
        if (!(e1 & 1) && vl <= s->val_max && vl <= cap &&
            spl_load32_relaxed(&sl->key_len) == k.len && spl__key_equal(sl, &k)) {
            spl__copy_out(buf, spl__slot_val(s, sl), vl);
            if (!spl__read_retry(sl, e1)) {
                if (len_out)
                    *len_out = vl;
                return 0;
            }
        }
    }
    return spl__get_slow(s, &k, buf, cap, len_out);
}

SPL_API int spl_exists(spl_store *s, const char *key)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    if (rc)
        return rc;
    rc = spl__find(s, &k, NULL, NULL);
    return rc >= 0 ? 1 : rc == SPL_ENOENT ? 0 : rc;
}

static int spl__rd_meta(struct spl_store *s, struct spl_slot *sl, uint64_t e, void *ctx)
{
    spl_meta *m = ctx;
    m->epoch = e;
    m->labels = spl_load_relaxed(&sl->labels);
    m->ctime_ns = spl_load_relaxed(&sl->ctime_ns);
    m->mtime_ns = spl_load_relaxed(&sl->mtime_ns);
    m->atime_ns = spl_load_relaxed(&sl->atime_ns);
    m->val_len = spl_load32_relaxed(&sl->val_len);
    m->type = spl_load8_relaxed(&sl->type);
    m->user_flags = spl_load8_relaxed(&sl->user_flags);
    m->slot = (uint32_t)(((uint8_t *)sl - s->slots) / s->stride);
    m->watch = spl_load_relaxed(&s->watch[m->slot]);
    return m->val_len > s->val_max ? SPL_ECORRUPT : 0;
}

SPL_API int spl_meta_get(spl_store *s, const char *key, spl_meta *out)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    if (rc)
        return rc;
    if (!out)
        return SPL_EINVAL;
    rc = spl__find(s, &k, spl__rd_meta, out);
    return rc < 0 ? rc : 0;
}

static int spl__rd_view(struct spl_store *s, struct spl_slot *sl, uint64_t e, void *ctx)
{
    spl_view *v = ctx;
    uint32_t vl = spl_load32_relaxed(&sl->val_len);
    if (vl > s->val_max)
        return SPL_ECORRUPT;
    v->data = spl__slot_val(s, sl);
    v->len = vl;
    v->epoch = e;
    v->slot = (uint32_t)(((uint8_t *)sl - s->slots) / s->stride);
    v->type = spl_load8_relaxed(&sl->type);
    return 0;
}

SPL_API int spl_view_get(spl_store *s, const char *key, spl_view *v)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    if (rc)
        return rc;
    if (!v)
        return SPL_EINVAL;
    rc = spl__find(s, &k, spl__rd_view, v);
    return rc < 0 ? rc : 0;
}

SPL_API int spl_view_valid(spl_store *s, const spl_view *v)
{
    if (!s || !v || v->slot >= s->nslots)
        return SPL_EINVAL;
    struct spl_slot *sl = spl__slot(s, v->slot);
    return spl__read_retry(sl, v->epoch) ? SPL_ESTALE : 0;
}

struct spl__with_ctx {
    spl_read_fn fn;
    void *ud;
    int result;
};

static int spl__rd_with(struct spl_store *s, struct spl_slot *sl, uint64_t e, void *ctx)
{
    struct spl__with_ctx *c = ctx;
    (void)e;
    uint32_t vl = spl_load32_relaxed(&sl->val_len);
    if (vl > s->val_max)
        return SPL_ECORRUPT;
    c->result = c->fn(spl__slot_val(s, sl), vl, c->ud);
    return 0;
}

SPL_API int spl_read_with(spl_store *s, const char *key, spl_read_fn fn, void *ud)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    if (rc)
        return rc;
    if (!fn)
        return SPL_EINVAL;
    struct spl__with_ctx c = {fn, ud, 0};
    rc = spl__find(s, &k, spl__rd_with, &c);
    return rc < 0 ? rc : c.result;
}

/* ---- unset -------------------------------------------------------------- */

SPL_API int spl_unset(spl_store *s, const char *key)
{
    struct spl__key k;
    int rc = spl__key_prep_w(s, key, &k);
    if (rc)
        return rc;
    int i = spl__find_locked(s, &k);
    if (i < 0)
        return i;
    struct spl_slot *sl = spl__slot(s, (uint32_t)i);
    struct spl__note note;
    spl__note_take(s, (uint32_t)i, sl, &note);
    note.kind = SPL_EV_DELETED;
    uint64_t odd = spl__write_begin(sl);
    /* key_len 0: readers that saw the LIVE tag must not match a freed
     * slot.  The key bytes stay, and gone_len keeps their length, so the
     * change feed can name the deleted key while the epoch still matches. */
    spl_store16_relaxed(&sl->gone_len, (uint16_t)spl_load32_relaxed(&sl->key_len));
    spl_store32_relaxed(&sl->key_len, 0);
    spl_store32_relaxed(&sl->val_len, 0);
    spl__slot_forget(s, (uint32_t)i, sl);
    /* Raise the epoch floor BEFORE the tag says FREE: an inserter that sees
     * the slot FREE (seq_cst) then also sees the raised floor, so a key
     * re-inserted elsewhere never shows an epoch it had (spin found the
     * other order wrong: docs/model). */
    spl__floor_raise(s, odd);
    spl__ix_set_tag(s, (uint32_t)i, 0); /* FREE before the epoch settles */
    spl__write_end(sl, odd);
    spl__unlock(sl);
    spl__bucket_sub(s, k.home);
    spl__note_send(s, &note);
    return 0;
}

/* ---- metadata writers --------------------------------------------------- */

enum { SPL__M_TYPE, SPL__M_FLAGS, SPL__M_LABELS_OR, SPL__M_LABELS_ANDNOT, SPL__M_ATIME,
       SPL__M_WATCH_OR, SPL__M_WATCH_ANDNOT };

static int spl__meta_write(spl_store *s, const char *key, int what, uint64_t arg)
{
    struct spl__key k;
    int rc = spl__key_prep_w(s, key, &k);
    if (rc)
        return rc;
    int i = spl__find_locked(s, &k);
    if (i < 0)
        return i;
    struct spl_slot *sl = spl__slot(s, (uint32_t)i);
    if (what == SPL__M_WATCH_OR || what == SPL__M_WATCH_ANDNOT) {
        /* the watch mask is not slot data: no epoch move, no pulse */
        uint64_t w = spl_load_relaxed(&s->watch[i]);
        spl_store_relaxed(&s->watch[i], what == SPL__M_WATCH_OR ? w | arg : w & ~arg);
        spl__unlock(sl);
        return 0;
    }
    uint64_t now = what == SPL__M_ATIME ? spl__now() : 0;
    struct spl__note note;
    spl__note_take(s, (uint32_t)i, sl, &note); /* groups of the labels before */
    uint64_t odd = spl__write_begin(sl);
    uint64_t l = spl_load_relaxed(&sl->labels);
    switch (what) {
    case SPL__M_TYPE: spl_store8_relaxed(&sl->type, (uint8_t)arg); break;
    case SPL__M_FLAGS: spl_store8_relaxed(&sl->user_flags, (uint8_t)arg); break;
    case SPL__M_LABELS_OR: spl_store_relaxed(&sl->labels, l | arg); break;
    case SPL__M_LABELS_ANDNOT: spl_store_relaxed(&sl->labels, l & ~arg); break;
    default: spl_store_relaxed(&sl->atime_ns, now); break;
    }
    spl__write_end(sl, odd);
    if (what == SPL__M_LABELS_OR || what == SPL__M_LABELS_ANDNOT) /* a key leaving a
        class, or joining one, pulses the groups of both */
        note.groups |= spl__groups_followed(s, (uint32_t)i, spl_load_relaxed(&sl->labels));
    spl__unlock(sl);
    if (what != SPL__M_ATIME)
        spl__note_send(s, &note);
    return 0;
}

SPL_API int spl_type_set(spl_store *s, const char *key, spl_type type)
{
    if ((unsigned)type >= SPL__T_COUNT)
        return SPL_EINVAL;
    return spl__meta_write(s, key, SPL__M_TYPE, (uint64_t)type);
}
SPL_API int spl_flags_set(spl_store *s, const char *key, uint8_t f) { return spl__meta_write(s, key, SPL__M_FLAGS, f); }
SPL_API int spl_labels_set(spl_store *s, const char *key, uint64_t m) { return spl__meta_write(s, key, SPL__M_LABELS_OR, m); }
SPL_API int spl_labels_clear(spl_store *s, const char *key, uint64_t m) { return spl__meta_write(s, key, SPL__M_LABELS_ANDNOT, m); }
SPL_API int spl_touch(spl_store *s, const char *key) { return spl__meta_write(s, key, SPL__M_ATIME, 0); }
SPL_API int spl_watch(spl_store *s, const char *key, uint64_t g) { return spl__meta_write(s, key, SPL__M_WATCH_OR, g); }
SPL_API int spl_unwatch(spl_store *s, const char *key, uint64_t g) { return spl__meta_write(s, key, SPL__M_WATCH_ANDNOT, g); }

/* ---- signal helpers (called from signal.c) ------------------------------ */

/* The key of slot idx as it was at a feed entry (fingerprint fp, epoch):
 * the live key with that fingerprint, or the deleted key whose bytes the
 * slot keeps while its epoch has not moved.  SPL_ENOENT if the slot has
 * moved on, SPL_EAGAIN if a writer is inside, SPL_ENOBUFS if cap is short. */
int spl__feed_key(struct spl_store *s, uint32_t idx, uint64_t fp, uint64_t epoch, char *key, size_t cap,
                  size_t *len)
{
    struct spl_slot *sl = spl__slot(s, idx);
    for (int t = 0; t < SPL__READ_TRIES; t++) {
        uint64_t e1 = spl__read_begin(sl);
        if (e1 & 1)
            continue;
        uint64_t w = spl_load_acquire(&s->index[idx]);
        int live = spl_ix_state(w) == SPL_IX_LIVE && (w & SPL_IX_FP_MASK) == fp;
        int gone = spl_ix_state(w) == SPL_IX_FREE && e1 == epoch;
        uint32_t kl = live ? spl_load32_relaxed(&sl->key_len) : spl_load16_relaxed(&sl->gone_len);
        int same = live || gone;
        if (kl == 0 || kl > s->key_max) /* untrusted */
            same = 0;
        if (same && kl + 1 > cap) {
            if (spl__read_retry(sl, e1))
                continue;
            *len = kl;
            return SPL_ENOBUFS;
        }
        if (same)
            spl__copy_out(key, spl__slot_key(sl), kl);
        if (spl__read_retry(sl, e1))
            continue;
        if (!same)
            return SPL_ENOENT;
        key[kl] = 0;
        *len = kl;
        return 0;
    }
    return SPL_EAGAIN;
}

SPL_API int spl_bump(spl_store *s, const char *key)
{
    struct spl__key k;
    int rc = spl__key_prep_w(s, key, &k);
    if (rc)
        return rc;
    spl_meta m;
    int i = spl__find(s, &k, spl__rd_meta, &m);
    if (i < 0)
        return i;
    struct spl__note note = {spl__groups_followed(s, (uint32_t)i, m.labels), m.epoch, k.fp, (uint32_t)i,
                             SPL_EV_BUMPED};
    spl__note_send(s, &note);
    return 0;
}

/* ---- integer ops -------------------------------------------------------- */

#define SPL__INT_TIMEOUT_NS (10ull * 1000 * 1000 * 1000)

static uint64_t spl__apply(spl_int_op op, uint64_t v, uint64_t x)
{
    switch (op) {
    case SPL_OP_ADD: return v + x;
    case SPL_OP_AND: return v & x;
    case SPL_OP_OR: return v | x;
    case SPL_OP_XOR: return v ^ x;
    default: return ~v;
    }
}

/* Retried inside until done (spinning, then sleeping on the busy slot:
 * src/wait.c): contention is never returned.  Only a slot held
 * for 10 s by a live process (a stopped or hostile peer) ends it, with
 * SPL_ETIMEDOUT. */
SPL_API int spl_int(spl_store *s, const char *key, spl_int_op op, uint64_t operand, uint64_t *out)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    if (rc)
        return rc;
    if ((unsigned)op >= SPL__OP_COUNT)
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    struct spl__contend cw;
    spl__contend_init(&cw, SPL__INT_TIMEOUT_NS);
    for (;;) {
        int i = spl__find_locked(s, &k);
        if (i >= 0) {
            struct spl_slot *sl = spl__slot(s, (uint32_t)i);
            uint8_t t = spl_load8_relaxed(&sl->type);
            if (spl_load32_relaxed(&sl->val_len) != 8 || (t != SPL_T_INT64 && t != SPL_T_UINT64)) {
                spl__unlock(sl);
                return SPL_ETYPE;
            }
            uint64_t *vp = (uint64_t *)(void *)spl__slot_val(s, sl);
            uint64_t now = spl__now();
            struct spl__note note;
            spl__note_take(s, (uint32_t)i, sl, &note);
            uint64_t odd = spl__write_begin(sl);
            uint64_t v = spl__apply(op, spl_load_relaxed(vp), operand);
            spl_store_relaxed(vp, v);
            spl_store_relaxed(&sl->mtime_ns, now);
            spl__write_end(sl, odd);
            spl__unlock(sl);
            spl__note_send(s, &note);
            if (out)
                *out = v;
            return 0;
        }
        if (i == SPL_ENOENT) {
            uint64_t v = spl__apply(op, 0, operand);
            struct spl__newval nv = {&v, 8, SPL_T_INT64};
            rc = spl__insert(s, &k, &nv);
            if (rc == 0 && out)
                *out = v;
            if (rc != SPL_EAGAIN && rc != SPL__RETRY)
                return rc;
        } else if (i != SPL_EAGAIN) {
            return i;
        }
        if (spl__contend_pause(s, key, 1, &cw))
            return SPL_ETIMEDOUT;
    }
}

SPL_API int spl_add(spl_store *s, const char *key, int64_t delta, int64_t *out)
{
    uint64_t v;
    int rc = spl_int(s, key, SPL_OP_ADD, (uint64_t)delta, &v);
    if (rc == 0 && out)
        *out = (int64_t)v;
    return rc;
}
SPL_API int spl_inc(spl_store *s, const char *key, int64_t *out) { return spl_add(s, key, 1, out); }
SPL_API int spl_dec(spl_store *s, const char *key, int64_t *out) { return spl_add(s, key, -1, out); }

/* ---- bounded-retry helpers ---------------------------------------------- */

/* Retry SPL_EAGAIN until timeout_us: spin, yield, then sleep on the busy
 * slot until its writer commits (src/wait.c). */
#define SPL__WAIT(s, key, write, call, timeout_us)                                    \
    do {                                                                              \
        struct spl__contend c_;                                                       \
        spl__contend_init(&c_, (uint64_t)(timeout_us)*1000);                          \
        for (;;) {                                                                    \
            int rc_ = (call);                                                         \
            if (rc_ != SPL_EAGAIN || spl__contend_pause((s), (key), (write), &c_))    \
                return rc_;                                                           \
        }                                                                             \
    } while (0)

SPL_API int spl_set_wait(spl_store *s, const char *key, const void *val, size_t len, uint32_t timeout_us)
{
    SPL__WAIT(s, key, 1, spl_set(s, key, val, len), timeout_us);
}
SPL_API int spl_get_wait(spl_store *s, const char *key, void *buf, size_t cap, size_t *len_out,
                         uint32_t timeout_us)
{
    SPL__WAIT(s, key, 0, spl_get(s, key, buf, cap, len_out), timeout_us);
}
SPL_API int spl_unset_wait(spl_store *s, const char *key, uint32_t timeout_us)
{
    SPL__WAIT(s, key, 1, spl_unset(s, key), timeout_us);
}

/* ---- info and iteration ------------------------------------------------- */

SPL_API int spl_info_get(spl_store *s, spl_info *out)
{
    if (!s || !out)
        return SPL_EINVAL;
    memset(out, 0, sizeof *out);
    out->geom = (spl_geometry){s->nslots, s->key_max, s->val_max, s->vec_dim};
    out->backing = s->backing;
    out->probe_max = s->probe_max;
    out->slot_stride = s->stride;
    out->region_bytes = s->map_bytes;
    uint64_t used = 0, homes = 0, window_sum = 0;
    for (uint32_t i = 0; i < s->nslots; i++) {
        uint64_t w = spl_load_relaxed(&s->index[i]);
        used += spl_ix_state(w) == SPL_IX_LIVE;
        if (spl_ix_cnt(w)) {
            uint32_t md = spl__maxdist(s, w);
            homes++;
            window_sum += md + 1;
            if (md + 1 > out->probe_longest)
                out->probe_longest = md + 1;
        }
    }
    out->used = used;
    out->probe_mean = homes ? (double)window_sum / (double)homes : 0;
    out->load = (double)used / s->nslots;
    out->recoveries = spl_load_relaxed(&s->hdr->recoveries);
    out->changes = spl__changes(s);
    out->features = SPL_FEATURES;
    out->read_only = s->rdonly;
    out->cell_stride = s->cell_stride;
    uint64_t high = spl_load_relaxed(&s->hdr->cell_high);
    out->cells_high = (uint32_t)(high < s->ncells ? high : s->ncells); /* untrusted */
    return 0;
}

static int spl__filter_ok(const spl_filter *f, const char *key, size_t klen, uint64_t labels)
{
    if (!f)
        return 1;
    if (f->prefix) {
        size_t pl = strlen(f->prefix);
        if (pl > klen || memcmp(key, f->prefix, pl) != 0)
            return 0;
    }
    if (f->glob && fnmatch(f->glob, key, 0) != 0)
        return 0;
    if (f->labels) {
        if (f->flags & SPL_F_LABELS_ANY) {
            if (!(labels & f->labels))
                return 0;
        } else if ((labels & f->labels) != f->labels) {
            return 0;
        }
    }
    return 1;
}

SPL_API int spl_foreach(spl_store *s, const spl_filter *f, spl_iter_fn fn, void *ud)
{
    if (!s || !fn)
        return SPL_EINVAL;
    int want_val = f && (f->flags & SPL_F_VALUES);
    char *key = malloc((size_t)s->key_max + 8);
    void *val = want_val ? malloc((size_t)s->val_max + 8) : NULL;
    int rc = 0;
    if (!key || (want_val && !val)) {
        rc = SPL_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < s->nslots && rc == 0; i++) {
        if (spl_ix_state(spl_load_acquire(&s->index[i])) != SPL_IX_LIVE)
            continue;
        struct spl_slot *sl = spl__slot(s, i);
        spl_entry e;
        int ok = 0;
        for (int t = 0; t < 64 && !ok; t++) {
            uint64_t e1 = spl__read_begin(sl);
            if (e1 & 1) {
                spl__contended(s, i);
                spl_cpu_relax();
                continue;
            }
            uint32_t kl = spl_load32_relaxed(&sl->key_len);
            if (kl == 0 || kl > s->key_max) {
                if (!spl__read_retry(sl, e1))
                    break; /* freed meanwhile (or corrupt): skip */
                continue;
            }
            spl__copy_out(key, spl__slot_key(sl), kl);
            key[kl] = 0;
            spl__rd_meta(s, sl, e1, &e.meta);
            if (want_val && e.meta.val_len <= s->val_max)
                spl__copy_out(val, spl__slot_val(s, sl), e.meta.val_len);
            if (spl__read_retry(sl, e1))
                continue;
            if (e.meta.val_len > s->val_max || strlen(key) != kl)
                break; /* corrupt slot: skip it */
            ok = 1;
            e.key = key;
            e.key_len = kl;
        }
        if (!ok || !spl__filter_ok(f, key, e.key_len, e.meta.labels))
            continue;
        e.val = want_val ? val : NULL;
        rc = fn(&e, ud);
    }
out:
    free(key);
    free(val);
    return rc;
}

/* ==== entry points for src/vec.c (vectors issue; declared in internal.h) ====
 * Kept at the end of this file so the slot protocol above stays in one
 * piece; these only wrap it. */

int spl__key_lock(struct spl_store *s, const char *key, int create)
{
    struct spl__key k;
    int rc = spl__key_prep_w(s, key, &k);
    if (rc)
        return rc;
    for (int attempt = 0; attempt < 4; attempt++) {
        int i = spl__find_locked(s, &k);
        if (i >= 0 || i != SPL_ENOENT || !create)
            return i;
        struct spl__newval nv = {"", 0, SPL_T_VOID};
        rc = spl__insert(s, &k, &nv);
        if (rc != 0 && rc != SPL__RETRY)
            return rc;
    }
    return SPL_EAGAIN;
}

int spl__key_read(struct spl_store *s, const char *key, spl__read_fn fn, void *ctx)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    if (rc)
        return rc;
    return spl__find(s, &k, fn, ctx);
}

void spl__slot_unlock(struct spl_slot *sl) { spl__unlock(sl); }

int spl__slot_busy(struct spl_store *s, uint32_t i) { return spl__contended(s, i); }

/* ==== entry point for src/wait.c (contention sleeps) ==== */

int spl__busy_slot(struct spl_store *s, const char *key, int write, uint64_t *epoch)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    if (rc)
        return rc;
    uint64_t w = spl_load_acquire(&s->index[k.home]);
    uint32_t md = spl__maxdist(s, w);
    for (uint32_t d = 0;;) {
        uint64_t tag = w & SPL_IX_TAG_MASK;
        if (tag == (k.fp | SPL_IX_LIVE) || (write && tag == (k.fp | SPL_IX_PENDING))) {
            uint32_t i = spl__probe_at(s, k.home, d);
            struct spl_slot *sl = spl__slot(s, i);
            /* seq_cst: a sleeper counted itself in kwait before this look */
            uint64_t e = spl_load_seqcst(&sl->epoch);
            if ((e & 1) || (write && spl_load_seqcst(&sl->owner))) {
                *epoch = e;
                return spl__contended(s, i) ? SPL_ENOENT : (int)i;
            }
        }
        if (++d > md)
            break;
        w = spl_load_acquire(&s->index[spl__probe_at(s, k.home, d)]);
    }
    return SPL_ENOENT;
}
