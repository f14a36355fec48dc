# splinterctl key-value commands, their --json output and exit codes,
# including the bad-input rows.
load common

@test "set/get: text round trip, --json has value, type, len, epoch" {
    run -0 --separate-stderr ctl set greeting hello
    [ -z "$output" ]
    run -0 --separate-stderr ctl get greeting
    [ "$output" = hello ]
    run -0 --separate-stderr ctl get greeting --json
    [ "$(j .key)" = greeting ]
    [ "$(j .value)" = hello ]
    [ "$(j .type)" = void ]
    [ "$(j .len)" = 5 ]
    [ "$(j .epoch)" = 2 ]
    run -0 --separate-stderr ctl set greeting hi --type text --json
    [ "$(j .ok)" = true ]
    [ "$(j .type)" = text ]
    [ "$(j .epoch)" -gt 2 ]
}

@test "get escapes control characters; --raw writes the bytes" {
    ctl set k "$(printf 'a\tb\nc\\d\001')"
    run -0 --separate-stderr ctl get k
    [ "$output" = 'a\tb\nc\\d\x01' ]
    ctl get k --raw > "$TMP/raw"
    printf 'a\tb\nc\\d\001' | cmp - "$TMP/raw"
}

@test "binary values: --json gives base64, invalid UTF-8 escaped" {
    printf '\377\000\001' > "$TMP/bin"
    ctl set b @"$TMP/bin"
    run -0 --separate-stderr ctl get b --json
    [ "$(j .base64)" = "/wAB" ]
    [ "$(j 'has("value")')" = false ]
    run -0 --separate-stderr ctl get b
    [ "$output" = '\xff\x00\x01' ]
}

@test "values from stdin (-) and from a file (@path)" {
    echo -n "from stdin" | ctl set s -
    [ "$(ctl get s)" = "from stdin" ]
    echo -n "from file" > "$TMP/v"
    ctl set f @"$TMP/v"
    [ "$(ctl get f)" = "from file" ]
    run -2 --separate-stderr ctl set f @"$TMP/nonexistent"
}

@test "oversized value: argument, stdin and file are usage errors (2), nothing written" {
    big=$(head -c 65 /dev/zero | tr '\0' x)
    run -2 --separate-stderr ctl set k "$big" --json
    [ "$(j .error)" = SPL_E2BIG ]
    run -2 --separate-stderr bash -c 'printf "%s" "$1" | "$SPLCTL" set k -' _ "$big"
    printf "%s" "$big" > "$TMP/big"
    run -2 --separate-stderr ctl set k @"$TMP/big"
    run -1 --separate-stderr ctl exists k
    # exactly the limit fits
    run -0 --separate-stderr ctl set k "${big:1}"
}

@test "too-long and empty keys are usage errors (2) with SPL_EKEYLEN" {
    run -2 --separate-stderr ctl set 0123456789abcdefX v --json
    [ "$(j .error)" = SPL_EKEYLEN ]
    run -2 --separate-stderr ctl get 0123456789abcdefX
    [[ "$stderr" == *SPL_EKEYLEN* ]]
    run -2 --separate-stderr ctl set "" v
    run -0 --separate-stderr ctl set 0123456789abcdef v   # 16 bytes: the limit
}

@test "get/unset of a missing key: not found (1)" {
    run -1 --separate-stderr ctl get nope --json
    [ "$(j .error)" = SPL_ENOENT ]
    [ "$(j .exit)" = 1 ]
    [ "$(j .ok)" = false ]
    run -1 --separate-stderr ctl unset nope
    [[ "$stderr" == *"nope: no such key"* ]]
}

@test "unset removes a key; exists is 0/1" {
    ctl set k v
    run -0 --separate-stderr ctl exists k --json
    [ "$(j .exists)" = true ]
    run -0 --separate-stderr ctl unset k --json
    [ "$(j .op)" = unset ]
    run -1 --separate-stderr ctl exists k
    [ "$output" = no ]
    run -1 --separate-stderr ctl exists k --json
    [ "$(j .exists)" = false ]
    run -1 --separate-stderr ctl exists k -q
    [ -z "$output" ]
}

