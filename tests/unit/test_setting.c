/* common/setting.c: counts and byte sizes from settings, every malformed
 * or out-of-range value refused. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <stdlib.h>

#include "common/setting.h"

static const struct {
    const char *in;
    bool bytes;
    long long min, max;
    bool ok;
    long long want;
} rows[] = {
    {"0", false, 0, 10, true, 0},
    {"10", false, 0, 10, true, 10},
    {"11", false, 0, 10, false, 0},
    {"0", false, 1, 10, false, 0},
    {"", false, 0, 10, false, 0},
    {"-1", false, -5, 10, false, 0},
    {"+1", false, 0, 10, false, 0},
    {" 1", false, 0, 10, false, 0},
    {"1 ", false, 0, 10, false, 0},
    {"1.5", false, 0, 10, false, 0},
    {"0x10", false, 0, 100, false, 0},
    {"99999999999999999999", false, 0, 1LL << 62, false, 0},
    {"2K", true, 1, 1LL << 40, true, 2048},
    {"2k", true, 1, 1LL << 40, true, 2048},
    {"3M", true, 1, 1LL << 40, true, 3LL << 20},
    {"2G", true, 1, 1LL << 40, true, 2LL << 30},
    {"2G", false, 1, 1LL << 40, false, 0},
    {"2T", true, 1, 1LL << 60, false, 0},
    {"2GB", true, 1, 1LL << 40, false, 0},
    {"1025K", true, 1, 1LL << 20, false, 0}, /* over max once multiplied */
    {"1024K", true, 1, 1LL << 20, true, 1LL << 20},
    {"9999999999G", true, 1, 1LL << 42, false, 0},
    {"K", true, 1, 10, false, 0},
};

TEST("every row parses to its value or is refused")
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        long long v = -7;
        bool ok = fg_parse_count(rows[i].in, rows[i].bytes, rows[i].min, rows[i].max, &v);
        if (ok != rows[i].ok)
            TAP_FAIL("\"%s\": parsed %d, want %d", rows[i].in, ok, rows[i].ok);
        if (ok && v != rows[i].want)
            TAP_FAIL("\"%s\": %lld, want %lld", rows[i].in, v, rows[i].want);
        if (!ok && v != -7)
            TAP_FAIL("\"%s\": refused but wrote %lld", rows[i].in, v);
    }
}

TEST("an environment setting: unset keeps the default, bad names the variable")
{
    fg_reason r = {{0}};
    long long v = 42;
    unsetenv("FG_TEST_COUNT");
    CHECK_INT(fg_env_count("FG_TEST_COUNT", true, 1, 100, &v, &r), FG_OK);
    CHECK_INT(v, 42);
    setenv("FG_TEST_COUNT", "", 1);
    CHECK_INT(fg_env_count("FG_TEST_COUNT", true, 1, 100, &v, &r), FG_OK);
    CHECK_INT(v, 42);
    setenv("FG_TEST_COUNT", "77", 1);
    CHECK_INT(fg_env_count("FG_TEST_COUNT", true, 1, 100, &v, &r), FG_OK);
    CHECK_INT(v, 77);
    setenv("FG_TEST_COUNT", "s3cr3t-value", 1);
    CHECK_INT(fg_env_count("FG_TEST_COUNT", true, 1, 100, &v, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FG_TEST_COUNT") != NULL);
    CHECK(strstr(r.text, "s3cr3t") == NULL);
    CHECK_INT(v, 77);
}
