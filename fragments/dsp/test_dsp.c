/*
 * test_dsp.c - the DSP fragment against a reference computation.
 *
 * Two instances run in host processes of their own (low-pass and
 * high-pass, different windows and alphas) over keys sensor.0..5 holding
 * int64, decimal text and binary float64 values.  Random sequences are
 * written one round at a time; after each round every derived key of both
 * instances is compared with a reference written here independently (the
 * window from the full history, the filter from its difference equation).
 * Then the low-pass host is killed with SIGKILL, samples are written, a key
 * is created and one deleted while it is down, and it is registered again:
 * its state survived (the counts go on) and the resync caught up.
 *
 *   test_dsp BUILD_DIR [--rounds N] [--seed S]
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>

#include "layout.h"
#include "splinter.h"

#define KEYS    6
#define MAXHIST 4096

static int failures, checks;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        checks++;                                                                                 \
        if (!(cond)) {                                                                            \
            if (failures++ < 20) {                                                                \
                fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                   \
                fprintf(stderr, __VA_ARGS__);                                                     \
                fprintf(stderr, "\n");                                                            \
            }                                                                                     \
        }                                                                                         \
    } while (0)

struct inst {
    const char *name, *out, *filter;
    unsigned window;
    double alpha, cutoff, rate, q;
};

static const struct inst INST[2] = {
    {"dsp", "dsp.", "lowpass", 8, 0.25, 1.5, 10, 0.70710678118654752},
    {"dsphp", "hp.", "highpass", 5, 0.5, 2, 20, 0.9},
};

/* ---- reference ----------------------------------------------------------- */

struct series {
    double x[MAXHIST];
    uint64_t t[MAXHIST];
    int n;
};

struct ref_out {
    double ema, mean, var, min, max, filt, rate;
};

static void reference(const struct inst *in, const struct series *h, struct ref_out *o)
{
    /* EMA and rate, sample by sample */
    double ema = h->x[0], rate = 0;
    for (int i = 1; i < h->n; i++) {
        ema = in->alpha * h->x[i] + (1 - in->alpha) * ema;
        if (h->t[i] > h->t[i - 1])
            rate = (h->x[i] - h->x[i - 1]) / ((double)(h->t[i] - h->t[i - 1]) / 1e9);
    }
    /* window: the last W samples of the history, oldest first */
    int from = h->n > (int)in->window ? h->n - (int)in->window : 0, m = h->n - from;
    double sum = 0, mn = INFINITY, mx = -INFINITY;
    for (int i = from; i < h->n; i++) {
        sum += h->x[i];
        mn = fmin(mn, h->x[i]);
        mx = fmax(mx, h->x[i]);
    }
    double mean = sum / m, var = 0;
    for (int i = from; i < h->n; i++)
        var += (h->x[i] - mean) * (h->x[i] - mean);
    /* biquad (RBJ): y[n] = (b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2]) / a0,
     * with x[-1] = x[-2] = x[0] and y[-1] = y[-2] = x[0] (low-pass) or 0 */
    double w = 2 * M_PI * in->cutoff / in->rate, c = cos(w), al = sin(w) / (2 * in->q);
    int hp = strcmp(in->filter, "highpass") == 0;
    double b0 = hp ? (1 + c) / 2 : (1 - c) / 2, b1 = hp ? -(1 + c) : 1 - c, b2 = b0;
    double a0 = 1 + al, a1 = -2 * c, a2 = 1 - al;
    double x1 = h->x[0], x2 = h->x[0], y1 = hp ? 0 : h->x[0], y2 = y1, y = 0;
    for (int i = 0; i < h->n; i++) {
        y = (b0 / a0) * h->x[i] + (b1 / a0) * x1 + (b2 / a0) * x2 - (a1 / a0) * y1 - (a2 / a0) * y2;
        x2 = x1, x1 = h->x[i], y2 = y1, y1 = y;
    }
    *o = (struct ref_out){ema, mean, var / m, mn, mx, y, rate};
}

/* ---- the store side ------------------------------------------------------------- */

#include "../../tests/frag/hosts.h" /* track, kill_hosts, now_ms */

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int key_kind(int k) { return k % 3; } /* 0 int64, 1 text, 2 binary float64 */

