/*
 * test_lifecycle.c - create / open / open_or_create / close / destroy for the
 * SHM, FILE and MEMFD backings, fd passing, modes, geometry reporting,
 * read-only handles.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "splinter.h"
#include "unit_common.h"

/* ---------------------------------------------------------------- helpers */

static int g_seq;
static char g_dir[64];

static void shm_name(char *buf, size_t n)
{
    snprintf(buf, n, "ut-life-%d-%d", (int)getpid(), g_seq++);
}

static void file_path(char *buf, size_t n, const char *leaf)
{
    snprintf(buf, n, "%s/%s-%d", g_dir, leaf, g_seq++);
}

/* A fresh SHM name and a fresh file path for one test. */
static void shm_name_and_path(char name[64], char path[128], const char *leaf)
{
    shm_name(name, 64);
    file_path(path, 128, leaf);
}

static void check_value(spl_store *s, const char *key, const char *want)
{
    char buf[256];
    size_t len = 0;
    memset(buf, 0, sizeof buf);
    CHECK_RC(spl_get(s, key, buf, sizeof buf, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
}

static int group_setup(void **state)
{
    (void)state;
    return unit_mkdtemp(g_dir, sizeof g_dir, "life");
}

static int group_teardown(void **state)
{
    (void)state;
    /* Remove SHM stores a failed test may have left behind. */
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_SHM;
    char name[64];
    for (int i = 0; i < g_seq; i++) {
        snprintf(name, sizeof name, "ut-life-%d-%d", (int)getpid(), i);
        (void)spl_destroy(name, &o);
    }
    return unit_rm_rf(g_dir);
}

/* ---------------------------------------------------------------- tests */

static void test_options_init_defaults(void **state)
{
    (void)state;
    spl_options o;
    memset(&o, 0xa5, sizeof o);
    spl_options_init(&o);
    assert_int_equal(o.version, SPL_OPTIONS_VERSION);
    assert_int_equal(o.backing, SPL_BACKING_AUTO);
    assert_int_equal(o.flags, 0);
    assert_true(o.mode == 0 || o.mode == 0600);
    assert_int_equal(o.geom.slots, SPL_DEFAULT_SLOTS);
    assert_int_equal(o.geom.key_max, SPL_DEFAULT_KEY_MAX);
    assert_int_equal(o.geom.val_max, SPL_DEFAULT_VAL_MAX);
#if SPL_WITH_EMBEDDINGS
    assert_int_equal(o.geom.vec_dim, SPL_VEC_DIM_DEFAULT);
#else
    assert_int_equal(o.geom.vec_dim, 0);
#endif
}

static void test_shm_create_close_open_destroy(void **state)
{
    (void)state;
    char name[64];
    shm_name(name, sizeof name);
    spl_options o = unit_opts(SPL_BACKING_SHM, 64, 32, 128);
    spl_store *s = NULL;
    CHECK_RC(spl_create(&s, name, &o), 0);
    assert_non_null(s);
    CHECK_RC(spl_set(s, "k", "v1", 2), 0);
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.backing, SPL_BACKING_SHM);
    assert_int_equal(inf.read_only, 0);
    spl_close(s);

    s = NULL;
    CHECK_RC(spl_open(&s, name, NULL), 0); /* plain name, AUTO -> SHM */
    assert_non_null(s);
    check_value(s, "k", "v1");
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.backing, SPL_BACKING_SHM);
    assert_int_equal(inf.geom.slots, 64);
    assert_int_equal(inf.geom.key_max, 32);
    assert_int_equal(inf.geom.val_max, 128);
    assert_int_equal(inf.used, 1);
    spl_close(s);

    CHECK_RC(spl_destroy(name, NULL), 0);
    s = NULL;
    CHECK_RC(spl_open(&s, name, NULL), SPL_ENOENT);
    CHECK_RC(spl_open(&s, name, &o), SPL_ENOENT);
    CHECK_RC(spl_destroy(name, &o), SPL_ENOENT);
}

static void test_create_twice_eexist(void **state)
{
    (void)state;
    char name[64], path[128];
    shm_name_and_path(name, path, "twice");
    spl_options o = unit_opts(SPL_BACKING_SHM, 16, 16, 16);
    spl_store *a = NULL, *b = NULL;
    CHECK_RC(spl_create(&a, name, &o), 0);
    CHECK_RC(spl_set(a, "x", "1", 1), 0);
    CHECK_RC(spl_create(&b, name, &o), SPL_EEXIST);
    /* Another geometry changes nothing either. */
    o.geom.slots = 32;
    CHECK_RC(spl_create(&b, name, &o), SPL_EEXIST);
    check_value(a, "x", "1");
    spl_close(a);
    CHECK_RC(spl_destroy(name, NULL), 0);

    o = unit_opts(SPL_BACKING_FILE, 16, 16, 16);
    CHECK_RC(spl_create(&a, path, &o), 0);
    CHECK_RC(spl_set(a, "y", "2", 1), 0);
    CHECK_RC(spl_flush(a), 0);
    struct stat st1, st2;
    assert_int_equal(stat(path, &st1), 0);
    CHECK_RC(spl_create(&b, path, &o), SPL_EEXIST);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino);
    assert_int_equal(st1.st_size, st2.st_size);
    check_value(a, "y", "2");
    spl_close(a);
    CHECK_RC(spl_open(&a, path, NULL), 0);
    check_value(a, "y", "2");
    spl_close(a);
    CHECK_RC(spl_destroy(path, NULL), 0);
}

