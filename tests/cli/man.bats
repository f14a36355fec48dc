# docs/splinterctl.1 matches the code: every command, alias and option of
# the command table is documented, and every documented command exists.
load common

MAN="$BATS_TEST_DIRNAME/../../docs/splinterctl.1"

@test "man page documents every command, alias and option of the table" {
    [ -f "$MAN" ]
    run -0 --separate-stderr ctl help --json
    for name in $(j '.commands[] | .name, (.alias // empty)'); do
        grep -qE "fB$name\\\\fR|^\\.B $name\$" "$MAN" || { echo "not in man: $name"; false; }
    done
    for opt in $(j '.commands[].help' | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
        grep -qF -- "${opt//-/\\-}" "$MAN" || { echo "option not in man: $opt"; false; }
    done
    for opt in store json quiet labels timeout help version; do
        grep -qF -- "\\-\\-$opt" "$MAN" || { echo "global option not in man: $opt"; false; }
    done
}

@test "every command in the man page exists (lua only with WITH_LUA=1)" {
    documented=$(sed -n '/^\.SH COMMANDS/,/^\.SH EXIT/p' "$MAN" | grep -A1 '^\.TP' |
                 grep -oE '^\\fB[a-z]+\\fR|^\.B [a-z]+$' | sed -E 's/^\\fB//; s/\\fR$//; s/^\.B //' | sort -u)
    [ -n "$documented" ]
    for name in $documented; do
        if [ "$name" = lua ] && [ "${WITH_LUA:-0}" != 1 ]; then continue; fi
        run -0 --separate-stderr ctl help "$name"
    done
}

@test "man page and help list the same exit codes" {
    run -0 --separate-stderr ctl help --json
    for code in $(j '.exit_codes[]'); do
        grep -qx "\\.B $code" "$MAN" || { echo "exit $code not in man"; false; }
    done
    run -0 --separate-stderr ctl --help
    [[ "$output" == *"0 success, 1 not found, 2 usage error"*"3 contention"*"4 store error"* ]]
}
