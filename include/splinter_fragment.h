/*
 * splinter_fragment.h - the fragment ABI: how a loadable module ("fragment")
 * plugs into a Splinter host.  A second contract beside splinter.h,
 * versioned on its own (SPL_FRAG_ABI_VERSION).  docs/FRAGMENTS.md has the
 * whole story (registry, host, commands, examples).
 *
 * A fragment is a shared library exporting one function:
 *
 *     SPL_FRAGMENT_EXPORT const spl_frag_desc *spl_fragment_entry(const spl_frag_api *api);
 *
 * which keeps `api` (the host's table of functions) and returns its
 * descriptor.  It does not link libsplinter: everything it may call is in
 * the table, like SQLite's sqlite3ext.h.  The entry point may be called more
 * than once (the registering process probes it, the host loads it); it must
 * only return the descriptor.
 *
 * Versioning (append-only).  Both structs begin with their own size.
 *   - spl_frag_api: members are only ever appended.  api->abi is the host's
 *     SPL_FRAG_ABI_VERSION; a member added in version N exists when
 *     api->abi >= N (SPL_FRAG_API_HAS checks the size, which is the same).
 *   - spl_frag_desc: members are only ever appended.  desc->size is the
 *     size the fragment was built with: a host reads that many bytes and
 *     takes members beyond it as zero, so fragments built against an older
 *     header keep loading in newer hosts.  desc->abi is the ABI version the
 *     fragment needs; a host older than that refuses it (SPL_EABI, "needs
 *     fragment ABI N, this host has M").
 *   - Every append raises SPL_FRAG_ABI_VERSION.  Nothing is removed or
 *     reordered; spl_frag_event and spl_frag_follow never change (a new
 *     shape would come with a new callback).
 *
 * Threading.  A host runs each fragment instance on a thread of its own:
 *   - start, events, resync, commands and stop of one instance are called
 *     from that thread, one at a time, never at once: a fragment needs no
 *     lock for its own state;
 *   - instances (two fragments, or two instances of one library) run on
 *     different threads at the same time: global variables of the library
 *     are shared between them and need care (keep state in *state);
 *   - a fragment may call every function of the table from its callbacks;
 *     from threads it starts it may call the store functions (api->get,
 *     api->set, ...: a store handle is thread-safe) and api->log, but not
 *     the ones that take a spl_frag_reply or change the host's view of it
 *     (follow, region); it must join such threads in stop;
 *   - it must not: close the store, call exit or _exit, install signal
 *     handlers, fork, unload itself, or block a callback for long (commands
 *     and stops wait for the callback in hand, and its lag grows).
 *   - A fragment that crashes takes its host process down (run one host per
 *     fragment, as `splinterctl insmod` does, to isolate them); its state in
 *     the store survives and a restarted instance resyncs.
 */
#ifndef SPLINTER_FRAGMENT_H
#define SPLINTER_FRAGMENT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "splinter.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1: the first version.  2: vec_set_if appended to spl_frag_api.
 * 3: region_map, region_unmap and changes appended to spl_frag_api;
 *    ann_open, ann_search and ann_close (the reader side of an ANN index)
 *    appended to spl_frag_desc.
 * 4: retry_init and retry_pause (spl_retry_init, spl_retry_pause: wait out a
 *    busy slot asleep, as the *_wait calls do) appended to spl_frag_api. */
#define SPL_FRAG_ABI_VERSION 4u

#define SPL_FRAG_ENTRY_SYMBOL "spl_fragment_entry"
#define SPL_FRAGMENT_EXPORT __attribute__((visibility("default")))

/* The host's context for one fragment instance (opaque). */
typedef struct spl_frag_ctx spl_frag_ctx;
/* A reply being built for a command (opaque; bounded to SPL_FRAG_REPLY_MAX). */
typedef struct spl_frag_reply spl_frag_reply;

/* One change, as the host hands it over.  Fixed for ever. */
typedef struct spl_frag_event {
    uint64_t seq;     /* position in the change feed */
    uint64_t epoch;   /* the key's epoch after the change (0 for SIGNAL) */
    uint64_t groups;  /* the groups it pulsed (of those followed) */
    uint32_t slot;    /* slot index, SPL_EV_NOSLOT for a signal */
    uint32_t kind;    /* enum spl_event_kind: CHANGED, DELETED, BUMPED, SIGNAL */
    const char *key;  /* NUL-terminated, valid during the callback ("" for SIGNAL) */
    size_t key_len;
} spl_frag_event;

