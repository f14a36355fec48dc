/*
 * cmd_lua.c - `splinterctl lua SCRIPT [ARGS]` (WITH_LUA=1): run a Lua 5.4
 * script with the standard libraries and the `splinter` module (lua/)
 * loaded and bound to the current store.
 *
 * Exit codes: the script's os.exit() code; an uncaught Splinter error gives
 * the exit code of its library code (1 not found, 2 bad input, 3
 * contention, 4 store; a store that fails to open is always 4); any other
 * Lua error (syntax, runtime) is 2.
 */
#include <signal.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "cli.h"
#include "lsplinter.h"

static int traceback(lua_State *L)
{
    if (lsplinter_error_code(L, 1, NULL) < 0)
        return 1; /* keep the error object: its code picks the exit code */
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : luaL_tolstring(L, 1, NULL), 1);
    return 1;
}

/* Ctrl-C: stop the script at its next instruction with a Lua error (as the
 * lua interpreter does), so the REPL around it survives. */
static lua_State *running;

static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted");
}

static void lua_sigint(int sig)
{
    (void)sig;
    if (running)
        lua_sethook(running, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

int cmd_lua(cli_ctx *c, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(c, "lua SCRIPT [ARGS]");
    if (c->store[0]) {
        int rc = cli_open(c);
        if (rc != CLI_OK)
            return rc;
    }
    lua_State *L = luaL_newstate();
    if (!L)
        return cli_fail(c, CLI_STORE, "SPL_ENOMEM", "cannot create a Lua state");
    luaL_openlibs(L);
    luaL_requiref(L, "splinter", luaopen_splinter, 1);
    lua_pop(L, 1);
    if (c->s)
        lsplinter_bind(L, c->s, c->store);
    /* arg: [0] = script, [1..] = its arguments, as the lua interpreter does */
    lua_createtable(L, argc - 2, 1);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");

    int code = CLI_OK;
    const char *script = argv[1];
    struct sigaction sa = {.sa_handler = lua_sigint}, old;
    sigemptyset(&sa.sa_mask);
    running = L;
    sigaction(SIGINT, &sa, &old);
    lua_pushcfunction(L, traceback);
    int st = luaL_loadfile(L, strcmp(script, "-") == 0 ? NULL : script);
    if (st == LUA_OK) {
        for (int i = 2; i < argc; i++)
            lua_pushstring(L, argv[i]);
        st = lua_pcall(L, argc - 2, 0, 1);
    }
    if (st != LUA_OK) {
        int store_err = 0;
        int rc = lsplinter_error_code(L, -1, &store_err);
        const char *msg = luaL_tolstring(L, -1, NULL);
        code = store_err ? CLI_STORE : rc < 0 ? cli_exit_of(rc) : CLI_USAGE;
        if (code == CLI_OK)
            code = CLI_USAGE;
        cli_fail(c, code, rc < 0 ? spl_err_name(rc) : "LUA_ERROR", "%s", msg);
    }
    sigaction(SIGINT, &old, NULL);
    running = NULL;
    fflush(stdout);
    lua_close(L);
    return code;
}
