#define TAP_MAIN
#include "tests/unit/tap.h"

#include <stdlib.h>

#include "watermark/options.h"

TEST("defaults come from common/limits.h")
{
    wm_options o;
    fg_reason r = {{0}};
    unsetenv("FILIGRANE_MAX_PIXELS");
    unsetenv("FILIGRANE_PREVIEW_EDGE");
    CHECK_INT(wm_options_init(&o, &r), FG_OK);
    CHECK_INT(o.max_pixels, FG_MAX_INPUT_PIXELS_DEFAULT);
    CHECK_INT(o.max_bytes, FG_MAX_INPUT_BYTES_DEFAULT);
    CHECK_INT(o.max_frames, FG_MAX_FRAMES_DEFAULT);
    CHECK_INT(o.max_edge, FG_PREVIEW_EDGE_DEFAULT);
    CHECK_INT(o.max_seconds, FG_PREVIEW_MAX_SECONDS_DEFAULT);
    CHECK(o.opacity > 0 && o.opacity <= 1);
    CHECK(!o.has_seed);
    CHECK(o.text_template == NULL);
    CHECK_INT(o.nvars, 0);
}

static const struct {
    const char *env, *value;
    fg_result want;
} env_cases[] = {
    {"FILIGRANE_MAX_PIXELS", "5000", FG_OK},
    {"FILIGRANE_MAX_PIXELS", "0", FG_EUSAGE},
    {"FILIGRANE_MAX_PIXELS", "12abc", FG_EUSAGE},
    {"FILIGRANE_MAX_PIXELS", "", FG_EUSAGE},
    {"FILIGRANE_MAX_PIXELS", "99999999999999999999999", FG_EUSAGE},
    {"FILIGRANE_MAX_INPUT_BYTES", "1024", FG_OK},
    {"FILIGRANE_MAX_INPUT_BYTES", "-1", FG_EUSAGE},
    {"FILIGRANE_MAX_FRAMES", "3", FG_OK},
    {"FILIGRANE_MAX_FRAMES", "3.5", FG_EUSAGE},
    {"FILIGRANE_PREVIEW_EDGE", "0", FG_OK},
    {"FILIGRANE_PREVIEW_EDGE", "-5", FG_EUSAGE},
    {"FILIGRANE_OPACITY", "0.5", FG_OK},
    {"FILIGRANE_OPACITY", "2", FG_EUSAGE},
    {"FILIGRANE_OPACITY", "nan", FG_EUSAGE},
    {"FILIGRANE_PREVIEW_MAX_SECONDS", "1", FG_OK},
    {"FILIGRANE_PREVIEW_MAX_SECONDS", "86400", FG_OK},
    {"FILIGRANE_PREVIEW_MAX_SECONDS", "0", FG_EUSAGE},
    {"FILIGRANE_PREVIEW_MAX_SECONDS", "86401", FG_EUSAGE},
};

TEST("environment overrides are applied or refused, table of cases")
{
    for (size_t i = 0; i < sizeof env_cases / sizeof env_cases[0]; i++) {
        wm_options o;
        fg_reason r = {{0}};
        setenv(env_cases[i].env, env_cases[i].value, 1);
        fg_result got = wm_options_init(&o, &r);
        unsetenv(env_cases[i].env);
        if (got != env_cases[i].want)
            fprintf(stderr, "  case %zu: %s=%s gave %d (%s)\n", i,
                    env_cases[i].env, env_cases[i].value, got, r.text);
        CHECK_INT(got, env_cases[i].want);
        if (got != FG_OK)
            CHECK(strstr(r.text, env_cases[i].env) != NULL);
    }
}

TEST("an environment override lands in its field")
{
    wm_options o;
    fg_reason r = {{0}};
    setenv("FILIGRANE_MAX_PIXELS", "5000", 1);
    setenv("FILIGRANE_MAX_FRAMES", "7", 1);
    setenv("FILIGRANE_PREVIEW_EDGE", "0", 1);
    fg_result rc = wm_options_init(&o, &r);
    unsetenv("FILIGRANE_MAX_PIXELS");
    unsetenv("FILIGRANE_MAX_FRAMES");
    unsetenv("FILIGRANE_PREVIEW_EDGE");
    CHECK_INT(rc, FG_OK);
    CHECK_INT(o.max_pixels, 5000);
    CHECK_INT(o.max_frames, 7);
    CHECK_INT(o.max_edge, 0);
}

