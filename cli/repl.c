/*
 * repl.c - the interactive mode: line editing, history and completion from
 * libedit (its readline interface); command lines run through cli_run like
 * one-shot commands.  History: ~/.splinter/history.  Without a terminal on
 * stdin, lines are read plainly (scripts can pipe commands in).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli.h"

static cli_ctx *repl_ctx;

/* Ctrl-C at the prompt drops the line being typed and gives a new prompt;
 * during a command it does not end the session (top and lua stop on it).
 *
 * At the prompt Ctrl-C is read as a key (the editor's terminal mode has no
 * ISIG), not taken as a signal: a signal reaches the process out of band,
 * and libedit then reads on.  When the key and what was typed after it
 * arrived together (a fast typist, a paste, a busy machine that ran the
 * REPL late), the read returned the next line's first characters before
 * the handler ran, and that whole next line was dropped in place of the
 * interrupted one.  As a key, Ctrl-C ends exactly the line before it.
 *
 * While a command runs the terminal has ISIG (top, watch and lua stop on
 * SIGINT), so a Ctrl-C typed then, or after the command's output but before
 * the next prompt took the terminal, is a signal from the terminal
 * (si_code SI_KERNEL).  The terminal has flushed what was typed before it;
 * the line typed after it is kept: such a signal drops nothing.  Before
 * each line the terminal loses ISIG at once (repl_pre_input), ahead of
 * libedit's own signal handlers, which re-raise every signal they catch
 * with kill() and so hide where it came from.  A SIGINT from elsewhere
 * (kill) still drops the line being read. */
static volatile sig_atomic_t repl_interrupted;
static void repl_sigint(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)uctx;
    if (si && si->si_code == SI_KERNEL)
        return;
    repl_interrupted = 1;
}

/* Before each line (libedit's readline sets the terminal modes up afresh
 * for every line): the editing mode without ISIG, so ^C is read; and
 * ISIG off now, not only when libedit enters its editing mode.  ICANON
 * stays, so libedit takes the terminal for cooked and its execute mode
 * (while commands run) from it, with ISIG put back by "setty -x +isig". */
