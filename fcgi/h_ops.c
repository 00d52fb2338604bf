/* Operator endpoints: liveness, readiness and metrics. */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <time.h>

#include "fcgi/handlers.h"
#include "fcgi/metrics.h"
#include "fcgi/worker.h"
#include "storage/jobs.h"

void fcgi_h_healthz(fcgi_req *req)
{
    fg_reason r = {{0}};
    int version = 0;
    /* Alive means able to answer from the database, not just accepting. */
    if (store_meta_schema_version(req->ctx->meta, &version, &r) != FG_OK) {
        fcgi_send_error(req, FG_ETIMEOUT, "unhealthy", "metadata store unavailable");
        return;
    }
    fcgi_send_json(req, 200, json_pack("{s:s, s:i}", "status", "ok", "schema", version));
}

/* /livez: the process answers. Nothing else is asked, so a database or
 * S3 outage never gets a healthy worker restarted. No token: load
 * balancers and supervisors call it, and it says nothing. */
void fcgi_h_livez(fcgi_req *req)
{
    fcgi_send_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/* Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.mmm]Z" (store_time_now),
 * or -1. By hand: timegm is not portable and strptime is locale-bound. */
static int64_t utc_seconds(const char *t)
{
    int v[6] = {0};
    const int at[6] = {0, 5, 8, 11, 14, 17}, len[6] = {4, 2, 2, 2, 2, 2};
    if (strlen(t) < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
        t[16] != ':')
        return -1;
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < len[i]; k++) {
            char c = t[at[i] + k];
            if (c < '0' || c > '9')
                return -1;
            v[i] = v[i] * 10 + (c - '0');
        }
    /* Days from civil (Howard Hinnant's algorithm). */
    int64_t y = v[0] - (v[1] <= 2), m = v[1], d = v[2];
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return days * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
}

/* The blob store's answer, kept FCGI_READY_BLOB_CACHE_S seconds for S3 so
 * a storm of probes (every load balancer, every second) costs one HEAD on
 * the bucket per period; the lock also makes concurrent probes wait for
 * that one HEAD rather than each sending its own. */
#define FCGI_READY_BLOB_CACHE_S 5
static pthread_mutex_t blob_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t blob_checked_at = -1;
static bool blob_ok_cached;

static bool blob_ready(store_blob *b)
{
    fg_reason r = {{0}};
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    bool s3 = strcmp(store_blob_backend(b), "s3") == 0;
    pthread_mutex_lock(&blob_lock);
    if (!s3 || blob_checked_at < 0 || now.tv_sec - blob_checked_at >= FCGI_READY_BLOB_CACHE_S) {
        blob_ok_cached = store_blob_check(b, &r) == FG_OK;
        blob_checked_at = now.tv_sec;
        if (!blob_ok_cached) /* the reason goes to the log, not to the caller */
            fcgi_log(FCGI_LOG_WARN, "readyz: blob store (%s): %s", store_blob_backend(b),
                     r.text);
    }
    bool ok = blob_ok_cached;
    pthread_mutex_unlock(&blob_lock);
    return ok;
}

/* Free bytes for an unprivileged writer where path lives; -1 unknown. */
static long long free_bytes(const char *path)
{
    struct statvfs st;
    if (statvfs(path, &st) != 0)
        return -1;
    return (long long)st.f_bavail * (long long)st.f_frsize;
}

static void check_add(json_t *checks, bool *ready, const char *name, bool ok,
                      const char *why)
{
    json_t *c = json_pack("{s:s}", "status", ok ? "ok" : "fail");
    if (!ok && c)
        json_object_set_new(c, "why", json_string(why));
    json_object_set_new(checks, name, c);
    *ready = *ready && ok;
}

/* /readyz: whether this worker can serve now. 200 when every check
 * passes, 503 naming each one and why. No token (load balancers call it):
 * the answers are fixed sentences naming a setting at most, never a path,
 * host, URL or backend reason (those go to the worker's log). */
