"""Typed exceptions, one class per SPL_E* code.

Every exception raised for a library code is a :class:`SplinterError` with
``code`` (the negative number) and ``name`` (``"SPL_EAGAIN"``).  Each class
also derives from the built-in exception a Python programmer would catch:
``NotFound`` is a ``KeyError``, ``WouldBlock`` a ``BlockingIOError``,
``Timeout`` a ``TimeoutError``, argument errors are ``ValueError``s, and so
on.  OS failures the library passes through as ``-errno`` raise
:class:`SplinterError` itself (or ``PermissionError``/``MemoryError`` mixes
for the codes shared with the library's table), named after ``errno``.
"""
from __future__ import annotations

import errno as _errno
from typing import Dict, Optional, Tuple, Type

from . import _lib


class SplinterError(Exception):
    """A libsplinter error: ``code`` < 0, ``name`` like ``"SPL_EAGAIN"``."""

    code: int = 0
    name: str = "SPL_E?"

    def __init__(self, code: int, op: Optional[str] = None) -> None:
        self.code = code
        self.name = _name(code)
        self.op = op
        text = _lib.pl.spl_strerror(code).decode()
        self.text = text
        msg = f"{self.name}: {text}" if op is None else f"{op}: {self.name}: {text}"
        Exception.__init__(self, msg)

    def __str__(self) -> str:  # KeyError quotes its argument; keep one form for all
        return self.args[0] if self.args else self.name

    def __reduce__(self):
        return (error_for, (self.code, self.op))


def _name(code: int) -> str:
    n = _lib.pl.spl_err_name(code).decode()
    if n == "SPL_E?" and -code in _errno.errorcode:
        return _errno.errorcode[-code]
    return n


# (SPL name, value, class name, built-in mixin).  tests/test_errors.py checks
# this against SPL_ERRNO_MAP in include/splinter.h, so it cannot drift.
_TABLE: Tuple[Tuple[str, int, str, Type[BaseException]], ...] = (
    ("SPL_EAGAIN", -11, "WouldBlock", BlockingIOError),
    ("SPL_ENOENT", -2, "NotFound", KeyError),
    ("SPL_EEXIST", -17, "Exists", FileExistsError),
    ("SPL_EINVAL", -22, "InvalidArgument", ValueError),
    ("SPL_ENOMEM", -12, "OutOfMemory", MemoryError),
    ("SPL_EACCES", -13, "AccessDenied", PermissionError),
    ("SPL_EROFS", -30, "ReadOnly", PermissionError),
    ("SPL_E2BIG", -7, "ValueTooBig", ValueError),
    ("SPL_ENOBUFS", -105, "BufferTooSmall", BufferError),
    ("SPL_ETIMEDOUT", -110, "Timeout", TimeoutError),
    ("SPL_EOVERFLOW", -75, "FeedOverflow", OverflowError),
    ("SPL_EKEYLEN", -1000, "KeyLength", ValueError),
    ("SPL_EFULL", -1001, "StoreFull", MemoryError),
    ("SPL_EMAGIC", -1002, "BadMagic", ValueError),
    ("SPL_EVERSION", -1003, "BadVersion", ValueError),
    ("SPL_ELAYOUT", -1004, "BadLayout", ValueError),
    ("SPL_ESIZE", -1005, "BadSize", ValueError),
    ("SPL_EGEOMETRY", -1006, "GeometryMismatch", ValueError),
    ("SPL_EINIT", -1007, "NotInitialised", ValueError),
    ("SPL_ECORRUPT", -1008, "Corrupt", ValueError),
    ("SPL_ETYPE", -1009, "WrongType", TypeError),
    ("SPL_ESTALE", -1010, "Stale", Exception),
    ("SPL_EOWNER", -1011, "BadOwner", PermissionError),
    ("SPL_EMODE", -1012, "BadMode", PermissionError),
    ("SPL_ENOTREG", -1013, "NotRegular", ValueError),
    ("SPL_ENAME", -1014, "BadName", ValueError),
    ("SPL_EFORMAT", -1015, "BadFormat", ValueError),
    ("SPL_ENAN", -1016, "NotFinite", ValueError),
    ("SPL_EDIM", -1017, "DimensionMismatch", ValueError),
    ("SPL_ENOVEC", -1018, "NoVector", KeyError),
    ("SPL_ERANGE", -1019, "OutOfRange", ValueError),
    ("SPL_ENOTSUP", -95, "NotSupported", NotImplementedError),
    ("SPL_ENODE", -1020, "NoSuchNode", ValueError),
    ("SPL_ENOHUGE", -1021, "NoHugePages", OSError),
    ("SPL_EUNSEALED", -1022, "NotSealed", OSError),
    ("SPL_ENOCELL", -1023, "NoCell", MemoryError),
    ("SPL_EABI", -1100, "FragmentABI", OSError),
    ("SPL_ENOSYM", -1101, "FragmentNoEntry", OSError),
    ("SPL_ELOAD", -1102, "FragmentLoad", OSError),
    ("SPL_ENOHOST", -1103, "FragmentNoHost", OSError),
)

