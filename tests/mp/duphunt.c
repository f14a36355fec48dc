/*
 * duphunt.c - the duplicate-key hunt: many processes insert and delete keys
 * that all share one probe chain of a tiny store.
 *
 *   duphunt [--procs 8] [--ops 500000] [--keys 12] [--slots 16]
 *           [--collide KEYS] [--backing shm|memfd|file] [--seed N]
 *
 * The first --collide keys share one home bucket (found by probing the
 * fresh store); with 12 keys in 16 slots every key's chain overlaps every
 * other's anyway.  Even-numbered keys are inserted only with
 * spl_cas(expected 0) ("create if absent"), odd-numbered ones with spl_set;
 * any key may be unset.  Reads (spl_get, spl_exists) run alongside and check
 * every value they get.
 *
 * Model: for a cas key, successful inserts and successful unsets alternate,
 * so at the end inserts - unsets is 0 or 1 and must equal its presence.
 * Every successful write marks (writer, seq) in a shared bitmap; a value
 * found at the end must carry a marked (writer, seq): a failed cas or set
 * must have written nothing.
 *
 * At the end: spl_foreach sees each key at most once and no unknown key;
 * spl_get and spl_exists agree with it for every key; values check; the model
 * holds; spl_info's used count equals the foreach count; no slot was
 * recovered (nobody died).
 */
#include "mp_common.h"

#define DH_MAXKEYS 1024
#define DH_MAXP 64

typedef struct dh_shared {
    uint32_t nkeys;
    _Atomic uint64_t ins_ok[DH_MAXKEYS], del_ok[DH_MAXKEYS];
    _Atomic uint64_t cas_exist, set_ok, del_noent, gets, get_hits, exists_calls, eagain, efull,
        bad, errors, stuck;
    _Atomic uint32_t printed;
    _Atomic uint64_t bits[]; /* writer * (ops+1) + seq */
} dh_shared;

#define DH_REPORT(sh, ...)                                                     \
    do {                                                                       \
        if (atomic_fetch_add(&(sh)->printed, 1) < 20)                          \
            MP_FAIL(__VA_ARGS__);                                              \
    } while (0)

/* rc = call, retried while SPL_EAGAIN (counted) for up to MP_STUCK_NS; a
 * call refused that long counts as stuck and is reported. */
#define DH_RETRY(rc, call, what)                                               \
    for (;;) {                                                                 \
        (rc) = (call);                                                         \
        if ((rc) != SPL_EAGAIN)                                                \
            break;                                                             \
        atomic_fetch_add_explicit(&sh->eagain, 1, memory_order_relaxed);       \
        if (!mp_again(&tries, &t0, MP_STUCK_NS)) {                             \
            atomic_fetch_add(&sh->stuck, 1);                                   \
            DH_REPORT(sh, "worker %u: %s %s stuck in SPL_EAGAIN", w, what, key); \
            break;                                                             \
        }                                                                      \
    }

static uint64_t g_ops;

static void dh_mark(dh_shared *sh, uint32_t w, uint64_t seq)
{
    uint64_t b = (uint64_t)w * (g_ops + 1) + seq;
    atomic_fetch_or(&sh->bits[b / 64], 1ull << (b % 64));
}

static int dh_marked(dh_shared *sh, uint32_t w, uint64_t seq, uint32_t procs)
{
    if (w >= procs || seq > g_ops)
        return 0;
    uint64_t b = (uint64_t)w * (g_ops + 1) + seq;
    return (atomic_load(&sh->bits[b / 64]) >> (b % 64)) & 1;
}

