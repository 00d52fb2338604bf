/* The admin's view of outgoing events the outbox gave up on (after the
 * whole retry schedule, fcgi/outbox.c): GET /v1/admin/events lists them,
 * POST /v1/admin/events/{event}/replay puts one back to be sent, with its
 * own id (the receiver dedupes by webhook-id, so a replay of an event it
 * did process after all has no second effect). Admin token only. A replay
 * is an audit entry of the event's order (the service chain for an event
 * of none). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/access.h"
#include "fcgi/handlers.h"
#include "fcgi/log.h"
#include "fcgi/worker.h"
#include "storage/audit.h"

static bool admin_only(fcgi_req *req, struct fcgi_claims *who)
{
    if (!fcgi_authenticate(req, who))
        return false;
    if (who->role == FCGI_ROLE_ADMIN)
        return true;
    fcgi_send_error(req, FG_EFORBIDDEN, "not_admin", "only the admin token may do this");
    return false;
}

/* The API's name of an outbox state, and back. */
static const char *api_state(const char *store_state)
{
    return strcmp(store_state, STORE_OUTBOX_DEAD) == 0 ? "given_up" : store_state;
}

static const char *store_state(const char *api)
{
    if (strcmp(api, "given_up") == 0)
        return STORE_OUTBOX_DEAD;
    if (strcmp(api, "pending") == 0)
        return STORE_OUTBOX_PENDING;
    if (strcmp(api, "sent") == 0)
        return STORE_OUTBOX_SENT;
    return NULL;
}

/* A whole positive decimal number, or -1. */
static int64_t number(const char *s)
{
    int64_t v = 0;
    if (!s || !*s || strlen(s) > 18)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static json_t *event_json(const store_outbox_event *e)
{
    char wid[32];
    snprintf(wid, sizeof wid, "evt_%" PRId64, e->id);
    return json_pack("{s:I, s:s, s:s, s:s?, s:s, s:i, s:s?, s:s}", "id", (json_int_t)e->id,
                     "webhook_id", wid, "type", e->type, "order_id",
                     e->order_id[0] ? e->order_id : NULL, "state", api_state(e->state),
                     "attempts", e->attempts, "last_error",
                     e->last_error[0] ? e->last_error : NULL, "created_at", e->created_at);
}

void fcgi_h_admin_events(fcgi_req *req)
{
    struct fcgi_claims who;
    store_outbox_list l = {0};
    fg_reason r = {{0}};
    char state[16] = "given_up", after_s[24] = "0", limit_s[24] = "";
    int64_t after = 0, limit = FG_ADMIN_EVENTS_PAGE;
    if (!admin_only(req, &who))
        return;
    if (!fcgi_query(req, "state", state, sizeof state))
        snprintf(state, sizeof state, "%s", "given_up");
    if (!store_state(state)) {
        fcgi_send_error(req, FG_EUSAGE, "bad_state", "state must be given_up, pending or sent");
        return;
    }
    if ((fcgi_query(req, "after", after_s, sizeof after_s) && (after = number(after_s)) < 0) ||
        (fcgi_query(req, "limit", limit_s, sizeof limit_s) &&
         ((limit = number(limit_s)) < 1 || limit > FG_ADMIN_EVENTS_PAGE_MAX))) {
        char msg[96];
        snprintf(msg, sizeof msg, "after is an event id, limit 1..%d", FG_ADMIN_EVENTS_PAGE_MAX);
        fcgi_send_error(req, FG_EUSAGE, NULL, msg);
        return;
    }
    /* One more than asked: whether there is a next page. */
    fg_result rc = store_outbox_list_state(req->ctx->meta, store_state(state), after,
                                           (size_t)limit + 1, &l, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    json_t *events = json_array();
    size_t shown = l.n > (size_t)limit ? (size_t)limit : l.n;
    for (size_t i = 0; events && i < shown; i++)
        json_array_append_new(events, event_json(&l.items[i]));
    json_t *doc = json_pack("{s:o}", "events", events);
    if (doc && l.n > (size_t)limit)
        json_object_set_new(doc, "next", json_integer((json_int_t)l.items[shown - 1].id));
    store_outbox_list_release(&l);
    fcgi_send_json(req, 200, doc);
}

void fcgi_h_admin_event_replay(fcgi_req *req)
{
    struct fcgi_claims who;
    store_outbox_list l = {0};
    fg_reason r = {{0}};
    char actor[FG_MAX_ACTOR + 1], detail[128];
    store_meta *m = req->ctx->meta;
    if (!admin_only(req, &who))
        return;
    int64_t id = number(req->params[0]);
    if (id < 1) {
        fcgi_send_error(req, FG_ENOTFOUND, NULL, "no such given-up event");
        return;
    }
    fcgi_actor(&who, actor, sizeof actor);
    fg_result rc = store_meta_begin(m, &r);
    if (rc == FG_OK)
        rc = store_outbox_list_state(m, STORE_OUTBOX_DEAD, id - 1, 1, &l, &r);
    if (rc == FG_OK && (l.n != 1 || l.items[0].id != id))
        rc = fg_fail(&r, FG_ENOTFOUND, "no such given-up event");
    if (rc == FG_OK)
        rc = store_outbox_replay(m, id, &r);
    if (rc == FG_OK) {
        snprintf(detail, sizeof detail, "{\"attempts\":%d,\"event\":%" PRId64 ",\"type\":\"%s\"}",
                 l.items[0].attempts, id, l.items[0].type);
        rc = store_audit_append(m, l.items[0].order_id, actor, "event.replayed", detail, NULL,
                                NULL, &r);
    }
    if (rc == FG_OK)
        rc = store_meta_commit(m, &r);
    if (rc != FG_OK) {
        store_meta_rollback(m);
        store_outbox_list_release(&l);
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    fcgi_log(FCGI_LOG_INFO, "req=%s event=evt_%" PRId64 " replayed by %s", req->id, id, actor);
    json_t *doc = event_json(&l.items[0]);
    if (doc) {
        json_object_set_new(doc, "state", json_string("pending"));
        json_object_set_new(doc, "attempts", json_integer(0));
    }
    store_outbox_list_release(&l);
    fcgi_send_json(req, 200, doc);
}
