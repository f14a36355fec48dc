# The Lua binding: `splinterctl lua` (module bound to the store) and the
# loadable module under the stock lua5.4 interpreter; exit codes of errors;
# the example pipeline.  Needs WITH_LUA=1 ($LUA_MOD_DIR holds splinter.so).
load ../cli/common

setup_file() {
    export LUA_CPATH="${LUA_MOD_DIR:?}/?.so"
}

@test "splinterctl lua: the module bound to --store" {
    ctl init t2 --slots 64 --key-max 16 --value-size 64 --vec-dim 0 -q
    run -0 --separate-stderr ctl lua "$BATS_TEST_DIRNAME/test_module.lua" "" t2
    [[ "$output" == "lua module: "*" checks passed" ]]
    [ "$(ctl get s)" = new ]
}

@test "stock lua5.4: require \"splinter\" (the loadable module)" {
    command -v lua5.4
    ctl init t2 --slots 64 --key-max 16 --value-size 64 --vec-dim 0 -q
    run -0 --separate-stderr lua5.4 "$BATS_TEST_DIRNAME/test_module.lua" t t2
    [[ "$output" == "lua module: "*" checks passed" ]]
    [ "$(ctl get n)" = -5 ]
}

@test "stock lua5.4: create options (cells, numa, huge_pages) and info" {
    command -v lua5.4
    run -0 --separate-stderr lua5.4 "$BATS_TEST_DIRNAME/test_place.lua"
    [[ "$output" == *"lua place: "*" checks passed" ]]
}

# A slot held by a live process (forged, as in tests/cli/kv.bats): the
# integer ops give up after the module's retry second with SPL_EAGAIN (exit
# 3), as set does; they waited the 10 s of spl_int, then SPL_ETIMEDOUT.
# One whose writer commits within the second is waited for.
@test "splinterctl lua: a held slot is SPL_EAGAIN after a second, integer ops too" {
    busy_store "$TMP/busy.spl" 5 --type int64
    hold_slot "$TMP/busy.spl" busy "$holder"
    echo 'splinter.set("busy", "x")' > "$TMP/s.lua"
    echo 'splinter.incr("busy")' > "$TMP/i.lua"
    echo 'splinter.bxor("busy", 3)' > "$TMP/x.lua"
    echo 'splinter.label_set("busy", 3)' > "$TMP/l.lua"
    echo 'splinter.meta("busy")' > "$TMP/m.lua"
    for f in s i x l m; do
        t0=$(date +%s%N)
        run -3 --separate-stderr ctl --store "$TMP/busy.spl" lua "$TMP/$f.lua" --json
        [ "$(j .error)" = SPL_EAGAIN ]
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        [ "$ms" -ge 900 ] && [ "$ms" -lt 5000 ]
    done
    # a writer that commits within the second is waited for (asleep on
    # the slot: spl_int_wait, spl_set_wait) and the call goes through
    echo 'print(splinter.incr("busy", 2)); splinter.set("busy", 9); print(splinter.get("busy"))' > "$TMP/i.lua"
    ( sleep 0.3; release_slot "$TMP/busy.spl" busy ) &
    run -0 --separate-stderr ctl --store "$TMP/busy.spl" lua "$TMP/i.lua"
    wait $!
    [ "$output" = $'7\n9\tint64' ] # get: the value and its type
    # the calls with no *_wait variant too (spl_retry_pause), a write and a read
    for f in l m; do
        hold_slot "$TMP/busy.spl" busy "$holder"
        ( sleep 0.3; release_slot "$TMP/busy.spl" busy ) &
        t0=$(date +%s%N)
        run -0 --separate-stderr ctl --store "$TMP/busy.spl" lua "$TMP/$f.lua"
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        wait $!
        [ "$ms" -ge 250 ]
    done
    # held again by a process that dies: recovered, the holder's write undone
    # or the key freed
    hold_slot "$TMP/busy.spl" busy "$holder"
    kill "$holder"; wait "$holder" || true
    echo 'print(splinter.incr("busy", 2))' > "$TMP/i.lua"
    run -0 --separate-stderr ctl --store "$TMP/busy.spl" lua "$TMP/i.lua"
    [[ "$output" == 11 || "$output" == 2 ]]
}

@test "splinterctl lua: arg, exit codes of Splinter errors and of other errors" {
    echo 'print(arg[0], arg[1], ...)' > "$TMP/a.lua"
    run -0 --separate-stderr ctl lua "$TMP/a.lua" x y
    [ "$output" = "$TMP/a.lua"$'\tx\tx\ty' ]
    echo 'splinter.get(string.rep("k", 40))' > "$TMP/e.lua"
    run -2 --separate-stderr ctl lua "$TMP/e.lua" --json
    [ "$(j .error)" = SPL_EKEYLEN ]
    echo 'error("plain")' > "$TMP/p.lua"
    run -2 --separate-stderr ctl lua "$TMP/p.lua"
    [[ "$stderr" == *plain* ]]
    echo 'this is not lua' > "$TMP/s.lua"
    run -2 --separate-stderr ctl lua "$TMP/s.lua"
    echo 'os.exit(3)' > "$TMP/x.lua"
    run -3 --separate-stderr ctl lua "$TMP/x.lua"
    run -4 --separate-stderr ctl --store nosuch lua "$TMP/a.lua"
    echo 'splinter.open("nosuch")' > "$TMP/o.lua"
    run -4 --separate-stderr ctl lua "$TMP/o.lua" --json
    [ "$(j .error)" = SPL_ENOENT ]
    echo 'splinter.get("nosuchkey"); splinter.unset("nosuchkey"); splinter.label_set("nosuchkey", 1)' > "$TMP/k.lua"
    run -1 --separate-stderr ctl lua "$TMP/k.lua"
    run -2 --separate-stderr ctl lua
    echo 'splinter.get("k")' > "$TMP/n.lua"
    unset SPLINTER_STORE
    run -2 --separate-stderr ctl lua "$TMP/n.lua"
    [[ "$stderr" == *"no store"* ]]
    echo 'print(splinter.version)' | { run -0 --separate-stderr ctl lua -; [ -n "$output" ]; }
}

