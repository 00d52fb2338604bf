/* Making a file's preview: the sandboxed stamper on the stored original,
 * the preview stored as a blob, the file row and the audit trail updated. */
#ifndef FCGI_PREVIEWS_H
#define FCGI_PREVIEWS_H

#include "fcgi/worker.h"

/* Makes the preview of file f (its row exists, preview "processing") for
 * order o and records the outcome: "ready" with the preview's blob, or
 * "failed" / "withheld" with the stamper's reason. Never fails the
 * caller: an error is this file's state, not the request's. */
void fcgi_preview_make(fcgi_ctx *ctx, const store_order *o, const store_file *f,
                       const char *req_id);

#endif
