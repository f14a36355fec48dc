/*
 * test_frag.c - the index as a fragment (hnsw.so, beside this program's
 * folder: BUILD/fragments/hnsw.so), hosted by a spawned host process as
 * `splinterctl insmod hnsw` does, and searched in place by this process
 * (spl_vec_search with SPL_VQ_ANN finds it by itself; hnsw_frag_open by
 * hand):
 *   - start on a store that already holds vectors: built (stats: ready,
 *     nodes, layers, applied, lag);
 *   - another process inserts and deletes: the changes reach the index
 *     through the feed; recall@10 >= 0.95 against the exact search on
 *     clustered data, hits valid, deleted keys never returned;
 *   - the host stopped (SIGSTOP) while the store moves on: the index lags,
 *     the exact scan answers (and finds the new keys); resumed, it catches
 *     up and answers again;
 *   - the host SIGKILLed while a writer streams vectors (it is then inside
 *     an insert most of the time), up to 4 times: its instance is dead, a
 *     reader asking for a live index is refused, searches are exact; a host started with
 *     SPL_HOST_RESTART takes it over (repairing what the killed one left),
 *     catches up; hnsw_check finds the graph sound, recall >= 0.95;
 *   - rmmod (spl_frag_unregister): the host exits, readers find no index
 *     (searches are exact), later writes are not applied to the region any more.
 */
#include "hnsw_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define DIM 32
#define SLOTS 16384

static char so[4096];
static char logpath[512];

static void dump_log(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", logpath);
    if (system(cmd) != 0)
        fprintf(stderr, "(no host log)\n");
}

static int spawn_host(spl_store *s, uint32_t flags)
{
    int fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    T_TRUE(fd >= 0, "log: %s", strerror(errno));
    spl_host_opts ho = {SPL_HOST_OPTS_VERSION, flags, "hnsw", fd};
    int pid = spl_host_spawn(s, &ho);
    close(fd);
    T_TRUE(pid > 0, "spl_host_spawn: %s", spl_err_name(pid));
    return pid;
}

static spl_frag_info wait_state(spl_store *s, int state)
{
    spl_frag_info fi;
    for (int i = 0; i < 400; i++) {
        int rc = spl_frag_get(s, "hnsw", &fi);
        T_RC(rc, 0);
        if (fi.state == state)
            return fi;
        usleep(25000);
    }
    dump_log();
    t_fail("hnsw: state %s, waited for %s", spl_frag_state_name(fi.state), spl_frag_state_name(state));
}

/* Wait until the live index holds `live` vectors, is ready and lags by
 * at most 64 changes; returns a reader of it (not the handle's provider:
 * spl_vec_search finds the fragment's index by itself, looking at the
 * registry again at most every 100 ms, so wait that long too). */
static hnsw_index *wait_caught_up(spl_store *s, uint64_t live, const char *what)
{
    hnsw_stat st = {0};
    int rc = 0;
    double t0 = t_now();
    while (t_now() - t0 < 60) {
        hnsw_index *x;
        rc = hnsw_frag_open(&x, s, NULL, HNSW_FRAG_LIVE);
        if (rc == 0) {
            hnsw_stat_get(x, &st);
            if (st.state == HNSW_STATE_READY && st.live == live && st.lag <= 64) {
                usleep(150000);
                printf("%s: %llu vectors indexed, lag %llu, %u layers (%.1f s)\n", what,
                       (unsigned long long)st.live, (unsigned long long)st.lag, st.top_level + 1, t_now() - t0);
                return x;
            }
            hnsw_close(x);
        }
        usleep(20000);
    }
    dump_log();
    t_fail("%s: not caught up: rc %s, state %u, live %llu (want %llu), lag %llu", what, spl_err_name(rc), st.state,
           (unsigned long long)st.live, (unsigned long long)live, (unsigned long long)st.lag);
}

/* recall@10 of the provider's answers against the exact scan over nq
 * queries; every ANN hit valid and none of keys [dead_lo, dead_hi). */
