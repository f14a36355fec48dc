# tests/mirror/lib.sh - sourced by the mirror's test scripts.
#
# Starts a real nats-server (JetStream) on 127.0.0.1, a free port and a
# temporary store directory; starts mirrors in the background; a trap on
# EXIT kills everything this script started (by pid) and removes the
# temporary directory.  $B is the build directory (default build).
set -u
B=${B:-build}
MIRROR=$B/splinter-mirror
TOOL=$B/tests/mirror_tool
WORK=$(mktemp -d "${TMPDIR:-/tmp}/splm.XXXXXX")
NS_PID=
PORT=
URL=
declare -A MPID=()
CHECKS=0

cleanup() {
    for n in "${!MPID[@]}"; do kill -9 "${MPID[$n]}" 2>/dev/null; done
    [ -n "$NS_PID" ] && kill -9 "$NS_PID" 2>/dev/null
    wait 2>/dev/null
    if [ -n "${SPLM_KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    for f in "$WORK"/*.stats; do
        [ -f "$f" ] && echo "--- $(basename "$f"): $(tr '\n' ' ' < "$f")"
    done
    for f in "$WORK"/*.log; do
        [ -f "$f" ] || continue
        echo "--- $(basename "$f") (last lines)"
        tail -n 15 "$f"
    done
    exit 1
}
ok() { CHECKS=$((CHECKS + 1)); echo "  ok: $*"; }

# ns_start [nats-server options...]: start (or restart, on the same port and
# directory) the server; sets NS_PID, PORT, URL.
ns_start() {
    local tries=0
    while :; do
        [ -n "$PORT" ] && [ $tries -eq 0 ] || PORT=$((20000 + RANDOM % 40000))
        nats-server -a 127.0.0.1 -p "$PORT" -sd "$WORK/js" "$@" >> "$WORK/nats-server.log" 2>&1 &
        NS_PID=$!
        local i
        for i in $(seq 100); do
            if ! kill -0 "$NS_PID" 2>/dev/null; then break; fi
            if grep -q "Server is ready" "$WORK/nats-server.log" 2>/dev/null &&
                (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
                URL=nats://127.0.0.1:$PORT
                return 0
            fi
            sleep 0.05
        done
        kill -9 "$NS_PID" 2>/dev/null; wait "$NS_PID" 2>/dev/null; NS_PID=
        tries=$((tries + 1))
        [ $tries -lt 10 ] || fail "nats-server did not start"
        : > "$WORK/nats-server.log"
    done
}

ns_stop() { # SIGKILL: the hardest way a server goes away
    [ -n "$NS_PID" ] || return 0
    kill -9 "$NS_PID" 2>/dev/null; wait "$NS_PID" 2>/dev/null; NS_PID=
    : > "$WORK/nats-server.log"
}

# mirror_start NAME STORE ARGS...: a mirror in the background, its counters
# in $WORK/NAME.stats, its log in $WORK/NAME.log.
mirror_start() {
    local n=$1; shift
    SPLINTER_MIRROR_TRACE=${TRACE_DIR:+$TRACE_DIR/$n.trace} "$MIRROR" "$@" --stats "$WORK/$n.stats" --backoff-min 50 --backoff-max 500 >> "$WORK/$n.log" 2>&1 &
    MPID[$n]=$!
}

# mirror_kill NAME: SIGKILL; its stats file goes too, so that wait_ready and
# stat_of read the restarted mirror's, not the dead one's last words
mirror_kill() { kill -9 "${MPID[$1]}" 2>/dev/null; wait "${MPID[$1]}" 2>/dev/null; unset "MPID[$1]"; rm -f "$WORK/$1.stats"; }

# mirror_stop NAME: SIGTERM, and it must exit 0 within 10 s.
mirror_stop() {
    local p=${MPID[$1]} i
    kill -TERM "$p" 2>/dev/null
    for i in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$p" 2>/dev/null && fail "mirror $1 did not stop on SIGTERM"
    wait "$p"; local rc=$?
    unset "MPID[$1]"
    [ $rc -eq 0 ] || fail "mirror $1 exited $rc"
}

# vectors: true if this build keeps vectors; where it does not
# (WITH_EMBEDDINGS=0), a script runs its key-value part and says, with
# skip_vectors WHAT, what it leaves out.
vectors() { "$TOOL" vectors > /dev/null; }
skip_vectors() { echo "SKIP $(basename "$0" .sh) $*: this build has no vectors (WITH_EMBEDDINGS=0)"; }

stat_of() { sed -n "s/^$2=//p" "$WORK/$1.stats" 2>/dev/null; }

wait_ready() {
    local i
    for i in $(seq 200); do
        [ "$(stat_of "$1" ready)" = 1 ] && return 0
        kill -0 "${MPID[$1]}" 2>/dev/null || fail "mirror $1 died"
        sleep 0.05
    done
    fail "mirror $1 not ready in 10 s"
}

store() { "$TOOL" create "$WORK/$1.spl" "${@:2}" || fail "create store $1"; }

# the last line of every script: run.sh prints the group's "N passed, N failed"
done_ok() { echo "$(basename "$0"): $CHECKS checks passed"; exit 0; }
