#include "fcgi/config.h"

#include "common/duration.h"
#include "common/setting.h"
#include "storage/pg_conn.h"
#include "watermark/options.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
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

    /* The metadata store: PostgreSQL at this URL, shared by every node;
     * unset, SQLite in the data directory. The URL may hold a password:
     * kept like a secret, shown redacted (storage/pg_conn.h). */
    if ((s = env("FILIGRANE_DATABASE_URL"))) {
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
        if (!(cfg->database_url = strdup(s))) {
            res = fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
            goto out;
        }
    }

    /* Secrets last: a reason about them names the variable only. */
    if (!(s = env("FILIGRANE_JWT_SECRET"))) {
        res = fg_fail(r, FG_EUSAGE, "FILIGRANE_JWT_SECRET is not set");
        goto out;
    }
    if (strlen(s) < FG_JWT_MIN_SECRET_BYTES) {
        res = fg_fail(r, FG_EUSAGE,
                      "FILIGRANE_JWT_SECRET is shorter than %d bytes",
                      FG_JWT_MIN_SECRET_BYTES);
        goto out;
    }
    if (fcgi_secret_weak((const unsigned char *)s, strlen(s))) {
        res = fg_fail(r, FG_EUSAGE,
                      "FILIGRANE_JWT_SECRET is too weak: fewer than %d distinct bytes or "
                      "%d equal bytes in a row (use openssl rand -hex 32)",
                      FG_SECRET_MIN_DISTINCT, FG_SECRET_MAX_RUN);
        goto out;
    }
    if (!(cfg->jwt_secret = strdup(s))) {
        res = fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
        goto out;
    }
    if (!(s = env("FILIGRANE_WEBHOOK_SECRET"))) {
        res = fg_fail(r, FG_EUSAGE, "FILIGRANE_WEBHOOK_SECRET is not set");
        goto out;
    }
    fg_reason why = {{0}};
    if (fcgi_webhook_key_init(&cfg->webhook_key, s, &why) != FG_OK) {
        res = fg_fail(r, FG_EUSAGE, "FILIGRANE_WEBHOOK_SECRET: %s", why.text);
        goto out;
    }
    if (fcgi_secret_weak(cfg->webhook_key.key, cfg->webhook_key.len)) {
        res = fg_fail(r, FG_EUSAGE,
                      "FILIGRANE_WEBHOOK_SECRET is too weak: its key has fewer than %d "
                      "distinct bytes or %d equal bytes in a row (use whsec_ and openssl "
                      "rand -base64 32)",
                      FG_SECRET_MIN_DISTINCT, FG_SECRET_MAX_RUN);
        goto out;
    }
    /* Optional: without it /metrics is refused to everyone. */
    if ((s = env("FILIGRANE_METRICS_TOKEN"))) {
        size_t n = strlen(s);
        bool visible = true;
        for (size_t i = 0; i < n; i++)
            visible = visible && s[i] > 0x20 && s[i] < 0x7f;
        if (n < FCGI_METRICS_TOKEN_MIN || n > FCGI_METRICS_TOKEN_MAX || !visible) {
            res = fg_fail(r, FG_EUSAGE,
                          "FILIGRANE_METRICS_TOKEN must be %d to %d visible ASCII bytes",
                          FCGI_METRICS_TOKEN_MIN, FCGI_METRICS_TOKEN_MAX);
            goto out;
        }
        if (!(cfg->metrics_token = strdup(s))) {
            res = fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
            goto out;
        }
    }
    /* The mark's placement is keyed: without the key a buyer could
     * compute it from what he sees and invert the mark. */
    if (!(s = env(WM_MARK_KEY_ENV))) {
        res = fg_fail(r, FG_EUSAGE, "%s is not set", WM_MARK_KEY_ENV);
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
    if (!(cfg->mark_key = strdup(s))) {
        res = fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
        goto out;
    }
    /* Stamping children inherit the environment and are handed the seed,
     * never the key: a decoder exploit there must not find it. Safe here:
     * this runs once, before any thread. */
    unsetenv(WM_MARK_KEY_ENV);
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
    if (cfg->jwt_secret) {
        OPENSSL_cleanse(cfg->jwt_secret, strlen(cfg->jwt_secret));
        free(cfg->jwt_secret);
    }
    cfg->jwt_secret = NULL;
    if (cfg->metrics_token) {
        OPENSSL_cleanse(cfg->metrics_token, strlen(cfg->metrics_token));
        free(cfg->metrics_token);
    }
    cfg->metrics_token = NULL;
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
    fcgi_webhook_key_release(&cfg->webhook_key);
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
            "FILIGRANE_JWT_SECRET=%s\nFILIGRANE_WEBHOOK_SECRET=%s\nFILIGRANE_MARK_KEY=%s\n",
            c->port, c->data, c->socket, c->threads, c->upload.max_file_bytes,
            c->upload.max_files, c->upload.max_delivery_bytes, c->mark_template,
            c->cli, fcgi_log_level_name(c->log_level),
            c->events_url[0] ? "(set)" : "(unset)", c->events_retry_scale, c->jwt_max_ttl,
            c->jwt_secret ? "(set)" : "(unset)",
            c->webhook_key.len ? "(set)" : "(unset)",
            c->mark_key ? "(set)" : "(unset)");
    char shown[STORE_PG_URL_MAX];
    store_pg_redact_url(c->database_url, shown, sizeof shown);
    fprintf(f, "FILIGRANE_DATABASE_URL=%s\n", c->database_url ? shown : "(unset: SQLite)");
}
