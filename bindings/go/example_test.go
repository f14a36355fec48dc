package splinter_test

import (
	"context"
	"errors"
	"fmt"

	"splinter.local/splinter"
)

// The README's quick start.
func Example() {
	s, _ := splinter.OpenOrCreate("go-example", &splinter.Options{Slots: 4096})
	defer splinter.Destroy("go-example", nil)
	s.SetString("greeting", "hello")
	v, _ := s.GetString("greeting")
	_, err := s.Get("missing")
	fmt.Println(v, errors.Is(err, splinter.ErrNotFound))
	sub, _ := s.WatchKey(context.Background(), "greeting", 3) // this key's changes
	s.SetString("greeting", "hi")                             // (any process may write)
	ev := <-sub.C
	fmt.Println(ev.Kind, ev.Key)
	s.Close()
	// Output:
	// hello true
	// changed greeting
}
