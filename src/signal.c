/*
 * signal.c - signal groups, the change feed and wake-ups (docs/SIGNALS.md).
 *
 * Writer side (spl__note_send, after the slot is unlocked):
 *   0. (spl__note_take, under the slot lock) the slot's groups, masked by
 *      the store's `followed` word (groups with a subscription; one load):
 *      groups nobody follows stop here (their pulse is unobservable, so it
 *      is not counted and costs nothing);
 *   1. if any is followed: one feed entry (fetch_add on the ring head,
 *      fields, seq published with release);
 *   2. per followed group: fetch_add(pulses) seq_cst, then load its waiters;
 *   3. fetch_add(changes stripe) seq_cst (also the full barrier for 4);
 *   4. load the slot's key-waiter count;
 *   5. only if 2 or 4 saw a sleeper: bump the bell word and FUTEX_WAKE it
 *      (for key sleepers, not if the key bell still holds the value this
 *      thread's last wake-up of the slot left: nobody slept since).
 * With no subscriber that is one load per group plus one RMW; no system
 * call until someone sleeps.
 *
 * Sleeper side: raise the waiters count(s) (seq_cst RMW), read the bell
 * (key sleepers bump it), check the condition (pulse counters or the key's
 * epoch), and sleep on the bell only if it still holds that value.  Dekker
 * on (pulses, waiters): either the writer sees the sleeper's count and
 * bumps the bell (so the futex wait fails or is woken), or the sleeper's
 * check sees the pulse.  Futex bitsets keep wake-ups selective: group g is bit g % 32, a
 * key in slot i is bit i % 32 on the other bell.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* ---- futex -------------------------------------------------------------- */
static void spl__futex_wake(uint32_t *word, uint32_t bits)
{
    /* shared (not PRIVATE): sleepers are in other processes */
    syscall(SYS_futex, word, FUTEX_WAKE_BITSET, INT_MAX, NULL, NULL, bits);
}

/* Sleep while *word == seen, until deadline (CLOCK_MONOTONIC ns; 0 = for
 * ever).  Returns SPL_ETIMEDOUT or 0 (woken, value changed, signal). */
static int spl__futex_wait(uint32_t *word, uint32_t seen, uint64_t deadline, uint32_t bits)
{
    struct timespec ts, *tp = NULL;
    if (deadline) {
        ts.tv_sec = (time_t)(deadline / 1000000000ull);
        ts.tv_nsec = (long)(deadline % 1000000000ull);
        tp = &ts;
    }
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, seen, tp, NULL, bits);
    if (r != 0 && errno == ETIMEDOUT)
        return SPL_ETIMEDOUT;
    return 0;
}

static inline uint32_t spl__bits_of(uint64_t groups)
{
    uint32_t b = (uint32_t)groups | (uint32_t)(groups >> 32);
    return b ? b : 1;
}

/* Absolute deadline for a relative timeout: 0 = none (timeout < 0). */
static uint64_t spl__deadline(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return 0;
    return spl__clock_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ns + 1;
}
static int spl__expired(uint64_t deadline)
{
    return deadline && spl__clock_ns(CLOCK_MONOTONIC) >= deadline;
}

/* ---- waiter records ------------------------------------------------------ */

static struct spl_sig_rec *spl__rec_claim(struct spl_store *s)
{
    uint64_t me = spl__owner_id();
    uint32_t start = (uint32_t)(me ^ (me >> 32) ^ (uint64_t)pthread_self()) % SPL_SIG_RECORDS;
    for (uint32_t n = 0; n < SPL_SIG_RECORDS; n++) {
        struct spl_sig_rec *r = &s->recs[(start + n) % SPL_SIG_RECORDS];
        uint64_t exp = 0;
        if (spl_load_relaxed(&r->owner) == 0 && spl_cas_seqcst(&r->owner, &exp, me)) {
            spl_store_relaxed(&r->subs, 0);
            spl_store_relaxed(&r->waits, 0);
            spl_store32_relaxed(&r->kslot, 0);
            return r;
        }
    }
    return NULL; /* table full: counts still work, only crash repair is lost */
}

