/*
 * test_place.c - where a store's memory lives (docs/PLACEMENT.md): NUMA
 * policies (WITH_NUMA=1 builds; skipped, with a "SKIP" line, otherwise),
 * huge pages (memfd and a FILE on hugetlbfs), the placement fields of
 * spl_info, and the errors: SPL_ENOTSUP, SPL_ENODE, SPL_ENOHUGE, SPL_EINVAL.
 *
 * Huge pages: where none are free and this runs as root, the test reserves
 * a few (/proc/sys/vm/nr_hugepages) and puts the old count back at the end;
 * where it cannot, the huge-page tests say SKIP.  The FILE test uses a
 * hugetlbfs mount if one is writable, else mounts one (root) in a temporary
 * directory and unmounts it after.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "splinter.h"
#include "unit_common.h"

#ifndef SPL_WITH_NUMA
#define SPL_WITH_NUMA 0
#endif
#if SPL_WITH_NUMA
#include <numa.h>
#include <numaif.h>
#endif

/* A visible skip: tests/run.sh prints the "SKIP" lines of passing tests. */
#define SKIP_BECAUSE(...)                                                           \
    do {                                                                            \
        printf("SKIP %s: ", __func__);                                              \
        printf(__VA_ARGS__);                                                        \
        printf("\n");                                                               \
        fflush(stdout);                                                             \
        skip();                                                                     \
    } while (0)

#define HUGE_WANT 16 /* pages this test reserves where none are free */
#define SPL_TEST_HUGE_LOCK "/tmp/splinter-nr-hugepages.lock" /* also tests/cli/place.bats */

static long g_saved_nr = -1; /* nr_hugepages before the test raised it */
static int g_huge_lock = -1;  /* see huge_lock */
static char g_mnt[64];       /* a hugetlbfs this test mounted */
static char g_dir[64];

/* ---------------------------------------------------------------- helpers */

static long read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int write_long(const char *path, long v)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%ld\n", v) > 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* A field of /proc/meminfo ("HugePages_Free", "Hugepagesize"), or -1. */
static long meminfo(const char *field)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return v;
}

static uint64_t huge_bytes(void) { return (uint64_t)meminfo("Hugepagesize") * 1024; }

/* nr_hugepages is one count for the whole machine: a test suite running
 * beside this one (another build's, or tests/cli/place.bats) that raises
 * it and puts its own saved count back could take our pages away between
 * our reservation and our store.  So whoever changes it holds this lock
 * (flock, released when the holder exits) from the reservation until the
 * count is back. */
static void huge_lock(void)
{
    if (g_huge_lock >= 0)
        return;
    g_huge_lock = open(SPL_TEST_HUGE_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (g_huge_lock >= 0 && flock(g_huge_lock, LOCK_EX) != 0) {
        close(g_huge_lock);
        g_huge_lock = -1;
    }
}

static void huge_restore(void)
{
    if (g_saved_nr >= 0) {
        if (write_long("/proc/sys/vm/nr_hugepages", g_saved_nr) != 0)
            fprintf(stderr, "test_place: could not restore nr_hugepages to %ld\n", g_saved_nr);
        g_saved_nr = -1;
    }
    if (g_huge_lock >= 0) {
        close(g_huge_lock);
        g_huge_lock = -1;
    }
    if (g_mnt[0]) {
        umount(g_mnt);
        rmdir(g_mnt);
        g_mnt[0] = 0;
    }
}

/* Free default-size huge pages, after reserving HUGE_WANT more where fewer
 * are free and we may (root).  The count is restored by huge_restore. */
static long huge_reserve(void)
{
    if (geteuid() == 0)
        huge_lock(); /* before the count is read: see huge_lock */
    long free_ = meminfo("HugePages_Free");
    if (free_ >= HUGE_WANT || geteuid() != 0)
        return free_;
    long nr = read_long("/proc/sys/vm/nr_hugepages");
    if (nr < 0)
        return free_;
    if (g_saved_nr < 0)
        g_saved_nr = nr;
    if (write_long("/proc/sys/vm/nr_hugepages", nr + HUGE_WANT) != 0)
        return free_;
    return meminfo("HugePages_Free");
}

/* What /proc/self/smaps says about the mapping holding addr. */
typedef struct vma_info {
    long kernel_page_kb, shared_hugetlb_kb, private_hugetlb_kb;
} vma_info;

static int vma_of(const void *addr, vma_info *vi)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int inside = 0, found = 0;
    memset(vi, 0, sizeof *vi);
    uintptr_t a = (uintptr_t)addr;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            if (inside)
                break;
            inside = a >= lo && a < hi;
            found |= inside;
            continue;
        }
        if (!inside)
            continue;
        sscanf(line, "KernelPageSize: %ld", &vi->kernel_page_kb);
        sscanf(line, "Shared_Hugetlb: %ld", &vi->shared_hugetlb_kb);
        sscanf(line, "Private_Hugetlb: %ld", &vi->private_hugetlb_kb);
    }
    if (f)
        fclose(f);
    return found ? 0 : -1;
}