static int repl_pre_input(void)
{
    rl_parse_and_bind("setty -d -isig");
    rl_parse_and_bind("setty -x +isig");
    struct termios t;
    if (tcgetattr(STDIN_FILENO, &t) == 0 && (t.c_lflag & ISIG)) {
        t.c_lflag &= ~(tcflag_t)ISIG;
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    return 0;
}

static int repl_abort_line(int count, int key)
{
    (void)count;
    (void)key;
    repl_interrupted = 1;
    rl_done = 1; /* the line ends here, without a line: readline gives NULL */
    return 0;
}

/* Split a line into words: whitespace separates, '...' and "..." quote,
 * backslash escapes the next character.  Returns the count, or -1 on an
 * unterminated quote.  Words are written into buf (same size as the line). */
static int split_words(const char *line, char *buf, char **argv, int max)
{
    int argc = 0;
    const char *p = line;
    char *o = buf;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!*p)
            break;
        if (argc == max)
            return -1;
        argv[argc++] = o;
        char q = 0;
        while (*p && (q || (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r'))) {
            if (q && *p == q) {
                q = 0;
                p++;
            } else if (!q && (*p == '\'' || *p == '"')) {
                q = *p++;
            } else if (*p == '\\' && p[1] && q != '\'') {
                *o++ = p[1];
                p += 2;
            } else {
                *o++ = *p++;
            }
        }
        if (q)
            return -1;
        *o++ = 0;
    }
    argv[argc] = NULL;
    return argc;
}

/* ---------------------------------------------------------------- completion */

static char **cand;
static size_t ncand, capcand;

static void cand_clear(void)
{
    for (size_t i = 0; i < ncand; i++)
        free(cand[i]);
    ncand = 0;
}

static void cand_add(const char *s)
{
    if (ncand == capcand) {
        size_t cap = capcand ? capcand * 2 : 64;
        char **n = realloc(cand, cap * sizeof *n);
        if (!n)
            return;
        cand = n;
        capcand = cap;
    }
    char *d = strdup(s);
    if (d)
        cand[ncand++] = d;
}

static int cand_key(const spl_entry *e, void *ud)
{
    (void)ud;
    cand_add(e->key);
    return ncand >= 1000; /* enough to choose from */
}

static char *cand_next(const char *text, int state)
{
    static size_t i;
    (void)text;
    if (state == 0)
        i = 0;
    return i < ncand ? strdup(cand[i++]) : NULL;
}

static char **complete(const char *text, int start, int end)
{
    (void)end;
    cand_clear();
    size_t n = strlen(text);
    int first = 1;
    for (int i = 0; i < start; i++)
        if (rl_line_buffer[i] != ' ' && rl_line_buffer[i] != '\t')
            first = 0;
    if (first) {
        for (const cli_cmd *k = cli_commands; k->name; k++)
            if (strncmp(k->name, text, n) == 0)
                cand_add(k->name);
        if (strncmp("quit", text, n) == 0)
            cand_add("quit");
    } else if (repl_ctx->s) {
        spl_filter f = {.prefix = text};
        spl_foreach(repl_ctx->s, &f, cand_key, NULL);
    }
    rl_attempted_completion_over = 1; /* no file-name fallback */
    return ncand ? rl_completion_matches(text, cand_next) : NULL;
}

/* ---------------------------------------------------------------- loop */

static void history_path(char *out, size_t cap)
{
    const char *home = getenv("HOME");
    out[0] = 0;
    if (!home || !*home)
        return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/.splinter", home);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return;
    snprintf(out, cap, "%s/history", dir);
}

static char *read_plain(void)
{
    char *line = NULL;
    size_t cap = 0;
    if (getline(&line, &cap, stdin) < 0) {
        free(line);
        return NULL;
    }
    line[strcspn(line, "\n")] = 0;
    return line;
}

int cli_repl(cli_ctx *c)
{
    int tty = isatty(STDIN_FILENO);
    char hist[4200], prompt[256];
    repl_ctx = c;
    c->interactive = 1;
    if (tty) {
        rl_readline_name = "splinterctl";
        rl_attempted_completion_function = complete;
        using_history();
        stifle_history(1000);
        history_path(hist, sizeof hist);
        if (hist[0])
            read_history(hist);
        /* ^C (3) as a key while editing; the terminal is restored (ISIG
         * on) while a command runs, so top, watch and lua get SIGINT */
        rl_pre_input_hook = repl_pre_input;
        rl_add_defun("splinter-abort-line", repl_abort_line, 3);
        struct sigaction sa = {.sa_sigaction = repl_sigint, .sa_flags = SA_SIGINFO}; /* no SA_RESTART */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
    }
    int rc = CLI_OK;
    for (;;) {
        snprintf(prompt, sizeof prompt, "splinter%s%.200s> ", c->store[0] ? ":" : "", c->store);
        repl_interrupted = 0;
        char *line = tty ? readline(prompt) : read_plain();
        if (tty && repl_interrupted) { /* Ctrl-C: a fresh line */
            free(line);
            putchar('\n');
            continue;
        }
        if (!line)
            break;
        size_t n = strlen(line);
        char *buf = malloc(n + 1);
        char *argv[256];
        int argc = buf ? split_words(line, buf, argv, 255) : -1;
        if (tty && argc != 0 && line[0] != ' ') {
            add_history(line);
            if (hist[0])
                write_history(hist);
        }
        if (argc < 0) {
            c->cmd = NULL;
            rc = cli_fail(c, CLI_USAGE, "USAGE", "unterminated quote or too many words");
        } else if (argc > 0 && (strcmp(argv[0], "quit") == 0 || strcmp(argv[0], "exit") == 0)) {
            free(buf);
            free(line);
            break;
        } else if (argc > 0) {
            rc = cli_run(c, argc, argv);
        }
        fflush(stdout);
        free(buf);
        free(line);
    }
    cand_clear();
    free(cand);
    cand = NULL;
    capcand = 0;
    if (tty)
        putchar('\n');
    /* piped commands: the last command's exit code; at a terminal: 0 */
    return tty ? CLI_OK : rc;
}
