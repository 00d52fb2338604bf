/* POST /v1/hooks/orders: the order system's lifecycle webhook.
 *
 * Verified (Standard Webhooks) before anything is parsed; applied in one
 * transaction with the record of its webhook-id and its audit row, so a
 * replay is recognised and a crash never leaves half an effect. What an
 * event does to an order is the state machine's (orders/state.h); this
 * file is the transport: verify, parse, call it, answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi/handlers.h"
#include "fcgi/log.h"
#include "fcgi/metrics.h"
#include "fcgi/outbox.h"
#include "fcgi/worker.h"
#include "orders/state.h"
#include "storage/audit.h"
#include "storage/links.h"

static const char *get_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

void fcgi_h_order_hook(fcgi_req *req)
{
    fg_reason r = {{0}};
    char *body = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    store_meta *m = req->ctx->meta;
    enum fcgi_webhook_why why = FCGI_WEBHOOK_OK;
    const char *id = fcgi_param(req, "HTTP_WEBHOOK_ID");
    fg_result rc = fcgi_read_body(req, FG_MAX_WEBHOOK_BODY, &body, &len, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        goto out;
    }
    /* Every key of the moment (FILIGRANE_WEBHOOK_SECRET(S)): during a
     * rotation the order system may sign with the old key or the new. */
    fcgi_keys *keys = fcgi_keyring_get(req->ctx->cfg->keys);
    rc = fcgi_webhook_verify_any(keys->hooks, keys->n_hooks, id,
                                 fcgi_param(req, "HTTP_WEBHOOK_TIMESTAMP"),
                                 fcgi_param(req, "HTTP_WEBHOOK_SIGNATURE"), body, len,
                                 (long long)time(NULL), &why, &r);
    fcgi_keys_put(keys);
    if (rc != FG_OK) {
        fcgi_metric_inc(FCGI_M_WEBHOOKS_REJECTED);
        fcgi_log(FCGI_LOG_WARN, "req=%s webhook rejected: %s", req->id, r.text);
        fcgi_send_error(req, FG_EAUTH, why == FCGI_WEBHOOK_MALFORMED ? "bad_webhook"
                                       : why == FCGI_WEBHOOK_BAD_SIGNATURE ? "bad_signature"
                                                                           : "stale_webhook",
                        r.text);
        goto out;
    }

    json_error_t jerr;
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *data = doc ? json_object_get(doc, "data") : NULL;
    ord_hook ev = {
        .type = doc ? get_str(doc, "type") : NULL,
        .order_id = data ? get_str(data, "order_id") : NULL,
        .seller_id = data ? get_str(data, "seller_id") : NULL,
        .buyer_id = data ? get_str(data, "buyer_id") : NULL,
        .buyer_name = data ? get_str(data, "buyer_name") : NULL,
        .reason = data ? get_str(data, "reason") : NULL,
    };
    if (!doc || !ev.type) {
        fcgi_send_error(req, FG_EUSAGE, NULL, "webhook body must be a JSON object with a type");
        goto out;
    }
    json_t *pages = data ? json_object_get(data, "preview_pages") : NULL;
    if (pages && !json_is_null(pages)) {
        json_int_t n = json_is_integer(pages) ? json_integer_value(pages) : 0;
        if (n < 1 || n > FG_MAX_PREVIEW_PAGES) {
            char msg[96];
            snprintf(msg, sizeof msg, "webhook data.preview_pages must be an integer from 1 to %d",
                     FG_MAX_PREVIEW_PAGES);
            fcgi_send_error(req, FG_EUSAGE, "bad_webhook", msg);
            goto out;
        }
        ev.preview_pages = (int)n;
    }
    bool known = ord_event_parse(ev.type) != ORD_EV_UNKNOWN;
    if (known && !ev.order_id) {
        fcgi_send_error(req, FG_EUSAGE, NULL, "webhook data.order_id is required");
        goto out;
    }
    /* order.created's max_downloads (per file, for the buyer): a whole
     * number 1..FG_MAX_DOWNLOADS_LIMIT, or absent (null) for no limit.
     * Anything else is refused before the event is recorded, so the order
     * system can correct it and send again. */
    json_int_t max_downloads = 0;
    json_t *md = data && ord_event_parse(ev.type) == ORD_EV_CREATED
                     ? json_object_get(data, "max_downloads")
                     : NULL;
    if (md && !json_is_null(md)) {
        max_downloads = json_is_integer(md) ? json_integer_value(md) : -1;
        if (max_downloads < 1 || max_downloads > FG_MAX_DOWNLOADS_LIMIT) {
            char msg[96];
            snprintf(msg, sizeof msg, "data.max_downloads must be a whole number 1..%d",
                     FG_MAX_DOWNLOADS_LIMIT);
            fcgi_send_error(req, FG_EUSAGE, "bad_webhook", msg);
            goto out;
        }
    }

    const char *effect = "ignored";
    bool seen = false;
    if ((rc = store_meta_begin(m, &r)) != FG_OK ||
        (rc = store_webhook_record(m, id, NULL, &seen, &r)) != FG_OK)
        goto fail;
    if (seen) {
        store_meta_rollback(m);
        fcgi_metric_inc(FCGI_M_WEBHOOKS_DUPLICATE);
        fcgi_send_json(req, 200, json_pack("{s:s, s:s}", "webhook_id", id, "result", "duplicate"));
        goto out;
    }
    if ((rc = ord_apply(m, &ev, &effect, &r)) != FG_OK)
        goto fail;
    /* Set with the order, in its transaction; a replayed order.created
     * ("unchanged") leaves the first one's limit. */
    if (max_downloads > 0 && strcmp(effect, "created") == 0 &&
        (rc = store_order_set_max_downloads(m, ev.order_id, (int64_t)max_downloads, &r)) != FG_OK)
        goto fail;
    if (known) {
        /* The audit row keeps the exact signed body: the evidence. */
        json_t *d = json_pack("{s:s, s:s, s:s}", "webhook_id", id, "effect", effect, "body", body);
        char *detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(d);
        rc = detail ? store_audit_append(m, ev.order_id, "order-system", ev.type, detail, NULL,
                                         NULL, &r)
                    : fg_fail(&r, FG_EIO, "out of memory");
        free(detail);
        if (rc != FG_OK)
            goto fail;
    }
    if (strcmp(effect, STORE_STATE_ACCEPTED) == 0) {
        /* Tell the order system, in this transaction: released iff recorded. */
        store_order o;
        if ((rc = store_order_get(m, ev.order_id, &o, &r)) != FG_OK ||
            (rc = fcgi_event_enqueue(m, "order.released", o.id,
                                     json_pack("{s:s, s:s}", "order_id", o.id, "released_at",
                                               o.released_at),
                                     &r)) != FG_OK)
            goto fail;
    }
    if ((rc = store_meta_commit(m, &r)) != FG_OK)
        goto fail;
    fcgi_metric_inc(FCGI_M_WEBHOOKS_APPLIED);
    fcgi_log(FCGI_LOG_INFO, "req=%s webhook=%s type=%s order=%s effect=%s", req->id, id,
             ev.type, ev.order_id ? ev.order_id : "-", effect);
    fcgi_send_json(req, 200, json_pack("{s:s, s:s, s:s}", "webhook_id", id, "result", "applied",
                                       "effect", effect));
    goto out;
fail:
    store_meta_rollback(m);
    fcgi_send_error(req, rc, NULL, r.text);
out:
    json_decref(doc);
}
