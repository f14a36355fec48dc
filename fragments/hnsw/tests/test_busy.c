/*
 * test_busy.c - the index's reads of a key whose slot a live writer holds
 * wait for that writer asleep on the slot (hnsw_ops.retry_pause: the
 * library's spl_retry_pause), not by polling:
 *   - a search by key (the key's vector is the query) made while its slot
 *     is held waits, answers once the writer commits 50 ms later, and the
 *     searching thread slept on the slot (the library's sleep count rose);
 *     a polling loop (the index's fallback for hosts of fragment ABI 3)
 *     sleeps on nothing and fails that check;
 *   - held for good: the search gives SPL_EAGAIN after about its wait
 *     (100 ms), hnsw_apply of the key SPL_EAGAIN after about 50 ms;
 *   - the fallback (an hnsw_ops without retry_pause) still answers a
 *     search by a key that is not busy.
 */
#include <pthread.h>
#include <sys/mman.h>

#include "hnsw_test.h"
#include "internal.h"
#include "layout.h"

#define DIM 16
#define N 300

static double mono_ms(void) { return t_now() * 1e3; }

/* The key's slot, in a second mapping of the store's region. */
static struct spl_slot *slot_of(spl_store *s, const char *key)
{
    spl_info inf;
    spl_meta m;
    T_RC(spl_info_get(s, &inf), 0);
    T_RC(spl_meta_get(s, key, &m), 0);
    void *map = mmap(NULL, (size_t)inf.region_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, spl_fd(s), 0);
    T_TRUE(map != MAP_FAILED, "mmap");
    const struct spl_header *h = map;
    T_TRUE(h->magic == SPL_MAGIC, "magic");
    struct spl_slot *sl = (struct spl_slot *)(void *)((char *)map + h->slots_off + (size_t)m.slot * h->slot_stride);
    T_TRUE(__atomic_load_n(&sl->epoch, __ATOMIC_SEQ_CST) == m.epoch, "the key's slot");
    return sl;
}

/* A live process (our parent) inside the slot's write section. */
static uint64_t hold(struct spl_slot *sl)
{
    uint64_t odd = __atomic_load_n(&sl->epoch, __ATOMIC_SEQ_CST) | 1;
    __atomic_store_n(&sl->owner, (uint64_t)(uint32_t)getppid() << 32, __ATOMIC_SEQ_CST);
    __atomic_store_n(&sl->epoch, odd, __ATOMIC_SEQ_CST);
    return odd;
}

/* A writer that commits after 50 ms (a thread plays it). */
struct later {
    struct spl_slot *sl;
    uint64_t odd;
};

static void *commit_later(void *arg)
{
    struct later *l = arg;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    __atomic_store_n(&l->sl->epoch, l->odd + 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&l->sl->owner, 0, __ATOMIC_SEQ_CST);
    return NULL;
}

static uint64_t sleeps(void)
{
    uint64_t n = 0;
    spl__contend_stats(NULL, &n);
    return n;
}

/* Search by key: 0 and the key itself first (its own vector), or the error. */
static int search_by(hnsw_index *x, const char *key)
{
    spl_vec_query q = {.key = key, .k = 3, .metric = SPL_METRIC_COSINE, .ef = 32};
    spl_vec_result *r = NULL;
    int rc = hnsw_search(x, &q, &r);
    if (rc == 0) {
        T_TRUE(r->n >= 1 && strcmp(r->hits[0].key, key) == 0, "the query key is its own first hit");
        spl_vec_result_free(r);
    }
    return rc;
}

int main(void)
{
    t_name = "test_busy";
    spl_store *s = t_store(NULL, 2 * N, DIM);
    hd_gen g;
    T_RC(hd_init(&g, 0, DIM, 0, 5), 0);
    t_fill(s, &g, 0, N, NULL);
    hnsw_params p;
    hnsw_params_init(&p);
    uint64_t bytes = hnsw_region_bytes(2 * N, 32, DIM, &p);
    void *mem = calloc(1, bytes);
    T_TRUE(mem != NULL, "calloc");
    hnsw_index *x;
    T_RC(hnsw_attach_writer(&x, s, mem, bytes, &p, NULL, 0, NULL, NULL), 0);

    char key[32];
    t_key(key, 7);
    T_RC(search_by(x, key), 0);
    spl_meta m;
    T_RC(spl_meta_get(s, key, &m), 0);
    uint32_t slot7 = m.slot;
    struct spl_slot *sl = slot_of(s, key);

    /* a writer commits 50 ms into the search: it waits, asleep, and answers */
    for (int round = 0; round < 2; round++) {
        struct later l = {sl, hold(sl)};
        pthread_t th;
        uint64_t z0 = sleeps();
        double t0 = mono_ms();
        T_TRUE(pthread_create(&th, NULL, commit_later, &l) == 0, "pthread_create");
        int rc = search_by(x, key);
        double ms = mono_ms() - t0;
        T_TRUE(pthread_join(th, NULL) == 0, "pthread_join");
        uint64_t z1 = sleeps();
        printf("search through a 50 ms hold: %s after %.0f ms, %llu sleeps on the slot\n", spl_err_name(rc),
               ms, (unsigned long long)(z1 - z0));
        T_RC(rc, 0);
        T_TRUE(ms >= 45, "it waited for the writer (%.0f ms)", ms);
        T_TRUE(ms < 4000, "not far past its commit (%.0f ms)", ms);
        T_TRUE(z1 > z0, "asleep on the slot, not polling");
    }

    /* held for good: each gives up after its time */
    uint64_t odd = hold(sl);
    double t0 = mono_ms();
    T_RC(search_by(x, key), SPL_EAGAIN);
    double ms = mono_ms() - t0;
    printf("search, held for good: SPL_EAGAIN after %.0f ms\n", ms);
    T_TRUE(ms >= 95 && ms < 3000, "the search's wait is about 100 ms (%.0f)", ms);
    t0 = mono_ms();
    T_RC(hnsw_apply(x, slot7, key), SPL_EAGAIN);
    ms = mono_ms() - t0;
    printf("apply, held for good: SPL_EAGAIN after %.0f ms\n", ms);
    T_TRUE(ms >= 45 && ms < 3000, "the apply's wait is about 50 ms (%.0f)", ms);
    __atomic_store_n(&sl->epoch, odd + 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&sl->owner, 0, __ATOMIC_SEQ_CST);
    T_RC(search_by(x, key), 0);
    hnsw_close(x);

    /* an index whose table has no retry_pause (a host of fragment ABI 3)
     * still answers */
    hnsw_ops old = hnsw_ops_default;
    old.retry_init = NULL;
    old.retry_pause = NULL;
    memset(mem, 0, bytes);
    T_RC(hnsw_attach_writer(&x, s, mem, bytes, &p, &old, 0, NULL, NULL), 0);
    T_RC(search_by(x, key), 0);
    hnsw_close(x);
    free(mem);
    hd_free(&g);
    spl_close(s);
    t_cleanup();
    printf("test_busy: ok\n");
    return 0;
}
