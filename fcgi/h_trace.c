/* POST /v1/trace: an admin uploads a suspect file (the body, any type);
 * the answer names the order, buyer and file whose preview it came from
 * (200), or is 404 no_mark. Either way the request is in the audit trail:
 * on the order's chain when one is named (trace.matched), on the service
 * chain when none is (trace.no_mark), with the suspect's SHA-256.
 *
 * The suspect is decoded only in the sandboxed stamper (orders/trace.h);
 * the worker copies the body nginx wrote into a file of its own first, so
 * the child reads exactly the bytes that were checked and hashed. */
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcgi/access.h"
#include "fcgi/body_file.h"
#include "fcgi/handlers.h"
#include "fcgi/worker.h"
#include "orders/trace.h"
#include "storage/audit.h"
#include "storage/blob.h"
#include "watermark/trace_code.h"

/* nginx's early check (fcgi/h_auth.c's pattern): only an admin token gets
 * a body spooled to disk. */
void fcgi_h_auth_trace(fcgi_req *req)
{
    struct fcgi_claims who;
    req->auth_check = true;
    if (strcmp(req->method, "POST") != 0) {
        fcgi_send_method_not_allowed(req, "POST");
        return;
    }
    if (!fcgi_authenticate(req, &who))
        return;
    if (who.role != FCGI_ROLE_ADMIN) {
        fcgi_send_error(req, FG_EFORBIDDEN, "not_admin", "tracing needs an admin token");
        return;
    }
    fcgi_send_text(req, 204, "text/plain", "", 0);
}

/* Copies the open body fd into a new file in dir; path gets its name. */
static fg_result copy_body(int fd, const char *dir, char *path, size_t cap, fg_reason *r)
{
    char buf[65536];
    if (snprintf(path, cap, "%s/suspect-XXXXXX", dir) >= (int)cap)
        return fg_fail(r, FG_EIO, "cannot copy the suspect file");
    int out = mkstemp(path);
    if (out < 0)
        return fg_fail(r, FG_EIO, "cannot copy the suspect file");
    fg_result rc = FG_OK;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0 || write(out, buf, (size_t)n) != n) {
            rc = fg_fail(r, FG_EIO, "cannot copy the suspect file");
            break;
        }
    }
    /* The child runs as the stamping user: it must be able to read it. */
    if (fchmod(out, 0644) != 0 || close(out) != 0)
        rc = fg_fail(r, FG_EIO, "cannot copy the suspect file");
    if (rc != FG_OK)
        unlink(path);
    return rc;
}

void fcgi_h_trace(fcgi_req *req)
{
    struct fcgi_claims who;
    fcgi_ctx *ctx = req->ctx;
    fg_reason r = {{0}};
    char path[4200] = "", hex[STORE_HEX_MAX] = "", actor[FG_MAX_ACTOR + 1];
    char *detail = NULL;
    json_t *d = NULL;
    int fd = -1;
    int64_t size = 0;
    orders_trace_match match;
    bool found = false;
    if (!fcgi_authenticate(req, &who))
        return;
    if (who.role != FCGI_ROLE_ADMIN) {
        fcgi_send_error(req, FG_EFORBIDDEN, "not_admin", "tracing needs an admin token");
        return;
    }
    const char *body_file = fcgi_param(req, "REQUEST_BODY_FILE");
    if (!body_file || !*body_file) {
        fcgi_send_error(req, FG_EUSAGE, "empty_upload", "send the suspect file as the body");
        return;
    }
    fg_result rc = fcgi_body_file_open(body_file, &fd, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, rc == FG_EFORBIDDEN ? "bad_body_file" : NULL, r.text);
        return;
    }
    rc = copy_body(fd, ctx->cfg->blob.scratch, path, sizeof path, &r);
    close(fd);
    if (rc == FG_OK && (rc = store_blob_hash_file(path, hex, &size, &r)) == FG_OK)
        rc = orders_trace_file(ctx->cfg->cli, ctx->cfg->mark_key, path, ctx->cfg->blob.scratch,
                               ctx->sandbox, ctx->meta, &match, &found, &r);
    if (path[0])
        unlink(path);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    fcgi_actor(&who, actor, sizeof actor);
    if (found)
        d = json_pack("{s:s, s:s, s:s, s:s, s:I, s:f, s:f, s:i}", "order_id", match.mark.order_id,
                      "buyer_id", match.mark.buyer_id, "file_id", match.mark.file_id,
                      "suspect_sha256", hex, "suspect_size", (json_int_t)size, "confidence",
                      match.z, "scale", match.scale, "flipped_bits", match.flipped);
    else
        d = json_pack("{s:s, s:I}", "suspect_sha256", hex, "suspect_size", (json_int_t)size);
    detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!detail) {
        rc = fg_fail(&r, FG_EIO, "out of memory");
    } else {
        rc = store_audit_append(ctx->meta, found ? match.mark.order_id : NULL, actor,
                                found ? "trace.matched" : "trace.no_mark", detail, NULL, NULL,
                                &r);
    }
    if (rc != FG_OK)
        fcgi_send_error(req, rc, NULL, r.text);
    else if (!found)
        fcgi_send_error(req, FG_ENOTFOUND, "no_mark", "no mark found");
    else {
        json_object_set_new(d, "preview_created_at", json_string(match.mark.created_at));
        json_object_set_new(d, "threshold", json_real(WM_TRACE_Z_MIN));
        fcgi_send_json(req, 200, d);
        d = NULL;
    }
    json_decref(d);
    free(detail);
}
