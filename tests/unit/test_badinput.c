/*
 * test_badinput.c - the table of bad inputs: each row makes one call with
 * one bad input and expects one exact error code; afterwards the store's
 * state (keys, values, metadata, epochs) and any file the row used are
 * exactly as before.  One cmocka test per row, named by its description.
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
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "splinter.h"
#include "layout.h"
#include "unit_common.h"

/* ---------------------------------------------------------------- fixture */

#define KEY_MAX 16u
#define VAL_MAX 32u
#define K17 "0123456789abcdefg" /* key_max + 1 bytes */
#define K16 "0123456789abcdef"  /* exactly key_max */
#define LEN_MISMATCH (-999999) /* returned by a row whose side check failed */

struct ctx {
    const struct row *row;
    char dir[64];
    char path[128]; /* the main FILE store */
    char bad[128];  /* a path a row may prepare (bad file, new store, ...) */
    char aux_path[128];
    spl_store *s;   /* main store */
    spl_store *aux; /* a second, full store (rows that need one) */
    uint64_t epoch_text;
    int fn_calls;
};

struct row {
    const char *desc;
    int (*prep)(struct ctx *);
    int (*call)(struct ctx *);
    int expect;
    int alt; /* a second accepted code, 0 = none */
    unsigned flags;
};
enum {
    R_ROOT = 1u << 0,   /* needs root (skipped otherwise) */
    R_NOFILE = 1u << 1, /* c->bad must not exist after the call */
};

static int g_seq;

#define file_opts(slots, key_max, val_max) unit_opts(SPL_BACKING_FILE, slots, key_max, val_max)

static int fix_setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->row = *state;
    if (unit_mkdtemp(c->dir, sizeof c->dir, "bad"))
        return -1;
    snprintf(c->path, sizeof c->path, "%s/main", c->dir);
    snprintf(c->bad, sizeof c->bad, "%s/bad", c->dir);
    snprintf(c->aux_path, sizeof c->aux_path, "%s/aux", c->dir);
    spl_options o = file_opts(64, KEY_MAX, VAL_MAX);
    if (spl_create(&c->s, c->path, &o) != 0)
        return -1;
    int64_t out;
    uint64_t eight = 0x0102030405060708ull;
    if (spl_set(c->s, "text", "hello", 5) || spl_type_set(c->s, "text", SPL_T_TEXT) ||
        spl_labels_set(c->s, "text", 0x3) || spl_flags_set(c->s, "text", 0x9) ||
        spl_add(c->s, "int", 7, &out) || spl_set(c->s, "raw8", &eight, 8) ||
        spl_set(c->s, "half", "01234567890123456789", 20) || spl_set(c->s, K16, "m", 1) ||
        spl_set(c->s, "empty", "", 0))
        return -1;
    spl_meta m;
    if (spl_meta_get(c->s, "text", &m))
        return -1;
    c->epoch_text = m.epoch;
    *state = c;
    return 0;
}

static int fix_teardown(void **state)
{
    struct ctx *c = *state;
    spl_close(c->s);
    spl_close(c->aux);
    int rc = unit_rm_rf(c->dir);
    free(c);
    return rc;
}

/* ---------------------------------------------------------------- snapshots */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

struct digest {
    uint64_t sum, xr, n;
};

static int digest_cb(const spl_entry *e, void *ud)
{
    struct digest *d = ud;
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, e->key, e->key_len);
    h = fnv(h, &e->key_len, sizeof e->key_len);
    if (e->meta.val_len && e->val)
        h = fnv(h, e->val, e->meta.val_len);
    h = fnv(h, &e->meta.epoch, 8);
    h = fnv(h, &e->meta.labels, 8);
    h = fnv(h, &e->meta.ctime_ns, 8);
    h = fnv(h, &e->meta.mtime_ns, 8);
    h = fnv(h, &e->meta.atime_ns, 8);
    h = fnv(h, &e->meta.val_len, 4);
    h = fnv(h, &e->meta.type, 1);
    h = fnv(h, &e->meta.user_flags, 1);
    d->sum += h; /* order-independent */
    d->xr ^= h * 0x9e3779b97f4a7c15ull;
    d->n++;
    return 0;
}

struct store_snap {
    struct digest d;
    uint64_t used;
};

static void snap_store(spl_store *s, struct store_snap *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    spl_filter f = {NULL, NULL, 0, SPL_F_VALUES};
    assert_int_equal(spl_foreach(s, &f, digest_cb, &out->d), 0);
    spl_info inf;
    assert_int_equal(spl_info_get(s, &inf), 0);
    out->used = inf.used;
}

struct file_snap {
    int exists;
    mode_t mode;
    uid_t uid;
    off_t size;
    uint64_t hash;
};

static void snap_file(const char *path, struct file_snap *out)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    out->exists = 1;
    out->mode = st.st_mode;
    out->uid = st.st_uid;
    out->size = st.st_size;
    out->hash = 0xcbf29ce484222325ull;
    if (S_ISREG(st.st_mode)) {
        int fd = open(path, O_RDONLY | O_NOFOLLOW);
        assert_true(fd >= 0);
        unsigned char buf[65536];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0)
            out->hash = fnv(out->hash, buf, (size_t)n);
        close(fd);
    }
}

/* ---------------------------------------------------------------- file makers */

static int make_store_file(const char *path)
{
    spl_options o = file_opts(16, 16, 16);
    spl_store *t = NULL;
    int rc = spl_create(&t, path, &o);
    if (rc)
        return rc;
    rc = spl_set(t, "x", "y", 1);
    spl_flush(t);
    spl_close(t);
    return rc;
}