static void test_open_missing(void **state)
{
    (void)state;
    char name[64], path[128];
    shm_name_and_path(name, path, "missing");
    spl_store *s = NULL;
    spl_options o = unit_opts(SPL_BACKING_SHM, 0, 0, 0);
    CHECK_RC(spl_open(&s, name, NULL), SPL_ENOENT);
    CHECK_RC(spl_open(&s, name, &o), SPL_ENOENT);
    o.backing = SPL_BACKING_FILE;
    CHECK_RC(spl_open(&s, path, &o), SPL_ENOENT);
    CHECK_RC(spl_open(&s, path, NULL), SPL_ENOENT);
    struct stat st;
    assert_int_equal(stat(path, &st), -1); /* open never creates */
    assert_int_equal(errno, ENOENT);
}

static void check_open_or_create(const char *name, spl_backing b)
{
    spl_options o = unit_opts(b, 128, 32, 256);
    spl_store *s = NULL, *t = NULL;
    CHECK_RC(spl_open_or_create(&s, name, &o), 0); /* absent: creates */
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.geom.slots, 128);
    assert_int_equal(inf.geom.key_max, 32);
    assert_int_equal(inf.geom.val_max, 256);
    CHECK_RC(spl_set(s, "oc", "here", 4), 0);

    CHECK_RC(spl_open_or_create(&t, name, &o), 0); /* same geometry: opens */
    check_value(t, "oc", "here");
    spl_close(t);

    spl_options z = o;
    memset(&z.geom, 0, sizeof z.geom); /* zero fields match anything */
    int rc = spl_open_or_create(&t, name, &z);
    if (rc != 0) { /* clean up first so valgrind reports only the failure */
        spl_close(s);
        spl_destroy(name, &o);
        fail_msg("spl_open_or_create with an all-zero geometry returned %d (%s), "
                 "expected 0",
                 rc, spl_err_name(rc));
    }
    check_value(t, "oc", "here");
    spl_close(t);

    spl_options d = o;
    d.geom.key_max = 33;
    CHECK_RC(spl_open_or_create(&t, name, &d), SPL_EGEOMETRY);
    d = o;
    d.geom.val_max = 512;
    CHECK_RC(spl_open_or_create(&t, name, &d), SPL_EGEOMETRY);
    d = o;
    d.geom.slots = 256;
    CHECK_RC(spl_open_or_create(&t, name, &d), SPL_EGEOMETRY);
    d.geom.slots = 127; /* counts are exact: one less is another geometry */
    CHECK_RC(spl_open_or_create(&t, name, &d), SPL_EGEOMETRY);
    /* Only the differing field set: still a mismatch. */
    memset(&d.geom, 0, sizeof d.geom);
    d.geom.slots = 1024;
    CHECK_RC(spl_open_or_create(&t, name, &d), SPL_EGEOMETRY);

    /* The existing store is untouched by the refusals. */
    check_value(s, "oc", "here");
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.geom.slots, 128);
    assert_int_equal(inf.used, 1);
    spl_close(s);
    CHECK_RC(spl_destroy(name, &o), 0);
}

static void test_open_or_create_shm(void **state)
{
    (void)state;
    char name[64];
    shm_name(name, sizeof name);
    check_open_or_create(name, SPL_BACKING_SHM);
}

static void test_open_or_create_file(void **state)
{
    (void)state;
    char path[128];
    file_path(path, sizeof path, "ooc");
    check_open_or_create(path, SPL_BACKING_FILE);
}

