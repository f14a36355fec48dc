/*
 * test_signal.c - signal groups, watches, label routing, the change feed,
 * waits with timeouts, the pollable descriptor; across real processes
 * (fork) where the claim is about other processes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "splinter.h"
#include "layout.h" /* a sleeper's count, to know it sleeps */
#include "unit_common.h"

#define MS (1000ll * 1000)

static int setup_store(void **state)
{
    *state = mk(64, 32, 64);
    return 0;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t pulses(spl_store *s, unsigned g)
{
    uint64_t c = 0;
    CHECK_RC(spl_pulses(s, g, &c), 0);
    return c;
}

static uint64_t changes(spl_store *s)
{
    spl_info in;
    CHECK_RC(spl_info_get(s, &in), 0);
    return in.changes;
}

static void set_str(spl_store *s, const char *k, const char *v)
{
    CHECK_RC(spl_set(s, k, v, strlen(v)), 0);
}

/* A forked child ends here: its copy of the handle is closed first (the
 * suite runs under valgrind's leak check, in children too). */
static void child_exit(spl_store *s, int code)
{
    spl_close(s);
    _exit(code);
}

/* Waits for a child and fails unless it exited with status 0. */
static void reap(pid_t pid)
{
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("child %d failed: status 0x%x", (int)pid, st);
}

/* ---------------------------------------------------------------- API */

static void test_bad_input(void **state)
{
    spl_store *s = *state;
    uint64_t g = 0;
    spl_sub *u = NULL;
    CHECK_RC(spl_bind(s, 65, 1), SPL_EINVAL);
    CHECK_RC(spl_unbind(s, 99, 1), SPL_EINVAL);
    CHECK_RC(spl_bind_get(s, 65, &g), SPL_EINVAL);
    CHECK_RC(spl_bind_get(s, 0, NULL), SPL_EINVAL);
    CHECK_RC(spl_pulses(s, 64, &g), SPL_EINVAL);
    CHECK_RC(spl_watch(s, "absent", 1), SPL_ENOENT);
    CHECK_RC(spl_watch(s, "", 1), SPL_EKEYLEN);
    CHECK_RC(spl_bump(s, "absent"), SPL_ENOENT);
    CHECK_RC(spl_key_wait(s, "absent", 0, 0, NULL), SPL_ENOENT);
    CHECK_RC(spl_sub_open(s, 0, &u), SPL_EINVAL);
    CHECK_RC(spl_sub_open(NULL, 1, &u), SPL_EINVAL);
    CHECK_RC(spl_sub_wait(NULL, 0, NULL), SPL_EINVAL);
    spl_sub_close(NULL);
}

static void test_watch_and_bind(void **state)
{
    spl_store *s = *state;
    set_str(s, "k", "v");
    CHECK_RC(spl_watch(s, "k", 0x5), 0);
    CHECK_RC(spl_watch(s, "k", 0x100), 0);
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "k", &m), 0);
    assert_int_equal(m.watch, 0x105);
    uint64_t e0 = m.epoch;
    CHECK_RC(spl_unwatch(s, "k", 0x4), 0);
    CHECK_RC(spl_meta_get(s, "k", &m), 0);
    assert_int_equal(m.watch, 0x101);
    assert_int_equal(m.epoch, e0); /* watching is not a change */
    /* the watch ends with the key */
    CHECK_RC(spl_unset(s, "k"), 0);
    set_str(s, "k", "again");
    CHECK_RC(spl_meta_get(s, "k", &m), 0);
    assert_int_equal(m.watch, 0);

    uint64_t g;
    CHECK_RC(spl_bind(s, 7, 0x30), 0);
    CHECK_RC(spl_bind(s, 7, 0x1), 0);
    CHECK_RC(spl_bind_get(s, 7, &g), 0);
    assert_int_equal(g, 0x31);
    CHECK_RC(spl_unbind(s, 7, 0x10), 0);
    CHECK_RC(spl_bind_get(s, 7, &g), 0);
    assert_int_equal(g, 0x21);
}

/* Every mutation pulses the key's groups exactly once and advances the
 * change counter; spl_touch and watching do neither. */
