/*
 * layout.h - every structure that lives in shared memory, in one place.
 *
 * Rules: fixed-width types only; offsets, never pointers; 64-byte lines
 * between fields written by different parties; named spare fields; sizes and
 * offsets pinned by _Static_assert.  Everything read from here is untrusted
 * (see docs/PROTOCOL.md, "Hostile peers").
 *
 * Region (byte offsets):
 *
 *   0        4096                      slots_off          sig_off   undo_off  cells_off  reg_off    total
 *   +--------+-------------------------+------------------+---------+---------+----------+----------+
 *   | header | index: index_words x u64| slots x stride   | signals | undo    | cells    | registry |
 *   +--------+-------------------------+------------------+---------+---------+----------+----------+
 *
 * The index is a hash table apart from the slots: index_words (a power of
 * two, at least twice the slot count, so it stays at most half full) words,
 * each naming the slot that holds its key.  Slots are taken from the slot
 * array wherever one is free, so a store holds exactly as many keys as it
 * has slots.  The undo records (undo_recs x undo_stride) keep what an
 * in-place overwrite replaces until it is done.
 *
 * The cell arena (vector builds with vec_dim > 0 only; else cells_off = 0 and
 * the region ends after the undo records) holds one vector per cell, as many
 * cells as slots unless created with fewer (spl_options.vec_cells,
 * 1..slots), taken lowest-free-first so that the vectors lie densely and a
 * search streams through them.
 *
 * Header (one page):
 *   0    magic        u64   "SPLINTR1" (little-endian u64 SPL_MAGIC)
 *   8    version      u32   SPL_FORMAT_VERSION; written LAST, release store
 *   12   header_bytes u32   4096
 *   16   fingerprint  u64   build/layout fingerprint (spl__fingerprint)
 *   24   features     u64   SPL_FEAT_*
 *   32   slots        u32   exact (2..SPL_SLOTS_LIMIT)
 *   36   key_max      u32
 *   40   val_max      u32
 *   44   vec_dim      u32
 *   48   slot_stride  u32
 *   52   probe_max    u32   <= SPL_PROBE_LIMIT
 *   56   hash_seed    u64
 *   64   index_off    u64
 *   72   slots_off    u64
 *   80   total_bytes  u64
 *   88   creator_pid  u32, 92 spare u32
 *   96   created_ns   u64
 *   104  spare[3]     u64
 *   128  used         u64   (own line; reserved: spl_info_get counts the
 *                           slots, so no writer shares a counter line)
 *   192  recoveries   u64   (own line: slots recovered, atomic)
 *   256  spare        u64   (line 4 unused: the change counter is striped
 *                           in the signal region)
 *   320  epoch_floor  u64   (own line: highest epoch a freed slot reached; a
 *                           new key starts above it, so a key's epochs never
 *                           repeat across delete and re-insert)
 *   384  vec_opts     u64[8] (line 6: vector options)
 *   448  sig_opts     u64[8] (line 7: [0] feed_len, [1] sig_off)
 *   512  cells_off    u64    (line 8: cell arena geometry, checked at open)
 *   520  cell_stride  u32, 524 cells u32 (1..slots; 0 without vectors)
 *   576  cell_hint    u64    (line 9, advisory, untrusted: lowest cell that
 *                           may be free; claims start there)
 *   584  cell_high    u64    (advisory, untrusted: 1 + highest cell ever
 *                           claimed; searches stop there)
 *   640..4095 reserved (zero) for later features
 *
 * Index word p (u64, atomic), two roles in one word:
 *   bits  0..1   state of word p: 0 FREE, 1 PENDING, 2 LIVE
 *   bits  2..9   maxdist of home bucket p: keys whose home is p lie within
 *                p .. p+maxdist (mod index_words)
 *   bits 10..19  count of keys (live or pending) whose home is p
 *   bits 20..49  the slot holding word p's key (PENDING or LIVE)
 *   bits 50..63  fingerprint of that key (high 14 bits of its hash)
 *
 * Line 10 of the header: index_words u32 (640), undo_recs u32 (644),
 * undo_off u64 (648), undo_stride u32 (656); checked at open.
 *
 * Line 11: reg_off u64 (704), reg_entries u32 (712), reg_stride u32 (716),
 * checked at open; spare u64 (720).  Line 12:
 * reg_lock u64 (768, owner id), reg_gen u64 (776).  The fragment registry
 * (SPL_REG_ENTRIES x SPL_REG_STRIDE, page-aligned) is the last part of the
 * region, after the cells (or the undo records); docs/FRAGMENTS.md.
 *
 * Signal region (sig_off = slots_off + slots * stride, 64-byte sections):
 *   +0      head     256 B: line 0 bell u32, kbell u32 (futex words)
 *                           line 1 ring_head u64
 *                           line 2 followed u64 (groups with a subscriber),
 *                                  sub_lock u64, bind_all u64 (groups every
 *                                  key pulses: spl_bind(SPL_BIND_ALL)); line 3 spare
 *   +256    stripes  16 x 64 B: changes u64 (store-wide change counter,
 *                           striped by writer thread id; the sum is the counter)
 *   +1280   groups   64 x 64 B: pulses u64, subs u32, waiters u32
 *   +5376   binds    64 x u64: label bit -> groups
 *   +5888   records  256 x 32 B: waiter records (owner, counted masks)
 *   +14080  watch    slots x u64: key watches (groups), per slot
 *   ..      kwait    slots x u32: key waiters, per slot (padded to 64)
 *   ..      ring     feed_len x 64 B: change feed entries
 *
 * Slot (stride = round64(64 + round8(key_max) + round8(val_max))):
 *   0   epoch      u64  seqlock: even stable, odd writer inside; only grows
 *   8   owner      u64  0 free, else writer's owner id (pid<<32 | start stamp)
 *   16  key_len    u32  0: the slot is free (no key); a slot with an even
 *                       epoch and a key is a committed, indexed key
 *   20  val_len    u32
 *   24  type       u8, 25 user_flags u8, 26 gone_len u16 (length of the key
 *                  an unset removed: the change feed names it)
 *   28  vec_state  u32  0 = no vector, else 1 + the index of its cell
 *   32  labels     u64
 *   40  ctime_ns   u64
 *   48  mtime_ns   u64
 *   56  atime_ns   u64
 *   64  key bytes  [round8(key_max)]
 *   ..  value      [round8(val_max)]
 *
 * Cell (cell_stride = 64 + round64(vec_dim x element size)):
 *   0   seq        u64  seqlock of the cell: even stable, odd writer inside;
 *                       only grows.  Written only by the holder of the slot
 *                       the cell belongs to, inside that slot's write section
 *   8   link       u64  low 32 bits: 0 free, else 1 + owning slot; high 32
 *                       bits: claim count (a claim adds one; freeing keeps
 *                       it), so a CAS on the whole word cannot act on a
 *                       claim that ended and was made again (no ABA)
 *   16  norm f32, 20 scale f32, 24 dim u32, 28 spare u32 (spl_vec_head)
 *   32  spare      [32]
 *   64  vec_dim elements of the store's format (f32, f16 or i8), zero-padded
 *
 * A slot's vector is cell vec_state - 1, and is that slot's only while the
 * cell's link names the slot.  Header vec_opts (line 6): [0] vector format,
 * [1] tandem separator byte, [2..7] zero.
 */