static void test_file_persists(void **state)
{
    (void)state;
    char path[128];
    file_path(path, sizeof path, "persist");
    spl_store *s = unit_create(SPL_BACKING_FILE, path, 32, 16, 64);
    CHECK_RC(spl_set(s, "p1", "persisted", 9), 0);
    CHECK_RC(spl_set(s, "p2", "", 0), 0);
    CHECK_RC(spl_type_set(s, "p1", SPL_T_TEXT), 0);
    CHECK_RC(spl_labels_set(s, "p1", 0x42), 0);
    CHECK_RC(spl_flush(s), 0);
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.backing, SPL_BACKING_FILE);
    spl_close(s);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal((uint64_t)st.st_size, inf.region_bytes);

    s = NULL;
    CHECK_RC(spl_open(&s, path, NULL), 0); /* path with '/', AUTO -> FILE */
    check_value(s, "p1", "persisted");
    check_value(s, "p2", "");
    spl_meta m;
    CHECK_RC(spl_meta_get(s, "p1", &m), 0);
    assert_int_equal(m.type, SPL_T_TEXT);
    assert_int_equal(m.labels, 0x42);
    spl_info inf2;
    CHECK_RC(spl_info_get(s, &inf2), 0);
    assert_int_equal(inf2.used, 2);
    assert_int_equal(inf2.backing, SPL_BACKING_FILE);
    CHECK_RC(spl_flush(s), 0);
    spl_close(s);
    CHECK_RC(spl_destroy(path, NULL), 0);
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_file_modes_ignore_umask(void **state)
{
    (void)state;
    mode_t old = umask(0);
    char p1[128], p2[128], p3[128];
    file_path(p1, sizeof p1, "mode600");
    file_path(p2, sizeof p2, "mode660");
    file_path(p3, sizeof p3, "mode660b");
    spl_options o = unit_opts(SPL_BACKING_FILE, 8, 8, 8);
    spl_store *s = NULL;
    struct stat st;

    CHECK_RC(spl_create(&s, p1, &o), 0);
    assert_int_equal(stat(p1, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());
    spl_close(s);

    o.flags = SPL_O_GROUP;
    CHECK_RC(spl_create(&s, p2, &o), 0);
    assert_int_equal(stat(p2, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0660);
    spl_close(s);
    CHECK_RC(spl_open(&s, p2, &o), 0); /* group store opens with SPL_O_GROUP */
    spl_close(s);

    umask(077); /* the umask must not take the group bits away */
    CHECK_RC(spl_create(&s, p3, &o), 0);
    assert_int_equal(stat(p3, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0660);
    spl_close(s);
    umask(old);

    CHECK_RC(spl_destroy(p1, NULL), 0);
    CHECK_RC(spl_destroy(p2, NULL), 0);
    CHECK_RC(spl_destroy(p3, NULL), 0);
}

static void test_shm_modes_ignore_umask(void **state)
{
    (void)state;
    mode_t old = umask(0);
    char n1[64], n2[64];
    shm_name(n1, sizeof n1);
    shm_name(n2, sizeof n2);
    spl_options o = unit_opts(SPL_BACKING_SHM, 8, 8, 8);
    spl_store *s = NULL;
    struct stat st;

    CHECK_RC(spl_create(&s, n1, &o), 0);
    assert_true(spl_fd(s) >= 0);
    assert_int_equal(fstat(spl_fd(s), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());
    spl_close(s);

    umask(077);
    o.flags = SPL_O_GROUP;
    CHECK_RC(spl_create(&s, n2, &o), 0);
    assert_int_equal(fstat(spl_fd(s), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0660);
    spl_close(s);
    umask(old);

    CHECK_RC(spl_destroy(n1, NULL), 0);
    CHECK_RC(spl_destroy(n2, NULL), 0);
}

static void test_memfd_and_open_fd(void **state)
{
    (void)state;
    spl_store *a = unit_create(SPL_BACKING_MEMFD, NULL, 64, 16, 64), *b = NULL;
    spl_info ia, ib;
    CHECK_RC(spl_info_get(a, &ia), 0);
    assert_int_equal(ia.backing, SPL_BACKING_MEMFD);
    CHECK_RC(spl_set(a, "from-a", "AAA", 3), 0);
    CHECK_RC(spl_flush(a), 0); /* harmless for memfd */

    int fd = spl_fd(a);
    assert_true(fd >= 0);
    CHECK_RC(spl_open_fd(&b, fd, 0), 0);
    assert_non_null(b);
    assert_true(spl_fd(b) >= 0);
    assert_int_not_equal(spl_fd(b), fd); /* duplicated */
    CHECK_RC(spl_info_get(b, &ib), 0);
    assert_int_equal(ib.geom.slots, ia.geom.slots);
    assert_int_equal(ib.geom.key_max, ia.geom.key_max);
    assert_int_equal(ib.geom.val_max, ia.geom.val_max);
    assert_int_equal(ib.region_bytes, ia.region_bytes);
    assert_int_equal(ib.read_only, 0);
    /* one store, one id, whichever handle asks; another store, another id */
    assert_true(ia.store_id != 0);
    assert_true(ib.store_id == ia.store_id);
    spl_store *c = unit_create(SPL_BACKING_MEMFD, NULL, 64, 16, 64);
    spl_info ic;
    CHECK_RC(spl_info_get(c, &ic), 0);
    assert_true(ic.store_id != ia.store_id);
    spl_close(c);
    check_value(b, "from-a", "AAA");
    CHECK_RC(spl_set(b, "from-b", "BB", 2), 0);
    check_value(a, "from-b", "BB");

    spl_close(b); /* the caller's fd stays open */
    assert_int_not_equal(fcntl(fd, F_GETFD), -1);
    check_value(a, "from-b", "BB");

    /* And the other way round: the second handle outlives the first. */
    CHECK_RC(spl_open_fd(&b, spl_fd(a), 0), 0);
    spl_close(a);
    check_value(b, "from-a", "AAA");
    CHECK_RC(spl_set(b, "after", "x", 1), 0);
    check_value(b, "after", "x");
    spl_close(b);
}

/* A copy of a's region in a new memfd, mode 0600; sealing allowed or not,
 * no seal set yet. */
static int copy_to_memfd(spl_store *a, unsigned mfd_flags)
{
    spl_info inf;
    CHECK_RC(spl_info_get(a, &inf), 0);
    int fd = memfd_create("ut-copy", MFD_CLOEXEC | mfd_flags);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0600), 0); /* memfds are born 0777 */
    char *buf = malloc(inf.region_bytes);
    assert_non_null(buf);
    assert_int_equal(pread(spl_fd(a), buf, inf.region_bytes, 0), (ssize_t)inf.region_bytes);
    assert_int_equal(pwrite(fd, buf, inf.region_bytes, 0), (ssize_t)inf.region_bytes);
    free(buf);
    return fd;
}

/* A region that its sender could shrink under our mapping (SIGBUS) is
 * refused; the same region sealed against shrinking opens. */
static void test_open_fd_requires_shrink_seal(void **state)
{
    (void)state;
    spl_store *a = unit_create(SPL_BACKING_MEMFD, NULL, 16, 16, 16), *b = NULL;
    CHECK_RC(spl_set(a, "k", "v", 1), 0);

    int fd = copy_to_memfd(a, MFD_ALLOW_SEALING);
    assert_int_equal(fcntl(fd, F_GET_SEALS), 0);
    CHECK_RC(spl_open_fd(&b, fd, 0), SPL_EUNSEALED);
    assert_null(b);
    CHECK_RC(spl_open_fd(&b, fd, SPL_O_RDONLY), SPL_EUNSEALED);
    /* growing alone is not enough */
    assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), 0);
    CHECK_RC(spl_open_fd(&b, fd, 0), SPL_EUNSEALED);
    assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    CHECK_RC(spl_open_fd(&b, fd, 0), 0);
    check_value(b, "k", "v");
    spl_close(b);
    close(fd);

    /* A memfd that cannot take seals at all. */
    fd = copy_to_memfd(a, 0);
    CHECK_RC(spl_open_fd(&b, fd, 0), SPL_EUNSEALED);
    close(fd);

    /* A named store's fd: a tmpfs or disk file takes no seals; open it by
     * name with spl_open instead. */
    char name[64], path[128];
    shm_name(name, sizeof name);
    file_path(path, sizeof path, "unsealed");
    spl_options o = unit_opts(SPL_BACKING_SHM, 16, 16, 16);
    spl_store *n = NULL;
    CHECK_RC(spl_create(&n, name, &o), 0);
    CHECK_RC(spl_open_fd(&b, spl_fd(n), 0), SPL_EUNSEALED);
    spl_close(n);
    CHECK_RC(spl_destroy(name, NULL), 0);
    o = unit_opts(SPL_BACKING_FILE, 16, 16, 16);
    CHECK_RC(spl_create(&n, path, &o), 0);
    CHECK_RC(spl_open_fd(&b, spl_fd(n), 0), SPL_EUNSEALED);
    spl_close(n);
    CHECK_RC(spl_destroy(path, NULL), 0);
    spl_close(a);
}

/* The library's own memfd stores are sealed at creation: nobody holding
 * the fd can shrink (or grow) the region under a peer's mapping. */
static void test_memfd_store_is_sealed(void **state)
{
    (void)state;
    spl_store *a = unit_create(SPL_BACKING_MEMFD, NULL, 16, 16, 16);
    CHECK_RC(spl_set(a, "k", "v", 1), 0);
    spl_info inf;
    CHECK_RC(spl_info_get(a, &inf), 0);
    int seals = fcntl(spl_fd(a), F_GET_SEALS);
    assert_true(seals >= 0);
    assert_true(seals & F_SEAL_SHRINK);
    assert_true(seals & F_SEAL_GROW);
    assert_true(seals & F_SEAL_SEAL);
    errno = 0;
    assert_int_equal(ftruncate(spl_fd(a), 4096), -1);
    assert_int_equal(errno, EPERM);
    errno = 0;
    assert_int_equal(ftruncate(spl_fd(a), 0), -1);
    assert_int_equal(errno, EPERM);
    errno = 0;
    assert_int_equal(ftruncate(spl_fd(a), (off_t)inf.region_bytes * 2), -1);
    assert_int_equal(errno, EPERM);
    /* and the seal cannot be lifted: F_SEAL_SEAL */
    assert_int_equal(fcntl(spl_fd(a), F_ADD_SEALS, F_SEAL_WRITE), -1);
    struct stat st;
    assert_int_equal(fstat(spl_fd(a), &st), 0);
    assert_int_equal((uint64_t)st.st_size, inf.region_bytes);
    check_value(a, "k", "v");
    spl_close(a);
}

static void test_memfd_label_name(void **state)
{
    (void)state;
    spl_store *a = unit_create(SPL_BACKING_MEMFD, "some-label", 8, 8, 8);
    CHECK_RC(spl_set(a, "k", "v", 1), 0);
    check_value(a, "k", "v");
    spl_close(a);
}

static void test_open_fd_rdonly(void **state)
{
    (void)state;
    spl_store *a = unit_create(SPL_BACKING_MEMFD, NULL, 16, 16, 16), *r = NULL;
    CHECK_RC(spl_set(a, "k", "orig", 4), 0);
    CHECK_RC(spl_open_fd(&r, spl_fd(a), SPL_O_RDONLY), 0);
    spl_info inf;
    CHECK_RC(spl_info_get(r, &inf), 0);
    assert_int_equal(inf.read_only, 1);
    check_value(r, "k", "orig");
    CHECK_RC(spl_set(r, "k", "new", 3), SPL_EROFS);
    CHECK_RC(spl_set(r, "n", "new", 3), SPL_EROFS);
    CHECK_RC(spl_unset(r, "k"), SPL_EROFS);
    check_value(a, "k", "orig");
    CHECK_RC(spl_exists(a, "n"), 0);
    spl_close(r);
    spl_close(a);
}

static void test_fd_send_recv_fork(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Child: forked before the store existed, so the fd is its only way in. */
        close(sv[0]);
        int fd = -1;
        if (spl_fd_recv(sv[1], &fd) != 0 || fd < 0)
            _exit(10);
        spl_store *c = NULL;
        if (spl_open_fd(&c, fd, 0) != 0)
            _exit(11);
        close(fd);
        char buf[16];
        size_t len = 0;
        if (spl_get(c, "from-parent", buf, sizeof buf, &len) != 0 || len != 3 ||
            memcmp(buf, "abc", 3) != 0)
            _exit(12);
        if (spl_set(c, "from-child", "hello", 5) != 0)
            _exit(13);
        spl_close(c);
        close(sv[1]);
        _exit(0);
    }
    close(sv[1]);
    spl_store *s = unit_create(SPL_BACKING_MEMFD, NULL, 32, 16, 32);
    CHECK_RC(spl_set(s, "from-parent", "abc", 3), 0);
    CHECK_RC(spl_fd_send(sv[0], spl_fd(s)), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(sv[0]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    check_value(s, "from-child", "hello");
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.used, 2);
    spl_close(s);
}

static void test_fd_recv_in_process(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    spl_store *s = unit_create(SPL_BACKING_MEMFD, NULL, 8, 8, 8), *t = NULL;
    CHECK_RC(spl_set(s, "k", "v", 1), 0);
    CHECK_RC(spl_fd_send(sv[0], spl_fd(s)), 0);
    int fd = -1;
    CHECK_RC(spl_fd_recv(sv[1], &fd), 0);
    assert_true(fd >= 0);
    assert_int_not_equal(fd, spl_fd(s));
    CHECK_RC(spl_open_fd(&t, fd, 0), 0);
    assert_int_equal(close(fd), 0); /* ours to close */
    check_value(t, "k", "v");
    spl_close(t);
    spl_close(s);
    close(sv[0]);
    close(sv[1]);
}

static void test_several_stores_one_process(void **state)
{
    (void)state;
    char name[64], path[128];
    shm_name_and_path(name, path, "multi");
    spl_options o1, o2, o3;
    o1 = unit_opts(SPL_BACKING_SHM, 16, 16, 16);
    o2 = unit_opts(SPL_BACKING_FILE, 32, 16, 16);
    o3 = unit_opts(SPL_BACKING_MEMFD, 64, 16, 16);
    spl_store *a = NULL, *b = NULL, *c = NULL, *a2 = NULL;
    CHECK_RC(spl_create(&a, name, &o1), 0);
    CHECK_RC(spl_create(&b, path, &o2), 0);
    CHECK_RC(spl_create(&c, NULL, &o3), 0);
    CHECK_RC(spl_open(&a2, name, NULL), 0); /* two handles to one store */
    CHECK_RC(spl_set(a, "same", "A", 1), 0);
    CHECK_RC(spl_set(b, "same", "BB", 2), 0);
    CHECK_RC(spl_set(c, "same", "CCC", 3), 0);
    check_value(a, "same", "A");
    check_value(a2, "same", "A");
    check_value(b, "same", "BB");
    check_value(c, "same", "CCC");
    CHECK_RC(spl_set(a2, "only-a", "z", 1), 0);
    check_value(a, "only-a", "z");
    CHECK_RC(spl_exists(b, "only-a"), 0);
    CHECK_RC(spl_exists(c, "only-a"), 0);
    spl_info ia, ib, ic;
    CHECK_RC(spl_info_get(a, &ia), 0);
    CHECK_RC(spl_info_get(b, &ib), 0);
    CHECK_RC(spl_info_get(c, &ic), 0);
    assert_int_equal(ia.geom.slots, 16);
    assert_int_equal(ib.geom.slots, 32);
    assert_int_equal(ic.geom.slots, 64);
    assert_int_equal(ia.used, 2);
    assert_int_equal(ib.used, 1);
    assert_int_equal(ic.used, 1);
    spl_close(a);
    check_value(a2, "only-a", "z"); /* closing one handle leaves the other */
    spl_close(a2);
    spl_close(b);
    spl_close(c);
    CHECK_RC(spl_destroy(name, NULL), 0);
    CHECK_RC(spl_destroy(path, NULL), 0);
}

static void test_info_geometry_and_usage(void **state)
{
    (void)state;
    /* slot counts are exact, powers of two or not */
    static const uint32_t want[][2] = {{100, 100}, {2, 2}, {3, 3}, {1024, 1024}, {1025, 1025}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        spl_store *s = unit_create(SPL_BACKING_MEMFD, NULL, want[i][0], 20, 100);
        spl_info inf;
        CHECK_RC(spl_info_get(s, &inf), 0);
        assert_int_equal(inf.geom.slots, want[i][1]);
        assert_int_equal(inf.geom.key_max, 20);
        assert_int_equal(inf.geom.val_max, 100);
        assert_int_equal(inf.slot_stride % 64, 0);
        assert_true(inf.slot_stride >= 64 + 20 + 100);
        assert_true(inf.region_bytes >=
                    4096 + (uint64_t)inf.geom.slots * (8 + (uint64_t)inf.slot_stride));
        assert_true(inf.probe_max >= 1 && inf.probe_max <= 255);
        assert_int_equal(inf.used, 0);
        assert_true(inf.load == 0.0);
        assert_int_equal(inf.recoveries, 0);
        assert_int_equal(inf.read_only, 0);
#if SPL_WITH_EMBEDDINGS
        assert_true((inf.features & SPL_FEAT_EMBEDDINGS) != 0);
#else
        assert_true((inf.features & SPL_FEAT_EMBEDDINGS) == 0);
#endif
        spl_close(s);
    }

    spl_store *s = unit_create(SPL_BACKING_MEMFD, NULL, 100, 20, 100);
    spl_info inf;
    CHECK_RC(spl_set(s, "a", "1", 1), 0);
    CHECK_RC(spl_set(s, "b", "2", 1), 0);
    CHECK_RC(spl_set(s, "c", "3", 1), 0);
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.used, 3);
    assert_true(inf.load > 3.0 / 100 - 1e-9 && inf.load < 3.0 / 100 + 1e-9);
    CHECK_RC(spl_set(s, "a", "11", 2), 0); /* overwrite: no new key */
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.used, 3);
    CHECK_RC(spl_unset(s, "b"), 0);
    CHECK_RC(spl_unset(s, "b"), SPL_ENOENT);
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.used, 2);
    assert_true(inf.load > 2.0 / 100 - 1e-9 && inf.load < 2.0 / 100 + 1e-9);
    CHECK_RC(spl_unset(s, "a"), 0);
    CHECK_RC(spl_unset(s, "c"), 0);
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.used, 0);
    assert_true(inf.load == 0.0);
    spl_close(s);
}

