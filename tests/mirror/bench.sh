#!/usr/bin/env bash
# The benchmark keeps building and running (figures are printed, not
# judged here: the machine is shared): raw KV puts, the mirror end to end,
# and the lag from spl_set on one store to the value on the other.
. "$(dirname "$0")/lib.sh"
ns_start -js
timeout 120 "$MIRROR" --bench "$URL" --count 3000 --lag 200 > "$WORK/bench.out" 2>&1 || fail "bench: $(cat "$WORK/bench.out")"
cat "$WORK/bench.out"
for what in "raw JetStream KV puts" "mirror end to end" "p50"; do
    grep -q "$what" "$WORK/bench.out" || fail "no '$what' in the output"
done
ok "the benchmark runs and prints its figures"
done_ok
