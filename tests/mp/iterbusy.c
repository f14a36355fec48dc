/*
 * iterbusy.c - spl_foreach never leaves out a key because a writer is inside
 * it: a key being rewritten is a key that exists.
 *
 *   iterbusy [--tries 400] [--seed N]
 *
 * A child rewrites "big" (256 KiB self-checking values) in a loop.  The
 * parent first scans 50 times while it runs (hot: each scan lists "big"
 * whole, or returns SPL_EAGAIN, never 0 without it), then stops it
 * (SIGSTOP) until it is caught inside a write (spl_get says SPL_EAGAIN: the
 * slot's epoch is odd), and:
 *
 *   resume  a thread sends SIGCONT 150 ms later; spl_foreach, started at
 *           once, must list all four keys, "big" with a whole value (it
 *           waits for the writer, woken by its commit).
 *   stuck   caught again, and nobody resumes it: spl_foreach must return
 *           SPL_EAGAIN once its wait is up, never 0 with "big" missing; a
 *           read-only handle too (it backs off instead of sleeping).
 *   dead    the stopped child is SIGKILLed: a read-only handle, which cannot
 *           recover the slot, gets SPL_EAGAIN at once; a writable one lists
 *           all four keys again (the dead writer's slot is recovered, "big"
 *           holds one of its whole values).
 *
 * Before the fix spl_foreach gave up on a busy slot after 64 quick tries
 * and skipped it, returning 0: every stage above failed.
 * Exit 0 iff every stage held.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "mp_common.h"

#define IB_BIG (256u * 1024u)

static const char *const ib_small[3] = {"alpha", "beta", "gamma"};

typedef struct ib_seen {
    int n, big, bad;
} ib_seen;

static int ib_visit(const spl_entry *e, void *ud)
{
    ib_seen *s = ud;
    s->n++;
    if (!strcmp(e->key, "big")) {
        s->big = 1;
        if (!e->val || mp_value_check(e->val, e->meta.val_len, 0, NULL) != MP_OK)
            s->bad = 1;
    }
    return 0;
}

/* spl_foreach over every key with values; its result, and what it saw. */
static int ib_list(spl_store *s, ib_seen *seen)
{
    spl_filter f = {0};
    f.flags = SPL_F_VALUES;
    memset(seen, 0, sizeof *seen);
    return spl_foreach(s, &f, ib_visit, seen);
}

static void ib_writer(spl_store *s)
{
    unsigned char *v = malloc(IB_BIG);
    if (!v)
        _exit(2);
    for (uint64_t seq = 1;; seq++) {
        mp_value_make(v, IB_BIG - (seq & 1) * 8, 0, 1, seq);
        int rc = spl_set(s, "big", v, IB_BIG - (seq & 1) * 8);
        if (rc != 0 && rc != SPL_EAGAIN)
            _exit(3);
    }
}

/* Stop the writer until it is caught inside its write; 1 if caught (it
 * stays stopped), 0 after `tries` attempts. */
static int ib_catch(spl_store *s, pid_t pid, uint64_t tries, unsigned char *buf)
{
    for (uint64_t t = 0; t < tries; t++) {
        int st;
        if (kill(pid, SIGSTOP) != 0 || waitpid(pid, &st, WUNTRACED) != pid || !WIFSTOPPED(st))
            MP_DIE("could not stop the writer");
        size_t len = 0;
        if (spl_get(s, "big", buf, IB_BIG, &len) == SPL_EAGAIN)
            return 1;
        kill(pid, SIGCONT);
        mp_sleep_us(1000 + (t % 3) * 1000); /* let it run into another write */
    }
    return 0;
}