#ifndef SPL_LAYOUT_H
#define SPL_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define SPL_MAGIC          0x3152544e494c5053ull /* "SPLINTR1" as bytes, LE */
#define SPL_FORMAT_VERSION 3u /* 3: index apart from the slots, undo records */
#define SPL_HEADER_BYTES   4096u
#define SPL_CACHE_LINE     64u
#define SPL_PROBE_LIMIT    255u /* maxdist is 8 bits */
#define SPL_SLOT_META      64u

struct spl_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_bytes;
    uint64_t fingerprint;
    uint64_t features;
    uint32_t slots;
    uint32_t key_max;
    uint32_t val_max;
    uint32_t vec_dim;
    uint32_t slot_stride;
    uint32_t probe_max;
    uint64_t hash_seed;
    uint64_t index_off;
    uint64_t slots_off;
    uint64_t total_bytes;
    uint32_t creator_pid;
    uint32_t spare0;
    uint64_t created_ns;
    uint64_t spare1[3];
    /* line 2 */
    uint64_t used;
    uint64_t pad_used[7];
    /* line 3 */
    uint64_t recoveries;
    uint64_t pad_rec[7];
    /* line 4 */
    uint64_t changes;
    uint64_t pad_changes[7];
    /* line 5 */
    uint64_t epoch_floor;
    uint64_t pad_floor[7];
    /* line 6: vector options (vector format, tandem separator, ...) */
    uint64_t vec_opts[8];
    /* line 7: signal region geometry */
    uint64_t sig_opts[8];
    /* line 8: cell arena geometry */
    uint64_t cells_off;
    uint32_t cell_stride;
    uint32_t cells;
    uint64_t pad_cells[6];
    /* line 9: cell allocation hints (advisory) */
    uint64_t cell_hint;
    uint64_t cell_high;
    uint64_t pad_hint[6];
    /* line 10: index and undo geometry (checked at open) */
    uint32_t index_words; /* power of two >= 2 x slots */
    uint32_t undo_recs;   /* undo records */
    uint64_t undo_off;
    uint32_t undo_stride;
    uint32_t spare10;
    uint64_t pad_geo[5];
    /* line 11: fragment registry geometry (checked at open) and the
     * all-keys binding (read by writers while anything is followed) */
    uint64_t reg_off;     /* offset of the registry entries */
    uint32_t reg_entries; /* SPL_REG_ENTRIES */
    uint32_t reg_stride;  /* SPL_REG_STRIDE */
    uint64_t spare_all;   /* zero: the all-keys binding is the signal head's
                             bind_all (beside `followed`) */
    uint64_t pad_reg[5];
    /* line 12: registry lock and generation */
    uint64_t reg_lock;    /* owner id of the process changing the registry */
    uint64_t reg_gen;     /* raised by every registration and removal */
    uint64_t pad_reg2[6];
    uint8_t reserved[SPL_HEADER_BYTES - 832];
};

