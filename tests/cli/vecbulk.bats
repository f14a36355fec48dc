# splinterctl bulk vectors: import --raw/--vectors (spl_vec_set_many), the
# progress bar on a terminal, search --queries (spl_vec_search_many), init
# --cells and SPL_ENOCELL, and the memory and probe figures of info.
load common

# the current store is "v", with 4-dimension vectors
setup() {
    common_setup
    need_embeddings
    export SPLINTER_STORE=v
    "$SPLCTL" init v --slots 64 --key-max 16 --value-size 64 --vec-dim 4 -q
}

# raw FILE, N vectors: vector i is [i, i+0.5, -i, 1/(i+1)] (float32 LE)
mkraw() {
    python3 -c '
import struct, sys
n = int(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    for i in range(n):
        f.write(struct.pack("<4f", i, i + 0.5, -i, 1.0 / (i + 1)))' "$1" "$2"
}

@test "import --raw --keys: every vector in, bit for bit, values kept; --json count" {
    mkraw "$TMP/r" 20
    seq -f 'k%02g' 0 19 > "$TMP/keys"
    ctl set k03 keep
    run -0 --separate-stderr ctl import --raw "$TMP/r" --keys "$TMP/keys" --json
    [ "$(j .imported)" = 20 ]
    [ -z "$stderr" ]                            # no progress bar: not a terminal
    [ "$(ctl vector get k07)" = "[7.0,7.5,-7.0,0.125]" ]
    [ "$(ctl get k03)" = keep ]                 # a value stays
    [ "$(ctl get k05 --json | jq -r .type)" = void ]   # a new key: empty
    run -0 --separate-stderr ctl import --raw "$TMP/r" --keys "$TMP/keys" --batch 3
    [ "$output" = "imported 20 vectors" ]
    [ "$(ctl vector get k19)" = "[19.0,19.5,-19.0,0.05]" ]
}

@test "import --raw: counts that do not match, bad keys, bad options are exit 2" {
    mkraw "$TMP/r" 5
    seq -f 'k%g' 1 4 > "$TMP/k4"
    seq -f 'k%g' 1 6 > "$TMP/k6"
    run -2 --separate-stderr ctl import --raw "$TMP/r" --keys "$TMP/k4"
    [[ "$stderr" == *"5"*"4 keys"* || "$stderr" == *"4 keys"* ]]
    run -2 --separate-stderr ctl import --raw "$TMP/r" --keys "$TMP/k6"
    run -1 --separate-stderr ctl exists k1      # a bad file writes nothing
    head -c 70 "$TMP/r" > "$TMP/short"          # not a whole number of vectors
    run -2 --separate-stderr ctl import --raw "$TMP/short" --keys "$TMP/k4"
    # from a pipe (no size to check first): the shortfall is found at the end
    run -2 --separate-stderr bash -c 'cat "$1" | "$SPLCTL" import --raw - --keys "$0"' "$TMP/k6" "$TMP/r"
    [[ "$stderr" == *"after 5 vectors"* ]]
    run -0 --separate-stderr ctl exists k5      # the vectors before it are in
    printf 'a\n\nb\n' > "$TMP/kempty"
    mkraw "$TMP/r3" 3
    run -2 --separate-stderr ctl import --raw "$TMP/r3" --keys "$TMP/kempty"
    [[ "$stderr" == *"line 2"* ]]
    run -2 --separate-stderr ctl import --raw "$TMP/r"
    run -2 --separate-stderr ctl import --keys "$TMP/k4"
    run -2 --separate-stderr ctl import --raw "$TMP/r" --keys "$TMP/k4" --batch 0
    run -2 --separate-stderr ctl import --raw "$TMP/r" --keys "$TMP/k4" --vectors
    run -2 --separate-stderr ctl --store t import --raw "$TMP/r" --keys "$TMP/k4" --json
    [ "$(j .error)" = SPL_ENOTSUP ]
    run -2 --separate-stderr ctl import --raw "$TMP/nonexistent" --keys "$TMP/k4"
}

@test "import --vectors: JSON Lines of vectors, the same bits as import; errors name the line" {
    printf '%s\n' \
        '{"key":"a","vector":[0.1,-2.5,3,1e-45]}' \
        '{"note":"a \"vector\": [9] in a string","key":"b","vector":[ 1.5 , 2 ,-0.0,3.4028235e38 ]}' \
        '{"key_base64":"Yw==","vector":[16777217,0.33333334,1e-7,-0]}' > "$TMP/v"
    run -0 --separate-stderr ctl import --vectors "$TMP/v"
    [ "$output" = "imported 3 vectors" ]
    ctl init w --slots 64 --key-max 16 --value-size 64 --vec-dim 4 -q
    ctl --store w import "$TMP/v" -q              # the JSON Lines import, through jansson
    for k in a b c; do
        [ "$(ctl vector get $k)" = "$(ctl --store w vector get $k)" ] || { echo "differs: $k"; false; }
    done
    [ "$(ctl vector get b)" = "[1.5,2.0,-0.0,3.4028235e38]" ]
    # an export goes back in (its header line is skipped)
    ctl export > "$TMP/e"
    ctl init x --slots 64 --key-max 16 --value-size 64 --vec-dim 4 -q
    run -0 --separate-stderr ctl --store x import --vectors "$TMP/e" --json
    [ "$(j .imported)" = 3 ]
    # bad lines: exit 2 with the line; the lines before are in
    printf '{"key":"ok","vector":[1,2,3,4]}\n{"key":"bad","vector":[1,2,3]}\n' > "$TMP/b1"
    run -2 --separate-stderr ctl import --vectors "$TMP/b1" --json
    [ "$(j .error)" = SPL_EDIM ]
    [[ "$(j .message)" == "line 2:"* ]]
    [ "$(ctl vector get ok)" = "[1.0,2.0,3.0,4.0]" ]
    run -1 --separate-stderr ctl exists bad
    for line in '{"key":"n","vector":[1,2,3,1e39]}' '{"key":"n","vector":[1,2,3,nan]}' \
                '{"key":"n","vector":[1,2,3,+4]}' '{"key":"n","vector":[1,2,3,"4"]}' \
                '{"key":"n","vector":[1,2,3,.5]}' '{"key":"n"}' '{"vector":[1,2,3,4]}' \
                '{"key":"n","vector":[1,2,3,4]' '{"key":"n","vector":{"a":[1,2,3,4]}}'; do
        run -2 --separate-stderr bash -c 'echo "$0" | "$SPLCTL" import --vectors' "$line"
        [ -n "$stderr" ] || { echo "no message for $line"; false; }
    done
    run -1 --separate-stderr ctl exists n
}

# JSON Lines of N lines over K keys (line i: key "k(i % K)", vector
# [i, i/3, -i, 1e-3 * i] with %.9g); later lines of a key win
mkjsonl() {
    python3 -c '
import sys
n, k = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    print("{\"key\":\"k%d\",\"vector\":[%.9g,%.9g,%.9g,%.9g]}" % (i % k, i, i / 3, -i, 1e-3 * i))' "$1" "$2"
}

@test "import --vectors: several chunks, every --threads count, the same store; the last line of a key wins" {
    mkjsonl 40000 50 > "$TMP/many"               # about 2.4 MB: 3 chunks of 1 MiB
    for t in 0 1 3; do
        ctl init "t$t" --slots 64 --key-max 16 --value-size 64 --vec-dim 4 -q
        run -0 --separate-stderr ctl --store "t$t" import --vectors "$TMP/many" --threads $t --batch 7 --json
        [ "$(j .imported)" = 40000 ]
    done
    for t in 1 3; do
        [ "$(ctl --store t0 export | sort)" = "$(ctl --store "t$t" export | sort)" ] || { echo "threads $t differ"; false; }
    done
    # k7's last line is 39957: [39957, 13319, -39957, 39.957]
    [ "$(ctl --store t3 vector get k7)" = "[39957.0,13319.0,-39957.0,39.957]" ]
    # the plain import reads the same numbers to the same bits
    ctl init p --slots 64 --key-max 16 --value-size 64 --vec-dim 4 -q
    tail -n 50 "$TMP/many" | ctl --store p import -q
    for k in k0 k7 k49; do
        [ "$(ctl --store p vector get $k)" = "$(ctl --store t0 vector get $k)" ] || { echo "differs: $k"; false; }
    done
    run -2 --separate-stderr ctl import --vectors "$TMP/many" --threads 65
    run -2 --separate-stderr ctl import --vectors "$TMP/many" --threads x
}

@test "import --vectors: a bad line in a later chunk names its line; the lines before are in, none after" {
    mkjsonl 30000 30000 > "$TMP/m"
    ctl init big --slots 40000 --key-max 16 --value-size 8 --vec-dim 4 -q
    for t in 0 2; do
        for bad in '{"key":"x","vector":[1,2,3]}' '{"key":"x","vector":[1,2,3,1e39]}' \
                   '{"key":"x","vector":[1,2,3,4],"vector":[1,2,3,4]}' '{"key":"x","vector":[1,2,3,4]'; do
            ctl --store big destroy -q
            ctl init big --slots 40000 --key-max 16 --value-size 8 --vec-dim 4 -q
            { head -n 25000 "$TMP/m"; echo "$bad"; tail -n +25001 "$TMP/m"; } > "$TMP/b"
            run -2 --separate-stderr ctl --store big import --vectors "$TMP/b" --threads $t --json
            [[ "$(j .message)" == "line 25001:"* ]] || { echo "$bad: $(j .message)"; false; }
            [ "$(ctl --store big vector get k24999)" = "[24999.0,8333.0,-24999.0,24.999]" ]
            run -1 --separate-stderr ctl --store big exists k25000
        done
    done
    # a NUL byte, with its line; CRLF line ends and a last line without one are fine
    ctl --store big destroy -q
    ctl init big --slots 40000 --key-max 16 --value-size 8 --vec-dim 4 -q
    printf '{"key":"a","vector":[1,2,3,4]}\n{"key":"b\0","vector":[1,2,3,4]}\n' > "$TMP/nul"
    run -2 --separate-stderr ctl --store big import --vectors "$TMP/nul" --json
    [ "$(j .error)" = BAD_JSON ]
    [[ "$(j .message)" == "line 2: contains a NUL byte"* ]]
    printf '{"key":"c","vector":[1,2,3,4]}\r\n\r\n{"key":"d", "vector" : [ 5 ,6,7,8 ] }' > "$TMP/crlf"
    run -0 --separate-stderr ctl --store big import --vectors "$TMP/crlf"
    [ "$output" = "imported 2 vectors" ]
    [ "$(ctl --store big vector get d)" = "[5.0,6.0,7.0,8.0]" ]
}

@test "import, import --vectors and vector set round a number once, as strtof does" {
    # 7.5493688304950127e-29 lies so near the midpoint of two float32 that
    # reading it as a double first lands on the midpoint (and rounds to the
    # even one, below); strtof gives the one above, whose exact value is
    # 7.549369131421566483...e-29
    printf '{"key":"a","vector":[7.5493688304950127e-29,1,-0,0]}\n' > "$TMP/mid"
    ctl import --vectors "$TMP/mid" -q
    ctl init w --slots 64 --key-max 16 --value-size 64 --vec-dim 4 -q
    ctl --store w import "$TMP/mid" -q
    ctl vector set b '[7.5493688304950127e-29, 1, -0, 0]'
    ctl vector set above '[7.5493691314215665e-29, 1, -0, 0]'   # exactly that float32
    ctl vector set below '[7.5493685295684589e-29, 1, -0, 0]'   # the double-rounded one
    [ "$(ctl vector get a)" = "$(ctl vector get above)" ]
    [ "$(ctl --store w vector get a)" = "$(ctl vector get above)" ]
    [ "$(ctl vector get b)" = "$(ctl vector get above)" ]
    [ "$(ctl vector get a)" != "$(ctl vector get below)" ]
}

@test "import: a progress bar on a terminal's stderr, none in a pipe" {
    ctl init big --slots 400 --key-max 16 --value-size 8 --vec-dim 4 -q
    export SPLINTER_STORE=big
    mkraw "$TMP/r" 300
    seq -f 'p%g' 1 300 > "$TMP/keys"
    script -qec "\"$SPLCTL\" import --raw $TMP/r --keys $TMP/keys --batch 50 2>&1 >/dev/null" /dev/null > "$TMP/tty"
    grep -q 'import \[#' "$TMP/tty"
    grep -q '300 vectors of 300 100%' "$TMP/tty"
    run -0 --separate-stderr ctl import --raw "$TMP/r" --keys "$TMP/keys" --batch 50
    [ -z "$stderr" ]
}

@test "search --queries: JSON Lines in one pass, the same hits as one by one" {
    ctl vector set a '[1,0,0,0]'
    ctl vector set b '[0,1,0,0]'
    ctl vector set c '[0.9,0.1,0,0]'
    printf '%s\n' '[1,0,0,0]' '' '{"vector":[0,1,0,0]}' '{"key":"a"}' > "$TMP/q"
    run -0 --separate-stderr ctl search --queries "$TMP/q" -k 2
    [ "${lines[0]}" = "0	1.000000	a" ]
    [ "${lines[1]}" = "0	0.993884	c" ]
    [ "${lines[2]}" = "1	1.000000	b" ]
    [ "${lines[4]}" = "2	0.993884	c" ]      # by key: a itself is left out
    [ "$(printf '%s\n' "${lines[@]}" | grep -c '^2	')" = 2 ]
    one=$(ctl search --vector '[0,1,0,0]' -k 2 --json | jq -c '[.key, .score, .slot]')
    many=$(ctl search --queries - -k 2 --json < "$TMP/q" | jq -c 'select(.query == 1) | [.key, .score, .slot]')
    [ "$one" = "$many" ]
    run -0 --separate-stderr ctl search --queries "$TMP/q" -k 1 --json
    [ "$(jq -sr 'map(.query)|join(",")' <<< "$output")" = "0,1,2" ]
    [ "$(jq -sr '.[0].slot | type' <<< "$output")" = number ]
    # the options apply to every query
    ctl label a set 3
    run -0 --separate-stderr ctl search --queries "$TMP/q" -k 5 --label 3
    [ "$(printf '%s\n' "${lines[@]}" | cut -f3 | sort -u)" = a ]
    # errors: the line of a bad query
    printf '[1,0,0,0]\n[1,0]\n' > "$TMP/b1"
    run -2 --separate-stderr ctl search --queries "$TMP/b1" --json
    [ "$(j .error)" = SPL_EDIM ]
    [[ "$(j .message)" == "line 2:"* ]]
    printf '[1,0,0,0]\n{"key":"nope"}\n' > "$TMP/b2"
    run -1 --separate-stderr ctl search --queries "$TMP/b2"
    [[ "$stderr" == *"line 2"*SPL_ENOENT* ]]
    run -2 --separate-stderr bash -c 'echo "\"x\"" | "$SPLCTL" search --queries -'
    run -2 --separate-stderr ctl search --queries "$TMP/q" --key a
}

@test "init --cells: a smaller arena; a new vector past it is SPL_ENOCELL (exit 4), a rewrite works" {
    run -0 --separate-stderr ctl init s --slots 32 --key-max 16 --value-size 64 --vec-dim 4 --cells 2 --json
    [ "$(j .cells)" = 2 ]
    ctl --store s vector set a '[1,2,3,4]'
    ctl --store s vector set b '[1,2,3,4]'
    run -4 --separate-stderr ctl --store s vector set c '[1,2,3,4]' --json
    [ "$(j .error)" = SPL_ENOCELL ]
    run -1 --separate-stderr ctl --store s exists c
    ctl --store s vector set a '[4,3,2,1]'         # in place
    [ "$(ctl --store s vector get a)" = "[4.0,3.0,2.0,1.0]" ]
    printf '{"key":"c","vector":[1,1,1,1]}\n' > "$TMP/c"
    run -4 --separate-stderr ctl --store s import --vectors "$TMP/c" --json
    [ "$(j .error)" = SPL_ENOCELL ]
    [[ "$(j .message)" == "line 1 (key c)"* ]]
    ctl --store s vector clear b
    ctl --store s import --vectors "$TMP/c" -q
    run -2 --separate-stderr ctl init s2 --slots 32 --vec-dim 4 --cells 33
    run -2 --separate-stderr ctl init s3 --slots 32 --vec-dim 0 --cells 1
}

@test "info: mapped and resident memory, cells, probes against probe_max" {
    ctl vector set a '[1,2,3,4]'
    run -0 --separate-stderr ctl info --json
    [ "$(j .cells)" = 64 ]
    [ "$(j .cells_used)" = 1 ]
    [ "$(j .probe_max)" -ge "$(j .probe_longest)" ]
    [ "$(j .resident_bytes)" -gt 0 ]
    [ "$(j .resident_bytes)" -le "$(j .region_bytes)" ]
    run -0 --separate-stderr ctl info
    [[ "$output" == *"bytes mapped, "*" resident ("* ]]
    [[ "$output" == *"64 cells, 1 holding a vector, 1 used so far"*"resident bytes per vector"* ]]
    [[ "$output" == *"probes      longest 0 of at most "* ]]
}
