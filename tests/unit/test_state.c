/* orders/state.c: the order state machine, from its table and against a
 * real store, with the release rule checked below the HTTP level. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include "orders/rules.h"
#include "orders/state.h"
#include "storage/audit.h"

static const char *const state_names[] = {"open", "disputed", "accepted", "cancelled", "bogus"};
static const char *const event_names[] = {"created", "accepted", "cancelled", "disputed",
                                          "unknown"};

/* Expected, by hand: M = moves to, U = unchanged, X = refused. */
#define M(s) {ORD_STEP_MOVE, s}
#define U(s) {ORD_STEP_UNCHANGED, s}
#define X(s) {ORD_STEP_REFUSED, s}
static const struct {
    ord_step step;
    ord_state to;
} want[ORD_EV_COUNT][ORD_STATE_COUNT] = {
    /*                  open                disputed            accepted            cancelled             bogus */
    [ORD_EV_CREATED] = {U(ORD_OPEN), U(ORD_DISPUTED), U(ORD_ACCEPTED), U(ORD_CANCELLED), X(ORD_STATE_UNKNOWN)},
    [ORD_EV_ACCEPTED] = {M(ORD_ACCEPTED), M(ORD_ACCEPTED), U(ORD_ACCEPTED), X(ORD_CANCELLED), X(ORD_STATE_UNKNOWN)},
    [ORD_EV_CANCELLED] = {M(ORD_CANCELLED), M(ORD_CANCELLED), X(ORD_ACCEPTED), U(ORD_CANCELLED), X(ORD_STATE_UNKNOWN)},
    [ORD_EV_DISPUTED] = {M(ORD_DISPUTED), U(ORD_DISPUTED), X(ORD_ACCEPTED), X(ORD_CANCELLED), X(ORD_STATE_UNKNOWN)},
    [ORD_EV_UNKNOWN] = {U(ORD_OPEN), U(ORD_DISPUTED), U(ORD_ACCEPTED), U(ORD_CANCELLED), X(ORD_STATE_UNKNOWN)},
};

TEST("event x state: every transition of the table")
{
    for (int e = 0; e < ORD_EV_COUNT; e++)
        for (int s = 0; s < ORD_STATE_COUNT; s++) {
            ord_state to = (ord_state)-1;
            ord_step got = ord_transition((ord_state)s, (ord_event)e, &to);
            if (got != want[e][s].step || to != want[e][s].to)
                TAP_FAIL("%s in %s: step %d to %s, want step %d to %s", event_names[e],
                         state_names[s], (int)got, state_names[to], (int)want[e][s].step,
                         state_names[want[e][s].to]);
        }
}

TEST("accepted and cancelled are final: no event leaves them")
{
    for (int e = 0; e < ORD_EV_COUNT; e++) {
        ord_state to;
        CHECK(ord_transition(ORD_ACCEPTED, (ord_event)e, &to) != ORD_STEP_MOVE);
        CHECK(ord_transition(ORD_CANCELLED, (ord_event)e, &to) != ORD_STEP_MOVE);
    }
}

TEST("only order.accepted reaches accepted, the one door to the originals")
{
    for (int e = 0; e < ORD_EV_COUNT; e++)
        for (int s = 0; s < ORD_STATE_COUNT; s++) {
            ord_state to;
            if (ord_transition((ord_state)s, (ord_event)e, &to) == ORD_STEP_MOVE &&
                to == ORD_ACCEPTED && e != ORD_EV_ACCEPTED)
                TAP_FAIL("%s moves %s to accepted", event_names[e], state_names[s]);
        }
}

