#define TAP_MAIN
#include "tests/unit/tap.h"

/* The unit tests link the worker's library, not the CLI's objects: the
 * command is compiled into this test directly. */
#include "cli/token.c"

#include <fcntl.h>
#include <unistd.h>

static const char *SECRET = "token-test-secret-token-test-secret";

static fg_result parse(const char *line, struct cli_token_args *a)
{
    static char buf[512];
    static char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", line);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && argc < 31;
         t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    argv[argc] = NULL;
    fg_reason r = {{0}};
    return cli_token_parse(argc, argv, a, &r);
}

TEST("arguments are parsed in both spellings, ttl defaults to an hour")
{
    struct cli_token_args a;
    CHECK_INT(parse("token --role seller --sub s-7 --ord ord-1", &a), FG_OK);
    CHECK_INT(a.role, FCGI_ROLE_SELLER);
    CHECK_STR(a.sub, "s-7");
    CHECK_STR(a.ord, "ord-1");
    CHECK_INT(a.ttl, CLI_TOKEN_TTL_DEFAULT);
    CHECK_INT(parse("token --ttl=60 --ord=o --sub=b --role=buyer", &a), FG_OK);
    CHECK_INT(a.role, FCGI_ROLE_BUYER);
    CHECK_INT(a.ttl, 60);
    CHECK_INT(parse("token --role admin --sub ops", &a), FG_OK);
    CHECK(a.ord == NULL);
    CHECK_INT(parse("token --help", &a), FG_OK);
    CHECK_INT(a.help, 1);
}

TEST("bad arguments are usage errors")
{
    static const char *const bad[] = {
        "token",
        "token --role seller",
        "token --sub s",
        "token --role seller --sub s",
        "token --role buyer --sub b",
        "token --role root --sub s",
        "token --role admin --sub",
        "token --role admin --sub=",
        "token --role admin --sub a --sub b",
        "token --role admin --sub a --ttl 0",
        "token --role admin --sub a --ttl -5",
        "token --role admin --sub a --ttl 10s",
        "token --role admin --sub a --ttl 99999999999999999999",
        "token --role admin --sub a --ttl 2592001",
        "token --role admin --sub a --order o",
        "token --role admin --sub a extra",
        "token -r admin --sub a",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cli_token_args a;
        if (parse(bad[i], &a) != FG_EUSAGE)
            TAP_FAIL("accepted: %s", bad[i]);
    }
}

/* Runs cli_token with stdout captured to a file and stderr discarded. */
static int run(char **argv, int argc, char *out, size_t cap)
{
    char path[] = "/tmp/fg-token-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(stdout);
    int saved_out = dup(1), saved_err = dup(2);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    dup2(devnull, 2);
    int rc = cli_token(argc, argv);
    fflush(stdout);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(devnull);
    ssize_t n = pread(fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

TEST("the command prints a token the worker verifies")
{
    setenv("FILIGRANE_JWT_SECRET", SECRET, 1);
    char *argv[] = {"token", "--role", "buyer", "--sub", "b-9",
                    "--ord", "ord-1", "--ttl", "120", NULL};
    char out[2048];
    CHECK_INT(run(argv, 9, out, sizeof out), 0);
    size_t n = strlen(out);
    CHECK(n > 10 && out[n - 1] == '\n');
    out[n - 1] = '\0';
    struct fcgi_claims c;
    fg_reason r = {{0}};
    long long now = (long long)time(NULL);
    CHECK_INT(fcgi_jwt_verify(out, SECRET, now, &c, &r), FG_OK);
    CHECK_STR(c.sub, "b-9");
    CHECK_STR(c.ord, "ord-1");
    CHECK_INT(c.role, FCGI_ROLE_BUYER);
    CHECK(c.exp >= now + 110 && c.exp <= now + 130);
}

TEST("the command exits 2 on bad arguments or a missing secret")
{
    char out[256];
    setenv("FILIGRANE_JWT_SECRET", SECRET, 1);
    char *bad[] = {"token", "--role", "buyer", "--sub", "b", NULL};
    CHECK_INT(run(bad, 5, out, sizeof out), 2);
    CHECK_STR(out, "");
    char *ok[] = {"token", "--role", "admin", "--sub", "ops", NULL};
    unsetenv("FILIGRANE_JWT_SECRET");
    CHECK_INT(run(ok, 5, out, sizeof out), 2);
    CHECK_STR(out, "");
    setenv("FILIGRANE_JWT_SECRET", "too-short", 1);
    CHECK_INT(run(ok, 5, out, sizeof out), 2);
    char *help[] = {"token", "--help", NULL};
    CHECK_INT(run(help, 2, out, sizeof out), 0);
    CHECK(strncmp(out, "usage: filigrane token", 22) == 0);
}
