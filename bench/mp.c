/*
 * mp.c - multi-process throughput, splinter against the seqlock baseline
 * (baseline.c) on the same keys.  MEMFD stores and MAP_SHARED baseline
 * tables are made and filled before fork; each splinter child attaches its
 * own handle with spl_open_fd(spl_fd(store)), each baseline child uses the
 * inherited mapping.  All children start together on a shared flag and run
 * until a common deadline; a run's figure is completed operations (all
 * children) / (last child's end - start).  Rounds are interleaved (every
 * workload on splinter and on the baseline, the order alternating per
 * round); the figure is the median of BENCH_ROUNDS.  Key indexes and the
 * get/set choice come from arrays generated before fork, so RNG cost is
 * outside the loop.
 */
#include "baseline.h"
#include "bench.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MP_KEYS     1000u      /* keys of the mix */
#define MP_VAL      128u       /* value bytes of the mix */
#define MP_BIG_KEYS 100000u    /* keys of the readers / writers figures */
#define MP_BIG_VAL  64u        /* their value bytes (the kv geometry) */
#define MP_OPS_N    (1u << 20) /* pre-generated op array (power of two) */
#define MP_SET_BIT  (1u << 31)
#define MP_MAXP     64

enum mp_kind { MP_MIX90, MP_READERS, MP_1W_READERS, MP_WRITERS };
enum mp_impl { IMPL_SPL, IMPL_BL };

/* One key space: a store and a baseline table holding the same keys, and
 * the op array (key index | MP_SET_BIT for the mix's 10% sets). */
typedef struct mp_space {
    spl_store *s;
    bl_table bl;
    const keyset *keys;
    uint32_t *ops;
    size_t val;
} mp_space;

typedef struct mp_result {
    uint64_t ops;     /* completed operations */
    uint64_t gets, sets;
    uint64_t eagain;  /* SPL_EAGAIN / BL_EAGAIN returns (retried, not counted) */
    uint64_t t_end;
    uint64_t sum;
    int err;
} mp_result;

typedef struct mp_ctl {
    _Atomic int ready;
    _Atomic uint64_t deadline; /* 0 until go */
    mp_result r[MP_MAXP];
} mp_ctl;

