/* The worker's configuration, from the environment.
 *
 *   FILIGRANE_PORT                nginx's port on 127.0.0.1       8080
 *   FILIGRANE_DATA                data directory                  ./var
 *   FILIGRANE_JWT_SECRET          HS256 key, >= 32 bytes, not weak required
 *   FILIGRANE_JWT_SECRETS         kid:secret ... (fcgi/keys.h)    (one of the two)
 *   FILIGRANE_JWT_AUDIENCE        the aud tokens must carry       unset: unchecked
 *   FILIGRANE_WEBHOOK_SECRET      whsec_<base64>, not weak        required
 *   FILIGRANE_WEBHOOK_SECRETS     more whsec_ keys, all accepted  (one of the two)
 *   FILIGRANE_EVENTS_SECRET       whsec_ key of outgoing events   the first
 *                                                                 webhook key
 *   FILIGRANE_LOG_FILE            the log, reopened on SIGHUP     unset: stderr
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
 *                                 (fcgi/keys.h)
 *   FILIGRANE_USER                the user a worker started as root
 *                                 becomes                         filigrane
 *   FILIGRANE_JWT_MAX_TTL         longest token lifetime accepted  30d
 *                                 (seconds, or s, m, h, d suffix)
 *   FILIGRANE_UPLOAD_EXPIRY       a tus upload untouched this long 24h
 *                                 expires (duration, 1s .. 30d)
 *   FILIGRANE_SCRATCH             local scratch: stamping, upload  $DATA/tmp
 *                                 parts, local copies of S3 blobs
 *   FILIGRANE_S3_ENDPOINT         http(s)://host[:port] of an S3   unset: blobs
 *                                 server                           in $DATA
 *   FILIGRANE_S3_BUCKET           the bucket (3..63 of a-z 0-9 . -) required with S3
 *   FILIGRANE_S3_REGION           signing region                  us-east-1
 *   FILIGRANE_S3_ACCESS_KEY_ID    key id (1..128 of A-Z a-z 0-9)  required with S3
 *   FILIGRANE_S3_SECRET_ACCESS_KEY  the secret, or                 required with S3
 *   FILIGRANE_S3_SECRET_ACCESS_KEY_FILE  a file holding it (one of the two)
 *   FILIGRANE_S3_ADDRESSING       path or virtual                 path
 *   FILIGRANE_S3_PRESIGN_SECONDS  validity of a download's        300
 *                                 presigned URL (1 .. 604800)
 *   FILIGRANE_S3_PART_SIZE        multipart part size (5M .. 5G)  64M
 *   FILIGRANE_READY_MIN_FREE      /readyz fails when the data or  1G
 *                                 scratch directory has less free
 *   FILIGRANE_READY_MAX_OUTBOX_LAG  /readyz fails when an event    15m
 *                                 has waited longer than this to be sent
 *   FILIGRANE_DATABASE_URL        the metadata store: PostgreSQL at a
 *                                 postgres:// or postgresql:// URL
 *                                 unset: SQLite at $DATA/filigrane.db
 *
 * Every secret (FILIGRANE_JWT_SECRET(S), _WEBHOOK_SECRET(S),
 * _EVENTS_SECRET, _METRICS_TOKEN, _MARK_KEY, _DATABASE_URL,
 * _S3_SECRET_ACCESS_KEY) may instead come from the file its NAME_FILE
 * names: not both, a regular file of mode 0600 or 0400 (nothing for group
 * or others), its final newline dropped. The rotating ones (fcgi/keys.h)
 * are read again on SIGHUP.
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
#include "fcgi/keys.h"
#include "fcgi/log.h"
#include "fcgi/multipart.h"
#include "fcgi/webhook_sig.h"
#include "storage/blob.h"

#define FCGI_RUN_USER_MAX 32
#define FCGI_S3_ENDPOINT_MAX 255
#define FCGI_S3_BUCKET_MAX 63
#define FCGI_S3_REGION_MAX 32
#define FCGI_S3_KEY_ID_MAX 128
#define FCGI_S3_SECRET_MAX 256
#define FCGI_SECRET_FILE_MAX 4096 /* a secret file longer than this is not one */

/* Where blobs live (storage/blob.h): the settings both the worker and the
 * CLI read. The S3 ones are all "" (and s3_secret NULL) when
 * FILIGRANE_S3_ENDPOINT is unset. */
struct fcgi_blob_env {
    char scratch[PATH_MAX];                      /* absolute */
    char s3_endpoint[FCGI_S3_ENDPOINT_MAX + 1];  /* "" when unset */
    char s3_bucket[FCGI_S3_BUCKET_MAX + 1];
    char s3_region[FCGI_S3_REGION_MAX + 1];
    char s3_access_key_id[FCGI_S3_KEY_ID_MAX + 1];
    char *s3_secret;                             /* heap; wiped by release */
    char s3_secret_file[PATH_MAX];               /* "" unless read from a file */
    bool s3_virtual;
    long long s3_presign_seconds;
    long long s3_part_size;                      /* 0 when S3 is not used */
};
/* Longest FILIGRANE_DATABASE_URL (storage/pg_conn.h takes this much). */
#define FCGI_DATABASE_URL_MAX 1000

