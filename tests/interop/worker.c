/* tests/interop/worker.c - the C side of the cross-language test
 * (tests/interop/run.py).  worker STORE ROLE [ARGS]; the roles and the value
 * layout are the same in every language (tests/interop/README.md). */
#include <splinter.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *LANGS[] = {"c", "py", "node", "rust", "go"};
enum { NLANG = 5, NKEYS = 4, HAM_MIN = 65536, HAM_STEP = 16384 };

/* value(L, i) = 00 L 00 00..ff (ff-i) x (i+1) */
static size_t expect(const char *lang, int i, unsigned char *out) {
    size_t n = 0, l = strlen(lang);
    out[n++] = 0;
    memcpy(out + n, lang, l), n += l;
    out[n++] = 0;
    for (int b = 0; b < 256; b++) out[n++] = (unsigned char)b;
    for (int j = 0; j <= i; j++) out[n++] = (unsigned char)(255 - i);
    return n;
}

static int die(const char *what, int rc) {
    printf("FAIL %s: %s\n", what, spl_err_name(rc));
    return 1;
}

static int kv(spl_store *s, long n) {
    unsigned char v[512], got[512];
    char key[64];
    for (int i = 0; i < NKEYS; i++) {
        size_t len = expect("c", i, v);
        snprintf(key, sizeof key, "c.k%d", i);
        int rc = spl_set_wait(s, key, v, len, 1000000);
        if (rc) return die("set", rc);
    }
    for (long i = 0; i < n; i++) {
        int rc;
        while ((rc = spl_inc(s, "ctr", NULL)) == SPL_EAGAIN) {}
        if (rc) return die("inc", rc);
    }
    for (int l = 0; l < NLANG; l++)
        for (int i = 0; i < NKEYS; i++) {
            size_t elen = expect(LANGS[l], i, v), glen = 0;
            snprintf(key, sizeof key, "%s.k%d", LANGS[l], i);
            int rc = 0;
            for (int t = 0; t < 3000; t++) { /* the others may not have written yet */
                rc = spl_get_wait(s, key, got, sizeof got, &glen, 1000000);
                if (rc != SPL_ENOENT) break;
                usleep(10000);
            }
            if (rc) return die(key, rc);
            if (glen != elen || memcmp(got, v, elen)) {
                printf("FAIL %s: %zu bytes differ from the %zu expected\n", key, glen, elen);
                return 1;
            }
        }
    printf("ok c read %d keys\n", NLANG * NKEYS);
    return 0;
}

static int hammer(spl_store *s) {
    static unsigned char buf[HAM_MIN + 8 * HAM_STEP];
    for (unsigned long it = 0;; it++) {
        size_t len = HAM_MIN + (it % 8) * HAM_STEP;
        memset(buf, (int)(it & 0xff), len);
        int rc = spl_set_wait(s, "c.h", buf, len, 1000000);
        if (rc == 0) rc = spl_inc(s, "c.hn", NULL);
        if (rc && rc != SPL_EAGAIN) return die("hammer", rc);
        if (it == 0) printf("ready\n"), fflush(stdout);
    }
}

static int search(spl_store *s, int argc, char **argv) {
    float q[64];
    uint32_t dim = (uint32_t)argc;
    for (int i = 0; i < argc; i++) q[i] = strtof(argv[i], NULL);
    spl_vec_query qq = {.vec = q, .dim = dim, .k = 10, .metric = SPL_METRIC_COSINE};
    spl_vec_result *r = NULL;
    int rc = spl_vec_search(s, &qq, &r);
    if (rc) return die("search", rc);
    for (uint32_t i = 0; i < r->n; i++) printf("hit %s %.9g\n", r->hits[i].key, r->hits[i].score);
    spl_vec_result_free(r);
    return 0;
}

struct keys { char k[256][80]; int n; };
static int collect(const spl_entry *e, void *ud) {
    struct keys *ks = ud;
    if (ks->n < 256) snprintf(ks->k[ks->n++], 80, "%s", e->key);
    return 0;
}

/* After the kills: every key reads whole (a hammer key is one byte repeated,
 * of one of the sizes written), set_wait succeeds on every key, and every
 * free slot takes a new key. */
