/* The SQLite schema as numbered migration steps (private to storage/). */
#ifndef STORE_SCHEMA_SQLITE_H
#define STORE_SCHEMA_SQLITE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/result.h"

/* The highest step this program knows. */
int store_sqlite_schema_latest(void);

/* Applies every step above the database's schema_version, in order, in
 * one BEGIN IMMEDIATE transaction (all or none; a second process opening
 * at the same time waits, then finds nothing left to do). FG_ECORRUPT if
 * the database is at a step newer than this program, FG_EIO otherwise. */
FG_MUST_CHECK fg_result store_sqlite_migrate(sqlite3 *db, fg_reason *r);

/* As store_sqlite_migrate, but stops at step target (a database at a
 * later step is left alone): for tests of a step's migration of existing
 * rows. FG_EUSAGE for a step this program does not know. */
FG_MUST_CHECK fg_result store_sqlite_migrate_to(sqlite3 *db, int target,
                                                fg_reason *r);

/* The first step whose SQL holds fragment, 0 if none: lets a test find
 * the step it is about whatever steps are added around it. */
int store_sqlite_schema_step_of(const char *fragment);

/* Step 9's C part (storage/audit_migrate_sqlite.c): moves the rows of
 * audit_v1 (the global chain) into per-order chains in audit, with their
 * heads and a first checkpoint that records the old chain's last hash.
 * Verifies the old chain first; a broken one is still moved (refusing
 * would leave the service unable to start on its own data), but the
 * checkpoint records where it broke, audit_v1 is kept for inspection,
 * and `filigrane audit verify` reports it from then on. FG_EIO if the
 * database fails. */
FG_MUST_CHECK fg_result store_sqlite_audit_rechain(sqlite3 *db, fg_reason *r);

/* The SQLite connection behind a handle opened by store_meta_open_sqlite
 * (storage/meta_sqlite.c), for the backend files beside it
 * (storage/jobs_sqlite.c). Borrowed: valid until store_meta_free. */
struct store_meta;
sqlite3 *store_sqlite_db(struct store_meta *m);

/* For the SQLite backend files: FG_EIO "cannot WHAT: <SQLite's message>"
 * for handle m. */
FG_MUST_CHECK fg_result store_sqlite_fail(struct store_meta *m, const char *what,
                                          fg_reason *r);

/* The outbox claim and release of store_sqlite_job_ops (jobs_impl.h),
 * written in storage/meta_sqlite.c beside the other outbox queries. */
struct store_outbox_list;
fg_result store_sqlite_outbox_claim(struct store_meta *m, int64_t now, int64_t until,
                                    size_t limit, struct store_outbox_list *out,
                                    fg_reason *r);
fg_result store_sqlite_outbox_release(struct store_meta *m, int64_t id, int64_t until,
                                      int64_t now, bool *released, fg_reason *r);

/* Copies text column i of st into dst (cap bytes). False when the value
 * does not fit: it cannot have been written through this interface, the
 * file was altered. NULL reads as "". Can't fail otherwise. */
bool store_sqlite_col(sqlite3_stmt *st, int i, char *dst, size_t cap);

#endif
