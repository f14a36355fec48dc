/*
 * host.c - the host loop: load registered fragments (dlopen), run each on a
 * thread of its own, feed it from the change feed, answer its commands
 * (docs/FRAGMENTS.md).  Also the host's side of the fragment ABI
 * (include/splinter_fragment.h): the table of functions a fragment gets.
 *
 * A fragment thread:
 *   load and check the library; start; follow (bindings set before the
 *   subscription, so no change after the subscription is missed); subscribe
 *   to its groups and the control group; RUNNING; resync(START); then
 *   loop { drain the feed into batches (filters applied) -> events; a
 *   lapped feed -> resync(OVERFLOW); answer the mailbox; stop if asked;
 *   heartbeat; sleep on the subscription (futex), at most 1 s }.
 * It leaves the batch in hand before it stops, so rmmod never cuts one.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frag.h"

#define SPL__BATCH        64u
#define SPL__HB_NS        (1000ull * 1000 * 1000)
#define SPL__RETRY_NS     (10ull * 1000 * 1000)
#define SPL__HOST_BUSY_NS (200ull * 1000 * 1000) /* an event's busy slot: wait this long for its writer */
#define SPL__REGIONS_MAX  16u
#define SPL__DESC_V1_SIZE (offsetof(spl_frag_desc, stop) + sizeof(void (*)(void)))

static _Atomic unsigned spl__stop_gen;

_Thread_local uint64_t spl__quiet __attribute__((tls_model("initial-exec")));

struct spl_frag_reply {
    char buf[SPL_REG_REPLY];
    size_t len;
    int full;
};

struct spl__host {
    struct spl_store *s;
    spl_host_opts o;
    _Atomic int stop;
    unsigned gen0;
};

struct spl_frag_ctx {
    struct spl__host *h;
    struct spl_store *s;
    uint32_t idx;
    struct spl_reg_ent *e;
    uint64_t me;
    char name[SPL_REG_NAME];
    char path[SPL_REG_PATH];
    char args[SPL_REG_ARGS];
    const char *argv[SPL_FRAG_ARGC_MAX + 1];
    int argc;
    struct spl__frag_lib lib;
    int loaded;
    void *state;
    char errmsg[SPL_REG_ERRMSG];
    /* what it follows */
    char *prefix, *glob;
    uint64_t labels, groups, follow;
    uint32_t fflags;
    spl_sub *sub;
    /* counters mirrored to the entry */
    uint64_t events, errors, resyncs, hb_ns, hb_events;
    struct {
        void *map;
        size_t len;
    } regions[SPL__REGIONS_MAX];
    pthread_t thr;
    _Atomic int done;
    int in_start;     /* follow: only from start */
    pthread_t self;   /* region: only from the callbacks (this thread) */
    spl_frag_reply reply; /* the command being answered (not in TLS: a
                             libsplinter loaded with dlopen has little) */
    int retry;            /* a callback returned SPL_EAGAIN: resync soon */
    uint64_t retry_ns;    /* when the last retry resync ran */
};

/* ---- log ---------------------------------------------------------------------- */

static const char *const spl__lvl[] = {"error", "warn", "info", "debug"};

static void spl__vlog(int fd, const char *who, int level, const char *fmt, va_list ap)
{
    if (fd < 0)
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ host[%d] %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, (int)getpid(), spl__lvl[level < 0 || level > 3 ? 3 : level],
                     who);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + ((size_t)m < sizeof line - (size_t)n - 1 ? (size_t)m : sizeof line - (size_t)n - 2);
    line[len++] = '\n';
    ssize_t w = write(fd, line, len); /* one write: lines of threads do not mix */
    (void)w;
}

