/* frag_failstart.c - a fragment whose start fails with a message. */
#include "splinter_fragment.h"

static const spl_frag_api *A;

static int start(spl_frag_ctx *ctx, int argc, const char *const *argv, void **state)
{
    (void)argc, (void)argv, (void)state;
    A->fail(ctx, "this fragment never starts");
    return SPL_EINVAL;
}

static const spl_frag_desc desc = {
    SPL_FRAG_DESC_INIT,
    .name = "failstart",
    .version = "test",
    .summary = "start fails",
    .start = start,
};

SPL_FRAGMENT_EXPORT const spl_frag_desc *spl_fragment_entry(const spl_frag_api *api)
{
    A = api;
    return &desc;
}