/* spl_info_get_n writes no byte past the caller's size (a caller built
 * with an older, shorter spl_info), zeroes what it does not know (a caller
 * built with a newer, longer one), and fills the same fields as
 * spl_info_get. */
static void test_info_sized(void **state)
{
    (void)state;
    spl_store *s = unit_create(SPL_BACKING_MEMFD, NULL, 100, 20, 100);
    CHECK_RC(spl_set(s, "a", "1", 1), 0);
    spl_info want;
    CHECK_RC(spl_info_get(s, &want), 0);
    unsigned char buf[sizeof(spl_info) + 64];
    const size_t old = offsetof(spl_info, capacity);
    memset(buf, 0xab, sizeof buf);
    CHECK_RC(spl_info_get_n(s, (spl_info *)(void *)buf, old), 0);
    for (size_t i = old; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xab); /* nothing past the caller's struct */
    spl_info got;
    memcpy(&got, buf, sizeof got);
    assert_int_equal(got.geom.slots, 100);
    assert_int_equal(got.used, 1);
    memset(buf, 0xab, sizeof buf);
    CHECK_RC(spl_info_get_n(s, (spl_info *)(void *)buf, sizeof buf), 0);
    for (size_t i = sizeof(spl_info); i < sizeof buf; i++)
        assert_int_equal(buf[i], 0); /* a newer caller's unknown fields: zero */
    memcpy(&got, buf, sizeof got);
    assert_int_equal(got.capacity, want.capacity);
    assert_int_equal(got.store_id, want.store_id);
    assert_int_equal(got.index_words, want.index_words);
    CHECK_RC(spl_info_get_n(s, &got, 8), SPL_EINVAL);
    CHECK_RC(spl_info_get_n(s, NULL, sizeof got), SPL_EINVAL);
    CHECK_RC(spl_info_get_n(NULL, &got, sizeof got), SPL_EINVAL);
    spl_close(s);
}

