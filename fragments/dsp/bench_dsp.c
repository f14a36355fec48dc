/*
 * bench_dsp.c - the DSP fragment's figures, one host process:
 *
 *   paced: one sample to each of --keys keys, then wait until the host
 *     has processed the round (the last key's state moved), for --seconds:
 *     every sample is processed; samples processed per second.
 *   flooded: this process writes samples round-robin as fast as it can for
 *     --seconds; the host processes what it can (a key written again
 *     before the host reads it is processed once, with its newest value;
 *     a feed that laps the host costs a resync).  Written/s, processed/s.
 *   lag: one key, one sample at a time: from just before spl_set to the
 *     moment this process is woken (spl_key_wait) by the derived key's
 *     change: OUT KEY.ema (the first derived key written) and OUT KEY.state
 *     (the last one: every derived key is in), p50 / p99 / max.
 *
 *   bench_dsp BUILD_DIR [--seconds S] [--keys K] [--lag N] [--json]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "splinter.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long long stat_of(spl_store *s, const char *field)
{
    char rep[2048], pat[64];
    const char *av[] = {"stats"};
    if (spl_frag_call(s, "dsp", 1, av, rep, sizeof rep, NULL, 10000000000ll) != 0)
        return -1;
    snprintf(pat, sizeof pat, "\"%s\":", field);
    const char *p = strstr(rep, pat);
    return p ? atoll(p + strlen(pat)) : -1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* n samples of lag to OUT KEY.SUFFIX (ns), sorted. */
static int lag_run(spl_store *s, const char *suffix, int n, uint64_t *out)
{
    char key[64] = "sensor.lag", dk[64];
    snprintf(dk, sizeof dk, "dsp.%s.%s", key, suffix);
    int64_t v = 0;
    spl_meta m;
    int rc;
    for (int i = 0; i < n; i++) {
        v += 1 + (i % 7);
        uint64_t e0 = spl_meta_get(s, dk, &m) == 0 ? m.epoch : 0;
        uint64_t t0 = now_ns();
        if ((rc = spl_set_wait(s, key, &v, 8, 1000000)) != 0) {
            fprintf(stderr, "lag: set %s: %s\n", key, spl_strerror(rc));
            return -1;
        }
        uint64_t e1;
        if (e0 == 0) { /* the first time: the key does not exist yet */
            while ((rc = spl_meta_get(s, dk, &m)) == SPL_ENOENT && now_ns() - t0 < 5000000000ull)
                ;
            if (rc) {
                spl_frag_info fi;
                spl_frag_get(s, "dsp", &fi);
                fprintf(stderr, "lag: %s never appeared: %s (dsp %s, lag %llu, events %llu, resyncs %llu)\n",
                        dk, spl_strerror(rc), spl_frag_state_name(fi.state), (unsigned long long)fi.lag,
                        (unsigned long long)fi.events, (unsigned long long)fi.resyncs);
                return -1;
            }
        } else if ((rc = spl_key_wait(s, dk, e0, 5000000000ll, &e1)) != 0) {
            fprintf(stderr, "lag: %s: %s\n", dk, spl_strerror(rc));
            return -1;
        }
        out[i] = now_ns() - t0;
    }
    qsort(out + 1, (size_t)n - 1, sizeof *out, cmp_u64); /* the first one creates the keys */
    return 0;
}

