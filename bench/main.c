/*
 * main.c - splinter-bench: single-process latency figures against an
 * in-process hash table baseline, and (mp.c) multi-process throughput.
 *
 *   splinter-bench [--json] [--quick] [--procs N]
 *
 * See bench/README.md for what each figure means.
 */
#include "baseline.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bench_opts g_opt = {0, 0, 2};
volatile uint64_t g_sink;

#define SP_KEYS      100000u
#define SP_SLOTS     262144u
#define SP_VAL       64u
#define BIG_VAL      4096u
#define MAX_EAGAIN   1000000u /* single process: contention is impossible */

/* One single-process configuration: a store, its baseline, its keys. */
typedef struct sp_ctx {
    spl_store *s;        /* the store under test */
    spl_store *cs;       /* counter store for spl_add (same keys, 8-byte INT64) */
    bl_table bl;         /* baseline table holding the same keys and values */
    keyset hit, miss;    /* inserted keys / never-inserted keys */
    size_t nkeys;
    size_t val_len;      /* bytes per value (64 or 4096) */
    uint32_t *idx;       /* nops random indexes in [0, nkeys) */
    size_t nops;
    uint32_t hot[8];     /* the hot-get keys */
    uint64_t eagain;     /* SPL_EAGAIN seen (retried, never counted) */
    unsigned char val[BIG_VAL];
} sp_ctx;

typedef uint64_t (*loop_fn)(sp_ctx *c);

static void note_eagain(sp_ctx *c)
{
    if (++c->eagain > MAX_EAGAIN)
        die("single-process loop saw %u SPL_EAGAIN: library bug", MAX_EAGAIN);
}

/* ---------------------------------------------------------------- loops */

/* The retried loop of one figure, expanded in place (no indirect call in
 * the measured loop): for i over c->nops, runs PRE then CALL (an spl code;
 * `len` is there for it) until it returns WANT, then ON_OK and counts one op
 * in `done`; SPL_EAGAIN is noted and retried, any other code dies with WHAT. */
#define RETRY_LOOP(c, PRE, CALL, WANT, ON_OK, WHAT)                                       \
    for (size_t i = 0; i < (c)->nops;) {                                                  \
        size_t len;                                                                       \
        PRE;                                                                              \
        int rc = (CALL);                                                                  \
        (void)len;                                                                        \
        if (rc == (WANT)) {                                                               \
            ON_OK;                                                                        \
            done++;                                                                       \
            i++;                                                                          \
        } else if (rc == SPL_EAGAIN) {                                                    \
            note_eagain(c);                                                               \
        } else {                                                                          \
            die_spl(WHAT, rc);                                                            \
        }                                                                                 \
    }

/* Folds the first 8 bytes of the value copied into buf, and its length. */
#define SUM_VALUE()                                                                       \
    do {                                                                                  \
        uint64_t v;                                                                       \
        memcpy(&v, buf, 8);                                                               \
        sum += v + len;                                                                   \
    } while (0)

/* The body of a get loop that copies values out: KEY (an expression of i)
 * names the key; spl_get must find it. */
#define GET_COPY_LOOP(c, KEY, WHAT)                                                       \
    unsigned char buf[BIG_VAL];                                                           \
    uint64_t sum = 0, done = 0;                                                           \
    RETRY_LOOP(c, , spl_get((c)->s, KEY, buf, (c)->val_len, &len), 0, SUM_VALUE(), WHAT) \
    g_sink += sum;                                                                        \
    return done

/* The same against the baseline table, which never asks for a retry. */
#define BL_GET_LOOP(c, KEY, WHAT)                                                         \
    unsigned char buf[BIG_VAL];                                                           \
    uint64_t sum = 0, done = 0;                                                           \
    for (size_t i = 0; i < (c)->nops; i++) {                                              \
        size_t len;                                                                       \
        if (bl_get(&(c)->bl, KEY, buf, (c)->val_len, &len) != 0)                          \
            die(WHAT);                                                                    \
        SUM_VALUE();                                                                      \
        done++;                                                                           \
    }                                                                                     \
    g_sink += sum;                                                                        \
    return done

/* The 8 hot-get keys. */
static void hot_keys(const sp_ctx *c, const char *hk[8])
{
    for (int j = 0; j < 8; j++)
        hk[j] = key_at(&c->hit, c->hot[j]);
}

static uint64_t loop_get_hit(sp_ctx *c)
{
    GET_COPY_LOOP(c, key_at(&c->hit, c->idx[i]), "spl_get (hit)");
}

