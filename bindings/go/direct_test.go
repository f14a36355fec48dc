package splinter_test

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"splinter.local/splinter"
)

// goMinor is 19 for go1.19.8; 0 for a development toolchain.
func goMinor() int {
	v := strings.TrimPrefix(runtime.Version(), "go1.")
	if i := strings.IndexAny(v, ".rb "); i >= 0 {
		v = v[:i]
	}
	n, _ := strconv.Atoi(v)
	return n
}

// The hot calls run directly where the toolchain allows it, and only there
// (a build tag gone wrong would quietly give the slower path, or try the
// link where it is refused).  SPL_GO_TAG_CGO: the Makefile's run with
// -tags splinter_cgo.
func TestDirectCalls(t *testing.T) {
	m := goMinor()
	if m == 0 {
		t.Skip("development toolchain:", runtime.Version())
	}
	want := runtime.GOOS == "linux" && runtime.GOARCH == "amd64" && m >= 19 && m <= 22 &&
		os.Getenv("SPL_GO_TAG_CGO") == ""
	if splinter.DirectCalls() != want {
		t.Fatalf("DirectCalls() = %v on %s %s/%s (tag splinter_cgo: %q), want %v", splinter.DirectCalls(),
			runtime.Version(), runtime.GOOS, runtime.GOARCH, os.Getenv("SPL_GO_TAG_CGO"), want)
	}
}

// Goroutines get, set, check and delete their own keys through every
// direct call (views too), with fresh heap buffers, stack buffers and
// prepared keys, while another goroutine forces collections and makes
// garbage: a Go
// pointer the C side still used after the collector freed or moved it
// would show as a wrong byte or a crash.
func TestDirectCallsUnderGC(t *testing.T) {
	s := memStore(t, &splinter.Options{Slots: 4096, KeyMax: 48, ValMax: 2048})
	stop := make(chan struct{})
	var gcs sync.WaitGroup
	gcs.Add(1)
	go func() {
		defer gcs.Done()
		var junk [][]byte
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := 0; i < 64; i++ {
				junk = append(junk, make([]byte, 1+i*37))
			}
			if len(junk) > 4096 {
				junk = nil
			}
			runtime.GC()
		}
	}()
	const workers = 4
	end := time.Now().Add(700 * time.Millisecond)
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			errs <- func() error {
				var stackBuf [2048]byte
				for i := 0; time.Now().Before(end) || i < 200; i++ {
					key := fmt.Sprintf("w%d/key-%d", w, i%50)
					val := bytes.Repeat([]byte{byte(w), byte(i)}, 1+(i*131)%1000)
					if err := s.Set(key, val); err != nil {
						return err
					}
					if got, err := s.Get(key); err != nil || !bytes.Equal(got, val) {
						return fmt.Errorf("get %s: %d bytes, %v", key, len(got), err)
					}
					n, err := s.GetInto(key, stackBuf[:])
					if err != nil || !bytes.Equal(stackBuf[:n], val) {
						return fmt.Errorf("getinto %s: %d bytes, %v", key, n, err)
					}
					small := make([]byte, 1)
					if n, err := s.GetInto(key, small); len(val) > 1 && (!isErr(err, splinter.ErrNoBufs) || n != len(val)) {
						return fmt.Errorf("getinto a short buffer %s: %d, %v", key, n, err)
					}
					if ok, err := s.Exists(key); err != nil || !ok {
						return fmt.Errorf("exists %s: %v %v", key, ok, err)
					}
					v, err := s.View(key)
					if err != nil || !bytes.Equal(v.Bytes, val) || !v.Valid() {
						return fmt.Errorf("view %s: %d bytes, %v", key, len(v.Bytes), err)
					}
					if ok, err := s.CAS(key, v.Epoch+2, val); err != nil || ok {
						return fmt.Errorf("cas %s at a wrong epoch: %v %v", key, ok, err)
					}
					tail := []byte{byte(i), byte(w)}
					if err := s.Append(key, tail); err != nil {
						return err
					}
					val = append(val, tail...)
					m, err := s.Meta(key)
					if err != nil {
						return err
					}
					if err := s.SetLabels(key, 0x50); err != nil {
						return err
					}
					if err := s.ClearLabels(key, 0x10); err != nil {
						return err
					}
					if err := s.SetFlags(key, uint8(i)); err != nil {
						return err
					}
					if err := s.Touch(key); err != nil {
						return err
					}
					if err := s.SetType(key, splinter.TypeBinary); err != nil {
						return err
					}
					m, err = s.Meta(key)
					if err != nil || m.Labels != 0x40 || m.Flags != uint8(i) || m.Type != splinter.TypeBinary ||
						m.Atime.IsZero() || m.Size != uint32(len(val)) {
						return fmt.Errorf("meta %s after the metadata writes: %+v, %v", key, m, err)
					}
					if ok, err := s.CAS(key, m.Epoch, val); err != nil || !ok {
						return fmt.Errorf("cas %s at its epoch: %v %v", key, ok, err)
					}
					if got, err := s.Get(key); err != nil || !bytes.Equal(got, val) {
						return fmt.Errorf("get after append and cas %s: %d bytes, %v", key, len(got), err)
					}
					k, err := s.Prepare(key)
					if err != nil {
						return err
					}
					val2 := append([]byte(nil), val...)
					val2[0] ^= 0xff
					if err := k.Set(val2); err != nil {
						return err
					}
					if got, err := k.Get(); err != nil || !bytes.Equal(got, val2) {
						return fmt.Errorf("prepared get %s: %d bytes, %v", key, len(got), err)
					}
					if i%3 == 0 {
						if err := k.Unset(); err != nil {
							return err
						}
					} else if err := s.Unset(key); err != nil {
						return err
					}
					ck := fmt.Sprintf("w%d/count-%d", w, i%7)
					before, err := s.Add(ck, 0)
					if err != nil {
						return err
					}
					if n, err := s.Add(ck, int64(i)); err != nil || n != before+int64(i) {
						return fmt.Errorf("add %s: %d, %v (had %d)", ck, n, err, before)
					}
					if n, err := s.Inc(ck); err != nil || n != before+int64(i)+1 {
						return fmt.Errorf("inc %s: %d, %v", ck, n, err)
					}
					if n, err := s.Dec(ck); err != nil || n != before+int64(i) {
						return fmt.Errorf("dec %s: %d, %v", ck, n, err)
					}
					if n, err := s.Int(ck, splinter.OpXor, 0); err != nil || int64(n) != before+int64(i) {
						return fmt.Errorf("int %s: %d, %v", ck, n, err)
					}
					kc, err := s.Prepare(ck)
					if err != nil {
						return err
					}
					if n, err := kc.Add(-int64(i)); err != nil || n != before {
						return fmt.Errorf("prepared add %s: %d, %v", ck, n, err)
					}
					kc.Close()
					if _, err := k.Add(1); !isErr(err, splinter.ErrNotFound) && !isErr(err, splinter.ErrType) && err != nil {
						return fmt.Errorf("prepared add on a deleted text key: %v", err)
					}
					if err := s.Unset(key); err != nil && !isErr(err, splinter.ErrNotFound) {
						return err
					}
					k.Close()
					if v.Valid() {
						return fmt.Errorf("view %s still valid after its key was set and deleted", key)
					}
					if ok, err := s.Exists(key); err != nil || ok {
						return fmt.Errorf("exists after unset %s: %v %v", key, ok, err)
					}
				}
				return nil
			}()
		}(w)
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(stop)
	gcs.Wait()
}

