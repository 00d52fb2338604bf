/* One PostgreSQL connection with reconnection (storage/pg_conn.h). */
#include "storage/pg_conn.h"

#include <ctype.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Statements kept prepared per connection. The backend files have fewer
 * queries than this; a query past it still runs, parsed each time. */
#define STMT_CACHE 96
/* Longest pipeline: a request's writes, not a bulk load. */
#define PIPELINE_MAX 8

struct store_pg {
    PGconn *conn;
    char url_shown[STORE_PG_URL_MAX]; /* redacted, for messages */
    bool in_tx;
    bool tx_lost; /* the connection died inside the open transaction */
    /* The BEGIN of the open transaction while it is not sent yet: it
     * goes out with the transaction's first statement, in one round
     * trip (NULL once sent). */
    const char *begin_sql;
    char sqlstate[6];
    int64_t reconnects;
    int64_t trips; /* round trips to the server, for tests */
    struct {
        char *sql;
        char name[16];
    } cache[STMT_CACHE];
    int ncache;
};

bool store_pg_url_is_pg(const char *url)
{
    return url && (strncmp(url, "postgres://", 11) == 0 ||
                   strncmp(url, "postgresql://", 13) == 0);
}

/* Appends n bytes of s to out at *at, keeping room for the NUL. */
static void emit(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
    if (*at + 1 >= cap)
        return;
    size_t room = cap - 1 - *at;
    if (n > room)
        n = room;
    memcpy(out + *at, s, n);
    *at += n;
    out[*at] = '\0';
}

void store_pg_redact_url(const char *url, char *out, size_t cap)
{
    size_t at = 0;
    if (!cap)
        return;
    out[0] = '\0';
    if (!url)
        return;
    const char *p = strstr(url, "://");
    if (!p) {
        /* Not a URL: it may be anything, a password included. */
        emit(out, cap, &at, "***", 3);
        return;
    }
    p += 3;
    emit(out, cap, &at, url, (size_t)(p - url));
    size_t alen = strcspn(p, "/?#");
    const char *atsign = NULL;
    for (size_t i = 0; i < alen; i++)
        if (p[i] == '@')
            atsign = p + i;
    if (atsign) {
        size_t ulen = (size_t)(atsign - p);
        const char *colon = memchr(p, ':', ulen);
        if (colon) {
            emit(out, cap, &at, p, (size_t)(colon - p));
            emit(out, cap, &at, ":***", 4);
        } else {
            emit(out, cap, &at, p, ulen);
        }
        p = atsign;
    } else {
        /* No user part: host:port pairs. A "port" that is not digits is
         * no port libpq would take, but may be a password cut off before
         * its "@" (a mistyped or truncated URL): hidden too. */
        const char *end = p + alen;
        while (p < end) {
            if (*p == '[') { /* an IPv6 address holds colons of its own */
                size_t n = strcspn(p, "]");
                n = p + n < end ? n + 1 : (size_t)(end - p);
                emit(out, cap, &at, p, n);
                p += n;
                continue;
            }
            if (*p == ':') {
                size_t n = strcspn(p + 1, ",");
                if (p + 1 + n > end)
                    n = (size_t)(end - p - 1);
                bool digits = true;
                for (size_t i = 0; i < n; i++)
                    digits = digits && p[1 + i] >= '0' && p[1 + i] <= '9';
                if (!digits) {
                    emit(out, cap, &at, ":***", 4);
                    p += 1 + n;
                    continue;
                }
            }
            emit(out, cap, &at, p, 1);
            p++;
        }
    }
    /* The rest: host, path, query; a password= parameter is hidden. */
    while (*p) {
        bool boundary = p[0] == '?' || p[0] == '&';
        if (boundary && strncmp(p + 1, "password=", 9) == 0) {
            emit(out, cap, &at, p, 10);
            emit(out, cap, &at, "***", 3);
            p += 10;
            p += strcspn(p, "&#");
            continue;
        }
        emit(out, cap, &at, p, 1);
        p++;
    }
}

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* libpq's message for the connection, first line only. */
static void conn_reason(PGconn *c, char *out, size_t cap)
{
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    size_t n = strcspn(m, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, m, n);
    out[n] = '\0';
    if (!n)
        snprintf(out, cap, "unknown error");
}

