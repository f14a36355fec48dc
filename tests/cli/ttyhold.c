/*
 * ttyhold.c - an LD_PRELOAD shim for tests/cli/repl.bats: while the file
 * named by $TTYHOLD_FILE exists, a tcsetattr() that turns ISIG off (the
 * REPL taking the terminal back for its prompt after a command) waits
 * before it applies.  Keys sent meanwhile meet the terminal as a command
 * leaves it: ISIG on, so a Ctrl-C among them is a signal.  That is the
 * moment a busy machine can stretch, made as long as a test needs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

int tcsetattr(int fd, int act, const struct termios *t)
{
    static int (*real)(int, int, const struct termios *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "tcsetattr");
    const char *hold = getenv("TTYHOLD_FILE");
    struct termios cur;
    if (hold && t && !(t->c_lflag & ISIG) && tcgetattr(fd, &cur) == 0 && (cur.c_lflag & ISIG)) {
        /* at most 20 s; a signal cuts a sleep short, the loop goes on */
        for (int i = 0; i < 2000 && access(hold, F_OK) == 0; i++) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return real(fd, act, t);
}
