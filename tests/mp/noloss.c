/*
 * noloss.c - a writer's death loses nothing: writers SIGKILLed at random
 * points of every mutating call, and after each kill every key the dead
 * writer owned holds exactly its value from before the interrupted call or
 * the one that call was writing.
 *
 *   noloss [--kills 1000] [--writers 2] [--keys 6] [--gap-us 400]
 *          [--seed N] [--max-ms 60000] [--expect-loss]
 *
 * Each writer process owns its keys ("w<W>.<J>", a counter "w<W>.n" and an
 * append key "w<W>.a") and writes them alone, so it knows what each holds.
 * Before each call it notes in a shared journal the call and the stamp it
 * writes (values are self-checking and carry their stamp; vectors are all
 * one stamp; flags are the stamp's low byte); after the call returns it
 * records the outcome.  All writers also increment one shared counter.
 *
 * The calls: spl_set, spl_cas, spl_append, spl_inc (own counter and the
 * shared one), spl_flags_set, spl_labels_set, spl_touch, spl_vec_set (in
 * builds with vectors), spl_unset (and re-creation by the next set).
 *
 * The parent kills a random writer every 0..gap-us, reaps it, and checks
 * each of its keys through the library (which recovers the dead writer's
 * slot): value, length, vector, flags and presence must each be the state
 * before the interrupted call or after it; a deleted, torn or never-written
 * state is a loss.  Then a new writer takes over the keys as found.  At the
 * end the shared counter must lie between the completed increments and
 * that plus the increments whose completion is unknown (a kill while one
 * was in flight); that bound is printed.
 *
 * Exit: 0 nothing lost; 3 a loss was found; 1 another check failed; 2
 * set-up error.  --expect-loss (for the build that keeps the format-2
 * policy of freeing a slot its writer died in) kills until a loss is seen
 * or --max-ms passes, whatever --kills says; tests/expect-fail.sh wants 3.
 */
#include "mp_common.h"

#define NL_MAXW   8
#define NL_MAXK   16
#define NL_VALMAX 512
#define NL_DIM    16

enum nl_op { NL_NONE, NL_SET, NL_CAS, NL_APPEND, NL_INC, NL_INC_ALL, NL_FLAGS, NL_LABELS,
             NL_TOUCH, NL_VEC, NL_UNSET, NL__OPS };
static const char *const nl_op_name[NL__OPS] = {"none", "set", "cas", "append", "inc", "inc-all",
                                                "flags", "labels", "touch", "vec", "unset"};

/* What a key holds, as its writer knows it.  seq 0: absent. */
typedef struct nl_key {
    uint64_t seq;   /* stamp of the value (0: the key is absent) */
    uint64_t len;   /* value length (append key: bytes of records) */
    uint64_t vseq;  /* stamp of the vector (0: none) */
    uint64_t flags; /* user flags */
} nl_key;

typedef struct nl_writer {
    nl_key key[NL_MAXK];
    nl_key app;          /* the append key */
    uint64_t count;      /* the own counter */
    /* the call in flight: which, on which key (NL_MAXK: app, -1 counter),
     * and the state it writes */
    _Atomic uint32_t pend;
    int32_t pend_key;
    nl_key pend_to;
    uint64_t next_seq;
    uint64_t inc_all_done; /* shared-counter increments that returned 0 */
} nl_writer;

typedef struct nl_shared {
    nl_writer w[NL_MAXW];
    uint32_t nkeys, has_vec;
    _Atomic uint64_t ops;
} nl_shared;

static int g_loss, g_fail;

#define NL_LOSS(...)                                                           \
    do {                                                                       \
        if (g_loss++ < 10)                                                     \
            MP_FAIL(__VA_ARGS__);                                              \
    } while (0)

static void nl_name(char *buf, uint32_t w, int32_t k)
{
    if (k < 0)
        snprintf(buf, MP_KEYLEN, "w%u.n", w);
    else if (k == NL_MAXK)
        snprintf(buf, MP_KEYLEN, "w%u.a", w);
    else
        snprintf(buf, MP_KEYLEN, "w%u.%d", w, k);
}

