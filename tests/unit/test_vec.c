/*
 * test_vec.c - vectors: set/get/clear and their errors, exact top-k against
 * a naive double-precision reference on every SIMD path this CPU runs (and
 * every storage format), filters, query by key, ties, threads, zero norms,
 * tandem keys.  In a WITH_EMBEDDINGS=0 build: the vector calls say
 * SPL_ENOTSUP and tandem values still work.
 */
#include "unit_common.h"
#include "layout.h"
#include <sys/mman.h>

#include <math.h>
#include <string.h>

static spl_store *mkv(uint32_t slots, uint32_t dim, uint32_t fmt, uint32_t sep)
{
    spl_options o = unit_opts(SPL_BACKING_MEMFD, slots, 32, 64);
    o.geom.vec_dim = dim;
    o.vec_format = fmt;
    o.tandem_sep = sep;
    spl_store *s = NULL;
    CHECK_RC(spl_create(&s, NULL, &o), 0);
    assert_non_null(s);
    return s;
}

/* ---- tandem values (both builds) ---------------------------------------- */

static void test_tandem_values(void **state)
{
    (void)state;
    spl_store *s = mkv(64, 0, 0, 0);
    const void *vals[3] = {"zero", "one", "two"};
    size_t lens[3] = {4, 3, 3};
    char name[40], buf[16];
    size_t len;
    CHECK_RC(spl_tandem_key(s, "doc", 0, name, sizeof name), 3);
    assert_string_equal(name, "doc");
    CHECK_RC(spl_tandem_key(s, "doc", 12, name, sizeof name), 6);
    assert_string_equal(name, "doc.12");
    CHECK_RC(spl_tandem_key(s, "doc", 12, name, 6), SPL_ENOBUFS);
    CHECK_RC(spl_tandem_key(s, "0123456789012345678901234567890", 1, name, sizeof name),
             SPL_EKEYLEN);
    CHECK_RC(spl_tandem_count(s, "doc"), 0);
    CHECK_RC(spl_tandem_set(s, "doc", vals, lens, 3, 1000), 0);
    CHECK_RC(spl_tandem_count(s, "doc"), 3);
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_RC(spl_tandem_get(s, "doc", i, buf, sizeof buf, &len), 0);
        assert_int_equal(len, lens[i]);
        assert_memory_equal(buf, vals[i], len);
    }
    CHECK_RC(spl_get(s, "doc.2", buf, sizeof buf, &len), 0);
    /* a shorter group replaces it: the surplus member goes */
    CHECK_RC(spl_tandem_set(s, "doc", vals, lens, 2, 1000), 0);
    CHECK_RC(spl_tandem_count(s, "doc"), 2);
    CHECK_RC(spl_get(s, "doc.2", buf, sizeof buf, &len), SPL_ENOENT);
    CHECK_RC(spl_tandem_set(s, "doc", vals, lens, 0, 1000), SPL_EINVAL);
    CHECK_RC(spl_tandem_unset(s, "doc", 1000), 2);
    CHECK_RC(spl_tandem_count(s, "doc"), 0);
    CHECK_RC(spl_tandem_unset(s, "doc", 1000), 0);
    spl_close(s);

    /* the separator is chosen at create; a bad one is refused */
    s = mkv(64, 0, 0, ':');
    CHECK_RC(spl_tandem_key(s, "doc", 2, name, sizeof name), 5);
    assert_string_equal(name, "doc:2");
    spl_close(s);
    spl_options o = unit_opts(SPL_BACKING_MEMFD, 64, 32, 64);
    o.geom.vec_dim = 0;
    o.tandem_sep = ' ';
    CHECK_RC(spl_create(&s, NULL, &o), SPL_EFORMAT);
    o.tandem_sep = 0x80;
    CHECK_RC(spl_create(&s, NULL, &o), SPL_EFORMAT);
}

#if SPL_WITH_EMBEDDINGS

/* splitmix64 */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static float rndf(uint64_t *s) { return (float)((double)(rnd(s) >> 11) / 9007199254740992.0 * 2 - 1); }

static const char *const paths[] = {"scalar", "sse", "avx2", "avx512", "neon"};

/* ---- set / get / clear -------------------------------------------------- */

