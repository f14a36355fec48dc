"""The Store: a MutableMapping of bytes over a splinter store."""
from __future__ import annotations

import array
import builtins
import asyncio
import ctypes
import enum
import mmap
import os
import threading
import time
from collections.abc import MutableMapping
from ctypes import byref, c_float, c_int, c_int64, c_size_t, c_uint64, c_void_p
from dataclasses import dataclass
from typing import (Any, AsyncIterator, Dict, FrozenSet, Iterable, Iterator, List, Optional,
                    Sequence, Tuple, Union, overload)

from . import _lib
from .errors import (FeedOverflow, InvalidArgument, NotFound, SplinterError, Stale, Timeout,
                     error_for)

Key = Union[str, bytes]
BytesLike = Union[bytes, bytearray, memoryview]

_pl = _lib.pl
_cl = _lib.cl

# Codes used on hot paths (values from include/splinter.h).
_EAGAIN = -11
_R, _W = 0, 1  # Store._retry's write flag: the call reads / writes its key
_ENOENT = -2
_ENOBUFS = -105
_ETIMEDOUT = -110
_EOVERFLOW = -75
_ESTALE = -1010
# uint64 arithmetic for the integer ops
_M64 = (1 << 64) - 1
_B64 = 1 << 64

_POOL_BUF = 4096  # bytes of a pooled get buffer (bigger values take a fresh one)
_POOL_CAP = c_size_t(_POOL_BUF)
_fget = _lib.fast.spl_get
_fset = _lib.fast.spl_set
_INT_SIZE_OK = _lib.INT_SIZE_OK


def _pool_entry() -> Tuple[Any, ...]:
    """(bytearray, its ctypes array, its memoryview, length out, byref, cap)."""
    ba = bytearray(_POOL_BUF)
    ln = c_size_t()
    return (ba, (ctypes.c_char * _POOL_BUF).from_buffer(ba), memoryview(ba), ln, byref(ln),
            _POOL_CAP)


class Backing(enum.IntEnum):
    AUTO = 0
    SHM = 1
    FILE = 2
    MEMFD = 3


class Type(enum.IntEnum):
    """spl_type: what a value holds (metadata only; the library checks INT64/UINT64)."""
    VOID = 0
    INT64 = 1
    UINT64 = 2
    JSON = 3
    BINARY = 4
    IMAGE = 5
    AUDIO = 6
    TEXT = 7


class IntOp(enum.IntEnum):
    ADD = 0
    AND = 1
    OR = 2
    XOR = 3
    NOT = 4


class Metric(enum.IntEnum):
    COSINE = 0
    DOT = 1
    L2 = 2


class VecFormat(enum.IntEnum):
    F32 = 0
    F16 = 1
    I8 = 2


class NumaMode(enum.IntEnum):
    """spl_numa_mode: where a new store's memory is placed (docs/PLACEMENT.md);
    modes other than DEFAULT need a WITH_NUMA=1 build (else NotSupported)."""
    DEFAULT = 0     # no policy: the OS default (usually first touch)
    BIND = 1        # only on the given nodes
    INTERLEAVE = 2  # page by page round-robin over the given nodes
    PREFERRED = 3   # on the one given node while it has room
    LOCAL = 4       # on the node of the CPU that first touches a page


class EventKind(enum.IntEnum):
    CHANGED = 1
    DELETED = 2
    BUMPED = 3
    SIGNAL = 4
    UNKNOWN = 5
    OVERFLOW = 100  # not a C kind: the feed overflowed, rescan (spl_foreach)


O_RDONLY = 1
O_GROUP = 2
O_NOWAIT = 4
F_VALUES = 1
F_LABELS_ANY = 2
VQ_SKIP_SELF = 1 << 8
VQ_ANN = 1 << 9
VR_ANN = 1 << 0  # spl_vec_result.flags: the hits came from an ANN index
GROUPS = 64
_NUMA_NODES_MAX = 64  # SPL_NUMA_NODES_MAX


@dataclass(frozen=True)
class Meta:
    epoch: int
    labels: int
    ctime_ns: int
    mtime_ns: int
    atime_ns: int
    val_len: int
    slot: int
    type: int
    user_flags: int
    watch: int

    @classmethod
    def _of(cls, m: _lib.spl_meta) -> "Meta":
        return cls(m.epoch, m.labels, m.ctime_ns, m.mtime_ns, m.atime_ns, m.val_len, m.slot,
                   m.type, m.user_flags, m.watch)


@dataclass(frozen=True)
class Info:
    """Geometry, usage, memory and placement of a store (spl_info).

    ``page_bytes``: the mapping's page size (the huge page size on
    hugetlbfs).  ``numa_mode``: this process's mapping's policy, a
    :class:`NumaMode`, or -1 where unknown (a build without NUMA);
    ``numa_nodes``: its nodes.  ``numa_sampled`` pages were asked where they
    are: ``numa_absent`` of them have no memory yet, ``numa_pages`` maps each
    node holding some to their count.  ``store_id``: names the store (never
    0, the same through every handle).  ``cells`` / ``cells_used``: vector
    cells of the store and those holding a vector (``cells_high``: the
    high-water mark).  ``resident_bytes``: bytes of the region in memory,
    against ``region_bytes`` mapped."""
    slots: int
    key_max: int
    val_max: int
    vec_dim: int
    backing: Backing
    region_bytes: int
    used: int
    load: float
    changes: int
    recoveries: int
    capacity: int
    free: int
    read_only: bool
    features: int
    slot_stride: int
    probe_max: int
    probe_longest: int
    probe_mean: float
    cell_stride: int
    cells_high: int
    index_words: int
    undo_recs: int
    page_bytes: int
    numa_mode: int
    numa_nodes: FrozenSet[int]
    numa_sampled: int
    numa_absent: int
    numa_pages: Dict[int, int]
    store_id: int
    cells: int
    cells_used: int
    resident_bytes: int

    @classmethod
    def _of(cls, i: _lib.spl_info) -> "Info":
        g = i.geom
        mode = i.numa_mode
        return cls(slots=g.slots, key_max=g.key_max, val_max=g.val_max, vec_dim=g.vec_dim,
                   backing=Backing(i.backing), region_bytes=i.region_bytes, used=i.used,
                   load=i.load, changes=i.changes, recoveries=i.recoveries,
                   capacity=i.capacity, free=i.free, read_only=bool(i.read_only),
                   features=i.features, slot_stride=i.slot_stride, probe_max=i.probe_max,
                   probe_longest=i.probe_longest, probe_mean=i.probe_mean,
                   cell_stride=i.cell_stride, cells_high=i.cells_high,
                   index_words=i.index_words, undo_recs=i.undo_recs, page_bytes=i.page_bytes,
                   numa_mode=NumaMode(mode) if 0 <= mode < len(NumaMode) else mode,
                   numa_nodes=_nodes_of(i.numa_nodes), numa_sampled=i.numa_sampled,
                   numa_absent=i.numa_absent,
                   numa_pages={n: c for n, c in enumerate(i.numa_pages) if c},
                   store_id=i.store_id, cells=i.cells, cells_used=i.cells_used,
                   resident_bytes=i.resident_bytes)


@dataclass(frozen=True)
class Entry:
    key: str
    meta: Meta
    value: Optional[bytes] = None


@dataclass(frozen=True)
class Hit:
    key: str
    score: float
    slot: int
    epoch: int


class Hits(List[Hit]):
    """Search hits, best first; ``scanned`` and ``skipped`` as the library counted them;
    ``approximate``: True when an ANN index answered (``vec_search(ann=True)`` with a
    running index), False when the exact scan did."""
    scanned: int = 0
    skipped: int = 0
    approximate: bool = False


@dataclass(frozen=True)
class Event:
    kind: EventKind
    key: Optional[str]
    epoch: int
    groups: int
    seq: int
    slot: Optional[int]


def _nodes_of(mask: int) -> FrozenSet[int]:
    return frozenset(n for n in range(_NUMA_NODES_MAX) if mask >> n & 1)


def _node_mask(nodes: Union[int, Iterable[int]]) -> int:
    """A node mask from an iterable of node numbers (or a mask, as it is)."""
    if isinstance(nodes, int):
        mask = nodes
    else:
        mask = 0
        for n in nodes:
            if not 0 <= n < _NUMA_NODES_MAX:
                raise InvalidArgument(-22, f"NUMA node {n} outside 0..{_NUMA_NODES_MAX - 1}")
            mask |= 1 << n
    if not 0 <= mask < 1 << _NUMA_NODES_MAX:
        raise InvalidArgument(-22, f"NUMA node mask {mask:#x} outside 64 bits")
    return mask


def _key(key: Key) -> bytes:
    if type(key) is str:
        kb = key.encode("utf-8", "surrogateescape")
    elif isinstance(key, (bytes, bytearray, memoryview)):
        kb = bytes(key)
    else:
        raise TypeError(f"key must be str or bytes, not {type(key).__name__}")
    if 0 in kb:
        raise InvalidArgument(-22, "key holds a NUL byte")
    return kb


