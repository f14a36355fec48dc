package splinter

/*
#include "gospl.h"
*/
import "C"

import (
	"unsafe"
)

// View is a zero-copy look at a value where it lies in the shared mapping.
//
// Bytes aliases the store's memory: another process may rewrite it at any
// moment, so what you read is only good if Valid() reports true afterwards
// (the slot still holds the value at Epoch).  Never write into Bytes, never
// keep it past the next Valid() check you rely on, and never use it after
// Store.Close (the memory is unmapped).  For a safe copy use Get.
type View struct {
	Bytes []byte
	Epoch uint64
	Slot  uint32
	Type  Type
	s     *Store
}

// View points at key's value in place; ErrNotFound if absent.
func (s *Store) View(key string) (View, error) {
	if s.s == nil {
		return View{}, s.closed("view", key)
	}
	v, rc := s.view(key)
	if rc < 0 {
		return View{}, mkerr("view", key, rc)
	}
	var b []byte
	if v.len > 0 {
		b = unsafe.Slice((*byte)(v.data), int(v.len))
	} else {
		b = []byte{}
	}
	return View{Bytes: b, Epoch: uint64(v.epoch), Slot: uint32(v.slot), Type: Type(v._type), s: s}, nil
}

// Valid reports whether every byte read from the view since View() belongs
// to the value at v.Epoch (spl_view_valid).
func (v View) Valid() bool {
	if v.s == nil || v.s.s == nil {
		return false
	}
	return v.s.viewValid(v.Epoch, v.Slot)
}

// ReadWith runs fn on the value in place until fn has read one consistent
// value (View, fn, Valid; retried up to 64 times, then ErrAgain).  fn may
// run more than once and must not keep the slice.  ErrNotFound if absent;
// fn's own error is returned as is once the read was consistent.
func (s *Store) ReadWith(key string, fn func(b []byte) error) error {
	for i := 0; i < 64; i++ {
		v, err := s.View(key)
		if err != nil {
			return err
		}
		ferr := fn(v.Bytes)
		if v.Valid() {
			return ferr
		}
	}
	return &Error{Op: "readWith", Key: key, Code: ErrAgain}
}
