/*
 * atomic.h - the only way this code touches shared memory concurrently.
 * C11 <stdatomic.h> behind names that carry the memory order.  Shared
 * structures are plain fixed-width fields (layout.h); these helpers access
 * them as atomics, so every concurrent access is an atomic one (TSan-clean,
 * no volatile).  Each acquire/release names its pair at the call site.
 */
#ifndef SPL_ATOMIC_H
#define SPL_ATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

#define SPL__A64(p) ((_Atomic uint64_t *)(void *)(p))
#define SPL__A32(p) ((_Atomic uint32_t *)(void *)(p))
#define SPL__A8(p)  ((_Atomic uint8_t *)(void *)(p))

static inline uint64_t spl_load_relaxed(const uint64_t *p) { return atomic_load_explicit(SPL__A64(p), memory_order_relaxed); }
static inline uint64_t spl_load_acquire(const uint64_t *p) { return atomic_load_explicit(SPL__A64(p), memory_order_acquire); }
static inline uint64_t spl_load_seqcst(const uint64_t *p) { return atomic_load_explicit(SPL__A64(p), memory_order_seq_cst); }
static inline void spl_store_relaxed(uint64_t *p, uint64_t v) { atomic_store_explicit(SPL__A64(p), v, memory_order_relaxed); }
static inline void spl_store_release(uint64_t *p, uint64_t v) { atomic_store_explicit(SPL__A64(p), v, memory_order_release); }
static inline uint64_t spl_fetch_add_relaxed(uint64_t *p, uint64_t v) { return atomic_fetch_add_explicit(SPL__A64(p), v, memory_order_relaxed); }
static inline uint64_t spl_fetch_add_seqcst(uint64_t *p, uint64_t v) { return atomic_fetch_add_explicit(SPL__A64(p), v, memory_order_seq_cst); }
static inline uint64_t spl_fetch_sub_seqcst(uint64_t *p, uint64_t v) { return atomic_fetch_sub_explicit(SPL__A64(p), v, memory_order_seq_cst); }
static inline uint64_t spl_fetch_sub_relaxed(uint64_t *p, uint64_t v) { return atomic_fetch_sub_explicit(SPL__A64(p), v, memory_order_relaxed); }
/* CAS with acquire on success (lock acquisition), relaxed on failure. */
static inline int spl_cas_acquire(uint64_t *p, uint64_t *expected, uint64_t desired)
{
    return atomic_compare_exchange_strong_explicit(SPL__A64(p), expected, desired,
                                                   memory_order_acquire, memory_order_relaxed);
}
static inline int spl_cas_seqcst(uint64_t *p, uint64_t *expected, uint64_t desired)
{
    return atomic_compare_exchange_strong_explicit(SPL__A64(p), expected, desired,
                                                   memory_order_seq_cst, memory_order_seq_cst);
}
static inline uint32_t spl_load32_relaxed(const uint32_t *p) { return atomic_load_explicit(SPL__A32(p), memory_order_relaxed); }
static inline void spl_store32_relaxed(uint32_t *p, uint32_t v) { atomic_store_explicit(SPL__A32(p), v, memory_order_relaxed); }
static inline uint32_t spl_load32_acquire(const uint32_t *p) { return atomic_load_explicit(SPL__A32(p), memory_order_acquire); }
static inline void spl_store32_release(uint32_t *p, uint32_t v) { atomic_store_explicit(SPL__A32(p), v, memory_order_release); }
static inline uint32_t spl_load32_seqcst(const uint32_t *p) { return atomic_load_explicit(SPL__A32(p), memory_order_seq_cst); }
static inline uint32_t spl_fetch_add32_seqcst(uint32_t *p, uint32_t v) { return atomic_fetch_add_explicit(SPL__A32(p), v, memory_order_seq_cst); }
static inline uint32_t spl_fetch_sub32_seqcst(uint32_t *p, uint32_t v) { return atomic_fetch_sub_explicit(SPL__A32(p), v, memory_order_seq_cst); }
#define SPL__A16(p) ((_Atomic uint16_t *)(void *)(p))
static inline uint16_t spl_load16_relaxed(const uint16_t *p) { return atomic_load_explicit(SPL__A16(p), memory_order_relaxed); }
static inline void spl_store16_relaxed(uint16_t *p, uint16_t v) { atomic_store_explicit(SPL__A16(p), v, memory_order_relaxed); }
static inline uint8_t spl_load8_relaxed(const uint8_t *p) { return atomic_load_explicit(SPL__A8(p), memory_order_relaxed); }
static inline void spl_store8_relaxed(uint8_t *p, uint8_t v) { atomic_store_explicit(SPL__A8(p), v, memory_order_relaxed); }

static inline void spl_fence_acquire(void) { atomic_thread_fence(memory_order_acquire); }
static inline void spl_fence_release(void) { atomic_thread_fence(memory_order_release); }
static inline void spl_fence_seqcst(void) { atomic_thread_fence(memory_order_seq_cst); }

static inline void spl_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif /* SPL_ATOMIC_H */
