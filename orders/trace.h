/* Tracing a suspect file back to the preview it came from (the
 * application layer: no HTTP). The file is decoded only in the sandboxed
 * stamper (`stamp --trace`, watermark/trace.h), which reports the
 * payloads it sees; this side looks them up in the store
 * (storage/trace.h). Used by `filigrane trace` and POST /v1/trace. */
#ifndef ORDERS_TRACE_H
#define ORDERS_TRACE_H

#include <stdbool.h>

#include "common/result.h"
#include "storage/meta.h"
#include "storage/trace.h"
#include "watermark/sandbox.h"

typedef struct orders_trace_match {
    store_trace_mark mark; /* the order, buyer and file named */
    double z;              /* the sync peak, standard deviations */
    double scale;          /* the suspect's size over the preview's */
    int flipped;           /* weak bits the lookup had to flip */
} orders_trace_match;

/* Decodes the file at in with `cli stamp --trace` in the sandbox (limits
 * l, a working directory made in scratch and removed after), under the
 * pattern key derived from mark_key, and looks each candidate payload up
 * in m. *found says whether one named a preview (out filled), strongest
 * candidate first. Returns the child's error for a file it cannot read
 * (FG_EUNSUPPORTED, FG_ECORRUPT, FG_ELIMIT, FG_ETIMEOUT, FG_ECRASH),
 * FG_ECORRUPT for a malformed report, FG_EIO for the store or scratch. */
FG_MUST_CHECK fg_result orders_trace_file(const char *cli, const char *mark_key, const char *in,
                                          const char *scratch, const wm_sandbox_limits *l,
                                          store_meta *m, orders_trace_match *out /* out */,
                                          bool *found /* out */, fg_reason *r);

#endif
