/*
 * main.c - splinter-bench: single-process latency figures against a plain
 * seqlock hash table in shared memory (baseline.c), and (mp.c)
 * multi-process throughput against the same baseline.
 *
 *   splinter-bench [--json] [--quick] [--procs N]
 *
 * See bench/README.md for what each figure means.
 */
#include "baseline.h"
#include "bench.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bench_opts g_opt = {0, 0, 2};
volatile uint64_t g_sink;

#define SP_KEYS      100000u
#define SP_SLOTS     131072u
#define SP_VAL       64u
#define BIG_VAL      4096u
#define MAX_EAGAIN   1000000u /* single process: contention is impossible */

/* One single-process configuration: a store, its baseline, its keys. */
typedef struct sp_ctx {
    spl_store *s;        /* the store under test */
    spl_store *cs;       /* counter store for spl_add (same keys, 8-byte INT64) */
    spl_store *ins;      /* insert store: emptied (spl_unset) before each insert run */
    bl_table bl;         /* baseline table holding the same keys and values */
    bl_table ibl;        /* baseline insert table: emptied (bl_clear) before each run */
    keyset hit, miss;    /* inserted keys / never-inserted keys */
    size_t nkeys;
    size_t val_len;      /* bytes per value (64 or 4096) */
    uint32_t *perm;      /* insert order: a permutation of [0, nkeys) */
    uint32_t *idx;       /* nops random indexes in [0, nkeys) */
    size_t nops;
    uint32_t hot[8];     /* the hot-get keys */
    spl_key *pk;         /* the hit keys prepared (spl_key_prep), or NULL */
    spl_key *ipk;        /* the hit keys prepared for the insert store, or NULL */
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
        if (bl_get(&(c)->bl, KEY, buf, (c)->val_len, &len) != BL_OK)                      \
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

static uint64_t loop_bl_miss(sp_ctx *c)
{
    unsigned char buf[BIG_VAL];
    uint64_t sum = 0, done = 0;
    for (size_t i = 0; i < c->nops; i++) {
        size_t len;
        if (bl_get(&c->bl, key_at(&c->miss, c->idx[i]), buf, c->val_len, &len) != BL_ENOENT)
            die("baseline get (miss) did not return BL_ENOENT");
        sum++;
        done++;
    }
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

/* The hot keys prepared once (spl_key_prep): no length scan, no hash. */
static uint64_t loop_hot_get_k(sp_ctx *c)
{
    spl_key hk[8];
    for (int j = 0; j < 8; j++)
        if (spl_key_prep(c->s, key_at(&c->hit, c->hot[j]), &hk[j]) != 0)
            die("spl_key_prep");
    unsigned char buf[BIG_VAL];
    uint64_t sum = 0, done = 0;
    RETRY_LOOP(c, , spl_get_k(c->s, &hk[i & 7], buf, c->val_len, &len), 0, SUM_VALUE(),
               "spl_get_k (hot)")
    g_sink += sum;
    return done;
}

/* The first n keys of ks prepared for s (spl_key_prep). */
static spl_key *prep_keys(spl_store *s, const keyset *ks, size_t n)
{
    spl_key *pk = malloc(n * sizeof *pk);
    if (!pk)
        die("out of memory");
    for (size_t j = 0; j < n; j++)
        if (spl_key_prep(s, key_at(ks, j), &pk[j]) != 0)
            die("spl_key_prep");
    return pk;
}

/* Random gets in batches of 32 prepared keys (spl_get_many). */
#define SP_BATCH 32
static uint64_t loop_get_many(sp_ctx *c)
{
    if (!c->pk)
        c->pk = prep_keys(c->s, &c->hit, c->nkeys);
    static unsigned char out[SP_BATCH][64];
    spl_key batch[SP_BATCH];
    size_t lens[SP_BATCH];
    int rcs[SP_BATCH];
    uint64_t sum = 0, done = 0;
    for (size_t i = 0; i + SP_BATCH <= c->nops; i += SP_BATCH) {
        for (int j = 0; j < SP_BATCH; j++)
            batch[j] = c->pk[c->idx[i + (size_t)j]];
        int got = spl_get_many(c->s, batch, SP_BATCH, out, sizeof out[0], lens, rcs);
        for (int j = 0; j < SP_BATCH; j++) {
            if (rcs[j] == 0) {
                uint64_t v;
                memcpy(&v, out[j], 8);
                sum += v + lens[j];
            } else if (rcs[j] == SPL_EAGAIN) {
                note_eagain(c); /* not counted */
            } else {
                die_spl("spl_get_many", rcs[j]);
            }
        }
        done += (uint64_t)got;
    }
    g_sink += sum;
    return done;
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
        if (bl_set(&c->bl, key_at(&c->hit, c->idx[i]), c->val, c->val_len) != BL_OK)
            die("baseline set failed");
        done++;
    }
    return done;
}

/* Insert: every key of c->hit, in c->perm order, into an empty store (the
 * prep, untimed, unsets them all; the first prep finds them from setup, so
 * no run takes a first-touch page fault). */
static uint64_t prep_insert(sp_ctx *c)
{
    for (size_t i = 0; i < c->nkeys; i++) {
        int rc;
        while ((rc = spl_unset(c->ins, key_at(&c->hit, i))) == SPL_EAGAIN)
            note_eagain(c);
        if (rc != 0)
            die_spl("spl_unset (emptying the insert store)", rc);
    }
    return 0;
}

static uint64_t loop_insert(sp_ctx *c)
{
    uint64_t done = 0;
    for (size_t i = 0; i < c->nkeys;) {
        uint64_t stamp = i;
        memcpy(c->val, &stamp, 8);
        int rc = spl_set(c->ins, key_at(&c->hit, c->perm[i]), c->val, c->val_len);
        if (rc == 0) {
            done++;
            i++;
        } else if (rc == SPL_EAGAIN) {
            note_eagain(c);
        } else {
            die_spl("spl_set (insert)", rc);
        }
    }
    return done;
}

/* The same inserts in batches of 32 prepared keys (spl_set_many), the
 * order and the prep loop_insert's. */
static uint64_t loop_insert_many(sp_ctx *c)
{
    if (!c->ipk)
        c->ipk = prep_keys(c->ins, &c->hit, c->nkeys);
    static unsigned char vals[SP_BATCH][64];
    spl_key batch[SP_BATCH];
    size_t lens[SP_BATCH];
    int rcs[SP_BATCH];
    uint64_t done = 0;
    for (size_t i = 0; i < c->nkeys;) {
        size_t m = c->nkeys - i < SP_BATCH ? c->nkeys - i : SP_BATCH;
        for (size_t j = 0; j < m; j++) {
            uint64_t stamp = i + j;
            batch[j] = c->ipk[c->perm[i + j]];
            memcpy(vals[j], c->val, c->val_len);
            memcpy(vals[j], &stamp, 8);
            lens[j] = c->val_len;
        }
        int ok = spl_set_many(c->ins, batch, m, vals, sizeof vals[0], lens, rcs);
        for (size_t j = 0; j < m; j++) {
            if (rcs[j] == SPL_EAGAIN) { /* not counted: set again alone */
                note_eagain(c);
                while (spl_set_k(c->ins, &batch[j], vals[j], lens[j]) == SPL_EAGAIN)
                    note_eagain(c);
                ok++;
            } else if (rcs[j] != 0) {
                die_spl("spl_set_many (insert)", rcs[j]);
            }
        }
        done += (uint64_t)ok;
        i += m;
    }
    return done;
}

/* The baseline has no delete: its prep zeroes the table (bl_init wrote every
 * page already). */
static uint64_t prep_bl_insert(sp_ctx *c)
{
    bl_clear(&c->ibl);
    return 0;
}

static uint64_t loop_bl_insert(sp_ctx *c)
{
    uint64_t done = 0;
    for (size_t i = 0; i < c->nkeys; i++) {
        uint64_t stamp = i;
        memcpy(c->val, &stamp, 8);
        if (bl_set(&c->ibl, key_at(&c->hit, c->perm[i]), c->val, c->val_len) != BL_OK)
            die("baseline insert failed");
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

/* A figure's loop and, for most, the baseline's: prep (may be NULL) runs
 * untimed before each timed run. */
typedef struct kv_loop {
    loop_fn spl, spl_prep;
    loop_fn bl, bl_prep; /* NULL: a splinter-only figure */
} kv_loop;

#define KV_MAX_LOOPS 16

static double time_loop(sp_ctx *c, loop_fn prep, loop_fn run)
{
    if (prep)
        prep(c);
    uint64_t t0 = now_ns();
    uint64_t ops = run(c);
    uint64_t t1 = now_ns();
    if (ops == 0)
        die("a loop completed no operations");
    return (double)(t1 - t0) / (double)ops;
}

/* Median ns/op of each loop over BENCH_ROUNDS rounds.  The loops are
 * interleaved (each round runs every loop once), and within a pair splinter
 * runs first in even rounds and the baseline first in odd rounds, so that
 * outside load and cache warmth hurt a figure and its baseline alike. */
static void median_ns(sp_ctx *c, const kv_loop *L, size_t n, double *spl_ns, double *bl_ns)
{
    double sv[KV_MAX_LOOPS][BENCH_ROUNDS], bv[KV_MAX_LOOPS][BENCH_ROUNDS];
    if (n > KV_MAX_LOOPS)
        die("too many loops");
    for (int r = 0; r < BENCH_ROUNDS; r++) {
        for (size_t j = 0; j < n; j++) {
            if (L[j].bl && (r & 1)) {
                bv[j][r] = time_loop(c, L[j].bl_prep, L[j].bl);
                sv[j][r] = time_loop(c, L[j].spl_prep, L[j].spl);
            } else {
                sv[j][r] = time_loop(c, L[j].spl_prep, L[j].spl);
                if (L[j].bl)
                    bv[j][r] = time_loop(c, L[j].bl_prep, L[j].bl);
            }
        }
    }
    for (size_t j = 0; j < n; j++) {
        spl_ns[j] = bench_median(sv[j], BENCH_ROUNDS);
        bl_ns[j] = L[j].bl ? bench_median(bv[j], BENCH_ROUNDS) : 0;
    }
}

/* ---------------------------------------------------------------- setup */

static void ctx_setup(sp_ctx *c, size_t nkeys, uint32_t slots, size_t val_len, size_t nops,
                      uint64_t seed, int with_extras)
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
    c->perm = malloc(nkeys * sizeof *c->perm);
    if (!c->perm)
        die("out of memory");
    for (size_t i = 0; i < nkeys; i++)
        c->perm[i] = (uint32_t)i;
    uint64_t ps = seed ^ 0x9999;
    for (size_t i = nkeys - 1; i > 0; i--) {
        size_t j = (size_t)(rng_next(&ps) % (i + 1));
        uint32_t x = c->perm[i];
        c->perm[i] = c->perm[j];
        c->perm[j] = x;
    }
    uint64_t rs = seed ^ 0x5555;
    for (size_t i = 0; i < val_len; i++)
        c->val[i] = (unsigned char)rng_next(&rs);
    for (size_t i = 0; i < nkeys; i++) {
        uint64_t stamp = i;
        memcpy(c->val, &stamp, 8);
        int rc = spl_set(c->s, key_at(&c->hit, i), c->val, val_len);
        if (rc != 0)
            die_spl("populate spl_set", rc);
        if (bl_set(&c->bl, key_at(&c->hit, i), c->val, val_len) != BL_OK)
            die("populate baseline failed");
    }
    if (with_extras) {
        c->ins = bench_store("splinter-bench-insert", slots, (uint32_t)val_len, "spl_create");
        for (size_t i = 0; i < nkeys; i++) { /* touches its pages; prep_insert empties it */
            int rc = spl_set(c->ins, key_at(&c->hit, i), c->val, val_len);
            if (rc != 0)
                die_spl("populate the insert store", rc);
        }
        if (bl_init(&c->ibl, slots, val_len) != 0)
            die("baseline insert table: out of memory");
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
    spl_close(c->ins);
    bl_free(&c->bl);
    bl_free(&c->ibl);
    keyset_free(&c->hit);
    keyset_free(&c->miss);
    free(c->idx);
    free(c->perm);
    free(c->pk);
    c->pk = NULL;
    free(c->ipk);
    c->ipk = NULL;
}

static void fig(const char *name, const char *desc, double v, const char *unit)
{
    figure f = {name, desc, v, unit, 0, 0, T_NONE, 0, BENCH_ROUNDS};
    report(&f);
}

static void fig_b(const char *name, const char *desc, double v, double base, const char *unit,
                  target_op top, double target)
{
    figure f = {name, desc, v, unit, 1, base, top, target, BENCH_ROUNDS};
    report(&f);
}

static void fig_t(const char *name, const char *desc, double v, const char *unit, target_op top,
                  double target)
{
    figure f = {name, desc, v, unit, 0, 0, top, target, BENCH_ROUNDS};
    report(&f);
}

/* ---------------------------------------------------------------- figures */

static void note_retries(const sp_ctx *c)
{
    report_note("%llu SPL_EAGAIN/SPL_ESTALE in a single process (retried, not counted)",
                (unsigned long long)c->eagain);
}

static void bench_single_64(void)
{
    size_t nops = g_opt.quick ? 200000 : 2000000;
    sp_ctx *c = malloc(sizeof *c);
    if (!c)
        die("out of memory");
    ctx_setup(c, SP_KEYS, SP_SLOTS, SP_VAL, nops, 42, 1);
    report_section("single process: 100k keys, 64-byte values, 131072 slots; "
                   "median of 4 interleaved rounds");

    /* A loop's figure depends on what ran before it: the baseline's insert
     * came out at 100-105 ns right after another baseline insert (INSMANY
     * last, so the next round's INS pair followed it), 120-127 after other
     * loops.  So no two insert pairs are neighbours, across rounds either. */
    enum { INS, SET, INSMANY, GET, HOT, MISS, INSDEL, ADD, VIEW, HOTK, MANY, NL };
    static const kv_loop L[NL] = {
        [HOTK] = {loop_hot_get_k, NULL, loop_bl_hot_get, NULL},
        [MANY] = {loop_get_many, NULL, loop_bl_get, NULL},
        [INS] = {loop_insert, prep_insert, loop_bl_insert, prep_bl_insert},
        [INSMANY] = {loop_insert_many, prep_insert, loop_bl_insert, prep_bl_insert},
        [SET] = {loop_set, NULL, loop_bl_set, NULL},
        [GET] = {loop_get_hit, NULL, loop_bl_get, NULL},
        [HOT] = {loop_hot_get, NULL, loop_bl_hot_get, NULL},
        [MISS] = {loop_get_miss, NULL, loop_bl_miss, NULL},
        [INSDEL] = {loop_insert_delete, NULL, NULL, NULL},
        [ADD] = {loop_add, NULL, NULL, NULL},
        [VIEW] = {loop_view, NULL, NULL, NULL},
    };
    double v[NL], b[NL];
    median_ns(c, L, NL, v, b);

    fig_b("insert_64", "spl_set of a new key, filling an empty store with 100k", v[INS], b[INS],
          "ns/op", T_NONE, 0);
    fig_b("set_overwrite_64", "spl_set over an existing key, 64 B, random order", v[SET], b[SET],
          "ns/op", T_NONE, 0);
    fig_b("get_hit_64", "spl_get, random existing key, 64 B copied out", v[GET], b[GET], "ns/op",
          T_NONE, 0);
    fig_b("hot_get_64", "spl_get cycling over the same 8 keys", v[HOT], b[HOT], "ns/op", T_LT,
          10);
    fig_b("get_miss_64", "spl_get, random absent key (SPL_ENOENT)", v[MISS], b[MISS], "ns/op",
          T_NONE, 0);
    fig("insert_delete_64", "spl_set of an absent key + spl_unset (per pair)", v[INSDEL],
        "ns/op");
    fig("add_64", "spl_add +1 on a random INT64 counter (100k counters)", v[ADD], "ns/op");
    fig_b("view_get_64", "spl_view_get + read 8 B in place + spl_view_valid (baseline: get_hit_64)",
          v[VIEW], v[GET], "ns/op", T_NONE, 0);
    fig_b("hot_get_k_64", "spl_get_k (prepared key) cycling over the same 8 keys", v[HOTK], b[HOTK],
          "ns/op", T_NONE, 0);
    fig_b("get_many_64", "spl_get_many, 32 random prepared keys a call (per key)", v[MANY], b[MANY],
          "ns/op", T_NONE, 0);
    fig_b("insert_many_64", "spl_set_many, 32 new prepared keys a call, filling an empty store (per key)",
          v[INSMANY], b[INSMANY], "ns/op", T_NONE, 0);
    note_retries(c);

    report_section("ratios: splinter / seqlock baseline, ns/op (single process, 64-byte values)");
    fig_t("kv_ratio_insert", "insert_64 / baseline insert", v[INS] / b[INS], "x", T_LE, 1.5);
    fig_t("kv_ratio_overwrite", "set_overwrite_64 / baseline overwrite", v[SET] / b[SET], "x",
          T_LE, 1.3);
    fig_t("kv_ratio_get", "get_hit_64 / baseline random get", v[GET] / b[GET], "x", T_LE, 1.2);
    fig_t("kv_ratio_hot_get", "hot_get_64 / baseline hot get", v[HOT] / b[HOT], "x", T_LE, 1.3);
    fig("kv_ratio_miss", "get_miss_64 / baseline miss (no target)", v[MISS] / b[MISS], "x");
    fig("kv_ratio_hot_get_k", "hot_get_k_64 / baseline hot get (no target)", v[HOTK] / b[HOTK], "x");
    fig("kv_ratio_get_many", "get_many_64 / baseline random get (no target)", v[MANY] / b[MANY], "x");
    fig("kv_ratio_insert_many", "insert_many_64 / baseline insert (no target)", v[INSMANY] / b[INSMANY], "x");
    fig_t("ratio_miss_vs_hit", "get_miss_64 / get_hit_64", v[MISS] / v[GET], "x", T_LE, 1.5);
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
    enum { GET, MISS, HOT, VIEW, NL };
    static const kv_loop L[NL] = {
        [GET] = {loop_get_hit, NULL, loop_bl_get, NULL},
        [MISS] = {loop_get_miss, NULL, loop_bl_miss, NULL},
        [HOT] = {loop_hot_get, NULL, loop_bl_hot_get, NULL},
        [VIEW] = {loop_view, NULL, NULL, NULL},
    };
    double v[NL], b[NL];
    median_ns(c, L, NL, v, b);
    fig_b("get_hit_4k", "spl_get, random existing key, 4 KiB copied out", v[GET], b[GET], "ns/op",
          T_NONE, 0);
    fig_b("get_miss_4k", "spl_get, random absent key (SPL_ENOENT)", v[MISS], b[MISS], "ns/op",
          T_NONE, 0);
    fig_b("view_get_4k", "spl_view_get + read 8 B in place + spl_view_valid (baseline: get_hit_4k)",
          v[VIEW], v[GET], "ns/op", T_NONE, 0);
    fig_b("hot_get_4k", "spl_get cycling over the same 8 keys, 4 KiB", v[HOT], b[HOT], "ns/op",
          T_NONE, 0);
    fig("ratio_get_vs_baseline_4k", "get_hit_4k / baseline get (no target)", v[GET] / b[GET], "x");
    note_retries(c);
    ctx_free(c);
    free(c);
}

/* Single-process figures run pinned to CPU 0 (the mask is restored after,
 * so the multi-process children are not pinned). */
static void run_pinned(void (*fn)(void))
{
    cpu_set_t saved, one;
    int pinned = sched_getaffinity(0, sizeof saved, &saved) == 0;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    pinned = pinned && sched_setaffinity(0, sizeof one, &one) == 0;
    if (!pinned)
        report_note("could not pin to CPU 0; single-process figures run unpinned");
    fn();
    if (pinned)
        sched_setaffinity(0, sizeof saved, &saved);
}

static void bench_kv(void)
{
    bench_single_64();
    bench_single_4k();
}

static void usage(FILE *o)
{
    fprintf(o, "usage: splinter-bench [--json] [--quick] [--procs N] [--only P] [--huge]\n"
               "  --json     one JSON object per figure per line on stdout\n"
               "  --quick    smaller counts and 0.2 s multi-process runs (CI smoke)\n"
               "  --procs N  multi-process figures for 2..N processes (default 2; 1 skips them)\n"
               "  --only P   one part: kv, mp, signals, vec, contend or floor; or load (vec's bulk load alone)\n"
               "  --vec-only the same as --only vec\n"
               "  --huge     every store on huge pages (needs free ones: vm.nr_hugepages)\n");
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
        } else if (strcmp(argv[i], "--huge") == 0) {
            g_opt.huge = 1;
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
    if (RUN("kv"))
        run_pinned(bench_kv);
    if (RUN("mp") && g_opt.procs >= 2)
        bench_multiprocess();
    if (RUN("signals"))
        bench_signals();
    if (RUN("vec"))
        bench_vectors();
    if (only && strcmp(only, "load") == 0)
        bench_load();
    if (RUN("contend"))
        bench_contend();
    if (RUN("floor"))
        run_pinned(bench_floor);
    report_end();
    return 0;
}
