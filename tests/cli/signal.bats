# splinterctl signal commands: watch (a key, a label, a group; across
# processes), bind, bump; signal counters in info and top.
load common

# bg_watch OUT ARGS...: start `splinterctl watch ARGS` in the background,
# stdout to OUT, and wait (5 s at most) until it has subscribed.
bg_watch() {
    local out=$1
    shift
    "$SPLCTL" watch "$@" > "$out" 2> "$out.err" 3>&- &
    WATCHER=$!
    for _ in $(seq 1 100); do
        grep -q '^watching' "$out.err" 2> /dev/null && return 0
        sleep 0.05
    done
    echo "watch never started" >&2
    cat "$out.err" >&2
    return 1
}

# wait_watch: the watcher's exit code (killed after 5 s).
wait_watch() {
    ( sleep 5; kill "$WATCHER" 2> /dev/null ) 3>&- &
    local guard=$! rc=0
    wait "$WATCHER" || rc=$?
    kill "$guard" 2> /dev/null || true
    return $rc
}

# SIGSTOP the watcher and wait until it is stopped (state T; 5 s at most),
# so that the writes after it happen before it reads anything more.
stop_watcher() {
    kill -STOP "$WATCHER"
    for _ in $(seq 1 100); do
        [ "$(awk '{print $3}' "/proc/$WATCHER/stat")" = T ] && break
        sleep 0.05
    done
    [ "$(awk '{print $3}' "/proc/$WATCHER/stat")" = T ]
}

# The watcher's output ($lines, after `run cat`): exactly k changed, k
# bumped, k deleted.
changed_bumped_deleted() {
    [ "${#lines[@]}" = 3 ]
    [ "$(jq -r '.key + " " + .kind' <<< "${lines[0]}")" = "k changed" ]
    [ "$(jq -r '.key + " " + .kind' <<< "${lines[1]}")" = "k bumped" ]
    [ "$(jq -r '.key + " " + .kind' <<< "${lines[2]}")" = "k deleted" ]
}

@test "watch KEY sees writes, bumps and the delete made by other processes" {
    ctl set k 1
    ctl set other x
    run -0 --separate-stderr ctl watch other --timeout 10   # other: also in group 63
    bg_watch "$TMP/w" k --count 3 --json
    ctl set k 2
    ctl set other y          # another key of the group: not shown
    ctl bump k
    ctl unset k
    wait_watch
    run -0 cat "$TMP/w"
    changed_bumped_deleted
    [ "$(jq -c .groups <<< "${lines[0]}")" = "[63]" ]
    e1=$(jq .epoch <<< "${lines[0]}") e3=$(jq .epoch <<< "${lines[2]}")
    [ "$e3" -gt "$e1" ]
    [ "$(jq .epoch <<< "${lines[1]}")" = "$e1" ]   # a bump does not move the epoch
}

# The same with the watcher held stopped (SIGSTOP) while the other
# processes write, as a busy machine may hold it: it reads the change and
# the bump only after the delete, and must still report them (it lost both,
# waiting for its --count until killed, while the feed could not name a key
# deleted since).
@test "watch KEY: a watcher that reads late still sees the writes before a delete" {
    ctl set k 1
    bg_watch "$TMP/w" k --count 3 --json
    stop_watcher
    ctl set k 2
    ctl bump k
    ctl unset k
    kill -CONT "$WATCHER"
    wait_watch
    run -0 cat "$TMP/w"
    changed_bumped_deleted
}

@test "watch text output: key, kind, epoch tab-separated; --group picks the group" {
    ctl set k 1
    bg_watch "$TMP/w" k --count 1 --group 7
    ctl set k 2
    wait_watch
    [ "$(cat "$TMP/w")" = "$(printf 'k\tchanged\t4')" ]
    grep -q 'watching k (group 7)' "$TMP/w.err"
    run -0 --separate-stderr ctl get k --json
}

