"""Approximate search: vec_search(ann=True, ef=) answered by the hnsw
fragment, started on the store with the built splinterctl (insmod hnsw).
With the index running the hits are flagged approximate, a stored vector
finds its own key first and recall@10 against the exact scan is at least
0.9; with no index (before insmod, after rmmod) the exact scan answers and
the hits are not flagged."""
import json
import os
import random
import subprocess
import time

import pytest

import splinter
from conftest import BUILD, needs_vectors

SPLCTL = os.path.join(BUILD, "splinterctl")
HNSW = os.path.join(BUILD, "fragments", "hnsw.so")
N, DIM = 300, 16


pytestmark = [
    needs_vectors,
    pytest.mark.skipif(not (os.path.exists(SPLCTL) and os.path.exists(HNSW)),
                       reason="make cli fragments first (splinterctl, fragments/hnsw.so)"),
]


def _ctl(name, *args):
    return subprocess.run([SPLCTL, "--store", name, *args], capture_output=True, text=True,
                          timeout=30)


def _wait(cond, timeout):
    """Poll cond every 50 ms until it holds or timeout seconds passed."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def _stats(name):
    return _ctl(name, "frag", "hnsw", "stats").stdout


def _stop(name):
    """rmmod the hnsw instance; kill a host that did not stop; remove its region."""
    pids = []
    ls = _ctl(name, "lsmod", "--json")
    for line in ls.stdout.splitlines():
        try:
            pids.append(int(json.loads(line).get("host_pid", 0)))
        except (ValueError, AttributeError):
            pass
    _ctl(name, "rmmod", "hnsw")
    for pid in pids:
        if pid > 0:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    _ctl(name, "rmmod", "--purge", "hnsw")


def _keys(hits):
    return [h.key for h in hits]


def test_ann_search_through_the_hnsw_fragment(name, tmp_path):
    rnd = random.Random(20261206)
    vecs = [[rnd.uniform(-1, 1) for _ in range(DIM)] for _ in range(N)]
    queries = [[rnd.uniform(-1, 1) for _ in range(DIM)] for _ in range(40)]
    with splinter.Store.create(name, slots=1024, key_max=32, val_max=16, vec_dim=DIM) as st:
        for i, v in enumerate(vecs):
            st.vec_set(f"k{i}", v)
        q = vecs[7]
        exact = st.vec_search(q, k=10)
        assert exact.approximate is False and exact.scanned == N and exact[0].key == "k7"

        # no index yet: the exact scan answers, not flagged
        before = st.vec_search(q, k=10, ann=True, ef=64)
        assert before.approximate is False and _keys(before) == _keys(exact)
        assert before.scanned == N

        log = tmp_path / "host.log"
        try:
            r = _ctl(name, "insmod", "--log", str(log), "hnsw", "m=8", "efc=64")
            assert r.returncode == 0, r.stdout + r.stderr
            ready = f'"state":"ready","nodes":{N},'
            assert _wait(lambda: ready in _stats(name), 30), \
                f"not ready: {_stats(name)}\n{log.read_text() if log.exists() else ''}"
            # the handle looks at the registry again at most every 100 ms
            assert _wait(lambda: st.vec_search(q, k=10, ann=True).approximate, 5), \
                "the running index never answered"

            ann = st.vec_search(q, k=10, ann=True, ef=64)
            assert ann.approximate is True and len(ann) == 10 and ann[0].key == "k7"
            assert ann[0].score == pytest.approx(exact[0].score, abs=1e-4)
            for i in rnd.sample(range(N), 25):
                top = st.vec_search(vecs[i], k=1, ann=True)
                assert top.approximate and _keys(top) == [f"k{i}"], i
            by_key = st.vec_search("k42", k=1, ann=True, ef=32)
            assert by_key.approximate and _keys(by_key) == ["k42"]

            found = 0
            for qv in queries:
                a = st.vec_search(qv, k=10, ann=True, ef=64)
                e = st.vec_search(qv, k=10)
                assert a.approximate and not e.approximate and len(e) == 10
                found += len(set(_keys(a)) & set(_keys(e)))
            recall = found / (10 * len(queries))
            assert recall >= 0.9, f"recall@10 {recall:.3f}"

            # the index stopped: exact again, not flagged
            r = _ctl(name, "rmmod", "hnsw")
            assert r.returncode == 0, r.stdout + r.stderr
            assert _wait(lambda: not st.vec_search(q, k=10, ann=True).approximate, 5), \
                "still approximate after rmmod"
            after = st.vec_search(q, k=10, ann=True, ef=64)
            assert after.approximate is False and _keys(after) == _keys(exact)
            assert after.scanned == N
        finally:
            _stop(name)
