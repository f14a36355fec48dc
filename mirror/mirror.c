/*
 * mirror.c - mirror a Splinter store to and from a NATS JetStream KV bucket
 * (splinter_mirror.h; the rules are written out in mirror/README.md).
 *
 * Threads: the caller of spl_mirror_run is the publisher (change feed ->
 * bucket); a watcher thread reads the bucket (snapshot, then live) and is
 * the applier; libnats calls ack_cb on its own thread for each publish.
 * All per-key state lives in one table under m->mu.  The applier holds the
 * lock across a whole apply (several store writes) and the publisher holds
 * it while it reads a key, so the publisher never sees an apply half done.
 *
 * Per key the mirror keeps what the bucket has delivered (the "view": the
 * newest revision the watcher has passed, its content hash, origin) and
 * which local state the bucket has ordered, and where ("acc": PRESENT at
 * acc_epoch or ABSENT, ordered at revision acc_rev: the entry the applier
 * wrote or found equal, or the sequence the server acknowledged for our
 * put).  Ordering comes from those revisions, never from seeing our own
 * puts come back: a bucket keeps one revision per key, so the watch skips
 * revisions that were superseded before it got to them.
 *   - A local state not accounted for is a local change: the publisher puts
 *     it; the applier does not write over it (the put comes after the
 *     entry being applied, so it is the one the bucket orders last).
 *   - A local state in flight (put, not acknowledged yet): the applier
 *     waits for the acknowledgement, which says which one is later.
 *   - An accounted local state is written over by a later entry, and kept
 *     against an earlier one.
 *   - A local change kept against an entry leaves no local state accounted
 *     (acc_after) until a put or delete of ours is ordered later: an
 *     absence carries no epoch, so a change that became an absence before
 *     the publisher read it would otherwise pass for an older, ordered one.
 *   - An acknowledgement never moves acc back behind a state ordered at a
 *     later revision, and a key the publisher passed while a put or delete
 *     of it was in flight goes back to the publisher when it is
 *     acknowledged (several of one key may fly: delete, put, and the key
 *     deleted again).
 */
#include "splinter_mirror.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "entry.h"

#define SPLM_LOG_FIRST 20 /* skips of one kind logged before going quiet */

enum { ACC_UNKNOWN = 0, ACC_PRESENT = 1, ACC_ABSENT = 2 };
enum { VOP_NONE = 0, VOP_PUT = 1, VOP_DEL = 2 };

struct mrec {
    uint64_t acc_epoch;  /* with ACC_PRESENT: the local state the bucket ordered */
    uint64_t acc_rev;    /* ... at this revision (0: before any) */
    uint64_t out_epoch;  /* local epoch being put (not acknowledged yet) */
    uint64_t v_rev, v_kvh, v_vech, v_origin, v_epoch, v_labels; /* the view */
    uint64_t ap_origin, ap_epoch; /* last entry applied (idempotency) */
    uint8_t acc, dirty, fly_del, v_op, v_carried, v_here; /* fly_del: a delete being put */
    uint8_t recheck; /* the publisher looked while a put or delete was in flight */
    uint32_t klen;
    char key[]; /* NUL-terminated */
};

/* Open-addressing table of records (pointers stay valid: never freed
 * before the mirror is). */
struct kmap {
    struct mrec **t;
    size_t cap, n;
};

/* FIFO of records waiting for the publisher. */
struct dq {
    struct mrec **q;
    size_t cap, head, n;
};

/* A local key as read, consistently, at one epoch. */
struct lst {
    int present, has_vec;
    spl_meta meta;
    size_t len;
    uint8_t *val;
    float *vec;
};

struct spl_mirror {
    spl_store *s;
    spl_mirror_opts o;
    char *url, *bucket, *prefix, *creds, *token_file, *tls_ca, *tls_cert, *tls_key;
    size_t prefix_len;
    uint32_t key_max, val_max, vec_dim;
    uint64_t id;
    char revkey[128];
    char subj_pre[96];
    size_t subj_pre_len;

    pthread_mutex_t mu;
    struct kmap map;
    struct dq dq;
    uint64_t rev;     /* last revision applied (under mu) */
    int view_ready;   /* first snapshot in (under mu) */
    pthread_cond_t ack_cv; /* an acknowledgement came, or the close (with mu) */
    int closed;            /* libnats made its last callback (under mu) */

    natsOptions *nopts;
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;

    int stop_fd, wake_fd;
    volatile int stopping;
    int fatal;
    uint64_t backoff_ms, backoff_until_ns; /* publisher retry back-off (under mu) */
    uint32_t logged[8];

    spl_mirror_stats st;
    char err[512];
};

/* Tests only (tests/mirror/mirror_tool.c, race): called by the publisher
 * before it takes a batch of keys from its queue (SPLM_TEST_PUB_BATCH) and
 * after it (SPLM_TEST_PUB_DONE), by the acknowledgement callback before
 * it looks at an acknowledgement (SPLM_TEST_ACK), and by the applier
 * between writing an entry into the store and reading it back
 * (SPLM_TEST_APPLIED).  A test blocks in it to put the threads in the
 * order it tests.  NULL (never set) otherwise. */
enum { SPLM_TEST_PUB_BATCH = 0, SPLM_TEST_ACK = 1, SPLM_TEST_PUB_DONE = 2, SPLM_TEST_APPLIED = 3 };
void (*splm__test_hook)(spl_mirror *m, int where);

/* ------------------------------------------------------------ helpers */

#define ST_ADD(m, f, v) __atomic_fetch_add(&(m)->st.f, (v), __ATOMIC_RELAXED)
#define ST_INC(m, f) ST_ADD(m, f, 1)
#define ST_SET(m, f, v) __atomic_store_n(&(m)->st.f, (v), __ATOMIC_RELAXED)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void mlog(spl_mirror *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mlog(spl_mirror *m, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "splinter-mirror[%s]: %s\n", m->bucket ? m->bucket : "?", buf);
}

/* Log a skip of kind k: the first SPLM_LOG_FIRST, or all when verbose. */
static int log_kind(spl_mirror *m, int k)
{
    uint32_t n = __atomic_fetch_add(&m->logged[k], 1, __ATOMIC_RELAXED);
    if (n == SPLM_LOG_FIRST && !m->o.verbose)
        mlog(m, "(further skips of this kind are counted, not logged; --verbose logs them)");
    return n < SPLM_LOG_FIRST || m->o.verbose;
}

/* SPLINTER_MIRROR_TRACE=FILE: every decision, one line each (debugging). */
static FILE *g_trace;
static pthread_once_t g_trace_once = PTHREAD_ONCE_INIT;
static void trace_open(void)
{
    const char *p = getenv("SPLINTER_MIRROR_TRACE");
    if (p && *p)
        g_trace = fopen(p, "a");
}
static void tr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tr(const char *fmt, ...)
{
    pthread_once(&g_trace_once, trace_open);
    if (!g_trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    flockfile(g_trace);
    fprintf(g_trace, "%llu ", (unsigned long long)(now_ns() / 1000));
    vfprintf(g_trace, fmt, ap);
    fputc('\n', g_trace);
    funlockfile(g_trace);
    fflush(g_trace);
    va_end(ap);
}

static void set_err(spl_mirror *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(spl_mirror *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
}

static const char *nats_text(natsStatus s)
{
    const char *t = nats_GetLastError(NULL);
    return t && *t ? t : natsStatus_GetText(s);
}

/* Sleep ms, or less if stopped.  Returns 1 if stopping. */
static int nap(spl_mirror *m, uint64_t ms)
{
    struct pollfd p = {m->stop_fd, POLLIN, 0};
    if (!m->stopping)
        poll(&p, 1, (int)(ms > 60000 ? 60000 : ms));
    return m->stopping;
}

static void wake(spl_mirror *m)
{
    uint64_t one = 1;
    ssize_t r = write(m->wake_fd, &one, 8);
    (void)r;
}

static void drain_fd(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, 8);
    (void)r;
}

/* Retry a store call on key while it meets contention (a writer in the
 * slot), up to a second: asleep on the slot until its writer commits
 * (spl_retry_pause); a dead writer is recovered by the library meanwhile.
 * write: the call writes the key. */
#define RETRY_US 1000000u
#define RETRY(st, key, write, rc, call)                                                            \
    do {                                                                                           \
        spl_retry r_;                                                                              \
        spl_retry_init(&r_, RETRY_US);                                                             \
        while (((rc) = (call)) == SPL_EAGAIN && spl_retry_pause((st), (key), (write), &r_) == 0)   \
            ;                                                                                      \
    } while (0)

/* ------------------------------------------------------------ tables */

static uint64_t key_hash(const char *k, size_t n) { return splm_hash(0x6b6579, k, n); }

static struct mrec *kmap_find(struct kmap *t, const char *k, size_t n)
{
    if (!t->cap)
        return NULL;
    for (size_t i = key_hash(k, n) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        struct mrec *r = t->t[i];
        if (!r)
            return NULL;
        if (r->klen == n && memcmp(r->key, k, n) == 0)
            return r;
    }
}

static int kmap_put(struct kmap *t, struct mrec *r)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 1024;
        struct mrec **nt = calloc(nc, sizeof *nt);
        if (!nt)
            return -1;
        for (size_t i = 0; i < t->cap; i++) {
            struct mrec *x = t->t[i];
            if (!x)
                continue;
            size_t j = key_hash(x->key, x->klen) & (nc - 1);
            while (nt[j])
                j = (j + 1) & (nc - 1);
            nt[j] = x;
        }
        free(t->t);
        t->t = nt;
        t->cap = nc;
    }
    size_t j = key_hash(r->key, r->klen) & (t->cap - 1);
    while (t->t[j])
        j = (j + 1) & (t->cap - 1);
    t->t[j] = r;
    t->n++;
    return 0;
}

