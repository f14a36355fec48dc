/*
 * cmd_signal.c - signal commands: watch (stream the changes of a key, a
 * group or a label through a subscription), bind (label bits to groups),
 * bump (pulse a key's groups, or groups directly).  docs/SIGNALS.md.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define WATCH_GROUP_DEFAULT 63

static int bad_opt(cli_ctx *c, char **argv)
{
    return cli_usage(c, "unknown or incomplete option '%s'", argv[optind - 1]);
}

/* A label that names exactly one bit. */
static int label_bit(cli_ctx *c, const char *spec, unsigned *bit)
{
    uint64_t m;
    int rc = cli_label_mask(c, spec, &m);
    if (rc != CLI_OK)
        return rc;
    if (!m || (m & (m - 1)))
        return cli_usage(c, "label '%s' must be one bit", spec);
    *bit = (unsigned)__builtin_ctzll(m);
    return CLI_OK;
}

/* ---------------------------------------------------------------- watch */

static volatile sig_atomic_t watch_stop;
static void watch_sigint(int sig)
{
    (void)sig;
    watch_stop = 1;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case SPL_EV_CHANGED: return "changed";
    case SPL_EV_DELETED: return "deleted";
    case SPL_EV_BUMPED: return "bumped";
    case SPL_EV_SIGNAL: return "signal";
    default: return "unknown";
    }
}

/* A signal, or a change the feed can no longer name, has no key. */
static int ev_has_key(const spl_event *ev)
{
    return ev->kind != SPL_EV_SIGNAL && ev->kind != SPL_EV_UNKNOWN;
}

/* An event as JSON: the key (null where it has none), kind, epoch, groups,
 * seq. */
static json_t *watch_json(const spl_event *ev, const char *key)
{
    int has_key = ev_has_key(ev);
    json_t *rest = json_pack("{s:s, s:I, s:o, s:I}", "kind", kind_name(ev->kind), "epoch",
                             (json_int_t)ev->epoch, "groups", cli_groups_json(ev->groups), "seq",
                             (json_int_t)ev->seq);
    if (has_key)
        return cli_json_key(key, rest);
    json_t *j = json_pack("{s:n}", "key");
    json_object_update(j, rest);
    json_decref(rest);
    return j;
}

static void watch_show(cli_ctx *c, const spl_event *ev, const char *key)
{
    if (c->json) {
        cli_json_out(c, watch_json(ev, key));
    } else if (!c->quiet) {
        if (ev_has_key(ev))
            cli_put_escaped(stdout, key, ev->key_len);
        else
            putchar('-');
        printf("\t%s\t%" PRIu64 "\n", kind_name(ev->kind), ev->epoch);
    }
    fflush(stdout);
}

#define WATCH_LOST_MSG "events lost (a change's key is no longer known), rescan"

/* watch KEY: a change the feed can no longer name (SPL_EV_UNKNOWN).  Told
 * like a lapped feed: a line on stderr, or with --json the event as
 * --group shows it ("key":null, "kind":"unknown") and a "message". */
static void watch_lost(cli_ctx *c, const spl_event *ev)
{
    if (c->json) {
        json_t *j = watch_json(ev, NULL);
        json_object_set_new(j, "message", json_string(WATCH_LOST_MSG));
        cli_json_out(c, j);
        fflush(stdout);
    } else {
        fprintf(stderr, "splinterctl: watch: " WATCH_LOST_MSG "\n");
    }
}

