package splinter

// The hot single-key calls (Get, GetInto, Set, Unset, Exists, Append, CAS,
// the integer ops, Meta, SetType, SetFlags, SetLabels, ClearLabels, Touch,
// View and View.Valid, and a Key's Get, Set, Unset and Add) run their C function
// directly on the thread's system stack where the toolchain allows it
// (direct_asm.go), skipping cgo's hand-over to the scheduler: that takes about half of a cached
// get's time through the binding (bench/bindings/README.md, "Go's direct
// calls").  Only calls that never sleep go this way.  A call that meets a
// writer inside its slot (SPL_EAGAIN) while retries are on is made again
// through an ordinary cgo call, which waits (gospl.h: a *_wait call or
// GOSPL_RETRY's spl_retry_pause, asleep on the slot).

/*
#include "gospl.h"
*/
import "C"

import (
	"reflect"
	"runtime"
	"unsafe"
)

var (
	dGet    = unsafe.Pointer(C.gospl_dget)
	dSet    = unsafe.Pointer(C.gospl_dset)
	dUnset  = unsafe.Pointer(C.gospl_dunset)
	dExists = unsafe.Pointer(C.gospl_dexists)
	dAppend = unsafe.Pointer(C.gospl_dappend)
	dCAS    = unsafe.Pointer(C.gospl_dcas)
	dGetK   = unsafe.Pointer(C.gospl_dget_k)
	dSetK   = unsafe.Pointer(C.gospl_dset_k)
	dUnsetK = unsafe.Pointer(C.gospl_dunset_k)
	dInt    = unsafe.Pointer(C.gospl_dint)
	dIntK   = unsafe.Pointer(C.gospl_dint_k)
	dMeta   = unsafe.Pointer(C.gospl_dmeta)
	dKeyop  = unsafe.Pointer(C.gospl_dkeyop)
	dView   = unsafe.Pointer(C.gospl_dview)
	dValid  = unsafe.Pointer(C.gospl_dview_valid)
)

// DirectCalls reports whether this build runs the hot calls directly on
// the system stack (true with Go 1.19 to 1.22 on linux/amd64, unless built
// with the tag splinter_cgo) or through ordinary cgo calls.  Both give the
// same results.
func DirectCalls() bool { return directCalls }

// dargs for key (a Go string, or, with k set, a prepared key), buf and arg.
func dargs(h C.uintptr_t, key string, k *C.spl_key, buf []byte, arg uint64) C.gospl_dargs {
	a := C.gospl_dargs{s: h, buf: C.uintptr_t(uintptr(bytesPtr(buf))), cap: C.uintptr_t(len(buf)),
		arg: C.uint64_t(arg)}
	if k != nil {
		a.key = C.uintptr_t(uintptr(unsafe.Pointer(k)))
	} else {
		a.key = C.uintptr_t((*reflect.StringHeader)(unsafe.Pointer(&key)).Data)
		a.klen = C.uintptr_t(len(key))
	}
	return a
}

// dcall runs fn on key (or k), buf and arg; returns the library's result
// and, for a get, the value's length.
func (s *Store) dcall(fn unsafe.Pointer, key string, k *C.spl_key, buf []byte, arg uint64) (C.int, int) {
	a := dargs(s.h, key, k, buf, arg)
	direct(fn, unsafe.Pointer(&a))
	runtime.KeepAlive(key)
	runtime.KeepAlive(buf)
	return C.int(a.rc), int(a.n)
}

// get of key (or k) into buf: directly, then, if the slot was busy and
// retries are on, through the cgo call that waits.
func (s *Store) get(key string, k *C.spl_key, buf []byte) (C.int, int) {
	fn := dGet
	if k != nil {
		fn = dGetK
	}
	rc, n := s.dcall(fn, key, k, buf, 0)
	if rc == C.SPL_EAGAIN {
		if r := s.retry(); r != 0 {
			var res C.gospl_res
			if k != nil {
				res = C.gospl_get_k(s.h, k, bytesPtr(buf), C.size_t(len(buf)), r)
			} else {
				res = C.gospl_get_r(s.h, key, bytesPtr(buf), C.size_t(len(buf)), r)
			}
			return res.rc, int(res.n)
		}
	}
	return rc, n
}

// set, unset and exists the same way.
func (s *Store) set(key string, k *C.spl_key, val []byte) C.int {
	fn := dSet
	if k != nil {
		fn = dSetK
	}
	rc, _ := s.dcall(fn, key, k, val, 0)
	if rc == C.SPL_EAGAIN {
		if r := s.retry(); r != 0 {
			if k != nil {
				return C.gospl_set_k(s.h, k, bytesPtr(val), C.size_t(len(val)), r)
			}
			return C.gospl_set_h(s.h, key, bytesPtr(val), C.size_t(len(val)), r)
		}
	}
	return rc
}

