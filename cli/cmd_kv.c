/*
 * cmd_kv.c - key-value commands: set, get, unset, exists, append, list,
 * type, math, label, cas.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Text mode is silent after a successful change, except in the REPL. */
static void done(cli_ctx *c, const char *key, const char *what)
{
    if (c->json) {
        spl_meta m;
        json_t *j = json_pack("{s:b, s:s}", "ok", 1, "op", what);
        if (spl_meta_get(c->s, key, &m) == 0) {
            json_t *mj = cli_meta_json(c, key, &m);
            json_object_update(j, mj);
            json_decref(mj);
        }
        cli_json_out(c, j);
    } else if (c->interactive) {
        cli_printf(c, "ok\n");
    }
}

static int bad_opt(cli_ctx *c, char **argv)
{
    return cli_usage(c, "unknown or incomplete option '%s'", argv[optind - 1]);
}

/* Options may come anywhere ("--" ends them; "-" alone, the stdin value, is
 * an argument).  `math` alone stops at the first argument, so that its
 * operand may be negative. */
static int no_opts_from(cli_ctx *c, int argc, char **argv, const char *how)
{
    static const struct option lo[] = {{0, 0, 0, 0}};
    if (getopt_long(argc, argv, how, lo, NULL) != -1)
        return bad_opt(c, argv);
    return CLI_OK;
}

/* No options and min..max arguments, else a usage error showing `usage`. */
static int args(cli_ctx *c, int argc, char **argv, int min, int max, const char *usage)
{
    int rc = no_opts_from(c, argc, argv, "");
    if (rc != CLI_OK)
        return rc;
    if (argc - optind < min || argc - optind > max)
        return cli_usage(c, "%s", usage);
    return CLI_OK;
}

/* --type int64 / uint64: the value is a number written as text (decimal or
 * 0x hex; one trailing newline from stdin or a file is allowed), stored as
 * its 8 bytes, as math expects.  CLI_OK with *x, or a usage error. */
static int number_value(cli_ctx *c, const char *v, size_t n, int type, uint64_t *x)
{
    if (n && v[n - 1] == '\n')
        n -= n > 1 && v[n - 2] == '\r' ? 2 : 1;
    int is_signed = type == SPL_T_INT64;
    int prc = cli_parse_int_text(v, n, CLI_NUM_HEX | (is_signed ? CLI_NUM_SIGNED : 0), x);
    if (prc == 0)
        return CLI_OK;
    char shown[64];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < sizeof shown; i++) /* printable, short */
        shown[k++] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
    shown[k] = 0;
    return cli_usage(c, "'%s'%s is %s %s (decimal or 0x hex, %s)", shown, k < n ? "..." : "",
                     prc == -2 ? "out of range for" : "not", is_signed ? "an int64" : "a uint64",
                     is_signed ? "-9223372036854775808..9223372036854775807" : "0..18446744073709551615");
}

/* set without --type of decimal text: a key of type int64/uint64 keeps
 * holding a number, so the text is stored as its 8 bytes (`set a 5` after
 * `math inc a`, as in Redis; text left under such a type would read as a
 * binary number once it is 8 bytes long).  Other keys get the text.  By
 * spl_cas at the epoch the type was read at (0: only if still absent), so
 * a concurrent change of type or value is never missed. */
static int set_decimal_text(cli_ctx *c, const char *key, const char *v, size_t n)
{
    cli_retry r;
    cli_retry_start(c, &r);
    int rc;
    do {
        spl_meta m;
        rc = spl_meta_get(c->s, key, &m);
        if (rc == SPL_ENOENT) {
            m.epoch = 0;
            m.type = SPL_T_VOID;
        } else if (rc < 0) {
            continue;
        }
        uint64_t x;
        int num = (m.type == SPL_T_INT64 || m.type == SPL_T_UINT64) &&
                  cli_parse_int_text(v, n, m.type == SPL_T_INT64 ? CLI_NUM_SIGNED : 0, &x) == 0;
        rc = num ? spl_cas(c->s, key, m.epoch, &x, 8) : spl_cas(c->s, key, m.epoch, v, n);
    } while ((rc == SPL_EAGAIN || rc == SPL_ESTALE || rc == SPL_EEXIST || rc == SPL_ENOENT) &&
             cli_retry_again(c, &r, key, 1));
    return rc == SPL_ESTALE || rc == SPL_EEXIST || rc == SPL_ENOENT ? SPL_EAGAIN : rc;
}

