/*
 * hnsw_frag.c - the HNSW index as a fragment (hnsw.so):
 *
 *     splinterctl insmod hnsw [m=16] [efc=200] [metric=cosine] [format=f16]
 *
 * keeps the graph in its region "graph" (api->region: a file beside the
 * store, STORE.frag.hnsw.graph, stamped by the host with the store's
 * identity) and in step with the store from the change feed:
 *   - events: each CHANGED or DELETED event is hnsw_apply(slot, key); then
 *     the change counter read before the batch is marked applied;
 *   - resync (start, feed overflow, unknown slot, retry) and rebuilds run on
 *     a worker thread of the instance (a sync, or a rebuild when the region
 *     is new, another store's, of other parameters, cut short or decayed),
 *     so that insmod returns at once and `frag hnsw stats` answers during a
 *     long rebuild, with its progress (also logged every few seconds).
 *     While the worker holds the index, events only note that a sync must
 *     follow; the worker runs it before handing the index back.
 * Readers in other processes map the region read-only and search it in
 * place: spl_vec_search with SPL_VQ_ANN loads this library there and calls
 * ann_open / ann_search / ann_close (fragment ABI 3), so `splinterctl
 * search --ann` and every binding find the index by themselves;
 * hnsw_frag_open (hnsw_ops.c, libsplinter-hnsw) does it by hand.  Built with -DHNSW_MODULE: no libsplinter
 * inside; every store call goes through the host's table (hnsw_ops filled
 * from spl_frag_api).  README.md, "The fragment".
 */
#include "hnsw.h"
#include "splinter_fragment.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const spl_frag_api *A;

enum { W_IDLE = 0, W_SYNC = 1, W_REBUILD = 2 };

