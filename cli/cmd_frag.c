/*
 * cmd_frag.c - fragment commands: insmod (register a fragment and start a
 * host for it), rmmod, lsmod, frag (call a fragment's command across
 * processes) and host (run a host).  docs/FRAGMENTS.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define FRAG_WAIT_MS 10000u
#define FRAG_CALL_MS 5000u

static int bad_opt(cli_ctx *c, char **argv)
{
    return cli_usage(c, "unknown or incomplete option '%s'", argv[optind - 1]);
}

static int frag_fail(cli_ctx *c, int rc, const char *what)
{
    const char *m = spl_frag_errmsg();
    return cli_fail(c, cli_exit_of(rc), spl_err_name(rc), "%s: %s (%s)", what, m[0] ? m : spl_strerror(rc),
                    spl_err_name(rc));
}

/* In-tree and installed fragments: DIR-OF-splinterctl/fragments. */
static const char *exe_frag_dir(char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 16);
    if (n <= 0)
        return NULL;
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    if (!slash)
        return NULL;
    strcpy(slash, "/fragments");
    return buf;
}

static int open_log(cli_ctx *c, const char *path, int *fd)
{
    *fd = -1;
    if (!path)
        return CLI_OK;
    if (strcmp(path, "-") == 0) {
        *fd = 2;
        return CLI_OK;
    }
    *fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0)
        return cli_fail(c, CLI_USAGE, "USAGE", "log file '%s': %s", path, strerror(errno));
    return CLI_OK;
}

static json_t *str_or_null(const char *s)
{
    json_t *j = json_string(s);
    return j ? j : json_null();
}

static json_t *args_json(const spl_frag_info *fi)
{
    json_t *a = json_array();
    size_t p = 0;
    for (uint32_t i = 0; i < fi->argc && p < sizeof fi->args; i++) {
        json_array_append_new(a, str_or_null(fi->args + p));
        p += strlen(fi->args + p) + 1;
    }
    return a;
}


static json_t *info_json(const spl_frag_info *fi)
{
    json_t *j = json_object();
    json_object_set_new(j, "name", str_or_null(fi->name));
    json_object_set_new(j, "state", json_string(spl_frag_state_name(fi->state)));
    json_object_set_new(j, "host_pid", fi->host_pid ? json_integer(fi->host_pid) : json_null());
    json_object_set_new(j, "events", json_integer((json_int_t)fi->events));
    json_object_set_new(j, "events_per_s", json_real(fi->events_per_s));
    json_object_set_new(j, "lag", json_integer((json_int_t)fi->lag));
    json_object_set_new(j, "errors", json_integer((json_int_t)fi->errors));
    json_object_set_new(j, "resyncs", json_integer((json_int_t)fi->resyncs));
    json_object_set_new(j, "restarts", json_integer((json_int_t)fi->restarts));
    json_object_set_new(j, "heartbeat_age_ms", fi->heartbeat_age_ns == UINT64_MAX
                                                   ? json_null()
                                                   : json_integer((json_int_t)(fi->heartbeat_age_ns / 1000000)));
    json_object_set_new(j, "abi", json_integer(fi->abi));
    json_object_set_new(j, "version", str_or_null(fi->version));
    json_object_set_new(j, "summary", str_or_null(fi->summary));
    json_object_set_new(j, "path", str_or_null(fi->path));
    json_object_set_new(j, "args", args_json(fi));
    json_object_set_new(j, "groups", cli_groups_json(fi->groups));
    json_object_set_new(j, "error", fi->err ? json_string(spl_err_name(fi->err)) : json_null());
    json_object_set_new(j, "message", fi->errmsg[0] ? str_or_null(fi->errmsg) : json_null());
    return j;
}

/* ---------------------------------------------------------------- insmod */

