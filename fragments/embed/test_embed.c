/*
 * test_embed.c - the embed fragment end to end, in a host process of its
 * own, on a store with vectors:
 *   - texts written under the followed prefix get the vector the default
 *     embedder gives (computed here independently), a key outside gets none;
 *   - a search by the embedding of a near-duplicate finds its original
 *     first, also through `splinterctl search --text`;
 *   - a text changed after it was embedded is embedded again;
 *   - the host is killed (SIGKILL) in the middle of a burst, texts change
 *     while it is down, it is registered again: every key ends with the
 *     vector of its current text (nothing missed);
 *   - the latency from spl_set of a text to its vector (p50/p99).
 *
 *   test_embed BUILD_DIR
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "splinter.h"

#include "embedder.c"

#define DIM 96

static int failures, checks;
#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        checks++;                                                                                 \
        if (!(cond)) {                                                                            \
            if (failures++ < 20) {                                                                \
                fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                   \
                fprintf(stderr, __VA_ARGS__);                                                     \
                fprintf(stderr, "\n");                                                            \
            }                                                                                     \
        }                                                                                         \
    } while (0)

static int hosts[16], nhosts;
static void kill_hosts(void)
{
    for (int i = 0; i < nhosts; i++) {
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/%d/comm", hosts[i]);
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof comm, f) && strncmp(comm, "splinter-host", 13) == 0)
            kill(hosts[i], SIGKILL);
        if (f)
            fclose(f);
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static void nap(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

static emb_embedder *E;

/* Wait (up to 10 s) until key holds the vector of `text`. */
static int wait_vec(spl_store *s, const char *key, const char *text)
{
    float want[DIM], got[DIM];
    E->embed(E, "", text, strlen(text), want, DIM);
    for (uint64_t t0 = now_ns(); now_ns() - t0 < 10000000000ull; nap(200000))
        if (spl_vec_get(s, key, got, DIM, NULL) == 0 && memcmp(want, got, sizeof want) == 0)
            return 0;
    return -1;
}

static int start(spl_store *s, const char *lib)
{
    const char *argv[] = {"prefix=doc."};
    int rc = spl_frag_register(s, lib, "embed", 1, argv, 0, NULL, 0);
    if (rc) {
        fprintf(stderr, "register: %s: %s\n", spl_err_name(rc), spl_frag_errmsg());
        return rc;
    }
    spl_host_opts ho = {SPL_HOST_OPTS_VERSION, 0, "embed", -1};
    int pid = spl_host_spawn(s, &ho);
    if (pid > 0 && nhosts < 16)
        hosts[nhosts++] = pid;
    spl_frag_info fi;
    rc = spl_frag_wait(s, "embed", 1u << SPL_FRAG_RUNNING | 1u << SPL_FRAG_FAILED, 20000000000ll, &fi);
    if (rc || fi.state != SPL_FRAG_RUNNING) {
        fprintf(stderr, "start: %s %s\n", spl_err_name(rc), fi.errmsg);
        return -1;
    }
    return pid;
}

static const char *const DOCS[][2] = {
    /* text, a near-duplicate query */
    {"The quick brown fox jumps over the lazy dog", "a quick brown fox jumped over a lazy dog"},
    {"How do I reset my password?", "how can I reset the password"},
    {"Interest rates were raised by the central bank", "the central bank raised interest rates"},
    {"The orchestra played Beethoven's ninth symphony", "Beethoven symphony played by an orchestra"},
    {"Install the Debian package with apt-get", "installing Debian packages using apt"},
    {"My grandmother bakes bread every Sunday", "grandma baking bread on Sundays"},
};
#define NDOCS (int)(sizeof DOCS / sizeof *DOCS)

