/*
 * mp_dump.h - failure diagnostics: print the raw index words and slot
 * headers of a store (through spl_fd and a private read-only mapping), using
 * the internal layout (src/layout.h).  Only called after a check failed, to
 * say what holds a slot; nothing the tests decide depends on it.
 */
#ifndef MP_DUMP_H
#define MP_DUMP_H

#include "mp_common.h"
#include "layout.h"

#include <sys/stat.h>

/* Print every slot that is PENDING in the index, or has an odd epoch, or has
 * an owner: with no writer running, each of those is a slot left behind. */
static inline void mp_dump_store(spl_store *s, const char *why)
{
    int fd = spl_fd(s);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "dump: no fd\n");
        return;
    }
    const uint8_t *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        fprintf(stderr, "dump: mmap: %s\n", strerror(errno));
        return;
    }
    const struct spl_header *h = (const void *)base;
    fprintf(stderr, "dump (%s): slots %u stride %u used %" PRIu64 " recoveries %" PRIu64 "\n",
            why, h->slots, h->slot_stride, h->used, h->recoveries);
    if (h->index_off + (uint64_t)h->slots * 8 > (uint64_t)st.st_size ||
        h->slots_off + (uint64_t)h->slots * h->slot_stride > (uint64_t)st.st_size) {
        munmap((void *)base, (size_t)st.st_size);
        return;
    }
    const uint64_t *ix = (const void *)(base + h->index_off);
    uint32_t quiet = 0;
    for (uint32_t i = 0; i < h->slots; i++) {
        const struct spl_slot *sl = (const void *)(base + h->slots_off + (uint64_t)i * h->slot_stride);
        uint64_t w = ix[i];
        if (spl_ix_state(w) != SPL_IX_PENDING && !(sl->epoch & 1) && !sl->owner) {
            quiet++; /* FREE or LIVE and not held: normal */
            continue;
        }
        char key[72] = "";
        uint32_t kl = sl->key_len < 64 ? sl->key_len : 64;
        memcpy(key, (const uint8_t *)sl + SPL_SLOT_META, kl);
        key[kl] = 0;
        const char *state[] = {"FREE", "PENDING", "LIVE", "?"};
        fprintf(stderr,
                "  slot %3u: %-7s fp %011" PRIx64 " maxdist %u cnt %u | epoch %" PRIu64
                "%s owner pid %u | key '%s' val_len %u\n",
                i, state[spl_ix_state(w)], w >> SPL_IX_FP_SHIFT, spl_ix_dist(w), spl_ix_cnt(w),
                sl->epoch, (sl->epoch & 1) ? " (ODD)" : "", (unsigned)(sl->owner >> 32), key,
                sl->val_len);
    }
    fprintf(stderr, "  (%u other slots FREE or LIVE, not held)\n", quiet);
    munmap((void *)base, (size_t)st.st_size);
}

#endif /* MP_DUMP_H */
