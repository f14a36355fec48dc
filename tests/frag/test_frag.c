/*
 * test_frag.c - fragments through the library (docs/FRAGMENTS.md): the ABI
 * checks (a newer ABI, no entry point, a library that does not load, bad
 * options and names), the registry (duplicates, full, lsmod fields), the
 * cross-process mailbox (replies, errors, several callers at once, a host
 * that dies mid-command), a host killed with SIGKILL and restarted
 * catching up with no change missed, feed overflow and resync, rmmod
 * finishing the batch in hand, regions, and a host run in a thread.
 *
 *   test_frag BUILD_DIR      (fragments in BUILD_DIR/tests/frag/)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "splinter.h"
#include "splinter_fragment.h"

static int failures, checks;
static char tmpdir[256];
static char lib_echo[4096], lib_badabi[4096], lib_nosym[4096], lib_unres[4096], lib_fail[4096];

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        checks++;                                                                                 \
        if (!(cond)) {                                                                            \
            failures++;                                                                           \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                       \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fprintf(stderr, " [%s]\n", spl_frag_errmsg());                                        \
        }                                                                                         \
    } while (0)
#define RC(expr, want)                                                                            \
    do {                                                                                          \
        int rc_ = (expr);                                                                         \
        CHECK(rc_ == (want), "%s = %s, want %s", #expr, spl_err_name(rc_), spl_err_name(want));  \
    } while (0)

#include "hosts.h" /* track, kill_hosts, now_ms */

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static spl_store *new_store(const char *name, uint32_t feed)
{
    spl_options o;
    spl_options_init(&o);
    o.geom.slots = 1024;
    o.geom.key_max = 48;
    o.geom.val_max = 256;
    o.geom.vec_dim = 0;
    o.feed_len = feed;
    spl_store *s = NULL;
    int rc = spl_create(&s, name, &o);
    if (rc) {
        fprintf(stderr, "create %s: %s\n", name, spl_strerror(rc));
        exit(2);
    }
    return s;
}

static int start_echo(spl_store *s, const char *as, int argc, const char *const *argv)
{
    char name[64];
    int rc = spl_frag_register(s, lib_echo, as, argc, argv, 0, name, sizeof name);
    if (rc)
        return rc;
    spl_host_opts ho = {SPL_HOST_OPTS_VERSION, 0, name, -1};
    int pid = track(spl_host_spawn(s, &ho));
    if (pid < 0)
        return pid;
    spl_frag_info fi;
    rc = spl_frag_wait(s, name, 1u << SPL_FRAG_RUNNING | 1u << SPL_FRAG_FAILED, 10000000000ll, &fi);
    if (rc)
        return rc;
    return fi.state == SPL_FRAG_RUNNING ? pid : (fi.err ? fi.err : SPL_EINVAL);
}

static int host_pid(spl_store *s, const char *name)
{
    spl_frag_info fi;
    return spl_frag_get(s, name, &fi) == 0 ? fi.host_pid : 0;
}

/* Keys under `in` whose mirror (out + key) is missing or differs, plus
 * mirrors whose key is gone. */
struct mctx {
    spl_store *s;
    const char *out;
    int diff;
};
static int mirror_fn(const spl_entry *e, void *ud)
{
    struct mctx *c = ud;
    char k[128], v[300];
    size_t n = 0;
    snprintf(k, sizeof k, "%s%s", c->out, e->key);
    int rc = spl_get_wait(c->s, k, v, sizeof v - 1, &n, 100000);
    if (rc == 0)
        v[n] = 0;
    if (rc || n != e->meta.val_len || memcmp(v, e->val, n) != 0) {
        if (c->diff++ < 3 && getenv("SPL_TEST_VERBOSE"))
            fprintf(stderr, "  %s: %s (mirror %s)\n", e->key, (const char *)e->val, rc ? spl_err_name(rc) : v);
    }
    return 0;
}
static int orphan_fn(const spl_entry *e, void *ud)
{
    struct mctx *c = ud;
    if (spl_exists(c->s, e->key + strlen(c->out)) == 0) {
        if (c->diff++ < 3 && getenv("SPL_TEST_VERBOSE"))
            fprintf(stderr, "  orphan %s\n", e->key);
    }
    return 0;
}
static int mirror_diff(spl_store *s, const char *in, const char *out)
{
    struct mctx c = {s, out, 0};
    spl_filter f = {in, NULL, 0, SPL_F_VALUES}, g = {out, NULL, 0, 0};
    spl_foreach(s, &f, mirror_fn, &c);
    spl_foreach(s, &g, orphan_fn, &c);
    return c.diff;
}