static uint32_t nl_key_id(uint32_t w, int32_t k) { return w * 64 + (uint32_t)(k + 1); }

static void nl_vec(float *v, uint64_t vseq)
{
    for (uint32_t i = 0; i < NL_DIM; i++)
        v[i] = (float)(vseq & 0xffff);
}

/* ------------------------------------------------------------------ writer */

static void nl_writer_run(spl_store *s, nl_shared *sh, uint32_t w, uint64_t seed)
{
    nl_writer *me = &sh->w[w];
    mp_rng r;
    mp_rng_seed(&r, seed, 0x5000 + w + me->next_seq);
    unsigned char val[NL_VALMAX];
    char name[MP_KEYLEN];
    for (;;) {
        uint32_t x = mp_below(&r, 100);
        int32_t k = (int32_t)mp_below(&r, sh->nkeys);
        nl_key *cur = &me->key[k];
        nl_key to = *cur;
        uint64_t seq = ++me->next_seq;
        enum nl_op op;
        if (x < 25)
            op = NL_SET;
        else if (x < 35)
            op = NL_CAS;
        else if (x < 45)
            op = NL_APPEND;
        else if (x < 55)
            op = NL_INC;
        else if (x < 60)
            op = NL_INC_ALL;
        else if (x < 68)
            op = NL_FLAGS;
        else if (x < 73)
            op = NL_LABELS;
        else if (x < 78)
            op = NL_TOUCH;
        else if (x < 92)
            op = sh->has_vec ? NL_VEC : NL_SET;
        else
            op = NL_UNSET;
        if (cur->seq == 0 && op != NL_APPEND && op != NL_INC && op != NL_INC_ALL)
            op = NL_SET; /* absent: create it first */
        if (op == NL_APPEND) {
            k = NL_MAXK;
            cur = &me->app;
            to = *cur;
            to.seq = seq;
            to.len = cur->len + sizeof(mp_rec) > NL_VALMAX ? sizeof(mp_rec) : cur->len + sizeof(mp_rec);
        } else if (op == NL_INC) {
            k = -1;
        }
        switch (op) {
        case NL_SET:
        case NL_CAS:
            to.seq = seq;
            to.len = 32 + mp_below(&r, NL_VALMAX - 31);
            if (cur->seq == 0)
                to.vseq = to.flags = 0; /* a new key starts bare */
            break;
        case NL_FLAGS: to.flags = seq & 0xff; break;
        case NL_VEC: to.vseq = seq; break;
        case NL_UNSET: to.seq = to.len = to.vseq = to.flags = 0; break;
        default: break;
        }
        me->pend_key = k;
        me->pend_to = to;
        atomic_store(&me->pend, op); /* seq_cst: the journal before the call */
        nl_name(name, w, k);
        int rc;
        switch (op) {
        case NL_SET:
            mp_value_make(val, to.len, nl_key_id(w, k), w, seq);
            rc = spl_set(s, name, val, to.len);
            break;
        case NL_CAS: {
            spl_meta m;
            rc = spl_meta_get(s, name, &m);
            if (rc == 0) {
                mp_value_make(val, to.len, nl_key_id(w, k), w, seq);
                rc = spl_cas(s, name, m.epoch, val, to.len);
            }
            break;
        }
        case NL_APPEND: {
            mp_rec rec;
            mp_rec_make(&rec, nl_key_id(w, k), w, (uint32_t)seq);
            if (to.len == sizeof rec) /* full: start over */
                rc = spl_set(s, name, &rec, sizeof rec);
            else
                rc = spl_append(s, name, &rec, sizeof rec);
            break;
        }
        case NL_INC: rc = spl_inc(s, name, NULL); break;
        case NL_INC_ALL: rc = spl_inc(s, "all.n", NULL); break;
        case NL_FLAGS: rc = spl_flags_set(s, name, (uint8_t)to.flags); break;
        case NL_LABELS: rc = spl_labels_set(s, name, 1ull << (seq & 63)); break;
        case NL_TOUCH: rc = spl_touch(s, name); break;
        case NL_VEC: {
            float v[NL_DIM];
            nl_vec(v, to.vseq);
            rc = spl_vec_set(s, name, v, NL_DIM);
            break;
        }
        default: rc = spl_unset(s, name); break;
        }
        if (rc == 0) {
            if (op == NL_INC)
                me->count++;
            else if (op == NL_INC_ALL)
                me->inc_all_done++;
            else
                *cur = to;
        } else if (rc != SPL_EAGAIN) {
            MP_FAIL("writer %u: %s %s: %s", w, nl_op_name[op], name, spl_err_name(rc));
            _exit(1);
        }
        atomic_store(&me->pend, NL_NONE);
        atomic_fetch_add_explicit(&sh->ops, 1, memory_order_relaxed);
    }
}

