/* The PostgreSQL schema's steps against SQLite's: one list of numbered
 * migrations for both engines means as many steps in each, and each
 * step about the same tables. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include "storage/meta_pg_impl.h"
#include "storage/schema_sqlite.h"

TEST("both engines have the same number of schema steps")
{
    CHECK(store_pg_schema_latest() >= 8);
    CHECK_INT(store_pg_schema_latest(), store_sqlite_schema_latest());
}

TEST("each table is created in the same step in both engines")
{
    static const char *const tables[] = {
        "CREATE TABLE orders", "CREATE TABLE deliveries", "CREATE TABLE files",
        "CREATE TABLE webhooks", "CREATE TABLE audit", "CREATE TABLE outbox",
        "CREATE TABLE blob_refs", "CREATE TABLE idempotency_keys", "CREATE TABLE jobs",
        "CREATE TABLE uploads", "ADD COLUMN salt", "ADD COLUMN purged_at",
    };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        int s = store_sqlite_schema_step_of(tables[i]);
        if (s == 0 || s != store_pg_schema_step_of(tables[i]))
            TAP_FAIL("%s: sqlite step %d, postgresql step %d", tables[i], s,
                     store_pg_schema_step_of(tables[i]));
    }
}

TEST("the audit table refuses updates, deletes and truncation in postgresql")
{
    int s = store_pg_schema_step_of("CREATE TABLE audit");
    CHECK(s > 0);
    CHECK(store_pg_schema_step_of("BEFORE UPDATE ON audit") == s);
    CHECK(store_pg_schema_step_of("BEFORE DELETE ON audit") == s);
    CHECK(store_pg_schema_step_of("BEFORE TRUNCATE ON audit") == s);
}