void fcgi_h_readyz(fcgi_req *req)
{
    const struct fcgi_config *cfg = req->ctx->cfg;
    fg_reason r = {{0}};
    bool ready = true;
    json_t *checks = json_object();
    int version = 0;

    bool db = store_meta_schema_version(req->ctx->meta, &version, &r) == FG_OK;
    if (!db)
        fcgi_log(FCGI_LOG_WARN, "readyz: metadata store: %s", r.text);
    check_add(checks, &ready, "database", db, "the metadata store does not answer");

    check_add(checks, &ready, "blobs", blob_ready(req->ctx->blobs),
              "the blob store does not answer");

    long long free_data = free_bytes(cfg->data), free_scratch = free_bytes(cfg->blob.scratch);
    bool disk_ok = free_data >= cfg->ready_min_free && free_scratch >= cfg->ready_min_free;
    check_add(checks, &ready, "disk", disk_ok,
              free_data < cfg->ready_min_free
                  ? "free space in the data directory is below FILIGRANE_READY_MIN_FREE"
                  : "free space in the scratch directory is below FILIGRANE_READY_MIN_FREE");

    /* The backlog is the age of the oldest event still waiting, not its
     * next try: a receiver that keeps failing moves that forward forever. */
    char oldest[STORE_TIME_MAX] = "";
    bool outbox_ok = db && store_outbox_oldest(req->ctx->meta, oldest, &r) == FG_OK;
    const char *why = "the outbox cannot be read";
    if (outbox_ok && oldest[0]) {
        int64_t t = utc_seconds(oldest);
        outbox_ok = t >= 0 && (int64_t)time(NULL) - t <= cfg->ready_max_outbox_lag;
        why = "an event has waited longer than FILIGRANE_READY_MAX_OUTBOX_LAG to be sent";
    }
    check_add(checks, &ready, "outbox", outbox_ok, why);

    fcgi_send_json(req, ready ? 200 : 503,
                   json_pack("{s:s, s:o}", "status", ready ? "ready" : "not_ready", "checks",
                             checks));
}

/* /metrics needs "Authorization: Bearer $FILIGRANE_METRICS_TOKEN". Not a
 * client address: anyone who reaches the FastCGI socket can claim any
 * REMOTE_ADDR. Without a configured token nobody gets the metrics (403),
 * so a forgotten setting fails closed. */
static bool token_ok(fcgi_req *req, const char *want)
{
    if (!want) {
        fcgi_send_error(req, FG_EFORBIDDEN, "metrics_disabled",
                        "metrics are disabled: FILIGRANE_METRICS_TOKEN is not set");
        return false;
    }
    const char *h = fcgi_param(req, "HTTP_AUTHORIZATION");
    size_t n = strlen(want);
    /* Same length first (the length of the token is not the secret), then
     * every byte compared whatever the first difference. */
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || strlen(h + 7) != n ||
        CRYPTO_memcmp(h + 7, want, n) != 0) {
        fcgi_send_error(req, FG_EAUTH, "bad_metrics_token",
                        "/metrics needs \"Authorization: Bearer <FILIGRANE_METRICS_TOKEN>\"");
        return false;
    }
    return true;
}

/* The token of this moment: SIGHUP may have read a new one (fcgi/keys.h). */
static bool metrics_allowed(fcgi_req *req)
{
    fcgi_keys *k = fcgi_keyring_get(req->ctx->cfg->keys);
    bool ok = token_ok(req, k->metrics_token);
    fcgi_keys_put(k);
    return ok;
}

void fcgi_h_metrics(fcgi_req *req)
{
    if (!metrics_allowed(req))
        return;
    char buf[16384];
    fg_reason r = {{0}};
    int64_t queued = -1;
    /* The queue's depth is the database's: every node sees the same. */
    if (store_job_count(req->ctx->meta, STORE_JOB_PENDING, &queued, &r) != FG_OK)
        queued = -1;
    size_t n = fcgi_metrics_render(buf, sizeof buf, (long long)queued);
    fcgi_send_text(req, 200, "text/plain; version=0.0.4", buf, n);
}