/* ------------------------------------------------------------------ checks */

/* Read key k of dead writer w and match it against the state before the
 * interrupted call (old) and, if that call was on this key, after it (new).
 * Adopts what it found.  Returns 1 if it matched neither (a loss). */
static int nl_check_key(spl_store *s, nl_shared *sh, uint32_t w, int32_t k, nl_key *old,
                        const nl_key *nw, uint64_t *tally)
{
    char name[MP_KEYLEN];
    unsigned char buf[NL_VALMAX];
    nl_name(name, w, k);
    size_t len = 0;
    int rc = spl_get_wait(s, name, buf, sizeof buf, &len, 2000000);
    nl_key got = {0, 0, 0, 0};
    if (rc == 0) {
        if (k == NL_MAXK) {
            int b = mp_recs_check(buf, len, nl_key_id(w, k));
            if (b != MP_OK || len == 0) {
                NL_LOSS("%s: append records %s (%zu bytes)", name, mp_bad_name(b), len);
                return 1;
            }
            mp_rec last;
            memcpy(&last, buf + len - sizeof last, sizeof last);
            got.seq = last.seq;
        } else {
            mp_vhdr h;
            int b = mp_value_check(buf, len, nl_key_id(w, k), &h);
            if (b != MP_OK) {
                NL_LOSS("%s: torn or foreign value (%s, %zu bytes)", name, mp_bad_name(b), len);
                return 1;
            }
            got.seq = h.seq;
        }
        got.len = len;
        spl_meta m;
        if (spl_meta_get(s, name, &m) != 0) {
            NL_LOSS("%s: gone between get and meta", name);
            return 1;
        }
        got.flags = m.user_flags;
        float v[NL_DIM];
        int vr = sh->has_vec && k != NL_MAXK ? spl_vec_get(s, name, v, NL_DIM, NULL) : SPL_ENOVEC;
        if (vr == 0) {
            for (uint32_t i = 1; i < NL_DIM; i++)
                if (v[i] != v[0]) {
                    NL_LOSS("%s: torn vector", name);
                    return 1;
                }
            got.vseq = (uint64_t)v[0];
        } else if (vr != SPL_ENOVEC) {
            NL_LOSS("%s: spl_vec_get: %s", name, spl_err_name(vr));
            return 1;
        }
    } else if (rc != SPL_ENOENT) {
        NL_LOSS("%s: spl_get_wait: %s", name, spl_err_name(rc));
        return 1;
    }
    /* vectors are compared by their 16-bit stamp */
    int is_old = got.seq == old->seq && got.len == (old->seq ? old->len : 0) &&
                 got.flags == old->flags && got.vseq == (old->vseq & 0xffff);
    int is_new = nw && got.seq == nw->seq && got.len == (nw->seq ? nw->len : 0) &&
                 got.flags == nw->flags && got.vseq == (nw->vseq & 0xffff);
    if (!is_old && !is_new) {
        NL_LOSS("%s: holds seq %llu len %llu flags %llu vec %llu; before the call seq %llu len %llu "
                "flags %llu vec %llu%s",
                name, (unsigned long long)got.seq, (unsigned long long)got.len,
                (unsigned long long)got.flags, (unsigned long long)got.vseq,
                (unsigned long long)old->seq, (unsigned long long)old->len,
                (unsigned long long)old->flags, (unsigned long long)old->vseq,
                nw ? " (or the call's new state)" : "");
        return 1;
    }
    if (is_new && !is_old)
        tally[1]++;
    else if (nw)
        tally[0]++;
    got.vseq = is_new && !is_old ? nw->vseq : old->vseq;
    *old = got;
    return 0;
}

