/* The order state machine, knowing nothing of HTTP (fcgi/h_hooks.c parses
 * and verifies the webhook, then calls ord_apply inside its transaction).
 *
 *   open ──order.disputed──▶ disputed
 *   open ──order.accepted──▶ accepted   (final: the release)
 *   open ──order.cancelled─▶ cancelled  (final)
 *   disputed ──order.accepted / order.cancelled──▶ accepted / cancelled
 *                                        (the mediation's decision)
 *
 * Re-sending the event that put an order in its current state is
 * "unchanged" (the order system may retry with a new webhook-id); any
 * other move out of a final state, or a dispute of a disputed order's
 * opposite, is FG_ESTATE. Accepted is reached only here, so this is the
 * only door to the originals (orders/rules.h). */
#ifndef ORDERS_STATE_H
#define ORDERS_STATE_H

#include "common/result.h"
#include "orders/rules.h"
#include "storage/meta.h"

typedef enum ord_event {
    ORD_EV_CREATED = 0,
    ORD_EV_ACCEPTED,
    ORD_EV_CANCELLED,
    ORD_EV_DISPUTED,
    ORD_EV_UNKNOWN, /* acknowledged and ignored */
    ORD_EV_COUNT
} ord_event;

/* The event named by a webhook type ("order.accepted", ...);
 * ORD_EV_UNKNOWN for anything else, NULL included. This function can't
 * fail. */
ord_event ord_event_parse(const char *type);

/* What an event does to an order in state from. */
typedef enum ord_step {
    ORD_STEP_MOVE,      /* the order moves to *to */
    ORD_STEP_UNCHANGED, /* a repeat: the order already is *to */
    ORD_STEP_REFUSED,   /* wrong state (FG_ESTATE) */
} ord_step;

/* The transition table: what ev does to an order in state from, with the
 * state it ends in (or would) in *to. ORD_EV_CREATED and ORD_EV_UNKNOWN
 * move no existing order: ORD_STEP_UNCHANGED with *to = from. An
 * ORD_STATE_UNKNOWN order refuses everything. This function can't fail. */
ord_step ord_transition(ord_state from, ord_event ev, ord_state *to /* out */);

/* A lifecycle event as the order system sent it (fields NULL if absent).
 * Strings are borrowed. */
typedef struct ord_hook {
    const char *type;
    const char *order_id;
    const char *seller_id;
    const char *buyer_id;
    const char *buyer_name;
    const char *reason;
    /* order.created's preview_pages: pages of a paged document's
     * preview (1..FG_MAX_PREVIEW_PAGES); 0 when not given. */
    int preview_pages;
} ord_hook;

/* Applies ev to the store inside the transaction open on m. On FG_OK
 * *effect (a static string) says what happened: "created", "accepted",
 * "cancelled", "disputed", "unchanged", or "ignored" (an unknown type).
 * An acceptance also records the release in the same transaction: one
 * "file.released" audit entry per file, revealing its salt and sha256.
 * Refusals: FG_EUSAGE (order.created without seller or buyer, an event
 * without an order id), FG_ENOTFOUND (no such order), FG_ESTATE (wrong
 * state, the reason names the current one), or the store's own error. The
 * caller rolls back on any failure. */
FG_MUST_CHECK fg_result ord_apply(store_meta *m, const ord_hook *ev,
                                  const char **effect /* out */, fg_reason *r);

#endif
