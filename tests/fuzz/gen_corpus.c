/*
 * gen_corpus.c - write the seed corpus of tests/fuzz/fuzz_region.c: small
 * valid stores (8..64 slots, key_max 16, val_max 64, vec_dim 0 and 8) made
 * through the public API and dumped from their memfd, plus hand-corrupted
 * variants (index words, key/value lengths, held slots with dead or live
 * owners, counters, header fields) and a few with steering scripts.
 *
 * Not built by the Makefile; regenerate with:
 *   make lib
 *   gcc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc -o build/tests/gen_corpus \
 *       tests/fuzz/gen_corpus.c build/libsplinter.a -lpthread
 *   rm -f tests/fuzz/corpus/ * && build/tests/gen_corpus tests/fuzz/corpus
 * (Stores get a random hash seed, so the files differ from run to run.)
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "splinter.h"
#include "internal.h" /* layout.h and spl__hash (the regression images) */

/* Steering bytes read by fuzz_region.c (keep in sync). */
#define KEY_OFF    1024u
#define FP_KEEP_OFF 1023u
#define SCRIPT_OFF 1088u

static const char *g_dir = "tests/fuzz/corpus";
static size_t g_total;
static unsigned g_files;
static uint64_t g_rng = 0x5eedc0ffee;

static uint64_t rnd(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "gen_corpus: %s: %s\n", what, rc ? spl_strerror(rc) : strerror(errno));
    exit(1);
}

#define OK(call)                                                                   \
    do {                                                                           \
        int rc_ = (call);                                                          \
        if (rc_ < 0)                                                               \
            die(#call, rc_);                                                       \
    } while (0)

/* A region image in private memory, with its geometry. */
typedef struct image {
    uint8_t *b;
    size_t n;
    uint32_t slots, words, stride, key_max, val_max;
    uint64_t index_off, slots_off;
} image;

static struct spl_header *hdr(image *im) { return (struct spl_header *)(void *)im->b; }
static uint64_t *ix(image *im, uint32_t i)
{
    return (uint64_t *)(void *)(im->b + im->index_off + (uint64_t)i * 8);
}
static struct spl_slot *slot(image *im, uint32_t i)
{
    return (struct spl_slot *)(void *)(im->b + im->slots_off + (uint64_t)i * im->stride);
}
/* A slot holding a key (slot i, not index word i: the index is apart). */
static int live(image *im, uint32_t i) { return slot(im, i)->key_len != 0; }

static spl_store *mk(uint32_t slots, uint32_t key_max, uint32_t val_max, uint32_t vec_dim)
{
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD;
    o.geom.slots = slots;
    o.geom.key_max = key_max;
    o.geom.val_max = val_max;
    o.geom.vec_dim = vec_dim;
    o.feed_len = SPL_FEED_MIN; /* small images: the fuzzer mutates every byte */
    spl_store *s = NULL;
    OK(spl_create(&s, "gen_corpus", &o));
    return s;
}

static image snap(spl_store *s)
{
    spl_info in;
    OK(spl_info_get(s, &in));
    image im;
    memset(&im, 0, sizeof im);
    im.n = in.region_bytes;
    im.b = malloc(im.n);
    if (!im.b)
        die("malloc", 0);
    if (pread(spl_fd(s), im.b, im.n, 0) != (ssize_t)im.n)
        die("pread", 0);
    struct spl_header *h = hdr(&im);
    /* fixed identity fields: smaller diffs between regenerations */
    h->creator_pid = 4242;
    h->created_ns = 1700000000000000000ull;
    im.slots = h->slots;
    im.words = h->index_words;
    im.stride = h->slot_stride;
    im.key_max = h->key_max;
    im.val_max = h->val_max;
    im.index_off = h->index_off;
    im.slots_off = h->slots_off;
    return im;
}

static image dup_image(const image *a)
{
    image im = *a;
    im.b = malloc(a->n);
    if (!im.b)
        die("malloc", 0);
    memcpy(im.b, a->b, a->n);
    return im;
}

static void put(const char *name, const uint8_t *b, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(b, 1, n, fp) != n || fclose(fp) != 0)
        die(path, 0);
    g_total += n;
    g_files++;
}

