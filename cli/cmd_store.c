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
#ifndef SPL_WITH_NUMA
#define SPL_WITH_NUMA 0
#endif

static const char *const numa_names[] = {"default", "bind", "interleave", "preferred", "local"};

/* Nodes 0..63 as a JSON array. */
static json_t *nodes_json(uint64_t mask)
{
    json_t *a = json_array();
    for (unsigned n = 0; n < 64; n++)
        if (mask >> n & 1)
            json_array_append_new(a, json_integer(n));
    return a;
}

/* Where the pages are (spl_info's placement fields): "numa" is null where
 * nothing is known (a build without NUMA). */
static json_t *placement_json(const spl_info *in)
{
    json_t *numa = json_null();
    if (in->numa_mode >= 0 || in->numa_sampled) {
        json_t *pages = json_object();
        for (unsigned n = 0; n < SPL_NUMA_NODES_MAX; n++) {
            char name[4];
            snprintf(name, sizeof name, "%u", n);
            if (in->numa_pages[n])
                json_object_set_new(pages, name, json_integer(in->numa_pages[n]));
        }
        numa = json_pack("{s:s, s:o, s:I, s:I, s:o}", "policy",
                         in->numa_mode >= 0 && in->numa_mode < SPL__NUMA_MODE_COUNT
                             ? numa_names[in->numa_mode]
                             : "other",
                         "nodes", nodes_json(in->numa_nodes), "sampled",
                         (json_int_t)in->numa_sampled, "absent", (json_int_t)in->numa_absent,
                         "pages", pages);
    }
    return json_pack("{s:I, s:b, s:o}", "page_bytes", (json_int_t)in->page_bytes, "huge",
                     in->page_bytes > 65536 ? 1 : 0, "numa", numa);
}

/* The placement line of `info`. */
static void placement_text(json_t *pl, char *buf, size_t cap)
{
    json_t *numa = json_object_get(pl, "numa");
    size_t o = 0;
    int k = snprintf(buf, cap, "pages of %" JSON_INTEGER_FORMAT " bytes%s; ",
                     json_integer_value(json_object_get(pl, "page_bytes")),
                     json_is_true(json_object_get(pl, "huge")) ? " (huge)" : "");
    o = k > 0 && (size_t)k < cap ? (size_t)k : cap - 1;
    if (json_is_null(numa)) {
        snprintf(buf + o, cap - o, "NUMA: not in this build (WITH_NUMA=1)");
        return;
    }
    k = snprintf(buf + o, cap - o, "NUMA policy %s",
                 json_string_value(json_object_get(numa, "policy")));
    o += k > 0 && (size_t)k < cap - o ? (size_t)k : 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(numa, "nodes"), i, v) {
        k = snprintf(buf + o, cap - o, "%s%" JSON_INTEGER_FORMAT, i ? "," : " ",
                     json_integer_value(v));
        o += k > 0 && (size_t)k < cap - o ? (size_t)k : 0;
    }
    k = snprintf(buf + o, cap - o, "; pages sampled %" JSON_INTEGER_FORMAT ":",
                 json_integer_value(json_object_get(numa, "sampled")));
    o += k > 0 && (size_t)k < cap - o ? (size_t)k : 0;
    const char *node;
    json_object_foreach(json_object_get(numa, "pages"), node, v) {
        k = snprintf(buf + o, cap - o, " node%s=%" JSON_INTEGER_FORMAT, node,
                     json_integer_value(v));
        o += k > 0 && (size_t)k < cap - o ? (size_t)k : 0;
    }
    snprintf(buf + o, cap - o, ", not in memory %" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(numa, "absent")));
}

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
    json_t *j = json_pack(
        "{s:s, s:s, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:f,"
        " s:b, s:{s:I, s:o}, s:{s:b}, s:{s:s, s:b, s:s, s:b, s:b}, s:o, s:I, s:I, s:I, s:I}",
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
        spl_vec_simd(), "lua", SPLCTL_WITH_LUA, "numa", SPL_WITH_NUMA, "placement",
        placement_json(&in), "probe_max", (json_int_t)in.probe_max, "cells", (json_int_t)in.cells,
        "cells_used", (json_int_t)in.cells_used, "resident_bytes", (json_int_t)in.resident_bytes);
    if (j) { /* format 3: exact capacity, the index apart, undo records */
        json_object_set_new(j, "capacity", json_integer((json_int_t)in.capacity));
        json_object_set_new(j, "free", json_integer((json_int_t)in.free));
        json_object_set_new(j, "index_words", json_integer((json_int_t)in.index_words));
        json_object_set_new(j, "undo_records", json_integer((json_int_t)in.undo_recs));
    }
    return j;
}

