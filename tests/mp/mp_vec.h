/*
 * mp_vec.h - the stamp check shared by the vector concurrency tests
 * (vectorn.c: processes; tsan_vec.c: threads under TSan).
 *
 * Every vector holds MPV_DIM = 61 equal elements, a stamp 2^t (t = 0..12);
 * queried with all ones under the dot product, a consistent vector scores
 * exactly 61 * 2^t (sums of such integers are exact in float, in any
 * order).  A vector torn between stamps 2^a and 2^b scores j*2^a +
 * (61-j)*2^b for 0 < j < 61, which is never 61 * 2^c (61 is prime and does
 * not divide 2^d - 1 for d < 60).
 */
#ifndef MP_VEC_H
#define MP_VEC_H

#include "mp_common.h"

#define MPV_DIM  61u
#define MPV_TMAX 12u

/* Is score one a consistent stamp vector gives? */
static inline int mpv_valid(float score)
{
    for (uint32_t t = 0; t <= MPV_TMAX; t++)
        if (score == (float)(MPV_DIM << t))
            return 1;
    return 0;
}

/* The vector tests in a build without embeddings (WITH_EMBEDDINGS=0, no
 * vector storage): say so and exit MP_SKIP, which tests/run.sh shows as
 * skipped.  A build with embeddings always runs them. */
static inline void mpv_need_embeddings(const char *prog)
{
#if !SPL_WITH_EMBEDDINGS
    printf("%s: skipped: this build has no embeddings (WITH_EMBEDDINGS=0)\n", prog);
    fflush(stdout);
    exit(MP_SKIP);
#else
    (void)prog;
#endif
}

static inline void mpv_fill(float *v, uint32_t t)
{
    for (uint32_t i = 0; i < MPV_DIM; i++)
        v[i] = (float)(1u << t);
}

/* A copy from spl_vec_get: all elements equal, and a stamp. */
static inline int mpv_copy_ok(const float *g)
{
    int ok = mpv_valid(g[0] * MPV_DIM);
    for (uint32_t i = 1; i < MPV_DIM; i++)
        ok &= g[i] == g[0];
    return ok;
}

/* One random write to key "<pfx>NN" (NN < nkeys): 1 in 32 clears the
 * vector, 1 in 32 deletes the key (the next set re-creates it), the rest
 * set a random stamp.  Returns 0 (done, or nothing to clear or delete) or
 * the error. */
static inline int mpv_write_op(spl_store *s, mp_rng *r, uint32_t nkeys, const char *pfx)
{
    char key[16];
    uint32_t op = mp_below(r, 32);
    snprintf(key, sizeof key, "%s%02u", pfx, mp_below(r, nkeys));
    if (op == 0) {
        int rc = spl_vec_clear(s, key);
        return rc == SPL_ENOVEC || rc == SPL_ENOENT ? 0 : rc;
    }
    if (op == 1) {
        int rc = spl_unset(s, key);
        return rc == SPL_ENOENT ? 0 : rc;
    }
    float v[MPV_DIM];
    mpv_fill(v, mp_below(r, MPV_TMAX + 1));
    return spl_vec_set(s, key, v, MPV_DIM);
}

/* A search of every vector (k = nkeys) with the all-ones query under the
 * dot product.  Returns the search's result code; *torn gets the number of
 * hits whose score no consistent vector gives (the first few are printed). */
static inline int mpv_search(spl_store *s, uint32_t nkeys, uint32_t threads, uint32_t *torn,
                             uint32_t *hits, uint64_t *skipped)
{
    float q[MPV_DIM];
    mpv_fill(q, 0);
    spl_vec_query vq = {.vec = q, .dim = MPV_DIM, .k = nkeys, .metric = SPL_METRIC_DOT,
                        .threads = threads};
    spl_vec_result *res = NULL;
    *torn = *hits = 0;
    *skipped = 0;
    int rc = spl_vec_search(s, &vq, &res);
    if (rc != 0)
        return rc;
    for (uint32_t j = 0; j < res->n; j++)
        if (!mpv_valid(res->hits[j].score) && (*torn)++ < 3)
            MP_FAIL("torn vector %s scored %.1f", res->hits[j].key, res->hits[j].score);
    *hits = res->n;
    *skipped = res->skipped;
    spl_vec_result_free(res);
    return 0;
}

/* A MEMFD store for nkeys stamp vectors (2 * nkeys slots); NULL (and a
 * message naming tag) if it cannot be made. */
static inline spl_store *mpv_store(uint32_t nkeys, const char *tag)
{
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD;
    o.geom.slots = 2 * nkeys;
    o.geom.key_max = 16;
    o.geom.val_max = 8;
    o.geom.vec_dim = MPV_DIM;
    spl_store *s = NULL;
    int rc = spl_create(&s, tag, &o);
    if (rc != 0)
        fprintf(stderr, "%s: create: %s\n", tag, spl_err_name(rc));
    return s;
}

#endif
