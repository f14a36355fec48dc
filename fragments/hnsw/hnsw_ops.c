/*
 * hnsw_ops.c - the default store functions of the HNSW index: libsplinter's
 * own (splinter.h).  Linked into programs that link libsplinter (the tests,
 * the bench, splinterctl); a fragment built as a module gets its functions
 * from the host's table instead and leaves this file out.
 */
#include "hnsw.h"

const hnsw_ops hnsw_ops_default = {
    .vec_get = spl_vec_get,
    .meta_get = spl_meta_get,
    .foreach = spl_foreach,
    .info_get = spl_info_get,
    .changes = spl_changes,
    .key_prep = spl_key_prep,
    .vec_ann_set = spl_vec_ann_set,
};
