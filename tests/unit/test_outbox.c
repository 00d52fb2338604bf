/* The outbox of outgoing events on a real SQLite file: recorded with its
 * cause or not at all, due in order, retried, sent or given up. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <time.h>

#include "fcgi/outbox.h"
#include "storage/audit.h"
#include "storage/meta.h"

static const char BODY[] =
    "{\"type\":\"order.released\",\"timestamp\":\"2026-11-25T09:12:00.000Z\","
    "\"data\":{\"order_id\":\"ord-1\"}}";

TEST("an event added outside a transaction is pending and due at once")
{
    struct db d;
    fg_reason r = {""};
    int64_t id = 0;
    store_outbox_list l = {0};
    db_open(&d);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, &id, &r), FG_OK);
    CHECK(id >= 1);
    CHECK_INT(store_outbox_due(d.m, (int64_t)time(NULL), 10, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 1);
    if (l.n == 1) {
        CHECK(l.items[0].id == id);
        CHECK_STR(l.items[0].type, "order.released");
        CHECK_STR(l.items[0].order_id, "ord-1");
        CHECK_STR(l.items[0].payload, BODY);
        CHECK_STR(l.items[0].state, STORE_OUTBOX_PENDING);
        CHECK_INT(l.items[0].attempts, 0);
        CHECK_STR(l.items[0].last_error, "");
        CHECK_STR(l.items[0].sent_at, "");
        CHECK_INT((int)strlen(l.items[0].created_at), STORE_TIME_MAX - 1);
    }
    store_outbox_list_release(&l);
    /* Not due before it was made. */
    CHECK_INT(store_outbox_due(d.m, (int64_t)time(NULL) - 3600, 10, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 0);
    store_outbox_list_release(&l);
    db_close(&d);
}

TEST("an event commits with its cause's transaction, or not at all")
{
    struct db d;
    fg_reason r = {""};
    store_outbox_list l = {0};
    store_audit_list a = {0};
    db_open(&d);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_audit_append(d.m, "ord-1", "order-system", "order.accepted", "{}", NULL,
                                 NULL, &r),
              FG_OK);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, NULL, &r), FG_OK);
    store_meta_rollback(d.m);
    CHECK_INT(store_outbox_due(d.m, INT64_MAX, 10, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 0);
    store_outbox_list_release(&l);
    CHECK_INT(store_audit_list_get(d.m, "ord-1", 0, 0, &a, &r), FG_OK);
    CHECK_INT((long long)a.n, 0);
    store_audit_list_release(&a);

    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_audit_append(d.m, "ord-1", "order-system", "order.accepted", "{}", NULL,
                                 NULL, &r),
              FG_OK);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, NULL, &r), FG_OK);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    CHECK_INT(store_outbox_due(d.m, INT64_MAX, 10, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 1);
    store_outbox_list_release(&l);
    CHECK_INT(store_audit_list_get(d.m, "ord-1", 0, 0, &a, &r), FG_OK);
    CHECK_INT((long long)a.n, 1);
    store_audit_list_release(&a);
    db_close(&d);
}

