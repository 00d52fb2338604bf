#include "fcgi/config.h"

#include "common/duration.h"
#include "common/setting.h"
#include "storage/s3.h"
#include "storage/pg_conn.h"
#include "watermark/options.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* A decimal integer in [min, max]; with bytes set, an optional K/M/G
 * suffix (powers of 1024). Nothing else: no sign, no spaces, no hex. */
static fg_result number(const char *name, long long min, long long max,
                        int bytes, long long def, long long *out, fg_reason *r)
{
    *out = def;
    return fg_env_count(name, bytes, min, max, out, r);
}

static fg_result path_setting(const char *name, const char *value, char *out,
                              size_t cap, fg_reason *r)
{
    int n;
    if (value[0] == '/') {
        n = snprintf(out, cap, "%s", value);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return fg_fail(r, FG_EIO, "cannot resolve %s: no current directory",
                           name);
        n = snprintf(out, cap, "%s/%s", cwd, value);
    }
    if (n < 0 || (size_t)n >= cap)
        return fg_fail(r, FG_EUSAGE, "%s is too long", name);
    return FG_OK;
}

/* `filigrane` in the worker binary's own directory. */
static fg_result default_cli(char *out, size_t cap, fg_reason *r)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return fg_fail(r, FG_EIO,
                       "cannot find the worker binary: set FILIGRANE_CLI");
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    int w = snprintf(out, cap, "%s/filigrane", exe);
    if (w < 0 || (size_t)w >= cap)
        return fg_fail(r, FG_EUSAGE, "worker path too long: set FILIGRANE_CLI");
    return FG_OK;
}

/* An absolute http or https URL with a host, as libcurl will read it
 * (its own parser, so what is accepted here is what the sender uses). The
 * reason never holds the value: it may carry credentials. */
static fg_result events_url(const char *s, char *out, size_t cap, fg_reason *r)
{
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL;
    fg_result rc = FG_OK;
    if (strlen(s) > FG_MAX_EVENTS_URL) {
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_EVENTS_URL is longer than %d bytes",
                     FG_MAX_EVENTS_URL);
        goto out;
    }
    if (!(u = curl_url())) {
        rc = fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
        goto out;
    }
    if (curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_EVENTS_URL is not a URL");
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_EVENTS_URL must be http or https");
        goto out;
    }
    snprintf(out, cap, "%s", s);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* ---- where blobs live: FILIGRANE_SCRATCH, FILIGRANE_S3_* ---- */

static const char *const S3_VARS[] = {
    "FILIGRANE_S3_PART_SIZE", "FILIGRANE_S3_BUCKET", "FILIGRANE_S3_REGION", "FILIGRANE_S3_ACCESS_KEY_ID",
    "FILIGRANE_S3_SECRET_ACCESS_KEY", "FILIGRANE_S3_SECRET_ACCESS_KEY_FILE",
    "FILIGRANE_S3_ADDRESSING", "FILIGRANE_S3_PRESIGN_SECONDS", NULL};

static bool all_of(const char *s, const char *set)
{
    return strspn(s, set) == strlen(s);
}

/* http(s)://host[:port], nothing else: no user info (a credential would
 * end up in logs and nginx.conf), no path, query or fragment (the bucket
 * and keys are ours to add). The value also goes into nginx.conf, so only
 * URL-safe host characters are let through. The reason never holds it. */
