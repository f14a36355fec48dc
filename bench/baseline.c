/* baseline.c - see baseline.h. */
#include "baseline.h"
#include "internal.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define BL_VAL_OFF 56u

typedef struct bl_slot {
    _Atomic uint64_t epoch;
    _Atomic uint64_t hash;
    _Atomic uint64_t lens;           /* key_len | val_len << 32 */
    _Atomic uint64_t key[BL_KEY_MAX / 8];
    /* value lanes at BL_VAL_OFF */
} bl_slot;

_Static_assert(sizeof(bl_slot) == BL_VAL_OFF, "slot header");

/* The library's own hash (src/internal.h spl__hash, inline), so that the
 * baseline pays exactly the same hashing cost. */
#define bl_hash spl__hash

#define BL_SEED 0x2545f4914f6cdd1dull

/* ---- relaxed lane copies (as spl__copy_out / spl__copy_in) ------------- */
static inline _Atomic uint64_t *bl_lanes(bl_slot *s)
{
    return (_Atomic uint64_t *)(void *)((unsigned char *)s + BL_VAL_OFF);
}

static inline void bl_copy_out(void *dst, const _Atomic uint64_t *s, size_t n)
{
    unsigned char *d = dst;
    for (; n >= 32; n -= 32, d += 32, s += 4) {
        uint64_t w0 = atomic_load_explicit(s, memory_order_relaxed);
        uint64_t w1 = atomic_load_explicit(s + 1, memory_order_relaxed);
        uint64_t w2 = atomic_load_explicit(s + 2, memory_order_relaxed);
        uint64_t w3 = atomic_load_explicit(s + 3, memory_order_relaxed);
        memcpy(d, &w0, 8);
        memcpy(d + 8, &w1, 8);
        memcpy(d + 16, &w2, 8);
        memcpy(d + 24, &w3, 8);
    }
    for (; n >= 8; n -= 8, d += 8, s++) {
        uint64_t w = atomic_load_explicit(s, memory_order_relaxed);
        memcpy(d, &w, 8);
    }
    if (n) {
        uint64_t w = atomic_load_explicit(s, memory_order_relaxed);
        memcpy(d, &w, n);
    }
}

static inline void bl_copy_in(_Atomic uint64_t *w, const void *src, size_t n)
{
    const unsigned char *sp = src;
    for (; n >= 32; n -= 32, sp += 32, w += 4) {
        uint64_t v0, v1, v2, v3;
        memcpy(&v0, sp, 8);
        memcpy(&v1, sp + 8, 8);
        memcpy(&v2, sp + 16, 8);
        memcpy(&v3, sp + 24, 8);
        atomic_store_explicit(w, v0, memory_order_relaxed);
        atomic_store_explicit(w + 1, v1, memory_order_relaxed);
        atomic_store_explicit(w + 2, v2, memory_order_relaxed);
        atomic_store_explicit(w + 3, v3, memory_order_relaxed);
    }
    for (; n >= 8; n -= 8, sp += 8, w++) {
        uint64_t v;
        memcpy(&v, sp, 8);
        atomic_store_explicit(w, v, memory_order_relaxed);
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, sp, n);
        atomic_store_explicit(w, v, memory_order_relaxed);
    }
}

/* ---- table ------------------------------------------------------------- */
static inline bl_slot *bl_at(const bl_table *t, uint64_t i)
{
    return (bl_slot *)(void *)(t->mem + i * t->stride);
}

int bl_init(bl_table *t, size_t capacity_pow2, size_t val_max)
{
    memset(t, 0, sizeof *t);
    if (capacity_pow2 == 0 || (capacity_pow2 & (capacity_pow2 - 1)) != 0)
        return -1;
    t->val_max = val_max;
    t->stride = (BL_VAL_OFF + ((val_max + 7u) & ~(size_t)7u) + 63u) & ~(size_t)63u;
    t->mask = capacity_pow2 - 1;
    t->map_len = capacity_pow2 * t->stride;
    void *m = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    t->mem = m;
    bl_clear(t); /* writes every page: no page fault inside a measurement */
    return 0;
}

void bl_free(bl_table *t)
{
    if (t->mem)
        munmap(t->mem, t->map_len);
    t->mem = NULL;
}

void bl_clear(bl_table *t)
{
    memset(t->mem, 0, t->map_len);
}

