/* An S3 client: the few object operations the blob store needs, over
 * libcurl, against AWS S3 or any S3-compatible server (MinIO, Ceph RGW,
 * Garage, s3rver).
 *
 * Requests are signed with AWS Signature Version 4 by libcurl
 * (CURLOPT_AWS_SIGV4, "aws:amz:<region>:s3"); every request carries
 * x-amz-content-sha256, the SHA-256 of its body (for a PUT of a blob, the
 * hash the caller already has, so a large file is not read twice), and
 * that header is signed, so a server that checks it refuses bytes that were
 * changed on the way. Presigned GET URLs (the downloads nginx fetches for a
 * buyer) are written by this module with OpenSSL (storage/s3_sign.c), not
 * libcurl, because libcurl only signs requests it sends itself.
 *
 * Errors: FG_ENOTFOUND for a missing object or bucket (404, NoSuchKey,
 * NoSuchBucket), FG_EAUTH for refused credentials (403: InvalidAccessKeyId,
 * SignatureDoesNotMatch, AccessDenied, ...), FG_EIO for everything else (an
 * unreachable endpoint, a 5xx, a malformed answer). The reason names the
 * operation, the key, the HTTP status and S3's <Code> from the error body,
 * e.g. "s3 PUT sha256/ab..: 403 SignatureDoesNotMatch"; it never holds the
 * secret key, a signature or a presigned URL.
 *
 * Threads: an s3_client holds no mutable state but a connection cache
 * shared under a lock; one client may be used by every thread at once.
 * Each call is one blocking transfer (or a few, for multipart), with a
 * connect timeout and a low-speed limit, so a dead server fails a call
 * instead of hanging a worker thread. */
#ifndef STORE_S3_H
#define STORE_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/result.h"

/* Longest object key, in bytes (S3's own limit). */
#define S3_KEY_MAX 1024

/* Part size for multipart uploads: a file of this size or more is sent in
 * parts of this size (the last part smaller). S3 allows 5 MiB to 5 GiB per
 * part and at most 10000 parts; 64 MiB keeps a 5 GB delivery to 80 parts
 * and the part that is retried on a failure small. Memory does not grow
 * with it: parts are streamed from the file. (FILIGRANE_S3_PART_SIZE) */
#define S3_PART_SIZE_DEFAULT (64LL * 1024 * 1024)
#define S3_PART_SIZE_MIN (5LL * 1024 * 1024)
#define S3_PART_SIZE_MAX (5LL * 1024 * 1024 * 1024)
#define S3_PARTS_MAX 10000

/* Longest presigned URL written by s3_presign_get, with its NUL. */
#define S3_URL_MAX 4096

typedef enum s3_addressing {
    S3_ADDRESSING_PATH = 0, /* http://host:port/bucket/key (default) */
    S3_ADDRESSING_VIRTUAL   /* http://bucket.host:port/key */
} s3_addressing;

/* What a client needs. Every string is copied by s3_client_new. */
typedef struct s3_config {
    const char *endpoint;   /* "http://127.0.0.1:9000", "https://s3.eu-west-3.amazonaws.com";
                               scheme, host, optional port, no path */
    const char *bucket;     /* DNS-compatible for virtual addressing */
    const char *region;     /* NULL or "": "us-east-1" */
    const char *access_key_id;
    const char *secret_access_key;
    s3_addressing addressing;
    int64_t part_size;      /* 0: S3_PART_SIZE_DEFAULT; else within
                               [S3_PART_SIZE_MIN, S3_PART_SIZE_MAX] */
} s3_config;

typedef struct s3_client s3_client;

/* Checks cfg (an http or https endpoint without path, query or user
 * info; a non-empty bucket, key id and secret; a part size in range) and
 * makes a client. It sends nothing: s3_head_bucket checks the server.
 * FG_EUSAGE for a bad setting (the reason names it), FG_EIO if libcurl
 * cannot be set up. On success *out is the caller's (s3_client_free). */
FG_MUST_CHECK fg_result s3_client_new(const s3_config *cfg,
                                      s3_client **out /* out */, fg_reason *r);

/* Frees the client and wipes its copy of the secret. Accepts NULL. */
void s3_client_free(s3_client *c);