/* The record of key k, made if absent; NULL only when out of memory. */
static struct mrec *rec_get(spl_mirror *m, const char *k, size_t n)
{
    struct mrec *r = kmap_find(&m->map, k, n);
    if (r)
        return r;
    r = calloc(1, sizeof *r + n + 1);
    if (!r)
        return NULL;
    memcpy(r->key, k, n);
    r->klen = (uint32_t)n;
    if (kmap_put(&m->map, r)) {
        free(r);
        return NULL;
    }
    return r;
}

static void dirty(spl_mirror *m, struct mrec *r)
{
    if (!r || r->dirty || !(m->o.dirs & SPL_MIRROR_PUBLISH))
        return;
    if (m->dq.n == m->dq.cap) {
        size_t nc = m->dq.cap ? m->dq.cap * 2 : 1024;
        struct mrec **nq = malloc(nc * sizeof *nq);
        if (!nq)
            return; /* the next rescan finds it */
        for (size_t i = 0; i < m->dq.n; i++)
            nq[i] = m->dq.q[(m->dq.head + i) % m->dq.cap];
        free(m->dq.q);
        m->dq.q = nq;
        m->dq.cap = nc;
        m->dq.head = 0;
    }
    m->dq.q[(m->dq.head + m->dq.n++) % m->dq.cap] = r;
    r->dirty = 1;
}

static int queue_empty(spl_mirror *m)
{
    pthread_mutex_lock(&m->mu);
    int e = m->dq.n == 0;
    pthread_mutex_unlock(&m->mu);
    return e;
}

static struct mrec *undirty(spl_mirror *m)
{
    if (!m->dq.n)
        return NULL;
    struct mrec *r = m->dq.q[m->dq.head];
    m->dq.head = (m->dq.head + 1) % m->dq.cap;
    m->dq.n--;
    r->dirty = 0;
    return r;
}

/* ------------------------------------------------------------ local state */

static int lst_alloc(spl_mirror *m, struct lst *l)
{
    memset(l, 0, sizeof *l);
    l->val = malloc(m->val_max ? m->val_max : 1);
    l->vec = m->vec_dim ? malloc(sizeof(float) * m->vec_dim) : NULL;
    return !l->val || (m->vec_dim && !l->vec) ? SPL_ENOMEM : 0;
}

static void lst_free(struct lst *l)
{
    free(l->val);
    free(l->vec);
}

/* Read key's value, metadata and (want_vec) vector at one epoch.  A busy
 * slot is waited out asleep (spl_retry_pause, up to RETRY_US); a write
 * between the reads makes them start again at once (at most 1000 times). */
static int read_local(spl_mirror *m, const char *key, struct lst *l, int want_vec)
{
    spl_retry r;
    spl_retry_init(&r, RETRY_US);
    for (int n = 0; n < 1000; n++) {
        spl_meta a, b;
        int rc = spl_meta_get(m->s, key, &a);
        if (rc == SPL_ENOENT) {
            l->present = 0;
            return 0;
        }
        if (rc == 0) {
            rc = spl_get(m->s, key, l->val, m->val_max, &l->len);
            l->has_vec = 0;
        }
        if (rc == 0 && want_vec && m->vec_dim) {
            rc = spl_vec_get(m->s, key, l->vec, m->vec_dim, NULL);
            l->has_vec = rc == 0;
            if (rc == SPL_ENOVEC)
                rc = 0;
        }
        if (rc == 0)
            rc = spl_meta_get(m->s, key, &b);
        if (rc == 0 && a.epoch == b.epoch) {
            l->present = 1;
            l->meta = b;
            return 0;
        }
        if (rc == SPL_EAGAIN) {
            if (spl_retry_pause(m->s, key, 0, &r) != 0)
                return SPL_EAGAIN;
        } else if (rc && rc != SPL_ENOENT) {
            return rc;
        } /* else written or deleted between the reads: again */
    }
    return SPL_EAGAIN;
}

static int key_reserved(const char *k) { return strncmp(k, SPLM_RESERVED, sizeof SPLM_RESERVED - 1) == 0; }

static int prefix_ok(spl_mirror *m, const char *k)
{
    return !m->prefix_len || strncmp(k, m->prefix, m->prefix_len) == 0;
}

/* Is key (in state l, last delivered labels vl) one the publisher puts? */
static int selected(spl_mirror *m, const struct mrec *r, const struct lst *l)
{
    if (!(m->o.dirs & SPL_MIRROR_PUBLISH) || !prefix_ok(m, r->key))
        return 0;
    if (m->o.label < 0)
        return 1;
    uint64_t bit = 1ull << m->o.label;
    return l->present ? !!(l->meta.labels & bit) : !!(r->v_labels & bit);
}

/* Is local state l the one the bucket has ordered (nothing to put)?  An
 * absent key the mirror never saw present has nothing to put either. */
static int accounted(const struct mrec *r, const struct lst *l)
{
    if (l->present)
        return r->acc == ACC_PRESENT && l->meta.epoch <= r->acc_epoch;
    return r->acc != ACC_PRESENT;
}

/* Is local state l being put right now (sent, no acknowledgement yet)? */
static int in_flight(const struct mrec *r, const struct lst *l)
{
    return l->present ? r->out_epoch && r->out_epoch == l->meta.epoch : r->fly_del;
}

/* The bucket ordered local state l at revision rev. */
static void acc_local(struct mrec *r, const struct lst *l, uint64_t rev)
{
    r->acc = l->present ? ACC_PRESENT : ACC_ABSENT;
    r->acc_epoch = l->present ? l->meta.epoch : 0;
    r->acc_rev = rev;
}

/* The bucket ordered our put of local epoch `epoch` at revision rev (0: a
 * put refused for good, ordered before anything).  Never over a state
 * ordered later (an entry applied or kept against since the put left). */
static void acc_put(struct mrec *r, uint64_t epoch, uint64_t rev)
{
    if (rev && rev < r->acc_rev)
        return;
    if (r->acc != ACC_PRESENT || epoch >= r->acc_epoch) {
        r->acc = ACC_PRESENT;
        r->acc_epoch = epoch;
        r->acc_rev = rev;
    }
}

/* The bucket ordered entry rev, and the local state is a change made here
 * after it (kept, to be put): no local state is accounted for until a put
 * or delete of ours is ordered later.  Without this a change that becomes an
 * absence before the publisher reads it (set, then unset) would look
 * accounted where acc was ABSENT or UNKNOWN, and the entry would stay in
 * the bucket and nowhere here. */
