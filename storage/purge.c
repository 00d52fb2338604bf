/* Retention purges, the storage side: checks, then the backend's ops. */
#include "storage/purge.h"

#include <string.h>

#include "storage/meta_impl.h"

fg_result store_purge_due(store_meta *m, const char *state, const char *cutoff,
                          size_t limit, char (*ids)[FG_MAX_ID + 1], size_t *n,
                          fg_reason *r)
{
    char when[STORE_TIME_MAX];
    fg_result rc;
    *n = 0;
    if (!state || (strcmp(state, STORE_STATE_CANCELLED) != 0 &&
                   strcmp(state, STORE_STATE_ACCEPTED) != 0))
        return fg_fail(r, FG_EUSAGE, "only cancelled or accepted orders are purged");
    if (!cutoff || !*cutoff)
        return fg_fail(r, FG_EUSAGE, "a purge needs a cutoff time");
    if ((rc = store_check_time(cutoff, when, "cutoff", r)))
        return rc;
    return m->ops->purge_due(m, state, when, limit, ids, n, r);
}

fg_result store_purge_files(store_meta *m, const char *order_id, const char *at, int64_t *n,
                            fg_reason *r)
{
    char when[STORE_TIME_MAX];
    int64_t count = 0;
    fg_result rc;
    if (m->tx != STORE_TX_WRITE)
        return fg_fail(r, FG_EUSAGE, "files are purged inside a write transaction");
    if ((rc = store_check_id(order_id, "order id", r)) ||
        (rc = store_check_time(at, when, "at", r)))
        return rc;
    rc = m->ops->purge_files(m, order_id, when, &count, r);
    if (n)
        *n = count;
    return rc;
}
