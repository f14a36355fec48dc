/*
 * ann.c - the approximate index a running fragment offers to every
 * process (splinter_fragment.h, desc->ann_*): spl_vec_search with
 * SPL_VQ_ANN on a handle without a provider of its own finds, in the
 * registry the RUNNING instances its hosts flagged SPL_REG_F_ANN (up to
 * SPL__ANN_MAX), loads their libraries here (checked as a host checks
 * them), lets each map its regions (ann_open) and asks them in registry
 * order: the first that does not decline (SPL_ESTALE: building or lagging;
 * SPL_ENOTSUP: another metric) answers; if all decline, or there is none,
 * the exact scan does.  Nothing here knows what the index is.
 *
 * Per handle, made at the first such search.  The registry is looked at
 * again at most every 100 ms: an instance that stopped, died or was
 * restarted is closed (and a new one opened); one that could not be opened
 * is tried again after that much time.  Searches hold the lock
 * shared; a look at the registry that changes something takes it alone.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "frag.h"

#define SPL__ANN_RECHECK_NS (100ull * 1000 * 1000)
#define SPL__ANN_MAX        4 /* instances open at once per handle */

struct spl__ann_inst {
    int idx;            /* registry entry */
    uint64_t host_id;   /* its host and start when opened: another means a restart */
    uint64_t started_ns;
    struct spl__frag_lib lib;
    void *ud;           /* ann_open's */
};

struct spl__ann {
    pthread_rwlock_t lk;
    _Atomic uint64_t checked_ns; /* CLOCK_MONOTONIC of the last look (0: never) */
    /* under lk */
    unsigned n;                  /* open instances, in registry order */
    struct spl__ann_inst in[SPL__ANN_MAX];
};

static void spl__ann_drop(struct spl__ann_inst *x)
{
    if (x->ud)
        x->lib.d.ann_close(x->ud);
    if (x->lib.dl)
        spl__frag_lib_close(&x->lib);
    memset(x, 0, sizeof *x);
    x->idx = -1;
}

/* Is entry i a running ANN instance?  fi gets its info. */
static int spl__ann_candidate(struct spl_store *s, uint32_t i, spl_frag_info *fi)
{
    if (spl__reg_read(s, i, fi) != 0 || fi->state != SPL_FRAG_RUNNING)
        return 0;
    return (spl_load32_relaxed(&spl__reg_ent(s, i)->flags) & SPL_REG_F_ANN) != 0;
}

/* Under lk held alone: keep the open instances that still run (the same
 * start of the same host), and open the running ones not open yet, up to
 * SPL__ANN_MAX.  Several instances (another metric, other options) each
 * get the searches the ones before them decline. */
static void spl__ann_refresh(struct spl_store *s, struct spl__ann *a)
{
    spl_frag_info fi;
    unsigned kept = 0;
    for (unsigned k = 0; k < a->n; k++) {
        struct spl__ann_inst *x = &a->in[k];
        if (spl__ann_candidate(s, (uint32_t)x->idx, &fi) && fi.host_id == x->host_id &&
            fi.started_ns == x->started_ns)
            a->in[kept++] = *x; /* the same instance, still running */
        else
            spl__ann_drop(x);
    }
    a->n = kept;
    for (uint32_t i = 0; i < SPL_REG_ENTRIES && a->n < SPL__ANN_MAX; i++) {
        unsigned k = 0;
        while (k < kept && a->in[k].idx != (int)i)
            k++;
        if (k < kept || !spl__ann_candidate(s, i, &fi))
            continue; /* open already, or not a running ANN instance */
        struct spl__frag_lib lib;
        if (spl__frag_lib_open(fi.path, &lib) != 0)
            continue;
        void *ud = NULL;
        if (!lib.d.ann_open || !lib.d.ann_search || !lib.d.ann_close ||
            lib.d.ann_open(s, fi.name, &ud) != 0 || !ud) {
            spl__frag_lib_close(&lib);
            continue;
        }
        a->in[a->n++] = (struct spl__ann_inst){(int)i, fi.host_id, fi.started_ns, lib, ud};
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
    for (unsigned k = 0; k < a->n; k++) {
        *out = NULL;
        rc = a->in[k].lib.d.ann_search(a->in[k].ud, s, q, out);
        if (rc != SPL_ESTALE && rc != SPL_ENOTSUP)
            break; /* answered, or failed for a reason of its own */
    }
    pthread_rwlock_unlock(&a->lk);
    return rc;
}

void spl__ann_free(struct spl_store *s)
{
    struct spl__ann *a = atomic_load_explicit(&s->ann_auto, memory_order_acquire);
    if (!a)
        return;
    for (unsigned k = 0; k < a->n; k++)
        spl__ann_drop(&a->in[k]);
    pthread_rwlock_destroy(&a->lk);
    free(a);
    s->ann_auto = NULL;
}
