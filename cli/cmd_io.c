/*
 * cmd_io.c - export and import as JSON Lines.
 *
 * The first line is a header, {"splinter_export":1,"geometry":{...}}; then
 * one object per key: {"key":K, "type":T, "labels":[bit...], "flags":F,
 * "value":TEXT} where a value that is not valid UTF-8 (or holds a NUL) is
 * "base64" instead of "value", and a key that is not UTF-8 is "key_base64".
 * Importing an export reproduces keys, values, types, labels and flags
 * (epochs and times are the new store's own).  A key holding a vector has
 * "vector": [numbers] (each float32 as the shortest decimal that reads back
 * as itself, so a float32 store's vectors round-trip exactly); importing a
 * line without "vector" into a store with vectors clears the key's vector.
 *
 * Bulk vector loads (import --vectors, import --raw): only vectors, written
 * in batches with spl_vec_set_many; the key is created with an empty value
 * if absent, an existing key keeps its value.  --vectors reads JSON Lines
 * {"key":K,"vector":[...]} (other fields are ignored); the numbers of the
 * array are parsed without building JSON values (cli_vec_scan), and so are
 * lines of the usual shape; others go through jansson (see "import
 * --vectors" below).  Both imports read a vector's numbers with
 * cli_vec_scan: each rounded once to float32, as strtof rounds it (a
 * double, then a float, would round twice: rarely, but differently).
 * --raw FILE --keys FILE reads little-endian float32
 * vectors, vec_dim each, one key per line of the key list.  On a terminal a
 * progress bar goes to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vecscan.h"

struct export_state {
    cli_ctx *c;
    FILE *out;
    uint64_t n;
    float *vec;   /* vec_dim floats, or NULL: the store has no vectors */
    uint32_t dim;
    int err;      /* a vector read failed (library code) */
};

static int export_one(const spl_entry *e, void *ud)
{
    struct export_state *st = ud;
    json_t *o = cli_json_key(e->key, NULL);
    json_object_set_new(o, "type", json_string(spl_type_name((spl_type)e->meta.type)));
    json_t *labels = json_array();
    for (unsigned b = 0; b < 64; b++)
        if (e->meta.labels >> b & 1)
            json_array_append_new(labels, json_integer(b));
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "flags", json_integer(e->meta.user_flags));
    cli_json_put_value(o, e->val, e->meta.val_len, e->meta.type);
    json_object_del(o, "int"); /* the bytes say it; "int" is for readers */
    if (st->vec) {
        int rc;
        CLI_RETRY(st->c, rc, e->key, 0, spl_vec_get(st->c->s, e->key, st->vec, st->dim, NULL));
        if (rc == 0)
            json_object_set_new(o, "vector", cli_vec_json(st->vec, st->dim));
        else if (rc != SPL_ENOVEC && rc != SPL_ENOENT) /* ENOENT: deleted meanwhile */
            st->err = rc;
    }
    json_dumpf(o, st->out, CLI_JSON_FLAGS);
    fputc('\n', st->out);
    json_decref(o);
    st->n++;
    return 0;
}

int cmd_export(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"prefix", required_argument, 0, 'p'}, {0, 0, 0, 0}};
    spl_filter f = {.flags = SPL_F_VALUES};
    int ch;
    while ((ch = getopt_long(argc, argv, "p:", lo, NULL)) != -1) {
        if (ch != 'p')
            return cli_usage(c, "unknown or incomplete option '%s'", argv[optind - 1]);
        f.prefix = optarg;
    }
    if (argc - optind > 1)
        return cli_usage(c, "export [FILE]");
    const char *path = optind < argc ? argv[optind] : "-";
    FILE *out;
    int rc = cli_stream_open(c, path, 1, &out);
    if (rc != CLI_OK)
        return rc;
    spl_info in;
    rc = spl_info_get(c->s, &in);
    if (rc == 0) {
        json_t *h = json_pack("{s:i, s:{s:I, s:I, s:I, s:I}}", "splinter_export", 1, "geometry",
                              "slots", (json_int_t)in.geom.slots, "key_max",
                              (json_int_t)in.geom.key_max, "value_size",
                              (json_int_t)in.geom.val_max, "vec_dim", (json_int_t)in.geom.vec_dim);
        json_dumpf(h, out, CLI_JSON_FLAGS);
        fputc('\n', out);
        json_decref(h);
    }
    struct export_state st = {c, out, 0, NULL, cli_vec_dim(c), 0};
    if (st.dim && !(st.vec = malloc(st.dim * sizeof *st.vec)))
        rc = SPL_ENOMEM;
    if (rc == 0)
        rc = spl_foreach(c->s, &f, export_one, &st);
    if (rc == 0 && st.err)
        rc = st.err;
    free(st.vec);
    int werr = cli_stream_close(out);
    if (rc < 0)
        return cli_fail_spl(c, rc, "export");
    if (werr)
        return cli_fail(c, CLI_USAGE, "EIO", "cannot write '%s': %s", path, strerror(errno));
    if (out != stdout) {
        if (c->json)
            cli_json_out(c, json_pack("{s:b, s:I, s:s}", "ok", 1, "exported", (json_int_t)st.n,
                                      "file", path));
        else
            cli_printf(c, "exported %" PRIu64 " keys to %s\n", st.n, path);
    }
    return CLI_OK;
}

