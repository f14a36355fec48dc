/*
 * test_embedder.c - the default ("hash") embedder: near-duplicates score
 * higher than unrelated texts on fixed sentence triples, at several
 * dimensions; the output is deterministic, normalised, and an empty text
 * (or one of punctuation only) embeds to nothing.
 *
 *   test_embedder [BUILD_DIR]
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "embedder.c"

static int failures, checks;
#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        checks++;                                                                                 \
        if (!(cond)) {                                                                            \
            failures++;                                                                           \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                       \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fprintf(stderr, "\n");                                                                \
        }                                                                                         \
    } while (0)

static const char *const TRIPLES[][3] = {
    /* anchor, near-duplicate, unrelated */
    {"The quick brown fox jumps over the lazy dog", "A quick brown fox jumped over a lazy dog",
     "Interest rates were raised by the central bank"},
    {"How do I reset my password?", "how can I reset the password", "Best pizza places in Naples"},
    {"Shared memory key-value store for local inference",
     "a key value store in shared memory, for inference on this machine",
     "The orchestra played Beethoven's ninth symphony"},
    {"The cat sat on the mat.", "The cats were sitting on the mats",
     "Quarterly revenue grew eleven percent"},
    {"Install the Debian package with apt-get", "installing Debian packages using apt",
     "She painted the fence a bright yellow"},
    {"Vector search returns the nearest embeddings", "nearest-neighbour search over embedding vectors",
     "My grandmother bakes bread every Sunday"},
};

int main(void)
{
    emb_embedder *e;
    char err[128];
    CHECK(emb_open(NULL, NULL, 0, &e, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(e->kind, "hash") == 0 && e->dim == 0, "default kind");
    CHECK(emb_check_dim(e, 7, err, sizeof err) == 0, "adapts to any dimension");
    CHECK(emb_check_dim(e, 0, err, sizeof err) < 0, "vec_dim 0 refused");
    emb_embedder *x;
    CHECK(emb_open("llama", "m.gguf", 0, &x, err, sizeof err) < 0 && strstr(err, "llama"), "%s", err);
    CHECK(emb_open("nope", NULL, 0, &x, err, sizeof err) < 0, "unknown kind");

    static const uint32_t dims[] = {64, 256, 384, 768};
    static float a[768], b[768], c[768], a2[768];
    for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
        uint32_t dim = dims[d];
        for (size_t t = 0; t < sizeof TRIPLES / sizeof *TRIPLES; t++) {
            const char *const *tr = TRIPLES[t];
            CHECK(e->embed(e, NULL, tr[0], strlen(tr[0]), a, dim) > 0, "embed");
            CHECK(e->embed(e, NULL, tr[1], strlen(tr[1]), b, dim) > 0, "embed");
            CHECK(e->embed(e, NULL, tr[2], strlen(tr[2]), c, dim) > 0, "embed");
            float near = emb_cosine(a, b, dim), far = emb_cosine(a, c, dim);
            CHECK(near > far + 0.02f, "dim %u triple %zu: near %.3f far %.3f", dim, t, near, far);
            double ss = 0;
            for (uint32_t i = 0; i < dim; i++)
                ss += (double)a[i] * a[i];
            CHECK(fabs(ss - 1) < 1e-4, "normalised (%f)", ss);
            /* deterministic: the same bytes out again (and from a new embedder) */
            emb_embedder *f;
            CHECK(emb_open("hash", NULL, 0, &f, err, sizeof err) == 0, "%s", err);
            CHECK(f->embed(f, NULL, tr[0], strlen(tr[0]), a2, dim) > 0, "embed");
            CHECK(memcmp(a, a2, sizeof *a * dim) == 0, "deterministic");
            emb_close(f);
            /* case and punctuation do not matter */
            char up[256];
            size_t n = strlen(tr[0]);
            for (size_t i = 0; i <= n; i++)
                up[i] = (char)((tr[0][i] >= 'a' && tr[0][i] <= 'z') ? tr[0][i] - 32 : tr[0][i]);
            CHECK(e->embed(e, NULL, up, n, a2, dim) > 0 && emb_cosine(a, a2, dim) > 0.9999f, "case");
        }
    }
    /* a fixed value, so that a change of the algorithm is noticed (stored
     * vectors would no longer match queries) */
    e->embed(e, NULL, "splinter", 8, a, 16);
    printf("splinter/16: %.4f %.4f %.4f %.4f\n", a[0], a[1], a[2], a[3]);

    /* empty texts: nothing to embed, zeros out */
    for (uint32_t i = 0; i < 64; i++)
        a[i] = 1;
    CHECK(e->embed(e, NULL, "", 0, a, 64) == 0, "empty");
    int zero = 1;
    for (uint32_t i = 0; i < 64; i++)
        zero &= a[i] == 0;
    CHECK(zero, "empty gives zeros");
    CHECK(e->embed(e, NULL, " ,.;!? \n", 8, a, 64) == 0, "punctuation only");
    CHECK(e->embed(e, "search_query: ", "", 0, a, 64) == 0, "a prefix alone is nothing");
    CHECK(e->embed(e, NULL, NULL, 0, a, 64) == 0, "NULL, 0");
    CHECK(e->embed(e, NULL, "x", 1, a, 0) < 0, "dim 0");
    /* prefixes and max_tokens */
    CHECK(e->embed(e, "search_query: ", "cat", 3, a, 64) == 3, "prefix tokens count");
    emb_embedder *m;
    CHECK(emb_open("hash", NULL, 2, &m, err, sizeof err) == 0, "%s", err);
    CHECK(m->embed(m, NULL, "one two three four", 18, a, 64) == 2, "max_tokens");
    CHECK(m->embed(m, NULL, "one two", 7, b, 64) == 2 && memcmp(a, b, 64 * sizeof *a) == 0,
          "the rest is cut");
    emb_close(m);
    emb_close(e);
    printf("test_embedder: %d checks, %d failed\n", checks, failures);
    return failures != 0;
}
