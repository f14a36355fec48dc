/*
 * splinter.h - lock-free, zero-copy key-value storage in shared memory.
 *
 * One public header.  A store is a region of shared memory (a tmpfs file, a
 * file on disk, or an anonymous memfd) with a fixed geometry: a header plus
 * N slots of equal size.  Any number of processes map it; there is no server.
 *
 * Conventions
 *   - Every function returning int returns 0 (or a documented non-negative
 *     value) on success and a negative code from spl_errno on failure:
 *     -errno for operating-system failures, SPL_E* (<= -1000) for library
 *     conditions.  spl_strerror() and spl_err_name() describe any code.
 *   - Keys are NUL-terminated byte strings of 1..key_max bytes.  A longer or
 *     empty key is SPL_EKEYLEN; it is never truncated.
 *   - Contention is SPL_EAGAIN and never anything else: a call that meets a
 *     writer inside the slot it needs returns SPL_EAGAIN and changed nothing.
 *     The *_wait variants retry until a timeout for callers who want a
 *     result rather than a signal: they spin briefly, yield, then sleep on
 *     the busy slot until its writer commits (no CPU burnt on a preempted,
 *     stopped or dead writer; a dead writer's slot is recovered).
 *   - A handle (spl_store *) may be used from any number of threads at once;
 *     any number of handles, to the same or different stores, may be open in
 *     one process.
 *
 * Concurrency contract, in one line per call, is given with each function.
 * The protocol behind it is in docs/PROTOCOL.md, the layout in docs/LAYOUT.md.
 */
#ifndef SPLINTER_H
#define SPLINTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPL_VERSION_MAJOR 0
#define SPL_VERSION_MINOR 1
#define SPL_VERSION_PATCH 0

/* ------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------- */

/* X(name, value, text).  OS-level codes are negative errno values. */
#define SPL_ERRNO_MAP(X)                                                       \
    X(SPL_OK,        0,     "success")                                         \
    X(SPL_EAGAIN,    -11,   "contention: a writer holds the slot; retry")      \
    X(SPL_ENOENT,    -2,    "no such key or store")                            \
    X(SPL_EEXIST,    -17,   "already exists")                                  \
    X(SPL_EINVAL,    -22,   "invalid argument")                                \
    X(SPL_ENOMEM,    -12,   "out of memory")                                   \
    X(SPL_EACCES,    -13,   "permission denied")                               \
    X(SPL_EROFS,     -30,   "store handle is read-only")                       \
    X(SPL_E2BIG,     -7,    "value larger than the store's value size")        \
    X(SPL_ENOBUFS,   -105,  "buffer too small; the needed size was returned")  \
    X(SPL_ETIMEDOUT, -110,  "timed out")                                       \
    X(SPL_EOVERFLOW, -75,   "change feed overflowed: events were lost; rescan") \
    X(SPL_EKEYLEN,   -1000, "key empty or longer than the store's key_max")    \
    X(SPL_EFULL,     -1001, "store full: every slot holds a key")              \
    X(SPL_EMAGIC,    -1002, "not a splinter store (bad magic)")                \
    X(SPL_EVERSION,  -1003, "store has another format version")                \
    X(SPL_ELAYOUT,   -1004, "store layout or features differ from this build") \
    X(SPL_ESIZE,     -1005, "store size does not match its geometry")          \
    X(SPL_EGEOMETRY, -1006, "store exists with another geometry")              \
    X(SPL_EINIT,     -1007, "store was never fully initialised")               \
    X(SPL_ECORRUPT,  -1008, "store data failed a bounds check")                \
    X(SPL_ETYPE,     -1009, "value has the wrong type or size for this op")    \
    X(SPL_ESTALE,    -1010, "epoch moved: the slot changed since it was read") \
    X(SPL_EOWNER,    -1011, "store file is owned by another user")             \
    X(SPL_EMODE,     -1012, "store file mode is unsafe or not as requested")   \
    X(SPL_ENOTREG,   -1013, "store path is not a regular file")                \
    X(SPL_ENAME,     -1014, "invalid store name")                              \
    X(SPL_EFORMAT,   -1015, "geometry out of range")                          \
    X(SPL_ENAN,      -1016, "vector holds NaN or infinity")                    \
    X(SPL_EDIM,      -1017, "vector length differs from the store's vec_dim")  \
    X(SPL_ENOVEC,    -1018, "key holds no vector")                             \
    X(SPL_ERANGE,    -1019, "vector element out of range for the store's format") \
    X(SPL_ENOTSUP,   -95,   "not supported by this build or CPU")            \
    X(SPL_ENODE,     -1020, "NUMA node does not exist or is not allowed here") \
    X(SPL_ENOHUGE,   -1021, "no huge pages: none free, or not on hugetlbfs") \
    X(SPL_EUNSEALED, -1022, "store fd is not sealed against shrinking (F_SEAL_SHRINK)") \
    X(SPL_ENOCELL,   -1023, "no free vector cell: every cell of the store holds a vector") \
    X(SPL_EABI,      -1100, "fragment needs another fragment ABI version")     \
    X(SPL_ENOSYM,    -1101, "library has no spl_fragment_entry symbol")        \
    X(SPL_ELOAD,     -1102, "fragment library could not be loaded")            \
    X(SPL_ENOHOST,   -1103, "fragment is not running: no live host")

typedef enum spl_errno {
#define SPL__ERR_ENUM(name, val, text) name = (val),
    SPL_ERRNO_MAP(SPL__ERR_ENUM)
#undef SPL__ERR_ENUM
} spl_errno;

/* Text for any code (library or -errno).  Never NULL. */
const char *spl_strerror(int err);
/* Symbolic name ("SPL_EAGAIN"), or "SPL_E?" for unknown codes.  Never NULL. */
const char *spl_err_name(int err);

/* ------------------------------------------------------------------------
 * Geometry, backings, options
 * ---------------------------------------------------------------------- */

#define SPL_KEY_MAX_LIMIT    4096u        /* largest key_max accepted */
#define SPL_VAL_MAX_LIMIT    (64u << 20)  /* largest val_max accepted */
#define SPL_SLOTS_LIMIT      (1u << 30)   /* largest slot count */
#define SPL_VEC_DIM_LIMIT    16384u       /* largest vec_dim accepted */
#ifndef SPL_VEC_DIM_DEFAULT
#define SPL_VEC_DIM_DEFAULT  768u
#endif

typedef enum spl_backing {
    SPL_BACKING_AUTO = 0, /* name with '/' -> FILE, else SHM */
    SPL_BACKING_SHM = 1,  /* named, in tmpfs, in a private per-user directory */
    SPL_BACKING_FILE = 2, /* a file at a path: persistent, spl_flush() */
    SPL_BACKING_MEMFD = 3 /* anonymous; share by fork or spl_fd_send() */
} spl_backing;

/* Flags for spl_options.flags */
enum {
    SPL_O_RDONLY = 1u << 0, /* map read-only; mutations return SPL_EROFS */
    SPL_O_GROUP = 1u << 1,  /* create 0660 / accept a group-shared store; the
                               SHM directory stays private to its user, so
                               share with a group through a FILE path */
    SPL_O_NOWAIT = 1u << 2  /* open: don't wait for a store being created */
};

typedef struct spl_geometry {
    uint32_t slots;   /* slot count, exact: 2..SPL_SLOTS_LIMIT */
    uint32_t key_max; /* longest key in bytes, 1..SPL_KEY_MAX_LIMIT */
    uint32_t val_max; /* value lane in bytes, 8..SPL_VAL_MAX_LIMIT */
    uint32_t vec_dim; /* floats per slot; 0 = none (must be 0 without embeddings) */
} spl_geometry;