static void test_every_mutation_pulses(void **state)
{
    spl_store *s = *state;
    set_str(s, "k", "v");
    int64_t iv;
    CHECK_RC(spl_add(s, "n", 1, &iv), 0);
    CHECK_RC(spl_watch(s, "k", 1ull << 3), 0);
    CHECK_RC(spl_watch(s, "n", 1ull << 3), 0);
    spl_sub *u = NULL; /* pulses are counted while a group is followed */
    CHECK_RC(spl_sub_open(s, 1ull << 3 | 1ull << 9, &u), 0);
    spl_meta m;
#define PULSE_ONCE(call)                                                          \
    do {                                                                          \
        uint64_t p0 = pulses(s, 3), c0 = changes(s);                              \
        CHECK_RC(call, 0);                                                        \
        if (pulses(s, 3) != p0 + 1 || changes(s) != c0 + 1)                       \
            fail_msg("%s: pulses %llu->%llu changes %llu->%llu", #call,           \
                     (unsigned long long)p0, (unsigned long long)pulses(s, 3),    \
                     (unsigned long long)c0, (unsigned long long)changes(s));     \
    } while (0)
    PULSE_ONCE(spl_set(s, "k", "w", 1));
    PULSE_ONCE(spl_append(s, "k", "x", 1));
    CHECK_RC(spl_meta_get(s, "k", &m), 0);
    PULSE_ONCE(spl_cas(s, "k", m.epoch, "y", 1));
    PULSE_ONCE(spl_type_set(s, "k", SPL_T_TEXT));
    PULSE_ONCE(spl_flags_set(s, "k", 2));
    PULSE_ONCE(spl_labels_set(s, "k", 1));
    PULSE_ONCE(spl_labels_clear(s, "k", 1));
    PULSE_ONCE(spl_bump(s, "k"));
    PULSE_ONCE(spl_add(s, "n", 5, &iv));
    PULSE_ONCE(spl_int(s, "n", SPL_OP_XOR, 3, NULL));
    PULSE_ONCE(spl_int(s, "n", SPL_OP_NOT, 0, NULL));
    float vec[768] = {1.0f};
    spl_info in;
    CHECK_RC(spl_info_get(s, &in), 0);
    if (in.geom.vec_dim == 768) { /* embeddings build: vector writes pulse */
        PULSE_ONCE(spl_vec_set(s, "k", vec, 768));
        PULSE_ONCE(spl_vec_clear(s, "k"));
    }
    PULSE_ONCE(spl_unset(s, "k"));
#undef PULSE_ONCE
    /* not pulsed: touch, watch */
    uint64_t p0 = pulses(s, 3), c0 = changes(s);
    CHECK_RC(spl_touch(s, "n"), 0);
    CHECK_RC(spl_watch(s, "n", 1), 0);
    assert_int_equal(pulses(s, 3), p0);
    assert_int_equal(changes(s), c0);
    /* a failed mutation pulses nothing */
    CHECK_RC(spl_cas(s, "n", 12345, "z", 1), SPL_ESTALE);
    assert_int_equal(pulses(s, 3), p0);
    /* an unwatched key changes the counter, pulses nothing */
    set_str(s, "other", "1");
    assert_int_equal(pulses(s, 3), p0);
    assert_int_equal(changes(s), c0 + 1);
    /* spl_signal pulses each group given, once */
    uint64_t p9 = pulses(s, 9);
    CHECK_RC(spl_signal(s, (1ull << 3) | (1ull << 9)), 0);
    assert_int_equal(pulses(s, 3), p0 + 1);
    assert_int_equal(pulses(s, 9), p9 + 1);
    /* nobody follows: not counted (unobservable), the change counter runs */
    spl_sub_close(u);
    c0 = changes(s);
    CHECK_RC(spl_set(s, "k", "again", 5) == 0 ? spl_set(s, "k", "w", 1) : -1, 0);
    assert_int_equal(pulses(s, 3), p0 + 1);
    assert_int_equal(changes(s), c0 + 2);
}

/* A label bound to a group routes every key carrying it; a label change
 * pulses the groups of the labels before and after. */
static void test_label_routing(void **state)
{
    spl_store *s = *state;
    CHECK_RC(spl_bind(s, 1, 1ull << 10), 0); /* label A */
    CHECK_RC(spl_bind(s, 2, 1ull << 11), 0); /* label B */
    spl_sub *u = NULL;
    CHECK_RC(spl_sub_open(s, 3ull << 10, &u), 0);
    set_str(s, "a", "1");
    set_str(s, "b", "1");
    uint64_t a0 = pulses(s, 10), b0 = pulses(s, 11);
    CHECK_RC(spl_labels_set(s, "a", 1ull << 1), 0); /* joins A */
    CHECK_RC(spl_labels_set(s, "b", 1ull << 2), 0); /* joins B */
    assert_int_equal(pulses(s, 10), a0 + 1);
    assert_int_equal(pulses(s, 11), b0 + 1);
    set_str(s, "b", "2"); /* B only */
    assert_int_equal(pulses(s, 10), a0 + 1);
    assert_int_equal(pulses(s, 11), b0 + 2);
    set_str(s, "a", "2"); /* A only */
    assert_int_equal(pulses(s, 10), a0 + 2);
    assert_int_equal(pulses(s, 11), b0 + 2);
    CHECK_RC(spl_labels_clear(s, "a", 1ull << 1), 0); /* leaves A: A hears it */
    assert_int_equal(pulses(s, 10), a0 + 3);
    set_str(s, "a", "3"); /* no labels now */
    assert_int_equal(pulses(s, 10), a0 + 3);
    CHECK_RC(spl_unbind(s, 2, 1ull << 11), 0);
    set_str(s, "b", "3");
    assert_int_equal(pulses(s, 11), b0 + 2);
    spl_sub_close(u);
}

/* SPL_BIND_ALL routes every key, labelled or not, from its first write;
 * the feed names it; unbinding stops it. */
