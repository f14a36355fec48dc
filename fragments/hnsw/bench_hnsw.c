/*
 * bench_hnsw.c - the HNSW fragment against the exact search (and, through a
 * dump file, against hnswlib: bench_hnswlib.cpp).
 *
 * For each data set (lowdim: `latent` dimensions projected to dim plus
 * noise; clustered: Gaussian clusters): fill a memfd store with n vectors,
 * time the exact search (spl_vec_search, one thread) on the queries (its
 * top-k is the ground truth), build the index (hnsw_rebuild: one thread,
 * reading the vectors from the store), then for each ef: recall@k and
 * queries/s on one thread, through spl_vec_search with SPL_VQ_ANN (the
 * hook the CLI uses).  --dump PREFIX writes PREFIX.<set>.bin (data,
 * queries, ground truth) for hnswlib-bench.
 *
 *   hnsw-bench [--n N] [--dim D] [--nq Q] [--k K] [--ef LIST] [--m M]
 *              [--efc EF] [--data lowdim|clustered|both] [--dump PREFIX]
 *              [--repeat R] [--format f16|f32] [--quick] [--json]
 */
#include "hnsw.h"
#include "hnsw_data.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: what a loaded machine does not take away (the
 * searches and the build run on the calling thread). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "hnsw-bench: %s: %s\n", what, spl_strerror(rc));
    exit(1);
}

static int progress(uint64_t done, uint64_t total, void *ud)
{
    (void)ud;
    if (isatty(2))
        fprintf(stderr, "\r  build %" PRIu64 "/%" PRIu64 "   ", done, total);
    return 0;
}

static uint32_t repeat = 1; /* --repeat: each query this many times (steadier q/s, profiling) */

static uint32_t key_id(const char *k) { return (uint32_t)strtoul(k + 1, NULL, 10); }

