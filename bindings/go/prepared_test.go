package splinter_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"splinter.local/splinter"
)

func TestPreparedKey(t *testing.T) {
	s := memStore(t, &splinter.Options{KeyMax: 64, ValMax: 4096})
	k, err := s.Prepare("temp")
	must(t, err)
	defer k.Close()
	if k.String() != "temp" || k.Store() != s {
		t.Fatal("key or store")
	}
	_, err = k.Get()
	wantErr(t, err, splinter.ErrNotFound)
	must(t, k.SetString("hot"))
	if v, err := k.GetString(); err != nil || v != "hot" {
		t.Fatalf("get %q %v", v, err)
	}
	if v, _ := s.GetString("temp"); v != "hot" {
		t.Fatalf("plain get %q", v)
	}
	big := bytes.Repeat([]byte{7}, 1000)
	must(t, s.Set("temp", big))
	if v, err := k.Get(); err != nil || !bytes.Equal(v, big) {
		t.Fatalf("big get %d %v", len(v), err)
	}
	must(t, k.Unset())
	wantErr(t, k.Unset(), splinter.ErrNotFound)
	c, err := s.Prepare("count")
	must(t, err)
	if v, err := c.Add(5); err != nil || v != 5 {
		t.Fatalf("add %d %v", v, err)
	}
	if v, err := c.Add(-2); err != nil || v != 3 {
		t.Fatalf("add %d %v", v, err)
	}
	_, err = s.Prepare(string(bytes.Repeat([]byte{'k'}, 100)))
	wantErr(t, err, splinter.ErrKeyLen)
	_, err = s.Prepare("a\x00b")
	wantErr(t, err, splinter.ErrInvalid)
	must(t, c.Close())
	must(t, c.Close())
	_, err = c.Get()
	wantErr(t, err, splinter.ErrClosed)
}

func TestPreparedKeyOfAnotherStoreIsRefused(t *testing.T) {
	a := memStore(t, nil)
	b := memStore(t, nil)
	k, err := a.Prepare("a")
	must(t, err)
	must(t, k.SetString("1"))
	_, err = b.GetMany([]*splinter.Key{k})
	wantErr(t, err, splinter.ErrInvalid)
	var e *splinter.Error
	if !errors.As(err, &e) || e.Key != "a" {
		t.Fatalf("error %v", err)
	}
	wantErr(t, b.SetMany([]*splinter.Key{k}, [][]byte{[]byte("2")}), splinter.ErrInvalid)
	if v, _ := k.GetString(); v != "1" {
		t.Fatalf("value %q", v)
	}
	_, err = b.Get("a")
	wantErr(t, err, splinter.ErrNotFound)
}

func TestBatches(t *testing.T) {
	s := memStore(t, &splinter.Options{ValMax: 4096})
	var keys []*splinter.Key
	for _, n := range []string{"a", "b", "missing", "empty", "big"} {
		k, err := s.Prepare(n)
		must(t, err)
		keys = append(keys, k)
	}
	big := bytes.Repeat([]byte{9}, 1000)
	set := []*splinter.Key{keys[0], keys[1], keys[3], keys[4]}
	must(t, s.SetMany(set, [][]byte{[]byte("1"), []byte("22"), {}, big}))
	vals, err := s.GetMany(keys)
	must(t, err)
	want := [][]byte{[]byte("1"), []byte("22"), nil, {}, big}
	for i := range want {
		if !bytes.Equal(vals[i], want[i]) || (want[i] == nil) != (vals[i] == nil) {
			t.Fatalf("key %s: %q, want %q", keys[i], vals[i], want[i])
		}
	}
	if v, err := s.GetMany(nil); err != nil || len(v) != 0 {
		t.Fatal("empty batch")
	}
	// GetManyInto: the values in place; "big" does not fit a stride of 8.
	buf := make([]byte, len(keys)*8)
	lens := make([]int, len(keys))
	found, err := s.GetManyInto(keys, buf, 8, lens)
	wantErr(t, err, splinter.ErrNoBufs)
	if found != 3 || lens[0] != 1 || lens[1] != 2 || lens[2] != -1 || lens[3] != 0 || lens[4] != 1000 {
		t.Fatalf("found %d lens %v", found, lens)
	}
	if string(buf[0:1]) != "1" || string(buf[8:10]) != "22" {
		t.Fatalf("buf %q", buf)
	}
	_, err = s.GetManyInto(keys, buf[:8], 8, lens)
	wantErr(t, err, splinter.ErrInvalid)
	if n, err := s.GetManyInto(nil, nil, 0, nil); n != 0 || err != nil {
		t.Fatal("empty batch")
	}
	// More keys than one spl_get_many call takes (64).
	var many []*splinter.Key
	for i := 0; i < 150; i++ {
		k, err := s.Prepare(fmt.Sprintf("m%03d", i))
		must(t, err)
		if i%3 != 0 {
			must(t, k.SetString(fmt.Sprint(i)))
		}
		many = append(many, k)
	}
	buf = make([]byte, len(many)*4)
	lens = make([]int, len(many))
	found, err = s.GetManyInto(many, buf, 4, lens)
	must(t, err)
	vals, err = s.GetMany(many)
	must(t, err)
	if found != 100 {
		t.Fatalf("found %d", found)
	}
	for i := range many {
		want := fmt.Sprint(i)
		if i%3 == 0 {
			if lens[i] != -1 || vals[i] != nil {
				t.Fatalf("key %d: %d %q", i, lens[i], vals[i])
			}
		} else if string(buf[i*4:i*4+lens[i]]) != want || string(vals[i]) != want {
			t.Fatalf("key %d: %q %q", i, buf[i*4:i*4+lens[i]], vals[i])
		}
	}
	must(t, s.SetMany(nil, nil))
	wantErr(t, s.SetMany(keys[:1], nil), splinter.ErrInvalid)
}