static void spl__hlog(struct spl__host *h, const char *who, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void spl__hlog(struct spl__host *h, const char *who, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    spl__vlog(h->o.log_fd, who, level, fmt, ap);
    va_end(ap);
}

/* ---- the table a fragment gets ------------------------------------------------------ */

static spl_store *api_store(spl_frag_ctx *c) { return c->s; }
static const char *api_name(spl_frag_ctx *c) { return c->name; }

static const char *api_arg(spl_frag_ctx *c, const char *name)
{
    if (!c || !name)
        return NULL;
    size_t n = strlen(name);
    for (int i = c->argc - 1; i >= 0; i--) /* the last one given wins */
        if (strncmp(c->argv[i], name, n) == 0 && c->argv[i][n] == '=')
            return c->argv[i] + n + 1;
    for (const spl_frag_opt *o = c->lib.d.opts; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o->def;
    return NULL;
}

static void api_log(spl_frag_ctx *c, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    spl__vlog(c->h->o.log_fd, c->name, level, fmt, ap);
    va_end(ap);
}

static void api_fail(spl_frag_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
}

static int api_follow(spl_frag_ctx *c, const spl_frag_follow *f)
{
    if (!c || !f || (f->groups & SPL__RESERVED_GROUPS) || (f->prefix && !*f->prefix) ||
        (f->glob && !*f->glob) || !c->in_start)
        return SPL_EINVAL;
    char *p = f->prefix ? strdup(f->prefix) : NULL, *g = f->glob ? strdup(f->glob) : NULL;
    if ((f->prefix && !p) || (f->glob && !g)) {
        free(p);
        free(g);
        return SPL_ENOMEM;
    }
    free(c->prefix);
    free(c->glob);
    c->prefix = p;
    c->glob = g;
    c->labels = f->labels;
    c->groups = f->groups;
    c->fflags = f->flags & SPL_F_LABELS_ANY;
    return 0;
}

static int api_quiet(spl_frag_ctx *c, int on)
{
    if (!c || !pthread_equal(c->self, pthread_self()))
        return SPL_EINVAL;
    spl__quiet = on ? SPL__KEYS_MASK : 0;
    return 0;
}

static int api_scan(spl_frag_ctx *c, spl_iter_fn fn, void *ud)
{
    spl_filter f = {c->prefix, c->glob, c->labels, SPL_F_VALUES | c->fflags};
    return spl_foreach(c->s, &f, fn, ud);
}

static int spl__reply_put(spl_frag_reply *r, const char *p, size_t n)
{
    if (r->full)
        return SPL_ENOBUFS;
    if (r->len + n > SPL_FRAG_REPLY_MAX) {
        r->full = 1;
        return SPL_ENOBUFS;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    return 0;
}

static int api_reply(spl_frag_reply *r, const char *fmt, ...)
{
    if (!r || !fmt)
        return SPL_EINVAL;
    char tmp[SPL_REG_REPLY];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SPL_EINVAL;
    if ((size_t)n >= sizeof tmp) {
        r->full = 1;
        return SPL_ENOBUFS;
    }
    return spl__reply_put(r, tmp, (size_t)n);
}

static int api_reply_str(spl_frag_reply *r, const char *str, size_t n)
{
    if (!r || (!str && n))
        return SPL_EINVAL;
    int rc = spl__reply_put(r, "\"", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char ch = (unsigned char)str[i];
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            rc = spl__reply_put(r, esc, 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            rc = spl__reply_put(r, esc, 6);
        } else {
            rc = spl__reply_put(r, (const char *)&ch, 1);
        }
    }
    return rc ? rc : spl__reply_put(r, "\"", 1);
}

static int api_reply_num(spl_frag_reply *r, double v)
{
    if (!r)
        return SPL_EINVAL;
    if (!isfinite(v))
        return spl__reply_put(r, "null", 4);
    return api_reply(r, "%.17g", v);
}

static int api_region(spl_frag_ctx *c, const char *name, size_t bytes, void **addr)
{
    if (!c || !name || !addr || !pthread_equal(c->self, pthread_self()))
        return SPL_EINVAL;
    unsigned k = 0;
    while (k < SPL__REGIONS_MAX && c->regions[k].map)
        k++;
    if (k == SPL__REGIONS_MAX)
        return SPL_ENOMEM;
    void *a;
    int rc = spl__region_open_rw(c->s, c->name, name, bytes, &a);
    if (rc)
        return rc;
    c->regions[k].map = (uint8_t *)a - SPL__REGION_HEAD;
    c->regions[k].len = bytes + SPL__REGION_HEAD;
    *addr = a;
    return 0;
}

const spl_frag_api spl__api = {
    .size = sizeof(spl_frag_api),
    .abi = SPL_FRAG_ABI_VERSION,
    .store = api_store,
    .name = api_name,
    .arg = api_arg,
    .log = api_log,
    .fail = api_fail,
    .follow = api_follow,
    .scan = api_scan,
    .reply = api_reply,
    .reply_str = api_reply_str,
    .reply_num = api_reply_num,
    .region = api_region,
    .quiet = api_quiet,
    .strerror = spl_strerror,
    .err_name = spl_err_name,
    .info_get = spl_info_get,
    .get = spl_get,
    .get_wait = spl_get_wait,
    .set = spl_set,
    .set_wait = spl_set_wait,
    .unset = spl_unset,
    .unset_wait = spl_unset_wait,
    .cas = spl_cas,
    .append = spl_append,
    .meta_get = spl_meta_get,
    .type_set = spl_type_set,
    .labels_set = spl_labels_set,
    .labels_clear = spl_labels_clear,
    .view_get = spl_view_get,
    .view_valid = spl_view_valid,
    .read_with = spl_read_with,
    .int_op = spl_int,
    .add = spl_add,
    .foreach = spl_foreach,
    .bump = spl_bump,
    .signal = spl_signal,
    .key_wait = spl_key_wait,
    .vec_set = spl_vec_set,
    .vec_get = spl_vec_get,
    .vec_clear = spl_vec_clear,
    .vec_search = spl_vec_search,
    .vec_result_free = spl_vec_result_free,
    .key_prep = spl_key_prep,
    .get_k = spl_get_k,
    .set_k = spl_set_k,
    .unset_k = spl_unset_k,
    .add_k = spl_add_k,
    .get_many = spl_get_many,
    .set_many = spl_set_many,
    .vec_set_if = spl_vec_set_if,
    .region_map = spl_frag_region_map,
    .region_unmap = spl_frag_region_unmap,
    .changes = spl_changes,
    .retry_init = spl_retry_init,
    .retry_pause = spl_retry_pause,
};

/* ---- loading a library ------------------------------------------------------------------ */

/* The registry is writable by every process that may write the store (a
 * group, for a group-shared store): a host runs only a library that is
 * owned by its own user or root and writable by nobody else, in a folder
 * nobody else can change (or a sticky one, like /tmp). */
static int spl__lib_trusted(const char *path)
{
    char *real = realpath(path, NULL);
    if (!real) {
        spl__frag_msg("%s: %s", path, strerror(errno));
        return SPL_ELOAD;
    }
    struct stat st, dst;
    int rc = 0;
    char *slash = strrchr(real, '/');
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0) ||
        (st.st_mode & 022)) {
        rc = SPL_EACCES;
    } else if (slash) {
        *slash = 0;
        if (stat(real[0] ? real : "/", &dst) != 0 || (dst.st_uid != geteuid() && dst.st_uid != 0) ||
            ((dst.st_mode & 022) && !(dst.st_mode & S_ISVTX)))
            rc = SPL_EACCES;
    }
    free(real);
    if (rc)
        spl__frag_msg("%s: a fragment library must be owned by this user or root, writable by nobody "
                      "else, in a folder nobody else may change", path);
    return rc;
}

int spl__frag_lib_open(const char *path, struct spl__frag_lib *lib)
{
    memset(lib, 0, sizeof *lib);
    int rc = spl__lib_trusted(path);
    if (rc)
        return rc;
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *m = dlerror();
        spl__frag_msg("%s", m ? m : "dlopen failed");
        return SPL_ELOAD;
    }
    spl_frag_entry_fn entry;
    void *sym = dlsym(dl, SPL_FRAG_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry); /* object pointer to function pointer */
    if (!sym) {
        spl__frag_msg("%s: no symbol %s (not a fragment)", path, SPL_FRAG_ENTRY_SYMBOL);
        dlclose(dl);
        return SPL_ENOSYM;
    }
    const spl_frag_desc *d = entry(&spl__api);
    if (!d) {
        spl__frag_msg("%s: %s returned no descriptor (it may need a newer host: this one has "
                      "fragment ABI %u)", path, SPL_FRAG_ENTRY_SYMBOL, SPL_FRAG_ABI_VERSION);
        rc = SPL_EABI;
    } else if (d->abi > SPL_FRAG_ABI_VERSION) {
        spl__frag_msg("%s needs fragment ABI %u; this host has %u (upgrade splinter)", path, d->abi,
                      SPL_FRAG_ABI_VERSION);
        rc = SPL_EABI;
    } else if (d->abi < 1 || d->size < SPL__DESC_V1_SIZE) {
        spl__frag_msg("%s: bad descriptor (ABI %u, size %u; ABI 1 needs >= %zu)", path, d->abi,
                      d->size, SPL__DESC_V1_SIZE);
        rc = SPL_EABI;
    } else {
        /* members past the fragment's size are zero (it was built against
         * an older header) */
        memcpy(&lib->d, d, d->size < sizeof lib->d ? d->size : sizeof lib->d);
        if (!spl__frag_name_ok(lib->d.name)) {
            spl__frag_msg("%s: bad fragment name in its descriptor", path);
            rc = SPL_ENAME;
        } else if (!lib->d.start) {
            spl__frag_msg("%s: descriptor has no start callback", path);
            rc = SPL_EINVAL;
        }
    }
    if (rc) {
        dlclose(dl);
        memset(lib, 0, sizeof *lib);
        return rc;
    }
    lib->dl = dl;
    return 0;
}