/* Write a value: set, append or cas. */
static int write_value(cli_ctx *c, const char *op, const char *key, const char *src,
                       uint64_t expected, int type)
{
    char *v;
    size_t n;
    int rc = cli_read_value(c, src, cli_val_max(c), &v, &n);
    if (rc != CLI_OK)
        return rc;
    const void *data = v;
    uint64_t x;
    if (type == SPL_T_INT64 || type == SPL_T_UINT64) {
        rc = number_value(c, v, n, type, &x);
        if (rc != CLI_OK) {
            free(v);
            return rc;
        }
        data = &x;
        n = 8;
    }
    uint64_t dummy;
    if (strcmp(op, "set") == 0 && type < 0 && n <= 24 &&
        cli_parse_int_text(v, n, CLI_NUM_SIGNED, &dummy) != -1)
        rc = set_decimal_text(c, key, v, n);
    else if (strcmp(op, "set") == 0)
        rc = spl_set_wait(c->s, key, data, n, cli_wait_us(c));
    else if (strcmp(op, "append") == 0)
        CLI_RETRY(c, rc, key, 1, spl_append(c->s, key, data, n));
    else
        CLI_RETRY(c, rc, key, 1, spl_cas(c->s, key, expected, data, n));
    free(v);
    if (rc == 0 && type >= 0)
        CLI_RETRY(c, rc, key, 1, spl_type_set(c->s, key, (spl_type)type));
    if (rc == SPL_EEXIST) /* cas with 0: someone created it first */
        return cli_fail(c, CLI_CONTENTION, spl_err_name(rc), "%s: key exists (%s)", key,
                        spl_err_name(rc));
    if (rc < 0)
        return cli_fail_spl(c, rc, key);
    done(c, key, op);
    return CLI_OK;
}

int cmd_set(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"type", required_argument, 0, 't'}, {0, 0, 0, 0}};
    int ch, type = -1;
    while ((ch = getopt_long(argc, argv, "t:", lo, NULL)) != -1) {
        if (ch != 't')
            return bad_opt(c, argv);
        if ((type = spl_type_parse(optarg)) < 0)
            return cli_usage(c, "unknown type '%s'", optarg);
    }
    if (argc - optind != 2)
        return cli_usage(c, "set KEY VALUE|-|@FILE");
    return write_value(c, "set", argv[optind], argv[optind + 1], 0, type);
}

int cmd_append(cli_ctx *c, int argc, char **argv)
{
    int rc = args(c, argc, argv, 2, 2, "append KEY VALUE|-|@FILE");
    if (rc != CLI_OK)
        return rc;
    return write_value(c, "append", argv[optind], argv[optind + 1], 0, -1);
}

int cmd_cas(cli_ctx *c, int argc, char **argv)
{
    int rc = args(c, argc, argv, 3, 3, "cas KEY EPOCH VALUE|-|@FILE");
    if (rc != CLI_OK)
        return rc;
    uint64_t epoch;
    if (cli_parse_u64(argv[optind + 1], &epoch) != 0)
        return cli_usage(c, "bad epoch '%s'", argv[optind + 1]);
    return write_value(c, "cas", argv[optind], argv[optind + 2], epoch, -1);
}

static void print_int(cli_ctx *c, const void *v, int type)
{
    int64_t x;
    memcpy(&x, v, 8);
    if (type == SPL_T_UINT64)
        cli_printf(c, "%" PRIu64 "\n", (uint64_t)x);
    else
        cli_printf(c, "%" PRId64 "\n", x);
}

int cmd_get(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"raw", no_argument, 0, 'r'}, {"meta", no_argument, 0, 'm'}, {0, 0, 0, 0}};
    int ch, raw = 0, meta = 0;
    while ((ch = getopt_long(argc, argv, "rm", lo, NULL)) != -1) {
        if (ch == 'r') raw = 1;
        else if (ch == 'm') meta = 1;
        else return bad_opt(c, argv);
    }
    if (argc - optind != 1)
        return cli_usage(c, "get KEY");
    const char *key = argv[optind];
    char *v;
    size_t n;
    spl_meta m;
    int rc = cli_get_value(c, key, &v, &n, &m);
    if (rc < 0)
        return cli_fail_spl(c, rc, key);
    int is_int = n == 8 && (m.type == SPL_T_INT64 || m.type == SPL_T_UINT64);
    if (c->json) {
        json_t *j = cli_meta_json(c, key, &m);
        cli_json_put_value(j, v, n, m.type);
        cli_json_out(c, j);
    } else {
        if (meta) {
            char lab[512];
            cli_labels_text(c, m.labels, lab, sizeof lab);
            cli_printf(c, "type=%s len=%u epoch=%" PRIu64 " labels=%s flags=%u\n",
                       spl_type_name((spl_type)m.type), m.val_len, m.epoch, lab, m.user_flags);
        }
        if (c->quiet) {
        } else if (raw) {
            fwrite(v, 1, n, stdout);
        } else if (is_int) {
            print_int(c, v, m.type);
        } else {
            cli_put_escaped(stdout, v, n);
            putchar('\n');
        }
    }
    free(v);
    return CLI_OK;
}

