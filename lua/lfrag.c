/*
 * lfrag.c - fragments from Lua (docs/FRAGMENTS.md):
 *
 *   splinter.insmod(PATH|NAME [, {ARGS...} [, {name=, attach=, log=, wait=}]])
 *       -> info table; registers the fragment and starts a host process
 *          for it (unless attach), then waits (wait ms, default 10000)
 *   splinter.lsmod([NAME]) -> array of info tables (NAME: one table or nil)
 *   splinter.rmmod(NAME [, wait_ms]) -> true
 *   splinter.frag(NAME, COMMAND, ARGS...) -> the reply (JSON text); a
 *       command that fails raises an error whose message holds the reply
 *
 * Info tables: name, state, host_pid, events, events_per_s, lag, errors,
 * resyncs, restarts, path, args, version, summary, error, message.  Like
 * every function of the module, each takes a store object first or uses
 * the current store.
 */
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lsplinter.h"

static int fail(lua_State *L, int rc, const char *what)
{
    char msg[512];
    const char *m = spl_frag_errmsg();
    snprintf(msg, sizeof msg, "%s%s%s", what, m[0] ? ": " : "", m);
    return lsplinter_raise(L, rc, msg);
}

static void push_info(lua_State *L, const spl_frag_info *fi)
{
    lua_createtable(L, 0, 16);
    lua_pushstring(L, fi->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, spl_frag_state_name(fi->state));
    lua_setfield(L, -2, "state");
    if (fi->host_pid) {
        lua_pushinteger(L, fi->host_pid);
        lua_setfield(L, -2, "host_pid");
    }
    lua_pushinteger(L, (lua_Integer)fi->events);
    lua_setfield(L, -2, "events");
    lua_pushnumber(L, fi->events_per_s);
    lua_setfield(L, -2, "events_per_s");
    lua_pushinteger(L, (lua_Integer)fi->lag);
    lua_setfield(L, -2, "lag");
    lua_pushinteger(L, (lua_Integer)fi->errors);
    lua_setfield(L, -2, "errors");
    lua_pushinteger(L, (lua_Integer)fi->resyncs);
    lua_setfield(L, -2, "resyncs");
    lua_pushinteger(L, (lua_Integer)fi->restarts);
    lua_setfield(L, -2, "restarts");
    lua_pushstring(L, fi->path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, fi->version);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, fi->summary);
    lua_setfield(L, -2, "summary");
    lua_createtable(L, (int)fi->argc, 0);
    size_t p = 0;
    for (uint32_t a = 0; a < fi->argc && p < sizeof fi->args; a++) {
        lua_pushstring(L, fi->args + p);
        lua_rawseti(L, -2, (lua_Integer)a + 1);
        p += strlen(fi->args + p) + 1;
    }
    lua_setfield(L, -2, "args");
    if (fi->err) {
        lua_pushstring(L, spl_err_name(fi->err));
        lua_setfield(L, -2, "error");
    }
    if (fi->errmsg[0]) {
        lua_pushstring(L, fi->errmsg);
        lua_setfield(L, -2, "message");
    }
}

static lua_Integer opt_int(lua_State *L, int t, const char *k, lua_Integer def)
{
    if (!lua_istable(L, t))
        return def;
    lua_getfield(L, t, k);
    lua_Integer v = luaL_optinteger(L, -1, def);
    lua_pop(L, 1);
    return v;
}

static const char *opt_str(lua_State *L, int t, const char *k)
{
    if (!lua_istable(L, t))
        return NULL;
    lua_getfield(L, t, k);
    const char *v = lua_tostring(L, -1); /* kept alive by the table */
    lua_pop(L, 1);
    return v;
}

