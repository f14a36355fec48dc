// Command splbench times get, set and view (zero copy: View, a byte read,
// Valid) of 64-byte values through the Go binding against the C baseline
// of bench/bindings/c_loop.h (one cgo call runs the whole C loop) on the
// same store and keys, in the same process.
// The workload is the one every binding's bench runs (c_loop.h,
// bench/bindings/README.md): 100,000 keys "key:%08u", hot = 8 keys in turn,
// random = xorshift32.  Rounds alternate C and Go; the figure is the
// fastest round (the least disturbed by other work on the machine), the
// median beside it.  C is given two ways: pipelined (a C loop, the CPU
// overlapping successive gets' cache misses) and dependent (each get
// waits for the previous one's value: one get's latency).
//
// It also times the floors of any cgo binding, in the same run: an empty
// cgo call, an empty C function called with a get's arguments the way
// GetInto calls spl_get (a string key, a Go buffer), and a 64-byte
// allocation (what Get adds to GetInto).
//
//	go run ./cmd/splbench [-keys 100000] [-ops 200000] [-rounds 15] [-json]
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../../../../include -I${SRCDIR}/../../../../bench/bindings -O2
#include <stdint.h>
#include <stdlib.h>
#include "c_loop.h"

static uint64_t c_loop(void *store, const char *names, const uint32_t *order, size_t n, int op, int dep,
                       const void *val, size_t len)
{
	return splb_loop(store, names, order, n, op, dep, val, len);
}

static void c_noop(void) {}

// The shape of the binding's gospl_get_r: the store as an integer, a Go
// string key, a Go buffer (cgo checks that pointer), a small struct back.
typedef struct { int rc; size_t n; } noop_res;
static noop_res c_noop_get(uintptr_t h, _GoString_ key, void *buf, size_t cap, uint32_t retry_us)
{
	size_t n = 0;
	noop_res r = {splb_noop((spl_store *)h, _GoStringPtr(key), buf, cap, &n), n};
	(void)retry_us;
	return r;
}
*/
import "C"

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"
	"unsafe"

	"splinter.local/splinter"
)

type result struct {
	Op          string  `json:"op"`
	Pattern     string  `json:"pattern"`
	CNs         float64 `json:"c_ns"`
	CDepNs      float64 `json:"c_dep_ns"`
	GoNs        float64 `json:"go_ns"`
	OverheadNs  float64 `json:"overhead_ns"`
	OverDepNs   float64 `json:"overhead_dep_ns"`
	CMedianNs   float64 `json:"c_median_ns"`
	GoMedianNs  float64 `json:"go_median_ns"`
	TargetMetNs bool    `json:"meets_target"`
}

const target = 100.0 // ns over C (pipelined)

var sinkB []byte  // keeps the allocation floor's slices on the heap
var sinkByte byte // what the view loop read