static void *ib_resume_later(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    mp_sleep_us(150 * 1000);
    kill(pid, SIGCONT);
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t tries = 400, seed = 0;
    const mp_opt opts[] = {{"--tries", &tries, NULL, NULL}, {"--seed", &seed, NULL, NULL}, {NULL, NULL, NULL, NULL}};
    if (!mp_parse_args(argc, argv, opts, "[--tries 400] [--seed N]"))
        return 2;
    mp_store m;
    mp_store_create(&m, MP_SHM, "iterbusy", 16, 16, IB_BIG);
    unsigned char *buf = malloc(IB_BIG);
    if (!buf)
        MP_DIE("out of memory");
    for (int i = 0; i < 3; i++)
        if (spl_set(m.s, ib_small[i], "x", 1) != 0)
            MP_DIE("spl_set %s", ib_small[i]);
    mp_value_make(buf, IB_BIG, 0, 0, 0);
    if (spl_set(m.s, "big", buf, IB_BIG) != 0)
        MP_DIE("spl_set big");
    spl_store *ro = NULL;
    spl_options roo = m.opt;
    roo.flags |= SPL_O_RDONLY;
    int rc = spl_open(&ro, m.name, &roo);
    if (rc != 0)
        MP_DIE("spl_open read-only: %s", spl_err_name(rc));

    pid_t pid = fork();
    if (pid < 0)
        MP_DIE("fork");
    if (pid == 0)
        ib_writer(mp_store_child(&m));

    int fails = 0;
    ib_seen seen;
    /* hot: the writer rewrites big without pause; every scan lists it whole,
     * or says SPL_EAGAIN (torn for 2 s), never leaves it out */
    spl_meta mt0, mt;
    if (spl_meta_get(m.s, "big", &mt0) != 0)
        MP_DIE("spl_meta_get big");
    uint64_t t0 = mp_now_ns();
    for (;;) { /* until the writer has committed a write */
        rc = spl_meta_get(m.s, "big", &mt);
        if (rc == 0 && mt.epoch != mt0.epoch)
            break;
        if (mp_now_ns() - t0 > 10000000000ull) {
            kill(pid, SIGKILL);
            MP_DIE("the writer did not write big in 10 s");
        }
        mp_sleep_us(1000);
    }
    int again = 0;
    t0 = mp_now_ns();
    for (int n = 0; n < 50; n++) {
        rc = ib_list(m.s, &seen);
        if (rc == SPL_EAGAIN) {
            again++;
        } else if (rc != 0 || seen.n != 4 || !seen.big || seen.bad) {
            MP_FAIL("hot: spl_foreach returned %s with %d keys (big %s) while big was being rewritten",
                    spl_err_name(rc), seen.n, seen.big ? (seen.bad ? "torn" : "whole") : "missing");
            fails++;
            break;
        }
    }
    printf("hot: 50 scans while big is rewritten: %d listed it whole, %d SPL_EAGAIN, %.0f ms\n", 50 - again,
           again, (mp_now_ns() - t0) / 1e6);
    /* resume */
    if (!ib_catch(m.s, pid, tries, buf)) {
        kill(pid, SIGKILL);
        MP_DIE("never caught the writer inside its write in %" PRIu64 " tries", tries);
    }
    pthread_t th;
    if (pthread_create(&th, NULL, ib_resume_later, &pid) != 0)
        MP_DIE("pthread_create");
    t0 = mp_now_ns();
    rc = ib_list(m.s, &seen);
    uint64_t waited = mp_now_ns() - t0;
    pthread_join(th, NULL);
    if (rc != 0 || seen.n != 4 || !seen.big || seen.bad) {
        MP_FAIL("resume: spl_foreach returned %s with %d keys (big %s) after %.0f ms: a key inside a write "
                "must be listed",
                spl_err_name(rc), seen.n, seen.big ? (seen.bad ? "torn" : "whole") : "missing", waited / 1e6);
        fails++;
    } else {
        printf("resume: 4 keys, big whole, after %.0f ms (the writer was resumed at 150)\n", waited / 1e6);
    }

    /* stuck */
    if (!ib_catch(m.s, pid, tries, buf)) {
        kill(pid, SIGKILL);
        MP_DIE("never caught the writer again in %" PRIu64 " tries", tries);
    }
    spl_store *hs[2] = {m.s, ro};
    for (int h = 0; h < 2; h++) {
        t0 = mp_now_ns();
        rc = ib_list(hs[h], &seen);
        waited = mp_now_ns() - t0;
        if (rc != SPL_EAGAIN || seen.big) {
            MP_FAIL("stuck (%s handle): spl_foreach returned %s with %d keys (big %s): a writer that never "
                    "finishes must give SPL_EAGAIN, not a listing without its key",
                    h ? "read-only" : "writable", spl_err_name(rc), seen.n, seen.big ? "listed" : "missing");
            fails++;
        } else {
            printf("stuck (%s handle): SPL_EAGAIN after %.0f ms, %d keys listed before it\n",
                   h ? "read-only" : "writable", waited / 1e6, seen.n);
        }
    }

    /* dead */
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    t0 = mp_now_ns();
    rc = ib_list(ro, &seen);
    waited = mp_now_ns() - t0;
    if (rc != SPL_EAGAIN || waited > 1000000000ull) {
        MP_FAIL("dead (read-only handle): spl_foreach returned %s after %.0f ms: a slot no live writer holds, "
                "which only a writable handle can recover, is SPL_EAGAIN at once",
                spl_err_name(rc), waited / 1e6);
        fails++;
    } else {
        printf("dead (read-only handle): SPL_EAGAIN after %.0f ms\n", waited / 1e6);
    }
    rc = ib_list(m.s, &seen);
    if (rc != 0 || seen.n != 4 || !seen.big || seen.bad) {
        MP_FAIL("dead: spl_foreach returned %s with %d keys (big %s): a dead writer's key must come back",
                spl_err_name(rc), seen.n, seen.big ? (seen.bad ? "torn" : "whole") : "missing");
        fails++;
    } else {
        printf("dead (writable handle): 4 keys, big whole\n");
    }
    spl_close(ro);
    free(buf);
    mp_store_destroy(&m);
    return fails ? 1 : 0;
}
