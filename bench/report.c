/* report.c - the human table and the --json lines; key material helpers. */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_targets, n_met;

static const char *top_str(target_op t)
{
    switch (t) {
    case T_LE: return "<=";
    case T_LT: return "<";
    case T_GT: return ">";
    case T_GE: return ">=";
    default: return "";
    }
}

static int meets(const figure *f)
{
    switch (f->top) {
    case T_LE: return f->value <= f->target;
    case T_LT: return f->value < f->target;
    case T_GT: return f->value > f->target;
    case T_GE: return f->value >= f->target;
    default: return -1;
    }
}

void report_begin(void)
{
    n_targets = n_met = 0;
    if (g_opt.json)
        return;
    printf("splinter-bench%s%s: every figure is the best of %d runs (kv and mp: the median of %d "
           "interleaved rounds); only completed operations are counted (SPL_EAGAIN retries are "
           "not)\n",
           g_opt.quick ? " (quick)" : "", g_opt.huge ? " (huge pages)" : "", BENCH_REPEATS, BENCH_ROUNDS);
    printf("%-28s %12s %-7s %10s %-8s %-5s  %s\n",
           "figure", "value", "unit", "baseline", "target", "meets", "what");
}

void report_section(const char *title)
{
    if (!g_opt.json)
        printf("-- %s\n", title);
}

void report(const figure *f)
{
    int m = meets(f);
    if (m >= 0) {
        n_targets++;
        n_met += m;
    }
    if (g_opt.json) {
        printf("{\"name\":\"%s\",\"value\":%.4f,\"unit\":\"%s\"", f->name, f->value, f->unit);
        if (f->has_baseline)
            printf(",\"baseline\":%.4f", f->baseline);
        if (m >= 0)
            printf(",\"target\":\"%s %g\",\"meets\":%s", top_str(f->top), f->target,
                   m ? "true" : "false");
        if (f->median_of)
            printf(",\"median_of\":%d}\n", f->median_of);
        else
            printf(",\"best_of\":%d}\n", BENCH_REPEATS);
    } else {
        char base[32] = "-", tgt[32] = "-";
        if (f->has_baseline)
            snprintf(base, sizeof base, "%.2f", f->baseline);
        if (m >= 0)
            snprintf(tgt, sizeof tgt, "%s %g", top_str(f->top), f->target);
        printf("%-28s %12.2f %-7s %10s %-8s %-5s  %s\n", f->name, f->value, f->unit, base, tgt,
               m < 0 ? "-" : (m ? "yes" : "NO"), f->desc);
    }
    fflush(stdout);
}

void report_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    FILE *o = g_opt.json ? stderr : stdout;
    fputs("   note: ", o);
    vfprintf(o, fmt, ap);
    fputc('\n', o);
    va_end(ap);
}

void report_end(void)
{
    if (g_opt.json) {
        printf("{\"name\":\"targets_met\",\"value\":%d,\"unit\":\"count\",\"of\":%d}\n", n_met,
               n_targets);
        fprintf(stderr, "checksum %016llx\n", (unsigned long long)g_sink);
        return;
    }
    printf("targets met: %d of %d   (checksum %016llx)\n", n_met, n_targets,
           (unsigned long long)g_sink);
}

double bench_median(double *v, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort: n is tiny */
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void die_spl(const char *what, int rc)
{
    fprintf(stderr, "splinter-bench: %s: %s (%s)\n", what, spl_strerror(rc), spl_err_name(rc));
    exit(1);
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("splinter-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

int keyset_make(keyset *k, size_t n, const char *prefix)
{
    k->n = n;
    k->mem = calloc(n ? n : 1, BENCH_KEY_MAX);
    if (!k->mem)
        return -1;
    for (size_t i = 0; i < n; i++)
        snprintf(k->mem + i * BENCH_KEY_MAX, BENCH_KEY_MAX, "%s:%07zu", prefix, i);
    return 0;
}

void keyset_free(keyset *k)
{
    free(k->mem);
    k->mem = NULL;
    k->n = 0;
}

uint32_t *random_indexes(size_t n, uint32_t range, uint64_t seed)
{
    uint32_t *a = malloc((n ? n : 1) * sizeof *a);
    if (!a)
        die("out of memory");
    for (size_t i = 0; i < n; i++)
        a[i] = (uint32_t)(rng_next(&seed) % range);
    return a;
}