static void spl__rec_release(struct spl_sig_rec *r)
{
    if (r)
        spl_store_release(&r->owner, 0);
}

/* Raise (up) or lower the counts of groups in `mask`, field `waits` or
 * `subs`, recording each in the record in the crash-safe order. */
static void spl__count_groups(struct spl_store *s, struct spl_sig_rec *r, uint64_t mask, int waits, int up)
{
    uint64_t *field = r ? (waits ? &r->waits : &r->subs) : NULL;
    for (uint64_t m = mask; m; m &= m - 1) {
        unsigned g = (unsigned)__builtin_ctzll(m);
        uint32_t *cnt = waits ? &s->groups[g].waiters : &s->groups[g].subs;
        if (up) {
            spl_fetch_add32_seqcst(cnt, 1);
            if (field)
                spl_store_relaxed(field, spl_load_relaxed(field) | (1ull << g));
        } else {
            if (field)
                spl_store_relaxed(field, spl_load_relaxed(field) & ~(1ull << g));
            spl_fetch_sub32_seqcst(cnt, 1);
        }
    }
}

static void spl__count_key(struct spl_store *s, struct spl_sig_rec *r, uint32_t idx, int up)
{
    /* kwaiters, the sum, is raised with the slot's count and lowered with
     * it (both before the sleeper looks at the slot, both seq_cst: a
     * writer that reads the sum 0, or the slot's count 0, after its commit
     * was ordered before the raise, and the sleeper's look sees the commit) */
    if (up) {
        spl_fetch_add32_seqcst(&s->kwait[idx], 1);
        spl_fetch_add_seqcst(&s->sig->kwaiters, 1);
        if (r)
            spl_store32_relaxed(&r->kslot, idx + 1);
    } else {
        if (r)
            spl_store32_relaxed(&r->kslot, 0);
        spl_fetch_sub_seqcst(&s->sig->kwaiters, 1);
        spl_fetch_sub32_seqcst(&s->kwait[idx], 1);
    }
}

/* `followed` changes only under sub_lock, so clearing a group's bit cannot
 * race with a subscriber marking it.  A dead holder's lock is taken over
 * (what it protects is recomputed from the counts every time). */
#define SPL__SUB_LOCK_NS (100ull * 1000 * 1000)

static void spl__sub_lock(struct spl_store *s)
{
    uint64_t me = spl__owner_id();
    uint64_t start = spl__clock_ns(CLOCK_MONOTONIC);
    unsigned round = 0;
    for (;;) {
        uint64_t o = 0;
        if (spl_cas_seqcst(&s->sig->sub_lock, &o, me))
            return;
        /* a dead holder's lock is taken over at once; a live one holding
         * this microsecond section for 100 ms is stopped or hostile (or
         * the word is garbage with our own id): take it over too */
        if ((o != me && !spl__owner_alive(o)) || spl__clock_ns(CLOCK_MONOTONIC) - start > SPL__SUB_LOCK_NS)
            if (spl_cas_seqcst(&s->sig->sub_lock, &o, me))
                return;
        spl__backoff(&round);
    }
}

static void spl__sub_unlock(struct spl_store *s)
{
    spl_store_release(&s->sig->sub_lock, 0);
}

/* Caller holds sub_lock: `followed` = groups whose subscription count is
 * not zero. */
static void spl__followed_recompute(struct spl_store *s)
{
    uint64_t f = 0;
    for (unsigned g = 0; g < SPL_SIG_GROUPS; g++)
        if (spl_load32_seqcst(&s->groups[g].subs))
            f |= 1ull << g;
    atomic_store_explicit(SPL__A64(&s->sig->followed), f, memory_order_seq_cst);
}

