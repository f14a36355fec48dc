/*
 * embed.c - the embed fragment: keeps an embedding vector next to every
 * text value it follows (by prefix, glob or label), computed by an
 * embedder (embedder.h; the default "hash" embedder, model-free).
 *
 * When a followed key's text changes, the fragment reads the text and its
 * epoch E, embeds doc_prefix + text, and writes the vector with
 * spl_vec_set_if(key, E): a text that changed meanwhile is refused
 * (SPL_ESTALE) and embedded again when its own change event is handled.
 * The texts of one batch of events (or of a resync's scan) are read
 * first and embedded together, `batch` per embedder call (the llama
 * embedder: one llama_encode, a sequence per text).
 * On success the key's epoch is E + 2, which the fragment records: the
 * event of its own vector write is then recognised and skipped.
 *
 * State, one record per slot (key hash, text hash, epoch after the vector
 * write), lives in a region beside the store (file and named stores), so a
 * restarted host knows which vectors are current; a memfd store keeps it in
 * memory (after a restart, every text is embedded again).  A resync (start,
 * feed overflow) scans the followed keys and embeds those whose vector is
 * missing or whose text differs from the one embedded.  See README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedder.h"
#include "splinter_fragment.h"

#define EMB_MAGIC 0x31424d45u /* "EMB1" */

static const spl_frag_api *A;

struct rec {
    uint64_t key_hash;  /* 0: nothing recorded */
    uint64_t text_hash; /* of the text embedded (or found empty) */
    uint64_t vec_epoch; /* the key's epoch right after its vector was written */
};
struct region_head {
    uint32_t magic, slots;
    uint64_t conf; /* embedder and settings: a change embeds everything again */
    uint64_t pad[2];
};

/* A text read and waiting for its vector (the batch in hand). */
struct item {
    char *key;        /* [key_max + 1] */
    char *text;       /* [vcap] */
    size_t len;
    uint32_t slot;
    uint64_t epoch;   /* of the text read */
    uint64_t kh, th;  /* key and text hashes */
    int has;          /* the key had a vector when read (0) */
};

struct embed {
    spl_frag_ctx *ctx;
    spl_store *s;
    emb_embedder *e;
    char *prefix, *glob, *doc_prefix, *query_prefix;
    uint64_t labels;
    uint32_t dim, slots, key_max, batch;
    struct rec *recs;
    int persistent; /* recs in a region */
    char *vbuf;
    size_t vcap;
    float *tmp;
    int busy;
    /* the batch in hand: np of batch items, embedded together */
    struct item *items;
    uint32_t np;
    const char **texts;
    size_t *lens;
    float *vecs; /* [batch * dim] */
    int *ntok;
    /* counters since start */
    uint64_t embedded, uptodate, stale, empty, cleared, errors, resyncs, own, deleted;
    uint64_t calls, max_batch; /* embedder calls, most texts in one */
};

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}
#define FNV0 1469598103934665603ull

static uint64_t key_hash(const char *k) { return fnv(k, strlen(k), FNV0) | 1; }

/* Its vector computed (ntok tokens; 0: nothing to embed): write it if the
 * key still has the epoch of the text embedded.  0, or SPL_EAGAIN. */
static int finish(struct embed *d, const struct item *it, const float *vec, int ntok)
{
    struct rec *r = &d->recs[it->slot];
    if (ntok == 0) { /* nothing to embed: no vector */
        d->empty++;
        if (it->has == 0) {
            int rc = A->vec_clear(d->s, it->key);
            if (rc == SPL_EAGAIN)
                return rc;
            if (rc == 0)
                d->cleared++;
        }
        r->key_hash = it->kh, r->text_hash = it->th, r->vec_epoch = 0;
        return 0;
    }
    int rc = A->vec_set_if(d->s, it->key, it->epoch, vec, d->dim);
    if (rc == 0) {
        r->key_hash = it->kh, r->text_hash = it->th, r->vec_epoch = it->epoch + 2;
        d->embedded++;
        return 0;
    }
    if (rc == SPL_ESTALE || rc == SPL_ENOENT) { /* changed since: its own event follows */
        d->stale++;
        return 0;
    }
    if (rc == SPL_EAGAIN)
        return rc;
    d->errors++;
    A->log(d->ctx, SPL_FRAG_LOG_WARN, "vec_set_if %s: %s", it->key, A->err_name(rc));
    return 0;
}

/* Embed the batch in hand in one embedder call and write the vectors.
 * Returns 0, or SPL_EAGAIN if a key stayed busy (the host resyncs soon). */
