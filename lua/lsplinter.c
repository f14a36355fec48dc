/*
 * lsplinter.c - the `splinter` Lua module.
 *
 *   local splinter = require "splinter"      -- or preloaded by splinterctl lua
 *   local st = splinter.open("name" [, {create=true, slots=, key_max=,
 *                                        value_size=, vec_dim=, cells=,
 *                                        numa="bind", numa_nodes={0},
 *                                        huge_pages=true}])
 *   splinter.set("k", "v" [, "text"])        -- the current store ...
 *   st:set("k", "v")                          -- ... or a given one
 *
 * Every function takes an optional store object first (method syntax);
 * without it the current store is used: the one splinterctl bound, else the
 * first one opened.  Errors are raised as tables {code=, name=, message=}
 * whose tostring is "SPL_EKEYLEN: key: text".  A missing key is not an
 * error for get/meta/type (they return nil), nor for unset/exists (false).
 *
 * Signals: watch/unwatch(key, groups), bind/unbind(bit, groups), bump(key),
 * signal(groups), pulses(group); groups are 64-bit masks (1 << g).
 * subscribe(groups) -> sub, sub:wait(timeout_ms) -> fired, {keys}, lost |
 * nil; wait(groups, timeout_ms) does the same through a subscription kept
 * per store and mask, so no change between two waits is missed;
 * key_wait(key, epoch, timeout_ms) -> epoch | nil (timeout) | false (absent
 * or deleted).  Timeouts in ms; nil or negative waits for ever; a wait
 * returns nil early when the script is being interrupted (Ctrl-C).
 * Vectors: vector_get(key) -> {numbers} | nil, vector_set(key, {numbers}),
 * vector_clear(key) -> true | false, search(vec | key, {k=, metric=,
 * labels=, any=, prefix=, threads=, ann=, ef=, skip_self=}) -> {{key=,
 * score=, epoch=}...} (by key, the key itself is left out of the hits
 * unless skip_self=false); search_text(text, {the same, frag=}) embeds text as a query
 * with the embedder and settings of the store's embed fragment (frag: its
 * name, default "embed"; none registered: the default embedder), as
 * splinterctl search --text does, then searches.  ann=true asks a running
 * ANN index (the hnsw fragment) with ef candidates (0: its default); the
 * hits table then has approximate=true if the index answered; with none
 * running, or one that lags, the exact scan answers and the field is nil.
 *
 * Adding a function: write it as l_NAME below and add it to funcs[].
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "embedder.h"
#include "lsplinter.h"

#define LSPL_STR_(x) #x
#define LSPL_STR(x) LSPL_STR_(x)
#define SPLINTER_LUA_VERSION                                                    \
    LSPL_STR(SPL_VERSION_MAJOR) "." LSPL_STR(SPL_VERSION_MINOR) "." LSPL_STR(SPL_VERSION_PATCH)
#define STORE_MT "splinter.store"
#define ERROR_MT "splinter.error"
#define SUB_MT "splinter.sub"
#define CURRENT_KEY "splinter.current"

struct lsub;

typedef struct lstore {
    spl_store *s;
    int owned;          /* closed by __gc/close; a bound store is not */
    struct lsub *subs;  /* open subscriptions: closed before the store */
} lstore;

typedef struct lsub {
    spl_sub *u;         /* NULL once closed */
    lstore *st;
    struct lsub *next;
} lsub;

/* ---------------------------------------------------------------- errors */

static int err_tostring(lua_State *L)
{
    lua_getfield(L, 1, "name");
    lua_pushstring(L, ": ");
    lua_getfield(L, 1, "message");
    lua_concat(L, 3);
    return 1;
}

/* Raise {code, name, message [, store = true]}; never returns.  `store`
 * marks a failure to open a store (its SPL_ENOENT is a missing store, not
 * a missing key). */
static int raise_err(lua_State *L, int rc, const char *what, int store)
{
    lua_createtable(L, 0, 4);
    if (store) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "store");
    }
    lua_pushinteger(L, rc);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, spl_err_name(rc));
    lua_setfield(L, -2, "name");
    lua_pushfstring(L, "%s: %s", what, spl_strerror(rc));
    lua_setfield(L, -2, "message");
    luaL_setmetatable(L, ERROR_MT);
    return lua_error(L);
}

static int raise(lua_State *L, int rc, const char *what)
{
    return raise_err(L, rc, what, 0);
}

int lsplinter_error_code(lua_State *L, int idx, int *store_code)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, ERROR_MT);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (!same)
        return 0;
    lua_getfield(L, idx, "code");
    lua_getfield(L, idx, "store");
    int code = (int)lua_tointeger(L, -2), store = lua_toboolean(L, -1);
    lua_pop(L, 2);
    if (code < 0 && store && store_code)
        *store_code = 1;
    return code < 0 ? code : 0;
}

/* ---------------------------------------------------------------- stores */

/* The store object for this call, pushed on top: a store object as
 * argument 1 (removed from the argument list), else the current one. */