static uint64_t loop_bl_get(sp_ctx *c)
{
    BL_GET_LOOP(c, key_at(&c->hit, c->idx[i]), "baseline get failed");
}

static uint64_t loop_get_miss(sp_ctx *c)
{
    unsigned char buf[BIG_VAL];
    uint64_t sum = 0, done = 0;
    RETRY_LOOP(c, , spl_get(c->s, key_at(&c->miss, c->idx[i]), buf, c->val_len, &len),
               SPL_ENOENT, sum++, "spl_get (miss) did not return SPL_ENOENT")
    g_sink += sum;
    return done;
}

static uint64_t loop_hot_get(sp_ctx *c)
{
    const char *hk[8];
    hot_keys(c, hk);
    GET_COPY_LOOP(c, hk[i & 7], "spl_get (hot)");
}

static uint64_t loop_bl_hot_get(sp_ctx *c)
{
    const char *hk[8];
    hot_keys(c, hk);
    BL_GET_LOOP(c, hk[i & 7], "baseline hot get failed");
}

static uint64_t loop_view(sp_ctx *c)
{
    uint64_t sum = 0, done = 0;
    for (size_t i = 0; i < c->nops;) {
        spl_view v;
        int rc = spl_view_get(c->s, key_at(&c->hit, c->idx[i]), &v);
        if (rc == SPL_EAGAIN) {
            note_eagain(c);
            continue;
        }
        if (rc != 0)
            die_spl("spl_view_get", rc);
        uint64_t x;
        memcpy(&x, v.data, 8); /* read in place: the first 8 bytes */
        rc = spl_view_valid(c->s, &v);
        if (rc == 0) {
            sum += x + v.len;
            done++;
            i++;
        } else if (rc == SPL_ESTALE) {
            note_eagain(c);
        } else {
            die_spl("spl_view_valid", rc);
        }
    }
    g_sink += sum;
    return done;
}

static uint64_t loop_set(sp_ctx *c)
{
    uint64_t done = 0;
    RETRY_LOOP(c, uint64_t stamp = i; memcpy(c->val, &stamp, 8),
               spl_set(c->s, key_at(&c->hit, c->idx[i]), c->val, c->val_len), 0, (void)0,
               "spl_set (overwrite)")
    return done;
}

static uint64_t loop_bl_set(sp_ctx *c)
{
    uint64_t done = 0;
    for (size_t i = 0; i < c->nops; i++) {
        uint64_t stamp = i;
        memcpy(c->val, &stamp, 8);
        if (bl_set(&c->bl, key_at(&c->hit, c->idx[i]), c->val, c->val_len) != 0)
            die("baseline set failed");
        done++;
    }
    return done;
}

/* Insert a key that is absent, then delete it: one pair per op. */
static uint64_t loop_insert_delete(sp_ctx *c)
{
    uint64_t done = 0;
    for (size_t i = 0; i < c->nops;) {
        const char *k = key_at(&c->miss, c->idx[i]);
        int rc = spl_set(c->s, k, c->val, c->val_len);
        if (rc == SPL_EAGAIN) {
            note_eagain(c);
            continue;
        }
        if (rc != 0)
            die_spl("spl_set (insert)", rc);
        while ((rc = spl_unset(c->s, k)) == SPL_EAGAIN)
            note_eagain(c);
        if (rc != 0)
            die_spl("spl_unset", rc);
        done++;
        i++;
    }
    return done;
}

static uint64_t loop_add(sp_ctx *c)
{
    uint64_t sum = 0, done = 0;
    for (size_t i = 0; i < c->nops; i++) {
        int64_t out;
        int rc = spl_add(c->cs, key_at(&c->hit, c->idx[i]), 1, &out);
        if (rc != 0) /* spl_add never returns SPL_EAGAIN by contract */
            die_spl("spl_add", rc);
        sum += (uint64_t)out;
        done++;
    }
    g_sink += sum;
    return done;
}

/* Best (lowest) ns/op of each loop over BENCH_REPEATS rounds.  The loops
 * are interleaved (round 1: every loop once, round 2: ...), so that a burst
 * of outside load hurts a figure and its baseline alike. */
static void best_ns(sp_ctx *c, const loop_fn *fns, double *best, size_t n)
{
    for (size_t j = 0; j < n; j++)
        best[j] = 1e300;
    for (int r = 0; r < BENCH_REPEATS; r++) {
        for (size_t j = 0; j < n; j++) {
            uint64_t t0 = now_ns();
            uint64_t ops = fns[j](c);
            uint64_t t1 = now_ns();
            if (ops == 0)
                die("a loop completed no operations");
            double ns = (double)(t1 - t0) / (double)ops;
            if (ns < best[j])
                best[j] = ns;
        }
    }
}

