"""splinter: Python binding of libsplinter, lock-free zero-copy key-value and
vector storage in shared memory.

    import splinter
    with splinter.Store.create("demo", slots=1024, vec_dim=0) as st:
        st["greeting"] = b"hello"
        print(st["greeting"])

See README.md beside this package for the whole tour.
"""
from . import errors
from ._lib import path as library_path
from .errors import *  # noqa: F401,F403 - the exception classes
from .errors import SplinterError, error_class, error_for
from .store import (F_LABELS_ANY, F_VALUES, GROUPS, O_GROUP, O_NOWAIT, O_RDONLY, VQ_ANN,
                    VQ_SKIP_SELF, VR_ANN,
                    Backing, Entry, Event, EventKind, FragInfo, Hit, Hits, PreparedKey, KeyBatch,
                    FRAG_STATES, frag_errmsg, frag_find, frag_state_name, Info, IntOp, Meta, Metric,
                    NumaMode,
                    Store, Subscription, Type, VecFormat, View, Watch, create, destroy,
                    err_name, open, open_or_create, options, recv_fd, send_fd, strerror,
                    type_name, vec_simd, vec_simd_force)

__version__ = "0.1.0"

__all__ = ["Store", "View", "Subscription", "Watch", "Meta", "Info", "Entry", "Hit", "Hits",
           "Event", "EventKind", "Type", "IntOp", "Metric", "Backing", "VecFormat", "NumaMode",
           "open", "create", "open_or_create", "destroy", "options", "send_fd", "recv_fd",
           "type_name", "vec_simd", "vec_simd_force", "strerror", "err_name", "errors",
           "SplinterError", "error_for", "error_class", "library_path", "version",
           "F_VALUES", "F_LABELS_ANY", "VQ_SKIP_SELF", "VQ_ANN", "VR_ANN", "O_RDONLY", "O_GROUP",
           "O_NOWAIT", "GROUPS", "PreparedKey", "KeyBatch", "FragInfo", "FRAG_STATES",
           "frag_errmsg", "frag_find", "frag_state_name"] + list(errors.__all__)


def version() -> str:
    """The library version this binding follows (SPL_VERSION_*)."""
    return __version__