@test "append creates and extends; past the value size is 2" {
    ctl append a foo
    ctl append a bar
    [ "$(ctl get a)" = foobar ]
    run -0 --separate-stderr ctl append a baz --json
    [ "$(j .len)" = 9 ]
    run -2 --separate-stderr ctl append a "$(head -c 60 /dev/zero | tr '\0' y)"
    [[ "$stderr" == *SPL_E2BIG* ]]
    [ "$(ctl get a)" = foobarbaz ]
}

@test "list: glob, prefix, limit, labels; --json one object per key" {
    for k in a.1 a.2 b.1; do ctl set $k v; done
    ctl label a.2 set 4
    run -0 --separate-stderr ctl list
    [ "${#lines[@]}" = 3 ]
    run -0 --separate-stderr ctl list 'a.*'
    [ "$(sort <<< "$output" | cut -f1 | tr '\n' ' ')" = "a.1 a.2 " ]
    run -0 --separate-stderr ctl list --prefix b
    [ "$(cut -f1 <<< "$output")" = b.1 ]
    run -0 --separate-stderr ctl list --limit 2
    [ "${#lines[@]}" = 2 ]
    run -0 --separate-stderr ctl list --label 4 --json
    [ "$(j .key)" = a.2 ]
    [ "$(j '.labels[0]')" = 4 ]
    run -0 --separate-stderr ctl list --json
    [ "$(jq -s length <<< "$output")" = 3 ]
    run -2 --separate-stderr ctl list --limit 0
    run -2 --separate-stderr ctl list a b
}

@test "type: get and set; unknown type is 2; missing key is 1" {
    ctl set k v
    run -0 --separate-stderr ctl type k
    [ "$output" = void ]
    run -0 --separate-stderr ctl type k json
    run -0 --separate-stderr ctl type k --json
    [ "$(j .type)" = json ]
    run -2 --separate-stderr ctl type k flute
    run -1 --separate-stderr ctl type nope
}

@test "math: inc dec add and or xor not; results and --json" {
    [ "$(ctl math inc n)" = 1 ]
    [ "$(ctl math inc n)" = 2 ]
    [ "$(ctl math dec n)" = 1 ]
    [ "$(ctl math add n 41)" = 42 ]
    [ "$(ctl math add n -2)" = 40 ]
    [ "$(ctl math and n 12)" = 8 ]
    [ "$(ctl math or n 3)" = 11 ]
    [ "$(ctl math xor n 1)" = 10 ]
    [ "$(ctl math not n)" = -11 ]
    run -0 --separate-stderr ctl math add n 11 --json
    [ "$(j .int)" = 0 ]
    [ "$(j .op)" = add ]
    [ "$(ctl get n)" = 0 ]
    [ "$(ctl type n)" = int64 ]
}

@test "math: wrong type is 2 (SPL_ETYPE); bad op or operand is 2" {
    ctl set t text
    run -2 --separate-stderr ctl math inc t --json
    [ "$(j .error)" = SPL_ETYPE ]
    run -2 --separate-stderr ctl math pow n 2
    run -2 --separate-stderr ctl math add n
    run -2 --separate-stderr ctl math add n two
    run -2 --separate-stderr ctl math inc n 5
}