static void acc_after(struct mrec *r, uint64_t rev)
{
    r->acc = ACC_PRESENT;
    r->acc_epoch = 0; /* below every live epoch; an absence differs too */
    r->acc_rev = rev;
}

/* ------------------------------------------------------------ applier */

/* A decoded bucket entry, its vector as host floats. */
struct went {
    splm_entry e;
    float *vec; /* vec_dim floats when VEC_PRESENT */
    uint64_t kvh, vech;
};

static int vec_close(const float *a, const float *b, uint32_t n)
{
    float mx = 0;
    for (uint32_t i = 0; i < n; i++) {
        float x = fabsf(a[i]) > fabsf(b[i]) ? fabsf(a[i]) : fabsf(b[i]);
        if (x > mx)
            mx = x;
    }
    /* the store may keep vectors as f16 or i8: allow their rounding */
    float tol = 1e-6f + mx / 127.0f;
    for (uint32_t i = 0; i < n; i++)
        if (fabsf(a[i] - b[i]) > tol)
            return 0;
    return 1;
}

/* Does local state l hold what entry w says (in w's terms: a vector only
 * counts if w carries the vector state)? */
static int holds(spl_mirror *m, const struct lst *l, const struct went *w)
{
    const splm_entry *e = &w->e;
    if (!l->present || l->meta.type != e->type || l->meta.user_flags != e->uflags ||
        l->meta.labels != e->labels || l->len != e->val_len || memcmp(l->val, e->val, e->val_len) != 0)
        return 0;
    if (!(e->flags & SPLM_VEC_CARRIED))
        return 1;
    if (!(e->flags & SPLM_VEC_PRESENT))
        return !l->has_vec;
    return l->has_vec && e->vec_dim == m->vec_dim && vec_close(l->vec, w->vec, e->vec_dim);
}

/* Write entry w under key (local state before: l).  Everything was checked
 * against the store's geometry first, so the only failures left are a full
 * store (for a new key: nothing written) and contention that outlasts the
 * retries. */
static int write_entry(spl_mirror *m, const char *key, const struct lst *l, const struct went *w)
{
    const splm_entry *e = &w->e;
    int rc;
    if (e->flags & SPLM_VEC_PRESENT) { /* first: it can still refuse (f16 range) */
        RETRY(m->s, key, 1, rc, spl_vec_set(m->s, key, w->vec, e->vec_dim));
        if (rc)
            return rc;
    }
    RETRY(m->s, key, 1, rc, spl_set(m->s, key, e->val, e->val_len));
    if (rc)
        return rc;
    /* a key that was absent now has type VOID, no flags, no labels */
    uint8_t t0 = l->present ? l->meta.type : SPL_T_VOID, f0 = l->present ? l->meta.user_flags : 0;
    uint64_t l0 = l->present ? l->meta.labels : 0;
    if (t0 != e->type)
        RETRY(m->s, key, 1, rc, spl_type_set(m->s, key, (spl_type)e->type));
    if (!rc && f0 != e->uflags)
        RETRY(m->s, key, 1, rc, spl_flags_set(m->s, key, e->uflags));
    if (!rc && (l0 & ~e->labels))
        RETRY(m->s, key, 1, rc, spl_labels_clear(m->s, key, l0 & ~e->labels));
    if (!rc && (e->labels & ~l0))
        RETRY(m->s, key, 1, rc, spl_labels_set(m->s, key, e->labels & ~l0));
    if (!rc && (e->flags & SPLM_VEC_CARRIED) && !(e->flags & SPLM_VEC_PRESENT) && l->has_vec) {
        RETRY(m->s, key, 1, rc, spl_vec_clear(m->s, key));
        if (rc == SPL_ENOVEC)
            rc = 0;
    }
    return rc;
}

static void save_rev(spl_mirror *m, uint64_t rev)
{
    m->rev = rev;
    ST_SET(m, rev, rev);
    uint64_t v = rev;
    int rc;
    RETRY(m->s, m->revkey, 1, rc, spl_set(m->s, m->revkey, &v, 8));
    if (rc && log_kind(m, 7))
        mlog(m, "cannot record revision %llu under %s: %s", (unsigned long long)rev, m->revkey,
             spl_strerror(rc));
}

struct wbuf {
    struct lst l, rb;
    struct went w;
    char key[4097];
};

/* Check entry w against the store: "" if it fits, else why not. */
static const char *geometry(spl_mirror *m, size_t klen, const struct went *w)
{
    const splm_entry *e = &w->e;
    if (klen > m->key_max)
        return "key longer than the store's key_max";
    if (e->val_len > m->val_max)
        return "value larger than the store's val_max";
    if (e->type >= SPL__T_COUNT)
        return "unknown value type";
    if (e->flags & SPLM_VEC_PRESENT) {
        if (!m->vec_dim)
            return "a vector, and the store keeps none";
        if (e->vec_dim != m->vec_dim)
            return "vector dimension differs from the store's vec_dim";
        for (uint32_t i = 0; i < e->vec_dim; i++)
            if (!isfinite(w->vec[i]))
                return "vector holds NaN or infinity";
    }
    return ""; /* "no vector" fits any store */
}

/* One bucket entry from the watcher.  initial: the first snapshot since
 * the mirror started (then the per-key history is not known yet). */
