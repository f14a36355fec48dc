/*
 * test_recall.c - the index finds what the exact search finds.
 *
 *   - clustered data (5000 x 64, 40 clusters) and low intrinsic dimension:
 *     recall@10 >= 0.95 at ef 64 through spl_vec_search with SPL_VQ_ANN
 *     (the provider hook: SPL_VR_ANN set), scores equal to the exact ones;
 *   - every hit holds its vector with the hit's score (t_hits_valid);
 *   - filters: a label (half the keys) and a prefix (a tenth): every hit
 *     passes them, recall against the exact filtered search >= 0.9;
 *   - query by key with SPL_VQ_SKIP_SELF leaves the key out;
 *   - indexes built for L2 and dot serve those metrics; a cosine index
 *     declines an L2 query (the exact search answers);
 *   - the graph's invariants hold (hnsw_check), and a region file reopened
 *     by another handle (reader) answers the same.
 */
#include "hnsw_test.h"

#define DIM 64
#define N 5000
#define NQ 100
#define K 10

static double recall_of(spl_store *s, hd_gen *g, const spl_vec_query *proto, uint32_t nq, int *all_ann)
{
    float q[DIM];
    uint64_t hit = 0, want = 0;
    *all_ann = 1;
    for (uint32_t i = 0; i < nq; i++) {
        hd_point(g, q);
        spl_vec_query qa = *proto, qe = *proto;
        qa.vec = qe.vec = q;
        qa.dim = qe.dim = DIM;
        qa.flags |= SPL_VQ_ANN;
        qe.flags &= ~(uint32_t)SPL_VQ_ANN;
        spl_vec_result *ra, *re;
        T_RC(spl_vec_search(s, &qa, &ra), 0);
        T_RC(spl_vec_search(s, &qe, &re), 0);
        *all_ann &= (ra->flags & SPL_VR_ANN) != 0;
        T_TRUE(!(re->flags & SPL_VR_ANN), "exact search flagged ANN");
        hit += t_overlap(ra, re);
        want += re->n;
        T_TRUE(t_hits_valid(s, ra, q, DIM, proto->metric) == 0, "a hit changed in a quiet store");
        for (uint32_t j = 0; j < ra->n; j++) {
            spl_meta m;
            T_RC(spl_meta_get(s, ra->hits[j].key, &m), 0);
            if (proto->labels)
                T_TRUE((m.labels & proto->labels) == proto->labels, "hit %s lacks the label", ra->hits[j].key);
            if (proto->prefix)
                T_TRUE(strncmp(ra->hits[j].key, proto->prefix, strlen(proto->prefix)) == 0,
                       "hit %s lacks the prefix", ra->hits[j].key);
            if (j)
                T_TRUE(proto->metric == SPL_METRIC_L2 ? ra->hits[j].score >= ra->hits[j - 1].score
                                                      : ra->hits[j].score <= ra->hits[j - 1].score,
                       "hits out of order");
        }
        spl_vec_result_free(ra);
        spl_vec_result_free(re);
    }
    return want ? (double)hit / (double)want : 1.0;
}