TEST("a failed try is counted and rescheduled; a sent event is no longer due")
{
    struct db d;
    fg_reason r = {""};
    int64_t id1 = 0, id2 = 0;
    store_outbox_list l = {0};
    int64_t now = (int64_t)time(NULL);
    db_open(&d);
    CHECK_INT(store_outbox_add(d.m, "file.previewed", "ord-1", BODY, &id1, &r), FG_OK);
    CHECK_INT(store_outbox_add(d.m, "file.downloaded", "ord-1", BODY, &id2, &r), FG_OK);
    CHECK_INT(store_outbox_mark_failed(d.m, id1, "http 500", now + 300, &r), FG_OK);
    CHECK_INT(store_outbox_due(d.m, now + 10, 10, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 1);
    if (l.n == 1)
        CHECK(l.items[0].id == id2);
    store_outbox_list_release(&l);

    CHECK_INT(store_outbox_due(d.m, now + 300, 10, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 2);
    if (l.n == 2) {
        /* Oldest due first: id2 (due now) before id1 (due in 5 min). */
        CHECK(l.items[0].id == id2 && l.items[1].id == id1);
        CHECK_INT(l.items[1].attempts, 1);
        CHECK_STR(l.items[1].last_error, "http 500");
        CHECK(l.items[1].next_attempt_at == now + 300);
    }
    store_outbox_list_release(&l);

    CHECK_INT(store_outbox_mark_sent(d.m, id1, &r), FG_OK);
    CHECK_INT(store_outbox_due(d.m, INT64_MAX, 10, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 1);
    if (l.n == 1)
        CHECK(l.items[0].id == id2);
    store_outbox_list_release(&l);
    /* Sent is final: neither sent again nor failed afterwards. */
    CHECK_INT(store_outbox_mark_sent(d.m, id1, &r), FG_ENOTFOUND);
    CHECK_INT(store_outbox_mark_failed(d.m, id1, "late", now, &r), FG_ENOTFOUND);
    CHECK_INT(store_outbox_mark_sent(d.m, 999, &r), FG_ENOTFOUND);
    db_close(&d);
}

TEST("an event given up is dead and never due again")
{
    struct db d;
    fg_reason r = {""};
    int64_t id = 0;
    store_outbox_list l = {0};
    db_open(&d);
    CHECK_INT(store_outbox_add(d.m, "delivery.ready", "ord-1", BODY, &id, &r), FG_OK);
    CHECK_INT(store_outbox_mark_failed(d.m, id, "connection refused", STORE_OUTBOX_GIVE_UP, &r),
              FG_OK);
    CHECK_INT(store_outbox_due(d.m, INT64_MAX, 10, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 0);
    store_outbox_list_release(&l);
    CHECK_INT(store_outbox_mark_sent(d.m, id, &r), FG_ENOTFOUND);
    CHECK_INT(store_outbox_mark_failed(d.m, id, "x", -2, &r), FG_EUSAGE);
    db_close(&d);
}

TEST("bad events are refused with a fitting code")
{
    struct db d;
    fg_reason r = {""};
    char big[FG_REASON_MAX + 8];
    db_open(&d);
    CHECK_INT(store_outbox_add(d.m, "", "ord-1", BODY, NULL, &r), FG_EUSAGE);
    CHECK_INT(store_outbox_add(d.m, "Order Released", "ord-1", BODY, NULL, &r), FG_EUSAGE);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord 1", BODY, NULL, &r), FG_EUSAGE);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", "", NULL, &r), FG_EUSAGE);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", "\xff\xfe", NULL, &r), FG_EUSAGE);
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    int64_t id = 0;
    CHECK_INT(store_outbox_add(d.m, "order.released", NULL, BODY, &id, &r), FG_OK);
    CHECK_INT(store_outbox_mark_failed(d.m, id, big, 0, &r), FG_ELIMIT);
    CHECK_INT(store_meta_begin_read(d.m, &r), FG_OK);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, NULL, &r), FG_EUSAGE);
    store_meta_rollback(d.m);
    db_close(&d);
}

TEST("an event survives closing and reopening the database")
{
    struct db d;
    fg_reason r = {""};
    store_outbox_list l = {0};
    db_open(&d);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, NULL, &r), FG_OK);
    store_meta_free(d.m);
    CHECK_INT(store_meta_open_sqlite(d.path, &d.m, &r), FG_OK);
    CHECK_INT(store_outbox_due(d.m, INT64_MAX, 0, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 1);
    store_outbox_list_release(&l);
    db_close(&d);
}

/* ---- the sender's schedule (fcgi/outbox.c) ---- */

TEST("retries follow the Standard Webhooks schedule, then give up")
{
    static const long long want[] = {5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400};
    for (int k = 1; k <= 9; k++)
        CHECK(fcgi_outbox_retry_delay(k, 1) == want[k - 1]);
    CHECK(fcgi_outbox_retry_delay(10, 1) < 0);
    CHECK(fcgi_outbox_retry_delay(11, 1) < 0);
    CHECK(fcgi_outbox_retry_delay(0, 1) < 0);
}

TEST("a retry scale divides the schedule, rounding up to a second")
{
    CHECK(fcgi_outbox_retry_delay(1, 1000) == 1);    /* 5 ms */
    CHECK(fcgi_outbox_retry_delay(3, 1000) == 2);    /* 1.8 s */
    CHECK(fcgi_outbox_retry_delay(9, 1000) == 87);   /* 86.4 s */
    CHECK(fcgi_outbox_retry_delay(2, 60) == 5);
    CHECK(fcgi_outbox_retry_delay(10, 1000) < 0);
    CHECK(fcgi_outbox_retry_delay(1, 0) == 5);       /* 0: no scale */
}
