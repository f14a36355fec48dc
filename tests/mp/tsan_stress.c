/*
 * tsan_stress.c - threads on ONE handle (one mapping): writers, readers,
 * deleters, counter incrementers and a scanner, fixed op counts, every value
 * self-checking.  Built with -fsanitize=thread by `make test-tsan` (no
 * suppressions); also part of the ordinary multi-process group.
 *
 *   tsan_stress [--writers 2] [--readers 2] [--deleters 1] [--counters 2]
 *               [--ops 300000] [--scans 1000] [--keys 48] [--collide 8]
 *               [--slots 128] [--val-max 512] [--seed N]
 *
 * Writers set their OWNED keys and SHARED keys and append to APPEND keys;
 * readers get any key; deleters unset APPEND and SHARED keys; counters add
 * to COUNTER keys (see mp_work.h for what each read checks).  The scanner
 * runs spl_foreach with values and checks every value it is given.  At the
 * end the same checks as stress.c, and no slot recoveries (all threads share
 * one owner id and all live).  Zero-copy views are left out on
 * purpose: reading a view's bytes races with writers by design.
 */
#include <pthread.h>

#include "mp_work.h"

typedef struct ts_scanner {
    spl_store *s;
    mp_shared *sh;
    char (*keys)[MP_KEYLEN];
    uint64_t scans, done, entries, bad, errors;
    _Atomic int *stop;
} ts_scanner;

static int ts_scan_cb(const spl_entry *e, void *ud)
{
    ts_scanner *t = (ts_scanner *)ud;
    t->entries++;
    int id = mp_key_lookup(t->keys, t->sh->nkeys, e->key);
    if (id < 0) {
        t->bad++;
        MP_REPORT(t->sh, "scanner: unknown key '%s'", e->key);
        return 0;
    }
    int b = mp_check_any(e->val, e->meta.val_len, (uint32_t)id, NULL);
    if (b) {
        t->bad++;
        MP_REPORT(t->sh, "scanner: %s (len %u): %s check failed", e->key, e->meta.val_len,
                  mp_bad_name(b));
    }
    return 0;
}

static void *ts_scan_main(void *arg)
{
    ts_scanner *t = (ts_scanner *)arg;
    spl_filter f = {NULL, NULL, 0, SPL_F_VALUES};
    for (uint64_t i = 0; i < t->scans; i++) {
        int rc = spl_foreach(t->s, &f, ts_scan_cb, t);
        if (rc != 0 && rc != SPL_EAGAIN) {
            t->errors++;
            MP_REPORT(t->sh, "scanner: spl_foreach: %s", spl_err_name(rc));
        }
        t->done++;
        if (atomic_load(t->stop))
            break;
    }
    return NULL;
}

