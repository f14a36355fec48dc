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
 * array are parsed without building JSON values (cli_vec_scan), the rest of
 * the line by jansson.  --raw FILE --keys FILE reads little-endian float32
 * vectors, vec_dim each, one key per line of the key list.  On a terminal a
 * progress bar goes to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

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
        CLI_RETRY(st->c, rc, spl_vec_get(st->c->s, e->key, st->vec, st->dim, NULL));
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

/* One JSON line into the store.  Returns CLI_OK or an exit code (reported). */
static int import_one(cli_ctx *c, json_t *o, unsigned long line)
{
    char *key = NULL, *val = NULL;
    float *vec = NULL;
    size_t klen, vlen = 0;
    uint32_t dim = cli_vec_dim(c);
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
        if (!(vec = malloc(dim * sizeof *vec))) {
            code = cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
            goto out;
        }
        if ((code = cli_vec_from_json(c, vj, dim, vec, what)) != CLI_OK)
            goto out;
    }
    CLI_RETRY(c, rc, spl_set(c->s, key, val ? val : "", vlen));
    if (rc == 0)
        CLI_RETRY(c, rc, spl_type_set(c->s, key, (spl_type)type));
    if (rc == 0)
        CLI_RETRY(c, rc, spl_labels_clear(c->s, key, ~labels));
    if (rc == 0 && labels)
        CLI_RETRY(c, rc, spl_labels_set(c->s, key, labels));
    if (rc == 0)
        CLI_RETRY(c, rc, spl_flags_set(c->s, key, fl ? (uint8_t)json_integer_value(fl) : 0));
    if (rc == 0 && vec)
        CLI_RETRY(c, rc, spl_vec_set(c->s, key, vec, dim));
    else if (rc == 0 && dim) {
        CLI_RETRY(c, rc, spl_vec_clear(c->s, key));
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

/* A JSON number at *pp (the JSON grammar: no '+', no leading zeros, no
 * nan/inf) as float, the way jansson reads it (to double, then float), so
 * that --vectors and the JSON Lines import agree to the bit.  Digits that
 * fit 2^53 with a power of ten within 1e22 take Clinger's exact path (one
 * correctly rounded operation on exact operands); anything else goes to
 * strtod.  Returns 0 and advances *pp, or -1. */
static int scan_number(const char **pp, float *out)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = *pp, *start = p;
    int neg = *p == '-';
    p += neg;
    if (*p < '0' || *p > '9')
        return -1;
    uint64_t m = 0;
    int digits = 0, e10 = 0;
    if (*p == '0') {
        p++;
    } else {
        for (; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 19)
                m = m * 10 + (uint64_t)(*p - '0');
            else
                e10++; /* dropped digit: too many for the fast path anyway */
    }
    int real = 0; /* a fraction or an exponent: jansson's real, else its integer */
    if (*p == '.') {
        real = 1;
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (m == 0 && *p == '0') {
                e10--; /* leading zeros of a fraction cost no digit */
                continue;
            }
            if (digits < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                e10--;
            }
            digits++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        real = 1;
        p++;
        int eneg = *p == '-', ev = 0;
        p += *p == '-' || *p == '+';
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++)
            ev = ev < 10000 ? ev * 10 + (*p - '0') : ev;
        e10 += eneg ? -ev : ev;
    }
    if (!real && m == 0)
        neg = 0; /* an integer zero: jansson's json_integer has no sign */
    double d;
    if (digits <= 19 && m < (1ull << 53) && e10 >= -22 && e10 <= 22) {
        d = (double)m;
        d = e10 >= 0 ? d * p10[e10] : d / p10[-e10];
    } else {
        char buf[400];
        size_t len = (size_t)(p - start);
        if (len >= sizeof buf)
            return -1;
        memcpy(buf, start, len);
        buf[len] = 0;
        d = strtod(buf, NULL);
        neg = 0; /* strtod read the sign */
    }
    *out = (float)(neg ? -d : d);
    *pp = p;
    return 0;
}

