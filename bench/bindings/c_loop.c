/*
 * c_loop.c - c_loop.h as a shared library (build/bench/libsplbench.so,
 * linked against libsplinter.so.0) for the Python bench, which calls it
 * through ctypes in its own process, on its own store.
 */
#include "c_loop.h"

uint64_t splb_c_loop(spl_store *s, const char *names, const uint32_t *order, size_t n, int op, int dependent,
                     const void *val, size_t len);
void splb_c_names(char *names, uint32_t keys);
void splb_c_order(uint32_t *order, size_t n, uint32_t keys, int random);
uint32_t splb_c_slots(uint32_t keys);
int splb_c_noop(spl_store *s, const char *key, void *buf, size_t cap, size_t *len);

uint64_t splb_c_loop(spl_store *s, const char *names, const uint32_t *order, size_t n, int op, int dependent,
                     const void *val, size_t len)
{
    return splb_loop(s, names, order, n, op, dependent, val, len);
}

void splb_c_names(char *names, uint32_t keys) { splb_names(names, keys); }

void splb_c_order(uint32_t *order, size_t n, uint32_t keys, int random) { splb_order(order, n, keys, random); }

uint32_t splb_c_slots(uint32_t keys) { return splb_slots(keys); }

int splb_c_noop(spl_store *s, const char *key, void *buf, size_t cap, size_t *len)
{
    return splb_noop(s, key, buf, cap, len);
}
