package splinter_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"splinter.local/splinter"
)

// Approximate search through the hnsw fragment: a named store with a few
// hundred vectors, the host started with splinterctl ($SPLCTL, else the
// repository's build/splinterctl, which finds build/fragments/hnsw.so
// beside it).  Exact while no instance runs (before insmod, after rmmod);
// flagged approximate, top-1 right and recall@10 >= 0.9 while one does.

const annN, annDim = 300, 16

// lcg gives deterministic vectors in [-0.5, 0.5): a failure reproduces.
type lcg uint64

func (g *lcg) vector() []float32 {
	v := make([]float32, annDim)
	for i := range v {
		*g = *g*6364136223846793005 + 1442695040888963407
		v[i] = float32(uint64(*g)>>40)/float32(1<<24) - 0.5
	}
	return v
}

func splinterctl(t *testing.T) string {
	if p := os.Getenv("SPLCTL"); p != "" {
		return p // set by the Makefile: must be there
	}
	p, _ := filepath.Abs("../../build/splinterctl")
	if _, err := os.Stat(p); err != nil {
		t.Skip("SKIPPED: no build/splinterctl (make cli fragments)")
	}
	return p
}

var hostPid = regexp.MustCompile(`"host_pid":([0-9]+)`)

func TestANNSearch(t *testing.T) {
	needVectors(t)
	ctl := splinterctl(t)
	name := fmt.Sprintf("go-ann-%d", os.Getpid())
	s, err := splinter.Create(name, &splinter.Options{Slots: 1024, KeyMax: 32, ValMax: 16, VecDim: annDim})
	must(t, err)
	t.Cleanup(func() {
		s.Close()
		splinter.Destroy(name, nil)
	})
	run := func(args ...string) (string, error) {
		out, err := exec.Command(ctl, append([]string{"--store", name}, args...)...).CombinedOutput()
		return string(out), err
	}
	// the host stopped and the index region removed, also on failure; a
	// host that did not stop is killed by its pid
	t.Cleanup(func() {
		ls, _ := run("lsmod", "--json")
		run("rmmod", "--purge", "hnsw")
		for _, m := range hostPid.FindAllStringSubmatch(ls, -1) {
			if pid, _ := strconv.Atoi(m[1]); pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	g := lcg(0x5eed)
	vecs := make([][]float32, annN)
	for i := range vecs {
		vecs[i] = g.vector()
		must(t, s.VecSet(fmt.Sprintf("k%d", i), vecs[i]))
	}
	search := func(q splinter.Query) splinter.Result {
		t.Helper()
		r, err := s.Search(q)
		must(t, err)
		return r
	}
	keys := func(r splinter.Result) string {
		out := []string{}
		for _, h := range r.Hits {
			out = append(out, h.Key)
		}
		return strings.Join(out, " ")
	}
	// the handle looks at the registry again at most every 100 ms (src/ann.c)
	pastRecheck := func() { time.Sleep(300 * time.Millisecond) }

	q := g.vector()
	exact := search(splinter.Query{Vector: q, K: 10})
	if exact.Approximate {
		t.Fatal("an exact search flagged approximate")
	}
	_, err = s.Search(splinter.Query{Vector: q, K: 10, ANN: true, EF: -1})
	wantErr(t, err, splinter.ErrInvalid)
	// no instance yet: the exact scan answers, not flagged
	if r := search(splinter.Query{Vector: q, K: 10, ANN: true, EF: 64}); r.Approximate || keys(r) != keys(exact) {
		t.Fatalf("no hnsw running: approximate %v, %q (exact %q)", r.Approximate, keys(r), keys(exact))
	}

	if out, err := run("insmod", "hnsw"); err != nil || !strings.HasPrefix(out, "hnsw: running") {
		t.Fatalf("insmod: %v: %s", err, out)
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, err := run("frag", "hnsw", "stats")
		var stats struct {
			State string
			Nodes int
		}
		if err == nil && json.Unmarshal([]byte(st), &stats) == nil && stats.State == "ready" && stats.Nodes == annN {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("hnsw not ready after 30 s: %v: %s", err, st)
		}
	}
	pastRecheck()

	// stored vectors: flagged approximate, each its own top-1
	for i := 0; i < annN; i += 15 {
		r := search(splinter.Query{Vector: vecs[i], K: 1, ANN: true, EF: 64})
		if !r.Approximate {
			t.Fatalf("k%d: not answered by the index", i)
		}
		if keys(r) != fmt.Sprintf("k%d", i) {
			t.Fatalf("top-1 of k%d: %q", i, keys(r))
		}
	}
	// recall@10 against the exact search over random queries
	found, total := 0, 0
	for j := 0; j < 20; j++ {
		v := g.vector()
		a := search(splinter.Query{Vector: v, K: 10, ANN: true, EF: 64})
		e := search(splinter.Query{Vector: v, K: 10})
		if !a.Approximate || e.Approximate {
			t.Fatalf("flags: ann %v, exact %v", a.Approximate, e.Approximate)
		}
		in := map[string]bool{}
		for _, h := range e.Hits {
			in[h.Key] = true
		}
		for _, h := range a.Hits {
			if in[h.Key] {
				found++
			}
		}
		total += len(e.Hits)
	}
	if recall := float64(found) / float64(total); recall < 0.9 {
		t.Fatalf("recall@10 %.3f (%d of %d)", recall, found, total)
	}

	// rmmod: exact again
	if out, err := run("rmmod", "hnsw"); err != nil {
		t.Fatalf("rmmod: %v: %s", err, out)
	}
	pastRecheck()
	if r := search(splinter.Query{Vector: q, K: 10, ANN: true}); r.Approximate || keys(r) != keys(exact) {
		t.Fatalf("after rmmod: approximate %v, %q (exact %q)", r.Approximate, keys(r), keys(exact))
	}
}
