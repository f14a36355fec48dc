/*
 * cli.h - splinterctl internals: the context every command gets, the
 * command table, exit codes, and the shared helpers (output, values, labels,
 * retries).  The CLI is a thin program over the public API (splinter.h).
 */
#ifndef SPLCTL_CLI_H
#define SPLCTL_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "splinter.h"

#define SPLCTL_STR_(x) #x
#define SPLCTL_STR(x) SPLCTL_STR_(x)
#define SPLCTL_VERSION_STRING                                                   \
    SPLCTL_STR(SPL_VERSION_MAJOR) "." SPLCTL_STR(SPL_VERSION_MINOR) "." SPLCTL_STR(SPL_VERSION_PATCH)

/* Exit codes (documented in docs/splinterctl.1 and `splinterctl help`). */
enum {
    CLI_OK = 0,
    CLI_NOTFOUND = 1,   /* key absent (or `exists` false) */
    CLI_USAGE = 2,      /* bad arguments or bad input: unknown command, key too
                           long, value too big, wrong type, bad JSON */
    CLI_CONTENTION = 3, /* gave up retrying SPL_EAGAIN, or cas lost (epoch moved) */
    CLI_STORE = 4       /* store missing, corrupt, permission, full, read-only */
};

typedef struct cli_ctx {
    char store[4096];        /* current store name or path ("" = none) */
    spl_store *s;            /* open handle for `store`, or NULL */
    int json;                /* --json */
    int quiet;               /* --quiet */
    int interactive;         /* inside the REPL */
    const char *labels_path; /* --labels, else ~/.splinter/labels */
    uint32_t timeout_ms;     /* --timeout: how long to retry SPL_EAGAIN */
    int timeout_set;         /* --timeout was given (watch: its time limit) */
    const char *cmd;         /* the command being run (for messages) */
} cli_ctx;

enum { CLI_NEEDS_STORE = 1u << 0 };

typedef struct cli_cmd {
    const char *name;
    const char *alias; /* or NULL */
    int (*fn)(cli_ctx *c, int argc, char **argv);
    unsigned flags;      /* CLI_NEEDS_STORE: opened before fn runs */
    const char *usage;   /* arguments after the name */
    const char *summary; /* one line */
    const char *help;    /* options and details, one per line */
} cli_cmd;

/* The command table (main.c), terminated by a zero row. */
extern const cli_cmd cli_commands[];
const cli_cmd *cli_find(const char *name);
/* Run one command line (argv[0] = command) with the context's options. */
int cli_run(cli_ctx *c, int argc, char **argv);

/* Commands.  cmd_store.c */
int cmd_init(cli_ctx *c, int argc, char **argv);
int cmd_use(cli_ctx *c, int argc, char **argv);
int cmd_info(cli_ctx *c, int argc, char **argv);
int cmd_destroy(cli_ctx *c, int argc, char **argv);
/* cmd_kv.c */
int cmd_set(cli_ctx *c, int argc, char **argv);
int cmd_get(cli_ctx *c, int argc, char **argv);
int cmd_unset(cli_ctx *c, int argc, char **argv);
int cmd_exists(cli_ctx *c, int argc, char **argv);
int cmd_append(cli_ctx *c, int argc, char **argv);
int cmd_list(cli_ctx *c, int argc, char **argv);
int cmd_type(cli_ctx *c, int argc, char **argv);
int cmd_math(cli_ctx *c, int argc, char **argv);
int cmd_label(cli_ctx *c, int argc, char **argv);
int cmd_cas(cli_ctx *c, int argc, char **argv);
/* cmd_io.c */
int cmd_export(cli_ctx *c, int argc, char **argv);
int cmd_import(cli_ctx *c, int argc, char **argv);
/* cmd_signal.c */
int cmd_watch(cli_ctx *c, int argc, char **argv);
int cmd_bind(cli_ctx *c, int argc, char **argv);
int cmd_bump(cli_ctx *c, int argc, char **argv);
/* cmd_vec.c */
int cmd_search(cli_ctx *c, int argc, char **argv);
int cmd_vector(cli_ctx *c, int argc, char **argv);
/* cmd_perf.c */
int cmd_bench(cli_ctx *c, int argc, char **argv);
int cmd_top(cli_ctx *c, int argc, char **argv);
/* cmd_frag.c */
int cmd_insmod(cli_ctx *c, int argc, char **argv);
int cmd_rmmod(cli_ctx *c, int argc, char **argv);
int cmd_lsmod(cli_ctx *c, int argc, char **argv);
int cmd_frag(cli_ctx *c, int argc, char **argv);
int cmd_host(cli_ctx *c, int argc, char **argv);
/* cmd_mirror.c */
int cmd_mirror(cli_ctx *c, int argc, char **argv);
/* main.c */
int cmd_help(cli_ctx *c, int argc, char **argv);
/* cmd_lua.c (WITH_LUA=1) */
int cmd_lua(cli_ctx *c, int argc, char **argv);
/* repl.c */
int cli_repl(cli_ctx *c);

