package splinter_test

import (
	"testing"

	"splinter.local/splinter"
)

// Single calls on one cached key (go test -run XXX -bench . in this
// folder, with make test-go's environment): an integer op by name and by
// prepared key, a metadata read and a metadata write.

// benchStore is a memfd store holding "k", closed when b ends.
func benchStore(b *testing.B) *splinter.Store {
	s, err := splinter.Create("", &splinter.Options{Backing: splinter.BackingMemfd})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.SetString("k", "value"); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchLoop runs f b.N times, failing at its first error.
func benchLoop(b *testing.B, f func() error) {
	for i := 0; i < b.N; i++ {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	s := benchStore(b)
	benchLoop(b, func() error { _, err := s.Add("counter", 1); return err })
}

func BenchmarkKeyAdd(b *testing.B) {
	s := benchStore(b)
	k, err := s.Prepare("counter")
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	benchLoop(b, func() error { _, err := k.Add(1); return err })
}

func BenchmarkMeta(b *testing.B) {
	s := benchStore(b)
	benchLoop(b, func() error { _, err := s.Meta("k"); return err })
}

func BenchmarkSetLabels(b *testing.B) {
	s := benchStore(b)
	benchLoop(b, func() error { return s.SetLabels("k", 1) })
}