def _skey(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _bytes(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytearray, memoryview)) or hasattr(value, "__buffer__"):
        return bytes(value)
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise TypeError(f"value must be bytes-like, not {type(value).__name__} "
                        "(use set_str / set_int for text and integers)") from None


def _floats(vec: Any) -> Tuple[Any, int]:
    """A ctypes float array holding vec as float32, and its length."""
    try:
        mv = memoryview(vec)
    except TypeError:
        mv = None
    if mv is not None and mv.format == "f" and mv.c_contiguous and mv.ndim == 1:
        n = mv.shape[0] if mv.shape else 0
        return (c_float * n).from_buffer_copy(mv), n
    if mv is not None and mv.ndim != 1:
        raise ValueError("vector must be one-dimensional")
    a = array.array("f", vec if mv is None or mv.format in "fd" else list(vec))
    return (c_float * len(a)).from_buffer(a), len(a)


def _us(timeout: float) -> int:
    return max(0, min(int(timeout * 1e6), 0xFFFFFFFF))


def _ns(timeout: Optional[float]) -> int:
    return -1 if timeout is None else max(0, int(timeout * 1e9))


def _maps_for(addr: int, ino: int) -> Optional[Tuple[int, int, int]]:
    """The /proc/self/maps range (start, end, file offset) holding addr."""
    try:
        with builtins.open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                if lo <= addr < hi and int(parts[4]) == ino:
                    return lo, hi, int(parts[2], 16)
    except OSError:
        return None
    return None


