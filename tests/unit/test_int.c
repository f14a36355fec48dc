/*
 * test_int.c - 64-bit integer operations: add/inc/dec and AND/OR/XOR/NOT,
 * creation of absent keys, type checks, wrap-around, and a threaded counter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splinter.h"
#include "unit_common.h"

static int setup_store(void **state)
{
    return unit_setup_memfd(state, 64, 16, 32);
}

/* The stored 8 bytes, read back with spl_get. */
static uint64_t raw_of(spl_store *s, const char *key)
{
    unsigned char buf[32];
    size_t len = 0;
    CHECK_RC(spl_get(s, key, buf, sizeof buf, &len), 0);
    assert_int_equal(len, 8);
    uint64_t v;
    memcpy(&v, buf, 8);
    return v;
}

static void test_inc_absent_creates_int64(void **state)
{
    spl_store *s = *state;
    int64_t out = -1;
    CHECK_RC(spl_inc(s, "c", &out), 0);
    assert_int_equal(out, 1);
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "c", &m), 0);
    assert_int_equal(m.type, SPL_T_INT64);
    assert_int_equal(m.val_len, 8);
    assert_int_equal(raw_of(s, "c"), 1);

    CHECK_RC(spl_dec(s, "d", &out), 0);
    assert_int_equal(out, -1);
    assert_int_equal((int64_t)raw_of(s, "d"), -1);

    CHECK_RC(spl_add(s, "a", 42, &out), 0);
    assert_int_equal(out, 42);

    uint64_t u = 99;
    CHECK_RC(spl_int(s, "o", SPL_OP_OR, 5, &u), 0);
    assert_int_equal(u, 5);
    CHECK_RC(spl_int(s, "x", SPL_OP_AND, 5, &u), 0);
    assert_int_equal(u, 0);
    CHECK_RC(spl_int(s, "n", SPL_OP_NOT, 0, &u), 0);
    assert_int_equal(u, ~0ull);
    CHECK_RC(spl_meta_get(s, "n", &m), 0);
    assert_int_equal(m.type, SPL_T_INT64);
    CHECK_RC(spl_exists(s, "x"), 1); /* created even though the result is 0 */
}

static void test_add_inc_dec(void **state)
{
    spl_store *s = *state;
    int64_t out = 0;
    CHECK_RC(spl_add(s, "k", 10, &out), 0);
    assert_int_equal(out, 10);
    CHECK_RC(spl_add(s, "k", -20, &out), 0);
    assert_int_equal(out, -10);
    CHECK_RC(spl_inc(s, "k", &out), 0);
    assert_int_equal(out, -9);
    CHECK_RC(spl_dec(s, "k", &out), 0);
    CHECK_RC(spl_dec(s, "k", &out), 0);
    assert_int_equal(out, -11);
    CHECK_RC(spl_add(s, "k", 0, &out), 0);
    assert_int_equal(out, -11);
    CHECK_RC(spl_inc(s, "k", NULL), 0); /* out may be NULL */
    CHECK_RC(spl_add(s, "k", 5, NULL), 0);
    CHECK_RC(spl_int(s, "k", SPL_OP_ADD, 1, NULL), 0);
    assert_int_equal((int64_t)raw_of(s, "k"), -4);
    uint64_t u;
    CHECK_RC(spl_int(s, "k", SPL_OP_ADD, (uint64_t)-6, &u), 0);
    assert_int_equal((int64_t)u, -10);
}

