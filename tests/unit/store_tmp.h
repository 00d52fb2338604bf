/* Temp directories for the storage tests: a fresh one per test, removed
 * with everything in it. Header-only, for tests only. With
 * tests/unit/tap.h included first, also a whole store per test (struct db). */
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

#ifdef TAP_H
#include "storage/meta.h"

/* A metadata store on a fresh SQLite file in its own temp directory, for
 * the tests of the store and of what is built on it. The including test
 * includes tests/unit/tap.h first (db_open fails the test on error). */
struct db {
    char dir[256];
    char path[300];
    store_meta *m;
};

static inline void db_open(struct db *d)
{
    fg_reason r = {""};
    CHECK(tmp_dir_make(d->dir) == 0);
    snprintf(d->path, sizeof d->path, "%s/meta.db", d->dir);
    if (store_meta_open_sqlite(d->path, &d->m, &r) != FG_OK)
        TAP_FAIL("open: %s", r.text);
}

/* Another handle on d's store (as another thread, process or node would
 * open): the caller frees it (store_meta_free). */
static inline store_meta *db_handle(struct db *d)
{
    fg_reason r = {""};
    store_meta *m = NULL;
    if (store_meta_open_sqlite(d->path, &m, &r) != FG_OK)
        TAP_FAIL("open another handle: %s", r.text);
    return m;
}

static inline void db_close(struct db *d)
{
    store_meta_free(d->m);
    d->m = NULL;
    tmp_dir_remove(d->dir);
}
#endif

#endif