struct spl_slot {
    uint64_t epoch;
    uint64_t owner;
    uint32_t key_len;
    uint32_t val_len;
    uint8_t type;
    uint8_t user_flags;
    uint16_t gone_len; /* key length of the key spl_unset removed (feed) */
    uint32_t vec_state;
    uint64_t labels;
    uint64_t ctime_ns;
    uint64_t mtime_ns;
    uint64_t atime_ns;
    /* key, value and vector follow */
};

_Static_assert(sizeof(struct spl_header) == SPL_HEADER_BYTES, "header is one page");
_Static_assert(offsetof(struct spl_header, version) == 8, "version offset");
_Static_assert(offsetof(struct spl_header, fingerprint) == 16, "fingerprint offset");
_Static_assert(offsetof(struct spl_header, slots) == 32, "slots offset");
_Static_assert(offsetof(struct spl_header, hash_seed) == 56, "seed offset");
_Static_assert(offsetof(struct spl_header, total_bytes) == 80, "total offset");
_Static_assert(offsetof(struct spl_header, used) == 128, "used on line 2");
_Static_assert(offsetof(struct spl_header, recoveries) == 192, "recoveries on line 3");
_Static_assert(offsetof(struct spl_header, changes) == 256, "changes on line 4");
_Static_assert(offsetof(struct spl_header, epoch_floor) == 320, "epoch floor on line 5");
_Static_assert(offsetof(struct spl_header, vec_opts) == 384, "vector options on line 6");
_Static_assert(offsetof(struct spl_header, sig_opts) == 448, "signal options on line 7");
_Static_assert(offsetof(struct spl_header, cells_off) == 512, "cell geometry on line 8");
_Static_assert(offsetof(struct spl_header, cells) == 524, "cell count offset");
_Static_assert(offsetof(struct spl_header, cell_hint) == 576, "cell hints on line 9");
_Static_assert(offsetof(struct spl_header, cell_high) == 584, "cell high offset");
_Static_assert(offsetof(struct spl_header, index_words) == 640, "index geometry on line 10");
_Static_assert(offsetof(struct spl_header, undo_off) == 648, "undo offset");
_Static_assert(offsetof(struct spl_header, reg_off) == 704, "registry geometry on line 11");
_Static_assert(offsetof(struct spl_header, spare_all) == 720, "line 11 spare offset");
_Static_assert(offsetof(struct spl_header, reg_lock) == 768, "registry lock on line 12");
_Static_assert(sizeof(struct spl_slot) == SPL_SLOT_META, "slot meta is one line");
_Static_assert(offsetof(struct spl_slot, owner) == 8, "owner offset");
_Static_assert(offsetof(struct spl_slot, key_len) == 16, "key_len offset");
_Static_assert(offsetof(struct spl_slot, labels) == 32, "labels offset");
_Static_assert(offsetof(struct spl_slot, atime_ns) == 56, "atime offset");