/* Decode a string field that may be plain ("value") or base64. */
static int field_bytes(json_t *o, const char *plain, const char *b64, char **out, size_t *len)
{
    json_t *p = json_object_get(o, plain), *b = json_object_get(o, b64);
    if (p && b)
        return -1;
    if (p) {
        if (!json_is_string(p))
            return -1;
        *len = json_string_length(p);
        *out = malloc(*len + 1);
        memcpy(*out, json_string_value(p), *len + 1);
        return 0;
    }
    if (b) {
        if (!json_is_string(b))
            return -1;
        size_t n = json_string_length(b);
        *out = malloc(n / 4 * 3 + 1);
        long k = cli_b64_decode(json_string_value(b), n, (unsigned char *)*out);
        if (k < 0) {
            free(*out);
            *out = NULL;
            return -1;
        }
        (*out)[k] = 0;
        *len = (size_t)k;
        return 0;
    }
    *out = NULL;
    return 1; /* absent */
}

/* One JSON line into the store; its "vector" already read into pre (NULL:
 * there was none, or it was not an array).  Returns CLI_OK or an exit code
 * (reported). */
static int import_one(cli_ctx *c, json_t *o, unsigned long line, uint32_t dim, const float *pre)
{
    char *key = NULL, *val = NULL;
    float *vec = NULL;
    const float *vecp = pre;
    size_t klen, vlen = 0;
    uint64_t labels = 0;
    int rc, type = SPL_T_VOID, code = CLI_OK;
    json_t *t = json_object_get(o, "type"), *lab = json_object_get(o, "labels"),
           *fl = json_object_get(o, "flags"), *vj = json_object_get(o, "vector");
    if (field_bytes(o, "key", "key_base64", &key, &klen) != 0 || strlen(key) != klen) {
        code = cli_fail(c, CLI_USAGE, "BAD_INPUT", "line %lu: missing or bad key", line);
        goto out;
    }
    if (field_bytes(o, "value", "base64", &val, &vlen) < 0) {
        code = cli_fail(c, CLI_USAGE, "BAD_INPUT", "line %lu: bad value or base64", line);
        goto out;
    }
    if (t && (!json_is_string(t) || (type = spl_type_parse(json_string_value(t))) < 0)) {
        code = cli_fail(c, CLI_USAGE, "BAD_INPUT", "line %lu: bad type", line);
        goto out;
    }
    if (lab) {
        size_t i;
        json_t *e;
        if (!json_is_array(lab)) {
            code = cli_fail(c, CLI_USAGE, "BAD_INPUT", "line %lu: labels must be an array", line);
            goto out;
        }
        json_array_foreach(lab, i, e) {
            uint64_t m;
            if (json_is_integer(e) && json_integer_value(e) >= 0 && json_integer_value(e) < 64)
                labels |= 1ull << json_integer_value(e);
            else if (json_is_string(e) && cli_label_mask(c, json_string_value(e), &m) == CLI_OK)
                labels |= m;
            else {
                code = cli_fail(c, CLI_USAGE, "BAD_INPUT", "line %lu: bad label", line);
                goto out;
            }
        }
    }
    if (fl && (!json_is_integer(fl) || json_integer_value(fl) < 0 || json_integer_value(fl) > 255)) {
        code = cli_fail(c, CLI_USAGE, "BAD_INPUT", "line %lu: flags must be 0..255", line);
        goto out;
    }
    if (vj) {
        char what[64];
        snprintf(what, sizeof what, "line %lu: the vector", line);
        if (!dim) {
            code = cli_fail(c, CLI_USAGE, "SPL_ENOTSUP",
                            "line %lu: a vector, but the store has none (SPL_ENOTSUP)", line);
            goto out;
        }
        if (!pre) { /* not an array: cli_vec_from_json says so */
            if (!(vec = malloc(dim * sizeof *vec))) {
                code = cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
                goto out;
            }
            if ((code = cli_vec_from_json(c, vj, dim, vec, what)) != CLI_OK)
                goto out;
            vecp = vec;
        }
    }
    rc = spl_set_wait(c->s, key, val ? val : "", vlen, cli_wait_us(c));
    if (rc == 0)
        CLI_RETRY(c, rc, key, 1, spl_type_set(c->s, key, (spl_type)type));
    if (rc == 0)
        CLI_RETRY(c, rc, key, 1, spl_labels_clear(c->s, key, ~labels));
    if (rc == 0 && labels)
        CLI_RETRY(c, rc, key, 1, spl_labels_set(c->s, key, labels));
    if (rc == 0)
        CLI_RETRY(c, rc, key, 1, spl_flags_set(c->s, key, fl ? (uint8_t)json_integer_value(fl) : 0));
    if (rc == 0 && vj)
        CLI_RETRY(c, rc, key, 1, spl_vec_set(c->s, key, vecp, dim));
    else if (rc == 0 && dim) {
        CLI_RETRY(c, rc, key, 1, spl_vec_clear(c->s, key));
        if (rc == SPL_ENOVEC)
            rc = 0;
    }
    if (rc < 0) {
        char what[64];
        snprintf(what, sizeof what, "line %lu", line);
        code = cli_fail_spl(c, rc, what);
    }
out:
    free(key);
    free(val);
    free(vec);
    return code;
}

