// Command interop is the Go side of the cross-language test
// (tests/interop/run.py): interop STORE ROLE [ARGS]; roles and values as in
// tests/interop/README.md.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"splinter.local/splinter"
)

var langs = []string{"c", "py", "node", "rust", "go"}

const nkeys, hamMin, hamStep = 4, 65536, 16384

func expect(lang string, i int) []byte {
	v := append([]byte{0}, lang...)
	v = append(v, 0)
	for b := 0; b < 256; b++ {
		v = append(v, byte(b))
	}
	return append(v, bytes.Repeat([]byte{byte(255 - i)}, i+1)...)
}

func fail(f string, a ...interface{}) {
	fmt.Printf("FAIL "+f+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: interop STORE kv N|hammer|set KEY VAL|wait KEY WANT")
		os.Exit(2)
	}
	// contention retried for a second, as the Node, Python and Rust
	// workers do (the default is 100 ms): five processes on two CPUs
	// share one counter, and the integer ops wait only that long
	s, err := splinter.Open(os.Args[1], &splinter.Options{Retry: time.Second})
	if err != nil {
		fail("open: %v", err)
	}
	defer s.Close()
	switch os.Args[2] {
	case "kv":
		for i := 0; i < nkeys; i++ {
			if err := s.Set(fmt.Sprintf("go.k%d", i), expect("go", i)); err != nil {
				fail("set: %v", err)
			}
		}
		n, _ := strconv.Atoi(os.Args[3])
		for i := 0; i < n; i++ {
			if _, err := s.Inc("ctr"); err != nil {
				fail("inc: %v", err)
			}
		}
		for _, lang := range langs {
			for i := 0; i < nkeys; i++ {
				key := fmt.Sprintf("%s.k%d", lang, i)
				var got []byte
				for t := 0; t < 3000; t++ {
					if got, err = s.Get(key); err == nil {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if !bytes.Equal(got, expect(lang, i)) {
					fail("%s: differs (%v, %d bytes)", key, err, len(got))
				}
			}
		}
		fmt.Printf("ok go read %d keys\n", len(langs)*nkeys)
	case "hammer":
		for it := 0; ; it++ {
			n := hamMin + (it%8)*hamStep
			if err := s.Set("go.h", bytes.Repeat([]byte{byte(it)}, n)); err != nil {
				fail("hammer: %v", err)
			}
			if _, err := s.Inc("go.hn"); err != nil {
				fail("hammer inc: %v", err)
			}
			if it == 0 {
				fmt.Println("ready")
			}
		}
	case "set": // the time printed is taken just before the write
		t := time.Now().UnixNano()
		if err := s.SetString(os.Args[3], os.Args[4]); err != nil {
			fail("set: %v", err)
		}
		fmt.Printf("wrote %d\n", t)
	case "wait": // wait KEY WANT: sleep until KEY changes (no polling), expect WANT
		key := os.Args[3]
		if _, err := s.Meta(key); err != nil {
			if err := s.SetString(key, "init"); err != nil {
				fail("set: %v", err)
			}
		}
		m, err := s.Meta(key)
		if err != nil {
			fail("meta: %v", err)
		}
		fmt.Println("ready")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ep, err := s.Wait(ctx, key, m.Epoch)
		now := time.Now().UnixNano()
		if err != nil {
			fail("wait: %v", err)
		}
		v, err := s.GetString(key)
		if err != nil || v != os.Args[4] {
			fail("woke at epoch %d: value %q, want %q (%v)", ep, v, os.Args[4], err)
		}
		fmt.Printf("woke %d\n", now)
	default:
		os.Exit(2)
	}
}
