/*
 * signal.c - signal figures.
 *
 *   wake-up latency: two processes ping-pong (A pulses group 0 and waits on
 *     group 1; B waits on 0 and pulses 1); one-way latency = round trip / 2,
 *     p50 and p99 over all rounds.  Baselines in the same run, same shape:
 *     a raw futex ping-pong on two shared words, and an eventfd ping-pong.
 *   write cost (fastest batch of 4096): spl_set of a key watched by 4 groups (one of them label-
 *     routed) with nobody waiting or subscribed, against spl_set of an
 *     unwatched key; and the same with a subscriber that is not asleep
 *     (the feed and counters on, no wake-up call).
 *   fan-out: one writer pulses, 1..8 processes sleep on the group; time
 *     from the pulse until the last has woken (median over rounds).
 */
#include "bench.h"

#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC (1000000000ll)

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_u64);
    size_t i = (size_t)(p * (double)(n - 1));
    return (double)v[i];
}

static void *shared(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    return p;
}

static void reap(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("bench child failed (status 0x%x)", st);
}

/* ---------------------------------------------------------------- ping-pong */

enum pp_kind { PP_SPLINTER, PP_FUTEX, PP_EVENTFD };

static long futex(_Atomic uint32_t *w, int op, uint32_t v)
{
    return syscall(SYS_futex, w, op, v, NULL, NULL, 0);
}

/* One side's half of a ping-pong: wait for `in`, answer on `out`. */
static void pp_futex_wait(_Atomic uint32_t *w, uint32_t *seen)
{
    uint32_t v;
    while ((v = atomic_load(w)) == *seen)
        futex(w, FUTEX_WAIT, *seen);
    *seen = v;
}
static void pp_futex_post(_Atomic uint32_t *w)
{
    atomic_fetch_add(w, 1);
    futex(w, FUTEX_WAKE, 1);
}

static void pp_run(enum pp_kind kind, int rounds, uint64_t *rtt)
{
    spl_store *s = NULL;
    if (kind == PP_SPLINTER)
        s = bench_store("bench-signal", 64, 64, "spl_create");
    _Atomic uint32_t *fw = shared(4096); /* fw[0] ping, fw[1] pong */
    int ping = eventfd(0, EFD_CLOEXEC), pong = eventfd(0, EFD_CLOEXEC);
    if (ping < 0 || pong < 0)
        die("eventfd");
    spl_sub *u1 = NULL, *u2 = NULL; /* followed before the fork: no pulse is early */
    if (s && (spl_sub_open(s, 1, &u1) || spl_sub_open(s, 2, &u2)))
        die("spl_sub_open");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        uint32_t seen = 0;
        uint64_t one = 1, v;
        for (int i = 0; i < rounds; i++) {
            switch (kind) {
            case PP_SPLINTER:
                if (spl_sub_wait(u1, 5 * SEC, NULL) != 0)
                    _exit(1);
                spl_signal(s, 2);
                break;
            case PP_FUTEX:
                pp_futex_wait(&fw[0], &seen);
                pp_futex_post(&fw[1]);
                break;
            case PP_EVENTFD:
                if (read(ping, &v, 8) != 8 || write(pong, &one, 8) != 8)
                    _exit(1);
                break;
            }
        }
        _exit(0);
    }
    uint32_t seen = 0;
    uint64_t one = 1, v;
    for (int i = 0; i < rounds; i++) {
        uint64_t t0 = now_ns();
        switch (kind) {
        case PP_SPLINTER:
            spl_signal(s, 1);
            if (spl_sub_wait(u2, 5 * SEC, NULL) != 0)
                die("splinter ping-pong: no answer");
            break;
        case PP_FUTEX:
            pp_futex_post(&fw[0]);
            pp_futex_wait(&fw[1], &seen);
            break;
        case PP_EVENTFD:
            if (write(ping, &one, 8) != 8 || read(pong, &v, 8) != 8)
                die("eventfd ping-pong");
            break;
        }
        rtt[i] = now_ns() - t0;
    }
    reap(pid);
    close(ping);
    close(pong);
    munmap((void *)fw, 4096);
    if (s) {
        spl_sub_close(u1);
        spl_sub_close(u2);
        spl_close(s);
    }
}

