/*
 * vec.c - vectors: set, get, clear, exact top-k search, and tandem keys
 * (ordered groups base, base.1, base.2, ...).  docs/VECTORS.md has the cell
 * layout, the formats and what is atomic.
 *
 * A key's vector lives in a cell of the arena that its slot names (and that
 * names the slot back).  Writers use the slot protocol of kv.c (lock the
 * slot, take a signal note, odd epoch, write, even epoch, unlock, send the
 * note) through the entry points at the end of kv.c, and touch cells only
 * inside the slot's write section.  spl_vec_get reads the cell inside the
 * slot's seqlock; a search reads cells under their own seqlock and checks
 * the slot only for what may enter its results.  Everything read from
 * shared memory (vec_state, links, heads, key lengths) is bounds-checked
 * here against the handle's private geometry.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* Scores must be the same bits for a query alone or in a batch (scalar and
 * SSE2 code compute them): no fused multiply-adds where C has two roundings
 * (GCC in ISO C mode does not contract; Clang does unless told). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Under ThreadSanitizer a search copies each cell out with relaxed atomic
 * loads before scoring it (instead of SIMD loads in place), so that TSan
 * sees the seqlock's deliberate race as atomics and checks the rest of the
 * vector protocol without suppressions (make test-tsan, tests/mp/tsan_vec.c). */
#if defined(__SANITIZE_THREAD__)
#define SPL__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPL__TSAN 1
#endif
#endif
#ifndef SPL__TSAN
#define SPL__TSAN 0
#endif

/* ---- tandem keys (both builds) ------------------------------------------ */

SPL_API int spl_tandem_key(spl_store *s, const char *base, uint32_t i, char *out, size_t cap)
{
    if (!s || !base || (!out && cap))
        return SPL_EINVAL;
    size_t bl = strnlen(base, (size_t)s->key_max + 1);
    if (bl == 0 || bl > s->key_max)
        return SPL_EKEYLEN;
    char suffix[16];
    int sl = i ? snprintf(suffix, sizeof suffix, "%c%u", s->tandem_sep, i) : 0;
    if (bl + (size_t)sl > s->key_max)
        return SPL_EKEYLEN;
    if (bl + (size_t)sl + 1 > cap)
        return SPL_ENOBUFS;
    memcpy(out, base, bl);
    memcpy(out + bl, suffix, (size_t)sl);
    out[bl + (size_t)sl] = 0;
    return (int)(bl + (size_t)sl);
}

/* Member i's name into a buffer of key_max + 1 bytes. */
static int spl__tkey(spl_store *s, const char *base, uint32_t i, char *name)
{
    int rc = spl_tandem_key(s, base, i, name, (size_t)s->key_max + 1);
    return rc < 0 ? rc : 0;
}

SPL_API int spl_tandem_get(spl_store *s, const char *base, uint32_t i, void *buf, size_t cap,
                           size_t *len_out)
{
    if (!s)
        return SPL_EINVAL;
    char name[SPL_KEY_MAX_LIMIT + 1];
    int rc = spl__tkey(s, base, i, name);
    return rc ? rc : spl_get(s, name, buf, cap, len_out);
}

SPL_API int spl_tandem_count(spl_store *s, const char *base)
{
    if (!s)
        return SPL_EINVAL;
    char name[SPL_KEY_MAX_LIMIT + 1];
    uint32_t n = 0;
    for (; n < s->nslots; n++) { /* a group cannot outnumber the slots */
        int rc = spl__tkey(s, base, n, name);
        if (rc == SPL_EKEYLEN && n > 0)
            break; /* the next member's name would not fit: none can exist */
        if (rc)
            return rc;
        rc = spl_exists(s, name);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
    }
    return (int)n;
}

/* Delete members from..(first absent - 1), last first, so that the members
 * present stay a gap-free run from the base.  Returns how many. */
static int spl__tandem_trim(spl_store *s, const char *base, uint32_t from, uint32_t timeout_us)
{
    char name[SPL_KEY_MAX_LIMIT + 1];
    uint32_t end = from;
    for (; end < s->nslots; end++) {
        if (spl__tkey(s, base, end, name) != 0)
            break;
        int rc = spl_exists(s, name);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
    }
    int deleted = 0;
    for (uint32_t i = end; i-- > from;) {
        int rc = spl__tkey(s, base, i, name);
        if (rc == 0)
            rc = spl_unset_wait(s, name, timeout_us);
        if (rc == 0)
            deleted++;
        else if (rc != SPL_ENOENT) /* someone else deleted it: fine */
            return rc;
    }
    return deleted;
}

SPL_API int spl_tandem_unset(spl_store *s, const char *base, uint32_t timeout_us)
{
    if (!s || !base)
        return SPL_EINVAL;
    return spl__tandem_trim(s, base, 0, timeout_us);
}

/* The group's write order: members 1..n-1, then the base, then the surplus
 * of an older group from the end down. */
typedef int (*spl__member_fn)(spl_store *s, const char *name, uint32_t i, const void *ud,
                              uint32_t timeout_us);

static int spl__tandem_write(spl_store *s, const char *base, uint32_t n, spl__member_fn fn,
                             const void *ud, uint32_t timeout_us)
{
    if (!s || !base || n == 0)
        return SPL_EINVAL;
    char name[SPL_KEY_MAX_LIMIT + 1];
    int rc = spl__tkey(s, base, n - 1, name); /* every name fits? */
    for (uint32_t j = 1; j <= n && rc == 0; j++) {
        uint32_t i = j % n; /* 1, 2, ..., n-1, then 0 */
        rc = spl__tkey(s, base, i, name);
        if (rc == 0)
            rc = fn(s, name, i, ud, timeout_us);
    }
    if (rc)
        return rc;
    rc = spl__tandem_trim(s, base, n, timeout_us);
    return rc < 0 ? rc : 0;
}

struct spl__tvals {
    const void *const *vals;
    const size_t *lens;
};

static int spl__tmember_val(spl_store *s, const char *name, uint32_t i, const void *ud,
                            uint32_t timeout_us)
{
    const struct spl__tvals *t = ud;
    return spl_set_wait(s, name, t->vals[i], t->lens[i], timeout_us);
}

SPL_API int spl_tandem_set(spl_store *s, const char *base, const void *const *vals,
                           const size_t *lens, uint32_t n, uint32_t timeout_us)
{
    if (!vals || !lens)
        return SPL_EINVAL;
    struct spl__tvals t = {vals, lens};
    return spl__tandem_write(s, base, n, spl__tmember_val, &t, timeout_us);
}

#if SPL_WITH_EMBEDDINGS

/* ---- encoding ----------------------------------------------------------- */

