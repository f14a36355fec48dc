/*
 * test_kv.c - set / get / unset / exists / append / cas, both sides of every
 * limit, epochs, a full store, and randomized insert/delete runs checked
 * against an in-test model.
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
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "splinter.h"
#include "layout.h" /* to play a writer stuck inside a slot */
#include "unit_common.h"

/* ---------------------------------------------------------------- helpers */

#define KEY_MAX 16u
#define VAL_MAX 100u /* deliberately not a multiple of 8 */

static int setup_store(void **state)
{
    *state = mk(64, KEY_MAX, VAL_MAX);
    return 0;
}

static void check_value(spl_store *s, const char *key, const void *want, size_t wlen)
{
    unsigned char buf[VAL_MAX + 64];
    size_t len = 12345;
    CHECK_RC(spl_get(s, key, buf, sizeof buf, &len), 0);
    assert_int_equal(len, wlen);
    if (wlen)
        assert_memory_equal(buf, want, wlen);
}

static uint64_t epoch_of(spl_store *s, const char *key)
{
    spl_meta m;
    CHECK_RC(spl_meta_get(s, key, &m), 0);
    assert_int_equal(m.epoch & 1, 0);
    return m.epoch;
}

static uint64_t used_of(spl_store *s)
{
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    return inf.used;
}

static uint64_t rng_next(uint64_t *x)
{
    /* splitmix64 */
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---------------------------------------------------------------- basics */

static void test_set_get_basic(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_exists(s, "alpha"), 0);
    CHECK_RC(spl_set(s, "alpha", "hello", 5), 0);
    check_value(s, "alpha", "hello", 5);
    CHECK_RC(spl_exists(s, "alpha"), 1);
    CHECK_RC(spl_exists(s, "alph"), 0);
    CHECK_RC(spl_exists(s, "alphab"), 0);
    char buf[8];
    size_t len = 99;
    CHECK_RC(spl_get(s, "beta", buf, sizeof buf, &len), SPL_ENOENT);
    /* Prefix-related keys are distinct keys. */
    CHECK_RC(spl_set(s, "alph", "x", 1), 0);
    CHECK_RC(spl_set(s, "alphab", "yy", 2), 0);
    check_value(s, "alpha", "hello", 5);
    check_value(s, "alph", "x", 1);
    check_value(s, "alphab", "yy", 2);
    /* Binary values with NULs survive. */
    static const unsigned char bin[] = {0, 1, 0, 255, 0, 7};
    CHECK_RC(spl_set(s, "bin", bin, sizeof bin), 0);
    check_value(s, "bin", bin, sizeof bin);
    /* Shrinking overwrite. */
    CHECK_RC(spl_set(s, "alpha", "abcdefghijklmnop", 16), 0);
    CHECK_RC(spl_set(s, "alpha", "xy", 2), 0);
    check_value(s, "alpha", "xy", 2);
    CHECK_RC(spl_unset(s, "alpha"), 0);
    CHECK_RC(spl_exists(s, "alpha"), 0);
    CHECK_RC(spl_get(s, "alpha", buf, sizeof buf, &len), SPL_ENOENT);
    CHECK_RC(spl_unset(s, "alpha"), SPL_ENOENT);
    assert_int_equal(used_of(s), 3);
}

static void test_size_query_and_enobufs(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_set(s, "k", "0123456789", 10), 0);
    size_t len = 0;
    CHECK_RC(spl_get(s, "k", NULL, 0, &len), 0);
    assert_int_equal(len, 10);
    char buf[16];
    memset(buf, '#', sizeof buf);
    len = 0;
    CHECK_RC(spl_get(s, "k", buf, 9, &len), SPL_ENOBUFS);
    assert_int_equal(len, 10);
    assert_int_equal(buf[9], '#'); /* nothing written past cap */
    len = 0;
    CHECK_RC(spl_get(s, "k", buf, 1, &len), SPL_ENOBUFS);
    assert_int_equal(len, 10);
    len = 0;
    CHECK_RC(spl_get(s, "k", buf, 10, &len), 0);
    assert_int_equal(len, 10);
    assert_memory_equal(buf, "0123456789", 10);
    assert_int_equal(buf[10], '#');
    /* Size query on an empty value. */
    CHECK_RC(spl_set(s, "e", "", 0), 0);
    len = 77;
    CHECK_RC(spl_get(s, "e", NULL, 0, &len), 0);
    assert_int_equal(len, 0);
    /* Size query on a missing key. */
    CHECK_RC(spl_get(s, "none", NULL, 0, &len), SPL_ENOENT);
}

static void test_overwrite_keeps_type_flags_labels(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_set(s, "k", "first", 5), 0);
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "k", &m), 0);
    assert_int_equal(m.type, SPL_T_VOID); /* a new key is VOID */
    CHECK_RC(spl_type_set(s, "k", SPL_T_TEXT), 0);
    CHECK_RC(spl_labels_set(s, "k", 0x8000000000000011ull), 0);
    CHECK_RC(spl_flags_set(s, "k", 0x5a), 0);
    CHECK_RC(spl_set(s, "k", "second value", 12), 0);
    CHECK_RC(spl_meta_get(s, "k", &m), 0);
    assert_int_equal(m.type, SPL_T_TEXT);
    assert_int_equal(m.labels, 0x8000000000000011ull);
    assert_int_equal(m.user_flags, 0x5a);
    assert_int_equal(m.val_len, 12);
    check_value(s, "k", "second value", 12);
    CHECK_RC(spl_append(s, "k", "!", 1), 0);
    CHECK_RC(spl_meta_get(s, "k", &m), 0);
    assert_int_equal(m.type, SPL_T_TEXT);
    assert_int_equal(m.labels, 0x8000000000000011ull);
    assert_int_equal(m.user_flags, 0x5a);
    /* After unset, a re-created key starts fresh. */
    CHECK_RC(spl_unset(s, "k"), 0);
    CHECK_RC(spl_set(s, "k", "third", 5), 0);
    CHECK_RC(spl_meta_get(s, "k", &m), 0);
    assert_int_equal(m.type, SPL_T_VOID);
    assert_int_equal(m.labels, 0);
    assert_int_equal(m.user_flags, 0);
}

static void test_empty_value(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_set(s, "empty", "", 0), 0);
    CHECK_RC(spl_exists(s, "empty"), 1);
    check_value(s, "empty", "", 0);
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "empty", &m), 0);
    assert_int_equal(m.val_len, 0);
    CHECK_RC(spl_set(s, "empty2", NULL, 0), 0);
    check_value(s, "empty2", "", 0);
    /* Overwrite a non-empty value with an empty one. */
    CHECK_RC(spl_set(s, "k", "abc", 3), 0);
    CHECK_RC(spl_set(s, "k", "", 0), 0);
    check_value(s, "k", "", 0);
    assert_int_equal(used_of(s), 3);
}

static void test_value_size_limits(void **state)
{
    spl_store *s = *state;
    unsigned char big[VAL_MAX + 8];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + 3);
    CHECK_RC(spl_set(s, "v", big, VAL_MAX), 0); /* exactly val_max */
    check_value(s, "v", big, VAL_MAX);
    uint64_t e = epoch_of(s, "v");
    unsigned char other[VAL_MAX + 8];
    memset(other, 'Z', sizeof other);
    CHECK_RC(spl_set(s, "v", other, VAL_MAX + 1), SPL_E2BIG);
    CHECK_RC(spl_set(s, "v", other, VAL_MAX + 8), SPL_E2BIG);
    CHECK_RC(spl_set(s, "v", other, (size_t)UINT32_MAX + 2), SPL_E2BIG);
    check_value(s, "v", big, VAL_MAX); /* unchanged */
    assert_int_equal(epoch_of(s, "v"), e);
    CHECK_RC(spl_set(s, "new", other, VAL_MAX + 1), SPL_E2BIG);
    CHECK_RC(spl_exists(s, "new"), 0); /* not created */
    assert_int_equal(used_of(s), 1);
    /* Get into a buffer of exactly val_max. */
    unsigned char buf[VAL_MAX];
    size_t len = 0;
    CHECK_RC(spl_get(s, "v", buf, VAL_MAX, &len), 0);
    assert_int_equal(len, VAL_MAX);
    assert_memory_equal(buf, big, VAL_MAX);
}

