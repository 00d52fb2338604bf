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
    const struct fcgi_config *cfg = req->ctx->cfg;
    /* The keys of this moment (a SIGHUP may swap them meanwhile): a token
     * verified under an earlier set is verified again, so a secret taken
     * out of rotation stops working at once. */
    fcgi_keys *keys = fcgi_keyring_get(cfg->keys);
    bool ok = fcgi_token_cache_get(t, now, keys->generation, who);
    if (!ok) {
        struct fcgi_jwt_policy policy;
        const char *code = NULL;
        fcgi_keys_jwt_policy(keys, cfg->jwt_max_ttl,
                             cfg->jwt_audience[0] ? cfg->jwt_audience : NULL, &policy);
        ok = fcgi_jwt_verify_policy(t, &policy, now, who, &code, &r) == FG_OK;
        if (ok) {
            fcgi_token_cache_put(t, keys->generation, who);
        } else {
            fcgi_metric_inc(FCGI_M_AUTH_FAILURES);
            fcgi_send_error(req, FG_EAUTH, code, r.text);
        }
    }
    fcgi_keys_put(keys);
    return ok;
}

ord_role fcgi_ord_role(const struct fcgi_claims *who)
{
    switch (who->role) {
    case FCGI_ROLE_SELLER:
        return ORD_ROLE_SELLER;
    case FCGI_ROLE_BUYER:
        return ORD_ROLE_BUYER;
    case FCGI_ROLE_ADMIN:
        return ORD_ROLE_ADMIN;
    }
    /* A verified token always has one of the three; anything else is
     * nobody's role (ord_may_name and ord_party_of refuse it). */
    return (ord_role)0;
}

bool fcgi_may_name_order(fcgi_req *req, const struct fcgi_claims *who,
                         const char *order_id)
{
    ord_decision d = ord_may_name(fcgi_ord_role(who), who->ord, order_id);
    if (d.rc == FG_OK)
        return true;
    fcgi_send_error(req, d.rc, d.code, d.message);
    return false;
}

bool fcgi_may(fcgi_req *req, const struct fcgi_claims *who, const store_order *o,
              ord_action action)
{
    ord_party p = ord_party_of(fcgi_ord_role(who), who->sub, who->ord, o);
    ord_decision d = ord_may(p, ord_state_parse(o->state), action);
    if (d.rc == FG_OK)
        return true;
    if (d.code && strcmp(d.code, "not_released") == 0)
        fcgi_metric_inc(FCGI_M_ORIGINALS_REFUSED);
    fcgi_send_error(req, d.rc, d.code, d.message);
    return false;
}

bool fcgi_load_order(fcgi_req *req, const char *order_id, ord_action action,
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
    return fcgi_may(req, who, o, action);
}

void fcgi_actor(const struct fcgi_claims *who, char *out, size_t len)
{
    const char *role = fcgi_role_name(who->role);
    snprintf(out, len, "%s:%s", role ? role : "unknown", who->sub);
}
