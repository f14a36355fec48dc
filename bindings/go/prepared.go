package splinter

/*
#include <stdlib.h>
#include "gospl.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Key is a key measured and hashed once for one store (spl_key_prep): its
// calls skip the hashing.  The key's bytes live in C memory that the Key
// owns, freed by Close or, failing that, by a finalizer.  A Key works only
// with the Store it was prepared for (or another handle of that store):
// another store's GetMany and SetMany refuse it with ErrInvalid.  A Key may
// be used from several goroutines at once, except Close.
type Key struct {
	s   *Store
	key string
	k   *C.spl_key // C memory: the spl_key, then the key's bytes
}

// Prepare measures and hashes key for this store.  ErrKeyLen past KeyMax,
// ErrInvalid for a NUL byte inside the key.
func (s *Store) Prepare(key string) (*Key, error) {
	if s.s == nil {
		return nil, s.closed("prepare", key)
	}
	var rc C.int
	ck := C.gospl_key_new(s.h, key, &rc)
	if ck == nil {
		return nil, mkerr("prepare", key, rc)
	}
	k := &Key{s: s, key: key, k: ck}
	runtime.SetFinalizer(k, (*Key).Close)
	return k, nil
}

// Close frees the key's C memory; the Key is unusable afterwards
// (ErrClosed).  Safe to call twice; not concurrently with other calls.
func (k *Key) Close() error {
	if k.k != nil {
		C.free(unsafe.Pointer(k.k))
		k.k = nil
		runtime.SetFinalizer(k, nil)
	}
	return nil
}

// String is the key.
func (k *Key) String() string { return k.key }

// Store is the store the key was prepared for.
func (k *Key) Store() *Store { return k.s }

func (k *Key) live(op string) error {
	if k.k == nil || k.s.s == nil {
		return &Error{Op: op, Key: k.key, Code: ErrClosed}
	}
	return nil
}

// Get returns a copy of the value; ErrNotFound if the key is absent.
func (k *Key) Get() ([]byte, error) {
	if err := k.live("get"); err != nil {
		return nil, err
	}
	s := k.s
	buf := make([]byte, minU32(256, s.valMax))
	for {
		rc, n := s.get("", k.k, buf)
		runtime.KeepAlive(k)
		if rc == 0 {
			return buf[:n:n], nil
		}
		if rc != C.SPL_ENOBUFS {
			return nil, mkerr("get", k.key, rc)
		}
		buf = make([]byte, n)
	}
}

// GetString is Get as a string.
func (k *Key) GetString() (string, error) {
	b, err := k.Get()
	return string(b), err
}

// Set inserts or overwrites.
func (k *Key) Set(val []byte) error {
	if err := k.live("set"); err != nil {
		return err
	}
	rc := k.s.set("", k.k, val)
	runtime.KeepAlive(k)
	return mkerr("set", k.key, rc)
}

// SetString is Set with a string value.
func (k *Key) SetString(val string) error { return k.Set([]byte(val)) }

// Unset deletes the key; ErrNotFound if it was absent.
func (k *Key) Unset() error {
	if err := k.live("unset"); err != nil {
		return err
	}
	rc := k.s.unset("", k.k)
	runtime.KeepAlive(k)
	return mkerr("unset", k.key, rc)
}

// Add adds delta to an int64 value (a missing key is created as 0 first)
// and returns the new value.
func (k *Key) Add(delta int64) (int64, error) {
	if err := k.live("add"); err != nil {
		return 0, err
	}
	v, rc := k.s.intOp("", k.k, OpAdd, uint64(delta))
	runtime.KeepAlive(k)
	return int64(v), mkerr("add", k.key, rc)
}

func minU32(a, b uint32) uint32 {
	if a < b {
		return a
	}
	return b
}

// keyArray copies the spl_keys of keys (their strings stay in the keys' C
// memory: keep keys alive while the array is used).
func (s *Store) keyArray(op string, keys []*Key) ([]C.spl_key, error) {
	arr := make([]C.spl_key, len(keys))
	for i, k := range keys {
		if k == nil || k.k == nil {
			return nil, closedKey(op, k)
		}
		arr[i] = *k.k
	}
	return arr, nil
}

func closedKey(op string, k *Key) error {
	key := ""
	if k != nil {
		key = k.key
	}
	return &Error{Op: op, Key: key, Code: ErrClosed}
}

// batch is the scratch of one GetMany or GetManyInto: the keys' C
// pointers, lengths and results, pooled so that a batch allocates none.
type batch struct {
	ptrs []*C.spl_key // C memory (cgo allows C pointers in Go memory)
	lens []C.size_t
	rcs  []C.int
}

var batches = sync.Pool{New: func() any { return new(batch) }}

func getBatch(op string, keys []*Key) (*batch, error) {
	n := len(keys)
	b := batches.Get().(*batch)
	if cap(b.ptrs) < n {
		b.ptrs, b.lens, b.rcs = make([]*C.spl_key, n), make([]C.size_t, n), make([]C.int, n)
	}
	b.ptrs, b.lens, b.rcs = b.ptrs[:n], b.lens[:n], b.rcs[:n]
	for i, k := range keys {
		if k == nil || k.k == nil {
			putBatch(b)
			return nil, closedKey(op, k)
		}
		b.ptrs[i] = k.k
	}
	return b, nil
}

func putBatch(b *batch) {
	if cap(b.ptrs) <= 4096 {
		batches.Put(b)
	}
}

// getMany runs gospl_get_many over keys into buf (n * stride bytes).
func (s *Store) getMany(b *batch, buf []byte, stride int) C.int {
	return C.gospl_get_many(s.h, &b.ptrs[0], C.size_t(len(b.ptrs)), unsafe.Pointer(&buf[0]), C.size_t(stride),
		&b.lens[0], &b.rcs[0], s.retry())
}

// GetMany reads keys in spl_get_many batches (the lookups overlapped), in
// one cgo call.  Value i is vals[i]: nil for an absent key (an empty value
// is a non-nil empty slice).  The values share one backing array (one
// allocation for the batch; a value kept keeps the batch's bytes alive).
// Values longer than 256 bytes are read again one by one.  err is the
// first failure of any key (ErrInvalid for a key prepared for another
// store); the other keys' results are still filled in.
func (s *Store) GetMany(keys []*Key) (vals [][]byte, err error) {
	if s.s == nil {
		return nil, s.closed("getMany", "")
	}
	n := len(keys)
	vals = make([][]byte, n)
	if n == 0 {
		return vals, nil
	}
	b, err := getBatch("getMany", keys)
	if err != nil {
		return nil, err
	}
	defer putBatch(b)
	stride := int(minU32(256, s.valMax))
	if stride == 0 {
		stride = 1
	}
	bufs := make([]byte, n*stride)
	rc := s.getMany(b, bufs, stride)
	if rc < 0 {
		runtime.KeepAlive(keys)
		return nil, mkerr("getMany", "", rc)
	}
	for i := range keys {
		switch b.rcs[i] {
		case 0:
			o := i * stride
			l := o + int(b.lens[i])
			vals[i] = bufs[o:l:l]
		case C.SPL_ENOENT:
		case C.SPL_ENOBUFS:
			v, e := keys[i].Get()
			if e == nil {
				vals[i] = v
			} else if Code(e) != ErrNotFound && err == nil {
				err = e
			}
		default:
			if err == nil {
				err = mkerr("getMany", keys[i].key, b.rcs[i])
			}
		}
	}
	runtime.KeepAlive(keys)
	return vals, err
}

// GetManyInto is GetMany without allocating: value i goes to
// buf[i*stride:], its length to lens[i]; lens[i] is -1 for an absent key
// (or one that failed), and, for a value longer than stride, the length
// it needs (err is then ErrNoBufs unless an earlier key failed otherwise).
// buf must hold len(keys) * stride bytes and lens len(keys) entries
// (ErrInvalid otherwise).  found counts the keys read.
func (s *Store) GetManyInto(keys []*Key, buf []byte, stride int, lens []int) (found int, err error) {
	if s.s == nil {
		return 0, s.closed("getMany", "")
	}
	n := len(keys)
	if n == 0 {
		return 0, nil
	}
	if stride < 1 || len(buf) < n*stride || len(lens) < n {
		return 0, &Error{Op: "getMany", Code: ErrInvalid}
	}
	b, err := getBatch("getMany", keys)
	if err != nil {
		return 0, err
	}
	rc := s.getMany(b, buf, stride)
	if rc < 0 {
		putBatch(b)
		runtime.KeepAlive(keys)
		return 0, mkerr("getMany", "", rc)
	}
	for i := range keys {
		switch r := b.rcs[i]; r {
		case 0:
			lens[i] = int(b.lens[i])
		case C.SPL_ENOBUFS:
			lens[i] = int(b.lens[i])
			if err == nil {
				err = mkerr("getMany", keys[i].key, r)
			}
		default:
			lens[i] = -1
			if r != C.SPL_ENOENT && err == nil {
				err = mkerr("getMany", keys[i].key, r)
			}
		}
	}
	putBatch(b)
	runtime.KeepAlive(keys)
	return int(rc), err
}

// SetMany writes vals[i] to keys[i] in one spl_set_many; each write is
// atomic on its own.  Keys busy under a writer are retried one by one.
// err is the first failure (ErrInvalid for a key prepared for another
// store); the other writes still happen.
func (s *Store) SetMany(keys []*Key, vals [][]byte) error {
	if s.s == nil {
		return s.closed("setMany", "")
	}
	n := len(keys)
	if len(vals) != n {
		return &Error{Op: "setMany", Code: ErrInvalid}
	}
	if n == 0 {
		return nil
	}
	arr, err := s.keyArray("setMany", keys)
	if err != nil {
		return err
	}
	stride := 1
	for _, v := range vals {
		if len(v) > stride {
			stride = len(v)
		}
	}
	buf := make([]byte, n*stride)
	lens := make([]C.size_t, n)
	for i, v := range vals {
		copy(buf[i*stride:], v)
		lens[i] = C.size_t(len(v))
	}
	rcs := make([]C.int, n)
	rc := C.spl_set_many(s.s, &arr[0], C.size_t(n), unsafe.Pointer(&buf[0]), C.size_t(stride), &lens[0], &rcs[0])
	if rc < 0 {
		runtime.KeepAlive(keys)
		return mkerr("setMany", "", rc)
	}
	for i := range keys {
		r := rcs[i]
		if r == C.SPL_EAGAIN {
			r = C.gospl_set_k(s.h, &arr[i], bytesPtr(vals[i]), C.size_t(len(vals[i])), s.retry())
		}
		if r < 0 && err == nil {
			err = mkerr("setMany", keys[i].key, r)
		}
	}
	runtime.KeepAlive(keys)
	return err
}
