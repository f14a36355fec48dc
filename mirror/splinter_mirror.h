/*
 * splinter_mirror.h - mirror a Splinter store to and from a NATS JetStream
 * key-value bucket (mirror/README.md).  Built with WITH_NATS=1 (libnats);
 * the core library knows nothing of it.
 *
 * Publish: follows the store through its change feed and puts each change
 * of the selected keys into the bucket.  Apply: starts from a snapshot of
 * the bucket, then watches it and writes every change into the store.  Both
 * directions may run in one mirror (the usual way to join machines: one
 * mirror per store, both directions, one bucket).
 *
 * Conventions as in splinter.h: 0 on success, negative codes on failure
 * (spl_errno values, or SPL_MIRROR_E* below).
 */
#ifndef SPLINTER_MIRROR_H
#define SPLINTER_MIRROR_H

#include <stdint.h>

#include "splinter.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Codes of the mirror (below the core library's band). */
#define SPL_MIRROR_ENATS   (-2000) /* NATS client error (spl_mirror_errmsg says which) */
#define SPL_MIRROR_EBUCKET (-2001) /* the server has no such bucket or refuses it
                                      (JetStream off, no permission, bad config) */
#define SPL_MIRROR_EAUTH   (-2002) /* authentication or TLS refused */
#define SPL_MIRROR_ECONFIG (-2003) /* bad option (spl_mirror_errmsg says which) */

/* Text for SPL_MIRROR_E* and every spl_errno code.  Never NULL. */
const char *spl_mirror_strerror(int err);

enum {
    SPL_MIRROR_PUBLISH = 1u << 0, /* store -> bucket */
    SPL_MIRROR_APPLY = 1u << 1    /* bucket -> store */
};

#define SPL_MIRROR_OPTS_VERSION 1u

typedef struct spl_mirror_opts {
    uint32_t version;        /* SPL_MIRROR_OPTS_VERSION */
    uint32_t dirs;           /* SPL_MIRROR_PUBLISH | SPL_MIRROR_APPLY */
    const char *url;         /* nats://host:port (several: comma-separated);
                                credentials in it are refused */
    const char *bucket;      /* [A-Za-z0-9_-], 1..64 bytes */
    /* Publish: which keys (both may be given: keys under the prefix that
     * carry the label).  Apply writes whatever the bucket holds. */
    const char *prefix;      /* NULL: any key */
    int label;               /* label bit 0..63, or -1: any key */
    int group;               /* signal group the publisher follows, 0..63
                                (-1: 63) */
    uint32_t vectors;        /* publish each key's vector with its value */
    uint32_t no_create;      /* the bucket must exist (else it is created) */
    uint32_t history;        /* history of a bucket created here (0: 1) */
    int64_t max_value;       /* max value size of a bucket created here
                                (0: the server's limit) */
    /* Security: files only, never secrets in arguments. */
    const char *creds_file;  /* NATS credentials (JWT + seed), mode 0600 */
    const char *token_file;  /* a token on its first line, mode 0600 */
    const char *tls_ca;      /* CA certificates (PEM) to verify the server */
    const char *tls_cert;    /* client certificate chain (PEM) ... */
    const char *tls_key;     /* ... and its private key, mode 0600 */
    uint32_t tls;            /* require TLS (implied by tls_* files) */
    uint32_t backoff_min_ms; /* reconnect and retry back-off (0: 100) */
    uint32_t backoff_max_ms; /* (0: 5000) */
    uint32_t max_pending;    /* publishes in flight (0: 4096) */
    uint32_t verbose;        /* log every skip (else the first few) */
} spl_mirror_opts;

void spl_mirror_opts_init(spl_mirror_opts *o);

typedef struct spl_mirror_stats {
    uint64_t published;        /* entries put into the bucket (acknowledged) */
    uint64_t published_del;    /* deletes put into the bucket */
    uint64_t applied;          /* bucket entries written into the store */
    uint64_t applied_del;      /* deletes applied */
    uint64_t same;             /* entries already held (nothing written) */
    uint64_t dup;              /* entries skipped: origin+epoch applied before */
    uint64_t skip_foreign;     /* entries skipped: not of this format, bad key */
    uint64_t skip_geometry;    /* entries skipped: too large, wrong vector
                                  dimension, NaN, store full */
    uint64_t skip_rejected;    /* publishes the server refused for good */
    uint64_t retries;          /* publishes retried (timeout, disconnected) */
    uint64_t interfered;       /* applies overtaken by a local write */
    uint64_t rescans;          /* full rescans of the store */
    uint64_t overflows;        /* change feed overflows */
    uint64_t reconnects;       /* reconnections to the server */
    uint64_t watch_restarts;   /* bucket watches started (1, + 1 per watch ended
                                  by an error) */
    uint64_t rev;              /* last bucket revision applied */
    uint64_t store_id;         /* this store's id (the origin it publishes) */
    uint32_t connected;        /* 1 while connected */
    uint32_t ready;            /* 1 once the first snapshot is in and the first
                                  rescan done */
} spl_mirror_stats;

typedef struct spl_mirror spl_mirror;

/* Check the options and make a mirror of store s (kept open by the caller
 * until spl_mirror_free).  Nothing is connected yet.  Errors:
 * SPL_MIRROR_ECONFIG, SPL_EROFS (applying or resuming needs a writable
 * store; so does following: a subscriber counts itself), SPL_ENOMEM. */
int spl_mirror_new(spl_mirror **out, spl_store *s, const spl_mirror_opts *o);

/* Run until spl_mirror_stop: connect (retrying with back-off while no
 * server answers), bind the bucket, then publish and/or apply; reconnect
 * with back-off when the server goes away.  Returns 0 after a stop, or a
 * fatal error: SPL_MIRROR_EBUCKET, SPL_MIRROR_EAUTH, SPL_MIRROR_ENATS,
 * SPL_MIRROR_ECONFIG (key_max too short for the resume key), or a store
 * error.  Call once per mirror. */
int spl_mirror_run(spl_mirror *m);

/* Ask spl_mirror_run to return.  Async-signal-safe; any thread. */
void spl_mirror_stop(spl_mirror *m);

/* Counters so far.  Any thread, at any time. */
void spl_mirror_stats_get(spl_mirror *m, spl_mirror_stats *out);

/* Text of the last error (never NULL). */
const char *spl_mirror_errmsg(spl_mirror *m);

/* After spl_mirror_run returned (or was never called). */
void spl_mirror_free(spl_mirror *m);

/* The command line of splinter-mirror (its usage with --help): parse argv
 * (argv[0] is the program or command name), open the store, run until
 * SIGINT or SIGTERM (its handlers are installed for the run, the caller's
 * put back after; SIGPIPE is left ignored) and return the program's exit status (0 stopped, 1 bad
 * usage, 2 store, 3 server refused, 4 store error while running).  Used by
 * splinter-mirror and `splinterctl mirror`.  May call exit(1) on a bad
 * number. */
int spl_mirror_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* SPLINTER_MIRROR_H */
