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
#include "embedder.h"

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

/* The value of NAME=VALUE among a registered fragment's arguments. */
static const char *frag_arg(const spl_frag_info *fi, const char *name)
{
    const char *a = fi->args;
    size_t n = strlen(name);
    for (uint32_t i = 0; i < fi->argc && a < fi->args + sizeof fi->args; i++, a += strlen(a) + 1)
        if (strncmp(a, name, n) == 0 && a[n] == '=')
            return a + n + 1;
    return NULL;
}

/* Embed text as a query with the embedder and settings of fragment `frag`
 * (registered in the store; absent: the default embedder, no prefix). */
static int embed_query(cli_ctx *c, const char *frag, const char *text, uint32_t dim, float **out)
{
    spl_frag_info fi;
    int have = spl_frag_get(c->s, frag, &fi) == 0;
    const char *kind = have ? frag_arg(&fi, "embedder") : NULL;
    const char *mt = have ? frag_arg(&fi, "max_tokens") : NULL;
    const char *qp = have ? frag_arg(&fi, "query_prefix") : NULL;
    const char *th = have ? frag_arg(&fi, "threads") : NULL;
    emb_embedder *e;
    char err[320];
    if (emb_open_ex(kind, have ? frag_arg(&fi, "model") : NULL, mt ? (uint32_t)strtoul(mt, NULL, 10) : 0,
                    th ? (uint32_t)strtoul(th, NULL, 10) : 0, &e, err, sizeof err) != 0)
        return cli_fail(c, CLI_USAGE, "SPL_ENOTSUP", "%s", err);
    if (emb_check_dim(e, dim, err, sizeof err) != 0) {
        emb_close(e);
        return cli_fail(c, CLI_USAGE, "SPL_EDIM", "%s", err);
    }
    float *v = malloc(dim * sizeof *v);
    int n = v ? e->embed(e, qp ? qp : e->query_prefix, text, strlen(text), v, dim) : -12;
    emb_close(e);
    if (n <= 0) {
        free(v);
        return cli_fail(c, CLI_USAGE, "SPL_EINVAL", "nothing to embed in the query text");
    }
    *out = v;
    return CLI_OK;
}

int cmd_search(cli_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"key", required_argument, 0, 'K'},    {"vector", required_argument, 0, 'v'},
        {"k", required_argument, 0, 'k'},      {"metric", required_argument, 0, 'm'},
        {"label", required_argument, 0, 'l'},  {"any", no_argument, 0, 'a'},          {"prefix", required_argument, 0, 'p'},
        {"threads", required_argument, 0, 't'}, {"text", required_argument, 0, 'T'},
        {"frag", required_argument, 0, 'F'},    {0, 0, 0, 0}};
    static const char *const metrics[] = {"cosine", "dot", "l2"};
    spl_vec_query q = {.k = 10, .metric = SPL_METRIC_COSINE};
    const char *vec_arg = NULL, *text = NULL, *frag = "embed";
    uint64_t v, mask;
    int ch, rc;
    while ((ch = getopt_long(argc, argv, "K:v:k:m:l:ap:t:T:F:", lo, NULL)) != -1) {
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
        case 'T': text = optarg; break;
        case 'F': frag = optarg; break;
        case 't':
            if (cli_parse_u64(optarg, &v) != 0 || v > 64)
                return cli_usage(c, "bad --threads '%s' (0..64)", optarg);
            q.threads = (uint32_t)v;
            break;
        default: return bad_opt(c, argv);
        }
    }
    if (optind != argc || (q.key != NULL) + (vec_arg != NULL) + (text != NULL) != 1)
        return cli_usage(c, "search --key KEY | --vector JSON|-|@FILE | --text TEXT");
    uint32_t dim;
    if ((rc = need_vectors(c, &dim)) != CLI_OK)
        return rc;
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
    spl_vec_result *r;
    CLI_RETRY(c, rc, spl_vec_search(c->s, &q, &r));
    free(qv);
    if (rc < 0)
        return cli_fail_spl(c, rc, q.key ? q.key : "search");
    for (uint32_t i = 0; i < r->n; i++) {
        const spl_vec_hit *h = &r->hits[i];
        if (c->json) {
            json_t *score = cli_vec_json(&h->score, 1);
            cli_json_out(c, cli_json_key(h->key, json_pack("{s:i, s:O, s:I}", "rank", i + 1,
                                                           "score", json_array_get(score, 0),
                                                           "epoch", (json_int_t)h->epoch)));
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
