/*
 * dsp.c - the DSP fragment: for every key matching a glob (numbers: int64,
 * uint64, a float64 as 8 binary bytes, or decimal text), keep derived keys
 * up to date on every change:
 *
 *   OUT KEY .ema    exponential moving average (alpha)
 *   OUT KEY .mean   mean of the last `window` samples
 *   OUT KEY .var    their variance (population: divided by n)
 *   OUT KEY .min    their minimum
 *   OUT KEY .max    their maximum
 *   OUT KEY .lp     biquad low-pass (or .hp, high-pass) at `cutoff` Hz for
 *                   samples at `rate` Hz (RBJ cookbook, quality `q`)
 *   OUT KEY .rate   rate of change per second (the key's mtime as the clock)
 *   OUT KEY .state  the state (binary): window, filter memory, the epoch of
 *                   the last sample; so a restarted host carries on
 *
 * Values are written as decimal text ("%.17g": reads back exactly).  The
 * derived keys are written first and the state last: a host that dies in
 * between has the sample again after restart (the state's epoch is older),
 * and computes the same values.  A change the host did not see (it was
 * down, or the feed lapped it) is found by the resync: a key whose epoch
 * differs from its state's is processed with its current value; writes in
 * between are not seen (the feed carries no values).  Deleting a key
 * deletes its derived keys.  See fragments/dsp/README.md.
 */
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splinter_fragment.h"

#define DSP_WINDOW_MAX 256u
#define DSP_MAGIC      0x31505344u /* "DSP1" */

static const spl_frag_api *A;

enum { F_NONE = 0, F_LOW = 1, F_HIGH = 2 };

struct dsp {
    spl_frag_ctx *ctx;
    spl_store *s;
    char *glob, *prefix, *out;
    size_t out_len;
    double alpha, cutoff, fs, q;
    uint32_t window, filter;
    double b0, b1, b2, a1, a2; /* normalised by a0 */
    uint64_t conf;             /* hash of the settings: a change starts afresh */
    uint32_t key_max;
    /* counters since start */
    uint64_t samples, skipped, bad, deleted, resyncs, toolong;
    int busy; /* a key stayed busy during a resync */
    char *kbuf, *vbuf;
    size_t vcap;
};

/* The state kept in OUT KEY.state. */
struct dsp_state {
    uint32_t magic, window;
    uint64_t conf;
    uint64_t epoch; /* of the input sample last processed */
    uint64_t count; /* samples processed */
    uint64_t t_ns;  /* its mtime */
    double x, ema, rate;
    double x1, x2, y1, y2; /* biquad memory */
    uint32_t n, head;      /* samples in the window, next position */
    double ring[DSP_WINDOW_MAX];
};

static size_t state_size(uint32_t window)
{
    return offsetof(struct dsp_state, ring) + (size_t)window * sizeof(double);
}

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- the computation ------------------------------------------------------ */

static void biquad_coeffs(struct dsp *d)
{
    d->b0 = 1, d->b1 = d->b2 = d->a1 = d->a2 = 0;
    if (d->filter == F_NONE)
        return;
    double w0 = 2 * M_PI * d->cutoff / d->fs, cw = cos(w0), alpha = sin(w0) / (2 * d->q);
    double a0 = 1 + alpha;
    if (d->filter == F_LOW) {
        d->b0 = (1 - cw) / 2 / a0;
        d->b1 = (1 - cw) / a0;
        d->b2 = (1 - cw) / 2 / a0;
    } else {
        d->b0 = (1 + cw) / 2 / a0;
        d->b1 = -(1 + cw) / a0;
        d->b2 = (1 + cw) / 2 / a0;
    }
    d->a1 = -2 * cw / a0;
    d->a2 = (1 - alpha) / a0;
}

struct dsp_out {
    double ema, mean, var, min, max, filt, rate;
};

