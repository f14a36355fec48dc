/*
 * place.h - where a store's memory lives: huge pages (src/place.c) and NUMA
 * policy (src/numa.c, which alone uses libnuma, and only in a WITH_NUMA=1
 * build).  store.c calls these at three points: the options are checked
 * before any file is made, the huge-page memfd is made in place of the
 * normal one, and the region is placed right after it is mapped and before
 * the creator touches it.  docs/PLACEMENT.md.
 */
#ifndef SPL_PLACE_H
#define SPL_PLACE_H

#include <stddef.h>
#include <stdint.h>

#include "splinter.h"

#ifndef SPL_WITH_NUMA
#define SPL_WITH_NUMA 0
#endif

/* ---- place.c (always built) ---- */

/* Check the placement options of a create (before any file is made):
 * SPL_EINVAL, SPL_ENOTSUP, SPL_ENODE. */
int spl__place_check(const spl_options *o);
/* Is fd a file on tmpfs (SHM stores, memfds without huge pages)? */
int spl__on_tmpfs(int fd);

/* A memfd backed by huge pages of o->huge_pages' size: an fd, or
 * SPL_ENOHUGE where the kernel has no such huge pages. */
int spl__memfd_huge(const spl_options *o);

/* After the file is made: SPL_ENOHUGE if huge pages were asked and fd is not
 * on hugetlbfs (of the size asked). */
int spl__huge_check(int fd, const spl_options *o);

/* Size of the region of a store of `total` bytes in fd: total, rounded up
 * to the huge page size when fd is on hugetlbfs (which only takes whole
 * pages). */
uint64_t spl__region_bytes(int fd, uint64_t total);

/* Map a new store's region (len bytes of fd, read-write, shared) and place
 * it before anything in it is touched: the NUMA policy of o, then, on
 * hugetlbfs, populate it whole so that a shortage fails here and not as a
 * SIGBUS later.  0 with *out set, or SPL_ENOHUGE, SPL_ENODE, -errno (the
 * region is then unmapped). */
int spl__map_new(int fd, size_t len, const spl_options *o, void **out);

/* Fill spl_info's placement fields for the mapping base[0..len) of fd. */
void spl__place_info(int fd, void *base, size_t len, spl_info *out);

/* ---- numa.c (stubs without WITH_NUMA) ---- */

/* o->numa_mode is not DEFAULT: check it can be applied here. */
int spl__numa_check(const spl_options *o);
/* Apply o's policy to base[0..len) with mbind. */
int spl__numa_apply(void *base, size_t len, const spl_options *o);
/* Policy and pages per node of the mapping (page_bytes already set). */
void spl__numa_info(void *base, size_t len, spl_info *out);

#endif
