/*
 * test_meta.c - types, user flags, labels, times, and spl_foreach filters.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "splinter.h"
#include "unit_common.h"

/* ---------------------------------------------------------------- helpers */

static int setup_store(void **state)
{
    *state = mk(64, 32, 64);
    return 0;
}

static spl_meta meta_of(spl_store *s, const char *key)
{
    spl_meta m;
    memset(&m, 0, sizeof m);
    CHECK_RC(spl_meta_get(s, key, &m), 0);
    return m;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Coarse clocks may lag by a tick or two. */
#define SLACK_NS (50ull * 1000 * 1000)

/* ---------------------------------------------------------------- types */

static void test_type_names_round_trip(void **state)
{
    (void)state;
    assert_string_equal(spl_type_name(SPL_T_INT64), "int64");
    CHECK_RC(spl_type_parse("int64"), SPL_T_INT64);
    for (int t = 0; t < SPL__T_COUNT; t++) {
        const char *n = spl_type_name((spl_type)t);
        assert_non_null(n);
        assert_true(n[0] != '\0');
        assert_string_not_equal(n, "?");
        for (const char *p = n; *p; p++)
            assert_false(isupper((unsigned char)*p));
        CHECK_RC(spl_type_parse(n), t);
        for (int u = 0; u < t; u++)
            assert_string_not_equal(n, spl_type_name((spl_type)u));
    }
    assert_string_equal(spl_type_name(SPL__T_COUNT), "?");
    assert_string_equal(spl_type_name((spl_type)200), "?");
    assert_string_equal(spl_type_name((spl_type)-1), "?");
    CHECK_RC(spl_type_parse("nope"), SPL_EINVAL);
    CHECK_RC(spl_type_parse(""), SPL_EINVAL);
    CHECK_RC(spl_type_parse("?"), SPL_EINVAL);
    CHECK_RC(spl_type_parse("int64x"), SPL_EINVAL);
    CHECK_RC(spl_type_parse("int6"), SPL_EINVAL);
}

static void test_type_set_get(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_set(s, "t", "{}", 2), 0);
    spl_meta m = meta_of(s, "t");
    assert_int_equal(m.type, SPL_T_VOID);
    for (int t = 0; t < SPL__T_COUNT; t++) {
        uint64_t e = m.epoch;
        CHECK_RC(spl_type_set(s, "t", (spl_type)t), 0);
        m = meta_of(s, "t");
        assert_int_equal(m.type, t);
        assert_true(m.epoch > e);
    }
    CHECK_RC(spl_type_set(s, "t", SPL_T_JSON), 0);
    m = meta_of(s, "t");
    spl_view v;
    CHECK_RC(spl_view_get(s, "t", &v), 0);
    assert_int_equal(v.type, SPL_T_JSON);
    /* Invalid types: EINVAL and nothing changes. */
    CHECK_RC(spl_type_set(s, "t", SPL__T_COUNT), SPL_EINVAL);
    CHECK_RC(spl_type_set(s, "t", (spl_type)255), SPL_EINVAL);
    CHECK_RC(spl_type_set(s, "t", (spl_type)-1), SPL_EINVAL);
    spl_meta m2 = meta_of(s, "t");
    assert_int_equal(m2.type, SPL_T_JSON);
    assert_int_equal(m2.epoch, m.epoch);
    CHECK_RC(spl_type_set(s, "missing", SPL_T_TEXT), SPL_ENOENT);
    CHECK_RC(spl_exists(s, "missing"), 0);
    /* The value is untouched by type changes. */
    char buf[8];
    size_t len = 0;
    CHECK_RC(spl_get(s, "t", buf, sizeof buf, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "{}", 2);
}

static void test_user_flags(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_set(s, "f", "x", 1), 0);
    assert_int_equal(meta_of(s, "f").user_flags, 0);
    CHECK_RC(spl_flags_set(s, "f", 0xa5), 0);
    assert_int_equal(meta_of(s, "f").user_flags, 0xa5);
    CHECK_RC(spl_flags_set(s, "f", 0x01), 0); /* set, not OR */
    assert_int_equal(meta_of(s, "f").user_flags, 0x01);
    CHECK_RC(spl_flags_set(s, "f", 0xff), 0);
    assert_int_equal(meta_of(s, "f").user_flags, 0xff);
    CHECK_RC(spl_flags_set(s, "f", 0), 0);
    assert_int_equal(meta_of(s, "f").user_flags, 0);
    CHECK_RC(spl_flags_set(s, "missing", 1), SPL_ENOENT);
    /* Flags do not leak into the type or labels. */
    CHECK_RC(spl_flags_set(s, "f", 0x7f), 0);
    spl_meta m = meta_of(s, "f");
    assert_int_equal(m.type, SPL_T_VOID);
    assert_int_equal(m.labels, 0);
}

