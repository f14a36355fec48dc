#!/usr/bin/env bash
# Two stores stand in for two machines, each with one mirror in both
# directions on one bucket.  Random concurrent sets, deletes, integer adds,
# label, type and vector changes on both sides, over one key space (so
# they conflict).  When writing stops, both stores hold the same keys with
# the same values, and those are the bucket's last revisions (the value
# JetStream ordered last wins everywhere).  Then: nothing is published
# back and forth any more (loop-free), and a third store joining later
# starts from the bucket's snapshot.  A build without vectors
# (WITH_EMBEDDINGS=0) runs the same without the vector changes.
. "$(dirname "$0")/lib.sh"
if vectors; then
    VEC=(--vec 4) MVEC=(--vectors) WVEC=(--vec)
else
    VEC=() MVEC=() WVEC=()
    skip_vectors "vector changes (the rest runs, on stores without vectors)"
fi
ns_start -js
store a "${VEC[@]}"
store b "${VEC[@]}"
mirror_start a "$WORK/a.spl" --to "$URL" --from "$URL" --bucket rt "${MVEC[@]}"
mirror_start b "$WORK/b.spl" --to "$URL" --from "$URL" --bucket rt "${MVEC[@]}"
wait_ready a
wait_ready b
"$TOOL" work "$WORK/a.spl" --ms 3000 --seed 1 --rate 4000 "${WVEC[@]}" > "$WORK/work-a.log" &
wa=$!
"$TOOL" work "$WORK/b.spl" --ms 3000 --seed 2 --rate 4000 "${WVEC[@]}" > "$WORK/work-b.log" &
wb=$!
wait $wa || fail "workload a"
wait $wb || fail "workload b"
cat "$WORK/work-a.log" "$WORK/work-b.log"
"$TOOL" converge "$URL" rt "$WORK/a.spl" "$WORK/b.spl" "${WVEC[@]}" --timeout 30 || fail "did not converge"
ok "both stores equal each other and the bucket's last revisions"
for n in a b; do
    [ "$(stat_of $n published)" -gt 0 ] && [ "$(stat_of $n applied)" -gt 0 ] ||
        fail "mirror $n: published $(stat_of $n published), applied $(stat_of $n applied)"
done
ok "each mirror published and applied (a: $(stat_of a published)/$(stat_of a applied), b: $(stat_of b published)/$(stat_of b applied))"
sleep 0.5
pa=$(stat_of a published); pb=$(stat_of b published)
sleep 1
[ "$(stat_of a published)" = "$pa" ] && [ "$(stat_of b published)" = "$pb" ] ||
    fail "still publishing after convergence: a $pa -> $(stat_of a published), b $pb -> $(stat_of b published)"
ok "loop-free: nothing published once quiet"
store c "${VEC[@]}"
mirror_start c "$WORK/c.spl" --from "$URL" --bucket rt
wait_ready c
"$TOOL" converge "$URL" rt "$WORK/a.spl" "$WORK/b.spl" "$WORK/c.spl" "${WVEC[@]}" --timeout 15 ||
    fail "a store joining later did not catch up"
ok "a store joining later starts from the bucket's snapshot"
mirror_stop a
mirror_stop b
mirror_stop c
ok "mirrors stop cleanly on SIGTERM (exit 0)"
# the check can fail: a change made with no mirror running is a difference
"$TOOL" set "$WORK/a.spl" k0 "changed-with-no-mirror" || fail "set"
"$TOOL" converge "$URL" rt "$WORK/a.spl" "$WORK/b.spl" "${WVEC[@]}" --timeout 0.5 > "$WORK/neg.out" &&
    fail "the convergence check passed on stores that differ"
grep -q "'k0' differs\|has 'k0'" "$WORK/neg.out" || fail "the check did not name k0: $(cat "$WORK/neg.out")"
ok "the convergence check fails on stores that differ"
done_ok
