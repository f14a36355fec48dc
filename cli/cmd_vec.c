/*
 * cmd_vec.c - vector commands: search (exact top-k by a stored key or a
 * vector given as JSON) and vector get/set/clear.  docs/VECTORS.md.
 * Vectors travel as JSON arrays of numbers; output gives each element as
 * the shortest decimal that reads back as the same float32.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef SPLCTL_WITH_HNSW
#define SPLCTL_WITH_HNSW 0
#endif
#if SPLCTL_WITH_HNSW
#include "hnsw.h" /* fragments/hnsw: search --ann maps the store's index */
#endif

static int bad_opt(cli_ctx *c, char **argv)
{
    return cli_usage(c, "unknown or incomplete option '%s'", argv[optind - 1]);
}

/* The store's vec_dim, or a usage error for a store without vectors. */
static int need_vectors(cli_ctx *c, uint32_t *dim)
{
    *dim = cli_vec_dim(c);
    if (!*dim)
        return cli_fail(c, CLI_USAGE, "SPL_ENOTSUP",
                        "this store holds no vectors (vec_dim 0) (SPL_ENOTSUP)");
    return CLI_OK;
}

/* ---------------------------------------------------------------- search */

int cmd_search(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"key", required_argument, 0, 'K'},    {"vector", required_argument, 0, 'v'},
        {"k", required_argument, 0, 'k'},      {"metric", required_argument, 0, 'm'},
        {"label", required_argument, 0, 'l'},  {"any", no_argument, 0, 'a'},          {"prefix", required_argument, 0, 'p'},
        {"threads", required_argument, 0, 't'}, {"ann", no_argument, 0, 'A'},
        {"ef", required_argument, 0, 'e'},     {0, 0, 0, 0}};
    static const char *const metrics[] = {"cosine", "dot", "l2"};
    spl_vec_query q = {.k = 10, .metric = SPL_METRIC_COSINE};
    const char *vec_arg = NULL;
    uint64_t v, mask;
    int ch, rc;
    while ((ch = getopt_long(argc, argv, "K:v:k:m:l:ap:t:", lo, NULL)) != -1) {
        switch (ch) {
        case 'K': q.key = optarg; break;
        case 'v': vec_arg = optarg; break;
        case 'k':
            if (cli_parse_u64(optarg, &v) != 0 || v == 0 || v > SPL_VEC_K_LIMIT)
                return cli_usage(c, "bad --k '%s' (1..%u)", optarg, SPL_VEC_K_LIMIT);
            q.k = (uint32_t)v;
            break;
        case 'm':
            for (v = 0; v < 3 && strcmp(metrics[v], optarg) != 0; v++) {}
            if (v == 3)
                return cli_usage(c, "unknown metric '%s' (cosine dot l2)", optarg);
            q.metric = (spl_metric)v;
            break;
        case 'l':
            if ((rc = cli_label_mask(c, optarg, &mask)) != CLI_OK)
                return rc;
            q.labels |= mask;
            break;
        case 'a': q.flags |= SPL_F_LABELS_ANY; break;
        case 'p': q.prefix = optarg; break;
        case 't':
            if (cli_parse_u64(optarg, &v) != 0 || v > 64)
                return cli_usage(c, "bad --threads '%s' (0..64)", optarg);
            q.threads = (uint32_t)v;
            break;
        case 'A': q.flags |= SPL_VQ_ANN; break;
        case 'e':
            if (cli_parse_u64(optarg, &v) != 0 || v == 0 || v > 100000)
                return cli_usage(c, "bad --ef '%s' (1..100000)", optarg);
            q.ef = (uint32_t)v;
            break;
        default: return bad_opt(c, argv);
        }
    }
    if (optind != argc || !q.key == !vec_arg)
        return cli_usage(c, "search --key KEY | --vector JSON|-|@FILE");
    uint32_t dim;
    if ((rc = need_vectors(c, &dim)) != CLI_OK)
        return rc;
    float *qv = NULL;
    if (vec_arg) {
        if ((rc = cli_vec_parse(c, vec_arg, dim, &qv)) != CLI_OK)
            return rc;
        q.vec = qv;
        q.dim = dim;
    } else {
        q.flags |= SPL_VQ_SKIP_SELF;
    }
    void *ann = NULL;