static int flush(struct embed *d)
{
    uint32_t n = d->np;
    if (!n)
        return 0;
    d->np = 0;
    for (uint32_t i = 0; i < n; i++)
        d->texts[i] = d->items[i].text, d->lens[i] = d->items[i].len;
    int rc = emb_embed_batch(d->e, d->doc_prefix, d->texts, d->lens, n, d->vecs, d->dim, d->ntok);
    d->calls++;
    if (n > d->max_batch)
        d->max_batch = n;
    if (rc < 0) {
        d->errors += n;
        A->log(d->ctx, SPL_FRAG_LOG_WARN, "embedding %u texts failed (%d)", n, rc);
        return 0;
    }
    int again = 0;
    for (uint32_t i = 0; i < n; i++)
        if (finish(d, &d->items[i], d->vecs + (size_t)i * d->dim, d->ntok[i]) == SPL_EAGAIN)
            again = 1;
    return again ? SPL_EAGAIN : 0;
}

/* Key's text[len] at epoch (its slot): if its vector is not up to date,
 * add it to the batch in hand (embedded when the batch is full, or at the
 * end of the events or the scan).  Returns 0, or SPL_EAGAIN (busy: later). */
static int handle(struct embed *d, const char *key, uint32_t slot, uint64_t epoch, const char *text,
                  size_t len)
{
    if (slot >= d->slots)
        return 0;
    struct rec *r = &d->recs[slot];
    uint64_t kh = key_hash(key), th = fnv(text, len, FNV0);
    if (r->key_hash == kh && r->vec_epoch == epoch) { /* nothing since its vector */
        d->uptodate++;
        return 0;
    }
    int has = A->vec_get(d->s, key, d->tmp, d->dim, NULL);
    if (has == SPL_EAGAIN)
        return SPL_EAGAIN;
    if (r->key_hash == kh && r->text_hash == th && (has == 0 || r->vec_epoch == 0)) {
        d->uptodate++; /* metadata changed, the text did not */
        return 0;
    }
    /* the same key already in the batch: this reading is the newer one;
     * another key in the same slot (deleted, then reused): flush first */
    int again = 0;
    struct item *it = NULL;
    for (uint32_t i = 0; i < d->np; i++)
        if (d->items[i].slot == slot) {
            if (d->items[i].kh == kh && strcmp(d->items[i].key, key) == 0)
                it = &d->items[i];
            else
                again = flush(d);
            break;
        }
    if (!it) {
        if (d->np == d->batch)
            again |= flush(d);
        it = &d->items[d->np++];
        size_t kl = strlen(key);
        if (kl > d->key_max)
            kl = d->key_max;
        memcpy(it->key, key, kl);
        it->key[kl] = 0;
    }
    if (len > d->vcap)
        len = d->vcap;
    memcpy(it->text, text, len);
    it->len = len, it->slot = slot, it->epoch = epoch, it->kh = kh, it->th = th, it->has = has;
    return again ? SPL_EAGAIN : 0;
}

/* Read key's text and epoch consistently, then handle it. */
static int process(struct embed *d, const char *key)
{
    for (int tries = 0; tries < 8; tries++) {
        spl_view v;
        int rc = A->view_get(d->s, key, &v);
        if (rc == SPL_ENOENT) {
            d->deleted++;
            return 0;
        }
        if (rc == SPL_EAGAIN)
            continue;
        if (rc)
            return d->errors++, 0;
        size_t n = v.len < d->vcap ? v.len : d->vcap;
        memcpy(d->vbuf, v.data, n);
        if (A->view_valid(d->s, &v) != 0)
            continue;
        return handle(d, key, v.slot, v.epoch, d->vbuf, n);
    }
    return SPL_EAGAIN;
}

/* The events of one drain: every changed text read first, then embedded
 * together, `batch` texts per embedder call. */
static int embed_events(spl_frag_ctx *ctx, void *state, const spl_frag_event *ev, size_t n)
{
    (void)ctx;
    struct embed *d = state;
    int again = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].kind == SPL_EV_DELETED) {
            d->deleted++;
            continue;
        }
        if (ev[i].kind != SPL_EV_CHANGED)
            continue;
        /* the event of its own vector write: nothing to read */
        if (ev[i].slot < d->slots && d->recs[ev[i].slot].vec_epoch == ev[i].epoch &&
            d->recs[ev[i].slot].key_hash == key_hash(ev[i].key)) {
            d->own++;
            continue;
        }
        if (process(d, ev[i].key) == SPL_EAGAIN)
            again = 1;
    }
    if (flush(d) == SPL_EAGAIN)
        again = 1;
    return again ? SPL_EAGAIN : 0;
}

