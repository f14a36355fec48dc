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
 * linked statically with WITH_LLAMA=1.  Texts given together are encoded
 * together: prefix + text is tokenized with the model's special tokens
 * (BERT: [CLS] ... [SEP]) and cut to max_tokens (when set) and to the
 * model's training context (llama.cpp aborts on an input longer than the
 * batch) keeping the final separator; then up to `batch` texts, at most
 * `batch_tokens` tokens in all, go into one llama_batch, text i as
 * sequence i (positions from 0), through one llama_encode; the pooled
 * vector of each sequence (the context's pooling: mean; the attention mask
 * keeps sequences apart) is L2-normalised.  The context has n_ctx = n_batch
 * = n_ubatch = batch_tokens (an encoder takes its whole batch in one
 * ubatch) and n_seq_max = batch.  Flash attention is off (f32 attention).
 * dim is the model's n_embd.
 */
#include <pthread.h>
#include <sched.h>

#include "llama.h"

typedef struct {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    struct llama_batch batch;
    int32_t n_max;    /* tokens a text may have */
    int32_t n_budget; /* tokens per encode (the ubatch) */
    int32_t n_seq;    /* texts per encode */
    int keep_last;    /* the tokenizer adds a final separator */
    char *buf;        /* prefix + text */
    size_t buf_cap;
    llama_token *tok; /* the tokens of the texts of one call */
    size_t tok_cap;
    size_t *tok_off; /* per text: its first token in tok */
    size_t off_cap;
    int32_t *seq_text; /* per sequence of the encode in hand: its text */
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

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *np = realloc(*p, c * elem);
    if (!np)
        return -12;
    *p = np, *cap = c;
    return 0;
}

/* Tokenize prefix + text[len] to the end of L->tok (from `at`), cut to
 * n_max keeping the final separator.  Returns the token count (>= 1) or a
 * negative error. */
static int32_t llama_tok(llama_emb *L, const char *prefix, size_t pl, const char *text, size_t len,
                         size_t at)
{
    if (pl + len > INT32_MAX / 2)
        return -22;
    if (grow((void **)&L->buf, &L->buf_cap, pl + len + 1, 1))
        return -12;
    memcpy(L->buf, prefix ? prefix : "", pl);
    memcpy(L->buf + pl, text, len);
    L->buf[pl + len] = 0;
    /* a negative count is the size needed */
    size_t room = pl + len + 8;
    if (grow((void **)&L->tok, &L->tok_cap, at + room, sizeof *L->tok))
        return -12;
    int32_t n = llama_tokenize(L->vocab, L->buf, (int32_t)(pl + len), L->tok + at, (int32_t)room, true, false);
    if (n < 0 && n != INT32_MIN) {
        room = (size_t)-n;
        if (grow((void **)&L->tok, &L->tok_cap, at + room, sizeof *L->tok))
            return -12;
        n = llama_tokenize(L->vocab, L->buf, (int32_t)(pl + len), L->tok + at, (int32_t)room, true, false);
    }
    if (n <= 0)
        return -5;
    if (n > L->n_max) { /* keep the final separator */
        llama_token last = L->tok[at + (size_t)n - 1];
        n = L->n_max;
        if (L->keep_last)
            L->tok[at + (size_t)n - 1] = last;
    }
    return n;
}

/* Encode the sequences in L->batch (ns of them, texts L->seq_text[]) and
 * write their normalised vectors.  0 or a negative error. */
static int llama_flush(llama_emb *L, int32_t ns, float *out, uint32_t dim)
{
    if (!ns)
        return 0;
    if (llama_encode(L->ctx, L->batch) != 0)
        return -5;
    for (int32_t s = 0; s < ns; s++) {
        const float *v = llama_get_embeddings_seq(L->ctx, s);
        if (!v)
            return -5;
        float *o = out + (size_t)L->seq_text[s] * dim;
        double ss = 0;
        for (uint32_t i = 0; i < dim; i++)
            ss += (double)v[i] * v[i];
        if (ss > 0) {
            float inv = (float)(1.0 / sqrt(ss));
            for (uint32_t i = 0; i < dim; i++)
                o[i] = v[i] * inv;
        } else {
            o[0] = 1.0f;
        }
    }
    L->batch.n_tokens = 0;
    return 0;
}

