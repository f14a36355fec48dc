/*
 * bench_embed.c - the embed fragment with the llama embedder (WITH_LLAMA=1)
 * against a plain loop over llama.cpp's own API, on the same model, texts,
 * threads and batch size, in one run.
 *
 *   bench_embed BUILD_DIR MODEL.gguf [--texts N] [--runs R] [--threads T]
 *                [--batch B] [--latency L] [--check]
 *
 * Throughput: embeddings per second.
 *   - llama.cpp: tokenize "search_document: " + text (special tokens on),
 *     cut to the training context keeping the final separator, B texts per
 *     llama_batch (text i as sequence i), llama_encode,
 *     llama_get_embeddings_seq, L2 normalisation; the context as the
 *     embedder makes it (n_ctx = n_batch = n_ubatch, n_seq_max = B, mean
 *     pooling, flash attention off).
 *   - fragment: from the first spl_set of N texts (keys doc.RUN.I, written
 *     in a burst) to the last of their vectors readable, the embed fragment
 *     (embedder=llama, same threads and batch) running in a host process
 *     of its own.  This process waits for each key with spl_key_wait (a
 *     futex; no polling).
 *   R runs of each, alternated (llama.cpp, fragment, llama.cpp, ...): the
 *   ratio of each run and the median ratio are printed.
 * Latency: L times, spl_set of a new text to one key, then spl_key_wait
 *   until its vector is written (its epoch + 4: the text's write, then the
 *   vector's); p50 and p99.  The host wakes on the store's futex too.
 * --check: the plain loop runs one text at a time, and every vector the
 *   fragment wrote (batched) must equal it to 1e-5, and the fragment must
 *   have put more than one text in a call; exit 1 otherwise (a test).
 *
 * The host is spawned before this process loads llama.cpp (spl_host_spawn
 * forks without exec: it wants a process without threads yet).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "llama.h"
#include "splinter.h"

#define PREFIX "search_document: "

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_embed: %s: %s\n", what, rc ? spl_err_name(rc) : "failed");
    exit(2);
}

/* ---- texts: sentences of 8..27 words from a fixed list, seeded ------- */

static const char *const WORDS[] = {
    "the", "a", "password", "reset", "login", "account", "user", "email", "bank", "interest", "rate",
    "rates", "raised", "central", "money", "market", "price", "stock", "cat", "dog", "bird", "fish",
    "food", "water", "coffee", "bread", "car", "road", "train", "city", "house", "room", "computer",
    "data", "store", "key", "value", "vector", "search", "memory", "shared", "fast", "file", "network",
    "model", "text", "word", "token", "query", "document", "weather", "rain", "snow", "cold", "day",
    "night", "year", "time", "today", "book", "music", "game", "team", "red", "blue", "green", "light",
    "open", "close", "start", "stop", "run", "walk", "help", "hello", "world", "good", "new", "old",
    "big", "small", "how", "why", "when", "where", "and", "with", "from", "for", "to", "in", "on",
};
#define NWORDS (sizeof WORDS / sizeof *WORDS)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static char *sentence(void)
{
    char *t = malloc(512);
    size_t n = 0;
    int words = 8 + (int)(next() % 20);
    for (int w = 0; w < words; w++) {
        const char *x = WORDS[next() % NWORDS];
        n += (size_t)snprintf(t + n, 512 - n, "%s%s", w ? " " : "", x);
    }
    return t;
}

/* ---- the plain loop over llama.cpp --------------------------------------- */

typedef struct {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    struct llama_batch batch;
    int32_t n_max, n_budget, n_seq, dim;
    llama_token *tok;
} plain;