static double recall(spl_store *s, hd_gen *g, int nq, uint32_t dead_lo, uint32_t dead_hi)
{
    uint64_t hit = 0, want = 0;
    float q[DIM];
    for (int i = 0; i < nq; i++) {
        hd_point(g, q);
        spl_vec_query qa = {.vec = q, .dim = DIM, .k = 10, .flags = SPL_VQ_ANN, .ef = 64};
        spl_vec_query qe = {.vec = q, .dim = DIM, .k = 10};
        spl_vec_result *a, *e;
        T_RC(spl_vec_search(s, &qa, &a), 0);
        T_RC(spl_vec_search(s, &qe, &e), 0);
        T_TRUE(a->flags & SPL_VR_ANN, "query %d: not answered by the index", i);
        T_TRUE(t_hits_valid(s, a, q, DIM, SPL_METRIC_COSINE) == 0, "hits valid");
        for (uint32_t j = 0; j < a->n; j++) {
            unsigned k = 0;
            T_TRUE(sscanf(a->hits[j].key, "k%u", &k) == 1, "key %s", a->hits[j].key);
            T_TRUE(k < dead_lo || k >= dead_hi, "deleted key %s returned", a->hits[j].key);
        }
        hit += t_overlap(a, e);
        want += e->n;
        spl_vec_result_free(a);
        spl_vec_result_free(e);
    }
    return want ? (double)hit / (double)want : 0;
}

/* Threads searching one handle at once through spl_vec_search (the index
 * the core loaded: shared lock, a look at the registry every 100 ms). */
struct th_arg {
    spl_store *s;
    uint64_t seed;
    int ann, total;
};

static void *searcher(void *p)
{
    struct th_arg *a = p;
    hd_gen g;
    if (hd_init(&g, 1, DIM, 50, 5) != 0)
        return NULL;
    g.rng.s ^= a->seed;
    float q[DIM];
    double t0 = t_now();
    while (t_now() - t0 < 0.6) {
        hd_point(&g, q);
        spl_vec_query qa = {.vec = q, .dim = DIM, .k = 10, .flags = SPL_VQ_ANN, .ef = 32};
        spl_vec_result *r;
        if (spl_vec_search(a->s, &qa, &r) != 0)
            break;
        a->total++;
        a->ann += (r->flags & SPL_VR_ANN) != 0;
        spl_vec_result_free(r);
    }
    hd_free(&g);
    return NULL;
}

static int stats_has(spl_store *s, const char *needle, char *reply, size_t cap)
{
    const char *argv[] = {"stats"};
    int rc = spl_frag_call(s, "hnsw", 1, argv, reply, cap, NULL, 5000000000ll);
    T_RC(rc, 0);
    return strstr(reply, needle) != NULL;
}

/* A child process: open the store by name, write keys [lo, hi) from the
 * generator (seeded), then unset keys [del_lo, del_hi). */
static pid_t writer(uint32_t lo, uint32_t hi, uint32_t del_lo, uint32_t del_hi, uint64_t seed)
{
    pid_t pid = fork();
    T_TRUE(pid >= 0, "fork");
    if (pid)
        return pid;
    spl_store *s;
    if (spl_open(&s, "fstore", NULL) != 0)
        _exit(2);
    hd_gen g;
    if (hd_init(&g, 1, DIM, 50, seed) != 0)
        _exit(2);
    t_fill(s, &g, lo, hi - lo, NULL);
    char key[32];
    for (uint32_t i = del_lo; i < del_hi; i++) {
        t_key(key, i);
        int rc;
        while ((rc = spl_unset(s, key)) == SPL_EAGAIN) {
        }
        if (rc)
            _exit(3);
    }
    spl_close(s);
    _exit(0);
}