static lstore *store_obj(lua_State *L)
{
    lstore *ls = luaL_testudata(L, 1, STORE_MT);
    if (ls) {
        lua_pushvalue(L, 1);
        lua_remove(L, 1);
    } else {
        lua_getfield(L, LUA_REGISTRYINDEX, CURRENT_KEY);
        ls = luaL_testudata(L, -1, STORE_MT);
        if (!ls)
            luaL_error(L, "splinter: no store (splinter.open one, or run under splinterctl --store)");
    }
    if (!ls->s)
        luaL_error(L, "splinter: store is closed");
    return ls;
}

/* The store for this call (see store_obj), the object not left on the
 * stack (the caller's argument or the registry keeps it alive). */
static spl_store *store_arg(lua_State *L)
{
    spl_store *s = store_obj(L)->s;
    lua_pop(L, 1);
    return s;
}

/* For the fragment functions (lua/lfrag.c). */
spl_store *lsplinter_store_arg(lua_State *L) { return store_arg(L); }
int lsplinter_raise(lua_State *L, int rc, const char *what) { return raise(L, rc, what); }

/* The store (see store_arg) and the key argument after it. */
static const char *key_arg(lua_State *L, spl_store **s)
{
    *s = store_arg(L);
    return luaL_checkstring(L, 1);
}

static lstore *push_store(lua_State *L, spl_store *s, int owned)
{
    lstore *ls = lua_newuserdatauv(L, sizeof *ls, 1); /* uservalue: wait()'s subscriptions */
    ls->s = s;
    ls->owned = owned;
    ls->subs = NULL;
    luaL_setmetatable(L, STORE_MT);
    return ls;
}

static void make_current_if_none(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, CURRENT_KEY);
    int none = lua_isnil(L, -1);
    lua_pop(L, 1);
    if (none) {
        lua_pushvalue(L, idx);
        lua_setfield(L, LUA_REGISTRYINDEX, CURRENT_KEY);
    }
}

void lsplinter_bind(lua_State *L, spl_store *s, const char *name)
{
    (void)name;
    push_store(L, s, 0);
    lua_setfield(L, LUA_REGISTRYINDEX, CURRENT_KEY);
}

static uint32_t opt_u32_field(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    lua_Integer v = luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    if (v < 0 || v > (lua_Integer)UINT32_MAX)
        luaL_error(L, "splinter.open: bad %s", k);
    return (uint32_t)v;
}

/* spl_numa_mode's names, by value (docs/PLACEMENT.md) */
static const char *const numa_modes[] = {"default", "bind", "interleave", "preferred", "local", NULL};
_Static_assert(sizeof numa_modes / sizeof numa_modes[0] == SPL__NUMA_MODE_COUNT + 1, "a name per mode");

/* opts.numa: a mode name */
static uint32_t numa_mode_field(lua_State *L, int t)
{
    lua_getfield(L, t, "numa");
    uint32_t m = lua_isnil(L, -1) ? 0 : (uint32_t)luaL_checkoption(L, -1, NULL, numa_modes);
    lua_pop(L, 1);
    return m;
}

/* opts.numa_nodes: a list of node numbers 0..63 */
static uint64_t numa_nodes_field(lua_State *L, int t)
{
    uint64_t mask = 0;
    lua_getfield(L, t, "numa_nodes");
    if (!lua_isnil(L, -1)) {
        luaL_checktype(L, -1, LUA_TTABLE);
        for (lua_Integer i = 1, n = (lua_Integer)luaL_len(L, -1); i <= n; i++) {
            lua_geti(L, -1, i);
            int ok;
            lua_Integer node = lua_tointegerx(L, -1, &ok);
            if (!ok || node < 0 || node >= (lua_Integer)SPL_NUMA_NODES_MAX)
                luaL_error(L, "splinter.open: bad numa_nodes");
            mask |= 1ull << node;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return mask;
}

/* opts.huge_pages: true (the default size) or a page size in bytes */
static uint32_t huge_pages_field(lua_State *L, int t)
{
    lua_getfield(L, t, "huge_pages");
    int boolean = lua_isboolean(L, -1), on = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (boolean)
        return on ? SPL_HUGE_DEFAULT : 0;
    return opt_u32_field(L, t, "huge_pages");
}

/* open(name [, opts]) -> store.  opts (with create = true): slots, key_max,
 * value_size, vec_dim, cells, numa, numa_nodes, huge_pages. */
static int l_open(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    spl_options o;
    spl_options_init(&o);
    int create = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "create");
        create = lua_toboolean(L, -1);
        lua_pop(L, 1);
        o.geom.slots = opt_u32_field(L, 2, "slots");
        o.geom.key_max = opt_u32_field(L, 2, "key_max");
        o.geom.val_max = opt_u32_field(L, 2, "value_size");
        lua_getfield(L, 2, "vec_dim");
        if (!lua_isnil(L, -1))
            o.geom.vec_dim = opt_u32_field(L, 2, "vec_dim");
        lua_pop(L, 1);
        o.vec_cells = opt_u32_field(L, 2, "cells");
        o.numa_mode = numa_mode_field(L, 2);
        o.numa_nodes = numa_nodes_field(L, 2);
        o.huge_pages = huge_pages_field(L, 2);
    }
    spl_store *s;
    int rc = create ? spl_open_or_create(&s, name, &o) : spl_open(&s, name, NULL);
    if (rc < 0)
        return raise_err(L, rc, name, 1);
    push_store(L, s, 1);
    make_current_if_none(L, -1);
    return 1;
}

