/* Content-Disposition for downloads (RFC 6266 with RFC 5987's filename*).
 *
 * The stored filename is what the seller's client sent: any bytes. The
 * header carries it twice: an ASCII fallback in filename="..." for old
 * clients, and the exact UTF-8 name percent-encoded in filename*. No
 * control character (CR and LF above all) ever reaches the header, so a
 * filename cannot inject a header. */
#ifndef FCGI_DISPOSITION_H
#define FCGI_DISPOSITION_H

#include "common/limits.h"

enum fcgi_disposition {
    FCGI_DISPOSITION_ATTACHMENT, /* originals and archives: save as */
    FCGI_DISPOSITION_INLINE,     /* previews: shown in the browser */
};

/* Room for the longest value: the type, the fallback (one byte per
 * character) and filename* (three bytes per byte of the cut name). */
#define FCGI_DISPOSITION_BYTES (64 + 4 * FG_DISPOSITION_MAX_NAME_BYTES)

/* Writes the header value for name (may be NULL or empty: then the value
 * is the bare type) into out:
 *
 *   attachment; filename="logo final.png"; filename*=UTF-8''logo%20final.png
 *
 * The name is first made safe: invalid UTF-8 and bidi controls
 * (fg_utf8_is_bidi_control) replaced by U+FFFD, control characters dropped, and cut at a character boundary to at most
 * FG_DISPOSITION_MAX_NAME_BYTES bytes. The fallback then replaces each
 * non-ASCII character and each of / % by '_' and drops '"' and '\\'.
 * Can't fail. */
void fcgi_disposition(enum fcgi_disposition kind, const char *name,
                      char out[FCGI_DISPOSITION_BYTES] /* out */);

#endif
