/*
 * store.c - creating, opening and validating stores; backings; fd passing.
 *
 * Creation protocol (docs/PROTOCOL.md, "Create and attach"): the creator
 * builds the whole region in an unnamed file (O_TMPFILE, or a private
 * temporary name), publishes the format version last with a release store,
 * and only then links the file under its name with link(2), which fails if
 * the name exists.  So an opener never sees a half-built store, a creator
 * killed mid-way leaves nothing under the name, and of two racing creators
 * exactly one wins.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "place.h"

#define SPL_MAX_REGION_BYTES (1ull << 46)
#define SPL_OPEN_WAIT_NS     (2000ull * 1000 * 1000)

SPL_API void spl_options_init(spl_options *o)
{
    memset(o, 0, sizeof *o);
    o->version = SPL_OPTIONS_VERSION;
    o->backing = SPL_BACKING_AUTO;
    o->geom.slots = SPL_DEFAULT_SLOTS;
    o->geom.key_max = SPL_DEFAULT_KEY_MAX;
    o->geom.val_max = SPL_DEFAULT_VAL_MAX;
    o->geom.vec_dim = SPL_WITH_EMBEDDINGS ? SPL_VEC_DIM_DEFAULT : 0;
}

/* ---- geometry ----------------------------------------------------------- */

struct spl__layout {
    uint32_t slots, key_max, val_max, vec_dim, stride, probe_max, val_off, feed_len;
    uint32_t vec_fmt, vec_esize; /* vector format and its element size */
    uint32_t cells, cell_stride; /* the cell arena: 0, 0 without vectors */
    uint32_t index_words, undo_recs, undo_stride;
    uint64_t index_off, slots_off, sig_off, kwait_off, ring_off, undo_off, cells_off, reg_off, total;
};

/* Compute the layout of a geometry (cells: vector cells, 0 = one per
 * slot); SPL_EFORMAT if out of range.  Used both at create and to re-derive
 * (and so check) what an opened header claims. */
