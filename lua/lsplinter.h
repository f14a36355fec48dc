/*
 * lsplinter.h - the Lua 5.4 binding of Splinter, shared by splinterctl's
 * `lua` command and the loadable module (require "splinter").
 */
#ifndef LSPLINTER_H
#define LSPLINTER_H

#include <lua.h>

#include "splinter.h"

/* The module opener: require "splinter" finds it in splinter.so. */
int luaopen_splinter(lua_State *L);

/* Make an open store the module's current store (the one that functions
 * called without a store object use).  The handle is borrowed: Lua never
 * closes it.  The module must be loaded (luaL_requiref) first. */
void lsplinter_bind(lua_State *L, spl_store *s, const char *name);

/* If the value at idx is a Splinter error object, its library code (< 0),
 * and *store_code (may be NULL) set to 1 if it came from opening a store;
 * otherwise 0. */
int lsplinter_error_code(lua_State *L, int idx, int *store_code);

/* lua/lfrag.c: add insmod, lsmod, rmmod and frag to the module table on
 * top of the stack.  It uses the store and error helpers of lsplinter.c. */
void lsplinter_frag_open(lua_State *L);
spl_store *lsplinter_store_arg(lua_State *L);
int lsplinter_raise(lua_State *L, int rc, const char *what);

#endif
