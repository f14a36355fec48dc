/*
 * registry.c - the fragment registry in the store (docs/FRAGMENTS.md):
 * register, remove, list and wait for fragments, call their commands
 * across processes (the mailbox), and their regions beside the store.
 * The host side (loading, feeding, answering) is in host.c.
 *
 * Who writes what (layout.h, struct spl_reg_ent):
 *   - line 0 (state, host, text) changes under the registry lock, except
 *     the host's own state steps (CAS, so a rmmod's STOPPING is never lost);
 *   - line 1 (counters) only by the entry's host;
 *   - line 2 (mailbox): mb_owner by callers (CAS, taken over from a dead
 *     caller), req_seq by the caller holding it, rep_seq by the host.
 * Everything read back is untrusted: states, lengths and counts are bounded,
 * strings are cut at their array's end, and a host id is only ever used to
 * ask whether that process is alive.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frag.h"

#ifndef SPL_FRAG_DIR
#define SPL_FRAG_DIR "/usr/local/lib/splinter/fragments"
#endif

#define SPL__REG_LOCK_NS (2000ull * 1000 * 1000)

/* ---- messages ------------------------------------------------------------- */

static _Thread_local char spl__msg_buf[256];

void spl__frag_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(spl__msg_buf, sizeof spl__msg_buf, fmt, ap);
    va_end(ap);
}

SPL_API const char *spl_frag_errmsg(void) { return spl__msg_buf; }

SPL_API const char *spl_frag_state_name(int state)
{
    switch (state) {
    case SPL_FRAG_FREE: return "free";
    case SPL_FRAG_REGISTERED: return "registered";
    case SPL_FRAG_STARTING: return "starting";
    case SPL_FRAG_RUNNING: return "running";
    case SPL_FRAG_STOPPING: return "stopping";
    case SPL_FRAG_FAILED: return "failed";
    case SPL_FRAG_DEAD: return "dead";
    default: return "?";
    }
}

int spl__frag_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > SPL_FRAG_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* ---- the lock ---------------------------------------------------------------- */

void spl__reg_lock(struct spl_store *s)
{
    uint64_t me = spl__owner_id();
    uint64_t start = spl__clock_ns(CLOCK_MONOTONIC);
    unsigned round = 0;
    for (;;) {
        uint64_t o = 0;
        if (spl_cas_seqcst(&s->hdr->reg_lock, &o, me))
            return;
        /* a dead holder's lock is taken over at once, a live one's after
         * 2 s (the sections are microseconds: it is stopped or hostile) */
        if ((o != me && !spl__owner_alive(o)) || spl__clock_ns(CLOCK_MONOTONIC) - start > SPL__REG_LOCK_NS)
            if (spl_cas_seqcst(&s->hdr->reg_lock, &o, me))
                return;
        spl__backoff(&round);
    }
}

void spl__reg_unlock(struct spl_store *s)
{
    spl_fetch_add_seqcst(&s->hdr->reg_gen, 1);
    spl_store_release(&s->hdr->reg_lock, 0);
}

void spl__reg_text_begin(struct spl_reg_ent *e)
{
    spl_store_relaxed(&e->gen, spl_load_relaxed(&e->gen) | 1);
    spl_fence_release(); /* pairs with the acquire fence in spl__reg_read */
}

void spl__reg_text_end(struct spl_reg_ent *e)
{
    spl_store_release(&e->gen, (spl_load_relaxed(&e->gen) | 1) + 1);
}

void spl__reg_put_str(char *field, size_t cap, const char *v)
{
    char tmp[SPL_REG_PATH];
    memset(tmp, 0, cap);
    if (v) {
        size_t n = strlen(v);
        memcpy(tmp, v, n < cap - 1 ? n : cap - 1);
    }
    spl__copy_in((uint8_t *)field, 0, tmp, cap, 1);
}

void spl__reg_kick(struct spl_store *s)
{
    if (!s->rdonly)
        spl_signal(s, SPL__CTL_MASK);
}

