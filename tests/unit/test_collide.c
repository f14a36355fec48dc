/*
 * test_collide.c - two keys whose index words share a home and a
 * fingerprint.  spl_set's and spl_get's one-pass paths take the first word
 * that matches the key's fingerprint; when it is the other key's, they must
 * see the key differ and fall back to the general lookup, which goes on to
 * the right word.  Keys are searched for with the library's own hash and
 * the store's seed, so the collision is certain, not left to chance.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "splinter.h"
#include "internal.h" /* spl__hash and the index word's fields */
#include "unit_common.h"

struct raw {
    void *map;
    size_t bytes;
    const struct spl_header *h;
};

static struct raw raw_map(spl_store *s)
{
    struct raw r;
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    r.bytes = (size_t)inf.region_bytes;
    r.map = mmap(NULL, r.bytes, PROT_READ, MAP_SHARED, spl_fd(s), 0);
    assert_true(r.map != MAP_FAILED);
    r.h = r.map;
    assert_int_equal(r.h->magic, SPL_MAGIC);
    return r;
}

static uint64_t raw_word(const struct raw *r, uint32_t p)
{
    const uint64_t *ix = (const uint64_t *)(const void *)((const char *)r->map + r->h->index_off);
    return __atomic_load_n(&ix[p], __ATOMIC_SEQ_CST);
}

/* Two keys "kN" with the same home word and fingerprint under r's seed
 * (21 bits at 64 slots: a pair among a few thousand keys). */
static void find_pair(const struct raw *r, char *a, char *b, uint32_t *home)
{
    enum { N = 1u << 18, T = 2u * N };
    const uint64_t imask = r->h->index_words - 1;
    uint64_t *tags = calloc(N, sizeof *tags);
    uint32_t *table = calloc(T, sizeof *table); /* tag -> key number; 0 = empty */
    assert_true(tags && table);
    for (uint32_t n = 1; n < N; n++) {
        char k[16];
        int len = snprintf(k, sizeof k, "k%u", n);
        uint64_t h = spl__hash(k, (size_t)len, r->h->hash_seed);
        tags[n] = spl_ix_fp(h) | (h & imask);
        for (uint64_t q = (tags[n] * 0x9e3779b97f4a7c15ull) >> 45;; q = (q + 1) & (T - 1)) {
            if (!table[q]) {
                table[q] = n;
                break;
            }
            if (tags[table[q]] == tags[n]) {
                snprintf(a, 16, "k%u", table[q]);
                strcpy(b, k);
                *home = (uint32_t)(h & imask);
                free(tags);
                free(table);
                return;
            }
        }
    }
    free(tags);
    free(table);
    fail_msg("no two keys of %u share a home and a fingerprint", (unsigned)N);
}

static void check(spl_store *s, const char *key, const char *want)
{
    char buf[32];
    size_t len = 0;
    CHECK_RC(spl_get(s, key, buf, sizeof buf, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
}

static void test_same_home_and_fingerprint(void **state)
{
    (void)state;
    spl_store *s = mk(64, 16, 32);
    struct raw r = raw_map(s);
    char a[16], b[16];
    uint32_t home = 0;
    find_pair(&r, a, b, &home);
    uint32_t next = (home + 1) & (r.h->index_words - 1);

    CHECK_RC(spl_set(s, a, "a1", 2), 0);
    CHECK_RC(spl_set(s, b, "b1", 2), 0);
    spl_meta ma, mb;
    CHECK_RC(spl_meta_get(s, a, &ma), 0);
    CHECK_RC(spl_meta_get(s, b, &mb), 0);
    /* a's word at home, b's right after it, both with one fingerprint */
    uint64_t wa = raw_word(&r, home), wb = raw_word(&r, next);
    assert_int_equal(spl_ix_slot(wa), ma.slot);
    assert_int_equal(spl_ix_slot(wb), mb.slot);
    assert_true((wa & SPL_IX_KEY_MASK) == (wb & SPL_IX_KEY_MASK));

    /* b's first matching word is a's: the overwrite and the get must not
     * take a's slot for b's */
    CHECK_RC(spl_set(s, b, "b2", 2), 0);
    check(s, b, "b2");
    check(s, a, "a1");
    CHECK_RC(spl_set(s, a, "a2", 2), 0);
    check(s, a, "a2");
    check(s, b, "b2");

    /* a gone: b is found one word off home, by both paths */
    CHECK_RC(spl_unset(s, a), 0);
    CHECK_RC(spl_get(s, a, NULL, 0, NULL), SPL_ENOENT);
    CHECK_RC(spl_set(s, b, "b3", 2), 0);
    check(s, b, "b3");

    /* a again: its first matching word is now b's; a is absent, so it is
     * inserted (at home), never written over b */
    CHECK_RC(spl_set(s, a, "a3", 2), 0);
    check(s, a, "a3");
    check(s, b, "b3");
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.used, 2);
    CHECK_RC(spl_meta_get(s, a, &ma), 0);
    assert_int_equal(spl_ix_slot(raw_word(&r, home)), ma.slot); /* a took the free home word */
    assert_int_equal(spl_ix_slot(raw_word(&r, next)), mb.slot); /* b's word unchanged */

    munmap(r.map, r.bytes);
    spl_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_home_and_fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