/* Alive and not a zombie (the host is a grandchild: not ours to reap). */
static int alive(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void reap(pid_t pid)
{
    int st;
    T_TRUE(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer failed");
}

int main(void)
{
    t_name = "test_frag";
    /* BUILD/fragments/hnsw/test_frag -> BUILD/fragments/hnsw.so */
    ssize_t n = readlink("/proc/self/exe", so, sizeof so - 16);
    T_TRUE(n > 0, "readlink");
    so[n] = 0;
    char *sl = strrchr(so, '/');
    T_TRUE(sl, "path");
    strcpy(sl, "/../hnsw.so");
    T_TRUE(access(so, R_OK) == 0, "no %s (make fragments)", so);
    t_shm_dir();
    snprintf(logpath, sizeof logpath, "%s/host.log", t_dir);
    spl_store *s = t_store("fstore", SLOTS, DIM);
    hd_gen g; /* the same clusters in every process: seed 5 */
    T_RC(hd_init(&g, 1, DIM, 50, 5), 0);
    t_fill(s, &g, 0, 2000, NULL);

    /* ---- insmod on a store that already holds vectors */
    hnsw_index *x;
    T_RC(hnsw_frag_open(&x, s, NULL, 0), SPL_ENOENT);
    const char *args[] = {"m=12", "efc=100", "seed=7"};
    char name[64];
    T_RC(spl_frag_register(s, so, NULL, 3, args, 0, name, sizeof name), 0);
    T_TRUE(!strcmp(name, "hnsw"), "name %s", name);
    spawn_host(s, 0);
    spl_frag_info fi = wait_state(s, SPL_FRAG_RUNNING);
    x = wait_caught_up(s, 2000, "built at start");
    char reply[SPL_FRAG_REPLY_MAX + 1];
    T_TRUE(stats_has(s, "\"state\":\"ready\",\"nodes\":2000,", reply, sizeof reply), "stats: %s", reply);
    T_TRUE(strstr(reply, "\"layers\":") && strstr(reply, "\"applied\":") && strstr(reply, "\"lag\":") &&
               strstr(reply, "\"rebuilds\":1"),
           "stats: %s", reply);
    printf("stats: %.120s...\n", reply);
    hnsw_close(x);
    /* found by spl_vec_search itself, and by hand (hnsw_frag_open + provide) */
    spl_vec_query qk = {.key = "k000042", .k = 1, .flags = SPL_VQ_ANN | SPL_VQ_SKIP_SELF, .ef = 64};
    spl_vec_result *res;
    T_RC(spl_vec_search(s, &qk, &res), 0);
    T_TRUE(res->flags & SPL_VR_ANN, "spl_vec_search did not find the fragment's index");
    spl_vec_result_free(res);
    T_RC(hnsw_frag_open(&x, s, NULL, HNSW_FRAG_LIVE | HNSW_FRAG_PROVIDE), 0);
    T_RC(spl_vec_search(s, &qk, &res), 0);
    T_TRUE(res->flags & SPL_VR_ANN, "the provider set by hand did not answer");
    spl_vec_result_free(res);
    hnsw_close(x);
    printf("spl_vec_search + SPL_VQ_ANN: the fragment's index answers (found by itself, or by hand)\n");

    /* ---- another process inserts 1000 and deletes 200 */
    reap(writer(2000, 3000, 0, 200, 6));
    x = wait_caught_up(s, 2800, "another process's writes");
    double r = recall(s, &g, 200, 0, 200);
    printf("recall@10 %.4f (ef 64, clustered, 200 queries), no deleted key returned\n", r);
    T_TRUE(r >= 0.95, "recall %.4f < 0.95", r);
    T_TRUE(stats_has(s, "\"nodes\":2800,", reply, sizeof reply), "stats: %s", reply);

    /* ---- the host stopped while the store moves on: exact, then caught up */
    fi = wait_state(s, SPL_FRAG_RUNNING);
    T_TRUE(kill(fi.host_pid, SIGSTOP) == 0, "SIGSTOP");
    hd_gen g2;
    T_RC(hd_init(&g2, 1, DIM, 50, 8), 0);
    t_fill(s, &g2, 3000, 300, NULL);
    float v[DIM];
    T_RC(spl_vec_get(s, "k003150", v, DIM, NULL), 0);
    spl_vec_query q1 = {.vec = v, .dim = DIM, .k = 1, .flags = SPL_VQ_ANN, .ef = 64};
    T_RC(spl_vec_search(s, &q1, &res), 0);
    T_TRUE(!(res->flags & SPL_VR_ANN), "a lagging index answered");
    T_TRUE(res->n == 1 && !strcmp(res->hits[0].key, "k003150"), "exact fallback: new key not found");
    spl_vec_result_free(res);
    printf("host stopped, 300 writes: the exact scan answers and finds the new key\n");
    hnsw_close(x);
    T_TRUE(kill(fi.host_pid, SIGCONT) == 0, "SIGCONT");
    x = wait_caught_up(s, 3100, "host resumed");
    T_RC(spl_vec_search(s, &q1, &res), 0);
    T_TRUE((res->flags & SPL_VR_ANN) && res->n == 1 && !strcmp(res->hits[0].key, "k003150"),
           "caught up: the index finds the new key");
    spl_vec_result_free(res);
    hnsw_close(x);

    /* ---- the host SIGKILLed mid-insert, restarted */
    uint32_t next = 4000;
    int dirty_seen = 0, kills = 0;
    uint64_t live = 3100;
    for (int round = 0; round < 4 && !dirty_seen; round++) {
        fi = wait_state(s, SPL_FRAG_RUNNING);
        pid_t w = writer(next, next + 1500, 0, 0, 100 + (uint64_t)round);
        /* wait until the host is busy with these */
        for (int i = 0; i < 500; i++) {
            T_RC(hnsw_frag_open(&x, s, NULL, 0), 0);
            hnsw_stat st;
            hnsw_stat_get(x, &st);
            hnsw_close(x);
            if (st.live >= live + 200)
                break;
            usleep(10000);
        }
        T_TRUE(kill(fi.host_pid, SIGKILL) == 0, "SIGKILL");
        kills++;
        reap(w);
        next += 1500;
        live += 1500;
        wait_state(s, SPL_FRAG_DEAD);
        T_RC(hnsw_frag_open(&x, s, NULL, HNSW_FRAG_LIVE), SPL_ESTALE);
        usleep(150000); /* spl_vec_search sees the dead host: exact */
        T_RC(spl_vec_search(s, &q1, &res), 0);
        T_TRUE(!(res->flags & SPL_VR_ANN), "the index of a dead host answered");
        spl_vec_result_free(res);
        T_RC(hnsw_frag_open(&x, s, NULL, 0), 0);
        hnsw_stat st;
        hnsw_stat_get(x, &st);
        dirty_seen = st.dirty;
        hnsw_close(x);
        printf("round %d: host killed with %llu vectors indexed%s\n", round, (unsigned long long)st.live,
               st.dirty ? ", inside a change (dirty)" : "");
        spawn_host(s, SPL_HOST_RESTART); /* `splinterctl host --restart` */
        x = wait_caught_up(s, live, "restarted");
        int bad = hnsw_check(x, 1);
        T_TRUE(bad == 0, "hnsw_check: %d violations after the take-over", bad);
        if (dirty_seen)
            T_TRUE(stats_has(s, "\"taken_over_dirty\":true", reply, sizeof reply), "stats: %s", reply);
        hnsw_close(x);
    }
    if (!dirty_seen)
        printf("note: no kill of %d landed inside a change (the take-over was still checked)\n", kills);
    x = wait_caught_up(s, live, "after the kills");
    r = recall(s, &g, 200, 0, 200);
    printf("recall@10 %.4f after %d kills and restarts; hnsw_check sound\n", r, kills);
    T_TRUE(r >= 0.95, "recall %.4f < 0.95", r);
    hnsw_close(x);

    /* ---- 4 threads searching one handle for 0.6 s (past several looks at
     * the registry): every answer from the index */
    pthread_t th[4];
    struct th_arg ta[4];
    for (int i = 0; i < 4; i++) {
        ta[i] = (struct th_arg){s, (uint64_t)i + 1, 0, 0};
        T_TRUE(pthread_create(&th[i], NULL, searcher, &ta[i]) == 0, "pthread_create");
    }
    int tot = 0, ann = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        tot += ta[i].total;
        ann += ta[i].ann;
    }
    T_TRUE(tot > 0 && ann == tot, "threads: %d of %d answered by the index", ann, tot);
    printf("4 threads, one handle: %d searches, all from the index\n", tot);

    /* ---- rmmod: the host exits; no index for readers; writes no longer applied */
    fi = wait_state(s, SPL_FRAG_RUNNING);
    T_RC(spl_frag_unregister(s, "hnsw", 10000000000ll), 0);
    for (int i = 0; i < 400 && alive(fi.host_pid); i++)
        usleep(25000);
    T_TRUE(!alive(fi.host_pid), "the host is still running after rmmod");
    T_RC(hnsw_frag_open(&x, s, NULL, 0), SPL_ENOENT);
    usleep(150000);
    T_RC(spl_vec_search(s, &q1, &res), 0);
    T_TRUE(!(res->flags & SPL_VR_ANN), "answered by the index after rmmod");
    spl_vec_result_free(res);
    t_fill(s, &g2, next, 100, NULL);
    usleep(200000);
    const void *addr;
    size_t len;
    T_RC(spl_frag_region_map(s, "hnsw", "graph", &addr, &len), 0);
    T_RC(hnsw_attach_reader(&x, s, addr, len, NULL), 0);
    hnsw_stat st;
    hnsw_stat_get(x, &st);
    T_TRUE(st.live == live && st.lag >= 100, "after rmmod: live %llu, lag %llu", (unsigned long long)st.live,
           (unsigned long long)st.lag);
    hnsw_close(x);
    spl_frag_region_unmap(addr, len);
    T_TRUE(spl_frag_region_unlink(s, "hnsw", NULL) == 1, "purge");
    printf("rmmod: host gone, no index found, the region no longer follows the store\n");
    hd_free(&g);
    hd_free(&g2);
    spl_close(s);
    printf("ok\n");
    return 0;
}
