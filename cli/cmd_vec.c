/*
 * cmd_vec.c - vector commands: search (exact top-k by a stored key or a
 * vector given as JSON, or many queries from JSON Lines in one pass of the
 * store: spl_vec_search_many) and vector get/set/clear.  docs/VECTORS.md.
 * Vectors travel as JSON arrays of numbers; output gives each element as
 * the shortest decimal that reads back as the same float32.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "embedder.h"

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

/* Embed text as a query with the embedder and settings of fragment `frag`
 * (registered in the store; absent: the default embedder, no prefix). */
static int embed_query(cli_ctx *c, const char *frag, const char *text, uint32_t dim, float **out)
{
    char err[320];
    int rc = emb_query(c->s, frag, text, dim, out, err, sizeof err);
    if (rc)
        return cli_fail(c, CLI_USAGE, spl_err_name(rc), "%s", err);
    return CLI_OK;
}

#define QUERY_BATCH 256u /* queries per spl_vec_search_many call */

/* The hits of one result: text "SCORE<TAB>KEY" (prefixed by "QUERY<TAB>"
 * for --queries), or a JSON line per hit with rank, score, epoch and slot
 * (the key's stable numeric id while it lives) and "query" for --queries. */
static void print_hits(cli_ctx *c, const spl_vec_result *r, long query, int ann)
{
    for (uint32_t i = 0; i < r->n; i++) {
        const spl_vec_hit *h = &r->hits[i];
        if (c->json) {
            json_t *score = cli_vec_json(&h->score, 1);
            json_t *o = json_pack("{s:i, s:O, s:I, s:I}", "rank", i + 1, "score",
                                  json_array_get(score, 0), "epoch", (json_int_t)h->epoch, "slot",
                                  (json_int_t)h->slot);
            if (query >= 0)
                json_object_set_new(o, "query", json_integer(query));
            if (ann) /* which search answered */
                json_object_set_new(o, "ann", json_boolean(r->flags & SPL_VR_ANN));
            cli_json_out(c, cli_json_key(h->key, o));
            json_decref(score);
        } else if (!c->quiet) {
            if (query >= 0)
                printf("%ld\t", query);
            printf("%.6f\t", (double)h->score);
            cli_put_escaped(stdout, h->key, h->key_len);
            putchar('\n');
        }
    }
}

/* One batch of --queries: searched together; on an error, one by one to
 * name the query (its line) that failed. */
static int run_queries(cli_ctx *c, spl_vec_query *qs, uint32_t n, const unsigned long *lines,
                       long first)
{
    spl_vec_result *rs[QUERY_BATCH];
    int rc;
    CLI_RETRY(c, rc, NULL, 0, spl_vec_search_many(c->s, qs, n, rs));
    if (rc == 0) {
        for (uint32_t j = 0; j < n; j++) {
            print_hits(c, rs[j], first + (long)j, 0);
            spl_vec_result_free(rs[j]);
        }
        return CLI_OK;
    }
    for (uint32_t j = 0; j < n; j++) {
        spl_vec_result *r;
        CLI_RETRY(c, rc, NULL, 0, spl_vec_search(c->s, &qs[j], &r));
        if (rc < 0) {
            char what[64];
            snprintf(what, sizeof what, "query on line %lu", lines[j]);
            return cli_fail_spl(c, rc, what);
        }
        spl_vec_result_free(r);
    }
    return cli_fail_spl(c, rc, "search");
}

/* search --queries FILE|-: JSON Lines, each a vector (an array), or an
 * object with "vector" or "key" (a stored vector: the key itself is left
 * out of its hits, as with --key).  Every query shares the options. */
static int search_queries(cli_ctx *c, const spl_vec_query *t, const char *path, uint32_t dim)
{
    FILE *in;
    int code = cli_stream_open(c, path, 0, &in);
    if (code != CLI_OK)
        return code;
    spl_vec_query qs[QUERY_BATCH];
    unsigned long lines[QUERY_BATCH];
    float *vecs = malloc((size_t)QUERY_BATCH * dim * sizeof *vecs);
    char *keys[QUERY_BATCH] = {0};
    char *line = NULL;
    size_t cap = 0;
    unsigned long lineno = 0;
    long done = 0;
    uint32_t n = 0;
    if (!vecs)
        code = cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
    while (code == CLI_OK && getline(&line, &cap, in) >= 0) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] == 0)
            continue;
        json_error_t err;
        json_t *o = json_loads(line, JSON_DECODE_ANY, &err), *v = NULL, *k = NULL;
        char what[64];
        snprintf(what, sizeof what, "line %lu: the vector", lineno);
        qs[n] = *t;
        lines[n] = lineno;
        if (!o)
            code = cli_fail(c, CLI_USAGE, "BAD_JSON", "line %lu: %s", lineno, err.text);
        else if (json_is_array(o))
            v = o;
        else if (json_is_object(o) && (v = json_object_get(o, "vector")) == NULL &&
                 !json_is_string(k = json_object_get(o, "key")))
            code = cli_fail(c, CLI_USAGE, "BAD_INPUT", "line %lu: a query is an array, or an "
                            "object with \"vector\" or \"key\"", lineno);
        else if (!json_is_object(o))
            code = cli_fail(c, CLI_USAGE, "BAD_INPUT", "line %lu: not a query", lineno);
        if (code == CLI_OK && v) {
            code = cli_vec_from_json(c, v, dim, vecs + (size_t)n * dim, what);
            qs[n].vec = vecs + (size_t)n * dim;
            qs[n].dim = dim;
        } else if (code == CLI_OK) {
            keys[n] = strdup(json_string_value(k));
            qs[n].key = keys[n];
            qs[n].flags |= SPL_VQ_SKIP_SELF;
            if (!keys[n])
                code = cli_fail(c, CLI_STORE, "SPL_ENOMEM", "out of memory");
        }
        json_decref(o);
        if (code == CLI_OK && ++n == QUERY_BATCH) {
            code = run_queries(c, qs, n, lines, done);
            done += n;
            for (uint32_t j = 0; j < n; j++) {
                free(keys[j]);
                keys[j] = NULL;
            }
            n = 0;
        }
    }
    if (code == CLI_OK && n)
        code = run_queries(c, qs, n, lines, done);
    for (uint32_t j = 0; j < QUERY_BATCH; j++)
        free(keys[j]);
    free(vecs);
    free(line);
    cli_stream_close(in);
    return code;
}