int cmd_watch(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"group", required_argument, 0, 'g'},
                                       {"label", required_argument, 0, 'l'},
                                       {"count", required_argument, 0, 'c'},
                                       {0, 0, 0, 0}};
    uint64_t group = 1ull << WATCH_GROUP_DEFAULT, count = 0;
    const char *label = NULL;
    int ch, rc, group_given = 0;
    while ((ch = getopt_long(argc, argv, "g:l:c:", lo, NULL)) != -1) {
        if (ch == 'g') {
            if ((rc = cli_group_mask(c, optarg, &group)) != CLI_OK)
                return rc;
            group_given = 1;
        } else if (ch == 'l') {
            label = optarg;
        } else if (ch == 'c') {
            if (cli_parse_u64(optarg, &count) != 0 || count == 0)
                return cli_usage(c, "bad --count '%s'", optarg);
        } else {
            return bad_opt(c, argv);
        }
    }
    if (argc - optind > 1 || (optind < argc && label))
        return cli_usage(c, "watch KEY | --label LABEL | --group G");
    const char *key = optind < argc ? argv[optind] : NULL;
    if (!key && !label && !group_given)
        return cli_usage(c, "what to watch: KEY, --label LABEL or --group G");
    unsigned bit = 0;
    if (label && (rc = label_bit(c, label, &bit)) != CLI_OK)
        return rc;
    unsigned g = (unsigned)__builtin_ctzll(group);

    /* subscribe first: every change after the watch or bind is then seen */
    spl_sub *u;
    if ((rc = spl_sub_open(c->s, group, &u)) < 0)
        return cli_fail_spl(c, rc, "watch");
    if (key)
        CLI_RETRY(c, rc, key, 1, spl_watch(c->s, key, group));
    else if (label)
        rc = spl_bind(c->s, bit, group);
    if (rc < 0) {
        spl_sub_close(u);
        return cli_fail_spl(c, rc, key ? key : "bind");
    }
    if (!c->quiet) {
        if (key || label)
            fprintf(stderr, "watching %s%s (group %u); Ctrl-C to stop\n", key ? "" : "label ",
                    key ? key : label, g);
        else
            fprintf(stderr, "watching group %u; Ctrl-C to stop\n", g);
        fflush(stderr);
    }

    size_t cap = (size_t)SPL_KEY_MAX_LIMIT + 1;
    char *evkey = malloc(cap);
    struct sigaction sa = {.sa_handler = watch_sigint}, old;
    sigemptyset(&sa.sa_mask);
    watch_stop = 0;
    sigaction(SIGINT, &sa, &old);
    uint64_t deadline = c->timeout_set ? mono_ms() + c->timeout_ms : 0, seen = 0;
    rc = evkey ? 0 : SPL_ENOMEM;
    while (rc == 0 && !watch_stop && (!count || seen < count)) {
        uint64_t now = mono_ms(), slice = 100; /* ms: Ctrl-C is checked between */
        if (deadline && now >= deadline)
            break;
        if (deadline && deadline - now < slice)
            slice = deadline - now;
        int w = spl_sub_wait(u, (int64_t)slice * 1000000, NULL);
        if (w == SPL_ETIMEDOUT)
            continue;
        if (w < 0) {
            rc = w;
            break;
        }
        spl_event ev;
        int n;
        while ((!count || seen < count) && (n = spl_sub_next(u, &ev, evkey, cap)) != SPL_ENOENT) {
            if (n == SPL_EOVERFLOW) {
                if (c->json)
                    cli_json_out(c, json_pack("{s:s, s:s}", "kind", "overflow", "message",
                                              "events lost, rescan"));
                else
                    fprintf(stderr, "splinterctl: watch: events lost, rescan\n");
                fflush(stdout);
                continue;
            }
            if (n < 0) {
                rc = n;
                break;
            }
            if (key && ev.kind == SPL_EV_UNKNOWN) {
                /* a change of the group whose slot has moved on since: it
                 * may have been KEY's, so say so (not counted as a change) */
                watch_lost(c, &ev);
                continue;
            }
            if (key && (ev.kind == SPL_EV_SIGNAL || strcmp(evkey, key) != 0))
                continue;
            watch_show(c, &ev, evkey);
            seen++;
        }
    }
    sigaction(SIGINT, &old, NULL);
    spl_sub_close(u);
    free(evkey);
    if (watch_stop && c->interactive)
        fputc('\n', stderr); /* the prompt after "^C" on a line of its own */
    if (rc < 0)
        return cli_fail_spl(c, rc, "watch");
    if (count && seen < count && !watch_stop)
        return CLI_NOTFOUND; /* --timeout came before --count events */
    return CLI_OK;
}

/* ---------------------------------------------------------------- bind */

