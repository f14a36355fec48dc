/*
 * embedder.c - the embedders (embedder.h): the default "hash" embedder.
 *
 * Features of a text: every word (a run of ASCII letters and digits, or
 * bytes >= 0x80, lower-cased), weight 1 (0.1 for a short list of English
 * function words, which get no n-grams), and every character 3-gram of the
 * word padded with a space on each side (" cat " -> " ca", "cat", "at "),
 * weight 1.5/sqrt(n-grams of the word), so a long word does not outweigh a
 * short one.  Each feature is hashed (FNV-1a 64, one seed per feature
 * kind) to a bucket h % dim and a sign from a second hash (splitmix64 of
 * h, top bit).  The sum is L2-normalised.  Texts sharing words and word
 * pieces land near each other (cosine); the result depends only on the
 * text, the dimension and max_tokens: every process computes the same
 * vector.
 */
#include "embedder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv(uint64_t seed, const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void add(float *out, uint32_t dim, uint64_t h, float w)
{
    uint64_t g = mix(h);
    out[h % dim] += (g >> 63) ? -w : w;
}

static int is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

#define WORD_MAX 64 /* longer words are cut (their n-grams too) */

/* Common English function words: weight 0.1 and no n-grams, so that "the"
 * and "my" do not decide what is near what. */
static const char *const STOP[] = {
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "i", "in", "is", "it", "its", "my", "of", "on", "or", "our", "so", "that", "the", "their",
    "this", "to", "was", "we", "were", "what", "with", "you", "your", NULL,
};

static int is_stop(const unsigned char *w, size_t n)
{
    for (int i = 0; STOP[i]; i++)
        if (strlen(STOP[i]) == n && memcmp(STOP[i], w, n) == 0)
            return 1;
    return 0;
}

/* Features of one piece of text; returns the words used. */
static uint32_t feed(float *out, uint32_t dim, const char *text, size_t len, uint32_t max_words,
                     uint32_t used)
{
    size_t i = 0;
    while (i < len && (!max_words || used < max_words)) {
        while (i < len && !is_word((unsigned char)text[i]))
            i++;
        if (i >= len)
            break;
        unsigned char w[WORD_MAX + 2];
        size_t n = 0;
        w[n++] = ' ';
        while (i < len && is_word((unsigned char)text[i])) {
            unsigned char c = (unsigned char)text[i++];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c - 'A' + 'a');
            if (n <= WORD_MAX)
                w[n++] = c;
        }
        w[n++] = ' ';
        used++;
        if (is_stop(w + 1, n - 2)) {
            add(out, dim, fnv(0x77, w + 1, n - 2), 0.1f);
            continue;
        }
        add(out, dim, fnv(0x77, w + 1, n - 2), 1.0f); /* the word */
        size_t grams = n - 2;                         /* n-3+1 3-grams */
        float gw = 1.5f / sqrtf((float)grams);
        for (size_t k = 0; k + 3 <= n; k++)
            add(out, dim, fnv(0x33, w + k, 3), gw);
    }
    return used;
}

static int hash_embed(emb_embedder *e, const char *prefix, const char *text, size_t len, float *out,
                      uint32_t dim)
{
    if (!dim || !out || (!text && len))
        return -22;
    memset(out, 0, sizeof *out * dim);
    uint32_t used = 0;
    if (prefix && *prefix)
        used = feed(out, dim, prefix, strlen(prefix), 0, 0);
    uint32_t pre = used;
    used = feed(out, dim, text, len, e->max_tokens ? e->max_tokens + pre : 0, used);
    if (used == pre)
        return memset(out, 0, sizeof *out * dim), 0; /* the text itself had nothing */
    double ss = 0;
    for (uint32_t i = 0; i < dim; i++)
        ss += (double)out[i] * out[i];
    if (ss <= 0) /* every feature cancelled out: deterministic fallback */
        return out[0] = 1.0f, (int)used;
    float inv = (float)(1.0 / sqrt(ss));
    for (uint32_t i = 0; i < dim; i++)
        out[i] *= inv;
    return (int)used;
}

static void hash_close(emb_embedder *e) { free(e); }

#if defined(SPL_WITH_LLAMA) && SPL_WITH_LLAMA
/*
 * The "llama" embedder: a GGUF embedding model run by llama.cpp (CPU),
 * linked statically with WITH_LLAMA=1.  One text per llama_encode call, as
 * sequence 0 of a batch: prefix + text is tokenized with the model's
 * special tokens (BERT: [CLS] ... [SEP]), cut to max_tokens (when set) and
 * to the context's batch (llama.cpp aborts on a longer input) keeping the
 * final separator, encoded, and the pooled vector of the sequence (the
 * context's pooling: mean) is L2-normalised.  Flash attention is off (f32
 * attention).  dim is the model's n_embd.
 */
