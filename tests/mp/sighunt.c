/*
 * sighunt.c - signals across real processes, hunting lost wake-ups.
 *
 *   sighunt [--writers 2] [--waiters 2] [--pulses 20000] [--kills 40]
 *           [--sync-ms 1000] [--backing memfd|shm|file] [--seed N]
 *
 *   "hunt"  --writers processes pulse group 7 --pulses times each (half by
 *           spl_signal, half by writing a watched key), with random short
 *           pauses, while --waiters processes sleep in spl_signal_wait and
 *           wake in a loop.  Each waiter adds up the counter deltas it was
 *           woken for; it must observe every pulse (sum == writers*pulses,
 *           the counter's total) and may never time out while the counter
 *           had moved past its snapshot (that would be a lost wake-up).
 *           One more waiter follows the key with spl_key_wait and must end
 *           on the key's final epoch.
 *   "kill"  --kills rounds: a writer process rewrites key K in a loop and is
 *           SIGKILLed at a random moment (sometimes inside a write).  After
 *           each kill a waiter process calls spl_key_wait(K, epoch seen
 *           before the round) and must return 0 (moved) or SPL_ENOENT (the
 *           dead writer's slot was recovered and freed) within 1 s, never
 *           hang; a subscriber process following K's group throughout must
 *           keep waking and see the final pulse count.
 * Exit 0 iff every check held.
 */
#include "mp_common.h"

#define GROUP 7
#define MS    (1000ull * 1000)

typedef struct sh_t {
    _Atomic int go;
    _Atomic uint32_t ready;
    _Atomic uint32_t writers_done;
    _Atomic uint64_t observed[16];
    _Atomic uint64_t seen_val[16]; /* counter value each waiter last woke to */
    _Atomic uint32_t nwaiters;
    uint64_t sync_ns; /* how long a sync point waits for every waiter */
    _Atomic uint64_t wakes[16];
    _Atomic uint64_t lost, errors, key_final, key_seen;
    _Atomic uint64_t sub_stop;
} sh_t;

static void wait_go(sh_t *sh)
{
    atomic_fetch_add(&sh->ready, 1);
    while (!atomic_load(&sh->go))
        sched_yield();
}

static int hunt_writer(spl_store *s, sh_t *sh, uint32_t w, uint64_t n, uint64_t seed)
{
    mp_rng r;
    mp_rng_seed(&r, seed, w);
    char key[32];
    snprintf(key, sizeof key, "w%u", w);
    wait_go(sh);
    for (uint64_t i = 0; i < n; i++) {
        int rc;
        if (i & 1) {
            rc = spl_signal(s, 1ull << GROUP);
        } else {
            uint64_t v = i;
            while ((rc = spl_set(s, key, &v, sizeof v)) == SPL_EAGAIN)
                sched_yield();
        }
        if (rc) {
            atomic_fetch_add(&sh->errors, 1);
            MP_FAIL("writer %u: %s", w, spl_err_name(rc));
        }
        uint32_t pause = mp_below(&r, 64);
        if (pause < 8)
            mp_sleep_us(pause * 10); /* let waiters fall asleep */
        else
            for (uint32_t k = 0; k < pause; k++)
                __asm__ __volatile__("" ::: "memory");
        if (mp_below(&r, 8) == 0) {
            /* sync point: every waiter must wake to at least the counter
             * as it is now, promptly; a waiter asleep although the counter
             * moved is a lost wake-up */
            uint64_t target;
            spl_pulses(s, GROUP, &target);
            uint64_t t0 = mp_now_ns();
            for (uint32_t j = 0; j < atomic_load(&sh->nwaiters); j++) {
                while (atomic_load(&sh->seen_val[j]) < target && mp_now_ns() - t0 < sh->sync_ns)
                    sched_yield();
                if (atomic_load(&sh->seen_val[j]) < target) {
                    atomic_fetch_add(&sh->lost, 1);
                    MP_FAIL("writer %u: waiter %u still at %" PRIu64 " %.0f ms after the counter reached %" PRIu64,
                            w, j, (uint64_t)atomic_load(&sh->seen_val[j]), (double)sh->sync_ns / 1e6, target);
                }
            }
        }
    }
    atomic_fetch_add(&sh->writers_done, 1);
    return 0;
}

