#!/usr/bin/env bash
# frag_cli.sh SPLINTERCTL SPLINTER_HNSW - the hnsw fragment from the command
# line: `insmod hnsw` on a store with vectors builds the index (the log says
# why and when it is ready; `frag hnsw stats` gives nodes, layers, applied,
# lag); `search --ann` is answered by it ("ann": true) and sees new and
# deleted keys; `splinter-hnsw check --frag hnsw` finds it sound; rmmod:
# exact again; other options than its region's: refused with the way out
# (`rmmod --purge`, which also works once it is unregistered); a region left
# by an earlier store of the same name is rebuilt for the new one; with a
# second instance of another metric, each search goes to its metric's.
set -eu
ctl=$1; tool=$2
dir=$(mktemp -d /dev/shm/hnsw-frag-XXXXXX 2>/dev/null || mktemp -d)
cleanup() {
    for p in $("$ctl" lsmod --json 2>/dev/null | sed -n 's/.*"host_pid":\([0-9]*\).*/\1/p'); do
        kill -9 "$p" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT
export SPLINTER_SHM_DIR=$dir SPLINTER_STORE=fs
fail() {
    echo "frag_cli: FAIL: $*" >&2
    [ -f "$dir/host.log" ] && tail -n 20 "$dir/host.log" >&2
    exit 1
}
# wait_for 'SHELL CONDITION': up to 20 s
wait_for() {
    for _ in $(seq 1 400); do
        eval "$1" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}
stats() { "$ctl" frag hnsw stats; }
vec() { awk -v s="$1" 'BEGIN { srand(s); printf "["; for (i = 0; i < 8; i++) printf "%s%.4f", (i ? "," : ""), rand() - 0.5; printf "]" }'; }
top1() { "$ctl" --json search --vector "$(vec "$1")" --k 1 --ann --ef 32 2>/dev/null; }

"$ctl" init fs --slots 600 --vec-dim 8 --value-size 16 >/dev/null
for i in $(seq 1 200); do "$ctl" vector set "k$i" "$(vec "$i")"; done

# insmod: built from the vectors already there
out=$("$ctl" insmod --log "$dir/host.log" hnsw m=8 efc=64) || fail "insmod: $out"
case "$out" in "hnsw: running (host pid "*) ;; *) fail "insmod said: $out" ;; esac
wait_for 'stats | grep -q "\"state\":\"ready\",\"nodes\":200,"' || fail "not built: $(stats)"
grep -q "rebuild (start): no index for this store yet" "$dir/host.log" || fail "no rebuild reason in the log"
# logged after the index is marked ready, so stats can say ready first: wait
# for it (CI failed here once with the machine loaded)
wait_for 'grep -q "rebuild: ready, 200 vectors" "$dir/host.log"' || fail "no end of rebuild in the log"
s=$(stats)
for f in '"layers":' '"applied":' '"lag":' '"progress":' '"m":8,' '"ef_construction":64,'; do
    case "$s" in *"$f"*) ;; *) fail "stats without $f: $s" ;; esac
done
echo "insmod: built, stats: ${s:0:100}..."

# search --ann: answered by the index
top1 7 | grep -q '"key":"k7".*"ann":true' || fail "search --ann: $(top1 7)"
# new keys and deletes reach it through the feed
for i in $(seq 201 220); do "$ctl" vector set "k$i" "$(vec "$i")"; done
wait_for 'stats | grep -q "\"nodes\":220,"' || fail "new keys not applied: $(stats)"
top1 215 | grep -q '"key":"k215".*"ann":true' || fail "new key not found: $(top1 215)"
"$ctl" unset k215
wait_for 'stats | grep -q "\"nodes\":219,"' || fail "delete not applied: $(stats)"
top1 215 | grep -q '"ann":true' || fail "after the delete: not the index"
top1 215 | grep -q '"key":"k215"' && fail "a deleted key returned"
"$tool" check fs --frag hnsw >/dev/null || fail "check --frag"
"$tool" stat fs --frag hnsw --json | grep -q '"state":"ready"' || fail "stat --frag"
echo "search --ann: the index answers, sees new and deleted keys; check: sound"

# rmmod: the exact scan answers again
"$ctl" rmmod hnsw >/dev/null || fail "rmmod"
err=$("$ctl" search --vector "$(vec 7)" --k 1 --ann 2>&1 >/dev/null)
case "$err" in *"exact scan"*) ;; *) fail "after rmmod: $err" ;; esac

# other options than the region's: refused, with the way out
if out=$("$ctl" insmod hnsw m=4 2>&1); then fail "insmod m=4 over an m=8 region: $out"; fi
case "$out" in *"rmmod --purge hnsw"*) ;; *) fail "no way out given: $out" ;; esac
"$ctl" rmmod --purge hnsw | grep -q "not registered; 1 region removed" || fail "purge of an unregistered one"
"$ctl" insmod --log "$dir/host.log" hnsw m=4 >/dev/null || fail "insmod m=4 after purge"
wait_for 'stats | grep -q "\"state\":\"ready\",\"nodes\":219,"' || fail "m=4: $(stats)"
echo "other options: refused with the way out; purged and rebuilt"

# a region left by an earlier store of the same name: rebuilt for this one
"$ctl" rmmod hnsw >/dev/null
"$ctl" destroy fs >/dev/null
"$ctl" init fs --slots 600 --vec-dim 8 --value-size 16 >/dev/null
for i in $(seq 1 30); do "$ctl" vector set "n$i" "$(vec "$((i + 500))")"; done
: >"$dir/host.log"
"$ctl" insmod --log "$dir/host.log" hnsw m=4 >/dev/null || fail "insmod on the new store"
wait_for 'stats | grep -q "\"state\":\"ready\",\"nodes\":30,"' || fail "new store: $(stats)"
grep -q "rebuild (start)" "$dir/host.log" || fail "new store: no rebuild logged"
"$ctl" --json search --vector "$(vec 510)" --k 1 --ann | grep -q '"key":"n10".*"ann":true' || fail "new store: search"
echo "an earlier store's region: rebuilt for the new store"

# a second instance with another metric: a search goes to the instance of
# its metric (the first one declines it), and to none once that one is gone
"$ctl" insmod --name hnsw-l2 --log "$dir/host2.log" hnsw m=4 metric=l2 >/dev/null || fail "insmod hnsw-l2"
wait_for '"$ctl" frag hnsw-l2 stats | grep -q "\"state\":\"ready\",\"nodes\":30,"' ||
    fail "hnsw-l2: $("$ctl" frag hnsw-l2 stats)"
l2top() { "$ctl" --json search --vector "$(vec 510)" --k 1 --ann --metric l2 2>/dev/null; }
l2top | grep -q '"key":"n10".*"ann":true' || fail "an l2 search with an l2 instance running: $(l2top)"
top1 510 | grep -q '"key":"n10".*"ann":true' || fail "a cosine search beside the l2 instance: $(top1 510)"
"$ctl" rmmod hnsw-l2 >/dev/null || fail "rmmod hnsw-l2"
l2top | grep -q '"key":"n10".*"ann":false' || fail "an l2 search with no l2 instance: $(l2top)"
"$ctl" rmmod --purge hnsw >/dev/null
"$ctl" rmmod --purge hnsw-l2 >/dev/null 2>&1 || true
echo "two instances, two metrics: each search answered by the instance of its metric"
echo "ok"
