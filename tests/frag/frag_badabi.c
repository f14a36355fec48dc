/* frag_badabi.c - a fragment built for a newer host: asks for ABI + 1. */
#include "splinter_fragment.h"

static int start(spl_frag_ctx *ctx, int argc, const char *const *argv, void **state)
{
    (void)ctx, (void)argc, (void)argv, (void)state;
    return 0;
}

static const spl_frag_desc desc = {
    .size = sizeof(spl_frag_desc) + 16, /* as if appended members existed */
    .abi = SPL_FRAG_ABI_VERSION + 1,
    .name = "future",
    .version = "9",
    .summary = "needs a newer host",
    .start = start,
};

SPL_FRAGMENT_EXPORT const spl_frag_desc *spl_fragment_entry(const spl_frag_api *api)
{
    (void)api;
    return &desc;
}