/* An address inside the store's mapping: the value of key, in place. */
static const void *addr_of(spl_store *s, const char *key)
{
    spl_view v;
    CHECK_RC(spl_view_get(s, key, &v), 0);
    return v.data;
}

static void put_get(spl_store *s, const char *key, const char *val)
{
    char buf[128];
    size_t len = 0;
    CHECK_RC(spl_set(s, key, val, strlen(val)), 0);
    CHECK_RC(spl_get(s, key, buf, sizeof buf, &len), 0);
    assert_int_equal(len, strlen(val));
    assert_memory_equal(buf, val, len);
}

/* Write n keys with val_max-sized values: touches pages all over the slots. */
static void fill(spl_store *s, int n, uint32_t val_len)
{
    char key[32], *val = calloc(1, val_len);
    assert_non_null(val);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%d", i);
        memset(val, 'a' + i % 26, val_len);
        CHECK_RC(spl_set(s, key, val, val_len), 0);
    }
    free(val);
}

static spl_options opts(spl_backing b, uint32_t numa_mode, uint64_t nodes)
{
    spl_options o = unit_opts(b, 4096, 32, 1024);
    o.geom.vec_dim = 0;
    o.numa_mode = numa_mode;
    o.numa_nodes = nodes;
    return o;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int group_setup(void **state)
{
    (void)state;
    atexit(huge_restore);
    return unit_mkdtemp(g_dir, sizeof g_dir, "place");
}

static int group_teardown(void **state)
{
    (void)state;
    huge_restore();
    return unit_rm_rf(g_dir);
}

/* ---------------------------------------------------- options and errors */

static void test_options_default_no_placement(void **state)
{
    (void)state;
    spl_options o;
    spl_options_init(&o);
    assert_int_equal(o.numa_mode, SPL_NUMA_DEFAULT);
    assert_int_equal(o.huge_pages, 0);
    assert_true(o.numa_nodes == 0);
    spl_store *s = mk(64, 16, 64);
    put_get(s, "a", "1");
    spl_info in;
    CHECK_RC(spl_info_get(s, &in), 0);
    assert_int_equal(in.page_bytes, (uint64_t)sysconf(_SC_PAGESIZE));
    if (SPL_WITH_NUMA) {
        assert_int_equal(in.numa_mode, SPL_NUMA_DEFAULT);
        assert_true(in.numa_sampled > 0);
    } else { /* nothing to report, said clearly */
        assert_int_equal(in.numa_mode, -1);
        assert_int_equal(in.numa_sampled, 0);
    }
    spl_close(s);
}

/* Bytes the store's file holds in memory (tmpfs allocates on first touch,
 * reads of a hole of a shared mapping included). */
static uint64_t file_bytes(spl_store *s)
{
    struct stat st;
    assert_int_equal(fstat(spl_fd(s), &st), 0);
    return (uint64_t)st.st_blocks * 512u;
}

static int count_key(const spl_entry *e, void *ud)
{
    (void)e;
    ++*(int *)ud;
    return 0;
}

/* spl_info_get and spl_foreach on a big, nearly empty store leave it sparse:
 * their scans skip the holes of the file (they read every index and slot
 * page before, which made tmpfs allocate all of them), and still count the
 * keys that are there, one at each end of the slots included. */
static void test_info_and_foreach_keep_a_store_sparse(void **state)
{
    (void)state;
    spl_store *s = mk(16384, 32, 4096); /* about 70 MB of slots */
    char k[32];
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof k, "sparse-%d", i);
        put_get(s, k, "v");
    }
    spl_info in;
    uint64_t before = file_bytes(s);
    for (int r = 0; r < 3; r++) {
        CHECK_RC(spl_info_get(s, &in), 0);
        assert_int_equal(in.used, 40);
        assert_int_equal(in.free, 16384 - 40);
        int n = 0;
        CHECK_RC(spl_foreach(s, NULL, count_key, &n), 0);
        assert_int_equal(n, 40);
    }
    uint64_t after = file_bytes(s);
    if (after > before + (1u << 20))
        fail_msg("info and foreach brought in %llu bytes of a %llu-byte region (was %llu)",
                 (unsigned long long)(after - before), (unsigned long long)in.region_bytes,
                 (unsigned long long)before);
    assert_true(after < in.region_bytes / 8);
    spl_close(s);
}

