/* The outbox of outgoing events on a real SQLite file and a fresh
 * PostgreSQL database (DB_TEST, tests/unit/store_tmp.h): recorded with its
 * cause or not at all, due in order, retried, sent or given up, claimed by
 * one sender at a time. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fcgi/keys.h"
#include "fcgi/log.h"
#include "fcgi/outbox.h"
#include "fcgi/webhook_sig.h"
#include "storage/audit.h"
#include "storage/meta.h"

static const char BODY[] =
    "{\"type\":\"order.released\",\"timestamp\":\"2026-11-25T09:12:00.000Z\","
    "\"data\":{\"order_id\":\"ord-1\"}}";

DB_TEST("an event added outside a transaction is pending and due at once")
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

DB_TEST("an event commits with its cause's transaction, or not at all")
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

DB_TEST("a failed try is counted and rescheduled; a sent event is no longer due")
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

DB_TEST("an event given up is dead and never due again")
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

DB_TEST("bad events are refused with a fitting code")
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

DB_TEST("an event survives closing and reopening the database")
{
    struct db d;
    fg_reason r = {""};
    store_outbox_list l = {0};
    db_open(&d);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, NULL, &r), FG_OK);
    store_meta_free(d.m);
    d.m = db_handle(&d);
    CHECK_INT(store_outbox_due(d.m, INT64_MAX, 0, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 1);
    store_outbox_list_release(&l);
    db_close(&d);
}

/* ---- claims: one sender per try, across handles and nodes ---- */

static size_t claim(store_meta *m, int64_t now, int64_t lease, size_t limit,
                    store_outbox_list *l)
{
    fg_reason r = {""};
    store_outbox_list_release(l);
    if (store_outbox_claim(m, now, lease, limit, l, &r) != FG_OK)
        TAP_FAIL("claim: %s", r.text);
    return l->n;
}

DB_TEST("a claimed event is not due to another claim until its lease ends")
{
    struct db d;
    fg_reason r = {""};
    int64_t a = 0, b = 0;
    store_outbox_list l = {0};
    int64_t now;
    db_open(&d);
    store_meta *other = db_handle(&d);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, &a, &r), FG_OK);
    CHECK_INT(store_outbox_add(d.m, "delivery.ready", "ord-1", BODY, &b, &r), FG_OK);
    now = (int64_t)time(NULL) + 1; /* every event above is due by then */
    CHECK_INT(claim(d.m, now, 30, 1, &l), 1);
    CHECK(l.items[0].id == a);
    CHECK(l.items[0].next_attempt_at == now + 30);
    CHECK_INT(l.items[0].attempts, 0);
    CHECK_STR(l.items[0].payload, BODY);
    /* The other handle gets the next one only, and nothing more while
     * both leases hold. */
    CHECK_INT(claim(other, now, 30, 10, &l), 1);
    CHECK(l.items[0].id == b);
    CHECK_INT(claim(other, now + 29, 30, 10, &l), 0);
    CHECK_INT(claim(d.m, now + 29, 30, 10, &l), 0);
    /* A sender that died: at the lease end both are due again, to anyone. */
    CHECK_INT(claim(other, now + 30, 30, 10, &l), 2);
    CHECK(l.items[0].id == a && l.items[1].id == b);
    CHECK_INT(l.items[0].attempts, 0);
    store_outbox_list_release(&l);
    store_meta_free(other);
    db_close(&d);
}

DB_TEST("a claimed event's try is recorded as before: sent is final, a failure reschedules")
{
    struct db d;
    fg_reason r = {""};
    int64_t a = 0, b = 0;
    store_outbox_list l = {0};
    int64_t now;
    db_open(&d);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, &a, &r), FG_OK);
    CHECK_INT(store_outbox_add(d.m, "delivery.ready", "ord-1", BODY, &b, &r), FG_OK);
    now = (int64_t)time(NULL) + 1; /* every event above is due by then */
    CHECK_INT(claim(d.m, now, 30, 10, &l), 2);
    CHECK_INT(store_outbox_mark_sent(d.m, a, &r), FG_OK);
    CHECK_INT(store_outbox_mark_failed(d.m, b, "answered 500", now + 5, &r), FG_OK);
    /* The failure's schedule replaces the lease: due in 5 s, not 30. */
    CHECK_INT(claim(d.m, now + 5, 30, 10, &l), 1);
    CHECK(l.items[0].id == b);
    CHECK_INT(l.items[0].attempts, 1);
    CHECK_STR(l.items[0].last_error, "answered 500");
    /* Much later only b (pending, its claim long over) is claimed: the
     * sent event never is. */
    CHECK_INT(claim(d.m, INT64_MAX - 30, 30, 10, &l), 1);
    CHECK(l.items[0].id == b);
    store_outbox_list_release(&l);
    db_close(&d);
}