typedef struct spl_options {
    uint32_t version;    /* set to SPL_OPTIONS_VERSION */
    spl_backing backing; /* SPL_BACKING_AUTO if unsure */
    uint32_t flags;      /* SPL_O_* */
    uint32_t mode;       /* create: 0 = 0600 (0660 with SPL_O_GROUP); umask ignored */
    spl_geometry geom;   /* create: zero slots/key_max/val_max take the defaults
                            below; vec_dim is taken as given (0 = none) */
    uint32_t feed_len;   /* create: change-feed entries (power of two,
                            SPL_FEED_MIN..SPL_FEED_MAX); 0 = SPL_FEED_DEFAULT */
    /* Fields below were added with vectors; zero means the default. */
    uint32_t vec_format; /* create: spl_vec_format of the vectors (0 = F32) */
    uint32_t tandem_sep; /* create: tandem key separator, a printable ASCII
                            byte other than space (0 = '.') */
    /* Fields below were added with placement (docs/PLACEMENT.md); zero means
     * no change.  They apply at creation only (an open ignores them). */
    uint32_t numa_mode;  /* create: spl_numa_mode; 0 = the OS default */
    uint32_t huge_pages; /* create: 0 = normal pages; SPL_HUGE_DEFAULT = huge
                            pages of the system's default size; or a huge
                            page size in bytes (power of two, >= 64 KiB) */
    uint64_t numa_nodes; /* create: nodes for BIND and INTERLEAVE (one or
                            more) and PREFERRED (exactly one): bit n = node n;
                            0 for DEFAULT and LOCAL */
    /* Added with sized cell arenas (docs/VECTORS.md, "Sizing"). */
    uint32_t vec_cells;  /* create: vector cells, 1..geom.slots; 0 = one per
                            slot.  A store whose keys do not all hold vectors
                            can have fewer cells than slots: each cell is
                            cell_stride bytes (3136 for 768 x f32).  Once
                            every cell holds a vector, a vector set on a key
                            that has none is SPL_ENOCELL (rewriting a key's
                            vector needs no spare cell).  open_or_create:
                            0 = whatever the store has, another count is
                            SPL_EGEOMETRY; open ignores it, as it ignores
                            geom. */
} spl_options;

/* NUMA placement of a new store's memory (spl_options.numa_mode): a memory
 * policy set with mbind(2) on the region before anything in it is touched.
 * Needs a WITH_NUMA=1 build; otherwise any mode but DEFAULT is SPL_ENOTSUP.
 * A node that does not exist, has no memory or is outside this process's
 * cpuset is SPL_ENODE; a bad mode or node set for the mode is SPL_EINVAL.
 * Memfd and SHM (tmpfs) stores keep the policy with the memory itself, so
 * every process's pages follow it; a FILE store on disk gets the page cache's
 * placement (the policy covers only the creator's mapping). */
typedef enum spl_numa_mode {
    SPL_NUMA_DEFAULT = 0,    /* no policy: the OS default (usually first touch) */
    SPL_NUMA_BIND = 1,       /* only on numa_nodes (MPOL_BIND) */
    SPL_NUMA_INTERLEAVE = 2, /* page by page round-robin over numa_nodes */
    SPL_NUMA_PREFERRED = 3,  /* on the one node of numa_nodes while it has room */
    SPL_NUMA_LOCAL = 4,      /* on the node of the CPU that first touches a page */
    SPL__NUMA_MODE_COUNT
} spl_numa_mode;

#define SPL_NUMA_NODES_MAX  64u   /* nodes 0..63: numa_nodes and spl_info */
#define SPL_NUMA_SAMPLE_MAX 4096u /* pages spl_info_get asks about, at most */
#define SPL_HUGE_DEFAULT    1u    /* spl_options.huge_pages: the default size */

#define SPL_FEED_MIN     16u
#define SPL_FEED_MAX     (1u << 20)
#define SPL_FEED_DEFAULT 1024u

/* spl_options.version: 1 = the fields up to tandem_sep (a caller built
 * then: the later fields are taken as zero, never read); 2 = with the
 * placement fields; 3 = with vec_cells.  spl_options_init sets the newest. */
#define SPL_OPTIONS_VERSION 3u
#define SPL_DEFAULT_SLOTS   1024u
#define SPL_DEFAULT_KEY_MAX 64u
#define SPL_DEFAULT_VAL_MAX 4096u

/* Fill *o with defaults (auto backing, 0600, default geometry; vec_dim is
 * SPL_VEC_DIM_DEFAULT in embeddings builds and 0 otherwise). */
void spl_options_init(spl_options *o);

typedef struct spl_store spl_store;

/* ------------------------------------------------------------------------
 * Lifecycle
 * ---------------------------------------------------------------------- */

/* Create a new store.  name: a plain name (SHM: [A-Za-z0-9._-], 1..200 bytes,
 * not starting with '.'), a path (FILE), or NULL/a label (MEMFD).  The store
 * becomes visible under its name only once fully initialised; mode is applied
 * exactly (0600 by default) whatever the umask; O_EXCL|O_NOFOLLOW.
 * Errors: SPL_EEXIST, SPL_ENAME, SPL_EFORMAT, SPL_EMODE (mode with world
 * bits, or group bits without SPL_O_GROUP), SPL_EINVAL, -errno; placement:
 * SPL_ENOTSUP (a NUMA mode in a build or kernel without NUMA), SPL_ENODE,
 * SPL_ENOHUGE (huge_pages asked, and no huge pages of that size are free,
 * or the SHM/FILE path is not on a hugetlbfs mount).
 * Huge pages: a MEMFD store is made with memfd_create(MFD_HUGETLB); an SHM
 * or FILE store must live on hugetlbfs (a path on such a mount, or
 * $SPLINTER_SHM_DIR there).  The file is rounded up to the huge page size
 * and populated whole at creation (hugetlbfs reserves the pages anyway), so
 * a shortage is SPL_ENOHUGE here and never a SIGBUS later.  A NUMA policy is
 * applied before that, and before the creator writes the header.
 * Concurrency: two creators racing on one name: exactly one succeeds, the
 * other gets SPL_EEXIST. */
int spl_create(spl_store **out, const char *name, const spl_options *opt);

/* Open an existing store (opt may be NULL).  Checks file type, owner, mode,
 * magic, version, layout fingerprint and size.  Errors: SPL_ENOENT,
 * SPL_ENOTREG, SPL_EOWNER, SPL_EMODE, SPL_EMAGIC, SPL_EVERSION, SPL_ELAYOUT,
 * SPL_ESIZE, SPL_EINIT, SPL_ENAME, -errno. */
int spl_open(spl_store **out, const char *name, const spl_options *opt);

/* Open, or create with opt->geom if absent.  If it exists with another
 * geometry (a non-zero field of opt->geom, vec_format or tandem_sep that
 * differs): SPL_EGEOMETRY.
 * Safe against a concurrent creator of the same name. */
int spl_open_or_create(spl_store **out, const char *name, const spl_options *opt);

/* Attach to a store given by a file descriptor (a memfd received from a
 * parent or over a unix socket).  The fd is duplicated; the caller keeps its
 * own.  flags: SPL_O_RDONLY, SPL_O_NOWAIT.  Such a handle reports
 * SPL_BACKING_MEMFD.  The owner check is skipped (the sender chose to
 * share); the rest of spl_open's checks apply.
 * The region must be sealed against shrinking (F_SEAL_SHRINK), so that the
 * sender cannot cut it under the mapping and kill this process with SIGBUS:
 * an unsealed fd (an unsealed memfd, a SHM or FILE store's fd, or any fd
 * where the system has no file seals) is refused with SPL_EUNSEALED, after
 * the file type, mode and magic checks and before anything is mapped.
 * Stores made with SPL_BACKING_MEMFD are sealed at creation (F_SEAL_SHRINK,
 * F_SEAL_GROW, F_SEAL_SEAL).  Open a named store with spl_open instead.
 * Errors: SPL_EINVAL, SPL_ENOTREG, SPL_EMODE, SPL_EMAGIC, SPL_EUNSEALED,
 * SPL_EVERSION, SPL_ELAYOUT, SPL_ESIZE, SPL_EINIT, SPL_ENOMEM, -errno. */
int spl_open_fd(spl_store **out, int fd, uint32_t flags);

/* Unmap and free the handle.  NULL is a no-op.  Not safe concurrently with
 * other calls on the same handle. */
void spl_close(spl_store *s);

/* Unlink a named store (SHM or FILE).  Mapped handles stay valid. */
int spl_destroy(const char *name, const spl_options *opt);

/* msync the whole region (FILE backing; harmless for the others). */
int spl_flush(spl_store *s);

/* The store's file descriptor (valid until spl_close), for spl_fd_send. */
int spl_fd(const spl_store *s);

/* Pass a store fd over a connected AF_UNIX socket (SCM_RIGHTS). */
int spl_fd_send(int sock, int fd);
/* Receive one; *fd_out is a new descriptor owned by the caller. */
int spl_fd_recv(int sock, int *fd_out);

