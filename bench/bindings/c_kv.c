/*
 * c_kv.c - the bindings' benchmark workload in C alone (c_loop.h): get and
 * set of 64-byte values, hot and random keys, pipelined and dependent, in
 * ns/op, the fastest of --rounds rounds of --ops operations (the median
 * beside it).  Prints one JSON object:
 *   {"lang":"c","keys":N,"ops":M,"rounds":R,"results":[{"op":"get",
 *    "pattern":"hot","c_ns":..,"c_dep_ns":..,"c_median_ns":..,
 *    "c_dep_median_ns":..},...]}
 * Each binding's bench runs the same C loops in its own process; this
 * program is the cross-check without any binding loaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_loop.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    uint32_t keys = 100000, ops = 200000, rounds = 15;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--keys"))
            keys = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--ops"))
            ops = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = (uint32_t)strtoul(argv[i + 1], NULL, 10);
    }
    if (keys < 8 || !ops || !rounds || rounds > 1000) {
        fprintf(stderr, "usage: c_kv [--keys N>=8] [--ops N] [--rounds 1..1000]\n");
        return 2;
    }
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD;
    o.geom = (spl_geometry){splb_slots(keys), 32, SPLB_VAL_LEN, 0};
    spl_store *s;
    int rc = spl_create(&s, NULL, &o);
    if (rc) {
        fprintf(stderr, "create: %s\n", spl_strerror(rc));
        return 1;
    }
    char *names = malloc((size_t)keys * SPLB_KEY_STRIDE);
    uint32_t *order = malloc(sizeof *order * ops);
    double *t[2] = {malloc(sizeof(double) * rounds), malloc(sizeof(double) * rounds)};
    char val[SPLB_VAL_LEN];
    memset(val, 0x5a, sizeof val);
    splb_names(names, keys);
    for (uint32_t i = 0; i < keys; i++) {
        if ((rc = spl_set(s, names + (size_t)i * SPLB_KEY_STRIDE, val, sizeof val))) {
            fprintf(stderr, "fill: %s\n", spl_strerror(rc));
            return 1;
        }
    }
    printf("{\"lang\":\"c\",\"keys\":%u,\"ops\":%u,\"rounds\":%u,\"value_bytes\":%d,\"results\":[", keys, ops,
           rounds, SPLB_VAL_LEN);
    const char *sep = "";
    for (int op = 0; op < 2; op++) {
        for (int random = 0; random < 2; random++) {
            splb_order(order, ops, keys, random);
            double best[2], med[2];
            splb_loop(s, names, order, ops, op, 0, val, sizeof val); /* warm up */
            for (uint32_t r = 0; r < rounds; r++) {
                for (int dep = 0; dep < 2; dep++) {
                    uint64_t ns = splb_loop(s, names, order, ops, op, dep, val, sizeof val);
                    if (!ns) {
                        fprintf(stderr, "an operation failed\n");
                        return 1;
                    }
                    t[dep][r] = (double)ns / ops;
                }
            }
            for (int dep = 0; dep < 2; dep++) {
                qsort(t[dep], rounds, sizeof(double), cmp);
                best[dep] = t[dep][0];
                med[dep] = t[dep][rounds / 2];
            }
            printf("%s{\"op\":\"%s\",\"pattern\":\"%s\",\"c_ns\":%.1f,\"c_dep_ns\":%.1f,\"c_median_ns\":%.1f,"
                   "\"c_dep_median_ns\":%.1f}",
                   sep, op ? "set" : "get", random ? "random" : "hot", best[0], best[1], med[0], med[1]);
            sep = ",";
        }
    }
    printf("]}\n");
    spl_close(s);
    free(names);
    free(order);
    free(t[0]);
    free(t[1]);
    return 0;
}
