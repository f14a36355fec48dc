/*
 * hnsw.h - approximate nearest-neighbour search over a Splinter store's
 * vectors: an HNSW graph kept in a shared-memory region beside the store
 * (layout: hnsw_layout.h; design: README.md).
 *
 * One writer (the process hosting the fragment) keeps the graph in step
 * with the store: hnsw_sync reconciles it with every vector of the store,
 * hnsw_apply takes one change (a change-feed event), hnsw_rebuild starts
 * afresh.  Any number of readers, in any process, map the region and search
 * it in place (hnsw_search, or spl_vec_search with SPL_VQ_ANN once
 * hnsw_provide has registered the index on a store handle).  Readers never
 * write the region and never trust it: every value they read is
 * bound-checked, torn lists are detected by per-list seqlocks, and every hit
 * is checked against the store before it is returned (a key that holds that
 * vector, with its current score).
 *
 * Conventions are splinter.h's: 0 or a negative SPL_E* / -errno code.
 */
#ifndef SPLINTER_HNSW_H
#define SPLINTER_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "splinter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hnsw_index hnsw_index;

/* Build parameters, fixed for the life of a region (another set means a
 * rebuild). */
typedef struct hnsw_params {
    uint32_t m;               /* links per node above level 0 (level 0: 2 m); 2..64, default 16 */
    uint32_t ef_construction; /* candidates while linking; default 200 */
    spl_metric metric;        /* the metric the graph serves; default cosine */
    uint64_t seed;            /* level draws (0: from the clock) */
    uint32_t format;          /* the graph's copies of the vectors: HNSW_F16 (default:
                                 half the memory and memory traffic; hits are scored
                                 from the store's vector either way) or HNSW_F32 */
} hnsw_params;

enum { HNSW_F32 = 0, HNSW_F16 = 1 };

void hnsw_params_init(hnsw_params *p);

/* The store functions the index calls: splinter.h's by default
 * (hnsw_ops_default, in hnsw_ops.c, which links libsplinter); a fragment
 * host passes its own table (the fragment does not link libsplinter). */
typedef struct hnsw_ops {
    int (*vec_get)(spl_store *s, const char *key, float *out, uint32_t dim, uint64_t *epoch_out);
    int (*meta_get)(spl_store *s, const char *key, spl_meta *out);
    int (*foreach)(spl_store *s, const spl_filter *f, spl_iter_fn fn, void *ud);
    int (*info_get)(spl_store *s, spl_info *out);
    uint64_t (*changes)(spl_store *s);                        /* NULL: from info_get */
    int (*key_prep)(spl_store *s, const char *key, spl_key *out); /* NULL: seed not checked */
    int (*vec_ann_set)(spl_store *s, spl_vec_ann_fn fn, void *ud); /* NULL: no hnsw_provide */
    /* A reader over memory the caller mapped: hnsw_close hands it to this
     * (spl_frag_region_unmap for a fragment's region).  NULL: it stays the
     * caller's. */
    void (*region_unmap)(const void *addr, size_t len);
    /* spl_retry_init / spl_retry_pause: a read that meets a busy slot
     * sleeps on it until its writer commits.  NULL (a host of fragment
     * ABI 3 or older): it backs off with sched_yield instead. */
    void (*retry_init)(spl_retry *r, uint32_t timeout_us);
    int (*retry_pause)(spl_store *s, const char *key, int write, spl_retry *r);
} hnsw_ops;

extern const hnsw_ops hnsw_ops_default;

/* Bytes a region needs for store geometry (slots, key_max, vec_dim) and p. */
uint64_t hnsw_region_bytes(uint32_t slots, uint32_t key_max, uint32_t vec_dim, const hnsw_params *p);

/* The default region path of a store opened by `name`: NAME.hnsw beside a
 * FILE store (a name with '/'), else $SPLINTER_SHM_DIR/NAME.hnsw or
 * /dev/shm/splinter-<euid>/NAME.hnsw (where SHM stores live).  Returns the
 * length, SPL_ENOBUFS or SPL_EINVAL. */
int hnsw_path(const char *name, char *out, size_t cap);

/* ---- the writer ---------------------------------------------------------
 * One writer at a time: the region's owner word names it (a writer that
 * died is replaced, and a graph it left half-changed is repaired).  Writer
 * calls are not thread-safe: one thread at a time. */

/* Progress of a sync or rebuild: done of total keys visited.  Return
 * non-zero to stop (the call then returns that value). */
typedef int (*hnsw_progress_fn)(uint64_t done, uint64_t total, void *ud);