static void test_bind_all(void **state)
{
    spl_store *s = *state;
    uint64_t g = 0;
    CHECK_RC(spl_bind(s, SPL_BIND_ALL, 1ull << 40), 0);
    CHECK_RC(spl_bind_get(s, SPL_BIND_ALL, &g), 0);
    assert_int_equal(g, 1ull << 40);
    spl_sub *u = NULL;
    CHECK_RC(spl_sub_open(s, 1ull << 40, &u), 0);
    uint64_t p0 = pulses(s, 40);
    set_str(s, "fresh", "1"); /* a new key: no watch, no label */
    assert_int_equal(pulses(s, 40), p0 + 1);
    spl_event ev;
    char key[64];
    CHECK_RC(spl_sub_next(u, &ev, key, sizeof key), 0);
    assert_int_equal(ev.kind, SPL_EV_CHANGED);
    assert_string_equal(key, "fresh");
    CHECK_RC(spl_unset(s, "fresh"), 0);
    assert_int_equal(pulses(s, 40), p0 + 2);
    CHECK_RC(spl_sub_next(u, &ev, key, sizeof key), 0);
    assert_int_equal(ev.kind, SPL_EV_DELETED);
    assert_string_equal(key, "fresh");
    CHECK_RC(spl_unbind(s, SPL_BIND_ALL, 1ull << 40), 0);
    set_str(s, "fresh", "2");
    assert_int_equal(pulses(s, 40), p0 + 2);
    CHECK_RC(spl_sub_next(u, &ev, key, sizeof key), SPL_ENOENT);
    spl_sub_close(u);
}

/* ---------------------------------------------------------------- feed */

static int next_ev(spl_sub *u, spl_event *ev, char *key)
{
    return spl_sub_next(u, ev, key, 64);
}

/* Set key to "1", watch it by `group` and open a subscription to it. */
static spl_sub *watched_sub(spl_store *s, const char *key, uint64_t group)
{
    spl_sub *u = NULL;
    set_str(s, key, "1");
    CHECK_RC(spl_watch(s, key, group), 0);
    CHECK_RC(spl_sub_open(s, group, &u), 0);
    return u;
}

static void test_feed_names_keys(void **state)
{
    spl_store *s = *state;
    spl_event ev;
    char key[64];
    spl_sub *u = watched_sub(s, "before", 1ull << 4);
    CHECK_RC(next_ev(u, &ev, key), SPL_ENOENT);
    set_str(s, "before", "y");
    CHECK_RC(next_ev(u, &ev, key), 0);
    assert_string_equal(key, "before");
    assert_int_equal(ev.kind, SPL_EV_CHANGED);
    assert_int_equal(ev.groups, 1ull << 4);
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "before", &m), 0);
    assert_int_equal(ev.epoch, m.epoch);
    assert_int_equal(ev.slot, m.slot);
    CHECK_RC(spl_bump(s, "before"), 0);
    CHECK_RC(next_ev(u, &ev, key), 0);
    assert_int_equal(ev.kind, SPL_EV_BUMPED);
    assert_string_equal(key, "before");
    CHECK_RC(spl_unset(s, "before"), 0);
    CHECK_RC(next_ev(u, &ev, key), 0);
    assert_int_equal(ev.kind, SPL_EV_DELETED);
    assert_string_equal(key, "before"); /* named although deleted */
    CHECK_RC(spl_signal(s, 1ull << 4 | 1ull << 5), 0);
    CHECK_RC(next_ev(u, &ev, key), 0);
    assert_int_equal(ev.kind, SPL_EV_SIGNAL);
    assert_int_equal(ev.slot, SPL_EV_NOSLOT);
    assert_int_equal(ev.groups, 1ull << 4); /* only what we follow */
    /* other groups' changes are not ours */
    CHECK_RC(spl_signal(s, 1ull << 5), 0);
    CHECK_RC(next_ev(u, &ev, key), SPL_ENOENT);
    /* a short key buffer: SPL_ENOBUFS with the length; not consumed */
    set_str(s, "longer-key-name", "1");
    CHECK_RC(spl_watch(s, "longer-key-name", 1ull << 4), 0);
    set_str(s, "longer-key-name", "2");
    CHECK_RC(spl_sub_next(u, &ev, key, 4), SPL_ENOBUFS);
    assert_int_equal(ev.key_len, 15);
    CHECK_RC(next_ev(u, &ev, key), 0);
    assert_string_equal(key, "longer-key-name");
    /* a deleted slot reused by another key: the old event is UNKNOWN, not
     * the new key (no aliasing) */
    CHECK_RC(spl_unset(s, "longer-key-name"), 0);
    set_str(s, "longer-key-name", "3"); /* likely the same slot */
    CHECK_RC(next_ev(u, &ev, key), 0);
    assert_true(ev.kind == SPL_EV_DELETED || ev.kind == SPL_EV_UNKNOWN);
    if (ev.kind == SPL_EV_DELETED)
        assert_string_equal(key, "longer-key-name");
    spl_sub_close(u);
}

/* A reader a few writes behind: the key was changed, bumped and deleted
 * before the reader looked at the feed.  Every entry still names it (the
 * free slot keeps the deleted key's bytes); `splinterctl watch KEY` skipped
 * unnamed entries and so lost the change and the bump when it was slow.
 * Once another key has taken the slot, the older entries are UNKNOWN. */
