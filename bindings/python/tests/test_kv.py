import collections.abc
import threading

import pytest

import splinter
from splinter import errors


def test_mapping_basics(store):
    assert isinstance(store, collections.abc.MutableMapping)
    store["a"] = b"1"
    store[b"b"] = bytearray(b"22")
    store["c"] = memoryview(b"333")
    assert store["a"] == b"1" and store["b"] == b"22" and store["c"] == b"333"
    assert "a" in store and "zz" not in store and 5 not in store
    assert len(store) == 3
    assert sorted(store) == ["a", "b", "c"]
    assert dict(store.items()) == {"a": b"1", "b": b"22", "c": b"333"}
    del store["a"]
    assert "a" not in store
    with pytest.raises(KeyError):
        store["a"]
    with pytest.raises(KeyError):
        del store["a"]
    assert store.get("a") is None and store.get("a", b"d") == b"d"
    assert store.pop("b") == b"22"
    store.update({"x": b"y"})
    assert store.setdefault("x", b"z") == b"y"


def test_not_found_is_keyerror_with_name(store):
    with pytest.raises(errors.NotFound) as ei:
        store["missing"]
    assert isinstance(ei.value, KeyError)
    assert ei.value.name == "SPL_ENOENT" and ei.value.code == -2
    assert "SPL_ENOENT" in str(ei.value) and "missing" in str(ei.value)


def test_unset_exists_append(store):
    assert store.unset("k") is False
    store.append("k", b"ab")
    store.append("k", b"cd")
    assert store["k"] == b"abcd"
    assert store.exists("k") is True
    assert store.unset("k") is True
    assert store.exists("k") is False


def test_empty_and_large_values(store):
    store["e"] = b""
    assert store["e"] == b""
    big = bytes(range(256)) * 4  # val_max: 1024
    store["big"] = big
    assert store["big"] == big
    with pytest.raises(errors.ValueTooBig) as ei:
        store["big"] = big + b"!"
    assert isinstance(ei.value, ValueError) and ei.value.name == "SPL_E2BIG"
    with pytest.raises(errors.ValueTooBig):
        store.append("big", b"!")


def test_values_bigger_than_the_pool_buffer():
    with splinter.Store.create(None, backing="memfd", slots=16, val_max=20000, vec_dim=0) as st:
        v = b"q" * 15000
        st["k"] = v
        assert st["k"] == v


def test_keys(store):
    with pytest.raises(errors.KeyLength) as ei:
        store["k" * 65] = b"x"
    assert ei.value.name == "SPL_EKEYLEN"
    with pytest.raises(errors.KeyLength):
        store[""] = b"x"
    with pytest.raises(errors.InvalidArgument):
        store["a\0b"] = b"x"
    with pytest.raises(TypeError):
        store[5] = b"x"  # type: ignore[index]
    store["k" * 64] = b"ok"
    store["ünï"] = b"u"
    assert store["ünï"] == b"u"
    assert "ünï" in list(store)


def test_value_types(store):
    with pytest.raises(TypeError):
        store["s"] = "text"  # type: ignore[assignment]
    store.set_str("s", "héllo")
    assert store.get_str("s") == "héllo"
    assert store.meta("s").type == splinter.Type.TEXT
    assert store.get_str("nope", "d") == "d"


def test_cas(store):
    store.cas("c", 0, b"first")
    with pytest.raises(errors.Exists):
        store.cas("c", 0, b"again")
    e = store.meta("c").epoch
    store.cas("c", e, b"second")
    assert store["c"] == b"second"
    with pytest.raises(errors.Stale) as ei:
        store.cas("c", e, b"third")
    assert ei.value.name == "SPL_ESTALE"
    with pytest.raises(errors.NotFound):
        store.cas("nope", 2, b"x")


def test_integers(store):
    assert store.add("n", 5) == 5
    assert store.inc("n") == 6
    assert store.dec("n") == 5
    assert store.get_int("n") == 5
    assert store.meta("n").type == splinter.Type.INT64
    assert store.int_op("n", "or", 0b1010) == 0b1111
    assert store.int_op("n", splinter.IntOp.AND, 0b0110) == 0b0110
    assert store.int_op("n", "xor", 0b0011) == 0b0101
    assert store.int_op("n", "not") == (~0b0101) & 0xFFFFFFFFFFFFFFFF
    store.set_int("m", -42)
    assert store.get_int("m") == -42 and store.add("m", 2) == -40
    store.set_int("u", 2**64 - 1)
    assert store.meta("u").type == splinter.Type.UINT64
    assert store.get_int("u", signed=False) == 2**64 - 1
    store["s"] = b"not an int"
    with pytest.raises(errors.WrongType) as ei:
        store.inc("s")
    assert isinstance(ei.value, TypeError) and ei.value.name == "SPL_ETYPE"
    assert store.get_int("missing") is None
    # the same without waiting (spl_int_try), nothing busy: the same results
    assert store.add("w", -3, wait=False) == -3
    assert store.inc("w", wait=False) == -2 and store.dec("w", wait=False) == -3
    assert store.int_op("w", "xor", 1, wait=False) == (-3 ^ 1) & 0xFFFFFFFFFFFFFFFF
    with pytest.raises(errors.WrongType):
        store.add("s", 1, wait=False)
    pk = store.prepare("p")
    assert pk.add(-5) == -5 and pk.add(7, wait=False) == 2


