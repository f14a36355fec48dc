package splinter_test

import (
	"testing"

	"splinter.local/splinter"
)

// Single calls on one cached key (go test -run XXX -bench . in this
// folder, with make test-go's environment): an integer op by name and by
// prepared key, a metadata read and a metadata write.
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

func BenchmarkMeta(b *testing.B) {
	s, err := splinter.Create("", &splinter.Options{Backing: splinter.BackingMemfd})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.SetString("k", "value"); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := s.Meta("k"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetLabels(b *testing.B) {
	s, err := splinter.Create("", &splinter.Options{Backing: splinter.BackingMemfd})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.SetString("k", "value"); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if err := s.SetLabels("k", 1); err != nil {
			b.Fatal(err)
		}
	}
}