SPL_API int spl_signal_repair(spl_store *s)
{
    if (!s)
        return SPL_EINVAL;
    if (s->rdonly)
        return 0;
    int swept = 0;
    uint64_t me = spl__owner_id();
    for (uint32_t i = 0; i < SPL_SIG_RECORDS; i++) {
        struct spl_sig_rec *r = &s->recs[i];
        uint64_t o = spl_load_relaxed(&r->owner);
        if (!o || o == me || spl__owner_alive(o))
            continue;
        if (!spl_cas_seqcst(&r->owner, &o, me))
            continue; /* another sweeper, or it moved */
        uint64_t subs = spl_load_relaxed(&r->subs), waits = spl_load_relaxed(&r->waits);
        uint32_t ks = spl_load32_relaxed(&r->kslot);
        spl__count_groups(s, r, subs, 0, 0);
        spl__count_groups(s, r, waits, 1, 0);
        if (ks && ks <= s->nslots) /* untrusted: bound it */
            spl__count_key(s, r, ks - 1, 0);
        spl__rec_release(r);
        swept++;
    }
    if (swept) {
        spl__sub_lock(s);
        spl__followed_recompute(s);
        spl__sub_unlock(s);
    }
    return swept;
}

/* ---- writer side ---------------------------------------------------------- */

static inline uint64_t spl__ent_check(uint64_t p, uint64_t epoch, uint64_t groups, uint64_t fp,
                                      uint32_t slot, uint32_t kind)
{
    uint64_t h = spl__fold(p ^ 0x9e3779b97f4a7c15ull, epoch ^ 0xc2b2ae3d27d4eb4full);
    h = spl__fold(h ^ groups, fp ^ 0x165667b19e3779f9ull);
    return spl__fold(h ^ slot, ((uint64_t)kind << 32) ^ 0x27d4eb2f165667c5ull);
}

static void spl__feed(struct spl_store *s, uint64_t groups, uint32_t idx, uint64_t epoch, uint64_t fp,
                      uint32_t kind)
{
    uint64_t p = spl_fetch_add_relaxed(&s->sig->ring_head, 1);
    struct spl_sig_ent *e = &s->ring[p & s->feed_mask];
    spl_store_relaxed(&e->seq, 0); /* unpublished while we fill it */
    spl_fence_release();
    spl_store_relaxed(&e->epoch, epoch);
    spl_store_relaxed(&e->groups, groups);
    spl_store_relaxed(&e->fp, fp);
    spl_store32_relaxed(&e->slot, idx);
    spl_store32_relaxed(&e->kind, kind);
    spl_store_relaxed(&e->check, spl__ent_check(p, epoch, groups, fp, idx, kind));
    spl_store_release(&e->seq, p + 1); /* pairs with the acquire in spl__ent_read */
}

/* Groups nobody follows are skipped: their pulse is not observable (a
 * subscription snapshots the counters after it is counted in subs), so it
 * costs one load.  Followed groups get the feed entry, the counter and, if
 * someone sleeps, the wake-up. */
static void spl__pulse(struct spl_store *s, uint64_t groups, uint32_t idx, uint64_t epoch, uint64_t fp,
                       uint32_t kind)
{
    uint64_t armed = 0;
    for (uint64_t m = groups; m; m &= m - 1) {
        unsigned g = (unsigned)__builtin_ctzll(m);
        if (spl_load32_seqcst(&s->groups[g].subs))
            armed |= 1ull << g;
    }
    if (!armed)
        return;
    spl__feed(s, armed, idx, epoch, fp, kind);
    uint32_t wake = 0;
    for (uint64_t m = armed; m; m &= m - 1) {
        unsigned g = (unsigned)__builtin_ctzll(m);
        spl_fetch_add_seqcst(&s->groups[g].pulses, 1);
        if (spl_load32_seqcst(&s->groups[g].waiters))
            wake |= 1u << (g & 31);
    }
    if (wake) {
        spl_fetch_add32_seqcst(&s->sig->bell, 1);
        spl__futex_wake(&s->sig->bell, wake);
    }
}

/* The change-counter stripe (internal.h, spl__my_stripe): thread id & 15,
 * worked out on a thread's first write and again in a forked child. */
_Thread_local uint32_t spl__stripe_plus1 __attribute__((tls_model("initial-exec")));
static pthread_once_t spl__stripe_once = PTHREAD_ONCE_INIT;
static void spl__stripe_child(void) { spl__stripe_plus1 = 0; }
static void spl__stripe_atfork(void) { pthread_atfork(NULL, NULL, spl__stripe_child); }