static inline float spl__f32_of(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
static inline uint32_t spl__bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static inline uint8_t *spl__cell_elems(struct spl_cell *cl) { return (uint8_t *)cl + SPL_CELL_HEAD; }
static inline size_t spl__vec_bytes(const struct spl_store *s)
{
    return (size_t)s->vec_dim * s->vec_esize;
}

/* Bytes of scratch spl__vec_encode needs: the encoded elements (aligned)
 * and, for F16, the decoded halves. */
static inline size_t spl__scratch_bytes(const struct spl_store *s)
{
    return s->vec_fmt == SPL_VEC_F32 ? 0 : spl_round_up((size_t)s->vec_dim * 2, 64) + (size_t)s->vec_dim * 4 + 64;
}

/* Check v and encode it in the store's format: *enc points at the bytes to
 * store (v itself for F32, else inside scratch: spl__scratch_bytes). */
static int spl__vec_encode(const struct spl_store *s, const float *v, struct spl_vec_head *h,
                           void *scratch, const void **enc)
{
    uint32_t n = s->vec_dim;
    double ss = 0, maxabs;
    /* NaN or infinity, and the largest magnitude, from the bits: |x| as an
     * integer orders finite floats (one pass, no branches) */
    uint32_t bad = 0, maxbits = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t b = spl__bits_of(v[i]) & 0x7fffffffu;
        bad |= b >= 0x7f800000u;
        maxbits = b > maxbits ? b : maxbits;
    }
    if (bad)
        return SPL_ENAN;
    maxabs = spl__f32_of(maxbits);
    float scale = 1;
    if (s->vec_fmt == SPL_VEC_F32) {
        double s4[4] = {0, 0, 0, 0}; /* four chains, summed at the end */
        uint32_t i = 0;
        for (; i + 4 <= n; i += 4)
            for (uint32_t l = 0; l < 4; l++)
                s4[l] += (double)v[i + l] * v[i + l];
        for (; i < n; i++)
            s4[0] += (double)v[i] * v[i];
        ss = (s4[0] + s4[1]) + (s4[2] + s4[3]);
        *enc = v;
    } else if (s->vec_fmt == SPL_VEC_F16) {
        /* F16C where the CPU has it (the same bits as the software
         * rounding: test_paths_agree); the norm from the decoded halves */
        const struct spl__vk *vk = spl__vk_get();
        uint16_t *o = scratch;
        float *d = (float *)(void *)((uint8_t *)scratch + spl_round_up((size_t)n * 2, 64));
        vk->enc_f16(v, o, n);
        uint16_t inf = 0;
        for (uint32_t i = 0; i < n; i++)
            inf |= (uint16_t)((o[i] & 0x7c00u) == 0x7c00u);
        if (inf)
            return SPL_ERANGE;
        vk->dec_f16(o, d, n);
        for (uint32_t i = 0; i < n; i++)
            ss += (double)d[i] * d[i];
        *enc = o;
    } else {
        int8_t *o = scratch;
        scale = maxabs > 0 ? (float)(maxabs / 127.0) : 1.0f;
        for (uint32_t i = 0; i < n; i++) {
            long r = lrintf(v[i] / scale);
            o[i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
            double d = (double)o[i] * scale;
            ss += d * d;
        }
        *enc = o;
    }
    float norm = (float)sqrt(ss);
    if (!isfinite(norm) || !isfinite(scale))
        return SPL_ENAN; /* the norm overflows float */
    h->norm_bits = spl__bits_of(norm);
    h->scale_bits = spl__bits_of(scale);
    h->dim = n;
    h->spare = 0;
    return 0;
}

static int spl__vec_usable(const struct spl_store *s)
{
    if (!s)
        return SPL_EINVAL;
    return s->vec_dim ? 0 : SPL_ENOTSUP;
}

/* ---- cells -------------------------------------------------------------
 * A slot's vector lives in cell vec_state - 1 of the arena, whose link names
 * the slot back.  Cells are claimed lowest-free-first (from the header's
 * advisory hint), so the vectors of a store lie densely in the arena's first
 * cells and a search streams through them (the loss to a plain scan of
 * vectors scattered over 75%-full slots was 15-25%).  Protocol
 * (docs/VECTORS.md, "Consistency"; docs/model/cells.pml checks it):
 *   - only the holder of slot i claims, writes or frees a cell for i, and
 *     only inside i's write section (odd epoch);
 *   - i names a cell (vec_state) before it claims it (the link CAS), and
 *     frees it before it stops naming it, so whatever step a writer dies
 *     at, no cell links a slot that does not name it (no orphan);
 *   - a cell's seq is its own seqlock, for searches, which read cells
 *     without the slot: a score counts if seq did not move, and a result
 *     is kept only if, inside one stable read of the slot, the slot names
 *     the cell and the cell's seq is still the one scored;
 *   - orphans can still come from a corrupt region: a claim that finds no
 *     free cell sweeps them (each checked inside a stable read of its
 *     slot; the claim count in the link makes the CAS fail if the cell was
 *     freed and claimed again meanwhile). */

/* Cell c's link, split: 0 free, else 1 + owning slot. */
static inline uint32_t spl__link_slot1(uint64_t w) { return (uint32_t)(w & SPL_CELL_SLOT_MASK); }

/* The cell slot i's vec_state names, if it is a real cell linked back to i
 * (the caller holds i, or validates with i's seqlock); NULL otherwise. */
static struct spl_cell *spl__cell_of(const struct spl_store *s, uint32_t i, uint32_t vs)
{
    if (vs == 0 || vs > s->ncells)
        return NULL;
    struct spl_cell *cl = spl__cell(s, vs - 1);
    return spl__link_slot1(spl_load_relaxed(&cl->link)) == i + 1 ? cl : NULL;
}

static void spl__hint_lower(struct spl_store *s, uint32_t c)
{
    uint64_t *p = &s->hdr->cell_hint;
    uint64_t h = spl_load_relaxed(p);
    while (h > c && !spl_cas_seqcst(p, &h, c))
        ;
}

/* A cell nobody will finish writing gets an even seq again: a search
 * then sees it stable (its link decides whether it is anybody's). */
static void spl__cell_settle(struct spl_cell *cl)
{
    uint64_t q = spl_load_relaxed(&cl->seq);
    if (q & 1)
        spl_cas_seqcst(&cl->seq, &q, q + 1);
}

/* Free cell c if its link is still w (keeps the claim count). */
static void spl__cell_free(struct spl_store *s, uint32_t c, struct spl_cell *cl, uint64_t w)
{
    spl__cell_settle(cl);
    if (spl_cas_seqcst(&cl->link, &w, w & ~SPL_CELL_SLOT_MASK))
        spl__hint_lower(s, c);
}

/* Cell c links slot x.  1 if x is stable and does not name c: the cell is
 * an orphan (a peer corrupted the region); 0 if x names it; -1 if x is
 * being written (or moved while read). */
static int spl__cell_orphan(struct spl_store *s, uint32_t c, uint32_t x)
{
    struct spl_slot *sl = spl__slot(s, x);
    uint64_t e1 = spl__read_begin(sl);
    if (e1 & 1)
        return -1;
    uint32_t vs = spl_load32_relaxed(&sl->vec_state);
    if (spl__read_retry(sl, e1))
        return -1;
    return vs != c + 1;
}

/* Free every orphaned cell below the high-water mark.  Runs when a claim
 * for slot self finds no free cell: with a cell per slot only orphans can
 * fill the arena; with fewer cells (spl_options.vec_cells) it may just be
 * full; or when a new key's vector finds none (self UINT32_MAX: no slot
 * held).  The caller holds self, which names no cell of its own (else it
 * would not claim): a cell linking self is an orphan, though self's odd
 * epoch would hide that from spl__cell_orphan.  A cell whose slot is being
 * written gets its writer's liveness checked, without the rate limit busy
 * readers have (this is rare): a dead writer's slot is recovered, freeing
 * the cell if its key is gone (a delete that died after its commit leaves
 * a key nobody looks up, so nobody else would meet that slot). */
static uint32_t spl__cell_sweep(struct spl_store *s, uint32_t self)
{
    uint64_t high = spl_load_seqcst(&s->hdr->cell_high);
    uint32_t n = high < s->ncells ? (uint32_t)high : s->ncells, busy = 0;
    for (uint32_t c = 0; c < n; c++) {
        struct spl_cell *cl = spl__cell(s, c);
        uint64_t w = spl_load_seqcst(&cl->link);
        uint32_t x1 = spl__link_slot1(w);
        int o = !x1 ? 0 : (x1 > s->nslots || x1 - 1 == self) ? 1 : spl__cell_orphan(s, c, x1 - 1);
        if (o > 0)
            spl__cell_free(s, c, cl, w);
        else if (o < 0) /* a dead writer's slot is recovered (its cell freed, if
                         * its key is gone): the next round may take it */
            spl__slot_dead(s, x1 - 1);
        /* a slot being written that (at a glance, without its seqlock)
         * names the cell is taken for its owner: a full arena of vectors
         * being rewritten is SPL_ENOCELL, not endless SPL_EAGAIN */
        busy += o < 0 && spl_load32_relaxed(&spl__slot(s, x1 - 1)->vec_state) != c + 1;
    }
    return busy; /* cells whose slot was being written: maybe orphans */
}

/* Is some cell free (a glance at the links, from the hint on)?  For a new
 * key, before it is created: a store whose cells are all taken refuses the
 * vector without leaving an empty key behind. */
static int spl__cell_any_free(struct spl_store *s)
{
    uint64_t h = spl_load_relaxed(&s->hdr->cell_hint);
    uint32_t from = h < s->ncells ? (uint32_t)h : 0; /* untrusted */
    for (uint32_t k = 0; k < s->ncells; k++) {
        uint32_t c = from + k < s->ncells ? from + k : from + k - s->ncells;
        if (!spl__link_slot1(spl_load_relaxed(&spl__cell(s, c)->link)))
            return 1;
    }
    return 0;
}

/* Claim the first free cell in [from, to) for slot i.  The slot names the
 * cell (vec_state) BEFORE the CAS on its link claims it, so no cell is ever
 * linked to a slot that does not name it: a writer killed after the CAS
 * leaves the cell to the slot's recovery, which frees it (the CAS can take
 * long on a missed line, and SIGKILLs landed right after it often enough to
 * leave a cell or two per 300 kills orphaned when the slot named the cell
 * only after claiming it).  A slot naming a cell it did not claim is
 * harmless: the link decides.  -1 if none is free (vec_state then names a
 * cell that is not the slot's; the caller clears it). */
static int64_t spl__cell_take(struct spl_store *s, uint32_t i, uint32_t from, uint32_t to)
{
    uint32_t *vs = &spl__slot(s, i)->vec_state;
    for (uint32_t c = from; c < to; c++) {
        struct spl_cell *cl = spl__cell(s, c);
        uint64_t w = spl_load_relaxed(&cl->link);
        if (spl__link_slot1(w))
            continue;
        spl_store32_relaxed(vs, c + 1); /* released by the seq_cst CAS */
        if (spl_cas_seqcst(&cl->link, &w, (w & ~SPL_CELL_SLOT_MASK) + SPL_CELL_CLAIM + i + 1))
            return c;
    }
    return -1;
}

/* Claim the lowest free cell (from the hint on) for slot i, whose holder
 * is inside i's write section; i's vec_state names it then.  If even a
 * sweep frees none: SPL_EAGAIN when the sweep met cells whose slot another
 * writer was writing and which may be orphans (they can be freed once that
 * writer is done), else SPL_ENOCELL (every cell holds a vector: a store
 * with fewer cells than slots, or a corrupt one). */
static int spl__cell_claim(struct spl_store *s, uint32_t i, uint32_t *c_out)
{
    uint32_t busy = 0;
    for (int round = 0; round < 2; round++) {
        uint64_t h = spl_load_relaxed(&s->hdr->cell_hint);
        uint32_t from = h < s->ncells ? (uint32_t)h : 0; /* untrusted */
        int64_t c = spl__cell_take(s, i, from, s->ncells);
        if (c < 0)
            c = spl__cell_take(s, i, 0, from);
        if (c >= 0) {
            uint64_t exp = h; /* advance the hint past c, unless it moved */
            if ((uint64_t)c >= h)
                spl_cas_seqcst(&s->hdr->cell_hint, &exp, (uint64_t)c + 1);
            uint64_t *hp = &s->hdr->cell_high, hi = spl_load_relaxed(hp);
            while (hi < (uint64_t)c + 1 && !spl_cas_seqcst(hp, &hi, (uint64_t)c + 1))
                ;
            *c_out = (uint32_t)c;
            return 0;
        }
        if (round == 0)
            busy = spl__cell_sweep(s, i);
    }
    spl_store32_relaxed(&spl__slot(s, i)->vec_state, 0);
    return busy ? SPL_EAGAIN : SPL_ENOCELL;
}

/* The cell goes first: a holder that dies between the two steps leaves a
 * slot naming a cell that no longer names it back (which nobody takes for
 * the slot's, and the slot's recovery just clears), not an orphan. */
void spl__vec_release(struct spl_store *s, uint32_t i, struct spl_slot *sl)
{
    uint32_t vs = spl_load32_relaxed(&sl->vec_state);
    struct spl_cell *cl = spl__cell_of(s, i, vs);
    if (cl) /* else nothing of ours to free (corrupt vec_state: left alone) */
        spl__cell_free(s, vs - 1, cl, spl_load_relaxed(&cl->link));
    spl_store32_relaxed(&sl->vec_state, 0);
}

/* The old vector of slot i (held, epoch even) into undo record u: its
 * vec_state and, if the slot has a cell, the cell's head and elements. */
void spl__vec_undo_save(struct spl_store *s, uint32_t i, struct spl_slot *sl, struct spl_undo *u)
{
    uint32_t vs = spl_load32_relaxed(&sl->vec_state);
    struct spl_cell *cl = spl__cell_of(s, i, vs);
    spl_store32_relaxed(&u->vec_state, cl ? vs : 0);
    if (cl)
        spl__copy_shared(spl__undo_cell(s, u), (uint8_t *)cl, s->cell_stride);
}

/* Recovery of slot i (held) from a writer that died inside spl_vec_set:
 * the vector from before comes back, or, if there was none, the cell the
 * write claimed is freed.  Cells are rewritten in place, so the old cell
 * is still the slot's; its seq, left odd, is settled by the write. */
void spl__vec_undo_restore(struct spl_store *s, uint32_t i, struct spl_slot *sl, struct spl_undo *u)
{
    uint32_t vs = spl_load32_relaxed(&u->vec_state); /* untrusted */
    struct spl_cell *cl = spl__cell_of(s, i, vs);
    if (!cl || spl_load32_relaxed(&sl->vec_state) != vs) {
        spl__vec_release(s, i, sl);
        return;
    }
    uint64_t q = spl_load_relaxed(&cl->seq) | 1;
    spl_store_relaxed(&cl->seq, q);
    spl_fence_release(); /* pairs with the search's acquire fence, as in spl_vec_set */
    spl__copy_shared((uint8_t *)&cl->head, spl__undo_cell(s, u) + offsetof(struct spl_cell, head),
                     s->cell_stride - offsetof(struct spl_cell, head));
    spl_store_release(&cl->seq, q + 1);
}

/* spl_info_get's vector fields: the arena's size and the cells holding a
 * vector now, counted as the slots that name one (a glance at each slot;
 * the cells themselves are not read: a page of the arena nobody wrote
 * stays out of memory, and resident_bytes honest). */
void spl__vec_info(struct spl_store *s, spl_info *out)
{
    out->cells = s->ncells;
    out->cells_used = 0;
    for (uint32_t i = 0, end = 0; i < s->nslots; i++) {
        if (i >= end && (i = spl__data_next(s, s->slots, s->stride, 0, i, s->nslots, &end)) >= s->nslots)
            break;
        out->cells_used += spl_load32_relaxed(&spl__slot(s, i)->vec_state) != 0;
    }
}

/* ---- set, clear --------------------------------------------------------- */

/* Write an encoded vector (head h, elements enc) as key's: the slot
 * protocol around the cell (claimed, or rewritten in place under an undo
 * record).  cond 1 (spl_vec_set_if): only while the slot's epoch is still
 * `epoch`, compared under the slot's lock, before anything is written or
 * armed; the key is then never created. */
void (*spl__test_after_create)(struct spl_store *s);

static int spl__vec_put(spl_store *s, const char *key, const struct spl_vec_head *h,
                        const void *enc, int cond, uint64_t epoch)
{
    int rc = 0, created = 0;
    uint64_t fp;
    int i = spl__key_lock(s, key, 0, &fp);
    if (i == SPL_ENOENT && !cond) { /* a new key: made only if a cell looks free */
        /* none looks free: the sweep frees orphans and recovers the slots
         * of dead writers, whose cells a key nobody looks up again (a
         * delete that died after its commit) would hold for good */
        if (!spl__cell_any_free(s))
            (void)spl__cell_sweep(s, UINT32_MAX); /* holding no slot */
        i = spl__cell_any_free(s) ? spl__key_lock(s, key, 1, &fp) : SPL_ENOCELL;
        created = i >= 0;
        if (created && spl__test_after_create)
            spl__test_after_create(s);
    }
    if (i < 0)
        return i;
    struct spl_slot *sl = spl__slot(s, (uint32_t)i);
    if (cond && spl_load_relaxed(&sl->epoch) != epoch) { /* we hold it: the epoch is still */
        spl__slot_unlock(sl);
        return SPL_ESTALE;
    }
    /* The vector is rewritten in place (or a cell is claimed for it): the
     * undo record keeps the old one until the write is done. */
    struct spl_undo *u = spl__undo_arm(s, (uint32_t)i, sl, SPL_UNDO_VEC);
    if (!u) {
        spl__slot_unlock(sl);
        return SPL_EAGAIN;
    }
    uint64_t now = spl__clock_ns(CLOCK_REALTIME_COARSE);
    struct spl__note note;
    spl__note_take(s, (uint32_t)i, sl, fp, &note);
    uint64_t odd = spl__write_begin(sl);
    uint32_t vs = spl_load32_relaxed(&sl->vec_state), c = vs - 1;
    struct spl_cell *cl = spl__cell_of(s, (uint32_t)i, vs); /* rewritten in place */
    if (!cl && (rc = spl__cell_claim(s, (uint32_t)i, &c)) == 0)
        cl = spl__cell(s, c); /* and vec_state names it already */
    if (cl) {
        uint64_t q = spl_load_relaxed(&cl->seq) | 1; /* the cell's write section */
        spl_store_relaxed(&cl->seq, q);
        spl_fence_release();
        spl__copy_in((uint8_t *)&cl->head, 0, h, sizeof *h, 0);
        spl__copy_in(spl__cell_elems(cl), 0, enc, spl__vec_bytes(s), 1);
        spl_store_release(&cl->seq, q + 1);
        spl_store_relaxed(&sl->mtime_ns, now);
    }
    spl__write_end(sl, odd);
    uint64_t epoch_now = spl_load_relaxed(&sl->epoch);
    spl__undo_done(s, u);
    spl__slot_unlock(sl);
    if (cl)
        spl__note_send(s, &note);
    else if (created)
        /* another writer took the last cell after this call made the key:
         * the key goes again, unless someone wrote it since */
        (void)spl__key_drop_if(s, key, epoch_now);
    return rc;
}

static int spl__vec_set_check(spl_store *s, const void *vec, uint32_t dim)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!vec)
        return SPL_EINVAL;
    if (dim != s->vec_dim)
        return SPL_EDIM;
    return s->rdonly ? SPL_EROFS : 0;
}

