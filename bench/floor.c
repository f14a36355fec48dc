/*
 * floor.c - where the floor of a write is: the plain seqlock table of
 * baseline.c, then the same table with, one at a time, what Splinter's
 * guarantees add to a write.  Every rung is the rung before plus one thing:
 *
 *   plain    keys, values and a seqlock inline in 64-byte-aligned slots,
 *            found by linear probing (the baseline of the kv figures)
 *   +index   the slot is found through a separate index (2 words per slot,
 *            so a store holds exactly its slot count, issue 11 part 1):
 *            one more dependent load, and an insert takes the index word
 *            by CAS after the slot's
 *   +lock    a lock word beside the epoch (an owner id, so that a dead
 *            writer can be told from a slow one): a CAS to take it, a
 *            store to give it back; the epoch becomes plain stores
 *   +undo    the new value copied to a per-writer record (before the
 *            lock), armed before the overwrite: a redo record, as
 *            spl_set's (no loss on a crash, part 2; until 2026-12-07 the
 *            old value, an undo record, whose loads waited for the
 *            slot's value lines: bench/README.md, "Redo records"); an insert publishes
 *            its index word PENDING, re-reads the home words (two inserts
 *            of one key must see each other) and then tags it LIVE
 *   +count   a seq_cst add on a change counter (what the change feed and
 *            the wake-ups need)
 *   wide     all of the above in Splinter's slot layout (192-byte slots: a
 *            line of metadata, then key and value)
 *   paged    wide, with a home's index words and its natural slots on one
 *            4 KiB page (19 slots and their 38 words a page): the layout a
 *            next format could have, where an operation's index word and
 *            slot cost one TLB entry, not two
 *
 * Beside the ladder, plain_count: plain plus the change counter's seq_cst
 * add after the write's stores.  plain takes its slot with a CAS before
 * the stores already; a locked instruction after them is the one that
 * waits for them to drain and keeps the next write's loads back (a plain
 * write's stores drain while the next write's misses start).
 *
 * Same slots, same keys, same hash (the library's), same orders.  No deletes,
 * no recovery, single writer: a rung is cheaper than a real protocol with
 * the same parts, never dearer, so the ratios are floors.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "internal.h"

enum { FL_INDEX = 1, FL_LOCK = 2, FL_UNDO = 4, FL_COUNT = 8 };

#define FL_KEYS  100000u
#define FL_CAP   131072u /* slots: a power of two, as the baseline's */
#define FL_VAL   64u
#define FL_SEED  0x2545f4914f6cdd1dull

/* A slot: epoch, owner, hash, lens (key_len | val_len << 32) at 0..31,
 * then the key and the value: at 32 and 64 (128-byte slots: key and
 * header on one line, the value on the next), or, in a wide table (the
 * layout of a Splinter slot: a line of metadata first), at 64 and 96 in
 * 192-byte slots. */
typedef struct fl_slot {
    _Atomic uint64_t epoch, owner, hash, lens;
} fl_slot;

typedef struct fl_table {
    unsigned char *slots;     /* nslots slots of `stride` bytes (paged: pages, below) */
    size_t stride, key_off, val_off;
    _Atomic uint64_t *index;  /* nwords words: fp << 32 | (slot + 1), 0 free (not paged) */
    _Atomic uint64_t *misc;   /* line 0: change counter; lines 1..2: undo record */
    size_t len;
    uint64_t nslots, nwords;  /* FL_CAP and 2 * FL_CAP, or (paged) whole pages' worth */
    int paged;                /* page g: words 38g..38g+37, then slots 19g..19g+18 */
} fl_table;

/* A paged table's page: FL_PG_WORDS index words (the homes of its slots, 2
 * a slot as elsewhere), padded to a line, then FL_PG_SLOTS wide slots. */
#define FL_PG_SLOTS 19u
#define FL_PG_WORDS (2u * FL_PG_SLOTS)
#define FL_PG_HEAD  320u /* 38 words, to a line */
#define FL_PG_PAGES ((FL_CAP + FL_PG_SLOTS - 1) / FL_PG_SLOTS)
_Static_assert(FL_PG_WORDS * 8 <= FL_PG_HEAD && FL_PG_HEAD + FL_PG_SLOTS * 192 <= 4096, "paged layout");

static void fl_clear(fl_table *t)
{
    memset(t->slots, 0, t->len);
}

