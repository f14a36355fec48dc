/*
 * killloop.c - writers SIGKILLed at random moments while readers verify a
 * checksum in every value they get.
 *
 *   killloop [--kills 500] [--writers 3] [--readers 2] [--keys 8]
 *            [--slots 64] [--min-len 1024] [--max-len 4096]
 *            [--gap-us 2000] [--reader-kill-pct 10] [--backing shm|memfd|file]
 *            [--seed N] [--max-ms 20000] [--expect-torn]
 *
 * Writers (forked; with a named backing each opens its own handle) write
 * self-checking values of min-len..max-len bytes to a small key set in a
 * tight loop (some unsets too), and now and then insert and remove a key of
 * their own that nobody uses again (a dead insert of it is never retried).
 * Readers read the keys with spl_get, spl_view_get + spl_view_valid and
 * spl_read_with, and check every value they are given; a value that fails its check is a torn read.  The parent
 * sleeps 0..gap-us, SIGKILLs a random writer (or, reader-kill-pct of the
 * time, a reader: readers may recover slots, which is a write), reaps it
 * and forks a replacement, until --kills WRITERS have been killed (reader
 * kills come on top).
 *
 * Then, with everything stopped (the last writers killed too):
 *   - spl_set_wait on every key succeeds within 200 ms and reads back;
 *   - leftover own keys of killed writers, found by spl_foreach (three
 *     passes 20 ms apart, so that slots held by the dead are recovered),
 *     can be unset at once;
 *   - spl_foreach sees every key exactly once and nothing else, and equals
 *     spl_info's used count;
 *   - every key is unset again (used 0, foreach empty), and the store is
 *     filled with fresh keys: every slot when probing covers the whole table
 *     (slots <= 256), else half of them; SPL_EFULL before that, or
 *     SPL_EAGAIN, means a slot a dead writer held was never given back.
 *
 * Exit: 0 all held; 3 torn reads were seen (whatever else); 1 another
 * check failed; 2 set-up error.  --expect-torn (for the broken build) keeps
 * killing past --kills until a torn read is seen or --max-ms passes; the
 * exit codes are the same, tests/expect-fail.sh wants 3.
 */
#include "mp_common.h"
#include "mp_dump.h"

#define KL_MAXKEYS 256
#define KL_MAXPROCS 64
#define KL_SET_WAIT_US 200000u

typedef struct kl_shared {
    _Atomic int stop;
    _Atomic uint64_t reads, torn, enoent, eagain, views, view_stale, withs;
    _Atomic uint64_t writes, unsets, w_eagain, errors, scratch;
    _Atomic uint32_t printed;
    _Atomic uint64_t gen; /* writer generation (writer id in values) */
} kl_shared;

typedef struct kl_ctx {
    mp_store *m;
    kl_shared *sh;
    char (*keys)[MP_KEYLEN];
    uint32_t nkeys, min_len, max_len, val_max;
    uint64_t seed;
} kl_ctx;

#define KL_REPORT(sh, ...)                                                     \
    do {                                                                       \
        if (atomic_fetch_add(&(sh)->printed, 1) < 20)                          \
            MP_FAIL(__VA_ARGS__);                                              \
    } while (0)

static void kl_torn(kl_shared *sh, const char *how, const char *key, uint32_t kid, const void *buf,
                    size_t len, int b)
{
    atomic_fetch_add(&sh->torn, 1);
    mp_vhdr h;
    memset(&h, 0, sizeof h);
    if (len >= sizeof h)
        memcpy(&h, buf, sizeof h);
    KL_REPORT(sh,
              "torn read via %s of %s (id %u): len %zu, %s check failed (hdr magic %#x key %u "
              "writer %u len %u seq %" PRIu64 ")",
              how, key, kid, len, mp_bad_name(b), h.magic, h.key_id, h.writer, h.len, h.seq);
}

/* ------------------------------------------------------------------ writer */

