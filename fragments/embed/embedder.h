/*
 * embedder.h - text to vector, for the embed fragment and splinterctl.
 *
 * An embedder is a small table of functions (emb_embedder) behind one
 * constructor, emb_open(kind, ...).  Kinds:
 *   "hash"   the default: deterministic and model-free (feature hashing of
 *            lower-cased words and character 3-grams into `dim` buckets,
 *            each signed by a second hash, L2-normalised).  Adapts to any
 *            dimension; no prefixes by default.
 *   "llama"  a GGUF embedding model run by llama.cpp (CPU; only in a
 *            WITH_LLAMA=1 build, else emb_open says so).  Its dimension is
 *            the model's n_embd, checked against the store's vec_dim;
 *            default prefixes "search_document: " / "search_query: ";
 *            max_tokens counts model tokens (the input is also cut to the
 *            model's context, keeping the final separator).  Texts given
 *            together (embed_batch) go through one llama_encode call per
 *            `batch` texts (each its own sequence, mean-pooled apart),
 *            within the context's token budget.
 * The same kind and settings must embed documents and queries: the
 * fragment records its arguments in the store's registry, and splinterctl
 * search --text reads them from there.
 */
#ifndef SPL_EMBEDDER_H
#define SPL_EMBEDDER_H

#include <stddef.h>
#include <stdint.h>

#define EMB_DEFAULT_KIND "hash"

typedef struct emb_embedder emb_embedder;
struct emb_embedder {
    const char *kind;       /* "hash", ... */
    uint32_t dim;           /* the dimension it produces; 0: any (adapts) */
    uint32_t max_tokens;    /* words taken from a text (0: no limit) */
    const char *doc_prefix; /* default prefixes of this kind ("" none) */
    const char *query_prefix;
    /* Embed text[len] (prefix first, may be NULL) into out[dim], L2-
     * normalised.  Returns the number of tokens used (0: nothing to embed,
     * out is all zeros), or a negative error (-22: dim not producible). */
    int (*embed)(emb_embedder *e, const char *prefix, const char *text, size_t len, float *out,
                 uint32_t dim);
    void (*close)(emb_embedder *e);
    void *impl;
    /* Embed n texts (the same prefix first) into out[i * dim ...], each
     * L2-normalised; ntok[i] gets the tokens of text i (0: nothing to
     * embed, its vector all zeros).  Returns 0, or a negative error for
     * the whole call.  NULL: one embed call per text (emb_embed_batch). */
    int (*embed_batch)(emb_embedder *e, const char *prefix, const char *const *text, const size_t *len,
                       size_t n, float *out, uint32_t dim, int *ntok);
    uint32_t batch;        /* texts per model call (1: one at a time) */
    uint32_t batch_tokens; /* tokens per model call (0: no model) */
};

/* Settings of emb_open_opts (zero: the defaults). */
typedef struct emb_opts {
    const char *model;     /* model file (model-backed kinds) */
    uint32_t max_tokens;   /* tokens (hash: words) taken from a text; 0: all */
    uint32_t threads;      /* model threads; 0: the library's default */
    uint32_t batch;        /* texts per model call; 0: EMB_DEFAULT_BATCH */
    uint32_t batch_tokens; /* tokens per model call; 0: max(a text's limit, EMB_DEFAULT_BATCH_TOKENS) */
} emb_opts;

#define EMB_DEFAULT_BATCH 16
#define EMB_MAX_BATCH 256 /* llama.cpp's sequences per context */
#define EMB_DEFAULT_BATCH_TOKENS 2048

/* Open an embedder of `kind` (NULL: EMB_DEFAULT_KIND); model: a model path
 * for model-backed kinds (NULL for "hash").  Returns 0, or -1 with a reason
 * in err[cap]. */
int emb_open(const char *kind, const char *model, uint32_t max_tokens, emb_embedder **out,
             char *err, size_t cap);
/* The same, with a thread count for model-backed kinds (0: the library's
 * default). */
int emb_open_ex(const char *kind, const char *model, uint32_t max_tokens, uint32_t threads,
                emb_embedder **out, char *err, size_t cap);
/* The same, with every setting. */
int emb_open_opts(const char *kind, const emb_opts *o, emb_embedder **out, char *err, size_t cap);
void emb_close(emb_embedder *e);
/* e->embed_batch, or one e->embed per text when it has none. */
int emb_embed_batch(emb_embedder *e, const char *prefix, const char *const *text, const size_t *len,
                    size_t n, float *out, uint32_t dim, int *ntok);
/* 0 if e can produce vectors of `dim` elements, else -1 with a reason. */
int emb_check_dim(const emb_embedder *e, uint32_t dim, char *err, size_t cap);
/* Embed `text` as a query the way fragment `frag` (NULL: "embed")
 * registered in store s embeds its texts: its embedder, model, max_tokens,
 * threads and query_prefix (no such fragment: the default embedder, no
 * prefix), into *out (malloc'd, dim floats, L2-normalised).  Returns 0, or
 * an SPL_* code with a reason in err[cap]: SPL_ENOTSUP (the embedder
 * cannot be opened: not in this build, a missing model), SPL_EDIM (its
 * dimension is not dim), SPL_EINVAL (nothing to embed), SPL_ENOMEM.  In
 * client_query.c, which programs linking the library use (splinterctl,
 * the Lua binding); embed.so does not have it. */
struct spl_store;
int emb_query(struct spl_store *s, const char *frag, const char *text, uint32_t dim, float **out, char *err,
              size_t cap);

/* Cosine of two vectors (0 if either norm is 0). */
float emb_cosine(const float *a, const float *b, uint32_t dim);

#endif