static int on_entry(spl_mirror *m, struct wbuf *b, kvEntry *ke, int initial)
{
    uint64_t rev = kvEntry_Revision(ke);
    kvOperation op = kvEntry_Operation(ke);
    const char *bkey = kvEntry_Key(ke);
    int apply = (m->o.dirs & SPL_MIRROR_APPLY) != 0;
    size_t klen = 0;
    const char *bad = NULL;
    struct went *w = &b->w;
    int rc = 0;

    if (splm_key_decode(bkey, b->key, sizeof b->key, &klen))
        bad = "the bucket key is no store key's spelling (mirror/README.md)";
    else if (key_reserved(b->key))
        bad = "keys under " SPLM_RESERVED " belong to the mirror";
    else if (op != kvOp_Put && op != kvOp_Delete && op != kvOp_Purge)
        bad = "unknown operation";
    else if (op == kvOp_Put && splm_entry_decode(kvEntry_Value(ke), (size_t)kvEntry_ValueLen(ke), &w->e))
        bad = "value is not a mirror entry (format SPM1)";
    if (bad) {
        ST_INC(m, skip_foreign);
        if (log_kind(m, 0))
            mlog(m, "skip revision %llu (key '%s'): %s", (unsigned long long)rev, bkey, bad);
        pthread_mutex_lock(&m->mu);
        if (apply && rev > m->rev)
            save_rev(m, rev);
        pthread_mutex_unlock(&m->mu);
        return 0;
    }
    int put = op == kvOp_Put;
    const char *geo = "";
    if (put) {
        const splm_entry *e = &w->e;
        uint32_t dim = (e->flags & SPLM_VEC_PRESENT) ? e->vec_dim : 0;
        if (dim > SPL_VEC_DIM_LIMIT) {
            geo = "vector dimension out of range";
        } else {
            float *nv = dim ? realloc(w->vec, sizeof(float) * dim) : w->vec;
            if (dim && !nv)
                return SPL_ENOMEM;
            w->vec = nv;
            for (uint32_t i = 0; i < dim; i++)
                w->vec[i] = splm_entry_vec(e, i);
            w->kvh = splm_kv_hash(e->type, e->uflags, e->labels, e->val, e->val_len);
            w->vech = (e->flags & SPLM_VEC_PRESENT) ? splm_vec_hash(w->vec, dim) : 0;
            geo = geometry(m, klen, w);
        }
    }
    const char *key = b->key;
    int own = put && w->e.origin == m->id;

    pthread_mutex_lock(&m->mu);
    struct mrec *r = rec_get(m, key, klen);
    if (!r) {
        pthread_mutex_unlock(&m->mu);
        return SPL_ENOMEM;
    }
    /* the view: what the bucket has delivered for the key */
    if (rev > r->v_rev) {
        r->v_rev = rev;
        r->v_op = put ? VOP_PUT : VOP_DEL;
        r->v_here = *geo == 0;
        if (put) {
            r->v_kvh = w->kvh;
            r->v_vech = w->vech;
            r->v_carried = (w->e.flags & SPLM_VEC_CARRIED) != 0;
            r->v_origin = w->e.origin;
            r->v_epoch = w->e.epoch;
            r->v_labels = w->e.labels;
        }
    }
    int fresh = apply && rev > m->rev; /* not processed before */
    struct lst *l = &b->l;
    int same, waited = 0;
    uint64_t deadline = 0;
    for (;;) {
        rc = read_local(m, key, l, put && (w->e.flags & SPLM_VEC_CARRIED));
        if (rc) {
            pthread_mutex_unlock(&m->mu);
            goto fail;
        }
        same = put ? holds(m, l, w) : !l->present;
        /* Our put (or delete) of this very state is on its way: its
         * acknowledgement says whether it lands before or after this entry. */
        if (!fresh || same || initial || !selected(m, r, l) || !in_flight(r, l) || m->stopping)
            break;
        uint64_t t = now_ns();
        if (!deadline)
            deadline = t + 7000000000ull; /* the put's own time-out is 5 s */
        if (t >= deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&m->ack_cv, &m->mu, &ts);
        waited = 1;
    }
    const char *what = "?";
    uint8_t acc0 = r->acc;
    uint64_t acc0_epoch = r->acc_epoch, acc0_rev = r->acc_rev;
    if (same)
        acc_local(r, l, rev);
    else if (own)
        acc_put(r, w->e.epoch, rev); /* our put, met again: ordered here */

    if (!fresh) {
        /* only looking (publisher only), or a revision processed before a
         * restart: the store was brought to it then; what differs now is
         * a change made here since (to be put), except where the entry
         * could not be applied here at all */
        what = "view";
        if (apply && !same && r->acc == ACC_UNKNOWN) {
            if (put && *geo)
                acc_local(r, l, rev); /* never here: nothing to put over it */
            else if (put && !l->present && !own)
                acc_after(r, rev); /* deleted here since */
        }
        if (!same)
            dirty(m, r);
        goto out;
    }

    int local, unput = 0;
    if (same)
        local = 0;
    else if (initial) /* history unknown: only our own put tells */
        local = own && (!l->present || l->meta.epoch > w->e.epoch);
    else if (!selected(m, r, l))
        local = 0;
    else if (accounted(r, l))
        local = r->acc_rev >= rev; /* ours was ordered after this entry */
    else
        local = unput = 1; /* a change made here, to be put after this entry
                              (or in flight past the wait: its failure puts
                              it again) */

    if (same) {
        what = "same";
        ST_INC(m, same);
    } else if (local) {
        /* the local state is the later one: it stays, and is put */
        what = waited ? "local-wins-after-ack" : "local-wins";
        if (unput)
            acc_after(r, rev);
        dirty(m, r);
    } else if (put && *geo) {
        what = "geometry";
        ST_INC(m, skip_geometry);
        if (log_kind(m, 1))
            mlog(m, "skip revision %llu (key '%s'): %s", (unsigned long long)rev, key, geo);
        acc_local(r, l, rev); /* what is here stays; not to be put over it */
    } else if (put && w->e.origin && r->ap_origin == w->e.origin && r->ap_epoch == w->e.epoch &&
               l->present && r->acc == ACC_PRESENT && l->meta.epoch == r->acc_epoch) {
        what = "dup"; /* applied before, and nothing changed here since */
        ST_INC(m, dup);
        r->acc_rev = rev;
    } else if (put) {
        what = "apply";
        rc = write_entry(m, key, l, w);
        if (rc == SPL_EFULL || rc == SPL_ERANGE || rc == SPL_ENAN || rc == SPL_EDIM || rc == SPL_E2BIG) {
            what = "geometry-store";
            ST_INC(m, skip_geometry);
            if (log_kind(m, 1))
                mlog(m, "skip revision %llu (key '%s'): %s", (unsigned long long)rev, key, spl_strerror(rc));
            rc = 0;
            acc_local(r, l, rev);
        } else if (rc == 0) {
            r->ap_origin = w->e.origin;
            r->ap_epoch = w->e.epoch;
            ST_INC(m, applied);
            if (splm__test_hook)
                splm__test_hook(m, SPLM_TEST_APPLIED);
            rc = read_local(m, key, &b->rb, (w->e.flags & SPLM_VEC_CARRIED) != 0);
            if (rc == 0 && holds(m, &b->rb, w)) {
                acc_local(r, &b->rb, rev);
            } else if (rc == 0) {
                what = "apply-interfered";
                ST_INC(m, interfered); /* a local write came in between: it is put */
                acc_after(r, rev);
                dirty(m, r);
            }
        }
    } else if (l->present) {
        what = "delete";
        RETRY(m->s, key, 1, rc, spl_unset(m->s, key));
        if (rc == SPL_ENOENT)
            rc = 0;
        if (!rc) {
            ST_INC(m, applied_del);
            r->acc = ACC_ABSENT;
            r->acc_rev = rev;
        }
    }
    if (!rc)
        save_rev(m, rev);
out:
    tr("%s A %s rev=%llu %s own=%d origin=%llx oep=%llu L=%d/%llu/%zu acc=%d/%llu@%llu->%d/%llu@%llu "
       "fly=%llu/%d %s",
       m->bucket, key, (unsigned long long)rev, put ? "PUT" : "DEL", own,
       (unsigned long long)(put ? w->e.origin : 0), (unsigned long long)(put ? w->e.epoch : 0), l->present,
       (unsigned long long)(l->present ? l->meta.epoch : 0), l->present ? l->len : 0, acc0,
       (unsigned long long)acc0_epoch, (unsigned long long)acc0_rev, r->acc, (unsigned long long)r->acc_epoch,
       (unsigned long long)r->acc_rev, (unsigned long long)r->out_epoch, r->fly_del, what);
    int queued = m->dq.n != 0;
    pthread_mutex_unlock(&m->mu);
    if (queued)
        wake(m);
fail:
    if (rc && log_kind(m, 2))
        mlog(m, "revision %llu (key '%s'): store error %s (%s)", (unsigned long long)rev, key,
             spl_err_name(rc), spl_strerror(rc));
    return rc;
}

/* ------------------------------------------------------------ watcher */

static void *watch_main(void *arg)
{
    spl_mirror *m = arg;
    struct wbuf *b = calloc(1, sizeof *b);
    kvWatcher *w = NULL;
    int first = 1, snap = 0;
    uint64_t back = 0;
    if (!b || lst_alloc(m, &b->l) || lst_alloc(m, &b->rb)) {
        set_err(m, "out of memory");
        m->fatal = SPL_ENOMEM;
        spl_mirror_stop(m);
        goto done;
    }
    /* After a reconnection libnats resumes the watch itself (its ordered
     * consumer starts again after the last revision delivered); destroying
     * the watcher meanwhile races with that inside libnats 3.4.1 (a use
     * after free seen under ASan), so a watch is made again only when it
     * ends with an error: from a fresh snapshot, where no revision can fall
     * between the two (up to m->rev they are known, later ones applied). */
    while (!m->stopping) {
        if (!w) {
            natsStatus s = kvStore_WatchAll(&w, m->kv, NULL);
            if (s != NATS_OK) {
                w = NULL;
                if (log_kind(m, 3))
                    mlog(m, "cannot watch the bucket yet: %s", nats_text(s));
                back = back ? (back * 2 > m->o.backoff_max_ms ? m->o.backoff_max_ms : back * 2)
                            : m->o.backoff_min_ms;
                nap(m, back);
                continue;
            }
            back = 0;
            snap = 1;
            ST_INC(m, watch_restarts);
        }
        kvEntry *e = NULL;
        natsStatus s = kvWatcher_Next(&e, w, 250);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK) {
            if (log_kind(m, 3))
                mlog(m, "bucket watch ended: %s; watching again", nats_text(s));
            kvWatcher_Destroy(w);
            w = NULL;
            nap(m, m->o.backoff_min_ms);
            continue;
        }
        if (!e) { /* the snapshot is in */
            snap = 0;
            if (first) {
                first = 0;
                pthread_mutex_lock(&m->mu);
                m->view_ready = 1;
                pthread_mutex_unlock(&m->mu);
                wake(m);
            }
            continue;
        }
        int rc = on_entry(m, b, e, first && snap);
        kvEntry_Destroy(e);
        if (rc == SPL_ENOMEM) {
            set_err(m, "out of memory");
            m->fatal = rc;
            spl_mirror_stop(m);
        }
    }
