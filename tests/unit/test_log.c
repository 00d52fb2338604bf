#define TAP_MAIN
#include "tests/unit/tap.h"

#include "fcgi/log.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* Runs one fcgi_log call with stderr sent to a file; returns what was
 * written after "level=info " (static buffer). */
static char captured[4096];
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
