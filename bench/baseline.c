/* baseline.c - see baseline.h. */
#include "baseline.h"

#include <stdlib.h>
#include <string.h>

/* A simple, fast 64-bit string hash: 8 bytes per multiply-xorshift step. */
static inline uint64_t bl_hash(const char *k, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, k, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        k += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, k, n);
        h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    }
    h ^= h >> 29;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 32;
    return h | 1u; /* never 0: 0 marks an empty entry */
}

static inline bl_entry *bl_at(const bl_table *t, uint64_t i)
{
    return (bl_entry *)(void *)(t->mem + i * t->stride);
}

int bl_init(bl_table *t, size_t capacity_pow2, size_t val_max)
{
    if (capacity_pow2 == 0 || (capacity_pow2 & (capacity_pow2 - 1)) != 0)
        return -1;
    t->val_max = val_max;
    t->stride = (sizeof(bl_entry) + val_max + 7u) & ~(size_t)7u;
    t->mask = capacity_pow2 - 1;
    t->used = 0;
    t->mem = calloc(capacity_pow2, t->stride);
    return t->mem ? 0 : -1;
}

void bl_free(bl_table *t)
{
    free(t->mem);
    t->mem = NULL;
}

int bl_set(bl_table *t, const char *key, const void *val, size_t len)
{
    size_t klen = strlen(key);
    if (klen == 0 || klen > BL_KEY_MAX || len > t->val_max)
        return -1;
    uint64_t h = bl_hash(key, klen);
    for (uint64_t i = h & t->mask, n = 0; n <= t->mask; i = (i + 1) & t->mask, n++) {
        bl_entry *e = bl_at(t, i);
        if (e->hash == 0) {
            if ((t->used + 1) * 10 > (t->mask + 1) * 9)
                return -1; /* keep it a sane load factor */
            e->hash = h;
            e->key_len = (uint32_t)klen;
            memcpy(e->key, key, klen);
            t->used++;
        } else if (e->hash != h || e->key_len != klen || memcmp(e->key, key, klen) != 0) {
            continue;
        }
        memcpy((unsigned char *)(e + 1), val, len);
        e->val_len = (uint32_t)len;
        return 0;
    }
    return -1;
}

int bl_get(bl_table *t, const char *key, void *buf, size_t cap, size_t *len_out)
{
    size_t klen = strlen(key);
    if (klen == 0 || klen > BL_KEY_MAX)
        return -2;
    uint64_t h = bl_hash(key, klen);
    for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const bl_entry *e = bl_at(t, i);
        if (e->hash == 0)
            return -2;
        if (e->hash == h && e->key_len == klen && memcmp(e->key, key, klen) == 0) {
            *len_out = e->val_len;
            if (e->val_len > cap)
                return -105;
            memcpy(buf, (const unsigned char *)(e + 1), e->val_len);
            return 0;
        }
    }
}