func main() {
	nkeys := flag.Int("keys", 100000, "keys in the store")
	ops := flag.Int("ops", 200000, "operations per round")
	rounds := flag.Int("rounds", 15, "rounds per figure")
	asJSON := flag.Bool("json", false, "print one JSON object")
	flag.Parse()
	if *nkeys < 8 || *ops < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "splbench: -keys >= 8, -ops >= 1, -rounds >= 1")
		os.Exit(2)
	}

	s, err := splinter.Create("", &splinter.Options{Backing: splinter.BackingMemfd,
		Slots: uint32(C.splb_slots(C.uint32_t(*nkeys))), KeyMax: 32, ValMax: C.SPLB_VAL_LEN})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer s.Close()
	value := make([]byte, C.SPLB_VAL_LEN)
	for i := range value {
		value[i] = 0x5a
	}
	// The C loop's keys, in C memory; Go's are Go strings of the same bytes,
	// laid out as C's: substrings of one string, key i at i * stride.  Each
	// loop makes key i from its index (no load), so a Go get reads its key
	// with one miss, as C's does.  A []string of separately allocated keys
	// costs a second miss per random key (its string header, then its
	// bytes): 15-60 ns a random get in A/B runs (bench/bindings/README.md),
	// the workload's cost, not the binding's.
	cnames := (*C.char)(C.malloc(C.size_t(*nkeys) * C.SPLB_KEY_STRIDE))
	C.splb_names(cnames, C.uint32_t(*nkeys))
	const keyLen = 12 // "key:%08d"
	slab := C.GoStringN(cnames, C.int(*nkeys*C.SPLB_KEY_STRIDE))
	keyAt := func(i uint32) string {
		o := int(i) * C.SPLB_KEY_STRIDE
		return slab[o : o+keyLen]
	}
	for i := 0; i < *nkeys; i++ {
		if k, want := keyAt(uint32(i)), fmt.Sprintf("key:%08d", i); k != want {
			panic("key layout: " + k + " != " + want)
		}
		if err := s.Set(keyAt(uint32(i)), value); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	// The order is made in C (c_loop.h) and copied for the Go loop.
	orderOf := func(random bool) (*C.uint32_t, []uint32) {
		r := C.int(0)
		if random {
			r = 1
		}
		p := (*C.uint32_t)(C.malloc(C.size_t(*ops) * 4))
		C.splb_order(p, C.size_t(*ops), C.uint32_t(*nkeys), r)
		return p, append([]uint32(nil), unsafe.Slice((*uint32)(unsafe.Pointer(p)), *ops)...)
	}
	cval := C.CBytes(value)

	buf := make([]byte, 64)
	var batches [][]*splinter.Key
	mbuf, mlens := make([]byte, 64*64), make([]int, 64)
	goLoop := func(op string, order []uint32) float64 {
		t0 := time.Now()
		switch op {
		case "get":
			for _, i := range order {
				if _, err := s.Get(keyAt(uint32(i))); err != nil {
					panic(err)
				}
			}
		case "getMany64":
			for _, b := range batches {
				if _, err := s.GetMany(b); err != nil {
					panic(err)
				}
			}
			return float64(time.Since(t0).Nanoseconds()) / float64(len(batches)*64)
		case "getManyInto64":
			for _, b := range batches {
				if _, err := s.GetManyInto(b, mbuf, 64, mlens); err != nil {
					panic(err)
				}
			}
			return float64(time.Since(t0).Nanoseconds()) / float64(len(batches)*64)
		case "view":
			for _, i := range order {
				v, err := s.View(keyAt(uint32(i)))
				if err != nil {
					panic(err)
				}
				sinkByte ^= v.Bytes[0]
				if !v.Valid() {
					panic("view: not valid on a quiet store")
				}
			}
		case "getInto":
			for _, i := range order {
				if _, err := s.GetInto(keyAt(uint32(i)), buf); err != nil {
					panic(err)
				}
			}
		default:
			for _, i := range order {
				if err := s.Set(keyAt(uint32(i)), value); err != nil {
					panic(err)
				}
			}
		}
		return float64(time.Since(t0).Nanoseconds()) / float64(len(order))
	}
	cLoop := func(op string, order *C.uint32_t, dep int) float64 {
		cop := C.int(0)
		if op == "set" {
			cop = 1
		} else if op == "view" {
			cop = 2
		}
		ns := C.c_loop(s.CStore(), cnames, order, C.size_t(*ops), cop, C.int(dep), cval, C.SPLB_VAL_LEN)
		if ns == 0 {
			panic("C loop failed")
		}
		return float64(ns) / float64(*ops)
	}
	median := func(a []float64) float64 {
		b := append([]float64(nil), a...)
		sort.Float64s(b)
		return b[len(b)/2]
	}
	min := func(a []float64) float64 {
		m := a[0]
		for _, x := range a {
			if x < m {
				m = x
			}
		}
		return m
	}
	timed := func(f func()) float64 {
		var ns []float64
		for r := 0; r < *rounds; r++ {
			t0 := time.Now()
			f()
			ns = append(ns, float64(time.Since(t0).Nanoseconds())/float64(*ops))
		}
		return round1(min(ns))
	}
	// The floors, timed the same way, in the hot case's loop (so with its
	// key lookups in Go).
	h := C.uintptr_t(uintptr(s.CStore()))
	hotC, hot := orderOf(false)
	C.free(unsafe.Pointer(hotC))
	floors := map[string]float64{
		"cgo_call_ns": timed(func() {
			for range hot {
				C.c_noop()
			}
		}),
		"cgo_get_shape_ns": timed(func() {
			for _, i := range hot {
				C.c_noop_get(h, keyAt(uint32(i)), unsafe.Pointer(&buf[0]), C.size_t(len(buf)), 0)
			}
		}),
		"alloc64_ns": timed(func() {
			for range hot {
				sinkB = make([]byte, 64)
			}
		}),
	}
	var results []result
	var pk []*splinter.Key
	for _, op := range []string{"get", "getInto", "set", "view", "getMany64", "getManyInto64"} {
		if op == "getMany64" && pk == nil {
			// Batches of 64 prepared keys in one GetMany (GetManyInto: no
			// allocation): last, as the 100,000
			// prepared keys (C memory, finalizers) would weigh on the other
			// cases' collections.
			pk = make([]*splinter.Key, *nkeys)
			for i := range pk {
				if pk[i], err = s.Prepare(keyAt(uint32(i))); err != nil {
					panic(err)
				}
			}
		}
		for _, pattern := range []string{"hot", "random"} {
			co, order := orderOf(pattern == "random")
			if op == "getMany64" || op == "getManyInto64" {
				batches = batches[:0]
				for j := 0; j+64 <= len(order); j += 64 {
					b := make([]*splinter.Key, 64)
					for k := range b {
						b[k] = pk[order[j+k]]
					}
					batches = append(batches, b)
				}
			}
			goLoop(op, order) // warm up
			cLoop(op, co, 0)
			runtime.GC() // no collection left running from the case before
			var cs, ds, gs []float64
			for r := 0; r < *rounds; r++ {
				cs = append(cs, cLoop(op, co, 0))
				ds = append(ds, cLoop(op, co, 1))
				gs = append(gs, goLoop(op, order))
			}
			C.free(unsafe.Pointer(co))
			cm, dm, gm := min(cs), min(ds), min(gs)
			results = append(results, result{Op: op, Pattern: pattern, CNs: round1(cm), CDepNs: round1(dm),
				GoNs: round1(gm), OverheadNs: round1(gm - cm), OverDepNs: round1(gm - dm),
				CMedianNs: round1(median(cs)), GoMedianNs: round1(median(gs)), TargetMetNs: gm-cm <= target})
		}
	}
	for _, k := range pk {
		k.Close()
	}
	C.free(unsafe.Pointer(cnames))
	C.free(cval)
	if *asJSON {
		out := map[string]any{"lang": "go", "go": runtime.Version(), "keys": *nkeys, "ops": *ops, "rounds": *rounds,
			"value_bytes": 64, "target_overhead_ns": target, "floors": floors, "results": results}
		json.NewEncoder(os.Stdout).Encode(out)
		return
	}
	fmt.Printf("%s: %d keys, 64-byte values, %d rounds of %d ops (fastest round; median in brackets)\n",
		runtime.Version(), *nkeys, *rounds, *ops)
	fmt.Printf("floors: an empty cgo call %.1f ns; an empty C function with a get's arguments %.1f ns; "+
		"a 64-byte allocation %.1f ns\n", floors["cgo_call_ns"], floors["cgo_get_shape_ns"], floors["alloc64_ns"])
	fmt.Printf("%-21s %16s %9s %16s %9s %9s\n", "", "C", "C dep", "go", "go-C", "go-Cdep")
	for _, r := range results {
		note := ""
		if !r.TargetMetNs {
			note = fmt.Sprintf("  (over the %.0f ns target)", target)
		}
		fmt.Printf("%-14s%-7s %7.1f (%6.1f) %9.1f %7.1f (%6.1f) %9.1f %9.1f%s\n",
			r.Op, r.Pattern, r.CNs, r.CMedianNs, r.CDepNs, r.GoNs, r.GoMedianNs, r.OverheadNs, r.OverDepNs, note)
	}
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