@test "watch --label NAME binds the label and sees only keys carrying it" {
    mkdir -p "$HOME/.splinter"
    echo "urgent 5" > "$HOME/.splinter/labels"
    ctl set a 1
    ctl set b 1
    bg_watch "$TMP/w" --label urgent --count 2 --json
    ctl set b 2               # no label: not seen
    ctl label a set urgent    # joins the label: seen
    ctl set a 3               # seen
    wait_watch
    run -0 cat "$TMP/w"
    [ "${#lines[@]}" = 2 ]
    [ "$(jq -r .key <<< "${lines[0]}")" = a ]
    [ "$(jq -r .key <<< "${lines[1]}")" = a ]
    run -0 --separate-stderr ctl bind urgent --json
    [ "$(j .groups[0])" = 63 ]
}

@test "watch --group G: signals without a key" {
    bg_watch "$TMP/w" --group 9 --count 1 --json
    ctl bump --group 9
    wait_watch
    [ "$(jq -c '[.key, .kind, .groups]' "$TMP/w")" = '[null,"signal",[9]]' ]
}

@test "watch: a lapped feed says 'events lost, rescan' and goes on" {
    bg_watch "$TMP/w" --group 11 --count 1 --json --timeout 5000
    kill -STOP "$WATCHER"
    for i in $(seq 1 1100); do echo "bump --group 11"; done | "$SPLCTL" > /dev/null
    kill -CONT "$WATCHER"
    sleep 0.3
    ctl bump --group 11
    wait_watch
    run -0 cat "$TMP/w"
    [ "$(jq -r .kind <<< "${lines[0]}")" = overflow ]
    [ "$(jq -r .message <<< "${lines[0]}")" = "events lost, rescan" ]
    [ "$(jq -r .kind <<< "${lines[-1]}")" = signal ]
}

# lost_run STORE OUT WATCH-ARGS...: in a new 4-slot STORE, watch k (--count
# 1) while k is changed, deleted and its slot taken by another key, with
# the watcher held stopped (SIGSTOP) so that it reads the two changes only
# afterwards; once it has read them, k comes back and changes.
lost_run() {
    local store=$1 out=$2
    shift 2
    ctl init "$store" --slots 4 --key-max 16 --value-size 64 --vec-dim 0 -q
    export SPLINTER_STORE=$store
    ctl set k 1
    bg_watch "$out" k --count 1 "$@"
    stop_watcher
    ctl set k 2
    ctl unset k
    for x in a b c d; do ctl set $x 1; done   # 4 slots: one takes k's
    kill -CONT "$WATCHER"
    # it has read both (5 s at most) before k comes back: a k back in its
    # old slot would name them
    for _ in $(seq 1 100); do
        [ "$(cat "$out" "$out.err" | grep -c unknown)" = 2 ] && break
        sleep 0.05
    done
    ctl unset a
    ctl set k 3
    ctl watch k --timeout 10 2> /dev/null     # the delete dropped k's watch
    ctl set k 4
    wait_watch
}