int cmd_insmod(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"attach", no_argument, 0, 'a'},
                                       {"name", required_argument, 0, 'n'},
                                       {"log", required_argument, 0, 'L'},
                                       {"wait", required_argument, 0, 'w'},
                                       {0, 0, 0, 0}};
    int ch, attach = 0, rc;
    const char *as = NULL, *log = NULL;
    uint64_t wait_ms = FRAG_WAIT_MS;
    while ((ch = getopt_long(argc, argv, "+an:w:", lo, NULL)) != -1) {
        if (ch == 'a')
            attach = 1;
        else if (ch == 'n')
            as = optarg;
        else if (ch == 'L')
            log = optarg;
        else if (ch == 'w') {
            if (cli_parse_u64(optarg, &wait_ms) != 0 || wait_ms > 3600000)
                return cli_usage(c, "bad --wait '%s'", optarg);
        } else
            return bad_opt(c, argv);
    }
    if (optind >= argc)
        return cli_usage(c, "insmod PATH|NAME [ARGS...]");
    char dirbuf[PATH_MAX], path[PATH_MAX], name[64];
    rc = spl_frag_find(argv[optind], exe_frag_dir(dirbuf, sizeof dirbuf), path, sizeof path);
    if (rc < 0)
        return frag_fail(c, rc == SPL_ENOENT ? SPL_ENOENT : rc, argv[optind]);
    int fargc = argc - optind - 1;
    rc = spl_frag_register(c->s, path, as, fargc, (const char *const *)argv + optind + 1, 0, name,
                           sizeof name);
    if (rc == SPL_EEXIST && !attach) {
        /* registered with nobody running it (its host stopped): bring it back */
        spl_frag_info fi;
        const char *n = as;
        char probe[64];
        if (!n) { /* the fragment's own name: look it up by path */
            spl_frag_info all[SPL_FRAG_MAX];
            int k = spl_frag_list(c->s, all, SPL_FRAG_MAX);
            for (int i = 0; i < k && i < (int)SPL_FRAG_MAX; i++)
                if (strcmp(all[i].path, path) == 0 && all[i].state == SPL_FRAG_REGISTERED) {
                    snprintf(probe, sizeof probe, "%s", all[i].name);
                    n = probe;
                }
        }
        if (n && spl_frag_get(c->s, n, &fi) == 0 && fi.state == SPL_FRAG_REGISTERED) {
            snprintf(name, sizeof name, "%s", n);
            rc = 0;
        } else {
            rc = SPL_EEXIST;
        }
        if (rc)
            return frag_fail(c, SPL_EEXIST, argv[optind]);
    } else if (rc < 0) {
        return frag_fail(c, rc, argv[optind]);
    }
    if (!attach) {
        int lfd;
        if ((rc = open_log(c, log, &lfd)) != CLI_OK) {
            spl_frag_unregister(c->s, name, 0);
            return rc;
        }
        spl_host_opts ho = {SPL_HOST_OPTS_VERSION, 0, name, lfd};
        int pid = spl_host_spawn(c->s, &ho);
        if (lfd > 2)
            close(lfd);
        if (pid < 0) {
            spl_frag_unregister(c->s, name, 0);
            return cli_fail_spl(c, pid, "starting a host");
        }
    }
    uint32_t want = (1u << SPL_FRAG_RUNNING) | (1u << SPL_FRAG_FAILED) | (1u << SPL_FRAG_DEAD);
    spl_frag_info fi;
    rc = spl_frag_wait(c->s, name, want, attach && wait_ms == FRAG_WAIT_MS ? 2000000000ll
                                                                          : (int64_t)wait_ms * 1000000,
                       &fi);
    if (rc == SPL_ETIMEDOUT && attach) {
        if (spl_frag_get(c->s, name, &fi) != 0)
            return cli_fail(c, CLI_STORE, "SPL_ENOENT", "insmod: '%s' vanished", name);
    } else if (rc < 0) {
        if (rc == SPL_ETIMEDOUT)
            spl_frag_unregister(c->s, name, 0);
        return cli_fail(c, CLI_STORE, spl_err_name(rc), "insmod: '%s' did not start: %s (%s)", name,
                        spl_strerror(rc), spl_err_name(rc));
    }
    if (fi.state == SPL_FRAG_FAILED || fi.state == SPL_FRAG_DEAD) {
        int err = fi.err ? fi.err : SPL_ENOHOST;
        char msg[sizeof fi.errmsg];
        snprintf(msg, sizeof msg, "%s", fi.errmsg[0] ? fi.errmsg : "its host died while starting it");
        spl_frag_unregister(c->s, name, 0);
        return cli_fail(c, cli_exit_of(err), spl_err_name(err), "insmod: '%s' did not start: %s (%s)", name,
                        msg, spl_err_name(err));
    }
    if (c->json)
        cli_json_out(c, info_json(&fi));
    else if (fi.state == SPL_FRAG_RUNNING)
        cli_printf(c, "%s: running (host pid %d)\n", fi.name, fi.host_pid);
    else
        cli_printf(c, "%s: %s, waiting for a host\n", fi.name, spl_frag_state_name(fi.state));
    return CLI_OK;
}

