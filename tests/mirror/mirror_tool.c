/*
 * mirror_tool.c - helpers for the mirror's tests (the scripts in tests/mirror).
 *
 *   mirror_tool create PATH [--slots N] [--val N] [--vec N] [--feed N]
 *   mirror_tool work PATH --ms MS --seed S [--rate OPS/s] [--keys N] [--counters N]
 *                    [--prefix P] [--label L] [--vec]
 *       random sets, deletes, integer adds, label and type changes
 *   mirror_tool converge URL BUCKET PATH... [--timeout S] [--prefix P] [--label L]
 *                    [--vec] [--token-file F]
 *       wait until every store holds the same keys and values as the others
 *       and as the bucket's last revisions; print the differences if not
 *   mirror_tool inject URL BUCKET KEY KIND [ARG]     KIND: raw TEXT | entry VALUE |
 *       big N | dim N | nan | badtype   (puts one entry as it is into the bucket)
 *   mirror_tool bucket URL BUCKET [--max-value N]   (create it)
 *   mirror_tool set PATH KEY VALUE | get PATH KEY | mode PATH
 *   mirror_tool vectors     exit 0 if this build keeps vectors, 1 if not
 *       (WITH_EMBEDDINGS=0: the library's SIMD path, printed, is "none")
 *   mirror_tool race URL BUCKET PATH CASE    CASE: unset | delack | putack
 *       runs a mirror of PATH (label 9) in this process, orders its threads
 *       through the tests-only hook, and checks that it converges (cmd_race)
 *
 * Exit 0 on success, 1 on a failed check, 2 on bad usage or setup errors.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "entry.h"
#include "splinter.h"
#include "splinter_mirror.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

static int flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

static spl_store *open_store(const char *path)
{
    spl_store *s = NULL;
    int rc = spl_open(&s, path, NULL);
    if (rc) {
        fprintf(stderr, "mirror_tool: open %s: %s\n", path, spl_strerror(rc));
        exit(2);
    }
    return s;
}

/* ------------------------------------------------------------ create, set, get */

static int cmd_create(int argc, char **argv)
{
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_FILE;
    o.geom.slots = (uint32_t)atoi(opt(argc, argv, "--slots", "4096"));
    o.geom.val_max = (uint32_t)atoi(opt(argc, argv, "--val", "256"));
    o.geom.vec_dim = (uint32_t)atoi(opt(argc, argv, "--vec", "0"));
    o.feed_len = (uint32_t)atoi(opt(argc, argv, "--feed", "0"));
    spl_store *s = NULL;
    int rc = spl_create(&s, argv[2], &o);
    if (rc) {
        fprintf(stderr, "mirror_tool: create %s: %s\n", argv[2], spl_strerror(rc));
        return 2;
    }
    spl_close(s);
    return 0;
}

static int cmd_set(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    spl_store *s = open_store(argv[2]);
    int rc = spl_set_wait(s, argv[3], argv[4], strlen(argv[4]), 1000000);
    spl_close(s);
    return rc ? 1 : 0;
}

static int cmd_get(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    spl_store *s = open_store(argv[2]);
    char buf[65536];
    size_t len = 0;
    int rc = spl_get_wait(s, argv[3], buf, sizeof buf - 1, &len, 1000000);
    spl_close(s);
    if (rc == SPL_ENOENT) {
        printf("(absent)\n");
        return 0;
    }
    if (rc)
        return 1;
    buf[len] = 0;
    printf("%s\n", buf);
    return 0;
}

static int cmd_mode(int argc, char **argv)
{
    struct stat sb;
    if (argc < 3 || stat(argv[2], &sb))
        return 2;
    printf("%04o\n", (unsigned)(sb.st_mode & 07777));
    return 0;
}

/* ------------------------------------------------------------ work */