static void kl_writer(kl_ctx *c)
{
    spl_store *s = mp_store_child(c->m);
    uint32_t me = (uint32_t)atomic_fetch_add(&c->sh->gen, 1);
    mp_rng r;
    mp_rng_seed(&r, c->seed, 0x1000000ull + me);
    unsigned char *val = malloc(c->max_len);
    if (!val)
        _exit(2);
    uint64_t seq = 0;
    for (;;) {
        uint32_t k = mp_below(&r, c->nkeys);
        uint32_t x = mp_below(&r, 100);
        if (x < 8) { /* a short-lived key of its own, never used again */
            char sk[MP_KEYLEN];
            snprintf(sk, sizeof sk, "s-%u-%" PRIu64, me, ++seq);
            mp_value_make(val, 64, 0, me, seq);
            int rc = spl_set(s, sk, val, 64);
            if (rc == 0) {
                atomic_fetch_add_explicit(&c->sh->scratch, 1, memory_order_relaxed);
                while ((rc = spl_unset(s, sk)) == SPL_EAGAIN)
                    atomic_fetch_add_explicit(&c->sh->w_eagain, 1, memory_order_relaxed);
            }
            if (rc != 0 && rc != SPL_EAGAIN) {
                atomic_fetch_add(&c->sh->errors, 1);
                KL_REPORT(c->sh, "writer: scratch key %s: %s", sk, spl_err_name(rc));
            }
            continue;
        }
        if (x < 11) {
            int rc = spl_unset(s, c->keys[k]);
            if (rc == 0)
                atomic_fetch_add_explicit(&c->sh->unsets, 1, memory_order_relaxed);
            else if (rc == SPL_EAGAIN)
                atomic_fetch_add_explicit(&c->sh->w_eagain, 1, memory_order_relaxed);
            else if (rc != SPL_ENOENT) {
                atomic_fetch_add(&c->sh->errors, 1);
                KL_REPORT(c->sh, "writer: spl_unset(%s): %s", c->keys[k], spl_err_name(rc));
            }
            continue;
        }
        size_t len = c->min_len + mp_below(&r, c->max_len - c->min_len + 1);
        mp_value_make(val, len, k, me, ++seq);
        int rc = spl_set(s, c->keys[k], val, len);
        if (rc == 0)
            atomic_fetch_add_explicit(&c->sh->writes, 1, memory_order_relaxed);
        else if (rc == SPL_EAGAIN)
            atomic_fetch_add_explicit(&c->sh->w_eagain, 1, memory_order_relaxed);
        else {
            atomic_fetch_add(&c->sh->errors, 1);
            KL_REPORT(c->sh, "writer: spl_set(%s): %s", c->keys[k], spl_err_name(rc));
        }
    }
}

/* ------------------------------------------------------------------ reader */

typedef struct kl_with {
    uint32_t kid;
    int bad;
    size_t len;
    unsigned char *copy;
} kl_with;

static int kl_with_fn(const void *data, size_t len, void *ud)
{
    kl_with *w = (kl_with *)ud;
    w->len = len;
    w->bad = mp_value_check(data, len, w->kid, NULL);
    if (w->bad && w->copy)
        memcpy(w->copy, data, len < 64 ? len : 64);
    return w->bad ? 2 : 1;
}

