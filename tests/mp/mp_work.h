/*
 * mp_work.h - the mixed workload of stress.c (processes) and tsan_stress.c
 * (threads), and the end-of-run checker both use.
 *
 * Key classes, by key id % 4:
 *   OWNED   set only by one designated worker, never unset.  Readers check the
 *           writer id, that the sequence never goes backwards for them, that
 *           it lies between the owner's last completed write before the read
 *           and the last write the owner had begun after the read, and that the key never reads as absent once a write completed.  The
 *           owner reading its own key must see exactly its last write.
 *   COUNTER spl_add / spl_inc by anyone, never unset; the final value must
 *           equal the sum of all completed deltas; 8 bytes, never absent once
 *           created.
 *   APPEND  spl_append of self-checking records by anyone; unset by anyone
 *           (and by an appender that gets SPL_E2BIG).  Each value read must
 *           be whole records of this key, per writer in increasing order.
 *   SHARED  spl_set / spl_get / spl_unset by anyone; self-checking values.
 *
 * A value that fails its check is counted as "bad" and its first few are
 * printed.  SPL_EAGAIN is retried (counted); an op retried for 10 s is
 * "stuck" and counted as an error.
 */
#ifndef MP_WORK_H
#define MP_WORK_H

#include "mp_common.h"

enum { MP_C_OWNED = 0, MP_C_COUNTER = 1, MP_C_APPEND = 2, MP_C_SHARED = 3 };

static inline int mp_class(uint32_t id) { return (int)(id % 4u); }

/* Roles: which ops a worker may do. */
enum {
    MP_R_SET = 1u << 0,    /* set OWNED (own keys) and SHARED keys */
    MP_R_GET = 1u << 1,    /* get any key */
    MP_R_UNSET = 1u << 2,  /* unset APPEND and SHARED keys */
    MP_R_APPEND = 1u << 3, /* append to APPEND keys */
    MP_R_ADD = 1u << 4,    /* spl_add / spl_inc on COUNTER keys */
    MP_R_ALL = 0x1f
};

#define MP_WORK_MAXKEYS 1024
#define MP_WORK_MAXW 64

/* Per-worker counters: written only by their worker, read after it ended. */
typedef struct mp_wstats {
    uint64_t ops, sets, gets, get_hits, unsets, unset_hits, appends, adds;
    uint64_t eagain, enoent, e2big, efull, bad, errors, stuck;
    uint64_t owned_checks, phantom_enoent;
    uint64_t pad[8];
} mp_wstats;

typedef struct mp_shared {
    uint32_t nkeys, nowners;
    uint32_t val_max;
    _Atomic uint64_t owned_last[MP_WORK_MAXKEYS]; /* last completed seq (0 none) */
    _Atomic uint64_t owned_next[MP_WORK_MAXKEYS]; /* seq of the write begun last */
    _Atomic int64_t ctr_sum[MP_WORK_MAXKEYS];      /* sum of completed deltas */
    _Atomic uint32_t ctr_made[MP_WORK_MAXKEYS];    /* a delta completed */
    _Atomic uint32_t printed;                      /* failure lines printed */
    mp_wstats st[MP_WORK_MAXW];
} mp_shared;

typedef struct mp_worker {
    spl_store *s;
    mp_shared *sh;
    char (*keys)[MP_KEYLEN];
    uint32_t id;    /* 0..MP_WORK_MAXW-1; owners are 0..nowners-1 */
    uint32_t role;  /* MP_R_* */
    uint64_t ops;   /* completed operations to do */
    uint64_t seed;
    uint32_t min_len; /* SHARED/OWNED value length range */
    uint32_t max_len;
} mp_worker;

static inline uint32_t mp_owner_of(const mp_shared *sh, uint32_t key_id)
{
    return (key_id / 4u) % sh->nowners;
}

#define MP_PRINT_MAX 20
#define MP_REPORT(sh, ...)                                                     \
    do {                                                                       \
        if (atomic_fetch_add(&(sh)->printed, 1) < MP_PRINT_MAX)                \
            MP_FAIL(__VA_ARGS__);                                              \
    } while (0)

/* rc = call, retried while it returns SPL_EAGAIN (each retry counted) for up
 * to MP_STUCK_NS; a call refused that long counts as stuck and is reported.
 * Uses the worker's st, sh, w, key, tries and t0. */