/* After writer w died: check all its keys; its journal then says what they
 * hold.  *unknown counts a shared-counter increment of unknown outcome. */
static void nl_check_writer(spl_store *s, nl_shared *sh, uint32_t w, uint64_t *unknown, uint64_t *pend_ops,
                            uint64_t (*tallies)[2])
{
    nl_writer *me = &sh->w[w];
    uint32_t op = atomic_load(&me->pend);
    if (op >= NL__OPS)
        op = NL_NONE;
    pend_ops[op]++;
    uint64_t *tally = tallies[op]; /* what the interrupted call left, by call */
    for (int32_t k = 0; k < (int32_t)sh->nkeys; k++)
        if (nl_check_key(s, sh, w, k, &me->key[k],
                         op != NL_NONE && op != NL_INC && op != NL_INC_ALL && op != NL_APPEND &&
                                 me->pend_key == k
                             ? &me->pend_to
                             : NULL,
                         tally))
            me->key[k].seq = 0; /* counted; go on from whatever it holds next */
    if (me->app.seq && nl_check_key(s, sh, w, NL_MAXK, &me->app, op == NL_APPEND ? &me->pend_to : NULL, tally))
        me->app.seq = me->app.len = 0;
    /* the own counter: the completed increments, or one more */
    char name[MP_KEYLEN];
    nl_name(name, w, -1);
    int64_t v = 0;
    int rc = SPL_EAGAIN;
    for (int t = 0; t < 2000 && rc == SPL_EAGAIN; t++) {
        size_t len = 0;
        rc = spl_get(s, name, &v, sizeof v, &len);
        if (rc == SPL_EAGAIN)
            mp_sleep_us(1000);
    }
    if (rc == SPL_ENOENT)
        v = 0;
    else if (rc != 0)
        NL_LOSS("%s: %s", name, spl_err_name(rc));
    if ((uint64_t)v != me->count && !(op == NL_INC && (uint64_t)v == me->count + 1))
        NL_LOSS("%s is %lld, %llu increments completed%s", name, (long long)v,
                (unsigned long long)me->count, op == NL_INC ? " (one more was in flight)" : "");
    me->count = (uint64_t)v;
    if (op == NL_INC_ALL)
        ++*unknown;
    atomic_store(&me->pend, NL_NONE);
}