static int patch(const char *path, off_t off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t w = pwrite(fd, bytes, n, off);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static int write_file(const char *path, const void *bytes, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, bytes, n);
    fchmod(fd, mode);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

/* rc, after closing *t when the call that set it succeeded. */
static int close_ok(int rc, spl_store **t)
{
    if (rc == 0)
        spl_close(*t);
    return rc;
}

static int open_bad(struct ctx *c, const spl_options *o)
{
    spl_store *t = NULL;
    return close_ok(spl_open(&t, c->bad, o), &t);
}

static int create_at(const char *name, const spl_options *o)
{
    spl_store *t = NULL;
    int rc = spl_create(&t, name, o);
    if (rc == 0) {
        spl_close(t);
        if (o->backing != SPL_BACKING_MEMFD)
            spl_destroy(name, o);
    }
    return rc;
}

/* ---------------------------------------------------------------- preps */

static int p_store(struct ctx *c) { return make_store_file(c->bad); }

static int p_magic(struct ctx *c)
{
    return make_store_file(c->bad) || patch(c->bad, 0, "NOTSPLIN", 8);
}

static int p_garbage_short(struct ctx *c)
{
    unsigned char b[100];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (unsigned char)(i * 37 + 11);
    return write_file(c->bad, b, sizeof b, 0600);
}

static int p_garbage_big(struct ctx *c)
{
    static unsigned char b[65536];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < sizeof b; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b[i] = (unsigned char)x;
    }
    return write_file(c->bad, b, sizeof b, 0600);
}

static int p_zero_page(struct ctx *c)
{
    static const unsigned char z[4096];
    return write_file(c->bad, z, sizeof z, 0600);
}

static int p_version(struct ctx *c)
{
    uint32_t v = SPL_FORMAT_VERSION + 1; /* a store from a later build */
    return make_store_file(c->bad) || patch(c->bad, 8, &v, 4);
}

static int p_version_ff(struct ctx *c)
{
    uint32_t v = 0xffffffffu;
    return make_store_file(c->bad) || patch(c->bad, 8, &v, 4);
}

static int p_version_zero(struct ctx *c)
{
    uint32_t v = 0;
    return make_store_file(c->bad) || patch(c->bad, 8, &v, 4);
}

static int p_fingerprint(struct ctx *c)
{
    if (make_store_file(c->bad))
        return -1;
    int fd = open(c->bad, O_RDWR);
    uint64_t fp;
    if (fd < 0 || pread(fd, &fp, 8, 16) != 8)
        return -1;
    fp ^= 0x00ff00ff00ff00ffull;
    ssize_t w = pwrite(fd, &fp, 8, 16);
    close(fd);
    return w == 8 ? 0 : -1;
}

static int truncate_by(const char *path, off_t delta)
{
    struct stat st;
    if (stat(path, &st))
        return -1;
    return truncate(path, st.st_size + delta);
}

static int p_trunc_page(struct ctx *c) { return make_store_file(c->bad) || truncate_by(c->bad, -4096); }
static int p_trunc_byte(struct ctx *c) { return make_store_file(c->bad) || truncate_by(c->bad, -1); }
static int p_trunc_header(struct ctx *c) { return make_store_file(c->bad) || truncate(c->bad, 4096); }
static int p_grow(struct ctx *c) { return make_store_file(c->bad) || truncate_by(c->bad, 4096); }

static int p_chown(struct ctx *c)
{
    return make_store_file(c->bad) || chown(c->bad, 65534, 65534);
}

static int p_chmod666(struct ctx *c) { return make_store_file(c->bad) || chmod(c->bad, 0666); }
static int p_chmod606(struct ctx *c) { return make_store_file(c->bad) || chmod(c->bad, 0606); }
static int p_chmod660(struct ctx *c) { return make_store_file(c->bad) || chmod(c->bad, 0660); }
static int p_chmod620(struct ctx *c) { return make_store_file(c->bad) || chmod(c->bad, 0620); }

static int p_dir(struct ctx *c) { return mkdir(c->bad, 0700); }
static int p_fifo(struct ctx *c) { return mkfifo(c->bad, 0600); }

static int p_symlink_to_store(struct ctx *c) { return symlink(c->path, c->bad); }

static int p_symlink_to_precious(struct ctx *c)
{
    char target[160];
    snprintf(target, sizeof target, "%s/precious", c->dir);
    return write_file(target, "precious data", 13, 0600) || symlink(target, c->bad);
}

static int p_symlink_dangling(struct ctx *c)
{
    char target[160];
    snprintf(target, sizeof target, "%s/nothing-here", c->dir);
    return symlink(target, c->bad);
}

static int p_full_aux(struct ctx *c)
{
    spl_options o = file_opts(2, 16, 16);
    if (spl_create(&c->aux, c->aux_path, &o))
        return -1;
    char k[16];
    int n = 0;
    for (int i = 0; i < 64 && n < 2; i++) {
        snprintf(k, sizeof k, "a%d", i);
        if (spl_set(c->aux, k, "v", 1) == 0)
            n++;
    }
    return spl_set(c->aux, "probe-full", "v", 1) == SPL_EFULL ? 0 : -1;
}

/* ---------------------------------------------------------------- calls: keys */

static char g_buf[256];
static size_t g_len;

