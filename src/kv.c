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
#include "place.h"

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

__attribute__((noinline)) void spl__copy_bulk(void *dst, const void *src, size_t n)
{
    memcpy(dst, src, n); /* why this is sound: internal.h, "copies" */
}

static inline uint64_t spl__now(void) { return spl__clock_ns(CLOCK_REALTIME_COARSE); }

/* ---- index word updates (all CAS loops: bucket and tag share a word) ---- */

/* Replace word p's tag (state, slot, fingerprint), keeping its bucket.  Only
 * the holder of the slot a word names changes that word's tag; a FREE word
 * is taken by CAS (spl__insert). */
static inline void spl__ix_set_tag(struct spl_store *s, uint32_t p, uint64_t tag)
{
    uint64_t *w = &s->index[p];
    uint64_t v = spl_load_relaxed(w);
    while (!spl_cas_seqcst(w, &v, (v & SPL_IX_BUCKET_MASK) | tag))
        ;
}

/* Word w with one more key homed there (inc) and its probe bound widened
 * to d. */
static inline uint64_t spl__bucket_plus(uint64_t w, uint32_t d, int inc)
{
    uint64_t cnt = spl_ix_cnt(w), dist = spl_ix_dist(w);
    if (inc && cnt < SPL_IX_CNT_MAX)
        cnt++; /* saturates: a saturated bucket never shrinks (safe) */
    if (d > dist)
        dist = d;
    return (w & ~SPL_IX_BUCKET_MASK) | (cnt << SPL_IX_CNT_SHIFT) | (dist << SPL_IX_DIST_SHIFT);
}

static void spl__bucket_add(struct spl_store *s, uint32_t home, uint32_t d, int inc)
{
    uint64_t *p = &s->index[home];
    uint64_t w = spl_load_relaxed(p);
    while (!spl_cas_seqcst(p, &w, spl__bucket_plus(w, d, inc)))
        ;
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

/* The slot a word names, or nslots if the word is corrupt. */
static inline uint32_t spl__ix_slot(const struct spl_store *s, uint64_t w)
{
    uint32_t j = spl_ix_slot(w);
    return j < s->nslots ? j : s->nslots;
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

/* ---- slots: what links them, freeing them ------------------------------- */

/* Caller holds the slot: drop what belongs to the key that leaves it (or
 * to the one an earlier key left): labels, watches, vector. */
static inline void spl__slot_forget(struct spl_store *s, uint32_t i, struct spl_slot *sl)
{
    spl_store_relaxed(&sl->labels, 0);
    spl_store_relaxed(&s->watch[i], 0);
    spl__vec_release(s, i, sl);
}

/* Caller holds slot j inside its write section (odd epoch `odd`): the slot
 * holds no key any more. */
static void spl__slot_clear(struct spl_store *s, uint32_t j, struct spl_slot *sl, uint64_t odd)
{
    spl__floor_raise(s, odd); /* before anyone can take the slot: see spl_unset */
    spl_store32_relaxed(&sl->key_len, 0);
    spl_store32_relaxed(&sl->val_len, 0);
    spl__slot_forget(s, j, sl);
}

/* The index word naming slot j (held by the caller) for the key in it: its
 * state (PENDING or LIVE; anything but FREE a peer may have written) and
 * position *pos, or FREE if no word names j.  The key is the link: an
 * insert writes it before a word names the slot, and a delete clears it
 * only after no word does, so hashing it finds the word. */
static uint64_t spl__slot_link(struct spl_store *s, uint32_t j, struct spl_slot *sl, uint32_t *pos)
{
    uint32_t kl = spl_load32_relaxed(&sl->key_len);
    if (kl == 0 || kl > s->key_max) /* untrusted */
        return SPL_IX_FREE;
    char key[SPL_KEY_MAX_LIMIT + 8];
    spl__copy_out(key, spl__slot_key(sl), kl);
    uint64_t h = spl__hash(key, kl, s->seed);
    uint32_t home = spl__home_of(s, h);
    uint64_t want = spl_ix_tag(spl_ix_fp(h), j, 0);
    for (uint32_t d = 0; d <= s->probe_max; d++) {
        uint32_t p = spl__probe_at(s, home, d);
        uint64_t w = spl_load_seqcst(&s->index[p]);
        if (spl_ix_state(w) != SPL_IX_FREE && (w & ~(SPL_IX_BUCKET_MASK | SPL_IX_STATE_MASK)) == want) {
            *pos = p;
            return spl_ix_state(w);
        }
    }
    return SPL_IX_FREE;
}

/* ---- undo records ------------------------------------------------------- */

static inline struct spl_undo *spl__undo_at(const struct spl_store *s, uint32_t r)
{
    return (struct spl_undo *)(void *)(s->undo + (size_t)r * s->undo_stride);
}

#define SPL__NO_EPOCH (~0ull)

/* Caller holds slot j.  Put back what the record armed for j's write from
 * even epoch `even` saved (if any), and disarm every record of j: only
 * j's holder arms one, so the others are leftovers of writers that died
 * before or after their write section. */
static void spl__undo_settle(struct spl_store *s, uint32_t j, struct spl_slot *sl, uint64_t even)
{
    for (uint32_t r = 0; r < s->nundo; r++) {
        struct spl_undo *u = spl__undo_at(s, r);
        if (spl_load_relaxed(&u->armed) != (uint64_t)j + 1)
            continue;
        /* acquire fence (the caller's, in spl__repair) pairs with the
         * release fence in spl__undo_arm: the record is whole */
        uint32_t what = spl_load32_relaxed(&u->what);
        if (spl_load_relaxed(&u->epoch) == even) {
            uint32_t vl = spl_load32_relaxed(&u->val_len);
            if ((what & SPL_UNDO_VAL) && vl <= s->val_max) { /* untrusted */
                spl__copy_shared(spl__slot_val(s, sl), spl__undo_val(u), vl);
                spl_store32_relaxed(&sl->val_len, vl);
                spl_store8_relaxed(&sl->type, spl_load8_relaxed(&u->type));
                spl_store_relaxed(&sl->mtime_ns, spl_load_relaxed(&u->mtime_ns));
            }
            if (what & SPL_UNDO_VEC)
                spl__vec_undo_restore(s, j, sl, u);
        }
        /* a CAS, not a store: a writer that took this record back from its
         * dead owner since our load may have armed it for its own slot
         * (spin found the store wiping that arming: docs/model) */
        uint64_t a = (uint64_t)j + 1;
        spl_cas_seqcst(&u->armed, &a, 0);
    }
}

/* Give back records whose writer died, except one still armed for a
 * write its slot has not been recovered from (that slot's recovery needs
 * it: nudge it along). */
static void spl__undo_reclaim(struct spl_store *s)
{
    for (uint32_t r = 0; r < s->nundo; r++) {
        struct spl_undo *u = spl__undo_at(s, r);
        uint64_t o = spl_load_relaxed(&u->owner);
        if (!o || spl__owner_alive(o))
            continue;
        uint64_t a = spl_load_seqcst(&u->armed);
        if (a && a <= s->nslots) {
            struct spl_slot *sl = spl__slot(s, (uint32_t)(a - 1));
            uint64_t e = spl_load_seqcst(&sl->epoch);
            if ((e & 1) && e == spl_load_relaxed(&u->epoch) + 1) {
                spl__slot_busy(s, (uint32_t)(a - 1));
                continue;
            }
        }
        if (spl_cas_seqcst(&u->owner, &o, spl__owner_id())) {
            spl_store_relaxed(&u->armed, 0);
            spl_store_release(&u->owner, 0);
        }
    }
}

/* ---- undo records, kept per thread -------------------------------------
 * Claiming a record is a CAS on its owner: a locked instruction, as dear as
 * the slot lock itself.  So a thread keeps the record it claimed (for this
 * process, through one handle) and the next overwrite uses it with plain
 * loads and stores.  The handle lists what it claimed (ucache, at most
 * SPL__UCACHE) and which of those no thread holds (ufree); a thread gives
 * its record back when it writes through another handle or exits, and
 * spl_close gives all of them back.  Past SPL__UCACHE writer threads, a
 * write takes a record and gives it back (spl__undo_done).  A forked child
 * finds the records it inherited owned by its parent, and claims its own.
 * Handles that kept records are in a registry, so that a thread's exit can
 * tell whether the handle it wrote through is still open. */

static pthread_mutex_t spl__ureg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct spl_store *spl__ureg; /* linked by unext */
static uint64_t spl__ugen;
static pthread_key_t spl__ukey;
static pthread_once_t spl__uonce = PTHREAD_ONCE_INIT;
/* initial-exec: a plain %fs-relative load in libsplinter.so too, where the
 * default model called __tls_get_addr on every overwrite (spl__set_fast);
 * 24 bytes, in the static TLS surplus glibc keeps for libraries loaded with
 * dlopen, as spl__stripe_plus1 (internal.h) */
static _Thread_local struct {
    struct spl_store *s;
    uint64_t gen;
    uint32_t slot; /* index into s->ucache */
} spl__utl __attribute__((tls_model("initial-exec")));

/* Give the calling thread's kept record back to its handle, if that handle
 * is still open. */
static void spl__utl_give_back(void)
{
    struct spl_store *s = spl__utl.s;
    if (!s)
        return;
    pthread_mutex_lock(&spl__ureg_mu);
    for (struct spl_store *h = spl__ureg; h; h = h->unext)
        if (h == s && h->ugen == spl__utl.gen) {
            pthread_mutex_lock(&h->umu);
            h->ufree |= 1u << spl__utl.slot;
            pthread_mutex_unlock(&h->umu);
            break;
        }
    pthread_mutex_unlock(&spl__ureg_mu);
    spl__utl.s = NULL;
}

static void spl__utl_exit(void *unused)
{
    (void)unused;
    spl__utl_give_back();
}

/* fork: the child gets the registry lock free and the parent's records
 * (owned by the parent) out of its handles' caches. */
static void spl__ureg_prepare(void) { pthread_mutex_lock(&spl__ureg_mu); }
static void spl__ureg_parent(void) { pthread_mutex_unlock(&spl__ureg_mu); }
static void spl__ureg_child(void)
{
    pthread_mutex_init(&spl__ureg_mu, NULL);
    for (struct spl_store *h = spl__ureg; h; h = h->unext) {
        pthread_mutex_init(&h->umu, NULL);
        h->uheld = h->ufree = 0;
    }
    spl__utl.s = NULL;
}

static void spl__ureg_once(void)
{
    pthread_key_create(&spl__ukey, spl__utl_exit);
    pthread_atfork(spl__ureg_prepare, spl__ureg_parent, spl__ureg_child);
}

/* Claim a free record: owner 0 -> me.  Index, or nundo if none is free. */
static uint32_t spl__undo_claim(struct spl_store *s, uint64_t me)
{
    static _Thread_local uint32_t hint; /* where the last claim succeeded */
    uint32_t n = s->nundo, r = hint < n ? hint : 0;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t t = 0; t < n; t++, r = r + 1 < n ? r + 1 : 0) {
            struct spl_undo *c = spl__undo_at(s, r);
            uint64_t exp = 0;
            if (spl_load_relaxed(&c->owner) == 0 && spl_cas_acquire(&c->owner, &exp, me)) {
                hint = r;
                return r;
            }
        }
        if (pass == 0)
            spl__undo_reclaim(s);
    }
    return n;
}

