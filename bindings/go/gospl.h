/*
 * gospl.h - the C side of the Go binding: small helpers around
 * include/splinter.h, included by the preamble of every Go file of the
 * package (so everything here is static inline).  Keys cross as Go strings
 * (_GoString_) and are copied to a NUL-terminated buffer on the C stack:
 * no call allocates for its key; results come back as small structs.
 */
#ifndef GOSPL_H
#define GOSPL_H
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "splinter.h"

#include "gokey.h"
#include "direct.h"

#define GOSPL_KEY(name, gs) GOSPL_KEY_COPY(name, _GoStringPtr(gs), _GoStringLen(gs), return SPL_EINVAL)

typedef struct { int rc; size_t n; } gospl_res;


// Retry CALL while it returns SPL_EAGAIN, for up to retry_us, waiting
// between tries as the *_wait calls do (spl_retry_pause: a short spin, a
// yield, then asleep on KEY's busy slot until its writer commits, a dead
// writer recovered).  S: the store; KEY: the NUL-terminated key CALL uses
// (NULL for a call of no one key: a back-off without a sleep on a slot);
// WRITE: 1 if CALL writes KEY, 0 if it only reads.  The first try pays
// nothing for the wait.
#define GOSPL_RETRY(rc, retry_us, S, KEY, WRITE, CALL)                         \
	do {                                                                       \
		rc = (CALL);                                                           \
		if (rc == SPL_EAGAIN && (retry_us)) {                                  \
			spl_retry r_;                                                      \
			spl_retry_init(&r_, (retry_us));                                   \
			while (rc == SPL_EAGAIN && spl_retry_pause((S), (KEY), (WRITE), &r_) == 0) \
				rc = (CALL);                                                   \
		}                                                                      \
	} while (0)

static inline int gospl_get(spl_store *s, _GoString_ key, void *buf, size_t cap, uint32_t retry_us, size_t *n)
{
	GOSPL_KEY(k, key);
	int rc = spl_get(s, k, buf, cap, n);
	if (rc == SPL_EAGAIN && retry_us)
		rc = spl_get_wait(s, k, buf, cap, n, retry_us);
	return rc;
}


static inline gospl_res gospl_get_r(uintptr_t h, _GoString_ key, void *buf, size_t cap, uint32_t retry_us)
{
	gospl_res r = {0, 0};
	r.rc = gospl_get(GOSPL_S(h), key, buf, cap, retry_us, &r.n);
	return r;
}

static inline int gospl_set_h(uintptr_t h, _GoString_ key, const void *val, size_t len, uint32_t retry_us);
static inline int gospl_set(spl_store *s, _GoString_ key, const void *val, size_t len, uint32_t retry_us)
{
	GOSPL_KEY(k, key);
	int rc = spl_set(s, k, val, len);
	if (rc == SPL_EAGAIN && retry_us)
		rc = spl_set_wait(s, k, val, len, retry_us);
	return rc;
}

static inline int gospl_set_h(uintptr_t h, _GoString_ key, const void *val, size_t len, uint32_t retry_us)
{
	return gospl_set(GOSPL_S(h), key, val, len, retry_us);
}

static inline int gospl_unset(spl_store *s, _GoString_ key, uint32_t retry_us)
{
	GOSPL_KEY(k, key);
	int rc = spl_unset(s, k);
	if (rc == SPL_EAGAIN && retry_us)
		rc = spl_unset_wait(s, k, retry_us);
	return rc;
}

static inline int gospl_unset_h(uintptr_t h, _GoString_ key, uint32_t retry_us)
{
	return gospl_unset(GOSPL_S(h), key, retry_us);
}

// ---- prepared keys: the spl_key and its string live in C memory (Go's Key
// owns them), so the calls take plain C pointers.

// One block: the spl_key, then the key's bytes and a NUL.  NULL on no
// memory; *rc the spl_key_prep result (the block is freed on failure).
static inline spl_key *gospl_key_new(uintptr_t h, _GoString_ key, int *rc)
{
	size_t n = gospl_key_len(_GoStringLen(key));
	spl_key *k = (spl_key *)malloc(sizeof(spl_key) + n + 1);
	if (!k) {
		*rc = SPL_ENOMEM;
		return NULL;
	}
	char *p = (char *)(k + 1);
	if (gospl_key_copy(p, _GoStringPtr(key), n)) {
		free(k);
		*rc = SPL_EINVAL;
		return NULL;
	}
	*rc = spl_key_prep(GOSPL_S(h), p, k);
	if (*rc < 0) {
		free(k);
		return NULL;
	}
	return k;
}