static void put_image(const char *base, const char *variant, image *im)
{
    char name[256];
    if (variant)
        snprintf(name, sizeof name, "%s-%s", base, variant);
    else
        snprintf(name, sizeof name, "%s", base);
    put(name, im->b, im->n);
}

/* ---------------------------------------------------------------- stores */

static void setv(spl_store *s, const char *k, size_t len, int fill)
{
    unsigned char v[4096];
    memset(v, fill, sizeof v);
    OK(spl_set(s, k, v, len));
}

static void populate_basic(spl_store *s, uint32_t val_max)
{
    setv(s, "k0", 5, 'a');
    setv(s, "k1", val_max, 'b');
    setv(s, "k2", 0, 0);
    setv(s, "alpha", 8, 'c');
    OK(spl_type_set(s, "alpha", SPL_T_TEXT));
    OK(spl_labels_set(s, "alpha", 0x5));
    OK(spl_flags_set(s, "k0", 3));
    OK(spl_inc(s, "counter", NULL));
    OK(spl_add(s, "counter", 41, NULL));
    OK(spl_labels_set(s, "counter", 0x4));
}

/* Vectors on the first keys of a store with vectors (cells whose
 * head and elements the fuzzer then mutates). */
static void populate_vectors(spl_store *s, uint32_t vec_dim)
{
#if SPL_WITH_EMBEDDINGS
    float v[64];
    if (!vec_dim || vec_dim > 64)
        return;
    static const char *const keys[] = {"alpha", "counter", "k1", "k2"};
    for (unsigned j = 0; j < 4; j++) {
        for (uint32_t i = 0; i < vec_dim; i++)
            v[i] = (float)((i + j) % 5) - 2.0f;
        OK(spl_vec_set(s, keys[j], v, vec_dim));
    }
#else
    (void)s, (void)vec_dim;
#endif
}

static spl_store *store_basic(uint32_t slots, uint32_t vec_dim)
{
    spl_store *s = mk(slots, 16, 64, vec_dim);
    populate_basic(s, 64);
    populate_vectors(s, vec_dim);
    return s;
}

static spl_store *store_churn(uint32_t slots, uint32_t vec_dim)
{
    spl_store *s = mk(slots, 16, 64, vec_dim);
    populate_basic(s, 64);
    char k[32];
    unsigned n = slots * 3 / 4;
    for (unsigned i = 3; i < n; i++) {
        snprintf(k, sizeof k, "k%u", i);
        setv(s, k, 1 + (i * 7) % 64, (int)i);
    }
    for (unsigned i = 3; i < n; i += 3) {
        snprintf(k, sizeof k, "k%u", i);
        OK(spl_unset(s, k));
    }
    for (unsigned i = 0; i < 5; i++) {
        snprintf(k, sizeof k, "c%u", i);
        OK(spl_add(s, k, (int64_t)i * 1000 - 2000, NULL));
    }
    setv(s, "beta", 64, 'z');
    OK(spl_labels_set(s, "beta", ~0ull));
    OK(spl_type_set(s, "beta", SPL_T_JSON));
    OK(spl_touch(s, "beta"));
    return s;
}

static spl_store *store_full(void)
{
    spl_store *s = mk(8, 16, 64, 0);
    char k[32];
    for (unsigned i = 0; i < 64; i++) {
        snprintf(k, sizeof k, "k%u", i);
        unsigned char v[16];
        memset(v, (int)i, sizeof v);
        int rc = spl_set(s, k, v, sizeof v);
        if (rc == SPL_EFULL)
            break;
        OK(rc);
    }
    return s;
}

static spl_store *store_long_keys(void)
{
    spl_store *s = mk(32, 16, 64, 0);
    char k[17];
    for (unsigned i = 0; i < 24; i++) {
        snprintf(k, sizeof k, "abcdefghijkl%04u", i);
        setv(s, k, 64, (int)i);
    }
    setv(s, "abcdefghijklmnop", 64, 'q');
    return s;
}

