-- waiter.lua - used by lua.bats: subscribe to group 2, say "ready" (a key),
-- then wait up to 5 s and print the keys another process changed; then
-- key_wait for the next change of "k".
splinter.watch("k", 1 << 2)
splinter.wait(1 << 2, 0)
splinter.set("ready", "1")
local fired, keys = splinter.wait(1 << 2, 5000)
print(fired, table.concat(keys or {}, ","))
local m = splinter.meta("k")
splinter.set("ready2", "1")
print(splinter.key_wait("k", m.epoch, 5000) ~= nil)