/* One sample into the state; the outputs. */
static void step(const struct dsp *d, struct dsp_state *st, double x, uint64_t t_ns, struct dsp_out *o)
{
    uint32_t w = d->window;
    if (st->count == 0) {
        st->ema = x;
        st->rate = 0;
        st->x1 = st->x2 = x; /* start as if x had always been there */
        st->y1 = st->y2 = d->filter == F_HIGH ? 0 : x;
    } else {
        st->ema = d->alpha * x + (1 - d->alpha) * st->ema;
        if (t_ns > st->t_ns)
            st->rate = (x - st->x) / ((double)(t_ns - st->t_ns) / 1e9);
    }
    double y = d->b0 * x + d->b1 * st->x1 + d->b2 * st->x2 - d->a1 * st->y1 - d->a2 * st->y2;
    st->x2 = st->x1;
    st->x1 = x;
    st->y2 = st->y1;
    st->y1 = y;
    st->ring[st->head] = x;
    st->head = (st->head + 1) % w;
    if (st->n < w)
        st->n++;
    double sum = 0, mn = INFINITY, mx = -INFINITY;
    for (uint32_t i = 0; i < st->n; i++) { /* oldest first */
        double v = st->ring[(st->head + w - st->n + i) % w];
        sum += v;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    double mean = sum / st->n, var = 0;
    for (uint32_t i = 0; i < st->n; i++) {
        double v = st->ring[(st->head + w - st->n + i) % w] - mean;
        var += v * v;
    }
    st->x = x;
    st->t_ns = t_ns;
    st->count++;
    o->ema = st->ema;
    o->mean = mean;
    o->var = var / st->n;
    o->min = mn;
    o->max = mx;
    o->filt = d->filter == F_NONE ? x : y;
    o->rate = st->rate;
}

/* ---- the store --------------------------------------------------------------- */

static const char *const dsp_names[] = {"ema", "mean", "var", "min", "max", NULL, "rate"};

static const char *out_name(const struct dsp *d, int i)
{
    return dsp_names[i] ? dsp_names[i] : d->filter == F_HIGH ? "hp" : "lp";
}

/* OUT KEY.SUFFIX into d->kbuf; 0 or -1 (too long for the store). */
static int derived_key(struct dsp *d, const char *key, const char *suffix)
{
    int n = snprintf(d->kbuf, (size_t)d->key_max + 1, "%s%s.%s", d->out, key, suffix);
    return n < 0 || (size_t)n > d->key_max ? -1 : 0;
}

static int put_num(struct dsp *d, const char *key, const char *suffix, double v)
{
    char txt[40];
    int n = snprintf(txt, sizeof txt, "%.17g", v);
    if (derived_key(d, key, suffix))
        return SPL_EKEYLEN;
    return A->set_wait(d->s, d->kbuf, txt, (size_t)n, 200000);
}

/* The number a value holds; 0 or -1. */
static int parse_num(const void *val, size_t len, int type, double *x)
{
    if (len == 8 && (type == SPL_T_INT64 || type == SPL_T_UINT64 || type == SPL_T_BINARY)) {
        uint64_t u;
        memcpy(&u, val, 8);
        if (type == SPL_T_INT64)
            *x = (double)(int64_t)u;
        else if (type == SPL_T_UINT64)
            *x = (double)u;
        else
            memcpy(x, &u, 8);
        return isfinite(*x) ? 0 : -1;
    }
    char txt[64];
    if (len == 0 || len >= sizeof txt)
        return -1;
    memcpy(txt, val, len);
    txt[len] = 0;
    char *end;
    errno = 0;
    *x = strtod(txt, &end);
    while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')
        end++;
    return end != txt && !*end && errno != ERANGE && isfinite(*x) ? 0 : -1;
}

static void load_state(struct dsp *d, const char *key, struct dsp_state *st)
{
    size_t len = 0;
    if (derived_key(d, key, "state") == 0 &&
        A->get_wait(d->s, d->kbuf, st, sizeof *st, &len, 200000) == 0 && len == state_size(d->window) &&
        st->magic == DSP_MAGIC && st->window == d->window && st->conf == d->conf &&
        st->n <= d->window && st->head < d->window)
        return;
    memset(st, 0, sizeof *st);
    st->magic = DSP_MAGIC;
    st->window = d->window;
    st->conf = d->conf;
}

/* A sample of key (its value, type, epoch and mtime). */
static int process(struct dsp *d, const char *key, const void *val, size_t len, int type, uint64_t epoch,
                   uint64_t mtime)
{
    if (strncmp(key, d->out, d->out_len) == 0)
        return 0; /* ours */
    double x;
    if (parse_num(val, len, type, &x) != 0) {
        d->bad++;
        return 0;
    }
    if (derived_key(d, key, "state") != 0) {
        if (d->toolong++ == 0)
            A->log(d->ctx, SPL_FRAG_LOG_WARN, "derived keys of '%s' are longer than key_max %u", key,
                   d->key_max);
        return SPL_EKEYLEN;
    }
    struct dsp_state st;
    load_state(d, key, &st);
    if (st.count && st.epoch == epoch) {
        d->skipped++; /* seen already (an earlier event of the batch read it) */
        return 0;
    }
    struct dsp_out o;
    step(d, &st, x, mtime, &o);
    st.epoch = epoch;
    const double v[] = {o.ema, o.mean, o.var, o.min, o.max, o.filt, o.rate};
    int rc = 0;
    for (int i = 0; i < 7; i++) {
        int r = put_num(d, key, out_name(d, i), v[i]);
        if (r && !rc)
            rc = r;
    }
    if (derived_key(d, key, "state") == 0) { /* last: see the top of the file */
        int r = A->set_wait(d->s, d->kbuf, &st, state_size(d->window), 200000);
        if (r && !rc)
            rc = r;
    }
    d->samples++;
    return rc;
}

/* The key's current value and metadata, read consistently, then process. */
static int sample_key(struct dsp *d, const char *key)
{
    for (int t = 0; t < 16; t++) {
        spl_meta m1, m2;
        size_t len = 0;
        int rc = A->meta_get(d->s, key, &m1);
        if (rc == SPL_ENOENT)
            return 0; /* gone since: its delete event follows */
        if (rc == 0)
            rc = A->get(d->s, key, d->vbuf, d->vcap, &len);
        if (rc == 0)
            rc = A->meta_get(d->s, key, &m2);
        if (rc == SPL_EAGAIN || (rc == 0 && m1.epoch != m2.epoch))
            continue;
        if (rc == SPL_ENOENT)
            return 0;
        if (rc)
            return rc;
        return process(d, key, d->vbuf, len, m1.type, m1.epoch, m1.mtime_ns);
    }
    return SPL_EAGAIN;
}

static void remove_derived(struct dsp *d, const char *key)
{
    for (int i = 0; i < 7; i++)
        if (derived_key(d, key, out_name(d, i)) == 0)
            A->unset_wait(d->s, d->kbuf, 200000);
    if (derived_key(d, key, "state") == 0 && A->unset_wait(d->s, d->kbuf, 200000) == 0)
        d->deleted++;
}

/* ---- callbacks --------------------------------------------------------------------- */

static int dsp_events(spl_frag_ctx *ctx, void *state, const spl_frag_event *ev, size_t n)
{
    (void)ctx;
    struct dsp *d = state;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(ev[i].key, d->out, d->out_len) == 0)
            continue;
        int r = 0;
        if (ev[i].kind == SPL_EV_DELETED)
            remove_derived(d, ev[i].key);
        else if (ev[i].kind == SPL_EV_CHANGED || ev[i].kind == SPL_EV_BUMPED)
            r = sample_key(d, ev[i].key);
        if (r && (!rc || r == SPL_EAGAIN))
            rc = r; /* SPL_EAGAIN: the host resyncs soon, and this key gets done */
    }
    return rc;
}