static spl_store *store_tiny(void)
{
    spl_store *s = mk(2, 1, 8, 0);
    OK(spl_inc(s, "a", NULL));
    setv(s, "b", 8, 'b');
    return s;
}

static spl_store *store_big_values(void)
{
    spl_store *s = mk(8, 16, 4096, 0);
    setv(s, "k0", 4096, 'x');
    setv(s, "k1", 1000, 'y');
    OK(spl_inc(s, "counter", NULL));
    return s;
}

/* ---------------------------------------------------------------- corruptions */

typedef void (*corrupt_fn)(image *im);

/* A PENDING tag whose slot has no owner cannot come from a crash (a dead
 * inserter leaves its owner id behind): give PENDING slots a dead owner, as a
 * crash would.  The ownerless case is in tests/fuzz/regressions/
 * fuzz_region-int-livelock-orphan-pending. */
static void own_pending(image *im)
{
    for (uint32_t p = 0; p < im->words; p++) {
        uint32_t i = spl_ix_slot(*ix(im, p));
        if (spl_ix_state(*ix(im, p)) == SPL_IX_PENDING && i < im->slots) {
            slot(im, i)->owner = (0x7ffffff2ull << 32) | 5u;
            slot(im, i)->epoch |= 1;
        }
    }
}
static void c_ix_garbage(image *im)
{
    for (uint32_t i = 0; i < im->words; i++)
        *ix(im, i) = rnd();
    own_pending(im);
}
static void c_ix_state(image *im)
{
    for (uint32_t i = 0; i < im->words; i++) {
        uint64_t w = *ix(im, i);
        uint64_t st = (i % 3 == 0) ? 3 : (i % 3 == 1 ? SPL_IX_PENDING : SPL_IX_LIVE);
        *ix(im, i) = (w & ~SPL_IX_STATE_MASK) | st; /* live flags on free slots too */
    }
    own_pending(im);
}
static void c_ix_maxdist_max(image *im)
{
    for (uint32_t i = 0; i < im->words; i++)
        *ix(im, i) |= SPL_IX_DIST_MASK | SPL_IX_CNT_MASK;
}
/* Probe bounds cut to 0 (counts kept: zeroing both makes spl_int livelock,
 * see tests/fuzz/regressions/fuzz_region-int-livelock-zero-bucket). */
