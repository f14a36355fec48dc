/*
 * mp.c - multi-process throughput.  One MEMFD store is created before fork;
 * each child attaches its own handle with spl_open_fd(spl_fd(store)).  All
 * children start together on a shared flag and run until a common deadline;
 * the figure is completed operations (all children) / (last child's end -
 * start), best of BENCH_REPEATS runs.  Key indexes and the get/set choice
 * come from an array generated before fork, so RNG cost is outside the loop.
 */
#include "bench.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MP_KEYS     1000u      /* keys per key set */
#define MP_VAL      128u       /* value bytes */
#define MP_OPS_N    (1u << 20) /* pre-generated op array (power of two) */
#define MP_SET_BIT  (1u << 31)
#define MP_MAXP     64

enum mp_kind { MP_1W_READERS, MP_ALL_WRITERS, MP_MIX90, MP_MIX90_OWN };

typedef struct mp_result {
    uint64_t ops;     /* completed operations */
    uint64_t gets, sets;
    uint64_t eagain;  /* SPL_EAGAIN returns (retried, not counted) */
    uint64_t t_end;
    uint64_t sum;
    int err;
} mp_result;

typedef struct mp_ctl {
    _Atomic int ready;
    _Atomic uint64_t deadline; /* 0 until go */
    mp_result r[MP_MAXP];
} mp_ctl;

static void child(spl_store *parent, mp_ctl *ctl, const uint32_t *ops, const keyset *keys,
                  enum mp_kind kind, int p)
{
    spl_store *s = NULL;
    int rc = spl_open_fd(&s, spl_fd(parent), 0);
    mp_result *r = &ctl->r[p];
    if (rc != 0) {
        r->err = rc;
        atomic_fetch_add(&ctl->ready, 1);
        _exit(1);
    }
    unsigned char buf[MP_VAL], val[MP_VAL];
    memset(val, 0x5a ^ p, sizeof val);
    atomic_fetch_add(&ctl->ready, 1);
    uint64_t deadline;
    while ((deadline = atomic_load(&ctl->deadline)) == 0)
        sched_yield();

    uint64_t it = 0, gets = 0, sets = 0, eagain = 0, sum = 0;
    size_t j = (size_t)p * 104729u; /* each process starts elsewhere in the op array */
    uint32_t key_base = (kind == MP_ALL_WRITERS || kind == MP_MIX90_OWN) ? (uint32_t)p * MP_KEYS : 0;
    for (;;) {
        if ((it++ & 255u) == 0 && now_ns() >= deadline)
            break;
        uint32_t op = ops[j & (MP_OPS_N - 1)];
        const char *k = key_at(keys, key_base + (op & ~MP_SET_BIT));
        int is_set;
        switch (kind) {
        case MP_1W_READERS: is_set = (p == 0); break;
        case MP_ALL_WRITERS: is_set = 1; break;
        default: is_set = (op & MP_SET_BIT) != 0; break;
        }
        if (is_set) {
            uint64_t stamp = sets;
            memcpy(val, &stamp, 8);
            rc = spl_set(s, k, val, MP_VAL);
        } else {
            size_t len;
            rc = spl_get(s, k, buf, sizeof buf, &len);
            if (rc == 0) {
                uint64_t v;
                memcpy(&v, buf, 8);
                sum += v + len;
            }
        }
        if (rc == 0) {
            if (is_set)
                sets++;
            else
                gets++;
            j++;
        } else if (rc == SPL_EAGAIN) {
            eagain++; /* retry the same op; not counted */
        } else {
            r->err = rc;
            break;
        }
    }
    r->t_end = now_ns();
    r->gets = gets;
    r->sets = sets;
    r->ops = gets + sets;
    r->eagain = eagain;
    r->sum = sum;
    spl_close(s);
    _exit(r->err ? 1 : 0);
}

