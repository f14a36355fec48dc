#!/usr/bin/env bash
# Bad input: bucket entries that are not ours, entries that do not fit the
# store (value too large, wrong vector dimension, NaN, unknown type), a
# reserved key; a server without JetStream; a missing bucket with
# --no-create; a bucket whose limit refuses a put.  Each is a clear error
# or a counted skip, never a crash, and never a partial write.  In a build
# without vectors (WITH_EMBEDDINGS=0) the store keeps none: the entries
# with a vector are refused for that instead of their dimension or NaN.
. "$(dirname "$0")/lib.sh"
if vectors; then
    VEC=(--vec 4) VEC_MSGS=("vector dimension differs" "NaN")
else
    VEC=() VEC_MSGS=("a vector, and the store keeps none")
    skip_vectors "dimension and NaN checks (entries with a vector are refused: the store keeps none)"
fi
ns_start -js
store a --val 64 "${VEC[@]}"
"$TOOL" set "$WORK/a.spl" pw "before" || fail "set"
mirror_start a "$WORK/a.spl" --from "$URL" --bucket bad
wait_ready a
inj() { "$TOOL" inject "$URL" bad "$@" || fail "inject $*"; }
inj good1 entry "fine"
inj foreign1 raw "hello, not a mirror entry"
inj "a=zz" raw "a key that is no store key's spelling"
inj __mirror.x entry "reserved"
inj big1 big 100
inj dim1 dim 3
inj nan1 nan --dim 4
inj type1 badtype
inj pw big 65
inj pw dim 5
inj good2 entry "after"
for i in $(seq 100); do
    [ "$("$TOOL" get "$WORK/a.spl" good2)" = after ] && break
    sleep 0.05
done
[ "$("$TOOL" get "$WORK/a.spl" good1)" = fine ] && [ "$("$TOOL" get "$WORK/a.spl" good2)" = after ] ||
    fail "good entries around the bad ones were not applied"
kill -0 "${MPID[a]}" || fail "the mirror died"
ok "good entries applied before and after the bad ones; the mirror lives"
sleep 0.3
[ "$(stat_of a skip_foreign)" = 3 ] || fail "skip_foreign = $(stat_of a skip_foreign), expected 3"
[ "$(stat_of a skip_geometry)" = 6 ] || fail "skip_geometry = $(stat_of a skip_geometry), expected 6"
ok "counted: 3 entries not ours (skip_foreign), 6 that do not fit (skip_geometry)"
for k in big1 dim1 nan1 type1 foreign1 __mirror.x; do
    [ "$("$TOOL" get "$WORK/a.spl" "$k")" = "(absent)" ] || fail "key $k was written"
done
[ "$("$TOOL" get "$WORK/a.spl" pw)" = before ] || fail "a refused entry changed pw: $("$TOOL" get "$WORK/a.spl" pw)"
ok "nothing of a refused entry was written (pw kept its value)"
for msg in "not a mirror entry" "no store key's spelling" "larger than the store's val_max" \
    "${VEC_MSGS[@]}" "unknown value type" "belong to the mirror"; do
    grep -q "$msg" "$WORK/a.log" || fail "no clear message '$msg' in the log"
done
ok "each skip is logged with its reason"
mirror_stop a

# a bucket whose limit refuses a put: counted, the rest goes on
store c --val 1024
store d --val 1024
"$TOOL" bucket "$URL" small --max-value 200 || fail "bucket"
mirror_start c "$WORK/c.spl" --to "$URL" --bucket small
mirror_start d "$WORK/d.spl" --from "$URL" --bucket small
wait_ready c
wait_ready d
"$TOOL" set "$WORK/c.spl" huge "$(head -c 600 /dev/zero | tr '\0' x)" || fail "set"
"$TOOL" set "$WORK/c.spl" small "ok" || fail "set"
for i in $(seq 100); do
    [ "$("$TOOL" get "$WORK/d.spl" small)" = ok ] && [ "$(stat_of c skip_rejected)" = 1 ] && break
    sleep 0.05
done
[ "$("$TOOL" get "$WORK/d.spl" small)" = ok ] || fail "the put after a refused one did not arrive"
[ "$(stat_of c skip_rejected)" = 1 ] || fail "skip_rejected = $(stat_of c skip_rejected), expected 1"
[ "$("$TOOL" get "$WORK/d.spl" huge)" = "(absent)" ] || fail "huge arrived"
grep -q "server refused key 'huge'" "$WORK/c.log" || fail "no message for the refused put"
ok "a put the bucket refuses (too large) is a counted skip; the next one goes through"
mirror_stop c
mirror_stop d

# --no-create and a missing bucket: exit 3, at once
timeout 20 "$MIRROR" "$WORK/a.spl" --from "$URL" --bucket nosuch --no-create > "$WORK/nc.out" 2>&1
rc=$?
[ $rc = 3 ] && grep -q "refuses bucket 'nosuch'" "$WORK/nc.out" || fail "--no-create: rc $rc, $(cat "$WORK/nc.out")"
ok "a missing bucket with --no-create: exit 3, '$(grep -o "refuses bucket.*" "$WORK/nc.out" | head -1)'"
# a server without JetStream
ns_stop
ns_start
timeout 20 "$MIRROR" "$WORK/a.spl" --to "$URL" --bucket bad > "$WORK/nojs.out" 2>&1
rc=$?
[ $rc = 3 ] && grep -q "no JetStream here" "$WORK/nojs.out" || fail "no JetStream: rc $rc, $(cat "$WORK/nojs.out")"
ok "a server without JetStream: exit 3, '$(grep -o "the server refuses.*" "$WORK/nojs.out" | head -1)'"
# bad options: exit 1, nothing started
for args in "--bucket bad.name --to $URL" "--bucket b --to $URL --label 64" "--bucket b" \
    "--bucket b --to $URL --from nats://127.0.0.1:1" "--bucket b --to $URL --prefix __mirror.x"; do
    # shellcheck disable=SC2086
    "$MIRROR" "$WORK/a.spl" $args > "$WORK/opt.out" 2>&1
    rc=$?
    [ $rc = 1 ] || fail "options '$args': rc $rc, $(cat "$WORK/opt.out")"
done
"$MIRROR" "$WORK/missing.spl" --to "$URL" --bucket b > "$WORK/opt.out" 2>&1
[ $? = 2 ] || fail "a missing store: not exit 2"
ok "bad options exit 1, a missing store exits 2"
done_ok
