/*
 * cli.c - spl_mirror_main: the command line of the mirror (program
 * splinter-mirror, mirror/main.c, and `splinterctl mirror`): mirror a store
 * to and from a NATS JetStream KV bucket (mirror/README.md), and its
 * benchmark (--bench).
 *
 * Exit status: 0 stopped by SIGINT/SIGTERM; 1 usage or bad option; 2 the
 * store cannot be opened; 3 the server refused (bucket, JetStream, auth,
 * TLS) or another fatal NATS error; 4 a store error while running.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "splinter_mirror.h"

static const char usage[] =
    "usage: splinter-mirror STORE --bucket B (--to URL | --from URL | both) [OPTIONS]\n"
    "       splinter-mirror --bench URL [--count N] [--lag N]\n"
    "\n"
    "Mirror a Splinter store (a name or a path) to and from a NATS JetStream\n"
    "key-value bucket.  --to publishes the store's changes to the bucket, --from\n"
    "applies the bucket's changes to the store; give both (same URL) to join\n"
    "machines: every machine ends with the value JetStream ordered last.\n"
    "\n"
    "  --to URL          publish to nats://HOST:PORT\n"
    "  --from URL        apply from nats://HOST:PORT\n"
    "  --bucket B        bucket name (A-Z a-z 0-9 _ -); created if absent\n"
    "  --prefix P        publish only keys starting with P\n"
    "  --label L         publish only keys carrying label bit L (0..63)\n"
    "  --group G         signal group the publisher follows (default 63)\n"
    "  --vectors         publish each key's vector with its value\n"
    "  --no-create       the bucket must exist\n"
    "  --history N       history of a bucket created here (default 1)\n"
    "  --max-value BYTES largest value of a bucket created here\n"
    "  --creds FILE      NATS credentials file (mode 0600)\n"
    "  --token-file FILE a file holding the token (mode 0600)\n"
    "  --tls             require TLS\n"
    "  --tls-ca FILE     CA certificates to verify the server\n"
    "  --tls-cert FILE   client certificate (with --tls-key FILE, mode 0600)\n"
    "  --backoff-min MS  reconnect/retry back-off, first step (default 100)\n"
    "  --backoff-max MS  reconnect/retry back-off, ceiling (default 5000)\n"
    "  --stats FILE      keep counters in FILE (key=value lines, every 100 ms)\n"
    "  --verbose         log every skipped entry\n"
    "\n"
    "Secrets are never taken as arguments: SPLINTER_MIRROR_CREDS and\n"
    "SPLINTER_MIRROR_TOKEN_FILE name the files when the options are absent.\n"
    "Exit: 0 stopped (SIGINT/SIGTERM), 1 bad usage, 2 store, 3 server refused, 4 store\n"
    "error while running.\n";

/* ------------------------------------------------------------ stats file */

static spl_mirror *g_m;
static volatile sig_atomic_t g_done;

static void on_signal(int sig)
{
    (void)sig;
    g_done = 1;
    if (g_m)
        spl_mirror_stop(g_m);
}

static void stats_text(const spl_mirror_stats *s, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "published=%llu\npublished_del=%llu\napplied=%llu\napplied_del=%llu\nsame=%llu\ndup=%llu\n"
             "skip_foreign=%llu\nskip_geometry=%llu\nskip_rejected=%llu\nretries=%llu\ninterfered=%llu\n"
             "rescans=%llu\noverflows=%llu\nreconnects=%llu\nwatch_restarts=%llu\nrev=%llu\n"
             "store_id=%016llx\nconnected=%u\nready=%u\n",
             (unsigned long long)s->published, (unsigned long long)s->published_del,
             (unsigned long long)s->applied, (unsigned long long)s->applied_del, (unsigned long long)s->same,
             (unsigned long long)s->dup, (unsigned long long)s->skip_foreign,
             (unsigned long long)s->skip_geometry, (unsigned long long)s->skip_rejected,
             (unsigned long long)s->retries, (unsigned long long)s->interfered, (unsigned long long)s->rescans,
             (unsigned long long)s->overflows, (unsigned long long)s->reconnects,
             (unsigned long long)s->watch_restarts, (unsigned long long)s->rev,
             (unsigned long long)s->store_id, s->connected, s->ready);
}

