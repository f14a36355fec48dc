/*
 * test_mirror_entry.c - the mirror's entry format and key spelling
 * (mirror/entry.h): round trips, both sides of every check, foreign input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "entry.h"

static void test_roundtrip(void **state)
{
    (void)state;
    float vec[3] = {1.5f, -2.25f, 0.0f};
    const char val[] = "hello";
    splm_entry e = {0}, d;
    e.flags = SPLM_VEC_CARRIED | SPLM_VEC_PRESENT;
    e.type = 7;
    e.uflags = 0x81;
    e.origin = 0x0123456789abcdefull;
    e.epoch = 42;
    e.labels = 1ull << 63 | 5;
    e.val_len = 5;
    e.vec_dim = 3;
    e.val = val;
    e.vec = vec;
    size_t n = splm_entry_size(5, 3);
    assert_int_equal(n, 40 + 12 + 5);
    uint8_t buf[64];
    splm_entry_encode(&e, buf);
    assert_memory_equal(buf, "SPM1\x01", 5);
    assert_int_equal(splm_entry_decode(buf, n, &d), 0);
    assert_int_equal(d.flags, e.flags);
    assert_int_equal(d.type, 7);
    assert_int_equal(d.uflags, 0x81);
    assert_true(d.origin == e.origin);
    assert_true(d.epoch == 42);
    assert_true(d.labels == e.labels);
    assert_int_equal(d.val_len, 5);
    assert_int_equal(d.vec_dim, 3);
    assert_memory_equal(d.val, "hello", 5);
    for (uint32_t i = 0; i < 3; i++)
        assert_true(splm_entry_vec(&d, i) == vec[i]);
    /* little-endian on the wire, whatever the host */
    assert_int_equal(buf[8], 0xef);
    assert_int_equal(buf[16], 42);
}

static void test_empty_value_no_vector(void **state)
{
    (void)state;
    splm_entry e = {0}, d;
    uint8_t buf[40];
    splm_entry_encode(&e, buf);
    assert_int_equal(splm_entry_decode(buf, 40, &d), 0);
    assert_int_equal(d.val_len, 0);
    assert_int_equal(d.flags, 0);
}

static void test_foreign_refused(void **state)
{
    (void)state;
    splm_entry e = {0}, d;
    e.val_len = 4;
    e.val = "abcd";
    uint8_t buf[64];
    splm_entry_encode(&e, buf);
    assert_int_equal(splm_entry_decode(buf, 44, &d), 0);
    assert_int_equal(splm_entry_decode(buf, 43, &d), -1); /* short */
    assert_int_equal(splm_entry_decode(buf, 45, &d), -1); /* long */
    assert_int_equal(splm_entry_decode(buf, 39, &d), -1); /* no header */
    assert_int_equal(splm_entry_decode(NULL, 0, &d), -1);
    assert_int_equal(splm_entry_decode("hello, world, this is not an entry at all", 41, &d), -1);
    uint8_t b2[64];
    memcpy(b2, buf, 44);
    b2[4] = 2; /* another version */
    assert_int_equal(splm_entry_decode(b2, 44, &d), -1);
    memcpy(b2, buf, 44);
    b2[5] = 0x4; /* unknown flag */
    assert_int_equal(splm_entry_decode(b2, 44, &d), -1);
    memcpy(b2, buf, 44);
    b2[5] = SPLM_VEC_PRESENT; /* present without carried */
    assert_int_equal(splm_entry_decode(b2, 44, &d), -1);
    memcpy(b2, buf, 44);
    b2[36] = 1; /* a dimension without a vector */
    assert_int_equal(splm_entry_decode(b2, 44, &d), -1);
    memcpy(b2, buf, 44);
    b2[35] = 0xff; /* a huge length: no overflow, just refused */
    assert_int_equal(splm_entry_decode(b2, 44, &d), -1);
}

static void check_key(const char *key, const char *want)
{
    char enc[3 * 64 + 1], dec[65];
    size_t n = splm_key_encode(key, strlen(key), enc), kl;
    assert_string_equal(enc, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(splm_key_decode(enc, dec, sizeof dec, &kl), 0);
    assert_int_equal(kl, strlen(key));
    assert_string_equal(dec, key);
}

static void test_keys(void **state)
{
    (void)state;
    check_key("plain-key_1/x", "plain-key_1/x");
    check_key("a.b.c", "a.b.c");
    check_key(".a", "=2Ea");
    check_key("a.", "a=2E");
    check_key("a..b", "a=2E=2Eb");
    check_key("sp ace*>=", "sp=20ace=2A=3E=3D");
    check_key("\xc3\xa9t\xc3\xa9", "=C3=A9t=C3=A9");
    check_key("__mirror.x", "__mirror.x");
    char out[64];
    size_t kl;
    /* not the canonical spelling: refused, so one store key has one bucket key */
    assert_int_equal(splm_key_decode("=61", out, sizeof out, &kl), -1);
    assert_int_equal(splm_key_decode("a=2e", out, sizeof out, &kl), -1); /* lower-case hex */
    assert_int_equal(splm_key_decode("a=2", out, sizeof out, &kl), -1);  /* cut short */
    assert_int_equal(splm_key_decode("a=zz", out, sizeof out, &kl), -1);
    assert_int_equal(splm_key_decode("a=00", out, sizeof out, &kl), -1); /* NUL */
    assert_int_equal(splm_key_decode("a*", out, sizeof out, &kl), -1);
    assert_int_equal(splm_key_decode("", out, sizeof out, &kl), -1);
    assert_int_equal(splm_key_decode("abcdef", out, 4, &kl), -1); /* longer than cap */
    assert_int_equal(splm_key_decode("abc", out, 4, &kl), 0);
}

static void test_hashes(void **state)
{
    (void)state;
    uint64_t a = splm_kv_hash(1, 0, 0, "abc", 3), b = splm_kv_hash(1, 0, 0, "abd", 3);
    assert_true(a != b);
    assert_true(splm_kv_hash(1, 0, 1, "abc", 3) != a);
    assert_true(splm_kv_hash(2, 0, 0, "abc", 3) != a);
    assert_true(splm_kv_hash(1, 0, 0, "abc", 3) == a);
    float v[2] = {1, 2};
    assert_true(splm_vec_hash(NULL, 0) == 0);
    assert_true(splm_vec_hash(v, 2) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),  cmocka_unit_test(test_empty_value_no_vector),
        cmocka_unit_test(test_foreign_refused), cmocka_unit_test(test_keys),
        cmocka_unit_test(test_hashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
