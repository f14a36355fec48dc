/*
 * tsan_contend.c - the *_wait calls' contention sleeps, as threads on ONE
 * handle, for ThreadSanitizer (make test-tsan; also in the mp group).
 *
 *   tsan_contend [--rounds 300] [--readers 3] [--writers 2] [--adders 2]
 *
 * A holder thread takes one of 4 hot keys' slots through the library's own
 * write path (spl__key_lock, spl__write_begin), writes a new value into it,
 * stays inside for ~1 ms (every 16th time until a waiter sleeps, at most
 * 2 s), and commits (write_end, unlock, spl__note_send): --rounds times.  Meanwhile reader threads spl_get_wait the hot keys (every
 * value they get must be whole: all its words equal), writer threads
 * spl_set_wait them, and adder threads spl_add one counter.  The holder's
 * long stays make the waiters go past spinning into sleeping on the slot,
 * so their registration, futex sleep and wake-up run under TSan.
 * Checks: no torn value, no error, the counter adds up, and some waiter slept.
 */
#include <pthread.h>

#include "mp_common.h"

#include "internal.h" /* the holder: lock a slot and make its epoch odd */

#define NHOT    4
#define VWORDS  8 /* 64-byte values: 8 equal words */
#define WAIT_US 10000000u

static spl_store *g_s;
static _Atomic int g_stop;
static _Atomic uint64_t g_bad, g_errors, g_sleeps, g_retries;
static const char *g_keys[NHOT] = {"hot0", "hot1", "hot2", "hot3"};

static void fill(uint64_t *v, uint64_t x)
{
    for (int i = 0; i < VWORDS; i++)
        v[i] = x;
}

static void note_stats(void)
{
    uint64_t r = 0, sl = 0;
    spl__contend_stats(&r, &sl);
    atomic_fetch_add(&g_retries, r);
    atomic_fetch_add(&g_sleeps, sl);
}

static void *holder(void *arg)
{
    uint64_t rounds = *(uint64_t *)arg;
    for (uint64_t n = 0; n < rounds; n++) {
        const char *k = g_keys[n % NHOT];
        uint64_t fp;
        int i = spl__key_lock(g_s, k, 0, &fp);
        if (i == SPL_EAGAIN) { /* a writer thread has it: try the next key */
            sched_yield();
            continue;
        }
        if (i < 0) {
            MP_FAIL("holder: spl__key_lock(%s): %s", k, spl_err_name(i));
            atomic_fetch_add(&g_errors, 1);
            break;
        }
        struct spl_slot *sl = spl__slot(g_s, (uint32_t)i);
        struct spl__note note;
        spl__note_take(g_s, (uint32_t)i, sl, fp, &note);
        uint64_t odd = spl__write_begin(sl);
        uint64_t v[VWORDS];
        fill(v, 1000000 + n);
        spl__copy_in(spl__slot_val(g_s, sl), 0, v, sizeof v, 1);
        spl_store32_relaxed(&sl->val_len, (uint32_t)sizeof v);
        mp_sleep_us(1000); /* inside the slot: the waiters go to sleep */
        /* Every 16th stay lasts until a waiter sleeps on a slot (the key
         * sleepers' count), at most 2 s: on a loaded machine the waiters'
         * yields can outlast a 1 ms stay, and they would reach their
         * stuck-slot check only after the holder left (0 sleeps in a run
         * of make test beside other work). */
        for (int t = 0; n % 16 == 0 && t < 2000 && !spl_load_relaxed(&g_s->sig->kwaiters); t++)
            mp_sleep_us(1000);
        spl__write_end(sl, odd);
        spl__slot_unlock(sl);
        spl__note_send(g_s, &note);
    }
    atomic_store(&g_stop, 1);
    return NULL;
}

static void *reader(void *arg)
{
    uint64_t n = (uint64_t)(uintptr_t)arg;
    while (!atomic_load(&g_stop)) {
        uint64_t v[VWORDS];
        size_t len = 0;
        const char *k = g_keys[n++ % NHOT];
        int rc = spl_get_wait(g_s, k, v, sizeof v, &len, WAIT_US);
        if (rc != 0) {
            MP_FAIL("reader: spl_get_wait(%s): %s", k, spl_err_name(rc));
            atomic_fetch_add(&g_errors, 1);
            break;
        }
        int whole = len == sizeof v;
        for (int i = 1; whole && i < VWORDS; i++)
            whole = v[i] == v[0];
        if (!whole) {
            MP_FAIL("reader: %s: a torn or foreign value (len %zu)", k, len);
            atomic_fetch_add(&g_bad, 1);
        }
    }
    note_stats();
    return NULL;
}