static void test_zero_geometry_takes_defaults(void **state)
{
    (void)state;
    spl_store *s = unit_create(SPL_BACKING_MEMFD, NULL, 0, 0, 0);
    spl_info inf;
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.geom.slots, SPL_DEFAULT_SLOTS);
    assert_int_equal(inf.geom.key_max, SPL_DEFAULT_KEY_MAX);
    assert_int_equal(inf.geom.val_max, SPL_DEFAULT_VAL_MAX);
    spl_close(s);
}

static void test_rdonly_open(void **state)
{
    (void)state;
    char path[128];
    file_path(path, sizeof path, "ro");
    spl_store *w = unit_create(SPL_BACKING_FILE, path, 16, 16, 32), *r = NULL;
    CHECK_RC(spl_set(w, "k", "value", 5), 0);
    CHECK_RC(spl_add(w, "n", 5, NULL), 0);
    spl_meta before, after;
    CHECK_RC(spl_meta_get(w, "k", &before), 0);

    spl_options ro = unit_opts(SPL_BACKING_FILE, 0, 0, 0);
    ro.flags = SPL_O_RDONLY;
    CHECK_RC(spl_open(&r, path, &ro), 0);
    spl_info inf;
    CHECK_RC(spl_info_get(r, &inf), 0);
    assert_int_equal(inf.read_only, 1);
    assert_int_equal(inf.used, 2);
    check_value(r, "k", "value");
    CHECK_RC(spl_exists(r, "k"), 1);
    spl_meta m;
    CHECK_RC(spl_meta_get(r, "k", &m), 0);
    assert_int_equal(m.epoch, before.epoch);

    CHECK_RC(spl_set(r, "k", "zz", 2), SPL_EROFS);
    CHECK_RC(spl_set(r, "new", "zz", 2), SPL_EROFS);
    CHECK_RC(spl_unset(r, "k"), SPL_EROFS);
    CHECK_RC(spl_append(r, "k", "zz", 2), SPL_EROFS);
    CHECK_RC(spl_cas(r, "k", before.epoch, "zz", 2), SPL_EROFS);
    CHECK_RC(spl_type_set(r, "k", SPL_T_TEXT), SPL_EROFS);
    CHECK_RC(spl_flags_set(r, "k", 1), SPL_EROFS);
    CHECK_RC(spl_labels_set(r, "k", 1), SPL_EROFS);
    CHECK_RC(spl_labels_clear(r, "k", 1), SPL_EROFS);
    CHECK_RC(spl_touch(r, "k"), SPL_EROFS);
    int64_t v = 0;
    CHECK_RC(spl_inc(r, "n", &v), SPL_EROFS);
    CHECK_RC(spl_add(r, "n", 3, &v), SPL_EROFS);
    CHECK_RC(spl_int(r, "n", SPL_OP_OR, 2, NULL), SPL_EROFS);

    CHECK_RC(spl_meta_get(w, "k", &after), 0);
    assert_int_equal(after.epoch, before.epoch);
    assert_int_equal(after.type, before.type);
    assert_int_equal(after.labels, before.labels);
    assert_int_equal(after.user_flags, before.user_flags);
    assert_int_equal(after.atime_ns, before.atime_ns);
    check_value(w, "k", "value");
    CHECK_RC(spl_exists(w, "new"), 0);
    int64_t n = 0;
    char buf[8];
    size_t len = 0;
    CHECK_RC(spl_get(w, "n", buf, sizeof buf, &len), 0);
    assert_int_equal(len, 8);
    memcpy(&n, buf, 8);
    assert_int_equal(n, 5);
    /* A writer's change is visible through the read-only handle. */
    CHECK_RC(spl_set(w, "k", "later", 5), 0);
    check_value(r, "k", "later");
    spl_close(r);
    spl_close(w);
    CHECK_RC(spl_destroy(path, NULL), 0);
}

