/*
 * c_loop.h - the workload and the C baseline of the bindings' benchmark,
 * one definition for every language's bench (Node's addon and Go's
 * splbench include it; Python loads it as build/bench/libsplbench.so; the
 * C program c_kv.c runs it; Rust's bench mirrors it over splinter::sys).
 *
 * The workload (bench/bindings/README.md):
 *   - a memfd store of splb_slots(keys) slots (a power of two >= 2.5 x
 *     keys), key_max 32, val_max 64, no vectors;
 *   - keys "key:%08u" for i < keys (12 bytes), each holding a 64-byte value;
 *   - "hot": 8 keys in turn (i & 7) * (keys / 8), as bench/ does;
 *   - "random": xorshift32 from SPLB_SEED, index x % keys;
 *   - rounds of --ops operations, C and the binding alternating; the figure
 *     is the fastest round, the median beside it.
 *
 * The C baseline, two ways (what each means):
 *   - pipelined: the loop a C program writes, one spl_get / spl_set call
 *     per operation (a real call into the library, never inlined), its
 *     result consumed.  The next call's key does not wait on this call's
 *     result, so an out-of-order CPU starts the next lookup's cache misses
 *     while this one's are outstanding: on random keys this is throughput,
 *     not the latency of one isolated get.
 *   - dependent: the same calls, but the next key's index takes a data
 *     dependency on the value bytes this get copied out (a mask that is 0
 *     at run time, unknown to the compiler), so no two gets overlap: the
 *     latency of one get, cache misses included.  A binding's get sits
 *     between these two: its own work between two gets (a hundred or more
 *     instructions, a call boundary) leaves little room for overlap.  For
 *     set the dependency is on the return code; a set's locked CAS already
 *     orders it after the previous set on x86.
 */
#ifndef SPL_BENCH_C_LOOP_H
#define SPL_BENCH_C_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "splinter.h"

#define SPLB_KEY_STRIDE 16 /* names[i * 16]: "key:%08u", NUL-padded */
#define SPLB_VAL_LEN 64
#define SPLB_SEED 0x9e3779b9u

static inline uint32_t splb_slots(uint32_t keys)
{
    uint32_t s = 1;
    while ((double)s < (double)keys * 2.5)
        s <<= 1;
    return s;
}

/* names: keys * SPLB_KEY_STRIDE bytes. */
static inline void splb_names(char *names, uint32_t keys)
{
    for (uint32_t i = 0; i < keys; i++)
        snprintf(names + (size_t)i * SPLB_KEY_STRIDE, SPLB_KEY_STRIDE, "key:%08u", i);
}

/* order[n]: the key indexes, hot (random 0) or random (1). */
static inline void splb_order(uint32_t *order, size_t n, uint32_t keys, int random)
{
    uint32_t x = SPLB_SEED;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        order[i] = random ? x % keys : (uint32_t)(i & 7) * (keys / 8);
    }
}

static inline uint64_t splb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* n operations (op 0: spl_get into a 64-byte buffer; 1: spl_set of
 * val/len; 2: spl_view_get, the value's first byte read, spl_view_valid)
 * over names[order[i]], pipelined (dependent 0) or dependent (1).
 * Returns the elapsed ns, or 0 if a call failed. */
static uint64_t splb_loop(spl_store *s, const char *names, const uint32_t *order, size_t n, int op,
                          int dependent, const void *val, size_t len)
{
    char buf[SPLB_VAL_LEN] = {0};
    size_t got = 0;
    int bad = 0;
    volatile uint32_t zero = 0;
    uint32_t mask = zero, carry = 0; /* mask is 0, but the compiler cannot know */
    uint64_t t0 = splb_now_ns();
    if (op == 2) {
        for (size_t i = 0; i < n; i++) {
            spl_view v;
            int rc = spl_view_get(s, names + (size_t)(order[i] + carry) * SPLB_KEY_STRIDE, &v);
            if (rc == 0) {
                uint8_t b = v.len ? *(const volatile uint8_t *)v.data : 0;
                rc = spl_view_valid(s, &v);
                carry = dependent ? (uint32_t)b & mask : 0; /* waits for the byte read */
            }
            bad |= rc;
        }
    } else if (op == 0 && !dependent) {
        for (size_t i = 0; i < n; i++)
            bad |= spl_get(s, names + (size_t)order[i] * SPLB_KEY_STRIDE, buf, sizeof buf, &got);
    } else if (op == 0) {
        for (size_t i = 0; i < n; i++) {
            bad |= spl_get(s, names + (size_t)(order[i] + carry) * SPLB_KEY_STRIDE, buf, sizeof buf, &got);
            carry = (uint8_t)buf[0] & mask; /* waits for the value this get copied */
        }
    } else if (!dependent) {
        for (size_t i = 0; i < n; i++)
            bad |= spl_set(s, names + (size_t)order[i] * SPLB_KEY_STRIDE, val, len);
    } else {
        for (size_t i = 0; i < n; i++) {
            int rc = spl_set(s, names + (size_t)(order[i] + carry) * SPLB_KEY_STRIDE, val, len);
            bad |= rc;
            carry = (uint32_t)rc & mask;
        }
    }
    uint64_t t1 = splb_now_ns();
    return bad < 0 ? 0 : t1 - t0;
}

/* The floor of a binding's call: a C function that does nothing, with a
 * get's arguments (store, key, buffer, capacity, length out).  Each
 * binding calls it the way its get calls spl_get. */
__attribute__((noinline, unused)) static int splb_noop(spl_store *s, const char *key, void *buf, size_t cap,
                                                       size_t *len)
{
    (void)s;
    (void)key;
    (void)buf;
    (void)cap;
    (void)len;
    __asm__ __volatile__("" ::: "memory");
    return 0;
}

#endif
