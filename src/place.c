/*
 * place.c - where a store's memory lives: huge pages, and the calls into
 * the NUMA policy code (numa.c).  No libnuma here: this file is built the
 * same with and without WITH_NUMA.  docs/PLACEMENT.md.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "place.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6u
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004u
#endif
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994u
#endif

int spl__on_tmpfs(int fd)
{
    struct statfs sf;
    return fstatfs(fd, &sf) == 0 && (uint32_t)sf.f_type == (uint32_t)TMPFS_MAGIC;
}

/* The huge page size of fd's hugetlbfs, or 0 if fd is not on hugetlbfs. */
static uint64_t spl__hugetlb_page(int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0 || (uint32_t)sf.f_type != (uint32_t)HUGETLBFS_MAGIC ||
        sf.f_bsize <= 0)
        return 0;
    return (uint64_t)sf.f_bsize;
}

int spl__place_check(const spl_options *o)
{
    uint32_t h = o->huge_pages;
    if (h > SPL_HUGE_DEFAULT && (h < 65536 || (h & (h - 1))))
        return SPL_EINVAL;
    uint64_t nodes = o->numa_nodes;
    switch (o->numa_mode) {
    case SPL_NUMA_DEFAULT:
        return nodes ? SPL_EINVAL : 0;
    case SPL_NUMA_LOCAL:
        if (nodes)
            return SPL_EINVAL;
        break;
    case SPL_NUMA_BIND:
    case SPL_NUMA_INTERLEAVE:
        if (!nodes)
            return SPL_EINVAL;
        break;
    case SPL_NUMA_PREFERRED:
        if (!nodes || (nodes & (nodes - 1)))
            return SPL_EINVAL;
        break;
    default:
        return SPL_EINVAL;
    }
    return spl__numa_check(o);
}

int spl__memfd_huge(const spl_options *o)
{
    unsigned flags = MFD_CLOEXEC | MFD_HUGETLB;
#ifdef MFD_ALLOW_SEALING
    flags |= MFD_ALLOW_SEALING;
#endif
    if (o->huge_pages != SPL_HUGE_DEFAULT)
        flags |= (unsigned)__builtin_ctz(o->huge_pages) << MFD_HUGE_SHIFT;
    int fd = memfd_create("splinter", flags);
    if (fd >= 0)
        return fd;
    /* EINVAL: no huge pages of that size; ENOENT/ENODEV: no hugetlbfs */
    if (errno == EINVAL || errno == ENOENT || errno == ENODEV || errno == ENOSYS)
        return SPL_ENOHUGE;
    return -errno;
}

int spl__huge_check(int fd, const spl_options *o)
{
    if (!o->huge_pages)
        return 0;
    uint64_t p = spl__hugetlb_page(fd);
    if (!p || (o->huge_pages != SPL_HUGE_DEFAULT && p != o->huge_pages))
        return SPL_ENOHUGE;
    return 0;
}

uint64_t spl__region_bytes(int fd, uint64_t total)
{
    uint64_t p = spl__hugetlb_page(fd);
    return p ? (total + p - 1) / p * p : total;
}

int spl__map_new(int fd, size_t len, const spl_options *o, void **out)
{
    int huge = spl__hugetlb_page(fd) != 0;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) /* hugetlbfs reserves the pages here */
        return errno == ENOMEM && huge ? SPL_ENOHUGE : -errno;
    int rc = 0;
    if (o->numa_mode != SPL_NUMA_DEFAULT)
        rc = spl__numa_apply(m, len, o);
#ifdef MADV_POPULATE_WRITE
    if (rc == 0 && huge && madvise(m, len, MADV_POPULATE_WRITE) != 0) {
        /* ENOMEM, EFAULT (the fault's SIGBUS): no huge page where the policy
         * allows one; EINVAL: a kernel before 5.14, the pages come at first
         * touch instead */
        if (errno == ENOMEM || errno == EFAULT)
            rc = SPL_ENOHUGE;
        else if (errno != EINVAL)
            rc = -errno;
    }
#endif
    if (rc) {
        munmap(m, len);
        return rc;
    }
    *out = m;
    return 0;
}

/* Bytes of [base, base + len) in memory: mincore(2) over the mapping, in
 * pieces of base pages (its unit, huge pages or not; for a MAP_SHARED
 * mapping it reports the file's pages, whoever touched them).  0 if
 * mincore fails. */
static uint64_t spl__resident(void *base, size_t len, uint64_t page)
{
    enum { PIECE = 16384 };
    unsigned char v[PIECE];
    uint64_t pages = (len + page - 1) / page, in = 0;
    for (uint64_t p0 = 0; p0 < pages; p0 += PIECE) {
        uint64_t n = pages - p0 < PIECE ? pages - p0 : PIECE;
        uint64_t bytes = n * page;
        if ((p0 + n) * page > len)
            bytes = len - p0 * page;
        if (mincore((uint8_t *)base + p0 * page, bytes, v) != 0)
            return 0;
        for (uint64_t i = 0; i < n; i++)
            in += v[i] & 1;
    }
    in *= page;
    return in < len ? in : len;
}

void spl__place_info(int fd, void *base, size_t len, spl_info *out)
{
    uint64_t p = spl__hugetlb_page(fd);
    long sys = sysconf(_SC_PAGESIZE);
    out->page_bytes = p ? p : (uint64_t)(sys > 0 ? sys : 4096);
    out->resident_bytes = spl__resident(base, len, (uint64_t)(sys > 0 ? sys : 4096));
    out->numa_mode = -1;
    spl__numa_info(base, len, out);
}