/* ---------------------------------------------------------------- util.c */

/* Report an error: text on stderr, or a JSON object on stdout with --json
 * ({"ok":false,"error":NAME,"message":TEXT,"exit":CODE}).  Returns code. */
int cli_fail(cli_ctx *c, int code, const char *err_name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same for a library code: the exit code comes from cli_exit_of(). */
int cli_fail_spl(cli_ctx *c, int rc, const char *what);
/* Exit code of a library error from a key-level call. */
int cli_exit_of(int rc);
/* Usage error for the current command (points to --help). */
int cli_usage(cli_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Open c->store if not open yet.  Returns CLI_OK or an exit code (reported). */
int cli_open(cli_ctx *c);
void cli_close(cli_ctx *c);

/* Flags of every JSON line written: compact, and reals with 9 significant
 * digits (enough for any float32; see cli_vec_json). */
#define CLI_JSON_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9))
/* Print a JSON value (stolen) as one line on stdout unless --quiet. */
void cli_json_out(cli_ctx *c, json_t *j);
/* Text output unless --quiet. */
void cli_printf(cli_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Write bytes with control characters, backslash and invalid UTF-8 escaped
 * (\n, \t, \\, \xNN). */
void cli_put_escaped(FILE *f, const void *p, size_t n);
/* Put a value into a JSON object: "value" (valid UTF-8 without NUL) or
 * "base64"; 8-byte INT64/UINT64 values also get "int". */
void cli_json_put_value(json_t *o, const void *v, size_t n, int type);

/* --timeout in microseconds, for the library's *_wait calls and
 * spl_retry_pause (both sleep on a busy slot until its writer commits). */
uint32_t cli_wait_us(const cli_ctx *c);

/* Retry a call on `key` while it returns SPL_EAGAIN, for the calls that
 * have no *_wait variant: up to --timeout, waiting between tries as the
 * *_wait calls do (spl_retry_pause: asleep on the busy slot until its
 * writer commits).  write: 1 if the call writes the key, 0 if it reads it;
 * key NULL for a call on no one key (vector search: it backs off). */
typedef struct cli_retry { spl_retry w; } cli_retry;
void cli_retry_start(cli_ctx *c, cli_retry *r);
int cli_retry_again(cli_ctx *c, cli_retry *r, const char *key, int write); /* 1: try again; 0: give up */
#define CLI_RETRY(c, rc, key, write, call)                                      \
    do {                                                                        \
        cli_retry r_;                                                           \
        cli_retry_start((c), &r_);                                              \
        while (((rc) = (call)) == SPL_EAGAIN && cli_retry_again((c), &r_, (key), (write))) {} \
    } while (0)

/* A value from the argument, from stdin ("-") or a file ("@path"), at most
 * max bytes.  *out is malloc'd (NUL-terminated for convenience).  Returns
 * CLI_OK or an exit code (reported; a value over max is CLI_USAGE). */
int cli_read_value(cli_ctx *c, const char *arg, size_t max, char **out, size_t *len);

/* A value with its metadata, read consistently (retried while a writer is
 * inside, up to c->timeout_ms).  *buf is malloc'd, NUL-terminated.
 * Returns 0 or a library code. */
int cli_get_value(cli_ctx *c, const char *key, char **buf, size_t *len, spl_meta *m);
/* The store's value size (val_max). */
size_t cli_val_max(cli_ctx *c);
/* A JSON object {"key": KEY} ("key_base64" for a key that is not UTF-8)
 * with the fields of `rest` (stolen; may be NULL) after it. */
json_t *cli_json_key(const char *key, json_t *rest);
/* A key's metadata as a JSON object (key, type, len, epoch, labels, flags,
 * times), shared by get, list and export. */
json_t *cli_meta_json(cli_ctx *c, const char *key, const spl_meta *m);

/* PATH for reading or writing: "-" is stdin/stdout, else a file.  Returns
 * CLI_OK or a usage error (reported).  Closing leaves the std streams open
 * and returns fclose's result. */
int cli_stream_open(cli_ctx *c, const char *path, int write, FILE **f);
int cli_stream_close(FILE *f);

/* Parse numbers; 0 or -1. */
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_i64(const char *s, int64_t *out);
/* A whole number written as the n bytes of s: an optional sign, then
 * decimal digits (leading zeros are decimal, never octal), or with
 * CLI_NUM_HEX also 0x and hex digits.  CLI_NUM_SIGNED: the int64 range,
 * else the uint64 range (a '-' only before zero).  Returns 0 with *out
 * (an int64 as its two's complement), -1 if it is not such a number, -2 if
 * it is out of range. */
enum { CLI_NUM_SIGNED = 1, CLI_NUM_HEX = 2 };
int cli_parse_int_text(const char *s, size_t n, int flags, uint64_t *out);

/* Labels: "NAME" (from the labels file), a bit number 0..63, or "0x..." mask.
 * Returns 0 and the mask, or an exit code (reported). */
int cli_label_mask(cli_ctx *c, const char *spec, uint64_t *mask);
/* A signal group: a number 0..63.  Returns 0 and the group's mask bit, or an
 * exit code (reported). */
int cli_group_mask(cli_ctx *c, const char *spec, uint64_t *mask);
/* Groups of a mask as a JSON array of numbers. */
json_t *cli_groups_json(uint64_t mask);
/* Name of bit b from the labels file, or NULL. */
const char *cli_label_name(cli_ctx *c, unsigned bit);
/* Labels as a JSON array of names (or bit numbers without a name). */
json_t *cli_labels_json(cli_ctx *c, uint64_t mask);
/* Same as text "name,3,other" into buf. */
void cli_labels_text(cli_ctx *c, uint64_t mask, char *buf, size_t cap);

/* Vectors as JSON arrays.  cli_vec_json: each float as the shortest decimal
 * that reads back as the same float32 (exact round trip with
 * CLI_JSON_FLAGS).  cli_vec_from_json: a JSON array of dim finite numbers
 * into out[dim] (each a double, then a float32); cli_vec_parse: the same
 * from text (an argument, '-' stdin or '@file'), its numbers rounded as
 * import rounds them (cli_vec_scan in vecscan.h: as strtof does).  Both return CLI_OK or CLI_USAGE (reported: bad JSON,
 * SPL_EDIM, SPL_ENAN); `what` is the subject of messages ("the vector"). */
json_t *cli_vec_json(const float *v, uint32_t n);
int cli_vec_from_json(cli_ctx *c, json_t *a, uint32_t dim, float *out, const char *what);
int cli_vec_parse(cli_ctx *c, const char *arg, uint32_t dim, float **out);
/* The store's vec_dim (0: no vectors). */
uint32_t cli_vec_dim(cli_ctx *c);

/* base64 (RFC 4648, padded).  Encode returns a malloc'd string; decode
 * returns the length or -1 on bad input (out needs 3*len/4 bytes). */
char *cli_b64_encode(const void *p, size_t n);
long cli_b64_decode(const char *s, size_t n, unsigned char *out);

/* Commands parse their own options with getopt_long (cli_run resets its
 * state and answers --help before the command runs).  Print a command's
 * help (usage, summary, options). */
void cli_cmd_help(cli_ctx *c, const cli_cmd *cmd, FILE *f);

#endif /* SPLCTL_CLI_H */
