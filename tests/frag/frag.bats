# splinterctl fragment commands: insmod, lsmod, frag, rmmod, host; refused
# libraries and their exit codes; a crash seen as dead and brought back;
# the DSP fragment by name.  $TFRAG holds the test fragments
# (build/tests/frag), $SPLCTL the splinterctl under test.
load ../cli/common

setup() {
    common_setup
    : "${TFRAG:?set TFRAG to the test fragments folder}"
    ECHO=$TFRAG/frag_echo.so
    # the fragment ABI this tree builds (test fragments declare it)
    ABI=$(sed -n 's/^#define SPL_FRAG_ABI_VERSION \([0-9]*\)u$/\1/p' "$BATS_TEST_DIRNAME/../../include/splinter_fragment.h")
    [ -n "$ABI" ]
}

# Every host this test started goes, whatever happened.
teardown() {
    for st in t d e; do
        for pid in $("$SPLCTL" --store $st lsmod --json 2> /dev/null | jq -r '.host_pid // empty'); do
            kill -9 "$pid" 2> /dev/null || true
        done
    done
    [ -f "$TMP/pids" ] && xargs -r kill -9 2> /dev/null < "$TMP/pids"
    rm -rf "$TMP"
}

# wait_for 'SHELL CONDITION': evaluate it again and again for up to 10 s.
wait_for() {
    for _ in $(seq 1 200); do
        eval "$1" > /dev/null 2>&1 && return 0
        sleep 0.05
    done
    eval "$1"
}

host_pid() {
    ctl lsmod --json | jq -r "select(.name == \"$1\") | .host_pid"
}

gone() {
    ! kill -0 "$1" 2> /dev/null || grep -q ') Z' "/proc/$1/stat" 2> /dev/null
}

@test "insmod PATH starts a host; lsmod; frag COMMAND across processes; rmmod stops it" {
    run -0 --separate-stderr ctl insmod "$ECHO"
    [[ "$output" == "echo: running (host pid "*")" ]]
    pid=$(host_pid echo)
    kill -0 "$pid"
    ctl set in.a hello
    wait_for 'test "$(ctl get echo.in.a)" = hello'
    run -0 --separate-stderr ctl lsmod
    [[ "${lines[0]}" == NAME*STATE*PID*EVENTS*EV/S*LAG*ERRORS*RESYNC* ]]
    [[ "${lines[1]}" == "echo "*running*"$pid"*frag_echo.so ]]
    run -0 --separate-stderr ctl frag echo echo x "y z"
    [ "$output" = '["x","y z"]' ]
    run -0 --separate-stderr ctl frag echo stats
    [ "$(j .events)" -ge 1 ]
    run -0 --separate-stderr ctl frag echo help
    [ "$(j '.commands | map(.name) | index("stats") != null')" = true ]
    run -0 --separate-stderr ctl rmmod echo
    [ "$output" = "echo: removed" ]
    wait_for 'gone "$pid"'
    run -0 --separate-stderr ctl lsmod --json
    [ -z "$output" ]
}

@test "lsmod --json: every field; lsmod NAME; -l" {
    ctl insmod --name mirror "$ECHO" prefix=in. out=echo.
    run -0 --separate-stderr ctl lsmod --json
    [ "$(j .name)" = mirror ]
    [ "$(j .state)" = running ]
    [ "$(j .host_pid)" -gt 0 ]
    [ "$(j '.args | join(" ")')" = "prefix=in. out=echo." ]
    [ "$(j .abi)" = "$ABI" ]
    [ "$(j .version)" = test ]
    [ "$(j '.groups | join(",")')" = 61 ]
    for f in events events_per_s lag errors resyncs restarts heartbeat_age_ms path summary error message; do
        jq -e "has(\"$f\")" <<< "$output" > /dev/null
    done
    run -0 --separate-stderr ctl lsmod mirror -l
    [[ "$output" == *"version test, abi $ABI, restarts 0: mirrors keys (tests)"* ]]
    run -1 --separate-stderr ctl lsmod nosuch
    ctl rmmod mirror
}

