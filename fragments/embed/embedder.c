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

int emb_open(const char *kind, const char *model, uint32_t max_tokens, emb_embedder **out,
             char *err, size_t cap)
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
    if (strcmp(kind, "llama") == 0)
        return snprintf(err, cap, "embedder 'llama' is not in this build (llama.cpp support comes later)"), -1;
    return snprintf(err, cap, "unknown embedder '%s' (known: hash)", kind), -1;
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
