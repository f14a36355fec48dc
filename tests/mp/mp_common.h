/*
 * mp_common.h - helpers shared by the multi-process and concurrency tests.
 *
 * Header-only (static inline) because the Makefile builds every
 * tests/mp/X.c into its own program.  Nothing here is part of the library.
 *
 *   - time, a seeded splitmix64 generator, a 64-bit checksum;
 *   - self-checking values: a 32-byte header (magic, key id, writer, total
 *     length, sequence, checksum) followed by a payload derived from the
 *     header, so a torn, foreign or never-written value fails the check;
 *   - append records: 24-byte self-checking records;
 *   - store set-up for the memfd, shm and file backings;
 *   - shared (MAP_SHARED) memory, argv parsing, EAGAIN retry with a bound;
 *   - key sets whose keys share one home bucket (found by probing the store).
 *
 * Note: the Makefile does not list this header as a dependency; after editing
 * it, remove build/tests/ (or touch the .c files).
 */
#ifndef MP_COMMON_H
#define MP_COMMON_H

#include <splinter.h>

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Exit status of a test that does not apply to this build: tests/run.sh
 * and tests/expect-fail.sh count it as skipped, not passed or failed. */
#define MP_SKIP 77

/* ------------------------------------------------------------------ misc */

static inline uint64_t mp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void mp_sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline uint64_t mp_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct mp_rng {
    uint64_t s;
} mp_rng;

static inline void mp_rng_seed(mp_rng *r, uint64_t seed, uint64_t stream)
{
    r->s = mp_mix64(seed ^ mp_mix64(stream + 0x9e3779b97f4a7c15ull));
}

static inline uint64_t mp_rand(mp_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return mp_mix64(r->s);
}

/* Uniform in [0, n). */
static inline uint32_t mp_below(mp_rng *r, uint32_t n)
{
    return (uint32_t)(((mp_rand(r) >> 32) * (uint64_t)n) >> 32);
}

/* A seed from argv ("--seed N") or from the clock. */
static inline uint64_t mp_time_seed(void)
{
    return mp_mix64(mp_now_ns() ^ ((uint64_t)getpid() << 32));
}

/* 64-bit checksum of a byte range (word-wise multiply-mix; not crypto). */
static inline uint64_t mp_hash(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = (const unsigned char *)p;
    h ^= 0x6a09e667f3bcc909ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
        b += 8;
        n -= 8;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t |= (uint64_t)b[i] << (8 * i);
    h = (h ^ t) * 0xff51afd7ed558ccdull;
    return mp_mix64(h);
}

/* One whole line per write(2), so lines of several processes don't mix. */
__attribute__((format(printf, 2, 3))) static inline void mp_line(const char *pfx, const char *fmt,
                                                                 ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s", pfx);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n += m < 0 ? 0 : m;
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    fflush(stderr);
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
}

#define MP_FAIL(...) mp_line("FAIL: ", __VA_ARGS__)

#define MP_DIE(...)                                                            \
    do {                                                                       \
        mp_line("FATAL: ", __VA_ARGS__);                                       \
        exit(2);                                                               \
    } while (0)

/* Shared anonymous memory, inherited by fork(). */
static inline void *mp_shared_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        MP_DIE("mmap %zu: %s", n, strerror(errno));
    memset(p, 0, n);
    return p;
}

static inline void mp_shared_free(void *p, size_t n)
{
    if (p)
        munmap(p, n);
}

/* ------------------------------------------------------------------ argv */

/* "--name VALUE": if argv[*i] is name, parse the next word into *v. */
static inline int mp_arg_u64(int argc, char **argv, int *i, const char *name, uint64_t *v)
{
    if (strcmp(argv[*i], name) != 0)
        return 0;
    if (*i + 1 >= argc)
        MP_DIE("%s needs a value", name);
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(argv[*i + 1], &end, 0);
    if (errno || !end || *end)
        MP_DIE("%s: bad number '%s'", name, argv[*i + 1]);
    *v = (uint64_t)x;
    *i += 1;
    return 1;
}

static inline int mp_arg_str(int argc, char **argv, int *i, const char *name, const char **v)
{
    if (strcmp(argv[*i], name) != 0)
        return 0;
    if (*i + 1 >= argc)
        MP_DIE("%s needs a value", name);
    *v = argv[*i + 1];
    *i += 1;
    return 1;
}

/* One command-line option: a number (u), a string (s) or a flag without a
 * value (flag, set to 1). */
typedef struct mp_opt {
    const char *name;
    uint64_t *u;
    const char **s;
    int *flag;
} mp_opt;

/* Parses argv[1..] against opts (ended by an entry with a NULL name).  On an
 * unknown argument prints "usage: ARGV0 USAGE" to stderr and returns 0. */