@test "refused: newer ABI, no entry point, does not load, not found (exit 2 or 1)" {
    run -2 --separate-stderr ctl insmod "$TFRAG/frag_badabi.so"
    [[ "$stderr" == *"needs fragment ABI $((ABI + 1)); this host has $ABI"*SPL_EABI* ]]
    run -2 --separate-stderr ctl insmod "$TFRAG/frag_nosym.so"
    [[ "$stderr" == *"no symbol spl_fragment_entry"*SPL_ENOSYM* ]]
    run -2 --separate-stderr ctl insmod "$TFRAG/frag_unresolved.so"
    [[ "$stderr" == *"undefined symbol"*SPL_ELOAD* ]]
    echo "not an ELF file" > "$TMP/junk.so"
    run -2 --separate-stderr ctl insmod "$TMP/junk.so"
    [[ "$stderr" == *SPL_ELOAD* ]]
    run -1 --separate-stderr ctl insmod "$TMP/nosuch.so"
    run -1 --separate-stderr ctl insmod nosuchfragment
    [[ "$stderr" == *"no fragment 'nosuchfragment'"* ]]
    run -2 --separate-stderr ctl insmod "Bad_Name"
    run -2 --separate-stderr ctl insmod --json "$TFRAG/frag_badabi.so"
    [ "$(j .error)" = SPL_EABI ]
    [ "$(j .exit)" = 2 ]
    run -0 --separate-stderr ctl lsmod --json
    [ -z "$output" ]
}

@test "refused: the same name twice (exit 4), bad options and a failing start (exit 2)" {
    ctl insmod "$ECHO"
    run -4 --separate-stderr ctl insmod "$ECHO"
    [[ "$stderr" == *"'echo' is already registered (running)"*SPL_EEXIST* ]]
    run -0 --separate-stderr ctl insmod --name echo2 "$ECHO" prefix=other.
    run -2 --separate-stderr ctl insmod --name echo3 "$ECHO" nosuch=1
    [[ "$stderr" == *"unknown option 'nosuch' (options of echo: prefix, out, slow)"* ]]
    run -2 --separate-stderr ctl insmod --name echo3 "$ECHO" prefix=in. out=in.x
    [[ "$stderr" == *"did not start: prefix must be set and out must not start with it"* ]]
    run -2 --separate-stderr ctl insmod "$TFRAG/frag_failstart.so"
    [[ "$stderr" == *"this fragment never starts"* ]]
    [ "$(ctl lsmod --json | jq -r .name | sort | tr '\n' ' ')" = "echo echo2 " ]
    ctl rmmod echo echo2
}

@test "frag: errors of the command, unknown fragment, stopped fragment" {
    ctl insmod "$ECHO"
    run -2 --separate-stderr ctl frag echo nope
    [ "$(j .error)" = "unknown command" ]
    run -2 --separate-stderr ctl frag echo fail
    [ "$(j .error)" = SPL_EINVAL ]
    run -2 --separate-stderr ctl frag echo big
    run -1 --separate-stderr ctl frag nosuch stats
    run -2 --separate-stderr ctl frag echo
    run -0 --separate-stderr ctl frag echo sleep 10
    run -4 --separate-stderr ctl --timeout 100 frag echo sleep 1000
    [[ "$stderr" == *SPL_ETIMEDOUT* ]]
    run -0 --separate-stderr ctl frag echo echo after
    [ "$output" = '["after"]' ]
    ctl rmmod echo
}

@test "a fragment that crashes kills its host only: lsmod says dead; host --restart brings it back and it catches up" {
    ctl insmod "$ECHO"
    ctl insmod --name other "$ECHO" prefix=x. out=y.
    pid=$(host_pid echo)
    other=$(host_pid other)
    ctl set in.a 1
    wait_for 'test "$(ctl get echo.in.a)" = 1'
    run -4 --separate-stderr ctl frag echo crash
    [[ "$stderr" == *SPL_ENOHOST* ]]
    wait_for 'gone "$pid"'
    run -0 --separate-stderr ctl lsmod --json echo
    [ "$(j .state)" = dead ]
    [ "$(ctl lsmod --json other | jq -r .state)" = running ]
    kill -0 "$other"
    ctl set in.a 2          # while it is dead
    ctl set in.b 3
    ctl unset echo.in.a     # a mirror lost meanwhile is made again by the resync
    run -4 --separate-stderr ctl frag echo stats
    run -0 --separate-stderr ctl host --restart --daemonize --log "$TMP/host.log"
    [[ "$output" == "host pid "* ]]
    echo "${output#host pid }" >> "$TMP/pids"
    wait_for 'test "$(ctl lsmod --json echo | jq -r .state)" = running'
    wait_for 'test "$(ctl get echo.in.a)" = 2'
    [ "$(ctl get echo.in.b)" = 3 ]
    [ "$(ctl lsmod --json echo | jq -r .restarts)" = 1 ]
    grep -q 'echo: running' "$TMP/host.log"
    ctl rmmod echo other
}

@test "insmod on a dead fragment registers it again and starts a host" {
    ctl insmod "$ECHO"
    kill -9 "$(host_pid echo)"
    wait_for 'test "$(ctl lsmod --json | jq -r .state)" = dead'
    ctl set in.k v
    run -0 --separate-stderr ctl insmod "$ECHO"
    wait_for 'test "$(ctl get echo.in.k)" = v'
    [ "$(ctl lsmod --json | jq -r .restarts)" = 1 ]
    ctl rmmod echo
}

