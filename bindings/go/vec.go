package splinter

/*
#include <stdlib.h>
#include "gospl.h"
*/
import "C"

import "unsafe"

// Metric of a vector search.
type Metric int

const (
	Cosine Metric = C.SPL_METRIC_COSINE // dot / (|q| |x|), higher first
	Dot    Metric = C.SPL_METRIC_DOT    // dot product, higher first
	L2     Metric = C.SPL_METRIC_L2     // Euclidean distance, lower first
)

// VecSet stores vec (VecDim floats) under key, creating the key with an
// empty value if absent.
func (s *Store) VecSet(key string, vec []float32) error {
	if s.s == nil {
		return s.closed("vecSet", key)
	}
	return mkerr("vecSet", key, C.gospl_vec_set(s.s, key, floatsPtr(vec), C.uint32_t(len(vec)), s.retry()))
}

// VecGet returns the key's vector; ErrNotFound (no key) or ErrNoVector.
func (s *Store) VecGet(key string) ([]float32, error) {
	if s.s == nil {
		return nil, s.closed("vecGet", key)
	}
	if s.vecDim == 0 {
		return nil, &Error{Op: "vecGet", Key: key, Code: ErrNotSup}
	}
	out := make([]float32, s.vecDim)
	if rc := C.gospl_vec_get(s.s, key, floatsPtr(out), C.uint32_t(len(out)), s.retry()); rc < 0 {
		return nil, mkerr("vecGet", key, rc)
	}
	return out, nil
}

// VecClear removes the key's vector (key and value stay); ErrNoVector if none.
func (s *Store) VecClear(key string) error { return s.keyop("vecClear", key, 8, 0) }

// Query is a vector search: by Vector, or by the stored vector of Key.
type Query struct {
	Vector    []float32
	Key       string // used when Vector is nil
	K         int    // results wanted, 1..4096 (0 = 10)
	Metric    Metric
	Labels    uint64 // label filter (all bits, or any with LabelsAny); 0 = any
	LabelsAny bool
	Prefix    string
	SkipSelf  bool // query by key: leave that key out
	Threads   int  // split the scan over this many threads (<= 64)
	// ANN asks for an approximate search: answered by the store's running
	// ANN index (the hnsw fragment, `splinterctl insmod hnsw`) when there
	// is one that keeps up, else by the exact scan; Result.Approximate
	// says which answered.
	ANN bool
	EF  int // with ANN: candidates the index keeps (0 = its default; raised to K)
}

// Hit is one search result.
type Hit struct {
	Key   string
	Score float32
	Slot  uint32
	Epoch uint64
}

// Result of a search: hits best first (ties by key bytes ascending).
type Result struct {
	Hits    []Hit
	Scanned uint64 // vectors scored
	Skipped uint64 // vectors skipped: kept changing during the scan
	// Approximate: an ANN index answered (Query.ANN), so some of the exact
	// top-k may be missing; false when the exact scan answered.
	Approximate bool
}

// Search is a top-k search over every stored vector passing the filters:
// exact, or approximate with Query.ANN when an ANN index answers.
func (s *Store) Search(q Query) (Result, error) {
	if s.s == nil {
		return Result{}, s.closed("search", q.Key)
	}
	var cq C.spl_vec_query
	var vec *C.float
	if q.Vector != nil {
		vec = floatsPtr(q.Vector)
		cq.dim = C.uint32_t(len(q.Vector))
	}
	k := q.K
	if k == 0 {
		k = 10
	}
	if k < 0 {
		k = 0
	}
	cq.k = C.uint32_t(k)
	cq.metric = C.spl_metric(q.Metric)
	if q.LabelsAny {
		cq.flags |= C.SPL_F_LABELS_ANY
	}
	if q.SkipSelf {
		cq.flags |= C.SPL_VQ_SKIP_SELF
	}
	if q.ANN {
		cq.flags |= C.SPL_VQ_ANN
	}
	if q.EF < 0 {
		return Result{}, &Error{Op: "search", Key: q.Key, Code: ErrInvalid}
	}
	cq.ef = C.uint32_t(q.EF)
	cq.labels = C.uint64_t(q.Labels)
	cq.threads = C.uint32_t(q.Threads)
	hasPrefix := C.int(0)
	if q.Prefix != "" {
		hasPrefix = 1
	}
	var r *C.spl_vec_result
	if q.Vector != nil && len(q.Vector) == 0 {
		return Result{}, &Error{Op: "search", Code: ErrDim}
	}
	rc := C.gospl_vec_search(s.s, &cq, vec, q.Key, q.Prefix, hasPrefix, &r, s.retry())
	if rc < 0 {
		return Result{}, mkerr("search", q.Key, rc)
	}
	defer C.spl_vec_result_free(r)
	res := Result{Hits: make([]Hit, int(r.n)), Scanned: uint64(r.scanned), Skipped: uint64(r.skipped),
		Approximate: r.flags&C.SPL_VR_ANN != 0}
	for i := range res.Hits {
		h := C.gospl_hit(r, C.uint32_t(i))
		res.Hits[i] = Hit{Key: C.GoStringN(h.key, C.int(h.key_len)), Score: float32(h.score), Slot: uint32(h.slot),
			Epoch: uint64(h.epoch)}
	}
	return res, nil
}

// SIMD is the SIMD path vector search uses ("avx512", "avx2", "sse", "neon", "scalar").
func SIMD() string { return C.GoString(C.spl_vec_simd()) }

// ForceSIMD selects the named SIMD path from now on (ErrNotSup if the CPU cannot run it).
func ForceSIMD(name string) error {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return mkerr("forceSIMD", name, C.spl_vec_simd_force(cs))
}
