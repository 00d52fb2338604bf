/* The worker's configuration, from the environment.
 *
 *   FILIGRANE_PORT                nginx's port on 127.0.0.1       8080
 *   FILIGRANE_DATA                data directory                  ./var
 *   FILIGRANE_JWT_SECRET          HS256 key, >= 32 bytes, not weak required
 *   FILIGRANE_WEBHOOK_SECRET      whsec_<base64>, not weak        required
 *   FILIGRANE_MARK_KEY            key of the previews' mark       required
 *                                 placement, >= 32 bytes, not weak
 *   FILIGRANE_SOCKET              FastCGI unix socket     $DATA/run/fcgi.sock
 *   FILIGRANE_THREADS             request threads                 4
 *   FILIGRANE_MAX_FILE_BYTES      largest delivered file          2G
 *   FILIGRANE_MAX_FILES           files per delivery              50
 *   FILIGRANE_MAX_DELIVERY_BYTES  largest upload body             4G
 *   FILIGRANE_MARK_TEXT           watermark template   PREVIEW · {buyer} · {order}
 *   FILIGRANE_CLI                 the CLI run for stamping  filigrane beside
 *                                                           the worker binary
 *   FILIGRANE_LOG_LEVEL           error, warn, info, debug        info
 *   FILIGRANE_EVENTS_URL          where events are POSTed (http or https)
 *                                 unset: events are recorded, not sent
 *   FILIGRANE_EVENTS_RETRY_SCALE  divides the retry schedule (tests)  1
 *   FILIGRANE_METRICS_TOKEN       bearer token of /metrics, 16 to 256
 *                                 visible ASCII bytes  unset: /metrics 403
 *   FILIGRANE_USER                the user a worker started as root
 *                                 becomes                         filigrane
 *   FILIGRANE_JWT_MAX_TTL         longest token lifetime accepted  30d
 *                                 (seconds, or s, m, h, d suffix)
 *   FILIGRANE_UPLOAD_EXPIRY       a tus upload untouched this long 24h
 *                                 expires (duration, 1s .. 30d)
 *   FILIGRANE_DATABASE_URL        the metadata store: PostgreSQL at a
 *                                 postgres:// or postgresql:// URL
 *                                 unset: SQLite at $DATA/filigrane.db
 *
 * A variable set to the empty string counts as unset. Numbers are decimal
 * integers, byte sizes may end in K, M or G (powers of 1024); anything else,
 * or a value out of range, is refused with a reason naming the variable.
 * Secret values never appear in a reason or in fcgi_config_describe. */
#ifndef FCGI_CONFIG_H
#define FCGI_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/result.h"
#include "fcgi/log.h"
#include "fcgi/multipart.h"
#include "fcgi/webhook_sig.h"

#define FCGI_RUN_USER_MAX 32
#define FCGI_METRICS_TOKEN_MIN 16
#define FCGI_METRICS_TOKEN_MAX 256
/* Longest FILIGRANE_DATABASE_URL (storage/pg_conn.h takes this much). */
#define FCGI_DATABASE_URL_MAX 1000

struct fcgi_config {
    int port;
    char data[PATH_MAX];   /* absolute */
    char socket[FG_WORKER_SOCKET_PATH_MAX + 1];
    int threads;
    char *jwt_secret;      /* heap; wiped by release */
    struct fcgi_webhook_key webhook_key;
    struct fcgi_upload_limits upload;
    char mark_template[FG_MAX_MARK_TEXT + 1]; /* the previews' watermark */
    char *mark_key;        /* heap; wiped by release (watermark/options.h) */
    char cli[PATH_MAX];
    enum fcgi_log_level log_level;
    char events_url[FG_MAX_EVENTS_URL + 1]; /* "" when unset */
    int events_retry_scale;                 /* 1 .. FG_EVENTS_RETRY_SCALE_MAX */
    char *metrics_token;                    /* heap, wiped; NULL when unset */
    char run_user[FCGI_RUN_USER_MAX + 1];   /* used only when started as root */
    long long jwt_max_ttl;                  /* seconds, 1 .. FG_JWT_MAX_TTL_LIMIT */
    long long idem_ttl; /* Idempotency-Key lifetime, seconds, 1 .. FG_IDEM_TTL_LIMIT */
    long long upload_expiry; /* tus: seconds of inactivity, 1 .. FG_UPLOAD_EXPIRY_LIMIT */
    char *database_url; /* heap, wiped: may hold a password; NULL: SQLite */
};

/* Reads the environment into cfg, and removes FILIGRANE_MARK_KEY from it
 * (the stamping children need only the seed). On failure FG_EUSAGE (a missing or bad
 * setting, named in the reason) or FG_EIO (out of memory, no current
 * directory), and cfg holds nothing to release. On FG_OK release cfg with
 * fcgi_config_release. Not thread-safe (getenv): call once at start. */
FG_MUST_CHECK fg_result fcgi_config_load(struct fcgi_config *cfg /* out */,
                                         fg_reason *r);

/* True when a secret (its bytes; for a whsec_ secret, the decoded key)
 * carries too little entropy to be one: fewer than FG_SECRET_MIN_DISTINCT
 * distinct byte values, or FG_SECRET_MAX_RUN equal bytes in a row
 * (32 x "a", an all-zero key, "aaaaaaaaaaaaaaaaaaaaaaaa12345678"). A random
 * secret of the accepted lengths fails this about once in 10^7 draws (hex)
 * and far less often as bytes. Can't fail. */
bool fcgi_secret_weak(const unsigned char *s, size_t n);

/* Wipes the secrets and frees. Accepts NULL. Can't fail. */
void fcgi_config_release(struct fcgi_config *cfg);

/* Writes one "name=value" line per setting to f, secrets as "(set)".
 * Can't fail (write errors are ignored: this is a log). */
void fcgi_config_describe(const struct fcgi_config *cfg, FILE *f);

/* "error", "warn", "info", "debug". Can't fail. */
const char *fcgi_log_level_name(enum fcgi_log_level l);

#endif
