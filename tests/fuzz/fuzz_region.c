/*
 * fuzz_region.c - libFuzzer target: the input is a (possibly corrupted)
 * region image.  It is written into a private memfd and attached with
 * spl_open_fd; when the library accepts it, every read path runs on a
 * read-only handle and again on a read-write handle, then a sequence of
 * writes (writers read untrusted data too), then the reads once more.
 *
 * The library must never crash, hang, leak or break its own contract on any
 * image: the checks below abort() on contract violations (a value longer
 * than val_max, an odd epoch in a snapshot, a write that succeeded through a
 * read-only handle, ...) so that libFuzzer reports them.
 *
 * Steering bytes.  The header's reserved area (offset 320..4095) is not
 * validated by the library, so the target reads two things from it:
 *   KEY_OFF  (1024): a NUL-terminated key tried by every operation;
 *   SCRIPT_OFF (1088): n = byte % 33 write operations, 3 bytes each
 *                    (op, key selector, length/argument).  n == 0 runs a
 *                    fixed default sequence.
 * tests/fuzz/gen_corpus.c writes stores whose reserved bytes are zero (and a
 * few with scripts), so mutations of those bytes steer the writes.
 *
 * Owners.  A slot held (odd epoch) by a live process makes spl_int retry for
 * 10 s and return SPL_ETIMEDOUT, by contract.  So that no input costs 10 s,
 * the target rewrites every slot owner whose pid names a running process
 * (pid 1, the fuzzer itself, ...) to a pid that cannot exist before use:
 * held slots then always belong to dead writers, which the library must
 * recover, and SPL_ETIMEDOUT from spl_int is a bug (checked).
 *
 * -DFUZZ_REGION_NO_INT turns the spl_int family (inc, add, int) into no-ops:
 * for fuzzing the rest while a known spl_int livelock is open (its 10 s
 * executions would otherwise dominate the run).
 *
 * Fingerprint.  The header's layout fingerprint is a hash of this build's
 * layout constants; it changes whenever they do, and a stale corpus would
 * then be refused at open (SPL_ELAYOUT) and fuzz nothing.  So the target
 * stamps the current build's fingerprint and feature bits (so that a
 * WITH_EMBEDDINGS=0 build still opens the corpus's vec_dim 0 stores) into
 * the image before opening it, unless bit 0 of the byte at FP_KEEP_OFF
 * (1023) is set: then the image's own are kept and the refusal is fuzzed.
 *
 * Built two ways: by `make fuzz` (clang, -fsanitize=fuzzer) and by `make
 * test-fuzz-replay` (with tests/fuzz/replay_main.c, gcc, normal or ASan).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "splinter.h"
#include "layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT   (8u << 20) /* larger images are skipped (slow, not useful) */
#define KEY_OFF     1024u
#define FP_KEEP_OFF 1023u
#define SCRIPT_OFF  1088u
#define MAX_KEYS    32
#define KEY_CAP     80         /* longest key string the target builds */
#define BUF_CAP     (1u << 16)

/* What the target is doing, for the report of a violated check. */
static char g_ctx[160];

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "fuzz_region: contract violated at %s:%d: %s (%s)\n",  \
                    __FILE__, __LINE__, #cond, g_ctx);                              \
            abort();                                                                \
        }                                                                           \
    } while (0)

typedef struct fz {
    const uint8_t *data;
    size_t size;
    spl_info info;
    int rdonly;
    char keys[MAX_KEYS][KEY_CAP];
    int nkeys;
    uint64_t sink;
} fz;

static unsigned char g_buf[BUF_CAP];
static unsigned char g_val[BUF_CAP];

/* Known keys: the seed-corpus generator uses these, so they usually hit. */
/* Images that opened as stores (replay_main.c checks the share). */
static unsigned g_opened;
unsigned fuzz_usable_inputs(void);
unsigned fuzz_usable_inputs(void) { return g_opened; }

static const char *const fixed_keys[] = {
    "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "alpha", "beta", "counter", "c0",
    "abcdefghijklmnop",   /* 16: exactly key_max of the corpus stores */
    "abcdefghijklmnopq",  /* 17: one too long for them */
    "",                   /* always SPL_EKEYLEN */
};