/* ---------------------------------------------------------------- setup */

static void ctx_setup(sp_ctx *c, size_t nkeys, uint32_t slots, size_t val_len, size_t nops,
                      uint64_t seed, int with_counters)
{
    memset(c, 0, sizeof *c);
    c->nkeys = nkeys;
    c->val_len = val_len;
    c->nops = nops;
    if (keyset_make(&c->hit, nkeys, "user") || keyset_make(&c->miss, nkeys, "miss"))
        die("out of memory");
    c->idx = random_indexes(nops, (uint32_t)nkeys, seed);
    for (int j = 0; j < 8; j++)
        c->hot[j] = c->idx[j];
    c->s = bench_store("splinter-bench", slots, (uint32_t)val_len, "spl_create");
    if (bl_init(&c->bl, slots, val_len) != 0)
        die("baseline table: out of memory");
    uint64_t rs = seed ^ 0x5555;
    for (size_t i = 0; i < val_len; i++)
        c->val[i] = (unsigned char)rng_next(&rs);
    for (size_t i = 0; i < nkeys; i++) {
        uint64_t stamp = i;
        memcpy(c->val, &stamp, 8);
        int rc = spl_set(c->s, key_at(&c->hit, i), c->val, val_len);
        if (rc != 0)
            die_spl("populate spl_set", rc);
        if (bl_set(&c->bl, key_at(&c->hit, i), c->val, val_len) != 0)
            die("populate baseline failed");
    }
    if (with_counters) {
        c->cs = bench_store("splinter-bench", slots, (uint32_t)val_len, "spl_create");
        for (size_t i = 0; i < nkeys; i++) {
            int rc = spl_add(c->cs, key_at(&c->hit, i), 0, NULL);
            if (rc != 0)
                die_spl("populate spl_add", rc);
        }
    }
}

static void ctx_free(sp_ctx *c)
{
    spl_close(c->s);
    spl_close(c->cs);
    bl_free(&c->bl);
    keyset_free(&c->hit);
    keyset_free(&c->miss);
    free(c->idx);
}

static void fig(const char *name, const char *desc, double v, const char *unit)
{
    figure f = {name, desc, v, unit, 0, 0, T_NONE, 0};
    report(&f);
}

static void fig_b(const char *name, const char *desc, double v, double base, const char *unit,
                  target_op top, double target)
{
    figure f = {name, desc, v, unit, 1, base, top, target};
    report(&f);
}

static void fig_t(const char *name, const char *desc, double v, const char *unit, target_op top,
                  double target)
{
    figure f = {name, desc, v, unit, 0, 0, top, target};
    report(&f);
}

/* ---------------------------------------------------------------- figures */

static void bench_single_64(void)
{
    size_t nops = g_opt.quick ? 200000 : 2000000;
    sp_ctx *c = malloc(sizeof *c);
    if (!c)
        die("out of memory");
    ctx_setup(c, SP_KEYS, SP_SLOTS, SP_VAL, nops, 42, 1);
    report_section("single process: 100k keys, 64-byte values, 262144 slots");

    static const loop_fn fns[] = {loop_get_hit,       loop_bl_get, loop_get_miss, loop_set,
                                  loop_bl_set,        loop_insert_delete, loop_add, loop_view,
                                  loop_hot_get,       loop_bl_hot_get};
    double b[sizeof fns / sizeof fns[0]];
    best_ns(c, fns, b, sizeof fns / sizeof fns[0]);
    double get = b[0], bget = b[1], miss = b[2], set = b[3], bset = b[4], insdel = b[5],
           add = b[6], view = b[7], hot = b[8], bhot = b[9];

    fig_b("get_hit_64", "spl_get, random existing key, 64 B copied out", get, bget, "ns/op",
          T_NONE, 0);
    fig("baseline_get_64", "baseline hash table get, same keys and order", bget, "ns/op");
    fig_b("get_miss_64", "spl_get, random absent key (SPL_ENOENT)", miss, get, "ns/op", T_NONE, 0);
    fig_b("set_overwrite_64", "spl_set over an existing key, 64 B", set, bset, "ns/op", T_NONE, 0);
    fig("baseline_set_64", "baseline hash table set (overwrite), same keys", bset, "ns/op");
    fig("insert_delete_64", "spl_set of an absent key + spl_unset (per pair)", insdel, "ns/op");
    fig("add_64", "spl_add +1 on a random INT64 counter (100k counters)", add, "ns/op");
    fig_b("view_get_64", "spl_view_get + read 8 B in place + spl_view_valid", view, get, "ns/op",
          T_NONE, 0);
    fig_b("hot_get_64", "spl_get cycling over the same 8 keys", hot, bhot, "ns/op", T_LT, 10);
    fig("baseline_hot_get_64", "baseline get cycling over the same 8 keys", bhot, "ns/op");

    report_section("ratios (single process, 64-byte values)");
    fig_t("ratio_get_vs_baseline", "get_hit_64 / baseline_get_64", get / bget, "x", T_LE, 1.5);
    fig_t("ratio_miss_vs_hit", "get_miss_64 / get_hit_64", miss / get, "x", T_LE, 1.5);
    fig_t("ratio_set_vs_baseline", "set_overwrite_64 / baseline_set_64", set / bset, "x", T_LE,
          2.0);
    if (c->eagain)
        report_note("%llu SPL_EAGAIN/SPL_ESTALE in a single process (retried, not counted)",
                    (unsigned long long)c->eagain);
    ctx_free(c);
    free(c);
}

