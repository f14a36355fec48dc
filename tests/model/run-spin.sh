#!/usr/bin/env bash
# tests/model/run-spin.sh [CHECK...]  - model-check docs/model/slot.pml,
# docs/model/undo.pml (the checks named undo-*) and
# docs/model/cells.pml (the checks named cells-*) with spin.
#
# Each check runs `spin -a` with its switches, compiles pan and runs it, all
# in a temporary directory (nothing is written to the repository).  A check
# either must PASS (no error, search complete) or must FAIL with a given
# violation (a broken variant, a known issue, or a reachability probe).
# Checks named found-* (none at present) must fail too: each shows a problem spin found in
# src/kv.c that is not fixed yet (docs/model/README.md, "Found"); flip it to
# pass once the code is fixed.  Checks named slow-* (a minute or more each)
# run only when named or with MODEL_SLOW=1.
# Prints one line per check and, last, "model: N passed, N failed"; exits
# non-zero if any check did not do what it must.
#
#   tests/model/run-spin.sh                 all checks but the slow-* ones
#   tests/model/run-spin.sh broken-dekker   just those named
#   tests/model/run-spin.sh --list          the checks
# Environment: MODEL_JOBS (parallel checks, default 2), MODEL_TIMEOUT (s per
# check, default 300), MODEL_SLOW=1 (the slow-* checks too; their limit is
# then 3 x MODEL_TIMEOUT), MODEL_VERBOSE=1 (print the trail of every failure,
# also the expected ones), MODEL_KEEP=1 (keep the temporary directory),
# SPIN (default spin), PAN_CC (default cc).
set -u
here=$(cd "$(dirname "$0")" && pwd)
models="$here/../../docs/model"
SPIN=${SPIN:-spin}
PAN_CC=${PAN_CC:-cc}
jobs=${MODEL_JOBS:-2}
tmo=${MODEL_TIMEOUT:-300}

# pan compile flags.  -O0: pan.c compiles in ~2 s instead of ~16 s at -O2,
# which more than pays for the slower search at these sizes.  COLLAPSE
# compresses stored states (exact, not an approximation); MEMLIM caps pan at
# 2 GiB.
SAFE="-DSAFETY -DCOLLAPSE -DMEMLIM=2048"
LIVE="-DCOLLAPSE -DNFAIR=3 -DMEMLIM=2048"