static void test_set_get_clear(void **state)
{
    (void)state;
    const uint32_t dim = 37;
    spl_store *s = mkv(64, dim, SPL_VEC_F32, 0);
    float v[37], w[37];
    uint64_t seed = 1, ep = 0;
    for (uint32_t i = 0; i < dim; i++)
        v[i] = rndf(&seed);
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    uint64_t changes = inf.changes;
    CHECK_RC(spl_vec_get(s, "a", w, dim, NULL), SPL_ENOENT);
    CHECK_RC(spl_vec_set(s, "a", v, dim), 0); /* creates the key */
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_true(inf.changes >= changes + 1); /* the write pulsed */
    CHECK_RC(spl_vec_get(s, "a", w, dim, &ep), 0);
    assert_memory_equal(v, w, sizeof v);
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "a", &m), 0);
    assert_int_equal(m.epoch, ep);
    assert_int_equal(m.val_len, 0);
    /* a value and the vector live side by side */
    CHECK_RC(spl_set(s, "a", "hello", 5), 0);
    CHECK_RC(spl_vec_get(s, "a", w, dim, NULL), 0);
    assert_memory_equal(v, w, sizeof v);
    /* errors change nothing */
    CHECK_RC(spl_vec_set(s, "a", v, dim - 1), SPL_EDIM);
    CHECK_RC(spl_vec_get(s, "a", w, dim + 1, NULL), SPL_EDIM);
    float bad[37];
    memcpy(bad, v, sizeof bad);
    bad[dim - 1] = NAN;
    CHECK_RC(spl_vec_set(s, "a", bad, dim), SPL_ENAN);
    bad[dim - 1] = INFINITY;
    CHECK_RC(spl_vec_set(s, "a", bad, dim), SPL_ENAN);
    bad[dim - 1] = -INFINITY;
    CHECK_RC(spl_vec_set(s, "b", bad, dim), SPL_ENAN);
    CHECK_RC(spl_exists(s, "b"), 0); /* refused before anything was made */
    for (uint32_t i = 0; i < dim; i++)
        bad[i] = 3e38f; /* finite, but the norm overflows float */
    CHECK_RC(spl_vec_set(s, "a", bad, dim), SPL_ENAN);
    CHECK_RC(spl_vec_get(s, "a", w, dim, NULL), 0);
    assert_memory_equal(v, w, sizeof v);
    CHECK_RC(spl_vec_set(s, "", v, dim), SPL_EKEYLEN);
    CHECK_RC(spl_vec_set(s, "a", NULL, dim), SPL_EINVAL);
    CHECK_RC(spl_vec_get(s, "a", NULL, dim, NULL), SPL_EINVAL);
    /* clear */
    CHECK_RC(spl_set(s, "plain", "x", 1), 0);
    CHECK_RC(spl_vec_get(s, "plain", w, dim, NULL), SPL_ENOVEC);
    CHECK_RC(spl_vec_clear(s, "plain"), SPL_ENOVEC);
    CHECK_RC(spl_vec_clear(s, "nope"), SPL_ENOENT);
    CHECK_RC(spl_vec_clear(s, "a"), 0);
    CHECK_RC(spl_vec_get(s, "a", w, dim, NULL), SPL_ENOVEC);
    CHECK_RC(spl_vec_clear(s, "a"), SPL_ENOVEC);
    /* a deleted and re-inserted key has no vector */
    CHECK_RC(spl_vec_set(s, "a", v, dim), 0);
    CHECK_RC(spl_unset(s, "a"), 0);
    CHECK_RC(spl_set(s, "a", "y", 1), 0);
    CHECK_RC(spl_vec_get(s, "a", w, dim, NULL), SPL_ENOVEC);
    spl_close(s);

    /* no vectors at all (no cell arena) */
    s = mkv(64, 0, SPL_VEC_F32, 0);
    CHECK_RC(spl_vec_set(s, "a", v, 0), SPL_ENOTSUP);
    spl_close(s);
}

static void test_formats_and_layout(void **state)
{
    (void)state;
    const uint32_t dim = 768;
    uint32_t stride[3];
    float v[768], w[768];
    uint64_t seed = 7;
    for (uint32_t i = 0; i < dim; i++)
        v[i] = rndf(&seed) * 10;
    for (uint32_t f = 0; f < 3; f++) {
        spl_store *s = mkv(16, dim, f, 0);
        spl_info inf;
        CHECK_RC(spl_info_get(s, &inf), 0);
        stride[f] = inf.cell_stride;
        /* the slot holds no vector: its stride is that of a pure-KV store */
        assert_int_equal(inf.slot_stride, 192); /* round64(64 + 32 + 64) */
        assert_int_equal(inf.cells_high, 0);
        CHECK_RC(spl_vec_set(s, "k", v, dim), 0);
        CHECK_RC(spl_vec_get(s, "k", w, dim, NULL), 0);
        double tol = f == SPL_VEC_F32 ? 0 : f == SPL_VEC_F16 ? 10.0 / 1024 : 10.0 / 127 * 0.51;
        for (uint32_t i = 0; i < dim; i++)
            if (fabs((double)w[i] - v[i]) > tol)
                fail_msg("format %u element %u: %g vs %g", f, i, w[i], v[i]);
        if (f == SPL_VEC_F16) {
            v[3] = 70000.0f;
            CHECK_RC(spl_vec_set(s, "k", v, dim), SPL_ERANGE);
            v[3] = 0.5f;
        }
        spl_close(s);
    }
    /* a cell is a line of head and the elements: float16 and int8 cells
     * are 2 and 4 times smaller */
    assert_int_equal(stride[0], 64 + dim * 4);
    assert_int_equal(stride[1], 64 + dim * 2);
    assert_int_equal(stride[2], 64 + dim);
    spl_options o = unit_opts(SPL_BACKING_MEMFD, 16, 32, 64);
    o.vec_format = 3;
    spl_store *s = NULL;
    CHECK_RC(spl_create(&s, NULL, &o), SPL_EFORMAT);
    /* open_or_create: vector options that differ from the store's are a
     * geometry mismatch; zero takes the store's */
    char dir[64], path[96];
    assert_int_equal(unit_mkdtemp(dir, sizeof dir, "vecopt"), 0);
    snprintf(path, sizeof path, "%s/store", dir);
    o = unit_opts(SPL_BACKING_FILE, 16, 32, 64);
    o.geom.vec_dim = 8;
    o.vec_format = SPL_VEC_F16;
    o.tandem_sep = ':';
    CHECK_RC(spl_open_or_create(&s, path, &o), 0);
    spl_close(s);
    o.vec_format = SPL_VEC_I8;
    CHECK_RC(spl_open_or_create(&s, path, &o), SPL_EGEOMETRY);
    o.vec_format = 0;
    o.tandem_sep = '/';
    CHECK_RC(spl_open_or_create(&s, path, &o), SPL_EGEOMETRY);
    o.tandem_sep = 0;
    CHECK_RC(spl_open_or_create(&s, path, &o), 0);
    char name[16];
    CHECK_RC(spl_tandem_key(s, "a", 1, name, sizeof name), 3);
    assert_string_equal(name, "a:1"); /* the store's separator, kept in its header */
    spl_close(s);
    assert_int_equal(unit_rm_rf(dir), 0);
    /* the largest dimension works */
    s = mkv(2, SPL_VEC_DIM_LIMIT, SPL_VEC_F32, 0);
    float *big = calloc(SPL_VEC_DIM_LIMIT, sizeof *big);
    assert_non_null(big);
    big[SPL_VEC_DIM_LIMIT - 1] = 1;
    CHECK_RC(spl_vec_set(s, "big", big, SPL_VEC_DIM_LIMIT), 0);
    big[SPL_VEC_DIM_LIMIT - 1] = 0;
    CHECK_RC(spl_vec_get(s, "big", big, SPL_VEC_DIM_LIMIT, NULL), 0);
    assert_true(big[SPL_VEC_DIM_LIMIT - 1] == 1.0f);
    free(big);
    spl_close(s);
}

