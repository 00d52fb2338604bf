#define TAP_MAIN
#include "tests/unit/tap.h"

#include <stdlib.h>

#include "watermark/wm.h"

static const wm_var vars[] = {
    {"order", "ord-42"},
    {"buyer", "Tom & Jerry <Ltd>"},
    {"polish", "Zo\xc3\xab \xc5\x81ukasiewicz"},
    {"empty", ""},
    {"bad", "a\xff" "b\xc0\xaf" "c"},
    {"ctl", "one\ntwo\tthree"},
    {"dup", "first"},
    {"dup", "second"},
};
#define NVARS ((int)(sizeof vars / sizeof vars[0]))

static const struct {
    const char *tmpl, *want;
} cases[] = {
    {NULL, "PREVIEW \xc2\xb7 ord-42"},
    {"{order}", "ord-42"},
    {"PREVIEW \xc2\xb7 {missing}", "PREVIEW"},
    {"PREVIEW \xc2\xb7 {empty}", "PREVIEW"},
    {"{missing} \xc2\xb7 PREVIEW", "PREVIEW"},
    {"A \xc2\xb7 {missing} \xc2\xb7 B", "A \xc2\xb7 B"},
    {"{missing} | {empty} - B", "B"},
    {"{missing}", ""},
    {"Order: {missing}", "Order"},
    {"for {buyer}", "for Tom & Jerry <Ltd>"},
    {"{polish} {order}", "Zo\xc3\xab \xc5\x81ukasiewicz ord-42"},
    {"{{order}}", "{order}"},
    {"{{{order}}}", "{ord-42}"},
    {"{ order }", "{ order }"},
    {"{unclosed", "{unclosed"},
    {"}", "}"},
    {"{}", "{}"},
    {"{bad}", "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd" "c"},
    {"{ctl}", "one two three"},
    {"{dup}", "second"},
    {"  spaced  ", "spaced"},
    {"raw \xe2\x82", "raw \xef\xbf\xbd\xef\xbf\xbd"},
};

TEST("templates expand to the expected text, table of cases")
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = wm_template_expand(cases[i].tmpl, vars, NVARS);
        if (!got || strcmp(got, cases[i].want) != 0) {
            fprintf(stderr, "  case %zu: \"%s\" gave \"%s\"\n", i,
                    cases[i].tmpl ? cases[i].tmpl : "(default)",
                    got ? got : "(null)");
            free(got);
            CHECK(0);
        }
        free(got);
    }
}

TEST("the default template without an order is just PREVIEW")
{
    char *got = wm_template_expand(NULL, NULL, 0);
    CHECK_STR(got, "PREVIEW");
    free(got);
}

TEST("a long expansion is cut at a UTF-8 boundary within the limit")
{
    /* 200 two-byte characters: 400 bytes, cut inside a character unless
     * the cut is boundary-aware. */
    char value[401];
    for (int i = 0; i < 200; i++) {
        value[2 * i] = (char)0xc5;
        value[2 * i + 1] = (char)0x81;
    }
    value[400] = '\0';
    wm_var v = {"x", value};
    for (int pre = 0; pre < 3; pre++) {
        char tmpl[16];
        snprintf(tmpl, sizeof tmpl, "%.*s{x}", pre, "aaa");
        char *got = wm_template_expand(tmpl, &v, 1);
        CHECK(got != NULL);
        size_t n = strlen(got);
        int ok = n <= FG_MAX_MARK_TEXT && n >= FG_MAX_MARK_TEXT - 1 &&
                 (unsigned char)got[n - 1] == 0x81;
        free(got);
        CHECK(ok);
    }
}