#define MP_RETRY(rc, call, what)                                               \
    for (;;) {                                                                 \
        (rc) = (call);                                                         \
        if ((rc) != SPL_EAGAIN)                                                \
            break;                                                             \
        st->eagain++;                                                          \
        if (!mp_again(&tries, &t0, MP_STUCK_NS)) {                             \
            st->stuck++;                                                       \
            MP_REPORT(sh, "worker %u: %s(%s) stuck in SPL_EAGAIN", w->id, what, key); \
            break;                                                             \
        }                                                                      \
    }

enum { MP_OP_NONE, MP_OP_SET, MP_OP_GET, MP_OP_UNSET, MP_OP_APPEND, MP_OP_ADD };

static inline int mp_pick_op(mp_rng *r, const mp_worker *w, uint32_t key_id)
{
    uint32_t role = w->role;
    int ops[8];
    unsigned wt[8], n = 0, tot = 0;
#define ADD_OP(o, weight)                                                      \
    do {                                                                       \
        ops[n] = (o);                                                          \
        wt[n] = (weight);                                                      \
        tot += (weight);                                                       \
        n++;                                                                   \
    } while (0)
    switch (mp_class(key_id)) {
    case MP_C_OWNED:
        if ((role & MP_R_SET) && mp_owner_of(w->sh, key_id) == w->id)
            ADD_OP(MP_OP_SET, 60);
        if (role & MP_R_GET)
            ADD_OP(MP_OP_GET, 40);
        break;
    case MP_C_COUNTER:
        if (role & MP_R_ADD)
            ADD_OP(MP_OP_ADD, 60);
        if (role & MP_R_GET)
            ADD_OP(MP_OP_GET, 40);
        break;
    case MP_C_APPEND:
        if (role & MP_R_APPEND)
            ADD_OP(MP_OP_APPEND, 55);
        if (role & MP_R_GET)
            ADD_OP(MP_OP_GET, 35);
        if (role & MP_R_UNSET)
            ADD_OP(MP_OP_UNSET, 10);
        break;
    default:
        if (role & MP_R_SET)
            ADD_OP(MP_OP_SET, 40);
        if (role & MP_R_GET)
            ADD_OP(MP_OP_GET, 40);
        if (role & MP_R_UNSET)
            ADD_OP(MP_OP_UNSET, 20);
        break;
    }
#undef ADD_OP
    if (n == 0)
        return MP_OP_NONE;
    unsigned x = mp_below(r, tot);
    for (unsigned i = 0; i < n; i++) {
        if (x < wt[i])
            return ops[i];
        x -= wt[i];
    }
    return ops[n - 1];
}

/* Check a value read from key key_id (any class). */
static inline int mp_check_any(const void *buf, size_t len, uint32_t key_id, mp_vhdr *h)
{
    switch (mp_class(key_id)) {
    case MP_C_COUNTER:
        return len == 8 ? MP_OK : MP_BAD_LEN;
    case MP_C_APPEND:
        return mp_recs_check(buf, len, key_id);
    default:
        return mp_value_check(buf, len, key_id, h);
    }
}

static inline void mp_unexpected(mp_worker *w, const char *op, uint32_t key_id, int rc)
{
    w->sh->st[w->id].errors++;
    MP_REPORT(w->sh, "worker %u: %s(%s) returned %s (%d)", w->id, op, w->keys[key_id],
              spl_err_name(rc), rc);
}