struct fcgi_config {
    int port;
    char data[PATH_MAX];   /* absolute */
    char socket[FG_WORKER_SOCKET_PATH_MAX + 1];
    int threads;
    /* FILIGRANE_JWT_SECRET(S), _WEBHOOK_SECRET(S), _EVENTS_SECRET and the
     * signing keys (fcgi/keys.h): where they come from, and the current
     * set, swapped on SIGHUP. The signing part is empty until the worker
     * loads it (after dropping root). */
    struct fcgi_key_sources key_sources;
    fcgi_keyring *keys;
    char jwt_audience[FCGI_JWT_AUDIENCE_MAX + 1]; /* "" when unset */
    char log_file[PATH_MAX]; /* FILIGRANE_LOG_FILE, absolute; "" when unset */
    struct fcgi_upload_limits upload;
    char mark_template[FG_MAX_MARK_TEXT + 1]; /* the previews' watermark */
    char *mark_key;        /* heap; wiped by release (watermark/options.h) */
    char cli[PATH_MAX];
    enum fcgi_log_level log_level;
    bool log_json;                          /* FILIGRANE_LOG_FORMAT=json */
    char events_url[FG_MAX_EVENTS_URL + 1]; /* "" when unset */
    int events_retry_scale;                 /* 1 .. FG_EVENTS_RETRY_SCALE_MAX */
    char run_user[FCGI_RUN_USER_MAX + 1];   /* used only when started as root */
    long long jwt_max_ttl;                  /* seconds, 1 .. FG_JWT_MAX_TTL_LIMIT */
    long long idem_ttl; /* Idempotency-Key lifetime, seconds, 1 .. FG_IDEM_TTL_LIMIT */
    long long upload_expiry; /* tus: seconds of inactivity, 1 .. FG_UPLOAD_EXPIRY_LIMIT */
    long long link_max_ttl;  /* FILIGRANE_LINK_MAX_TTL: seconds, 1 .. FG_LINK_MAX_TTL_LIMIT */
    struct fcgi_blob_env blob;  /* FILIGRANE_SCRATCH, FILIGRANE_S3_* */
    char *database_url; /* heap, wiped: may hold a password; NULL: SQLite */
    long long ready_min_free;       /* bytes, FILIGRANE_READY_MIN_FREE */
    long long ready_max_outbox_lag; /* seconds, FILIGRANE_READY_MAX_OUTBOX_LAG */
    long long preview_decision_ttl; /* seconds, FILIGRANE_PREVIEW_DECISION_TTL; 0: off */
};
#define FCGI_READY_MIN_FREE_DEFAULT (1LL << 30)
#define FCGI_READY_MIN_FREE_LIMIT (1LL << 50)
#define FCGI_READY_OUTBOX_LAG_DEFAULT (15 * 60)
#define FCGI_READY_OUTBOX_LAG_LIMIT (30LL * 86400)
/* How long nginx may replay an allowed preview decision (nginx.conf,
 * README "Preview cache"). A cancellation takes effect within it, so it
 * stays short: at most a minute. scripts/nginx-conf.sh checks the same
 * range. */
#define FCGI_PREVIEW_DECISION_TTL_DEFAULT 5
#define FCGI_PREVIEW_DECISION_TTL_LIMIT 60

/* Reads the environment into cfg, and removes FILIGRANE_MARK_KEY from it
 * (the stamping children need only the seed). On failure FG_EUSAGE (a missing or bad
 * setting, named in the reason) or FG_EIO (out of memory, no current
 * directory), and cfg holds nothing to release. On FG_OK release cfg with
 * fcgi_config_release. Not thread-safe (getenv): call once at start. */
FG_MUST_CHECK fg_result fcgi_config_load(struct fcgi_config *cfg /* out */,
                                         fg_reason *r);

/* Reads FILIGRANE_SCRATCH and the FILIGRANE_S3_* settings into e, data
 * being the absolute data directory. FG_EUSAGE with a reason naming the
 * variable (never a secret's value, nor a file's content), FG_EIO (out of
 * memory, a secret file that cannot be read). On FG_OK release e with
 * fcgi_blob_env_release; on failure it holds nothing. Not thread-safe
 * (getenv). */
FG_MUST_CHECK fg_result fcgi_blob_env_load(struct fcgi_blob_env *e /* out */, const char *data,
                                           fg_reason *r);

/* Wipes the secret and frees. Accepts NULL. Can't fail. */
void fcgi_blob_env_release(struct fcgi_blob_env *e);

/* The settings store_blob_open takes, borrowing e's strings (keep e alive
 * for the call). Can't fail. */
void fcgi_blob_env_settings(const struct fcgi_blob_env *e, const char *data,
                            store_blob_settings *out /* out */);

/* True when a secret (its bytes; for a whsec_ secret, the decoded key)
 * carries too little entropy to be one: fewer than FG_SECRET_MIN_DISTINCT
 * distinct byte values, or FG_SECRET_MAX_RUN equal bytes in a row
 * (32 x "a", an all-zero key, "aaaaaaaaaaaaaaaaaaaaaaaa12345678"). A random
 * secret of the accepted lengths fails this about once in 10^7 draws (hex)
 * and far less often as bytes. Can't fail. */
bool fcgi_secret_weak(const unsigned char *s, size_t n);

/* Reads a secret from the file at path (the rule above: regular file,
 * nothing for group or others, at most FCGI_SECRET_FILE_MAX - 1 bytes, its
 * final newline dropped) into *out, a heap string the caller wipes and
 * frees. var names the setting in every reason; the content never appears
 * in one. FG_EUSAGE, or FG_EIO out of memory. Thread-safe. */
FG_MUST_CHECK fg_result fcgi_secret_file(const char *var, const char *path, char **out /* out */,
                                         fg_reason *r);

/* Wipes the secrets and frees. Accepts NULL. Can't fail. */
void fcgi_config_release(struct fcgi_config *cfg);

/* Writes one "name=value" line per setting to f, secrets as "(set)".
 * Can't fail (write errors are ignored: this is a log). */
void fcgi_config_describe(const struct fcgi_config *cfg, FILE *f);

/* "error", "warn", "info", "debug". Can't fail. */
const char *fcgi_log_level_name(enum fcgi_log_level l);

#endif
