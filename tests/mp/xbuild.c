/*
 * xbuild.c - a store made by one build and opened by the other (embeddings
 * and pure key-value) is refused with SPL_ELAYOUT, never mis-read.
 * tests/xbuild.sh drives two copies of this program, one per build.
 *
 *   xbuild create PATH       create a FILE store at PATH (vec_dim as built)
 *   xbuild open PATH NAME    open it; exit 0 iff the result is NAME
 *                            (e.g. SPL_OK, SPL_ELAYOUT)
 */
#include "mp_common.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: xbuild create PATH | xbuild open PATH NAME\n");
        return 2;
    }
    spl_options o;
    spl_options_init(&o); /* vec_dim 768 with embeddings, 0 without */
    o.backing = SPL_BACKING_FILE;
    o.geom.slots = 16;
    spl_store *s = NULL;
    int rc;
    if (strcmp(argv[1], "create") == 0) {
        rc = spl_create(&s, argv[2], &o);
        if (rc == 0)
            rc = spl_set(s, "k", "v", 1);
        printf("xbuild (simd %s): create %s: %s\n", spl_vec_simd(), argv[2], spl_err_name(rc));
        spl_close(s);
        return rc != 0;
    }
    if (strcmp(argv[1], "open") == 0 && argc == 4) {
        rc = spl_open(&s, argv[2], &o);
        printf("xbuild (simd %s): open %s: %s (want %s)\n", spl_vec_simd(), argv[2],
               spl_err_name(rc), argv[3]);
        spl_close(s);
        return strcmp(spl_err_name(rc), argv[3]) != 0;
    }
    return 2;
}