static void sub_close(lsub *b)
{
    if (!b->u)
        return;
    spl_sub_close(b->u);
    b->u = NULL;
    for (lsub **p = &b->st->subs; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    b->st = NULL;
}

static int l_close(lua_State *L)
{
    lstore *ls = luaL_checkudata(L, 1, STORE_MT);
    while (ls->subs)
        sub_close(ls->subs);
    if (ls->owned)
        spl_close(ls->s);
    ls->s = NULL;
    return 0;
}

/* ---------------------------------------------------------------- retries */

/* Retry SPL_EAGAIN for up to a second: for the calls with no *_wait
 * variant, waiting between tries as those do (spl_retry_pause: asleep on
 * the busy slot until its writer commits).  Set, unset and the integer ops
 * call their *_wait variant for LUA_WAIT_US.  write: the call writes the
 * key (1) or reads it (0); key NULL for a search (it backs off). */
#define LUA_WAIT_US 1000000u
#define RETRY(s, key, write, rc, call)                                          \
    do {                                                                         \
        spl_retry r_;                                                            \
        spl_retry_init(&r_, LUA_WAIT_US);                                        \
        while (((rc) = (call)) == SPL_EAGAIN && spl_retry_pause((s), (key), (write), &r_) == 0) \
            ;                                                                    \
    } while (0)

/* ---------------------------------------------------------------- key-value */

static void push_value(lua_State *L, const char *v, size_t n, int type)
{
    if (n == 8 && (type == SPL_T_INT64 || type == SPL_T_UINT64)) {
        int64_t x;
        memcpy(&x, v, 8);
        lua_pushinteger(L, x);
    } else {
        lua_pushlstring(L, v, n);
    }
}

/* One consistent read of a value and its type. */
static int get_once(spl_store *s, const char *key, char *buf, size_t cap, size_t *len,
                    uint8_t *type)
{
    spl_view v;
    int rc = spl_view_get(s, key, &v);
    if (rc < 0)
        return rc;
    if (v.len > cap)
        return SPL_EAGAIN;
    memcpy(buf, v.data, v.len);
    rc = spl_view_valid(s, &v);
    if (rc < 0)
        return rc == SPL_ESTALE ? SPL_EAGAIN : rc;
    *len = v.len;
    *type = v.type;
    return 0;
}

/* get(key) -> value (string; integer for int64/uint64), type name | nil */
static int l_get(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    spl_info in;
    int rc = spl_info_get(s, &in);
    if (rc < 0)
        return raise(L, rc, key);
    char *buf = malloc(in.geom.val_max ? in.geom.val_max : 1);
    if (!buf)
        return raise(L, SPL_ENOMEM, key);
    size_t len = 0;
    uint8_t type = 0;
    RETRY(s, key, 0, rc, get_once(s, key, buf, in.geom.val_max, &len, &type));
    if (rc == 0) {
        push_value(L, buf, len, type);
        lua_pushstring(L, spl_type_name((spl_type)type));
    }
    free(buf);
    if (rc == SPL_ENOENT) {
        lua_pushnil(L);
        return 1;
    }
    if (rc < 0)
        return raise(L, rc, key);
    return 2;
}

/* set(key, value [, type]): an integer value is stored as 8-byte int64 */
static int l_set(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    int rc, type = -1;
    if (!lua_isnoneornil(L, 3) && (type = spl_type_parse(luaL_checkstring(L, 3))) < 0)
        return raise(L, SPL_EINVAL, lua_tostring(L, 3));
    if (lua_isinteger(L, 2)) {
        int64_t x = lua_tointeger(L, 2);
        rc = spl_set_wait(s, key, &x, 8, LUA_WAIT_US);
        if (type < 0)
            type = SPL_T_INT64;
    } else {
        size_t n;
        const char *v = luaL_checklstring(L, 2, &n);
        rc = spl_set_wait(s, key, v, n, LUA_WAIT_US);
    }
    if (rc == 0 && type >= 0)
        RETRY(s, key, 1, rc, spl_type_set(s, key, (spl_type)type));
    if (rc < 0)
        return raise(L, rc, key);
    return 0;
}

static int l_append(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    size_t n;
    const char *v = luaL_checklstring(L, 2, &n);
    int rc;
    RETRY(s, key, 1, rc, spl_append(s, key, v, n));
    if (rc < 0)
        return raise(L, rc, key);
    return 0;
}

/* unset(key) -> true, or false if it was absent */
static int l_unset(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    int rc;
    rc = spl_unset_wait(s, key, LUA_WAIT_US);
    if (rc < 0 && rc != SPL_ENOENT)
        return raise(L, rc, key);
    lua_pushboolean(L, rc == 0);
    return 1;
}

static int l_exists(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    int rc;
    RETRY(s, key, 0, rc, spl_exists(s, key));
    if (rc < 0)
        return raise(L, rc, key);
    lua_pushboolean(L, rc);
    return 1;
}

/* cas(key, epoch, value) -> true, or false if the epoch moved / key exists */
static int l_cas(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    lua_Integer epoch = luaL_checkinteger(L, 2);
    size_t n;
    const char *v = luaL_checklstring(L, 3, &n);
    int rc;
    RETRY(s, key, 1, rc, spl_cas(s, key, (uint64_t)epoch, v, n));
    if (rc < 0 && rc != SPL_ESTALE && rc != SPL_EEXIST)
        return raise(L, rc, key);
    lua_pushboolean(L, rc == 0);
    return 1;
}

/* A key's metadata: 1, or 0 with nil pushed if the key is absent; raises
 * on other errors. */
static int meta_or_nil(lua_State *L, spl_store *s, const char *key, spl_meta *m)
{
    int rc;
    RETRY(s, key, 0, rc, spl_meta_get(s, key, m));
    if (rc == SPL_ENOENT) {
        lua_pushnil(L);
        return 0;
    }
    if (rc < 0)
        raise(L, rc, key);
    return 1;
}

/* meta(key) -> {type, len, epoch, labels, flags, ctime_ns, mtime_ns} | nil */
static int l_meta(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    spl_meta m;
    if (!meta_or_nil(L, s, key, &m))
        return 1;
    lua_createtable(L, 0, 7);
    lua_pushstring(L, spl_type_name((spl_type)m.type));
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, m.val_len);
    lua_setfield(L, -2, "len");
    lua_pushinteger(L, (lua_Integer)m.epoch);
    lua_setfield(L, -2, "epoch");
    lua_pushinteger(L, (lua_Integer)m.labels);
    lua_setfield(L, -2, "labels");
    lua_pushinteger(L, m.user_flags);
    lua_setfield(L, -2, "flags");
    lua_pushinteger(L, (lua_Integer)m.ctime_ns);
    lua_setfield(L, -2, "ctime_ns");
    lua_pushinteger(L, (lua_Integer)m.mtime_ns);
    lua_setfield(L, -2, "mtime_ns");
    return 1;
}