struct hnsw_frag {
    spl_frag_ctx *ctx;
    spl_store *s;
    hnsw_index *x;
    hnsw_params p;
    /* the worker: it owns x while `busy` (events and resyncs then only set
     * `pending`); both under mu */
    pthread_mutex_t mu;
    pthread_t th;
    int th_on;          /* th to be joined */
    int busy;           /* W_SYNC or W_REBUILD while the worker holds x */
    int pending;        /* events or a resync came meanwhile: sync after */
    int want_rebuild;   /* the next job is a rebuild (the rebuild command) */
    atomic_int stop;    /* stop: the worker's progress callback gives up */
    int last_rc;        /* the worker's last result */
    uint64_t job_t0_ns, log_t_ns;
    /* counters (the host's thread) */
    uint64_t events, applied_events, busy_keys, errors, syncs, rebuilds;
    uint64_t feed_seq;  /* feed position of the last event applied */
    double last_rebuild_s;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t frag_changes(spl_store *s)
{
    if (SPL_FRAG_API_HAS(A, changes))
        return A->changes(s);
    spl_info in;
    return A->info_get(s, &in) == 0 ? in.changes : 0;
}

static void frag_ops(hnsw_ops *o)
{
    memset(o, 0, sizeof *o);
    o->vec_get = A->vec_get;
    o->meta_get = A->meta_get;
    o->foreach = A->foreach;
    o->info_get = A->info_get;
    o->changes = frag_changes;
    o->key_prep = A->key_prep; /* the store's seed goes into the header: readers check it */
    /* vec_ann_set: NULL (the host process does not search) */
    if (SPL_FRAG_API_HAS(A, retry_pause)) {
        o->retry_init = A->retry_init;
        o->retry_pause = A->retry_pause;
    }
}

/* ---- the worker ------------------------------------------------------------------------- */

static int frag_progress(uint64_t done, uint64_t total, void *ud)
{
    struct hnsw_frag *f = ud;
    if (atomic_load(&f->stop))
        return SPL_ETIMEDOUT; /* stopping: a rebuild cut short is redone at the next start */
    uint64_t t = now_ns();
    if (t - f->log_t_ns >= 2000000000ull && done < total) {
        f->log_t_ns = t;
        double s = (double)(t - f->job_t0_ns) / 1e9;
        A->log(f->ctx, SPL_FRAG_LOG_INFO, "%s: %" PRIu64 "/%" PRIu64 " keys (%.0f%%), %.0f keys/s",
               f->busy == W_REBUILD ? "rebuild" : "sync", done, total,
               total ? 100.0 * (double)done / (double)total : 100.0, s > 0 ? (double)done / s : 0.0);
    }
    return 0;
}

static void *frag_worker(void *arg)
{
    struct hnsw_frag *f = arg;
    pthread_mutex_lock(&f->mu);
    int job = f->busy;
    pthread_mutex_unlock(&f->mu);
    for (;;) {
        f->job_t0_ns = f->log_t_ns = now_ns();
        int rc = job == W_REBUILD ? hnsw_rebuild(f->x, frag_progress, f) : hnsw_sync(f->x, frag_progress, f);
        double s = (double)(now_ns() - f->job_t0_ns) / 1e9;
        hnsw_stat st;
        hnsw_stat_get(f->x, &st);
        if (rc && !atomic_load(&f->stop))
            A->log(f->ctx, SPL_FRAG_LOG_ERROR, "%s: %s", job == W_REBUILD ? "rebuild" : "sync", A->strerror(rc));
        else if (job == W_REBUILD && !rc)
            A->log(f->ctx, SPL_FRAG_LOG_INFO, "rebuild: ready, %" PRIu64 " vectors, %u layers, %.2f s", st.live,
                   st.top_level + 1, s);
        pthread_mutex_lock(&f->mu);
        f->last_rc = rc;
        if (job == W_REBUILD && !rc)
            f->last_rebuild_s = s;
        /* SPL_EAGAIN: a key stayed busy; sync again */
        int again = !atomic_load(&f->stop) &&
                    (f->pending || f->want_rebuild || rc == SPL_EAGAIN || (rc == 0 && st.state != HNSW_STATE_READY));
        if (!again) {
            f->busy = W_IDLE;
            pthread_mutex_unlock(&f->mu);
            return NULL;
        }
        if (rc && rc != SPL_EAGAIN) { /* a real error: do not spin on it; the next resync retries */
            f->busy = W_IDLE;
            pthread_mutex_unlock(&f->mu);
            return NULL;
        }
        job = f->want_rebuild || st.state != HNSW_STATE_READY ? W_REBUILD : W_SYNC;
        f->want_rebuild = 0;
        f->pending = 0;
        f->busy = job;
        if (job == W_REBUILD)
            f->rebuilds++;
        else
            f->syncs++;
        pthread_mutex_unlock(&f->mu);
    }
}

/* Hand x to the worker for a sync or a rebuild (from the host's thread).
 * Returns 0, or an error starting the thread. */
static int frag_kick(struct hnsw_frag *f, int job, const char *why)
{
    pthread_mutex_lock(&f->mu);
    if (f->busy) { /* it syncs again when done */
        f->pending = 1;
        if (job == W_REBUILD)
            f->want_rebuild = 1;
        pthread_mutex_unlock(&f->mu);
        return 0;
    }
    pthread_mutex_unlock(&f->mu);
    if (f->th_on) {
        pthread_join(f->th, NULL); /* the last one has finished (not busy) */
        f->th_on = 0;
    }
    hnsw_stat st;
    hnsw_stat_get(f->x, &st);
    if (st.state != HNSW_STATE_READY || (st.deleted > 64 && st.deleted > st.live))
        job = W_REBUILD;
    if (job == W_REBUILD)
        A->log(f->ctx, SPL_FRAG_LOG_INFO, "rebuild (%s): %s", why,
               st.state == HNSW_STATE_EMPTY ? "no index for this store yet (new region, another store's, other "
                                              "parameters or layout)"
               : st.state == HNSW_STATE_BUILDING ? "the last build was cut short"
               : st.deleted > st.live ? "more tombstones than live nodes"
                                      : "asked");
    pthread_mutex_lock(&f->mu);
    f->busy = job;
    f->pending = 0;
    f->want_rebuild = 0;
    if (job == W_REBUILD)
        f->rebuilds++;
    else
        f->syncs++;
    pthread_mutex_unlock(&f->mu);
    int rc = pthread_create(&f->th, NULL, frag_worker, f);
    if (rc) {
        pthread_mutex_lock(&f->mu);
        f->busy = W_IDLE;
        pthread_mutex_unlock(&f->mu);
        return -rc;
    }
    f->th_on = 1;
    return 0;
}

/* ---- callbacks -------------------------------------------------------------------------- */

static int opt_u32(spl_frag_ctx *ctx, const char *name, uint32_t lo, uint32_t hi, uint32_t *out)
{
    const char *v = A->arg(ctx, name);
    char *end;
    errno = 0;
    unsigned long n = v && *v ? strtoul(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || n < lo || n > hi) {
        A->fail(ctx, "%s=%s: a whole number from %u to %u", name, v ? v : "", lo, hi);
        return SPL_EINVAL;
    }
    *out = (uint32_t)n;
    return 0;
}

static const spl_frag_opt hnsw_opts[] = {
    {"m", "16", "links per node above level 0 (level 0: 2 m), 2..64"},
    {"efc", "200", "candidates while linking (ef_construction), 1..4096"},
    {"metric", "cosine", "the metric it serves: cosine, dot or l2"},
    {"format", "f16", "the graph's copies of the vectors: f16 or f32"},
    {"seed", "0", "level draws (0: from the clock)"},
    {NULL, NULL, NULL}};

static int frag_start(spl_frag_ctx *ctx, int argc, const char *const *argv, void **state)
{
    (void)argc, (void)argv;
    spl_store *s = A->store(ctx);
    hnsw_params p;
    hnsw_params_init(&p);
    int rc;
    if ((rc = opt_u32(ctx, "m", 2, 64, &p.m)) || (rc = opt_u32(ctx, "efc", 1, 4096, &p.ef_construction)))
        return rc;
    const char *m = A->arg(ctx, "metric"), *fmt = A->arg(ctx, "format"), *seed = A->arg(ctx, "seed");
    if (!strcmp(m, "cosine"))
        p.metric = SPL_METRIC_COSINE;
    else if (!strcmp(m, "dot"))
        p.metric = SPL_METRIC_DOT;
    else if (!strcmp(m, "l2"))
        p.metric = SPL_METRIC_L2;
    else {
        A->fail(ctx, "metric=%s: cosine, dot or l2", m);
        return SPL_EINVAL;
    }
    if (strcmp(fmt, "f16") && strcmp(fmt, "f32")) {
        A->fail(ctx, "format=%s: f16 or f32", fmt);
        return SPL_EINVAL;
    }
    p.format = strcmp(fmt, "f32") ? HNSW_F16 : HNSW_F32;
    char *end;
    p.seed = strtoull(seed, &end, 10);
    if (!*seed || *end) {
        A->fail(ctx, "seed=%s: a whole number", seed);
        return SPL_EINVAL;
    }
    spl_info in;
    if ((rc = A->info_get(s, &in)) != 0) {
        A->fail(ctx, "store: %s", A->strerror(rc));
        return rc;
    }
    if (!in.geom.vec_dim) {
        A->fail(ctx, "the store holds no vectors (vec_dim 0)");
        return SPL_ENOTSUP;
    }
    uint64_t bytes = hnsw_region_bytes(in.geom.slots, in.geom.key_max, in.geom.vec_dim, &p);
    if (!bytes || bytes > SIZE_MAX) {
        A->fail(ctx, "no index fits this store's geometry with these options");
        return SPL_EINVAL;
    }
    void *addr;
    if ((rc = A->region(ctx, "graph", (size_t)bytes, &addr)) != 0) {
        if (rc == SPL_EGEOMETRY)
            A->fail(ctx, "its region was made with other m or format: `splinterctl rmmod --purge %s` "
                         "removes it", A->name(ctx));
        else
            A->fail(ctx, "region 'graph': %s", A->strerror(rc));
        return rc;
    }
    struct hnsw_frag *f = calloc(1, sizeof *f);
    if (!f)
        return SPL_ENOMEM;
    f->ctx = ctx;
    f->s = s;
    f->p = p;
    pthread_mutex_init(&f->mu, NULL);
    hnsw_ops ops;
    frag_ops(&ops);
    /* take the writer's role (repairing what a killed host left half-changed);
     * the sync or rebuild is resync(START)'s, on the worker */
    rc = hnsw_attach_writer(&f->x, s, addr, (size_t)bytes, &p, &ops, HNSW_OPEN_NOSYNC | HNSW_OPEN_NOBUILD,
                            NULL, NULL);
    if (rc) {
        A->fail(ctx, "index: %s%s", A->strerror(rc), rc == SPL_EAGAIN ? " (another live writer holds it)" : "");
        hnsw_close(f->x);
        pthread_mutex_destroy(&f->mu);
        free(f);
        return rc;
    }
    hnsw_stat st;
    hnsw_stat_get(f->x, &st);
    if (st.opened_dirty)
        A->log(ctx, SPL_FRAG_LOG_WARN, "took over a graph its writer left mid-change: %u repairs", st.repairs);
    A->log(ctx, SPL_FRAG_LOG_INFO, "m %u, efc %u, %s, %s; %" PRIu64 " vectors indexed, region %" PRIu64 " bytes",
           p.m, p.ef_construction, m, fmt, st.live, bytes);
    *state = f;
    return 0;
}

static int frag_events(spl_frag_ctx *ctx, void *state, const spl_frag_event *ev, size_t n)
{
    struct hnsw_frag *f = state;
    f->events += n;
    pthread_mutex_lock(&f->mu);
    if (f->busy) { /* the worker holds the index: it syncs again when done */
        f->pending = 1;
        pthread_mutex_unlock(&f->mu);
        return 0;
    }
    pthread_mutex_unlock(&f->mu);
    /* Every event of this batch was in the feed before this read: marking
     * it applied afterwards claims at most the changes made in the moment
     * between the host's last read of the feed and this one (they come in
     * the next batch). */
    uint64_t c0 = frag_changes(A->store(ctx));
    int err = 0, busy = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].kind != SPL_EV_CHANGED && ev[i].kind != SPL_EV_DELETED)
            continue;
        int rc = hnsw_apply(f->x, ev[i].slot, ev[i].key);
        if (rc == SPL_EAGAIN) {
            busy = 1;
            f->busy_keys++;
        } else if (rc) {
            f->errors++;
            if (!err)
                err = rc;
        } else {
            f->applied_events++;
        }
        f->feed_seq = ev[i].seq;
    }
    if (!busy)
        hnsw_mark_applied(f->x, c0);
    /* a key that stayed busy: SPL_EAGAIN makes the host resync soon */
    return busy ? SPL_EAGAIN : err;
}