static void c_ix_maxdist_zero(image *im)
{
    for (uint32_t i = 0; i < im->words; i++) {
        *ix(im, i) &= ~SPL_IX_DIST_MASK;
        *ix(im, i) ^= (uint64_t)(i & 1) << 55; /* and some fingerprints off */
    }
}
static void c_klen_huge(image *im)
{
    uint32_t v[] = {0xffffffffu, 0x80000000u, 4097, im->key_max + 1, 0};
    unsigned j = 0;
    for (uint32_t i = 0; i < im->slots; i++)
        if (live(im, i))
            slot(im, i)->key_len = v[j++ % 5];
}
static void c_vlen_huge(image *im)
{
    uint32_t v[] = {0xffffffffu, im->val_max + 1, im->val_max + 8, 0x7fffffffu, im->val_max};
    unsigned j = 0;
    for (uint32_t i = 0; i < im->slots; i++)
        if (live(im, i))
            slot(im, i)->val_len = v[j++ % 5];
}
static void hold(image *im, uint64_t owner, int all)
{
    for (uint32_t i = 0; i < im->slots; i++)
        if (all || live(im, i)) {
            slot(im, i)->epoch |= 1;
            slot(im, i)->owner = owner;
        }
}
/* pid far above any pid_max: dead for certain */
static void c_held_dead(image *im) { hold(im, (0x7ffffff0ull << 32) | 77u, 1); }
static void c_held_noowner(image *im) { hold(im, 0, 0); }
/* pid 1, stamp 0 ("start time unknown"): alive as far as anyone can tell */
static void c_held_live(image *im)
{
    for (uint32_t i = 0; i < im->slots; i++)
        if (live(im, i) && i % 2 == 0) {
            slot(im, i)->epoch |= 1;
            slot(im, i)->owner = 1ull << 32;
        }
}
static void c_owner_noodd(image *im)
{
    /* an owner without an odd epoch, and an odd epoch on free slots */
    for (uint32_t i = 0; i < im->slots; i++) {
        if (live(im, i))
            slot(im, i)->owner = (0x7ffffff1ull << 32) | 1u;
        else
            slot(im, i)->epoch = 3;
    }
}
static void c_epoch_max(image *im)
{
    for (uint32_t i = 0; i < im->slots; i++)
        slot(im, i)->epoch = (i & 1) ? ~0ull : ~1ull;
}
static void c_counters(image *im)
{
    struct spl_header *h = hdr(im);
    h->used = ~0ull;
    h->recoveries = 1ull << 63;
    h->changes = ~0ull - 1;
    h->probe_max = h->probe_max; /* validated: left alone */
}
static void c_types(image *im)
{
    for (uint32_t i = 0; i < im->slots; i++) {
        struct spl_slot *sl = slot(im, i);
        if (!live(im, i))
            continue;
        switch (i % 4) {
        case 0: sl->type = 0xff; break;
        case 1: sl->type = SPL_T_INT64; sl->val_len = 7; break;
        case 2: sl->type = SPL_T_UINT64; sl->val_len = 8; break;
        default: sl->type = SPL__T_COUNT; sl->user_flags = 0xff; sl->labels = ~0ull; break;
        }
    }
}
static void c_keys_odd(image *im)
{
    for (uint32_t i = 0; i < im->slots; i++) {
        struct spl_slot *sl = slot(im, i);
        uint8_t *k = (uint8_t *)sl + SPL_SLOT_META;
        if (!live(im, i))
            continue;
        if (i % 2) { /* full lane, no NUL anywhere */
            memset(k, 'x', im->key_max);
            sl->key_len = im->key_max;
        } else {     /* a NUL inside the key */
            k[0] = 'k';
            k[1] = 0;
            k[2] = '1';
            sl->key_len = 3;
        }
    }
}
static void c_slots_random(image *im)
{
    for (uint32_t i = 0; i < im->slots; i++) {
        uint8_t *p = (uint8_t *)slot(im, i);
        for (size_t j = 0; j < SPL_SLOT_META; j += 8) {
            uint64_t r = rnd();
            memcpy(p + j, &r, 8);
        }
    }
}
static void c_dup_keys(image *im)
{
    /* the same key in every live slot, index words kept */
    for (uint32_t i = 0; i < im->slots; i++) {
        if (!live(im, i))
            continue;
        uint8_t *k = (uint8_t *)slot(im, i) + SPL_SLOT_META;
        memset(k, 0, im->key_max);
        memcpy(k, "k0", 2);
        slot(im, i)->key_len = 2;
    }
}

/* The cell arena of a vector store (none: nothing to corrupt). */
static struct spl_cell *cell(image *im, uint32_t c)
{
    struct spl_header *h = hdr(im);
    return (struct spl_cell *)(void *)(im->b + h->cells_off + (uint64_t)c * h->cell_stride);
}
/* Random seqs, links and vector heads; hints past the end. */
static void c_cells_garbage(image *im)
{
    struct spl_header *h = hdr(im);
    for (uint32_t c = 0; c < h->cells; c++) {
        struct spl_cell *cl = cell(im, c);
        cl->seq = rnd();
        cl->link = c % 3 == 0 ? rnd() : c % 3 == 1 ? (rnd() << 32) | (h->slots + 1) : cl->link;
        cl->head.dim = (uint32_t)rnd();
        cl->head.norm_bits = 0x7fc00000u; /* NaN */
    }
    h->cell_hint = ~0ull;
    h->cell_high = ~0ull;
}
/* Orphans: every free cell claimed for some live slot that names another
 * cell, half of them left odd (a writer died in the middle); the hint cut
 * to 0 and the high mark to the top. */
