/* Temp directories for the storage tests: a fresh one per test, removed
 * with everything in it. Header-only, for tests only. With
 * tests/unit/tap.h included first, also a whole store per test (struct db),
 * on either engine.
 *
 * Both engines: a test written with DB_TEST instead of TEST runs once on
 * SQLite and, when FILIGRANE_TEST_DATABASE_URL names a PostgreSQL server
 * (tests/run.sh starts one for the whole run), once more on PostgreSQL;
 * its TAP line says which ("... (sqlite)", "... (postgresql)"). db_open
 * then gives each run a fresh store: a new SQLite file, or a new database
 * (CREATE DATABASE with a random name, dropped by db_close), so tests
 * never see each other's rows. Without the variable only the SQLite run is
 * registered: nothing is skipped silently in a run that has a server. */
#ifndef STORE_TMP_H
#define STORE_TMP_H

/* The including file defines _GNU_SOURCE first (nftw, mkdtemp). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tmp_rm_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Makes a new directory under $TMPDIR (or /tmp) into dir. */
static inline int tmp_dir_make(char dir[256])
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, 256, "%s/fg-store-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static inline void tmp_dir_remove(const char *dir)
{
    nftw(dir, tmp_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#ifdef TAP_H
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/random.h>

#include "storage/meta.h"

#define DB_URL_ENV "FILIGRANE_TEST_DATABASE_URL"

enum db_engine { DB_SQLITE, DB_POSTGRESQL };

/* The engine of the test running now (set by DB_TEST's wrappers; a plain
 * TEST runs on SQLite). */
static enum db_engine db_engine __attribute__((unused)) = DB_SQLITE;

static inline const char *db_engine_name(void)
{
    return db_engine == DB_POSTGRESQL ? "postgresql" : "sqlite";
}

/* Registers body as two cases: on SQLite always, on PostgreSQL when the
 * variable is set (read before main, as the cases are registered). */
#define DB_TEST(title)                                                         \
    static void TAP_CAT(dbt_, __LINE__)(void);                                 \
    static void TAP_CAT(dbt_sq_, __LINE__)(void)                               \
    {                                                                          \
        db_engine = DB_SQLITE;                                                 \
        TAP_CAT(dbt_, __LINE__)();                                             \
    }                                                                          \
    static void TAP_CAT(dbt_pg_, __LINE__)(void)                               \
    {                                                                          \
        db_engine = DB_POSTGRESQL;                                             \
        TAP_CAT(dbt_, __LINE__)();                                             \
        db_engine = DB_SQLITE;                                                 \
    }                                                                          \
    __attribute__((constructor)) static void TAP_CAT(dbreg_, __LINE__)(void)   \
    {                                                                          \
        const char *u_ = getenv(DB_URL_ENV);                                   \
        if (tap_ncases < TAP_MAX_CASES)                                        \
            tap_cases[tap_ncases++] =                                          \
                (struct tap_case){title " (sqlite)", TAP_CAT(dbt_sq_, __LINE__)}; \
        else                                                                   \
            tap_dropped++;                                                     \
        if (!u_ || !*u_)                                                       \
            return;                                                            \
        if (tap_ncases < TAP_MAX_CASES)                                        \
            tap_cases[tap_ncases++] = (struct tap_case){                       \
                title " (postgresql)", TAP_CAT(dbt_pg_, __LINE__)};            \
        else                                                                   \
            tap_dropped++;                                                     \
    }                                                                          \
    static void TAP_CAT(dbt_, __LINE__)(void)

/* A test of PostgreSQL's own behaviour (row locks, SKIP LOCKED):
 * registered only when the variable is set, as "... (postgresql)". */
#define PG_TEST(title)                                                         \
    static void TAP_CAT(pgt_, __LINE__)(void);                                 \
    static void TAP_CAT(pgt_run_, __LINE__)(void)                              \
    {                                                                          \
        db_engine = DB_POSTGRESQL;                                             \
        TAP_CAT(pgt_, __LINE__)();                                             \
        db_engine = DB_SQLITE;                                                 \
    }                                                                          \
    __attribute__((constructor)) static void TAP_CAT(pgreg_, __LINE__)(void)   \
    {                                                                          \
        const char *u_ = getenv(DB_URL_ENV);                                   \
        if (!u_ || !*u_)                                                       \
            return;                                                            \
        if (tap_ncases < TAP_MAX_CASES)                                        \
            tap_cases[tap_ncases++] =                                          \
                (struct tap_case){title " (postgresql)", TAP_CAT(pgt_run_, __LINE__)}; \
        else                                                                   \
            tap_dropped++;                                                     \
    }                                                                          \
    static void TAP_CAT(pgt_, __LINE__)(void)

/* A metadata store on a fresh SQLite file or PostgreSQL database, with
 * its own temp directory (dir) either way, for the tests of the store and
 * of what is built on it. The including test includes tests/unit/tap.h
 * first (db_open fails the test on error). */
struct db {
    char dir[256];
    char path[300];    /* the SQLite file; "" on PostgreSQL */
    char url[1024];    /* the PostgreSQL database's URL; "" on SQLite */
    char dbname[64];   /* the database db_close drops */
    enum db_engine engine;
    store_meta *m;
};

/* The server's URL with its path (the database name) replaced by dbname:
 * postgres://user:password@host:port/NAME?query. False if it does not
 * fit or has no host part. */
static inline int db_url_with(const char *base, const char *dbname, char *out, size_t cap)
{
    const char *p = strstr(base, "://");
    if (!p)
        return 0;
    p += 3;
    size_t host = strcspn(p, "/?");
    const char *query = strchr(p + host, '?');
    int n = snprintf(out, cap, "%.*s/%s%s", (int)(p + host - base), base, dbname,
                     query ? query : "");
    return n > 0 && (size_t)n < cap;
}

/* Runs sql on the server's own database (the URL as given), where
 * databases are made and dropped. 0 on success. */
static inline int db_admin(const char *sql, char *err, size_t cap)
{
    PGconn *c = PQconnectdb(getenv(DB_URL_ENV));
    int ok = 0;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *res = PQexec(c, sql);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, cap, "%s", PQresultErrorMessage(res));
        PQclear(res);
    } else {
        snprintf(err, cap, "%s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

static inline void db_open(struct db *d)
{
    fg_reason r = {""};
    char err[512] = "", sql[128];
    unsigned char rnd[6];
    memset(d, 0, sizeof *d);
    d->engine = db_engine;
    CHECK(tmp_dir_make(d->dir) == 0);
    if (d->engine == DB_SQLITE) {
        snprintf(d->path, sizeof d->path, "%s/meta.db", d->dir);
        if (store_meta_open_sqlite(d->path, &d->m, &r) != FG_OK)
            TAP_FAIL("open: %s", r.text);
        return;
    }
    CHECK(getrandom(rnd, sizeof rnd, 0) == (ssize_t)sizeof rnd);
    snprintf(d->dbname, sizeof d->dbname, "fg_test_%d_%02x%02x%02x%02x%02x%02x", (int)getpid(),
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    CHECK(db_url_with(getenv(DB_URL_ENV), d->dbname, d->url, sizeof d->url));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", d->dbname);
    if (db_admin(sql, err, sizeof err) != 0) {
        d->dbname[0] = '\0';
        TAP_FAIL("create a test database: %s", err);
    }
    if (store_meta_open_url(d->url, d->dir, &d->m, &r) != FG_OK)
        TAP_FAIL("open: %s", r.text);
}

/* Another handle on d's store (as another thread, process or node would
 * open): the caller frees it (store_meta_free). */
static inline store_meta *db_handle(struct db *d)
{
    fg_reason r = {""};
    store_meta *m = NULL;
    fg_result rc = d->engine == DB_SQLITE ? store_meta_open_sqlite(d->path, &m, &r)
                                          : store_meta_open_url(d->url, d->dir, &m, &r);
    if (rc != FG_OK)
        TAP_FAIL("open another handle: %s", r.text);
    return m;
}

/* Runs sql (statements both engines read alike) on d's store behind the
 * interface's back, as an operator or an attacker with the database
 * would: for tests that set up states the interface cannot make. Fails
 * the test on error. */
static inline void db_exec(struct db *d, const char *sql)
{
    if (d->engine == DB_SQLITE) {
        sqlite3 *db = NULL;
        char *err = NULL;
        CHECK(sqlite3_open(d->path, &db) == SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", err ? err : "?");
            sqlite3_free(err);
            sqlite3_close(db);
            TAP_FAIL("%s: %s", sql, msg);
        }
        sqlite3_close(db);
        return;
    }
    PGconn *c = PQconnectdb(d->url);
    PGresult *res = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        TAP_FAIL("%s: %s", sql, msg);
}

/* A plain libpq connection to d's PostgreSQL database, beside the store's
 * handles, for a test that holds row locks itself (PQfinish it). */
static inline PGconn *db_raw_pg(struct db *d)
{
    PGconn *c = PQconnectdb(d->url);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        PQfinish(c);
        TAP_FAIL("connect: %s", msg);
    }
    return c;
}

/* Runs sql on c; fails the test unless it succeeds. */
static inline void db_raw_exec(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(res);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(res));
    PQclear(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        TAP_FAIL("%s: %s", sql, msg);
}

/* Sets a server setting for every later connection to d's database
 * (ALTER DATABASE ... SET), e.g. lock_timeout, so that a statement that
 * should never wait fails instead of hanging the test. */
static inline void db_pg_setting(struct db *d, const char *name, const char *value)
{
    char sql[256], err[512] = "";
    snprintf(sql, sizeof sql, "ALTER DATABASE %s SET %s = '%s'", d->dbname, name, value);
    if (db_admin(sql, err, sizeof err) != 0)
        TAP_FAIL("%s: %s", sql, err);
}

static inline void db_close(struct db *d)
{
    char err[512], sql[128];
    store_meta_free(d->m);
    d->m = NULL;
    tmp_dir_remove(d->dir);
    if (d->engine == DB_POSTGRESQL && d->dbname[0]) {
        /* FORCE: a handle a failed test left open does not keep it. */
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", d->dbname);
        if (db_admin(sql, err, sizeof err) != 0)
            fprintf(stderr, "# cannot drop %s: %s", d->dbname, err);
        d->dbname[0] = '\0';
    }
}
#endif

#endif
