/*
 * vec_kernels.h - the contract between the search (src/vec.c) and the SIMD
 * kernels (src/vec_simd.c).  Freestanding (stddef/stdint only), so that
 * tests/check-neon.sh can compile the AArch64 kernels against it.
 *
 * A kernel scores a block of SPL__GX cells against nq queries at once: each
 * cell's elements are read once per block of queries while they are in L1,
 * so many queries cost little more memory traffic than one.  Every dot
 * product is summed in the same order whatever nq, the block of queries it
 * falls in, or the other cells beside it: a query scores a cell to the same
 * bits alone or in a batch (on one path).
 */
#ifndef SPL_VEC_KERNELS_H
#define SPL_VEC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define SPL__GX   8u  /* cells per kernel call (unused ones point at zeros) */
#define SPL__QPAD 64u /* a packed query's stride is a multiple of this many
                         elements, zero-padded (biased i8: 0x80-padded), and
                         64-byte aligned */

/* The kernels of one SIMD path.  q: nq packed queries, qstride elements
 * apart (qstride a multiple of SPL__QPAD); x[c]: the n elements of cell c
 * (c < SPL__GX), any alignment, read in place (not past n); out[c * nq + j]
 * = sum_i q_j[i] * x_c[i].  The I8 kernel sums exactly in int32 (|q| <= 127,
 * n <= 16384): every path gives the same integers.  With i8_biased, its
 * queries are packed as q + 128 (unsigned bytes; padding 0x80) and it takes
 * 128 * sum(x) back off.  enc_f16 / dec_f16: float32 <-> IEEE half, round to
 * nearest even (the same bits as spl__f32_to_f16 / spl__f16_to_f32). */
struct spl__vk {
    const char *name;
    int i8_biased;
    void (*dots_f32)(const float *q, size_t qstride, uint32_t nq, const void *const *x, uint32_t n,
                     float *out);
    void (*dots_f16)(const float *q, size_t qstride, uint32_t nq, const void *const *x, uint32_t n,
                     float *out);
    void (*dots_i8)(const int8_t *q, size_t qstride, uint32_t nq, const void *const *x, uint32_t n,
                    int32_t *out);
    void (*enc_f16)(const float *v, uint16_t *out, uint32_t n);
    void (*dec_f16)(const uint16_t *h, float *out, uint32_t n);
};

float spl__f16_to_f32(uint16_t h);
uint16_t spl__f32_to_f16(float f); /* round to nearest even */

#endif /* SPL_VEC_KERNELS_H */
