#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"

#include "fcgi/config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *JWT = "jwt-secret-jwt-secret-jwt-secret-32";
static const char *WH = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char *MARK = "mark-key-0123456789-abcdefghij-xyz";

static const char *const VARS[] = {
    "FILIGRANE_PORT", "FILIGRANE_DATA", "FILIGRANE_JWT_SECRET",
    "FILIGRANE_WEBHOOK_SECRET", "FILIGRANE_SOCKET", "FILIGRANE_THREADS",
    "FILIGRANE_MAX_FILE_BYTES", "FILIGRANE_MAX_FILES",
    "FILIGRANE_MAX_DELIVERY_BYTES", "FILIGRANE_MARK_TEXT", "FILIGRANE_CLI",
    "FILIGRANE_LOG_LEVEL", "FILIGRANE_EVENTS_URL", "FILIGRANE_EVENTS_RETRY_SCALE",
    "FILIGRANE_JWT_MAX_TTL",
    "FILIGRANE_MARK_KEY",
    "FILIGRANE_SCRATCH", "FILIGRANE_S3_ENDPOINT", "FILIGRANE_S3_BUCKET", "FILIGRANE_S3_REGION",
    "FILIGRANE_S3_ACCESS_KEY_ID", "FILIGRANE_S3_SECRET_ACCESS_KEY",
    "FILIGRANE_S3_SECRET_ACCESS_KEY_FILE", "FILIGRANE_S3_ADDRESSING",
    "FILIGRANE_S3_PRESIGN_SECONDS", "FILIGRANE_S3_PART_SIZE",
    "FILIGRANE_READY_MIN_FREE", "FILIGRANE_READY_MAX_OUTBOX_LAG", "FILIGRANE_DATABASE_URL",
};
/* Cleared too, though describe does not list them. */
static const char *const MORE_VARS[] = {
    "FILIGRANE_JWT_SECRET_FILE", "FILIGRANE_WEBHOOK_SECRET_FILE", "FILIGRANE_METRICS_TOKEN",
    "FILIGRANE_METRICS_TOKEN_FILE", "FILIGRANE_MARK_KEY_FILE", "FILIGRANE_DATABASE_URL_FILE",
    "FILIGRANE_JWT_SECRETS", "FILIGRANE_JWT_SECRETS_FILE", "FILIGRANE_WEBHOOK_SECRETS",
    "FILIGRANE_WEBHOOK_SECRETS_FILE", "FILIGRANE_EVENTS_SECRET", "FILIGRANE_EVENTS_SECRET_FILE",
    "FILIGRANE_JWT_AUDIENCE", "FILIGRANE_LOG_FILE",
};

/* A clean environment with only the required secrets. */
static void reset(void)
{
    for (size_t i = 0; i < sizeof VARS / sizeof VARS[0]; i++)
        unsetenv(VARS[i]);
    for (size_t i = 0; i < sizeof MORE_VARS / sizeof MORE_VARS[0]; i++)
        unsetenv(MORE_VARS[i]);
    setenv("FILIGRANE_JWT_SECRET", JWT, 1);
    setenv("FILIGRANE_WEBHOOK_SECRET", WH, 1);
    setenv("FILIGRANE_MARK_KEY", MARK, 1);
}

/* The current keys' default JWT secret (NULL: none), borrowed while c
 * holds its keyring. */
static const char *jwt_now(const struct fcgi_config *c)
{
    fcgi_keys *k = c->keys ? fcgi_keyring_get(c->keys) : NULL;
    const char *s = k ? k->jwt_secret : NULL;
    fcgi_keys_put(k);
    return s;
}

static const char *metrics_now(const struct fcgi_config *c)
{
    fcgi_keys *k = c->keys ? fcgi_keyring_get(c->keys) : NULL;
    const char *s = k ? k->metrics_token : NULL;
    fcgi_keys_put(k);
    return s;
}

static size_t hook_len_now(const struct fcgi_config *c)
{
    fcgi_keys *k = c->keys ? fcgi_keyring_get(c->keys) : NULL;
    size_t n = k && k->n_hooks ? k->hooks[0].len : 0;
    fcgi_keys_put(k);
    return n;
}

TEST("defaults with only the secrets set")
{
    reset();
    struct fcgi_config c;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK_INT(c.port, 8080);
    snprintf(want, sizeof want, "%s/var", cwd);
    CHECK_STR(c.data, want);
    snprintf(want, sizeof want, "%s/var/run/fcgi.sock", cwd);
    CHECK_STR(c.socket, want);
    CHECK_INT(c.threads, FG_WORKER_THREADS_DEFAULT);
    CHECK_INT(c.upload.max_file_bytes, FG_UPLOAD_MAX_FILE_BYTES_DEFAULT);
    CHECK_INT(c.upload.max_files, FG_UPLOAD_MAX_FILES_DEFAULT);
    CHECK_INT(c.upload.max_delivery_bytes, FG_UPLOAD_MAX_DELIVERY_BYTES_DEFAULT);
    CHECK_STR(c.mark_template, FCGI_MARK_TEMPLATE_DEFAULT);
    CHECK_INT(c.log_level, FCGI_LOG_INFO);
    CHECK_STR(jwt_now(&c), JWT);
    CHECK_INT(hook_len_now(&c), 24);
    /* The CLI defaults to `filigrane` beside this very binary. */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(want, sizeof want, "%s/filigrane", exe);
    CHECK_STR(c.cli, want);
    fcgi_config_release(&c);
    CHECK(c.keys == NULL);
    fcgi_config_release(NULL);
}

