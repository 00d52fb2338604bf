/* The blob store: originals and previews, content-addressed by SHA-256,
 * written once, never overwritten.
 *
 * The store is not a file system: nothing outside storage/ builds a path
 * into it. A caller stores a file (store_blob_put_file), asks where nginx
 * should fetch a blob for a download (store_blob_download_target), borrows
 * a local copy for a program that takes a path (store_blob_acquire_local /
 * store_blob_release_local), and keeps a tus upload's bytes until it is
 * finished (store_blob_part_*, store_blob_parts_*). Backends sit behind an
 * ops table (storage/blob_impl.h): local files (storage/blob_fs.c) when
 * FILIGRANE_S3_ENDPOINT is unset, S3 (storage/blob_s3.c) when it is set.
 *
 * Local backend, under the data directory:
 *
 *   <root>/blobs/sha256/ab/cd/<hex>   the blob whose SHA-256 is <hex>,
 *                                     ab and cd its first two byte pairs
 *   <root>/tmp/                       temp files on the blobs' file
 *                                     system: blobs being written ("blob-"),
 *                                     tus data files ("tus-<id>")
 *
 * A blob is written to a temp file, fsynced, renamed into place without
 * replacing anything (renameat2 RENAME_NOREPLACE), and its directory is
 * fsynced; a blob that exists already is kept and the new copy dropped.
 * Directories are 0700 and blobs 0600 whatever the umask: nginx workers
 * run as the worker's user and send blobs themselves (X-Accel-Redirect),
 * and no other user of the host may read an original.
 *
 * S3 backend: the same key layout, "sha256/<hex>", in one bucket;
 * tus parts under "uploads/<id>/<offset, 20 digits>". Local copies
 * (acquired blobs, assembled uploads) go in the scratch directory
 * (FILIGRANE_SCRATCH) under the "blob-" prefix, so the worker's startup
 * cleaning (storage/tmp_clean.h) removes what a killed run left.
 *
 * Every hex argument is checked (64 lowercase hex, STORE_HEX_MAX with its
 * NUL) before a backend sees it: FG_EUSAGE otherwise. No path or key is
 * ever made from a client's file name; upload ids are checked with
 * store_file_id_valid.
 *
 * Threads: a store_blob handle holds no mutable state after opening but
 * what its backend guards itself; it may be shared by every worker
 * thread. A store_blob_part belongs to the thread that began it. */
#ifndef STORE_BLOB_H
#define STORE_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/result.h"
#include "storage/meta.h" /* STORE_HEX_MAX */

typedef struct store_blob store_blob;

/* Longest download target (store_blob_download_target) with its NUL: a
 * presigned S3 URL's path and query fit (storage/s3.h, S3_URL_MAX). */
#define STORE_BLOB_TARGET_MAX 4096

/* Validity of a presigned download target, seconds
 * (FILIGRANE_S3_PRESIGN_SECONDS): long enough for nginx to start the
 * transfer it was made for, short enough that a copied URL is worthless
 * soon. The S3 request is made within milliseconds of the URL; a transfer
 * under way is not cut when the URL expires. */
#define STORE_BLOB_PRESIGN_DEFAULT 300
#define STORE_BLOB_PRESIGN_MIN 1
#define STORE_BLOB_PRESIGN_MAX 604800 /* S3's own maximum, 7 days */

/* The settings a store is opened from (fcgi/config.c reads them from the
 * environment, cli/ too). Strings are borrowed for the call only. */
typedef struct store_blob_settings {
    const char *data_dir;  /* FILIGRANE_DATA: the local backend's root */
    const char *scratch;   /* FILIGRANE_SCRATCH; NULL or "": <data_dir>/tmp */
    /* S3, when s3_endpoint is set (else the local backend): */
    const char *s3_endpoint;          /* FILIGRANE_S3_ENDPOINT, NULL or "": local */
    const char *s3_bucket;            /* FILIGRANE_S3_BUCKET */
    const char *s3_region;            /* FILIGRANE_S3_REGION, NULL or "": us-east-1 */
    const char *s3_access_key_id;     /* FILIGRANE_S3_ACCESS_KEY_ID */
    const char *s3_secret_access_key; /* FILIGRANE_S3_SECRET_ACCESS_KEY(_FILE) */
    bool s3_virtual;                  /* FILIGRANE_S3_ADDRESSING=virtual */
    int64_t s3_presign_seconds;       /* 0: STORE_BLOB_PRESIGN_DEFAULT */
    int64_t s3_part_size;             /* 0: the client's default */
} store_blob_settings;

/* True if s is exactly 64 lowercase hex characters. Can't fail. */
bool store_hex_valid(const char *s);

/* Opens the store the settings name: S3 when s->s3_endpoint is set, the
 * local backend under s->data_dir otherwise. Makes the scratch directory
 * (0700, with its parents) if missing; refuses one that is not absolute,
 * or is group or world writable or another user's (FG_EUSAGE naming
 * FILIGRANE_SCRATCH). Sends nothing to S3: store_blob_check does.
 * FG_EUSAGE for a bad setting (the reason names the variable, never the
 * secret), FG_EIO if a directory cannot be made. On success *out is the
 * caller's (store_blob_free); on failure NULL. */
