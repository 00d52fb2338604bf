/* tus uploads in progress: the application layer between the tus handlers
 * (fcgi/h_tus.c) and the store. Knows nothing of HTTP.
 *
 * An upload is a row (storage/uploads.h) and its bytes in the blob store
 * (store_blob_part_*: a data file in the local store's temp directory, or
 * one object per chunk in S3). A chunk is passed to the store through
 * one small buffer, feeding the plain SHA-256 and the commitment's
 * (common/commit.h) as the bytes pass; both states are put down in the
 * row in the same guarded update that moves the offset, so nothing is
 * read twice and the upload can be taken up after a restart or on
 * another node. The recorded offset is the truth: bytes past it in the
 * store (a request that died before its update, a chunk refused for
 * its checksum) are cut before the next chunk is appended. */
#ifndef ORDERS_UPLOADS_H
#define ORDERS_UPLOADS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/result.h"
#include "storage/blob.h"
#include "storage/uploads.h"

/* Why an append was refused, for the caller's answer. */
typedef enum orders_upload_why {
    ORDERS_UPLOAD_WHY_NONE = 0,
    ORDERS_UPLOAD_WHY_OFFSET,   /* not the recorded offset (FG_ESTATE) */
    ORDERS_UPLOAD_WHY_TOO_LONG, /* longer than the bytes left (FG_ELIMIT) */
    ORDERS_UPLOAD_WHY_BUSY,     /* another chunk is being written (FG_ESTATE) */
    ORDERS_UPLOAD_WHY_DAMAGED,  /* the data file is shorter than the offset (FG_ECORRUPT) */
    ORDERS_UPLOAD_WHY_CHECKSUM, /* the chunk does not match its checksum (FG_ECORRUPT) */
} orders_upload_why;

/* What an append did, whatever its result. */
typedef struct orders_upload_outcome {
    int64_t offset;          /* the upload's offset after it */
    orders_upload_why why;   /* why it was refused, if it was */
    bool uncut;              /* bytes past the offset could not be cut now (the
                              * next append cuts them): worth a warning */
} orders_upload_outcome;

/* Starts upload u (order_id, seller_id, name, length and expires_at set
 * by the caller): draws its id (into u->id) and its salt,
 * writes the starting hash states, creates its empty data file, then its
 * row (a row always has its file). FG_EIO if the file cannot be made;
 * what store_upload_insert returns otherwise (the file is removed). */
FG_MUST_CHECK fg_result orders_upload_create(store_meta *m, store_blob *b,
                                             store_upload *u /* in, out */, fg_reason *r);

/* Appends n bytes read from body (from where it stands) to upload u,
 * whose client said it sends them at offset. Refused with *why set when
 * offset is not u->offset, when n is more than the bytes left, when
 * another append holds the upload, when the data file is shorter than
 * u->offset, or when want (32 bytes, may be NULL) is not the chunk's
 * SHA-256 (nothing is kept). Bytes past u->offset in the data file are
 * cut first. On success the row holds the new offset (res->offset),
 * hash states and expires_at. u is the row as the caller read it; the
 * checks are made again on the row as it is once the upload is held, so
 * a chunk retried after it went through is refused (FG_ESTATE,
 * WHY_OFFSET), never written over the first. FG_EIO when the disk fails. */
FG_MUST_CHECK fg_result orders_upload_append(store_meta *m, store_blob *b,
                                             const store_upload *u, int64_t offset, int body,
                                             int64_t n, const unsigned char *want,
                                             int64_t expires_at,
                                             orders_upload_outcome *res /* out */, fg_reason *r);

/* A finished upload on its way into a delivery. */
typedef struct orders_upload_taken {
    char name[FG_MAX_FILE_NAME + 1];
    char sha256[STORE_HEX_MAX];     /* from the states kept as the bytes came */
    char salt[STORE_HEX_MAX];
    char commitment[STORE_HEX_MAX];
    char link[PATH_MAX];            /* a local file of its bytes, to store as the blob */
} orders_upload_taken;

/* Takes upload id for a delivery of order_id by seller_id at `now`: it
 * must be theirs (FG_ENOTFOUND otherwise, as when there is none), not
 * expired (FG_EGONE), complete (FG_ESTATE), keep *total (the delivery's
 * bytes so far, advanced by its length) within max_total (FG_ELIMIT) and
 * have exactly its length stored (FG_ECORRUPT). Its bytes are put into one
 * new local file, out->link (store_blob_parts_assemble: local, a new link
 * to the data file, "upload-", the startup cleaning's should a crash
 * leave it), so the upload stays whole until the delivery is recorded;
 * the caller stores or unlinks that file. */
FG_MUST_CHECK fg_result orders_upload_take(store_meta *m, store_blob *b, const char *id,
                                           const char *seller_id, const char *order_id,
                                           int64_t now, long long max_total,
                                           long long *total /* in, out */,
                                           orders_upload_taken *out /* out */, fg_reason *r);

/* Inside the delivery's write transaction (an orders_delivery_hook's
 * work): removes the rows of the n uploads delivered. One that is gone
 * already was delivered by a request racing this one: FG_ESTATE, and the
 * caller's transaction rolls back, so an upload is delivered once. */
FG_MUST_CHECK fg_result orders_upload_consume(store_meta *m, const char (*ids)[STORE_FILE_ID_MAX],
                                              size_t n, fg_reason *r);

/* Once the delivery committed: removes the n uploads' data files (the
 * blobs hold the bytes). A file left by a crash before this is the
 * sweep's. Can't fail. */
void orders_upload_discard(store_blob *b, const char (*ids)[STORE_FILE_ID_MAX], size_t n);

/* Removes an upload: its row first (from then on nobody can reach the
 * file), then its data file. *removed (may be NULL) says whether there
 * was a row. */
FG_MUST_CHECK fg_result orders_upload_remove(store_meta *m, store_blob *b, const char *id,
                                             bool *removed /* out */, fg_reason *r);

/* Removes the uploads expired at `now` (rows, then data files), at most a
 * few hundred per call, and data files left without a row once older
 * than FG_TUS_ORPHAN_GRACE; *removed (may be NULL) gets how many. FG_EIO
 * if the store fails. */
FG_MUST_CHECK fg_result orders_upload_sweep(store_meta *m, store_blob *b, int64_t now,
                                            int64_t *removed /* out */, fg_reason *r);

#endif
