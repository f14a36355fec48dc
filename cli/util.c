/*
 * util.c - splinterctl helpers shared by the commands: error reporting and
 * exit codes, output (escaping, JSON), values from arguments, stdin or
 * files, retries on contention, numbers, the labels file, base64.
 */
#include <ctype.h>
#include <math.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "vecscan.h"

/* ---------------------------------------------------------------- errors */

int cli_exit_of(int rc)
{
    switch (rc) {
    case SPL_OK: return CLI_OK;
    case SPL_ENOENT: return CLI_NOTFOUND;
    case SPL_EAGAIN: case SPL_ESTALE: return CLI_CONTENTION;
    case SPL_EKEYLEN: case SPL_E2BIG: case SPL_ETYPE: case SPL_EINVAL:
    case SPL_ENAME: case SPL_EFORMAT: case SPL_ENOBUFS: case SPL_EDIM: case SPL_ENAN:
    case SPL_ERANGE: case SPL_ENOTSUP: case SPL_ENODE: return CLI_USAGE;
    case SPL_EABI: case SPL_ENOSYM: case SPL_ELOAD: return CLI_USAGE; /* not a usable fragment */
    case SPL_ENOVEC: return CLI_NOTFOUND;
    default: return CLI_STORE;
    }
}

static int cli_vfail(cli_ctx *c, int code, const char *err_name, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (c->json) {
        json_t *m = json_string(msg);
        if (!m) { /* not UTF-8: escape it */
            char *e = NULL;
            size_t n = 0;
            FILE *f = open_memstream(&e, &n);
            if (f) {
                cli_put_escaped(f, msg, strlen(msg));
                fclose(f);
            }
            m = json_string(e ? e : "?");
            free(e);
        }
        json_t *j = json_pack("{s:b, s:s, s:o, s:i}", "ok", 0, "error", err_name,
                              "message", m, "exit", code);
        if (c->cmd)
            json_object_set_new(j, "command", json_string(c->cmd));
        json_dumpf(j, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        fflush(stdout);
        json_decref(j);
    } else {
        fprintf(stderr, "splinterctl%s%s: %s\n", c->cmd ? ": " : "", c->cmd ? c->cmd : "", msg);
    }
    return code;
}

int cli_fail(cli_ctx *c, int code, const char *err_name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vfail(c, code, err_name, fmt, ap);
    va_end(ap);
    return code;
}

int cli_fail_spl(cli_ctx *c, int rc, const char *what)
{
    return cli_fail(c, cli_exit_of(rc), spl_err_name(rc), "%s: %s (%s)", what,
                    spl_strerror(rc), spl_err_name(rc));
}

int cli_usage(cli_ctx *c, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cli_fail(c, CLI_USAGE, "USAGE", "%s (see 'splinterctl %s --help')", msg,
                    c->cmd ? c->cmd : "help");
}

/* ---------------------------------------------------------------- store */

int cli_open(cli_ctx *c)
{
    if (c->s)
        return CLI_OK;
    if (!c->store[0])
        return cli_fail(c, CLI_USAGE, "USAGE",
                        "no store: give --store NAME|PATH, set SPLINTER_STORE, or 'use' one");
    int rc = spl_open(&c->s, c->store, NULL);
    if (rc < 0) {
        c->s = NULL;
        /* every failure to open is a store error, SPL_ENOENT included */
        return cli_fail(c, CLI_STORE, spl_err_name(rc), "store '%s': %s (%s)", c->store,
                        spl_strerror(rc), spl_err_name(rc));
    }
    return CLI_OK;
}

void cli_close(cli_ctx *c)
{
    spl_close(c->s);
    c->s = NULL;
}

/* ---------------------------------------------------------------- output */

void cli_json_out(cli_ctx *c, json_t *j)
{
    if (!c->quiet && j) {
        json_dumpf(j, stdout, CLI_JSON_FLAGS);
        fputc('\n', stdout);
    }
    json_decref(j);
}

void cli_printf(cli_ctx *c, const char *fmt, ...)
{
    if (c->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char b = p[0];
    size_t len;
    uint32_t cp;
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf) { len = 2; cp = b & 0x1f; }
    else if (b >= 0xe0 && b <= 0xef) { len = 3; cp = b & 0x0f; }
    else if (b >= 0xf0 && b <= 0xf4) { len = 4; cp = b & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void cli_put_escaped(FILE *f, const void *v, size_t n)
{
    const unsigned char *p = v;
    for (size_t i = 0; i < n;) {
        unsigned char b = p[i];
        size_t k = utf8_seq(p + i, n - i);
        if (b == '\\') fputs("\\\\", f);
        else if (b == '\n') fputs("\\n", f);
        else if (b == '\t') fputs("\\t", f);
        else if (b == '\r') fputs("\\r", f);
        else if (k == 0 || b < 0x20 || b == 0x7f) fprintf(f, "\\x%02x", b);
        else { fwrite(p + i, 1, k, f); i += k; continue; }
        i++;
    }
}

void cli_json_put_value(json_t *o, const void *v, size_t n, int type)
{
    json_t *str = memchr(v, 0, n) ? NULL : json_stringn(v, n); /* NULL if not UTF-8 */
    if (str) {
        json_object_set_new(o, "value", str);
    } else {
        char *b = cli_b64_encode(v, n);
        json_object_set_new(o, "base64", json_string(b));
        free(b);
    }
    if (n == 8 && (type == SPL_T_INT64 || type == SPL_T_UINT64)) {
        int64_t x;
        memcpy(&x, v, 8);
        if (type == SPL_T_UINT64 && x < 0) /* beyond int64: keep it exact as text */
            json_object_set_new(o, "int", json_sprintf("%" PRIu64, (uint64_t)x));
        else
            json_object_set_new(o, "int", json_integer(x));
    }
}

/* ---------------------------------------------------------------- retries */

void cli_retry_start(cli_ctx *c, cli_retry *r)
{
    spl_retry_init(&r->w, cli_wait_us(c));
}

uint32_t cli_wait_us(const cli_ctx *c)
{
    return c->timeout_ms > UINT32_MAX / 1000 ? UINT32_MAX : c->timeout_ms * 1000;
}

int cli_retry_again(cli_ctx *c, cli_retry *r, const char *key, int write)
{
    return spl_retry_pause(c->s, key, write, &r->w) == 0;
}

/* ---------------------------------------------------------------- values */

int cli_read_value(cli_ctx *c, const char *arg, size_t max, char **out, size_t *len)
{
    FILE *f = NULL;
    const char *src = "argument";
    if (strcmp(arg, "-") == 0) {
        f = stdin;
        src = "stdin";
    } else if (arg[0] == '@') {
        f = fopen(arg + 1, "rb");
        if (!f)
            return cli_fail(c, CLI_USAGE, "EIO", "cannot read '%s': %s", arg + 1, strerror(errno));
        src = arg + 1;
    }
    size_t n = f ? 0 : strlen(arg);
    if (!f && n > max)
        return cli_fail(c, CLI_USAGE, "SPL_E2BIG", "value of %zu bytes exceeds the store's value size %zu (SPL_E2BIG)",
                        n, max);
    char *buf = malloc((f ? max + 1 : n) + 1);
    if (!buf) {
        if (f && f != stdin) fclose(f);
        return cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
    }
    if (f) {
        n = fread(buf, 1, max + 1, f); /* one byte more tells an oversized value */
        int err = ferror(f);
        if (f != stdin)
            fclose(f);
        if (err) {
            free(buf);
            return cli_fail(c, CLI_USAGE, "EIO", "cannot read %s", src);
        }
        if (n > max) {
            free(buf);
            return cli_fail(c, CLI_USAGE, "SPL_E2BIG", "value from %s exceeds the store's value size %zu (SPL_E2BIG)",
                            src, max);
        }
    } else {
        memcpy(buf, arg, n);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return CLI_OK;
}

int cli_stream_open(cli_ctx *c, const char *path, int write, FILE **f)
{
    if (strcmp(path, "-") == 0) {
        *f = write ? stdout : stdin;
        return CLI_OK;
    }
    *f = fopen(path, write ? "w" : "r");
    if (!*f)
        return cli_fail(c, CLI_USAGE, "EIO", "cannot %s '%s': %s", write ? "write" : "read",
                        path, strerror(errno));
    return CLI_OK;
}

int cli_stream_close(FILE *f)
{
    return f == stdin || f == stdout ? 0 : fclose(f);
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_int_text(const char *s, size_t n, int flags, uint64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    unsigned base = 10;
    if ((flags & CLI_NUM_HEX) && n - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        base = 16;
        i += 2;
    }
    if (i == n)
        return -1;
    uint64_t v = 0;
    int over = 0;
    for (; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        unsigned d = isdigit(ch) ? (unsigned)(ch - '0')
                     : (base == 16 && isxdigit(ch)) ? (unsigned)(tolower(ch) - 'a' + 10) : 99;
        if (d >= base)
            return -1;
        if (v > (UINT64_MAX - d) / base)
            over = 1; /* keep going: a bad digit later is "not a number" */
        else
            v = v * base + d;
    }
    if (over)
        return -2;
    if (flags & CLI_NUM_SIGNED) {
        if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
            return -2;
        *out = neg ? 0 - v : v;
    } else {
        if (neg && v)
            return -2;
        *out = v;
    }
    return 0;
}

/* ---------------------------------------------------------------- labels */

/* The labels file: one "NAME BIT" (or "NAME=BIT") per line, '#' comments.
 * Loaded once per path. */
static char label_names[64][64];
static char label_loaded_from[4096];

static void labels_load(cli_ctx *c)
{
    char path[4096];
    if (c->labels_path) {
        snprintf(path, sizeof path, "%s", c->labels_path);
    } else {
        const char *home = getenv("HOME");
        snprintf(path, sizeof path, "%s/.splinter/labels", home ? home : "");
    }
    if (strcmp(path, label_loaded_from) == 0)
        return;
    snprintf(label_loaded_from, sizeof label_loaded_from, "%s", path);
    memset(label_names, 0, sizeof label_names);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *h = strchr(line, '#');
        if (h)
            *h = 0;
        for (char *q = line; *q; q++)
            if (*q == '=')
                *q = ' ';
        char name[64];
        unsigned bit;
        if (sscanf(line, "%63s %u", name, &bit) == 2 && bit < 64)
            snprintf(label_names[bit], sizeof label_names[bit], "%s", name);
    }
    fclose(f);
}

const char *cli_label_name(cli_ctx *c, unsigned bit)
{
    labels_load(c);
    return bit < 64 && label_names[bit][0] ? label_names[bit] : NULL;
}

int cli_label_mask(cli_ctx *c, const char *spec, uint64_t *mask)
{
    uint64_t v;
    if (strncmp(spec, "0x", 2) == 0 && cli_parse_u64(spec, &v) == 0) {
        *mask = v;
        return CLI_OK;
    }
    if (isdigit((unsigned char)spec[0])) {
        if (cli_parse_u64(spec, &v) == 0 && v < 64) {
            *mask = 1ull << v;
            return CLI_OK;
        }
        return cli_usage(c, "label bit '%s' is not 0..63", spec);
    }
    labels_load(c);
    for (unsigned b = 0; b < 64; b++)
        if (strcmp(label_names[b], spec) == 0) {
            *mask = 1ull << b;
            return CLI_OK;
        }
    return cli_usage(c, "unknown label '%s' (not in %s)", spec, label_loaded_from);
}

int cli_group_mask(cli_ctx *c, const char *spec, uint64_t *mask)
{
    uint64_t v;
    if (cli_parse_u64(spec, &v) != 0 || v >= SPL_GROUPS)
        return cli_usage(c, "unknown group '%s' (a number 0..63)", spec);
    *mask = 1ull << v;
    return CLI_OK;
}

json_t *cli_groups_json(uint64_t mask)
{
    json_t *a = json_array();
    for (unsigned g = 0; g < SPL_GROUPS; g++)
        if (mask >> g & 1)
            json_array_append_new(a, json_integer(g));
    return a;
}

json_t *cli_labels_json(cli_ctx *c, uint64_t mask)
{
    json_t *a = json_array();
    for (unsigned b = 0; b < 64; b++)
        if (mask >> b & 1) {
            const char *n = cli_label_name(c, b);
            json_array_append_new(a, n ? json_string(n) : json_integer(b));
        }
    return a;
}

void cli_labels_text(cli_ctx *c, uint64_t mask, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (unsigned b = 0; b < 64 && o < cap; b++)
        if (mask >> b & 1) {
            const char *n = cli_label_name(c, b);
            int k = n ? snprintf(buf + o, cap - o, "%s%s", o ? "," : "", n)
                      : snprintf(buf + o, cap - o, "%s%u", o ? "," : "", b);
            if (k < 0)
                break;
            o += (size_t)k;
        }
    if (!buf[0])
        snprintf(buf, cap, "-");
}

/* ---------------------------------------------------------------- base64 */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cli_b64_encode(const void *v, size_t n)
{
    const unsigned char *p = v;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16;
        if (i + 1 < n) w |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) w |= p[i + 2];
        *o++ = b64_alphabet[w >> 18 & 63];
        *o++ = b64_alphabet[w >> 12 & 63];
        *o++ = i + 1 < n ? b64_alphabet[w >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64_alphabet[w & 63] : '=';
    }
    *o = 0;
    return out;
}

long cli_b64_decode(const char *s, size_t n, unsigned char *out)
{
    if (n % 4)
        return -1;
    long o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t w = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char ch = s[i + k];
            const char *q = ch ? strchr(b64_alphabet, ch) : NULL;
            if (ch == '=' && i + 4 == n && k >= 2 && (k == 3 || s[i + 3] == '=')) {
                pad++;
                w <<= 6;
            } else if (q && !pad) {
                w = w << 6 | (uint32_t)(q - b64_alphabet);
            } else {
                return -1;
            }
        }
        out[o++] = (unsigned char)(w >> 16);
        if (pad < 2) out[o++] = (unsigned char)(w >> 8);
        if (pad < 1) out[o++] = (unsigned char)w;
    }
    return o;
}

/* ---------------------------------------------------------------- reads */

size_t cli_val_max(cli_ctx *c)
{
    spl_info in;
    return spl_info_get(c->s, &in) == 0 ? in.geom.val_max : 0;
}

/* One attempt: metadata, then the value in place (copied out), both at the
 * same epoch. */
static int get_once(cli_ctx *c, const char *key, char *buf, size_t cap, size_t *len,
                    spl_meta *m)
{
    int rc = spl_meta_get(c->s, key, m);
    if (rc < 0)
        return rc;
    spl_view v;
    if ((rc = spl_view_get(c->s, key, &v)) < 0)
        return rc;
    if (v.epoch != m->epoch || v.len > cap)
        return SPL_EAGAIN;
    memcpy(buf, v.data, v.len);
    if ((rc = spl_view_valid(c->s, &v)) < 0)
        return rc == SPL_ESTALE ? SPL_EAGAIN : rc;
    *len = v.len;
    return 0;
}

int cli_get_value(cli_ctx *c, const char *key, char **buf, size_t *len, spl_meta *m)
{
    size_t cap = cli_val_max(c);
    char *b = malloc(cap + 1);
    if (!b)
        return SPL_ENOMEM;
    int rc;
    CLI_RETRY(c, rc, key, 0, get_once(c, key, b, cap, len, m));
    if (rc < 0) {
        free(b);
        return rc;
    }
    b[*len] = 0;
    *buf = b;
    return 0;
}

json_t *cli_json_key(const char *key, json_t *rest)
{
    json_t *o = json_object();
    json_t *k = json_string(key); /* NULL if the key is not UTF-8 */
    if (k) {
        json_object_set_new(o, "key", k);
    } else {
        char *b = cli_b64_encode(key, strlen(key));
        json_object_set_new(o, "key_base64", json_string(b));
        free(b);
    }
    if (rest) {
        json_object_update(o, rest);
        json_decref(rest);
    }
    return o;
}

json_t *cli_meta_json(cli_ctx *c, const char *key, const spl_meta *m)
{
    return cli_json_key(key, json_pack("{s:s, s:I, s:I, s:o, s:i, s:I, s:I}", "type",
                                       spl_type_name((spl_type)m->type), "len",
                                       (json_int_t)m->val_len, "epoch", (json_int_t)m->epoch,
                                       "labels", cli_labels_json(c, m->labels), "flags",
                                       m->user_flags, "ctime_ns", (json_int_t)m->ctime_ns,
                                       "mtime_ns", (json_int_t)m->mtime_ns));
}

/* ---------------------------------------------------------------- vectors */

uint32_t cli_vec_dim(cli_ctx *c)
{
    spl_info in;
    return spl_info_get(c->s, &in) == 0 ? in.geom.vec_dim : 0;
}

/* The double nearest the shortest decimal (6..9 significant digits) that
 * reads back as f the way JSON readers read it (a double, then float):
 * printed with 9 digits it shows that decimal; 9 digits always read back
 * as f. */
static double float_short(float f)
{
    char b[32];
    for (int p = 6; p < 9; p++) {
        snprintf(b, sizeof b, "%.*g", p, (double)f);
        if ((float)strtod(b, NULL) == f)
            return strtod(b, NULL);
    }
    return (double)f;
}

json_t *cli_vec_json(const float *v, uint32_t n)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(a, json_real(float_short(v[i])));
    return a;
}