FG_MUST_CHECK fg_result store_blob_open(const store_blob_settings *s,
                                        store_blob **out /* out */,
                                        fg_reason *r);

/* Opens the local blob store under root (the data directory), creating
 * root/blobs/sha256 and root/tmp (0700) if missing; its scratch is
 * root/tmp. FG_EIO if they cannot be made. On success *out is the
 * caller's (store_blob_free); on failure NULL. root is copied. */
FG_MUST_CHECK fg_result store_blob_open_fs(const char *root,
                                           store_blob **out /* out */,
                                           fg_reason *r);

/* Frees the handle. Accepts NULL. */
void store_blob_free(store_blob *b);

/* "fs" or "s3", for logs. Can't fail. */
const char *store_blob_backend(const store_blob *b);

/* At startup, before any request: whether the store can be used. Local:
 * the blob directory is there and writable. S3: a HEAD on the bucket; the
 * reason names S3's code (InvalidAccessKeyId, SignatureDoesNotMatch,
 * NoSuchBucket) or says the endpoint is unreachable. The worker refuses
 * to start on a failure. FG_EAUTH, FG_ENOTFOUND or FG_EIO. */
FG_MUST_CHECK fg_result store_blob_check(store_blob *b, fg_reason *r);

/* Stores the regular file at src_path as a blob and consumes it: on
 * success src_path no longer exists (local: renamed into place, or copied
 * and removed when it sits on another file system (EXDEV) or its mode
 * cannot be set to 0600, or removed because the blob existed; S3: a HEAD
 * first, then a PUT or a multipart upload unless the blob is there, then
 * the file is removed). On failure it is left untouched.
 *
 * sha256: the hex the caller computed over exactly these bytes while it
 * streamed them (saves reading a large upload twice), or NULL to have the
 * store read and hash the file. A given hash is trusted by the local
 * backend's rename, not rechecked: pass NULL unless your own code hashed
 * the bytes. (The local copy path, which reads the bytes anyway, refuses a
 * mismatch with FG_EUSAGE; S3 refuses a body that does not match its
 * signed x-amz-content-sha256.) hex_out (may be NULL) receives the blob's
 * hex, size_out (may be NULL) its size. src_path must not be a symlink
 * (FG_EUSAGE). FG_EIO on I/O failure. */
FG_MUST_CHECK fg_result store_blob_put_file(store_blob *b, const char *src_path,
                                            const char *sha256,
                                            char hex_out[STORE_HEX_MAX] /* out */,
                                            int64_t *size_out /* out */,
                                            fg_reason *r);

/* Whether blob hex is stored; size (may be NULL) gets its size when it is.
 * FG_EUSAGE for a malformed hex, FG_EIO if the store cannot be read. */
FG_MUST_CHECK fg_result store_blob_stat(store_blob *b, const char *hex,
                                        bool *exists /* out */,
                                        int64_t *size /* out */,
                                        fg_reason *r);

/* Where nginx fetches blob hex for a download: the value of the worker's
 * X-Accel-Redirect, an internal location nobody outside can name.
 *   local: "/_blobs/sha256/ab/cd/<hex>" (nginx serves the file itself);
 *   S3:    "/_s3/<path and query of a presigned GET>", valid
 *          FILIGRANE_S3_PRESIGN_SECONDS; nginx proxies it to the fixed
 *          endpoint, so the bytes leave through nginx, never the worker.
 * The target always ends its path with "/<hex>" (nginx takes the ETag
 * from it). disposition (may be NULL): the Content-Disposition the worker
 * answers with; S3 signs it into the URL (response-content-disposition)
 * so the target serves nothing else. It says nothing of existence.
 * FG_EUSAGE for a malformed hex, FG_ELIMIT if cap is too small. */
FG_MUST_CHECK fg_result store_blob_download_target(store_blob *b, const char *hex,
                                                   const char *disposition,
                                                   char *out /* out */, size_t cap,
                                                   fg_reason *r);

/* A local file holding blob hex, for programs that take a path (the
 * sandboxed stamper, type detection, the archive writer): its path into
 * path. Read it, never write it. Local: the blob itself. S3: a download
 * into the scratch directory. Every success is paired with one
 * store_blob_release_local(b, path). FG_ENOTFOUND if not stored, FG_ELIMIT
 * if cap is too small, FG_EIO otherwise. */
FG_MUST_CHECK fg_result store_blob_acquire_local(store_blob *b, const char *hex,
                                                 char *path /* out */, size_t cap,
                                                 fg_reason *r);

/* Gives back a path from store_blob_acquire_local: local: nothing; S3:
 * the copy is removed. Accepts an empty path. Can't fail. */
void store_blob_release_local(store_blob *b, const char *path);

