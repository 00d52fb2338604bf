/* Durations from settings: seconds, or s, m, h, d. */
#include <stdlib.h>

#define TAP_MAIN
#include "tests/unit/tap.h"

#include "common/duration.h"

TEST("durations parse with and without a unit, and refuse everything else")
{
    static const struct {
        const char *in;
        bool ok;
        long long want;
    } rows[] = {
        {"0", true, 0},       {"45", true, 45},      {"45s", true, 45},
        {"10m", true, 600},   {"2h", true, 7200},    {"3d", true, 259200},
        {"", false, 0},       {"s", false, 0},       {"-1", false, 0},
        {"+5", false, 0},     {" 5", false, 0},      {"5 ", false, 0},
        {"5x", false, 0},     {"5ms", false, 0},     {"1.5h", false, 0},
        {"5H", false, 0},     {"99999999999999999999", false, 0},
        {"106752d", false, 0}, /* over the maximum given below */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        long long v = -7;
        bool ok = fg_duration_parse(rows[i].in, 0, 9000000000LL, &v);
        if (ok != rows[i].ok || (ok && v != rows[i].want) || (!ok && v != -7))
            TAP_FAIL("\"%s\": ok %d value %lld", rows[i].in, ok, v);
    }
}

TEST("a duration setting's edges: the minimum and maximum pass, one past fails")
{
    long long v = 0;
    CHECK(fg_duration_parse("1", 1, 86400, &v) && v == 1);
    CHECK(fg_duration_parse("1d", 1, 86400, &v) && v == 86400);
    CHECK(!fg_duration_parse("0", 1, 86400, &v));
    CHECK(!fg_duration_parse("86401", 1, 86400, &v));
}

TEST("a bad duration in the environment names the variable, not the value")
{
    fg_reason r = {""};
    long long v = 42;
    setenv("FILIGRANE_TEST_DURATION", "secret-ish", 1);
    CHECK_INT(fg_duration_env("FILIGRANE_TEST_DURATION", 1, 60, &v, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_TEST_DURATION") != NULL);
    CHECK(strstr(r.text, "secret-ish") == NULL);
    CHECK_INT(v, 42);
    setenv("FILIGRANE_TEST_DURATION", "", 1);
    CHECK_INT(fg_duration_env("FILIGRANE_TEST_DURATION", 1, 60, &v, &r), FG_OK);
    CHECK_INT(v, 42);
    unsetenv("FILIGRANE_TEST_DURATION");
}
