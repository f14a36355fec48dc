/*
 * contend.c - the *_wait calls sleep on a busy slot instead of spinning.
 *
 *   contend [--hold-ms 200] [--rounds 2] [--waiters 8]
 *
 * A writer process takes a key's slot through the library's own write path
 * (spl__key_lock + spl__write_begin: the epoch is odd, as in the middle of a
 * write) and stops itself with SIGSTOP.  A waiter process then calls
 * spl_get_wait, spl_set_wait, spl_unset_wait or spl_add on that key.
 *
 *   "commit"  after --hold-ms the writer is continued and commits through
 *             the real path (write_end, unlock, spl__note_send, which wakes
 *             sleepers).  The waiter must have slept: CPU time < 10% of its
 *             wall time and at most MAX_RETRIES SPL_EAGAIN results retried
 *             (a spinning waiter retries thousands of times); it must return
 *             the right result within MAX_LATE_MS of the commit, and the
 *             median over all commit cases must be under MEDIAN_MS.
 *   "kill"    the stopped writer is SIGKILLed instead: the waiter recovers
 *             the slot and returns (the key was mid-write, so it is gone)
 *             within KILL_MS, having slept as above.
 *   "herd"    --waiters processes (gets and sets) sleep on one stopped
 *             writer; one commit wakes them all; the slot's sleeper count
 *             is back to 0 afterwards.
 *   "reaped"  a sleeper is SIGKILLed while asleep: its count stays raised
 *             until spl_signal_repair takes it back through its record.
 *   "rdonly"  a read-only handle cannot count itself as a sleeper (its
 *             mapping is not writable): its spl_get_wait backs off and
 *             times out with SPL_EAGAIN, then reads the committed value.
 *   "stale"   a sleeper is woken by the commit but SIGSTOPped before it can
 *             run (its count stays raised); the writer then rewrites the
 *             key STALE_SETS times: only its first commit may ring the key
 *             bell (one wake-up call), not every one.
 *
 * A build with -DSPL_BROKEN_NO_SLEEP (retry with back-off, never sleep)
 * must fail the retry check (make test-broken).
 * Exit 0 iff every check held.
 */
#include "mp_common.h"

#include <sys/resource.h>

#include "internal.h" /* the writer's hook: lock and make the epoch odd */

#define KEY          "k"
#define MAX_RETRIES  40u  /* spin 3 + yield 2 + a few sleeps; spinning: thousands */
#define CPU_FRACTION 0.10 /* of the waiter's wall time */
#define MAX_LATE_MS  50.0 /* one case, commit -> return (a loaded machine) */
#define MEDIAN_MS    5.0  /* median over the commit cases */
#define KILL_MS      100.0
#define WAIT_US      10000000u /* the calls' own timeout: 10 s */
#define MAXW         32
#define STALE_SETS   1000

enum op { OP_GET, OP_SET, OP_UNSET, OP_ADD, OP_N };
static const char *op_name[OP_N] = {"spl_get_wait", "spl_set_wait", "spl_unset_wait", "spl_add"};

typedef struct res {
    int rc;
    uint64_t t_start, t_ret, cpu_ns, retries, sleeps;
    size_t len;
    char val[16];
    int64_t n;
} res;

typedef struct sh_t {
    _Atomic int w_ready;
    _Atomic int w_more; /* after the commit: rewrite the key this many times */
    _Atomic uint32_t idx;
    _Atomic uint64_t t_commit;
    _Atomic uint32_t x_ready;
    res r[MAXW];
} sh_t;

static int failures;
#define CHECK(cond, ...)                                                                \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            MP_FAIL(__VA_ARGS__);                                                       \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* The writer: lock the key's slot, start a write (odd epoch), stop; when
 * continued, commit the way every library writer does. */