/* ---- tus upload bytes ----
 *
 * An upload's bytes wait in the store until the upload is finished, so
 * that any node may take the next chunk. Local: one data file per upload
 * in <root>/tmp ("tus-<id>"), appended to in place (single node). S3: one
 * object per chunk, "uploads/<id>/<offset as 20 digits>", put when the
 * chunk is complete.
 *
 * The recorded offset (the upload's row, storage/uploads.h) is the truth:
 * bytes past it (a request that died before its update, a chunk refused
 * for its checksum) are cut or overwritten by the next chunk and ignored
 * by the assembly. A chunk is written as
 *
 *   store_blob_part_begin (hold the upload) -> read the row again ->
 *   store_blob_part_seek (its offset) -> store_blob_part_write... ->
 *   store_blob_part_flush -> record the new offset ->
 *   store_blob_part_end (keep = recorded)
 *
 * and the upload is held from begin to end, so a second chunk for the same
 * upload cannot cut the first before its offset is recorded. upload ids
 * are store_file_id_valid (FG_EUSAGE otherwise). */
typedef struct store_blob_part store_blob_part;

/* Creates upload id's empty byte store (local: the data file, O_EXCL,
 * 0600; S3: nothing, a chunk's object is its own). FG_EIO. */
FG_MUST_CHECK fg_result store_blob_parts_create(store_blob *b, const char *id,
                                                fg_reason *r);

/* Holds upload id to write a chunk. *busy (may be NULL) is set when
 * another chunk of it is being written (FG_ESTATE; local: a lock on the
 * data file; S3 holds nothing: the row's guarded offset update decides,
 * and the assembly checks the bytes against the row's hash). FG_EIO if the
 * upload's bytes are missing (local: no data file) or the store fails. On
 * success *out is the caller's (store_blob_part_end). */
FG_MUST_CHECK fg_result store_blob_part_begin(store_blob *b, const char *id,
                                              store_blob_part **out /* out */,
                                              bool *busy /* out */, fg_reason *r);

/* The chunk goes at offset (the row's, read once the upload is held):
 * bytes stored past it are cut. FG_ECORRUPT when the stored bytes fall
 * short of offset (local: the data file is shorter), FG_EIO otherwise.
 * Called once, before the first write. */
FG_MUST_CHECK fg_result store_blob_part_seek(store_blob_part *p, int64_t offset,
                                             fg_reason *r);

/* Appends n bytes of the chunk. FG_EIO (a full disk). */
FG_MUST_CHECK fg_result store_blob_part_write(store_blob_part *p, const void *buf, size_t n,
                                              fg_reason *r);

/* Makes the chunk's bytes durable before the offset says so (local:
 * fdatasync; S3: the chunk's object is put). FG_EIO. */
FG_MUST_CHECK fg_result store_blob_part_flush(store_blob_part *p, fg_reason *r);

/* Releases the upload and frees p. keep false (the chunk was refused, or
 * its offset not recorded) after a successful seek: its bytes are cut
 * back to the seek offset
 * (local: truncate; S3: the chunk's object is deleted); the return value
 * is false if that cut failed (the next begin cuts again). Accepts NULL
 * (returns true). */
bool store_blob_part_end(store_blob_part *p, bool keep);

/* Puts upload id's first length bytes, in order, into one new local file
 * and its path into path, for store_blob_put_file (which consumes it) or
 * unlink. Local: a new link to the data file in <root>/tmp ("upload-"),
 * the upload itself stays whole. S3: the chunks from offset 0 up to
 * length, downloaded one after the other into the scratch directory; a
 * gap or a missing chunk is FG_ECORRUPT. sha256 (may be NULL): the hex the
 * upload's states give; S3 checks the assembled bytes against it
 * (FG_ECORRUPT on a mismatch). FG_ECORRUPT if the bytes stored are not
 * exactly length (local: the data file's size), FG_ELIMIT if cap is too
 * small, FG_EIO otherwise. */
FG_MUST_CHECK fg_result store_blob_parts_assemble(store_blob *b, const char *id, int64_t length,
                                                  const char *sha256, char *path /* out */,
                                                  size_t cap, fg_reason *r);

/* Removes every byte stored for upload id. Nothing stored is a success.
 * Best effort: FG_EIO if some could not be removed (the sweep tries
 * again). */
FG_MUST_CHECK fg_result store_blob_parts_remove(store_blob *b, const char *id, fg_reason *r);

/* Called once per upload that has bytes stored: its id and the last
 * modification of its bytes (unix seconds). Returning false stops. */
typedef bool (*store_blob_parts_each_fn)(void *ctx, const char *id, int64_t mtime);

/* Walks the uploads with bytes stored, in no particular order (S3: an id
 * may be reported once per chunk), for the sweep of bytes whose row is
 * gone. FG_EIO if the store cannot be listed. */
FG_MUST_CHECK fg_result store_blob_parts_each(store_blob *b, store_blob_parts_each_fn fn,
                                              void *ctx, fg_reason *r);

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