static void quiet(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

/* The context the llama embedder makes (fragments/embed/embedder.c). */
static void plain_open(plain *p, const char *path, int threads, int batch)
{
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    p->model = llama_model_load_from_file(path, mp);
    if (!p->model)
        die("load model", 0);
    p->dim = llama_model_n_embd(p->model);
    int32_t per = llama_model_n_ctx_train(p->model);
    if (per <= 0 || per > 8192)
        per = 512;
    uint32_t budget = 2048 < (uint32_t)per ? (uint32_t)per : 2048;
    budget = (budget + (uint32_t)batch - 1) / (uint32_t)batch * (uint32_t)batch;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = budget;
    cp.n_seq_max = (uint32_t)batch;
    cp.embeddings = true;
    cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.n_threads = cp.n_threads_batch = threads;
    p->ctx = llama_init_from_model(p->model, cp);
    if (!p->ctx)
        die("context", 0);
    p->vocab = llama_model_get_vocab(p->model);
    p->n_budget = (int32_t)llama_n_ubatch(p->ctx);
    p->n_max = per < p->n_budget ? per : p->n_budget;
    p->n_seq = batch;
    p->batch = llama_batch_init(p->n_budget, 0, 1);
    p->tok = malloc(sizeof *p->tok * 8192);
}

static void plain_close(plain *p)
{
    llama_batch_free(p->batch);
    llama_free(p->ctx);
    llama_model_free(p->model);
    free(p->tok);
}

static void plain_flush(plain *p, int ns, const int *which, float *out)
{
    if (!ns)
        return;
    if (llama_encode(p->ctx, p->batch) != 0)
        die("llama_encode", 0);
    for (int s = 0; s < ns; s++) {
        const float *v = llama_get_embeddings_seq(p->ctx, s);
        float *o = out + (size_t)which[s] * (size_t)p->dim;
        double ss = 0;
        for (int i = 0; i < p->dim; i++)
            ss += (double)v[i] * v[i];
        float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0;
        for (int i = 0; i < p->dim; i++)
            o[i] = v[i] * inv;
    }
    p->batch.n_tokens = 0;
}

/* Embed n texts, p->n_seq per llama_encode; returns the tokens used. */
static uint64_t plain_run(plain *p, char *const *texts, int n, float *out)
{
    int which[256], ns = 0;
    uint64_t tokens = 0;
    char buf[1024];
    int keep_last = llama_vocab_get_add_sep(p->vocab) || llama_vocab_get_add_eos(p->vocab);
    p->batch.n_tokens = 0;
    for (int i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, PREFIX "%s", texts[i]);
        int32_t k = llama_tokenize(p->vocab, buf, len, p->tok, 8192, true, false);
        if (k <= 0)
            die("llama_tokenize", 0);
        if (k > p->n_max) {
            llama_token last = p->tok[k - 1];
            k = p->n_max;
            if (keep_last)
                p->tok[k - 1] = last;
        }
        if (ns == p->n_seq || p->batch.n_tokens + k > p->n_budget)
            plain_flush(p, ns, which, out), ns = 0;
        for (int32_t j = 0; j < k; j++) {
            int32_t at = p->batch.n_tokens++;
            p->batch.token[at] = p->tok[j];
            p->batch.pos[at] = j;
            p->batch.n_seq_id[at] = 1;
            p->batch.seq_id[at][0] = ns;
            p->batch.logits[at] = 1;
        }
        which[ns++] = i;
        tokens += (uint64_t)k;
    }
    plain_flush(p, ns, which, out);
    return tokens;
}

/* ---- the fragment ------------------------------------------------------------ */

/* Wait until key has a vector (no polling: spl_key_wait sleeps on the
 * slot's futex until its epoch moves). */
static void wait_vec(spl_store *s, const char *key, float *out, uint32_t dim)
{
    for (;;) {
        spl_meta m;
        int rc = spl_meta_get(s, key, &m);
        if (rc == SPL_EAGAIN)
            continue;
        if (rc)
            die(key, rc);
        if (spl_vec_get(s, key, out, dim, NULL) == 0)
            return;
        rc = spl_key_wait(s, key, m.epoch, 120000000000ll, NULL);
        if (rc && rc != SPL_EAGAIN)
            die("spl_key_wait", rc);
    }
}

static void set(spl_store *s, const char *key, const char *text)
{
    int rc;
    while ((rc = spl_set(s, key, text, strlen(text))) == SPL_EAGAIN) {
    }
    if (rc)
        die("spl_set", rc);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}
static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int host_pid;
static char tmp_dir[] = "/tmp/spl-bench-embed-XXXXXX";
static void kill_host(void)
{
    if (host_pid > 0)
        kill(host_pid, SIGKILL);
    host_pid = 0;
}
/* at exit, whatever the path: no host left, no store left */
static void cleanup(void)
{
    kill_host();
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_dir);
}

