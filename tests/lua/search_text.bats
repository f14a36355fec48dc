# search_text from Lua (WITH_LUA=1): the query embedded with the store's
# embed fragment's embedder (here the default, model-free one), under
# `splinterctl lua` and the stock lua5.4.  tests/llama/llama.bats runs the
# same script with the llama embedder.
load ../cli/common

setup_file() {
    export LUA_CPATH="${LUA_MOD_DIR:?}/?.so"
}

setup() {
    common_setup
    need_embeddings
    ctl init st --slots 64 --key-max 32 --value-size 256 --vec-dim 96 -q
    ctl --store st insmod embed prefix=doc. > /dev/null
    ctl --store st set doc.a "How do I reset my password?"
    ctl --store st set doc.b "The central bank raised interest rates"
    ctl --store st set doc.c "the cat and the dog play in the rain"
}

teardown() {
    for pid in $("$SPLCTL" --store st lsmod --json 2> /dev/null | jq -r '.host_pid // empty'); do
        kill -9 "$pid" 2> /dev/null || true
    done
    rm -rf "$TMP"
}

@test "splinterctl lua: search_text" {
    run -0 --separate-stderr ctl --store st lua "$BATS_TEST_DIRNAME/test_search_text.lua"
    [[ "$output" == "lua search_text: "*" checks passed" ]]
}

@test "stock lua5.4: search_text through require \"splinter\"" {
    command -v lua5.4
    run -0 --separate-stderr lua5.4 "$BATS_TEST_DIRNAME/test_search_text.lua" st
    [[ "$output" == "lua search_text: "*" checks passed" ]]
}

@test "search_text on a store without vectors: SPL_ENOTSUP" {
    ctl init nv --slots 16 --vec-dim 0 -q
    echo 'splinter.search_text("hello")' > "$TMP/n.lua"
    run -2 --separate-stderr ctl --store nv lua "$TMP/n.lua" --json
    [ "$(j .error)" = SPL_ENOTSUP ] || [ "$(j .error)" = SPL_EDIM ]
}
