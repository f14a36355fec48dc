/*
 * cmd_perf.c - bench (a quick benchmark of this store) and top (a live
 * view of its activity).
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int opt_u64(cli_ctx *c, const char *name, const char *v, uint64_t lo, uint64_t hi,
                   uint64_t *out)
{
    if (cli_parse_u64(v, out) != 0 || *out < lo || *out > hi)
        return cli_usage(c, "bad %s '%s' (%" PRIu64 "..%" PRIu64 ")", name, v, lo, hi);
    return CLI_OK;
}

/* ---------------------------------------------------------------- bench */

static void bench_key(char *k, size_t cap, uint64_t i)
{
    snprintf(k, cap, "~b%" PRIx64, i); /* short: fits small key_max */
}

/* The bench runs on a store of its own, never the user's (a full store
 * would fail it, and its keys would churn the user's slots and feed): an
 * anonymous memfd with the user's store's key size, values of --size bytes
 * and twice as many slots as keys, gone when closed. */
static int bench_store(cli_ctx *c, uint64_t nkeys, uint64_t size, spl_store **out)
{
    spl_info in;
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD;
    o.geom.key_max = spl_info_get(c->s, &in) == 0 && in.geom.key_max >= 8 ? in.geom.key_max : 16;
    o.geom.val_max = size < 8 ? 8 : (uint32_t)size;
    o.geom.slots = nkeys < 32 ? 64 : (uint32_t)(2 * nkeys);
    o.geom.vec_dim = 0;
    o.feed_len = SPL_FEED_MIN;
    int rc = spl_create(out, "splinterctl-bench", &o);
    if (rc < 0)
        return cli_fail_spl(c, rc, "bench: temporary store");
    return CLI_OK;
}

int cmd_bench(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"ops", required_argument, 0, 'n'},
                                       {"keys", required_argument, 0, 'k'},
                                       {"size", required_argument, 0, 'z'},
                                       {0, 0, 0, 0}};
    uint64_t ops = 100000, nkeys = 1000, size = 64;
    int ch, rc;
    while ((ch = getopt_long(argc, argv, "n:k:z:", lo, NULL)) != -1) {
        if (ch == 'n') rc = opt_u64(c, "--ops", optarg, 1, 1000000000, &ops);
        else if (ch == 'k') rc = opt_u64(c, "--keys", optarg, 1, 1000000, &nkeys);
        else if (ch == 'z') rc = opt_u64(c, "--size", optarg, 0, SPL_VAL_MAX_LIMIT, &size);
        else rc = cli_usage(c, "unknown or incomplete option '%s'", argv[optind - 1]);
        if (rc != CLI_OK)
            return rc;
    }
    if (optind != argc)
        return cli_usage(c, "bench takes no arguments");
    if (size > cli_val_max(c))
        return cli_usage(c, "--size %" PRIu64 " exceeds the store's value size %zu", size,
                         cli_val_max(c));
    if (nkeys * (size < 8 ? 8 : size) > (1ull << 30))
        return cli_usage(c, "--keys %" PRIu64 " of --size %" PRIu64 " need more than 1 GiB",
                         nkeys, size);
    char *val = calloc(1, size + 1), *buf = malloc(size + 1), key[128];
    if (!val || !buf) {
        free(val);
        free(buf);
        return cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
    }
    spl_store *s = NULL;
    if ((rc = bench_store(c, nkeys, size, &s)) != CLI_OK) {
        free(val);
        free(buf);
        return rc;
    }
    memset(val, 'x', size);
    uint64_t done_set = 0, done_get = 0, t0, t_set, t_get;
    size_t len;
    rc = 0;
    t0 = mono_ns();
    for (uint64_t i = 0; i < ops && rc == 0; i++) {
        bench_key(key, sizeof key, i % nkeys);
        rc = spl_set_wait(s, key, val, size, cli_wait_us(c));
        done_set += rc == 0;
    }
    t_set = mono_ns() - t0;
    t0 = mono_ns();
    for (uint64_t i = 0; i < ops && rc == 0; i++) {
        bench_key(key, sizeof key, i % nkeys);
        rc = spl_get_wait(s, key, buf, size + 1, &len, cli_wait_us(c));
        done_get += rc == 0;
    }
    t_get = mono_ns() - t0;
    spl_close(s); /* the memfd's last reference: its memory goes */
    free(val);
    free(buf);
    if (rc < 0)
        return cli_fail_spl(c, rc, "bench");
    double set_s = t_set / 1e9, get_s = t_get / 1e9;
    double set_ops = done_set / (set_s > 0 ? set_s : 1e-9), get_ops = done_get / (get_s > 0 ? get_s : 1e-9);
    if (c->json)
        cli_json_out(c, json_pack("{s:I, s:I, s:I, s:{s:I, s:f, s:f}, s:{s:I, s:f, s:f}}",
                                  "ops", (json_int_t)ops, "keys", (json_int_t)nkeys, "size",
                                  (json_int_t)size, "set", "done", (json_int_t)done_set,
                                  "ops_per_s", set_ops, "ns_per_op", t_set / (double)done_set,
                                  "get", "done", (json_int_t)done_get, "ops_per_s", get_ops,
                                  "ns_per_op", t_get / (double)done_get));
    else
        cli_printf(c,
                   "%" PRIu64 " ops per phase, %" PRIu64 " keys, %" PRIu64 "-byte values\n"
                   "set  %12.0f ops/s  %8.1f ns/op\n"
                   "get  %12.0f ops/s  %8.1f ns/op\n",
                   ops, nkeys, size, set_ops, t_set / (double)done_set, get_ops,
                   t_get / (double)done_get);
    return CLI_OK;
}

