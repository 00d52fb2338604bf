#define TAP_MAIN
#include "tests/unit/tap.h"

#include "fcgi/log.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* Runs one fcgi_log call with stderr sent to a file; returns what was
 * written after "level=info " (static buffer). */
static char captured[16384];
#define CAPTURE(...)                                                                     \
    do {                                                                                 \
        char path[] = "/tmp/test_log_XXXXXX";                                            \
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);                              \
        CHECK(fd >= 0 && saved >= 0);                                                    \
        dup2(fd, STDERR_FILENO);                                                         \
        fcgi_log(FCGI_LOG_INFO, __VA_ARGS__);                                            \
        dup2(saved, STDERR_FILENO);                                                      \
        close(saved);                                                                    \
        ssize_t n = pread(fd, captured, sizeof captured - 1, 0);                         \
        close(fd);                                                                       \
        unlink(path);                                                                    \
        captured[n > 0 ? n : 0] = '\0';                                                  \
    } while (0)

static const char *body(void)
{
    const char *p = strstr(captured, "level=info ");
    return p ? p + 11 : "";
}

static int lines(void)
{
    int n = 0;
    for (const char *p = captured; *p; p++)
        n += *p == '\n';
    return n;
}

TEST("a quoted value with a newline and a quote stays on one line, escaped")
{
    CAPTURE("req=%s path=\"%s\" status=%d", "r1", "/v1/x\nts=forged level=error \"y\\", 404);
    CHECK_INT(lines(), 1);
    CHECK_STR(body(), "req=r1 path=\"/v1/x\\nts=forged level=error \\\"y\\\\\" status=404\n");
}

TEST("an unquoted value with a space or '=' is quoted, so it adds no key")
{
    CAPTURE("type=%s order=%s", "x effect=accepted", "ord-1");
    CHECK_STR(body(), "type=\"x effect=accepted\" order=ord-1\n");
    CAPTURE("type=%s", "");
    CHECK_STR(body(), "type=\"\"\n");
}

TEST("CR, tab, other controls, C1 controls and broken UTF-8 are escaped; UTF-8 is kept")
{
    CAPTURE("v=\"%s\"", "a\rb\tc\x01" "d\x7f" "e\xc2\x85" "f\xff" "g Zo\xc3\xab");
    CHECK_STR(body(), "v=\"a\\rb\\tc\\x01d\\x7fe\\xc2\\x85f\\xffg Zo\xc3\xab\"\n");
}

TEST("numbers, precision and %% are formatted as printf does")
{
    int64_t seq = -42;
    CAPTURE("a=%d b=%zu c=%lld d=%.1f e=%" PRId64 " f=%.3s g=%.*s h=%5d%% i=%c j=%lu", 7,
            (size_t)8, 9LL, 2.25, seq, "abcdef", 2, "xyz", 3, 'Q', 10UL);
    CHECK_STR(body(), "a=7 b=8 c=9 d=2.2 e=-42 f=abc g=xy h=    3% i=Q j=10\n");
}

TEST("a line longer than the buffer is cut and still ends with one newline")
{
    static char big[5000];
    memset(big, 'x', sizeof big - 1);
    CAPTURE("v=%s", big);
    CHECK_INT(lines(), 1);
    CHECK(strlen(captured) <= 2048);
    CHECK(captured[strlen(captured) - 1] == '\n');
}

/* ---- FILIGRANE_LOG_FORMAT=json ---- */

static json_t *jline(void)
{
    json_error_t e;
    /* One line exactly: the object, then its newline. */
    size_t n = strlen(captured);
    if (n == 0 || captured[n - 1] != '\n' || lines() != 1)
        return NULL;
    return json_loadb(captured, n - 1, 0, &e);
}

static const char *jstr(json_t *doc, const char *path1, const char *path2)
{
    json_t *v = json_object_get(doc, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

TEST("json: one object per line with time, level, msg, request_id and fields")
{
    fcgi_log_set_json(true);
    CAPTURE("req=%s webhook rejected: %s type=%s ms=%.1f", "0123abcd", "bad signature",
            "order.created", 1.25);
    json_t *doc = jline();
    CHECK(doc != NULL);
    CHECK_STR(jstr(doc, "level", NULL), "info");
    CHECK_STR(jstr(doc, "request_id", NULL), "0123abcd");
    CHECK_STR(jstr(doc, "msg", NULL), "webhook rejected: bad signature");
    CHECK_STR(jstr(doc, "fields", "type"), "order.created");
    CHECK_STR(jstr(doc, "fields", "ms"), "1.2");
    CHECK(json_object_get(json_object_get(doc, "fields"), "req") == NULL);
    const char *t = jstr(doc, "time", NULL);
    CHECK(t && strlen(t) == 24 && t[10] == 'T' && t[23] == 'Z');
    json_decref(doc);
    fcgi_log_set_json(false);
}

TEST("json: a value with a newline, quotes and forged keys is one field, read back exactly")
{
    fcgi_log_set_json(true);
    const char *evil = "/v1/x\n{\"level\":\"error\"} ts=forged req=stolen \\";
    CAPTURE("req=%s path=\"%s\" status=%d", "r1", evil, 404);
    json_t *doc = jline();
    CHECK(doc != NULL);
    CHECK_STR(jstr(doc, "fields", "path"), evil);
    CHECK_STR(jstr(doc, "request_id", NULL), "r1");
    CHECK_STR(jstr(doc, "fields", "status"), "404");
    CHECK(json_object_size(json_object_get(doc, "fields")) == 2);
    json_decref(doc);
    CAPTURE("type=%s", "x req=forged");
    doc = jline();
    CHECK(doc != NULL && json_object_get(doc, "request_id") == NULL);
    CHECK_STR(jstr(doc, "fields", "type"), "x req=forged");
    json_decref(doc);
    fcgi_log_set_json(false);
}

TEST("json: controls, C1 controls and broken UTF-8 still make valid JSON; UTF-8 is kept")
{
    fcgi_log_set_json(true);
    CAPTURE("v=\"%s\" w=%s", "a\rb\tc\x01" "d\x7f" "e\xc2\x85" "f\xff" "g Zo\xc3\xab", "\x80");
    json_t *doc = jline();
    CHECK(doc != NULL);
    CHECK_STR(jstr(doc, "fields", "v"), "a\rb\tc\\x01d\\x7fe\\xc2\\x85f\\xffg Zo\xc3\xab");
    CHECK_STR(jstr(doc, "fields", "w"), "\\x80");
    json_decref(doc);
    fcgi_log_set_json(false);
}

TEST("json: a line longer than the buffer is cut inside its string, still one whole object")
{
    static char big[9000];
    fcgi_log_set_json(true);
    for (size_t quotes = 0; quotes < 2; quotes++) {
        memset(big, quotes ? '"' : '\x01', sizeof big - 1);
        CAPTURE("req=%s v=%s", "r2", big);
        json_t *doc = jline();
        CHECK(doc != NULL);
        CHECK_STR(jstr(doc, "request_id", NULL), "r2");
        CHECK(jstr(doc, "fields", "v") != NULL);
        json_decref(doc);
    }
    CAPTURE("%s", "plain words only");
    json_t *doc = jline();
    CHECK(doc != NULL && json_object_get(doc, "fields") == NULL);
    CHECK_STR(jstr(doc, "msg", NULL), "plain words only");
    json_decref(doc);
    fcgi_log_set_json(false);
}