static void test_destroy_while_mapped(void **state)
{
    (void)state;
    char name[64];
    shm_name(name, sizeof name);
    spl_options o = unit_opts(SPL_BACKING_SHM, 16, 16, 16);
    spl_store *s = NULL, *t = NULL;
    CHECK_RC(spl_create(&s, name, &o), 0);
    CHECK_RC(spl_set(s, "k", "old", 3), 0);
    CHECK_RC(spl_destroy(name, NULL), 0);
    CHECK_RC(spl_open(&t, name, NULL), SPL_ENOENT);
    /* The mapped handle stays valid. */
    check_value(s, "k", "old");
    CHECK_RC(spl_set(s, "k2", "still", 5), 0);
    check_value(s, "k2", "still");
    /* The name is free again: a new, empty store. */
    CHECK_RC(spl_create(&t, name, &o), 0);
    CHECK_RC(spl_exists(t, "k"), 0);
    spl_info inf;
    CHECK_RC(spl_info_get(t, &inf), 0);
    assert_int_equal(inf.used, 0);
    spl_close(t);
    spl_close(s);
    CHECK_RC(spl_destroy(name, NULL), 0);
}

static void test_auto_backing(void **state)
{
    (void)state;
    char name[64], path[128];
    shm_name_and_path(name, path, "auto");
    spl_options o = unit_opts(SPL_BACKING_AUTO, 8, 8, 8);
    spl_store *s = NULL;
    spl_info inf;
    CHECK_RC(spl_create(&s, name, &o), 0);
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.backing, SPL_BACKING_SHM);
    spl_close(s);
    CHECK_RC(spl_destroy(name, NULL), 0);

    CHECK_RC(spl_create(&s, path, &o), 0);
    CHECK_RC(spl_info_get(s, &inf), 0);
    assert_int_equal(inf.backing, SPL_BACKING_FILE);
    struct stat st;
    assert_int_equal(stat(path, &st), 0); /* it really is at that path */
    assert_true(S_ISREG(st.st_mode));
    spl_close(s);
    CHECK_RC(spl_destroy(path, NULL), 0);
}