static uint64_t rng;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmd_work(int argc, char **argv)
{
    spl_store *s = open_store(argv[2]);
    double ms = atof(opt(argc, argv, "--ms", "2000"));
    rng = (uint64_t)atoll(opt(argc, argv, "--seed", "1")) * 0x9e3779b97f4a7c15ull + 1;
    double rate = atof(opt(argc, argv, "--rate", "5000"));
    int keys = atoi(opt(argc, argv, "--keys", "200")), counters = atoi(opt(argc, argv, "--counters", "10"));
    const char *prefix = opt(argc, argv, "--prefix", "");
    int label = atoi(opt(argc, argv, "--label", "-1"));
    int vec = flag(argc, argv, "--vec");
    spl_info inf;
    spl_info_get(s, &inf);
    float *v = vec ? calloc(inf.geom.vec_dim, sizeof(float)) : NULL;
    double t0 = now_s();
    long ops = 0;
    char key[128], val[64];
    while (now_s() - t0 < ms / 1000) {
        double due = t0 + (double)ops / rate;
        while (now_s() < due) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
        int r = (int)(rnd() % 100);
        if (r < 85 && r >= 60)
            snprintf(key, sizeof key, "%sc%d", prefix, (int)(rnd() % (uint64_t)counters));
        else
            snprintf(key, sizeof key, "%sk%d", prefix, (int)(rnd() % (uint64_t)keys));
        if (r < 45) {
            int n = 1 + (int)(rnd() % 48);
            for (int i = 0; i < n; i++)
                val[i] = (char)('a' + rnd() % 26);
            if (spl_set_wait(s, key, val, (size_t)n, 100000) == 0 && label >= 0)
                spl_labels_set(s, key, 1ull << label);
        } else if (r < 60) {
            spl_unset(s, key);
        } else if (r < 85) {
            int64_t out;
            if (spl_add(s, key, (int64_t)(rnd() % 11) - 5, &out) == 0 && label >= 0)
                spl_labels_set(s, key, 1ull << label);
        } else if (r < 92) {
            spl_labels_set(s, key, 1ull << (rnd() % 8));
        } else if (r < 96) {
            spl_type_set(s, key, rnd() % 2 ? SPL_T_TEXT : SPL_T_BINARY);
        } else if (vec && inf.geom.vec_dim) {
            for (uint32_t i = 0; i < inf.geom.vec_dim; i++)
                v[i] = (float)(rnd() % 1000) / 100.0f;
            spl_vec_set(s, key, v, inf.geom.vec_dim);
        } else {
            spl_flags_set(s, key, (uint8_t)(rnd() % 4));
        }
        ops++;
    }
    printf("work %s: %ld ops in %.2f s\n", argv[2], ops, now_s() - t0);
    free(v);
    spl_close(s);
    return 0;
}

/* ------------------------------------------------------------ converge */

struct item {
    char *key;
    uint8_t type, flags, has_vec;
    uint64_t labels;
    uint32_t len, dim;
    uint8_t *val;
    float *vec;
};

struct set {
    struct item *it;
    size_t n, cap;
    const char *prefix;
    int label;
    int vec;
    spl_store *s;
};

static void set_free(struct set *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->it[i].key);
        free(t->it[i].val);
        free(t->it[i].vec);
    }
    free(t->it);
    t->it = NULL;
    t->n = t->cap = 0;
}

static struct item *set_add(struct set *t)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->it = realloc(t->it, t->cap * sizeof *t->it);
    }
    struct item *x = &t->it[t->n++];
    memset(x, 0, sizeof *x);
    return x;
}

static int keep(struct set *t, const char *key, uint64_t labels)
{
    if (strncmp(key, SPLM_RESERVED, sizeof SPLM_RESERVED - 1) == 0)
        return 0;
    if (t->prefix && strncmp(key, t->prefix, strlen(t->prefix)) != 0)
        return 0;
    if (t->label >= 0 && !(labels & (1ull << t->label)))
        return 0;
    return 1;
}

static int store_cb(const spl_entry *e, void *ud)
{
    struct set *t = ud;
    if (!keep(t, e->key, e->meta.labels))
        return 0;
    struct item *x = set_add(t);
    x->key = strdup(e->key);
    x->type = e->meta.type;
    x->flags = e->meta.user_flags;
    x->labels = e->meta.labels;
    x->len = e->meta.val_len;
    x->val = malloc(x->len + 1);
    memcpy(x->val, e->val, x->len);
    if (t->vec) {
        spl_info inf;
        spl_info_get(t->s, &inf);
        x->vec = calloc(inf.geom.vec_dim + 1, sizeof(float));
        x->dim = inf.geom.vec_dim;
        x->has_vec = spl_vec_get(t->s, e->key, x->vec, inf.geom.vec_dim, NULL) == 0;
    }
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const struct item *)a)->key, ((const struct item *)b)->key);
}