typedef struct spl_info {
    spl_geometry geom;
    spl_backing backing;
    uint32_t probe_max;     /* longest probe sequence an insert may use */
    uint32_t slot_stride;   /* bytes per slot */
    uint64_t region_bytes;  /* size of the mapping */
    uint64_t used;          /* live keys (approximate while writers run) */
    double load;            /* used / slots */
    uint64_t recoveries;    /* slots recovered from dead writers */
    uint64_t changes;       /* store-wide change counter: mutations so far */
    uint32_t probe_longest; /* longest probe distance any home needs now
                               (the unit of probe_max: 0 = the home word) */
    double probe_mean;      /* mean of that distance over homes with keys */
    uint64_t features;      /* SPL_FEAT_* of the store */
    int read_only;
    uint32_t cell_stride;   /* bytes per vector cell (0: no vectors) */
    uint32_t cells_high;    /* vector cells used so far, high-water mark:
                               a search reads this many cells */
    /* Fields below were added with format 3 (exact capacity). */
    uint64_t capacity;      /* keys the store holds at most: = geom.slots */
    uint64_t free;          /* slots holding no key (capacity - used, less
                               inserts in flight) */
    uint32_t index_words;   /* hash index size (a power of two >= 2 x slots) */
    uint32_t undo_recs;     /* undo records: writers overwriting at once */
    /* Fields below were added with placement (docs/PLACEMENT.md). */
    uint64_t page_bytes;    /* page size of the mapping: the huge page size
                               for a store on hugetlbfs, else the base page */
    uint64_t numa_nodes;    /* node mask of numa_mode (nodes 0..63) */
    int32_t numa_mode;      /* the memory policy this process's mapping has
                               (get_mempolicy): an spl_numa_mode, or -1 where
                               unknown (a build without NUMA, or a policy with
                               no SPL_NUMA_* name) */
    uint32_t numa_sampled;  /* pages asked about with move_pages(2): every
                               page, or SPL_NUMA_SAMPLE_MAX spread evenly over
                               the region; 0 in a build without NUMA */
    uint32_t numa_absent;   /* of those, pages with no memory yet (never
                               written: stores are sparse) or swapped out */
    uint32_t numa_pages[SPL_NUMA_NODES_MAX]; /* of those, pages on node n */
    /* Fields below were added with mirrors (mirror/README.md). */
    uint64_t store_id;      /* names this store: a hash of its random hash
                               seed and creation time, fixed at creation
                               (never 0; a byte copy of the file keeps it) */
    /* Fields below were added with sized cell arenas. */
    uint32_t cells;         /* vector cells of the store (0: no vectors) */
    uint32_t cells_used;    /* of those, cells holding a vector now */
    uint64_t resident_bytes; /* bytes of the region in memory (mincore:
                               pages any process has touched; a new store is
                               sparse), against region_bytes mapped */
} spl_info;

enum { SPL_FEAT_EMBEDDINGS = 1u << 0 };

/* Geometry, usage, memory and placement.  Safe from any process at any
 * time.  It reads every index word and slot (O(slots); never the cells);
 * in a SHM or MEMFD store (tmpfs), where reading a page nobody wrote would
 * allocate it, it skips the holes of the file (lseek SEEK_DATA/SEEK_HOLE),
 * which read as zeros.  It asks mincore(2) about every page of the region
 * for resident_bytes.  For
 * the placement fields it asks move_pages(2) where the sampled pages are;
 * a sampled page that is in memory but not yet in this process's page
 * tables is read once first (mincore(2) says which: nothing is allocated). */
int spl_info_get(spl_store *s, spl_info *out);

/* The same, for a caller whose spl_info is `size` bytes (pass sizeof):
 * fields past size are not written, and a caller built with a newer header
 * than the library gets zeros in the fields the library does not know.
 * spl_info_get writes the fields of this version (up to resident_bytes)
 * and will never write fields appended later: new code, and bindings
 * that keep their own copy of the struct, should call this one.
 * SPL_EINVAL: size below offsetof(spl_info, capacity) (the fields before
 * format 3). */
int spl_info_get_n(spl_store *s, spl_info *out, size_t size);

/* ------------------------------------------------------------------------
 * Key-value
 * ---------------------------------------------------------------------- */

typedef enum spl_type {
    SPL_T_VOID = 0,
    SPL_T_INT64 = 1,
    SPL_T_UINT64 = 2,
    SPL_T_JSON = 3,
    SPL_T_BINARY = 4,
    SPL_T_IMAGE = 5,
    SPL_T_AUDIO = 6,
    SPL_T_TEXT = 7,
    SPL__T_COUNT
} spl_type;

const char *spl_type_name(spl_type t); /* "int64", ...; "?" if unknown */
int spl_type_parse(const char *name);  /* spl_type or SPL_EINVAL */

/* Insert or overwrite.  A new key gets type SPL_T_VOID; an overwrite keeps
 * type, flags and labels.  Errors: SPL_EKEYLEN, SPL_E2BIG, SPL_EFULL,
 * SPL_EAGAIN, SPL_EROFS.  Concurrency: lock-free; SPL_EAGAIN while another
 * writer holds the key's slot (or, for a new key, races to insert it).  A
 * caller killed inside leaves the key with its old value or the new one,
 * whole: an overwrite that had armed its record is completed by recovery. */
int spl_set(spl_store *s, const char *key, const void *val, size_t len);

/* Copy a value out.  buf may be NULL with cap 0 for a size query (returns 0
 * and the size).  If cap is too small: SPL_ENOBUFS and *len_out = needed.
 * Errors: SPL_ENOENT, SPL_EKEYLEN, SPL_EAGAIN, SPL_ENOBUFS.  Concurrency:
 * never blocks and never writes; SPL_EAGAIN while a writer is inside. */
int spl_get(spl_store *s, const char *key, void *buf, size_t cap, size_t *len_out);

/* Delete.  Errors: SPL_ENOENT, SPL_EKEYLEN, SPL_EAGAIN, SPL_EROFS.
 * Concurrency: takes the slot's seqlock like any writer. */
int spl_unset(spl_store *s, const char *key);

/* 1 if present, 0 if absent, or SPL_EKEYLEN / SPL_EAGAIN. */
int spl_exists(spl_store *s, const char *key);

/* Append to a value (creating it if absent).  SPL_E2BIG if the result would
 * exceed val_max (nothing is written).  Same contract as spl_set. */
int spl_append(spl_store *s, const char *key, const void *data, size_t len);

/* Compare-and-set against an epoch: write only if the key's epoch is still
 * `expected` (from spl_meta or spl_view).  expected == 0 means "create only
 * if absent".  Errors: SPL_ESTALE (epoch moved), SPL_EEXIST (expected 0 and
 * present), SPL_ENOENT (expected != 0 and absent), plus spl_set's. */
int spl_cas(spl_store *s, const char *key, uint64_t expected,
            const void *val, size_t len);

/* Bounded-retry variants: retry SPL_EAGAIN for up to timeout_us
 * microseconds (counted from the first SPL_EAGAIN), then return SPL_EAGAIN;
 * timeout_us 0 tries once.  Between tries: a short spin, a yield, then, if
 * the same write still holds the slot, a sleep on the slot until its writer
 * commits (a futex; the writer's commit wakes it) or a few milliseconds
 * pass, when the writer's liveness is checked again and a dead writer's slot
 * is recovered.  Concurrency: like the plain call; the sleeper is counted in
 * the store (a read-only handle cannot be: it backs off and retries). */
int spl_set_wait(spl_store *s, const char *key, const void *val, size_t len,
                 uint32_t timeout_us);
int spl_get_wait(spl_store *s, const char *key, void *buf, size_t cap,
                 size_t *len_out, uint32_t timeout_us);
int spl_unset_wait(spl_store *s, const char *key, uint32_t timeout_us);

/* The same wait for any call, for those with no *_wait variant (metadata,
 * labels, append, cas, vectors, watches, ...).  After such a call on `key`
 * returns SPL_EAGAIN, spl_retry_pause waits as the *_wait calls do between
 * tries: a short spin, a yield, then, while the same write still holds the
 * key's slot, a sleep on the slot until its writer commits (a dead writer's
 * slot is recovered).  Returns 0: call again; SPL_EAGAIN: timeout_us (given
 * to spl_retry_init) have passed since the first pause, give up; SPL_EINVAL
 * for a NULL s or r.  write: 1 if the call writes the key (a slot held
 * between a writer's write sections is busy too), 0 if it only reads.  A
 * NULL key (a call with no one key, e.g. spl_vec_search) backs off without
 * sleeping on a slot, as a read-only handle does (it cannot count itself as
 * a sleeper).  One spl_retry per retry loop, in one thread:
 *
 *     spl_retry r;
 *     spl_retry_init(&r, 100000);
 *     while ((rc = spl_labels_set(s, key, mask)) == SPL_EAGAIN &&
 *            spl_retry_pause(s, key, 1, &r) == 0)
 *         ;
 *
 * timeout_us 0: the first pause returns SPL_EAGAIN (no waiting). */