static void c_cells_orphan(image *im)
{
    struct spl_header *h = hdr(im);
    uint32_t x = 0;
    for (uint32_t c = 0; c < h->cells; c++) {
        struct spl_cell *cl = cell(im, c);
        if (cl->link & SPL_CELL_SLOT_MASK)
            continue;
        while (x < im->slots && !live(im, x))
            x++;
        if (x == im->slots)
            break;
        cl->link = (cl->link & ~SPL_CELL_SLOT_MASK) + SPL_CELL_CLAIM + x + 1;
        cl->seq |= c & 1;
        x++;
    }
    h->cell_hint = 0;
    h->cell_high = h->cells;
}
/* vec_state of live slots: out of range, a cell of another slot, a free
 * cell, and two slots naming one cell. */
static void c_vs_garbage(image *im)
{
    struct spl_header *h = hdr(im);
    uint32_t v[] = {0xffffffffu, h->cells + 1, 1, 2, h->cells};
    unsigned j = 0;
    for (uint32_t i = 0; h->cells && i < im->slots; i++)
        if (live(im, i))
            slot(im, i)->vec_state = v[j++ % 5];
}

/* The fragment registry: entries in every state with dead hosts, strings
 * without terminators, counts and lengths out of range, random bytes. */
static void c_reg_garbage(image *im)
{
    struct spl_header *h = hdr(im);
    if (h->reg_off + (uint64_t)SPL_REG_ENTRIES * SPL_REG_STRIDE > im->n)
        return;
    for (uint32_t i = 0; i < SPL_REG_ENTRIES; i++) {
        struct spl_reg_ent *e = (struct spl_reg_ent *)(void *)(im->b + h->reg_off + (size_t)i * SPL_REG_STRIDE);
        if (i >= 6) {
            for (size_t k = 0; k < sizeof *e; k += 8) {
                uint64_t r = rnd();
                memcpy((uint8_t *)e + k, &r, 8);
            }
            continue;
        }
        memset(e, 0, sizeof *e);
        e->state = i == 5 ? 77 : i; /* FREE .. FAILED, then out of range */
        e->host = (0x7ffffff3ull << 32) | (i + 1); /* dead */
        e->argc = i == 1 ? 1000 : 2;
        e->follow = ~0ull;
        e->seen = i == 2 ? ~0ull : 0;
        e->rep_len = 0xffffffffu;
        e->req_len = 0xffffffffu;
        e->req_seq = 5;
        memset(e->name, 'a' + (int)i, sizeof e->name); /* no NUL */
        memset(e->path, '/', sizeof e->path);
        memset(e->args, 'x', sizeof e->args);
        memset(e->errmsg, 'e', sizeof e->errmsg);
    }
}

/* core: applied to every store with variants; the rest only to "all". */
static const struct {
    const char *name;
    corrupt_fn fn;
    int core;
} corruptions[] = {
    {"ix-garbage", c_ix_garbage, 1},         {"ix-state", c_ix_state, 0},
    {"ix-maxdist-max", c_ix_maxdist_max, 0}, {"ix-maxdist-zero", c_ix_maxdist_zero, 0},
    {"klen-huge", c_klen_huge, 1},           {"vlen-huge", c_vlen_huge, 1},
    {"held-deadowner", c_held_dead, 1},      {"held-noowner", c_held_noowner, 0},
    {"held-liveowner", c_held_live, 0},      {"owner-noodd", c_owner_noodd, 0},
    {"epoch-max", c_epoch_max, 0},           {"hdr-counters", c_counters, 0},
    {"types", c_types, 1},                   {"keys-odd", c_keys_odd, 0},
    {"slots-random", c_slots_random, 1},     {"dup-keys", c_dup_keys, 0},
    {"cells-garbage", c_cells_garbage, 1},   {"cells-orphan", c_cells_orphan, 1},
    {"vs-garbage", c_vs_garbage, 1},         {"reg-garbage", c_reg_garbage, 1},
};

enum { V_NONE, V_CORE, V_ALL };

static void variants(const char *base, const image *orig, int level)
{
    for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++) {
        if (level == V_CORE && !corruptions[i].core)
            continue;
        image im = dup_image(orig);
        corruptions[i].fn(&im);
        if (memcmp(im.b, orig->b, im.n) != 0) /* not for this store (no cells) */
            put_image(base, corruptions[i].name, &im);
        free(im.b);
    }
}

