/* Uploads: multipart/form-data (RFC 7578), streamed to disk. (A raw body
 * needs no parsing: nginx wrote it to a file, which fcgi/h_deliveries.c
 * hashes and renames into the blob store.)
 *
 * The body is read through a fixed buffer (FG_UPLOAD_BUFFER_BYTES), never
 * held whole in memory nor mapped: every part with a filename goes to its
 * own new temp file (mkstemp, 0600) in a directory the caller names, its
 * SHA-256, salted commitment and size computed on the way; parts without a filename are small
 * form fields (the delivery `message`) kept in memory up to a limit.
 *
 * Errors: a size limit exceeded is FG_ELIMIT with a reason naming the limit
 * and its setting; a malformed body (bad or missing boundary, no closing
 * boundary, truncated, header block too long, missing Content-Disposition
 * or name) is FG_EUSAGE; a read or write failure FG_EIO. On any failure
 * every temp file made so far is removed and *out is empty. Reasons never
 * hold server paths. The client's filename is metadata only: it is never
 * part of a path. */
#ifndef FCGI_MULTIPART_H
#define FCGI_MULTIPART_H

#include <stddef.h>

#include "common/limits.h"
#include "common/result.h"

struct fcgi_upload_limits {
    long long max_file_bytes;     /* FILIGRANE_MAX_FILE_BYTES */
    int max_files;                /* FILIGRANE_MAX_FILES */
    long long max_delivery_bytes; /* FILIGRANE_MAX_DELIVERY_BYTES: whole body */
    size_t max_part_header_bytes;
    int max_parts;
    size_t max_field_bytes;
    /* Largest single read from the body; 0 means FG_UPLOAD_BUFFER_BYTES.
     * Tests set it to 1 so that every boundary straddles two reads. */
    size_t read_chunk;
};

/* Fills l with the defaults of common/limits.h. Can't fail. */
void fcgi_upload_limits_init(struct fcgi_upload_limits *l /* out */);

/* Where the body comes from: read is called like read(2) (bytes read, 0 at
 * the end, -1 on error); when read is NULL, read(2) on fd is used (the
 * temp file nginx wrote, given as REQUEST_BODY_FILE). */
struct fcgi_body {
    long long (*read)(void *ctx, void *buf, size_t n);
    void *ctx;
    int fd;
};

/* One stored file. All strings are heap-owned by the struct. */
struct fcgi_upload_file {
    char *field;        /* the part's name= */
    char *filename;     /* as sent (filename* preferred), UTF-8: invalid
                           sequences replaced by U+FFFD, control characters
                           by '_'; NULL when the part has none */
    char *content_type; /* the part's Content-Type as sent, or NULL */
    char *path;         /* the temp file; NULL once taken */
    long long size;
    char sha256[65];    /* lowercase hex */
    char salt[65];      /* 32 random bytes drawn for this file, hex */
    char commitment[65]; /* SHA-256(salt || content), hex, computed in the
                            pass that computes sha256 (common/commit.h) */
};

/* One form field (a part without a filename). */
struct fcgi_upload_field {
    char *name;
    char *value; /* len bytes, any content, NUL-terminated for convenience */
    size_t len;
};

struct fcgi_multipart {
    struct fcgi_upload_file *files;
    size_t nfiles;
    struct fcgi_upload_field *fields;
    size_t nfields;
};

/* Extracts the boundary from a Content-Type header value
 * ("multipart/form-data; boundary=XYZ", the boundary quoted or not, other
 * parameters allowed). FG_EUSAGE if the type is not multipart/form-data,
 * or the boundary is missing, empty, longer than
 * FG_UPLOAD_MAX_BOUNDARY_BYTES or has characters RFC 2046 forbids. */
FG_MUST_CHECK fg_result fcgi_multipart_boundary(
    const char *content_type,
    char out[FG_UPLOAD_MAX_BOUNDARY_BYTES + 1] /* out */, fg_reason *r);

/* Parses a multipart/form-data body. content_type is the request's
 * Content-Type; tmpdir an existing directory for the temp files (the blob
 * store's, so that committing a file is a rename). On FG_OK the caller owns
 * *out (release it with fcgi_multipart_release) and the files in it. The
 * temp files are not fsynced: the blob store does that before its rename.
 * A part with an empty filename and no content (an empty file input of an
 * HTML form) is dropped. Thread-safe. */
FG_MUST_CHECK fg_result fcgi_multipart_parse(struct fcgi_body *body,
                                             const char *content_type,
                                             const char *tmpdir,
                                             const struct fcgi_upload_limits *l,
                                             struct fcgi_multipart *out
                                             /* out */,
                                             fg_reason *r);

/* Frees everything in m and removes every temp file whose path was not
 * taken. Accepts NULL. Can't fail. */
void fcgi_multipart_release(struct fcgi_multipart *m);

/* Takes the temp file's path: the caller now owns the string (free()) and
 * the file; release will not remove it. Can't fail; NULL if already
 * taken. */
char *fcgi_upload_file_take_path(struct fcgi_upload_file *f);

/* Frees f's strings and removes its temp file unless the path was taken.
 * Accepts NULL. Can't fail. */
void fcgi_upload_file_release(struct fcgi_upload_file *f);

#endif