def test_integers_never_lose_updates(store):
    def work():
        for _ in range(2000):
            store.inc("ctr")
    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert store.get_int("ctr") == 8000


def test_threads_share_a_store(store):
    errs = []

    def work(i):
        try:
            for j in range(500):
                k = f"t{i}-{j % 20}"
                store[k] = f"{i}:{j}".encode()
                assert store[k].startswith(f"{i}:".encode())
        except Exception as e:  # pragma: no cover
            errs.append(e)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errs


def test_contention_waits_by_default_and_raises_with_nowait(store, monkeypatch):
    """A fake writer holds the slot: spl_get/spl_set say SPL_EAGAIN.  By
    default the binding falls back to the C *_wait call; wait=False raises
    WouldBlock (a BlockingIOError)."""
    from splinter import store as mod
    store["k"] = b"v"
    real_get, real_set = mod._fget, mod._fset
    monkeypatch.setattr(mod, "_fget", lambda *a: -11)
    monkeypatch.setattr(mod, "_fset", lambda *a: -11)
    assert store["k"] == b"v"          # spl_get_wait got it
    store["k"] = b"w"                   # spl_set_wait wrote it
    with pytest.raises(errors.WouldBlock) as ei:
        store.get("k", wait=False)
    assert isinstance(ei.value, BlockingIOError) and ei.value.name == "SPL_EAGAIN"
    with pytest.raises(errors.WouldBlock):
        store.set("k", b"x", wait=False)
    nb = splinter.Store.from_fd(store.fileno(), wait=False)
    with pytest.raises(errors.WouldBlock):
        nb["k"]
    nb.close()
    monkeypatch.setattr(mod, "_fget", real_get)
    monkeypatch.setattr(mod, "_fset", real_set)
    assert store["k"] == b"w"


def test_retry_loop_for_calls_without_a_wait_variant(store, monkeypatch):
    from splinter import _lib
    store["k"] = b"v"
    real = _lib.pl.spl_exists
    calls = []

    def flaky(*a):
        calls.append(1)
        return -11 if len(calls) < 5 else real(*a)
    monkeypatch.setattr(_lib.pl, "spl_exists", flaky)
    assert store.exists("k") is True and len(calls) == 5
    calls.clear()
    with pytest.raises(errors.WouldBlock):
        store.exists("k", wait=False)
    monkeypatch.setattr(_lib.pl, "spl_exists", lambda *a: -11)
    store.timeout = 0.05
    with pytest.raises(errors.WouldBlock):
        store.exists("k")  # gave up after the timeout


def test_readonly_handle(name):
    with splinter.Store.create(name, slots=32, vec_dim=0) as w:
        w["k"] = b"v"
        with splinter.open(name, readonly=True) as r:
            assert r["k"] == b"v" and r.readonly
            with pytest.raises(errors.ReadOnly) as ei:
                r["k"] = b"x"
            assert isinstance(ei.value, PermissionError)


def test_lifecycle(name):
    with pytest.raises(errors.NotFound):
        splinter.open(name)
    st = splinter.create(name, slots=32, key_max=16, val_max=64, vec_dim=0)
    with pytest.raises(errors.Exists):
        splinter.create(name)
    st["k"] = b"v"
    inf = st.info()
    assert (inf.slots, inf.key_max, inf.val_max, inf.vec_dim) == (32, 16, 64, 0)
    assert inf.used == 1 and inf.backing == splinter.Backing.SHM
    st.flush()
    with splinter.open_or_create(name, slots=32, vec_dim=0) as again:
        assert again["k"] == b"v"
    with pytest.raises(errors.GeometryMismatch):
        splinter.open_or_create(name, slots=64)
    st.close()
    assert st.closed
    st.close()  # twice is fine
    with pytest.raises(ValueError):
        st["k"]
    splinter.destroy(name)
    with pytest.raises(errors.NotFound):
        splinter.destroy(name)
    splinter.destroy(name, missing_ok=True)


def test_file_backing(tmp_path):
    p = str(tmp_path / "store.spl")
    with splinter.create(p, slots=16, vec_dim=0) as st:
        st["persist"] = b"yes"
        assert st.info().backing == splinter.Backing.FILE
    with splinter.open(p) as st:
        assert st["persist"] == b"yes"
    splinter.destroy(p)


def test_version_and_misc():
    assert splinter.version() == "0.1.0" == splinter.__version__
    assert splinter.type_name(1) == "int64"
    assert splinter.strerror(-11).startswith("contention")
    assert splinter.err_name(-1000) == "SPL_EKEYLEN"