static int read_store(struct set *t)
{
    spl_filter f = {0};
    f.flags = SPL_F_VALUES;
    int rc = spl_foreach(t->s, &f, store_cb, t);
    qsort(t->it, t->n, sizeof *t->it, cmp_item);
    return rc;
}

static int read_bucket(kvStore *kv, struct set *t)
{
    kvWatcher *w = NULL;
    kvEntry *e;
    natsStatus s = kvStore_WatchAll(&w, kv, NULL);
    if (s != NATS_OK)
        return -1;
    while ((s = kvWatcher_Next(&e, w, 5000)) == NATS_OK && e) {
        splm_entry d;
        char key[4097];
        size_t kl;
        if (kvEntry_Operation(e) == kvOp_Put && splm_key_decode(kvEntry_Key(e), key, sizeof key, &kl) == 0 &&
            splm_entry_decode(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), &d) == 0 &&
            keep(t, key, d.labels)) {
            struct item *x = set_add(t);
            x->key = strdup(key);
            x->type = d.type;
            x->flags = d.uflags;
            x->labels = d.labels;
            x->len = d.val_len;
            x->val = malloc(d.val_len + 1);
            memcpy(x->val, d.val, d.val_len);
            if (d.flags & SPLM_VEC_CARRIED) {
                x->has_vec = (d.flags & SPLM_VEC_PRESENT) != 0;
                x->dim = d.vec_dim;
                x->vec = calloc(d.vec_dim + 1, sizeof(float));
                for (uint32_t i = 0; i < d.vec_dim; i++)
                    x->vec[i] = splm_entry_vec(&d, i);
            } else {
                x->has_vec = 2; /* not carried */
            }
        }
        kvEntry_Destroy(e);
    }
    kvWatcher_Destroy(w);
    qsort(t->it, t->n, sizeof *t->it, cmp_item);
    return s == NATS_OK ? 0 : -1;
}

static int same_item(const struct item *a, const struct item *b, int vec)
{
    if (a->type != b->type || a->flags != b->flags || a->labels != b->labels || a->len != b->len ||
        memcmp(a->val, b->val, a->len) != 0)
        return 0;
    if (!vec || a->has_vec == 2 || b->has_vec == 2)
        return 1;
    if (a->has_vec != b->has_vec)
        return 0;
    if (a->has_vec && a->dim == b->dim)
        for (uint32_t i = 0; i < a->dim; i++)
            if (fabsf(a->vec[i] - b->vec[i]) > 1e-3f * (1 + fabsf(a->vec[i])))
                return 0;
    return 1;
}

/* Differences between two sorted sets; print up to `show` of them. */
static int diff(const char *an, struct set *a, const char *bn, struct set *b, int vec, int show)
{
    size_t i = 0, j = 0;
    int n = 0;
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->it[i].key, b->it[j].key);
        if (c < 0) {
            if (n++ < show)
                printf("  %s has '%s', %s does not\n", an, a->it[i].key, bn);
            i++;
        } else if (c > 0) {
            if (n++ < show)
                printf("  %s has '%s', %s does not\n", bn, b->it[j].key, an);
            j++;
        } else {
            int d = !same_item(&a->it[i], &b->it[j], vec);
            if (d && n++ < show)
                printf("  '%s' differs: %s: type %u labels %llx len %u '%.*s' / %s: type %u labels %llx len %u "
                       "'%.*s'\n",
                       a->it[i].key, an, a->it[i].type, (unsigned long long)a->it[i].labels, a->it[i].len,
                       (int)(a->it[i].len > 40 ? 40 : a->it[i].len), (const char *)a->it[i].val, bn,
                       b->it[j].type, (unsigned long long)b->it[j].labels, b->it[j].len,
                       (int)(b->it[j].len > 40 ? 40 : b->it[j].len), (const char *)b->it[j].val);
            i++, j++;
        }
    }
    return n;
}

