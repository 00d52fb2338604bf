/* tus uploads in progress (fcgi/h_tus.c): one row per upload, holding
 * everything needed to take it up again on any node (DESIGN, Settled
 * details, "tus across nodes"): whose it is, how long it will be, how
 * much arrived, and the two SHA-256 states (plain, and the commitment's
 * under the salt drawn at creation: common/commit.h) after those bytes.
 *
 * The bytes themselves sit in one data file per upload (the caller's
 * business). The state and the offset move together, in one guarded
 * update (store_upload_advance): a crash between appending to the data
 * file and that update leaves the file longer than the recorded offset,
 * and the next PATCH truncates it back. */
#ifndef STORE_UPLOADS_H
#define STORE_UPLOADS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/result.h"
#include "common/sha256_state.h"
#include "storage/meta.h"

typedef struct store_upload {
    char id[STORE_FILE_ID_MAX];     /* 32 lowercase hex */
    char order_id[FG_MAX_ID + 1];
    char seller_id[FG_MAX_ID + 1];
    char name[FG_MAX_FILE_NAME + 1];
    int64_t length;                 /* Upload-Length, > 0 */
    int64_t offset;                 /* bytes received, 0 .. length */
    char sha_state[FG_SHA256_STATE_HEX_MAX];    /* common/sha256_state.h */
    char commit_state[FG_SHA256_STATE_HEX_MAX]; /* salt already fed */
    char salt[STORE_HEX_MAX];
    char created_at[STORE_TIME_MAX];
    int64_t expires_at;             /* unix seconds */
} store_upload;

/* Records a new upload (offset 0). FG_EUSAGE for a malformed field;
 * FG_EIO if the store fails. */
FG_MUST_CHECK fg_result store_upload_insert(store_meta *m, const store_upload *u, fg_reason *r);

/* Reads upload id into *out. FG_ENOTFOUND if there is none. */
FG_MUST_CHECK fg_result store_upload_get(store_meta *m, const char *id,
                                         store_upload *out /* out */, fg_reason *r);

/* Moves upload id from offset `from` to `to` with its new hash states
 * and expiry, only if its offset is still `from`: FG_ESTATE otherwise
 * (another request advanced it, or it was removed). */
FG_MUST_CHECK fg_result store_upload_advance(store_meta *m, const char *id, int64_t from,
                                             int64_t to, const char *sha_state,
                                             const char *commit_state, int64_t expires_at,
                                             fg_reason *r);

/* Removes upload id. *removed (may be NULL) says whether there was one. */
FG_MUST_CHECK fg_result store_upload_delete(store_meta *m, const char *id,
                                            bool *removed /* out */, fg_reason *r);

/* How many uploads order_id has, expired or not. */
FG_MUST_CHECK fg_result store_upload_count(store_meta *m, const char *order_id,
                                           int64_t *n /* out */, fg_reason *r);

/* Up to cap ids of uploads that expired at or before `now` (unix
 * seconds), oldest first, into ids; *n gets how many. */
FG_MUST_CHECK fg_result store_upload_expired(store_meta *m, int64_t now,
                                             char (*ids)[STORE_FILE_ID_MAX], size_t cap,
                                             size_t *n /* out */, fg_reason *r);

#endif
