/*
 * ann.c - the approximate index a running fragment offers to every
 * process (splinter_fragment.h, desc->ann_*): spl_vec_search with
 * SPL_VQ_ANN on a handle without a provider of its own finds, in the
 * registry, a RUNNING instance its host flagged SPL_REG_F_ANN, loads its
 * library here (checked as a host checks it), lets it map its regions
 * (ann_open) and searches through it; declines (the exact scan answers)
 * when there is none.  Nothing here knows what the index is.
 *
 * Per handle, made at the first such search.  The registry is looked at
 * again at most every 100 ms: an instance that stopped, died or was
 * restarted is closed (and the new one opened); an instance that could not
 * be opened is tried again after that much time.  Searches hold the lock
 * shared; a look at the registry that changes something takes it alone.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "frag.h"

#define SPL__ANN_RECHECK_NS (100ull * 1000 * 1000)

struct spl__ann {
    pthread_rwlock_t lk;
    _Atomic uint64_t checked_ns; /* CLOCK_MONOTONIC of the last look (0: never) */
    /* under lk */
    int idx;            /* registry entry in use, -1 none */
    uint64_t host_id;   /* its host and start when opened: another means a restart */
    uint64_t started_ns;
    struct spl__frag_lib lib;
    void *ud;           /* ann_open's, NULL when not open */
};

static void spl__ann_drop(struct spl__ann *a)
{
    if (a->ud)
        a->lib.d.ann_close(a->ud);
    if (a->lib.dl)
        spl__frag_lib_close(&a->lib);
    a->ud = NULL;
    a->idx = -1;
    a->host_id = a->started_ns = 0;
}

/* Is entry i a running ANN instance?  fi gets its info. */
static int spl__ann_candidate(struct spl_store *s, uint32_t i, spl_frag_info *fi)
{
    if (spl__reg_read(s, i, fi) != 0 || fi->state != SPL_FRAG_RUNNING)
        return 0;
    return (spl_load32_relaxed(&spl__reg_ent(s, i)->flags) & SPL_REG_F_ANN) != 0;
}

/* Under lk held alone: keep what is open if it still runs, else find one. */
static void spl__ann_refresh(struct spl_store *s, struct spl__ann *a)
{
    spl_frag_info fi;
    if (a->idx >= 0) {
        if (spl__ann_candidate(s, (uint32_t)a->idx, &fi) && fi.host_id == a->host_id &&
            fi.started_ns == a->started_ns)
            return; /* the same instance, still running */
        spl__ann_drop(a);
    }
    for (uint32_t i = 0; i < SPL_REG_ENTRIES; i++) {
        if (!spl__ann_candidate(s, i, &fi))
            continue;
        struct spl__frag_lib lib;
        if (spl__frag_lib_open(fi.path, &lib) != 0)
            continue;
        void *ud = NULL;
        if (!lib.d.ann_open || !lib.d.ann_search || !lib.d.ann_close ||
            lib.d.ann_open(s, fi.name, &ud) != 0 || !ud) {
            spl__frag_lib_close(&lib);
            continue;
        }
        a->lib = lib;
        a->ud = ud;
        a->idx = (int)i;
        a->host_id = fi.host_id;
        a->started_ns = fi.started_ns;
        return;
    }
}

static struct spl__ann *spl__ann_get(struct spl_store *s)
{
    struct spl__ann *a = atomic_load_explicit(&s->ann_auto, memory_order_acquire);
    if (a)
        return a;
    struct spl__ann *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    /* writers first: a look at the registry must not wait for a gap
     * between the searches of busy threads (glibc prefers readers) */
    pthread_rwlockattr_t at;
    pthread_rwlockattr_init(&at);
    pthread_rwlockattr_setkind_np(&at, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&n->lk, &at);
    pthread_rwlockattr_destroy(&at);
    n->idx = -1;
    /* pairs with the acquire above in other threads */
    if (!atomic_compare_exchange_strong_explicit(&s->ann_auto, &a, n, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        pthread_rwlock_destroy(&n->lk);
        free(n);
        return a;
    }
    return n;
}

int spl__ann_search(struct spl_store *s, const spl_vec_query *q, spl_vec_result **out)
{
    if (!s->reg || !s->path) /* no registry, or no regions (MEMFD) */
        return SPL_ESTALE;
    struct spl__ann *a = spl__ann_get(s);
    if (!a)
        return SPL_ESTALE;
    uint64_t now = spl__clock_ns(CLOCK_MONOTONIC);
    uint64_t seen = atomic_load_explicit(&a->checked_ns, memory_order_relaxed);
    if (!seen || (now > seen && now - seen >= SPL__ANN_RECHECK_NS)) {
        pthread_rwlock_wrlock(&a->lk);
        seen = atomic_load_explicit(&a->checked_ns, memory_order_relaxed);
        /* not done meanwhile by another thread */
        if (!seen || (now > seen && now - seen >= SPL__ANN_RECHECK_NS)) {
            spl__ann_refresh(s, a);
            atomic_store_explicit(&a->checked_ns, now | 1, memory_order_relaxed);
        }
        pthread_rwlock_unlock(&a->lk);
    }
    int rc = SPL_ESTALE;
    pthread_rwlock_rdlock(&a->lk);
    if (a->ud)
        rc = a->lib.d.ann_search(a->ud, s, q, out);
    pthread_rwlock_unlock(&a->lk);
    return rc;
}

void spl__ann_free(struct spl_store *s)
{
    struct spl__ann *a = atomic_load_explicit(&s->ann_auto, memory_order_acquire);
    if (!a)
        return;
    spl__ann_drop(a);
    pthread_rwlock_destroy(&a->lk);
    free(a);
    s->ann_auto = NULL;
}