static fg_result s3_endpoint(const char *s, char *out, size_t cap, fg_reason *r)
{
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL, *user = NULL, *path = NULL, *query = NULL,
         *frag = NULL;
    fg_result rc = FG_OK;
    const char *bad = "FILIGRANE_S3_ENDPOINT must be http://host[:port] or "
                      "https://host[:port], without user, path or query";
    if (strlen(s) >= cap)
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_ENDPOINT is longer than %d bytes",
                       (int)cap - 1);
    if (!all_of(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:/[]"))
        return fg_fail(r, FG_EUSAGE, "%s", bad);
    if (!(u = curl_url()))
        return fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
    if (curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
        curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK ||
        (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") != 0)) {
        rc = fg_fail(r, FG_EUSAGE, "%s", bad);
        goto out;
    }
    /* Without a trailing slash: keys are appended as "/bucket/key". */
    snprintf(out, cap, "%s", s);
    size_t n = strlen(out);
    if (n && out[n - 1] == '/')
        out[n - 1] = '\0';
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(path);
    curl_free(query);
    curl_free(frag);
    curl_url_cleanup(u);
    return rc;
}

/* The secret's bytes: visible ASCII, as AWS and every S3 server issue
 * them. A reason names the variable, never the value. */
static fg_result s3_secret_check(const char *name, const char *s, size_t n, fg_reason *r)
{
    if (n == 0 || n > FCGI_S3_SECRET_MAX)
        return fg_fail(r, FG_EUSAGE, "%s must be 1 to %d bytes", name, FCGI_S3_SECRET_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return fg_fail(r, FG_EUSAGE, "%s holds a byte that is not visible ASCII", name);
    return FG_OK;
}

/* Reads a secret from a file (a mounted secret, so not in the
 * environment of every process that can read ours), without its final
 * newline, into a heap string (*out, wiped and freed by its owner). var
 * names the setting in every reason; the content never appears in one.
 * A file others may read (any group or world permission bit) is refused:
 * the secret would be no more secret there than in the environment, and
 * one others may write could be swapped for a key they know. */
fg_result fcgi_secret_file(const char *var, const char *path, char **out, fg_reason *r)
{
    char buf[FCGI_SECRET_FILE_MAX + 1];
    size_t n = 0;
    struct stat st;
    fg_result rc = FG_OK;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fg_fail(r, FG_EUSAGE, "%s cannot be read: %s", var,
                       errno == ENOENT   ? "no such file"
                       : errno == EACCES ? "permission denied"
                                         : "cannot open it");
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fg_fail(r, FG_EUSAGE, "%s is not a regular file", var);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = fg_fail(r, FG_EUSAGE, "%s is open to its group or to others: chmod 0600 it", var);
        goto out;
    }
    for (;;) {
        ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = fg_fail(r, FG_EUSAGE, "%s cannot be read", var);
            goto out;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n == sizeof buf - 1) {
            rc = fg_fail(r, FG_EUSAGE, "%s is longer than %d bytes", var,
                         FCGI_SECRET_FILE_MAX - 1);
            goto out;
        }
    }
    if (n && buf[n - 1] == '\n')
        n--;
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (n == 0 || memchr(buf, '\0', n)) {
        rc = fg_fail(r, FG_EUSAGE, "%s is empty or holds a NUL byte", var);
        goto out;
    }
    if (!(*out = strdup(buf)))
        rc = fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
out:
    OPENSSL_cleanse(buf, sizeof buf);
    close(fd);
    return rc;
}

/* A secret from NAME or from the file NAME_FILE names, never both:
 * *out is a heap copy (the caller wipes and frees it), NULL when neither
 * is set. Reasons name the variable, never the value. */
static fg_result secret_env(const char *name, char **out, fg_reason *r)
{
    char file_var[96];
    *out = NULL;
    snprintf(file_var, sizeof file_var, "%s_FILE", name);
    const char *value = env(name), *file = env(file_var);
    if (value && file)
        return fg_fail(r, FG_EUSAGE, "set %s or %s, not both", name, file_var);
    if (file)
        return fcgi_secret_file(file_var, file, out, r);
    if (value && !(*out = strdup(value)))
        return fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
    return FG_OK;
}

fg_result fcgi_blob_env_load(struct fcgi_blob_env *e, const char *data, fg_reason *r)
{
    fg_result rc = FG_OK;
    const char *s;
    long long v;
    memset(e, 0, sizeof *e);
    e->s3_presign_seconds = STORE_BLOB_PRESIGN_DEFAULT;
    if ((s = env("FILIGRANE_SCRATCH")))
        rc = path_setting("FILIGRANE_SCRATCH", s, e->scratch, sizeof e->scratch, r);
    else if ((size_t)snprintf(e->scratch, sizeof e->scratch, "%s/tmp", data) >= sizeof e->scratch)
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_DATA is too long");
    if (rc != FG_OK)
        goto out;

    if (!(s = env("FILIGRANE_S3_ENDPOINT"))) {
        /* An S3 setting without the endpoint is a mistake, not a wish for
         * local blobs: the operator meant S3 and would not notice. */
        for (int i = 0; S3_VARS[i]; i++)
            if (env(S3_VARS[i])) {
                rc = fg_fail(r, FG_EUSAGE, "%s is set but FILIGRANE_S3_ENDPOINT is not",
                             S3_VARS[i]);
                goto out;
            }
        goto out;
    }
    if ((rc = s3_endpoint(s, e->s3_endpoint, sizeof e->s3_endpoint, r)) != FG_OK)
        goto out;

    /* S3's bucket naming rules; the name also goes into nginx.conf. */
    s = env("FILIGRANE_S3_BUCKET");
    if (!s) {
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_BUCKET is not set (FILIGRANE_S3_ENDPOINT is)");
        goto out;
    }
    if (strlen(s) < 3 || strlen(s) > FCGI_S3_BUCKET_MAX ||
        !all_of(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") || s[0] == '.' || s[0] == '-' ||
        s[strlen(s) - 1] == '.' || s[strlen(s) - 1] == '-' || strstr(s, "..")) {
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_BUCKET must be 3 to 63 of a-z, 0-9, '.' "
                                   "and '-', starting and ending with a letter or digit");
        goto out;
    }
    snprintf(e->s3_bucket, sizeof e->s3_bucket, "%s", s);

    s = env("FILIGRANE_S3_REGION");
    s = s ? s : "us-east-1";
    if (strlen(s) > FCGI_S3_REGION_MAX || !all_of(s, "abcdefghijklmnopqrstuvwxyz0123456789-")) {
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_REGION must be 1 to %d of a-z, 0-9 and '-'",
                     FCGI_S3_REGION_MAX);
        goto out;
    }
    snprintf(e->s3_region, sizeof e->s3_region, "%s", s);

    s = env("FILIGRANE_S3_ACCESS_KEY_ID");
    if (!s) {
        rc = fg_fail(r, FG_EUSAGE,
                     "FILIGRANE_S3_ACCESS_KEY_ID is not set (FILIGRANE_S3_ENDPOINT is)");
        goto out;
    }
    if (strlen(s) > FCGI_S3_KEY_ID_MAX ||
        !all_of(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")) {
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_ACCESS_KEY_ID must be 1 to %d letters and "
                                   "digits", FCGI_S3_KEY_ID_MAX);
        goto out;
    }
    snprintf(e->s3_access_key_id, sizeof e->s3_access_key_id, "%s", s);

    s = env("FILIGRANE_S3_ADDRESSING");
    if (s && strcmp(s, "path") != 0 && strcmp(s, "virtual") != 0) {
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_ADDRESSING must be path or virtual");
        goto out;
    }
    e->s3_virtual = s && strcmp(s, "virtual") == 0;

    v = STORE_BLOB_PRESIGN_DEFAULT;
    if ((rc = number("FILIGRANE_S3_PRESIGN_SECONDS", STORE_BLOB_PRESIGN_MIN,
                     STORE_BLOB_PRESIGN_MAX, 0, STORE_BLOB_PRESIGN_DEFAULT, &v, r)) != FG_OK)
        goto out;
    e->s3_presign_seconds = v;
    if ((rc = number("FILIGRANE_S3_PART_SIZE", S3_PART_SIZE_MIN, S3_PART_SIZE_MAX, 1,
                     S3_PART_SIZE_DEFAULT, &e->s3_part_size, r)) != FG_OK)
        goto out;

    /* The secret last, from exactly one place. */
    const char *file = env("FILIGRANE_S3_SECRET_ACCESS_KEY_FILE");
    if ((rc = secret_env("FILIGRANE_S3_SECRET_ACCESS_KEY", &e->s3_secret, r)) != FG_OK)
        goto out;
    if (!e->s3_secret) {
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_SECRET_ACCESS_KEY (or _FILE) is not set "
                                   "(FILIGRANE_S3_ENDPOINT is)");
        goto out;
    }
    if (file)
        snprintf(e->s3_secret_file, sizeof e->s3_secret_file, "%s", file);
    rc = s3_secret_check(file ? "FILIGRANE_S3_SECRET_ACCESS_KEY_FILE"
                              : "FILIGRANE_S3_SECRET_ACCESS_KEY",
                         e->s3_secret, strlen(e->s3_secret), r);
