-- test_place.lua - the Lua module's create options (cells, numa,
-- numa_nodes, huge_pages) and its info fields.  Run by tests/lua/lua.bats
-- under the stock lua5.4 ($SPLINTER_SHM_DIR is a plain directory there, so
-- a named store never gets huge pages: SPL_ENOHUGE).
local splinter = require "splinter"
local check = dofile((arg[0]:match("^(.*/)") or "") .. "check.lua")
local eq, fails_with = check.eq, check.fails_with

local function create(name, extra)
    local o = {create = true, slots = 16, key_max = 16, value_size = 64, vec_dim = 0}
    for k, v in pairs(extra or {}) do o[k] = v end
    return splinter.open(name, o)
end

-- info of a plain store
local a, b = create("pa"), create("pb")
local ia = a:info()
eq(ia.page_bytes, 4096, "page_bytes of a plain store")
eq(ia.capacity, 16, "capacity"); eq(ia.free, 16, "free")
assert(ia.store_id ~= 0, "store_id is never 0")
eq(splinter.open("pa"):info().store_id, ia.store_id, "store_id through another handle")
assert(b:info().store_id ~= ia.store_id, "another store, another store_id")
assert(ia.resident_bytes > 0 and ia.resident_bytes <= ia.region_bytes, "resident_bytes")
eq(ia.cells, 0, "no cells without vectors")
local numa_build = ia.numa ~= nil -- nil: a build without NUMA (numa_mode -1)

-- huge pages: never on a plain directory
fails_with("SPL_ENOHUGE", create, "ph", {huge_pages = true})
fails_with("SPL_ENOHUGE", create, "ph", {huge_pages = 2 * 1024 * 1024})

-- NUMA
fails_with(numa_build and "SPL_ENODE" or "SPL_ENOTSUP", create, "pn", {numa = "bind", numa_nodes = {63}})
if numa_build then
    local n = create("pn0", {numa = "bind", numa_nodes = {0}})
    eq(n:info().numa, "bind", "bound to node 0")
else
    fails_with("SPL_ENOTSUP", create, "pn0", {numa = "bind", numa_nodes = {0}})
end
assert(not pcall(create, "pn1", {numa = "everywhere"}), "an unknown mode is refused")
assert(not pcall(create, "pn2", {numa = "bind", numa_nodes = {64}}), "node 64 is refused")

-- cells (builds with vectors)
local ok, v = pcall(create, "pv", {vec_dim = 4, cells = 2})
if ok then
    eq(v:info().cells, 2, "cells")
    v:set("x", "1"); v:set("y", "2"); v:set("z", "3")
    v:vector_set("x", {1, 0, 0, 0})
    v:vector_set("y", {0, 1, 0, 0})
    eq(v:info().cells_used, 2, "cells_used")
    fails_with("SPL_ENOCELL", v.vector_set, v, "z", {0, 0, 1, 0})
    v:vector_set("x", {0, 0, 0, 1}) -- a key's own cell is rewritten in place
else
    print("skip: cells (a build without vectors: " .. tostring(v) .. ")")
end
print("lua place: " .. check.n .. " checks passed")
