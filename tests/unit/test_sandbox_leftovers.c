/* What a stamping child that is killed or crashes leaves behind: its
 * half-written preview (".<output>.tmp-XXXXXX" beside the output) is
 * removed by the runner; nothing else in the directory is touched. The
 * child here is a shell script standing in for the CLI, writing its temp
 * file the way watermark/outfile.c names it, then hanging or crashing. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "watermark/sandbox.h"

#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

static char dir[256], script[320], in[320], out[320], tmp[360], other[360];

static void setup(const char *how)
{
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(script, sizeof script, "%s/fake-cli", dir);
    snprintf(in, sizeof in, "%s/input.png", dir);
    snprintf(out, sizeof out, "%s/preview.jpg", dir);
    snprintf(tmp, sizeof tmp, "%s/.preview.jpg.tmp-Ab12Cd", dir);
    snprintf(other, sizeof other, "%s/.other.jpg.tmp-Ab12Cd", dir);
    FILE *f = fopen(script, "w");
    CHECK(f != NULL);
    /* The output is the last argument. */
    fprintf(f, "#!/bin/sh\nfor a; do out=$a; done\n"
               "d=$(dirname \"$out\"); b=$(basename \"$out\")\n"
               "head -c 850000 /dev/zero > \"$d/.$b.tmp-Ab12Cd\"\n%s\n",
            how);
    fclose(f);
    chmod(script, 0755);
    f = fopen(in, "w");
    fputs("x", f);
    fclose(f);
    f = fopen(other, "w");
    fputs("not the child's", f);
    fclose(f);
}

static fg_result run(int wall)
{
    fg_reason r = {""};
    wm_sandbox_limits l = {.address_space = 1LL << 32, .cpu_seconds = 30,
                           .wall_seconds = wall, .file_size = 1LL << 30,
                           .open_files = 64};
    return wm_sandbox_stamp(script, in, out, NULL, &l, &r);
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

TEST("a child killed at the deadline leaves no half-written preview")
{
    setup("sleep 30");
    CHECK_INT(run(1), FG_ETIMEOUT);
    CHECK(!exists(tmp));
    CHECK(!exists(out));
    CHECK(exists(other));
    CHECK(exists(in));
    tmp_dir_remove(dir);
}

TEST("a child that crashes leaves no half-written preview")
{
    setup("kill -SEGV $$");
    CHECK_INT(run(30), FG_ECRASH);
    CHECK(!exists(tmp));
    CHECK(exists(other));
    tmp_dir_remove(dir);
}

TEST("a child that fails on its own keeps the directory as it made it")
{
    /* A child that exits by itself cleans up after itself (outfile.c);
     * the runner removes nothing it did not have to. */
    setup("exit 4");
    CHECK_INT(run(30), FG_ECORRUPT);
    CHECK(exists(tmp));
    CHECK(exists(other));
    tmp_dir_remove(dir);
}