static int spl__layout_of(const spl_geometry *g, uint32_t vec_fmt, uint32_t feed_len, uint32_t cells,
                          struct spl__layout *l)
{
    if (g->vec_dim ? cells > g->slots : cells != 0)
        return SPL_EFORMAT; /* more cells than slots (each holds at most one), or cells without vectors */
    if (feed_len < SPL_FEED_MIN || feed_len > SPL_FEED_MAX || (feed_len & (feed_len - 1)) ||
        g->slots < 2 || g->slots > SPL_SLOTS_LIMIT || g->key_max < 1 ||
        g->key_max > SPL_KEY_MAX_LIMIT || g->val_max < 8 || g->val_max > SPL_VAL_MAX_LIMIT ||
        g->vec_dim > SPL_VEC_DIM_LIMIT || (!SPL_WITH_EMBEDDINGS && g->vec_dim) ||
        vec_fmt >= SPL__VEC_FORMAT_COUNT || (!SPL_WITH_EMBEDDINGS && vec_fmt))
        return SPL_EFORMAT;
    l->slots = g->slots; /* exact: any count from 2 to SPL_SLOTS_LIMIT */
    l->key_max = g->key_max;
    l->val_max = g->val_max;
    l->vec_dim = g->vec_dim;
    uint64_t key_pad = spl_round_up(g->key_max, 8);
    uint64_t val_pad = spl_round_up(g->val_max, 8);
    /* vectors live in the cell arena: a line of head, then the elements */
    l->vec_fmt = vec_fmt;
    l->vec_esize = vec_fmt == SPL_VEC_I8 ? 1 : vec_fmt == SPL_VEC_F16 ? 2 : 4;
    uint64_t stride = spl_round_up(SPL_SLOT_META + key_pad + val_pad, SPL_CACHE_LINE);
    l->stride = (uint32_t)stride;
    l->val_off = (uint32_t)(SPL_SLOT_META + key_pad);
    l->cells = g->vec_dim ? (cells ? cells : l->slots) : 0;
    l->cell_stride = g->vec_dim ? (uint32_t)(SPL_CELL_HEAD + spl_round_up((uint64_t)g->vec_dim *
                                                                           l->vec_esize, SPL_CACHE_LINE))
                                : 0;
    /* the index: a power of two at least twice the slot count, so that it
     * is at most half full when every slot holds a key */
    uint64_t words = 4;
    while (words < 2ull * l->slots)
        words *= 2;
    l->index_words = (uint32_t)words;
    l->probe_max = l->index_words - 1 < SPL_PROBE_LIMIT ? l->index_words - 1 : SPL_PROBE_LIMIT;
    l->index_off = SPL_HEADER_BYTES;
    l->slots_off = spl_round_up(l->index_off + words * 8, 4096);
    l->feed_len = feed_len;
    l->sig_off = l->slots_off + (uint64_t)l->slots * stride;
    l->kwait_off = spl_round_up(l->sig_off + SPL_SIG_OFF_WATCH + (uint64_t)l->slots * 8, 64);
    l->ring_off = spl_round_up(l->kwait_off + (uint64_t)l->slots * 4, 64);
    l->total = l->ring_off + (uint64_t)feed_len * sizeof(struct spl_sig_ent);
    /* undo records: one per writer thread (kept while it lives), each a
     * line of head, the value and (vector stores) a cell; no more than
     * about 256 MiB of them (pages are touched only when used) */
    l->undo_stride = (uint32_t)spl_round_up(sizeof(struct spl_undo) + val_pad + l->cell_stride, SPL_CACHE_LINE);
    uint64_t recs = SPL_UNDO_MAX;
    while (recs > 4 && recs * l->undo_stride > (256ull << 20))
        recs /= 2;
    l->undo_recs = (uint32_t)recs;
    l->undo_off = spl_round_up(l->total, 64);
    l->total = l->undo_off + recs * l->undo_stride;
    l->cells_off = 0;
    if (l->cells) { /* page-aligned, so that the arena can use huge pages */
        l->cells_off = spl_round_up(l->total, 4096);
        l->total = l->cells_off + (uint64_t)l->cells * l->cell_stride;
    }
    /* the fragment registry, last (docs/FRAGMENTS.md) */
    l->reg_off = spl_round_up(l->total, 4096);
    l->total = l->reg_off + (uint64_t)SPL_REG_ENTRIES * SPL_REG_STRIDE;
    if (l->total > SPL_MAX_REGION_BYTES)
        return SPL_EFORMAT;
    return 0;
}

static void spl__fill_handle(struct spl_store *s, const struct spl__layout *l, uint64_t seed)
{
    s->hdr = (struct spl_header *)(void *)s->base;
    s->index = (uint64_t *)(void *)(s->base + l->index_off);
    s->slots = s->base + l->slots_off;
    s->nslots = l->slots;
    s->key_max = l->key_max;
    s->val_max = l->val_max;
    s->vec_dim = l->vec_dim;
    s->stride = l->stride;
    s->probe_max = l->probe_max;
    s->nindex = l->index_words;
    s->imask = l->index_words - 1;
    s->ibits = (uint32_t)__builtin_ctz(l->index_words);
    s->undo = s->base + l->undo_off;
    s->nundo = l->undo_recs;
    s->undo_stride = l->undo_stride;
    s->val_off = l->val_off;
    s->cells = s->base + l->cells_off;
    s->ncells = l->cells;
    s->cell_stride = l->cell_stride;
    s->vec_fmt = l->vec_fmt;
    s->vec_esize = l->vec_esize;
    s->seed = seed;
    uint8_t *sig = s->base + l->sig_off;
    s->sig = (struct spl_sig_head *)(void *)sig;
    s->stripes = (struct spl_sig_stripe *)(void *)(sig + SPL_SIG_OFF_STRIPES);
    s->groups = (struct spl_sig_group *)(void *)(sig + SPL_SIG_OFF_GROUPS);
    s->binds = (uint64_t *)(void *)(sig + SPL_SIG_OFF_BINDS);
    s->recs = (struct spl_sig_rec *)(void *)(sig + SPL_SIG_OFF_RECS);
    s->watch = (uint64_t *)(void *)(sig + SPL_SIG_OFF_WATCH);
    s->kwait = (uint32_t *)(void *)(s->base + l->kwait_off);
    s->ring = (struct spl_sig_ent *)(void *)(s->base + l->ring_off);
    s->reg = s->base + l->reg_off;
    s->feed_mask = l->feed_len - 1;
#if SPL_WITH_EMBEDDINGS
    if (l->vec_dim)
        (void)spl__vk_get(); /* the SIMD path is chosen once, at the first open */
#endif
}

