/* The Prometheus text of fcgi/metrics.c: histograms in seconds with
 * cumulative buckets, _sum and _count; the queue gauge; no milliseconds. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fcgi/metrics.h"

static char buf[32768];

static bool has(const char *line)
{
    char want[256];
    snprintf(want, sizeof want, "\n%s\n", line);
    return strstr(buf, want) != NULL;
}

TEST("histograms count each observation in its bucket and every one above")
{
    fcgi_histogram_observe(FCGI_H_STAMP, 0.003);
    fcgi_histogram_observe(FCGI_H_STAMP, 0.25); /* on a bound: in le="0.25" */
    fcgi_histogram_observe(FCGI_H_STAMP, 1000);
    fcgi_histogram_observe(FCGI_H_STAMP, -1); /* counts as 0 */
    fcgi_histogram_observe(FCGI_H_JOB_WAIT, 2);
    size_t n = fcgi_metrics_render(buf, sizeof buf, 7);
    CHECK(n > 0 && n < sizeof buf);
    CHECK(has("# TYPE filigrane_stamp_duration_seconds histogram"));
    CHECK(has("filigrane_stamp_duration_seconds_bucket{le=\"0.005\"} 2"));
    CHECK(has("filigrane_stamp_duration_seconds_bucket{le=\"0.1\"} 2"));
    CHECK(has("filigrane_stamp_duration_seconds_bucket{le=\"0.25\"} 3"));
    CHECK(has("filigrane_stamp_duration_seconds_bucket{le=\"300\"} 3"));
    CHECK(has("filigrane_stamp_duration_seconds_bucket{le=\"+Inf\"} 4"));
    CHECK(has("filigrane_stamp_duration_seconds_count 4"));
    CHECK(has("filigrane_stamp_duration_seconds_sum 1000.253000"));
    CHECK(has("filigrane_stamp_seconds_total 1000.253000"));
    CHECK(has("filigrane_job_wait_seconds_bucket{le=\"1\"} 0"));
    CHECK(has("filigrane_job_wait_seconds_bucket{le=\"2.5\"} 1"));
    CHECK(has("filigrane_job_wait_seconds_count 1"));
    CHECK(has("# TYPE filigrane_jobs_queued gauge"));
    CHECK(has("filigrane_jobs_queued 7"));
    CHECK(strstr(buf, "milliseconds") == NULL);
}

TEST("a queue depth that could not be read is left out, not shown as 0")
{
    fcgi_metrics_render(buf, sizeof buf, -1);
    CHECK(strstr(buf, "filigrane_jobs_queued") == NULL);
}

TEST("a short buffer is cut, never overrun")
{
    char small[64];
    memset(small, 'x', sizeof small);
    size_t n = fcgi_metrics_render(small, 40, 1);
    CHECK(n <= 39);
    CHECK(small[63] == 'x' && small[41] == 'x');
}

TEST("request durations are a histogram in seconds, with sub-millisecond buckets")
{
    fcgi_histogram_observe(FCGI_H_REQUEST, 0.0003);
    fcgi_histogram_observe(FCGI_H_REQUEST, 0.0007);
    fcgi_histogram_observe(FCGI_H_REQUEST, 0.002);
    fcgi_metrics_render(buf, sizeof buf, 0);
    CHECK(has("# TYPE filigrane_request_duration_seconds histogram"));
    CHECK(has("filigrane_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
    CHECK(has("filigrane_request_duration_seconds_bucket{le=\"0.001\"} 2"));
    CHECK(has("filigrane_request_duration_seconds_bucket{le=\"0.0025\"} 3"));
    CHECK(has("filigrane_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
    CHECK(has("filigrane_request_duration_seconds_count 3"));
    CHECK(has("filigrane_request_duration_seconds_sum 0.003000"));
}

TEST("filigrane_build_info names the version and commit, value 1")
{
    fcgi_metrics_render(buf, sizeof buf, 0);
    CHECK(has("# TYPE filigrane_build_info gauge"));
    const char *p = strstr(buf, "\nfiligrane_build_info{version=\"");
    CHECK(p != NULL);
    CHECK(p && strstr(p, "\",commit=\"") != NULL);
    CHECK(p && strstr(p, "\"} 1\n") != NULL);
}