uint32_t spl__my_stripe_slow(void)
{
    pthread_once(&spl__stripe_once, spl__stripe_atfork);
    uint32_t p1 = ((uint32_t)syscall(SYS_gettid) % SPL_SIG_STRIPES) + 1;
    spl__stripe_plus1 = p1;
    return p1 - 1;
}

/* The calling thread's last key wake-up: store (kbell's address and the
 * store's random seed, so a new store mapped at the same address is not
 * taken for it), slot, and the value kbell had right after its bump. */
static _Thread_local struct {
    const uint32_t *bell;
    uint64_t seed;
    uint32_t idx, val;
} spl__woke;

void spl__note_pulse(struct spl_store *s, const struct spl__note *n)
{
    spl__pulse(s, n->groups, n->idx, n->epoch, n->fp, n->kind);
}

/* spl__note_send found someone asleep on slot n->idx's key. */
void spl__note_wake(struct spl_store *s, const struct spl__note *n)
{
    /* Every sleeper bumps kbell before each look it may sleep after.
     * If kbell still holds the value our last wake-up of this slot
     * left, everyone asleep on the slot then was woken (or saw the bell
     * move) and nobody has gone to sleep since: a count still raised is
     * a sleeper woken but not yet running again, and waking it again
     * would only make every commit of a hot slot pay a system call. */
    if (spl__woke.bell == &s->sig->kbell && spl__woke.seed == s->seed && spl__woke.idx == n->idx &&
        spl_load32_seqcst(&s->sig->kbell) == spl__woke.val)
        return;
    uint32_t v = spl_fetch_add32_seqcst(&s->sig->kbell, 1) + 1;
    spl__futex_wake(&s->sig->kbell, 1u << (n->idx & 31));
    spl__woke.bell = &s->sig->kbell;
    spl__woke.seed = s->seed;
    spl__woke.idx = n->idx;
    spl__woke.val = v;
}

SPL_API int spl_signal(spl_store *s, uint64_t groups)
{
    if (!s)
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    groups &= spl_load_seqcst(&s->sig->followed);
    if (groups)
        spl__pulse(s, groups, SPL_EV_NOSLOT, 0, 0, SPL_EV_SIGNAL);
    return 0;
}

/* Bit SPL_BIND_ALL (64) is the word every key pulses, labelled or not. */
static uint64_t *spl__bind_word(struct spl_store *s, unsigned bit)
{
    return bit == SPL_BIND_ALL ? &s->sig->bind_all : &s->binds[bit];
}

SPL_API int spl_bind(spl_store *s, unsigned bit, uint64_t groups)
{
    if (!s || bit > SPL_BIND_ALL)
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    atomic_fetch_or_explicit(SPL__A64(spl__bind_word(s, bit)), groups, memory_order_relaxed);
    return 0;
}

SPL_API int spl_unbind(spl_store *s, unsigned bit, uint64_t groups)
{
    if (!s || bit > SPL_BIND_ALL)
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    atomic_fetch_and_explicit(SPL__A64(spl__bind_word(s, bit)), ~groups, memory_order_relaxed);
    return 0;
}

SPL_API int spl_bind_get(spl_store *s, unsigned bit, uint64_t *groups)
{
    if (!s || bit > SPL_BIND_ALL || !groups)
        return SPL_EINVAL;
    *groups = spl_load_relaxed(spl__bind_word(s, bit));
    return 0;
}

SPL_API int spl_pulses(spl_store *s, unsigned group, uint64_t *count)
{
    if (!s || group >= SPL_SIG_GROUPS || !count)
        return SPL_EINVAL;
    *count = spl_load_relaxed(&s->groups[group].pulses);
    return 0;
}

uint64_t spl__changes(struct spl_store *s)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < SPL_SIG_STRIPES; i++)
        sum += spl_load_relaxed(&s->stripes[i].changes);
    return sum;
}

SPL_API uint64_t spl_changes(spl_store *s) { return s ? spl__changes(s) : 0; }

