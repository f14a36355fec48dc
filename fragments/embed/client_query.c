/*
 * client_query.c - embed a query text the way a store's embed fragment
 * embeds its documents (embedder.h, emb_query): for splinterctl search
 * --text and the Lua binding's search_text.  Not part of embed.so (it
 * calls the library: fragments do not link it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedder.h"
#include "splinter.h"

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

int emb_query(struct spl_store *s, const char *frag, const char *text, uint32_t dim, float **out, char *err,
              size_t cap)
{
    spl_frag_info fi;
    int have = spl_frag_get(s, frag && *frag ? frag : "embed", &fi) == 0;
    const char *mt = have ? frag_arg(&fi, "max_tokens") : NULL;
    const char *qp = have ? frag_arg(&fi, "query_prefix") : NULL;
    const char *th = have ? frag_arg(&fi, "threads") : NULL;
    /* one text: no batch to speak of */
    emb_opts o = {have ? frag_arg(&fi, "model") : NULL, mt ? (uint32_t)strtoul(mt, NULL, 10) : 0,
                  th ? (uint32_t)strtoul(th, NULL, 10) : 0, 1, 0};
    emb_embedder *e;
    if (emb_open_opts(have ? frag_arg(&fi, "embedder") : NULL, &o, &e, err, cap) != 0)
        return SPL_ENOTSUP;
    if (emb_check_dim(e, dim, err, cap) != 0) {
        emb_close(e);
        return SPL_EDIM;
    }
    float *v = malloc(dim * sizeof *v);
    int n = v ? e->embed(e, qp ? qp : e->query_prefix, text, strlen(text), v, dim) : -12;
    emb_close(e);
    if (n <= 0) {
        free(v);
        if (n == -12)
            return snprintf(err, cap, "out of memory"), SPL_ENOMEM;
        snprintf(err, cap, n == 0 ? "nothing to embed in the query text" : "the embedder failed (%d)", n);
        return SPL_EINVAL;
    }
    *out = v;
    return 0;
}