int cmd_search(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"key", required_argument, 0, 'K'},    {"vector", required_argument, 0, 'v'},
        {"k", required_argument, 0, 'k'},      {"metric", required_argument, 0, 'm'},
        {"label", required_argument, 0, 'l'},  {"any", no_argument, 0, 'a'},          {"prefix", required_argument, 0, 'p'},
        {"threads", required_argument, 0, 't'}, {"text", required_argument, 0, 'T'},
        {"frag", required_argument, 0, 'F'},    {"queries", required_argument, 0, 'Q'},
        {"ann", no_argument, 0, 'A'},           {"ef", required_argument, 0, 'e'},
        {0, 0, 0, 0}};
    static const char *const metrics[] = {"cosine", "dot", "l2"};
    spl_vec_query q = {.k = 10, .metric = SPL_METRIC_COSINE};
    const char *vec_arg = NULL, *text = NULL, *frag = "embed", *queries = NULL;
    uint64_t v, mask;
    int ch, rc;
    while ((ch = getopt_long(argc, argv, "K:v:k:m:l:ap:t:T:F:Q:Ae:", lo, NULL)) != -1) {
        switch (ch) {
        case 'Q': queries = optarg; break;
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
        case 'T': text = optarg; break;
        case 'F': frag = optarg; break;
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
    if (optind != argc || (q.key != NULL) + (vec_arg != NULL) + (text != NULL) + (queries != NULL) != 1)
        return cli_usage(c, "search --key KEY | --vector JSON|-|@FILE | --text TEXT | --queries FILE|-");
    uint32_t dim;
    if ((rc = need_vectors(c, &dim)) != CLI_OK)
        return rc;
    if (queries)
        return search_queries(c, &q, queries, dim);
    float *qv = NULL;
    if (vec_arg) {
        if ((rc = cli_vec_parse(c, vec_arg, dim, &qv)) != CLI_OK)
            return rc;
        q.vec = qv;
        q.dim = dim;
    } else if (text) {
        if ((rc = embed_query(c, frag, text, dim, &qv)) != CLI_OK)
            return rc;
        q.vec = qv;
        q.dim = dim;
    } else {
        q.flags |= SPL_VQ_SKIP_SELF;
    }
    void *ann = NULL;
#if SPLCTL_WITH_HNSW
    /* --ann: spl_vec_search finds the index of the running hnsw fragment
     * (insmod hnsw) by itself.  Without one, an index `splinter-hnsw build`
     * made beside the store is offered to it.  Either way the exact scan
     * answers when there is none, it is being built or it lags. */
    char region[4096];
    spl_frag_info fi;
    if ((q.flags & SPL_VQ_ANN) && spl_frag_get(c->s, "hnsw", &fi) == SPL_ENOENT &&
        hnsw_path(c->store, region, sizeof region) > 0 &&
        hnsw_open_reader((hnsw_index **)&ann, c->s, region) == 0)
        hnsw_provide(ann);
#endif
    spl_vec_result *r;
    CLI_RETRY(c, rc, NULL, 0, spl_vec_search(c->s, &q, &r));
    free(qv);
#if SPLCTL_WITH_HNSW
    hnsw_close(ann);
#endif
    (void)ann;
    if (rc == 0 && (q.flags & SPL_VQ_ANN) && !(r->flags & SPL_VR_ANN) && !c->quiet && !c->json)
        fprintf(stderr, "search: no live ANN index for this store: exact scan\n");
    if (rc < 0)
        return cli_fail_spl(c, rc, q.key ? q.key : "search");
    print_hits(c, r, -1, (q.flags & SPL_VQ_ANN) != 0);
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
    CLI_RETRY(c, rc, key, 0, spl_vec_get(c->s, key, v, dim, &epoch));
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
        CLI_RETRY(c, rc, key, 1, spl_vec_set(c->s, key, v, dim));
        free(v);
    } else {
        CLI_RETRY(c, rc, key, 1, spl_vec_clear(c->s, key));
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