/* Run w->ops completed operations.  Returns the number of failures seen. */
static inline uint64_t mp_work(mp_worker *w)
{
    mp_shared *sh = w->sh;
    mp_wstats *st = &sh->st[w->id];
    mp_rng r;
    mp_rng_seed(&r, w->seed, w->id);
    size_t cap = sh->val_max;
    unsigned char *buf = (unsigned char *)malloc(cap);
    unsigned char *val = (unsigned char *)malloc(cap);
    uint64_t *seen = (uint64_t *)calloc(sh->nkeys, sizeof *seen); /* OWNED: last seq seen */
    if (!buf || !val || !seen)
        MP_DIE("malloc");
    uint64_t seq = 0;
    uint32_t rseq = 0;
    uint64_t done = 0, idle = 0;

    while (done < w->ops) {
        uint32_t k = mp_below(&r, sh->nkeys);
        int op = mp_pick_op(&r, w, k);
        if (op == MP_OP_NONE) {
            if (++idle > 1000000)
                MP_DIE("worker %u: role %#x has nothing to do", w->id, w->role);
            continue;
        }
        const char *key = w->keys[k];
        int cls = mp_class(k);
        unsigned tries = 0;
        uint64_t t0 = 0;
        int rc;
        switch (op) {
        case MP_OP_SET: {
            uint32_t span = w->max_len - w->min_len + 1;
            size_t len = w->min_len + mp_below(&r, span);
            ++seq;
            mp_value_make(val, len, k, w->id, seq);
            if (cls == MP_C_OWNED) /* before the write can be seen */
                atomic_store_explicit(&sh->owned_next[k], seq, memory_order_release);
            MP_RETRY(rc, spl_set(w->s, key, val, len), "spl_set");
            if (rc == 0) {
                st->sets++;
                if (cls == MP_C_OWNED)
                    atomic_store_explicit(&sh->owned_last[k], seq, memory_order_release);
            } else if (rc == SPL_EFULL) {
                st->efull++;
            } else if (rc != SPL_EAGAIN) {
                mp_unexpected(w, "spl_set", k, rc);
            }
            break;
        }
        case MP_OP_GET: {
            uint64_t before = 0;
            uint32_t made = 0;
            if (cls == MP_C_OWNED)
                before = atomic_load_explicit(&sh->owned_last[k], memory_order_acquire);
            else if (cls == MP_C_COUNTER)
                made = atomic_load_explicit(&sh->ctr_made[k], memory_order_acquire);
            size_t len = 0;
            MP_RETRY(rc, spl_get(w->s, key, buf, cap, &len), "spl_get");
            st->gets++;
            if (rc == 0) {
                st->get_hits++;
                mp_vhdr h;
                memset(&h, 0, sizeof h);
                int b = mp_check_any(buf, len, k, &h);
                if (b != MP_OK) {
                    st->bad++;
                    MP_REPORT(sh,
                              "worker %u: get(%s) len %zu: %s check failed (hdr key %u writer %u "
                              "len %u seq %" PRIu64 ")",
                              w->id, key, len, mp_bad_name(b), h.key_id, h.writer, h.len, h.seq);
                } else if (cls == MP_C_OWNED) {
                    st->owned_checks++;
                    uint64_t after = atomic_load_explicit(&sh->owned_next[k], memory_order_acquire);
                    uint32_t owner = mp_owner_of(sh, k);
                    int okw = h.writer == owner;
                    int okseq = h.seq >= seen[k] && h.seq <= after && h.seq >= before;
                    if (owner == w->id && h.seq != before)
                        okseq = 0; /* read-your-writes: nobody else writes it */
                    if (!okw || !okseq) {
                        st->bad++;
                        MP_REPORT(sh,
                                  "worker %u: owned key %s: read writer %u seq %" PRIu64
                                  " (owner %u, last seen %" PRIu64 ", done/begun %" PRIu64
                                  "..%" PRIu64 ")",
                                  w->id, key, h.writer, h.seq, owner, seen[k], before, after);
                    }
                    if (h.seq > seen[k])
                        seen[k] = h.seq;
                }
            } else if (rc == SPL_ENOENT) {
                st->enoent++;
                if ((cls == MP_C_OWNED && before > 0) || (cls == MP_C_COUNTER && made)) {
                    st->phantom_enoent++;
                    st->bad++;
                    MP_REPORT(sh, "worker %u: get(%s) said SPL_ENOENT for a key that exists", w->id,
                              key);
                }
            } else if (rc != SPL_EAGAIN) {
                mp_unexpected(w, "spl_get", k, rc);
            }
            break;
        }
        case MP_OP_UNSET:
            MP_RETRY(rc, spl_unset(w->s, key), "spl_unset");
            st->unsets++;
            if (rc == 0)
                st->unset_hits++;
            else if (rc == SPL_ENOENT)
                st->enoent++;
            else if (rc != SPL_EAGAIN)
                mp_unexpected(w, "spl_unset", k, rc);
            break;
        case MP_OP_APPEND: {
            mp_rec rec;
            mp_rec_make(&rec, k, w->id, ++rseq);
            MP_RETRY(rc, spl_append(w->s, key, &rec, sizeof rec), "spl_append");
            if (rc == 0) {
                st->appends++;
            } else if (rc == SPL_E2BIG) {
                st->e2big++;
                /* full: start the key over */
                tries = 0;
                MP_RETRY(rc, spl_unset(w->s, key), "spl_unset");
                st->unsets++;
                if (rc == 0)
                    st->unset_hits++;
                else if (rc == SPL_ENOENT)
                    st->enoent++;
                else if (rc != SPL_EAGAIN)
                    mp_unexpected(w, "spl_unset", k, rc);
            } else if (rc == SPL_EFULL) {
                st->efull++;
            } else if (rc != SPL_EAGAIN) {
                mp_unexpected(w, "spl_append", k, rc);
            }
            break;
        }
        case MP_OP_ADD: {
            int64_t d = (int64_t)mp_below(&r, 21) - 10;
            int64_t out = 0;
            if (d == 1)
                rc = spl_inc(w->s, key, &out);
            else if (d == -1)
                rc = spl_dec(w->s, key, &out);
            else
                rc = spl_add(w->s, key, d, &out);
            if (rc == 0) {
                st->adds++;
                atomic_fetch_add_explicit(&sh->ctr_sum[k], d, memory_order_relaxed);
                atomic_store_explicit(&sh->ctr_made[k], 1, memory_order_release);
            } else if (rc == SPL_EFULL) {
                st->efull++;
            } else {
                /* SPL_EAGAIN included: the integer ops must never return it */
                mp_unexpected(w, "spl_add", k, rc);
            }
            break;
        }
        }
        done++;
        st->ops++;
    }
    free(buf);
    free(val);
    free(seen);
    return st->bad + st->errors + st->stuck;
}

