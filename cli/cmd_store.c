/*
 * cmd_store.c - store lifecycle commands: init/create, use/open, info,
 * destroy.
 */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "cli.h"

#ifndef SPLCTL_WITH_LUA
#define SPLCTL_WITH_LUA 0
#endif

static const char *backing_name(spl_backing b)
{
    switch (b) {
    case SPL_BACKING_SHM: return "shm";
    case SPL_BACKING_FILE: return "file";
    case SPL_BACKING_MEMFD: return "memfd";
    default: return "auto";
    }
}

static int max_epoch_fn(const spl_entry *e, void *ud)
{
    uint64_t *m = ud;
    if (e->meta.epoch > *m)
        *m = e->meta.epoch;
    return 0;
}

/* The store's description, shared by init, use and info. */
static json_t *store_json(cli_ctx *c, int *rc_out)
{
    spl_info in;
    int rc = spl_info_get(c->s, &in);
    *rc_out = rc;
    if (rc < 0)
        return NULL;
    uint64_t epoch_max = 0;
    rc = spl_foreach(c->s, NULL, max_epoch_fn, &epoch_max);
    if (rc < 0) {
        *rc_out = rc;
        return NULL;
    }
    json_t *pulses = json_object();
    for (unsigned g = 0; g < SPL_GROUPS; g++) {
        uint64_t n;
        char name[4];
        if (spl_pulses(c->s, g, &n) == 0 && n) {
            snprintf(name, sizeof name, "%u", g);
            json_object_set_new(pulses, name, json_integer((json_int_t)n));
        }
    }
    return json_pack(
        "{s:s, s:s, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:f,"
        " s:b, s:{s:I, s:o}, s:{s:b}, s:{s:s, s:b, s:s, s:b}}",
        "store", c->store, "backing", backing_name(in.backing), "geometry", "slots",
        (json_int_t)in.geom.slots, "key_max", (json_int_t)in.geom.key_max, "value_size",
        (json_int_t)in.geom.val_max, "vec_dim", (json_int_t)in.geom.vec_dim, "slot_bytes",
        (json_int_t)in.slot_stride, "cell_bytes", (json_int_t)in.cell_stride, "cells_high",
        (json_int_t)in.cells_high, "region_bytes", (json_int_t)in.region_bytes, "used",
        (json_int_t)in.used, "load", in.load, "epoch_max", (json_int_t)epoch_max, "changes",
        (json_int_t)in.changes, "recoveries", (json_int_t)in.recoveries, "probe_longest",
        (json_int_t)in.probe_longest, "probe_mean", in.probe_mean, "read_only", in.read_only,
        "signals", "changes", (json_int_t)in.changes, "pulses", pulses,
        "store_features", "embeddings", (in.features & SPL_FEAT_EMBEDDINGS) != 0, "build",
        "version", SPLCTL_VERSION_STRING, "embeddings", SPL_WITH_EMBEDDINGS, "simd",
        spl_vec_simd(), "lua", SPLCTL_WITH_LUA);
}

static void print_store(cli_ctx *c, json_t *j)
{
    if (c->json) {
        cli_json_out(c, j);
        return;
    }
    json_t *g = json_object_get(j, "geometry");
    json_t *pulses = json_object_get(json_object_get(j, "signals"), "pulses");
    char plist[1024] = "none";
    size_t o = 0;
    const char *gname;
    json_t *n;
    json_object_foreach(pulses, gname, n) {
        int k = snprintf(plist + o, sizeof plist - o, "%sg%s=%" JSON_INTEGER_FORMAT,
                         o ? " " : "", gname, json_integer_value(n));
        if (k < 0 || (size_t)k >= sizeof plist - o)
            break;
        o += (size_t)k;
    }
    cli_printf(c,
               "store       %s (%s)\n"
               "geometry    %" JSON_INTEGER_FORMAT " slots, key_max %" JSON_INTEGER_FORMAT
               ", value_size %" JSON_INTEGER_FORMAT ", vec_dim %" JSON_INTEGER_FORMAT "\n"
               "memory      %" JSON_INTEGER_FORMAT " bytes (%" JSON_INTEGER_FORMAT
               " per slot, %" JSON_INTEGER_FORMAT " per vector cell)\n"
               "vectors     %" JSON_INTEGER_FORMAT " cells used so far (high-water mark)\n"
               "used        %" JSON_INTEGER_FORMAT " keys, load %.3f\n"
               "epochs      highest %" JSON_INTEGER_FORMAT ", changes %" JSON_INTEGER_FORMAT
               "\n"
               "recoveries  %" JSON_INTEGER_FORMAT "\n"
               "probes      longest %" JSON_INTEGER_FORMAT ", mean %.2f\n"
               "signals     pulses %s (groups with a subscriber while they pulsed)\n"
               "build       splinterctl %s, embeddings %s, simd %s, lua %s%s\n",
               json_string_value(json_object_get(j, "store")),
               json_string_value(json_object_get(j, "backing")),
               json_integer_value(json_object_get(g, "slots")),
               json_integer_value(json_object_get(g, "key_max")),
               json_integer_value(json_object_get(g, "value_size")),
               json_integer_value(json_object_get(g, "vec_dim")),
               json_integer_value(json_object_get(j, "region_bytes")),
               json_integer_value(json_object_get(j, "slot_bytes")),
               json_integer_value(json_object_get(j, "cell_bytes")),
               json_integer_value(json_object_get(j, "cells_high")),
               json_integer_value(json_object_get(j, "used")),
               json_real_value(json_object_get(j, "load")),
               json_integer_value(json_object_get(j, "epoch_max")),
               json_integer_value(json_object_get(j, "changes")),
               json_integer_value(json_object_get(j, "recoveries")),
               json_integer_value(json_object_get(j, "probe_longest")),
               json_real_value(json_object_get(j, "probe_mean")), plist, SPLCTL_VERSION_STRING,
               SPL_WITH_EMBEDDINGS ? "on" : "off", spl_vec_simd(), SPLCTL_WITH_LUA ? "on" : "off",
               json_is_true(json_object_get(j, "read_only")) ? ", read-only" : "");
    json_decref(j);
}

