#!/usr/bin/python3
"""tests/interop/run.py - one store, processes in C, Python, Node.js, Rust and
Go at the same time (tests/interop/README.md).  Prints one line per check and
"interop: N passed, N failed[, N skipped]"; appends "N M S" to $SPL_SUMMARY.
In a build without vectors (WITH_EMBEDDINGS=0) the vector phase is skipped
(a "skip" line each for its checks, counted apart) and the rest runs.

run.py --c C_WORKER --rust RUST_WORKER --go GO_WORKER [--n N] [--python PY]
Everything it starts is killed, and the store directory removed, on exit."""
import argparse
import math
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
LANGS = ["c", "py", "node", "rust", "go"]
STORE = "interop"
T0 = time.monotonic()

ap = argparse.ArgumentParser()
ap.add_argument("--c", required=True)
ap.add_argument("--rust", required=True)
ap.add_argument("--go", required=True)
ap.add_argument("--python", default="/usr/bin/python3")
ap.add_argument("--node", default="node")
ap.add_argument("--n", type=int, default=20000, help="increments per language")
A = ap.parse_args()

procs = []
tmp = tempfile.mkdtemp(prefix="spl-interop-")  # mode 0700
os.environ["SPLINTER_SHM_DIR"] = tmp
os.environ.setdefault("SPLINTER_LIB", os.path.join(REPO, "build", "libsplinter.so"))
passed = failed = skipped = 0


def cmd(lang, role, *args):
    base = {"c": [A.c], "py": [A.python, os.path.join(HERE, "worker.py")],
            "node": [A.node, os.path.join(HERE, "worker.mjs")], "rust": [A.rust], "go": [A.go]}[lang]
    return base + [STORE, role] + [str(a) for a in args]


def start(lang, role, *args):
    p = subprocess.Popen(cmd(lang, role, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    p.lang = lang
    procs.append(p)
    return p


def finish(p, timeout):
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return 124, out
    return p.returncode, out


def run(lang, role, *args, timeout=30):
    return finish(start(lang, role, *args), timeout)


def readline(p, timeout):
    """One line of p's stdout within timeout, or None (no polling: select)."""
    import select
    r, _, _ = select.select([p.stdout], [], [], timeout)
    return p.stdout.readline().strip() if r else None


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''} "
          f"({time.monotonic() - T0:.1f} s)", flush=True)


def skip(name, why):
    global skipped
    skipped += 1
    print(f"skip {name}: {why}", flush=True)


def cleanup(*_):
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    shutil.rmtree(tmp, ignore_errors=True)


def on_signal(sig, _):
    cleanup()
    sys.exit(128 + sig)


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)


def phase_kv():
    """All five at once: N increments of one counter each, their own keys
    (every byte value, embedded NULs), and every other language's keys."""
    ps = [start(lang, "kv", A.n) for lang in LANGS]
    for p in ps:
        rc, out = finish(p, 60)
        check(f"kv {p.lang}: own keys written, all {len(LANGS) * 4} keys read byte for byte",
              rc == 0 and out.startswith("ok"), f"rc={rc} {out.strip()[-300:]}" if rc else "")
    rc, out = run("c", "getint", "ctr")
    want = len(LANGS) * A.n
    check(f"counter: {len(LANGS)} x {A.n} concurrent increments", rc == 0 and out.strip() == str(want),
          f"got {out.strip()}, want {want}")


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


VEC_CHECKS = ("vec: Python writes 4 vectors", "vec: Rust search finds Python's nearest vector first",
              "vec: Rust scores = C spl_vec_search scores = exact cosine (1e-5)")