static void test_bit_ops(void **state)
{
    spl_store *s = *state;
    uint64_t u = 0;
    CHECK_RC(spl_add(s, "b", 12, NULL), 0); /* 0b1100 */
    CHECK_RC(spl_int(s, "b", SPL_OP_AND, 10, &u), 0);
    assert_int_equal(u, 8);
    CHECK_RC(spl_int(s, "b", SPL_OP_OR, 3, &u), 0);
    assert_int_equal(u, 11);
    CHECK_RC(spl_int(s, "b", SPL_OP_XOR, 0xff, &u), 0);
    assert_int_equal(u, 0xf4);
    CHECK_RC(spl_int(s, "b", SPL_OP_NOT, 12345, &u), 0); /* operand ignored */
    assert_int_equal(u, ~0xf4ull);
    CHECK_RC(spl_int(s, "b", SPL_OP_NOT, 0, &u), 0);
    assert_int_equal(u, 0xf4);
    CHECK_RC(spl_int(s, "b", SPL_OP_XOR, 0xf4, &u), 0);
    assert_int_equal(u, 0);
    CHECK_RC(spl_int(s, "b", SPL_OP_OR, 0x8000000000000001ull, &u), 0);
    assert_int_equal(u, 0x8000000000000001ull);
    assert_int_equal(raw_of(s, "b"), 0x8000000000000001ull);
    CHECK_RC(spl_int(s, "b", SPL_OP_AND, 0, &u), 0);
    assert_int_equal(u, 0);

    /* Invalid op: EINVAL, nothing changes. */
    CHECK_RC(spl_int(s, "b", SPL_OP_OR, 0x77, NULL), 0);
    spl_meta m0, m1;
    CHECK_RC(spl_meta_get(s, "b", &m0), 0);
    CHECK_RC(spl_int(s, "b", SPL__OP_COUNT, 1, &u), SPL_EINVAL);
    CHECK_RC(spl_int(s, "b", (spl_int_op)99, 1, &u), SPL_EINVAL);
    CHECK_RC(spl_int(s, "b", (spl_int_op)-1, 1, &u), SPL_EINVAL);
    CHECK_RC(spl_meta_get(s, "b", &m1), 0);
    assert_int_equal(m1.epoch, m0.epoch);
    assert_int_equal(raw_of(s, "b"), 0x77);
    CHECK_RC(spl_int(s, "nb", SPL__OP_COUNT, 1, &u), SPL_EINVAL);
    CHECK_RC(spl_exists(s, "nb"), 0); /* invalid op creates nothing */
}

static void test_wrong_type(void **state)
{
    spl_store *s = *state;
    int64_t out = 0;
    spl_meta m0, m1;

    CHECK_RC(spl_set(s, "t", "hello", 5), 0); /* 5 bytes */
    CHECK_RC(spl_type_set(s, "t", SPL_T_TEXT), 0);
    CHECK_RC(spl_meta_get(s, "t", &m0), 0);
    CHECK_RC(spl_inc(s, "t", &out), SPL_ETYPE);
    CHECK_RC(spl_add(s, "t", 3, &out), SPL_ETYPE);
    CHECK_RC(spl_int(s, "t", SPL_OP_OR, 1, NULL), SPL_ETYPE);
    CHECK_RC(spl_meta_get(s, "t", &m1), 0);
    assert_int_equal(m1.epoch, m0.epoch);
    char buf[8];
    size_t len = 0;
    CHECK_RC(spl_get(s, "t", buf, sizeof buf, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    /* 5 bytes typed INT64 is still the wrong size. */
    CHECK_RC(spl_type_set(s, "t", SPL_T_INT64), 0);
    CHECK_RC(spl_inc(s, "t", &out), SPL_ETYPE);

    /* 8 bytes of type VOID (a plain set) or JSON: wrong type. */
    uint64_t eight = 40;
    CHECK_RC(spl_set(s, "e", &eight, 8), 0);
    CHECK_RC(spl_inc(s, "e", &out), SPL_ETYPE);
    CHECK_RC(spl_type_set(s, "e", SPL_T_JSON), 0);
    CHECK_RC(spl_inc(s, "e", &out), SPL_ETYPE);
    assert_int_equal(raw_of(s, "e"), 40);
    /* Typed INT64 or UINT64 it works. */
    CHECK_RC(spl_type_set(s, "e", SPL_T_INT64), 0);
    CHECK_RC(spl_inc(s, "e", &out), 0);
    assert_int_equal(out, 41);
    CHECK_RC(spl_type_set(s, "e", SPL_T_UINT64), 0);
    CHECK_RC(spl_inc(s, "e", &out), 0);
    assert_int_equal(out, 42);
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "e", &m), 0);
    assert_int_equal(m.type, SPL_T_UINT64); /* the op keeps the type */

    /* An empty value and a 16-byte value of type INT64. */
    CHECK_RC(spl_set(s, "z", "", 0), 0);
    CHECK_RC(spl_type_set(s, "z", SPL_T_INT64), 0);
    CHECK_RC(spl_inc(s, "z", &out), SPL_ETYPE);
    CHECK_RC(spl_set(s, "w", "0123456789abcdef", 16), 0);
    CHECK_RC(spl_type_set(s, "w", SPL_T_INT64), 0);
    CHECK_RC(spl_inc(s, "w", &out), SPL_ETYPE);
    /* An int key overwritten with text by spl_set keeps INT64 but is 4 bytes. */
    CHECK_RC(spl_inc(s, "i", &out), 0);
    CHECK_RC(spl_set(s, "i", "text", 4), 0);
    CHECK_RC(spl_inc(s, "i", &out), SPL_ETYPE);
}

