/*
 * stress.c - forked processes mixing set, get, unset, append and add on one
 * small store whose keys overlap in their probe chains.
 *
 *   stress [--procs 8] [--ops 400000] [--keys 100] [--collide 16]
 *          [--slots 256] [--val-max 1024] [--backing memfd|shm|file]
 *          [--seed N]
 *
 * The first --collide keys share one home bucket (found by probing the
 * fresh store), the rest land anywhere in a store loaded to keys/slots.
 * Every process does --ops completed operations (SPL_EAGAIN is retried and
 * counted).  The workload and what every read checks are in mp_work.h.
 *
 * At the end: spl_foreach sees each key at most once, every entry's value
 * checks, spl_get and spl_exists agree with foreach, every OWNED key holds
 * exactly its owner's last recorded write, every COUNTER key the sum of all
 * deltas, spl_info's used count equals the foreach count, and no slot was
 * "recovered" (nobody died, so a recovery would have taken a live writer's
 * slot).
 * Exit 0 iff all of that held and no process saw a bad read.
 */
#include "mp_work.h"

int main(int argc, char **argv)
{
    uint64_t procs = 8, ops = 400000, nkeys = 100, collide = 16, slots = 256, val_max = 1024;
    uint64_t seed = mp_time_seed();
    const char *backing = "memfd";
    const mp_opt opts[] = {
        {"--procs", &procs}, {"--ops", &ops}, {"--keys", &nkeys}, {"--collide", &collide},
        {"--slots", &slots}, {"--val-max", &val_max}, {"--seed", &seed},
        {"--backing", .s = &backing}, {NULL}};
    if (!mp_parse_args(argc, argv, opts,
                       "[--procs N] [--ops N] [--keys N] [--collide N] [--slots N] "
                       "[--val-max N] [--backing memfd|shm|file] [--seed N]"))
        return 2;
    if (procs < 1 || procs > MP_WORK_MAXW || nkeys < 4 || nkeys > MP_WORK_MAXKEYS ||
        val_max < 64 || slots < nkeys)
        MP_DIE("bad sizes");
    printf("stress: seed %" PRIu64 " procs %" PRIu64 " ops %" PRIu64 " keys %" PRIu64
           " slots %" PRIu64 " val_max %" PRIu64 " backing %s\n",
           seed, procs, ops, nkeys, slots, val_max, backing);
    fflush(stdout);

    mp_store m;
    mp_store_create(&m, mp_backing_parse(backing), "stress", (uint32_t)slots, MP_KEYLEN - 1,
                    (uint32_t)val_max);
    char(*keys)[MP_KEYLEN] = mp_shared_alloc(nkeys * MP_KEYLEN);
    uint32_t home = 0;
    uint32_t got = mp_make_keys(m.s, keys, (uint32_t)nkeys, (uint32_t)collide, seed, &home);
    printf("stress: %u keys share home slot %u\n", got, home);

    mp_shared *sh = mp_shared_alloc(sizeof *sh);
    sh->nkeys = (uint32_t)nkeys;
    sh->nowners = (uint32_t)procs;
    sh->val_max = (uint32_t)val_max;

    uint64_t t0 = mp_now_ns();
    pid_t *pids = calloc(procs, sizeof *pids);
    fflush(stdout);
    fflush(stderr);
    for (uint32_t p = 0; p < procs; p++) {
        pid_t pid = fork();
        if (pid < 0)
            MP_DIE("fork: %s", strerror(errno));
        if (pid == 0) {
            spl_store *s = mp_store_child(&m);
            mp_worker w = {s, sh, keys, p, MP_R_ALL, ops, seed, 32, (uint32_t)val_max};
            uint64_t f = mp_work(&w);
            mp_store_child_close(&m, s);
            _exit(f ? 1 : 0);
        }
        pids[p] = pid;
    }
    uint64_t fails = (uint64_t)mp_wait_all(pids, (uint32_t)procs, "worker");
    double secs = (double)(mp_now_ns() - t0) / 1e9;

    uint64_t present = 0;
    mp_wstats t;
    spl_info info;
    fails += mp_end_checks(m.s, sh, keys, (uint32_t)procs, &t, &info, &present);

    printf("stress: %s  ops %" PRIu64 " in %.2f s (%.0f ops/s)  sets %" PRIu64 " gets %" PRIu64
           " (hits %" PRIu64 ", owned checks %" PRIu64 ") unsets %" PRIu64 " (hits %" PRIu64
           ") appends %" PRIu64 " adds %" PRIu64 " eagain %" PRIu64 " enoent %" PRIu64
           " e2big %" PRIu64 " efull %" PRIu64 " bad %" PRIu64 " errors %" PRIu64
           " stuck %" PRIu64 " present %" PRIu64 " used %" PRIu64 " recoveries %" PRIu64
           " seed %" PRIu64 "\n",
           fails ? "FAIL" : "ok", t.ops, secs, (double)t.ops / secs, t.sets, t.gets, t.get_hits,
           t.owned_checks, t.unsets, t.unset_hits, t.appends, t.adds, t.eagain, t.enoent, t.e2big,
           t.efull, t.bad, t.errors, t.stuck, present, info.used, info.recoveries, seed);
    mp_store_destroy(&m);
    free(pids);
    return fails ? 1 : 0;
}