static void test_placement_bad_options_einval(void **state)
{
    (void)state;
    static const struct {
        uint32_t mode;
        uint64_t nodes;
        uint32_t huge;
    } bad[] = {
        {SPL__NUMA_MODE_COUNT, 1, 0}, {99, 0, 0},             /* no such mode */
        {SPL_NUMA_DEFAULT, 1, 0},     {SPL_NUMA_LOCAL, 1, 0}, /* nodes where none apply */
        {SPL_NUMA_BIND, 0, 0},        {SPL_NUMA_INTERLEAVE, 0, 0}, /* no node */
        {SPL_NUMA_PREFERRED, 3, 0},   {SPL_NUMA_PREFERRED, 0, 0},  /* not exactly one */
        {0, 0, 2},                    {0, 0, 3}, {0, 0, 4096}, {0, 0, 3u << 20}, /* huge size */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "ut-place-%d-%zu", (int)getpid(), i);
        spl_options o = opts(SPL_BACKING_SHM, bad[i].mode, bad[i].nodes);
        o.huge_pages = bad[i].huge;
        spl_store *s = NULL;
        CHECK_RC(spl_create(&s, name, &o), SPL_EINVAL);
        assert_null(s);
        CHECK_RC(spl_open(&s, name, NULL), SPL_ENOENT); /* nothing was made */
    }
}

static void test_numa_without_build_enotsup(void **state)
{
    (void)state;
    if (SPL_WITH_NUMA)
        SKIP_BECAUSE("a WITH_NUMA=1 build applies policies (the other tests check them)");
    static const uint32_t modes[] = {SPL_NUMA_BIND, SPL_NUMA_INTERLEAVE, SPL_NUMA_PREFERRED,
                                     SPL_NUMA_LOCAL};
    for (size_t i = 0; i < 4; i++) {
        spl_options o = opts(SPL_BACKING_MEMFD, modes[i], modes[i] == SPL_NUMA_LOCAL ? 0 : 1);
        spl_store *s = NULL;
        CHECK_RC(spl_create(&s, NULL, &o), SPL_ENOTSUP);
        assert_null(s);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/nonuma", g_dir);
    spl_options o = opts(SPL_BACKING_FILE, SPL_NUMA_BIND, 1);
    spl_store *s = NULL;
    CHECK_RC(spl_create(&s, path, &o), SPL_ENOTSUP);
    assert_false(exists(path));
}

/* ------------------------------------------------------------------ NUMA */

#if SPL_WITH_NUMA
/* The policy of the mapping holding addr, as get_mempolicy(MPOL_F_ADDR)
 * reports it (nodes 0..63 of its mask). */
static int policy_at(const void *addr, uint64_t *nodes)
{
    unsigned long mask[4096 / (8 * sizeof(unsigned long))];
    memset(mask, 0, sizeof mask);
    int mode = -1;
    if (get_mempolicy(&mode, mask, 4096 + 1, (void *)(uintptr_t)addr, MPOL_F_ADDR) != 0)
        fail_msg("get_mempolicy: %s", strerror(errno));
    *nodes = 0;
    for (unsigned n = 0; n < 64; n++)
        if (mask[n / (8 * sizeof(unsigned long))] >> (n % (8 * sizeof(unsigned long))) & 1)
            *nodes |= 1ull << n;
    return mode;
}

static int highest_node(void) { return numa_max_node(); }

static int under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload");
}