static void write_stats(const char *path)
{
    spl_mirror_stats st;
    spl_mirror_stats_get(g_m, &st);
    char buf[1024], tmp[4200];
    stats_text(&st, buf, sizeof buf);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return;
    size_t n = strlen(buf);
    int ok = write(fd, buf, n) == (ssize_t)n;
    close(fd);
    if (ok)
        rename(tmp, path);
    else
        unlink(tmp);
}

struct stats_thr {
    const char *path;
    volatile int quit;
};

static void *stats_main(void *arg)
{
    struct stats_thr *t = arg;
    while (!t->quit) {
        write_stats(t->path);
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ------------------------------------------------------------ bench */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct runner {
    spl_mirror *m;
    pthread_t t;
    int rc;
};

static void *run_main(void *arg)
{
    struct runner *r = arg;
    r->rc = spl_mirror_run(r->m);
    return NULL;
}

static spl_store *bench_store(uint32_t slots, uint32_t feed)
{
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD;
    o.geom.slots = slots;
    o.geom.val_max = 256;
    o.geom.vec_dim = 0;
    o.feed_len = feed;
    spl_store *s = NULL;
    int rc = spl_create(&s, "splinter-mirror-bench", &o);
    if (rc) {
        fprintf(stderr, "bench: spl_create: %s\n", spl_strerror(rc));
        exit(1);
    }
    return s;
}

static int wait_ready(spl_mirror *m, double secs)
{
    double end = now_s() + secs;
    spl_mirror_stats st;
    do {
        spl_mirror_stats_get(m, &st);
        if (st.ready)
            return 0;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    } while (now_s() < end);
    return -1;
}

static void drop_bucket(jsCtx *js, const char *b)
{
    js_DeleteKeyValue(js, b); /* absent is fine */
}

static int bench(const char *url, long count, long lagn)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, url);
    if (s != NATS_OK) {
        fprintf(stderr, "bench: connect %s: %s\n", url, natsStatus_GetText(s));
        return 3;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    natsConnection_JetStream(&js, nc, &jo);
    drop_bucket(js, "splbench_raw");
    drop_bucket(js, "splbench_m");
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = "splbench_raw";
    kc.History = 1;
    kc.StorageType = js_FileStorage;
    if ((s = js_CreateKeyValue(&kv, js, &kc)) != NATS_OK) {
        fprintf(stderr, "bench: bucket: %s\n", natsStatus_GetText(s));
        return 3;
    }
    char key[64], subj[96], val[64];
    memset(val, 'v', sizeof val);

    /* 1. the baseline: a plain libnats loop of KV puts, one at a time */
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        snprintf(key, sizeof key, "k%ld", i);
        if ((s = kvStore_Put(NULL, kv, key, val, sizeof val)) != NATS_OK) {
            fprintf(stderr, "bench: put: %s\n", natsStatus_GetText(s));
            return 3;
        }
    }
    double raw_sync = (double)count / (now_s() - t0);
    /* and pipelined (publishes to the bucket's subjects, acks awaited at the end) */
    t0 = now_s();
    for (long i = 0; i < count; i++) {
        snprintf(subj, sizeof subj, "$KV.splbench_raw.a%ld", i);
        if ((s = js_PublishAsync(js, subj, val, sizeof val, NULL)) != NATS_OK) {
            fprintf(stderr, "bench: publish: %s\n", natsStatus_GetText(s));
            return 3;
        }
    }
    js_PublishAsyncComplete(js, NULL);
    double raw_async = (double)count / (now_s() - t0);
    kvStore_Destroy(kv);

    /* 2. the mirror: store A -> bucket -> store B, two mirrors in this process */
    uint32_t feed = 1;
    while (feed < (uint64_t)count * 2 && feed < SPL_FEED_MAX)
        feed <<= 1;
    if (feed < SPL_FEED_MIN)
        feed = SPL_FEED_MIN;
    spl_store *a = bench_store((uint32_t)count + 1024, feed), *b = bench_store((uint32_t)count + 1024, feed);
    spl_mirror_opts o;
    spl_mirror_opts_init(&o);
    o.url = url;
    o.bucket = "splbench_m";
    struct runner ra = {0}, rb = {0};
    o.dirs = SPL_MIRROR_PUBLISH;
    if (spl_mirror_new(&ra.m, a, &o))
        return 1;
    o.dirs = SPL_MIRROR_APPLY;
    if (spl_mirror_new(&rb.m, b, &o))
        return 1;
    pthread_create(&ra.t, NULL, run_main, &ra);
    pthread_create(&rb.t, NULL, run_main, &rb);
    if (wait_ready(ra.m, 10) || wait_ready(rb.m, 10)) {
        fprintf(stderr, "bench: mirrors not ready\n");
        return 3;
    }
    spl_sub *sub = NULL;
    spl_bind(b, SPL_BIND_ALL, 1ull << 1);
    if (spl_sub_open(b, 1ull << 1, &sub)) {
        fprintf(stderr, "bench: spl_sub_open\n");
        return 4;
    }
    spl_mirror_stats st;
    t0 = now_s();
    for (long i = 0; i < count; i++) {
        snprintf(key, sizeof key, "b%ld", i);
        int rc = spl_set_wait(a, key, val, sizeof val, 1000000);
        if (rc) {
            fprintf(stderr, "bench: spl_set: %s\n", spl_strerror(rc));
            return 4;
        }
    }
    double t_written = now_s() - t0, t_acked = 0;
    for (;;) {
        spl_mirror_stats sa;
        spl_mirror_stats_get(ra.m, &sa);
        if (!t_acked && sa.published >= (uint64_t)count)
            t_acked = now_s() - t0;
        spl_mirror_stats_get(rb.m, &st);
        if (st.applied >= (uint64_t)count)
            break;
        if (now_s() - t0 > 120) {
            fprintf(stderr, "bench: only %llu of %ld arrived\n", (unsigned long long)st.applied, count);
            return 4;
        }
        uint64_t fired;
        spl_sub_wait(sub, 100 * 1000000ll, &fired);
        spl_event ev;
        char kb[80];
        while (spl_sub_next(sub, &ev, kb, sizeof kb) != SPL_ENOENT)
            ;
    }
    double t_applied = now_s() - t0;
    double mirror_rate = (double)count / t_applied;
    if (!t_acked)
        t_acked = t_applied;

    /* 3. the lag: spl_set on A until the value is readable on B */
    double *lag = calloc((size_t)lagn, sizeof *lag);
    for (long i = 0; i < lagn; i++) {
        uint64_t v = (uint64_t)i + 1, got = 0;
        size_t len;
        double t = now_s();
        spl_set_wait(a, "lag", &v, sizeof v, 1000000);
        while (got != v) {
            uint64_t fired;
            if (spl_get(b, "lag", &got, sizeof got, &len) == 0 && got == v)
                break;
            if (now_s() - t > 10) {
                fprintf(stderr, "bench: lag sample %ld never arrived\n", i);
                return 4;
            }
            spl_sub_wait(sub, 10 * 1000000ll, &fired);
            spl_event ev;
            char kb[80];
            while (spl_sub_next(sub, &ev, kb, sizeof kb) != SPL_ENOENT)
                ;
        }
        lag[i] = now_s() - t;
    }
    qsort(lag, (size_t)lagn, sizeof *lag, cmp_dbl);
    double p50 = lagn ? lag[lagn / 2] : 0, p99 = lagn ? lag[(lagn * 99) / 100 < lagn ? (lagn * 99) / 100 : lagn - 1] : 0;

    spl_mirror_stop(ra.m);
    spl_mirror_stop(rb.m);
    pthread_join(ra.t, NULL);
    pthread_join(rb.t, NULL);
    spl_mirror_stats_get(ra.m, &st);
    printf("splinter-mirror bench, %s, %ld changes of %zu-byte values, loopback\n", url, count, sizeof val);
    printf("  raw JetStream KV puts (kvStore_Put loop, one at a time): %10.0f puts/s\n", raw_sync);
    printf("  raw JetStream publishes (js_PublishAsync, pipelined):     %10.0f puts/s\n", raw_async);
    printf("  mirror end to end (spl_set on A -> bucket -> store B):    %10.0f changes/s"
           "  (%.0f%% of the kvStore_Put loop, %.0f%% of the pipelined one)\n",
           mirror_rate, 100.0 * mirror_rate / raw_sync, 100.0 * mirror_rate / raw_async);
    printf("    A written in %.3f s, all put and acknowledged at %.3f s (%.0f puts/s), all applied on B "
           "at %.3f s; %llu rescans\n",
           t_written, t_acked, (double)count / t_acked, t_applied, (unsigned long long)st.rescans);
    printf("  lag spl_set on A -> readable on B (%ld samples):          p50 %.0f us, p99 %.0f us\n", lagn,
           p50 * 1e6, p99 * 1e6);
    spl_sub_close(sub);
    spl_mirror_free(ra.m);
    spl_mirror_free(rb.m);
    spl_close(a);
    spl_close(b);
    drop_bucket(js, "splbench_raw");
    drop_bucket(js, "splbench_m");
    free(lag);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

/* ------------------------------------------------------------ main */

enum {
    O_TO = 256, O_FROM, O_BUCKET, O_PREFIX, O_LABEL, O_GROUP, O_VECTORS, O_NOCREATE, O_HISTORY,
    O_MAXVAL, O_CREDS, O_TOKENFILE, O_TLS, O_TLSCA, O_TLSCERT, O_TLSKEY, O_BMIN, O_BMAX, O_STATS,
    O_VERBOSE, O_BENCH, O_COUNT, O_LAG, O_SECRET, O_HELP
};

static long num(const char *opt, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < lo || n > hi) {
        fprintf(stderr, "splinter-mirror: %s: %s is not a number in %ld..%ld\n", opt, v, lo, hi);
        exit(1);
    }
    return n;
}