static void test_key_length_limits(void **state)
{
    spl_store *s = *state;
    char kmax[KEY_MAX + 1], klong[KEY_MAX + 2], khuge[KEY_MAX * 8];
    memset(kmax, 'k', KEY_MAX);
    kmax[KEY_MAX] = '\0';
    memset(klong, 'k', KEY_MAX + 1);
    klong[KEY_MAX + 1] = '\0';
    memset(khuge, 'k', sizeof khuge - 1);
    khuge[sizeof khuge - 1] = '\0';
    char buf[16];
    size_t len = 0;
    spl_meta m;

    CHECK_RC(spl_set(s, kmax, "max", 3), 0); /* exactly key_max */
    check_value(s, kmax, "max", 3);
    CHECK_RC(spl_exists(s, kmax), 1);
    CHECK_RC(spl_meta_get(s, kmax, &m), 0);
    uint64_t e = m.epoch;

    /* key_max + 1: never truncated to the key_max-byte key above. */
    CHECK_RC(spl_set(s, klong, "long", 4), SPL_EKEYLEN);
    CHECK_RC(spl_get(s, klong, buf, sizeof buf, &len), SPL_EKEYLEN);
    CHECK_RC(spl_exists(s, klong), SPL_EKEYLEN);
    CHECK_RC(spl_unset(s, klong), SPL_EKEYLEN);
    CHECK_RC(spl_append(s, klong, "x", 1), SPL_EKEYLEN);
    CHECK_RC(spl_cas(s, klong, 0, "x", 1), SPL_EKEYLEN);
    CHECK_RC(spl_cas(s, klong, e, "x", 1), SPL_EKEYLEN);
    CHECK_RC(spl_meta_get(s, klong, &m), SPL_EKEYLEN);
    CHECK_RC(spl_type_set(s, klong, SPL_T_TEXT), SPL_EKEYLEN);
    CHECK_RC(spl_flags_set(s, klong, 1), SPL_EKEYLEN);
    CHECK_RC(spl_labels_set(s, klong, 1), SPL_EKEYLEN);
    CHECK_RC(spl_labels_clear(s, klong, 1), SPL_EKEYLEN);
    CHECK_RC(spl_touch(s, klong), SPL_EKEYLEN);
    CHECK_RC(spl_inc(s, klong, NULL), SPL_EKEYLEN);
    spl_view v;
    CHECK_RC(spl_view_get(s, klong, &v), SPL_EKEYLEN);
    CHECK_RC(spl_set(s, khuge, "huge", 4), SPL_EKEYLEN);
    CHECK_RC(spl_get(s, khuge, buf, sizeof buf, &len), SPL_EKEYLEN);

    /* Empty key. */
    CHECK_RC(spl_set(s, "", "e", 1), SPL_EKEYLEN);
    CHECK_RC(spl_get(s, "", buf, sizeof buf, &len), SPL_EKEYLEN);
    CHECK_RC(spl_exists(s, ""), SPL_EKEYLEN);
    CHECK_RC(spl_unset(s, ""), SPL_EKEYLEN);
    CHECK_RC(spl_append(s, "", "x", 1), SPL_EKEYLEN);
    CHECK_RC(spl_cas(s, "", 0, "x", 1), SPL_EKEYLEN);
    CHECK_RC(spl_meta_get(s, "", &m), SPL_EKEYLEN);

    /* NULL key. */
    CHECK_RC(spl_set(s, NULL, "n", 1), SPL_EINVAL);
    CHECK_RC(spl_get(s, NULL, buf, sizeof buf, &len), SPL_EINVAL);
    CHECK_RC(spl_exists(s, NULL), SPL_EINVAL);
    CHECK_RC(spl_unset(s, NULL), SPL_EINVAL);

    /* Nothing changed. */
    check_value(s, kmax, "max", 3);
    CHECK_RC(spl_meta_get(s, kmax, &m), 0);
    assert_int_equal(m.epoch, e);
    assert_int_equal(m.type, SPL_T_VOID);
    assert_int_equal(m.labels, 0);
    assert_int_equal(used_of(s), 1);
    CHECK_RC(spl_unset(s, kmax), 0);
    assert_int_equal(used_of(s), 0);

    /* A one-byte key is fine. */
    CHECK_RC(spl_set(s, "a", "1", 1), 0);
    check_value(s, "a", "1", 1);
}

static void test_append(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_append(s, "ap", "ab", 2), 0); /* absent: created */
    CHECK_RC(spl_exists(s, "ap"), 1);
    check_value(s, "ap", "ab", 2);
    CHECK_RC(spl_append(s, "ap", "cd", 2), 0);
    check_value(s, "ap", "abcd", 4);
    CHECK_RC(spl_append(s, "ap", "", 0), 0);
    check_value(s, "ap", "abcd", 4);

    /* Fill to exactly val_max with appends of odd sizes. */
    unsigned char want[VAL_MAX + 16]; /* slack: keeps -O3 -Warray-bounds quiet */
    memcpy(want, "abcd", 4);
    size_t have = 4;
    unsigned char chunk[13];
    while (have < VAL_MAX) {
        size_t n = VAL_MAX - have < sizeof chunk ? VAL_MAX - have : sizeof chunk;
        for (size_t i = 0; i < n; i++)
            chunk[i] = (unsigned char)(have + i);
        CHECK_RC(spl_append(s, "ap", chunk, n), 0);
        memcpy(want + have, chunk, n);
        have += n;
    }
    check_value(s, "ap", want, VAL_MAX);
    uint64_t e = epoch_of(s, "ap");
    CHECK_RC(spl_append(s, "ap", "z", 1), SPL_E2BIG);
    check_value(s, "ap", want, VAL_MAX);
    assert_int_equal(epoch_of(s, "ap"), e);

    /* Half full plus more than the rest. */
    CHECK_RC(spl_set(s, "half", want, VAL_MAX / 2), 0);
    CHECK_RC(spl_append(s, "half", want, VAL_MAX / 2 + 1), SPL_E2BIG);
    check_value(s, "half", want, VAL_MAX / 2);
    CHECK_RC(spl_append(s, "half", want, VAL_MAX / 2), 0);
    unsigned char twice[VAL_MAX];
    memcpy(twice, want, VAL_MAX / 2);
    memcpy(twice + VAL_MAX / 2, want, VAL_MAX / 2);
    check_value(s, "half", twice, VAL_MAX);

    /* Absent key with too much data: nothing created. */
    unsigned char big[VAL_MAX + 1];
    memset(big, 1, sizeof big);
    CHECK_RC(spl_append(s, "absent", big, VAL_MAX + 1), SPL_E2BIG);
    CHECK_RC(spl_exists(s, "absent"), 0);
    CHECK_RC(spl_append(s, "absent2", big, VAL_MAX), 0);
    check_value(s, "absent2", big, VAL_MAX);
    /* Appending to an empty value. */
    CHECK_RC(spl_set(s, "em", "", 0), 0);
    CHECK_RC(spl_append(s, "em", "q", 1), 0);
    check_value(s, "em", "q", 1);
    assert_int_equal(used_of(s), 4);
}

static void test_cas(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_cas(s, "c", 0, "v1", 2), 0); /* create if absent */
    check_value(s, "c", "v1", 2);
    CHECK_RC(spl_cas(s, "c", 0, "v2", 2), SPL_EEXIST);
    check_value(s, "c", "v1", 2);

    uint64_t e1 = epoch_of(s, "c");
    assert_true(e1 != 0);
    CHECK_RC(spl_cas(s, "c", e1, "v3", 2), 0);
    check_value(s, "c", "v3", 2);
    uint64_t e2 = epoch_of(s, "c");
    assert_true(e2 > e1);

    CHECK_RC(spl_cas(s, "c", e1, "v4", 2), SPL_ESTALE); /* stale */
    CHECK_RC(spl_cas(s, "c", e2 + 2, "v4", 2), SPL_ESTALE); /* future */
    CHECK_RC(spl_cas(s, "c", e2 + 1, "v4", 2), SPL_ESTALE); /* odd */
    check_value(s, "c", "v3", 2);
    assert_int_equal(epoch_of(s, "c"), e2);

    CHECK_RC(spl_cas(s, "absent", e2, "x", 1), SPL_ENOENT);
    CHECK_RC(spl_exists(s, "absent"), 0);

    /* Too big with a current epoch: E2BIG, nothing written. */
    unsigned char big[VAL_MAX + 1];
    memset(big, 'b', sizeof big);
    CHECK_RC(spl_cas(s, "c", e2, big, VAL_MAX + 1), SPL_E2BIG);
    CHECK_RC(spl_cas(s, "c2", 0, big, VAL_MAX + 1), SPL_E2BIG);
    CHECK_RC(spl_exists(s, "c2"), 0);
    check_value(s, "c", "v3", 2);
    assert_int_equal(epoch_of(s, "c"), e2);

    /* The epoch of a view works as well. */
    spl_view v;
    CHECK_RC(spl_view_get(s, "c", &v), 0);
    assert_int_equal(v.epoch, e2);
    CHECK_RC(spl_cas(s, "c", v.epoch, big, VAL_MAX), 0);
    check_value(s, "c", big, VAL_MAX);

    /* After unset + re-create, the old epoch is stale (no ABA). */
    uint64_t e3 = epoch_of(s, "c");
    CHECK_RC(spl_unset(s, "c"), 0);
    CHECK_RC(spl_cas(s, "c", e3, "x", 1), SPL_ENOENT);
    CHECK_RC(spl_cas(s, "c", 0, "again", 5), 0);
    CHECK_RC(spl_cas(s, "c", e3, "x", 1), SPL_ESTALE);
    check_value(s, "c", "again", 5);
    assert_true(epoch_of(s, "c") > e3);
}