/* type(key [, newtype]) -> type name | nil */
static int l_type(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    int rc;
    if (!lua_isnoneornil(L, 2)) {
        int t = spl_type_parse(luaL_checkstring(L, 2));
        if (t < 0)
            return raise(L, SPL_EINVAL, lua_tostring(L, 2));
        RETRY(s, key, 1, rc, spl_type_set(s, key, (spl_type)t));
        if (rc < 0)
            return raise(L, rc, key);
    }
    spl_meta m;
    if (!meta_or_nil(L, s, key, &m))
        return 1;
    lua_pushstring(L, spl_type_name((spl_type)m.type));
    return 1;
}

/* ---------------------------------------------------------------- integers */

static int int_op(lua_State *L, spl_int_op op, int operand_kind)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    uint64_t operand = 1, out;
    if (operand_kind == 1) /* required */
        operand = (uint64_t)luaL_checkinteger(L, 2);
    else if (operand_kind == 2) /* optional step, default 1 */
        operand = (uint64_t)luaL_optinteger(L, 2, 1);
    else if (operand_kind == 3) /* decrement by optional step */
        operand = (uint64_t)-luaL_optinteger(L, 2, 1);
    /* a busy slot: waited for up to a second, as set (spl_int would wait
     * 10 s) */
    int rc = spl_int_wait(s, key, op, operand, &out, LUA_WAIT_US);
    if (rc < 0)
        return raise(L, rc, key);
    lua_pushinteger(L, (lua_Integer)out);
    return 1;
}

static int l_incr(lua_State *L) { return int_op(L, SPL_OP_ADD, 2); }
static int l_decr(lua_State *L) { return int_op(L, SPL_OP_ADD, 3); }
static int l_add(lua_State *L) { return int_op(L, SPL_OP_ADD, 1); }
static int l_band(lua_State *L) { return int_op(L, SPL_OP_AND, 1); }
static int l_bor(lua_State *L) { return int_op(L, SPL_OP_OR, 1); }
static int l_bxor(lua_State *L) { return int_op(L, SPL_OP_XOR, 1); }
static int l_bnot(lua_State *L) { return int_op(L, SPL_OP_NOT, 0); }

/* ---------------------------------------------------------------- labels */

/* labels(key) -> mask | nil */
static int l_labels(lua_State *L)
{
    if (l_meta(L) == 1 && lua_istable(L, -1))
        lua_getfield(L, -1, "labels");
    return 1;
}

static int label_op(lua_State *L, int set)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    uint64_t mask = (uint64_t)luaL_checkinteger(L, 2);
    int rc;
    if (set)
        RETRY(s, key, 1, rc, spl_labels_set(s, key, mask));
    else
        RETRY(s, key, 1, rc, spl_labels_clear(s, key, mask));
    if (rc < 0)
        return raise(L, rc, key);
    return 0;
}

static int l_label_set(lua_State *L) { return label_op(L, 1); }
static int l_label_clear(lua_State *L) { return label_op(L, 0); }

/* ---------------------------------------------------------------- iteration */

