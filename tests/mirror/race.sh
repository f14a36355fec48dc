#!/usr/bin/env bash
# Interleavings of the publisher, the applier and the acknowledgements that
# left the bucket holding a key the store had deleted (the stop/cont variant
# of overflow.sh: "did not converge", 2 runs in 235).  A mirror runs inside
# mirror_tool, its threads put in order through the tests-only hook
# (mirror.c, splm__test_hook): no timing, no sleeps (mirror_tool race).
# Then a local write between the applier's write of an entry and its read
# back must be put (mirror_tool interfere).
. "$(dirname "$0")/lib.sh"
ns_start -js
for c in unset delack putack; do
    store "$c"
    "$TOOL" bucket "$URL" "r$c" || fail "bucket r$c"
    out=$("$TOOL" race "$URL" "r$c" "$WORK/$c.spl" "$c" 2>&1); rc=$?
    echo "$out" | sed 's/^/    /'
    [ $rc -eq 0 ] || fail "race $c (exit $rc)"
    ok "race $c: the key deleted here is deleted in the bucket too"
done
store interfere
"$TOOL" bucket "$URL" rinterfere || fail "bucket rinterfere"
out=$("$TOOL" interfere "$URL" rinterfere "$WORK/interfere.spl" 2>&1); rc=$?
echo "$out" | sed 's/^/    /'
[ $rc -eq 0 ] || fail "interfere (exit $rc)"
ok "interfere: a local write between the applier's write and read back is put"
done_ok