/* Pages of the sampled region on nodes other than `node`. */
static uint32_t pages_elsewhere(const spl_info *in, int node)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < SPL_NUMA_NODES_MAX; i++)
        if ((int)i != node)
            n += in->numa_pages[i];
    return n;
}
#endif

#define NEED_NUMA()                                                                 \
    do {                                                                            \
        if (!SPL_WITH_NUMA)                                                         \
            SKIP_BECAUSE("NUMA placement is not in this build (make WITH_NUMA=1)"); \
    } while (0)

static void test_numa_bind_node0_memfd(void **state)
{
    (void)state;
    NEED_NUMA();
#if SPL_WITH_NUMA
    spl_options o = opts(SPL_BACKING_MEMFD, SPL_NUMA_BIND, 1);
    spl_store *s = NULL;
    CHECK_RC(spl_create(&s, NULL, &o), 0);
    fill(s, 3000, 1024);
    uint64_t nodes;
    /* the policy is on the mapping (set before the header was written) */
    assert_int_equal(policy_at(addr_of(s, "k0"), &nodes), MPOL_BIND);
    assert_true(nodes == 1);
    spl_info in;
    CHECK_RC(spl_info_get(s, &in), 0);
    assert_int_equal(in.numa_mode, SPL_NUMA_BIND);
    assert_true(in.numa_nodes == 1);
    assert_true(in.numa_sampled > 0 && in.numa_sampled <= SPL_NUMA_SAMPLE_MAX);
    /* move_pages: the written pages are on node 0, none elsewhere */
    assert_true(in.numa_pages[0] > 100);
    assert_int_equal(pages_elsewhere(&in, 0), 0);
    assert_int_equal(in.numa_pages[0] + in.numa_absent, in.numa_sampled);
    /* a second mapping of the same memfd (as another process would have)
     * sees the policy too: tmpfs keeps it with the memory; its info counts
     * the pages the first handle wrote (they are read in, not allocated) */
    spl_store *s2 = NULL;
    CHECK_RC(spl_open_fd(&s2, spl_fd(s), SPL_O_RDONLY), 0);
    assert_int_equal(policy_at(addr_of(s2, "k1"), &nodes), MPOL_BIND);
    assert_true(nodes == 1);
    spl_info in2;
    CHECK_RC(spl_info_get(s2, &in2), 0);
    /* compared with the first handle's count taken now, after the same
     * writes (info's scans skip the pages nobody wrote, and bring in none) */
    CHECK_RC(spl_info_get(s, &in), 0);
    if (!under_valgrind()) /* whose mincore does not see the other mapping's pages */
        assert_int_equal(in2.numa_pages[0], in.numa_pages[0]);
    assert_int_equal(pages_elsewhere(&in2, 0), 0);
    spl_close(s2);
    spl_close(s);
#endif
}