@test "set --type int64/uint64 stores the number's 8 bytes; not a number is 2" {
    ctl set n 5 --type int64
    run -0 --separate-stderr ctl get n --json
    [ "$(j .len)" = 8 ]
    [ "$(j .type)" = int64 ]
    [ "$(ctl math inc n)" = 6 ]
    ctl set n 0x10 --type int64
    [ "$(ctl get n)" = 16 ]
    ctl set n 010 --type int64             # decimal, never octal
    [ "$(ctl get n)" = 10 ]
    ctl set -t int64 -- n -9223372036854775808
    [ "$(ctl get n)" = -9223372036854775808 ]
    [ "$(ctl math dec n)" = 9223372036854775807 ]    # int64 wraps, as spl_int does
    echo 42 | ctl set n - --type int64     # one trailing newline from stdin
    [ "$(ctl get n)" = 42 ]
    ctl set u 18446744073709551615 --type uint64
    [ "$(ctl get u)" = 18446744073709551615 ]
    [ "$(ctl type u)" = uint64 ]
    ctl set u 0xFF -t uint64
    [ "$(ctl math and u 0x0f)" = 15 ]
    # not a number, or out of range: 2, and nothing is written
    for bad in abc 5x 1.5 " 5" "" 0x -- 9223372036854775808 0x8000000000000000; do
        run -2 --separate-stderr ctl set -t int64 -- n "$bad"
    done
    printf '5\n\n' > "$TMP/two-newlines"
    run -2 --separate-stderr ctl set -t int64 n "@$TMP/two-newlines"
    [[ "$stderr" == *"is not an int64"* ]]
    run -2 --separate-stderr ctl set n 9223372036854775808 --type int64
    [[ "$stderr" == *"out of range for an int64"* ]]
    run -2 --separate-stderr ctl set -t uint64 -- u -1
    [[ "$stderr" == *"out of range for a uint64"* ]]
    run -2 --separate-stderr ctl set u 18446744073709551616 --type uint64 --json
    [ "$(j .error)" = USAGE ]
    [ "$(ctl get n)" = 42 ]
    [ "$(ctl math inc u)" = 16 ]
    ctl set j 5 --type json                # not a numeric type: text as it is
    run -0 --separate-stderr ctl get j --json
    [ "$(j .len)" = 1 ]
}

@test "math on a decimal number stored as text converts it to int64 (Redis habit)" {
    ctl set a 1
    [ "$(ctl math inc a)" = 2 ]
    [ "$(ctl type a)" = int64 ]
    run -0 --separate-stderr ctl get a --json
    [ "$(j .len)" = 8 ]
    ctl set -- b -17
    [ "$(ctl math add b 20)" = 3 ]
    ctl set c 12345678                     # 8 digits: never mistaken for 8 binary bytes
    [ "$(ctl math dec c)" = 12345677 ]
    ctl set -t text d +0041
    [ "$(ctl math inc d)" = 42 ]
    [ "$(ctl type d)" = int64 ]
    ctl set a 7                            # a number over an int64 key stays a number
    run -0 --separate-stderr ctl get a --json
    [ "$(j .len)" = 8 ]
    [ "$(ctl math add a 3)" = 10 ]
    ctl set a 12345678                     # 8 digits: the number, not 8 text bytes
    [ "$(ctl math inc a)" = 12345679 ]
    ctl set a hello                        # other text is text (the type stays)
    run -2 --separate-stderr ctl math inc a
    ctl set g 5                            # text under type int64 (a peer's spl_set)
    ctl type g int64
    [ "$(ctl math inc g)" = 6 ]
    # not decimal text, too big, or another type: 2 with what to do
    for v in abc 1.5 " 1" 0x10 9223372036854775808; do
        ctl set e "$v"
        run -2 --separate-stderr ctl math inc e --json
        [ "$(j .error)" = SPL_ETYPE ]
        [[ "$(j .message)" == *"splinterctl set e NUMBER --type int64"* ]]
        [ "$(ctl get e)" = "$v" ]
        [ "$(ctl type e)" = void ]
    done
    ctl set -t json f 5
    run -2 --separate-stderr ctl math inc f
    [ "$(ctl get f)" = 5 ]
    [ "$(ctl type f)" = json ]
}

@test "math on text: concurrent converters lose no increment" {
    for round in 1 2 3 4 5 6; do
        ctl unset k || true                # text again, not a number over an int64 key
        if [ $((round % 2)) = 0 ]; then ctl set k 10000000; start=10000000; else ctl set k 5; start=5; fi
        [ "$(ctl type k)" = void ]
        pids=()
        for p in 1 2 3 4; do
            ( for i in 1 2 3; do "$SPLCTL" math inc k > /dev/null || exit 1; done ) &
            pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; done
        [ "$(ctl get k)" = $((start + 12)) ]
        [ "$(ctl type k)" = int64 ]
    done
}