/* ---- names -------------------------------------------------------------- */

static spl_backing spl__backing_of(const char *name, const spl_options *o)
{
    spl_backing b = o ? o->backing : SPL_BACKING_AUTO;
    if (b == SPL_BACKING_AUTO)
        b = (name && strchr(name, '/')) ? SPL_BACKING_FILE : SPL_BACKING_SHM;
    return b;
}

/* The private per-user directory for SHM stores: $SPLINTER_SHM_DIR, or
 * /dev/shm/splinter-<euid>, created 0700 and checked (a directory, ours, not
 * writable by group or others). */
static int spl__shm_dir(char *out, size_t cap, int create)
{
    const char *env = getenv("SPLINTER_SHM_DIR");
    int n = env && *env ? snprintf(out, cap, "%s", env)
                        : snprintf(out, cap, "/dev/shm/splinter-%u", (unsigned)geteuid());
    if (n < 0 || (size_t)n >= cap)
        return SPL_ENAME;
    if (create && mkdir(out, 0700) != 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (lstat(out, &st) != 0)
        return errno == ENOENT ? SPL_ENOENT : -errno;
    if (!S_ISDIR(st.st_mode))
        return SPL_ENOTREG;
    if (st.st_uid != geteuid())
        return SPL_EOWNER;
    if (st.st_mode & 022)
        return SPL_EMODE;
    return 0;
}

static int spl__valid_shm_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > 200 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int spl__resolve(const char *name, spl_backing b, char *path, size_t cap, int create)
{
    if (b == SPL_BACKING_SHM) {
        if (!spl__valid_shm_name(name))
            return SPL_ENAME;
        int rc = spl__shm_dir(path, cap, create);
        if (rc)
            return rc;
        size_t len = strlen(path);
        if ((size_t)snprintf(path + len, cap - len, "/%s", name) >= cap - len)
            return SPL_ENAME;
        return 0;
    }
    if (b == SPL_BACKING_FILE) {
        if (!name || !*name || strlen(name) >= cap)
            return SPL_ENAME;
        strcpy(path, name);
        return 0;
    }
    return SPL_EINVAL;
}

/* ---- attach: validate an fd's region and map it ------------------------- */

static int spl__check_file(int fd, uint32_t flags, int check_owner, struct stat *st)
{
    if (fstat(fd, st) != 0)
        return -errno;
    if (!S_ISREG(st->st_mode))
        return SPL_ENOTREG;
    if (check_owner && st->st_uid != geteuid())
        return SPL_EOWNER;
    mode_t bad = (flags & SPL_O_GROUP) ? 0007 : 0077;
    if (st->st_mode & bad)
        return SPL_EMODE;
    return 0;
}

/* A region received by fd must be sealed against shrinking: else its sender
 * could truncate it under our mapping and every access past the new end
 * would raise SIGBUS here.  Growing is harmless (the mapping keeps its
 * size), and seals can only ever be added, so F_SEAL_SHRINK now is
 * F_SEAL_SHRINK for the life of the mapping. */
static int spl__check_sealed(int fd)
{
#ifdef F_GET_SEALS
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals >= 0 && (seals & F_SEAL_SHRINK))
        return 0;
    if (seals < 0 && errno != EINVAL)
        return -errno;
#else
    (void)fd;
#endif
    return SPL_EUNSEALED; /* unsealed, or a file that cannot carry seals */
}

/* check_owner is 0 on the fd path (spl_open_fd): no owner check, but the
 * region must be sealed against shrinking. */