static void test_numa_modes_on_mapping(void **state)
{
    (void)state;
    NEED_NUMA();
#if SPL_WITH_NUMA
    static const struct {
        uint32_t mode;
        uint64_t nodes;
        int mpol;
    } cases[] = {
        {SPL_NUMA_INTERLEAVE, 1, MPOL_INTERLEAVE},
        {SPL_NUMA_PREFERRED, 1, MPOL_PREFERRED},
        {SPL_NUMA_LOCAL, 0, MPOL_LOCAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spl_options o = opts(SPL_BACKING_MEMFD, cases[i].mode, cases[i].nodes);
        spl_store *s = NULL;
        CHECK_RC(spl_create(&s, NULL, &o), 0);
        fill(s, 200, 1024);
        uint64_t nodes;
        assert_int_equal(policy_at(addr_of(s, "k0"), &nodes), cases[i].mpol);
        assert_true(nodes == cases[i].nodes);
        spl_info in;
        CHECK_RC(spl_info_get(s, &in), 0);
        assert_int_equal(in.numa_mode, (int)cases[i].mode);
        assert_true(in.numa_nodes == cases[i].nodes);
        assert_true(in.numa_pages[0] > 0);
        spl_close(s);
    }
#endif
}

static void test_numa_bind_shm_and_file(void **state)
{
    (void)state;
    NEED_NUMA();
#if SPL_WITH_NUMA
    char name[64], path[128];
    snprintf(name, sizeof name, "ut-place-bind-%d", (int)getpid());
    snprintf(path, sizeof path, "%s/bind.spl", g_dir);
    const char *names[2] = {name, path};
    spl_backing bk[2] = {SPL_BACKING_SHM, SPL_BACKING_FILE};
    for (int i = 0; i < 2; i++) {
        spl_options o = opts(bk[i], SPL_NUMA_BIND, 1);
        spl_store *s = NULL;
        CHECK_RC(spl_create(&s, names[i], &o), 0);
        fill(s, 500, 1024);
        uint64_t nodes;
        assert_int_equal(policy_at(addr_of(s, "k0"), &nodes), MPOL_BIND);
        assert_true(nodes == 1);
        spl_info in;
        CHECK_RC(spl_info_get(s, &in), 0);
        assert_true(in.numa_pages[0] > 0);
        assert_int_equal(pages_elsewhere(&in, 0), 0);
        spl_close(s);
        CHECK_RC(spl_destroy(names[i], &o), 0);
    }
#endif
}

static void test_numa_missing_node_enode(void **state)
{
    (void)state;
    NEED_NUMA();
#if SPL_WITH_NUMA
    int hi = highest_node();
    if (hi >= 62)
        SKIP_BECAUSE("this machine has nodes up to %d: no missing node below 64", hi);
    uint64_t missing = 1ull << (hi < 7 ? 7 : hi + 1); /* node 7 on machines with fewer */
    char name[64];
    snprintf(name, sizeof name, "ut-place-enode-%d", (int)getpid());
    static const uint32_t modes[] = {SPL_NUMA_BIND, SPL_NUMA_INTERLEAVE, SPL_NUMA_PREFERRED};
    for (size_t i = 0; i < 3; i++) {
        spl_options o = opts(SPL_BACKING_SHM, modes[i], missing);
        spl_store *s = NULL;
        CHECK_RC(spl_create(&s, name, &o), SPL_ENODE);
        assert_null(s);
        CHECK_RC(spl_open(&s, name, NULL), SPL_ENOENT); /* no file left behind */
        o = opts(SPL_BACKING_MEMFD, modes[i],
                 modes[i] == SPL_NUMA_PREFERRED ? missing : 1 | missing);
        CHECK_RC(spl_create(&s, NULL, &o), SPL_ENODE); /* one bad node in a set */
        o.numa_nodes = 1ull << 63;
        CHECK_RC(spl_create(&s, NULL, &o), SPL_ENODE);
    }
    assert_string_equal(spl_err_name(SPL_ENODE), "SPL_ENODE");
#endif
}

/* Only on a machine with two nodes or more. */
static void test_numa_multinode_spread_and_bind(void **state)
{
    (void)state;
    NEED_NUMA();
#if SPL_WITH_NUMA
    int hi = highest_node();
    if (hi < 1 || hi > 63)
        SKIP_BECAUSE("one NUMA node here (numactl -H); this test needs two or more");
    uint64_t all = 0;
    for (int n = 0; n <= hi; n++)
        if (numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)n))
            all |= 1ull << n;
    if (all & (all - 1)) { /* interleave: every node gets pages */
        spl_options o = opts(SPL_BACKING_MEMFD, SPL_NUMA_INTERLEAVE, all);
        spl_store *s = NULL;
        CHECK_RC(spl_create(&s, NULL, &o), 0);
        fill(s, 3000, 1024);
        spl_info in;
        CHECK_RC(spl_info_get(s, &in), 0);
        for (int n = 0; n <= hi; n++)
            if (all >> n & 1)
                assert_true(in.numa_pages[n] > 0);
        spl_close(s);
    }
    int last = 63 - __builtin_clzll(all); /* bind to the highest node with memory */
    spl_options o = opts(SPL_BACKING_MEMFD, SPL_NUMA_BIND, 1ull << last);
    spl_store *s = NULL;
    CHECK_RC(spl_create(&s, NULL, &o), 0);
    fill(s, 3000, 1024);
    spl_info in;
    CHECK_RC(spl_info_get(s, &in), 0);
    assert_true(in.numa_pages[last] > 100);
    assert_int_equal(pages_elsewhere(&in, last), 0);
    spl_close(s);
