/*
 * test_crash.c - a writer killed mid-change, and the one that takes over.
 *
 * Rounds: a child opens the index as its writer and changes vectors as
 * fast as it can (inserts, rewrites, deletes, each applied), and is killed
 * (SIGKILL) after a random few milliseconds, most likely inside an insert:
 * a node half written (odd seq), a list half written, links to a node not
 * yet whole.  Then this process opens the index: the dead owner is
 * replaced, the dirty graph repaired (hnsw_repair: torn nodes dropped,
 * lists made whole and clean, entry and counters recomputed), the graph
 * must be sound right away (hnsw_check, before any sync), and after the
 * sync it finds what the exact search finds with valid hits.  Two more
 * rounds kill a rebuild half way: the region says BUILDING (readers
 * decline, spl_vec_search answers exactly) and the next open rebuilds it.
 */
#include "hnsw_test.h"
#include "hnsw_layout.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIM 32
#define N0 2000
#define NMAX 3500

static void churn(const char *name, const char *path, uint32_t flags, uint64_t seed)
{
    spl_store *s;
    spl_options o;
    spl_options_init(&o);
    if (spl_open(&s, name, &o) != 0)
        _exit(2);
    hnsw_index *x;
    if (hnsw_open_writer(&x, s, path, NULL, flags, NULL, NULL) != 0)
        _exit(3);
    hd_gen g;
    if (hd_init(&g, 1, DIM, 20, seed))
        _exit(4);
    hd_rng r = {seed};
    float v[DIM];
    char key[32];
    for (;;) {
        uint32_t id = (uint32_t)(hd_next(&r) % NMAX);
        t_key(key, id);
        spl_meta m;
        uint32_t slot = spl_meta_get(s, key, &m) == 0 ? m.slot : SPL_EV_NOSLOT;
        if (hd_next(&r) % 5 == 0)
            spl_unset(s, key);
        else {
            hd_point(&g, v);
            spl_vec_set(s, key, v, DIM);
            if (slot == SPL_EV_NOSLOT && spl_meta_get(s, key, &m) == 0)
                slot = m.slot;
        }
        hnsw_apply(x, slot, key);
    }
}

static double recall(spl_store *s, hnsw_index *x, hd_gen *g)
{
    float q[DIM];
    uint64_t hit = 0, want = 0;
    for (int i = 0; i < 30; i++) {
        hd_point(g, q);
        spl_vec_query qa = {.vec = q, .dim = DIM, .k = 10, .flags = SPL_VQ_ANN, .ef = 64}, qe = qa;
        qe.flags = 0;
        spl_vec_result *ra, *re;
        T_RC(hnsw_search(x, &qa, &ra), 0);
        T_RC(spl_vec_search(s, &qe, &re), 0);
        T_TRUE(t_hits_valid(s, ra, q, DIM, SPL_METRIC_COSINE) == 0, "stale hit in a quiet store");
        hit += t_overlap(ra, re);
        want += re->n;
        spl_vec_result_free(ra);
        spl_vec_result_free(re);
    }
    return want ? (double)hit / (double)want : 1.0;
}

/* A dead writer's worst leftovers, planted by hand in the region file: a
 * node and a list left odd (mid-write), a list with ids out of range,
 * repeated, pointing at itself and at an absent node, counters wrong, the
 * entry on an absent node, the dirty flag and a dead owner.  The next
 * writer must repair all of it (readers meanwhile skip the busy parts). */
