/* GET /v1/orders/{order} and GET /v1/orders/{order}/audit. */
#include <stdlib.h>

#include "fcgi/access.h"
#include "fcgi/handlers.h"
#include "fcgi/views.h"
#include "fcgi/worker.h"
#include "storage/audit.h"

void fcgi_h_order_get(fcgi_req *req)
{
    struct fcgi_claims who;
    store_order o;
    fg_reason r = {{0}};
    json_t *doc = NULL;
    if (!fcgi_load_order(req, req->params[0], FCGI_WANT_READ, &who, &o))
        return;
    store_meta *m = req->ctx->meta;
    fg_result rc = store_meta_begin_read(m, &r);
    if (rc == FG_OK)
        rc = fcgi_view_order(m, &o, fcgi_view_reveals(&who, &o), &doc, &r);
    store_meta_rollback(m);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    fcgi_send_json(req, 200, doc);
}

void fcgi_h_order_audit(fcgi_req *req)
{
    struct fcgi_claims who;
    store_order o;
    fg_reason r = {{0}};
    store_audit_list list = {0};
    char after_s[24];
    long long after = 0;
    if (!fcgi_load_order(req, req->params[0], FCGI_WANT_READ, &who, &o))
        return;
    if (fcgi_query(req, "after", after_s, sizeof after_s)) {
        char *end = NULL;
        after = strtoll(after_s, &end, 10);
        if (*end || after < 0) {
            fcgi_send_error(req, FG_EUSAGE, NULL, "after must be a sequence number");
            return;
        }
    }
    fg_result rc = store_audit_list_get(req->ctx->meta, o.id, after, 0, &list, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    json_t *entries = json_array();
    for (size_t i = 0; entries && i < list.n; i++)
        json_array_append_new(entries, fcgi_view_audit_entry(&list.items[i]));
    store_audit_list_release(&list);
    fcgi_send_json(req, 200,
                   json_pack("{s:s, s:s, s:o}", "order_id", o.id, "hash",
                             "sha256 of the netstrings of seq, order_id, at, actor, "
                             "action, detail, prev_hash after \"filigrane-audit-v1\\n\"",
                             "entries", entries));
}