@test "insmod --attach: a serving host takes it; a stopped host leaves it registered; insmod starts it again" {
    "$SPLCTL" host --log "$TMP/h.log" 3>&- &
    hpid=$!
    echo $hpid >> "$TMP/pids"
    wait_for 'grep -q '\''host up'\'' "$TMP/h.log"'
    run -0 --separate-stderr ctl insmod --attach "$ECHO"
    wait_for 'test "$(ctl lsmod --json | jq -r .host_pid)" = "$hpid"'
    ctl set in.q 1
    wait_for 'test "$(ctl get echo.in.q)" = 1'
    kill -TERM $hpid
    wait $hpid
    run -0 --separate-stderr ctl lsmod --json
    [ "$(j .state)" = registered ]
    [ "$(j .host_pid)" = null ]
    run -0 --separate-stderr ctl insmod "$ECHO"      # registered, nobody runs it: start it
    [[ "$output" == "echo: running"* ]]
    run -0 --separate-stderr ctl rmmod echo
}

@test "DSP by name: derived keys of sensor.* and its commands" {
    ctl init d --slots 256 --key-max 48 --value-size 512 --vec-dim 0 -q
    run -0 --separate-stderr ctl --store d insmod dsp 'glob=sensor.*' window=4 alpha=0.5 filter=none
    [[ "$output" == "dsp: running"* ]]
    for v in 1 2 3 4 5; do
        ctl --store d set sensor.t $v
        wait_for 'test "$(ctl --store d frag dsp get sensor.t | jq -r .count)" = $v'
    done
    [ "$(ctl --store d get dsp.sensor.t.mean)" = 3.5 ]
    [ "$(ctl --store d get dsp.sensor.t.min)" = 2 ]
    [ "$(ctl --store d get dsp.sensor.t.max)" = 5 ]
    [ "$(ctl --store d get dsp.sensor.t.ema)" = 4.0625 ]
    [ "$(ctl --store d get dsp.sensor.t.var)" = 1.25 ]
    [ "$(ctl --store d get dsp.sensor.t.lp)" = 5 ]
    run -0 --separate-stderr ctl --store d frag dsp stats
    [ "$(j .samples)" = 5 ]
    [ "$(j .window)" = 4 ]
    ctl --store d set sensor.bad hello        # not a number: counted, skipped
    wait_for 'test "$(ctl --store d frag dsp stats | jq -r .bad)" = 1'
    ctl --store d unset sensor.t
    wait_for '! ctl --store d exists dsp.sensor.t.state'
    run -2 --separate-stderr ctl --store d insmod --name dsp2 dsp 'glob=x*' window=1000
    [[ "$stderr" == *"window=1000: a number from 1 to 256"* ]]
    run -2 --separate-stderr ctl insmod dsp 'glob=x*'          # 64-byte values: no room for the state
    [[ "$stderr" == *"needs 232-byte values"* ]]
    ctl --store d rmmod dsp
}

@test "embed by name: texts get vectors, search --text finds by meaning, re-embed, stats; refused without vectors" {
    need_embeddings
    ctl init e --slots 256 --value-size 512 --vec-dim 64 -q
    run -0 --separate-stderr ctl --store e insmod embed prefix=doc.
    [[ "$output" == "embed: running"* ]]
    ctl --store e set doc.a "The quick brown fox jumps over the lazy dog"
    ctl --store e set doc.b "How do I reset my password?"
    ctl --store e set doc.c "The central bank raised interest rates"
    wait_for 'test "$(ctl --store e frag embed stats | jq -r .embedded)" = 3'
    run -0 --separate-stderr ctl --store e search --text "reset the password" -k 1
    [[ "$output" == *"	doc.b" ]]
    run -0 --separate-stderr ctl --store e --json search --text "a lazy dog and a fox" -k 1
    [ "$(j .key)" = doc.a ]
    ctl --store e set doc.a "bananas are rich in potassium"
    wait_for 'test "$(ctl --store e frag embed stats | jq -r .embedded)" = 4'
    run -0 --separate-stderr ctl --store e --json search --text "potassium in bananas" -k 1
    [ "$(j .key)" = doc.a ]
    run -0 --separate-stderr ctl --store e frag embed query "interest rates" 1
    [ "$(j '.hits[0].key')" = doc.c ]
    [ "$(j .embedder)" = hash ]
    run -2 --separate-stderr ctl --store e search --text "   "
    ctl --store e rmmod embed
    ctl init e0 --slots 64 --vec-dim 0 -q
    run -2 --separate-stderr ctl --store e0 insmod embed prefix=doc.
    [[ "$stderr" == *"vec_dim 0"* ]]
    run -2 --separate-stderr ctl --store e insmod --name emb2 embed embedder=llama
    [[ "$stderr" == *"llama"* ]]
}