def test_a_stopped_writer_makes_real_contention(name):
    """A writer stopped (SIGSTOP) inside a write holds its slot for real:
    wait=False raises WouldBlock at once, a waiting call after its timeout;
    a waiting call with time to spare gets through once the writer is
    resumed (SIGCONT: it commits and exits), the calls with no C *_wait
    variant too (spl_retry_pause); once the writer is killed, the default
    call gets the value (the library recovers a dead writer's slot)."""
    import os
    import signal
    import time
    st = splinter.create(name, slots=16, val_max=1 << 20, vec_dim=0)
    st["k"] = b"start"
    big = b"U" * (1 << 20)
    caught = False
    try:
        for _ in range(50):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child writes until killed
                try:
                    # resumed (SIGCONT): exit once the write under way commits
                    signal.signal(signal.SIGCONT, lambda *_: os._exit(0))
                    while True:
                        try:
                            st.set("k", big)
                        except splinter.SplinterError:
                            pass
                finally:
                    os._exit(0)
            # on a loaded machine the child may take a while to run: wait
            # for its first write (the epoch moves, or the slot is busy)
            e0, t1 = st.meta("k").epoch, time.monotonic()
            while time.monotonic() - t1 < 2.0:
                try:
                    if st.meta("k", wait=False).epoch != e0:
                        break
                except errors.WouldBlock:
                    break
                time.sleep(0.001)
            time.sleep(0.003)
            os.kill(pid, signal.SIGSTOP)
            os.waitpid(pid, os.WUNTRACED)
            try:
                try:
                    st.get("k", wait=False)
                except errors.WouldBlock:
                    caught = True
                    with pytest.raises(errors.WouldBlock):
                        st.set("k", b"x", wait=False)
                    with pytest.raises(errors.WouldBlock):
                        st.exists("k", wait=False)
                    # calls with no C *_wait variant, a read and a write: at once
                    t1 = time.monotonic()
                    with pytest.raises(errors.WouldBlock):
                        st.meta("k", wait=False)
                    with pytest.raises(errors.WouldBlock):
                        st.set_labels("k", 2, wait=False)
                    with pytest.raises(errors.WouldBlock):
                        st.prepare("k").get(wait=False)
                    assert time.monotonic() - t1 < 2.0
                    # the integer ops too, at once (spl_int_try; spl_int would wait 10 s)
                    t1 = time.monotonic()
                    with pytest.raises(errors.WouldBlock):
                        st.add("k", 1, wait=False)
                    with pytest.raises(errors.WouldBlock):
                        st.int_op("k", "or", 1, wait=False)
                    with pytest.raises(errors.WouldBlock):
                        st.prepare("k").add(1, wait=False)
                    assert time.monotonic() - t1 < 2.0
                    st.timeout = 0.05
                    t0 = time.monotonic()
                    with pytest.raises(errors.WouldBlock):
                        st["k"]                      # spl_get_wait gave up
                    with pytest.raises(errors.WouldBlock):
                        st.meta("k")                 # the binding's retry loop gave up
                    assert time.monotonic() - t0 >= 0.09
                    # the integer ops wait for the store's timeout too
                    # (spl_int_wait; spl_int waited 10 s, then TimedOut)
                    t0 = time.monotonic()
                    with pytest.raises(errors.WouldBlock):
                        st.add("k", 1)
                    with pytest.raises(errors.WouldBlock):
                        st.prepare("k").add(1)
                    assert 0.09 <= time.monotonic() - t0 < 2.0
                    # the calls with no C *_wait variant wait for the timeout
                    # too (spl_retry_pause), a read and a write, then give up
                    st.timeout = 0.2
                    for call in (lambda: st.meta("k"), lambda: st.exists("k"),
                                 lambda: st.set_labels("k", 2),
                                 lambda: st.prepare("k").set(b"p")):
                        t0 = time.monotonic()
                        with pytest.raises(errors.WouldBlock):
                            call()
                        assert 0.16 <= time.monotonic() - t0 < 3.0
                    # with time to spare they wait, asleep, and get through
                    # once the writer is resumed (it commits and exits)
                    st.timeout = 10.0
                    done: dict = {}

                    def run(what, call):
                        t = time.monotonic()
                        try:
                            call()
                            done[what] = time.monotonic() - t
                        except Exception as e:  # reported by the asserts below
                            done[what] = e

                    ths = [threading.Thread(target=run, args=("meta", lambda: st.meta("k"))),
                           threading.Thread(target=run,
                                            args=("labels", lambda: st.set_labels("k", 4)))]
                    for th in ths:
                        th.start()
                    time.sleep(0.25)
                    os.kill(pid, signal.SIGCONT)
                    for th in ths:
                        th.join(20)
                    for what in ("meta", "labels"):
                        took = done.get(what)
                        assert isinstance(took, float), (what, took)
                        assert 0.2 <= took < 5.0, (what, took)
                    assert st.meta("k").labels & 4
                    st.timeout = 1.0
            finally:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            if caught:
                assert st["k"] in (big, b"start")    # recovered
                break
        assert caught, "never caught the child inside a write"
    finally:
        st.close()
