/*
 * baseline.h - the reference the benchmark compares splinter against: a
 * plain in-process open-addressing hash table.  Linear probing, power-of-two
 * capacity, entries stored inline (64-bit hash, key, value), memcpy in on
 * set and memcpy out on get.  No locking, no shared memory, no deletes: it is
 * the floor that a shared-memory store pays its concurrency protocol over.
 */
#ifndef SPL_BENCH_BASELINE_H
#define SPL_BENCH_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#define BL_KEY_MAX 32u

typedef struct bl_table {
    unsigned char *mem;  /* capacity entries of `stride` bytes */
    size_t stride;
    size_t val_max;
    uint64_t mask;       /* capacity - 1 */
    uint64_t used;
} bl_table;

/* Entry layout (inline, one allocation for the whole table). */
typedef struct bl_entry {
    uint64_t hash;       /* 0 = empty (real hashes have bit 0 set) */
    uint32_t key_len;
    uint32_t val_len;
    char key[BL_KEY_MAX];
    /* value bytes follow, val_max of them */
} bl_entry;

int bl_init(bl_table *t, size_t capacity_pow2, size_t val_max);
void bl_free(bl_table *t);
/* 0, or -1 when the key is too long / value too big / table full. */
int bl_set(bl_table *t, const char *key, const void *val, size_t len);
/* 0 and *len_out, or -2 (absent), or -105 (cap too small). */
int bl_get(bl_table *t, const char *key, void *buf, size_t cap, size_t *len_out);

#endif
