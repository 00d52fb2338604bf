#include "fcgi/metrics.h"

#include <stdatomic.h>
#include <stdio.h>

#include "build_info.h" /* FG_BUILD_VERSION, FG_BUILD_COMMIT: written by make */

static atomic_ullong counters[FCGI_M_COUNT];

/* name, labels, help: one row per counter. Requests share a name and differ
 * by label, as Prometheus expects. */
static const struct {
    const char *name;
    const char *labels;
    const char *help;
} rows[FCGI_M_COUNT] = {
    [FCGI_M_REQUESTS_2XX] = {"filigrane_http_requests_total", "{code=\"2xx\"}", "Requests answered, by status class."},
    [FCGI_M_REQUESTS_3XX] = {"filigrane_http_requests_total", "{code=\"3xx\"}", NULL},
    [FCGI_M_REQUESTS_4XX] = {"filigrane_http_requests_total", "{code=\"4xx\"}", NULL},
    [FCGI_M_REQUESTS_5XX] = {"filigrane_http_requests_total", "{code=\"5xx\"}", NULL},
    [FCGI_M_UPLOAD_FILES] = {"filigrane_upload_files_total", "", "Delivered files stored."},
    [FCGI_M_UPLOAD_BYTES] = {"filigrane_upload_bytes_total", "", "Bytes of delivered files stored."},
    [FCGI_M_PREVIEWS_READY] = {"filigrane_previews_total", "{result=\"ready\"}", "Preview attempts, by result."},
    [FCGI_M_PREVIEWS_FAILED] = {"filigrane_previews_total", "{result=\"failed\"}", NULL},
    [FCGI_M_PREVIEWS_WITHHELD] = {"filigrane_previews_total", "{result=\"withheld\"}", NULL},
    [FCGI_M_DOWNLOADS_PREVIEW] = {"filigrane_downloads_total", "{what=\"preview\"}", "Downloads handed to nginx, by kind."},
    [FCGI_M_DOWNLOADS_ORIGINAL] = {"filigrane_downloads_total", "{what=\"original\"}", NULL},
    [FCGI_M_ORIGINALS_REFUSED] = {"filigrane_originals_refused_total", "", "Original downloads refused before release."},
    [FCGI_M_WEBHOOKS_APPLIED] = {"filigrane_webhooks_total", "{result=\"applied\"}", "Order webhooks received, by result."},
    [FCGI_M_WEBHOOKS_DUPLICATE] = {"filigrane_webhooks_total", "{result=\"duplicate\"}", NULL},
    [FCGI_M_WEBHOOKS_REJECTED] = {"filigrane_webhooks_total", "{result=\"rejected\"}", NULL},
    [FCGI_M_AUTH_FAILURES] = {"filigrane_auth_failures_total", "", "Requests refused for missing or bad credentials."},
    [FCGI_M_EVENTS_SENT] = {"filigrane_events_total", "{result=\"sent\"}", "Outgoing events: tries answered 2xx, tries failed, events given up."},
    [FCGI_M_EVENTS_FAILED] = {"filigrane_events_total", "{result=\"failed\"}", NULL},
    [FCGI_M_EVENTS_DEAD] = {"filigrane_events_total", "{result=\"dead\"}", NULL},
};

void fcgi_metric_add(fcgi_counter c, unsigned long long n)
{
    if ((unsigned)c < FCGI_M_COUNT)
        atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

/* Upper bounds in seconds, from a request the worker answers in half a
 * millisecond (a cached token and one read) to the stamping timeout's
 * range (FILIGRANE_STAMP_TIMEOUT, 120 s by default). */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                2.5,   5,    10,    30,   60,  120, 300};
#define NBOUNDS (sizeof bounds / sizeof bounds[0])

static const struct {
    const char *name;
    const char *help;
} hrows[FCGI_H_COUNT] = {
    [FCGI_H_REQUEST] = {"filigrane_request_duration_seconds", "Time the worker took to answer one request, from its start to its last byte handed to nginx."},
    [FCGI_H_JOB_WAIT] = {"filigrane_job_wait_seconds", "Time a job waited for a runner, from when it was due."},
    [FCGI_H_STAMP] = {"filigrane_stamp_duration_seconds", "Time of one sandboxed stamping."},
};

