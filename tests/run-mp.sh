#!/usr/bin/env bash
# tests/run-mp.sh B - run the multi-process and concurrency tests built in
# B/tests (default build) with their default sizes, through tests/run.sh
# (group "mp").  MP_ARGS, if set, is appended to every command (e.g. a seed:
# MP_ARGS="--seed 42").
set -u
B=${1:-${B:-build}}
here=$(cd "$(dirname "$0")" && pwd)
cmds=()
for t in stress killloop counter duphunt createrace sighunt contend tsan_stress tsan_signal tsan_contend vectorn noloss iterbusy; do
    if [ ! -x "$B/tests/$t" ]; then
        echo "run-mp.sh: $B/tests/$t is missing (make $B/tests/$t)" >&2
        exit 1
    fi
    cmds+=("$B/tests/$t ${MP_ARGS:-}")
done
# Slot counts that are not powers of two: homes by multiply-shift, probe
# chains that wrap from the last slot to the first, under contention.
cmds+=("$B/tests/stress --slots 250 ${MP_ARGS:-}" "$B/tests/duphunt --slots 13 ${MP_ARGS:-}")
# Vector writers SIGKILLed mid-write: half-written and orphaned cells.
cmds+=("$B/tests/vectorn --kills 300 ${MP_ARGS:-}")
exec "$here/run.sh" mp "${cmds[@]}"
