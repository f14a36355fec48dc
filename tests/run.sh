#!/usr/bin/env bash
# tests/run.sh GROUP CMD...  - run each CMD (a word-split command line) under
# a timeout; print one line per test (and its "SKIP ..." lines) and
# "GROUP: N passed, N failed".
# $VG, if set, prefixes each command (valgrind).  $TEST_TIMEOUT (s, default 300).
set -u
group=$1; shift
pass=0; fail=0; failed=()
for cmd in "$@"; do
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    timeout -k 5 "${TEST_TIMEOUT:-300}" ${VG:-} $cmd > "/tmp/spl-test.$$.log" 2>&1
    rc=$?
    dur=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); echo "ok   $cmd (${dur} ms)"
        # skipped cases say why on a line of their own ("SKIP name: reason")
        grep -E '^SKIP ' "/tmp/spl-test.$$.log" | sed 's/^/     /'
    else
        fail=$((fail + 1)); failed+=("$cmd"); echo "FAIL $cmd (rc=$rc, ${dur} ms)"
        sed 's/^/    | /' "/tmp/spl-test.$$.log" | tail -n 60
    fi
done
rm -f "/tmp/spl-test.$$.log"
echo "$group: $pass passed, $fail failed"
[ -n "${SPL_SUMMARY:-}" ] && echo "$pass $fail" >> "$SPL_SUMMARY"
[ $fail -eq 0 ]