static int list_one(const spl_entry *e, void *ud)
{
    lua_State *L = ud;
    lua_Integer n = (lua_Integer)luaL_len(L, -2);
    lua_pushlstring(L, e->key, e->key_len);
    lua_rawseti(L, -3, n + 1);
    lua_Integer limit = lua_tointeger(L, -1);
    return limit > 0 && n + 1 >= limit;
}

/* list([glob] [, {prefix=, labels=, any=, limit=}]) -> {key...} */
static int l_list(lua_State *L)
{
    spl_store *s = store_arg(L);
    spl_filter f = {0};
    int opt = 2;
    if (lua_type(L, 1) == LUA_TSTRING)
        f.glob = lua_tostring(L, 1);
    else if (lua_istable(L, 1))
        opt = 1;
    else
        luaL_argcheck(L, lua_isnoneornil(L, 1), 1, "glob string or options table expected");
    lua_Integer limit = 0;
    if (lua_istable(L, opt)) {
        lua_getfield(L, opt, "prefix");
        f.prefix = lua_tostring(L, -1); /* stays on the stack while used */
        lua_getfield(L, opt, "labels");
        f.labels = (uint64_t)lua_tointeger(L, -1);
        lua_getfield(L, opt, "any");
        if (lua_toboolean(L, -1))
            f.flags |= SPL_F_LABELS_ANY;
        lua_getfield(L, opt, "limit");
        limit = lua_tointeger(L, -1);
    }
    lua_newtable(L);
    lua_pushinteger(L, limit);
    int rc = spl_foreach(s, &f, list_one, L);
    lua_pop(L, 1);
    if (rc < 0)
        return raise(L, rc, "list");
    return 1;
}

/* info() -> {slots, key_max, value_size, vec_dim, used, load, changes,
 * recoveries, capacity, free, region_bytes, resident_bytes, page_bytes,
 * store_id, cells, cells_used, numa (a mode name; nil where unknown)} */
static int l_info(lua_State *L)
{
    spl_store *s = store_arg(L);
    spl_info in;
    int rc = spl_info_get(s, &in);
    if (rc < 0)
        return raise(L, rc, "info");
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, in.geom.slots);
    lua_setfield(L, -2, "slots");
    lua_pushinteger(L, in.geom.key_max);
    lua_setfield(L, -2, "key_max");
    lua_pushinteger(L, in.geom.val_max);
    lua_setfield(L, -2, "value_size");
    lua_pushinteger(L, in.geom.vec_dim);
    lua_setfield(L, -2, "vec_dim");
    lua_pushinteger(L, (lua_Integer)in.used);
    lua_setfield(L, -2, "used");
    lua_pushnumber(L, in.load);
    lua_setfield(L, -2, "load");
    lua_pushinteger(L, (lua_Integer)in.changes);
    lua_setfield(L, -2, "changes");
    lua_pushinteger(L, (lua_Integer)in.recoveries);
    lua_setfield(L, -2, "recoveries");
    const struct {
        const char *k;
        uint64_t v;
    } more[] = {{"capacity", in.capacity},       {"free", in.free},
                {"region_bytes", in.region_bytes}, {"resident_bytes", in.resident_bytes},
                {"page_bytes", in.page_bytes},   {"store_id", in.store_id},
                {"cells", in.cells},             {"cells_used", in.cells_used}};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        lua_pushinteger(L, (lua_Integer)more[i].v);
        lua_setfield(L, -2, more[i].k);
    }
    if (in.numa_mode >= 0 && in.numa_mode < SPL__NUMA_MODE_COUNT) {
        lua_pushstring(L, numa_modes[in.numa_mode]);
        lua_setfield(L, -2, "numa");
    }
    return 1;
}

/* ---------------------------------------------------------------- signals */

static uint64_t mask_arg(lua_State *L, int i)
{
    return (uint64_t)luaL_checkinteger(L, i);
}

static int watch_op(lua_State *L, int add)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    uint64_t groups = mask_arg(L, 2);
    int rc;
    if (add)
        RETRY(s, key, 1, rc, spl_watch(s, key, groups));
    else
        RETRY(s, key, 1, rc, spl_unwatch(s, key, groups));
    if (rc < 0)
        return raise(L, rc, key);
    return 0;
}

static int l_watch(lua_State *L) { return watch_op(L, 1); }
static int l_unwatch(lua_State *L) { return watch_op(L, 0); }

static int bind_op(lua_State *L, int add)
{
    spl_store *s = store_arg(L);
    lua_Integer bit = luaL_checkinteger(L, 1);
    uint64_t groups = mask_arg(L, 2);
    int rc = bit < 0 || bit > 63 ? SPL_EINVAL
             : add               ? spl_bind(s, (unsigned)bit, groups)
                                 : spl_unbind(s, (unsigned)bit, groups);
    if (rc < 0)
        return raise(L, rc, "bind");
    return 0;
}

static int l_bind(lua_State *L) { return bind_op(L, 1); }
static int l_unbind(lua_State *L) { return bind_op(L, 0); }

static int l_bump(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    int rc;
    RETRY(s, key, 0, rc, spl_bump(s, key)); /* bump reads the key */
    if (rc < 0)
        return raise(L, rc, key);
    return 0;
}

