/*
 * baseline.h - the reference the benchmark compares splinter against: a
 * plain open-addressing seqlock hash table in shared memory.
 *
 * One MAP_SHARED | MAP_ANONYMOUS mapping (shmem, like a MEMFD store), so a
 * table made before fork() is shared by the children.  Power-of-two
 * capacity, linear probing, everything inline in 64-byte-aligned slots of
 * a multiple of 64 bytes:
 *
 *   0   epoch    64-bit seqlock: even = stable, odd = a writer holds the slot
 *   8   hash     0 = empty; set once, with the key, never cleared
 *   16  key_len, val_len (32-bit each)
 *   24  key      BL_KEY_MAX bytes
 *   56  value    val_max bytes, then padding to a multiple of 64
 *
 * (64-byte values: 128-byte slots; 128-byte values: 192-byte slots.)  The
 * hash is the library's (spl__hash, copied), so hashing costs the same.
 * Writers take a slot with a CAS of its epoch even -> odd and release it
 * with a store of odd + 1; readers load the epoch, copy, and re-check it.
 * Shared bytes move as relaxed 8-byte atomics, as in the library.  There
 * are no deletes (bl_clear empties the whole table, single-threaded), so a
 * key, once in a slot, stays there: a reader needs the seqlock only for
 * the value.  Contention is reported, not hidden: BL_EAGAIN when a writer
 * holds the slot (or moved it under a reader), which the caller retries.
 */
#ifndef SPL_BENCH_BASELINE_H
#define SPL_BENCH_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#define BL_KEY_MAX 32u

#define BL_OK      0
#define BL_ENOENT  (-2)
#define BL_EAGAIN  (-11)
#define BL_EFULL   (-28)   /* no free slot on the probe path */
#define BL_EINVAL  (-22)   /* key empty/too long, value too big */
#define BL_ERANGE  (-105)  /* value larger than the caller's buffer */

typedef struct bl_table {
    unsigned char *mem; /* capacity slots of `stride` bytes, 64-aligned */
    size_t map_len;
    size_t stride;
    size_t val_max;
    uint64_t mask;      /* capacity - 1 */
} bl_table;

/* 0, or -1 (capacity not a power of two, or mmap failed).  The mapping is
 * written through once so that no measured operation takes a page fault. */
int bl_init(bl_table *t, size_t capacity_pow2, size_t val_max);
void bl_free(bl_table *t);
/* Empty the table (no concurrent users). */
void bl_clear(bl_table *t);
/* Insert or overwrite: BL_OK, BL_EAGAIN, BL_EFULL, BL_EINVAL. */
int bl_set(bl_table *t, const char *key, const void *val, size_t len);
/* BL_OK and *len_out, BL_ENOENT, BL_EAGAIN, BL_ERANGE (*len_out set). */
int bl_get(bl_table *t, const char *key, void *buf, size_t cap, size_t *len_out);

#endif
