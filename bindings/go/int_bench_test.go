package splinter_test

import (
	"testing"

	"splinter.local/splinter"
)

// go test -run XXX -bench Add (with make test-go's environment): an
// integer op on one cached counter, by name and by prepared key.
func BenchmarkAdd(b *testing.B) {
	s, err := splinter.Create("", &splinter.Options{Backing: splinter.BackingMemfd})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < b.N; i++ {
		if _, err := s.Add("counter", 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyAdd(b *testing.B) {
	s, err := splinter.Create("", &splinter.Options{Backing: splinter.BackingMemfd})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	k, err := s.Prepare("counter")
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	for i := 0; i < b.N; i++ {
		if _, err := k.Add(1); err != nil {
			b.Fatal(err)
		}
	}
}
