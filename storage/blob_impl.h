/* What a blob backend implements (private to storage/).
 *
 * storage/blob.c checks every hex before it reaches a backend; a backend
 * receives only well-formed 64-hex names. */
#ifndef STORE_BLOB_IMPL_H
#define STORE_BLOB_IMPL_H

#include "storage/blob.h"

typedef struct store_blob_ops {
    const char *name; /* "fs" */
    void (*free)(store_blob *b);
    const char *(*tmp_dir)(const store_blob *b);
    /* sha256 NULL: the backend hashes the file. */
    fg_result (*put_file)(store_blob *b, const char *src_path,
                          const char *sha256, char hex_out[STORE_HEX_MAX],
                          int64_t *size_out, fg_reason *r);
    fg_result (*stat)(store_blob *b, const char *hex, bool *exists,
                      int64_t *size, fg_reason *r);
    fg_result (*open_read)(store_blob *b, const char *hex, int *fd,
                           fg_reason *r);
    fg_result (*local_path)(store_blob *b, const char *hex, char *out,
                            size_t cap, fg_reason *r);
    fg_result (*remove)(store_blob *b, const char *hex, fg_reason *r);
    fg_result (*each)(store_blob *b, store_blob_each_fn fn, void *ctx,
                      fg_reason *r);
} store_blob_ops;

/* Embedded first in every backend's handle. */
struct store_blob {
    const store_blob_ops *ops;
};

#endif
