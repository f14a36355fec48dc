/*
 * hnsw_layout.h - the HNSW index region: every structure that lives in its
 * shared memory, in one place (the rules of src/layout.h: fixed-width
 * types, offsets never pointers, named spares, sizes pinned by
 * _Static_assert).  Everything read from here is untrusted: readers
 * bound-check every value before they use it (README.md, "Consistency").
 *
 * Region (byte offsets):
 *
 *   0        4096                          pool_off                 total_bytes
 *   +--------+-----------------------------+------------------------+
 *   | header | nodes x node_stride          | pool_lists x list_stride |
 *   +--------+-----------------------------+------------------------+
 *
 * One node per store slot (node id = slot index), so an event of the change
 * feed (which names the slot) finds its node without a lookup, and the
 * region's size is fixed by the store's geometry.  A node is a flat block
 * of fixed size, like hnswlib's level-0 element: its head, its level-0
 * neighbour list, its key and a float32 copy of its vector.  The lists of
 * levels 1.. of a node are consecutive lists of the pool, taken by a bump
 * counter (a node keeps its level and lists for the life of the index, so
 * nothing is ever freed before a rebuild).
 *
 * Header (one page):
 *   0    magic        u64  "SPLHNSW1"
 *   8    version      u32  HNSW_FORMAT_VERSION; written LAST (release)
 *   12   header_bytes u32  4096
 *   16   fingerprint  u64  hnsw__fingerprint(): sizes of these structs
 *   24   nodes        u32  = the store's slot count
 *   28   dim          u32  = the store's vec_dim
 *   32   m            u32  links per node on levels >= 1 (2..HNSW_M_MAX)
 *   36   m0           u32  links per node on level 0 (= 2 m)
 *   40   ef_construction u32
 *   44   metric       u32  spl_metric the graph was built for
 *   48   key_max      u32  = the store's key_max
 *   52   node_stride  u32  bytes per node (a multiple of 64)
 *   56   nodes_off    u64  4096
 *   64   pool_off     u64
 *   72   pool_lists   u32  lists in the pool
 *   76   list_stride  u32  bytes per pool list (8 + 4 m, rounded to 8)
 *   80   total_bytes  u64
 *   88   store_seed   u64  the store's hash seed (its identity)
 *   96   store_format u32  the store's vector format
 *   100  level_max    u32  HNSW_LEVEL_MAX
 *   104  created_ns   u64  CLOCK_REALTIME at initialisation
 *   112  elem_format  u32  the copies' elements: 0 float32, 1 binary16
 *   116  spare        u32, 120 spare u64
 *   128  state        u32  (line 2: the writer's state) HNSW_S_*
 *   132  spare        u32
 *   136  generation   u64  +1 at every rebuild start
 *   144  entry        u64  0: empty graph; else (1 + top level) << 32 | node
 *   152  applied      u64  the store's change counter this index has caught
 *                          up with (spl_changes() when the writer last
 *                          finished a sync or a batch of the feed)
 *   160  live         u64  nodes that hold a key's vector
 *   168  deleted      u64  tombstones: nodes whose key lost its vector
 *   176  pool_used    u64  pool lists handed out
 *   184  spare        u64
 *   192  owner        u64  (line 3) the writer: pid << 32 | start stamp, 0: none
 *   200  dirty        u64  non-zero while the writer changes the graph
 *   208  busy         u64  1 + the node a put is changing (its vector, then
 *                          its lists), 0 between puts: a take-over links
 *                          that node again (a region written before this
 *                          field holds 0 here, so it reads as none)
 *   216  spare        u64[5]
 *   256  build_done   u64  (line 4) progress of a sync or rebuild
 *   264  build_total  u64
 *   272  build_start_ns u64
 *   280  spare        u64[5]
 *   320..4095 reserved (zero)
 *
 * Node (node_stride = head_off + 64 + round64(esize dim)), laid out so that a
 * distance touches one run of lines (the head, then the vector) and an
 * expansion another (the level-0 list):
 *   0         list 0   seq u32 | count u32 | m0 x u32 ids   (round8)
 *   key_off   key      [round8(key_max)]
 *   head_off = round64(key_off + round8(key_max)): the head, one line:
 *     +0   seq      u64  seqlock of the head, key and vector: even stable,
 *                        odd while the writer rewrites them
 *     +8   vepoch   u64  the store epoch of the key when its vector was copied
 *     +16  labels   u64  the key's labels then
 *     +24  norm     f32  Euclidean norm of the vector (computed in double)
 *     +28  flags    u32  HNSW_N_PRESENT (holds a key and vector), HNSW_N_DELETED
 *                        (tombstone: kept for navigation, never a result)
 *     +32  level    u32  top level of the node (0..level_max)
 *     +36  upper    u32  pool index of its level-1 list (levels 1..level follow)
 *     +40  key_len  u32  1..key_max
 *     +44  scale    f32  binary16 copies: element i is scale x half[i] (scale =
 *                        the largest |element|, so halves lie in [-1, 1]);
 *                        float32 copies: 1
 *     +48  spare    u64[2]
 *   vec_off = head_off + 64: dim elements of elem_format (float32: the
 *   vector as the store gave it; binary16: a copy for navigation only: hits
 *   are always scored from the store's own vector)
 *
 * List (level 0 in the node, levels >= 1 in the pool):
 *   0   seq      u32  seqlock: even stable, odd while the writer rewrites it
 *   4   count    u32  ids in use (<= capacity: m0 at level 0, m above)
 *   8   ids      u32[capacity]  node ids
 */