static void spl__snap(struct spl_store *s, uint64_t *snap)
{
    for (unsigned g = 0; g < SPL_SIG_GROUPS; g++)
        snap[g] = spl_load_seqcst(&s->groups[g].pulses);
}

/* ---- waiting on groups ----------------------------------------------------- */

static uint64_t spl__moved(struct spl_store *s, uint64_t groups, uint64_t *snap)
{
    uint64_t fired = 0;
    for (uint64_t m = groups; m; m &= m - 1) {
        unsigned g = (unsigned)__builtin_ctzll(m);
        uint64_t v = spl_load_seqcst(&s->groups[g].pulses);
        if (v != snap[g]) {
            snap[g] = v;
            fired |= 1ull << g;
        }
    }
    return fired;
}

/* The wait proper; `stop` (may be NULL) ends it early when it becomes
 * non-zero and the bell is rung (spl_sub_close uses it). */
static int spl__group_wait(struct spl_store *s, uint64_t groups, uint64_t *snap, uint64_t deadline,
                           uint64_t *fired_out, const _Atomic int *stop)
{
    uint64_t fired = spl__moved(s, groups, snap);
    if (fired || (deadline && spl__expired(deadline))) {
        if (fired_out)
            *fired_out = fired;
        return fired ? 0 : SPL_ETIMEDOUT;
    }
    struct spl_sig_rec *r = spl__rec_claim(s);
    spl__count_groups(s, r, groups, 1, 1);
    int rc = 0;
    for (;;) {
#ifndef SPL_BROKEN_BELL_LATE
        uint32_t seen = spl_load32_seqcst(&s->sig->bell);
        fired = spl__moved(s, groups, snap);
#else /* deliberately broken build for `make test-broken`: the bell is read
         after the check, so a pulse in between is slept through.  The gap
         is held open until the bell moves (at most 1 s), so that the pulse
         is lost however busy the machine is: the hunt must catch it every
         time (tests/mp/sighunt.c). */
        fired = spl__moved(s, groups, snap);
        if (!fired && !(stop && atomic_load(stop))) {
            uint32_t b0 = spl_load32_seqcst(&s->sig->bell);
            uint64_t until = spl__clock_ns(CLOCK_MONOTONIC) + 1000000000ull;
            while (spl_load32_seqcst(&s->sig->bell) == b0 && spl__clock_ns(CLOCK_MONOTONIC) < until) {
                struct timespec ts = {0, 20000};
                nanosleep(&ts, NULL);
            }
        }
        uint32_t seen = spl_load32_seqcst(&s->sig->bell);
#endif
        if (fired || (stop && atomic_load(stop)))
            break;
        if (spl__expired(deadline) || spl__futex_wait(&s->sig->bell, seen, deadline, spl__bits_of(groups))) {
            fired = spl__moved(s, groups, snap);
            rc = fired ? 0 : SPL_ETIMEDOUT;
            break;
        }
    }
    spl__count_groups(s, r, groups, 1, 0);
    spl__rec_release(r);
    if (fired_out)
        *fired_out = fired;
    return rc;
}


/* ---- waiting on a key -------------------------------------------------------- */

/* Sleep on slot idx's key bell until check() stops it or the deadline
 * (CLOCK_MONOTONIC ns, 0 = none) passes.  The sleeper first counts itself
 * in kwait[idx] (seq_cst RMW, recorded in a waiter record so a killed
 * sleeper's count is taken back by spl_signal_repair); then, every round,
 * it bumps the bell BEFORE check() looks at the slot, and sleeps only while
 * the bell still holds the value it bumped it to.  A writer commits (epoch,
 * unlock), then does a seq_cst RMW and loads kwait[idx] and the bell
 * (spl__note_send): either it sees the count and a bell that moved since
 * its last wake-up of the slot, and rings the bell after our bump (the futex
 * wait fails or is woken), or our check sees its commit.  check() returns 1 to sleep on
 * (it may lower *until for this round), anything else to stop with that
 * result.  Returns check's result, or SPL_ETIMEDOUT at the deadline.
 * Shared by spl_key_wait and the *_wait calls' contention sleeps. */