/* ---- exact top-k against a double-precision reference ------------------- */

struct ref {
    double score;
    uint32_t id;
};
static int metric_g;
static int ref_cmp(const void *a, const void *b)
{
    const struct ref *x = a, *y = b;
    double gx = metric_g == SPL_METRIC_L2 ? -x->score : x->score;
    double gy = metric_g == SPL_METRIC_L2 ? -y->score : y->score;
    return gx > gy ? -1 : gx < gy ? 1 : (x->id > y->id) - (x->id < y->id);
}

static double ref_score(int metric, const float *q, const float *x, uint32_t dim)
{
    double dot = 0, nq = 0, nx = 0, l2 = 0;
    for (uint32_t i = 0; i < dim; i++) {
        dot += (double)q[i] * x[i];
        nq += (double)q[i] * q[i];
        nx += (double)x[i] * x[i];
        l2 += ((double)q[i] - x[i]) * ((double)q[i] - x[i]);
    }
    if (metric == SPL_METRIC_DOT)
        return dot;
    if (metric == SPL_METRIC_L2)
        return sqrt(l2);
    return nq > 0 && nx > 0 ? dot / sqrt(nq * nx) : 0;
}

/* Search s (n vectors "v%05u", stored decoded in vecs) and compare with the
 * reference: n hits = min(k, n), ordered, each hit's reference score within
 * tol of the reference's score at that rank (so only near-ties may swap). */
static void check_topk(spl_store *s, const float *vecs, uint32_t n, uint32_t dim,
                       const float *q, int metric, uint32_t k, uint32_t threads, const char *path)
{
    struct ref *r = malloc((n + 1) * sizeof *r);
    assert_non_null(r);
    double scale = 0;
    for (uint32_t i = 0; i < n; i++) {
        r[i] = (struct ref){ref_score(metric, q, vecs + (size_t)i * dim, dim), i};
        scale = fmax(scale, fabs(r[i].score));
    }
    metric_g = metric;
    qsort(r, n, sizeof *r, ref_cmp);
    spl_vec_query vq = {.vec = q, .dim = dim, .k = k, .metric = metric, .threads = threads};
    spl_vec_result *res = NULL;
    CHECK_RC(spl_vec_search(s, &vq, &res), 0);
    uint32_t want = k < n ? k : n;
    if (res->n != want)
        fail_msg("%s dim %u metric %d k %u: %u hits, want %u", path, dim, metric, k, res->n, want);
    assert_int_equal(res->skipped, 0);
    assert_int_equal(res->scanned, n);
    double tol = 1e-4 * (scale + 1) + 1e-5 * dim;
    for (uint32_t j = 0; j < want; j++) {
        unsigned id;
        assert_int_equal(sscanf(res->hits[j].key, "v%05u", &id), 1);
        assert_true(id < n);
        double mine = ref_score(metric, q, vecs + (size_t)id * dim, dim);
        if (fabs(mine - r[j].score) > tol || fabs(res->hits[j].score - mine) > tol)
            fail_msg("%s dim %u metric %d k %u rank %u: got v%05u (ref %.6g, lib %.6g), "
                     "reference v%05u %.6g",
                     path, dim, metric, k, j, id, mine, res->hits[j].score, r[j].id, r[j].score);
        for (uint32_t i = 0; i < j; i++)
            assert_string_not_equal(res->hits[i].key, res->hits[j].key);
        if (j > 0) { /* ordered */
            float a = res->hits[j - 1].score, b = res->hits[j].score;
            assert_true(metric == SPL_METRIC_L2 ? a <= b : a >= b);
        }
    }
    spl_vec_result_free(res);
    free(r);
}