static void test_wraps(void **state)
{
    spl_store *s = *state;
    int64_t out = 0;
    CHECK_RC(spl_add(s, "w", INT64_MAX, &out), 0);
    assert_true(out == INT64_MAX);
    CHECK_RC(spl_inc(s, "w", &out), 0);
    assert_true(out == INT64_MIN);
    CHECK_RC(spl_dec(s, "w", &out), 0);
    assert_true(out == INT64_MAX);
    CHECK_RC(spl_add(s, "w", INT64_MIN, &out), 0);
    assert_int_equal(out, -1);

    uint64_t max = UINT64_MAX, u = 7;
    CHECK_RC(spl_set(s, "u", &max, 8), 0);
    CHECK_RC(spl_type_set(s, "u", SPL_T_UINT64), 0);
    CHECK_RC(spl_int(s, "u", SPL_OP_ADD, 1, &u), 0);
    assert_int_equal(u, 0);
    CHECK_RC(spl_dec(s, "u", NULL), 0);
    assert_int_equal(raw_of(s, "u"), UINT64_MAX);
}

static void test_int_moves_epoch(void **state)
{
    spl_store *s = *state;
    spl_meta a, b;
    CHECK_RC(spl_inc(s, "e", NULL), 0);
    CHECK_RC(spl_meta_get(s, "e", &a), 0);
    CHECK_RC(spl_add(s, "e", 0, NULL), 0);
    CHECK_RC(spl_meta_get(s, "e", &b), 0);
    assert_true(b.epoch > a.epoch);
    assert_int_equal(b.epoch & 1, 0);
    spl_view v;
    CHECK_RC(spl_view_get(s, "e", &v), 0);
    CHECK_RC(spl_inc(s, "e", NULL), 0);
    CHECK_RC(spl_view_valid(s, &v), SPL_ESTALE);
}

/* ---------------------------------------------------------------- threads */

struct thr_arg {
    spl_store *s;
    const char *key;
    long n;
    int errors;
    int nonmono;
};

static void *inc_thread(void *p)
{
    struct thr_arg *a = p;
    int64_t prev = 0, out = 0;
    for (long i = 0; i < a->n; i++) {
        if (spl_inc(a->s, a->key, &out) != 0)
            a->errors++;
        else if (out <= prev)
            a->nonmono++; /* a thread's own results only grow */
        prev = out;
    }
    return NULL;
}

static void run_counter(spl_store *const *handles, int nthreads, long per)
{
    pthread_t t[8];
    struct thr_arg a[8];
    for (int i = 0; i < nthreads; i++) {
        a[i] = (struct thr_arg){handles[i], "ctr", per, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, inc_thread, &a[i]), 0);
    }
    for (int i = 0; i < nthreads; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(a[i].errors, 0);
        assert_int_equal(a[i].nonmono, 0);
    }
    assert_int_equal((int64_t)raw_of(handles[0], "ctr"), (int64_t)nthreads * per);
}

static void test_threaded_counter_one_handle(void **state)
{
    spl_store *s = *state;
    long per = (long)(100000 * test_scale());
    spl_store *h[4] = {s, s, s, s};
    run_counter(h, 4, per);
}

static void test_threaded_counter_own_handles(void **state)
{
    spl_store *s = *state;
    long per = (long)(25000 * test_scale());
    spl_store *h[4] = {s, NULL, NULL, NULL};
    for (int i = 1; i < 4; i++)
        CHECK_RC(spl_open_fd(&h[i], spl_fd(s), 0), 0);
    run_counter(h, 4, per);
    for (int i = 1; i < 4; i++)
        spl_close(h[i]);
}

/* spl_int_try and spl_int_try_k: spl_int's results when nothing is busy
 * (a busy slot: test_kv.c, test_busy_slot_is_eagain). */