static int scan_one(const spl_entry *e, void *ud)
{
    struct dsp *d = ud;
    if (e->val && process(d, e->key, e->val, e->meta.val_len, e->meta.type, e->meta.epoch,
                          e->meta.mtime_ns) == SPL_EAGAIN)
        d->busy = 1;
    return 0;
}

/* Derived keys whose input is gone (deleted while nobody watched). */
struct orphans {
    struct dsp *d;
    char **keys;
    size_t n, cap;
};

static int find_orphan(const spl_entry *e, void *ud)
{
    struct orphans *o = ud;
    struct dsp *d = o->d;
    size_t kl = e->key_len;
    if (kl < d->out_len + 6 || strcmp(e->key + kl - 6, ".state") != 0)
        return 0;
    char *in = strndup(e->key + d->out_len, kl - d->out_len - 6);
    if (!in)
        return 0;
    int gone = A->meta_get(d->s, in, &(spl_meta){0}) == SPL_ENOENT &&
               (!d->glob || fnmatch(d->glob, in, 0) == 0) &&
               (!d->prefix || strncmp(in, d->prefix, strlen(d->prefix)) == 0);
    if (gone && o->n < 65536) {
        if (o->n == o->cap) {
            size_t nc = o->cap ? o->cap * 2 : 16;
            char **k = realloc(o->keys, nc * sizeof *k);
            if (!k) {
                free(in);
                return 0;
            }
            o->keys = k;
            o->cap = nc;
        }
        o->keys[o->n++] = in;
    } else {
        free(in);
    }
    return 0;
}

