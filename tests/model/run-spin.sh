#!/usr/bin/env bash
# tests/model/run-spin.sh [CHECK...]  - model-check docs/model/slot.pml and
# docs/model/cells.pml (the checks named cells-*) with spin.
#
# Each check runs `spin -a` with its switches, compiles pan and runs it, all
# in a temporary directory (nothing is written to the repository).  A check
# either must PASS (no error, search complete) or must FAIL with a given
# violation (a broken variant, a known issue, or a reachability probe).
# Prints one line per check and, last, "model: N passed, N failed"; exits
# non-zero if any check did not do what it must.
#
#   tests/model/run-spin.sh                 all checks
#   tests/model/run-spin.sh broken-dekker   just those named
#   tests/model/run-spin.sh --list          the checks
# Environment: MODEL_JOBS (parallel checks, default 2), MODEL_TIMEOUT (s per
# check, default 300), MODEL_VERBOSE=1 (print the trail of every failure,
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
safety|-DMAXCRASH=1|$SAFE|-m10000 -w24|pass|properties 1-4: asserts + end state; W1, W2 or DEL dies at any step
safety-2crash|-DMAXCRASH=2 -DKILL_READER|$SAFE|-m10000 -w25|pass|the same with two deaths, the reader killable too
liveness|-DLTL_RECOVERY|$LIVE|-a -f -m20000 -w24|pass|property 4 as LTL [] (stuck -> <> !stuck), weak fairness
epoch-reuse|-DCHECK_EPOCH_REUSE|$SAFE|-m10000 -w24|pass|property 5: no (key, epoch) reuse across delete and re-insert
broken-recheck|-DBROKEN_NO_RECHECK|$SAFE|-m10000 -w24|fail:assertion violated \(\(ra==rb\)|reader without the epoch re-check: torn read
broken-dekker|-DBROKEN_NO_DEKKER|$SAFE|-m10000 -w24|fail:assertion violated .*\(state\[2\]==2\)\)<=1\)|insert without the Dekker scan: duplicate key
broken-recovery|-DBROKEN_NO_RECOVERY|$SAFE|-m10000 -w24|fail:assertion violated .*owner\[0\]==0|liveness check always "alive": dead writer's slot stays owned (end state)
broken-recovery-ltl|-DLTL_RECOVERY -DBROKEN_NO_RECOVERY|$LIVE|-a -f -m20000 -w24|fail:acceptance cycle|the same, as an LTL counterexample
broken-epoch-order|-DCHECK_EPOCH_REUSE -DBROKEN_FREE_BEFORE_FLOOR|$SAFE|-m10000 -w24|fail:assertion violated \(epoch\[i_i\]>kmax\)|FREE tag before the epoch floor (the order spin caught in src/kv.c): a key re-shows an old epoch
probe-1|-DPROBE=1|$SAFE|-m10000 -w24|fail:assertion violated|reachable: the reader returns a value
probe-2|-DPROBE=2|$SAFE|-m10000 -w24|fail:assertion violated|reachable: the reader's re-check catches a changed epoch
probe-3|-DPROBE=3|$SAFE|-m10000 -w24|fail:assertion violated|reachable: the Dekker scan meets another PENDING K
probe-4|-DPROBE=4|$SAFE|-m10000 -w24|fail:assertion violated|reachable: the Dekker scan finds K LIVE (retry as overwrite)
probe-5|-DPROBE=5|$SAFE|-m10000 -w24|fail:assertion violated|reachable: a set overwrites in place
probe-6|-DPROBE=6|$SAFE|-m10000 -w24|fail:assertion violated|reachable: unset removes K
probe-7|-DPROBE=7|$SAFE|-m10000 -w24|fail:assertion violated|reachable: recovery frees an unfinished write
probe-8|-DPROBE=8|$SAFE|-m10000 -w24|fail:assertion violated|reachable: a caller (not the recoverer) recovers a dead writer's slot
probe-9|-DPROBE=9|$SAFE|-m10000 -w24|fail:assertion violated|reachable: recovery keeps a dead writer's intact LIVE slot
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
    checks | awk -F'|' '{printf "%-20s %s%s\n", $1, ($5 == "pass" ? "" : "[must fail] "), $6}'
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
for m in slot cells; do
    if [ ! -f "$models/$m.pml" ]; then
        echo "FAIL no model at $models/$m.pml"
        fail=1; finish
    fi
done

# Which checks to run.
want=("$@")
selected=$(checks | while IFS='|' read -r name _; do
    if [ ${#want[@]} -eq 0 ]; then echo "$name"; else
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
        if (s ~ /^(i_st = state\[i_e\]|i_f = \(efloor&254\)|f_w = state\[0\]|r_w = state\[0\]|e1 = epoch\[r_d\]|ra = va\[r_d\]|rb = vb\[r_d\])$/) {
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
    case $name in cells-*) pml=cells.pml ;; esac
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
        timeout -k 5 "$tmo" ./pan $pflags > pan.log 2>&1
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
echo "model: $n checks of docs/model/slot.pml and cells.pml, $jobs at a time ($("$SPIN" -V 2>/dev/null | head -1))"
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
    if [ "$verdict" = ok ]; then
        pass=$((pass + 1)); echo "ok   $name ($tag): $what"
    else
        fail=$((fail + 1)); echo "FAIL $name ($tag): $what"
    fi
    tail -n +2 "$res" | sed 's/^/       /'
done < <(checks)
finish
