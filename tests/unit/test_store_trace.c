/* Traceable marks in the metadata store (storage/trace.c), on both
 * engines. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include "storage/meta.h"
#include "storage/trace.h"

DB_TEST("a recorded payload names its order, buyer and file")
{
    struct db d;
    fg_reason r = {{0}};
    store_trace_mark got;
    bool found = true;
    db_open(&d);
    CHECK_INT(store_trace_get(d.m, 0x1234, &got, &found, &r), FG_OK);
    CHECK(!found);
    CHECK_INT(store_trace_put(d.m, 0xfedcba9876543210ULL, "ord-1", "b-1", "f-1", &r), FG_OK);
    CHECK_INT(store_trace_put(d.m, 0x0000000000000001ULL, "ord-1", "b-2", "f-1", &r), FG_OK);
    CHECK_INT(store_trace_get(d.m, 0xfedcba9876543210ULL, &got, &found, &r), FG_OK);
    CHECK(found);
    CHECK_STR(got.order_id, "ord-1");
    CHECK_STR(got.buyer_id, "b-1");
    CHECK_STR(got.file_id, "f-1");
    CHECK(got.created_at[0] != '\0');
    CHECK_INT(store_trace_get(d.m, 1, &got, &found, &r), FG_OK);
    CHECK(found);
    CHECK_STR(got.buyer_id, "b-2");
    /* One bit off is another payload: the lookup is exact. */
    CHECK_INT(store_trace_get(d.m, 0xfedcba9876543211ULL, &got, &found, &r), FG_OK);
    CHECK(!found);
    db_close(&d);
}

DB_TEST("recording a payload again is harmless; for another preview it is refused")
{
    struct db d;
    fg_reason r = {{0}};
    store_trace_mark got;
    bool found = false;
    db_open(&d);
    CHECK_INT(store_trace_put(d.m, 42, "ord-1", "b-1", "f-1", &r), FG_OK);
    CHECK_INT(store_trace_put(d.m, 42, "ord-1", "b-1", "f-1", &r), FG_OK);
    CHECK_INT(store_trace_put(d.m, 42, "ord-2", "b-1", "f-1", &r), FG_ESTATE);
    CHECK_INT(store_trace_put(d.m, 42, "ord-1", "b-9", "f-1", &r), FG_ESTATE);
    CHECK_INT(store_trace_put(d.m, 42, "ord-1", "b-1", "f-9", &r), FG_ESTATE);
    CHECK_INT(store_trace_get(d.m, 42, &got, &found, &r), FG_OK);
    CHECK(found);
    CHECK_STR(got.order_id, "ord-1");
    CHECK_STR(got.buyer_id, "b-1");
    CHECK_STR(got.file_id, "f-1");
    db_close(&d);
}

DB_TEST("a trace naming a malformed id is refused before the store")
{
    struct db d;
    fg_reason r = {{0}};
    db_open(&d);
    static const char *const bad[] = {"", ".hidden", "a/b", "x y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(store_trace_put(d.m, 7, bad[i], "b-1", "f-1", &r), FG_EUSAGE);
        CHECK_INT(store_trace_put(d.m, 7, "o-1", bad[i], "f-1", &r), FG_EUSAGE);
        CHECK_INT(store_trace_put(d.m, 7, "o-1", "b-1", bad[i], &r), FG_EUSAGE);
    }
    CHECK_INT(store_trace_put(d.m, 7, NULL, "b-1", "f-1", &r), FG_EUSAGE);
    db_close(&d);
}

DB_TEST("a payload recorded inside a transaction that rolls back is gone")
{
    struct db d;
    fg_reason r = {{0}};
    store_trace_mark got;
    bool found = true;
    db_open(&d);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_trace_put(d.m, 9, "ord-1", "b-1", "f-1", &r), FG_OK);
    store_meta_rollback(d.m);
    CHECK_INT(store_trace_get(d.m, 9, &got, &found, &r), FG_OK);
    CHECK(!found);
    db_close(&d);
}
