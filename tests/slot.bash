# Slot forging for the shell tests (sourced by tests/cli/common.bash and
# tests/mirror/lib.sh); needs perl and a FILE store.
#
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
