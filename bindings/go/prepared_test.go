package splinter_test

import (
	"bytes"
	"errors"
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
	must(t, s.SetMany(nil, nil))
	wantErr(t, s.SetMany(keys[:1], nil), splinter.ErrInvalid)
}