/* spl_vec_set (cond 0) and spl_vec_set_if (cond 1) */
static int spl__vec_write(spl_store *s, const char *key, const float *vec, uint32_t dim, int cond,
                          uint64_t epoch)
{
    int rc = spl__vec_set_check(s, vec, dim);
    if (rc)
        return rc;
    if (!key)
        return SPL_EINVAL;
    struct spl_vec_head h;
    const void *enc;
    void *scratch = NULL;
    size_t sb = spl__scratch_bytes(s);
    if (sb && posix_memalign(&scratch, 64, sb) != 0)
        return SPL_ENOMEM;
    rc = spl__vec_encode(s, vec, &h, scratch, &enc);
    if (rc == 0)
        rc = spl__vec_put(s, key, &h, enc, cond, epoch);
    free(scratch);
    return rc;
}

SPL_API int spl_vec_set(spl_store *s, const char *key, const float *vec, uint32_t dim)
{
    return spl__vec_write(s, key, vec, dim, 0, 0);
}

SPL_API int spl_vec_set_if(spl_store *s, const char *key, uint64_t epoch, const float *vec,
                           uint32_t dim)
{
    if (epoch & 1)
        return SPL_EINVAL;
    return spl__vec_write(s, key, vec, dim, 1, epoch);
}

SPL_API int spl_vec_set_many(spl_store *s, const char *const *keys, const float *vecs, uint32_t n,
                             uint32_t dim, uint32_t timeout_us, uint32_t *done)
{
    if (done)
        *done = 0;
    int rc = spl__vec_set_check(s, vecs, dim);
    if (rc)
        return rc;
    if (!keys && n)
        return SPL_EINVAL;
    void *scratch = NULL;
    size_t sb = spl__scratch_bytes(s);
    if (sb && posix_memalign(&scratch, 64, sb) != 0)
        return SPL_ENOMEM;
    uint32_t i = 0;
    for (; i < n && rc == 0; i++) {
        struct spl_vec_head h;
        const void *enc;
        if (!keys[i]) {
            rc = SPL_EINVAL;
            break;
        }
        if ((rc = spl__vec_encode(s, vecs + (size_t)i * dim, &h, scratch, &enc)) != 0)
            break;
        rc = spl__vec_put(s, keys[i], &h, enc, 0, 0);
        if (rc == SPL_EAGAIN) { /* contention on this key: wait, up to timeout_us, as spl_set_wait */
            struct spl__contend c;
            spl__contend_init(&c, (uint64_t)timeout_us * 1000);
            while (rc == SPL_EAGAIN && !spl__contend_pause(s, keys[i], 1, &c))
                rc = spl__vec_put(s, keys[i], &h, enc, 0, 0);
        }
        if (rc)
            break;
    }
    if (done)
        *done = i;
    free(scratch);
    return rc;
}

