/*
 * test_errors.c - the error-code table: every SPL_ERRNO_MAP entry has its own
 * text and its own symbolic name, and unknown codes are described safely.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "splinter.h"

struct err_row {
    const char *name;
    int value;
    const char *text;
};

#define ROW(n, v, t) {#n, (v), (t)},
static const struct err_row rows[] = {SPL_ERRNO_MAP(ROW)};
#undef ROW
#define NROWS (sizeof rows / sizeof rows[0])

/* The enum carries exactly the values of the map. */
#define CHECK_ENUM(n, v, t) _Static_assert((int)(n) == (v), #n " value");
SPL_ERRNO_MAP(CHECK_ENUM)
#undef CHECK_ENUM

static void test_names_match_symbols(void **state)
{
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        const char *nm = spl_err_name(rows[i].value);
        assert_non_null(nm);
        if (strcmp(nm, rows[i].name) != 0)
            fail_msg("spl_err_name(%d) = \"%s\", expected \"%s\"", rows[i].value, nm,
                     rows[i].name);
    }
}

static void test_texts_match_map_and_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        const char *t = spl_strerror(rows[i].value);
        assert_non_null(t);
        assert_true(t[0] != '\0');
        if (strcmp(t, rows[i].text) != 0)
            fail_msg("spl_strerror(%s) = \"%s\", expected \"%s\"", rows[i].name, t,
                     rows[i].text);
        for (size_t j = 0; j < i; j++) {
            const char *u = spl_strerror(rows[j].value);
            if (strcmp(t, u) == 0)
                fail_msg("%s and %s share the text \"%s\"", rows[i].name, rows[j].name, t);
        }
    }
}

static void test_values_distinct_and_bands(void **state)
{
    (void)state;
    size_t nlib = 0;
    for (size_t i = 0; i < NROWS; i++) {
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(rows[i].value, rows[j].value);
        if (rows[i].value <= -1000)
            nlib++;
        else
            assert_true(rows[i].value <= 0 && rows[i].value > -4096); /* -errno band */
    }
    assert_true(nlib >= 16);
    /* The OS-level codes are the matching negative errno values. */
    assert_int_equal(SPL_EAGAIN, -EAGAIN);
    assert_int_equal(SPL_ENOENT, -ENOENT);
    assert_int_equal(SPL_EEXIST, -EEXIST);
    assert_int_equal(SPL_EINVAL, -EINVAL);
    assert_int_equal(SPL_ENOMEM, -ENOMEM);
    assert_int_equal(SPL_EACCES, -EACCES);
    assert_int_equal(SPL_EROFS, -EROFS);
    assert_int_equal(SPL_E2BIG, -E2BIG);
    assert_int_equal(SPL_ENOBUFS, -ENOBUFS);
    assert_int_equal(SPL_ETIMEDOUT, -ETIMEDOUT);
}

static void test_unknown_codes(void **state)
{
    (void)state;
    int lowest = 0; /* the last library code; the one below it is unknown */
    for (size_t i = 0; i < NROWS; i++)
        if (rows[i].value < lowest)
            lowest = rows[i].value;
    const int unknown[] = {-999, lowest - 1, -1100, -5000, 1, 7, 12345, -2147483647 - 1,
                           2147483647};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *t = spl_strerror(unknown[i]);
        const char *n = spl_err_name(unknown[i]);
        assert_non_null(t);
        assert_non_null(n);
        assert_true(t[0] != '\0');
        /* Below the errno band nothing is known: the documented "SPL_E?". */
        if (unknown[i] < lowest || unknown[i] == -999)
            assert_string_equal(n, "SPL_E?");
    }
    /* Any -errno gets a text, e.g. EIO which is not in the map. */
    const char *t = spl_strerror(-EIO);
    assert_non_null(t);
    assert_true(t[0] != '\0');
    assert_non_null(spl_err_name(-EIO));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_match_symbols),
        cmocka_unit_test(test_texts_match_map_and_distinct),
        cmocka_unit_test(test_values_distinct_and_bands),
        cmocka_unit_test(test_unknown_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