# A change the feed can no longer name (SPL_EV_UNKNOWN: its slot was taken
# by another key before the watcher read it) may have been the watched
# key's: watch KEY says events were lost (it used to skip them without a
# word): with --json the event as --group shows it plus a message, in text
# a line on stderr; neither counts towards --count.
@test "watch KEY: a change whose key is no longer known says 'events lost'" {
    lost_run u "$TMP/w" --json
    run -0 cat "$TMP/w"
    [ "${#lines[@]}" = 3 ]
    [ "$(jq -c '[.key, .kind, .groups]' <<< "${lines[0]}")" = '[null,"unknown",[63]]' ]
    [ "$(jq -r .message <<< "${lines[0]}")" = "events lost (a change's key is no longer known), rescan" ]
    [ "$(jq -r .kind <<< "${lines[1]}")" = unknown ]
    [ "$(jq -r '.key + " " + .kind' <<< "${lines[2]}")" = "k changed" ]
    lost_run v "$TMP/t"
    [ "$(cut -f1,2 "$TMP/t")" = "$(printf 'k\tchanged')" ]
    [ "$(grep -c "^splinterctl: watch: events lost (a change's key is no longer known), rescan$" "$TMP/t.err")" = 2 ]
}

@test "watch: --timeout ends it (1 if --count changes did not come), bad input" {
    ctl set k 1
    run -1 --separate-stderr ctl watch k --count 1 --timeout 100
    [ -z "$output" ]
    run -0 --separate-stderr ctl watch k --timeout 100
    run -1 --separate-stderr ctl watch nope --timeout 100 --json
    [ "$(j .error)" = SPL_ENOENT ]
    run -2 --separate-stderr ctl watch k --group 64
    [[ "$stderr" == *"unknown group '64'"* ]]
    run -2 --separate-stderr ctl watch k --group x
    run -2 --separate-stderr ctl watch
    run -2 --separate-stderr ctl watch k --count 0
    run -2 --separate-stderr ctl watch k --label 3
    run -2 --separate-stderr ctl watch --label 0x3
    run -2 --separate-stderr ctl watch --label nosuchname
    run -2 --separate-stderr ctl watch 0123456789abcdefX --timeout 100
    # the retry timeout of the next command is not the watch's
    run -0 --separate-stderr bash -c 'printf "watch k --timeout 50\nget k\n" | "$SPLCTL" 2>/dev/null'
}

@test "bind: label to groups, show, list, clear; bad input" {
    mkdir -p "$HOME/.splinter"
    echo "hot 2" > "$HOME/.splinter/labels"
    run -0 --separate-stderr ctl bind hot 3 4
    [ -z "$output" ]
    run -0 --separate-stderr ctl bind 7 1 --json
    [ "$(j .label)" = 7 ]
    run -0 --separate-stderr ctl bind
    [ "$output" = "$(printf 'hot (2)\t3,4\n7\t1')" ]
    run -0 --separate-stderr ctl bind --json
    [ "$(jq -sc '[.[] | [.bit, .groups]]' <<< "$output")" = '[[2,[3,4]],[7,[1]]]' ]
    run -0 --separate-stderr ctl bind hot --clear 4 --json
    [ "$(jq -c .groups <<< "$output")" = '[3]' ]
    run -0 --separate-stderr ctl bind --clear 7
    run -0 --separate-stderr ctl bind 7
    [ "$output" = "$(printf '7\t-')" ]
    run -2 --separate-stderr ctl bind hot 64 --json
    [ "$(j .error)" = USAGE ]
    run -2 --separate-stderr ctl bind 64 1
    run -2 --separate-stderr ctl bind nosuch 1
    run -2 --separate-stderr ctl bind 0x6 1
    run -2 --separate-stderr ctl bind --clear
}

@test "bump: a key's groups or groups directly; missing key 1; bad group 2" {
    ctl set k v
    run -0 --separate-stderr ctl bump k --json
    [ "$(j .op)" = bump ]
    [ "$(j .key)" = k ]
    run -0 --separate-stderr ctl bump --group 1 --group 2 --json
    [ "$(jq -c .groups <<< "$output")" = "[1,2]" ]
    run -1 --separate-stderr ctl bump nope --json
    [ "$(j .error)" = SPL_ENOENT ]
    run -2 --separate-stderr ctl bump --group 64
    run -2 --separate-stderr ctl bump
    run -2 --separate-stderr ctl bump k --group 1
    [ "$(ctl get k --json | jq .epoch)" = 2 ]     # bumps do not write
}

@test "info: pulses of followed groups, the change counter, the SIMD path" {
    ctl set k v
    run -0 --separate-stderr ctl info --json
    [ "$(jq -c .signals.pulses <<< "$output")" = "{}" ]
    bg_watch "$TMP/w" --group 9 --count 2
    ctl bump --group 9
    ctl bump --group 9
    ctl bump --group 10       # nobody follows 10: not counted
    wait_watch
    run -0 --separate-stderr ctl info --json
    [ "$(j '.signals.pulses["9"]')" = 2 ]
    [ "$(j '.signals.pulses | has("10")')" = false ]
    [ "$(j .signals.changes)" = 1 ]
    [ -n "$(j .build.simd)" ]
    run -0 --separate-stderr ctl info
    [[ "$output" == *"signals     pulses g9=2"* ]]
    [[ "$output" == *"simd "* ]]
}

@test "top counts the pulses per second of every group while it runs" {
    ( for i in $(seq 1 300); do echo "bump --group 12"; done | "$SPLCTL" > /dev/null ) 3>&- &
    writer=$!
    run -0 --separate-stderr ctl top --once --interval 300 --json
    wait $writer
    [ "$(j '.pulses_per_s["12"] > 0')" = true ]
    run -0 --separate-stderr ctl top --once --interval 50
    [[ "$output" == *"pulses/s "* ]]
}
