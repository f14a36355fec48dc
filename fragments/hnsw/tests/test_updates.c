/*
 * test_updates.c - upkeep: the graph follows inserts, vector rewrites,
 * clears, deletes and keys that move to another slot, applied one change
 * at a time (hnsw_apply, as the change feed will drive it) or reconciled
 * in one pass (hnsw_sync); the graph stays sound (hnsw_check) and keeps its
 * recall; a key without a vector is never a hit; tombstones are reused
 * when a key lands in their slot; many tombstones make the next open
 * rebuild.
 */
#include "hnsw_test.h"

#define DIM 48
#define N 3000
#define K 10

static double recall(spl_store *s, hd_gen *g, uint32_t nq)
{
    float q[DIM];
    uint64_t hit = 0, want = 0;
    for (uint32_t i = 0; i < nq; i++) {
        hd_point(g, q);
        spl_vec_query qa = {.vec = q, .dim = DIM, .k = K, .flags = SPL_VQ_ANN, .ef = 64}, qe = qa;
        qe.flags = 0;
        spl_vec_result *ra, *re;
        T_RC(spl_vec_search(s, &qa, &ra), 0);
        T_RC(spl_vec_search(s, &qe, &re), 0);
        T_TRUE(ra->flags & SPL_VR_ANN, "the index declined (lag?)");
        T_TRUE(t_hits_valid(s, ra, q, DIM, SPL_METRIC_COSINE) == 0, "stale hit in a quiet store");
        hit += t_overlap(ra, re);
        want += re->n;
        spl_vec_result_free(ra);
        spl_vec_result_free(re);
    }
    return want ? (double)hit / (double)want : 1.0;
}

static void apply(hnsw_index *x, spl_store *s, const char *key)
{
    spl_meta m;
    uint32_t slot = spl_meta_get(s, key, &m) == 0 ? m.slot : SPL_EV_NOSLOT;
    T_RC(hnsw_apply(x, slot, key), 0);
}