/* ---------------------------------------------------------------- top */

struct sample_key {
    char *key;
    uint64_t epoch;
    uint64_t delta; /* changes since the previous sample */
};

struct sample {
    struct sample_key *k;
    size_t n, cap;
};

static int sample_one(const spl_entry *e, void *ud)
{
    struct sample *s = ud;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct sample_key *k = realloc(s->k, cap * sizeof *k);
        if (!k)
            return SPL_ENOMEM;
        s->k = k;
        s->cap = cap;
    }
    s->k[s->n].key = strdup(e->key);
    if (!s->k[s->n].key)
        return SPL_ENOMEM;
    s->k[s->n].epoch = e->meta.epoch;
    s->k[s->n].delta = 0;
    s->n++;
    return 0;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct sample_key *)a)->key, ((const struct sample_key *)b)->key);
}

static int by_delta(const void *a, const void *b)
{
    uint64_t x = ((const struct sample_key *)a)->delta, y = ((const struct sample_key *)b)->delta;
    return x < y ? 1 : x > y ? -1 : by_key(a, b);
}

static void sample_free(struct sample *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->k[i].key);
    free(s->k);
    memset(s, 0, sizeof *s);
}

static int take_sample(cli_ctx *c, struct sample *s, spl_info *in)
{
    int rc = spl_info_get(c->s, in);
    if (rc == 0)
        rc = spl_foreach(c->s, NULL, sample_one, s);
    if (rc == 0 && s->n)
        qsort(s->k, s->n, sizeof *s->k, by_key);
    return rc < 0 ? rc : 0;
}

/* Epoch deltas against the previous sample (a key new since then counts
 * from its first epoch); the epoch moves by 2 per change. */
static void diff_samples(struct sample *cur, const struct sample *prev)
{
    for (size_t i = 0; i < cur->n; i++) {
        struct sample_key *p =
            prev->n ? bsearch(&cur->k[i], prev->k, prev->n, sizeof *prev->k, by_key) : NULL;
        uint64_t base = p ? p->epoch : 0;
        cur->k[i].delta = cur->k[i].epoch > base ? (cur->k[i].epoch - base) / 2 : 0;
    }
    if (cur->n)
        qsort(cur->k, cur->n, sizeof *cur->k, by_delta);
}

static volatile sig_atomic_t top_stop;
static void top_sigint(int sig)
{
    (void)sig;
    top_stop = 1;
}

/* Every group's pulse counter. */
static void take_pulses(cli_ctx *c, uint64_t *p)
{
    for (unsigned g = 0; g < SPL_GROUPS; g++)
        if (spl_pulses(c->s, g, &p[g]) < 0)
            p[g] = 0;
}