static void planted(spl_store *s, const char *path, hd_gen *g)
{
    hnsw_index *x;
    T_RC(hnsw_open_writer(&x, s, path, NULL, 0, NULL, NULL), 0);
    hnsw_close(x);
    FILE *f = fopen(path, "r+b");
    T_TRUE(f != NULL, "open %s", path);
    struct hnsw_header h;
    T_TRUE(fread(&h, sizeof h, 1, f) == 1, "read header");
    uint32_t head_off = hnsw__head_off(h.m0, h.key_max);
    /* find two present nodes and an absent one */
    uint32_t a = UINT32_MAX, b = UINT32_MAX, none = UINT32_MAX;
    struct hnsw_node nd;
    for (uint32_t id = 0; id < h.nodes && (a == UINT32_MAX || b == UINT32_MAX || none == UINT32_MAX); id++) {
        fseek(f, (long)(h.nodes_off + (uint64_t)id * h.node_stride + head_off), SEEK_SET);
        T_TRUE(fread(&nd, sizeof nd, 1, f) == 1, "read node");
        if ((nd.flags & HNSW_N_PRESENT) && !(nd.flags & HNSW_N_DELETED)) {
            if (a == UINT32_MAX)
                a = id;
            else if (b == UINT32_MAX)
                b = id;
        } else if (!nd.flags && none == UINT32_MAX)
            none = id;
    }
    T_TRUE(a != UINT32_MAX && b != UINT32_MAX && none != UINT32_MAX, "nodes to plant on");
    /* node a: odd seq (a writer died inside its rewrite) */
    uint64_t base_a = h.nodes_off + (uint64_t)a * h.node_stride;
    fseek(f, (long)(base_a + head_off), SEEK_SET);
    T_TRUE(fread(&nd, sizeof nd, 1, f) == 1, "read a");
    nd.seq |= 1;
    fseek(f, (long)(base_a + head_off), SEEK_SET);
    fwrite(&nd, sizeof nd, 1, f);
    /* node b's level-0 list: odd, and ids bad in every way */
    uint32_t list[2 + 6] = {7, 6, h.nodes + 5, b, none, a, a, 0xffffffffu};
    fseek(f, (long)(h.nodes_off + (uint64_t)b * h.node_stride), SEEK_SET);
    fwrite(list, sizeof list, 1, f);
    /* header: counters, entry on an absent node, dirty, a dead owner */
    h.live += 7;
    h.entry = ((uint64_t)1 << 32) | none;
    h.dirty = 1;
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    h.owner = (uint64_t)(uint32_t)dead << 32 | 1;
    fseek(f, 0, SEEK_SET);
    fwrite(&h, sizeof h, 1, f);
    fclose(f);
    /* a reader meanwhile: no crash, no hang, valid hits */
    hnsw_index *rd;
    T_RC(hnsw_open_reader(&rd, s, path), 0);
    hnsw_set_max_lag(rd, UINT64_MAX - 1);
    float q[DIM];
    for (int i = 0; i < 20; i++) {
        hd_point(g, q);
        spl_vec_query qq = {.vec = q, .dim = DIM, .k = 10, .flags = SPL_VQ_ANN};
        spl_vec_result *res;
        int rc = hnsw_search(rd, &qq, &res);
        T_TRUE(rc == 0 || rc == SPL_ESTALE, "search on a torn graph: %s", spl_err_name(rc));
        if (rc == 0) {
            T_TRUE(t_hits_valid(s, res, q, DIM, SPL_METRIC_COSINE) == 0, "bad hit");
            spl_vec_result_free(res);
        }
    }
    hnsw_close(rd);
    T_RC(hnsw_open_writer(&x, s, path, NULL, HNSW_OPEN_NOSYNC, NULL, NULL), 0);
    hnsw_stat st;
    hnsw_stat_get(x, &st);
    printf("planted damage: take-over found it %s, %u fixes\n", st.opened_dirty ? "dirty" : "clean", st.repairs);
    T_TRUE(st.opened_dirty && st.repairs >= 4, "planted damage not repaired (%u fixes)", st.repairs);
    T_RC(hnsw_check(x, 1), 0);
    T_RC(hnsw_sync(x, NULL, NULL), 0);
    T_RC(hnsw_check(x, 1), 0);
    hnsw_close(x);
}

/* A dead writer can also leave a graph whose links are all well formed but
 * whose entry point no longer reaches part of it.  Plant that: every link
 * into the 30 nearest nodes of a query is cut (their own lists stay), the
 * graph left dirty with a dead owner.  The damage is real (a search for
 * the query misses its neighbours); the take-over must attach them again:
 * nothing unreachable, the graph sound, the query's neighbours found. */