int cli_vec_from_json(cli_ctx *c, json_t *a, uint32_t dim, float *out, const char *what)
{
    if (!json_is_array(a))
        return cli_fail(c, CLI_USAGE, "BAD_JSON", "%s must be a JSON array of numbers", what);
    if (json_array_size(a) != dim)
        return cli_fail(c, CLI_USAGE, "SPL_EDIM",
                        "%s has %zu elements, the store's vec_dim is %u (SPL_EDIM)", what,
                        json_array_size(a), dim);
    for (uint32_t i = 0; i < dim; i++) {
        json_t *e = json_array_get(a, i);
        if (!json_is_number(e))
            return cli_fail(c, CLI_USAGE, "BAD_JSON", "%s: element %u is not a number", what, i);
        out[i] = (float)json_number_value(e);
        if (!isfinite(out[i]))
            return cli_fail(c, CLI_USAGE, "SPL_ENAN",
                            "%s: element %u is not a finite float32 (SPL_ENAN)", what, i);
    }
    return CLI_OK;
}

int cli_vec_parse(cli_ctx *c, const char *arg, uint32_t dim, float **out)
{
    char *text;
    size_t n;
    /* room for dim numbers of any reasonable spelling */
    int rc = cli_read_value(c, arg, (size_t)dim * 48 + 4096, &text, &n);
    if (rc != CLI_OK)
        return rc;
    float *v = malloc((dim ? dim : 1) * sizeof *v);
    /* an array of numbers is read as import reads it (cli_vec_scan: as
     * strtof rounds); anything else, errors included, through jansson */
    const char *p = text + strspn(text, " \t\r\n"), *end = p;
    uint32_t count;
    if (v && cli_vec_scan(&end, text + n + 1, dim, v, &count) == 0 && end[strspn(end, " \t\r\n")] == 0 &&
        strlen(text) == n) {
        free(text);
        *out = v;
        return CLI_OK;
    }
    json_error_t err;
    json_t *a = json_loadb(text, n, JSON_DECODE_ANY, &err);
    free(text);
    if (!a) {
        free(v);
        return cli_fail(c, CLI_USAGE, "BAD_JSON", "bad vector JSON: %s", err.text);
    }
    rc = v ? cli_vec_from_json(c, a, dim, v, "the vector")
           : cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
    json_decref(a);
    if (rc != CLI_OK) {
        free(v);
        return rc;
    }
    *out = v;
    return CLI_OK;
}