static void add_key(fz *f, const char *k, size_t n)
{
    if (f->nkeys >= MAX_KEYS)
        return;
    if (n >= KEY_CAP)
        n = KEY_CAP - 1;
    memcpy(f->keys[f->nkeys], k, n);
    f->keys[f->nkeys][n] = 0;
    f->nkeys++;
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Keys taken from the image: the steering key, and the key bytes of the
 * first slots (as they lie in the image, clipped, up to any NUL). */
static void derive_keys(fz *f)
{
    for (size_t i = 0; i < sizeof fixed_keys / sizeof fixed_keys[0]; i++)
        add_key(f, fixed_keys[i], strlen(fixed_keys[i]));
    const uint8_t *d = f->data;
    size_t n = strnlen((const char *)d + KEY_OFF, 63);
    if (n)
        add_key(f, (const char *)d + KEY_OFF, n);
    /* Geometry fields were validated by spl_open_fd against the file size. */
    uint64_t slots_off = rd64(d + offsetof(struct spl_header, slots_off));
    uint32_t stride = rd32(d + offsetof(struct spl_header, slot_stride));
    uint32_t nslots = f->info.geom.slots;
    for (uint32_t i = 0; i < nslots && f->nkeys < MAX_KEYS; i++) {
        uint64_t off = slots_off + (uint64_t)i * stride;
        if (off + SPL_SLOT_META + 1 > f->size)
            break;
        uint32_t kl = rd32(d + off + offsetof(struct spl_slot, key_len));
        if (kl == 0)
            continue;
        size_t avail = f->size - (off + SPL_SLOT_META);
        size_t take = kl < avail ? kl : avail;
        if (take > KEY_CAP - 1)
            take = KEY_CAP - 1;
        size_t len = strnlen((const char *)d + off + SPL_SLOT_META, take);
        if (len)
            add_key(f, (const char *)d + off + SPL_SLOT_META, len);
    }
}

/* ---------------------------------------------------------------- reads */

static int read_fn(const void *p, size_t len, void *ud)
{
    fz *f = ud;
    CHECK(len <= f->info.geom.val_max);
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        f->sink += b[i];
    return (int)(len & 0x7f); /* returned as is when the read was consistent */
}

typedef struct iter_ud {
    fz *f;
    const spl_filter *flt;
    unsigned seen, stop_after;
} iter_ud;

static int iter_fn(const spl_entry *e, void *p)
{
    iter_ud *u = p;
    fz *f = u->f;
    CHECK(e->key != NULL);
    CHECK(e->key_len >= 1 && e->key_len <= f->info.geom.key_max);
    CHECK(strlen(e->key) <= e->key_len);
    CHECK(e->meta.val_len <= f->info.geom.val_max);
    CHECK(e->meta.slot < f->info.geom.slots);
    CHECK((e->meta.epoch & 1) == 0);
    if (u->flt && (u->flt->flags & SPL_F_VALUES)) {
        CHECK(e->val != NULL || e->meta.val_len == 0);
        const unsigned char *b = e->val;
        for (size_t i = 0; i < e->meta.val_len; i++) /* heap copy: ASan-checked */
            f->sink += b[i];
    } else {
        CHECK(e->val == NULL);
    }
    if (u->flt && u->flt->prefix)
        CHECK(strncmp(e->key, u->flt->prefix, strlen(u->flt->prefix)) == 0);
    if (u->flt && u->flt->labels && !(u->flt->flags & SPL_F_LABELS_ANY))
        CHECK((e->meta.labels & u->flt->labels) == u->flt->labels);
    if (u->flt && u->flt->labels && (u->flt->flags & SPL_F_LABELS_ANY))
        CHECK((e->meta.labels & u->flt->labels) != 0);
    f->sink += e->key_len;
    u->seen++;
    return (u->stop_after && u->seen >= u->stop_after) ? 7 : 0;
}

static void run_foreach(fz *f, spl_store *s, const spl_filter *flt, unsigned stop_after)
{
    snprintf(g_ctx, sizeof g_ctx, "spl_foreach prefix %s glob %s labels %llx flags %u stop %u",
             flt && flt->prefix ? flt->prefix : "-", flt && flt->glob ? flt->glob : "-",
             flt ? (unsigned long long)flt->labels : 0ull, flt ? flt->flags : 0u, stop_after);
    iter_ud u = {f, flt, 0, stop_after};
    int rc = spl_foreach(s, flt, iter_fn, &u);
    if (rc == 7)
        CHECK(stop_after && u.seen == stop_after);
    else if (rc == 0)
        CHECK(!stop_after || u.seen < stop_after);
    /* any other return is an error code: fine on a corrupted image */
}

static void read_key(fz *f, spl_store *s, const char *k)
{
    snprintf(g_ctx, sizeof g_ctx, "reads of key \"%s\"", k);
    size_t len = 0;
    uint32_t vmax = f->info.geom.val_max;
    int rc = spl_get(s, k, NULL, 0, &len); /* size query */
    if (rc == 0 || rc == SPL_ENOBUFS)
        CHECK(len <= vmax);
    rc = spl_get(s, k, g_buf, 3, &len);
    if (rc == 0)
        CHECK(len <= 3);
    else if (rc == SPL_ENOBUFS)
        CHECK(len > 3 && len <= vmax);
    size_t cap = vmax < BUF_CAP ? vmax : BUF_CAP;
    rc = spl_get(s, k, g_buf, cap, &len);
    if (rc == 0) {
        CHECK(len <= cap);
        for (size_t i = 0; i < len; i++)
            f->sink += g_buf[i];
    }
    rc = spl_get_wait(s, k, g_buf, cap, &len, 50);
    if (rc == 0)
        CHECK(len <= cap);

    rc = spl_exists(s, k);
    CHECK(rc == 0 || rc == 1 || rc < 0);

    spl_meta m;
    rc = spl_meta_get(s, k, &m);
    if (rc == 0) {
        CHECK(m.val_len <= vmax);
        CHECK(m.slot < f->info.geom.slots);
        CHECK((m.epoch & 1) == 0);
    }

    spl_view v;
    rc = spl_view_get(s, k, &v);
    if (rc == 0) {
        CHECK(v.len <= vmax);
        CHECK(v.slot < f->info.geom.slots);
        const unsigned char *b = v.data;
        for (size_t i = 0; i < v.len; i++) /* in the mapping: SEGV if out of it */
            f->sink += b[i];
        rc = spl_view_valid(s, &v);
        CHECK(rc == 0 || rc == SPL_ESTALE || rc < 0);
    }

    rc = spl_read_with(s, k, read_fn, f);
    CHECK(rc <= 0x7f);
}

/* Vectors: spl_vec_get of a key and searches over hostile lanes (in a
 * WITH_EMBEDDINGS=0 build, or a store without vectors: SPL_ENOTSUP). */
static float g_vec[SPL_VEC_DIM_LIMIT];

static void read_vec_key(fz *f, spl_store *s, const char *k)
{
    uint32_t dim = f->info.geom.vec_dim;
    uint64_t ep = 1;
    int rc = spl_vec_get(s, k, g_vec, dim, &ep);
    if (rc == 0) {
        CHECK((ep & 1) == 0);
        for (uint32_t i = 0; i < dim; i++)
            f->sink += (uint64_t)(g_vec[i] != 0);
    }
}

static void search_check(fz *f, spl_store *s, const spl_vec_query *q)
{
    snprintf(g_ctx, sizeof g_ctx, "spl_vec_search metric %d k %u threads %u prefix %s",
             (int)q->metric, q->k, q->threads, q->prefix ? q->prefix : "-");
    spl_vec_result *r = NULL;
    int rc = spl_vec_search(s, q, &r);
    if (rc != 0) {
        CHECK(r == NULL);
        return;
    }
    CHECK(r->n <= q->k);
    for (uint32_t j = 0; j < r->n; j++) {
        const spl_vec_hit *h = &r->hits[j];
        CHECK(h->key_len >= 1 && h->key_len <= f->info.geom.key_max);
        CHECK(strlen(h->key) == h->key_len);
        CHECK(h->slot < f->info.geom.slots && (h->epoch & 1) == 0);
        CHECK(h->score == h->score); /* never NaN */
        if (j > 0)
            CHECK(q->metric == SPL_METRIC_L2 ? r->hits[j - 1].score <= h->score
                                             : r->hits[j - 1].score >= h->score);
    }
    f->sink += r->n + r->scanned + r->skipped;
    spl_vec_result_free(r);
}

static void read_vectors(fz *f, spl_store *s)
{
    for (int i = 0; i < f->nkeys; i++)
        read_vec_key(f, s, f->keys[i]);
    uint32_t dim = f->info.geom.vec_dim;
    for (uint32_t i = 0; i < dim; i++)
        g_vec[i] = (float)((i * 7) % 5) - 2;
    spl_vec_query q = {.vec = g_vec, .dim = dim, .k = 5};
    for (int m = 0; m < 3; m++) {
        q.metric = (spl_metric)m;
        search_check(f, s, &q);
    }
    q.threads = 2;
    q.labels = 0x5;
    q.flags = SPL_F_LABELS_ANY;
    q.prefix = "k";
    search_check(f, s, &q);
    q = (spl_vec_query){.key = f->keys[0], .k = 3, .metric = SPL_METRIC_L2,
                        .flags = SPL_VQ_SKIP_SELF};
    search_check(f, s, &q);
}

/* The fragment registry: every field untrusted (bounded strings and
 * counts, states in range); a call to a "running" entry returns. */
static void registry_check(fz *f, spl_store *s, int rw)
{
    spl_frag_info fi[SPL_FRAG_MAX + 1];
    int n = spl_frag_list(s, fi, SPL_FRAG_MAX + 1);
    CHECK(n >= 0 && n <= (int)SPL_FRAG_MAX);
    for (int i = 0; i < n && i <= (int)SPL_FRAG_MAX; i++) {
        CHECK(memchr(fi[i].name, 0, sizeof fi[i].name) && memchr(fi[i].path, 0, sizeof fi[i].path));
        CHECK(memchr(fi[i].errmsg, 0, sizeof fi[i].errmsg) && memchr(fi[i].args, 0, sizeof fi[i].args));
        CHECK(fi[i].state >= SPL_FRAG_REGISTERED && fi[i].state <= SPL_FRAG_DEAD);
        CHECK(fi[i].argc <= SPL_FRAG_ARGC_MAX && fi[i].index < SPL_FRAG_MAX);
        f->sink += fi[i].events + fi[i].lag + (uint64_t)strlen(spl_frag_state_name(fi[i].state));
        spl_frag_info g;
        int rc = spl_frag_get(s, fi[i].name, &g);
        CHECK(rc == 0 || rc == SPL_ENOENT);
        if (rw && fi[i].name[0]) {
            char rep[64];
            size_t len = 0;
            const char *av[] = {"help"};
            rc = spl_frag_call(s, fi[i].name, 1, av, rep, sizeof rep, &len, 1000000);
            CHECK(rc <= 0 && len <= SPL_FRAG_REPLY_MAX);
        }
    }
}

static void read_all(fz *f, spl_store *s, int expect_ro)
{
    registry_check(f, s, !expect_ro);
    spl_info in;
    int rc = spl_info_get(s, &in);
    CHECK(rc == 0);
    CHECK(in.geom.slots == f->info.geom.slots && in.geom.val_max == f->info.geom.val_max);
    CHECK(!!in.read_only == expect_ro);
    for (int i = 0; i < f->nkeys; i++)
        read_key(f, s, f->keys[i]);

    run_foreach(f, s, NULL, 0);
    spl_filter fl;
    memset(&fl, 0, sizeof fl);
    fl.flags = SPL_F_VALUES;
    run_foreach(f, s, &fl, 0);
    run_foreach(f, s, &fl, 2);
    fl.flags = 0;
    fl.prefix = "k";
    run_foreach(f, s, &fl, 0);
    fl.prefix = f->nkeys > 15 ? f->keys[15] : "c"; /* the steering key, if any */
    fl.flags = SPL_F_VALUES;
    run_foreach(f, s, &fl, 0);
    fl.prefix = NULL;
    fl.glob = "*[a-c]?";
    run_foreach(f, s, &fl, 0);
    fl.glob = NULL;
    fl.labels = 0x5;
    fl.flags = SPL_F_VALUES;
    run_foreach(f, s, &fl, 0);
    fl.flags = SPL_F_LABELS_ANY;
    run_foreach(f, s, &fl, 1);
    read_vectors(f, s);
}

/* ---------------------------------------------------------------- writes */

enum {
    OP_SET, OP_UNSET, OP_INC, OP_ADD, OP_APPEND, OP_CAS, OP_CAS0, OP_TYPE, OP_FLAGS,
    OP_LABELS, OP_LABELS_CLEAR, OP_TOUCH, OP_INT_XOR, OP_SET_WAIT, OP_UNSET_WAIT, OP_GET,
    OP_WATCH, OP_BUMP, OP_SIGNAL, OP_FEED, OP_KEY_WAIT, OP_VEC_SET, OP_VEC_CLEAR,
    OP__COUNT
};

static int g_verbose = -1;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void do_op1(fz *f, spl_store *s, unsigned op, const char *k, unsigned arg);

static void do_op(fz *f, spl_store *s, unsigned op, const char *k, unsigned arg)
{
    snprintf(g_ctx, sizeof g_ctx, "write op %u, key \"%s\", arg %u, %s handle", op % OP__COUNT, k,
             arg, f->rdonly ? "read-only" : "read-write");
    uint64_t t0 = g_verbose ? mono_ns() : 0;
    do_op1(f, s, op, k, arg);
    if (g_verbose) {
        uint64_t dt = mono_ns() - t0;
        if (dt > 50000000ull)
            fprintf(stderr, "fuzz_region: slow op %u (key \"%s\", arg %u, %s): %llu ms\n",
                    op % OP__COUNT, k, arg, f->rdonly ? "ro" : "rw",
                    (unsigned long long)(dt / 1000000));
    }
}

static void do_op1(fz *f, spl_store *s, unsigned op, const char *k, unsigned arg)
{
    uint32_t vmax = f->info.geom.val_max;
    /* lengths around val_max and small ones: arg 0..255 */
    size_t len = (arg & 0x80) ? (size_t)vmax + 8 - (arg & 0x0f) : (arg & 0x7f);
    if (len > BUF_CAP)
        len = BUF_CAP;
    memset(g_val, (int)arg, len);
    int rc = 0;
    int writes = 1;
    spl_meta m;
#ifdef FUZZ_REGION_NO_INT
    if (op % OP__COUNT == OP_INC || op % OP__COUNT == OP_ADD || op % OP__COUNT == OP_INT_XOR)
        return;
#endif
    switch (op % OP__COUNT) {
    case OP_SET:
        rc = spl_set(s, k, g_val, len);
        if (rc == 0)
            CHECK(len <= vmax);
        break;
    case OP_UNSET: rc = spl_unset(s, k); break;
    case OP_INC: {
        int64_t out;
        rc = spl_inc(s, k, &out);
        CHECK(rc != SPL_EAGAIN && rc != SPL_ETIMEDOUT);
        break;
    }
    case OP_ADD:
        rc = spl_add(s, k, (int64_t)arg - 128, NULL);
        CHECK(rc != SPL_EAGAIN && rc != SPL_ETIMEDOUT);
        break;
    case OP_APPEND: rc = spl_append(s, k, g_val, len & 0x3f); break;
    case OP_CAS:
        if (spl_meta_get(s, k, &m) == 0) {
            rc = spl_cas(s, k, m.epoch, g_val, len);
            if (rc == 0)
                CHECK(len <= vmax);
        } else {
            writes = 0;
        }
        break;
    case OP_CAS0: rc = spl_cas(s, k, 0, g_val, len & 0x3f); break;
    case OP_TYPE: rc = spl_type_set(s, k, (spl_type)(arg % 10)); break;
    case OP_FLAGS: rc = spl_flags_set(s, k, (uint8_t)arg); break;
    case OP_LABELS: rc = spl_labels_set(s, k, (uint64_t)arg * 0x0101010101010101ull); break;
    case OP_LABELS_CLEAR: rc = spl_labels_clear(s, k, (uint64_t)arg); break;
    case OP_TOUCH: rc = spl_touch(s, k); break;
    case OP_INT_XOR: {
        uint64_t out;
        if (arg & 0x80) { /* the ones that do not wait, or not long: SPL_EAGAIN allowed */
            rc = arg & 0x40 ? spl_int_wait(s, k, (spl_int_op)(arg % 6), arg, &out, arg & 0x3f)
                            : spl_int_try(s, k, (spl_int_op)(arg % 6), arg, &out);
            CHECK(rc != SPL_ETIMEDOUT);
            break;
        }
        rc = spl_int(s, k, (spl_int_op)(arg % 6), arg, &out); /* 5: invalid op */
        CHECK(rc != SPL_EAGAIN && rc != SPL_ETIMEDOUT);
        break;
    }
    case OP_SET_WAIT:
        /* longer than the library's liveness-check interval: exercises dead-writer recovery */
        rc = spl_set_wait(s, k, g_val, len & 0x3f, 15000);
        break;
    case OP_UNSET_WAIT: rc = spl_unset_wait(s, k, 15000); break;
    case OP_GET:
        writes = 0;
        read_key(f, s, k);
        break;
    case OP_WATCH:
        rc = spl_watch(s, k, (uint64_t)arg << (arg % 57));
        CHECK(rc != 0 || spl_bind(s, arg % 64, 1ull << (arg % 64)) == 0);
        break;
    case OP_BUMP: rc = spl_bump(s, k); break;
    case OP_SIGNAL: rc = spl_signal(s, ~0ull); break;
    case OP_FEED: {
        /* follow groups, write, drain the feed: every event it gives is
         * bounded, whatever the ring and records hold */
        spl_sub *u = NULL;
        writes = 0;
        if (spl_sub_open(s, arg ? (uint64_t)arg * 0x0101010101010101ull : ~0ull, &u) != 0) {
            CHECK(f->rdonly);
            break;
        }
        spl_set(s, k, g_val, len & 0x3f);
        spl_signal(s, ~0ull);
        uint64_t fired = 0;
        rc = spl_sub_wait(u, 0, &fired);
        CHECK(rc == 0 || rc == SPL_ETIMEDOUT);
        char key[4097];
        spl_event ev;
        for (int i = 0; i < 64; i++) {
            rc = spl_sub_next(u, &ev, key, sizeof key);
            if (rc == SPL_ENOENT)
                break;
            if (rc != 0)
                continue;
            CHECK(ev.kind >= SPL_EV_CHANGED && ev.kind <= SPL_EV_UNKNOWN);
            CHECK(ev.slot == SPL_EV_NOSLOT || ev.slot < f->info.geom.slots);
            CHECK(ev.key_len <= f->info.geom.key_max && strlen(key) == ev.key_len);
        }
        spl_sub_close(u);
        CHECK(spl_signal_repair(s) >= 0);
        break;
    }
    case OP_KEY_WAIT: {
        uint64_t e = 0;
        writes = 0;
        rc = spl_key_wait(s, k, ~0ull, 0, &e);
        CHECK(rc == SPL_ETIMEDOUT || rc < 0);
        break;
    }
    case OP_VEC_SET:
        for (uint32_t i = 0; i < f->info.geom.vec_dim; i++)
            g_vec[i] = (float)(arg + i % 3) - 100;
        rc = spl_vec_set(s, k, g_vec, f->info.geom.vec_dim);
        break;
    case OP_VEC_CLEAR: rc = spl_vec_clear(s, k); break;
    }
    if (f->rdonly && writes)
        CHECK(rc != 0);
    f->sink += (uint64_t)rc;
}

static void write_all(fz *f, spl_store *s)
{
    const uint8_t *sc = f->data + SCRIPT_OFF;
    unsigned n = sc[0] % 33u;
    if (n == 0) {
        /* default sequence over known and derived keys */
        static const unsigned seq[][3] = {
            {OP_SET, 0, 10},      {OP_SET, 4, 0x80},   {OP_INC, 10, 0},    {OP_INC, 11, 0},
            {OP_APPEND, 1, 20},   {OP_CAS, 0, 5},      {OP_CAS0, 9, 3},     {OP_TYPE, 2, 7},
            {OP_LABELS, 3, 5},    {OP_LABELS_CLEAR, 3, 1}, {OP_FLAGS, 8, 9}, {OP_TOUCH, 0, 0},
            {OP_UNSET, 1, 0},     {OP_SET, 12, 64},    {OP_SET, 13, 1},     {OP_INC, 15, 0},
            {OP_SET, 16, 33},     {OP_UNSET, 17, 0},   {OP_INC, 18, 0},     {OP_SET, 5, 0x8f},
            {OP_GET, 16, 0},      {OP_VEC_SET, 0, 3},  {OP_VEC_SET, 12, 200}, {OP_VEC_CLEAR, 12, 0},
        };
        for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++)
            do_op(f, s, seq[i][0], f->keys[seq[i][1] % (unsigned)f->nkeys], seq[i][2]);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *o = sc + 1 + 3 * i;
        do_op(f, s, o[0], f->keys[o[1] % (unsigned)f->nkeys], o[2]);
    }
}

