import array

import pytest

import splinter
from conftest import HAS_VECTORS, needs_vectors
from splinter import errors


@needs_vectors
def test_vec_roundtrip(store):
    store.vec_set("a", [1.0, 0.0, 0.0, 0.0])
    store.vec_set("b", array.array("f", [0.0, 1.0, 0.0, 0.0]))
    v, ep = store.vec_get("a", with_epoch=True)
    assert isinstance(v, array.array) and list(v) == [1, 0, 0, 0] and ep == store.meta("a").epoch
    assert store["a"] == b""                     # created with an empty value
    store["b"] = b"value kept"
    assert list(store.vec_get("b")) == [0, 1, 0, 0] and store["b"] == b"value kept"
    assert store.vec_clear("b") is True and store.vec_clear("b") is False
    with pytest.raises(errors.NoVector) as ei:
        store.vec_get("b")
    assert isinstance(ei.value, KeyError) and ei.value.name == "SPL_ENOVEC"
    with pytest.raises(errors.NotFound):
        store.vec_get("nope")
    with pytest.raises(errors.DimensionMismatch):
        store.vec_set("a", [1.0, 2.0])
    with pytest.raises(errors.NotFinite):
        store.vec_set("a", [float("nan"), 0, 0, 0])


@needs_vectors
def test_vec_numpy(store):
    np = pytest.importorskip("numpy")
    store.vec_set("n", np.array([0.5, 0.25, 0, 1], dtype=np.float64))  # converted
    store.vec_set("m", np.arange(4, dtype=np.float32))
    got = np.asarray(store.vec_get("m"))
    assert got.dtype == np.float32 and list(got) == [0, 1, 2, 3]
    assert list(store.vec_get("n")) == [0.5, 0.25, 0, 1]
    hits = store.vec_search(np.array([0, 1, 2, 3], dtype=np.float32), k=1)
    assert hits[0].key == "m"


@needs_vectors
def test_vec_search(store):
    store.vec_set("x", [1, 0, 0, 0])
    store.vec_set("y", [0, 1, 0, 0])
    store.vec_set("xy", [1, 1, 0, 0])
    store.vec_set("other:z", [0, 0, 1, 0])
    store.set_labels("y", 0b10)
    hits = store.vec_search([1, 0.1, 0, 0], k=2)
    assert [h.key for h in hits] == ["x", "xy"] and hits[0].score > hits[1].score
    assert hits.scanned == 4 and hits.skipped == 0
    assert hits[0].epoch == store.meta("x").epoch
    l2 = store.vec_search([0, 0, 1, 0], k=1, metric="l2")
    assert l2[0].key == "other:z" and l2[0].score == pytest.approx(0.0)
    dot = store.vec_search([0, 2, 0, 0], k=4, metric=splinter.Metric.DOT)
    assert dot[0].key in ("y", "xy") and dot[0].score == pytest.approx(2.0)
    assert [h.key for h in store.vec_search([1, 1, 1, 1], k=4, labels=0b10)] == ["y"]
    assert [h.key for h in store.vec_search([1, 1, 1, 1], k=4, prefix="other:")] == ["other:z"]
    by_key = store.vec_search("x", k=1, skip_self=True)
    assert by_key[0].key == "xy"
    assert [h.key for h in store.vec_search("x", k=1, threads=2)] == ["x"]
    with pytest.raises(errors.InvalidArgument):
        store.vec_search([1, 0, 0, 0], k=0)
    with pytest.raises(errors.DimensionMismatch):
        store.vec_search([1, 0], k=1)


@needs_vectors
def test_vec_formats_and_simd():
    with splinter.Store.create(None, backing="memfd", slots=16, vec_dim=3,
                               vec_format="i8") as st:
        st.vec_set("a", [1.0, -0.5, 0.25])
        got = list(st.vec_get("a"))
        assert all(abs(g - e) < 0.01 for g, e in zip(got, [1.0, -0.5, 0.25]))
    assert splinter.vec_simd() in ("avx512vnni", "avx512", "avxvnni", "avx2", "sse", "neon", "scalar")
    splinter.vec_simd_force("scalar")
    assert splinter.vec_simd() == "scalar"
    with pytest.raises(errors.NotSupported):
        splinter.vec_simd_force("nonsense")


@pytest.mark.skipif(HAS_VECTORS, reason="this build has vectors")
def test_a_build_without_vectors_refuses_them():
    assert splinter.vec_simd() == "none"
    with pytest.raises(errors.NotSupported):
        splinter.vec_simd_force("scalar")
    with pytest.raises(errors.BadFormat):
        splinter.Store.create(None, backing="memfd", slots=16, vec_dim=4)
    with splinter.Store.create(None, backing="memfd", slots=16, vec_dim=0) as st:
        assert st.info().features & 1 == 0       # no SPL_FEAT_EMBEDDINGS
        st["a"] = b"text"
        for call in (lambda: st.vec_set("a", [1.0]), lambda: st.vec_get("a"),
                     lambda: st.vec_search([1.0], k=1), lambda: st.vec_search("a", k=1),
                     lambda: st.vec_clear("a"), lambda: st.tandem_vec_set("t", [[1.0]])):
            with pytest.raises(errors.NotSupported):
                call()
        assert st["a"] == b"text"


def test_kv_only_store_rejects_vectors():
    with splinter.Store.create(None, backing="memfd", slots=16, vec_dim=0) as st:
        with pytest.raises(splinter.SplinterError):
            st.vec_set("a", [1.0])


@needs_vectors
def test_vec_set_if(store):
    store["t"] = b"some text"
    e = store.meta("t").epoch
    v = [0.5, 0.5, 0.5, 0.5]
    store.vec_set_if("t", e, v)            # the text is unchanged: written
    with pytest.raises(errors.Stale):
        store.vec_set_if("t", e, v)        # the vector write moved the epoch
    e2 = store.meta("t").epoch
    store["t"] = b"other text"
    with pytest.raises(errors.Stale):
        store.vec_set_if("t", e2, v)       # the text changed since e2
    with pytest.raises(KeyError):
        store.vec_set_if("missing", 2, v)  # never creates the key
