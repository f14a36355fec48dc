"""Prepared keys and batches (spl_key_prep, spl_*_k, spl_get_many,
spl_set_many) and fragment management (spl_frag_*)."""
import json
import os
import subprocess

import pytest

import splinter
from conftest import BUILD



def test_prepared_key_round_trip(store):
    k = store.prepare("temp")
    assert isinstance(k, splinter.PreparedKey) and k.key == "temp"
    assert k.get() is None and k.get(b"d") == b"d"
    k.set(b"21.5")
    assert k.get() == b"21.5" and store["temp"] == b"21.5"
    store["temp"] = b"x" * 900
    assert k.get() == b"x" * 900
    assert k.unset() is True and k.unset() is False and "temp" not in store
    c = store.prepare(b"count")
    assert c.add(5) == 5 and c.add(-2) == 3 and store.get_int("count") == 3


def test_key_prepared_for_another_store_is_refused(store):
    with splinter.Store.create(None, backing="memfd", slots=64, vec_dim=0) as other:
        k = store.prepare("a")
        k.set(b"1")
        with pytest.raises(splinter.InvalidArgument):
            other.get_many([k])
        with pytest.raises(splinter.InvalidArgument):
            other.set_many([(k, b"2")])
        assert store["a"] == b"1" and "a" not in other


def test_batches_give_per_key_results(store):
    store.set_many({"a": b"1", "b": b"22", store.prepare("c"): b"333"})
    store.set_many([("big", b"z" * 1000)])
    got = store.get_many(["a", store.prepare("b"), "missing", "c", "big"], max_len=8)
    assert got == [b"1", b"22", None, b"333", b"z" * 1000]
    assert store.get_many(["missing"], default=b"?") == [b"?"]
    assert store.get_many([]) == []
    with pytest.raises(splinter.InvalidArgument):
        store.get_many(["a\0b"])


def test_frag_helpers():
    assert splinter.frag_state_name(3) == "running"
    assert splinter.frag_state_name(99) == "?"
    assert splinter.FRAG_STATES[5] == "failed"
    with pytest.raises(splinter.NotFound):
        splinter.frag_find("no-such-fragment", "/nonexistent")
    assert isinstance(splinter.frag_errmsg(), str)


DSP = os.path.join(BUILD, "fragments", "dsp.so")
SPLCTL = os.path.join(BUILD, "splinterctl")


@pytest.mark.skipif(not (os.path.exists(DSP) and os.path.exists(SPLCTL)),
                    reason=f"make cli fragments first ({SPLCTL}, {DSP})")
def test_dsp_fragment_register_host_call_unregister(name):
    with splinter.Store.create(name, slots=256, vec_dim=0) as st:
        assert st.frag_list() == []
        n = st.frag_register(DSP, ["prefix=sensor."], name="dsp1")
        assert n == "dsp1"
        fi = st.frag_get("dsp1")
        assert fi.state == "registered" and fi.version == "1.0" and fi.args == ["prefix=sensor."]
        assert [f.name for f in st.frag_list()] == ["dsp1"]
        with pytest.raises(splinter.SplinterError):
            st.frag_register(DSP, ["nosuch=1"], name="dsp2")
        assert splinter.frag_errmsg() != ""
        with pytest.raises(splinter.SplinterError):
            st.frag_call("dsp1", "stats", timeout=0.2)  # no host yet
        host = subprocess.Popen([SPLCTL, "--store", name, "host"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            fi = st.frag_wait("dsp1", "running", timeout=10)
            assert fi.state == "running" and fi.host_pid == host.pid
            reply = json.loads(st.frag_call("dsp1", "stats"))
            assert isinstance(reply, dict)
            with pytest.raises(splinter.SplinterError):
                st.frag_call("dsp1", "nosuch-command")
            st.frag_unregister("dsp1", timeout=10)
            with pytest.raises(splinter.NotFound):
                st.frag_get("dsp1")
        finally:
            host.terminate()
            host.wait(10)


def test_key_batch(store):
    b = store.prepare_many(["a", b"b", "missing", store.prepare("pk"), "big", "\u00fc"])
    assert isinstance(b, splinter.KeyBatch)
    assert len(b) == 6
    assert b.keys == ["a", "b", "missing", "pk", "big", "\u00fc"]
    store.set_many(b, [b"1", b"22", b"333", b"4", b"z" * 1000, b"u"])
    del store["missing"]
    assert store["b"] == b"22" and store["pk"] == b"4" and store["\u00fc"] == b"u"
    got = store.get_many(b, default=b"?", max_len=8)
    assert got == [b"1", b"22", b"?", b"4", b"z" * 1000, b"u"]
    assert store.get_many(store.prepare_many([])) == []
    with pytest.raises(ValueError):
        store.set_many(b, [b"1"])
    with pytest.raises(TypeError):
        store.set_many([("a", b"1")], [b"1"])
    with pytest.raises(splinter.InvalidArgument):
        store.prepare_many(["a\0b"])
    # more keys than one spl_get_many call would hold in a fixed buffer
    names = [f"m{i}" for i in range(150)]
    store.set_many({n: str(i).encode() for i, n in enumerate(names) if i % 3})
    vals = store.get_many(store.prepare_many(names))
    assert vals == [str(i).encode() if i % 3 else None for i in range(150)]


def test_key_batch_of_another_store_is_refused(store):
    with splinter.Store.create(None, backing="memfd", slots=64, vec_dim=0) as other:
        b = store.prepare_many(["a"])
        store["a"] = b"1"
        with pytest.raises(splinter.InvalidArgument):
            other.get_many(b)
        with pytest.raises(splinter.InvalidArgument):
            other.set_many(b, [b"2"])
        assert "a" not in other
        assert store.get_many(b) == [b"1"]