void spl__frag_lib_close(struct spl__frag_lib *lib)
{
    if (lib->dl)
        dlclose(lib->dl);
    memset(lib, 0, sizeof *lib);
}

int spl__frag_args_ok(const spl_frag_desc *d, int argc, const char *const *argv)
{
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        size_t n = eq ? (size_t)(eq - argv[i]) : 0;
        int known = 0;
        for (const spl_frag_opt *o = d->opts; eq && n && o && o->name; o++)
            if (strlen(o->name) == n && strncmp(o->name, argv[i], n) == 0)
                known = 1;
        if (known)
            continue;
        char list[200] = "";
        size_t l = 0;
        for (const spl_frag_opt *o = d->opts; o && o->name && l < sizeof list - 1; o++)
            l += (size_t)snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", o->name);
        if (!eq || !n)
            spl__frag_msg("argument '%s' is not NAME=VALUE (options of %s: %s)", argv[i], d->name,
                          list[0] ? list : "none");
        else
            spl__frag_msg("unknown option '%.*s' (options of %s: %s)", (int)n, argv[i], d->name,
                          list[0] ? list : "none");
        return SPL_EINVAL;
    }
    return 0;
}

/* ---- the fragment thread --------------------------------------------------------------------- */

static int spl__stopping(struct spl_frag_ctx *c)
{
    return atomic_load(&c->h->stop) || atomic_load(&spl__stop_gen) != c->h->gen0;
}