SPL_API int spl_vec_clear(spl_store *s, const char *key)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!key)
        return SPL_EINVAL;
    uint64_t fp;
    int i = spl__key_lock(s, key, 0, &fp);
    if (i < 0)
        return i;
    struct spl_slot *sl = spl__slot(s, (uint32_t)i);
    if (spl_load32_relaxed(&sl->vec_state) == 0) {
        spl__slot_unlock(sl);
        return SPL_ENOVEC;
    }
    /* no undo: freeing the cell's link is the commit (spl__vec_release) */
    struct spl__note note;
    spl__note_take(s, (uint32_t)i, sl, fp, &note);
    uint64_t odd = spl__write_begin(sl);
    spl__vec_release(s, (uint32_t)i, sl);
    spl_store_relaxed(&sl->mtime_ns, spl__clock_ns(CLOCK_REALTIME_COARSE));
    spl__write_end(sl, odd);
    spl__slot_unlock(sl);
    spl__note_send(s, &note);
    return 0;
}

/* ---- get ---------------------------------------------------------------- */

struct spl__vget {
    struct spl_vec_head head;
    void *raw;      /* vec_bytes, private */
    uint64_t epoch;
    int has;
};

/* Read section visitor: copy the head and the raw elements out of the
 * slot's cell.  Inside a stable read of the slot the cell cannot change
 * (only the slot's holder writes it): a cell that is not the slot's, or
 * whose seq is odd or moves, is corrupt. */
static int spl__rd_vec(struct spl_store *s, struct spl_slot *sl, uint64_t e, void *ctx)
{
    struct spl__vget *c = ctx;
    uint32_t vs = spl_load32_relaxed(&sl->vec_state);
    c->epoch = e;
    c->has = vs != 0;
    if (!vs)
        return 0;
    uint32_t i = (uint32_t)(((uint8_t *)sl - s->slots) / s->stride);
    struct spl_cell *cl = spl__cell_of(s, i, vs);
    if (!cl)
        return SPL_ECORRUPT;
    uint64_t q = spl_load_acquire(&cl->seq);
    spl__copy_out(&c->head, (const uint8_t *)&cl->head, sizeof c->head);
    spl__copy_out(c->raw, spl__cell_elems(cl), spl__vec_bytes(s));
    return (q & 1) || spl__seq_retry(&cl->seq, q) ? SPL_ECORRUPT : 0;
}

/* Decode a consistent copy into out (vec_dim floats). */
static int spl__vec_decode(const struct spl_store *s, const struct spl__vget *c, float *out)
{
    if (c->head.dim != s->vec_dim)
        return SPL_ECORRUPT;
    uint32_t n = s->vec_dim;
    if (s->vec_fmt == SPL_VEC_F32) {
        memcpy(out, c->raw, (size_t)n * 4);
    } else if (s->vec_fmt == SPL_VEC_F16) {
        spl__vk_get()->dec_f16(c->raw, out, n);
    } else {
        const int8_t *x = c->raw;
        float scale = spl__f32_of(c->head.scale_bits);
        if (!isfinite(scale))
            return SPL_ECORRUPT;
        for (uint32_t i = 0; i < n; i++)
            out[i] = (float)x[i] * scale;
    }
    return 0;
}

static int spl__vec_read(spl_store *s, const char *key, float *out, uint64_t *epoch_out)
{
    struct spl__vget c = {0};
    c.raw = malloc(spl__vec_bytes(s) + 8);
    if (!c.raw)
        return SPL_ENOMEM;
    int rc = spl__key_read(s, key, spl__rd_vec, &c);
    if (rc >= 0)
        rc = c.has ? spl__vec_decode(s, &c, out) : SPL_ENOVEC;
    if (rc == 0 && epoch_out)
        *epoch_out = c.epoch;
    free(c.raw);
    return rc;
}

SPL_API int spl_vec_get(spl_store *s, const char *key, float *out, uint32_t dim,
                        uint64_t *epoch_out)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!out || !key)
        return SPL_EINVAL;
    if (dim != s->vec_dim)
        return SPL_EDIM;
    return spl__vec_read(s, key, out, epoch_out);
}

/* ---- search -------------------------------------------------------------
 * One scan serves a batch of queries: cells are read in groups of SPL__GX,
 * each group under its cells' seqlocks, and a kernel scores every query of
 * the batch against the group while it is in cache.  spl_vec_search is the
 * batch of one.  Each query keeps its own heap per scanning thread; the
 * filters (shared by the batch) and the one look at a cell's slot are done
 * once per cell for all queries. */

#define SPL__VTRIES      4  /* a vector that moves this many times is skipped */
#define SPL__THREADS_MAX 64
/* A search is split over threads only when each gets at least this much
 * work: bytes of cells, plus queries x dim / 4 per cell for the kernel's
 * arithmetic (/ 16 for int8), about what scanning that many bytes costs.
 * Below it the wake-up of a worker and the merge cost more than the split
 * saves (bench: split_gain_*, docs/VECTORS.md, "Threads"). */
#define SPL__SPLIT_BYTES (4u << 20)

/* The split threshold in use: SPL__SPLIT_BYTES, or $SPLINTER_SPLIT_BYTES
 * (tests force splits of small searches with 0), or spl__vec_split_set's. */
static _Atomic uint64_t spl__split_bytes = UINT64_MAX; /* UINT64_MAX: not read yet */

void spl__vec_split_set(uint64_t bytes)
{
    atomic_store_explicit(&spl__split_bytes, bytes, memory_order_relaxed);
}

static uint64_t spl__split_get(void)
{
    uint64_t b = atomic_load_explicit(&spl__split_bytes, memory_order_relaxed);
    if (b == UINT64_MAX) {
        const char *e = getenv("SPLINTER_SPLIT_BYTES");
        char *end;
        unsigned long long v = e && *e ? strtoull(e, &end, 10) : 0;
        b = e && *e && !*end ? (uint64_t)v : SPL__SPLIT_BYTES;
        atomic_store_explicit(&spl__split_bytes, b, memory_order_relaxed);
    }
    return b;
}

struct spl__cand {
    float good;  /* larger is better: the score, or -distance^2 for L2 */
    float score;
    uint32_t slot, key_len;
    uint64_t epoch;
    char *key;   /* in the heap's key arena */
};

/* a better than b: larger good, then smaller key bytes (then shorter). */
static inline int spl__better(const struct spl__cand *a, const struct spl__cand *b)
{
    if (a->good != b->good)
        return a->good > b->good;
    uint32_t m = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, m);
    return c ? c < 0 : a->key_len < b->key_len;
}

/* The k best seen by one thread for one query, the worst at the top. */
struct spl__heap {
    struct spl__cand *c;
    uint32_t n;
};

struct spl__scan;

/* What the scanning threads share; read-only while they run. */
struct spl__search {
    struct spl_store *s;
    const struct spl__vk *vk;
    const spl_vec_query *q; /* k, metric, flags, labels, prefix: the batch's */
    uint32_t nq, k, nthr;
    size_t qstride;         /* elements from one packed query to the next */
    const void *qpack;      /* the queries: float, or int8 in an I8 store */
    const void *zeros;      /* a cell's worth of zeros: unused kernel inputs */
    const float *qnorm, *qnorm2, *qscale; /* per query (qscale: I8 stores) */
    const char *const *self; /* per query: SPL_VQ_SKIP_SELF's key, or NULL */
    const size_t *self_len;
    size_t prefix_len;
    int filtered;           /* labels or a prefix: every scored cell's slot is read */
    struct spl__scan *sc;   /* nthr */
    uint32_t ncell, chunk;  /* cells to scan, in chunks of this many */
    _Atomic uint32_t next;  /* the next chunk to take */
};

/* One scanning thread.  Each lives on its own cache lines (the counters
 * move with every cell). */
struct spl__scan {
    const struct spl__search *se;
    uint32_t lo, hi;
    struct spl__heap *heap; /* nq */
    float *thr;             /* nq: the heap's worst once full, else -inf
                               (padded to SPL__LANES with +inf) */
    void *dots;             /* SPL__GX x nq kernel results (float; int32 for I8) */
    float *good;            /* nq, padded to SPL__LANES */
    uint32_t *nan;          /* nq: cells whose score was NaN for that query */
    char *kbuf;             /* key_max + 8: the key of the cell at hand */
    uint8_t *tsan_elems;    /* SPL__TSAN builds: SPL__GX + 1 private cell copies (the
                               group's, and spl__scan_one's) */
    void *mem;              /* the block all of the above live in */
    uint64_t scanned, skipped;
} __attribute__((aligned(64)));