static inline gospl_res gospl_get_k(uintptr_t h, const spl_key *k, void *buf, size_t cap, uint32_t retry_us)
{
	gospl_res r = {0, 0};
	GOSPL_RETRY(r.rc, retry_us, GOSPL_S(h), k->key, 0, spl_get_k(GOSPL_S(h), k, buf, cap, &r.n));
	return r;
}

// n gets with prepared keys (keys: n pointers to spl_keys in C memory) in
// spl_get_many batches of up to 64, all in one cgo call: value i to buf +
// i * stride, its length (for SPL_ENOBUFS the length needed) to lens[i],
// the result to rcs[i]; a key busy under a writer is read again alone for
// up to retry_us.  Returns the number found, or SPL_EINVAL.
static inline int gospl_get_many(uintptr_t h, spl_key *const *keys, size_t n, void *buf, size_t stride,
                                 size_t *lens, int *rcs, uint32_t retry_us)
{
	spl_key tmp[64];
	int found = 0;
	for (size_t i = 0; i < n; i += 64) {
		size_t m = n - i < 64 ? n - i : 64;
		for (size_t j = 0; j < m; j++)
			tmp[j] = *keys[i + j];
		int rc = spl_get_many(GOSPL_S(h), tmp, m, (char *)buf + i * stride, stride, lens + i, rcs + i);
		if (rc < 0)
			return rc;
		for (size_t j = i; j < i + m; j++) {
			if (rcs[j] == SPL_EAGAIN && retry_us)
				GOSPL_RETRY(rcs[j], retry_us, GOSPL_S(h), keys[j]->key, 0,
				            spl_get_k(GOSPL_S(h), keys[j], (char *)buf + j * stride, stride, &lens[j]));
			found += rcs[j] == 0;
		}
	}
	return found;
}

static inline int gospl_set_k(uintptr_t h, const spl_key *k, const void *val, size_t len, uint32_t retry_us)
{
	int rc;
	GOSPL_RETRY(rc, retry_us, GOSPL_S(h), k->key, 1, spl_set_k(GOSPL_S(h), k, val, len));
	return rc;
}

static inline int gospl_unset_k(uintptr_t h, const spl_key *k, uint32_t retry_us)
{
	int rc;
	GOSPL_RETRY(rc, retry_us, GOSPL_S(h), k->key, 1, spl_unset_k(GOSPL_S(h), k));
	return rc;
}



static inline int gospl_exists(spl_store *s, _GoString_ key, uint32_t retry_us)
{
	GOSPL_KEY(k, key);
	int rc;
	GOSPL_RETRY(rc, retry_us, s, k, 0, spl_exists(s, k));
	return rc;
}

static inline int gospl_exists_h(uintptr_t h, _GoString_ key, uint32_t retry_us)
{
	return gospl_exists(GOSPL_S(h), key, retry_us);
}

static inline int gospl_append(spl_store *s, _GoString_ key, const void *val, size_t len, uint32_t retry_us)
{
	GOSPL_KEY(k, key);
	int rc;
	GOSPL_RETRY(rc, retry_us, s, k, 1, spl_append(s, k, val, len));
	return rc;
}

static inline int gospl_cas(spl_store *s, _GoString_ key, uint64_t expected, const void *val, size_t len,
                     uint32_t retry_us)
{
	GOSPL_KEY(k, key);
	int rc;
	GOSPL_RETRY(rc, retry_us, s, k, 1, spl_cas(s, k, expected, val, len));
	return rc;
}

typedef struct { int rc; uint64_t v; } gospl_u64;

static inline gospl_u64 gospl_int_wait(spl_store *s, _GoString_ key, int op, uint64_t operand,
                                       uint32_t retry_us)
{
	gospl_u64 r = {0, 0};
	size_t n = gospl_key_len(_GoStringLen(key));
	char k[n + 1];
	if (gospl_key_copy(k, _GoStringPtr(key), n)) {
		r.rc = SPL_EINVAL;
		return r;
	}
	r.rc = spl_int_wait(s, k, (spl_int_op)op, operand, &r.v, retry_us);
	return r;
}

static inline gospl_u64 gospl_int_wait_k(uintptr_t h, const spl_key *k, int op, uint64_t operand,
                                         uint32_t retry_us)
{
	gospl_u64 r = {0, 0};
	r.rc = spl_int_wait_k(GOSPL_S(h), k, (spl_int_op)op, operand, &r.v, retry_us);
	return r;
}

