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

/* Check v and encode it in the store's format: *enc points at the bytes to
 * store (v itself for F32, else *tmp, malloc'ed, which the caller frees). */
static int spl__vec_encode(const struct spl_store *s, const float *v, struct spl_vec_head *h,
                           const void **enc, void **tmp)
{
    uint32_t n = s->vec_dim;
    double ss = 0, maxabs = 0;
    *tmp = NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            return SPL_ENAN;
        double a = fabs((double)v[i]);
        maxabs = a > maxabs ? a : maxabs;
    }
    float scale = 1;
    if (s->vec_fmt == SPL_VEC_F32) {
        for (uint32_t i = 0; i < n; i++)
            ss += (double)v[i] * v[i];
        *enc = v;
    } else if (s->vec_fmt == SPL_VEC_F16) {
        uint16_t *o = malloc((size_t)n * 2 + 8);
        if (!o)
            return SPL_ENOMEM;
        for (uint32_t i = 0; i < n; i++) {
            o[i] = spl__f32_to_f16(v[i]);
            if ((o[i] & 0x7c00u) == 0x7c00u) {
                free(o);
                return SPL_ERANGE;
            }
            double d = spl__f16_to_f32(o[i]);
            ss += d * d;
        }
        *enc = *tmp = o;
    } else {
        int8_t *o = malloc((size_t)n + 8);
        if (!o)
            return SPL_ENOMEM;
        scale = maxabs > 0 ? (float)(maxabs / 127.0) : 1.0f;
        for (uint32_t i = 0; i < n; i++) {
            long r = lrintf(v[i] / scale);
            o[i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
            double d = (double)o[i] * scale;
            ss += d * d;
        }
        *enc = *tmp = o;
    }
    float norm = (float)sqrt(ss);
    if (!isfinite(norm) || !isfinite(scale)) {
        free(*tmp);
        *tmp = NULL;
        return SPL_ENAN; /* the norm overflows float */
    }
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
 * for slot self finds no free cell (there are as many cells as slots, so
 * only orphans can fill the arena).  The caller holds self, which names no
 * cell of its own (else it would not claim): a cell linking self is an
 * orphan, though self's odd epoch would hide that from spl__cell_orphan. */
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
        busy += o < 0;
    }
    return busy; /* cells whose slot was being written: maybe orphans */
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
 * writer was writing (an orphan of such a slot can be freed once that
 * writer is done), else SPL_EFULL (only corruption can fill the arena: it
 * has a cell per slot). */
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
    return busy ? SPL_EAGAIN : SPL_EFULL;
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

/* ---- set, clear --------------------------------------------------------- */

SPL_API int spl_vec_set(spl_store *s, const char *key, const float *vec, uint32_t dim)
{
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!vec || !key)
        return SPL_EINVAL;
    if (dim != s->vec_dim)
        return SPL_EDIM;
    if (s->rdonly)
        return SPL_EROFS;
    struct spl_vec_head h;
    const void *enc;
    void *tmp;
    rc = spl__vec_encode(s, vec, &h, &enc, &tmp);
    if (rc)
        return rc;
    uint64_t fp;
    int i = spl__key_lock(s, key, 1, &fp);
    if (i < 0) {
        free(tmp);
        return i;
    }
    struct spl_slot *sl = spl__slot(s, (uint32_t)i);
    /* The vector is rewritten in place (or a cell is claimed for it): the
     * undo record keeps the old one until the write is done. */
    struct spl_undo *u = spl__undo_arm(s, (uint32_t)i, sl, SPL_UNDO_VEC);
    if (!u) {
        spl__slot_unlock(sl);
        free(tmp);
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
        spl__copy_in((uint8_t *)&cl->head, 0, &h, sizeof h, 0);
        spl__copy_in(spl__cell_elems(cl), 0, enc, spl__vec_bytes(s), 1);
        spl_store_release(&cl->seq, q + 1);
        spl_store_relaxed(&sl->mtime_ns, now);
    }
    spl__write_end(sl, odd);
    spl__undo_done(s, u);
    spl__slot_unlock(sl);
    if (cl)
        spl__note_send(s, &note);
    free(tmp);
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
        const uint16_t *x = c->raw;
        for (uint32_t i = 0; i < n; i++)
            out[i] = spl__f16_to_f32(x[i]);
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