DB_TEST("an event given back unsent is due again at once, its tries uncounted")
{
    struct db d;
    fg_reason r = {""};
    int64_t a = 0;
    store_outbox_list l = {0}, late = {0};
    int64_t now;
    db_open(&d);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, &a, &r), FG_OK);
    now = (int64_t)time(NULL) + 1; /* every event above is due by then */
    CHECK_INT(claim(d.m, now, 30, 1, &l), 1);
    CHECK_INT(store_outbox_release(d.m, &l.items[0], &r), FG_OK);
    CHECK_INT(claim(d.m, (int64_t)time(NULL), 30, 1, &late), 1);
    CHECK_INT(late.items[0].attempts, 0);
    /* A late give-back, after the lease ran out and another sender took
     * the event, leaves that sender's claim alone. */
    CHECK_INT(claim(d.m, late.items[0].next_attempt_at, 30, 1, &late), 1);
    CHECK_INT(store_outbox_release(d.m, &l.items[0], &r), FG_OK);
    CHECK_INT(claim(d.m, late.items[0].next_attempt_at - 1, 30, 1, &l), 0);
    store_outbox_list_release(&l);
    store_outbox_list_release(&late);
    db_close(&d);
}

DB_TEST("bad claims are refused: no lease, a time past the end, inside a transaction")
{
    struct db d;
    fg_reason r = {""};
    store_outbox_list l = {0};
    db_open(&d);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, NULL, &r), FG_OK);
    CHECK_INT(store_outbox_claim(d.m, 100, 0, 1, &l, &r), FG_EUSAGE);
    CHECK_INT(store_outbox_claim(d.m, -1, 30, 1, &l, &r), FG_EUSAGE);
    CHECK_INT(store_outbox_claim(d.m, INT64_MAX - 29, 30, 1, &l, &r), FG_EUSAGE);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_outbox_claim(d.m, INT64_MAX / 2, 30, 1, &l, &r), FG_EUSAGE);
    store_meta_rollback(d.m);
    CHECK_INT((long long)l.n, 0);
    /* Nothing was taken by the refused claims. */
    CHECK_INT(claim(d.m, INT64_MAX - 30, 30, 1, &l), 1);
    store_outbox_list_release(&l);
    db_close(&d);
}

/* Two handles (two senders, or two nodes) claiming at once. */
#define RACE_EVENTS 200
static pthread_barrier_t start_line;
struct racer {
    store_meta *m;
    int64_t now;
    int64_t got[RACE_EVENTS];
    int n;
    int errors;
};

static void *race(void *p)
{
    struct racer *k = p;
    fg_reason r = {""};
    pthread_barrier_wait(&start_line);
    for (;;) {
        store_outbox_list l = {0};
        if (store_outbox_claim(k->m, k->now, 30, 3, &l, &r) != FG_OK) {
            k->errors++;
            break;
        }
        size_t n = l.n;
        for (size_t i = 0; i < n && k->n < RACE_EVENTS; i++)
            k->got[k->n++] = l.items[i].id;
        store_outbox_list_release(&l);
        if (n == 0)
            break;
        usleep(300); /* room for the other handle between claims */
    }
    return NULL;
}

DB_TEST("two handles claiming at once never get the same event, and miss none")
{
    struct db d;
    fg_reason r = {""};
    static struct racer k[2];
    pthread_t t[2];
    static int seen[RACE_EVENTS + 1];
    int64_t first = 0;
    db_open(&d);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    for (int i = 0; i < RACE_EVENTS; i++) {
        int64_t id = 0;
        CHECK_INT(store_outbox_add(d.m, "file.previewed", "ord-1", BODY, &id, &r), FG_OK);
        if (i == 0)
            first = id;
    }
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    pthread_barrier_init(&start_line, NULL, 2);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 2; i++) {
        memset(&k[i], 0, sizeof k[i]);
        k[i].m = db_handle(&d);
        k[i].now = (int64_t)time(NULL) + 1;
        CHECK(pthread_create(&t[i], NULL, race, &k[i]) == 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start_line);
    for (int i = 0; i < 2; i++)
        store_meta_free(k[i].m);
    CHECK_INT(k[0].errors + k[1].errors, 0);
    CHECK_INT(k[0].n + k[1].n, RACE_EVENTS);
    int dup = 0;
    for (int i = 0; i < 2; i++)
        for (int x = 0; x < k[i].n; x++) {
            int64_t at = k[i].got[x] - first + 1;
            if (at < 1 || at > RACE_EVENTS || seen[at]++)
                dup++;
        }
    CHECK_INT(dup, 0);
    printf("# claims: %d and %d\n", k[0].n, k[1].n);
    db_close(&d);
}

