/*
 * direct.c - the direct calls of direct.h.  A key given as a Go string is
 * copied to a NUL-terminated buffer on this stack, as gospl.h's helpers
 * do (gokey.h).
 */
#include "gokey.h"
#include "direct.h"

#define DARGS(p) gospl_dargs *a = (gospl_dargs *)(p)
#define DKEY(name) GOSPL_KEY_COPY(name, (const char *)a->key, a->klen, { a->rc = SPL_EINVAL; return; })

void gospl_dget(void *p)
{
	DARGS(p);
	DKEY(k);
	size_t n = 0;
	a->rc = spl_get(GOSPL_S(a->s), k, (void *)a->buf, a->cap, &n);
	a->n = n;
}

void gospl_dset(void *p)
{
	DARGS(p);
	DKEY(k);
	a->rc = spl_set(GOSPL_S(a->s), k, (const void *)a->buf, a->cap);
}

void gospl_dunset(void *p)
{
	DARGS(p);
	DKEY(k);
	a->rc = spl_unset(GOSPL_S(a->s), k);
}

void gospl_dexists(void *p)
{
	DARGS(p);
	DKEY(k);
	a->rc = spl_exists(GOSPL_S(a->s), k);
}

void gospl_dappend(void *p)
{
	DARGS(p);
	DKEY(k);
	a->rc = spl_append(GOSPL_S(a->s), k, (const void *)a->buf, a->cap);
}

void gospl_dcas(void *p)
{
	DARGS(p);
	DKEY(k);
	a->rc = spl_cas(GOSPL_S(a->s), k, a->arg, (const void *)a->buf, a->cap);
}

void gospl_dget_k(void *p)
{
	DARGS(p);
	size_t n = 0;
	a->rc = spl_get_k(GOSPL_S(a->s), (const spl_key *)a->key, (void *)a->buf, a->cap, &n);
	a->n = n;
}

void gospl_dset_k(void *p)
{
	DARGS(p);
	a->rc = spl_set_k(GOSPL_S(a->s), (const spl_key *)a->key, (const void *)a->buf, a->cap);
}

void gospl_dunset_k(void *p)
{
	DARGS(p);
	a->rc = spl_unset_k(GOSPL_S(a->s), (const spl_key *)a->key);
}

void gospl_dint(void *p)
{
	DARGS(p);
	DKEY(k);
	uint64_t v = 0;
	a->rc = spl_int_try(GOSPL_S(a->s), k, (spl_int_op)a->op, a->arg, &v);
	a->v = v;
}

void gospl_dint_k(void *p)
{
	DARGS(p);
	uint64_t v = 0;
	a->rc = spl_int_try_k(GOSPL_S(a->s), (const spl_key *)a->key, (spl_int_op)a->op, a->arg, &v);
	a->v = v;
}

void gospl_dmeta(void *p)
{
	gospl_dmeta_args *a = p;
	DKEY(k);
	a->rc = spl_meta_get(GOSPL_S(a->s), k, &a->m);
}

int gospl_keyop1(spl_store *s, const char *k, int what, uint64_t arg)
{
	switch (what) {
	case 0: return spl_type_set(s, k, (spl_type)arg);
	case 1: return spl_flags_set(s, k, (uint8_t)arg);
	case 2: return spl_labels_set(s, k, arg);
	case 3: return spl_labels_clear(s, k, arg);
	case 4: return spl_touch(s, k);
	case 5: return spl_watch(s, k, arg);
	case 6: return spl_unwatch(s, k, arg);
	case 7: return spl_bump(s, k);
	case 8: return spl_vec_clear(s, k);
	default: return SPL_EINVAL;
	}
}

void gospl_dkeyop(void *p)
{
	DARGS(p);
	DKEY(k);
	a->rc = a->op <= 4 ? gospl_keyop1(GOSPL_S(a->s), k, a->op, a->arg) : SPL_EINVAL;
}

void gospl_dview(void *p)
{
	gospl_dview_args *a = p;
	DKEY(k);
	a->rc = spl_view_get(GOSPL_S(a->s), k, &a->v);
}

void gospl_dview_valid(void *p)
{
	gospl_dview_args *a = p;
	a->rc = spl_view_valid(GOSPL_S(a->s), &a->v);
}

void gospl_dcall(uintptr_t fn, uintptr_t a)
{
	((void (*)(void *))fn)((void *)a);
}