#if SPLCTL_WITH_HNSW
    /* --ann: map the store's HNSW index and offer it to spl_vec_search,
     * which falls back to the exact scan when there is none or it lags */
    char region[4096];
    if ((q.flags & SPL_VQ_ANN) && hnsw_path(c->store, region, sizeof region) > 0 &&
        hnsw_open_reader((hnsw_index **)&ann, c->s, region) == 0)
        hnsw_provide(ann);
#endif
    spl_vec_result *r;
    CLI_RETRY(c, rc, spl_vec_search(c->s, &q, &r));
    free(qv);
#if SPLCTL_WITH_HNSW
    hnsw_close(ann);
#endif
    (void)ann;
    if (rc == 0 && (q.flags & SPL_VQ_ANN) && !(r->flags & SPL_VR_ANN) && !c->quiet && !c->json)
        fprintf(stderr, "search: no live ANN index for this store: exact scan\n");
    if (rc < 0)
        return cli_fail_spl(c, rc, q.key ? q.key : "search");
    for (uint32_t i = 0; i < r->n; i++) {
        const spl_vec_hit *h = &r->hits[i];
        if (c->json) {
            json_t *score = cli_vec_json(&h->score, 1);
            json_t *o = json_pack("{s:i, s:O, s:I}", "rank", i + 1, "score", json_array_get(score, 0),
                                  "epoch", (json_int_t)h->epoch);
            if (q.flags & SPL_VQ_ANN) /* which search answered */
                json_object_set_new(o, "ann", json_boolean(r->flags & SPL_VR_ANN));
            cli_json_out(c, cli_json_key(h->key, o));
            json_decref(score);
        } else if (!c->quiet) {
            printf("%.6f\t", (double)h->score);
            cli_put_escaped(stdout, h->key, h->key_len);
            putchar('\n');
        }
    }
    spl_vec_result_free(r);
    return CLI_OK;
}

/* ---------------------------------------------------------------- vector */

static int vector_get(cli_ctx *c, const char *key, uint32_t dim)
{
    float *v = malloc(dim * sizeof *v);
    if (!v)
        return cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
    uint64_t epoch;
    int rc;
    CLI_RETRY(c, rc, spl_vec_get(c->s, key, v, dim, &epoch));
    if (rc < 0) {
        free(v);
        return cli_fail_spl(c, rc, key);
    }
    json_t *a = cli_vec_json(v, dim);
    free(v);
    if (c->json)
        cli_json_out(c, cli_json_key(key, json_pack("{s:I, s:I, s:o}", "epoch", (json_int_t)epoch,
                                                     "dim", (json_int_t)dim, "vector", a)));
    else
        cli_json_out(c, a); /* the array itself */
    return CLI_OK;
}

int cmd_vector(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{0, 0, 0, 0}};
    if (getopt_long(argc, argv, "", lo, NULL) != -1)
        return bad_opt(c, argv);
    int n = argc - optind, rc;
    const char *verb = n ? argv[optind] : "";
    int set = strcmp(verb, "set") == 0;
    if (!(set ? n == 3 : n == 2 && (!strcmp(verb, "get") || !strcmp(verb, "clear"))))
        return cli_usage(c, "vector get KEY | vector set KEY JSON|-|@FILE | vector clear KEY");
    const char *key = argv[optind + 1];
    uint32_t dim;
    if ((rc = need_vectors(c, &dim)) != CLI_OK)
        return rc;
    if (!strcmp(verb, "get"))
        return vector_get(c, key, dim);
    if (set) {
        float *v;
        if ((rc = cli_vec_parse(c, argv[optind + 2], dim, &v)) != CLI_OK)
            return rc;
        CLI_RETRY(c, rc, spl_vec_set(c->s, key, v, dim));
        free(v);
    } else {
        CLI_RETRY(c, rc, spl_vec_clear(c->s, key));
    }
    if (rc < 0)
        return cli_fail_spl(c, rc, key);
    spl_meta m;
    if (c->json && spl_meta_get(c->s, key, &m) == 0)
        cli_json_out(c, cli_json_key(key, json_pack("{s:b, s:s, s:I}", "ok", 1, "op",
                                                     set ? "vector set" : "vector clear",
                                                     "epoch", (json_int_t)m.epoch)));
    else if (c->json)
        cli_json_out(c, cli_json_key(key, json_pack("{s:b}", "ok", 1)));
    else if (c->interactive)
        cli_printf(c, "ok\n");
    return CLI_OK;
}