fg_result store_pg_connect(const char *url, store_pg **out, fg_reason *r)
{
    char why[FG_REASON_MAX];
    store_pg *pg = NULL;
    fg_result rc = FG_OK;
    *out = NULL;
    if (!store_pg_url_is_pg(url))
        return fg_fail(r, FG_EUSAGE,
                       "FILIGRANE_DATABASE_URL must start with postgres:// or postgresql://");
    if (strlen(url) > STORE_PG_URL_MAX - 8)
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_DATABASE_URL is longer than %d bytes",
                       STORE_PG_URL_MAX - 8);
    if (!(pg = calloc(1, sizeof *pg)))
        return fg_fail(r, FG_EIO, "cannot connect to PostgreSQL: out of memory");
    store_pg_redact_url(url, pg->url_shown, sizeof pg->url_shown);
    /* Later keywords override earlier ones: the URL may set its own
     * connect_timeout, never the encoding or the time zone. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname",
                                "client_encoding", "options", NULL};
    const char *const vals[] = {STORE_PG_CONNECT_TIMEOUT, "filigrane", url, "UTF8",
                                "-c TimeZone=UTC -c lock_timeout=" STORE_PG_LOCK_TIMEOUT_MS,
                                NULL};
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        conn_reason(pg->conn, why, sizeof why);
        rc = fg_fail(r, FG_EIO, "cannot connect to PostgreSQL at %s: %s", pg->url_shown, why);
        goto out;
    }
    PQsetNoticeProcessor(pg->conn, quiet_notices, NULL);
    *out = pg;
    pg = NULL;
out:
    store_pg_free(pg);
    return rc;
}

static void forget_statements(store_pg *pg)
{
    for (int i = 0; i < pg->ncache; i++)
        free(pg->cache[i].sql);
    pg->ncache = 0;
}

void store_pg_free(store_pg *pg)
{
    if (!pg)
        return;
    if (pg->conn)
        PQfinish(pg->conn);
    forget_statements(pg);
    free(pg);
}

bool store_pg_in_tx(const store_pg *pg)
{
    return pg && pg->in_tx;
}

const char *store_pg_sqlstate(const store_pg *pg)
{
    return pg->sqlstate;
}

int64_t store_pg_reconnects(const store_pg *pg)
{
    return pg->reconnects;
}

int64_t store_pg_round_trips(const store_pg *pg)
{
    return pg->trips;
}

PGconn *store_pg_conn_ptr(store_pg *pg)
{
    return pg->conn;
}

/* Re-establishes a lost connection. Prepared statements died with the
 * old session. */
static bool reconnect(store_pg *pg)
{
    PQreset(pg->conn);
    forget_statements(pg);
    if (PQstatus(pg->conn) != CONNECTION_OK)
        return false;
    pg->reconnects++;
    return true;
}

static bool lost(const store_pg *pg)
{
    return PQstatus(pg->conn) != CONNECTION_OK;
}

/* An idle connection has nothing to read. If it has, the server sent its
 * last words (a restart's "terminating connection") and closed it: let
 * libpq read them, so the loss is known before a statement is sent. */
static void probe(store_pg *pg)
{
    for (int i = 0; i < 4 && !lost(pg); i++) {
        struct pollfd p = {.fd = PQsocket(pg->conn), .events = POLLIN};
        if (p.fd < 0 || poll(&p, 1, 0) <= 0)
            return;
        if (!PQconsumeInput(pg->conn))
            return;
    }
}

/* A statement that may run again after a loss in flight: it reads, or it
 * begins a transaction. A write whose reply was lost may have been
 * committed by the server; running it twice would count a download
 * twice or record an event twice. */
static bool repeatable(const char *sql)
{
    while (isspace((unsigned char)*sql))
        sql++;
    return strncasecmp(sql, "SELECT", 6) == 0 || strncasecmp(sql, "BEGIN", 5) == 0;
}

/* Maps a failed result (or its absence) to a code and a reason. */
static fg_result result_fail(store_pg *pg, const PGresult *res, const char *what,
                             fg_reason *r)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(pg->sqlstate, sizeof pg->sqlstate, "%s", state ? state : "");
    if (lost(pg))
        return fg_fail(r, FG_EIO, "cannot %s: connection to PostgreSQL lost", what);
    if (state && strcmp(state, "40001") == 0)
        return fg_fail(r, FG_EIO, "cannot %s: conflict, try again", what);
    if (state && (strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0))
        return fg_fail(r, FG_EIO, "cannot %s: conflict, try again", what);
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char why[FG_REASON_MAX];
    if (msg)
        snprintf(why, sizeof why, "%s", msg);
    else
        conn_reason(pg->conn, why, sizeof why);
    fg_result code = FG_EIO;
    if (state && strcmp(state, "23505") == 0)
        code = FG_ESTATE;
    else if (state && strcmp(state, "23503") == 0)
        code = FG_ENOTFOUND;
    return fg_fail(r, code, "cannot %s: %s", what, why);
}