static void *ts_work_main(void *arg)
{
    mp_worker *w = (mp_worker *)arg;
    (void)mp_work(w);
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t writers = 2, readers = 2, deleters = 1, counters = 2, ops = 300000, scans = 1000;
    uint64_t nkeys = 48, collide = 8, slots = 128, val_max = 512;
    uint64_t seed = mp_time_seed();
    const mp_opt opts[] = {
        {"--writers", &writers}, {"--readers", &readers}, {"--deleters", &deleters},
        {"--counters", &counters}, {"--ops", &ops}, {"--scans", &scans}, {"--keys", &nkeys},
        {"--collide", &collide}, {"--slots", &slots}, {"--val-max", &val_max},
        {"--seed", &seed}, {NULL}};
    if (!mp_parse_args(argc, argv, opts,
                       "[--writers N] [--readers N] [--deleters N] [--counters N] [--ops N] "
                       "[--scans N] [--keys N] [--collide N] [--slots N] [--val-max N] [--seed N]"))
        return 2;
    uint64_t nw = writers + readers + deleters + counters;
    if (writers < 1 || nw > MP_WORK_MAXW || nkeys < 4 || nkeys > MP_WORK_MAXKEYS ||
        val_max < 64 || slots < nkeys)
        MP_DIE("bad sizes");
    printf("tsan_stress: seed %" PRIu64 " writers %" PRIu64 " readers %" PRIu64 " deleters %" PRIu64
           " counters %" PRIu64 " ops %" PRIu64 " scans %" PRIu64 " keys %" PRIu64 " slots %" PRIu64
           "\n",
           seed, writers, readers, deleters, counters, ops, scans, nkeys, slots);

    mp_store m;
    mp_store_create(&m, MP_MEMFD, "tsan", (uint32_t)slots, MP_KEYLEN - 1, (uint32_t)val_max);
    char(*keys)[MP_KEYLEN] = calloc(nkeys, MP_KEYLEN);
    mp_shared *sh = calloc(1, sizeof *sh);
    mp_worker *ws = calloc(nw, sizeof *ws);
    pthread_t *th = calloc(nw + 1, sizeof *th);
    if (!keys || !sh || !ws || !th)
        MP_DIE("calloc");
    uint32_t home = 0;
    uint32_t got = mp_make_keys(m.s, keys, (uint32_t)nkeys, (uint32_t)collide, seed, &home);
    sh->nkeys = (uint32_t)nkeys;
    sh->nowners = (uint32_t)writers;
    sh->val_max = (uint32_t)val_max;

    uint64_t t0 = mp_now_ns();
    for (uint32_t i = 0; i < nw; i++) {
        uint32_t role;
        if (i < writers)
            role = MP_R_SET | MP_R_APPEND;
        else if (i < writers + readers)
            role = MP_R_GET;
        else if (i < writers + readers + deleters)
            role = MP_R_UNSET;
        else
            role = MP_R_ADD;
        ws[i] = (mp_worker){m.s, sh, keys, i, role, ops, seed, 32, (uint32_t)val_max};
        if (pthread_create(&th[i], NULL, ts_work_main, &ws[i]) != 0)
            MP_DIE("pthread_create");
    }
    _Atomic int stop = 0;
    ts_scanner sc = {m.s, sh, keys, scans, 0, 0, 0, 0, &stop};
    if (scans && pthread_create(&th[nw], NULL, ts_scan_main, &sc) != 0)
        MP_DIE("pthread_create");
    for (uint32_t i = 0; i < nw; i++)
        pthread_join(th[i], NULL);
    atomic_store(&stop, 1);
    if (scans)
        pthread_join(th[nw], NULL);
    double secs = (double)(mp_now_ns() - t0) / 1e9;

    uint64_t present = 0;
    mp_wstats t;
    spl_info info;
    uint64_t fails = mp_end_checks(m.s, sh, keys, (uint32_t)nw, &t, &info, &present);
    fails += sc.bad + sc.errors;
    printf("tsan_stress: %s  ops %" PRIu64 " in %.2f s  sets %" PRIu64 " gets %" PRIu64
           " (hits %" PRIu64 ") unsets %" PRIu64 " (hits %" PRIu64 ") appends %" PRIu64
           " adds %" PRIu64 " eagain %" PRIu64 " e2big %" PRIu64 " efull %" PRIu64
           " scans %" PRIu64 " (%" PRIu64 " entries)  bad %" PRIu64 " errors %" PRIu64
           " stuck %" PRIu64 " present %" PRIu64 " used %" PRIu64 " collide %u seed %" PRIu64 "\n",
           fails ? "FAIL" : "ok", t.ops, secs, t.sets, t.gets, t.get_hits, t.unsets, t.unset_hits,
           t.appends, t.adds, t.eagain, t.e2big, t.efull, sc.done, sc.entries, t.bad + sc.bad,
           t.errors + sc.errors, t.stuck, present, info.used, got, seed);
    mp_store_destroy(&m);
    free(keys);
    free(sh);
    free(ws);
    free(th);
    return fails ? 1 : 0;
}