/* One timed run; returns Mops/s, fills totals. */
static double mp_run(spl_store *s, mp_ctl *ctl, const uint32_t *ops, const keyset *keys,
                     enum mp_kind kind, int nproc, double seconds, mp_result *tot)
{
    memset(ctl, 0, sizeof *ctl);
    pid_t pids[MP_MAXP];
    for (int p = 0; p < nproc; p++) {
        pids[p] = fork();
        if (pids[p] < 0)
            die("fork failed");
        if (pids[p] == 0)
            child(s, ctl, ops, keys, kind, p);
    }
    while (atomic_load(&ctl->ready) < nproc)
        usleep(200);
    uint64_t t_go = now_ns();
    atomic_store(&ctl->deadline, t_go + (uint64_t)(seconds * 1e9));
    int failed = 0;
    for (int p = 0; p < nproc; p++) {
        int st;
        if (waitpid(pids[p], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = 1;
    }
    memset(tot, 0, sizeof *tot);
    uint64_t t_last = t_go;
    for (int p = 0; p < nproc; p++) {
        mp_result *r = &ctl->r[p];
        if (r->err)
            die_spl("multi-process child", r->err);
        tot->ops += r->ops;
        tot->gets += r->gets;
        tot->sets += r->sets;
        tot->eagain += r->eagain;
        g_sink += r->sum;
        if (r->t_end > t_last)
            t_last = r->t_end;
    }
    if (failed)
        die("a multi-process child failed");
    if (t_last == t_go)
        return 0;
    return (double)tot->ops / ((double)(t_last - t_go) / 1e9) / 1e6;
}

/* One-way latency of moving a cache line between two processes (a shared
 * word ping-ponged N times).  Not a Splinter figure: it is the floor every
 * multi-process figure stands on, since a get of a slot the other process
 * just wrote must pull its lines across. */
static double line_transfer_ns(void)
{
    _Atomic uint64_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED)
        die("mmap failed");
    const uint64_t n = g_opt.quick ? 20000 : 200000;
    atomic_store(w, 0);
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed");
    if (pid == 0) {
        for (uint64_t i = 1; i <= n; i++) {
            while (atomic_load_explicit(w, memory_order_acquire) != 2 * i - 1)
                ;
            atomic_store_explicit(w, 2 * i, memory_order_release);
        }
        _exit(0);
    }
    uint64_t t0 = now_ns();
    for (uint64_t i = 1; i <= n; i++) {
        atomic_store_explicit(w, 2 * i - 1, memory_order_release);
        while (atomic_load_explicit(w, memory_order_acquire) != 2 * i)
            ;
    }
    uint64_t t1 = now_ns();
    waitpid(pid, NULL, 0);
    munmap((void *)w, 4096);
    return (double)(t1 - t0) / (double)n / 2.0;
}

void bench_multiprocess(void)
{
    int maxp = g_opt.procs;
    double seconds = g_opt.quick ? 0.3 : 1.0;
    uint32_t nkeys = MP_KEYS * (uint32_t)maxp;
    uint32_t slots = 4096;
    while (slots < 4 * nkeys)
        slots <<= 1;

    keyset keys;
    if (keyset_make(&keys, nkeys, "user"))
        die("out of memory");
    uint32_t *ops = malloc(MP_OPS_N * sizeof *ops);
    if (!ops)
        die("out of memory");
    uint64_t seed = 777;
    for (uint32_t i = 0; i < MP_OPS_N; i++) {
        uint64_t r = rng_next(&seed);
        ops[i] = (uint32_t)(r % MP_KEYS) | (((r >> 32) % 10) == 0 ? MP_SET_BIT : 0);
    }

    spl_store *s = bench_store("splinter-bench-mp", slots, MP_VAL, "spl_create (mp)");
    int rc;
    unsigned char val[MP_VAL];
    memset(val, 0xa5, sizeof val);
    for (uint32_t i = 0; i < nkeys; i++)
        if ((rc = spl_set(s, key_at(&keys, i), val, MP_VAL)) != 0)
            die_spl("populate (mp)", rc);

    mp_ctl *ctl = mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ctl == MAP_FAILED)
        die("mmap failed");

    char title[128];
    snprintf(title, sizeof title,
             "multi-process: %u keys, 128-byte values, %.1f s per run, %ld CPUs online", MP_KEYS,
             seconds, sysconf(_SC_NPROCESSORS_ONLN));
    report_section(title);
    {
        double best = 1e18;
        for (int r = 0; r < BENCH_REPEATS; r++) {
            double v = line_transfer_ns();
            if (v < best)
                best = v;
        }
        figure f = {"cross_process_line_ns",
                    "one-way cache-line transfer between 2 processes (context: the floor "
                    "under every multi-process figure)",
                    best, "ns", 0, 0, T_NONE, 0};
        report(&f);
    }

    static const struct {
        enum mp_kind kind;
        const char *tag;
        const char *desc;
    } kinds[] = {
        {MP_1W_READERS, "1w_readers", "1 writer (spl_set) + readers (spl_get), same 1000 keys"},
        {MP_ALL_WRITERS, "all_writers", "every process spl_set on its own 1000 keys"},
        {MP_MIX90, "mix90", "each process: 90% spl_get / 10% spl_set, same 1000 keys"},
        {MP_MIX90_OWN, "mix90_own", "the same mix, each process on its own 1000 keys (no sharing)"},
    };
    for (int p = 2; p <= maxp; p++) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            double best = 0;
            mp_result best_tot = {0}, tot;
            for (int r = 0; r < BENCH_REPEATS; r++) {
                double v = mp_run(s, ctl, ops, &keys, kinds[k].kind, p, seconds, &tot);
                if (v > best) {
                    best = v;
                    best_tot = tot;
                }
            }
            char name[64], desc[160];
            snprintf(name, sizeof name, "mp_%s_p%d", kinds[k].tag, p);
            snprintf(desc, sizeof desc, "%s; %d procs", kinds[k].desc, p);
            figure f = {name, desc, best, "Mops/s", 0, 0, T_NONE, 0};
            if (kinds[k].kind == MP_MIX90 && p == 2) {
                f.top = T_GT;
                f.target = 30;
            }
            report(&f);
            report_note("%s: %.1f%% gets, %llu SPL_EAGAIN retried (not counted) in the best run",
                        name,
                        best_tot.ops ? 100.0 * (double)best_tot.gets / (double)best_tot.ops : 0.0,
                        (unsigned long long)best_tot.eagain);
        }
    }
    munmap(ctl, sizeof *ctl);
    spl_close(s);
    free(ops);
    keyset_free(&keys);
}
