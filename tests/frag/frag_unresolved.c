/* frag_unresolved.c - a fragment that does not load: it needs a symbol
 * nobody defines, so dlopen(RTLD_NOW) fails. */
#include "splinter_fragment.h"

extern int spl_test_symbol_nobody_defines(void);

SPL_FRAGMENT_EXPORT const spl_frag_desc *spl_fragment_entry(const spl_frag_api *api)
{
    (void)api;
    return spl_test_symbol_nobody_defines() ? (const spl_frag_desc *)0 : (const spl_frag_desc *)0;
}
