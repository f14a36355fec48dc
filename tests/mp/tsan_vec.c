/*
 * tsan_vec.c - threads on ONE handle: vector writers (set, clear, delete
 * and re-create), a searcher (searches split over 2 threads, so threads of
 * its own) and a getter, with the stamp check of vectorn.c (dim 61, every
 * element 2^t, query all ones: a consistent vector scores 61 * 2^t).  Built
 * with -fsanitize=thread by `make test-tsan` (no suppressions; a TSan build
 * of the library copies lanes with atomics before scoring them, see
 * src/vec.c).  Exit 0 iff no torn vector, no error, and progress.
 *
 *   tsan_vec [--ops 60000] [--seed N]
 */
#include <pthread.h>

#include "mp_common.h"

#define TV_DIM  61u
#define TV_KEYS 32u
#define TV_TMAX 12u

typedef struct tv_ctx {
    spl_store *s;
    uint64_t ops, seed;
    _Atomic int stop;
    _Atomic uint64_t writes, searches, hits, gets, torn, errors;
} tv_ctx;

static int tv_valid(float score)
{
    for (uint32_t t = 0; t <= TV_TMAX; t++)
        if (score == (float)(TV_DIM << t))
            return 1;
    return 0;
}

static void *tv_writer(void *arg)
{
    tv_ctx *c = arg;
    mp_rng r;
    mp_rng_seed(&r, c->seed, (uint64_t)(uintptr_t)&r);
    float v[TV_DIM];
    char key[16];
    for (uint64_t i = 0; i < c->ops; i++) {
        uint32_t op = mp_below(&r, 32);
        snprintf(key, sizeof key, "tv%02u", mp_below(&r, TV_KEYS));
        int rc;
        if (op == 0) {
            rc = spl_vec_clear(c->s, key);
            rc = rc == SPL_ENOVEC || rc == SPL_ENOENT ? 0 : rc;
        } else if (op == 1) {
            rc = spl_unset(c->s, key);
            rc = rc == SPL_ENOENT ? 0 : rc;
        } else {
            float stamp = (float)(1u << mp_below(&r, TV_TMAX + 1));
            for (uint32_t j = 0; j < TV_DIM; j++)
                v[j] = stamp;
            rc = spl_vec_set(c->s, key, v, TV_DIM);
        }
        if (rc == 0)
            atomic_fetch_add(&c->writes, 1);
        else if (rc != SPL_EAGAIN && atomic_fetch_add(&c->errors, 1) < 5)
            MP_FAIL("writer: %s", spl_err_name(rc));
    }
    return NULL;
}

static void *tv_searcher(void *arg)
{
    tv_ctx *c = arg;
    float q[TV_DIM];
    for (uint32_t j = 0; j < TV_DIM; j++)
        q[j] = 1;
    while (!atomic_load(&c->stop)) {
        spl_vec_query vq = {.vec = q, .dim = TV_DIM, .k = TV_KEYS, .metric = SPL_METRIC_DOT,
                            .threads = 2};
        spl_vec_result *res = NULL;
        int rc = spl_vec_search(c->s, &vq, &res);
        if (rc != 0) {
            if (atomic_fetch_add(&c->errors, 1) < 5)
                MP_FAIL("search: %s", spl_err_name(rc));
            continue;
        }
        for (uint32_t j = 0; j < res->n; j++)
            if (!tv_valid(res->hits[j].score) && atomic_fetch_add(&c->torn, 1) < 5)
                MP_FAIL("torn vector %s scored %.1f", res->hits[j].key, res->hits[j].score);
        atomic_fetch_add(&c->hits, res->n);
        atomic_fetch_add(&c->searches, 1);
        spl_vec_result_free(res);
    }
    return NULL;
}

static void *tv_getter(void *arg)
{
    tv_ctx *c = arg;
    float g[TV_DIM];
    char key[16];
    for (uint32_t n = 0; !atomic_load(&c->stop); n++) {
        snprintf(key, sizeof key, "tv%02u", n % TV_KEYS);
        if (spl_vec_get(c->s, key, g, TV_DIM, NULL) != 0)
            continue;
        int ok = tv_valid(g[0] * TV_DIM);
        for (uint32_t i = 1; i < TV_DIM; i++)
            ok &= g[i] == g[0];
        if (!ok && atomic_fetch_add(&c->torn, 1) < 5)
            MP_FAIL("torn spl_vec_get of %s", key);
        atomic_fetch_add(&c->gets, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static tv_ctx c;
    c.ops = 60000;
    c.seed = mp_time_seed();
    for (int i = 1; i < argc; i++) {
        if (mp_arg_u64(argc, argv, &i, "--ops", &c.ops) ||
            mp_arg_u64(argc, argv, &i, "--seed", &c.seed))
            continue;
        fprintf(stderr, "usage: tsan_vec [--ops 60000] [--seed N]\n");
        return 2;
    }
    printf("tsan_vec: seed %llu\n", (unsigned long long)c.seed);
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD;
    o.geom.slots = 2 * TV_KEYS;
    o.geom.key_max = 16;
    o.geom.val_max = 8;
    o.geom.vec_dim = TV_DIM;
    int rc = spl_create(&c.s, "tsan_vec", &o);
    if (rc != 0) {
        fprintf(stderr, "tsan_vec: create: %s\n", spl_err_name(rc));
        return 1;
    }
    pthread_t w[2], sr, gt;
    for (int i = 0; i < 2; i++)
        pthread_create(&w[i], NULL, tv_writer, &c);
    pthread_create(&sr, NULL, tv_searcher, &c);
    pthread_create(&gt, NULL, tv_getter, &c);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    atomic_store(&c.stop, 1);
    pthread_join(sr, NULL);
    pthread_join(gt, NULL);
    printf("tsan_vec: %llu writes, %llu searches, %llu hits, %llu gets, %llu torn, %llu errors\n",
           (unsigned long long)c.writes, (unsigned long long)c.searches,
           (unsigned long long)c.hits, (unsigned long long)c.gets, (unsigned long long)c.torn,
           (unsigned long long)c.errors);
    spl_close(c.s);
    return c.torn || c.errors || !c.writes || !c.searches;
}