/* Write one random sample to key; returns the number it holds. */
static double write_sample(spl_store *s, const char *key, int kind, int create, uint64_t *mtime)
{
    double x;
    int rc;
    if (kind == 0) {
        int64_t v = (int64_t)(next() % 2000001) - 1000000;
        rc = spl_set_wait(s, key, &v, 8, 1000000);
        if (create && rc == 0)
            rc = spl_type_set(s, key, SPL_T_INT64);
        x = (double)v;
    } else if (kind == 1) {
        char txt[32];
        double v = (double)(int64_t)(next() % 2000001 - 1000000) / 1000.0;
        int n = snprintf(txt, sizeof txt, "%.3f", v);
        rc = spl_set_wait(s, key, txt, (size_t)n, 1000000);
        x = strtod(txt, NULL);
    } else {
        double v = ((double)(next() >> 11) / 9007199254740992.0 - 0.5) * 2e3;
        rc = spl_set_wait(s, key, &v, 8, 1000000);
        if (create && rc == 0)
            rc = spl_type_set(s, key, SPL_T_BINARY);
        x = v;
    }
    spl_meta m;
    if (rc || spl_meta_get(s, key, &m) != 0) {
        fprintf(stderr, "write %s: %s\n", key, spl_strerror(rc));
        exit(2);
    }
    *mtime = m.mtime_ns;
    return x;
}

/* Wait until OUT KEY.state moved past *epoch (0: until it exists). */
static int wait_state(spl_store *s, const char *out, const char *key, uint64_t *epoch)
{
    char sk[128];
    snprintf(sk, sizeof sk, "%s%s.state", out, key);
    uint64_t end = now_ms() + 20000;
    while (now_ms() < end) {
        spl_meta m;
        int rc = spl_meta_get(s, sk, &m);
        if (rc == 0 && m.epoch > *epoch) {
            *epoch = m.epoch;
            return 0;
        }
        if (rc == 0) {
            uint64_t e2;
            spl_key_wait(s, sk, m.epoch, 200000000ll, &e2);
        } else {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    fprintf(stderr, "timed out waiting for %s\n", sk);
    return -1;
}

static double get_num(spl_store *s, const char *out, const char *key, const char *what)
{
    char k[128], v[64];
    size_t n = 0;
    snprintf(k, sizeof k, "%s%s.%s", out, key, what);
    if (spl_get_wait(s, k, v, sizeof v - 1, &n, 1000000) != 0)
        return NAN;
    v[n] = 0;
    return strtod(v, NULL);
}

static int close_enough(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1, fmax(fabs(a), fabs(b)));
}

static int compare(spl_store *s, const struct inst *in, const char *key, const struct series *h)
{
    struct ref_out r;
    reference(in, h, &r);
    const char *names[] = {"ema", "mean", "var", "min", "max", strcmp(in->filter, "highpass") ? "lp" : "hp", "rate"};
    const double want[] = {r.ema, r.mean, r.var, r.min, r.max, r.filt, r.rate};
    int bad = 0;
    for (int i = 0; i < 7; i++) {
        double got = get_num(s, in->out, key, names[i]);
        if (!close_enough(got, want[i])) {
            bad++;
            CHECK(0, "%s %s%s.%s after %d samples: %.17g, reference %.17g", in->name, in->out, key, names[i],
                  h->n, got, want[i]);
        }
    }
    checks++;
    return bad;
}

static int start(spl_store *s, const char *lib, const struct inst *in)
{
    char a[8][64];
    snprintf(a[0], 64, "glob=sensor.*");
    snprintf(a[1], 64, "out=%s", in->out);
    snprintf(a[2], 64, "filter=%s", in->filter);
    snprintf(a[3], 64, "window=%u", in->window);
    snprintf(a[4], 64, "alpha=%.17g", in->alpha);
    snprintf(a[5], 64, "cutoff=%.17g", in->cutoff);
    snprintf(a[6], 64, "rate=%.17g", in->rate);
    snprintf(a[7], 64, "q=%.17g", in->q);
    const char *argv[8];
    for (int i = 0; i < 8; i++)
        argv[i] = a[i];
    int rc = spl_frag_register(s, lib, in->name, 8, argv, 0, NULL, 0);
    if (rc) {
        fprintf(stderr, "register %s: %s: %s\n", in->name, spl_err_name(rc), spl_frag_errmsg());
        return rc;
    }
    spl_host_opts ho = {SPL_HOST_OPTS_VERSION, 0, in->name, -1};
    int pid = track(spl_host_spawn(s, &ho));
    spl_frag_info fi;
    rc = spl_frag_wait(s, in->name, 1u << SPL_FRAG_RUNNING | 1u << SPL_FRAG_FAILED, 20000000000ll, &fi);
    if (rc || fi.state != SPL_FRAG_RUNNING) {
        fprintf(stderr, "start %s: %s %s\n", in->name, spl_err_name(rc), fi.errmsg);
        return -1;
    }
    return pid;
}

/* Whether process pid is stopped (state T in /proc), within 5 s: a
 * SIGSTOP takes effect a moment after kill returns. */
static int stopped(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int t = 0; t < 1000; t++) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = 0;
        const char *p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
        if (p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't'))
            return 1;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* The "resyncs" count of instance name's stats. */
