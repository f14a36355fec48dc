/*
 * vectorn.c - no torn vector ever contributes a score: searches (and
 * spl_vec_get) run in one process while other processes rewrite, clear and
 * re-create the same vectors.
 *
 *   vectorn [--writers 2] [--ms 1500] [--seed N] [--kills N] [--expect-torn]
 *
 * Vectors are stamp vectors (mp_vec.h: a torn one cannot score like a
 * consistent one).  The reader checks every hit of every search (1 and 2
 * threads) and every spl_vec_get copy.
 *
 * --kills N: the parent SIGKILLs a random writer every 0..4 ms (and forks
 * a new one) until N writers died or the run ends.  A writer killed inside
 * spl_vec_set or spl_vec_clear leaves a slot and maybe a half-written cell
 * for recovery: searches must not score it, and afterwards every key takes
 * a vector again and the store fills to its last slot with vectors (a cell
 * lost to a dead writer would make that fail with SPL_EFULL).
 *
 * Exit 0: no torn vector seen and the searches made progress.  Exit 3: torn
 * vectors seen.  With --expect-torn (tests/expect-fail.sh, the build
 * without the epoch re-check) it keeps searching for up to 20 s until it
 * sees one.
 */
#include "mp_vec.h"

#define VT_DIM  MPV_DIM
#define VT_KEYS 64u

typedef struct vt_shared {
    _Atomic int stop;
    _Atomic uint64_t writes, searches, hits, skipped, gets, torn, errors;
} vt_shared;

static void vt_writer(int fd, vt_shared *sh, uint64_t seed, uint32_t w)
{
    spl_store *s = NULL;
    if (spl_open_fd(&s, fd, 0) != 0)
        _exit(2);
    mp_rng r;
    mp_rng_seed(&r, seed, w + 1);
    while (!atomic_load(&sh->stop)) {
        int rc = mpv_write_op(s, &r, VT_KEYS, "vt");
        if (rc == 0)
            atomic_fetch_add_explicit(&sh->writes, 1, memory_order_relaxed);
        else if (rc != SPL_EAGAIN && atomic_fetch_add(&sh->errors, 1) < 5)
            MP_FAIL("writer %u: %s", w, spl_err_name(rc));
    }
    spl_close(s);
    _exit(0);
}

static void vt_reader(int fd, vt_shared *sh, int expect_torn, int kills, uint64_t deadline)
{
    spl_store *s = NULL;
    (void)kills; /* the bounds below hold with and without kills */
    if (spl_open_fd(&s, fd, SPL_O_RDONLY) != 0)
        _exit(2);
    float g[VT_DIM];
    char key[16];
    for (uint64_t n = 0; mp_now_ns() < deadline; n++) {
        uint32_t torn, hits;
        uint64_t skipped;
        int rc = mpv_search(s, VT_KEYS, 1 + (uint32_t)(n & 1), &torn, &hits, &skipped);
        if (rc != 0) {
            if (atomic_fetch_add(&sh->errors, 1) < 5)
                MP_FAIL("search: %s", spl_err_name(rc));
            continue;
        }
        /* A key is reported once.  A skipped cell need not be a key of
         * its own: a key deleted and set again while the search runs can
         * leave its old cell skipped (its slot stayed busy, or the cell
         * kept changing while it was freed and claimed) and be found in
         * its new cell; with kills, a cell of a key whose delete committed
         * just before its writer died stays in a busy slot (a read-only
         * searcher cannot recover it) while the key is found elsewhere.
         * (The bound hits + skipped <= keys, held here until the batch
         * search, failed about 1 run in 10 before it too: 64 + 1.) */
        if ((hits > VT_KEYS || skipped > VT_KEYS) && atomic_fetch_add(&sh->errors, 1) < 5)
            MP_FAIL("search: %u hits, %llu skipped, more than %u keys", hits,
                    (unsigned long long)skipped, VT_KEYS);
        atomic_fetch_add(&sh->torn, torn);
        atomic_fetch_add(&sh->hits, hits);
        atomic_fetch_add(&sh->skipped, skipped);
        atomic_fetch_add(&sh->searches, 1);
        snprintf(key, sizeof key, "vt%02u", (unsigned)(n % VT_KEYS));
        if (spl_vec_get(s, key, g, VT_DIM, NULL) == 0) {
            if (!mpv_copy_ok(g) && atomic_fetch_add(&sh->torn, 1) < 5)
                mp_line("vectorn: ", "torn spl_vec_get of %s", key);
            atomic_fetch_add(&sh->gets, 1);
        }
        if (expect_torn && atomic_load(&sh->torn))
            break;
    }
    atomic_store(&sh->stop, 1);
    spl_close(s);
    _exit(0);
}

/* After the kills, with every process stopped: each key takes a vector
 * again (a slot a dead writer held is recovered on the way), then the
 * store fills to its last slot with vectors, and a search finds all of them
 * and skips none. */
