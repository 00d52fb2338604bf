/* GET /v1/orders/{order} and GET /v1/orders/{order}/audit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/setting.h"

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
    if (!fcgi_load_order(req, req->params[0], ORD_VIEW_ORDER, &who, &o))
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

/* True when the query names key at all (fcgi_query also says false for a
 * value too long for its buffer: that must be refused, not ignored). */
static bool query_names(const fcgi_req *req, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = req->query; p && *p;) {
        if (strncmp(p, key, k) == 0 && (p[k] == '=' || p[k] == '&' || p[k] == '\0'))
            return true;
        p = strchr(p, '&');
        p = p ? p + 1 : NULL;
    }
    return false;
}

/* A whole decimal number in [min, max] from the query; absent leaves *out.
 * false when present but not such a number. */
static bool query_number(const fcgi_req *req, const char *key, long long min, long long max,
                         long long *out)
{
    char v[24];
    if (!query_names(req, key))
        return true;
    return fcgi_query(req, key, v, sizeof v) && fg_parse_count(v, false, min, max, out);
}

/* Writes one JSON value to the answer; false when it could not be made
 * or the client is gone. */
static bool put_json(fcgi_req *req, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    bool ok = text && FCGX_PutS(text, req->fx->out) >= 0;
    free(text);
    return ok;
}

/* Pages of FG_AUDIT_PAGE_DEFAULT entries (?limit= up to FG_AUDIT_PAGE_MAX)
 * after seq ?after=; "next" is the after= of the following page and is
 * there only when more entries remain. The page is read whole (bounded by
 * the limit), then written entry by entry: no document of the whole page
 * is ever built. */
void fcgi_h_order_audit(fcgi_req *req)
{
    struct fcgi_claims who;
    store_order o;
    fg_reason r = {{0}};
    store_audit_list list = {0};
    long long after = 0, limit = FG_AUDIT_PAGE_DEFAULT;
    bool more = false;
    if (!fcgi_load_order(req, req->params[0], ORD_VIEW_AUDIT, &who, &o))
        return;
    if (!query_number(req, "after", 0, INT64_MAX, &after)) {
        fcgi_send_error(req, FG_EUSAGE, NULL, "after must be a sequence number");
        return;
    }
    if (!query_number(req, "limit", 1, FG_AUDIT_PAGE_MAX, &limit)) {
        char why[64];
        snprintf(why, sizeof why, "limit must be 1 to %d", FG_AUDIT_PAGE_MAX);
        fcgi_send_error(req, FG_EUSAGE, NULL, why);
        return;
    }
    fg_result rc = store_audit_page_get(req->ctx->meta, o.id, after, (size_t)limit, &list, &more,
                                        &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    /* Once the head is out, a failure can only cut the answer short: the
     * client sees invalid JSON, never a partial page that parses. */
    bool ok = fcgi_send_json_stream_head(req, 200) == FG_OK &&
              FCGX_PutS("{\"order_id\":", req->fx->out) >= 0 &&
              put_json(req, json_string(o.id)) &&
              FCGX_PutS(",\"hash\":\"sha256 of the netstrings of order_id, seq, at, actor, "
                        "action, detail, prev_hash after \\\"filigrane-audit-v2\\\\n\\\"\"",
                        req->fx->out) >= 0;
    if (ok && more && list.n > 0) {
        char next[40];
        snprintf(next, sizeof next, ",\"next\":%lld", (long long)list.items[list.n - 1].chain_seq);
        ok = FCGX_PutS(next, req->fx->out) >= 0;
    }
    ok = ok && FCGX_PutS(",\"entries\":[", req->fx->out) >= 0;
    for (size_t i = 0; ok && i < list.n; i++)
        ok = (i == 0 || FCGX_PutS(",", req->fx->out) >= 0) &&
             put_json(req, fcgi_view_audit_entry(&list.items[i]));
    if (ok)
        FCGX_PutS("]}", req->fx->out);
    store_audit_list_release(&list);
}
