/*
 * createrace.c - processes racing to create and open one named store, and
 * creators killed in the middle of spl_create.
 *
 *   createrace [--procs 8] [--rounds 10] [--kill-loops 200] [--kill-us US]
 *              [--bound-ms 1000] [--backing shm|file] [--seed N]
 *
 * Per round, on a fresh name each time (N processes released together):
 *   A  spl_open_or_create, one geometry: all succeed and share one store
 *      (each writes its key, then every one reads every other's);
 *   B  spl_create: exactly one succeeds, the rest get SPL_EEXIST;
 *   C  spl_open_or_create, half with geometry G1 and half with G2: at least
 *      one succeeds; all successes see one geometry; every process asking for
 *      the winning geometry succeeds and every other gets SPL_EGEOMETRY;
 *   D  the store exists with G1: spl_open_or_create with G2 gets
 *      SPL_EGEOMETRY in every process, spl_open succeeds in every process.
 * Then --kill-loops times: a child runs spl_create on a fresh name and is
 * SIGKILLed 0..kill-us microseconds after it enters spl_create (default:
 * 1.5 x one measured spl_create, within 20..500 us); then the parent must succeed,
 * at the first call, with spl_open_or_create (even loops) or with spl_destroy
 * + spl_create (odd loops), taking less than --bound-ms, and the store it
 * gets must work.  At the end no
 * name of this run may be left in the store directory.
 * Exit 0 iff all held.
 */
#include "mp_common.h"

#include <dirent.h>

#define CR_MAXP 64

typedef struct cr_shared {
    _Atomic uint32_t ready, go, phase;
    int rc[CR_MAXP];
    uint32_t slots[CR_MAXP];
    _Atomic uint64_t mismatches;
} cr_shared;

static mp_backing g_backing;
static uint64_t g_procs;

static void cr_opts(spl_options *o, uint32_t slots)
{
    mp_geom(o, g_backing, slots, 32, 256);
}

static void cr_name(char *buf, size_t cap, const char *what, uint64_t round)
{
    if (g_backing == MP_FILE)
        snprintf(buf, cap, "/tmp/spl-cr-%d-%s-%" PRIu64, (int)getpid(), what, round);
    else
        snprintf(buf, cap, "cr-%d-%s-%" PRIu64, (int)getpid(), what, round);
}

static void cr_barrier(cr_shared *sh)
{
    atomic_fetch_add(&sh->ready, 1);
    while (!atomic_load(&sh->go))
        sched_yield();
}

enum { CR_A, CR_B, CR_C, CR_D };

static int cr_child(cr_shared *sh, int kind, uint32_t i, const char *name)
{
    spl_options o;
    spl_store *s = NULL;
    uint32_t want = (kind == CR_C && (i & 1)) || kind == CR_D ? 128 : 64;
    cr_opts(&o, want);
    cr_barrier(sh);
    int rc;
    if (kind == CR_B)
        rc = spl_create(&s, name, &o);
    else
        rc = spl_open_or_create(&s, name, &o);
    sh->rc[i] = rc;
    if (rc == 0) {
        spl_info info;
        if (spl_info_get(s, &info) == 0)
            sh->slots[i] = info.geom.slots;
    }
    if (kind == CR_D) {
        spl_store *s2 = NULL;
        int rc2 = spl_open(&s2, name, NULL);
        if (rc2 != 0) {
            MP_FAIL("D: proc %u: spl_open(%s): %s", i, name, spl_err_name(rc2));
            atomic_fetch_add(&sh->mismatches, 1);
        }
        spl_close(s2);
    }
    if (kind == CR_A && rc == 0) {
        char k[16];
        snprintf(k, sizeof k, "p%u", i);
        int r2 = spl_set_wait(s, k, &i, sizeof i, 1000000);
        if (r2 != 0) {
            MP_FAIL("A: proc %u: spl_set_wait: %s", i, spl_err_name(r2));
            atomic_fetch_add(&sh->mismatches, 1);
        }
    }
    /* everyone has written (or failed) before anyone reads */
    atomic_fetch_add(&sh->phase, 1);
    while (atomic_load(&sh->phase) < g_procs)
        sched_yield();
    if (kind == CR_A && rc == 0) {
        for (uint32_t j = 0; j < g_procs; j++) {
            if (sh->rc[j] != 0)
                continue;
            char k[16];
            uint32_t v = UINT32_MAX;
            size_t len = 0;
            snprintf(k, sizeof k, "p%u", j);
            int r2 = spl_get_wait(s, k, &v, sizeof v, &len, 1000000);
            if (r2 != 0 || len != sizeof v || v != j) {
                MP_FAIL("A: proc %u reads %s: %s len %zu value %u (not one shared store)", i, k,
                        spl_err_name(r2), len, v);
                atomic_fetch_add(&sh->mismatches, 1);
            }
        }
    }
    spl_close(s);
    return 0;
}