static void bench_single_4k(void)
{
    size_t nkeys = g_opt.quick ? 5000 : 20000;
    uint32_t slots = g_opt.quick ? 8192 : 32768;
    size_t nops = g_opt.quick ? 100000 : 1000000;
    sp_ctx *c = malloc(sizeof *c);
    if (!c)
        die("out of memory");
    ctx_setup(c, nkeys, slots, BIG_VAL, nops, 4242, 0);
    report_section(g_opt.quick ? "single process: 5k keys, 4 KiB values, 8192 slots"
                               : "single process: 20k keys, 4 KiB values, 32768 slots");
    static const loop_fn fns[] = {loop_get_hit, loop_bl_get,  loop_get_miss,
                                  loop_view,    loop_hot_get, loop_bl_hot_get};
    double b[sizeof fns / sizeof fns[0]];
    best_ns(c, fns, b, sizeof fns / sizeof fns[0]);
    double get = b[0], bget = b[1], miss = b[2], view = b[3], hot = b[4], bhot = b[5];
    fig_b("get_hit_4k", "spl_get, random existing key, 4 KiB copied out", get, bget, "ns/op",
          T_NONE, 0);
    fig("baseline_get_4k", "baseline hash table get, 4 KiB inline values", bget, "ns/op");
    fig_b("get_miss_4k", "spl_get, random absent key (SPL_ENOENT)", miss, get, "ns/op", T_NONE, 0);
    fig_b("view_get_4k", "spl_view_get + read 8 B in place + spl_view_valid", view, get, "ns/op",
          T_NONE, 0);
    fig_b("hot_get_4k", "spl_get cycling over the same 8 keys, 4 KiB", hot, bhot, "ns/op", T_NONE,
          0);
    fig("ratio_get_vs_baseline_4k", "get_hit_4k / baseline_get_4k (no target)", get / bget, "x");
    if (c->eagain)
        report_note("%llu SPL_EAGAIN/SPL_ESTALE in a single process (retried, not counted)",
                    (unsigned long long)c->eagain);
    ctx_free(c);
    free(c);
}

static void usage(FILE *o)
{
    fprintf(o, "usage: splinter-bench [--json] [--quick] [--procs N] [--vec-only]\n"
               "  --json     one JSON object per figure per line on stdout\n"
               "  --quick    smaller counts and 0.3 s multi-process runs (CI smoke)\n"
               "  --procs N  multi-process figures for 2..N processes (default 2; 1 skips them)\n"
               "  --only P   one part: kv, mp, signals, vec or contend\n"
               "  --vec-only the same as --only vec\n");
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            g_opt.json = 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            g_opt.quick = 1;
        } else if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 64) {
                fprintf(stderr, "splinter-bench: --procs wants 1..64\n");
                return 2;
            }
            g_opt.procs = (int)n;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--vec-only") == 0) {
            only = "vec";
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    report_begin();
#define RUN(part) (!only || strcmp(only, part) == 0)
    if (RUN("kv")) {
        bench_single_64();
        bench_single_4k();
    }
    if (RUN("mp") && g_opt.procs >= 2)
        bench_multiprocess();
    if (RUN("signals"))
        bench_signals();
    if (RUN("vec"))
        bench_vectors();
    if (RUN("contend"))
        bench_contend();
    report_end();
    return 0;
}
