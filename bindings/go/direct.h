/*
 * direct.h - the binding's direct calls (direct.c, direct_*.go): C
 * functions of one pointer argument, each making one library call that
 * never sleeps (get, set, unset, exists, append, cas, the integer ops
 * that do not wait, metadata reads and writes, view and its check; the _k
 * forms with a prepared key).  The Go side fills a gospl_dargs on its stack and runs the
 * function on the thread's system stack (runtime.asmcgocall), or, in a
 * build without that (direct_cgo.go), through one ordinary cgo call.
 *
 * Every field is an integer: the struct holds no Go pointer as far as
 * cgo's pointer checks are concerned, and the Go side keeps what the
 * fields point to alive (runtime.KeepAlive) until the call is over.
 */
#ifndef GOSPL_DIRECT_H
#define GOSPL_DIRECT_H
#include <stdint.h>
#include "splinter.h"

typedef struct {
	uintptr_t s;    /* the store (GOSPL_S) */
	uintptr_t key;  /* the key's bytes (a Go string), or a spl_key * (the _k calls) */
	uintptr_t klen; /* the key's length (not for the _k calls) */
	uintptr_t buf;  /* get: where the value goes; set: the value */
	uintptr_t cap;  /* buf's length */
	uintptr_t n;    /* out, get: the value's length (SPL_ENOBUFS: the length needed) */
	uint64_t arg;   /* cas: the expected epoch; int: the operand */
	uint64_t v;     /* out, int: the new value */
	int32_t op;     /* int: the spl_int_op */
	int32_t rc;     /* out: the library's result */
} gospl_dargs;

/* View and its check: v is filled (view) or read (valid: epoch and slot);
 * its data points into the store's mapping, never at Go memory. */
typedef struct {
	uintptr_t s;
	uintptr_t key;
	uintptr_t klen;
	spl_view v;
	int32_t rc;
} gospl_dview_args;

/* Meta: m is filled. */
typedef struct {
	uintptr_t s;
	uintptr_t key;
	uintptr_t klen;
	spl_meta m;
	int32_t rc;
} gospl_dmeta_args;

void gospl_dget(void *a);
void gospl_dset(void *a);
void gospl_dunset(void *a);
void gospl_dexists(void *a);
void gospl_dappend(void *a);
void gospl_dcas(void *a);
void gospl_dget_k(void *a);
void gospl_dset_k(void *a);
void gospl_dunset_k(void *a);
void gospl_dint(void *a);
void gospl_dint_k(void *a);
void gospl_dmeta(void *a);
/* One key operation, no retry: what 0 type, 1 flags, 2 labels set, 3
 * labels clear, 4 touch, 5 watch, 6 unwatch, 7 bump, 8 vector clear (arg:
 * the type, flags, mask or groups).  gospl_keyop (gospl.h) retries it. */
int gospl_keyop1(spl_store *s, const char *k, int what, uint64_t arg);
/* gospl_keyop1 directly, for what 0..4 (the ones that never sleep); a->op, a->arg */
void gospl_dkeyop(void *a);
void gospl_dview(void *a);
void gospl_dview_valid(void *a);
/* fn(a) through an ordinary cgo call (direct_cgo.go) */
void gospl_dcall(uintptr_t fn, uintptr_t a);
#endif