/* wide: 0 (128-byte slots), 1 (192-byte slots) or 2 (192, paged). */
static void fl_init(fl_table *t, int wide)
{
    t->stride = wide ? 192 : 128;
    t->key_off = wide ? 64 : 32;
    t->val_off = wide ? 96 : 64;
    t->paged = wide == 2;
    t->nslots = t->paged ? (uint64_t)FL_PG_PAGES * FL_PG_SLOTS : FL_CAP;
    t->nwords = 2 * t->nslots;
    size_t slots = t->paged ? (size_t)FL_PG_PAGES * 4096 : (size_t)t->nslots * t->stride;
    size_t index = t->paged ? 0 : (size_t)t->nwords * 8;
    t->len = slots + index + 4096;
    void *m = mmap(NULL, t->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        die("floor table: out of memory");
    t->slots = m;
    t->index = (_Atomic uint64_t *)(void *)((char *)m + slots);
    t->misc = (_Atomic uint64_t *)(void *)((char *)m + slots + index);
    fl_clear(t); /* every page written: no page fault inside a measurement */
}

static inline fl_slot *fl_at(const fl_table *t, uint64_t i)
{
    if (t->paged)
        return (fl_slot *)(void *)(t->slots + i / FL_PG_SLOTS * 4096 + FL_PG_HEAD +
                                   i % FL_PG_SLOTS * t->stride);
    return (fl_slot *)(void *)(t->slots + i * t->stride);
}
static inline _Atomic uint64_t *fl_word(const fl_table *t, uint64_t p)
{
    if (t->paged)
        return (_Atomic uint64_t *)(void *)(t->slots + p / FL_PG_WORDS * 4096 + p % FL_PG_WORDS * 8);
    return &t->index[p];
}
static inline uint64_t fl_next(const fl_table *t, uint64_t p)
{
    return p + 1 == t->nwords ? 0 : p + 1;
}
static inline _Atomic uint64_t *fl_key(const fl_table *t, fl_slot *s)
{
    return (_Atomic uint64_t *)(void *)((unsigned char *)s + t->key_off);
}
static inline _Atomic uint64_t *fl_val(const fl_table *t, fl_slot *s)
{
    return (_Atomic uint64_t *)(void *)((unsigned char *)s + t->val_off);
}

static inline int fl_key_eq(const fl_table *t, fl_slot *s, const uint64_t *kw, size_t klen)
{
    if ((uint32_t)atomic_load_explicit(&s->lens, memory_order_relaxed) != klen)
        return 0;
    _Atomic uint64_t *k = fl_key(t, s);
    for (size_t j = 0; j < (klen + 7) / 8; j++)
        if (atomic_load_explicit(&k[j], memory_order_relaxed) != kw[j])
            return 0;
    return 1;
}

/* Set key (insert or overwrite) the way rung `f` does.  1 if it inserted, 0
 * if it overwrote, -1 (full or busy: never in this single-writer bench).
 * The bench checks which: a rung whose lookup missed a key would insert it
 * again. */
static int fl_set(fl_table *t, int f, const char *key, const void *val)
{
    uint64_t kw[BENCH_KEY_MAX / 8] = {0};
    size_t klen = strlen(key);
    memcpy(kw, key, klen);
    uint64_t h = spl__hash(key, klen, FL_SEED) | 1u;
    uint64_t fp = h >> 32, i = FL_CAP;
    /* home: the low bits (as the library); paged, the low 32 bits scaled to
     * the word count, and the natural slot is the one whose page holds it */
    uint64_t home = t->paged ? ((h & 0xffffffffu) * t->nwords) >> 32 : h & (t->nwords - 1);
    uint64_t p = 0; /* the index word of an insert (FL_INDEX) */
    int insert = 0;
    if (f & FL_INDEX) {
        for (p = home;; p = fl_next(t, p)) {
            uint64_t w = atomic_load_explicit(fl_word(t, p), memory_order_acquire);
            if (w == 0) {
                insert = 1;
                break;
            }
            uint64_t j = (w & 0xffffffffu) - 1;
            if ((w >> 32) == fp && j < t->nslots && fl_key_eq(t, fl_at(t, j), kw, klen)) {
                i = j;
                break;
            }
        }
        if (insert) /* a free slot: the natural one, or the next */
            for (i = t->paged ? home / 2 : h & (FL_CAP - 1);
                 atomic_load_explicit(&fl_at(t, i)->hash, memory_order_relaxed);
                 i = i + 1 == t->nslots ? 0 : i + 1)
                ;
    } else {
        for (i = h & (FL_CAP - 1);; i = (i + 1) & (FL_CAP - 1)) {
            uint64_t sh = atomic_load_explicit(&fl_at(t, i)->hash, memory_order_acquire);
            if (sh == 0) {
                insert = 1;
                break;
            }
            if (sh == h && fl_key_eq(t, fl_at(t, i), kw, klen))
                break;
        }
    }
    fl_slot *s = fl_at(t, i);
    _Atomic uint64_t *sk = fl_key(t, s), *sv = fl_val(t, s);
    _Atomic uint64_t *undo = t->misc + 8;
    if ((f & FL_UNDO) && !insert) { /* the record is the writer's: no lock needed */
        for (size_t j = 0; j < FL_VAL / 8; j++) {
            uint64_t x;
            memcpy(&x, (const unsigned char *)val + 8 * j, 8);
            atomic_store_explicit(&undo[1 + j], x, memory_order_relaxed);
        }
    }
    uint64_t e = atomic_load_explicit(&s->epoch, memory_order_relaxed);
    if (f & FL_LOCK) {
        uint64_t z = 0;
        if (!atomic_compare_exchange_strong_explicit(&s->owner, &z, 1, memory_order_acquire,
                                                     memory_order_relaxed))
            return -1;
        atomic_store_explicit(&s->epoch, e | 1, memory_order_relaxed);
    } else if ((e & 1) || !atomic_compare_exchange_strong_explicit(&s->epoch, &e, e | 1,
                                                                   memory_order_acquire,
                                                                   memory_order_relaxed)) {
        return -1;
    }
    atomic_thread_fence(memory_order_release); /* odd epoch before the data */
    if ((f & FL_UNDO) && !insert) { /* arm it */
        atomic_store_explicit(&undo[0], i + 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
    }
    if (insert) {
        for (size_t j = 0; j < BENCH_KEY_MAX / 8; j++)
            atomic_store_explicit(&sk[j], kw[j], memory_order_relaxed);
        atomic_store_explicit(&s->hash, h, memory_order_relaxed);
    }
    const unsigned char *v = val;
    for (size_t j = 0; j < FL_VAL / 8; j++) {
        uint64_t x;
        memcpy(&x, v + 8 * j, 8);
        atomic_store_explicit(&sv[j], x, memory_order_relaxed);
    }
    atomic_store_explicit(&s->lens, (uint64_t)klen | ((uint64_t)FL_VAL << 32), memory_order_relaxed);
    if (insert && (f & FL_INDEX)) {
        uint64_t tag = fp << 32 | (i + 1), z = 0;
        if (f & FL_UNDO) { /* PENDING (bit 31 of the slot half), the duplicate check, LIVE */
            if (!atomic_compare_exchange_strong(fl_word(t, p), &z, tag | 0x80000000u))
                return -1;
            for (uint64_t q = home; q != p; q = fl_next(t, q))
                if ((atomic_load(fl_word(t, q)) >> 32) == fp)
                    return -1; /* another copy of the key: never here */
            uint64_t pend = tag | 0x80000000u;
            if (!atomic_compare_exchange_strong(fl_word(t, p), &pend, tag))
                return -1;
        } else if (!atomic_compare_exchange_strong(fl_word(t, p), &z, tag)) {
            return -1;
        }
    }
    atomic_store_explicit(&s->epoch, (e | 1) + 1, memory_order_release);
    if ((f & FL_UNDO) && !insert)
        atomic_store_explicit(&undo[0], 0, memory_order_relaxed);
    if (f & FL_LOCK)
        atomic_store_explicit(&s->owner, 0, memory_order_release);
    if (f & FL_COUNT)
        atomic_fetch_add(&t->misc[0], 1);
    return insert;
}

/* ---------------------------------------------------------------- bench */

#define FL_RUNGS 8
#define FL_ALL (FL_INDEX | FL_LOCK | FL_UNDO | FL_COUNT)
static const int fl_flags[FL_RUNGS] = {0, FL_INDEX, FL_INDEX | FL_LOCK, FL_INDEX | FL_LOCK | FL_UNDO, FL_ALL,
                                       FL_ALL, FL_ALL, FL_COUNT};
static const int fl_wide[FL_RUNGS] = {0, 0, 0, 0, 0, 1, 2, 0}; /* fl_init's */
static const char *const fl_names[FL_RUNGS] = {"plain", "index", "index_lock", "index_lock_undo",
                                               "index_lock_undo_count", "all_wide", "all_paged", "plain_count"};

typedef struct fl_ctx {
    fl_table t[FL_RUNGS];
    spl_store *s;
    keyset keys;
    uint32_t *idx, *perm;
    size_t nops;
    unsigned char val[FL_VAL];
} fl_ctx;

static double fl_time_overwrite(fl_ctx *c, int r)
{
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < c->nops; i++) {
        memcpy(c->val, &i, 8);
        const char *k = key_at(&c->keys, c->idx[i]);
        if (r < FL_RUNGS ? fl_set(&c->t[r], fl_flags[r], k, c->val) != 0
                         : spl_set(c->s, k, c->val, FL_VAL) != 0)
            die("floor: an overwrite failed (or a rung inserted its key again)");
    }
    return (double)(now_ns() - t0) / (double)c->nops;
}

static double fl_time_insert(fl_ctx *c, int r)
{
    if (r < FL_RUNGS) {
        fl_clear(&c->t[r]);
    } else {
        for (size_t i = 0; i < FL_KEYS; i++) {
            int rc = spl_unset(c->s, key_at(&c->keys, i));
            if (rc != 0 && rc != SPL_ENOENT) /* absent before the first round */
                die_spl("floor: spl_unset", rc);
        }
    }
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < FL_KEYS; i++) {
        const char *k = key_at(&c->keys, c->perm[i]);
        if (r < FL_RUNGS ? fl_set(&c->t[r], fl_flags[r], k, c->val) != 1
                         : spl_set(c->s, k, c->val, FL_VAL) != 0)
            die("floor: an insert failed (or a rung found a key it never had)");
    }
    return (double)(now_ns() - t0) / (double)FL_KEYS;
}