static int vt_after_kills(spl_store *s, uint64_t killed)
{
    float v[VT_DIM], g[VT_DIM];
    char key[16];
    spl_info in;
    if (spl_info_get(s, &in) != 0)
        return 1;
    uint32_t slots = in.geom.slots, extra = 0;
    for (uint32_t k = 0; k < slots; k++) {
        if (k < VT_KEYS)
            snprintf(key, sizeof key, "vt%02u", k);
        else
            snprintf(key, sizeof key, "vf%03u", k);
        mpv_fill(v, k % (MPV_TMAX + 1));
        int rc;
        for (int t = 0; (rc = spl_vec_set(s, key, v, VT_DIM)) == SPL_EAGAIN && t < 200; t++)
            usleep(1000);
        if (rc != 0) {
            MP_FAIL("after %llu kills: spl_vec_set %s: %s", (unsigned long long)killed, key,
                    spl_err_name(rc));
            return 1;
        }
        if (spl_vec_get(s, key, g, VT_DIM, NULL) != 0 || memcmp(g, v, sizeof v) != 0) {
            MP_FAIL("after %llu kills: %s does not read back", (unsigned long long)killed, key);
            return 1;
        }
        extra += k >= VT_KEYS;
    }
    spl_vec_query q = {.vec = v, .dim = VT_DIM, .k = SPL_VEC_K_LIMIT < slots ? SPL_VEC_K_LIMIT : slots,
                       .metric = SPL_METRIC_DOT};
    spl_vec_result *r = NULL;
    int rc = spl_vec_search(s, &q, &r);
    int bad = rc != 0 || r->skipped != 0 || r->n != VT_KEYS + extra;
    if (bad)
        MP_FAIL("after %llu kills: search %s, %u hits (%u vectors), %llu skipped",
                (unsigned long long)killed, spl_err_name(rc), r ? r->n : 0, VT_KEYS + extra,
                (unsigned long long)(r ? r->skipped : 0));
    else
        printf("vectorn: after %llu kills, %u vectors in %u slots, all found\n",
               (unsigned long long)killed, VT_KEYS + extra, slots);
    spl_vec_result_free(r);
    return bad;
}

int main(int argc, char **argv)
{
    uint64_t writers = 2, ms = 1500, seed = mp_time_seed(), expect = 0, kills = 0;
    mpv_need_embeddings("vectorn");
    /* split every search over its threads (the pool), however small */
    setenv("SPLINTER_SPLIT_BYTES", "0", 1);
    for (int i = 1; i < argc; i++) {
        if (mp_arg_u64(argc, argv, &i, "--writers", &writers) ||
            mp_arg_u64(argc, argv, &i, "--ms", &ms) || mp_arg_u64(argc, argv, &i, "--seed", &seed) ||
            mp_arg_u64(argc, argv, &i, "--kills", &kills))
            continue;
        if (strcmp(argv[i], "--expect-torn") == 0) {
            expect = 1;
            continue;
        }
        fprintf(stderr, "usage: vectorn [--writers 2] [--ms 1500] [--seed N] [--kills N] "
                        "[--expect-torn]\n");
        return 2;
    }
    if (writers < 1 || writers > 32)
        writers = 2;
    printf("vectorn: seed %llu, %llu writers\n", (unsigned long long)seed,
           (unsigned long long)writers);
    spl_store *s = mpv_store(VT_KEYS, "vectorn");
    if (!s)
        return 1;
    float v[VT_DIM];
    mpv_fill(v, 0);
    char key[16];
    for (uint32_t k = 0; k < VT_KEYS; k++) {
        snprintf(key, sizeof key, "vt%02u", k);
        if (spl_vec_set(s, key, v, VT_DIM) != 0)
            return 1;
    }
    vt_shared *sh = mp_shared_alloc(sizeof *sh);
    pid_t pids[33];
    uint32_t np = 0;
    uint64_t deadline = mp_now_ns() + (expect ? 20000ull : ms) * 1000000ull;
    for (uint32_t w = 0; w < writers; w++) {
        pid_t p = fork();
        if (p == 0)
            vt_writer(spl_fd(s), sh, seed, w);
        pids[np++] = p;
    }
    pid_t rp = fork();
    if (rp == 0)
        vt_reader(spl_fd(s), sh, (int)expect, kills != 0, deadline);
    int st = 0;
    uint64_t killed = 0;
    mp_rng kr;
    mp_rng_seed(&kr, seed, 999);
    pid_t done = 0;
    while (killed < kills && (done = waitpid(rp, &st, WNOHANG)) == 0) {
        usleep((useconds_t)(mp_rand(&kr) % 4000));
        uint32_t w = (uint32_t)(mp_rand(&kr) % np);
        kill(pids[w], SIGKILL);
        waitpid(pids[w], NULL, 0);
        killed++;
        pid_t p = fork();
        if (p == 0)
            vt_writer(spl_fd(s), sh, seed + killed, w);
        pids[w] = p;
    }
    if (done != rp)
        waitpid(rp, &st, 0); /* the reader sets stop when it is done */
    atomic_store(&sh->stop, 1);
    int fail = mp_wait_all(pids, np, "writer") || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    if (kills && !expect)
        fail |= vt_after_kills(s, killed);
    printf("vectorn: %llu writes, %llu searches, %llu hits, %llu skipped, %llu gets, "
           "%llu torn, %llu errors\n",
           (unsigned long long)sh->writes, (unsigned long long)sh->searches,
           (unsigned long long)sh->hits, (unsigned long long)sh->skipped,
           (unsigned long long)sh->gets, (unsigned long long)sh->torn,
           (unsigned long long)sh->errors);
    if (sh->searches == 0 || sh->writes == 0 || sh->hits == 0)
        fail = 1, fprintf(stderr, "vectorn: no progress\n");
    int torn = sh->torn != 0;
    fail |= sh->errors != 0;
    spl_close(s);
    mp_shared_free(sh, sizeof *sh);
    if (torn)
        return 3;
    return fail;
}