static void one_set(const char *what, int kind, spl_metric metric)
{
    spl_store *s = t_store(NULL, N + N / 2, DIM);
    hd_gen g;
    T_RC(hd_init(&g, kind, DIM, 40, 7 + (uint64_t)kind), 0);
    t_fill(s, &g, 0, N, NULL);
    /* labels: even keys carry bit 3 */
    char key[32];
    for (uint32_t i = 0; i < N; i += 2) {
        t_key(key, i);
        T_RC(spl_labels_set(s, key, 1ull << 3), 0);
    }
    hnsw_params p;
    hnsw_params_init(&p);
    p.metric = metric;
    p.seed = 5;
    uint64_t bytes = hnsw_region_bytes(N + N / 2, 32, DIM, &p);
    T_TRUE(bytes > 0, "region size");
    void *mem = calloc(1, bytes);
    T_TRUE(mem != NULL, "alloc");
    hnsw_index *x;
    double t0 = t_now();
    T_RC(hnsw_attach_writer(&x, s, mem, bytes, &p, NULL, 0, NULL, NULL), 0);
    double tb = t_now() - t0;
    T_RC(hnsw_check(x, 1), 0);
    hnsw_stat st;
    T_RC(hnsw_stat_get(x, &st), 0);
    T_TRUE(st.live == N && st.deleted == 0 && st.state == HNSW_STATE_READY && st.lag == 0, "stat after build");
    T_RC(hnsw_provide(x), 0);

    spl_vec_query proto = {.k = K, .metric = metric, .ef = 64};
    int all_ann;
    double r = recall_of(s, &g, &proto, NQ, &all_ann);
    T_TRUE(all_ann, "%s: the index did not answer", what);
    printf("%s (%s): built in %.2fs, recall@10 %.4f at ef 64\n", what,
           metric == SPL_METRIC_COSINE ? "cosine" : metric == SPL_METRIC_L2 ? "l2" : "dot", tb, r);
    T_TRUE(r >= (metric == SPL_METRIC_DOT ? 0.85 : 0.95), "%s: recall %.4f", what, r);
    if (metric == SPL_METRIC_COSINE) {
        proto.labels = 1ull << 3;
        r = recall_of(s, &g, &proto, NQ / 2, &all_ann);
        printf("  label filter: recall %.4f\n", r);
        T_TRUE(all_ann && r >= 0.9, "label filter recall %.4f", r);
        proto.labels = 0;
        proto.prefix = "k0012"; /* k001200..k001299: 100 keys */
        proto.ef = 128;
        r = recall_of(s, &g, &proto, NQ / 2, &all_ann);
        printf("  prefix filter (2%% of keys): recall %.4f\n", r);
        T_TRUE(all_ann && r >= 0.9, "prefix filter recall %.4f", r);
        proto.prefix = NULL;
        /* query by key, itself left out */
        spl_vec_query qk = {.key = "k000042", .k = K, .metric = metric, .flags = SPL_VQ_ANN | SPL_VQ_SKIP_SELF,
                            .ef = 64};
        spl_vec_result *ra;
        T_RC(spl_vec_search(s, &qk, &ra), 0);
        T_TRUE(ra->n == K && (ra->flags & SPL_VR_ANN), "query by key");
        for (uint32_t j = 0; j < ra->n; j++)
            T_TRUE(strcmp(ra->hits[j].key, "k000042") != 0, "SKIP_SELF returned the key");
        spl_vec_result_free(ra);
        qk.flags = SPL_VQ_ANN;
        T_RC(spl_vec_search(s, &qk, &ra), 0);
        T_TRUE(ra->n >= 1 && strcmp(ra->hits[0].key, "k000042") == 0, "query by key: itself first");
        spl_vec_result_free(ra);
        /* another metric: the provider declines, the exact search answers */
        spl_vec_query ql = {.key = "k000042", .k = K, .metric = SPL_METRIC_L2, .flags = SPL_VQ_ANN};
        T_RC(spl_vec_search(s, &ql, &ra), 0);
        T_TRUE(!(ra->flags & SPL_VR_ANN) && ra->n == K, "metric mismatch must fall back");
        spl_vec_result_free(ra);
        T_RC(hnsw_search(x, &ql, &ra), SPL_ENOTSUP);
    }
    hnsw_close(x);
    free(mem);
    hd_free(&g);
    spl_close(s);
}

/* A region file beside a named store: a reader handle (another mapping)
 * sees what the writer built. */
static void file_region(void)
{
    t_shm_dir();
    spl_store *s = t_store("recall", 3000, DIM);
    hd_gen g;
    T_RC(hd_init(&g, 1, DIM, 20, 11), 0);
    t_fill(s, &g, 0, 2000, NULL);
    char path[512];
    T_TRUE(hnsw_path("recall", path, sizeof path) > 0, "hnsw_path");
    T_TRUE(strncmp(path, t_dir, strlen(t_dir)) == 0, "region beside the store: %s", path);
    hnsw_index *w, *r;
    T_RC(hnsw_open_reader(&r, s, path), SPL_ENOENT);
    T_RC(hnsw_open_writer(&w, s, path, NULL, 0, NULL, NULL), 0);
    T_RC(hnsw_open_writer(&r, s, path, NULL, 0, NULL, NULL), SPL_EAGAIN); /* one writer */
    T_RC(hnsw_open_reader(&r, s, path), 0);
    float q[DIM];
    hd_point(&g, q);
    spl_vec_query qq = {.vec = q, .dim = DIM, .k = K, .flags = SPL_VQ_ANN, .ef = 64};
    spl_vec_result *a, *b;
    T_RC(hnsw_search(w, &qq, &a), 0);
    T_RC(hnsw_search(r, &qq, &b), 0);
    T_TRUE(a->n == K && b->n == K, "both answer");
    for (uint32_t j = 0; j < K; j++)
        T_TRUE(strcmp(a->hits[j].key, b->hits[j].key) == 0, "writer and reader differ");
    spl_vec_result_free(a);
    spl_vec_result_free(b);
    T_RC(hnsw_check(r, 1), 0);
    hnsw_close(r);
    hnsw_close(w);
    /* reopened: current, no rebuild needed (same generation) */
    T_RC(hnsw_open_writer(&w, s, path, NULL, 0, NULL, NULL), 0);
    hnsw_stat st;
    hnsw_stat_get(w, &st);
    T_TRUE(st.live == 2000 && st.generation == 2, "reopen kept the graph (generation %llu)",
           (unsigned long long)st.generation);
    hnsw_close(w);
    hd_free(&g);
    spl_close(s);
}

int main(void)
{
    t_name = "test_recall";
    one_set("clustered", 1, SPL_METRIC_COSINE);
    one_set("lowdim", 0, SPL_METRIC_COSINE);
    one_set("clustered", 1, SPL_METRIC_L2);
    one_set("clustered", 1, SPL_METRIC_DOT);
    file_region();
    printf("ok\n");
    return 0;
}
