/* Operator endpoints: liveness and metrics. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* /metrics needs "Authorization: Bearer $FILIGRANE_METRICS_TOKEN". Not a
 * client address: anyone who reaches the FastCGI socket can claim any
 * REMOTE_ADDR. Without a configured token nobody gets the metrics (403),
 * so a forgotten setting fails closed. */
static bool metrics_allowed(fcgi_req *req)
{
    const char *want = req->ctx->cfg->metrics_token;
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
