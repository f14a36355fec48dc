# splinterctl bench and top.
load common

@test "bench: completed set/get operations per second, the store untouched" {
    ctl set keep me
    run -0 --separate-stderr ctl bench --ops 5000 --keys 10 --size 32 --json
    [ "$(j .set.done)" = 5000 ]
    [ "$(j .get.done)" = 5000 ]
    [ "$(j '.set.ops_per_s > 1000')" = true ]
    [ "$(j '.get.ops_per_s > 1000')" = true ]
    [ "$(ctl info --json | jq .used)" = 1 ]
    run -0 --separate-stderr ctl bench --ops 1000
    [[ "$output" == *"set "*" ops/s"* ]]
    run -2 --separate-stderr ctl bench --size 65
    run -2 --separate-stderr ctl bench --ops 0
}

@test "bench on a full store: runs on a temporary store, the user's store is untouched" {
    i=0
    while ctl set "full$i" v 2> /dev/null; do i=$((i + 1)); done
    run -4 --separate-stderr ctl set one-more v --json
    [ "$(j .error)" = SPL_EFULL ]
    ctl list --json | sort > "$TMP/before"
    [ "$(wc -l < "$TMP/before")" -gt 32 ]
    changes=$(ctl info --json | jq .changes)
    run -0 --separate-stderr ctl bench --ops 3000 --json
    [ "$(j .set.done)" = 3000 ]
    [ "$(j .get.done)" = 3000 ]
    [ "$(j .keys)" = 1000 ]
    run -0 --separate-stderr ctl bench --ops 2000 --keys 5000 --size 64 --json
    [ "$(j .keys)" = 5000 ]
    ctl list --json | sort > "$TMP/after"
    cmp "$TMP/before" "$TMP/after"       # same keys, values' epochs, times
    [ "$(ctl info --json | jq .changes)" = "$changes" ]
    # bench needs no free slot and leaves no memfd or SHM file behind
    [ "$(ls -A "$SPLINTER_SHM_DIR")" = t ]
}

@test "top --once --json: changes per second and the hottest key of a writer" {
    ctl set cold x
    # a writer that keeps writing until it is stopped, and top only once it
    # has begun (a fixed 400 increments could all come before or after top's
    # 300 ms on a loaded machine: changes_per_s 0)
    timeout 60 bash -c 'while :; do echo "math inc hot"; done' | "$SPLCTL" > /dev/null &
    writer=$!
    for _ in $(seq 1 400); do ctl get hot > /dev/null 2>&1 && break; sleep 0.05; done
    run -0 --separate-stderr ctl top --once --interval 300 --json
    kill "$writer"
    wait "$writer" || true
    [ "$(j '.changes_per_s > 0')" = true ]
    [ "$(j '.hot[0].key')" = hot ]
    [ "$(j '.hot[0].changes > 0')" = true ]
    [ "$(j '[.hot[].key] | index("cold")')" = null ]
    [ "$(j .slots)" = 64 ]
    j .recoveries > /dev/null
}

@test "top --count N in a pipe: N plain-text refreshes, no terminal codes" {
    run -0 --separate-stderr ctl top --count 2 --interval 50
    [ "$(grep -c '^changes/s' <<< "$output")" = 2 ]
    [[ "$output" != *$'\033'* ]]
    run -2 --separate-stderr ctl top --count x
    run -2 --separate-stderr ctl top --interval 1
}