def phase_vec():
    """Vectors written from Python, searched from Rust and from C."""
    rc, out = run("py", "vecwrite")
    check(VEC_CHECKS[0], rc == 0, out.strip())
    q = [0.1 * (j + 1) for j in range(8)]
    hits = {}
    for lang in ("rust", "c"):
        rc, out = run(lang, "search", *q)
        hits[lang] = [(ln.split()[1], float(ln.split()[2])) for ln in out.splitlines() if ln.startswith("hit ")]
        if rc:
            print(out)
    sys.path.insert(0, HERE)
    import worker  # the vectors, as Python wrote them
    qq = [f32(x) for x in q]
    want = {}
    for k, v in worker.VECS.items():
        v = [f32(x) for x in v]
        dot = sum(a * b for a, b in zip(qq, v))
        want[k] = dot / (math.sqrt(sum(a * a for a in qq)) * math.sqrt(sum(b * b for b in v)))
    r, c = hits["rust"], hits["c"]
    check(VEC_CHECKS[1], bool(r) and r[0][0] == "py.vec0", str(r[:1]))
    same = len(r) == len(c) == len(want) and all(
        rk == ck and abs(rs - cs) <= 1e-5 and abs(rs - want[rk]) <= 1e-5 for (rk, rs), (ck, cs) in zip(r, c))
    check(VEC_CHECKS[2], same,
          f"rust {r} c {c} exact {want}" if not same else
          "max |rust-c| %.2g" % max(abs(a[1] - b[1]) for a, b in zip(r, c)))


def phase_watch():
    """A Node waiter woken by a Go write, a Go waiter by a Node write."""
    for waiter, writer in (("node", "go"), ("go", "node")):
        key, val = f"w.{writer}2{waiter}", f"from-{writer}"
        w = start(waiter, "wait", key, val)
        line = readline(w, 20)
        if line != "ready":
            check(f"watch: {waiter} waiter starts", False, str(line))
            continue
        time.sleep(0.2)  # the waiter is asleep in spl_key_wait
        rc, out = run(writer, "set", key, val)
        rc2, wout = finish(w, 10)
        try:
            wrote = int(out.split()[1])
            woke = int(wout.split()[1])
            lat = (woke - wrote) / 1e6
        except (IndexError, ValueError):
            lat = None
        check(f"watch: {waiter} sees a write from {writer} in one wake-up, within 2 s",
              rc == 0 and rc2 == 0 and lat is not None and lat < 2000,
              f"{lat:.2f} ms" if lat is not None and rc2 == 0 else f"{out.strip()} / {wout.strip()}")


def counts():
    vals = {}
    for lang in LANGS:
        rc, out = run("c", "getint", f"{lang}.hn", timeout=10)
        vals[lang] = int(out) if rc == 0 else -1
    return vals


def phase_kill():
    """Each language loops writing 64-192 KiB values; one at a time is
    SIGKILLed at a random moment while the others go on; then every key
    reads whole, takes a write, and every free slot takes a key."""
    hs = {lang: start(lang, "hammer") for lang in LANGS}
    for lang, p in hs.items():
        line = readline(p, 20)
        check(f"kill: {lang} writer running", line == "ready", str(line))
    rnd = random.Random(os.getpid())
    order = LANGS[:]
    rnd.shuffle(order)
    for i, lang in enumerate(order):
        time.sleep(rnd.uniform(0.2, 0.5))
        os.killpg(hs[lang].pid, signal.SIGKILL)
        hs[lang].wait()
        alive = order[i + 1:]
        if alive:
            before = counts()
            time.sleep(0.3)
            after = counts()
            stalled = [x for x in alive if after[x] <= before[x] or hs[x].poll() is not None]
            check(f"kill: {lang} SIGKILLed, {'/'.join(alive)} go on", not stalled, f"stalled: {stalled}")
    rc, out = run("c", "verify", timeout=30)
    check("kill: store recovers (keys whole, set_wait on every key, every free slot usable)", rc == 0,
          out.strip().splitlines()[0] if out.strip() else f"rc={rc}")
    print("     " + out.strip().replace("\n", "\n     "))


try:
    rc, out = run("c", "create")
    check("store created (SHM in a private temp dir)", rc == 0, out.strip())
    if rc == 0:
        phase_kv()
        if "no vectors" in out:
            for name in VEC_CHECKS:
                skip(name, "this build has no vectors (WITH_EMBEDDINGS=0)")
        else:
            phase_vec()
        phase_watch()
        phase_kill()
finally:
    cleanup()
print(f"interop: {passed} passed, {failed} failed{f', {skipped} skipped' if skipped else ''} "
      f"({time.monotonic() - T0:.1f} s)")
if os.environ.get("SPL_SUMMARY"):
    with open(os.environ["SPL_SUMMARY"], "a") as f:
        f.write(f"{passed} {failed} {skipped}\n")
sys.exit(1 if failed else 0)