static int c_set_k17(struct ctx *c) { return spl_set(c->s, K17, "v", 1); }
static int c_set_empty(struct ctx *c) { return spl_set(c->s, "", "v", 1); }
static int c_set_null(struct ctx *c) { return spl_set(c->s, NULL, "v", 1); }
static int c_get_k17(struct ctx *c) { return spl_get(c->s, K17, g_buf, sizeof g_buf, &g_len); }
static int c_get_empty(struct ctx *c) { return spl_get(c->s, "", g_buf, sizeof g_buf, &g_len); }
static int c_get_null(struct ctx *c) { return spl_get(c->s, NULL, g_buf, sizeof g_buf, &g_len); }
static int c_unset_k17(struct ctx *c) { return spl_unset(c->s, K17); }
static int c_unset_empty(struct ctx *c) { return spl_unset(c->s, ""); }
static int c_exists_k17(struct ctx *c) { return spl_exists(c->s, K17); }
static int c_exists_empty(struct ctx *c) { return spl_exists(c->s, ""); }
static int c_append_k17(struct ctx *c) { return spl_append(c->s, K17, "v", 1); }
static int c_cas_empty(struct ctx *c) { return spl_cas(c->s, "", 0, "v", 1); }
static int c_cas_k17(struct ctx *c) { return spl_cas(c->s, K17, c->epoch_text, "v", 1); }
static int c_meta_k17(struct ctx *c)
{
    spl_meta m;
    return spl_meta_get(c->s, K17, &m);
}
static int c_type_k17(struct ctx *c) { return spl_type_set(c->s, K17, SPL_T_TEXT); }
static int c_flags_empty(struct ctx *c) { return spl_flags_set(c->s, "", 1); }
static int c_labels_empty(struct ctx *c) { return spl_labels_set(c->s, "", 1); }
static int c_lclear_k17(struct ctx *c) { return spl_labels_clear(c->s, K17, 1); }
static int c_touch_k17(struct ctx *c) { return spl_touch(c->s, K17); }
static int c_inc_k17(struct ctx *c) { return spl_inc(c->s, K17, NULL); }
static int c_int_empty(struct ctx *c) { return spl_int(c->s, "", SPL_OP_OR, 1, NULL); }
static int c_view_empty(struct ctx *c)
{
    spl_view v;
    return spl_view_get(c->s, "", &v);
}
static int rw_count(const void *d, size_t n, void *ud)
{
    (void)d;
    (void)n;
    ((struct ctx *)ud)->fn_calls++;
    return 0;
}
static int c_readwith_k17(struct ctx *c)
{
    int rc = spl_read_with(c->s, K17, rw_count, c);
    return c->fn_calls ? LEN_MISMATCH : rc;
}

/* ---------------------------------------------------------------- calls: values */

static unsigned char g_big[VAL_MAX + 64];

static int c_set_big_existing(struct ctx *c) { return spl_set(c->s, "text", g_big, VAL_MAX + 1); }
static int c_set_big_new(struct ctx *c) { return spl_set(c->s, "newkey", g_big, VAL_MAX + 1); }
static int c_set_sizemax(struct ctx *c) { return spl_set(c->s, "text", g_big, SIZE_MAX); }
static int c_set_u32wrap(struct ctx *c)
{
    /* 2^32 + 1: a 32-bit truncation would make it look like 1 byte. */
    return spl_set(c->s, "newkey", g_big, (size_t)UINT32_MAX + 2);
}
static int c_append_over(struct ctx *c) { return spl_append(c->s, "half", g_big, 13); }
static int c_append_new_big(struct ctx *c) { return spl_append(c->s, "newkey", g_big, VAL_MAX + 1); }
static int c_append_sizemax(struct ctx *c) { return spl_append(c->s, "half", g_big, SIZE_MAX); }
static int c_append_wrap(struct ctx *c)
{
    /* 20 bytes present + (SIZE_MAX - 15) wraps to 4 in size_t arithmetic. */
    return spl_append(c->s, "half", g_big, SIZE_MAX - 15);
}
static int c_cas_big(struct ctx *c) { return spl_cas(c->s, "text", c->epoch_text, g_big, VAL_MAX + 1); }
static int c_get_small(struct ctx *c)
{
    g_len = 0;
    int rc = spl_get(c->s, "text", g_buf, 4, &g_len);
    return g_len == 5 ? rc : LEN_MISMATCH;
}

/* ---------------------------------------------------------------- calls: types */

static int c_type_count(struct ctx *c) { return spl_type_set(c->s, "text", SPL__T_COUNT); }
static int c_type_255(struct ctx *c) { return spl_type_set(c->s, "text", (spl_type)255); }
static int c_type_parse(struct ctx *c)
{
    (void)c;
    return spl_type_parse("no-such-type");
}
static int c_int_badop(struct ctx *c) { return spl_int(c->s, "int", SPL__OP_COUNT, 1, NULL); }
static int c_int_badop_new(struct ctx *c) { return spl_int(c->s, "newkey", (spl_int_op)77, 1, NULL); }
static int c_inc_text(struct ctx *c) { return spl_inc(c->s, "text", NULL); }
static int c_add_raw8(struct ctx *c) { return spl_add(c->s, "raw8", 1, NULL); }
static int c_int_empty_val(struct ctx *c) { return spl_int(c->s, "empty", SPL_OP_XOR, 1, NULL); }

/* ---------------------------------------------------------------- calls: epochs, absent */

