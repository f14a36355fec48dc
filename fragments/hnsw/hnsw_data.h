/*
 * hnsw_data.h - synthetic embeddings for the HNSW tests and bench (header
 * only, deterministic for a seed).
 *
 *   lowdim:    x = P z + e: z ~ N(0, 1)^latent, P a fixed latent x dim
 *              Gaussian matrix scaled by 1/sqrt(latent), e ~ N(0, noise^2)
 *              per element: points near a latent-dimensional subspace, as
 *              text embeddings are (their intrinsic dimension is low).
 *   clustered: x = c_j + spread P z + e: c_j one of `clusters` centres
 *              ~ N(0, 1)^dim, the spread within a cluster low-dimensional
 *              like lowdim's (P z, latent 32), e as above: tight groups with
 *              empty space between.
 * Queries come from the same distribution (not from the data set).
 */
#ifndef HNSW_DATA_H
#define HNSW_DATA_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct hd_rng {
    uint64_t s;
} hd_rng;

static inline uint64_t hd_next(hd_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline double hd_unif(hd_rng *r) { return ((hd_next(r) >> 11) + 0.5) * 0x1p-53; }

static inline float hd_gauss(hd_rng *r)
{
    double u = hd_unif(r), v = hd_unif(r);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

typedef struct hd_gen {
    int kind; /* 0 lowdim, 1 clustered */
    uint32_t dim, latent, clusters;
    float noise, spread;
    float *basis;   /* latent x dim */
    float *centres; /* clustered: clusters x dim */
    hd_rng rng;
} hd_gen;

/* kind 0: lowdim; kind 1: clustered with `clusters` centres.  latent 32,
 * noise 0.05 per element; clustered: spread 0.5 of the unit latent scale. */
static inline int hd_init(hd_gen *g, int kind, uint32_t dim, uint32_t clusters, uint64_t seed)
{
    g->kind = kind;
    g->dim = dim;
    g->latent = 32;
    g->clusters = kind == 1 ? clusters : 0;
    g->noise = 0.05f;
    g->spread = kind == 1 ? 0.5f : 1.0f;
    g->rng.s = seed;
    g->basis = malloc((size_t)g->latent * dim * sizeof(float));
    g->centres = kind == 1 ? malloc((size_t)clusters * dim * sizeof(float)) : NULL;
    if (!g->basis || (kind == 1 && !g->centres))
        return -1;
    float f = (float)(1.0 / sqrt((double)g->latent));
    for (size_t i = 0; i < (size_t)g->latent * dim; i++)
        g->basis[i] = hd_gauss(&g->rng) * f;
    for (size_t i = 0; i < (size_t)g->clusters * dim; i++)
        g->centres[i] = hd_gauss(&g->rng);
    return 0;
}

static inline void hd_point(hd_gen *g, float *out)
{
    uint32_t d = g->dim;
    const float *c = g->kind == 1 ? g->centres + (size_t)(hd_next(&g->rng) % g->clusters) * d : NULL;
    for (uint32_t j = 0; j < d; j++)
        out[j] = (c ? c[j] : 0.0f) + g->noise * hd_gauss(&g->rng);
    for (uint32_t l = 0; l < g->latent; l++) {
        float z = g->spread * hd_gauss(&g->rng);
        const float *b = g->basis + (size_t)l * d;
        for (uint32_t j = 0; j < d; j++)
            out[j] += z * b[j];
    }
}

static inline void hd_free(hd_gen *g)
{
    free(g->basis);
    free(g->centres);
    g->basis = g->centres = NULL;
}

#endif /* HNSW_DATA_H */
