-- test_frag.lua [STORE] - fragments from Lua: insmod the DSP fragment by
-- name, feed it samples, call its commands, lsmod, rmmod; refused input.
-- Run by tests/lua/frag.bats under `splinterctl lua` and the stock lua5.4
-- (fragments found through $SPLINTER_FRAG_PATH).
local splinter = require "splinter"
if arg[1] and arg[1] ~= "" then splinter.open(arg[1]) end

local check = dofile((arg[0]:match("^(.*/)") or "") .. "check.lua")
local eq, fails_with = check.eq, check.fails_with

local function sleep_until(cond)
  for _ = 1, 400 do
    if cond() then return true end
    os.execute("sleep 0.02")
  end
  return cond()
end

local info = splinter.insmod("dsp", {"glob=sensor.*", "window=2", "alpha=0.5", "filter=none"})
eq(info.name, "dsp", "insmod name")
eq(info.state, "running", "insmod state")
eq(type(info.host_pid), "number", "host pid")

for i = 1, 3 do
  splinter.set("sensor.a", tostring(i * 10))
  eq(sleep_until(function() return splinter.get("dsp.sensor.a.max") == tostring(i * 10) end), true,
     "derived max after sample " .. i)
end
eq(splinter.get("dsp.sensor.a.mean"), "25", "window mean")
eq(splinter.get("dsp.sensor.a.ema"), "22.5", "ema")

local reply = splinter.frag("dsp", "stats")
eq(reply:match('"samples":(%d+)'), "3", "frag stats")
local ls = splinter.lsmod()
eq(#ls, 1, "lsmod count")
eq(ls[1].name, "dsp", "lsmod name")
eq(ls[1].args[1], "glob=sensor.*", "lsmod args")
eq(splinter.lsmod("dsp").state, "running", "lsmod by name")
eq(splinter.lsmod("nosuch"), nil, "lsmod unknown")
fails_with("SPL_EINVAL", splinter.frag, "dsp", "nosuchcommand")
fails_with("SPL_ENOENT", splinter.frag, "nosuch", "stats")
fails_with("SPL_EEXIST", splinter.insmod, "dsp", {"glob=x*"})
fails_with("SPL_EINVAL", splinter.insmod, "dsp", {"nosuchoption=1"}, {name = "dsp2"})
fails_with("SPL_ENOENT", splinter.insmod, "nosuchfragment")
eq(splinter.rmmod("dsp"), true, "rmmod")
eq(#splinter.lsmod(), 0, "lsmod after rmmod")
fails_with("SPL_ENOENT", splinter.rmmod, "dsp")
print("lua fragments: " .. check.n .. " checks passed")