typedef struct spl_retry {
    uint64_t opaque[6];
} spl_retry;
void spl_retry_init(spl_retry *r, uint32_t timeout_us);
int spl_retry_pause(spl_store *s, const char *key, int write, spl_retry *r);

/* ------------------------------------------------------------------------
 * Prepared keys and batches: hash a key once, use it many times
 * ---------------------------------------------------------------------- */

/* A key measured and hashed for one store.  Fill it with spl_key_prep; it
 * points at the caller's string, which must stay valid and unchanged while
 * the prepared key is used (a changed string finds nothing or the wrong
 * key).  It works only with the store it was prepared for (any handle of
 * that store): with another, the calls return SPL_EINVAL. */
typedef struct spl_key {
    const char *key;
    uint32_t len;
    uint32_t home;
    uint64_t fp;
    uint64_t seed; /* the store's hash seed */
} spl_key;

/* Errors: SPL_EINVAL (NULL), SPL_EKEYLEN.  Touches no shared memory. */
int spl_key_prep(spl_store *s, const char *key, spl_key *out);
/* spl_get, spl_set, spl_unset, spl_add with a prepared key: the same
 * results, errors and concurrency contracts, plus SPL_EINVAL for a key
 * prepared for another store. */
int spl_get_k(spl_store *s, const spl_key *k, void *buf, size_t cap, size_t *len_out);
int spl_set_k(spl_store *s, const spl_key *k, const void *val, size_t len);
int spl_unset_k(spl_store *s, const spl_key *k);
int spl_add_k(spl_store *s, const spl_key *k, int64_t delta, int64_t *out);

/* n gets at once: value i goes to bufs + i * stride (at most stride bytes),
 * its length to lens[i] and spl_get_k's result to rcs[i].  The lookups are
 * overlapped (the index words and slots of the next keys are fetched while
 * one is read), so a batch of random keys costs much less than n single
 * gets.  Returns the number of keys found (rcs[i] == 0), or SPL_EINVAL.
 * Concurrency: n independent reads; no snapshot across keys. */
int spl_get_many(spl_store *s, const spl_key *keys, size_t n, void *bufs, size_t stride,
                 size_t *lens, int *rcs);
/* n sets at once: value i is vals + i * stride, lens[i] bytes; rcs[i] gets
 * spl_set_k's result.  Returns the number written, or SPL_EINVAL.  The
 * index words and slots of the next keys are fetched while one is written,
 * so a batch (of inserts too) costs much less than n single sets.
 * Concurrency: n independent writes, each atomic on its own. */
int spl_set_many(spl_store *s, const spl_key *keys, size_t n, const void *vals, size_t stride,
                 const size_t *lens, int *rcs);

/* ------------------------------------------------------------------------
 * Metadata
 * ---------------------------------------------------------------------- */

typedef struct spl_meta {
    uint64_t epoch;    /* even; moves forward on every change to the slot */
    uint64_t labels;   /* 64-bit label mask */
    uint64_t ctime_ns; /* creation, CLOCK_REALTIME (coarse) */
    uint64_t mtime_ns; /* last write, kept by the library */
    uint64_t atime_ns; /* last spl_touch(); reads never write */
    uint32_t val_len;
    uint32_t slot;     /* slot index (diagnostics) */
    uint8_t type;      /* spl_type */
    uint8_t user_flags;
    uint64_t watch;    /* signal groups watching this key (spl_watch) */
} spl_meta;

/* Consistent snapshot of a key's metadata.  Errors: SPL_ENOENT, SPL_EKEYLEN,
 * SPL_EAGAIN.  Concurrency: like spl_get. */
int spl_meta_get(spl_store *s, const char *key, spl_meta *out);

/* Writers of metadata; each takes the slot's seqlock and moves the epoch.
 * Errors: SPL_ENOENT, SPL_EKEYLEN, SPL_EAGAIN, SPL_EROFS, SPL_EINVAL (bad
 * type). */
int spl_type_set(spl_store *s, const char *key, spl_type type);
int spl_flags_set(spl_store *s, const char *key, uint8_t user_flags);
int spl_labels_set(spl_store *s, const char *key, uint64_t mask);   /* OR in */
int spl_labels_clear(spl_store *s, const char *key, uint64_t mask); /* AND out */
int spl_touch(spl_store *s, const char *key); /* atime = now */

/* ------------------------------------------------------------------------
 * Zero-copy reads
 * ---------------------------------------------------------------------- */

typedef struct spl_view {
    const void *data; /* the value where it lies in the shared mapping */
    size_t len;
    uint64_t epoch;   /* the epoch the view was taken at */
    uint32_t slot;
    uint8_t type;
} spl_view;

/* Point at a value in place.  The bytes may change under the caller at any
 * moment; after reading them, call spl_view_valid(): 0 means every byte read
 * between the two calls belonged to the value at v->epoch, SPL_ESTALE means
 * the slot changed and what was read must be discarded.  Errors of spl_get. */
int spl_view_get(spl_store *s, const char *key, spl_view *v);
int spl_view_valid(spl_store *s, const spl_view *v);

/* Run fn on the value in place inside the seqlock; if a writer interfered,
 * run it again (up to a bounded number of times, then SPL_EAGAIN).  fn must
 * only read the bytes, may run more than once, and should be short; its
 * return value is returned by spl_read_with when the read was consistent. */
typedef int (*spl_read_fn)(const void *data, size_t len, void *ud);
int spl_read_with(spl_store *s, const char *key, spl_read_fn fn, void *ud);

/* ------------------------------------------------------------------------
 * Integer operations on 64-bit values (8-byte values of type INT64/UINT64)
 * ---------------------------------------------------------------------- */

typedef enum spl_int_op {
    SPL_OP_ADD = 0, SPL_OP_AND, SPL_OP_OR, SPL_OP_XOR, SPL_OP_NOT, SPL__OP_COUNT
} spl_int_op;

/* Apply op with operand in place and return the new value in *out (may be
 * NULL).  A missing key is created as INT64 0 first.  Never loses an update
 * and never returns SPL_EAGAIN for contention: it retries inside (a dead
 * writer is recovered).  Errors: SPL_ETYPE (value not 8 bytes of type
 * INT64/UINT64), SPL_EKEYLEN, SPL_EFULL, SPL_EROFS, SPL_EINVAL. */
int spl_int(spl_store *s, const char *key, spl_int_op op, uint64_t operand,
            uint64_t *out);
int spl_add(spl_store *s, const char *key, int64_t delta, int64_t *out);
int spl_inc(spl_store *s, const char *key, int64_t *out);
int spl_dec(spl_store *s, const char *key, int64_t *out);
/* spl_int that does not wait: SPL_EAGAIN at once where spl_int would wait
 * (the key's slot held by another writer, or another insert of the key in
 * flight), having changed nothing; the rest as spl_int.  For callers with
 * a retry policy of their own, and those that must not sleep; spl_int is
 * the waiting variant.  spl_int_try_k: with a
 * prepared key (spl_key_prep), plus SPL_EINVAL for a key prepared for
 * another store. */
int spl_int_try(spl_store *s, const char *key, spl_int_op op, uint64_t operand,
                uint64_t *out);
int spl_int_try_k(spl_store *s, const spl_key *k, spl_int_op op, uint64_t operand,
                  uint64_t *out);
/* spl_int with the wait of the *_wait calls: contention is retried (spin,
 * yield, then sleep on the slot until its writer commits; a dead writer's
 * slot is recovered) for up to timeout_us microseconds, counted from the
 * first busy slot, then SPL_EAGAIN, nothing changed; timeout_us 0 is
 * spl_int_try.  For callers with a time limit of their own (spl_int's is
 * 10 s, then SPL_ETIMEDOUT).  spl_int_wait_k: with a prepared key, as
 * spl_int_try_k. */
int spl_int_wait(spl_store *s, const char *key, spl_int_op op, uint64_t operand,
                 uint64_t *out, uint32_t timeout_us);
int spl_int_wait_k(spl_store *s, const spl_key *k, spl_int_op op, uint64_t operand,
                   uint64_t *out, uint32_t timeout_us);

/* ------------------------------------------------------------------------
 * Iteration
 * ---------------------------------------------------------------------- */