# name | spin switches | pan cflags | pan run flags | expect | what
# expect: pass, or fail:REGEX (an ERE the violation line must match).
checks() {
cat <<EOF
safety|-DMAXCRASH=1|$SAFE|-m10000 -w24|pass|properties 1-4 and 6: asserts + end state; empty start, W1, W2 or DEL dies at any step
safety-init|-DINIT_K|$SAFE|-m10000 -w24|pass|the same from K LIVE in slot 1 (word 0): both writers may overwrite, one record to share
liveness|-DLTL_RECOVERY|$LIVE|-a -f -m20000 -w24|pass|property 4 as LTL [] (stuck -> <> !stuck), weak fairness
epoch-reuse|-DCHECK_EPOCH_REUSE|$SAFE|-m10000 -w24|pass|property 5: no (key, epoch) reuse across delete and re-insert (the insert loads the floor again after its Dekker scan)
safety-2crash|-DMAXCRASH=2 -DNO_RD|$SAFE|-m10000 -w24|pass|two deaths among W1, W2, DEL (no reader)
safety-2crash-init|-DMAXCRASH=2 -DNO_RD -DINIT_K|$SAFE|-m10000 -w24|pass|two deaths among W1, W2, DEL from K LIVE
safety-2crash-reader|-DMAXCRASH=2 -DKILL_READER -DNO_DEL|$SAFE|-m10000 -w24|pass|two deaths among W1, W2 and the reader (no DEL)
safety-2crash-reader-init|-DMAXCRASH=2 -DKILL_READER -DNO_W2 -DINIT_K|$SAFE|-m10000 -w24|pass|two deaths among W1, DEL and the reader from K LIVE (no W2)
undo-2|-DNUNDO=2 -DMAXCRASH=2 -DNO_RD -DINIT_K|$SAFE|-m10000 -w24|pass|two undo records, two deaths, from K LIVE (no reader)
garbage|-DGARBAGE_INIT -DMAXCRASH=2 -DNO_RD|$SAFE|-m10000 -w24|pass|a planted PENDING word naming a free settled slot: inserts scrub it; two deaths
broken-floor-early|-DCHECK_EPOCH_REUSE -DBROKEN_FLOOR_EARLY|$SAFE|-m10000 -w24|fail:assertion violated \(\(i_odd\+1\)>kmax\)|the floor loaded only at the slot claim (the first format-3 src/kv.c; spin found it): K re-shows an epoch
broken-lossy|-DBROKEN_LOSSY|$SAFE|-m10000 -w24|fail:assertion violated .*va\[i\]==g_who\[i\]|recovery frees every odd slot (format 2's policy): a dead overwriter's key is lost (6)
broken-no-undo|-DBROKEN_NO_UNDO|$SAFE|-m10000 -w24|fail:assertion violated .*va\[i\]==g_who\[i\]|overwrite without an undo record: torn value after recovery (6)
broken-arm-late|-DBROKEN_ARM_LATE|$SAFE|-m10000 -w24|fail:assertion violated .*va\[i\]==g_who\[i\]|undo record armed after write_begin (it holds the odd epoch): torn value after recovery (6)
broken-recheck|-DBROKEN_NO_RECHECK|$SAFE|-m10000 -w24|fail:assertion violated \(\(ra==rb\)|reader without the epoch re-check: torn read
broken-dekker|-DBROKEN_NO_DEKKER|$SAFE|-m10000 -w24|fail:assertion violated .*\(wst\[3\]==2\)\)<=1\)|insert without the Dekker scan: duplicate key
broken-recovery|-DBROKEN_NO_RECOVERY|$SAFE|-m10000 -w24|fail:assertion violated \(\(owner\[0\]==0\)|liveness check always "alive": dead writer's slot stays owned (end state)
broken-recovery-ltl|-DLTL_RECOVERY -DBROKEN_NO_RECOVERY|$LIVE|-a -f -m20000 -w24|fail:acceptance cycle|the same, as an LTL counterexample
broken-epoch-order|-DCHECK_EPOCH_REUSE -DBROKEN_FREE_BEFORE_FLOOR|$SAFE|-m10000 -w24|fail:assertion violated \(\(i_odd\+1\)>kmax\)|unset tags FREE before raising the floor (the order spin caught in format 2): a key re-shows an old epoch
probe-1|-DPROBE=1|$SAFE|-m10000 -w24|fail:assertion violated|reachable: the reader returns a value
probe-2|-DPROBE=2|$SAFE|-m10000 -w24|fail:assertion violated|reachable: the reader's re-check catches a changed epoch
probe-3|-DPROBE=3|$SAFE|-m10000 -w24|fail:assertion violated|reachable: the Dekker scan meets another PENDING K
probe-4|-DPROBE=4|$SAFE|-m10000 -w24|fail:assertion violated|reachable: the Dekker scan finds K LIVE (retry as overwrite)
probe-5|-DPROBE=5|$SAFE|-m10000 -w24|fail:assertion violated|reachable: a set overwrites in place
probe-6|-DPROBE=6|$SAFE|-m10000 -w24|fail:assertion violated|reachable: unset removes K
probe-7|-DPROBE=7|$SAFE|-m10000 -w24|fail:assertion violated|reachable: recovery frees an unfinished write (PENDING word or none)
probe-8|-DPROBE=8|$SAFE|-m10000 -w24|fail:assertion violated|reachable: a caller (not the recoverer) recovers a dead writer's slot
probe-9|-DPROBE=9|$SAFE|-m10000 -w24|fail:assertion violated|reachable: recovery keeps a dead writer's LIVE key
probe-10|-DPROBE=10|$SAFE|-m10000 -w24|fail:assertion violated|reachable: recovery restores a value from its undo record
probe-11|-DPROBE=11|$SAFE|-m10000 -w24|fail:assertion violated|reachable: K commits with a word whose number is not its slot's
probe-12|-DPROBE=12 -DGARBAGE_INIT|$SAFE|-m10000 -w24|fail:assertion violated|reachable: the scrub frees a PENDING word of a settled slot
probe-13|-DPROBE=13 -DINIT_K|$SAFE|-m10000 -w24|fail:assertion violated|reachable: a writer takes back a dead writer's undo record
probe-14|-DPROBE=14|$SAFE|-m10000 -w24|fail:assertion violated|reachable: recovery completes a dead writer's set from its redo record (spl_set's one pass)
undo-1crash|-DMAXCRASH=1|$SAFE|-m10000 -w22|pass|undo records, two keys: (6) and end state; WX, WX2 or WY dies at any step
undo-2crash|-DMAXCRASH=2|$SAFE|-m10000 -w22|pass|undo records, settle disarming by CAS: two deaths
undo-2rec-3crash|-DNUNDO=2 -DMAXCRASH=3|$SAFE|-m10000 -w22|pass|the same with two records and three deaths
undo-broken-settle-store|-DMAXCRASH=2 -DBROKEN_SETTLE_STORE|$SAFE|-m10000 -w22|fail:assertion violated .*va\[i\]==g_who\[i\]|settle disarming with a plain store (the first format-3 src/kv.c; spin found it): a recovery wipes a record a reclaim re-armed: torn value
undo-probe-1|-DPROBE=1|$SAFE|-m10000 -w22|fail:assertion violated|undo, reachable: recovery restores a value
undo-probe-2|-DPROBE=2|$SAFE|-m10000 -w22|fail:assertion violated|undo, reachable: a recovery at an even epoch disarms a leftover record
undo-probe-3|-DPROBE=3|$SAFE|-m10000 -w22|fail:assertion violated|undo, reachable: a reclaim nudges the slot of a record still needed
undo-probe-4|-DPROBE=4|$SAFE|-m10000 -w22|fail:assertion violated|undo, reachable: a reclaim takes back an armed record
slow-safety-2crash|-DMAXCRASH=2 -DKILL_READER|$SAFE|-m10000 -w25|pass|(slow: ~100 s, 1.7 GB) two deaths among all four, the reader too
slow-garbage|-DGARBAGE_INIT|$SAFE|-m10000 -w24|pass|(slow: ~40 s) the planted PENDING word with all processes, one death
slow-undo-2|-DNUNDO=2|$SAFE|-m10000 -w24|pass|(slow: ~30 s) two undo records with all processes, one death
cells-safety|-DNO_SR|$SAFE|-m10000 -w24|pass|cells (2)-(5): INV, no orphan, no EFULL, end state; WX, CX or WY dies at any step
cells-safety-2crash|-DNO_SR -DMAXCRASH=2|$SAFE|-m10000 -w24|pass|cells: the same with two deaths
cells-search|-DMAXCRASH=0|$SAFE|-m10000 -w24|pass|cells (1): a search's hits are whole and the slot's, with WX, CX and WY writing
cells-search-crash-x|-DNO_WY|$SAFE|-m10000 -w24|pass|cells (1)-(5) with the search, WX or CX dies at any step
cells-search-crash-xy|-DNO_CX|$SAFE|-m10000 -w24|pass|cells (1)-(5) with the search, WX or WY dies at any step
cells-orphan|-DNO_SR -DORPHAN_INIT|$SAFE|-m10000 -w24|pass|cells: a planted orphan is swept, never EFULL, INV holds; one death
cells-broken-claim-then-name|-DNO_SR -DBROKEN_CLAIM_THEN_NAME|$SAFE|-m10000 -w24|fail:assertion violated \(\(\(cslot\[0\]==0\)|cells: naming the cell after its claim (the first version): a killed writer leaves an orphan
cells-broken-unname-then-free|-DNO_SR -DBROKEN_UNNAME_THEN_FREE|$SAFE|-m10000 -w24|fail:assertion violated \(\(\(cslot\[0\]==0\)|cells: unnaming before freeing: a killed writer leaves an orphan
cells-broken-recheck|-DMAXCRASH=0 -DNO_CX -DBROKEN_NO_CELL_RECHECK|$SAFE|-m10000 -w24|fail:assertion violated \(\(\(\(x1-1\)==0\)|cells: a search without its cell seq re-checks: a hit whose elements are not the slot's
cells-broken-sweep-self|-DNO_SR -DORPHAN_INIT -DBROKEN_SWEEP_NO_SELF|$SAFE|-m10000 -w24|fail:assertion violated \(t_busy>0\)|cells: a sweep that spares orphans of the claimer's own slot: EFULL
cells-probe-1|-DNO_SR -DPROBE=1|$SAFE|-m10000 -w24|fail:assertion violated|cells, reachable: recovery of a dead writer's slot
cells-probe-2|-DNO_SR -DORPHAN_INIT -DPROBE=2|$SAFE|-m10000 -w24|fail:assertion violated|cells, reachable: the sweep frees an orphan
cells-probe-3|-DNO_SR -DPROBE=3|$SAFE|-m10000 -w24|fail:assertion violated|cells, reachable: a set rewrites its cell in place
cells-probe-4|-DNO_WY -DMAXCRASH=0 -DPROBE=4|$SAFE|-m10000 -w24|fail:assertion violated|cells, reachable: the search takes a hit
EOF
}

if [ "${1:-}" = "--list" ]; then
    checks | awk -F'|' '{printf "%-26s %s%s\n", $1, ($5 == "pass" ? "" : ($1 ~ /^found-/ ? "[found: must fail] " : "[must fail] ")), $6}'
    exit 0
fi

pass=0; fail=0
finish() {
    echo "model: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}

if ! command -v "$SPIN" >/dev/null 2>&1; then
    echo "FAIL spin not found (Debian package spin: make deps)"
    fail=1; finish
fi
for m in slot undo cells; do
    if [ ! -f "$models/$m.pml" ]; then
        echo "FAIL no model at $models/$m.pml"
        fail=1; finish
    fi
done

# Which checks to run.
want=("$@")
selected=$(checks | while IFS='|' read -r name _; do
    if [ ${#want[@]} -eq 0 ]; then
        case $name in slow-*) [ "${MODEL_SLOW:-0}" = 1 ] && echo "$name" ;; *) echo "$name" ;; esac
    else
        for w in "${want[@]}"; do [ "$w" = "$name" ] && echo "$name"; done
    fi
done)
for w in "${want[@]}"; do
    if ! grep -qx -- "$w" <<<"$selected"; then
        echo "FAIL unknown check '$w' (--list shows them)"
        fail=$((fail + 1))
    fi
done
[ -n "$selected" ] || finish

root=$(mktemp -d "${TMPDIR:-/tmp}/spl-model.XXXXXX")
cleanup() { [ "${MODEL_KEEP:-0}" = 1 ] && echo "model: kept $root" || rm -rf "$root"; }
trap cleanup EXIT

# Shorten `spin -t -p -g` output to the steps that change shared state (plus
# a few named shared loads): "step proc+pid  var=value ...".
trail_summary() {
    awk '
    function flush(   i, n, ch, pv) {
        if (key != "" && kname !~ /^:init:/ && kname !~ /^never/) {
            ch = ""
            for (i = 1; i <= no; i++) {
                n = order[i]; pv = (n in prev) ? prev[n] : "0"
                if (cur[n] != pv) ch = ch " " n "=" cur[n]
            }
            if (ch != "" || reads != "") printf "  %5s %-11s%s%s\n", kstep, kname, ch, reads
        }
        for (i = 1; i <= no; i++) prev[order[i]] = cur[order[i]]
        reads = ""
    }
    /^ *[0-9]+:[ \t]+proc/ {
        st = $1; sub(/:$/, "", st); pid = $3; nm = $4
        sub(/^\(/, "", nm); sub(/:.*/, "", nm)
        if (st " " pid != key) { flush(); key = st " " pid; kstep = st; kname = nm pid }
        s = $0; sub(/^[^[]*\[/, "", s); sub(/\][ \t]*$/, "", s)
        if (s ~ /^(i_w = wst\[i_[de]\]|i_f = \(efloor&254\)|f_w = wst\[0\]|r_w = wst\[0\]|e1 = epoch\[r_s\]|i_e1 = epoch\[i_x\]|ra = va\[r_s\]|rb = vb\[r_s\]|u_a = uarm\[u_r\]|k_a = uarm\[k_r\])$/) {
            split(s, a, " = "); reads = reads " load " a[2] "->" a[1]
        }
        next
    }
    /^\t\t[a-z_]+(\[[0-9]+\])? = -?[0-9]+[ \t]*$/ {
        n = $1; if (!(n in seen)) { seen[n] = 1; order[++no] = n }
        cur[n] = $3; next
    }
    /START OF CYCLE/ { flush(); print "  -- cycle starts here --"; next }
    /assertion violated|acceptance cycle/ { msg = msg "  " $0 "\n" }
    END { flush(); printf "%s", msg }'
}

# run_check NAME SPINFLAGS CFLAGS PANFLAGS EXPECT: writes $root/NAME.res
# (first line "ok" or "FAIL", then the report).
run_check() {
    local name=$1 sflags=$2 cflags=$3 pflags=$4 expect=$5
    local d="$root/$name" res="$root/$name.res" t0 t1 t2 rc pml=slot.pml
    local limit=$tmo
    case $name in cells-*) pml=cells.pml ;; undo-*) pml=undo.pml ;; esac
    case $name in slow-*) limit=$((tmo * 3)) ;; esac
    mkdir -p "$d" && cp "$models/$pml" "$d/$pml"
    (
        cd "$d" || exit 1
        t0=$(date +%s%N)
        # shellcheck disable=SC2086
        if ! "$SPIN" -a $sflags "$pml" > spin.log 2>&1; then
            { echo FAIL; echo "spin -a failed:"; sed 's/^/    | /' spin.log; } > "$res"; exit 0
        fi
        # shellcheck disable=SC2086
        if ! "$PAN_CC" -O0 -w $cflags -o pan pan.c > cc.log 2>&1; then
            { echo FAIL; echo "compiling pan failed:"; sed 's/^/    | /' cc.log | tail -20; } > "$res"; exit 0
        fi
        t1=$(date +%s%N)
        # shellcheck disable=SC2086
        timeout -k 5 "$limit" ./pan $pflags > pan.log 2>&1
        rc=$?
        t2=$(date +%s%N)
        errs=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.log | tail -1)
        states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.log | tail -1)
        trans=$(sed -n 's/^ *\([0-9.e+]*\) transitions.*/\1/p' pan.log | tail -1)
        depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.log | tail -1)
        mem=$(sed -n 's/^ *\([0-9.]*\)[ \t]*total actual memory usage.*/\1/p' pan.log | tail -1)
        pant=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' pan.log | tail -1)
        viol=$(grep -m1 -E 'assertion violated|acceptance cycle|invalid end state|max search depth too small|MEMLIM|Search not completed' pan.log)
        stats="${states:-?} states, ${trans:-?} transitions, depth ${depth:-?}, ${mem:-?} MB, pan ${pant:-?} s, total $(( (t2 - t0) / 1000000 )) ms"
        verdict=FAIL; why=""
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ] || [ -z "$errs" ]; then
            why="pan did not finish (exit $rc)"
        elif [ "$expect" = pass ]; then
            if [ "$errs" = 0 ] && ! grep -qE 'Search not completed|MEMLIM|max search depth too small' pan.log; then
                verdict=ok
            else
                why="expected to pass: ${viol:-errors: $errs}"
            fi
        else
            pat=${expect#fail:}
            if [ "$errs" != 0 ] && grep -qE -- "$pat" pan.log; then
                verdict=ok; why="fails as it must: $(grep -m1 -E -- "$pat" pan.log | sed 's/^pan:1: //')"
            elif [ "$errs" != 0 ]; then
                why="failed, but not as expected (wanted /$pat/): $viol"
            else
                why="expected a violation (/$pat/), spin found none"
            fi
        fi
        {
            echo "$verdict"
            echo "$stats"
            [ -n "$why" ] && echo "$why"
            if [ -f "$pml.trail" ] && { [ "$verdict" = FAIL ] || [ "${MODEL_VERBOSE:-0}" = 1 ]; }; then
                echo "trail (step, process, shared variables it changed / loads):"
                # shellcheck disable=SC2086
                "$SPIN" -t -p -g $sflags "$pml" 2>&1 | trail_summary | tail -n 120
            fi
            if [ "$verdict" = FAIL ]; then
                echo "pan output:"; sed 's/^/    | /' pan.log | tail -25
            fi
        } > "$res"
    )
}

n=$(wc -l <<<"$selected")
echo "model: $n checks of docs/model/slot.pml, undo.pml and cells.pml, $jobs at a time ($("$SPIN" -V 2>/dev/null | head -1))"
running=0
while IFS='|' read -r name sflags cflags pflags expect what; do
    grep -qx -- "$name" <<<"$selected" || continue
    run_check "$name" "$sflags" "$cflags" "$pflags" "$expect" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done < <(checks)
wait

while IFS='|' read -r name sflags cflags pflags expect what; do
    grep -qx -- "$name" <<<"$selected" || continue
    res="$root/$name.res"
    if [ ! -f "$res" ]; then
        fail=$((fail + 1)); echo "FAIL $name: no result"; continue
    fi
    verdict=$(head -1 "$res")
    tag="pass"; [ "$expect" = pass ] || tag="must fail"
    case $name in found-*) tag="found in src/kv.c, must fail" ;; esac
    if [ "$verdict" = ok ]; then
        pass=$((pass + 1)); echo "ok   $name ($tag): $what"
    else
        fail=$((fail + 1)); echo "FAIL $name ($tag): $what"
    fi
    tail -n +2 "$res" | sed 's/^/       /'
done < <(checks)
finish
