/*
 * bench.h - shared pieces of splinter-bench: options, timing, the figure
 * table / JSON reporter, key material.
 */
#ifndef SPL_BENCH_H
#define SPL_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "splinter.h"

#define BENCH_REPEATS 3    /* every figure is measured this many times; best kept */
#define BENCH_ROUNDS  4    /* kv and mp figures against the baseline: median of this many */
#define BENCH_KEY_MAX 32u  /* key_max of every bench store */

typedef struct bench_opts {
    int json;        /* --json: one JSON object per line, nothing else on stdout */
    int quick;       /* --quick: smaller counts (CI smoke) */
    int procs;       /* --procs N: max processes for the multi-process figures */
    int huge;        /* --huge: every store on huge pages (memfd MFD_HUGETLB) */
} bench_opts;

extern bench_opts g_opt;

/* Folded into the output so that no measured read can be optimised away. */
extern volatile uint64_t g_sink;

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64: deterministic key orders and values. */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Key strings, precomputed: keys[i] is BENCH_KEY_MAX bytes apart. */
typedef struct keyset {
    char *mem;
    size_t n;
} keyset;

static inline const char *key_at(const keyset *k, size_t i)
{
    return k->mem + i * BENCH_KEY_MAX;
}

/* "user:%07zu" for hits, prefix "miss:" for keys never inserted. */
int keyset_make(keyset *k, size_t n, const char *prefix);
void keyset_free(keyset *k);
/* n random indexes in [0, range), seeded. */
uint32_t *random_indexes(size_t n, uint32_t range, uint64_t seed);

/* ---------------------------------------------------------------- report */

typedef enum { T_NONE = 0, T_LE, T_LT, T_GT, T_GE } target_op;

typedef struct figure {
    const char *name;     /* stable identifier (JSON "name") */
    const char *desc;     /* human description */
    double value;
    const char *unit;     /* "ns/op", "ops/s", "x" */
    int has_baseline;
    double baseline;      /* same unit as value */
    target_op top;
    double target;
    int median_of;        /* 0: best of BENCH_REPEATS; n: median of n rounds */
} figure;

void report_begin(void);
void report_section(const char *title);
void report(const figure *f);
void report_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_end(void);
/* Median of v[0..n) (sorts v; n >= 1). */
double bench_median(double *v, int n);

/* Die with a message naming the splinter error. */
void die_spl(const char *what, int rc) __attribute__((noreturn));
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* A MEMFD store named label with key_max BENCH_KEY_MAX and no vector space;
 * dies (naming what) if it cannot be created. */
static inline spl_store *bench_store(const char *label, uint32_t slots, uint32_t val_max,
                                     const char *what)
{
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD;
    o.geom.slots = slots;
    o.geom.key_max = BENCH_KEY_MAX;
    o.geom.val_max = val_max;
    o.geom.vec_dim = 0;
    o.huge_pages = g_opt.huge ? SPL_HUGE_DEFAULT : 0;
    spl_store *s = NULL;
    int rc = spl_create(&s, label, &o);
    if (rc != 0)
        die_spl(what, rc);
    return s;
}

/* mp.c */
void bench_multiprocess(void);
/* signal.c */
void bench_signals(void);
/* vec.c */
void bench_vectors(void);
void bench_load(void); /* the bulk-load part of bench_vectors alone */
/* floor.c */
void bench_floor(void);
/* contend.c */
void bench_contend(void);

#endif