typedef struct spl_entry {
    const char *key;      /* NUL-terminated copy, valid during the callback */
    size_t key_len;
    const void *val;      /* copy of the value, or NULL unless SPL_F_VALUES */
    spl_meta meta;
} spl_entry;

enum {
    SPL_F_VALUES = 1u << 0,     /* copy values into entries */
    SPL_F_LABELS_ANY = 1u << 1  /* labels: match any bit (default: all) */
};

typedef struct spl_filter {
    const char *prefix; /* NULL = any */
    const char *glob;   /* fnmatch(3) pattern, NULL = any */
    uint64_t labels;    /* 0 = any */
    uint32_t flags;     /* SPL_F_* */
} spl_filter;

/* Return non-zero from the callback to stop; that value is returned. */
typedef int (*spl_iter_fn)(const spl_entry *e, void *ud);

/* Visit every live key matching the filter (f may be NULL), each read
 * consistently.  A key that is inside a write when the scan reaches it is
 * never skipped: the scan waits for the write to end (sleeping on the slot
 * until the writer commits; a dead writer's slot is recovered) and lists
 * the key with its value from before or after it.  Keys inserted or deleted
 * during the scan may or may not be listed.  A writer that stays inside
 * one write for 2 s (stopped, not dead) ends the scan with SPL_EAGAIN; so
 * does, at once, a dead writer's slot on a read-only handle (only a
 * writable handle can recover it).
 * O(slots); in a SHM or MEMFD store it skips the slots in holes of the file
 * (never written: no key), so a scan keeps it sparse.  Returns 0, the
 * callback's non-zero value, or an error. */
int spl_foreach(spl_store *s, const spl_filter *f, spl_iter_fn fn, void *ud);

/* ------------------------------------------------------------------------
 * Signals (docs/SIGNALS.md)
 *
 * A store has SPL_GROUPS signal groups, each with a pulse counter that only
 * grows.  A mutation pulses the groups of its slot: the key's watches plus
 * the groups bound to each of its label bits.  Pulsed: set, append, cas,
 * unset, integer ops, type/flags/label changes, vector writes, spl_bump.
 * Not pulsed: spl_touch, spl_watch/spl_bind themselves.  Processes follow
 * groups through subscriptions (spl_sub_open) and sleep on a futex in the
 * shared region (no daemon, no owner process).  A writer pays one load per
 * group nobody follows, and makes a system call only when someone sleeps on
 * a group it pulses.
 * Timeouts are in nanoseconds: < 0 waits for ever, 0 only checks.
 * ---------------------------------------------------------------------- */

#define SPL_GROUPS 64

/* Key watches: OR groups into / AND them out of the key's watch mask.  The
 * mask belongs to the key and ends with it (spl_unset clears it).
 * Errors: SPL_ENOENT, SPL_EKEYLEN, SPL_EAGAIN, SPL_EROFS. */
int spl_watch(spl_store *s, const char *key, uint64_t groups);
int spl_unwatch(spl_store *s, const char *key, uint64_t groups);

/* Label routing: a key carrying label bit `bit` (0..63) pulses `groups`;
 * bit SPL_BIND_ALL routes every key, labelled or not (a follower of a whole
 * store or of a key prefix: a new key is heard at its first write).
 * Bindings are store-wide and take effect on the next mutation.
 * Errors: SPL_EINVAL (bit > SPL_BIND_ALL), SPL_EROFS. */
#define SPL_BIND_ALL 64u
int spl_bind(spl_store *s, unsigned bit, uint64_t groups);
int spl_unbind(spl_store *s, unsigned bit, uint64_t groups);
int spl_bind_get(spl_store *s, unsigned bit, uint64_t *groups);

/* Pulse the key's groups without writing it (its epoch does not move), or
 * pulse groups directly.  Errors: SPL_ENOENT, SPL_EKEYLEN, SPL_EAGAIN,
 * SPL_EROFS. */
int spl_bump(spl_store *s, const char *key);
int spl_signal(spl_store *s, uint64_t groups);

/* The pulse counter of one group (0..63).  It counts the pulses made while
 * the group was followed by at least one subscription: a pulse nobody can
 * observe is not counted, which keeps it free for writers (one load).  The
 * store-wide change counter (spl_info.changes) counts every mutation. */
int spl_pulses(spl_store *s, unsigned group, uint64_t *count);

/* The store-wide change counter alone (spl_info.changes without the slot
 * count spl_info_get makes): one relaxed load per stripe.  An index kept
 * beside the store records the counter it has caught up with and compares
 * (fragments/hnsw).  Safe from any process; 0 for NULL. */
uint64_t spl_changes(spl_store *s);

/* Block until key's epoch moves past `epoch` (pass the epoch last seen, from
 * spl_meta_get; an older one returns at once).  Returns 0 with *epoch_out
 * the new epoch; SPL_ENOENT at once if the key is absent, or as soon as it
 * is deleted; SPL_ETIMEDOUT.  A live writer inside the key's slot is
 * waited for asleep on the slot (its commit wakes the waiter); one that died
 * mid-write is recovered by the waiter (after the usual 1 ms liveness
 * interval, within 8 ms), never waited on.  Needs no subscription.  Also SPL_EROFS (a sleeper counts itself in the
 * store), SPL_EKEYLEN, SPL_EINVAL. */
int spl_key_wait(spl_store *s, const char *key, uint64_t epoch, int64_t timeout_ns,
                 uint64_t *epoch_out);

/* ---- subscriptions and the change feed ---------------------------------
 * A subscription follows a set of groups: it can wait for them, read which
 * keys changed (the change feed: a store-wide ring of recent changes that
 * pulsed at least one subscribed group), and give a pollable descriptor.
 * One subscription is used by one thread at a time, and belongs to the
 * process that opened it: a child after fork opens its own. */

typedef struct spl_sub spl_sub;

enum spl_event_kind {
    SPL_EV_CHANGED = 1, /* the key was written (value, metadata, vector) */
    SPL_EV_DELETED = 2, /* the key was unset */
    SPL_EV_BUMPED = 3,  /* spl_bump on the key */
    SPL_EV_SIGNAL = 4,  /* spl_signal: no key */
    SPL_EV_UNKNOWN = 5  /* the slot has moved on since: key no longer known */
};

#define SPL_EV_NOSLOT 0xffffffffu

typedef struct spl_event {
    uint64_t seq;    /* position in the feed */
    uint64_t epoch;  /* the slot's epoch after this change (0: SPL_EV_SIGNAL) */
    uint64_t groups; /* groups the change pulsed */
    uint32_t slot;   /* slot index, or SPL_EV_NOSLOT */
    uint32_t kind;   /* enum spl_event_kind */
    size_t key_len;  /* key copied to the caller's buffer (NUL-terminated) */
} spl_event;

/* Subscribe to groups (non-zero mask).  The feed starts now: every mutation
 * that starts after this returns is seen.  Errors: SPL_EINVAL, SPL_ENOMEM,
 * SPL_EROFS (a subscriber counts itself in the store). */
int spl_sub_open(spl_store *s, uint64_t groups, spl_sub **out);
void spl_sub_close(spl_sub *sub);

/* Wait until a subscribed group pulses after the previous wait (or the
 * open); *fired gets the groups that moved.  Errors: SPL_ETIMEDOUT. */
int spl_sub_wait(spl_sub *sub, int64_t timeout_ns, uint64_t *fired);

/* The group's pulse counter as the subscription last saw it (at the open or
 * the last spl_sub_wait): the pulses it has been woken for add up to the
 * difference between two readings.  Errors: SPL_EINVAL. */
int spl_sub_seen(spl_sub *sub, unsigned group, uint64_t *count);

/* Next change that pulsed a subscribed group.  The key is copied into
 * key[cap] (cap >= key_max + 1 always suffices; shorter gives SPL_ENOBUFS and
 * the event is not consumed).  Returns 0, SPL_ENOENT (nothing new), or
 * SPL_EOVERFLOW: events were overwritten or lost before they were read; the
 * feed has skipped ahead and the caller should rescan (spl_foreach). */
int spl_sub_next(spl_sub *sub, spl_event *ev, char *key, size_t cap);

/* A descriptor (eventfd) that becomes readable when a subscribed group
 * pulses; read 8 bytes to re-arm.  It is fed by a thread of this process
 * sleeping on the store's futex (see docs/SIGNALS.md for the cost).  Owned
 * by the subscription: closed by spl_sub_close.  Errors: -errno. */
int spl_sub_fd(spl_sub *sub);