static void topk_store(uint32_t fmt)
{
    static const uint32_t dims[] = {1, 3, 17, 64, 100, 768};
    const uint32_t n = 120;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        uint32_t dim = dims[d];
        spl_store *s = mkv(256, dim, fmt, 0);
        float *vecs = malloc((size_t)n * dim * sizeof *vecs), *q = malloc(dim * sizeof *q);
        assert_non_null(vecs);
        assert_non_null(q);
        uint64_t seed = 1000 + dim;
        char key[16];
        for (uint32_t i = 0; i < n; i++) {
            for (uint32_t j = 0; j < dim; j++)
                vecs[(size_t)i * dim + j] = rndf(&seed) * (fmt == SPL_VEC_I8 ? 3.0f : 1.0f);
            snprintf(key, sizeof key, "v%05u", i);
            CHECK_RC(spl_vec_set(s, key, vecs + (size_t)i * dim, dim), 0);
            /* compare against what is stored (F16/I8 are lossy) */
            CHECK_RC(spl_vec_get(s, key, vecs + (size_t)i * dim, dim, NULL), 0);
        }
        for (uint32_t j = 0; j < dim; j++)
            q[j] = rndf(&seed);
        for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
            if (spl_vec_simd_force(paths[p]) != 0)
                continue; /* this CPU does not run it */
            for (int metric = 0; metric < 3; metric++) {
                check_topk(s, vecs, n, dim, q, metric, 1, 1, paths[p]);
                check_topk(s, vecs, n, dim, q, metric, 10, 1, paths[p]);
                check_topk(s, vecs, n, dim, q, metric, n + 5, 1, paths[p]);
            }
        }
        spl_close(s);
        free(vecs);
        free(q);
    }
    CHECK_RC(spl_vec_simd_force("scalar"), 0);
}

static void test_topk_f32(void **state)
{
    (void)state;
    int ran = 0;
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++)
        ran += spl_vec_simd_force(paths[p]) == 0;
    assert_true(ran >= 1); /* scalar at least */
    CHECK_RC(spl_vec_simd_force("nonsense"), SPL_ENOTSUP);
    topk_store(SPL_VEC_F32);
}
static void test_topk_f16(void **state)
{
    (void)state;
    topk_store(SPL_VEC_F16);
}
static void test_topk_i8(void **state)
{
    (void)state;
    topk_store(SPL_VEC_I8);
}

/* ---- filters, query by key, ties, threads, zero norms ------------------- */

static void test_search_filters(void **state)
{
    (void)state;
    const uint32_t dim = 8;
    spl_store *s = mkv(128, dim, SPL_VEC_F32, 0);
    float v[8] = {0}, q[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    spl_vec_query vq = {.vec = q, .dim = dim, .k = 10, .metric = SPL_METRIC_DOT};
    spl_vec_result *r = NULL;
    /* empty store */
    CHECK_RC(spl_vec_search(s, &vq, &r), 0);
    assert_int_equal(r->n, 0);
    spl_vec_result_free(r);
    /* a: dot 1..6 by index; labels bit i%3; prefixes "a:" / "b:" */
    char key[16];
    for (int i = 1; i <= 6; i++) {
        v[0] = (float)i;
        snprintf(key, sizeof key, "%s:%d", i % 2 ? "a" : "b", i);
        CHECK_RC(spl_vec_set(s, key, v, dim), 0);
        CHECK_RC(spl_labels_set(s, key, 1ull << (i % 3) | 8), 0);
    }
    CHECK_RC(spl_set(s, "novec", "x", 1), 0);
    CHECK_RC(spl_vec_search(s, &vq, &r), 0);
    assert_int_equal(r->n, 6);
    assert_string_equal(r->hits[0].key, "b:6");
    assert_true(r->hits[0].score == 6.0f);
    assert_string_equal(r->hits[5].key, "a:1");
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "b:6", &m), 0);
    assert_int_equal(r->hits[0].epoch, m.epoch);
    spl_vec_result_free(r);
    vq.prefix = "a:";
    CHECK_RC(spl_vec_search(s, &vq, &r), 0);
    assert_int_equal(r->n, 3);
    assert_string_equal(r->hits[0].key, "a:5");
    spl_vec_result_free(r);
    vq.prefix = "a:very-long-prefix-longer-than-the-keys-can-be";
    CHECK_RC(spl_vec_search(s, &vq, &r), 0);
    assert_int_equal(r->n, 0);
    spl_vec_result_free(r);
    vq.prefix = NULL;
    vq.labels = 1ull << 0 | 8; /* all bits: i % 3 == 0 -> 3, 6 */
    CHECK_RC(spl_vec_search(s, &vq, &r), 0);
    assert_int_equal(r->n, 2);
    assert_string_equal(r->hits[0].key, "b:6");
    assert_string_equal(r->hits[1].key, "a:3");
    spl_vec_result_free(r);
    vq.labels = 1ull << 0 | 1ull << 1; /* any bit: i % 3 != 2 -> 1, 3, 4, 6 */
    vq.flags = SPL_F_LABELS_ANY;
    CHECK_RC(spl_vec_search(s, &vq, &r), 0);
    assert_int_equal(r->n, 4);
    assert_string_equal(r->hits[3].key, "a:1");
    spl_vec_result_free(r);
    /* query by key, with and without itself */
    vq = (spl_vec_query){.key = "a:3", .k = 2, .metric = SPL_METRIC_L2};
    CHECK_RC(spl_vec_search(s, &vq, &r), 0);
    assert_int_equal(r->n, 2);
    assert_string_equal(r->hits[0].key, "a:3");
    assert_true(r->hits[0].score == 0.0f);
    assert_string_equal(r->hits[1].key, "b:2"); /* tie with b:4 at distance 1: key order */
    spl_vec_result_free(r);
    vq.flags = SPL_VQ_SKIP_SELF;
    CHECK_RC(spl_vec_search(s, &vq, &r), 0);
    assert_string_equal(r->hits[0].key, "b:2");
    assert_string_equal(r->hits[1].key, "b:4");
    spl_vec_result_free(r);
    vq.key = "novec";
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_ENOVEC);
    assert_null(r);
    vq.key = "absent";
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_ENOENT);
    /* bad queries */
    vq = (spl_vec_query){.vec = q, .dim = dim, .k = 0};
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_EINVAL);
    vq.k = SPL_VEC_K_LIMIT + 1;
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_EINVAL);
    vq.k = 1;
    vq.metric = 3;
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_EINVAL);
    vq.metric = SPL_METRIC_COSINE;
    vq.dim = dim + 1;
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_EDIM);
    vq.dim = dim;
    vq.threads = 65;
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_EINVAL);
    vq.threads = 0;
    q[2] = NAN;
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_ENAN);
    vq.vec = NULL;
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_EINVAL);
    CHECK_RC(spl_vec_search(s, NULL, &r), SPL_EINVAL);
    spl_close(s);
}

