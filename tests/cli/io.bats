# splinterctl export/import (JSON Lines): a round trip reproduces the store.
load common

# a canonical dump of a store: keys, values, types, labels, flags
dump() {
    "$SPLCTL" --store "$1" export | tail -n +2 | jq -cS . | sort
}

@test "export: header with geometry, then one object per key" {
    ctl set a hello --type text
    run -0 --separate-stderr ctl export
    [ "${#lines[@]}" = 2 ]
    [ "$(head -1 <<< "$output" | jq -r .splinter_export)" = 1 ]
    [ "$(head -1 <<< "$output" | jq -r .geometry.value_size)" = 64 ]
    [ "$(tail -1 <<< "$output" | jq -cS .)" = '{"flags":0,"key":"a","labels":[],"type":"text","value":"hello"}' ]
}

@test "round trip: text, binary, integers, types, labels, flags" {
    ctl set text "line1
line2" --type text
    printf '\000\377\001binary' > "$TMP/bin"
    ctl set bin @"$TMP/bin" --type binary
    ctl math add num -7
    ctl set json '{"a":1}' --type json
    ctl label json set 0 63
    ctl set empty ""
    printf '{"key":"flagged","value":"f","flags":9}\n' | ctl import -q
    ctl export > "$TMP/dump.jsonl"
    ctl init t2 --slots 64 --key-max 16 --value-size 64 --vec-dim 0 -q
    run -0 --separate-stderr ctl --store t2 import "$TMP/dump.jsonl" --json
    [ "$(j .imported)" = 6 ]
    [ "$(dump t)" = "$(dump t2)" ]
    [ "$(ctl --store t2 get num)" = -7 ]
    ctl --store t2 get bin --raw | cmp - "$TMP/bin"
    [ "$(ctl --store t2 get flagged --json | jq .flags)" = 9 ]
    [ "$(ctl --store t2 label json --json | jq -c .labels)" = '[0,63]' ]
}

@test "import over existing keys replaces values, types and labels exactly" {
    ctl set k old --type text
    ctl label k set 1 2
    echo '{"key":"k","value":"new","type":"json","labels":[2]}' | ctl import -q
    run -0 --separate-stderr ctl get k --json
    [ "$(j .value)" = new ]
    [ "$(j .type)" = json ]
    [ "$(jq -c .labels <<< "$output")" = '[2]' ]
}

@test "export to a file; --prefix; stdin import with -" {
    ctl set a.1 x
    ctl set b.1 y
    run -0 --separate-stderr ctl export --prefix a. "$TMP/out.jsonl" --json
    [ "$(j .exported)" = 1 ]
    [ "$(tail -n +2 "$TMP/out.jsonl" | jq -r .key)" = a.1 ]
    ctl unset a.1
    ctl import - < "$TMP/out.jsonl"
    [ "$(ctl get a.1)" = x ]
}

@test "import: bad JSON, bad base64, bad type, missing key are 2 with the line" {
    printf '{"key":"ok1","value":"v"}\n{not json\n' > "$TMP/bad"
    run -2 --separate-stderr ctl import "$TMP/bad" --json
    [ "$(j .error)" = BAD_JSON ]
    [[ "$(j .message)" == "line 2:"* ]]
    [ "$(ctl get ok1)" = v ]      # lines before the bad one are in
    run -2 --separate-stderr bash -c 'echo "{\"key\":\"k\",\"base64\":\"@@@\"}" | "$SPLCTL" import'
    [[ "$stderr" == *"line 1: bad value or base64"* ]]
    run -2 --separate-stderr bash -c 'echo "{\"key\":\"k\",\"value\":\"v\",\"type\":\"flute\"}" | "$SPLCTL" import'
    run -2 --separate-stderr bash -c 'echo "{\"value\":\"v\"}" | "$SPLCTL" import'
    run -2 --separate-stderr bash -c 'echo "[1,2]" | "$SPLCTL" import'
    run -2 --separate-stderr bash -c 'echo "{\"key\":\"k\",\"value\":\"v\",\"labels\":[64]}" | "$SPLCTL" import'
    run -1 --separate-stderr ctl exists k
    run -2 --separate-stderr ctl import "$TMP/nonexistent"
}

@test "import: a line with a NUL byte stops the import with 2 and its line number" {
    # a NUL after a complete object: once read as the object alone
    printf '{"key":"ok1","value":"v"}\n{"key":"a","value":"x"}\0junk\n{"key":"b","value":"y"}\n' > "$TMP/nul"
    run -2 --separate-stderr ctl import "$TMP/nul" --json
    [ "$(j .error)" = BAD_JSON ]
    [ "$(j .message)" = "line 2: contains a NUL byte" ]
    [ "$(ctl get ok1)" = v ]      # lines before the bad one are in
    run -1 --separate-stderr ctl exists a
    run -1 --separate-stderr ctl exists b
    # a NUL inside a value, and a line that is only a NUL (once taken as blank)
    run -2 --separate-stderr bash -c 'printf "{\"key\":\"a\",\"value\":\"x\0y\"}\n" | "$SPLCTL" import'
    [[ "$stderr" == *"line 1: contains a NUL byte"* ]]
    run -2 --separate-stderr bash -c 'printf "\n\0\n{\"key\":\"b\",\"value\":\"y\"}\n" | "$SPLCTL" import'
    [[ "$stderr" == *"line 2: contains a NUL byte"* ]]
    run -1 --separate-stderr ctl exists a
    run -1 --separate-stderr ctl exists b
}

@test "import: too-long key and oversized value keep their library errors (2)" {
    run -2 --separate-stderr bash -c 'echo "{\"key\":\"0123456789abcdefXY\",\"value\":\"v\"}" | "$SPLCTL" import --json'
    [ "$(j .error)" = SPL_EKEYLEN ]
    big=$(head -c 65 /dev/zero | tr '\0' x)
    run -2 --separate-stderr bash -c 'echo "{\"key\":\"k\",\"value\":\"'$big'\"}" | "$SPLCTL" import --json'
    [ "$(j .error)" = SPL_E2BIG ]
}

@test "a key that is not UTF-8: key_base64 in list, errors and the round trip" {
    ctl set "$(printf 'k\377')" v
    run -0 --separate-stderr ctl list --json
    [ "$(j .key_base64)" = "a/8=" ]
    run -1 --separate-stderr ctl get "$(printf 'x\377')" --json
    [ "$(j .message)" = 'x\xff: no such key or store (SPL_ENOENT)' ]
    ctl export > "$TMP/d"
    ctl unset "$(printf 'k\377')"
    ctl import "$TMP/d"
    [ "$(ctl get "$(printf 'k\377')")" = v ]
}