static int frag_resync(spl_frag_ctx *ctx, void *state, int reason)
{
    struct hnsw_frag *f = state;
    static const char *const why[] = {"?", "start", "feed overflow", "unknown slot", "retry"};
    int rc = frag_kick(f, W_SYNC, why[reason >= 1 && reason <= 4 ? reason : 0]);
    if (rc)
        A->log(ctx, SPL_FRAG_LOG_ERROR, "worker: %s", A->strerror(rc));
    return rc;
}

static void frag_stop(spl_frag_ctx *ctx, void *state)
{
    (void)ctx;
    struct hnsw_frag *f = state;
    if (!f)
        return;
    atomic_store(&f->stop, 1);
    if (f->th_on)
        pthread_join(f->th, NULL);
    hnsw_close(f->x);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* ---- the reader side: in every process that searches ------------------------------------
 * spl_vec_search with SPL_VQ_ANN (on a handle without a provider of its
 * own) loads this library in the searching process and calls these: the
 * region mapped read-only, searched in place (hnsw_search declines while the
 * index is being built or lags: the exact scan answers). */

static int frag_ann_open(spl_store *s, const char *name, void **ud)
{
    if (!SPL_FRAG_API_HAS(A, changes))
        return SPL_ENOTSUP;
    const void *addr;
    size_t len;
    int rc = A->region_map(s, name, "graph", &addr, &len);
    if (rc)
        return rc;
    hnsw_ops ops;
    frag_ops(&ops);
    ops.region_unmap = A->region_unmap; /* hnsw_close unmaps it */
    hnsw_index *x;
    if ((rc = hnsw_attach_reader(&x, s, addr, len, &ops)) != 0) {
        A->region_unmap(addr, len);
        return rc;
    }
    *ud = x;
    return 0;
}

static int frag_ann_search(void *ud, spl_store *s, const spl_vec_query *q, spl_vec_result **out)
{
    (void)s;
    return hnsw_search(ud, q, out);
}

static void frag_ann_close(void *ud) { hnsw_close(ud); }

/* ---- commands --------------------------------------------------------------------------- */

static const char *state_name(uint32_t st)
{
    return st == HNSW_STATE_READY ? "ready" : st == HNSW_STATE_BUILDING ? "building" : "empty";
}

static int cmd_stats(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)argc, (void)argv;
    struct hnsw_frag *f = state;
    hnsw_stat st;
    hnsw_stat_get(f->x, &st); /* the header's words: safe while the worker runs */
    pthread_mutex_lock(&f->mu);
    int busy = f->busy, last_rc = f->last_rc;
    double rebuild_s = f->last_rebuild_s;
    pthread_mutex_unlock(&f->mu);
    static const char *const metrics[] = {"cosine", "dot", "l2"};
    A->reply(r, "{\"state\":\"%s\",\"nodes\":%" PRIu64 ",\"tombstones\":%" PRIu64 ",\"capacity\":%u,", state_name(st.state),
             st.live, st.deleted, st.nodes);
    A->reply(r, "\"layers\":%u,\"applied\":%" PRIu64 ",\"lag\":%" PRIu64 ",\"feed_seq\":%" PRIu64 ",",
             st.live ? st.top_level + 1 : 0, st.applied, st.lag, f->feed_seq);
    A->reply(r, "\"worker\":%s,", busy == W_REBUILD ? "\"rebuild\"" : busy == W_SYNC ? "\"sync\"" : "null");
    A->reply(r, "\"progress\":{\"done\":%" PRIu64 ",\"total\":%" PRIu64 ",\"percent\":", st.build_done, st.build_total);
    A->reply_num(r, st.build_total ? 100.0 * (double)st.build_done / (double)st.build_total : 100.0);
    A->reply(r, "},\"generation\":%" PRIu64 ",\"events\":%" PRIu64 ",\"applied_events\":%" PRIu64
                ",\"busy_keys\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"syncs\":%" PRIu64 ",\"rebuilds\":%" PRIu64 ",",
             st.generation, f->events, f->applied_events, f->busy_keys, f->errors, f->syncs, f->rebuilds);
    A->reply(r, "\"last_rebuild_s\":");
    A->reply_num(r, rebuild_s);
    A->reply(r, ",\"last_error\":");
    if (last_rc)
        A->reply_str(r, A->err_name(last_rc), strlen(A->err_name(last_rc)));
    else
        A->reply(r, "null");
    A->reply(r, ",\"taken_over_dirty\":%s,\"repairs\":%u,", st.opened_dirty ? "true" : "false", st.repairs);
    A->reply(r, "\"m\":%u,\"ef_construction\":%u,\"metric\":\"%s\",\"format\":\"%s\",\"dim\":%u,", st.m,
             st.ef_construction, (unsigned)st.metric < 3 ? metrics[st.metric] : "?",
             st.format == HNSW_F16 ? "f16" : "f32", st.dim);
    return A->reply(r, "\"region_bytes\":%" PRIu64 ",\"upper_lists\":%" PRIu64 ",\"upper_lists_max\":%" PRIu64 "}",
                    st.region_bytes, st.pool_used, st.pool_lists);
}

