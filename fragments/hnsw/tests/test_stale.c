/*
 * test_stale.c - an index that cannot answer for the store declines, and
 * spl_vec_search answers exactly instead:
 *   - lagging: more unapplied changes than the limit (default max(64,
 *     live/100)): hnsw_search says SPL_ESTALE, spl_vec_search with
 *     SPL_VQ_ANN gives the exact answer (SPL_VR_ANN clear) including the
 *     vectors the index has not seen; a small lag is still served (hits
 *     checked against the store); after hnsw_sync the index answers again
 *     and finds the new vectors;
 *   - another store's region (same geometry, another identity): a reader
 *     refuses it (SPL_ENOENT); a writer re-initialises and rebuilds it;
 *   - a region of other parameters (M) is rebuilt by a writer asking for
 *     its own; a corrupt entry point makes searches decline.
 */
#include "hnsw_test.h"
#include "hnsw_layout.h"

#define DIM 32
#define N 2000

static int ann_first_is(spl_store *s, const char *key, int *by_ann)
{
    spl_vec_query q = {.key = key, .k = 1, .flags = SPL_VQ_ANN, .ef = 64};
    spl_vec_result *r;
    T_RC(spl_vec_search(s, &q, &r), 0);
    int ok = r->n == 1 && strcmp(r->hits[0].key, key) == 0;
    *by_ann = (r->flags & SPL_VR_ANN) != 0;
    spl_vec_result_free(r);
    return ok;
}

int main(void)
{
    t_name = "test_stale";
    spl_store *s = t_store(NULL, 2 * N, DIM);
    hd_gen g;
    T_RC(hd_init(&g, 0, DIM, 0, 21), 0);
    t_fill(s, &g, 0, N, NULL);
    hnsw_params p;
    hnsw_params_init(&p);
    p.seed = 2;
    uint64_t bytes = hnsw_region_bytes(2 * N, 32, DIM, &p);
    void *mem = calloc(1, bytes);
    hnsw_index *x;
    T_RC(hnsw_attach_writer(&x, s, mem, bytes, &p, NULL, 0, NULL, NULL), 0);
    T_RC(hnsw_provide(x), 0);
    int by_ann;
    T_TRUE(ann_first_is(s, "k000010", &by_ann) && by_ann, "a fresh index answers");

    /* a small lag (10 new vectors): still served, hits checked */
    t_fill(s, &g, N, 10, NULL);
    hnsw_stat st;
    hnsw_stat_get(x, &st);
    T_TRUE(st.lag > 0 && st.lag <= 64, "lag %llu", (unsigned long long)st.lag);
    float q[DIM];
    hd_point(&g, q);
    spl_vec_query qq = {.vec = q, .dim = DIM, .k = 10, .flags = SPL_VQ_ANN, .ef = 64};
    spl_vec_result *r;
    T_RC(spl_vec_search(s, &qq, &r), 0);
    T_TRUE(r->flags & SPL_VR_ANN, "a small lag is served");
    T_TRUE(t_hits_valid(s, r, q, DIM, SPL_METRIC_COSINE) == 0, "hits valid");
    spl_vec_result_free(r);
    printf("lag %llu: served by the index\n", (unsigned long long)st.lag);

    /* a large lag: declined, the exact scan answers and sees the new keys */
    t_fill(s, &g, N + 10, 200, NULL);
    hnsw_stat_get(x, &st);
    T_RC(hnsw_search(x, &qq, &r), SPL_ESTALE);
    T_TRUE(ann_first_is(s, "k002100", &by_ann) && !by_ann, "lagging: exact answer with the new key");
    printf("lag %llu: declined, exact answer\n", (unsigned long long)st.lag);
    hnsw_set_max_lag(x, 1000);
    T_TRUE(ann_first_is(s, "k000010", &by_ann) && by_ann, "a raised limit serves it");
    hnsw_set_max_lag(x, HNSW_LAG_AUTO);
    T_RC(hnsw_sync(x, NULL, NULL), 0);
    T_TRUE(ann_first_is(s, "k002100", &by_ann) && by_ann, "synced: the index finds the new key");
    printf("synced: served again, new keys found\n");

    /* another store of the same geometry: not this index's */
    spl_store *s2 = t_store(NULL, 2 * N, DIM);
    t_fill(s2, &g, 0, 100, NULL);
    hnsw_index *y;
    T_RC(hnsw_attach_reader(&y, s2, mem, bytes, NULL), SPL_ENOENT);
    hnsw_close(x);
    T_RC(hnsw_attach_writer(&y, s2, mem, bytes, &p, NULL, 0, NULL, NULL), 0);
    hnsw_stat_get(y, &st);
    T_TRUE(st.live == 100 && st.generation == 4, "another store's region rebuilt: live %llu gen %llu",
           (unsigned long long)st.live, (unsigned long long)st.generation);
    T_RC(hnsw_check(y, 1), 0);
    hnsw_close(y);
    printf("another store's region: refused by readers, rebuilt by a writer\n");

    /* other parameters: rebuilt for the writer's */
    hnsw_params p8 = p;
    p8.m = 8;
    uint64_t bytes8 = hnsw_region_bytes(2 * N, 32, DIM, &p8);
    T_TRUE(bytes8 < bytes, "M 8 is smaller");
    T_RC(hnsw_attach_writer(&y, s, mem, bytes8, &p8, NULL, 0, NULL, NULL), 0);
    hnsw_stat_get(y, &st);
    T_TRUE(st.m == 8 && st.live == N + 210, "rebuilt with M 8");
    T_RC(hnsw_check(y, 1), 0);
    /* a corrupt entry point: searches decline */
    struct hnsw_header *h = mem;
    uint64_t e = h->entry;
    h->entry = ((uint64_t)1 << 32) | (2 * N + 7);
    hnsw_index *rd;
    T_RC(hnsw_attach_reader(&rd, s, mem, bytes8, NULL), 0);
    T_RC(hnsw_search(rd, &qq, &r), SPL_ESTALE);
    h->entry = e;
    T_RC(hnsw_search(rd, &qq, &r), 0);
    spl_vec_result_free(r);
    hnsw_close(rd);
    hnsw_close(y);
    free(mem);
    spl_close(s2);
    spl_close(s);
    hd_free(&g);
    printf("ok\n");
    return 0;
}
