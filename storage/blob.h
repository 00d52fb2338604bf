/* The blob store: originals and previews, content-addressed by SHA-256,
 * written once, never overwritten.
 *
 * Backends sit behind an ops table (storage/blob_impl.h): local files today
 * (storage/blob_fs.c), S3 later. Local layout under the data root:
 *
 *   <root>/blobs/sha256/ab/cd/<hex>   the blob whose SHA-256 is <hex>,
 *                                     ab and cd its first two byte pairs
 *   <root>/tmp/                       temp files, same file system
 *
 * A blob is written to a temp file, fsynced, renamed into place without
 * replacing anything (renameat2 RENAME_NOREPLACE), and its directory is
 * fsynced; a blob that exists already is kept and the new copy dropped.
 * Directories are 0700 and blobs 0600 whatever the umask: nginx workers
 * run as the worker's user and send blobs themselves (X-Accel-Redirect),
 * and no other user of the host may read an original.
 *
 * Every hex argument is checked (64 lowercase hex, STORE_HEX_MAX with its
 * NUL) before a path is built from it: FG_EUSAGE otherwise. No path is ever
 * made from a client's file name.
 *
 * Threads: a store_blob handle holds no mutable state after opening; it
 * may be shared by every worker thread. */
#ifndef STORE_BLOB_H
#define STORE_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/result.h"
#include "storage/meta.h" /* STORE_HEX_MAX */

typedef struct store_blob store_blob;

/* "sha256/ab/cd/" + 64 hex + NUL. */
#define STORE_BLOB_REL_MAX 80

/* True if s is exactly 64 lowercase hex characters. Can't fail. */
bool store_hex_valid(const char *s);

/* Opens the local blob store under root (the data directory), creating
 * root/blobs/sha256 and root/tmp (0700) if missing. FG_EIO if they cannot
 * be made. On success *out is the caller's (store_blob_free); on failure
 * NULL. root is copied. */
FG_MUST_CHECK fg_result store_blob_open_fs(const char *root,
                                           store_blob **out /* out */,
                                           fg_reason *r);

/* Frees the handle. Accepts NULL. */
void store_blob_free(store_blob *b);

/* The directory for temp files that must be renamed into the store (the
 * same file system): point nginx's client_body_temp_path here, or under
 * it. Borrowed, valid while b lives. NULL for backends without one. */
const char *store_blob_tmp_dir(const store_blob *b);

/* Stores the regular file at src_path as a blob and consumes it: on
 * success src_path no longer exists (renamed into place, or copied and
 * removed when it sits on another file system (EXDEV) or its mode cannot
 * be set to 0600, or removed because the blob existed). On failure it is
 * left untouched.
 *
 * sha256: the hex the caller computed over exactly these bytes while it
 * streamed them (saves reading a large upload twice), or NULL to have the
 * store read and hash the file. A given hash is trusted, not rechecked:
 * pass NULL unless your own code hashed the bytes. (The copy path, which
 * reads the bytes anyway, refuses a mismatch with FG_EUSAGE.) The file's
 * mode is set to 0600 before it moves. hex_out (may be NULL)
 * receives the blob's hex, size_out (may be NULL) its size.
 * src_path must not be a symlink (FG_EUSAGE). FG_EIO on I/O failure. */
FG_MUST_CHECK fg_result store_blob_put_file(store_blob *b, const char *src_path,
                                            const char *sha256,
                                            char hex_out[STORE_HEX_MAX] /* out */,
                                            int64_t *size_out /* out */,
                                            fg_reason *r);

/* The blob's path relative to the blob root, "sha256/ab/cd/<hex>", for an
 * X-Accel-Redirect to the internal location that serves <root>/blobs/.
 * FG_EUSAGE for a malformed hex. It says nothing of existence. */
FG_MUST_CHECK fg_result store_blob_relpath(const char *hex,
                                           char out[STORE_BLOB_REL_MAX] /* out */,
                                           fg_reason *r);

/* Whether blob hex is stored; size (may be NULL) gets its size when it is.
 * FG_EUSAGE for a malformed hex, FG_EIO if the store cannot be read. */
FG_MUST_CHECK fg_result store_blob_stat(store_blob *b, const char *hex,
                                        bool *exists /* out */,
                                        int64_t *size /* out */,
                                        fg_reason *r);

/* Opens blob hex for reading: *fd is the caller's to close (O_RDONLY,
 * O_CLOEXEC). FG_ENOTFOUND if not stored, FG_EUSAGE for a malformed hex. */
FG_MUST_CHECK fg_result store_blob_open_read(store_blob *b, const char *hex,
                                             int *fd /* out */, fg_reason *r);

/* A local file path holding blob hex, for programs that take a path (the
 * sandboxed stamper). For the local backend it is the blob itself: read
 * it, never write it. FG_ENOTFOUND if not stored, FG_ELIMIT if cap is too
 * small. */
FG_MUST_CHECK fg_result store_blob_local_path(store_blob *b, const char *hex,
                                              char *out /* out */, size_t cap,
                                              fg_reason *r);

/* Hashes the regular file at path (not a symlink): hex_out gets its
 * SHA-256, size_out (may be NULL) its size. For a caller that must know a
 * blob's name before storing it (storage/blob_refs.h: register, then
 * store); pass the hex on to store_blob_put_file so it is not read twice.
 * FG_EUSAGE for a symlink or a non-regular file, FG_EIO otherwise. */
FG_MUST_CHECK fg_result store_blob_hash_file(const char *path,
                                             char hex_out[STORE_HEX_MAX] /* out */,
                                             int64_t *size_out /* out */,
                                             fg_reason *r);

/* As store_blob_hash_file, and also the file's commitment SHA-256(salt ||
 * content) (common/commit.h) in the same pass: an upload is read once.
 * salt is FG_SALT_BYTES bytes; commit_out receives the commitment's hex. */
FG_MUST_CHECK fg_result store_blob_hash_file_committed(const char *path,
                                                       const unsigned char *salt,
                                                       char hex_out[STORE_HEX_MAX] /* out */,
                                                       char commit_out[STORE_HEX_MAX] /* out */,
                                                       int64_t *size_out /* out */,
                                                       fg_reason *r);

/* Removes blob hex. Only the collector calls this (storage/blob_refs.h),
 * after it has made sure, under the metadata store's write lock, that no
 * row references the blob. A blob that is not there is a success (a
 * collector that died halfway runs again). FG_EUSAGE for a malformed hex,
 * FG_EIO if it cannot be removed. */
FG_MUST_CHECK fg_result store_blob_remove(store_blob *b, const char *hex,
                                          fg_reason *r);

/* Called once per stored blob by store_blob_each: its hex, size and last
 * modification (unix seconds). Returning false stops the walk. */
typedef bool (*store_blob_each_fn)(void *ctx, const char *hex, int64_t size,
                                   int64_t mtime);

/* Walks every stored blob, in no particular order, skipping names that are
 * not blobs. A blob added or removed during the walk may or may not be
 * seen. FG_EIO if the store cannot be read. */
FG_MUST_CHECK fg_result store_blob_each(store_blob *b, store_blob_each_fn fn,
                                        void *ctx, fg_reason *r);

#endif