static _Thread_local uint64_t spl__kslot_waits; /* this thread's futex waits in spl__kslot_sleep */

uint64_t spl__kslot_stats(void) { return spl__kslot_waits; }

int spl__kslot_sleep(struct spl_store *s, uint32_t idx, uint64_t deadline, spl__kcheck_fn check, void *ctx)
{
    struct spl_sig_rec *r = spl__rec_claim(s);
    spl__count_key(s, r, idx, 1);
    int rc;
    for (;;) {
        /* bump, not just read: a writer that finds kbell where its last
         * wake-up of this slot left it skips the wake (spl__note_send) */
        uint32_t seen = spl_fetch_add32_seqcst(&s->sig->kbell, 1) + 1;
        uint64_t until = deadline;
        rc = check(s, ctx, &until);
        if (rc != 1)
            break;
        if (spl__expired(deadline)) {
            rc = SPL_ETIMEDOUT;
            break;
        }
        spl__kslot_waits++;
        spl__futex_wait(&s->sig->kbell, seen, until, 1u << (idx & 31));
    }
    spl__count_key(s, r, idx, 0);
    spl__rec_release(r);
    return rc;
}

struct spl__kwait {
    const char *key;
    uint64_t epoch; /* wait for the key's epoch to pass this */
    uint32_t idx;   /* the key's slot */
    spl_meta m;
    uint64_t slice; /* while a writer is inside: the next look's delay */
};

static int spl__kwait_check(struct spl_store *s, void *ctx, uint64_t *until)
{
    struct spl__kwait *w = ctx;
    int rc = spl_meta_get(s, w->key, &w->m);
    if (rc == 0 && (w->m.epoch > w->epoch || w->m.slot != w->idx))
        return w->m.epoch > w->epoch ? 0 : SPL_ENOENT; /* (never: a re-inserted key starts above) */
    if (rc != 0 && rc != SPL_EAGAIN)
        return rc;
    if (rc == SPL_EAGAIN) {
        /* a writer inside: its commit wakes this sleep (the slot's sleeper
         * count), so look again only to catch a writer that died there
         * (spl_meta_get recovers it): after 1 ms, doubling up to 8 ms */
        uint64_t soon = spl__clock_ns(CLOCK_MONOTONIC) + w->slice;
        if (!*until || soon < *until)
            *until = soon;
        if (w->slice < 8 * SPL_CHECK_NS)
            w->slice *= 2;
    } else {
        w->slice = SPL_CHECK_NS;
    }
    return 1;
}

SPL_API int spl_key_wait(spl_store *s, const char *key, uint64_t epoch, int64_t timeout_ns,
                         uint64_t *epoch_out)
{
    if (!s || !key)
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    uint64_t deadline = spl__deadline(timeout_ns);
    struct spl__kwait w = {key, epoch, 0, {0}, SPL_CHECK_NS};
    int rc;
    /* find the key's slot: a busy one is waited for as spl_get_wait does
     * (asleep on it until its writer commits; a dead writer's slot is
     * recovered), within the timeout */
    if ((rc = spl_meta_get(s, key, &w.m)) == SPL_EAGAIN) {
        struct spl__contend c;
        spl__contend_init(&c, timeout_ns < 0 ? UINT64_MAX / 2 : (uint64_t)timeout_ns + 1);
        while (rc == SPL_EAGAIN) {
            if (spl__contend_pause(s, key, 0, &c))
                return SPL_ETIMEDOUT;
            rc = spl_meta_get(s, key, &w.m);
        }
    }
    if (rc)
        return rc;
    if (w.m.epoch <= epoch) {
        w.idx = w.m.slot;
        rc = spl__kslot_sleep(s, w.idx, deadline, spl__kwait_check, &w);
    }
    if (rc == 0 && epoch_out)
        *epoch_out = w.m.epoch;
    return rc;
}

/* ---- subscriptions --------------------------------------------------------- */