static void test_feed_names_deleted_key_late(void **state)
{
    spl_store *s = *state;
    spl_event ev;
    char key[64];
    spl_sub *u = watched_sub(s, "late", 1ull << 6);
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "late", &m), 0);
    set_str(s, "late", "2");
    CHECK_RC(spl_bump(s, "late"), 0);
    CHECK_RC(spl_unset(s, "late"), 0);
    static const uint32_t kinds[] = {SPL_EV_CHANGED, SPL_EV_BUMPED, SPL_EV_DELETED};
    uint64_t ep[3];
    for (int i = 0; i < 3; i++) {
        CHECK_RC(next_ev(u, &ev, key), 0);
        assert_int_equal(ev.kind, kinds[i]);
        assert_string_equal(key, "late");
        assert_int_equal(ev.slot, m.slot);
        ep[i] = ev.epoch;
    }
    assert_int_equal(ep[1], ep[0]); /* a bump does not move the epoch */
    assert_true(ep[2] > ep[0]);
    CHECK_RC(next_ev(u, &ev, key), SPL_ENOENT);

    /* no aliasing: the same events again, then another key takes the slot
     * (and is deleted in turn, its bytes now the free slot's) */
    set_str(s, "late", "3");
    CHECK_RC(spl_watch(s, "late", 1ull << 6), 0);
    CHECK_RC(spl_meta_get(s, "late", &m), 0); /* the insert: not watched yet */
    set_str(s, "late", "4");
    CHECK_RC(spl_unset(s, "late"), 0);
    char other[32];
    int taken = 0;
    for (int i = 0; i < 64 && !taken; i++) {
        snprintf(other, sizeof other, "o%d", i);
        set_str(s, other, "x");
        spl_meta mo;
        CHECK_RC(spl_meta_get(s, other, &mo), 0);
        taken = mo.slot == m.slot;
    }
    assert_true(taken);
    CHECK_RC(spl_unset(s, other), 0);
    for (;;) {
        int rc = next_ev(u, &ev, key);
        if (rc == SPL_ENOENT)
            break;
        CHECK_RC(rc, 0);
        if (ev.slot == m.slot)
            assert_int_equal(ev.kind, SPL_EV_UNKNOWN); /* never "o..", never a guess */
    }
    spl_sub_close(u);
}

static int count_entry(const spl_entry *e, void *ud)
{
    (void)e;
    ++*(int *)ud;
    return 0;
}

/* A slow reader of a small feed is told it missed events, and resyncs. */
static void test_feed_overflow(void **state)
{
    (void)state;
    spl_options o = unit_opts(SPL_BACKING_MEMFD, 64, 32, 64);
    o.feed_len = 16;
    spl_store *s = NULL;
    CHECK_RC(spl_create(&s, NULL, &o), 0);
    CHECK_RC(spl_bind(s, 0, 1), 0);
    spl_sub *u = NULL;
    CHECK_RC(spl_sub_open(s, 1, &u), 0);
    char key[64];
    spl_event ev;
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "k%d", i);
        set_str(s, key, "v");
        CHECK_RC(spl_labels_set(s, key, 1), 0);
    }
    CHECK_RC(next_ev(u, &ev, key), SPL_EOVERFLOW);
    CHECK_RC(next_ev(u, &ev, key), SPL_ENOENT); /* skipped to now */
    /* resync: a scan sees every key */
    spl_filter f = {NULL, NULL, 1, 0};
    int n = 0;
    CHECK_RC(spl_foreach(s, &f, count_entry, &n), 0);
    assert_int_equal(n, 40);
    /* and the feed works again from here */
    set_str(s, "k3", "again");
    CHECK_RC(next_ev(u, &ev, key), 0);
    assert_string_equal(key, "k3");
    CHECK_RC(next_ev(u, &ev, key), SPL_ENOENT);
    spl_sub_close(u);
    spl_close(s);
    /* bad feed sizes */
    o.feed_len = 17;
    CHECK_RC(spl_create(&s, NULL, &o), SPL_EFORMAT);
    o.feed_len = 8;
    CHECK_RC(spl_create(&s, NULL, &o), SPL_EFORMAT);
}

/* ---------------------------------------------------------------- waits */

static void test_timeouts(void **state)
{
    spl_store *s = *state;
    uint64_t fired = 99;
    spl_sub *u = NULL, *u6 = NULL;
    CHECK_RC(spl_sub_open(s, 1, &u), 0);
    uint64_t t0 = mono_ns();
    CHECK_RC(spl_sub_wait(u, 0, &fired), SPL_ETIMEDOUT);
    assert_int_equal(fired, 0);
    CHECK_RC(spl_sub_wait(u, 50 * MS, &fired), SPL_ETIMEDOUT);
    uint64_t dt = mono_ns() - t0;
    assert_true(dt >= 50 * MS && dt < 2000 * MS);
    set_str(s, "k", "v");
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "k", &m), 0);
    t0 = mono_ns();
    CHECK_RC(spl_key_wait(s, "k", m.epoch, 30 * MS, NULL), SPL_ETIMEDOUT);
    dt = mono_ns() - t0;
    assert_true(dt >= 30 * MS && dt < 2000 * MS);
    uint64_t e = 0;
    CHECK_RC(spl_key_wait(s, "k", m.epoch - 2, 30 * MS, &e), 0); /* already past */
    assert_int_equal(e, m.epoch);
    /* a pulse between the open (or the last wait) and the wait is seen at
     * once */
    CHECK_RC(spl_sub_open(s, 1ull << 6 | 1, &u6), 0);
    CHECK_RC(spl_signal(s, 1ull << 6), 0);
    t0 = mono_ns();
    CHECK_RC(spl_sub_wait(u6, 1000 * MS, &fired), 0);
    assert_int_equal(fired, 1ull << 6);
    assert_true(mono_ns() - t0 < 500 * MS);
    CHECK_RC(spl_sub_wait(u6, 0, &fired), SPL_ETIMEDOUT); /* consumed */
    spl_sub_close(u6);
    spl_sub_close(u);
    /* no waiter or subscriber is left counted behind: a write makes no
     * wake-up call (checked via the waiter records being free) */
    assert_int_equal(spl_signal_repair(s), 0);
}