/* The key as zero-padded lanes; its length, or 0 when empty/too long. */
static inline size_t bl_key_prep(const char *key, uint64_t kw[BL_KEY_MAX / 8])
{
    size_t klen = strlen(key);
    if (klen == 0 || klen > BL_KEY_MAX)
        return 0;
    memset(kw, 0, BL_KEY_MAX);
    memcpy(kw, key, klen);
    return klen;
}

/* Does the (published, immutable) key of slot s equal kw/klen? */
static inline int bl_key_eq(bl_slot *s, const uint64_t *kw, size_t klen)
{
    if ((uint32_t)atomic_load_explicit(&s->lens, memory_order_relaxed) != klen)
        return 0;
    for (size_t j = 0; j < (klen + 7) / 8; j++)
        if (atomic_load_explicit(&s->key[j], memory_order_relaxed) != kw[j])
            return 0;
    return 1;
}

int bl_set(bl_table *t, const char *key, const void *val, size_t len)
{
    uint64_t kw[BL_KEY_MAX / 8];
    size_t klen = bl_key_prep(key, kw);
    if (klen == 0 || len > t->val_max)
        return BL_EINVAL;
    uint64_t h = bl_hash(key, klen, BL_SEED) | 1u; /* 0 marks an empty slot */
    for (uint64_t i = h & t->mask, n = 0; n <= t->mask; i = (i + 1) & t->mask, n++) {
        bl_slot *s = bl_at(t, i);
        uint64_t e = atomic_load_explicit(&s->epoch, memory_order_acquire);
        uint64_t sh = atomic_load_explicit(&s->hash, memory_order_acquire);
        if (sh != 0 && (sh != h || !bl_key_eq(s, kw, klen)))
            continue; /* another key (keys never move): probe on */
        /* our key, or an empty slot to claim (as of epoch e) */
        if ((e & 1) || !atomic_compare_exchange_strong_explicit(
                           &s->epoch, &e, e + 1, memory_order_acquire, memory_order_relaxed))
            return BL_EAGAIN; /* a writer holds it, or took it since */
        atomic_thread_fence(memory_order_release); /* odd epoch before the data */
        if (sh == 0) {
            for (size_t j = 0; j < BL_KEY_MAX / 8; j++)
                atomic_store_explicit(&s->key[j], kw[j], memory_order_relaxed);
            atomic_store_explicit(&s->hash, h, memory_order_release); /* after the key */
        }
        bl_copy_in(bl_lanes(s), val, len);
        atomic_store_explicit(&s->lens, (uint64_t)klen | ((uint64_t)len << 32),
                              memory_order_relaxed);
        atomic_store_explicit(&s->epoch, e + 2, memory_order_release);
        return BL_OK;
    }
    return BL_EFULL;
}

int bl_get(bl_table *t, const char *key, void *buf, size_t cap, size_t *len_out)
{
    uint64_t kw[BL_KEY_MAX / 8];
    size_t klen = bl_key_prep(key, kw);
    if (klen == 0)
        return BL_ENOENT;
    uint64_t h = bl_hash(key, klen, BL_SEED) | 1u;
    for (uint64_t i = h & t->mask, n = 0; n <= t->mask; i = (i + 1) & t->mask, n++) {
        bl_slot *s = bl_at(t, i);
        uint64_t e = atomic_load_explicit(&s->epoch, memory_order_acquire);
        uint64_t sh = atomic_load_explicit(&s->hash, memory_order_acquire);
        if (sh == 0) {
            if (e & 1)
                return BL_EAGAIN; /* maybe our key, being inserted */
            return BL_ENOENT;
        }
        if (sh != h || !bl_key_eq(s, kw, klen))
            continue;
        if (e & 1)
            return BL_EAGAIN;
        size_t vlen = (size_t)(atomic_load_explicit(&s->lens, memory_order_relaxed) >> 32);
        if (vlen > cap) {
            *len_out = vlen;
            return BL_ERANGE;
        }
        bl_copy_out(buf, bl_lanes(s), vlen <= t->val_max ? vlen : t->val_max);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->epoch, memory_order_relaxed) != e)
            return BL_EAGAIN;
        *len_out = vlen;
        return BL_OK;
    }
    return BL_ENOENT;
}
