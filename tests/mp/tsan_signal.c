/*
 * tsan_signal.c - signals from threads on ONE handle, for ThreadSanitizer
 * (`make test-tsan`; also run natively in the multi-process group).
 *
 *   tsan_signal [--writers 2] [--subs 2] [--ops 20000] [--seed N]
 *
 * Writer threads set watched keys, bump them, and spl_signal the group;
 * subscriber threads wait and drain the change feed (every key named must
 * be one of the writers' keys); one thread follows a key with spl_key_wait;
 * one sits in poll(2) on a subscription's descriptor.  At the end every
 * subscriber has been woken for every pulse (counter arithmetic through
 * spl_sub_seen) and the key waiter has reached the key's final epoch.
 */
#include <poll.h>
#include <pthread.h>

#include "mp_common.h"

#define GROUP 5
#define MS    (1000ll * 1000)

typedef struct tctx {
    spl_store *s;
    uint64_t ops, seed;
    int id;
    _Atomic int *writers_left;
    uint64_t seen, events, overflows, bad, errors;
    uint64_t base;
} tctx;

static void *writer(void *arg)
{
    tctx *t = arg;
    char key[16];
    snprintf(key, sizeof key, "key%d", t->id);
    mp_rng r;
    mp_rng_seed(&r, t->seed, (uint64_t)t->id);
    for (uint64_t i = 0; i < t->ops; i++) {
        int rc;
        switch (mp_below(&r, 4)) {
        case 0: rc = spl_signal(t->s, 1ull << GROUP); break;
        case 1: rc = spl_bump(t->s, key); break;
        default: rc = spl_set(t->s, key, &i, sizeof i); break;
        }
        if (rc == SPL_EAGAIN) {
            i--;
            continue;
        }
        t->errors += rc != 0;
    }
    atomic_fetch_sub(t->writers_left, 1);
    return NULL;
}

static void *subscriber(void *arg)
{
    tctx *t = arg;
    spl_sub *u = NULL;
    if (spl_sub_open(t->s, 1ull << GROUP, &u) != 0) {
        t->errors++;
        return NULL;
    }
    spl_sub_seen(u, GROUP, &t->base);
    for (;;) {
        uint64_t fired = 0;
        int rc = spl_sub_wait(u, 200 * MS, &fired);
        spl_event ev;
        char key[32];
        int n;
        while ((n = spl_sub_next(u, &ev, key, sizeof key)) != SPL_ENOENT) {
            if (n == SPL_EOVERFLOW) {
                t->overflows++;
                continue;
            }
            if (n != 0) {
                t->errors++;
                break;
            }
            t->events++;
            if (ev.kind != SPL_EV_SIGNAL && ev.kind != SPL_EV_UNKNOWN && strncmp(key, "key", 3) != 0)
                t->bad++;
        }
        if (rc == SPL_ETIMEDOUT && atomic_load(t->writers_left) == 0)
            break;
        if (rc != 0 && rc != SPL_ETIMEDOUT)
            t->errors++;
    }
    spl_sub_seen(u, GROUP, &t->seen);
    spl_sub_close(u);
    return NULL;
}

static void *key_waiter(void *arg)
{
    tctx *t = arg;
    spl_meta m;
    uint64_t e = spl_meta_get(t->s, "key0", &m) == 0 ? m.epoch : 0;
    for (;;) {
        uint64_t ne = 0;
        int rc = spl_key_wait(t->s, "key0", e, 200 * MS, &ne);
        if (rc == 0)
            e = ne;
        else if (rc == SPL_ETIMEDOUT && atomic_load(t->writers_left) == 0)
            break;
        else if (rc != SPL_ETIMEDOUT)
            t->errors++;
    }
    t->seen = e;
    return NULL;
}