/* ------------------------------------------------------------------ end check */

typedef struct mp_scan {
    mp_shared *sh;
    char (*keys)[MP_KEYLEN];
    uint32_t *count; /* per key id */
    uint64_t entries, ghosts, bad;
} mp_scan;

static inline int mp_scan_cb(const spl_entry *e, void *ud)
{
    mp_scan *sc = (mp_scan *)ud;
    sc->entries++;
    int id = mp_key_lookup(sc->keys, sc->sh->nkeys, e->key);
    if (id < 0) {
        sc->ghosts++;
        MP_REPORT(sc->sh, "foreach: unknown key '%s' (len %zu)", e->key, e->key_len);
        return 0;
    }
    sc->count[id]++;
    if (e->key_len != strlen(sc->keys[id])) {
        sc->bad++;
        MP_REPORT(sc->sh, "foreach: key %s key_len %zu", e->key, e->key_len);
    }
    if (!e->val && e->meta.val_len > 0) {
        sc->bad++;
        MP_REPORT(sc->sh, "foreach: key %s: no value copy with SPL_F_VALUES", e->key);
        return 0;
    }
    int b = mp_check_any(e->val, e->meta.val_len, (uint32_t)id, NULL);
    if (b != MP_OK) {
        sc->bad++;
        MP_REPORT(sc->sh, "foreach: key %s (len %u): %s check failed", e->key, e->meta.val_len,
                  mp_bad_name(b));
    }
    return 0;
}

