-- check.lua - the assertions of the Lua test scripts: eq(got, want, what)
-- and fails_with(NAME, f, ...) (f must raise the Splinter error NAME).
-- Loaded with dofile; returns a table {eq, fails_with, count()}.
local M = {n = 0}

function M.eq(got, want, what)
    M.n = M.n + 1
    if got ~= want then
        error(string.format("%s: got %s, want %s", what, tostring(got), tostring(want)), 2)
    end
end

function M.fails_with(name, f, ...)
    local ok, err = pcall(f, ...)
    M.n = M.n + 1
    if ok then error("expected " .. name .. ", call succeeded", 2) end
    if type(err) ~= "table" or err.name ~= name then
        error("expected " .. name .. ", got " .. tostring(err), 2)
    end
    assert(tostring(err):sub(1, #name + 1) == name .. ":", "tostring carries the name")
    assert(err.code < 0)
end

return M