static int scan_one(const spl_entry *e, void *ud)
{
    struct embed *d = ud;
    size_t n = e->meta.val_len < d->vcap ? e->meta.val_len : d->vcap;
    if (handle(d, e->key, e->meta.slot, e->meta.epoch, e->val ? e->val : "", e->val ? n : 0) ==
        SPL_EAGAIN)
        d->busy = 1;
    return 0;
}

static int embed_resync(spl_frag_ctx *ctx, void *state, int reason)
{
    struct embed *d = state;
    d->resyncs++;
    d->busy = 0;
    int rc = A->scan(ctx, scan_one, d);
    if (flush(d) == SPL_EAGAIN)
        d->busy = 1;
    A->log(ctx, SPL_FRAG_LOG_DEBUG, "resync (%d): %llu embedded so far", reason,
           (unsigned long long)d->embedded);
    return rc ? rc : d->busy ? SPL_EAGAIN : 0;
}

static void embed_stop(spl_frag_ctx *ctx, void *state)
{
    (void)ctx;
    struct embed *d = state;
    if (!d)
        return;
    emb_close(d->e);
    if (!d->persistent)
        free(d->recs);
    free(d->prefix);
    free(d->glob);
    free(d->doc_prefix);
    free(d->query_prefix);
    free(d->vbuf);
    free(d->tmp);
    if (d->items)
        for (uint32_t i = 0; i < d->batch; i++)
            free(d->items[i].key), free(d->items[i].text);
    free(d->items);
    free(d->texts);
    free(d->lens);
    free(d->vecs);
    free(d->ntok);
    free(d);
}

/* A label: a bit number, or a name from the labels file (`labels=` or
 * ~/.splinter/labels: "NAME BIT" or "NAME=BIT" lines, '#' comments, as
 * splinterctl reads it).  Returns the bit, -1 if the name is unknown. */
static int label_bit(const char *spec, const char *file)
{
    char *end;
    long b = strtol(spec, &end, 10);
    if (*spec && !*end)
        return b >= 0 && b <= 63 ? (int)b : -1;
    char path[4096];
    if (file && *file)
        snprintf(path, sizeof path, "%s", file);
    else {
        const char *home = getenv("HOME");
        snprintf(path, sizeof path, "%s/.splinter/labels", home ? home : "");
    }
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        char *h = strchr(line, '#');
        if (h)
            *h = 0;
        for (char *q = line; *q; q++)
            if (*q == '=')
                *q = ' ';
        char name[64];
        unsigned bit;
        if (sscanf(line, "%63s %u", name, &bit) == 2 && bit < 64 && strcmp(name, spec) == 0)
            found = (int)bit;
    }
    fclose(f);
    return found;
}

