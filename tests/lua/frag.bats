# Fragments from Lua: splinter.insmod/lsmod/frag/rmmod under `splinterctl
# lua` and the stock lua5.4.  Needs WITH_LUA=1 ($LUA_MOD_DIR holds
# splinter.so; the DSP fragment is in its build folder's fragments/).
load ../cli/common

setup_file() {
    export LUA_CPATH="${LUA_MOD_DIR:?}/?.so"
    export SPLINTER_FRAG_PATH="$LUA_MOD_DIR/../fragments"
}

setup() {
    common_setup
    "$SPLCTL" init f --slots 128 --key-max 32 --value-size 512 --vec-dim 0 -q
}

teardown() {
    for pid in $("$SPLCTL" --store f lsmod --json 2> /dev/null | jq -r '.host_pid // empty'); do
        kill -9 "$pid" 2> /dev/null || true
    done
    rm -rf "$TMP"
}

@test "splinterctl lua: insmod, frag, lsmod, rmmod" {
    run -0 --separate-stderr ctl --store f lua "$BATS_TEST_DIRNAME/test_frag.lua"
    [[ "$output" == "lua fragments: "*" checks passed" ]]
}

@test "stock lua5.4: the same through require \"splinter\"" {
    command -v lua5.4
    run -0 --separate-stderr lua5.4 "$BATS_TEST_DIRNAME/test_frag.lua" f
    [[ "$output" == "lua fragments: "*" checks passed" ]]
}