static int kl_reader(kl_ctx *c, uint32_t rid)
{
    spl_store *s = mp_store_child(c->m);
    kl_shared *sh = c->sh;
    mp_rng r;
    mp_rng_seed(&r, c->seed, 0x2000000ull + rid);
    unsigned char *buf = malloc(c->val_max);
    unsigned char *copy = malloc(c->val_max);
    if (!buf || !copy)
        _exit(2);
    uint64_t n = 0;
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        uint32_t k = mp_below(&r, c->nkeys);
        const char *key = c->keys[k];
        int mode = (int)(n++ % 4);
        if (mode <= 1) { /* spl_get */
            size_t len = 0;
            int rc = spl_get(s, key, buf, c->val_max, &len);
            if (rc == 0) {
                atomic_fetch_add_explicit(&sh->reads, 1, memory_order_relaxed);
                int b = mp_value_check(buf, len, k, NULL);
                if (b)
                    kl_torn(sh, "spl_get", key, k, buf, len, b);
            } else if (rc == SPL_ENOENT) {
                atomic_fetch_add_explicit(&sh->enoent, 1, memory_order_relaxed);
            } else if (rc == SPL_EAGAIN) {
                atomic_fetch_add_explicit(&sh->eagain, 1, memory_order_relaxed);
            } else {
                atomic_fetch_add(&sh->errors, 1);
                KL_REPORT(sh, "reader: spl_get(%s): %s", key, spl_err_name(rc));
            }
        } else if (mode == 2) { /* zero-copy view, validated after the copy */
            spl_view v;
            int rc = spl_view_get(s, key, &v);
            if (rc == 0) {
                size_t len = v.len;
                if (len > c->val_max) {
                    atomic_fetch_add(&sh->errors, 1);
                    KL_REPORT(sh, "reader: view of %s has len %zu > val_max", key, len);
                    continue;
                }
                memcpy(copy, v.data, len);
                rc = spl_view_valid(s, &v);
                if (rc == 0) {
                    atomic_fetch_add_explicit(&sh->views, 1, memory_order_relaxed);
                    atomic_fetch_add_explicit(&sh->reads, 1, memory_order_relaxed);
                    int b = mp_value_check(copy, len, k, NULL);
                    if (b)
                        kl_torn(sh, "spl_view_get", key, k, copy, len, b);
                } else if (rc == SPL_ESTALE) {
                    atomic_fetch_add_explicit(&sh->view_stale, 1, memory_order_relaxed);
                } else {
                    atomic_fetch_add(&sh->errors, 1);
                    KL_REPORT(sh, "reader: spl_view_valid(%s): %s", key, spl_err_name(rc));
                }
            } else if (rc == SPL_ENOENT) {
                atomic_fetch_add_explicit(&sh->enoent, 1, memory_order_relaxed);
            } else if (rc == SPL_EAGAIN) {
                atomic_fetch_add_explicit(&sh->eagain, 1, memory_order_relaxed);
            } else {
                atomic_fetch_add(&sh->errors, 1);
                KL_REPORT(sh, "reader: spl_view_get(%s): %s", key, spl_err_name(rc));
            }
        } else { /* callback in place */
            kl_with w = {k, 0, 0, copy};
            int rc = spl_read_with(s, key, kl_with_fn, &w);
            if (rc == 1 || rc == 2) {
                atomic_fetch_add_explicit(&sh->withs, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&sh->reads, 1, memory_order_relaxed);
                if (rc == 2)
                    kl_torn(sh, "spl_read_with", key, k, copy, w.len < 64 ? w.len : 64, w.bad);
            } else if (rc == SPL_ENOENT) {
                atomic_fetch_add_explicit(&sh->enoent, 1, memory_order_relaxed);
            } else if (rc == SPL_EAGAIN) {
                atomic_fetch_add_explicit(&sh->eagain, 1, memory_order_relaxed);
            } else {
                atomic_fetch_add(&sh->errors, 1);
                KL_REPORT(sh, "reader: spl_read_with(%s): %d %s", key, rc, spl_err_name(rc));
            }
        }
    }
    mp_store_child_close(c->m, s);
    return 0;
}

/* ------------------------------------------------------------------ parent */

static pid_t kl_spawn(kl_ctx *c, int reader, uint32_t rid)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        MP_DIE("fork: %s", strerror(errno));
    if (pid == 0) {
        if (reader)
            _exit(kl_reader(c, rid));
        kl_writer(c);
        _exit(0);
    }
    return pid;
}

static void kl_kill_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
}

typedef struct kl_scan {
    char (*keys)[MP_KEYLEN];
    uint32_t nkeys;
    uint32_t *count;
    uint64_t entries, ghosts;
} kl_scan;

static int kl_scan_cb(const spl_entry *e, void *ud)
{
    kl_scan *sc = (kl_scan *)ud;
    sc->entries++;
    int id = mp_key_lookup(sc->keys, sc->nkeys, e->key);
    if (id < 0)
        sc->ghosts++;
    else
        sc->count[id]++;
    return 0;
}

typedef struct kl_names {
    char (*v)[MP_KEYLEN];
    size_t n, cap;
} kl_names;