static int llama_embed_batch(emb_embedder *e, const char *prefix, const char *const *text, const size_t *len,
                             size_t n, float *out, uint32_t dim, int *ntok)
{
    llama_emb *L = e->impl;
    if (!out || !ntok || dim != e->dim || (n && (!text || !len)))
        return -22;
    for (size_t i = 0; i < n; i++)
        if (!text[i] && len[i])
            return -22;
    memset(out, 0, sizeof *out * dim * n);
    size_t pl = prefix ? strlen(prefix) : 0;
    pthread_mutex_lock(&L->mu);
    int rc = -12;
    if (grow((void **)&L->tok_off, &L->off_cap, n + 1, sizeof *L->tok_off))
        goto out;
    /* tokens of every text first (nothing is encoded if one fails) */
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        L->tok_off[i] = at;
        ntok[i] = 0;
        if (only_space(text[i], len[i]))
            continue;
        int32_t k = llama_tok(L, prefix, pl, text[i], len[i], at);
        if (k < 0) {
            rc = k;
            goto out;
        }
        ntok[i] = k;
        at += (size_t)k;
    }
    /* then batches: up to n_seq texts, n_budget tokens */
    struct llama_batch *b = &L->batch;
    b->n_tokens = 0;
    int32_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t k = ntok[i];
        if (!k)
            continue;
        if (ns == L->n_seq || b->n_tokens + k > L->n_budget) {
            if ((rc = llama_flush(L, ns, out, dim)) != 0)
                goto out;
            ns = 0;
        }
        const llama_token *t = L->tok + L->tok_off[i];
        for (int32_t j = 0; j < k; j++) {
            int32_t at_b = b->n_tokens++;
            b->token[at_b] = t[j];
            b->pos[at_b] = j;
            b->n_seq_id[at_b] = 1;
            b->seq_id[at_b][0] = ns;
            b->logits[at_b] = 1;
        }
        L->seq_text[ns++] = (int32_t)i;
    }
    rc = llama_flush(L, ns, out, dim);
out:
    pthread_mutex_unlock(&L->mu);
    return rc;
}

static int llama_embed(emb_embedder *e, const char *prefix, const char *text, size_t len, float *out,
                       uint32_t dim)
{
    if (!out || dim != e->dim || (!text && len))
        return -22;
    int ntok = 0;
    int rc = llama_embed_batch(e, prefix, &text, &len, 1, out, dim, &ntok);
    return rc < 0 ? rc : ntok;
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
        free(L->tok);
        free(L->tok_off);
        free(L->seq_text);
        free(L);
    }
    free(e);
}