static void test_epoch_monotonic(void **state)
{
    spl_store *s = *state;
    uint64_t prev = 0, e;
    int64_t n = 0;
#define STEP(call)                                                                    \
    do {                                                                              \
        CHECK_RC(call, 0);                                                            \
        e = epoch_of(s, "ep");                                                        \
        if (!(e > prev))                                                              \
            fail_msg("epoch did not grow after %s: %llu -> %llu", #call,              \
                     (unsigned long long)prev, (unsigned long long)e);                \
        prev = e;                                                                     \
    } while (0)
    STEP(spl_set(s, "ep", "a", 1));
    STEP(spl_set(s, "ep", "a", 1)); /* same bytes still a write */
    STEP(spl_set(s, "ep", "bb", 2));
    STEP(spl_append(s, "ep", "c", 1));
    STEP(spl_cas(s, "ep", prev, "dd", 2));
    STEP(spl_type_set(s, "ep", SPL_T_BINARY));
    STEP(spl_flags_set(s, "ep", 3));
    STEP(spl_labels_set(s, "ep", 4));
    STEP(spl_labels_clear(s, "ep", 4));
    STEP(spl_touch(s, "ep"));
    for (int i = 0; i < 5; i++) {
        CHECK_RC(spl_unset(s, "ep"), 0);
        STEP(spl_set(s, "ep", "re", 2));
    }
    STEP(spl_unset(s, "ep") == 0 ? spl_append(s, "ep", "z", 1) : -1);
    STEP(spl_unset(s, "ep") == 0 ? spl_cas(s, "ep", 0, "y", 1) : -1);
    STEP(spl_unset(s, "ep") == 0 ? spl_inc(s, "ep", &n) : -1);
    STEP(spl_inc(s, "ep", &n));
    assert_int_equal(n, 2);
#undef STEP
    /* Reads never move the epoch. */
    char buf[16];
    size_t len;
    CHECK_RC(spl_get(s, "ep", buf, sizeof buf, &len), 0);
    CHECK_RC(spl_exists(s, "ep"), 1);
    spl_view v;
    CHECK_RC(spl_view_get(s, "ep", &v), 0);
    assert_int_equal(epoch_of(s, "ep"), prev);
    /* A write to another key leaves this one's epoch alone. */
    CHECK_RC(spl_set(s, "other", "o", 1), 0);
    assert_int_equal(epoch_of(s, "ep"), prev);
}

/* A key deleted and re-created must never show an epoch it had before, even
 * when the re-created key lands in another slot: otherwise a cas holding the
 * old epoch would succeed against a different value (ABA). */
static void test_epoch_no_aba_across_slots(void **state)
{
    (void)state;
    int arranged = 0;
    for (int attempt = 0; attempt < 200 && !arranged; attempt++) {
        spl_store *s = mk(2, KEY_MAX, 16);
        spl_meta m;
        CHECK_RC(spl_set(s, "k", "v1", 2), 0);
        CHECK_RC(spl_meta_get(s, "k", &m), 0);
        uint64_t e_old = m.epoch;
        uint32_t x = m.slot;
        CHECK_RC(spl_unset(s, "k"), 0);
        CHECK_RC(spl_set(s, "f", "f", 1), 0); /* want it in k's old slot */
        CHECK_RC(spl_meta_get(s, "f", &m), 0);
        if (m.slot == x) {
            arranged = 1;
            CHECK_RC(spl_set(s, "k", "v2", 2), 0); /* lands in the other slot */
            CHECK_RC(spl_meta_get(s, "k", &m), 0);
            assert_int_not_equal(m.slot, x);
            int cas_rc = spl_cas(s, "k", e_old, "v3", 2);
            if (!(m.epoch > e_old) || cas_rc != SPL_ESTALE) {
                spl_close(s); /* clean up first so valgrind reports only the failure */
                fail_msg("re-created key in slot %u has epoch %llu, not above its old "
                         "epoch %llu (slot %u); spl_cas with the old epoch returned %d (%s), "
                         "expected SPL_ESTALE",
                         m.slot, (unsigned long long)m.epoch, (unsigned long long)e_old, x,
                         cas_rc, spl_err_name(cas_rc));
            }
            check_value(s, "k", "v2", 2);
        }
        spl_close(s);
    }
    assert_true(arranged); /* the seeded hash gives it 1 in 2 per store */

    /* Random churn on a tiny store: per key, epochs only ever grow. */
    spl_store *s = mk(4, KEY_MAX, 16);
    uint64_t last[6] = {0};
    uint64_t rng = 99;
    char key[16];
    uint32_t ops = (uint32_t)(5000 * test_scale());
    for (uint32_t op = 0; op < ops; op++) {
        int i = (int)(rng_next(&rng) % 6);
        snprintf(key, sizeof key, "c%d", i);
        if (rng_next(&rng) % 3 == 0) {
            int rc = spl_unset(s, key);
            assert_true(rc == 0 || rc == SPL_ENOENT);
            continue;
        }
        int rc = spl_set(s, key, "x", 1);
        if (rc == SPL_EFULL)
            continue;
        CHECK_RC(rc, 0);
        spl_meta m;
        CHECK_RC(spl_meta_get(s, key, &m), 0);
        if (!(m.epoch > last[i]))
            fail_msg("op %u: key %s epoch %llu after %llu (slot %u)", op, key,
                     (unsigned long long)m.epoch, (unsigned long long)last[i], m.slot);
        last[i] = m.epoch;
    }
    spl_close(s);
}

/* ---------------------------------------------------------------- busy slots */

struct raw_slot {
    void *map;
    size_t bytes;
    struct spl_slot *sl;
};

/* Map the store's region a second time and find key's slot in it. */
static struct raw_slot raw_slot_of(spl_store *s, const char *key)
{
    struct raw_slot r;
    spl_info inf;
    spl_meta m;
    CHECK_RC(spl_info_get(s, &inf), 0);
    CHECK_RC(spl_meta_get(s, key, &m), 0);
    r.bytes = (size_t)inf.region_bytes;
    r.map = mmap(NULL, r.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, spl_fd(s), 0);
    assert_true(r.map != MAP_FAILED);
    const struct spl_header *h = r.map;
    assert_int_equal(h->magic, SPL_MAGIC);
    r.sl = (struct spl_slot *)(void *)((char *)r.map + h->slots_off +
                                       (size_t)m.slot * h->slot_stride);
    assert_int_equal(__atomic_load_n(&r.sl->epoch, __ATOMIC_SEQ_CST), m.epoch);
    return r;
}

