/*
 * hnsw_tool.c - splinter-hnsw: inspect the HNSW index of a store (the one
 * the hnsw fragment keeps, with --frag), or keep one by hand without a
 * fragment host.
 *
 *   splinter-hnsw build  STORE [--m M] [--efc EF] [--metric cosine|dot|l2] [--format f16|f32] [--rebuild]
 *   splinter-hnsw sync   STORE
 *   splinter-hnsw stat   STORE [--json] [--frag NAME]
 *   splinter-hnsw check  STORE [--frag NAME]
 *   splinter-hnsw path   STORE
 *   common: --region PATH (default: hnsw_path(STORE)), --quiet
 *
 * build: open the index at the region path as its writer: created, rebuilt
 * (missing, another store's, other parameters, a rebuild cut short,
 * --rebuild) or repaired (its writer died mid-change), then synced;
 * progress on stderr.  sync: catch up once.  An index kept current is the
 * fragment's job (`splinterctl insmod hnsw`, README.md).
 * stat, check --frag NAME: the region of the registered fragment NAME
 * (read-only; its host may be running).
 * Exit status: 0, 1 (error), 2 (usage), 3 (check found violations).
 */
#include "hnsw.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

static int quiet;
static double t_start;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int progress(uint64_t done, uint64_t total, void *ud)
{
    (void)ud;
    if (quiet)
        return stop ? SPL_ETIMEDOUT : 0;
    double t = now_s() - t_start;
    fprintf(stderr, "\rhnsw: %" PRIu64 "/%" PRIu64 " keys (%3.0f%%) %.0f keys/s  ", done, total,
            total ? 100.0 * (double)done / (double)total : 100.0, t > 0 ? done / t : 0.0);
    if (done >= total)
        fputc('\n', stderr);
    return stop ? SPL_ETIMEDOUT : 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: splinter-hnsw build|sync|stat|check|path STORE [--region PATH]\n"
                    "         [--m M] [--efc EF] [--metric cosine|dot|l2] [--format f16|f32] [--rebuild]\n"
                    "         [--frag NAME] (stat, check: the hnsw fragment's region)\n"
                    "         [--json] [--quiet]\n");
    return 2;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "splinter-hnsw: %s: %s (%s)\n", what, spl_strerror(rc), spl_err_name(rc));
    return 1;
}

