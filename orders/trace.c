#include "orders/trace.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/hex.h"
#include "storage/tmp_clean.h"
#include "watermark/trace_code.h"

/* A report holds a header and WM_TRACE_MAX_CANDIDATES short lines: this
 * is more than any honest child writes, and all we read of another. */
#define REPORT_MAX 2048

static fg_result read_report(const char *path, wm_trace_report *rep, fg_reason *r)
{
    char buf[REPORT_MAX];
    size_t n = 0;
    struct stat st;
    /* The child chose what is at path: a link, a FIFO that would block
     * this thread, a device are refused; only a regular file is read. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fg_fail(r, FG_ECORRUPT, "the decoder wrote no report");
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fg_fail(r, FG_ECORRUPT, "the decoder's report is not a file");
    }
    for (;;) {
        ssize_t k = read(fd, buf + n, sizeof buf - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        if (n == sizeof buf)
            break;
    }
    close(fd);
    if (n == sizeof buf)
        return fg_fail(r, FG_ECORRUPT, "the decoder's report is too long");
    return wm_trace_report_parse(buf, n, rep, r);
}

/* The first payload of rep found in m, trying each candidate's weak bits
 * flipped (wm_trace_try). */
static fg_result lookup(store_meta *m, const wm_trace_report *rep, orders_trace_match *out,
                        bool *found, fg_reason *r)
{
    *found = false;
    for (int i = 0; i < rep->n; i++)
        for (int k = 0; k < (1 << WM_TRACE_WEAK); k++) {
            int flipped = 0;
            uint64_t p = wm_trace_try(&rep->c[i], k, &flipped);
            fg_result rc = store_trace_get(m, p, &out->mark, found, r);
            if (rc != FG_OK)
                return rc;
            if (*found) {
                out->z = rep->c[i].z;
                out->scale = rep->c[i].scale;
                out->flipped = flipped;
                return FG_OK;
            }
        }
    return FG_OK;
}

fg_result orders_trace_file(const char *cli, const char *mark_key, const char *in,
                            const char *scratch, const wm_sandbox_limits *l, store_meta *m,
                            orders_trace_match *out, bool *found, fg_reason *r)
{
    char dir[4096], report[4200];
    char env_pattern[64 + 2 * WM_TRACE_KEY_BYTES];
    unsigned char pk[WM_TRACE_KEY_BYTES];
    char pk_hex[2 * WM_TRACE_KEY_BYTES + 1];
    wm_trace_report rep;
    *found = false;
    if (!mark_key || !*mark_key)
        return fg_fail(r, FG_EUSAGE, "tracing needs FILIGRANE_MARK_KEY");
    fg_result rc = wm_trace_pattern_key(mark_key, strlen(mark_key), pk, r);
    if (rc != FG_OK)
        return rc;
    fg_hex_encode(pk, sizeof pk, pk_hex);
    snprintf(env_pattern, sizeof env_pattern, "%s=%s", WM_TRACE_PATTERN_ENV, pk_hex);
    OPENSSL_cleanse(pk, sizeof pk);
    OPENSSL_cleanse(pk_hex, sizeof pk_hex);
    /* A directory of its own: the child may write only there. */
    if (snprintf(dir, sizeof dir, "%s/trace-XXXXXX", scratch) >= (int)sizeof dir ||
        !mkdtemp(dir)) {
        OPENSSL_cleanse(env_pattern, sizeof env_pattern);
        return fg_fail(r, FG_EIO, "cannot make a working directory for the trace");
    }
    snprintf(report, sizeof report, "%s/report", dir);
    const char *args[] = {"--trace", NULL};
    const char *env[] = {env_pattern, NULL};
    rc = wm_sandbox_stamp_env(cli, in, report, args, env, l, r);
    OPENSSL_cleanse(env_pattern, sizeof env_pattern);
    if (rc == FG_OK && (rc = read_report(report, &rep, r)) == FG_OK)
        rc = lookup(m, &rep, out, found, r);
    store_tmp_remove_tree(dir);
    return rc;
}
