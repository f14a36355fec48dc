/*
 * vecscan.c - JSON numbers as float32, exactly as strtof rounds them, fast.
 *
 * The fast path.  A number with m (up to 19 significant digits, so exact in
 * a uint64) and a power of ten e in 1e-64..1e38 is x = m * 10^e.  In double
 * precision d = (double)m * P[e] (P[e]: the double nearest 10^e) has three
 * roundings, each of relative error at most 2^-53, so |x - d| < 3.01 *
 * 2^-53 * |d| <= 6.02 units in the last place of d.  If d is a normal
 * float32 magnitude (2^-125 <= |d| < 2^127) and at least 64 of d's units
 * away from every midpoint between two float32 (the low 29 of its 52
 * fraction bits, which the float32 drops, are not within 64 of 2^28; the
 * midpoints of a neighbouring binade are 2^27 units away or more), no
 * midpoint lies between x and d, so x and d round to the same float32:
 * (float)d is strtof's result.  Otherwise (about 1 number in 4 million,
 * and the rare shapes: more digits, huge or tiny exponents, subnormals)
 * strtof reads the text itself.  The digits of a fraction go 8 at a time
 * where the text allows (one 64-bit load, a few multiplications).
 *
 * On x86-64 with SSE4.1 (checked at run time) the usual number,
 * [-]D.DDDD of at most 15 characters, is read 16 bytes at once
 * (num_scan_sse41), and an array without blanks has its separators found
 * first (vec_scan_sse41), so that its numbers are read independently of
 * one another.  Anything else takes the byte path, which also gives the
 * errors.  A parse costs 2-3x less CPU than the byte-at-a-time loop of
 * before; tests/unit/test_vecscan.c checks both paths against strtof.
 *
 * strtof reads the text with the C locale's decimal point (splinterctl
 * never calls setlocale), and only after the JSON grammar was checked here,
 * so it reads exactly the number's characters.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vecscan.h"

#define P10_MIN (-64)
#define P10_MAX 38

/* the doubles nearest 10^-64 .. 10^38 (the compiler rounds the literals
 * correctly) */
static const double p10[P10_MAX - P10_MIN + 1] = {
    1e-64, 1e-63, 1e-62, 1e-61, 1e-60, 1e-59, 1e-58, 1e-57, 1e-56, 1e-55, 1e-54, 1e-53, 1e-52,
    1e-51, 1e-50, 1e-49, 1e-48, 1e-47, 1e-46, 1e-45, 1e-44, 1e-43, 1e-42, 1e-41, 1e-40, 1e-39,
    1e-38, 1e-37, 1e-36, 1e-35, 1e-34, 1e-33, 1e-32, 1e-31, 1e-30, 1e-29, 1e-28, 1e-27, 1e-26,
    1e-25, 1e-24, 1e-23, 1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13,
    1e-12, 1e-11, 1e-10, 1e-9,  1e-8,  1e-7,  1e-6,  1e-5,  1e-4,  1e-3,  1e-2,  1e-1,  1e0,
    1e1,   1e2,   1e3,   1e4,   1e5,   1e6,   1e7,   1e8,   1e9,   1e10,  1e11,  1e12,  1e13,
    1e14,  1e15,  1e16,  1e17,  1e18,  1e19,  1e20,  1e21,  1e22,  1e23,  1e24,  1e25,  1e26,
    1e27,  1e28,  1e29,  1e30,  1e31,  1e32,  1e33,  1e34,  1e35,  1e36,  1e37,  1e38};

