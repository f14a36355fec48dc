/*
 * tests/llama/test_llama.c MODEL.gguf - the "llama" embedder (WITH_LLAMA=1)
 * on the tiny test model (scripts/tiny-model.py).  Checks the embedder's
 * contract (dim is the model's, another vec_dim refused, normalised, empty
 * text gives nothing, an input longer than the context is cut instead of
 * aborting, deterministic), that texts embedded together (several
 * sequences in one llama_encode, under several batch and token limits)
 * get the vectors they get one at a time (to 1e-5), then prints the
 * embedding of every stdin line (one line of numbers each, no prefix) for
 * tests/llama/check.sh to compare with the numpy reference.
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

    /* the stdin lines, and more: blank, long (cut), one word, repeated */
    enum { MAXT = 64 };
    static char lines[MAXT][4096];
    const char *tx[MAXT];
    size_t tl[MAXT];
    int nl = 0, nt = 0;
    while (nl < 16 && fgets(lines[nl], sizeof lines[nl], stdin))
        lines[nl][strcspn(lines[nl], "\n")] = 0, nl++;
    for (int i = 0; i < nl; i++)
        tx[nt] = lines[i], tl[nt] = strlen(lines[i]), nt++;
    static char longt[3000];
    for (size_t i = 0; i + 5 <= sizeof longt - 1; i += 5)
        memcpy(longt + i, "cats ", 5);
    const char *more[] = {"", "   ", longt, "dog", "the weather today is cold and the rain falls on the city",
                          "How do I reset my password?"};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
        tx[nt] = more[i], tl[nt] = strlen(more[i]), nt++;
    for (int i = 0; nt < 40; i++) { /* repeats: the same text in several sequences */
        tx[nt] = tx[i % (nl + 6)], tl[nt] = tl[i % (nl + 6)], nt++;
    }
    static float one[MAXT][64], many[MAXT][64];
    int ntok1[MAXT], ntokb[MAXT];
    for (int i = 0; i < nt; i++) {
        ntok1[i] = e->embed(e, "search_document: ", tx[i], tl[i], one[i], 64);
        CHECK(ntok1[i] >= 0, "text %d: %d", i, ntok1[i]);
    }
    CHECK(ntok1[nl + 2] == 512, "the long text: %d tokens", ntok1[nl + 2]);
    /* batch x token budget: one call of all, texts per encode, tokens per encode */
    const uint32_t bs[][2] = {{0, 0}, {1, 0}, {3, 0}, {7, 600}, {256, 512}, {40, 8192}};
    for (size_t c = 0; c < sizeof bs / sizeof *bs; c++) {
        emb_opts o = {argv[1], 0, 1, bs[c][0], bs[c][1]};
        emb_embedder *b;
        CHECK(emb_open_opts("llama", &o, &b, err, sizeof err) == 0, "%s", err);
        CHECK(b->batch == (bs[c][0] ? bs[c][0] : EMB_DEFAULT_BATCH), "batch %u", b->batch);
        CHECK(b->batch_tokens >= 512, "batch_tokens %u", b->batch_tokens);
        memset(many, 0x7f, sizeof many);
        CHECK(emb_embed_batch(b, "search_document: ", tx, tl, (size_t)nt, &many[0][0], 64, ntokb) == 0,
              "embed_batch");
        double worst = 0;
        for (int i = 0; i < nt; i++) {
            CHECK(ntokb[i] == ntok1[i], "text %d: %d tokens together, %d alone", i, ntokb[i], ntok1[i]);
            for (int j = 0; j < 64; j++)
                if (fabs((double)many[i][j] - one[i][j]) > worst)
                    worst = fabs((double)many[i][j] - one[i][j]);
        }
        CHECK(worst < 1e-5, "batch %u, %u tokens: max |together - alone| %g", b->batch, b->batch_tokens, worst);
        fprintf(stderr, "%d texts, batch %u, batch_tokens %u: max |together - alone| = %.1e\n", nt, b->batch,
                b->batch_tokens, worst);
        emb_close(b);
    }
    /* more texts than the batch, a bad argument */
    emb_opts bad = {argv[1], 0, 1, EMB_MAX_BATCH + 1, 0};
    emb_embedder *x;
    CHECK(emb_open_opts("llama", &bad, &x, err, sizeof err) == -1 && strstr(err, "batch"), "batch 257");

    for (int li = 0; li < nl; li++) {
        const char *line = lines[li];
        size_t len = strlen(line);
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