done:
    if (w)
        kvWatcher_Destroy(w);
    if (b) {
        lst_free(&b->l);
        lst_free(&b->rb);
        free(b->w.vec);
        free(b);
    }
    return NULL;
}

/* ------------------------------------------------------------ publisher */

struct pbuf {
    struct lst l;
    uint8_t *enc;
    size_t enc_cap;
    char *subj;
};

static int publish_msg(spl_mirror *m, struct pbuf *p, const char *key, size_t klen, const void *data,
                       size_t len, int del)
{
    memcpy(p->subj, m->subj_pre, m->subj_pre_len);
    splm_key_encode(key, klen, p->subj + m->subj_pre_len);
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, p->subj, NULL, data, (int)len);
    if (s == NATS_OK && del)
        s = natsMsgHeader_Set(msg, "KV-Operation", "DEL");
    if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 5000; /* an ack that does not come is an error (retried) */
        s = js_PublishMsgAsync(m->js, &msg, &po);
    }
    if (msg)
        natsMsg_Destroy(msg);
    return s == NATS_OK ? 0 : (int)s;
}

static void backoff_more(spl_mirror *m)
{
    uint64_t b = m->backoff_ms ? m->backoff_ms * 2 : m->o.backoff_min_ms;
    if (b > m->o.backoff_max_ms)
        b = m->o.backoff_max_ms;
    m->backoff_ms = b;
    m->backoff_until_ns = now_ns() + b * 1000000ull;
}

/* The publisher's view of one key: put it, delete it, or nothing. */
static int pub_key(spl_mirror *m, struct pbuf *p, struct mrec *r)
{
    struct lst *l = &p->l;
    pthread_mutex_lock(&m->mu);
    int rc = read_local(m, r->key, l, m->o.vectors != 0);
    if (rc) {
        if (rc == SPL_EAGAIN)
            dirty(m, r), rc = 0;
        pthread_mutex_unlock(&m->mu);
        return rc;
    }
    tr("%s P %s L=%d/%llu/%zu acc=%d/%llu@%llu out=%llu fly=%d view=%d/%llu sel=%d", m->bucket, r->key,
       l->present, (unsigned long long)(l->present ? l->meta.epoch : 0), l->present ? l->len : 0, r->acc,
       (unsigned long long)r->acc_epoch, (unsigned long long)r->acc_rev, (unsigned long long)r->out_epoch,
       r->fly_del, r->v_op, (unsigned long long)r->v_rev, selected(m, r, l));
    /* What is decided here against a put or delete still in flight is
     * decided again once it is acknowledged: its acknowledgement moves acc
     * (an earlier delete in flight is no proof for a later absence: set,
     * put, unset while it flies) */
    if (r->fly_del || r->out_epoch)
        r->recheck = 1;
    if (!selected(m, r, l) || accounted(r, l) || in_flight(r, l)) {
        pthread_mutex_unlock(&m->mu);
        return 0;
    }
    size_t len = 0;
    int del = 0;
    if (l->present) {
        uint64_t e = l->meta.epoch;
        uint64_t kvh = splm_kv_hash(l->meta.type, l->meta.user_flags, l->meta.labels, l->val, (uint32_t)l->len);
        uint64_t vech = l->has_vec ? splm_vec_hash(l->vec, m->vec_dim) : 0;
        if (r->v_op == VOP_PUT && r->v_kvh == kvh && (!m->o.vectors || (r->v_carried && r->v_vech == vech))) {
            tr("%s P %s view-equal", m->bucket, r->key);
            acc_local(r, l, r->v_rev); /* the bucket holds it already */
            pthread_mutex_unlock(&m->mu);
            return 0;
        }
        splm_entry en = {0};
        en.flags = m->o.vectors ? (SPLM_VEC_CARRIED | (l->has_vec ? SPLM_VEC_PRESENT : 0)) : 0;
        en.type = l->meta.type;
        en.uflags = l->meta.user_flags;
        en.origin = m->id;
        en.epoch = e;
        en.labels = l->meta.labels;
        en.val_len = (uint32_t)l->len;
        en.vec_dim = l->has_vec ? m->vec_dim : 0;
        en.val = l->val;
        en.vec = l->vec;
        len = splm_entry_size(en.val_len, en.vec_dim);
        if (len > p->enc_cap) {
            uint8_t *ne = realloc(p->enc, len);
            if (!ne) {
                pthread_mutex_unlock(&m->mu);
                return SPL_ENOMEM;
            }
            p->enc = ne;
            p->enc_cap = len;
        }
        splm_entry_encode(&en, p->enc);
        r->out_epoch = e;
    } else {
        if (r->v_op != VOP_PUT) {
            acc_local(r, l, r->v_rev); /* the bucket has no value either */
            pthread_mutex_unlock(&m->mu);
            return 0;
        }
        r->fly_del = 1;
        del = 1;
    }
    uint64_t epoch = l->present ? l->meta.epoch : 0;
    tr("%s P %s publish %s epoch=%llu", m->bucket, r->key, del ? "DEL" : "PUT", (unsigned long long)epoch);
    pthread_mutex_unlock(&m->mu);

    rc = publish_msg(m, p, r->key, r->klen, del ? NULL : p->enc, len, del);
    if (rc) {
        natsStatus s = (natsStatus)rc;
        pthread_mutex_lock(&m->mu);
        if (del)
            r->fly_del = 0;
        else if (r->out_epoch == epoch)
            r->out_epoch = 0;
        if (s == NATS_MAX_PAYLOAD) {
            /* refused for good: what is here stays here */
            ST_INC(m, skip_rejected);
            if (log_kind(m, 4))
                mlog(m, "cannot put key '%s': %s", r->key, nats_text(s));
            if (!del)
                acc_put(r, epoch, 0); /* ordered before anything: a later entry wins */
        } else {
            /* most often flow control (4096 puts in flight): a short pause */
            ST_INC(m, retries);
            dirty(m, r);
            if (!m->backoff_ms)
                m->backoff_until_ns = now_ns() + m->o.backoff_min_ms * 1000000ull / 4;
            else
                backoff_more(m);
        }
        pthread_mutex_unlock(&m->mu);
    }
    return 0;
}

/* An acknowledgement (or its failure) from the server, on a libnats thread. */
static void ack_cb(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    spl_mirror *m = closure;
    if (splm__test_hook)
        splm__test_hook(m, SPLM_TEST_ACK);
    const char *subj = natsMsg_GetSubject(msg);
    const char *data = natsMsg_GetData(msg);
    int len = natsMsg_GetDataLength(msg);
    char key[4097];
    size_t klen;
    splm_entry e;
    int del = len == 0;
    if (!subj || strncmp(subj, m->subj_pre, m->subj_pre_len) != 0 ||
        splm_key_decode(subj + m->subj_pre_len, key, sizeof key, &klen) ||
        (!del && splm_entry_decode(data, (size_t)len, &e))) {
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&m->mu);
    struct mrec *r = kmap_find(&m->map, key, klen);
    tr("%s K %s %s epoch=%llu seq=%llu err=%d/%d", m->bucket, key, del ? "DEL" : "PUT",
       (unsigned long long)(del ? 0 : e.epoch), (unsigned long long)(pa ? pa->Sequence : 0),
       pae ? (int)pae->Err : 0, pae ? (int)pae->ErrCode : 0);
    if (pa && !pae) {
        if (del)
            ST_INC(m, published_del);
        else
            ST_INC(m, published);
        m->backoff_ms = 0;
        if (r && del) {
            r->fly_del = 0;
            /* never over a state ordered later (an entry applied or kept
             * against, a put of ours acknowledged first) */
            if (r->acc_rev < pa->Sequence) {
                r->acc = ACC_ABSENT;
                r->acc_rev = pa->Sequence;
            }
        } else if (r) {
            if (r->out_epoch == e.epoch)
                r->out_epoch = 0;
            acc_put(r, e.epoch, pa->Sequence);
        }
    } else if (r) {
        if (del)
            r->fly_del = 0;
        else if (r->out_epoch == e.epoch)
            r->out_epoch = 0;
        if (pae && pae->ErrCode) {
            /* the server refused it (too large for the bucket, ...) */
            ST_INC(m, skip_rejected);
            if (log_kind(m, 4))
                mlog(m, "server refused key '%s': %s (JetStream error %d)", key,
                     pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err), (int)pae->ErrCode);
            if (del) {
                r->acc = ACC_ABSENT;
                r->acc_rev = 0;
            } else {
                acc_put(r, e.epoch, 0);
            }
        } else {
            ST_INC(m, retries);
            dirty(m, r);
            backoff_more(m);
        }
    }
    int again = 0;
    if (r && r->recheck) {
        r->recheck = 0;
        dirty(m, r);
        again = 1;
    }
    pthread_cond_broadcast(&m->ack_cv); /* an applier may wait for this one */
    pthread_mutex_unlock(&m->mu);
    if (again || (pae && !pae->ErrCode))
        wake(m);
    natsMsg_Destroy(msg);
}