static int opt_u32(spl_frag_ctx *ctx, const char *name, uint32_t lo, uint32_t hi, uint32_t *out)
{
    const char *v = A->arg(ctx, name);
    char *end;
    unsigned long x = v ? strtoul(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi) {
        A->fail(ctx, "%s=%s: a whole number from %u to %u", name, v ? v : "", lo, hi);
        return SPL_EINVAL;
    }
    *out = (uint32_t)x;
    return 0;
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

static int embed_start(spl_frag_ctx *ctx, int argc, const char *const *argv, void **state)
{
    (void)argc, (void)argv;
    struct embed *d = calloc(1, sizeof *d);
    if (!d)
        return SPL_ENOMEM;
    *state = d;
    d->ctx = ctx;
    d->s = A->store(ctx);
    spl_info inf;
    int rc = A->info_get(d->s, &inf);
    if (rc)
        goto fail;
    d->dim = inf.geom.vec_dim;
    d->slots = inf.geom.slots;
    d->key_max = inf.geom.key_max;
    uint32_t max_tokens, threads, batch_tokens;
    rc = SPL_EINVAL;
    if (opt_u32(ctx, "max_tokens", 0, 1u << 20, &max_tokens) ||
        opt_u32(ctx, "batch", 1, EMB_MAX_BATCH, &d->batch) || opt_u32(ctx, "threads", 0, 1024, &threads) ||
        opt_u32(ctx, "batch_tokens", 0, 1u << 16, &batch_tokens))
        goto fail;
    char err[320];
    const char *kind = A->arg(ctx, "embedder");
    emb_opts eo = {A->arg(ctx, "model"), max_tokens, threads, d->batch, batch_tokens};
    if (emb_open_opts(kind, &eo, &d->e, err, sizeof err) != 0) {
        A->fail(ctx, "%s", err);
        goto fail;
    }
    if (emb_check_dim(d->e, d->dim, err, sizeof err) != 0) {
        A->fail(ctx, "%s", err);
        rc = SPL_EDIM;
        goto fail;
    }
    const char *dp = A->arg(ctx, "doc_prefix"), *qp = A->arg(ctx, "query_prefix");
    d->doc_prefix = strdup(dp ? dp : d->e->doc_prefix);
    d->query_prefix = strdup(qp ? qp : d->e->query_prefix);
    d->prefix = dup_or_null(A->arg(ctx, "prefix"));
    d->glob = dup_or_null(A->arg(ctx, "glob"));
    const char *label = A->arg(ctx, "label");
    if (label && *label) {
        int b = label_bit(label, A->arg(ctx, "labels"));
        if (b < 0) {
            A->fail(ctx, "label=%s: a bit 0..63 or a name of the labels file", label);
            goto fail;
        }
        d->labels = 1ull << b;
    } else if (!d->prefix && !d->glob) { /* default: label "embed", else bit 0 */
        int b = label_bit("embed", A->arg(ctx, "labels"));
        d->labels = 1ull << (b < 0 ? 0 : b);
    }
    rc = SPL_ENOMEM;
    d->vcap = inf.geom.val_max;
    d->vbuf = malloc(d->vcap + 1);
    d->tmp = malloc(sizeof *d->tmp * d->dim);
    d->items = calloc(d->batch, sizeof *d->items);
    d->texts = calloc(d->batch, sizeof *d->texts);
    d->lens = calloc(d->batch, sizeof *d->lens);
    d->vecs = malloc(sizeof *d->vecs * d->dim * d->batch);
    d->ntok = calloc(d->batch, sizeof *d->ntok);
    if (!d->doc_prefix || !d->query_prefix || !d->vbuf || !d->tmp || !d->items || !d->texts || !d->lens ||
        !d->vecs || !d->ntok)
        goto fail;
    for (uint32_t i = 0; i < d->batch; i++)
        if (!(d->items[i].key = malloc((size_t)d->key_max + 1)) || !(d->items[i].text = malloc(d->vcap + 1)))
            goto fail;
    /* the per-slot records: in a region if the store has them */
    char conf[512];
    snprintf(conf, sizeof conf, "%s|%u|%u|%s", d->e->kind, d->dim, max_tokens, d->doc_prefix);
    uint64_t ch = fnv(conf, strlen(conf), FNV0);
    size_t bytes = sizeof(struct region_head) + sizeof(struct rec) * d->slots;
    void *addr = NULL;
    if (A->region(ctx, "embed-state", bytes, &addr) == 0) {
        struct region_head *h = addr;
        d->recs = (struct rec *)(h + 1);
        d->persistent = 1;
        if (h->magic != EMB_MAGIC || h->slots != d->slots || h->conf != ch) {
            memset(d->recs, 0, sizeof(struct rec) * d->slots);
            h->slots = d->slots, h->conf = ch, h->magic = EMB_MAGIC;
        }
    } else if (!(d->recs = calloc(d->slots ? d->slots : 1, sizeof *d->recs)))
        goto fail;
    spl_frag_follow f = {d->prefix, d->glob, d->labels, 0, 0};
    rc = A->follow(ctx, &f);
    if (rc)
        goto fail;
    A->quiet(ctx, 1); /* its vector writes do not come back through the keys group */
    A->log(ctx, SPL_FRAG_LOG_INFO, "embedder %s, dim %u, following %s%s%s labels 0x%llx", d->e->kind, d->dim,
           d->prefix ? d->prefix : "", d->glob ? " " : "", d->glob ? d->glob : "",
           (unsigned long long)d->labels);
    return 0;
fail:
    embed_stop(ctx, d);
    *state = NULL;
    return rc;
}

/* ---- commands ---------------------------------------------------------------------- */

static void reply_strz(spl_frag_reply *r, const char *s)
{
    if (s)
        A->reply_str(r, s, strlen(s));
    else
        A->reply(r, "null");
}

static int cmd_stats(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)argc, (void)argv;
    struct embed *d = state;
    A->reply(r,
             "{\"embedded\":%llu,\"uptodate\":%llu,\"own\":%llu,\"stale\":%llu,\"empty\":%llu,"
             "\"cleared\":%llu,\"deleted\":%llu,\"errors\":%llu,\"resyncs\":%llu,\"calls\":%llu,"
             "\"max_batch\":%llu,",
             (unsigned long long)d->embedded, (unsigned long long)d->uptodate, (unsigned long long)d->own,
             (unsigned long long)d->stale, (unsigned long long)d->empty, (unsigned long long)d->cleared,
             (unsigned long long)d->deleted, (unsigned long long)d->errors, (unsigned long long)d->resyncs,
             (unsigned long long)d->calls, (unsigned long long)d->max_batch);
    A->reply(r, "\"embedder\":");
    reply_strz(r, d->e->kind);
    A->reply(r, ",\"dim\":%u,\"max_tokens\":%u,\"batch\":%u,\"batch_tokens\":%u,\"persistent\":%s,"
             "\"prefix\":", d->dim, d->e->max_tokens, d->batch, d->e->batch_tokens, d->persistent ? "true" : "false");
    reply_strz(r, d->prefix);
    A->reply(r, ",\"glob\":");
    reply_strz(r, d->glob);
    A->reply(r, ",\"labels\":%llu,\"doc_prefix\":", (unsigned long long)d->labels);
    reply_strz(r, d->doc_prefix);
    A->reply(r, ",\"query_prefix\":");
    reply_strz(r, d->query_prefix);
    return A->reply(r, "}");
}