static int rw_never(const void *d, size_t n, void *ud)
{
    (void)d;
    (void)n;
    ++*(int *)ud;
    return 0;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A live writer inside a slot: every call on that key is SPL_EAGAIN and
 * changes nothing; other keys are unaffected. */
static void test_busy_slot_is_eagain(void **state)
{
    (void)state;
    spl_store *s = mk(16, KEY_MAX, 16);
    CHECK_RC(spl_set(s, "busy", "v", 1), 0);
    CHECK_RC(spl_set(s, "calm", "c", 1), 0);
    spl_meta m0;
    CHECK_RC(spl_meta_get(s, "busy", &m0), 0);
    struct raw_slot r = raw_slot_of(s, "busy");
    /* The writer: our parent process (alive), epoch odd. */
    __atomic_store_n(&r.sl->owner, (uint64_t)(uint32_t)getppid() << 32, __ATOMIC_SEQ_CST);
    __atomic_store_n(&r.sl->epoch, m0.epoch + 1, __ATOMIC_SEQ_CST);

    char buf[16];
    size_t len = 0;
    spl_meta m;
    spl_view v;
    int calls = 0;
    for (int round = 0; round < 3; round++) { /* also after several liveness-check intervals */
        CHECK_RC(spl_get(s, "busy", buf, sizeof buf, &len), SPL_EAGAIN);
        CHECK_RC(spl_exists(s, "busy"), SPL_EAGAIN);
        CHECK_RC(spl_meta_get(s, "busy", &m), SPL_EAGAIN);
        CHECK_RC(spl_view_get(s, "busy", &v), SPL_EAGAIN);
        CHECK_RC(spl_read_with(s, "busy", rw_never, &calls), SPL_EAGAIN);
        CHECK_RC(spl_set(s, "busy", "w", 1), SPL_EAGAIN);
        CHECK_RC(spl_append(s, "busy", "w", 1), SPL_EAGAIN);
        CHECK_RC(spl_cas(s, "busy", m0.epoch, "w", 1), SPL_EAGAIN);
        CHECK_RC(spl_unset(s, "busy"), SPL_EAGAIN);
        CHECK_RC(spl_type_set(s, "busy", SPL_T_TEXT), SPL_EAGAIN);
        CHECK_RC(spl_labels_set(s, "busy", 1), SPL_EAGAIN);
        CHECK_RC(spl_touch(s, "busy"), SPL_EAGAIN);
        /* the integer ops that do not wait (spl_int would, for 10 s) */
        uint64_t t1 = mono_ns(), out = 77;
        spl_key pk;
        CHECK_RC(spl_key_prep(s, "busy", &pk), 0);
        CHECK_RC(spl_int_try(s, "busy", SPL_OP_ADD, 1, &out), SPL_EAGAIN);
        CHECK_RC(spl_int_try_k(s, &pk, SPL_OP_XOR, 1, &out), SPL_EAGAIN);
        assert_int_equal(out, 77);
        assert_true(mono_ns() - t1 < 500000000ull);
        struct timespec ts = {0, 15 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(calls, 0);
    /* The _wait variants give up after their timeout with SPL_EAGAIN. */
    uint64_t t0 = mono_ns();
    CHECK_RC(spl_get_wait(s, "busy", buf, sizeof buf, &len, 20000), SPL_EAGAIN);
    CHECK_RC(spl_set_wait(s, "busy", "w", 1, 20000), SPL_EAGAIN);
    CHECK_RC(spl_unset_wait(s, "busy", 20000), SPL_EAGAIN);
    uint64_t dt = mono_ns() - t0;
    assert_true(dt >= 3 * 20000000ull - 3000000ull); /* each waited ~20 ms */
    assert_true(dt < 2000000000ull);
    /* spl_int_wait likewise (spl_int would wait 10 s, then SPL_ETIMEDOUT) */
    spl_key pk;
    uint64_t out = 77;
    CHECK_RC(spl_key_prep(s, "busy", &pk), 0);
    t0 = mono_ns();
    CHECK_RC(spl_int_wait(s, "busy", SPL_OP_ADD, 1, &out, 20000), SPL_EAGAIN);
    CHECK_RC(spl_int_wait_k(s, &pk, SPL_OP_ADD, 1, &out, 20000), SPL_EAGAIN);
    dt = mono_ns() - t0;
    assert_true(dt >= 2 * 20000000ull - 2000000ull);
    assert_true(dt < 2000000000ull);
    assert_int_equal(out, 77);
    /* Nothing changed; the other key works. */
    assert_int_equal(__atomic_load_n(&r.sl->epoch, __ATOMIC_SEQ_CST), m0.epoch + 1);
    assert_int_equal(__atomic_load_n(&r.sl->owner, __ATOMIC_SEQ_CST),
                     (uint64_t)(uint32_t)getppid() << 32);
    check_value(s, "calm", "c", 1);
    CHECK_RC(spl_set(s, "calm", "cc", 2), 0);
    check_value(s, "calm", "cc", 2);
    assert_int_equal(used_of(s), 2);
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.recoveries, 0);

    /* The writer finishes: everything works again. */
    __atomic_store_n(&r.sl->epoch, m0.epoch + 2, __ATOMIC_SEQ_CST);
    __atomic_store_n(&r.sl->owner, 0, __ATOMIC_SEQ_CST);
    check_value(s, "busy", "v", 1);
    CHECK_RC(spl_set(s, "busy", "w", 1), 0);
    check_value(s, "busy", "w", 1);
    CHECK_RC(spl_meta_get(s, "busy", &m), 0);
    assert_true(m.epoch > m0.epoch + 2);
    munmap(r.map, r.bytes);
    spl_close(s);
}

/* A live writer holds a counter's slot for 50 ms, then commits (a thread
 * plays it): spl_int_wait and spl_int_wait_k wait for it and then apply
 * their op, once each. */
struct release_later {
    struct raw_slot *r;
    uint64_t even;
    long ms; /* 0: 50 */
};

static void *release_after_50ms(void *arg)
{
    struct release_later *rl = arg;
    struct timespec ts = {0, (rl->ms ? rl->ms : 50) * 1000 * 1000};
    nanosleep(&ts, NULL);
    __atomic_store_n(&rl->r->sl->epoch, rl->even, __ATOMIC_SEQ_CST);
    __atomic_store_n(&rl->r->sl->owner, 0, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_int_wait_until_commit(void **state)
{
    (void)state;
    spl_store *s = mk(16, KEY_MAX, 16);
    uint64_t out = 0;
    spl_key pk;
    CHECK_RC(spl_key_prep(s, "n", &pk), 0);
    for (int round = 0; round < 2; round++) {
        CHECK_RC(spl_int(s, "n", SPL_OP_ADD, 41, &out), 0);
        spl_meta m0;
        CHECK_RC(spl_meta_get(s, "n", &m0), 0);
        struct raw_slot r = raw_slot_of(s, "n");
        __atomic_store_n(&r.sl->owner, (uint64_t)(uint32_t)getppid() << 32, __ATOMIC_SEQ_CST);
        __atomic_store_n(&r.sl->epoch, m0.epoch + 1, __ATOMIC_SEQ_CST);
        struct release_later rl = {&r, m0.epoch + 2};
        pthread_t th;
        uint64_t t0 = mono_ns();
        assert_int_equal(pthread_create(&th, NULL, release_after_50ms, &rl), 0);
        if (round == 0)
            CHECK_RC(spl_int_wait(s, "n", SPL_OP_ADD, 1, &out, 5000000), 0);
        else
            CHECK_RC(spl_int_wait_k(s, &pk, SPL_OP_ADD, 1, &out, 5000000), 0);
        uint64_t dt = mono_ns() - t0;
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_true(dt >= 45000000ull); /* it waited for the writer ... */
        assert_true(dt < 4000000000ull); /* ... not for its whole time */
        assert_int_equal(out, round == 0 ? 42u : 84u);
        munmap(r.map, r.bytes);
    }
    CHECK_RC(spl_int_wait(s, "n", SPL_OP_ADD, 0, &out, 0), 0); /* 0 us: spl_int_try */
    assert_int_equal(out, 84u);
    spl_close(s);
}

void spl__contend_stats(uint64_t *retries, uint64_t *sleeps); /* src/wait.c */

/* spl_retry_pause: the *_wait calls' wait for a call that has none.  A live
 * writer holds a key's slot; a loop of spl_labels_set (a write) and one of
 * spl_meta_get (a read) through spl_retry_pause give up after their time
 * with SPL_EAGAIN, having changed nothing; then a writer that commits after
 * 150 ms is waited for, asleep on the slot (a few calls, not a poll), and
 * the call goes through. */
static int labels_loop(spl_store *s, const char *key, uint32_t us, int *calls)
{
    spl_retry r;
    spl_retry_init(&r, us);
    int rc;
    while (++*calls, (rc = spl_labels_set(s, key, 4)) == SPL_EAGAIN && spl_retry_pause(s, key, 1, &r) == 0)
        ;
    return rc;
}
static int meta_loop(spl_store *s, const char *key, uint32_t us, int *calls, spl_meta *m)
{
    spl_retry r;
    spl_retry_init(&r, us);
    int rc;
    while (++*calls, (rc = spl_meta_get(s, key, m)) == SPL_EAGAIN && spl_retry_pause(s, key, 0, &r) == 0)
        ;
    return rc;
}

static void test_retry_pause(void **state)
{
    (void)state;
    spl_store *s = mk(16, KEY_MAX, 16);
    CHECK_RC(spl_set(s, "busy", "v", 1), 0);
    spl_meta m0, m;
    CHECK_RC(spl_meta_get(s, "busy", &m0), 0);
    spl_retry r;
    CHECK_RC(spl_retry_pause(NULL, "busy", 1, &r), SPL_EINVAL);
    CHECK_RC(spl_retry_pause(s, "busy", 1, NULL), SPL_EINVAL);
    spl_retry_init(NULL, 5); /* harmless */

    struct raw_slot rs = raw_slot_of(s, "busy");
    __atomic_store_n(&rs.sl->owner, (uint64_t)(uint32_t)getppid() << 32, __ATOMIC_SEQ_CST);
    __atomic_store_n(&rs.sl->epoch, m0.epoch + 1, __ATOMIC_SEQ_CST);

    /* 0 us: no waiting at all */
    int calls = 0;
    uint64_t t0 = mono_ns();
    CHECK_RC(labels_loop(s, "busy", 0, &calls), SPL_EAGAIN);
    assert_int_equal(calls, 1);
    assert_true(mono_ns() - t0 < 500000000ull);
    /* 30 ms each: the time is kept, for a write and for a read */
    calls = 0;
    t0 = mono_ns();
    CHECK_RC(labels_loop(s, "busy", 30000, &calls), SPL_EAGAIN);
    CHECK_RC(meta_loop(s, "busy", 30000, &calls, &m), SPL_EAGAIN);
    uint64_t dt = mono_ns() - t0;
    assert_true(dt >= 2 * 30000000ull - 2000000ull);
    assert_true(dt < 3000000000ull);
    /* a key-less call backs off for its time too */
    spl_retry_init(&r, 20000);
    int n = 0;
    t0 = mono_ns();
    while (spl_retry_pause(s, NULL, 0, &r) == 0)
        n++;
    assert_true(n > 0);
    assert_true(mono_ns() - t0 >= 19000000ull);
    /* nothing changed */
    assert_int_equal(__atomic_load_n(&rs.sl->epoch, __ATOMIC_SEQ_CST), m0.epoch + 1);

    __atomic_store_n(&rs.sl->epoch, m0.epoch + 2, __ATOMIC_SEQ_CST);
    __atomic_store_n(&rs.sl->owner, 0, __ATOMIC_SEQ_CST);
    /* a writer commits after 150 ms: a write, then a read, wait for it */
    for (int round = 0; round < 2; round++) {
        CHECK_RC(spl_meta_get(s, "busy", &m), 0);
        uint64_t odd = m.epoch + 1;
        __atomic_store_n(&rs.sl->owner, (uint64_t)(uint32_t)getppid() << 32, __ATOMIC_SEQ_CST);
        __atomic_store_n(&rs.sl->epoch, odd, __ATOMIC_SEQ_CST);
        struct release_later rl = {&rs, odd + 1, 150};
        pthread_t th;
        uint64_t sleeps0 = 0, sleeps1 = 0;
        spl__contend_stats(NULL, &sleeps0);
        calls = 0;
        t0 = mono_ns();
        assert_int_equal(pthread_create(&th, NULL, release_after_50ms, &rl), 0);
        if (round == 0)
            CHECK_RC(labels_loop(s, "busy", 5000000, &calls), 0);
        else
            CHECK_RC(meta_loop(s, "busy", 5000000, &calls, &m), 0);
        dt = mono_ns() - t0;
        assert_int_equal(pthread_join(th, NULL), 0);
        spl__contend_stats(NULL, &sleeps1);
        assert_true(dt >= 140000000ull); /* it waited for the writer ... */
        assert_true(dt < 4000000000ull); /* ... not for its whole time */
        assert_true(sleeps1 > sleeps0);  /* asleep on the slot ... */
        assert_true(calls < 40);         /* ... not polling (1-64 us polls made hundreds) */
    }
    CHECK_RC(spl_meta_get(s, "busy", &m), 0);
    assert_int_equal(m.labels, 4);
    munmap(rs.map, rs.bytes);
    spl_close(s);
}

/* A writer that died inside a slot: the slot is recovered by the next
 * callers, well within the promised bound, without ever returning torn data. */
static void test_dead_writer_recovered(void **state)
{
    (void)state;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child); /* its pid is now dead */

    spl_store *s = mk(16, KEY_MAX, 16);
    CHECK_RC(spl_set(s, "dead", "v", 1), 0);
    CHECK_RC(spl_set(s, "calm", "c", 1), 0);
    spl_meta m0;
    CHECK_RC(spl_meta_get(s, "dead", &m0), 0);
    struct raw_slot r = raw_slot_of(s, "dead");
    __atomic_store_n(&r.sl->owner, (uint64_t)(uint32_t)child << 32, __ATOMIC_SEQ_CST);
    __atomic_store_n(&r.sl->epoch, m0.epoch + 1, __ATOMIC_SEQ_CST);

    char buf[16];
    size_t len = 0;
    int rc = SPL_EAGAIN, tries = 0;
    uint64_t t0 = mono_ns();
    while (rc == SPL_EAGAIN && tries++ < 500) {
        rc = spl_get(s, "dead", buf, sizeof buf, &len);
        if (rc == SPL_EAGAIN) {
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    uint64_t dt = mono_ns() - t0;
    CHECK_RC(rc, 0); /* a writer's death loses nothing: the key stays */
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 'v'); /* with its value from before */
    if (dt > 500000000ull)
        fail_msg("recovery took %llu ms", (unsigned long long)(dt / 1000000));
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.recoveries, 1);
    uint64_t e = __atomic_load_n(&r.sl->epoch, __ATOMIC_SEQ_CST);
    assert_int_equal(e & 1, 0);
    assert_true(e > m0.epoch + 1); /* recovery moved the epoch forward */
    assert_int_equal(__atomic_load_n(&r.sl->owner, __ATOMIC_SEQ_CST), 0);
    /* The slot is usable again. */
    CHECK_RC(spl_set(s, "dead", "alive", 5), 0);
    check_value(s, "dead", "alive", 5);
    check_value(s, "calm", "c", 1);
    assert_int_equal(used_of(s), 2);
    munmap(r.map, r.bytes);
    spl_close(s);
}

/* Without contention, the _wait variants behave like the plain calls. */
static void test_wait_variants_uncontended(void **state)
{
    spl_store *s = *state;
    char buf[16];
    size_t len = 0;
    CHECK_RC(spl_set_wait(s, "w", "val", 3, 1000), 0);
    CHECK_RC(spl_get_wait(s, "w", buf, sizeof buf, &len, 1000), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "val", 3);
    CHECK_RC(spl_get_wait(s, "w", buf, 2, &len, 1000), SPL_ENOBUFS);
    assert_int_equal(len, 3);
    unsigned char big[VAL_MAX + 1];
    memset(big, 1, sizeof big);
    CHECK_RC(spl_set_wait(s, "w", big, sizeof big, 1000), SPL_E2BIG);
    CHECK_RC(spl_set_wait(s, "", "x", 1, 1000), SPL_EKEYLEN);
    CHECK_RC(spl_unset_wait(s, "w", 1000), 0);
    uint64_t t0 = mono_ns();
    CHECK_RC(spl_get_wait(s, "w", buf, sizeof buf, &len, 2000000), SPL_ENOENT);
    CHECK_RC(spl_unset_wait(s, "w", 2000000), SPL_ENOENT);
    assert_true(mono_ns() - t0 < 1000000000ull); /* ENOENT is not retried */
}

/* ---------------------------------------------------------------- full */

static void test_fill_until_full(void **state)
{
    (void)state;
    spl_store *s = mk(16, KEY_MAX, 16);
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.geom.slots, 16);
    char key[32];
    int n = 0, rc = 0;
    for (n = 0; n < 64; n++) {
        snprintf(key, sizeof key, "f%d", n);
        rc = spl_set(s, key, &n, sizeof n);
        if (rc != 0)
            break;
    }
    CHECK_RC(rc, SPL_EFULL);
    assert_true(n >= 1 && n <= 16);
    if (inf.probe_max + 1 >= 16)
        assert_int_equal(n, 16); /* probing reaches every slot */
    int nfull = n;
    char failed[32];
    snprintf(failed, sizeof failed, "f%d", nfull);
    CHECK_RC(spl_exists(s, failed), 0); /* the refused key was not inserted */
    assert_int_equal(used_of(s), (uint64_t)nfull);
    /* All inserted keys are intact; overwrite works while full. */
    for (int i = 0; i < nfull; i++) {
        snprintf(key, sizeof key, "f%d", i);
        check_value(s, key, &i, sizeof i);
        int j = i + 1000;
        CHECK_RC(spl_set(s, key, &j, sizeof j), 0);
        check_value(s, key, &j, sizeof j);
    }
    assert_int_equal(used_of(s), (uint64_t)nfull);
    /* Free one slot: that key fits again. */
    CHECK_RC(spl_unset(s, "f0"), 0);
    assert_int_equal(used_of(s), (uint64_t)nfull - 1);
    CHECK_RC(spl_set(s, "f0", "again", 5), 0);
    check_value(s, "f0", "again", 5);
    /* Free all: every key fits again, in the same order. */
    for (int i = 0; i < nfull; i++) {
        snprintf(key, sizeof key, "f%d", i);
        CHECK_RC(spl_unset(s, key), 0);
        CHECK_RC(spl_exists(s, key), 0);
    }
    assert_int_equal(used_of(s), 0);
    for (int i = 0; i < nfull; i++) {
        snprintf(key, sizeof key, "f%d", i);
        CHECK_RC(spl_set(s, key, &i, sizeof i), 0);
    }
    for (int i = 0; i < nfull; i++) {
        snprintf(key, sizeof key, "f%d", i);
        check_value(s, key, &i, sizeof i);
    }
    assert_int_equal(used_of(s), (uint64_t)nfull);
    spl_close(s);
}

/* ---------------------------------------------------------------- model */

struct model {
    uint32_t nkeys;
    char (*keys)[32];
    unsigned char *present;
    unsigned char (*vals)[32];
    uint32_t *vlen;
    uint32_t count;
};

static void model_init(struct model *m, uint32_t nkeys, uint64_t *rng, uint32_t key_max)
{
    m->nkeys = nkeys;
    m->keys = calloc(nkeys, sizeof *m->keys);
    m->present = calloc(nkeys, 1);
    m->vals = calloc(nkeys, sizeof *m->vals);
    m->vlen = calloc(nkeys, sizeof *m->vlen);
    m->count = 0;
    assert_non_null(m->keys);
    assert_non_null(m->present);
    assert_non_null(m->vals);
    assert_non_null(m->vlen);
    for (uint32_t i = 0; i < nkeys; i++) {
        /* Random keys of random length 1..key_max, distinct by an index tail. */
        uint32_t len = 1 + (uint32_t)(rng_next(rng) % key_max);
        char tail[16];
        int tl = snprintf(tail, sizeof tail, "%x", i);
        if (len < (uint32_t)tl + 1)
            len = (uint32_t)tl + 1;
        if (len > key_max)
            len = key_max;
        uint32_t head = len - (uint32_t)tl;
        for (uint32_t j = 0; j < head; j++)
            m->keys[i][j] = (char)('g' + rng_next(rng) % 20); /* g..z: never hex */
        memcpy(m->keys[i] + head, tail, (size_t)tl + 1);
    }
}

static void model_free(struct model *m)
{
    free(m->keys);
    free(m->present);
    free(m->vals);
    free(m->vlen);
}

static void model_check_key(spl_store *s, const struct model *m, uint32_t i)
{
    unsigned char buf[64];
    size_t len = 0;
    int rc = spl_get(s, m->keys[i], buf, sizeof buf, &len);
    if (m->present[i]) {
        if (rc != 0)
            fail_msg("key \"%s\" should be present: get returned %d (%s)", m->keys[i], rc,
                     spl_err_name(rc));
        assert_int_equal(len, m->vlen[i]);
        assert_memory_equal(buf, m->vals[i], len);
        CHECK_RC(spl_exists(s, m->keys[i]), 1);
    } else {
        if (rc != SPL_ENOENT)
            fail_msg("key \"%s\" should be absent: get returned %d (%s)", m->keys[i], rc,
                     spl_err_name(rc));
        CHECK_RC(spl_exists(s, m->keys[i]), 0);
    }
}

struct count_ud {
    const struct model *m;
    uint32_t seen;
};

static int count_cb(const spl_entry *e, void *ud)
{
    struct count_ud *c = ud;
    c->seen++;
    /* Every visited key must be a present model key. */
    for (uint32_t i = 0; i < c->m->nkeys; i++)
        if (strcmp(c->m->keys[i], e->key) == 0)
            return c->m->present[i] ? 0 : 1000 + (int)i;
    return 999;
}

static void model_check_all(spl_store *s, const struct model *m)
{
    for (uint32_t i = 0; i < m->nkeys; i++)
        model_check_key(s, m, i);
    assert_int_equal(used_of(s), m->count);
    struct count_ud c = {m, 0};
    CHECK_RC(spl_foreach(s, NULL, count_cb, &c), 0);
    assert_int_equal(c.seen, m->count);
}

/* One random run.  If allow_full, SPL_EFULL is accepted for new keys (and
 * then only when the store may legitimately be full). */
static void model_run(uint32_t slots, uint32_t nkeys, uint32_t ops, int check_every,
                      int allow_full, uint64_t seed)
{
    spl_store *s = mk(slots, 24, 32);
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    uint64_t rng = seed;
    struct model m;
    model_init(&m, nkeys, &rng, 24);
    uint32_t nfull = 0;
    for (uint32_t op = 0; op < ops; op++) {
        uint32_t i = (uint32_t)(rng_next(&rng) % nkeys);
        uint32_t r = (uint32_t)(rng_next(&rng) % 10);
        if (r < 5) {
            unsigned char v[32];
            uint32_t vl = (uint32_t)(rng_next(&rng) % 33);
            for (uint32_t j = 0; j < vl; j++)
                v[j] = (unsigned char)(op + j * 31 + i);
            int rc = spl_set(s, m.keys[i], v, vl);
            if (rc == SPL_EFULL && allow_full && !m.present[i]) {
                nfull++;
                if (inf.probe_max + 1 >= slots && m.count < slots)
                    fail_msg("op %u: EFULL with %u of %u slots used (probe_max %u)", op,
                             m.count, slots, inf.probe_max);
            } else {
                if (rc != 0)
                    fail_msg("op %u (seed %llu): set \"%s\" returned %d (%s), %u keys live",
                             op, (unsigned long long)seed, m.keys[i], rc,
                             spl_err_name(rc), m.count);
                if (!m.present[i])
                    m.count++;
                m.present[i] = 1;
                memcpy(m.vals[i], v, vl);
                m.vlen[i] = vl;
            }
        } else if (r < 8) {
            int rc = spl_unset(s, m.keys[i]);
            int want = m.present[i] ? 0 : SPL_ENOENT;
            if (rc != want)
                fail_msg("op %u (seed %llu): unset \"%s\" returned %d (%s), expected %d",
                         op, (unsigned long long)seed, m.keys[i], rc, spl_err_name(rc),
                         want);
            if (m.present[i])
                m.count--;
            m.present[i] = 0;
        } else {
            model_check_key(s, &m, i);
        }
        if (check_every && (op + 1) % (uint32_t)check_every == 0)
            model_check_all(s, &m);
    }
    model_check_all(s, &m);
    /* Keys never inserted are absent. */
    char k[32];
    for (int j = 0; j < 64; j++) {
        snprintf(k, sizeof k, "never-%d", j);
        CHECK_RC(spl_exists(s, k), 0);
    }
    /* Delete everything: the store is empty again. */
    for (uint32_t i = 0; i < nkeys; i++)
        if (m.present[i]) {
            CHECK_RC(spl_unset(s, m.keys[i]), 0);
            m.present[i] = 0;
            m.count--;
        }
    model_check_all(s, &m);
    if (allow_full)
        print_message("    seed %llu: %u EFULL refusals\n", (unsigned long long)seed, nfull);
    model_free(&m);
    spl_close(s);
}

static void test_model_random_half_load(void **state)
{
    (void)state;
    /* 1024 slots, 512 possible keys: load at most 50%. */
    uint32_t ops = (uint32_t)(200000 * test_scale());
    model_run(1024, 512, ops, 20000, 0, 12345);
}

static void test_model_tiny_store_collisions(void **state)
{
    (void)state;
    /* Many keys for few slots: constant collisions, EFULL, deletes in the
     * middle of probe chains.  Full check after every op. */
    uint32_t ops = (uint32_t)(4000 * test_scale());
    model_run(8, 24, ops, 1, 1, 1);
    model_run(4, 12, ops, 1, 1, 2);
    model_run(2, 6, ops, 1, 1, 3);
    model_run(16, 40, ops, 1, 1, 4);
}

/* Slot counts are exact: a store of n slots, n not a power of two, reports
 * n, fills to exactly n (probe chains wrap from the last slot to the first),
 * and keeps the model's contents through collisions, deletes and EFULL. */
static void test_exact_slot_counts(void **state)
{
    (void)state;
    static const uint32_t counts[] = {3, 5, 7, 13, 100, 255, 1000};
    char key[32];
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        uint32_t n = counts[c];
        spl_store *s = mk(n, KEY_MAX, 16);
        spl_info inf;
        CHECK_RC(spl_info_get(s, &inf), 0);
        assert_int_equal(inf.geom.slots, n);
        uint32_t k = 0;
        int rc = 0;
        for (; k < 2 * n; k++) {
            snprintf(key, sizeof key, "x%u", k);
            if ((rc = spl_set(s, key, &k, sizeof k)) != 0)
                break;
        }
        CHECK_RC(rc, SPL_EFULL);
        if (inf.probe_max + 1 >= n)
            assert_int_equal(k, n); /* every slot reachable, wrap included */
        else
            assert_true(k * 10 >= n * 8); /* the probe bound stops it late */
        assert_int_equal(used_of(s), k);
        for (uint32_t i = 0; i < k; i++) {
            snprintf(key, sizeof key, "x%u", i);
            check_value(s, key, &i, sizeof i);
        }
        spl_close(s);
        uint32_t ops = (uint32_t)(3000 * test_scale());
        model_run(n, 3 * n, ops, n < 100 ? 1 : 500, 1, 100 + n);
    }
    model_run(1000, 500, (uint32_t)(100000 * test_scale()), 20000, 0, 777); /* half load */
}

static void test_many_keys_tiny_store(void **state)
{
    (void)state;
    spl_store *s = mk(2, KEY_MAX, 16);
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.geom.slots, 2);
    CHECK_RC(spl_set(s, "a", "1", 1), 0);
    int rc = spl_set(s, "b", "2", 1);
    if (inf.probe_max + 1 >= 2)
        CHECK_RC(rc, 0);
    else
        assert_true(rc == 0 || rc == SPL_EFULL);
    if (rc == 0) {
        CHECK_RC(spl_set(s, "c", "3", 1), SPL_EFULL); /* both slots taken */
        CHECK_RC(spl_exists(s, "c"), 0);
        assert_int_equal(used_of(s), 2);
    }
    check_value(s, "a", "1", 1);
    CHECK_RC(spl_unset(s, "a"), 0);
    CHECK_RC(spl_exists(s, "a"), 0);
    if (rc == 0)
        check_value(s, "b", "2", 1);
    spl_close(s);
}

