/* filigrane trace: names the order, buyer and file a suspect image or PDF
 * was previewed for, from its traceable mark (watermark/trace.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "orders/trace.h"
#include "storage/meta.h"
#include "watermark/options.h"
#include "watermark/sandbox.h"
#include "watermark/trace_code.h"

static const char USAGE[] = "filigrane trace [--data DIR] FILE";

#define TRACE_FAILED 6

int cli_trace(int argc, char **argv)
{
    const char *data = getenv("FILIGRANE_DATA"), *file = NULL, *key = NULL;
    const char *scratch = getenv("FILIGRANE_SCRATCH");
    store_meta *m = NULL;
    fg_reason r = {{0}};
    wm_sandbox_limits l;
    orders_trace_match match;
    bool found = false;
    char self[4096];
    if (!data || !*data)
        data = "./var";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strncmp(argv[i], "--data=", 7) == 0)
            data = argv[i] + 7;
        else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: %s\n\nPrints \"order O buyer B file F confidence Z\" and exits 0\n"
                   "when FILE (an image, or a PDF's pages) carries the traceable mark\n"
                   "of a preview in the store; prints \"no mark found\" and exits 1\n"
                   "otherwise. FILE is decoded in the sandbox. Needs FILIGRANE_MARK_KEY.\n"
                   "Other exit statuses: 2 usage, 3 a type that cannot be traced,\n"
                   "4 unreadable, 5 over a limit, 6 tracing failed (the store, a\n"
                   "crashed or timed-out decoder).\n",
                   USAGE);
            return 0;
        } else if (argv[i][0] == '-' || file)
            return cli_usage_error("trace", USAGE, "unknown argument");
        else
            file = argv[i];
    }
    if (!file)
        return cli_usage_error("trace", USAGE, "want a FILE");
    if (wm_mark_key_from_env(&key, &r) != FG_OK)
        return cli_usage_error("trace", USAGE, r.text);
    if (!key)
        return cli_usage_error("trace", USAGE, "FILIGRANE_MARK_KEY is not set");
    if (wm_sandbox_limits_init(&l, &r) != FG_OK)
        return cli_usage_error("trace", USAGE, r.text);
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return cli_error(file, FG_EIO, "cannot find the filigrane program");
    self[len] = '\0';
    if (!scratch || !*scratch)
        scratch = getenv("TMPDIR");
    if (!scratch || !*scratch)
        scratch = "/tmp";
    /* Exit 1 means "no mark found" here: any other failure that would
     * exit 1 (the store, the scratch directory, a child killed) exits
     * TRACE_FAILED instead, so a script never mistakes it for an answer. */
    int status = cli_open_store("trace", USAGE, data, &m);
    if (status)
        return status == 1 ? TRACE_FAILED : status;
    /* The child inherits the environment: it gets the pattern key in its
     * own variable, never the mark key. */
    char *k = strdup(key);
    unsetenv(WM_MARK_KEY_ENV);
    fg_result rc = k ? orders_trace_file(self, k, file, scratch, &l, m, &match, &found, &r)
                     : fg_fail(&r, FG_EIO, "out of memory");
    if (k) {
        memset(k, 0, strlen(k));
        free(k);
    }
    store_meta_free(m);
    if (rc != FG_OK) {
        status = cli_error(file, rc, r.text);
        return status == 1 ? TRACE_FAILED : status;
    }
    if (!found) {
        printf("no mark found\n");
        return 1;
    }
    printf("order %s buyer %s file %s confidence %.1f\n", match.mark.order_id,
           match.mark.buyer_id, match.mark.file_id, match.z);
    fprintf(stderr, "sync peak %.1f standard deviations (threshold %.0f), scale %.3f, "
            "%d weak bit(s) flipped, preview made %s\n",
            match.z, WM_TRACE_Z_MIN, match.scale, match.flipped, match.mark.created_at);
    return 0;
}