/* ---------------------------------------------------------------- bulk vectors */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A progress bar on stderr, redrawn at most every 100 ms, only on a
 * terminal (and not with --quiet or --json).  total: the whole in units
 * (0: unknown, then bytes/bytes_total give the share). */
struct progress {
    int on;
    uint64_t t0, last, done, total, bytes, bytes_total;
};

static void progress_start(cli_ctx *c, struct progress *p, uint64_t total, uint64_t bytes_total)
{
    memset(p, 0, sizeof *p);
    p->on = isatty(STDERR_FILENO) && !c->quiet && !c->json;
    p->t0 = p->last = mono_ns();
    p->total = total;
    p->bytes_total = bytes_total;
}

static void progress_draw(struct progress *p, int final)
{
    uint64_t now = mono_ns();
    if (!p->on || (!final && now - p->last < 100000000ull))
        return;
    p->last = now;
    double share = p->total ? (double)p->done / (double)p->total
                 : p->bytes_total ? (double)p->bytes / (double)p->bytes_total : -1;
    double secs = (double)(now - p->t0) / 1e9;
    char bar[32];
    int fill = share >= 0 ? (int)(share * 30 + 0.5) : 0;
    for (int i = 0; i < 30; i++)
        bar[i] = share < 0 ? '?' : i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\rimport [%s] %" PRIu64 " vectors", bar, p->done);
    if (p->total)
        fprintf(stderr, " of %" PRIu64, p->total);
    if (share >= 0)
        fprintf(stderr, " %3.0f%%", share * 100);
    fprintf(stderr, "  %.0f/s   ", secs > 0 ? (double)p->done / secs : 0.0);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* A batch of vectors on its way to spl_vec_set_many. */
struct vbatch {
    cli_ctx *c;
    uint32_t dim, cap, n;
    float *vecs;          /* cap x dim */
    char **keys;          /* cap, malloc'd */
    unsigned long *where; /* cap: line (JSON Lines) or vector number (raw), for messages */
    const char *unit;     /* "line" or "vector" */
    uint64_t stored;
    struct progress prog;
};

static int vbatch_init(cli_ctx *c, struct vbatch *b, uint32_t dim, uint32_t cap, const char *unit)
{
    memset(b, 0, sizeof *b);
    b->c = c;
    b->dim = dim;
    b->cap = cap;
    b->unit = unit;
    b->vecs = malloc((size_t)cap * dim * sizeof *b->vecs);
    b->keys = calloc(cap, sizeof *b->keys);
    b->where = calloc(cap, sizeof *b->where);
    if (!b->vecs || !b->keys || !b->where)
        return cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
    return CLI_OK;
}

static void vbatch_free(struct vbatch *b)
{
    for (uint32_t i = 0; i < b->n; i++)
        free(b->keys[i]);
    free(b->vecs);
    free(b->keys);
    free(b->where);
}

/* Store the batch.  CLI_OK, or the exit code of the first vector that
 * failed (reported with its line or number; those before it are in). */
static int vbatch_flush(struct vbatch *b)
{
    if (!b->n)
        return CLI_OK;
    uint32_t done = 0;
    int rc = spl_vec_set_many(b->c->s, (const char *const *)b->keys, b->vecs, b->n, b->dim,
                              b->c->timeout_ms * 1000u, &done);
    b->stored += done;
    b->prog.done = b->stored;
    int code = CLI_OK;
    if (rc < 0) {
        char what[96];
        snprintf(what, sizeof what, "%s %lu (key %.40s)", b->unit, b->where[done], b->keys[done]);
        code = cli_fail_spl(b->c, rc, what);
    }
    for (uint32_t i = 0; i < b->n; i++)
        free(b->keys[i]);
    b->n = 0;
    progress_draw(&b->prog, 0);
    return code;
}

/* ------------------------------------------------------ import --vectors
 *
 * The text is read in chunks of whole lines (JL_CHUNK bytes or more: a
 * line is never split); parser threads turn each chunk into vectors and
 * keys, and the main thread reads the next chunks meanwhile and stores the
 * parsed ones in their order, in batches (spl_vec_set_many).  A chunk's
 * keys point into its text (NUL-terminated in place), so a line costs no
 * allocation.  A line of the usual shape, {"key":"ascii","vector":[...]}
 * in either order, is checked by hand; any other line (more fields,
 * escapes, non-ASCII keys, key_base64, errors) has its vector replaced by
 * 0 in place and goes through jansson, as a whole line would.  A bad line
 * stops the import: the lines before it are stored, then its error is
 * reported with its line number.  Numbers read as strtof reads them
 * (cli_num_scan). */

#define JL_CHUNK (1u << 20)
#define JL_PAD 64 /* zero bytes after a chunk's text: the 8-byte reads stay inside */

enum { JL_FREE, JL_FILLED, JL_PARSING, JL_PARSED };

struct jl_chunk {
    int state;             /* JL_*, under the pipeline's lock while threads run */
    /* in */
    char *text;            /* len bytes of whole lines, then JL_PAD zero bytes */
    size_t len, cap;       /* cap: bytes allocated (JL_PAD included) */
    int first;             /* the input's first chunk: an export's header may open it */
    /* out */
    uint32_t n, vcap;      /* vectors parsed (those before the bad line, if any); room */
    float *vecs;           /* vcap x dim */
    const char **keys;     /* vcap: into text, or into owned */
    unsigned long *where;  /* vcap: the line (0-based, in this chunk) of each vector */
    char **owned;          /* keys decoded by jansson, freed with the chunk */
    uint32_t nowned, ocap;
    unsigned long lines;   /* lines in text */
    int code;              /* CLI_OK, or the exit code of line err_line (0-based) */
    const char *err_name;
    unsigned long err_line;
    char err_msg[256];     /* the message after "line N: " */
};

struct jl_pipe {
    uint32_t dim;
    struct jl_chunk *chunks;
    unsigned nchunks, nthreads;
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t filled, parsed;
    int quit;
};

static int jl_err(struct jl_chunk *k, unsigned long ln, int code, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int jl_err(struct jl_chunk *k, unsigned long ln, int code, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->err_msg, sizeof k->err_msg, fmt, ap);
    va_end(ap);
    k->code = code;
    k->err_name = name;
    k->err_line = ln;
    return -1;
}

static inline char *jl_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r')
        p++;
    return (char *)p;
}