/* The prepared name of sql, preparing it on first use; NULL when the
 * cache is full (the caller runs it unprepared) or preparing failed
 * (*res then holds the failed result). */
static const char *prepared(store_pg *pg, const char *sql, int nparams, PGresult **res)
{
    *res = NULL;
    for (int i = 0; i < pg->ncache; i++)
        if (strcmp(pg->cache[i].sql, sql) == 0)
            return pg->cache[i].name;
    if (pg->ncache == STMT_CACHE)
        return NULL;
    char name[16];
    snprintf(name, sizeof name, "fg%d", pg->ncache);
    pg->trips++;
    PGresult *p = PQprepare(pg->conn, name, sql, nparams, NULL);
    if (!p || PQresultStatus(p) != PGRES_COMMAND_OK) {
        *res = p;
        return NULL;
    }
    PQclear(p);
    char *copy = strdup(sql);
    if (!copy) {
        /* Prepared but not remembered: deallocate so the name is free. */
        char drop[32];
        snprintf(drop, sizeof drop, "DEALLOCATE %s", name);
        pg->trips++;
        PQclear(PQexec(pg->conn, drop));
        return NULL;
    }
    pg->cache[pg->ncache].sql = copy;
    snprintf(pg->cache[pg->ncache].name, sizeof pg->cache[pg->ncache].name, "%s", name);
    return pg->cache[pg->ncache++].name;
}

