/* One FastCGI request: what came in, and the ways to answer it.
 *
 * Handlers read the request through these helpers and answer with exactly
 * one fcgi_send_* call. fg_result codes become HTTP statuses here and
 * nowhere else (fcgi_status_for). Memory a handler needs for the life of
 * the request comes from the request's cleanup list, so an early return
 * leaks nothing. */
#ifndef FCGI_HTTP_H
#define FCGI_HTTP_H

#include <fcgiapp.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/limits.h"
#include "common/result.h"

struct fcgi_ctx; /* the worker thread's handles: fcgi/worker.h */

typedef void (*fcgi_cleanup_fn)(void *arg);
typedef struct fcgi_cleanup {
    fcgi_cleanup_fn fn;
    void *arg;
    struct fcgi_cleanup *next;
} fcgi_cleanup;

#define FCGI_MAX_PATH_PARAMS 3

typedef struct fcgi_req {
    FCGX_Request *fx;
    struct fcgi_ctx *ctx;
    const char *method;      /* "GET", ... */
    char path[1024];         /* percent-decoded path, no query */
    const char *query;       /* raw query string, "" when none */
    const char *params[FCGI_MAX_PATH_PARAMS]; /* {x} segments of the route */
    char param_buf[FCGI_MAX_PATH_PARAMS][FG_MAX_ID + 1];
    char id[33];             /* request id for logs and error bodies (nginx's) */
    int status;              /* 0 until answered */
    bool auth_check;         /* answering nginx's auth_request: see
                                fcgi_send_error */
    fcgi_cleanup *cleanups;
    char headers[1024];      /* fcgi_add_header's lines, sent with the answer */
} fcgi_req;

/* Adds "name: value" to the answer, whichever fcgi_send_* sends it (tus's
 * Upload-Offset, Location, ...). A header that does not fit, or holds a
 * CR or LF, is dropped: values come from the worker, never the client.
 * Can't fail. */
void fcgi_add_header(fcgi_req *req, const char *name, const char *value);

/* Fills req from an accepted FastCGI request. Returns FG_EUSAGE if the
 * request line is unusable (no method, path too long or not decodable). */
FG_MUST_CHECK fg_result fcgi_req_init(fcgi_req *req, FCGX_Request *fx,
                                      struct fcgi_ctx *ctx, fg_reason *r);

/* Runs the cleanups in reverse order of registration. Accepts a request
 * whose init failed. */
void fcgi_req_release(fcgi_req *req);

/* Registers fn(arg) to run when the request ends. Returns FG_EIO (and runs
 * fn(arg) at once) when out of memory, so the resource is never lost. */
FG_MUST_CHECK fg_result fcgi_req_defer(fcgi_req *req, fcgi_cleanup_fn fn,
                                       void *arg);

/* The request's path as logs may show it: a scoped link's paths
 * ("/l/<id>", "/v1/links/<id>": the id is the credential, fcgi/h_links.c)
 * read "/l/-" and "/v1/links/-".
 * Borrowed from req or static. Can't fail. */
const char *fcgi_req_log_path(const fcgi_req *req);

/* A FastCGI parameter (CGI variable), e.g. "HTTP_AUTHORIZATION", or NULL. */
const char *fcgi_param(const fcgi_req *req, const char *name);

/* Copies the percent-decoded value of query parameter key into out.
 * Returns false when absent, too long for out, or not decodable. */
bool fcgi_query(const fcgi_req *req, const char *key, char *out, size_t outlen);

/* Reads the whole request body into a heap buffer owned by the request
 * (NUL-terminated for convenience). FG_ELIMIT past max bytes, FG_EUSAGE on
 * a short body. */
FG_MUST_CHECK fg_result fcgi_read_body(fcgi_req *req, size_t max,
                                       char **body /* out */,
                                       size_t *len /* out */, fg_reason *r);

/* The HTTP status for a result code: the one place codes meet HTTP.
 * This function can't fail. */
int fcgi_status_for(fg_result code);

/* Answers with a JSON document (the request takes the reference to doc). */
void fcgi_send_json(fcgi_req *req, int status, json_t *doc);

/* Answers {"error":{"code":..., "message":..., "request_id":...}} with the
 * status for code. api_code overrides the code's default name (e.g.
 * "not_released"); message is shown to the client: no paths, no secrets.
 *
 * When req->auth_check is set (the request is nginx's auth_request
 * subrequest, whose body nginx throws away and which may only answer 2xx,
 * 401 or 403), a refusal is answered 401 for FG_EAUTH and 403 for every
 * other 4xx, with the real status, code and message in the headers
 * X-Filigrane-Status, X-Filigrane-Error and X-Filigrane-Message; nginx
 * rebuilds the JSON error from them (nginx.conf, @auth_refused). 5xx stays
 * 5xx. */
void fcgi_send_error(fcgi_req *req, fg_result code, const char *api_code,
                     const char *message);

/* fcgi_send_error for a 4xx status no fg_result maps to (412: a tus
 * version refused), with api_code and message as given; with
 * req->auth_check the same refusal in headers. */
void fcgi_send_error_status(fcgi_req *req, int status, const char *api_code,
                            const char *message);

/* Starts a JSON answer whose body the handler writes itself to
 * req->fx->out, piece by piece (no Content-Length: nginx chunks it), so
 * a long list is never held whole as one document. FG_EIO if the client
 * is gone or the request was already answered. */
FG_MUST_CHECK fg_result fcgi_send_json_stream_head(fcgi_req *req, int status);

/* Answers 405 with an Allow header (with req->auth_check: a refusal
 * carrying 405, as fcgi_send_error describes). */
void fcgi_send_method_not_allowed(fcgi_req *req, const char *allow);

/* Answers with a plain body (metrics, health). */
void fcgi_send_text(fcgi_req *req, int status, const char *content_type,
                    const char *body, size_t len);

/* Headers for a file that nginx sends itself. */
typedef struct fcgi_file_reply {
    const char *target;       /* X-Accel-Redirect: store_blob_download_target */
    const char *sha256;       /* becomes the ETag */
    const char *content_type;
    const char *disposition;  /* full Content-Disposition value */
    const char *cache_control;
} fcgi_file_reply;

/* Starts a 200 answer whose body the handler then writes itself to
 * req->fx->out (a stream made on the fly): status, Content-Type,
 * Cache-Control from f, and an attachment Content-Disposition for name.
 * FG_EIO if the client is gone. */
FG_MUST_CHECK fg_result fcgi_send_stream_head(fcgi_req *req, const fcgi_file_reply *f,
                                             const char *name);

/* True when an If-None-Match header (may be NULL) names the entity tag
 * "<sha>" (weak or strong) or is "*": the answer is then 304. Shared with
 * the download counting rule (fcgi/download_count.h), which must agree
 * with it. Can't fail. */
bool fcgi_etag_matches(const char *header, const char *sha);

/* Answers 304 when If-None-Match names this sha256, else hands the file to
 * nginx with X-Accel-Redirect (the worker sends headers only). */
void fcgi_send_file(fcgi_req *req, const fcgi_file_reply *f);

#endif
