/* AWS Signature Version 4, the parts filigrane computes itself (private
 * to storage/s3*.c and its tests).
 *
 * libcurl signs the requests it sends (CURLOPT_AWS_SIGV4); this file signs
 * what libcurl cannot: presigned GET URLs, which nginx fetches later on a
 * buyer's behalf. It is written against AWS's documentation ("Create a
 * signed AWS API request", "Authenticating Requests: Using Query
 * Parameters") and checked against its published example
 * (tests/unit/test_s3_sign.c); the same canonical-request code checks, in
 * the tests, the signatures libcurl puts on requests.
 *
 *   canonical request = METHOD \n URI \n QUERY \n HEADERS \n SIGNED \n PAYLOAD
 *   string to sign    = "AWS4-HMAC-SHA256" \n AMZDATE \n SCOPE \n hex(SHA256(CR))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region),
 *                            service), "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 *
 * Every function here is pure computation and thread-safe. */
#ifndef STORE_S3_SIGN_H
#define STORE_S3_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/result.h"
#include "storage/s3.h"

/* "20130524T000000Z" and its NUL. */
#define S3_AMZ_DATE_MAX 17

/* URI-encodes src as SigV4 wants it: A-Z a-z 0-9 - _ . ~ kept, every other
 * byte %XX with uppercase hex; '/' kept when keep_slash (object keys in a
 * path), encoded otherwise (query names and values). Appends to out at
 * *len (NUL-terminated). FG_ELIMIT if cap is too small. */
FG_MUST_CHECK fg_result s3_uri_encode(const char *src, bool keep_slash,
                                      char *out, size_t cap, size_t *len,
                                      fg_reason *r);

/* The basic ISO 8601 form of t in UTC, "YYYYMMDDTHHMMSSZ". FG_EUSAGE for a
 * time gmtime_r cannot convert or outside years 1970..9999. */
FG_MUST_CHECK fg_result s3_amz_date(time_t t, char out[S3_AMZ_DATE_MAX] /* out */,
                                    fg_reason *r);

/* One header of a canonical request: name lowercase, value trimmed. */
typedef struct s3_header {
    const char *name;
    const char *value;
} s3_header;

/* What a signature covers. Everything is given canonical already: path
 * URI-encoded, query sorted and encoded ("" for none), headers sorted by
 * name, payload the hex SHA-256 of the body or "UNSIGNED-PAYLOAD". */
typedef struct s3_sign_input {
    const char *method;
    const char *path;
    const char *query;
    const s3_header *headers;
    size_t nheaders;
    const char *payload;
    const char *amz_date; /* S3_AMZ_DATE_MAX form */
    const char *region;
    const char *service;  /* "s3" */
    const char *secret;
} s3_sign_input;

/* The hex signature (64 digits and a NUL) of in. FG_ELIMIT if the
 * canonical request is longer than its buffer (S3_URL_MAX + headers),
 * FG_EIO if OpenSSL fails. */
FG_MUST_CHECK fg_result s3_sign(const s3_sign_input *in, char out[65] /* out */,
                                fg_reason *r);

/* A presigned GET, from its parts (s3_presign_get fills them from the
 * client): scheme "http" or "https", host as sent in the Host header
 * (with :port when not the scheme's default), path URI-encoded. */
typedef struct s3_presign_input {
    const char *scheme;
    const char *host;
    const char *path;
    const char *region;
    const char *access_key_id;
    const char *secret;
    time_t now;
    long expires;
    const s3_param *params;
    size_t nparams;
} s3_presign_input;

/* Writes "scheme://host/path?query&X-Amz-Signature=..." into out.
 * FG_EUSAGE for expires outside 1..604800 or more than S3_PRESIGN_PARAMS_MAX
 * params, FG_ELIMIT if cap is too small. */
#define S3_PRESIGN_PARAMS_MAX 8
FG_MUST_CHECK fg_result s3_presign(const s3_presign_input *in, char *out /* out */,
                                   size_t cap, fg_reason *r);

/* The hex SHA-256 of len bytes. Can't fail (an OpenSSL failure aborts:
 * it means the library is broken, not the input). */
void s3_sha256_hex(const void *buf, size_t len, char out[65] /* out */);

#endif
