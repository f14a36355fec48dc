//go:build linux && amd64 && go1.19 && !go1.23 && !splinter_cgo

package splinter

// Direct calls through runtime.asmcgocall: fn(a) on the thread's system
// stack (g0), as a cgo call runs it, without the scheduler hand-over
// around it (entersyscall/exitsyscall, whose atomic instructions also keep
// the CPU from overlapping one call's cache misses with the next call's).
// That is sound only for a C function that returns soon and never calls
// back into Go: while it runs, this goroutine's P is not handed off, and a
// stop-the-world waits for it.  direct.c's functions make one library call
// that never sleeps (no *_wait, no integer op, which waits on a busy slot)
// and take no lock but a short internal one.  Toolchains from Go 1.23 on
// refuse this link to a runtime internal; they build direct_cgo.go.

/*
#include "gospl.h"
*/
import "C"

import "unsafe"

const directCalls = true

// No body: its body is the runtime's.  (A cgo package is compiled without
// -complete, so this needs no assembly file; an empty one made the
// external linker mark the program's stack executable.)
//
//go:linkname asmcgocall runtime.asmcgocall
//go:noescape
func asmcgocall(fn, arg unsafe.Pointer) int32

func direct(fn, arg unsafe.Pointer) { asmcgocall(fn, arg) }
