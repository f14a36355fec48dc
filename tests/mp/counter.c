/*
 * counter.c - the counter invariant: P processes x K spl_inc on one key
 * equals P*K exactly, and no increment is lost or doubled.
 *
 *   counter [--procs 8] [--incs 250000] [--adders 2] [--adds 100000]
 *           [--backing memfd|shm|file] [--seed N]
 *
 *   "ctr"   P processes do K spl_inc each.  Every value spl_inc returns is
 *           marked in a shared bitmap: each of 1..P*K must be returned
 *           exactly once (each increment saw a distinct predecessor), each
 *           process must see its own returns strictly increase, and the
 *           final value must be P*K.
 *   "bal"   --adders processes do --adds spl_add with random deltas in
 *           -1000..1000 (and spl_dec); the final value must equal the sum of
 *           the deltas.
 *   "bits"  every incrementer also XORs its own bit (spl_int SPL_OP_XOR) on
 *           every 7th increment and ORs/ANDs bit 63 in pairs; the final value
 *           has bit p set iff process p did an odd number of XORs, and bit 63
 *           clear.
 * Exit 0 iff every invariant held.
 */
#include "mp_common.h"

#define CT_MAXP 62

typedef struct ct_shared {
    _Atomic int go;
    _Atomic uint32_t ready;
    _Atomic int64_t bal_sum;
    _Atomic uint64_t xors[CT_MAXP];
    _Atomic uint64_t errors, dup, range, order;
    _Atomic uint64_t muts; /* successful mutations, all children */
    _Atomic uint32_t printed;
    _Atomic uint64_t bits[]; /* 1 bit per value 1..P*K */
} ct_shared;

#define CT_REPORT(sh, ...)                                                     \
    do {                                                                       \
        if (atomic_fetch_add(&(sh)->printed, 1) < 20)                          \
            MP_FAIL(__VA_ARGS__);                                              \
    } while (0)

static void ct_wait_go(ct_shared *sh)
{
    atomic_fetch_add(&sh->ready, 1);
    while (!atomic_load_explicit(&sh->go, memory_order_acquire))
        sched_yield();
}

static int ct_incrementer(spl_store *s, ct_shared *sh, uint32_t p, uint64_t k, uint64_t total)
{
    ct_wait_go(sh);
    int64_t prev = 0;
    uint64_t x = 0, muts = 0;
    for (uint64_t i = 0; i < k; i++) {
        int64_t out = -1;
        int rc = spl_inc(s, "ctr", &out);
        if (rc != 0) {
            atomic_fetch_add(&sh->errors, 1);
            CT_REPORT(sh, "proc %u: spl_inc: %s (%d)", p, spl_err_name(rc), rc);
            continue;
        }
        muts++;
        if (out < 1 || (uint64_t)out > total) {
            atomic_fetch_add(&sh->range, 1);
            CT_REPORT(sh, "proc %u: spl_inc returned %" PRId64 ", outside 1..%" PRIu64, p, out,
                      total);
        } else {
            uint64_t v = (uint64_t)out - 1, bit = 1ull << (v % 64);
            if (atomic_fetch_or(&sh->bits[v / 64], bit) & bit) {
                atomic_fetch_add(&sh->dup, 1);
                CT_REPORT(sh, "proc %u: spl_inc returned %" PRId64 " twice", p, out);
            }
        }
        if (out <= prev) {
            atomic_fetch_add(&sh->order, 1);
            CT_REPORT(sh, "proc %u: spl_inc returned %" PRId64 " after %" PRId64, p, out, prev);
        }
        prev = out;
        if (i % 7 == 3 || (i == 0 && (p & 1))) {
            rc = spl_int(s, "bits", SPL_OP_XOR, 1ull << p, NULL);
            if (rc == 0) {
                x++;
                muts++;
            } else {
                atomic_fetch_add(&sh->errors, 1);
                CT_REPORT(sh, "proc %u: spl_int XOR: %s", p, spl_err_name(rc));
            }
        }
        if (i % 101 == 50) { /* OR then AND bit 63 back out: net zero */
            rc = spl_int(s, "bits", SPL_OP_OR, 1ull << 63, NULL);
            int rc2 = spl_int(s, "bits", SPL_OP_AND, ~(1ull << 63), NULL);
            muts += (rc == 0) + (rc2 == 0);
            if (rc || rc2) {
                atomic_fetch_add(&sh->errors, 1);
                CT_REPORT(sh, "proc %u: spl_int OR/AND: %s %s", p, spl_err_name(rc),
                          spl_err_name(rc2));
            }
        }
    }
    atomic_store(&sh->xors[p], x);
    atomic_fetch_add(&sh->muts, muts);
    return 0;
}

