package splinter

/*
#include "gospl.h"
*/
import "C"

import (
	"unsafe"
)

// Tandem keys: an ordered group base, base.1, base.2, ... (the separator is
// the store's TandemSep).  Each member is written atomically on its own;
// the group is not atomic (see include/splinter.h).

// TandemKey is the name of member i of base.
func (s *Store) TandemKey(base string, i int) (string, error) {
	if s.s == nil {
		return "", s.closed("tandemKey", base)
	}
	out := make([]byte, s.keyMax+1)
	r := C.gospl_tandem_key(s.s, base, C.uint32_t(i), (*C.char)(unsafe.Pointer(&out[0])), C.size_t(len(out)))
	if r.rc < 0 {
		return "", mkerr("tandemKey", base, r.rc)
	}
	return string(out[:r.n]), nil
}

// TandemSet writes vals as the group under base (members 1..n-1, then the
// base), then deletes surplus members of an older, longer group.
func (s *Store) TandemSet(base string, vals [][]byte) error {
	if s.s == nil {
		return s.closed("tandemSet", base)
	}
	total := 0
	for _, v := range vals {
		total += len(v)
	}
	arena := make([]byte, total+1)
	offs := make([]C.size_t, len(vals)+1)
	lens := make([]C.size_t, len(vals)+1)
	o := 0
	for i, v := range vals {
		copy(arena[o:], v)
		offs[i] = C.size_t(o)
		lens[i] = C.size_t(len(v))
		o += len(v)
	}
	rc := C.gospl_tandem_set(s.s, base, (*C.char)(unsafe.Pointer(&arena[0])), &offs[0], &lens[0],
		C.uint32_t(len(vals)), s.retry())
	return mkerr("tandemSet", base, rc)
}

// TandemGet reads member i; ErrNotFound if absent.
func (s *Store) TandemGet(base string, i int) ([]byte, error) {
	if s.s == nil {
		return nil, s.closed("tandemGet", base)
	}
	buf := make([]byte, s.valMax)
	var n C.size_t
	rc := C.gospl_tandem(s.s, base, 0, C.uint32_t(i), bytesPtr(buf), C.size_t(len(buf)), &n, s.retry())
	if rc < 0 {
		return nil, mkerr("tandemGet", base, rc)
	}
	return buf[:n:n], nil
}

// TandemCount is the number of members present: base, base.1, ... up to
// the first absent one.
func (s *Store) TandemCount(base string) (int, error) {
	if s.s == nil {
		return 0, s.closed("tandemCount", base)
	}
	var n C.size_t
	rc := C.gospl_tandem(s.s, base, 1, 0, nil, 0, &n, s.retry())
	if rc < 0 {
		return 0, mkerr("tandemCount", base, rc)
	}
	return int(rc), nil
}

// TandemUnset deletes every member, last first; returns how many.
func (s *Store) TandemUnset(base string) (int, error) {
	if s.s == nil {
		return 0, s.closed("tandemUnset", base)
	}
	var n C.size_t
	rc := C.gospl_tandem(s.s, base, 2, 0, nil, 0, &n, s.retry())
	if rc < 0 {
		return 0, mkerr("tandemUnset", base, rc)
	}
	return int(rc), nil
}

// TandemVecSet writes vectors as the group under base: member i gets vecs[i].
func (s *Store) TandemVecSet(base string, vecs [][]float32) error {
	if s.s == nil {
		return s.closed("tandemVecSet", base)
	}
	if s.vecDim == 0 {
		return &Error{Op: "tandemVecSet", Key: base, Code: ErrNotSup}
	}
	flat := make([]float32, 0, len(vecs)*int(s.vecDim))
	for _, v := range vecs {
		if len(v) != int(s.vecDim) {
			return &Error{Op: "tandemVecSet", Key: base, Code: ErrDim}
		}
		flat = append(flat, v...)
	}
	rc := C.gospl_tandem_vec_set(s.s, base, floatsPtr(flat), C.uint32_t(len(vecs)), C.uint32_t(s.vecDim), s.retry())
	return mkerr("tandemVecSet", base, rc)
}

// TandemVecGet reads member i's vector.
func (s *Store) TandemVecGet(base string, i int) ([]float32, error) {
	if s.s == nil {
		return nil, s.closed("tandemVecGet", base)
	}
	if s.vecDim == 0 {
		return nil, &Error{Op: "tandemVecGet", Key: base, Code: ErrNotSup}
	}
	out := make([]float32, s.vecDim)
	var n C.size_t
	rc := C.gospl_tandem(s.s, base, 3, C.uint32_t(i), unsafe.Pointer(&out[0]), C.size_t(s.vecDim), &n, s.retry())
	if rc < 0 {
		return nil, mkerr("tandemVecGet", base, rc)
	}
	return out, nil
}
