/*
 * numa.c - NUMA placement with libnuma (WITH_NUMA=1): the policy of a new
 * store's region (mbind before first touch) and where its pages are
 * (get_mempolicy, move_pages).  Without WITH_NUMA this file is stubs and
 * the library does not use libnuma at all.  docs/PLACEMENT.md.
 */
#include "place.h"

#if SPL_WITH_NUMA

#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* mode flags get_mempolicy may return (linux/mempolicy.h) */
#ifndef MPOL_F_STATIC_NODES
#define MPOL_F_STATIC_NODES (1 << 15)
#endif
#ifndef MPOL_F_RELATIVE_NODES
#define MPOL_F_RELATIVE_NODES (1 << 14)
#endif
#ifndef MPOL_F_NUMA_BALANCING
#define MPOL_F_NUMA_BALANCING (1 << 13)
#endif

/* Node masks for the system calls: fixed, so that nothing here allocates
 * through libnuma (whose allocators exit the process when out of memory).
 * 4096 bits is above the kernel's MAX_NUMNODES (1024 at most). */
#define SPL__MASK_BITS 4096u
#define SPL__MASK_LONGS (SPL__MASK_BITS / (8 * sizeof(unsigned long)))

static void spl__mask_from(unsigned long *mask, uint64_t nodes)
{
    memset(mask, 0, SPL__MASK_LONGS * sizeof *mask);
    for (unsigned n = 0; n < 64; n++)
        if (nodes >> n & 1)
            mask[n / (8 * sizeof *mask)] |= 1ul << (n % (8 * sizeof *mask));
}

static uint64_t spl__mask_to(const unsigned long *mask)
{
    uint64_t nodes = 0;
    for (unsigned n = 0; n < 64; n++)
        if (mask[n / (8 * sizeof *mask)] >> (n % (8 * sizeof *mask)) & 1)
            nodes |= 1ull << n;
    return nodes;
}

int spl__numa_check(const spl_options *o)
{
    if (numa_available() < 0)
        return SPL_ENOTSUP; /* a kernel without NUMA */
    if (o->numa_mode == SPL_NUMA_LOCAL)
        return 0;
    unsigned long allowed[SPL__MASK_LONGS];
    memset(allowed, 0, sizeof allowed);
    if (get_mempolicy(NULL, allowed, SPL__MASK_BITS + 1, NULL, MPOL_F_MEMS_ALLOWED) != 0)
        return -errno;
    uint64_t ok = spl__mask_to(allowed);
    int max = numa_max_node();
    for (unsigned n = 0; n < 64; n++) {
        if (!(o->numa_nodes >> n & 1))
            continue;
        /* exists, has memory (numa_all_nodes_ptr), and this cpuset may use it */
        if ((int)n > max || !numa_bitmask_isbitset(numa_all_nodes_ptr, n) || !(ok >> n & 1))
            return SPL_ENODE;
    }
    return 0;
}

int spl__numa_apply(void *base, size_t len, const spl_options *o)
{
    int mode;
    switch (o->numa_mode) {
    case SPL_NUMA_BIND: mode = MPOL_BIND; break;
    case SPL_NUMA_INTERLEAVE: mode = MPOL_INTERLEAVE; break;
    case SPL_NUMA_PREFERRED: mode = MPOL_PREFERRED; break;
    case SPL_NUMA_LOCAL: mode = MPOL_LOCAL; break;
    default: return 0;
    }
    unsigned long mask[SPL__MASK_LONGS];
    spl__mask_from(mask, o->numa_nodes);
    int local = o->numa_mode == SPL_NUMA_LOCAL;
    /* No page of the region exists yet (the file was just sized), so there
     * is nothing to move: flags 0. */
    if (mbind(base, len, mode, local ? NULL : mask, local ? 0 : SPL__MASK_BITS + 1, 0) == 0)
        return 0;
    if (errno == ENOSYS)
        return SPL_ENOTSUP;
    /* the nodes were checked: EINVAL means they are not allowed (any more) */
    return errno == EINVAL && !local ? SPL_ENODE : -errno;
}

void spl__numa_info(void *base, size_t len, spl_info *out)
{
    if (numa_available() < 0)
        return;
    unsigned long mask[SPL__MASK_LONGS];
    memset(mask, 0, sizeof mask);
    int mode = 0;
    if (get_mempolicy(&mode, mask, SPL__MASK_BITS + 1, base, MPOL_F_ADDR) == 0) {
        uint64_t nodes = spl__mask_to(mask);
        switch (mode & ~(MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING)) {
        case MPOL_DEFAULT: out->numa_mode = SPL_NUMA_DEFAULT; break;
        case MPOL_BIND: out->numa_mode = SPL_NUMA_BIND; break;
        case MPOL_INTERLEAVE: out->numa_mode = SPL_NUMA_INTERLEAVE; break;
        /* preferred with no node is the old spelling of local */
        case MPOL_PREFERRED: out->numa_mode = nodes ? SPL_NUMA_PREFERRED : SPL_NUMA_LOCAL; break;
        case MPOL_LOCAL: out->numa_mode = SPL_NUMA_LOCAL; break;
        default: out->numa_mode = -1; break;
        }
        out->numa_nodes = out->numa_mode > 0 && out->numa_mode != SPL_NUMA_LOCAL ? nodes : 0;
    }
    uint64_t page = out->page_bytes;
    uint64_t npages = (len + page - 1) / page;
    size_t n = npages < SPL_NUMA_SAMPLE_MAX ? (size_t)npages : SPL_NUMA_SAMPLE_MAX;
    if (!n)
        return;
    void **pages = malloc(n * sizeof *pages);
    int *status = malloc(n * sizeof *status);
    if (!pages || !status)
        goto out;
    uint8_t *b = base;
    /* move_pages sees only pages in this process's page tables: read once
     * each sampled page that mincore says is in memory (maps it, allocates
     * nothing), so that pages other processes wrote are counted too */
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = b + (uint64_t)i * npages / n * page;
        unsigned char v = 0;
        if (mincore(p, 1, &v) == 0 && (v & 1))
            (void)__atomic_load_n(p, __ATOMIC_RELAXED);
        pages[i] = p;
        status[i] = -ENOENT;
    }
    if (numa_move_pages(0, n, pages, NULL, status, 0) != 0)
        goto out;
    out->numa_sampled = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        if (status[i] >= 0 && status[i] < (int)SPL_NUMA_NODES_MAX)
            out->numa_pages[status[i]]++;
        else if (status[i] < 0)
            out->numa_absent++;
    }
out:
    free(pages);
    free(status);
}

#else /* !SPL_WITH_NUMA: no libnuma; placement by NUMA policy is not built */

int spl__numa_check(const spl_options *o)
{
    (void)o;
    return SPL_ENOTSUP;
}

int spl__numa_apply(void *base, size_t len, const spl_options *o)
{
    (void)base;
    (void)len;
    (void)o;
    return SPL_ENOTSUP;
}

void spl__numa_info(void *base, size_t len, spl_info *out)
{
    (void)base;
    (void)len;
    (void)out; /* numa_mode stays -1, nothing sampled */
}

#endif