/* Record a failure (under the lock): FAILED, no host, the message. */
static void spl__mark_failed(struct spl_frag_ctx *c, int err, const char *msg)
{
    spl__reg_lock(c->s);
    if (spl_load_relaxed(&c->e->host) == c->me) {
        spl__reg_text_begin(c->e);
        spl__reg_put_str(c->e->errmsg, sizeof c->e->errmsg, msg);
        spl_store32_relaxed((uint32_t *)&c->e->last_err, (uint32_t)err);
        spl_store32_relaxed(&c->e->state, SPL_FRAG_FAILED);
        spl_store_relaxed(&c->e->host, 0);
        spl__reg_text_end(c->e);
    }
    spl__reg_unlock(c->s);
    spl__reg_kick(c->s);
}

static void spl__heartbeat(struct spl_frag_ctx *c, int force)
{
    uint64_t now = spl__clock_ns(CLOCK_MONOTONIC);
    spl_store_relaxed(&c->e->events, c->events);
    spl_store_relaxed(&c->e->errors, c->errors);
    spl_store_relaxed(&c->e->resyncs, c->resyncs);
    if (!force && now - c->hb_ns < SPL__HB_NS)
        return;
    if (c->hb_ns && now > c->hb_ns)
        spl_store_relaxed(&c->e->rate_milli,
                          (uint64_t)((double)(c->events - c->hb_events) * 1e12 / (double)(now - c->hb_ns)));
    c->hb_ns = now;
    c->hb_events = c->events;
    spl_store_relaxed(&c->e->heartbeat_ns, now);
}

/* The pulses of its groups the subscription has seen: lag is the rest. */
static void spl__seen(struct spl_frag_ctx *c)
{
    uint64_t sum = 0, v;
    for (uint64_t m = c->follow; m; m &= m - 1)
        if (spl_sub_seen(c->sub, (unsigned)__builtin_ctzll(m), &v) == 0)
            sum += v;
    spl_store_relaxed(&c->e->seen, sum);
}

/* A callback's result: an error is counted; SPL_EAGAIN (something stayed
 * busy: the fragment could not finish) also asks for a resync soon. */
static void spl__result(struct spl_frag_ctx *c, int rc)
{
    if (rc >= 0)
        return;
    c->errors++;
    spl_store32_relaxed((uint32_t *)&c->e->last_err, (uint32_t)rc);
    if (rc == SPL_EAGAIN && c->lib.d.resync)
        c->retry = 1;
}

static void spl__resync(struct spl_frag_ctx *c, int reason)
{
    c->resyncs++;
    c->retry = 0;
    if (!c->lib.d.resync)
        return;
    spl__result(c, c->lib.d.resync(c, c->state, reason));
}

static void spl__deliver(struct spl_frag_ctx *c, const spl_frag_event *ev, size_t n)
{
    if (!n || !c->lib.d.events)
        return;
    int rc = c->lib.d.events(c, c->state, ev, n);
    c->events += n;
    spl__result(c, rc);
}

/* Does a key event pass the follow filters? */
static int spl__passes(struct spl_frag_ctx *c, const spl_event *ev, const char *key)
{
    if (!(ev->groups & c->follow))
        return 0;
    if (c->prefix && strncmp(key, c->prefix, strlen(c->prefix)) != 0)
        return 0;
    if (c->glob && fnmatch(c->glob, key, 0) != 0)
        return 0;
    if (c->labels && ev->kind != SPL_EV_DELETED) {
        spl_meta m;
        if (spl_meta_get(c->s, key, &m) != 0)
            return ev->kind == SPL_EV_CHANGED; /* busy or gone: let the fragment look */
        uint64_t hit = m.labels & c->labels;
        if ((c->fflags & SPL_F_LABELS_ANY) ? !hit : hit != c->labels)
            return 0;
    }
    return 1;
}

/* Read the feed to its end, handing batches over.  Returns 1 if it stopped
 * early (the fragment must stop, or it resynced): the loop looks at the
 * mailbox and the state, and drains again without sleeping. */
