#!/usr/bin/env bash
# `splinterctl mirror` (built WITH_NATS=1 by make test-mirror): the mirror
# in the CLI, with splinter-mirror's arguments.  It publishes store a
# (named by --store: the store argument left out), splinter-mirror applies
# into b; it stops on SIGTERM with exit 0; bad usage exits 1.
. "$(dirname "$0")/lib.sh"
CTL=$B/splinterctl
ldd "$CTL" | grep -q libnats || fail "$CTL was not built with WITH_NATS=1"
ns_start -js
store a
store b
"$CTL" mirror --bucket x > "$WORK/usage.out" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "no --to/--from: exit $rc, not 1"
ok "bad usage: exit 1"
"$CTL" --store "$WORK/a.spl" mirror --to "$URL" --bucket cl --stats "$WORK/a.stats" \
    --backoff-min 50 --backoff-max 500 >> "$WORK/a.log" 2>&1 &
MPID[a]=$!
mirror_start b "$WORK/b.spl" --from "$URL" --bucket cl
wait_ready a
wait_ready b
for i in $(seq 10); do "$TOOL" set "$WORK/a.spl" "k$i" "v$i" || fail "set"; done
for i in $(seq 200); do [ "$("$CTL" --store "$WORK/b.spl" get k10 2>/dev/null)" = v10 ] && break; sleep 0.05; done
for i in $(seq 10); do
    [ "$("$CTL" --store "$WORK/b.spl" get "k$i" 2>/dev/null)" = "v$i" ] || fail "k$i did not arrive"
done
ok "splinterctl mirror --to publishes (keys arrive in b through splinter-mirror --from)"
# the stats file is rewritten every 100 ms: the keys can arrive before it
for i in $(seq 200); do [ "$(stat_of a published)" -ge 10 ] 2>/dev/null && break; sleep 0.05; done
[ "$(stat_of a published)" -ge 10 ] || fail "published $(stat_of a published)"
mirror_stop a
grep -q "stopped: published=" "$WORK/a.log" || fail "no final counters: $(cat "$WORK/a.log")"
ok "splinterctl mirror stops on SIGTERM (exit 0), with its counters"
mirror_stop b
done_ok