/* Lookups stay O(1) after many deletes: half-load churn of ever-new keys
 * (the worst case for tombstone schemes) must not widen probe windows. */
static void test_probe_bound_after_churn(void **state)
{
    (void)state;
    enum { SLOTS = 4096, LIVE = 2048 };
    spl_store *s = mk(SLOTS, KEY_MAX, 16);
    static char keys[LIVE][KEY_MAX + 1];
    uint64_t next = 0, x = 99;
    for (int i = 0; i < LIVE; i++) {
        snprintf(keys[i], sizeof keys[i], "c%llu", (unsigned long long)next++);
        CHECK_RC(spl_set(s, keys[i], "v", 1), 0);
    }
    spl_info warm, end;
    uint32_t rounds = (uint32_t)(200000 * test_scale());
    for (uint32_t r = 0; r < rounds; r++) {
        if (r == rounds / 10)
            CHECK_RC(spl_info_get(s, &warm), 0);
        uint32_t j = (uint32_t)(rng_next(&x) % LIVE);
        CHECK_RC(spl_unset(s, keys[j]), 0);
        snprintf(keys[j], sizeof keys[j], "c%llu", (unsigned long long)next++);
        CHECK_RC(spl_set(s, keys[j], "v", 1), 0);
    }
    CHECK_RC(spl_info_get(s, &end), 0);
    print_message("probe windows: warm mean %.2f longest %u; after %u churn ops mean %.2f "
                  "longest %u\n", warm.probe_mean, warm.probe_longest, rounds, end.probe_mean,
                  end.probe_longest);
    assert_int_equal(end.used, LIVE);
    assert_true(end.probe_mean <= 4.0);
    assert_true(end.probe_mean <= warm.probe_mean * 1.5);
    assert_true(end.probe_longest <= 64);
    for (int i = 0; i < LIVE; i++)
        CHECK_RC(spl_exists(s, keys[i]), 1);
    for (uint64_t i = 0; i < 1000; i++) {
        char miss[KEY_MAX + 1];
        snprintf(miss, sizeof miss, "m%llu", (unsigned long long)i);
        CHECK_RC(spl_exists(s, miss), 0);
    }
    spl_close(s);
}