enum {
    HNSW_OPEN_REBUILD = 1u << 0, /* rebuild even if the region is usable */
    HNSW_OPEN_NOSYNC = 1u << 1,  /* do not sync at open (the caller will) */
    HNSW_OPEN_NOBUILD = 1u << 2  /* do not rebuild at open: a region that needs
                                    it is left EMPTY or BUILDING (readers
                                    decline) for the caller's hnsw_rebuild */
};

/* Open the region at `path` (created 0600 if absent) as its writer and make
 * it current: a region that is missing, of another store, of other params
 * or of another layout is (re)initialised and rebuilt from the store's
 * vectors; one a dead writer left dirty is repaired; then it is synced
 * (unless HNSW_OPEN_NOSYNC).  progress (may be NULL) sees the rebuild or
 * sync.  Errors: SPL_EAGAIN (a live writer holds it), SPL_ENOTSUP (the
 * store has no vectors), SPL_EINVAL, SPL_ENOMEM, -errno, and sync's. */
int hnsw_open_writer(hnsw_index **out, spl_store *s, const char *path, const hnsw_params *p,
                     uint32_t flags, hnsw_progress_fn progress, void *ud);

/* The same over memory the caller maps (a fragment host's region, a memfd):
 * addr, bytes >= hnsw_region_bytes(); zeroed memory is initialised.  The
 * mapping stays the caller's.  Errors: SPL_ESIZE (too small), as above. */
int hnsw_attach_writer(hnsw_index **out, spl_store *s, void *addr, size_t bytes,
                       const hnsw_params *p, const hnsw_ops *ops, uint32_t flags,
                       hnsw_progress_fn progress, void *ud);

/* Reconcile with the store: every key holding a vector gets a node whose
 * copy is current (inserted, relinked or refreshed), every node whose key
 * lost its vector becomes a tombstone; then `applied` is the change counter
 * read at the start.  Errors: -errno, SPL_ENOMEM, the progress callback's
 * value. */
int hnsw_sync(hnsw_index *x, hnsw_progress_fn progress, void *ud);

/* Clear the graph and insert every vector of the store (readers fall back
 * to exact search meanwhile: the state is BUILDING). */
int hnsw_rebuild(hnsw_index *x, hnsw_progress_fn progress, void *ud);

/* Apply one change to key (a change-feed event: slot is the event's slot,
 * or SPL_EV_NOSLOT if unknown): the key's vector is read from the store and
 * its node inserted, relinked, refreshed or made a tombstone.  Returns 0,
 * or SPL_EAGAIN (the key stayed busy; apply it again later), SPL_EKEYLEN,
 * SPL_ECORRUPT. */
int hnsw_apply(hnsw_index *x, uint32_t slot, const char *key);

/* Record that every change up to `changes` (spl_changes(), read before the
 * events were taken) has been applied. */
void hnsw_mark_applied(hnsw_index *x, uint64_t changes);

/* Repair a graph a writer left half-changed: torn nodes are dropped (the
 * next sync re-inserts them), lists are made whole and cleaned of ids out
 * of range or of absent nodes, the entry point and counters are recomputed.
 * Returns the number of things fixed.  Done by hnsw_open_writer when needed. */
int hnsw_repair(hnsw_index *x);

/* ---- readers --------------------------------------------------------------
 * A reader handle may be used by any number of threads at once. */

/* Map the region at `path` read-only.  Errors: SPL_ENOENT (no region, or
 * not this store's: another identity or geometry), SPL_EMAGIC,
 * SPL_EVERSION, SPL_ELAYOUT, SPL_ESIZE, -errno. */
int hnsw_open_reader(hnsw_index **out, spl_store *s, const char *path);

/* The same over memory the caller mapped (at least readable). */
int hnsw_attach_reader(hnsw_index **out, spl_store *s, const void *addr, size_t bytes,
                       const hnsw_ops *ops);

/* Approximate top-k.  The query is spl_vec_search's (vec or key, k,
 * metric, labels, prefix, SPL_VQ_SKIP_SELF; ef: candidates kept, 0 = the
 * default 64, raised to k; threads ignored).  Filters are applied during
 * the graph walk (only keys passing them enter the candidate list; the walk
 * goes on through the others), then each hit is checked against the store.
 * *out as spl_vec_search's, with SPL_VR_ANN, scanned = distances computed,
 * skipped = nodes skipped (busy, torn, corrupt, stale).  Errors: SPL_ESTALE
 * (not usable now: being built, lagging by more than the limit, rebuilt
 * during the search; the exact search should answer), SPL_ENOTSUP (built
 * for another metric), SPL_EINVAL, SPL_EDIM, SPL_ENAN, SPL_ENOMEM.
 * Concurrency: a reader; never writes the region or the store. */
int hnsw_search(hnsw_index *x, const spl_vec_query *q, spl_vec_result **out);