/* ---- signal region ---- */
#define SPL_SIG_GROUPS   64u
#define SPL_SIG_STRIPES  16u
#define SPL_SIG_RECORDS  256u

struct spl_sig_head {
    uint32_t bell;  /* futex: group waiters sleep here */
    uint32_t kbell; /* futex: key waiters sleep here */
    uint64_t pad0[7];
    uint64_t ring_head; /* feed positions handed out so far */
    uint64_t pad1[7];
    uint64_t followed;  /* groups with a subscription (changed under sub_lock) */
    uint64_t sub_lock;  /* owner id of the process changing `followed` */
    uint64_t bind_all;  /* groups every key pulses, labelled or not (zero in
                           stores made before it existed: same format) */
    uint64_t kwaiters;  /* key sleepers in all slots (the sum of kwait[]):
                           writers read kwait[slot], a line of its own, only
                           when it is not 0 */
    uint64_t pad2[12];
};

struct spl_sig_stripe {
    uint64_t changes;
    uint64_t pad[7];
};

struct spl_sig_group {
    uint64_t pulses;  /* only grows */
    uint32_t subs;    /* subscriptions following this group (feed on) */
    uint32_t waiters; /* threads sleeping on this group (wake needed) */
    uint64_t pad[6];
};

/* A waiter record: who counted what, so counts left by a process that died
 * can be taken back.  Each mask bit is set only AFTER its count was raised
 * and cleared BEFORE it is lowered, so a crash leaves at most one count too
 * many (an extra wake-up), never one too few (a lost one). */
struct spl_sig_rec {
    uint64_t owner;     /* 0 free, else owner id */
    uint64_t subs;      /* groups whose subs count this record raised */
    uint64_t waits;     /* groups whose waiters count this record raised */
    uint32_t kslot;     /* slot whose kwait this record raised, +1 (0 none) */
    uint32_t spare;
};

/* A feed entry (one line).  Writers: p = fetch_add(ring_head); fill the
 * fields; store seq = p + 1 (release).  `check` mixes p and the fields, so a
 * reader detects an entry two lapped writers interleaved. */
struct spl_sig_ent {
    uint64_t seq;
    uint64_t epoch;
    uint64_t groups;
    uint64_t fp;
    uint32_t slot;
    uint32_t kind;
    uint64_t check;
    uint64_t pad[2];
};

_Static_assert(sizeof(struct spl_sig_head) == 256, "signal head is four lines");
_Static_assert(sizeof(struct spl_sig_stripe) == SPL_CACHE_LINE, "stripe is a line");
_Static_assert(sizeof(struct spl_sig_group) == SPL_CACHE_LINE, "group is a line");
_Static_assert(sizeof(struct spl_sig_rec) == 32, "record is 32 bytes");
_Static_assert(sizeof(struct spl_sig_ent) == SPL_CACHE_LINE, "feed entry is a line");

#define SPL_SIG_OFF_STRIPES 256u
#define SPL_SIG_OFF_GROUPS  (SPL_SIG_OFF_STRIPES + SPL_SIG_STRIPES * 64u)
#define SPL_SIG_OFF_BINDS   (SPL_SIG_OFF_GROUPS + SPL_SIG_GROUPS * 64u)
#define SPL_SIG_OFF_RECS    (SPL_SIG_OFF_BINDS + SPL_SIG_GROUPS * 8u)
#define SPL_SIG_OFF_WATCH   (SPL_SIG_OFF_RECS + SPL_SIG_RECORDS * 32u)
_Static_assert(SPL_SIG_OFF_WATCH == 14080, "signal offsets as documented");

