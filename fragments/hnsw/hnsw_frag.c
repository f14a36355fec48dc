/*
 * hnsw_frag.c - the HNSW index as a fragment: NOT BUILT YET.
 *
 * Written against the draft of include/splinter_fragment.h (ABI version 1,
 * branch `frag`), which has not landed on this branch: nothing builds or
 * runs this file, and nothing here has been tested.  `make hnsw-frag`
 * compiles it once the header exists.  What is left to do is listed in
 * README.md, "Wiring to the fragment ABI"; in short:
 *   - region: api->region(ctx, "graph", bytes) gives the memory, stamped
 *     with the store's identity by the host; hnsw_attach_writer runs on it;
 *   - events: each CHANGED or DELETED event is hnsw_apply(slot, key); the
 *     change counter read before the previous batch is then marked applied
 *     (conservative: never claims a change not yet applied);
 *   - resync: hnsw_sync (START, OVERFLOW, UNKNOWN alike);
 *   - readers in other processes: spl_frag_region_map(s, "hnsw", "graph")
 *     then hnsw_attach_reader + hnsw_provide (hnsw_frag_reader below), so
 *     that splinterctl, the bindings and spl_vec_search with SPL_VQ_ANN
 *     find the index without knowing a path.
 * The fragment does not link libsplinter: every store call goes through
 * the host's table (hnsw_ops filled from spl_frag_api).
 */
#include "hnsw.h"
#include "splinter_fragment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const spl_frag_api *A;

struct hnsw_frag {
    hnsw_index *x;
    uint64_t last_changes; /* the change counter read before the previous batch */
};

static uint64_t frag_changes(spl_store *s)
{
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
    o->changes = frag_changes; /* spl_info_get: once per batch, not per search */
    /* key_prep: NULL (the host's region head carries the store identity);
     * vec_ann_set: NULL (the host process does not search) */
}

static const spl_frag_opt hnsw_opts[] = {
    {"m", "16", "links per node above level 0 (level 0: 2 m)"},
    {"efc", "200", "candidates while linking (ef_construction)"},
    {"metric", "cosine", "cosine, dot or l2"},
    {"format", "f16", "the graph's copies: f16 or f32"},
    {NULL, NULL, NULL}};

static int frag_start(spl_frag_ctx *ctx, int argc, const char *const *argv, void **state)
{
    (void)argc, (void)argv;
    spl_store *s = A->store(ctx);
    hnsw_params p;
    hnsw_params_init(&p);
    p.m = (uint32_t)strtoul(A->arg(ctx, "m"), NULL, 10);
    p.ef_construction = (uint32_t)strtoul(A->arg(ctx, "efc"), NULL, 10);
    const char *m = A->arg(ctx, "metric");
    p.metric = !strcmp(m, "dot") ? SPL_METRIC_DOT : !strcmp(m, "l2") ? SPL_METRIC_L2 : SPL_METRIC_COSINE;
    p.format = strcmp(A->arg(ctx, "format"), "f32") ? HNSW_F16 : HNSW_F32;
    spl_info in;
    int rc = A->info_get(s, &in);
    if (rc)
        return rc;
    uint64_t bytes = hnsw_region_bytes(in.geom.slots, in.geom.key_max, in.geom.vec_dim, &p);
    if (!bytes) {
        A->fail(ctx, "the store has no vectors, or bad options");
        return SPL_EINVAL;
    }
    void *addr;
    if ((rc = A->region(ctx, "graph", bytes, &addr)) != 0) {
        A->fail(ctx, "region: %s", A->strerror(rc));
        return rc;
    }
    struct hnsw_frag *f = calloc(1, sizeof *f);
    if (!f)
        return SPL_ENOMEM;
    hnsw_ops ops;
    frag_ops(&ops);
    f->last_changes = frag_changes(s);
    /* no sync here: the host calls resync(START) next */
    rc = hnsw_attach_writer(&f->x, s, addr, bytes, &p, &ops, HNSW_OPEN_NOSYNC, NULL, NULL);
    if (rc) {
        A->fail(ctx, "index: %s", A->strerror(rc));
        free(f);
        return rc;
    }
    *state = f;
    return 0;
}

