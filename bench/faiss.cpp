// faiss.cpp - the FAISS side of the vector bench (bench/vec.c): exact
// search with IndexFlatIP / IndexFlatL2 of Debian's libfaiss-dev (FAISS
// 1.7.3; a batch of 20 or more queries goes through BLAS sgemm, OpenBLAS
// here), behind a C interface.  Built only when the FAISS headers are
// installed (WITH_FAISS=1, the default then; scripts/install-deps.sh).
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <cstdint>
#include <new>

extern "C" {

/* An index of n vectors of dim d (copied in); l2: IndexFlatL2, else
 * IndexFlatIP.  NULL on failure. */
void *bench_faiss_new(int l2, int d, const float *xb, size_t n)
{
    try {
        faiss::IndexFlat *ix = l2 ? static_cast<faiss::IndexFlat *>(new faiss::IndexFlatL2(d))
                                  : static_cast<faiss::IndexFlat *>(new faiss::IndexFlatIP(d));
        ix->add((faiss::Index::idx_t)n, xb);
        return ix;
    } catch (...) {
        return nullptr;
    }
}

/* Top-k of nq queries: distances D and ids I (nq x k each).  0 or -1. */
int bench_faiss_search(void *ix, const float *xq, size_t nq, int k, float *D, int64_t *I)
{
    try {
        static_cast<faiss::IndexFlat *>(ix)->search((faiss::Index::idx_t)nq, xq, k, D,
                                                    reinterpret_cast<faiss::Index::idx_t *>(I));
        return 0;
    } catch (...) {
        return -1;
    }
}

void bench_faiss_free(void *ix) { delete static_cast<faiss::IndexFlat *>(ix); }

/* OpenMP threads for FAISS (and OpenBLAS built with OpenMP). */
void bench_faiss_threads(int n) { omp_set_num_threads(n); }

} // extern "C"