void spl__reg_bindings(struct spl_store *s)
{
    uint64_t all = 0, labels = 0;
    for (uint32_t i = 0; i < SPL_REG_ENTRIES; i++) {
        struct spl_reg_ent *e = spl__reg_ent(s, i);
        if (spl_load32_relaxed(&e->state) == SPL_FRAG_FREE)
            continue;
        if (spl_load32_relaxed(&e->flags) & SPL_REG_F_ALLKEYS)
            all = SPL__KEYS_MASK;
        labels |= spl_load_relaxed(&e->labels);
    }
    /* seq_cst: a host sets these before it subscribes (internal.h,
     * spl__groups_followed).  The fragments' group in the all-keys word
     * (spl_bind(SPL_BIND_ALL)), leaving other users' groups there alone. */
    if (all)
        atomic_fetch_or_explicit(SPL__A64(&s->sig->bind_all), all, memory_order_seq_cst);
    else
        atomic_fetch_and_explicit(SPL__A64(&s->sig->bind_all), ~SPL__KEYS_MASK, memory_order_seq_cst);
    for (unsigned b = 0; b < 64; b++) {
        uint64_t g = spl_load_relaxed(&s->binds[b]);
        if (labels & (1ull << b)) {
            if (!(g & SPL__KEYS_MASK))
                atomic_fetch_or_explicit(SPL__A64(&s->binds[b]), SPL__KEYS_MASK, memory_order_seq_cst);
        } else if (g & SPL__KEYS_MASK) {
            atomic_fetch_and_explicit(SPL__A64(&s->binds[b]), ~SPL__KEYS_MASK, memory_order_seq_cst);
        }
    }
}

void spl__reg_free(struct spl_store *s, struct spl_reg_ent *e)
{
    spl__reg_text_begin(e);
    spl_store32_relaxed(&e->state, SPL_FRAG_FREE);
    spl_store_relaxed(&e->host, 0);
    spl_store32_relaxed(&e->flags, 0);
    spl_store_relaxed(&e->labels, 0);
    spl_store_relaxed(&e->follow, 0);
    spl__reg_put_str(e->name, sizeof e->name, NULL);
    spl__reg_text_end(e);
    spl__reg_bindings(s);
}

/* ---- reading entries ----------------------------------------------------------- */

static void spl__field(char *dst, const char *src, size_t cap)
{
    spl__copy_out(dst, (const uint8_t *)src, cap);
    dst[cap - 1] = 0;
}

int spl__reg_read(struct spl_store *s, uint32_t i, spl_frag_info *o)
{
    struct spl_reg_ent *e = spl__reg_ent(s, i);
    unsigned round = 0;
    for (int t = 0; t < 200; t++) {
        uint64_t g1 = spl_load_acquire(&e->gen); /* pairs with spl__reg_text_end */
        if (g1 & 1) {
            spl__backoff(&round);
            continue;
        }
        memset(o, 0, sizeof *o);
        uint32_t st = spl_load32_relaxed(&e->state);
        spl__field(o->name, e->name, sizeof o->name);
        spl__field(o->version, e->version, sizeof o->version);
        spl__field(o->summary, e->summary, sizeof o->summary);
        spl__field(o->errmsg, e->errmsg, sizeof o->errmsg);
        spl__field(o->path, e->path, sizeof o->path);
        spl__copy_out(o->args, (const uint8_t *)e->args, sizeof o->args);
        o->args[sizeof o->args - 1] = 0;
        o->argc = spl_load32_relaxed(&e->argc);
        o->abi = spl_load32_relaxed(&e->abi);
        o->registered_ns = spl_load_relaxed(&e->reg_ns);
        spl_fence_acquire(); /* pairs with the release fence in spl__reg_text_begin */
        if (spl_load_relaxed(&e->gen) != g1)
            continue;
        if (st == SPL_FRAG_FREE || !o->name[0])
            return SPL_ENOENT;
        /* untrusted: argc as many strings as args really holds */
        uint32_t n = 0;
        for (size_t p = 0; p < sizeof o->args - 1 && n < o->argc && n < SPL_FRAG_ARGC_MAX; n++)
            p += strlen(o->args + p) + 1;
        o->argc = n;
        o->index = i;
        o->host_id = spl_load_relaxed(&e->host);
        o->host_pid = o->host_id ? (int32_t)(o->host_id >> 32) : 0;
        o->err = (int32_t)spl_load32_relaxed((uint32_t *)&e->last_err);
        o->started_ns = spl_load_relaxed(&e->start_ns);
        o->restarts = spl_load_relaxed(&e->restarts);
        o->events = spl_load_relaxed(&e->events);
        o->errors = spl_load_relaxed(&e->errors);
        o->resyncs = spl_load_relaxed(&e->resyncs);
        o->groups = spl_load_relaxed(&e->follow);
        o->labels = spl_load_relaxed(&e->labels);
        o->events_per_s = (double)spl_load_relaxed(&e->rate_milli) / 1000.0;
        uint64_t hb = spl_load_relaxed(&e->heartbeat_ns), now = spl__clock_ns(CLOCK_MONOTONIC);
        o->heartbeat_age_ns = hb && hb <= now ? now - hb : UINT64_MAX;
        uint64_t pulses = 0;
        for (uint64_t m = o->groups & ~SPL__RESERVED_GROUPS; m; m &= m - 1)
            pulses += spl_load_relaxed(&s->groups[__builtin_ctzll(m)].pulses);
        if (o->groups & SPL__KEYS_MASK)
            pulses += spl_load_relaxed(&s->groups[SPL_FRAG_GROUP_KEYS].pulses);
        uint64_t seen = spl_load_relaxed(&e->seen);
        o->lag = pulses > seen ? pulses - seen : 0;
        if (st > SPL_FRAG_FAILED) { /* untrusted */
            o->state = SPL_FRAG_FAILED;
            o->err = SPL_ECORRUPT;
        } else if ((st == SPL_FRAG_STARTING || st == SPL_FRAG_RUNNING || st == SPL_FRAG_STOPPING) &&
                   (!o->host_id || !spl__owner_alive(o->host_id))) {
            o->state = SPL_FRAG_DEAD;
        } else {
            o->state = (int32_t)st;
        }
        if (o->state != SPL_FRAG_RUNNING && o->state != SPL_FRAG_STOPPING)
            o->lag = 0;
        return 0;
    }
    return SPL_EAGAIN;
}