class View:
    """A zero-copy look at a value where it lies in the shared mapping.

    ``view.data`` is a read-only ``memoryview`` of the value's bytes inside
    the store.  The bytes may change under the reader at any moment: after
    reading them, call :meth:`valid` (or :meth:`check`); only when it returns
    True did every byte read in between belong to the value at
    ``view.epoch``.  Otherwise discard what was read and take a new view.

    The memoryview is backed by the binding's own read-only mmap of the store
    file, so it stays memory-safe whatever happens to the Store (a view that
    outlives ``close()`` reads the mapping still, it just cannot be validated).
    Use it as a context manager to release the memoryview on exit.
    """
    __slots__ = ("_store", "_v", "data", "epoch", "slot", "type", "__weakref__")

    def __init__(self, store: "Store", v: _lib.spl_view, data: memoryview) -> None:
        self._store = store
        self._v = v
        self.data = data
        self.epoch: int = v.epoch
        self.slot: int = v.slot
        self.type: int = v.type

    def __len__(self) -> int:
        return self._v.len

    def valid(self) -> bool:
        """True if the value is still the one at ``epoch`` (spl_view_valid)."""
        rc = _pl.spl_view_valid(self._store._h(), byref(self._v))
        if rc == 0:
            return True
        if rc == _ESTALE:
            return False
        raise error_for(rc, "view_valid")

    def check(self) -> None:
        """Raise :class:`Stale` unless :meth:`valid`."""
        if not self.valid():
            raise Stale(_ESTALE, "view")

    def tobytes(self) -> bytes:
        """Copy the bytes out and validate the copy (Stale if the slot moved)."""
        b = self.data.tobytes()
        self.check()
        return b

    def release(self) -> None:
        self.data.release()

    def __enter__(self) -> "View":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class Store(MutableMapping):  # type: ignore[type-arg]
    """A splinter store as a mapping of ``str`` keys to ``bytes`` values.

    Contention: by default every operation waits (bounded by ``timeout``
    seconds) when another writer holds the slot it needs - through the C
    ``spl_get_wait`` / ``spl_set_wait`` / ``spl_unset_wait``, and for the
    other calls a retry loop on SPL_EAGAIN that waits between tries with
    ``spl_retry_pause`` (the same wait: asleep on the busy slot until its
    writer commits).  Pass ``wait=False`` (to the store or to one call) to get
    :class:`~splinter.errors.WouldBlock` instead.

    A Store may be used from any number of threads.  ``close()`` (or the
    ``with`` block's end) unmaps it; subscriptions opened on it are closed
    first.

    The create keywords (geometry, ``vec_cells``, ``numa_mode``,
    ``numa_nodes``, ``huge_pages``, ...) are those of :func:`options`.
    """

    def __init__(self, name: Optional[str] = None, *, create: bool = False,
                 open_or_create: bool = False, readonly: bool = False,
                 backing: Union[Backing, str] = Backing.AUTO, slots: int = 0, key_max: int = 0,
                 val_max: int = 0, vec_dim: Optional[int] = None,
                 vec_format: Union[VecFormat, str] = VecFormat.F32, feed_len: int = 0,
                 mode: int = 0, group: bool = False, nowait_open: bool = False,
                 tandem_sep: str = "", numa_mode: Union[NumaMode, int, str] = NumaMode.DEFAULT,
                 numa_nodes: Union[int, Iterable[int]] = 0, huge_pages: Union[bool, int] = False,
                 vec_cells: int = 0, wait: bool = True, timeout: float = 1.0,
                 _fd: Optional[int] = None) -> None:
        self._s: Optional[int] = None
        self._sv: Optional[c_void_p] = None
        self.default_wait = wait
        self.timeout = timeout
        self.name = name
        # Raw spl_sub handles of open subscriptions: close() ends them before
        # the store (ints, not objects, so any finalisation order is safe).
        self._subs: set = set()
        self._mm: Optional[mmap.mmap] = None
        self._mm_range: Optional[Tuple[int, int, int]] = None
        self._pool: List[Any] = []
        self._lock = threading.Lock()
        h = c_void_p()
        if _fd is not None:
            rc = _cl.spl_open_fd(byref(h), _fd, O_RDONLY if readonly else 0)
            op = "open_fd"
        else:
            o = options(backing=backing, slots=slots, key_max=key_max, val_max=val_max,
                        vec_dim=vec_dim, vec_format=vec_format, feed_len=feed_len, mode=mode,
                        readonly=readonly, group=group, nowait=nowait_open,
                        tandem_sep=tandem_sep, numa_mode=numa_mode, numa_nodes=numa_nodes,
                        huge_pages=huge_pages, vec_cells=vec_cells)
            if open_or_create:
                # Geometry not given is "any" for an existing store (the C
                # defaults still apply if it is created); vec_dim stays.
                o.geom.slots, o.geom.key_max, o.geom.val_max = slots, key_max, val_max
            nb = None if name is None else os.fsencode(name)
            if create:
                fn, op = _cl.spl_create, "create"
            elif open_or_create:
                fn, op = _cl.spl_open_or_create, "open_or_create"
            else:
                fn, op = _cl.spl_open, "open"
            rc = fn(byref(h), nb, byref(o))
        if rc < 0:
            raise error_for(rc, f"{op} {name!r}" if name is not None else op)
        self._s = h.value
        self._sv = c_void_p(h.value)
        inf = self.info()
        self.slots = inf.slots
        self.key_max = inf.key_max
        self.val_max = inf.val_max
        self.vec_dim = inf.vec_dim
        self.readonly = inf.read_only

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, name: Optional[str] = None, **kw: Any) -> "Store":
        """Create a new store (``name=None`` with ``backing="memfd"``: anonymous)."""
        return cls(name, create=True, **kw)

    @classmethod
    def open(cls, name: str, **kw: Any) -> "Store":
        return cls(name, **kw)

    @classmethod
    def open_or_create(cls, name: str, **kw: Any) -> "Store":
        return cls(name, open_or_create=True, **kw)

    @classmethod
    def from_fd(cls, fd: int, *, readonly: bool = False, **kw: Any) -> "Store":
        """Attach to a store by descriptor (a memfd passed by a parent or
        :func:`recv_fd`); the descriptor is duplicated."""
        return cls(None, _fd=fd, readonly=readonly, **kw)

    def _h(self) -> int:
        s = self._s
        if s is None:
            raise ValueError("store is closed")
        return s

    def close(self) -> None:
        """Close subscriptions opened on this store, then unmap it."""
        with self._lock:
            if self._s is None:
                return
            for u in self._subs:
                _cl.spl_sub_close(u)
            self._subs.clear()
            s, self._s, self._sv = self._s, None, None
            if self._mm is not None:
                try:
                    self._mm.close()
                except BufferError:
                    pass  # views still export it: it lives until they go
                self._mm = None
        _cl.spl_close(s)

    @property
    def closed(self) -> bool:
        return self._s is None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._s is None else f"{self.slots} slots"
        return f"<splinter.Store {self.name!r} {state}>"

    def info(self) -> Info:
        i = _lib.spl_info()
        self._ck(_pl.spl_info_get_n(self._h(), byref(i), ctypes.sizeof(i)), "info")
        return Info._of(i)

    def flush(self) -> None:
        self._ck(_cl.spl_flush(self._h()), "flush")

    def fileno(self) -> int:
        """The store's descriptor (valid until close), e.g. for :func:`send_fd`."""
        return self._ck(_pl.spl_fd(self._h()), "fd")

    @staticmethod
    def _ck(rc: int, op: str, key: Optional[bytes] = None) -> int:
        if rc < 0:
            raise error_for(rc, op if key is None else f"{op} {_skey(key)!r}")
        return rc

    def _waiting(self, wait: Optional[bool]) -> bool:
        return self.default_wait if wait is None else wait

    def _retry(self, fn: Any, args: Tuple[Any, ...], wait: Optional[bool], op: str,
               kb: bytes, write: int) -> int:
        """Call fn(*args) (args[0]: the handle); when waiting, retry
        SPL_EAGAIN until the timeout, pausing between tries with
        spl_retry_pause (GIL released: spin, yield, then asleep on kb's busy
        slot until its writer commits, as the *_wait calls do).  write: 1 if
        fn writes the key (_W), 0 if it only reads it (_R)."""
        rc = fn(*args)
        if rc == _EAGAIN and self._waiting(wait):
            r = _lib.spl_retry()
            _pl.spl_retry_init(byref(r), _us(self.timeout))
            s = args[0]
            while rc == _EAGAIN and _cl.spl_retry_pause(s, kb, write, byref(r)) == 0:
                rc = fn(*args)
        if rc < 0:
            raise error_for(rc, f"{op} {_skey(kb)!r}")
        return rc

    # ------------------------------------------------------------ key-value
    def get(self, key: Key, default: Any = None, *, wait: Optional[bool] = None) -> Any:
        """The value (bytes), or ``default`` if the key is absent."""
        try:
            return self._get(key, wait)
        except NotFound:
            return default

    def __getitem__(self, key: Key) -> bytes:
        # The hottest path, written out (no call to _get): a plain utf-8
        # encode (surrogates fall back in _key), one unpack of the pooled
        # entry, the C call without argtypes (see _lib.fast), and the bytes
        # made by slicing the ctypes array (one object; memoryview slice
        # and tobytes made two: 50-60 ns of a 510 ns hot get).
        try:
            kb = key.encode()  # type: ignore[union-attr]
        except (AttributeError, UnicodeEncodeError):
            kb = _key(key)
        if 0 in kb:
            kb = _key(kb)
        sv = self._sv
        if sv is None:
            self._h()
        pool = self._pool
        try:
            ent = pool.pop()
        except IndexError:
            ent = _pool_entry()
        _ba, cbuf, _mv, ln, pln, cap = ent
        rc = _fget(sv, kb, cbuf, cap, pln)
        if rc == 0:
            r = cbuf[:ln.value]
            pool.append(ent)
            return r
        pool.append(ent)
        return self._get_rc(rc, kb, ln.value, None)

    def _get(self, key: Key, wait: Optional[bool]) -> bytes:
        # The hot path: ~0.7 us.  No argtypes (see _lib.fast), a pooled buffer
        # (pop/append are atomic under the GIL, so threads never share one).
        kb = key.encode("utf-8", "surrogateescape") if type(key) is str else _key(key)
        if 0 in kb:
            kb = _key(kb)
        sv = self._sv
        if sv is None:
            self._h()
        pool = self._pool
        try:
            ent = pool.pop()
        except IndexError:
            ent = _pool_entry()
        rc = _fget(sv, kb, ent[1], ent[5], ent[4])
        if rc == 0:
            r = ent[1][:ent[3].value]
            pool.append(ent)
            return r
        pool.append(ent)
        return self._get_rc(rc, kb, ent[3].value, wait)

    def _get_rc(self, rc: int, kb: bytes, n: int, wait: Optional[bool]) -> bytes:
        """A get whose first try did not succeed: wait, grow, or raise."""
        if rc == _ENOBUFS or (rc == _EAGAIN and (self.default_wait if wait is None else wait)):
            return self._get_slow(self._h(), kb, n if rc == _ENOBUFS else _POOL_BUF)
        raise error_for(rc, f"get {_skey(kb)!r}")

    def _get_slow(self, s: int, kb: bytes, cap: int) -> bytes:
        """spl_get_wait (GIL released) into a fresh buffer, growing it on ENOBUFS."""
        ln = c_size_t()
        while True:
            buf = ctypes.create_string_buffer(max(cap, 1))
            rc = _cl.spl_get_wait(s, kb, buf, cap, byref(ln), _us(self.timeout))
            if rc == 0:
                return buf.raw[:ln.value]
            if rc != _ENOBUFS:
                raise error_for(rc, f"get {_skey(kb)!r}")
            cap = ln.value

    def set(self, key: Key, value: BytesLike, *, wait: Optional[bool] = None) -> None:
        """Insert or overwrite (an overwrite keeps type, flags and labels)."""
        kb = key.encode("utf-8", "surrogateescape") if type(key) is str else _key(key)
        if 0 in kb:
            kb = _key(kb)
        v = value if type(value) is bytes else _bytes(value)
        sv = self._sv
        if sv is None:
            self._h()
        n = len(v)
        rc = _fset(sv, kb, v, n if (_INT_SIZE_OK and n < 0x7FFFFFFF) else c_size_t(n))
        if rc == _EAGAIN and (self.default_wait if wait is None else wait):
            rc = _cl.spl_set_wait(sv, kb, v, n, _us(self.timeout))
        if rc < 0:
            raise error_for(rc, f"set {_skey(kb)!r}")

    __setitem__ = set

    def unset(self, key: Key, *, wait: Optional[bool] = None) -> bool:
        """Delete; True if the key was there, False if it was absent."""
        kb = _key(key)
        s = self._h()
        rc = _pl.spl_unset(s, kb)
        if rc == _EAGAIN and self._waiting(wait):
            rc = _cl.spl_unset_wait(s, kb, _us(self.timeout))
        if rc == _ENOENT:
            return False
        self._ck(rc, "unset", kb)
        return True

    def __delitem__(self, key: Key) -> None:
        if not self.unset(key):
            raise NotFound(_ENOENT, f"unset {key!r}")

    def exists(self, key: Key, *, wait: Optional[bool] = None) -> bool:
        kb = _key(key)
        return self._retry(_pl.spl_exists, (self._h(), kb), wait, "exists", kb, _R) == 1

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (str, bytes)):
            return False
        return self.exists(key)

    def __len__(self) -> int:
        """Live keys (spl_info.used: approximate while writers run)."""
        return self.info().used

    def __iter__(self) -> Iterator[str]:
        return iter([e.key for e in self.entries()])

    def append(self, key: Key, data: BytesLike, *, wait: Optional[bool] = None) -> None:
        """Append to a value, creating it if absent (ValueTooBig past val_max)."""
        kb, v = _key(key), _bytes(data)
        self._retry(_pl.spl_append, (self._h(), kb, v, len(v)), wait, "append", kb, _W)

    def cas(self, key: Key, expected_epoch: int, value: BytesLike, *,
            wait: Optional[bool] = None) -> None:
        """Write only if the key's epoch is still ``expected_epoch`` (from
        :meth:`meta` or a :class:`View`); 0 means create only if absent.
        Raises Stale (the epoch moved), Exists (0 and present), NotFound."""
        kb, v = _key(key), _bytes(value)
        self._retry(_pl.spl_cas, (self._h(), kb, expected_epoch, v, len(v)), wait, "cas", kb, _W)

    # ------------------------------------------------------------ typed helpers
    def get_int(self, key: Key, default: Optional[int] = None, *, signed: bool = True,
                wait: Optional[bool] = None) -> Optional[int]:
        """An 8-byte integer value (little-endian), or default if absent."""
        v = self.get(key, None, wait=wait)
        if v is None:
            return default
        if len(v) != 8:
            raise error_for(-1009, f"get_int {key!r}")
        return int.from_bytes(v, "little", signed=signed)

    def set_int(self, key: Key, value: int, *, wait: Optional[bool] = None) -> None:
        """Store an int64 (uint64 if it does not fit) and mark its type, so
        :meth:`add` and :meth:`int_op` work on it.  A new key is typed by a
        second call right after the write (its type is VOID in between)."""
        signed = value < (1 << 63)
        b = value.to_bytes(8, "little", signed=signed)
        self.set(key, b, wait=wait)
        t = Type.INT64 if signed else Type.UINT64
        if self.meta(key, wait=wait).type != t:
            self.set_type(key, t, wait=wait)

    def get_str(self, key: Key, default: Optional[str] = None, *, encoding: str = "utf-8",
                wait: Optional[bool] = None) -> Optional[str]:
        v = self.get(key, None, wait=wait)
        return default if v is None else v.decode(encoding)

    def set_str(self, key: Key, value: str, *, encoding: str = "utf-8",
                wait: Optional[bool] = None) -> None:
        """Store text and mark the type TEXT (a second call, as for set_int)."""
        self.set(key, value.encode(encoding), wait=wait)
        if self.meta(key, wait=wait).type != Type.TEXT:
            self.set_type(key, Type.TEXT, wait=wait)

    # The integer ops: spl_int_try (the GIL held: it never sleeps), and on
    # a busy slot, spl_int_wait (the GIL released: it waits up to the
    # store's timeout, as get and set) when waiting, else WouldBlock with
    # nothing changed.  The fast path is
    # written out in each, with the op as a plain int (an IntOp member is
    # converted through __index__ on every call).
    def _int_slow(self, rc: int, kb: bytes, op: int, operand: int, out: c_uint64,
                  wait: Optional[bool], name: str) -> None:
        if rc == _EAGAIN and self._waiting(wait):
            rc = _cl.spl_int_wait(self._h(), kb, op, operand, byref(out), _us(self.timeout))
        self._ck(rc, name, kb)

    def int_op(self, key: Key, op: Union[IntOp, str], operand: int = 0, *,
               wait: Optional[bool] = None) -> int:
        """Apply op in place on an 8-byte INT64/UINT64 value (a missing key is
        created as INT64 0) and return the new value as unsigned 64-bit.
        Never loses an update; WrongType if the value is not such an integer.
        A busy slot is waited for up to ``timeout`` (spl_int_wait), then
        WouldBlock; with ``wait=False`` (or
        ``default_wait`` False), raises WouldBlock having changed nothing
        (spl_int_try).  add, inc and dec likewise."""
        kb = _key(key)
        o = int(IntOp[op.upper()] if isinstance(op, str) else IntOp(op))
        out = c_uint64()
        operand &= _M64
        rc = _pl.spl_int_try(self._h(), kb, o, operand, byref(out))
        if rc:
            self._int_slow(rc, kb, o, operand, out, wait, "int")
        return out.value

    def add(self, key: Key, delta: int, *, wait: Optional[bool] = None) -> int:
        """Add delta (created as 0 if absent); the new value."""
        kb = _key(key)
        out = c_uint64()
        delta &= _M64
        rc = _pl.spl_int_try(self._h(), kb, 0, delta, byref(out))
        if rc:
            self._int_slow(rc, kb, 0, delta, out, wait, "add")
        v = out.value
        return v - _B64 if v >> 63 else v

    def inc(self, key: Key, *, wait: Optional[bool] = None) -> int:
        kb = _key(key)
        out = c_uint64()
        rc = _pl.spl_int_try(self._h(), kb, 0, 1, byref(out))
        if rc:
            self._int_slow(rc, kb, 0, 1, out, wait, "inc")
        v = out.value
        return v - _B64 if v >> 63 else v

    def dec(self, key: Key, *, wait: Optional[bool] = None) -> int:
        kb = _key(key)
        out = c_uint64()
        rc = _pl.spl_int_try(self._h(), kb, 0, _M64, byref(out))
        if rc:
            self._int_slow(rc, kb, 0, _M64, out, wait, "dec")
        v = out.value
        return v - _B64 if v >> 63 else v

    # ------------------------------------------------------------ metadata
    def meta(self, key: Key, *, wait: Optional[bool] = None) -> Meta:
        """Consistent metadata snapshot; KeyError (NotFound) if absent."""
        kb = _key(key)
        m = _lib.spl_meta()
        self._retry(_pl.spl_meta_get, (self._h(), kb, byref(m)), wait, "meta", kb, _R)
        return Meta._of(m)

    def set_type(self, key: Key, t: Union[Type, int, str], *, wait: Optional[bool] = None) -> None:
        kb = _key(key)
        if isinstance(t, str):
            t = self._ck(_pl.spl_type_parse(t.encode()), "type_parse")
        self._retry(_pl.spl_type_set, (self._h(), kb, int(t)), wait, "type_set", kb, _W)

    def set_flags(self, key: Key, flags: int, *, wait: Optional[bool] = None) -> None:
        kb = _key(key)
        self._retry(_pl.spl_flags_set, (self._h(), kb, flags & 0xFF), wait, "flags_set", kb, _W)

    def set_labels(self, key: Key, mask: int, *, wait: Optional[bool] = None) -> None:
        """OR label bits in."""
        kb = _key(key)
        self._retry(_pl.spl_labels_set, (self._h(), kb, mask), wait, "labels_set", kb, _W)

    def clear_labels(self, key: Key, mask: int, *, wait: Optional[bool] = None) -> None:
        """AND label bits out."""
        kb = _key(key)
        self._retry(_pl.spl_labels_clear, (self._h(), kb, mask), wait, "labels_clear", kb, _W)

    def touch(self, key: Key, *, wait: Optional[bool] = None) -> None:
        """Set the key's atime to now (not a change: nothing is pulsed)."""
        kb = _key(key)
        self._retry(_pl.spl_touch, (self._h(), kb), wait, "touch", kb, _W)

    # ------------------------------------------------------------ views
    def view(self, key: Key, *, wait: Optional[bool] = None) -> View:
        """A zero-copy :class:`View` of the value (KeyError if absent).
        Read ``view.data``, then call ``view.valid()``."""
        kb = _key(key)
        s = self._h()
        v = _lib.spl_view()
        self._retry(_pl.spl_view_get, (s, kb, byref(v)), wait, "view", kb, _R)
        mm = self._mapping(v.data or 0)
        if v.len == 0:
            return View(self, v, memoryview(b""))
        lo, hi, off = self._mm_range  # type: ignore[misc]
        start = (v.data - lo) + off
        return View(self, v, memoryview(mm)[start:start + v.len])

    def _mapping(self, addr: int) -> mmap.mmap:
        with self._lock:
            r = self._mm_range
            if self._mm is not None and r is not None and (addr == 0 or r[0] <= addr < r[1]):
                return self._mm
            fd = _pl.spl_fd(self._h())
            st = os.fstat(fd)
            if addr:
                r = _maps_for(addr, st.st_ino)
                if r is None:
                    raise SplinterError(-95, "view: the store's mapping was not found in "
                                        "/proc/self/maps")
                self._mm_range = r
            if self._mm is None:
                self._mm = mmap.mmap(fd, st.st_size, mmap.MAP_SHARED, mmap.PROT_READ)
            return self._mm

    # ------------------------------------------------------------ iteration
    def entries(self, prefix: Optional[Key] = None, glob: Optional[Key] = None,
                labels: int = 0, *, any_labels: bool = False,
                values: bool = False) -> List[Entry]:
        """Every live key matching the filter, each read consistently
        (spl_foreach), collected in one pass.  ``labels``: keys carrying all
        these label bits (any of them with ``any_labels``); ``values``: copy
        the values too."""
        f = _lib.spl_filter()
        f.prefix = None if prefix is None else _key(prefix)
        f.glob = None if glob is None else _key(glob)
        f.labels = labels
        f.flags = (F_VALUES if values else 0) | (F_LABELS_ANY if any_labels else 0)
        out: List[Entry] = []
        err: List[BaseException] = []

        def cb(ep: Any, _ud: Any) -> int:
            try:
                e = ep.contents
                k = _skey(ctypes.string_at(e.key, e.key_len))
                val = ctypes.string_at(e.val, e.meta.val_len) if (values and e.val) else None
                out.append(Entry(k, Meta._of(e.meta), val))
                return 0
            except BaseException as x:  # stop the scan; re-raised below
                err.append(x)
                return 1

        rc = _cl.spl_foreach(self._h(), byref(f), _lib.ITER_FN(cb), None)
        if err:
            raise err[0]
        self._ck(rc, "foreach")
        return out

    def keys_matching(self, prefix: Optional[Key] = None, glob: Optional[Key] = None,
                      labels: int = 0, *, any_labels: bool = False) -> List[str]:
        return [e.key for e in self.entries(prefix, glob, labels, any_labels=any_labels)]

    # ------------------------------------------------------------ vectors
    @overload
    def vec_get(self, key: Key) -> "array.array[float]": ...

    @overload
    def vec_get(self, key: Key, *, with_epoch: bool) -> Any: ...

    def vec_get(self, key: Key, *, with_epoch: bool = False,
                wait: Optional[bool] = None) -> Any:
        """The key's vector as ``array('f')`` (``numpy.asarray`` takes it
        without a copy); with ``with_epoch`` a tuple (vector, epoch).
        KeyError (NotFound / NoVector) if the key or its vector is absent."""
        kb = _key(key)
        a = array.array("f", bytes(4 * self.vec_dim))
        buf = (c_float * self.vec_dim).from_buffer(a) if self.vec_dim else None
        ep = c_uint64()
        self._retry(_pl.spl_vec_get, (self._h(), kb, buf, self.vec_dim, byref(ep)), wait,
                    "vec_get", kb, _R)
        return (a, ep.value) if with_epoch else a

    def vec_set(self, key: Key, vec: Any, *, wait: Optional[bool] = None) -> None:
        """Store a vector (vec_dim floats: a sequence, array('f'), numpy
        array or any float buffer), creating the key if absent."""
        kb = _key(key)
        buf, n = _floats(vec)
        self._retry(_pl.spl_vec_set, (self._h(), kb, buf, n), wait, "vec_set", kb, _W)

    def vec_set_if(self, key: Key, epoch: int, vec: Any, *, wait: Optional[bool] = None) -> None:
        """Store a vector only if the key still has `epoch` (its value was
        not written since: an embedder pairing a text with its vector).
        Raises Stale (SPL_ESTALE) otherwise; never creates the key."""
        kb = _key(key)
        buf, n = _floats(vec)
        self._retry(_pl.spl_vec_set_if, (self._h(), kb, epoch, buf, n), wait, "vec_set_if", kb, _W)

    def vec_clear(self, key: Key, *, wait: Optional[bool] = None) -> bool:
        """Remove the key's vector; False if it had none."""
        kb = _key(key)
        try:
            self._retry(_pl.spl_vec_clear, (self._h(), kb), wait, "vec_clear", kb, _W)
        except SplinterError as e:
            if e.name == "SPL_ENOVEC":
                return False
            raise
        return True

    def vec_search(self, query: Union[Key, Any], k: int = 10, *,
                   metric: Union[Metric, str] = Metric.COSINE, labels: int = 0,
                   any_labels: bool = False, prefix: Optional[Key] = None,
                   skip_self: bool = False, threads: int = 0, ann: bool = False,
                   ef: int = 0) -> Hits:
        """Top-k search by a vector or by the key of a stored vector: exact,
        unless `ann` asks a running ANN index (the hnsw fragment: ``splinterctl
        insmod hnsw``) with `ef` candidates (0: the index's default; raised to
        k).  With no index running, or one that lags, the exact scan answers;
        ``Hits.approximate`` says which did."""
        q = _lib.spl_vec_query()
        keep: Any = None
        if isinstance(query, (str, bytes)):
            q.key = _key(query)
        else:
            keep, n = _floats(query)
            q.vec = ctypes.cast(keep, ctypes.POINTER(c_float))
            q.dim = n
        q.k = k
        q.metric = Metric[metric.upper()] if isinstance(metric, str) else int(metric)
        q.flags = (F_LABELS_ANY if any_labels else 0) | (VQ_SKIP_SELF if skip_self else 0) | \
            (VQ_ANN if ann else 0)
        q.labels = labels
        q.prefix = None if prefix is None else _key(prefix)
        q.threads = threads
        q.ef = ef
        res = ctypes.POINTER(_lib.spl_vec_result)()
        self._ck(_cl.spl_vec_search(self._h(), byref(q), byref(res)), "vec_search")
        try:
            r = res.contents
            hits = Hits(Hit(_skey(ctypes.string_at(h.key, h.key_len)), h.score, h.slot, h.epoch)
                        for h in r.hits[:r.n])
            hits.scanned, hits.skipped = r.scanned, r.skipped
            hits.approximate = bool(r.flags & VR_ANN)
        finally:
            _cl.spl_vec_result_free(res)
        del keep
        return hits

    # ------------------------------------------------------------ tandem keys
    def tandem_key(self, base: Key, i: int) -> str:
        kb = _key(base)
        buf = ctypes.create_string_buffer(self.key_max + 1)
        n = self._ck(_pl.spl_tandem_key(self._h(), kb, i, buf, len(buf)), "tandem_key", kb)
        return _skey(buf.raw[:n])

    def tandem_set(self, base: Key, values: Sequence[BytesLike]) -> None:
        """Write values as the group base, base.1, ... (not atomic as a group)."""
        kb = _key(base)
        vals = [_bytes(v) for v in values]
        n = len(vals)
        ptrs = (c_void_p * n)(*[ctypes.cast(ctypes.c_char_p(v), c_void_p) for v in vals])
        lens = (c_size_t * n)(*[len(v) for v in vals])
        self._ck(_cl.spl_tandem_set(self._h(), kb, ptrs, lens, n, _us(self.timeout)),
                 "tandem_set", kb)

    def tandem_get(self, base: Key, i: int) -> bytes:
        kb = _key(base)
        ln = c_size_t()
        rc = _pl.spl_tandem_get(self._h(), kb, i, None, 0, byref(ln))
        self._ck(rc, "tandem_get", kb)
        buf = ctypes.create_string_buffer(max(ln.value, 1))
        self._ck(_pl.spl_tandem_get(self._h(), kb, i, buf, ln.value, byref(ln)), "tandem_get", kb)
        return buf.raw[:ln.value]

    def tandem_count(self, base: Key, *, wait: Optional[bool] = None) -> int:
        kb = _key(base)
        return self._retry(_pl.spl_tandem_count, (self._h(), kb), wait, "tandem_count", kb, _R)

    def tandem_unset(self, base: Key) -> int:
        kb = _key(base)
        return self._ck(_cl.spl_tandem_unset(self._h(), kb, _us(self.timeout)), "tandem_unset", kb)

    def tandem_vec_set(self, base: Key, vecs: Sequence[Any]) -> None:
        kb = _key(base)
        flat = array.array("f")
        for v in vecs:
            buf, n = _floats(v)
            flat.frombytes(bytes(buf))
        n = len(vecs)
        dim = len(flat) // n if n else 0
        p = (c_float * len(flat)).from_buffer(flat) if len(flat) else None
        self._ck(_cl.spl_tandem_vec_set(self._h(), kb, p, n, dim, _us(self.timeout)),
                 "tandem_vec_set", kb)

    def tandem_vec_get(self, base: Key, i: int) -> "array.array[float]":
        kb = _key(base)
        a = array.array("f", bytes(4 * self.vec_dim))
        buf = (c_float * self.vec_dim).from_buffer(a) if self.vec_dim else None
        self._ck(_pl.spl_tandem_vec_get(self._h(), kb, i, buf, self.vec_dim), "tandem_vec_get", kb)
        return a

    # ------------------------------------------------------------ prepared keys, batches
    def prepare(self, key: Key) -> "PreparedKey":
        """Hash a key once for this store (spl_key_prep); use it many times."""
        return PreparedKey(self, key)

    def prepare_many(self, keys: Iterable[Union[Key, "PreparedKey"]]) -> "KeyBatch":
        """Hash many keys once for this store: a KeyBatch, which get_many and
        set_many take as one object (a list of keys costs them a Python step
        per key to turn into an spl_key array, every call)."""
        return KeyBatch(self, keys)

    def _kvec(self, keys: Sequence[Union[Key, "PreparedKey"]]) -> Tuple[Any, List[Any]]:
        """An spl_key array for keys (prepared or not) and what keeps them alive."""
        arr = (_lib.spl_key * max(len(keys), 1))()
        keep: List[Any] = []
        s = self._h()
        for i, k in enumerate(keys):
            if isinstance(k, PreparedKey):
                arr[i] = k._k
                keep.append(k)
            else:
                kb = _key(k)
                keep.append(kb)
                self._ck(_pl.spl_key_prep(s, kb, byref(arr[i])), "key_prep", kb)
        return arr, keep

    def get_many(self, keys: Union[Iterable[Union[Key, "PreparedKey"]], "KeyBatch"],
                 default: Any = None, *, max_len: int = _POOL_BUF) -> List[Any]:
        """The values of keys (a KeyBatch, or keys and PreparedKeys) in one
        spl_get_many (the lookups overlapped): a list in the order of keys,
        ``default`` for an absent key.  Values longer than max_len, and keys
        busy under a writer, are fetched again one by one.  A key prepared for
        another store raises InvalidArgument."""
        if isinstance(keys, KeyBatch):
            arr, n, keep, kl = keys._arr, keys._n, keys, keys._kbs
        else:
            kl = list(keys)
            n = len(kl)
            arr, keep = self._kvec(kl)
        if n == 0:
            return []
        # a lane per key no longer than a value can be (a 4 KiB lane a key
        # made the buffer and its copy the cost of the call)
        stride = max(min(int(max_len), self.val_max), 1)
        bufs = ctypes.create_string_buffer(n * stride)
        lens = (c_size_t * n)()
        rcs = (c_int * n)()
        s = self._h()
        self._ck(_pl.spl_get_many(s, arr, n, bufs, stride, lens, rcs), "get_many")
        raw = bufs.raw
        rl, ll = rcs[:], lens[:]  # two lists at once: indexing ctypes arrays is slow
        out: List[Any] = []
        for i in range(n):
            rc = rl[i]
            if rc == 0:
                o = i * stride
                out.append(raw[o:o + ll[i]])
            elif rc == _ENOENT:
                out.append(default)
            elif rc in (_ENOBUFS, _EAGAIN):
                k = kl[i]
                pk = k if isinstance(k, PreparedKey) else PreparedKey(self, k)
                out.append(pk.get(default))
            else:
                raise error_for(rc, f"get_many {_skey(arr[i].key)!r}")
        del keep
        return out

    def set_many(self, items: Any, values: Optional[Iterable[Any]] = None, *,
                 wait: Optional[bool] = None) -> None:
        """Write (key, value) pairs (or a mapping), or a KeyBatch's keys and
        one value each (``set_many(batch, values)``), in one spl_set_many;
        each write is atomic on its own.  Keys busy under a writer are
        retried one by one (when waiting); the first other failure raises."""
        if isinstance(items, KeyBatch):
            vals = [_bytes(v) for v in (values if values is not None else ())]
            if len(vals) != items._n:
                raise ValueError(f"set_many: {items._n} keys, {len(vals)} values")
            pairs = list(zip(items._kbs, vals))
            arr, keep = items._arr, items
        else:
            if values is not None:
                raise TypeError("set_many: values go with a KeyBatch")
            pairs = list(items.items()) if hasattr(items, "items") else list(items)
            arr, keep = self._kvec([k for k, _ in pairs])
            vals = [_bytes(v) for _, v in pairs]
        n = len(pairs)
        if n == 0:
            return
        stride = max(max(len(v) for v in vals), 1)
        buf = ctypes.create_string_buffer(b"".join(v.ljust(stride, b"\0") for v in vals), n * stride)
        lens = (c_size_t * n)(*[len(v) for v in vals])
        rcs = (c_int * n)()
        s = self._h()
        self._ck(_pl.spl_set_many(s, arr, n, buf, stride, lens, rcs), "set_many")
        for i in range(n):
            rc = rcs[i]
            if rc == _EAGAIN and self._waiting(wait):
                keys_i = pairs[i][0]
                pk = keys_i if isinstance(keys_i, PreparedKey) else PreparedKey(self, keys_i)
                pk.set(vals[i], wait=True)
            elif rc < 0:
                raise error_for(rc, f"set_many {_skey(arr[i].key)!r}")
        del keep

    # ------------------------------------------------------------ fragments
    def frag_register(self, library: str, args: Sequence[str] = (), *, name: Optional[str] = None,
                      probe: bool = True, dir: Optional[str] = None) -> str:  # noqa: A002
        """Register a fragment (splinterctl insmod without starting a host):
        library is a NAME (looked up by frag_find) or a path; args are
        NAME=VALUE options.  Returns the instance name.  A host (splinterctl
        host, or insmod) runs it."""
        path = os.path.abspath(library) if "/" in library else frag_find(library, dir)
        ab = [a.encode() for a in args]
        av = (ctypes.c_char_p * max(len(ab), 1))(*ab)
        out = ctypes.create_string_buffer(64)
        pb = path.encode()
        nb = None if name is None else name.encode()
        rc = _cl.spl_frag_register(self._h(), pb, nb, len(ab), av, 0 if probe else 1, out, 64)
        if rc < 0:
            raise _frag_error(rc, f"frag_register {library!r}")
        return out.value.decode()

    def frag_unregister(self, name: str, timeout: Optional[float] = 10.0) -> None:
        """Stop and remove a fragment (rmmod), waiting up to timeout (None: for ever)."""
        rc = _cl.spl_frag_unregister(self._h(), name.encode(), _ns(timeout))
        if rc < 0:
            raise _frag_error(rc, f"frag_unregister {name!r}")

    def frag_list(self) -> List["FragInfo"]:
        """Every registered fragment (lsmod)."""
        arr = (_lib.spl_frag_info * 8)()
        n = self._ck(_cl.spl_frag_list(self._h(), arr, 8), "frag_list")
        return [FragInfo._of(arr[i]) for i in range(min(n, 8))]

    def frag_get(self, name: str) -> "FragInfo":
        """One fragment by name; NotFound if it is not registered."""
        fi = _lib.spl_frag_info()
        rc = _cl.spl_frag_get(self._h(), name.encode(), byref(fi))
        if rc < 0:
            raise _frag_error(rc, f"frag_get {name!r}")
        return FragInfo._of(fi)

    def frag_wait(self, name: str, states: Union[int, str, Sequence[Union[int, str]]],
                  timeout: Optional[float] = 10.0) -> "FragInfo":
        """Wait until the fragment's state is one of states (names such as
        "running" or numbers); Timeout, or NotFound when it is removed."""
        if isinstance(states, (int, str)):
            states = [states]
        mask = 0
        for st in states:
            mask |= 1 << (FRAG_STATES.index(st) if isinstance(st, str) else int(st))
        fi = _lib.spl_frag_info()
        rc = _cl.spl_frag_wait(self._h(), name.encode(), mask, _ns(timeout), byref(fi))
        if rc < 0:
            raise _frag_error(rc, f"frag_wait {name!r}")
        return FragInfo._of(fi)

    def frag_call(self, name: str, command: str, *args: str, timeout: Optional[float] = 5.0) -> str:
        """Run a fragment's command in its host; the reply (JSON text).  A
        command that fails raises, its reply in the message."""
        ab = [a.encode() for a in (command, *args)]  # kept alive for the call
        av = (ctypes.c_char_p * len(ab))(*ab)
        nb = name.encode()
        cap = 2048
        while True:
            buf = ctypes.create_string_buffer(cap)
            ln = c_size_t()
            rc = _cl.spl_frag_call(self._h(), nb, len(ab), av, buf, cap, byref(ln),
                                   _ns(timeout))
            if rc == _ENOBUFS and ln.value >= cap:
                cap = ln.value + 1
                continue
            reply = buf.value.decode("utf-8", "replace")
            if rc < 0:
                raise _frag_error(rc, f"frag_call {name!r} {command!r}", reply)
            return reply

    # ------------------------------------------------------------ signals
    def add_watch(self, key: Key, groups: int, *, wait: Optional[bool] = None) -> None:
        """OR groups into the key's watch mask (spl_watch)."""
        kb = _key(key)
        self._retry(_pl.spl_watch, (self._h(), kb, groups), wait, "watch", kb, _W)

    def remove_watch(self, key: Key, groups: int, *, wait: Optional[bool] = None) -> None:
        """AND groups out of the key's watch mask (spl_unwatch)."""
        kb = _key(key)
        self._retry(_pl.spl_unwatch, (self._h(), kb, groups), wait, "unwatch", kb, _W)

    def bind(self, bit: int, groups: int) -> None:
        """Keys carrying label ``bit`` pulse ``groups``."""
        self._ck(_pl.spl_bind(self._h(), bit, groups), "bind")

    def unbind(self, bit: int, groups: int) -> None:
        self._ck(_pl.spl_unbind(self._h(), bit, groups), "unbind")

    def bound(self, bit: int) -> int:
        """The groups label ``bit`` pulses (spl_bind_get)."""
        g = c_uint64()
        self._ck(_pl.spl_bind_get(self._h(), bit, byref(g)), "bind_get")
        return g.value

    def bump(self, key: Key, *, wait: Optional[bool] = None) -> None:
        """Pulse the key's groups without writing it."""
        kb = _key(key)
        self._retry(_pl.spl_bump, (self._h(), kb), wait, "bump", kb, _R)

    def signal(self, groups: int) -> None:
        """Pulse groups directly (an event with no key)."""
        self._ck(_cl.spl_signal(self._h(), groups), "signal")

    def pulses(self, group: int) -> int:
        n = c_uint64()
        self._ck(_pl.spl_pulses(self._h(), group, byref(n)), "pulses")
        return n.value

    def signal_repair(self) -> int:
        """Sweep waiter records of dead processes; the number swept."""
        return self._ck(_cl.spl_signal_repair(self._h()), "signal_repair")

    def key_wait(self, key: Key, epoch: Optional[int] = None,
                 timeout: Optional[float] = None) -> Optional[int]:
        """Block (GIL released) until the key's epoch moves past ``epoch``
        (default: its epoch now).  Returns the new epoch, or None on timeout;
        KeyError if the key is absent or gets deleted."""
        kb = _key(key)
        if epoch is None:
            epoch = self.meta(kb).epoch
        out = c_uint64()
        rc = _cl.spl_key_wait(self._h(), kb, epoch, _ns(timeout), byref(out))
        if rc == _ETIMEDOUT:
            return None
        self._ck(rc, "key_wait", kb)
        return out.value

    def subscribe(self, groups: int) -> "Subscription":
        """Follow signal groups (a mask): see :class:`Subscription`."""
        return Subscription(self, groups)

    def watch(self, *keys: Key, group: int = 0, groups: int = 0,
              timeout: Optional[float] = None) -> "Watch":
        """``for event in store.watch("a", "b"):`` - events for these keys.

        Adds ``group`` to each key's watch mask (spl_watch; the mask stays
        after the iterator closes: it belongs to the key), subscribes to it
        (plus any ``groups`` mask, e.g. groups bound to labels) and yields
        :class:`Event`s as they happen, blocking in between (GIL released;
        no polling).  With keys, events of other keys of the group are
        skipped.  ``timeout`` ends the iteration after that many idle
        seconds.  An ``EventKind.OVERFLOW`` event means events were lost:
        rescan.  Also an async iterator (``async for``) through the
        subscription's pollable descriptor."""
        mask = groups | (1 << group)
        sub = Subscription(self, mask)
        try:
            for k in keys:
                self.add_watch(k, 1 << group)
        except BaseException:
            sub.close()
            raise
        want = {_skey(_key(k)) for k in keys} or None
        return Watch(sub, want, timeout)

    async def wait_key(self, key: Key, epoch: Optional[int] = None, *, group: int = 0,
                       timeout: Optional[float] = None) -> int:
        """Alias of :meth:`wait`."""
        return await self.wait(key, epoch, group=group, timeout=timeout)

    async def wait(self, key: Key, epoch: Optional[int] = None, *, group: int = 0,
                   timeout: Optional[float] = None) -> int:
        """``await store.wait(key)``: until the key's epoch moves past
        ``epoch`` (default: its epoch now); the new epoch.  Runs on the
        asyncio loop through the pollable descriptor of a subscription to
        ``group`` (``loop.add_reader``; no thread, no polling).  KeyError if
        the key is absent or deleted; TimeoutError (splinter Timeout) after
        ``timeout`` seconds."""
        kb = _key(key)
        deadline = None if timeout is None else time.monotonic() + timeout
        with Subscription(self, 1 << group) as sub:
            fd = sub.fileno()
            self.add_watch(kb, 1 << group)
            if epoch is None:
                epoch = self.meta(kb).epoch
            while True:
                m = self.meta(kb)
                if m.epoch != epoch:
                    return m.epoch
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise Timeout(_ETIMEDOUT, f"wait {_skey(kb)!r}")
                await _readable(fd, left)
                _drain_fd(fd)