/* The model's n_embd from its GGUF header (no llama.cpp yet). */
static uint32_t gguf_dim(const char *path)
{
    struct gguf_init_params gp = {true, NULL};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    if (!g)
        die("read the model's header", 0);
    int64_t a = gguf_find_key(g, "general.architecture");
    char k[128];
    snprintf(k, sizeof k, "%s.embedding_length", a >= 0 ? gguf_get_val_str(g, a) : "?");
    int64_t e = gguf_find_key(g, k);
    uint32_t d = e >= 0 ? gguf_get_val_u32(g, e) : 0;
    gguf_free(g);
    if (!d)
        die("the model has no embedding_length", 0);
    return d;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s BUILD_DIR MODEL.gguf [--texts N] [--runs R] [--threads T] [--batch B] "
                        "[--latency L] [--check]\n", argv[0]);
        return 2;
    }
    const char *b = argv[1], *model = argv[2];
    int n = 1000, runs = 3, threads = (int)sysconf(_SC_NPROCESSORS_ONLN), batch = 16, nlat = 200, check = 0;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0) {
            check = 1;
            continue;
        }
        if (i + 1 >= argc)
            return fprintf(stderr, "bench_embed: %s needs a value\n", argv[i]), 2;
        int v = atoi(argv[++i]);
        if (strcmp(argv[i - 1], "--texts") == 0)
            n = v;
        else if (strcmp(argv[i - 1], "--runs") == 0)
            runs = v;
        else if (strcmp(argv[i - 1], "--threads") == 0)
            threads = v;
        else if (strcmp(argv[i - 1], "--batch") == 0)
            batch = v;
        else if (strcmp(argv[i - 1], "--latency") == 0)
            nlat = v;
        else
            return fprintf(stderr, "bench_embed: unknown option %s\n", argv[i - 1]), 2;
    }
    if (n < 1 || runs < 1 || runs > 20 || threads < 1 || batch < 1 || batch > 256 || nlat < 0)
        return fprintf(stderr, "bench_embed: bad option value\n"), 2;
    if (strcmp(spl_vec_simd(), "none") == 0) {
        printf("SKIP bench_embed: no vectors in this build (WITH_EMBEDDINGS=0)\n");
        return 77;
    }
    uint32_t dim = gguf_dim(model);
    char **texts = malloc(sizeof *texts * (size_t)n);
    for (int i = 0; i < n; i++)
        texts[i] = sentence();

    /* the store, the fragment, its host (before any thread here) */
    char p[4096], lib[4096];
    snprintf(p, sizeof p, "%s/fragments/embed.so", b);
    if (spl_frag_find(p, NULL, lib, sizeof lib) != 0)
        return fprintf(stderr, "%s: %s\n", p, spl_frag_errmsg()), 2;
    if (!mkdtemp(tmp_dir))
        return 2;
    atexit(cleanup);
    setenv("SPLINTER_SHM_DIR", tmp_dir, 1);
    spl_options o;
    spl_options_init(&o);
    o.geom = (spl_geometry){(uint32_t)(n * (runs + 1) + 64), 64, 512, dim};
    o.feed_len = 4096;
    spl_store *s;
    int rc = spl_create(&s, "bench-embed", &o);
    if (rc)
        die("spl_create", rc);
    char a_model[4200], a_threads[32], a_batch[32];
    snprintf(a_model, sizeof a_model, "model=%s", model);
    snprintf(a_threads, sizeof a_threads, "threads=%d", threads);
    snprintf(a_batch, sizeof a_batch, "batch=%d", batch);
    const char *fargv[] = {"prefix=doc.", "embedder=llama", a_model, a_threads, a_batch};
    rc = spl_frag_register(s, lib, "embed", 5, fargv, 0, NULL, 0);
    if (rc)
        return fprintf(stderr, "register: %s: %s\n", spl_err_name(rc), spl_frag_errmsg()), 2;
    spl_host_opts ho = {SPL_HOST_OPTS_VERSION, 0, "embed", -1};
    host_pid = spl_host_spawn(s, &ho);
    spl_frag_info fi;
    rc = spl_frag_wait(s, "embed", 1u << SPL_FRAG_RUNNING | 1u << SPL_FRAG_FAILED, 60000000000ll, &fi);
    if (rc || fi.state != SPL_FRAG_RUNNING)
        return fprintf(stderr, "start: %s %s\n", spl_err_name(rc), fi.errmsg), 2;

    plain pl;
    plain_open(&pl, model, threads, check ? 1 : batch);
    float *ref = malloc(sizeof *ref * dim * (size_t)n), *got = malloc(sizeof *got * dim);
    /* warm both up (first encodes allocate) */
    plain_run(&pl, texts, n < batch ? n : batch, ref);
    set(s, "doc.warm", texts[0]);
    wait_vec(s, "doc.warm", got, dim);

    printf("bench_embed: %s, dim %u, %d texts, threads %d, batch %d, %d runs\n", model, dim, n, threads, batch,
           runs);
    double ratio[20], base_rate[20], frag_rate[20];
    uint64_t tokens = 0;
    char key[64];
    int bad = 0;
    double worst = 0;
    for (int r = 0; r < runs; r++) {
        uint64_t t0 = now_ns();
        tokens = plain_run(&pl, texts, n, ref);
        uint64_t t1 = now_ns();
        base_rate[r] = n / ((t1 - t0) / 1e9);
        t0 = now_ns();
        for (int i = 0; i < n; i++) {
            snprintf(key, sizeof key, "doc.%d.%d", r, i);
            set(s, key, texts[i]);
        }
        for (int i = 0; i < n; i++) {
            snprintf(key, sizeof key, "doc.%d.%d", r, i);
            wait_vec(s, key, got, dim);
            if (check) { /* the fragment's (batched) vector against one at a time */
                for (uint32_t j = 0; j < dim; j++)
                    if (fabs((double)got[j] - ref[(size_t)i * dim + j]) > worst)
                        worst = fabs((double)got[j] - ref[(size_t)i * dim + j]);
            }
        }
        t1 = now_ns();
        frag_rate[r] = n / ((t1 - t0) / 1e9);
        ratio[r] = frag_rate[r] / base_rate[r];
        printf("run %d: llama.cpp loop %.1f emb/s, fragment %.1f emb/s, ratio %.3f\n", r + 1, base_rate[r],
               frag_rate[r], ratio[r]);
        fflush(stdout);
    }
    qsort(ratio, (size_t)runs, sizeof *ratio, cmp_d);
    qsort(base_rate, (size_t)runs, sizeof *base_rate, cmp_d);
    qsort(frag_rate, (size_t)runs, sizeof *frag_rate, cmp_d);
    printf("throughput: llama.cpp loop %.1f emb/s, fragment %.1f emb/s (medians; %.1f tokens a text); "
           "ratio median %.3f (min %.3f, max %.3f)%s\n",
           base_rate[runs / 2], frag_rate[runs / 2], (double)tokens / n, ratio[runs / 2], ratio[0],
           ratio[runs - 1], check ? " [--check: the loop embeds one text at a time]" : "");

    /* latency: spl_set -> vector readable */
    if (nlat > 0) {
        uint64_t *lat = malloc(sizeof *lat * (size_t)nlat);
        set(s, "doc.lat", texts[0]);
        wait_vec(s, "doc.lat", got, dim);
        for (int i = 0; i < nlat; i++) {
            spl_meta m;
            while ((rc = spl_meta_get(s, "doc.lat", &m)) == SPL_EAGAIN) {
            }
            uint64_t e0 = m.epoch, e = e0;
            uint64_t t0 = now_ns();
            set(s, "doc.lat", texts[(i + 1) % n]);
            while (e < e0 + 4) { /* the text's write, then its vector's */
                rc = spl_key_wait(s, "doc.lat", e, 60000000000ll, &e);
                if (rc && rc != SPL_EAGAIN)
                    die("spl_key_wait", rc);
            }
            lat[i] = now_ns() - t0;
        }
        qsort(lat, (size_t)nlat, sizeof *lat, cmp_u64);
        printf("latency spl_set -> vector readable (%d texts): p50 %.1f us, p99 %.1f us, max %.1f us\n", nlat,
               lat[nlat / 2] / 1e3, lat[(size_t)nlat * 99 / 100] / 1e3, lat[nlat - 1] / 1e3);
        free(lat);
    }
    char rep[2048] = "";
    const char *sv[] = {"stats"};
    spl_frag_call(s, "embed", 1, sv, rep, sizeof rep, NULL, 5000000000ll);
    printf("fragment stats: %s\n", rep);
    if (check) {
        unsigned long long calls = 0, emb = 0, maxb = 0, errs = 1;
        const char *c = strstr(rep, "\"calls\":"), *e = strstr(rep, "\"embedded\":"),
                   *m = strstr(rep, "\"max_batch\":"), *er = strstr(rep, "\"errors\":");
        if (c && e && m && er) {
            calls = strtoull(c + 8, NULL, 10), emb = strtoull(e + 11, NULL, 10);
            maxb = strtoull(m + 12, NULL, 10), errs = strtoull(er + 9, NULL, 10);
        }
        if (worst > 1e-5 || !(maxb > 1 && calls < emb) || errs) {
            fprintf(stderr, "FAIL: max |fragment (batched) - one at a time| %.2e, %llu calls for %llu texts, "
                            "largest %llu, %llu errors\n", worst, calls, emb, maxb, errs);
            bad = 1;
        }
        printf("%s - the fragment's vectors (%llu texts in %llu embedder calls, up to %llu together) equal "
               "llama.cpp's one at a time: max difference %.2e\n", bad ? "not ok" : "ok", emb, calls, maxb,
               worst);
    }
    spl_frag_unregister(s, "embed", 10000000000ll);
    kill_host();
    spl_close(s);
    plain_close(&pl);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts), free(ref), free(got);
    return bad;
}