/* Header damage: these must be refused at open. */
static void header_variants(const char *base, const image *orig)
{
    image im = dup_image(orig);
    hdr(&im)->version = 0;
    put_image(base, "hdr-version0", &im);
    memcpy(im.b, orig->b, im.n);
    hdr(&im)->magic ^= 1;
    put_image(base, "hdr-magic", &im);
    memcpy(im.b, orig->b, im.n);
    hdr(&im)->slots *= 2;
    put_image(base, "hdr-slots", &im);
    memcpy(im.b, orig->b, im.n);
    hdr(&im)->val_max += 64;
    hdr(&im)->slot_stride += 64;
    put_image(base, "hdr-valmax", &im);
    memcpy(im.b, orig->b, im.n);
    hdr(&im)->fingerprint ^= 0x10;
    im.b[FP_KEEP_OFF] = 1; /* fuzz_region.c: keep this fingerprint */
    put_image(base, "hdr-fingerprint", &im);
    memcpy(im.b, orig->b, im.n);
    char name[256];
    snprintf(name, sizeof name, "%s-hdr-truncated", base);
    put(name, im.b, im.n - 64);
    snprintf(name, sizeof name, "%s-hdr-short", base);
    put(name, im.b, 100);
    free(im.b);
}

/* Steering: a key at KEY_OFF and a write script at SCRIPT_OFF. */
static void script_variant(const char *name, const image *orig, const char *key,
                           const uint8_t *ops, size_t nops)
{
    image im = dup_image(orig);
    strcpy((char *)im.b + KEY_OFF, key);
    im.b[SCRIPT_OFF] = (uint8_t)nops;
    memcpy(im.b + SCRIPT_OFF + 1, ops, nops * 3);
    put(name, im.b, im.n);
    free(im.b);
}

static void emit(const char *name, spl_store *s, int level)
{
    image im = snap(s);
    put_image(name, NULL, &im);
    if (level != V_NONE)
        variants(name, &im, level);
    spl_close(s);
    free(im.b);
}

/* ---------------------------------------------------------------- regressions
 * tests/fuzz/regressions/README says what each input once did.  They were
 * fuzzer finds; the store format moved on (format 3: the index apart from
 * the slots), so they are made here, each with the same defect, in the
 * current format. */

/* Word naming slot `sl` for key k in image im, or UINT32_MAX. */
static uint32_t word_of(image *im, const char *k, uint32_t *home_out)
{
    uint64_t h = spl__hash(k, strlen(k), hdr(im)->hash_seed);
    uint32_t mask = im->words - 1, home = (uint32_t)h & mask;
    *home_out = home;
    for (uint32_t d = 0; d < im->words; d++) {
        uint64_t w = *ix(im, (home + d) & mask);
        if (spl_ix_state(w) == SPL_IX_LIVE && (w & SPL_IX_FP_MASK) == spl_ix_fp(h))
            return (home + d) & mask;
    }
    return UINT32_MAX;
}