static void test_ties_zero_threads(void **state)
{
    (void)state;
    const uint32_t dim = 5;
    spl_store *s = mkv(512, dim, SPL_VEC_F32, 0);
    float v[5] = {1, 2, 3, 4, 5}, zero[5] = {0}, q[5] = {1, 1, 1, 1, 1};
    char key[16];
    /* 300 identical vectors: ties everywhere, broken by key bytes */
    for (int i = 299; i >= 0; i--) {
        snprintf(key, sizeof key, "t%03d", i);
        CHECK_RC(spl_vec_set(s, key, v, dim), 0);
    }
    CHECK_RC(spl_vec_set(s, "z-zero", zero, dim), 0);
    spl_vec_query vq = {.vec = q, .dim = dim, .k = 7, .metric = SPL_METRIC_COSINE};
    spl_vec_result *r1 = NULL, *r3 = NULL;
    CHECK_RC(spl_vec_search(s, &vq, &r1), 0);
    vq.threads = 3;
    CHECK_RC(spl_vec_search(s, &vq, &r3), 0);
    assert_int_equal(r1->n, 7);
    assert_int_equal(r3->n, 7);
    assert_int_equal(r1->scanned, 301);
    assert_int_equal(r3->scanned, 301);
    for (uint32_t j = 0; j < 7; j++) {
        snprintf(key, sizeof key, "t%03u", j);
        assert_string_equal(r1->hits[j].key, key);
        assert_string_equal(r3->hits[j].key, key);
        assert_true(r1->hits[j].score == r3->hits[j].score);
    }
    spl_vec_result_free(r1);
    spl_vec_result_free(r3);
    /* a zero vector under cosine scores 0 (documented), it is still a hit */
    vq.k = 400;
    vq.threads = 2;
    CHECK_RC(spl_vec_search(s, &vq, &r1), 0);
    assert_int_equal(r1->n, 301);
    assert_string_equal(r1->hits[300].key, "z-zero");
    assert_true(r1->hits[300].score == 0.0f);
    spl_vec_result_free(r1);
    /* a zero query under cosine: every score 0, order by key */
    vq.vec = zero;
    vq.k = 3;
    CHECK_RC(spl_vec_search(s, &vq, &r1), 0);
    assert_int_equal(r1->n, 3);
    assert_string_equal(r1->hits[0].key, "t000");
    assert_true(r1->hits[0].score == 0.0f);
    spl_vec_result_free(r1);
    spl_close(s);
}

static void test_tandem_vectors(void **state)
{
    (void)state;
    const uint32_t dim = 4;
    spl_store *s = mkv(64, dim, SPL_VEC_F32, 0);
    float vs[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}, out[4];
    CHECK_RC(spl_tandem_vec_set(s, "chunk", vs, 3, dim, 1000), 0);
    CHECK_RC(spl_tandem_count(s, "chunk"), 3);
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_RC(spl_tandem_vec_get(s, "chunk", i, out, dim), 0);
        assert_memory_equal(out, vs + i * dim, sizeof out);
    }
    CHECK_RC(spl_tandem_vec_set(s, "chunk", vs, 3, dim + 1, 1000), SPL_EDIM);
    vs[5] = NAN;
    CHECK_RC(spl_tandem_vec_set(s, "chunk", vs, 3, dim, 1000), SPL_ENAN);
    vs[5] = 1;
    CHECK_RC(spl_tandem_vec_set(s, "chunk", vs, 1, dim, 1000), 0);
    CHECK_RC(spl_tandem_count(s, "chunk"), 1);
    CHECK_RC(spl_tandem_vec_get(s, "chunk", 1, out, dim), SPL_ENOENT);
    CHECK_RC(spl_tandem_unset(s, "chunk", 1000), 1);
    spl_close(s);
}


