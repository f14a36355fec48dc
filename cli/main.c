/*
 * main.c - splinterctl: global options, the command table, dispatch, help.
 *
 *   splinterctl [--store NAME|PATH] [--json] [--quiet] COMMAND [ARGS]
 *   splinterctl [--store NAME|PATH]            (no command: the REPL)
 *
 * Adding a command: write cmd_NAME(cli_ctx *, int, char **) in a cmd_*.c
 * file, declare it in cli.h and add one row to cli_commands[] below; help,
 * the REPL's completion, `help --json` and the man-page test follow the table.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifndef SPLCTL_WITH_LUA
#define SPLCTL_WITH_LUA 0
#endif

#define GEOMETRY_HELP                                                                         \
    "--slots N        slot count (exact, 2..2^30; default 1024)\n"                            \
    "--key-max N      longest key in bytes (default 64)\n"                                    \
    "--value-size N   value lane in bytes (default 4096)\n"                                   \
    "--vec-dim N      vector dimension (floats per slot; default 768, 0 = none)\n"            \
    "--cells N        vector cells, 1..slots (default: one per slot); when every cell\n"      \
    "                 holds a vector, a new vector is SPL_ENOCELL (exit 4)\n"                 \
    "--mode MODE      0600 (default) or 0660 (group-shared; FILE backing)\n"                 \
    "--backing B      shm (a name, in the per-user SHM directory) or file (a path);\n"        \
    "                 default: file if the name contains '/', else shm\n"                     \
    "--if-missing     open the store if it already exists with this geometry\n"                \
    "--numa SPEC      NUMA placement of the memory: bind:NODES, interleave:NODES,\n"         \
    "                 preferred:N or local (NODES: 0, 0-1, 0,2-3); default: the OS's.\n"      \
    "                 Needs a WITH_NUMA=1 build; a missing node is SPL_ENODE (exit 2)\n"     \
    "--huge[=SIZE]    huge pages (default size, or 2M, 1G): PATH must be on a hugetlbfs\n"   \
    "                 mount (or SPLINTER_SHM_DIR there); none free: SPL_ENOHUGE (exit 4)"

const cli_cmd cli_commands[] = {
    {"init", "create", cmd_init, 0, "[NAME|PATH] [GEOMETRY OPTIONS]",
     "create a store (and make it the current one)", GEOMETRY_HELP},
    {"use", "open", cmd_use, 0, "NAME|PATH",
     "open a store and make it the current one (REPL); one-shot: check that it opens", ""},
    {"info", NULL, cmd_info, CLI_NEEDS_STORE, "",
     "geometry, memory (mapped, resident, per vector), usage, load, epochs, recoveries, changes, "
     "probe lengths, placement (pages, NUMA nodes) and build features", ""},
    {"destroy", NULL, cmd_destroy, 0, "[NAME|PATH]",
     "unlink a store (processes that have it mapped keep their mapping)", ""},
    {"set", NULL, cmd_set, CLI_NEEDS_STORE, "KEY VALUE|-|@FILE",
     "insert or overwrite a value (from the argument, stdin '-' or a file '@path')",
     "-t, --type TYPE  also set the type (void int64 uint64 json binary image audio text);\n"
     "                 int64/uint64 take a number (decimal or 0x hex), stored as 8 bytes"},
    {"get", NULL, cmd_get, CLI_NEEDS_STORE, "KEY",
     "print a value (control characters escaped; int64/uint64 as numbers)",
     "-r, --raw        write the bytes as they are (no escaping, no newline)\n"
     "-m, --meta       also print type, length, epoch, labels, times"},
    {"unset", NULL, cmd_unset, CLI_NEEDS_STORE, "KEY", "delete a key", ""},
    {"exists", NULL, cmd_exists, CLI_NEEDS_STORE, "KEY",
     "exit 0 if the key exists, 1 if not", ""},
    {"append", NULL, cmd_append, CLI_NEEDS_STORE, "KEY VALUE|-|@FILE",
     "append to a value (created if absent)", ""},
    {"list", "ls", cmd_list, CLI_NEEDS_STORE, "[GLOB]",
     "list keys (fnmatch GLOB) with type, length, epoch and labels",
     "-n, --limit N    at most N keys\n"
     "-p, --prefix P   keys starting with P\n"
     "-l, --label L    keys carrying label L (repeatable: all of them)\n"
     "-a, --any        with several --label: any of them"},
    {"type", NULL, cmd_type, CLI_NEEDS_STORE, "KEY [TYPE]",
     "print a key's type, or set it (void int64 uint64 json binary image audio text)", ""},
    {"math", NULL, cmd_math, CLI_NEEDS_STORE, "OP KEY [OPERAND]",
     "in-place 64-bit integer op: inc, dec, add N, and N, or N, xor N, not; prints the result",
     "a missing key starts as int64 0; the value must be 8 bytes of type int64/uint64,\n"
     "or a decimal number as text (made an int64 first)"},
    {"label", NULL, cmd_label, CLI_NEEDS_STORE, "KEY [set|clear LABEL...]",
     "show a key's labels, or set/clear them by name (labels file), bit (0-63) or 0xMASK",
     "the labels file (--labels FILE, default ~/.splinter/labels) has lines 'NAME BIT'"},
    {"cas", NULL, cmd_cas, CLI_NEEDS_STORE, "KEY EPOCH VALUE|-|@FILE",
     "write only if the key's epoch is still EPOCH (0: only if absent); exit 3 if it moved", ""},
    {"watch", NULL, cmd_watch, CLI_NEEDS_STORE, "KEY | --label LABEL | --group G",
     "stream changes (key, kind, epoch) as they happen, until Ctrl-C, --count or --timeout",
     "-g, --group G    the signal group to follow (0-63; default 63); with KEY the key\n"
     "                 gets a watch on G, with --label the label is bound to G (both stay)\n"
     "-l, --label L    every key carrying label L (name from the labels file, or bit)\n"
     "-c, --count N    stop after N changes\n"
     "--timeout MS     stop after MS milliseconds (exit 1 if --count changes did not come)\n"
     "a lapped change feed prints 'events lost, rescan' and the watch goes on; so does,\n"
     "with KEY, a change of the group whose key is no longer known (it may be KEY's)"},
    {"bind", NULL, cmd_bind, CLI_NEEDS_STORE, "[LABEL [GROUP...]]",
     "route a label to signal groups; no GROUP: show its groups; no LABEL: list bindings",
     "-x, --clear      unbind: from the GROUPs given, or from every group"},
    {"bump", NULL, cmd_bump, CLI_NEEDS_STORE, "KEY... | --group G...",
     "pulse a key's signal groups without writing it, or pulse groups directly",
     "-g, --group G    pulse group G (0-63; repeatable)"},
    {"search", NULL, cmd_search, CLI_NEEDS_STORE,
     "--key KEY | --vector JSON|-|@FILE | --text TEXT | --queries FILE|-",
     "top-k vector search (exact, or approximate with --ann): by a stored key's vector, a "
     "vector given as JSON, a text, or many queries in one pass",
     "-K, --key KEY    query with KEY's vector (KEY itself is left out)\n"
     "-v, --vector V   query vector: a JSON array of vec_dim numbers, '-' stdin, '@file'\n"
     "-T, --text TEXT  query by meaning: TEXT embedded with the embedder and settings\n"
     "                 of the embed fragment registered in the store (--frag NAME,\n"
     "                 default embed; none: the default hash embedder)\n"
     "--queries F      JSON Lines of queries ('-': stdin), each an array, {\"vector\":[..]}\n"
     "                 or {\"key\":K}; searched together (256 a pass); each hit line is\n"
     "                 prefixed by its query's number (0, 1, ...; --json: \"query\")\n"
     "-k, --k N        results wanted (default 10)\n"
     "-m, --metric M   cosine (default), dot, or l2 (lower first)\n"
     "-l, --label L    keys carrying label L (repeatable: all of them)\n"
     "-a, --any        with several --label: any of them\n"
     "-p, --prefix P   keys starting with P\n"
     "-t, --threads N  scan with up to N threads (default 1; fewer for a small store)\n"
     "    --ann        approximate: search the HNSW index of the running hnsw fragment\n"
     "                 (insmod hnsw; fragments/hnsw) in place; the exact scan answers when\n"
     "                 there is none, it is being built, or it lags behind the store\n"
     "    --ef N       with --ann: candidates kept while searching (default 64; more: better recall)\n"
     "--json hits carry \"slot\": the key's stable numeric id while it lives"},
    {"vector", "vec", cmd_vector, CLI_NEEDS_STORE, "get KEY | set KEY JSON|-|@FILE | clear KEY",
     "read, write or remove a key's vector (a JSON array of vec_dim numbers)",
     "set creates the key (empty value) if absent; get prints the array"},
    {"export", NULL, cmd_export, CLI_NEEDS_STORE, "[FILE]",
     "write the store as JSON Lines (key, value or base64, type, labels, flags)",
     "-p, --prefix P   only keys starting with P\n"
     "the first line is a header with the geometry; '-' or no FILE: stdout"},
    {"import", NULL, cmd_import, CLI_NEEDS_STORE,
     "[FILE] | --vectors [FILE] | --raw FILE --keys FILE",
     "load JSON Lines written by export (or by hand), or vectors in bulk, into the store",
     "'-' or no FILE: stdin; a bad line stops the import with exit 2 and its line number\n"
     "--vectors        JSON Lines {\"key\":K,\"vector\":[..]}: only the vectors (other fields\n"
     "                 ignored; a new key gets an empty value, a key's value is kept)\n"
     "--raw FILE       little-endian float32 vectors, vec_dim each, back to back ...\n"
     "--keys FILE      ... and their keys, one per line, as many as vectors\n"
     "--batch N        vectors per spl_vec_set_many call (default 1024)\n"
     "--threads N      threads parsing --vectors while the main one stores (default: the\n"
     "                 CPUs it may use, at most 8; 0: the main thread parses too)\n"
     "on a terminal a progress bar goes to stderr"},
    {"bench", NULL, cmd_bench, CLI_NEEDS_STORE, "",
     "quick benchmark on a temporary store like this one (left untouched): set/get ops per second",
     "-n, --ops N      operations per phase (default 100000)\n"
     "-k, --keys N     distinct keys (default 1000)\n"
     "-z, --size N     value size in bytes (default 64, at most this store's value size)"},
    {"top", NULL, cmd_top, CLI_NEEDS_STORE, "",
     "live view every second: changes/s, used, load, recoveries, hottest keys",
     "-c, --count N    stop after N refreshes (default: until Ctrl-C)\n"
     "-1, --once       one sample (two reads, one interval apart)\n"
     "-i, --interval MS  refresh interval (default 1000)\n"
     "-k, --keys N     hottest keys shown (default 10)"},
    {"insmod", NULL, cmd_insmod, CLI_NEEDS_STORE, "PATH|NAME [ARGS...]",
     "register a fragment (a loadable module) and start a host process for it",
     "NAME is looked up as NAME.so in $SPLINTER_FRAG_PATH, then beside splinterctl\n"
     "                 (fragments/), then the install directory; ARGS are NAME=VALUE options\n"
     "-a, --attach     only register it: a running 'host' (serving) takes it\n"
     "-n, --name NAME  instance name (default: the fragment's own; run several instances)\n"
     "--log FILE       the host's log ('-': this stderr; default: none)\n"
     "-w, --wait MS    how long to wait for it to run (default 10000)\n"
     "a fragment registered with no live host (its host stopped) is started again;\n"
     "one whose host died is registered again and catches up by resync;\n"
     "a library that does not load, has no entry point or needs another ABI: exit 2;\n"
     "the same name twice, or a full registry: exit 4"},
    {"rmmod", NULL, cmd_rmmod, CLI_NEEDS_STORE, "NAME...",
     "stop a fragment (its host finishes the batch in hand) and remove it from the registry",
     "-p, --purge      also remove its regions (shared memory beside the store);\n"
     "                 of a fragment no longer registered, only those\n"
     "-w, --wait MS    how long to wait for it to stop (default 10000)"},
    {"lsmod", NULL, cmd_lsmod, CLI_NEEDS_STORE, "[NAME]",
     "list fragments: state (dead when the host died), host pid, events, events/s, lag",
     "-l, --long       also version, ABI, restarts and the description\n"
     "--json: one object per fragment (every field)"},
    {"frag", NULL, cmd_frag, CLI_NEEDS_STORE, "NAME COMMAND [ARGS...]",
     "call a fragment's command (in its host process) and print its JSON reply",
     "'frag NAME help' lists its commands; --timeout MS (default 5000)"},
    {"host", NULL, cmd_host, CLI_NEEDS_STORE, "",
     "run a fragment host: load registered fragments, feed them changes, answer commands",
     "serves until Ctrl-C or SIGTERM, taking fragments registered later (insmod --attach)\n"
     "-o, --only NAME  host only this fragment\n"
     "-r, --restart    also take over fragments whose host died, and (once, at start) failed ones\n"
     "-x, --exit-idle  exit when none of its fragments is left\n"
     "-d, --daemonize  run in the background (prints its pid)\n"
     "--log FILE       log to FILE (default: stderr; with --daemonize: none)"},
    {"mirror", NULL, cmd_mirror, 0, "[STORE] --bucket B (--to URL | --from URL | both) [OPTIONS]",
     "mirror a store to and from a NATS JetStream bucket: splinter-mirror's arguments",
     "--to URL         publish the store's changes to nats://HOST:PORT\n"
     "--from URL       apply the bucket's changes to the store (both: join machines)\n"
     "--bucket B       the bucket (created if absent); 'splinter-mirror --help' for the rest\n"
     "STORE left out: the current store (--store).  Runs until Ctrl-C or SIGTERM.\n"
     "A build without WITH_NATS=1 runs the splinter-mirror beside splinterctl, else exit 2;\n"
     "exit 0 stopped, 1 bad mirror option, 2 store, 3 server refused, 4 store error"},
#if SPLCTL_WITH_LUA
    {"lua", NULL, cmd_lua, 0, "SCRIPT [ARGS]",
     "run a Lua 5.4 script with the 'splinter' module bound to the current store",
     "the script gets its arguments in 'arg' (arg[0] = SCRIPT); '-' reads it from stdin"},
#endif
    {"help", NULL, cmd_help, 0, "[COMMAND]", "this help, or a command's", ""},
    {0},
};

static const char global_help[] =
    "global options (before or after the command):\n"
    "  -s, --store NAME|PATH  the store (default $SPLINTER_STORE); a name is SHM\n"
    "                         ($SPLINTER_SHM_DIR or /dev/shm/splinter-UID), a path is a file\n"
    "  -j, --json             machine-readable output: one JSON value per line\n"
    "  -q, --quiet            no output on stdout (errors still go to stderr)\n"
    "      --labels FILE      label names (default ~/.splinter/labels)\n"
    "      --timeout MS       how long to retry under contention (default 1000)\n"
    "  -h, --help             help; 'COMMAND --help' for a command\n"
    "      --version          version and build features\n"
    "exit codes: 0 success, 1 not found, 2 usage error or bad input,\n"
    "            3 contention gave up (or cas lost), 4 store error\n";

const cli_cmd *cli_find(const char *name)
{
    for (const cli_cmd *k = cli_commands; k->name; k++)
        if (strcmp(k->name, name) == 0 || (k->alias && strcmp(k->alias, name) == 0))
            return k;
    return NULL;
}

void cli_cmd_help(cli_ctx *c, const cli_cmd *k, FILE *f)
{
    (void)c;
    fprintf(f, "usage: splinterctl %s%s%s\n  %s\n", k->name, k->usage[0] ? " " : "", k->usage,
            k->summary);
    if (k->alias)
        fprintf(f, "alias: %s\n", k->alias);
    if (k->help[0]) {
        const char *p = k->help;
        while (*p) {
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            fprintf(f, "  %.*s\n", (int)n, p);
            p += n + (e ? 1 : 0);
        }
    }
}

static void usage_all(FILE *f)
{
    fprintf(f, "usage: splinterctl [GLOBAL OPTIONS] COMMAND [ARGS]   (no command: interactive)\n"
               "commands:\n");
    for (const cli_cmd *k = cli_commands; k->name; k++)
        fprintf(f, "  %-8s %s\n", k->name, k->summary);
    fputs(global_help, f);
}

static json_t *cmd_json(const cli_cmd *k)
{
    return json_pack("{s:s, s:s?, s:s, s:s, s:s}", "name", k->name, "alias", k->alias, "usage",
                     k->usage, "summary", k->summary, "help", k->help);
}

int cmd_help(cli_ctx *c, int argc, char **argv)
{
    if (argc > 2)
        return cli_usage(c, "one command at most");
    const cli_cmd *k = NULL;
    if (argc == 2 && !(k = cli_find(argv[1])))
        return cli_usage(c, "unknown command '%s'", argv[1]);
    if (c->json) {
        json_t *j;
        if (k) {
            j = cmd_json(k);
        } else {
            json_t *a = json_array();
            for (const cli_cmd *q = cli_commands; q->name; q++)
                json_array_append_new(a, cmd_json(q));
            j = json_pack("{s:o, s:{s:i, s:i, s:i, s:i, s:i}}", "commands", a, "exit_codes",
                          "ok", CLI_OK, "not_found", CLI_NOTFOUND, "usage", CLI_USAGE,
                          "contention", CLI_CONTENTION, "store", CLI_STORE);
        }
        cli_json_out(c, j);
    } else if (!c->quiet) {
        if (k)
            cli_cmd_help(c, k, stdout);
        else
            usage_all(stdout);
    }
    return CLI_OK;
}

static int set_store(cli_ctx *c, const char *name)
{
    if (strlen(name) >= sizeof c->store)
        return -1;
    if (strcmp(name, c->store) != 0) {
        cli_close(c);
        snprintf(c->store, sizeof c->store, "%s", name);
    }
    return 0;
}

/* Global options given after the command ("get k --json"): take them out of
 * argv before the command parses its own.  Stops at "--". */