int spl__reg_find(struct spl_store *s, const char *name)
{
    for (uint32_t i = 0; i < SPL_REG_ENTRIES; i++) {
        spl_frag_info fi;
        if (spl__reg_read(s, i, &fi) == 0 && strcmp(fi.name, name) == 0)
            return (int)i;
    }
    return SPL_ENOENT;
}

SPL_API int spl_frag_list(spl_store *s, spl_frag_info *out, uint32_t cap)
{
    if (!s || (!out && cap))
        return SPL_EINVAL;
    uint32_t n = 0;
    for (uint32_t i = 0; i < SPL_REG_ENTRIES; i++) {
        spl_frag_info fi;
        if (spl__reg_read(s, i, &fi) != 0)
            continue;
        if (n < cap)
            out[n] = fi;
        n++;
    }
    return (int)n;
}

SPL_API int spl_frag_get(spl_store *s, const char *name, spl_frag_info *out)
{
    if (!s || !name || !out)
        return SPL_EINVAL;
    int i = spl__reg_find(s, name);
    if (i < 0)
        return i;
    int rc = spl__reg_read(s, (uint32_t)i, out);
    return rc == 0 && strcmp(out->name, name) != 0 ? SPL_ENOENT : rc;
}

/* ---- finding a library ----------------------------------------------------------- */

static int spl__try_path(const char *dir, size_t dlen, const char *name, char *out, size_t cap)
{
    char p[PATH_MAX];
    if (dlen == 0 || (size_t)snprintf(p, sizeof p, "%.*s/%s.so", (int)dlen, dir, name) >= sizeof p)
        return SPL_ENOENT;
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
        return SPL_ENOENT;
    char *r = realpath(p, NULL);
    if (!r)
        return -errno;
    int rc = strlen(r) < cap ? 0 : SPL_ENAME;
    if (rc == 0)
        strcpy(out, r);
    free(r);
    return rc;
}