/* A JSON string of printable ASCII without escapes at p ('"'); the
 * closing quote, or NULL. */
static inline char *jl_plain_string(char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p != '"') {
        if ((unsigned char)(*p - 0x20) > 0x7e - 0x20 || *p == '\\')
            return NULL;
        p++;
    }
    return p;
}

/* The key of a line of the usual shape: one object holding only "key" (a
 * plain string) and "vector" (the array at [v, ve), already read), then
 * blanks up to le.  The key is NUL-terminated in place; NULL: not that
 * shape (the line may still be good: jansson decides). */
static char *jl_fast_key(char *line, const char *v, const char *ve, const char *le)
{
    char *p = jl_ws(line), *key = NULL, *kend = NULL;
    int have_vec = 0;
    if (*p++ != '{')
        return NULL;
    for (;;) {
        char *name = jl_ws(p), *q = jl_plain_string(name);
        if (!q)
            return NULL;
        size_t nlen = (size_t)(q - name - 1);
        p = jl_ws(q + 1);
        if (*p++ != ':')
            return NULL;
        p = jl_ws(p);
        if (nlen == 6 && memcmp(name + 1, "vector", 6) == 0 && p == v && !have_vec) {
            p = (char *)ve;
            have_vec = 1;
        } else if (nlen == 3 && memcmp(name + 1, "key", 3) == 0 && !key && (kend = jl_plain_string(p))) {
            key = p + 1;
            p = kend + 1;
        } else {
            return NULL;
        }
        p = jl_ws(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p++ != '}')
            return NULL;
        break;
    }
    if (jl_ws(p) != le || !key || !have_vec)
        return NULL;
    *kend = 0;
    return key;
}

static int grow_owned(struct jl_chunk *k);

/* Any other line: the vector at [v, ve) becomes a 0 (and blanks) in
 * place, and jansson reads the line.  The key, or NULL (k->code set). */
static const char *jl_slow_key(struct jl_chunk *k, char *line, char *v, const char *ve, const char *le,
                               unsigned long ln)
{
    if (memchr(line, 0, (size_t)(le - line))) {
        jl_err(k, ln, CLI_USAGE, "BAD_JSON", "contains a NUL byte");
        return NULL;
    }
    v[0] = '0';
    memset(v + 1, ' ', (size_t)(ve - v - 1));
    json_error_t err;
    json_t *o = json_loadb(line, (size_t)(le - line), JSON_REJECT_DUPLICATES, &err);
    char *key = NULL;
    size_t klen = 0;
    if (!json_is_object(o))
        jl_err(k, ln, CLI_USAGE, "BAD_JSON", "%s", o ? "not a JSON object" : err.text);
    else if (field_bytes(o, "key", "key_base64", &key, &klen) != 0 || strlen(key) != klen)
        jl_err(k, ln, CLI_USAGE, "BAD_INPUT", "missing or bad key");
    json_decref(o);
    if (k->code != CLI_OK || (k->nowned == k->ocap && !grow_owned(k))) {
        if (k->code == CLI_OK)
            jl_err(k, ln, CLI_STORE, "SPL_ENOMEM", "out of memory");
        free(key);
        return NULL;
    }
    return k->owned[k->nowned++] = key;
}

