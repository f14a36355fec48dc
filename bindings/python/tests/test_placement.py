"""Create options of placement and cells (huge_pages, numa_mode, numa_nodes,
vec_cells) and the Info fields that report them (docs/PLACEMENT.md)."""
import mmap

import pytest

import splinter
from conftest import needs_vectors
from splinter import NumaMode, errors


def small(**kw):
    """An anonymous store small enough for one huge page."""
    return splinter.Store.create(None, backing="memfd", slots=16, key_max=16, val_max=64,
                                 vec_dim=0, **kw)


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])
    return out


def test_huge_pages_are_used_or_refused():
    mi = meminfo()
    # pages another mapping reserved count as free but cannot be had
    if mi.get("HugePages_Free", 0) - mi.get("HugePages_Rsvd", 0) <= 0:
        # the option reaches the library: no fallback to normal pages
        with pytest.raises(errors.NoHugePages):
            small(huge_pages=True)
        return
    with small(huge_pages=True) as st:
        assert st.info().page_bytes == mi["Hugepagesize"] * 1024
    with small(huge_pages=mi["Hugepagesize"] * 1024) as st:
        assert st.info().page_bytes == mi["Hugepagesize"] * 1024


def test_huge_page_size_is_checked():
    with pytest.raises(errors.InvalidArgument):
        small(huge_pages=3 << 20)  # not a power of two


def numa_build():
    """False where the library has no NUMA (its info says numa_mode -1)."""
    with small() as st:
        mode = st.info().numa_mode
    assert mode in (NumaMode.DEFAULT, -1)
    return mode == NumaMode.DEFAULT


def test_numa_bind_to_a_missing_node_is_refused():
    # node 63 does not exist here: SPL_ENODE, or SPL_ENOTSUP without NUMA
    with pytest.raises((errors.NoSuchNode, errors.NotSupported)) as ei:
        small(numa_mode=NumaMode.BIND, numa_nodes={63})
    assert isinstance(ei.value, errors.NoSuchNode) == numa_build()
    with pytest.raises((errors.NoSuchNode, errors.NotSupported)):
        small(numa_mode="bind", numa_nodes=1 << 63)  # the same as a mask


def test_numa_bind_to_node_0():
    if not numa_build():
        with pytest.raises(errors.NotSupported):
            small(numa_mode=NumaMode.BIND, numa_nodes={0})
        return
    with small(numa_mode=NumaMode.BIND, numa_nodes={0}) as st:
        st["k"] = b"v"
        inf = st.info()
        assert inf.numa_mode == NumaMode.BIND and isinstance(inf.numa_mode, NumaMode)
        assert inf.numa_nodes == {0}
        assert inf.numa_sampled > 0 and set(inf.numa_pages) <= {0}
        assert sum(inf.numa_pages.values()) + inf.numa_absent == inf.numa_sampled


def test_numa_mode_and_nodes_are_checked():
    with pytest.raises(errors.InvalidArgument):
        small(numa_mode=99)
    with pytest.raises(KeyError):
        small(numa_mode="nowhere")
    with pytest.raises(errors.InvalidArgument):
        small(numa_nodes={0})  # nodes without a mode that takes them
    with pytest.raises(errors.InvalidArgument):
        small(numa_mode=NumaMode.PREFERRED, numa_nodes={0, 1})  # exactly one
    with pytest.raises(errors.InvalidArgument):
        small(numa_mode=NumaMode.BIND, numa_nodes={64})  # beyond SPL_NUMA_NODES_MAX


@needs_vectors
def test_vec_cells_bound_the_vectors(name):
    with splinter.Store.create(name, slots=16, vec_dim=4, vec_cells=2) as st:
        assert st.info().cells == 2 and st.info().cells_used == 0
        st["a"] = st["b"] = st["c"] = b""
        st.vec_set("a", [1, 0, 0, 0])
        st.vec_set("b", [0, 1, 0, 0])
        inf = st.info()
        assert inf.cells_used == 2 and inf.cells_high == 2
        with pytest.raises(errors.NoCell):
            st.vec_set("c", [0, 0, 1, 0])
        st.vec_set("a", [0, 0, 0, 1])  # a key's own cell needs no spare one
        assert list(st.vec_get("a")) == [0, 0, 0, 1]
        # open_or_create: 0 or the store's count opens it, another is a mismatch
        for cells in (0, 2):
            with splinter.Store.open_or_create(name, vec_dim=4, vec_cells=cells) as again:
                assert again.info().cells == 2
        with pytest.raises(errors.GeometryMismatch):
            splinter.Store.open_or_create(name, vec_dim=4, vec_cells=3)


def test_info_page_id_and_memory(name):
    with splinter.Store.create(name, slots=64, vec_dim=0) as st, \
            splinter.Store.open(name) as again, small() as other:
        inf = st.info()
        assert inf.page_bytes == mmap.PAGESIZE
        assert inf.store_id != 0
        assert again.info().store_id == inf.store_id
        assert other.info().store_id not in (0, inf.store_id)
        assert 0 < inf.resident_bytes <= inf.region_bytes
        assert inf.cells == inf.cells_used == inf.cell_stride == 0  # no vectors
        assert inf.capacity == 64 and inf.index_words >= 128
