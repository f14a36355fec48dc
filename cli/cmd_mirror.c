/*
 * cmd_mirror.c - `splinterctl mirror`: the NATS JetStream mirror
 * (mirror/README.md) with splinter-mirror's arguments.  Built with
 * WITH_NATS=1 the mirror library is linked in (spl_mirror_main); otherwise
 * the splinter-mirror installed beside splinterctl is run, and without one
 * the command says how to get it (exit 2).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#ifndef SPLCTL_WITH_NATS
#define SPLCTL_WITH_NATS 0
#endif
#if SPLCTL_WITH_NATS
#include "splinter_mirror.h"
#endif

/* splinter-mirror's options that take a value (as a separate argument). */
static int takes_value(const char *a)
{
    static const char *const v[] = {"to", "from", "bucket", "prefix", "label", "group", "history",
                                    "max-value", "creds", "token-file", "tls-ca", "tls-cert",
                                    "tls-key", "backoff-min", "backoff-max", "stats", "bench", "count",
                                    "lag", "token", "password", "user", NULL};
    if (a[0] != '-' || a[1] != '-' || strchr(a, '='))
        return 0;
    for (int i = 0; v[i]; i++)
        if (strcmp(a + 2, v[i]) == 0)
            return 1;
    return 0;
}

/* Whether the arguments name a store (or ask for the benchmark or help). */
static int has_positional(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            return i + 1 < argc;
        if (strncmp(a, "--bench", 7) == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (a[0] != '-' || a[1] == '\0')
            return 1;
        if (takes_value(a))
            i++;
    }
    return 0;
}

int cmd_mirror(cli_ctx *c, int argc, char **argv)
{
    /* STORE left out: the current store (--store, or the REPL's) */
    char *av[argc + 2];
    int ac = 0;
    av[ac++] = (char *)"splinterctl mirror";
    for (int i = 1; i < argc; i++)
        av[ac++] = argv[i];
    if (c->store[0] && !has_positional(argc, argv))
        av[ac++] = c->store;
    av[ac] = NULL;
    fflush(stdout);
#if SPLCTL_WITH_NATS
    return spl_mirror_main(ac, av);
#else
    /* the program beside this one (make install puts both in BINDIR) */
    char self[PATH_MAX], prog[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(prog, sizeof prog, "%s/splinter-mirror", self);
            if (access(prog, X_OK) == 0) {
                av[0] = prog;
                if (c->interactive) { /* the REPL goes on after it */
                    pid_t pid = fork();
                    if (pid == 0) {
                        execv(prog, av);
                        _exit(127);
                    }
                    int st;
                    if (pid < 0 || waitpid(pid, &st, 0) < 0)
                        return cli_fail(c, CLI_USAGE, "SPL_ENOTSUP", "%s: %s", prog, strerror(errno));
                    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                }
                execv(prog, av);
                return cli_fail(c, CLI_USAGE, "SPL_ENOTSUP", "%s: %s", prog, strerror(errno));
            }
        }
    }
    return cli_fail(c, CLI_USAGE, "SPL_ENOTSUP",
                    "this splinterctl was built without the NATS mirror, and no splinter-mirror is "
                    "installed beside it: build with 'make WITH_NATS=1' (needs libnats-dev)");
#endif
}