struct scan_ctx {
    char **keys;
    size_t n, cap;
};

static int scan_cb(const spl_entry *e, void *ud)
{
    struct scan_ctx *c = ud;
    if (key_reserved(e->key))
        return 0;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        char **nk = realloc(c->keys, nc * sizeof *nk);
        if (!nk)
            return SPL_ENOMEM;
        c->keys = nk;
        c->cap = nc;
    }
    if (!(c->keys[c->n] = strdup(e->key)))
        return SPL_ENOMEM;
    c->n++;
    return 0;
}

/* Every selected key here, and every key the bucket or this mirror knows,
 * goes through the publisher's check once more. */
static int rescan(spl_mirror *m)
{
    struct scan_ctx c = {0};
    spl_filter f = {0};
    f.prefix = m->prefix_len ? m->prefix : NULL;
    f.labels = m->o.label >= 0 ? 1ull << m->o.label : 0;
    int rc = spl_foreach(m->s, &f, scan_cb, &c);
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < c.n; i++)
        dirty(m, rec_get(m, c.keys[i], strlen(c.keys[i])));
    for (size_t i = 0; i < m->map.cap; i++) {
        struct mrec *r = m->map.t[i];
        if (r && (r->v_op == VOP_PUT || r->acc == ACC_PRESENT) && prefix_ok(m, r->key))
            dirty(m, r);
    }
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < c.n; i++)
        free(c.keys[i]);
    free(c.keys);
    ST_INC(m, rescans);
    return rc;
}

static int pub_loop(spl_mirror *m)
{
    struct pbuf p = {0};
    spl_sub *sub = NULL;
    char *key = malloc(m->key_max + 1);
    int rc = lst_alloc(m, &p.l);
    p.subj = malloc(m->subj_pre_len + 3 * (size_t)m->key_max + 1);
    if (rc || !key || !p.subj) {
        rc = SPL_ENOMEM;
        goto out;
    }
    uint64_t groups = 1ull << m->o.group;
    rc = m->o.label >= 0 ? spl_bind(m->s, (unsigned)m->o.label, groups) : spl_bind(m->s, SPL_BIND_ALL, groups);
    if (!rc)
        rc = spl_sub_open(m->s, groups, &sub);
    int fd = rc ? -1 : spl_sub_fd(sub);
    if (!rc && fd < 0)
        rc = fd;
    if (rc) {
        set_err(m, "cannot follow the store's change feed: %s", spl_strerror(rc));
        goto out;
    }
    /* the feed is followed from here on; wait for the bucket's snapshot,
     * then compare the whole store with it once */
    for (;;) {
        pthread_mutex_lock(&m->mu);
        int ready = m->view_ready;
        pthread_mutex_unlock(&m->mu);
        if (ready || m->stopping)
            break;
        struct pollfd pw[2] = {{m->wake_fd, POLLIN, 0}, {m->stop_fd, POLLIN, 0}};
        poll(pw, 2, 1000);
        if (pw[0].revents & POLLIN)
            drain_fd(m->wake_fd);
    }
    int need_scan = 1;
    while (!m->stopping) {
        if (need_scan) {
            need_scan = 0;
            rc = rescan(m);
            if (rc) {
                set_err(m, "rescan: %s", spl_strerror(rc));
                break;
            }
            if (!__atomic_load_n(&m->st.ready, __ATOMIC_RELAXED) && queue_empty(m))
                ST_SET(m, ready, 1);
        }
        int timeout = -1;
        pthread_mutex_lock(&m->mu);
        uint64_t t = now_ns();
        int held = m->backoff_until_ns > t;
        if (held)
            timeout = (int)((m->backoff_until_ns - t) / 1000000ull) + 1;
        else if (m->dq.n)
            timeout = 0;
        pthread_mutex_unlock(&m->mu);
        struct pollfd pf[3] = {{fd, POLLIN, 0}, {m->wake_fd, POLLIN, 0}, {m->stop_fd, POLLIN, 0}};
        poll(pf, 3, timeout);
        if (pf[0].revents & POLLIN)
            drain_fd(fd);
        if (pf[1].revents & POLLIN)
            drain_fd(m->wake_fd);
        /* the feed first, so that it does not overflow while keys are put */
        spl_event ev;
        int n;
        while ((n = spl_sub_next(sub, &ev, key, m->key_max + 1)) != SPL_ENOENT) {
            if (n == SPL_EOVERFLOW) {
                ST_INC(m, overflows);
                need_scan = 1;
                continue;
            }
            if (n) {
                set_err(m, "change feed: %s", spl_strerror(n));
                rc = n;
                goto out;
            }
            if (ev.kind == SPL_EV_UNKNOWN) {
                need_scan = 1;
            } else if ((ev.kind == SPL_EV_CHANGED || ev.kind == SPL_EV_DELETED) && !key_reserved(key) &&
                       prefix_ok(m, key)) {
                pthread_mutex_lock(&m->mu);
                dirty(m, rec_get(m, key, ev.key_len));
                pthread_mutex_unlock(&m->mu);
            }
        }
        if (need_scan)
            continue;
        if (held && m->backoff_until_ns > now_ns())
            continue;
        if (splm__test_hook)
            splm__test_hook(m, SPLM_TEST_PUB_BATCH);
        for (int i = 0; i < 256 && !m->stopping; i++) {
            pthread_mutex_lock(&m->mu);
            struct mrec *r = m->backoff_until_ns > now_ns() ? NULL : undirty(m);
            pthread_mutex_unlock(&m->mu);
            if (!r)
                break;
            rc = pub_key(m, &p, r);
            if (rc) {
                set_err(m, "key '%s': %s", r->key, spl_strerror(rc));
                goto out;
            }
        }
        if (splm__test_hook)
            splm__test_hook(m, SPLM_TEST_PUB_DONE);
        if (!__atomic_load_n(&m->st.ready, __ATOMIC_RELAXED) && queue_empty(m))
            ST_SET(m, ready, 1);
    }
    rc = 0;
out:
    spl_sub_close(sub);
    lst_free(&p.l);
    free(p.enc);
    free(p.subj);
    free(key);
    return rc;
}

/* ------------------------------------------------------------ connection */

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    spl_mirror *m = closure;
    ST_SET(m, connected, 0);
    if (!m->stopping)
        mlog(m, "disconnected from the server; reconnecting");
}

/* The last callback libnats makes for a connection: after it, m may go. */
static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    spl_mirror *m = closure;
    pthread_mutex_lock(&m->mu);
    m->closed = 1;
    pthread_cond_broadcast(&m->ack_cv);
    pthread_mutex_unlock(&m->mu);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    spl_mirror *m = closure;
    ST_SET(m, connected, 1);
    ST_INC(m, reconnects);
    mlog(m, "reconnected");
    wake(m);
}