/* One race of g_procs processes; returns failures. */
static uint64_t cr_race(int kind, uint64_t round, uint64_t *created)
{
    cr_shared *sh = mp_shared_alloc(sizeof *sh);
    static const char *const what[] = {"A", "B", "C", "D"};
    char name[256];
    cr_name(name, sizeof name, what[kind], round);
    spl_options o;
    cr_opts(&o, 64);
    (void)spl_destroy(name, &o);
    if (kind == CR_D) {
        spl_store *s = NULL;
        int rc = spl_create(&s, name, &o);
        if (rc != 0)
            MP_DIE("D: spl_create: %s", spl_err_name(rc));
        spl_close(s);
    }
    pid_t pids[CR_MAXP];
    fflush(stdout);
    fflush(stderr);
    for (uint32_t i = 0; i < g_procs; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            MP_DIE("fork: %s", strerror(errno));
        if (pids[i] == 0)
            _exit(cr_child(sh, kind, i, name));
    }
    while (atomic_load(&sh->ready) < g_procs)
        sched_yield();
    atomic_store(&sh->go, 1);
    uint64_t fails = (uint64_t)mp_wait_all(pids, (uint32_t)g_procs, "racer");
    fails += atomic_load(&sh->mismatches);

    uint32_t ok = 0, eexist = 0, egeom = 0, other = 0, win_slots = 0;
    for (uint32_t i = 0; i < g_procs; i++) {
        int rc = sh->rc[i];
        if (rc == 0) {
            ok++;
            if (win_slots == 0)
                win_slots = sh->slots[i];
            else if (sh->slots[i] != win_slots) {
                fails++;
                MP_FAIL("%s round %" PRIu64 ": successes see %u and %u slots", what[kind], round,
                        win_slots, sh->slots[i]);
            }
        } else if (rc == SPL_EEXIST) {
            eexist++;
        } else if (rc == SPL_EGEOMETRY) {
            egeom++;
        } else {
            other++;
            MP_FAIL("%s round %" PRIu64 ": proc %u got %s (%d)", what[kind], round, i,
                    spl_err_name(rc), rc);
        }
    }
    fails += other;
    switch (kind) {
    case CR_A:
        if (ok != g_procs) {
            fails++;
            MP_FAIL("A round %" PRIu64 ": %u of %" PRIu64 " open_or_create succeeded", round, ok,
                    g_procs);
        }
        break;
    case CR_B:
        if (ok != 1 || eexist != g_procs - 1) {
            fails++;
            MP_FAIL("B round %" PRIu64 ": spl_create race: %u succeeded, %u SPL_EEXIST", round,
                    ok, eexist);
        }
        *created += ok;
        break;
    case CR_C:
        if (ok < 1) {
            fails++;
            MP_FAIL("C round %" PRIu64 ": nobody succeeded", round);
        }
        for (uint32_t i = 0; i < g_procs; i++) {
            uint32_t want = (i & 1) ? 128 : 64;
            int expect = want == win_slots ? 0 : SPL_EGEOMETRY;
            if (ok && sh->rc[i] != expect) {
                fails++;
                MP_FAIL("C round %" PRIu64 ": proc %u asked for %u slots (store has %u): got %s",
                        round, i, want, win_slots, spl_err_name(sh->rc[i]));
            }
        }
        break;
    case CR_D:
        if (egeom != g_procs) {
            fails++;
            MP_FAIL("D round %" PRIu64 ": %u of %" PRIu64 " got SPL_EGEOMETRY", round, egeom,
                    g_procs);
        }
        break;
    }
    int rc = spl_destroy(name, &o);
    if (rc != 0) {
        fails++;
        MP_FAIL("%s round %" PRIu64 ": spl_destroy: %s", what[kind], round, spl_err_name(rc));
    }
    mp_shared_free(sh, sizeof *sh);
    return fails;
}