/* Waiter records of processes that died while waiting are swept at every
 * spl_sub_open and by this call; returns the number swept. */
int spl_signal_repair(spl_store *s);

/* ------------------------------------------------------------------------
 * Vectors (embeddings builds; docs/VECTORS.md)
 *
 * Each slot may hold one vector of the store's vec_dim elements next to its
 * value.  The store's format (spl_options.vec_format, fixed at create) says
 * how elements are kept: float32, float16, or int8 with a per-vector scale.
 * Callers always pass and receive float32.  In a WITH_EMBEDDINGS=0 build
 * every call below returns SPL_ENOTSUP (the symbols exist in both builds),
 * except the tandem calls for values, which work in both.
 * ---------------------------------------------------------------------- */

typedef enum spl_vec_format {
    SPL_VEC_F32 = 0, /* 4 bytes per element, exact */
    SPL_VEC_F16 = 1, /* IEEE half, 2 bytes; |x| <= 65504 (else SPL_ERANGE) */
    SPL_VEC_I8 = 2,  /* 1 byte, symmetric per-vector scale max|x|/127 */
    SPL__VEC_FORMAT_COUNT
} spl_vec_format;

typedef enum spl_metric {
    SPL_METRIC_COSINE = 0, /* dot / (|q| |x|), higher first; 0 if a norm is 0 */
    SPL_METRIC_DOT = 1,    /* dot product, higher first */
    SPL_METRIC_L2 = 2,     /* Euclidean distance, lower first */
    SPL__METRIC_COUNT
} spl_metric;

#define SPL_VEC_K_LIMIT     4096u /* largest k a search accepts */
#define SPL_VEC_BATCH_LIMIT 4096u /* most queries one spl_vec_search_many takes */

/* Store vec (dim floats, dim == the store's vec_dim) under key, creating the
 * key with an empty value (type VOID) if absent; the value, type, labels
 * and flags of an existing key are kept.  The per-vector norm (and, for
 * I8, scale) is computed and stored with it.  Pulses the slot's signal
 * groups.  Errors: SPL_EDIM, SPL_ENAN (NaN, infinity, or a norm that
 * overflows float), SPL_ERANGE (F16: element beyond +-65504), SPL_EKEYLEN,
 * SPL_EFULL (no slot for a new key), SPL_ENOCELL (the key holds no vector
 * and every cell holds one: a store created with fewer cells than slots;
 * a key that did not exist is then not left behind: if another writer
 * took the last cell after this call made the key, the call deletes it
 * again), SPL_EAGAIN, SPL_EROFS, SPL_EINVAL, SPL_ENOTSUP.
 * Concurrency: a writer like spl_set; readers see the old or the new vector,
 * never a mix. */
int spl_vec_set(spl_store *s, const char *key, const float *vec, uint32_t dim);

/* Epoch-conditioned spl_vec_set: write vec only if key's epoch is still
 * `epoch` (compared under the slot's lock), e.g. the epoch at which the
 * text that vec embeds was read.  Any write to the slot since then counts
 * as a change (value, metadata, labels, and vector writes too: the vector
 * write itself moves the epoch), so a caller refused with SPL_ESTALE
 * re-reads the value and its epoch and decides again (its text may be
 * unchanged).  On success the key's epoch is exactly epoch + 2, which lets
 * a follower of the key tell its own vector write from a change.  Unlike
 * spl_vec_set it never creates the key.  Errors: SPL_ESTALE (the epoch
 * moved; nothing written), SPL_ENOENT (no such key), SPL_EINVAL (odd epoch),
 * and spl_vec_set's.  Concurrency: a writer like spl_vec_set (same undo
 * record: a writer that dies inside is rolled back). */
int spl_vec_set_if(spl_store *s, const char *key, uint64_t epoch, const float *vec, uint32_t dim);
/* Bulk load: n vectors (vecs is n x dim floats, row i for keys[i]), each
 * stored as by spl_vec_set, in order; a key that meets SPL_EAGAIN is
 * waited for as spl_set_wait does (asleep on its slot) for up to
 * timeout_us.  Stops at the first error:
 * *done (may be NULL) gets the number stored before it (n on success).
 * Cheaper than n calls: one scratch buffer for the encoding.  Errors:
 * spl_vec_set's (of vector *done); SPL_EINVAL (a NULL key or array).
 * Concurrency: n writers one after the other; each vector is atomic, the
 * batch is not. */
int spl_vec_set_many(spl_store *s, const char *const *keys, const float *vecs, uint32_t n,
                     uint32_t dim, uint32_t timeout_us, uint32_t *done);

/* Copy key's vector out as float32 (F16/I8 are converted back).  out holds
 * dim floats, dim == vec_dim.  epoch_out (may be NULL) gets the slot epoch
 * the copy belongs to.  Errors: SPL_ENOENT, SPL_ENOVEC, SPL_EDIM,
 * SPL_EKEYLEN, SPL_EAGAIN, SPL_ECORRUPT, SPL_EINVAL, SPL_ENOTSUP.
 * Concurrency: like spl_get; never returns a torn vector. */
int spl_vec_get(spl_store *s, const char *key, float *out, uint32_t dim, uint64_t *epoch_out);

/* Remove key's vector (the key and value stay).  Pulses the slot's groups.
 * Errors: SPL_ENOENT, SPL_ENOVEC (nothing to clear; nothing written),
 * SPL_EKEYLEN, SPL_EAGAIN, SPL_EROFS, SPL_ENOTSUP.  Concurrency: a writer. */
int spl_vec_clear(spl_store *s, const char *key);

enum {
    /* spl_vec_query.flags (SPL_F_LABELS_ANY from spl_filter also applies) */
    SPL_VQ_SKIP_SELF = 1u << 8, /* query by key: leave that key out */
    SPL_VQ_ANN = 1u << 9        /* approximate: ask the handle's ANN provider
                                   (spl_vec_ann_set) with `ef`; the exact scan
                                   answers when there is none or it declines */
};

typedef struct spl_vec_query {
    const float *vec;  /* the query (dim floats), or NULL to use key's vector */
    const char *key;   /* used when vec is NULL: the key of a stored vector */
    uint32_t dim;      /* with vec: must equal vec_dim (else SPL_EDIM) */
    uint32_t k;        /* results wanted, 1..SPL_VEC_K_LIMIT */
    spl_metric metric;
    uint32_t flags;    /* SPL_F_LABELS_ANY, SPL_VQ_SKIP_SELF, SPL_VQ_ANN */
    uint64_t labels;   /* label filter: all bits (default) or any bit; 0 = any */
    const char *prefix;/* key prefix filter; NULL = any */
    uint32_t threads;  /* split the scan over this many threads (0, 1 = the
                          caller's thread only; at most 64) */
    /* Added with ANN providers.  Read only when flags has SPL_VQ_ANN, so a
     * query built by code compiled before it is never read past its end. */
    uint32_t ef;       /* ANN: candidates kept while searching (0: the
                          provider's default; raised to k) */
} spl_vec_query;

typedef struct spl_vec_hit {
    const char *key;   /* NUL-terminated, inside the result block */
    size_t key_len;
    float score;       /* cosine, dot, or L2 distance (see spl_metric) */
    uint32_t slot;     /* the key's slot: a stable numeric id for the key
                          while it lives (spl_unset frees it; a key set
                          again may get another slot, and the slot another
                          key).  Pair it with epoch to know it still holds
                          the vector that was scored. */
    uint64_t epoch;    /* the slot epoch the scored vector belongs to */
} spl_vec_hit;

typedef struct spl_vec_result {
    uint32_t n;         /* hits filled, <= k (fewer vectors matched) */
    uint64_t scanned;   /* vectors scored */
    uint64_t skipped;   /* vectors skipped: kept changing during the scan */
    spl_vec_hit *hits;  /* n hits, best first; ties by key bytes ascending */
    uint32_t flags;     /* added with ANN providers: SPL_VR_ANN */
} spl_vec_result;

enum { SPL_VR_ANN = 1u << 0 /* the hits came from an ANN index: approximate */ };

