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

# hold_slot FILE KEY PID: forge KEY's slot in the FILE store as held by the
# live process PID in the middle of a write (odd epoch, owner PID and its
# start time), as a stopped or hostile peer would leave it.
# release_slot FILE KEY: end that write (epoch even again, no owner), as
# the writer's commit would, the value unchanged.
# KEY must be 16 bytes or less (it is looked for at the slot's key offset).
hold_slot() {
    forge_slot "$1" "$2" hold "$3" "$(awk '{print $22}' "/proc/$3/stat")"
}

release_slot() {
    forge_slot "$1" "$2" release 0 0
}

forge_slot() {
    perl -e '
        my ($path, $key, $how, $pid, $start) = @ARGV;
        open(my $f, "+<:raw", $path) or die "open: $!";
        sysread($f, my $h, 4096) == 4096 or die "header";
        my ($slots, $stride) = (unpack("V", substr($h, 32, 4)), unpack("V", substr($h, 48, 4)));
        my $off = unpack("Q<", substr($h, 72, 8));
        for my $i (0 .. $slots - 1) {
            my $at = $off + $i * $stride;
            sysseek($f, $at, 0); sysread($f, my $m, 80);
            next unless unpack("V", substr($m, 16, 4)) == length($key) && substr($m, 64, length($key)) eq $key;
            my ($epoch, $owner) = (unpack("Q<", substr($m, 0, 8)), 0);
            if ($how eq "hold") {
                $epoch |= 1;                                # a write in progress
                $owner = ($pid << 32) | ($start & 0xffffffff);  # pid << 32 | start time
            } else {
                $epoch & 1 or die "not held";
                $epoch += 1;                                # the commit
            }
            sysseek($f, $at, 0); syswrite($f, pack("Q<Q<", $epoch, $owner)) == 16 or die "write";
            exit 0;
        }
        die "key not found";
    ' "$@"
}
