/* Outgoing events to the order system (DESIGN, "Outgoing events"): written
 * to the durable outbox (storage/meta.h) in the transaction of their cause,
 * then POSTed by a sender thread with libcurl (one per worker; senders
 * sharing a store claim what they send, so each try is made once),
 * signed with Standard
 * Webhooks headers under the same secret as the incoming webhooks.
 *
 * Delivery is at least once: webhook-id is "evt_<outbox id>", the same on
 * every retry, so the receiver drops a repeat (a 2xx whose record failed
 * here, or a crash between the two, sends the event again). A non-2xx
 * answer (3xx included: redirects are not followed) or a network error is
 * retried on the Standard Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h,
 * 10 h, 14 h, 20 h, 24 h after the first try; after the tenth try the event
 * is dead, with its last error kept. */
#ifndef FCGI_OUTBOX_H
#define FCGI_OUTBOX_H

#include <jansson.h>

#include "common/result.h"
#include "fcgi/config.h"
#include "storage/meta.h"

/* Records event `type` about order_id in m: the body is
 * {"type": type, "timestamp": now (RFC 3339), "data": data}. data is
 * stolen (released whatever happens; NULL is FG_EIO, as from a failed
 * json_pack). Joins the transaction open on m, if any, so the event
 * commits with its cause. Fails as store_outbox_add, or FG_EIO when the
 * body cannot be made. */
FG_MUST_CHECK fg_result fcgi_event_enqueue(store_meta *m, const char *type,
                                           const char *order_id, json_t *data,
                                           fg_reason *r);

/* Seconds to wait after the attempts-th failed try (1 = the first, the
 * immediate one) before the next, the schedule divided by scale (0 or 1:
 * as is) and rounded up to a whole second; negative once attempts is past
 * the schedule (give up) or below 1. Can't fail. */
long long fcgi_outbox_retry_delay(int attempts, int scale);

typedef struct fcgi_outbox fcgi_outbox;

/* Starts the sender: one thread with its own metadata handle on db_path
 * (a SQLite file or a postgres:// URL: store_meta_open_db), which
 * claims due events one at a time (store_outbox_claim; every second when
 * none is due) and sends them to cfg->events_url (cfg must be set and
 * outlive the sender). Several senders may share one store (the nodes of
 * a cluster): each try is made by one of them. On failure
 * (FG_EIO: the database, libcurl or the thread) nothing is left running
 * and *out is NULL. Call from the main thread (it initialises libcurl). */
FG_MUST_CHECK fg_result fcgi_outbox_start(const struct fcgi_config *cfg,
                                          const char *db_path,
                                          fcgi_outbox **out /* out */,
                                          fg_reason *r);

/* Stops the sender within a fraction of a second, abandoning a request in
 * flight (its event stays pending, the try not counted), and frees it.
 * Accepts NULL. Can't fail. */
void fcgi_outbox_stop(fcgi_outbox *o);

#endif
