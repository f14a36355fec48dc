-- pipeline.lua - move items between labels: every key labelled "waiting"
-- is processed (its text value upper-cased, as a stand-in for real work)
-- and relabelled "done".
--
--   splinterctl --store NAME lua examples/lua/pipeline.lua
--   lua5.4 examples/lua/pipeline.lua NAME          (require "splinter")
--
-- Each item is claimed with cas at the epoch it was read at, so an item
-- changed by someone else meanwhile is left for the next round instead of
-- being overwritten.  Run one mover per store: the relabel that follows a
-- claim is a second write, not part of it.
local splinter = require "splinter"
if arg and arg[1] then splinter.open(arg[1]) end

local WAITING, DONE = 1 << 0, 1 << 1
local moved, skipped = 0, 0

for _, key in ipairs(splinter.list({labels = WAITING})) do
    local value = splinter.get(key)
    local meta = splinter.meta(key)
    if value and meta and type(value) == "string" then
        if splinter.cas(key, meta.epoch, value:upper()) then
            splinter.label_clear(key, WAITING)
            splinter.label_set(key, DONE)
            moved = moved + 1
        else
            skipped = skipped + 1
        end
    end
end
print(string.format("moved %d item(s) from waiting to done, %d changed meanwhile", moved, skipped))