/* Across processes, for each kind of mutation: a watcher process wakes and
 * reads the right key and kind from the feed. */
struct xp_case {
    const char *name;
    uint32_t kind;
};

static void do_mutation(spl_store *s, int c)
{
    spl_meta m;
    switch (c) {
    case 0: set_str(s, "w", "set"); break;
    case 1: CHECK_RC(spl_append(s, "w", "+", 1), 0); break;
    case 2:
        CHECK_RC(spl_meta_get(s, "w", &m), 0);
        CHECK_RC(spl_cas(s, "w", m.epoch, "cas", 3), 0);
        break;
    case 3: CHECK_RC(spl_add(s, "n", 2, NULL), 0); break;
    case 4: CHECK_RC(spl_int(s, "n", SPL_OP_OR, 8, NULL), 0); break;
    case 5: CHECK_RC(spl_type_set(s, "w", SPL_T_JSON), 0); break;
    case 6: CHECK_RC(spl_labels_set(s, "w", 1ull << 40), 0); break;
    case 7: CHECK_RC(spl_bump(s, "w"), 0); break;
    case 8: {
        spl_info in;
        CHECK_RC(spl_info_get(s, &in), 0);
        float v[768] = {0.5f};
        if (in.geom.vec_dim == 768)
            CHECK_RC(spl_vec_set(s, "w", v, 768), 0); /* a vector write */
        else
            set_str(s, "w", "no vectors in this build");
        break;
    }
    case 9: CHECK_RC(spl_unset(s, "w"), 0); break;
    default: CHECK_RC(spl_signal(s, 1ull << 2), 0); break;
    }
}

static void test_cross_process_each_mutation(void **state)
{
    (void)state;
    static const struct xp_case cases[] = {
        {"w", SPL_EV_CHANGED}, {"w", SPL_EV_CHANGED}, {"w", SPL_EV_CHANGED},
        {"n", SPL_EV_CHANGED}, {"n", SPL_EV_CHANGED}, {"w", SPL_EV_CHANGED},
        {"w", SPL_EV_CHANGED}, {"w", SPL_EV_BUMPED},  {"w", SPL_EV_CHANGED},
        {"w", SPL_EV_DELETED},
        {"", SPL_EV_SIGNAL},
    };
    const int ncase = (int)(sizeof cases / sizeof cases[0]);
    spl_store *s = mk(64, 32, 64);
    set_str(s, "w", "0");
    CHECK_RC(spl_add(s, "n", 1, NULL), 0);
    CHECK_RC(spl_watch(s, "w", 1ull << 2), 0);
    CHECK_RC(spl_watch(s, "n", 1ull << 2), 0);
    int go[2], done[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(done), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the watcher */
        spl_sub *u = NULL;
        int bad = spl_sub_open(s, 1ull << 2, &u) != 0;
        char b = 1;
        bad |= write(go[1], &b, 1) != 1;
        for (int c = 0; c < ncase && !bad; c++) {
            uint64_t fired = 0, t0 = mono_ns();
            int wrc = spl_sub_wait(u, 5000 * MS, &fired);
            /* a late wake-up (the timeout ending the wait) is a lost one */
            if (wrc != 0 || fired != (1ull << 2) || mono_ns() - t0 > 2000 * MS) {
                fprintf(stderr, "case %d: no prompt wake-up (rc %d)\n", c, wrc);
                bad = 1;
                break;
            }
            spl_event ev;
            char key[64];
            int rc = spl_sub_next(u, &ev, key, sizeof key);
            if (rc != 0 || ev.kind != cases[c].kind || strcmp(key, cases[c].name) != 0) {
                fprintf(stderr, "case %d: rc %d kind %u key '%s'\n", c, rc, ev.kind, key);
                bad = 1;
            }
            if (spl_sub_next(u, &ev, key, sizeof key) != SPL_ENOENT)
                bad = 1; /* exactly one event per mutation */
            bad |= write(done[1], &b, 1) != 1;
        }
        spl_sub_close(u);
        child_exit(s, bad);
    }
    char b;
    assert_int_equal(read(go[0], &b, 1), 1);
    for (int c = 0; c < ncase; c++) {
        struct timespec ts = {0, 2 * 1000 * 1000}; /* let it fall asleep */
        nanosleep(&ts, NULL);
        do_mutation(s, c);
        struct pollfd p = {done[0], POLLIN, 0};
        if (poll(&p, 1, 6000) != 1 || read(done[0], &b, 1) != 1)
            break;
    }
    reap(pid);
    close(go[0]), close(go[1]), close(done[0]), close(done[1]);
    spl_close(s);
}

/* Label routing across processes: a subscriber to label A's group does not
 * wake for writes to a key that only has label B, and wakes for A. */
