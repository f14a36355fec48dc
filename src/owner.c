/*
 * owner.c - who holds a slot, and whether they are still alive.
 *
 * A writer's owner id is (pid << 32) | stamp, stamp being the low 32 bits of
 * the process start time (clock ticks since boot, /proc/PID/stat field 22).
 * A pid alone could be reused by an unrelated process; pid plus start time
 * cannot be, within 2^32 ticks.  All participants must share a pid
 * namespace (docs/PROTOCOL.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"

_Atomic uint64_t spl__my_id;
static pthread_once_t spl__atfork_once = PTHREAD_ONCE_INIT;

static void spl__child_after_fork(void)
{
    atomic_store_explicit(&spl__my_id, 0, memory_order_relaxed);
}
static void spl__register_atfork(void) { pthread_atfork(NULL, NULL, spl__child_after_fork); }

/* Read state char and start time of pid; 0 on success. */
static int spl__proc_stat(pid_t pid, char *state, uint64_t *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may contain spaces and ')' */
    if (!p || p[1] != ' ' || !p[2])
        return -1;
    *state = p[2];
    p += 2;
    /* field 3 is state; start time is field 22 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return 0;
}

uint64_t spl__owner_id_slow(void)
{
    pthread_once(&spl__atfork_once, spl__register_atfork);
    pid_t pid = getpid();
    char st;
    uint64_t start = 0;
    uint32_t stamp = spl__proc_stat(pid, &st, &start) == 0 ? (uint32_t)start : 0;
    uint64_t id = ((uint64_t)(uint32_t)pid << 32) | stamp;
    atomic_store_explicit(&spl__my_id, id, memory_order_relaxed);
    return id;
}

int spl__owner_alive(uint64_t id)
{
    pid_t pid = (pid_t)(id >> 32);
    uint32_t stamp = (uint32_t)id;
    if (pid <= 0)
        return 0;
    if (pid == getpid())
        return id == spl__owner_id(); /* ours, or an earlier process with our pid */
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 0;
    char st;
    uint64_t start;
    if (spl__proc_stat(pid, &st, &start) == 0) {
        if (st == 'Z' || st == 'X')
            return 0; /* dead, not yet reaped */
        if (stamp && (uint32_t)start != stamp)
            return 0; /* the pid was reused */
    }
    return 1;
}

/* Back-off for retry loops: spin, then yield, then sleep 1..16 us.  Sleeps
 * stay short: a slot held by a dead writer is recovered only when a caller
 * looks again. */
void spl__backoff(unsigned *round)
{
    unsigned r = *round;
    if (r < 20)
        (*round)++;
    if (r < 8) {
        for (unsigned i = 0; i < (8u << r); i++)
            spl_cpu_relax();
    } else if (r < 16) {
        sched_yield();
    } else {
        struct timespec ts = {0, (long)(1000u << (r - 16))};
        nanosleep(&ts, NULL);
    }
}

/* Everything the shared layout depends on, folded into one number: a store
 * made by a build with another layout is refused (SPL_ELAYOUT). */
uint64_t spl__fingerprint(void)
{
    const uint64_t parts[] = {
        SPL_FORMAT_VERSION, sizeof(struct spl_header), sizeof(struct spl_slot),
        SPL_SLOT_META, SPL_CACHE_LINE, sizeof(void *), sizeof(long),
        SPL_PROBE_LIMIT, SPL_IX_DIST_SHIFT, SPL_IX_CNT_SHIFT, SPL_IX_FP_SHIFT,
        SPL_IX_SLOT_SHIFT, sizeof(struct spl_undo), SPL_UNDO_MAX,
        (uint64_t)offsetof(struct spl_header, index_words),
        SPL_FEATURES, (uint64_t)offsetof(struct spl_slot, labels),
        (uint64_t)offsetof(struct spl_header, used),
        (uint64_t)offsetof(struct spl_header, epoch_floor),
        SPL_SIG_GROUPS, SPL_SIG_STRIPES, SPL_SIG_RECORDS, SPL_SIG_OFF_WATCH,
        sizeof(struct spl_sig_ent), sizeof(struct spl_sig_rec),
        /* vectors: cell head, link encoding, arena geometry, options */
        sizeof(struct spl_vec_head), sizeof(struct spl_cell), SPL_CELL_HEAD,
        (uint64_t)offsetof(struct spl_cell, head), SPL_CELL_CLAIM,
        (uint64_t)offsetof(struct spl_header, cells_off),
        (uint64_t)offsetof(struct spl_header, cell_hint),
        (uint64_t)offsetof(struct spl_header, vec_opts), SPL_VOPT_TANDEM,
        /* fragment registry: header lines 11-12, entry layout */
        (uint64_t)offsetof(struct spl_header, reg_off), (uint64_t)offsetof(struct spl_header, spare_all),
        (uint64_t)offsetof(struct spl_header, reg_lock), SPL_REG_ENTRIES, SPL_REG_STRIDE,
        (uint64_t)offsetof(struct spl_reg_ent, mb_owner), (uint64_t)offsetof(struct spl_reg_ent, name),
        (uint64_t)offsetof(struct spl_reg_ent, rep), SPL_REG_REPLY,
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        1,
#else
        2,
#endif
    };
    return spl__hash(parts, sizeof parts, 0x5eed5eed5eed5eedull) | 1;
}