static int verify(spl_store *s) {
    static unsigned char buf[HAM_MIN + 8 * HAM_STEP];
    static struct keys ks;
    spl_info in0, in;
    int bad = 0;
    spl_info_get(s, &in0);
    int rc = spl_foreach(s, NULL, collect, &ks);
    if (rc) return die("foreach", rc);
    for (int i = 0; i < ks.n; i++) {
        size_t len = 0;
        rc = spl_get_wait(s, ks.k[i], buf, sizeof buf, &len, 2000000);
        if (rc) { printf("FAIL get %s: %s\n", ks.k[i], spl_err_name(rc)); bad++; continue; }
        size_t kl = strlen(ks.k[i]);
        if (kl > 2 && !strcmp(ks.k[i] + kl - 2, ".h")) {
            int whole = len >= HAM_MIN && (len - HAM_MIN) % HAM_STEP == 0 && len <= sizeof buf;
            for (size_t j = 1; whole && j < len; j++) whole = buf[j] == buf[0];
            if (!whole) { printf("FAIL %s torn (%zu bytes)\n", ks.k[i], len); bad++; }
        }
        rc = spl_set_wait(s, ks.k[i], buf, len, 2000000);
        if (rc) { printf("FAIL set_wait %s: %s\n", ks.k[i], spl_err_name(rc)); bad++; }
    }
    spl_info_get(s, &in);
    uint64_t freeslots = in.capacity - in.used, filled = 0;
    char key[64];
    for (;; filled++) {
        snprintf(key, sizeof key, "fill.%llu", (unsigned long long)filled);
        rc = spl_set_wait(s, key, "x", 1, 2000000);
        if (rc) break;
    }
    if (rc != SPL_EFULL || filled != freeslots) {
        printf("FAIL fill: %llu keys of %llu free slots (%s)\n", (unsigned long long)filled,
               (unsigned long long)freeslots, spl_err_name(rc));
        bad++;
    }
    for (uint64_t i = 0; i < filled; i++) {
        snprintf(key, sizeof key, "fill.%llu", (unsigned long long)i);
        spl_unset_wait(s, key, 2000000);
    }
    spl_info_get(s, &in);
    printf("%s verify: %d keys whole and writable, %llu free slots filled; recoveries %llu before, %llu after\n",
           bad ? "FAIL" : "ok", ks.n, (unsigned long long)filled, (unsigned long long)in0.recoveries,
           (unsigned long long)in.recoveries);
    printf("recoveries %llu\n", (unsigned long long)in.recoveries);
    return bad != 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: worker STORE create|kv N|hammer|getint KEY|search F...|verify\n");
        return 2;
    }
    spl_store *s = NULL;
    int rc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(argv[2], "create")) {
        /* a build without vectors (WITH_EMBEDDINGS=0) refuses a vec_dim:
         * the store keeps none there, and says so for run.py */
        int novec = !strcmp(spl_vec_simd(), "none");
        spl_options o;
        spl_options_init(&o);
        o.geom = (spl_geometry){.slots = 256, .key_max = 64, .val_max = HAM_MIN + 8 * HAM_STEP,
                                .vec_dim = novec ? 0 : 8};
        rc = spl_create(&s, argv[1], &o);
        if (rc) return die("create", rc);
        spl_close(s);
        if (novec)
            printf("no vectors: this build has none (WITH_EMBEDDINGS=0)\n");
        return 0;
    }
    rc = spl_open(&s, argv[1], NULL);
    if (rc) return die("open", rc);
    if (!strcmp(argv[2], "kv") && argc > 3) rc = kv(s, atol(argv[3]));
    else if (!strcmp(argv[2], "hammer")) rc = hammer(s);
    else if (!strcmp(argv[2], "search")) rc = search(s, argc - 3, argv + 3);
    else if (!strcmp(argv[2], "verify")) rc = verify(s);
    else if (!strcmp(argv[2], "getint") && argc > 3) {
        int64_t v = 0;
        size_t len = 0;
        rc = spl_get_wait(s, argv[3], &v, sizeof v, &len, 1000000);
        if (rc) return die("getint", rc);
        printf("%lld\n", (long long)v);
    } else rc = 2;
    spl_close(s);
    return rc;
}