static int dsp_resync(spl_frag_ctx *ctx, void *state, int reason)
{
    struct dsp *d = state;
    d->resyncs++;
    A->log(ctx, SPL_FRAG_LOG_INFO, "resync (%s)",
           reason == SPL_FRAG_RESYNC_START ? "start" : reason == SPL_FRAG_RESYNC_OVERFLOW ? "feed overflow" : "unknown slot");
    d->busy = 0;
    int rc = A->scan(ctx, scan_one, d);
    struct orphans o = {d, NULL, 0, 0};
    spl_filter f = {d->out, NULL, 0, 0};
    A->foreach(d->s, &f, find_orphan, &o);
    for (size_t i = 0; i < o.n; i++) {
        remove_derived(d, o.keys[i]);
        free(o.keys[i]);
    }
    free(o.keys);
    return rc ? rc : d->busy ? SPL_EAGAIN : 0;
}

static void dsp_stop(spl_frag_ctx *ctx, void *state)
{
    (void)ctx;
    struct dsp *d = state;
    if (!d)
        return;
    free(d->glob);
    free(d->prefix);
    free(d->out);
    free(d->kbuf);
    free(d->vbuf);
    free(d);
}

static int opt_num(spl_frag_ctx *ctx, const char *name, double lo, double hi, double *out)
{
    const char *v = A->arg(ctx, name);
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : NAN;
    if (!v || end == v || *end || errno || !(x >= lo && x <= hi)) {
        A->fail(ctx, "%s=%s: a number from %g to %g", name, v ? v : "", lo, hi);
        return SPL_EINVAL;
    }
    *out = x;
    return 0;
}