static void top_show(cli_ctx *c, const spl_info *in, double secs, uint64_t dchanges,
                     const struct sample *s, uint64_t nhot, int tty, const uint64_t *dpulses)
{
    double cps = secs > 0 ? dchanges / secs : 0;
    json_t *pps = json_object();
    for (unsigned g = 0; g < SPL_GROUPS; g++)
        if (dpulses[g]) {
            char name[4];
            snprintf(name, sizeof name, "%u", g);
            json_object_set_new(pps, name, json_real(secs > 0 ? dpulses[g] / secs : 0));
        }
    if (c->json) {
        json_t *hot = json_array();
        for (size_t i = 0; i < s->n && i < nhot && s->k[i].delta; i++)
            json_array_append_new(hot, cli_json_key(s->k[i].key, json_pack("{s:I}", "changes",
                                                                    (json_int_t)s->k[i].delta)));
        cli_json_out(c, json_pack("{s:f, s:f, s:I, s:I, s:f, s:I, s:I, s:o, s:o}", "interval_s",
                                  secs, "changes_per_s", cps, "changes", (json_int_t)in->changes,
                                  "used", (json_int_t)in->used, "load", in->load,
                                  "slots", (json_int_t)in->geom.slots, "recoveries",
                                  (json_int_t)in->recoveries, "pulses_per_s", pps, "hot", hot));
        return;
    }
    if (c->quiet) {
        json_decref(pps);
        return;
    }
    if (tty)
        fputs("\033[H\033[2J", stdout); /* home, clear */
    printf("changes/s %10.0f   changes %" PRIu64 "   used %" PRIu64 "/%u   load %.3f   "
           "recovered %" PRIu64 "\n",
           cps, in->changes, in->used, in->geom.slots, in->load, in->recoveries);
    printf("pulses/s ");
    const char *gname;
    json_t *r;
    json_object_foreach(pps, gname, r)
        printf("  g%s %.0f", gname, json_real_value(r));
    printf("%s\n", json_object_size(pps) ? "" : "  none");
    json_decref(pps);
    printf("hottest keys (changes in the last %.1f s):\n", secs);
    for (size_t i = 0; i < s->n && i < nhot && s->k[i].delta; i++) {
        printf("  %8" PRIu64 "  ", s->k[i].delta);
        cli_put_escaped(stdout, s->k[i].key, strlen(s->k[i].key));
        putchar('\n');
    }
    if (!tty)
        putchar('\n');
    fflush(stdout);
}

int cmd_top(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"count", required_argument, 0, 'c'}, {"once", no_argument, 0, '1'},
        {"interval", required_argument, 0, 'i'}, {"keys", required_argument, 0, 'k'},
        {0, 0, 0, 0}};
    uint64_t count = 0, interval_ms = 1000, nhot = 10;
    int ch, rc = CLI_OK;
    while ((ch = getopt_long(argc, argv, "c:1i:k:", lo, NULL)) != -1) {
        if (ch == 'c') rc = opt_u64(c, "--count", optarg, 1, UINT32_MAX, &count);
        else if (ch == '1') count = 1;
        else if (ch == 'i') rc = opt_u64(c, "--interval", optarg, 10, 3600000, &interval_ms);
        else if (ch == 'k') rc = opt_u64(c, "--keys", optarg, 0, 10000, &nhot);
        else rc = cli_usage(c, "unknown or incomplete option '%s'", argv[optind - 1]);
        if (rc != CLI_OK)
            return rc;
    }
    if (optind != argc)
        return cli_usage(c, "top takes no arguments");
    int tty = isatty(STDOUT_FILENO) && !c->json;
    struct sigaction sa = {.sa_handler = top_sigint}, old;
    sigemptyset(&sa.sa_mask);
    top_stop = 0;
    sigaction(SIGINT, &sa, &old);
    struct sample prev = {0}, cur = {0};
    spl_info pin, in;
    /* follow every group while top runs: pulses are counted only while a
     * group has a subscriber (docs/SIGNALS.md) */
    spl_sub *all = NULL;
    int err = spl_sub_open(c->s, ~0ull, &all);
    uint64_t ppulses[SPL_GROUPS], pulses[SPL_GROUPS], dpulses[SPL_GROUPS];
    take_pulses(c, ppulses);
    uint64_t t_prev = mono_ns();
    if (!err)
        err = take_sample(c, &prev, &pin);
    for (uint64_t i = 0; !err && !top_stop && (count == 0 || i < count); i++) {
        struct timespec ts = {(time_t)(interval_ms / 1000), (long)(interval_ms % 1000) * 1000000};
        while (!top_stop && nanosleep(&ts, &ts) != 0) {}
        if (top_stop)
            break;
        uint64_t t = mono_ns();
        if ((err = take_sample(c, &cur, &in)) != 0)
            break;
        diff_samples(&cur, &prev);
        take_pulses(c, pulses);
        for (unsigned g = 0; g < SPL_GROUPS; g++) {
            dpulses[g] = pulses[g] - ppulses[g];
            ppulses[g] = pulses[g];
        }
        top_show(c, &in, (t - t_prev) / 1e9, in.changes - pin.changes, &cur, nhot, tty, dpulses);
        if (cur.n)
            qsort(cur.k, cur.n, sizeof *cur.k, by_key);
        sample_free(&prev);
        prev = cur;
        memset(&cur, 0, sizeof cur);
        pin = in;
        t_prev = t;
    }
    sample_free(&prev);
    sample_free(&cur);
    spl_sub_close(all);
    sigaction(SIGINT, &old, NULL);
    if (err)
        return cli_fail_spl(c, err, "top");
    return CLI_OK;
}