/* ---------------------------------------------------------------- rmmod */

int cmd_rmmod(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"purge", no_argument, 0, 'p'},
                                       {"wait", required_argument, 0, 'w'},
                                       {0, 0, 0, 0}};
    int ch, purge = 0, rc, worst = CLI_OK;
    uint64_t wait_ms = FRAG_WAIT_MS;
    while ((ch = getopt_long(argc, argv, "pw:", lo, NULL)) != -1) {
        if (ch == 'p')
            purge = 1;
        else if (ch == 'w') {
            if (cli_parse_u64(optarg, &wait_ms) != 0 || wait_ms > 3600000)
                return cli_usage(c, "bad --wait '%s'", optarg);
        } else
            return bad_opt(c, argv);
    }
    if (optind >= argc)
        return cli_usage(c, "rmmod NAME...");
    for (int i = optind; i < argc; i++) {
        rc = spl_frag_unregister(c->s, argv[i], (int64_t)wait_ms * 1000000);
        if (rc == SPL_ENOENT && purge) {
            /* not registered any more: --purge still removes what it left */
            int n = spl_frag_region_unlink(c->s, argv[i], NULL);
            if (n > 0) {
                if (c->json)
                    cli_json_out(c, json_pack("{s:s, s:b, s:i}", "name", argv[i], "removed", 0,
                                              "regions_removed", n));
                else
                    cli_printf(c, "%s: not registered; %d region%s removed\n", argv[i], n, n == 1 ? "" : "s");
                continue;
            }
        }
        if (rc < 0) {
            worst = frag_fail(c, rc, argv[i]);
            continue;
        }
        int purged = purge ? spl_frag_region_unlink(c->s, argv[i], NULL) : 0;
        if (c->json)
            cli_json_out(c, json_pack("{s:s, s:b, s:i}", "name", argv[i], "removed", 1, "regions_removed",
                                      purged > 0 ? purged : 0));
        else
            cli_printf(c, "%s: removed\n", argv[i]);
    }
    return worst;
}

/* ---------------------------------------------------------------- lsmod */

int cmd_lsmod(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"long", no_argument, 0, 'l'}, {0, 0, 0, 0}};
    int ch, lng = 0;
    while ((ch = getopt_long(argc, argv, "l", lo, NULL)) != -1) {
        if (ch == 'l')
            lng = 1;
        else
            return bad_opt(c, argv);
    }
    if (argc - optind > 1)
        return cli_usage(c, "lsmod [NAME]");
    spl_frag_info fi[SPL_FRAG_MAX];
    int n = spl_frag_list(c->s, fi, SPL_FRAG_MAX);
    if (n < 0)
        return cli_fail_spl(c, n, "lsmod");
    if (n > (int)SPL_FRAG_MAX)
        n = SPL_FRAG_MAX;
    const char *only = optind < argc ? argv[optind] : NULL;
    int shown = 0;
    if (!c->json && !only && !c->quiet)
        printf("%-16s %-10s %7s %10s %9s %6s %6s %6s %5s  %s\n", "NAME", "STATE", "PID", "EVENTS",
               "EV/S", "LAG", "ERRORS", "RESYNC", "HB_S", "LIBRARY ARGS");
    for (int i = 0; i < n; i++) {
        if (only && strcmp(only, fi[i].name) != 0)
            continue;
        shown++;
        if (c->json) {
            cli_json_out(c, info_json(&fi[i]));
            continue;
        }
        if (c->quiet)
            continue;
        char hb[16] = "-";
        if (fi[i].heartbeat_age_ns != UINT64_MAX && fi[i].state != SPL_FRAG_REGISTERED)
            snprintf(hb, sizeof hb, "%.1f", (double)fi[i].heartbeat_age_ns / 1e9);
        char pid[16] = "-";
        if (fi[i].host_pid)
            snprintf(pid, sizeof pid, "%d", fi[i].host_pid);
        printf("%-16s %-10s %7s %10" PRIu64 " %9.1f %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %5s  %s",
               fi[i].name, spl_frag_state_name(fi[i].state), pid, fi[i].events, fi[i].events_per_s,
               fi[i].lag, fi[i].errors, fi[i].resyncs, hb, fi[i].path);
        size_t p = 0;
        for (uint32_t a = 0; a < fi[i].argc; a++) {
            printf(" %s", fi[i].args + p);
            p += strlen(fi[i].args + p) + 1;
        }
        putchar('\n');
        if (fi[i].errmsg[0])
            printf("%-16s error: %s (%s)\n", "", fi[i].errmsg, spl_err_name(fi[i].err));
        if (lng)
            printf("%-16s version %s, abi %u, restarts %" PRIu64 ": %s\n", "", fi[i].version, fi[i].abi,
                   fi[i].restarts, fi[i].summary);
    }
    if (only && !shown)
        return cli_fail(c, CLI_NOTFOUND, "SPL_ENOENT", "no fragment '%s'", only);
    return CLI_OK;
}