func isErr(err error, code splinter.Errno) bool { return splinter.Code(err) == code }

// Bad keys give the library's errors through the direct calls too.
func TestDirectCallsBadKeys(t *testing.T) {
	s := memStore(t, &splinter.Options{KeyMax: 16})
	for _, c := range []struct {
		key  string
		code splinter.Errno
	}{{"a\x00b", splinter.ErrInvalid}, {strings.Repeat("k", 17), splinter.ErrKeyLen},
		{strings.Repeat("k", 100000), splinter.ErrKeyLen}, {"", splinter.ErrKeyLen}} {
		wantErr(t, s.Set(c.key, []byte("v")), c.code)
		_, err := s.Get(c.key)
		wantErr(t, err, c.code)
		_, err = s.GetInto(c.key, make([]byte, 8))
		wantErr(t, err, c.code)
		_, err = s.Exists(c.key)
		wantErr(t, err, c.code)
		wantErr(t, s.Unset(c.key), c.code)
		wantErr(t, s.Append(c.key, []byte("v")), c.code)
		_, err = s.CAS(c.key, 0, []byte("v"))
		wantErr(t, err, c.code)
		_, err = s.Add(c.key, 1)
		wantErr(t, err, c.code)
		_, err = s.Int(c.key, splinter.OpOr, 1)
		wantErr(t, err, c.code)
	}
	for _, c := range []struct {
		key  string
		code splinter.Errno
	}{{"a\x00b", splinter.ErrInvalid}, {strings.Repeat("k", 17), splinter.ErrKeyLen}, {"", splinter.ErrKeyLen},
		{"absent", splinter.ErrNotFound}} {
		_, err := s.Meta(c.key)
		wantErr(t, err, c.code)
		wantErr(t, s.SetType(c.key, splinter.TypeText), c.code)
		wantErr(t, s.SetFlags(c.key, 1), c.code)
		wantErr(t, s.SetLabels(c.key, 1), c.code)
		wantErr(t, s.ClearLabels(c.key, 1), c.code)
		wantErr(t, s.Touch(c.key), c.code)
	}
	_, err := s.Int("k", splinter.IntOp(77), 1)
	wantErr(t, err, splinter.ErrInvalid)
	must(t, s.Set(strings.Repeat("k", 16), []byte("v")))
	if v, err := s.GetString(strings.Repeat("k", 16)); err != nil || v != "v" {
		t.Fatal(v, err)
	}
}

// The calls that take your buffer allocate nothing, direct or not: the
// argument struct stays on the goroutine's stack.
func TestDirectCallsAllocateNothing(t *testing.T) {
	s := memStore(t, nil)
	val := []byte("value")
	must(t, s.Set("k", val))
	k, err := s.Prepare("k")
	must(t, err)
	defer k.Close()
	kn, err := s.Prepare("n")
	must(t, err)
	defer kn.Close()
	buf := make([]byte, 16)
	for name, f := range map[string]func(){
		"GetInto":    func() { s.GetInto("k", buf) },
		"Set":        func() { s.Set("k", val) },
		"Exists":     func() { s.Exists("k") },
		"View":       func() { v, _ := s.View("k"); v.Valid() },
		"Key.Set":    func() { k.Set(val) },
		"Set, Unset": func() { s.Set("u", val); s.Unset("u") },
		"Append":     func() { s.Set("a", val); s.Append("a", val) },
		"CAS":        func() { s.CAS("k", 1, val) },
		"Add, Inc":   func() { s.Add("n", 3); s.Inc("n") },
		"Int":        func() { s.Int("n", splinter.OpXor, 5) },
		"Key.Add":    func() { kn.Add(2) },
		"Meta":       func() { s.Meta("k") },
		"metadata writes": func() {
			s.SetLabels("k", 3)
			s.ClearLabels("k", 1)
			s.SetFlags("k", 2)
			s.Touch("k")
			s.SetType("k", splinter.TypeBinary)
		},
	} {
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s: %v allocations a call", name, n)
		}
	}
}
