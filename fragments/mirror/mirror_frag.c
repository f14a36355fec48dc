/*
 * mirror_frag.c - the NATS JetStream mirror (mirror/README.md) as a
 * fragment (docs/FRAGMENTS.md):
 *
 *   splinterctl insmod mirror to=nats://HOST:PORT bucket=B [prefix=P] ...
 *   splinterctl frag mirror stats
 *
 * Built with WITH_NATS=1 only: the mirror library, libnats and a copy of
 * the core are linked into the .so (hidden: only spl_fragment_entry is
 * exported).  start opens the store a second time through that copy (the
 * host's handle belongs to the host's copy of the library: the two copies
 * keep per-process state apart) and runs spl_mirror_run on a thread of its
 * own; the mirror follows the store's change feed itself (group `group`,
 * default 63), exactly as splinter-mirror does, so the fragment follows
 * nothing from the host.  stop asks the mirror to stop and joins the
 * thread.  A fatal mirror error (bucket refused, authentication) ends the
 * thread: `stats` then says so ("running":false, "error").
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* the store's path (this .so carries the same core) */
#include "splinter_fragment.h"
#include "splinter_mirror.h"

static const spl_frag_api *api;

typedef struct mstate {
    spl_store *s;
    spl_mirror *m;
    pthread_t th;
    _Atomic int running;
    int rc;
    char err[256];
} mstate;

static const spl_frag_opt opts[] = {
    {"to", NULL, "publish the store's changes to nats://HOST:PORT"},
    {"from", NULL, "apply the bucket's changes to the store (same URL as to, if both)"},
    {"bucket", NULL, "bucket name (A-Z a-z 0-9 _ -); created if absent"},
    {"prefix", NULL, "publish only keys starting with it"},
    {"label", NULL, "publish only keys carrying this label bit (0..63)"},
    {"group", "63", "signal group the publisher follows (0..59, 62, 63)"},
    {"vectors", "0", "1: publish each key's vector with its value"},
    {"no_create", "0", "1: the bucket must exist"},
    {"history", "1", "history of a bucket created here"},
    {"max_value", "0", "largest value of a bucket created here (0: the server's)"},
    {"creds", NULL, "NATS credentials file (mode 0600)"},
    {"token_file", NULL, "a file holding the token (mode 0600)"},
    {"tls", "0", "1: require TLS"},
    {"tls_ca", NULL, "CA certificates to verify the server"},
    {"tls_cert", NULL, "client certificate (with tls_key)"},
    {"tls_key", NULL, "its private key (mode 0600)"},
    {"backoff_min", "100", "reconnect/retry back-off, first step (ms)"},
    {"backoff_max", "5000", "reconnect/retry back-off, ceiling (ms)"},
    {"verbose", "0", "1: log every skipped entry"},
    {"store", NULL, "open this store (name or path) instead of the host's"},
    {NULL, NULL, NULL}};

static int num(spl_frag_ctx *ctx, const char *name, long lo, long hi, long *out)
{
    const char *v = api->arg(ctx, name);
    if (!v || !*v)
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) {
        api->fail(ctx, "%s=%s: not a number in %ld..%ld", name, v, lo, hi);
        return SPL_EINVAL;
    }
    *out = n;
    return 0;
}

static void *run_main(void *arg)
{
    mstate *st = arg;
    st->rc = spl_mirror_run(st->m);
    if (st->rc)
        snprintf(st->err, sizeof st->err, "%s", spl_mirror_errmsg(st->m));
    atomic_store(&st->running, 0);
    return NULL;
}