int main(void)
{
    t_name = "test_updates";
    spl_store *s = t_store(NULL, 2 * N, DIM);
    hd_gen g;
    T_RC(hd_init(&g, 1, DIM, 30, 3), 0);
    t_fill(s, &g, 0, N, NULL);
    hnsw_params p;
    hnsw_params_init(&p);
    p.seed = 9;
    uint64_t bytes = hnsw_region_bytes(2 * N, 32, DIM, &p);
    void *mem = calloc(1, bytes);
    hnsw_index *x;
    T_RC(hnsw_attach_writer(&x, s, mem, bytes, &p, NULL, 0, NULL, NULL), 0);
    T_RC(hnsw_provide(x), 0);
    hnsw_set_max_lag(x, 0); /* every change must be applied before the index answers */
    double r0 = recall(s, &g, 50);
    printf("built: recall %.4f\n", r0);

    /* one change at a time, as the feed would hand them over */
    char key[32];
    float v[DIM];
    uint64_t c0;
    for (int round = 0; round < 3; round++) {
        c0 = spl_changes(s);
        for (uint32_t i = 0; i < 200; i++) { /* new keys */
            uint32_t id = N + round * 200 + i;
            t_key(key, id);
            hd_point(&g, v);
            T_RC(spl_vec_set(s, key, v, DIM), 0);
            apply(x, s, key);
        }
        for (uint32_t i = round; i < N; i += 29) { /* rewritten vectors */
            t_key(key, i);
            hd_point(&g, v);
            T_RC(spl_vec_set(s, key, v, DIM), 0);
            apply(x, s, key);
        }
        for (uint32_t i = round + 7; i < N; i += 31) { /* deleted keys (the event names the slot) */
            t_key(key, i);
            spl_meta m;
            if (spl_meta_get(s, key, &m) != 0)
                continue;
            T_RC(spl_unset(s, key), 0);
            T_RC(hnsw_apply(x, m.slot, key), 0);
        }
        for (uint32_t i = round + 11; i < N; i += 37) { /* cleared vectors, key kept */
            t_key(key, i);
            if (spl_vec_clear(s, key) == 0)
                apply(x, s, key);
        }
        for (uint32_t i = round + 13; i < N; i += 41) { /* value-only writes: the copy is refreshed */
            t_key(key, i);
            if (spl_set(s, key, "x", 1) == 0)
                apply(x, s, key);
        }
        for (uint32_t i = round + 17; i < N; i += 43) { /* labels */
            t_key(key, i);
            if (spl_labels_set(s, key, 1) == 0)
                apply(x, s, key);
        }
        hnsw_mark_applied(x, c0 + 100000); /* clamped to the changes made so far */
        hnsw_stat st0;
        hnsw_stat_get(x, &st0);
        T_TRUE(st0.lag == 0 && st0.applied == spl_changes(s), "mark_applied clamps");
        T_RC(hnsw_check(x, 1), 0);
        double r = recall(s, &g, 50);
        hnsw_stat st;
        hnsw_stat_get(x, &st);
        printf("round %d: %llu live, %llu tombstones, recall %.4f\n", round, (unsigned long long)st.live,
               (unsigned long long)st.deleted, r);
        T_TRUE(r >= 0.95, "recall %.4f after updates", r);
    }

    /* a key that moves: deleted and set again (another slot, maybe) */
    t_key(key, 5);
    spl_meta m0, m1;
    if (spl_meta_get(s, key, &m0) != 0)
        t_fail("k000005 gone");
    T_RC(spl_unset(s, key), 0);
    for (uint32_t i = 0; i < 50; i++) { /* take slots meanwhile */
        char k2[32];
        snprintf(k2, sizeof k2, "filler%u", i);
        T_RC(spl_set(s, k2, "", 0), 0);
    }
    hd_point(&g, v);
    T_RC(spl_vec_set(s, key, v, DIM), 0);
    T_RC(spl_meta_get(s, key, &m1), 0);
    T_RC(hnsw_apply(x, m1.slot, key), 0); /* the new slot's event first... */
    T_RC(hnsw_apply(x, m0.slot, key), 0); /* ...then the old slot's delete event */
    hnsw_mark_applied(x, spl_changes(s));
    spl_vec_query qk = {.key = key, .k = 3, .flags = SPL_VQ_ANN, .ef = 64};
    spl_vec_result *r;
    T_RC(spl_vec_search(s, &qk, &r), 0);
    T_TRUE(r->n >= 1 && strcmp(r->hits[0].key, key) == 0 && r->hits[0].slot == m1.slot,
           "a moved key is found in its new slot");
    for (uint32_t j = 1; j < r->n; j++)
        T_TRUE(strcmp(r->hits[j].key, key) != 0, "a moved key shows twice");
    spl_vec_result_free(r);
    T_RC(hnsw_check(x, 1), 0);

    /* changes not applied: sync reconciles them in one pass */
    for (uint32_t i = 100; i < 400; i++) {
        t_key(key, i);
        if (i % 3 == 0)
            spl_unset(s, key);
        else {
            hd_point(&g, v);
            T_RC(spl_vec_set(s, key, v, DIM), 0);
        }
    }
    spl_vec_query qv = {.vec = v, .dim = DIM, .k = K, .flags = SPL_VQ_ANN};
    T_RC(hnsw_search(x, &qv, &r), SPL_ESTALE); /* lagging: declines */
    T_RC(hnsw_sync(x, NULL, NULL), 0);
    T_RC(hnsw_check(x, 1), 0);
    double rs = recall(s, &g, 50);
    hnsw_stat st;
    hnsw_stat_get(x, &st);
    printf("after sync: %llu live, %llu tombstones, recall %.4f\n", (unsigned long long)st.live,
           (unsigned long long)st.deleted, rs);
    T_TRUE(rs >= 0.95, "recall %.4f after sync", rs);
    spl_info in;
    spl_info_get(s, &in);
    /* live nodes = keys holding a vector */
    uint64_t with_vec = 0;
    for (uint32_t i = 0; i < N + 600; i++) {
        t_key(key, i);
        with_vec += spl_vec_get(s, key, v, DIM, NULL) == 0;
    }
    T_TRUE(st.live == with_vec, "live %llu, keys with vectors %llu", (unsigned long long)st.live,
           (unsigned long long)with_vec);

    /* tombstones are reused by the keys that take their slots */
    uint64_t dead0 = st.deleted;
    for (uint32_t i = 0; i < 300; i++) {
        char k2[32];
        snprintf(k2, sizeof k2, "again%u", i);
        hd_point(&g, v);
        T_RC(spl_vec_set(s, k2, v, DIM), 0);
        apply(x, s, k2);
    }
    hnsw_stat_get(x, &st);
    printf("300 new keys: tombstones %llu -> %llu\n", (unsigned long long)dead0, (unsigned long long)st.deleted);
    T_TRUE(st.deleted < dead0, "no tombstone reused");
    T_RC(hnsw_check(x, 1), 0);

    /* most keys deleted: the next open rebuilds instead of walking tombstones */
    for (uint32_t i = 0; i < N + 600; i++) {
        t_key(key, i);
        spl_unset(s, key);
    }
    T_RC(hnsw_sync(x, NULL, NULL), 0);
    hnsw_stat_get(x, &st);
    uint64_t gen = st.generation;
    T_TRUE(st.deleted > st.live, "tombstones %llu, live %llu", (unsigned long long)st.deleted,
           (unsigned long long)st.live);
    hnsw_close(x);
    T_RC(hnsw_attach_writer(&x, s, mem, bytes, &p, NULL, 0, NULL, NULL), 0);
    hnsw_stat_get(x, &st);
    T_TRUE(st.generation == gen + 1 && st.deleted == 0 && st.live == 300, "rebuilt: gen %llu live %llu dead %llu",
           (unsigned long long)st.generation, (unsigned long long)st.live, (unsigned long long)st.deleted);
    T_RC(hnsw_check(x, 1), 0);
    hnsw_close(x);
    free(mem);
    hd_free(&g);
    spl_close(s);
    printf("ok\n");
    return 0;
}