static void bench_latency(void)
{
    int rounds = g_opt.quick ? 2000 : 20000;
    uint64_t *rtt = malloc(sizeof *rtt * (size_t)rounds);
    if (!rtt)
        die("out of memory");
    static const char *names[] = {"splinter", "futex", "eventfd"};
    double p50[3], p99[3];
    for (int k = 0; k < 3; k++) {
        p50[k] = p99[k] = 1e30;
        for (int rep = 0; rep < BENCH_REPEATS; rep++) {
            pp_run((enum pp_kind)k, rounds, rtt);
            double a = pct(rtt, (size_t)rounds, 0.50) / 2, b = pct(rtt, (size_t)rounds, 0.99) / 2;
            if (a < p50[k]) {
                p50[k] = a;
                p99[k] = b;
            }
        }
    }
    free(rtt);
    report_section("signals: wake-up latency between two processes (one way = round trip / 2)");
    double best = p50[1] < p50[2] ? p50[1] : p50[2];
    const char *bname = p50[1] < p50[2] ? "futex" : "eventfd";
    char d[160];
    for (int k = 1; k < 3; k++) {
        snprintf(d, sizeof d, "%s ping-pong, p50 (baseline)", names[k]);
        figure f = {k == 1 ? "sig_wake_p50_futex" : "sig_wake_p50_eventfd", d, p50[k], "ns", 0, 0,
                    T_NONE, 0};
        report(&f);
        snprintf(d, sizeof d, "%s ping-pong, p99 (baseline)", names[k]);
        figure g = {k == 1 ? "sig_wake_p99_futex" : "sig_wake_p99_eventfd", d, p99[k], "ns", 0, 0,
                    T_NONE, 0};
        report(&g);
    }
    snprintf(d, sizeof d, "splinter spl_signal -> spl_signal_wait, p50 (baseline: faster raw = %s)", bname);
    figure f = {"sig_wake_p50", d, p50[0], "ns", 1, best, T_NONE, 0};
    report(&f);
    figure r = {"sig_wake_p50_ratio", "splinter p50 / faster raw baseline p50", p50[0] / best, "x", 0, 0,
                T_LE, 1.3};
    report(&r);
    figure g = {"sig_wake_p99", "splinter spl_signal -> spl_signal_wait, p99", p99[0], "ns", 0, 0, T_NONE, 0};
    report(&g);
}

/* ---------------------------------------------------------------- write cost */

/* ns per spl_set: the fastest of n/4096 batches of 4096 (a VM's noise only
 * ever adds time, so the minimum is the cost) */
static double set_loop(spl_store *s, const char *key, size_t n)
{
    char val[64];
    memset(val, 'v', sizeof val);
    double best = 1e30;
    for (size_t b = 0; b < n / 4096; b++) {
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < 4096; i++) {
            val[i & 63] = (char)i;
            int rc;
            while ((rc = spl_set(s, key, val, sizeof val)) != 0)
                if (rc != SPL_EAGAIN) /* retried, not counted; any other error ends the bench */
                    die_spl("spl_set", rc);
        }
        double d = (double)(now_ns() - t0) / 4096.0;
        best = d < best ? d : best;
    }
    return best;
}