static int m_start(spl_frag_ctx *ctx, int argc, const char *const *argv, void **state)
{
    (void)argc;
    (void)argv;
    spl_mirror_opts o;
    spl_mirror_opts_init(&o);
    const char *to = api->arg(ctx, "to"), *from = api->arg(ctx, "from");
    o.bucket = api->arg(ctx, "bucket");
    if ((!to && !from) || !o.bucket) {
        api->fail(ctx, "needs bucket=B and to=URL and/or from=URL");
        return SPL_EINVAL;
    }
    if (to && from && strcmp(to, from) != 0) {
        api->fail(ctx, "to and from name different servers: insmod one mirror for each");
        return SPL_EINVAL;
    }
    o.url = to ? to : from;
    o.dirs = (to ? SPL_MIRROR_PUBLISH : 0) | (from ? SPL_MIRROR_APPLY : 0);
    o.prefix = api->arg(ctx, "prefix");
    long v;
    int rc;
#define NUM(name, lo, hi, field)                                                                   \
    v = -1;                                                                                        \
    if ((rc = num(ctx, name, lo, hi, &v)) != 0)                                                    \
        return rc;                                                                                 \
    if (v != -1)                                                                                   \
        field = (__typeof__(field))v;
    NUM("label", 0, 63, o.label)
    NUM("group", 0, 63, o.group)
    NUM("vectors", 0, 1, o.vectors)
    NUM("no_create", 0, 1, o.no_create)
    NUM("history", 1, 64, o.history)
    NUM("max_value", 0, 1L << 30, o.max_value)
    NUM("tls", 0, 1, o.tls)
    NUM("backoff_min", 1, 600000, o.backoff_min_ms)
    NUM("backoff_max", 1, 600000, o.backoff_max_ms)
    NUM("verbose", 0, 1, o.verbose)
#undef NUM
    o.creds_file = api->arg(ctx, "creds");
    o.token_file = api->arg(ctx, "token_file");
    o.tls_ca = api->arg(ctx, "tls_ca");
    o.tls_cert = api->arg(ctx, "tls_cert");
    o.tls_key = api->arg(ctx, "tls_key");

    const char *path = api->arg(ctx, "store");
    if (!path)
        path = ((struct spl_store *)api->store(ctx))->path;
    if (!path) {
        api->fail(ctx, "the host's store has no path (MEMFD): give store=NAME|PATH");
        return SPL_ENOTSUP;
    }
    mstate *st = calloc(1, sizeof *st);
    if (!st)
        return SPL_ENOMEM;
    if ((rc = spl_open(&st->s, path, NULL)) != 0) {
        api->fail(ctx, "%s: %s", path, spl_strerror(rc));
        free(st);
        return rc;
    }
    if ((rc = spl_mirror_new(&st->m, st->s, &o)) != 0) {
        api->fail(ctx, "%s", spl_mirror_strerror(rc));
        spl_close(st->s);
        free(st);
        return rc;
    }
    atomic_store(&st->running, 1);
    if (pthread_create(&st->th, NULL, run_main, st) != 0) {
        api->fail(ctx, "cannot start the mirror's thread");
        spl_mirror_free(st->m);
        spl_close(st->s);
        free(st);
        return SPL_ENOMEM;
    }
    api->log(ctx, SPL_FRAG_LOG_INFO, "mirror of %s %s %s, bucket %s", path,
             to && from ? "to and from" : to ? "to" : "from", o.url, o.bucket);
    *state = st;
    return 0;
}

static void m_stop(spl_frag_ctx *ctx, void *state)
{
    mstate *st = state;
    if (!st)
        return;
    spl_mirror_stop(st->m);
    pthread_join(st->th, NULL);
    spl_mirror_stats s;
    spl_mirror_stats_get(st->m, &s);
    api->log(ctx, SPL_FRAG_LOG_INFO, "mirror stopped: published %llu, applied %llu",
             (unsigned long long)s.published, (unsigned long long)s.applied);
    spl_mirror_free(st->m);
    spl_close(st->s);
    free(st);
}

static int c_stats(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv,
                   spl_frag_reply *r)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    mstate *st = state;
    spl_mirror_stats s;
    spl_mirror_stats_get(st->m, &s);
    int running = atomic_load(&st->running);
    api->reply(r,
               "{\"running\":%s,\"published\":%llu,\"published_del\":%llu,\"applied\":%llu,"
               "\"applied_del\":%llu,\"same\":%llu,\"dup\":%llu,\"skip_foreign\":%llu,"
               "\"skip_geometry\":%llu,\"skip_rejected\":%llu,\"retries\":%llu,\"interfered\":%llu,"
               "\"rescans\":%llu,\"overflows\":%llu,\"reconnects\":%llu,\"watch_restarts\":%llu,"
               "\"rev\":%llu,\"store_id\":\"%016llx\",\"connected\":%u,\"ready\":%u",
               running ? "true" : "false", (unsigned long long)s.published,
               (unsigned long long)s.published_del, (unsigned long long)s.applied,
               (unsigned long long)s.applied_del, (unsigned long long)s.same, (unsigned long long)s.dup,
               (unsigned long long)s.skip_foreign, (unsigned long long)s.skip_geometry,
               (unsigned long long)s.skip_rejected, (unsigned long long)s.retries,
               (unsigned long long)s.interfered, (unsigned long long)s.rescans,
               (unsigned long long)s.overflows, (unsigned long long)s.reconnects,
               (unsigned long long)s.watch_restarts, (unsigned long long)s.rev,
               (unsigned long long)s.store_id, s.connected, s.ready);
    if (!running && st->rc) {
        api->reply(r, ",\"error\":");
        api->reply_str(r, st->err, strlen(st->err));
    }
    return api->reply(r, "}");
}

static const spl_frag_cmd cmds[] = {
    {"stats", "", "the mirror's counters (and running, error)", c_stats},
    {NULL, NULL, NULL, NULL}};

static const spl_frag_desc desc = {
    SPL_FRAG_DESC_INIT,
    .name = "mirror",
    .version = "1.0",
    .summary = "mirror the store to and from a NATS JetStream KV bucket (mirror/README.md)",
    .opts = opts,
    .cmds = cmds,
    .start = m_start,
    .stop = m_stop,
};

SPL_FRAGMENT_EXPORT const spl_frag_desc *spl_fragment_entry(const spl_frag_api *a)
{
    api = a;
    return &desc;
}