static int spl__drain(struct spl_frag_ctx *c, spl_frag_event *batch, char *keys, size_t kcap)
{
    for (;;) {
        size_t n = 0;
        int rc = 0;
        while (n < SPL__BATCH) {
            spl_event ev;
            char *key = keys + n * kcap;
            rc = spl_sub_next(c->sub, &ev, key, kcap);
            if (rc == SPL_ENOENT)
                break;
            if (rc == SPL_EOVERFLOW) { /* hand over what it has, rescan, then
                                          let the loop look at stops and commands */
                spl__deliver(c, batch, n);
                spl__resync(c, SPL_FRAG_RESYNC_OVERFLOW);
                spl__heartbeat(c, 0);
                return 1;
            }
            if (rc != 0) /* a hostile entry (SPL_ECORRUPT): skipped */
                continue;
            if (ev.kind == SPL_EV_SIGNAL) {
                if (!(ev.groups & c->groups))
                    continue; /* the control group, or the keys group */
                key[0] = 0;
                ev.key_len = 0;
            } else if (ev.kind == SPL_EV_UNKNOWN) {
                if (!(ev.groups & c->follow))
                    continue;
                spl__deliver(c, batch, n);
                spl__resync(c, SPL_FRAG_RESYNC_UNKNOWN);
                spl__heartbeat(c, 0);
                return 1;
            } else if (!spl__passes(c, &ev, key)) {
                continue;
            }
            spl_frag_event *f = &batch[n++];
            f->seq = ev.seq;
            f->epoch = ev.epoch;
            f->groups = ev.groups;
            f->slot = ev.slot;
            f->kind = ev.kind;
            f->key = key;
            f->key_len = ev.key_len;
        }
        spl__deliver(c, batch, n);
        spl__heartbeat(c, 0);
        if (rc == SPL_ENOENT)
            return 0;
        /* between batches: a stop or a command does not wait for the feed's end */
        if (spl_load32_relaxed(&c->e->state) == SPL_FRAG_STOPPING || spl__stopping(c))
            return 1;
    }
}

/* ---- commands ------------------------------------------------------------------------------ */

static int spl__cmd_help(struct spl_frag_ctx *c, spl_frag_reply *r)
{
    api_reply(r, "{\"fragment\":");
    api_reply_str(r, c->name, strlen(c->name));
    api_reply(r, ",\"commands\":[");
    int first = 1;
    for (const spl_frag_cmd *k = c->lib.d.cmds; k && k->name; k++, first = 0) {
        api_reply(r, "%s{\"name\":", first ? "" : ",");
        api_reply_str(r, k->name, strlen(k->name));
        api_reply(r, ",\"usage\":");
        api_reply_str(r, k->usage ? k->usage : "", k->usage ? strlen(k->usage) : 0);
        api_reply(r, ",\"help\":");
        api_reply_str(r, k->help ? k->help : "", k->help ? strlen(k->help) : 0);
        api_reply(r, "}");
    }
    return api_reply(r, "]}");
}

static void spl__mailbox(struct spl_frag_ctx *c)
{
    struct spl_reg_ent *e = c->e;
    uint32_t seq = spl_load32_acquire(&e->req_seq); /* pairs with the caller's release */
    if (seq == spl_load32_relaxed(&e->rep_seq))
        return;
    uint8_t req[SPL_REG_REQ + 1];
    uint32_t len = spl_load32_relaxed(&e->req_len);
    if (len > SPL_FRAG_REQ_MAX)
        len = SPL_FRAG_REQ_MAX; /* untrusted */
    spl__copy_out(req, e->req, spl_round_up(len, 8) <= SPL_REG_REQ ? spl_round_up(len, 8) : SPL_REG_REQ);
    req[len] = 0;
    const char *argv[SPL_FRAG_ARGC_MAX + 1];
    int argc = 0;
    for (uint32_t p = 0; p < len && argc < (int)SPL_FRAG_ARGC_MAX; argc++) {
        argv[argc] = (const char *)req + p;
        p += (uint32_t)strlen((const char *)req + p) + 1;
    }
    argv[argc] = NULL;
    spl_frag_reply *r = &c->reply;
    r->len = 0;
    r->full = 0;
    int rc;
    const spl_frag_cmd *k = c->lib.d.cmds;
    while (argc && k && k->name && strcmp(k->name, argv[0]) != 0)
        k++;
    if (argc && k && k->name && k->fn) {
        rc = k->fn(c, c->state, argc, argv, r);
        if (rc > 0)
            rc = 0;
    } else if (argc && strcmp(argv[0], "help") == 0) {
        rc = spl__cmd_help(c, r);
    } else {
        rc = SPL_EINVAL;
        api_reply(r, "{\"error\":\"unknown command\",\"command\":");
        api_reply_str(r, argc ? argv[0] : "", argc ? strlen(argv[0]) : 0);
        api_reply(r, ",\"hint\":\"try help\"}");
    }
    if (r->full) {
        r->len = 0;
        r->full = 0;
        api_reply(r, "{\"error\":\"reply longer than %u bytes\"}", SPL_FRAG_REPLY_MAX);
        rc = SPL_ENOBUFS;
    } else if (rc < 0 && r->len == 0) {
        api_reply(r, "{\"error\":\"%s\",\"message\":", spl_err_name(rc));
        api_reply_str(r, spl_strerror(rc), strlen(spl_strerror(rc)));
        api_reply(r, "}");
    }
    if (rc < 0)
        c->errors++;
    spl__copy_in(e->rep, 0, r->buf, spl_round_up(r->len, 8), 1);
    spl_store32_relaxed(&e->rep_len, (uint32_t)r->len);
    spl_store32_relaxed((uint32_t *)&e->rep_rc, (uint32_t)rc);
    spl_store32_release(&e->rep_seq, seq); /* pairs with the caller's acquire */
    spl__reg_futex_wake(&e->rep_seq);
}

/* ---- start and the loop ------------------------------------------------------------------------- */