static int strip_globals(cli_ctx *c, int *argc, char **argv)
{
    int o = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (i < *argc)
                argv[o++] = argv[i++];
            break;
        }
        if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) { c->json = 1; continue; }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) { c->quiet = 1; continue; }
        const char *opts[] = {"--store", "--labels", "--timeout"};
        int hit = -1;
        const char *val = NULL;
        for (int k = 0; k < 3; k++) {
            size_t n = strlen(opts[k]);
            if (strncmp(a, opts[k], n) == 0 && (a[n] == 0 || a[n] == '=')) {
                hit = k;
                val = a[n] == '=' ? a + n + 1 : (i + 1 < *argc ? argv[++i] : NULL);
            }
        }
        if (hit < 0) {
            argv[o++] = argv[i];
            continue;
        }
        if (!val)
            return cli_usage(c, "%s needs a value", opts[hit]);
        uint64_t ms;
        if (hit == 0 && set_store(c, val) != 0)
            return cli_usage(c, "store name too long");
        if (hit == 1)
            c->labels_path = val;
        if (hit == 2) {
            if (cli_parse_u64(val, &ms) != 0 || ms > 3600000)
                return cli_usage(c, "bad --timeout '%s'", val);
            c->timeout_ms = (uint32_t)ms;
            c->timeout_set = 1;
        }
    }
    *argc = o;
    argv[o] = NULL;
    return CLI_OK;
}

