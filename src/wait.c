/*
 * wait.c - what the retrying calls (spl_set_wait, spl_get_wait,
 * spl_unset_wait, spl_int, spl_int_wait, and any call through
 * spl_retry_pause) do when they meet a busy slot.
 *
 * A writer inside a slot is normally out again within a microsecond, so the
 * caller first spins briefly, then yields; if the slot is still busy with
 * the same write (same epoch: its writer was preempted, stopped, or died)
 * the caller sleeps on the slot's key bell (the futex spl_key_wait uses:
 * src/signal.c) until the writer's commit wakes it.  On a machine with fewer
 * cores than processes, spinning readers would otherwise take the CPU from
 * the very writer they wait for.  A slot that is busy but moving (a hot
 * counter's writers) is not slept on: the caller backs off briefly.
 *
 * Writers pay nothing for this while nobody sleeps: spl__note_send already
 * loads the slot's key-waiter count on every commit (one load).  While
 * someone does, a writer makes one wake-up call per sleeper registration,
 * not one per commit (see spl__note_send).
 *
 * Nobody sleeps past a dead writer: each sleep lasts at most a slice
 * (SPL_CHECK_NS, doubling to 8 x while the slot stays busy), after which the
 * sleeper looks up the key again, and that look checks the owner's liveness
 * (rate-limited as everywhere) and recovers a dead writer's slot.
 */
#include <sched.h>
#include <string.h>

#include "internal.h"

#define SPL__SPIN_ROUNDS  3u /* 32, 64, 128 pauses */
#define SPL__YIELD_ROUNDS 2u
#define SPL__SLICE_MAX_NS (8 * SPL_CHECK_NS)

static _Thread_local uint64_t spl__retries, spl__sleeps;

void spl__contend_stats(uint64_t *retries, uint64_t *sleeps)
{
    if (retries)
        *retries = spl__retries;
    if (sleeps)
        *sleeps = spl__sleeps;
}

/* The clock is first read at the first SPL_EAGAIN: an uncontended call
 * pays nothing for its timeout. */
void spl__contend_init(struct spl__contend *c, uint64_t timeout_ns)
{
    c->timeout = timeout_ns;
    c->end = 0;
    c->round = 0;
    c->fallback = 8; /* spl__backoff's yields, then its short sleeps */
    c->idx = UINT32_MAX;
    c->epoch = 0;
}

struct spl__cw {
    const char *key;
    int write;
    uint32_t idx;   /* the slot slept on */
    uint64_t epoch; /* its epoch then */
    uint64_t slice; /* this round's longest sleep */
};

/* Sleep on while the same write keeps the key busy (same slot, same
 * epoch).  spl__busy_slot also checks (rate-limited) whether its writer
 * died, and recovers the slot. */
static int spl__cw_check(struct spl_store *s, void *ctx, uint64_t *until)
{
    struct spl__cw *w = ctx;
    uint64_t e = 0;
    if (spl__busy_slot(s, w->key, w->write, &e) != (int)w->idx || e != w->epoch)
        return 0;
    uint64_t soon = spl__clock_ns(CLOCK_MONOTONIC) + w->slice;
    if (soon < *until)
        *until = soon;
    if (w->slice < SPL__SLICE_MAX_NS)
        w->slice *= 2;
    return 1;
}

int spl__contend_pause(struct spl_store *s, const char *key, int write, struct spl__contend *c)
{
    spl__retries++;
    if (!c->timeout)
        return 1;
    uint64_t now = spl__clock_ns(CLOCK_MONOTONIC);
    if (!c->end)
        c->end = now + c->timeout;
    else if (now >= c->end)
        return 1;
#ifdef SPL_BROKEN_NO_SLEEP /* deliberately broken build for `make test-broken`: back off and retry, never sleep (the old way) */
    if (c->round < 100) {
        spl__backoff(&c->round);
        return 0;
    }
#endif
    unsigned r = c->round;
    if (r < SPL__SPIN_ROUNDS) {
        c->round++;
        for (unsigned n = 0; n < (32u << r); n++)
            spl_cpu_relax();
        return 0;
    }
    if (r < SPL__SPIN_ROUNDS + SPL__YIELD_ROUNDS) {
        c->round++;
        sched_yield();
        return 0;
    }
    /* Sleep only on a stuck slot: busy now with the epoch it had at the
     * previous look.  A hot slot whose writers keep committing is retried
     * after short back-offs: sleeping there would make every commit pay a
     * wake-up call and wake a herd of which one wins.  A read-only handle
     * cannot count itself as a sleeper (no write access). */
    uint64_t e = 0;
    int i = s->rdonly ? SPL_ENOENT : spl__busy_slot(s, key, write, &e);
    if (i < 0 || (uint32_t)i != c->idx || e != c->epoch) {
        c->idx = i < 0 ? UINT32_MAX : (uint32_t)i;
        c->epoch = e;
        spl__backoff(&c->fallback);
        return 0;
    }
    spl__sleeps++;
    struct spl__cw w = {key, write, (uint32_t)i, e, SPL_CHECK_NS};
    spl__kslot_sleep(s, (uint32_t)i, c->end, spl__cw_check, &w);
    return 0;
}

/* ---- the public form: spl_retry ---------------------------------------- */

_Static_assert(sizeof(struct spl__contend) <= sizeof(spl_retry), "spl_retry holds the wait's state");

/* The state moves in and out by memcpy: the caller's object is an
 * spl_retry, never accessed through another type (no aliasing). */
SPL_API void spl_retry_init(spl_retry *r, uint32_t timeout_us)
{
    if (!r)
        return;
    struct spl__contend c;
    spl__contend_init(&c, (uint64_t)timeout_us * 1000);
    memset(r, 0, sizeof *r);
    memcpy(r, &c, sizeof c);
}

SPL_API int spl_retry_pause(spl_store *s, const char *key, int write, spl_retry *r)
{
    if (!s || !r)
        return SPL_EINVAL;
    struct spl__contend c;
    memcpy(&c, r, sizeof c);
    int give_up = spl__contend_pause(s, key, write != 0, &c);
    memcpy(r, &c, sizeof c);
    return give_up ? SPL_EAGAIN : 0;
}
