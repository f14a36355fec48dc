// bench_hnswlib.cpp - head to head with the anchor, hnswlib (Debian's
// libhnswlib-dev, header only), in one process so that both face the same
// machine load: the data set hnsw-bench dumped (--dump PREFIX: vectors,
// queries, and the exact search's top-k as ground truth) goes into a memfd
// store and into hnswlib; both indexes are built on one thread (M, efC the
// same; hnswlib's cosine is an inner product over normalised copies), then
// for each ef the queries run through hnsw_search and hnswlib's searchKnn in
// alternating rounds, one thread, and the median queries per CPU-second of
// the rounds is reported (CPU time of the thread: what other processes on
// a loaded machine do not take away; wall q/s beside it).
//
//   hnsw-compare FILE [--m M] [--efc EF] [--ef 16,32,...] [--rounds R] [--format f16|f32] [--json]
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <sys/mman.h>
#include <vector>

#include "hnsw.h"

static double now_s()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s()
{
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void normalise(float *v, uint32_t d)
{
    double ss = 0;
    for (uint32_t i = 0; i < d; i++)
        ss += (double)v[i] * v[i];
    float f = ss > 0 ? (float)(1.0 / std::sqrt(ss)) : 0.0f;
    for (uint32_t i = 0; i < d; i++)
        v[i] *= f;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "hnsw-compare: %s: %s\n", what, spl_strerror(rc));
    exit(1);
}

