#include "fcgi/router.h"

#include <stdio.h>
#include <string.h>

#include "common/id.h"
#include "fcgi/handlers.h"

/* A pattern is a path with {x} placeholders, each one whole segment.
 * Placeholders match identifiers only, by the one id rule (common/id.h)
 * that the store and the token check apply too: an order the store took
 * is reachable at every URL, and no handler ever sees a slash, a dot-dot
 * or a control character. The path is matched percent-decoded
 * (fcgi_req_init): "ord%3A42" is "ord:42", and "%2F" is a slash, which
 * no id holds. */
static const struct route {
    const char *method;
    const char *pattern;
    fcgi_handler handler;
} routes[] = {
    {"GET", "/healthz", fcgi_h_healthz},
    {"GET", "/livez", fcgi_h_livez},
    {"GET", "/readyz", fcgi_h_readyz},
    {"GET", "/metrics", fcgi_h_metrics},
    {"GET", "/v1/keys", fcgi_h_keys},
    {"POST", "/v1/hooks/orders", fcgi_h_order_hook},
    {"POST", "/v1/orders/{order}/deliveries", fcgi_h_delivery_create},
    /* nginx's early check of an upload, before its body is read: never
     * reachable from outside (nginx sends no client path to /_auth). */
    {"*", "/_auth/v1/orders/{order}/deliveries", fcgi_h_auth_deliver},
    {"*", "/_auth/v1/uploads/{upload}", fcgi_h_auth_upload},
    /* tus 1.0 (fcgi/h_tus.c): HEAD is its own route, not GET's. */
    {"OPTIONS", "/v1/uploads", fcgi_h_tus_options},
    {"OPTIONS", "/v1/orders/{order}/uploads", fcgi_h_tus_options},
    {"POST", "/v1/orders/{order}/uploads", fcgi_h_tus_create},
    {"HEAD", "/v1/uploads/{upload}", fcgi_h_tus_head},
    {"PATCH", "/v1/uploads/{upload}", fcgi_h_tus_patch},
    {"DELETE", "/v1/uploads/{upload}", fcgi_h_tus_delete},
    {"OPTIONS", "/v1/uploads/{upload}", fcgi_h_tus_options},
    {"GET", "/v1/orders/{order}", fcgi_h_order_get},
    {"GET", "/v1/orders/{order}/audit", fcgi_h_order_audit},
    {"GET", "/v1/orders/{order}/evidence", fcgi_h_order_evidence},
    {"GET", "/v1/orders/{order}/deliveries/{n}/archive", fcgi_h_delivery_archive},
    {"GET", "/v1/files/{file}/preview", fcgi_h_file_preview},
    {"GET", "/v1/files/{file}/poster", fcgi_h_file_poster},
    {"GET", "/v1/files/{file}/original", fcgi_h_file_original},
};

typedef enum { NO_MATCH, MATCH, BAD_ID } match_t;

/* Matches path against pattern, capturing placeholders into req. */
static match_t match(const char *pattern, const char *path, fcgi_req *req)
{
    int np = 0;
    bool bad = false;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *pend = strchr(p, '}');
            size_t n = strcspn(s, "/");
            if (!pend || np >= FCGI_MAX_PATH_PARAMS || n == 0)
                return NO_MATCH;
            bad = bad || fg_id_check(s, n) != FG_ID_OK;
            if (!bad) {
                memcpy(req->param_buf[np], s, n);
                req->param_buf[np][n] = '\0';
                req->params[np] = req->param_buf[np];
            }
            np++;
            p = pend + 1;
            s += n;
        } else if (*p == *s) {
            p++;
            s++;
        } else {
            return NO_MATCH;
        }
    }
    if (*p || *s)
        return NO_MATCH;
    return bad ? BAD_ID : MATCH;
}

fcgi_route_result fcgi_route_find(fcgi_req *req, fcgi_handler *handler,
                                  char allow[FCGI_ALLOW_MAX])
{
    bool bad_id = false;
    *handler = NULL;
    allow[0] = '\0';
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        match_t m = match(routes[i].pattern, req->path, req);
        if (m == NO_MATCH)
            continue;
        if (m == BAD_ID) {
            bad_id = true;
            continue;
        }
        if (strcmp(routes[i].method, "*") == 0 || strcmp(routes[i].method, req->method) == 0 ||
            (strcmp(req->method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)) {
            *handler = routes[i].handler;
            return FCGI_ROUTE_FOUND;
        }
        size_t n = strlen(allow);
        snprintf(allow + n, FCGI_ALLOW_MAX - n, "%s%s", n ? ", " : "", routes[i].method);
    }
    if (allow[0])
        return FCGI_ROUTE_BAD_METHOD;
    return bad_id ? FCGI_ROUTE_BAD_ID : FCGI_ROUTE_NOT_FOUND;
}

void fcgi_route(fcgi_req *req)
{
    char allow[FCGI_ALLOW_MAX];
    fcgi_handler h;
    switch (fcgi_route_find(req, &h, allow)) {
    case FCGI_ROUTE_FOUND:
        h(req);
        return;
    case FCGI_ROUTE_BAD_METHOD:
        fcgi_send_method_not_allowed(req, allow);
        return;
    case FCGI_ROUTE_BAD_ID:
        fcgi_send_error(req, FG_EUSAGE, "bad_id", "an identifier in the path is malformed");
        return;
    case FCGI_ROUTE_NOT_FOUND:
        break;
    }
    fcgi_send_error(req, FG_ENOTFOUND, NULL, "no such route");
}