/* The record the calling thread keeps for s, taking one (kept, or for this
 * write only) if it has none: NULL if every record is in use. */
static struct spl_undo *spl__undo_take(struct spl_store *s, uint64_t me)
{
    if (spl__utl.s == s && spl__utl.gen == s->ugen) {
        struct spl_undo *u = spl__undo_at(s, s->ucache[spl__utl.slot]);
        if (spl_load_relaxed(&u->owner) == me)
            return u;
        spl__utl.s = NULL; /* inherited across fork: the parent's */
    }
    spl__utl_give_back();
    pthread_once(&spl__uonce, spl__ureg_once);
    pthread_mutex_lock(&spl__ureg_mu);
    if (!s->ugen) { /* first kept record: register the handle */
        pthread_mutex_init(&s->umu, NULL);
        s->ugen = ++spl__ugen;
        s->unext = spl__ureg;
        spl__ureg = s;
    }
    pthread_mutex_unlock(&spl__ureg_mu);
    pthread_mutex_lock(&s->umu);
    uint32_t slot = SPL__UCACHE;
    if (s->ufree)
        slot = (uint32_t)__builtin_ctz(s->ufree);
    else if (s->uheld < SPL__UCACHE) {
        uint32_t r = spl__undo_claim(s, me);
        if (r < s->nundo) {
            slot = s->uheld++;
            s->ucache[slot] = r;
        }
    }
    if (slot < SPL__UCACHE) {
        s->ufree &= ~(1u << slot);
        spl__utl.s = s;
        spl__utl.gen = s->ugen;
        spl__utl.slot = slot;
    }
    pthread_mutex_unlock(&s->umu);
    if (slot < SPL__UCACHE) {
        pthread_setspecific(spl__ukey, s); /* so that the thread's exit gives it back */
        return spl__undo_at(s, s->ucache[slot]);
    }
    /* more writer threads than the handle keeps records for: one for this write */
    uint32_t r = spl__undo_claim(s, me);
    return r < s->nundo ? spl__undo_at(s, r) : NULL;
}

void spl__undo_close(struct spl_store *s)
{
    if (!s->ugen)
        return;
    pthread_mutex_lock(&spl__ureg_mu);
    for (struct spl_store **p = &spl__ureg; *p; p = &(*p)->unext)
        if (*p == s) {
            *p = s->unext;
            break;
        }
    pthread_mutex_unlock(&spl__ureg_mu);
    uint64_t me = spl__owner_id();
    for (uint32_t j = 0; j < s->uheld; j++) {
        struct spl_undo *u = spl__undo_at(s, s->ucache[j]);
        uint64_t exp = me;
        spl_store_relaxed(&u->armed, 0);
        spl_cas_seqcst(&u->owner, &exp, 0); /* ours still (not a parent's) */
    }
    pthread_mutex_destroy(&s->umu);
    if (spl__utl.s == s)
        spl__utl.s = NULL;
}

/* A record's value state (its bytes are at spl__undo_val): the length,
 * type and mtime recovery gives the slot. */
static inline void spl__undo_val_head(struct spl_undo *u, uint32_t len, uint8_t type, uint64_t mtime)
{
    spl_store32_relaxed(&u->val_len, len);
    spl_store8_relaxed(&u->type, type);
    spl_store_relaxed(&u->mtime_ns, mtime);
}

/* A record's last stores: what it holds, the slot's epoch, armed on slot
 * i.  Release fence: the whole record before the odd epoch
 * spl__write_begin stores next; pairs with the acquire fence in
 * spl__repair, which saw that odd epoch. */
static inline void spl__undo_seal(struct spl_undo *u, uint32_t what, uint64_t epoch, uint32_t i)
{
    spl_store32_relaxed(&u->what, what);
    spl_store_relaxed(&u->epoch, epoch);
    spl_store_relaxed(&u->armed, (uint64_t)i + 1);
    spl_fence_release();
}

/* Fill record u (the caller's) with what slot i (held, epoch even) holds
 * now and arm it for i: spl__undo_arm's work once it has a record, inline
 * for spl_set's one pass. */
static inline __attribute__((always_inline)) void spl__undo_fill(struct spl_store *s, uint32_t i,
                                                                 struct spl_slot *sl, struct spl_undo *u,
                                                                 uint32_t what)
{
    uint32_t vl = spl_load32_relaxed(&sl->val_len);
    if (vl > s->val_max) /* corrupt: there is nothing whole to keep */
        what &= ~SPL_UNDO_VAL;
    if (what & SPL_UNDO_VAL) {
        spl__copy_shared(spl__undo_val(u), spl__slot_val(s, sl), vl);
        spl__undo_val_head(u, vl, spl_load8_relaxed(&sl->type), spl_load_relaxed(&sl->mtime_ns));
    }
    if (what & SPL_UNDO_VEC)
        spl__vec_undo_save(s, i, sl, u);
    spl__undo_seal(u, what, spl_load_relaxed(&sl->epoch), i);
}

struct spl_undo *spl__undo_arm(struct spl_store *s, uint32_t i, struct spl_slot *sl, uint32_t what)
{
    struct spl_undo *u = spl__undo_take(s, spl__owner_id());
    if (u)
        spl__undo_fill(s, i, sl, u, what);
    return u;
}

void spl__undo_done(struct spl_store *s, struct spl_undo *u)
{
    spl_store_relaxed(&u->armed, 0);
    if (spl__utl.s == s && spl__undo_at(s, s->ucache[spl__utl.slot]) == u)
        return; /* kept by this thread */
    spl_store_release(&u->owner, 0); /* a record for one write: pairs with the claim's CAS */
}

/* ---- ownership and recovery --------------------------------------------- */

/* Caller holds slot j, whose epoch e is odd: a write that never finished
 * (its writer died).  If a LIVE word names the slot, the key stays: a write that
 * armed an undo record (an overwrite in place) is put back from it; any
 * other write keeps the key whole at every step (one atomic store commits
 * it) and only ends.  Else (an insert that never committed, or a delete
 * that did) the slot is freed, with the insert's PENDING word.  Returns 1
 * if it found an interrupted write. */
