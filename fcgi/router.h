/* Routes: method + path pattern -> handler. The table lives in router.c,
 * the handlers in fcgi/h_*.c. */
#ifndef FCGI_ROUTER_H
#define FCGI_ROUTER_H

#include "fcgi/http.h"

typedef void (*fcgi_handler)(fcgi_req *req);

/* Finds the route for req's method and path, fills req->params with the
 * {x} segments, and runs its handler. Answers 404 for an unknown path, 405
 * with Allow for a known path and a wrong method, 400 for a path segment
 * that is not a valid identifier. */
void fcgi_route(fcgi_req *req);

#endif