static int grow_owned(struct jl_chunk *k)
{
    uint32_t cap = k->ocap ? 2 * k->ocap : 16;
    char **o = realloc(k->owned, cap * sizeof *o);
    if (!o)
        return 0;
    k->owned = o;
    k->ocap = cap;
    return 1;
}

static int jl_grow_vecs(struct jl_chunk *k, uint32_t dim)
{
    uint32_t cap = k->vcap ? 2 * k->vcap : 128;
    float *v = realloc(k->vecs, (size_t)cap * dim * sizeof *v);
    if (v)
        k->vecs = v;
    const char **ks = realloc(k->keys, cap * sizeof *ks);
    if (ks)
        k->keys = ks;
    unsigned long *w = realloc(k->where, cap * sizeof *w);
    if (w)
        k->where = w;
    if (!v || !ks || !w)
        return 0;
    k->vcap = cap;
    return 1;
}

/* Parse a chunk's lines into its vectors and keys, up to the first bad
 * line.  Runs in a parser thread (or the main thread): touches only k. */
static void jl_parse(struct jl_chunk *k, uint32_t dim)
{
    char *p = k->text, *end = k->text + k->len;
    const char *lim = end + JL_PAD;
    k->n = 0;
    k->lines = 0;
    k->code = CLI_OK;
    while (p < end) {
        char *le = memchr(p, '\n', (size_t)(end - p));
        if (!le)
            le = end; /* the input's last line, without a newline */
        *le = 0;
        unsigned long ln = k->lines++;
        char *line = p;
        p = le + 1;
        if (jl_ws(line) == le)
            continue; /* a blank line */
        if (k->n == k->vcap && !jl_grow_vecs(k, dim)) {
            jl_err(k, ln, CLI_STORE, "SPL_ENOMEM", "out of memory");
            return;
        }
        char *v = (char *)cli_json_find_array(line, "vector");
        if (!v) {
            if (k->first && ln == 0 && strstr(line, "\"splinter_export\""))
                continue; /* an export's header line */
            if (memchr(line, 0, (size_t)(le - line)))
                jl_err(k, ln, CLI_USAGE, "BAD_JSON", "contains a NUL byte");
            else
                jl_err(k, ln, CLI_USAGE, "BAD_INPUT", "no \"vector\" array");
            return;
        }
        const char *ve = v;
        uint32_t count = 0;
        int r = cli_vec_scan(&ve, lim, dim, k->vecs + (size_t)k->n * dim, &count);
        if (r != 0 && memchr(line, 0, (size_t)(le - line))) {
            jl_err(k, ln, CLI_USAGE, "BAD_JSON", "contains a NUL byte");
            return;
        }
        if (r == -1) {
            jl_err(k, ln, CLI_USAGE, "BAD_JSON", "the vector must be an array of numbers");
            return;
        }
        if (r == -2) {
            jl_err(k, ln, CLI_USAGE, "SPL_EDIM", "the vector has %u elements, the store's vec_dim is %u (SPL_EDIM)",
                   count, dim);
            return;
        }
        if (r == -3) {
            jl_err(k, ln, CLI_USAGE, "SPL_ENAN", "the vector: element %u is not a finite float32 (SPL_ENAN)", count);
            return;
        }
        const char *key = jl_fast_key(line, v, ve, le);
        if (!key && !(key = jl_slow_key(k, line, v, ve, le, ln)))
            return;
        k->keys[k->n] = key;
        k->where[k->n] = ln;
        k->n++;
    }
}

static void *jl_thread(void *arg)
{
    struct jl_pipe *jp = arg;
    pthread_mutex_lock(&jp->mu);
    for (;;) {
        struct jl_chunk *k = NULL;
        if (jp->quit)
            break;
        for (unsigned i = 0; i < jp->nchunks && !k; i++)
            if (jp->chunks[i].state == JL_FILLED)
                k = &jp->chunks[i];
        if (!k) {
            pthread_cond_wait(&jp->filled, &jp->mu);
            continue;
        }
        k->state = JL_PARSING;
        pthread_mutex_unlock(&jp->mu);
        jl_parse(k, jp->dim);
        pthread_mutex_lock(&jp->mu);
        k->state = JL_PARSED;
        pthread_cond_broadcast(&jp->parsed);
    }
    pthread_mutex_unlock(&jp->mu);
    return NULL;
}

/* The reader: the next chunk of whole lines from fd into k, the partial
 * line at its end kept in *carry for the next one.  0, or an errno. */