@test "label: set/clear by bit, 0xMASK and by name from the labels file" {
    printf '# names\nwaiting 0\ndone = 1\nhot 63\n' > "$TMP/labels"
    ctl set k v
    run -0 --separate-stderr ctl --labels "$TMP/labels" label k set waiting 5 --json
    [ "$(j '.labels | join(",")')" = "waiting,5" ]
    [ "$(j .mask)" = 0x0000000000000021 ]
    run -0 --separate-stderr ctl --labels "$TMP/labels" label k clear waiting
    run -0 --separate-stderr ctl --labels "$TMP/labels" label k set done hot 0x4
    run -0 --separate-stderr ctl --labels "$TMP/labels" label k
    [ "$output" = "done,2,5,hot" ]
    run -2 --separate-stderr ctl --labels "$TMP/labels" label k set nosuchname
    run -2 --separate-stderr ctl label k set 64
    run -2 --separate-stderr ctl label k toggle 1
    run -1 --separate-stderr ctl label nope set 1
}

@test "label names come from ~/.splinter/labels by default" {
    mkdir -p "$HOME/.splinter"
    echo "urgent 7" > "$HOME/.splinter/labels"
    ctl set k v
    ctl label k set urgent
    run -0 --separate-stderr ctl label k --json
    [ "$(j '.labels[0]')" = urgent ]
    [ "$(j .mask)" = 0x0000000000000080 ]
}

@test "cas: succeeds at the current epoch; a moved epoch is 3; 0 creates only" {
    run -0 --separate-stderr ctl cas k 0 first --json
    e=$(j .epoch)
    run -3 --separate-stderr ctl cas k 0 again --json
    [ "$(j .error)" = SPL_EEXIST ]
    run -0 --separate-stderr ctl cas k "$e" second
    [ "$(ctl get k)" = second ]
    run -3 --separate-stderr ctl cas k "$e" third --json
    [ "$(j .error)" = SPL_ESTALE ]
    [ "$(ctl get k)" = second ]
    run -1 --separate-stderr ctl cas nope 2 v
    run -2 --separate-stderr ctl cas k notanepoch v
}

@test "unknown commands and options are usage errors (2), never success" {
    run -2 --separate-stderr ctl frobnicate
    [[ "$stderr" == *"unknown command 'frobnicate'"* ]]
    run -2 --separate-stderr ctl frobnicate --json
    [ "$(j .error)" = USAGE ]
    run -2 --separate-stderr ctl get k --bogus
    run -2 --separate-stderr ctl --bogus get k
    run -2 --separate-stderr ctl set k
    run -2 --separate-stderr ctl --timeout x get k
}

@test "every command answers --help (exit 0) with its usage" {
    for cmd in $(ctl help --json | jq -r '.commands[].name'); do
        run -0 --separate-stderr ctl "$cmd" --help
        [[ "$output" == "usage: splinterctl $cmd"* ]]
    done
    run -0 --separate-stderr ctl help --json
    [ "$(j .exit_codes.contention)" = 3 ]
    run -0 --separate-stderr ctl help math
    [[ "$output" == *"inc, dec, add"* ]]
    run -2 --separate-stderr ctl help nosuch
}

@test "--quiet prints nothing on success; global options also after the command" {
    ctl set k v
    run -0 --separate-stderr ctl get k --quiet
    [ -z "$output" ]
    run -0 --separate-stderr ctl -q get k
    [ -z "$output" ]
    run -0 --separate-stderr ctl get --store t k --json
    [ "$(j .value)" = v ]
    # "--" ends the options: a value that looks like one
    run -0 --separate-stderr ctl set k -- --json
    [ "$(ctl get k)" = --json ]
}