int cmd_unset(cli_ctx *c, int argc, char **argv)
{
    int rc = args(c, argc, argv, 1, 1, "unset KEY");
    if (rc != CLI_OK)
        return rc;
    rc = spl_unset_wait(c->s, argv[optind], cli_wait_us(c));
    if (rc < 0)
        return cli_fail_spl(c, rc, argv[optind]);
    if (c->json)
        cli_json_out(c, cli_json_key(argv[optind], json_pack("{s:b, s:s}", "ok", 1, "op", "unset")));
    else if (c->interactive)
        cli_printf(c, "ok\n");
    return CLI_OK;
}

int cmd_exists(cli_ctx *c, int argc, char **argv)
{
    int rc = args(c, argc, argv, 1, 1, "exists KEY");
    if (rc != CLI_OK)
        return rc;
    CLI_RETRY(c, rc, argv[optind], 0, spl_exists(c->s, argv[optind]));
    if (rc < 0)
        return cli_fail_spl(c, rc, argv[optind]);
    if (c->json)
        cli_json_out(c, cli_json_key(argv[optind], json_pack("{s:b}", "exists", rc)));
    else
        cli_printf(c, "%s\n", rc ? "yes" : "no");
    return rc ? CLI_OK : CLI_NOTFOUND;
}

struct list_state {
    cli_ctx *c;
    uint64_t limit, seen;
};

static int list_one(const spl_entry *e, void *ud)
{
    struct list_state *st = ud;
    cli_ctx *c = st->c;
    if (st->limit && st->seen >= st->limit)
        return 1;
    st->seen++;
    if (c->json) {
        cli_json_out(c, cli_meta_json(c, e->key, &e->meta));
    } else if (!c->quiet) {
        char lab[512];
        cli_labels_text(c, e->meta.labels, lab, sizeof lab);
        cli_put_escaped(stdout, e->key, e->key_len);
        printf("\t%s\t%u\t%" PRIu64 "\t%s\n", spl_type_name((spl_type)e->meta.type),
               e->meta.val_len, e->meta.epoch, lab);
    }
    return 0;
}

int cmd_list(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"limit", required_argument, 0, 'n'}, {"prefix", required_argument, 0, 'p'},
        {"label", required_argument, 0, 'l'}, {"any", no_argument, 0, 'a'}, {0, 0, 0, 0}};
    struct list_state st = {c, 0, 0};
    spl_filter f = {0};
    int ch, rc;
    uint64_t mask;
    while ((ch = getopt_long(argc, argv, "n:p:l:a", lo, NULL)) != -1) {
        switch (ch) {
        case 'n':
            if (cli_parse_u64(optarg, &st.limit) != 0 || st.limit == 0)
                return cli_usage(c, "bad --limit '%s'", optarg);
            break;
        case 'p': f.prefix = optarg; break;
        case 'l':
            if ((rc = cli_label_mask(c, optarg, &mask)) != CLI_OK)
                return rc;
            f.labels |= mask;
            break;
        case 'a': f.flags |= SPL_F_LABELS_ANY; break;
        default: return bad_opt(c, argv);
        }
    }
    if (argc - optind > 1)
        return cli_usage(c, "list [GLOB]");
    if (optind < argc)
        f.glob = argv[optind];
    rc = spl_foreach(c->s, &f, list_one, &st);
    if (rc < 0)
        return cli_fail_spl(c, rc, "list");
    return CLI_OK;
}

int cmd_type(cli_ctx *c, int argc, char **argv)
{
    int rc = args(c, argc, argv, 1, 2, "type KEY [TYPE]");
    if (rc != CLI_OK)
        return rc;
    int n = argc - optind;
    const char *key = argv[optind];
    if (n == 2) {
        int t = spl_type_parse(argv[optind + 1]);
        if (t < 0)
            return cli_usage(c, "unknown type '%s'", argv[optind + 1]);
        CLI_RETRY(c, rc, key, 1, spl_type_set(c->s, key, (spl_type)t));
        if (rc < 0)
            return cli_fail_spl(c, rc, key);
        done(c, key, "type");
        return CLI_OK;
    }
    spl_meta m;
    CLI_RETRY(c, rc, key, 0, spl_meta_get(c->s, key, &m));
    if (rc < 0)
        return cli_fail_spl(c, rc, key);
    if (c->json)
        cli_json_out(c, cli_json_key(key, json_pack("{s:s}", "type",
                                                    spl_type_name((spl_type)m.type))));
    else
        cli_printf(c, "%s\n", spl_type_name((spl_type)m.type));
    return CLI_OK;
}