static void *writer(void *arg)
{
    uint64_t n = (uint64_t)(uintptr_t)arg;
    while (!atomic_load(&g_stop)) {
        uint64_t v[VWORDS];
        fill(v, n);
        const char *k = g_keys[n++ % NHOT];
        int rc = spl_set_wait(g_s, k, v, sizeof v, WAIT_US);
        if (rc != 0) {
            MP_FAIL("writer: spl_set_wait(%s): %s", k, spl_err_name(rc));
            atomic_fetch_add(&g_errors, 1);
            break;
        }
        mp_sleep_us(200);
    }
    note_stats();
    return NULL;
}

static _Atomic uint64_t g_added;

static void *adder(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop)) {
        int rc = spl_add(g_s, "ctr", 1, NULL);
        if (rc != 0) {
            MP_FAIL("adder: spl_add: %s", spl_err_name(rc));
            atomic_fetch_add(&g_errors, 1);
            break;
        }
        atomic_fetch_add(&g_added, 1);
    }
    note_stats();
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t rounds = 300, readers = 3, writers = 2, adders = 2;
    const mp_opt opts[] = {{"--rounds", &rounds, NULL, NULL},
                           {"--readers", &readers, NULL, NULL},
                           {"--writers", &writers, NULL, NULL},
                           {"--adders", &adders, NULL, NULL},
                           {NULL, NULL, NULL, NULL}};
    if (!mp_parse_args(argc, argv, opts, "[--rounds 300] [--readers 3] [--writers 2] [--adders 2]"))
        return 2;
    if (readers + writers + adders > 32 || rounds < 1)
        MP_DIE("at most 32 threads, --rounds >= 1");
    spl_options o;
    mp_geom(&o, MP_MEMFD, 64, 16, 64);
    int rc = spl_create(&g_s, NULL, &o);
    if (rc != 0)
        MP_DIE("spl_create: %s", spl_err_name(rc));
    for (int k = 0; k < NHOT; k++) {
        uint64_t v[VWORDS];
        fill(v, (uint64_t)k);
        if ((rc = spl_set(g_s, g_keys[k], v, sizeof v)) != 0)
            MP_DIE("populate: %s", spl_err_name(rc));
    }
    if ((rc = spl_add(g_s, "ctr", 0, NULL)) != 0)
        MP_DIE("populate: %s", spl_err_name(rc));

    pthread_t th[33];
    int nt = 0;
    for (uint64_t i = 0; i < readers; i++)
        pthread_create(&th[nt++], NULL, reader, (void *)(uintptr_t)i);
    for (uint64_t i = 0; i < writers; i++)
        pthread_create(&th[nt++], NULL, writer, (void *)(uintptr_t)(100 + i));
    for (uint64_t i = 0; i < adders; i++)
        pthread_create(&th[nt++], NULL, adder, NULL);
    pthread_create(&th[nt++], NULL, holder, &rounds);
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);

    int64_t ctr = 0;
    rc = spl_add(g_s, "ctr", 0, &ctr);
    uint64_t fails = atomic_load(&g_bad) + atomic_load(&g_errors);
    if (rc != 0 || (uint64_t)ctr != atomic_load(&g_added)) {
        MP_FAIL("counter: %lld, %llu adds (%s)", (long long)ctr,
                (unsigned long long)atomic_load(&g_added), spl_err_name(rc));
        fails++;
    }
    if (atomic_load(&g_sleeps) == 0) {
        MP_FAIL("no waiter ever slept on a slot (the sleep path was not exercised)");
        fails++;
    }
    printf("tsan_contend: %s  %llu holds, %llu retries, %llu sleeps, counter %lld, bad %llu, errors %llu\n",
           fails ? "FAIL" : "ok", (unsigned long long)rounds, (unsigned long long)atomic_load(&g_retries),
           (unsigned long long)atomic_load(&g_sleeps), (long long)ctr,
           (unsigned long long)atomic_load(&g_bad), (unsigned long long)atomic_load(&g_errors));
    spl_close(g_s);
    return fails ? 1 : 0;
}