#include <pthread.h>

#include "llama.h"

typedef struct {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    struct llama_batch batch;
    llama_token *tok;
    int32_t n_max; /* tokens a text may have (the batch) */
    char *buf;
    size_t buf_cap;
    pthread_mutex_t mu;
} llama_emb;

static void llama_quiet(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

static pthread_once_t llama_once = PTHREAD_ONCE_INIT;
static void llama_init_once(void)
{
    llama_log_set(llama_quiet, NULL);
    llama_backend_init();
}

static int only_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r' && p[i] != '\v' && p[i] != '\f')
            return 0;
    return 1;
}

static int llama_embed(emb_embedder *e, const char *prefix, const char *text, size_t len, float *out,
                       uint32_t dim)
{
    llama_emb *L = e->impl;
    if (!out || dim != e->dim || (!text && len))
        return -22;
    memset(out, 0, sizeof *out * dim);
    if (only_space(text, len))
        return 0;
    size_t pl = prefix ? strlen(prefix) : 0;
    if (pl + len > INT32_MAX / 2)
        return -22;
    pthread_mutex_lock(&L->mu);
    int rc = -12;
    if (pl + len + 1 > L->buf_cap) {
        char *nb = realloc(L->buf, pl + len + 1);
        if (!nb)
            goto out;
        L->buf = nb, L->buf_cap = pl + len + 1;
    }
    memcpy(L->buf, prefix ? prefix : "", pl);
    memcpy(L->buf + pl, text, len);
    L->buf[pl + len] = 0;
    /* tokenize; a negative count is the size needed */
    int32_t cap = (int32_t)(pl + len) + 8;
    llama_token *tok = malloc(sizeof *tok * (size_t)cap);
    if (!tok)
        goto out;
    int32_t n = llama_tokenize(L->vocab, L->buf, (int32_t)(pl + len), tok, cap, true, false);
    if (n < 0 && n != INT32_MIN) {
        cap = -n;
        llama_token *nt = realloc(tok, sizeof *tok * (size_t)cap);
        if (!nt)
            return free(tok), pthread_mutex_unlock(&L->mu), -12;
        tok = nt;
        n = llama_tokenize(L->vocab, L->buf, (int32_t)(pl + len), tok, cap, true, false);
    }
    rc = -5;
    if (n <= 0) {
        free(tok);
        goto out;
    }
    int32_t lim = L->n_max;
    if (e->max_tokens && (int32_t)e->max_tokens < lim)
        lim = (int32_t)e->max_tokens;
    if (lim < 2)
        lim = 2;
    if (n > lim) { /* keep the final separator */
        llama_token last = tok[n - 1];
        int keep_last = llama_vocab_get_add_sep(L->vocab) || llama_vocab_get_add_eos(L->vocab);
        n = lim;
        if (keep_last)
            tok[n - 1] = last;
    }
    struct llama_batch *b = &L->batch;
    b->n_tokens = n;
    for (int32_t i = 0; i < n; i++) {
        b->token[i] = tok[i];
        b->pos[i] = i;
        b->n_seq_id[i] = 1;
        b->seq_id[i][0] = 0;
        b->logits[i] = 1;
    }
    free(tok);
    if (llama_encode(L->ctx, *b) != 0)
        goto out;
    const float *v = llama_get_embeddings_seq(L->ctx, 0);
    if (!v)
        goto out;
    double ss = 0;
    for (uint32_t i = 0; i < dim; i++)
        ss += (double)v[i] * v[i];
    if (ss > 0) {
        float inv = (float)(1.0 / sqrt(ss));
        for (uint32_t i = 0; i < dim; i++)
            out[i] = v[i] * inv;
    } else {
        out[0] = 1.0f;
    }
    rc = (int)n;
out:
    pthread_mutex_unlock(&L->mu);
    return rc;
}

static void llama_close(emb_embedder *e)
{
    llama_emb *L = e->impl;
    if (L) {
        if (L->batch.token)
            llama_batch_free(L->batch);
        if (L->ctx)
            llama_free(L->ctx);
        if (L->model)
            llama_model_free(L->model);
        pthread_mutex_destroy(&L->mu);
        free(L->buf);
        free(L);
    }
    free(e);
}

