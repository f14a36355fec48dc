/*
 * pool.c - the scan threads of a handle: started on the first search that
 * splits, reused by every later one, joined by spl_close.
 *
 * Creating and joining threads on every split search cost 35-45 us, more
 * than a whole search of a few thousand vectors.  A pool's workers sleep
 * on a condition variable; a search posts a job of n tasks, runs task 0
 * itself, then takes any task no worker has taken yet, and waits only for
 * tasks a worker is running.  So a search never waits for a worker to be
 * scheduled, jobs of concurrent searches on one handle share the workers,
 * and a pool that could not start a thread still completes every job.
 *
 * Fork: the child has the parent's memory but none of its threads, and the
 * pool's lock may have been held at the fork.  A fork handler (installed
 * once per process) bumps a generation counter in the child; a pool of an
 * older generation is never touched again (neither locked nor joined; its
 * memory is left), and the next search starts a fresh one.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "internal.h"

#define SPL__POOL_MAX 63u /* workers at most (threads are at most 64) */
#define SPL__SPIN_NS  20000u /* a worker waits this long for the next job before it sleeps */

struct spl__job {
    spl__task_fn fn;
    void *arg;
    uint32_t n;          /* tasks 1..n-1 are offered to workers */
    uint32_t next;       /* next task to take (under mu) */
    uint32_t running;    /* tasks taken by workers and not done (under mu) */
    struct spl__job *link; /* the queue of jobs with tasks left */
};

struct spl__pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* workers: a job was posted, or stop */
    pthread_cond_t done; /* callers: a worker finished a task */
    struct spl__job *head, *tail;
    _Atomic uint32_t posted; /* jobs posted so far: a spinning worker watches it */
    uint32_t nthreads, stop;
    unsigned gen;        /* the process generation that started it */
    struct spl__pool *stale; /* the list of pre-fork copies left behind */
    pthread_t tid[SPL__POOL_MAX];
};

static _Atomic unsigned spl__fork_gen;
/* Pre-fork copies a child left: kept reachable (never used) so that a leak
 * checker does not count them as lost. */
static struct spl__pool *_Atomic spl__stale_pools;
static pthread_once_t spl__fork_once = PTHREAD_ONCE_INIT;

static void spl__fork_child(void)
{
    atomic_fetch_add_explicit(&spl__fork_gen, 1, memory_order_relaxed);
}
static void spl__fork_hook(void) { pthread_atfork(NULL, NULL, spl__fork_child); }

/* Take a task of the queue's first job (mu held): 1 and *job, *t, or 0. */
static int spl__take(struct spl__pool *p, struct spl__job **job, uint32_t *t)
{
    struct spl__job *j = p->head;
    if (!j)
        return 0;
    *job = j;
    *t = j->next++;
    j->running++;
    if (j->next == j->n) { /* its last task: off the queue */
        p->head = j->link;
        if (!p->head)
            p->tail = NULL;
    }
    return 1;
}

