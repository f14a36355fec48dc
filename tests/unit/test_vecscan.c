/*
 * test_vecscan.c - splinterctl's JSON number reader (cli/vecscan.c, built
 * into this test) against strtof, to the bit: random float32 of every
 * exponent printed in the usual ways, numbers at and next to the midpoints
 * between two float32 (where a double-then-float reading would round
 * twice), random decimal strings of up to 25 digits and exponents of
 * +-60, subnormals, the edges of the range; the JSON grammar (what it
 * refuses and where a number ends); arrays of numbers and their errors;
 * finding the "vector" member.  SPL_VECSCAN_N=N sets the count of random
 * numbers per kind (default 200000; 20000 under valgrind).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cli/vecscan.c"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_u64(void)
{
    /* splitmix64 */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static long count_n(void)
{
    const char *e = getenv("SPL_VECSCAN_N"), *pre = getenv("LD_PRELOAD");
    if (e && atol(e) > 0)
        return atol(e);
    return pre && strstr(pre, "vgpreload") ? 20000 : 200000;
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static long checked;

/* text (NUL-terminated, in a buffer of exactly its size, so that a read
 * past lim shows under valgrind and ASan) must read as strtof reads it, and
 * end where strtof's reading ends. */
static void check_text(const char *text)
{
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    memcpy(buf, text, len + 1);
    char *want_end;
    float want = strtof(buf, &want_end), got = -1234.5f;
    const char *end = cli_num_scan(buf, buf + len + 1, &got);
    if (!end || f2u(got) != f2u(want) || end != want_end)
        fail_msg("\"%s\": got %a (0x%08x) ending at %td, strtof gives %a (0x%08x) ending at %td", text,
                 (double)got, f2u(got), end ? end - buf : -1, (double)want, f2u(want), want_end - buf);
    ptrdiff_t want_len = want_end - buf;
    free(buf);
    /* the same in a roomy buffer (8 bytes at a time), followed by more */
    char wide[256];
    memset(wide, 0, sizeof wide);
    snprintf(wide, sizeof wide, "%s,9]", text);
    got = -1234.5f;
    end = cli_num_scan(wide, wide + sizeof wide, &got);
    if (!end || f2u(got) != f2u(want) || end - wide != want_len)
        fail_msg("\"%s\" (wide): got %a (0x%08x) ending at %td, strtof gives %a (0x%08x) ending at %td", text,
                 (double)got, f2u(got), end ? end - wide : -1, (double)want, f2u(want), want_len);
    checked++;
}

static void check_fmt(const char *fmt, double v)
{
    char b[128];
    snprintf(b, sizeof b, fmt, v);
    check_text(b);
}

/* Random float32 of every exponent (random bits), printed as writers of
 * JSON print them: %.9g (what export and the bench write), fewer digits,
 * %.17g (a float32 widened to double and printed as a double), %e. */
static void test_random_floats(void **state)
{
    (void)state;
    long n = count_n();
    checked = 0;
    for (long i = 0; i < n; i++) {
        float f = u2f((uint32_t)next_u64());
        if (!isfinite(f))
            continue;
        check_fmt("%.9g", f);
        check_fmt("%.6g", f);
        check_fmt("%.17g", f);
        check_fmt("%.3g", f);
        check_fmt("%.8e", f);
        /* and numbers of embedding magnitude, the common case */
        float g = (float)((double)(int64_t)next_u64() / 9.2e18 * 3.0);
        check_fmt("%.9g", g);
        check_fmt("%.7g", g);
    }
    print_message("%ld numbers checked\n", checked);
}

/* The midpoint between a float32 and the next (exact in double), written
 * exactly and nearly: a reader that goes through double rounds some of
 * these twice; strtof and cli_num_scan must not. */
static void test_midpoints(void **state)
{
    (void)state;
    long n = count_n() / 4;
    checked = 0;
    for (long i = 0; i < n; i++) {
        float f = u2f((uint32_t)next_u64() & 0x7fffffffu);
        if (!isfinite(f) || f == FLT_MAX)
            continue;
        double mid = ((double)f + (double)nextafterf(f, INFINITY)) / 2;
        check_fmt("%.17g", mid);
        check_fmt("%.20g", mid);
        check_fmt("%.60g", mid);       /* the exact decimal: a tie */
        check_fmt("%.18g", nextafter(mid, 0));
        check_fmt("%.18g", nextafter(mid, INFINITY));
        check_fmt("%.25g", nextafter(mid, 0));
        check_fmt("-%.25g", nextafter(mid, INFINITY));
        check_fmt("%.9g", mid);
        check_fmt("%.10g", mid);
    }
    print_message("%ld numbers checked\n", checked);
}

/* Random decimal strings: 1..25 digits before and after the point (or
 * none after), leading zeros in the fraction, exponents -60..+45. */
static void test_random_decimals(void **state)
{
    (void)state;
    long n = count_n();
    checked = 0;
    for (long i = 0; i < n; i++) {
        char b[128], *p = b;
        uint64_t r = next_u64();
        if (r & 1)
            *p++ = '-';
        int ni = 1 + (int)(next_u64() % 25), nf = (int)(next_u64() % 26), lz = (int)(next_u64() % 4);
        if (r & 2) {
            *p++ = '0';
        } else {
            *p++ = (char)('1' + next_u64() % 9);
            for (int k = 1; k < ni; k++)
                *p++ = (char)('0' + next_u64() % 10);
        }
        if (nf) {
            *p++ = '.';
            int z = lz < nf - 1 ? lz : nf - 1;
            for (int k = 0; k < z; k++)
                *p++ = '0';
            for (int k = z; k < nf; k++)
                *p++ = (char)('0' + next_u64() % 10);
        }
        if (r & 4) {
            int e = (int)(next_u64() % 106) - 60;
            p += sprintf(p, "%s%s%d", r & 8 ? "e" : "E", e >= 0 && (r & 16) ? "+" : "", e);
        }
        *p = 0;
        check_text(b);
    }
    print_message("%ld numbers checked\n", checked);
}

/* Subnormals, the edges of the range, underflow and overflow. */
static void test_edges(void **state)
{
    (void)state;
    long n = count_n() / 4;
    for (long i = 0; i < n; i++) {
        float f = u2f((uint32_t)(next_u64() % 0x00800000u)); /* subnormal (or 0) */
        check_fmt("%.9g", f);
        check_fmt("%.17g", f);
        check_fmt("%.3g", f);
        float g = u2f(0x00700000u + (uint32_t)(next_u64() % 0x00300000u)); /* around FLT_MIN */
        check_fmt("%.9g", g);
        float h = u2f(0x7f700000u + (uint32_t)(next_u64() % 0x000fffffu)); /* near FLT_MAX */
        check_fmt("%.9g", h);
        check_fmt("%.12g", h);
    }
    static const char *const fixed[] = {
        "0", "-0", "0.0", "-0.0", "0e0", "0E-999", "-0e+999", "0.000000000000000000000000000",
        "1", "-1", "1.5", "0.1", "0.2", "0.3", "1e-45", "1.4e-45", "7e-46", "7.1e-46", "1e-46",
        "1.17549435e-38", "1.1754942e-38", "1.17549421e-38", "3.4028235e38", "3.40282347e+38",
        "3.4028236e38", "3.40282357e38", "3.4028236e38", "3.5e38", "1e39", "-1e39", "1e400",
        "1e-400", "1e99999999999", "1e-99999999999", "16777217", "16777216.5", "33554435",
        "9007199254740993", "9999999999999999999", "18446744073709551615",
        "18446744073709551616", "99999999999999999999999", "1.00000005960464477550",
        "1.0000000596046447755", "1.000000059604644775", "0.33333334", "0.333333343267",
        "1234567890123456789e-19", "12345678901234567890e-20", "0.1e-63", "10e-65", "1e-64",
        "1e38", "1e-38", "123456789.0e-46", "0.00000000000000000001234", "100000000000000000000e-20",
        "0.000000000000000000000000000000000000000000001401298464324817070923729583289916131280",
        "0.7006492321624085354618647916449580656401e-45", "2.5e-45", "3.5e-45"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_text(fixed[i]);
}

/* Where a number ends, and what is not one (JSON, not strtof, decides). */
static void test_grammar(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "-", "+1", ".5", "-.5", "1.", "1.e5", "1e", "1e+",
                                      "1e-", "-e5", "nan", "inf", "-inf", "Infinity", "x",
                                      " 1", "- 1", "--1", "1.-5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        float f;
        char wide[64] = {0};
        strcpy(wide, bad[i]);
        if (cli_num_scan(bad[i], bad[i] + strlen(bad[i]) + 1, &f) || cli_num_scan(wide, wide + sizeof wide, &f))
            fail_msg("\"%s\" taken for a number", bad[i]);
    }
    static const struct {
        const char *text;
        int len;
        float val;
    } ends[] = {{"01", 1, 0.0f},        {"0x10", 1, 0.0f},    {"1.5e3,2", 5, 1500.0f},
                {"-2]", 2, -2.0f},      {"3 ", 1, 3.0f},      {"12345678901.5x", 13, 12345678901.5f},
                {"0.12345678901234567890123,", 25, 0.12345678901234567890123f},
                {"7E+2}", 4, 700.0f},  {"1e5.5", 3, 1e5f}};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        float f = -1, g = -1;
        char wide[64] = {0};
        strcpy(wide, ends[i].text);
        const char *t = ends[i].text, *e = cli_num_scan(t, t + strlen(t) + 1, &f),
                   *ew = cli_num_scan(wide, wide + sizeof wide, &g);
        if (!e || e - t != ends[i].len || f != ends[i].val || !ew || ew - wide != ends[i].len || g != f)
            fail_msg("\"%s\": end %td value %a, want end %d value %a", t, e ? e - t : -1, (double)f,
                     ends[i].len, (double)ends[i].val);
    }
    /* 8 digits at a time near the limit: no read past lim (valgrind, ASan) */
    for (int len = 1; len <= 24; len++) {
        char *b = malloc((size_t)len + 3);
        assert_non_null(b);
        b[0] = '0';
        b[1] = '.';
        for (int k = 0; k < len; k++)
            b[2 + k] = (char)('1' + k % 9);
        b[2 + len] = 0;
        check_text(b);
        free(b);
    }
}