static __attribute__((noinline)) int spl__repair_odd(struct spl_store *s, uint32_t j, struct spl_slot *sl,
                                                     uint64_t e)
{
    spl_fence_acquire(); /* pairs with the release fence in spl__undo_arm */
    uint32_t p = 0;
    uint64_t st = spl__slot_link(s, j, sl, &p);
#ifdef SPL_BROKEN_LOSSY
    /* deliberately broken build for tests/expect-fail.sh: the policy of
     * format 2, which freed every slot a writer died in */
    if (st == SPL_IX_LIVE)
        st = SPL_IX_PENDING;
#endif
    if (st == SPL_IX_LIVE) {
        spl__undo_settle(s, j, sl, e - 1);
    } else {
        if (st != SPL_IX_FREE)
            spl__ix_set_tag(s, p, 0);
        spl__slot_clear(s, j, sl, e);
        spl__undo_settle(s, j, sl, SPL__NO_EPOCH);
    }
    spl__write_end(sl, e);
    return 1;
}
/* Caller holds slot j: repair it if a write in it never finished (the
 * check inline, the repair out of line). */
static inline int spl__repair(struct spl_store *s, uint32_t j, struct spl_slot *sl)
{
    uint64_t e = spl_load_relaxed(&sl->epoch);
    return (e & 1) ? spl__repair_odd(s, j, sl, e) : 0;
}

static int spl__recover(struct spl_store *s, uint32_t i, uint64_t dead)
{
    struct spl_slot *sl = spl__slot(s, i);
    uint64_t exp = dead;
    /* acquire: pairs with nothing of the dead owner's (it never released);
     * the CAS only makes us the one recoverer. */
    if (!spl_cas_acquire(&sl->owner, &exp, spl__owner_id()))
        return 0;
    if (!spl__repair(s, i, sl)) {
        if (!dead) {
            /* seen unowned and odd, and now even: not abandoned, a writer
             * took the slot between spl__contended's two loads and was done
             * before our CAS (a recovery was counted where no process died:
             * tests/mp/stress under ASan with the other core busy) */
            spl_store_release(&sl->owner, 0);
            return 0;
        }
        spl__undo_settle(s, i, sl, SPL__NO_EPOCH); /* died outside a write section */
    }
    spl_fetch_add_relaxed(&s->hdr->recoveries, 1);
    spl_store_release(&sl->owner, 0);
    return 1;
}

/* Liveness checks are rate-limited per thread: a thread that meets a busy
 * slot checks its owner at most once per SPL_CHECK_NS.  A live owner costs
 * nothing but that check; a dead one is found on the first sighting after
 * the interval, whatever else the thread met in between. */
static _Thread_local uint64_t spl__last_check_ns;

static int spl__owner_check(struct spl_store *s, uint32_t i);

/* Called when slot i is busy.  Returns 1 if it recovered the slot. */
static int spl__contended(struct spl_store *s, uint32_t i)
{
    if (s->rdonly)
        return 0;
    uint64_t now = spl__clock_ns(CLOCK_MONOTONIC_COARSE);
    if (now - spl__last_check_ns < SPL_CHECK_NS)
        return 0;
    spl__last_check_ns = now;
    return spl__owner_check(s, i);
}

/* spl__contended without the rate limit: recover slot i if its writer is
 * dead.  Returns 1 if it recovered the slot. */