static int dh_worker(spl_store *s, dh_shared *sh, char (*keys)[MP_KEYLEN], uint32_t w,
                     uint64_t ops, uint64_t seed, uint32_t val_max)
{
    mp_rng r;
    mp_rng_seed(&r, seed, 0x700 + w);
    unsigned char *val = malloc(val_max), *buf = malloc(val_max);
    if (!val || !buf)
        return 2;
    for (uint64_t seq = 1; seq <= ops; seq++) {
        uint32_t k = mp_below(&r, sh->nkeys);
        const char *key = keys[k];
        uint32_t x = mp_below(&r, 100);
        unsigned tries = 0;
        uint64_t t0 = 0;
        int rc;
        if (x < 45) { /* insert */
            size_t len = 32 + mp_below(&r, val_max - 32 + 1);
            mp_value_make(val, len, k, w, seq);
            DH_RETRY(rc, (k % 2 == 0) ? spl_cas(s, key, 0, val, len) : spl_set(s, key, val, len),
                     "insert");
            if (rc == 0) {
                dh_mark(sh, w, seq);
                if (k % 2 == 0)
                    atomic_fetch_add(&sh->ins_ok[k], 1);
                else
                    atomic_fetch_add_explicit(&sh->set_ok, 1, memory_order_relaxed);
            } else if (rc == SPL_EEXIST && k % 2 == 0) {
                atomic_fetch_add_explicit(&sh->cas_exist, 1, memory_order_relaxed);
            } else if (rc == SPL_EFULL) {
                atomic_fetch_add_explicit(&sh->efull, 1, memory_order_relaxed);
            } else if (rc != SPL_EAGAIN) {
                atomic_fetch_add(&sh->errors, 1);
                DH_REPORT(sh, "worker %u: %s(%s): %s (%d)", w, k % 2 ? "spl_set" : "spl_cas", key,
                          spl_err_name(rc), rc);
            }
        } else if (x < 80) { /* delete */
            DH_RETRY(rc, spl_unset(s, key), "unset");
            if (rc == 0) {
                if (k % 2 == 0)
                    atomic_fetch_add(&sh->del_ok[k], 1);
            } else if (rc == SPL_ENOENT) {
                atomic_fetch_add_explicit(&sh->del_noent, 1, memory_order_relaxed);
            } else if (rc != SPL_EAGAIN) {
                atomic_fetch_add(&sh->errors, 1);
                DH_REPORT(sh, "worker %u: spl_unset(%s): %s (%d)", w, key, spl_err_name(rc), rc);
            }
        } else if (x < 90) { /* get */
            size_t len = 0;
            DH_RETRY(rc, spl_get(s, key, buf, val_max, &len), "spl_get");
            atomic_fetch_add_explicit(&sh->gets, 1, memory_order_relaxed);
            if (rc == 0) {
                atomic_fetch_add_explicit(&sh->get_hits, 1, memory_order_relaxed);
                mp_vhdr h;
                memset(&h, 0, sizeof h);
                int b = mp_value_check(buf, len, k, &h);
                if (b) {
                    atomic_fetch_add(&sh->bad, 1);
                    DH_REPORT(sh, "worker %u: get(%s) len %zu: %s check failed (key %u writer %u)",
                              w, key, len, mp_bad_name(b), h.key_id, h.writer);
                }
            } else if (rc != SPL_ENOENT && rc != SPL_EAGAIN) {
                atomic_fetch_add(&sh->errors, 1);
                DH_REPORT(sh, "worker %u: spl_get(%s): %s (%d)", w, key, spl_err_name(rc), rc);
            }
        } else { /* exists */
            DH_RETRY(rc, spl_exists(s, key), "spl_exists");
            atomic_fetch_add_explicit(&sh->exists_calls, 1, memory_order_relaxed);
            if (rc != 0 && rc != 1 && rc != SPL_EAGAIN) {
                atomic_fetch_add(&sh->errors, 1);
                DH_REPORT(sh, "worker %u: spl_exists(%s): %s (%d)", w, key, spl_err_name(rc), rc);
            }
        }
    }
    free(val);
    free(buf);
    return 0;
}

typedef struct dh_scan {
    char (*keys)[MP_KEYLEN];
    uint32_t nkeys;
    uint32_t *count;
    uint64_t entries, ghosts;
} dh_scan;