static void bind_show(cli_ctx *c, unsigned bit, uint64_t groups)
{
    const char *name = cli_label_name(c, bit);
    if (c->json) {
        json_t *j = json_pack("{s:i, s:o}", "bit", bit, "groups", cli_groups_json(groups));
        json_object_set_new(j, "label", name ? json_string(name) : json_integer(bit));
        cli_json_out(c, j);
        return;
    }
    if (name)
        cli_printf(c, "%s (%u)\t", name, bit);
    else
        cli_printf(c, "%u\t", bit);
    for (unsigned g = 0, first = 1; g < SPL_GROUPS; g++)
        if (groups >> g & 1) {
            cli_printf(c, "%s%u", first ? "" : ",", g);
            first = 0;
        }
    cli_printf(c, "%s\n", groups ? "" : "-");
}

int cmd_bind(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"clear", no_argument, 0, 'x'}, {0, 0, 0, 0}};
    int ch, rc, clear = 0;
    while ((ch = getopt_long(argc, argv, "x", lo, NULL)) != -1) {
        if (ch != 'x')
            return bad_opt(c, argv);
        clear = 1;
    }
    int n = argc - optind;
    uint64_t groups;
    if (n == 0) { /* every bound label */
        if (clear)
            return cli_usage(c, "bind --clear LABEL [GROUP...]");
        for (unsigned b = 0; b < 64; b++) {
            if ((rc = spl_bind_get(c->s, b, &groups)) < 0)
                return cli_fail_spl(c, rc, "bind");
            if (groups)
                bind_show(c, b, groups);
        }
        return CLI_OK;
    }
    unsigned bit;
    if ((rc = label_bit(c, argv[optind], &bit)) != CLI_OK)
        return rc;
    if (n == 1 && !clear) {
        if ((rc = spl_bind_get(c->s, bit, &groups)) < 0)
            return cli_fail_spl(c, rc, "bind");
        bind_show(c, bit, groups);
        return CLI_OK;
    }
    uint64_t mask = n == 1 ? ~0ull : 0, one; /* --clear LABEL: every group */
    for (int i = optind + 1; i < argc; i++) {
        if ((rc = cli_group_mask(c, argv[i], &one)) != CLI_OK)
            return rc;
        mask |= one;
    }
    rc = clear ? spl_unbind(c->s, bit, mask) : spl_bind(c->s, bit, mask);
    if (rc == 0)
        rc = spl_bind_get(c->s, bit, &groups);
    if (rc < 0)
        return cli_fail_spl(c, rc, "bind");
    if (c->json || c->interactive)
        bind_show(c, bit, groups);
    return CLI_OK;
}

/* ---------------------------------------------------------------- bump */

int cmd_bump(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"group", required_argument, 0, 'g'}, {0, 0, 0, 0}};
    uint64_t groups = 0, one;
    int ch, rc;
    while ((ch = getopt_long(argc, argv, "g:", lo, NULL)) != -1) {
        if (ch != 'g')
            return bad_opt(c, argv);
        if ((rc = cli_group_mask(c, optarg, &one)) != CLI_OK)
            return rc;
        groups |= one;
    }
    if ((optind == argc) == !groups)
        return cli_usage(c, "bump KEY... | bump --group G...");
    if (groups) {
        if ((rc = spl_signal(c->s, groups)) < 0)
            return cli_fail_spl(c, rc, "bump");
        if (c->json)
            cli_json_out(c, json_pack("{s:b, s:s, s:o}", "ok", 1, "op", "signal", "groups",
                                      cli_groups_json(groups)));
        else if (c->interactive)
            cli_printf(c, "ok\n");
        return CLI_OK;
    }
    for (int i = optind; i < argc; i++) {
        CLI_RETRY(c, rc, argv[i], 0, spl_bump(c->s, argv[i])); /* bump reads the key */
        if (rc < 0)
            return cli_fail_spl(c, rc, argv[i]);
        if (c->json)
            cli_json_out(c, cli_json_key(argv[i], json_pack("{s:b, s:s}", "ok", 1, "op", "bump")));
    }
    if (!c->json && c->interactive)
        cli_printf(c, "ok\n");
    return CLI_OK;
}
