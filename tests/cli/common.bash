# Shared setup for the splinterctl bats files: a private SHM directory and
# HOME in a temporary folder (removed afterwards), and a small store "t"
# (64 slots, 16-byte keys, 64-byte values).  $SPLCTL is the binary under
# test (the Makefile sets it).  Tests use bats' `run -N --separate-stderr`:
# the exit code is checked exactly, $output is stdout, $stderr the rest.

bats_require_minimum_version 1.5.0

common_setup() {
    : "${SPLCTL:?set SPLCTL to the splinterctl binary}"
    TMP=$(mktemp -d)
    export SPLINTER_SHM_DIR=$TMP/shm HOME=$TMP/home SPLINTER_STORE=t
    mkdir -p "$HOME"
    "$SPLCTL" init t --slots 64 --key-max 16 --value-size 64 --vec-dim 0 -q
}

setup() {
    common_setup
}

teardown() {
    # a test may leave background helpers' pids in $TMP/pids: stop them
    [ -f "$TMP/pids" ] && xargs -r kill 2> /dev/null < "$TMP/pids"
    rm -rf "$TMP"
}

# need_embeddings: skip the calling test (or, from setup, every test of the
# file) where $SPLCTL was built without embeddings (WITH_EMBEDDINGS=0: no
# vector storage); bats shows it as "# skip" with the reason and
# tests/cli/run.sh counts it apart.  A build with embeddings runs it.
need_embeddings() {
    if "$SPLCTL" --version | grep -q 'embeddings off'; then
        skip "this build has no embeddings (WITH_EMBEDDINGS=0)"
    fi
}

ctl() {
    "$SPLCTL" "$@"
}

# j FILTER: jq -r over $output (fails on invalid JSON).
j() {
    jq -er "$1" <<< "$output"
}

# busy_store FILE VALUE [SET OPTIONS]: a FILE store (16 slots, 16-byte keys)
# whose key "busy" holds VALUE, and a live process $holder (a sleep that
# teardown stops) for hold_slot to name as its writer.
busy_store() {
    local file=$1
    shift
    ctl init "$file" --slots 16 --key-max 16 --value-size 64 --vec-dim 0 -q
    ctl --store "$file" set busy "$@"
    sleep 30 &
    holder=$!
    echo "$holder" >> "$TMP/pids"
}

# hold_slot, release_slot: tests/slot.bash
. "${BASH_SOURCE[0]%/*}/../slot.bash"