SPL_API int spl_frag_find(const char *name, const char *dir, char *out, size_t cap)
{
    if (!name || !*name || !out || !cap)
        return SPL_EINVAL;
    if (strchr(name, '/')) {
        struct stat st;
        if (stat(name, &st) != 0) {
            spl__frag_msg("%s: %s", name, strerror(errno));
            return errno == ENOENT ? SPL_ENOENT : -errno;
        }
        char *r = realpath(name, NULL);
        if (!r)
            return -errno;
        int rc = strlen(r) < cap && strlen(r) <= SPL_FRAG_PATH_MAX ? 0 : SPL_ENAME;
        if (rc == 0)
            strcpy(out, r);
        free(r);
        return rc;
    }
    if (!spl__frag_name_ok(name)) {
        spl__frag_msg("'%s' is not a fragment name ([a-z][a-z0-9_-]*, at most %u bytes) or a path",
                      name, SPL_FRAG_NAME_MAX);
        return SPL_ENAME;
    }
    const char *env = getenv("SPLINTER_FRAG_PATH");
    for (const char *p = env; p && *p;) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (spl__try_path(p, n, name, out, cap) == 0)
            return 0;
        p += n + (c ? 1 : 0);
    }
    if (dir && spl__try_path(dir, strlen(dir), name, out, cap) == 0)
        return 0;
    if (spl__try_path(SPL_FRAG_DIR, strlen(SPL_FRAG_DIR), name, out, cap) == 0)
        return 0;
    spl__frag_msg("no fragment '%s' ($SPLINTER_FRAG_PATH, %s%s%s)", name, dir ? dir : "",
                  dir ? ", " : "", SPL_FRAG_DIR);
    return SPL_ENOENT;
}

/* ---- register, remove -------------------------------------------------------------- */

SPL_API int spl_frag_register(spl_store *s, const char *path, const char *as, int argc,
                              const char *const *argv, uint32_t flags, char *name_out, size_t cap)
{
    spl__frag_msg("%s", "");
    if (!s || !path || argc < 0 || (argc && !argv))
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    if (strlen(path) > SPL_FRAG_PATH_MAX) {
        spl__frag_msg("path longer than %u bytes", SPL_FRAG_PATH_MAX);
        return SPL_ENAME;
    }
    /* the arguments, NUL-separated */
    char args[SPL_REG_ARGS];
    size_t alen = 0;
    memset(args, 0, sizeof args);
    if ((unsigned)argc > SPL_FRAG_ARGC_MAX) {
        spl__frag_msg("more than %u arguments", SPL_FRAG_ARGC_MAX);
        return SPL_E2BIG;
    }
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]) + 1;
        if (alen + n > SPL_FRAG_ARGS_MAX) {
            spl__frag_msg("arguments longer than %u bytes", SPL_FRAG_ARGS_MAX);
            return SPL_E2BIG;
        }
        memcpy(args + alen, argv[i], n);
        alen += n;
    }
    char name[SPL_REG_NAME] = "", version[SPL_REG_VERSION] = "", summary[SPL_REG_SUMMARY] = "";
    uint32_t abi = SPL_FRAG_ABI_VERSION;
    if (!(flags & SPL_FRAG_F_NOPROBE)) {
        struct spl__frag_lib lib;
        int rc = spl__frag_lib_open(path, &lib);
        if (rc)
            return rc;
        rc = spl__frag_args_ok(&lib.d, argc, argv);
        snprintf(name, sizeof name, "%s", lib.d.name);
        snprintf(version, sizeof version, "%s", lib.d.version ? lib.d.version : "");
        snprintf(summary, sizeof summary, "%s", lib.d.summary ? lib.d.summary : "");
        abi = lib.d.abi;
        spl__frag_lib_close(&lib);
        if (rc)
            return rc;
    }
    if (as)
        snprintf(name, sizeof name, "%s", as);
    if (!spl__frag_name_ok(name) || (as && strlen(as) >= sizeof name)) {
        spl__frag_msg("bad instance name '%s' ([a-z][a-z0-9_-]*, at most %u bytes)", as ? as : name,
                      SPL_FRAG_NAME_MAX);
        return SPL_ENAME;
    }
    spl__reg_lock(s);
    int slot = -1, rc = 0;
    uint64_t restarts = 0;
    for (uint32_t i = 0; i < SPL_REG_ENTRIES; i++) {
        spl_frag_info fi;
        int r = spl__reg_read(s, i, &fi);
        if (r == SPL_ENOENT) {
            if (slot < 0 && spl_load32_relaxed(&spl__reg_ent(s, i)->state) == SPL_FRAG_FREE)
                slot = (int)i;
            continue;
        }
        if (r != 0 || strcmp(fi.name, name) != 0)
            continue;
        if (fi.state != SPL_FRAG_DEAD && fi.state != SPL_FRAG_FAILED) {
            spl__frag_msg("'%s' is already registered (%s%s)", name, spl_frag_state_name(fi.state),
                          fi.state == SPL_FRAG_REGISTERED ? ", waiting for a host" : "");
            rc = SPL_EEXIST;
            goto out;
        }
        slot = (int)i; /* it died or failed: register it again */
        restarts = fi.restarts + 1;
        break;
    }
    if (slot < 0) {
        spl__frag_msg("the registry is full (%u fragments)", SPL_FRAG_MAX);
        rc = SPL_EFULL;
        goto out;
    }
    struct spl_reg_ent *e = spl__reg_ent(s, (uint32_t)slot);
    spl__reg_text_begin(e);
    spl__reg_put_str(e->name, sizeof e->name, name);
    spl__reg_put_str(e->version, sizeof e->version, version);
    spl__reg_put_str(e->summary, sizeof e->summary, summary);
    spl__reg_put_str(e->errmsg, sizeof e->errmsg, NULL);
    spl__reg_put_str(e->path, sizeof e->path, path);
    spl__copy_in((uint8_t *)e->args, 0, args, sizeof args, 1);
    spl_store32_relaxed(&e->argc, (uint32_t)argc);
    spl_store32_relaxed(&e->abi, abi);
    spl_store_relaxed(&e->reg_ns, spl__clock_ns(CLOCK_REALTIME));
    spl_store_relaxed(&e->start_ns, 0);
    spl_store32_relaxed((uint32_t *)&e->last_err, 0);
    spl_store_relaxed(&e->restarts, restarts);
    spl_store_relaxed(&e->host, 0);
    spl_store_relaxed(&e->heartbeat_ns, 0);
    spl_store_relaxed(&e->events, 0);
    spl_store_relaxed(&e->errors, 0);
    spl_store_relaxed(&e->resyncs, 0);
    spl_store_relaxed(&e->rate_milli, 0);
    spl_store32_release(&e->state, SPL_FRAG_REGISTERED);
    spl__reg_text_end(e);
    if (name_out && cap)
        snprintf(name_out, cap, "%s", name);
