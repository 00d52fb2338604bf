/* tus 1.0 resumable uploads (fcgi/h_tus.c): what the other handlers and
 * the maintenance loop share with it. */
#ifndef FCGI_H_TUS_H
#define FCGI_H_TUS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "fcgi/http.h"
#include "fcgi/jwt.h"
#include "orders/uploads.h"
#include "storage/blob.h"
#include "storage/uploads.h"

/* The usual start of a request on /v1/uploads/{id}: authenticates, reads
 * the upload and checks that it is the caller's (a seller token naming
 * its order and its seller: anything else is 404, so another party
 * learns nothing of it), that it has not expired (410, and it is removed)
 * and that its order still takes deliveries. On refusal answers itself
 * and returns false. */
bool fcgi_tus_load(fcgi_req *req, const char *id, struct fcgi_claims *who /* out */,
                   store_upload *u /* out */);

/* True when the request says Tus-Resumable: 1.0.0; otherwise answers 412
 * with Tus-Version and returns false. */
bool fcgi_tus_version_ok(fcgi_req *req);

/* Removes the uploads expired at `now` (rows, then data files), at most a
 * few hundred per call, and data files left without a row (a crash
 * between a delivery's commit and their removal) once older than
 * FG_TUS_ORPHAN_GRACE; *removed (may be NULL) gets how many. Called by
 * the maintenance loop (fcgi/blob_gc.c). FG_EIO if the store fails. */
FG_MUST_CHECK fg_result fcgi_tus_sweep(store_meta *m, store_blob *b, int64_t now,
                                       int64_t *removed /* out */, fg_reason *r);

/* fcgi_tus_sweep for the maintenance loop: logs what it did or why it
 * failed. Can't fail. */
void fcgi_tus_maintain(store_meta *m, store_blob *b, int64_t now);

#endif
