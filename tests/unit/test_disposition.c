#define TAP_MAIN
#include "tests/unit/tap.h"

#include "fcgi/disposition.h"

/* No CR, LF or other control byte; quotes only as the fallback's own. */
static void check_header_safe(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            TAP_FAIL("control byte 0x%02x in \"%s\"", *p, v);
    const char *q = strchr(v, '"');
    if (q) {
        const char *q2 = strchr(q + 1, '"');
        CHECK(q2 != NULL);
        CHECK(strchr(q2 + 1, '"') == NULL);
        CHECK(memchr(q + 1, '\\', (size_t)(q2 - q - 1)) == NULL);
    }
}

TEST("names become a fallback and a filename*, table-driven")
{
    static const struct {
        const char *name, *want;
    } rows[] = {
        {"logo final.png",
         "attachment; filename=\"logo final.png\"; "
         "filename*=UTF-8''logo%20final.png"},
        {"Zoë Łukasiewicz.pdf",
         "attachment; filename=\"Zo_ _ukasiewicz.pdf\"; "
         "filename*=UTF-8''Zo%C3%AB%20%C5%81ukasiewicz.pdf"},
        {"a\"b.txt",
         "attachment; filename=\"ab.txt\"; filename*=UTF-8''a%22b.txt"},
        {"evil\r\nSet-Cookie: x",
         "attachment; filename=\"evilSet-Cookie: x\"; "
         "filename*=UTF-8''evilSet-Cookie%3A%20x"},
        {"../../etc/passwd",
         "attachment; filename=\".._.._etc_passwd\"; "
         "filename*=UTF-8''..%2F..%2Fetc%2Fpasswd"},
        {"back\\slash 100%.txt",
         "attachment; filename=\"backslash 100_.txt\"; "
         "filename*=UTF-8''back%5Cslash%20100%25.txt"},
        {"bad\xff.txt",
         "attachment; filename=\"bad_.txt\"; filename*=UTF-8''bad%EF%BF%BD.txt"},
        {"c1\xc2\x85x", "attachment; filename=\"c1x\"; filename*=UTF-8''c1x"},
        {"\"\"", "attachment; filename=\"_\"; filename*=UTF-8''%22%22"},
        {"tab\there;x=1",
         "attachment; filename=\"tabhere;x=1\"; filename*=UTF-8''tabhere%3Bx%3D1"},
        /* A right-to-left override would show "invoice\u202Egpj.exe" as
         * "invoiceexe.jpg": every bidi control becomes U+FFFD. */
        {"invoice\xe2\x80\xaegpj.exe",
         "attachment; filename=\"invoice_gpj.exe\"; "
         "filename*=UTF-8''invoice%EF%BF%BDgpj.exe"},
        {"a\xe2\x81\xa6" "b\xe2\x81\xa9" "c\xe2\x80\x8f" "d\xd8\x9c",
         "attachment; filename=\"a_b_c_d_\"; "
         "filename*=UTF-8''a%EF%BF%BDb%EF%BF%BDc%EF%BF%BDd%EF%BF%BD"},
        {"", "attachment"},
        {"\r\n", "attachment"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[FCGI_DISPOSITION_BYTES];
        fcgi_disposition(FCGI_DISPOSITION_ATTACHMENT, rows[i].name, out);
        CHECK_STR(out, rows[i].want);
        check_header_safe(out);
    }
}

TEST("inline for previews, and a NULL name")
{
    char out[FCGI_DISPOSITION_BYTES];
    fcgi_disposition(FCGI_DISPOSITION_INLINE, "p.jpg", out);
    CHECK_STR(out, "inline; filename=\"p.jpg\"; filename*=UTF-8''p.jpg");
    fcgi_disposition(FCGI_DISPOSITION_INLINE, NULL, out);
    CHECK_STR(out, "inline");
}

TEST("a very long name is cut at a character boundary and fits")
{
    char name[4096], out[FCGI_DISPOSITION_BYTES];
    size_t o = 0;
    while (o + 2 < sizeof name) { /* "é" repeated: 2 bytes each */
        name[o++] = (char)0xc3;
        name[o++] = (char)0xa9;
    }
    name[o] = '\0';
    fcgi_disposition(FCGI_DISPOSITION_ATTACHMENT, name, out);
    check_header_safe(out);
    CHECK(strlen(out) < FCGI_DISPOSITION_BYTES);
    const char *star = strstr(out, "filename*=UTF-8''");
    CHECK(star != NULL);
    star += strlen("filename*=UTF-8''");
    /* 127 whole characters (254 bytes), never half of one. */
    CHECK_INT(strlen(star), 127 * 6);
    CHECK(strncmp(star + strlen(star) - 6, "%C3%A9", 6) == 0);

    /* The worst case: every byte percent-encoded, at the limit. */
    memset(name, '"', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    fcgi_disposition(FCGI_DISPOSITION_INLINE, name, out);
    check_header_safe(out);
    CHECK_INT(strlen(strstr(out, "''") + 2), 3 * FG_DISPOSITION_MAX_NAME_BYTES);
}

TEST("every byte value in a name gives a safe header")
{
    char name[4], out[FCGI_DISPOSITION_BYTES];
    for (int a = 1; a < 256; a++) {
        for (int b = 0; b < 256; b += 17) {
            name[0] = (char)a;
            name[1] = (char)b;
            name[2] = 'z';
            name[3] = '\0';
            fcgi_disposition(FCGI_DISPOSITION_ATTACHMENT, name, out);
            check_header_safe(out);
        }
    }
}