static void print_stat(const hnsw_stat *st, const char *region, int json)
{
    static const char *const states[] = {"empty", "building", "ready"};
    static const char *const metrics[] = {"cosine", "dot", "l2"};
    const char *state = st->state < 3 ? states[st->state] : "?";
    const char *metric = (unsigned)st->metric < 3 ? metrics[st->metric] : "?";
    if (json) {
        printf("{\"region\":\"%s\",\"state\":\"%s\",\"nodes\":%u,\"dim\":%u,\"m\":%u,\"ef_construction\":%u,"
               "\"format\":\"%s\",\"metric\":\"%s\",\"top_level\":%u,\"live\":%" PRIu64 ",\"deleted\":%" PRIu64 ",\"applied\":%" PRIu64
               ",\"lag\":%" PRIu64 ",\"generation\":%" PRIu64 ",\"build_done\":%" PRIu64 ",\"build_total\":%" PRIu64
               ",\"region_bytes\":%" PRIu64 ",\"node_stride\":%" PRIu64 ",\"pool_used\":%" PRIu64
               ",\"pool_lists\":%" PRIu64 ",\"writer_alive\":%s,\"dirty\":%s}\n",
               region, state, st->nodes, st->dim, st->m, st->ef_construction, st->format == HNSW_F16 ? "f16" : "f32",
               metric, st->top_level, st->live,
               st->deleted, st->applied, st->lag, st->generation, st->build_done, st->build_total, st->region_bytes,
               st->node_stride, st->pool_used, st->pool_lists, st->writer_alive ? "true" : "false",
               st->dirty ? "true" : "false");
        return;
    }
    printf("region     %s\n", region);
    printf("state      %s%s%s\n", state, st->writer_alive ? ", writer alive" : ", no writer",
           st->dirty ? ", dirty" : "");
    printf("graph      %" PRIu64 " live, %" PRIu64 " tombstones, top level %u, M %u (level 0: %u), efC %u, %s, "
           "%s copies\n",
           st->live, st->deleted, st->top_level, st->m, st->m0, st->ef_construction, metric,
           st->format == HNSW_F16 ? "f16" : "f32");
    printf("store      %u slots, dim %u; applied change %" PRIu64 ", lag %" PRIu64 "\n", st->nodes, st->dim,
           st->applied, st->lag);
    if (st->state == HNSW_STATE_BUILDING)
        printf("progress   %" PRIu64 "/%" PRIu64 "\n", st->build_done, st->build_total);
    printf("memory     %" PRIu64 " bytes reserved, %" PRIu64 " per node, upper lists %" PRIu64 "/%" PRIu64 "\n",
           st->region_bytes, st->node_stride, st->pool_used, st->pool_lists);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    const char *cmd = argv[1], *name = argv[2], *region = NULL, *frag = NULL;
    hnsw_params p;
    hnsw_params_init(&p);
    int json = 0, rebuild = 0;
    static const struct option lo[] = {{"region", 1, 0, 'r'}, {"m", 1, 0, 'm'},       {"efc", 1, 0, 'e'},
                                       {"metric", 1, 0, 'M'}, {"rebuild", 0, 0, 'R'}, {"json", 0, 0, 'j'},
                                       {"quiet", 0, 0, 'q'},  {"frag", 1, 0, 'F'},       {"format", 1, 0, 'f'},
                                       {0, 0, 0, 0}};
    optind = 3;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'r': region = optarg; break;
        case 'm': p.m = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'e': p.ef_construction = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'M':
            if (!strcmp(optarg, "cosine"))
                p.metric = SPL_METRIC_COSINE;
            else if (!strcmp(optarg, "dot"))
                p.metric = SPL_METRIC_DOT;
            else if (!strcmp(optarg, "l2"))
                p.metric = SPL_METRIC_L2;
            else
                return usage();
            break;
        case 'R': rebuild = 1; break;
        case 'f':
            if (!strcmp(optarg, "f16"))
                p.format = HNSW_F16;
            else if (!strcmp(optarg, "f32"))
                p.format = HNSW_F32;
            else
                return usage();
            break;
        case 'j': json = 1; break;
        case 'q': quiet = 1; break;
        case 'F': frag = optarg; break;
        default: return usage();
        }
    }
    if (optind != argc)
        return usage();
    char path[4096];
    if (!region) {
        int rc = hnsw_path(name, path, sizeof path);
        if (rc < 0)
            return fail("region path", rc);
        region = path;
    }
    if (!strcmp(cmd, "path")) {
        printf("%s\n", region);
        return 0;
    }
    spl_options o;
    spl_options_init(&o);
    int writer = !strcmp(cmd, "build") || !strcmp(cmd, "sync");
    if ((!writer && strcmp(cmd, "stat") && strcmp(cmd, "check")) || (writer && frag))
        return usage();
    if (!writer)
        o.flags |= SPL_O_RDONLY;
    spl_store *s;
    int rc = spl_open(&s, name, &o);
    if (rc)
        return fail(name, rc);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    hnsw_index *x = NULL;
    int ret = 0;
    if (writer) {
        t_start = now_s();
        uint32_t flags = rebuild ? HNSW_OPEN_REBUILD : 0;
        rc = hnsw_open_writer(&x, s, region, &p, flags, progress, NULL);
        if (rc) {
            ret = fail(region, rc);
            goto out;
        }
        if (!quiet) {
            hnsw_stat st;
            hnsw_stat_get(x, &st);
            fprintf(stderr, "hnsw: %s ready: %" PRIu64 " vectors, %" PRIu64 " tombstones (%.2f s)\n", region, st.live,
                    st.deleted, now_s() - t_start);
        }
    } else {
        char label[128];
        if (frag) {
            snprintf(label, sizeof label, "fragment %s", frag);
            region = label;
            rc = hnsw_frag_open(&x, s, frag, 0);
        } else {
            rc = hnsw_open_reader(&x, s, region);
        }
        if (rc) {
            ret = fail(region, rc);
            goto out;
        }
        if (!strcmp(cmd, "stat")) {
            hnsw_stat st;
            hnsw_stat_get(x, &st);
            print_stat(&st, region, json);
        } else {
            int bad = hnsw_check(x, 1);
            if (!quiet)
                printf("%d violation%s\n", bad, bad == 1 ? "" : "s");
            ret = bad ? 3 : 0;
        }
    }
out:
    hnsw_close(x);
    spl_close(s);
    return ret;
}