static void *poller(void *arg)
{
    tctx *t = arg;
    spl_sub *u = NULL;
    if (spl_sub_open(t->s, 1ull << GROUP, &u) != 0 || spl_sub_fd(u) < 0) {
        t->errors++;
        return NULL;
    }
    struct pollfd p = {spl_sub_fd(u), POLLIN, 0};
    while (atomic_load(t->writers_left) > 0) {
        if (poll(&p, 1, 100) == 1) {
            uint64_t v;
            if (read(p.fd, &v, 8) == 8)
                t->events++;
        }
    }
    spl_sub_close(u);
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t writers = 2, subs = 2, ops = 20000, seed = mp_time_seed();
    const mp_opt opts[] = {{"--writers", &writers}, {"--subs", &subs}, {"--ops", &ops}, {"--seed", &seed}, {NULL}};
    if (!mp_parse_args(argc, argv, opts, "[--writers N] [--subs N] [--ops N] [--seed N]"))
        return 2;
    if (writers < 1 || writers > 8 || subs < 1 || subs > 8)
        MP_DIE("bad sizes");
    printf("tsan_signal: seed %" PRIu64 " writers %" PRIu64 " subs %" PRIu64 " ops %" PRIu64 "\n", seed, writers,
           subs, ops);
    mp_store m;
    mp_store_create(&m, MP_MEMFD, "tsan_signal", 64, 16, 64);
    spl_store *s = m.s;
    for (uint64_t w = 0; w < writers; w++) {
        char key[16];
        snprintf(key, sizeof key, "key%d", (int)w);
        uint64_t z = 0;
        if (spl_set(s, key, &z, sizeof z) || spl_watch(s, key, 1ull << GROUP))
            MP_DIE("set-up");
    }
    _Atomic int left = (int)writers;
    tctx t[20];
    memset(t, 0, sizeof t);
    pthread_t th[20];
    int n = 0;
    uint64_t nsub0 = writers, nkey = writers + subs, npoll = nkey + 1;
    for (uint64_t i = 0; i < npoll + 1; i++) {
        t[i] = (tctx){s, ops, seed, (int)i, &left, 0, 0, 0, 0, 0, 0};
        void *(*fn)(void *) = i < nsub0 ? writer : i < nkey ? subscriber : i == nkey ? key_waiter : poller;
        if (i < nsub0)
            continue; /* writers start after the followers are in place */
        pthread_create(&th[i], NULL, fn, &t[i]);
        n++;
    }
    mp_sleep_us(50 * 1000);
    for (uint64_t i = 0; i < nsub0; i++)
        pthread_create(&th[i], NULL, writer, &t[i]);
    for (uint64_t i = 0; i < npoll + 1; i++)
        pthread_join(th[i], NULL);
    int fails = 0;
    uint64_t errors = 0;
    for (uint64_t i = 0; i < npoll + 1; i++)
        errors += t[i].errors + t[i].bad;
    uint64_t end;
    spl_pulses(s, GROUP, &end);
    for (uint64_t i = nsub0; i < nkey; i++) {
        if (t[i].seen != end) {
            fails++;
            MP_FAIL("subscriber %d saw the counter up to %" PRIu64 ", it ended at %" PRIu64, t[i].id, t[i].seen,
                    end);
        }
        printf("subscriber %d: woken for %" PRIu64 " pulses, %" PRIu64 " feed events, %" PRIu64 " overflows\n",
               t[i].id, t[i].seen - t[i].base, t[i].events, t[i].overflows);
    }
    spl_meta km;
    if (spl_meta_get(s, "key0", &km) != 0 || t[nkey].seen != km.epoch) {
        fails++;
        MP_FAIL("key waiter ended on %" PRIu64 ", key0 is at %" PRIu64, t[nkey].seen, km.epoch);
    }
    if (t[npoll].events == 0) {
        fails++;
        MP_FAIL("the descriptor never became readable");
    }
    if (errors) {
        fails++;
        MP_FAIL("%" PRIu64 " errors", errors);
    }
    if (spl_signal_repair(s) != 0) {
        fails++;
        MP_FAIL("records left behind");
    }
    mp_store_destroy(&m);
    printf("tsan_signal: %s (poller woke %" PRIu64 " times)\n", fails ? "FAILED" : "ok", t[npoll].events);
    return fails ? 1 : 0;
}