/* ---------------------------------------------------------------- entry */

static int make_memfd(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (fchmod(fd, 0600) != 0) { /* memfds are born 0777; stores must not be */
        close(fd);
        return -1;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    /* spl_open_fd refuses a region its sender could shrink (SIGBUS) */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Make every slot owner that names a running process name a dead one (see
 * "Owners" above).  Runs after a successful open: the geometry is valid. */
static int kill_live_owners(int fd, const uint8_t *d, size_t size, uint32_t nslots)
{
    uint64_t slots_off = rd64(d + offsetof(struct spl_header, slots_off));
    uint32_t stride = rd32(d + offsetof(struct spl_header, slot_stride));
    for (uint32_t i = 0; i < nslots; i++) {
        uint64_t off = slots_off + (uint64_t)i * stride + offsetof(struct spl_slot, owner);
        if (off + 8 > size)
            return -1;
        uint64_t owner = rd64(d + off);
        int32_t pid = (int32_t)(owner >> 32);
        if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH))
            continue;
        owner = (0x7ffffff0ull + (uint64_t)(pid & 7)) << 32 | (owner & 0xffffffffu);
        if (pwrite(fd, &owner, 8, (off_t)off) != 8)
            return -1;
    }
    return 0;
}

/* This build's layout fingerprint and feature bits (header bytes 16..31),
 * read from a store it creates. */
