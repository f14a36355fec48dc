/*
 * replay_main.c - run a libFuzzer target without libFuzzer: call
 * LLVMFuzzerTestOneInput once on every regular file in the directories (or
 * on the files) named as arguments.  Missing directories are skipped, so
 * `replay_fuzz_X tests/fuzz/corpus tests/fuzz/regressions` works before any
 * regression exists.  Exit status 0 unless an argument could not be read;
 * a crash in the target is a crash here (and fails the test).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* A target may count the inputs it could use (for fuzz_region: the images
 * that opened as stores).  If so, a replay where fewer than half of the
 * inputs were usable fails: a corpus the current format refuses as a whole
 * would otherwise test nothing and pass. */
unsigned fuzz_usable_inputs(void) __attribute__((weak));

static int run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        return -1;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(fp);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, fp);
        if (n == 0)
            break;
        len += n;
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    /* Named first, so that a crash's log says which input it was. */
    printf("replay: %s (%zu bytes)\n", path, len);
    fflush(stdout);
    /* Exact-size copy, so that ASan sees reads past the input's end. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file in dir, in name order (reproducible). */
static int run_dir(const char *dir, unsigned *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) {
            printf("replay: %s: missing, skipped\n", dir);
            return 0;
        }
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README") == 0 ||
            strcmp(e->d_name, "README.md") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n]) {
            rc = -1;
            break;
        }
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    unsigned here = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(names[i]) != 0)
                rc = -1;
            else
                here++;
        }
        free(names[i]);
    }
    free(names);
    printf("replay: %s: %u inputs\n", dir, here);
    *count += here;
    return rc;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(argv[i]) != 0)
                rc = 1;
            else
                count++;
        } else if (run_dir(argv[i], &count) != 0) {
            rc = 1;
        }
    }
    printf("replay: %u inputs ran\n", count);
    if (fuzz_usable_inputs) {
        unsigned ok = fuzz_usable_inputs();
        printf("replay: %u of them usable by the target\n", ok);
        if (count && ok * 2 < count) {
            fprintf(stderr, "replay: fewer than half of the inputs were usable: the corpus is stale "
                            "(make fuzz-corpus)\n");
            rc = 1;
        }
    }
    return rc;
}
