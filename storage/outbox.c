/* The outbox interface: checks and defaults, then the backend's ops. */
#include "storage/jobs_impl.h"
#include "storage/meta_impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static fg_result check_type(const char *s, fg_reason *r)
{
    if (!s || !*s)
        return fg_fail(r, FG_EUSAGE, "event type is missing");
    size_t len = strnlen(s, FG_MAX_EVENT_TYPE + 1);
    if (len > FG_MAX_EVENT_TYPE)
        return fg_fail(r, FG_ELIMIT, "event type is longer than %d bytes",
                       FG_MAX_EVENT_TYPE);
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return fg_fail(r, FG_EUSAGE, "event type may only hold a-z 0-9 ._-");
    return FG_OK;
}

fg_result store_outbox_add(store_meta *m, const char *type,
                           const char *order_id, const char *payload_json,
                           int64_t *id_out, fg_reason *r)
{
    char now[STORE_TIME_MAX];
    int64_t id = 0;
    fg_result rc;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if ((rc = check_type(type, r)) ||
        (order_id && *order_id &&
         (rc = store_check_id(order_id, "order id", r))) ||
        (rc = store_check_text(payload_json, FG_MAX_EVENT_PAYLOAD, false,
                               "event payload", r)))
        return rc;
    store_time_now(now);
    /* One INSERT: atomic on its own, and part of the caller's transaction
     * when one is open on this handle. */
    if ((rc = m->ops->outbox_insert(m, type, order_id && *order_id ? order_id : NULL,
                                    payload_json, now, (int64_t)time(NULL), &id,
                                    r)))
        return rc;
    if (id_out)
        *id_out = id;
    return FG_OK;
}

fg_result store_outbox_due(store_meta *m, int64_t now, size_t limit,
                           store_outbox_list *out, fg_reason *r)
{
    out->items = NULL;
    out->n = 0;
    if (limit == 0 || limit > FG_MAX_LIST_ROWS)
        limit = FG_MAX_LIST_ROWS;
    return m->ops->outbox_due(m, now, limit, out, r);
}

fg_result store_outbox_oldest(store_meta *m, char created_at[STORE_TIME_MAX], fg_reason *r)
{
    created_at[0] = '\0';
    return m->ops->outbox_oldest(m, created_at, r);
}

fg_result store_outbox_claim(store_meta *m, int64_t now, int64_t lease_s,
                             size_t limit, store_outbox_list *out, fg_reason *r)
{
    fg_result rc;
    out->items = NULL;
    out->n = 0;
    if (m->tx != STORE_TX_NONE)
        return fg_fail(r, FG_EUSAGE, "an outbox claim takes its own transaction");
    if (lease_s < 1 || now < 0 || now > INT64_MAX - lease_s)
        return fg_fail(r, FG_EUSAGE, "an outbox claim needs a positive lease and time");
    if (limit == 0 || limit > FG_MAX_LIST_ROWS)
        limit = FG_MAX_LIST_ROWS;
    /* SQLite: BEGIN IMMEDIATE, so the pick and the move happen under the
     * write lock; PostgreSQL: the pick skips rows another claim holds. */
    if ((rc = store_meta_begin(m, r)))
        return rc;
    rc = m->ops->jobs->outbox_claim(m, now, now + lease_s, limit, out, r);
    if (rc == FG_OK && (rc = store_meta_commit(m, r)) == FG_OK)
        return FG_OK;
    store_meta_rollback(m);
    store_outbox_list_release(out);
    return rc;
}

fg_result store_outbox_release(store_meta *m, const store_outbox_event *e,
                               fg_reason *r)
{
    bool released = false;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (!e || e->id < 1)
        return fg_fail(r, FG_ENOTFOUND, "no such pending event");
    return m->ops->jobs->outbox_release(m, e->id, e->next_attempt_at, (int64_t)time(NULL),
                                  &released, r);
}

static fg_result update(store_meta *m, int64_t id, const char *state,
                        int64_t next, const char *error, const char *sent_at,
                        fg_reason *r)
{
    bool updated = false;
    fg_result rc;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (id < 1)
        return fg_fail(r, FG_ENOTFOUND, "no such pending event");
    if ((rc = m->ops->outbox_update(m, id, state, next, error, sent_at,
                                    &updated, r)))
        return rc;
    if (!updated)
        return fg_fail(r, FG_ENOTFOUND, "no such pending event");
    return FG_OK;
}

fg_result store_outbox_mark_sent(store_meta *m, int64_t id, fg_reason *r)
{
    char now[STORE_TIME_MAX];
    store_time_now(now);
    return update(m, id, STORE_OUTBOX_SENT, 0, NULL, now, r);
}

fg_result store_outbox_mark_failed(store_meta *m, int64_t id,
                                   const char *error, int64_t next_attempt_at,
                                   fg_reason *r)
{
    fg_result rc;
    if ((rc = store_check_text(error ? error : "", FG_REASON_MAX - 1, true,
                               "event error", r)))
        return rc;
    if (next_attempt_at < 0 && next_attempt_at != STORE_OUTBOX_GIVE_UP)
        return fg_fail(r, FG_EUSAGE, "next attempt time is negative");
    bool dead = next_attempt_at == STORE_OUTBOX_GIVE_UP;
    return update(m, id, dead ? STORE_OUTBOX_DEAD : STORE_OUTBOX_PENDING,
                  dead ? 0 : next_attempt_at, error ? error : "", NULL, r);
}

fg_result store_outbox_list_state(store_meta *m, const char *state, int64_t after,
                                  size_t limit, store_outbox_list *out, fg_reason *r)
{
    out->items = NULL;
    out->n = 0;
    if (!state || (strcmp(state, STORE_OUTBOX_PENDING) != 0 &&
                   strcmp(state, STORE_OUTBOX_SENT) != 0 && strcmp(state, STORE_OUTBOX_DEAD) != 0))
        return fg_fail(r, FG_EUSAGE, "event state must be pending, sent or dead");
    if (after < 0)
        return fg_fail(r, FG_EUSAGE, "an event id is positive");
    if (limit == 0 || limit > FG_MAX_LIST_ROWS)
        limit = FG_MAX_LIST_ROWS;
    return m->ops->outbox_list_state(m, state, after, limit, out, r);
}

fg_result store_outbox_replay(store_meta *m, int64_t id, fg_reason *r)
{
    bool updated = false;
    fg_result rc;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (id < 1)
        return fg_fail(r, FG_ENOTFOUND, "no such given-up event");
    if ((rc = m->ops->outbox_replay(m, id, (int64_t)time(NULL), &updated, r)))
        return rc;
    return updated ? FG_OK : fg_fail(r, FG_ENOTFOUND, "no such given-up event");
}

void store_outbox_list_release(store_outbox_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].payload);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}