static const uint8_t *build_stamp(void)
{
    static uint8_t stamp[16];
    static int done;
    if (done)
        return stamp;
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD;
    o.geom.slots = 2;
    o.geom.key_max = 1;
    o.geom.val_max = 8;
    o.geom.vec_dim = 0;
    spl_store *s = NULL;
    if (spl_create(&s, "fuzz_region_fp", &o) != 0)
        abort();
    if (pread(spl_fd(s), stamp, sizeof stamp, offsetof(struct spl_header, fingerprint)) !=
        (ssize_t)sizeof stamp)
        abort();
    spl_close(s);
    done = 1;
    return stamp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    const uint8_t *stamp = build_stamp();
    int fd = make_memfd(data, size);
    if (fd < 0)
        return 0;
    if (size >= SPL_HEADER_BYTES && !(data[FP_KEEP_OFF] & 1) &&
        pwrite(fd, stamp, 16, offsetof(struct spl_header, fingerprint)) != 16) {
        close(fd);
        return 0;
    }
    fz *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return 0;
    }
    f->data = data;
    f->size = size;

    /* NOWAIT: an image with version 0 would otherwise wait 2 s for a creator */
    spl_store *ro = NULL, *rw = NULL;
    int rc = spl_open_fd(&ro, fd, SPL_O_RDONLY | SPL_O_NOWAIT);
    g_opened += rc == 0;
    if (g_verbose < 0)
        g_verbose = getenv("SPL_FUZZ_VERBOSE") != NULL;
    if (g_verbose)
        fprintf(stderr, "fuzz_region: %zu bytes: open %s\n", size, spl_err_name(rc));
    if (rc == 0) {
        CHECK(size >= SPL_HEADER_BYTES);
        CHECK(spl_info_get(ro, &f->info) == 0);
        CHECK(f->info.read_only);
        CHECK(f->info.region_bytes == size);
        CHECK(f->info.geom.slots >= 2 && (f->info.geom.slots & (f->info.geom.slots - 1)) == 0);
        if (kill_live_owners(fd, data, size, f->info.geom.slots) != 0) {
            spl_close(ro);
            goto out;
        }
        derive_keys(f);
        f->rdonly = 1;
        read_all(f, ro, 1);
        write_all(f, ro); /* every write must fail with SPL_EROFS (or a validation error) */
        f->rdonly = 0;

        rc = spl_open_fd(&rw, fd, SPL_O_NOWAIT);
        CHECK(rc == 0); /* the same image just opened read-only */
        read_all(f, rw, 0);
        write_all(f, rw);
        read_all(f, rw, 0);
        read_all(f, ro, 1); /* the read-only mapping sees the writes */
        spl_close(rw);
        spl_close(ro);
    }
out:
    close(fd);
    volatile uint64_t sink = f->sink;
    (void)sink;
    free(f);
    return 0;
}