out:
    if (rc != FG_OK)
        fcgi_blob_env_release(e);
    return rc;
}

void fcgi_blob_env_release(struct fcgi_blob_env *e)
{
    if (!e)
        return;
    if (e->s3_secret) {
        OPENSSL_cleanse(e->s3_secret, strlen(e->s3_secret));
        free(e->s3_secret);
    }
    e->s3_secret = NULL;
}

void fcgi_blob_env_settings(const struct fcgi_blob_env *e, const char *data,
                            store_blob_settings *out)
{
    *out = (store_blob_settings){
        .data_dir = data,
        .scratch = e->scratch,
        .s3_endpoint = e->s3_endpoint,
        .s3_bucket = e->s3_bucket,
        .s3_region = e->s3_region,
        .s3_access_key_id = e->s3_access_key_id,
        .s3_secret_access_key = e->s3_secret,
        .s3_virtual = e->s3_virtual,
        .s3_presign_seconds = e->s3_presign_seconds,
        .s3_part_size = e->s3_part_size,
    };
}

bool fcgi_secret_weak(const unsigned char *s, size_t n)
{
    bool seen[256] = {false};
    size_t distinct = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        distinct += !seen[s[i]];
        seen[s[i]] = true;
        run = i > 0 && s[i] == s[i - 1] ? run + 1 : 1;
        if (run >= FG_SECRET_MAX_RUN)
            return true;
    }
    return distinct < FG_SECRET_MIN_DISTINCT;
}

