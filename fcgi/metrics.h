/* Counters for GET /metrics (Prometheus text format). Lock-free: every
 * thread bumps them with relaxed atomics. */
#ifndef FCGI_METRICS_H
#define FCGI_METRICS_H

#include <stddef.h>

typedef enum fcgi_counter {
    FCGI_M_REQUESTS_2XX,
    FCGI_M_REQUESTS_3XX,
    FCGI_M_REQUESTS_4XX,
    FCGI_M_REQUESTS_5XX,
    FCGI_M_UPLOAD_FILES,
    FCGI_M_UPLOAD_BYTES,
    FCGI_M_PREVIEWS_READY,
    FCGI_M_PREVIEWS_FAILED,
    FCGI_M_PREVIEWS_WITHHELD,
    FCGI_M_DOWNLOADS_PREVIEW,
    FCGI_M_DOWNLOADS_ORIGINAL,
    FCGI_M_ORIGINALS_REFUSED,
    FCGI_M_WEBHOOKS_APPLIED,
    FCGI_M_WEBHOOKS_DUPLICATE,
    FCGI_M_WEBHOOKS_REJECTED,
    FCGI_M_AUTH_FAILURES,
    FCGI_M_EVENTS_SENT,
    FCGI_M_EVENTS_FAILED,
    FCGI_M_EVENTS_DEAD,
    FCGI_M_COUNT
} fcgi_counter;

void fcgi_metric_add(fcgi_counter c, unsigned long long n);
static inline void fcgi_metric_inc(fcgi_counter c) { fcgi_metric_add(c, 1); }

/* Histograms in seconds (Prometheus _bucket/_sum/_count). */
typedef enum fcgi_histogram {
    FCGI_H_REQUEST,  /* filigrane_request_duration_seconds: one request, in the worker */
    FCGI_H_JOB_WAIT, /* filigrane_job_wait_seconds: due to claimed */
    FCGI_H_STAMP,    /* filigrane_stamp_duration_seconds: one sandboxed stamping */
    FCGI_H_COUNT
} fcgi_histogram;

/* Counts one observation of `seconds` (negative counts as 0). Lock-free.
 * This function can't fail. */
void fcgi_histogram_observe(fcgi_histogram h, double seconds);

/* Writes the Prometheus text exposition of every counter and histogram,
 * and of the gauge filigrane_jobs_queued (jobs_queued: pending jobs, or
 * -1 when it could not be read, then left out), and the gauge
 * filigrane_build_info{version,commit} 1, into buf; returns the
 * length written (cut at len - 1). This function can't fail. */
size_t fcgi_metrics_render(char *buf, size_t len, long long jobs_queued);

#endif
