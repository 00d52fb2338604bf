/* wm_template_expand on a fuzzed template and variables.
 *
 * Input: lines. The first is the template; each further line is a
 * variable, "name=value" (a line without '=' is a name with an empty
 * value), at most FG_MAX_TEMPLATE_VARS of them.
 *
 * Invariants: the result is never NULL (no allocation fails here); it is
 * valid UTF-8 (fg_utf8_valid) of at most FG_MAX_MARK_TEXT bytes, one line
 * without control characters, with no leading or trailing space; and a
 * template without braces that is already such a text comes back
 * unchanged. */
#include "common/utf8.h"
#include "tests/fuzz/fuzz.h"
#include "watermark/wm.h"

static int plain_text(const char *s)
{
    size_t n = strlen(s);
    if (n > FG_MAX_MARK_TEXT || !fg_utf8_valid(s, n))
        return 0;
    if (n > 0 && (s[0] == ' ' || s[n - 1] == ' '))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '{' || c == '}')
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[1 + FG_MAX_TEMPLATE_VARS];
    wm_var vars[FG_MAX_TEMPLATE_VARS];
    size_t nf = fuzz_split(data, size, '\n', f, NULL, 1 + FG_MAX_TEMPLATE_VARS);
    int nv = 0;
    for (size_t i = 1; i < nf; i++) {
        char *eq = strchr(f[i], '=');
        vars[nv].name = f[i];
        vars[nv].value = "";
        if (eq) {
            *eq = '\0';
            vars[nv].value = eq + 1;
        }
        nv++;
    }

    char *out = wm_template_expand(f[0], vars, nv);
    FUZZ_CHECK(out != NULL, "expansion failed");
    size_t n = strlen(out);
    FUZZ_CHECK(n <= FG_MAX_MARK_TEXT, "%zu bytes", n);
    FUZZ_CHECK(fg_utf8_valid(out, n), "not valid UTF-8");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7f, "control byte 0x%02x at %zu", c, i);
    }
    FUZZ_CHECK(n == 0 || (out[0] != ' ' && out[n - 1] != ' '),
               "leading or trailing space");
    if (plain_text(f[0]))
        FUZZ_CHECK(strcmp(out, f[0]) == 0, "plain template changed");
    free(out);
    fuzz_free_fields(f, nf);
    return 0;
}