static int c_cas_stale(struct ctx *c) { return spl_cas(c->s, "text", c->epoch_text - 2, "v", 1); }
static int c_cas_future(struct ctx *c) { return spl_cas(c->s, "text", c->epoch_text + 2, "v", 1); }
static int c_cas_exists(struct ctx *c) { return spl_cas(c->s, "text", 0, "v", 1); }
static int c_cas_absent(struct ctx *c) { return spl_cas(c->s, "newkey", 2, "v", 1); }
static int c_unset_absent(struct ctx *c) { return spl_unset(c->s, "newkey"); }
static int c_get_absent(struct ctx *c) { return spl_get(c->s, "newkey", g_buf, sizeof g_buf, &g_len); }
static int c_meta_absent(struct ctx *c)
{
    spl_meta m;
    return spl_meta_get(c->s, "newkey", &m);
}
static int c_type_absent(struct ctx *c) { return spl_type_set(c->s, "newkey", SPL_T_TEXT); }
static int c_flags_absent(struct ctx *c) { return spl_flags_set(c->s, "newkey", 1); }
static int c_labels_absent(struct ctx *c) { return spl_labels_set(c->s, "newkey", 1); }
static int c_lclear_absent(struct ctx *c) { return spl_labels_clear(c->s, "newkey", 1); }
static int c_touch_absent(struct ctx *c) { return spl_touch(c->s, "newkey"); }
static int c_view_absent(struct ctx *c)
{
    spl_view v;
    return spl_view_get(c->s, "newkey", &v);
}
static int c_readwith_absent(struct ctx *c)
{
    int rc = spl_read_with(c->s, "newkey", rw_count, c);
    return c->fn_calls ? LEN_MISMATCH : rc;
}
static int c_exists_absent(struct ctx *c) { return spl_exists(c->s, "newkey"); }

/* ---------------------------------------------------------------- calls: full, read-only */

static int c_set_full(struct ctx *c) { return spl_set(c->aux, "newkey", "v", 1); }
static int c_inc_full(struct ctx *c) { return spl_inc(c->aux, "newkey", NULL); }
static int c_append_full(struct ctx *c) { return spl_append(c->aux, "newkey", "v", 1); }
static int c_cas_full(struct ctx *c) { return spl_cas(c->aux, "newkey", 0, "v", 1); }

static int with_rdonly(struct ctx *c, int which)
{
    spl_options o = file_opts(0, 0, 0);
    o.flags = SPL_O_RDONLY;
    spl_store *r = NULL;
    int rc = spl_open(&r, c->path, &o);
    if (rc)
        return LEN_MISMATCH;
    switch (which) {
    case 0: rc = spl_set(r, "text", "v", 1); break;
    case 1: rc = spl_unset(r, "text"); break;
    case 2: rc = spl_inc(r, "int", NULL); break;
    case 3: rc = spl_labels_clear(r, "text", 1); break;
    case 4: rc = spl_set(r, "newkey", "v", 1); break;
    default: rc = spl_touch(r, "text"); break;
    }
    spl_close(r);
    return rc;
}
static int c_ro_set(struct ctx *c) { return with_rdonly(c, 0); }
static int c_ro_unset(struct ctx *c) { return with_rdonly(c, 1); }
static int c_ro_inc(struct ctx *c) { return with_rdonly(c, 2); }
static int c_ro_lclear(struct ctx *c) { return with_rdonly(c, 3); }
static int c_ro_setnew(struct ctx *c) { return with_rdonly(c, 4); }
static int c_ro_touch(struct ctx *c) { return with_rdonly(c, 5); }

/* ---------------------------------------------------------------- calls: open */

static int c_open_bad(struct ctx *c) { return open_bad(c, NULL); }
static int c_open_bad_nowait(struct ctx *c)
{
    spl_options o = file_opts(0, 0, 0);
    o.flags = SPL_O_NOWAIT;
    return open_bad(c, &o);
}
static int c_open_bad_group(struct ctx *c)
{
    spl_options o = file_opts(0, 0, 0);
    o.flags = SPL_O_GROUP;
    return open_bad(c, &o);
}
static int c_open_devnull(struct ctx *c)
{
    (void)c;
    spl_store *t = NULL;
    return close_ok(spl_open(&t, "/dev/null", NULL), &t);
}
static int c_open_shm_missing(struct ctx *c)
{
    (void)c;
    char name[64];
    snprintf(name, sizeof name, "ut-bad-%d-missing-%d", (int)getpid(), g_seq++);
    spl_store *t = NULL;
    return spl_open(&t, name, NULL);
}
static int c_ooc_geometry(struct ctx *c)
{
    spl_options o = file_opts(64, KEY_MAX + 1, VAL_MAX);
    spl_store *t = NULL;
    return close_ok(spl_open_or_create(&t, c->path, &o), &t);
}
static int c_create_existing(struct ctx *c)
{
    spl_options o = file_opts(64, KEY_MAX, VAL_MAX);
    spl_store *t = NULL;
    return close_ok(spl_create(&t, c->path, &o), &t);
}
static int c_create_bad(struct ctx *c)
{
    spl_options o = file_opts(16, 16, 16);
    spl_store *t = NULL;
    return close_ok(spl_create(&t, c->bad, &o), &t);
}
static int c_destroy_missing(struct ctx *c) { return spl_destroy(c->bad, NULL); }
/* spl_open_fd on an fd of path (opened with flags). */
static int open_fd_of(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0)
        return LEN_MISMATCH;
    spl_store *t = NULL;
    int rc = close_ok(spl_open_fd(&t, fd, 0), &t);
    close(fd);
    return rc;
}
static int c_open_fd_dir(struct ctx *c) { return open_fd_of(c->dir, O_RDONLY | O_DIRECTORY); }
static int c_open_fd_garbage(struct ctx *c) { return open_fd_of(c->bad, O_RDWR); }

/* ---------------------------------------------------------------- calls: names */