/* Per bucket (not cumulative: summed when rendered), the +Inf bucket last;
 * the sum in microseconds, so that it stays an integer. */
static atomic_ullong hbuckets[FCGI_H_COUNT][NBOUNDS + 1];
static atomic_ullong hsum_us[FCGI_H_COUNT];

void fcgi_histogram_observe(fcgi_histogram h, double seconds)
{
    if ((unsigned)h >= FCGI_H_COUNT)
        return;
    if (!(seconds > 0))
        seconds = 0;
    size_t b = 0;
    while (b < NBOUNDS && seconds > bounds[b])
        b++;
    atomic_fetch_add_explicit(&hbuckets[h][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hsum_us[h], (unsigned long long)(seconds * 1e6 + 0.5),
                              memory_order_relaxed);
}

static size_t put(size_t n, int m)
{
    return m > 0 ? n + (size_t)m : n;
}

static size_t render_histograms(char *buf, size_t len, size_t n)
{
    for (int h = 0; h < FCGI_H_COUNT && n < len; h++) {
        const char *name = hrows[h].name;
        unsigned long long cum = 0;
        n = put(n, snprintf(buf + n, len - n, "# HELP %s %s\n# TYPE %s histogram\n",
                                      name, hrows[h].help, name));
        for (size_t b = 0; b <= NBOUNDS && n < len; b++) {
            cum += atomic_load_explicit(&hbuckets[h][b], memory_order_relaxed);
            if (b < NBOUNDS)
                n = put(n, snprintf(buf + n, len - n, "%s_bucket{le=\"%g\"} %llu\n",
                                              name, bounds[b], cum));
            else
                n = put(n, snprintf(buf + n, len - n, "%s_bucket{le=\"+Inf\"} %llu\n",
                                              name, cum));
        }
        unsigned long long us = atomic_load_explicit(&hsum_us[h], memory_order_relaxed);
        if (n < len)
            n = put(n, snprintf(buf + n, len - n, "%s_sum %llu.%06llu\n%s_count %llu\n",
                                          name, us / 1000000, us % 1000000, name, cum));
    }
    /* The stamping time as a plain counter too, in seconds (it was
     * filigrane_stamp_milliseconds_total). */
    unsigned long long us = atomic_load_explicit(&hsum_us[FCGI_H_STAMP], memory_order_relaxed);
    if (n < len)
        n = put(n,
                snprintf(buf + n, len - n,
                         "# HELP filigrane_stamp_seconds_total Time spent in sandboxed stamping.\n"
                         "# TYPE filigrane_stamp_seconds_total counter\n"
                         "filigrane_stamp_seconds_total %llu.%06llu\n",
                         us / 1000000, us % 1000000));
    return n;
}

size_t fcgi_metrics_render(char *buf, size_t len, long long jobs_queued)
{
    size_t n = 0;
    for (int i = 0; i < FCGI_M_COUNT && n < len; i++) {
        int m = 0;
        if (rows[i].help)
            m = snprintf(buf + n, len - n, "# HELP %s %s\n# TYPE %s counter\n",
                         rows[i].name, rows[i].help, rows[i].name);
        if (m > 0)
            n += (size_t)m;
        if (n >= len)
            break;
        m = snprintf(buf + n, len - n, "%s%s %llu\n", rows[i].name, rows[i].labels,
                     atomic_load_explicit(&counters[i], memory_order_relaxed));
        if (m > 0)
            n += (size_t)m;
    }
    if (n < len)
        n = render_histograms(buf, len, n);
    if (n < len)
        n = put(n, snprintf(buf + n, len - n,
                            "# HELP filigrane_build_info The running build: version and commit.\n"
                            "# TYPE filigrane_build_info gauge\n"
                            "filigrane_build_info{version=\"%s\",commit=\"%s\"} 1\n",
                            FG_BUILD_VERSION, FG_BUILD_COMMIT));
    if (n < len && jobs_queued >= 0)
        n = put(n,
                snprintf(buf + n, len - n,
                         "# HELP filigrane_jobs_queued Jobs waiting for a runner (pending).\n"
                         "# TYPE filigrane_jobs_queued gauge\nfiligrane_jobs_queued %lld\n",
                         jobs_queued));
    return n < len ? n : len - 1;
}
