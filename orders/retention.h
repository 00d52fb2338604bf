/* Retention: what is purged, and when (DESIGN: order.cancelled keeps the
 * originals for the retention period, then purges; a dispute freezes).
 *
 *   cancelled  originals and previews are purged FILIGRANE_RETENTION_DAYS
 *              (default 30, 0 to 36500) after the order.cancelled entry of
 *              the audit trail: 0 purges at the next pass.
 *   accepted   kept, unless FILIGRANE_RETENTION_ACCEPTED_DAYS is set
 *              (0 to 36500): then purged that long after release.
 *   open, disputed  never purged: the state is checked again inside the
 *              transaction that purges, and only the two final states
 *              qualify (a disputed order is frozen until it is accepted
 *              or cancelled, and its clock starts then).
 *
 * A purge of one order is one transaction: its files are marked purged
 * (storage/purge.h: the rows stay, their blob references go) and one
 * `order.purged` audit entry lists them (file_id, name, size, commitment;
 * the plain sha256 too once the order was released). The blobs go when
 * the collector finds their count at zero past its grace period, so a
 * blob that another file (a new upload of the same bytes) references is
 * never removed. No HTTP here: the worker's maintenance loop and
 * `filigrane purge` both call orders_retention_purge. */
#ifndef ORDERS_RETENTION_H
#define ORDERS_RETENTION_H

#include <stdint.h>

#include "common/result.h"
#include "storage/meta.h"

#define ORDERS_RETENTION_DAYS_DEFAULT 30
#define ORDERS_RETENTION_DAYS_MAX 36500

typedef struct orders_retention {
    long long cancelled_days; /* 0 .. ORDERS_RETENTION_DAYS_MAX */
    long long accepted_days;  /* -1: accepted orders are kept */
} orders_retention;

/* Reads FILIGRANE_RETENTION_DAYS and FILIGRANE_RETENTION_ACCEPTED_DAYS
 * (whole days) over the defaults (30, kept). FG_EUSAGE naming the
 * variable for a bad value. */
FG_MUST_CHECK fg_result orders_retention_load(orders_retention *s /* out */, fg_reason *r);

/* Called for each order purged, after its commit. */
typedef void (*orders_purged_fn)(void *ctx, const char *order_id, const char *state,
                                 int64_t files);

typedef struct orders_purge_stats {
    int64_t orders; /* orders purged */
    int64_t files;  /* files purged */
} orders_purge_stats;

/* Purges every order due at `now` (unix seconds: the clock, passed in for
 * tests and `filigrane purge --now`). The records carry the real time.
 * m must not be in a transaction (FG_EUSAGE). Stops at the first error
 * (FG_EIO, or FG_EIO when an audit entry cannot be built: nothing of that
 * order is purged then); *out (may be NULL) counts what was purged, also
 * on error. */
FG_MUST_CHECK fg_result orders_retention_purge(store_meta *m, const orders_retention *s,
                                               int64_t now, orders_purged_fn fn, void *ctx,
                                               orders_purge_stats *out /* out */,
                                               fg_reason *r);

#endif
