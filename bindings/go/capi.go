package splinter

// The cgo settings of the package; the C helpers are in gospl.h.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include -O2
#cgo LDFLAGS: -L${SRCDIR}/../../build -l:libsplinter.a -lpthread -lm
#include "gospl.h"
*/
import "C"

import (
	"unsafe"
)

func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func floatsPtr(v []float32) *C.float {
	if len(v) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&v[0]))
}