static void test_shm_name_limits(void **state)
{
    (void)state;
    char name[256];
    int n = snprintf(name, sizeof name, "ut-life-%d-%d-", (int)getpid(), g_seq++);
    memset(name + n, 'x', 200 - (size_t)n);
    name[200] = '\0';
    assert_int_equal(strlen(name), 200);
    spl_options o = unit_opts(SPL_BACKING_SHM, 8, 8, 8);
    spl_store *s = NULL;
    CHECK_RC(spl_create(&s, name, &o), 0); /* 200 bytes: the longest allowed */
    CHECK_RC(spl_flush(s), 0);
    spl_close(s);
    CHECK_RC(spl_open(&s, name, NULL), 0);
    spl_close(s);
    CHECK_RC(spl_destroy(name, NULL), 0);

    /* All allowed characters. */
    snprintf(name, sizeof name, "Ut_life.%d-%d-AZaz09._-", (int)getpid(), g_seq++);
    CHECK_RC(spl_create(&s, name, &o), 0);
    spl_close(s);
    CHECK_RC(spl_destroy(name, NULL), 0);
}

static void test_close_null(void **state)
{
    (void)state;
    spl_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First: the forked child inherits no handle a failed test leaked
         * (valgrind would report it in the child too). */
        cmocka_unit_test(test_fd_send_recv_fork),
        cmocka_unit_test(test_options_init_defaults),
        cmocka_unit_test(test_shm_create_close_open_destroy),
        cmocka_unit_test(test_create_twice_eexist),
        cmocka_unit_test(test_open_missing),
        cmocka_unit_test(test_open_or_create_shm),
        cmocka_unit_test(test_open_or_create_file),
        cmocka_unit_test(test_file_persists),
        cmocka_unit_test(test_file_modes_ignore_umask),
        cmocka_unit_test(test_shm_modes_ignore_umask),
        cmocka_unit_test(test_memfd_and_open_fd),
        cmocka_unit_test(test_memfd_label_name),
        cmocka_unit_test(test_open_fd_rdonly),
        cmocka_unit_test(test_open_fd_requires_shrink_seal),
        cmocka_unit_test(test_memfd_store_is_sealed),
        cmocka_unit_test(test_fd_recv_in_process),
        cmocka_unit_test(test_several_stores_one_process),
        cmocka_unit_test(test_info_geometry_and_usage),
        cmocka_unit_test(test_info_sized),
        cmocka_unit_test(test_zero_geometry_takes_defaults),
        cmocka_unit_test(test_rdonly_open),
        cmocka_unit_test(test_destroy_while_mapped),
        cmocka_unit_test(test_auto_backing),
        cmocka_unit_test(test_shm_name_limits),
        cmocka_unit_test(test_close_null),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