/* math on a key whose value is a decimal number written as text (`set a 1`
 * then `math inc a`, as in Redis): make it an 8-byte int64 where it lies,
 * then the caller runs the op again.  Only library calls, in steps that
 * each leave a state the next step (in this process or any other running
 * the same code) recognises, so that concurrent `math` calls all finish
 * the job or find it done and none loses an update (the op is spl_int_wait):
 *   a. void or text, 8 bytes of digits: spl_cas a '0' in front (9 bytes),
 *      so that no text ever sits under type int64 as 8 bytes, where it
 *      would read as a binary number;
 *   b. void or text, other lengths: spl_type_set int64;
 *   c. int64/uint64 whose value is decimal text (not 8 bytes): spl_cas its
 *      8-byte number at the epoch the text was read at.
 * Step b is not conditional: a plain set landing between the read and it
 * gets its value typed int64; the next read sees that (not a number) and
 * puts the type back.  Returns 0 (run the op again), SPL_ETYPE (not such
 * text), or another library error. */
static int text_to_int(cli_ctx *c, const char *key)
{
    cli_retry r;
    cli_retry_start(c, &r);
    int undo = -1; /* the type step b replaced */
    for (int steps = 0; steps < 64; steps++) { /* bounded against a flapping peer */
        char *v;
        size_t n;
        spl_meta m;
        int rc = cli_get_value(c, key, &v, &n, &m);
        if (rc == SPL_ENOENT)
            return 0; /* gone: the op creates it */
        if (rc < 0)
            return rc;
        int is_int = m.type == SPL_T_INT64 || m.type == SPL_T_UINT64;
        int is_text = m.type == SPL_T_VOID || m.type == SPL_T_TEXT;
        uint64_t x;
        int dec = n <= 24 &&
                  cli_parse_int_text(v, n, m.type == SPL_T_UINT64 ? 0 : CLI_NUM_SIGNED, &x) == 0;
        if (is_int && n == 8) {
            rc = 0; /* done, here or by a peer */
        } else if (is_int && !dec) {
            if (undo >= 0) /* a set landed before step b: not ours to type */
                (void)spl_type_set(c->s, key, (spl_type)undo);
            rc = SPL_ETYPE;
        } else if (!dec || !(is_int || is_text)) {
            rc = SPL_ETYPE;
        } else if (is_int) {
            rc = spl_cas(c->s, key, m.epoch, &x, 8);
        } else if (n == 8) {
            char pad[9] = {'0'};
            memcpy(pad + 1, v, 8);
            if (v[0] == '-' || v[0] == '+') { /* the sign stays first */
                pad[0] = v[0];
                pad[1] = '0';
            }
            rc = spl_cas(c->s, key, m.epoch, pad, 9);
            if (rc == SPL_E2BIG)
                rc = SPL_ETYPE; /* val_max 8: no room to do it safely */
            else if (rc == 0)
                rc = 1; /* go on to step b */
        } else {
            undo = m.type;
            rc = spl_type_set(c->s, key, SPL_T_INT64);
            if (rc == 0)
                rc = 1; /* go on to step c */
        }
        free(v);
        if (rc == SPL_ENOENT)
            return 0;
        if (rc == 1)
            continue;
        if ((rc != SPL_ESTALE && rc != SPL_EAGAIN) || !cli_retry_again(c, &r, key, 1))
            return rc;
    }
    return SPL_EAGAIN;
}