static int llama_open(const emb_opts *o, emb_embedder **out, char *err, size_t cap)
{
    const char *model = o->model;
    if (!model || !*model)
        return snprintf(err, cap, "embedder 'llama' needs model=PATH.gguf"), -1;
    if (o->batch > EMB_MAX_BATCH)
        return snprintf(err, cap, "embedder 'llama': batch %u is more than %u texts", o->batch, EMB_MAX_BATCH),
               -1;
    pthread_once(&llama_once, llama_init_once);
    emb_embedder *e = calloc(1, sizeof *e);
    llama_emb *L = calloc(1, sizeof *L);
    if (!e || !L)
        return free(e), free(L), snprintf(err, cap, "out of memory"), -1;
    pthread_mutex_init(&L->mu, NULL);
    e->impl = L;
    e->kind = "llama";
    e->max_tokens = o->max_tokens;
    e->doc_prefix = "search_document: ";
    e->query_prefix = "search_query: ";
    e->embed = llama_embed;
    e->embed_batch = llama_embed_batch;
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
    /* a text's limit: the training context, max_tokens */
    int32_t per = llama_model_n_ctx_train(L->model);
    if (per <= 0 || per > 8192)
        per = 512;
    if (o->max_tokens && (int32_t)o->max_tokens < per)
        per = o->max_tokens < 2 ? 2 : (int32_t)o->max_tokens;
    L->n_seq = (int32_t)(o->batch ? o->batch : EMB_DEFAULT_BATCH);
    uint32_t budget = o->batch_tokens ? o->batch_tokens : EMB_DEFAULT_BATCH_TOKENS;
    if (budget < (uint32_t)per)
        budget = (uint32_t)per;
    /* llama.cpp reserves its graph for n_ubatch tokens split evenly over
     * n_seq_max sequences (an uneven split fails an assertion) */
    budget = (budget + (uint32_t)L->n_seq - 1) / (uint32_t)L->n_seq * (uint32_t)L->n_seq;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = budget;
    cp.n_batch = budget;
    cp.n_ubatch = budget; /* an encoder takes its batch in one ubatch */
    cp.n_seq_max = (uint32_t)L->n_seq;
    cp.embeddings = true;
    cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    /* plain f32 attention: llama.cpp's CPU flash attention rounds through
     * f16 (about 3e-4 off on the test model) */
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    /* 0: the CPUs this process may run on (llama.cpp's own default is 4,
     * more than a small machine has: threads then wait at its barriers) */
    cpu_set_t cpus;
    int ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    uint32_t nt = o->threads ? o->threads : (uint32_t)(ncpu < 1 ? 1 : ncpu > 16 ? 16 : ncpu);
    cp.n_threads = (int32_t)nt;
    cp.n_threads_batch = (int32_t)nt;
    L->ctx = llama_init_from_model(L->model, cp);
    if (!L->ctx) {
        snprintf(err, cap, "embedder 'llama': cannot make a context for '%s'", model);
        goto fail;
    }
    L->vocab = llama_model_get_vocab(L->model);
    L->keep_last = llama_vocab_get_add_sep(L->vocab) || llama_vocab_get_add_eos(L->vocab);
    /* what llama.cpp made of it (it rounds the context up to 256) */
    L->n_budget = (int32_t)llama_n_ubatch(L->ctx);
    if ((int32_t)llama_n_batch(L->ctx) < L->n_budget)
        L->n_budget = (int32_t)llama_n_batch(L->ctx);
    if ((int32_t)llama_n_ctx(L->ctx) < L->n_budget)
        L->n_budget = (int32_t)llama_n_ctx(L->ctx);
    L->n_max = per < L->n_budget ? per : L->n_budget;
    L->batch = llama_batch_init(L->n_budget, 0, 1);
    L->seq_text = malloc(sizeof *L->seq_text * (size_t)L->n_seq);
    if (!L->batch.token || !L->seq_text) {
        snprintf(err, cap, "out of memory");
        goto fail;
    }
    e->dim = (uint32_t)n_embd;
    e->batch = (uint32_t)L->n_seq;
    e->batch_tokens = (uint32_t)L->n_budget;
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
    emb_opts o = {model, max_tokens, 0, 0, 0};
    return emb_open_opts(kind, &o, out, err, cap);
}

int emb_open_ex(const char *kind, const char *model, uint32_t max_tokens, uint32_t threads,
                emb_embedder **out, char *err, size_t cap)
{
    emb_opts o = {model, max_tokens, threads, 0, 0};
    return emb_open_opts(kind, &o, out, err, cap);
}

int emb_open_opts(const char *kind, const emb_opts *o, emb_embedder **out, char *err, size_t cap)
{
    static const emb_opts none;
    if (!o)
        o = &none;
    if (!kind || !*kind)
        kind = EMB_DEFAULT_KIND;
    if (strcmp(kind, "hash") == 0) {
        emb_embedder *e = calloc(1, sizeof *e);
        if (!e)
            return snprintf(err, cap, "out of memory"), -1;
        e->kind = "hash";
        e->dim = 0;
        e->max_tokens = o->max_tokens;
        e->doc_prefix = "";
        e->query_prefix = "";
        e->embed = hash_embed;
        e->close = hash_close;
        e->batch = 1;
        *out = e;
        return 0;
    }
#if defined(SPL_WITH_LLAMA) && SPL_WITH_LLAMA
    if (strcmp(kind, "llama") == 0)
        return llama_open(o, out, err, cap);
    return snprintf(err, cap, "unknown embedder '%s' (known: hash, llama)", kind), -1;
#else
    if (strcmp(kind, "llama") == 0)
        return snprintf(err, cap, "embedder 'llama' is not in this build (build with make WITH_LLAMA=1)"), -1;
    return snprintf(err, cap, "unknown embedder '%s' (known: hash)", kind), -1;
#endif
}

int emb_embed_batch(emb_embedder *e, const char *prefix, const char *const *text, const size_t *len,
                    size_t n, float *out, uint32_t dim, int *ntok)
{
    if (e->embed_batch)
        return e->embed_batch(e, prefix, text, len, n, out, dim, ntok);
    for (size_t i = 0; i < n; i++) {
        int k = e->embed(e, prefix, text[i], len[i], out + i * dim, dim);
        if (k < 0)
            return k;
        ntok[i] = k;
    }
    return 0;
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