static int spl__frag_start(struct spl_frag_ctx *c)
{
    int rc = spl__frag_lib_open(c->path, &c->lib);
    if (rc) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", spl_frag_errmsg());
        return rc;
    }
    c->loaded = 1;
    if ((rc = spl__frag_args_ok(&c->lib.d, c->argc, c->argv)) != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", spl_frag_errmsg());
        return rc;
    }
    if (c->lib.d.follow && (rc = (c->in_start = 1, api_follow(c, c->lib.d.follow))) != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "bad default follow in the descriptor");
        return rc;
    }
    c->in_start = 1;
    rc = c->lib.d.start(c, c->argc, c->argv, &c->state);
    c->in_start = 0;
    if (rc) {
        if (!c->errmsg[0])
            snprintf(c->errmsg, sizeof c->errmsg, "start failed: %s", spl_strerror(rc));
        return rc < 0 ? rc : SPL_EINVAL;
    }
    /* bindings first, then the subscription: every change after it is seen */
    int allkeys = c->prefix || c->glob;
    c->follow = c->groups | (allkeys || c->labels ? SPL__KEYS_MASK : 0);
    spl__reg_lock(c->s);
    int ann = c->lib.d.ann_open && c->lib.d.ann_search && c->lib.d.ann_close;
    spl_store32_relaxed(&c->e->flags, (allkeys ? SPL_REG_F_ALLKEYS : 0u) | (ann ? SPL_REG_F_ANN : 0u));
    spl_store_relaxed(&c->e->labels, allkeys ? 0 : c->labels);
    spl_store_relaxed(&c->e->follow, c->follow);
    spl__reg_bindings(c->s);
    spl__reg_unlock(c->s);
    rc = spl_sub_open(c->s, c->follow | SPL__CTL_MASK, &c->sub);
    if (rc) {
        snprintf(c->errmsg, sizeof c->errmsg, "subscribe: %s", spl_strerror(rc));
        if (c->lib.d.stop)
            c->lib.d.stop(c, c->state);
        return rc;
    }
    /* an event whose slot a writer is inside waits for its commit: an
     * UNKNOWN event would make the fragment rescan every key it follows */
    spl__sub_busy_wait(c->sub, SPL__HOST_BUSY_NS);
    return 0;
}

static void *spl__frag_thread(void *arg)
{
    struct spl_frag_ctx *c = arg;
    char tname[16];
    snprintf(tname, sizeof tname, "frag:%.10s", c->name);
    prctl(PR_SET_NAME, tname, 0, 0, 0);
    c->self = pthread_self();
    int rc = spl__frag_start(c);
    if (rc) {
        spl__hlog(c->h, c->name, 0, "did not start: %s (%s)", c->errmsg, spl_err_name(rc));
        spl__mark_failed(c, rc, c->errmsg);
        goto out;
    }
    uint32_t st = SPL_FRAG_STARTING;
    atomic_compare_exchange_strong(SPL__A32(&c->e->state), &st, SPL_FRAG_RUNNING);
    spl__reg_kick(c->s);
    spl__hlog(c->h, c->name, 2, "running %s (groups 0x%llx%s%s%s%s)", c->path,
              (unsigned long long)c->follow, c->prefix ? ", prefix " : "", c->prefix ? c->prefix : "",
              c->glob ? ", glob " : "", c->glob ? c->glob : "");
    size_t kcap = (size_t)c->s->key_max + 1;
    spl_frag_event *batch = calloc(SPL__BATCH, sizeof *batch);
    char *keys = malloc(SPL__BATCH * kcap);
    int rmmod = 0;
    if (!batch || !keys) {
        spl__hlog(c->h, c->name, 0, "out of memory");
        goto stop;
    }
    spl__resync(c, SPL_FRAG_RESYNC_START);
    spl__heartbeat(c, 1);
    for (;;) {
        if (spl_load_relaxed(&c->e->host) != c->me) {
            spl__hlog(c->h, c->name, 1, "the registry entry was taken over: leaving it");
            goto stop_nofree;
        }
        spl__mailbox(c);
        if (spl_load32_relaxed(&c->e->state) == SPL_FRAG_STOPPING) {
            rmmod = 1;
            break;
        }
        if (spl__stopping(c))
            break;
        spl__seen(c);
        if (spl__drain(c, batch, keys, kcap))
            continue; /* asked to stop, or a command: look at once */
        int64_t nap = (int64_t)SPL__HB_NS;
        if (c->retry) { /* a callback could not finish: rescan, at most every 10 ms */
            uint64_t now = spl__clock_ns(CLOCK_MONOTONIC);
            if (now - c->retry_ns >= SPL__RETRY_NS) {
                c->retry_ns = now;
                spl__resync(c, SPL_FRAG_RESYNC_RETRY);
                continue;
            }
            nap = (int64_t)(SPL__RETRY_NS - (now - c->retry_ns));
        }
        spl__heartbeat(c, 0);
        uint64_t fired = 0;
        if (spl_sub_wait(c->sub, nap, &fired) == SPL_ETIMEDOUT)
            spl__heartbeat(c, 1);
    }
stop:
    if (c->lib.d.stop)
        c->lib.d.stop(c, c->state);
    c->state = NULL;
    spl__heartbeat(c, 1);
    spl__reg_lock(c->s);
    if (spl_load_relaxed(&c->e->host) == c->me) {
        if (rmmod) {
            spl__reg_free(c->s, c->e);
        } else { /* the host stops: it stays registered for the next one */
            spl_store32_relaxed(&c->e->state, SPL_FRAG_REGISTERED);
            spl_store_relaxed(&c->e->host, 0);
        }
    }
    spl__reg_unlock(c->s);
    spl__hlog(c->h, c->name, 2, "%s", rmmod ? "removed" : "stopped (still registered)");
    if (0) {
stop_nofree:
        if (c->lib.d.stop)
            c->lib.d.stop(c, c->state);
    }
    spl__reg_kick(c->s);
    free(batch);
    free(keys);
out:
    for (unsigned k = 0; k < SPL__REGIONS_MAX; k++)
        if (c->regions[k].map)
            munmap(c->regions[k].map, c->regions[k].len);
    spl_sub_close(c->sub);
    c->sub = NULL;
    if (c->loaded)
        spl__frag_lib_close(&c->lib);
    free(c->prefix);
    free(c->glob);
    c->prefix = c->glob = NULL;
    atomic_store(&c->done, 1);
    spl__reg_kick(c->s); /* the host's main thread reaps it */
    return NULL;
}