static void test_cross_process_label_filter(void **state)
{
    (void)state;
    spl_store *s = mk(64, 32, 64);
    CHECK_RC(spl_bind(s, 5, 1ull << 20), 0); /* A -> group 20 */
    CHECK_RC(spl_bind(s, 6, 1ull << 21), 0); /* B -> group 21 */
    set_str(s, "onlyB", "x");
    set_str(s, "onlyA", "x");
    CHECK_RC(spl_labels_set(s, "onlyB", 1ull << 6), 0);
    CHECK_RC(spl_labels_set(s, "onlyA", 1ull << 5), 0);
    volatile int *phase = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(phase != MAP_FAILED);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        spl_sub *u = NULL;
        int bad = spl_sub_open(s, 1ull << 20, &u) != 0;
        __atomic_store_n(phase, 1, __ATOMIC_SEQ_CST);
        /* while the parent writes onlyB, no wake-up */
        uint64_t fired = 0;
        int rc = spl_sub_wait(u, 300 * MS, &fired);
        if (rc != SPL_ETIMEDOUT) {
            fprintf(stderr, "woke for label B: rc %d fired %llx\n", rc, (unsigned long long)fired);
            bad = 1;
        }
        __atomic_store_n(phase, 2, __ATOMIC_SEQ_CST);
        uint64_t t0 = mono_ns();
        rc = spl_sub_wait(u, 5000 * MS, &fired);
        if (rc != 0 || fired != 1ull << 20 || mono_ns() - t0 > 2000 * MS)
            bad = 1;
        spl_event ev;
        char key[64];
        if (spl_sub_next(u, &ev, key, sizeof key) != 0 || strcmp(key, "onlyA") != 0)
            bad = 1;
        spl_sub_close(u);
        child_exit(s, bad);
    }
    while (__atomic_load_n(phase, __ATOMIC_SEQ_CST) < 1)
        usleep(100);
    uint64_t t0 = mono_ns();
    while (mono_ns() - t0 < 200 * MS) {
        set_str(s, "onlyB", "y");
        usleep(500);
    }
    while (__atomic_load_n(phase, __ATOMIC_SEQ_CST) < 2)
        usleep(100);
    usleep(2000);
    set_str(s, "onlyA", "y");
    reap(pid);
    munmap((void *)phase, 4096);
    spl_close(s);
}

/* The descriptor sits in epoll: readable after a pulse from another
 * process, and not otherwise (not for other groups either). */
static void test_epoll_descriptor(void **state)
{
    (void)state;
    spl_store *s = mk(64, 32, 64);
    spl_sub *u = NULL;
    CHECK_RC(spl_sub_open(s, 1ull << 33, &u), 0);
    int fd = spl_sub_fd(u);
    assert_true(fd >= 0);
    assert_int_equal(spl_sub_fd(u), fd); /* one per subscription */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event want = {.events = EPOLLIN}, got;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &want), 0);
    assert_int_equal(epoll_wait(ep, &got, 1, 100), 0); /* nothing yet */
    /* the child notes when it pulses group 33 (shared page) */
    volatile uint64_t *t33 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(t33 != MAP_FAILED);
    for (int round = 0; round < 3; round++) {
        *t33 = 0;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int rc = spl_signal(s, 1ull << 34); /* not ours */
            usleep(50 * 1000);
            __atomic_store_n(t33, mono_ns(), __ATOMIC_SEQ_CST);
            rc |= spl_signal(s, 1ull << 33);
            child_exit(s, rc != 0);
        }
        int n = epoll_wait(ep, &got, 1, 5000);
        uint64_t woke = mono_ns();
        reap(pid);
        assert_int_equal(n, 1);
        /* the group-34 pulse did not wake it: it woke after the child
         * was about to pulse group 33, whatever the scheduler did */
        uint64_t pulsed = __atomic_load_n(t33, __ATOMIC_SEQ_CST);
        assert_true(pulsed != 0 && woke >= pulsed);
        uint64_t v;
        assert_int_equal(read(fd, &v, 8), 8);
        assert_true(v >= 1);
        assert_int_equal(epoll_wait(ep, &got, 1, 50), 0); /* drained */
    }
    munmap((void *)t33, 4096);
    close(ep);
    spl_sub_close(u);
    spl_close(s);
}

/* ---- spl_key_wait meets a writer inside the key's slot ------------------ */

void spl__contend_stats(uint64_t *retries, uint64_t *sleeps); /* src/wait.c */
uint64_t spl__kslot_stats(void);                               /* src/signal.c */

struct kw_hold {
    uint8_t *map;          /* the region, mapped */
    struct spl_slot *sl;
    uint64_t epoch;        /* the slot's epoch before the hold */
    long start_ms, end_ms; /* hold from start_ms (0: held already), commit at end_ms */
};

/* Wake every key sleeper of the store, as a writer's commit does
 * (spl__note_wake: the bell bumped, then a futex wake). */
static void kw_wake(uint8_t *map)
{
    const struct spl_header *hd = (const void *)map;
    struct spl_sig_head *sig = (struct spl_sig_head *)(void *)(map + hd->sig_opts[1]);
    __atomic_fetch_add(&sig->kbell, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &sig->kbell, FUTEX_WAKE_BITSET, INT_MAX, NULL, NULL, FUTEX_BITSET_MATCH_ANY);
}

/* A live writer (our parent) inside the slot from start_ms to end_ms; its
 * commit leaves the epoch at +2, the value unchanged.  Entering at
 * start_ms, it wakes the sleepers as another writer's commit just before
 * would; its commit wakes them too. */