static void spl__heap_down(struct spl__cand *h, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, w = i;
        if (l < n && spl__better(&h[w], &h[l]))
            w = l;
        if (l + 1 < n && spl__better(&h[w], &h[l + 1]))
            w = l + 1;
        if (w == i)
            return;
        struct spl__cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void spl__heap_push(struct spl__heap *hp, uint32_t k, const struct spl__cand *c)
{
    struct spl__cand *h = hp->c;
    if (hp->n < k) { /* sift up */
        uint32_t i = hp->n++;
        char *mine = h[i].key;
        h[i] = *c;
        memcpy(mine, c->key, c->key_len);
        h[i].key = mine;
        while (i > 0 && spl__better(&h[(i - 1) / 2], &h[i])) {
            struct spl__cand t = h[i];
            h[i] = h[(i - 1) / 2];
            h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
        return;
    }
    char *mine = h[0].key; /* replace the worst */
    h[0] = *c;
    memcpy(mine, c->key, c->key_len);
    h[0].key = mine;
    spl__heap_down(h, hp->n, 0);
}

static int spl__filters_pass(const struct spl__search *se, struct spl_slot *sl)
{
    const spl_vec_query *q = se->q;
    if (q->labels) {
        uint64_t l = spl_load_relaxed(&sl->labels);
        if ((q->flags & SPL_F_LABELS_ANY) ? !(l & q->labels) : (l & q->labels) != q->labels)
            return 0;
    }
    if (se->prefix_len) {
        uint32_t kl = spl_load32_relaxed(&sl->key_len);
        if (kl < se->prefix_len || kl > se->s->key_max)
            return 0;
        char buf[SPL_KEY_MAX_LIMIT + 8];
        spl__copy_out(buf, spl__slot_key(sl), se->prefix_len);
        if (memcmp(buf, q->prefix, se->prefix_len) != 0)
            return 0;
    }
    return 1;
}

enum { SPL__CK_HIT = 1, SPL__CK_NOT = 0, SPL__CK_MOVED = -1, SPL__CK_BAD = -2 };

/* Is cell c, scored at seq q, the vector of the slot x its link names,
 * passing the filters?  Reads the slot under its seqlock and re-reads the
 * cell's seq inside it: HIT (key copied into cand, epoch set), NOT (not
 * that slot's vector now, or filtered out), MOVED (the cell was rewritten:
 * score again), BAD (corrupt, or the slot stayed busy). */
static int spl__cell_check(const struct spl__search *se, uint32_t c, struct spl_cell *cl,
                           uint64_t q, uint32_t x, struct spl__cand *cand, int copy_key)
{
    struct spl_store *s = se->s;
    struct spl_slot *sl = spl__slot(s, x);
    for (int t = 0; t < SPL__VTRIES; t++) {
        uint64_t e1 = spl__read_begin(sl);
        if (e1 & 1) {
            spl__slot_busy(s, x); /* a dead writer's slot is recovered */
            spl_cpu_relax();
            continue;
        }
        /* a key in a settled slot is a committed one */
        uint32_t kl = spl_load32_relaxed(&sl->key_len);
        int ok = kl != 0 && spl_load32_relaxed(&sl->vec_state) == c + 1 && spl__filters_pass(se, sl);
        int kl_ok = kl > 0 && kl <= s->key_max;
        if (ok && kl_ok && copy_key)
            spl__copy_out(cand->key, spl__slot_key(sl), kl);
        int moved = spl__seq_retry(&cl->seq, q); /* inside the slot's stable read */
        if (spl__read_retry(sl, e1))
            continue; /* torn: nothing of it is used */
        if (!ok)
            return SPL__CK_NOT;
        if (!kl_ok || (copy_key && memchr(cand->key, 0, kl)))
            return SPL__CK_BAD; /* a key with a NUL in it: corrupt (spl_foreach skips it too) */
        if (moved)
            return SPL__CK_MOVED;
        cand->key_len = kl;
        cand->epoch = e1;
        return SPL__CK_HIT;
    }
    return SPL__CK_BAD;
}

/* The head of a cell being read: 1 if it can be scored (the store's dim, a
 * finite norm >= 0 and a finite scale). */
static inline int spl__head_ok(const struct spl_store *s, struct spl_cell *cl, float *norm,
                               float *scale)
{
    *norm = spl__f32_of(spl_load32_relaxed(&cl->head.norm_bits));
    *scale = spl__f32_of(spl_load32_relaxed(&cl->head.scale_bits));
    return spl_load32_relaxed(&cl->head.dim) == s->vec_dim && *norm >= 0 && isfinite(*norm) &&
           isfinite(*scale);
}

/* The elements the kernel reads for the i-th cell of a group: in place,
 * or (SPL__TSAN) a private copy made with relaxed atomic loads. */
static inline const void *spl__elems_for(struct spl__scan *sc, struct spl_cell *cl, uint32_t i)
{
    if (!SPL__TSAN)
        return spl__cell_elems(cl);
    size_t vb = spl__vec_bytes(sc->se->s);
    spl__copy_out(sc->tsan_elems + i * (vb + 64), spl__cell_elems(cl), vb);
    return sc->tsan_elems + i * (vb + 64);
}

static inline void spl__kernel(const struct spl__search *se, const void *const *xs, void *dots)
{
    struct spl_store *s = se->s;
    if (s->vec_fmt == SPL_VEC_F32)
        se->vk->dots_f32(se->qpack, se->qstride, se->nq, xs, s->vec_dim, dots);
    else if (s->vec_fmt == SPL_VEC_F16)
        se->vk->dots_f16(se->qpack, se->qstride, se->nq, xs, s->vec_dim, dots);
    else
        se->vk->dots_i8(se->qpack, se->qstride, se->nq, xs, s->vec_dim, dots);
}

/* Goodness of one cell for every query, from the kernel's dots: the
 * metric's score (cosine, dot) or -distance^2 (L2).  g holds nq rounded up
 * to SPL__LANES entries (the padding is 0).  On x86-64 the loops run on
 * SSE2 (the baseline ISA; GCC does not vectorize them at -O2); each lane
 * does the scalar arithmetic, so a query's goodness is the same bits alone
 * or in a batch, and on every SIMD path. */
#define SPL__LANES 4u
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static void spl__goods(const struct spl__search *se, float norm, float scale, const void *dots,
                       float *g)
{
    const uint32_t nq = se->nq, nqp = (uint32_t)spl_round_up(nq, SPL__LANES);
    if (se->s->vec_fmt == SPL_VEC_I8) {
        const int32_t *d = dots;
        const float *qs = se->qscale;
        for (uint32_t j = 0; j < nq; j++)
            g[j] = (float)d[j] * qs[j] * scale;
    } else {
        memcpy(g, dots, nq * sizeof *g);
    }
    for (uint32_t j = nq; j < nqp; j++)
        g[j] = 0;
    if (se->q->metric == SPL_METRIC_DOT)
        return;
#if defined(__SSE2__)
    if (se->q->metric == SPL_METRIC_COSINE) {
        /* (norm > 0 && qnorm > 0) ? dot / (norm * qnorm) : 0 */
        const __m128 vn = _mm_set1_ps(norm), live = norm > 0 ? _mm_castsi128_ps(_mm_set1_epi32(-1))
                                                              : _mm_setzero_ps();
        for (uint32_t b = 0; b < nqp; b += 4) {
            __m128 qn = _mm_loadu_ps(se->qnorm + b);
            __m128 r = _mm_div_ps(_mm_loadu_ps(g + b), _mm_mul_ps(vn, qn));
            __m128 m = _mm_and_ps(_mm_cmpgt_ps(qn, _mm_setzero_ps()), live);
            _mm_storeu_ps(g + b, _mm_and_ps(r, m));
        }
    } else {
        /* -(qnorm^2 + norm^2 - 2 dot), or -0 where that is < 0 (the
         * expansion's rounding near 0) */
        const __m128 n2 = _mm_set1_ps(norm * norm), two = _mm_set1_ps(2.0f);
        const __m128 sign = _mm_set1_ps(-0.0f);
        for (uint32_t b = 0; b < nqp; b += 4) {
            __m128 d2 = _mm_sub_ps(_mm_add_ps(_mm_loadu_ps(se->qnorm2 + b), n2),
                                   _mm_mul_ps(two, _mm_loadu_ps(g + b)));
            __m128 neg = _mm_cmplt_ps(d2, _mm_setzero_ps());
            __m128 v = _mm_xor_ps(d2, sign); /* -d2 */
            _mm_storeu_ps(g + b, _mm_or_ps(_mm_andnot_ps(neg, v), _mm_and_ps(neg, sign)));
        }
    }
#else
    if (se->q->metric == SPL_METRIC_COSINE) {
        const float *qn = se->qnorm;
        for (uint32_t j = 0; j < nqp; j++)
            g[j] = (norm > 0 && qn[j] > 0) ? g[j] / (norm * qn[j]) : 0.0f;
    } else {
        const float *qn2 = se->qnorm2;
        for (uint32_t j = 0; j < nqp; j++) {
            float d2 = qn2[j] + norm * norm - 2.0f * g[j];
            g[j] = d2 < 0 ? -0.0f : -d2; /* d2 < 0: rounding of the expansion near 0 */
        }
    }
#endif
}

/* The goodness of a lone query (nq 1): the same arithmetic as a lane of
 * spl__goods, without its loops. */
static inline float spl__good1(const struct spl__search *se, float norm, float scale,
                               const void *dots)
{
    float d = se->s->vec_fmt == SPL_VEC_I8 ? (float)*(const int32_t *)dots * se->qscale[0] * scale
                                           : *(const float *)dots;
    switch (se->q->metric) {
    case SPL_METRIC_COSINE:
        return (norm > 0 && se->qnorm[0] > 0) ? d / (norm * se->qnorm[0]) : 0.0f;
    case SPL_METRIC_DOT:
        return d;
    default: {
        float d2 = (se->qnorm2[0] + norm * norm) - 2.0f * d;
        return d2 < 0 ? -0.0f : -d2;
    }
    }
}

/* Whether any query's goodness may enter its heap (g >= thr; padding has
 * thr +inf), and whether any is NaN. */
static inline void spl__any_enter(const float *g, const float *thr, uint32_t nqp, int *enter,
                                  int *nan)
{
#if defined(__SSE2__)
    __m128 e = _mm_setzero_ps(), u = _mm_setzero_ps();
    for (uint32_t b = 0; b < nqp; b += 4) {
        __m128 v = _mm_loadu_ps(g + b);
        e = _mm_or_ps(e, _mm_cmpge_ps(v, _mm_loadu_ps(thr + b)));
        u = _mm_or_ps(u, _mm_cmpunord_ps(v, v));
    }
    *enter = _mm_movemask_ps(e) != 0;
    *nan = _mm_movemask_ps(u) != 0;
#else
    int e = 0, u = 0;
    for (uint32_t j = 0; j < nqp; j++) {
        e |= g[j] >= thr[j];
        u |= g[j] != g[j];
    }
    *enter = e;
    *nan = u;
#endif
}

/* A consistently scored cell (its seq still q after the kernel): one look
 * at its slot when a score may enter a heap, with filters, or when it
 * could not be scored; then into the heaps.  SPL__CK_MOVED if the cell
 * changed before the slot was read (score it again), else 0. */
static int spl__cell_eval(struct spl__scan *sc, uint32_t c, struct spl_cell *cl, uint64_t q,
                          uint32_t x, float norm, float scale, int valid, const void *dots,
                          uint64_t *scanned, uint64_t *skipped)
{
    const struct spl__search *se = sc->se;
    const uint32_t nq = se->nq;
    float *g = sc->good;
    const float *thr = sc->thr;
    int enter = 0, nan = 0;
    if (valid && nq == 1) {
        g[0] = spl__good1(se, norm, scale, dots);
        enter = g[0] >= thr[0];
        nan = g[0] != g[0];
    } else if (valid) {
        spl__goods(se, norm, scale, dots, g);
        spl__any_enter(g, thr, (uint32_t)spl_round_up(nq, SPL__LANES), &enter, &nan);
    }
    struct spl__cand cand = {0, 0, x, 0, 0, sc->kbuf};
    if (!valid || enter || nan || se->filtered) {
        int r = spl__cell_check(se, c, cl, q, x, &cand, enter);
        if (r == SPL__CK_MOVED)
            return r;
        if (r == SPL__CK_NOT)
            return 0; /* not a live key's vector now, or filtered out */
        if (r == SPL__CK_BAD || !valid) {
            (*skipped)++; /* consistent but corrupt: a hostile peer's */
            return 0;
        }
    }
    (*scanned)++;
    for (uint32_t j = 0; nan && j < nq; j++)
        sc->nan[j] += g[j] != g[j]; /* not scorable for that query: skipped for it */
    for (uint32_t j = 0; enter && j < nq; j++) {
        if (!(g[j] >= sc->thr[j]))
            continue;
        if (se->self && se->self[j] && cand.key_len == se->self_len[j] &&
            memcmp(cand.key, se->self[j], cand.key_len) == 0)
            continue;
        struct spl__heap *hp = &sc->heap[j];
        cand.good = g[j];
        cand.score = se->q->metric == SPL_METRIC_L2 ? sqrtf(-g[j]) : g[j];
        if (hp->n < se->k || spl__better(&cand, &hp->c[0])) {
            spl__heap_push(hp, se->k, &cand);
            if (hp->n == se->k)
                sc->thr[j] = hp->c[0].good;
        }
    }
    return 0;
}

/* Cell c alone, from try t on: the cell that was busy or moved in its
 * group.  Retried up to SPL__VTRIES reads in all, then skipped. */
static void spl__scan_one(struct spl__scan *sc, uint32_t c, int t, uint64_t *scanned,
                          uint64_t *skipped)
{
    const struct spl__search *se = sc->se;
    struct spl_store *s = se->s;
    struct spl_cell *cl = spl__cell(s, c);
    const void *xs[SPL__GX];
    for (uint32_t i = 1; i < SPL__GX; i++)
        xs[i] = se->zeros;
    for (;; t++) {
        if (t >= SPL__VTRIES) {
            (*skipped)++;
            return;
        }
        uint64_t q = spl_load_acquire(&cl->seq);
        uint32_t x1 = spl__link_slot1(spl_load_relaxed(&cl->link));
        if (!x1)
            return; /* a free cell */
        if (x1 > s->nslots) {
            (*skipped)++; /* a link to no slot: corrupt */
            return;
        }
        if (q & 1) { /* being written, or its writer died */
            if (spl__cell_orphan(s, c, x1 - 1) > 0)
                return; /* nobody's vector */
            spl__slot_busy(s, x1 - 1);
            spl_cpu_relax();
            continue;
        }
        float norm, scale;
        int valid = spl__head_ok(s, cl, &norm, &scale);
        /* a copy of its own (SPL__TSAN): a group being collected holds 0.. */
        xs[0] = spl__elems_for(sc, cl, SPL__GX);
        spl__kernel(se, xs, sc->dots);
        if (spl__seq_retry(&cl->seq, q))
            continue; /* torn: nothing of it is used */
        if (spl__cell_eval(sc, c, cl, q, x1 - 1, norm, scale, valid, sc->dots, scanned, skipped) !=
            SPL__CK_MOVED)
            return;
    }
}

/* Cells [lo, hi) in groups of SPL__GX: each cell's seq (acquire) and link,
 * its head, the kernel over the group, then one acquire fence and each
 * cell's seq again; a cell that was busy or moved is done alone.  The
 * cells are dense, so the hardware prefetcher streams them. */
static void spl__scan_range(struct spl__scan *sc)
{
    const struct spl__search *se = sc->se;
    struct spl_store *s = se->s;
    const size_t dstride = se->nq * 4; /* bytes between one cell's dots and the next's */
    uint64_t scanned = 0, skipped = 0;
    const void *xs[SPL__GX];
    struct {
        struct spl_cell *cl;
        uint64_t q;
        uint32_t c, x1;
        float norm, scale;
        int valid;
    } g[SPL__GX];
    for (uint32_t c0 = sc->lo; c0 < sc->hi; c0 += SPL__GX) {
        uint32_t m = 0, end = sc->hi - c0 < SPL__GX ? sc->hi : c0 + SPL__GX;
        for (uint32_t c = c0; c < end; c++) {
            struct spl_cell *cl = spl__cell(s, c);
            uint64_t q = spl_load_acquire(&cl->seq);
            uint32_t x1 = spl__link_slot1(spl_load_relaxed(&cl->link));
            if (!x1)
                continue; /* a free cell */
            if (x1 > s->nslots) {
                skipped++; /* a link to no slot: corrupt */
                continue;
            }
            if (q & 1) {
                spl__scan_one(sc, c, 0, &scanned, &skipped);
                continue;
            }
            g[m].cl = cl;
            g[m].q = q;
            g[m].c = c;
            g[m].x1 = x1;
            g[m].valid = spl__head_ok(s, cl, &g[m].norm, &g[m].scale);
            xs[m] = spl__elems_for(sc, cl, m);
            m++;
        }
        if (!m)
            continue;
        /* the next group's head lines (its seqs and links come first,
         * ahead of the streams the hardware prefetcher follows) */
        for (uint32_t c = end; c < end + SPL__GX && c < sc->hi; c++)
            __builtin_prefetch(spl__cell(s, c), 0, 3);
        for (uint32_t i = m; i < SPL__GX; i++)
            xs[i] = se->zeros;
        spl__kernel(se, xs, sc->dots);
        /* acquire fence: pairs with the release fence of the cell's writer
         * (spl_vec_set), as in spl__seq_retry */
        spl_fence_acquire();
        uint32_t again[SPL__GX], na = 0;
        for (uint32_t i = 0; i < m; i++) {
            int moved = spl_load_relaxed(&g[i].cl->seq) != g[i].q;
#ifdef SPL_BROKEN_NO_RECHECK
            moved = 0; /* deliberately broken build for tests/expect-fail.sh */
#endif
            if (moved || spl__cell_eval(sc, g[i].c, g[i].cl, g[i].q, g[i].x1 - 1, g[i].norm,
                                        g[i].scale, g[i].valid,
                                        (const uint8_t *)sc->dots + i * dstride, &scanned,
                                        &skipped) == SPL__CK_MOVED)
                again[na++] = g[i].c;
        }
        /* after the group's dots are used: spl__scan_one reuses the buffer */
        for (uint32_t i = 0; i < na; i++)
            spl__scan_one(sc, again[i], 1, &scanned, &skipped);
    }
    sc->scanned += scanned;
    sc->skipped += skipped;
}

/* Thread t of a split search: chunks of cells, taken one at a time until
 * none is left, so a thread that starts late or is preempted leaves its
 * share to the others (a split search is never much slower than one
 * thread, even on a busy machine). */
static void spl__scan_task(void *arg, uint32_t t)
{
    struct spl__search *se = arg;
    struct spl__scan *sc = &se->sc[t];
    for (;;) {
        uint32_t c = atomic_fetch_add_explicit(&se->next, 1, memory_order_relaxed);
        uint64_t lo = (uint64_t)c * se->chunk;
        if (lo >= se->ncell)
            return;
        sc->lo = (uint32_t)lo;
        sc->hi = (uint32_t)(lo + se->chunk < se->ncell ? lo + se->chunk : se->ncell);
        spl__scan_range(sc);
    }
}

/* Carve n pieces out of one block: sizes rounded up to 64 bytes. */
static void *spl__carve(uint8_t **p, size_t bytes)
{
    void *r = *p;
    *p += spl_round_up(bytes, 64);
    return r;
}

static int spl__scan_init(struct spl__scan *sc, const struct spl__search *se)
{
    struct spl_store *s = se->s;
    uint32_t nq = se->nq, k = se->k, nqp = (uint32_t)spl_round_up(nq, SPL__LANES);
    size_t kb = spl_round_up((size_t)s->key_max + 8, 8);
    size_t vb = spl__vec_bytes(s) + 64;
    size_t bytes = 64 * 10 + nq * sizeof(struct spl__heap) + (size_t)nq * k * sizeof(struct spl__cand) +
                   (size_t)nq * k * kb + nqp * 4 * (size_t)(SPL__GX + 3) + kb +
                   (SPL__TSAN ? (SPL__GX + 1) * vb : 0);
    uint8_t *p = NULL;
    if (posix_memalign((void **)&p, 64, bytes) != 0)
        return SPL_ENOMEM;
    sc->mem = p;
    sc->heap = spl__carve(&p, nq * sizeof *sc->heap);
    struct spl__cand *cands = spl__carve(&p, (size_t)nq * k * sizeof *cands);
    char *arena = spl__carve(&p, (size_t)nq * k * kb);
    sc->thr = spl__carve(&p, nqp * 4);
    sc->dots = spl__carve(&p, (size_t)SPL__GX * nq * 4);
    sc->good = spl__carve(&p, nqp * 4);
    sc->nan = spl__carve(&p, nq * 4);
    sc->kbuf = spl__carve(&p, kb);
    sc->tsan_elems = SPL__TSAN ? spl__carve(&p, (SPL__GX + 1) * vb) : NULL;
    for (uint32_t j = 0; j < nq; j++) {
        sc->heap[j] = (struct spl__heap){cands + (size_t)j * k, 0};
        for (uint32_t i = 0; i < k; i++)
            cands[(size_t)j * k + i].key = arena + ((size_t)j * k + i) * kb;
        sc->thr[j] = -INFINITY;
        sc->nan[j] = 0;
    }
    for (uint32_t j = nq; j < nqp; j++)
        sc->thr[j] = INFINITY; /* padding never enters */
    return 0;
}

static int spl__cand_cmp(const void *a, const void *b)
{
    const struct spl__cand *x = a, *y = b;
    return spl__better(x, y) ? -1 : spl__better(y, x) ? 1 : 0;
}

/* By key bytes, then newest (largest epoch) first. */
static int spl__cand_key_cmp(const void *a, const void *b)
{
    const struct spl__cand *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);
    if (c)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return x->epoch > y->epoch ? -1 : x->epoch < y->epoch;
}

/* Query j's result block: the header, n hits, then the keys; its heaps
 * from every thread merged. */
static int spl__result_make(const struct spl__search *se, uint32_t j, spl_vec_result **out)
{
    uint32_t total = 0, k = se->k;
    size_t key_bytes = 0;
    uint64_t scanned = 0, skipped = 0;
    for (uint32_t t = 0; t < se->nthr; t++) {
        total += se->sc[t].heap[j].n;
        scanned += se->sc[t].scanned - se->sc[t].nan[j];
        skipped += se->sc[t].skipped + se->sc[t].nan[j];
    }
    struct spl__cand *all = malloc(((size_t)total + 1) * sizeof *all);
    if (!all)
        return SPL_ENOMEM;
    uint32_t m = 0;
    for (uint32_t t = 0; t < se->nthr; t++) {
        memcpy(all + m, se->sc[t].heap[j].c, (size_t)se->sc[t].heap[j].n * sizeof *all);
        m += se->sc[t].heap[j].n;
    }
    /* A key deleted and set again while the search ran lives in another
     * slot and cell, and may have been scored in both: keep its newest
     * vector only (a key set again starts above every epoch it had). */
    if (total > 1) {
        qsort(all, total, sizeof *all, spl__cand_key_cmp);
        uint32_t w = 1;
        for (uint32_t i = 1; i < total; i++)
            if (all[i].key_len != all[w - 1].key_len || memcmp(all[i].key, all[w - 1].key, all[i].key_len))
                all[w++] = all[i];
        total = w;
    }
    qsort(all, total, sizeof *all, spl__cand_cmp);
    uint32_t n = total < k ? total : k;
    for (uint32_t i = 0; i < n; i++)
        key_bytes += all[i].key_len + 1;
    spl_vec_result *r = malloc(sizeof *r + (size_t)n * sizeof(spl_vec_hit) + key_bytes);
    if (!r) {
        free(all);
        return SPL_ENOMEM;
    }
    r->n = n;
    r->scanned = scanned;
    r->skipped = skipped;
    r->flags = 0;
    r->hits = (spl_vec_hit *)(void *)(r + 1);
    char *kp = (char *)(r->hits + n);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(kp, all[i].key, all[i].key_len);
        kp[all[i].key_len] = 0;
        r->hits[i] = (spl_vec_hit){kp, all[i].key_len, all[i].score, all[i].slot, all[i].epoch};
        kp += all[i].key_len + 1;
    }
    free(all);
    *out = r;
    return 0;
}