/* Exact top-k over every slot holding a vector that passes the filters.
 * Every scored vector was read consistently (inside its seqlock); a vector
 * that keeps changing is retried a few times, then skipped and counted.
 * A key appears at most once: one deleted and set again during the scan
 * (so in another slot) is reported with its newest vector, and the result
 * may then hold fewer than k hits.  *out is one block; free it with
 * spl_vec_result_free.  threads is an upper bound: a search too small to
 * gain from splitting runs on fewer (docs/VECTORS.md, "Threads"); the
 * threads are the handle's pool, started on first use and joined by
 * spl_close.  In an SPL_VEC_I8 store the query is quantized to int8 like
 * the stored vectors (symmetric, max|q|/127) and scores are int8 x int8
 * dot products, scaled.  Errors: SPL_EINVAL (k 0 or > SPL_VEC_K_LIMIT, bad
 * metric, no vec and no key, threads > 64), SPL_EDIM, SPL_ENAN (query),
 * and, for a query by key, spl_vec_get's; SPL_ENOMEM, SPL_ENOTSUP (no
 * vectors in this store or build).
 * Concurrency: a reader; never blocks writers and never writes. */
int spl_vec_search(spl_store *s, const spl_vec_query *q, spl_vec_result **out);

/* Many queries in one pass: nq queries (1..SPL_VEC_BATCH_LIMIT) that share
 * k, metric, flags, labels, prefix and threads (each has its own vec, or
 * key, and SPL_VQ_SKIP_SELF is each query's own) are scored together while each vector is in cache, so a batch costs
 * far less than nq searches.  out[j] gets query j's result, exactly what
 * spl_vec_search(&qs[j]) would return on the same data (same scores to the
 * bit, same ties, same consistency); free each with spl_vec_result_free.
 * Errors: spl_vec_search's, and SPL_EINVAL for nq 0 or too large or
 * queries that differ in a shared field; on error every out[j] is NULL
 * (except for a bad nq: then out is left alone).
 * Concurrency: as spl_vec_search. */
int spl_vec_search_many(spl_store *s, const spl_vec_query *qs, uint32_t nq,
                        spl_vec_result **out);
void spl_vec_result_free(spl_vec_result *r);

/* ANN providers.  An approximate index (fragments/hnsw) registers a search
 * function on a handle; spl_vec_search calls it for queries with SPL_VQ_ANN
 * (after checking the query as for an exact search).  The provider returns
 * 0 with *out, one block from malloc(3) laid out like the exact search's
 * (spl_vec_result_free frees it) with SPL_VR_ANN in flags; SPL_ESTALE or
 * SPL_ENOTSUP to decline (no live index, the index lags, another metric):
 * the exact scan then answers; any other code is returned as is.  Hits
 * must follow the exact search's contract (each a key holding that vector
 * at `epoch`, with its score).  fn NULL removes the provider.  Errors:
 * SPL_EINVAL, SPL_ENOTSUP (no vectors).  Concurrency: set it before other
 * threads search on the handle; the provider is called from any thread
 * that searches. */
typedef int (*spl_vec_ann_fn)(void *ud, spl_store *s, const spl_vec_query *q,
                              spl_vec_result **out);
int spl_vec_ann_set(spl_store *s, spl_vec_ann_fn fn, void *ud);

/* The SIMD path in use ("avx512vnni", "avx512", "avxvnni", "avx2", "sse",
 * "neon" or "scalar"),
 * chosen once per process by CPU detection at the first open or create
 * ($SPLINTER_SIMD, if set to one of the names the CPU can run, overrides).
 * Never NULL ("none" in a WITH_EMBEDDINGS=0 build). */
const char *spl_vec_simd(void);
/* Use the named path from now on (tests and benchmarks).  Errors:
 * SPL_ENOTSUP (unknown name, or the CPU cannot run it; the path is kept).
 * Concurrency: safe at any time; searches in flight finish on either. */
int spl_vec_simd_force(const char *name);

/* ------------------------------------------------------------------------
 * Tandem keys: an ordered group base, base<sep>1, base<sep>2, ... (sep is
 * the store's tandem separator, '.' by default).  Each member is an ordinary
 * key, written atomically on its own; the GROUP is not atomic: a reader
 * may see some members old and some new while a group is rewritten.  Order
 * of writes: members 1..n-1 in order, the base last (so a watcher of the
 * base wakes once the rest is in place); surplus members of an older,
 * longer group are then deleted from the end down, so the members present
 * are always a gap-free run from the base.  See docs/VECTORS.md.
 * ---------------------------------------------------------------------- */

/* Write member i's key name into out (cap bytes).  Returns the name's
 * length, SPL_EKEYLEN (name longer than key_max, or base empty),
 * SPL_ENOBUFS (cap too small), SPL_EINVAL. */
int spl_tandem_key(spl_store *s, const char *base, uint32_t i, char *out, size_t cap);

/* Write n values as the group under base (vals[i], lens[i]), then delete
 * surplus members.  Errors of spl_set and spl_unset (the group may then be
 * partly written), SPL_EINVAL (n 0).  Retries SPL_EAGAIN for up to
 * timeout_us per member. */
int spl_tandem_set(spl_store *s, const char *base, const void *const *vals, const size_t *lens,
                   uint32_t n, uint32_t timeout_us);

/* Read member i (spl_get semantics). */
int spl_tandem_get(spl_store *s, const char *base, uint32_t i, void *buf, size_t cap,
                   size_t *len_out);

/* Number of members: base, base<sep>1, ... up to the first absent one.
 * Errors: SPL_EKEYLEN, SPL_EAGAIN, SPL_EINVAL. */
int spl_tandem_count(spl_store *s, const char *base);

/* Delete every member, last first.  Returns how many were deleted, or an
 * error of spl_unset (retried for up to timeout_us per member). */
int spl_tandem_unset(spl_store *s, const char *base, uint32_t timeout_us);

/* Vectors as a group: n vectors of dim floats each (vecs is n*dim floats),
 * member i gets vector i (members are created with an empty value if
 * absent).  Surplus members of an older group are deleted.  A member that
 * meets SPL_EAGAIN is waited for as spl_set_wait does, up to timeout_us.
 * Errors of spl_vec_set and spl_unset; SPL_ENOTSUP without embeddings. */
int spl_tandem_vec_set(spl_store *s, const char *base, const float *vecs, uint32_t n,
                       uint32_t dim, uint32_t timeout_us);
/* Vector of member i (spl_vec_get semantics). */
int spl_tandem_vec_get(spl_store *s, const char *base, uint32_t i, float *out, uint32_t dim);

/* ------------------------------------------------------------------------
 * Fragments: loadable modules driven by the change feed (docs/FRAGMENTS.md).
 * Writing one: include/splinter_fragment.h (the fragment ABI).  This part is
 * for programs that manage them: register (insmod), list (lsmod), remove
 * (rmmod), call their commands, and host them.
 *
 * The store's registry (SPL_FRAG_MAX entries) records each fragment
 * instance: name, library path, arguments, state, the host process (owner
 * id: pid + start time, as for slot writers), a heartbeat, counters and a
 * command mailbox.  Any process can read it; a host that died is seen as
 * dead (SPL_FRAG_DEAD) like a dead writer.  Hosts follow two reserved
 * signal groups: SPL_FRAG_GROUP_CTL (wake-ups for commands, stops and new
 * registrations) and SPL_FRAG_GROUP_KEYS (every key while a fragment
 * follows a prefix or glob; the label bits fragments follow).
 * ---------------------------------------------------------------------- */

#define SPL_FRAG_MAX        8u    /* fragment instances per store */
#define SPL_FRAG_NAME_MAX   31u   /* [a-z0-9_-], starting with a letter */
#define SPL_FRAG_PATH_MAX   511u
#define SPL_FRAG_ARGS_MAX   511u  /* bytes of all arguments, NUL-separated */
#define SPL_FRAG_ARGC_MAX   32u
#define SPL_FRAG_REQ_MAX    511u  /* bytes of a command and its arguments */
#define SPL_FRAG_REPLY_MAX  2047u /* bytes of a command's reply */
#define SPL_FRAG_GROUP_CTL  60u
#define SPL_FRAG_GROUP_KEYS 61u

typedef enum spl_frag_state {
    SPL_FRAG_FREE = 0,       /* (an unused entry; never reported) */
    SPL_FRAG_REGISTERED = 1, /* registered, waiting for a host */
    SPL_FRAG_STARTING = 2,   /* a host is loading and starting it */
    SPL_FRAG_RUNNING = 3,
    SPL_FRAG_STOPPING = 4,   /* rmmod asked; its host finishes the batch in hand */
    SPL_FRAG_FAILED = 5,     /* did not load or start: see err and errmsg */
    SPL_FRAG_DEAD = 6        /* reported only: its host process died */
} spl_frag_state;

const char *spl_frag_state_name(int state); /* "running", ...; "?" if unknown */

