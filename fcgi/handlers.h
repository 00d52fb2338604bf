/* Every request handler, one per route of DESIGN.md's API table. Each
 * answers exactly once through fcgi/http.h. */
#ifndef FCGI_HANDLERS_H
#define FCGI_HANDLERS_H

#include "fcgi/http.h"

void fcgi_h_healthz(fcgi_req *req);
void fcgi_h_livez(fcgi_req *req);
void fcgi_h_readyz(fcgi_req *req);
void fcgi_h_metrics(fcgi_req *req);
void fcgi_h_keys(fcgi_req *req);
void fcgi_h_order_evidence(fcgi_req *req);
void fcgi_h_order_hook(fcgi_req *req);
void fcgi_h_delivery_create(fcgi_req *req);
/* nginx's auth_request for an upload (fcgi/h_auth.c); any method. */
void fcgi_h_auth_deliver(fcgi_req *req);
/* nginx's auth_request for a tus request on an upload (fcgi/h_auth.c). */
void fcgi_h_auth_upload(fcgi_req *req);
/* tus 1.0 (fcgi/h_tus.c). */
void fcgi_h_tus_options(fcgi_req *req);
void fcgi_h_tus_create(fcgi_req *req);
void fcgi_h_tus_head(fcgi_req *req);
void fcgi_h_tus_patch(fcgi_req *req);
void fcgi_h_tus_delete(fcgi_req *req);
void fcgi_h_order_get(fcgi_req *req);
void fcgi_h_order_audit(fcgi_req *req);
void fcgi_h_file_preview(fcgi_req *req);
void fcgi_h_file_poster(fcgi_req *req);
void fcgi_h_file_original(fcgi_req *req);
void fcgi_h_delivery_archive(fcgi_req *req);

#endif
