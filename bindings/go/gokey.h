/*
 * gokey.h - what gospl.h (the cgo preamble's helpers) and fastcall.c (the
 * direct calls) share: a Go string key copied to a NUL-terminated buffer,
 * and the store handle as an integer.
 */
#ifndef GOSPL_GOKEY_H
#define GOSPL_GOKEY_H
#include <stddef.h>
#include <stdint.h>
#include "splinter.h"

// A key longer than SPL_KEY_MAX_LIMIT keeps SPL_KEY_MAX_LIMIT + 1 bytes:
// still too long, so the library refuses it (SPL_EKEYLEN); a key is never
// truncated into another key.  A NUL byte inside a key is SPL_EINVAL.
// The copy is a variable-length array of the key's own size (a fixed
// 4 KiB buffer would cost a page of stack per call), checked for NUL bytes
// as it is copied.
static inline int gospl_key_copy(char *dst, const char *src, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		bad |= c == 0;
		dst[i] = c;
	}
	dst[n] = 0;
	return bad;
}

static inline size_t gospl_key_len(size_t n) { return n > SPL_KEY_MAX_LIMIT + 1 ? SPL_KEY_MAX_LIMIT + 1 : n; }

// name: the key of len bytes at ptr, copied to a NUL-terminated array on
// this stack; on_bad runs (it must leave the function) if the key holds a
// NUL byte.
#define GOSPL_KEY_COPY(name, ptr, len, on_bad)                                 \
	size_t name##_n_ = gospl_key_len(len);                                     \
	char name[name##_n_ + 1];                                                  \
	if (gospl_key_copy(name, (ptr), name##_n_))                                \
		on_bad;

// The hot calls take the store as a uintptr_t: the Go side then passes a
// plain integer (a pointer to the incomplete spl_store type would be boxed
// for cgo's pointer check, an allocation per call).
#define GOSPL_S(h) ((spl_store *)(uintptr_t)(h))

#endif
