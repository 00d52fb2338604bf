/* Routes: method + path pattern -> handler. The table lives in router.c,
 * the handlers in fcgi/h_*.c. */
#ifndef FCGI_ROUTER_H
#define FCGI_ROUTER_H

#include "fcgi/http.h"

typedef void (*fcgi_handler)(fcgi_req *req);

/* What fcgi_route_find found. */
typedef enum fcgi_route_result {
    FCGI_ROUTE_FOUND,      /* *handler is set, req->params filled */
    FCGI_ROUTE_NOT_FOUND,  /* no pattern matches the path: 404 */
    FCGI_ROUTE_BAD_METHOD, /* the path matches, not the method: 405 */
    FCGI_ROUTE_BAD_ID,     /* a {x} segment is not an id (common/id.h): 400 */
} fcgi_route_result;

#define FCGI_ALLOW_MAX 64

/* Matches req's method and (percent-decoded) path against the route table
 * without answering: fills req->params and *handler when found, allow
 * with the path's methods ("GET, POST") when only the method is wrong.
 * This function can't fail. */
fcgi_route_result fcgi_route_find(fcgi_req *req, fcgi_handler *handler /* out */,
                                  char allow[FCGI_ALLOW_MAX] /* out */);

/* Finds the route for req's method and path, fills req->params with the
 * {x} segments, and runs its handler. Answers 404 for an unknown path, 405
 * with Allow for a known path and a wrong method, 400 for a path segment
 * that is not a valid identifier. */
void fcgi_route(fcgi_req *req);

#endif