static void run_set(const char *set, int kind, uint32_t n, uint32_t dim, uint32_t nq, uint32_t k,
                    const uint32_t *efs, int nef, const hnsw_params *p, const char *dump, int json)
{
    hd_gen g;
    if (hd_init(&g, kind, dim, 100, 42 + (uint64_t)kind))
        die("alloc", SPL_ENOMEM);
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD;
    o.geom.slots = n + n / 3 + 64;
    o.geom.key_max = 16;
    o.geom.val_max = 8;
    o.geom.vec_dim = dim;
    spl_store *s;
    int rc = spl_create(&s, NULL, &o);
    if (rc)
        die("create", rc);
    float *v = malloc((size_t)dim * 4);
    float *qs = malloc((size_t)nq * dim * 4);
    float *data = dump ? malloc((size_t)n * dim * 4) : NULL;
    uint32_t *gt = malloc((size_t)nq * k * 4);
    if (!v || !qs || !gt || (dump && !data))
        die("alloc", SPL_ENOMEM);
    char key[16];
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++) {
        hd_point(&g, v);
        if (data)
            memcpy(data + (size_t)i * dim, v, (size_t)dim * 4);
        snprintf(key, sizeof key, "v%07u", i);
        if ((rc = spl_vec_set(s, key, v, dim)) != 0)
            die("vec_set", rc);
    }
    for (uint32_t i = 0; i < nq; i++)
        hd_point(&g, qs + (size_t)i * dim);
    double t_fill = now_s() - t0;
    /* exact: the ground truth and its speed */
    spl_vec_query q = {.dim = dim, .k = k, .metric = p->metric};
    t0 = now_s();
    double c0 = cpu_s();
    for (uint32_t i = 0; i < nq; i++) {
        spl_vec_result *r;
        q.vec = qs + (size_t)i * dim;
        if ((rc = spl_vec_search(s, &q, &r)) != 0)
            die("exact search", rc);
        for (uint32_t j = 0; j < k; j++)
            gt[(size_t)i * k + j] = j < r->n ? key_id(r->hits[j].key) : UINT32_MAX;
        spl_vec_result_free(r);
    }
    double exact_wall = nq / (now_s() - t0), exact_qps = nq / (cpu_s() - c0);
    /* the index, in anonymous shared memory */
    uint64_t bytes = hnsw_region_bytes(o.geom.slots, o.geom.key_max, dim, p);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, (getenv("HB_PRIVATE") ? MAP_PRIVATE : MAP_SHARED) | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (getenv("HB_HUGE") && mem != MAP_FAILED) madvise(mem, bytes, MADV_HUGEPAGE);
    if (mem == MAP_FAILED)
        die("mmap", SPL_ENOMEM);
    hnsw_index *x;
    t0 = now_s();
    c0 = cpu_s();
    rc = hnsw_attach_writer(&x, s, mem, bytes, p, NULL, HNSW_OPEN_REBUILD, progress, NULL);
    double t_build_wall = now_s() - t0, t_build = cpu_s() - c0;
    if (isatty(2))
        fprintf(stderr, "\r%40s\r", "");
    if (rc)
        die("build", rc);
    if ((rc = hnsw_provide(x)) != 0)
        die("provide", rc);
    hnsw_stat st;
    hnsw_stat_get(x, &st);
    double used_bytes = (double)st.node_stride + (double)st.pool_used * (8 + 4.0 * st.m) / (double)st.live;
    const char *fmt = st.format == HNSW_F16 ? "f16" : "f32";
    if (!json)
        printf("%s: n=%u dim=%u M=%u efC=%u k=%u queries=%u copies %s (fill %.1fs)\n"
               "  exact: %.1f q/s per CPU-second (%.1f q/s wall)\n"
               "  build: %.2f CPU-s = %.0f vectors/s (%.2f s wall)\n"
               "  memory: %.0f B/vector used (node %" PRIu64 " + upper lists); region %.0f B/vector reserved "
               "(one node per slot: %u slots)\n",
               set, n, dim, p->m, p->ef_construction, k, nq, fmt, t_fill, exact_qps, exact_wall, t_build, n / t_build,
               t_build_wall, used_bytes, st.node_stride, (double)bytes / n, o.geom.slots);
    else
        printf("{\"set\":\"%s\",\"impl\":\"splinter-hnsw-%s\",\"n\":%u,\"dim\":%u,\"m\":%u,\"efc\":%u,\"k\":%u,"
               "\"queries\":%u,\"exact_qps\":%.2f,\"build_s\":%.3f,\"build_rate\":%.1f,\"bytes_per_vector\":%.0f}\n",
               set, fmt, n, dim, p->m, p->ef_construction, k, nq, exact_qps, t_build, n / t_build, used_bytes);
    for (int e = 0; e < nef; e++) {
        q.flags = SPL_VQ_ANN;
        q.ef = efs[e];
        uint64_t hit = 0, dists = 0;
        int fallback = 0;
        t0 = now_s();
        c0 = cpu_s();
        for (uint32_t i = 0; i < nq * repeat; i++) {
            spl_vec_result *r;
            q.vec = qs + (size_t)(i % nq) * dim;
            if ((rc = spl_vec_search(s, &q, &r)) != 0)
                die("ann search", rc);
            if (i >= nq) {
                spl_vec_result_free(r);
                continue;
            }
            fallback |= !(r->flags & SPL_VR_ANN);
            dists += r->scanned;
            for (uint32_t j = 0; j < r->n; j++) {
                uint32_t id = key_id(r->hits[j].key);
                for (uint32_t t = 0; t < k; t++)
                    if (gt[(size_t)i * k + t] == id) {
                        hit++;
                        break;
                    }
            }
            spl_vec_result_free(r);
        }
        double wall = (double)nq * repeat / (now_s() - t0), qps = (double)nq * repeat / (cpu_s() - c0);
        double recall = (double)hit / ((double)nq * k);
        if (!json)
            printf("  ef=%-4u recall@%u=%.4f  %8.1f q/s per CPU-s (%8.1f wall)  %6.1fx exact  %5.0f dist/query%s\n",
                   efs[e], k, recall, qps, wall, qps / exact_qps, (double)dists / nq,
                   fallback ? "  FELL BACK TO EXACT" : "");
        else
            printf("{\"set\":\"%s\",\"impl\":\"splinter-hnsw\",\"ef\":%u,\"recall\":%.4f,\"qps\":%.1f,"
                   "\"speedup\":%.2f}\n",
                   set, efs[e], recall, qps, qps / exact_qps);
    }
    fflush(stdout);
    if (dump) {
        char path[4096];
        snprintf(path, sizeof path, "%s.%s.bin", dump, set);
        FILE *f = fopen(path, "wb");
        uint32_t hdr[4] = {n, dim, nq, k};
        if (!f || fwrite(hdr, 4, 4, f) != 4 || fwrite(data, 4, (size_t)n * dim, f) != (size_t)n * dim ||
            fwrite(qs, 4, (size_t)nq * dim, f) != (size_t)nq * dim || fwrite(gt, 4, (size_t)nq * k, f) != (size_t)nq * k)
            die(path, -errno);
        fclose(f);
    }
    hnsw_close(x);
    munmap(mem, bytes);
    spl_close(s);
    free(v);
    free(qs);
    free(gt);
    free(data);
    hd_free(&g);
}

