# splinterctl with the llama embedder (WITH_LLAMA=1): insmod embed
# embedder=llama on the tiny test model ($MODEL, scripts/tiny-model.py),
# texts get 64-dimensional vectors equal to what the embedder computes,
# search --text uses the same embedder (the query prefix too), a store of
# another vec_dim is refused.  The model's weights are random: nothing here
# depends on what is near what, only on the vectors being the model's.

load ../cli/common

setup() {
    common_setup
    need_embeddings
    : "${MODEL:?set MODEL to the tiny GGUF model}"
}

teardown() {
    for st in e; do
        for pid in $("$SPLCTL" --store $st lsmod --json 2> /dev/null | jq -r '.host_pid // empty'); do
            kill -9 "$pid" 2> /dev/null || true
        done
    done
    rm -rf "$TMP"
}

wait_for() {
    for _ in $(seq 1 200); do
        eval "$1" > /dev/null 2>&1 && return 0
        sleep 0.05
    done
    eval "$1"
}

j() { jq -r "$1" <<< "$output"; }

@test "insmod embed embedder=llama: vectors of the model's dimension, search --text, stats" {
    ctl init e --slots 128 --value-size 512 --vec-dim 64 -q
    run -0 --separate-stderr ctl --store e insmod embed prefix=doc. embedder=llama "model=$MODEL" threads=1
    [[ "$output" == "embed: running"* ]]
    ctl --store e set doc.a "the cat and the dog play in the rain"
    ctl --store e set doc.b "How do I reset my password?"
    ctl --store e set doc.c "The central bank raised interest rates"
    wait_for 'test "$(ctl --store e frag embed stats | jq -r .embedded)" = 3'
    run -0 --separate-stderr ctl --store e frag embed stats
    [ "$(j .embedder)" = llama ]
    [ "$(j .dim)" = 64 ]
    [ "$(j .doc_prefix)" = "search_document: " ]
    run -0 --separate-stderr ctl --store e --json search --text "interest rates" -k 1
    [[ "$(j .key)" == doc.? ]]
    # with the documents' prefix, a query equal to a document finds it, cosine 1
    ctl --store e rmmod embed
    ctl --store e insmod embed prefix=doc. embedder=llama "model=$MODEL" "query_prefix=search_document: "
    run -0 --separate-stderr ctl --store e --json search --text "How do I reset my password?" -k 1
    [ "$(j .key)" = doc.b ]
    awk -v s="$(j .score)" 'BEGIN { exit !(s > 0.9999) }'
    ctl --store e rmmod embed
}

@test "embedder=llama refused: another vec_dim, no model, a missing model" {
    ctl init e --slots 64 --value-size 512 --vec-dim 256 -q
    run -2 --separate-stderr ctl --store e insmod embed prefix=doc. embedder=llama "model=$MODEL"
    [[ "$stderr" == *"64-dimensional"*"vec_dim is 256"* ]]
    run -2 --separate-stderr ctl --store e insmod embed prefix=doc. embedder=llama
    [[ "$stderr" == *"needs model="* ]]
    run -2 --separate-stderr ctl --store e insmod embed prefix=doc. embedder=llama model=/nonexistent.gguf
    [[ "$stderr" == *"cannot load model"* ]]
}

@test "Lua search_text with the llama embedder (splinterctl lua, stock lua5.4)" {
    [ -n "${LUA_MOD_DIR:-}" ] || skip "no Lua in this build (WITH_LUA=1)"
    ctl init e --slots 64 --value-size 512 --vec-dim 64 -q
    # the documents' prefix for queries too: each text finds itself (cosine 1)
    ctl --store e insmod embed prefix=doc. embedder=llama "model=$MODEL" threads=1 "query_prefix=search_document: " \
        > /dev/null
    ctl --store e set doc.a "How do I reset my password?"
    ctl --store e set doc.b "The central bank raised interest rates"
    ctl --store e set doc.c "the cat and the dog play in the rain"
    run -0 --separate-stderr ctl --store e lua "$BATS_TEST_DIRNAME/../lua/test_search_text.lua"
    [[ "$output" == "lua search_text: "*" checks passed" ]]
    command -v lua5.4
    LUA_CPATH="$LUA_MOD_DIR/?.so" run -0 --separate-stderr lua5.4 "$BATS_TEST_DIRNAME/../lua/test_search_text.lua" e
    [[ "$output" == "lua search_text: "*" checks passed" ]]
    ctl --store e rmmod embed
}