struct spl_sub {
    struct spl_store *s;
    uint64_t groups;
    uint64_t snap[SPL_SIG_GROUPS];
    uint64_t cursor; /* next feed position to read */
    struct spl_sig_rec *rec;
    /* descriptor */
    int efd;
    pthread_t thr;
    int thr_on;
    _Atomic int stop;
    uint64_t busy_ns; /* spl__sub_busy_wait: 0, an event's busy slot is UNKNOWN at once */
};

SPL_API int spl_sub_open(spl_store *s, uint64_t groups, spl_sub **out)
{
    if (!s || !groups || !out)
        return SPL_EINVAL;
    *out = NULL;
    if (s->rdonly)
        return SPL_EROFS;
    spl_signal_repair(s);
    spl_sub *u = calloc(1, sizeof *u);
    if (!u)
        return SPL_ENOMEM;
    u->s = s;
    u->groups = groups;
    u->efd = -1;
    u->rec = spl__rec_claim(s);
    spl__sub_lock(s);
    atomic_fetch_or_explicit(SPL__A64(&s->sig->followed), groups, memory_order_seq_cst);
    spl__count_groups(s, u->rec, groups, 0, 1); /* feed on: writers see subs */
    spl__sub_unlock(s);
    u->cursor = spl_load_seqcst(&s->sig->ring_head);
    spl__snap(s, u->snap);
    *out = u;
    return 0;
}

SPL_API void spl_sub_close(spl_sub *u)
{
    if (!u)
        return;
    if (u->thr_on) {
        atomic_store(&u->stop, 1);
        /* ring the bell for the helper thread's groups; others absorb it */
        spl_fetch_add32_seqcst(&u->s->sig->bell, 1);
        spl__futex_wake(&u->s->sig->bell, spl__bits_of(u->groups));
        pthread_join(u->thr, NULL);
    }
    if (u->efd >= 0)
        close(u->efd);
    spl__sub_lock(u->s);
    spl__count_groups(u->s, u->rec, u->groups, 0, 0);
    spl__followed_recompute(u->s);
    spl__sub_unlock(u->s);
    spl__rec_release(u->rec);
    free(u);
}

SPL_API int spl_sub_wait(spl_sub *u, int64_t timeout_ns, uint64_t *fired)
{
    if (!u)
        return SPL_EINVAL;
    return spl__group_wait(u->s, u->groups, u->snap, spl__deadline(timeout_ns), fired, NULL);
}

SPL_API int spl_sub_seen(spl_sub *u, unsigned group, uint64_t *count)
{
    if (!u || group >= SPL_SIG_GROUPS || !count)
        return SPL_EINVAL;
    *count = u->snap[group];
    return 0;
}

/* Read feed entry p.  1: valid (copied to *out); 0: not published yet;
 * -1: overwritten or torn (lost). */
static int spl__ent_read(struct spl_store *s, uint64_t p, struct spl_sig_ent *out)
{
    struct spl_sig_ent *e = &s->ring[p & s->feed_mask];
    uint64_t q = spl_load_acquire(&e->seq); /* pairs with spl__feed */
    if (q != p + 1)
        return q > p + 1 ? -1 : 0;
    out->epoch = spl_load_relaxed(&e->epoch);
    out->groups = spl_load_relaxed(&e->groups);
    out->fp = spl_load_relaxed(&e->fp);
    out->slot = spl_load32_relaxed(&e->slot);
    out->kind = spl_load32_relaxed(&e->kind);
    out->check = spl_load_relaxed(&e->check);
    spl_fence_acquire();
    q = spl_load_relaxed(&e->seq);
    if (q != p + 1)
        return q > p + 1 || q == 0 ? -1 : 0;
    if (out->check != spl__ent_check(p, out->epoch, out->groups, out->fp, out->slot, out->kind))
        return -1;
    return 1;
}

void spl__sub_busy_wait(spl_sub *u, uint64_t ns)
{
    if (u)
        u->busy_ns = ns;
}

/* spl__feed_key for a slot a writer is inside (it gave SPL_EAGAIN): wait
 * for the writer's commit asleep on the slot, up to u->busy_ns, and read
 * the key again. */