static int spl__attach(struct spl_store *s, int fd, uint32_t flags, int check_owner)
{
    struct stat st;
    int rc = spl__check_file(fd, flags, check_owner, &st);
    if (rc)
        return rc;
    uint64_t deadline = spl__clock_ns(CLOCK_MONOTONIC) + SPL_OPEN_WAIT_NS;
    /* A store is linked only when complete, so a short file or version 0
     * means another writer of this format is still making it (a memfd being
     * filled) or it is broken: wait, bounded, then give up. */
    for (;;) {
        uint64_t magic = 0;
        if (st.st_size >= 8 && pread(fd, &magic, 8, 0) == 8 && magic != SPL_MAGIC)
            return SPL_EMAGIC;
        if ((uint64_t)st.st_size >= SPL_HEADER_BYTES) {
            struct spl_header h;
            if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
                return -EIO;
            if (h.magic != SPL_MAGIC)
                return SPL_EMAGIC;
            if (h.version != 0)
                break;
        } else if (st.st_size >= 8) {
            return SPL_ESIZE; /* our magic, but cut short */
        }
        if ((flags & SPL_O_NOWAIT) || spl__clock_ns(CLOCK_MONOTONIC) > deadline)
            return (uint64_t)st.st_size >= SPL_HEADER_BYTES ? SPL_EINIT : SPL_ESIZE;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        if (fstat(fd, &st) != 0)
            return -errno;
    }
    if ((uint64_t)st.st_size > SPL_MAX_REGION_BYTES)
        return SPL_ESIZE;
    if (!check_owner && (rc = spl__check_sealed(fd)) != 0)
        return rc; /* before anything is mapped */
    int prot = (flags & SPL_O_RDONLY) ? PROT_READ : PROT_READ | PROT_WRITE;
    void *m = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    const struct spl_header *h = m;
    /* version was published last (release); this acquire pairs with it, so
     * every field below is the creator's. */
    uint32_t version = spl_load32_acquire(&h->version);
    struct spl__layout l;
    uint64_t sep = 0;
    if (h->magic != SPL_MAGIC)
        rc = SPL_EMAGIC;
    else if (version != SPL_FORMAT_VERSION)
        rc = SPL_EVERSION;
    else if (h->fingerprint != spl__fingerprint() || h->features != SPL_FEATURES ||
             h->header_bytes != SPL_HEADER_BYTES)
        rc = SPL_ELAYOUT;
    else {
        spl_geometry g = {h->slots, h->key_max, h->val_max, h->vec_dim};
        uint64_t fmt = h->vec_opts[SPL_VOPT_FORMAT];
        uint64_t feed = h->sig_opts[0];
        sep = h->vec_opts[SPL_VOPT_TANDEM];
        if (fmt >= SPL__VEC_FORMAT_COUNT || sep < 0x21 || sep > 0x7e || feed > SPL_FEED_MAX ||
            spl__layout_of(&g, (uint32_t)fmt, (uint32_t)feed, h->cells, &l) != 0 || l.sig_off != h->sig_opts[1] ||
            l.slots != h->slots || l.stride != h->slot_stride ||
            l.probe_max != h->probe_max || l.index_off != h->index_off ||
            l.slots_off != h->slots_off || l.total != h->total_bytes ||
            l.cells_off != h->cells_off || l.cells != h->cells || l.cell_stride != h->cell_stride ||
            l.index_words != h->index_words || l.undo_recs != h->undo_recs ||
            l.undo_off != h->undo_off || l.undo_stride != h->undo_stride ||
            l.reg_off != h->reg_off || h->reg_entries != SPL_REG_ENTRIES ||
            h->reg_stride != SPL_REG_STRIDE)
            rc = SPL_ELAYOUT;
        else if (spl__region_bytes(fd, l.total) != (uint64_t)st.st_size)
            rc = SPL_ESIZE; /* on hugetlbfs: rounded up to whole huge pages */
    }
    if (rc) {
        munmap(m, (size_t)st.st_size);
        return rc;
    }
    s->base = m;
    s->map_bytes = (size_t)st.st_size;
    s->holes = spl__on_tmpfs(fd);
    s->rdonly = !!(flags & SPL_O_RDONLY);
    spl__fill_handle(s, &l, h->hash_seed);
    s->tandem_sep = (char)sep;
    return 0;
}