static int spl__str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The batch's queries agree on everything but the vector or key. */
static int spl__query_ok(const spl_store *s, const spl_vec_query *q, const spl_vec_query *q0)
{
    if (q->k == 0 || q->k > SPL_VEC_K_LIMIT || (unsigned)q->metric >= SPL__METRIC_COUNT ||
        (!q->vec && !q->key) || q->threads > SPL__THREADS_MAX)
        return SPL_EINVAL;
    if (q != q0 && (q->k != q0->k || q->metric != q0->metric ||
                    (q->flags & ~(uint32_t)SPL_VQ_SKIP_SELF) != (q0->flags & ~(uint32_t)SPL_VQ_SKIP_SELF) ||
                    q->labels != q0->labels || q->threads != q0->threads ||
                    !spl__str_eq(q->prefix, q0->prefix)))
        return SPL_EINVAL;
    return q->vec && q->dim != s->vec_dim ? SPL_EDIM : 0;
}

/* Pack query j (qv: vec_dim floats, checked) for the kernels; its norms. */
static void spl__query_pack(struct spl_store *s, const struct spl__vk *vk, const float *qv,
                            void *pack, size_t qstride, uint32_t j, float *qnorm, float *qnorm2,
                            float *qscale)
{
    uint32_t n = s->vec_dim;
    double ss = 0, maxabs = 0;
    for (uint32_t i = 0; i < n; i++) {
        ss += (double)qv[i] * qv[i];
        maxabs = fabs((double)qv[i]) > maxabs ? fabs((double)qv[i]) : maxabs;
    }
    qnorm2[j] = (float)ss;
    qnorm[j] = (float)sqrt(ss);
    if (s->vec_fmt != SPL_VEC_I8) {
        float *o = (float *)pack + j * qstride;
        memcpy(o, qv, (size_t)n * 4);
        memset(o + n, 0, (qstride - n) * 4);
        qscale[j] = 1;
        return;
    }
    /* int8 stores: the query quantized once, symmetric like the cells
     * (scale max|q|/127), so the kernels multiply bytes by bytes; VNNI
     * paths take it biased by +128 (unsigned) */
    int8_t *o = (int8_t *)pack + j * qstride;
    float sc = maxabs > 0 ? (float)(maxabs / 127.0) : 1.0f;
    uint8_t bias = vk->i8_biased ? 0x80 : 0;
    for (uint32_t i = 0; i < n; i++) {
        long r = lrintf(qv[i] / sc);
        r = r > 127 ? 127 : r < -127 ? -127 : r;
        o[i] = (int8_t)(uint8_t)((uint8_t)(int8_t)r ^ bias);
    }
    memset(o + n, bias, qstride - n);
    qscale[j] = sc;
}