static long resyncs_of(spl_store *s, const char *name)
{
    char rep[2048];
    const char *sv[] = {"stats"};
    if (spl_frag_call(s, name, 1, sv, rep, sizeof rep, NULL, 5000000000ll) != 0)
        return -1;
    const char *p = strstr(rep, "\"resyncs\":");
    return p ? strtol(p + 10, NULL, 10) : -1;
}

/* A sample whose key a writer still holds when the instance gets to its
 * event: the instance (its host stopped while the sample is written and
 * the slot taken, then resumed) waits for the writer asleep on the slot
 * and takes the sample once the writer commits 100 ms later, with no
 * resync (a resync re-reads every key followed: before, the event's key
 * could not be read, the event was UNKNOWN, and the host resynced).
 * dead: the writer died in the slot; the host recovers it (the value from
 * before that write) and takes the sample, again with no resync. */
static void busy_key(spl_store *s, pid_t host, const char *key, struct series *hk, uint64_t *ep, int dead)
{
    long r0 = resyncs_of(s, "dsp");
    CHECK(r0 >= 0, "dsp stats");
    CHECK(kill(host, SIGSTOP) == 0, "SIGSTOP the host");
    CHECK(stopped(host), "the host stopped");
    hk->x[hk->n] = write_sample(s, key, key_kind(0), 0, &hk->t[hk->n]);
    hk->n++;
    spl_info inf;
    spl_meta m;
    CHECK(spl_info_get(s, &inf) == 0 && spl_meta_get(s, key, &m) == 0, "info, meta");
    uint8_t *map = mmap(NULL, (size_t)inf.region_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, spl_fd(s), 0);
    CHECK(map != MAP_FAILED, "mmap");
    if (map == MAP_FAILED)
        return;
    const struct spl_header *hd = (const void *)map;
    struct spl_slot *sl = (struct spl_slot *)(void *)(map + hd->slots_off + (size_t)m.slot * hd->slot_stride);
    CHECK(__atomic_load_n(&sl->epoch, __ATOMIC_SEQ_CST) == m.epoch, "the key's slot");
    /* a process in the middle of a write: a live one (our parent), or one
     * that died there (a child of ours, exited and reaped) */
    pid_t owner = getppid();
    if (dead) {
        owner = fork();
        if (owner == 0)
            _exit(0);
        CHECK(owner > 0 && waitpid(owner, NULL, 0) == owner, "a dead process");
    }
    __atomic_store_n(&sl->owner, (uint64_t)(uint32_t)owner << 32, __ATOMIC_SEQ_CST);
    __atomic_store_n(&sl->epoch, m.epoch + 1, __ATOMIC_SEQ_CST);
    CHECK(kill(host, SIGCONT) == 0, "SIGCONT the host");
    if (!dead) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        __atomic_store_n(&sl->epoch, m.epoch + 2, __ATOMIC_SEQ_CST); /* the commit, value unchanged */
        __atomic_store_n(&sl->owner, 0, __ATOMIC_SEQ_CST);
    } /* else the host finds the writer dead and recovers the slot */
    munmap(map, (size_t)inf.region_bytes);
    CHECK(wait_state(s, INST[0].out, key, ep) == 0, "the sample was taken");
    compare(s, &INST[0], key, hk);
    long r1 = resyncs_of(s, "dsp");
    CHECK(r1 == r0, "resyncs went %ld -> %ld: the busy key was not waited for", r0, r1);
    printf("%s - a key held by a %s: waited for, no resync (%ld)\n", failures ? "not ok" : "ok",
           dead ? "writer that died in the slot" : "writer for 100 ms", r1);
}

