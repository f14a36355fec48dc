/*
 * demo_embed.c - search by meaning: texts written to a store get embedding
 * vectors from the embed fragment (in a host process of its own), and a
 * query text finds the nearest ones.  Says which embedder it used (the
 * default: the model-free "hash" embedder).  Run with `make demo`.
 *
 *   demo_embed [BUILD_DIR]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "embedder.h"
#include "splinter.h"

#define DIM 256

static const char *const TEXTS[] = {
    "The quick brown fox jumps over the lazy dog",
    "How do I reset my password?",
    "The central bank raised interest rates again",
    "Install the Debian package with apt-get",
    "My grandmother bakes bread every Sunday",
};
static const char *const QUERIES[] = {
    "a fox jumping over a dog", "reset password", "interest rates at the bank", "baking bread",
};

int main(int argc, char **argv)
{
    const char *b = argc > 1 ? argv[1] : "build";
    char p[4096], lib[4096], err[160];
    snprintf(p, sizeof p, "%s/fragments/embed.so", b);
    if (spl_frag_find(p, NULL, lib, sizeof lib) != 0) {
        fprintf(stderr, "%s: %s\n", p, spl_frag_errmsg());
        return 1;
    }
    char dir[] = "/tmp/spl-demo-embed-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    setenv("SPLINTER_SHM_DIR", dir, 1);
    spl_options o;
    spl_options_init(&o);
    o.geom = (spl_geometry){256, 64, 1024, DIM};
    spl_store *s;
    int rc = spl_create(&s, "demo", &o);
    if (rc) {
        fprintf(stderr, "create: %s\n", spl_strerror(rc));
        return 1;
    }
    const char *args[] = {"prefix=doc."};
    if ((rc = spl_frag_register(s, lib, "embed", 1, args, 0, NULL, 0)) != 0) {
        fprintf(stderr, "register: %s %s\n", spl_err_name(rc), spl_frag_errmsg());
        return 1;
    }
    spl_host_opts ho = {SPL_HOST_OPTS_VERSION, 0, "embed", -1};
    int pid = spl_host_spawn(s, &ho);
    spl_frag_info fi;
    rc = spl_frag_wait(s, "embed", 1u << SPL_FRAG_RUNNING | 1u << SPL_FRAG_FAILED, 20000000000ll, &fi);
    if (rc || fi.state != SPL_FRAG_RUNNING) {
        fprintf(stderr, "embed fragment did not start: %s\n", fi.errmsg);
        return 1;
    }
    /* the same embedder and settings as the fragment (its registered args) */
    emb_embedder *e;
    if (emb_open(NULL, NULL, 0, &e, err, sizeof err) != 0)
        return 1;
    printf("embed demo: embedder '%s' (model-free feature hashing; a llama.cpp model plugs in later), "
           "vec_dim %d\n", e->kind, DIM);
    size_t nt = sizeof TEXTS / sizeof *TEXTS;
    for (size_t i = 0; i < nt; i++) {
        char key[32];
        snprintf(key, sizeof key, "doc.%zu", i);
        spl_set(s, key, TEXTS[i], strlen(TEXTS[i]));
        printf("  set %-6s \"%s\"\n", key, TEXTS[i]);
    }
    /* wait for the vectors (the fragment writes each at its text's epoch) */
    float v[DIM];
    for (size_t i = 0; i < nt; i++) {
        char key[32];
        snprintf(key, sizeof key, "doc.%zu", i);
        for (int t = 0; t < 5000 && spl_vec_get(s, key, v, DIM, NULL) != 0; t++) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    for (size_t qi = 0; qi < sizeof QUERIES / sizeof *QUERIES; qi++) {
        e->embed(e, e->query_prefix, QUERIES[qi], strlen(QUERIES[qi]), v, DIM);
        spl_vec_query q = {v, NULL, DIM, 2, SPL_METRIC_COSINE, 0, 0, "doc.", 0};
        spl_vec_result *r;
        if (spl_vec_search(s, &q, &r) != 0)
            return 1;
        printf("  search \"%s\":\n", QUERIES[qi]);
        for (uint32_t i = 0; i < r->n; i++) {
            char val[1024];
            size_t len = 0;
            spl_get(s, r->hits[i].key, val, sizeof val - 1, &len);
            val[len] = 0;
            printf("    %.3f  %-6s \"%s\"\n", (double)r->hits[i].score, r->hits[i].key, val);
        }
        spl_vec_result_free(r);
    }
    printf("  (same from the shell: splinterctl insmod embed prefix=doc. ; splinterctl search --text \"...\")\n");
    spl_frag_unregister(s, "embed", 5000000000ll);
    if (pid > 0)
        kill(pid, SIGKILL); /* already gone after rmmod; harmless */
    emb_close(e);
    spl_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) != 0;
}
