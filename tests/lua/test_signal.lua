-- test_signal.lua [STORE] - the signal and vector functions of the splinter
-- Lua module, against a store with vec_dim 3 (16-byte keys, 64-byte
-- values); against a store without vectors (vec_dim 0, as every store of a
-- WITH_EMBEDDINGS=0 build) the signal functions only, and it says so.  Run
-- by tests/lua/lua.bats under `splinterctl lua` and lua5.4.
local splinter = require "splinter"
if arg[1] and arg[1] ~= "" then splinter.open(arg[1]) end

local check = dofile((arg[0]:match("^(.*/)") or "") .. "check.lua")
local eq, fails_with = check.eq, check.fails_with

local G3, G4 = 1 << 3, 1 << 4

-- watch + wait: the fired groups and the changed keys, once each
splinter.set("a", "1")
splinter.set("b", "1")
splinter.watch("a", G3)
splinter.watch("b", G3)
eq(splinter.wait(G3, 0), nil, "nothing yet: nil")
splinter.set("a", "2")
splinter.set("a", "3")
splinter.bump("b")
local fired, keys, lost = splinter.wait(G3, 1000)
eq(fired, G3, "fired groups")
eq(table.concat(keys, ","), "a,b", "changed keys, each once, in order")
eq(lost, false, "nothing lost")
eq(splinter.wait(G3, 20), nil, "timeout: nil")
splinter.unwatch("b", G3)
splinter.set("b", "2")
eq(splinter.wait(G3, 20), nil, "unwatched key: no wake-up")

-- bind: a label routes a key to a group; signal without a key
splinter.bind(7, G4)
eq(splinter.wait(G4, 0), nil, "subscribe to G4 before the changes")
splinter.set("c", "x")
splinter.label_set("c", 1 << 7)
fired, keys = splinter.wait(G4, 1000)
eq(keys[1], "c", "label routed to the group")
splinter.signal(G4)
fired, keys = splinter.wait(G4, 1000)
eq(fired, G4, "signal fires")
eq(#keys, 0, "a signal names no key")
splinter.unbind(7, G4)
eq(splinter.pulses(4) >= 2, true, "pulses of a followed group")
fails_with("SPL_EINVAL", splinter.bind, 64, G4)
fails_with("SPL_ENOENT", splinter.bump, "missing")
fails_with("SPL_ENOENT", splinter.watch, "missing", G3)

-- an explicit subscription
local sub = splinter.subscribe(1 << 9)
splinter.signal(1 << 9)
eq(sub:wait(1000), 1 << 9, "sub:wait")
eq(sub:wait(10), nil, "sub:wait timeout")
sub:close()
eq(pcall(sub.wait, sub, 10), false, "closed subscription refuses")

-- key_wait: the new epoch, nil on timeout, false for a missing key
local m = splinter.meta("a")
eq(splinter.key_wait("a", m.epoch, 10), nil, "key_wait timeout")
splinter.set("a", "4")
eq(splinter.key_wait("a", m.epoch, 1000) > m.epoch, true, "key_wait new epoch")
eq(splinter.key_wait("missing", 0, 10), false, "key_wait missing key")

-- vectors
if splinter.info().vec_dim == 0 then
    print("lua signals: " .. check.n .. " checks passed; vectors skipped: the store has none")
    return
end
splinter.vector_set("v1", {1, 0, 0})
splinter.vector_set("v2", {0.5, 0.5, 0})
splinter.vector_set("v3", {0, 0, 1})
local v = splinter.vector_get("v2")
eq(#v, 3, "vector_get length"); eq(v[1], 0.5, "vector_get element")
eq(splinter.vector_get("missing"), nil, "vector_get missing key")
eq(splinter.vector_get("a"), nil, "vector_get key without vector")
local hits = splinter.search({1, 0.1, 0}, {k = 2})
eq(#hits, 2, "search k"); eq(hits[1].key, "v1", "best hit"); eq(hits[2].key, "v2", "second")
eq(hits[1].score > hits[2].score, true, "cosine: higher first")
eq(hits[1].epoch > 0, true, "hit epoch")
hits = splinter.search("v1", {metric = "l2"})
eq(hits[1].key, "v2", "by key, itself left out, l2")
eq(#hits, 2, "by key: the two other vectors only")
eq(#splinter.search("v1", {metric = "l2", skip_self = true}), 2, "skip_self=true: as the default")
hits = splinter.search("v1", {metric = "l2", skip_self = false})
eq(#hits, 3, "skip_self=false: the key too")
eq(hits[1].key, "v1", "skip_self=false: the key itself first"); eq(hits[1].score, 0, "itself at l2 0")
eq(hits[2].key, "v2", "skip_self=false: then the others")
eq(#splinter.search({1, 0, 0}, {prefix = "v3"}), 1, "search prefix")
splinter.label_set("v3", 1)
eq(splinter.search({1, 0, 0}, {labels = 1})[1].key, "v3", "search labels")
eq(splinter.vector_clear("v3"), true, "vector_clear")
eq(splinter.vector_clear("v3"), false, "vector_clear again")
fails_with("SPL_EDIM", splinter.vector_set, "v1", {1, 2})
fails_with("SPL_ENAN", splinter.vector_set, "v1", {0 / 0, 1, 2})
fails_with("SPL_EINVAL", splinter.vector_set, "v1", {1, "x", 2})
fails_with("SPL_EDIM", splinter.search, {1})
fails_with("SPL_ENOVEC", splinter.search, "a")
print("lua signals+vectors: " .. check.n .. " checks passed")