static const struct {
    const char *name, *value;
    fg_result want;
} set_cases[] = {
    {"max-edge", "800", FG_OK},     {"max-edge", "x", FG_EUSAGE},
    {"opacity", "0.3", FG_OK},      {"opacity", "0", FG_EUSAGE},
    {"seed", "42", FG_OK},          {"seed", "0xffffffffffffffff", FG_OK},
    {"seed", "-1", FG_EUSAGE},      {"seed", "1x", FG_EUSAGE},
    {"quality", "100", FG_OK},      {"quality", "101", FG_EUSAGE},
    {"max-pixels", "1", FG_OK},     {"max-frames", "0", FG_EUSAGE},
    {"max-bytes", "10", FG_OK},     {"nonsense", "1", FG_EUSAGE},
    {"max-seconds", "600", FG_OK},  {"max-seconds", "-3", FG_EUSAGE},
    {"max-edge", NULL, FG_EUSAGE},
    {"salt", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", FG_OK},
    {"salt", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", FG_EUSAGE},
    {"salt", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0", FG_EUSAGE},
    {"salt", "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", FG_EUSAGE},
    {"salt", "", FG_EUSAGE},
};

TEST("options set by name are checked, table of cases")
{
    for (size_t i = 0; i < sizeof set_cases / sizeof set_cases[0]; i++) {
        wm_options o;
        fg_reason r = {{0}};
        CHECK_INT(wm_options_init(&o, &r), FG_OK);
        wm_options before = o;
        fg_result got =
            wm_options_set(&o, set_cases[i].name, set_cases[i].value, &r);
        if (got != set_cases[i].want)
            fprintf(stderr, "  case %zu: --%s %s gave %d\n", i,
                    set_cases[i].name, set_cases[i].value, got);
        CHECK_INT(got, set_cases[i].want);
        if (got != FG_OK) {
            CHECK(memcmp(&o, &before, sizeof o) == 0);
            CHECK(r.text[0] != '\0');
        }
    }
}

TEST("a seed keeps all 64 bits and marks itself as given")
{
    wm_options o;
    fg_reason r = {{0}};
    CHECK_INT(wm_options_init(&o, &r), FG_OK);
    CHECK_INT(wm_options_set(&o, "seed", "0xfedcba9876543210", &r), FG_OK);
    CHECK(o.has_seed);
    CHECK(o.seed == 0xfedcba9876543210ULL);
}

TEST("a salt is 64 hex digits, kept as 32 bytes and marked as given")
{
    wm_options o;
    fg_reason r = {{0}};
    CHECK_INT(wm_options_init(&o, &r), FG_OK);
    CHECK(!o.has_salt);
    CHECK_INT(wm_options_set(&o, "salt",
                             "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                             &r),
              FG_OK);
    CHECK(o.has_salt);
    CHECK_INT(o.salt[0], 0xff);
    CHECK_INT(o.salt[31], 0x1f);
}

TEST("template variables are split and bounded")
{
    wm_options o;
    fg_reason r = {{0}};
    CHECK_INT(wm_options_init(&o, &r), FG_OK);
    char a[] = "order=ord-1", b[] = "buyer=A=B", c[] = "noequals",
         d[] = "=x", e[] = "bad name=x";
    CHECK_INT(wm_options_add_var(&o, a, &r), FG_OK);
    CHECK_INT(wm_options_add_var(&o, b, &r), FG_OK);
    CHECK_STR(o.vars[0].name, "order");
    CHECK_STR(o.vars[0].value, "ord-1");
    CHECK_STR(o.vars[1].value, "A=B");
    CHECK_INT(wm_options_add_var(&o, c, &r), FG_EUSAGE);
    CHECK_INT(wm_options_add_var(&o, d, &r), FG_EUSAGE);
    CHECK_INT(wm_options_add_var(&o, e, &r), FG_EUSAGE);
    CHECK_STR(e, "bad name=x");
    CHECK_INT(o.nvars, 2);
    char many[FG_MAX_TEMPLATE_VARS][16];
    int added = 2;
    for (int i = 0; i < FG_MAX_TEMPLATE_VARS; i++) {
        snprintf(many[i], sizeof many[i], "v%d=x", i);
        if (wm_options_add_var(&o, many[i], &r) == FG_OK)
            added++;
    }
    CHECK_INT(added, FG_MAX_TEMPLATE_VARS);
    CHECK_INT(o.nvars, FG_MAX_TEMPLATE_VARS);
}