static int hunt_waiter(spl_store *s, sh_t *sh, uint32_t id, uint64_t total, uint64_t base)
{
    spl_sub *u = NULL;
    if (spl_sub_open(s, 1ull << GROUP, &u) != 0)
        return 1;
    uint64_t cur = base;
    wait_go(sh);
    uint64_t seen = 0;
    while (seen < total) {
        uint64_t before = cur, fired = 0;
        int rc = spl_sub_wait(u, 2000 * MS, &fired);
        if (rc == SPL_ETIMEDOUT) {
            uint64_t now;
            spl_pulses(s, GROUP, &now);
            if (now != before) {
                atomic_fetch_add(&sh->lost, 1);
                MP_FAIL("waiter %u: timed out although the counter moved %" PRIu64 " -> %" PRIu64, id,
                        before, now);
            }
            if (atomic_load(&sh->writers_done) == 0 || now != base + total)
                continue;
            break;
        }
        if (rc != 0) {
            atomic_fetch_add(&sh->errors, 1);
            MP_FAIL("waiter %u: %s", id, spl_err_name(rc));
            return 1;
        }
        /* the wait consumed everything up to at least `now`'s predecessor:
         * account with the counter as the wait left it */
        spl_sub_seen(u, GROUP, &cur);
        seen += cur - before;
        atomic_store(&sh->seen_val[id], cur);
        atomic_fetch_add(&sh->wakes[id], 1);
    }
    atomic_store(&sh->observed[id], seen);
    spl_sub_close(u);
    return 0;
}

static int hunt_key_waiter(spl_store *s, sh_t *sh, uint32_t nwriters)
{
    uint64_t e = 0;
    uint32_t idx;
    (void)idx;
    spl_meta m;
    if (spl_meta_get(s, "w0", &m) == 0)
        e = m.epoch;
    wait_go(sh);
    for (;;) {
        uint64_t ne = 0;
        int rc = spl_key_wait(s, "w0", e, 500 * MS, &ne);
        if (rc == 0) {
            e = ne;
            continue;
        }
        if (rc == SPL_ETIMEDOUT && atomic_load(&sh->writers_done) == nwriters)
            break;
        if (rc != SPL_ETIMEDOUT) {
            atomic_fetch_add(&sh->errors, 1);
            MP_FAIL("key waiter: %s", spl_err_name(rc));
            return 1;
        }
    }
    atomic_store(&sh->key_seen, e);
    return 0;
}