PG_TEST("an outbox claim passes over an event another node holds locked, without waiting")
{
    struct db d;
    fg_reason r = {""};
    int64_t a = 0, b = 0;
    char sql[128];
    store_outbox_list l = {0};
    struct timespec t0, t1;
    int64_t now;
    db_open(&d);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, &a, &r), FG_OK);
    CHECK_INT(store_outbox_add(d.m, "delivery.ready", "ord-2", BODY, &b, &r), FG_OK);
    now = (int64_t)time(NULL) + 1; /* every event above is due by then */
    /* A claim that waited for the lock would fail after 3 s. */
    db_pg_setting(&d, "lock_timeout", "3s");
    store_meta *m = db_handle(&d);
    PGconn *other = db_raw_pg(&d);
    db_raw_exec(other, "BEGIN");
    snprintf(sql, sizeof sql, "SELECT id FROM outbox WHERE id = %lld FOR UPDATE", (long long)a);
    db_raw_exec(other, sql);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t n = claim(m, now, 30, 10, &l);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    db_raw_exec(other, "COMMIT");
    PQfinish(other);
    CHECK_INT(n, 1);
    CHECK(l.items[0].id == b);
    CHECK(t1.tv_sec - t0.tv_sec < 2);
    /* The event passed over is still due, and now claimed. */
    CHECK_INT(claim(m, now, 30, 10, &l), 1);
    CHECK(l.items[0].id == a);
    store_outbox_list_release(&l);
    store_meta_free(m);
    db_close(&d);
}

/* ---- two senders (fcgi/outbox.c) on one database ---- */

/* A receiver on a loopback port: answers every POST 200 after a short
 * pause (so both senders are busy at once) and counts each webhook-id. */
#define SEND_EVENTS 40
struct receiver {
    int fd;
    int port;
    int64_t first;             /* the first event's id */
    int count[SEND_EVENTS];    /* deliveries of each event */
    int other;                 /* requests for no known event */
    volatile int stop;
};

static void serve_one(struct receiver *rx, int c)
{
    char buf[8192];
    size_t n = 0;
    ssize_t k;
    const char *clen, *id, *end = NULL;
    while (n < sizeof buf - 1 && (k = read(c, buf + n, sizeof buf - 1 - n)) > 0) {
        n += (size_t)k;
        buf[n] = '\0';
        if ((end = strstr(buf, "\r\n\r\n"))) {
            clen = strcasestr(buf, "content-length:");
            size_t want = clen ? strtoul(clen + 15, NULL, 10) : 0;
            if (n >= (size_t)(end + 4 - buf) + want)
                break;
        }
    }
    usleep(20000);
    id = strcasestr(buf, "webhook-id: evt_");
    long long at = id ? strtoll(id + 16, NULL, 10) - rx->first : -1;
    if (at >= 0 && at < SEND_EVENTS)
        __atomic_add_fetch(&rx->count[at], 1, __ATOMIC_SEQ_CST);
    else
        __atomic_add_fetch(&rx->other, 1, __ATOMIC_SEQ_CST);
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (write(c, ok, sizeof ok - 1) < 0)
        rx->other++;
    close(c);
}

static void *receive(void *p)
{
    struct receiver *rx = p;
    while (!rx->stop) {
        struct pollfd pf = {.fd = rx->fd, .events = POLLIN};
        if (poll(&pf, 1, 100) == 1) {
            int c = accept(rx->fd, NULL, NULL);
            if (c >= 0)
                serve_one(rx, c);
        }
    }
    return NULL;
}

