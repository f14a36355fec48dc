/*
 * hnsw_test.h - helpers of the HNSW tests (each test is one program: exit
 * 0 on success, a message and exit 1 on the first failure).
 */
#ifndef HNSW_TEST_H
#define HNSW_TEST_H

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hnsw.h"
#include "hnsw_data.h"

static const char *t_name = "hnsw-test";

__attribute__((format(printf, 1, 2), noreturn)) static void t_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: FAIL: ", t_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

#define T_RC(expr, want)                                                                           \
    do {                                                                                           \
        int rc__ = (int)(expr), want__ = (int)(want);                                              \
        if (rc__ != want__)                                                                        \
            t_fail("%s:%d: %s = %d (%s), expected %s", __FILE__, __LINE__, #expr, rc__,            \
                   spl_err_name(rc__), spl_err_name(want__));                                      \
    } while (0)

#define T_TRUE(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            t_fail(__VA_ARGS__);                                                                   \
    } while (0)

static inline double t_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A private SHM directory for named stores and regions (removed at exit by
 * t_cleanup). */
static char t_dir[256];

static inline void t_cleanup(void)
{
    if (!t_dir[0])
        return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "%s: could not remove %s\n", t_name, t_dir);
}

static inline void t_shm_dir(void)
{
    snprintf(t_dir, sizeof t_dir, "/dev/shm/hnsw-test-%d-XXXXXX", (int)getpid());
    if (!mkdtemp(t_dir)) {
        snprintf(t_dir, sizeof t_dir, "/tmp/hnsw-test-%d-XXXXXX", (int)getpid());
        if (!mkdtemp(t_dir))
            t_fail("mkdtemp: %s", strerror(errno));
    }
    chmod(t_dir, 0700);
    setenv("SPLINTER_SHM_DIR", t_dir, 1);
    atexit(t_cleanup);
}

/* A store with vectors: named (SHM, in t_dir) or a memfd (name NULL). */
static inline spl_store *t_store(const char *name, uint32_t slots, uint32_t dim)
{
    spl_options o;
    spl_options_init(&o);
    o.backing = name ? SPL_BACKING_SHM : SPL_BACKING_MEMFD;
    o.geom.slots = slots;
    o.geom.key_max = 32;
    o.geom.val_max = 16;
    o.geom.vec_dim = dim;
    spl_store *s = NULL;
    T_RC(spl_create(&s, name, &o), 0);
    return s;
}

static inline void t_key(char *out, uint32_t i) { snprintf(out, 32, "k%06u", i); }

/* n vectors from g under keys k000000.. */
static inline void t_fill(spl_store *s, hd_gen *g, uint32_t first, uint32_t n, float *keep)
{
    float v[4096];
    char key[32];
    for (uint32_t i = first; i < first + n; i++) {
        hd_point(g, v);
        if (keep)
            memcpy(keep + (size_t)i * g->dim, v, (size_t)g->dim * 4);
        t_key(key, i);
        int rc;
        while ((rc = spl_vec_set(s, key, v, g->dim)) == SPL_EAGAIN) {
        }
        T_RC(rc, 0);
    }
}

/* Recall@k of the ANN answer against the exact one for the same query
 * (keys compared); also checks the common hits' scores agree. */
static inline uint32_t t_overlap(const spl_vec_result *ann, const spl_vec_result *ex)
{
    uint32_t hit = 0;
    for (uint32_t i = 0; i < ann->n; i++)
        for (uint32_t j = 0; j < ex->n; j++)
            if (strcmp(ann->hits[i].key, ex->hits[j].key) == 0) {
                float a = ann->hits[i].score, b = ex->hits[j].score;
                T_TRUE(fabsf(a - b) <= 1e-4f * (1.0f + fabsf(b)), "score of %s: ann %.7g, exact %.7g",
                       ann->hits[i].key, (double)a, (double)b);
                hit++;
                break;
            }
    return hit;
}

/* Every hit must be a key holding a vector whose score against q is the
 * hit's, at the hit's epoch (unless the key has changed since: then the
 * check is skipped and counted).  Returns the number of hits skipped. */
static inline uint32_t t_hits_valid(spl_store *s, const spl_vec_result *r, const float *q, uint32_t dim,
                                    spl_metric m)
{
    float v[4096];
    uint32_t changed = 0;
    for (uint32_t i = 0; i < r->n; i++) {
        uint64_t e = 0;
        int rc = spl_vec_get(s, r->hits[i].key, v, dim, &e);
        if (rc == SPL_EAGAIN) {
            changed++;
            continue;
        }
        if (rc == SPL_ENOVEC || rc == SPL_ENOENT) {
            spl_meta meta;
            int mr = spl_meta_get(s, r->hits[i].key, &meta);
            /* gone or cleared after the search: fine only if its epoch moved */
            T_TRUE(mr == SPL_ENOENT || meta.epoch != r->hits[i].epoch,
                   "hit %s holds no vector at its own epoch %llu", r->hits[i].key,
                   (unsigned long long)r->hits[i].epoch);
            changed++;
            continue;
        }
        T_RC(rc, 0);
        if (e != r->hits[i].epoch) {
            T_TRUE(e > r->hits[i].epoch, "hit %s: epoch went back", r->hits[i].key);
            changed++;
            continue;
        }
        double dot = 0, xn = 0, qn = 0;
        for (uint32_t j = 0; j < dim; j++) {
            dot += (double)q[j] * v[j];
            xn += (double)v[j] * v[j];
            qn += (double)q[j] * q[j];
        }
        double want = m == SPL_METRIC_COSINE ? (xn > 0 && qn > 0 ? dot / sqrt(xn * qn) : 0)
                      : m == SPL_METRIC_DOT  ? dot
                                             : sqrt(fmax(0, qn + xn - 2 * dot));
        T_TRUE(fabs(want - r->hits[i].score) <= 1e-3 * (1 + fabs(want)), "hit %s: score %.7g, its vector gives %.7g",
               r->hits[i].key, (double)r->hits[i].score, want);
    }
    return changed;
}

#endif /* HNSW_TEST_H */