static void bench_write_cost(void)
{
    size_t n = g_opt.quick ? 200000 : 2000000;
    spl_store *s = bench_store("bench-signal", 1024, 64, "spl_create");
    char v[64] = {0};
    if (spl_set(s, "watched", v, 64) || spl_labels_set(s, "watched", 1ull << 3))
        die("bench set-up");
    /* the same key (same slot, same probe) with and without its groups,
     * interleaved, best of each */
    double plain = 1e30, watched = 1e30;
    for (int rep = 0; rep < BENCH_REPEATS * 2; rep++) {
        if (spl_unwatch(s, "watched", 0x7) || spl_unbind(s, 3, 1ull << 40))
            die("unwatch");
        double a = set_loop(s, "watched", n);
        if (spl_watch(s, "watched", 0x7) || spl_bind(s, 3, 1ull << 40))
            die("watch");
        double b = set_loop(s, "watched", n);
        plain = a < plain ? a : plain;
        watched = b < watched ? b : watched;
    }
    spl_sub *u = NULL;
    double followed = 1e30;
    if (spl_sub_open(s, 1ull << 40, &u) != 0)
        die("spl_sub_open");
    for (int rep = 0; rep < BENCH_REPEATS; rep++) {
        double b = set_loop(s, "watched", n);
        followed = b < followed ? b : followed;
    }
    uint64_t c;
    spl_pulses(s, 40, &c);
    if (c < n)
        die("the followed group counted %llu pulses", (unsigned long long)c);
    g_sink += c;
    spl_sub_close(u);
    double after = 1e30; /* followed once, not any more: one count load per group */
    for (int rep = 0; rep < BENCH_REPEATS; rep++) {
        double b = set_loop(s, "watched", n);
        after = b < after ? b : after;
    }
    report_section("signals: write cost with watches and no waiter");
    figure f = {"sig_set_unwatched_ns", "spl_set, 64 B, the key with no watches and its label unbound", plain, "ns/op", 0, 0, T_NONE, 0};
    report(&f);
    figure g = {"sig_set_watched_ns", "the same key watched by 3 groups and routed to 1 by its label, nobody following",
                watched, "ns/op", 1, plain, T_NONE, 0};
    report(&g);
    figure r = {"sig_set_watched_ratio", "watched / unwatched spl_set", watched / plain, "x", 0, 0, T_LE, 1.05};
    report(&r);
    figure h = {"sig_set_followed_ns", "the same, one group followed by a subscriber not asleep (feed + counters)",
                followed, "ns/op", 1, plain, T_NONE, 0};
    report(&h);
    figure k = {"sig_set_was_followed_ns", "the same after the subscriber left",
                after, "ns/op", 1, plain, T_NONE, 0};
    report(&k);
    spl_close(s);
}

/* ---------------------------------------------------------------- fan-out */

typedef struct fo_ctl {
    _Atomic uint32_t ready;
    _Atomic uint32_t woke;
    _Atomic uint64_t last; /* latest wake time this round */
    _Atomic int stop;
} fo_ctl;

static double fanout(int waiters, int rounds)
{
    spl_store *s = bench_store("bench-signal", 64, 64, "spl_create");
    fo_ctl *c = shared(4096);
    pid_t pids[8];
    for (int w = 0; w < waiters; w++) {
        pids[w] = fork();
        if (pids[w] < 0)
            die("fork");
        if (pids[w] == 0) {
            spl_sub *u = NULL;
            if (spl_sub_open(s, 1, &u) != 0)
                _exit(1);
            atomic_fetch_add(&c->ready, 1);
            for (int r = 0; r < rounds; r++) {
                if (spl_sub_wait(u, 5 * SEC, NULL) != 0)
                    _exit(1);
                uint64_t t = now_ns(), l = atomic_load(&c->last);
                while (t > l && !atomic_compare_exchange_weak(&c->last, &l, t)) {
                }
                atomic_fetch_add(&c->woke, 1);
            }
            spl_sub_close(u);
            _exit(0);
        }
    }
    uint64_t *lat = malloc(sizeof *lat * (size_t)rounds);
    for (int r = 0; r < rounds; r++) {
        while (atomic_load(&c->ready) < (uint32_t)waiters)
            sched_yield();
        usleep(200); /* let them all fall asleep */
        atomic_store(&c->woke, 0);
        atomic_store(&c->last, 0);
        uint64_t t0 = now_ns();
        spl_signal(s, 1);
        while (atomic_load(&c->woke) < (uint32_t)waiters)
            sched_yield();
        lat[r] = atomic_load(&c->last) - t0;
    }
    for (int w = 0; w < waiters; w++)
        reap(pids[w]);
    double p50 = pct(lat, (size_t)rounds, 0.5);
    free(lat);
    munmap(c, 4096);
    spl_close(s);
    return p50;
}

static void bench_fanout(void)
{
    int rounds = g_opt.quick ? 50 : 400;
    report_section("signals: fan-out, one pulse to N sleeping processes (2 CPUs here)");
    static const int ns[] = {1, 2, 4, 8};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        char name[32], desc[96];
        snprintf(name, sizeof name, "sig_fanout_%d", ns[i]);
        snprintf(desc, sizeof desc, "pulse until all %d waiting processes have woken, median", ns[i]);
        figure f = {name, desc, fanout(ns[i], rounds), "ns", 0, 0, T_NONE, 0};
        report(&f);
    }
}

void bench_signals(void)
{
    bench_write_cost();
    bench_latency();
    bench_fanout();
}