static int llama_open(const char *model, uint32_t max_tokens, uint32_t threads, emb_embedder **out,
                      char *err, size_t cap)
{
    if (!model || !*model)
        return snprintf(err, cap, "embedder 'llama' needs model=PATH.gguf"), -1;
    pthread_once(&llama_once, llama_init_once);
    emb_embedder *e = calloc(1, sizeof *e);
    llama_emb *L = calloc(1, sizeof *L);
    if (!e || !L)
        return free(e), free(L), snprintf(err, cap, "out of memory"), -1;
    pthread_mutex_init(&L->mu, NULL);
    e->impl = L;
    e->kind = "llama";
    e->max_tokens = max_tokens;
    e->doc_prefix = "search_document: ";
    e->query_prefix = "search_query: ";
    e->embed = llama_embed;
    e->close = llama_close;
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    L->model = llama_model_load_from_file(model, mp);
    if (!L->model) {
        snprintf(err, cap, "embedder 'llama': cannot load model '%s' (a GGUF file?)", model);
        goto fail;
    }
    int32_t n_embd = llama_model_n_embd(L->model);
    if (n_embd <= 0) {
        snprintf(err, cap, "embedder 'llama': model '%s' has no embedding size", model);
        goto fail;
    }
    int32_t n_ctx = llama_model_n_ctx_train(L->model);
    if (n_ctx <= 0 || n_ctx > 8192)
        n_ctx = 512;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = (uint32_t)n_ctx;
    cp.n_ubatch = (uint32_t)n_ctx;
    cp.n_seq_max = 1;
    cp.embeddings = true;
    cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    /* plain f32 attention: llama.cpp's CPU flash attention rounds through
     * f16 (about 3e-4 off on the test model), and an embedding context
     * (one text, no KV cache) gains little from it */
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    if (threads) {
        cp.n_threads = (int32_t)threads;
        cp.n_threads_batch = (int32_t)threads;
    }
    L->ctx = llama_init_from_model(L->model, cp);
    if (!L->ctx) {
        snprintf(err, cap, "embedder 'llama': cannot make a context for '%s'", model);
        goto fail;
    }
    L->vocab = llama_model_get_vocab(L->model);
    /* llama.cpp may round the context up (to a multiple of 256): the
     * input limit is the physical batch, never above the context */
    L->n_max = (int32_t)llama_n_ubatch(L->ctx);
    if ((int32_t)llama_n_ctx(L->ctx) < L->n_max)
        L->n_max = (int32_t)llama_n_ctx(L->ctx);
    if ((int32_t)llama_n_batch(L->ctx) < L->n_max)
        L->n_max = (int32_t)llama_n_batch(L->ctx);
    L->batch = llama_batch_init(L->n_max, 0, 1);
    if (!L->batch.token) {
        snprintf(err, cap, "out of memory");
        goto fail;
    }
    e->dim = (uint32_t)n_embd;
    *out = e;
    return 0;
fail:
    llama_close(e);
    return -1;
}
#endif

int emb_open(const char *kind, const char *model, uint32_t max_tokens, emb_embedder **out,
             char *err, size_t cap)
{
    return emb_open_ex(kind, model, max_tokens, 0, out, err, cap);
}

int emb_open_ex(const char *kind, const char *model, uint32_t max_tokens, uint32_t threads,
                emb_embedder **out, char *err, size_t cap)
{
    if (!kind || !*kind)
        kind = EMB_DEFAULT_KIND;
    if (strcmp(kind, "hash") == 0) {
        (void)model;
        emb_embedder *e = calloc(1, sizeof *e);
        if (!e)
            return snprintf(err, cap, "out of memory"), -1;
        e->kind = "hash";
        e->dim = 0;
        e->max_tokens = max_tokens;
        e->doc_prefix = "";
        e->query_prefix = "";
        e->embed = hash_embed;
        e->close = hash_close;
        *out = e;
        return 0;
    }
#if defined(SPL_WITH_LLAMA) && SPL_WITH_LLAMA
    if (strcmp(kind, "llama") == 0)
        return llama_open(model, max_tokens, threads, out, err, cap);
    return snprintf(err, cap, "unknown embedder '%s' (known: hash, llama)", kind), -1;
#else
    (void)threads;
    if (strcmp(kind, "llama") == 0)
        return snprintf(err, cap, "embedder 'llama' is not in this build (build with make WITH_LLAMA=1)"), -1;
    return snprintf(err, cap, "unknown embedder '%s' (known: hash)", kind), -1;
#endif
}

void emb_close(emb_embedder *e)
{
    if (e)
        e->close(e);
}

int emb_check_dim(const emb_embedder *e, uint32_t dim, char *err, size_t cap)
{
    if (dim == 0)
        return snprintf(err, cap, "the store has no vectors (vec_dim 0)"), -1;
    if (e->dim && e->dim != dim)
        return snprintf(err, cap, "embedder '%s' makes %u-dimensional vectors, the store's vec_dim is %u",
                        e->kind, e->dim, dim), -1;
    return 0;
}

float emb_cosine(const float *a, const float *b, uint32_t dim)
{
    double d = 0, na = 0, nb = 0;
    for (uint32_t i = 0; i < dim; i++)
        d += (double)a[i] * b[i], na += (double)a[i] * a[i], nb += (double)b[i] * b[i];
    return na > 0 && nb > 0 ? (float)(d / sqrt(na * nb)) : 0.0f;
}