#endif
}

/* ------------------------------------------------------------ huge pages */

static void test_huge_unavailable_enohuge(void **state)
{
    (void)state;
    /* a FILE that is not on hugetlbfs: never huge pages; nothing is left */
    char path[128];
    snprintf(path, sizeof path, "%s/huge.spl", g_dir);
    spl_options o = opts(SPL_BACKING_FILE, 0, 0);
    o.huge_pages = SPL_HUGE_DEFAULT;
    spl_store *s = NULL;
    CHECK_RC(spl_create(&s, path, &o), SPL_ENOHUGE);
    assert_false(exists(path));
    /* a huge page size the kernel does not have */
    o = opts(SPL_BACKING_MEMFD, 0, 0);
    o.huge_pages = 1u << 31;
    CHECK_RC(spl_create(&s, NULL, &o), SPL_ENOHUGE);
    /* a memfd larger than the free pool */
    long free_ = meminfo("HugePages_Free");
    long over = read_long("/proc/sys/vm/nr_overcommit_hugepages");
    if (free_ < 0 || over != 0)
        SKIP_BECAUSE("huge pages may be overcommitted here (nr_overcommit_hugepages %ld)", over);
    uint64_t want = (uint64_t)(free_ + 1) * huge_bytes();
    o = opts(SPL_BACKING_MEMFD, 0, 0);
    o.huge_pages = SPL_HUGE_DEFAULT;
    o.geom.val_max = 1u << 20;
    o.geom.slots = (uint32_t)(want >> 20) + 2;
    CHECK_RC(spl_create(&s, NULL, &o), SPL_ENOHUGE);
    assert_null(s);
    assert_string_equal(spl_err_name(SPL_ENOHUGE), "SPL_ENOHUGE");
}

static void check_huge_store(spl_store *s)
{
    uint64_t hp = huge_bytes();
    put_get(s, "a", "huge");
    fill(s, 100, 512);
    spl_info in;
    CHECK_RC(spl_info_get(s, &in), 0);
    assert_int_equal(in.page_bytes, hp);
    assert_int_equal(in.region_bytes % hp, 0); /* rounded to whole huge pages */
    vma_info vi;
    assert_int_equal(vma_of(addr_of(s, "a"), &vi), 0);
    assert_int_equal((uint64_t)vi.kernel_page_kb * 1024, hp);
    assert_true(vi.shared_hugetlb_kb + vi.private_hugetlb_kb > 0);
    if (SPL_WITH_NUMA) {
        assert_true(in.numa_sampled >= 1);
        assert_int_equal(in.numa_sampled, in.region_bytes / hp); /* every page */
    }
}

static void test_huge_memfd(void **state)
{
    (void)state;
    if (huge_reserve() < 4)
        SKIP_BECAUSE("no free huge pages (HugePages_Free %ld) and cannot reserve (not root)",
                     meminfo("HugePages_Free"));
    spl_options o = opts(SPL_BACKING_MEMFD, 0, 0);
    o.geom.val_max = 512;
    o.huge_pages = SPL_HUGE_DEFAULT;
    spl_store *s = NULL;
    CHECK_RC(spl_create(&s, NULL, &o), 0);
    check_huge_store(s);
    /* an opener maps the rounded size (spl_open_fd's size check) */
    spl_store *s2 = NULL;
    CHECK_RC(spl_open_fd(&s2, spl_fd(s), 0), 0);
    check_huge_store(s2);
    spl_close(s2);
    spl_close(s);
    /* the size given in bytes */
    o.huge_pages = (uint32_t)huge_bytes();
    CHECK_RC(spl_create(&s, NULL, &o), 0);
    check_huge_store(s);
    spl_close(s);
#if SPL_WITH_NUMA
    o.numa_mode = SPL_NUMA_BIND; /* policy first, then the pages */
    o.numa_nodes = 1;
    CHECK_RC(spl_create(&s, NULL, &o), 0);
    check_huge_store(s);
    spl_info in;
    CHECK_RC(spl_info_get(s, &in), 0);
    assert_int_equal(in.numa_pages[0], in.numa_sampled);
    spl_close(s);
#endif
}