out:
    spl__reg_unlock(s);
    if (rc == 0)
        spl__reg_kick(s);
    return rc;
}

/* Wait (bounded) until pred(s, name, ud) is non-zero; woken by the control
 * group.  A host that dies sends no wake-up, so the wait looks again every
 * 100 ms.  Returns pred's value, or SPL_ETIMEDOUT. */
typedef int (*spl__pred)(struct spl_store *s, const char *name, void *ud);
static int spl__reg_wait(struct spl_store *s, const char *name, spl__pred pred, void *ud,
                         int64_t timeout_ns)
{
    spl_sub *u = NULL;
    int rc = spl_sub_open(s, SPL__CTL_MASK, &u);
    if (rc)
        return rc;
    uint64_t deadline = timeout_ns < 0 ? 0 : spl__clock_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ns;
    for (;;) {
        rc = pred(s, name, ud);
        if (rc)
            break;
        uint64_t now = spl__clock_ns(CLOCK_MONOTONIC);
        if (deadline && now >= deadline) {
            rc = SPL_ETIMEDOUT;
            break;
        }
        int64_t slice = 100 * 1000 * 1000;
        if (deadline && (int64_t)(deadline - now) < slice)
            slice = (int64_t)(deadline - now);
        spl_sub_wait(u, slice, NULL);
    }
    spl_sub_close(u);
    return rc;
}

struct spl__wait_st {
    uint32_t states;
    spl_frag_info *out;
};

static int spl__pred_state(struct spl_store *s, const char *name, void *ud)
{
    struct spl__wait_st *w = ud;
    spl_frag_info fi;
    int rc = spl_frag_get(s, name, &fi);
    if (rc == SPL_ENOENT)
        return SPL_ENOENT;
    if (rc)
        return 0;
    if (!((w->states >> fi.state) & 1))
        return 0;
    if (w->out)
        *w->out = fi;
    return 1;
}

SPL_API int spl_frag_wait(spl_store *s, const char *name, uint32_t states, int64_t timeout_ns,
                          spl_frag_info *out)
{
    if (!s || !name || !states)
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    struct spl__wait_st w = {states, out};
    int rc = spl__reg_wait(s, name, spl__pred_state, &w, timeout_ns);
    return rc == 1 ? 0 : rc;
}

/* Gone (freed, or the entry now holds another registration), or its host
 * died: then free it here. */
