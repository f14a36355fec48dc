# splinterctl bench and top.
load common

@test "bench: completed set/get operations per second, keys removed afterwards" {
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

@test "top --once --json: changes per second and the hottest key of a writer" {
    ctl set cold x
    ( for i in $(seq 1 400); do echo "math inc hot"; done | "$SPLCTL" > /dev/null ) &
    writer=$!
    run -0 --separate-stderr ctl top --once --interval 300 --json
    wait $writer
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