/* ---------------------------------------------------------------- frag */

int cmd_frag(cli_ctx *c, int argc, char **argv)
{
    /* everything after NAME belongs to the fragment's command */
    if (argc < 3)
        return cli_usage(c, "frag NAME COMMAND [ARGS...]");
    char *reply = malloc(SPL_FRAG_REPLY_MAX + 1);
    if (!reply)
        return cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
    size_t len = 0;
    uint32_t ms = c->timeout_set ? c->timeout_ms : FRAG_CALL_MS;
    int rc = spl_frag_call(c->s, argv[1], argc - 2, (const char *const *)argv + 2, reply,
                           SPL_FRAG_REPLY_MAX + 1, &len, (int64_t)ms * 1000000);
    int code = CLI_OK;
    if (rc == SPL_ENOENT && spl_frag_errmsg()[0]) {
        code = frag_fail(c, rc, argv[1]);
    } else if (rc == SPL_ENOHOST || rc == SPL_ETIMEDOUT || rc == SPL_E2BIG || rc == SPL_EROFS) {
        code = frag_fail(c, rc, argv[1]);
    } else {
        if (!c->quiet && len) {
            fwrite(reply, 1, len, stdout);
            putchar('\n');
        }
        if (rc < 0) {
            code = cli_exit_of(rc);
            fprintf(stderr, "splinterctl: frag: %s %s: %s (%s)\n", argv[1], argv[2], spl_strerror(rc),
                    spl_err_name(rc));
        }
    }
    free(reply);
    return code;
}

/* ---------------------------------------------------------------- host */

static spl_store *host_store;
static void host_signal(int sig)
{
    (void)sig;
    spl_host_stop(host_store);
}

int cmd_host(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"only", required_argument, 0, 'o'},
                                       {"restart", no_argument, 0, 'r'},
                                       {"exit-idle", no_argument, 0, 'x'},
                                       {"daemonize", no_argument, 0, 'd'},
                                       {"log", required_argument, 0, 'L'},
                                       {0, 0, 0, 0}};
    int ch, rc, daemonize = 0;
    const char *log = NULL;
    spl_host_opts ho = {SPL_HOST_OPTS_VERSION, SPL_HOST_SERVE, NULL, 2};
    while ((ch = getopt_long(argc, argv, "o:rxd", lo, NULL)) != -1) {
        if (ch == 'o')
            ho.only = optarg;
        else if (ch == 'r')
            ho.flags |= SPL_HOST_RESTART;
        else if (ch == 'x')
            ho.flags &= ~(uint32_t)SPL_HOST_SERVE;
        else if (ch == 'd')
            daemonize = 1;
        else if (ch == 'L')
            log = optarg;
        else
            return bad_opt(c, argv);
    }
    if (optind < argc)
        return cli_usage(c, "host takes no arguments");
    int lfd = 2;
    if (log && (rc = open_log(c, log, &lfd)) != CLI_OK)
        return rc;
    if (daemonize) {
        if (!log)
            lfd = -1;
        ho.log_fd = lfd;
        int pid = spl_host_spawn(c->s, &ho);
        if (lfd > 2)
            close(lfd);
        if (pid < 0)
            return cli_fail_spl(c, pid, "starting a host");
        if (c->json)
            cli_json_out(c, json_pack("{s:i}", "host_pid", pid));
        else
            cli_printf(c, "host pid %d\n", pid);
        return CLI_OK;
    }
    ho.log_fd = lfd;
    host_store = c->s;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = host_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = spl_host_run(c->s, &ho);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (lfd > 2)
        close(lfd);
    if (rc < 0)
        return frag_fail(c, rc, "host");
    return CLI_OK;
}