static void test_int_try(void **state)
{
    spl_store *s = *state;
    uint64_t out = 0;
    CHECK_RC(spl_int_try(s, "t", SPL_OP_ADD, 5, &out), 0); /* absent: created as INT64 0 */
    assert_int_equal(out, 5);
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "t", &m), 0);
    assert_int_equal(m.type, SPL_T_INT64);
    CHECK_RC(spl_int_try(s, "t", SPL_OP_ADD, (uint64_t)-7, &out), 0);
    assert_int_equal((int64_t)out, -2);
    CHECK_RC(spl_int_try(s, "t", SPL_OP_NOT, 0, NULL), 0);
    assert_int_equal(raw_of(s, "t"), 1u);
    spl_key pk;
    CHECK_RC(spl_key_prep(s, "t", &pk), 0);
    CHECK_RC(spl_int_try_k(s, &pk, SPL_OP_OR, 6, &out), 0);
    assert_int_equal(out, 7u);
    CHECK_RC(spl_int_try_k(s, &pk, SPL_OP_AND, 3, &out), 0);
    assert_int_equal(out, 3u);
    CHECK_RC(spl_key_prep(s, "u", &pk), 0);
    CHECK_RC(spl_int_try_k(s, &pk, SPL_OP_XOR, 9, &out), 0); /* absent, prepared */
    assert_int_equal(raw_of(s, "u"), 9u);

    /* errors as spl_int's, nothing changed */
    CHECK_RC(spl_set(s, "txt", "hello", 5), 0);
    CHECK_RC(spl_int_try(s, "txt", SPL_OP_ADD, 1, &out), SPL_ETYPE);
    CHECK_RC(spl_int_try(s, "t", SPL__OP_COUNT, 1, &out), SPL_EINVAL);
    CHECK_RC(spl_int_try(s, "", SPL_OP_ADD, 1, &out), SPL_EKEYLEN);
    CHECK_RC(spl_int_try(s, NULL, SPL_OP_ADD, 1, &out), SPL_EINVAL);
    CHECK_RC(spl_int_try_k(s, NULL, SPL_OP_ADD, 1, &out), SPL_EINVAL);
    pk.seed ^= 1; /* prepared for another store */
    CHECK_RC(spl_int_try_k(s, &pk, SPL_OP_ADD, 1, &out), SPL_EINVAL);
    assert_int_equal(raw_of(s, "t"), 3u);
    assert_int_equal(raw_of(s, "u"), 9u);

    /* a read-only handle */
    spl_store *r = NULL;
    CHECK_RC(spl_open_fd(&r, spl_fd(s), SPL_O_RDONLY), 0);
    CHECK_RC(spl_int_try(r, "t", SPL_OP_ADD, 1, &out), SPL_EROFS);
    CHECK_RC(spl_int_wait(r, "t", SPL_OP_ADD, 1, &out, 1000), SPL_EROFS);
    spl_close(r);
}

/* spl_int_wait, spl_int_wait_k: spl_int's results and errors (their wait
 * on a busy slot: test_kv.c) */
static void test_int_wait(void **state)
{
    spl_store *s = *state;
    uint64_t out = 0;
    CHECK_RC(spl_int_wait(s, "w", SPL_OP_ADD, 5, &out, 1000), 0); /* absent: created */
    assert_int_equal(out, 5);
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "w", &m), 0);
    assert_int_equal(m.type, SPL_T_INT64);
    CHECK_RC(spl_int_wait(s, "w", SPL_OP_XOR, 6, &out, 0), 0);
    assert_int_equal(out, 3u);
    spl_key pk;
    CHECK_RC(spl_key_prep(s, "w", &pk), 0);
    CHECK_RC(spl_int_wait_k(s, &pk, SPL_OP_ADD, (uint64_t)-10, &out, 1000), 0);
    assert_int_equal((int64_t)out, -7);
    CHECK_RC(spl_key_prep(s, "x", &pk), 0);
    CHECK_RC(spl_int_wait_k(s, &pk, SPL_OP_NOT, 0, NULL, 1000), 0); /* absent, prepared */
    assert_int_equal(raw_of(s, "x"), ~0ull);

    CHECK_RC(spl_set(s, "txt", "hello", 5), 0);
    CHECK_RC(spl_int_wait(s, "txt", SPL_OP_ADD, 1, &out, 1000), SPL_ETYPE);
    CHECK_RC(spl_int_wait(s, "w", SPL__OP_COUNT, 1, &out, 1000), SPL_EINVAL);
    CHECK_RC(spl_int_wait(s, "", SPL_OP_ADD, 1, &out, 1000), SPL_EKEYLEN);
    CHECK_RC(spl_int_wait(s, NULL, SPL_OP_ADD, 1, &out, 1000), SPL_EINVAL);
    CHECK_RC(spl_int_wait_k(s, NULL, SPL_OP_ADD, 1, &out, 1000), SPL_EINVAL);
    pk.seed ^= 1;
    CHECK_RC(spl_int_wait_k(s, &pk, SPL_OP_ADD, 1, &out, 1000), SPL_EINVAL);
    assert_int_equal(raw_of(s, "w"), (uint64_t)-7);
    assert_int_equal(raw_of(s, "x"), ~0ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inc_absent_creates_int64, setup_store,
                                        teardown_store),
        cmocka_unit_test_setup_teardown(test_add_inc_dec, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_bit_ops, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_wrong_type, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_wraps, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_int_moves_epoch, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_int_try, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_int_wait, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_threaded_counter_one_handle, setup_store,
                                        teardown_store),
        cmocka_unit_test_setup_teardown(test_threaded_counter_own_handles, setup_store,
                                        teardown_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