static int run_hunt(mp_store *ms, uint64_t writers, uint64_t waiters, uint64_t pulses, uint64_t seed,
                    uint64_t sync_ms)
{
    spl_store *s = ms->s;
    for (uint32_t w = 0; w < writers; w++) {
        char key[32];
        snprintf(key, sizeof key, "w%u", w);
        uint64_t z = 0;
        spl_set(s, key, &z, sizeof z);
        spl_watch(s, key, 1ull << GROUP);
    }
    sh_t *sh = mp_shared_alloc(sizeof *sh);
    uint64_t base;
    spl_pulses(s, GROUP, &base);
    atomic_store(&sh->nwaiters, (uint32_t)waiters);
    sh->sync_ns = sync_ms * MS;
    for (uint32_t j = 0; j < waiters; j++)
        atomic_store(&sh->seen_val[j], base);
    uint64_t total = writers * pulses;
    uint32_t n = (uint32_t)(writers + waiters + 1);
    pid_t pids[40];
    fflush(stdout);
    for (uint32_t i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            MP_DIE("fork");
        if (pid == 0) {
            spl_store *c = mp_store_child(ms);
            int rc = i < writers             ? hunt_writer(c, sh, i, pulses, seed)
                     : i < writers + waiters ? hunt_waiter(c, sh, (uint32_t)(i - writers), total, base)
                                             : hunt_key_waiter(c, sh, (uint32_t)writers);
            mp_store_child_close(ms, c);
            _exit(rc);
        }
        pids[i] = pid;
    }
    while (atomic_load(&sh->ready) < n)
        mp_sleep_us(100);
    uint64_t t0 = mp_now_ns();
    atomic_store(&sh->go, 1);
    int fails = mp_wait_all(pids, n, "hunt child");
    double secs = (double)(mp_now_ns() - t0) / 1e9;
    uint64_t end;
    spl_pulses(s, GROUP, &end);
    if (end - base != total) {
        fails++;
        MP_FAIL("group counter moved %" PRIu64 ", expected %" PRIu64, end - base, total);
    }
    uint64_t wakes = 0;
    for (uint32_t w = 0; w < waiters; w++) {
        uint64_t o = atomic_load(&sh->observed[w]);
        wakes += atomic_load(&sh->wakes[w]);
        if (o != total) {
            fails++;
            MP_FAIL("waiter %u observed %" PRIu64 " pulses of %" PRIu64, w, o, total);
        }
    }
    spl_meta m;
    spl_meta_get(s, "w0", &m);
    if (atomic_load(&sh->key_seen) != m.epoch) {
        fails++;
        MP_FAIL("key waiter ended on epoch %" PRIu64 ", the key is at %" PRIu64,
                (uint64_t)atomic_load(&sh->key_seen), m.epoch);
    }
    fails += (int)(atomic_load(&sh->lost) + atomic_load(&sh->errors));
    printf("hunt: %" PRIu64 " pulses, %" PRIu64 " waiters each observed all of them in %" PRIu64
           " wake-ups, %" PRIu64 " lost, %.2f s\n",
           total, waiters, wakes, (uint64_t)atomic_load(&sh->lost), secs);
    int swept = spl_signal_repair(s);
    if (swept != 0) {
        fails++;
        MP_FAIL("%d waiter records left behind", swept);
    }
    mp_shared_free(sh, sizeof *sh);
    return fails;
}

/* ------------------------------------------------------------------ kill */

static int kill_subscriber(spl_store *s, sh_t *sh)
{
    spl_sub *u = NULL;
    if (spl_sub_open(s, 1ull << GROUP, &u) != 0)
        return 1;
    wait_go(sh);
    uint64_t wakes = 0;
    while (!atomic_load(&sh->sub_stop)) {
        uint64_t fired;
        int rc = spl_sub_wait(u, 200 * MS, &fired);
        if (rc == 0)
            wakes++;
        else if (rc != SPL_ETIMEDOUT)
            return 1;
    }
    atomic_store(&sh->wakes[0], wakes);
    spl_sub_close(u);
    return 0;
}

