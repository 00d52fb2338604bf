/* Traceable marks: checks, then the backend's ops. */
#include "storage/trace.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/id.h"
#include "storage/meta_impl.h"

/* Payloads are stored as 16 lowercase hex digits: the same text in both
 * engines, and no signed 64-bit column to misread. */
static void payload_hex(uint64_t p, char hex[17])
{
    snprintf(hex, 17, "%016" PRIx64, p);
}

fg_result store_trace_put(store_meta *m, uint64_t payload, const char *order_id,
                          const char *buyer_id, const char *file_id, fg_reason *r)
{
    char hex[17], now[STORE_TIME_MAX];
    store_trace_mark had;
    bool found = false;
    const char *ids[] = {order_id, buyer_id, file_id};
    for (int i = 0; i < 3; i++)
        if (!ids[i] || fg_id_check(ids[i], strlen(ids[i])) != FG_ID_OK)
            return fg_fail(r, FG_EUSAGE, "a trace names a malformed id");
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    payload_hex(payload, hex);
    store_time_now(now);
    fg_result rc = m->ops->trace_put(m, hex, order_id, buyer_id, file_id, now, r);
    if (rc != FG_OK)
        return rc;
    /* The insert keeps a row already there: it must be this triple's. */
    if ((rc = m->ops->trace_get(m, hex, &had, &found, r)) != FG_OK)
        return rc;
    if (!found || strcmp(had.order_id, order_id) != 0 || strcmp(had.buyer_id, buyer_id) != 0 ||
        strcmp(had.file_id, file_id) != 0)
        return fg_fail(r, FG_ESTATE, "trace payload %s names another preview", hex);
    return FG_OK;
}

fg_result store_trace_get(store_meta *m, uint64_t payload, store_trace_mark *out, bool *found,
                          fg_reason *r)
{
    char hex[17];
    payload_hex(payload, hex);
    *found = false;
    return m->ops->trace_get(m, hex, out, found, r);
}