static void test_labels(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_set(s, "l", "x", 1), 0);
    assert_int_equal(meta_of(s, "l").labels, 0);
    CHECK_RC(spl_labels_set(s, "l", 0x3), 0);
    assert_int_equal(meta_of(s, "l").labels, 0x3);
    CHECK_RC(spl_labels_set(s, "l", 0x8), 0); /* OR in */
    assert_int_equal(meta_of(s, "l").labels, 0xb);
    CHECK_RC(spl_labels_set(s, "l", 0x8000000000000000ull), 0);
    assert_int_equal(meta_of(s, "l").labels, 0x800000000000000bull);
    CHECK_RC(spl_labels_clear(s, "l", 0x1), 0); /* AND out */
    assert_int_equal(meta_of(s, "l").labels, 0x800000000000000aull);
    CHECK_RC(spl_labels_clear(s, "l", 0x4), 0); /* not set: no change */
    assert_int_equal(meta_of(s, "l").labels, 0x800000000000000aull);
    CHECK_RC(spl_labels_set(s, "l", 0), 0);
    assert_int_equal(meta_of(s, "l").labels, 0x800000000000000aull);
    CHECK_RC(spl_labels_clear(s, "l", ~0ull), 0);
    assert_int_equal(meta_of(s, "l").labels, 0);
    CHECK_RC(spl_labels_set(s, "l", ~0ull), 0);
    assert_int_equal(meta_of(s, "l").labels, ~0ull);
    CHECK_RC(spl_labels_set(s, "missing", 1), SPL_ENOENT);
    CHECK_RC(spl_labels_clear(s, "missing", 1), SPL_ENOENT);
}

/* ---------------------------------------------------------------- times */

static void test_touch_atime(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_set(s, "a", "x", 1), 0);
    spl_meta m0 = meta_of(s, "a");
    sleep_ms(20);
    /* Reads never write: atime and epoch stay. */
    char buf[4];
    size_t len;
    CHECK_RC(spl_get(s, "a", buf, sizeof buf, &len), 0);
    CHECK_RC(spl_exists(s, "a"), 1);
    spl_meta m1 = meta_of(s, "a");
    assert_int_equal(m1.atime_ns, m0.atime_ns);
    assert_int_equal(m1.epoch, m0.epoch);

    uint64_t t0 = now_ns();
    CHECK_RC(spl_touch(s, "a"), 0);
    uint64_t t1 = now_ns();
    spl_meta m2 = meta_of(s, "a");
    assert_true(m2.atime_ns > m0.atime_ns);
    assert_true(m2.atime_ns + SLACK_NS >= t0);
    assert_true(m2.atime_ns <= t1 + SLACK_NS);
    assert_true(m2.epoch > m1.epoch);
    assert_int_equal(m2.ctime_ns, m0.ctime_ns);
    /* The value is untouched. */
    CHECK_RC(spl_get(s, "a", buf, sizeof buf, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 'x');

    sleep_ms(20);
    CHECK_RC(spl_touch(s, "a"), 0);
    spl_meta m3 = meta_of(s, "a");
    assert_true(m3.atime_ns > m2.atime_ns);
    CHECK_RC(spl_touch(s, "missing"), SPL_ENOENT);
}