/* ---- create ------------------------------------------------------------- */

static int spl__init_region(int fd, const struct spl__layout *l, mode_t mode, char sep,
                            const spl_options *opt, uint64_t bytes, void **map_out)
{
    if (fchmod(fd, mode) != 0) /* exact mode, whatever the umask */
        return -errno;
    if (ftruncate(fd, (off_t)bytes) != 0)
        return -errno;
    void *m = NULL;
    int rc = spl__map_new(fd, bytes, opt, &m); /* NUMA policy, huge pages: before first touch */
    if (rc)
        return rc;
    struct spl_header *h = m;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = spl__clock_ns(CLOCK_MONOTONIC) ^ ((uint64_t)getpid() << 32);
    h->magic = SPL_MAGIC;
    h->header_bytes = SPL_HEADER_BYTES;
    h->fingerprint = spl__fingerprint();
    h->features = SPL_FEATURES;
    h->slots = l->slots;
    h->key_max = l->key_max;
    h->val_max = l->val_max;
    h->vec_dim = l->vec_dim;
    h->slot_stride = l->stride;
    h->probe_max = l->probe_max;
    h->hash_seed = seed;
    h->index_off = l->index_off;
    h->slots_off = l->slots_off;
    h->total_bytes = l->total;
    h->sig_opts[0] = l->feed_len;
    h->sig_opts[1] = l->sig_off;
    h->cells_off = l->cells_off;
    h->cell_stride = l->cell_stride;
    h->cells = l->cells;
    h->index_words = l->index_words;
    h->undo_recs = l->undo_recs;
    h->undo_off = l->undo_off;
    h->undo_stride = l->undo_stride;
    h->reg_off = l->reg_off;
    h->reg_entries = SPL_REG_ENTRIES;
    h->reg_stride = SPL_REG_STRIDE;
    h->creator_pid = (uint32_t)getpid();
    h->created_ns = spl__clock_ns(CLOCK_REALTIME);
    h->vec_opts[SPL_VOPT_FORMAT] = l->vec_fmt;
    h->vec_opts[SPL_VOPT_TANDEM] = (uint8_t)sep;
    /* Index and slots are zero from ftruncate: all FREE, epochs 0. */
    spl_store32_release(&h->version, SPL_FORMAT_VERSION); /* pairs with spl__attach */
    *map_out = m;
    return 0;
}

/* *sealable: 1 for a memfd that takes seals, 0 for the fallback files. */
static int spl__memfd(const spl_options *opt, int *sealable)
{
    *sealable = 0;
    if (opt->huge_pages) { /* no fallback: huge pages or an error */
        int fd = spl__memfd_huge(opt);
#ifdef MFD_ALLOW_SEALING
        *sealable = fd >= 0;
#endif
        return fd;
    }
#ifdef MFD_ALLOW_SEALING
    int fd = memfd_create("splinter", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd >= 0 || errno != ENOSYS) {
        *sealable = fd >= 0;
        return fd >= 0 ? fd : -errno;
    }
#endif
    /* Fallback where memfd does not exist: an unnamed tmpfs file. */
    int t = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (t >= 0)
        return t;
    char tmpl[] = "/tmp/splinter-memfd-XXXXXX";
    t = mkostemp(tmpl, O_CLOEXEC);
    if (t < 0)
        return -errno;
    unlink(tmpl);
    return t;
}