@test "a broken pipe ends quietly" {
    ctl init big --slots 4096 --vec-dim 0 -q
    for i in $(seq 1 300); do echo "{\"key\":\"k$i\",\"value\":\"v\"}"; done | ctl --store big import -q
    run --separate-stderr bash -c '"$SPLCTL" --store big list | head -n 1'
    [ "${#lines[@]}" = 1 ]
    [ -z "$stderr" ]
    run --separate-stderr bash -c 'yes | head -c 100000 | "$SPLCTL" --store big export | head -c 10'
    [ -z "$stderr" ]
}

# through_hold CMD...: run `splinterctl CMD` (--timeout 10 s) on busy.spl
# while a writer holds the slot of key "busy" for half a second, then
# commits (forged, as below); it must wait for the commit (0.4-9 s) and
# then succeed ($output is the command's).
through_hold() {
    hold_slot "$TMP/busy.spl" busy "$holder"
    ( sleep 0.5; release_slot "$TMP/busy.spl" busy ) &
    local t0=$(date +%s%N)
    run -0 --separate-stderr ctl --store "$TMP/busy.spl" --timeout 10000 "$@"
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    wait $!
    [ "$ms" -ge 400 ] && [ "$ms" -lt 9000 ]
}

# set, unset and math wait (the library's *_wait calls, asleep on the
# slot) and then go through.
@test "contention: set, math and unset wait for a writer that commits within --timeout" {
    busy_store "$TMP/busy.spl" 41 --type int64
    through_hold math add busy 1
    [ "$output" = 42 ]
    through_hold set busy after
    through_hold unset busy
    run -1 --separate-stderr ctl --store "$TMP/busy.spl" get busy
}

# The commands with no *_wait call in the library wait the same way
# (spl_retry_pause): reads and writes.
@test "contention: append, type, label, exists and get wait for a writer that commits within --timeout" {
    busy_store "$TMP/busy.spl" v
    through_hold append busy w
    through_hold type busy text
    through_hold label busy set 3
    through_hold exists busy
    through_hold get busy
    [ "$output" = vw ]
    run -0 --separate-stderr ctl --store "$TMP/busy.spl" type busy
    [ "$output" = text ]
    # held for good: exit 3 after --timeout, for a write and a read
    hold_slot "$TMP/busy.spl" busy "$holder"
    run -3 --separate-stderr ctl --store "$TMP/busy.spl" --timeout 50 append busy x
    [[ "$stderr" == *SPL_EAGAIN* ]]
    run -3 --separate-stderr ctl --store "$TMP/busy.spl" --timeout 50 get busy
    [[ "$stderr" == *SPL_EAGAIN* ]]
    release_slot "$TMP/busy.spl" busy
    [ "$(ctl --store "$TMP/busy.spl" get busy)" = vw ]
}

# A slot held by a live writer that never lets go (a stopped or hostile
# peer): the owner word is forged in a FILE store to name a live `sleep`.
@test "contention: a slot held by a live process is exit 3 after --timeout; once it dies, recovered" {
    busy_store "$TMP/busy.spl" before
    hold_slot "$TMP/busy.spl" busy "$holder"
    run -3 --separate-stderr ctl --store "$TMP/busy.spl" --timeout 50 set busy after
    [[ "$stderr" == *SPL_EAGAIN* ]]
    run -3 --separate-stderr ctl --store "$TMP/busy.spl" --timeout 50 set busy after --json
    [ "$(j .error)" = SPL_EAGAIN ]
    # math too, after --timeout (not the 10 s spl_int would wait)
    t0=$(date +%s%N)
    run -3 --separate-stderr ctl --store "$TMP/busy.spl" --timeout 50 math inc busy
    [[ "$stderr" == *SPL_EAGAIN* ]]
    [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000 ]
    kill "$holder"; wait "$holder" || true
    # the owner is dead: the next writer recovers the slot (the unfinished
    # write frees it) and the set goes through
    run -0 --separate-stderr ctl --store "$TMP/busy.spl" --timeout 1000 set busy after
    [ "$(ctl --store "$TMP/busy.spl" get busy)" = after ]
}