static const char *const LEVELS[] = {"error", "warn", "info", "debug"};

const char *fcgi_log_level_name(enum fcgi_log_level l)
{
    return (unsigned)l < 4 ? LEVELS[l] : "info";
}

fg_result fcgi_config_load(struct fcgi_config *cfg, fg_reason *r)
{
    fg_result res;
    long long v;
    const char *s;

    memset(cfg, 0, sizeof *cfg);
    fcgi_upload_limits_init(&cfg->upload);

    if ((res = number("FILIGRANE_PORT", 1, 65535, 0, 8080, &v, r)) != FG_OK)
        goto out;
    cfg->port = (int)v;
    if ((res = path_setting("FILIGRANE_DATA",
                            (s = env("FILIGRANE_DATA")) ? s : "var", cfg->data,
                            sizeof cfg->data, r)) != FG_OK)
        goto out;
    if ((s = env("FILIGRANE_SOCKET"))) {
        res = path_setting("FILIGRANE_SOCKET", s, cfg->socket,
                           sizeof cfg->socket, r);
    } else {
        int n = snprintf(cfg->socket, sizeof cfg->socket, "%s/run/fcgi.sock",
                         cfg->data);
        res = n < 0 || (size_t)n >= sizeof cfg->socket
                  ? fg_fail(r, FG_EUSAGE,
                            "FILIGRANE_DATA is too long for a unix socket "
                            "path under it (%d bytes at most): set "
                            "FILIGRANE_SOCKET",
                            FG_WORKER_SOCKET_PATH_MAX)
                  : FG_OK;
    }
    if (res != FG_OK)
        goto out;
    if ((res = number("FILIGRANE_THREADS", 1, FG_WORKER_THREADS_MAX, 0,
                      FG_WORKER_THREADS_DEFAULT, &v, r)) != FG_OK)
        goto out;
    cfg->threads = (int)v;
    if ((res = number("FILIGRANE_MAX_FILE_BYTES", 1, 1LL << 40, 1,
                      FG_UPLOAD_MAX_FILE_BYTES_DEFAULT,
                      &cfg->upload.max_file_bytes, r)) != FG_OK)
        goto out;
    if ((res = number("FILIGRANE_MAX_FILES", 1, 10000, 0,
                      FG_UPLOAD_MAX_FILES_DEFAULT, &v, r)) != FG_OK)
        goto out;
    cfg->upload.max_files = (int)v;
    /* Several files and their framing: at least one part's headers. */
    if (cfg->upload.max_parts < cfg->upload.max_files + 8)
        cfg->upload.max_parts = cfg->upload.max_files + 8;
    if ((res = number("FILIGRANE_MAX_DELIVERY_BYTES", 1, 1LL << 42, 1,
                      FG_UPLOAD_MAX_DELIVERY_BYTES_DEFAULT,
                      &cfg->upload.max_delivery_bytes, r)) != FG_OK)
        goto out;
    /* The sandbox's own limits (FILIGRANE_STAMP_TIMEOUT and the
     * FILIGRANE_SANDBOX_* settings) are read by wm_sandbox_limits_init. */
    s = env("FILIGRANE_MARK_TEXT");
    if (s && strlen(s) > FG_MAX_MARK_TEXT) {
        res = fg_fail(r, FG_EUSAGE, "FILIGRANE_MARK_TEXT is longer than %d bytes",
                      FG_MAX_MARK_TEXT);
        goto out;
    }
    snprintf(cfg->mark_template, sizeof cfg->mark_template, "%s",
             s ? s : FCGI_MARK_TEMPLATE_DEFAULT);

    if ((s = env("FILIGRANE_CLI")))
        res = path_setting("FILIGRANE_CLI", s, cfg->cli, sizeof cfg->cli, r);
    else
        res = default_cli(cfg->cli, sizeof cfg->cli, r);
    if (res != FG_OK)
        goto out;

    cfg->log_level = FCGI_LOG_INFO;
    if ((s = env("FILIGRANE_LOG_LEVEL"))) {
        int found = 0;
        for (int i = 0; i < 4 && !found; i++)
            if (strcmp(s, LEVELS[i]) == 0)
                cfg->log_level = (enum fcgi_log_level)i, found = 1;
        if (!found) {
            res = fg_fail(r, FG_EUSAGE,
                          "FILIGRANE_LOG_LEVEL must be error, warn, info or "
                          "debug");
            goto out;
        }
    }

    /* One line per event either way (fcgi/log.h): logfmt, or one JSON
     * object. nginx's access log follows the same setting
     * (scripts/nginx-conf.sh). */
    cfg->log_json = false;
    if ((s = env("FILIGRANE_LOG_FORMAT"))) {
        if (strcmp(s, "json") == 0) {
            cfg->log_json = true;
        } else if (strcmp(s, "text") != 0) {
            res = fg_fail(r, FG_EUSAGE, "FILIGRANE_LOG_FORMAT must be text or json");
            goto out;
        }
    }

    if ((s = env("FILIGRANE_EVENTS_URL")) &&
        (res = events_url(s, cfg->events_url, sizeof cfg->events_url, r)) != FG_OK)
        goto out;
    /* Test-only: shrinks the retry schedule so a test sees retries. */
    if ((res = number("FILIGRANE_EVENTS_RETRY_SCALE", 1, FG_EVENTS_RETRY_SCALE_MAX, 0, 1, &v,
                      r)) != FG_OK)
        goto out;
    cfg->events_retry_scale = (int)v;

    s = env("FILIGRANE_USER");
    s = s ? s : "filigrane";
    if (strlen(s) > FCGI_RUN_USER_MAX || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
                                             strlen(s)) {
        res = fg_fail(r, FG_EUSAGE, "FILIGRANE_USER is not a user name");
        goto out;
    }
    snprintf(cfg->run_user, sizeof cfg->run_user, "%s", s);

    cfg->jwt_max_ttl = FG_JWT_MAX_TTL_SECONDS;
    if ((res = fg_duration_env("FILIGRANE_JWT_MAX_TTL", 1, FG_JWT_MAX_TTL_LIMIT,
                               &cfg->jwt_max_ttl, r)) != FG_OK)
        goto out;
    cfg->idem_ttl = FG_IDEM_TTL_SECONDS;
    if ((res = fg_duration_env("FILIGRANE_IDEMPOTENCY_TTL", 1, FG_IDEM_TTL_LIMIT,
                               &cfg->idem_ttl, r)) != FG_OK)
        goto out;
    cfg->upload_expiry = FG_UPLOAD_EXPIRY_SECONDS;
    if ((res = fg_duration_env("FILIGRANE_UPLOAD_EXPIRY", 1, FG_UPLOAD_EXPIRY_LIMIT,
                               &cfg->upload_expiry, r)) != FG_OK)
        goto out;
    cfg->link_max_ttl = FG_LINK_MAX_TTL_SECONDS;
    if ((res = fg_duration_env("FILIGRANE_LINK_MAX_TTL", 1, FG_LINK_MAX_TTL_LIMIT,
                               &cfg->link_max_ttl, r)) != FG_OK)
        goto out;

    /* What /readyz holds against (fcgi/h_ops.c). 0 free bytes: the disk
     * check never fails. */
    if ((res = number("FILIGRANE_READY_MIN_FREE", 0, FCGI_READY_MIN_FREE_LIMIT, 1,
                      FCGI_READY_MIN_FREE_DEFAULT, &cfg->ready_min_free, r)) != FG_OK)
        goto out;
    cfg->ready_max_outbox_lag = FCGI_READY_OUTBOX_LAG_DEFAULT;
    if ((res = fg_duration_env("FILIGRANE_READY_MAX_OUTBOX_LAG", 1, FCGI_READY_OUTBOX_LAG_LIMIT,
                               &cfg->ready_max_outbox_lag, r)) != FG_OK)
        goto out;
    cfg->preview_decision_ttl = FCGI_PREVIEW_DECISION_TTL_DEFAULT;
    if ((res = fg_duration_env("FILIGRANE_PREVIEW_DECISION_TTL", 0,
                               FCGI_PREVIEW_DECISION_TTL_LIMIT, &cfg->preview_decision_ttl,
                               r)) != FG_OK)
        goto out;

    if ((res = fcgi_blob_env_load(&cfg->blob, cfg->data, r)) != FG_OK)
        goto out;
    /* The metadata store: PostgreSQL at this URL, shared by every node;
     * unset, SQLite in the data directory. The URL may hold a password:
     * kept like a secret, shown redacted (storage/pg_conn.h). */
    if ((res = secret_env("FILIGRANE_DATABASE_URL", &cfg->database_url, r)) != FG_OK)
        goto out;
    if ((s = cfg->database_url)) {
        if (!store_pg_url_is_pg(s)) {
            res = fg_fail(r, FG_EUSAGE,
                          "FILIGRANE_DATABASE_URL must start with postgres:// or postgresql://");
            goto out;
        }
        if (strlen(s) > FCGI_DATABASE_URL_MAX) {
            res = fg_fail(r, FG_EUSAGE, "FILIGRANE_DATABASE_URL is longer than %d bytes",
                          FCGI_DATABASE_URL_MAX);
            goto out;
        }
    }

    /* Secrets last: a reason about them names the variable only. The
     * rotating ones (fcgi/keys.h) are remembered by where they come from,
     * so that SIGHUP can read their files again. */
    if ((res = fcgi_key_sources_capture(&cfg->key_sources, r)) != FG_OK)
        goto out;
    fcgi_keys *keys = NULL;
    if ((res = fcgi_keys_build(&cfg->key_sources, NULL, FCGI_KEYS_SECRETS, &keys, r)) != FG_OK)
        goto out;
    if (!(cfg->keys = fcgi_keyring_new(keys))) {
        res = fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
        goto out;
    }
    if ((s = env("FILIGRANE_JWT_AUDIENCE"))) {
        size_t n = strlen(s);
        if (n > FCGI_JWT_AUDIENCE_MAX || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                   "0123456789.:/_~+@-") != n) {
            res = fg_fail(r, FG_EUSAGE,
                          "FILIGRANE_JWT_AUDIENCE must be 1 to %d of A-Z a-z 0-9 . : / _ ~ + @ -",
                          FCGI_JWT_AUDIENCE_MAX);
            goto out;
        }
        snprintf(cfg->jwt_audience, sizeof cfg->jwt_audience, "%s", s);
    }
    if ((s = env("FILIGRANE_LOG_FILE")) &&
        (res = path_setting("FILIGRANE_LOG_FILE", s, cfg->log_file, sizeof cfg->log_file, r)) !=
            FG_OK)
        goto out;
    /* The mark's placement is keyed: without the key a buyer could
     * compute it from what he sees and invert the mark. */
    if ((res = secret_env(WM_MARK_KEY_ENV, &cfg->mark_key, r)) != FG_OK)
        goto out;
    if (!(s = cfg->mark_key)) {
        res = fg_fail(r, FG_EUSAGE, "%s (or _FILE) is not set", WM_MARK_KEY_ENV);
        goto out;
    }
    if (strlen(s) < WM_MARK_KEY_MIN_BYTES) {
        res = fg_fail(r, FG_EUSAGE, "%s is shorter than %d bytes",
                      WM_MARK_KEY_ENV, WM_MARK_KEY_MIN_BYTES);
        goto out;
    }
    if (fcgi_secret_weak((const unsigned char *)s, strlen(s))) {
        res = fg_fail(r, FG_EUSAGE,
                      "%s is too weak: fewer than %d distinct bytes or %d equal bytes in a "
                      "row (use openssl rand -hex 32)",
                      WM_MARK_KEY_ENV, FG_SECRET_MIN_DISTINCT, FG_SECRET_MAX_RUN);
        goto out;
    }
    /* Stamping children inherit the environment and are handed the seed,
     * never the key: a decoder exploit there must not find it. Safe here:
     * this runs once, before any thread. */
    unsetenv(WM_MARK_KEY_ENV);
    unsetenv(WM_MARK_KEY_ENV "_FILE");
    res = FG_OK;