static int jl_fill(struct jl_chunk *k, int fd, char **carry, size_t *carry_len, size_t *carry_cap, int *eof)
{
    size_t need = (*carry_len + 4096 > JL_CHUNK ? *carry_len + 4096 : JL_CHUNK) + JL_PAD;
    if (k->cap < need) {
        char *t = realloc(k->text, need);
        if (!t)
            return ENOMEM;
        k->text = t;
        k->cap = need;
    }
    if (*carry_len) /* (memcpy from NULL is undefined even for 0 bytes) */
        memcpy(k->text, *carry, *carry_len);
    k->len = *carry_len;
    size_t scanned = 0; /* no newline before this */
    char *nl = NULL;
    while (!*eof) {
        if (k->len >= JL_CHUNK) {
            if ((nl = memrchr(k->text + scanned, '\n', k->len - scanned)))
                break;
            scanned = k->len;
        }
        if (k->cap - JL_PAD - k->len < 4096) { /* a line longer than the chunk: more room */
            char *t = realloc(k->text, 2 * k->cap);
            if (!t)
                return ENOMEM;
            k->text = t;
            k->cap *= 2;
        }
        ssize_t got = read(fd, k->text + k->len, k->cap - JL_PAD - k->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return errno;
        if (got == 0)
            *eof = 1;
        k->len += (size_t)got;
    }
    size_t keep = *eof ? k->len : (size_t)(nl - k->text) + 1, rest = k->len - keep;
    if (rest > *carry_cap) {
        char *cb = realloc(*carry, rest);
        if (!cb)
            return ENOMEM;
        *carry = cb;
        *carry_cap = rest;
    }
    if (rest)
        memcpy(*carry, k->text + keep, rest);
    *carry_len = rest;
    k->len = keep;
    memset(k->text + k->len, 0, JL_PAD);
    return 0;
}

static void jl_chunk_reset(struct jl_chunk *k)
{
    for (uint32_t i = 0; i < k->nowned; i++)
        free(k->owned[i]);
    k->nowned = 0;
}

/* Store a parsed chunk in batches; then its bad line's error, if any.
 * line0: the number of lines before the chunk. */
static int jl_store(cli_ctx *c, struct jl_chunk *k, uint32_t dim, uint32_t batch, unsigned long line0,
                    struct progress *prog, uint64_t *stored)
{
    for (uint32_t i = 0; i < k->n; i += batch) {
        uint32_t m = k->n - i < batch ? k->n - i : batch, done = 0;
        int rc = spl_vec_set_many(c->s, k->keys + i, k->vecs + (size_t)i * dim, m, dim, c->timeout_ms * 1000u,
                                  &done);
        *stored += done;
        prog->done = *stored;
        progress_draw(prog, 0);
        if (rc < 0) {
            char what[96];
            snprintf(what, sizeof what, "line %lu (key %.40s)", line0 + k->where[i + done] + 1, k->keys[i + done]);
            return cli_fail_spl(c, rc, what);
        }
    }
    if (k->code != CLI_OK)
        return cli_fail(c, k->code, k->err_name, "line %lu: %s", line0 + k->err_line + 1, k->err_msg);
    return CLI_OK;
}

/* The CPUs this process may run on, at most 8: the default of --threads. */
static unsigned jl_default_threads(void)
{
    cpu_set_t set;
    int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    return n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
}

static int import_vectors_jsonl(cli_ctx *c, FILE *in, uint32_t dim, uint32_t batch, unsigned threads)
{
    struct jl_pipe jp = {.dim = dim, .nthreads = threads};
    struct progress prog;
    struct stat st;
    int fd = fileno(in), code = CLI_OK, eof = 0;
    char *carry = NULL;
    size_t carry_len = 0, carry_cap = 0;
    uint64_t stored = 0, seq_read = 0, seq_done = 0;
    unsigned long line0 = 0;
    progress_start(c, &prog, 0, fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0);
    json_object_seed(0); /* jansson's one global, set before the threads use it */
    jp.nchunks = threads ? 2 * threads + 2 : 1;
    jp.chunks = calloc(jp.nchunks, sizeof *jp.chunks);
    jp.tids = calloc(threads ? threads : 1, sizeof *jp.tids);
    if (!jp.chunks || !jp.tids) {
        free(jp.chunks);
        free(jp.tids);
        return cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
    }
    pthread_mutex_init(&jp.mu, NULL);
    pthread_cond_init(&jp.filled, NULL);
    pthread_cond_init(&jp.parsed, NULL);
    unsigned started = 0;
    for (; started < threads; started++)
        if (pthread_create(&jp.tids[started], NULL, jl_thread, &jp) != 0)
            break;
    if (threads && !started) /* no thread at all: parse here */
        jp.nthreads = threads = 0;
    while (code == CLI_OK) {
        /* read ahead while there is a free chunk (one at a time without threads) */
        while (!eof && seq_read - seq_done < jp.nchunks) {
            struct jl_chunk *k = &jp.chunks[seq_read % jp.nchunks];
            jl_chunk_reset(k);
            int err = jl_fill(k, fd, &carry, &carry_len, &carry_cap, &eof);
            if (err) {
                code = err == ENOMEM ? cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory")
                                     : cli_fail(c, CLI_USAGE, "EIO", "cannot read the input: %s", strerror(err));
                break;
            }
            if (!k->len)
                break;
            k->first = seq_read == 0;
            prog.bytes += k->len;
            seq_read++;
            if (!threads) {
                jl_parse(k, dim);
                k->state = JL_PARSED;
                break;
            }
            pthread_mutex_lock(&jp.mu);
            k->state = JL_FILLED;
            pthread_cond_signal(&jp.filled);
            pthread_mutex_unlock(&jp.mu);
        }
        if (code != CLI_OK || seq_done == seq_read)
            break;
        struct jl_chunk *k = &jp.chunks[seq_done % jp.nchunks];
        if (threads) {
            pthread_mutex_lock(&jp.mu);
            while (k->state != JL_PARSED)
                pthread_cond_wait(&jp.parsed, &jp.mu);
            pthread_mutex_unlock(&jp.mu);
        }
        code = jl_store(c, k, dim, batch, line0, &prog, &stored);
        line0 += k->lines;
        k->state = JL_FREE;
        seq_done++;
    }
    pthread_mutex_lock(&jp.mu);
    jp.quit = 1;
    pthread_cond_broadcast(&jp.filled);
    pthread_mutex_unlock(&jp.mu);
    for (unsigned i = 0; i < started; i++)
        pthread_join(jp.tids[i], NULL);
    for (unsigned i = 0; i < jp.nchunks; i++) {
        struct jl_chunk *k = &jp.chunks[i];
        jl_chunk_reset(k);
        free(k->text);
        free(k->vecs);
        free(k->keys);
        free(k->where);
        free(k->owned);
    }
    free(jp.chunks);
    free(jp.tids);
    free(carry);
    pthread_mutex_destroy(&jp.mu);
    pthread_cond_destroy(&jp.filled);
    pthread_cond_destroy(&jp.parsed);
    progress_draw(&prog, 1);
    if (code != CLI_OK)
        return code;
    if (c->json)
        cli_json_out(c, json_pack("{s:b, s:I}", "ok", 1, "imported", (json_int_t)stored));
    else
        cli_printf(c, "imported %" PRIu64 " vectors\n", stored);
    return CLI_OK;
}

/* --raw FILE --keys FILE: the key list first (its count is the vector
 * count), then the vectors in batches straight into the batch buffer. */
static int import_vectors_raw(cli_ctx *c, const char *raw_path, const char *keys_path, uint32_t dim,
                              uint32_t batch)
{
    FILE *kf, *rf;
    int code = cli_stream_open(c, keys_path, 0, &kf);
    if (code != CLI_OK)
        return code;
    char **keys = NULL, *line = NULL;
    size_t kcap = 0, lcap = 0, nkeys = 0;
    ssize_t got;
    while ((got = getline(&line, &lcap, kf)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        if (nkeys == kcap) {
            kcap = kcap ? 2 * kcap : 4096;
            char **k2 = realloc(keys, kcap * sizeof *keys);
            if (!k2) {
                code = cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
                break;
            }
            keys = k2;
        }
        if (got == 0 || strlen(line) != (size_t)got) {
            code = cli_fail(c, CLI_USAGE, "BAD_INPUT", "%s line %zu: an empty key or a NUL in it",
                            keys_path, nkeys + 1);
            break;
        }
        if (!(keys[nkeys++] = strdup(line))) {
            nkeys--;
            code = cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
            break;
        }
    }
    free(line);
    cli_stream_close(kf);
    rf = NULL;
    if (code == CLI_OK)
        code = cli_stream_open(c, raw_path, 0, &rf);
    struct stat st;
    size_t vbytes = (size_t)dim * sizeof(float);
    if (code == CLI_OK && fstat(fileno(rf), &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size != (uint64_t)nkeys * vbytes)
        code = cli_fail(c, CLI_USAGE, "BAD_INPUT",
                        "%s holds %" PRIu64 " bytes: %zu keys x %u floats x 4 would be %" PRIu64,
                        raw_path, (uint64_t)st.st_size, nkeys, dim, (uint64_t)nkeys * vbytes);
    struct vbatch b;
    if (code == CLI_OK)
        code = vbatch_init(c, &b, dim, batch, "vector");
    else
        memset(&b, 0, sizeof b);
    progress_start(c, &b.prog, nkeys, 0);
    size_t next = 0;
    while (code == CLI_OK && next < nkeys) {
        uint32_t want = nkeys - next < batch ? (uint32_t)(nkeys - next) : batch;
        size_t rd = fread(b.vecs, vbytes, want, rf);
        int short_read = rd != want, err = ferror(rf) ? errno : 0;
        want = (uint32_t)rd; /* what was read goes in, then the shortfall is reported */
        for (uint32_t i = 0; i < want; i++) {
            b.keys[i] = keys[next + i];
            keys[next + i] = NULL; /* the batch frees it */
            b.where[i] = next + i + 1;
        }
        b.n = want;
        next += want;
        code = vbatch_flush(&b);
        if (code == CLI_OK && short_read)
            code = cli_fail(c, CLI_USAGE, "BAD_INPUT", "%s: %s after %zu vectors (%zu keys)", raw_path,
                            err ? strerror(err) : "ends", next, nkeys);
    }
    char extra;
    if (code == CLI_OK && rf && fread(&extra, 1, 1, rf) == 1)
        code = cli_fail(c, CLI_USAGE, "BAD_INPUT", "%s holds more than %zu vectors (one per key)",
                        raw_path, nkeys);
    if (b.vecs)
        progress_draw(&b.prog, 1);
    uint64_t n = b.stored;
    vbatch_free(&b);
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(keys);
    if (rf)
        cli_stream_close(rf);
    if (code != CLI_OK)
        return code;
    if (c->json)
        cli_json_out(c, json_pack("{s:b, s:I}", "ok", 1, "imported", (json_int_t)n));
    else
        cli_printf(c, "imported %" PRIu64 " vectors\n", n);
    return CLI_OK;
}

int cmd_import(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"vectors", no_argument, 0, 'v'},
                                       {"raw", required_argument, 0, 'r'},
                                       {"keys", required_argument, 0, 'k'},
                                       {"batch", required_argument, 0, 'b'},
                                       {"threads", required_argument, 0, 't'},
                                       {0, 0, 0, 0}};
    const char *raw = NULL, *keys = NULL;
    int vectors = 0, ch;
    uint64_t batch = 1024, threads = jl_default_threads();
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'v': vectors = 1; break;
        case 'r': raw = optarg; break;
        case 'k': keys = optarg; break;
        case 'b':
            if (cli_parse_u64(optarg, &batch) != 0 || batch == 0 || batch > 1000000)
                return cli_usage(c, "bad --batch '%s' (1..1000000)", optarg);
            break;
        case 't':
            if (cli_parse_u64(optarg, &threads) != 0 || threads > 64)
                return cli_usage(c, "bad --threads '%s' (0..64)", optarg);
            break;
        default: return cli_usage(c, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!raw != !keys)
        return cli_usage(c, "import --raw FILE --keys FILE (both)");
    if ((raw && (vectors || optind < argc)) || argc - optind > 1)
        return cli_usage(c, "import [FILE] | import --vectors [FILE] | import --raw FILE --keys FILE");
    if (vectors || raw) {
        uint32_t dim = cli_vec_dim(c);
        if (!dim)
            return cli_fail(c, CLI_USAGE, "SPL_ENOTSUP",
                            "this store holds no vectors (vec_dim 0) (SPL_ENOTSUP)");
        if (raw)
            return import_vectors_raw(c, raw, keys, dim, (uint32_t)batch);
    }
    const char *path = optind < argc ? argv[optind] : "-";
    FILE *in;
    int code = cli_stream_open(c, path, 0, &in);
    if (code != CLI_OK)
        return code;
    if (vectors) {
        code = import_vectors_jsonl(c, in, cli_vec_dim(c), (uint32_t)batch, (unsigned)threads);
        cli_stream_close(in);
        return code;
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned long lineno = 0;
    uint64_t n = 0;
    ssize_t len;
    uint32_t dim = cli_vec_dim(c);
    float *vec = malloc((dim ? dim : 1) * sizeof *vec);
    if (!vec)
        code = cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
    while (code == CLI_OK && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        /* the string functions below would stop at a NUL: a line holding
         * one would be cut short or taken for a blank one */
        if (memchr(line, 0, (size_t)len)) {
            code = cli_fail(c, CLI_USAGE, "BAD_JSON", "line %lu: contains a NUL byte", lineno);
            break;
        }
        if (line[strspn(line, " \t\r\n")] == 0)
            continue;
        /* the vector's numbers read as import --vectors reads them
         * (cli_vec_scan), then the array is a 0 for jansson */
        char *v = dim ? (char *)cli_json_find_array(line, "vector") : NULL;
        if (v) {
            const char *ve = v;
            uint32_t count = 0;
            int r = cli_vec_scan(&ve, line + len + 1, dim, vec, &count);
            if (r == -1)
                code = cli_fail(c, CLI_USAGE, "BAD_JSON", "line %lu: the vector must be a JSON array of numbers",
                                lineno);
            else if (r == -2)
                code = cli_fail(c, CLI_USAGE, "SPL_EDIM",
                                "line %lu: the vector has %u elements, the store's vec_dim is %u (SPL_EDIM)",
                                lineno, count, dim);
            else if (r == -3)
                code = cli_fail(c, CLI_USAGE, "SPL_ENAN",
                                "line %lu: the vector: element %u is not a finite float32 (SPL_ENAN)", lineno,
                                count);
            if (code != CLI_OK)
                break;
            v[0] = '0';
            memset(v + 1, ' ', (size_t)(ve - v - 1));
        }
        json_error_t err;
        json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &err);
        if (!json_is_object(o))
            code = cli_fail(c, CLI_USAGE, "BAD_JSON", "line %lu: %s", lineno,
                            o ? "not a JSON object" : err.text);
        else if (!json_object_get(o, "splinter_export") &&
                 (code = import_one(c, o, lineno, dim, v ? vec : NULL)) == CLI_OK)
            n++;
        json_decref(o);
    }
    free(line);
    free(vec);
    cli_stream_close(in);
    if (code != CLI_OK)
        return code;
    if (c->json)
        cli_json_out(c, json_pack("{s:b, s:I}", "ok", 1, "imported", (json_int_t)n));
    else
        cli_printf(c, "imported %" PRIu64 " keys\n", n);
    return CLI_OK;
}
