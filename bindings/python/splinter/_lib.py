"""Loading libsplinter and the ctypes mirror of include/splinter.h.

The library is looked up in this order:

1. ``$SPLINTER_LIB``: a path to ``libsplinter.so`` (or the folder holding it);
2. the repository's ``build/`` folder, when the package is imported from the
   source tree (``bindings/python/splinter`` -> ``../../../build``);
3. the system loader (``libsplinter.so.0``, as ``make install`` puts it).

Two handles to the same library are kept: ``pl`` (``ctypes.PyDLL``) calls
with the GIL held and is used only for calls that never block (a get or a
set: one seqlock section, no retry); ``cl`` (``ctypes.CDLL``) releases the
GIL and is used for everything that may wait (the ``*_wait`` calls,
``spl_retry_pause``, subscriptions, searches, iteration with callbacks,
create/open).
Every struct here is checked against the C header's offsets and sizes by
tests/test_layout.py.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from ctypes import (POINTER, Structure, c_char_p, c_double, c_float, c_int, c_int64,
                    c_size_t, c_uint, c_uint8, c_uint32, c_uint64, c_void_p)

__all__ = ["pl", "cl", "fast", "INT_SIZE_OK", "path", "spl_options", "spl_geometry", "spl_info", "spl_meta",
           "spl_view", "spl_entry", "spl_filter", "spl_event", "spl_vec_query",
           "spl_vec_hit", "spl_vec_result", "spl_key", "spl_frag_info", "spl_host_opts",
           "spl_retry",
           "ITER_FN", "STRUCTS"]


def _find() -> str:
    env = os.environ.get("SPLINTER_LIB")
    if env:
        if os.path.isdir(env):
            env = os.path.join(env, "libsplinter.so")
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    tree = os.path.normpath(os.path.join(here, "..", "..", "..", "build", "libsplinter.so"))
    if os.path.exists(tree):
        return tree
    for name in ("libsplinter.so.0", "libsplinter.so"):
        try:
            ctypes.CDLL(name)
            return name
        except OSError:
            pass
    found = ctypes.util.find_library("splinter")
    if found:
        return found
    raise ImportError("libsplinter.so not found: set SPLINTER_LIB, build the repository "
                      "(make) or install the library (make install)")


path = _find()
cl = ctypes.CDLL(path)
pl = ctypes.PyDLL(path)
# The hot path (Store.__getitem__ / __setitem__): functions with no argtypes,
# whose per-argument conversion costs more than the call itself (about 300 ns
# of a 600 ns get).  Callers pass exact ctypes objects: c_void_p for the
# handle, bytes for the key, a ctypes array and byref() for buffers, and
# c_size_t for sizes (or, where INT_SIZE_OK, a Python int below 2**31: libffi
# widens int arguments to the full register on these ABIs).
fast = ctypes.PyDLL(path)
INT_SIZE_OK = platform.machine() in ("x86_64", "AMD64", "aarch64", "arm64") and \
    ctypes.sizeof(ctypes.c_size_t) == 8


class spl_geometry(Structure):
    _fields_ = [("slots", c_uint32), ("key_max", c_uint32), ("val_max", c_uint32),
                ("vec_dim", c_uint32)]


class spl_options(Structure):
    _fields_ = [("version", c_uint32), ("backing", c_uint32), ("flags", c_uint32),
                ("mode", c_uint32), ("geom", spl_geometry), ("feed_len", c_uint32),
                ("vec_format", c_uint32), ("tandem_sep", c_uint32),
                ("numa_mode", c_uint32), ("huge_pages", c_uint32), ("numa_nodes", c_uint64),
                ("vec_cells", c_uint32)]


class spl_info(Structure):
    _fields_ = [("geom", spl_geometry), ("backing", c_uint32), ("probe_max", c_uint32),
                ("slot_stride", c_uint32), ("region_bytes", c_uint64), ("used", c_uint64),
                ("load", c_double), ("recoveries", c_uint64), ("changes", c_uint64),
                ("probe_longest", c_uint32), ("probe_mean", c_double), ("features", c_uint64),
                ("read_only", c_int), ("cell_stride", c_uint32), ("cells_high", c_uint32),
                ("capacity", c_uint64), ("free", c_uint64), ("index_words", c_uint32),
                ("undo_recs", c_uint32), ("page_bytes", c_uint64), ("numa_nodes", c_uint64),
                ("numa_mode", ctypes.c_int32), ("numa_sampled", c_uint32), ("numa_absent", c_uint32),
                ("numa_pages", c_uint32 * 64), ("store_id", c_uint64), ("cells", c_uint32),
                ("cells_used", c_uint32), ("resident_bytes", c_uint64)]


class spl_meta(Structure):
    _fields_ = [("epoch", c_uint64), ("labels", c_uint64), ("ctime_ns", c_uint64),
                ("mtime_ns", c_uint64), ("atime_ns", c_uint64), ("val_len", c_uint32),
                ("slot", c_uint32), ("type", c_uint8), ("user_flags", c_uint8),
                ("watch", c_uint64)]


class spl_view(Structure):
    _fields_ = [("data", c_void_p), ("len", c_size_t), ("epoch", c_uint64), ("slot", c_uint32),
                ("type", c_uint8)]


class spl_entry(Structure):
    _fields_ = [("key", c_void_p), ("key_len", c_size_t), ("val", c_void_p), ("meta", spl_meta)]


class spl_filter(Structure):
    _fields_ = [("prefix", c_char_p), ("glob", c_char_p), ("labels", c_uint64),
                ("flags", c_uint32)]


class spl_event(Structure):
    _fields_ = [("seq", c_uint64), ("epoch", c_uint64), ("groups", c_uint64), ("slot", c_uint32),
                ("kind", c_uint32), ("key_len", c_size_t)]


class spl_vec_query(Structure):
    _fields_ = [("vec", POINTER(c_float)), ("key", c_char_p), ("dim", c_uint32), ("k", c_uint32),
                ("metric", c_uint32), ("flags", c_uint32), ("labels", c_uint64),
                ("prefix", c_char_p), ("threads", c_uint32), ("ef", c_uint32)]


class spl_vec_hit(Structure):
    _fields_ = [("key", c_void_p), ("key_len", c_size_t), ("score", c_float), ("slot", c_uint32),
                ("epoch", c_uint64)]


class spl_vec_result(Structure):
    _fields_ = [("n", c_uint32), ("scanned", c_uint64), ("skipped", c_uint64),
                ("hits", POINTER(spl_vec_hit)), ("flags", c_uint32)]


class spl_key(Structure):
    _fields_ = [("key", c_char_p), ("len", c_uint32), ("home", c_uint32), ("fp", c_uint64),
                ("seed", c_uint64)]


class spl_frag_info(Structure):
    _fields_ = [("name", ctypes.c_char * 32), ("version", ctypes.c_char * 32),
                ("summary", ctypes.c_char * 96), ("errmsg", ctypes.c_char * 96),
                ("path", ctypes.c_char * 512), ("args", ctypes.c_char * 512),
                ("argc", c_uint32), ("abi", c_uint32), ("state", ctypes.c_int32),
                ("err", ctypes.c_int32), ("host_pid", ctypes.c_int32), ("index", c_uint32),
                ("host_id", c_uint64), ("registered_ns", c_uint64), ("started_ns", c_uint64),
                ("heartbeat_age_ns", c_uint64), ("events", c_uint64), ("errors", c_uint64),
                ("resyncs", c_uint64), ("restarts", c_uint64), ("lag", c_uint64),
                ("groups", c_uint64), ("labels", c_uint64), ("events_per_s", c_double)]


class spl_host_opts(Structure):
    # mirrored for the layout check only: spl_host_* are not bound (see COVERS)
    _fields_ = [("version", c_uint32), ("flags", c_uint32), ("only", c_char_p), ("log_fd", c_int)]


class spl_retry(Structure):
    # the state of one retry loop (spl_retry_init, spl_retry_pause); never read
    _fields_ = [("opaque", c_uint64 * 6)]


STRUCTS = {"spl_geometry": spl_geometry, "spl_options": spl_options, "spl_info": spl_info,
           "spl_meta": spl_meta, "spl_view": spl_view, "spl_entry": spl_entry,
           "spl_filter": spl_filter, "spl_event": spl_event, "spl_vec_query": spl_vec_query,
           "spl_vec_hit": spl_vec_hit, "spl_vec_result": spl_vec_result,
           "spl_key": spl_key, "spl_frag_info": spl_frag_info, "spl_host_opts": spl_host_opts,
           "spl_retry": spl_retry}

ITER_FN = ctypes.CFUNCTYPE(c_int, POINTER(spl_entry), c_void_p)

_S = c_void_p          # spl_store *
_U = c_void_p          # spl_sub *
_P = c_void_p          # any buffer
_PSZ = POINTER(c_size_t)
_PU64 = POINTER(c_uint64)
_PI64 = POINTER(c_int64)
_PF = POINTER(c_float)

# name: (restype, argtypes)
_PROTOS = {
    "spl_strerror": (c_char_p, [c_int]),
    "spl_err_name": (c_char_p, [c_int]),
    "spl_options_init": (None, [POINTER(spl_options)]),
    "spl_create": (c_int, [POINTER(_S), c_char_p, POINTER(spl_options)]),
    "spl_open": (c_int, [POINTER(_S), c_char_p, POINTER(spl_options)]),
    "spl_open_or_create": (c_int, [POINTER(_S), c_char_p, POINTER(spl_options)]),
    "spl_open_fd": (c_int, [POINTER(_S), c_int, c_uint32]),
    "spl_close": (None, [_S]),
    "spl_destroy": (c_int, [c_char_p, POINTER(spl_options)]),
    "spl_flush": (c_int, [_S]),
    "spl_fd": (c_int, [_S]),
    "spl_fd_send": (c_int, [c_int, c_int]),
    "spl_fd_recv": (c_int, [c_int, POINTER(c_int)]),
    "spl_info_get_n": (c_int, [_S, POINTER(spl_info), c_size_t]),
    "spl_type_name": (c_char_p, [c_uint]),
    "spl_type_parse": (c_int, [c_char_p]),
    "spl_set": (c_int, [_S, c_char_p, _P, c_size_t]),
    "spl_get": (c_int, [_S, c_char_p, _P, c_size_t, _PSZ]),
    "spl_unset": (c_int, [_S, c_char_p]),
    "spl_exists": (c_int, [_S, c_char_p]),
    "spl_append": (c_int, [_S, c_char_p, _P, c_size_t]),
    "spl_cas": (c_int, [_S, c_char_p, c_uint64, _P, c_size_t]),
    "spl_set_wait": (c_int, [_S, c_char_p, _P, c_size_t, c_uint32]),
    "spl_get_wait": (c_int, [_S, c_char_p, _P, c_size_t, _PSZ, c_uint32]),
    "spl_unset_wait": (c_int, [_S, c_char_p, c_uint32]),
    "spl_retry_init": (None, [POINTER(spl_retry), c_uint32]),
    "spl_retry_pause": (c_int, [_S, c_char_p, c_int, POINTER(spl_retry)]),
    "spl_meta_get": (c_int, [_S, c_char_p, POINTER(spl_meta)]),
    "spl_type_set": (c_int, [_S, c_char_p, c_uint]),
    "spl_flags_set": (c_int, [_S, c_char_p, c_uint8]),
    "spl_labels_set": (c_int, [_S, c_char_p, c_uint64]),
    "spl_labels_clear": (c_int, [_S, c_char_p, c_uint64]),
    "spl_touch": (c_int, [_S, c_char_p]),
    "spl_view_get": (c_int, [_S, c_char_p, POINTER(spl_view)]),
    "spl_view_valid": (c_int, [_S, POINTER(spl_view)]),
    "spl_add": (c_int, [_S, c_char_p, c_int64, _PI64]),
    "spl_int_try": (c_int, [_S, c_char_p, c_uint, c_uint64, _PU64]),
    "spl_int_wait": (c_int, [_S, c_char_p, c_uint, c_uint64, _PU64, c_uint32]),
    "spl_inc": (c_int, [_S, c_char_p, _PI64]),
    "spl_dec": (c_int, [_S, c_char_p, _PI64]),
    "spl_foreach": (c_int, [_S, POINTER(spl_filter), ITER_FN, c_void_p]),
    "spl_watch": (c_int, [_S, c_char_p, c_uint64]),
    "spl_unwatch": (c_int, [_S, c_char_p, c_uint64]),
    "spl_bind": (c_int, [_S, c_uint, c_uint64]),
    "spl_unbind": (c_int, [_S, c_uint, c_uint64]),
    "spl_bind_get": (c_int, [_S, c_uint, _PU64]),
    "spl_bump": (c_int, [_S, c_char_p]),
    "spl_signal": (c_int, [_S, c_uint64]),
    "spl_pulses": (c_int, [_S, c_uint, _PU64]),
    "spl_key_wait": (c_int, [_S, c_char_p, c_uint64, c_int64, _PU64]),
    "spl_sub_open": (c_int, [_S, c_uint64, POINTER(_U)]),
    "spl_sub_close": (None, [_U]),
    "spl_sub_wait": (c_int, [_U, c_int64, _PU64]),
    "spl_sub_seen": (c_int, [_U, c_uint, _PU64]),
    "spl_sub_next": (c_int, [_U, POINTER(spl_event), _P, c_size_t]),
    "spl_sub_fd": (c_int, [_U]),
    "spl_signal_repair": (c_int, [_S]),
    "spl_vec_set": (c_int, [_S, c_char_p, _PF, c_uint32]),
    "spl_vec_set_if": (c_int, [_S, c_char_p, c_uint64, _PF, c_uint32]),
    "spl_vec_get": (c_int, [_S, c_char_p, _PF, c_uint32, _PU64]),
    "spl_vec_clear": (c_int, [_S, c_char_p]),
    "spl_vec_search": (c_int, [_S, POINTER(spl_vec_query), POINTER(POINTER(spl_vec_result))]),
    "spl_vec_result_free": (None, [POINTER(spl_vec_result)]),
    "spl_vec_simd": (c_char_p, []),
    "spl_vec_simd_force": (c_int, [c_char_p]),
    "spl_tandem_key": (c_int, [_S, c_char_p, c_uint32, _P, c_size_t]),
    "spl_tandem_set": (c_int, [_S, c_char_p, POINTER(c_void_p), POINTER(c_size_t), c_uint32,
                               c_uint32]),
    "spl_tandem_get": (c_int, [_S, c_char_p, c_uint32, _P, c_size_t, _PSZ]),
    "spl_tandem_count": (c_int, [_S, c_char_p]),
    "spl_tandem_unset": (c_int, [_S, c_char_p, c_uint32]),
    "spl_tandem_vec_set": (c_int, [_S, c_char_p, _PF, c_uint32, c_uint32, c_uint32]),
    "spl_tandem_vec_get": (c_int, [_S, c_char_p, c_uint32, _PF, c_uint32]),
    "spl_key_prep": (c_int, [_S, c_char_p, POINTER(spl_key)]),
    "spl_get_k": (c_int, [_S, POINTER(spl_key), _P, c_size_t, _PSZ]),
    "spl_set_k": (c_int, [_S, POINTER(spl_key), _P, c_size_t]),
    "spl_unset_k": (c_int, [_S, POINTER(spl_key)]),
    "spl_int_try_k": (c_int, [_S, POINTER(spl_key), c_uint, c_uint64, _PU64]),
    "spl_int_wait_k": (c_int, [_S, POINTER(spl_key), c_uint, c_uint64, _PU64, c_uint32]),
    "spl_get_many": (c_int, [_S, POINTER(spl_key), c_size_t, _P, c_size_t, _PSZ, POINTER(c_int)]),
    "spl_set_many": (c_int, [_S, POINTER(spl_key), c_size_t, _P, c_size_t, _PSZ, POINTER(c_int)]),
    "spl_frag_state_name": (c_char_p, [c_int]),
    "spl_frag_find": (c_int, [c_char_p, c_char_p, _P, c_size_t]),
    "spl_frag_errmsg": (c_char_p, []),
    "spl_frag_register": (c_int, [_S, c_char_p, c_char_p, c_int, POINTER(c_char_p), c_uint32, _P,
                                  c_size_t]),
    "spl_frag_unregister": (c_int, [_S, c_char_p, c_int64]),
    "spl_frag_list": (c_int, [_S, POINTER(spl_frag_info), c_uint32]),
    "spl_frag_get": (c_int, [_S, c_char_p, POINTER(spl_frag_info)]),
    "spl_frag_wait": (c_int, [_S, c_char_p, c_uint32, c_int64, POINTER(spl_frag_info)]),
    "spl_frag_call": (c_int, [_S, c_char_p, c_int, POINTER(c_char_p), _P, c_size_t, _PSZ,
                              c_int64]),
}

for _name, (_res, _args) in _PROTOS.items():
    for _lib in (cl, pl):
        _f = getattr(_lib, _name)
        _f.restype = _res
        _f.argtypes = _args