int main(int argc, char **argv)
{
    uint64_t kills = 1000, writers = 2, keys = 6, gap = 400, seed = mp_time_seed(), max_ms = 60000,
             expect = 0;
    for (int i = 1; i < argc; i++) {
        if (mp_arg_u64(argc, argv, &i, "--kills", &kills) || mp_arg_u64(argc, argv, &i, "--writers", &writers) ||
            mp_arg_u64(argc, argv, &i, "--keys", &keys) || mp_arg_u64(argc, argv, &i, "--gap-us", &gap) ||
            mp_arg_u64(argc, argv, &i, "--seed", &seed) || mp_arg_u64(argc, argv, &i, "--max-ms", &max_ms))
            continue;
        if (strcmp(argv[i], "--expect-loss") == 0) {
            expect = 1;
            continue;
        }
        fprintf(stderr, "usage: noloss [--kills N] [--writers N] [--keys N] [--gap-us N] [--seed N] "
                        "[--max-ms N] [--expect-loss]\n");
        return 2;
    }
    if (writers < 1 || writers > NL_MAXW || keys < 1 || keys > NL_MAXK)
        MP_DIE("--writers 1..%d, --keys 1..%d", NL_MAXW, NL_MAXK);
    nl_shared *sh = mp_shared_alloc(sizeof *sh);
    sh->nkeys = (uint32_t)keys;
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD;
    o.geom.slots = (uint32_t)(writers * (keys + 2) + 4);
    o.geom.key_max = MP_KEYLEN - 1;
    o.geom.val_max = NL_VALMAX;
    o.geom.vec_dim = NL_DIM;
    spl_store *s = NULL;
    int rc = spl_create(&s, "noloss", &o);
    if (rc == SPL_EFORMAT) { /* a build without vectors */
        o.geom.vec_dim = 0;
        rc = spl_create(&s, "noloss", &o);
    }
    if (rc != 0)
        MP_DIE("create: %s", spl_err_name(rc));
    sh->has_vec = o.geom.vec_dim != 0;
    printf("noloss: seed %llu, %llu writers x %llu keys, vectors %s\n", (unsigned long long)seed,
           (unsigned long long)writers, (unsigned long long)keys, sh->has_vec ? "on" : "off");
    fflush(stdout);

    pid_t pid[NL_MAXW];
    for (uint32_t w = 0; w < writers; w++) {
        pid[w] = fork();
        if (pid[w] == 0)
            nl_writer_run(s, sh, w, seed);
    }
    mp_rng r;
    mp_rng_seed(&r, seed, 1);
    uint64_t killed = 0, unknown = 0, pend_ops[NL__OPS] = {0}, tally[NL__OPS][2] = {{0, 0}};
    uint64_t t0 = mp_now_ns();
    while (expect ? !g_loss : killed < kills) {
        if (expect && mp_now_ns() - t0 > max_ms * 1000000ull)
            break;
        mp_sleep_us(mp_below(&r, (uint32_t)gap + 1));
        uint32_t w = mp_below(&r, (uint32_t)writers);
        kill(pid[w], SIGKILL);
        int st = 0;
        if (waitpid(pid[w], &st, 0) != pid[w] || !WIFSIGNALED(st)) {
            MP_FAIL("writer %u ended by itself (status %d)", w, st);
            g_fail = 1;
            break;
        }
        killed++;
        nl_check_writer(s, sh, w, &unknown, pend_ops, tally);
        pid[w] = fork();
        if (pid[w] == 0)
            nl_writer_run(s, sh, w, seed + killed);
    }
    for (uint32_t w = 0; w < writers; w++) {
        kill(pid[w], SIGKILL);
        waitpid(pid[w], NULL, 0);
        nl_check_writer(s, sh, w, &unknown, pend_ops, tally);
    }
    /* the shared counter */
    uint64_t done = 0;
    for (uint32_t w = 0; w < writers; w++)
        done += sh->w[w].inc_all_done;
    int64_t all = 0;
    size_t len = 0;
    rc = spl_get_wait(s, "all.n", &all, sizeof all, &len, 2000000);
    if (rc == SPL_ENOENT)
        all = 0;
    else if (rc != 0)
        NL_LOSS("all.n: %s", spl_err_name(rc));
    if ((uint64_t)all < done || (uint64_t)all > done + unknown)
        NL_LOSS("shared counter %lld outside [%llu, %llu]", (long long)all, (unsigned long long)done,
                (unsigned long long)(done + unknown));
    printf("noloss: %llu kills in %llu ms, %llu ops; in flight at the kill:", (unsigned long long)killed,
           (unsigned long long)((mp_now_ns() - t0) / 1000000), (unsigned long long)atomic_load(&sh->ops));
    for (int op = 0; op < NL__OPS; op++)
        printf(" %s %llu", nl_op_name[op], (unsigned long long)pend_ops[op]);
    uint64_t undone = 0, redone = 0;
    for (int op = 0; op < NL__OPS; op++)
        undone += tally[op][0], redone += tally[op][1];
    printf("\nnoloss: interrupted calls found undone %llu, done %llu (set: %llu, %llu); shared counter "
           "%lld, completed increments %llu, of unknown outcome %llu (the bound)\n",
           (unsigned long long)undone, (unsigned long long)redone, (unsigned long long)tally[NL_SET][0],
           (unsigned long long)tally[NL_SET][1], (long long)all, (unsigned long long)done,
           (unsigned long long)unknown);
    spl_info inf;
    if (spl_info_get(s, &inf) == 0)
        printf("noloss: %llu slots recovered from dead writers\n", (unsigned long long)inf.recoveries);
    printf("noloss: %d losses\n", g_loss);
    spl_close(s);
    return g_loss ? 3 : g_fail ? 1 : 0;
}
