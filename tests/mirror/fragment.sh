#!/usr/bin/env bash
# The mirror as a fragment: `splinterctl insmod mirror.so to=URL bucket=B`
# on store a runs the publisher in a fragment host; build/splinter-mirror
# applies the bucket into store b.  Keys written in a (before and after the
# fragment starts, and a delete) arrive in b; `frag mirror stats` gives the
# counters as JSON; a bad option is refused; rmmod stops it and its host.
. "$(dirname "$0")/lib.sh"
CTL=$B/splinterctl
FRAG=$B/fragments/mirror.so
[ -f "$FRAG" ] || fail "$FRAG not built (make WITH_NATS=1 mirror)"
ns_start -js
store a
store b
ctl() { "$CTL" --store "$WORK/a.spl" "$@"; }
host_kill() { # whatever host is left (a failure): by its pid
    local p
    for p in $(ctl lsmod --json 2>/dev/null | sed -n 's/.*"host_pid":\([0-9]*\).*/\1/p'); do
        [ "$p" -gt 0 ] && kill -9 "$p" 2>/dev/null
    done
}
trap 'host_kill; cleanup' EXIT
"$TOOL" set "$WORK/a.spl" before "written-before" || fail "set"
ctl insmod "$FRAG" bucket=fr backoff=1 > "$WORK/bad.out" 2>&1 && fail "an unknown option was taken"
ok "an unknown option is refused: $(head -c 120 "$WORK/bad.out")"
ctl insmod "$FRAG" bucket=fr > "$WORK/bad.out" 2>&1 && fail "no to/from was taken"
grep -q "to=URL" "$WORK/bad.out" || fail "no reason given: $(cat "$WORK/bad.out")"
ctl rmmod mirror > /dev/null 2>&1
ok "insmod without to= or from= fails with the reason"
ctl insmod "$FRAG" "to=$URL" bucket=fr backoff_min=50 backoff_max=500 > "$WORK/insmod.out" 2>&1 ||
    fail "insmod: $(cat "$WORK/insmod.out")"
grep -q "running" "$WORK/insmod.out" || fail "insmod: $(cat "$WORK/insmod.out")"
ok "insmod mirror: $(cat "$WORK/insmod.out")"
mirror_start b "$WORK/b.spl" --from "$URL" --bucket fr
wait_ready b
for i in $(seq 20); do "$TOOL" set "$WORK/a.spl" "k$i" "value-$i" || fail "set k$i"; done
"$TOOL" set "$WORK/a.spl" gone "soon" || fail "set gone"
ctl unset gone > /dev/null || fail "unset gone"
get_b() { "$CTL" --store "$WORK/b.spl" get "$1" 2>/dev/null; }
for i in $(seq 200); do
    [ "$(get_b k20)" = "value-20" ] && [ "$(get_b before)" = "written-before" ] && break
    sleep 0.05
done
for i in $(seq 20); do
    [ "$(get_b "k$i")" = "value-$i" ] || fail "k$i did not arrive in b: '$(get_b "k$i")'"
done
[ "$(get_b before)" = "written-before" ] || fail "a key written before insmod did not arrive"
ok "keys written in a (before and after insmod) arrive in b"
for i in $(seq 100); do "$CTL" --store "$WORK/b.spl" exists gone > /dev/null 2>&1 || break; sleep 0.05; done
"$CTL" --store "$WORK/b.spl" exists gone > /dev/null 2>&1 && fail "the delete did not arrive"
ok "a delete arrives"
ctl frag mirror stats > "$WORK/stats.json" || fail "frag mirror stats: $(cat "$WORK/stats.json")"
grep -q '"running":true' "$WORK/stats.json" && grep -q '"connected":1' "$WORK/stats.json" ||
    fail "stats: $(cat "$WORK/stats.json")"
pub=$(sed -n 's/.*"published":\([0-9]*\).*/\1/p' "$WORK/stats.json")
[ "${pub:-0}" -ge 21 ] || fail "published $pub: $(cat "$WORK/stats.json")"
ok "frag mirror stats: published $pub ($(head -c 160 "$WORK/stats.json")...)"
hp=$(ctl lsmod --json | sed -n 's/.*"host_pid":\([0-9]*\).*/\1/p')
ctl rmmod mirror > "$WORK/rmmod.out" 2>&1 || fail "rmmod: $(cat "$WORK/rmmod.out")"
for i in $(seq 100); do kill -0 "$hp" 2>/dev/null || break; sleep 0.05; done
kill -0 "$hp" 2>/dev/null && fail "the host ($hp) did not exit after rmmod"
[ -z "$(ctl lsmod 2>/dev/null | grep mirror)" ] || fail "still listed: $(ctl lsmod)"
ok "rmmod stops the mirror and its host"
"$TOOL" set "$WORK/a.spl" after "not-mirrored" || fail "set after"
sleep 0.3
[ -z "$(get_b after)" ] || fail "a write after rmmod was mirrored"
ok "nothing is published after rmmod"
mirror_stop b
done_ok
