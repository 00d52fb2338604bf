/* filigrane blobs gc: removes the blobs no file references.
 *
 * The same collector as the worker's periodic pass (storage/blob_refs.h),
 * plus a sweep of the blob store for blobs that have no reference count at
 * all (stored before counting existed, or whose registration was lost).
 * Safe while the worker runs: every removal is decided and done under the
 * database's write lock, and a blob is kept for the grace period after it
 * was last registered or unreferenced. Prints each blob removed. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/duration.h"
#include "storage/blob.h"
#include "storage/blob_refs.h"
#include "storage/meta.h"

static const char USAGE[] =
    "filigrane blobs gc [--data DIR] [--grace DURATION] [--no-sweep]   "
    "(DIR: $FILIGRANE_DATA or ./var; DURATION: $FILIGRANE_BLOB_GRACE or 1h)";

/* The worker's default (fcgi/blob_gc.h), and its bounds. */
#define GRACE_DEFAULT 3600LL
#define GRACE_MAX (365LL * 86400)

static void print_removed(void *ctx, const char *hex, int64_t size)
{
    (void)ctx;
    printf("removed %s %lld\n", hex, (long long)size);
}

int cli_blobs(int argc, char **argv)
{
    const char *data = getenv("FILIGRANE_DATA");
    long long grace = GRACE_DEFAULT;
    bool sweep = true;
    fg_reason r = {{0}};
    if (!data || !*data)
        data = "./var";
    if (argc < 2 || strcmp(argv[1], "gc") != 0)
        return cli_usage_error("blobs", USAGE, "the only action is gc");
    if (fg_duration_env("FILIGRANE_BLOB_GRACE", 1, GRACE_MAX, &grace, &r) != FG_OK)
        return cli_usage_error("blobs", USAGE, r.text);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc) {
            if (!fg_duration_parse(argv[++i], 1, GRACE_MAX, &grace))
                return cli_usage_error("blobs", USAGE,
                                       "--grace must be a duration from 1 s to 365 d");
        } else if (strcmp(argv[i], "--no-sweep") == 0)
            sweep = false;
        else
            return cli_usage_error("blobs", USAGE, "unknown argument");
    }
    store_meta *m = NULL;
    store_blob *b = NULL;
    store_blob_gc_stats st = {0, 0};
    store_blob_gc_opts o = {.now = (int64_t)time(NULL), .grace = grace, .sweep = sweep,
                            .fn = print_removed};
    /* The collector only removes what the store says is unused: opening
     * the store first refuses a mistyped --data before any sweep. */
    int status = cli_open_store("blobs", USAGE, data, &m);
    if (status)
        return status;
    fg_result rc = store_blob_open_fs(data, &b, &r);
    if (rc == FG_OK)
        rc = store_blob_gc(m, b, &o, &st, &r);
    store_blob_free(b);
    store_meta_free(m);
    printf("blobs: removed %lld, %lld bytes\n", (long long)st.removed, (long long)st.bytes);
    if (rc != FG_OK)
        return cli_error(NULL, rc, r.text);
    return 0;
}
