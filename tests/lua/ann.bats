# search {ann = true, ef = N} from Lua (WITH_LUA=1), under `splinterctl
# lua` and the stock lua5.4: the exact hits (not flagged) before the hnsw
# fragment runs, hits from its index (approximate = true, good recall) once
# `splinterctl insmod hnsw` built it, the exact hits again after rmmod
# (tests/lua/test_ann.lua holds the checks of each phase).
load ../cli/common

setup_file() {
    export LUA_CPATH="${LUA_MOD_DIR:?}/?.so"
}

setup() {
    common_setup
    need_embeddings
    ctl init a --slots 1024 --key-max 32 --value-size 16 --vec-dim 16 -q
}

teardown() {
    for pid in $("$SPLCTL" --store a lsmod --json 2> /dev/null | jq -r '.host_pid // empty'); do
        kill -9 "$pid" 2> /dev/null || true
    done
    "$SPLCTL" --store a rmmod --purge hnsw > /dev/null 2>&1 || true
    rm -rf "$TMP"
}

# wait_ready: up to 30 s for the index to hold the 300 vectors
wait_ready() {
    for _ in $(seq 1 600); do
        ctl --store a frag hnsw stats 2> /dev/null | grep -q '"state":"ready","nodes":300,' && return 0
        sleep 0.05
    done
    echo "not ready: $(ctl --store a frag hnsw stats 2>&1)" >&2
    tail -n 20 "$TMP/host.log" >&2
    return 1
}

# phases STORE LUA...: the three phases of test_ann.lua run by LUA... (STORE:
# the script's store argument, "" for the one splinterctl binds)
phases() {
    local st=$1
    shift
    run -0 --separate-stderr "$@" "$BATS_TEST_DIRNAME/test_ann.lua" "$st" load
    [[ "$output" == "lua ann load: "*" checks passed" ]]
    run -0 --separate-stderr ctl --store a insmod --log "$TMP/host.log" hnsw m=8 efc=64
    [[ "$output" == "hnsw: running (host pid "* ]]
    wait_ready
    run -0 --separate-stderr "$@" "$BATS_TEST_DIRNAME/test_ann.lua" "$st" ann
    [[ "$output" == "lua ann ann: "*" checks passed" ]]
    run -0 --separate-stderr ctl --store a rmmod hnsw
    run -0 --separate-stderr "$@" "$BATS_TEST_DIRNAME/test_ann.lua" "$st" exact
    [[ "$output" == "lua ann exact: "*" checks passed" ]]
}

@test "splinterctl lua: search {ann=true}: exact without the hnsw fragment, approximate with it" {
    phases "" ctl --store a lua
}

@test "stock lua5.4: the same through require \"splinter\"" {
    command -v lua5.4
    phases a lua5.4
}
