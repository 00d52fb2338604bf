/* The S3 client's insides, shared by storage/s3.c (the client, requests,
 * errors), storage/s3_put.c (single and multipart uploads) and
 * storage/s3_list.c. Private to those files. */
#ifndef STORE_S3_IMPL_H
#define STORE_S3_IMPL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/s3.h"

/* Longest answer body kept in memory: a listing page of 1000 keys is about
 * 300 KB, an error a few hundred bytes. A longer one is malformed. */
#define S3_BODY_MAX (4 * 1024 * 1024)
/* Longest ETag and upload id we keep (AWS's are 34 and ~100 bytes). */
#define S3_ETAG_MAX 128
#define S3_UPLOAD_ID_MAX 1024

/* SHA-256 of the empty body. */
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3_client {
    char *scheme;  /* "http" or "https" */
    char *host;    /* "127.0.0.1:9000", default port left out */
    char *bucket;
    char *region;
    char *access_key_id;
    char *secret;
    char *sigv4;   /* "aws:amz:<region>:s3" */
    s3_addressing addressing;
    int64_t part_size;
};

/* One request and its answer. Set what applies, zero the rest. */
typedef struct s3_req {
    const char *method;  /* GET HEAD PUT POST DELETE */
    const char *key;     /* NULL: the bucket itself */
    const char *query;   /* canonical (sorted, encoded), or NULL */
    const char *payload_sha256; /* NULL: the empty body's */
    const char *content_type;   /* NULL: none sent */
    /* body: from a file (in_fd >= 0, in_off, in_len) or memory */
    int in_fd;
    int64_t in_off, in_len;
    const void *in_mem;
    size_t in_mem_len;
    /* answer body: to out_fd when >= 0 and the status is 2xx, else kept */
    int out_fd;

    /* filled by s3_perform */
    long status;
    int64_t out_written;
    int64_t content_length; /* -1 when not given */
    char etag[S3_ETAG_MAX];
    char *body;             /* malloc'd, NUL-terminated; s3_req_release */
    size_t body_len;
    /* private to s3.c */
    int64_t in_pos;
    size_t body_cap;
    bool body_toobig;
    int local_errno;
    const char *local_what;
} s3_req;

/* Starts a request: zeroes req, no body, no output file. Can't fail. */
void s3_req_init(s3_req *req, const char *method, const char *key,
                 const char *query);

/* Frees what s3_perform kept. Accepts a request never performed. */
void s3_req_release(s3_req *req);

/* Sends req with h (a handle the caller made with curl_easy_init and
 * reuses for the requests of one call, so they share a connection) and
 * waits for the answer. FG_OK for a 2xx answer, else the error with S3's
 * code (storage/s3.h's mapping). */
FG_MUST_CHECK fg_result s3_perform(s3_client *c, CURL *h, s3_req *req,
                                   fg_reason *r);

/* A CURL handle for one call. FG_EIO if libcurl cannot make one. */
FG_MUST_CHECK fg_result s3_handle_new(CURL **h /* out */, fg_reason *r);

/* Checks an object key: 1..S3_KEY_MAX bytes, no control characters.
 * FG_EUSAGE otherwise. */
FG_MUST_CHECK fg_result s3_key_check(const char *key, fg_reason *r);

#endif