static int dsp_start(spl_frag_ctx *ctx, int argc, const char *const *argv, void **state)
{
    (void)argc;
    (void)argv;
    struct dsp *d = calloc(1, sizeof *d);
    if (!d)
        return SPL_ENOMEM;
    *state = d;
    d->ctx = ctx;
    d->s = A->store(ctx);
    spl_info inf;
    int rc = A->info_get(d->s, &inf);
    if (rc)
        goto fail;
    d->key_max = inf.geom.key_max;
    const char *glob = A->arg(ctx, "glob"), *prefix = A->arg(ctx, "prefix");
    const char *out = A->arg(ctx, "out"), *filter = A->arg(ctx, "filter");
    double window;
    rc = SPL_EINVAL;
    if ((!glob || !*glob) && (!prefix || !*prefix)) {
        A->fail(ctx, "give glob=PATTERN (e.g. glob='sensor.*') or prefix=P");
        goto fail;
    }
    if (!out || !*out) {
        A->fail(ctx, "out= must not be empty");
        goto fail;
    }
    if (opt_num(ctx, "alpha", 1e-9, 1, &d->alpha) || opt_num(ctx, "window", 1, DSP_WINDOW_MAX, &window) ||
        opt_num(ctx, "rate", 1e-6, 1e9, &d->fs) || opt_num(ctx, "q", 1e-3, 100, &d->q) ||
        opt_num(ctx, "cutoff", 1e-9, d->fs / 2 * 0.999999, &d->cutoff))
        goto fail;
    d->window = (uint32_t)window;
    if (d->window != window) {
        A->fail(ctx, "window=%s: a whole number", A->arg(ctx, "window"));
        goto fail;
    }
    if (strcmp(filter, "lowpass") == 0)
        d->filter = F_LOW;
    else if (strcmp(filter, "highpass") == 0)
        d->filter = F_HIGH;
    else if (strcmp(filter, "none") == 0)
        d->filter = F_NONE;
    else {
        A->fail(ctx, "filter=%s: lowpass, highpass or none", filter);
        goto fail;
    }
    if (state_size(d->window) > inf.geom.val_max) {
        A->fail(ctx, "window %u needs %zu-byte values; the store has %u", d->window, state_size(d->window),
                inf.geom.val_max);
        goto fail;
    }
    biquad_coeffs(d);
    char conf[256];
    snprintf(conf, sizeof conf, "%.17g|%u|%u|%.17g|%.17g|%.17g", d->alpha, d->window, d->filter, d->cutoff,
             d->fs, d->q);
    d->conf = fnv(conf);
    rc = SPL_ENOMEM;
    d->glob = glob && *glob ? strdup(glob) : NULL;
    d->prefix = prefix && *prefix ? strdup(prefix) : NULL;
    d->out = strdup(out);
    d->out_len = strlen(out);
    d->kbuf = malloc((size_t)d->key_max + 1);
    d->vcap = inf.geom.val_max + 1;
    d->vbuf = malloc(d->vcap);
    if ((glob && *glob && !d->glob) || (prefix && *prefix && !d->prefix) || !d->out || !d->kbuf || !d->vbuf)
        goto fail;
    spl_frag_follow f = {d->prefix, d->glob, 0, 0, 0};
    const char *label = A->arg(ctx, "label");
    if (label && *label) {
        char *end;
        long b = strtol(label, &end, 10);
        if (*end || b < 0 || b > 63) {
            A->fail(ctx, "label=%s: a label bit 0..63", label);
            rc = SPL_EINVAL;
            goto fail;
        }
        f.labels = 1ull << b;
    }
    rc = A->follow(ctx, &f);
    if (rc)
        goto fail;
    /* its output does not come back to it (nor to other glob followers)
     * through the keys group, unless announce=1: 8 writes per sample */
    const char *ann = A->arg(ctx, "announce");
    if (!ann || strcmp(ann, "1") != 0)
        A->quiet(ctx, 1);
    A->log(ctx, SPL_FRAG_LOG_INFO, "%s%s -> %s*.{ema,mean,var,min,max,%s,rate}, window %u, alpha %g",
           d->glob ? "glob " : "prefix ", d->glob ? d->glob : d->prefix, d->out, out_name(d, 5), d->window,
           d->alpha);
    return 0;
fail:
    dsp_stop(ctx, d);
    *state = NULL;
    return rc;
}

/* ---- commands ---------------------------------------------------------------------- */

static int cmd_stats(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx, (void)argc, (void)argv;
    struct dsp *d = state;
    A->reply(r, "{\"samples\":%llu,\"skipped\":%llu,\"bad\":%llu,\"deleted\":%llu,\"resyncs\":%llu,",
             (unsigned long long)d->samples, (unsigned long long)d->skipped, (unsigned long long)d->bad,
             (unsigned long long)d->deleted, (unsigned long long)d->resyncs);
    A->reply(r, "\"glob\":");
    if (d->glob)
        A->reply_str(r, d->glob, strlen(d->glob));
    else
        A->reply(r, "null");
    A->reply(r, ",\"prefix\":");
    if (d->prefix)
        A->reply_str(r, d->prefix, strlen(d->prefix));
    else
        A->reply(r, "null");
    A->reply(r, ",\"out\":");
    A->reply_str(r, d->out, d->out_len);
    A->reply(r, ",\"window\":%u,\"alpha\":", d->window);
    A->reply_num(r, d->alpha);
    A->reply(r, ",\"filter\":\"%s\",\"cutoff\":", d->filter == F_LOW ? "lowpass" : d->filter == F_HIGH ? "highpass" : "none");
    A->reply_num(r, d->cutoff);
    A->reply(r, ",\"rate\":");
    A->reply_num(r, d->fs);
    return A->reply(r, "}");
}