static void test_mtime_ctime(void **state)
{
    spl_store *s = *state;
    uint64_t t0 = now_ns();
    CHECK_RC(spl_set(s, "m", "v1", 2), 0);
    uint64_t t1 = now_ns();
    spl_meta a = meta_of(s, "m");
    assert_true(a.ctime_ns + SLACK_NS >= t0 && a.ctime_ns <= t1 + SLACK_NS);
    assert_true(a.mtime_ns + SLACK_NS >= t0 && a.mtime_ns <= t1 + SLACK_NS);
    assert_int_equal(a.val_len, 2);
    assert_true(a.slot < 64);

    sleep_ms(20);
    CHECK_RC(spl_set(s, "m", "v22", 3), 0);
    spl_meta b = meta_of(s, "m");
    assert_true(b.mtime_ns > a.mtime_ns);
    assert_int_equal(b.ctime_ns, a.ctime_ns);
    assert_int_equal(b.val_len, 3);
    assert_int_equal(b.slot, a.slot);

    sleep_ms(20);
    CHECK_RC(spl_append(s, "m", "3", 1), 0);
    spl_meta c = meta_of(s, "m");
    assert_true(c.mtime_ns > b.mtime_ns);
    assert_int_equal(c.ctime_ns, a.ctime_ns);

    sleep_ms(20);
    int64_t n;
    CHECK_RC(spl_inc(s, "n", &n), 0);
    spl_meta d0 = meta_of(s, "n");
    sleep_ms(20);
    CHECK_RC(spl_inc(s, "n", &n), 0);
    spl_meta d1 = meta_of(s, "n");
    assert_true(d1.mtime_ns > d0.mtime_ns);
    assert_int_equal(d1.ctime_ns, d0.ctime_ns);

    /* A re-created key has a new ctime. */
    CHECK_RC(spl_unset(s, "m"), 0);
    sleep_ms(20);
    CHECK_RC(spl_set(s, "m", "new", 3), 0);
    spl_meta e = meta_of(s, "m");
    assert_true(e.ctime_ns > a.ctime_ns);
    CHECK_RC(spl_meta_get(s, "missing", &e), SPL_ENOENT);
}

/* ---------------------------------------------------------------- foreach */

struct seen {
    int n;
    char keys[16][40];
    int stop_after; /* 0 = never */
    int stop_value;
    int want_values;
    int bad; /* set on any inconsistency inside the callback */
};

static const struct {
    const char *key;
    const char *val;
    uint64_t labels;
    spl_type type;
} corpus[] = {
    {"user:1", "alice", 0x1, SPL_T_TEXT},  {"user:2", "bob", 0x3, SPL_T_JSON},
    {"user:30", "carol", 0x2, SPL_T_TEXT}, {"item:1", "apple", 0x4, SPL_T_BINARY},
    {"item:22", "pear!", 0x5, SPL_T_VOID}, {"other", "", 0x0, SPL_T_AUDIO},
};
#define NCORPUS (sizeof corpus / sizeof corpus[0])