static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
    (void)nc;
    spl_mirror *m = closure;
    uint64_t d = m->o.backoff_min_ms;
    for (int i = 1; i < attempts && d < m->o.backoff_max_ms; i++)
        d *= 2;
    if (d > m->o.backoff_max_ms)
        d = m->o.backoff_max_ms;
    return (int64_t)(d / 2 + (uint64_t)rand() % (d / 2 + 1)); /* jitter: half to all of it */
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc, (void)sub;
    spl_mirror *m = closure;
    if (log_kind(m, 5))
        mlog(m, "NATS: %s", natsStatus_GetText(err));
}

/* A secret file must be a regular file only its owner can read. */
static int check_secret(spl_mirror *m, const char *what, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        set_err(m, "%s %s: %s", what, path, strerror(errno));
        return SPL_MIRROR_ECONFIG;
    }
    if (!S_ISREG(sb.st_mode)) {
        set_err(m, "%s %s is not a regular file", what, path);
        return SPL_MIRROR_ECONFIG;
    }
    if (sb.st_mode & 077) {
        set_err(m, "%s %s is readable by others (mode %04o): chmod 600 it", what, path,
                (unsigned)(sb.st_mode & 07777));
        return SPL_MIRROR_ECONFIG;
    }
    return 0;
}

static int read_token(spl_mirror *m, char *tok, size_t cap)
{
    int fd = open(m->token_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        set_err(m, "token file %s: %s", m->token_file, strerror(errno));
        return SPL_MIRROR_ECONFIG;
    }
    ssize_t n = read(fd, tok, cap - 1);
    close(fd);
    if (n < 0)
        n = 0;
    tok[n] = 0;
    tok[strcspn(tok, "\r\n")] = 0;
    if (!*tok) {
        set_err(m, "token file %s is empty", m->token_file);
        return SPL_MIRROR_ECONFIG;
    }
    return 0;
}

static int make_nats_options(spl_mirror *m)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, m->url);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, "splinter-mirror");
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetCustomReconnectDelay(o, reconnect_delay, m);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(o, 64 << 20);
    if (s == NATS_OK) /* each put leaves at once: libnats would hold it up to 1 ms */
        s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(o, 5000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(o, 2);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, m);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, m);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, on_closed, m);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, on_async_error, m);
    if (s == NATS_OK && m->creds)
        s = natsOptions_SetUserCredentialsFromFiles(o, m->creds, NULL);
    if (s == NATS_OK && m->token_file) {
        char tok[4096];
        int rc = read_token(m, tok, sizeof tok);
        if (rc) {
            natsOptions_Destroy(o);
            return rc;
        }
        s = natsOptions_SetToken(o, tok);
        memset(tok, 0, sizeof tok);
    }
    if (s == NATS_OK && (m->o.tls || m->tls_ca || m->tls_cert))
        s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK && m->tls_ca)
        s = natsOptions_LoadCATrustedCertificates(o, m->tls_ca);
    if (s == NATS_OK && m->tls_cert)
        s = natsOptions_LoadCertificatesChain(o, m->tls_cert, m->tls_key);
    if (s != NATS_OK) {
        set_err(m, "NATS options: %s", nats_text(s));
        natsOptions_Destroy(o);
        return (s == NATS_SSL_ERROR || s == NATS_ILLEGAL_STATE) ? SPL_MIRROR_EAUTH : SPL_MIRROR_ECONFIG;
    }
    m->nopts = o;
    return 0;
}

static int connect_bucket(spl_mirror *m)
{
    int rc = make_nats_options(m);
    if (rc)
        return rc;
    uint64_t back = 0;
    for (;;) {
        natsStatus s = natsConnection_Connect(&m->nc, m->nopts);
        if (s == NATS_OK)
            break;
        m->nc = NULL;
        if (s == NATS_NO_SERVER || s == NATS_TIMEOUT || s == NATS_IO_ERROR ||
            s == NATS_CONNECTION_CLOSED || s == NATS_STALE_CONNECTION) {
            if (!back)
                mlog(m, "no server at %s yet (%s); retrying with back-off", m->url, nats_text(s));
            back = back ? (back * 2 > m->o.backoff_max_ms ? m->o.backoff_max_ms : back * 2) : m->o.backoff_min_ms;
            if (nap(m, back))
                return 0;
            continue;
        }
        set_err(m, "cannot connect to %s: %s", m->url, nats_text(s));
        return (s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED || s == NATS_SSL_ERROR ||
                s == NATS_SECURE_CONNECTION_REQUIRED || s == NATS_SECURE_CONNECTION_WANTED)
                   ? SPL_MIRROR_EAUTH
                   : SPL_MIRROR_ENATS;
    }
    ST_SET(m, connected, 1);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    jo.PublishAsync.MaxPending = m->o.max_pending;
    jo.PublishAsync.AckHandler = ack_cb;
    jo.PublishAsync.AckHandlerClosure = m;
    natsStatus s = natsConnection_JetStream(&m->js, m->nc, &jo);
    if (s != NATS_OK) {
        set_err(m, "JetStream context: %s", nats_text(s));
        return SPL_MIRROR_ENATS;
    }
    s = js_KeyValue(&m->kv, m->js, m->bucket);
    if (s == NATS_NOT_FOUND && !m->o.no_create) {
        kvConfig kc;
        kvConfig_Init(&kc);
        kc.Bucket = m->bucket;
        kc.History = (uint8_t)(m->o.history ? m->o.history : 1);
        kc.StorageType = js_FileStorage;
        if (m->o.max_value > 0)
            kc.MaxValueSize = (int32_t)m->o.max_value;
        s = js_CreateKeyValue(&m->kv, m->js, &kc);
        if (s != NATS_OK) /* another mirror made it meanwhile? */
            s = js_KeyValue(&m->kv, m->js, m->bucket);
    }
    if (s != NATS_OK) {
        m->kv = NULL;
        const char *why = s == NATS_NOT_FOUND      ? "no such bucket (and --no-create)"
                          : s == NATS_NO_RESPONDERS ? "no JetStream here (is the server run with -js?)"
                                                    : nats_text(s);
        set_err(m, "the server refuses bucket '%s': %s", m->bucket, why);
        return SPL_MIRROR_EBUCKET;
    }
    /* A bucket deleted and made again starts its revisions over: a resume
     * point beyond its last revision belongs to the old one. */
    if (m->rev) {
        char stream[96];
        snprintf(stream, sizeof stream, "KV_%s", m->bucket);
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        s = js_GetStreamInfo(&si, m->js, stream, NULL, &jerr);
        if (s == NATS_OK && si && si->State.LastSeq < m->rev) {
            mlog(m, "bucket's last revision %llu is below the resume point %llu: the bucket was made "
                    "again; starting from its beginning",
                 (unsigned long long)si->State.LastSeq, (unsigned long long)m->rev);
            m->rev = 0;
        }
        if (si)
            jsStreamInfo_Destroy(si);
    }
    return 0;
}

/* ------------------------------------------------------------ API */

const char *spl_mirror_strerror(int err)
{
    switch (err) {
    case SPL_MIRROR_ENATS: return "NATS client error";
    case SPL_MIRROR_EBUCKET: return "the server has no such bucket or refuses it";
    case SPL_MIRROR_EAUTH: return "authentication or TLS refused";
    case SPL_MIRROR_ECONFIG: return "bad mirror option";
    default: return spl_strerror(err);
    }
}

void spl_mirror_opts_init(spl_mirror_opts *o)
{
    memset(o, 0, sizeof *o);
    o->version = SPL_MIRROR_OPTS_VERSION;
    o->label = -1;
    o->group = -1;
}

