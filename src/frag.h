/*
 * frag.h - what src/registry.c (the registry in the store, clients of it)
 * and src/host.c (the host loop, the fragment ABI's host side) share.
 * Not installed.  docs/FRAGMENTS.md.
 */
#ifndef SPL_FRAG_H
#define SPL_FRAG_H

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "splinter_fragment.h"

#define SPL__CTL_MASK  (1ull << SPL_FRAG_GROUP_CTL)
#define SPL__KEYS_MASK (1ull << SPL_FRAG_GROUP_KEYS)
#define SPL__RESERVED_GROUPS (SPL__CTL_MASK | SPL__KEYS_MASK)

static inline struct spl_reg_ent *spl__reg_ent(const struct spl_store *s, uint32_t i)
{
    return (struct spl_reg_ent *)(void *)(s->reg + (size_t)i * SPL_REG_STRIDE);
}

/* ---- futex on a registry word (shared: the other side is another process) */
static inline void spl__reg_futex_wake(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
static inline void spl__reg_futex_wait(uint32_t *word, uint32_t seen, uint64_t rel_ns)
{
    struct timespec ts = {(time_t)(rel_ns / 1000000000ull), (long)(rel_ns % 1000000000ull)};
    syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0);
}

/* ---- registry.c ---------------------------------------------------------- */
/* The registry lock (header line 12): an owner id, taken over from a holder
 * that died (or held it for over 2 s: stopped or hostile). */
void spl__reg_lock(struct spl_store *s);
void spl__reg_unlock(struct spl_store *s);
/* Under the lock: rewrite the text of entry e (gen odd meanwhile). */
void spl__reg_text_begin(struct spl_reg_ent *e);
void spl__reg_text_end(struct spl_reg_ent *e);
/* Copy a string field into the entry (zero-padded; cut to cap - 1). */
void spl__reg_put_str(char *field, size_t cap, const char *v);
/* Under the lock: bind_all and the label bindings of the keys group, from
 * every registered entry's flags and labels. */
void spl__reg_bindings(struct spl_store *s);
/* Under the lock: free entry e (state FREE, text cleared). */
void spl__reg_free(struct spl_store *s, struct spl_reg_ent *e);
/* Index of the non-free entry called name, or SPL_ENOENT. */
int spl__reg_find(struct spl_store *s, const char *name);
/* Consistent copy of entry i (state as stored; spl_frag_info.state is
 * DEAD for a live state whose host died).  Returns 0, or SPL_ENOENT if the
 * entry is free, SPL_EAGAIN if it kept changing. */
int spl__reg_read(struct spl_store *s, uint32_t i, spl_frag_info *out);
/* Wake hosts and waiters: a pulse of the control group. */
void spl__reg_kick(struct spl_store *s);
int spl__frag_name_ok(const char *name);
/* Record this thread's error detail (spl_frag_errmsg). */
void spl__frag_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Create or open region `region` of fragment `frag`, read-write, `bytes`
 * of payload: *addr (payload) and *map_len (the whole mapping, for munmap
 * of *addr - SPL__REGION_HEAD). */
#define SPL__REGION_HEAD 4096u
int spl__region_open_rw(struct spl_store *s, const char *frag, const char *region, size_t bytes,
                        void **addr);

/* ---- host.c -------------------------------------------------------------- */
/* A loaded fragment library: dlopen'd, entry point called, descriptor copied
 * (the host's view: members past desc->size are zero) and checked. */
struct spl__frag_lib {
    void *dl;
    spl_frag_desc d;
};
/* Errors: SPL_ELOAD, SPL_ENOSYM, SPL_EABI, SPL_ENAME (bad name in the
 * descriptor), SPL_EINVAL (no start callback); the detail in
 * spl_frag_errmsg(). */
int spl__frag_lib_open(const char *path, struct spl__frag_lib *lib);
/* The table handed to every fragment (hosts and ann.c's readers). */
extern const spl_frag_api spl__api;
void spl__frag_lib_close(struct spl__frag_lib *lib);
/* Check NAME=VALUE arguments against the descriptor's options. */
int spl__frag_args_ok(const spl_frag_desc *d, int argc, const char *const *argv);

#endif /* SPL_FRAG_H */
