package splinter

/*
#include <stdlib.h>
#include "gospl.h"
*/
import "C"

import (
	"unsafe"
)

// Filter selects keys for Entries, Keys and ForEach (spl_filter).
type Filter struct {
	Prefix    string // key prefix; "" = any
	Glob      string // fnmatch(3) pattern over the whole key; "" = any
	Labels    uint64 // keys carrying all these label bits (any, with LabelsAny); 0 = any
	LabelsAny bool
	Values    bool // copy values into the entries
}

// Entry is one key of an iteration.
type Entry struct {
	Key   string
	Value []byte // nil unless Filter.Values
	Meta  Meta
}

// Entries returns every live key matching f (nil: all), each read
// consistently; keys being written during the scan are retried briefly and
// then skipped (spl_foreach).
func (s *Store) Entries(f *Filter) ([]Entry, error) {
	if s.s == nil {
		return nil, s.closed("entries", "")
	}
	var cf C.spl_filter
	var cstrs []*C.char
	defer func() {
		for _, p := range cstrs {
			C.free(unsafe.Pointer(p))
		}
	}()
	if f != nil {
		if f.Prefix != "" {
			cf.prefix = C.CString(f.Prefix)
			cstrs = append(cstrs, cf.prefix)
		}
		if f.Glob != "" {
			cf.glob = C.CString(f.Glob)
			cstrs = append(cstrs, cf.glob)
		}
		cf.labels = C.uint64_t(f.Labels)
		if f.LabelsAny {
			cf.flags |= C.SPL_F_LABELS_ANY
		}
		if f.Values {
			cf.flags |= C.SPL_F_VALUES
		}
	}
	var acc C.gospl_acc
	rc := C.gospl_foreach(s.s, &cf, &acc)
	defer C.gospl_acc_free(&acc)
	if rc < 0 {
		return nil, mkerr("entries", "", rc)
	}
	out := make([]Entry, int(acc.n))
	var arena []byte
	if acc.blen > 0 {
		arena = C.GoBytes(unsafe.Pointer(acc.bytes), C.int(acc.blen))
	}
	for i := range out {
		g := C.gospl_ent_at(&acc, C.size_t(i))
		e := Entry{Key: string(arena[g.key_off : g.key_off+g.key_len]), Meta: metaOf(&g.meta)}
		if g.has_val != 0 {
			n := C.size_t(g.meta.val_len)
			e.Value = arena[g.val_off : g.val_off+n : g.val_off+n]
		}
		out[i] = e
	}
	return out, nil
}

// Keys returns the keys matching f.
func (s *Store) Keys(f *Filter) ([]string, error) {
	es, err := s.Entries(f)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = e.Key
	}
	return keys, nil
}

// ForEach calls fn for each entry matching f until fn returns false.
func (s *Store) ForEach(f *Filter, fn func(Entry) bool) error {
	es, err := s.Entries(f)
	if err != nil {
		return err
	}
	for _, e := range es {
		if !fn(e) {
			break
		}
	}
	return nil
}