int main(int argc, char **argv)
{
    const char *b = argc > 1 ? argv[1] : "build";
    int rounds = 40;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seed") == 0)
            rng = strtoull(argv[i + 1], NULL, 0) | 1;
    }
    if (rounds < 1 || rounds > MAXHIST - 8)
        return 2;
    char p[4096], lib[4096];
    snprintf(p, sizeof p, "%s/fragments/dsp.so", b);
    if (spl_frag_find(p, NULL, lib, sizeof lib) != 0) {
        fprintf(stderr, "%s: %s\n", p, spl_frag_errmsg());
        return 2;
    }
    char dir[] = "/tmp/spl-dsp-XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    atexit(kill_hosts);
    setenv("SPLINTER_SHM_DIR", dir, 1);
    spl_options o;
    spl_options_init(&o);
    o.geom = (spl_geometry){2048, 64, 4096, 0};
    o.feed_len = 4096;
    spl_store *s;
    if (spl_create(&s, "dsp", &o) != 0)
        return 2;
    int pid0 = start(s, lib, &INST[0]), pid1 = start(s, lib, &INST[1]);
    if (pid0 <= 0 || pid1 <= 0)
        return 1;
    static struct series h[KEYS + 1];
    uint64_t ep[2][KEYS + 1] = {{0}};
    char keys[KEYS + 1][32];
    for (int k = 0; k <= KEYS; k++)
        snprintf(keys[k], sizeof keys[k], k < KEYS ? "sensor.%d" : "sensor.new", k);
    spl_set(s, "other.x", "5", 1); /* does not match the glob */
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < KEYS; k++) {
            struct series *hk = &h[k];
            hk->x[hk->n] = write_sample(s, keys[k], key_kind(k), r == 0, &hk->t[hk->n]);
            hk->n++;
        }
        for (int k = 0; k < KEYS; k++)
            for (int i = 0; i < 2; i++)
                if (wait_state(s, INST[i].out, keys[k], &ep[i][k]) != 0)
                    return 1;
        for (int k = 0; k < KEYS; k++)
            for (int i = 0; i < 2; i++)
                compare(s, &INST[i], keys[k], &h[k]);
    }
    printf("%s - %d rounds x %d keys x 2 instances: every derived value equals the reference\n",
           failures ? "not ok" : "ok", rounds, KEYS);

    /* the low-pass host dies; samples arrive, a key comes, one goes */
    kill(pid0, SIGKILL);
    for (int t = 0; t < 400; t++) {
        spl_frag_info fi;
        if (spl_frag_get(s, "dsp", &fi) == 0 && fi.state == SPL_FRAG_DEAD)
            break;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    spl_frag_info fi;
    CHECK(spl_frag_get(s, "dsp", &fi) == 0 && fi.state == SPL_FRAG_DEAD, "dsp is dead after SIGKILL");
    for (int k = 0; k <= KEYS; k++) {
        if (k == KEYS - 1)
            continue; /* deleted below */
        struct series *hk = &h[k];
        hk->x[hk->n] = write_sample(s, keys[k], key_kind(k), k == KEYS, &hk->t[hk->n]);
        hk->n++;
    }
    CHECK(spl_unset(s, keys[KEYS - 1]) == 0, "unset");
    pid0 = start(s, lib, &INST[0]); /* registered again: resync */
    CHECK(pid0 > 0, "restart");
    for (int k = 0; k <= KEYS; k++)
        for (int i = 0; i < 2; i++)
            if (k != KEYS - 1 && wait_state(s, INST[i].out, keys[k], &ep[i][k]) != 0)
                return 1;
    for (int k = 0; k <= KEYS; k++)
        for (int i = 0; i < 2 && k != KEYS - 1; i++)
            compare(s, &INST[i], keys[k], &h[k]);
    /* the deleted key's derived keys go (the dead instance: by its resync) */
    for (int i = 0; i < 2; i++) {
        char sk[64];
        snprintf(sk, sizeof sk, "%s%s.state", INST[i].out, keys[KEYS - 1]);
        int gone = 0;
        for (int t = 0; t < 400 && !gone; t++) {
            gone = spl_exists(s, sk) == 0;
            if (!gone) {
                struct timespec ts = {0, 5000000};
                nanosleep(&ts, NULL);
            }
        }
        CHECK(gone, "%s removed", sk);
    }
    CHECK(spl_exists(s, "dsp.other.x.ema") == 0, "a key outside the glob has no derived keys");
    /* commands: the count went on across the restart */
    char rep[2048], want[64];
    const char *av[] = {"get", "sensor.0"};
    CHECK(spl_frag_call(s, "dsp", 2, av, rep, sizeof rep, NULL, 5000000000ll) == 0, "dsp get");
    snprintf(want, sizeof want, "\"count\":%d,", rounds + 1);
    CHECK(strstr(rep, want) != NULL, "get sensor.0: %s (want %s)", rep, want);
    const char *sv[] = {"stats"};
    CHECK(spl_frag_call(s, "dsp", 1, sv, rep, sizeof rep, NULL, 5000000000ll) == 0, "dsp stats");
    CHECK(strstr(rep, "\"window\":8") && strstr(rep, "\"filter\":\"lowpass\""), "stats: %s", rep);
    printf("%s - killed and registered again: state survived, resync caught up (%s)\n",
           failures ? "not ok" : "ok", rep);
    busy_key(s, pid0, keys[0], &h[0], &ep[0][0], 0);
    busy_key(s, pid0, keys[0], &h[0], &ep[0][0], 1);
    CHECK(spl_frag_unregister(s, "dsp", 5000000000ll) == 0, "rmmod dsp");
    CHECK(spl_frag_unregister(s, "dsphp", 5000000000ll) == 0, "rmmod dsphp");
    spl_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("test_dsp: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