static int l_signal(lua_State *L)
{
    spl_store *s = store_arg(L);
    int rc = spl_signal(s, mask_arg(L, 1));
    if (rc < 0)
        return raise(L, rc, "signal");
    return 0;
}

/* pulses(group) -> the group's pulse counter */
static int l_pulses(lua_State *L)
{
    spl_store *s = store_arg(L);
    lua_Integer g = luaL_checkinteger(L, 1);
    uint64_t n = 0;
    int rc = g < 0 || g >= SPL_GROUPS ? SPL_EINVAL : spl_pulses(s, (unsigned)g, &n);
    if (rc < 0)
        return raise(L, rc, "pulses");
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

/* A wait deadline from a timeout in ms (nil or < 0: none). */
static int64_t deadline_ms(lua_State *L, int i)
{
    lua_Integer t = luaL_optinteger(L, i, -1);
    if (t < 0)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + t;
}

/* The next slice of a wait in ns (at most 100 ms, so an interrupt is seen
 * soon), or -1: the deadline passed or the script is being interrupted (a
 * hook is set: splinterctl's and lua5.4's Ctrl-C both set one). */
static int64_t slice_ns(lua_State *L, int64_t deadline)
{
    if (lua_gethook(L))
        return -1;
    int64_t slice = 100;
    if (deadline >= 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left = deadline - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        if (left < 0)
            return -1;
        if (left < slice)
            slice = left;
    }
    return slice * 1000000;
}

static lsub *sub_check(lua_State *L, int i)
{
    lsub *b = luaL_checkudata(L, i, SUB_MT);
    if (!b->u)
        luaL_error(L, "splinter: subscription is closed");
    return b;
}

/* Wait on b until a pulse or the deadline; push fired, {keys}, lost or nil. */
static int sub_wait_push(lua_State *L, lsub *b, int64_t deadline)
{
    uint64_t fired = 0;
    int rc;
    for (;;) {
        int64_t ns = slice_ns(L, deadline);
        if (ns < 0) {
            lua_pushnil(L);
            return 1;
        }
        if ((rc = spl_sub_wait(b->u, ns, &fired)) != SPL_ETIMEDOUT)
            break;
    }
    if (rc < 0)
        return raise(L, rc, "wait");
    lua_pushinteger(L, (lua_Integer)fired);
    lua_newtable(L); /* keys, in order */
    lua_newtable(L); /* seen: key -> true */
    char key[SPL_KEY_MAX_LIMIT + 1];
    spl_event ev;
    int lost = 0;
    while ((rc = spl_sub_next(b->u, &ev, key, sizeof key)) != SPL_ENOENT) {
        if (rc == SPL_EOVERFLOW) {
            lost = 1;
            continue;
        }
        if (rc < 0)
            return raise(L, rc, "wait");
        if (ev.kind == SPL_EV_SIGNAL || ev.kind == SPL_EV_UNKNOWN)
            continue;
        lua_pushlstring(L, key, ev.key_len);
        if (lua_rawget(L, -2) == LUA_TNIL) {
            lua_pushlstring(L, key, ev.key_len);
            lua_pushboolean(L, 1);
            lua_rawset(L, -4);
            lua_pushlstring(L, key, ev.key_len);
            lua_rawseti(L, -4, (lua_Integer)luaL_len(L, -4) + 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_pushboolean(L, lost);
    return 3;
}

/* A new subscription of the store object on top of the stack; pushed. */
static lsub *sub_new(lua_State *L, lstore *ls, uint64_t groups)
{
    spl_sub *u;
    int rc = spl_sub_open(ls->s, groups, &u);
    if (rc < 0)
        raise(L, rc, "subscribe");
    lsub *b = lua_newuserdatauv(L, sizeof *b, 1);
    b->u = u;
    b->st = ls;
    b->next = ls->subs;
    ls->subs = b;
    luaL_setmetatable(L, SUB_MT);
    lua_pushvalue(L, -2);
    lua_setiuservalue(L, -2, 1); /* the sub keeps its store alive */
    return b;
}

/* subscribe(groups) -> sub */
static int l_subscribe(lua_State *L)
{
    lstore *ls = store_obj(L);
    sub_new(L, ls, mask_arg(L, 1));
    return 1;
}

static int l_sub_wait(lua_State *L)
{
    lsub *b = sub_check(L, 1);
    return sub_wait_push(L, b, deadline_ms(L, 2));
}

static int l_sub_close(lua_State *L)
{
    sub_close(luaL_checkudata(L, 1, SUB_MT));
    return 0;
}

/* wait(groups, timeout_ms): through the store's subscription for groups */
static int l_wait(lua_State *L)
{
    lstore *ls = store_obj(L);
    int st = lua_gettop(L);
    uint64_t groups = mask_arg(L, 1);
    int64_t deadline = deadline_ms(L, 2);
    if (lua_getiuservalue(L, st, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, st, 1);
    }
    lua_rawgeti(L, -1, (lua_Integer)groups);
    lsub *b = luaL_testudata(L, -1, SUB_MT);
    if (!b || !b->u) {
        lua_pop(L, 1);
        lua_pushvalue(L, st);
        b = sub_new(L, ls, groups);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -4, (lua_Integer)groups);
    }
    return sub_wait_push(L, b, deadline);
}

/* key_wait(key, epoch, timeout_ms) -> new epoch | nil (timeout) | false */
static int l_key_wait(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    uint64_t epoch = (uint64_t)luaL_checkinteger(L, 2), out = 0;
    int64_t deadline = deadline_ms(L, 3), ns;
    int rc = SPL_ETIMEDOUT;
    while (rc == SPL_ETIMEDOUT && (ns = slice_ns(L, deadline)) >= 0)
        rc = spl_key_wait(s, key, epoch, ns, &out);
    if (rc == SPL_ETIMEDOUT)
        lua_pushnil(L);
    else if (rc == SPL_ENOENT)
        lua_pushboolean(L, 0);
    else if (rc < 0)
        return raise(L, rc, key);
    else
        lua_pushinteger(L, (lua_Integer)out);
    return 1;
}

/* ---------------------------------------------------------------- vectors */

static uint32_t store_dim(lua_State *L, spl_store *s)
{
    spl_info in;
    int rc = spl_info_get(s, &in);
    if (rc < 0)
        raise(L, rc, "vector");
    if (!in.geom.vec_dim)
        raise(L, SPL_ENOTSUP, "vector");
    return in.geom.vec_dim;
}

/* The table at i as dim floats (a userdata buffer pushed on the stack). */
static float *vec_from_table(lua_State *L, int i, uint32_t dim)
{
    luaL_checktype(L, i, LUA_TTABLE);
    if (luaL_len(L, i) != (lua_Integer)dim)
        raise(L, SPL_EDIM, "vector");
    float *v = lua_newuserdatauv(L, dim * sizeof *v, 0);
    for (uint32_t k = 0; k < dim; k++) {
        int isnum;
        lua_rawgeti(L, i, k + 1);
        v[k] = (float)lua_tonumberx(L, -1, &isnum);
        lua_pop(L, 1);
        if (!isnum)
            raise(L, SPL_EINVAL, "vector element is not a number");
    }
    return v;
}

static void push_vec(lua_State *L, const float *v, uint32_t dim)
{
    lua_createtable(L, (int)dim, 0);
    for (uint32_t k = 0; k < dim; k++) {
        lua_pushnumber(L, v[k]);
        lua_rawseti(L, -2, k + 1);
    }
}

/* vector_get(key) -> {numbers} | nil (no key or no vector) */
static int l_vector_get(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    uint32_t dim = store_dim(L, s);
    float *v = lua_newuserdatauv(L, dim * sizeof *v, 0);
    int rc;
    RETRY(s, key, 0, rc, spl_vec_get(s, key, v, dim, NULL));
    if (rc == SPL_ENOENT || rc == SPL_ENOVEC)
        lua_pushnil(L);
    else if (rc < 0)
        return raise(L, rc, key);
    else
        push_vec(L, v, dim);
    return 1;
}

static int l_vector_set(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    uint32_t dim = store_dim(L, s);
    float *v = vec_from_table(L, 2, dim);
    int rc;
    RETRY(s, key, 1, rc, spl_vec_set(s, key, v, dim));
    if (rc < 0)
        return raise(L, rc, key);
    return 0;
}

/* vector_clear(key) -> true, or false if the key held no vector */
static int l_vector_clear(lua_State *L)
{
    spl_store *s;
    const char *key = key_arg(L, &s);
    int rc;
    RETRY(s, key, 1, rc, spl_vec_clear(s, key));
    if (rc < 0 && rc != SPL_ENOVEC)
        return raise(L, rc, key);
    lua_pushboolean(L, rc == 0);
    return 1;
}

/* The options table at idx of search and search_text into q. */
static void search_opts(lua_State *L, int idx, spl_vec_query *q)
{
    static const char *const metrics[] = {"cosine", "dot", "l2", NULL};
    if (!lua_istable(L, idx))
        return;
    lua_getfield(L, idx, "k");
    q->k = (uint32_t)luaL_optinteger(L, -1, 10);
    lua_getfield(L, idx, "metric");
    q->metric = (spl_metric)luaL_checkoption(L, -1, "cosine", metrics);
    lua_getfield(L, idx, "labels");
    q->labels = (uint64_t)luaL_optinteger(L, -1, 0);
    lua_getfield(L, idx, "any");
    if (lua_toboolean(L, -1))
        q->flags |= SPL_F_LABELS_ANY;
    lua_getfield(L, idx, "prefix");
    q->prefix = lua_tostring(L, -1); /* stays on the stack while used */
    lua_getfield(L, idx, "threads");
    q->threads = (uint32_t)luaL_optinteger(L, -1, 0);
    lua_getfield(L, idx, "ann");
    if (lua_toboolean(L, -1))
        q->flags |= SPL_VQ_ANN;
    lua_getfield(L, idx, "ef");
    q->ef = (uint32_t)luaL_optinteger(L, -1, 0);
}

/* Run q; push its hits {{key=, score=, epoch=}...}, with approximate=true
 * when an ANN index answered (absent otherwise: an exact result keeps the
 * shape it always had, pairs() included). */
static int search_push(lua_State *L, spl_store *s, const spl_vec_query *q, const char *what)
{
    spl_vec_result *r;
    int rc;
    RETRY(s, NULL, 0, rc, spl_vec_search(s, q, &r));
    if (rc < 0)
        return raise(L, rc, what);
    lua_createtable(L, (int)r->n, 0);
    for (uint32_t i = 0; i < r->n; i++) {
        lua_createtable(L, 0, 3);
        lua_pushlstring(L, r->hits[i].key, r->hits[i].key_len);
        lua_setfield(L, -2, "key");
        lua_pushnumber(L, r->hits[i].score);
        lua_setfield(L, -2, "score");
        lua_pushinteger(L, (lua_Integer)r->hits[i].epoch);
        lua_setfield(L, -2, "epoch");
        lua_rawseti(L, -2, i + 1);
    }
    if (r->flags & SPL_VR_ANN) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "approximate");
    }
    spl_vec_result_free(r);
    return 1;
}

/* search(vec | key [, {k=, metric=, labels=, any=, prefix=, threads=, ann=, ef=,
 *                     skip_self=}]): by key, the key itself is left out of the
 * hits unless skip_self=false */
static int l_search(lua_State *L)
{
    spl_store *s = store_arg(L);
    spl_vec_query q = {.k = 10, .metric = SPL_METRIC_COSINE};
    if (lua_type(L, 1) == LUA_TSTRING) {
        q.key = lua_tostring(L, 1);
        q.flags |= SPL_VQ_SKIP_SELF;
        if (lua_istable(L, 2) && lua_getfield(L, 2, "skip_self") != LUA_TNIL &&
            !lua_toboolean(L, -1))
            q.flags &= ~(uint32_t)SPL_VQ_SKIP_SELF;
    } else {
        q.dim = store_dim(L, s);
        q.vec = vec_from_table(L, 1, q.dim); /* stays on the stack */
    }
    search_opts(L, 2, &q);
    return search_push(L, s, &q, q.key ? q.key : "search");
}

/* search_text(text [, {k=, metric=, labels=, any=, prefix=, threads=, ann=, ef=,
 *                      frag=}]) */
static int l_search_text(lua_State *L)
{
    spl_store *s = store_arg(L);
    const char *text = luaL_checkstring(L, 1);
    spl_vec_query q = {.k = 10, .metric = SPL_METRIC_COSINE};
    search_opts(L, 2, &q);
    const char *frag = NULL;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "frag");
        frag = lua_tostring(L, -1);
    }
    q.dim = store_dim(L, s);
    char err[320];
    float *v = NULL;
    int rc = emb_query(s, frag, text, q.dim, &v, err, sizeof err);
    if (rc)
        return raise(L, rc, err);
    /* the vector lives in a userdata (freed by Lua if the search raises) */
    float *ud = lua_newuserdatauv(L, sizeof *ud * q.dim, 0);
    memcpy(ud, v, sizeof *ud * q.dim);
    free(v);
    q.vec = ud;
    return search_push(L, s, &q, "search_text");
}