static inline int gospl_meta(spl_store *s, _GoString_ key, spl_meta *m, uint32_t retry_us)
{
	GOSPL_KEY(k, key);
	int rc;
	GOSPL_RETRY(rc, retry_us, s, k, 0, spl_meta_get(s, k, m));
	return rc;
}

// what: as gospl_keyop1 (direct.h)
static inline int gospl_keyop(spl_store *s, _GoString_ key, int what, uint64_t arg, uint32_t retry_us)
{
	GOSPL_KEY(k, key);
	int rc;
	GOSPL_RETRY(rc, retry_us, s, k, what != 7, gospl_keyop1(s, k, what, arg)); // 7, bump: a read
	return rc;
}

static inline int gospl_view(spl_store *s, _GoString_ key, spl_view *v, uint32_t retry_us)
{
	GOSPL_KEY(k, key);
	int rc;
	GOSPL_RETRY(rc, retry_us, s, k, 0, spl_view_get(s, k, v));
	return rc;
}

// ---- iteration: spl_foreach into two growing arrays (entries, bytes)

typedef struct {
	spl_meta meta;
	size_t key_off, key_len, val_off;
	int has_val;
} gospl_ent;

typedef struct {
	gospl_ent *ents;
	size_t n, cap;
	char *bytes;
	size_t blen, bcap;
	int nomem;
} gospl_acc;

static inline int gospl_grow(void **p, size_t *cap, size_t need, size_t unit)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * unit);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static inline int gospl_iter_cb(const spl_entry *e, void *ud)
{
	gospl_acc *a = ud;
	size_t vlen = e->val ? e->meta.val_len : 0;
	if (gospl_grow((void **)&a->ents, &a->cap, a->n + 1, sizeof(gospl_ent)) ||
	    gospl_grow((void **)&a->bytes, &a->bcap, a->blen + e->key_len + vlen, 1)) {
		a->nomem = 1;
		return 1;
	}
	gospl_ent *g = &a->ents[a->n++];
	g->meta = e->meta;
	g->key_off = a->blen;
	g->key_len = e->key_len;
	memcpy(a->bytes + a->blen, e->key, e->key_len);
	a->blen += e->key_len;
	g->val_off = a->blen;
	g->has_val = e->val != NULL;
	if (vlen) {
		memcpy(a->bytes + a->blen, e->val, vlen);
		a->blen += vlen;
	}
	return 0;
}

static inline int gospl_foreach(spl_store *s, const spl_filter *f, gospl_acc *a)
{
	memset(a, 0, sizeof *a);
	int rc = spl_foreach(s, f, gospl_iter_cb, a);
	if (a->nomem)
		rc = SPL_ENOMEM;
	return rc;
}

static inline void gospl_acc_free(gospl_acc *a)
{
	free(a->ents);
	free(a->bytes);
}

static inline gospl_ent *gospl_ent_at(gospl_acc *a, size_t i) { return &a->ents[i]; }

// ---- vectors

static inline int gospl_vec_set(spl_store *s, _GoString_ key, const float *v, uint32_t dim, uint32_t retry_us)
{
	GOSPL_KEY(k, key);
	int rc;
	GOSPL_RETRY(rc, retry_us, s, k, 1, spl_vec_set(s, k, v, dim));
	return rc;
}

static inline int gospl_vec_get(spl_store *s, _GoString_ key, float *out, uint32_t dim, uint32_t retry_us)
{
	GOSPL_KEY(k, key);
	int rc;
	GOSPL_RETRY(rc, retry_us, s, k, 0, spl_vec_get(s, k, out, dim, NULL));
	return rc;
}

// vec is passed on its own: a Go struct holding a Go pointer cannot cross.
static inline int gospl_vec_search(spl_store *s, spl_vec_query *q, const float *vec, _GoString_ key,
                                   _GoString_ prefix, int has_prefix, spl_vec_result **out,
                                   uint32_t retry_us)
{
	char k[SPL_KEY_MAX_LIMIT + 2], *pfx = NULL;
	q->vec = vec;
	if (!q->vec) {
		size_t n = _GoStringLen(key);
		if (n > SPL_KEY_MAX_LIMIT + 1)
			n = SPL_KEY_MAX_LIMIT + 1;
		memcpy(k, _GoStringPtr(key), n);
		k[n] = 0;
		q->key = k;
	}
	if (has_prefix) {
		size_t n = _GoStringLen(prefix);
		pfx = malloc(n + 1);
		if (!pfx)
			return SPL_ENOMEM;
		memcpy(pfx, _GoStringPtr(prefix), n);
		pfx[n] = 0;
		q->prefix = pfx;
	}
	int rc;
	GOSPL_RETRY(rc, retry_us, s, NULL, 0, spl_vec_search(s, q, out));
	free(pfx);
	q->vec = NULL;
	q->key = NULL;
	q->prefix = NULL;
	return rc;
}