/* ---- the host ----------------------------------------------------------------------------------- */

/* Take entry i if this host may: under the lock, host = me, STARTING.
 * With SPL_HOST_RESTART, dead ones too, and failed ones on the first pass
 * only (one that fails again is left failed, not retried in a loop). */
static struct spl_frag_ctx *spl__claim(struct spl__host *h, uint32_t i, int first)
{
    struct spl_store *s = h->s;
    spl_frag_info fi;
    if (spl__reg_read(s, i, &fi) != 0 || (h->o.only && strcmp(fi.name, h->o.only) != 0))
        return NULL;
    int restart = (h->o.flags & SPL_HOST_RESTART) != 0;
    if (!(fi.state == SPL_FRAG_REGISTERED && !fi.host_id) &&
        !(restart && (fi.state == SPL_FRAG_DEAD || (first && fi.state == SPL_FRAG_FAILED))))
        return NULL;
    struct spl_frag_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    uint64_t me = spl__owner_id();
    struct spl_reg_ent *e = spl__reg_ent(s, i);
    spl__reg_lock(s);
    int ok = spl__reg_read(s, i, &fi) == 0 && (!h->o.only || strcmp(fi.name, h->o.only) == 0) &&
             ((fi.state == SPL_FRAG_REGISTERED && !fi.host_id) ||
              (restart && (fi.state == SPL_FRAG_DEAD || (first && fi.state == SPL_FRAG_FAILED))));
    if (ok) {
        spl__reg_text_begin(e);
        spl__reg_put_str(e->errmsg, sizeof e->errmsg, NULL);
        spl_store32_relaxed((uint32_t *)&e->last_err, 0);
        if (fi.state != SPL_FRAG_REGISTERED)
            spl_store_relaxed(&e->restarts, fi.restarts + 1);
        spl_store_relaxed(&e->host, me);
        spl_store_relaxed(&e->start_ns, spl__clock_ns(CLOCK_REALTIME));
        spl_store_relaxed(&e->heartbeat_ns, spl__clock_ns(CLOCK_MONOTONIC));
        spl_store_relaxed(&e->events, 0);
        spl_store_relaxed(&e->errors, 0);
        spl_store_relaxed(&e->resyncs, 0);
        spl_store_relaxed(&e->rate_milli, 0);
        spl_store32_relaxed(&e->state, SPL_FRAG_STARTING);
        spl__reg_text_end(e);
        /* a request left by a caller of the host that died (maybe the one
         * that crashed it) is answered, never run again */
        uint32_t req = spl_load32_acquire(&e->req_seq);
        if (req != spl_load32_relaxed(&e->rep_seq)) {
            static const char msg[] = "{\"error\":\"the host restarted\"}";
            spl__copy_in(e->rep, 0, msg, sizeof msg - 1, 1);
            spl_store32_relaxed(&e->rep_len, sizeof msg - 1);
            spl_store32_relaxed((uint32_t *)&e->rep_rc, (uint32_t)SPL_ENOHOST);
            spl_store32_release(&e->rep_seq, req);
            spl__reg_futex_wake(&e->rep_seq);
        }
    }
    spl__reg_unlock(s);
    if (!ok) {
        free(c);
        return NULL;
    }
    c->h = h;
    c->s = s;
    c->idx = i;
    c->e = e;
    c->me = me;
    memcpy(c->name, fi.name, sizeof c->name);
    memcpy(c->path, fi.path, sizeof c->path);
    memcpy(c->args, fi.args, sizeof c->args);
    size_t p = 0;
    for (uint32_t a = 0; a < fi.argc && p < sizeof c->args; a++) {
        c->argv[c->argc++] = c->args + p;
        p += strlen(c->args + p) + 1;
    }
    c->argv[c->argc] = NULL;
    return c;
}

