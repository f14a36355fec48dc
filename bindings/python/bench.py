#!/usr/bin/python3
"""Get and set latency of 64-byte values through the Python binding, hot and
random keys, against the C library and a redis-server in the same run:

- the workload is the one every binding's bench runs
  (bench/bindings/c_loop.h, bench/bindings/README.md): --keys keys
  "key:%08u" in a memfd store, hot = 8 keys in turn, random = xorshift32
  (the order comes from c_loop.h);
- C: c_loop.h's loops (build/bench/libsplbench.so, --c-loop; `make
  bench-python` builds it), called through ctypes once per round, in this
  process, on this store: pipelined (a C loop, the CPU overlapping
  successive gets' cache misses) and dependent (each get waits for the
  previous one's value: one get's latency);
- python: Store.__getitem__ / __setitem__ with str keys;
- rounds alternate C and Python; the figure is the fastest round by the
  wall clock (the least disturbed by other work), the median beside it;
  the fastest by this thread's CPU clock is in the JSON too (time other
  processes took from it left out);
- floors, same run: the bare loop, and an empty C function called through
  ctypes with a get's arguments (the store, an encoded key, the pooled
  buffer, its size, the length out) the way __getitem__ calls spl_get;
- redis: redis-py GET/SET against a redis-server started here on 127.0.0.1
  at a free port with a temporary directory (no persistence), stopped after.

Prints a table (ns/op, the overhead over C) and one JSON line.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import splinter  # noqa: E402

VAL = b"\x5a" * 64


def median(xs: list) -> float:
    return sorted(xs)[len(xs) // 2]


def bench_python(cl: ctypes.CDLL, keys: int, ops: int, rounds: int) -> dict:
    st = splinter.Store.create(None, backing="memfd", slots=cl.splb_c_slots(keys), key_max=32,
                               val_max=64, vec_dim=0)
    names = [f"key:{i:08d}" for i in range(keys)]
    for k in names:
        st[k] = VAL
    cnames = ctypes.create_string_buffer(keys * 16)
    cl.splb_c_names(cnames, keys)
    sp = ctypes.c_void_p(st._h())
    cval = ctypes.create_string_buffer(VAL, len(VAL))
    out = {}
    orders = {}
    for pattern, random_ in (("hot", 0), ("random", 1)):
        o = (ctypes.c_uint32 * ops)()
        cl.splb_c_order(o, ops, keys, random_)
        orders[pattern] = (o, [names[i] for i in o])

    cpu = {}  # (op, pattern, who) -> the fastest round by this thread's CPU clock

    def keep_cpu(key, c0: int) -> None:
        cpu[key] = min(cpu.get(key, float("inf")), (time.thread_time_ns() - c0) / ops)

    def c_round(op: int, dep: int, o, key=None) -> float:
        c0 = time.thread_time_ns()
        ns = cl.splb_c_loop(sp, cnames, o, ops, op, dep, cval, len(VAL))
        if key:
            keep_cpu(key, c0)
        if not ns:
            raise RuntimeError("C loop failed")
        return ns / ops

    def py_round(op: str, seq: list, key=None) -> float:
        t, c0 = time.perf_counter_ns(), time.thread_time_ns()
        if op == "get":
            for k in seq:
                st[k]
        else:
            for k in seq:
                st[k] = VAL
        w = (time.perf_counter_ns() - t) / ops
        if key:
            keep_cpu(key, c0)
        return w

    def timed(fn) -> float:
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter_ns()
            fn()
            best = min(best, (time.perf_counter_ns() - t) / ops)
        return round(best, 1)

    hot = orders["hot"][1]
    noop = ctypes.PyDLL(cl._name).splb_c_noop  # called as _lib.fast calls spl_get
    ent = st._pool.pop() if st._pool else splinter.store._pool_entry()
    kbs = [k.encode() for k in hot]

    def loop_only():
        for k in hot:
            pass

    def ctypes_call():
        for kb in kbs:
            noop(sp, kb, ent[1], ent[5], ent[4])

    floors = {"loop_ns": timed(loop_only), "ctypes_get_shape_ns": timed(ctypes_call)}
    for op, cop in (("get", 0), ("set", 1)):
        for pattern in ("hot", "random"):
            o, seq = orders[pattern]
            py_round(op, seq)  # warm up
            c_round(cop, 0, o)
            c, d, p = [], [], []
            for _ in range(rounds):
                c.append(c_round(cop, 0, o, (op, pattern, "c")))
                d.append(c_round(cop, 1, o, (op, pattern, "c_dep")))
                p.append(py_round(op, seq, (op, pattern, "python")))
            out[f"{op}_{pattern}"] = {"op": op, "pattern": pattern, "c_ns": round(min(c), 1),
                                      "c_dep_ns": round(min(d), 1), "python_ns": round(min(p), 1),
                                      "overhead_ns": round(min(p) - min(c), 1),
                                      "overhead_dep_ns": round(min(p) - min(d), 1),
                                      "c_median_ns": round(median(c), 1),
                                      "python_median_ns": round(median(p), 1),
                                      "c_cpu_ns": round(cpu[(op, pattern, "c")], 1),
                                      "c_dep_cpu_ns": round(cpu[(op, pattern, "c_dep")], 1),
                                      "python_cpu_ns": round(cpu[(op, pattern, "python")], 1)}
    st.close()
    return {"floors": floors, "results": out, "seqs": {p: orders[p][1] for p in orders}}


def best(reps: int, n: int, fn) -> tuple:
    """(wall ns per op, the best of reps runs,)."""
    bw = float("inf")
    for _ in range(reps):
        w = time.perf_counter_ns()
        fn()
        bw = min(bw, (time.perf_counter_ns() - w) / n)
    return (bw,)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_redis(keys: int, ops: int, reps: int, seqs: dict) -> dict | str:
    exe = shutil.which("redis-server")
    if not exe:
        return "redis-server not found (apt-get install redis-server)"
    try:
        import redis  # python3-redis
    except ImportError:
        return "python3-redis not installed"
    tmp = tempfile.mkdtemp(prefix="spl-bench-redis-")
    port = free_port()
    proc = subprocess.Popen([exe, "--bind", "127.0.0.1", "--port", str(port), "--dir", tmp,
                             "--save", "", "--appendonly", "no", "--daemonize", "no",
                             "--protected-mode", "yes", "--logfile", os.path.join(tmp, "log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        names = [f"key:{i:08d}" for i in range(keys)]
        for i in range(0, keys, 1000):
            r.mset({k: VAL for k in names[i:i + 1000]})
        # The same hot and random orders as the binding's (c_loop.h), cut short.
        hots = seqs["hot"][:ops]
        seq = seqs["random"][:ops]
        get, set_ = r.get, r.set

        def get_hot():
            for k in hots:
                get(k)

        def get_random():
            for k in seq:
                get(k)

        def set_hot():
            for k in hots:
                set_(k, VAL)

        def set_random():
            for k in seq:
                set_(k, VAL)
        out = {"get_hot": best(reps, ops, get_hot), "get_random": best(reps, ops, get_random),
               "set_hot": best(reps, ops, set_hot), "set_random": best(reps, ops, set_random)}
        r.close()
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--ops", type=int, default=200000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--redis-ops", type=int, default=20000)
    ap.add_argument("--redis-reps", type=int, default=3)
    ap.add_argument("--c-loop", default=os.path.join(HERE, "..", "..", "build", "bench", "libsplbench.so"))
    ap.add_argument("--no-redis", action="store_true")
    ap.add_argument("--json", action="store_true", help="(accepted; the JSON line is always printed)")
    a = ap.parse_args()
    cl = ctypes.CDLL(a.c_loop)  # after splinter: it shares libsplinter.so.0
    cl.splb_c_loop.restype = ctypes.c_uint64
    cl.splb_c_loop.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t,
                               ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
    cl.splb_c_slots.restype = ctypes.c_uint32
    py = bench_python(cl, a.keys, a.ops, a.rounds)
    rd = "skipped" if a.no_redis else bench_redis(a.keys, a.redis_ops, a.redis_reps, py["seqs"])
    fl = py["floors"]
    print(f"python binding vs C vs redis, 64-byte values, {a.keys} keys, {a.rounds} rounds of "
          f"{a.ops} ops (fastest round; median in brackets), redis {a.redis_ops} ops; ns/op, wall")
    print(f"floors: the bare loop {fl['loop_ns']} ns; an empty C function called through ctypes "
          f"with a get's arguments {fl['ctypes_get_shape_ns']} ns")
    print(f"{'':<11} {'C':>15} {'C dep':>8} {'python':>15} {'py-C':>7} {'py-Cdep':>8} {'redis':>8} "
          f"{'redis/py':>9}")
    rows = py["results"]
    for op, r in rows.items():
        rv = rd[op][0] if isinstance(rd, dict) else None
        r["redis_ns"] = None if rv is None else round(rv, 1)
        rs = f"{rv:8.0f} {rv / r['python_ns']:8.1f}x" if rv is not None else f"{'-':>8} {'-':>9}"
        print(f"{op:<11} {r['c_ns']:6.1f} ({r['c_median_ns']:6.1f}) {r['c_dep_ns']:8.1f} "
              f"{r['python_ns']:6.0f} ({r['python_median_ns']:6.0f}) {r['overhead_ns']:7.0f} "
              f"{r['overhead_dep_ns']:8.0f} {rs}")
    if not isinstance(rd, dict):
        print(f"redis: {rd}")
    print("by this thread's CPU clock: " + "; ".join(
        f"{op} C {r['c_cpu_ns']:.1f} dep {r['c_dep_cpu_ns']:.1f} python {r['python_cpu_ns']:.0f}"
        for op, r in rows.items()))
    ok = max(rows["get_hot"]["python_ns"], rows["get_random"]["python_ns"]) <= 1000
    print(f"target python get <= 1000 ns (wall): {'ok' if ok else 'over'}")
    print(json.dumps({"lang": "python", "keys": a.keys, "ops": a.ops, "rounds": a.rounds,
                      "value_bytes": 64, "floors": fl, "results": list(rows.values()),
                      "redis": "ok" if isinstance(rd, dict) else rd, "target_get_le_1us": ok}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
