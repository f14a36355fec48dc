#!/usr/bin/env bash
# SIGKILL a mirror mid-stream (twice, at random moments) while both stores
# keep writing, and start it again: it resumes after the last revision it
# applied (kept in the store), puts what changed while it was down, and
# everything converges: nothing written on either side is lost.  Keys
# under a prefix only (--prefix), with keys outside it that must stay put.
. "$(dirname "$0")/lib.sh"
ns_start -js
store a
store b
"$TOOL" set "$WORK/a.spl" other.a "stays-on-a" || fail "set"
start_a() { mirror_start a "$WORK/a.spl" --to "$URL" --from "$URL" --bucket kl --prefix m.; }
start_a
mirror_start b "$WORK/b.spl" --to "$URL" --from "$URL" --bucket kl --prefix m.
wait_ready a
wait_ready b
"$TOOL" work "$WORK/a.spl" --ms 5000 --seed 11 --rate 4000 --prefix m. > "$WORK/work-a.log" &
wa=$!
"$TOOL" work "$WORK/b.spl" --ms 5000 --seed 12 --rate 4000 --prefix m. > "$WORK/work-b.log" &
wb=$!
for round in 1 2; do
    sleep "0.$((3 + RANDOM % 7))"
    rev=$(stat_of a rev)
    mirror_kill a
    ok "round $round: mirror a killed (SIGKILL) at revision $rev"
    sleep 0.4
    start_a
    wait_ready a
    [ "$(stat_of a rev)" -ge "$rev" ] || fail "restarted at revision $(stat_of a rev), below $rev"
    ok "round $round: restarted, resuming at revision $(stat_of a rev) (not from zero)"
done
wait $wa || fail "workload a"
wait $wb || fail "workload b"
"$TOOL" converge "$URL" kl "$WORK/a.spl" "$WORK/b.spl" --prefix m. --timeout 30 || fail "did not converge"
ok "converged after two kills"
[ "$("$TOOL" get "$WORK/a.spl" other.a)" = stays-on-a ] && [ "$("$TOOL" get "$WORK/b.spl" other.a)" = "(absent)" ] ||
    fail "a key outside --prefix was mirrored"
ok "keys outside --prefix are not mirrored"
mirror_stop a
mirror_stop b
# while no mirror runs: a change on each side; each comes through the restart
"$TOOL" set "$WORK/a.spl" m.offline-a "written-while-down" || fail "set"
"$TOOL" set "$WORK/b.spl" m.offline-b "also-while-down" || fail "set"
start_a
mirror_start b "$WORK/b.spl" --to "$URL" --from "$URL" --bucket kl --prefix m.
wait_ready a
wait_ready b
"$TOOL" converge "$URL" kl "$WORK/a.spl" "$WORK/b.spl" --prefix m. --timeout 15 || fail "did not converge after restart"
[ "$("$TOOL" get "$WORK/b.spl" m.offline-a)" = written-while-down ] || fail "a change made while down was lost"
ok "changes made while the mirrors were down come through their restart"
mirror_stop a
mirror_stop b
done_ok