/* Capacity is exact: a store of n slots holds n keys, whatever the keys
 * and the hash seed (each store draws its own), never SPL_EFULL below n and
 * always at n + 1; spl_info counts used and free exactly; deletes and
 * refills keep it so, and probe windows stay short. */
static void fill_exact(uint32_t n, uint64_t seed, uint32_t rounds)
{
    spl_store *s = mk(n, KEY_MAX, 16);
    uint64_t x = seed;
    char (*keys)[KEY_MAX + 1] = malloc((size_t)n * sizeof *keys);
    assert_non_null(keys);
    uint64_t next = 0;
    /* random keys of random length (1..KEY_MAX), distinct by a counter */
    #define FE_KEY(buf)                                                                       \
        do {                                                                                  \
            int l_ = snprintf(buf, KEY_MAX + 1, "%llx.", (unsigned long long)next++);         \
            int want_ = 1 + (int)(rng_next(&x) % KEY_MAX);                                    \
            while (l_ < want_)                                                                \
                buf[l_++] = (char)('a' + rng_next(&x) % 26);                                  \
            buf[l_] = 0;                                                                      \
        } while (0)
    for (uint32_t i = 0; i < n; i++) {
        FE_KEY(keys[i]);
        int rc = spl_set(s, keys[i], &i, sizeof i);
        if (rc != 0)
            fail_msg("%u slots, seed %llu: key %u of %u refused: %s", n, (unsigned long long)seed, i,
                     n, spl_err_name(rc));
    }
    char extra[KEY_MAX + 1];
    spl_info inf;
    for (uint32_t r = 0;; r++) {
        CHECK_RC(spl_info_get(s, &inf), 0);
        assert_int_equal(inf.capacity, n);
        assert_int_equal(inf.used, n);
        assert_int_equal(inf.free, 0);
        assert_true(inf.probe_longest <= 64);
        for (int t = 0; t < 3; t++) { /* full: every new key is refused, nothing changes */
            FE_KEY(extra);
            CHECK_RC(spl_set(s, extra, "x", 1), SPL_EFULL);
            CHECK_RC(spl_exists(s, extra), 0);
        }
        uint32_t j = (uint32_t)(rng_next(&x) % n);
        CHECK_RC(spl_set(s, keys[j], &j, sizeof j), 0); /* overwrite while full */
        if (r == rounds)
            break;
        /* delete a random share, check the counts, refill with new keys */
        uint32_t del = 1 + (uint32_t)(rng_next(&x) % n), gone = 0;
        uint8_t *hole = calloc(n, 1);
        assert_non_null(hole);
        for (uint32_t d = 0; d < del; d++) {
            uint32_t v = (uint32_t)(rng_next(&x) % n);
            if (hole[v])
                continue;
            CHECK_RC(spl_unset(s, keys[v]), 0);
            hole[v] = 1;
            gone++;
        }
        CHECK_RC(spl_info_get(s, &inf), 0);
        assert_int_equal(inf.used, n - gone);
        assert_int_equal(inf.free, gone);
        for (uint32_t v = 0; v < n; v++)
            if (hole[v]) {
                FE_KEY(keys[v]);
                int rc = spl_set(s, keys[v], &v, sizeof v);
                if (rc != 0)
                    fail_msg("%u slots, seed %llu, round %u: refill refused: %s", n,
                             (unsigned long long)seed, r, spl_err_name(rc));
            }
        free(hole);
    }
    #undef FE_KEY
    for (uint32_t i = 0; i < n; i++)
        CHECK_RC(spl_exists(s, keys[i]), 1);
    free(keys);
    spl_close(s);
}