#ifndef HNSW_LAYOUT_H
#define HNSW_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define HNSW_MAGIC          0x3157534e484c5053ull /* "SPLHNSW1" as bytes, LE */
#define HNSW_FORMAT_VERSION 1u
#define HNSW_HEADER_BYTES   4096u
#define HNSW_LEVEL_MAX      16u  /* levels 0..16: M^16 nodes is beyond any store */
#define HNSW_M_MIN          2u
#define HNSW_M_MAX          64u  /* m0 = 2 m <= 128 */
#define HNSW_NODE_HEAD      64u

enum hnsw_state { HNSW_S_EMPTY = 0, HNSW_S_BUILDING = 1, HNSW_S_READY = 2 };
enum { HNSW_N_PRESENT = 1u << 0, HNSW_N_DELETED = 1u << 1 };
enum { HNSW_E_F32 = 0, HNSW_E_F16 = 1 }; /* elem_format */

struct hnsw_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_bytes;
    uint64_t fingerprint;
    uint32_t nodes;
    uint32_t dim;
    uint32_t m;
    uint32_t m0;
    uint32_t ef_construction;
    uint32_t metric;
    uint32_t key_max;
    uint32_t node_stride;
    uint64_t nodes_off;
    uint64_t pool_off;
    uint32_t pool_lists;
    uint32_t list_stride;
    uint64_t total_bytes;
    uint64_t store_seed;
    uint32_t store_format;
    uint32_t level_max;
    uint64_t created_ns;
    uint32_t elem_format;
    uint32_t spare1a;
    uint64_t spare1;
    /* line 2: the writer's state */
    uint32_t state;
    uint32_t spare2;
    uint64_t generation;
    uint64_t entry;
    uint64_t applied;
    uint64_t live;
    uint64_t deleted;
    uint64_t pool_used;
    uint64_t spare3;
    /* line 3: the writer */
    uint64_t owner;
    uint64_t dirty;
    uint64_t busy; /* 1 + the node a put is changing (its links may be half chosen), or 0 */
    uint64_t spare4[5];
    /* line 4: progress */
    uint64_t build_done;
    uint64_t build_total;
    uint64_t build_start_ns;
    uint64_t spare5[5];
    uint8_t reserved[HNSW_HEADER_BYTES - 320];
};

struct hnsw_node {
    uint64_t seq;
    uint64_t vepoch;
    uint64_t labels;
    float norm;
    uint32_t flags;
    uint32_t level;
    uint32_t upper;
    uint32_t key_len;
    float scale;
    uint64_t spare1[2];
};

struct hnsw_list {
    uint32_t seq;
    uint32_t count;
    uint32_t ids[];
};

_Static_assert(sizeof(struct hnsw_header) == HNSW_HEADER_BYTES, "header is one page");
_Static_assert(offsetof(struct hnsw_header, state) == 128, "line 2");
_Static_assert(offsetof(struct hnsw_header, owner) == 192, "line 3");
_Static_assert(offsetof(struct hnsw_header, build_done) == 256, "line 4");
_Static_assert(offsetof(struct hnsw_header, total_bytes) == 80, "total_bytes");
_Static_assert(offsetof(struct hnsw_header, created_ns) == 104, "created_ns");
_Static_assert(sizeof(struct hnsw_node) == HNSW_NODE_HEAD, "node head is one line");
_Static_assert(offsetof(struct hnsw_node, flags) == 28, "flags");
_Static_assert(offsetof(struct hnsw_node, key_len) == 40, "key_len");
_Static_assert(offsetof(struct hnsw_node, scale) == 44, "scale");
_Static_assert(offsetof(struct hnsw_header, elem_format) == 112, "elem_format");
_Static_assert(sizeof(struct hnsw_list) == 8, "list head");

static inline uint64_t hnsw__round(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Bytes of a list holding `cap` ids. */
static inline uint32_t hnsw__list_bytes(uint32_t cap) { return (uint32_t)hnsw__round(8 + 4ull * cap, 8); }

/* Offsets inside a node. */
static inline uint32_t hnsw__key_off(uint32_t m0) { return hnsw__list_bytes(m0); }
static inline uint32_t hnsw__head_off(uint32_t m0, uint32_t key_max)
{
    return (uint32_t)hnsw__round(hnsw__key_off(m0) + hnsw__round(key_max, 8), 64);
}
static inline uint64_t hnsw__node_stride(uint32_t m0, uint32_t key_max, uint32_t dim, uint32_t esize)
{
    return hnsw__head_off(m0, key_max) + HNSW_NODE_HEAD + hnsw__round((uint64_t)esize * dim, 64);
}

/* Pool lists for n nodes: the expected number is n / (m - 1) (a node has
 * level >= l with probability m^-l); twice that, plus a margin.  A node
 * whose levels do not fit gets fewer (never fails). */
static inline uint64_t hnsw__pool_lists(uint32_t n, uint32_t m) { return 2ull * n / (m - 1) + 64; }

/* The fingerprint of this layout: a region written by a build whose
 * structures differ is refused. */
static inline uint64_t hnsw__fingerprint(void)
{
    return ((uint64_t)sizeof(struct hnsw_header) << 40) ^ ((uint64_t)sizeof(struct hnsw_node) << 28) ^
           ((uint64_t)sizeof(struct hnsw_list) << 20) ^ ((uint64_t)HNSW_LEVEL_MAX << 12) ^
           ((uint64_t)sizeof(void *) << 4) ^ HNSW_FORMAT_VERSION;
}

#endif /* HNSW_LAYOUT_H */
