/* Traceable marks: which order, buyer and file each preview's payload
 * names (watermark/trace_code.h). A payload is opaque (a keyed MAC): this
 * table is the only way from one back to the order that leaked. */
#ifndef STORE_TRACE_H
#define STORE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/meta.h"

typedef struct store_trace_mark {
    char order_id[FG_MAX_ID + 1];
    char buyer_id[FG_MAX_ID + 1];
    char file_id[FG_MAX_ID + 1];
    char created_at[STORE_TIME_MAX];
} store_trace_mark;

/* Records that payload names (order, buyer, file), created now. Recording
 * the same triple again changes nothing (a rebuilt preview carries the
 * same payload); the same payload for another triple (a 64-bit
 * collision, about one in 2^64 / rows) is FG_ESTATE, so a payload always
 * names one triple. Ids are checked (common/id.h): FG_EUSAGE. FG_EIO
 * when the store does not answer. */
FG_MUST_CHECK fg_result store_trace_put(store_meta *m, uint64_t payload, const char *order_id,
                                        const char *buyer_id, const char *file_id,
                                        fg_reason *r);

/* Looks payload up: *found false when no preview carries it. out is
 * filled when found. FG_EIO when the store does not answer. */
FG_MUST_CHECK fg_result store_trace_get(store_meta *m, uint64_t payload,
                                        store_trace_mark *out /* out */, bool *found /* out */,
                                        fg_reason *r);

#endif