/* What an instance follows: set with api->follow() from start (the default
 * is the descriptor's `follow`, or nothing).  Events reach `events` when
 * they pulse one of `groups`, or (prefix, glob, labels set) the reserved
 * SPL_FRAG_GROUP_KEYS, and the key passes every filter that is set:
 *   prefix: the key starts with it;  glob: fnmatch(3) without flags;
 *   labels: the key carries all of them (any, with SPL_F_LABELS_ANY in
 *   flags; a deleted key's labels are unknown: its DELETED event passes).
 * With a prefix or glob the host binds every key to SPL_FRAG_GROUP_KEYS
 * (header bind_all): writers then add one feed entry per mutation while the
 * host is subscribed.  With labels only, just those label bits are bound.
 * A SIGNAL event reaches the fragment only on one of `groups`. */
typedef struct spl_frag_follow {
    const char *prefix; /* NULL: any */
    const char *glob;   /* NULL: any */
    uint64_t labels;    /* 0: any */
    uint64_t groups;    /* groups followed as they are (watches, binds, signals) */
    uint32_t flags;     /* SPL_F_LABELS_ANY */
} spl_frag_follow;

/* Why resync is called. */
enum spl_frag_resync_reason {
    SPL_FRAG_RESYNC_START = 1,    /* after start: catch up with the store */
    SPL_FRAG_RESYNC_OVERFLOW = 2, /* the feed lapped the host: events were lost */
    SPL_FRAG_RESYNC_UNKNOWN = 3,  /* an event named a slot that has moved on */
    SPL_FRAG_RESYNC_RETRY = 4     /* events or resync returned SPL_EAGAIN */
};

/* Log levels for api->log. */
enum { SPL_FRAG_LOG_ERROR = 0, SPL_FRAG_LOG_WARN = 1, SPL_FRAG_LOG_INFO = 2, SPL_FRAG_LOG_DEBUG = 3 };

/* An option the fragment accepts as NAME=VALUE (listed by `lsmod --json`,
 * checked by insmod: an unknown NAME is refused).  def may be NULL. */
typedef struct spl_frag_opt {
    const char *name;
    const char *def;
    const char *help;
} spl_frag_opt;

/* A command other processes can call (`splinterctl frag NAME CMD ARGS`).
 * argv[0] is the command.  Write the reply, one JSON value, with
 * api->reply / api->reply_str.  Return 0, or a negative code (the reply
 * should then say why: e.g. {"error":"no such key"}); a command that
 * returns an error with an empty reply gets {"error": CODE-NAME}. */
typedef int (*spl_frag_cmd_fn)(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv,
                               spl_frag_reply *reply);
typedef struct spl_frag_cmd {
    const char *name;  /* [a-z0-9_-]; "help" is answered by the host if absent */
    const char *usage; /* arguments, e.g. "KEY" */
    const char *help;  /* one line */
    spl_frag_cmd_fn fn;
} spl_frag_cmd;

typedef struct spl_frag_desc {
    uint32_t size;       /* sizeof(spl_frag_desc): SPL_FRAG_DESC_INIT sets it */
    uint32_t abi;        /* the fragment ABI version it needs */
    const char *name;    /* default instance name: [a-z][a-z0-9_-]*, <= 31 bytes */
    const char *version; /* its own version, <= 31 bytes */
    const char *summary; /* one line, <= 95 bytes */
    const spl_frag_opt *opts; /* options, ended by a NULL name; NULL: none */
    const spl_frag_cmd *cmds; /* commands, ended by a NULL name; NULL: none */
    const spl_frag_follow *follow; /* default of what it follows; NULL: nothing */
    /* start: args are NAME=VALUE strings (checked against opts).  Set
     * *state (passed to every other callback).  Return 0 or a negative code;
     * say why with api->fail (shown by lsmod).  Required. */
    int (*start)(spl_frag_ctx *ctx, int argc, const char *const *argv, void **state);
    /* events: a batch of n >= 1 changes it follows, in feed order.  Return
     * 0 or a negative code (counted in errors; the host goes on).
     * SPL_EAGAIN (from events or resync) says it could not finish (a key
     * stayed busy): the host resyncs it soon (at most every 10 ms). */
    int (*events)(spl_frag_ctx *ctx, void *state, const spl_frag_event *ev, size_t n);
    /* resync: events may have been missed (or this is the start): rescan
     * what it follows (api->scan).  May be NULL. */
    int (*resync)(spl_frag_ctx *ctx, void *state, int reason);
    /* stop: the last call; free *state.  May be NULL. */
    void (*stop)(spl_frag_ctx *ctx, void *state);

    /* ---- version 3: an approximate index other processes search ----
     * A fragment that keeps an ANN index in its regions may offer it to
     * every process: spl_vec_search with SPL_VQ_ANN, on a handle without a
     * provider of its own (spl_vec_ann_set), loads the library of a RUNNING
     * instance that has these (its host flags it in the registry), in the
     * searching process, and uses them.  They run in that process, never on
     * the host's thread and without a ctx: only the store functions of the
     * table and region_map / region_unmap / changes may be called.  The
     * library is checked as a host checks it (owner, mode) before it loads.
     *   ann_open: map what instance `name` keeps for store s (read-only,
     *     api->region_map) and set *ud.  SPL_ENOENT (nothing yet), or an
     *     error: the exact scan answers.  Called again later (at most
     *     every 100 ms) after a failure, and when the instance restarts.
     *   ann_search: spl_vec_ann_fn's contract (the query is already
     *     checked): 0 with *out, or SPL_ESTALE / SPL_ENOTSUP to decline.
     *     Called from any thread of that process, at once.
     *   ann_close: unmap and free ud (no search runs any more).
     * All three or none; NULL: not an ANN fragment. */
    int (*ann_open)(spl_store *s, const char *name, void **ud);
    int (*ann_search)(void *ud, spl_store *s, const spl_vec_query *q, spl_vec_result **out);
    void (*ann_close)(void *ud);
} spl_frag_desc;

