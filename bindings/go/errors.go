package splinter

/*
#include "gospl.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Errno is a code of the library: a negative errno value, or an SPL_E*
// condition (<= -1000).  Every error this package returns wraps one, so
// errors.Is(err, splinter.ErrNotFound) answers "was it SPL_ENOENT".
type Errno int

// The library's conditions, one sentinel per SPL_E* code.
const (
	ErrAgain    Errno = C.SPL_EAGAIN    // contention: a writer holds the slot; retry
	ErrNotFound Errno = C.SPL_ENOENT    // no such key or store
	ErrExist    Errno = C.SPL_EEXIST    // already exists
	ErrInvalid  Errno = C.SPL_EINVAL    // invalid argument
	ErrNoMemory Errno = C.SPL_ENOMEM    // out of memory
	ErrAccess   Errno = C.SPL_EACCES    // permission denied
	ErrReadOnly Errno = C.SPL_EROFS     // store handle is read-only
	ErrTooBig   Errno = C.SPL_E2BIG     // value larger than the store's value size
	ErrNoBufs   Errno = C.SPL_ENOBUFS   // buffer too small
	ErrTimedOut Errno = C.SPL_ETIMEDOUT // timed out
	ErrOverflow Errno = C.SPL_EOVERFLOW // change feed overflowed: events were lost
	ErrKeyLen   Errno = C.SPL_EKEYLEN   // key empty or longer than key_max
	ErrFull     Errno = C.SPL_EFULL     // store full
	ErrMagic    Errno = C.SPL_EMAGIC    // not a splinter store
	ErrVersion  Errno = C.SPL_EVERSION  // store has another format version
	ErrLayout   Errno = C.SPL_ELAYOUT   // store layout or features differ from this build
	ErrSize     Errno = C.SPL_ESIZE     // store size does not match its geometry
	ErrGeometry Errno = C.SPL_EGEOMETRY // store exists with another geometry
	ErrInit     Errno = C.SPL_EINIT     // store was never fully initialised
	ErrCorrupt  Errno = C.SPL_ECORRUPT  // store data failed a bounds check
	ErrType     Errno = C.SPL_ETYPE     // value has the wrong type or size for this op
	ErrStale    Errno = C.SPL_ESTALE    // epoch moved: the slot changed since it was read
	ErrOwner    Errno = C.SPL_EOWNER    // store file is owned by another user
	ErrMode     Errno = C.SPL_EMODE     // store file mode is unsafe or not as requested
	ErrNotReg   Errno = C.SPL_ENOTREG   // store path is not a regular file
	ErrName     Errno = C.SPL_ENAME     // invalid store name
	ErrFormat   Errno = C.SPL_EFORMAT   // geometry out of range
	ErrNaN      Errno = C.SPL_ENAN      // vector holds NaN or infinity
	ErrDim      Errno = C.SPL_EDIM      // vector length differs from the store's vec_dim
	ErrNoVector Errno = C.SPL_ENOVEC    // key holds no vector
	ErrRange    Errno = C.SPL_ERANGE    // vector element out of range for the format
	ErrNotSup   Errno = C.SPL_ENOTSUP   // not supported by this build or CPU
	ErrNoNode   Errno = C.SPL_ENODE     // NUMA node does not exist or is not allowed here
	ErrNoHuge   Errno = C.SPL_ENOHUGE   // no huge pages: none free, or not on hugetlbfs
	ErrUnsealed Errno = C.SPL_EUNSEALED // store fd is not sealed against shrinking
	ErrNoCell   Errno = C.SPL_ENOCELL   // no free vector cell: every cell holds a vector
	ErrFragABI  Errno = C.SPL_EABI      // fragment needs another fragment ABI version
	ErrNoSym    Errno = C.SPL_ENOSYM    // library has no spl_fragment_entry symbol
	ErrLoad     Errno = C.SPL_ELOAD     // fragment library could not be loaded
	ErrNoHost   Errno = C.SPL_ENOHOST   // fragment is not running: no live host
	ErrClosed   Errno = -1_000_000      // the Store (or Subscription) was closed (this package's own)
)

// Name is the symbolic name, "SPL_ENOENT" ("SPL_E?" for unknown codes).
func (e Errno) Name() string {
	if e == ErrClosed {
		return "SPL_ECLOSED"
	}
	return C.GoString(C.spl_err_name(C.int(e)))
}

// Error is the library's text and the name: "no such key or store (SPL_ENOENT)".
func (e Errno) Error() string {
	if e == ErrClosed {
		return "store is closed (SPL_ECLOSED)"
	}
	return C.GoString(C.spl_strerror(C.int(e))) + " (" + e.Name() + ")"
}

// Is lets the standard sentinels match too: ErrNotFound is fs.ErrNotExist,
// ErrExist is fs.ErrExist, ErrAccess fs.ErrPermission, ErrTimedOut
// os.ErrDeadlineExceeded, ErrClosed fs.ErrClosed.
func (e Errno) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e == ErrNotFound
	case fs.ErrExist:
		return e == ErrExist
	case fs.ErrPermission:
		return e == ErrAccess
	case os.ErrDeadlineExceeded:
		return e == ErrTimedOut
	case fs.ErrClosed:
		return e == ErrClosed
	}
	return false
}

// Temporary reports contention (SPL_EAGAIN): trying again may succeed.
func (e Errno) Temporary() bool { return e == ErrAgain }

// Timeout reports SPL_ETIMEDOUT.
func (e Errno) Timeout() bool { return e == ErrTimedOut }

// Error is what every failing call returns: the operation, the key (if
// any), and the code, which errors.Is and errors.As reach through Unwrap.
type Error struct {
	Op   string // "get", "set", "open", ...
	Key  string // the key or store name, if the operation had one
	Code Errno
}

func (e *Error) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("splinter: %s %q: %v", e.Op, e.Key, e.Code)
	}
	return fmt.Sprintf("splinter: %s: %v", e.Op, e.Code)
}

func (e *Error) Unwrap() error { return e.Code }

func mkerr(op, key string, rc C.int) error {
	if rc >= 0 {
		return nil
	}
	return &Error{Op: op, Key: key, Code: Errno(rc)}
}

// Code returns the Errno inside err, or 0 when err is nil or not one of ours.
func Code(err error) Errno {
	var e Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
