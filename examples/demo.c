/*
 * demo.c - Splinter in one page: an in-memory store shared by processes.
 *
 * Creates an anonymous (memfd) store, forks four workers that each bump a
 * shared counter and publish a status key, reads everything back zero-copy,
 * and lists the keys.  Run with `make demo`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "splinter.h"

#define CHECK(call)                                                                \
    do {                                                                           \
        int rc_ = (call);                                                          \
        if (rc_ < 0) {                                                             \
            fprintf(stderr, "%s: %s (%s)\n", #call, spl_err_name(rc_),             \
                    spl_strerror(rc_));                                            \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

static int print_entry(const spl_entry *e, void *ud)
{
    (void)ud;
    printf("  %-12s type=%-6s len=%-3u epoch=%-4" PRIu64 " labels=%#" PRIx64 "\n", e->key,
           spl_type_name((spl_type)e->meta.type), e->meta.val_len, e->meta.epoch, e->meta.labels);
    return 0;
}

static int shout(const void *data, size_t len, void *ud)
{
    (void)ud;
    return printf("  read_with sees %zu bytes: \"%.*s\"\n", len, (int)len, (const char *)data) < 0;
}

int main(void)
{
    spl_options o;
    spl_options_init(&o);
    o.backing = SPL_BACKING_MEMFD; /* in memory; children inherit it */
    o.geom = (spl_geometry){.slots = 256, .key_max = 32, .val_max = 256, .vec_dim = 0};
    spl_store *s;
    CHECK(spl_create(&s, "demo", &o));

    CHECK(spl_set(s, "greeting", "hello from the parent", 21));
    CHECK(spl_type_set(s, "greeting", SPL_T_TEXT));
    CHECK(spl_labels_set(s, "greeting", 1u << 3));

    enum { WORKERS = 4, BUMPS = 10000 };
    for (int w = 0; w < WORKERS; w++) {
        if (fork() == 0) {
            for (int i = 0; i < BUMPS; i++)
                CHECK(spl_inc(s, "counter", NULL));
            char key[32], val[64];
            snprintf(key, sizeof key, "worker.%d", w);
            int n = snprintf(val, sizeof val, "pid %d done", (int)getpid());
            CHECK(spl_set_wait(s, key, val, (size_t)n, 100000));
            CHECK(spl_type_set(s, key, SPL_T_TEXT));
            _exit(0);
        }
    }
    for (int w = 0; w < WORKERS; w++)
        wait(NULL);

    int64_t counter = 0;
    size_t len;
    CHECK(spl_get(s, "counter", &counter, sizeof counter, &len));
    printf("counter = %" PRId64 " (expected %d)\n", counter, WORKERS * BUMPS);

    spl_view v;
    CHECK(spl_view_get(s, "greeting", &v));
    printf("zero-copy view: \"%.*s\" at epoch %" PRIu64 " -> %s\n", (int)v.len,
           (const char *)v.data, v.epoch, spl_view_valid(s, &v) == 0 ? "valid" : "stale");
    CHECK(spl_read_with(s, "greeting", shout, NULL));

    printf("keys:\n");
    CHECK(spl_foreach(s, NULL, print_entry, NULL));
    spl_filter f = {.prefix = "worker."};
    printf("keys with prefix \"worker.\":\n");
    CHECK(spl_foreach(s, &f, print_entry, NULL));

    int rc = spl_set(s, "this-key-is-far-too-long-for-a-32-byte-key_max", "x", 1);
    printf("too-long key -> %s: %s\n", spl_err_name(rc), spl_strerror(rc));

    spl_info info;
    CHECK(spl_info_get(s, &info));
    printf("store: %u slots, key_max %u, val_max %u, %" PRIu64 " used (load %.3f), %" PRIu64
           " bytes mapped\n",
           info.geom.slots, info.geom.key_max, info.geom.val_max, info.used, info.load,
           info.region_bytes);
    spl_close(s);
    return counter == WORKERS * BUMPS ? 0 : 1;
}