static int wait_mirrors(spl_store *s, long ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    int d;
    while ((d = mirror_diff(s, "in.", "echo.")) && now_ms() < end)
        nap_ms(20);
    return d;
}

/* ---- the tests ---------------------------------------------------------------- */

static void test_refused(void)
{
    spl_store *s = new_store("refused", 1024);
    char name[64];
    RC(spl_frag_register(s, lib_badabi, NULL, 0, NULL, 0, name, sizeof name), SPL_EABI);
    char want[64];
    snprintf(want, sizeof want, "needs fragment ABI %u; this host has %u", SPL_FRAG_ABI_VERSION + 1,
             SPL_FRAG_ABI_VERSION);
    CHECK(strstr(spl_frag_errmsg(), want) != NULL, "message: %s", spl_frag_errmsg());
    RC(spl_frag_register(s, lib_nosym, NULL, 0, NULL, 0, name, sizeof name), SPL_ENOSYM);
    CHECK(strstr(spl_frag_errmsg(), "spl_fragment_entry") != NULL, "message");
    RC(spl_frag_register(s, lib_unres, NULL, 0, NULL, 0, name, sizeof name), SPL_ELOAD);
    CHECK(strstr(spl_frag_errmsg(), "undefined symbol") != NULL, "message: %s", spl_frag_errmsg());
    char nofile[4200];
    snprintf(nofile, sizeof nofile, "%s/nosuch.so", tmpdir);
    RC(spl_frag_register(s, nofile, NULL, 0, NULL, 0, name, sizeof name), SPL_ELOAD);
    /* a library others may write is not loaded */
    char loose[300], cmd[5000];
    snprintf(loose, sizeof loose, "%s/loose.so", tmpdir);
    snprintf(cmd, sizeof cmd, "cp %s %s && chmod 666 %s", lib_echo, loose, loose);
    CHECK(system(cmd) == 0, "copy");
    RC(spl_frag_register(s, loose, NULL, 0, NULL, 0, name, sizeof name), SPL_EACCES);
    CHECK(strstr(spl_frag_errmsg(), "writable by nobody else") != NULL, "message: %s", spl_frag_errmsg());
    const char *bad[] = {"nosuchopt=1"}, *noeq[] = {"prefix"};
    RC(spl_frag_register(s, lib_echo, NULL, 1, bad, 0, name, sizeof name), SPL_EINVAL);
    CHECK(strstr(spl_frag_errmsg(), "unknown option 'nosuchopt'") != NULL, "message");
    RC(spl_frag_register(s, lib_echo, NULL, 1, noeq, 0, name, sizeof name), SPL_EINVAL);
    RC(spl_frag_register(s, lib_echo, "Bad name", 0, NULL, 0, name, sizeof name), SPL_ENAME);
    RC(spl_frag_register(s, lib_echo, "0x", 0, NULL, 0, name, sizeof name), SPL_ENAME);
    RC(spl_frag_list(s, NULL, 0), 0); /* nothing was registered */
    /* the same name twice; then the registry fills up */
    RC(spl_frag_register(s, lib_echo, NULL, 0, NULL, 0, name, sizeof name), 0);
    CHECK(strcmp(name, "echo") == 0, "name %s", name);
    RC(spl_frag_register(s, lib_echo, NULL, 0, NULL, 0, name, sizeof name), SPL_EEXIST);
    CHECK(strstr(spl_frag_errmsg(), "already registered") != NULL, "message");
    for (int i = 1; i < 8; i++) {
        char as[16];
        snprintf(as, sizeof as, "e%d", i);
        RC(spl_frag_register(s, lib_echo, as, 0, NULL, 0, NULL, 0), 0);
    }
    RC(spl_frag_register(s, lib_echo, "e8", 0, NULL, 0, NULL, 0), SPL_EFULL);
    spl_frag_info fi[10];
    RC(spl_frag_list(s, fi, 10), 8);
    CHECK(fi[0].state == SPL_FRAG_REGISTERED && fi[0].host_pid == 0 && fi[0].abi == SPL_FRAG_ABI_VERSION, "lsmod state");
    CHECK(strcmp(fi[0].version, "test") == 0 && strcmp(fi[0].path, lib_echo) == 0, "lsmod text");
    /* a start that fails: FAILED with the fragment's message */
    RC(spl_frag_unregister(s, "e7", 0), 0);
    RC(spl_frag_register(s, lib_fail, NULL, 0, NULL, 0, name, sizeof name), 0);
    spl_host_opts ho = {SPL_HOST_OPTS_VERSION, 0, "failstart", -1};
    CHECK(track(spl_host_spawn(s, &ho)) > 0, "spawn");
    spl_frag_info f1;
    RC(spl_frag_wait(s, "failstart", 1u << SPL_FRAG_FAILED, 10000000000ll, &f1), 0);
    CHECK(strcmp(f1.errmsg, "this fragment never starts") == 0 && f1.err == SPL_EINVAL, "failed: %s",
          f1.errmsg);
    RC(spl_frag_register(s, lib_fail, NULL, 0, NULL, 0, NULL, 0), 0); /* a failed one registers again */
    for (int i = 0; i < 8; i++) {
        const char *n = i == 0 ? "echo" : i == 7 ? "failstart" : (char[]){'e', (char)('0' + i), 0};
        RC(spl_frag_unregister(s, n, 1000000000), 0);
    }
    RC(spl_frag_list(s, NULL, 0), 0);
    RC(spl_frag_unregister(s, "echo", 0), SPL_ENOENT);
    spl_close(s);
    printf("ok - refused libraries, names, options; duplicates; full registry; a start that fails\n");
}