static int spl__pred_gone(struct spl_store *s, const char *name, void *ud)
{
    uint32_t idx = *(uint32_t *)ud;
    spl_frag_info fi;
    int rc = spl__reg_read(s, idx, &fi);
    if (rc == SPL_ENOENT || (rc == 0 && strcmp(fi.name, name) != 0))
        return 1;
    if (rc == 0 && (fi.state == SPL_FRAG_DEAD || fi.state == SPL_FRAG_FAILED)) {
        spl__reg_lock(s);
        if (spl__reg_read(s, idx, &fi) == 0 && strcmp(fi.name, name) == 0 &&
            (fi.state == SPL_FRAG_DEAD || fi.state == SPL_FRAG_FAILED))
            spl__reg_free(s, spl__reg_ent(s, idx));
        spl__reg_unlock(s);
        return 1;
    }
    return 0;
}

SPL_API int spl_frag_unregister(spl_store *s, const char *name, int64_t timeout_ns)
{
    spl__frag_msg("%s", "");
    if (!s || !name)
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    spl__reg_lock(s);
    int i = spl__reg_find(s, name);
    if (i < 0) {
        spl__reg_unlock(s);
        spl__frag_msg("no fragment '%s'", name);
        return i;
    }
    struct spl_reg_ent *e = spl__reg_ent(s, (uint32_t)i);
    spl_frag_info fi;
    int rc = spl__reg_read(s, (uint32_t)i, &fi);
    int running = rc == 0 && (fi.state == SPL_FRAG_STARTING || fi.state == SPL_FRAG_RUNNING ||
                              fi.state == SPL_FRAG_STOPPING);
    if (!running) {
        spl__reg_free(s, e); /* no live host: nobody else will */
    } else {
        uint32_t st = spl_load32_relaxed(&e->state);
        while ((st == SPL_FRAG_STARTING || st == SPL_FRAG_RUNNING) &&
               !atomic_compare_exchange_weak(SPL__A32(&e->state), &st, SPL_FRAG_STOPPING))
            ;
    }
    spl__reg_unlock(s);
    spl__reg_kick(s);
    if (!running)
        return 0;
    uint32_t idx = (uint32_t)i;
    rc = spl__reg_wait(s, name, spl__pred_gone, &idx, timeout_ns);
    if (rc == SPL_ETIMEDOUT)
        spl__frag_msg("'%s' was asked to stop and has not yet", name);
    return rc == 1 ? 0 : rc;
}

/* ---- commands: the mailbox ----------------------------------------------------------- */