/* ---- the cell arena -------------------------------------------------- */

/* The store's mapping, to read and damage cells as a dead writer or a
 * hostile peer would leave them. */
static uint8_t *map_store(spl_store *s, size_t *len)
{
    spl_info in;
    CHECK_RC(spl_info_get(s, &in), 0);
    void *m = mmap(NULL, in.region_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, spl_fd(s), 0);
    assert_true(m != MAP_FAILED);
    *len = in.region_bytes;
    return m;
}
static struct spl_cell *cell_at(uint8_t *m, uint32_t c)
{
    const struct spl_header *h = (const void *)m;
    return (struct spl_cell *)(void *)(m + h->cells_off + (uint64_t)c * h->cell_stride);
}
static struct spl_slot *slot_at(uint8_t *m, uint32_t i)
{
    const struct spl_header *h = (const void *)m;
    return (struct spl_slot *)(void *)(m + h->slots_off + (uint64_t)i * h->slot_stride);
}
static uint32_t slot_of(spl_store *s, const char *key)
{
    spl_meta mt;
    CHECK_RC(spl_meta_get(s, key, &mt), 0);
    return mt.slot;
}
static void stamp(float *v, uint32_t dim, float x)
{
    for (uint32_t i = 0; i < dim; i++)
        v[i] = x + (float)i / 64;
}
/* Search everything; returns the hit count, *skipped the skipped count. */
static uint32_t search_all(spl_store *s, uint32_t dim, uint64_t *skipped)
{
    float q[64];
    stamp(q, dim, 1);
    spl_vec_query vq = {.vec = q, .dim = dim, .k = 1000, .metric = SPL_METRIC_DOT};
    spl_vec_result *r = NULL;
    CHECK_RC(spl_vec_search(s, &vq, &r), 0);
    uint32_t n = r->n;
    *skipped = r->skipped;
    spl_vec_result_free(r);
    return n;
}

/* Vectors take the lowest free cells: the arena stays dense through
 * deletes, clears and re-sets, and a rewrite stays in its cell. */
static void test_cells_dense(void **state)
{
    (void)state;
    const uint32_t dim = 8;
    spl_store *s = mkv(40, dim, SPL_VEC_F32, 0);
    float v[8], w[8];
    char key[16];
    spl_info in;
    for (uint32_t k = 0; k < 30; k++) {
        snprintf(key, sizeof key, "k%u", k);
        stamp(v, dim, (float)k);
        CHECK_RC(spl_vec_set(s, key, v, dim), 0);
    }
    CHECK_RC(spl_info_get(s, &in), 0);
    assert_int_equal(in.cells_high, 30);
    CHECK_RC(spl_vec_set(s, "k3", v, dim), 0); /* rewrite in place */
    CHECK_RC(spl_unset(s, "k5"), 0);            /* frees its cell */
    CHECK_RC(spl_vec_clear(s, "k10"), 0);       /* so does a clear */
    CHECK_RC(spl_vec_get(s, "k10", w, dim, NULL), SPL_ENOVEC);
    CHECK_RC(spl_info_get(s, &in), 0);
    assert_int_equal(in.cells_high, 30);
    stamp(v, dim, 100);
    CHECK_RC(spl_vec_set(s, "n1", v, dim), 0); /* into the freed cells */
    CHECK_RC(spl_vec_set(s, "n2", v, dim), 0);
    CHECK_RC(spl_info_get(s, &in), 0);
    assert_int_equal(in.cells_high, 30);
    CHECK_RC(spl_vec_set(s, "n3", v, dim), 0); /* none free below: the next */
    CHECK_RC(spl_info_get(s, &in), 0);
    assert_int_equal(in.cells_high, 31);
    uint64_t skipped;
    assert_int_equal(search_all(s, dim, &skipped), 31);
    assert_int_equal(skipped, 0);
    for (uint32_t k = 0; k < 30; k++) {
        if (k == 5 || k == 10)
            continue;
        snprintf(key, sizeof key, "k%u", k);
        stamp(v, dim, k == 3 ? 29.0f : (float)k);
        CHECK_RC(spl_vec_get(s, key, w, dim, NULL), 0);
        assert_memory_equal(v, w, sizeof v);
    }
    spl_close(s);
}

/* A store of `slots` slots whose keys "a", "b", "c" hold the vector
 * stamp(1) (dim 8), in cells 0, 1, 2. */
static spl_store *store_abc(uint32_t slots)
{
    spl_store *s = mkv(slots, 8, SPL_VEC_F32, 0);
    float v[8];
    stamp(v, 8, 1);
    CHECK_RC(spl_vec_set(s, "a", v, 8), 0);
    CHECK_RC(spl_vec_set(s, "b", v, 8), 0);
    CHECK_RC(spl_vec_set(s, "c", v, 8), 0);
    return s;
}

/* An orphan (a cell linked to a slot that does not name it, here
 * half-written: odd seq) comes only from a corrupt region, as writers name
 * a cell before claiming it.  Searches do not count it, and a claim that
 * finds no free cell sweeps it back, also when the orphan links the very
 * slot that claims (whose odd epoch would otherwise make it look busy). */