/* Make an unnamed (or privately named) file in dir of path. */
static int spl__tmpfile(const char *path, char *tmpname, size_t cap)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 0;
    if (dl >= sizeof dir)
        return SPL_ENAME;
    if (slash == path)
        dl = 1;
    memcpy(dir, slash ? path : ".", slash ? dl : 1);
    dir[slash ? dl : 1] = 0;
    tmpname[0] = 0;
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        return errno == ENOENT ? SPL_ENOENT : -errno;
    if ((size_t)snprintf(tmpname, cap, "%s/.splinter-tmp-XXXXXX", dir) >= cap)
        return SPL_ENAME;
    fd = mkostemp(tmpname, O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

/* Publish fd under path; SPL_EEXIST if the name is taken (never follows or
 * replaces a symlink). */
static int spl__publish(int fd, const char *tmpname, const char *path)
{
    int rc = 0;
    if (tmpname[0]) {
        if (link(tmpname, path) != 0)
            rc = errno == EEXIST ? SPL_EEXIST : -errno;
        unlink(tmpname);
        return rc;
    }
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    if (errno == EEXIST)
        return SPL_EEXIST;
    if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
        return 0;
    return errno == EEXIST ? SPL_EEXIST : -errno;
}

/* ---- scans that skip holes ----------------------------------------------
 * A store is created sparse: pages nobody wrote are holes of its file, and
 * read as zeros.  A scan that reads them anyway brings them in (on tmpfs a
 * read fault on a hole of a shared mapping allocates a page), so spl_info
 * made a store of a million slots holding ten keys take its full size in
 * memory.  lseek(SEEK_DATA / SEEK_HOLE) tells which ranges may hold
 * anything; where it cannot tell, everything is data. */
static uint32_t spl__elem_at_or_after(off_t base, size_t stride, off_t off, uint32_t n)
{
    if (off <= base)
        return 0;
    uint64_t j = ((uint64_t)(off - base) + stride - 1) / stride;
    return j < n ? (uint32_t)j : n;
}

uint32_t spl__data_next(const struct spl_store *s, const void *arr, size_t stride, size_t field, uint32_t i,
                        uint32_t n, uint32_t *end)
{
    *end = n;
    if (i >= n || s->fd < 0 || !s->holes)
        return i;
    off_t base = (off_t)((const uint8_t *)arr - s->base) + (off_t)field;
    off_t d = lseek(s->fd, base + (off_t)i * (off_t)stride, SEEK_DATA);
    if (d < 0)
        return errno == ENXIO ? n : i; /* no data from there on; or no answer: scan */
    i = spl__elem_at_or_after(base, stride, d, n);
    if (i >= n)
        return n;
    off_t h = lseek(s->fd, base + (off_t)i * (off_t)stride, SEEK_HOLE);
    if (h >= 0)
        *end = spl__elem_at_or_after(base, stride, h, n);
    if (*end <= i) /* a hole appeared since (the file cannot shrink: sealed or ours) */
        *end = i + 1;
    return i;
}

static struct spl_store *spl__new_handle(void)
{
    struct spl_store *s = calloc(1, sizeof *s);
    if (s)
        s->fd = -1;
    return s;
}

SPL_API void spl_close(spl_store *s)
{
    if (!s)
        return;
    spl__undo_close(s);
    spl__ann_free(s);  /* a fragment's ANN reader (src/ann.c): unmapped, unloaded */
    spl__pool_free(s); /* the scan threads: joined before the unmap */
    if (s->base)
        munmap(s->base, s->map_bytes);
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s);
}

/* The caller's options as far as its version has fields (spl_options grew
 * by appending; a caller built earlier has a shorter struct, whose later
 * fields are taken as zero and never read). */
static const spl_options *spl__opts_known(const spl_options *opt, spl_options *buf)
{
    size_t n = opt->version >= 3 ? sizeof *opt
               : opt->version == 2 ? offsetof(spl_options, vec_cells)
                                   : offsetof(spl_options, numa_mode);
    if (n == sizeof *opt)
        return opt;
    memset(buf, 0, sizeof *buf);
    memcpy(buf, opt, n);
    return buf;
}

