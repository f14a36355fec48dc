/*
 * tests/llama/test_llama.c MODEL.gguf - the "llama" embedder (WITH_LLAMA=1)
 * on the tiny test model (scripts/tiny-model.py).  Checks the embedder's
 * contract (dim is the model's, another vec_dim refused, normalised, empty
 * text gives nothing, an input longer than the context is cut instead of
 * aborting, deterministic), then prints the embedding of every stdin line
 * (one line of numbers each, no prefix) for tests/llama/check.sh to
 * compare with the numpy reference.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedder.h"

#define CHECK(c, ...)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);                          \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2)
        return fprintf(stderr, "usage: %s MODEL.gguf < texts\n", argv[0]), 2;
    char err[320];
    emb_embedder *e;
    CHECK(emb_open("llama", NULL, 0, &e, err, sizeof err) == -1, "no model accepted");
    CHECK(emb_open("llama", "/nonexistent.gguf", 0, &e, err, sizeof err) == -1, "missing file accepted");
    CHECK(emb_open_ex("llama", argv[1], 0, 1, &e, err, sizeof err) == 0, "%s", err);
    CHECK(e->dim == 64, "dim %u", e->dim);
    CHECK(strcmp(e->doc_prefix, "search_document: ") == 0, "doc prefix");
    CHECK(emb_check_dim(e, 64, err, sizeof err) == 0, "%s", err);
    CHECK(emb_check_dim(e, 256, err, sizeof err) == -1 && strstr(err, "64"), "vec_dim 256 accepted");
    fprintf(stderr, "refused: %s\n", err);

    float v[64], w[64];
    CHECK(e->embed(e, "", "   ", 3, v, 64) == 0, "blank text embedded");
    CHECK(e->embed(e, "", "x", 1, v, 32) < 0, "dim 32 produced");
    /* longer than the context (512): cut, the final separator kept */
    size_t big = 6000;
    char *t = malloc(big + 1);
    for (size_t i = 0; i < big; i += 6)
        memcpy(t + i, "bank  ", 6);
    t[big] = 0;
    int n = e->embed(e, NULL, t, big, v, 64);
    CHECK(n == 512, "long text: %d tokens", n);
    free(t);
    /* max_tokens cuts too */
    emb_embedder *e2;
    CHECK(emb_open("llama", argv[1], 5, &e2, err, sizeof err) == 0, "%s", err);
    CHECK(e2->embed(e2, "", "the cat and the dog play in the rain", 36, w, 64) == 5, "max_tokens");
    emb_close(e2);

    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\n");
        n = e->embed(e, NULL, line, len, v, 64);
        CHECK(n > 2, "'%.*s': %d tokens", (int)len, line, n);
        CHECK(e->embed(e, "", line, len, w, 64) == n && memcmp(v, w, sizeof v) == 0, "not deterministic");
        double ss = 0;
        for (int i = 0; i < 64; i++)
            ss += (double)v[i] * v[i];
        CHECK(fabs(ss - 1) < 1e-5, "norm^2 %g", ss);
        for (int i = 0; i < 64; i++)
            printf("%s%.7f", i ? " " : "", v[i]);
        printf("\n");
    }
    emb_close(e);
    return 0;
}