/* ---- search ------------------------------------------------------------- */

#define SPL__VTRIES     4  /* a vector that moves this many times is skipped */
#define SPL__THREADS_MAX 64

struct spl__cand {
    float good;  /* larger is better: the score, or -distance^2 for L2 */
    float score;
    uint32_t slot, key_len;
    uint64_t epoch;
    char *key;   /* in the scan's key arena */
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

/* Everything one scanning thread needs; its heap keeps the k best seen,
 * the worst at the top. */
struct spl__scan {
    struct spl_store *s;
    const struct spl__vk *vk;
    const spl_vec_query *q;
    const float *qv;
    float qnorm, qnorm2;
    const char *self;   /* SPL_VQ_SKIP_SELF: the query's key */
    size_t self_len, prefix_len;
    int filtered;       /* labels or a prefix: every scored cell's slot is read */
    uint32_t lo, hi, k, n;
    struct spl__cand *heap;
    char *arena;        /* (k + 1) keys of key_max + 8 bytes */
    void *tsan_elems;   /* SPL__TSAN builds: a private copy of the cell's elements */
    uint64_t scanned, skipped;
    int rc;
};

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

static void spl__heap_push(struct spl__scan *sc, const struct spl__cand *c)
{
    struct spl__cand *h = sc->heap;
    if (sc->n < sc->k) { /* sift up */
        uint32_t i = sc->n++;
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
    spl__heap_down(h, sc->n, 0);
}

/* Would a candidate of this goodness enter the heap (before its key is
 * known)?  Equal goodness needs the key: say yes and let the caller check. */
static inline int spl__may_enter(const struct spl__scan *sc, float good)
{
    return sc->n < sc->k || good >= sc->heap[0].good;
}

static int spl__filters_pass(const struct spl__scan *sc, struct spl_slot *sl)
{
    const spl_vec_query *q = sc->q;
    if (q->labels) {
        uint64_t l = spl_load_relaxed(&sl->labels);
        if ((q->flags & SPL_F_LABELS_ANY) ? !(l & q->labels) : (l & q->labels) != q->labels)
            return 0;
    }
    if (sc->prefix_len) {
        uint32_t kl = spl_load32_relaxed(&sl->key_len);
        if (kl < sc->prefix_len || kl > sc->s->key_max)
            return 0;
        char buf[SPL_KEY_MAX_LIMIT + 8];
        spl__copy_out(buf, spl__slot_key(sl), sc->prefix_len);
        if (memcmp(buf, q->prefix, sc->prefix_len) != 0)
            return 0;
    }
    return 1;
}

/* Score one cell in place.  0 and *good, *score on success; -1 if the cell
 * is not scorable (bad head or a NaN result: torn or corrupt). */
static inline int spl__score_cell(const struct spl__scan *sc, struct spl_cell *cl, float *good,
                                  float *score)
{
    const struct spl_store *s = sc->s;
    float norm = spl__f32_of(spl_load32_relaxed(&cl->head.norm_bits));
    float scale = spl__f32_of(spl_load32_relaxed(&cl->head.scale_bits));
    if (spl_load32_relaxed(&cl->head.dim) != s->vec_dim || !(norm >= 0) || !isfinite(norm) ||
        !isfinite(scale))
        return -1;
    const void *x = spl__cell_elems(cl);
    if (SPL__TSAN) {
        spl__copy_out(sc->tsan_elems, spl__cell_elems(cl), spl__vec_bytes(s));
        x = sc->tsan_elems;
    }
    float dot;
    if (s->vec_fmt == SPL_VEC_F32)
        dot = sc->vk->dot_f32(sc->qv, x, s->vec_dim);
    else if (s->vec_fmt == SPL_VEC_F16)
        dot = sc->vk->dot_f16(sc->qv, x, s->vec_dim);
    else
        dot = sc->vk->dot_i8(sc->qv, x, s->vec_dim) * scale;
    switch (sc->q->metric) {
    case SPL_METRIC_COSINE:
        *score = (norm > 0 && sc->qnorm > 0) ? dot / (norm * sc->qnorm) : 0.0f;
        *good = *score;
        break;
    case SPL_METRIC_DOT:
        *score = *good = dot;
        break;
    default: {
        float d2 = sc->qnorm2 + norm * norm - 2.0f * dot;
        if (d2 < 0)
            d2 = 0; /* rounding of the expansion near 0 */
        *good = -d2;
        *score = sqrtf(d2);
    }
    }
    return isnan(*good) ? -1 : 0;
}

enum { SPL__CK_HIT = 1, SPL__CK_NOT = 0, SPL__CK_MOVED = -1, SPL__CK_BAD = -2 };

/* Is cell c, scored at seq q, the vector of the slot x its link names,
 * passing the filters?  Reads the slot under its seqlock and re-reads the
 * cell's seq inside it: HIT (key copied into cand, epoch set), NOT (not
 * that slot's vector now, or filtered out), MOVED (the cell was rewritten:
 * score again), BAD (corrupt, or the slot stayed busy). */
static int spl__cell_check(struct spl__scan *sc, uint32_t c, struct spl_cell *cl, uint64_t q,
                           uint32_t x, struct spl__cand *cand, int copy_key)
{
    struct spl_store *s = sc->s;
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
        int ok = kl != 0 && spl_load32_relaxed(&sl->vec_state) == c + 1 && spl__filters_pass(sc, sl);
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

/* Cells [lo, hi): read each in place under its own seqlock and score it;
 * only a score that may enter the heap (or, with filters, every one) costs
 * a look at the owning slot.  The cells are dense, so the hardware
 * prefetcher streams them. */
static void spl__scan_range(struct spl__scan *sc)
{
    struct spl_store *s = sc->s;
    char *kbuf = sc->arena + (size_t)sc->k * ((size_t)s->key_max + 8);
    for (uint32_t c = sc->lo; c < sc->hi; c++) {
        struct spl_cell *cl = spl__cell(s, c);
        for (int t = 0;; t++) {
            if (t == SPL__VTRIES) {
                sc->skipped++;
                break;
            }
            uint64_t q = spl_load_acquire(&cl->seq);
            uint32_t x1 = spl__link_slot1(spl_load_relaxed(&cl->link));
            if (!x1)
                break; /* a free cell */
            if (x1 > s->nslots) {
                sc->skipped++; /* a link to no slot: corrupt */
                break;
            }
            if (q & 1) { /* being written, or its writer died */
                if (spl__cell_orphan(s, c, x1 - 1) > 0)
                    break; /* nobody's vector */
                spl__slot_busy(s, x1 - 1);
                spl_cpu_relax();
                continue;
            }
            struct spl__cand cand = {0, 0, x1 - 1, 0, 0, kbuf};
            int scored = spl__score_cell(sc, cl, &cand.good, &cand.score) == 0;
            if (spl__seq_retry(&cl->seq, q))
                continue; /* torn: nothing of it is used */
            /* one look at the slot decides, for a score that may enter the
             * heap (key copied), with filters, or for an unscorable cell */
            int enter = scored && spl__may_enter(sc, cand.good);
            if (!scored || enter || sc->filtered) {
                int r = spl__cell_check(sc, c, cl, q, x1 - 1, &cand, enter);
                if (r == SPL__CK_MOVED)
                    continue;
                if (r == SPL__CK_NOT)
                    break; /* not a live key's vector now, or filtered out */
                if (r == SPL__CK_BAD || !scored) {
                    sc->skipped++; /* consistent but corrupt: a hostile peer's */
                    break;
                }
            }
            sc->scanned++;
            if (!enter)
                break;
            if (sc->self && cand.key_len == sc->self_len && memcmp(kbuf, sc->self, cand.key_len) == 0)
                break;
            if (sc->n < sc->k || spl__better(&cand, &sc->heap[0]))
                spl__heap_push(sc, &cand);
            break;
        }
    }
}

static void *spl__scan_thread(void *arg)
{
    spl__scan_range(arg);
    return NULL;
}

static int spl__cand_cmp(const void *a, const void *b)
{
    const struct spl__cand *x = a, *y = b;
    return spl__better(x, y) ? -1 : spl__better(y, x) ? 1 : 0;
}

static int spl__scan_init(struct spl__scan *sc, uint32_t k, size_t key_max)
{
    sc->k = k;
    sc->n = 0;
    sc->heap = calloc(k, sizeof *sc->heap);
    sc->arena = malloc(((size_t)k + 1) * (key_max + 8));
    if (SPL__TSAN)
        sc->tsan_elems = malloc((size_t)SPL_VEC_DIM_LIMIT * 4 + 8);
    if (!sc->heap || !sc->arena || (SPL__TSAN && !sc->tsan_elems))
        return SPL_ENOMEM;
    for (uint32_t j = 0; j < k; j++)
        sc->heap[j].key = sc->arena + (size_t)j * (key_max + 8);
    return 0;
}

/* One result block: the header, n hits, then the keys. */
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

static int spl__result_make(struct spl__scan *sc, uint32_t nthr, uint32_t k, spl_vec_result **out)
{
    uint32_t total = 0;
    size_t key_bytes = 0;
    for (uint32_t t = 0; t < nthr; t++)
        total += sc[t].n;
    struct spl__cand *all = malloc(((size_t)total + 1) * sizeof *all);
    if (!all)
        return SPL_ENOMEM;
    uint32_t m = 0;
    uint64_t scanned = 0, skipped = 0;
    for (uint32_t t = 0; t < nthr; t++) {
        memcpy(all + m, sc[t].heap, (size_t)sc[t].n * sizeof *all);
        m += sc[t].n;
        scanned += sc[t].scanned;
        skipped += sc[t].skipped;
    }
    /* A key deleted and set again while the search ran lives in another
     * slot and cell, and may have been scored in both: keep its newest
     * vector only (a key set again starts above every epoch it had). */
    if (total > 1) {
        qsort(all, total, sizeof *all, spl__cand_key_cmp);
        uint32_t w = 1;
        for (uint32_t j = 1; j < total; j++)
            if (all[j].key_len != all[w - 1].key_len || memcmp(all[j].key, all[w - 1].key, all[j].key_len))
                all[w++] = all[j];
        total = w;
    }
    qsort(all, total, sizeof *all, spl__cand_cmp);
    uint32_t n = total < k ? total : k;
    for (uint32_t j = 0; j < n; j++)
        key_bytes += all[j].key_len + 1;
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
    for (uint32_t j = 0; j < n; j++) {
        memcpy(kp, all[j].key, all[j].key_len);
        kp[all[j].key_len] = 0;
        r->hits[j] = (spl_vec_hit){kp, all[j].key_len, all[j].score, all[j].slot, all[j].epoch};
        kp += all[j].key_len + 1;
    }
    free(all);
    *out = r;
    return 0;
}

SPL_API int spl_vec_search(spl_store *s, const spl_vec_query *q, spl_vec_result **out)
{
    if (out)
        *out = NULL;
    int rc = spl__vec_usable(s);
    if (rc)
        return rc;
    if (!q || !out || q->k == 0 || q->k > SPL_VEC_K_LIMIT ||
        (unsigned)q->metric >= SPL__METRIC_COUNT || (!q->vec && !q->key) ||
        q->threads > SPL__THREADS_MAX)
        return SPL_EINVAL;
    if (q->vec && q->dim != s->vec_dim)
        return SPL_EDIM;
    if ((q->flags & SPL_VQ_ANN) && s->ann_fn) {
        rc = s->ann_fn(s->ann_ud, s, q, out);
        if (rc != SPL_ESTALE && rc != SPL_ENOTSUP)
            return rc; /* answered, or failed for a reason of its own */
        *out = NULL;   /* declined: the exact scan answers */
    }
    /* every vector set before this call lies below the high-water mark
     * (seq_cst: its claim raised the mark before the set returned) */
    uint64_t high = spl_load_seqcst(&s->hdr->cell_high);
    uint32_t ncell = high < s->ncells ? (uint32_t)high : s->ncells; /* untrusted */
    uint32_t nthr = q->threads ? q->threads : 1;
    if (nthr > s->nslots)
        nthr = s->nslots;
    const uint32_t nalloc = nthr;
    float *qv = malloc((size_t)s->vec_dim * 4 + 64);
    struct spl__scan *sc = calloc(nthr, sizeof *sc);
    pthread_t *tid = calloc(nthr, sizeof *tid);
    char *started = calloc(nthr, 1);
    rc = (!qv || !sc || !tid || !started) ? SPL_ENOMEM : 0;
    if (rc)
        goto done;
    if (q->vec)
        memcpy(qv, q->vec, (size_t)s->vec_dim * 4);
    else if ((rc = spl__vec_read(s, q->key, qv, NULL)) != 0)
        goto done;
    double ss = 0;
    for (uint32_t i = 0; i < s->vec_dim; i++) {
        if (!isfinite(qv[i])) {
            rc = SPL_ENAN;
            goto done;
        }
        ss += (double)qv[i] * qv[i];
    }
    size_t plen = q->prefix ? strlen(q->prefix) : 0;
    const struct spl__vk *vk = spl__vk_get();
    for (uint32_t t = 0; t < nthr; t++) {
        sc[t] = (struct spl__scan){.s = s, .vk = vk, .q = q, .qv = qv};
        sc[t].qnorm2 = (float)ss;
        sc[t].qnorm = (float)sqrt(ss);
        sc[t].prefix_len = plen;
        if ((q->flags & SPL_VQ_SKIP_SELF) && !q->vec) {
            sc[t].self = q->key;
            sc[t].self_len = strlen(q->key);
        }
        sc[t].filtered = q->labels || plen;
        sc[t].lo = (uint32_t)((uint64_t)ncell * t / nthr);
        sc[t].hi = (uint32_t)((uint64_t)ncell * (t + 1) / nthr);
        if ((rc = spl__scan_init(&sc[t], q->k, s->key_max)) != 0)
            goto done;
    }
    if (plen > s->key_max) /* no key can carry it: an empty result */
        nthr = 0;
    for (uint32_t t = 1; t < nthr; t++)
        started[t] = pthread_create(&tid[t], NULL, spl__scan_thread, &sc[t]) == 0;
    for (uint32_t t = 0; t < nthr; t++)
        if (!started[t])
            spl__scan_range(&sc[t]); /* the caller's share, or a thread that did not start */
    for (uint32_t t = 1; t < nthr; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
    rc = spl__result_make(sc, nthr, q->k, out);
done:
    for (uint32_t t = 0; sc && t < nalloc; t++) {
        free(sc[t].heap);
        free(sc[t].arena);
        free(sc[t].tsan_elems);
    }
    free(sc);
    free(tid);
    free(started);
    free(qv);
    return rc;
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
    unsigned round = 0;
    uint64_t end = spl__clock_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_us * 1000;
    for (;;) {
        int rc = spl_vec_set(s, name, v, s->vec_dim);
        if (rc != SPL_EAGAIN || spl__clock_ns(CLOCK_MONOTONIC) >= end)
            return rc;
        spl__backoff(&round);
    }
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