SPL_API int spl_create(spl_store **out, const char *name, const spl_options *opt)
{
    spl_options def;
    if (!out)
        return SPL_EINVAL;
    *out = NULL;
    if (!opt) {
        spl_options_init(&def);
        opt = &def;
    }
    if (opt->version < 1 || opt->version > SPL_OPTIONS_VERSION || (opt->flags & SPL_O_RDONLY))
        return SPL_EINVAL;
    spl_options known;
    opt = spl__opts_known(opt, &known);
    spl_geometry g = opt->geom;
    if (!g.slots)
        g.slots = SPL_DEFAULT_SLOTS;
    if (!g.key_max)
        g.key_max = SPL_DEFAULT_KEY_MAX;
    if (!g.val_max)
        g.val_max = SPL_DEFAULT_VAL_MAX;
    struct spl__layout l;
    int rc = spl__layout_of(&g, opt->vec_format, opt->feed_len ? opt->feed_len : SPL_FEED_DEFAULT,
                            opt->vec_cells, &l);
    if (rc)
        return rc;
    uint32_t sep = opt->tandem_sep ? opt->tandem_sep : '.';
    if (sep < 0x21 || sep > 0x7e)
        return SPL_EFORMAT;
    if ((rc = spl__place_check(opt)) != 0) /* NUMA and huge-page options */
        return rc;
    mode_t mode = opt->mode ? (mode_t)(opt->mode & 0777) : ((opt->flags & SPL_O_GROUP) ? 0660 : 0600);
    if (mode & 0007 || (!(opt->flags & SPL_O_GROUP) && (mode & 0070)))
        return SPL_EMODE; /* never world access; group only when asked */
    spl_backing b = spl__backing_of(name, opt);
    char path[PATH_MAX], tmpname[PATH_MAX];
    int fd, sealable = 0;
    if (b == SPL_BACKING_MEMFD) {
        fd = spl__memfd(opt, &sealable);
        tmpname[0] = 0;
    } else {
        rc = spl__resolve(name, b, path, sizeof path, 1);
        if (rc)
            return rc;
        fd = spl__tmpfile(path, tmpname, sizeof tmpname);
    }
    if (fd < 0)
        return fd;
    struct spl_store *s = spl__new_handle();
    void *m = NULL;
    uint64_t bytes = spl__region_bytes(fd, l.total);
    if (!s) {
        rc = SPL_ENOMEM;
        goto fail;
    }
    if ((rc = spl__huge_check(fd, opt)) != 0)
        goto fail;
    rc = spl__init_region(fd, &l, mode, (char)sep, opt, bytes, &m);
    if (rc)
        goto fail;
    if (b == SPL_BACKING_MEMFD) {
#ifdef F_ADD_SEALS
        /* No peer may shrink it under a mapping (SIGBUS) or grow it, and
         * spl_open_fd refuses a region without F_SEAL_SHRINK.  The fallback
         * files (no memfd) take no seals: shared by fork only. */
        if (sealable && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
            rc = -errno;
            goto fail;
        }
#else
        (void)sealable;
#endif
    } else {
        rc = spl__publish(fd, tmpname, path);
        if (rc)
            goto fail;
        s->path = strdup(path);
        if (!s->path) {
            unlink(path);
            rc = SPL_ENOMEM;
            goto fail;
        }
    }
    s->base = m;
    s->map_bytes = bytes;
    s->fd = fd;
    s->holes = spl__on_tmpfs(fd);
    s->backing = b;
    spl__fill_handle(s, &l, ((struct spl_header *)m)->hash_seed);
    s->tandem_sep = (char)sep;
    *out = s;
    return 0;
fail:
    if (m)
        munmap(m, bytes);
    if (tmpname[0])
        unlink(tmpname);
    close(fd);
    free(s);
    return rc;
}

/* ---- open --------------------------------------------------------------- */

SPL_API int spl_open(spl_store **out, const char *name, const spl_options *opt)
{
    if (!out)
        return SPL_EINVAL;
    *out = NULL;
    uint32_t flags = opt ? opt->flags : 0;
    spl_backing b = spl__backing_of(name, opt);
    if (b == SPL_BACKING_MEMFD)
        return SPL_EINVAL; /* use spl_open_fd */
    char path[PATH_MAX];
    int rc = spl__resolve(name, b, path, sizeof path, 0);
    if (rc)
        return rc;
    int oflags = ((flags & SPL_O_RDONLY) ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int fd = open(path, oflags);
    if (fd < 0) {
        if (errno == ENOENT)
            return SPL_ENOENT;
        if (errno == ELOOP || errno == ENXIO || errno == EISDIR)
            return SPL_ENOTREG;
        return -errno;
    }
    struct spl_store *s = spl__new_handle();
    if (!s) {
        close(fd);
        return SPL_ENOMEM;
    }
    rc = spl__attach(s, fd, flags, 1);
    if (rc == 0 && !(s->path = strdup(path)))
        rc = SPL_ENOMEM;
    if (rc) {
        close(fd);
        s->fd = -1;
        spl_close(s);
        return rc;
    }
    s->fd = fd;
    s->backing = b;
    *out = s;
    return 0;
}

SPL_API int spl_open_fd(spl_store **out, int fd, uint32_t flags)
{
    if (!out || fd < 0)
        return SPL_EINVAL;
    *out = NULL;
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0)
        return -errno;
    struct spl_store *s = spl__new_handle();
    if (!s) {
        close(dfd);
        return SPL_ENOMEM;
    }
    int rc = spl__attach(s, dfd, flags, 0);
    if (rc) {
        close(dfd);
        spl_close(s);
        return rc;
    }
    s->fd = dfd;
    s->backing = SPL_BACKING_MEMFD;
    *out = s;
    return 0;
}

