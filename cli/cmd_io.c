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
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

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

int cmd_import(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{0, 0, 0, 0}};
    if (getopt_long(argc, argv, "", lo, NULL) != -1)
        return cli_usage(c, "unknown option '%s'", argv[optind - 1]);
    if (argc - optind > 1)
        return cli_usage(c, "import [FILE]");
    const char *path = optind < argc ? argv[optind] : "-";
    FILE *in;
    int code = cli_stream_open(c, path, 0, &in);
    if (code != CLI_OK)
        return code;
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