static void *kw_holder(void *arg)
{
    struct kw_hold *h = arg;
    if (h->start_ms) {
        usleep((useconds_t)h->start_ms * 1000);
        __atomic_store_n(&h->sl->owner, (uint64_t)(uint32_t)getppid() << 32, __ATOMIC_SEQ_CST);
        __atomic_store_n(&h->sl->epoch, h->epoch + 1, __ATOMIC_SEQ_CST);
        kw_wake(h->map);
    }
    usleep((useconds_t)(h->end_ms - h->start_ms) * 1000);
    __atomic_store_n(&h->sl->epoch, h->epoch + 2, __ATOMIC_SEQ_CST);
    __atomic_store_n(&h->sl->owner, 0, __ATOMIC_SEQ_CST);
    kw_wake(h->map);
    return NULL;
}

struct kw_dead {
    struct kw_hold *h;
    pid_t pid; /* a process that has exited */
};

/* A writer enters the slot after start_ms and dies there (its owner id
 * names a dead process), waking the sleepers as a commit before it would. */
static void *kw_enter_dead(void *arg)
{
    struct kw_dead *d = arg;
    usleep((useconds_t)d->h->start_ms * 1000);
    __atomic_store_n(&d->h->sl->owner, (uint64_t)(uint32_t)d->pid << 32, __ATOMIC_SEQ_CST);
    __atomic_store_n(&d->h->sl->epoch, d->h->epoch + 1, __ATOMIC_SEQ_CST);
    kw_wake(d->h->map);
    return NULL;
}

/* spl_key_wait on a key whose slot a writer is inside: (1) at the call:
 * it waits for the writer asleep on the slot (as spl_get_wait: the sleep
 * count rises; it used to poll with 1-16 us sleeps), gives SPL_ETIMEDOUT
 * at its timeout if the writer stays, and returns the commit's epoch;
 * (2) while it sleeps: the writer's commit wakes it, and it looks for a
 * dead writer only every 1-8 ms (under 100 futex waits in a 300 ms
 * hold: the 200 us looks it used to take made about 1000); (3) a writer
 * that dies inside while it sleeps is recovered by its own look. */
static void test_key_wait_busy_slot(void **state)
{
    (void)state;
    spl_store *s = mk(64, 32, 64);
    set_str(s, "kb", "v");
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "kb", &m), 0);
    spl_info in;
    CHECK_RC(spl_info_get(s, &in), 0);
    uint8_t *map = mmap(NULL, in.region_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, spl_fd(s), 0);
    assert_true(map != MAP_FAILED);
    const struct spl_header *hd = (const void *)map;
    struct spl_slot *sl = (struct spl_slot *)(void *)(map + hd->slots_off + (uint64_t)m.slot * hd->slot_stride);
    assert_int_equal(__atomic_load_n(&sl->epoch, __ATOMIC_SEQ_CST), m.epoch);

    /* (1) held at the call: for good (30 ms timeout), then for 100 ms */
    __atomic_store_n(&sl->owner, (uint64_t)(uint32_t)getppid() << 32, __ATOMIC_SEQ_CST);
    __atomic_store_n(&sl->epoch, m.epoch + 1, __ATOMIC_SEQ_CST);
    uint64_t t0 = mono_ns();
    CHECK_RC(spl_key_wait(s, "kb", m.epoch, 30 * MS, NULL), SPL_ETIMEDOUT);
    uint64_t dt = mono_ns() - t0;
    assert_true(dt >= 29 * MS && dt < 3000 * MS);
    struct kw_hold h = {map, sl, m.epoch, 0, 100};
    pthread_t th;
    uint64_t z0 = 0, z1 = 0, e = 0;
    spl__contend_stats(NULL, &z0);
    t0 = mono_ns();
    assert_int_equal(pthread_create(&th, NULL, kw_holder, &h), 0);
    CHECK_RC(spl_key_wait(s, "kb", m.epoch, 5000 * MS, &e), 0);
    dt = mono_ns() - t0;
    assert_int_equal(pthread_join(th, NULL), 0);
    spl__contend_stats(NULL, &z1);
    assert_int_equal(e, m.epoch + 2);
    assert_true(dt >= 90 * MS && dt < 4000 * MS);
    assert_true(z1 > z0); /* asleep on the slot */

    /* (2) asleep when a writer enters, for 300 ms, then commits */
    struct kw_hold h2 = {map, sl, m.epoch + 2, 20, 320};
    uint64_t w0 = spl__kslot_stats();
    t0 = mono_ns();
    assert_int_equal(pthread_create(&th, NULL, kw_holder, &h2), 0);
    CHECK_RC(spl_key_wait(s, "kb", m.epoch + 2, 5000 * MS, &e), 0);
    dt = mono_ns() - t0;
    assert_int_equal(pthread_join(th, NULL), 0);
    uint64_t waits = spl__kslot_stats() - w0;
    print_message("key_wait through a 300 ms hold: %llu futex waits in %llu ms\n", (unsigned long long)waits,
                  (unsigned long long)(dt / MS));
    assert_int_equal(e, m.epoch + 4);
    assert_true(dt >= 300 * MS && dt < 5000 * MS);
    assert_true(waits < 100);
    char buf[8];
    size_t len = 0;
    CHECK_RC(spl_get(s, "kb", buf, sizeof buf, &len), 0);
    assert_true(len == 1 && buf[0] == 'v');

    /* (3) asleep when a writer enters and dies there: the waiter's own look
     * (within a slice of 8 ms at most) recovers the slot, whose epoch moves
     * on, and returns; the value is the one from before that write */
    pid_t dead = fork();
    assert_true(dead >= 0);
    if (dead == 0)
        _exit(0);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    struct kw_hold h3 = {map, sl, m.epoch + 4, 20, 20};
    t0 = mono_ns();
    assert_int_equal(pthread_create(&th, NULL, kw_enter_dead, &(struct kw_dead){&h3, dead}), 0);
    CHECK_RC(spl_key_wait(s, "kb", m.epoch + 4, 5000 * MS, &e), 0);
    dt = mono_ns() - t0;
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(e > m.epoch + 5 && (e & 1) == 0);
    assert_true(dt < 2000 * MS);
    CHECK_RC(spl_get(s, "kb", buf, sizeof buf, &len), 0);
    assert_true(len == 1 && buf[0] == 'v');
    munmap(map, in.region_bytes);
    spl_close(s);
}