static void *spl__worker(void *arg)
{
    struct spl__pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct spl__job *j;
        uint32_t t;
        if (spl__take(p, &j, &t)) {
            pthread_mutex_unlock(&p->mu);
            j->fn(j->arg, t);
            pthread_mutex_lock(&p->mu);
            if (--j->running == 0)
                pthread_cond_broadcast(&p->done);
            continue;
        }
        if (p->stop)
            break;
        /* Spin a little before sleeping: back-to-back searches then find
         * their workers awake (a wake-up from the futex costs several us). */
        uint32_t seen = atomic_load_explicit(&p->posted, memory_order_relaxed);
        pthread_mutex_unlock(&p->mu);
        uint64_t end = spl__clock_ns(CLOCK_MONOTONIC) + SPL__SPIN_NS;
        while (atomic_load_explicit(&p->posted, memory_order_relaxed) == seen &&
               spl__clock_ns(CLOCK_MONOTONIC) < end)
            spl_cpu_relax();
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stop && atomic_load_explicit(&p->posted, memory_order_relaxed) == seen)
            pthread_cond_wait(&p->work, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static struct spl__pool *spl__pool_new(unsigned gen)
{
    struct spl__pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->gen = gen;
    return p;
}

/* The handle's pool of this process generation (NULL: out of memory). */
static struct spl__pool *spl__pool_get(struct spl_store *s)
{
    pthread_once(&spl__fork_once, spl__fork_hook);
    unsigned gen = atomic_load_explicit(&spl__fork_gen, memory_order_relaxed);
    /* acquire: pairs with the CAS below, so the pool's init is seen */
    struct spl__pool *p = atomic_load_explicit(&s->pool, memory_order_acquire);
    while (!p || p->gen != gen) {
        struct spl__pool *fresh = spl__pool_new(gen);
        if (!fresh)
            return NULL;
        /* a pool of an older generation is a pre-fork copy: left as it is */
        struct spl__pool *old = p;
        if (atomic_compare_exchange_strong_explicit(&s->pool, &p, fresh, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            if (old) {
                old->stale = atomic_load_explicit(&spl__stale_pools, memory_order_relaxed);
                while (!atomic_compare_exchange_weak_explicit(&spl__stale_pools, &old->stale, old,
                                                              memory_order_relaxed, memory_order_relaxed))
                    ;
            }
            return fresh;
        }
        pthread_mutex_destroy(&fresh->mu); /* another thread installed one */
        pthread_cond_destroy(&fresh->work);
        pthread_cond_destroy(&fresh->done);
        free(fresh);
    }
    return p;
}

/* Start workers up to want (mu held).  Workers block every signal: signals
 * for the process go to the application's own threads. */
static void spl__pool_grow(struct spl__pool *p, uint32_t want)
{
    if (want > SPL__POOL_MAX)
        want = SPL__POOL_MAX;
    if (p->nthreads >= want)
        return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (p->nthreads < want && pthread_create(&p->tid[p->nthreads], NULL, spl__worker, p) == 0)
        p->nthreads++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void spl__pool_run(struct spl_store *s, spl__task_fn fn, void *arg, uint32_t n)
{
    struct spl__pool *p = n > 1 ? spl__pool_get(s) : NULL;
    if (!p) { /* one task, or no pool: all of it here */
        for (uint32_t t = 0; t < n; t++)
            fn(arg, t);
        return;
    }
    struct spl__job job = {fn, arg, n, 1, 0, NULL};
    pthread_mutex_lock(&p->mu);
    spl__pool_grow(p, n - 1);
    if (p->tail)
        p->tail->link = &job;
    else
        p->head = &job;
    p->tail = &job;
    atomic_fetch_add_explicit(&p->posted, 1, memory_order_relaxed);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0);
    pthread_mutex_lock(&p->mu);
    while (job.next < job.n) { /* tasks no worker took yet: ours */
        uint32_t t = job.next++;
        if (job.next == job.n) { /* off the queue (it may be behind others) */
            struct spl__job **pp = &p->head, *prev = NULL;
            while (*pp != &job)
                prev = *pp, pp = &(*pp)->link;
            *pp = job.link;
            if (p->tail == &job)
                p->tail = prev;
        }
        pthread_mutex_unlock(&p->mu);
        fn(arg, t);
        pthread_mutex_lock(&p->mu);
    }
    while (job.running)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void spl__pool_free(struct spl_store *s)
{
    struct spl__pool *p = atomic_load_explicit(&s->pool, memory_order_acquire);
    if (!p)
        return;
    atomic_store_explicit(&s->pool, NULL, memory_order_relaxed);
    if (p->gen != atomic_load_explicit(&spl__fork_gen, memory_order_relaxed)) {
        /* a pre-fork copy: its threads are not ours, its lock may be held */
        p->stale = atomic_load_explicit(&spl__stale_pools, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&spl__stale_pools, &p->stale, p,
                                                      memory_order_relaxed, memory_order_relaxed))
            ;
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (uint32_t t = 0; t < p->nthreads; t++)
        pthread_join(p->tid[t], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    free(p);
}
