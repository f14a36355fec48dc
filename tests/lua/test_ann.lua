-- test_ann.lua [STORE] PHASE - search {ann = true, ef = N} from Lua, in
-- three phases run by tests/lua/ann.bats around the hnsw fragment's life:
--   load   stores N random vectors k1..kN; no index yet: search {ann=true}
--          gives the exact hits, approximate nil
--   ann    (the fragment running and ready) the hits come from the index:
--          approximate true, each sampled vector finds its own key first,
--          recall@10 against the exact search >= 0.9; exact searches are
--          never flagged
--   exact  (the fragment removed) the exact hits again, approximate nil
local splinter = require "splinter"
if arg[1] and arg[1] ~= "" then splinter.open(arg[1]) end
local phase = assert(arg[2], "usage: test_ann.lua [STORE] load|ann|exact")

local check = dofile((arg[0]:match("^(.*/)") or "") .. "check.lua")
local eq = check.eq

local N, DIM = 300, 16

local function random_vec()
  local v = {}
  for i = 1, DIM do v[i] = math.random() * 2 - 1 end
  return v
end

local function keys(hits)
  local t = {}
  for i, h in ipairs(hits) do t[i] = h.key end
  return table.concat(t, ",")
end

local function sleep_until(cond)
  for _ = 1, 100 do -- 5 s
    if cond() then return true end
    os.execute("sleep 0.05")
  end
  return cond()
end

-- the same exact answer for the same query, flagged or not
local function exact_checks(what)
  for _, i in ipairs({7, 150, 300}) do
    local q = splinter.vector_get("k" .. i)
    local exact = splinter.search(q, {k = 10})
    eq(exact.approximate, nil, what .. ": exact search flagged")
    eq(exact[1].key, "k" .. i, what .. ": exact top-1")
    local hits = splinter.search(q, {k = 10, ann = true, ef = 64})
    eq(hits.approximate, nil, what .. ": ann without an index flagged")
    eq(keys(hits), keys(exact), what .. ": ann without an index, not the exact hits")
  end
end

math.randomseed(20261206)
if phase == "load" then
  for i = 1, N do splinter.vector_set("k" .. i, random_vec()) end
  exact_checks("before insmod")
elseif phase == "ann" then
  local q7 = splinter.vector_get("k7")
  eq(sleep_until(function() return splinter.search(q7, {k = 10, ann = true}).approximate end),
     true, "the running index never answered")
  local hits = splinter.search(q7, {k = 10, ann = true, ef = 64})
  eq(hits.approximate, true, "ann: flagged")
  eq(#hits, 10, "ann: k hits")
  eq(hits[1].key, "k7", "ann: top-1 of a stored vector")
  eq(splinter.search(q7, {k = 10}).approximate, nil, "exact search flagged")
  for _ = 1, 25 do
    local i = math.random(N)
    local top = splinter.search(splinter.vector_get("k" .. i), {k = 1, ann = true})
    eq(top.approximate, true, "ann: flagged (k" .. i .. ")")
    eq(keys(top), "k" .. i, "ann: top-1 of k" .. i)
  end
  local by_key = splinter.search("k42", {k = 1, ann = true, ef = 32})
  eq(by_key.approximate, true, "ann by key: flagged")
  eq(#by_key, 1, "ann by key: one hit")
  eq(by_key[1].key ~= "k42", true, "ann by key: the key itself is left out")
  local found, total = 0, 0
  for _ = 1, 40 do
    local q = random_vec()
    local a = splinter.search(q, {k = 10, ann = true, ef = 64})
    local e = splinter.search(q, {k = 10})
    eq(a.approximate, true, "recall: ann flagged")
    eq(#e, 10, "recall: exact k hits")
    local want = {}
    for _, h in ipairs(e) do want[h.key] = true end
    for _, h in ipairs(a) do if want[h.key] then found = found + 1 end end
    total = total + #e
  end
  local recall = found / total
  eq(recall >= 0.9, true, string.format("recall@10 %.3f", recall))
elseif phase == "exact" then
  exact_checks("after rmmod")
else
  error("unknown phase " .. phase)
end
print("lua ann " .. phase .. ": " .. check.n .. " checks passed")
