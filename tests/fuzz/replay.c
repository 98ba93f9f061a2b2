/* replay.c - a standalone driver for the libFuzzer targets, so that the seed corpus and
 * every crash reproducer replay under any compiler (gcc in `make test`, gcc with ASan
 * and UBSan in `make check`) without libFuzzer.
 *
 * Usage: fuzz_NAME PATH...
 *   A directory: every regular file directly inside it (not recursively; names starting
 *   with '.' such as .keep are skipped) is fed to LLVMFuzzerTestOneInput, in name
 *   order. A file: it is fed as is.
 * Each input is read into a heap buffer of exactly its size, so an over-read is caught
 * by ASan. Inputs are capped at REPLAY_MAX_INPUT (16 MiB): a longer file is truncated
 * to that size, with a note on stderr (libFuzzer's own -max_len is far smaller).
 * A crash aborts the process, which is the failure. An unreadable path is counted as
 * failed and the exit status is 1. The closing line is "NAME: N passed, F failed"
 * with NAME the basename of argv[0]. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPLAY_MAX_INPUT ((size_t)16 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target; weak so that targets without it still link. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static unsigned long passed, failed;

/* Reads at most REPLAY_MAX_INPUT bytes of path and runs the target on them. Returns 0,
 * or -1 when the file cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    int truncated = 0;
    while (buf != NULL) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
        if (n == cap) {
            if (cap == REPLAY_MAX_INPUT) {
                truncated = fgetc(f) != EOF;
                break;
            }
            size_t ncap = cap * 2 > REPLAY_MAX_INPUT ? REPLAY_MAX_INPUT : cap * 2;
            uint8_t *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
    }
    int rerr = ferror(f);
    fclose(f);
    if (buf == NULL || rerr) {
        fprintf(stderr, "replay: %s: %s\n", path, buf == NULL ? "out of memory" : "read error");
        free(buf);
        return -1;
    }
    if (truncated)
        fprintf(stderr, "replay: %s: truncated to %zu bytes\n", path, REPLAY_MAX_INPUT);

    /* An exact-size copy, so that reading one byte past the input is an ASan error
     * rather than a read of the buffer's slack. */
    uint8_t *in = malloc(n ? n : 1);
    if (in == NULL) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        free(buf);
        return -1;
    }
    memcpy(in, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(in, n);
    free(in);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file directly inside dir, sorted by name. */
static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (nn == NULL) {
                rc = -1;
                break;
            }
            names = nn;
            cap = ncap;
        }
        size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
        names[count] = malloc(len);
        if (names[count] == NULL) {
            rc = -1;
            break;
        }
        snprintf(names[count], len, "%s/%s", dir, e->d_name);
        count++;
    }
    closedir(d);
    if (rc != 0)
        fprintf(stderr, "replay: %s: out of memory\n", dir);
    else if (count > 0)
        qsort(names, count, sizeof *names, cmp_names);

    for (size_t i = 0; i < count; i++) {
        struct stat st;
        if (rc == 0) {
            if (stat(names[i], &st) != 0) {
                fprintf(stderr, "replay: %s: %s\n", names[i], strerror(errno));
                failed++;
            } else if (S_ISREG(st.st_mode)) {
                if (replay_file(names[i]) == 0)
                    passed++;
                else
                    failed++;
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    const char *name = argc > 0 ? strrchr(argv[0], '/') : NULL;
    name = name != NULL ? name + 1 : (argc > 0 ? argv[0] : "replay");
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", name);
        return 2;
    }
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            failed++;
        } else if (S_ISDIR(st.st_mode)) {
            if (replay_dir(argv[i]) != 0)
                failed++;
        } else if (replay_file(argv[i]) == 0) {
            passed++;
        } else {
            failed++;
        }
    }
    printf("%s: %lu passed, %lu failed\n", name, passed, failed);
    return failed ? 1 : 0;
}
