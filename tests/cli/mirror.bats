# splinterctl mirror: its help, and a build without the NATS mirror (no
# WITH_NATS=1): it runs the splinter-mirror beside splinterctl with the same
# arguments (the current store added when none is named), and with none
# there exits 2 saying how to get it.  The mirror itself (WITH_NATS=1) is
# tested against a real server by tests/mirror/cli.sh (make test-mirror).
load common

nats_build() { ldd "$SPLCTL" 2> /dev/null | grep -q libnats; }

@test "mirror --help documents its main options" {
    run -0 --separate-stderr ctl help mirror
    [[ "$output" == *"--to URL"* && "$output" == *"--from URL"* && "$output" == *"--bucket B"* ]]
}

@test "mirror without WITH_NATS and no splinter-mirror beside it: exit 2, says how to get it" {
    nats_build && skip "this splinterctl has the mirror (WITH_NATS=1)"
    mkdir "$TMP/bin" && cp "$SPLCTL" "$TMP/bin/splinterctl"
    run -2 --separate-stderr "$TMP/bin/splinterctl" mirror t --to nats://127.0.0.1:1 --bucket b
    [[ "$stderr" == *"without the NATS mirror"* && "$stderr" == *"make WITH_NATS=1"* ]]
}

@test "mirror without WITH_NATS runs the splinter-mirror beside it (arguments, store, exit status)" {
    nats_build && skip "this splinterctl has the mirror (WITH_NATS=1)"
    mkdir "$TMP/bin" && cp "$SPLCTL" "$TMP/bin/splinterctl"
    printf '#!/bin/sh\necho "args: $*"\nexit 3\n' > "$TMP/bin/splinter-mirror"
    chmod +x "$TMP/bin/splinter-mirror"
    run -3 --separate-stderr "$TMP/bin/splinterctl" mirror s1 --to nats://h:1 --bucket b
    [ "$output" = "args: s1 --to nats://h:1 --bucket b" ]
    # no store named: the current one (--store) is added
    run -3 --separate-stderr "$TMP/bin/splinterctl" --store s2 mirror --bucket b --to nats://h:1
    [ "$output" = "args: --bucket b --to nats://h:1 s2" ]
    # SPLINTER_STORE counts as the current store too
    run -3 --separate-stderr "$TMP/bin/splinterctl" mirror --from=nats://h:1 --bucket b
    [ "$output" = "args: --from=nats://h:1 --bucket b t" ]
}