static inline const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

/* The array of numbers at *pp ('[' ... ']') into out[dim].  0, or -1 (bad
 * syntax), -2 (not dim elements: *count says how many), -3 (element
 * *count is not a finite float32). */
static int scan_vector(const char **pp, uint32_t dim, float *out, uint32_t *count)
{
    const char *p = *pp;
    uint32_t n = 0;
    if (*p++ != '[')
        return -1;
    p = skip_ws(p);
    if (*p == ']') {
        *count = 0;
        *pp = p + 1;
        return dim ? -2 : 0;
    }
    for (;;) {
        float f;
        p = skip_ws(p);
        if (scan_number(&p, &f) != 0)
            return -1;
        if (n < dim) {
            if (!isfinite(f)) {
                *count = n;
                return -3;
            }
            out[n] = f;
        }
        n++;
        p = skip_ws(p);
        if (*p == ']')
            break;
        if (*p++ != ',')
            return -1;
    }
    *count = n;
    *pp = p + 1;
    return n == dim ? 0 : -2;
}

/* Where the value of the top-level member "vector" of the JSON object in
 * line starts (its '['), and NULL if there is none: a scan that knows
 * strings and nesting, so "vector" inside a string or a deeper object is
 * not taken for it. */
static const char *find_vector(const char *line)
{
    int depth = 0;
    for (const char *p = line; *p; p++) {
        if (*p == '"') {
            const char *q = p + 1;
            while (*q && *q != '"')
                q += *q == '\\' && q[1] ? 2 : 1;
            if (!*q)
                return NULL;
            if (depth == 1 && q - p == 7 && memcmp(p + 1, "vector", 6) == 0) {
                const char *r = q + 1 + strspn(q + 1, " \t\r\n");
                if (*r == ':') {
                    r += 1 + strspn(r + 1, " \t\r\n");
                    if (*r == '[')
                        return r;
                }
            }
            p = q;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
        }
    }
    return NULL;
}

/* A bad line of import --vectors: the lines before it are stored first
 * (as by import; if that fails, its error is the first and is the one
 * reported), then the line's own error. */