/* spl_key_wait across processes: wakes on a write, returns SPL_ENOENT
 * promptly on delete. */
static void test_key_wait_cross_process(void **state)
{
    (void)state;
    spl_store *s = mk(64, 32, 64);
    set_str(s, "kw", "0");
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "kw", &m), 0);
    volatile int *woke = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(woke != MAP_FAILED);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* the exit status says which check failed; the time bounds only
         * tell a wake-up from the 8 s timeout (valgrind on a loaded
         * machine can take seconds to get a process going) */
        uint64_t e = 0, t0 = mono_ns();
        int rc = spl_key_wait(s, "kw", m.epoch, 8000 * MS, &e);
        int bad = (rc != 0) | (e <= m.epoch) << 1 | (mono_ns() - t0 > 7000 * MS) << 2;
        __atomic_store_n(woke, 1, __ATOMIC_SEQ_CST);
        t0 = mono_ns();
        rc = spl_key_wait(s, "kw", e, 8000 * MS, NULL);
        bad |= (rc != SPL_ENOENT) << 3 | (mono_ns() - t0 > 7000 * MS) << 4;
        if (bad)
            fprintf(stderr, "key_wait child: checks 0x%x failed (last rc %s)\n", bad, spl_err_name(rc));
        child_exit(s, bad);
    }
    usleep(20 * 1000); /* most likely asleep by now (if not, it sees the write at once) */
    set_str(s, "kw", "1");
    /* the delete only once the child saw the write: a child the machine
     * started late must not find the key gone at its first wait */
    for (int t = 0; t < 20000 && !__atomic_load_n(woke, __ATOMIC_SEQ_CST); t++)
        usleep(1000);
    usleep(20 * 1000);
    CHECK_RC(spl_unset(s, "kw"), 0);
    reap(pid);
    munmap((void *)woke, 4096);
    assert_int_equal(spl_signal_repair(s), 0);
    spl_close(s);
}

/* A waiter killed while asleep leaves its counts behind; the sweep takes
 * them back (a sleeping record of a dead process). */
static void test_dead_waiter_swept(void **state)
{
    (void)state;
    spl_store *s = mk(64, 32, 64);
    volatile int *flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        spl_sub *u = NULL;
        spl_sub_open(s, 1, &u);
        __atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
        spl_sub_wait(u, -1, NULL);
        _exit(1); /* never: a pulse would need a writer */
    }
    while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST))
        usleep(100);
    /* wait until it sleeps: its sleeping record is counted in group 0's
     * waiters (the signal region, layout.h), not merely about to be */
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    const uint8_t *map = mmap(NULL, (size_t)inf.region_bytes, PROT_READ, MAP_SHARED, spl_fd(s), 0);
    assert_true(map != MAP_FAILED);
    const struct spl_sig_group *g0 =
        (const void *)(map + ((const struct spl_header *)(const void *)map)->sig_opts[1] + SPL_SIG_OFF_GROUPS);
    for (int t = 0; t < 5000 && !__atomic_load_n(&g0->waiters, __ATOMIC_SEQ_CST); t++)
        usleep(1000);
    assert_true(__atomic_load_n(&g0->waiters, __ATOMIC_SEQ_CST) >= 1);
    munmap((void *)map, (size_t)inf.region_bytes);
    usleep(20 * 1000); /* into the futex wait itself */
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    /* its subscription record and its sleeping record */
    assert_int_equal(spl_signal_repair(s), 2);
    assert_int_equal(spl_signal_repair(s), 0);
    /* counts are back to zero: a pulse finds nobody following */
    uint64_t p = pulses(s, 0);
    CHECK_RC(spl_signal(s, 1), 0);
    assert_int_equal(pulses(s, 0), p);
    munmap((void *)flag, 4096);
    spl_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_input, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_watch_and_bind, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_every_mutation_pulses, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_label_routing, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_bind_all, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_feed_names_keys, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_feed_names_deleted_key_late, setup_store, teardown_store),
        cmocka_unit_test(test_feed_overflow),
        cmocka_unit_test_setup_teardown(test_timeouts, setup_store, teardown_store),
        cmocka_unit_test(test_cross_process_each_mutation),
        cmocka_unit_test(test_cross_process_label_filter),
        cmocka_unit_test(test_epoll_descriptor),
        cmocka_unit_test(test_key_wait_cross_process),
        cmocka_unit_test(test_key_wait_busy_slot),
        cmocka_unit_test(test_dead_waiter_swept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