static int spl__feed_key_wait(spl_sub *u, uint32_t idx, uint64_t fp, char *key, size_t cap, size_t *len)
{
    struct spl_store *s = u->s;
    uint64_t end = spl__clock_ns(CLOCK_MONOTONIC) + u->busy_ns;
    int rc = SPL_EAGAIN;
    while (rc == SPL_EAGAIN && !spl__expired(end)) {
        uint64_t e = spl_load_seqcst(&spl__slot(s, idx)->epoch);
        if (e & 1)
            spl__slot_sleep(s, idx, e, end);
        else
            sched_yield(); /* committed meanwhile, or writers in turn */
        rc = spl__feed_key(s, idx, fp, key, cap, len);
    }
    return rc;
}

SPL_API int spl_sub_next(spl_sub *u, spl_event *ev, char *key, size_t cap)
{
    if (!u || !ev || (!key && cap))
        return SPL_EINVAL;
    struct spl_store *s = u->s;
    for (;;) {
        uint64_t head = spl_load_acquire(&s->sig->ring_head);
        uint64_t p = u->cursor;
        if (p >= head)
            return SPL_ENOENT;
        if (head - p > (uint64_t)s->feed_mask + 1) {
            u->cursor = head; /* lapped: skip to now */
            return SPL_EOVERFLOW;
        }
        struct spl_sig_ent e;
        int r = spl__ent_read(s, p, &e);
        unsigned round = 0;
        for (int n = 0; r == 0 && n < 14; n++) {
            spl__backoff(&round); /* a writer between its claim and publish */
            r = spl__ent_read(s, p, &e);
        }
        if (r <= 0) {
            /* overwritten, torn, or a writer that never published (it died
             * or stalls): this one is lost to us */
            u->cursor = p + 1;
            return SPL_EOVERFLOW;
        }
        if (!(e.groups & u->groups)) {
            u->cursor = p + 1;
            continue;
        }
        memset(ev, 0, sizeof *ev);
        ev->seq = p;
        ev->epoch = e.epoch;
        ev->groups = e.groups & u->groups;
        ev->slot = e.slot;
        ev->kind = e.kind;
        if (e.kind == SPL_EV_SIGNAL || e.slot == SPL_EV_NOSLOT) {
            ev->slot = SPL_EV_NOSLOT;
            ev->kind = SPL_EV_SIGNAL;
            ev->epoch = 0;
            if (cap)
                key[0] = 0;
            u->cursor = p + 1;
            return 0;
        }
        if (e.slot >= s->nslots || e.kind < SPL_EV_CHANGED || e.kind > SPL_EV_BUMPED) {
            u->cursor = p + 1; /* untrusted: a hostile entry */
            return SPL_ECORRUPT;
        }
        int rc = spl__feed_key(s, e.slot, e.fp, key, cap, &ev->key_len);
        if (rc == SPL_EAGAIN && u->busy_ns)
            rc = spl__feed_key_wait(u, e.slot, e.fp, key, cap, &ev->key_len);
        if (rc == SPL_ENOBUFS)
            return rc; /* not consumed */
        if (rc != 0)
            ev->kind = SPL_EV_UNKNOWN;
        u->cursor = p + 1;
        return 0;
    }
}

static void *spl__fd_thread(void *arg)
{
    spl_sub *u = arg;
    uint64_t snap[SPL_SIG_GROUPS];
    memcpy(snap, u->snap, sizeof snap);
    while (!atomic_load(&u->stop)) {
        uint64_t fired = 0;
        int rc = spl__group_wait(u->s, u->groups, snap, 0, &fired, &u->stop);
        if (rc == 0 && fired) {
            uint64_t one = 1;
            ssize_t w = write(u->efd, &one, sizeof one); /* EAGAIN: already readable */
            (void)w;
        }
    }
    return NULL;
}

SPL_API int spl_sub_fd(spl_sub *u)
{
    if (!u)
        return SPL_EINVAL;
    if (u->efd >= 0)
        return u->efd;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    u->efd = fd;
    int e = pthread_create(&u->thr, NULL, spl__fd_thread, u);
    if (e) {
        close(fd);
        u->efd = -1;
        return -e;
    }
    u->thr_on = 1;
    return fd;
}
