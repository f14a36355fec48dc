import pytest

import splinter
from conftest import needs_vectors
from splinter import errors


def test_meta_and_writers(store):
    store["k"] = b"abc"
    m = store.meta("k")
    assert m.val_len == 3 and m.type == splinter.Type.VOID and m.epoch % 2 == 0
    store.set_type("k", splinter.Type.JSON)
    store.set_type("k", "text")
    store.set_flags("k", 0x5A)
    store.set_labels("k", 0b1011)
    store.clear_labels("k", 0b0001)
    m2 = store.meta("k")
    assert (m2.type, m2.user_flags, m2.labels) == (splinter.Type.TEXT, 0x5A, 0b1010)
    assert m2.epoch > m.epoch
    assert m2.ctime_ns > 0 and m2.mtime_ns >= m2.ctime_ns and m2.atime_ns == 0
    store.touch("k")
    m3 = store.meta("k")
    assert m3.atime_ns > 0
    with pytest.raises(errors.InvalidArgument):
        store.set_type("k", 99)
    with pytest.raises(KeyError):
        store.meta("nope")
    with pytest.raises(KeyError):
        store.set_labels("nope", 1)


def test_entries_filters(store):
    for i in range(10):
        store[f"user:{i}"] = str(i).encode()
        store.set_labels(f"user:{i}", 1 << (i % 3))
    store["other"] = b"x"
    store.set_labels("other", 0b111)
    assert sorted(store.keys_matching(prefix="user:")) == [f"user:{i}" for i in range(10)]
    assert sorted(store.keys_matching(glob="user:[12]")) == ["user:1", "user:2"]
    lab0 = sorted(e.key for e in store.entries(labels=0b001))
    assert lab0 == ["other", "user:0", "user:3", "user:6", "user:9"]
    assert sorted(store.keys_matching(labels=0b011)) == ["other"]        # all bits
    assert len(store.keys_matching(labels=0b011, any_labels=True)) == 8  # any bit
    es = {e.key: e for e in store.entries(prefix="user:", values=True)}
    assert es["user:7"].value == b"7" and es["user:7"].meta.val_len == 1
    assert all(e.value is None for e in store.entries())


def test_entries_callback_errors_propagate(store, monkeypatch):
    store["a"] = b"1"
    from splinter import store as mod

    class Boom(Exception):
        pass

    def bad(*a, **k):
        raise Boom()
    monkeypatch.setattr(mod.Meta, "_of", classmethod(lambda cls, m: bad()))
    with pytest.raises(Boom):
        store.entries()


def test_view_zero_copy(store):
    store["k"] = b"hello world"
    with store.view("k") as v:
        assert isinstance(v.data, memoryview) and v.data.readonly
        assert bytes(v.data) == b"hello world" and len(v) == 11
        assert v.valid()
        assert v.epoch == store.meta("k").epoch
        store["k"] = b"HELLO world"
        assert v.data[:5] == b"HELLO"      # the bytes in place, changed under us
        assert not v.valid()                # ... and the check says so
        with pytest.raises(errors.Stale):
            v.tobytes()
    with pytest.raises(ValueError):
        v.data[0]                           # released by the with block
    with store.view("k") as v2:
        assert v2.tobytes() == b"HELLO world"
    store["e"] = b""
    assert store.view("e").tobytes() == b""
    with pytest.raises(KeyError):
        store.view("missing")


def test_view_outlives_close_safely():
    st = splinter.Store.create(None, backing="memfd", slots=16, vec_dim=0)
    st["k"] = b"still here"
    v = st.view("k")
    sl = v.data[6:]
    st.close()
    assert bytes(sl) == b"here"             # our own mapping: no use after unmap
    with pytest.raises(ValueError):
        v.valid()


def test_view_on_a_second_handle(name):
    with splinter.create(name, slots=64, vec_dim=0) as a, splinter.open(name) as b:
        a["x"] = b"one"
        b["y"] = b"two"
        assert a.view("y").tobytes() == b"two" and b.view("x").tobytes() == b"one"


def test_tandem(store):
    store.tandem_set("t", [b"a", b"bb", b"ccc"])
    assert store.tandem_count("t") == 3
    assert store.tandem_key("t", 2) == "t.2"
    assert [store.tandem_get("t", i) for i in range(3)] == [b"a", b"bb", b"ccc"]
    store.tandem_set("t", [b"x"])
    assert store.tandem_count("t") == 1
    assert store.tandem_unset("t") == 1
    with pytest.raises(KeyError):
        store.tandem_get("t", 0)


@needs_vectors
def test_tandem_vectors(store):
    store.tandem_vec_set("tv", [[1, 0, 0, 0], [0, 2, 0, 0]])
    assert list(store.tandem_vec_get("tv", 1)) == [0, 2, 0, 0]
    assert store.tandem_unset("tv") == 2
    with pytest.raises(KeyError):
        store.tandem_get("tv", 0)