static void writer(spl_store *s, sh_t *sh)
{
    uint64_t fp;
    int i = spl__key_lock(s, KEY, 0, &fp);
    if (i < 0)
        _exit(3);
    struct spl_slot *sl = spl__slot(s, (uint32_t)i);
    struct spl__note note;
    spl__note_take(s, (uint32_t)i, sl, fp, &note);
    uint64_t odd = spl__write_begin(sl);
    atomic_store(&sh->idx, (uint32_t)i);
    atomic_store(&sh->w_ready, 1);
    raise(SIGSTOP);
    atomic_store(&sh->t_commit, mp_now_ns());
    spl__write_end(sl, odd);
    spl__slot_unlock(sl);
    spl__note_send(s, &note);
    int more = atomic_load(&sh->w_more);
    for (int n = 0; n < more; n++)
        if (spl_set(s, KEY, "more", 4) != 0)
            _exit(4);
    _exit(0);
}

static void waiter(spl_store *s, sh_t *sh, int w, enum op op)
{
    res *r = &sh->r[w];
    uint64_t c0 = cpu_ns();
    atomic_fetch_add(&sh->x_ready, 1);
    r->t_start = mp_now_ns();
    switch (op) {
    case OP_GET: r->rc = spl_get_wait(s, KEY, r->val, sizeof r->val, &r->len, WAIT_US); break;
    case OP_SET: r->rc = spl_set_wait(s, KEY, "new", 3, WAIT_US); break;
    case OP_UNSET: r->rc = spl_unset_wait(s, KEY, WAIT_US); break;
    default: r->rc = spl_add(s, KEY, 1, &r->n); break;
    }
    r->t_ret = mp_now_ns();
    r->cpu_ns = cpu_ns() - c0;
    spl__contend_stats(&r->retries, &r->sleeps);
    _exit(0);
}

static spl_store *fresh_store(enum op op)
{
    spl_options o;
    mp_geom(&o, MP_MEMFD, 64, 16, 16);
    spl_store *s = NULL;
    int rc = spl_create(&s, NULL, &o);
    if (rc != 0)
        MP_DIE("spl_create: %s", spl_err_name(rc));
    rc = op == OP_ADD ? spl_add(s, KEY, 5, NULL) : spl_set(s, KEY, "old", 3);
    if (rc != 0)
        MP_DIE("populate: %s", spl_err_name(rc));
    return s;
}

static pid_t start_writer(spl_store *s, sh_t *sh)
{
    pid_t w = fork();
    if (w < 0)
        MP_DIE("fork: %s", strerror(errno));
    if (w == 0)
        writer(s, sh);
    int st = 0;
    if (waitpid(w, &st, WUNTRACED) != w || !WIFSTOPPED(st) || !atomic_load(&sh->w_ready))
        MP_DIE("the writer did not stop inside the slot");
    return w;
}

static pid_t start_waiter(spl_store *s, sh_t *sh, int w, enum op op)
{
    pid_t x = fork();
    if (x < 0)
        MP_DIE("fork: %s", strerror(errno));
    if (x == 0)
        waiter(s, sh, w, op);
    return x;
}

static uint32_t kwait_of(spl_store *s, uint32_t idx)
{
    return atomic_load_explicit(SPL__A32(&s->kwait[idx]), memory_order_seq_cst);
}

/* The waiter slept instead of spinning. */
static void check_slept(const char *what, const res *r)
{
    double wall = (double)(r->t_ret - r->t_start);
    double frac = wall > 0 ? (double)r->cpu_ns / wall : 1.0;
    CHECK(frac < CPU_FRACTION, "%s: the waiter used %.1f%% of a CPU while it waited %.1f ms", what,
          100.0 * frac, wall / 1e6);
    CHECK(r->retries <= MAX_RETRIES, "%s: %llu SPL_EAGAIN retried (at most %u when sleeping)", what,
          (unsigned long long)r->retries, MAX_RETRIES);
    CHECK(r->sleeps >= 1, "%s: the waiter never slept", what);
}

/* Whether the writer committed or was killed mid-write, the key keeps a
 * whole value: the one before the write (a killed writer's write section
 * is rolled back, format 3), so the waiter's call acts on it. */
