/* The check nginx makes before it reads a delivery's body (auth_request,
 * nginx.conf): POST /v1/orders/{order}/deliveries is first asked here as
 * /_auth/v1/orders/{order}/deliveries, with the client's headers and
 * query but no body.
 *
 * nginx runs auth_request in its access phase, before the content handler
 * reads the body, so an upload without a valid token, by anyone but the
 * order's seller, or to an order that does not exist or takes no more
 * deliveries is refused before a byte of it is written to disk (a client
 * that sent "Expect: 100-continue" is never asked for it). The rules are
 * the delivery handler's own (fcgi_load_order with ORD_DELIVER), and
 * that handler checks them all again: this is an early refusal, not the
 * decision. */
#include <string.h>

#include "fcgi/access.h"
#include "fcgi/h_tus.h"
#include "fcgi/handlers.h"

void fcgi_h_auth_deliver(fcgi_req *req)
{
    struct fcgi_claims who;
    store_order o;
    req->auth_check = true;
    /* Any other method is refused here too: let through, its body would be
     * spooled before the route answered 405. */
    if (strcmp(req->method, "POST") != 0) {
        fcgi_send_method_not_allowed(req, "POST");
        return;
    }
    if (!fcgi_load_order(req, req->params[0], ORD_DELIVER, &who, &o))
        return;
    fcgi_send_text(req, 204, "text/plain", "", 0);
}

/* The same early check for a tus request on /v1/uploads/{id} (a PATCH
 * carries a chunk): the protocol version, then the token, the upload's
 * owner, its expiry and the order's rules, in the handler's order
 * (fcgi_tus_version_ok, then fcgi_tus_load), so a chunk the handler would
 * answer 412 is refused before nginx spools it. nginx adds Tus-Version to
 * the 412 (@auth_refused). OPTIONS carries no body and needs neither. */
void fcgi_h_auth_upload(fcgi_req *req)
{
    struct fcgi_claims who;
    store_upload u;
    req->auth_check = true;
    if (strcmp(req->method, "OPTIONS") == 0) {
        fcgi_send_text(req, 204, "text/plain", "", 0);
        return;
    }
    if (strcmp(req->method, "PATCH") != 0 && strcmp(req->method, "HEAD") != 0 &&
        strcmp(req->method, "DELETE") != 0) {
        fcgi_send_method_not_allowed(req, "HEAD, PATCH, DELETE, OPTIONS");
        return;
    }
    const char *v = fcgi_param(req, "HTTP_TUS_RESUMABLE");
    if (!v || strcmp(v, "1.0.0") != 0) {
        fcgi_send_error_status(req, 412, "tus_version", "send Tus-Resumable: 1.0.0");
        return;
    }
    if (!fcgi_tus_load(req, req->params[0], &who, &u))
        return;
    fcgi_send_text(req, 204, "text/plain", "", 0);
}
