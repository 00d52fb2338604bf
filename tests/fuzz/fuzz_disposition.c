/* fcgi_disposition on any file name a seller's client can send.
 *
 * Invariants, for both kinds: the value fits its buffer and is a valid
 * header value: printable ASCII only (no CR, LF, NUL or other control
 * before its end); it starts with the type; the quoted fallback holds no
 * '"' or '\\'; filename* percent-decodes to valid UTF-8 of at most
 * FG_DISPOSITION_MAX_NAME_BYTES bytes without control characters; and a
 * name that is already safe (valid UTF-8, no controls, within the limit)
 * comes back from filename* byte for byte. */
#include "common/utf8.h"
#include "fcgi/disposition.h"
#include "tests/fuzz/fuzz.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Is the name already what the header carries unchanged? */
static int safe_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > FG_DISPOSITION_MAX_NAME_BYTES ||
        !fg_utf8_valid(name, n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f ||
            (c == 0xc2 && i + 1 < n && (unsigned char)name[i + 1] <= 0x9f))
            return 0;
    }
    return 1;
}

static void check(enum fcgi_disposition kind, const char *name)
{
    /* Exactly the documented size, on the heap, so ASan sees a write past
     * its end. */
    char *out = malloc(FCGI_DISPOSITION_BYTES);
    if (!out)
        abort();
    memset(out, 'X', FCGI_DISPOSITION_BYTES);
    fcgi_disposition(kind, name, out);
    size_t len = strnlen(out, FCGI_DISPOSITION_BYTES);
    FUZZ_CHECK(len < FCGI_DISPOSITION_BYTES, "value not terminated");
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK(out[i] >= 0x20 && out[i] < 0x7f,
                   "byte 0x%02x at %zu of the header value",
                   (unsigned char)out[i], i);

    const char *type =
        kind == FCGI_DISPOSITION_INLINE ? "inline" : "attachment";
    size_t tl = strlen(type);
    FUZZ_CHECK(strncmp(out, type, tl) == 0, "value does not start with %s",
               type);
    if (len == tl) {
        FUZZ_CHECK(!safe_name(name), "a safe name was dropped");
        goto out;
    }

    const char *fb = out + tl;
    FUZZ_CHECK(strncmp(fb, "; filename=\"", 12) == 0, "no fallback: %s", out);
    fb += 12;
    const char *fe = strstr(fb, "\"; filename*=UTF-8''");
    FUZZ_CHECK(fe != NULL && fe > fb, "fallback not closed or empty: %s", out);
    for (const char *p = fb; p < fe; p++)
        FUZZ_CHECK(*p != '"' && *p != '\\', "quote or backslash in fallback");

    /* Decode filename*: only attr-chars and %XX. */
    const char *ext = fe + 20;
    char dec[FCGI_DISPOSITION_BYTES];
    size_t dn = 0;
    for (const char *p = ext; *p; p++) {
        if (*p == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            FUZZ_CHECK(hi >= 0 && lo >= 0, "bad percent escape in %s", ext);
            dec[dn++] = (char)(hi * 16 + lo);
            p += 2;
        } else {
            FUZZ_CHECK(strchr(" \"'%;,\\()<>@:/[]?={}", *p) == NULL,
                       "'%c' unescaped in filename*", *p);
            dec[dn++] = *p;
        }
    }
    FUZZ_CHECK(dn > 0 && dn <= FG_DISPOSITION_MAX_NAME_BYTES,
               "filename* decodes to %zu bytes", dn);
    FUZZ_CHECK(fg_utf8_valid(dec, dn), "filename* is not valid UTF-8");
    dec[dn] = '\0';
    FUZZ_CHECK(strlen(dec) == dn, "NUL in filename*");
    FUZZ_CHECK(safe_name(dec), "control character in filename*");
    if (safe_name(name))
        FUZZ_CHECK(strcmp(dec, name) == 0, "safe name changed: %s", out);
out:
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *name = fuzz_strndup(data, size);
    check(FCGI_DISPOSITION_ATTACHMENT, name);
    check(FCGI_DISPOSITION_INLINE, name);
    free(name);
    return 0;
}