static void unreachable(spl_store *s, const char *path, hd_gen *g)
{
    enum { CUT = 30 };
    float q[DIM];
    hd_point(g, q);
    spl_vec_query qe = {.vec = q, .dim = DIM, .k = CUT};
    spl_vec_query qa = {.vec = q, .dim = DIM, .k = 10, .flags = SPL_VQ_ANN, .ef = 64};
    spl_vec_result *cut, *ex, *ra;
    T_RC(spl_vec_search(s, &qe, &cut), 0);
    qe.k = 10;
    T_RC(spl_vec_search(s, &qe, &ex), 0);
    T_TRUE(cut->n == CUT, "%u neighbours", cut->n);
    uint8_t *in = calloc(5000, 1);
    T_TRUE(in != NULL, "calloc");
    for (uint32_t i = 0; i < cut->n; i++) {
        spl_meta m;
        T_RC(spl_meta_get(s, cut->hits[i].key, &m), 0);
        T_TRUE(m.slot < 5000, "slot %u", m.slot);
        in[m.slot] = 1;
    }
    hnsw_index *x;
    T_RC(hnsw_open_writer(&x, s, path, NULL, 0, NULL, NULL), 0);
    hnsw_close(x);
    int fd = open(path, O_RDWR);
    T_TRUE(fd >= 0, "open %s", path);
    struct stat stt;
    T_TRUE(fstat(fd, &stt) == 0, "stat");
    uint8_t *r = mmap(NULL, (size_t)stt.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    T_TRUE(r != MAP_FAILED, "mmap");
    close(fd);
    struct hnsw_header *h = (struct hnsw_header *)(void *)r;
    uint32_t head_off = hnsw__head_off(h->m0, h->key_max);
    uint32_t ncut = CUT;
    if ((uint32_t)h->entry < 5000 && in[(uint32_t)h->entry]) {
        in[(uint32_t)h->entry] = 0; /* the entry point stays reachable: it is where searches start */
        ncut--;
    }
    uint64_t cuts = 0;
    for (uint32_t id = 0; id < h->nodes; id++) {
        uint8_t *nb = r + h->nodes_off + (uint64_t)id * h->node_stride;
        struct hnsw_node *nd = (struct hnsw_node *)(void *)(nb + head_off);
        if (in[id] || !(nd->flags & HNSW_N_PRESENT))
            continue;
        for (uint32_t l = 0; l <= nd->level; l++) {
            uint8_t *lp = l ? r + h->pool_off + (uint64_t)(nd->upper + l - 1) * h->list_stride : nb;
            struct hnsw_list *li = (struct hnsw_list *)(void *)lp;
            uint32_t k = 0;
            for (uint32_t i = 0; i < li->count; i++)
                if (li->ids[i] >= h->nodes || !in[li->ids[i]])
                    li->ids[k++] = li->ids[i];
                else
                    cuts++;
            li->count = k;
        }
    }
    h->dirty = 1;
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    h->owner = (uint64_t)(uint32_t)dead << 32 | 1;
    munmap(r, (size_t)stt.st_size);
    /* the damage, as a reader sees it */
    hnsw_index *rd;
    T_RC(hnsw_open_reader(&rd, s, path), 0);
    int64_t lost = hnsw_reach(rd, NULL);
    T_RC(hnsw_search(rd, &qa, &ra), 0);
    uint32_t before = t_overlap(ra, ex);
    spl_vec_result_free(ra);
    hnsw_close(rd);
    T_TRUE(lost >= ncut, "cutting %llu links left %lld nodes unreachable", (unsigned long long)cuts, (long long)lost);
    T_TRUE(before <= 2, "the cut-off neighbours were still found (%u of 10)", before);
    /* the take-over */
    T_RC(hnsw_open_writer(&x, s, path, NULL, HNSW_OPEN_NOSYNC, NULL, NULL), 0);
    hnsw_stat st;
    hnsw_stat_get(x, &st);
    int64_t after_lost = hnsw_reach(x, NULL);
    T_RC(hnsw_search(x, &qa, &ra), 0);
    uint32_t after = t_overlap(ra, ex);
    spl_vec_result_free(ra);
    printf("unreachable: %llu links cut, %lld nodes unreachable, the query found %u of 10; the take-over "
           "relinked %u, %lld unreachable, the query found %u of 10\n",
           (unsigned long long)cuts, (long long)lost, before, st.relinked, (long long)after_lost, after);
    T_TRUE(st.opened_dirty && st.relinked >= 1, "no node attached again");
    T_TRUE(after_lost == 0, "%lld nodes still unreachable", (long long)after_lost);
    T_TRUE(after >= 9, "the query found %u of its 10 neighbours", after);
    T_RC(hnsw_check(x, 1), 0);
    hnsw_close(x);
    spl_vec_result_free(cut);
    spl_vec_result_free(ex);
    free(in);
}

int main(int argc, char **argv)
{
    t_name = "test_crash";
    int rounds = argc > 1 ? atoi(argv[1]) : 12;
    t_shm_dir();
    const char *name = "crash";
    spl_store *s = t_store(name, 5000, DIM);
    hd_gen g;
    T_RC(hd_init(&g, 1, DIM, 20, 1), 0);
    t_fill(s, &g, 0, N0, NULL);
    char path[512];
    T_TRUE(hnsw_path(name, path, sizeof path) > 0, "path");
    hnsw_index *x;
    T_RC(hnsw_open_writer(&x, s, path, NULL, 0, NULL, NULL), 0);
    hnsw_close(x);
    hd_rng r = {99};
    int dirty_rounds = 0, repairs = 0;
    for (int round = 0; round < rounds + 2; round++) {
        int rebuild = round >= rounds; /* the last two: kill a rebuild */
        fflush(stdout);
        pid_t c = fork();
        if (c == 0)
            churn(name, path, rebuild ? HNSW_OPEN_REBUILD : 0, 1000 + (uint64_t)round);
        usleep(rebuild ? 30000 + (useconds_t)(hd_next(&r) % 150000) : 5000 + (useconds_t)(hd_next(&r) % 60000));
        kill(c, SIGKILL);
        int st;
        T_TRUE(waitpid(c, &st, 0) == c, "wait");
        T_TRUE(WIFSIGNALED(st), "the child ended by itself (status %d)", st);
        if (rebuild) {
            hnsw_index *rd;
            T_RC(hnsw_open_reader(&rd, s, path), 0);
            hnsw_stat rs;
            hnsw_stat_get(rd, &rs);
            float qv[DIM]; /* a vector, not a key: the churn may have deleted any key */
            hd_point(&g, qv);
            spl_vec_query qk = {.vec = qv, .dim = DIM, .k = 5, .flags = SPL_VQ_ANN};
            spl_vec_result *res;
            if (rs.state == HNSW_STATE_BUILDING) {
                T_RC(hnsw_search(rd, &qk, &res), SPL_ESTALE);
                T_RC(hnsw_provide(rd), 0);
                T_RC(spl_vec_search(s, &qk, &res), 0); /* the exact scan answers */
                T_TRUE(!(res->flags & SPL_VR_ANN), "a half-built index answered");
                spl_vec_result_free(res);
            }
            printf("round %d: rebuild killed at %llu/%llu keys (state %u)\n", round,
                   (unsigned long long)rs.build_done, (unsigned long long)rs.build_total, rs.state);
            hnsw_close(rd);
        }
        /* take over: repaired (or rebuilt) at open, sound before any sync */
        T_RC(hnsw_open_writer(&x, s, path, NULL, HNSW_OPEN_NOSYNC, NULL, NULL), 0);
        hnsw_stat st1;
        hnsw_stat_get(x, &st1);
        dirty_rounds += st1.opened_dirty;
        repairs += (int)st1.repairs;
        int bad = hnsw_check(x, 1);
        T_TRUE(bad == 0, "round %d: %d violations after the take-over", round, bad);
        T_TRUE(st1.state == HNSW_STATE_READY, "round %d: not ready", round);
        hnsw_close(x);
        T_RC(hnsw_open_writer(&x, s, path, NULL, 0, NULL, NULL), 0); /* and synced */
        T_RC(hnsw_check(x, 1), 0);
        hnsw_stat st2;
        hnsw_stat_get(x, &st2);
        T_TRUE(st2.lag == 0, "synced but lagging");
        double rec = recall(s, x, &g);
        int64_t lost = hnsw_reach(x, NULL);
        if (!rebuild)
            printf("round %d: killed; take-over found it %s (%u fixes, %u relinked); %llu live, %lld unreachable; "
                   "recall %.4f\n", round, st1.opened_dirty ? "dirty" : "clean", st1.repairs, st1.relinked,
                   (unsigned long long)st2.live, (long long)lost, rec);
        T_TRUE(rec >= 0.95, "round %d: recall %.4f", round, rec);
        hnsw_close(x);
    }
    printf("%d of %d kills left the graph dirty; %d fixes in all\n", dirty_rounds, rounds, repairs);
    T_TRUE(dirty_rounds > 0, "no kill landed inside a change: the repair was not exercised");
    planted(s, path, &g);
    unreachable(s, path, &g);
    spl_close(s);
    hd_free(&g);
    printf("ok\n");
    return 0;
}