static int kl_names_cb(const spl_entry *e, void *ud)
{
    kl_names *l = (kl_names *)ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        void *p = realloc(l->v, cap * MP_KEYLEN);
        if (!p)
            MP_DIE("realloc");
        l->v = p;
        l->cap = cap;
    }
    snprintf(l->v[l->n++], MP_KEYLEN, "%s", e->key);
    return 0;
}

static uint64_t kl_scan_store(spl_store *s, char (*keys)[MP_KEYLEN], uint32_t nkeys,
                              uint32_t *count, uint64_t *ghosts)
{
    kl_scan sc = {keys, nkeys, count, 0, 0};
    memset(count, 0, nkeys * sizeof *count);
    int rc = spl_foreach(s, NULL, kl_scan_cb, &sc);
    if (rc != 0)
        MP_FAIL("spl_foreach: %s", spl_err_name(rc));
    *ghosts = sc.ghosts;
    return sc.entries;
}

int main(int argc, char **argv)
{
    uint64_t kills = 500, nwriters = 3, nreaders = 2, nkeys = 8, slots = 64;
    uint64_t min_len = 1024, max_len = 4096, gap_us = 2000, rkill_pct = 10, max_ms = 20000;
    uint64_t seed = mp_time_seed();
    const char *backing = "shm";
    int expect_torn = 0;
    const mp_opt opts[] = {
        {"--kills", &kills}, {"--writers", &nwriters}, {"--readers", &nreaders},
        {"--keys", &nkeys}, {"--slots", &slots}, {"--min-len", &min_len},
        {"--max-len", &max_len}, {"--gap-us", &gap_us}, {"--reader-kill-pct", &rkill_pct},
        {"--max-ms", &max_ms}, {"--seed", &seed}, {"--backing", .s = &backing},
        {"--expect-torn", .flag = &expect_torn}, {NULL}};
    if (!mp_parse_args(argc, argv, opts,
                       "[--kills N] [--writers N] [--readers N] [--keys N] [--slots N] "
                       "[--min-len B] [--max-len B] [--gap-us US] [--reader-kill-pct P] "
                       "[--backing shm|memfd|file] [--seed N] [--max-ms MS] [--expect-torn]"))
        return 2;
    if (nwriters < 1 || nreaders < 1 || nwriters + nreaders > KL_MAXPROCS || nkeys < 1 ||
        nkeys > KL_MAXKEYS || min_len < 32 || max_len < min_len || slots < 2 * nkeys)
        MP_DIE("bad sizes");
    printf("killloop: seed %" PRIu64 " kills %" PRIu64 " writers %" PRIu64 " readers %" PRIu64
           " keys %" PRIu64 " slots %" PRIu64 " len %" PRIu64 "..%" PRIu64 " backing %s%s\n",
           seed, kills, nwriters, nreaders, nkeys, slots, min_len, max_len, backing,
           expect_torn ? " (expect torn)" : "");

    mp_store m;
    mp_store_create(&m, mp_backing_parse(backing), "kill", (uint32_t)slots, MP_KEYLEN - 1,
                    (uint32_t)max_len);
    char(*keys)[MP_KEYLEN] = mp_shared_alloc(KL_MAXKEYS * MP_KEYLEN);
    (void)mp_make_keys(m.s, keys, (uint32_t)nkeys, 0, seed, NULL);
    kl_shared *sh = mp_shared_alloc(sizeof *sh);
    kl_ctx c = {&m, sh, keys, (uint32_t)nkeys, (uint32_t)min_len, (uint32_t)max_len,
                (uint32_t)max_len, seed};

    pid_t wp[KL_MAXPROCS], rp[KL_MAXPROCS];
    uint32_t rid = 0;
    for (uint32_t i = 0; i < nwriters; i++)
        wp[i] = kl_spawn(&c, 0, 0);
    for (uint32_t i = 0; i < nreaders; i++)
        rp[i] = kl_spawn(&c, 1, rid++);

    mp_rng r;
    mp_rng_seed(&r, seed, 1);
    uint64_t t0 = mp_now_ns(), done = 0, wkills = 0, rkills = 0;
    for (;;) {
        if (wkills >= kills) { /* --kills counts writer kills; reader kills come on top */
            if (!expect_torn || atomic_load(&sh->torn) > 0)
                break;
        }
        if ((mp_now_ns() - t0) / 1000000u > max_ms)
            break;
        mp_sleep_us(mp_below(&r, (uint32_t)gap_us + 1));
        if (mp_below(&r, 100) < rkill_pct) {
            uint32_t i = mp_below(&r, (uint32_t)nreaders);
            kl_kill_reap(rp[i]);
            rp[i] = kl_spawn(&c, 1, rid++);
            rkills++;
        } else {
            uint32_t i = mp_below(&r, (uint32_t)nwriters);
            kl_kill_reap(wp[i]);
            wp[i] = kl_spawn(&c, 0, 0);
            wkills++;
        }
        done++;
    }
    /* stop: the last writers die mid-flight too; readers end by themselves */
    for (uint32_t i = 0; i < nwriters; i++)
        kl_kill_reap(wp[i]);
    atomic_store(&sh->stop, 1);
    uint64_t fails = (uint64_t)mp_wait_all(rp, (uint32_t)nreaders, "reader");
    double run_s = (double)(mp_now_ns() - t0) / 1e9;

    /* ---- recovery: every key writable again within the bound */
    uint64_t worst_ns = 0, slow = 0;
    int rc;
    unsigned char *val = malloc(max_len), *buf = malloc(max_len);
    uint32_t *count = calloc(slots, sizeof *count);
    if (!val || !buf || !count)
        MP_DIE("malloc");
    for (uint32_t k = 0; k < nkeys; k++) {
        size_t len = min_len;
        mp_value_make(val, len, k, 0xffffu, 1);
        uint64_t a = mp_now_ns();
        rc = spl_set_wait(m.s, keys[k], val, len, KL_SET_WAIT_US);
        uint64_t dt = mp_now_ns() - a;
        if (dt > worst_ns)
            worst_ns = dt;
        if (rc != 0) {
            slow++;
            MP_FAIL("recovery: spl_set_wait(%s) after %.1f ms: %s", keys[k], (double)dt / 1e6,
                    spl_err_name(rc));
            continue;
        }
        size_t got = 0;
        rc = spl_get(m.s, keys[k], buf, max_len, &got);
        if (rc != 0 || got != len || memcmp(buf, val, len) != 0) {
            fails++;
            MP_FAIL("recovery: read back %s: %s len %zu", keys[k], spl_err_name(rc), got);
        }
    }
    fails += slow;
    if (slow)
        mp_dump_store(m.s, "keys not writable after the kills");
    /* Own keys of writers killed between their set and unset may remain.
     * Scan three times, 20 ms apart: a scan meets every slot, so one that a
     * dead writer held is recovered by a later one (liveness checks are
     * rate-limited to one per ms per thread); unset what the scans list.  */
    kl_names left = {NULL, 0, 0};
    spl_filter sf = {"s-", NULL, 0, 0};
    for (int pass = 0; pass < 3; pass++) {
        if (pass)
            mp_sleep_us(20000);
        left.n = 0;
        rc = spl_foreach(m.s, &sf, kl_names_cb, &left);
        if (rc != 0) {
            fails++;
            MP_FAIL("spl_foreach(prefix s-): %s", spl_err_name(rc));
        }
    }
    for (size_t i = 0; i < left.n; i++) {
        rc = spl_unset_wait(m.s, left.v[i], KL_SET_WAIT_US);
        if (rc != 0) {
            fails++;
            MP_FAIL("spl_unset_wait(%s) (own key of a killed writer): %s", left.v[i],
                    spl_err_name(rc));
        }
    }
    uint64_t leftover = left.n;
    free(left.v);
    uint64_t ghosts = 0;
    uint64_t seen = kl_scan_store(m.s, keys, (uint32_t)nkeys, count, &ghosts);
    spl_info info;
    rc = spl_info_get(m.s, &info);
    if (rc != 0)
        MP_DIE("spl_info_get: %s", spl_err_name(rc));
    for (uint32_t k = 0; k < nkeys; k++)
        if (count[k] != 1) {
            fails++;
            MP_FAIL("after recovery: key %s seen %u times by spl_foreach", keys[k], count[k]);
        }
    if (ghosts || seen != nkeys || info.used != seen) {
        fails++;
        MP_FAIL("after recovery: foreach saw %" PRIu64 " entries (%" PRIu64
                " unknown), %" PRIu64 " keys, used %" PRIu64,
                seen, ghosts, nkeys, info.used);
    }
    uint64_t recoveries = info.recoveries;

    /* ---- empty it, then fill half of the store: no slot may still be held */
    for (uint32_t k = 0; k < nkeys; k++) {
        rc = spl_unset_wait(m.s, keys[k], KL_SET_WAIT_US);
        if (rc != 0) {
            fails++;
            MP_FAIL("spl_unset_wait(%s): %s", keys[k], spl_err_name(rc));
        }
    }
    seen = kl_scan_store(m.s, keys, (uint32_t)nkeys, count, &ghosts);
    (void)spl_info_get(m.s, &info);
    if (seen != 0 || info.used != 0) {
        fails++;
        MP_FAIL("after unsetting all: foreach %" PRIu64 " entries, used %" PRIu64, seen,
                info.used);
    }
    /* with probing over the whole table every slot must take a fresh key:
     * a slot a dead writer left behind shows up as SPL_EFULL */
    int whole = info.probe_max + 1 >= info.geom.slots;
    uint32_t fill = whole ? info.geom.slots : info.geom.slots / 2, filled = 0, full = 0;
    for (uint32_t i = 0; i < fill; i++) {
        char k[MP_KEYLEN];
        snprintf(k, sizeof k, "fill-%u", i);
        rc = spl_set_wait(m.s, k, "v", 1, KL_SET_WAIT_US);
        if (rc == 0)
            filled++;
        else if (rc == SPL_EFULL)
            full++;
        else {
            fails++;
            MP_FAIL("fill: spl_set_wait(%s): %s", k, spl_err_name(rc));
        }
    }
    (void)spl_info_get(m.s, &info);
    seen = kl_scan_store(m.s, keys, (uint32_t)nkeys, count, &ghosts);
    if (info.used != filled || seen != filled) {
        fails++;
        MP_FAIL("fill: %u set, used %" PRIu64 ", foreach %" PRIu64, filled, info.used, seen);
    }
    if (whole ? full > 0 : full > fill / 8) { /* at 50% load a few EFULL are possible */
        fails++;
        MP_FAIL("fill: %u of %u fresh keys got SPL_EFULL (probe_max %u, slots %u): slots leaked",
                full, fill, info.probe_max, info.geom.slots);
        mp_dump_store(m.s, "fill failed");
    }
    if (info.recoveries > recoveries)
        recoveries = info.recoveries;

    uint64_t torn = atomic_load(&sh->torn), errors = atomic_load(&sh->errors);
    fails += errors;
    printf("killloop: %s  kills %" PRIu64 " (writers %" PRIu64 ", readers %" PRIu64
           ") in %.2f s  reads %" PRIu64 " (views %" PRIu64 ", read_with %" PRIu64
           ") torn %" PRIu64 " enoent %" PRIu64 " eagain %" PRIu64 " view_stale %" PRIu64
           "  writes %" PRIu64 " unsets %" PRIu64 " own keys %" PRIu64 " w_eagain %" PRIu64
           " errors %" PRIu64
           " own keys left %" PRIu64 "  recoveries %" PRIu64 " worst set_wait %.2f ms, fill %u/%u (efull %u)  seed %" PRIu64
           "\n",
           torn ? "TORN" : fails ? "FAIL" : "ok", done, wkills, rkills, run_s,
           atomic_load(&sh->reads), atomic_load(&sh->views), atomic_load(&sh->withs), torn,
           atomic_load(&sh->enoent), atomic_load(&sh->eagain), atomic_load(&sh->view_stale),
           atomic_load(&sh->writes), atomic_load(&sh->unsets), atomic_load(&sh->scratch),
           atomic_load(&sh->w_eagain), errors, leftover,
           recoveries, (double)worst_ns / 1e6, filled, fill, full, seed);
    mp_store_destroy(&m);
    free(val);
    free(buf);
    free(count);
    if (torn)
        return 3;
    return fails ? 1 : 0;
}
