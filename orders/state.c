#include "orders/state.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "storage/audit.h"

static const char *const event_types[] = {
    [ORD_EV_CREATED] = "order.created",
    [ORD_EV_ACCEPTED] = "order.accepted",
    [ORD_EV_CANCELLED] = "order.cancelled",
    [ORD_EV_DISPUTED] = "order.disputed",
};

/* next[ev][from]: the state an event leads to, or R (refused). Columns:
 * open, disputed, accepted, cancelled, unknown. Accepted and cancelled
 * are final; a dispute ends only in one of them. A repeat is recognised
 * by next == from (see ord_transition). */
#define R ORD_STATE_COUNT
static const ord_state next[ORD_EV_COUNT][ORD_STATE_COUNT] = {
    [ORD_EV_CREATED] = {ORD_OPEN, ORD_DISPUTED, ORD_ACCEPTED, ORD_CANCELLED, R},
    [ORD_EV_ACCEPTED] = {ORD_ACCEPTED, ORD_ACCEPTED, ORD_ACCEPTED, R, R},
    [ORD_EV_CANCELLED] = {ORD_CANCELLED, ORD_CANCELLED, R, ORD_CANCELLED, R},
    [ORD_EV_DISPUTED] = {ORD_DISPUTED, ORD_DISPUTED, R, R, R},
    [ORD_EV_UNKNOWN] = {ORD_OPEN, ORD_DISPUTED, ORD_ACCEPTED, ORD_CANCELLED, R},
};
#undef R

ord_event ord_event_parse(const char *type)
{
    for (int i = 0; type && i < ORD_EV_UNKNOWN; i++)
        if (strcmp(type, event_types[i]) == 0)
            return (ord_event)i;
    return ORD_EV_UNKNOWN;
}

ord_step ord_transition(ord_state from, ord_event ev, ord_state *to)
{
    if ((unsigned)from >= ORD_STATE_COUNT)
        from = ORD_STATE_UNKNOWN;
    if ((unsigned)ev >= ORD_EV_COUNT)
        ev = ORD_EV_UNKNOWN;
    ord_state n = next[ev][from];
    *to = n == ORD_STATE_COUNT ? from : n;
    if (n == ORD_STATE_COUNT)
        return ORD_STEP_REFUSED;
    return n == from ? ORD_STEP_UNCHANGED : ORD_STEP_MOVE;
}

/* Release opens the commitments: one "file.released" entry per file of
 * the order, with its salt and plain sha256 (and the commitment they
 * open), in the acceptance's transaction. One entry a file, not one for
 * all, so that an order of many files stays under FG_MAX_AUDIT_DETAIL.
 * With these the trail checks both ways: SHA-256(salt || original) is the
 * commitment recorded at upload, and the released bytes hash to sha256. */
static fg_result reveal_files(store_meta *m, const char *order_id, fg_reason *r)
{
    store_file_list files = {0};
    fg_result rc = store_file_list_order(m, order_id, &files, r);
    for (size_t i = 0; rc == FG_OK && i < files.n; i++) {
        const store_file *f = &files.items[i];
        json_t *d = json_pack("{s:s, s:i, s:o, s:s, s:o}", "file_id", f->id, "delivery",
                              f->delivery, "salt", f->salt[0] ? json_string(f->salt) : json_null(),
                              "sha256", f->sha256, "commitment",
                              f->commitment[0] ? json_string(f->commitment) : json_null());
        char *detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(d);
        rc = detail ? store_audit_append(m, order_id, "filigrane", "file.released", detail, NULL,
                                         NULL, r)
                    : fg_fail(r, FG_EIO, "out of memory");
        free(detail);
    }
    store_file_list_release(&files);
    return rc;
}

/* The store changes state by compare-and-set on the states it may come
 * from, so that two events racing cannot both leave the same state: the
 * set is read off the transition table, not written twice. */
static void sources(ord_event ev, ord_state to, const char *from[ORD_STATE_COUNT])
{
    size_t n = 0;
    for (int s = ORD_OPEN; s < ORD_STATE_UNKNOWN; s++) {
        ord_state t;
        if (ord_transition((ord_state)s, ev, &t) == ORD_STEP_MOVE && t == to)
            from[n++] = ord_state_name((ord_state)s);
    }
    from[n] = NULL;
}

fg_result ord_apply(store_meta *m, const ord_hook *ev, const char **effect, fg_reason *r)
{
    fg_result rc;
    ord_event e = ord_event_parse(ev->type);
    *effect = "ignored";
    if (e == ORD_EV_UNKNOWN)
        return FG_OK;
    if (!ev->order_id)
        return fg_fail(r, FG_EUSAGE, "webhook data.order_id is required");
    if (e == ORD_EV_CREATED) {
        bool created = false;
        if (!ev->seller_id || !ev->buyer_id)
            return fg_fail(r, FG_EUSAGE, "order.created needs data.seller_id and data.buyer_id");
        rc = store_order_create(m, ev->order_id, ev->seller_id, ev->buyer_id, ev->buyer_name,
                                NULL, NULL, &created, r);
        /* Only with the order's creation: a replay changes nothing. */
        if (rc == FG_OK && created && ev->preview_pages > 0)
            rc = store_order_set_preview_pages(m, ev->order_id, ev->preview_pages, r);
        *effect = created ? "created" : "unchanged";
        return rc;
    }
    /* The target does not depend on the state an order leaves. */
    ord_state to;
    (void)ord_transition(ORD_OPEN, e, &to);
    const char *from[ORD_STATE_COUNT];
    sources(e, to, from);
    char prev[STORE_WORD_MAX] = "";
    rc = store_order_set_state(m, ev->order_id, ord_state_name(to), from, NULL, prev, r);
    if (rc == FG_ESTATE) {
        ord_state was = ord_state_parse(prev), t;
        if (ord_transition(was, e, &t) == ORD_STEP_UNCHANGED) {
            *effect = "unchanged";
            return FG_OK;
        }
        return fg_fail(r, FG_ESTATE, "order is %s: %s cannot apply", prev[0] ? prev : "unknown",
                       ev->type);
    }
    if (rc == FG_ENOTFOUND)
        return fg_fail(r, FG_ENOTFOUND, "no such order");
    if (rc != FG_OK)
        return rc;
    *effect = ord_state_name(to);
    if (to == ORD_ACCEPTED)
        rc = reveal_files(m, ev->order_id, r);
    return rc;
}