static void test_cells_orphans_swept(void **state)
{
    (void)state;
    const uint32_t dim = 8;
    spl_store *s = store_abc(4);
    float v[8], w[8];
    stamp(v, dim, 1);
    CHECK_RC(spl_set(s, "d", "x", 1), 0); /* a key without a vector */
    size_t len;
    uint8_t *m = map_store(s, &len);
    struct spl_header *h = (void *)m;
    struct spl_cell *o = cell_at(m, 3);
    o->link = SPL_CELL_CLAIM | (slot_of(s, "d") + 1); /* "d" names no cell */
    o->seq = 7;                                       /* died mid-write */
    h->cell_high = 4;
    uint64_t skipped;
    assert_int_equal(search_all(s, dim, &skipped), 3);
    assert_int_equal(skipped, 0);
    CHECK_RC(spl_vec_get(s, "a", w, dim, NULL), 0);
    assert_memory_equal(v, w, sizeof v);
    /* the 4th vector, for "d": cell 3 is the only one not in use */
    stamp(v, dim, 4);
    CHECK_RC(spl_vec_set(s, "d", v, dim), 0);
    assert_int_equal(o->link & SPL_CELL_SLOT_MASK, slot_of(s, "d") + 1);
    assert_int_equal(o->link >> 32, 2); /* claimed twice */
    assert_int_equal(o->seq & 1, 0);
    assert_int_equal(slot_at(m, slot_of(s, "d"))->vec_state, 4);
    CHECK_RC(spl_vec_get(s, "d", w, dim, NULL), 0);
    assert_memory_equal(v, w, sizeof v);
    assert_int_equal(search_all(s, dim, &skipped), 4);
    assert_int_equal(skipped, 0);
    munmap(m, len);
    spl_close(s);
}

/* Hostile values in cells and slots: bounded, counted, never a wild
 * access; writers recover. */
static void test_cells_hostile(void **state)
{
    (void)state;
    const uint32_t dim = 8;
    spl_store *s = store_abc(8);
    float v[8], w[8];
    stamp(v, dim, 1);
    size_t len;
    uint8_t *m = map_store(s, &len);
    struct spl_header *h = (void *)m;
    /* a cell linked to a slot that does not exist, below the high mark */
    cell_at(m, 5)->link = SPL_CELL_CLAIM | 9999;
    h->cell_high = 6;
    uint64_t skipped;
    assert_int_equal(search_all(s, dim, &skipped), 3);
    assert_int_equal(skipped, 1);
    /* a slot naming a cell out of range, or a cell of another slot */
    struct spl_slot *sa = slot_at(m, slot_of(s, "a")), *sb = slot_at(m, slot_of(s, "b"));
    sa->vec_state = 0xffffffffu;
    sb->vec_state = 3; /* cell 2: "c"'s */
    CHECK_RC(spl_vec_get(s, "a", w, dim, NULL), SPL_ECORRUPT);
    CHECK_RC(spl_vec_get(s, "b", w, dim, NULL), SPL_ECORRUPT);
    CHECK_RC(spl_vec_get(s, "c", w, dim, NULL), 0);
    assert_int_equal(search_all(s, dim, &skipped), 1); /* only "c" names its cell */
    /* a write gives "a" a cell of its own again, and leaves "c"'s alone */
    stamp(v, dim, 2);
    CHECK_RC(spl_vec_set(s, "a", v, dim), 0);
    CHECK_RC(spl_vec_get(s, "a", w, dim, NULL), 0);
    assert_memory_equal(v, w, sizeof v);
    CHECK_RC(spl_vec_clear(s, "b"), 0); /* frees nothing: cell 2 is not b's */
    CHECK_RC(spl_vec_get(s, "c", w, dim, NULL), 0);
    stamp(v, dim, 1);
    assert_memory_equal(v, w, sizeof v);
    /* hints out of range are ignored */
    h->cell_hint = ~0ull;
    h->cell_high = ~0ull;
    CHECK_RC(spl_vec_set(s, "e", v, dim), 0);
    CHECK_RC(spl_vec_get(s, "e", w, dim, NULL), 0);
    spl_info in;
    CHECK_RC(spl_info_get(s, &in), 0);
    assert_int_equal(in.cells_high, 8); /* bounded by the cell count */
    munmap(m, len);
    spl_close(s);
}

/* ---- the ANN provider hook ------------------------------------------------ */

struct ann_probe {
    int calls;
    int rc;         /* what the provider answers */
    uint32_t ef;    /* the ef it was asked for */
};

static int ann_provider(void *ud, spl_store *s, const spl_vec_query *q, spl_vec_result **out)
{
    struct ann_probe *p = ud;
    (void)s;
    p->calls++;
    p->ef = q->ef;
    if (p->rc)
        return p->rc;
    spl_vec_result *r = malloc(sizeof *r + sizeof(spl_vec_hit) + 4);
    assert_non_null(r);
    r->n = 1;
    r->scanned = 1;
    r->skipped = 0;
    r->flags = SPL_VR_ANN;
    r->hits = (spl_vec_hit *)(void *)(r + 1);
    char *k = (char *)(r->hits + 1);
    memcpy(k, "ann", 4);
    r->hits[0] = (spl_vec_hit){k, 3, 0.5f, 0, 2};
    *out = r;
    return 0;
}