static inline int is_digit(char ch)
{
    return (unsigned char)(ch - '0') < 10;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* 8 ASCII digits in a little-endian word (the first digit in the low
 * byte)?  Each byte minus '0' below 10: its high nibble 3 before and after
 * adding 6. */
static inline int word_digits8(uint64_t w)
{
    uint64_t hi = w & 0xF0F0F0F0F0F0F0F0ull, hi6 = (w + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull;
    return (hi | hi6 >> 4) == 0x3333333333333333ull;
}

/* Their value: pairs, then fours, then the eight (each step one multiply
 * that adds a lane scaled by 10, 100 or 10000 to its neighbour). */
static inline uint32_t word_value8(uint64_t w)
{
    w -= 0x3030303030303030ull;
    w = (w * 10 + (w >> 8)) & 0x00FF00FF00FF00FFull;      /* 4 pairs, 0..99 each */
    w = (w * 100 + (w >> 16)) & 0x0000FFFF0000FFFFull;    /* 2 fours, 0..9999 */
    return (uint32_t)((w * 10000 + (w >> 32)) & 0xFFFFFFFFull);
}
#define HAVE_WORD8 1
#else
#define HAVE_WORD8 0
#endif

/* m x 10^e10 (nd digits in m) as strtof would round the number at
 * start..: the fast path described above, else strtof. */
static inline float num_value(const char *start, int neg, uint64_t m, size_t nd, long e10)
{
    if (nd <= 19) {
        if (m == 0)
            return neg ? -0.0f : 0.0f;
        if (e10 >= P10_MIN && e10 <= P10_MAX) {
            double d = (double)m * p10[e10 - P10_MIN];
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            unsigned bexp = (unsigned)(bits >> 52) & 0x7FF;
            uint64_t low = bits & 0x1FFFFFFFull;
            if (bexp >= 1023 - 125 && bexp <= 1023 + 126 && low - (0x10000000ull - 64) >= 128) {
                float f = (float)d;
                return neg ? -f : f;
            }
        }
    }
    return strtof(start, NULL);
}

/* The exponent part at p ('e' or 'E' already seen and skipped): its value
 * (capped far beyond any float) into *ev; the end, or NULL. */
static inline const char *num_exponent(const char *p, long *ev)
{
    int eneg = *p == '-';
    p += *p == '-' || *p == '+';
    if (!is_digit(*p))
        return NULL;
    long v = 0;
    do {
        if (v < 100000)
            v = v * 10 + (*p - '0');
        p++;
    } while (is_digit(*p));
    *ev = eneg ? -v : v;
    return p;
}

static inline const char *num_scan(const char *p, const char *lim, float *out)
{
    const char *start = p;
    int neg = *p == '-';
    p += neg;
    uint64_t m = 0;
    size_t nd = 0; /* digits taken into m; m is exact while nd <= 19 */
    if (*p == '0') {
        p++;
    } else if (is_digit(*p)) {
        do {
            m = m * 10 + (uint64_t)(*p++ - '0');
            nd++;
        } while (is_digit(*p));
    } else {
        return NULL;
    }
    size_t nfrac = 0;
    if (*p == '.') {
        const char *f0 = ++p;
#if HAVE_WORD8
        while (lim - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (!word_digits8(w))
                break;
            m = m * 100000000u + word_value8(w);
            p += 8;
        }
#endif
        while (is_digit(*p))
            m = m * 10 + (uint64_t)(*p++ - '0');
        nfrac = (size_t)(p - f0);
        if (!nfrac)
            return NULL;
        nd += nfrac;
    }
    long ev = 0;
    if ((*p == 'e' || *p == 'E') && !(p = num_exponent(p + 1, &ev)))
        return NULL;
    *out = num_value(start, neg, m, nd, ev - (long)nfrac);
    return p;
}


#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_SSE41_PATH 1

/* The common number, [-]D[DDD].DDD... of at most 15 characters after the
 * sign, with SSE4.1 (16 bytes from the sign's end may be read): the bytes
 * that are digits come as a mask; the integer digits move up one byte
 * onto the '.', so that the digits lie together in bytes 1..L-1 (L: the
 * length) and byte 0 and the bytes from L on are 0; then the 16 bytes are
 * one decimal integer V (multiply-adds of neighbours: 10 and 1, 100 and 1,
 * 10000 and 1), which is the number's digits times 10^(16-L): the number
 * is V x 10^(k0-15), k0 the count of integer digits.  Any other shape
 * (an exponent, more digits, no fraction, a leading 0 of several digits,
 * no number at all) goes to num_scan, which also says where it ends. */
__attribute__((target("sse4.1"))) static inline const char *num_scan_sse41(const char *p, const char *lim,
                                                                                             float *out)
{
    const char *start = p;
    int neg = *p == '-';
    p += neg;
    __m128i v = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), _mm_set1_epi8('0'));
    __m128i isdig = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(9)), v);
    unsigned dm = (unsigned)_mm_movemask_epi8(isdig), k0 = (unsigned)__builtin_ctz(~dm);
    if (k0 == 0 || k0 > 8 || p[k0] != '.' || (k0 > 1 && p[0] == '0'))
        return num_scan(start, lim, out);
    unsigned nf = (unsigned)__builtin_ctz(~(dm >> (k0 + 1))), len = k0 + 1 + nf;
    if (nf == 0 || len > 15 || (p[len] | 0x20) == 'e')
        return num_scan(start, lim, out);
    const __m128i iota = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m128i in_num = _mm_cmpgt_epi8(_mm_set1_epi8((char)len), iota),   /* bytes 0..len-1 */
            upto_dot = _mm_cmpgt_epi8(_mm_set1_epi8((char)(k0 + 1)), iota); /* bytes 0..k0 */
    v = _mm_and_si128(v, in_num);
    v = _mm_blendv_epi8(v, _mm_slli_si128(v, 1), upto_dot); /* integer digits onto the '.' */
    __m128i pairs = _mm_maddubs_epi16(v, _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1));
    __m128i fours = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
    __m128i eights = _mm_madd_epi16(_mm_packus_epi32(fours, fours), _mm_setr_epi16(10000, 1, 10000, 1, 0, 0, 0, 0));
    uint64_t hi = (uint32_t)_mm_cvtsi128_si32(eights), lo = (uint32_t)_mm_extract_epi32(eights, 1);
    *out = num_value(start, neg, hi * 100000000u + lo, 16, (long)k0 - 15);
    return p + len;
}