static int bad_line(struct vbatch *b, int code, const char *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad_line(struct vbatch *b, int code, const char *err, const char *fmt, ...)
{
    int fc = vbatch_flush(b);
    if (fc != CLI_OK)
        return fc;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cli_fail(b->c, code, err, "%s", msg);
}

/* One line of import --vectors into the batch (stored when it is full).
 * CLI_OK or an exit code. */
static int vectors_line_parse(struct vbatch *b, char *line, unsigned long lineno);
static int vectors_line(struct vbatch *b, char *line, unsigned long lineno)
{
    int code = vectors_line_parse(b, line, lineno);
    if (code == CLI_OK && b->n == b->cap)
        return vbatch_flush(b);
    return code;
}

static int vectors_line_parse(struct vbatch *b, char *line, unsigned long lineno)
{
    const char *v = find_vector(line);
    float *dst = b->vecs + (size_t)b->n * b->dim;
    uint32_t count = 0;
    if (!v && lineno == 1 && strstr(line, "\"splinter_export\""))
        return CLI_OK; /* an export's header line */
    if (!v)
        return bad_line(b, CLI_USAGE, "BAD_INPUT", "line %lu: no \"vector\" array", lineno);
    const char *end = v;
    int r = scan_vector(&end, b->dim, dst, &count);
    if (r == -1)
        return bad_line(b, CLI_USAGE, "BAD_JSON", "line %lu: the vector must be an array of numbers", lineno);
    if (r == -2)
        return bad_line(b, CLI_USAGE, "SPL_EDIM",
                        "line %lu: the vector has %u elements, the store's vec_dim is %u (SPL_EDIM)",
                        lineno, count, b->dim);
    if (r == -3)
        return bad_line(b, CLI_USAGE, "SPL_ENAN",
                        "line %lu: the vector: element %u is not a finite float32 (SPL_ENAN)", lineno, count);
    /* the rest of the line, with the array replaced by null, for jansson */
    size_t pre = (size_t)(v - line), len = strlen(line);
    char *rest = malloc(len + 8);
    if (!rest)
        return bad_line(b, CLI_STORE, "SPL_ENOMEM", "out of memory");
    memcpy(rest, line, pre);
    memcpy(rest + pre, "null", 4);
    strcpy(rest + pre + 4, end);
    json_error_t err;
    json_t *o = json_loads(rest, JSON_REJECT_DUPLICATES, &err);
    free(rest);
    char *key = NULL;
    size_t klen = 0;
    int code = CLI_OK;
    if (!json_is_object(o))
        code = bad_line(b, CLI_USAGE, "BAD_JSON", "line %lu: %s", lineno, o ? "not a JSON object" : err.text);
    else if (field_bytes(o, "key", "key_base64", &key, &klen) != 0 || strlen(key) != klen)
        code = bad_line(b, CLI_USAGE, "BAD_INPUT", "line %lu: missing or bad key", lineno);
    json_decref(o);
    if (code != CLI_OK) {
        free(key);
        return code;
    }
    b->keys[b->n] = key;
    b->where[b->n] = lineno;
    b->n++;
    return CLI_OK;
}

static int import_vectors_jsonl(cli_ctx *c, FILE *in, uint32_t dim, uint32_t batch)
{
    struct vbatch b;
    int code = vbatch_init(c, &b, dim, batch, "line");
    struct stat st;
    progress_start(c, &b.prog, 0, fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    unsigned long lineno = 0;
    while (code == CLI_OK && (got = getline(&line, &cap, in)) >= 0) {
        lineno++;
        b.prog.bytes += (uint64_t)got;
        if (line[strspn(line, " \t\r\n")] == 0)
            continue;
        code = vectors_line(&b, line, lineno);
    }
    free(line);
    if (code == CLI_OK)
        code = vbatch_flush(&b);
    progress_draw(&b.prog, 1);
    uint64_t n = b.stored;
    vbatch_free(&b);
    if (code != CLI_OK)
        return code;
    if (c->json)
        cli_json_out(c, json_pack("{s:b, s:I}", "ok", 1, "imported", (json_int_t)n));
    else
        cli_printf(c, "imported %" PRIu64 " vectors\n", n);
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
                                       {0, 0, 0, 0}};
    const char *raw = NULL, *keys = NULL;
    int vectors = 0, ch;
    uint64_t batch = 1024;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'v': vectors = 1; break;
        case 'r': raw = optarg; break;
        case 'k': keys = optarg; break;
        case 'b':
            if (cli_parse_u64(optarg, &batch) != 0 || batch == 0 || batch > 1000000)
                return cli_usage(c, "bad --batch '%s' (1..1000000)", optarg);
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
        code = import_vectors_jsonl(c, in, cli_vec_dim(c), (uint32_t)batch);
        cli_stream_close(in);
        return code;
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned long lineno = 0;
    uint64_t n = 0;
    ssize_t len;
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
        json_error_t err;
        json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &err);
        if (!json_is_object(o))
            code = cli_fail(c, CLI_USAGE, "BAD_JSON", "line %lu: %s", lineno,
                            o ? "not a JSON object" : err.text);
        else if (!json_object_get(o, "splinter_export") && (code = import_one(c, o, lineno)) == CLI_OK)
            n++;
        json_decref(o);
    }
    free(line);
    cli_stream_close(in);
    if (code != CLI_OK)
        return code;
    if (c->json)
        cli_json_out(c, json_pack("{s:b, s:I}", "ok", 1, "imported", (json_int_t)n));
    else
        cli_printf(c, "imported %" PRIu64 " keys\n", n);
    return CLI_OK;
}
