/* errors.c - text and names for every return code (one X-macro list). */
#include <string.h>

#include "internal.h"

SPL_API const char *spl_strerror(int err)
{
    switch (err) {
#define SPL__ERR_TEXT(name, val, text) case val: return text;
        SPL_ERRNO_MAP(SPL__ERR_TEXT)
#undef SPL__ERR_TEXT
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err); /* some other -errno from the OS */
    return "unknown splinter error";
}

SPL_API const char *spl_err_name(int err)
{
    switch (err) {
#define SPL__ERR_NAME(name, val, text) case val: return #name;
        SPL_ERRNO_MAP(SPL__ERR_NAME)
#undef SPL__ERR_NAME
    default:
        return "SPL_E?";
    }
}

static const char *const spl__type_names[SPL__T_COUNT] = {
    "void", "int64", "uint64", "json", "binary", "image", "audio", "text",
};

SPL_API const char *spl_type_name(spl_type t)
{
    return (unsigned)t < SPL__T_COUNT ? spl__type_names[t] : "?";
}

SPL_API int spl_type_parse(const char *name)
{
    if (!name)
        return SPL_EINVAL;
    for (int i = 0; i < SPL__T_COUNT; i++)
        if (strcmp(name, spl__type_names[i]) == 0)
            return i;
    return SPL_EINVAL;
}