static void check_result(const char *what, spl_store *s, enum op op, const res *r, int killed)
{
    char buf[16];
    size_t len = 0;
    int64_t v = 0;
    (void)killed;
    switch (op) {
    case OP_GET:
        CHECK(r->rc == 0 && r->len == 3 && !memcmp(r->val, "old", 3), "%s: returned %s", what,
              spl_err_name(r->rc));
        break;
    case OP_SET:
        CHECK(r->rc == 0, "%s: returned %s", what, spl_err_name(r->rc));
        CHECK(spl_get(s, KEY, buf, sizeof buf, &len) == 0 && len == 3 && !memcmp(buf, "new", 3),
              "%s: the value is not the waiter's", what);
        break;
    case OP_UNSET:
        CHECK(r->rc == 0, "%s: returned %s", what, spl_err_name(r->rc));
        CHECK(spl_exists(s, KEY) == 0, "%s: the key is still there", what);
        break;
    default:
        CHECK(r->rc == 0 && r->n == 6, "%s: returned %s, %lld", what, spl_err_name(r->rc), (long long)r->n);
        CHECK(spl_add(s, KEY, 0, &v) == 0 && v == r->n, "%s: the counter reads %lld", what,
              (long long)v);
        break;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One waiter on one stopped writer; the writer commits (or is killed) after
 * hold_ms.  Returns the latency in ms. */
static double one_case(sh_t *sh, enum op op, int kill_it, uint64_t hold_ms)
{
    char what[64];
    snprintf(what, sizeof what, "%s %s", kill_it ? "kill" : "commit", op_name[op]);
    memset(sh, 0, sizeof *sh);
    spl_store *s = fresh_store(op);
    pid_t w = start_writer(s, sh);
    pid_t x = start_waiter(s, sh, 0, op);
    mp_sleep_us(hold_ms * 1000);
    uint32_t idx = atomic_load(&sh->idx);
    CHECK(kwait_of(s, idx) == 1, "%s: %u sleepers counted on the slot, want 1", what, kwait_of(s, idx));
    uint64_t t_event;
    if (kill_it) {
        t_event = mp_now_ns();
        kill(w, SIGKILL);
        waitpid(w, NULL, 0);
    } else {
        kill(w, SIGCONT);
        if (mp_wait_all(&w, 1, "writer"))
            failures++;
        t_event = atomic_load(&sh->t_commit);
    }
    if (mp_wait_all(&x, 1, "waiter"))
        failures++;
    res *r = &sh->r[0];
    double late = r->t_ret > t_event ? (double)(r->t_ret - t_event) / 1e6 : 0.0;
    check_slept(what, r);
    check_result(what, s, op, r, kill_it);
    CHECK(late < (kill_it ? KILL_MS : MAX_LATE_MS), "%s: returned %.2f ms after the %s", what, late,
          kill_it ? "kill" : "commit");
    CHECK(kwait_of(s, idx) == 0, "%s: %u sleepers still counted", what, kwait_of(s, idx));
    spl_info inf;
    spl_info_get(s, &inf);
    CHECK(inf.recoveries == (kill_it ? 1u : 0u), "%s: %llu recoveries", what,
          (unsigned long long)inf.recoveries);
    printf("%-24s waited %6.1f ms, cpu %5.2f%%, %2llu retries, %llu sleeps, returned %6.3f ms after\n",
           what, (double)(r->t_ret - r->t_start) / 1e6,
           100.0 * (double)r->cpu_ns / (double)(r->t_ret - r->t_start + 1),
           (unsigned long long)r->retries, (unsigned long long)r->sleeps, late);
    spl_close(s);
    return late;
}

/* Many sleepers on one slot; one commit wakes them all. */
static void herd(sh_t *sh, int n, uint64_t hold_ms)
{
    memset(sh, 0, sizeof *sh);
    spl_store *s = fresh_store(OP_GET);
    pid_t w = start_writer(s, sh);
    pid_t xs[MAXW];
    for (int i = 0; i < n; i++)
        xs[i] = start_waiter(s, sh, i, (i & 3) == 3 ? OP_SET : OP_GET);
    mp_sleep_us(hold_ms * 1000);
    uint32_t idx = atomic_load(&sh->idx);
    CHECK(kwait_of(s, idx) == (uint32_t)n, "herd: %u sleepers counted, want %d", kwait_of(s, idx), n);
    kill(w, SIGCONT);
    if (mp_wait_all(&w, 1, "writer") || mp_wait_all(xs, (uint32_t)n, "waiter"))
        failures++;
    uint64_t t_commit = atomic_load(&sh->t_commit);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        res *r = &sh->r[i];
        char what[32];
        snprintf(what, sizeof what, "herd waiter %d", i);
        CHECK(r->rc == 0, "%s: returned %s", what, spl_err_name(r->rc));
        check_slept(what, r);
        double late = r->t_ret > t_commit ? (double)(r->t_ret - t_commit) / 1e6 : 0.0;
        if (late > worst)
            worst = late;
    }
    CHECK(worst < MAX_LATE_MS * 2, "herd: the last waiter returned %.2f ms after the commit", worst);
    CHECK(kwait_of(s, idx) == 0, "herd: %u sleepers still counted", kwait_of(s, idx));
    printf("%-24s %d waiters woken by one commit, the last %.3f ms after it\n", "herd", n, worst);
    spl_close(s);
}

/* A sleeper killed in its sleep: its count is taken back by the repair. */
static void reaped(sh_t *sh, uint64_t hold_ms)
{
    memset(sh, 0, sizeof *sh);
    spl_store *s = fresh_store(OP_GET);
    pid_t w = start_writer(s, sh);
    pid_t x = start_waiter(s, sh, 0, OP_GET);
    mp_sleep_us(hold_ms * 1000);
    uint32_t idx = atomic_load(&sh->idx);
    CHECK(kwait_of(s, idx) == 1, "reaped: %u sleepers counted, want 1", kwait_of(s, idx));
    kill(x, SIGKILL);
    waitpid(x, NULL, 0);
    CHECK(kwait_of(s, idx) == 1, "reaped: the dead sleeper's count went away by itself?");
    int swept = spl_signal_repair(s);
    CHECK(swept == 1, "reaped: spl_signal_repair swept %d records, want 1", swept);
    CHECK(kwait_of(s, idx) == 0, "reaped: %u sleepers counted after the repair", kwait_of(s, idx));
    kill(w, SIGCONT);
    if (mp_wait_all(&w, 1, "writer"))
        failures++;
    printf("%-24s a killed sleeper's count was taken back by spl_signal_repair\n", "reaped");
    spl_close(s);
}

/* A read-only handle waits without counting itself (it could not). */
static void rdonly(sh_t *sh)
{
    memset(sh, 0, sizeof *sh);
    spl_store *s = fresh_store(OP_GET);
    spl_store *ro = NULL;
    int rc = spl_open_fd(&ro, spl_fd(s), SPL_O_RDONLY);
    if (rc != 0)
        MP_DIE("spl_open_fd(read-only): %s", spl_err_name(rc));
    pid_t w = start_writer(s, sh);
    char buf[16];
    size_t len = 0;
    uint64_t t0 = mp_now_ns();
    rc = spl_get_wait(ro, KEY, buf, sizeof buf, &len, 50000);
    double ms = (double)(mp_now_ns() - t0) / 1e6;
    CHECK(rc == SPL_EAGAIN, "rdonly: spl_get_wait on a held slot returned %s", spl_err_name(rc));
    CHECK(ms >= 45 && ms < 1000, "rdonly: spl_get_wait(50 ms) returned after %.1f ms", ms);
    kill(w, SIGCONT);
    if (mp_wait_all(&w, 1, "writer"))
        failures++;
    rc = spl_get_wait(ro, KEY, buf, sizeof buf, &len, 50000);
    CHECK(rc == 0 && len == 3 && !memcmp(buf, "old", 3), "rdonly: after the commit: %s", spl_err_name(rc));
    printf("%-24s a read-only handle timed out (%.1f ms) without sleeping on the slot\n", "rdonly", ms);
    spl_close(ro);
    spl_close(s);
}

/* A sleeper woken but not running yet (stopped): the writer's further
 * commits of the slot do not ring the bell again. */
static void stale(sh_t *sh, uint64_t hold_ms)
{
    memset(sh, 0, sizeof *sh);
    spl_store *s = fresh_store(OP_GET);
    pid_t w = start_writer(s, sh);
    pid_t x = start_waiter(s, sh, 0, OP_GET);
    mp_sleep_us(hold_ms * 1000);
    uint32_t idx = atomic_load(&sh->idx);
    CHECK(kwait_of(s, idx) == 1, "stale: %u sleepers counted, want 1", kwait_of(s, idx));
    int st = 0;
    kill(x, SIGSTOP);
    if (waitpid(x, &st, WUNTRACED) != x || !WIFSTOPPED(st))
        MP_DIE("the waiter did not stop");
    uint32_t bell0 = atomic_load_explicit(SPL__A32(&s->sig->kbell), memory_order_seq_cst);
    atomic_store(&sh->w_more, STALE_SETS);
    kill(w, SIGCONT);
    if (mp_wait_all(&w, 1, "writer"))
        failures++;
    uint32_t rings = atomic_load_explicit(SPL__A32(&s->sig->kbell), memory_order_seq_cst) - bell0;
    CHECK(kwait_of(s, idx) == 1, "stale: the stopped sleeper is no longer counted");
    CHECK(rings <= 2, "stale: %d commits rang the key bell %u times while a woken sleeper could not run",
          STALE_SETS + 1, rings);
    kill(x, SIGCONT);
    if (mp_wait_all(&x, 1, "waiter"))
        failures++;
    CHECK(sh->r[0].rc == 0, "stale: the waiter returned %s", spl_err_name(sh->r[0].rc));
    CHECK(kwait_of(s, idx) == 0, "stale: %u sleepers still counted", kwait_of(s, idx));
    printf("%-24s %d commits with a woken sleeper not yet running rang the bell %u time(s)\n", "stale",
           STALE_SETS + 1, rings);
    spl_close(s);
}

int main(int argc, char **argv)
{
    uint64_t hold_ms = 200, rounds = 2, waiters = 8;
    const mp_opt opts[] = {{"--hold-ms", &hold_ms, NULL, NULL},
                           {"--rounds", &rounds, NULL, NULL},
                           {"--waiters", &waiters, NULL, NULL},
                           {NULL, NULL, NULL, NULL}};
    if (!mp_parse_args(argc, argv, opts, "[--hold-ms 200] [--rounds 2] [--waiters 8]"))
        return 2;
    if (waiters < 1 || waiters > MAXW || rounds < 1 || rounds > 16)
        MP_DIE("--waiters 1..%d, --rounds 1..16", MAXW);
    setvbuf(stdout, NULL, _IOLBF, 0);
    sh_t *sh = mp_shared_alloc(sizeof *sh);
    double lat[16 * OP_N];
    int nl = 0;
    for (uint64_t r = 0; r < rounds; r++)
        for (int op = 0; op < OP_N; op++)
            lat[nl++] = one_case(sh, (enum op)op, 0, hold_ms);
    qsort(lat, (size_t)nl, sizeof lat[0], cmp_double);
    double median = (lat[(nl - 1) / 2] + lat[nl / 2]) / 2;
    printf("commit -> return: median %.3f ms over %d cases (max %.3f ms)\n", median, nl, lat[nl - 1]);
    CHECK(median < MEDIAN_MS, "median commit -> return %.2f ms (want < %.0f ms)", median, MEDIAN_MS);
    for (int op = 0; op < OP_N; op++)
        one_case(sh, (enum op)op, 1, hold_ms);
    herd(sh, (int)waiters, hold_ms);
    reaped(sh, hold_ms);
    stale(sh, hold_ms);
    rdonly(sh);
    mp_shared_free(sh, sizeof *sh);
    if (failures) {
        printf("contend: %d checks failed\n", failures);
        return 1;
    }
    printf("contend: ok\n");
    return 0;
}