class KeyBatch:
    """Keys hashed once for one store (``Store.prepare_many(keys)``), for
    get_many and set_many: one object whose spl_key array is built once,
    where a list of keys costs each call a Python step per key.  It keeps
    its encoded keys alive; another store's batch calls refuse it with
    InvalidArgument."""

    __slots__ = ("store", "_kbs", "_arr", "_n")

    def __init__(self, store: "Store", keys: Iterable[Union[Key, "PreparedKey"]]) -> None:
        self.store = store
        self._arr, keep = store._kvec(list(keys))  # its structs point into _kbs
        self._kbs = [k._kb if isinstance(k, PreparedKey) else k for k in keep]
        self._n = len(self._kbs)

    @property
    def keys(self) -> List[str]:
        return [_skey(kb) for kb in self._kbs]

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"KeyBatch({self._n} keys)"


class PreparedKey:
    """A key hashed once for one store (spl_key_prep): get, set, unset and
    add with it skip the hashing.  It keeps its encoded key alive; it works
    only with the store it was prepared for (another store's calls refuse it
    with InvalidArgument).  ``Store.prepare(key)`` makes one."""

    __slots__ = ("store", "_kb", "_k")

    def __init__(self, store: "Store", key: Key) -> None:
        self.store = store
        self._kb = _key(key)  # the C struct points into these bytes
        self._k = _lib.spl_key()
        Store._ck(_pl.spl_key_prep(store._h(), self._kb, byref(self._k)), "key_prep", self._kb)

    @property
    def key(self) -> str:
        return _skey(self._kb)

    def __repr__(self) -> str:
        return f"PreparedKey({self.key!r})"

    def _retry(self, fn: Any, args: Tuple[Any, ...], wait: Optional[bool], op: str,
               write: int) -> int:
        return self.store._retry(fn, args, wait, op, self._kb, write)

    def get(self, default: Any = None, *, wait: Optional[bool] = None) -> Any:
        """The value (bytes), or default if absent (spl_get_k)."""
        s = self.store._h()
        cap = _POOL_BUF
        ln = c_size_t()
        while True:
            buf = ctypes.create_string_buffer(cap)
            try:
                self._retry(_pl.spl_get_k, (s, byref(self._k), buf, cap, byref(ln)), wait, "get",
                            _R)
            except NotFound:
                return default
            except SplinterError as e:
                if e.code != _ENOBUFS:
                    raise
                cap = ln.value
                continue
            return buf.raw[:ln.value]

    def set(self, value: Any, *, wait: Optional[bool] = None) -> None:
        """Insert or overwrite (spl_set_k)."""
        v = _bytes(value)
        self._retry(_pl.spl_set_k, (self.store._h(), byref(self._k), v, len(v)), wait, "set", _W)

    def unset(self, *, wait: Optional[bool] = None) -> bool:
        """Delete (spl_unset_k); True if the key was there."""
        try:
            self._retry(_pl.spl_unset_k, (self.store._h(), byref(self._k)), wait, "unset", _W)
        except NotFound:
            return False
        return True

    def add(self, delta: int, *, wait: Optional[bool] = None) -> int:
        """Add delta (created as 0 if absent); the new value (spl_int_try_k,
        then, on a busy slot when waiting, spl_int_wait_k; see Store.int_op)."""
        h = self.store._h()
        u = c_uint64()
        rc = _pl.spl_int_try_k(h, byref(self._k), 0, delta & _M64, byref(u))
        if rc == _EAGAIN and self.store._waiting(wait):
            rc = _cl.spl_int_wait_k(h, byref(self._k), 0, delta & _M64, byref(u),
                                    _us(self.store.timeout))
        Store._ck(rc, "add", self._kb)
        v = u.value
        return v - _B64 if v >> 63 else v