static void test_commands(void)
{
    spl_store *s = new_store("cmds", 1024);
    int pid = start_echo(s, NULL, 0, NULL);
    CHECK(pid > 0, "start echo: %s", spl_err_name(pid));
    char rep[4096];
    size_t len = 0;
    const char *a1[] = {"echo", "a", "b c", "q\"x"};
    RC(spl_frag_call(s, "echo", 4, a1, rep, sizeof rep, &len, 5000000000ll), 0);
    CHECK(strcmp(rep, "[\"a\",\"b c\",\"q\\\"x\"]") == 0 && len == strlen(rep), "reply %s", rep);
    const char *a2[] = {"nope"};
    RC(spl_frag_call(s, "echo", 1, a2, rep, sizeof rep, &len, 5000000000ll), SPL_EINVAL);
    CHECK(strstr(rep, "unknown command") != NULL, "reply %s", rep);
    const char *a3[] = {"fail"};
    RC(spl_frag_call(s, "echo", 1, a3, rep, sizeof rep, &len, 5000000000ll), SPL_EINVAL);
    CHECK(strstr(rep, "SPL_EINVAL") != NULL, "reply %s", rep);
    const char *a4[] = {"big"};
    RC(spl_frag_call(s, "echo", 1, a4, rep, sizeof rep, &len, 5000000000ll), SPL_ENOBUFS);
    const char *a5[] = {"help"};
    RC(spl_frag_call(s, "echo", 1, a5, rep, sizeof rep, &len, 5000000000ll), 0);
    CHECK(strstr(rep, "\"name\":\"crash\"") != NULL, "help %s", rep);
    RC(spl_frag_call(s, "echo", 1, a5, rep, 8, &len, 5000000000ll), SPL_ENOBUFS);
    CHECK(len == strlen(rep), "needed length");
    RC(spl_frag_call(s, "nosuch", 1, a5, rep, sizeof rep, &len, 5000000000ll), SPL_ENOENT);
    char huge[600];
    memset(huge, 'x', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    const char *a6[] = {"echo", huge};
    RC(spl_frag_call(s, "echo", 2, a6, rep, sizeof rep, &len, 5000000000ll), SPL_E2BIG);
    /* a command that outlives its caller's timeout; the next one still works */
    const char *a7[] = {"sleep", "300"};
    RC(spl_frag_call(s, "echo", 2, a7, rep, sizeof rep, &len, 50000000ll), SPL_ETIMEDOUT);
    RC(spl_frag_call(s, "echo", 4, a1, rep, sizeof rep, &len, 5000000000ll), 0);
    CHECK(strcmp(rep, "[\"a\",\"b c\",\"q\\\"x\"]") == 0, "after a timeout: %s", rep);
    /* callers in 6 processes at once: each gets its own reply */
    pid_t kids[6];
    for (int k = 0; k < 6; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            spl_store *cs;
            if (spl_open(&cs, "cmds", NULL))
                _exit(3);
            int bad = 0;
            for (int i = 0; i < 40; i++) {
                char arg[32], want[64], r[256];
                snprintf(arg, sizeof arg, "p%d-%d", k, i);
                snprintf(want, sizeof want, "[\"%s\"]", arg);
                const char *av[] = {"echo", arg};
                if (spl_frag_call(cs, "echo", 2, av, r, sizeof r, NULL, 10000000000ll) != 0 ||
                    strcmp(r, want) != 0)
                    bad++;
            }
            spl_close(cs);
            _exit(bad ? 1 : 0);
        }
    }
    int bad = 0;
    for (int k = 0; k < 6; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    CHECK(bad == 0, "%d caller processes got a wrong reply", bad);
    /* a region: the fragment writes it, this process reads it in place */
    const char *a8[] = {"region", "idx", "100000"};
    RC(spl_frag_call(s, "echo", 3, a8, rep, sizeof rep, &len, 5000000000ll), 0);
    const void *m;
    size_t mlen;
    RC(spl_frag_region_map(s, "echo", "idx", &m, &mlen), 0);
    int ok = mlen == 100000;
    for (size_t i = 0; ok && i < mlen; i++)
        ok = ((const unsigned char *)m)[i] == (unsigned char)(i * 7);
    CHECK(ok, "region contents (len %zu)", mlen);
    spl_frag_region_unmap(m, mlen);
    RC(spl_frag_region_map(s, "echo", "nosuch", &m, &mlen), SPL_ENOENT);
    RC(spl_frag_region_map(s, "echo", "Bad", &m, &mlen), SPL_ENAME);
    /* a command that kills the host: the caller is told, lsmod says dead */
    const char *a9[] = {"crash"};
    RC(spl_frag_call(s, "echo", 1, a9, rep, sizeof rep, &len, 5000000000ll), SPL_ENOHOST);
    waitpid(-1, NULL, WNOHANG);
    spl_frag_info fi;
    RC(spl_frag_get(s, "echo", &fi), 0);
    CHECK(fi.state == SPL_FRAG_DEAD && fi.host_pid == pid, "state %s", spl_frag_state_name(fi.state));
    RC(spl_frag_call(s, "echo", 4, a1, rep, sizeof rep, &len, 5000000000ll), SPL_ENOHOST);
    /* back again: the crash request is not run a second time */
    pid = start_echo(s, NULL, 0, NULL);
    CHECK(pid > 0, "restart: %s", spl_err_name(pid));
    RC(spl_frag_get(s, "echo", &fi), 0);
    CHECK(fi.state == SPL_FRAG_RUNNING && fi.restarts == 1, "state %s restarts %llu",
          spl_frag_state_name(fi.state), (unsigned long long)fi.restarts);
    RC(spl_frag_call(s, "echo", 4, a1, rep, sizeof rep, &len, 5000000000ll), 0);
    /* the region is still there after the restart; rmmod with purge removes it */
    RC(spl_frag_region_map(s, "echo", "idx", &m, &mlen), 0);
    spl_frag_region_unmap(m, mlen);
    RC(spl_frag_unregister(s, "echo", 5000000000ll), 0);
    RC(spl_frag_region_unlink(s, "echo", NULL), 1);
    RC(spl_frag_region_map(s, "echo", "idx", &m, &mlen), SPL_ENOENT);
    spl_close(s);
    printf("ok - commands across processes: replies, errors, timeouts, 6 callers at once, regions, a crash\n");
}

/* A writer changes and deletes in.K keys while the host is killed with
 * SIGKILL and registered again; every mirror must end equal. */
static void test_kill_restart(void)
{
    spl_store *s = new_store("killrs", 1024);
    int pid = start_echo(s, NULL, 0, NULL);
    CHECK(pid > 0, "start: %s", spl_err_name(pid));
    pid_t w = fork();
    if (w == 0) {
        spl_store *ws;
        if (spl_open(&ws, "killrs", NULL))
            _exit(3);
        srand(7);
        uint64_t end = now_ms() + 1500;
        for (int i = 0; now_ms() < end; i++) {
            char k[32], v[32];
            snprintf(k, sizeof k, "in.%d", rand() % 200);
            snprintf(v, sizeof v, "v%d", i);
            if (rand() % 10 == 0)
                spl_unset_wait(ws, k, 100000);
            else
                spl_set_wait(ws, k, v, strlen(v), 100000);
            if (i % 16 == 0)
                nap_ms(1);
        }
        spl_close(ws);
        _exit(0);
    }
    int restarts = 0;
    for (int round = 0; round < 3; round++) {
        nap_ms(200 + 100 * round);
        int hp = host_pid(s, "echo");
        CHECK(hp > 0, "host pid");
        kill(hp, SIGKILL);
        for (int t = 0; t < 200; t++) { /* it is seen dead */
            spl_frag_info fi;
            if (spl_frag_get(s, "echo", &fi) == 0 && fi.state == SPL_FRAG_DEAD)
                break;
            nap_ms(5);
        }
        spl_frag_info fi;
        RC(spl_frag_get(s, "echo", &fi), 0);
        CHECK(fi.state == SPL_FRAG_DEAD, "after SIGKILL: %s", spl_frag_state_name(fi.state));
        nap_ms(50); /* changes made while nobody hosts it */
        int p2 = start_echo(s, NULL, 0, NULL);
        CHECK(p2 > 0, "restart %d: %s", round, spl_err_name(p2));
        restarts += p2 > 0;
    }
    int st;
    waitpid(w, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer");
    int d = wait_mirrors(s, 10000);
    CHECK(d == 0, "%d keys differ from their mirrors after 3 kills", d);
    spl_frag_info fi;
    RC(spl_frag_get(s, "echo", &fi), 0);
    if (d) {
        char rep[256];
        const char *av[] = {"stats"};
        spl_frag_call(s, "echo", 1, av, rep, sizeof rep, NULL, 5000000000ll);
        fprintf(stderr, "  echo %s, events %llu, resyncs %llu, lag %llu: %s\n", spl_frag_state_name(fi.state),
                (unsigned long long)fi.events, (unsigned long long)fi.resyncs, (unsigned long long)fi.lag, rep);
        setenv("SPL_TEST_VERBOSE", "1", 1);
        mirror_diff(s, "in.", "echo.");
    }
    CHECK(fi.restarts == 3 && restarts == 3 && fi.state == SPL_FRAG_RUNNING, "restarts %llu",
          (unsigned long long)fi.restarts);
    RC(spl_frag_unregister(s, "echo", 5000000000ll), 0);
    spl_close(s);
    printf("ok - host killed 3 times while keys change, registered again: every change caught up\n");
}

/* A feed of 16 entries and a slow fragment: the feed laps it, it resyncs,
 * and ends right. */
static void test_overflow(void)
{
    spl_store *s = new_store("ovf", 16);
    const char *args[] = {"slow=20"};
    int pid = start_echo(s, NULL, 1, args);
    CHECK(pid > 0, "start: %s", spl_err_name(pid));
    for (int i = 0; i < 300; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "in.%d", i % 100);
        snprintf(v, sizeof v, "x%d", i);
        spl_set_wait(s, k, v, strlen(v), 100000);
    }
    int d = wait_mirrors(s, 10000);
    CHECK(d == 0, "%d keys differ after overflow", d);
    spl_frag_info fi;
    RC(spl_frag_get(s, "echo", &fi), 0);
    CHECK(fi.resyncs >= 2, "resyncs %llu (the feed should have lapped the host)",
          (unsigned long long)fi.resyncs);
    RC(spl_frag_unregister(s, "echo", 5000000000ll), 0);
    spl_close(s);
    printf("ok - a lapped feed: %llu resyncs, every mirror right\n", (unsigned long long)fi.resyncs);
}

/* rmmod while a batch is in hand (the fragment sleeps 300 ms in it): it
 * returns once the batch is done, the entry is gone, the host exits. */
static void test_rmmod(void)
{
    spl_store *s = new_store("rmm", 1024);
    const char *args[] = {"slow=300"};
    int pid = start_echo(s, NULL, 1, args);
    CHECK(pid > 0, "start: %s", spl_err_name(pid));
    spl_set(s, "in.a", "1", 1);
    nap_ms(50); /* the host is inside its batch now */
    uint64_t t0 = now_ms();
    RC(spl_frag_unregister(s, "echo", 5000000000ll), 0);
    uint64_t dt = now_ms() - t0;
    CHECK(dt >= 150, "rmmod returned after %llu ms, before the batch ended", (unsigned long long)dt);
    char v[8];
    size_t n;
    RC(spl_get(s, "echo.in.a", v, sizeof v, &n), 0); /* the batch was finished */
    RC(spl_frag_list(s, NULL, 0), 0);
    int gone = 0;
    for (int t = 0; t < 200 && !gone; t++) {
        gone = kill(pid, 0) != 0;
        if (!gone) {
            char path[64], buf[256];
            snprintf(path, sizeof path, "/proc/%d/stat", pid);
            FILE *f = fopen(path, "r");
            gone = !f || !fgets(buf, sizeof buf, f) || strstr(buf, ") Z") != NULL;
            if (f)
                fclose(f);
        }
        if (!gone)
            nap_ms(10);
    }
    CHECK(gone, "the host (pid %d) did not exit", pid);
    /* the keys group is no longer bound: a new echo starts clean */
    pid = start_echo(s, NULL, 0, NULL);
    CHECK(pid > 0, "again: %s", spl_err_name(pid));
    RC(spl_frag_unregister(s, "echo", 5000000000ll), 0);
    spl_close(s);
    printf("ok - rmmod waits for the batch in hand (%llu ms), frees the entry, the host exits\n",
           (unsigned long long)dt);
}

struct thr {
    spl_store *s;
    int rc;
    uint32_t flags;
};
static void *host_thread(void *arg)
{
    struct thr *t = arg;
    spl_host_opts ho = {SPL_HOST_OPTS_VERSION, SPL_HOST_SERVE | t->flags, NULL, -1};
    t->rc = spl_host_run(t->s, &ho);
    return NULL;
}

/* A host inside this program (spl_host_run in a thread), taking fragments
 * registered later; spl_host_stop leaves them registered. */
static void test_inproc(void)
{
    spl_store *s = new_store("inproc", 1024);
    struct thr t = {s, -1, 0};
    pthread_t th;
    pthread_create(&th, NULL, host_thread, &t);
    const char *args[] = {"prefix=in.", "out=echo."};
    RC(spl_frag_register(s, lib_echo, "mirror", 2, args, 0, NULL, 0), 0);
    spl_frag_info fi;
    RC(spl_frag_wait(s, "mirror", 1u << SPL_FRAG_RUNNING, 10000000000ll, &fi), 0);
    CHECK(fi.host_pid == getpid(), "hosted here");
    spl_set(s, "in.x", "42", 2);
    CHECK(wait_mirrors(s, 5000) == 0, "mirror");
    for (int i = 0; i < 500 && spl_frag_get(s, "mirror", &fi) == 0 && fi.events == 0; i++)
        nap_ms(10); /* the start's resync may have mirrored it first */
    CHECK(fi.events >= 1, "events %llu", (unsigned long long)fi.events);
    spl_host_stop(s);
    pthread_join(th, NULL);
    CHECK(t.rc == 0, "spl_host_run: %s", spl_err_name(t.rc));
    RC(spl_frag_get(s, "mirror", &fi), 0);
    CHECK(fi.state == SPL_FRAG_REGISTERED && fi.host_pid == 0, "after stop: %s", spl_frag_state_name(fi.state));
    /* nothing to host: returns at once */
    spl_host_opts ho = {SPL_HOST_OPTS_VERSION, 0, "nosuch", -1};
    RC(spl_host_run(s, &ho), SPL_ENOENT);
    /* a serving host with restart takes a failed fragment once, not in a loop */
    RC(spl_frag_register(s, lib_fail, NULL, 0, NULL, 0, NULL, 0), 0);
    struct thr t2 = {s, -1, SPL_HOST_RESTART};
    pthread_create(&th, NULL, host_thread, &t2);
    RC(spl_frag_wait(s, "failstart", 1u << SPL_FRAG_FAILED, 10000000000ll, &fi), 0);
    /* the failure pulses the control group: the host wakes, and must not retry it */
    nap_ms(300);
    RC(spl_frag_get(s, "failstart", &fi), 0);
    CHECK(fi.state == SPL_FRAG_FAILED && fi.restarts == 0, "failstart %s, restarts %llu",
          spl_frag_state_name(fi.state), (unsigned long long)fi.restarts);
    spl_host_stop(s);
    pthread_join(th, NULL);
    CHECK(t2.rc == 0, "spl_host_run: %s", spl_err_name(t2.rc));
    /* at a host's start a failed one is retried (once) */
    struct thr t3 = {s, -1, SPL_HOST_RESTART};
    pthread_create(&th, NULL, host_thread, &t3);
    nap_ms(300);
    spl_host_stop(s);
    pthread_join(th, NULL);
    RC(spl_frag_get(s, "failstart", &fi), 0);
    CHECK(fi.state == SPL_FRAG_FAILED && fi.restarts == 1, "failstart %s, restarts %llu",
          spl_frag_state_name(fi.state), (unsigned long long)fi.restarts);
    RC(spl_frag_unregister(s, "failstart", 0), 0);
    RC(spl_frag_unregister(s, "mirror", 0), 0);
    spl_close(s);
    printf("ok - spl_host_run in a thread; spl_host_stop leaves the fragment registered; a failed one is "
           "retried once per host start\n");
}

static void lib_path(char *out, const char *b, const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/tests/frag/%s.so", b, name);
    if (spl_frag_find(p, NULL, out, 4096) != 0) {
        fprintf(stderr, "%s: %s\n", p, spl_frag_errmsg());
        exit(2);
    }
}

int main(int argc, char **argv)
{
    const char *b = argc > 1 ? argv[1] : "build";
    setvbuf(stdout, NULL, _IOLBF, 0); /* no buffered line duplicated by a fork */
    lib_path(lib_echo, b, "frag_echo");
    lib_path(lib_badabi, b, "frag_badabi");
    lib_path(lib_nosym, b, "frag_nosym");
    lib_path(lib_unres, b, "frag_unresolved");
    lib_path(lib_fail, b, "frag_failstart");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/spl-frag-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 2;
    atexit(kill_hosts);
    setenv("SPLINTER_SHM_DIR", tmpdir, 1);
    test_refused();
    test_commands();
    test_kill_restart();
    test_overflow();
    test_rmmod();
    test_inproc();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    printf("test_frag: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