SPL_API int spl_frag_call(spl_store *s, const char *name, int argc, const char *const *argv,
                          char *reply, size_t cap, size_t *len_out, int64_t timeout_ns)
{
    spl__frag_msg("%s", "");
    if (!s || !name || argc < 1 || !argv || (!reply && cap))
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    uint8_t req[SPL_REG_REQ];
    size_t rlen = 0;
    for (int a = 0; a < argc; a++) {
        size_t n = strlen(argv[a]) + 1;
        if (rlen + n > SPL_FRAG_REQ_MAX) {
            spl__frag_msg("command and arguments longer than %u bytes", SPL_FRAG_REQ_MAX);
            return SPL_E2BIG;
        }
        memcpy(req + rlen, argv[a], n);
        rlen += n;
    }
    int i = spl__reg_find(s, name);
    if (i < 0) {
        spl__frag_msg("no fragment '%s'", name);
        return i;
    }
    struct spl_reg_ent *e = spl__reg_ent(s, (uint32_t)i);
    spl_frag_info fi;
    int rc = spl__reg_read(s, (uint32_t)i, &fi);
    if (rc)
        return rc;
    if (fi.state != SPL_FRAG_RUNNING) {
        spl__frag_msg("'%s' is %s", name, spl_frag_state_name(fi.state));
        return SPL_ENOHOST;
    }
    const uint64_t host = fi.host_id;
    uint64_t deadline = timeout_ns < 0 ? 0 : spl__clock_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ns;
    /* take the mailbox (from a caller that died, if need be) */
    uint64_t me = spl__owner_id();
    unsigned round = 0;
    for (;;) {
        uint64_t o = 0;
        if (spl_cas_seqcst(&e->mb_owner, &o, me))
            break;
        if (o != me && !spl__owner_alive(o) && spl_cas_seqcst(&e->mb_owner, &o, me))
            break;
        if (deadline && spl__clock_ns(CLOCK_MONOTONIC) >= deadline) {
            spl__frag_msg("the mailbox of '%s' stayed busy", name);
            return SPL_ETIMEDOUT;
        }
        spl__backoff(&round);
    }
    spl__copy_in(e->req, 0, req, spl_round_up(rlen, 8), 1);
    spl_store32_relaxed(&e->req_len, (uint32_t)rlen);
    uint32_t seq = spl_load32_relaxed(&e->req_seq) + 1;
    if (seq == spl_load32_relaxed(&e->rep_seq))
        seq++; /* never equal to a reply already there */
    spl_store32_release(&e->req_seq, seq); /* pairs with the host's acquire */
    spl__reg_kick(s);
    rc = 0;
    for (;;) {
        uint32_t r = spl_load32_acquire(&e->rep_seq); /* pairs with the host's release */
        if (r == seq)
            break;
        uint64_t now = spl__clock_ns(CLOCK_MONOTONIC);
        if (deadline && now >= deadline) {
            spl__frag_msg("'%s' did not answer in time", name);
            rc = SPL_ETIMEDOUT;
            break;
        }
        if (spl_load_relaxed(&e->host) != host || !spl__owner_alive(host)) {
            spl__frag_msg("the host of '%s' went away", name);
            rc = SPL_ENOHOST;
            break;
        }
        uint64_t slice = 100ull * 1000 * 1000; /* to notice a host that died */
        if (deadline && deadline - now < slice)
            slice = deadline - now;
        spl__reg_futex_wait(&e->rep_seq, r, slice);
    }
    if (rc == 0) {
        uint32_t n = spl_load32_relaxed(&e->rep_len);
        if (n > SPL_FRAG_REPLY_MAX)
            n = SPL_FRAG_REPLY_MAX; /* untrusted */
        if (len_out)
            *len_out = n;
        rc = (int32_t)spl_load32_relaxed((uint32_t *)&e->rep_rc);
        if (rc > 0)
            rc = SPL_ECORRUPT;
        if (n + 1 > cap) {
            rc = SPL_ENOBUFS;
        } else {
            uint8_t tmp[SPL_REG_REPLY];
            spl__copy_out(tmp, e->rep, spl_round_up(n, 8));
            memcpy(reply, tmp, n);
            reply[n] = 0;
        }
    }
    spl_store_release(&e->mb_owner, 0);
    return rc;
}

/* ---- regions beside the store ------------------------------------------------------------- */

#define SPL__REGION_MAGIC 0x3147415246505053ull /* "SPPFRAG1" */

struct spl__region_head {
    uint64_t magic;
    uint32_t version; /* 1; written last */
    uint32_t head_bytes;
    uint64_t store_seed;    /* the store's identity: hash seed ... */
    uint64_t store_created; /* ... and creation time */
    uint64_t bytes;         /* payload */
};

static int spl__region_name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    return len >= 1 && len <= SPL_FRAG_NAME_MAX &&
           strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

static int spl__region_path(struct spl_store *s, const char *frag, const char *region, char *out,
                            size_t cap)
{
    if (!s->path)
        return SPL_ENOTSUP;
    if (!spl__frag_name_ok(frag) || (region && !spl__region_name_ok(region)))
        return SPL_ENAME;
    int n = region ? snprintf(out, cap, "%s.frag.%s.%s", s->path, frag, region)
                   : snprintf(out, cap, "%s.frag.%s.", s->path, frag);
    return n < 0 || (size_t)n >= cap ? SPL_ENAME : 0;
}

static void spl__store_ident(struct spl_store *s, uint64_t *seed, uint64_t *created)
{
    *seed = s->seed;
    *created = spl_load_relaxed(&s->hdr->created_ns);
}

/* Check an open region file; map it.  0, SPL_ESTALE (another store's, or
 * broken: the caller may recreate it), or another error. */
