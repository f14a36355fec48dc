// Command splbench times get and set of 64-byte values through the Go
// binding against the same loop in C (one cgo call runs the whole loop) on
// the same store and keys, in the same run.  Hot: 8 keys in turn (as
// bench/ does); random: uniformly random keys out of -keys.  Rounds
// alternate C and Go; the figure is the fastest round (the least disturbed
// by other work on the machine), with the median beside it.
//
//	go run ./cmd/splbench [-keys 100000] [-ops 200000] [-rounds 15] [-json]
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../../../../include -O2
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include "splinter.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// op 0: spl_get into a 64-byte buffer; 1: spl_set of val.  Returns ns, or
// 0 if a call failed.
static uint64_t c_loop(void *store, char **keys, const uint32_t *order, size_t n, int op,
                       const void *val, size_t len)
{
	spl_store *s = store;
	char buf[64];
	size_t got;
	int bad = 0;
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		const char *k = keys[order[i]];
		bad |= op == 0 ? spl_get(s, k, buf, sizeof buf, &got) : spl_set(s, k, val, len);
	}
	uint64_t t1 = now_ns();
	return bad < 0 ? 0 : t1 - t0;
}

static int c_noop(int x) { return x; }
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
	GoNs        float64 `json:"go_ns"`
	OverheadNs  float64 `json:"overhead_ns"`
	CMedianNs   float64 `json:"c_median_ns"`
	GoMedianNs  float64 `json:"go_median_ns"`
	TargetMetNs bool    `json:"meets_target"`
}

const target = 100.0 // ns over C

func main() {
	nkeys := flag.Int("keys", 100000, "keys in the store")
	ops := flag.Int("ops", 200000, "operations per round")
	rounds := flag.Int("rounds", 15, "rounds per figure")
	asJSON := flag.Bool("json", false, "print one JSON object")
	flag.Parse()

	slots := uint32(1)
	for float64(slots) < float64(*nkeys)*2.5 {
		slots *= 2
	}
	s, err := splinter.Create("", &splinter.Options{Backing: splinter.BackingMemfd, Slots: slots, KeyMax: 32, ValMax: 64})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer s.Close()
	value := make([]byte, 64)
	for i := range value {
		value[i] = 0x5a
	}
	keys := make([]string, *nkeys)
	ckeys := C.malloc(C.size_t(*nkeys) * C.size_t(unsafe.Sizeof(uintptr(0))))
	ck := unsafe.Slice((**C.char)(ckeys), *nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%07d", i)
		ck[i] = C.CString(keys[i])
		if err := s.Set(keys[i], value); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	orderOf := func(random bool) []uint32 {
		o := make([]uint32, *ops)
		x := uint32(0x9e3779b9)
		for i := range o {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			if random {
				o[i] = x % uint32(*nkeys)
			} else {
				o[i] = uint32(i&7) * uint32(*nkeys/8)
			}
		}
		return o
	}
	// The order lives in C memory for the C loop (no Go pointer crosses).
	corder := func(o []uint32) *C.uint32_t {
		p := C.malloc(C.size_t(len(o)) * 4)
		copy(unsafe.Slice((*uint32)(p), len(o)), o)
		return (*C.uint32_t)(p)
	}
	cval := C.CBytes(value)

	buf := make([]byte, 64)
	goLoop := func(op string, order []uint32) float64 {
		t0 := time.Now()
		switch op {
		case "get":
			for _, i := range order {
				if _, err := s.Get(keys[i]); err != nil {
					panic(err)
				}
			}
		case "getInto":
			for _, i := range order {
				if _, err := s.GetInto(keys[i], buf); err != nil {
					panic(err)
				}
			}
		default:
			for _, i := range order {
				if err := s.Set(keys[i], value); err != nil {
					panic(err)
				}
			}
		}
		return float64(time.Since(t0).Nanoseconds()) / float64(len(order))
	}
	cLoop := func(op string, order *C.uint32_t) float64 {
		cop := C.int(0)
		if op == "set" {
			cop = 1
		}
		ns := C.c_loop(s.CStore(), (**C.char)(ckeys), order, C.size_t(*ops), cop, cval, 64)
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
	// The floor of any cgo binding: one empty cgo call, timed the same way.
	noop := func() float64 {
		t0 := time.Now()
		for i := 0; i < *ops; i++ {
			C.c_noop(C.int(i))
		}
		return float64(time.Since(t0).Nanoseconds()) / float64(*ops)
	}
	var ns []float64
	for r := 0; r < *rounds; r++ {
		ns = append(ns, noop())
	}
	cgoCall := round1(min(ns))
	var results []result
	for _, op := range []string{"get", "getInto", "set"} {
		for _, pattern := range []string{"hot", "random"} {
			order := orderOf(pattern == "random")
			co := corder(order)
			goLoop(op, order) // warm up
			cLoop(op, co)
			runtime.GC() // no collection left running from the case before
			var cs, gs []float64
			for r := 0; r < *rounds; r++ {
				cs = append(cs, cLoop(op, co))
				gs = append(gs, goLoop(op, order))
			}
			C.free(unsafe.Pointer(co))
			cm, gm := min(cs), min(gs)
			results = append(results, result{Op: op, Pattern: pattern, CNs: round1(cm), GoNs: round1(gm),
				OverheadNs: round1(gm - cm), CMedianNs: round1(median(cs)), GoMedianNs: round1(median(gs)),
				TargetMetNs: gm-cm <= target})
		}
	}
	if *asJSON {
		out := map[string]any{"lang": "go", "go": runtime.Version(), "keys": *nkeys, "ops": *ops, "rounds": *rounds,
			"value_bytes": 64, "target_overhead_ns": target, "cgo_call_ns": cgoCall, "results": results}
		json.NewEncoder(os.Stdout).Encode(out)
		return
	}
	fmt.Printf("%s: %d keys, 64-byte values, %d rounds of %d ops (fastest round; median in brackets)\n",
		runtime.Version(), *nkeys, *rounds, *ops)
	fmt.Printf("an empty cgo call: %.1f ns (the floor of any cgo binding's overhead)\n", cgoCall)
	for _, r := range results {
		note := ""
		if !r.TargetMetNs {
			note = fmt.Sprintf("  (over the %.0f ns target)", target)
		}
		fmt.Printf("%-8s%-7s C %7.1f ns (%.1f)  go %7.1f ns (%.1f)  overhead %7.1f ns%s\n",
			r.Op, r.Pattern, r.CNs, r.CMedianNs, r.GoNs, r.GoMedianNs, r.OverheadNs, note)
	}
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