/* The part size in use. Can't fail. */
int64_t s3_client_part_size(const s3_client *c);

/* HEAD on the bucket: whether the endpoint answers, the credentials are
 * accepted and the bucket exists. FG_ENOTFOUND (NoSuchBucket), FG_EAUTH,
 * FG_EIO (unreachable) with a reason naming S3's code or libcurl's error. */
FG_MUST_CHECK fg_result s3_head_bucket(s3_client *c, fg_reason *r);

/* HEAD on key: *exists, and *size (may be NULL) when it does. A missing
 * object is a success with *exists false. */
FG_MUST_CHECK fg_result s3_head(s3_client *c, const char *key,
                                bool *exists /* out */,
                                int64_t *size /* out */, fg_reason *r);

/* Uploads the regular file at path as key. sha256_hex: the file's SHA-256
 * (64 lowercase hex) if the caller has it, or NULL to have it computed.
 * Below the part size: one PUT whose x-amz-content-sha256 is that hash.
 * At or above it: a multipart upload, each part streamed from the file
 * (read once to hash the part, once to send it; memory stays a few
 * buffers whatever the size), and aborted on any failure so no parts are
 * left billed on the server. The file is neither changed nor removed.
 * FG_EUSAGE for a path that is not a regular file, FG_ELIMIT for a file
 * that needs more than S3_PARTS_MAX parts. */
FG_MUST_CHECK fg_result s3_put_file(s3_client *c, const char *key,
                                    const char *path, const char *sha256_hex,
                                    fg_reason *r);

/* Uploads len bytes from buf as key (small objects: tus parts, tests). */
FG_MUST_CHECK fg_result s3_put_mem(s3_client *c, const char *key,
                                   const void *buf, size_t len, fg_reason *r);

/* Downloads key and appends its bytes to fd (at its current offset).
 * *size (may be NULL) gets the number of bytes written. FG_ENOTFOUND if
 * the object is missing; on any failure some bytes may have been written:
 * the caller discards the file. */
FG_MUST_CHECK fg_result s3_get_fd(s3_client *c, const char *key, int fd,
                                  int64_t *size /* out */, fg_reason *r);

/* Downloads key into a new file at path (mode 0600, O_EXCL: path must not
 * exist), fsynced. On failure path does not exist. */
FG_MUST_CHECK fg_result s3_get_file(s3_client *c, const char *key,
                                    const char *path, fg_reason *r);

/* Deletes key. A missing key is a success (S3 answers 204 either way). */
FG_MUST_CHECK fg_result s3_delete(s3_client *c, const char *key, fg_reason *r);

/* Called once per listed object, in key order: its key, size and last
 * modification (unix seconds). Returning false stops the listing. */
typedef bool (*s3_list_fn)(void *ctx, const char *key, int64_t size,
                           int64_t mtime);

/* Lists every object whose key starts with prefix ("" for all), following
 * ListObjectsV2's continuation tokens page by page (1000 keys a page), so
 * memory holds one page at most. FG_EIO on a malformed answer. */
FG_MUST_CHECK fg_result s3_list(s3_client *c, const char *prefix,
                                s3_list_fn fn, void *ctx, fg_reason *r);

/* A query parameter for s3_presign_get, signed with the URL (e.g.
 * response-content-disposition, response-content-type). name and value
 * are raw; they are URI-encoded here. */
typedef struct s3_param {
    const char *name;
    const char *value;
} s3_param;

/* Writes into out a presigned GET URL for key, valid expires seconds
 * (1..604800) from now (unix seconds; the caller passes time(NULL), tests
 * a fixed time), with params (n of them, may be 0) signed into it. The URL
 * is absolute (endpoint, path or virtual-host form as configured); only
 * the host header is signed, so whoever fetches it must send the same
 * Host. Pure computation: nothing is sent. FG_EUSAGE for a bad key or
 * expiry, FG_ELIMIT if cap is too small. */
FG_MUST_CHECK fg_result s3_presign_get(const s3_client *c, const char *key,
                                       long expires, time_t now,
                                       const s3_param *params, size_t n,
                                       char *out /* out */, size_t cap,
                                       fg_reason *r);

#endif
