-- test_search_text.lua [STORE [EXPECT_KIND]] - search_text: the query is
-- embedded with the store's embed fragment's embedder and settings, then
-- searched.  The store has the embed fragment registered (prefix=doc.) and
-- the texts below set by the caller (tests/lua/search_text.bats,
-- tests/llama/llama.bats); each text found first by itself as a query.
local splinter = require "splinter"
if arg[1] and arg[1] ~= "" then splinter.open(arg[1]) end

local check = dofile((arg[0]:match("^(.*/)") or "") .. "check.lua")
local eq, fails_with = check.eq, check.fails_with

local docs = {
  ["doc.a"] = "How do I reset my password?",
  ["doc.b"] = "The central bank raised interest rates",
  ["doc.c"] = "the cat and the dog play in the rain",
}
-- wait (futex, no polling) for every vector
for key in pairs(docs) do
  while not splinter.vector_get(key) do
    splinter.key_wait(key, splinter.meta(key).epoch, 5000)
  end
end
for key, text in pairs(docs) do
  local hits = splinter.search_text(text, {k = 1, prefix = "doc."})
  eq(#hits, 1, "one hit for " .. key)
  eq(hits[1].key, key, "'" .. text .. "' finds its own key")
end
eq(#splinter.search_text("interest rates", {k = 2}), 2, "k")
eq(splinter.search_text("interest rates", {k = 3, prefix = "doc.c"})[1].key, "doc.c", "prefix filter")
fails_with("SPL_EINVAL", splinter.search_text, "   ")
print("lua search_text: " .. check.n .. " checks passed")