FRAG_STATES = ["free", "registered", "starting", "running", "stopping", "failed", "dead"]


@dataclass(frozen=True)
class FragInfo:
    """A fragment's registry entry (spl_frag_info)."""
    name: str
    version: str
    summary: str
    errmsg: str
    path: str
    args: List[str]
    abi: int
    state: str
    err: int
    host_pid: int
    index: int
    host_id: int
    registered_ns: int
    started_ns: int
    heartbeat_age_ns: int
    events: int
    errors: int
    resyncs: int
    restarts: int
    lag: int
    groups: int
    labels: int
    events_per_s: float

    @classmethod
    def _of(cls, f: _lib.spl_frag_info) -> "FragInfo":
        d = lambda b: b.decode("utf-8", "replace")  # noqa: E731
        args = [d(a) for a in bytes(f.args).split(b"\0")[:f.argc]]
        return cls(d(f.name), d(f.version), d(f.summary), d(f.errmsg), d(f.path), args, f.abi,
                   frag_state_name(f.state), f.err, f.host_pid, f.index, f.host_id,
                   f.registered_ns, f.started_ns, f.heartbeat_age_ns, f.events, f.errors,
                   f.resyncs, f.restarts, f.lag, f.groups, f.labels, f.events_per_s)


def _frag_error(rc: int, op: str, detail: Optional[str] = None) -> SplinterError:
    msg = detail or frag_errmsg()
    return error_for(rc, f"{op}: {msg}" if msg else op)


