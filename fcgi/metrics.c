#include "fcgi/metrics.h"

#include <stdatomic.h>
#include <stdio.h>

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
    [FCGI_M_STAMP_MS_TOTAL] = {"filigrane_stamp_milliseconds_total", "", "Time spent in sandboxed stamping."},
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

size_t fcgi_metrics_render(char *buf, size_t len)
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
    return n < len ? n : len - 1;
}