typedef struct spl_frag_info {
    char name[SPL_FRAG_NAME_MAX + 1];
    char version[32];         /* the fragment's own version */
    char summary[96];         /* its one-line description */
    char errmsg[96];          /* why it failed, or "" */
    char path[SPL_FRAG_PATH_MAX + 1];
    char args[SPL_FRAG_ARGS_MAX + 1]; /* argc arguments, each NUL-terminated */
    uint32_t argc;
    uint32_t abi;             /* fragment ABI version it asked for */
    int32_t state;            /* spl_frag_state; DEAD when the host died */
    int32_t err;              /* last error code (0 none) */
    int32_t host_pid;         /* 0: no host */
    uint32_t index;           /* registry entry */
    uint64_t host_id;         /* owner id of the host (pid << 32 | start stamp) */
    uint64_t registered_ns;   /* CLOCK_REALTIME */
    uint64_t started_ns;      /* CLOCK_REALTIME of the last start, 0 never */
    uint64_t heartbeat_age_ns;/* since the host's last sign of life (UINT64_MAX: none) */
    uint64_t events;          /* events handed to the fragment */
    uint64_t errors;          /* callbacks that returned an error */
    uint64_t resyncs;         /* rescans: at start and after feed overflow */
    uint64_t restarts;
    uint64_t lag;             /* pulses of its groups its host has not consumed yet */
    uint64_t groups;          /* groups its host follows for it */
    uint64_t labels;          /* label bits bound to SPL_FRAG_GROUP_KEYS for it */
    double events_per_s;      /* over the host's last interval (about 1 s) */
} spl_frag_info;

/* A fragment library by name: NAME (no '/') is looked up as NAME.so in
 * $SPLINTER_FRAG_PATH (colon-separated), then `dir` (may be NULL; the CLI
 * passes its own directory's fragments/), then the install directory
 * (LIBDIR/splinter/fragments).  A path (with '/') is taken as it is.  The
 * absolute path goes to out.  Errors: SPL_ENOENT, SPL_ENAME (too long). */
int spl_frag_find(const char *name_or_path, const char *dir, char *out, size_t cap);

/* The detail of this thread's last failed spl_frag_* or spl_host_* call
 * (dlerror's text, the fragment's message, ...), or "".  Never NULL. */
const char *spl_frag_errmsg(void);

enum {
    SPL_FRAG_F_NOPROBE = 1u << 0 /* register without loading the library here */
};

/* Register a fragment: load the library here (dlopen), check its entry
 * point, ABI version and options, then add it to the registry as
 * REGISTERED and wake running hosts.  `as` names the instance (NULL: the
 * fragment's own name).  A name already registered is SPL_EEXIST unless its
 * host died or it failed: then it is registered again (restarts + 1), with
 * the new path and arguments.  name_out (may be NULL) gets the name.
 * Errors: SPL_ELOAD (dlopen failed), SPL_ENOSYM, SPL_EABI, SPL_EACCES (the
 * library is not owned by this user or root, is writable by others, or lies
 * in a folder others may change: hosts refuse it too), SPL_EINVAL (an
 * argument not NAME=VALUE of a declared option), SPL_ENAME (bad name),
 * SPL_E2BIG (arguments too long or too many), SPL_EEXIST, SPL_EFULL
 * (SPL_FRAG_MAX registered), SPL_EROFS.  spl_frag_errmsg() has details.
 * Concurrency: safe from any process; registrations are serialised by the
 * registry lock (taken over from a holder that died). */
int spl_frag_register(spl_store *s, const char *path, const char *as, int argc,
                      const char *const *argv, uint32_t flags, char *name_out, size_t cap);

/* Stop and remove a fragment.  A running one is asked to stop (its host
 * finishes the batch in hand, calls stop and frees the entry) and waited
 * for up to timeout_ns (< 0: for ever); one with no live host is removed at
 * once.  Errors: SPL_ENOENT, SPL_ETIMEDOUT (asked, not stopped yet),
 * SPL_EROFS. */
int spl_frag_unregister(spl_store *s, const char *name, int64_t timeout_ns);

/* Up to cap entries (registry order); returns how many are registered
 * (may exceed cap).  Safe from any process, read-only handles included. */
int spl_frag_list(spl_store *s, spl_frag_info *out, uint32_t cap);
/* One by name.  Errors: SPL_ENOENT. */
int spl_frag_get(spl_store *s, const char *name, spl_frag_info *out);

/* Wait until the fragment's state is in `states` (a mask of 1u << state;
 * DEAD counts as its own state) or it is removed (SPL_ENOENT).  *out (may
 * be NULL) gets its info.  Errors: SPL_ENOENT, SPL_ETIMEDOUT, SPL_EROFS. */
int spl_frag_wait(spl_store *s, const char *name, uint32_t states, int64_t timeout_ns,
                  spl_frag_info *out);

/* Call a fragment's command across processes: argv[0] is the command.
 * The reply (JSON text, NUL-terminated) goes to reply[cap]; *len_out (may
 * be NULL) gets its length.  Returns the command's result: 0, or its
 * negative code (the reply then says why).  Errors: SPL_ENOENT (no such
 * fragment), SPL_ENOHOST (not running, or its host died meanwhile),
 * SPL_E2BIG (request over SPL_FRAG_REQ_MAX), SPL_ENOBUFS (reply longer
 * than cap; *len_out has its length), SPL_ETIMEDOUT, SPL_EROFS, or what
 * the command returned.  Concurrency: one command at a time per fragment
 * (others wait for the mailbox, within the timeout). */
int spl_frag_call(spl_store *s, const char *name, int argc, const char *const *argv, char *reply,
                  size_t cap, size_t *len_out, int64_t timeout_ns);

/* ---- hosting: a process that loads fragments (dlopen) and feeds them ---- */

enum {
    SPL_HOST_SERVE = 1u << 0,   /* also take fragments registered later; keep
                                   running with none until stopped */
    SPL_HOST_RESTART = 1u << 1, /* also take over fragments whose host died
                                   (any time), and failed ones (at start) */
};

typedef struct spl_host_opts {
    uint32_t version; /* SPL_HOST_OPTS_VERSION */
    uint32_t flags;   /* SPL_HOST_* */
    const char *only; /* host only this fragment (NULL: every one it may take) */
    int log_fd;       /* log lines go here (-1: nowhere) */
} spl_host_opts;
#define SPL_HOST_OPTS_VERSION 1u

/* Run a host in the calling thread: claim registered fragments (CAS on the
 * entry's host id), load each, run it on a thread of its own, fed from the
 * change feed through a subscription (futex wake-ups; no polling), with a
 * resync after a feed overflow.  Returns when spl_host_stop is called, or,
 * without SPL_HOST_SERVE, when none of its fragments is left (returns 0),
 * or SPL_ENOENT if it found none to take.  Fragments still running are
 * stopped and left REGISTERED for the next host.  A fragment that crashes
 * takes its host process with it (run one per process to isolate them).
 * Errors: SPL_EROFS, SPL_EINVAL, SPL_ENOMEM. */
int spl_host_run(spl_store *s, const spl_host_opts *o);

/* Ask every spl_host_run of this process on s to return (async-signal-safe:
 * a flag and a wake-up).  Returns 0. */
int spl_host_stop(spl_store *s);

/* Start a host in a new background process (fork twice, setsid; the
 * grandchild keeps only the store's descriptor and o->log_fd, with /dev/null
 * as stdin/stdout and the log, or /dev/null, as stderr) running
 * spl_host_run(s, o).  Returns the host's pid.  Call it from a
 * single-threaded process (the host runs without exec).  Errors: -errno. */
int spl_host_spawn(spl_store *s, const spl_host_opts *o);

/* ---- regions: shared memory a fragment keeps beside the store ----------
 * A fragment asks its host for named regions (splinter_fragment.h); each
 * is a file beside the store (STORE.frag.FRAGMENT.REGION, same directory,
 * the store's mode), stamped with the store's identity so a region of an
 * earlier store of the same name is never taken for this one's.  Other
 * processes map them read-only here.  Not for MEMFD stores (SPL_ENOTSUP). */
int spl_frag_region_map(spl_store *s, const char *frag, const char *region, const void **addr,
                        size_t *len);
void spl_frag_region_unmap(const void *addr, size_t len);
/* Remove a fragment's regions (region NULL: all of them).  Returns how
 * many were removed.  Errors: SPL_ENOTSUP, SPL_ENAME. */
int spl_frag_region_unlink(spl_store *s, const char *frag, const char *region);

#ifdef __cplusplus
}
#endif
#endif /* SPLINTER_H */