static char *dup_opt(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

int spl_mirror_new(spl_mirror **out, spl_store *s, const spl_mirror_opts *o)
{
    if (!out || !s || !o)
        return SPL_EINVAL;
    *out = NULL;
    spl_mirror *m = calloc(1, sizeof *m);
    if (!m)
        return SPL_ENOMEM;
    m->stop_fd = m->wake_fd = -1;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->ack_cv, NULL);
    m->s = s;
    m->o = *o;
    int oom = 0, rc = SPL_MIRROR_ECONFIG;
    m->url = dup_opt(o->url, &oom);
    m->bucket = dup_opt(o->bucket, &oom);
    m->prefix = dup_opt(o->prefix, &oom);
    m->creds = dup_opt(o->creds_file, &oom);
    m->token_file = dup_opt(o->token_file, &oom);
    m->tls_ca = dup_opt(o->tls_ca, &oom);
    m->tls_cert = dup_opt(o->tls_cert, &oom);
    m->tls_key = dup_opt(o->tls_key, &oom);
    m->prefix_len = m->prefix ? strlen(m->prefix) : 0;
    if (oom) {
        rc = SPL_ENOMEM;
        goto fail;
    }
    if (o->version != SPL_MIRROR_OPTS_VERSION) {
        set_err(m, "spl_mirror_opts.version %u, expected %u", o->version, SPL_MIRROR_OPTS_VERSION);
        goto fail;
    }
    if (!(o->dirs & (SPL_MIRROR_PUBLISH | SPL_MIRROR_APPLY)) || (o->dirs & ~3u)) {
        set_err(m, "say what to do: publish (--to), apply (--from) or both");
        goto fail;
    }
    if (!m->url || !*m->url) {
        set_err(m, "no server URL");
        goto fail;
    }
    if (strchr(m->url, '@')) {
        set_err(m, "credentials in the URL would show in the process list: use --creds or --token-file");
        goto fail;
    }
    size_t bl = m->bucket ? strlen(m->bucket) : 0;
    if (!bl || bl > 64 || strspn(m->bucket, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != bl) {
        set_err(m, "bucket name must be 1..64 of A-Z a-z 0-9 _ -");
        goto fail;
    }
    if (o->label < -1 || o->label > 63 || o->group < -1 || o->group > 63) {
        set_err(m, "label and group are 0..63");
        goto fail;
    }
    if (m->o.group < 0)
        m->o.group = 63;
    if (m->prefix && key_reserved(m->prefix)) {
        set_err(m, "keys under %s belong to the mirror", SPLM_RESERVED);
        goto fail;
    }
    if (m->tls_key && !m->tls_cert) {
        set_err(m, "--tls-key needs --tls-cert");
        goto fail;
    }
    if ((m->creds && (rc = check_secret(m, "credentials file", m->creds))) ||
        (m->token_file && (rc = check_secret(m, "token file", m->token_file))) ||
        (m->tls_key && (rc = check_secret(m, "TLS key", m->tls_key))))
        goto fail;
    rc = SPL_MIRROR_ECONFIG;
    if (m->creds && m->token_file) {
        set_err(m, "--creds and --token-file exclude each other");
        goto fail;
    }
    if (!m->o.backoff_min_ms)
        m->o.backoff_min_ms = 100;
    if (!m->o.backoff_max_ms)
        m->o.backoff_max_ms = 5000;
    if (m->o.backoff_max_ms < m->o.backoff_min_ms)
        m->o.backoff_max_ms = m->o.backoff_min_ms;
    if (!m->o.max_pending)
        m->o.max_pending = 4096;
    spl_info inf;
    if ((rc = spl_info_get(s, &inf)))
        goto fail;
    if (inf.read_only) {
        set_err(m, "the store is open read-only: a mirror writes to it (applies, resume point) and "
                   "follows it (a subscriber counts itself)");
        rc = SPL_EROFS;
        goto fail;
    }
    m->key_max = inf.geom.key_max;
    m->val_max = inf.geom.val_max;
    m->vec_dim = inf.geom.vec_dim;
    m->id = inf.store_id;
    ST_SET(m, store_id, m->id);
    rc = SPL_MIRROR_ECONFIG;
    if (o->vectors && !m->vec_dim) {
        set_err(m, "--vectors: the store keeps no vectors");
        goto fail;
    }
    snprintf(m->revkey, sizeof m->revkey, "%s%s.rev", SPLM_RESERVED, m->bucket);
    if (strlen(m->revkey) > m->key_max) {
        set_err(m, "the resume key %s is longer than the store's key_max %u", m->revkey, m->key_max);
        goto fail;
    }
    m->subj_pre_len = (size_t)snprintf(m->subj_pre, sizeof m->subj_pre, "$KV.%s.", m->bucket);
    m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->stop_fd < 0 || m->wake_fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (o->dirs & SPL_MIRROR_APPLY) { /* the resume point */
        uint64_t v = 0;
        size_t len = 0;
        int g;
        RETRY(s, m->revkey, 0, g, spl_get(s, m->revkey, &v, sizeof v, &len));
        if (g == 0 && len == 8)
            m->rev = v;
        else if (g != SPL_ENOENT && g != SPL_ENOBUFS && g != 0) {
            rc = g;
            goto fail;
        }
        ST_SET(m, rev, m->rev);
    }
    *out = m;
    return 0;
fail:
    if (rc == SPL_MIRROR_ECONFIG && !m->err[0])
        set_err(m, "bad option");
    fprintf(stderr, "splinter-mirror: %s\n", m->err[0] ? m->err : spl_mirror_strerror(rc));
    spl_mirror_free(m);
    return rc;
}

int spl_mirror_run(spl_mirror *m)
{
    if (!m)
        return SPL_EINVAL;
    int rc = connect_bucket(m);
    if (rc || m->stopping)
        goto out;
    pthread_t wt;
    if ((rc = -pthread_create(&wt, NULL, watch_main, m)))
        goto out;
    if (m->o.dirs & SPL_MIRROR_PUBLISH) {
        rc = pub_loop(m);
    } else {
        while (!m->stopping) {
            struct pollfd pw[2] = {{m->stop_fd, POLLIN, 0}, {m->wake_fd, POLLIN, 0}};
            poll(pw, 2, 1000);
            if (pw[1].revents & POLLIN)
                drain_fd(m->wake_fd);
            pthread_mutex_lock(&m->mu);
            int vr = m->view_ready;
            pthread_mutex_unlock(&m->mu);
            if (vr)
                ST_SET(m, ready, 1);
        }
    }
    spl_mirror_stop(m);
    pthread_join(wt, NULL);
    if (!rc && m->fatal)
        rc = m->fatal;
    /* let the puts in flight land (bounded) */
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 2000;
    js_PublishAsyncComplete(m->js, &po);
out:
    if (rc && !m->err[0])
        set_err(m, "%s", spl_mirror_strerror(rc));
    return rc;
}

void spl_mirror_stop(spl_mirror *m)
{
    if (!m)
        return;
    m->stopping = 1;
    uint64_t one = 1;
    ssize_t r = write(m->stop_fd, &one, 8);
    (void)r;
}

void spl_mirror_stats_get(spl_mirror *m, spl_mirror_stats *out)
{
    if (!m || !out)
        return;
    uint64_t *d = (uint64_t *)out;
    const uint64_t *src = (const uint64_t *)&m->st;
    _Static_assert(sizeof(spl_mirror_stats) % 8 == 0, "stats are u64 words");
    for (size_t i = 0; i < sizeof *out / 8; i++)
        d[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

const char *spl_mirror_errmsg(spl_mirror *m)
{
    return m && m->err[0] ? m->err : "no error";
}

void spl_mirror_free(spl_mirror *m)
{
    if (!m)
        return;
    if (m->kv)
        kvStore_Destroy(m->kv);
    if (m->js)
        jsCtx_Destroy(m->js);
    m->stopping = 1;
    if (m->nc) {
        natsConnection_Close(m->nc);
        /* callbacks run on libnats' threads: wait for the last one */
        pthread_mutex_lock(&m->mu);
        for (int i = 0; i < 100 && !m->closed; i++) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&m->ack_cv, &m->mu, &ts);
        }
        pthread_mutex_unlock(&m->mu);
        natsConnection_Destroy(m->nc);
    }
    if (m->nopts)
        natsOptions_Destroy(m->nopts);
    for (size_t i = 0; i < m->map.cap; i++)
        free(m->map.t[i]);
    free(m->map.t);
    free(m->dq.q);
    if (m->stop_fd >= 0)
        close(m->stop_fd);
    if (m->wake_fd >= 0)
        close(m->wake_fd);
    free(m->url);
    free(m->bucket);
    free(m->prefix);
    free(m->creds);
    free(m->token_file);
    free(m->tls_ca);
    free(m->tls_cert);
    free(m->tls_key);
    pthread_cond_destroy(&m->ack_cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