/* Register x as the store handle's ANN provider (spl_vec_ann_set): then
 * spl_vec_search with SPL_VQ_ANN uses it and falls back to the exact scan
 * when it declines.  x must outlive the registration (hnsw_close removes
 * it).  Errors of spl_vec_ann_set; SPL_ENOTSUP without ops->vec_ann_set. */
int hnsw_provide(hnsw_index *x);

/* The index a registered `hnsw` fragment keeps (splinterctl insmod hnsw):
 * map its region "graph" read-only (spl_frag_region_map: this store's, by
 * its identity) and attach a reader to it; hnsw_close unmaps it.  instance:
 * the fragment's name (NULL: "hnsw", else the first instance of a library
 * called hnsw.so).  flags: HNSW_FRAG_LIVE refuses an instance whose host is
 * not running (SPL_ESTALE: its index no longer follows the store);
 * HNSW_FRAG_PROVIDE also registers it (hnsw_provide), so that
 * spl_vec_search with SPL_VQ_ANN uses it.  Errors: SPL_ENOENT (no such
 * fragment, or no region of this store), SPL_ESTALE, hnsw_attach_reader's,
 * spl_frag_region_map's.  In libsplinter-hnsw (hnsw_ops.c), not in the
 * module. */
enum { HNSW_FRAG_LIVE = 1u << 0, HNSW_FRAG_PROVIDE = 1u << 1 };
int hnsw_frag_open(hnsw_index **out, spl_store *s, const char *instance, uint32_t flags);

/* Largest lag (store changes not yet applied) a search accepts before it
 * declines with SPL_ESTALE.  Default: HNSW_LAG_AUTO = max(64, live / 100). */
#define HNSW_LAG_AUTO UINT64_MAX
void hnsw_set_max_lag(hnsw_index *x, uint64_t max_lag);

/* hnsw_stat.state */
enum { HNSW_STATE_EMPTY = 0, HNSW_STATE_BUILDING = 1, HNSW_STATE_READY = 2 };

typedef struct hnsw_stat {
    uint32_t state;        /* HNSW_STATE_*: READY serves searches */
    uint32_t nodes;        /* capacity (= store slots) */
    uint32_t dim, m, m0, ef_construction;
    spl_metric metric;
    uint32_t format;       /* HNSW_F32, HNSW_F16 */
    uint32_t top_level;    /* of the entry point; 0 for an empty graph */
    uint64_t live, deleted;
    uint64_t applied;      /* change counter caught up with */
    uint64_t lag;          /* spl_changes() - applied */
    uint64_t generation;
    uint64_t build_done, build_total;
    uint64_t region_bytes;
    uint64_t node_stride;
    uint64_t pool_lists, pool_used;
    int writer_alive;      /* a live process owns it */
    int dirty;             /* its writer is inside a change (or died there) */
    uint32_t opened_dirty; /* this handle found it dirty with a dead writer */
    uint32_t repairs;      /* and made this many fixes (hnsw_repair) */
    uint32_t relinked;     /* of which nodes linked again: the one a dead put
                            * was changing, and live nodes the entry point
                            * could no longer reach (hnsw_reach) */
} hnsw_stat;

int hnsw_stat_get(hnsw_index *x, hnsw_stat *out);

/* Check the graph's invariants (tests): every list even and whole, ids in
 * range, no self links, links only to present nodes, entry valid, counters
 * right.  Returns the number of violations (0: sound); details to stderr if
 * verbose. */
int hnsw_check(hnsw_index *x, int verbose);

/* Live nodes a search cannot reach: on each level, those not reached from
 * the entry point by following that level's lists (through tombstones).
 * *per_level (may be NULL; 17 counts, levels 0..16) gets each level's.
 * Returns the level-0 count (what recall loses), or an error.  The writer's
 * take-over of a dirty graph links such nodes again; a reader may call it
 * on a quiet graph (tests, diagnostics). */
int64_t hnsw_reach(hnsw_index *x, uint64_t *per_level);

/* Read every list of every node as a reader does (between two reads of its
 * seq) while the writer may be changing them, and check each copy: ids in
 * range, no self link, no id twice (the writer never writes such a list,
 * so one seen is a torn read).  *lists, *busy (may be NULL): lists read,
 * lists skipped because they stayed busy.  Returns the number of bad
 * copies.  Safe from any process (tests). */
int hnsw_audit(hnsw_index *x, uint64_t *lists, uint64_t *busy);

/* Unmap (if mapped here), give the writer role back, unregister.  NULL is a
 * no-op. */
void hnsw_close(hnsw_index *x);

#ifdef __cplusplus
}
#endif
#endif /* SPLINTER_HNSW_H */
