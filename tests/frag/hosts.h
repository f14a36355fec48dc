/*
 * hosts.h - the fragment hosts a test started, killed at its exit whatever
 * happened (a failed check must not leave daemons behind).  Header-only:
 * tests/frag/test_frag.c and fragments/dsp/test_dsp.c include it.
 */
#ifndef SPL_TEST_FRAG_HOSTS_H
#define SPL_TEST_FRAG_HOSTS_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int hosts[64], nhosts;
static int track(int pid)
{
    if (pid > 0 && nhosts < 64)
        hosts[nhosts++] = pid;
    return pid;
}
static void kill_hosts(void)
{
    for (int i = 0; i < nhosts; i++) { /* still a host (not a reused pid)? */
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/%d/comm", hosts[i]);
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof comm, f) && strncmp(comm, "splinter-host", 13) == 0)
            kill(hosts[i], SIGKILL);
        if (f)
            fclose(f);
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