static void print_store(cli_ctx *c, json_t *j)
{
    if (c->json) {
        cli_json_out(c, j);
        return;
    }
    json_t *g = json_object_get(j, "geometry");
    json_t *pulses = json_object_get(json_object_get(j, "signals"), "pulses");
    char plist[1024] = "none", place[1024];
    placement_text(json_object_get(j, "placement"), place, sizeof place);
    /* resident bytes per vector: the whole store's memory in use over its
     * vectors, what a vector really costs here */
    char per_vec[96] = "";
    json_int_t nvec = json_integer_value(json_object_get(j, "cells_used"));
    if (nvec > 0)
        snprintf(per_vec, sizeof per_vec, ", %.0f resident bytes per vector",
                 (double)json_integer_value(json_object_get(j, "resident_bytes")) / (double)nvec);
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
               "memory      %" JSON_INTEGER_FORMAT " bytes mapped, %" JSON_INTEGER_FORMAT
               " resident (%" JSON_INTEGER_FORMAT " per slot, %" JSON_INTEGER_FORMAT
               " per vector cell)\n"
               "vectors     %" JSON_INTEGER_FORMAT " cells, %" JSON_INTEGER_FORMAT
               " holding a vector, %" JSON_INTEGER_FORMAT " used so far (high-water mark)%s\n"
               "used        %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " keys (%"
               JSON_INTEGER_FORMAT " slots free), load %.3f\n"
               "epochs      highest %" JSON_INTEGER_FORMAT ", changes %" JSON_INTEGER_FORMAT
               "\n"
               "recoveries  %" JSON_INTEGER_FORMAT "\n"
               "probes      longest %" JSON_INTEGER_FORMAT " of at most %" JSON_INTEGER_FORMAT
               " (index words past the home), mean %.2f; index of %" JSON_INTEGER_FORMAT " words\n"
               "undo        %" JSON_INTEGER_FORMAT " records (writers overwriting at once)\n"
               "signals     pulses %s (groups with a subscriber while they pulsed)\n"
               "placement   %s\n"
               "build       splinterctl %s, embeddings %s, simd %s, lua %s, numa %s%s\n",
               json_string_value(json_object_get(j, "store")),
               json_string_value(json_object_get(j, "backing")),
               json_integer_value(json_object_get(g, "slots")),
               json_integer_value(json_object_get(g, "key_max")),
               json_integer_value(json_object_get(g, "value_size")),
               json_integer_value(json_object_get(g, "vec_dim")),
               json_integer_value(json_object_get(j, "region_bytes")),
               json_integer_value(json_object_get(j, "resident_bytes")),
               json_integer_value(json_object_get(j, "slot_bytes")),
               json_integer_value(json_object_get(j, "cell_bytes")),
               json_integer_value(json_object_get(j, "cells")),
               json_integer_value(json_object_get(j, "cells_used")),
               json_integer_value(json_object_get(j, "cells_high")), per_vec,
               json_integer_value(json_object_get(j, "used")),
               json_integer_value(json_object_get(j, "capacity")),
               json_integer_value(json_object_get(j, "free")),
               json_real_value(json_object_get(j, "load")),
               json_integer_value(json_object_get(j, "epoch_max")),
               json_integer_value(json_object_get(j, "changes")),
               json_integer_value(json_object_get(j, "recoveries")),
               json_integer_value(json_object_get(j, "probe_longest")),
               json_integer_value(json_object_get(j, "probe_max")),
               json_real_value(json_object_get(j, "probe_mean")),
               json_integer_value(json_object_get(j, "index_words")),
               json_integer_value(json_object_get(j, "undo_records")), plist, place,
               SPLCTL_VERSION_STRING, SPL_WITH_EMBEDDINGS ? "on" : "off", spl_vec_simd(),
               SPLCTL_WITH_LUA ? "on" : "off", SPL_WITH_NUMA ? "on" : "off",
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

/* --numa SPEC: default | local | bind:NODES | interleave:NODES | preferred:N,
 * NODES a list of N and N-M (0..63), e.g. 0,2-3. */
static int parse_numa(cli_ctx *c, const char *spec, spl_options *o)
{
    static const char *const usage = "--numa '%s': bind:NODES, interleave:NODES, preferred:N, "
                                     "local or default (NODES: 0, 0-1, 0,2-3; nodes 0..63)";
    const char *colon = strchr(spec, ':');
    size_t kl = colon ? (size_t)(colon - spec) : strlen(spec);
    int mode = -1;
    for (int m = 0; m < SPL__NUMA_MODE_COUNT; m++)
        if (strlen(numa_names[m]) == kl && strncmp(spec, numa_names[m], kl) == 0)
            mode = m;
    if (kl == 4 && strncmp(spec, "none", 4) == 0)
        mode = SPL_NUMA_DEFAULT;
    int wants_nodes =
        mode == SPL_NUMA_BIND || mode == SPL_NUMA_INTERLEAVE || mode == SPL_NUMA_PREFERRED;
    if (mode < 0 || wants_nodes != (colon != NULL))
        return cli_usage(c, usage, spec);
    uint64_t nodes = 0;
    for (const char *p = colon ? colon + 1 : ""; colon;) {
        char *end;
        if (*p < '0' || *p > '9')
            return cli_usage(c, usage, spec);
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        if (*end == '-') {
            if (end[1] < '0' || end[1] > '9')
                return cli_usage(c, usage, spec);
            hi = strtoul(end + 1, &end, 10);
        }
        if (lo > hi || hi > 63)
            return cli_usage(c, usage, spec);
        for (unsigned long n = lo; n <= hi; n++)
            nodes |= 1ull << n;
        if (*end == 0)
            break;
        if (*end != ',')
            return cli_usage(c, usage, spec);
        p = end + 1;
    }
    if (mode == SPL_NUMA_PREFERRED && (nodes & (nodes - 1)))
        return cli_usage(c, "--numa '%s': preferred takes one node", spec);
    o->numa_mode = (uint32_t)mode;
    o->numa_nodes = nodes;
    return CLI_OK;
}

/* --huge[=SIZE]: the default huge page size, or 2M, 1G, or bytes. */
static int parse_huge(cli_ctx *c, const char *arg, uint32_t *out)
{
    if (!arg) {
        *out = SPL_HUGE_DEFAULT;
        return CLI_OK;
    }
    char *end;
    unsigned long long v = strtoull(arg, &end, 10);
    char u = (char)(*end | 0x20); /* k, m, g in either case */
    int shift = u == 'k' ? 10 : u == 'm' ? 20 : u == 'g' ? 30 : 0;
    if (shift)
        end++;
    if (end == arg || *end || v == 0 || v > (UINT32_MAX >> shift))
        return cli_usage(c, "--huge=%s: a huge page size such as 2M or 1G", arg);
    *out = (uint32_t)(v << shift);
    if (*out < 65536 || (*out & (*out - 1)))
        return cli_usage(c, "--huge=%s: a huge page size such as 2M or 1G", arg);
    return CLI_OK;
}

int cmd_init(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"slots", required_argument, 0, 'S'},      {"key-max", required_argument, 0, 'K'},
        {"value-size", required_argument, 0, 'V'}, {"vec-dim", required_argument, 0, 'D'},
        {"mode", required_argument, 0, 'M'},       {"backing", required_argument, 0, 'B'},
        {"if-missing", no_argument, 0, 'I'},       {"numa", required_argument, 0, 'N'},
        {"huge", optional_argument, 0, 'H'},       {"cells", required_argument, 0, 'C'},
        {0, 0, 0, 0}};
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
        case 'C': if ((rc = parse_u32(c, "--cells", optarg, &o.vec_cells))) return rc; break;
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
        case 'N': if ((rc = parse_numa(c, optarg, &o))) return rc; break;
        case 'H': if ((rc = parse_huge(c, optarg, &o.huge_pages))) return rc; break;
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
        int code = (rc == SPL_EFORMAT || rc == SPL_ENAME || rc == SPL_EMODE || rc == SPL_EINVAL ||
                    rc == SPL_ENODE || rc == SPL_ENOTSUP)
                       ? CLI_USAGE : CLI_STORE;
        const char *hint = rc == SPL_ENOHUGE ? "; --huge needs a PATH on a hugetlbfs mount (or "
                                               "SPLINTER_SHM_DIR there) with free huge pages"
                           : rc == SPL_ENOTSUP && o.numa_mode ? "; --numa needs a WITH_NUMA=1 build"
                           : rc == SPL_ENODE ? "; see numactl -H for the nodes" : "";
        return cli_fail(c, code, spl_err_name(rc), "store '%s': %s (%s)%s", c->store,
                        spl_strerror(rc), spl_err_name(rc), hint);
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
