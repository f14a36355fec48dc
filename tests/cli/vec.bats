# splinterctl vector commands: vector get/set/clear, search, vectors in
# export/import; the bad-input rows (bad JSON, wrong dimension, NaN).
load common

# the current store is "v", with 3-dimension vectors ("t" has none)
setup() {
    common_setup
    need_embeddings
    export SPLINTER_STORE=v
    "$SPLCTL" init v --slots 64 --key-max 16 --value-size 64 --vec-dim 3 -q
}

@test "vector set/get/clear: a JSON array in, the same array out" {
    run -0 --separate-stderr ctl vector set a '[0.1, -2.5, 3]'
    [ -z "$output" ]
    run -0 --separate-stderr ctl vector get a
    [ "$output" = "[0.1,-2.5,3.0]" ]
    run -0 --separate-stderr ctl vector get a --json
    [ "$(j .key)" = a ]
    [ "$(j .dim)" = 3 ]
    [[ "$output" == *'"vector":[0.1,-2.5,3.0]}' ]]
    [ "$(ctl get a --json | jq -c '[.len, .type]')" = '[0,"void"]' ]   # created empty
    ctl set b keep
    echo '[1,2,3]' > "$TMP/vec"
    ctl vector set b @"$TMP/vec"
    echo '[4,5,6]' | ctl vec set c -
    [ "$(ctl vector get b)" = "[1.0,2.0,3.0]" ]
    [ "$(ctl vector get c)" = "[4.0,5.0,6.0]" ]
    [ "$(ctl get b)" = keep ]                   # the value stays
    run -0 --separate-stderr ctl vector clear b --json
    [ "$(j .op)" = "vector clear" ]
    run -1 --separate-stderr ctl vector get b --json
    [ "$(j .error)" = SPL_ENOVEC ]
    run -1 --separate-stderr ctl vector clear b
    [ "$(ctl get b)" = keep ]
}

@test "vector: bad JSON, wrong dimension, NaN/overflow, missing key, no vectors" {
    run -2 --separate-stderr ctl vector set a '[1,2' --json
    [ "$(j .error)" = BAD_JSON ]
    run -2 --separate-stderr ctl vector set a '[1,2]' --json
    [ "$(j .error)" = SPL_EDIM ]
    [[ "$(j .message)" == *"2 elements, the store's vec_dim is 3"* ]]
    run -2 --separate-stderr ctl vector set a '[1,2,3,4]'
    run -2 --separate-stderr ctl vector set a '[1,2,1e39]' --json
    [ "$(j .error)" = SPL_ENAN ]
    run -2 --separate-stderr ctl vector set a '[1,2,"x"]'
    run -2 --separate-stderr ctl vector set a '{"v":1}'
    run -2 --separate-stderr ctl vector set a @"$TMP/nonexistent"
    run -1 --separate-stderr ctl exists a          # nothing was written
    run -1 --separate-stderr ctl vector get nope
    run -1 --separate-stderr ctl vector clear nope
    run -2 --separate-stderr ctl vector set 0123456789abcdefX '[1,2,3]'
    run -2 --separate-stderr ctl vector frob a
    run -2 --separate-stderr ctl vector get
    run -2 --separate-stderr ctl --store t vector get a --json   # vec_dim 0
    [ "$(j .error)" = SPL_ENOTSUP ]
}

@test "search by vector and by key: order, scores, --k, --metric, --json" {
    ctl vector set x '[1,0,0]'
    ctl vector set xy '[1,1,0]'
    ctl vector set y '[0,1,0]'
    ctl vector set far '[-1,0,0]'
    run -0 --separate-stderr ctl search --vector '[1,0,0]' --k 3
    [ "${lines[0]}" = "$(printf '1.000000\tx')" ]
    [ "${lines[1]}" = "$(printf '0.707107\txy')" ]
    [ "${#lines[@]}" = 3 ]
    run -0 --separate-stderr ctl search --key x --json
    [ "$(jq -sc '[.[].key]' <<< "$output")" = '["xy","y","far"]' ]   # x itself left out
    [ "$(jq -s '.[0].rank' <<< "$output")" = 1 ]
    [ "$(jq -s '.[0].epoch > 0' <<< "$output")" = true ]
    run -0 --separate-stderr ctl search --vector '[2,0,0]' --metric l2 --k 1 --json
    [ "$(j .key)" = x ]
    [[ "$output" == *'"score":1.0,'* ]]
    run -0 --separate-stderr ctl search --vector '[2,2,0]' --metric dot --k 1 --json
    [ "$(j .key)" = xy ]
    [[ "$output" == *'"score":4.0,'* ]]
    echo '[0,1,0]' | { run -0 --separate-stderr ctl search --vector - --k 1 --threads 2; [[ "$output" == *y ]]; }
}

