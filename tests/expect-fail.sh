#!/usr/bin/env bash
# tests/expect-fail.sh CMD [ARGS...] [--expect-torn]
#
# Run a check that is expected to FAIL (a test of the test).  Succeeds only
# if the command fails for the expected reason:
#   with a trailing --expect-torn (kept and passed on to the command, which
#   uses it to keep going until it sees a torn read): only exit status 3,
#   "torn reads seen", counts; a crash, a signal, a timeout or another
#   failure does not.
#   without it: any exit status from 1 to 125 counts (not a signal, not a
#   timeout, not "command not found"), except 77.
# Exit status 77 is "skipped" (the check does not apply to this build, as a
# vector check in a WITH_EMBEDDINGS=0 build): passed on as 77, which
# tests/run.sh shows as skipped.
set -u
if [ $# -lt 1 ]; then
    echo "usage: $0 CMD [ARGS...] [--expect-torn]" >&2
    exit 2
fi
want=any
last=${!#}
if [ "$last" = "--expect-torn" ]; then
    want=3
fi
"$@"
rc=$?
if [ $rc -eq 77 ]; then
    echo "expect-fail: skipped, the check does not apply to this build (exit 77)"
    exit 77
fi
if [ "$want" = 3 ]; then
    if [ $rc -eq 3 ]; then
        echo "expect-fail: ok, the check found torn reads (exit 3) as it must on this build"
        exit 0
    fi
    echo "expect-fail: FAIL, wanted exit 3 (torn reads found), got $rc" >&2
    exit 1
fi
if [ $rc -ge 1 ] && [ $rc -le 125 ]; then
    echo "expect-fail: ok, the command failed (exit $rc) as expected"
    exit 0
fi
echo "expect-fail: FAIL, wanted a failure exit status 1..125, got $rc" >&2
exit 1
