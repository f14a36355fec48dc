/*
 * signal.c - signal groups, change feed and wake-ups (see docs/SIGNALS.md).
 */
#include "internal.h"

void spl__note_take(struct spl_store *s, uint32_t idx, struct spl_slot *sl, struct spl__note *n)
{
    n->idx = idx;
    n->epoch = (spl_load_relaxed(&sl->epoch) | 1) + 1;
    n->fp = spl_load_relaxed(&s->index[idx]) & SPL_IX_FP_MASK;
    n->groups = 0;
}

void spl__note_send(struct spl_store *s, const struct spl__note *n)
{
    (void)n;
    spl_fetch_add_seqcst(&s->hdr->changes, 1);
}