static int cmd_get(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx;
    struct dsp *d = state;
    if (argc != 2) {
        A->reply(r, "{\"error\":\"usage: get KEY\"}");
        return SPL_EINVAL;
    }
    struct dsp_state st;
    size_t len = 0;
    if (derived_key(d, argv[1], "state") != 0 ||
        A->get_wait(d->s, d->kbuf, &st, sizeof st, &len, 200000) != 0 || len != state_size(d->window) ||
        st.magic != DSP_MAGIC || st.n > d->window || st.n == 0 || st.head >= d->window) {
        A->reply(r, "{\"error\":\"no samples of this key\",\"key\":");
        A->reply_str(r, argv[1], strlen(argv[1]));
        A->reply(r, "}");
        return SPL_ENOENT;
    }
    A->reply(r, "{\"key\":");
    A->reply_str(r, argv[1], strlen(argv[1]));
    A->reply(r, ",\"count\":%llu,\"epoch\":%llu,\"last\":", (unsigned long long)st.count,
             (unsigned long long)st.epoch);
    A->reply_num(r, st.x);
    A->reply(r, ",\"ema\":");
    A->reply_num(r, st.ema);
    A->reply(r, ",\"rate\":");
    A->reply_num(r, st.rate);
    A->reply(r, ",\"filter\":");
    A->reply_num(r, d->filter == F_NONE ? st.x : st.y1);
    A->reply(r, ",\"window\":[");
    for (uint32_t i = 0; i < st.n; i++) {
        if (i)
            A->reply(r, ",");
        A->reply_num(r, st.ring[(st.head + d->window - st.n + i) % d->window]);
    }
    return A->reply(r, "]}");
}

static int cmd_reset(spl_frag_ctx *ctx, void *state, int argc, const char *const *argv, spl_frag_reply *r)
{
    (void)ctx;
    struct dsp *d = state;
    if (argc != 2) {
        A->reply(r, "{\"error\":\"usage: reset KEY\"}");
        return SPL_EINVAL;
    }
    remove_derived(d, argv[1]);
    return A->reply(r, "{\"reset\":true}");
}

static const spl_frag_opt dsp_opts[] = {
    {"glob", NULL, "keys to follow: fnmatch(3) pattern, e.g. sensor.*"},
    {"prefix", NULL, "keys to follow: a prefix (with or instead of glob)"},
    {"label", NULL, "only keys carrying this label bit (0..63)"},
    {"out", "dsp.", "prefix of the derived keys: OUT KEY .ema ..."},
    {"alpha", "0.1", "EMA smoothing factor, (0, 1]"},
    {"window", "16", "samples in the window of mean, var, min, max (1..256)"},
    {"filter", "lowpass", "biquad: lowpass, highpass or none"},
    {"cutoff", "1", "filter cutoff in Hz (below rate/2)"},
    {"rate", "10", "sample rate in Hz the filter is designed for"},
    {"q", "0.70710678118654752", "filter quality factor"},
    {"announce", "0", "1: its writes reach fragments following a glob (to chain fragments)"},
    {NULL, NULL, NULL},
};

static const spl_frag_cmd dsp_cmds[] = {
    {"stats", "", "samples processed, skipped, bad values, settings", cmd_stats},
    {"get", "KEY", "the state of one key: count, last sample, ema, rate, filter, window", cmd_get},
    {"reset", "KEY", "forget a key: remove its derived keys and state", cmd_reset},
    {NULL, NULL, NULL, NULL},
};

static const spl_frag_desc dsp_desc = {
    SPL_FRAG_DESC_INIT,
    .name = "dsp",
    .version = "1.0",
    .summary = "moving average, window stats, biquad filter and rate of numeric keys",
    .opts = dsp_opts,
    .cmds = dsp_cmds,
    .start = dsp_start,
    .events = dsp_events,
    .resync = dsp_resync,
    .stop = dsp_stop,
};

SPL_FRAGMENT_EXPORT const spl_frag_desc *spl_fragment_entry(const spl_frag_api *api)
{
    if (!api || api->abi < 1 || !SPL_FRAG_API_HAS(api, set_many))
        return NULL;
    A = api;
    return &dsp_desc;
}