out:
    if (res != FG_OK)
        fcgi_config_release(cfg);
    return res;
}

void fcgi_config_release(struct fcgi_config *cfg)
{
    if (!cfg)
        return;
    fcgi_keyring_free(cfg->keys);
    cfg->keys = NULL;
    fcgi_key_sources_release(&cfg->key_sources);
    if (cfg->mark_key) {
        OPENSSL_cleanse(cfg->mark_key, strlen(cfg->mark_key));
        free(cfg->mark_key);
    }
    cfg->mark_key = NULL;
    if (cfg->database_url) {
        OPENSSL_cleanse(cfg->database_url, strlen(cfg->database_url));
        free(cfg->database_url);
    }
    cfg->database_url = NULL;
    fcgi_blob_env_release(&cfg->blob);
}

void fcgi_config_describe(const struct fcgi_config *c, FILE *f)
{
    fprintf(f,
            "FILIGRANE_PORT=%d\nFILIGRANE_DATA=%s\nFILIGRANE_SOCKET=%s\n"
            "FILIGRANE_THREADS=%d\nFILIGRANE_MAX_FILE_BYTES=%lld\n"
            "FILIGRANE_MAX_FILES=%d\nFILIGRANE_MAX_DELIVERY_BYTES=%lld\n"
            "FILIGRANE_MARK_TEXT=%s\nFILIGRANE_CLI=%s\n"
            "FILIGRANE_LOG_LEVEL=%s\nFILIGRANE_EVENTS_URL=%s\n"
            "FILIGRANE_EVENTS_RETRY_SCALE=%d\nFILIGRANE_JWT_MAX_TTL=%lld\n"
            "FILIGRANE_MARK_KEY=%s\n"
            "FILIGRANE_SCRATCH=%s\nFILIGRANE_S3_ENDPOINT=%s\nFILIGRANE_S3_BUCKET=%s\n"
            "FILIGRANE_S3_REGION=%s\nFILIGRANE_S3_ACCESS_KEY_ID=%s\n"
            "FILIGRANE_S3_SECRET_ACCESS_KEY=%s\nFILIGRANE_S3_SECRET_ACCESS_KEY_FILE=%s\n"
            "FILIGRANE_S3_ADDRESSING=%s\n"
            "FILIGRANE_S3_PRESIGN_SECONDS=%lld\nFILIGRANE_S3_PART_SIZE=%lld\n"
            "FILIGRANE_READY_MIN_FREE=%lld\nFILIGRANE_READY_MAX_OUTBOX_LAG=%lld\n"
            "FILIGRANE_LINK_MAX_TTL=%lld\n",
            c->port, c->data, c->socket, c->threads, c->upload.max_file_bytes,
            c->upload.max_files, c->upload.max_delivery_bytes, c->mark_template,
            c->cli, fcgi_log_level_name(c->log_level),
            c->events_url[0] ? "(set)" : "(unset)", c->events_retry_scale, c->jwt_max_ttl,
            c->mark_key ? "(set)" : "(unset)", c->blob.scratch,
            c->blob.s3_endpoint[0] ? c->blob.s3_endpoint : "(unset)", c->blob.s3_bucket,
            c->blob.s3_region, c->blob.s3_access_key_id,
            c->blob.s3_secret ? "(set)" : "(unset)",
            c->blob.s3_secret_file[0] ? c->blob.s3_secret_file : "(unset)",
            c->blob.s3_virtual ? "virtual" : "path", c->blob.s3_presign_seconds,
            c->blob.s3_part_size, c->ready_min_free, c->ready_max_outbox_lag, c->link_max_ttl);
    char shown[STORE_PG_URL_MAX];
    store_pg_redact_url(c->database_url, shown, sizeof shown);
    fprintf(f, "FILIGRANE_DATABASE_URL=%s\n", c->database_url ? shown : "(unset: SQLite)");
    /* The rotating keys: how many, and where from; never a value. */
    fcgi_keys *k = c->keys ? fcgi_keyring_get(c->keys) : NULL;
    for (int i = 0; i < FCGI_KS_COUNT; i++)
        fprintf(f, "%s=%s\n", fcgi_key_source_name(i),
                c->key_sources.file[i]    ? "(from its _FILE)"
                : c->key_sources.value[i] ? "(set)"
                                          : "(unset)");
    if (k)
        fprintf(f, "jwt_kids=%zu\nwebhook_keys=%zu\n", k->n_jwt, k->n_hooks);
    fcgi_keys_put(k);
    fprintf(f, "FILIGRANE_JWT_AUDIENCE=%s\nFILIGRANE_LOG_FILE=%s\n",
            c->jwt_audience[0] ? c->jwt_audience : "(unset)",
            c->log_file[0] ? c->log_file : "(unset: stderr)");
}
