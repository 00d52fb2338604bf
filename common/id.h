/* One rule for identifiers: orders, users (a token's sub), files, webhook
 * ids, links (DESIGN.md, Settled details).
 *
 * An id is 1 to FG_MAX_ID bytes of [A-Za-z0-9._~:@+-] and does not start
 * with '.'. The alphabet is RFC 3986's unreserved set plus ':', '@' and
 * '+', all of which may stand unescaped in a URL path segment, so an id is
 * its own path segment; no '/', '%', space or control character can ride
 * along into a path, a log line or a file name, and no id is "." or "..".
 * The router, the store, the JWT check and the webhook check all call
 * fg_id_check, so an id the store took is an id every URL accepts. */
#ifndef FG_ID_H
#define FG_ID_H

#include <stdbool.h>
#include <stddef.h>

#include "common/limits.h"

/* Why an id is refused; FG_ID_OK when it is not. */
typedef enum fg_id_fault {
    FG_ID_OK = 0,
    FG_ID_EMPTY,       /* zero bytes (or a NULL pointer) */
    FG_ID_TOO_LONG,    /* more than FG_MAX_ID bytes */
    FG_ID_LEADING_DOT, /* starts with '.' */
    FG_ID_BAD_CHAR,    /* a byte outside [A-Za-z0-9._~:@+-], NUL included */
} fg_id_fault;

/* Checks the n bytes at s (no terminator needed; a NUL among them is a bad
 * character). Reads at most n bytes. This function can't fail. */
fg_id_fault fg_id_check(const char *s, size_t n);

/* fg_id_check on a NUL-terminated string, reading at most FG_MAX_ID + 1
 * bytes of it. True iff s is an id. NULL is not. This function can't fail. */
bool fg_id_valid(const char *s);

/* A lowercase phrase for a fault, to follow "<what> ": "is empty",
 * "is longer than 128 bytes", ... This function can't fail. */
const char *fg_id_fault_text(fg_id_fault f);

#endif