/* Names of this run left behind after every spl_destroy (SHM: the private
 * directory /dev/shm/splinter-EUID where this build keeps them; FILE: /tmp). */
static uint64_t cr_leftovers(void)
{
    char dir[128], tag[64];
    if (g_backing == MP_FILE) {
        snprintf(dir, sizeof dir, "/tmp");
        snprintf(tag, sizeof tag, "spl-cr-%d-", (int)getpid());
    } else {
        snprintf(dir, sizeof dir, "/dev/shm/splinter-%u", (unsigned)geteuid());
        snprintf(tag, sizeof tag, "cr-%d-", (int)getpid());
    }
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* another layout: nothing to say */
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, tag)) {
            n++;
            MP_FAIL("left behind: %s/%s", dir, e->d_name);
        }
    closedir(d);
    return n;
}

/* Check a store handed back after a killed creator. */
static uint64_t cr_use(spl_store *s, uint32_t slots, uint64_t loop)
{
    spl_info info;
    int rc = spl_info_get(s, &info);
    if (rc != 0 || info.geom.slots != slots) {
        MP_FAIL("kill loop %" PRIu64 ": info: %s slots %u", loop, spl_err_name(rc),
                info.geom.slots);
        return 1;
    }
    uint64_t v = loop, got = 0;
    size_t len = 0;
    rc = spl_set_wait(s, "probe", &v, sizeof v, 1000000);
    if (rc == 0)
        rc = spl_get(s, "probe", &got, sizeof got, &len);
    if (rc != 0 || got != v) {
        MP_FAIL("kill loop %" PRIu64 ": store unusable: %s", loop, spl_err_name(rc));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t procs = 8, rounds = 10, kill_loops = 200, kill_us = 0, bound_ms = 1000;
    uint64_t seed = mp_time_seed();
    const char *backing = "shm";
    const mp_opt opts[] = {
        {"--procs", &procs}, {"--rounds", &rounds}, {"--kill-loops", &kill_loops},
        {"--kill-us", &kill_us}, {"--bound-ms", &bound_ms}, {"--seed", &seed},
        {"--backing", .s = &backing}, {NULL}};
    if (!mp_parse_args(argc, argv, opts,
                       "[--procs N] [--rounds N] [--kill-loops N] [--kill-us US] "
                       "[--bound-ms MS] [--backing shm|file] [--seed N]"))
        return 2;
    g_backing = mp_backing_parse(backing);
    if (g_backing == MP_MEMFD)
        MP_DIE("createrace needs a named backing (shm or file)");
    if (procs < 2 || procs > CR_MAXP)
        MP_DIE("bad --procs");
    g_procs = procs;
    printf("createrace: seed %" PRIu64 " procs %" PRIu64 " rounds %" PRIu64 " kill-loops %" PRIu64
           " backing %s\n",
           seed, procs, rounds, kill_loops, backing);

    uint64_t fails = 0, created = 0;
    uint64_t t0 = mp_now_ns();
    for (uint64_t r = 0; r < rounds; r++)
        for (int kind = CR_A; kind <= CR_D; kind++)
            fails += cr_race(kind, r, &created);
    double race_s = (double)(mp_now_ns() - t0) / 1e9;

    /* ---- creators killed mid-create */
    mp_rng rng;
    mp_rng_seed(&rng, seed, 9);
    const uint32_t kslots = 2048;
    spl_options ko;
    mp_geom(&ko, g_backing, kslots, 64, 4096);
    char name[256];
    cr_name(name, sizeof name, "K", 0);
    (void)spl_destroy(name, &ko);
    uint64_t c0 = mp_now_ns();
    spl_store *s = NULL;
    int rc = spl_create(&s, name, &ko);
    if (rc != 0)
        MP_DIE("K: spl_create: %s", spl_err_name(rc));
    double create_ms = (double)(mp_now_ns() - c0) / 1e6;
    spl_close(s);
    (void)spl_destroy(name, &ko);

    if (kill_us == 0) { /* auto: most kills land inside spl_create */
        kill_us = (uint64_t)(create_ms * 1000.0 * 1.5);
        kill_us = kill_us < 20 ? 20 : kill_us > 500 ? 500 : kill_us;
    }
    uint64_t child_done = 0, worst_ns = 0, retried = 0, mid_create = 0, kt0 = mp_now_ns();
    _Atomic uint32_t *flag = mp_shared_alloc(2 * sizeof *flag);
    for (uint64_t l = 0; l < kill_loops; l++) {
        cr_name(name, sizeof name, "K", l);
        (void)spl_destroy(name, &ko);
        fflush(stdout);
        fflush(stderr);
        atomic_store(&flag[0], 0);
        atomic_store(&flag[1], 0);
        pid_t pid = fork();
        if (pid < 0)
            MP_DIE("fork: %s", strerror(errno));
        if (pid == 0) {
            spl_store *cs = NULL;
            atomic_store(&flag[0], 1);
            int crc = spl_create(&cs, name, &ko);
            atomic_store(&flag[1], 1);
            _exit(crc == 0 ? 0 : 1);
        }
        /* the kill lands 0..kill-us after the child enters spl_create */
        while (!atomic_load(&flag[0]) && waitpid(pid, NULL, WNOHANG) == 0)
            sched_yield();
        mp_sleep_us(mp_below(&rng, (uint32_t)kill_us + 1));
        kill(pid, SIGKILL);
        if (!atomic_load(&flag[1]))
            mid_create++;
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        if (WIFEXITED(st)) {
            if (WEXITSTATUS(st) == 0)
                child_done++;
            else {
                fails++;
                MP_FAIL("kill loop %" PRIu64 ": child's spl_create failed", l);
            }
        }
        uint64_t a = mp_now_ns();
        int first = 1, last_rc = 0;
        s = NULL;
        for (;;) {
            if (l % 2 == 0) {
                rc = spl_open_or_create(&s, name, &ko);
            } else {
                int d = spl_destroy(name, &ko);
                if (d != 0 && d != SPL_ENOENT && first)
                    MP_FAIL("kill loop %" PRIu64 ": spl_destroy: %s", l, spl_err_name(d));
                rc = spl_create(&s, name, &ko);
            }
            if (rc == 0)
                break;
            if (first) { /* a dead creator must not make even one call fail */
                retried++;
                fails++;
                first = 0;
                fprintf(stderr, "kill loop %" PRIu64 ": first %s got %s; retrying\n", l,
                        l % 2 ? "spl_create" : "spl_open_or_create", spl_err_name(rc));
            }
            last_rc = rc;
            if (mp_now_ns() - a > bound_ms * 1000000u)
                break;
            mp_sleep_us(1000);
        }
        uint64_t dt = mp_now_ns() - a;
        if (dt > worst_ns)
            worst_ns = dt;
        if (rc == 0 && dt > bound_ms * 1000000u) {
            fails++;
            MP_FAIL("kill loop %" PRIu64 ": the store took %.1f ms (bound %" PRIu64 " ms)", l,
                    (double)dt / 1e6, bound_ms);
        }
        if (rc != 0) {
            fails++;
            MP_FAIL("kill loop %" PRIu64 ": no store within %" PRIu64 " ms (last %s)", l, bound_ms,
                    spl_err_name(last_rc));
            continue;
        }
        fails += cr_use(s, kslots, l);
        spl_close(s);
        rc = spl_destroy(name, &ko);
        if (rc != 0) {
            fails++;
            MP_FAIL("kill loop %" PRIu64 ": spl_destroy: %s", l, spl_err_name(rc));
        }
    }
    double kill_s = (double)(mp_now_ns() - kt0) / 1e9;
    mp_shared_free((void *)flag, 2 * sizeof *flag);
    fails += cr_leftovers();
    printf("createrace: %s  races %" PRIu64 " (A/B/C/D x %" PRIu64 ", %" PRIu64
           " exclusive creates won) in %.2f s;  kill loops %" PRIu64 " (creator finished %" PRIu64
           ", killed inside spl_create %" PRIu64 ", kill at 0..%" PRIu64 " us) in %.2f s, create "
           "takes %.2f ms, worst reopen %.2f ms, %" PRIu64 " needed a retry  seed %" PRIu64 "\n",
           fails ? "FAIL" : "ok", rounds * 4, rounds, created, race_s, kill_loops, child_done,
           mid_create, kill_us, kill_s, create_ms, (double)worst_ns / 1e6, retried, seed);
    return fails ? 1 : 0;
}