/* query TEXT [K]: embed TEXT as a query and search the followed keys. */
static int cmd_query(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx;
    struct embed *d = state;
    if (argc < 2 || argc > 3) {
        A->reply(r, "{\"error\":\"usage: query TEXT [K]\"}");
        return SPL_EINVAL;
    }
    uint32_t k = argc == 3 ? (uint32_t)strtoul(argv[2], NULL, 10) : 5;
    if (k < 1 || k > 20)
        k = 5;
    int n = d->e->embed(d->e, d->query_prefix, argv[1], strlen(argv[1]), d->tmp, d->dim);
    if (n <= 0) {
        A->reply(r, "{\"error\":\"nothing to embed in the query\"}");
        return SPL_EINVAL;
    }
    spl_vec_query q = {d->tmp, NULL, d->dim, k, SPL_METRIC_COSINE, 0, d->labels, d->prefix, 0};
    spl_vec_result *res = NULL;
    int rc = A->vec_search(d->s, &q, &res);
    if (rc)
        return rc;
    A->reply(r, "{\"embedder\":\"%s\",\"hits\":[", d->e->kind);
    for (uint32_t i = 0; i < res->n; i++) {
        A->reply(r, "%s{\"key\":", i ? "," : "");
        A->reply_str(r, res->hits[i].key, res->hits[i].key_len);
        A->reply(r, ",\"score\":");
        A->reply_num(r, res->hits[i].score);
        A->reply(r, "}");
    }
    A->vec_result_free(res);
    return A->reply(r, "]}");
}

static const spl_frag_opt embed_opts[] = {
    {"prefix", NULL, "keys to follow: a prefix"},
    {"glob", NULL, "keys to follow: fnmatch(3) pattern"},
    {"label", NULL, "keys carrying this label (bit or name; default 'embed', else bit 0, when no prefix/glob)"},
    {"labels", NULL, "labels file (default ~/.splinter/labels)"},
    {"embedder", EMB_DEFAULT_KIND, "embedder: hash (default, model-free); llama (a GGUF model, WITH_LLAMA=1 builds)"},
    {"model", NULL, "model file (model-backed embedders)"},
    {"threads", "0", "threads of a model-backed embedder (0: the library's default)"},
    {"doc_prefix", NULL, "prepended to texts (default: the embedder's; hash: none)"},
    {"query_prefix", NULL, "prepended to queries (default: the embedder's; hash: none)"},
    {"batch", "16", "texts embedded together, in one model call (1..256)"},
    {"batch_tokens", "0", "tokens per model call (0: 2048, or a text's limit if more)"},
    {"max_tokens", "0", "tokens taken from a text (hash: words; 0: all)"},
    {NULL, NULL, NULL},
};

static const spl_frag_cmd embed_cmds[] = {
    {"stats", "", "counts (embedded, up to date, stale, ...) and settings", cmd_stats},
    {"query", "TEXT [K]", "embed TEXT as a query and return the K nearest followed keys", cmd_query},
    {NULL, NULL, NULL, NULL},
};

static const spl_frag_desc embed_desc = {
    .size = sizeof(spl_frag_desc),
    .abi = 2, /* needs vec_set_if */
    .name = "embed",
    .version = "0.1",
    .summary = "keeps an embedding vector next to every followed text",
    .opts = embed_opts,
    .cmds = embed_cmds,
    .start = embed_start,
    .events = embed_events,
    .resync = embed_resync,
    .stop = embed_stop,
};

SPL_FRAGMENT_EXPORT const spl_frag_desc *spl_fragment_entry(const spl_frag_api *api)
{
    if (!api || api->abi < 2 || !SPL_FRAG_API_HAS(api, vec_set_if))
        return NULL;
    A = api;
    return &embed_desc;
}
