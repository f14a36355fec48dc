-- counter.lua - a counter aggregator: keeps counter.total equal to the sum
-- of the integer counter.* keys, updated the moment any of them changes.
--
--   splinterctl --store NAME lua examples/lua/counter.lua [TARGET]
--   lua5.4 examples/lua/counter.lua TARGET NAME          (require "splinter")
--
-- Every counter.* key gets a watch on signal group 5, and the script sleeps
-- on that group (splinter.wait: a subscription, no polling) until one of
-- them changes; then it sums them again.  Counters created later are
-- picked up by the rescan after the next wake-up, and at least once a
-- second.  With TARGET > 0 it exits once the total reaches TARGET;
-- otherwise it runs until Ctrl-C.  Run one aggregator per store.
local splinter = require "splinter"
local target = tonumber(arg and arg[1]) or 0
if arg and arg[2] then splinter.open(arg[2]) end

local GROUP = 1 << 5
local TOTAL = "counter.total"

-- Sum the counters, watching each one (watching twice is harmless; a key
-- deleted meanwhile is skipped).
local function rescan()
    local sum = 0
    for _, key in ipairs(splinter.list({prefix = "counter."})) do
        if key ~= TOTAL and pcall(splinter.watch, key, GROUP) then
            local v = splinter.get(key)
            if math.type(v) == "integer" then sum = sum + v end
        end
    end
    return sum
end

splinter.wait(GROUP, 0) -- subscribe first: no change after this is missed
local total = rescan()
splinter.set(TOTAL, total)
print("counter.total = " .. total)
io.stdout:flush()
while target <= 0 or total < target do
    splinter.wait(GROUP, 1000) -- the keys it returns are all counters: sum again
    local sum = rescan()
    if sum ~= total then
        total = sum
        splinter.set(TOTAL, total)
        print("counter.total = " .. total)
        io.stdout:flush()
    end
end