static double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: hnsw-compare FILE [--m M] [--efc EF] [--ef 16,32,...] [--rounds R] [--json]\n");
        return 2;
    }
    const char *path = argv[1];
    size_t m = 16, efc = 200, rounds = 5;
    uint32_t format = HNSW_F16;
    std::vector<size_t> efs = {16, 32, 64, 128, 256};
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--m") && i + 1 < argc)
            m = strtoul(argv[++i], nullptr, 10);
        else if (!strcmp(argv[i], "--efc") && i + 1 < argc)
            efc = strtoul(argv[++i], nullptr, 10);
        else if (!strcmp(argv[i], "--format") && i + 1 < argc)
            format = strcmp(argv[++i], "f32") ? HNSW_F16 : HNSW_F32;
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = std::max(1ul, strtoul(argv[++i], nullptr, 10));
        else if (!strcmp(argv[i], "--ef") && i + 1 < argc) {
            efs.clear();
            for (char *t = strtok(argv[++i], ","); t; t = strtok(nullptr, ","))
                efs.push_back(strtoul(t, nullptr, 10));
        } else if (!strcmp(argv[i], "--json"))
            json = true;
        else {
            fprintf(stderr, "hnsw-compare: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    FILE *f = fopen(path, "rb");
    uint32_t hdr[4];
    if (!f || fread(hdr, 4, 4, f) != 4) {
        perror(path);
        return 1;
    }
    uint32_t n = hdr[0], dim = hdr[1], nq = hdr[2], k = hdr[3];
    std::vector<float> data((size_t)n * dim), qs((size_t)nq * dim);
    std::vector<uint32_t> gt((size_t)nq * k);
    if (fread(data.data(), 4, data.size(), f) != data.size() || fread(qs.data(), 4, qs.size(), f) != qs.size() ||
        fread(gt.data(), 4, gt.size(), f) != gt.size()) {
        fprintf(stderr, "%s: short file\n", path);
        return 1;
    }
    fclose(f);
    std::string set = path;
    size_t dot2 = set.rfind('.'), dot1 = dot2 == std::string::npos ? dot2 : set.rfind('.', dot2 - 1);
    set = dot1 == std::string::npos ? set : set.substr(dot1 + 1, dot2 - dot1 - 1);

    /* ---- ours: a memfd store, the index in shared memory ---- */
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD;
    o.geom.slots = n + n / 3 + 64;
    o.geom.key_max = 16;
    o.geom.val_max = 8;
    o.geom.vec_dim = dim;
    spl_store *s;
    int rc = spl_create(&s, nullptr, &o);
    if (rc)
        die("create", rc);
    char key[16];
    for (uint32_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "v%07u", i);
        if ((rc = spl_vec_set(s, key, &data[(size_t)i * dim], dim)) != 0)
            die("vec_set", rc);
    }
    hnsw_params p;
    hnsw_params_init(&p);
    p.m = (uint32_t)m;
    p.ef_construction = (uint32_t)efc;
    p.seed = 1;
    p.format = format;
    uint64_t bytes = hnsw_region_bytes(o.geom.slots, o.geom.key_max, dim, &p);
    void *mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap", SPL_ENOMEM);
    hnsw_index *x;
    double t0 = now_s(), c0 = cpu_s();
    if ((rc = hnsw_attach_writer(&x, s, mem, bytes, &p, nullptr, HNSW_OPEN_REBUILD, nullptr, nullptr)) != 0)
        die("build", rc);
    double our_build = cpu_s() - c0, our_build_wall = now_s() - t0;
    hnsw_stat st;
    hnsw_stat_get(x, &st);
    double our_bpv = (double)st.node_stride + (double)st.pool_used * (8 + 4.0 * st.m) / (double)st.live;

    /* ---- hnswlib ---- */
    for (uint32_t i = 0; i < n; i++)
        normalise(&data[(size_t)i * dim], dim);
    std::vector<float> qn = qs;
    for (uint32_t i = 0; i < nq; i++)
        normalise(&qn[(size_t)i * dim], dim);
    hnswlib::InnerProductSpace space(dim);
    hnswlib::HierarchicalNSW<float> index(&space, n, m, efc, 100);
    t0 = now_s();
    c0 = cpu_s();
    for (uint32_t i = 0; i < n; i++)
        index.addPoint(&data[(size_t)i * dim], i);
    double lib_build = cpu_s() - c0, lib_build_wall = now_s() - t0;
    size_t upper = 0;
    for (uint32_t i = 0; i < n; i++)
        upper += (size_t)index.element_levels_[i] * index.size_links_per_element_;
    /* level-0 block (links, vector, label) + upper lists + the per-element
     * list pointer and level; its label map and locks are left out */
    double lib_bpv = (double)index.size_data_per_element_ + (double)upper / n + sizeof(void *) + sizeof(int);
    if (!json) {
        printf("%s: n=%u dim=%u M=%zu efC=%zu k=%u queries=%u, %zu rounds per ef (median); splinter-hnsw copies %s\n",
               set.c_str(), n, dim, m, efc, k, nq, rounds, format == HNSW_F16 ? "f16" : "f32");
        printf("  build  splinter-hnsw %7.0f vectors/s (%.2f CPU-s, %.2f s wall) | hnswlib %7.0f vectors/s (%.2f CPU-s, "
               "%.2f s wall) | ratio %.2f\n",
               n / our_build, our_build, our_build_wall, n / lib_build, lib_build, lib_build_wall,
               lib_build / our_build);
        printf("  memory splinter-hnsw %.0f B/vector | hnswlib %.0f B/vector\n", our_bpv, lib_bpv);
    } else {
        printf("{\"set\":\"%s\",\"n\":%u,\"dim\":%u,\"m\":%zu,\"efc\":%zu,\"k\":%u,\"queries\":%u,"
               "\"build_rate\":{\"splinter\":%.1f,\"hnswlib\":%.1f},\"bytes_per_vector\":{\"splinter\":%.0f,"
               "\"hnswlib\":%.0f}}\n",
               set.c_str(), n, dim, m, efc, k, nq, n / our_build, n / lib_build, our_bpv, lib_bpv);
    }
    for (size_t ef : efs) {
        index.setEf(ef < k ? k : ef);
        spl_vec_query q = {};
        q.dim = dim;
        q.k = k;
        q.metric = SPL_METRIC_COSINE;
        q.flags = SPL_VQ_ANN;
        q.ef = (uint32_t)ef;
        std::vector<double> ours, lib, ours_wall, lib_wall;
        uint64_t our_hit = 0, lib_hit = 0;
        for (size_t r = 0; r < rounds; r++) {
            t0 = now_s();
            c0 = cpu_s();
            for (uint32_t i = 0; i < nq; i++) {
                spl_vec_result *res;
                q.vec = &qs[(size_t)i * dim];
                if ((rc = hnsw_search(x, &q, &res)) != 0)
                    die("hnsw_search", rc);
                if (r == 0)
                    for (uint32_t j = 0; j < res->n; j++) {
                        uint32_t id = (uint32_t)strtoul(res->hits[j].key + 1, nullptr, 10);
                        for (uint32_t t = 0; t < k; t++)
                            if (gt[(size_t)i * k + t] == id) {
                                our_hit++;
                                break;
                            }
                    }
                spl_vec_result_free(res);
            }
            ours.push_back(nq / (cpu_s() - c0));
            ours_wall.push_back(nq / (now_s() - t0));
            t0 = now_s();
            c0 = cpu_s();
            for (uint32_t i = 0; i < nq; i++) {
                auto res = index.searchKnn(&qn[(size_t)i * dim], k);
                if (r == 0)
                    while (!res.empty()) {
                        uint32_t id = (uint32_t)res.top().second;
                        res.pop();
                        for (uint32_t t = 0; t < k; t++)
                            if (gt[(size_t)i * k + t] == id) {
                                lib_hit++;
                                break;
                            }
                    }
            }
            lib.push_back(nq / (cpu_s() - c0));
            lib_wall.push_back(nq / (now_s() - t0));
        }
        double a = median(ours), b = median(lib);
        double ra = (double)our_hit / ((double)nq * k), rb = (double)lib_hit / ((double)nq * k);
        if (!json)
            printf("  ef=%-4zu splinter-hnsw recall %.4f %8.1f q/s (%8.1f wall) | hnswlib recall %.4f %8.1f q/s "
                   "(%8.1f wall) | q/s ratio %.2f\n",
                   ef, ra, a, median(ours_wall), rb, b, median(lib_wall), a / b);
        else
            printf("{\"set\":\"%s\",\"ef\":%zu,\"recall\":{\"splinter\":%.4f,\"hnswlib\":%.4f},"
                   "\"qps\":{\"splinter\":%.1f,\"hnswlib\":%.1f}}\n",
                   set.c_str(), ef, ra, rb, a, b);
        fflush(stdout);
    }
    hnsw_close(x);
    munmap(mem, bytes);
    spl_close(s);
    return 0;
}
