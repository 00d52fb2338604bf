/* Retention purges, the storage side: which orders are due, and the
 * statement that purges an order's files. The policy (which states, how
 * long, the audit entry) is orders/retention.c.
 *
 * A purged file keeps its row, with purged_at set, so the order and its
 * audit still say what was delivered; the row no longer references its
 * original's or its preview's blob (the schema's triggers drop both
 * counts in the purging statement, storage/blob_refs.h), and the
 * collector removes a blob whose count is zero after its grace period.
 * A blob another file still references (the same bytes delivered again,
 * in any order) keeps its count and is never removed. */
#ifndef STORE_PURGE_H
#define STORE_PURGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/result.h"
#include "storage/meta.h"

/* Lists up to `limit` orders (ids into ids[limit]) that still have
 * unpurged files and were closed at or before `cutoff` (RFC 3339, as
 * stored): state "cancelled" with its order.cancelled audit entry at or
 * before cutoff, or (state "accepted") released at or before cutoff. *n
 * gets how many. FG_EUSAGE for another state, FG_EIO if the store fails. */
FG_MUST_CHECK fg_result store_purge_due(store_meta *m, const char *state,
                                        const char *cutoff, size_t limit,
                                        char (*ids)[FG_MAX_ID + 1] /* out */,
                                        size_t *n /* out */, fg_reason *r);

/* Marks every unpurged file of order_id purged at `at` (NULL: now), inside
 * the caller's write transaction (FG_EUSAGE outside one). *n (may be
 * NULL) gets how many files. */
FG_MUST_CHECK fg_result store_purge_files(store_meta *m, const char *order_id,
                                          const char *at, int64_t *n /* out */,
                                          fg_reason *r);

#endif