#define SPL_FRAG_DESC_INIT .size = sizeof(spl_frag_desc), .abi = SPL_FRAG_ABI_VERSION

/* The host's functions.  Append-only; see the versioning rules above. */
typedef struct spl_frag_api {
    uint32_t size; /* sizeof(spl_frag_api) as the host was built */
    uint32_t abi;  /* the host's SPL_FRAG_ABI_VERSION */

    /* ---- the host (version 1) ---- */
    spl_store *(*store)(spl_frag_ctx *ctx);      /* the store (do not close it) */
    const char *(*name)(spl_frag_ctx *ctx);      /* this instance's name */
    /* The value of option `name` from the arguments, else its default, else NULL. */
    const char *(*arg)(spl_frag_ctx *ctx, const char *name);
    void (*log)(spl_frag_ctx *ctx, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* Record why start (or a callback) failed: shown by lsmod and insmod. */
    void (*fail)(spl_frag_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    /* What to follow (from start; the strings are copied).  SPL_EINVAL:
     * groups include the reserved ones, or an empty prefix or glob. */
    int (*follow)(spl_frag_ctx *ctx, const spl_frag_follow *f);
    /* Visit every key that passes the follow filters (prefix, glob, labels),
     * values included (SPL_F_VALUES): spl_foreach's contract.  A resync
     * should write only what changed: its own writes enter the feed too
     * (unless quiet), and a resync writing more than the feed holds would
     * lap it again. */
    int (*scan)(spl_frag_ctx *ctx, spl_iter_fn fn, void *ud);
    /* Append to a reply: formatted text / a JSON string (quoted, escaped) /
     * a JSON number that is always valid (NaN and infinities become null).
     * SPL_ENOBUFS when the reply is full (it is then cut and not valid). */
    int (*reply)(spl_frag_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    int (*reply_str)(spl_frag_reply *r, const char *s, size_t n);
    int (*reply_num)(spl_frag_reply *r, double v);
    /* A named region of shared memory beside the store, kept across
     * restarts (created zeroed at `bytes`; an existing one of another size
     * is SPL_EGEOMETRY).  name: [a-z0-9_-], 1..31 bytes.  Mapped until the
     * instance stops; other processes map it read-only with
     * spl_frag_region_map.  Errors: SPL_ENOTSUP (MEMFD store), SPL_ENAME,
     * SPL_EGEOMETRY, SPL_EINVAL, -errno. */
    int (*region)(spl_frag_ctx *ctx, const char *name, size_t bytes, void **addr);
    /* Quiet (on != 0): writes made by this instance's thread from now on do
     * not pulse SPL_FRAG_GROUP_KEYS, so fragments following a prefix or
     * glob (itself included) do not see them and the feed is not filled
     * with its own output; watches and label bindings still pulse.  Only
     * from its callbacks.  Off by default. */
    int (*quiet)(spl_frag_ctx *ctx, int on);

    /* ---- the store: splinter.h's functions, same contracts (version 1) ---- */
    const char *(*strerror)(int err);
    const char *(*err_name)(int err);
    int (*info_get)(spl_store *s, spl_info *out);
    int (*get)(spl_store *s, const char *key, void *buf, size_t cap, size_t *len_out);
    int (*get_wait)(spl_store *s, const char *key, void *buf, size_t cap, size_t *len_out,
                    uint32_t timeout_us);
    int (*set)(spl_store *s, const char *key, const void *val, size_t len);
    int (*set_wait)(spl_store *s, const char *key, const void *val, size_t len, uint32_t timeout_us);
    int (*unset)(spl_store *s, const char *key);
    int (*unset_wait)(spl_store *s, const char *key, uint32_t timeout_us);
    int (*cas)(spl_store *s, const char *key, uint64_t expected, const void *val, size_t len);
    int (*append)(spl_store *s, const char *key, const void *data, size_t len);
    int (*meta_get)(spl_store *s, const char *key, spl_meta *out);
    int (*type_set)(spl_store *s, const char *key, spl_type type);
    int (*labels_set)(spl_store *s, const char *key, uint64_t mask);
    int (*labels_clear)(spl_store *s, const char *key, uint64_t mask);
    int (*view_get)(spl_store *s, const char *key, spl_view *v);
    int (*view_valid)(spl_store *s, const spl_view *v);
    int (*read_with)(spl_store *s, const char *key, spl_read_fn fn, void *ud);
    int (*int_op)(spl_store *s, const char *key, spl_int_op op, uint64_t operand, uint64_t *out);
    int (*add)(spl_store *s, const char *key, int64_t delta, int64_t *out);
    int (*foreach)(spl_store *s, const spl_filter *f, spl_iter_fn fn, void *ud);
    int (*bump)(spl_store *s, const char *key);
    int (*signal)(spl_store *s, uint64_t groups);
    int (*key_wait)(spl_store *s, const char *key, uint64_t epoch, int64_t timeout_ns,
                    uint64_t *epoch_out);
    int (*vec_set)(spl_store *s, const char *key, const float *vec, uint32_t dim);
    int (*vec_get)(spl_store *s, const char *key, float *out, uint32_t dim, uint64_t *epoch_out);
    int (*vec_clear)(spl_store *s, const char *key);
    int (*vec_search)(spl_store *s, const spl_vec_query *q, spl_vec_result **out);
    void (*vec_result_free)(spl_vec_result *r);
    int (*key_prep)(spl_store *s, const char *key, spl_key *out);
    int (*get_k)(spl_store *s, const spl_key *k, void *buf, size_t cap, size_t *len_out);
    int (*set_k)(spl_store *s, const spl_key *k, const void *val, size_t len);
    int (*unset_k)(spl_store *s, const spl_key *k);
    int (*add_k)(spl_store *s, const spl_key *k, int64_t delta, int64_t *out);
    int (*get_many)(spl_store *s, const spl_key *keys, size_t n, void *bufs, size_t stride, size_t *lens,
                    int *rcs);
    int (*set_many)(spl_store *s, const spl_key *keys, size_t n, const void *vals, size_t stride,
                    const size_t *lens, int *rcs);
    /* ---- version 2 ---- */
    int (*vec_set_if)(spl_store *s, const char *key, uint64_t epoch, const float *vec, uint32_t dim);
    /* ---- version 3 ---- */
    /* spl_frag_region_map / spl_frag_region_unmap: map a region of instance
     * `frag` read-only (the reader side: ann_open). */
    int (*region_map)(spl_store *s, const char *frag, const char *region, const void **addr, size_t *len);
    void (*region_unmap)(const void *addr, size_t len);
    uint64_t (*changes)(spl_store *s); /* spl_changes */
    /* ---- version 4 ---- */
    /* spl_retry_init / spl_retry_pause: between tries of a call that gave
     * SPL_EAGAIN, sleep on the key's busy slot until its writer commits
     * (a dead writer's slot is recovered) instead of polling. */
    void (*retry_init)(spl_retry *r, uint32_t timeout_us);
    int (*retry_pause)(spl_store *s, const char *key, int write, spl_retry *r);
    /* version 5 and later: appended here */
} spl_frag_api;

/* Whether the host's table has `member` (it was added in a version the
 * host knows). */
#define SPL_FRAG_API_HAS(api, member)                                                              \
    ((api)->size >= offsetof(spl_frag_api, member) + sizeof((api)->member))

typedef const spl_frag_desc *(*spl_frag_entry_fn)(const spl_frag_api *api);

#ifdef __cplusplus
}
#endif
#endif /* SPLINTER_FRAGMENT_H */