static int spl__region_map_fd(struct spl_store *s, int fd, int rw, size_t want, void **map, size_t *map_len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return SPL_ENOTREG;
    if (st.st_uid != geteuid() && !(st.st_mode & 0060)) /* ours, or group-shared like the store */
        return SPL_EOWNER;
    if (st.st_mode & 0007)
        return SPL_EMODE;
    if ((uint64_t)st.st_size < SPL__REGION_HEAD || (uint64_t)st.st_size > (1ull << 46))
        return SPL_ESTALE;
    struct spl__region_head h;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        return SPL_ESTALE;
    uint64_t seed, created;
    spl__store_ident(s, &seed, &created);
    if (h.magic != SPL__REGION_MAGIC || h.version != 1 || h.head_bytes != SPL__REGION_HEAD ||
        h.store_seed != seed || h.store_created != created ||
        h.bytes != (uint64_t)st.st_size - SPL__REGION_HEAD)
        return SPL_ESTALE;
    if (want && h.bytes != want)
        return SPL_EGEOMETRY;
    void *m = mmap(NULL, (size_t)st.st_size, rw ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    *map = m;
    *map_len = (size_t)st.st_size;
    return 0;
}

int spl__region_open_rw(struct spl_store *s, const char *frag, const char *region, size_t bytes,
                        void **addr)
{
    char path[PATH_MAX];
    int rc = spl__region_path(s, frag, region, path, sizeof path);
    if (rc)
        return rc;
    if (!bytes || bytes > (1ull << 45))
        return SPL_EINVAL;
    struct stat sst;
    mode_t mode = fstat(s->fd, &sst) == 0 ? (sst.st_mode & 0660) : 0600;
    for (int attempt = 0; attempt < 4; attempt++) {
        int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            void *m;
            size_t ml;
            rc = spl__region_map_fd(s, fd, 1, bytes, &m, &ml);
            close(fd);
            if (rc == 0) {
                *addr = (uint8_t *)m + SPL__REGION_HEAD;
                return 0;
            }
            if (rc != SPL_ESTALE)
                return rc;
            if (unlink(path) != 0 && errno != ENOENT) /* an earlier store's: start afresh */
                return -errno;
            continue;
        }
        if (errno != ENOENT)
            return errno == ELOOP ? SPL_ENOTREG : -errno;
        /* create it whole under a temporary name, then link it in */
        char tmp[PATH_MAX + 16];
        snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
            return -errno;
        struct spl__region_head h = {SPL__REGION_MAGIC, 1, SPL__REGION_HEAD, 0, 0, bytes};
        spl__store_ident(s, &h.store_seed, &h.store_created);
        if (fchmod(fd, mode) != 0 || ftruncate(fd, (off_t)(SPL__REGION_HEAD + bytes)) != 0 ||
            pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
            rc = -errno;
            close(fd);
            unlink(tmp);
            return rc;
        }
        rc = link(tmp, path) == 0 ? 0 : -errno;
        unlink(tmp);
        close(fd);
        if (rc && rc != -EEXIST)
            return rc;
    }
    return SPL_EAGAIN;
}

SPL_API int spl_frag_region_map(spl_store *s, const char *frag, const char *region, const void **addr,
                                size_t *len)
{
    if (!s || !frag || !region || !addr || !len)
        return SPL_EINVAL;
    char path[PATH_MAX];
    int rc = spl__region_path(s, frag, region, path, sizeof path);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SPL_ENOENT : errno == ELOOP ? SPL_ENOTREG : -errno;
    void *m;
    size_t ml;
    rc = spl__region_map_fd(s, fd, 0, 0, &m, &ml);
    close(fd);
    if (rc == SPL_ESTALE)
        return SPL_ENOENT; /* not this store's */
    if (rc)
        return rc;
    *addr = (const uint8_t *)m + SPL__REGION_HEAD;
    *len = ml - SPL__REGION_HEAD;
    return 0;
}

SPL_API void spl_frag_region_unmap(const void *addr, size_t len)
{
    if (addr)
        munmap((uint8_t *)(uintptr_t)addr - SPL__REGION_HEAD, len + SPL__REGION_HEAD);
}

SPL_API int spl_frag_region_unlink(spl_store *s, const char *frag, const char *region)
{
    if (!s || !frag)
        return SPL_EINVAL;
    char path[PATH_MAX];
    int rc = spl__region_path(s, frag, region, path, sizeof path);
    if (rc)
        return rc;
    if (region)
        return unlink(path) == 0 ? 1 : errno == ENOENT ? 0 : -errno;
    /* every STORE.frag.FRAG.* in the store's directory */
    char *slash = strrchr(path, '/');
    if (!slash)
        return SPL_ENAME;
    *slash = 0;
    const char *prefix = slash + 1;
    DIR *d = opendir(path[0] ? path : "/");
    if (!d)
        return -errno;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
            !spl__region_name_ok(de->d_name + strlen(prefix)))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
            n++;
    }
    closedir(d);
    return n;
}
