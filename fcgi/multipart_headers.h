/* Internal to the upload parser (fcgi/multipart.c): the header values of
 * a multipart/form-data body. fcgi_multipart_boundary, declared in
 * fcgi/multipart.h, lives here too. */
#ifndef FCGI_MULTIPART_HEADERS_H
#define FCGI_MULTIPART_HEADERS_H

#include <stddef.h>

#include "common/result.h"
#include "fcgi/multipart.h"

#define MALFORMED(...)                                                       \
    fg_fail(r, FG_EUSAGE, "malformed multipart body: " __VA_ARGS__)

/* What one part's headers say. Names are cleaned: invalid UTF-8 replaced
 * by U+FFFD, control characters by '_', at most FG_UPLOAD_MAX_NAME_BYTES
 * (longer is FG_ELIMIT). */
struct fcgi_part_headers {
    char *name;         /* Content-Disposition name= (required) */
    char *filename;     /* filename* (UTF-8 or ISO-8859-1) or filename= */
    char *content_type; /* as sent, or NULL */
    int has_filename;   /* a file part, even with an empty filename */
};

/* Parses the header block h[0..n) of one part (lines separated by CRLF,
 * without the blank line) into *pt, which must start zeroed. FG_EUSAGE if
 * malformed (no Content-Disposition, not form-data, no name, repeated
 * headers or parameters, folding, bare CR/LF, NUL, bad filename*),
 * FG_ELIMIT for an over-long name, FG_EIO out of memory. Release *pt with
 * fcgi_part_headers_release in every case. */
FG_MUST_CHECK fg_result fcgi_part_headers_parse(const char *h, size_t n,
                                                struct fcgi_part_headers *pt,
                                                fg_reason *r);

/* Frees and zeroes *pt. Can't fail. */
void fcgi_part_headers_release(struct fcgi_part_headers *pt);

#endif
