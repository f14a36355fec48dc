/*
 * tsan_vec.c - threads on ONE handle: vector writers (set, clear, delete
 * and re-create), a searcher (searches split over 2 threads, so threads of
 * its own) and a getter, with the stamp check of mp_vec.h.  Built
 * with -fsanitize=thread by `make test-tsan` (no suppressions; a TSan build
 * of the library copies lanes with atomics before scoring them, see
 * src/vec.c).  Exit 0 iff no torn vector, no error, and progress.
 *
 *   tsan_vec [--ops 60000] [--seed N]
 */
#include <pthread.h>

#include "mp_vec.h"

#define TV_DIM  MPV_DIM
#define TV_KEYS 32u

typedef struct tv_ctx {
    spl_store *s;
    uint64_t ops, seed;
    _Atomic int stop;
    _Atomic uint64_t writes, searches, hits, gets, torn, errors;
} tv_ctx;

static void *tv_writer(void *arg)
{
    tv_ctx *c = arg;
    mp_rng r;
    mp_rng_seed(&r, c->seed, (uint64_t)(uintptr_t)&r);
    for (uint64_t i = 0; i < c->ops; i++) {
        int rc = mpv_write_op(c->s, &r, TV_KEYS, "tv");
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
    while (!atomic_load(&c->stop)) {
        uint32_t torn, hits;
        uint64_t skipped;
        int rc = mpv_search(c->s, TV_KEYS, 2, &torn, &hits, &skipped);
        if (rc != 0) {
            if (atomic_fetch_add(&c->errors, 1) < 5)
                MP_FAIL("search: %s", spl_err_name(rc));
            continue;
        }
        atomic_fetch_add(&c->torn, torn);
        atomic_fetch_add(&c->hits, hits);
        atomic_fetch_add(&c->searches, 1);
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
        if (!mpv_copy_ok(g) && atomic_fetch_add(&c->torn, 1) < 5)
            MP_FAIL("torn spl_vec_get of %s", key);
        atomic_fetch_add(&c->gets, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static tv_ctx c;
    mpv_need_embeddings("tsan_vec");
    /* split every search over its threads (the pool), however small */
    setenv("SPLINTER_SPLIT_BYTES", "0", 1);
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
    c.s = mpv_store(TV_KEYS, "tsan_vec");
    if (!c.s)
        return 1;
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