/* Quiescent end check; returns the number of failures and prints counts. */
static inline uint64_t mp_final_check(spl_store *s, mp_shared *sh, char (*keys)[MP_KEYLEN],
                                      uint64_t *present_out)
{
    uint64_t fails = 0;
    uint32_t n = sh->nkeys;
    mp_scan sc = {sh, keys, (uint32_t *)calloc(n, sizeof(uint32_t)), 0, 0, 0};
    unsigned char *buf = (unsigned char *)malloc(sh->val_max);
    if (!sc.count || !buf)
        MP_DIE("malloc");
    spl_filter f = {NULL, NULL, 0, SPL_F_VALUES};
    int rc = spl_foreach(s, &f, mp_scan_cb, &sc);
    if (rc != 0) {
        MP_FAIL("spl_foreach: %s (%d)", spl_err_name(rc), rc);
        fails++;
    }
    fails += sc.ghosts + sc.bad;
    uint64_t present = 0;
    for (uint32_t k = 0; k < n; k++) {
        if (sc.count[k] > 1) {
            fails++;
            MP_FAIL("key %s appears %u times in spl_foreach", keys[k], sc.count[k]);
        }
        if (sc.count[k])
            present++;
        size_t len = 0;
        rc = spl_get(s, keys[k], buf, sh->val_max, &len);
        int ex = spl_exists(s, keys[k]);
        if ((rc == 0) != (sc.count[k] > 0) || ex != (sc.count[k] > 0) ||
            (rc != 0 && rc != SPL_ENOENT)) {
            fails++;
            MP_FAIL("key %s: foreach count %u, spl_get %s, spl_exists %d", keys[k], sc.count[k],
                    spl_err_name(rc), ex);
            continue;
        }
        mp_vhdr h;
        memset(&h, 0, sizeof h);
        if (rc == 0) {
            int b = mp_check_any(buf, len, k, &h);
            if (b != MP_OK) {
                fails++;
                MP_FAIL("final get(%s): %s check failed", keys[k], mp_bad_name(b));
                continue;
            }
        }
        switch (mp_class(k)) {
        case MP_C_OWNED: {
            uint64_t last = atomic_load(&sh->owned_last[k]);
            uint32_t owner = mp_owner_of(sh, k);
            if (last == 0 && rc == 0) {
                fails++;
                MP_FAIL("owned key %s present but its owner never completed a write", keys[k]);
            } else if (last > 0 && (rc != 0 || h.writer != owner || h.seq != last)) {
                fails++;
                MP_FAIL("owned key %s: final value writer %u seq %" PRIu64 " (%s), expected "
                        "writer %u seq %" PRIu64,
                        keys[k], h.writer, h.seq, spl_err_name(rc), owner, last);
            }
            break;
        }
        case MP_C_COUNTER: {
            int64_t want = atomic_load(&sh->ctr_sum[k]);
            uint32_t made = atomic_load(&sh->ctr_made[k]);
            int64_t got = 0;
            if (rc == 0)
                memcpy(&got, buf, 8);
            if ((made && (rc != 0 || got != want)) || (!made && rc == 0)) {
                fails++;
                MP_FAIL("counter %s: value %" PRId64 " (%s), expected %" PRId64 " (made %u)",
                        keys[k], got, spl_err_name(rc), want, made);
            }
            break;
        }
        default:
            break;
        }
    }
    spl_info info;
    rc = spl_info_get(s, &info);
    if (rc != 0) {
        fails++;
        MP_FAIL("spl_info_get: %s", spl_err_name(rc));
    } else if (info.used != sc.entries) {
        fails++;
        MP_FAIL("spl_info used %" PRIu64 " but spl_foreach saw %" PRIu64 " keys", info.used,
                sc.entries);
    }
    if (present_out)
        *present_out = present;
    free(sc.count);
    free(buf);
    return fails;
}

/* Sum of all workers' counters. */
static inline mp_wstats mp_stats_sum(const mp_shared *sh, uint32_t nw)
{
    mp_wstats t;
    memset(&t, 0, sizeof t);
    for (uint32_t i = 0; i < nw; i++) {
        const mp_wstats *a = &sh->st[i];
        t.ops += a->ops;
        t.sets += a->sets;
        t.gets += a->gets;
        t.get_hits += a->get_hits;
        t.unsets += a->unsets;
        t.unset_hits += a->unset_hits;
        t.appends += a->appends;
        t.adds += a->adds;
        t.eagain += a->eagain;
        t.enoent += a->enoent;
        t.e2big += a->e2big;
        t.efull += a->efull;
        t.bad += a->bad;
        t.errors += a->errors;
        t.stuck += a->stuck;
        t.owned_checks += a->owned_checks;
        t.phantom_enoent += a->phantom_enoent;
    }
    return t;
}

/* The end of a run in which nobody died: mp_final_check, the nw workers'
 * bad reads, errors and stuck operations, and no slot recoveries (one would
 * have taken a live writer's slot).  Returns the failures; fills *t, *info
 * and *present for the summary line. */
static inline uint64_t mp_end_checks(spl_store *s, mp_shared *sh, char (*keys)[MP_KEYLEN],
                                     uint32_t nw, mp_wstats *t, spl_info *info,
                                     uint64_t *present)
{
    uint64_t fails = mp_final_check(s, sh, keys, present);
    *t = mp_stats_sum(sh, nw);
    fails += t->bad + t->errors + t->stuck;
    memset(info, 0, sizeof *info);
    (void)spl_info_get(s, info);
    if (info->recoveries) {
        fails++;
        MP_FAIL("%" PRIu64 " slot recoveries though no process died", info->recoveries);
    }
    return fails;
}

#endif /* MP_WORK_H */