void bench_floor(void)
{
    fl_ctx *c = calloc(1, sizeof *c);
    if (!c || keyset_make(&c->keys, FL_KEYS, "user"))
        die("out of memory");
    c->nops = g_opt.quick ? 200000 : 2000000;
    c->idx = random_indexes(c->nops, FL_KEYS, 77);
    c->perm = malloc(FL_KEYS * sizeof *c->perm); /* insert order: a permutation */
    if (!c->idx || !c->perm)
        die("out of memory");
    uint64_t ps = 78;
    for (uint32_t i = 0; i < FL_KEYS; i++)
        c->perm[i] = i;
    for (uint32_t i = FL_KEYS - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(rng_next(&ps) % (i + 1)), x = c->perm[i];
        c->perm[i] = c->perm[j];
        c->perm[j] = x;
    }
    for (int r = 0; r < FL_RUNGS; r++)
        fl_init(&c->t[r], fl_wide[r]);
    c->s = bench_store("splinter-bench-floor", FL_CAP, FL_VAL, "spl_create");
    memset(c->val, 0x5a, sizeof c->val);
    double ow[FL_RUNGS + 1][BENCH_ROUNDS], in[FL_RUNGS + 1][BENCH_ROUNDS];
    for (int round = 0; round < BENCH_ROUNDS; round++)
        for (int j = 0; j <= FL_RUNGS; j++) {
            int r = round & 1 ? FL_RUNGS - j : j; /* alternate the order */
            in[r][round] = fl_time_insert(c, r);
            ow[r][round] = fl_time_overwrite(c, r);
        }
    report_section("floor: the plain table, then one guarantee at a time (100k keys, 64-byte "
                   "values, 131072 slots; median of 4 interleaved rounds)");
    double ow_plain = bench_median(ow[0], BENCH_ROUNDS), in_plain = bench_median(in[0], BENCH_ROUNDS);
    static char names[4][FL_RUNGS + 1][48];
    for (int r = 0; r <= FL_RUNGS; r++) {
        const char *rn = r < FL_RUNGS ? fl_names[r] : "splinter";
        double o = bench_median(ow[r], BENCH_ROUNDS), n = bench_median(in[r], BENCH_ROUNDS);
        snprintf(names[0][r], sizeof names[0][r], "floor_insert_%s", rn);
        snprintf(names[1][r], sizeof names[1][r], "floor_overwrite_%s", rn);
        snprintf(names[2][r], sizeof names[2][r], "floor_ratio_insert_%s", rn);
        snprintf(names[3][r], sizeof names[3][r], "floor_ratio_overwrite_%s", rn);
        const char *what = r == FL_RUNGS ? "spl_set, same keys and order"
                           : r == 7      ? "plain + a locked add after the stores (beside the ladder)"
                                         : "rung";
        figure f[4] = {
            {names[0][r], r ? what : "insert into an empty table", n, "ns/op", 0, 0, T_NONE, 0, BENCH_ROUNDS},
            {names[1][r], r ? what : "overwrite, random key", o, "ns/op", 0, 0, T_NONE, 0, BENCH_ROUNDS},
            {names[2][r], "insert / plain insert", n / in_plain, "x", 0, 0, T_NONE, 0, BENCH_ROUNDS},
            {names[3][r], "overwrite / plain overwrite", o / ow_plain, "x", 0, 0, T_NONE, 0, BENCH_ROUNDS},
        };
        report(&f[0]);
        report(&f[1]);
        if (r) {
            report(&f[2]);
            report(&f[3]);
        }
    }
    report_note("a rung's ratio to plain is a floor for any table with those parts on this "
                "machine: insert target 1.5, overwrite target 1.3 (issue 11)");
    spl_close(c->s);
    for (int r = 0; r < FL_RUNGS; r++)
        munmap(c->t[r].slots, c->t[r].len);
    keyset_free(&c->keys);
    free(c->idx);
    free(c->perm);
    free(c);
}