static void regressions(void)
{
    /* a displaced key's home bucket with count 0 and maxdist 0 */
    spl_store *s = store_basic(8, 0);
    image im = snap(s);
    uint32_t home, p = word_of(&im, "counter", &home), q = (home + 1) & (im.words - 1);
    if (p == UINT32_MAX)
        die("counter has no word", 0);
    uint64_t tag = *ix(&im, p) & SPL_IX_TAG_MASK;
    *ix(&im, p) &= ~SPL_IX_TAG_MASK;
    if (*ix(&im, q) & SPL_IX_TAG_MASK)
        die("no free word after counter's home", 0);
    *ix(&im, q) |= tag;
    *ix(&im, home) &= ~SPL_IX_BUCKET_MASK;
    put("fuzz_region-int-livelock-zero-bucket", im.b, im.n);
    /* FREE index words turned PENDING, naming slot 0, with no owner */
    image pend = snap(s);
    for (uint32_t w = 0; w < pend.words; w++)
        if (spl_ix_state(*ix(&pend, w)) == SPL_IX_FREE)
            *ix(&pend, w) |= SPL_IX_PENDING;
    put("fuzz_region-int-livelock-orphan-pending", pend.b, pend.n);
    free(pend.b);
    free(im.b);
    spl_close(s);

    /* every slot held by a dead owner, 512-byte slots */
    s = mk(8, 16, 432, 0);
    OK(spl_inc(s, "counter", NULL));
    OK(spl_set(s, "k0", "v", 1));
    im = snap(s);
    if (im.stride != 512)
        die("stride is not 512", 0);
    c_held_dead(&im);
    put("fuzz_region-int-suspect-table-aliasing", im.b, im.n);
    free(im.b);
    spl_close(s);

    /* a key holding a vector, with a NUL inside its key_len */
    s = store_basic(16, 8);
    im = snap(s);
    for (uint32_t i = 0; i < im.slots; i++) {
        struct spl_slot *sl = slot(&im, i);
        if (sl->key_len >= 2 && sl->vec_state) {
            ((uint8_t *)sl + SPL_SLOT_META)[1] = 0;
            break;
        }
    }
    put("fuzz_region-vec-search-key-with-nul", im.b, im.n);
    free(im.b);
    spl_close(s);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_dir = argv[1];
    if (argc > 2 && strcmp(argv[2], "--regressions") == 0) {
        regressions();
        printf("gen_corpus: %u regression images in %s\n", g_files, g_dir);
        return 0;
    }

    emit("empty-s8", mk(8, 16, 64, 0), V_NONE);
    emit("basic-s8", store_basic(8, 0), V_ALL);
    emit("basic-s16-vec8", store_basic(16, 8), V_CORE);
    emit("churn-s64", store_churn(64, 0), V_CORE);
    emit("churn-s32-vec8", store_churn(32, 8), V_ALL);
    emit("full-s8", store_full(), V_CORE);
    emit("longkeys-s32", store_long_keys(), V_NONE);
    emit("tiny-s2-k1-v8", store_tiny(), V_CORE);
    emit("bigval-s8-v4096", store_big_values(), V_NONE);

    spl_store *s = store_basic(8, 0);
    image im = snap(s);
    header_variants("basic-s8", &im);
    /* op, key selector, arg (see fuzz_region.c: do_op) */
    static const uint8_t script1[] = {
        0, 15, 20,   /* set <steering key> 20 bytes */
        2, 15, 0,    /* inc it: SPL_ETYPE */
        1, 15, 0,    /* unset */
        2, 15, 0,    /* inc: creates */
        3, 15, 200,  /* add */
        12, 15, 4,   /* spl_int op 4 (NOT) */
        12, 15, 5,   /* spl_int op 5: invalid */
        4, 0, 60,    /* append past val_max */
        5, 0, 0x88,  /* cas with a too-big value */
        6, 9, 3,     /* cas 0 (create only) */
        7, 10, 9,    /* type_set invalid */
        13, 0, 5,    /* set_wait */
        14, 1, 0,    /* unset_wait */
        15, 15, 0,   /* get */
    };
    script_variant("script-basic-s8", &im, "steer", script1, sizeof script1 / 3);
    free(im.b);
    spl_close(s);

    s = store_churn(64, 0);
    im = snap(s);
    static const uint8_t script2[] = {
        0, 16, 0x80, 0, 17, 0x8f, 0, 18, 64, 1, 19, 0, 1, 20, 0, 0, 21, 3, 2, 22, 0,
        8, 23, 0xff, 9, 24, 0x33, 10, 25, 0x01, 11, 26, 0, 0, 15, 1,
    };
    script_variant("script-churn-s64", &im, "k1", script2, sizeof script2 / 3);
    image held = dup_image(&im);
    c_held_dead(&held);
    static const uint8_t script3[] = {2, 10, 0, 13, 0, 8, 14, 1, 0, 0, 4, 9, 2, 11, 0};
    script_variant("script-held-deadowner", &held, "k5", script3, sizeof script3 / 3);
    free(held.b);
    free(im.b);
    spl_close(s);

    printf("gen_corpus: %u files, %zu bytes in %s\n", g_files, g_total, g_dir);
    return 0;
}