@test "examples/lua/pipeline.lua moves waiting items to done" {
    for k in a b c; do ctl set "item.$k" "job $k"; ctl label "item.$k" set 0; done
    ctl set other untouched
    run -0 --separate-stderr ctl lua "$BATS_TEST_DIRNAME/../../examples/lua/pipeline.lua"
    [[ "$output" == "moved 3 item(s)"* ]]
    [ "$(ctl get item.b)" = "JOB B" ]
    [ "$(ctl list --label 1 | wc -l)" = 3 ]
    [ "$(ctl list --label 0 | wc -l)" = 0 ]
    [ "$(ctl get other)" = untouched ]
    run -0 --separate-stderr lua5.4 "$BATS_TEST_DIRNAME/../../examples/lua/pipeline.lua" t
    [[ "$output" == "moved 0 item(s)"* ]]
}

@test "lua: signal functions (splinterctl lua and lua5.4), a store without vectors" {
    ctl init s0 --slots 64 --key-max 16 --value-size 64 --vec-dim 0 -q
    run -0 --separate-stderr ctl --store s0 lua "$BATS_TEST_DIRNAME/test_signal.lua"
    [[ "$output" == "lua signals: "*" checks passed; vectors skipped: the store has none" ]]
    ctl init s1 --slots 64 --key-max 16 --value-size 64 --vec-dim 0 -q
    run -0 --separate-stderr lua5.4 "$BATS_TEST_DIRNAME/test_signal.lua" s1
    [[ "$output" == "lua signals: "*" checks passed; vectors skipped: the store has none" ]]
}

@test "lua: signal and vector functions (splinterctl lua and lua5.4)" {
    need_embeddings
    ctl init v --slots 64 --key-max 16 --value-size 64 --vec-dim 3 -q
    run -0 --separate-stderr ctl --store v lua "$BATS_TEST_DIRNAME/test_signal.lua"
    [[ "$output" == "lua signals+vectors: "*" checks passed" ]]
    ctl init v2 --slots 64 --key-max 16 --value-size 64 --vec-dim 3 -q
    run -0 --separate-stderr lua5.4 "$BATS_TEST_DIRNAME/test_signal.lua" v2
    [[ "$output" == "lua signals+vectors: "*" checks passed" ]]
    echo 'splinter.vector_get("k")' > "$TMP/nv.lua"
    run -2 --separate-stderr ctl lua "$TMP/nv.lua" --json      # vec_dim 0
    [ "$(j .error)" = SPL_ENOTSUP ]
}

# wait_key KEY: until the key exists (5 s at most)
wait_key() {
    for _ in $(seq 1 100); do
        ctl exists "$1" > /dev/null && return 0
        sleep 0.05
    done
    return 1
}

@test "lua: wait and key_wait wake on writes made by another process" {
    ctl set k 0
    ctl lua "$BATS_TEST_DIRNAME/waiter.lua" > "$TMP/out" 2>&1 3>&- &
    pid=$!
    wait_key ready
    ctl set k 1
    wait_key ready2
    ctl set k 2
    wait $pid
    [ "$(sed -n 1p "$TMP/out")" = "$(printf '4\tk')" ]
    [ "$(sed -n 2p "$TMP/out")" = true ]
}

@test "examples/lua/counter.lua sums counter.* into counter.total on every change" {
    ctl math add counter.a 0 -q
    ctl math add counter.b 0 -q
    ctl lua "$BATS_TEST_DIRNAME/../../examples/lua/counter.lua" 7 > "$TMP/out" 2>&1 3>&- &
    pid=$!
    wait_key counter.total
    ctl math add counter.c 1 -q     # new: picked up at the next wake-up
    ctl math add counter.a 2 -q
    ctl math add counter.b 4 -q
    ( sleep 10; kill $pid 2> /dev/null ) 3>&- &
    guard=$!
    wait $pid
    kill $guard 2> /dev/null || true
    [ "$(head -1 "$TMP/out")" = "counter.total = 0" ]
    [ "$(tail -1 "$TMP/out")" = "counter.total = 7" ]
    [ "$(ctl get counter.total)" = 7 ]
    # the stock interpreter: a total already reached exits at once
    run -0 --separate-stderr timeout 10 lua5.4 "$BATS_TEST_DIRNAME/../../examples/lua/counter.lua" 7 t
    [ "$output" = "counter.total = 7" ]
}
