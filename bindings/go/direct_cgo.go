//go:build !(linux && amd64 && go1.19 && !go1.23) || splinter_cgo

package splinter

// Direct calls through one ordinary cgo call (gospl_dcall runs fn(a)):
// the build for other toolchains and platforms, and with the tag
// splinter_cgo.

/*
#include "gospl.h"
*/
import "C"

import "unsafe"

const directCalls = false

func direct(fn, arg unsafe.Pointer) {
	C.gospl_dcall(C.uintptr_t(uintptr(fn)), C.uintptr_t(uintptr(arg)))
}