static inline spl_vec_hit *gospl_hit(spl_vec_result *r, uint32_t i) { return &r->hits[i]; }

// ---- signals

static inline int gospl_key_wait(spl_store *s, _GoString_ key, uint64_t epoch, int64_t timeout_ns, uint64_t *out)
{
	GOSPL_KEY(k, key);
	return spl_key_wait(s, k, epoch, timeout_ns, out);
}

static inline int gospl_sub_next(spl_sub *u, spl_event *ev, char *key, size_t cap)
{
	return spl_sub_next(u, ev, key, cap);
}

// ---- tandem keys

static inline gospl_res gospl_tandem_key(spl_store *s, _GoString_ base, uint32_t i, char *out, size_t cap)
{
	gospl_res r = {0, 0};
	char k[SPL_KEY_MAX_LIMIT + 2];
	size_t n = _GoStringLen(base);
	if (n > SPL_KEY_MAX_LIMIT + 1)
		n = SPL_KEY_MAX_LIMIT + 1;
	memcpy(k, _GoStringPtr(base), n);
	k[n] = 0;
	r.rc = spl_tandem_key(s, k, i, out, cap);
	if (r.rc >= 0) {
		r.n = (size_t)r.rc;
		r.rc = 0;
	}
	return r;
}

// Member i's name into name (SPL_KEY_MAX_LIMIT + 1 bytes), for the wait of
// a call that met it busy (made only then); NULL if it cannot be made.
static inline const char *gospl_member(spl_store *s, const char *base, uint32_t i, char *name)
{
	return spl_tandem_key(s, base, i, name, SPL_KEY_MAX_LIMIT + 1) < 0 ? NULL : name;
}

static inline int gospl_tandem(spl_store *s, _GoString_ base, int what, uint32_t i, void *buf, size_t cap,
                        size_t *n, uint32_t retry_us)
{
	GOSPL_KEY(k, base);
	char m[SPL_KEY_MAX_LIMIT + 1];
	int rc;
	switch (what) {
	case 0: GOSPL_RETRY(rc, retry_us, s, gospl_member(s, k, i, m), 0, spl_tandem_get(s, k, i, buf, cap, n)); break;
	case 1: GOSPL_RETRY(rc, retry_us, s, NULL, 0, spl_tandem_count(s, k)); break; // several keys
	case 2: rc = spl_tandem_unset(s, k, retry_us); break;
	case 3: GOSPL_RETRY(rc, retry_us, s, gospl_member(s, k, i, m), 0, spl_tandem_vec_get(s, k, i, buf, (uint32_t)cap)); break;
	default: rc = SPL_EINVAL;
	}
	return rc;
}

static inline int gospl_tandem_set(spl_store *s, _GoString_ base, char *arena, const size_t *offs,
                            const size_t *lens, uint32_t n, uint32_t retry_us)
{
	GOSPL_KEY(k, base);
	const void **vals = malloc((n ? n : 1) * sizeof *vals);
	if (!vals)
		return SPL_ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		vals[i] = arena + offs[i];
	int rc = spl_tandem_set(s, k, vals, lens, n, retry_us);
	free(vals);
	return rc;
}

static inline int gospl_tandem_vec_set(spl_store *s, _GoString_ base, const float *v, uint32_t n, uint32_t dim,
                                uint32_t retry_us)
{
	GOSPL_KEY(k, base);
	return spl_tandem_vec_set(s, k, v, n, dim, retry_us);
}

// ---- lifecycle helpers

static inline int gospl_attach(int mode, const char *name, int fd, spl_options *o, spl_store **out)
{
	switch (mode) {
	case 0: return spl_create(out, name, o);
	case 1: return spl_open(out, name, o);
	case 2: return spl_open_or_create(out, name, o);
	default: return spl_open_fd(out, fd, o->flags & SPL_O_RDONLY);
	}
}

#endif
