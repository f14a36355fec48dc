// Package splinter binds the Splinter C library: lock-free, zero-copy
// key-value and vector storage in shared memory, shared by any number of
// processes (C, Python, Node.js, Rust, Go) with no server.
//
// A *Store may be used from any number of goroutines at once, except
// Close, which must not run concurrently with other calls on the same
// Store (as spl_close).  Errors wrap an Errno: errors.Is(err,
// splinter.ErrNotFound) asks whether a key was absent.
//
// Contention: a call that meets a writer inside the slot it needs waits
// for the Store's retry time (100 ms unless Options.Retry says otherwise),
// asleep on the slot until its writer commits (the *_wait calls, or
// spl_retry_pause for the calls without one), and then returns ErrAgain;
// Options.NoRetry (or SetRetry(0)) returns ErrAgain at once, as the C
// library does.
package splinter

/*
#include <stdlib.h>
#include "gospl.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Version of the library this package binds.
const Version = "0.1.0"

// Backing says where a store lives.
type Backing uint32

const (
	BackingAuto  Backing = C.SPL_BACKING_AUTO  // a name with '/' is a file, else shared memory
	BackingShm   Backing = C.SPL_BACKING_SHM   // named, in tmpfs, in a private per-user directory
	BackingFile  Backing = C.SPL_BACKING_FILE  // a file at a path: persistent, Flush
	BackingMemfd Backing = C.SPL_BACKING_MEMFD // anonymous; share by descriptor
)

func (b Backing) String() string {
	switch b {
	case BackingShm:
		return "shm"
	case BackingFile:
		return "file"
	case BackingMemfd:
		return "memfd"
	}
	return "auto"
}

// VecFormat says how a store keeps vector elements (callers always use float32).
type VecFormat uint32

const (
	VecF32 VecFormat = C.SPL_VEC_F32
	VecF16 VecFormat = C.SPL_VEC_F16
	VecI8  VecFormat = C.SPL_VEC_I8
)

// Options for Create, Open and OpenOrCreate.  The zero value is the
// library's defaults (but see VecDim).
type Options struct {
	Backing  Backing
	ReadOnly bool   // map read-only: mutations return ErrReadOnly
	Group    bool   // create 0660 / accept a group-shared store
	NoWait   bool   // open: do not wait for a store another process is creating
	Mode     uint32 // create: file mode; 0 = 0600

	// Geometry (create; for OpenOrCreate a non-zero field must match).
	Slots   uint32 // 0 = 1024
	KeyMax  uint32 // 0 = 64
	ValMax  uint32 // 0 = 4096
	VecDim  uint32 // floats per vector; 0 = none (set DefaultVecDim for 768)
	FeedLen uint32 // change-feed entries, a power of two; 0 = 1024

	VecFormat VecFormat
	TandemSep byte   // 0 = '.'
	VecCells  uint32 // create: vector cells, 1..Slots; 0 = one per slot (OpenOrCreate: 0 or the store's count; Open ignores it)

	// Placement (create only; docs/PLACEMENT.md).  NUMA modes other than
	// NumaDefault need a WITH_NUMA=1 build (else ErrNotSup).
	NumaMode  NumaMode
	NumaNodes uint64 // bit n = node n: one or more for Bind and Interleave, one for Preferred
	HugePages uint32 // 0 = normal pages; HugePagesDefault; or a huge page size in bytes

	// Contention: how long a call retries SPL_EAGAIN.  0 = 100 ms.
	Retry   time.Duration
	NoRetry bool // return ErrAgain at once
}

// DefaultVecDim is the library's default vector dimension (768).
const DefaultVecDim = C.SPL_VEC_DIM_DEFAULT

// HugePagesDefault asks for huge pages of the system's default size
// (Options.HugePages).  A memfd store gets them from memfd_create; a named
// store must be on hugetlbfs.  None free: ErrNoHuge.
const HugePagesDefault = C.SPL_HUGE_DEFAULT

// NumaMode is the NUMA memory policy of a store's memory (spl_numa_mode).
type NumaMode int32

const (
	NumaUnknown    NumaMode = -1                    // Info only: no NUMA in this build, or a policy with no name
	NumaDefault    NumaMode = C.SPL_NUMA_DEFAULT    // no policy: the OS default (usually first touch)
	NumaBind       NumaMode = C.SPL_NUMA_BIND       // only on NumaNodes
	NumaInterleave NumaMode = C.SPL_NUMA_INTERLEAVE // page by page round-robin over NumaNodes
	NumaPreferred  NumaMode = C.SPL_NUMA_PREFERRED  // on the one node of NumaNodes while it has room
	NumaLocal      NumaMode = C.SPL_NUMA_LOCAL      // on the node of the CPU that first touches a page
)

// NumaNodesMax is the number of NUMA nodes a mask and Info.NumaPages cover (0..63).
const NumaNodesMax = C.SPL_NUMA_NODES_MAX

func (m NumaMode) String() string {
	switch m {
	case NumaDefault:
		return "default"
	case NumaBind:
		return "bind"
	case NumaInterleave:
		return "interleave"
	case NumaPreferred:
		return "preferred"
	case NumaLocal:
		return "local"
	}
	return "unknown"
}

// Store is an open store.
type Store struct {
	s       *C.spl_store
	h       C.uintptr_t // s as an integer, for the hot calls (see gospl.h)
	keyMax  uint32
	valMax  uint32
	vecDim  uint32
	retryUS uint32 // atomic
	hint    uint32 // atomic: the last value size Get saw (its first guess)

	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

func (o *Options) c() C.spl_options {
	var co C.spl_options
	C.spl_options_init(&co)
	if o == nil {
		co.geom.vec_dim = 0
		return co
	}
	co.backing = C.spl_backing(o.Backing)
	var flags C.uint32_t
	if o.ReadOnly {
		flags |= C.SPL_O_RDONLY
	}
	if o.Group {
		flags |= C.SPL_O_GROUP
	}
	if o.NoWait {
		flags |= C.SPL_O_NOWAIT
	}
	co.flags = flags
	co.mode = C.uint32_t(o.Mode)
	if o.Slots != 0 {
		co.geom.slots = C.uint32_t(o.Slots)
	}
	if o.KeyMax != 0 {
		co.geom.key_max = C.uint32_t(o.KeyMax)
	}
	if o.ValMax != 0 {
		co.geom.val_max = C.uint32_t(o.ValMax)
	}
	co.geom.vec_dim = C.uint32_t(o.VecDim)
	co.feed_len = C.uint32_t(o.FeedLen)
	co.vec_format = C.uint32_t(o.VecFormat)
	co.tandem_sep = C.uint32_t(o.TandemSep)
	co.vec_cells = C.uint32_t(o.VecCells)
	co.numa_mode = C.uint32_t(o.NumaMode)
	co.numa_nodes = C.uint64_t(o.NumaNodes)
	co.huge_pages = C.uint32_t(o.HugePages)
	return co
}

func attach(mode int, op, name string, fd int, o *Options) (*Store, error) {
	co := o.c()
	var cname *C.char
	if name != "" {
		cname = C.CString(name)
		defer C.free(unsafe.Pointer(cname))
	}
	var s *C.spl_store
	if rc := C.gospl_attach(C.int(mode), cname, C.int(fd), &co, &s); rc < 0 {
		return nil, mkerr(op, name, rc)
	}
	st := &Store{s: s, h: C.uintptr_t(uintptr(unsafe.Pointer(s))), subs: map[*Subscription]struct{}{}}
	var in C.spl_info
	C.spl_info_get_n(s, &in, C.size_t(unsafe.Sizeof(in)))
	st.keyMax = uint32(in.geom.key_max)
	st.valMax = uint32(in.geom.val_max)
	st.vecDim = uint32(in.geom.vec_dim)
	st.hint = 64
	retry := 100 * time.Millisecond
	if o != nil {
		if o.Retry > 0 {
			retry = o.Retry
		}
		if o.NoRetry {
			retry = 0
		}
	}
	st.SetRetry(retry)
	return st, nil
}

// Create makes a new store.  name: a plain name (shared memory), a path
// (file), or "" for an anonymous memfd store (Backing: BackingMemfd).
// An existing store gives ErrExist.
func Create(name string, o *Options) (*Store, error) { return attach(0, "create", name, -1, o) }

// Open opens an existing store (o may be nil).
func Open(name string, o *Options) (*Store, error) { return attach(1, "open", name, -1, o) }

// OpenOrCreate opens the store, or creates it with o's geometry if absent;
// ErrGeometry if it exists with another.
func OpenOrCreate(name string, o *Options) (*Store, error) {
	return attach(2, "openOrCreate", name, -1, o)
}

// OpenFd attaches to a store by file descriptor (a memfd from another
// process).  The descriptor is duplicated; the caller keeps its own.  Only
// ReadOnly, Retry and NoRetry of o apply.
func OpenFd(fd int, o *Options) (*Store, error) { return attach(3, "openFd", "", fd, o) }

// Destroy unlinks a named store.  Open handles stay valid.
func Destroy(name string, o *Options) error {
	co := o.c()
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return mkerr("destroy", name, C.spl_destroy(cname, &co))
}

// Close ends every subscription and unmaps the store.  Views and byte
// slices from View must not be used afterwards.  Safe to call twice; not
// safe concurrently with other calls on the same Store.
func (s *Store) Close() error {
	if s.s == nil {
		return nil
	}
	s.mu.Lock()
	subs := make([]*Subscription, 0, len(s.subs))
	for u := range s.subs {
		subs = append(subs, u)
	}
	s.mu.Unlock()
	for _, u := range subs {
		u.Close()
	}
	C.spl_close(s.s)
	s.s = nil
	s.h = 0
	return nil
}

// SetRetry sets how long calls retry contention (SPL_EAGAIN) before
// returning ErrAgain; d <= 0 returns ErrAgain at once.
func (s *Store) SetRetry(d time.Duration) {
	us := int64(0)
	if d > 0 {
		us = int64(d / time.Microsecond)
		if us == 0 {
			us = 1
		}
		if us > 1<<32-1 {
			us = 1<<32 - 1
		}
	}
	atomic.StoreUint32(&s.retryUS, uint32(us))
}

// Retry is the current retry time.
func (s *Store) Retry() time.Duration {
	return time.Duration(atomic.LoadUint32(&s.retryUS)) * time.Microsecond
}

func (s *Store) retry() C.uint32_t { return C.uint32_t(atomic.LoadUint32(&s.retryUS)) }

// CStore is the underlying spl_store pointer, for C code in this process
// (cgo callers cast it to *C.spl_store).  Valid until Close.
func (s *Store) CStore() unsafe.Pointer { return unsafe.Pointer(s.s) }

// Info is the store's geometry, usage, memory and placement.
type Info struct {
	Slots, KeyMax, ValMax, VecDim uint32
	Backing                       Backing
	ProbeMax                      uint32
	SlotStride                    uint32
	RegionBytes                   uint64
	Used                          uint64
	Load                          float64
	Recoveries                    uint64
	Changes                       uint64
	ProbeLongest                  uint32
	ProbeMean                     float64
	Embeddings                    bool
	ReadOnly                      bool
	CellStride                    uint32
	CellsHigh                     uint32
	Capacity                      uint64
	Free                          uint64
	IndexWords                    uint32
	UndoRecs                      uint32
	StoreID                       uint64 // names the store (never 0; the same for every handle)
	Cells                         uint32 // vector cells (0: no vectors)
	CellsUsed                     uint32 // of those, cells holding a vector now
	ResidentBytes                 uint64 // bytes of the region in memory, against RegionBytes mapped

	// Placement (docs/PLACEMENT.md).
	PageBytes   uint64               // page size of the mapping: the huge page size on hugetlbfs
	NumaMode    NumaMode             // this process's mapping's policy; NumaUnknown without NUMA
	NumaNodes   uint64               // node mask of NumaMode
	NumaSampled uint32               // pages asked about (every page, or up to 4096 spread over the region); 0 without NUMA
	NumaAbsent  uint32               // of those, pages with no memory yet (never written) or swapped out
	NumaPages   [NumaNodesMax]uint32 // of those, pages on node n
}

// Info reports geometry, usage, memory and placement (spl_info_get_n with
// the size of the spl_info this package was built with).  It reads every
// slot and asks the kernel about every page: O(slots), not for hot paths.
func (s *Store) Info() (Info, error) {
	if s.s == nil {
		return Info{}, &Error{Op: "info", Code: ErrClosed}
	}
	var in C.spl_info
	if rc := C.spl_info_get_n(s.s, &in, C.size_t(unsafe.Sizeof(in))); rc < 0 {
		return Info{}, mkerr("info", "", rc)
	}
	info := Info{
		Slots: uint32(in.geom.slots), KeyMax: uint32(in.geom.key_max), ValMax: uint32(in.geom.val_max),
		VecDim: uint32(in.geom.vec_dim), Backing: Backing(in.backing), ProbeMax: uint32(in.probe_max),
		SlotStride: uint32(in.slot_stride), RegionBytes: uint64(in.region_bytes), Used: uint64(in.used),
		Load: float64(in.load), Recoveries: uint64(in.recoveries), Changes: uint64(in.changes),
		ProbeLongest: uint32(in.probe_longest), ProbeMean: float64(in.probe_mean),
		Embeddings: in.features&C.SPL_FEAT_EMBEDDINGS != 0, ReadOnly: in.read_only != 0,
		CellStride: uint32(in.cell_stride), CellsHigh: uint32(in.cells_high), Capacity: uint64(in.capacity),
		Free: uint64(in.free), IndexWords: uint32(in.index_words), UndoRecs: uint32(in.undo_recs),
		StoreID: uint64(in.store_id), Cells: uint32(in.cells), CellsUsed: uint32(in.cells_used),
		ResidentBytes: uint64(in.resident_bytes), PageBytes: uint64(in.page_bytes),
		NumaMode: NumaMode(in.numa_mode), NumaNodes: uint64(in.numa_nodes),
		NumaSampled: uint32(in.numa_sampled), NumaAbsent: uint32(in.numa_absent),
	}
	for n := range info.NumaPages {
		info.NumaPages[n] = uint32(in.numa_pages[n])
	}
	return info, nil
}

// Flush msyncs a file-backed store.
func (s *Store) Flush() error {
	if s.s == nil {
		return &Error{Op: "flush", Code: ErrClosed}
	}
	return mkerr("flush", "", C.spl_flush(s.s))
}

// Fd is the store's descriptor (valid until Close), for passing a memfd
// store to another process (SendFd, or exec.Cmd.ExtraFiles).
func (s *Store) Fd() int {
	if s.s == nil {
		return -1
	}
	return int(C.spl_fd(s.s))
}

func (s *Store) closed(op, key string) error { return &Error{Op: op, Key: key, Code: ErrClosed} }

// ---- key-value

// Get returns a copy of the value; ErrNotFound if the key is absent.
func (s *Store) Get(key string) ([]byte, error) {
	if s.s == nil {
		return nil, s.closed("get", key)
	}
	hint := atomic.LoadUint32(&s.hint)
	if hint > s.valMax {
		hint = s.valMax
	}
	buf := make([]byte, hint)
	for {
		rc, n := s.get(key, nil, buf)
		if rc == 0 {
			if uint32(n) != hint && n > 0 {
				atomic.StoreUint32(&s.hint, uint32(n))
			}
			return buf[:n:n], nil
		}
		if rc != C.SPL_ENOBUFS {
			return nil, mkerr("get", key, rc)
		}
		buf = make([]byte, n)
	}
}

// GetString is Get as a string.
func (s *Store) GetString(key string) (string, error) {
	b, err := s.Get(key)
	return string(b), err
}

// GetInto copies the value into buf and returns its length.  A buf too
// small gives ErrNoBufs and the length needed.
func (s *Store) GetInto(key string, buf []byte) (int, error) {
	if s.s == nil {
		return 0, s.closed("get", key)
	}
	rc, n := s.get(key, nil, buf)
	if rc < 0 {
		return n, mkerr("get", key, rc)
	}
	return n, nil
}

// Set inserts or overwrites.
func (s *Store) Set(key string, val []byte) error {
	if s.s == nil {
		return s.closed("set", key)
	}
	return mkerr("set", key, s.set(key, nil, val))
}

// SetString is Set with a string value.
func (s *Store) SetString(key, val string) error { return s.Set(key, []byte(val)) }

// Unset deletes a key; ErrNotFound if it was absent.
func (s *Store) Unset(key string) error {
	if s.s == nil {
		return s.closed("unset", key)
	}
	return mkerr("unset", key, s.unset(key, nil))
}

// Exists reports whether the key is present.
func (s *Store) Exists(key string) (bool, error) {
	if s.s == nil {
		return false, s.closed("exists", key)
	}
	rc := s.exists(key)
	if rc < 0 {
		return false, mkerr("exists", key, rc)
	}
	return rc == 1, nil
}

// Append adds data to the value, creating it if absent (ErrTooBig past ValMax).
func (s *Store) Append(key string, data []byte) error {
	if s.s == nil {
		return s.closed("append", key)
	}
	return mkerr("append", key, s.append(key, data))
}

// CAS writes only if the key's epoch is still expected (from Meta or a
// View); expected 0 means "create only if absent".  It reports false, with
// no error, when that did not hold (epoch moved, key present, key gone).
func (s *Store) CAS(key string, expected uint64, val []byte) (bool, error) {
	if s.s == nil {
		return false, s.closed("cas", key)
	}
	rc := s.cas(key, expected, val)
	switch rc {
	case 0:
		return true, nil
	case C.SPL_ESTALE, C.SPL_EEXIST, C.SPL_ENOENT:
		return false, nil
	}
	return false, mkerr("cas", key, rc)
}

// ---- integers: 8-byte values of type int64/uint64, changed in place

// IntOp is an in-place operation for Int.
type IntOp int

const (
	OpAdd IntOp = C.SPL_OP_ADD
	OpAnd IntOp = C.SPL_OP_AND
	OpOr  IntOp = C.SPL_OP_OR
	OpXor IntOp = C.SPL_OP_XOR
	OpNot IntOp = C.SPL_OP_NOT
)

// Int applies op with operand in place (a missing key is created as int64
// 0 first) and returns the new value.  Never loses an update.  A busy slot
// is waited for up to the Store's retry time (spl_int_wait: asleep on the
// slot, a dead writer recovered), then ErrAgain, nothing changed; with
// retries off (Options.NoRetry, SetRetry(0)), at once (spl_int_try).  Add,
// Inc, Dec and Key.Add likewise.
func (s *Store) Int(key string, op IntOp, operand uint64) (uint64, error) {
	if s.s == nil {
		return 0, s.closed("int", key)
	}
	v, rc := s.intOp(key, nil, op, operand)
	return v, mkerr("int", key, rc)
}

// Add adds delta and returns the new value.
func (s *Store) Add(key string, delta int64) (int64, error) {
	if s.s == nil {
		return 0, s.closed("add", key)
	}
	v, rc := s.intOp(key, nil, OpAdd, uint64(delta))
	return int64(v), mkerr("add", key, rc)
}

// Inc adds 1.
func (s *Store) Inc(key string) (int64, error) {
	if s.s == nil {
		return 0, s.closed("inc", key)
	}
	v, rc := s.intOp(key, nil, OpAdd, 1)
	return int64(v), mkerr("inc", key, rc)
}

// Dec subtracts 1.
func (s *Store) Dec(key string) (int64, error) {
	if s.s == nil {
		return 0, s.closed("dec", key)
	}
	v, rc := s.intOp(key, nil, OpAdd, ^uint64(0))
	return int64(v), mkerr("dec", key, rc)
}

// ---- metadata

// Type of a value.
type Type uint8

const (
	TypeVoid   Type = C.SPL_T_VOID
	TypeInt64  Type = C.SPL_T_INT64
	TypeUint64 Type = C.SPL_T_UINT64
	TypeJSON   Type = C.SPL_T_JSON
	TypeBinary Type = C.SPL_T_BINARY
	TypeImage  Type = C.SPL_T_IMAGE
	TypeAudio  Type = C.SPL_T_AUDIO
	TypeText   Type = C.SPL_T_TEXT
)

func (t Type) String() string { return C.GoString(C.spl_type_name(C.spl_type(t))) }

// ParseType is the Type named "int64", "json", ...
func ParseType(name string) (Type, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	rc := C.spl_type_parse(cs)
	if rc < 0 {
		return 0, mkerr("parseType", name, rc)
	}
	return Type(rc), nil
}

// Meta is a consistent snapshot of a key's metadata.
type Meta struct {
	Epoch  uint64 // even; moves forward on every change (the token for CAS and Wait)
	Labels uint64
	Ctime  time.Time
	Mtime  time.Time
	Atime  time.Time // zero until Touch
	Size   uint32    // value length
	Slot   uint32
	Type   Type
	Flags  uint8
	Watch  uint64 // signal groups watching the key
}

func nsTime(ns C.uint64_t) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns))
}

func metaOf(m *C.spl_meta) Meta {
	return Meta{
		Epoch: uint64(m.epoch), Labels: uint64(m.labels), Ctime: nsTime(m.ctime_ns), Mtime: nsTime(m.mtime_ns),
		Atime: nsTime(m.atime_ns), Size: uint32(m.val_len), Slot: uint32(m.slot), Type: Type(m._type),
		Flags: uint8(m.user_flags), Watch: uint64(m.watch),
	}
}

// Meta returns the key's metadata; ErrNotFound if absent.
func (s *Store) Meta(key string) (Meta, error) {
	if s.s == nil {
		return Meta{}, s.closed("meta", key)
	}
	m, rc := s.meta(key)
	if rc < 0 {
		return Meta{}, mkerr("meta", key, rc)
	}
	return metaOf(&m), nil
}

func (s *Store) keyop(op, key string, what int, arg uint64) error {
	if s.s == nil {
		return s.closed(op, key)
	}
	if what <= 4 { // the ones that never sleep: directly
		return mkerr(op, key, s.dkeyop(key, what, arg))
	}
	return mkerr(op, key, C.gospl_keyop(s.s, key, C.int(what), C.uint64_t(arg), s.retry()))
}

// SetType sets the value's type.
func (s *Store) SetType(key string, t Type) error { return s.keyop("setType", key, 0, uint64(t)) }

// SetFlags sets the key's 8 user flag bits.
func (s *Store) SetFlags(key string, flags uint8) error {
	return s.keyop("setFlags", key, 1, uint64(flags))
}

// SetLabels ORs mask into the key's labels.
func (s *Store) SetLabels(key string, mask uint64) error { return s.keyop("setLabels", key, 2, mask) }

// ClearLabels ANDs mask out of the key's labels.
func (s *Store) ClearLabels(key string, mask uint64) error {
	return s.keyop("clearLabels", key, 3, mask)
}

// Touch sets the key's atime to now.
func (s *Store) Touch(key string) error { return s.keyop("touch", key, 4, 0) }