static bool good(const PGresult *res)
{
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* One attempt: prepared if possible, else a one-off parse. */
static PGresult *run_once(store_pg *pg, const char *sql, int nparams,
                          const char *const *params)
{
    PGresult *res = NULL;
    const char *name = prepared(pg, sql, nparams, &res);
    if (res)
        return res; /* preparing failed: that is the statement's error */
    if (name)
    pg->trips++;
    if (name)
        return PQexecPrepared(pg->conn, name, nparams, params, NULL, NULL, 0);
    return PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

static fg_result with_begin(store_pg *pg, int n, const char *const *sql, const int *nparam,
                            const char *const *const *params, PGresult **res, const char *what,
                            fg_reason *r);

fg_result store_pg_exec(store_pg *pg, const char *sql, int nparams,
                        const char *const *params, PGresult **res, const char *what,
                        fg_reason *r)
{
    PGresult *got = NULL;
    fg_result rc = FG_OK;
    if (res)
        *res = NULL;
    if (pg->in_tx && pg->tx_lost)
        return fg_fail(r, FG_EIO, "cannot %s: connection to PostgreSQL lost", what);
    if (pg->in_tx && pg->begin_sql) {
        const int np[] = {nparams};
        const char *const *pv[] = {params};
        rc = with_begin(pg, 1, &sql, np, pv, &got, what, r);
        if (rc == FG_OK) {
            if (res)
                *res = got;
            else
                PQclear(got);
        }
        return rc;
    }
    /* A connection found dead before the statement (the server restarted
     * while it was idle): outside a transaction nothing is lost by
     * reconnecting first, and the statement runs once, on the new one. */
    if (!pg->in_tx) {
        probe(pg);
        if (lost(pg) && !reconnect(pg))
            goto conn_fail;
    }
    got = run_once(pg, sql, nparams, params);
    if (!good(got) && lost(pg)) {
        if (pg->in_tx) {
            pg->tx_lost = true;
        } else if (repeatable(sql)) {
            /* Lost in flight outside a transaction: a read or a begin
             * runs again on a new connection. One retry, not a loop. */
            PQclear(got);
            got = NULL;
            if (!reconnect(pg))
                goto conn_fail;
            got = run_once(pg, sql, nparams, params);
        }
        /* A write lost in flight is reported, not repeated: the next
         * statement reconnects. */
    }
    if (!good(got)) {
        rc = result_fail(pg, got, what, r);
        PQclear(got);
        return rc;
    }
    pg->sqlstate[0] = '\0';
    if (res)
        *res = got;
    else
        PQclear(got);
    return FG_OK;
conn_fail : {
    char why[FG_REASON_MAX];
    conn_reason(pg->conn, why, sizeof why);
    snprintf(pg->sqlstate, sizeof pg->sqlstate, "08006");
    return fg_fail(r, FG_EIO, "cannot connect to PostgreSQL at %s: %s", pg->url_shown, why);
}
}

/* Runs n statements in one round trip (n <= PIPELINE_MAX + 1); res[i]
 * receive the results on success (all NULL on failure). */
static fg_result pipeline_run(store_pg *pg, int n, const char *const *sql, const int *nparam,
                              const char *const *const *params, PGresult **res,
                              const char *what, fg_reason *r)
{
    PGresult *got[PIPELINE_MAX + 1] = {NULL};
    fg_result rc = FG_OK;
    int sent = 0;
    /* Prepared first (once per connection, outside the pipeline): a
     * pipeline of unnamed statements parses and plans each one every
     * time, which cost more than the round trip it saved on loopback. */
    const char *names[PIPELINE_MAX + 1] = {NULL};
    for (int i = 0; i < n; i++) {
        PGresult *bad = NULL;
        names[i] = prepared(pg, sql[i], nparam[i], &bad);
        if (bad) {
            rc = result_fail(pg, bad, what, r);
            PQclear(bad);
            if (lost(pg))
                pg->tx_lost = true;
            return rc;
        }
    }
    if (!PQenterPipelineMode(pg->conn))
        return result_fail(pg, NULL, what, r);
    for (; sent < n; sent++) {
        int ok = names[sent] ? PQsendQueryPrepared(pg->conn, names[sent], nparam[sent],
                                                   params[sent], NULL, NULL, 0)
                             : PQsendQueryParams(pg->conn, sql[sent], nparam[sent], NULL,
                                                 params[sent], NULL, NULL, 0);
        if (!ok)
            break;
    }
    bool synced = PQpipelineSync(pg->conn) == 1;
    pg->trips++;
    if (sent < n || !synced)
        rc = result_fail(pg, NULL, what, r);
    /* Each statement's results end with a NULL; the sync ends the lot. */
    for (int i = 0; synced && i < sent; i++) {
        PGresult *x;
        while ((x = PQgetResult(pg->conn)) != NULL) {
            if (!got[i])
                got[i] = x;
            else
                PQclear(x);
        }
        if (rc == FG_OK && !good(got[i]))
            rc = result_fail(pg, got[i], what, r);
        if (lost(pg))
            synced = false;
    }
    while (synced) {
        PGresult *x = PQgetResult(pg->conn);
        if (!x) {
            if (lost(pg))
                break;
            continue;
        }
        ExecStatusType s = PQresultStatus(x);
        PQclear(x);
        if (s == PGRES_PIPELINE_SYNC)
            break;
    }
    PQexitPipelineMode(pg->conn);
    if (lost(pg))
        pg->tx_lost = true;
    if (rc == FG_OK)
        pg->sqlstate[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (rc == FG_OK)
            res[i] = got[i];
        else
            PQclear(got[i]);
        if (rc != FG_OK)
            res[i] = NULL;
    }
    return rc;
}

/* The open transaction's first statements, with its BEGIN in front of
 * them, in one round trip. Nothing of the transaction has reached the
 * server before, so a connection found dead first, or lost in flight,
 * costs nothing: a new connection, and the lot runs again (once). */
static fg_result with_begin(store_pg *pg, int n, const char *const *sql, const int *nparam,
                            const char *const *const *params, PGresult **res, const char *what,
                            fg_reason *r)
{
    const char *all[PIPELINE_MAX + 1];
    int np[PIPELINE_MAX + 1];
    const char *const *pv[PIPELINE_MAX + 1];
    PGresult *got[PIPELINE_MAX + 1] = {NULL};
    fg_result rc = FG_EIO;
    all[0] = pg->begin_sql;
    np[0] = 0;
    pv[0] = NULL;
    for (int i = 0; i < n; i++) {
        all[i + 1] = sql[i];
        np[i + 1] = nparam[i];
        pv[i + 1] = params[i];
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        probe(pg);
        if (lost(pg) && !reconnect(pg)) {
            char why[FG_REASON_MAX];
            conn_reason(pg->conn, why, sizeof why);
            snprintf(pg->sqlstate, sizeof pg->sqlstate, "08006");
            pg->tx_lost = true;
            return fg_fail(r, FG_EIO, "cannot connect to PostgreSQL at %s: %s", pg->url_shown,
                           why);
        }
        pg->tx_lost = false;
        rc = pipeline_run(pg, n + 1, all, np, pv, got, what, r);
        if (rc == FG_OK || !lost(pg))
            break;
    }
    if (rc == FG_OK) {
        pg->begin_sql = NULL;
        PQclear(got[0]);
        for (int i = 0; i < n; i++) {
            if (res)
                res[i] = got[i + 1];
            else
                PQclear(got[i + 1]);
        }
    } else if (!lost(pg)) {
        /* The BEGIN ran and a statement failed: the transaction is open,
         * and aborted, on the server. */
        pg->begin_sql = NULL;
    }
    return rc;
}

fg_result store_pg_pipeline(store_pg *pg, int n, const char *const *sql,
                            const int *nparam, const char *const *const *params,
                            PGresult **res, const char *what, fg_reason *r)
{
    PGresult *got[PIPELINE_MAX] = {NULL};
    if (!pg->in_tx)
        return fg_fail(r, FG_EUSAGE, "a pipeline runs inside a transaction");
    if (n < 1 || n > PIPELINE_MAX)
        return fg_fail(r, FG_EUSAGE, "a pipeline holds 1 to %d statements", PIPELINE_MAX);
    if (pg->tx_lost)
        return fg_fail(r, FG_EIO, "cannot %s: connection to PostgreSQL lost", what);
    fg_result rc = pg->begin_sql ? with_begin(pg, n, sql, nparam, params, got, what, r)
                                 : pipeline_run(pg, n, sql, nparam, params, got, what, r);
    for (int i = 0; i < n; i++) {
        if (res)
            res[i] = got[i];
        else
            PQclear(got[i]);
    }
    return rc;
}

fg_result store_pg_begin(store_pg *pg, bool write, fg_reason *r)
{
    if (pg->in_tx)
        return fg_fail(r, FG_EUSAGE, "a transaction is open already");
    /* Sent with the first statement (with_begin): one round trip less
     * per transaction, and a connection that died while idle is replaced
     * then, before anything of the transaction reached the server. */
    pg->tx_lost = false;
    pg->in_tx = true;
    pg->begin_sql = write ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    return FG_OK;
}

fg_result store_pg_commit(store_pg *pg, fg_reason *r)
{
    PGresult *res = NULL;
    if (!pg->in_tx)
        return fg_fail(r, FG_EUSAGE, "no transaction to commit");
    if (pg->begin_sql && !pg->tx_lost) {
        /* No statement ran: there is nothing on the server to commit. */
        pg->in_tx = false;
        pg->begin_sql = NULL;
        return FG_OK;
    }
    fg_result rc = store_pg_exec(pg, "COMMIT", 0, NULL, &res, "commit", r);
    /* COMMIT of a transaction that failed earlier "succeeds" as a
     * ROLLBACK: that is a failed commit. */
    if (rc == FG_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0)
        rc = fg_fail(r, FG_EIO, "cannot commit: the transaction had failed");
    PQclear(res);
    pg->in_tx = false;
    pg->tx_lost = false;
    pg->begin_sql = NULL;
    return rc;
}

void store_pg_rollback(store_pg *pg)
{
    if (!pg || !pg->in_tx)
        return;
    if (!pg->begin_sql && !pg->tx_lost && !lost(pg))
    {
        pg->trips++;
        PQclear(PQexec(pg->conn, "ROLLBACK"));
    }
    pg->in_tx = false;
    pg->tx_lost = false;
    pg->begin_sql = NULL;
}

bool store_pg_col(const PGresult *res, int row, int col, char *dst, size_t cap)
{
    const char *s = PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
    size_t n = (size_t)PQgetlength(res, row, col);
    if (PQgetisnull(res, row, col))
        n = 0;
    if (n >= cap)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

bool store_pg_col_i64(const PGresult *res, int row, int col, int64_t *out)
{
    *out = 0;
    if (PQgetisnull(res, row, col))
        return true;
    const char *s = PQgetvalue(res, row, col);
    char *end = NULL;
    if (!*s)
        return false;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return false;
    *out = (int64_t)v;
    return true;
}

const char *store_pg_i64(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}