/* Index word fields. */
#define SPL_IX_STATE_MASK  0x3ull
#define SPL_IX_FREE        0x0ull
#define SPL_IX_PENDING     0x1ull
#define SPL_IX_LIVE        0x2ull
#define SPL_IX_DIST_SHIFT  2
#define SPL_IX_DIST_MASK   (0xffull << SPL_IX_DIST_SHIFT)
#define SPL_IX_CNT_SHIFT   10
#define SPL_IX_CNT_MAX     0x3ffull
#define SPL_IX_CNT_MASK    (SPL_IX_CNT_MAX << SPL_IX_CNT_SHIFT)
#define SPL_IX_SLOT_SHIFT  20
#define SPL_IX_SLOT_MASK   (0x3fffffffull << SPL_IX_SLOT_SHIFT) /* 30 bits: slots <= 2^30 */
#define SPL_IX_FP_SHIFT    50
#define SPL_IX_FP_MASK     (~0ull << SPL_IX_FP_SHIFT)
#define SPL_IX_BUCKET_MASK (SPL_IX_DIST_MASK | SPL_IX_CNT_MASK)
#define SPL_IX_TAG_MASK    (SPL_IX_FP_MASK | SPL_IX_SLOT_MASK | SPL_IX_STATE_MASK)
#define SPL_IX_KEY_MASK    (SPL_IX_FP_MASK | SPL_IX_STATE_MASK) /* what a lookup compares */

static inline uint32_t spl_ix_dist(uint64_t w) { return (uint32_t)((w & SPL_IX_DIST_MASK) >> SPL_IX_DIST_SHIFT); }
static inline uint32_t spl_ix_cnt(uint64_t w) { return (uint32_t)((w & SPL_IX_CNT_MASK) >> SPL_IX_CNT_SHIFT); }
static inline uint64_t spl_ix_state(uint64_t w) { return w & SPL_IX_STATE_MASK; }
static inline uint32_t spl_ix_slot(uint64_t w) { return (uint32_t)((w & SPL_IX_SLOT_MASK) >> SPL_IX_SLOT_SHIFT); }
static inline uint64_t spl_ix_fp(uint64_t hash) { return hash & SPL_IX_FP_MASK; }
static inline uint64_t spl_ix_tag(uint64_t fp, uint32_t slot, uint64_t state)
{
    return fp | ((uint64_t)slot << SPL_IX_SLOT_SHIFT) | state;
}

/* Undo record (one per writer at a time; docs/PROTOCOL.md, "A writer's
 * death loses nothing").  A writer that overwrites a value or a vector in
 * place first copies what it replaces here, arms the record with the slot
 * and the slot's even epoch, and only then makes the epoch odd.  Whoever
 * recovers the slot from a dead writer restores from the armed record. */
struct spl_undo {
    uint64_t owner;     /* 0 free, else owner id of the writer using it */
    uint64_t armed;     /* 0, or 1 + the slot it holds the old state of */
    uint64_t epoch;     /* the slot's even epoch when the copy was made */
    uint32_t what;      /* SPL_UNDO_VAL | SPL_UNDO_VEC */
    uint32_t val_len;
    uint64_t mtime_ns;
    uint8_t type;
    uint8_t spare8[3];
    uint32_t vec_state; /* the slot's vec_state before the write */
    uint64_t spare[2];
    /* then round8(val_max) value bytes; then, in vector stores, the cell's
     * head line and elements (cell_stride bytes) */
};
_Static_assert(sizeof(struct spl_undo) == SPL_CACHE_LINE, "undo head is one line");
#define SPL_UNDO_VAL 1u
#define SPL_UNDO_VEC 2u
#define SPL_UNDO_MAX 256u /* records (fewer where they would take more than 256 MiB) */

/* Vector cell (docs/VECTORS.md).  One line of head, then the elements. */
struct spl_vec_head {
    uint32_t norm_bits;  /* float: norm of the stored (decoded) vector */
    uint32_t scale_bits; /* float: I8 scale (element = i8 * scale); 1 otherwise */
    uint32_t dim;        /* vec_dim when written (checked by readers) */
    uint32_t spare;
};
_Static_assert(sizeof(struct spl_vec_head) == 16, "vector head is 16 bytes");
struct spl_cell {
    uint64_t seq;
    uint64_t link;
    struct spl_vec_head head;
    uint64_t spare[4];
    /* vec_dim elements follow */
};
_Static_assert(sizeof(struct spl_cell) == SPL_CACHE_LINE, "cell head is one line");
_Static_assert(offsetof(struct spl_cell, head) == 16, "cell vector head offset");
#define SPL_CELL_HEAD      64u
#define SPL_CELL_SLOT_MASK 0xffffffffull /* link: 1 + owning slot, 0 free */
#define SPL_CELL_CLAIM     (1ull << 32)  /* link: one claim */
#define SPL_VOPT_FORMAT    0 /* vec_opts[0]: spl_vec_format */
#define SPL_VOPT_TANDEM    1 /* vec_opts[1]: tandem separator byte */

