/*
 * entry.h - the mirror's bucket entry format and key names (mirror/README.md).
 *
 * Pure functions: no NATS, no store.  Shared by the mirror, its CLI, the
 * bench and the tests (tests/mirror).
 *
 * Entry (little-endian, one KV value; deletes are KV delete markers):
 *
 *   0   magic    4 B  "SPM1"
 *   4   version  u8   1
 *   5   flags    u8   bit0 VEC_CARRIED (the entry says whether the key has
 *                     a vector), bit1 VEC_PRESENT (and here it is); others 0
 *   6   type     u8   spl_type
 *   7   uflags   u8   user flags
 *   8   origin   u64  store_id of the store that published it
 *   16  epoch    u64  the key's epoch there when it was read
 *   24  labels   u64
 *   32  val_len  u32
 *   36  vec_dim  u32  0 unless VEC_PRESENT
 *   40  vector   vec_dim x f32
 *   ..  value    val_len bytes
 *
 * The length is exactly 40 + 4 vec_dim + val_len.
 */
#ifndef SPL_MIRROR_ENTRY_H
#define SPL_MIRROR_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#define SPLM_MAGIC       "SPM1"
#define SPLM_VERSION     1u
#define SPLM_HDR_BYTES   40u
#define SPLM_VEC_CARRIED 0x1u
#define SPLM_VEC_PRESENT 0x2u

/* Keys under this prefix belong to the mirror (its resume point) and are
 * never published nor applied. */
#define SPLM_RESERVED "__mirror."

typedef struct splm_entry {
    uint8_t flags, type, uflags;
    uint64_t origin, epoch, labels;
    uint32_t val_len, vec_dim;
    const void *val;   /* into the decoded buffer */
    const void *vec;   /* vec_dim little-endian f32, into the buffer (unaligned) */
} splm_entry;

/* Bytes an entry with these sizes takes. */
size_t splm_entry_size(uint32_t val_len, uint32_t vec_dim);

/* Encode into out (splm_entry_size bytes); e->val and e->vec (host floats)
 * are read from the caller's memory. */
void splm_entry_encode(const splm_entry *e, void *out);

/* Decode buf[len]; 0 or -1 (not an entry of this format). */
int splm_entry_decode(const void *buf, size_t len, splm_entry *e);

/* Vector element i of a decoded entry as a host float. */
float splm_entry_vec(const splm_entry *e, uint32_t i);

/* Bucket key from a store key: bytes [A-Za-z0-9_/-] as they are, '.'
 * between two other bytes as it is, everything else as "=HH".  Returns the
 * encoded length (out must hold 3 * klen + 1), NUL-terminated. */
size_t splm_key_encode(const char *key, size_t klen, char *out);

/* Store key from a bucket key: 0, or -1 when the bucket key is not the
 * canonical encoding of a store key (foreign, NUL, too long for cap). */
int splm_key_decode(const char *bkey, char *out, size_t cap, size_t *klen);

/* 64-bit content hash helpers (not cryptographic). */
uint64_t splm_hash(uint64_t h, const void *p, size_t n);
uint64_t splm_hash_u64(uint64_t h, uint64_t v);

/* Content hash of what a key holds, as the entry says it: type, flags,
 * labels, value (the vector is hashed apart: splm_vec_hash). */
uint64_t splm_kv_hash(uint8_t type, uint8_t uflags, uint64_t labels, const void *val, uint32_t len);
/* Vector part: 0 = no vector, else a hash of the host floats. */
uint64_t splm_vec_hash(const float *vec, uint32_t dim);

#endif