static int spl__geom_matches(const spl_store *s, const spl_geometry *g)
{
    struct spl__layout l;
    spl_geometry want = *g;
    if (want.slots && (spl__layout_of(&(spl_geometry){want.slots, 1, 8, 0}, 0, SPL_FEED_DEFAULT, 0, &l) != 0 ||
                       l.slots != s->nslots))
        return 0;
    if (want.key_max && want.key_max != s->key_max)
        return 0;
    if (want.val_max && want.val_max != s->val_max)
        return 0;
    return !want.vec_dim || want.vec_dim == s->vec_dim;
}

SPL_API int spl_open_or_create(spl_store **out, const char *name, const spl_options *opt)
{
    spl_options def, known;
    if (!opt) {
        spl_options_init(&def);
        opt = &def;
    }
    if (opt->version < 1 || opt->version > SPL_OPTIONS_VERSION)
        return SPL_EINVAL;
    opt = spl__opts_known(opt, &known);
    for (int attempt = 0; attempt < 8; attempt++) {
        int rc = spl_open(out, name, opt);
        if (rc == SPL_ENOENT)
            rc = spl_create(out, name, opt);
        if (rc == SPL_EEXIST)
            continue; /* lost a race with another creator: open theirs */
        /* vector options, like geometry: zero means "whatever it has" */
        if (rc == 0 && (!spl__geom_matches(*out, &opt->geom) ||
                        (opt->vec_format && opt->vec_format != (*out)->vec_fmt) ||
                        (opt->vec_cells && opt->vec_cells != (*out)->ncells) ||
                        (opt->tandem_sep && opt->tandem_sep != (uint8_t)(*out)->tandem_sep))) {
            spl_close(*out);
            *out = NULL;
            return SPL_EGEOMETRY;
        }
        return rc;
    }
    return SPL_EAGAIN;
}

SPL_API int spl_destroy(const char *name, const spl_options *opt)
{
    spl_backing b = spl__backing_of(name, opt);
    if (b == SPL_BACKING_MEMFD)
        return SPL_EINVAL;
    char path[PATH_MAX];
    int rc = spl__resolve(name, b, path, sizeof path, 0);
    if (rc)
        return rc;
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? SPL_ENOENT : -errno;
    if (!S_ISREG(st.st_mode))
        return SPL_ENOTREG;
    if (st.st_uid != geteuid())
        return SPL_EOWNER;
    return unlink(path) == 0 ? 0 : -errno;
}

SPL_API int spl_flush(spl_store *s)
{
    if (!s)
        return SPL_EINVAL;
    return msync(s->base, s->map_bytes, MS_SYNC) == 0 ? 0 : -errno;
}

SPL_API int spl_fd(const spl_store *s) { return s ? s->fd : SPL_EINVAL; }

SPL_API int spl_fd_send(int sock, int fd)
{
    char byte = 'S';
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : (n < 0 ? -errno : -EIO);
}

SPL_API int spl_fd_recv(int sock, int *fd_out)
{
    char byte;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    if (!fd_out)
        return SPL_EINVAL;
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (n != 1 || !c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -EPROTO;
    memcpy(fd_out, CMSG_DATA(c), sizeof(int));
    return 0;
}
