#!/usr/bin/env bash
# tests/cli/run.sh GROUP DIR - run the bats files in DIR (TAP output), print
# each test, then "GROUP: N passed, N failed[, N skipped]" and append
# "N N N" to $SPL_SUMMARY like tests/run.sh.  $SPLCTL is the splinterctl
# under test.  A skipped test (bats `skip`, shown as "ok N ... # skip
# REASON": one that does not apply to this build) is neither passed nor
# failed.
set -u
group=$1 dir=$2
log=$(mktemp)
if ! command -v bats > /dev/null; then
    echo "$group: bats not installed (make deps)"
    pass=0 fail=1 skip=0
else
    timeout -k 5 "${TEST_TIMEOUT:-300}" bats --tap "$dir"/*.bats > "$log" 2>&1
    rc=$?
    cat "$log"
    skip=$(grep -c '^ok .* # skip' "$log")
    pass=$(( $(grep -c '^ok ' "$log") - skip ))
    fail=$(grep -c '^not ok ' "$log")
    # bats itself failing (a syntax error, the timeout) with no failed test
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
fi
rm -f "$log"
echo "$group: $pass passed, $fail failed$([ "$skip" -gt 0 ] && echo ", $skip skipped")"
[ -n "${SPL_SUMMARY:-}" ] && echo "$pass $fail $skip" >> "$SPL_SUMMARY"
[ "$fail" -eq 0 ]
