/* Operator endpoints: liveness and metrics. */
#include <stdlib.h>

#include "fcgi/handlers.h"
#include "fcgi/metrics.h"
#include "fcgi/worker.h"

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

void fcgi_h_metrics(fcgi_req *req)
{
    char buf[8192];
    size_t n = fcgi_metrics_render(buf, sizeof buf);
    fcgi_send_text(req, 200, "text/plain; version=0.0.4", buf, n);
}