static void test_capacity_exact(void **state)
{
    (void)state;
    static const uint32_t counts[] = {2, 3, 13, 64, 1000};
    uint32_t seeds = (uint32_t)(10 * test_scale());
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
        for (uint32_t k = 0; k < seeds; k++)
            fill_exact(counts[c], 1000 * c + k + 1, 4);
    fill_exact(131072, 42, 1);
}

/* Prepared keys behave like the string calls and are tied to their store;
 * batches return each key's own result. */
static void test_prepared_keys_and_batches(void **state)
{
    (void)state;
    spl_store *s = mk(600, KEY_MAX, 16), *other = mk(600, KEY_MAX, 16);
    spl_key k, ko;
    CHECK_RC(spl_key_prep(s, "", &k), SPL_EKEYLEN);
    CHECK_RC(spl_key_prep(s, "0123456789abcdefX", &k), SPL_EKEYLEN); /* 17 > key_max */
    CHECK_RC(spl_key_prep(s, "pk", NULL), SPL_EINVAL);
    CHECK_RC(spl_key_prep(s, "pk", &k), 0);
    CHECK_RC(spl_key_prep(other, "pk", &ko), 0);
    char buf[16];
    size_t len = 0;
    CHECK_RC(spl_get_k(s, &k, buf, sizeof buf, &len), SPL_ENOENT);
    CHECK_RC(spl_set_k(s, &k, "one", 3), 0);
    check_value(s, "pk", "one", 3);                    /* the string calls see it */
    CHECK_RC(spl_get_k(s, &k, buf, sizeof buf, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "one", 3);
    CHECK_RC(spl_get_k(s, &k, buf, 2, &len), SPL_ENOBUFS);
    CHECK_RC(spl_get_k(s, &ko, buf, sizeof buf, &len), SPL_EINVAL); /* another store's */
    CHECK_RC(spl_set_k(s, &ko, "x", 1), SPL_EINVAL);
    CHECK_RC(spl_get_k(other, &ko, buf, sizeof buf, &len), SPL_ENOENT);
    spl_key bad = k;
    bad.home = 0xffffffffu;
    CHECK_RC(spl_get_k(s, &bad, buf, sizeof buf, &len), SPL_EINVAL);
    bad = k;
    bad.len = KEY_MAX + 1;
    CHECK_RC(spl_set_k(s, &bad, "x", 1), SPL_EINVAL);
    CHECK_RC(spl_unset_k(s, &k), 0);
    CHECK_RC(spl_exists(s, "pk"), 0);
    CHECK_RC(spl_unset_k(s, &k), SPL_ENOENT);
    int64_t v = 0;
    CHECK_RC(spl_add_k(s, &k, 5, &v), 0);
    CHECK_RC(spl_add_k(s, &k, -2, &v), 0);
    assert_int_equal(v, 3);
    CHECK_RC(spl_set_k(s, &k, "str", 3), 0);
    CHECK_RC(spl_add_k(s, &k, 1, &v), SPL_ETYPE);

    /* batches: 512 keys, the odd ones set through spl_set_many */
    enum { N = 512 };
    static char names[N][KEY_MAX + 1];
    static spl_key keys[N], odd[N / 2];
    static uint64_t vals[N / 2];
    static size_t lens[N];
    static int rcs[N];
    static uint8_t out[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "b%d", i);
        CHECK_RC(spl_key_prep(s, names[i], &keys[i]), 0);
        if (i & 1) {
            odd[i / 2] = keys[i];
            vals[i / 2] = (uint64_t)i * 7919u;
            lens[i / 2] = 8;
        }
    }
    assert_int_equal(spl_set_many(s, odd, N / 2, vals, sizeof vals[0], lens, rcs), N / 2);
    for (int i = 0; i < N / 2; i++)
        CHECK_RC(rcs[i], 0);
    memset(rcs, 0x55, sizeof rcs);
    assert_int_equal(spl_get_many(s, keys, N, out, sizeof out[0], lens, rcs), N / 2);
    for (int i = 0; i < N; i++) {
        if (i & 1) {
            CHECK_RC(rcs[i], 0);
            uint64_t want = (uint64_t)i * 7919u;
            assert_int_equal(lens[i], 8);
            assert_memory_equal(out[i], &want, 8);
            check_value(s, names[i], &want, 8);
        } else {
            CHECK_RC(rcs[i], SPL_ENOENT);
        }
    }
    /* a stride too small for a value: that key's ENOBUFS, its length given */
    CHECK_RC(spl_set(s, names[0], "0123456789", 10), 0);
    assert_int_equal(spl_get_many(s, keys, 2, out, 4, lens, rcs), 0);
    CHECK_RC(rcs[0], SPL_ENOBUFS);
    assert_int_equal(lens[0], 10);
    CHECK_RC(rcs[1], SPL_ENOBUFS);
    CHECK_RC(spl_get_many(s, NULL, 3, out, 4, lens, rcs), SPL_EINVAL);
    assert_int_equal(spl_get_many(s, keys, 0, NULL, 0, NULL, NULL), 0);
    /* a batch over existing keys overwrites them; a value past val_max
     * (16) is that key's SPL_E2BIG, the others are written */
    static uint8_t bv[4][32];
    size_t bl[4] = {8, 17, 16, 0};
    int brc[4];
    for (int i = 0; i < 4; i++)
        memset(bv[i], 'a' + i, sizeof bv[i]);
    assert_int_equal(spl_set_many(s, odd, 4, bv, sizeof bv[0], bl, brc), 3);
    CHECK_RC(brc[0], 0);
    CHECK_RC(brc[1], SPL_E2BIG);
    CHECK_RC(brc[2], 0);
    CHECK_RC(brc[3], 0);
    check_value(s, names[1], bv[0], 8);
    uint64_t was = 3u * 7919u;
    check_value(s, names[3], &was, 8); /* unchanged */
    check_value(s, names[5], bv[2], 16);
    check_value(s, names[7], bv[3], 0);
    spl_close(other);
    spl_close(s);
}