TEST("event types parse exactly")
{
    CHECK_INT(ord_event_parse("order.created"), ORD_EV_CREATED);
    CHECK_INT(ord_event_parse("order.accepted"), ORD_EV_ACCEPTED);
    CHECK_INT(ord_event_parse("order.cancelled"), ORD_EV_CANCELLED);
    CHECK_INT(ord_event_parse("order.disputed"), ORD_EV_DISPUTED);
    static const char *const other[] = {"", "order.accepted ", "ORDER.ACCEPTED", "order.accept",
                                        "order.released", "accepted", "order.canceled"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (ord_event_parse(other[i]) != ORD_EV_UNKNOWN)
            TAP_FAIL("\"%s\" parsed as an event", other[i]);
    CHECK_INT(ord_event_parse(NULL), ORD_EV_UNKNOWN);
}

/* Applies one event in its own transaction, as the webhook handler does:
 * rolled back on failure. */
static fg_result apply(store_meta *m, const char *type, const char *order_id,
                       const char **effect, fg_reason *r)
{
    ord_hook ev = {.type = type, .order_id = order_id, .seller_id = "s-7", .buyer_id = "b-9"};
    fg_result rc = store_meta_begin(m, r);
    if (rc == FG_OK && (rc = ord_apply(m, &ev, effect, r)) == FG_OK)
        return store_meta_commit(m, r);
    store_meta_rollback(m);
    return rc;
}

static ord_state stored_state(store_meta *m, const char *id)
{
    store_order o;
    fg_reason r;
    if (store_order_get(m, id, &o, &r) != FG_OK)
        return ORD_STATE_UNKNOWN;
    return ord_state_parse(o.state);
}

/* Whether the order's buyer may download an original now, from the
 * stored state: the release rule with no HTTP in between. */
static bool buyer_gets_original(store_meta *m, const char *id)
{
    store_order o;
    fg_reason r;
    if (store_order_get(m, id, &o, &r) != FG_OK)
        return false;
    ord_party p = ord_party_of(ORD_ROLE_BUYER, "b-9", id, &o);
    return ord_may(p, ord_state_parse(o.state), ORD_ORIGINAL).rc == FG_OK;
}

static size_t audit_count(store_meta *m, const char *id, const char *action)
{
    store_audit_list l = {0};
    fg_reason r;
    size_t n = 0;
    if (store_audit_list_get(m, id, 0, 0, &l, &r) != FG_OK)
        return 0;
    for (size_t i = 0; i < l.n; i++)
        n += strcmp(l.items[i].action, action) == 0;
    store_audit_list_release(&l);
    return n;
}

static void add_file(store_meta *m, const char *order_id)
{
    fg_reason r;
    int n = 0;
    store_file f;
    CHECK_INT(store_delivery_create(m, order_id, NULL, NULL, &n, &r), FG_OK);
    memset(&f, 0, sizeof f);
    snprintf(f.order_id, sizeof f.order_id, "%s", order_id);
    f.delivery = n;
    snprintf(f.name, sizeof f.name, "logo.png");
    f.size = 10;
    snprintf(f.sha256, sizeof f.sha256, "%s",
             "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    snprintf(f.mime, sizeof f.mime, "image/png");
    snprintf(f.kind, sizeof f.kind, "image");
    snprintf(f.preview, sizeof f.preview, "processing");
    CHECK_INT(store_file_add(m, &f, NULL, &r), FG_OK);
}

DB_TEST("a disputed order releases nothing until the mediation accepts it")
{
    struct db d;
    fg_reason r = {{0}};
    const char *effect = NULL;
    db_open(&d);
    CHECK_INT(apply(d.m, "order.created", "ord:42", &effect, &r), FG_OK);
    CHECK_STR(effect, "created");
    add_file(d.m, "ord:42");
    CHECK(!buyer_gets_original(d.m, "ord:42"));

    CHECK_INT(apply(d.m, "order.disputed", "ord:42", &effect, &r), FG_OK);
    CHECK_STR(effect, "disputed");
    CHECK_INT(stored_state(d.m, "ord:42"), ORD_DISPUTED);
    CHECK(!buyer_gets_original(d.m, "ord:42"));
    CHECK_INT(audit_count(d.m, "ord:42", "file.released"), 0);

    /* A repeat of the dispute changes nothing. */
    CHECK_INT(apply(d.m, "order.disputed", "ord:42", &effect, &r), FG_OK);
    CHECK_STR(effect, "unchanged");
    CHECK(!buyer_gets_original(d.m, "ord:42"));

    /* The seller answers with a revision while disputed. */
    add_file(d.m, "ord:42");

    CHECK_INT(apply(d.m, "order.accepted", "ord:42", &effect, &r), FG_OK);
    CHECK_STR(effect, "accepted");
    CHECK(buyer_gets_original(d.m, "ord:42"));
    /* The release is recorded with the acceptance: one entry a file. */
    CHECK_INT(audit_count(d.m, "ord:42", "file.released"), 2);

    CHECK_INT(apply(d.m, "order.accepted", "ord:42", &effect, &r), FG_OK);
    CHECK_STR(effect, "unchanged");
    CHECK_INT(audit_count(d.m, "ord:42", "file.released"), 2);
    db_close(&d);
}

DB_TEST("a dispute cancelled by the mediation never releases")
{
    struct db d;
    fg_reason r = {{0}};
    const char *effect = NULL;
    db_open(&d);
    CHECK_INT(apply(d.m, "order.created", "o+1", &effect, &r), FG_OK);
    add_file(d.m, "o+1");
    CHECK_INT(apply(d.m, "order.disputed", "o+1", &effect, &r), FG_OK);
    CHECK_INT(apply(d.m, "order.cancelled", "o+1", &effect, &r), FG_OK);
    CHECK_STR(effect, "cancelled");
    CHECK(!buyer_gets_original(d.m, "o+1"));
    /* Final: a late acceptance is a wrong state and changes nothing. */
    CHECK_INT(apply(d.m, "order.accepted", "o+1", &effect, &r), FG_ESTATE);
    CHECK(strstr(r.text, "cancelled") != NULL);
    CHECK_INT(stored_state(d.m, "o+1"), ORD_CANCELLED);
    CHECK(!buyer_gets_original(d.m, "o+1"));
    CHECK_INT(audit_count(d.m, "o+1", "file.released"), 0);
    db_close(&d);
}

DB_TEST("wrong states, unknown orders and incomplete events are refused with no effect")
{
    struct db d;
    fg_reason r = {{0}};
    const char *effect = NULL;
    db_open(&d);
    CHECK_INT(apply(d.m, "order.created", "a@b", &effect, &r), FG_OK);
    CHECK_INT(apply(d.m, "order.accepted", "a@b", &effect, &r), FG_OK);
    CHECK_INT(apply(d.m, "order.disputed", "a@b", &effect, &r), FG_ESTATE);
    CHECK_INT(apply(d.m, "order.cancelled", "a@b", &effect, &r), FG_ESTATE);
    CHECK_INT(stored_state(d.m, "a@b"), ORD_ACCEPTED);
    CHECK_INT(apply(d.m, "order.accepted", "nope", &effect, &r), FG_ENOTFOUND);
    CHECK_INT(apply(d.m, "order.disputed", "nope", &effect, &r), FG_ENOTFOUND);
    CHECK_INT(apply(d.m, "order.accepted", NULL, &effect, &r), FG_EUSAGE);
    ord_hook half = {.type = "order.created", .order_id = "x~1", .seller_id = "s-1"};
    CHECK_INT(ord_apply(d.m, &half, &effect, &r), FG_EUSAGE);
    CHECK_INT(stored_state(d.m, "x~1"), ORD_STATE_UNKNOWN);
    /* Unknown types are acknowledged and ignored. */
    CHECK_INT(apply(d.m, "order.shipped", "a@b", &effect, &r), FG_OK);
    CHECK_STR(effect, "ignored");
    /* A second order.created is a repeat. */
    CHECK_INT(apply(d.m, "order.created", "a@b", &effect, &r), FG_OK);
    CHECK_STR(effect, "unchanged");
    CHECK_INT(stored_state(d.m, "a@b"), ORD_ACCEPTED);
    db_close(&d);
}

static int stored_pages(store_meta *m, const char *id)
{
    store_order o;
    fg_reason r;
    if (store_order_get(m, id, &o, &r) != FG_OK)
        return -1;
    return o.preview_pages;
}

DB_TEST("order.created's preview_pages is stored with the order; a replay changes nothing")
{
    struct db d;
    fg_reason r;
    const char *effect = NULL;
    db_open(&d);
    ord_hook ev = {.type = "order.created", .order_id = "ord-p", .seller_id = "s-7",
                   .buyer_id = "b-9", .preview_pages = 7};
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(ord_apply(d.m, &ev, &effect, &r), FG_OK);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    CHECK_STR(effect, "created");
    CHECK_INT(stored_pages(d.m, "ord-p"), 7);
    /* A replay asking for more is the same order: unchanged. */
    ev.preview_pages = 50;
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(ord_apply(d.m, &ev, &effect, &r), FG_OK);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    CHECK_STR(effect, "unchanged");
    CHECK_INT(stored_pages(d.m, "ord-p"), 7);
    /* Without it: 0, the kind's default. */
    CHECK_INT(apply(d.m, "order.created", "ord-q", &effect, &r), FG_OK);
    CHECK_INT(stored_pages(d.m, "ord-q"), 0);
    db_close(&d);
}

DB_TEST("an order's preview pages are set within 0..FG_MAX_PREVIEW_PAGES, on an order that exists")
{
    struct db d;
    fg_reason r;
    const char *effect = NULL;
    db_open(&d);
    CHECK_INT(apply(d.m, "order.created", "ord-p", &effect, &r), FG_OK);
    CHECK_INT(store_order_set_preview_pages(d.m, "ord-p", FG_MAX_PREVIEW_PAGES, &r), FG_OK);
    CHECK_INT(stored_pages(d.m, "ord-p"), FG_MAX_PREVIEW_PAGES);
    CHECK_INT(store_order_set_preview_pages(d.m, "ord-p", FG_MAX_PREVIEW_PAGES + 1, &r),
              FG_EUSAGE);
    CHECK(strstr(r.text, "preview_pages") != NULL);
    CHECK_INT(store_order_set_preview_pages(d.m, "ord-p", -1, &r), FG_EUSAGE);
    CHECK_INT(stored_pages(d.m, "ord-p"), FG_MAX_PREVIEW_PAGES);
    CHECK_INT(store_order_set_preview_pages(d.m, "ord-p", 0, &r), FG_OK);
    CHECK_INT(stored_pages(d.m, "ord-p"), 0);
    CHECK_INT(store_order_set_preview_pages(d.m, "nope", 3, &r), FG_ENOTFOUND);
    db_close(&d);
}
