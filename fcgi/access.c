#include "fcgi/access.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fcgi/metrics.h"
#include "fcgi/token_cache.h"
#include "fcgi/worker.h"

bool fcgi_authenticate(fcgi_req *req, struct fcgi_claims *who)
{
    char token[FG_JWT_MAX_TOKEN_BYTES + 1];
    const char *h = fcgi_param(req, "HTTP_AUTHORIZATION");
    const char *t = NULL;
    fg_reason r = {{0}};
    if (h) {
        if (strncasecmp(h, "Bearer ", 7) != 0) {
            fcgi_metric_inc(FCGI_M_AUTH_FAILURES);
            fcgi_send_error(req, FG_EAUTH, NULL, "authorization must be \"Bearer <token>\"");
            return false;
        }
        t = h + 7;
    } else if (fcgi_query(req, "token", token, sizeof token)) {
        t = token;
    }
    if (!t || !*t) {
        fcgi_metric_inc(FCGI_M_AUTH_FAILURES);
        fcgi_send_error(req, FG_EAUTH, NULL, "a bearer token is required");
        return false;
    }
    long long now = (long long)time(NULL);
    if (fcgi_token_cache_get(t, now, who))
        return true;
    if (fcgi_jwt_verify_ttl(t, req->ctx->cfg->jwt_secret, now,
                            req->ctx->cfg->jwt_max_ttl, who, &r) != FG_OK) {
        fcgi_metric_inc(FCGI_M_AUTH_FAILURES);
        fcgi_send_error(req, FG_EAUTH, NULL, r.text);
        return false;
    }
    fcgi_token_cache_put(t, who);
    return true;
}

bool fcgi_may_name_order(fcgi_req *req, const struct fcgi_claims *who,
                         const char *order_id)
{
    if (who->role == FCGI_ROLE_ADMIN)
        return true;
    if (strcmp(who->ord, order_id) == 0)
        return true;
    fcgi_send_error(req, FG_EFORBIDDEN, "wrong_order", "this token is for another order");
    return false;
}

bool fcgi_may(fcgi_req *req, const struct fcgi_claims *who, const store_order *o,
              fcgi_want want)
{
    bool admin = who->role == FCGI_ROLE_ADMIN;
    bool seller = who->role == FCGI_ROLE_SELLER && strcmp(who->ord, o->id) == 0 &&
                  strcmp(who->sub, o->seller_id) == 0;
    bool buyer = who->role == FCGI_ROLE_BUYER && strcmp(who->ord, o->id) == 0 &&
                 strcmp(who->sub, o->buyer_id) == 0;
    if (!admin && !seller && !buyer) {
        fcgi_send_error(req, FG_EFORBIDDEN, "not_party", "this token is not a party to the order");
        return false;
    }
    bool accepted = strcmp(o->state, STORE_STATE_ACCEPTED) == 0;
    bool cancelled = strcmp(o->state, STORE_STATE_CANCELLED) == 0;
    switch (want) {
    case FCGI_WANT_READ:
        return true;
    case FCGI_WANT_PREVIEW:
        /* A cancelled order revokes the buyer's previews; the seller keeps
         * seeing what they delivered. */
        if (buyer && cancelled) {
            fcgi_send_error(req, FG_EFORBIDDEN, "revoked", "the order was cancelled");
            return false;
        }
        return true;
    case FCGI_WANT_ORIGINAL:
        if (buyer && !accepted) {
            fcgi_metric_inc(FCGI_M_ORIGINALS_REFUSED);
            fcgi_send_error(req, FG_EFORBIDDEN, "not_released",
                            cancelled ? "the order was cancelled"
                                      : "originals are released when the order is accepted");
            return false;
        }
        return true;
    case FCGI_WANT_DELIVER:
        if (!seller) {
            fcgi_send_error(req, FG_EFORBIDDEN, "not_seller", "only the order's seller delivers");
            return false;
        }
        /* Accepted and cancelled are final; a dispute still takes new
         * versions, which is how a seller answers one. */
        if (accepted || cancelled) {
            fcgi_send_error(req, FG_ESTATE, "wrong_state", "the order is closed");
            return false;
        }
        return true;
    }
    return false;
}

bool fcgi_load_order(fcgi_req *req, const char *order_id, fcgi_want want,
                     struct fcgi_claims *who, store_order *o)
{
    fg_reason r = {{0}};
    if (!fcgi_authenticate(req, who) || !fcgi_may_name_order(req, who, order_id))
        return false;
    fg_result rc = store_order_get(req->ctx->meta, order_id, o, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, rc == FG_ENOTFOUND ? "no such order" : r.text);
        return false;
    }
    return fcgi_may(req, who, o, want);
}

void fcgi_actor(const struct fcgi_claims *who, char *out, size_t len)
{
    const char *role = fcgi_role_name(who->role);
    snprintf(out, len, "%s:%s", role ? role : "unknown", who->sub);
}