static int spl__search(spl_store *s, const spl_vec_query *qs, uint32_t nq, spl_vec_result **out)
{
    if (nq == 0 || nq > SPL_VEC_BATCH_LIMIT)
        return SPL_EINVAL; /* out[] is not ours to touch */
    for (uint32_t j = 0; out && j < nq; j++)
        out[j] = NULL;
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!qs || !out)
        return SPL_EINVAL;
    for (uint32_t j = 0; j < nq; j++)
        if ((rc = spl__query_ok(s, &qs[j], &qs[0])) != 0)
            return rc;
    const spl_vec_query *q = &qs[0];
    const struct spl__vk *vk = spl__vk_get();
    struct spl__search se = {.s = s, .vk = vk, .q = q, .nq = nq, .k = q->k};
    uint32_t n = s->vec_dim;
    se.qstride = spl_round_up(n, SPL__QPAD);
    size_t esz = s->vec_fmt == SPL_VEC_I8 ? 1 : 4;
    uint8_t *qpack = NULL, *zeros = NULL;
    float *qv = malloc((size_t)n * 4 + 64);
    float *norms = malloc((size_t)nq * 3 * sizeof *norms);
    const char **self = calloc(nq, sizeof *self);
    size_t *self_len = calloc(nq, sizeof *self_len);
    if (posix_memalign((void **)&qpack, 64, nq * se.qstride * esz) != 0)
        qpack = NULL;
    if (posix_memalign((void **)&zeros, 64, se.qstride * 4) != 0)
        zeros = NULL;
    struct spl__scan *sc = NULL;
    uint32_t nalloc = 0;
    rc = (!qv || !norms || !self || !self_len || !qpack || !zeros) ? SPL_ENOMEM : 0;
    if (rc)
        goto done;
    memset(zeros, 0, se.qstride * 4);
    for (uint32_t j = 0; j < nq; j++) {
        if (qs[j].vec)
            memcpy(qv, qs[j].vec, (size_t)n * 4);
        else if ((rc = spl__vec_read(s, qs[j].key, qv, NULL)) != 0)
            goto done;
        for (uint32_t i = 0; i < n; i++)
            if (!isfinite(qv[i])) {
                rc = SPL_ENAN;
                goto done;
            }
        spl__query_pack(s, vk, qv, qpack, se.qstride, j, norms, norms + nq, norms + 2 * nq);
        if ((qs[j].flags & SPL_VQ_SKIP_SELF) && !qs[j].vec) { /* each query's own */
            self[j] = qs[j].key;
            self_len[j] = strlen(qs[j].key);
        }
    }
    se.qpack = qpack;
    se.zeros = zeros;
    se.qnorm = norms;
    se.qnorm2 = norms + nq;
    se.qscale = norms + 2 * nq;
    se.self = self;
    se.self_len = self_len;
    se.prefix_len = q->prefix ? strlen(q->prefix) : 0;
    se.filtered = q->labels || se.prefix_len;
    /* every vector set before this call lies below the high-water mark
     * (seq_cst: its claim raised the mark before the set returned) */
    uint64_t high = spl_load_seqcst(&s->hdr->cell_high);
    uint32_t ncell = high < s->ncells ? (uint32_t)high : s->ncells; /* untrusted */
    /* threads: as asked, but only as many as have enough work each */
    uint64_t work = (uint64_t)ncell * (s->cell_stride + (uint64_t)nq * n / (esz == 1 ? 16 : 4));
    uint64_t split = spl__split_get();
    uint64_t afford = split ? work / split : UINT64_MAX;
    uint32_t nthr = q->threads ? q->threads : 1;
    if (nthr > afford)
        nthr = afford ? (uint32_t)afford : 1;
    if (nthr > ncell / SPL__GX + 1) /* and at least a group of cells each */
        nthr = ncell / SPL__GX + 1;
    if (se.prefix_len > s->key_max) /* no key can carry it: empty results */
        ncell = 0;
    if (posix_memalign((void **)&sc, 64, nthr * sizeof *sc) != 0) {
        sc = NULL;
        rc = SPL_ENOMEM;
        goto done;
    }
    memset(sc, 0, nthr * sizeof *sc);
    se.sc = sc;
    se.nthr = nthr;
    /* eight chunks per thread (a whole number of groups), one if alone */
    se.ncell = ncell;
    se.chunk = nthr > 1 ? (uint32_t)spl_round_up(ncell / (8 * nthr) + 1, SPL__GX) : ncell + 1;
    atomic_init(&se.next, 0);
    for (uint32_t t = 0; t < nthr; t++, nalloc++) {
        sc[t].se = &se;
        if ((rc = spl__scan_init(&sc[t], &se)) != 0)
            goto done;
    }
    spl__pool_run(s, spl__scan_task, &se, nthr);
    for (uint32_t j = 0; j < nq && rc == 0; j++)
        rc = spl__result_make(&se, j, &out[j]);
    if (rc)
        for (uint32_t j = 0; j < nq; j++) {
            free(out[j]);
            out[j] = NULL;
        }