static kvStore *connect_kv(const char *url, const char *bucket, const char *token_file, natsConnection **ncp,
                           jsCtx **jsp)
{
    natsOptions *o = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    if (token_file) {
        char tok[512] = {0};
        FILE *f = fopen(token_file, "r");
        if (f) {
            if (!fgets(tok, sizeof tok, f))
                tok[0] = 0;
            fclose(f);
        }
        tok[strcspn(tok, "\r\n")] = 0;
        natsOptions_SetToken(o, tok);
    }
    natsStatus s = natsConnection_Connect(ncp, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        fprintf(stderr, "mirror_tool: connect %s: %s\n", url, natsStatus_GetText(s));
        exit(2);
    }
    natsConnection_JetStream(jsp, *ncp, NULL);
    kvStore *kv = NULL;
    if (bucket && (s = js_KeyValue(&kv, *jsp, bucket)) != NATS_OK) {
        fprintf(stderr, "mirror_tool: bucket %s: %s\n", bucket, natsStatus_GetText(s));
        exit(2);
    }
    return kv;
}

static int cmd_converge(int argc, char **argv)
{
    int nst = 0;
    while (4 + nst < argc && strncmp(argv[4 + nst], "--", 2) != 0)
        nst++;
    if (nst < 1)
        return 2;
    double timeout = atof(opt(argc, argv, "--timeout", "30"));
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv = connect_kv(argv[2], argv[3], opt(argc, argv, "--token-file", NULL), &nc, &js);
    struct set bk = {0}, st[8] = {{0}};
    if (nst > 8)
        return 2;
    for (int k = 0; k < nst; k++) {
        st[k].s = open_store(argv[4 + k]);
        st[k].prefix = opt(argc, argv, "--prefix", NULL);
        st[k].label = atoi(opt(argc, argv, "--label", "-1"));
        st[k].vec = flag(argc, argv, "--vec");
    }
    bk.prefix = st[0].prefix;
    bk.label = st[0].label;
    double t0 = now_s();
    int bad = 0, rounds = 0;
    for (;;) {
        rounds++;
        bad = 0;
        set_free(&bk);
        if (read_bucket(kv, &bk)) {
            bad = 1;
        } else {
            for (int k = 0; k < nst; k++) {
                set_free(&st[k]);
                read_store(&st[k]);
                bad += diff(argv[4 + k], &st[k], "bucket", &bk, st[k].vec, 0);
            }
        }
        if (!bad || now_s() - t0 > timeout)
            break;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (bad) {
        printf("not converged after %.1f s (%d differences):\n", now_s() - t0, bad);
        for (int k = 0; k < nst; k++)
            diff(argv[4 + k], &st[k], "bucket", &bk, st[k].vec, 10);
        if (nst > 1)
            diff(argv[4], &st[0], argv[5], &st[1], st[0].vec, 10);
    } else {
        printf("converged in %.2f s: %zu keys in the bucket and in each of %d stores, all equal\n",
               now_s() - t0, bk.n, nst);
    }
    set_free(&bk);
    for (int k = 0; k < nst; k++) {
        set_free(&st[k]);
        spl_close(st[k].s);
    }
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return bad ? 1 : 0;
}

/* ------------------------------------------------------------ inject */

static int cmd_inject(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv = connect_kv(argv[2], argv[3], opt(argc, argv, "--token-file", NULL), &nc, &js);
    const char *key = argv[4], *kind = argv[5], *arg = argc > 6 ? argv[6] : "";
    char bkey[3 * 4096 + 1];
    splm_key_encode(key, strlen(key), bkey);
    static uint8_t buf[1 << 20];
    static float vec[4096];
    splm_entry e = {0};
    e.origin = 0x7e57; /* some other store */
    e.epoch = (uint64_t)time(NULL) * 2;
    e.type = SPL_T_TEXT;
    const char *v = arg;
    e.val = v;
    e.val_len = (uint32_t)strlen(v);
    natsStatus s;
    if (strcmp(kind, "raw") == 0) { /* not an entry at all, under a key as given */
        s = kvStore_PutString(NULL, kv, key, arg);
        goto done;
    }
    if (strcmp(kind, "big") == 0) {
        e.val_len = (uint32_t)atoi(arg);
        memset(buf + 1024, 'x', e.val_len);
        e.val = buf + 1024;
    } else if (strcmp(kind, "dim") == 0 || strcmp(kind, "nan") == 0) {
        e.flags = SPLM_VEC_CARRIED | SPLM_VEC_PRESENT;
        e.vec_dim = strcmp(kind, "dim") == 0 ? (uint32_t)atoi(arg) : (uint32_t)atoi(opt(argc, argv, "--dim", "4"));
        for (uint32_t i = 0; i < e.vec_dim; i++)
            vec[i] = 1.0f;
        if (strcmp(kind, "nan") == 0)
            vec[0] = NAN;
        e.vec = vec;
        e.val = "v";
        e.val_len = 1;
    } else if (strcmp(kind, "badtype") == 0) {
        e.type = 200;
    } else if (strcmp(kind, "entry") != 0) {
        fprintf(stderr, "mirror_tool: inject: unknown kind %s\n", kind);
        return 2;
    }
    size_t n = splm_entry_size(e.val_len, e.vec_dim);
    uint8_t *out = malloc(n);
    splm_entry_encode(&e, out);
    s = kvStore_Put(NULL, kv, bkey, out, (int)n);
    free(out);
done:
    if (s != NATS_OK)
        fprintf(stderr, "mirror_tool: inject %s: %s\n", kind, natsStatus_GetText(s));
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return s == NATS_OK ? 0 : 1;
}

static int cmd_bucket(int argc, char **argv)
{
    natsConnection *nc;
    jsCtx *js;
    connect_kv(argv[2], NULL, opt(argc, argv, "--token-file", NULL), &nc, &js);
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = argv[3];
    kc.History = 1;
    kc.MaxValueSize = atoi(opt(argc, argv, "--max-value", "0"));
    if (!kc.MaxValueSize)
        kc.MaxValueSize = -1;
    kvStore *kv = NULL;
    natsStatus s = js_CreateKeyValue(&kv, js, &kc);
    if (s != NATS_OK)
        fprintf(stderr, "mirror_tool: bucket: %s\n", natsStatus_GetText(s));
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return s == NATS_OK ? 0 : 1;
}

/* ------------------------------------------------------------ race */

/* mirror/mirror.c, tests only: where 0 before a publisher batch, 1 before
 * an acknowledgement is looked at, 2 after a publisher batch, 3 between an
 * entry's write into the store and the applier's read back */
extern void (*splm__test_hook)(spl_mirror *m, int where);

static pthread_mutex_t h_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t h_cv = PTHREAD_COND_INITIALIZER;
static int h_hold[4], h_in[4];
static uint64_t h_count[4];

static void race_hook(spl_mirror *m, int where)
{
    (void)m;
    pthread_mutex_lock(&h_mu);
    h_count[where]++;
    while (h_hold[where]) {
        h_in[where] = 1;
        pthread_cond_broadcast(&h_cv);
        pthread_cond_wait(&h_cv, &h_mu);
    }
    h_in[where] = 0;
    pthread_cond_broadcast(&h_cv);
    pthread_mutex_unlock(&h_mu);
}

static void hold(int where, int on)
{
    pthread_mutex_lock(&h_mu);
    h_hold[where] = on;
    pthread_cond_broadcast(&h_cv);
    pthread_mutex_unlock(&h_mu);
}

static uint64_t arrivals(int where)
{
    pthread_mutex_lock(&h_mu);
    uint64_t n = h_count[where];
    pthread_mutex_unlock(&h_mu);
    return n;
}

static int held(int where)
{
    pthread_mutex_lock(&h_mu);
    int n = h_in[where];
    pthread_mutex_unlock(&h_mu);
    return n;
}

static spl_mirror *race_m;
static int race_rc;
static void *race_run(void *arg)
{
    (void)arg;
    race_rc = spl_mirror_run(race_m);
    return NULL;
}

/* Wait (20 s at most) until what() holds; 0 on time-out. */
#define RACE_WAIT(what, cond)                                                                        \
    do {                                                                                             \
        double t_ = now_s();                                                                         \
        while (!(cond)) {                                                                            \
            if (now_s() - t_ > 20) {                                                                 \
                fprintf(stderr, "mirror_tool race: timed out waiting: %s\n", what);                  \
                rc = 2;                                                                              \
                goto out;                                                                            \
            }                                                                                        \
            struct timespec ts_ = {0, 2000000};                                                      \
            nanosleep(&ts_, NULL);                                                                   \
        }                                                                                            \
    } while (0)

static spl_mirror_stats race_stats(void)
{
    spl_mirror_stats st;
    spl_mirror_stats_get(race_m, &st);
    return st;
}

/* key=val with label 9: one change the publisher can see (a key that has
 * the label keeps it; a new one has none, so no event, until it is set) */
static int set_labelled(spl_store *s, const char *key, const char *val)
{
    spl_meta mt;
    int had = spl_meta_get(s, key, &mt) == 0 && (mt.labels & (1ull << 9));
    int rc = spl_set_wait(s, key, val, strlen(val), 1000000);
    return rc || had ? rc : spl_labels_set(s, key, 1ull << 9);
}

/* "v" if the store holds it, "" if it has no key, NULL on an error */
static const char *local_val(spl_store *s, const char *key, char *buf, size_t cap)
{
    size_t len = 0;
    int rc = spl_get_wait(s, key, buf, cap - 1, &len, 1000000);
    if (rc == SPL_ENOENT)
        return "";
    if (rc)
        return NULL;
    buf[len] = 0;
    return buf;
}

/* the bucket's value of key (an entry's value bytes), "" if deleted or absent */
static const char *bucket_val(kvStore *kv, const char *key, char *buf, size_t cap)
{
    char bkey[3 * 128 + 1];
    splm_key_encode(key, strlen(key), bkey);
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, kv, bkey);
    if (s == NATS_NOT_FOUND)
        return "";
    if (s != NATS_OK)
        return NULL;
    splm_entry d;
    const char *r = NULL;
    if (kvEntry_Operation(e) != kvOp_Put)
        r = "";
    else if (splm_entry_decode(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), &d) == 0 && d.val_len < cap) {
        memcpy(buf, d.val, d.val_len);
        buf[d.val_len] = 0;
        r = buf;
    }
    kvEntry_Destroy(e);
    return r;
}