static inline int mp_parse_args(int argc, char **argv, const mp_opt *opts, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        const mp_opt *o = opts;
        for (; o->name; o++) {
            if (o->flag && !strcmp(argv[i], o->name)) {
                *o->flag = 1;
                break;
            }
            if (o->u ? mp_arg_u64(argc, argv, &i, o->name, o->u)
                     : o->s && mp_arg_str(argc, argv, &i, o->name, o->s))
                break;
        }
        if (!o->name) {
            fprintf(stderr, "usage: %s %s\n", argv[0], usage);
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------ values */

#define MP_VMAGIC 0x564c5053u /* "SPLV" */
#define MP_RMAGIC 0x524c5053u /* "SPLR" */

typedef struct mp_vhdr {
    uint32_t magic;
    uint32_t key_id;
    uint32_t writer;
    uint32_t len; /* total bytes, header included */
    uint64_t seq;
    uint64_t sum; /* mp_hash of bytes 0..23 and of the payload */
} mp_vhdr;

_Static_assert(sizeof(mp_vhdr) == 32, "value header is 32 bytes");

enum {
    MP_OK = 0,
    MP_BAD_SHORT = 1, /* shorter than a header */
    MP_BAD_MAGIC = 2,
    MP_BAD_LEN = 3,   /* header length != returned length */
    MP_BAD_KEY = 4,   /* value of another key */
    MP_BAD_SUM = 5,   /* checksum mismatch: torn or garbage */
    MP_BAD_ORDER = 6, /* append records out of order */
};

static inline const char *mp_bad_name(int b)
{
    static const char *const n[] = {"ok", "short", "magic", "length", "key", "checksum", "order"};
    return (b >= 0 && b <= 6) ? n[b] : "?";
}

static inline uint64_t mp_value_sum(const unsigned char *buf, size_t len)
{
    uint64_t h = mp_hash(buf, 24, 0x5eed5eed5eed5eedull);
    return mp_hash(buf + 32, len - 32, h);
}

/* Write a self-checking value of len bytes (len >= 32) into buf. */
static inline void mp_value_make(void *buf, size_t len, uint32_t key_id, uint32_t writer, uint64_t seq)
{
    unsigned char *b = (unsigned char *)buf;
    mp_vhdr h = {MP_VMAGIC, key_id, writer, (uint32_t)len, seq, 0};
    memcpy(b, &h, sizeof h);
    uint64_t st = mp_mix64(((uint64_t)key_id << 40) ^ ((uint64_t)writer << 20) ^ seq ^ len);
    size_t i = 32;
    for (; i + 8 <= len; i += 8) {
        st += 0x9e3779b97f4a7c15ull;
        uint64_t w = mp_mix64(st);
        memcpy(b + i, &w, 8);
    }
    for (; i < len; i++)
        b[i] = (unsigned char)(mp_mix64(st + i) & 0xff);
    h.sum = mp_value_sum(b, len);
    memcpy(b + 24, &h.sum, 8);
}

/* Check a value read back for key_id (UINT32_MAX: any key).  0 or MP_BAD_*. */
static inline int mp_value_check(const void *buf, size_t len, uint32_t key_id, mp_vhdr *out)
{
    const unsigned char *b = (const unsigned char *)buf;
    mp_vhdr h;
    if (len < sizeof h)
        return MP_BAD_SHORT;
    memcpy(&h, b, sizeof h);
    if (out)
        *out = h;
    if (h.magic != MP_VMAGIC)
        return MP_BAD_MAGIC;
    if (h.len != len)
        return MP_BAD_LEN;
    if (mp_value_sum(b, len) != h.sum)
        return MP_BAD_SUM;
    if (key_id != UINT32_MAX && h.key_id != key_id)
        return MP_BAD_KEY;
    return MP_OK;
}

/* Append records: 24 bytes each, self-checking. */
typedef struct mp_rec {
    uint32_t magic;
    uint32_t key_id;
    uint32_t writer;
    uint32_t seq;
    uint64_t sum;
} mp_rec;

_Static_assert(sizeof(mp_rec) == 24, "record is 24 bytes");

static inline void mp_rec_make(mp_rec *r, uint32_t key_id, uint32_t writer, uint32_t seq)
{
    r->magic = MP_RMAGIC;
    r->key_id = key_id;
    r->writer = writer;
    r->seq = seq;
    r->sum = mp_hash(r, 16, 0xa99e4dull);
}

#define MP_MAX_WRITERS 256

/* Check a value made of appended records: each record intact and of this
 * key, and per writer the sequence numbers strictly increasing (appends of
 * one writer land in the order they were made). */
static inline int mp_recs_check(const void *buf, size_t len, uint32_t key_id)
{
    if (len % sizeof(mp_rec) != 0)
        return MP_BAD_LEN;
    uint32_t last[MP_MAX_WRITERS];
    memset(last, 0, sizeof last);
    const unsigned char *b = (const unsigned char *)buf;
    for (size_t off = 0; off < len; off += sizeof(mp_rec)) {
        mp_rec r;
        memcpy(&r, b + off, sizeof r);
        if (r.magic != MP_RMAGIC)
            return MP_BAD_MAGIC;
        if (mp_hash(&r, 16, 0xa99e4dull) != r.sum)
            return MP_BAD_SUM;
        if (r.key_id != key_id)
            return MP_BAD_KEY;
        if (r.writer >= MP_MAX_WRITERS)
            return MP_BAD_SUM;
        if (r.seq <= last[r.writer])
            return MP_BAD_ORDER;
        last[r.writer] = r.seq;
    }
    return MP_OK;
}

/* ------------------------------------------------------------------ stores */

typedef enum mp_backing { MP_MEMFD, MP_SHM, MP_FILE } mp_backing;

static inline mp_backing mp_backing_parse(const char *s)
{
    if (!strcmp(s, "memfd"))
        return MP_MEMFD;
    if (!strcmp(s, "shm"))
        return MP_SHM;
    if (!strcmp(s, "file"))
        return MP_FILE;
    MP_DIE("backing must be memfd, shm or file, not '%s'", s);
}

static inline const char *mp_backing_name(mp_backing b)
{
    return b == MP_MEMFD ? "memfd" : b == MP_SHM ? "shm" : "file";
}

typedef struct mp_store {
    spl_store *s;
    mp_backing backing;
    char name[256]; /* "" for memfd */
    spl_options opt;
} mp_store;

static inline void mp_geom(spl_options *o, mp_backing b, uint32_t slots, uint32_t key_max, uint32_t val_max)
{
    spl_options_init(o);
    o->backing = b == MP_MEMFD ? SPL_BACKING_MEMFD : b == MP_SHM ? SPL_BACKING_SHM : SPL_BACKING_FILE;
    o->geom.slots = slots;
    o->geom.key_max = key_max;
    o->geom.val_max = val_max;
}

/* Create a fresh store; tag names it (shm: "mp-TAG-PID", file: /tmp/...). */
static inline void mp_store_create(mp_store *m, mp_backing b, const char *tag, uint32_t slots,
                                   uint32_t key_max, uint32_t val_max)
{
    memset(m, 0, sizeof *m);
    m->backing = b;
    mp_geom(&m->opt, b, slots, key_max, val_max);
    if (b == MP_SHM)
        snprintf(m->name, sizeof m->name, "mp-%s-%d", tag, (int)getpid());
    else if (b == MP_FILE)
        snprintf(m->name, sizeof m->name, "/tmp/spl-mp-%s-%d", tag, (int)getpid());
    if (b != MP_MEMFD)
        (void)spl_destroy(m->name, &m->opt); /* a leftover from a killed run */
    int rc = spl_create(&m->s, b == MP_MEMFD ? NULL : m->name, &m->opt);
    if (rc != 0)
        MP_DIE("spl_create(%s %s): %s (%d)", mp_backing_name(b), m->name, spl_err_name(rc), rc);
}

/* A handle for a forked child: memfd keeps the inherited one, named
 * backings open their own (what independent processes do). */
static inline spl_store *mp_store_child(mp_store *m)
{
    if (m->backing == MP_MEMFD)
        return m->s;
    spl_store *s = NULL;
    int rc = spl_open(&s, m->name, &m->opt);
    if (rc != 0)
        MP_DIE("child %d: spl_open(%s): %s (%d)", (int)getpid(), m->name, spl_err_name(rc), rc);
    return s;
}

static inline void mp_store_child_close(mp_store *m, spl_store *s)
{
    if (s != m->s)
        spl_close(s);
}

static inline void mp_store_destroy(mp_store *m)
{
    spl_close(m->s);
    m->s = NULL;
    if (m->backing != MP_MEMFD) {
        int rc = spl_destroy(m->name, &m->opt);
        if (rc != 0)
            fprintf(stderr, "warning: spl_destroy(%s): %s\n", m->name, spl_err_name(rc));
    }
}

/* ------------------------------------------------------------------ retry */

/* Bounded retry of SPL_EAGAIN: call with *tries = 0 and *t0 = 0 before the
 * first attempt; returns 1 to retry, 0 when the op has been stuck for
 * limit_ns (the caller reports it). */
static inline int mp_again(unsigned *tries, uint64_t *t0, uint64_t limit_ns)
{
    if (*tries == 0)
        *t0 = mp_now_ns();
    ++*tries;
    if (*tries < 16) {
        /* spin briefly */
    } else if (*tries < 256) {
        sched_yield();
    } else {
        mp_sleep_us(*tries < 1024 ? 10 : 100);
    }
    if ((*tries & 15) == 0 && mp_now_ns() - *t0 > limit_ns)
        return 0;
    return 1;
}

#define MP_STUCK_NS (10ull * 1000000000ull) /* one op retried for 10 s */

/* ------------------------------------------------------------------ keys */

#define MP_KEYLEN 32

/* Fill keys[0..n) with distinct names.  When ncollide > 1, the first
 * ncollide keys share one home bucket of the store s (which must be empty):
 * each candidate is inserted alone, its slot read with spl_meta_get and the
 * key removed again; the largest group of one slot wins.  Returns the size
 * of the colliding group found (1 when ncollide <= 1). */
static inline uint32_t mp_make_keys(spl_store *s, char (*keys)[MP_KEYLEN], uint32_t n,
                                    uint32_t ncollide, uint64_t seed, uint32_t *home_out)
{
    uint32_t tag = (uint32_t)(seed % 100000u);
    uint32_t got = 0;
    if (ncollide > n)
        ncollide = n;
    if (ncollide > 1) {
        spl_info info;
        if (spl_info_get(s, &info) != 0)
            MP_DIE("spl_info_get");
        uint32_t slots = info.geom.slots;
        uint32_t cand = slots * ncollide * 3 + 64;
        uint32_t *slot_of = (uint32_t *)calloc(cand, sizeof *slot_of);
        uint32_t *hits = (uint32_t *)calloc(slots, sizeof *hits);
        if (!slot_of || !hits)
            MP_DIE("calloc");
        uint32_t best = UINT32_MAX, tried = 0;
        for (uint32_t c = 0; c < cand; c++) {
            char k[MP_KEYLEN];
            snprintf(k, sizeof k, "c%u-%u", tag, c);
            slot_of[c] = UINT32_MAX;
            int rc = spl_set(s, k, "x", 1);
            if (rc != 0)
                MP_DIE("calibration spl_set(%s): %s", k, spl_err_name(rc));
            spl_meta m;
            rc = spl_meta_get(s, k, &m);
            if (rc != 0)
                MP_DIE("calibration spl_meta_get(%s): %s", k, spl_err_name(rc));
            rc = spl_unset(s, k);
            if (rc != 0)
                MP_DIE("calibration spl_unset(%s): %s", k, spl_err_name(rc));
            tried = c + 1;
            if (m.slot >= slots)
                MP_DIE("calibration: slot %u out of range", m.slot);
            slot_of[c] = m.slot;
            if (++hits[m.slot] >= ncollide) {
                best = m.slot;
                break;
            }
        }
        if (best == UINT32_MAX) { /* take the largest group */
            uint32_t bh = 0;
            for (uint32_t i = 0; i < slots; i++)
                if (hits[i] > bh) {
                    bh = hits[i];
                    best = i;
                }
        }
        for (uint32_t c = 0; c < tried && got < ncollide; c++)
            if (slot_of[c] == best)
                snprintf(keys[got++], MP_KEYLEN, "c%u-%u", tag, c);
        if (home_out)
            *home_out = best;
        free(slot_of);
        free(hits);
    }
    if (got == 0 && n > 0) {
        snprintf(keys[0], MP_KEYLEN, "k%u-0", tag);
        got = 1;
    }
    uint32_t collided = ncollide > 1 ? got : 1;
    for (uint32_t i = got; i < n; i++)
        snprintf(keys[i], MP_KEYLEN, "k%u-%u", tag, i);
    return collided;
}

static inline int mp_key_lookup(char (*keys)[MP_KEYLEN], uint32_t n, const char *k)
{
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(keys[i], k))
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------------ children */

/* Wait for every pid; returns the number that did not exit 0 (and prints
 * them). */
static inline int mp_wait_all(pid_t *pids, uint32_t n, const char *what)
{
    int bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (pids[i] <= 0)
            continue;
        int st = 0;
        while (waitpid(pids[i], &st, 0) < 0) {
            if (errno != EINTR) {
                MP_FAIL("waitpid %s %u: %s", what, i, strerror(errno));
                bad++;
                break;
            }
        }
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            continue;
        bad++;
        if (WIFSIGNALED(st))
            MP_FAIL("%s %u (pid %d) killed by signal %d", what, i, (int)pids[i], WTERMSIG(st));
        else
            MP_FAIL("%s %u (pid %d) exited %d", what, i, (int)pids[i], WEXITSTATUS(st));
    }
    return bad;
}

#endif /* MP_COMMON_H */