static int frag_events(spl_frag_ctx *ctx, void *state, const spl_frag_event *ev, size_t n)
{
    struct hnsw_frag *f = state;
    uint64_t now = frag_changes(A->store(ctx));
    int err = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].kind != SPL_EV_CHANGED && ev[i].kind != SPL_EV_DELETED)
            continue;
        int rc = hnsw_apply(f->x, ev[i].slot, ev[i].key);
        if (rc && !err)
            err = rc; /* SPL_EAGAIN: a key stayed busy; the next resync takes it */
    }
    hnsw_mark_applied(f->x, f->last_changes);
    f->last_changes = now;
    return err;
}

static int frag_progress(uint64_t done, uint64_t total, void *ud)
{
    (void)done, (void)total, (void)ud;
    return 0; /* the region's header shows it (splinter-hnsw stat) */
}

static int frag_resync(spl_frag_ctx *ctx, void *state, int reason)
{
    (void)ctx, (void)reason;
    struct hnsw_frag *f = state;
    return hnsw_sync(f->x, frag_progress, NULL);
}

static void frag_stop(spl_frag_ctx *ctx, void *state)
{
    (void)ctx;
    struct hnsw_frag *f = state;
    hnsw_close(f->x);
    free(f);
}

static int cmd_stat(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)argc, (void)argv;
    struct hnsw_frag *f = state;
    hnsw_stat st;
    hnsw_stat_get(f->x, &st);
    return A->reply(r, "{\"state\":%u,\"live\":%llu,\"deleted\":%llu,\"lag\":%llu,\"top_level\":%u}", st.state,
                    (unsigned long long)st.live, (unsigned long long)st.deleted, (unsigned long long)st.lag,
                    st.top_level);
}

static int cmd_rebuild(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)argc, (void)argv;
    struct hnsw_frag *f = state;
    int rc = hnsw_rebuild(f->x, frag_progress, NULL);
    return rc ? rc : A->reply(r, "{\"rebuilt\":true}");
}

static const spl_frag_cmd hnsw_cmds[] = {
    {"stat", "", "the index: state, live nodes, tombstones, lag", cmd_stat},
    {"rebuild", "", "clear the graph and insert every vector again", cmd_rebuild},
    {NULL, NULL, NULL, NULL}};

static const spl_frag_follow hnsw_follow = {.glob = "*"}; /* every key: any may get a vector */

static const spl_frag_desc hnsw_desc = {
    SPL_FRAG_DESC_INIT,
    .name = "hnsw",
    .version = "0.1.0",
    .summary = "HNSW approximate nearest-neighbour index, searched in place by every process",
    .opts = hnsw_opts,
    .cmds = hnsw_cmds,
    .follow = &hnsw_follow,
    .start = frag_start,
    .events = frag_events,
    .resync = frag_resync,
    .stop = frag_stop,
};

SPL_FRAGMENT_EXPORT const spl_frag_desc *spl_fragment_entry(const spl_frag_api *api)
{
    A = api;
    return &hnsw_desc;
}

/* For reader processes (they link libsplinter and this library): map the
 * fragment's region read-only and offer it to spl_vec_search. */
int hnsw_frag_reader(spl_store *s, hnsw_index **out)
{
    const void *addr;
    size_t len;
    int rc = spl_frag_region_map(s, "hnsw", "graph", &addr, &len);
    if (rc)
        return rc;
    rc = hnsw_attach_reader(out, s, addr, len, NULL);
    if (rc) {
        spl_frag_region_unmap(addr, len);
        return rc;
    }
    return hnsw_provide(*out);
    /* TODO: hnsw_close does not unmap memory it did not map; keep addr/len
     * to spl_frag_region_unmap them */
}