/* spl_vec_search hands SPL_VQ_ANN queries (only those) to the provider; a
 * provider that declines (SPL_ESTALE, SPL_ENOTSUP) lets the exact scan
 * answer, any other code is returned; without a provider the exact scan
 * answers. */
static void test_ann_hook(void **state)
{
    (void)state;
    const uint32_t dim = 4;
    spl_store *s = mkv(64, dim, SPL_VEC_F32, 0);
    float v[4] = {1, 2, 3, 4};
    CHECK_RC(spl_vec_set(s, "a", v, dim), 0);
    CHECK_RC(spl_vec_set(s, "b", v, dim), 0);
    struct ann_probe p = {0};
    spl_vec_query vq = {.vec = v, .dim = dim, .k = 2, .flags = SPL_VQ_ANN, .ef = 40};
    spl_vec_result *r = NULL;
    CHECK_RC(spl_vec_search(s, &vq, &r), 0); /* no provider: exact */
    assert_int_equal(r->n, 2);
    assert_int_equal(r->flags, 0);
    spl_vec_result_free(r);
    CHECK_RC(spl_vec_ann_set(NULL, ann_provider, &p), SPL_EINVAL);
    CHECK_RC(spl_vec_ann_set(s, ann_provider, &p), 0);
    CHECK_RC(spl_vec_search(s, &vq, &r), 0);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.ef, 40);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->flags, SPL_VR_ANN);
    assert_string_equal(r->hits[0].key, "ann");
    spl_vec_result_free(r);
    vq.flags = 0; /* exact asked: the provider is not called */
    CHECK_RC(spl_vec_search(s, &vq, &r), 0);
    assert_int_equal(p.calls, 1);
    assert_int_equal(r->n, 2);
    spl_vec_result_free(r);
    vq.flags = SPL_VQ_ANN;
    int declines[2] = {SPL_ESTALE, SPL_ENOTSUP};
    for (int i = 0; i < 2; i++) {
        p.rc = declines[i];
        CHECK_RC(spl_vec_search(s, &vq, &r), 0);
        assert_int_equal(r->n, 2);
        assert_int_equal(r->flags, 0);
        spl_vec_result_free(r);
    }
    assert_int_equal(p.calls, 3);
    p.rc = SPL_ENOMEM;
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_ENOMEM);
    assert_null(r);
    vq.k = 0; /* checked before the provider is asked */
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_EINVAL);
    assert_int_equal(p.calls, 4);
    CHECK_RC(spl_vec_ann_set(s, NULL, NULL), 0);
    uint64_t c0 = spl_changes(s);
    CHECK_RC(spl_vec_set(s, "c", v, dim), 0);
    assert_true(spl_changes(s) > c0);
    assert_true(spl_changes(NULL) == 0);
    spl_close(s);
}

#else /* pure key-value build */

static void test_kvonly_notsup(void **state)
{
    (void)state;
    spl_store *s = mkv(64, 0, 0, 0);
    float v[4] = {1, 2, 3, 4};
    spl_vec_result *r = (spl_vec_result *)1;
    spl_vec_query vq = {.vec = v, .dim = 4, .k = 1};
    CHECK_RC(spl_vec_set(s, "a", v, 4), SPL_ENOTSUP);
    CHECK_RC(spl_vec_get(s, "a", v, 4, NULL), SPL_ENOTSUP);
    CHECK_RC(spl_vec_clear(s, "a"), SPL_ENOTSUP);
    CHECK_RC(spl_vec_search(s, &vq, &r), SPL_ENOTSUP);
    assert_null(r);
    CHECK_RC(spl_tandem_vec_set(s, "a", v, 1, 4, 0), SPL_ENOTSUP);
    CHECK_RC(spl_tandem_vec_get(s, "a", 0, v, 4), SPL_ENOTSUP);
    CHECK_RC(spl_vec_ann_set(s, NULL, NULL), SPL_ENOTSUP);
    CHECK_RC(spl_vec_simd_force("scalar"), SPL_ENOTSUP);
    assert_string_equal(spl_vec_simd(), "none");
    spl_close(s);
    spl_options o = unit_opts(SPL_BACKING_MEMFD, 64, 32, 64);
    o.vec_format = SPL_VEC_F16; /* no vectors, so no vector format */
    CHECK_RC(spl_create(&s, NULL, &o), SPL_EFORMAT);
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tandem_values),
#if SPL_WITH_EMBEDDINGS
        cmocka_unit_test(test_set_get_clear),
        cmocka_unit_test(test_formats_and_layout),
        cmocka_unit_test(test_topk_f32),
        cmocka_unit_test(test_topk_f16),
        cmocka_unit_test(test_topk_i8),
        cmocka_unit_test(test_search_filters),
        cmocka_unit_test(test_ties_zero_threads),
        cmocka_unit_test(test_tandem_vectors),
        cmocka_unit_test(test_cells_dense),
        cmocka_unit_test(test_cells_orphans_swept),
        cmocka_unit_test(test_cells_hostile),
        cmocka_unit_test(test_ann_hook),
#else
        cmocka_unit_test(test_kvonly_notsup),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
