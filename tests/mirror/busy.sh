#!/usr/bin/env bash
# A key the mirror applies while a live writer holds its slot in the target
# store (forged: tests/slot.bash): the applier waits for the writer asleep
# on the slot (spl_retry_pause), spending next to no CPU, applies nothing
# meanwhile, and applies the new value once the writer commits.  (Its
# earlier loop slept 50 us at a time: some 10% of a core for a second.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../slot.bash"
ns_start -js
store a
store b
mirror_start a "$WORK/a.spl" --to "$URL" --bucket busy
mirror_start b "$WORK/b.spl" --from "$URL" --bucket busy
wait_ready a
wait_ready b

# CPU ticks (user + system) of process $1, all its threads
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

"$TOOL" set "$WORK/a.spl" busy v0 || fail "set"
for i in $(seq 200); do [ "$("$TOOL" get "$WORK/b.spl" busy)" = v0 ] && break; sleep 0.05; done
[ "$("$TOOL" get "$WORK/b.spl" busy)" = v0 ] || fail "v0 did not arrive"
for i in $(seq 100); do [ "$(stat_of b applied)" -ge 1 ] 2>/dev/null && break; sleep 0.05; done
applied0=$(stat_of b applied)
[ "$applied0" -ge 1 ] 2>/dev/null || fail "applied $applied0"

sleep 30 &
HOLDER=$!
hold_slot "$WORK/b.spl" busy "$HOLDER"
t0=$(ticks "${MPID[b]}")
"$TOOL" set "$WORK/a.spl" busy v1 || fail "set"
sleep 0.8
t1=$(ticks "${MPID[b]}")
applied1=$(stat_of b applied)
release_slot "$WORK/b.spl" busy
for i in $(seq 200); do [ "$("$TOOL" get "$WORK/b.spl" busy)" = v1 ] && break; sleep 0.05; done
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
[ "$("$TOOL" get "$WORK/b.spl" busy)" = v1 ] || fail "v1 was not applied after the writer committed"
[ "$applied1" = "$applied0" ] || fail "applied went $applied0 -> $applied1 while the slot was held"
echo "  the applier's CPU during a 0.8 s hold: $((t1 - t0)) ticks of $(getconf CLK_TCK)/s"
[ $((t1 - t0)) -le 4 ] || fail "the mirror used $((t1 - t0)) ticks while it waited"
ok "a held slot: the mirror waited asleep ($((t1 - t0)) ticks in 0.8 s) and applied v1 after the commit"
mirror_stop a
mirror_stop b
done_ok