int main(int argc, char **argv)
{
    const char *b = argc > 1 ? argv[1] : "build";
    if (strcmp(spl_vec_simd(), "none") == 0) {
        printf("SKIP test_embed: no vectors in this build (WITH_EMBEDDINGS=0)\n");
        return 77;
    }
    char p[4096], lib[4096], err[128];
    snprintf(p, sizeof p, "%s/fragments/embed.so", b);
    if (spl_frag_find(p, NULL, lib, sizeof lib) != 0) {
        fprintf(stderr, "%s: %s\n", p, spl_frag_errmsg());
        return 2;
    }
    if (emb_open(NULL, NULL, 0, &E, err, sizeof err) != 0)
        return 2;
    char dir[] = "/tmp/spl-embed-XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    atexit(kill_hosts);
    setenv("SPLINTER_SHM_DIR", dir, 1);
    spl_options o;
    spl_options_init(&o);
    o.geom = (spl_geometry){1024, 64, 512, DIM};
    o.feed_len = 256; /* small: the burst below laps it */
    spl_store *s;
    if (spl_create(&s, "emb", &o) != 0)
        return 2;
    int pid = start(s, lib);
    if (pid <= 0)
        return 1;

    /* texts in, vectors out */
    char key[64];
    for (int i = 0; i < NDOCS; i++) {
        snprintf(key, sizeof key, "doc.%d", i);
        CHECK(spl_set(s, key, DOCS[i][0], strlen(DOCS[i][0])) == 0, "set");
    }
    spl_set(s, "other.x", DOCS[0][0], strlen(DOCS[0][0]));
    for (int i = 0; i < NDOCS; i++) {
        snprintf(key, sizeof key, "doc.%d", i);
        CHECK(wait_vec(s, key, DOCS[i][0]) == 0, "%s gets its vector", key);
    }
    float v[DIM];
    CHECK(spl_vec_get(s, "other.x", v, DIM, NULL) == SPL_ENOVEC, "a key outside the prefix has none");
    /* search by meaning: the near-duplicate finds its original first */
    for (int i = 0; i < NDOCS; i++) {
        E->embed(E, "", DOCS[i][1], strlen(DOCS[i][1]), v, DIM);
        spl_vec_query q = {v, NULL, DIM, 1, SPL_METRIC_COSINE, 0, 0, "doc.", 0};
        spl_vec_result *r;
        snprintf(key, sizeof key, "doc.%d", i);
        CHECK(spl_vec_search(s, &q, &r) == 0 && r->n == 1 && strcmp(r->hits[0].key, key) == 0,
              "'%s' finds %s", DOCS[i][1], key);
        spl_vec_result_free(r);
    }
    /* the same through splinterctl search --text (if it is built) */
    char cmd[4096], line[256] = "";
    snprintf(cmd, sizeof cmd, "%s/splinterctl -s emb search --text 'how can I reset the password' -k 1", b);
    snprintf(p, sizeof p, "%s/splinterctl", b);
    if (access(p, X_OK) == 0) {
        FILE *f = popen(cmd, "r");
        CHECK(f && fgets(line, sizeof line, f) && strstr(line, "\tdoc.1"), "search --text: %s", line);
        if (f)
            pclose(f);
    }
    printf("%s - %d texts embedded; each near-duplicate finds its original first\n",
           failures ? "not ok" : "ok", NDOCS);

    /* a changed text is embedded again */
    const char *nt = "Bananas are rich in potassium";
    CHECK(spl_set(s, "doc.0", nt, strlen(nt)) == 0, "set");
    CHECK(wait_vec(s, "doc.0", nt) == 0, "doc.0 re-embedded");
    /* a label change keeps the vector (the text did not change) */
    CHECK(spl_labels_set(s, "doc.0", 4) == 0, "label");
    nap(50000000);
    CHECK(wait_vec(s, "doc.0", nt) == 0, "doc.0 kept");
    printf("%s - a changed text is embedded again\n", failures ? "not ok" : "ok");

    /* latency from spl_set to the vector readable */
    enum { NLAT = 200 };
    static uint64_t lat[NLAT];
    char text[128];
    for (int i = 0; i < NLAT; i++) {
        snprintf(text, sizeof text, "latency probe number %d about foxes and banks", i);
        float want[DIM];
        E->embed(E, "", text, strlen(text), want, DIM);
        uint64_t t0 = now_ns();
        spl_set(s, "doc.lat", text, strlen(text));
        while (now_ns() - t0 < 5000000000ull &&
               !(spl_vec_get(s, "doc.lat", v, DIM, NULL) == 0 && memcmp(v, want, sizeof v) == 0)) {
        }
        lat[i] = now_ns() - t0;
    }
    for (int i = 1; i < NLAT; i++) /* insertion sort */
        for (int j = i; j > 0 && lat[j - 1] > lat[j]; j--) {
            uint64_t t = lat[j];
            lat[j] = lat[j - 1], lat[j - 1] = t;
        }
    printf("ok - latency set -> vector (hash embedder, dim %d): p50 %.1f us, p99 %.1f us\n", DIM,
           lat[NLAT / 2] / 1e3, lat[NLAT * 99 / 100] / 1e3);

    /* killed mid-burst, texts change while it is down, restart: nothing missed */
    enum { NB = 400 };
    static char texts[NB][96];
    for (int i = 0; i < NB; i++) {
        snprintf(texts[i], sizeof texts[i], "burst text %d: the %s %s", i, i % 3 ? "fox" : "bank",
                 i % 5 ? "jumps" : "lends");
        snprintf(key, sizeof key, "doc.b%d", i);
        spl_set(s, key, texts[i], strlen(texts[i]));
        if (i == NB / 2)
            kill(pid, SIGKILL);
    }
    for (int t = 0; t < 400; t++) {
        spl_frag_info fi;
        if (spl_frag_get(s, "embed", &fi) == 0 && fi.state == SPL_FRAG_DEAD)
            break;
        nap(5000000);
    }
    for (int i = 0; i < NB; i += 7) { /* changed while it is down */
        snprintf(texts[i], sizeof texts[i], "changed while down %d", i);
        snprintf(key, sizeof key, "doc.b%d", i);
        spl_set(s, key, texts[i], strlen(texts[i]));
    }
    pid = start(s, lib);
    CHECK(pid > 0, "restart");
    int missed = 0;
    for (int i = 0; i < NB; i++) {
        snprintf(key, sizeof key, "doc.b%d", i);
        if (wait_vec(s, key, texts[i]) != 0 && missed++ < 5)
            fprintf(stderr, "missed %s\n", key);
    }
    CHECK(missed == 0, "%d keys without the vector of their text", missed);
    for (int i = 1; i < NDOCS; i++) {
        snprintf(key, sizeof key, "doc.%d", i);
        CHECK(wait_vec(s, key, DOCS[i][0]) == 0, "%s kept", key);
    }
    char rep[2048] = "";
    const char *sv[] = {"stats"};
    CHECK(spl_frag_call(s, "embed", 1, sv, rep, sizeof rep, NULL, 5000000000ll) == 0 &&
              strstr(rep, "\"embedder\":\"hash\""), "stats: %s", rep);
    printf("%s - killed mid-burst and restarted: every key has its current text's vector (%s)\n",
           failures ? "not ok" : "ok", rep);
    const char *qv[] = {"query", "the central bank raised interest rates", "1"};
    CHECK(spl_frag_call(s, "embed", 3, qv, rep, sizeof rep, NULL, 5000000000ll) == 0 &&
              strstr(rep, "\"doc.2\""), "query: %s", rep);
    CHECK(spl_frag_unregister(s, "embed", 5000000000ll) == 0, "rmmod");
    spl_close(s);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    emb_close(E);
    printf("test_embed: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