DB_TEST("two senders on one database POST each event once, and mark it sent")
{
    struct db d;
    fg_reason r = {""};
    static struct receiver rx;
    static struct fcgi_config cfg;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    pthread_t t;
    fcgi_outbox *s1 = NULL, *s2 = NULL;
    store_outbox_list l = {0};
    memset(&rx, 0, sizeof rx);
    memset(&cfg, 0, sizeof cfg);
    db_open(&d);
    for (int i = 0; i < SEND_EVENTS; i++) {
        int64_t id = 0;
        CHECK_INT(store_outbox_add(d.m, "file.previewed", "ord-1", BODY, &id, &r), FG_OK);
        if (i == 0)
            rx.first = id;
    }
    CHECK((rx.fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    CHECK(bind(rx.fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(rx.fd, 64) == 0);
    CHECK(getsockname(rx.fd, (struct sockaddr *)&a, &alen) == 0);
    rx.port = ntohs(a.sin_port);
    CHECK(pthread_create(&t, NULL, receive, &rx) == 0);
    {
        fcgi_keys *k = calloc(1, sizeof *k);
        CHECK(k != NULL);
        atomic_init(&k->refs, 1);
        CHECK_INT(fcgi_webhook_key_init(&k->events, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &r),
                  FG_OK);
        CHECK((cfg.keys = fcgi_keyring_new(k)) != NULL);
    }
    snprintf(cfg.events_url, sizeof cfg.events_url, "http://127.0.0.1:%d/events", rx.port);
    cfg.events_retry_scale = 1;
    fcgi_log_set_level(FCGI_LOG_ERROR); /* not a line per event sent */
    /* The store either engine's way: a SQLite file, or a postgres:// URL
     * (two senders on one server are two nodes). */
    const char *db = d.engine == DB_SQLITE ? d.path : d.url;
    CHECK_INT(fcgi_outbox_start(&cfg, db, &s1, &r), FG_OK);
    CHECK_INT(fcgi_outbox_start(&cfg, db, &s2, &r), FG_OK);
    /* Until every event arrived (at most 20 s), then a second more for
     * any repeat to show. */
    int got = 0;
    for (int w = 0; w < 200 && got < SEND_EVENTS; w++) {
        usleep(100000);
        got = 0;
        for (int i = 0; i < SEND_EVENTS; i++)
            got += __atomic_load_n(&rx.count[i], __ATOMIC_SEQ_CST) > 0;
    }
    usleep(1000000);
    fcgi_outbox_stop(s1);
    fcgi_outbox_stop(s2);
    fcgi_keyring_free(cfg.keys);
    rx.stop = 1;
    pthread_join(t, NULL);
    close(rx.fd);
    int twice = 0;
    for (int i = 0; i < SEND_EVENTS; i++)
        twice += rx.count[i] > 1;
    CHECK_INT(got, SEND_EVENTS);
    CHECK_INT(twice, 0);
    CHECK_INT(rx.other, 0);
    CHECK_INT(store_outbox_due(d.m, INT64_MAX, 0, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 0);
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

DB_TEST("the oldest pending event: none, the first by creation whatever its next try, not sent or dead ones")
{
    struct db d;
    fg_reason r = {""};
    int64_t a = 0, b = 0;
    store_outbox_list l = {0};
    char at[STORE_TIME_MAX] = "x";
    int64_t now = (int64_t)time(NULL);
    db_open(&d);
    CHECK_INT(store_outbox_oldest(d.m, at, &r), FG_OK);
    CHECK_STR(at, "");
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, &a, &r), FG_OK);
    CHECK_INT(store_outbox_due(d.m, now + 10, 10, &l, &r), FG_OK);
    char first[STORE_TIME_MAX] = "";
    if (l.n >= 1)
        snprintf(first, sizeof first, "%s", l.items[0].created_at);
    store_outbox_list_release(&l);
    usleep(5000); /* a later created_at for b */
    CHECK_INT(store_outbox_add(d.m, "delivery.ready", "ord-1", BODY, &b, &r), FG_OK);
    /* A failed try moves a's next attempt later than b's: a is still the oldest. */
    CHECK_INT(store_outbox_mark_failed(d.m, a, "http 500", now + 3600, &r), FG_OK);
    CHECK_INT(store_outbox_oldest(d.m, at, &r), FG_OK);
    CHECK_STR(at, first);
    CHECK_INT(store_outbox_mark_sent(d.m, a, &r), FG_OK);
    CHECK_INT(store_outbox_oldest(d.m, at, &r), FG_OK);
    CHECK(at[0] != '\0' && strcmp(at, first) > 0);
    CHECK_INT(store_outbox_mark_failed(d.m, b, "gone", STORE_OUTBOX_GIVE_UP, &r), FG_OK);
    CHECK_INT(store_outbox_oldest(d.m, at, &r), FG_OK);
    CHECK_STR(at, "");
    db_close(&d);
}

/* ---- given-up events: listed for the admin, replayed (fcgi/h_admin.c) ---- */

DB_TEST("given-up events are listed by state and id, paged with after")
{
    struct db d;
    fg_reason r = {""};
    int64_t id[4] = {0};
    store_outbox_list l = {0};
    db_open(&d);
    for (int i = 0; i < 4; i++)
        CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, &id[i], &r), FG_OK);
    CHECK_INT(store_outbox_mark_failed(d.m, id[1], "refused", STORE_OUTBOX_GIVE_UP, &r), FG_OK);
    CHECK_INT(store_outbox_mark_failed(d.m, id[3], "timed out", STORE_OUTBOX_GIVE_UP, &r), FG_OK);
    CHECK_INT(store_outbox_mark_sent(d.m, id[2], &r), FG_OK);
    CHECK_INT(store_outbox_list_state(d.m, STORE_OUTBOX_DEAD, 0, 10, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 2);
    if (l.n == 2) {
        CHECK(l.items[0].id == id[1] && l.items[1].id == id[3]);
        CHECK_STR(l.items[0].last_error, "refused");
        CHECK_STR(l.items[0].state, STORE_OUTBOX_DEAD);
        CHECK_INT(l.items[0].attempts, 1);
        CHECK_STR(l.items[1].payload, BODY);
    }
    store_outbox_list_release(&l);
    CHECK_INT(store_outbox_list_state(d.m, STORE_OUTBOX_DEAD, id[1], 10, &l, &r), FG_OK);
    CHECK(l.n == 1 && l.items[0].id == id[3]);
    store_outbox_list_release(&l);
    CHECK_INT(store_outbox_list_state(d.m, STORE_OUTBOX_DEAD, 0, 1, &l, &r), FG_OK);
    CHECK(l.n == 1 && l.items[0].id == id[1]);
    store_outbox_list_release(&l);
    CHECK_INT(store_outbox_list_state(d.m, STORE_OUTBOX_SENT, 0, 10, &l, &r), FG_OK);
    CHECK(l.n == 1 && l.items[0].id == id[2]);
    store_outbox_list_release(&l);
    CHECK_INT(store_outbox_list_state(d.m, "lost", 0, 10, &l, &r), FG_EUSAGE);
    CHECK_INT(store_outbox_list_state(d.m, STORE_OUTBOX_DEAD, -1, 10, &l, &r), FG_EUSAGE);
    db_close(&d);
}

DB_TEST("a replayed event is pending, due now, with its attempts back to 0, once")
{
    struct db d;
    fg_reason r = {""};
    int64_t id = 0, other = 0;
    store_outbox_list l = {0};
    db_open(&d);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-1", BODY, &id, &r), FG_OK);
    CHECK_INT(store_outbox_add(d.m, "order.released", "ord-2", BODY, &other, &r), FG_OK);
    CHECK_INT(store_outbox_mark_failed(d.m, id, "e1", 0, &r), FG_OK);
    CHECK_INT(store_outbox_mark_failed(d.m, id, "e2", STORE_OUTBOX_GIVE_UP, &r), FG_OK);
    CHECK_INT(store_outbox_replay(d.m, other, &r), FG_ENOTFOUND); /* pending, not dead */
    CHECK_INT(store_outbox_replay(d.m, id, &r), FG_OK);
    CHECK_INT(store_outbox_replay(d.m, id, &r), FG_ENOTFOUND); /* once */
    CHECK_INT(store_outbox_replay(d.m, 0, &r), FG_ENOTFOUND);
    CHECK_INT(store_outbox_replay(d.m, 999999, &r), FG_ENOTFOUND);
    CHECK_INT(store_outbox_due(d.m, (int64_t)time(NULL), 10, &l, &r), FG_OK);
    bool found = false;
    for (size_t i = 0; i < l.n; i++)
        if (l.items[i].id == id) {
            found = true;
            CHECK_STR(l.items[i].state, STORE_OUTBOX_PENDING);
            CHECK_INT(l.items[i].attempts, 0);
            CHECK_STR(l.items[i].last_error, "e2");
        }
    CHECK(found);
    store_outbox_list_release(&l);
    CHECK_INT(store_outbox_list_state(d.m, STORE_OUTBOX_DEAD, 0, 10, &l, &r), FG_OK);
    CHECK_INT((long long)l.n, 0);
    store_outbox_list_release(&l);
    db_close(&d);
}
