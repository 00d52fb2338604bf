/* POST /v1/hooks/orders: the order system's lifecycle webhook.
 *
 * Verified (Standard Webhooks) before anything is parsed; applied in one
 * transaction with the record of its webhook-id and its audit row, so a
 * replay is recognised and a crash never leaves half an effect. This is
 * the only place an order becomes accepted, hence the only door to the
 * originals. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi/handlers.h"
#include "fcgi/log.h"
#include "fcgi/metrics.h"
#include "fcgi/outbox.h"
#include "fcgi/worker.h"
#include "storage/audit.h"

typedef struct hook_event {
    const char *type;
    const char *order_id;
    const char *seller_id;
    const char *buyer_id;
    const char *buyer_name;
    const char *reason;
} hook_event;

/* Which states each event may move an order from. Accepted and cancelled
 * are final; a dispute freezes the order until it is accepted or
 * cancelled. Re-sending the event that put the order in its current state
 * is acknowledged without effect (the order system may retry with a new
 * webhook-id). */
static const struct transition {
    const char *type;
    const char *to;
    const char *from[3];
} transitions[] = {
    {"order.accepted", STORE_STATE_ACCEPTED, {STORE_STATE_OPEN, STORE_STATE_DISPUTED, NULL}},
    {"order.cancelled", STORE_STATE_CANCELLED, {STORE_STATE_OPEN, STORE_STATE_DISPUTED, NULL}},
    {"order.disputed", STORE_STATE_DISPUTED, {STORE_STATE_OPEN, NULL, NULL}},
};

static const char *get_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Applies ev inside the open transaction. Returns FG_OK with *effect
 * describing what happened ("created", "accepted", "unchanged", ...), or
 * the refusal with reason. */
static fg_result apply(store_meta *m, const hook_event *ev, const char **effect,
                       fg_reason *r)
{
    fg_result rc;
    if (strcmp(ev->type, "order.created") == 0) {
        bool created = false;
        if (!ev->seller_id || !ev->buyer_id)
            return fg_fail(r, FG_EUSAGE, "order.created needs data.seller_id and data.buyer_id");
        rc = store_order_create(m, ev->order_id, ev->seller_id, ev->buyer_id, ev->buyer_name,
                                NULL, NULL, &created, r);
        *effect = created ? "created" : "unchanged";
        return rc;
    }
    for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++) {
        const struct transition *t = &transitions[i];
        if (strcmp(ev->type, t->type) != 0)
            continue;
        char prev[STORE_WORD_MAX] = "";
        rc = store_order_set_state(m, ev->order_id, t->to, t->from, NULL, prev, r);
        if (rc == FG_ESTATE && strcmp(prev, t->to) == 0) {
            *effect = "unchanged";
            return FG_OK;
        }
        if (rc == FG_ESTATE)
            return fg_fail(r, FG_ESTATE, "order is %s: %s cannot apply", prev, ev->type);
        if (rc == FG_ENOTFOUND)
            return fg_fail(r, FG_ENOTFOUND, "no such order");
        *effect = t->to;
        return rc;
    }
    *effect = "ignored";
    return FG_OK;
}

/* Release opens the commitments: one "file.released" entry per file of
 * the order, with its salt and plain sha256 (and the commitment they
 * open), in the acceptance's transaction. One entry a file, not one for
 * all, so that an order of many files stays under FG_MAX_AUDIT_DETAIL.
 * With these the trail checks both ways: SHA-256(salt || original) is the
 * commitment recorded at upload, and the released bytes hash to sha256. */
static fg_result reveal_files(store_meta *m, const char *order_id, fg_reason *r)
{
    store_file_list files = {0};
    fg_result rc = store_file_list_order(m, order_id, &files, r);
    for (size_t i = 0; rc == FG_OK && i < files.n; i++) {
        const store_file *f = &files.items[i];
        json_t *d = json_pack("{s:s, s:i, s:o, s:s, s:o}", "file_id", f->id, "delivery",
                              f->delivery, "salt", f->salt[0] ? json_string(f->salt) : json_null(),
                              "sha256", f->sha256, "commitment",
                              f->commitment[0] ? json_string(f->commitment) : json_null());
        char *detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(d);
        rc = detail ? store_audit_append(m, order_id, "filigrane", "file.released", detail, NULL,
                                         NULL, r)
                    : fg_fail(r, FG_EIO, "out of memory");
        free(detail);
    }
    store_file_list_release(&files);
    return rc;
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
    rc = fcgi_webhook_verify(req->ctx->hook, id, fcgi_param(req, "HTTP_WEBHOOK_TIMESTAMP"),
                             fcgi_param(req, "HTTP_WEBHOOK_SIGNATURE"), body, len,
                             (long long)time(NULL), &why, &r);
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
    hook_event ev = {
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
    bool known = strcmp(ev.type, "order.created") == 0;
    for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++)
        known = known || strcmp(ev.type, transitions[i].type) == 0;
    if (known && !ev.order_id) {
        fcgi_send_error(req, FG_EUSAGE, NULL, "webhook data.order_id is required");
        goto out;
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
    if ((rc = apply(m, &ev, &effect, &r)) != FG_OK)
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
        if ((rc = reveal_files(m, ev.order_id, &r)) != FG_OK ||
            (rc = store_order_get(m, ev.order_id, &o, &r)) != FG_OK ||
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