static void child(mp_space *sp, enum mp_impl impl, mp_ctl *ctl, enum mp_kind kind, int p)
{
    spl_store *s = NULL;
    mp_result *r = &ctl->r[p];
    int rc = 0;
    if (impl == IMPL_SPL && (rc = spl_open_fd(&s, spl_fd(sp->s), 0)) != 0) {
        r->err = rc;
        atomic_fetch_add(&ctl->ready, 1);
        _exit(1);
    }
    /* the baseline table is the parent's MAP_SHARED mapping, inherited */
    unsigned char buf[MP_VAL], val[MP_VAL];
    memset(val, 0x5a ^ p, sizeof val);
    const uint32_t *ops = sp->ops;
    const size_t vlen = sp->val;
    atomic_fetch_add(&ctl->ready, 1);
    uint64_t deadline;
    while ((deadline = atomic_load(&ctl->deadline)) == 0)
        sched_yield();

    uint64_t it = 0, gets = 0, sets = 0, eagain = 0, sum = 0;
    /* each process starts elsewhere in the op array and walks it with a
     * step of its own (odd: every op is visited): with one step for all,
     * a process that lapped another walked the same keys in lockstep with
     * it, every op a collision */
    size_t j = (size_t)p * 104729u, step = 2u * (size_t)p + 1u;
    for (;;) {
        if ((it++ & 255u) == 0 && now_ns() >= deadline)
            break;
        uint32_t op = ops[j & (MP_OPS_N - 1)];
        const char *k = key_at(sp->keys, op & ~MP_SET_BIT);
        int is_set;
        switch (kind) {
        case MP_READERS: is_set = 0; break;
        case MP_1W_READERS: is_set = (p == 0); break;
        case MP_WRITERS: is_set = 1; break;
        default: is_set = (op & MP_SET_BIT) != 0; break;
        }
        if (is_set) {
            uint64_t stamp = sets;
            memcpy(val, &stamp, 8);
            rc = impl == IMPL_SPL ? spl_set(s, k, val, vlen) : bl_set(&sp->bl, k, val, vlen);
        } else {
            size_t len;
            rc = impl == IMPL_SPL ? spl_get(s, k, buf, sizeof buf, &len)
                                  : bl_get(&sp->bl, k, buf, sizeof buf, &len);
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
            j += step;
        } else if (rc == (impl == IMPL_SPL ? SPL_EAGAIN : BL_EAGAIN)) {
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
    if (s)
        spl_close(s);
    _exit(r->err ? 1 : 0);
}

/* One timed run; returns Mops/s, adds to the totals in *tot. */
static double mp_run(mp_space *sp, enum mp_impl impl, mp_ctl *ctl, enum mp_kind kind, int nproc,
                     double seconds, mp_result *tot)
{
    memset(ctl, 0, sizeof *ctl);
    pid_t pids[MP_MAXP];
    for (int p = 0; p < nproc; p++) {
        pids[p] = fork();
        if (pids[p] < 0)
            die("fork failed");
        if (pids[p] == 0)
            child(sp, impl, ctl, kind, p);
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
    uint64_t t_last = t_go, ops = 0;
    for (int p = 0; p < nproc; p++) {
        mp_result *r = &ctl->r[p];
        if (r->err) {
            if (impl == IMPL_SPL)
                die_spl("multi-process child", r->err);
            die("multi-process baseline child: error %d", r->err);
        }
        ops += r->ops;
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
    return (double)ops / ((double)(t_last - t_go) / 1e9) / 1e6;
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

static void space_make(mp_space *sp, const char *label, const keyset *keys, uint32_t nkeys,
                       uint32_t slots, size_t val, uint64_t seed)
{
    sp->keys = keys;
    sp->val = val;
    sp->ops = malloc(MP_OPS_N * sizeof *sp->ops);
    if (!sp->ops)
        die("out of memory");
    for (uint32_t i = 0; i < MP_OPS_N; i++) {
        uint64_t r = rng_next(&seed);
        sp->ops[i] = (uint32_t)(r % nkeys) | (((r >> 32) % 10) == 0 ? MP_SET_BIT : 0);
    }
    sp->s = bench_store(label, slots, (uint32_t)val, "spl_create (mp)");
    if (bl_init(&sp->bl, slots, val) != 0)
        die("baseline table (mp): out of memory");
    unsigned char v[MP_VAL];
    memset(v, 0xa5, sizeof v);
    for (uint32_t i = 0; i < nkeys; i++) {
        int rc = spl_set(sp->s, key_at(keys, i), v, val);
        if (rc != 0)
            die_spl("populate (mp)", rc);
        if (bl_set(&sp->bl, key_at(keys, i), v, val) != BL_OK)
            die("populate baseline (mp) failed");
    }
}

static void space_free(mp_space *sp)
{
    spl_close(sp->s);
    bl_free(&sp->bl);
    free(sp->ops);
}

void bench_multiprocess(void)
{
    int maxp = g_opt.procs;
    double seconds = g_opt.quick ? 0.2 : 1.0;

    keyset keys; /* user:0000000..; the mix uses the first 1000 */
    if (keyset_make(&keys, MP_BIG_KEYS, "user"))
        die("out of memory");
    mp_space mix, big;
    space_make(&mix, "splinter-bench-mp", &keys, MP_KEYS, 4096, MP_VAL, 777);
    space_make(&big, "splinter-bench-mp100k", &keys, MP_BIG_KEYS, 131072, MP_BIG_VAL, 778);

    mp_ctl *ctl = mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ctl == MAP_FAILED)
        die("mmap failed");

    char title[160];
    snprintf(title, sizeof title,
             "multi-process against the seqlock baseline: %.1f s per run, median of %d "
             "interleaved rounds, %ld CPUs online",
             seconds, BENCH_ROUNDS, sysconf(_SC_NPROCESSORS_ONLN));
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
        int big;          /* on the 100k-key space */
        const char *tag;  /* figure mp_<tag>_pP, ratio mp_ratio_<tag>_pP */
        const char *desc;
    } kinds[] = {
        {MP_MIX90, 0, "mix90", "each process: 90% get / 10% set, same 1000 keys, 128 B"},
        {MP_READERS, 1, "readers_100k", "every process gets, random among 100k keys, 64 B"},
        {MP_1W_READERS, 1, "1w_readers_100k",
         "process 0 sets, the others get, random among the same 100k keys, 64 B"},
        {MP_WRITERS, 1, "writers_100k", "every process sets, random among the same 100k keys, 64 B"},
    };
    enum { NK = sizeof kinds / sizeof kinds[0] };
    for (int p = 2; p <= maxp; p++) {
        double v[NK][2][BENCH_ROUNDS];
        mp_result tot[NK][2];
        memset(tot, 0, sizeof tot);
        for (int r = 0; r < BENCH_ROUNDS; r++) {
            for (size_t k = 0; k < NK; k++) {
                mp_space *sp = kinds[k].big ? &big : &mix;
                for (int o = 0; o < 2; o++) { /* splinter first in even rounds */
                    int impl = (r & 1) ? 1 - o : o;
                    v[k][impl][r] = mp_run(sp, (enum mp_impl)impl, ctl, kinds[k].kind, p,
                                           seconds, &tot[k][impl]);
                }
            }
        }
        for (size_t k = 0; k < NK; k++) {
            double spl = bench_median(v[k][IMPL_SPL], BENCH_ROUNDS);
            double bl = bench_median(v[k][IMPL_BL], BENCH_ROUNDS);
            char name[64], desc[160];
            snprintf(name, sizeof name, "mp_%s_p%d", kinds[k].tag, p);
            snprintf(desc, sizeof desc, "%s; %d procs (baseline column: the seqlock table)",
                     kinds[k].desc, p);
            figure f = {name, desc, spl, "Mops/s", 1, bl, T_NONE, 0, BENCH_ROUNDS};
            if (kinds[k].kind == MP_MIX90 && p == 2) {
                f.top = T_GT;
                f.target = 30;
            }
            report(&f);
            const mp_result *ts = &tot[k][IMPL_SPL], *tb = &tot[k][IMPL_BL];
            report_note("%s: %.1f%% gets; over %d rounds splinter retried %llu SPL_EAGAIN, the "
                        "baseline %llu BL_EAGAIN (not counted)",
                        name, ts->ops ? 100.0 * (double)ts->gets / (double)ts->ops : 0.0,
                        BENCH_ROUNDS, (unsigned long long)ts->eagain,
                        (unsigned long long)tb->eagain);
            char rname[64], rdesc[160];
            snprintf(rname, sizeof rname, "mp_ratio_%s_p%d", kinds[k].tag, p);
            snprintf(rdesc, sizeof rdesc, "%s: splinter / baseline completed ops", name);
            figure rf = {rname, rdesc, bl > 0 ? spl / bl : 0, "x", 0, 0,
                         p == 2 ? T_GE : T_NONE, 0.8, BENCH_ROUNDS};
            report(&rf);
        }
    }
    munmap(ctl, sizeof *ctl);
    space_free(&mix);
    space_free(&big);
    keyset_free(&keys);
}
