/* Temp directories for the storage tests: a fresh one per test, removed
 * with everything in it. Header-only, for tests only. */
#ifndef STORE_TMP_H
#define STORE_TMP_H

/* The including file defines _GNU_SOURCE first (nftw, mkdtemp). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tmp_rm_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Makes a new directory under $TMPDIR (or /tmp) into dir. */
static inline int tmp_dir_make(char dir[256])
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, 256, "%s/fg-store-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static inline void tmp_dir_remove(const char *dir)
{
    nftw(dir, tmp_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