int spl_mirror_main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"to", 1, 0, O_TO},           {"from", 1, 0, O_FROM},         {"bucket", 1, 0, O_BUCKET},
        {"prefix", 1, 0, O_PREFIX},   {"label", 1, 0, O_LABEL},       {"group", 1, 0, O_GROUP},
        {"vectors", 0, 0, O_VECTORS}, {"no-create", 0, 0, O_NOCREATE}, {"history", 1, 0, O_HISTORY},
        {"max-value", 1, 0, O_MAXVAL}, {"creds", 1, 0, O_CREDS},      {"token-file", 1, 0, O_TOKENFILE},
        {"tls", 0, 0, O_TLS},         {"tls-ca", 1, 0, O_TLSCA},      {"tls-cert", 1, 0, O_TLSCERT},
        {"tls-key", 1, 0, O_TLSKEY},  {"backoff-min", 1, 0, O_BMIN},  {"backoff-max", 1, 0, O_BMAX},
        {"stats", 1, 0, O_STATS},     {"verbose", 0, 0, O_VERBOSE},   {"bench", 1, 0, O_BENCH},
        {"count", 1, 0, O_COUNT},     {"lag", 1, 0, O_LAG},           {"token", 1, 0, O_SECRET},
        {"password", 1, 0, O_SECRET}, {"user", 1, 0, O_SECRET},       {"help", 0, 0, O_HELP},
        {0, 0, 0, 0}};
    spl_mirror_opts o;
    spl_mirror_opts_init(&o);
    const char *to = NULL, *from = NULL, *stats = NULL, *bench_url = NULL;
    long count = 20000, lagn = 1000;
    int c;
    optind = 0; /* GNU: start afresh (the caller may have parsed its own options) */
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_TO: to = optarg; break;
        case O_FROM: from = optarg; break;
        case O_BUCKET: o.bucket = optarg; break;
        case O_PREFIX: o.prefix = optarg; break;
        case O_LABEL: o.label = (int)num("--label", optarg, 0, 63); break;
        case O_GROUP: o.group = (int)num("--group", optarg, 0, 63); break;
        case O_VECTORS: o.vectors = 1; break;
        case O_NOCREATE: o.no_create = 1; break;
        case O_HISTORY: o.history = (uint32_t)num("--history", optarg, 1, 64); break;
        case O_MAXVAL: o.max_value = num("--max-value", optarg, 1, 1L << 30); break;
        case O_CREDS: o.creds_file = optarg; break;
        case O_TOKENFILE: o.token_file = optarg; break;
        case O_TLS: o.tls = 1; break;
        case O_TLSCA: o.tls_ca = optarg; break;
        case O_TLSCERT: o.tls_cert = optarg; break;
        case O_TLSKEY: o.tls_key = optarg; break;
        case O_BMIN: o.backoff_min_ms = (uint32_t)num("--backoff-min", optarg, 1, 600000); break;
        case O_BMAX: o.backoff_max_ms = (uint32_t)num("--backoff-max", optarg, 1, 600000); break;
        case O_STATS: stats = optarg; break;
        case O_VERBOSE: o.verbose = 1; break;
        case O_BENCH: bench_url = optarg; break;
        case O_COUNT: count = num("--count", optarg, 1, 10000000); break;
        case O_LAG: lagn = num("--lag", optarg, 1, 1000000); break;
        case O_SECRET:
            fprintf(stderr, "splinter-mirror: secrets are never taken on the command line (they would show "
                            "in the process list): use --token-file or --creds\n");
            return 1;
        case 'h':
        case O_HELP: fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 1;
        }
    }
    if (bench_url) {
        if (optind != argc) {
            fputs(usage, stderr);
            return 1;
        }
        return bench(bench_url, count, lagn);
    }
    if (optind + 1 != argc || (!to && !from)) {
        fputs(usage, stderr);
        return 1;
    }
    if (to && from && strcmp(to, from) != 0) {
        fprintf(stderr, "splinter-mirror: --to and --from name different servers: run one mirror for "
                        "each\n");
        return 1;
    }
    o.url = to ? to : from;
    o.dirs = (to ? SPL_MIRROR_PUBLISH : 0) | (from ? SPL_MIRROR_APPLY : 0);
    if (!o.creds_file)
        o.creds_file = getenv("SPLINTER_MIRROR_CREDS");
    if (!o.token_file)
        o.token_file = getenv("SPLINTER_MIRROR_TOKEN_FILE");

    spl_store *s = NULL;
    int rc = spl_open(&s, argv[optind], NULL);
    if (rc) {
        fprintf(stderr, "splinter-mirror: %s: %s (%s)\n", argv[optind], spl_strerror(rc), spl_err_name(rc));
        return 2;
    }
    rc = spl_mirror_new(&g_m, s, &o);
    if (rc) {
        spl_close(s);
        return rc == SPL_MIRROR_ECONFIG ? 1 : 2;
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    signal(SIGPIPE, SIG_IGN); /* left so: TLS may write to a closed socket even in nats_Close */
    struct stats_thr stt = {stats, 0};
    pthread_t sth;
    if (stats)
        pthread_create(&sth, NULL, stats_main, &stt);
    spl_mirror *m = g_m;
    rc = spl_mirror_run(g_m);
    if (stats) {
        stt.quit = 1;
        pthread_join(sth, NULL);
        write_stats(stats);
    }
    spl_mirror_stats st;
    spl_mirror_stats_get(g_m, &st);
    char buf[1024];
    stats_text(&st, buf, sizeof buf);
    for (char *p = buf; (p = strchr(p, '\n'));)
        *p = ' ';
    int status = 0;
    if (rc) {
        fprintf(stderr, "splinter-mirror: %s\n", spl_mirror_errmsg(g_m));
        status = rc == SPL_MIRROR_ECONFIG ? 1 : rc <= SPL_MIRROR_ENATS && rc >= SPL_MIRROR_ECONFIG ? 3 : 4;
    }
    fprintf(stderr, "splinter-mirror: stopped: %s\n", buf);
    /* the caller (splinterctl's REPL) may go on: its handlers back */
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    g_m = NULL;
    spl_mirror_free(m);
    g_done = 0;
    spl_close(s);
    nats_Close();
    return status;
}