static int shm_create(const char *name)
{
    spl_options o = unit_opts(SPL_BACKING_SHM, 8, 8, 8);
    return create_at(name, &o);
}
static int shm_open_name(const char *name)
{
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_SHM;
    spl_store *t = NULL;
    return close_ok(spl_open(&t, name, &o), &t);
}
static int c_name_empty(struct ctx *c) { (void)c; return shm_create(""); }
static int c_name_slash(struct ctx *c) { (void)c; return shm_create("a/b"); }
static int c_name_dot(struct ctx *c) { (void)c; return shm_create(".hidden"); }
static int c_name_dotdot(struct ctx *c) { (void)c; return shm_create(".."); }
static int c_name_space(struct ctx *c) { (void)c; return shm_create("has space"); }
static int c_name_ctrl(struct ctx *c) { (void)c; return shm_create("tab\there"); }
static int c_name_utf8(struct ctx *c) { (void)c; return shm_create("caf\xc3\xa9"); }
static int c_name_long(struct ctx *c, size_t n)
{
    (void)c;
    char name[400];
    memset(name, 'n', n);
    name[n] = '\0';
    return shm_create(name);
}
static int c_name_201(struct ctx *c) { return c_name_long(c, 201); }
static int c_name_300(struct ctx *c) { return c_name_long(c, 300); }
static int c_open_name_dot(struct ctx *c) { (void)c; return shm_open_name(".hidden"); }
static int c_open_name_slash(struct ctx *c) { (void)c; return shm_open_name("a/../b"); }
static int c_open_name_empty(struct ctx *c) { (void)c; return shm_open_name(""); }

/* ---------------------------------------------------------------- calls: geometry */

static int create_geom(struct ctx *c, uint32_t slots, uint32_t key_max, uint32_t val_max,
                       uint32_t vec_dim, spl_backing b)
{
    spl_options o = file_opts(slots, key_max, val_max);
    o.geom.vec_dim = vec_dim;
    o.backing = b;
    return create_at(b == SPL_BACKING_MEMFD ? NULL : c->bad, &o);
}
#define F SPL_BACKING_FILE
#define M SPL_BACKING_MEMFD
static int c_g_key_big(struct ctx *c) { return create_geom(c, 8, SPL_KEY_MAX_LIMIT + 1, 16, 0, F); }
static int c_g_key_huge(struct ctx *c) { return create_geom(c, 8, UINT32_MAX, 16, 0, F); }
static int c_g_val_big(struct ctx *c) { return create_geom(c, 8, 16, SPL_VAL_MAX_LIMIT + 1, 0, F); }
static int c_g_val_huge(struct ctx *c) { return create_geom(c, 8, 16, UINT32_MAX, 0, F); }
static int c_g_val_small(struct ctx *c) { return create_geom(c, 8, 16, 7, 0, F); }
static int c_g_val_one(struct ctx *c) { return create_geom(c, 8, 16, 1, 0, F); }
static int c_g_slots_big(struct ctx *c) { return create_geom(c, SPL_SLOTS_LIMIT + 1, 16, 16, 0, F); }
static int c_g_slots_huge(struct ctx *c) { return create_geom(c, UINT32_MAX, 16, 16, 0, F); }
static int c_g_vec_big(struct ctx *c) { return create_geom(c, 8, 16, 16, SPL_VEC_DIM_LIMIT + 1, F); }
static int c_g_vec_huge(struct ctx *c) { return create_geom(c, 8, 16, 16, UINT32_MAX, F); }
#if !SPL_WITH_EMBEDDINGS
static int c_g_vec_noemb(struct ctx *c) { return create_geom(c, 8, 16, 16, 8, F); }
#endif
static int c_create_optver(struct ctx *c)
{
    spl_options o = file_opts(8, 16, 16);
    o.version = 0;
    return create_at(c->bad, &o);
}
static int c_create_optver_future(struct ctx *c)
{
    spl_options o = file_opts(8, 16, 16);
    o.version = SPL_OPTIONS_VERSION + 1;
    return create_at(c->bad, &o);
}
/* The other side of each limit: accepted. */
static int c_g_key_limit(struct ctx *c) { return create_geom(c, 2, SPL_KEY_MAX_LIMIT, 8, 0, M); }
static int c_g_key_one(struct ctx *c) { return create_geom(c, 2, 1, 8, 0, M); }
static int c_g_val_eight(struct ctx *c) { return create_geom(c, 2, 8, 8, 0, M); }
static int c_g_val_limit(struct ctx *c) { return create_geom(c, 2, 8, SPL_VAL_MAX_LIMIT, 0, M); }
#if SPL_WITH_EMBEDDINGS
static int c_g_vec_limit(struct ctx *c) { return create_geom(c, 2, 8, 8, SPL_VEC_DIM_LIMIT, M); }
#endif
#undef F
#undef M

/* ---------------------------------------------------------------- the table */