def frag_state_name(state: int) -> str:
    """ "running", "failed", ... (spl_frag_state_name)."""
    return _pl.spl_frag_state_name(state).decode()


def frag_errmsg() -> str:
    """Detail of this thread's last failed fragment call (spl_frag_errmsg)."""
    return _pl.spl_frag_errmsg().decode("utf-8", "replace")


def frag_find(name: str, dir: Optional[str] = None) -> str:  # noqa: A002
    """The absolute path of a fragment library by name (spl_frag_find):
    $SPLINTER_FRAG_PATH, then dir, then the install directory."""
    buf = ctypes.create_string_buffer(4096)
    rc = _pl.spl_frag_find(name.encode(), None if dir is None else dir.encode(), buf, 4096)
    if rc < 0:
        raise error_for(rc, f"frag_find {name!r}")
    return buf.value.decode()


def _drain_fd(fd: int) -> None:
    try:
        os.read(fd, 8)
    except BlockingIOError:
        pass


async def _readable(fd: int, timeout: Optional[float]) -> bool:
    """Wait until fd is readable (True) or the timeout passes (False)."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(True)

    loop.add_reader(fd, ready)
    try:
        if timeout is None:
            return await fut
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            return False
    finally:
        loop.remove_reader(fd)


class Subscription:
    """Follows a set of signal groups (spl_sub_*).

    - ``wait(timeout)``: block (GIL released) until a group pulses; the
      groups that moved, 0 on timeout.
    - ``next_event()``: the next change from the feed, or None.
    - ``for ev in sub``: events as they come (blocking; no polling).
    - ``fileno()``: a descriptor that becomes readable when a group pulses
      (for selectors / asyncio ``add_reader`` / epoll); drain it with
      :meth:`ack` and then read events.  ``async for ev in sub`` uses it.

    One thread at a time; closed by ``close()``, the ``with`` block or when
    its store closes.
    """

    def __init__(self, store: Store, groups: int) -> None:
        self._store = store
        self._u: Optional[int] = None
        u = c_void_p()
        store._ck(_cl.spl_sub_open(store._h(), groups, byref(u)), "sub_open")
        self._u = u.value
        self.groups = groups
        self._ev = _lib.spl_event()
        self._kbuf = ctypes.create_string_buffer(store.key_max + 1)
        with store._lock:
            store._subs.add(self._u)

    def _hu(self) -> int:
        u = self._u
        if u is None or self._store._s is None:
            raise ValueError("subscription is closed")
        return u

    def close(self) -> None:
        u, self._u = self._u, None
        if u is None:
            return
        st = self._store
        with st._lock:
            if u not in st._subs:
                return  # closed with its store
            st._subs.discard(u)
        _cl.spl_sub_close(u)

    @property
    def closed(self) -> bool:
        return self._u is None or self._store._s is None

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def wait(self, timeout: Optional[float] = None) -> int:
        fired = c_uint64()
        rc = _cl.spl_sub_wait(self._hu(), _ns(timeout), byref(fired))
        if rc == _ETIMEDOUT:
            return 0
        Store._ck(rc, "sub_wait")
        return fired.value

    def seen(self, group: int) -> int:
        n = c_uint64()
        Store._ck(_pl.spl_sub_seen(self._hu(), group, byref(n)), "sub_seen")
        return n.value

    def next_event(self) -> Optional[Event]:
        """The next change, or None if nothing new.  Raises FeedOverflow when
        events were lost (rescan with Store.entries)."""
        ev = self._ev
        rc = _pl.spl_sub_next(self._hu(), byref(ev), self._kbuf, len(self._kbuf))
        if rc == _ENOENT:
            return None
        Store._ck(rc, "sub_next")
        kind = EventKind(ev.kind)
        key = None
        if kind not in (EventKind.SIGNAL, EventKind.UNKNOWN):
            key = _skey(self._kbuf.raw[:ev.key_len])
        slot = None if ev.slot == 0xFFFFFFFF else ev.slot
        return Event(kind, key, ev.epoch, ev.groups, ev.seq, slot)

    def _next_or_overflow(self) -> Optional[Event]:
        try:
            return self.next_event()
        except FeedOverflow:
            return Event(EventKind.OVERFLOW, None, 0, self.groups, 0, None)

    def fileno(self) -> int:
        """The pollable descriptor (an eventfd owned by the subscription)."""
        return Store._ck(_pl.spl_sub_fd(self._hu()), "sub_fd")

    def ack(self) -> None:
        """Re-arm the descriptor after it polled readable."""
        _drain_fd(self.fileno())

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Events as they come; ends after ``timeout`` idle seconds (None: never)."""
        while not self.closed:
            ev = self._next_or_overflow()
            if ev is not None:
                yield ev
                continue
            if self.wait(timeout) == 0:
                # A timed-out wait: anything published meanwhile is read first.
                ev = self._next_or_overflow()
                if ev is None:
                    return
                yield ev

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    async def aevents(self, timeout: Optional[float] = None) -> AsyncIterator[Event]:
        """``async for`` over events, through the pollable descriptor."""
        fd = self.fileno()
        while not self.closed:
            ev = self._next_or_overflow()
            if ev is not None:
                yield ev
                continue
            if not await _readable(fd, timeout):
                ev = self._next_or_overflow()
                if ev is None:
                    return
                yield ev
                continue
            _drain_fd(fd)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.aevents()