/* Undo records owned by anyone, and by the given owner, in a raw map. */
static void undo_owned(const void *map, uint64_t me, uint32_t *any, uint32_t *mine)
{
    const struct spl_header *h = map;
    *any = *mine = 0;
    for (uint32_t r = 0; r < h->undo_recs; r++) {
        const struct spl_undo *u =
            (const void *)((const char *)map + h->undo_off + (size_t)r * h->undo_stride);
        uint64_t o = __atomic_load_n(&u->owner, __ATOMIC_SEQ_CST);
        *any += o != 0;
        *mine += o == me;
    }
}

static void *one_overwrite(void *arg)
{
    spl_store *s = arg;
    /* threads at once meet each other on the one key: wait out SPL_EAGAIN */
    int rc = spl_set_wait(s, "shared", "from a thread", 13, 2000000);
    return (void *)(intptr_t)rc;
}

/* A thread keeps the undo record it claimed, and gives it back when it
 * exits; a handle keeps no more than it needs; spl_close gives all back;
 * a forked child claims its own. */
static void test_undo_records_kept_and_given_back(void **state)
{
    (void)state;
    spl_store *s = mk(64, KEY_MAX, 32);
    CHECK_RC(spl_set(s, "shared", "v", 1), 0);
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    void *map = mmap(NULL, (size_t)inf.region_bytes, PROT_READ, MAP_SHARED, spl_fd(s), 0);
    assert_true(map != MAP_FAILED);
    uint32_t any, mine, mine1;
    CHECK_RC(spl_set(s, "shared", "w", 1), 0); /* an overwrite: this thread keeps a record */
    uint64_t me = 0;
    {
        const struct spl_header *h = map;
        for (uint32_t r = 0; r < h->undo_recs && !me; r++)
            me = __atomic_load_n(&((const struct spl_undo *)(const void *)((const char *)map + h->undo_off +
                                                                           (size_t)r * h->undo_stride))->owner,
                                 __ATOMIC_SEQ_CST);
    }
    assert_true(me != 0);
    undo_owned(map, me, &any, &mine1);
    assert_int_equal(mine1, 1);
    CHECK_RC(spl_set(s, "shared", "x", 1), 0);
    undo_owned(map, me, &any, &mine);
    assert_int_equal(mine, 1); /* the same record again, no new claim */
    /* 200 threads one after the other: each exit gives its record back */
    for (int t = 0; t < 200; t++) {
        pthread_t th;
        void *rc;
        assert_int_equal(pthread_create(&th, NULL, one_overwrite, s), 0);
        assert_int_equal(pthread_join(th, &rc), 0);
        CHECK_RC((int)(intptr_t)rc, 0);
    }
    undo_owned(map, me, &any, &mine);
    assert_int_equal(mine, 2); /* ours, and one the exited threads passed on */
    /* 40 threads at once: all write; the handle keeps at most 16 */
    pthread_t th[40];
    for (int t = 0; t < 40; t++)
        assert_int_equal(pthread_create(&th[t], NULL, one_overwrite, s), 0);
    for (int t = 0; t < 40; t++) {
        void *rc;
        assert_int_equal(pthread_join(th[t], &rc), 0);
        CHECK_RC((int)(intptr_t)rc, 0);
    }
    undo_owned(map, me, &any, &mine);
    assert_true(mine >= 2 && mine <= 16);
    assert_int_equal(any, mine);
    /* a forked child overwrites with records of its own */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(spl_set(s, "shared", "child", 5) == 0 && spl_set(s, "shared", "child2", 6) == 0 ? 0 : 1);
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    check_value(s, "shared", "child2", 6);
    uint32_t any2, mine2;
    undo_owned(map, me, &any2, &mine2);
    assert_int_equal(mine2, mine);     /* the child took none of ours */
    assert_int_equal(any2, mine + 1); /* it kept one (its owner is dead now) */
    int fd = dup(spl_fd(s));
    spl_close(s);
    undo_owned(map, me, &any, &mine);
    assert_int_equal(mine, 0); /* spl_close gave every kept record back */
    munmap(map, (size_t)inf.region_bytes);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_get_basic, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_size_query_and_enobufs, setup_store,
                                        teardown_store),
        cmocka_unit_test_setup_teardown(test_overwrite_keeps_type_flags_labels, setup_store,
                                        teardown_store),
        cmocka_unit_test_setup_teardown(test_empty_value, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_value_size_limits, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_key_length_limits, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_append, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_cas, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_epoch_monotonic, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_wait_variants_uncontended, setup_store,
                                        teardown_store),
        cmocka_unit_test(test_busy_slot_is_eagain),
        cmocka_unit_test(test_int_wait_until_commit),
        cmocka_unit_test(test_retry_pause),
        cmocka_unit_test(test_dead_writer_recovered),
        cmocka_unit_test(test_epoch_no_aba_across_slots),
        cmocka_unit_test(test_fill_until_full),
        cmocka_unit_test(test_model_random_half_load),
        cmocka_unit_test(test_model_tiny_store_collisions),
        cmocka_unit_test(test_many_keys_tiny_store),
        cmocka_unit_test(test_exact_slot_counts),
        cmocka_unit_test(test_probe_bound_after_churn),
        cmocka_unit_test(test_capacity_exact),
        cmocka_unit_test(test_prepared_keys_and_batches),
        cmocka_unit_test(test_undo_records_kept_and_given_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