static const struct row rows[] = {
    /* keys */
    {"set: key of key_max+1 bytes", NULL, c_set_k17, SPL_EKEYLEN, 0, 0},
    {"set: empty key", NULL, c_set_empty, SPL_EKEYLEN, 0, 0},
    {"set: NULL key", NULL, c_set_null, SPL_EINVAL, 0, 0},
    {"get: key of key_max+1 bytes", NULL, c_get_k17, SPL_EKEYLEN, 0, 0},
    {"get: empty key", NULL, c_get_empty, SPL_EKEYLEN, 0, 0},
    {"get: NULL key", NULL, c_get_null, SPL_EINVAL, 0, 0},
    {"unset: key of key_max+1 bytes", NULL, c_unset_k17, SPL_EKEYLEN, 0, 0},
    {"unset: empty key", NULL, c_unset_empty, SPL_EKEYLEN, 0, 0},
    {"exists: key of key_max+1 bytes", NULL, c_exists_k17, SPL_EKEYLEN, 0, 0},
    {"exists: empty key", NULL, c_exists_empty, SPL_EKEYLEN, 0, 0},
    {"append: key of key_max+1 bytes", NULL, c_append_k17, SPL_EKEYLEN, 0, 0},
    {"cas: empty key", NULL, c_cas_empty, SPL_EKEYLEN, 0, 0},
    {"cas: key of key_max+1 bytes", NULL, c_cas_k17, SPL_EKEYLEN, 0, 0},
    {"meta_get: key of key_max+1 bytes", NULL, c_meta_k17, SPL_EKEYLEN, 0, 0},
    {"type_set: key of key_max+1 bytes", NULL, c_type_k17, SPL_EKEYLEN, 0, 0},
    {"flags_set: empty key", NULL, c_flags_empty, SPL_EKEYLEN, 0, 0},
    {"labels_set: empty key", NULL, c_labels_empty, SPL_EKEYLEN, 0, 0},
    {"labels_clear: key of key_max+1 bytes", NULL, c_lclear_k17, SPL_EKEYLEN, 0, 0},
    {"touch: key of key_max+1 bytes", NULL, c_touch_k17, SPL_EKEYLEN, 0, 0},
    {"inc: key of key_max+1 bytes", NULL, c_inc_k17, SPL_EKEYLEN, 0, 0},
    {"int: empty key", NULL, c_int_empty, SPL_EKEYLEN, 0, 0},
    {"view_get: empty key", NULL, c_view_empty, SPL_EKEYLEN, 0, 0},
    {"read_with: key of key_max+1 bytes (fn not run)", NULL, c_readwith_k17, SPL_EKEYLEN, 0, 0},
    /* values */
    {"set: value of val_max+1 on an existing key", NULL, c_set_big_existing, SPL_E2BIG, 0, 0},
    {"set: value of val_max+1 on a new key", NULL, c_set_big_new, SPL_E2BIG, 0, 0},
    {"set: length SIZE_MAX", NULL, c_set_sizemax, SPL_E2BIG, 0, 0},
    {"set: length 2^32+1 (no 32-bit truncation)", NULL, c_set_u32wrap, SPL_E2BIG, 0, 0},
    {"append: result one chunk past val_max", NULL, c_append_over, SPL_E2BIG, 0, 0},
    {"append: val_max+1 to a new key", NULL, c_append_new_big, SPL_E2BIG, 0, 0},
    {"append: length SIZE_MAX", NULL, c_append_sizemax, SPL_E2BIG, 0, 0},
    {"append: length that wraps size_t with the old length", NULL, c_append_wrap, SPL_E2BIG, 0, 0},
    {"cas: current epoch, value of val_max+1", NULL, c_cas_big, SPL_E2BIG, 0, 0},
    {"get: buffer too small (needed size returned)", NULL, c_get_small, SPL_ENOBUFS, 0, 0},
    /* types */
    {"type_set: SPL__T_COUNT", NULL, c_type_count, SPL_EINVAL, 0, 0},
    {"type_set: 255", NULL, c_type_255, SPL_EINVAL, 0, 0},
    {"type_parse: unknown name", NULL, c_type_parse, SPL_EINVAL, 0, 0},
    {"int: op SPL__OP_COUNT", NULL, c_int_badop, SPL_EINVAL, 0, 0},
    {"int: bad op on an absent key (nothing created)", NULL, c_int_badop_new, SPL_EINVAL, 0, 0},
    {"inc: 5-byte TEXT value", NULL, c_inc_text, SPL_ETYPE, 0, 0},
    {"add: 8-byte VOID value", NULL, c_add_raw8, SPL_ETYPE, 0, 0},
    {"int: empty VOID value", NULL, c_int_empty_val, SPL_ETYPE, 0, 0},
    /* epochs and absent keys */
    {"cas: stale epoch", NULL, c_cas_stale, SPL_ESTALE, 0, 0},
    {"cas: epoch from the future", NULL, c_cas_future, SPL_ESTALE, 0, 0},
    {"cas: expected 0 on a present key", NULL, c_cas_exists, SPL_EEXIST, 0, 0},
    {"cas: expected != 0 on an absent key", NULL, c_cas_absent, SPL_ENOENT, 0, 0},
    {"unset: absent key", NULL, c_unset_absent, SPL_ENOENT, 0, 0},
    {"get: absent key", NULL, c_get_absent, SPL_ENOENT, 0, 0},
    {"exists: absent key is 0", NULL, c_exists_absent, 0, 0, 0},
    {"meta_get: absent key", NULL, c_meta_absent, SPL_ENOENT, 0, 0},
    {"type_set: absent key", NULL, c_type_absent, SPL_ENOENT, 0, 0},
    {"flags_set: absent key", NULL, c_flags_absent, SPL_ENOENT, 0, 0},
    {"labels_set: absent key", NULL, c_labels_absent, SPL_ENOENT, 0, 0},
    {"labels_clear: absent key", NULL, c_lclear_absent, SPL_ENOENT, 0, 0},
    {"touch: absent key", NULL, c_touch_absent, SPL_ENOENT, 0, 0},
    {"view_get: absent key", NULL, c_view_absent, SPL_ENOENT, 0, 0},
    {"read_with: absent key (fn not run)", NULL, c_readwith_absent, SPL_ENOENT, 0, 0},
    /* full store */
    {"set: new key in a full store", p_full_aux, c_set_full, SPL_EFULL, 0, 0},
    {"inc: new key in a full store", p_full_aux, c_inc_full, SPL_EFULL, 0, 0},
    {"append: new key in a full store", p_full_aux, c_append_full, SPL_EFULL, 0, 0},
    {"cas: create in a full store", p_full_aux, c_cas_full, SPL_EFULL, 0, 0},
    /* read-only handle */
    {"read-only: set", NULL, c_ro_set, SPL_EROFS, 0, 0},
    {"read-only: set of a new key", NULL, c_ro_setnew, SPL_EROFS, 0, 0},
    {"read-only: unset", NULL, c_ro_unset, SPL_EROFS, 0, 0},
    {"read-only: inc", NULL, c_ro_inc, SPL_EROFS, 0, 0},
    {"read-only: labels_clear", NULL, c_ro_lclear, SPL_EROFS, 0, 0},
    {"read-only: touch", NULL, c_ro_touch, SPL_EROFS, 0, 0},
    /* opening what is not a good store */
    {"open: missing FILE store", NULL, c_open_bad, SPL_ENOENT, 0, R_NOFILE},
    {"open: missing SHM store", NULL, c_open_shm_missing, SPL_ENOENT, 0, 0},
    {"destroy: missing FILE store", NULL, c_destroy_missing, SPL_ENOENT, 0, R_NOFILE},
    {"open: a directory", p_dir, c_open_bad, SPL_ENOTREG, 0, 0},
    {"open: a FIFO", p_fifo, c_open_bad, SPL_ENOTREG, 0, 0},
    {"open: /dev/null", NULL, c_open_devnull, SPL_ENOTREG, 0, 0},
    {"open_fd: a directory fd", NULL, c_open_fd_dir, SPL_ENOTREG, 0, 0},
    {"open: a symlink to a valid store (O_NOFOLLOW)", p_symlink_to_store, c_open_bad, SPL_ENOTREG,
     -ELOOP, 0},
    {"open: owned by another user", p_chown, c_open_bad, SPL_EOWNER, 0, R_ROOT},
    {"open: mode 0666 (world-writable)", p_chmod666, c_open_bad, SPL_EMODE, 0, 0},
    {"open: mode 0606 (world-writable)", p_chmod606, c_open_bad, SPL_EMODE, 0, 0},
    {"open with SPL_O_GROUP: mode 0666", p_chmod666, c_open_bad_group, SPL_EMODE, 0, 0},
    {"open without SPL_O_GROUP: mode 0660 (group store)", p_chmod660, c_open_bad, SPL_EMODE, 0, 0},
    {"open without SPL_O_GROUP: mode 0620", p_chmod620, c_open_bad, SPL_EMODE, 0, 0},
    {"open: magic overwritten", p_magic, c_open_bad, SPL_EMAGIC, 0, 0},
    {"open: 100 bytes of garbage", p_garbage_short, c_open_bad, SPL_EMAGIC, 0, 0},
    {"open: 64 KiB of garbage", p_garbage_big, c_open_bad, SPL_EMAGIC, 0, 0},
    {"open (NOWAIT): one zero page", p_zero_page, c_open_bad_nowait, SPL_EMAGIC, SPL_EINIT, 0},
    {"open_fd: 64 KiB of garbage", p_garbage_big, c_open_fd_garbage, SPL_EMAGIC, 0, 0},
    {"open: version from a later build", p_version, c_open_bad, SPL_EVERSION, 0, 0},
    {"open: version 0xffffffff", p_version_ff, c_open_bad, SPL_EVERSION, 0, 0},
    {"open (NOWAIT): version 0, never initialised", p_version_zero, c_open_bad_nowait, SPL_EINIT,
     0, 0},
    {"open: layout fingerprint changed", p_fingerprint, c_open_bad, SPL_ELAYOUT, 0, 0},
    {"open: truncated by a page", p_trunc_page, c_open_bad, SPL_ESIZE, 0, 0},
    {"open: truncated by a byte", p_trunc_byte, c_open_bad, SPL_ESIZE, 0, 0},
    {"open: truncated to the header", p_trunc_header, c_open_bad, SPL_ESIZE, 0, 0},
    {"open: grown by a page", p_grow, c_open_bad, SPL_ESIZE, 0, 0},
    /* create */
    {"create: existing store", NULL, c_create_existing, SPL_EEXIST, 0, 0},
    {"create: existing (valid) store at the path", p_store, c_create_bad, SPL_EEXIST, 0, 0},
    {"create: symlink to a file at the path", p_symlink_to_precious, c_create_bad, SPL_EEXIST, 0,
     0},
    {"create: dangling symlink at the path", p_symlink_dangling, c_create_bad, SPL_EEXIST, 0, 0},
    {"open_or_create: other key_max", NULL, c_ooc_geometry, SPL_EGEOMETRY, 0, 0},
    {"create SHM: empty name", NULL, c_name_empty, SPL_ENAME, 0, 0},
    {"create SHM: name with '/'", NULL, c_name_slash, SPL_ENAME, 0, 0},
    {"create SHM: name starting with '.'", NULL, c_name_dot, SPL_ENAME, 0, 0},
    {"create SHM: name '..'", NULL, c_name_dotdot, SPL_ENAME, 0, 0},
    {"create SHM: name with a space", NULL, c_name_space, SPL_ENAME, 0, 0},
    {"create SHM: name with a control character", NULL, c_name_ctrl, SPL_ENAME, 0, 0},
    {"create SHM: name with non-ASCII bytes", NULL, c_name_utf8, SPL_ENAME, 0, 0},
    {"create SHM: name of 201 bytes", NULL, c_name_201, SPL_ENAME, 0, 0},
    {"create SHM: name of 300 bytes", NULL, c_name_300, SPL_ENAME, 0, 0},
    {"open SHM: name starting with '.'", NULL, c_open_name_dot, SPL_ENAME, 0, 0},
    {"open SHM: name with '/'", NULL, c_open_name_slash, SPL_ENAME, 0, 0},
    {"open SHM: empty name", NULL, c_open_name_empty, SPL_ENAME, 0, 0},
    {"create: key_max > SPL_KEY_MAX_LIMIT", NULL, c_g_key_big, SPL_EFORMAT, 0, R_NOFILE},
    {"create: key_max UINT32_MAX", NULL, c_g_key_huge, SPL_EFORMAT, 0, R_NOFILE},
    {"create: val_max > SPL_VAL_MAX_LIMIT", NULL, c_g_val_big, SPL_EFORMAT, 0, R_NOFILE},
    {"create: val_max UINT32_MAX", NULL, c_g_val_huge, SPL_EFORMAT, 0, R_NOFILE},
    {"create: val_max 7 (< 8)", NULL, c_g_val_small, SPL_EFORMAT, 0, R_NOFILE},
    {"create: val_max 1", NULL, c_g_val_one, SPL_EFORMAT, 0, R_NOFILE},
    {"create: slots > SPL_SLOTS_LIMIT", NULL, c_g_slots_big, SPL_EFORMAT, 0, R_NOFILE},
    {"create: slots UINT32_MAX", NULL, c_g_slots_huge, SPL_EFORMAT, 0, R_NOFILE},
    {"create: vec_dim > SPL_VEC_DIM_LIMIT", NULL, c_g_vec_big, SPL_EFORMAT, 0, R_NOFILE},
    {"create: vec_dim UINT32_MAX", NULL, c_g_vec_huge, SPL_EFORMAT, 0, R_NOFILE},
#if !SPL_WITH_EMBEDDINGS
    {"create: vec_dim != 0 without embeddings", NULL, c_g_vec_noemb, SPL_EFORMAT, 0, R_NOFILE},
#endif
    {"create: options version 0", NULL, c_create_optver, SPL_EINVAL, 0, R_NOFILE},
    {"create: options version from the future", NULL, c_create_optver_future, SPL_EINVAL, 0,
     R_NOFILE},
    {"create: key_max = SPL_KEY_MAX_LIMIT is accepted", NULL, c_g_key_limit, 0, 0, 0},
    {"create: key_max = 1 is accepted", NULL, c_g_key_one, 0, 0, 0},
    {"create: val_max = 8 is accepted", NULL, c_g_val_eight, 0, 0, 0},
    {"create: val_max = SPL_VAL_MAX_LIMIT is accepted", NULL, c_g_val_limit, 0, 0, 0},
#if SPL_WITH_EMBEDDINGS
    {"create: vec_dim = SPL_VEC_DIM_LIMIT is accepted", NULL, c_g_vec_limit, 0, 0, 0},
#endif
};
#define NROWS (sizeof rows / sizeof rows[0])