/* ---------------------------------------------------------------- module */

static const luaL_Reg funcs[] = {
    {"open", l_open},     {"close", l_close},   {"get", l_get},
    {"set", l_set},       {"append", l_append}, {"unset", l_unset},
    {"exists", l_exists}, {"cas", l_cas},       {"meta", l_meta},
    {"type", l_type},     {"incr", l_incr},     {"decr", l_decr},
    {"add", l_add},       {"band", l_band},     {"bor", l_bor},
    {"bxor", l_bxor},     {"bnot", l_bnot},     {"labels", l_labels},
    {"label_set", l_label_set}, {"label_clear", l_label_clear},
    {"list", l_list},     {"info", l_info},     {"watch", l_watch},
    {"unwatch", l_unwatch}, {"bind", l_bind},   {"unbind", l_unbind},
    {"bump", l_bump},     {"signal", l_signal}, {"pulses", l_pulses},
    {"subscribe", l_subscribe}, {"wait", l_wait}, {"key_wait", l_key_wait},
    {"vector_get", l_vector_get}, {"vector_set", l_vector_set},
    {"vector_clear", l_vector_clear}, {"search", l_search},
    {"search_text", l_search_text}, {NULL, NULL}};

static const luaL_Reg sub_methods[] = {
    {"wait", l_sub_wait}, {"close", l_sub_close}, {NULL, NULL}};

int luaopen_splinter(lua_State *L)
{
    if (luaL_newmetatable(L, ERROR_MT)) {
        lua_pushcfunction(L, err_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    lsplinter_frag_open(L); /* insmod, lsmod, rmmod, frag (lua/lfrag.c) */
    if (luaL_newmetatable(L, STORE_MT)) {
        lua_pushvalue(L, -2); /* methods: the module's functions */
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, SUB_MT)) {
        luaL_newlib(L, sub_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_sub_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_sub_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    lua_pushstring(L, SPLINTER_LUA_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
