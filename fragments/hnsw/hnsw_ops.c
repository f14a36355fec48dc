/*
 * hnsw_ops.c - what the HNSW index needs of libsplinter, for programs that
 * link it (the tests, the bench, splinter-hnsw, splinterctl): the default
 * store functions, and hnsw_frag_open, which finds the index a running
 * `hnsw` fragment keeps.  The fragment module (hnsw.so) leaves this file
 * out: it gets its functions from the host's table.
 */
#include "hnsw.h"

#include <stdlib.h>
#include <string.h>

#define HNSW_OPS_LIBSPLINTER                                                                             \
    .vec_get = spl_vec_get, .meta_get = spl_meta_get, .foreach = spl_foreach, .info_get = spl_info_get,    \
    .changes = spl_changes, .key_prep = spl_key_prep, .vec_ann_set = spl_vec_ann_set,               \
    .retry_init = spl_retry_init, .retry_pause = spl_retry_pause

const hnsw_ops hnsw_ops_default = {HNSW_OPS_LIBSPLINTER};

/* The same, and hnsw_close unmaps the fragment's region. */
static const hnsw_ops hnsw_ops_frag = {HNSW_OPS_LIBSPLINTER, .region_unmap = spl_frag_region_unmap};

static int is_hnsw_lib(const char *path)
{
    const char *b = strrchr(path, '/');
    return strcmp(b ? b + 1 : path, "hnsw.so") == 0;
}

int hnsw_frag_open(hnsw_index **out, spl_store *s, const char *instance, uint32_t flags)
{
    if (!out || !s)
        return SPL_EINVAL;
    *out = NULL;
    spl_frag_info fi;
    int rc;
    if (instance) {
        if ((rc = spl_frag_get(s, instance, &fi)) != 0)
            return rc;
    } else if ((rc = spl_frag_get(s, "hnsw", &fi)) != 0) {
        /* an instance of hnsw.so under another name (insmod --name) */
        spl_frag_info *list = calloc(SPL_FRAG_MAX, sizeof *list);
        if (!list)
            return SPL_ENOMEM;
        int n = spl_frag_list(s, list, SPL_FRAG_MAX), k = -1;
        for (int i = 0; i < n && i < (int)SPL_FRAG_MAX && k < 0; i++)
            if (is_hnsw_lib(list[i].path))
                k = i;
        if (k >= 0)
            fi = list[k];
        free(list);
        if (n < 0)
            return n;
        if (k < 0)
            return SPL_ENOENT;
    }
    if ((flags & HNSW_FRAG_LIVE) && fi.state != SPL_FRAG_RUNNING)
        return SPL_ESTALE;
    const void *addr;
    size_t len;
    if ((rc = spl_frag_region_map(s, fi.name, "graph", &addr, &len)) != 0)
        return rc;
    rc = hnsw_attach_reader(out, s, addr, len, &hnsw_ops_frag);
    if (rc) {
        spl_frag_region_unmap(addr, len);
        return rc;
    }
    if (flags & HNSW_FRAG_PROVIDE) {
        if ((rc = hnsw_provide(*out)) != 0) {
            hnsw_close(*out);
            *out = NULL;
            return rc;
        }
    }
    return 0;
}