@test "search filters: --prefix, --label (all), --any" {
    mkdir -p "$HOME/.splinter"
    echo "red 1" > "$HOME/.splinter/labels"
    ctl vector set a.1 '[1,0,0]'
    ctl vector set a.2 '[0,1,0]'
    ctl vector set b.1 '[1,0.1,0]'
    ctl label a.2 set red 2
    ctl label b.1 set 2
    run -0 --separate-stderr ctl search --vector '[1,0,0]' --prefix a. --json
    [ "$(jq -sc '[.[].key]' <<< "$output")" = '["a.1","a.2"]' ]
    run -0 --separate-stderr ctl search --vector '[1,0,0]' --label red --label 2 --json
    [ "$(jq -sc '[.[].key]' <<< "$output")" = '["a.2"]' ]
    run -0 --separate-stderr ctl search --vector '[1,0,0]' --label red --label 2 --any --json
    [ "$(jq -sc '[.[].key]' <<< "$output")" = '["b.1","a.2"]' ]
}

@test "search: bad input rows and exit codes" {
    ctl vector set a '[1,0,0]'
    ctl set novec x
    run -2 --separate-stderr ctl search --vector '[1,0' --json
    [ "$(j .error)" = BAD_JSON ]
    run -2 --separate-stderr ctl search --vector '[1,0]' --json
    [ "$(j .error)" = SPL_EDIM ]
    run -2 --separate-stderr ctl search --vector '[1,0,-1e39]' --json
    [ "$(j .error)" = SPL_ENAN ]
    run -1 --separate-stderr ctl search --key nope --json
    [ "$(j .error)" = SPL_ENOENT ]
    run -1 --separate-stderr ctl search --key novec --json
    [ "$(j .error)" = SPL_ENOVEC ]
    run -2 --separate-stderr ctl search
    run -2 --separate-stderr ctl search --key a --vector '[1,0,0]'
    run -2 --separate-stderr ctl search --key a --metric manhattan
    run -2 --separate-stderr ctl search --key a --k 0
    run -2 --separate-stderr ctl search --key a --k 5000
    run -2 --separate-stderr ctl search --key a --threads 65
    run -2 --separate-stderr ctl search --key a --label nosuch
    run -2 --separate-stderr ctl --store t search --vector '[1]'
}

@test "export/import round trip reproduces float32 vectors exactly" {
    ctl vector set a '[0.1, 0.2, 0.3]'
    ctl vector set tiny '[1e-45, 1.17549435e-38, -2.5e-7]'
    ctl vector set huge '[1e38, -3.4e37, 16777217]'
    ctl vector set third '[0.33333334, 0.6666667, 1.0000001]'
    ctl set plain text
    ctl vector set b '[7, 8, 9]'
    ctl set b value-of-b --type text
    ctl export > "$TMP/d"
    [ "$(grep -c '"vector"' "$TMP/d")" = 5 ]
    [ "$(jq -r 'select(.key == "b") | .value' "$TMP/d")" = value-of-b ]
    ctl init v2 --slots 64 --key-max 16 --value-size 64 --vec-dim 3 -q
    ctl --store v2 import "$TMP/d" -q
    for k in a tiny huge third b; do
        [ "$(ctl vector get $k)" = "$(ctl --store v2 vector get $k)" ] || { echo "differs: $k"; false; }
    done
    [ "$(ctl --store v2 export | tail -n +2 | sort)" = "$(tail -n +2 "$TMP/d" | sort)" ]
    run -1 --separate-stderr ctl --store v2 vector get plain
    # exactly: the float32 bits, checked with a Lua-free reader (python's struct)
    if command -v python3 > /dev/null; then
        ctl --store v2 vector get third | python3 -c '
import json, struct, sys
v = json.load(sys.stdin)
bits = [struct.unpack("<I", struct.pack("<f", x))[0] for x in v]
want = [struct.unpack("<I", struct.pack("<f", x))[0] for x in (0.33333334, 0.6666667, 1.0000001)]
sys.exit(0 if bits == want else 1)'
    fi
}

@test "import: a line without vector clears it; bad vectors are exit 2 with the line" {
    ctl vector set a '[1,2,3]'
    echo '{"key":"a","value":"v"}' | ctl import -q
    run -1 --separate-stderr ctl vector get a
    printf '{"key":"ok","value":"v","vector":[1,2,3]}\n{"key":"k","value":"v","vector":[1,2]}\n' > "$TMP/bad"
    run -2 --separate-stderr ctl import "$TMP/bad" --json
    [ "$(j .error)" = SPL_EDIM ]
    [[ "$(j .message)" == "line 2:"* ]]
    [ "$(ctl vector get ok)" = "[1.0,2.0,3.0]" ]
    run -1 --separate-stderr ctl exists k       # the bad line wrote nothing
    run -2 --separate-stderr bash -c 'echo "{\"key\":\"k\",\"vector\":\"x\"}" | "$SPLCTL" import'
    run -2 --separate-stderr bash -c 'echo "{\"key\":\"k\",\"vector\":[1,2,1e39]}" | "$SPLCTL" import'
    run -2 --separate-stderr bash -c 'echo "{\"key\":\"k\",\"vector\":[1]}" | "$SPLCTL" --store t import --json'
    [ "$(j .error)" = SPL_ENOTSUP ]
}