done:
    for (uint32_t t = 0; t < nalloc; t++)
        free(sc[t].mem);
    free(sc);
    free(qv);
    free(norms);
    free((void *)self);
    free(self_len);
    free(qpack);
    free(zeros);
    return rc;
}

SPL_API int spl_vec_search(spl_store *s, const spl_vec_query *q, spl_vec_result **out)
{
    if (out)
        *out = NULL;
    if (!q || !out) { /* spl__search wants both */
        int rc = spl__vec_usable(s);
        return rc ? rc : SPL_EINVAL;
    }
    if (q->flags & SPL_VQ_ANN) { /* an approximate index may answer: the handle's
                                   provider, else one a running fragment offers */
        int rc = spl__vec_usable(s);
        if (rc == 0)
            rc = spl__query_ok(s, q, q);
        if (rc)
            return rc;
        rc = s->ann_fn ? s->ann_fn(s->ann_ud, s, q, out) : spl__ann_search(s, q, out);
        if (rc != SPL_ESTALE && rc != SPL_ENOTSUP)
            return rc; /* answered, or failed for a reason of its own */
        *out = NULL;   /* declined: the exact scan answers */
    }
    return spl__search(s, q, 1, out);
}

SPL_API int spl_vec_search_many(spl_store *s, const spl_vec_query *qs, uint32_t nq,
                                spl_vec_result **out)
{
    return spl__search(s, qs, nq, out);
}

SPL_API void spl_vec_result_free(spl_vec_result *r) { free(r); }

SPL_API int spl_vec_ann_set(spl_store *s, spl_vec_ann_fn fn, void *ud)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    s->ann_ud = ud;
    s->ann_fn = fn;
    return 0;
}

/* ---- tandem vectors ----------------------------------------------------- */

static int spl__tmember_vec(spl_store *s, const char *name, uint32_t i, const void *ud,
                            uint32_t timeout_us)
{
    const float *v = (const float *)ud + (size_t)i * s->vec_dim;
    SPL__WAIT(s, name, 1, spl_vec_set(s, name, v, s->vec_dim), timeout_us); /* as spl_set_wait */
}

SPL_API int spl_tandem_vec_set(spl_store *s, const char *base, const float *vecs, uint32_t n,
                               uint32_t dim, uint32_t timeout_us)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!vecs)
        return SPL_EINVAL;
    if (dim != s->vec_dim)
        return SPL_EDIM;
    for (size_t i = 0; i < (size_t)n * dim; i++)
        if (!isfinite(vecs[i]))
            return SPL_ENAN; /* refuse before writing any member */
    return spl__tandem_write(s, base, n, spl__tmember_vec, vecs, timeout_us);
}

SPL_API int spl_tandem_vec_get(spl_store *s, const char *base, uint32_t i, float *out,
                               uint32_t dim)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    char name[SPL_KEY_MAX_LIMIT + 1];
    rc = spl__tkey(s, base, i, name);
    return rc ? rc : spl_vec_get(s, name, out, dim, NULL);
}

#else /* !SPL_WITH_EMBEDDINGS: the vector API exists and says so */

void spl__vec_info(struct spl_store *s, spl_info *out)
{
    (void)s;
    out->cells = out->cells_used = 0;
}

void spl__vec_release(struct spl_store *s, uint32_t i, struct spl_slot *sl)
{
    (void)s, (void)i;
    spl_store32_relaxed(&sl->vec_state, 0); /* no cells: only a peer's garbage */
}
void spl__vec_undo_save(struct spl_store *s, uint32_t i, struct spl_slot *sl, struct spl_undo *u)
{
    (void)s, (void)i, (void)sl, (void)u; /* never armed for vectors here */
}
void spl__vec_undo_restore(struct spl_store *s, uint32_t i, struct spl_slot *sl, struct spl_undo *u)
{
    (void)u;
    spl__vec_release(s, i, sl);
}

SPL_API int spl_vec_set(spl_store *s, const char *key, const float *vec, uint32_t dim)
{
    (void)s, (void)key, (void)vec, (void)dim;
    return SPL_ENOTSUP;
}
SPL_API int spl_vec_set_if(spl_store *s, const char *key, uint64_t epoch, const float *vec,
                           uint32_t dim)
{
    (void)s, (void)key, (void)epoch, (void)vec, (void)dim;
    return SPL_ENOTSUP;
}
SPL_API int spl_vec_set_many(spl_store *s, const char *const *keys, const float *vecs, uint32_t n,
                             uint32_t dim, uint32_t timeout_us, uint32_t *done)
{
    (void)s, (void)keys, (void)vecs, (void)n, (void)dim, (void)timeout_us;
    if (done)
        *done = 0;
    return SPL_ENOTSUP;
}
SPL_API int spl_vec_get(spl_store *s, const char *key, float *out, uint32_t dim,
                        uint64_t *epoch_out)
{
    (void)s, (void)key, (void)out, (void)dim, (void)epoch_out;
    return SPL_ENOTSUP;
}
SPL_API int spl_vec_clear(spl_store *s, const char *key)
{
    (void)s, (void)key;
    return SPL_ENOTSUP;
}
SPL_API int spl_vec_search(spl_store *s, const spl_vec_query *q, spl_vec_result **out)
{
    (void)s, (void)q;
    if (out)
        *out = NULL;
    return SPL_ENOTSUP;
}
SPL_API int spl_vec_search_many(spl_store *s, const spl_vec_query *qs, uint32_t nq,
                                spl_vec_result **out)
{
    (void)s, (void)qs;
    for (uint32_t j = 0; out && j < nq && nq <= SPL_VEC_BATCH_LIMIT; j++)
        out[j] = NULL;
    return SPL_ENOTSUP;
}
SPL_API void spl_vec_result_free(spl_vec_result *r) { (void)r; }
SPL_API int spl_vec_ann_set(spl_store *s, spl_vec_ann_fn fn, void *ud)
{
    (void)s, (void)fn, (void)ud;
    return SPL_ENOTSUP;
}
SPL_API int spl_tandem_vec_set(spl_store *s, const char *base, const float *vecs, uint32_t n,
                               uint32_t dim, uint32_t timeout_us)
{
    (void)s, (void)base, (void)vecs, (void)n, (void)dim, (void)timeout_us;
    return SPL_ENOTSUP;
}
SPL_API int spl_tandem_vec_get(spl_store *s, const char *base, uint32_t i, float *out,
                               uint32_t dim)
{
    (void)s, (void)base, (void)i, (void)out, (void)dim;
    return SPL_ENOTSUP;
}

#endif