int main(int argc, char **argv)
{
    const char *b = argc > 1 ? argv[1] : "build";
    double seconds = 2;
    int keys = 1024, nlag = 2000, json = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc)
            keys = atoi(argv[++i]);
        else if (strcmp(argv[i], "--lag") == 0 && i + 1 < argc)
            nlag = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
    }
    if (keys < 1 || keys > 4000 || nlag < 10 || seconds <= 0)
        return 2;
    char p[4096], lib[4096];
    snprintf(p, sizeof p, "%s/fragments/dsp.so", b);
    if (spl_frag_find(p, NULL, lib, sizeof lib) != 0) {
        fprintf(stderr, "%s: %s\n", p, spl_frag_errmsg());
        return 2;
    }
    char dir[] = "/tmp/spl-bdsp-XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    setenv("SPLINTER_SHM_DIR", dir, 1);
    spl_options o;
    spl_options_init(&o);
    o.geom = (spl_geometry){(uint32_t)(keys + 1) * 9 + 64, 64, 512, 0}; /* input, 7 derived, state */
    o.feed_len = 1u << 16;
    spl_store *s;
    if (spl_create(&s, "bench", &o) != 0)
        return 2;
    /* int64 keys (a new key is VOID: its 8 bytes would not be a number) */
    char (*names)[32] = calloc((size_t)keys + 1, 32);
    for (int k = 0; k <= keys; k++) {
        int64_t z = 0;
        snprintf(names[k], 32, k < keys ? "sensor.%d" : "sensor.lag", k);
        if (spl_set(s, names[k], &z, 8) != 0 || spl_type_set(s, names[k], SPL_T_INT64) != 0)
            return 2;
    }
    const char *args[] = {"glob=sensor.*", "window=16"};
    int ret = 1;
    int rc = spl_frag_register(s, lib, NULL, 2, args, 0, NULL, 0);
    spl_host_opts ho = {SPL_HOST_OPTS_VERSION, 0, "dsp", -1};
    spl_frag_info fi;
    if (rc || spl_host_spawn(s, &ho) < 0 ||
        spl_frag_wait(s, "dsp", 1u << SPL_FRAG_RUNNING, 10000000000ll, &fi) != 0) {
        fprintf(stderr, "dsp did not start: %s\n", spl_frag_errmsg());
        goto out;
    }
    /* paced: one sample to each key, then wait until the last key's state
     * moved (the host works in feed order): every sample is processed */
    long long p0 = stat_of(s, "samples");
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9), rounds = 0;
    int64_t v = 0;
    char last[64];
    snprintf(last, sizeof last, "dsp.%s.state", names[keys - 1]);
    spl_meta m;
    while (now_ns() < end) {
        uint64_t e0 = spl_meta_get(s, last, &m) == 0 ? m.epoch : 0, e1;
        for (int k = 0; k < keys; k++, v++)
            if (spl_set_wait(s, names[k], &v, 8, 1000000) != 0)
                goto out;
        if (e0 == 0) {
            while (spl_meta_get(s, last, &m) == SPL_ENOENT)
                usleep(100);
        } else if (spl_key_wait(s, last, e0, 5000000000ll, &e1) != 0) {
            goto out;
        }
        rounds++;
    }
    uint64_t t1 = now_ns();
    for (int i = 0; i < 200; i++) { /* the other keys of the last round */
        if (spl_frag_get(s, "dsp", &fi) == 0 && fi.lag == 0)
            break;
        usleep(10000);
    }
    long long p1 = stat_of(s, "samples");
    double pdt = (double)(t1 - t0) / 1e9;
    /* flooded: the writer at full speed; the host processes the newest
     * value of each key it reads, and resyncs when the feed laps it */
    long long s0 = p1, r0 = stat_of(s, "resyncs");
    t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
    uint64_t written = 0;
    while (now_ns() < end) {
        for (int k = 0; k < keys; k++, v++)
            if (spl_set(s, names[k], &v, 8) == 0)
                written++;
    }
    t1 = now_ns();
    long long s1 = stat_of(s, "samples");
    for (int i = 0; i < 200; i++) {
        if (spl_frag_get(s, "dsp", &fi) == 0 && fi.lag == 0)
            break;
        usleep(10000);
    }
    long long resyncs = stat_of(s, "resyncs") - r0;
    double dt = (double)(t1 - t0) / 1e9;
    uint64_t *lag_ema = calloc((size_t)nlag, 8), *lag_state = calloc((size_t)nlag, 8);
    if (lag_run(s, "ema", nlag, lag_ema) != 0 || lag_run(s, "state", nlag, lag_state) != 0)
        goto out;
#define PCT(a, q) ((double)(a)[1 + (size_t)((double)(nlag - 2) * (q))] / 1000.0)
    double paced = (double)(p1 - p0) / pdt, flood_w = (double)written / dt, flood_p = (double)(s1 - s0) / dt;
    if (json) {
        printf("{\"keys\":%d,\"paced_processed_per_s\":%.0f,\"flood_written_per_s\":%.0f,"
               "\"flood_processed_per_s\":%.0f,\"flood_resyncs\":%lld,"
               "\"lag_ema_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
               "\"lag_state_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f}}\n",
               keys, paced, flood_w, flood_p, resyncs, PCT(lag_ema, 0.5), PCT(lag_ema, 0.99),
               (double)lag_ema[nlag - 1] / 1000.0, PCT(lag_state, 0.5), PCT(lag_state, 0.99),
               (double)lag_state[nlag - 1] / 1000.0);
    } else {
        printf("dsp bench: one host process, %d int64 keys, window 16, low-pass, %.1f s per phase\n", keys,
               seconds);
        printf("  paced (a sample per key, then wait):  %9.0f samples processed/s (%llu rounds)\n", paced,
               (unsigned long long)rounds);
        printf("  flooded (writer at full speed):       %9.0f written/s, %9.0f processed/s, %lld resyncs\n",
               flood_w, flood_p, resyncs);
        printf("  lag write -> .ema   (us)  p50 %7.1f  p99 %7.1f  max %8.1f  (%d samples)\n",
               PCT(lag_ema, 0.5), PCT(lag_ema, 0.99), (double)lag_ema[nlag - 1] / 1000.0, nlag - 1);
        printf("  lag write -> .state (us)  p50 %7.1f  p99 %7.1f  max %8.1f\n", PCT(lag_state, 0.5),
               PCT(lag_state, 0.99), (double)lag_state[nlag - 1] / 1000.0);
    }
    ret = 0;
out: /* the host goes whatever happened */
    spl_frag_unregister(s, "dsp", 5000000000ll);
    spl_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return ret;
}