static int describe(cli_ctx *c)
{
    int rc;
    json_t *j = store_json(c, &rc);
    if (!j)
        return cli_fail(c, CLI_STORE, spl_err_name(rc), "info: %s (%s)", spl_strerror(rc),
                        spl_err_name(rc));
    print_store(c, j);
    return CLI_OK;
}

static int parse_u32(cli_ctx *c, const char *opt, const char *v, uint32_t *out)
{
    uint64_t x;
    if (cli_parse_u64(v, &x) != 0 || x > UINT32_MAX)
        return cli_usage(c, "bad %s '%s'", opt, v);
    *out = (uint32_t)x;
    return CLI_OK;
}

int cmd_init(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"slots", required_argument, 0, 'S'},      {"key-max", required_argument, 0, 'K'},
        {"value-size", required_argument, 0, 'V'}, {"vec-dim", required_argument, 0, 'D'},
        {"mode", required_argument, 0, 'M'},       {"backing", required_argument, 0, 'B'},
        {"if-missing", no_argument, 0, 'I'},       {0, 0, 0, 0}};
    spl_options o;
    spl_options_init(&o);
    int ch, rc, if_missing = 0;
    uint32_t mode = 0;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'S': if ((rc = parse_u32(c, "--slots", optarg, &o.geom.slots))) return rc; break;
        case 'K': if ((rc = parse_u32(c, "--key-max", optarg, &o.geom.key_max))) return rc; break;
        case 'V': if ((rc = parse_u32(c, "--value-size", optarg, &o.geom.val_max))) return rc; break;
        case 'D': if ((rc = parse_u32(c, "--vec-dim", optarg, &o.geom.vec_dim))) return rc; break;
        case 'M':
            if ((rc = parse_u32(c, "--mode", optarg, &mode)))
                return rc;
            o.mode = mode;
            if (mode & 070)
                o.flags |= SPL_O_GROUP;
            break;
        case 'B':
            if (strcmp(optarg, "shm") == 0)
                o.backing = SPL_BACKING_SHM;
            else if (strcmp(optarg, "file") == 0)
                o.backing = SPL_BACKING_FILE;
            else
                return cli_usage(c, "backing '%s': shm or file (a memfd store is anonymous: "
                                    "create it from a program and pass its fd)", optarg);
            break;
        case 'I': if_missing = 1; break;
        default: return cli_usage(c, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return cli_usage(c, "one store name at most");
    if (optind < argc) {
        if (strlen(argv[optind]) >= sizeof c->store)
            return cli_usage(c, "store name too long");
        cli_close(c);
        snprintf(c->store, sizeof c->store, "%s", argv[optind]);
    }
    if (!c->store[0])
        return cli_usage(c, "no store name: give NAME|PATH or --store");
    cli_close(c);
    rc = if_missing ? spl_open_or_create(&c->s, c->store, &o) : spl_create(&c->s, c->store, &o);
    if (rc < 0) {
        c->s = NULL;
        int code = (rc == SPL_EFORMAT || rc == SPL_ENAME || rc == SPL_EMODE || rc == SPL_EINVAL)
                       ? CLI_USAGE : CLI_STORE;
        return cli_fail(c, code, spl_err_name(rc), "store '%s': %s (%s)", c->store,
                        spl_strerror(rc), spl_err_name(rc));
    }
    return describe(c);
}

int cmd_use(cli_ctx *c, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage(c, "use NAME|PATH");
    if (strlen(argv[1]) >= sizeof c->store)
        return cli_usage(c, "store name too long");
    char prev[sizeof c->store];
    snprintf(prev, sizeof prev, "%s", c->store);
    spl_store *old = c->s;
    c->s = NULL;
    snprintf(c->store, sizeof c->store, "%s", argv[1]);
    int rc = cli_open(c);
    if (rc != CLI_OK) { /* keep the previous store */
        snprintf(c->store, sizeof c->store, "%s", prev);
        c->s = old;
        return rc;
    }
    spl_close(old);
    return describe(c);
}

int cmd_info(cli_ctx *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return cli_usage(c, "info takes no arguments");
    return describe(c);
}

int cmd_destroy(cli_ctx *c, int argc, char **argv)
{
    if (argc > 2)
        return cli_usage(c, "one store name at most");
    const char *name = argc == 2 ? argv[1] : c->store;
    if (!name[0])
        return cli_usage(c, "no store name: give NAME|PATH or --store");
    char copy[sizeof c->store];
    snprintf(copy, sizeof copy, "%s", name);
    int rc = spl_destroy(copy, NULL);
    if (rc < 0)
        return cli_fail(c, rc == SPL_ENAME ? CLI_USAGE : CLI_STORE, spl_err_name(rc),
                        "store '%s': %s (%s)", copy, spl_strerror(rc), spl_err_name(rc));
    if (strcmp(copy, c->store) == 0) {
        cli_close(c);
        c->store[0] = 0;
    }
    if (c->json)
        cli_json_out(c, json_pack("{s:b, s:s}", "ok", 1, "destroyed", copy));
    else
        cli_printf(c, "destroyed %s\n", copy);
    return CLI_OK;
}