/* ---------------------------------------------------------------- runner */

static void run_row(void **state)
{
    struct ctx *c = *state;
    const struct row *r = c->row;
    if ((r->flags & R_ROOT) && geteuid() != 0) {
        print_message("    (skipped: needs root)\n");
        skip();
    }
    memset(g_big, 'B', sizeof g_big);
    if (r->prep && r->prep(c) != 0)
        fail_msg("prep for \"%s\" failed (errno %d)", r->desc, errno);

    struct store_snap s0, s1, a0, a1;
    struct file_snap f0, f1, p0, p1;
    char precious[160];
    snprintf(precious, sizeof precious, "%s/precious", c->dir);
    snap_store(c->s, &s0);
    snap_store(c->aux, &a0);
    snap_file(c->bad, &f0);
    snap_file(precious, &p0);

    alarm(30); /* a call that blocks (e.g. on a FIFO) fails the test */
    int rc = r->call(c);
    alarm(0);

    if (rc != r->expect && !(r->alt && rc == r->alt))
        fail_msg("%s: returned %d (%s), expected %d (%s)", r->desc, rc, spl_err_name(rc),
                 r->expect, spl_err_name(r->expect));

    /* Nothing changed. */
    snap_store(c->s, &s1);
    snap_store(c->aux, &a1);
    snap_file(c->bad, &f1);
    snap_file(precious, &p1);
    if (memcmp(&s0, &s1, sizeof s0) != 0)
        fail_msg("%s: the main store changed (keys %llu -> %llu, used %llu -> %llu)", r->desc,
                 (unsigned long long)s0.d.n, (unsigned long long)s1.d.n,
                 (unsigned long long)s0.used, (unsigned long long)s1.used);
    if (memcmp(&a0, &a1, sizeof a0) != 0)
        fail_msg("%s: the full store changed", r->desc);
    if (memcmp(&f0, &f1, sizeof f0) != 0)
        fail_msg("%s: %s changed (exists %d->%d, mode %o->%o, uid %d->%d, size %lld->%lld)",
                 r->desc, c->bad, f0.exists, f1.exists, (unsigned)f0.mode, (unsigned)f1.mode,
                 (int)f0.uid, (int)f1.uid, (long long)f0.size, (long long)f1.size);
    if (memcmp(&p0, &p1, sizeof p0) != 0)
        fail_msg("%s: the symlink target changed", r->desc);
    char dangling[160];
    snprintf(dangling, sizeof dangling, "%s/nothing-here", c->dir);
    struct stat dst;
    if (lstat(dangling, &dst) == 0)
        fail_msg("%s: a symlink's target was created", r->desc);
    if (r->flags & R_NOFILE) {
        struct stat st;
        if (lstat(c->bad, &st) == 0)
            fail_msg("%s: %s exists afterwards", r->desc, c->bad);
    }
    /* The main store still answers. */
    char buf[8];
    size_t len = 0;
    assert_int_equal(spl_get(c->s, "text", buf, sizeof buf, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(spl_exists(c->s, "newkey"), 0);
}

int main(void)
{
    static struct CMUnitTest tests[NROWS];
    for (size_t i = 0; i < NROWS; i++) {
        tests[i].name = rows[i].desc;
        tests[i].test_func = run_row;
        tests[i].setup_func = fix_setup;
        tests[i].teardown_func = fix_teardown;
        tests[i].initial_state = (void *)(uintptr_t)&rows[i];
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
