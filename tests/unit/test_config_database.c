/* FILIGRANE_DATABASE_URL in the worker's configuration: which store the
 * worker opens, refused when it is not PostgreSQL's, its password kept
 * like a secret (wiped on release, never described). */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"

#include "fcgi/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reset(void)
{
    unsetenv("FILIGRANE_DATABASE_URL");
    setenv("FILIGRANE_JWT_SECRET", "jwt-secret-jwt-secret-jwt-secret-32", 1);
    setenv("FILIGRANE_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
    setenv("FILIGRANE_MARK_KEY", "mark-key-0123456789-abcdefghij-xyz", 1);
}

static char *describe(const struct fcgi_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fcgi_config_describe(c, f);
    fclose(f);
    return buf;
}

TEST("unset or empty, the store is SQLite in the data directory")
{
    struct fcgi_config c;
    fg_reason r = {{0}};
    reset();
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK(c.database_url == NULL);
    char *d = describe(&c);
    CHECK(d && strstr(d, "FILIGRANE_DATABASE_URL=(unset: SQLite)"));
    free(d);
    fcgi_config_release(&c);
    reset(); /* a load takes FILIGRANE_MARK_KEY out of the environment */
    setenv("FILIGRANE_DATABASE_URL", "", 1);
    CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
    CHECK(c.database_url == NULL);
    fcgi_config_release(&c);
}

TEST("a postgres URL is taken; described with its password as ***")
{
    static const char *const ok[] = {
        "postgres://fg:pa55word-very-secret@db.internal:5432/filigrane?sslmode=require",
        "postgresql://fg@db/filigrane",
    };
    for (size_t i = 0; i < 2; i++) {
        struct fcgi_config c;
        fg_reason r = {{0}};
        reset();
        setenv("FILIGRANE_DATABASE_URL", ok[i], 1);
        CHECK_INT(fcgi_config_load(&c, &r), FG_OK);
        CHECK_STR(c.database_url, ok[i]);
        char *d = describe(&c);
        CHECK(d != NULL);
        CHECK(strstr(d, "pa55word") == NULL);
        if (i == 0)
            CHECK(strstr(d, "FILIGRANE_DATABASE_URL=postgres://fg:***@db.internal:5432/"
                            "filigrane?sslmode=require\n"));
        free(d);
        fcgi_config_release(&c);
        CHECK(c.database_url == NULL);
    }
}

TEST("another scheme, or a URL over 1000 bytes, is refused naming the variable only")
{
    static const char *const bad[] = {
        "mysql://fg:pa55word@db/filigrane", "sqlite:///var/lib/filigrane.db",
        "/var/lib/filigrane/filigrane.db", "postgres:/fg:pa55word@db", "POSTGRES://fg@db/x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fcgi_config c;
        fg_reason r = {{0}};
        reset();
        setenv("FILIGRANE_DATABASE_URL", bad[i], 1);
        if (fcgi_config_load(&c, &r) != FG_EUSAGE)
            TAP_FAIL("%s was taken", bad[i]);
        CHECK(strstr(r.text, "FILIGRANE_DATABASE_URL") != NULL);
        CHECK(strstr(r.text, "pa55word") == NULL);
    }
    /* The edge: 1000 bytes taken, 1001 refused. */
    char url[1002];
    const char *head = "postgres://fg:pa55word@db/";
    for (int len = 1000; len <= 1001; len++) {
        struct fcgi_config c;
        fg_reason r = {{0}};
        memset(url, 'x', sizeof url);
        memcpy(url, head, strlen(head));
        url[len] = '\0';
        reset();
        setenv("FILIGRANE_DATABASE_URL", url, 1);
        fg_result rc = fcgi_config_load(&c, &r);
        if (len == 1000) {
            CHECK_INT(rc, FG_OK);
            fcgi_config_release(&c);
        } else {
            CHECK_INT(rc, FG_EUSAGE);
            CHECK(strstr(r.text, "FILIGRANE_DATABASE_URL is longer than 1000 bytes") != NULL);
        }
    }
}
