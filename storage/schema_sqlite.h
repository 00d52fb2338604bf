/* The SQLite schema as numbered migration steps (private to storage/). */
#ifndef STORE_SCHEMA_SQLITE_H
#define STORE_SCHEMA_SQLITE_H

#include <sqlite3.h>

#include "common/result.h"

/* The highest step this program knows. */
int store_sqlite_schema_latest(void);

/* Applies every step above the database's schema_version, in order, in
 * one BEGIN IMMEDIATE transaction (all or none; a second process opening
 * at the same time waits, then finds nothing left to do). FG_ECORRUPT if
 * the database is at a step newer than this program, FG_EIO otherwise. */
FG_MUST_CHECK fg_result store_sqlite_migrate(sqlite3 *db, fg_reason *r);

#endif
