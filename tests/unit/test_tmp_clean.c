/* Removing our temp files: a dead run's leftovers at startup (only our
 * prefixes, only older than the process), a job's directory whole. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include "storage/tmp_clean.h"

static void mk(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    fputs("leftover", f);
    fclose(f);
}

static void mkd(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    CHECK(mkdir(p, 0700) == 0);
}

static bool there(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lstat(p, &st) == 0;
}

TEST("startup cleaning removes our old temp files and job directories only")
{
    char dir[256];
    fg_reason r;
    int64_t n = -1;
    CHECK(tmp_dir_make(dir) == 0);
    mk(dir, "upload-Ab12Cd");
    mk(dir, "blob-Xy34Zw");
    mkd(dir, "stamp-Qq11Ww");
    mk(dir, "stamp-Qq11Ww/.preview.tmp-Ee22Rr");
    mkd(dir, "stamp-Qq11Ww/nested");
    mk(dir, "stamp-Qq11Ww/nested/vips-1.v");
    /* nginx's: its body files may belong to requests in flight. */
    mkd(dir, "body");
    mk(dir, "body/0000000001");
    mk(dir, "someone-else");
    /* A link named like ours is removed itself, never followed. */
    mkd(dir, "keep");
    mk(dir, "keep/precious");
    char target[300], link[300];
    snprintf(target, sizeof target, "%s/keep", dir);
    snprintf(link, sizeof link, "%s/stamp-link", dir);
    CHECK(symlink(target, link) == 0);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    CHECK_INT(store_tmp_clean(dir, &now, &n, &r), FG_OK);
    CHECK_INT(n, 4);
    CHECK(!there(dir, "upload-Ab12Cd"));
    CHECK(!there(dir, "blob-Xy34Zw"));
    CHECK(!there(dir, "stamp-Qq11Ww"));
    CHECK(!there(dir, "stamp-link"));
    CHECK(there(dir, "body/0000000001"));
    CHECK(there(dir, "someone-else"));
    CHECK(there(dir, "keep/precious"));
    tmp_dir_remove(dir);
}

TEST("startup cleaning keeps temp files newer than the process")
{
    char dir[256];
    fg_reason r;
    int64_t n = -1;
    CHECK(tmp_dir_make(dir) == 0);
    struct timespec before = {.tv_sec = time(NULL) - 60, .tv_nsec = 0};
    mk(dir, "upload-Young1");
    CHECK_INT(store_tmp_clean(dir, &before, &n, &r), FG_OK);
    CHECK_INT(n, 0);
    CHECK(there(dir, "upload-Young1"));
    tmp_dir_remove(dir);
}

TEST("a missing temp directory is nothing to clean")
{
    fg_reason r;
    int64_t n = -1;
    struct timespec now = {.tv_sec = time(NULL), .tv_nsec = 0};
    CHECK_INT(store_tmp_clean("/nonexistent/filigrane-tmp", &now, &n, &r), FG_OK);
    CHECK_INT(n, 0);
}

TEST("a job directory is removed whole")
{
    char dir[256], job[300];
    CHECK(tmp_dir_make(dir) == 0);
    mkd(dir, "stamp-J1");
    mk(dir, "stamp-J1/preview");
    mk(dir, "stamp-J1/.preview.tmp-Aa11Bb");
    snprintf(job, sizeof job, "%s/stamp-J1", dir);
    CHECK_INT(store_tmp_remove_tree(job), 3);
    CHECK(!there(dir, "stamp-J1"));
    CHECK_INT(store_tmp_remove_tree(job), 0);
    tmp_dir_remove(dir);
}
