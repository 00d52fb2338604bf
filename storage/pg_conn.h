/* One PostgreSQL connection (libpq) with reconnection, for the PostgreSQL
 * backend files of storage/ (meta_pg.c, jobs_pg.c, uploads_pg.c).
 *
 * A store_pg belongs to one thread, as the store_meta handle around it
 * (storage/meta.h): libpq connections are not shared between threads.
 *
 * Reconnection: when the server goes away (restart, failover, an idle
 * connection cut), a statement outside a transaction reconnects once and
 * runs:
 * - a connection found dead before the statement is sent (the server
 *   closed it while idle: a restart) is replaced first, and the statement
 *   runs once, on the new one;
 * - a connection lost while the statement was in flight: a read (SELECT)
 *   or a BEGIN runs again on a new connection; a write fails with FG_EIO
 *   "connection to PostgreSQL lost", because the server may have committed
 *   it before the reply was lost, and running it twice would count a
 *   download or record an event twice. The next statement reconnects.
 * Inside a transaction the work before the loss is gone with it: the
 * statement fails with FG_EIO and the caller's transaction is over
 * (store_pg_rollback, then a new begin reconnects).
 *
 * Errors map to the program's codes from the SQLSTATE:
 *   23505 unique_violation           FG_ESTATE
 *   23503 foreign_key_violation      FG_ENOTFOUND
 *   40001 serialization_failure,
 *   40P01 deadlock_detected,
 *   55P03 lock_not_available         FG_EIO "conflict, try again"
 *   anything else                    FG_EIO "cannot WHAT: <server message>"
 * An error inside a transaction aborts it in PostgreSQL (every later
 * statement fails with 25P02 until the rollback): a backend writes its
 * SQL so that expected outcomes (a duplicate id, an unknown order) are not
 * errors (ON CONFLICT DO NOTHING, INSERT ... SELECT ... WHERE EXISTS) and
 * tells them apart by the rows returned.
 *
 * Secrets: the URL's password is never printed. store_pg_redact_url gives
 * the form every message uses, postgres://user:***@host:port/db. */
#ifndef STORE_PG_CONN_H
#define STORE_PG_CONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/result.h"

typedef struct store_pg store_pg;

/* Room for a redacted URL (the longest accepted URL plus "***"). */
#define STORE_PG_URL_MAX 1024

/* Seconds libpq waits for a connection (also on each reconnect), unless
 * the URL says connect_timeout itself. */
#define STORE_PG_CONNECT_TIMEOUT "10"

/* Milliseconds a statement waits for a row lock (lock_timeout) before it
 * fails as a conflict to try again: as SQLite's busy timeout, long enough
 * for a writer of the same order to finish its transaction, short enough
 * that a stuck lock surfaces as an error, not a hung request. */
#define STORE_PG_LOCK_TIMEOUT_MS "5000"

/* True if url starts with postgres:// or postgresql://. Can't fail. */
bool store_pg_url_is_pg(const char *url);

/* Writes url into out (cap bytes) with its password replaced by "***",
 * both the user:password@ form and a password= query parameter. A URL too
 * long for out is cut (it is for messages only). Can't fail. */
void store_pg_redact_url(const char *url, char *out, size_t cap);

/* Connects to url (postgres:// or postgresql://, libpq's URI syntax).
 * Sessions run with client_encoding UTF8, TimeZone UTC, lock_timeout
 * STORE_PG_LOCK_TIMEOUT_MS (these three whatever the URL says) and
 * libpq's notices silenced. FG_EUSAGE for a URL that is not postgres:// or is
 * over STORE_PG_URL_MAX - 8 bytes; FG_EIO "cannot connect to PostgreSQL
 * at <redacted url>: <libpq's reason>" otherwise. On success *out is the
 * caller's (store_pg_free); on failure *out is NULL. */
FG_MUST_CHECK fg_result store_pg_connect(const char *url, store_pg **out /* out */,
                                         fg_reason *r);

