/*
 * entry.c - the mirror's bucket entry format and key names (entry.h).
 */
#include "entry.h"

#include <string.h>

static void st32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void st64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t ld32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static uint64_t ld64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

size_t splm_entry_size(uint32_t val_len, uint32_t vec_dim)
{
    return SPLM_HDR_BYTES + 4u * (size_t)vec_dim + val_len;
}

void splm_entry_encode(const splm_entry *e, void *out)
{
    uint8_t *p = out;
    uint32_t dim = (e->flags & SPLM_VEC_PRESENT) ? e->vec_dim : 0;
    memcpy(p, SPLM_MAGIC, 4);
    p[4] = SPLM_VERSION;
    p[5] = e->flags;
    p[6] = e->type;
    p[7] = e->uflags;
    st64(p + 8, e->origin);
    st64(p + 16, e->epoch);
    st64(p + 24, e->labels);
    st32(p + 32, e->val_len);
    st32(p + 36, dim);
    const float *v = e->vec;
    for (uint32_t i = 0; i < dim; i++) {
        uint32_t b;
        memcpy(&b, &v[i], 4);
        st32(p + SPLM_HDR_BYTES + 4 * (size_t)i, b);
    }
    if (e->val_len)
        memcpy(p + SPLM_HDR_BYTES + 4 * (size_t)dim, e->val, e->val_len);
}

int splm_entry_decode(const void *buf, size_t len, splm_entry *e)
{
    const uint8_t *p = buf;
    if (!p || len < SPLM_HDR_BYTES || memcmp(p, SPLM_MAGIC, 4) != 0 || p[4] != SPLM_VERSION)
        return -1;
    e->flags = p[5];
    e->type = p[6];
    e->uflags = p[7];
    e->origin = ld64(p + 8);
    e->epoch = ld64(p + 16);
    e->labels = ld64(p + 24);
    e->val_len = ld32(p + 32);
    e->vec_dim = ld32(p + 36);
    if (e->flags & ~(SPLM_VEC_CARRIED | SPLM_VEC_PRESENT))
        return -1;
    if ((e->flags & SPLM_VEC_PRESENT) && !(e->flags & SPLM_VEC_CARRIED))
        return -1;
    if (!(e->flags & SPLM_VEC_PRESENT) != !e->vec_dim)
        return -1;
    /* sizes are 32-bit: no overflow in 64-bit size_t arithmetic */
    if (len != splm_entry_size(e->val_len, e->vec_dim))
        return -1;
    e->vec = p + SPLM_HDR_BYTES;
    e->val = p + SPLM_HDR_BYTES + 4 * (size_t)e->vec_dim;
    return 0;
}

float splm_entry_vec(const splm_entry *e, uint32_t i)
{
    uint32_t b = ld32((const uint8_t *)e->vec + 4 * (size_t)i);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static int key_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '/';
}

size_t splm_key_encode(const char *key, size_t klen, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < klen; i++) {
        unsigned char c = (unsigned char)key[i];
        /* a dot is a subject token separator: never first, last or doubled */
        int dot_ok = c == '.' && i > 0 && i + 1 < klen && key[i - 1] != '.' && key[i + 1] != '.';
        if (key_plain(c) || dot_ok) {
            out[n++] = (char)c;
        } else {
            out[n++] = '=';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = 0;
    return n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int splm_key_decode(const char *bkey, char *out, size_t cap, size_t *klen)
{
    size_t n = 0, blen = strlen(bkey);
    if (!blen)
        return -1;
    for (size_t i = 0; i < blen; i++) {
        char c = bkey[i];
        int v;
        if (c == '=') {
            int hi = i + 2 < blen ? hexval(bkey[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(bkey[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            v = hi * 16 + lo;
            i += 2;
        } else if (key_plain((unsigned char)c) || c == '.') {
            v = (unsigned char)c;
        } else {
            return -1;
        }
        if (v == 0 || n + 1 >= cap)
            return -1;
        out[n++] = (char)v;
    }
    out[n] = 0;
    /* only the canonical spelling names a key: one store key, one bucket key */
    char again[3 * 4096 + 1];
    if (n > 4096 || splm_key_encode(out, n, again) != blen || memcmp(again, bkey, blen) != 0)
        return -1;
    *klen = n;
    return 0;
}

uint64_t splm_hash_u64(uint64_t h, uint64_t v)
{
    h ^= v;
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

uint64_t splm_hash(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    h = splm_hash_u64(h, n);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = splm_hash_u64(h, w);
        b += 8;
        n -= 8;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t |= (uint64_t)b[i] << (8 * i);
    h = splm_hash_u64(h, t);
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

uint64_t splm_kv_hash(uint8_t type, uint8_t uflags, uint64_t labels, const void *val, uint32_t len)
{
    uint64_t h = splm_hash_u64(0x5350494c, ((uint64_t)type << 8) | uflags);
    h = splm_hash_u64(h, labels);
    return splm_hash(h, val, len);
}

uint64_t splm_vec_hash(const float *vec, uint32_t dim)
{
    if (!vec || !dim)
        return 0;
    uint64_t h = splm_hash(0x564543, vec, 4 * (size_t)dim);
    return h ? h : 1;
}
