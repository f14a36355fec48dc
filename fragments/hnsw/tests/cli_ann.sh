#!/usr/bin/env bash
# cli_ann.sh SPLINTERCTL SPLINTER_HNSW - the index from the command line:
# `splinterctl search --ann` answers exactly (and says so) while there is no
# index, from the index once `splinter-hnsw build` made one (hits marked
# "ann": true, the same top hit as the exact search), exactly again when the
# store has moved on too far, and from the index after `splinter-hnsw sync`;
# `splinter-hnsw stat` and `check` read the region.
set -eu
ctl=$1; tool=$2
dir=$(mktemp -d /dev/shm/hnsw-cli-XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$dir"' EXIT
export SPLINTER_SHM_DIR=$dir SPLINTER_STORE=annstore
fail() { echo "cli_ann: FAIL: $*" >&2; exit 1; }
"$ctl" init annstore --slots 400 --vec-dim 8 --value-size 16 >/dev/null
vec() { awk -v s="$1" 'BEGIN { srand(s); printf "["; for (i = 0; i < 8; i++) printf "%s%.4f", (i ? "," : ""), rand() - 0.5; printf "]" }'; }
for i in $(seq 1 200); do "$ctl" vector set "k$i" "$(vec "$i")"; done
q=$(vec 7)
# no index: the exact scan answers, with a note
out=$("$ctl" search --vector "$q" --k 3 --ann 2>&1 >/dev/null)
case "$out" in *"exact scan"*) ;; *) fail "no note without an index: $out" ;; esac
"$ctl" --json search --vector "$q" --k 3 --ann 2>/dev/null | grep -q '"ann":false' || fail "no index: ann true?"
# build: progress on stderr, then the index answers
"$tool" build annstore 2>"$dir/build.log" || fail "build"
grep -q "ready: 200 vectors" "$dir/build.log" || fail "build log: $(cat "$dir/build.log")"
"$tool" check annstore >/dev/null || fail "check"
"$tool" stat annstore --json | grep -q '"state":"ready"' || fail "stat"
"$ctl" --json search --vector "$q" --k 3 --ann --ef 32 | grep -q '"ann":true' || fail "the index did not answer"
a=$("$ctl" search --vector "$q" --k 1 --ann | cut -f2)
e=$("$ctl" search --vector "$q" --k 1 | cut -f2)
[ "$a" = "$e" ] && [ "$a" = k7 ] || fail "top hit: ann $a, exact $e"
# the store moves on by more than the lag limit (64 changes): exact again
for i in $(seq 201 260); do "$ctl" vector set "k$i" "$(vec "$i")"; done
"$ctl" --json search --vector "$q" --k 3 --ann 2>/dev/null | grep -q '"ann":false' || fail "a lagging index answered"
"$tool" sync annstore --quiet || fail "sync"
"$ctl" --json search --vector "$(vec 250)" --k 1 --ann | grep -q '"key":"k250".*"ann":true\|"ann":true.*"key":"k250"' \
    || fail "after sync: k250 not found by the index"
"$tool" stat annstore | grep -q "260 live" || fail "stat after sync: $("$tool" stat annstore)"
echo "ok"