static int l_insmod(lua_State *L)
{
    spl_store *s = lsplinter_store_arg(L);
    const char *what = luaL_checkstring(L, 1);
    const char *argv[SPL_FRAG_ARGC_MAX];
    int argc = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_Integer n = luaL_len(L, 2);
        if (n > (lua_Integer)SPL_FRAG_ARGC_MAX)
            return fail(L, SPL_E2BIG, "insmod: too many arguments");
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, 2, i);
            argv[argc++] = luaL_checkstring(L, -1);
            lua_pop(L, 1); /* the table keeps the string */
        }
    }
    const char *as = opt_str(L, 3, "name"), *log = opt_str(L, 3, "log");
    int attach = 0;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "attach");
        attach = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    lua_Integer wait_ms = opt_int(L, 3, "wait", attach ? 2000 : 10000);
    char dir[PATH_MAX], path[PATH_MAX], name[64];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 16);
    char *slash = n > 0 ? (dir[n] = 0, strrchr(dir, '/')) : NULL;
    if (slash)
        strcpy(slash, "/fragments");
    int rc = spl_frag_find(what, slash ? dir : NULL, path, sizeof path);
    if (rc)
        return fail(L, rc, "insmod");
    rc = spl_frag_register(s, path, as, argc, argv, 0, name, sizeof name);
    if (rc)
        return fail(L, rc, "insmod");
    if (!attach) {
        int lfd = -1;
        if (log) {
            FILE *f = fopen(log, "a");
            if (f) {
                lfd = dup(fileno(f));
                fclose(f);
            }
        }
        spl_host_opts ho = {SPL_HOST_OPTS_VERSION, 0, name, lfd};
        int pid = spl_host_spawn(s, &ho);
        if (lfd >= 0)
            close(lfd);
        if (pid < 0) {
            spl_frag_unregister(s, name, 0);
            return fail(L, pid, "insmod: starting a host");
        }
    }
    spl_frag_info fi;
    uint32_t want = 1u << SPL_FRAG_RUNNING | 1u << SPL_FRAG_FAILED | 1u << SPL_FRAG_DEAD;
    rc = spl_frag_wait(s, name, want, wait_ms * 1000000, &fi);
    if (rc == SPL_ETIMEDOUT && attach)
        rc = spl_frag_get(s, name, &fi);
    if (rc)
        return fail(L, rc, "insmod");
    if (fi.state == SPL_FRAG_FAILED || fi.state == SPL_FRAG_DEAD) {
        int err = fi.err ? fi.err : SPL_ENOHOST;
        char msg[256];
        snprintf(msg, sizeof msg, "insmod: '%s' did not start: %s", name, fi.errmsg);
        spl_frag_unregister(s, name, 0);
        return lsplinter_raise(L, err, msg);
    }
    push_info(L, &fi);
    return 1;
}

static int l_lsmod(lua_State *L)
{
    spl_store *s = lsplinter_store_arg(L);
    const char *only = luaL_optstring(L, 1, NULL);
    spl_frag_info fi[SPL_FRAG_MAX];
    int n = spl_frag_list(s, fi, SPL_FRAG_MAX);
    if (n < 0)
        return fail(L, n, "lsmod");
    if (n > (int)SPL_FRAG_MAX)
        n = SPL_FRAG_MAX;
    if (only) {
        for (int i = 0; i < n; i++)
            if (strcmp(fi[i].name, only) == 0) {
                push_info(L, &fi[i]);
                return 1;
            }
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        push_info(L, &fi[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_rmmod(lua_State *L)
{
    spl_store *s = lsplinter_store_arg(L);
    const char *name = luaL_checkstring(L, 1);
    lua_Integer ms = luaL_optinteger(L, 2, 10000);
    int rc = spl_frag_unregister(s, name, ms * 1000000);
    if (rc)
        return fail(L, rc, "rmmod");
    lua_pushboolean(L, 1);
    return 1;
}

static int l_frag(lua_State *L)
{
    spl_store *s = lsplinter_store_arg(L);
    const char *name = luaL_checkstring(L, 1);
    int top = lua_gettop(L);
    if (top < 2)
        return luaL_error(L, "splinter.frag: NAME and COMMAND needed");
    if (top - 1 > (int)SPL_FRAG_ARGC_MAX)
        return fail(L, SPL_E2BIG, "frag: too many arguments");
    const char *argv[SPL_FRAG_ARGC_MAX];
    for (int i = 2; i <= top; i++)
        argv[i - 2] = luaL_checkstring(L, i);
    char reply[SPL_FRAG_REPLY_MAX + 1];
    size_t len = 0;
    int rc = spl_frag_call(s, name, top - 1, argv, reply, sizeof reply, &len, 5000000000ll);
    if (rc && len && rc != SPL_ENOBUFS) {
        char msg[SPL_FRAG_REPLY_MAX + 64];
        snprintf(msg, sizeof msg, "frag %s %s: %s", name, argv[0], reply);
        return lsplinter_raise(L, rc, msg);
    }
    if (rc)
        return fail(L, rc, "frag");
    lua_pushlstring(L, reply, len);
    return 1;
}

static const luaL_Reg frag_funcs[] = {
    {"insmod", l_insmod}, {"lsmod", l_lsmod}, {"rmmod", l_rmmod}, {"frag", l_frag}, {NULL, NULL}};

void lsplinter_frag_open(lua_State *L) { luaL_setfuncs(L, frag_funcs, 0); }
