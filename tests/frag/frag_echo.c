/*
 * frag_echo.c - a test fragment: mirrors every key under prefix= into
 * out= + key (deletes too), so a test can check that no change was
 * missed.  Commands: stats, echo ARGS..., fail, crash (abort: kills its
 * host), sleep MS (blocks the fragment's thread).  Option slow=MS sleeps in
 * every batch (a host that lags).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "splinter_fragment.h"

static const spl_frag_api *A;

struct echo {
    spl_store *s;
    const char *prefix, *out;
    size_t out_len;
    long slow_ms;
    int busy;
    unsigned long long events, batches, resyncs, mirrored;
    char key[4200], val[1 << 16];
};

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* 0, or SPL_EAGAIN when a key stayed busy (the host resyncs soon). */
static int mirror(struct echo *e, const char *key)
{
    snprintf(e->key, sizeof e->key, "%s%s", e->out, key);
    size_t len = 0;
    int rc = A->get_wait(e->s, key, e->val, sizeof e->val, &len, 100000);
    if (rc == SPL_ENOENT) {
        rc = A->unset_wait(e->s, e->key, 100000);
        return rc == SPL_EAGAIN ? rc : 0;
    }
    if (rc)
        return rc;
    /* only what changed: a resync rewriting every mirror would lap a small
     * feed with its own writes again and again */
    static char cur[1 << 16];
    size_t clen = 0;
    rc = A->get_wait(e->s, e->key, cur, sizeof cur, &clen, 100000);
    if (rc == SPL_EAGAIN)
        return rc;
    if (rc == 0 && clen == len && memcmp(cur, e->val, len) == 0)
        return 0;
    rc = A->set_wait(e->s, e->key, e->val, len, 100000);
    if (rc == 0)
        e->mirrored++;
    return rc;
}

static int echo_events(spl_frag_ctx *ctx, void *state, const spl_frag_event *ev, size_t n)
{
    (void)ctx;
    struct echo *e = state;
    e->batches++;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        e->events++;
        if ((ev[i].kind == SPL_EV_CHANGED || ev[i].kind == SPL_EV_DELETED) && mirror(e, ev[i].key))
            rc = SPL_EAGAIN;
    }
    if (e->slow_ms)
        nap(e->slow_ms);
    return rc;
}

static int scan_one(const spl_entry *en, void *ud)
{
    struct echo *e = ud;
    if (mirror(e, en->key))
        e->busy = 1;
    return 0;
}

static int orphan_one(const spl_entry *en, void *ud)
{
    struct echo *e = ud;
    const char *src = en->key + e->out_len;
    if (A->meta_get(e->s, src, &(spl_meta){0}) == SPL_ENOENT &&
        A->unset_wait(e->s, en->key, 100000) == SPL_EAGAIN)
        e->busy = 1;
    return 0;
}

static int echo_resync(spl_frag_ctx *ctx, void *state, int reason)
{
    (void)reason;
    struct echo *e = state;
    e->resyncs++;
    e->busy = 0;
    int rc = A->scan(ctx, scan_one, e);
    spl_filter f = {e->out, NULL, 0, 0}; /* mirrors whose key went while nobody watched */
    if (rc == 0)
        rc = A->foreach(e->s, &f, orphan_one, e);
    return rc ? rc : e->busy ? SPL_EAGAIN : 0;
}

static int echo_start(spl_frag_ctx *ctx, int argc, const char *const *argv, void **state)
{
    (void)argc, (void)argv;
    struct echo *e = calloc(1, sizeof *e);
    if (!e)
        return SPL_ENOMEM;
    e->s = A->store(ctx);
    e->prefix = A->arg(ctx, "prefix");
    e->out = A->arg(ctx, "out");
    e->out_len = strlen(e->out);
    e->slow_ms = atol(A->arg(ctx, "slow"));
    if (!*e->prefix || strncmp(e->out, e->prefix, strlen(e->prefix)) == 0) {
        A->fail(ctx, "prefix must be set and out must not start with it");
        free(e);
        return SPL_EINVAL;
    }
    spl_frag_follow f = {e->prefix, NULL, 0, 0, 0};
    int rc = A->follow(ctx, &f);
    if (rc) {
        free(e);
        return rc;
    }
    *state = e;
    return 0;
}

static void echo_stop(spl_frag_ctx *ctx, void *state)
{
    (void)ctx;
    free(state);
}

static int cmd_stats(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)argc, (void)argv;
    struct echo *e = state;
    return A->reply(r, "{\"events\":%llu,\"batches\":%llu,\"resyncs\":%llu,\"mirrored\":%llu}", e->events,
                    e->batches, e->resyncs, e->mirrored);
}

static int cmd_echo(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)state;
    A->reply(r, "[");
    for (int i = 1; i < argc; i++) {
        if (i > 1)
            A->reply(r, ",");
        A->reply_str(r, argv[i], strlen(argv[i]));
    }
    return A->reply(r, "]");
}

static int cmd_fail(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)state, (void)argc, (void)argv, (void)r;
    return SPL_EINVAL;
}

static int cmd_crash(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)state, (void)argc, (void)argv, (void)r;
    abort();
}

static int cmd_sleep(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)state;
    nap(argc > 1 ? atol(argv[1]) : 100);
    return A->reply(r, "{\"slept\":true}");
}

static int cmd_big(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)state, (void)argc, (void)argv;
    A->reply(r, "\"");
    for (int i = 0; i < 3000; i++)
        A->reply(r, "x");
    return A->reply(r, "\"");
}

/* region NAME BYTES: map a region and write bytes i = (i * 7) & 0xff */
static int cmd_region(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)state;
    if (argc != 3)
        return SPL_EINVAL;
    size_t n = (size_t)atol(argv[2]);
    unsigned char *p;
    int rc = A->region(ctx, argv[1], n, (void **)&p);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7);
    return A->reply(r, "{\"region\":\"%s\",\"bytes\":%zu}", argv[1], n);
}

static const spl_frag_opt echo_opts[] = {
    {"prefix", "in.", "keys to mirror"},
    {"out", "echo.", "prefix of the mirrors"},
    {"slow", "0", "sleep this many ms in every batch"},
    {NULL, NULL, NULL},
};

static const spl_frag_cmd echo_cmds[] = {
    {"stats", "", "counters", cmd_stats},
    {"echo", "ARGS...", "the arguments as a JSON array", cmd_echo},
    {"fail", "", "returns SPL_EINVAL", cmd_fail},
    {"crash", "", "abort(): kills the host", cmd_crash},
    {"sleep", "MS", "block the fragment's thread", cmd_sleep},
    {"big", "", "a reply longer than the mailbox", cmd_big},
    {"region", "NAME BYTES", "map a region and fill it", cmd_region},
    {NULL, NULL, NULL, NULL},
};

static const spl_frag_desc echo_desc = {
    SPL_FRAG_DESC_INIT,
    .name = "echo",
    .version = "test",
    .summary = "mirrors keys (tests)",
    .opts = echo_opts,
    .cmds = echo_cmds,
    .start = echo_start,
    .events = echo_events,
    .resync = echo_resync,
    .stop = echo_stop,
};

SPL_FRAGMENT_EXPORT const spl_frag_desc *spl_fragment_entry(const spl_frag_api *api)
{
    A = api;
    return &echo_desc;
}