/* A writable hugetlbfs directory of the default page size in dir, or -1. */
static int hugetlbfs_dir(char *dir, size_t cap)
{
    FILE *f = fopen("/proc/mounts", "r");
    char dev[256], mnt[256], type[64], mo[512];
    while (f && fscanf(f, "%255s %255s %63s %511s %*d %*d", dev, mnt, type, mo) == 4) {
        if (strcmp(type, "hugetlbfs") != 0 || access(mnt, W_OK) != 0)
            continue;
        char *ps = strstr(mo, "pagesize=");
        if (ps && (uint64_t)strtoull(ps + 9, NULL, 10) * 1024 * 1024 != huge_bytes() &&
            (uint64_t)strtoull(ps + 9, NULL, 10) * 1024 != huge_bytes())
            continue; /* "pagesize=2M" */
        snprintf(dir, cap, "%s", mnt);
        fclose(f);
        return 0;
    }
    if (f)
        fclose(f);
    if (geteuid() != 0)
        return -1;
    snprintf(g_mnt, sizeof g_mnt, "/tmp/spl-ut-hugetlbfs-XXXXXX");
    if (!mkdtemp(g_mnt)) {
        g_mnt[0] = 0;
        return -1;
    }
    if (mount("none", g_mnt, "hugetlbfs", 0, "mode=0700") != 0) {
        rmdir(g_mnt);
        g_mnt[0] = 0;
        return -1;
    }
    snprintf(dir, cap, "%s", g_mnt);
    return 0;
}

static void test_huge_file_on_hugetlbfs(void **state)
{
    (void)state;
    char dir[256], path[512];
    if (huge_reserve() < 4)
        SKIP_BECAUSE("no free huge pages (HugePages_Free %ld) and cannot reserve (not root)",
                     meminfo("HugePages_Free"));
    if (hugetlbfs_dir(dir, sizeof dir) != 0)
        SKIP_BECAUSE("no writable hugetlbfs mount, and cannot mount one (not root)");
    snprintf(path, sizeof path, "%s/ut-place-%d.spl", dir, (int)getpid());
    spl_options o = opts(SPL_BACKING_FILE, 0, 0);
    o.geom.val_max = 512;
    o.huge_pages = SPL_HUGE_DEFAULT;
    spl_store *s = NULL;
    CHECK_RC(spl_create(&s, path, &o), 0);
    check_huge_store(s);
    spl_close(s);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size % huge_bytes(), 0);
    CHECK_RC(spl_open(&s, path, NULL), 0); /* the rounded size is accepted */
    char buf[16];
    size_t len = 0;
    CHECK_RC(spl_get(s, "a", buf, sizeof buf, &len), 0);
    assert_int_equal(len, 4);
    check_huge_store(s);
    spl_close(s);
    CHECK_RC(spl_create(&s, path, &o), SPL_EEXIST);
    CHECK_RC(spl_destroy(path, &o), 0);
    huge_restore(); /* unmount before the pages are given back */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_default_no_placement),
        cmocka_unit_test(test_placement_bad_options_einval),
        cmocka_unit_test(test_info_and_foreach_keep_a_store_sparse),
        cmocka_unit_test(test_numa_without_build_enotsup),
        cmocka_unit_test(test_numa_bind_node0_memfd),
        cmocka_unit_test(test_numa_modes_on_mapping),
        cmocka_unit_test(test_numa_bind_shm_and_file),
        cmocka_unit_test(test_numa_missing_node_enode),
        cmocka_unit_test(test_numa_multinode_spread_and_bind),
        cmocka_unit_test(test_huge_unavailable_enohuge),
        cmocka_unit_test(test_huge_memfd),
        cmocka_unit_test(test_huge_file_on_hugetlbfs),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