SPL_API int spl_host_stop(spl_store *s)
{
    atomic_fetch_add(&spl__stop_gen, 1);
    if (s && !s->rdonly)
        spl_signal(s, SPL__CTL_MASK); /* lock-free: fine in a signal handler */
    return 0;
}

SPL_API int spl_host_run(spl_store *s, const spl_host_opts *o)
{
    spl__frag_msg("%s", "");
    if (!s || (o && o->version != SPL_HOST_OPTS_VERSION))
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    struct spl__host h;
    memset(&h, 0, sizeof h);
    h.s = s;
    if (o)
        h.o = *o;
    else
        h.o = (spl_host_opts){SPL_HOST_OPTS_VERSION, SPL_HOST_SERVE, NULL, 2};
    h.gen0 = atomic_load(&spl__stop_gen);
    spl_sub *ctl;
    int rc = spl_sub_open(s, SPL__CTL_MASK, &ctl);
    if (rc)
        return rc;
    struct spl_frag_ctx *run[SPL_REG_ENTRIES] = {0};
    int took = 0, first = 1;
    spl__hlog(&h, "-", 2, "host up%s%s%s%s", h.o.only ? " for " : "", h.o.only ? h.o.only : "",
              (h.o.flags & SPL_HOST_SERVE) ? ", serving" : "",
              (h.o.flags & SPL_HOST_RESTART) ? ", restarting dead fragments" : "");
    for (;;) {
        unsigned active = 0;
        for (uint32_t i = 0; i < SPL_REG_ENTRIES; i++) {
            if (run[i] && atomic_load(&run[i]->done)) {
                pthread_join(run[i]->thr, NULL);
                free(run[i]);
                run[i] = NULL;
            }
            active += run[i] != NULL;
        }
        if (atomic_load(&spl__stop_gen) != h.gen0)
            break;
        for (uint32_t i = 0; i < SPL_REG_ENTRIES; i++) {
            if (run[i])
                continue;
            struct spl_frag_ctx *c = spl__claim(&h, i, first);
            if (!c)
                continue;
            if (pthread_create(&c->thr, NULL, spl__frag_thread, c) != 0) {
                spl__mark_failed(c, SPL_ENOMEM, "no thread");
                free(c);
                continue;
            }
            run[i] = c;
            took = 1;
            active++;
        }
        first = 0;
        if (!active && !(h.o.flags & SPL_HOST_SERVE))
            break;
        spl_sub_wait(ctl, (int64_t)SPL__HB_NS, NULL);
    }
    atomic_store(&h.stop, 1);
    spl_signal(s, SPL__CTL_MASK);
    for (uint32_t i = 0; i < SPL_REG_ENTRIES; i++)
        if (run[i]) {
            pthread_join(run[i]->thr, NULL);
            free(run[i]);
        }
    spl_sub_close(ctl);
    spl__hlog(&h, "-", 2, "host down");
    if (!took && !(h.o.flags & SPL_HOST_SERVE)) {
        spl__frag_msg("no fragment to host%s%s", h.o.only ? ": " : "", h.o.only ? h.o.only : "");
        return SPL_ENOENT;
    }
    return 0;
}

SPL_API int spl_host_spawn(spl_store *s, const spl_host_opts *o)
{
    if (!s || (o && o->version != SPL_HOST_OPTS_VERSION))
        return SPL_EINVAL;
    if (s->rdonly)
        return SPL_EROFS;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -errno;
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        return -e;
    }
    if (child == 0) {
        setsid();
        pid_t gc = fork();
        if (gc != 0) {
            int32_t v = gc > 0 ? (int32_t)gc : -errno;
            ssize_t w = write(pfd[1], &v, sizeof v);
            (void)w;
            _exit(0);
        }
        /* the host: stdin and stdout /dev/null, stderr the log (or
         * /dev/null), every other descriptor closed but the store's */
        spl_host_opts ho = o ? *o : (spl_host_opts){SPL_HOST_OPTS_VERSION, 0, NULL, -1};
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            dup2(ho.log_fd >= 0 ? ho.log_fd : nul, 2);
        }
        ho.log_fd = 2;
        int keep = s->fd > 2 ? s->fd : -1;
        if (keep > 3)
            close_range(3, (unsigned)keep - 1, 0);
        close_range(keep > 2 ? (unsigned)keep + 1 : 3, ~0u, 0);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        prctl(PR_SET_NAME, "splinter-host", 0, 0, 0);
        int rc = spl_host_run(s, &ho);
        _exit(rc == 0 ? 0 : 1);
    }
    close(pfd[1]);
    int32_t v = -EIO;
    ssize_t r;
    do
        r = read(pfd[0], &v, sizeof v);
    while (r < 0 && errno == EINTR);
    close(pfd[0]);
    int st;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR)
        ;
    return r == (ssize_t)sizeof v ? v : -EIO;
}