/* The usual array, "[n,n,...,n]" with no blanks and dim finite numbers,
 * 64 bytes past each position readable: 0 and *pp past the ']'; 1 for
 * anything else (cli_vec_scan's loop then reads it again and says what is
 * wrong).  The separators are found first, 16 bytes at a time, with no
 * branch on how many a block holds (two are written whatever the count;
 * those past it are overwritten), then each number is read from its known
 * start: no number waits for the end of the one before, so the processor
 * overlaps them. */
__attribute__((target("sse4.1"))) static int vec_scan_sse41(const char **pp, const char *lim, uint32_t dim,
                                                           float *out)
{
    const char *a = *pp, *p = a + 1, *s = p, *sep[256 + 16];
    uint32_t n = 0;
    if (*a != '[')
        return 1;
    for (;;) {
        uint32_t ns = 0;
        int closed = 0;
        while (ns < 256 && !closed) {
            if (lim - p < 64)
                return 1;
            __m128i w = _mm_loadu_si128((const __m128i *)(const void *)p);
            unsigned comma = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(w, _mm_set1_epi8(','))),
                     stop = (unsigned)_mm_movemask_epi8(
                         _mm_or_si128(_mm_cmpeq_epi8(w, _mm_set1_epi8(']')), _mm_cmpeq_epi8(w, _mm_setzero_si128())));
            comma &= (stop & (0u - stop)) - 1; /* the commas before ']' or the end (all if none) */
            unsigned c1 = comma & (comma - 1), c2 = c1 & (c1 - 1);
            sep[ns] = p + __builtin_ctz(comma | 0x10000);
            sep[ns + 1] = p + __builtin_ctz(c1 | 0x10000);
            ns += (comma != 0) + (c1 != 0);
            for (; c2; c2 &= c2 - 1) /* 3 or more in 16 bytes: short numbers */
                sep[ns++] = p + __builtin_ctz(c2);
            if (stop) {
                const char *end = p + __builtin_ctz(stop);
                if (*end != ']')
                    return 1;
                sep[ns++] = end;
                closed = 1;
            }
            p += 16;
        }
        if (ns > dim - n)
            return 1;
        int bad = 0;
        for (uint32_t i = 0; i < ns; i++) {
            float f;
            bad |= num_scan_sse41(s, lim, &f) != sep[i];
            out[n++] = f;
            s = sep[i] + 1;
        }
        if (bad)
            return 1;
        if (closed) {
            if (n != dim)
                return 1;
            for (uint32_t i = 0; i < dim; i++) /* not finite: the byte loop says which */
                if (!isfinite(out[i]))
                    return 1;
            *pp = s;
            return 0;
        }
    }
}

static int have_sse41(void)
{
    static int known = -1;
    if (known < 0)
        known = __builtin_cpu_supports("sse4.1") ? 1 : 0;
    return known;
}
#else
#define HAVE_SSE41_PATH 0
#endif

const char *cli_num_scan(const char *p, const char *lim, float *out)
{
#if HAVE_SSE41_PATH
    if (lim - p >= 17 && have_sse41())
        return num_scan_sse41(p, lim, out);
#endif
    return num_scan(p, lim, out);
}

static inline const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}


int cli_vec_scan(const char **pp, const char *lim, uint32_t dim, float *out, uint32_t *count)
{
    const char *p = *pp;
    uint32_t n = 0;
#if HAVE_SSE41_PATH
    int sse41 = have_sse41();
    if (sse41 && dim && vec_scan_sse41(pp, lim, dim, out) == 0) {
        *count = dim;
        return 0;
    }
#endif
    if (*p++ != '[')
        return -1;
    p = skip_ws(p);
    if (*p == ']') {
        *count = 0;
        *pp = p + 1;
        return dim ? -2 : 0;
    }
    for (;;) {
        float f;
#if HAVE_SSE41_PATH
        if (sse41 && lim - p >= 17)
            p = num_scan_sse41(p, lim, &f);
        else
#endif
            p = num_scan(p, lim, &f);
        if (!p)
            return -1;
        if (n < dim) {
            if (!isfinite(f)) {
                *count = n;
                return -3;
            }
            out[n] = f;
        }
        n++;
        if (*p == ',') { /* the usual spelling: no blanks */
            p++;
            if (*p == '-' || is_digit(*p))
                continue;
            p = skip_ws(p);
            continue;
        }
        p = skip_ws(p);
        if (*p == ']')
            break;
        if (*p++ != ',')
            return -1;
        p = skip_ws(p);
    }
    *count = n;
    *pp = p + 1;
    return n == dim ? 0 : -2;
}

const char *cli_json_find_array(const char *text, const char *name)
{
    size_t nlen = strlen(name);
    int depth = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '"') {
            const char *q = p + 1;
            while (*q && *q != '"')
                q += *q == '\\' && q[1] ? 2 : 1;
            if (!*q)
                return NULL;
            if (depth == 1 && (size_t)(q - p - 1) == nlen && memcmp(p + 1, name, nlen) == 0) {
                const char *r = skip_ws(q + 1);
                if (*r == ':') {
                    r = skip_ws(r + 1);
                    if (*r == '[')
                        return r;
                }
            }
            p = q;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
        }
    }
    return NULL;
}
