/*
 * test_hostile.c - a hostile or corrupt region: readers stay memory safe.
 *
 * A region is built, then copied into memory fenced by PROT_NONE pages on
 * both sides (a read outside it faults) and damaged, a few thousand times:
 * random bytes anywhere, or targeted values (entry point, state, counters,
 * node flags, levels, pool indices, key lengths, NaN norms and elements,
 * odd seqs that never turn even, list counts and ids out of range, random
 * graphs).  Each damaged copy is attached (a header that does not fit the
 * store is refused) and searched with and without filters, audited and
 * stat'ed: every call returns, no fault, no hang, and every hit is still a
 * key of the store holding that vector with its score (the hits are checked
 * against the store, whatever the region says).
 *
 *   test_hostile [ITERATIONS]
 */
#include "hnsw_test.h"
#include "hnsw_layout.h"

#include <sys/mman.h>

#define DIM 16
#define N 1200

int main(int argc, char **argv)
{
    t_name = "test_hostile";
    int iters = argc > 1 ? atoi(argv[1]) : 3000;
    spl_store *s = t_store(NULL, N + N / 3, DIM);
    hd_gen g;
    T_RC(hd_init(&g, 1, DIM, 10, 5), 0);
    t_fill(s, &g, 0, N, NULL);
    hnsw_params p;
    hnsw_params_init(&p);
    p.seed = 3;
    uint64_t bytes = hnsw_region_bytes(N + N / 3, 32, DIM, &p);
    void *gold = calloc(1, bytes);
    hnsw_index *x;
    T_RC(hnsw_attach_writer(&x, s, gold, bytes, &p, NULL, 0, NULL, NULL), 0);
    hnsw_close(x);
    /* fenced work area: [guard][..... region][guard] */
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), span = (bytes + pg - 1) / pg * pg;
    uint8_t *area = mmap(NULL, span + 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_TRUE(area != MAP_FAILED, "mmap");
    T_TRUE(mprotect(area, pg, PROT_NONE) == 0 && mprotect(area + pg + span, pg, PROT_NONE) == 0, "mprotect");
    uint8_t *w = area + pg + span - bytes; /* the region ends at the guard */
    struct hnsw_header *gh = gold;
    uint32_t stride = gh->node_stride, head_off = hnsw__head_off(gh->m0, gh->key_max);
    hd_rng r = {77};
    uint64_t attached = 0, refused = 0, searches = 0, answered = 0, declined = 0, hits = 0;
    double t0 = t_now();
    for (int it = 0; it < iters; it++) {
        memcpy(w, gold, bytes);
        struct hnsw_header *h = (struct hnsw_header *)(void *)w;
        int kind = (int)(hd_next(&r) % 8);
        int nd = 1 + (int)(hd_next(&r) % 40);
        for (int d = 0; d < nd; d++) {
            uint32_t id = (uint32_t)(hd_next(&r) % gh->nodes);
            uint8_t *node = w + gh->nodes_off + (uint64_t)id * stride;
            struct hnsw_node *hd = (struct hnsw_node *)(void *)(node + head_off);
            uint32_t *list0 = (uint32_t *)(void *)node;
            uint32_t v32 = (uint32_t)hd_next(&r);
            switch (kind) {
            case 0: /* random bytes anywhere (the header's first page less often) */
                w[HNSW_HEADER_BYTES / 2 + hd_next(&r) % (bytes - HNSW_HEADER_BYTES / 2)] = (uint8_t)v32;
                if (d == 0 && hd_next(&r) % 4 == 0)
                    w[128 + hd_next(&r) % 200] = (uint8_t)v32;
                if (d == 0 && hd_next(&r) % 8 == 0) /* the geometry: refused at attach */
                    w[hd_next(&r) % 128] ^= (uint8_t)(1u << (v32 % 8));
                break;
            case 1: /* the header's live fields */
                switch (v32 % 6) {
                case 0: h->entry = hd_next(&r); break;
                case 1: h->entry = ((uint64_t)(v32 % 40) << 32) | (v32 % (2 * gh->nodes)); break;
                case 2: h->state = v32 % 4; break;
                case 3: h->pool_used = hd_next(&r); break;
                case 4: h->live = hd_next(&r); break;
                default: h->applied = hd_next(&r); break;
                }
                break;
            case 2: /* node heads */
                switch (v32 % 6) {
                case 0: hd->flags = v32 >> 8; break;
                case 1: hd->level = v32 % 64; break;
                case 2: hd->upper = v32; break;
                case 3: hd->key_len = v32 % 4096; break;
                case 4: {
                    float nan = NAN;
                    memcpy(&hd->norm, &nan, 4);
                    break;
                }
                default: hd->seq |= 1; break; /* busy for ever */
                }
                break;
            case 3: /* list counts and ids */
                list0[1] = v32 % 1000;
                list0[2 + v32 % gh->m0] = (uint32_t)hd_next(&r);
                break;
            case 4: /* a random graph: every id in range, wired at random */
                for (uint32_t i = 0; i < gh->m0; i++)
                    list0[2 + i] = (uint32_t)(hd_next(&r) % gh->nodes);
                list0[1] = gh->m0;
                break;
            case 5: { /* NaN and huge elements */
                float *vec = (float *)(void *)(node + head_off + HNSW_NODE_HEAD);
                vec[v32 % DIM] = (v32 & 1) ? NAN : 3e38f;
                break;
            }
            case 6: /* upper lists */
                w[gh->pool_off + hd_next(&r) % (bytes - gh->pool_off)] = (uint8_t)v32;
                break;
            default: /* a whole node of garbage */
                for (uint32_t i = 0; i < stride; i += 8) {
                    uint64_t z = hd_next(&r);
                    memcpy(node + i, &z, stride - i < 8 ? stride - i : 8);
                }
                break;
            }
        }
        hnsw_index *rd;
        int rc = hnsw_attach_reader(&rd, s, w, bytes, NULL);
        if (rc) {
            refused++;
            continue;
        }
        attached++;
        hnsw_set_max_lag(rd, UINT64_MAX - 1);
        for (int k = 0; k < 3; k++) {
            float q[DIM];
            hd_point(&g, q);
            spl_vec_query qq = {.vec = q, .dim = DIM, .k = 5, .flags = SPL_VQ_ANN, .ef = 16 + 16 * k};
            if (k == 1)
                qq.prefix = "k0001";
            if (k == 2) {
                qq.vec = NULL;
                qq.key = "k000003";
                qq.flags |= SPL_VQ_SKIP_SELF;
            }
            spl_vec_result *res;
            rc = hnsw_search(rd, &qq, &res);
            searches++;
            if (rc == SPL_ESTALE) {
                declined++;
                continue;
            }
            T_RC(rc, 0);
            answered++;
            hits += res->n;
            if (k == 2) {
                float kv[DIM];
                T_RC(spl_vec_get(s, "k000003", kv, DIM, NULL), 0);
                T_TRUE(t_hits_valid(s, res, kv, DIM, SPL_METRIC_COSINE) == 0, "hit changed in a quiet store");
            } else {
                T_TRUE(t_hits_valid(s, res, q, DIM, SPL_METRIC_COSINE) == 0, "hit changed in a quiet store");
            }
            spl_vec_result_free(res);
        }
        hnsw_stat st;
        hnsw_stat_get(rd, &st);
        hnsw_audit(rd, NULL, NULL);
        hnsw_check(rd, 0);
        hnsw_close(rd);
    }
    printf("%d damaged regions in %.1fs: %llu attached, %llu refused; %llu searches: %llu answered (%llu hits, all "
           "valid), %llu declined\n",
           iters, t_now() - t0, (unsigned long long)attached, (unsigned long long)refused,
           (unsigned long long)searches, (unsigned long long)answered, (unsigned long long)hits,
           (unsigned long long)declined);
    T_TRUE(attached > (uint64_t)iters / 2 && answered > 0, "the damage was too easy to refuse");
    /* a region shorter than its header says is refused */
    T_RC(hnsw_attach_reader(&x, s, gold, bytes - 64, NULL), SPL_ESIZE);
    T_RC(hnsw_attach_reader(&x, s, gold, 100, NULL), SPL_ESIZE);
    munmap(area, span + 2 * pg);
    free(gold);
    spl_close(s);
    hd_free(&g);
    printf("ok\n");
    return 0;
}
