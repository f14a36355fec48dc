-- test_module.lua STORE [OTHER] - the splinter Lua module against a store
-- of 64-byte values and 16-byte keys.  Run by tests/lua/lua.bats both under
-- `splinterctl lua` (store bound) and the stock lua5.4 (require + open).
local splinter = require "splinter"
if not splinter.info then error("module not loaded") end
if arg[1] and arg[1] ~= "" then splinter.open(arg[1]) end

local check = dofile((arg[0]:match("^(.*/)") or "") .. "check.lua")
local eq, fails_with = check.eq, check.fails_with

-- strings, types
splinter.set("s", "hello")
local v, t = splinter.get("s")
eq(v, "hello", "get"); eq(t, "void", "type of a new key")
splinter.set("s", "hi", "text")
eq(splinter.type("s"), "text", "set with type")
eq(splinter.type("s", "json"), "json", "type set")
eq(splinter.get("missing"), nil, "missing get is nil")
eq(splinter.type("missing"), nil, "missing type is nil")
eq(splinter.exists("s"), true, "exists")
eq(splinter.exists("missing"), false, "not exists")
splinter.append("s", "!")
eq(splinter.get("s"), "hi!", "append")
splinter.set("bin", "a\0b")
eq(#splinter.get("bin"), 3, "binary with NUL")

-- integers
eq(splinter.incr("n"), 1, "incr creates")
eq(splinter.incr("n", 9), 10, "incr by")
eq(splinter.decr("n"), 9, "decr")
eq(splinter.decr("n", 4), 5, "decr by")
eq(splinter.add("n", -10), -5, "add")
splinter.set("m", 12)
eq(splinter.type("m"), "int64", "integer set is int64")
eq(splinter.get("m"), 12, "integer get")
eq(splinter.band("m", 10), 8, "band")
eq(splinter.bor("m", 3), 11, "bor")
eq(splinter.bxor("m", 1), 10, "bxor")
eq(splinter.bnot("m"), ~10, "bnot")
fails_with("SPL_ETYPE", splinter.incr, "s")

-- labels and listing
splinter.label_set("s", (1 << 3) | (1 << 63))
eq(splinter.labels("s"), (1 << 3) | (1 << 63), "labels")
splinter.label_clear("s", 1 << 63)
eq(splinter.labels("s"), 1 << 3, "label_clear")
eq(splinter.labels("missing"), nil, "labels of a missing key")
local keys = splinter.list()
table.sort(keys)
eq(table.concat(keys, ","), "bin,m,n,s", "list")
eq(#splinter.list("b*"), 1, "list glob")
eq(splinter.list({labels = 1 << 3})[1], "s", "list by label")
eq(#splinter.list({limit = 2}), 2, "list limit")
eq(splinter.list({prefix = "m"})[1], "m", "list prefix")

-- metadata and cas
local meta = splinter.meta("s")
eq(meta.type, "json", "meta type"); eq(meta.len, 3, "meta len")
eq(splinter.cas("s", meta.epoch, "new"), true, "cas at epoch")
eq(splinter.cas("s", meta.epoch, "stale"), false, "cas stale")
eq(splinter.get("s"), "new", "cas wrote once")
eq(splinter.cas("fresh", 0, "x"), true, "cas create")
eq(splinter.cas("fresh", 0, "y"), false, "cas create when present")

-- delete
eq(splinter.unset("fresh"), true, "unset")
eq(splinter.unset("fresh"), false, "unset missing")

-- errors carry the Splinter names
fails_with("SPL_EKEYLEN", splinter.set, string.rep("k", 17), "v")
fails_with("SPL_EKEYLEN", splinter.get, "")
fails_with("SPL_E2BIG", splinter.set, "big", string.rep("x", 65))
fails_with("SPL_EINVAL", splinter.set, "k", "v", "flute")
fails_with("SPL_ENOENT", splinter.open, "no-such-store")
fails_with("SPL_ENOENT", splinter.label_set, "missing", 1)

-- info; a second store by method syntax
local info = splinter.info()
eq(info.value_size, 64, "info value_size"); eq(info.key_max, 16, "info key_max")
eq(info.used, 4, "info used")
if arg[2] then
    local other = splinter.open(arg[2])
    other:set("only-there", "x")
    eq(other:get("only-there"), "x", "method call on another store")
    eq(splinter.get("only-there"), nil, "current store unchanged")
    eq(#other:list(), 1, "other list")
    other:close()
    local ok = pcall(other.get, other, "x")
    eq(ok, false, "closed store refuses")
end
print("lua module: " .. check.n .. " checks passed")