static int ct_adder(spl_store *s, ct_shared *sh, uint32_t a, uint64_t n, uint64_t seed)
{
    mp_rng r;
    mp_rng_seed(&r, seed, 0x500 + a);
    ct_wait_go(sh);
    int64_t sum = 0;
    uint64_t muts = 0;
    for (uint64_t i = 0; i < n; i++) {
        int64_t d = (int64_t)mp_below(&r, 2001) - 1000;
        int rc;
        if (d == -1)
            rc = spl_dec(s, "bal", NULL);
        else
            rc = spl_add(s, "bal", d, NULL);
        if (rc != 0) {
            atomic_fetch_add(&sh->errors, 1);
            CT_REPORT(sh, "adder %u: spl_add: %s (%d)", a, spl_err_name(rc), rc);
            continue;
        }
        sum += d;
        muts++;
    }
    atomic_fetch_add(&sh->bal_sum, sum);
    atomic_fetch_add(&sh->muts, muts);
    return 0;
}

static int ct_read64(spl_store *s, const char *key, int64_t *v)
{
    size_t len = 0;
    int rc = spl_get_wait(s, key, v, sizeof *v, &len, 1000000);
    if (rc == 0 && len != 8)
        return SPL_ETYPE;
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t procs = 8, incs = 250000, adders = 2, adds = 100000;
    uint64_t seed = mp_time_seed();
    const char *backing = "memfd";
    const mp_opt opts[] = {
        {"--procs", &procs}, {"--incs", &incs}, {"--adders", &adders}, {"--adds", &adds},
        {"--seed", &seed}, {"--backing", .s = &backing}, {NULL}};
    if (!mp_parse_args(argc, argv, opts,
                       "[--procs P] [--incs K] [--adders N] [--adds N] "
                       "[--backing memfd|shm|file] [--seed N]"))
        return 2;
    if (procs < 1 || procs > CT_MAXP || adders > 64 || incs < 1)
        MP_DIE("bad sizes");
    uint64_t total = procs * incs;
    printf("counter: seed %" PRIu64 " procs %" PRIu64 " incs %" PRIu64 " adders %" PRIu64
           " adds %" PRIu64 " backing %s\n",
           seed, procs, incs, adders, adds, backing);

    mp_store m;
    mp_store_create(&m, mp_backing_parse(backing), "counter", 64, 16, 64);
    size_t shsz = sizeof(ct_shared) + ((total + 63) / 64) * sizeof(uint64_t);
    ct_shared *sh = mp_shared_alloc(shsz);

    uint32_t nch = (uint32_t)(procs + adders);
    pid_t *pids = calloc(nch, sizeof *pids);
    fflush(stdout);
    fflush(stderr);
    for (uint32_t i = 0; i < nch; i++) {
        pid_t pid = fork();
        if (pid < 0)
            MP_DIE("fork: %s", strerror(errno));
        if (pid == 0) {
            spl_store *s = mp_store_child(&m);
            int rc = i < procs ? ct_incrementer(s, sh, i, incs, total)
                               : ct_adder(s, sh, (uint32_t)(i - procs), adds, seed);
            mp_store_child_close(&m, s);
            _exit(rc);
        }
        pids[i] = pid;
    }
    while (atomic_load(&sh->ready) < nch)
        mp_sleep_us(100);
    spl_info info0, info1;
    if (spl_info_get(m.s, &info0) != 0)
        MP_DIE("spl_info_get");
    uint64_t t0 = mp_now_ns();
    atomic_store_explicit(&sh->go, 1, memory_order_release);
    uint64_t fails = (uint64_t)mp_wait_all(pids, nch, "child");
    double secs = (double)(mp_now_ns() - t0) / 1e9;

    int64_t ctr = 0, bal = 0, bits = 0;
    int rc = ct_read64(m.s, "ctr", &ctr);
    if (rc != 0 || (uint64_t)ctr != total) {
        fails++;
        MP_FAIL("ctr = %" PRId64 " (%s), expected %" PRIu64 " (lost %" PRId64 ")", ctr,
                spl_err_name(rc), total, (int64_t)total - ctr);
    }
    uint64_t missing = 0;
    for (uint64_t v = 0; v < total; v++)
        if (!(atomic_load(&sh->bits[v / 64]) & (1ull << (v % 64))))
            missing++;
    if (missing) {
        fails++;
        MP_FAIL("%" PRIu64 " of the values 1..%" PRIu64 " were never returned by spl_inc", missing,
                total);
    }
    int64_t want_bal = atomic_load(&sh->bal_sum);
    if (adders) {
        rc = ct_read64(m.s, "bal", &bal);
        if (rc != 0 || bal != want_bal) {
            fails++;
            MP_FAIL("bal = %" PRId64 " (%s), expected %" PRId64, bal, spl_err_name(rc), want_bal);
        }
    }
    uint64_t want_bits = 0;
    for (uint32_t p = 0; p < procs; p++)
        if (atomic_load(&sh->xors[p]) & 1)
            want_bits |= 1ull << p;
    rc = ct_read64(m.s, "bits", &bits);
    if (rc != 0 || (uint64_t)bits != want_bits) {
        fails++;
        MP_FAIL("bits = %#" PRIx64 " (%s), expected %#" PRIx64, (uint64_t)bits, spl_err_name(rc),
                want_bits);
    }
    /* The store-wide change counter (striped by writer thread) counts
     * every successful mutation of every process exactly once. */
    if (spl_info_get(m.s, &info1) != 0 ||
        info1.changes - info0.changes != atomic_load(&sh->muts)) {
        fails++;
        MP_FAIL("changes moved by %" PRIu64 ", expected %" PRIu64 " (successful mutations)",
                info1.changes - info0.changes, (uint64_t)atomic_load(&sh->muts));
    }
    spl_meta meta;
    rc = spl_meta_get(m.s, "ctr", &meta);
    if (rc != 0 || meta.val_len != 8 || (meta.type != SPL_T_INT64 && meta.type != SPL_T_UINT64)) {
        fails++;
        MP_FAIL("meta(ctr): %s len %u type %u", spl_err_name(rc), meta.val_len, meta.type);
    }
    uint64_t errors = atomic_load(&sh->errors), dup = atomic_load(&sh->dup),
             range = atomic_load(&sh->range), order = atomic_load(&sh->order);
    fails += errors + dup + range + order;
    uint64_t nops = total + adders * adds;
    printf("counter: %s  ctr %" PRId64 "/%" PRIu64 " bal %" PRId64 "/%" PRId64 " bits %#" PRIx64
           "/%#" PRIx64 "  dup %" PRIu64 " missing %" PRIu64 " range %" PRIu64 " order %" PRIu64
           " errors %" PRIu64 "  %" PRIu64 " ops in %.2f s (%.0f ops/s) seed %" PRIu64 "\n",
           fails ? "FAIL" : "ok", ctr, total, bal, want_bal, (uint64_t)bits, want_bits, dup,
           missing, range, order, errors, nops, secs, (double)nops / secs, seed);
    mp_store_destroy(&m);
    free(pids);
    return fails ? 1 : 0;
}