class Watch:
    """The iterator :meth:`Store.watch` returns: events of the watched keys."""

    def __init__(self, sub: Subscription, keys: Optional[set], timeout: Optional[float]) -> None:
        self.subscription = sub
        self._keys = keys
        self._timeout = timeout

    def _want(self, ev: Event) -> bool:
        return (self._keys is None or ev.key is None or ev.key in self._keys)

    def __iter__(self) -> Iterator[Event]:
        for ev in self.subscription.events(self._timeout):
            if self._want(ev):
                yield ev

    async def __aiter__(self) -> AsyncIterator[Event]:
        async for ev in self.subscription.aevents(self._timeout):
            if self._want(ev):
                yield ev

    def fileno(self) -> int:
        return self.subscription.fileno()

    def close(self) -> None:
        self.subscription.close()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------- module level
def options(*, backing: Union[Backing, str] = Backing.AUTO, slots: int = 0, key_max: int = 0,
            val_max: int = 0, vec_dim: Optional[int] = None,
            vec_format: Union[VecFormat, str] = VecFormat.F32, feed_len: int = 0, mode: int = 0,
            readonly: bool = False, group: bool = False, nowait: bool = False,
            tandem_sep: str = "", numa_mode: Union[NumaMode, int, str] = NumaMode.DEFAULT,
            numa_nodes: Union[int, Iterable[int]] = 0, huge_pages: Union[bool, int] = False,
            vec_cells: int = 0) -> _lib.spl_options:
    """An spl_options from keyword arguments (spl_options_init's defaults).

    Placement applies when a store is created (an open ignores it; see
    docs/PLACEMENT.md): ``numa_mode`` a :class:`NumaMode` (or its name,
    ``"bind"``), ``numa_nodes`` the node numbers it uses (``{0, 1}``; an int
    is taken as a mask, bit n = node n); ``huge_pages`` True for the
    system's default huge page size, or a size in bytes (``2 << 20``), with
    no fallback: NoHugePages when none are free.  ``vec_cells``: vector
    cells, 1..slots (0: one per slot); a vector set on a key without one
    once all are taken is NoCell.  open_or_create of an existing store: 0
    accepts any count, another count than the store's is GeometryMismatch
    (a plain open ignores it)."""
    o = _lib.spl_options()
    _pl.spl_options_init(byref(o))
    o.backing = Backing[backing.upper()] if isinstance(backing, str) else int(backing)
    o.flags = (O_RDONLY if readonly else 0) | (O_GROUP if group else 0) | \
        (O_NOWAIT if nowait else 0)
    o.mode = mode
    if slots:
        o.geom.slots = slots
    if key_max:
        o.geom.key_max = key_max
    if val_max:
        o.geom.val_max = val_max
    if vec_dim is not None:
        o.geom.vec_dim = vec_dim
    o.feed_len = feed_len
    o.vec_format = VecFormat[vec_format.upper()] if isinstance(vec_format, str) else int(vec_format)
    o.tandem_sep = ord(tandem_sep) if tandem_sep else 0
    o.numa_mode = NumaMode[numa_mode.upper()] if isinstance(numa_mode, str) else int(numa_mode)
    o.numa_nodes = _node_mask(numa_nodes)
    o.huge_pages = int(huge_pages)  # True: SPL_HUGE_DEFAULT (1)
    o.vec_cells = vec_cells
    return o


