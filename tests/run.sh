#!/usr/bin/env bash
# tests/run.sh GROUP CMD...  - run each CMD (a word-split command line) under
# a timeout; print one line per test (and its "SKIP ..." lines) and
# "GROUP: N passed, N failed" (and ", N skipped" when some were).  $VG, if
# set, prefixes each command (valgrind).  $TEST_TIMEOUT (s, default 300).
# Exit status 77 (MP_SKIP in tests/mp/mp_common.h) means "skipped":
# the test does not apply to this build (a WITH_EMBEDDINGS=0 build has no
# vectors); it is shown with the test's own reason and counted apart, as
# neither a pass nor a failure.
set -u
group=$1; shift
pass=0; fail=0; skip=0; failed=()
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
    elif [ $rc -eq 77 ]; then
        skip=$((skip + 1))
        why=$(grep -m1 -i 'skip' "/tmp/spl-test.$$.log")
        echo "skip $cmd (${why:-exit 77})"
    else
        fail=$((fail + 1)); failed+=("$cmd"); echo "FAIL $cmd (rc=$rc, ${dur} ms)"
        sed 's/^/    | /' "/tmp/spl-test.$$.log" | tail -n 60
    fi
done
rm -f "/tmp/spl-test.$$.log"
echo "$group: $pass passed, $fail failed$([ $skip -gt 0 ] && echo ", $skip skipped")"
[ -n "${SPL_SUMMARY:-}" ] && echo "$pass $fail $skip" >> "$SPL_SUMMARY"
[ $fail -eq 0 ]