static void test_vectors(void **state)
{
    (void)state;
    float v[4];
    uint32_t cnt = 99;
    const char *p = "[1,-2.5, 3e2 ,\t0.25 ]rest";
    assert_int_equal(cli_vec_scan(&p, p + strlen(p) + 1, 4, v, &cnt), 0);
    assert_string_equal(p, "rest");
    assert_true(v[0] == 1 && v[1] == -2.5f && v[2] == 300 && v[3] == 0.25f);
    p = "[ ]";
    assert_int_equal(cli_vec_scan(&p, p + 4, 0, v, &cnt), 0);
    p = "[ ]";
    assert_int_equal(cli_vec_scan(&p, p + 4, 4, v, &cnt), -2);
    assert_int_equal(cnt, 0);
    p = "[1,2,3]";
    assert_int_equal(cli_vec_scan(&p, p + 8, 4, v, &cnt), -2);
    assert_int_equal(cnt, 3);
    p = "[1,2,3,4,5,6]";
    assert_int_equal(cli_vec_scan(&p, p + 14, 4, v, &cnt), -2);
    assert_int_equal(cnt, 6);
    p = "[1,1e39,3,4]";
    assert_int_equal(cli_vec_scan(&p, p + 13, 4, v, &cnt), -3);
    assert_int_equal(cnt, 1);
    p = "[1,2,3,-1e39]";
    assert_int_equal(cli_vec_scan(&p, p + 14, 4, v, &cnt), -3);
    assert_int_equal(cnt, 3);
    static const char *const bad[] = {"[1,,2,3]", "[1 2,3,4]", "[", "[1,", "[,1,2,3]", "[1,2,3,4,]",
                                      "[1,2,3,\"4\"]", "[1,2,3,null]", "1,2,3,4]", "[1,2,3,4",
                                      "[1,2,3,[4]]", "[1,2,3,nan]", "[1,2,3,+4]", "[1,2,3,.5]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = bad[i];
        if (cli_vec_scan(&p, p + strlen(p) + 1, 4, v, &cnt) != -1)
            fail_msg("\"%s\" not refused as syntax", bad[i]);
    }
}