int main(int argc, char **argv)
{
    uint32_t n = 20000, dim = 768, nq = 300, k = 10;
    uint32_t efs[16] = {16, 32, 64, 128, 256};
    int nef = 5, json = 0;
    const char *data = "both", *dump = NULL;
    hnsw_params p;
    hnsw_params_init(&p);
    p.seed = 1;
    static const struct option lo[] = {{"n", 1, 0, 'n'},    {"dim", 1, 0, 'd'},   {"nq", 1, 0, 'q'},
                                       {"k", 1, 0, 'k'},    {"ef", 1, 0, 'e'},    {"m", 1, 0, 'm'},
                                       {"efc", 1, 0, 'c'},  {"data", 1, 0, 'D'},  {"dump", 1, 0, 'o'},
                                       {"quick", 0, 0, 'Q'}, {"repeat", 1, 0, 'r'}, {"format", 1, 0, 'f'}, {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'n': n = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'd': dim = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'q': nq = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'k': k = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'm': p.m = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'c': p.ef_construction = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'D': data = optarg; break;
        case 'o': dump = optarg; break;
        case 'j': json = 1; break;
        case 'f': p.format = !strcmp(optarg, "f32") ? HNSW_F32 : HNSW_F16; break;
        case 'r': repeat = (uint32_t)strtoul(optarg, NULL, 10); repeat += !repeat; break;
        case 'Q':
            n = 2000;
            dim = 64;
            nq = 50;
            break;
        case 'e': {
            nef = 0;
            for (char *t = strtok(optarg, ","); t && nef < 16; t = strtok(NULL, ","))
                efs[nef++] = (uint32_t)strtoul(t, NULL, 10);
            break;
        }
        default:
            fprintf(stderr, "usage: hnsw-bench [--n N] [--dim D] [--nq Q] [--k K] [--ef 16,32,...] [--m M] "
                            "[--efc EF] [--data lowdim|clustered|both] [--dump PREFIX] [--repeat R] [--format f16|f32] [--quick] [--json]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (!n || !dim || !nq || !k || k > 1000 || !nef) {
        fprintf(stderr, "hnsw-bench: bad arguments\n");
        return 2;
    }
    if (!json)
        printf("hnsw-bench: SIMD %s, %ld CPUs online\n", spl_vec_simd(), sysconf(_SC_NPROCESSORS_ONLN));
    if (!strcmp(data, "lowdim") || !strcmp(data, "both"))
        run_set("lowdim", 0, n, dim, nq, k, efs, nef, &p, dump, json);
    if (!strcmp(data, "clustered") || !strcmp(data, "both"))
        run_set("clustered", 1, n, dim, nq, k, efs, nef, &p, dump, json);
    return 0;
}