/* Another store's put of key=val (label 9) into the bucket; its revision. */
static uint64_t race_inject(kvStore *kv, const char *key, const char *val)
{
    char bkey[3 * 128 + 1];
    splm_key_encode(key, strlen(key), bkey);
    splm_entry e = {0};
    e.origin = 0x7e57;
    e.epoch = 2;
    e.type = SPL_T_VOID;
    e.labels = 1ull << 9;
    e.val = val;
    e.val_len = (uint32_t)strlen(val);
    uint8_t out[256];
    splm_entry_encode(&e, out);
    uint64_t rev = 0;
    if (kvStore_Put(&rev, kv, bkey, out, (int)splm_entry_size(e.val_len, 0)) != NATS_OK)
        return 0;
    return rev;
}

/* A mirror of the store at path (publish and apply, label 9) running in a
 * thread of this process, its hook set, and a client of its bucket: what
 * the race and interfere commands drive. */
typedef struct race_env {
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    spl_store *s;
    pthread_t th;
    int started;
} race_env;

/* Let every held thread go, stop the mirror and close everything. */
static void race_stop(race_env *e)
{
    for (int w = 0; w < 4; w++)
        hold(w, 0);
    if (e->started) {
        spl_mirror_stop(race_m);
        pthread_join(e->th, NULL);
    }
    spl_mirror_free(race_m);
    spl_close(e->s);
    kvStore_Destroy(e->kv);
    jsCtx_Destroy(e->js);
    natsConnection_Destroy(e->nc);
}

