/* What a metadata backend implements for tus uploads (private to
 * storage/; storage/uploads.h is the interface). storage/uploads.c checks
 * every argument; a backend only stores. */
#ifndef STORE_UPLOADS_IMPL_H
#define STORE_UPLOADS_IMPL_H

#include "storage/uploads.h"

typedef struct store_upload_ops {
    fg_result (*insert)(store_meta *m, const store_upload *u, fg_reason *r);
    fg_result (*get)(store_meta *m, const char *id, store_upload *out, bool *found,
                     fg_reason *r);
    /* Guarded on offset = from: *updated false when it was not. */
    fg_result (*advance)(store_meta *m, const char *id, int64_t from, int64_t to,
                         const char *sha_state, const char *commit_state,
                         int64_t expires_at, bool *updated, fg_reason *r);
    fg_result (*remove)(store_meta *m, const char *id, bool *removed, fg_reason *r);
    fg_result (*count)(store_meta *m, const char *order_id, int64_t *n, fg_reason *r);
    fg_result (*expired)(store_meta *m, int64_t now, char (*ids)[STORE_FILE_ID_MAX],
                         size_t cap, size_t *n, fg_reason *r);
} store_upload_ops;

/* The SQLite backend's (storage/uploads_sqlite.c). */
extern const store_upload_ops store_sqlite_upload_ops;

#endif