def open(name: str, **kw: Any) -> Store:  # noqa: A001 - mirrors the builtin on purpose
    """Open an existing store (see :class:`Store` for the keywords)."""
    return Store(name, **kw)


def create(name: Optional[str] = None, **kw: Any) -> Store:
    return Store(name, create=True, **kw)


def open_or_create(name: str, **kw: Any) -> Store:
    return Store(name, open_or_create=True, **kw)


def destroy(name: str, *, backing: Union[Backing, str] = Backing.AUTO,
            missing_ok: bool = False) -> None:
    """Unlink a named store (mapped handles stay valid)."""
    o = options(backing=backing)
    rc = _cl.spl_destroy(os.fsencode(name), byref(o))
    if rc == _ENOENT and missing_ok:
        return
    Store._ck(rc, f"destroy {name!r}")


def send_fd(sock: Any, fd: int) -> None:
    """Pass a store descriptor over a connected AF_UNIX socket."""
    s = sock if isinstance(sock, int) else sock.fileno()
    Store._ck(_cl.spl_fd_send(s, fd), "fd_send")


def recv_fd(sock: Any) -> int:
    """Receive a store descriptor; the caller owns it (Store.from_fd dups it)."""
    s = sock if isinstance(sock, int) else sock.fileno()
    out = c_int()
    Store._ck(_cl.spl_fd_recv(s, byref(out)), "fd_recv")
    return out.value


def type_name(t: int) -> str:
    return _pl.spl_type_name(t).decode()


def vec_simd() -> str:
    """The SIMD path vector search uses ("avx2", ...)."""
    return _pl.spl_vec_simd().decode()


def vec_simd_force(name: str) -> None:
    Store._ck(_pl.spl_vec_simd_force(name.encode()), "vec_simd_force")


def strerror(code: int) -> str:
    return _pl.spl_strerror(code).decode()


def err_name(code: int) -> str:
    return _pl.spl_err_name(code).decode()