TEST("every setting is read")
{
    reset();
    setenv("FILIGRANE_PORT", "9090", 1);
    setenv("FILIGRANE_DATA", "/srv/fg", 1);
    setenv("FILIGRANE_THREADS", "16", 1);
    setenv("FILIGRANE_MAX_FILE_BYTES", "512M", 1);
    setenv("FILIGRANE_MAX_FILES", "7", 1);
    setenv("FILIGRANE_MAX_DELIVERY_BYTES", "1073741824", 1);
    setenv("FILIGRANE_MARK_TEXT", "PROOF {order}", 1);
    setenv("FILIGRANE_CLI", "/opt/fg/bin/filigrane", 1);
    setenv("FILIGRANE_LOG_LEVEL", "debug", 1);
    struct fcgi_config c;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_INT(c.port, 9090);
    CHECK_STR(c.data, "/srv/fg");
    CHECK_STR(c.socket, "/srv/fg/run/fcgi.sock");
    CHECK_INT(c.threads, 16);
    CHECK_INT(c.upload.max_file_bytes, 512LL * 1024 * 1024);
    CHECK_INT(c.upload.max_files, 7);
    CHECK_INT(c.upload.max_delivery_bytes, 1073741824LL);
    CHECK_STR(c.mark_template, "PROOF {order}");
    CHECK_STR(c.cli, "/opt/fg/bin/filigrane");
    CHECK_INT(c.log_level, FCGI_LOG_DEBUG);
    fcgi_config_release(&c);

    setenv("FILIGRANE_MARK_KEY", MARK, 1); /* a load removes it */
    setenv("FILIGRANE_SOCKET", "/run/fg.sock", 1);
    setenv("FILIGRANE_MAX_FILE_BYTES", "3g", 1);
    setenv("FILIGRANE_PORT", "", 1); /* empty is unset */
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_STR(c.socket, "/run/fg.sock");
    CHECK_INT(c.upload.max_file_bytes, 3LL << 30);
    CHECK_INT(c.port, 8080);
    fcgi_config_release(&c);
}