static int seen_cb(const spl_entry *e, void *ud)
{
    struct seen *sn = ud;
    size_t i;
    for (i = 0; i < NCORPUS; i++)
        if (strcmp(corpus[i].key, e->key) == 0)
            break;
    if (i == NCORPUS || e->key_len != strlen(e->key))
        sn->bad = 1;
    else {
        size_t vl = strlen(corpus[i].val);
        if (e->meta.val_len != vl || e->meta.labels != corpus[i].labels ||
            e->meta.type != corpus[i].type || (e->meta.epoch & 1) != 0)
            sn->bad = 2;
        if (sn->want_values) {
            if (e->val == NULL || (vl && memcmp(e->val, corpus[i].val, vl) != 0))
                sn->bad = 3;
        } else if (e->val != NULL) {
            sn->bad = 4;
        }
    }
    if (sn->n < 16)
        snprintf(sn->keys[sn->n], sizeof sn->keys[0], "%s", e->key);
    sn->n++;
    if (sn->stop_after && sn->n >= sn->stop_after)
        return sn->stop_value;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Run foreach and compare the visited set with the expected keys. */
static void expect_visit(spl_store *s, const spl_filter *f, const char *const *want,
                         size_t nwant)
{
    struct seen sn;
    memset(&sn, 0, sizeof sn);
    sn.want_values = f && (f->flags & SPL_F_VALUES);
    CHECK_RC(spl_foreach(s, f, seen_cb, &sn), 0);
    assert_int_equal(sn.bad, 0);
    if ((size_t)sn.n != nwant) {
        print_message("filter prefix=%s glob=%s labels=%llx flags=%u: visited %d:\n",
                      f && f->prefix ? f->prefix : "-", f && f->glob ? f->glob : "-",
                      f ? (unsigned long long)f->labels : 0ull, f ? f->flags : 0u, sn.n);
        for (int i = 0; i < sn.n && i < 16; i++)
            print_message("  %s\n", sn.keys[i]);
        fail_msg("expected %zu keys, visited %d", nwant, sn.n);
    }
    char exp[16][40];
    for (size_t i = 0; i < nwant; i++)
        snprintf(exp[i], sizeof exp[0], "%s", want[i]);
    qsort(exp, nwant, sizeof exp[0], cmp_str);
    qsort(sn.keys, (size_t)sn.n, sizeof sn.keys[0], cmp_str);
    for (size_t i = 0; i < nwant; i++)
        assert_string_equal(sn.keys[i], exp[i]);
}

static void load_corpus(spl_store *s)
{
    for (size_t i = 0; i < NCORPUS; i++) {
        CHECK_RC(spl_set(s, corpus[i].key, corpus[i].val, strlen(corpus[i].val)), 0);
        if (corpus[i].labels)
            CHECK_RC(spl_labels_set(s, corpus[i].key, corpus[i].labels), 0);
        CHECK_RC(spl_type_set(s, corpus[i].key, corpus[i].type), 0);
    }
}

static void test_foreach_filters(void **state)
{
    spl_store *s = *state;
    struct seen sn;
    memset(&sn, 0, sizeof sn);
    CHECK_RC(spl_foreach(s, NULL, seen_cb, &sn), 0); /* empty store */
    assert_int_equal(sn.n, 0);

    load_corpus(s);
    /* Noise that must never show up: a deleted key. */
    CHECK_RC(spl_set(s, "user:deleted", "x", 1), 0);
    CHECK_RC(spl_unset(s, "user:deleted"), 0);

    static const char *const all[] = {"user:1", "user:2", "user:30", "item:1", "item:22",
                                      "other"};
    expect_visit(s, NULL, all, 6);
    spl_filter f;
    memset(&f, 0, sizeof f);
    expect_visit(s, &f, all, 6);

    f.prefix = "user:";
    static const char *const users[] = {"user:1", "user:2", "user:30"};
    expect_visit(s, &f, users, 3);
    f.prefix = "user:3";
    static const char *const u30[] = {"user:30"};
    expect_visit(s, &f, u30, 1);
    f.prefix = "nomatch";
    expect_visit(s, &f, NULL, 0);
    f.prefix = "other"; /* prefix equal to the whole key */
    static const char *const oth[] = {"other"};
    expect_visit(s, &f, oth, 1);

    memset(&f, 0, sizeof f);
    f.glob = "*:?";
    static const char *const g1[] = {"user:1", "user:2", "item:1"};
    expect_visit(s, &f, g1, 3);
    f.glob = "item:*";
    static const char *const items[] = {"item:1", "item:22"};
    expect_visit(s, &f, items, 2);
    f.glob = "[iu]*[0]";
    expect_visit(s, &f, u30, 1);
    f.prefix = "user:";
    f.glob = "*0";
    expect_visit(s, &f, u30, 1);
    f.prefix = "item:";
    f.glob = "*0";
    expect_visit(s, &f, NULL, 0);

    memset(&f, 0, sizeof f);
    f.labels = 0x1; /* all of 0x1 */
    static const char *const l1[] = {"user:1", "user:2", "item:22"};
    expect_visit(s, &f, l1, 3);
    f.labels = 0x3; /* all of 0x3 */
    static const char *const l3[] = {"user:2"};
    expect_visit(s, &f, l3, 1);
    f.flags = SPL_F_LABELS_ANY; /* any of 0x3 */
    static const char *const l3any[] = {"user:1", "user:2", "user:30", "item:22"};
    expect_visit(s, &f, l3any, 4);
    f.labels = 0x4;
    static const char *const l4any[] = {"item:1", "item:22"};
    expect_visit(s, &f, l4any, 2);
    f.labels = 0x100;
    expect_visit(s, &f, NULL, 0);
    f.flags = 0;
    f.labels = 0x5;
    static const char *const l5[] = {"item:22"};
    expect_visit(s, &f, l5, 1);
    /* Labels combined with a prefix. */
    f.labels = 0x1;
    f.prefix = "user:";
    static const char *const l1u[] = {"user:1", "user:2"};
    expect_visit(s, &f, l1u, 2);

    /* Values copied only when asked. */
    memset(&f, 0, sizeof f);
    f.flags = SPL_F_VALUES;
    expect_visit(s, &f, all, 6);
    f.prefix = "item:";
    expect_visit(s, &f, items, 2);
}

static void test_foreach_early_stop(void **state)
{
    spl_store *s = *state;
    load_corpus(s);
    struct seen sn;
    memset(&sn, 0, sizeof sn);
    sn.stop_after = 2;
    sn.stop_value = 7;
    CHECK_RC(spl_foreach(s, NULL, seen_cb, &sn), 7);
    assert_int_equal(sn.n, 2);
    assert_int_equal(sn.bad, 0);

    memset(&sn, 0, sizeof sn);
    sn.stop_after = 1;
    sn.stop_value = -12345;
    CHECK_RC(spl_foreach(s, NULL, seen_cb, &sn), -12345);
    assert_int_equal(sn.n, 1);

    memset(&sn, 0, sizeof sn);
    sn.stop_after = 6; /* stop on the very last one: still the callback's value */
    sn.stop_value = 1;
    CHECK_RC(spl_foreach(s, NULL, seen_cb, &sn), 1);
    assert_int_equal(sn.n, 6);

    spl_filter f;
    memset(&f, 0, sizeof f);
    f.prefix = "user:";
    memset(&sn, 0, sizeof sn);
    sn.stop_after = 3;
    sn.stop_value = 3;
    CHECK_RC(spl_foreach(s, &f, seen_cb, &sn), 3);
    assert_int_equal(sn.n, 3);
}

struct meta_cmp {
    spl_store *s;
    int n;
    int bad;
};

static int meta_cmp_cb(const spl_entry *e, void *ud)
{
    struct meta_cmp *mc = ud;
    spl_meta m;
    mc->n++;
    if (spl_meta_get(mc->s, e->key, &m) != 0)
        return mc->bad = 100;
    if (m.epoch != e->meta.epoch || m.labels != e->meta.labels ||
        m.ctime_ns != e->meta.ctime_ns || m.mtime_ns != e->meta.mtime_ns ||
        m.atime_ns != e->meta.atime_ns || m.val_len != e->meta.val_len ||
        m.slot != e->meta.slot || m.type != e->meta.type ||
        m.user_flags != e->meta.user_flags)
        mc->bad = mc->n;
    return 0;
}

static void test_foreach_meta_matches_meta_get(void **state)
{
    spl_store *s = *state;
    load_corpus(s);
    CHECK_RC(spl_flags_set(s, "user:1", 9), 0);
    CHECK_RC(spl_touch(s, "user:2"), 0);
    struct meta_cmp mc = {s, 0, 0};
    CHECK_RC(spl_foreach(s, NULL, meta_cmp_cb, &mc), 0);
    assert_int_equal(mc.n, (int)NCORPUS);
    assert_int_equal(mc.bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names_round_trip),
        cmocka_unit_test_setup_teardown(test_type_set_get, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_user_flags, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_labels, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_touch_atime, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_mtime_ctime, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_foreach_filters, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_foreach_early_stop, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_foreach_meta_matches_meta_get, setup_store,
                                        teardown_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