static int spl__owner_check(struct spl_store *s, uint32_t i)
{
    struct spl_slot *sl = spl__slot(s, i);
    uint64_t owner = spl_load_relaxed(&sl->owner);
    uint64_t epoch = spl_load_relaxed(&sl->epoch);
    /* Unowned and even is not stuck at all; unowned and odd is a write
     * nobody is finishing (only corruption makes one): take and settle it. */
    if (!owner && !(epoch & 1))
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
            spl__repair(s, i, sl);
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
    /* Most keys live in their natural slot: start its miss now, in
     * parallel with the index word's. */
    __builtin_prefetch(spl__slot(s, spl__natural(s, k->home)));
    /* acquire: pairs with the seq_cst CAS that published the LIVE tag */
    uint64_t w = spl_load_acquire(&s->index[k->home]);
    uint32_t md = spl__maxdist(s, w);
    int busy = 0;
    for (uint32_t d = 0;;) {
        uint32_t i;
        if ((w & SPL_IX_KEY_MASK) == want && (i = spl__ix_slot(s, w)) < s->nslots) {
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

/* Find k and lock its slot: returns the slot, SPL_ENOENT or SPL_EAGAIN, and
 * the position of the word naming it in *pos.  Writers skip the read-side
 * seqlock pass: they lock each slot a matching word names and check word
 * and key under the lock (a 14-bit fingerprint makes a wasted lock rare),
 * so the slot's lines are fetched once, for writing. */
static int spl__find_locked(struct spl_store *s, const struct spl__key *k, uint32_t *pos)
{
    const uint64_t want = k->fp | SPL_IX_LIVE;
    __builtin_prefetch(spl__slot(s, spl__natural(s, k->home)), 1);
    uint64_t w = spl_load_acquire(&s->index[k->home]); /* pairs as in spl__find */
    uint32_t md = spl__maxdist(s, w);
    int busy = 0;
    for (uint32_t d = 0;;) {
        uint32_t i, p = spl__probe_at(s, k->home, d);
        if ((w & SPL_IX_KEY_MASK) == want && (i = spl__ix_slot(s, w)) < s->nslots) {
            if (spl__lock(s, i) != 0) {
                busy = 1;
            } else {
                struct spl_slot *sl = spl__slot(s, i);
                if ((spl_load_seqcst(&s->index[p]) & SPL_IX_TAG_MASK) == (w & SPL_IX_TAG_MASK) &&
                    spl_load32_relaxed(&sl->key_len) == k->len && spl__key_equal(sl, k)) {
                    if (pos)
                        *pos = p;
                    return (int)i;
                }
                spl__unlock(sl);
            }
        }
        if (++d > md)
            break;
        w = spl_load_acquire(&s->index[spl__probe_at(s, k->home, d)]);
    }
    return busy ? SPL_EAGAIN : SPL_ENOENT;
}

/* Word p (seen as w) is PENDING, or in a state no writer writes, naming
 * slot x.  A PENDING word is an insert's only while that insert holds x
 * inside its write section: one naming a settled slot is the leftover of
 * an inserter that died (if its key did not lead recovery to it) or a
 * peer's garbage.  Take x (the caller may hold it already: self) and drop
 * such a word.  Returns 1 if the word is gone, 0 if x is busy. */
static int spl__ix_scrub(struct spl_store *s, uint32_t p, uint64_t w, uint32_t self)
{
    uint32_t x = spl__ix_slot(s, w);
    if (x >= s->nslots || x == self) /* nobody else can hold x */
        return spl_cas_seqcst(&s->index[p], &w, w & SPL_IX_BUCKET_MASK) ||
               (w & SPL_IX_TAG_MASK) == 0;
    struct spl_slot *sl = spl__slot(s, x);
    uint64_t exp = 0;
    if (!spl_cas_acquire(&sl->owner, &exp, spl__owner_id())) /* pairs with spl__unlock */
        return spl__contended(s, x);
    spl__repair(s, x, sl);
    uint64_t cur = spl_load_seqcst(&s->index[p]);
    while ((cur & SPL_IX_TAG_MASK) == (w & SPL_IX_TAG_MASK) &&
           !spl_cas_seqcst(&s->index[p], &cur, cur & SPL_IX_BUCKET_MASK))
        ;
    spl__unlock(sl);
    return 1;
}

/* ---- insert ------------------------------------------------------------- */

struct spl__newval {
    const void *val;
    size_t len;
    uint8_t type;
};

/* Take a free slot for a key homed at `home`: its natural slot first, then
 * the next ones, wrapping, until every slot was looked at.  Returns the
 * slot, held, holding no key; SPL_EFULL if every slot holds a key, or
 * SPL_EAGAIN if one was busy (it may be free once its writer is done). */
static __attribute__((noinline)) int spl__slot_claim(struct spl_store *s, uint32_t home)
{
    uint64_t me = spl__owner_id();
    uint32_t j = spl__natural(s, home);
    int busy = 0;
    for (uint32_t n = 0; n < s->nslots; n++, j = j + 1 < s->nslots ? j + 1 : 0) {
        struct spl_slot *sl = spl__slot(s, j);
        /* a quick look first: a key in a settled slot stays (the lock decides) */
        if (spl_load32_relaxed(&sl->key_len) && !(spl_load_relaxed(&sl->epoch) & 1))
            continue;
        uint64_t exp = 0;
        if (!spl_cas_acquire(&sl->owner, &exp, me)) { /* pairs with spl__unlock */
            busy = 1;
            spl__contended(s, j);
            continue;
        }
        spl__repair(s, j, sl);
        if (spl_load32_relaxed(&sl->key_len) == 0)
            return (int)j;
        spl__unlock(sl);
    }
    return busy ? SPL_EAGAIN : SPL_EFULL;
}

/* spl__slot_claim's common case inline: a free, settled slot among the
 * natural one and the few after it, taken at the first try.  Anything
 * else (a busy or unsettled slot on the way, none free nearby) goes to
 * spl__slot_claim, which starts over having taken nothing.  j and *out:
 * the natural slot of home, its index and address; *out: the slot taken. */
#define SPL__CLAIM_NEAR 8
static inline __attribute__((always_inline)) int spl__slot_claim_near(struct spl_store *s, uint32_t home,
                                                                      uint64_t me, uint32_t j,
                                                                      struct spl_slot **out)
{
    uint32_t end = s->nslots - j > SPL__CLAIM_NEAR ? j + SPL__CLAIM_NEAR : s->nslots;
    struct spl_slot *sl = *out;
    for (; j < end; j++, sl = (struct spl_slot *)(void *)((uint8_t *)sl + s->stride)) {
        uint64_t e = spl_load_relaxed(&sl->epoch);
        if (spl_load32_relaxed(&sl->key_len) && !(e & 1))
            continue; /* holds a key: the lock decides, as in spl__slot_claim */
        /* A free, settled slot is taken.  One whose write never settles
         * (odd) goes to spl__slot_claim, which checks whether its writer
         * died and repairs it: inserts passing over the slot of a dead
         * writer are what recovers it (and the cell it may hold) when
         * nobody looks the key up (tests/mp/vectorn.c filled a store to
         * its last slot after 300 kills, and found one cell short when
         * these passed such a slot by). */
        uint64_t exp = 0;
        if (!(e & 1) && spl_cas_acquire(&sl->owner, &exp, me)) {
            /* still free and settled under the lock (pairs with spl__unlock) */
            if (!(spl_load_relaxed(&sl->epoch) & 1) && spl_load32_relaxed(&sl->key_len) == 0) {
                *out = sl;
                return (int)j;
            }
            spl__unlock(sl);
        }
        break;
    }
    int rc = spl__slot_claim(s, home);
    if (rc >= 0)
        *out = spl__slot(s, (uint32_t)rc);
    return rc;
}

/* An insert between its steps: the slot it holds, the index word it took,
 * the slot's odd epoch, and the change it will announce. */
struct spl__ins {
    struct spl_slot *sl;
    uint32_t i, p;
    uint64_t odd;
    struct spl__note note;
};

/* Undo an insert that took slot in->i (and maybe a word): the slot holds no
 * key again, its write section ends, and it is given back. */
static void spl__ins_release(struct spl__ins *in)
{
    spl_store32_relaxed(&in->sl->key_len, 0);
    spl_store32_relaxed(&in->sl->val_len, 0);
    spl__write_end(in->sl, in->odd);
    spl__unlock(in->sl);
}

/* Step 2 of an insert, in general: take the first FREE index word from
 * k's home on, PENDING, naming slot in->i, and count the key at home.  A
 * word neither FREE nor LIVE is scrubbed if no insert owns it.  On
 * failure the slot is released.  Returns 0, SPL_EFULL or SPL_EAGAIN. */
static __attribute__((noinline)) int spl__ins_take(struct spl_store *s, const struct spl__key *k,
                                                   struct spl__ins *in)
{
    const uint64_t pending = spl_ix_tag(k->fp, in->i, SPL_IX_PENDING);
    int skipped = 0;
    uint32_t d, p = 0;
    for (d = 0; d <= s->probe_max; d++) {
        p = spl__probe_at(s, k->home, d);
        uint64_t w = spl_load_relaxed(&s->index[p]);
        for (int again = 1;; again = 0) {
            /* at home (d = 0, most inserts) the same CAS counts the key */
            while (spl_ix_state(w) == SPL_IX_FREE &&
                   !spl_cas_seqcst(&s->index[p], &w,
                                   ((d ? w : spl__bucket_plus(w, 0, 1)) & SPL_IX_BUCKET_MASK) | pending))
                ;
            if (spl_ix_state(w) == SPL_IX_FREE || spl_ix_state(w) == SPL_IX_LIVE || !again)
                break;
            /* not an insert's while its slot is settled: scrub it, try once more */
            if (!spl__ix_scrub(s, p, w, in->i))
                break;
            w = spl_load_relaxed(&s->index[p]);
        }
        if (spl_ix_state(w) == SPL_IX_FREE)
            break; /* the CAS took it */
        skipped |= spl_ix_state(w) != SPL_IX_LIVE;
    }
    if (d > s->probe_max) { /* the index is at most half full: only a hostile key set gets here */
        spl__ins_release(in);
        return skipped ? SPL_EAGAIN : SPL_EFULL;
    }
    if (d)
        spl__bucket_add(s, k->home, d, 1);
    in->p = p;
    return 0;
}

/* Step 4, the commit: the epoch floor again, now that our word is visible
 * and the scan is done: a delete of k that committed meanwhile (its word
 * FREE, which our scan or our claim saw) raised the floor before that, so
 * k's new incarnation starts above every epoch the old one showed (the
 * spin model found the floor read only at the slot claim too early:
 * docs/model/README.md).  Still odd: nobody reads the slot now.  Then tag
 * the word LIVE, end the write section, give the slot back. */
static inline __attribute__((always_inline)) void spl__ins_commit(struct spl_store *s, const struct spl__key *k,
                                                                  struct spl__ins *in)
{
    uint64_t fl = spl_load_seqcst(&s->hdr->epoch_floor);
    if ((fl | 1) > in->odd) {
        in->odd = fl | 1;
        spl_store_relaxed(&in->sl->epoch, in->odd);
        in->note.epoch = in->odd + 1;
    }
    spl__ix_set_tag(s, in->p, spl_ix_tag(k->fp, in->i, SPL_IX_LIVE)); /* the commit */
    spl__write_end(in->sl, in->odd);
    spl__unlock(in->sl);
    spl__note_send(s, &in->note);
}

/* Step 3, in general, then the commit: look for another PENDING or LIVE
 * copy of k within home's probe bound, backing off if there is one.
 * Returns 0, SPL__RETRY (k appeared: overwrite it instead; or a dead
 * inserter's word was scrubbed: go again) or SPL_EAGAIN, the slot and word
 * given back in the last two cases. */
static __attribute__((noinline)) int spl__ins_check(struct spl_store *s, const struct spl__key *k,
                                                    struct spl__ins *in)
{
    int rc;
    /* Dekker: our PENDING word and bound are seq_cst RMWs and the scan's
     * loads are seq_cst, so in the single order of seq_cst operations two
     * inserters of one key cannot both load before the other's word (no
     * fence needed; on x86 the locked RMW is the full barrier) */
    uint32_t md = spl__maxdist(s, spl_load_seqcst(&s->index[k->home]));
    for (uint32_t e = 0; e <= md; e++) {
        uint32_t q = spl__probe_at(s, k->home, e);
        if (q == in->p)
            continue;
        uint64_t w = spl_load_seqcst(&s->index[q]);
        uint32_t x = spl__ix_slot(s, w);
        if ((w & SPL_IX_FP_MASK) != k->fp || spl_ix_state(w) == SPL_IX_FREE || x >= s->nslots)
            continue;
        if (x == in->i) {
            /* a word naming the slot we hold, which held no key: only a
             * corrupt region has one; as the slot's holder, drop it */
            spl__ix_set_tag(s, q, 0);
            continue;
        }
        if (spl_ix_state(w) != SPL_IX_LIVE) {
            /* another insert of (maybe) k in flight; it may be a dead
             * inserter's or garbage: scrub it if so, and go again */
            rc = spl__ix_scrub(s, q, w, in->i) ? SPL__RETRY : SPL_EAGAIN;
            goto back_off;
        }
        struct spl_slot *o = spl__slot(s, x);
        uint64_t e1 = spl__read_begin(o);
        int same = spl_load32_relaxed(&o->key_len) == k->len && spl__key_equal(o, k);
        if ((e1 & 1) || spl__read_retry(o, e1)) {
            rc = SPL_EAGAIN;
            goto back_off;
        }
        if (same) {
            /* k appeared: overwrite it instead.  Keep the bound wide enough
             * to reach it even if the bucket was wrong. */
            spl__bucket_sub(s, k->home);
            spl__bucket_add(s, k->home, e, 0);
            rc = SPL__RETRY;
            goto drop_word;
        }
    }
    spl__ins_commit(s, k, in);
    return 0;
back_off:
    spl__bucket_sub(s, k->home);
drop_word:
    spl__ix_set_tag(s, in->p, 0);
    spl__ins_release(in);
    return rc;
}

/* Insert k, known absent a moment ago.  Steps (docs/PROTOCOL.md, "Insert"):
 * 1. take a free slot and, inside its write section, write the key and
 *    value;
 * 2. take a FREE index word near home (CAS) naming the slot, PENDING;
 *    raise the home bucket's count and probe bound;
 * 3. full fence; look for another PENDING or LIVE copy of k within the
 *    bound, backing off if there is one;
 * 4. tag the word LIVE (the commit) and end the write section.
 * Two racing inserters of one key cannot both miss each other.
 *
 * Each step's common case is inline and its general case out of line
 * (spl__slot_claim, spl__ins_take, spl__ins_check), entered having done
 * nothing the general case would not: here an insert's time follows its
 * instruction count once its misses are in flight (bench/README.md, "The
 * floor of a write"). */
static inline __attribute__((always_inline)) int spl__insert_k(struct spl_store *s, const struct spl__key *k,
                                                               const struct spl__newval *nv, uint32_t nat,
                                                               struct spl_slot *nat_sl)
{
    /* nothing here waits for the slots' misses: before the claim decides */
    uint64_t now = spl__now();
    struct spl__ins in;
    in.sl = nat_sl;
    int rc = spl__slot_claim_near(s, k->home, spl__owner_id(), nat, &in.sl);
    if (rc < 0)
        return rc;
    in.i = (uint32_t)rc;
    struct spl_slot *sl = in.sl;
    /* Leftovers of an earlier key on the slot's own line: labels, vector.
     * Its watch word, a line of its own (a miss the commit's locked
     * instructions would wait for: 10% of an insert), is 0 already: every
     * path that frees a slot clears it (spl__slot_clear), and no watch
     * reaches a key before its word is LIVE (spl__find_locked). */
    spl_store_relaxed(&sl->labels, 0);
    if (spl_load32_relaxed(&sl->vec_state))
        spl__vec_release(s, in.i, sl);
    spl__note_take(s, in.i, sl, k->fp, &in.note);
    /* A new key's first epoch is above any epoch a freed slot reached, so
     * (key, epoch) never repeats across delete and re-insert (no ABA):
     * the write section opens at the floor if the slot's epoch is below. */
    uint64_t e = spl_load_relaxed(&sl->epoch), floor = spl_load_relaxed(&s->hdr->epoch_floor) & ~1ull;
    in.odd = (floor > e ? floor : e) | 1;
    in.note.epoch = in.odd + 1;
    spl_store_relaxed(&sl->epoch, in.odd);
    spl_fence_release(); /* as spl__write_begin: pairs with spl__read_retry's fence */
    spl__copy_in(spl__slot_key(sl), 0, k->k, k->len, 1);
    spl_store32_relaxed(&sl->key_len, (uint32_t)k->len);
    spl__copy_in(spl__slot_val(s, sl), 0, nv->val, nv->len, 1);
    spl_store32_relaxed(&sl->val_len, (uint32_t)nv->len);
    spl_store8_relaxed(&sl->type, nv->type);
    spl_store8_relaxed(&sl->user_flags, 0);
    spl_store_relaxed(&sl->ctime_ns, now);
    spl_store_relaxed(&sl->mtime_ns, now);
    spl_store_relaxed(&sl->atime_ns, 0);

    /* 2. The key is in (the link spl__slot_link follows): a word may name
     * the slot now.  Inline: the home word or the next FREE one after LIVE
     * ones. */
    const uint64_t pending = spl_ix_tag(k->fp, in.i, SPL_IX_PENDING);
    uint32_t d = 0, p = k->home;
    uint64_t w = spl_load_relaxed(&s->index[p]);
    for (;;) {
        if (spl_ix_state(w) == SPL_IX_FREE) {
            if (spl_cas_seqcst(&s->index[p], &w,
                               ((d ? w : spl__bucket_plus(w, 0, 1)) & SPL_IX_BUCKET_MASK) | pending))
                break;
            continue; /* the CAS loaded the word anew */
        }
        if (spl_ix_state(w) != SPL_IX_LIVE || ++d > s->probe_max) {
            rc = spl__ins_take(s, k, &in);
            if (rc)
                return rc;
            goto check;
        }
        p = spl__probe_at(s, k->home, d);
        w = spl_load_relaxed(&s->index[p]);
    }
    if (d)
        spl__bucket_add(s, k->home, d, 1);
    in.p = p;

    /* 3. Inline, the scan's common outcome: no other word within the
     * bound carries k's fingerprint.  Any that does goes to the general
     * scan, which looks again from the start. */
    uint32_t md = spl__maxdist(s, spl_load_seqcst(&s->index[k->home]));
    for (uint32_t x = 0; x <= md; x++) {
        uint32_t q = spl__probe_at(s, k->home, x);
        uint64_t o = spl_load_seqcst(&s->index[q]);
        if (q != p && (o & SPL_IX_FP_MASK) == k->fp && spl_ix_state(o) != SPL_IX_FREE)
            goto check;
    }
    spl__ins_commit(s, k, &in);
    return 0;
check:
    return spl__ins_check(s, k, &in);
}

static int spl__insert(struct spl_store *s, const struct spl__key *k, const struct spl__newval *nv)
{
    uint32_t nat = spl__natural(s, k->home);
    return spl__insert_k(s, k, nv, nat, spl__slot(s, nat));
}

/* ---- set, append, cas --------------------------------------------------- */

enum { SPL__PUT_SET, SPL__PUT_APPEND, SPL__PUT_CAS };

#define SPL__SLOW   (-99998) /* internal: not the common case, take the general path */
#define SPL__ABSENT (-99997) /* internal: no word names the key (spl__find_locked's SPL_ENOENT) */

/* The common overwrite, in one pass with no calls (issue 11, part 4): the
 * first word from k's home that matches is k's, the slot is free and
 * settled, and this thread keeps an undo record for s.  The steps are
 * spl__find_locked's, spl__undo_arm's and spl__put_k's in the same order,
 * but for what the record holds: the NEW value (a redo record), where
 * spl__undo_arm copies the old one.  Recovery puts a record's value into
 * the slot either way (spl__undo_settle), so a writer killed inside the
 * write section leaves the key with its new value, whole, and one killed
 * before it with its old one: what the general path promises, less a copy
 * that waited for the slot's value lines (the old value is never read).
 * The copy into the record is made before the lock: the record is this
 * thread's and unarmed, so nobody reads it, and its stores overlap the
 * slot's misses.  Anything else returns SPL__SLOW having written nothing
 * shared, and the general path runs.  SPL__ABSENT: no word matches
 * (spl__find_locked's SPL_ENOENT), so the caller inserts. */
static inline __attribute__((always_inline)) int spl__set_fast(struct spl_store *s, const struct spl__key *k,
                                                               const void *val, size_t len,
                                                               struct spl_slot *nat)
{
    /* most keys live in their natural slot (nat), and an insert tries it
     * first: start its misses now, in parallel with the index word's */
    __builtin_prefetch(nat, 1);
    __builtin_prefetch(spl__slot_key(nat), 1);
    __builtin_prefetch(spl__slot_val(s, nat) + len - 1, 1);
    const uint64_t want = k->fp | SPL_IX_LIVE;
    uint32_t p = k->home;
    uint64_t w = spl_load_acquire(&s->index[p]); /* pairs as in spl__find */
    for (uint32_t d = 0, md = spl__maxdist(s, w); (w & SPL_IX_KEY_MASK) != want;) {
        if (++d > md)
            return SPL__ABSENT;
        p = spl__probe_at(s, k->home, d);
        w = spl_load_acquire(&s->index[p]);
    }
    uint32_t i = spl_ix_slot(w);
    if (i >= s->nslots || spl__utl.s != s || spl__utl.gen != s->ugen)
        return SPL__SLOW;
    struct spl_undo *u = spl__undo_at(s, s->ucache[spl__utl.slot]);
    uint64_t me = spl__owner_id();
    /* the record is ours (not a parent's, inherited across fork) before
     * anything is written into it */
    if (spl_load_relaxed(&u->owner) != me)
        return SPL__SLOW;
    struct spl_slot *sl = spl__slot(s, i);
    /* the key's and the value's lines: their misses start now, not after
     * the lock's locked instruction, which later loads wait for */
    __builtin_prefetch(spl__slot_key(sl), 1);
    __builtin_prefetch(spl__slot_val(s, sl) + len - 1, 1);
    uint8_t *rv = spl__undo_val(u);
    spl__copy_in(rv, 0, val, len, 1);
    uint64_t exp = 0;
    if (!spl_cas_acquire(&sl->owner, &exp, me)) /* pairs with spl__unlock */
        return SPL__SLOW;
    uint64_t e = spl_load_relaxed(&sl->epoch);
    if ((e & 1) || spl_load32_relaxed(&sl->val_len) > s->val_max ||
        (spl_load_seqcst(&s->index[p]) & SPL_IX_TAG_MASK) != (w & SPL_IX_TAG_MASK) ||
        spl_load32_relaxed(&sl->key_len) != k->len || !spl__key_equal(sl, k)) {
        spl__unlock(sl);
        return SPL__SLOW;
    }
    uint64_t now = spl__now();
    /* arm the redo record: as spl__undo_fill, with the new state */
    spl__undo_val_head(u, (uint32_t)len, spl_load8_relaxed(&sl->type), now);
    spl__undo_seal(u, SPL_UNDO_VAL, e, i);
    struct spl__note note;
    spl__note_take(s, i, sl, k->fp, &note);
    uint64_t odd = spl__write_begin(sl);
    /* from the caller's bytes again, not the record's: loads of the words
     * just stored gave back most of what dropping the undo copy saved
     * (bench/README.md, "Redo records").  The two copies differ
     * only where the caller changes its buffer during the call (its race);
     * each is whole. */
    spl__copy_in(spl__slot_val(s, sl), 0, val, len, 1);
    spl_store32_relaxed(&sl->val_len, (uint32_t)len);
    spl_store_relaxed(&sl->mtime_ns, now);
    spl__write_end(sl, odd);
    spl_store_relaxed(&u->armed, 0); /* spl__undo_done: the record stays ours */
    spl__unlock(sl);
    spl__note_send(s, &note);
    return 0;
}

static int spl__put_k(spl_store *s, struct spl__key k, const void *val, size_t len, int mode,
                      uint64_t expected)
{
    int rc;
    if (!val && len)
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    if (len > s->val_max)
        return SPL_E2BIG;
    for (int attempt = 0; attempt < 4; attempt++) {
        int i = spl__find_locked(s, &k, NULL);
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
            /* An append writes past the value and commits with one store of
             * val_len; a replacement overwrites the value in place, so it
             * keeps the old one in an undo record until it is done. */
            struct spl_undo *u = NULL;
            if (mode != SPL__PUT_APPEND && !(u = spl__undo_arm(s, (uint32_t)i, sl, SPL_UNDO_VAL))) {
                spl__unlock(sl);
                return SPL_EAGAIN; /* more writers at once than undo records */
            }
            uint64_t now = spl__now();
            struct spl__note note;
            spl__note_take(s, (uint32_t)i, sl, k.fp, &note);
            uint64_t odd = spl__write_begin(sl);
            spl__copy_in(spl__slot_val(s, sl), off, val, len, off == 0);
            spl_store32_relaxed(&sl->val_len, (uint32_t)(off + len));
            spl_store_relaxed(&sl->mtime_ns, now);
            spl__write_end(sl, odd);
            if (u)
                spl__undo_done(s, u);
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

static int spl__put(spl_store *s, const char *key, const void *val, size_t len, int mode,
                    uint64_t expected)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    return rc ? rc : spl__put_k(s, k, val, len, mode, expected);
}

/* spl_set of a measured and hashed key: the one-pass overwrite or insert,
 * else the general path.  Inline in spl_set and spl_set_k (spl_set_many
 * and the bindings' prepared keys), so both take the one pass. */
static inline __attribute__((always_inline)) int spl__set_k(spl_store *s, const struct spl__key *k,
                                                           const void *val, size_t len)
{
    if (val && len <= s->val_max && !s->rdonly) {
        uint32_t nat = spl__natural(s, k->home);
        struct spl_slot *nat_sl = spl__slot(s, nat);
        int rc = spl__set_fast(s, k, val, len, nat_sl);
        if (rc == SPL__ABSENT) { /* as spl__put_k does after SPL_ENOENT */
            struct spl__newval nv = {val, len, SPL_T_VOID};
            rc = spl__insert_k(s, k, &nv, nat, nat_sl);
        }
        if (rc != SPL__SLOW && rc != SPL__RETRY)
            return rc;
    }
    return spl__put_k(s, *k, val, len, SPL__PUT_SET, 0);
}

SPL_API int spl_set(spl_store *s, const char *key, const void *val, size_t len)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    return rc ? rc : spl__set_k(s, &k, val, len);
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

static inline __attribute__((always_inline)) int spl__get_k(spl_store *s, struct spl__key k, void *buf,
                                                            size_t cap, size_t *len_out)
{
    if (!buf && cap)
        return SPL_EINVAL;
    /* Fast path, the common case: the first word that matches is the
     * key's, no writer is inside its slot, the value fits.  The same steps
     * as spl__find + spl__rd_get without the visitor and the retries
     * (about 15% off a hot get); anything else, including a torn read,
     * goes the general way. */
    __builtin_prefetch(spl__slot(s, spl__natural(s, k.home))); /* overlaps the word's miss */
    const uint64_t want = k.fp | SPL_IX_LIVE;
    uint64_t w = spl_load_acquire(&s->index[k.home]); /* pairs as in spl__find */
    if ((w & SPL_IX_KEY_MASK) != want) /* not at home: the words after it */
        for (uint32_t d = 1, md = spl__maxdist(s, w);; d++) {
            if (d > md)
                return SPL_ENOENT; /* spl__find's answer when no word matches */
            w = spl_load_acquire(&s->index[spl__probe_at(s, k.home, d)]);
            if ((w & SPL_IX_KEY_MASK) == want)
                break;
        }
    uint32_t i = spl__ix_slot(s, w);
    if (i < s->nslots) {
        struct spl_slot *sl = spl__slot(s, i);
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

SPL_API int spl_get(spl_store *s, const char *key, void *buf, size_t cap, size_t *len_out)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    return rc ? rc : spl__get_k(s, k, buf, cap, len_out);
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

/* epoch 0: whatever the key holds; else only while its epoch is that one
 * (SPL_ESTALE if another write came between). */
static int spl__unset_k(spl_store *s, struct spl__key k, uint64_t epoch)
{
    uint32_t p;
    int i = spl__find_locked(s, &k, &p);
    if (i < 0)
        return i;
    struct spl_slot *sl = spl__slot(s, (uint32_t)i);
    if (epoch && spl_load_relaxed(&sl->epoch) != epoch) {
        spl__unlock(sl);
        return SPL_ESTALE;
    }
    struct spl__note note;
    spl__note_take(s, (uint32_t)i, sl, k.fp, &note);
    note.kind = SPL_EV_DELETED;
    uint64_t odd = spl__write_begin(sl);
    /* The key bytes stay, and gone_len keeps their length, so the change
     * feed can name the deleted key while the epoch still matches. */
    spl_store16_relaxed(&sl->gone_len, (uint16_t)spl_load32_relaxed(&sl->key_len));
    /* Raise the epoch floor BEFORE the word says FREE: an inserter that
     * sees the word FREE (seq_cst) then also sees the raised floor, so a key
     * re-inserted elsewhere never shows an epoch it had (spin found the
     * other order wrong: docs/model). */
    spl__floor_raise(s, odd);
    spl__ix_set_tag(s, p, 0); /* the commit: the key is gone */
    spl__slot_clear(s, (uint32_t)i, sl, odd);
    spl__write_end(sl, odd);
    spl__unlock(sl);
    spl__bucket_sub(s, k.home);
    spl__note_send(s, &note);
    return 0;
}

SPL_API int spl_unset(spl_store *s, const char *key)
{
    struct spl__key k;
    int rc = spl__key_prep_w(s, key, &k);
    return rc ? rc : spl__unset_k(s, k, 0);
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
    int i = spl__find_locked(s, &k, NULL);
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
    spl__note_take(s, (uint32_t)i, sl, k.fp, &note); /* groups of the labels before */
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

/* The key of slot idx as it was at a feed entry (fingerprint fp): the live
 * key with that fingerprint, or the deleted key with that fingerprint whose
 * bytes a free slot keeps (the last key an unset removed from it).  So an
 * entry read after its key was deleted (a reader a few writes behind: a
 * change, then the unset) still names it.  SPL_ENOENT if the slot has moved
 * on to another key, SPL_EAGAIN if a writer is inside, SPL_ENOBUFS if cap
 * is short. */
int spl__feed_key(struct spl_store *s, uint32_t idx, uint64_t fp, char *key, size_t cap,
                  size_t *len)
{
    struct spl_slot *sl = spl__slot(s, idx);
    char kb[SPL_KEY_MAX_LIMIT + 8];
    for (int t = 0; t < SPL__READ_TRIES; t++) {
        uint64_t e1 = spl__read_begin(sl);
        if (e1 & 1)
            continue;
        /* a key in a settled slot is live (committed); else the bytes of
         * the key an unset removed stay until another key takes the slot */
        uint32_t kl = spl_load32_relaxed(&sl->key_len);
        if (kl == 0)
            kl = spl_load16_relaxed(&sl->gone_len);
        int same = kl != 0 && kl <= s->key_max; /* untrusted */
        if (same)
            spl__copy_out(kb, spl__slot_key(sl), kl);
        if (spl__read_retry(sl, e1))
            continue;
        /* the same key as the entry's, not a later one: a slot reused by
         * another key (live, or deleted in turn) does not match */
        if (same)
            same = spl_ix_fp(spl__hash(kb, kl, s->seed)) == fp;
        if (!same)
            return SPL_ENOENT;
        *len = kl;
        if (kl + 1 > cap)
            return SPL_ENOBUFS;
        memcpy(key, kb, kl);
        key[kl] = 0;
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

/* timeout_ns: how long contention is retried (spinning, then sleeping on
 * the busy slot: src/wait.c), counted from the first busy slot; then
 * `late` is returned (spl_int: SPL_ETIMEDOUT after 10 s, for a slot held
 * by a stopped or hostile peer; spl_int_wait: SPL_EAGAIN after the
 * caller's time).  0 (the spl_int_try calls): SPL_EAGAIN where the others
 * would pause.  A key that appeared, or a dead inserter's word scrubbed
 * (SPL__RETRY), is no contention: tried again at once, a few times. */
#define SPL__INT_TRIES 4
static int spl__int_k(spl_store *s, struct spl__key k, spl_int_op op, uint64_t operand, uint64_t *out,
                      uint64_t timeout_ns, int late)
{
    int rc, tries = 0;
    if ((unsigned)op >= SPL__OP_COUNT)
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    struct spl__contend cw;
    spl__contend_init(&cw, timeout_ns);
    for (;;) {
        int i = spl__find_locked(s, &k, NULL);
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
            spl__note_take(s, (uint32_t)i, sl, k.fp, &note);
            uint64_t odd = spl__write_begin(sl);
            uint64_t v = spl__apply(op, spl_load_relaxed(vp), operand);
            spl_store_relaxed(vp, v); /* the commit: one word */
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
            if (rc == SPL__RETRY && ++tries < SPL__INT_TRIES)
                continue;
        } else if (i != SPL_EAGAIN) {
            return i;
        }
        if (!timeout_ns)
            return SPL_EAGAIN;
        if (spl__contend_pause(s, k.k, 1, &cw))
            return late;
    }
}

/* The integer ops of a key string: they differ only in the wait (the
 * time, and the code once it is up). */
static int spl__int_str(spl_store *s, const char *key, spl_int_op op, uint64_t operand, uint64_t *out,
                        uint64_t timeout_ns, int late)
{
    struct spl__key k;
    int rc = spl__key_prep(s, key, &k);
    return rc ? rc : spl__int_k(s, k, op, operand, out, timeout_ns, late);
}

SPL_API int spl_int(spl_store *s, const char *key, spl_int_op op, uint64_t operand, uint64_t *out)
{
    return spl__int_str(s, key, op, operand, out, SPL__INT_TIMEOUT_NS, SPL_ETIMEDOUT);
}

SPL_API int spl_int_try(spl_store *s, const char *key, spl_int_op op, uint64_t operand, uint64_t *out)
{
    return spl__int_str(s, key, op, operand, out, 0, SPL_EAGAIN);
}

SPL_API int spl_int_wait(spl_store *s, const char *key, spl_int_op op, uint64_t operand, uint64_t *out,
                         uint32_t timeout_us)
{
    return spl__int_str(s, key, op, operand, out, (uint64_t)timeout_us * 1000, SPL_EAGAIN);
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

/* ---- prepared keys and batches ------------------------------------------ */

SPL_API int spl_key_prep(spl_store *s, const char *key, spl_key *out)
{
    struct spl__key k;
    if (!out)
        return SPL_EINVAL;
    int rc = spl__key_prep(s, key, &k);
    if (rc)
        return rc;
    *out = (spl_key){key, (uint32_t)k.len, k.home, k.fp, s->seed};
    return 0;
}

/* A prepared key for this store, checked (it is the caller's memory, but
 * a home out of range would index past the index). */
static inline int spl__key_of(const spl_store *s, const spl_key *pk, struct spl__key *k)
{
    if (!s || !pk || !pk->key || pk->seed != s->seed || pk->len == 0 || pk->len > s->key_max ||
        pk->home > s->imask || (pk->fp & ~SPL_IX_FP_MASK))
        return SPL_EINVAL;
    *k = (struct spl__key){pk->key, pk->len, pk->home, pk->fp};
    return 0;
}

SPL_API int spl_get_k(spl_store *s, const spl_key *pk, void *buf, size_t cap, size_t *len_out)
{
    struct spl__key k;
    int rc = spl__key_of(s, pk, &k);
    return rc ? rc : spl__get_k(s, k, buf, cap, len_out);
}

SPL_API int spl_set_k(spl_store *s, const spl_key *pk, const void *val, size_t len)
{
    struct spl__key k;
    int rc = spl__key_of(s, pk, &k);
    return rc ? rc : spl__set_k(s, &k, val, len);
}

SPL_API int spl_unset_k(spl_store *s, const spl_key *pk)
{
    struct spl__key k;
    int rc = spl__key_of(s, pk, &k);
    return rc ? rc : s->rdonly ? SPL_EROFS : spl__unset_k(s, k, 0);
}

/* The integer ops of a prepared key, as spl__int_str. */
static int spl__int_pk(spl_store *s, const spl_key *pk, spl_int_op op, uint64_t operand, uint64_t *out,
                       uint64_t timeout_ns, int late)
{
    struct spl__key k;
    int rc = spl__key_of(s, pk, &k);
    return rc ? rc : spl__int_k(s, k, op, operand, out, timeout_ns, late);
}

SPL_API int spl_add_k(spl_store *s, const spl_key *pk, int64_t delta, int64_t *out)
{
    uint64_t v;
    int rc = spl__int_pk(s, pk, SPL_OP_ADD, (uint64_t)delta, &v, SPL__INT_TIMEOUT_NS, SPL_ETIMEDOUT);
    if (rc == 0 && out)
        *out = (int64_t)v;
    return rc;
}

SPL_API int spl_int_try_k(spl_store *s, const spl_key *pk, spl_int_op op, uint64_t operand, uint64_t *out)
{
    return spl__int_pk(s, pk, op, operand, out, 0, SPL_EAGAIN);
}

SPL_API int spl_int_wait_k(spl_store *s, const spl_key *pk, spl_int_op op, uint64_t operand, uint64_t *out,
                           uint32_t timeout_us)
{
    return spl__int_pk(s, pk, op, operand, out, (uint64_t)timeout_us * 1000, SPL_EAGAIN);
}

/* Batches run this far ahead: the index words of keys i+AHEAD and the
 * natural slots of keys i+AHEAD/2 are fetched while key i is read or
 * written: each line of the slot that the call touches (the first, the
 * key's, the value's up to reach bytes), or the call's locked instructions
 * (a write) or its copy (a read) wait for them.  vlens: a write's value
 * lengths (reach is the key's own), NULL for a read (reach is stride). */
#define SPL__AHEAD 8

static inline __attribute__((always_inline)) void spl__batch_fetch(struct spl_store *s, const spl_key *keys,
                                                                   size_t n, size_t i, const size_t *vlens,
                                                                   size_t stride)
{
    if (i + SPL__AHEAD < n && keys[i + SPL__AHEAD].home <= s->imask) {
        const uint64_t *w = &s->index[keys[i + SPL__AHEAD].home];
        if (vlens)
            __builtin_prefetch(w, 1);
        else
            __builtin_prefetch(w);
    }
    size_t j = i + SPL__AHEAD / 2;
    if (j >= n || keys[j].home > s->imask)
        return;
    struct spl_slot *sl = spl__slot(s, spl__natural(s, keys[j].home));
    size_t reach = vlens ? vlens[j] : stride;
    const uint8_t *key = spl__slot_key(sl), *end = spl__slot_val(s, sl) + (reach < s->val_max ? reach : s->val_max);
    if (vlens) {
        __builtin_prefetch(sl, 1);
        __builtin_prefetch(key, 1);
        __builtin_prefetch(end - 1, 1);
    } else {
        __builtin_prefetch(sl);
        __builtin_prefetch(key);
        __builtin_prefetch(end - 1);
    }
}

SPL_API int spl_get_many(spl_store *s, const spl_key *keys, size_t n, void *bufs, size_t stride,
                         size_t *lens, int *rcs)
{
    if (!s || (n && (!keys || !bufs || !lens || !rcs)))
        return SPL_EINVAL;
    int found = 0;
    for (size_t i = 0; i < n && i < SPL__AHEAD; i++)
        if (keys[i].home <= s->imask)
            __builtin_prefetch(&s->index[keys[i].home]);
    for (size_t i = 0; i < n; i++) {
        spl__batch_fetch(s, keys, n, i, NULL, stride);
        lens[i] = 0;
        rcs[i] = spl_get_k(s, &keys[i], (uint8_t *)bufs + i * stride, stride, &lens[i]);
        found += rcs[i] == 0;
    }
    return found;
}

SPL_API int spl_set_many(spl_store *s, const spl_key *keys, size_t n, const void *vals, size_t stride,
                         const size_t *lens, int *rcs)
{
    if (!s || (n && (!keys || !vals || !lens || !rcs)))
        return SPL_EINVAL;
    int done = 0;
    for (size_t i = 0; i < n && i < SPL__AHEAD; i++)
        if (keys[i].home <= s->imask)
            __builtin_prefetch(&s->index[keys[i].home], 1);
    for (size_t i = 0; i < n; i++) {
        spl__batch_fetch(s, keys, n, i, lens, 0);
        rcs[i] = spl_set_k(s, &keys[i], (const uint8_t *)vals + i * stride, lens[i]);
        done += rcs[i] == 0;
    }
    return done;
}

/* ---- bounded-retry helpers ---------------------------------------------- */

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

static void spl__info_fill(spl_store *s, spl_info *out)
{
    memset(out, 0, sizeof *out);
    /* first: what is in memory before the scans below read the index and
     * the slots (on tmpfs they skip holes; elsewhere they read in every
     * page) */
    spl__place_info(s->fd, s->base, s->map_bytes, out); /* pages, resident bytes, NUMA nodes */
    out->geom = (spl_geometry){s->nslots, s->key_max, s->val_max, s->vec_dim};
    out->backing = s->backing;
    out->probe_max = s->probe_max;
    out->slot_stride = s->stride;
    out->region_bytes = s->map_bytes;
    uint64_t used = 0, homes = 0, dist_sum = 0, taken = 0;
    for (uint32_t p = 0, end = 0; p < s->nindex; p++) {
        if (p >= end && (p = spl__data_next(s, s->index, 8, 0, p, s->nindex, &end)) >= s->nindex)
            break; /* the rest reads as zeros: FREE words */
        uint64_t w = spl_load_relaxed(&s->index[p]);
        used += spl_ix_state(w) == SPL_IX_LIVE;
        if (spl_ix_cnt(w)) {
            uint32_t md = spl__maxdist(s, w);
            homes++;
            dist_sum += md;
            if (md > out->probe_longest)
                out->probe_longest = md;
        }
    }
    for (uint32_t i = 0, end = 0; i < s->nslots; i++) {
        if (i >= end && (i = spl__data_next(s, s->slots, s->stride, 0, i, s->nslots, &end)) >= s->nslots)
            break; /* slots in holes hold no key */
        taken += spl_load32_relaxed(&spl__slot(s, i)->key_len) != 0;
    }
    out->used = used;
    out->capacity = s->nslots;
    out->free = s->nslots - taken;
    out->index_words = s->nindex;
    out->undo_recs = s->nundo;
    out->probe_mean = homes ? (double)dist_sum / (double)homes : 0;
    out->load = (double)used / s->nslots;
    out->recoveries = spl_load_relaxed(&s->hdr->recoveries);
    out->changes = spl__changes(s);
    out->features = SPL_FEATURES;
    out->read_only = s->rdonly;
    out->cell_stride = s->cell_stride;
    uint64_t high = spl_load_relaxed(&s->hdr->cell_high);
    out->cells_high = (uint32_t)(high < s->ncells ? high : s->ncells); /* untrusted */
    /* splitmix64 finaliser over seed and creation time: both fixed at create */
    uint64_t z = spl_load_relaxed(&s->hdr->hash_seed) ^
                 (spl_load_relaxed(&s->hdr->created_ns) * 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    out->store_id = z ? z : 1;
    spl__vec_info(s, out); /* cells, cells in use */
}

SPL_API int spl_info_get_n(spl_store *s, spl_info *out, size_t size)
{
    if (!s || !out || size < offsetof(spl_info, capacity))
        return SPL_EINVAL;
    spl_info full;
    spl__info_fill(s, &full);
    size_t n = size < sizeof full ? size : sizeof full;
    memcpy(out, &full, n);
    if (size > n)
        memset((char *)out + n, 0, size - n); /* fields of a newer header than this library */
    return 0;
}

/* spl_info_get writes the fields up to resident_bytes, and never more:
 * callers built before a field is appended hold no room for it. */
#define SPL__INFO_GET_BYTES (offsetof(spl_info, resident_bytes) + sizeof(uint64_t))
_Static_assert(SPL__INFO_GET_BYTES <= sizeof(spl_info), "spl_info_get's fixed size");

SPL_API int spl_info_get(spl_store *s, spl_info *out) { return spl_info_get_n(s, out, SPL__INFO_GET_BYTES); }

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

/* spl_foreach on a slot that stays inside a write: how long it waits for
 * that writer before it gives up with SPL_EAGAIN.  A slot is never skipped
 * because it is busy: a key being rewritten is a key that exists. */
#define SPL__ITER_WAIT_NS (2000ull * 1000 * 1000)

struct spl__iw {
    uint32_t idx;
    uint64_t odd; /* the write being waited out */
};

/* Sleep on while slot idx is still in the same write, checking its
 * writer's liveness (a dead writer's slot is recovered) every SPL_CHECK_NS. */
static int spl__iw_check(struct spl_store *s, void *ctx, uint64_t *until)
{
    struct spl__iw *w = ctx;
    spl__contended(s, w->idx);
    if (spl_load_acquire(&spl__slot(s, w->idx)->epoch) != w->odd)
        return 0;
    uint64_t soon = spl__clock_ns(CLOCK_MONOTONIC) + SPL_CHECK_NS;
    if (!*until || soon < *until)
        *until = soon;
    return 1;
}

int spl__slot_sleep(struct spl_store *s, uint32_t idx, uint64_t odd, uint64_t deadline)
{
    struct spl__iw w = {idx, odd};
    return spl__kslot_sleep(s, idx, deadline, spl__iw_check, &w);
}

/* spl_foreach's pause before each try once the quick tries are spent:
 * SPL_EAGAIN when the wait is up (*deadline, CLOCK_MONOTONIC ns, set on
 * the first call), else 0 after waiting.  A slot inside a write is slept
 * on until that write ends (the writer's commit wakes the sleep) or its
 * writer is found dead and recovered.  A read-only handle cannot count
 * itself as a sleeper, nor recover a slot: it backs off while the writer
 * lives, and gives up at once when the slot has no live writer (only a
 * writable handle's recovery can end that write).  A settled slot whose
 * reads keep tearing gets a back-off: room for its writer. */
static int spl__iter_pause(struct spl_store *s, uint32_t i, struct spl_slot *sl, uint64_t *deadline,
                           unsigned *round)
{
    uint64_t now = spl__clock_ns(CLOCK_MONOTONIC);
    if (!*deadline)
        *deadline = now + SPL__ITER_WAIT_NS;
    if (now >= *deadline)
        return SPL_EAGAIN;
    uint64_t e = spl__read_begin(sl);
    if (!(e & 1)) {
        spl__backoff(round);
    } else if (!s->rdonly) {
        spl__slot_sleep(s, i, e, *deadline);
    } else {
        uint64_t owner = spl_load_relaxed(&sl->owner);
        if (!owner || !spl__owner_alive(owner))
            return SPL_EAGAIN;
        if (*round < 16) { /* spins, then yields */
            spl__backoff(round);
        } else {
            struct timespec ts = {0, 200 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
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
    for (uint32_t i = 0, end = 0; i < s->nslots && rc == 0; i++) {
        if (i >= end && (i = spl__data_next(s, s->slots, s->stride, 0, i, s->nslots, &end)) >= s->nslots)
            break; /* slots in holes hold no key */
        struct spl_slot *sl = spl__slot(s, i);
        if (!spl_load32_relaxed(&sl->key_len)) /* a quick look: no key */
            continue;
        spl_entry e;
        int ok = 0;
        uint64_t deadline = 0;
        unsigned round = 0;
        for (int t = 0; !ok; t++) {
            /* a writer slow to leave: wait for it, not forever */
            if (t >= 64 && (rc = spl__iter_pause(s, i, sl, &deadline, &round)) != 0)
                goto out;
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

int spl__key_lock(struct spl_store *s, const char *key, int create, uint64_t *fp)
{
    struct spl__key k;
    int rc = spl__key_prep_w(s, key, &k);
    if (rc)
        return rc;
    *fp = k.fp;
    for (int attempt = 0; attempt < 4; attempt++) {
        int i = spl__find_locked(s, &k, NULL);
        if (i >= 0 || i != SPL_ENOENT || !create)
            return i;
        struct spl__newval nv = {"", 0, SPL_T_VOID};
        rc = spl__insert(s, &k, &nv);
        if (rc != 0 && rc != SPL__RETRY)
            return rc;
    }
    return SPL_EAGAIN;
}

int spl__key_drop_if(struct spl_store *s, const char *key, uint64_t epoch)
{
    struct spl__key k;
    int rc = spl__key_prep_w(s, key, &k);
    return rc ? rc : spl__unset_k(s, k, epoch);
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
int spl__slot_dead(struct spl_store *s, uint32_t i) { return !s->rdonly && spl__owner_check(s, i); }

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
        uint64_t tag = w & SPL_IX_KEY_MASK;
        uint32_t i = spl__ix_slot(s, w);
        if ((tag == (k.fp | SPL_IX_LIVE) || (write && tag == (k.fp | SPL_IX_PENDING))) && i < s->nslots) {
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