func (s *Store) unset(key string, k *C.spl_key) C.int {
	fn := dUnset
	if k != nil {
		fn = dUnsetK
	}
	rc, _ := s.dcall(fn, key, k, nil, 0)
	if rc == C.SPL_EAGAIN {
		if r := s.retry(); r != 0 {
			if k != nil {
				return C.gospl_unset_k(s.h, k, r)
			}
			return C.gospl_unset_h(s.h, key, r)
		}
	}
	return rc
}

func (s *Store) exists(key string) C.int {
	rc, _ := s.dcall(dExists, key, nil, nil, 0)
	if rc == C.SPL_EAGAIN {
		if r := s.retry(); r != 0 {
			return C.gospl_exists_h(s.h, key, r)
		}
	}
	return rc
}

func (s *Store) append(key string, data []byte) C.int {
	rc, _ := s.dcall(dAppend, key, nil, data, 0)
	if rc == C.SPL_EAGAIN {
		if r := s.retry(); r != 0 {
			return C.gospl_append(s.s, key, bytesPtr(data), C.size_t(len(data)), r)
		}
	}
	return rc
}

func (s *Store) cas(key string, expected uint64, val []byte) C.int {
	rc, _ := s.dcall(dCAS, key, nil, val, expected)
	if rc == C.SPL_EAGAIN {
		if r := s.retry(); r != 0 {
			return C.gospl_cas(s.s, key, C.uint64_t(expected), bytesPtr(val), C.size_t(len(val)), r)
		}
	}
	return rc
}

// intOp applies op with operand to key (or k): directly (spl_int_try),
// then, if the slot was busy and retries are on, through the cgo call to
// spl_int_wait, which waits up to the retry time.
func (s *Store) intOp(key string, k *C.spl_key, op IntOp, operand uint64) (uint64, C.int) {
	fn := dInt
	if k != nil {
		fn = dIntK
	}
	a := dargs(s.h, key, k, nil, operand)
	a.op = C.int32_t(op)
	direct(fn, unsafe.Pointer(&a))
	runtime.KeepAlive(key)
	if a.rc == C.SPL_EAGAIN {
		if r := s.retry(); r != 0 {
			var w C.gospl_u64
			if k != nil {
				w = C.gospl_int_wait_k(s.h, k, C.int(op), C.uint64_t(operand), r)
			} else {
				w = C.gospl_int_wait(s.s, key, C.int(op), C.uint64_t(operand), r)
			}
			return uint64(w.v), C.int(w.rc)
		}
	}
	return uint64(a.v), C.int(a.rc)
}

// meta of key: directly, then, if the slot was busy and retries are on,
// through the cgo call that waits (its struct escapes to the heap; the
// direct call's stays on the stack).
func (s *Store) meta(key string) (C.spl_meta, C.int) {
	a := C.gospl_dmeta_args{s: s.h, key: C.uintptr_t((*reflect.StringHeader)(unsafe.Pointer(&key)).Data),
		klen: C.uintptr_t(len(key))}
	direct(dMeta, unsafe.Pointer(&a))
	runtime.KeepAlive(key)
	if a.rc == C.SPL_EAGAIN {
		if r := s.retry(); r != 0 {
			var m C.spl_meta
			rc := C.gospl_meta(s.s, key, &m, r)
			return m, rc
		}
	}
	return a.m, C.int(a.rc)
}

// keyop what (0 type, 1 flags, 2 labels set, 3 labels clear, 4 touch) on
// key with arg, the same way.
func (s *Store) dkeyop(key string, what int, arg uint64) C.int {
	a := dargs(s.h, key, nil, nil, arg)
	a.op = C.int32_t(what)
	direct(dKeyop, unsafe.Pointer(&a))
	runtime.KeepAlive(key)
	if a.rc == C.SPL_EAGAIN {
		if r := s.retry(); r != 0 {
			return C.gospl_keyop(s.s, key, C.int(what), C.uint64_t(arg), r)
		}
	}
	return C.int(a.rc)
}

// view of key: directly, then, if the slot was busy and retries are on,
// through the cgo call that waits.
func (s *Store) view(key string) (C.spl_view, C.int) {
	a := C.gospl_dview_args{s: s.h, key: C.uintptr_t((*reflect.StringHeader)(unsafe.Pointer(&key)).Data),
		klen: C.uintptr_t(len(key))}
	direct(dView, unsafe.Pointer(&a))
	runtime.KeepAlive(key)
	if a.rc == C.SPL_EAGAIN {
		if r := s.retry(); r != 0 {
			var v C.spl_view
			rc := C.gospl_view(s.s, key, &v, r)
			return v, rc
		}
	}
	return a.v, C.int(a.rc)
}

// viewValid is spl_view_valid of the view at (epoch, slot).
func (s *Store) viewValid(epoch uint64, slot uint32) bool {
	a := C.gospl_dview_args{s: s.h}
	a.v.epoch = C.uint64_t(epoch)
	a.v.slot = C.uint32_t(slot)
	direct(dValid, unsafe.Pointer(&a))
	return a.rc == 0
}