int cli_run(cli_ctx *c, int argc, char **argv)
{
    c->cmd = NULL;
    /* options given with the command last for that command only */
    int saved_json = c->json, saved_quiet = c->quiet, saved_tset = c->timeout_set;
    uint32_t saved_timeout = c->timeout_ms;
    int rc = strip_globals(c, &argc, argv);
    const cli_cmd *k = cli_find(argv[0]);
    if (rc == CLI_OK && !k)
        rc = cli_fail(c, CLI_USAGE, "USAGE", "unknown command '%s' (see 'splinterctl help')",
                      argv[0]);
    if (rc == CLI_OK) {
        c->cmd = k->name;
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                cli_cmd_help(c, k, stdout);
                c->json = saved_json;
                c->quiet = saved_quiet;
                c->timeout_ms = saved_timeout;
                c->timeout_set = saved_tset;
                return CLI_OK;
            }
    }
    if (rc == CLI_OK && (k->flags & CLI_NEEDS_STORE))
        rc = cli_open(c);
    if (rc == CLI_OK) {
        optind = 0; /* glibc: full reset, the REPL parses many lines */
        opterr = 0;
        rc = k->fn(c, argc, argv);
    }
    fflush(stdout);
    c->json = saved_json;
    c->quiet = saved_quiet;
    c->timeout_ms = saved_timeout;
    c->timeout_set = saved_tset;
    return rc;
}

