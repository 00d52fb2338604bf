#include "fcgi/idempotency.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fcgi/log.h"
#include "fcgi/views.h"
#include "fcgi/worker.h"

/* The header's value without the sf-string quotes. False for an empty,
 * over-long or malformed value. */
static bool parse_key(const char *h, char out[STORE_IDEM_KEY_MAX + 1])
{
    size_t n = strnlen(h, STORE_IDEM_KEY_MAX + 3);
    if (n >= 2 && h[0] == '"' && h[n - 1] == '"') {
        h++;
        n -= 2;
    }
    if (n == 0 || n > STORE_IDEM_KEY_MAX)
        return false;
    memcpy(out, h, n);
    out[n] = '\0';
    return store_idem_key_valid(out);
}

bool fcgi_idem_begin(fcgi_req *req, const char *seller_id, const char *order_id, fcgi_idem *ik)
{
    fg_reason r = {{0}};
    const char *h = fcgi_param(req, "HTTP_IDEMPOTENCY_KEY");
    memset(ik, 0, sizeof *ik);
    if (!h)
        return true;
    if (!parse_key(h, ik->key)) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Idempotency-Key must be 1 to %d visible ASCII characters, "
                 "without '\"' or '\\', optionally in double quotes",
                 STORE_IDEM_KEY_MAX);
        fcgi_send_error(req, FG_EUSAGE, "bad_idempotency_key", msg);
        return false;
    }
    snprintf(ik->seller_id, sizeof ik->seller_id, "%s", seller_id);
    snprintf(ik->order_id, sizeof ik->order_id, "%s", order_id);
    fg_result rc = store_idem_claim_key(req->ctx->meta, seller_id, order_id, ik->key,
                                        (int64_t)time(NULL), req->ctx->cfg->idem_ttl,
                                        FG_IDEM_LEASE_SECONDS, &ik->claim, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return false;
    }
    if (ik->claim.state == STORE_IDEM_IN_FLIGHT) {
        fcgi_send_error(req, FG_ESTATE, "idempotency_key_in_use",
                        "a request with this Idempotency-Key is still being processed");
        return false;
    }
    ik->on = true;
    return true;
}

bool fcgi_idem_done(const fcgi_idem *ik)
{
    return ik->on && ik->claim.state == STORE_IDEM_DONE;
}

void fcgi_idem_answer(fcgi_req *req, const fcgi_idem *ik, const char *fingerprint)
{
    fg_reason r = {{0}};
    store_delivery dl;
    store_file_list files = {0};
    store_meta *m = req->ctx->meta;
    if (strcmp(fingerprint, ik->claim.fingerprint) != 0) {
        fcgi_send_error(req, FG_ECORRUPT, "idempotency_key_reused",
                        "this Idempotency-Key was used for another delivery "
                        "(a different message or files)");
        return;
    }
    fcgi_log(FCGI_LOG_INFO, "req=%s order=%s delivery=%d idempotent_replay=1", req->id,
             ik->order_id, ik->claim.delivery);
    fg_result rc = store_meta_begin_read(m, &r);
    if (rc == FG_OK &&
        (rc = store_delivery_get(m, ik->order_id, ik->claim.delivery, &dl, &r)) == FG_OK)
        rc = store_file_list_delivery(m, ik->order_id, ik->claim.delivery, &files, &r);
    store_meta_rollback(m);
    if (rc == FG_OK)
        fcgi_send_json(req, 201, fcgi_view_delivery(&dl, &files, true)); /* the seller */
    else
        fcgi_send_error(req, rc, NULL, r.text);
    store_file_list_release(&files);
}

fg_result fcgi_idem_record(store_meta *m, const fcgi_idem *ik, const char *fingerprint,
                           int number, fg_reason *r)
{
    if (!ik->on)
        return FG_OK;
    return store_idem_complete(m, ik->seller_id, ik->order_id, ik->key, ik->claim.token,
                               fingerprint, number, r);
}

void fcgi_idem_abandon(fcgi_req *req, fcgi_idem *ik)
{
    fg_reason r = {{0}};
    if (!ik->on || ik->claim.state != STORE_IDEM_CLAIMED)
        return;
    if (store_idem_release(req->ctx->meta, ik->seller_id, ik->order_id, ik->key,
                           ik->claim.token, &r) != FG_OK)
        fcgi_log(FCGI_LOG_ERROR, "req=%s order=%s error=\"cannot release idempotency key: %s\"",
                 req->id, ik->order_id, r.text);
    ik->on = false;
}