/* 0 once the mirror is ready, or 2 (nothing left to stop) */
static int race_start(race_env *e, const char *url, const char *bucket, const char *path, const char *cmd)
{
    e->kv = connect_kv(url, bucket, NULL, &e->nc, &e->js);
    e->s = open_store(path);
    spl_mirror_opts o;
    spl_mirror_opts_init(&o);
    o.dirs = SPL_MIRROR_PUBLISH | SPL_MIRROR_APPLY;
    o.url = url;
    o.bucket = bucket;
    o.label = 9;
    o.backoff_min_ms = 50;
    o.backoff_max_ms = 500;
    int rc = spl_mirror_new(&race_m, e->s, &o);
    if (rc) {
        fprintf(stderr, "mirror_tool %s: %s\n", cmd, spl_mirror_strerror(rc));
        return 2;
    }
    splm__test_hook = race_hook;
    e->started = pthread_create(&e->th, NULL, race_run, NULL) == 0;
    double t0 = now_s();
    while (e->started && !race_stats().ready) {
        if (now_s() - t0 > 20)
            break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    if (!e->started || !race_stats().ready) {
        fprintf(stderr, "mirror_tool %s: the mirror did not start\n", cmd);
        race_stop(e);
        return 2;
    }
    return 0;
}


#define RACE_VBUF 128 /* lb and bb: a value of x read here and in the bucket */

/* Wait (10 s at most) until x is the same here and in the bucket, and is
 * `want` if that is not NULL: 1 if so, 0 on time-out.  *lv and *bv are
 * the last values read (in lb and bb; NULL after an error). */
static int race_converged(race_env *e, const char *want, const char **lv, const char **bv, char *lb, char *bb)
{
    double t0 = now_s();
    for (;;) {
        *lv = local_val(e->s, "x", lb, RACE_VBUF);
        *bv = bucket_val(e->kv, "x", bb, RACE_VBUF);
        if (*lv && *bv && strcmp(*lv, *bv) == 0 && (!want || strcmp(*lv, want) == 0))
            return 1;
        if (now_s() - t0 > 10)
            return 0;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
}

/* Two interleavings that left the bucket holding a key the store had
 * deleted, each put in order here through the hook (mirror.c, pub_key and
 * on_entry, "did not converge" in the stop/cont variant of overflow.sh):
 *   unset:  the store sets x; an entry of x from another store comes, and
 *           the applier keeps x (a change made here, not put yet); the
 *           store unsets x before the publisher reads it.  The absence
 *           looked accounted (x was deleted before), so nothing was put.
 *   delack: the same, with our delete of x in flight the whole time (its
 *           acknowledgement held back): the publisher passed x as "a
 *           delete in flight", and the acknowledgement marked the absence
 *           ordered, behind the entry the applier kept x against.
 *   putack: the same, with a put and then a delete of x in flight: the
 *           put's acknowledgement moved the order back behind that entry,
 *           and the delete's then marked the absence ordered.
 * Either way the bucket keeps the other store's value and this store has
 * no x; the mirror must put the delete. */
static int cmd_race(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    const char *url = argv[2], *bucket = argv[3], *cs = argv[5];
    int putack = strcmp(cs, "putack") == 0, delack = putack || strcmp(cs, "delack") == 0;
    if (!delack && strcmp(cs, "unset") != 0)
        return 2;
    race_env env = {0};
    int rc = race_start(&env, url, bucket, argv[4], "race");
    if (rc)
        return rc;
    kvStore *kv = env.kv;
    spl_store *s = env.s;
    char lb[RACE_VBUF], bb[RACE_VBUF];
    const char *lv, *bv;
    uint64_t n, rev;
    /* x was put, then deleted here: the mirror holds it ordered ABSENT
     * (unset) or PRESENT (delack: the delete is the one held in flight) */
    if (set_labelled(s, "x", "w0")) {
        rc = 2;
        goto out;
    }
    RACE_WAIT("x put", race_stats().published == 1 && race_stats().rev == 1);
    if (delack)
        hold(1, 1);
    if (putack) { /* a put in flight first (rev 2), then the delete */
        if (set_labelled(s, "x", "w1")) {
            rc = 2;
            goto out;
        }
        RACE_WAIT("the put's acknowledgement held", held(1) && race_stats().rev == 2);
    }
    spl_unset(s, "x");
    if (delack)
        RACE_WAIT("the delete in flight", held(1) && race_stats().rev == 2u + (unsigned)putack);
    else
        RACE_WAIT("the delete applied", race_stats().published_del == 1 && race_stats().rev == 2);

    /* the publisher held before its next batch; x set here (not put) */
    hold(0, 1);
    if (set_labelled(s, "x", "w")) {
        rc = 2;
        goto out;
    }
    RACE_WAIT("the publisher held", held(0));
    /* another store's x: the applier keeps ours */
    if (!(rev = race_inject(kv, "x", "v"))) {
        rc = 2;
        goto out;
    }
    RACE_WAIT("the entry applied", race_stats().rev >= rev);
    lv = local_val(s, "x", lb, sizeof lb);
    if (!lv || strcmp(lv, "w") != 0) {
        fprintf(stderr, "mirror_tool race: setup: x is '%s' after the entry, not the local 'w'\n", lv ? lv : "?");
        rc = 2;
        goto out;
    }
    /* x unset here before the publisher reads it; then one batch */
    spl_unset(s, "x");
    n = arrivals(2);
    hold(0, 0);
    RACE_WAIT("the publisher's batch", arrivals(2) > n);
    if (delack)
        hold(1, 0);

    /* the store has no x: the bucket must come to have none either */
    if (!race_converged(&env, NULL, &lv, &bv, lb, bb)) {
        printf("FAIL race %s: after 10 s the bucket has x='%s', the store x='%s'\n", cs, bv ? bv : "?",
               lv ? lv : "?");
        rc = 1;
        goto out;
    }
    if (race_stats().retries) {
        fprintf(stderr, "mirror_tool race: setup: a put was retried (an acknowledgement timed out), "
                        "the interleaving was not the one tested\n");
        rc = 2;
        goto out;
    }
    printf("race %s: converged: x is '%s' here and in the bucket\n", cs, lv);
    rc = 0;
out:
    race_stop(&env);
    return rc;
}

/* "interfere": a local write lands between the applier's write of an entry
 * and its read back (mirror.c, on_entry, "apply-interfered").  The applier
 * must see that the store no longer holds the entry and leave the local
 * value to be put; if it took the local value for the entry's, the
 * publisher would find it accounted for and never put it, and the bucket
 * would keep the other store's value.  The publisher is held from the
 * local write until the applier is done, so that only the applier's
 * verdict decides. */
static int cmd_interfere(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    const char *url = argv[2], *bucket = argv[3];
    race_env env = {0};
    int rc = race_start(&env, url, bucket, argv[4], "interfere");
    if (rc)
        return rc;
    kvStore *kv = env.kv;
    spl_store *s = env.s;
    char lb[RACE_VBUF], bb[RACE_VBUF];
    const char *lv = NULL, *bv = NULL;
    uint64_t rev;
    /* the publisher held before its next batch (a change of y wakes it) */
    hold(0, 1);
    if (set_labelled(s, "y", "p")) {
        rc = 2;
        goto out;
    }
    RACE_WAIT("the publisher held", held(0));
    /* another store's x = "v": the applier writes it here, then is held */
    hold(3, 1);
    if (!(rev = race_inject(kv, "x", "v"))) {
        rc = 2;
        goto out;
    }
    RACE_WAIT("the applier held after its write", held(3));
    /* the local write, in between */
    if (set_labelled(s, "x", "w")) {
        rc = 2;
        goto out;
    }
    hold(3, 0);
    RACE_WAIT("the entry applied", race_stats().rev >= rev);
    spl_mirror_stats st = race_stats();
    if (st.interfered != 1) {
        printf("FAIL interfere: the applier counted %llu interfered applies, not 1: it took the local write "
               "for the entry's\n",
               (unsigned long long)st.interfered);
        rc = 1;
        goto out;
    }
    hold(0, 0);
    /* the local write is the later one: it must reach the bucket */
    if (!race_converged(&env, "w", &lv, &bv, lb, bb)) {
        printf("FAIL interfere: after 10 s the bucket has x='%s', the store x='%s' (both must be the local "
               "'w')\n",
               bv ? bv : "?", lv ? lv : "?");
        rc = 1;
        goto out;
    }
    printf("interfere: 1 interfered apply; x is 'w' here and in the bucket\n");
    rc = 0;
out:
    race_stop(&env);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "vectors") == 0) {
        const char *simd = spl_vec_simd();
        printf("%s\n", simd);
        return strcmp(simd, "none") != 0 ? 0 : 1;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: see tests/mirror/mirror_tool.c\n");
        return 2;
    }
    const char *c = argv[1];
    int rc = strcmp(c, "create") == 0     ? cmd_create(argc, argv)
             : strcmp(c, "work") == 0     ? cmd_work(argc, argv)
             : strcmp(c, "converge") == 0 ? (argc < 5 ? 2 : cmd_converge(argc, argv))
             : strcmp(c, "inject") == 0   ? cmd_inject(argc, argv)
             : strcmp(c, "bucket") == 0   ? (argc < 4 ? 2 : cmd_bucket(argc, argv))
             : strcmp(c, "set") == 0      ? cmd_set(argc, argv)
             : strcmp(c, "get") == 0      ? cmd_get(argc, argv)
             : strcmp(c, "mode") == 0     ? cmd_mode(argc, argv)
             : strcmp(c, "race") == 0     ? cmd_race(argc, argv)
             : strcmp(c, "interfere") == 0 ? cmd_interfere(argc, argv)
                                          : 2;
    nats_Close();
    return rc;
}