_BY_CODE: Dict[int, Type[SplinterError]] = {}
_BY_NAME: Dict[str, Type[SplinterError]] = {}


def _make(spl_name: str, cls_name: str, mixin: Type[BaseException]) -> Type[SplinterError]:
    bases: Tuple[type, ...] = (SplinterError,) if mixin is Exception else (SplinterError, mixin)
    cls = type(cls_name, bases, {"__doc__": f"{spl_name}.", "__module__": __name__})
    return cls  # type: ignore[return-value]


for _spl, _val, _cls, _mix in _TABLE:
    _c = _make(_spl, _cls, _mix)
    globals()[_cls] = _c
    _BY_CODE[_val] = _c
    _BY_NAME[_spl] = _c


def error_for(code: int, op: Optional[str] = None) -> SplinterError:
    """The exception object for a negative code (a class of the table, or
    :class:`SplinterError` for another ``-errno``)."""
    cls = _BY_CODE.get(code, SplinterError)
    return cls(code, op)


def error_class(name: str) -> Type[SplinterError]:
    """The class for a name like ``"SPL_EAGAIN"``."""
    return _BY_NAME[name]


# Explicit names for type checkers and readers (the loop above made them).
WouldBlock: Type[SplinterError] = _BY_NAME["SPL_EAGAIN"]
NotFound: Type[SplinterError] = _BY_NAME["SPL_ENOENT"]
Exists: Type[SplinterError] = _BY_NAME["SPL_EEXIST"]
InvalidArgument: Type[SplinterError] = _BY_NAME["SPL_EINVAL"]
OutOfMemory: Type[SplinterError] = _BY_NAME["SPL_ENOMEM"]
AccessDenied: Type[SplinterError] = _BY_NAME["SPL_EACCES"]
ReadOnly: Type[SplinterError] = _BY_NAME["SPL_EROFS"]
ValueTooBig: Type[SplinterError] = _BY_NAME["SPL_E2BIG"]
BufferTooSmall: Type[SplinterError] = _BY_NAME["SPL_ENOBUFS"]
Timeout: Type[SplinterError] = _BY_NAME["SPL_ETIMEDOUT"]
FeedOverflow: Type[SplinterError] = _BY_NAME["SPL_EOVERFLOW"]
KeyLength: Type[SplinterError] = _BY_NAME["SPL_EKEYLEN"]
StoreFull: Type[SplinterError] = _BY_NAME["SPL_EFULL"]
BadMagic: Type[SplinterError] = _BY_NAME["SPL_EMAGIC"]
BadVersion: Type[SplinterError] = _BY_NAME["SPL_EVERSION"]
BadLayout: Type[SplinterError] = _BY_NAME["SPL_ELAYOUT"]
BadSize: Type[SplinterError] = _BY_NAME["SPL_ESIZE"]
GeometryMismatch: Type[SplinterError] = _BY_NAME["SPL_EGEOMETRY"]
NotInitialised: Type[SplinterError] = _BY_NAME["SPL_EINIT"]
Corrupt: Type[SplinterError] = _BY_NAME["SPL_ECORRUPT"]
WrongType: Type[SplinterError] = _BY_NAME["SPL_ETYPE"]
Stale: Type[SplinterError] = _BY_NAME["SPL_ESTALE"]
BadOwner: Type[SplinterError] = _BY_NAME["SPL_EOWNER"]
BadMode: Type[SplinterError] = _BY_NAME["SPL_EMODE"]
NotRegular: Type[SplinterError] = _BY_NAME["SPL_ENOTREG"]
BadName: Type[SplinterError] = _BY_NAME["SPL_ENAME"]
BadFormat: Type[SplinterError] = _BY_NAME["SPL_EFORMAT"]
NotFinite: Type[SplinterError] = _BY_NAME["SPL_ENAN"]
DimensionMismatch: Type[SplinterError] = _BY_NAME["SPL_EDIM"]
NoVector: Type[SplinterError] = _BY_NAME["SPL_ENOVEC"]
OutOfRange: Type[SplinterError] = _BY_NAME["SPL_ERANGE"]
NotSupported: Type[SplinterError] = _BY_NAME["SPL_ENOTSUP"]
NoSuchNode: Type[SplinterError] = _BY_NAME["SPL_ENODE"]
NoHugePages: Type[SplinterError] = _BY_NAME["SPL_ENOHUGE"]
NotSealed: Type[SplinterError] = _BY_NAME["SPL_EUNSEALED"]
NoCell: Type[SplinterError] = _BY_NAME["SPL_ENOCELL"]
FragmentABI: Type[SplinterError] = _BY_NAME["SPL_EABI"]
FragmentNoEntry: Type[SplinterError] = _BY_NAME["SPL_ENOSYM"]
FragmentLoad: Type[SplinterError] = _BY_NAME["SPL_ELOAD"]
FragmentNoHost: Type[SplinterError] = _BY_NAME["SPL_ENOHOST"]

__all__ = ["SplinterError", "error_for", "error_class"] + [c for _, _, c, _ in _TABLE]
