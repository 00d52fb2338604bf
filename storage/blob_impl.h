/* What a blob backend implements (private to storage/).
 *
 * storage/blob.c checks every hex and upload id before it reaches a
 * backend, and every out pointer is non-NULL there: a backend receives
 * only well-formed 64-hex names and store_file_id_valid ids. An op left
 * NULL answers FG_EUSAGE ("this blob store cannot ..."), except check
 * (nothing to check: FG_OK). */
#ifndef STORE_BLOB_IMPL_H
#define STORE_BLOB_IMPL_H

#include "storage/blob.h"

typedef struct store_blob_ops {
    const char *name; /* "fs", "s3" */
    void (*free)(store_blob *b);
    fg_result (*check)(store_blob *b, fg_reason *r);
    /* sha256 NULL: the backend hashes the file. Consumes src_path on
     * success. */
    fg_result (*put_file)(store_blob *b, const char *src_path,
                          const char *sha256, char hex_out[STORE_HEX_MAX],
                          int64_t *size_out, fg_reason *r);
    fg_result (*stat)(store_blob *b, const char *hex, bool *exists,
                      int64_t *size, fg_reason *r);
    /* disposition may be NULL. */
    fg_result (*download_target)(store_blob *b, const char *hex,
                                 const char *disposition, char *out,
                                 size_t cap, fg_reason *r);
    fg_result (*acquire_local)(store_blob *b, const char *hex, char *path,
                               size_t cap, fg_reason *r);
    /* path is non-empty; NULL op: nothing to release. */
    void (*release_local)(store_blob *b, const char *path);
    fg_result (*remove)(store_blob *b, const char *hex, fg_reason *r);
    fg_result (*each)(store_blob *b, store_blob_each_fn fn, void *ctx,
                      fg_reason *r);

    /* tus bytes (storage/blob.h). part_begin sets *busy only when it is
     * true; the handle it makes starts with a store_blob_part. */
    fg_result (*parts_create)(store_blob *b, const char *id, fg_reason *r);
    fg_result (*part_begin)(store_blob *b, const char *id,
                            store_blob_part **out, bool *busy, fg_reason *r);
    fg_result (*part_seek)(store_blob_part *p, int64_t offset, fg_reason *r);
    fg_result (*part_write)(store_blob_part *p, const void *buf, size_t n,
                            fg_reason *r);
    fg_result (*part_flush)(store_blob_part *p, fg_reason *r);
    bool (*part_end)(store_blob_part *p, bool keep); /* frees p */
    fg_result (*parts_assemble)(store_blob *b, const char *id, int64_t length,
                                const char *sha256, char *path, size_t cap,
                                fg_reason *r);
    fg_result (*parts_remove)(store_blob *b, const char *id, fg_reason *r);
    fg_result (*parts_each)(store_blob *b, store_blob_parts_each_fn fn,
                            void *ctx, fg_reason *r);
} store_blob_ops;

/* Embedded first in every backend's handle. */
struct store_blob {
    const store_blob_ops *ops;
};

/* Embedded first in every backend's chunk handle. */
struct store_blob_part {
    store_blob *b;
};

/* The S3 backend's constructor (storage/blob_s3.c), called by
 * store_blob_open when s->s3_endpoint is set. s->scratch is already
 * resolved (never NULL or empty) and the directory exists. Checks every
 * S3 setting (FG_EUSAGE naming the variable, never the secret), sends
 * nothing. */
FG_MUST_CHECK fg_result store_blob_open_s3(const store_blob_settings *s,
                                           store_blob **out, fg_reason *r);

/* Temp files in the scratch directory start with this (storage/tmp_clean.h
 * removes them at startup). */
#define STORE_BLOB_SCRATCH_PREFIX "blob-"

/* The S3 key of blob hex, "sha256/<hex>" (DESIGN, Storage: S3 keys need
 * no fan-out directories), shared with the tests that look in the bucket.
 * hex already checked. (tus chunks' keys: storage/blob_s3.c.) */
#define STORE_BLOB_KEY_MAX 96
void store_blob_key(const char *hex, char out[STORE_BLOB_KEY_MAX]);

#endif