static int cmd_rebuild(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)argc, (void)argv;
    struct hnsw_frag *f = state;
    int rc = frag_kick(f, W_REBUILD, "asked");
    return rc ? rc : A->reply(r, "{\"rebuilding\":true}");
}

static const spl_frag_cmd hnsw_cmds[] = {
    {"stats", "", "the index: state, nodes, layers, applied change counter, lag, rebuild progress", cmd_stats},
    {"rebuild", "", "clear the graph and insert every vector again (in the background)", cmd_rebuild},
    {NULL, NULL, NULL, NULL}};

static const spl_frag_follow hnsw_follow = {.glob = "*"}; /* every key: any may get a vector */

static const spl_frag_desc hnsw_desc = {
    SPL_FRAG_DESC_INIT,
    .name = "hnsw",
    .version = "1.0.0",
    .summary = "HNSW approximate nearest-neighbour index, searched in place by every process",
    .opts = hnsw_opts,
    .cmds = hnsw_cmds,
    .follow = &hnsw_follow,
    .start = frag_start,
    .events = frag_events,
    .resync = frag_resync,
    .stop = frag_stop,
    .ann_open = frag_ann_open,
    .ann_search = frag_ann_search,
    .ann_close = frag_ann_close,
};

SPL_FRAGMENT_EXPORT const spl_frag_desc *spl_fragment_entry(const spl_frag_api *api)
{
    A = api;
    return &hnsw_desc;
}