/* Closes the connection (an open transaction is rolled back by the
 * server). Accepts NULL. */
void store_pg_free(store_pg *pg);

/* Runs sql with nparams text parameters ($1..$n; a NULL entry is SQL
 * NULL). Statements are prepared once per connection and kept (keyed by
 * their text), so a hot query is parsed and planned once.
 * On success, if res is not NULL, *res is the result (PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK), the caller's to PQclear; with res NULL it is freed
 * here. On failure *res is NULL and the code follows the table above;
 * the reason is "cannot WHAT: ..." with what = the `what` argument.
 * Reconnects as described above. */
FG_MUST_CHECK fg_result store_pg_exec(store_pg *pg, const char *sql, int nparams,
                                      const char *const *params,
                                      PGresult **res /* out */, const char *what,
                                      fg_reason *r);

/* Runs the n statements sql[i] (with nparam[i] parameters params[i]) in one
 * round trip (libpq pipeline mode), in order, inside the open transaction:
 * the server runs each after the previous one ended, so a later
 * statement's snapshot sees what an earlier one waited for (a row lock).
 * res[i] (n entries, may be NULL) receive the results, the caller's to
 * PQclear. The first failure stops the pipeline: its code as for
 * store_pg_exec, every res[i] NULL. FG_EUSAGE outside a transaction (a
 * pipeline cannot be retried after a reconnect) or for n over 8. */
FG_MUST_CHECK fg_result store_pg_pipeline(store_pg *pg, int n, const char *const *sql,
                                          const int *nparam,
                                          const char *const *const *params,
                                          PGresult **res /* out */, const char *what,
                                          fg_reason *r);

/* Transactions. begin: write (READ COMMITTED "BEGIN") or read ("BEGIN
 * ISOLATION LEVEL REPEATABLE READ READ ONLY"). It sends nothing: the BEGIN
 * goes out with the transaction's first statement (or pipeline), in the
 * same round trip; a connection found dead then, or lost in flight, is
 * replaced and the lot runs again, since nothing of the transaction had
 * reached the server. begin fails only with FG_EUSAGE (one is open).
 * commit: FG_EIO if the server refused (the transaction is over either
 * way); a transaction that ran no statement commits without a round trip.
 * rollback: can't fail, and does nothing when no transaction is open. */
FG_MUST_CHECK fg_result store_pg_begin(store_pg *pg, bool write, fg_reason *r);
FG_MUST_CHECK fg_result store_pg_commit(store_pg *pg, fg_reason *r);
void store_pg_rollback(store_pg *pg);
bool store_pg_in_tx(const store_pg *pg);

/* The SQLSTATE of the last failed statement ("" after a success). */
const char *store_pg_sqlstate(const store_pg *pg);

/* How many times this connection was re-established (for tests and
 * logs). Can't fail. */
int64_t store_pg_reconnects(const store_pg *pg);

/* How many round trips this connection made to the server (statements,
 * pipelines, first preparations), for tests that hold a request to its
 * cost. Can't fail. */
int64_t store_pg_round_trips(const store_pg *pg);

/* The libpq connection, borrowed (valid until store_pg_free or the next
 * call that may reconnect). For tests (a backend pid to terminate). */
PGconn *store_pg_conn_ptr(store_pg *pg);

/* Helpers for reading results. */

/* Copies text value (row, col) of res into dst (cap bytes); NULL reads
 * as "". False when it does not fit: the row could not have been written
 * through the store's interface. Can't fail otherwise. */
bool store_pg_col(const PGresult *res, int row, int col, char *dst, size_t cap);

/* Value (row, col) as an integer (NULL reads as 0). False if it is not a
 * decimal integer. */
bool store_pg_col_i64(const PGresult *res, int row, int col, int64_t *out /* out */);

/* Formats v in decimal into buf (24 bytes) and returns buf, for a text
 * parameter. Can't fail. */
const char *store_pg_i64(char buf[24], int64_t v);

#endif