/* Arrays in a roomy buffer (where the 16-byte paths run), the usual
 * spelling and others (blanks, exponents, long numbers, integers): every
 * element as strtof reads it, the end right after ']'; and the errors the
 * same as in a tight buffer. */
static void test_vectors_roomy(void **state)
{
    (void)state;
    static char buf[8192 + 128];
    float v[40];
    long n = count_n() / 20;
    for (long it = 0; it < n; it++) {
        uint32_t dim = 1 + (uint32_t)(next_u64() % 40), kind = (uint32_t)(next_u64() % 4);
        float want[40];
        char *p = buf;
        memset(buf, 0, sizeof buf);
        *p++ = '[';
        for (uint32_t i = 0; i < dim; i++) {
            float f = kind == 3 ? u2f((uint32_t)next_u64() & 0x7f7fffffu)
                                : (float)((double)(int64_t)next_u64() / 9.2e18 * 3.0);
            const char *fmt = kind == 0 ? "%.9g" : kind == 1 ? "%.3g" : kind == 2 ? "%.17g" : "%.9e";
            if (i)
                p += sprintf(p, kind == 1 && (i & 1) ? " , " : ",");
            char *num = p;
            p += sprintf(p, fmt, (double)f);
            want[i] = strtof(num, NULL);
        }
        p += sprintf(p, "]}");
        const char *q = buf;
        uint32_t cnt = 0;
        int r = cli_vec_scan(&q, buf + sizeof buf, dim, v, &cnt);
        if (r != 0 || q != p - 1)
            fail_msg("\"%s\": %d, end %td of %td", buf, r, q - buf, p - 1 - buf);
        for (uint32_t i = 0; i < dim; i++)
            if (f2u(v[i]) != f2u(want[i]))
                fail_msg("\"%s\": element %u is %a, strtof %a", buf, i, (double)v[i], (double)want[i]);
        /* one element fewer, one more, one not finite, one bad */
        q = buf;
        if (cli_vec_scan(&q, buf + sizeof buf, dim + 1, v, &cnt) != -2 || cnt != dim)
            fail_msg("\"%s\" as %u elements: not SPL_EDIM with %u", buf, dim + 1, dim);
        if (dim > 1) {
            q = buf;
            if (cli_vec_scan(&q, buf + sizeof buf, dim - 1, v, &cnt) != -2 || cnt != dim)
                fail_msg("\"%s\" as %u elements: not SPL_EDIM with %u", buf, dim - 1, dim);
        }
    }
    static const char *const bad[] = {"[1,2,3,4e39]", "[1,2,3,4,]", "[1,2,3,,4]", "[1,2,3, 4 ", "[1,2,3,\"4\"]",
                                      "[1,2,3,04]", "[1,2,3,4.]", "[1,2.5.5,3,4]", "[1,2,3,4"};
    static const int want_r[] = {-3, -1, -1, -1, -1, -1, -1, -1, -1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(buf, 0, sizeof buf);
        strcpy(buf, bad[i]);
        const char *q = buf;
        uint32_t cnt = 0;
        int r = cli_vec_scan(&q, buf + sizeof buf, 4, v, &cnt);
        if (r != want_r[i] || (r == -3 && cnt != 3))
            fail_msg("\"%s\" (roomy): %d (count %u), want %d", bad[i], r, cnt, want_r[i]);
    }
}

static void test_find_array(void **state)
{
    (void)state;
    const char *t = "{\"key\":\"a\",\"vector\":[1]}";
    assert_ptr_equal(cli_json_find_array(t, "vector"), strchr(t, '['));
    t = "{\"note\":\"a \\\"vector\\\": [9]\",\"sub\":{\"vector\":[2]},\"l\":[\"vector\"],\"vector\" : [3]}";
    const char *a = cli_json_find_array(t, "vector");
    assert_non_null(a);
    assert_int_equal(a[1], '3');
    assert_null(cli_json_find_array("{\"vector\":null}", "vector"));
    assert_null(cli_json_find_array("{\"vectors\":[1]}", "vector"));
    assert_null(cli_json_find_array("{\"key\":\"vector\"}", "vector"));
    assert_null(cli_json_find_array("{\"vector\":[1", "vectorx"));
    assert_null(cli_json_find_array("{\"unterminated", "vector"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_floats), cmocka_unit_test(test_midpoints),
        cmocka_unit_test(test_random_decimals), cmocka_unit_test(test_edges),
        cmocka_unit_test(test_grammar),       cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_vectors_roomy),
        cmocka_unit_test(test_find_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