int cmd_math(cli_ctx *c, int argc, char **argv)
{
    static const struct {
        const char *name;
        spl_int_op op;
        int operand; /* 1: needs one; -1: implied -1 (dec); 0: implied 1 or none */
    } ops[] = {{"inc", SPL_OP_ADD, 0}, {"dec", SPL_OP_ADD, -1}, {"add", SPL_OP_ADD, 1},
               {"and", SPL_OP_AND, 1}, {"or", SPL_OP_OR, 1},    {"xor", SPL_OP_XOR, 1},
               {"not", SPL_OP_NOT, 0}};
    int rc = no_opts_from(c, argc, argv, "+");
    if (rc != CLI_OK)
        return rc;
    int n = argc - optind;
    if (n < 2)
        return cli_usage(c, "math OP KEY [OPERAND]");
    const char *opname = argv[optind], *key = argv[optind + 1];
    size_t i;
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, opname) == 0)
            break;
    if (i == sizeof ops / sizeof ops[0])
        return cli_usage(c, "unknown op '%s' (inc dec add and or xor not)", opname);
    if (n != (ops[i].operand == 1 ? 3 : 2))
        return cli_usage(c, "math %s KEY%s", opname, ops[i].operand == 1 ? " OPERAND" : "");
    uint64_t operand = ops[i].operand == -1 ? (uint64_t)-1 : 1;
    if (ops[i].operand == 1) {
        int64_t sv;
        if (cli_parse_i64(argv[optind + 2], &sv) == 0)
            operand = (uint64_t)sv;
        else if (cli_parse_u64(argv[optind + 2], &operand) != 0)
            return cli_usage(c, "bad operand '%s'", argv[optind + 2]);
    }
    uint64_t out;
    /* spl_int_wait: contention for --timeout, as every command (spl_int
     * would wait 10 s whatever --timeout says), asleep on the busy slot
     * until its writer commits */
    uint32_t wait_us = cli_wait_us(c);
    rc = spl_int_wait(c->s, key, ops[i].op, operand, &out, wait_us);
    for (int round = 0; rc == SPL_ETYPE && round < 8; round++) {
        rc = text_to_int(c, key); /* "1" as text: make it an int64 */
        if (rc == 0)
            rc = spl_int_wait(c->s, key, ops[i].op, operand, &out, wait_us);
    }
    if (rc == SPL_ETYPE)
        return cli_fail(c, CLI_USAGE, spl_err_name(rc),
                        "%s: %s (%s); math needs an int64/uint64 value or a decimal number "
                        "as text: store one with 'splinterctl set %s NUMBER --type int64'",
                        key, spl_strerror(rc), spl_err_name(rc), key);
    if (rc < 0)
        return cli_fail_spl(c, rc, key);
    spl_meta m = {.type = SPL_T_INT64};
    if (spl_meta_get(c->s, key, &m) < 0)
        m.type = SPL_T_INT64;
    if (c->json) {
        json_t *j = cli_json_key(key, json_pack("{s:s}", "op", opname));
        cli_json_put_value(j, &out, 8, m.type);
        json_object_del(j, "base64");
        json_object_del(j, "value");
        cli_json_out(c, j);
    } else {
        print_int(c, &out, m.type);
    }
    return CLI_OK;
}

int cmd_label(cli_ctx *c, int argc, char **argv)
{
    int rc = args(c, argc, argv, 1, argc, "label KEY [set|clear LABEL...]");
    if (rc != CLI_OK)
        return rc;
    int n = argc - optind;
    if (n == 2)
        return cli_usage(c, "label KEY [set|clear LABEL...]");
    const char *key = argv[optind];
    if (n > 2) {
        const char *verb = argv[optind + 1];
        int set = strcmp(verb, "set") == 0;
        if (!set && strcmp(verb, "clear") != 0)
            return cli_usage(c, "label KEY set|clear LABEL...: unknown '%s'", verb);
        uint64_t mask = 0, one;
        for (int i = optind + 2; i < argc; i++) {
            if ((rc = cli_label_mask(c, argv[i], &one)) != CLI_OK)
                return rc;
            mask |= one;
        }
        if (set)
            CLI_RETRY(c, rc, key, 1, spl_labels_set(c->s, key, mask));
        else
            CLI_RETRY(c, rc, key, 1, spl_labels_clear(c->s, key, mask));
        if (rc < 0)
            return cli_fail_spl(c, rc, key);
        if (!c->json && !c->interactive)
            return CLI_OK;
    }
    spl_meta m;
    CLI_RETRY(c, rc, key, 0, spl_meta_get(c->s, key, &m));
    if (rc < 0)
        return cli_fail_spl(c, rc, key);
    if (c->json) {
        char hex[24];
        snprintf(hex, sizeof hex, "0x%016" PRIx64, m.labels);
        cli_json_out(c, cli_json_key(key, json_pack("{s:o, s:s}", "labels",
                                                    cli_labels_json(c, m.labels), "mask", hex)));
    } else {
        char lab[512];
        cli_labels_text(c, m.labels, lab, sizeof lab);
        cli_printf(c, "%s\n", lab);
    }
    return CLI_OK;
}