/* ---- fragment registry (src/registry.c, docs/FRAGMENTS.md) ----
 * One entry per registered fragment instance.  Line 0 is changed under the
 * registry lock (and by the entry's host with CAS); line 1 only by the
 * host; line 2 is the command mailbox; the text is rewritten only under the
 * lock, with `gen` odd meanwhile (readers retry).  All of it is untrusted:
 * states, lengths and counts are bounded on every read, strings are read
 * up to their array's end. */
#define SPL_REG_ENTRIES  8u
#define SPL_REG_STRIDE   4096u
#define SPL_REG_NAME     32u
#define SPL_REG_VERSION  32u
#define SPL_REG_SUMMARY  96u
#define SPL_REG_ERRMSG   96u
#define SPL_REG_PATH     512u
#define SPL_REG_ARGS     512u
#define SPL_REG_REQ      512u
#define SPL_REG_REPLY    2048u

struct spl_reg_ent {
    /* line 0: identity and state */
    uint32_t state;     /* spl_frag_state (FREE .. FAILED) */
    uint32_t abi;       /* fragment ABI version the library asked for */
    uint64_t gen;       /* odd while the text below is rewritten */
    uint64_t host;      /* owner id of the process hosting it, 0 none */
    uint64_t reg_ns;    /* registration, CLOCK_REALTIME */
    uint64_t start_ns;  /* last start by a host, CLOCK_REALTIME */
    uint32_t argc;      /* arguments in args (NUL-separated) */
    int32_t last_err;   /* last error code (0 none) */
    uint64_t restarts;  /* registrations of a fragment that had died or failed */
    uint64_t follow;    /* groups its host follows for it (not the control group) */
    /* line 1: counters, written by its host */
    uint64_t heartbeat_ns; /* CLOCK_MONOTONIC of the host's last sign of life */
    uint64_t events;    /* events handed to the fragment */
    uint64_t errors;    /* callbacks that returned an error */
    uint64_t resyncs;   /* rescans (start, feed overflow) */
    uint64_t seen;      /* pulses of `follow` the host has consumed (lag) */
    uint64_t rate_milli;/* events per second x 1000, last interval */
    uint64_t labels;    /* label bits the host bound to the keys group */
    uint32_t flags;     /* SPL_REG_F_* */
    uint32_t spare1;
    /* line 2: command mailbox */
    uint64_t mb_owner;  /* owner id of the caller holding it, 0 free */
    uint32_t req_seq;   /* raised by the caller when a request is in */
    uint32_t rep_seq;   /* set to req_seq by the host when its reply is in (futex) */
    uint32_t req_len;
    uint32_t rep_len;
    int32_t rep_rc;
    uint32_t spare2;
    uint64_t pad2[4];
    uint64_t pad3[8];   /* line 3 */
    /* 256: text */
    char name[SPL_REG_NAME];
    char version[SPL_REG_VERSION];
    char summary[SPL_REG_SUMMARY];
    char errmsg[SPL_REG_ERRMSG];
    char path[SPL_REG_PATH];
    char args[SPL_REG_ARGS];
    uint8_t req[SPL_REG_REQ];  /* command and arguments, NUL-separated */
    uint8_t rep[SPL_REG_REPLY]; /* the reply (JSON text) */
};
_Static_assert(sizeof(struct spl_reg_ent) == SPL_REG_STRIDE, "registry entry is a page");
_Static_assert(offsetof(struct spl_reg_ent, heartbeat_ns) == 64, "counters on line 1");
_Static_assert(offsetof(struct spl_reg_ent, mb_owner) == 128, "mailbox on line 2");
_Static_assert(offsetof(struct spl_reg_ent, name) == 256, "text at 256");
_Static_assert(offsetof(struct spl_reg_ent, req) == 1536, "request at 1536");
_Static_assert(offsetof(struct spl_reg_ent, rep) == 2048, "reply at 2048");
#define SPL_REG_F_ALLKEYS 1u /* follows a prefix or glob: needs bind_all */
#define SPL_REG_F_ANN     2u /* offers an ANN index to every process (desc ann_*) */

static inline uint64_t spl_round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

#endif /* SPL_LAYOUT_H */