static void version(void)
{
    printf("splinterctl %d.%d.%d (embeddings %s, lua %s)\n", SPL_VERSION_MAJOR,
           SPL_VERSION_MINOR, SPL_VERSION_PATCH, SPL_WITH_EMBEDDINGS ? "on" : "off",
           SPLCTL_WITH_LUA ? "on" : "off");
}

int main(int argc, char **argv)
{
    static cli_ctx ctx;
    cli_ctx *c = &ctx;
    c->timeout_ms = 1000;
    const char *env = getenv("SPLINTER_STORE");
    if (env && set_store(c, env) != 0)
        return cli_usage(c, "SPLINTER_STORE too long");

    static const struct option lo[] = {
        {"store", required_argument, 0, 's'}, {"json", no_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'q'},       {"labels", required_argument, 0, 'L'},
        {"timeout", required_argument, 0, 'T'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},     {0, 0, 0, 0}};
    int ch;
    uint64_t ms;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "+s:jqh", lo, NULL)) != -1) {
        switch (ch) {
        case 's':
            if (set_store(c, optarg) != 0)
                return cli_usage(c, "store name too long");
            break;
        case 'j': c->json = 1; break;
        case 'q': c->quiet = 1; break;
        case 'L': c->labels_path = optarg; break;
        case 'T':
            if (cli_parse_u64(optarg, &ms) != 0 || ms > 3600000)
                return cli_usage(c, "bad --timeout '%s'", optarg);
            c->timeout_ms = (uint32_t)ms;
            c->timeout_set = 1;
            break;
        case 'h': usage_all(stdout); return CLI_OK;
        case 'V': version(); return CLI_OK;
        default:
            return cli_usage(c, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    int rc = optind < argc ? cli_run(c, argc - optind, argv + optind) : cli_repl(c);
    cli_close(c);
    if (fflush(stdout) != 0 && rc == CLI_OK)
        rc = CLI_STORE; /* output lost (disk full...); a broken pipe ends by SIGPIPE */
    return rc;
}
