package splinter_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"splinter.local/splinter"
)

// meminfo is the number of a /proc/meminfo line ("Hugepagesize" in kB);
// 0 when the line is missing.
func meminfo(t *testing.T, name string) uint64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == name {
			n, err := strconv.ParseUint(strings.Fields(v)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}

// HugePages reaches the library: with no huge page free the create is
// ErrNoHuge (a dropped option would give a store on normal pages), else the
// store's pages are the system's huge page size.
func TestHugePages(t *testing.T) {
	// pages another mapping reserved count as free but cannot be had
	free := int64(meminfo(t, "HugePages_Free")) - int64(meminfo(t, "HugePages_Rsvd"))
	size := meminfo(t, "Hugepagesize") * 1024
	for _, hp := range []uint32{splinter.HugePagesDefault, uint32(size)} {
		if hp == 0 {
			continue // no Hugepagesize line: the default size alone
		}
		o := &splinter.Options{Backing: splinter.BackingMemfd, Slots: 16, ValMax: 64, HugePages: hp}
		s, err := splinter.Create("", o)
		if free <= 0 {
			if err == nil {
				s.Close()
			}
			wantErr(t, err, splinter.ErrNoHuge)
			continue
		}
		must(t, err)
		in, err := s.Info()
		s.Close()
		must(t, err)
		if in.PageBytes != size {
			t.Fatalf("HugePages %d: PageBytes %d, want %d", hp, in.PageBytes, size)
		}
	}
}

// numaBuild: the library reports a policy on a plain store (NumaDefault);
// without NUMA in the build (or the kernel) it says NumaUnknown.
func numaBuild(t *testing.T) bool {
	in, err := memStore(t, nil).Info()
	must(t, err)
	return in.NumaMode != splinter.NumaUnknown
}

func TestNumaBind(t *testing.T) {
	numa := numaBuild(t)
	bind := func(nodes uint64) (*splinter.Store, error) {
		return splinter.Create("", &splinter.Options{Backing: splinter.BackingMemfd, Slots: 16,
			NumaMode: splinter.NumaBind, NumaNodes: nodes})
	}
	// Node 63 does not exist here: never a store.
	s, err := bind(1 << 63)
	if err == nil {
		s.Close()
		t.Fatal("NumaBind on node 63 made a store")
	}
	if numa {
		wantErr(t, err, splinter.ErrNoNode)
	} else {
		wantErr(t, err, splinter.ErrNotSup)
	}
	// Node 0: bound there, or no NUMA at all.
	s, err = bind(1)
	if !numa {
		if err == nil {
			s.Close()
		}
		wantErr(t, err, splinter.ErrNotSup)
		t.Log("no NUMA in this build: node 0 is ErrNotSup")
		return
	}
	if err != nil {
		wantErr(t, err, splinter.ErrNotSup)
		t.Log("NUMA build, but node 0 is ErrNotSup (a kernel without NUMA)")
		return
	}
	defer s.Close()
	must(t, s.SetString("k", "v"))
	in, err := s.Info()
	must(t, err)
	if in.NumaMode != splinter.NumaBind || in.NumaNodes != 1 || in.NumaMode.String() != "bind" {
		t.Fatalf("NumaBind node 0: info says %v nodes %#x", in.NumaMode, in.NumaNodes)
	}
	if in.NumaSampled == 0 || in.NumaPages[0] == 0 || in.NumaPages[0]+in.NumaAbsent != in.NumaSampled {
		t.Fatalf("pages: sampled %d, absent %d, on node 0 %d", in.NumaSampled, in.NumaAbsent, in.NumaPages[0])
	}
	t.Logf("bound to node 0: %d of %d sampled pages there, %d absent", in.NumaPages[0], in.NumaSampled, in.NumaAbsent)
}

// VecCells sizes the cell arena: two cells hold two keys' vectors, and a
// third key's vector has no cell.
func TestVecCells(t *testing.T) {
	needVectors(t)
	s := memStore(t, &splinter.Options{VecDim: 4, VecCells: 2})
	in, err := s.Info()
	must(t, err)
	if in.Cells != 2 || in.CellsUsed != 0 {
		t.Fatalf("cells %d used %d, want 2 and 0", in.Cells, in.CellsUsed)
	}
	v := []float32{1, 2, 3, 4}
	must(t, s.VecSet("a", v))
	must(t, s.VecSet("b", v))
	must(t, s.VecSet("a", []float32{4, 3, 2, 1})) // a rewrite needs no spare cell
	if in, _ = s.Info(); in.CellsUsed != 2 {
		t.Fatalf("cells used %d, want 2", in.CellsUsed)
	}
	wantErr(t, s.VecSet("c", v), splinter.ErrNoCell)
}

func TestInfoIdentityAndMemory(t *testing.T) {
	s, name := shmStore(t, nil)
	must(t, s.SetString("k", "v"))
	in, err := s.Info()
	must(t, err)
	if in.PageBytes != uint64(os.Getpagesize()) {
		t.Fatalf("PageBytes %d, want %d", in.PageBytes, os.Getpagesize())
	}
	if in.StoreID == 0 {
		t.Fatal("StoreID 0")
	}
	if in.ResidentBytes == 0 || in.ResidentBytes > in.RegionBytes {
		t.Fatalf("ResidentBytes %d of RegionBytes %d", in.ResidentBytes, in.RegionBytes)
	}
	if in.Cells != 0 || in.CellsUsed != 0 {
		t.Fatalf("no vectors, yet cells %d used %d", in.Cells, in.CellsUsed)
	}
	o, err := splinter.Open(name, nil)
	must(t, err)
	defer o.Close()
	if oin, _ := o.Info(); oin.StoreID != in.StoreID {
		t.Fatalf("second handle: StoreID %#x, want %#x", oin.StoreID, in.StoreID)
	}
	other, _ := shmStore(t, nil)
	if oin, _ := other.Info(); oin.StoreID == in.StoreID || oin.StoreID == 0 {
		t.Fatalf("another store: StoreID %#x (this one %#x)", oin.StoreID, in.StoreID)
	}
}
