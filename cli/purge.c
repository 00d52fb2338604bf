/* filigrane purge: purges the orders whose retention ran out
 * (orders/retention.h), as the worker's maintenance loop does. The blobs
 * they no longer reference are removed later by the collector (the
 * worker's pass, or `filigrane blobs gc`), past its grace period.
 * --now TIME decides what is due as if the clock read TIME (RFC 3339
 * UTC, "2027-01-31T00:00:00Z"): for operators checking what a date would
 * purge, and for tests. The records carry the real time. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "orders/retention.h"
#include "storage/meta.h"

static const char USAGE[] =
    "filigrane purge [--data DIR] [--now TIME]   (DIR: $FILIGRANE_DATA or ./var; "
    "TIME: RFC 3339 UTC, e.g. 2027-01-31T00:00:00Z; days: $FILIGRANE_RETENTION_DAYS, "
    "$FILIGRANE_RETENTION_ACCEPTED_DAYS)";

/* "YYYY-MM-DDTHH:MM:SSZ" or with ".mmm" before the Z. */
static bool parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || strlen(s) != 19 + strlen(end))
        return false;
    if (end[0] == '.' && strlen(end) == 5 && strspn(end + 1, "0123456789") == 3)
        end += 4;
    if (strcmp(end, "Z") != 0)
        return false;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *out = (int64_t)t;
    return true;
}

static void print_purged(void *ctx, const char *order_id, const char *state, int64_t files)
{
    (void)ctx;
    printf("purged %s (%s) %lld files\n", order_id, state, (long long)files);
}

int cli_purge(int argc, char **argv)
{
    const char *data = getenv("FILIGRANE_DATA");
    int64_t now = (int64_t)time(NULL);
    orders_retention ret;
    fg_reason r = {{0}};
    if (!data || !*data)
        data = "./var";
    if (orders_retention_load(&ret, &r) != FG_OK)
        return cli_usage_error("purge", USAGE, r.text);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
            if (!parse_time(argv[++i], &now))
                return cli_usage_error("purge", USAGE,
                                       "--now must be an RFC 3339 UTC time such as "
                                       "2027-01-31T00:00:00Z");
        } else
            return cli_usage_error("purge", USAGE, "unknown argument");
    }
    store_meta *m = NULL;
    orders_purge_stats st = {0, 0};
    int status = cli_open_store("purge", USAGE, data, &m);
    if (status)
        return status;
    fg_result rc = orders_retention_purge(m, &ret, now, print_purged, NULL, &st, &r);
    store_meta_free(m);
    printf("purge: %lld orders, %lld files\n", (long long)st.orders, (long long)st.files);
    if (rc != FG_OK)
        return cli_error(NULL, rc, r.text);
    return 0;
}