static int dh_scan_cb(const spl_entry *e, void *ud)
{
    dh_scan *sc = (dh_scan *)ud;
    sc->entries++;
    int id = mp_key_lookup(sc->keys, sc->nkeys, e->key);
    if (id < 0) {
        sc->ghosts++;
        MP_FAIL("foreach: unknown key '%s'", e->key);
    } else {
        sc->count[id]++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t procs = 8, ops = 500000, nkeys = 12, slots = 16, collide = UINT64_MAX, val_max = 256;
    uint64_t seed = mp_time_seed();
    const char *backing = "shm";
    const mp_opt opts[] = {
        {"--procs", &procs}, {"--ops", &ops}, {"--keys", &nkeys}, {"--slots", &slots},
        {"--collide", &collide}, {"--seed", &seed}, {"--backing", .s = &backing}, {NULL}};
    if (!mp_parse_args(argc, argv, opts,
                       "[--procs N] [--ops N] [--keys N] [--slots N] [--collide N] "
                       "[--backing shm|memfd|file] [--seed N]"))
        return 2;
    if (collide == UINT64_MAX)
        collide = nkeys;
    if (procs < 1 || procs > DH_MAXP || nkeys < 1 || nkeys > DH_MAXKEYS || slots < nkeys)
        MP_DIE("bad sizes");
    g_ops = ops;
    printf("duphunt: seed %" PRIu64 " procs %" PRIu64 " ops %" PRIu64 " keys %" PRIu64
           " slots %" PRIu64 " backing %s\n",
           seed, procs, ops, nkeys, slots, backing);

    mp_store m;
    mp_store_create(&m, mp_backing_parse(backing), "dup", (uint32_t)slots, MP_KEYLEN - 1,
                    (uint32_t)val_max);
    char(*keys)[MP_KEYLEN] = mp_shared_alloc(nkeys * MP_KEYLEN);
    uint32_t home = 0;
    uint32_t got = mp_make_keys(m.s, keys, (uint32_t)nkeys, (uint32_t)collide, seed, &home);
    spl_info info;
    if (spl_info_get(m.s, &info) != 0)
        MP_DIE("spl_info_get");
    printf("duphunt: %u keys share home slot %u (slots %u, probe_max %u)\n", got, home,
           info.geom.slots, info.probe_max);

    uint64_t nbits = procs * (ops + 1);
    size_t shsz = sizeof(dh_shared) + ((nbits + 63) / 64) * sizeof(uint64_t);
    dh_shared *sh = mp_shared_alloc(shsz);
    sh->nkeys = (uint32_t)nkeys;

    pid_t *pids = calloc(procs, sizeof *pids);
    uint64_t t0 = mp_now_ns();
    fflush(stdout);
    fflush(stderr);
    for (uint32_t p = 0; p < procs; p++) {
        pid_t pid = fork();
        if (pid < 0)
            MP_DIE("fork: %s", strerror(errno));
        if (pid == 0) {
            spl_store *s = mp_store_child(&m);
            int rc = dh_worker(s, sh, keys, p, ops, seed, (uint32_t)val_max);
            mp_store_child_close(&m, s);
            _exit(rc);
        }
        pids[p] = pid;
    }
    uint64_t fails = (uint64_t)mp_wait_all(pids, (uint32_t)procs, "worker");
    double secs = (double)(mp_now_ns() - t0) / 1e9;

    /* ---- end check */
    uint32_t *count = calloc(nkeys, sizeof *count);
    unsigned char *buf = malloc(val_max);
    if (!count || !buf)
        MP_DIE("malloc");
    dh_scan sc = {keys, (uint32_t)nkeys, count, 0, 0};
    int rc = spl_foreach(m.s, NULL, dh_scan_cb, &sc);
    if (rc != 0) {
        fails++;
        MP_FAIL("spl_foreach: %s", spl_err_name(rc));
    }
    fails += sc.ghosts;
    uint64_t dups = 0, present = 0, model_bad = 0;
    for (uint32_t k = 0; k < nkeys; k++) {
        if (count[k] > 1) {
            dups++;
            MP_FAIL("key %s appears %u times in spl_foreach", keys[k], count[k]);
        }
        if (count[k])
            present++;
        size_t len = 0;
        rc = spl_get(m.s, keys[k], buf, val_max, &len);
        int ex = spl_exists(m.s, keys[k]);
        int in_scan = count[k] > 0;
        if ((rc == 0) != in_scan || ex != in_scan || (rc != 0 && rc != SPL_ENOENT)) {
            fails++;
            MP_FAIL("key %s: foreach count %u, spl_get %s, spl_exists %d", keys[k], count[k],
                    spl_err_name(rc), ex);
        }
        if (rc == 0) {
            mp_vhdr h;
            memset(&h, 0, sizeof h);
            int b = mp_value_check(buf, len, k, &h);
            if (b) {
                fails++;
                MP_FAIL("final get(%s): %s check failed", keys[k], mp_bad_name(b));
            } else if (!dh_marked(sh, h.writer, h.seq, (uint32_t)procs)) {
                fails++;
                MP_FAIL("key %s holds writer %u seq %" PRIu64
                        ", a write that did not succeed",
                        keys[k], h.writer, h.seq);
            }
        }
        if (k % 2 == 0) {
            uint64_t ins = atomic_load(&sh->ins_ok[k]), del = atomic_load(&sh->del_ok[k]);
            if (!(ins == del || ins == del + 1) || (ins - del) != (uint64_t)in_scan) {
                model_bad++;
                MP_FAIL("cas key %s: %" PRIu64 " inserts, %" PRIu64 " unsets, present %d", keys[k],
                        ins, del, in_scan);
            }
        }
    }
    fails += dups + model_bad;
    if (spl_info_get(m.s, &info) != 0 || info.used != sc.entries) {
        fails++;
        MP_FAIL("spl_info used %" PRIu64 " but spl_foreach saw %" PRIu64, info.used, sc.entries);
    }
    if (info.recoveries) {
        fails++;
        MP_FAIL("%" PRIu64 " slot recoveries though no process died", info.recoveries);
    }
    uint64_t ins_total = 0, del_total = 0;
    for (uint32_t k = 0; k < nkeys; k += 2) {
        ins_total += atomic_load(&sh->ins_ok[k]);
        del_total += atomic_load(&sh->del_ok[k]);
    }
    uint64_t bad = atomic_load(&sh->bad), errors = atomic_load(&sh->errors),
             stuck = atomic_load(&sh->stuck);
    fails += bad + errors + stuck;
    printf("duphunt: %s  %" PRIu64 " ops in %.2f s  cas inserts %" PRIu64 " (eexist %" PRIu64
           ") cas-key unsets %" PRIu64 " sets %" PRIu64 " unset enoent %" PRIu64 " gets %" PRIu64
           " (hits %" PRIu64 ") exists %" PRIu64 " eagain %" PRIu64 " efull %" PRIu64
           "  dups %" PRIu64 " model %" PRIu64 " bad %" PRIu64 " errors %" PRIu64 " stuck %" PRIu64
           " present %" PRIu64 " used %" PRIu64 " seed %" PRIu64 "\n",
           fails ? "FAIL" : "ok", procs * ops, secs, ins_total, atomic_load(&sh->cas_exist),
           del_total, atomic_load(&sh->set_ok), atomic_load(&sh->del_noent),
           atomic_load(&sh->gets), atomic_load(&sh->get_hits), atomic_load(&sh->exists_calls),
           atomic_load(&sh->eagain), atomic_load(&sh->efull), dups, model_bad, bad, errors, stuck,
           present, info.used, seed);
    mp_store_destroy(&m);
    free(pids);
    free(count);
    free(buf);
    return fails ? 1 : 0;
}
