/* Shared by the libFuzzer targets in tests/fuzz/: an invariant check that
 * stops the run with a message (libFuzzer then saves the input), and a
 * splitter that cuts the input into NUL-terminated fields. */
#ifndef FG_FUZZ_H
#define FG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A broken invariant is a finding: abort() so that libFuzzer keeps the
 * input as crash-<sha1> and a corpus run exits non-zero. */
#define FUZZ_CHECK(cond, ...)                                              \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "invariant broken at %s:%d: %s: ", __FILE__,   \
                    __LINE__, #cond);                                      \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
            abort();                                                       \
        }                                                                  \
    } while (0)

/* A heap copy of n bytes plus a NUL (embedded NULs cut the C string, as a
 * header value would be cut). Aborts when out of memory: a fuzz run has
 * no use for a half-built input. */
static inline char *fuzz_strndup(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Cuts data at each sep into at most max fields (the last one keeps the
 * rest, separators and all). Fields are written to out[] as heap strings;
 * returns how many; free them with fuzz_free_fields. lens[] (if not NULL)
 * gets each field's byte length, embedded NULs included. */
static inline size_t fuzz_split(const uint8_t *data, size_t size, uint8_t sep,
                                char **out, size_t *lens, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < max; i++) {
        if (i == size || (data[i] == sep && n + 1 < max)) {
            if (lens)
                lens[n] = i - start;
            out[n++] = fuzz_strndup(data + start, i - start);
            start = i + 1;
        }
    }
    return n;
}

static inline void fuzz_free_fields(char **f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i]);
}

#endif