TEST("bad numbers are refused with the variable named")
{
    static const struct {
        const char *var, *value;
    } rows[] = {
        {"FILIGRANE_PORT", "0"},           {"FILIGRANE_PORT", "65536"},
        {"FILIGRANE_PORT", "80a"},         {"FILIGRANE_PORT", " 80"},
        {"FILIGRANE_PORT", "-80"},         {"FILIGRANE_PORT", "+80"},
        {"FILIGRANE_PORT", "0x50"},        {"FILIGRANE_PORT", "8K"},
        {"FILIGRANE_THREADS", "0"},        {"FILIGRANE_THREADS", "257"},
        {"FILIGRANE_THREADS", "4.5"},      {"FILIGRANE_MAX_FILES", "0"},
        {"FILIGRANE_MAX_FILE_BYTES", "1T"},
        {"FILIGRANE_MAX_FILE_BYTES", "2GB"},
        {"FILIGRANE_MAX_FILE_BYTES", "99999999999999999999"},
        {"FILIGRANE_MAX_FILE_BYTES", "9999999999G"},
        {"FILIGRANE_MAX_DELIVERY_BYTES", "0"},
        {"FILIGRANE_LOG_LEVEL", "verbose"}, {"FILIGRANE_LOG_LEVEL", "INFO"},
        {"FILIGRANE_EVENTS_URL", "ftp://orders.example/events"},
        {"FILIGRANE_EVENTS_URL", "file:///etc/passwd"},
        {"FILIGRANE_EVENTS_URL", "orders.example/events"},
        {"FILIGRANE_EVENTS_URL", "http://"},
        {"FILIGRANE_EVENTS_URL", "http://a b/"},
        {"FILIGRANE_EVENTS_RETRY_SCALE", "0"},
        {"FILIGRANE_EVENTS_RETRY_SCALE", "1000001"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        reset();
        setenv(rows[i].var, rows[i].value, 1);
        struct fcgi_config c;
        fg_reason r = {{0}};
        if (fcgi_config_load(&c, &r) != FG_EUSAGE)
            TAP_FAIL("%s=%s accepted", rows[i].var, rows[i].value);
        if (!strstr(r.text, rows[i].var))
            TAP_FAIL("reason \"%s\" does not name %s", r.text, rows[i].var);
        CHECK(c.keys == NULL);
    }
}

TEST("missing or weak secrets are refused, the secret never in the reason")
{
    struct fcgi_config c;
    fg_reason r = {{0}};
    reset();
    unsetenv("FILIGRANE_JWT_SECRET");
    CHECK_INT(fcgi_config_load(&c, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_JWT_SECRET") != NULL);

    reset();
    setenv("FILIGRANE_JWT_SECRET", "short-secret-value", 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_JWT_SECRET") != NULL);
    CHECK(strstr(r.text, "short-secret-value") == NULL);

    reset();
    unsetenv("FILIGRANE_WEBHOOK_SECRET");
    CHECK_INT(fcgi_config_load(&c, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_WEBHOOK_SECRET") != NULL);

    reset();
    setenv("FILIGRANE_WEBHOOK_SECRET", "whsec_not!base64-secret-value", 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_WEBHOOK_SECRET") != NULL);
    CHECK(strstr(r.text, "secret-value") == NULL);
}

/* The whsec_ form of a key given as bytes. */
static void whsec(const unsigned char *key, size_t n, char *out, size_t cap)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = (size_t)snprintf(out, cap, "whsec_");
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)key[i] << 16 | (i + 1 < n ? (unsigned)key[i + 1] << 8 : 0) |
                     (i + 2 < n ? key[i + 2] : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
}

TEST("weak secrets are refused by the documented rule, naming the variable")
{
    static const struct {
        const char *secret;
        bool weak;
    } jwt[] = {
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true},       /* 32 x a */
        {"abababababababababababababababab", true},       /* 2 distinct */
        {"abcdefgabcdefgabcdefgabcdefgabcd", true},       /* 7 distinct: under the edge */
        {"abcdefghabcdefghabcdefghabcdefgh", false},      /* 8 distinct: at the edge */
        {"aaaaaaaabcdefghijklmnopqrstuvwxy", true},       /* a run of 8 */
        {"aaaaaaabcdefghijklmnopqrstuvwxyz", false},      /* a run of 7 */
        {"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978", false},
    };
    for (size_t i = 0; i < sizeof jwt / sizeof jwt[0]; i++) {
        struct fcgi_config c;
        fg_reason r = {{0}};
        reset();
        setenv("FILIGRANE_JWT_SECRET", jwt[i].secret, 1);
        fg_result got = fcgi_config_load(&c, &r);
        if (jwt[i].weak) {
            if (got != FG_EUSAGE || !strstr(r.text, "FILIGRANE_JWT_SECRET") ||
                !strstr(r.text, "weak") || strstr(r.text, jwt[i].secret))
                TAP_FAIL("JWT row %zu: %d \"%s\"", i, got, r.text);
        } else {
            if (got != FG_OK)
                TAP_FAIL("JWT row %zu refused: %s", i, r.text);
            fcgi_config_release(&c);
        }
    }
    /* Webhook keys: the decoded bytes are judged. */
    unsigned char key[32];
    char secret[64];
    struct fcgi_config c;
    fg_reason r = {{0}};
    memset(key, 0, sizeof key);
    whsec(key, sizeof key, secret, sizeof secret);
    reset();
    setenv("FILIGRANE_WEBHOOK_SECRET", secret, 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_WEBHOOK_SECRET") != NULL && strstr(r.text, "weak") != NULL);
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)("abcdefg"[i % 7]);
    whsec(key, sizeof key, secret, sizeof secret);
    setenv("FILIGRANE_WEBHOOK_SECRET", secret, 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_EUSAGE);
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 37 + 11);
    whsec(key, sizeof key, secret, sizeof secret);
    setenv("FILIGRANE_WEBHOOK_SECRET", secret, 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    fcgi_config_release(&c);
    /* The rule itself, at its edges. */
    CHECK(fcgi_secret_weak((const unsigned char *)"", 0));
    CHECK(!fcgi_secret_weak((const unsigned char *)"abcdefgh", 8));
    CHECK(fcgi_secret_weak((const unsigned char *)"abcdefg", 7));
}

TEST("FILIGRANE_JWT_MAX_TTL: default 30 days, suffixes, edges, refusals")
{
    static const struct {
        const char *value;
        long long want; /* -1: refused */
    } rows[] = {
        {NULL, 30LL * 86400}, {"1", 1}, {"0", -1}, {"3600", 3600}, {"90s", 90},
        {"15m", 900}, {"12h", 43200}, {"7d", 604800}, {"365d", 365LL * 86400},
        {"366d", -1}, {"31536001", -1}, {"31536000", 31536000}, {"-5", -1}, {"d", -1},
        {"1w", -1}, {"1.5h", -1}, {"99999999999999999999d", -1}, {"10 m", -1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct fcgi_config c;
        fg_reason r = {{0}};
        reset();
        if (rows[i].value)
            setenv("FILIGRANE_JWT_MAX_TTL", rows[i].value, 1);
        fg_result got = fcgi_config_load(&c, &r);
        if (rows[i].want < 0) {
            if (got != FG_EUSAGE || !strstr(r.text, "FILIGRANE_JWT_MAX_TTL"))
                TAP_FAIL("row %zu (%s) accepted or unnamed: %s", i, rows[i].value, r.text);
            continue;
        }
        if (got != FG_OK || c.jwt_max_ttl != rows[i].want)
            TAP_FAIL("row %zu (%s): %d %lld %s", i, rows[i].value, got,
                     got == FG_OK ? c.jwt_max_ttl : 0, r.text);
        fcgi_config_release(&c);
    }
}

TEST("the mark key is required, at least 32 bytes, never shown, and removed from the environment")
{
    struct fcgi_config c;
    fg_reason r = {{0}};
    reset();
    unsetenv("FILIGRANE_MARK_KEY");
    CHECK_INT(fcgi_config_load(&c, &r), FG_EUSAGE);
    CHECK_STR(r.text, "FILIGRANE_MARK_KEY (or _FILE) is not set");

    reset();
    setenv("FILIGRANE_MARK_KEY", "31-bytes-31-bytes-31-bytes-31-b", 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_EUSAGE);
    CHECK_STR(r.text, "FILIGRANE_MARK_KEY is shorter than 32 bytes");

    reset();
    setenv("FILIGRANE_MARK_KEY", "abababababababababababababababab", 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_MARK_KEY is too weak") != NULL);

    reset();
    setenv("FILIGRANE_MARK_KEY", "32-bytes-32-bytes-32-bytes-32-by", 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_STR(c.mark_key, "32-bytes-32-bytes-32-bytes-32-by");
    /* Gone from the environment the stamping children inherit. */
    CHECK(getenv("FILIGRANE_MARK_KEY") == NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    fcgi_config_describe(&c, f);
    fclose(f);
    int shown = strstr(buf, "32-bytes") != NULL;
    int set = strstr(buf, "FILIGRANE_MARK_KEY=(set)") != NULL;
    free(buf);
    fcgi_config_release(&c);
    CHECK(!shown && set);
}

TEST("a data directory too deep for a socket path asks for FILIGRANE_SOCKET")
{
    reset();
    char deep[300];
    memset(deep, 'd', sizeof deep - 1);
    deep[0] = '/';
    deep[sizeof deep - 1] = '\0';
    setenv("FILIGRANE_DATA", deep, 1);
    struct fcgi_config c;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_config_load(&c, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_SOCKET") != NULL);
    setenv("FILIGRANE_SOCKET", "/tmp/fg.sock", 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    fcgi_config_release(&c);
}

TEST("describe prints every setting and no secret")
{
    reset();
    struct fcgi_config c;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    fcgi_config_describe(&c, f);
    fclose(f);
    for (size_t i = 0; i < sizeof VARS / sizeof VARS[0]; i++)
        if (!strstr(buf, VARS[i]))
            TAP_FAIL("%s missing", VARS[i]);
    CHECK(strstr(buf, JWT) == NULL);
    CHECK(strstr(buf, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == NULL);
    CHECK(strstr(buf, "FILIGRANE_JWT_SECRET=(set)") != NULL);
    free(buf);
    fcgi_config_release(&c);
}

TEST("the events URL: unset by default, http or https taken as given")
{
    struct fcgi_config c;
    fg_reason r = {{0}};
    reset();
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_STR(c.events_url, "");
    CHECK_INT(c.events_retry_scale, 1);
    fcgi_config_release(&c);
    setenv("FILIGRANE_MARK_KEY", MARK, 1); /* a load removes it */
    setenv("FILIGRANE_EVENTS_URL", "https://orders.example:8443/hooks/filigrane?k=1", 1);
    setenv("FILIGRANE_EVENTS_RETRY_SCALE", "1000", 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_STR(c.events_url, "https://orders.example:8443/hooks/filigrane?k=1");
    CHECK_INT(c.events_retry_scale, 1000);
    fcgi_config_release(&c);
    setenv("FILIGRANE_MARK_KEY", MARK, 1);
    setenv("FILIGRANE_EVENTS_URL", "http://127.0.0.1:9/events", 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    fcgi_config_release(&c);
    reset();
}

/* A load after another: a successful load takes FILIGRANE_MARK_KEY out of
 * the environment, so it is put back first. */
static fg_result load_again(struct fcgi_config *c, fg_reason *r)
{
    setenv("FILIGRANE_MARK_KEY", MARK, 1);
    return fcgi_config_load(c, r);
}

TEST("FILIGRANE_METRICS_TOKEN: unset by default, 16 to 256 visible bytes, never in a reason")
{
    struct fcgi_config c;
    fg_reason r = {{0}};
    reset();
    unsetenv("FILIGRANE_METRICS_TOKEN");
    CHECK_INT(load_again(&c, &r), FG_OK);
    CHECK(metrics_now(&c) == NULL);
    fcgi_config_release(&c);
    const char *good[] = {"0123456789abcdef", /* 16: the edge */
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
    for (int i = 0; i < 2; i++) {
        setenv("FILIGRANE_METRICS_TOKEN", good[i], 1);
        CHECK_INT(load_again(&c, &r), FG_OK);
        CHECK_STR(metrics_now(&c), good[i]);
        fcgi_config_release(&c);
        CHECK(metrics_now(&c) == NULL);
    }
    char longest[258];
    memset(longest, 'k', 257);
    longest[257] = '\0';
    const char *bad[] = {"0123456789abcde" /* 15 */, "0123456789 abcdef", "0123456789abcdef\x01",
                         longest};
    for (int i = 0; i < 4; i++) {
        setenv("FILIGRANE_METRICS_TOKEN", bad[i], 1);
        CHECK_INT(load_again(&c, &r), FG_EUSAGE);
        CHECK(strstr(r.text, "FILIGRANE_METRICS_TOKEN") != NULL);
        CHECK(strstr(r.text, "0123456789") == NULL);
    }
    longest[256] = '\0'; /* 256: the other edge */
    setenv("FILIGRANE_METRICS_TOKEN", longest, 1);
    CHECK_INT(load_again(&c, &r), FG_OK);
    fcgi_config_release(&c);
    unsetenv("FILIGRANE_METRICS_TOKEN");
}

TEST("FILIGRANE_USER: filigrane by default, a user name or refused")
{
    struct fcgi_config c;
    fg_reason r = {{0}};
    reset();
    unsetenv("FILIGRANE_USER");
    CHECK_INT(load_again(&c, &r), FG_OK);
    CHECK_STR(c.run_user, "filigrane");
    fcgi_config_release(&c);
    setenv("FILIGRANE_USER", "svc-vault_2", 1);
    CHECK_INT(load_again(&c, &r), FG_OK);
    CHECK_STR(c.run_user, "svc-vault_2");
    fcgi_config_release(&c);
    const char *bad[] = {"root;rm", "../x", "Filigrane", "a-user-name-longer-than-32-bytes-x"};
    for (int i = 0; i < 4; i++) {
        setenv("FILIGRANE_USER", bad[i], 1);
        CHECK_INT(load_again(&c, &r), FG_EUSAGE);
        CHECK_STR(r.text, "FILIGRANE_USER is not a user name");
    }
    unsetenv("FILIGRANE_USER");
}

/* ---- FILIGRANE_SCRATCH and FILIGRANE_S3_* ---- */

static const char *S3_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/* The smallest complete S3 setting, on top of reset(). */
static void s3_reset(void)
{
    reset();
    setenv("FILIGRANE_S3_ENDPOINT", "http://127.0.0.1:9000", 1);
    setenv("FILIGRANE_S3_BUCKET", "filigrane", 1);
    setenv("FILIGRANE_S3_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("FILIGRANE_S3_SECRET_ACCESS_KEY", S3_SECRET, 1);
}

/* Loads, expecting FG_EUSAGE with a reason naming var and holding no
 * secret. */
static void refused(const char *var, const char *why)
{
    struct fcgi_config c;
    fg_reason r = {{0}};
    setenv("FILIGRANE_MARK_KEY", MARK, 1);
    if (fcgi_config_load(&c, &r) != FG_EUSAGE) {
        TAP_FAIL("%s: accepted (%s)", var, why);
        fcgi_config_release(&c);
        return;
    }
    if (!strstr(r.text, var))
        TAP_FAIL("%s (%s): the reason does not name it: %s", var, why, r.text);
    CHECK(strstr(r.text, S3_SECRET) == NULL);
    CHECK(strstr(r.text, "EXAMPLEKEY") == NULL);
}

TEST("blob settings: local blobs, scratch under the data directory, by default")
{
    reset();
    setenv("FILIGRANE_DATA", "/srv/fg", 1);
    struct fcgi_config c;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_STR(c.blob.scratch, "/srv/fg/tmp");
    CHECK_STR(c.blob.s3_endpoint, "");
    CHECK(c.blob.s3_secret == NULL);
    store_blob_settings bs;
    fcgi_blob_env_settings(&c.blob, c.data, &bs);
    CHECK_STR(bs.data_dir, "/srv/fg");
    CHECK_STR(bs.s3_endpoint, "");
    fcgi_config_release(&c);

    setenv("FILIGRANE_SCRATCH", "/fast/scratch", 1);
    setenv("FILIGRANE_MARK_KEY", MARK, 1); /* the load took it out */
    if (fcgi_config_load(&c, &r) != FG_OK)
        TAP_FAIL("%s", r.text);
    CHECK_STR(c.blob.scratch, "/fast/scratch");
    fcgi_config_release(&c);
}

TEST("blob settings: every S3 setting is read, defaults for region, addressing, expiry")
{
    s3_reset();
    struct fcgi_config c;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_STR(c.blob.s3_endpoint, "http://127.0.0.1:9000");
    CHECK_STR(c.blob.s3_bucket, "filigrane");
    CHECK_STR(c.blob.s3_region, "us-east-1");
    CHECK_STR(c.blob.s3_access_key_id, "AKIDEXAMPLE");
    CHECK_STR(c.blob.s3_secret, S3_SECRET);
    CHECK(!c.blob.s3_virtual);
    CHECK_INT(c.blob.s3_presign_seconds, 300);
    CHECK_INT(c.blob.s3_part_size, 64LL * 1024 * 1024);
    fcgi_config_release(&c);
    CHECK(c.blob.s3_secret == NULL);

    setenv("FILIGRANE_S3_ENDPOINT", "https://s3.eu-west-3.amazonaws.com/", 1);
    setenv("FILIGRANE_S3_REGION", "eu-west-3", 1);
    setenv("FILIGRANE_S3_ADDRESSING", "virtual", 1);
    setenv("FILIGRANE_S3_PRESIGN_SECONDS", "604800", 1);
    setenv("FILIGRANE_S3_PART_SIZE", "5M", 1);
    setenv("FILIGRANE_MARK_KEY", MARK, 1);
    if (fcgi_config_load(&c, &r) != FG_OK)
        TAP_FAIL("%s", r.text);
    CHECK_STR(c.blob.s3_endpoint, "https://s3.eu-west-3.amazonaws.com");
    CHECK_STR(c.blob.s3_region, "eu-west-3");
    CHECK(c.blob.s3_virtual);
    CHECK_INT(c.blob.s3_presign_seconds, 604800);
    store_blob_settings bs;
    fcgi_blob_env_settings(&c.blob, c.data, &bs);
    CHECK_STR(bs.s3_secret_access_key, S3_SECRET);
    CHECK(bs.s3_virtual);
    CHECK_INT(bs.s3_presign_seconds, 604800);
    CHECK_INT(bs.s3_part_size, 5LL * 1024 * 1024);
    fcgi_config_release(&c);
    setenv("FILIGRANE_S3_PRESIGN_SECONDS", "1", 1);
    setenv("FILIGRANE_MARK_KEY", MARK, 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_INT(c.blob.s3_presign_seconds, 1);
    fcgi_config_release(&c);
}

TEST("blob settings: each bad S3 value is refused naming its variable, never the secret")
{
    static const struct {
        const char *var, *value;
    } bad[] = {
        {"FILIGRANE_S3_ENDPOINT", "ftp://127.0.0.1:9000"},
        {"FILIGRANE_S3_ENDPOINT", "127.0.0.1:9000"},
        {"FILIGRANE_S3_ENDPOINT", "http://127.0.0.1:9000/bucket"},
        {"FILIGRANE_S3_ENDPOINT", "http://127.0.0.1:9000?x=1"},
        /* a credential in the URL would reach logs and nginx.conf */
        {"FILIGRANE_S3_ENDPOINT", "http://AKID:wJalrXUtnFEMIEXAMPLEKEY@127.0.0.1:9000"},
        {"FILIGRANE_S3_ENDPOINT", "http://127.0.0.1:9000;\n}\nserver{"},
        {"FILIGRANE_S3_BUCKET", "ab"},
        {"FILIGRANE_S3_BUCKET", "Filigrane"},
        {"FILIGRANE_S3_BUCKET", "fili;grane"},
        {"FILIGRANE_S3_BUCKET", "-filigrane"},
        {"FILIGRANE_S3_BUCKET", "a234567890123456789012345678901234567890123456789012345678901234"},
        {"FILIGRANE_S3_REGION", "us east 1"},
        {"FILIGRANE_S3_ACCESS_KEY_ID", "AKID/EXAMPLE"},
        {"FILIGRANE_S3_ADDRESSING", "host"},
        {"FILIGRANE_S3_PRESIGN_SECONDS", "0"},
        {"FILIGRANE_S3_PRESIGN_SECONDS", "604801"},
        {"FILIGRANE_S3_PRESIGN_SECONDS", "5m"},
        {"FILIGRANE_S3_PART_SIZE", "5242879"},
        {"FILIGRANE_S3_PART_SIZE", "6G"},
        {"FILIGRANE_S3_SECRET_ACCESS_KEY", "has a space EXAMPLEKEY"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s3_reset();
        setenv(bad[i].var, bad[i].value, 1);
        refused(bad[i].var, bad[i].value);
    }
    /* Required with the endpoint. */
    const char *required[] = {"FILIGRANE_S3_BUCKET", "FILIGRANE_S3_ACCESS_KEY_ID",
                              "FILIGRANE_S3_SECRET_ACCESS_KEY"};
    for (size_t i = 0; i < 3; i++) {
        s3_reset();
        unsetenv(required[i]);
        refused(required[i], "unset");
    }
    /* An S3 setting without the endpoint is a mistake, not local blobs. */
    reset();
    setenv("FILIGRANE_S3_BUCKET", "filigrane", 1);
    refused("FILIGRANE_S3_ENDPOINT", "bucket without endpoint");
    reset();
    setenv("FILIGRANE_S3_SECRET_ACCESS_KEY", S3_SECRET, 1);
    refused("FILIGRANE_S3_SECRET_ACCESS_KEY", "secret without endpoint");
}

TEST("blob settings: the secret from FILIGRANE_S3_SECRET_ACCESS_KEY_FILE, not both, never shown")
{
    char dir[] = "/tmp/fg-config-XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/secret", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "%s\n", S3_SECRET);
    fclose(f);
    CHECK(chmod(path, 0600) == 0);
    s3_reset();
    unsetenv("FILIGRANE_S3_SECRET_ACCESS_KEY");
    setenv("FILIGRANE_S3_SECRET_ACCESS_KEY_FILE", path, 1);
    struct fcgi_config c;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_STR(c.blob.s3_secret, S3_SECRET); /* its final newline dropped */
    /* describe says it is set, never what it is */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    fcgi_config_describe(&c, mem);
    fclose(mem);
    CHECK(strstr(text, "FILIGRANE_S3_SECRET_ACCESS_KEY=(set)") != NULL);
    CHECK(strstr(text, path) != NULL); /* the file's name, not its content */
    CHECK(strstr(text, "FILIGRANE_S3_ENDPOINT=http://127.0.0.1:9000") != NULL);
    CHECK(strstr(text, S3_SECRET) == NULL);
    free(text);
    fcgi_config_release(&c);

    setenv("FILIGRANE_S3_SECRET_ACCESS_KEY", S3_SECRET, 1);
    refused("FILIGRANE_S3_SECRET_ACCESS_KEY_FILE", "both set");
    unsetenv("FILIGRANE_S3_SECRET_ACCESS_KEY");
    f = fopen(path, "w");
    fprintf(f, "two words EXAMPLEKEY\n");
    fclose(f);
    refused("FILIGRANE_S3_SECRET_ACCESS_KEY_FILE", "a space in it");
    f = fopen(path, "w");
    fclose(f);
    refused("FILIGRANE_S3_SECRET_ACCESS_KEY_FILE", "empty");
    unlink(path);
    refused("FILIGRANE_S3_SECRET_ACCESS_KEY_FILE", "missing");
    rmdir(dir);
}

/* refused() with only var's _FILE (file_var) set, to path. */
static void refused_file(const char *var, const char *file_var, const char *path,
                         const char *why)
{
    struct fcgi_config c;
    fg_reason r = {{0}};
    reset();
    unsetenv(var);
    setenv(file_var, path, 1);
    if (fcgi_config_load(&c, &r) != FG_EUSAGE) {
        TAP_FAIL("%s: accepted (%s)", file_var, why);
        fcgi_config_release(&c);
        return;
    }
    if (!strstr(r.text, file_var))
        TAP_FAIL("%s (%s): the reason does not name it: %s", file_var, why, r.text);
}

/* Writes content (with a final newline) to dir/name at mode; returns the
 * path in out. */
static void secret_at(const char *dir, const char *name, const char *content, mode_t mode,
                      char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
    unlink(out);
    FILE *f = fopen(out, "w");
    CHECK(f != NULL);
    fprintf(f, "%s\n", content);
    fclose(f);
    CHECK(chmod(out, mode) == 0);
}

TEST("every secret from its _FILE: read without its newline, not both, 0600 only, wiped")
{
    static const struct {
        const char *var, *value;
    } S[] = {
        {"FILIGRANE_JWT_SECRET", "jwt-from-file-0123456789abcdefghijkl"},
        {"FILIGRANE_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
        {"FILIGRANE_METRICS_TOKEN", "metrics-from-file-0123456789"},
        {"FILIGRANE_MARK_KEY", "mark-from-file-0123456789abcdefghijkl"},
        {"FILIGRANE_DATABASE_URL", "postgres://fg:pw-from-file@127.0.0.1:5432/fg"},
    };
    char dir[] = "/tmp/fg-config-XXXXXX", path[128], var[96];
    CHECK(mkdtemp(dir) != NULL);
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++) {
        snprintf(var, sizeof var, "%s_FILE", S[i].var);
        struct fcgi_config c;
        fg_reason r = {{0}};
        /* 0600: read, final newline dropped. */
        reset();
        unsetenv(S[i].var);
        secret_at(dir, "s", S[i].value, 0600, path, sizeof path);
        setenv(var, path, 1);
        if (fcgi_config_load(&c, &r) != FG_OK) {
            TAP_FAIL("%s: refused: %s", var, r.text);
            continue;
        }
        const char *got = i == 0   ? jwt_now(&c)
                          : i == 2 ? metrics_now(&c)
                          : i == 3 ? c.mark_key
                          : i == 4 ? c.database_url
                                   : NULL;
        if (got && strcmp(got, S[i].value) != 0)
            TAP_FAIL("%s: read as something else", var);
        if (i == 1)
            CHECK_INT(hook_len_now(&c), 24);
        if (i == 3)
            CHECK(getenv("FILIGRANE_MARK_KEY_FILE") == NULL); /* children never see it */
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        fcgi_config_describe(&c, mem);
        fclose(mem);
        CHECK(strstr(text, S[i].value) == NULL);
        free(text);
        fcgi_config_release(&c);
        CHECK(c.keys == NULL &&  c.mark_key == NULL &&
              c.database_url == NULL);

        /* Both the variable and the file: refused, naming both. */
        reset();
        setenv(var, path, 1);
        setenv(S[i].var, S[i].value, 1);
        refused(var, "both set");
        /* Readable or writable by the group or others: refused. */
        secret_at(dir, "s", S[i].value, 0640, path, sizeof path);
        refused_file(S[i].var, var, path, "group readable");
        secret_at(dir, "s", S[i].value, 0604, path, sizeof path);
        refused_file(S[i].var, var, path, "world readable");
        secret_at(dir, "s", S[i].value, 0620, path, sizeof path);
        refused_file(S[i].var, var, path, "group writable");
        secret_at(dir, "s", S[i].value, 0400, path, sizeof path);
        reset();
        unsetenv(S[i].var);
        setenv(var, path, 1);
        if (fcgi_config_load(&c, &r) != FG_OK)
            TAP_FAIL("%s: 0400 refused: %s", var, r.text);
        else
            fcgi_config_release(&c);
        /* Empty, missing, a directory: refused, naming the variable. */
        secret_at(dir, "s", "", 0600, path, sizeof path);
        CHECK(truncate(path, 0) == 0);
        refused_file(S[i].var, var, path, "empty");
        unlink(path);
        refused_file(S[i].var, var, path, "missing");
        refused_file(S[i].var, var, dir, "a directory");
        /* A file's content is checked like the variable's. */
        if (i != 4) {
            secret_at(dir, "s", "short", 0600, path, sizeof path);
            setenv(var, path, 1);
            fg_reason why = {{0}};
            struct fcgi_config c2;
            reset();
            unsetenv(S[i].var);
            setenv(var, path, 1);
            if (fcgi_config_load(&c2, &why) == FG_OK) {
                TAP_FAIL("%s: a 5-byte secret accepted", var);
                fcgi_config_release(&c2);
            }
            CHECK(strstr(why.text, S[i].var) != NULL);
        }
        unlink(path);
        unsetenv(var);
    }
    rmdir(dir);
    reset();
}

TEST("readiness settings at their edges")
{
    struct fcgi_config c;
    fg_reason r = {{0}};
    reset();
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_INT(c.ready_min_free, 1LL << 30);
    CHECK_INT(c.ready_max_outbox_lag, 900);
    fcgi_config_release(&c);
    setenv("FILIGRANE_READY_MIN_FREE", "0", 1);
    setenv("FILIGRANE_READY_MAX_OUTBOX_LAG", "1", 1);
    setenv("FILIGRANE_MARK_KEY", MARK, 1); /* a load takes it out of the environment */
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_INT(c.ready_min_free, 0);
    CHECK_INT(c.ready_max_outbox_lag, 1);
    fcgi_config_release(&c);
    setenv("FILIGRANE_READY_MIN_FREE", "512M", 1);
    setenv("FILIGRANE_READY_MAX_OUTBOX_LAG", "30d", 1);
    setenv("FILIGRANE_MARK_KEY", MARK, 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK_INT(c.ready_min_free, 512LL << 20);
    CHECK_INT(c.ready_max_outbox_lag, 30 * 86400);
    fcgi_config_release(&c);
    setenv("FILIGRANE_READY_MAX_OUTBOX_LAG", "31d", 1);
    refused("FILIGRANE_READY_MAX_OUTBOX_LAG", "over 30 days");
    setenv("FILIGRANE_READY_MAX_OUTBOX_LAG", "0", 1);
    refused("FILIGRANE_READY_MAX_OUTBOX_LAG", "zero");
    unsetenv("FILIGRANE_READY_MAX_OUTBOX_LAG");
    setenv("FILIGRANE_READY_MIN_FREE", "-1", 1);
    refused("FILIGRANE_READY_MIN_FREE", "negative");
    setenv("FILIGRANE_READY_MIN_FREE", "1T", 1);
    refused("FILIGRANE_READY_MIN_FREE", "unknown suffix");
    reset();
}

TEST("FILIGRANE_JWT_AUDIENCE: unset by default, 1 to 256 of its characters, else refused naming it")
{
    struct fcgi_config c;
    fg_reason r = {{0}};
    char aud[FCGI_JWT_AUDIENCE_MAX + 2];
    reset();
    CHECK_INT(load_again(&c, &r), FG_OK);
    CHECK_STR(c.jwt_audience, "");
    fcgi_config_release(&c);
    memset(aud, 'a', sizeof aud);
    aud[FCGI_JWT_AUDIENCE_MAX] = '\0'; /* 256: the edge */
    aud[3] = ':';
    setenv("FILIGRANE_JWT_AUDIENCE", aud, 1);
    CHECK_INT(load_again(&c, &r), FG_OK);
    CHECK_STR(c.jwt_audience, aud);
    fcgi_config_release(&c);
    const char *bad[] = {"has space", "tab\there", "quote\"", "é"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("FILIGRANE_JWT_AUDIENCE", bad[i], 1);
        CHECK_INT(load_again(&c, &r), FG_EUSAGE);
        CHECK(strstr(r.text, "FILIGRANE_JWT_AUDIENCE") != NULL);
    }
    aud[FCGI_JWT_AUDIENCE_MAX] = 'a'; /* 257 */
    aud[FCGI_JWT_AUDIENCE_MAX + 1] = '\0';
    setenv("FILIGRANE_JWT_AUDIENCE", aud, 1);
    CHECK_INT(load_again(&c, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_JWT_AUDIENCE") != NULL);
    unsetenv("FILIGRANE_JWT_AUDIENCE");
}

TEST("FILIGRANE_JWT_SECRETS alone (no FILIGRANE_JWT_SECRET), and FILIGRANE_LOG_FILE made absolute")
{
    struct fcgi_config c;
    fg_reason r = {{0}};
    reset();
    unsetenv("FILIGRANE_JWT_SECRET");
    setenv("FILIGRANE_JWT_SECRETS", "k1:k1-secret-0123456789abcdefghijklmnop", 1);
    setenv("FILIGRANE_LOG_FILE", "log/w.log", 1);
    CHECK_INT(load_again(&c, &r), FG_OK);
    CHECK(jwt_now(&c) == NULL);
    char cwd[PATH_MAX], want[PATH_MAX + 16];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(want, sizeof want, "%s/log/w.log", cwd);
    CHECK_STR(c.log_file, want);
    fcgi_config_release(&c);
    unsetenv("FILIGRANE_JWT_SECRETS");
    unsetenv("FILIGRANE_LOG_FILE");
    refused("FILIGRANE_JWT_SECRET", "neither the secret nor kids");
}