static int run_kill(mp_store *ms, uint64_t kills, uint64_t seed)
{
    spl_store *s = ms->s;
    uint64_t z = 0;
    spl_set(s, "K", &z, sizeof z);
    spl_watch(s, "K", 1ull << GROUP);
    sh_t *sh = mp_shared_alloc(sizeof *sh);
    mp_rng r;
    mp_rng_seed(&r, seed, 99);
    fflush(stdout);
    pid_t sub = fork();
    if (sub == 0) {
        spl_store *c = mp_store_child(ms);
        int rc = kill_subscriber(c, sh);
        mp_store_child_close(ms, c);
        _exit(rc);
    }
    while (atomic_load(&sh->ready) < 1)
        mp_sleep_us(100);
    atomic_store(&sh->go, 1);
    int fails = 0;
    uint64_t enoent = 0, worst = 0;
    spl_info in0, in1;
    spl_info_get(s, &in0);
    for (uint64_t k = 0; k < kills; k++) {
        spl_meta m;
        uint64_t e0 = 0;
        if (spl_meta_get(s, "K", &m) == 0)
            e0 = m.epoch;
        atomic_store(&sh->key_final, 0);
        pid_t w = fork();
        if (w == 0) {
            spl_store *c = mp_store_child(ms);
            for (uint64_t i = 1;; i++) {
                if (spl_set(c, "K", &i, sizeof i) == 0)
                    atomic_store(&sh->key_final, i);
            }
        }
        while (atomic_load(&sh->key_final) == 0)
            sched_yield();
        mp_sleep_us(mp_below(&r, 300));
        kill(w, SIGKILL);
        waitpid(w, NULL, 0);
        pid_t wt = fork();
        if (wt == 0) {
            spl_store *c = mp_store_child(ms);
            uint64_t t0 = mp_now_ns(), e = 0;
            int rc = spl_key_wait(c, "K", e0, 5000 * MS, &e);
            uint64_t dt = mp_now_ns() - t0;
            atomic_store(&sh->key_seen, dt);
            _exit(rc == 0 ? 0 : rc == SPL_ENOENT ? 3 : 1);
        }
        int st = 0;
        waitpid(wt, &st, 0);
        uint64_t dt = atomic_load(&sh->key_seen);
        worst = dt > worst ? dt : worst;
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (code == 3) {
            enoent++;
            uint64_t v = 0;
            spl_set(s, "K", &v, sizeof v); /* recovered and freed: put it back */
            spl_watch(s, "K", 1ull << GROUP);
        } else if (code != 0 || dt > 1000 * MS) {
            fails++;
            MP_FAIL("round %" PRIu64 ": key waiter exit %d after %.1f ms", k, code, (double)dt / 1e6);
        }
    }
    /* the subscriber is still alive and still hears K */
    uint64_t before = 0;
    mp_sleep_us(300 * 1000);
    atomic_store(&sh->sub_stop, 1);
    int st = 0;
    waitpid(sub, &st, 0);
    before = atomic_load(&sh->wakes[0]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || before == 0) {
        fails++;
        MP_FAIL("subscriber: status 0x%x, %" PRIu64 " wake-ups", st, before);
    }
    spl_info_get(s, &in1);
    printf("kill: %" PRIu64 " writers killed (%" PRIu64 " slots recovered from a dead writer, %" PRIu64
           " of them freed under a waiter); key waiter worst %.2f ms; subscriber woke %" PRIu64 " times\n",
           kills, in1.recoveries - in0.recoveries, enoent, (double)worst / 1e6, before);
    mp_shared_free(sh, sizeof *sh);
    return fails;
}

int main(int argc, char **argv)
{
    uint64_t writers = 2, waiters = 2, pulses = 20000, kills = 40, sync_ms = 1000;
    uint64_t seed = mp_time_seed();
    const char *backing = "memfd";
    const mp_opt opts[] = {{"--writers", &writers}, {"--waiters", &waiters}, {"--pulses", &pulses},
                           {"--kills", &kills},     {"--seed", &seed},       {"--backing", .s = &backing},
                           {"--sync-ms", &sync_ms}, {NULL}};
    if (!mp_parse_args(argc, argv, opts,
                       "[--writers N] [--waiters N] [--pulses N] [--kills N] [--sync-ms N] [--backing B] [--seed N]"))
        return 2;
    if (writers < 1 || writers > 16 || waiters < 1 || waiters > 16 || pulses < 1)
        MP_DIE("bad sizes");
    printf("sighunt: seed %" PRIu64 " writers %" PRIu64 " waiters %" PRIu64 " pulses %" PRIu64
           " kills %" PRIu64 " backing %s\n",
           seed, writers, waiters, pulses, kills, backing);
    mp_store m;
    mp_store_create(&m, mp_backing_parse(backing), "sighunt", 64, 16, 64);
    int fails = run_hunt(&m, writers, waiters, pulses, seed, sync_ms);
    if (kills)
        fails += run_kill(&m, kills, seed);
    mp_store_destroy(&m);
    printf("sighunt: %s\n", fails ? "FAILED" : "ok");
    return fails ? 1 : 0;
}
