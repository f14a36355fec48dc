/*
 * test_view.c - zero-copy reads: spl_view_get / spl_view_valid and
 * spl_read_with.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "splinter.h"
#include "unit_common.h"

static int setup_store(void **state)
{
    return unit_setup_memfd(state, 32, 16, 64);
}

static void test_view_basic(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_set(s, "k", "hello world", 11), 0);
    CHECK_RC(spl_type_set(s, "k", SPL_T_TEXT), 0);
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "k", &m), 0);
    spl_view v;
    memset(&v, 0, sizeof v);
    CHECK_RC(spl_view_get(s, "k", &v), 0);
    assert_non_null(v.data);
    assert_int_equal(v.len, 11);
    assert_memory_equal(v.data, "hello world", 11);
    assert_int_equal(v.epoch, m.epoch);
    assert_int_equal(v.epoch & 1, 0);
    assert_int_equal(v.slot, m.slot);
    assert_int_equal(v.type, SPL_T_TEXT);
    CHECK_RC(spl_view_valid(s, &v), 0);
    CHECK_RC(spl_view_valid(s, &v), 0); /* validating does not consume */
    /* Other keys' writes leave the view valid. */
    CHECK_RC(spl_set(s, "other", "o", 1), 0);
    CHECK_RC(spl_unset(s, "other"), 0);
    CHECK_RC(spl_view_valid(s, &v), 0);
    assert_memory_equal(v.data, "hello world", 11);
    /* Reads leave it valid too. */
    char buf[16];
    size_t len;
    CHECK_RC(spl_get(s, "k", buf, sizeof buf, &len), 0);
    spl_view v2;
    CHECK_RC(spl_view_get(s, "k", &v2), 0);
    CHECK_RC(spl_view_valid(s, &v), 0);
    assert_true(v2.data == v.data);
}

static void test_view_stale_after_writes(void **state)
{
    spl_store *s = *state;
    spl_view v;
    CHECK_RC(spl_set(s, "k", "first", 5), 0);

    CHECK_RC(spl_view_get(s, "k", &v), 0);
    CHECK_RC(spl_set(s, "k", "second", 6), 0);
    CHECK_RC(spl_view_valid(s, &v), SPL_ESTALE);
    CHECK_RC(spl_view_valid(s, &v), SPL_ESTALE); /* stays stale */
    CHECK_RC(spl_view_get(s, "k", &v), 0);
    assert_int_equal(v.len, 6);
    assert_memory_equal(v.data, "second", 6);
    CHECK_RC(spl_view_valid(s, &v), 0);

    /* Same bytes rewritten: still a change. */
    CHECK_RC(spl_set(s, "k", "second", 6), 0);
    CHECK_RC(spl_view_valid(s, &v), SPL_ESTALE);

    /* Metadata writes move the epoch too. */
    CHECK_RC(spl_view_get(s, "k", &v), 0);
    CHECK_RC(spl_type_set(s, "k", SPL_T_JSON), 0);
    CHECK_RC(spl_view_valid(s, &v), SPL_ESTALE);
    CHECK_RC(spl_view_get(s, "k", &v), 0);
    CHECK_RC(spl_labels_set(s, "k", 2), 0);
    CHECK_RC(spl_view_valid(s, &v), SPL_ESTALE);
    CHECK_RC(spl_view_get(s, "k", &v), 0);
    CHECK_RC(spl_touch(s, "k"), 0);
    CHECK_RC(spl_view_valid(s, &v), SPL_ESTALE);
    CHECK_RC(spl_view_get(s, "k", &v), 0);
    CHECK_RC(spl_append(s, "k", "!", 1), 0);
    CHECK_RC(spl_view_valid(s, &v), SPL_ESTALE);

    /* Delete, and delete + re-create with the same bytes. */
    CHECK_RC(spl_view_get(s, "k", &v), 0);
    CHECK_RC(spl_unset(s, "k"), 0);
    CHECK_RC(spl_view_valid(s, &v), SPL_ESTALE);
    CHECK_RC(spl_set(s, "k", "second!", 7), 0);
    CHECK_RC(spl_view_valid(s, &v), SPL_ESTALE);

    /* A view taken by cas-epoch works with cas. */
    CHECK_RC(spl_view_get(s, "k", &v), 0);
    CHECK_RC(spl_cas(s, "k", v.epoch, "third", 5), 0);
    CHECK_RC(spl_view_valid(s, &v), SPL_ESTALE);
}

static void test_view_errors(void **state)
{
    spl_store *s = *state;
    spl_view v;
    CHECK_RC(spl_view_get(s, "missing", &v), SPL_ENOENT);
    CHECK_RC(spl_view_get(s, "", &v), SPL_EKEYLEN);
    CHECK_RC(spl_view_get(s, "0123456789abcdefX", &v), SPL_EKEYLEN); /* 17 > 16 */
    CHECK_RC(spl_set(s, "e", "", 0), 0);
    CHECK_RC(spl_view_get(s, "e", &v), 0);
    assert_int_equal(v.len, 0);
    CHECK_RC(spl_view_valid(s, &v), 0);
    /* A full-size value. */
    char big[64];
    for (int i = 0; i < 64; i++)
        big[i] = (char)(i ^ 0x5a);
    CHECK_RC(spl_set(s, "big", big, 64), 0);
    CHECK_RC(spl_view_get(s, "big", &v), 0);
    assert_int_equal(v.len, 64);
    assert_memory_equal(v.data, big, 64);
    CHECK_RC(spl_view_valid(s, &v), 0);
}

struct rw_ud {
    const char *want;
    size_t want_len;
    int calls;
    int ret;
    int mismatch;
};

static int rw_fn(const void *data, size_t len, void *ud)
{
    struct rw_ud *u = ud;
    u->calls++;
    if (len != u->want_len || (len && memcmp(data, u->want, len) != 0))
        u->mismatch = 1;
    return u->ret;
}

static void test_read_with(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_set(s, "r", "payload-bytes", 13), 0);
    struct rw_ud u = {"payload-bytes", 13, 0, 42, 0};
    CHECK_RC(spl_read_with(s, "r", rw_fn, &u), 42);
    assert_int_equal(u.calls, 1);
    assert_int_equal(u.mismatch, 0);

    u.calls = 0;
    u.ret = 0;
    CHECK_RC(spl_read_with(s, "r", rw_fn, &u), 0);
    assert_int_equal(u.calls, 1);

    u.calls = 0;
    u.ret = 7;
    CHECK_RC(spl_set(s, "r", "changed", 7), 0);
    u.want = "changed";
    u.want_len = 7;
    CHECK_RC(spl_read_with(s, "r", rw_fn, &u), 7);
    assert_int_equal(u.calls, 1);
    assert_int_equal(u.mismatch, 0);

    CHECK_RC(spl_set(s, "z", "", 0), 0);
    struct rw_ud z = {"", 0, 0, 5, 0};
    CHECK_RC(spl_read_with(s, "z", rw_fn, &z), 5);
    assert_int_equal(z.calls, 1);
    assert_int_equal(z.mismatch, 0);

    u.calls = 0;
    CHECK_RC(spl_read_with(s, "missing", rw_fn, &u), SPL_ENOENT);
    CHECK_RC(spl_read_with(s, "", rw_fn, &u), SPL_EKEYLEN);
    assert_int_equal(u.calls, 0); /* fn never ran */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_view_basic, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_view_stale_after_writes, setup_store,
                                        teardown_store),
        cmocka_unit_test_setup_teardown(test_view_errors, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_read_with, setup_store, teardown_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
