/* common/utf8.c: well-formed UTF-8 only (RFC 3629), and every cut
 * sequence refused. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include "common/utf8.h"

static const struct {
    const char *in;
    size_t len; /* of the first sequence, 0: none */
} rows[] = {
    {"a", 1},
    {"\x7f", 1},
    {"\xc3\xa9", 2},          /* é */
    {"\xc5\x81", 2},          /* Ł */
    {"\xe2\x82\xac", 3},      /* € */
    {"\xf0\x9f\x98\x80", 4},  /* 😀 */
    {"\xf4\x8f\xbf\xbf", 4},  /* U+10FFFF */
    {"\x80", 0},              /* a lone continuation byte */
    {"\xc0\xaf", 0},          /* overlong '/' */
    {"\xc1\xbf", 0},          /* overlong */
    {"\xe0\x80\xaf", 0},      /* overlong '/' in three bytes */
    {"\xf0\x80\x80\xaf", 0},  /* overlong '/' in four bytes */
    {"\xed\xa0\x80", 0},      /* a UTF-16 surrogate */
    {"\xf4\x90\x80\x80", 0},  /* past U+10FFFF */
    {"\xf5\x80\x80\x80", 0},
    {"\xff", 0},
    {"\xc3\x28", 0},          /* a continuation byte missing */
};

TEST("each sequence is measured or refused")
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const unsigned char *s = (const unsigned char *)rows[i].in;
        size_t got = fg_utf8_seq(s, strlen(rows[i].in));
        if (got != rows[i].len)
            TAP_FAIL("row %zu: %zu, want %zu", i, got, rows[i].len);
    }
}

TEST("every cut prefix of a valid sequence is refused")
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const unsigned char *s = (const unsigned char *)rows[i].in;
        for (size_t n = 1; n < rows[i].len; n++)
            if (fg_utf8_seq(s, n) != 0)
                TAP_FAIL("row %zu cut to %zu bytes was accepted", i, n);
    }
}

TEST("whole strings: valid, or refused at any bad byte")
{
    const char ok[] = "Zo\xc3\xab \xc5\x81ukasiewicz \xe2\x82\xac \xf0\x9f\x98\x80";
    CHECK(fg_utf8_valid(ok, strlen(ok)));
    CHECK(fg_utf8_valid("", 0));
    CHECK(fg_utf8_valid("a\0b", 3));
    CHECK(!fg_utf8_valid(ok, strlen(ok) - 1)); /* the emoji cut */
    CHECK(!fg_utf8_valid("abc\xff", 4));
    CHECK(!fg_utf8_valid("\xed\xa0\x80x", 4));
}

TEST("bidi controls are recognised, their neighbours are not")
{
    static const struct {
        const char *seq;
        bool bidi;
    } b[] = {
        {"\xd8\x9c", true},          /* U+061C ARABIC LETTER MARK */
        {"\xe2\x80\x8e", true},      /* U+200E LRM */
        {"\xe2\x80\x8f", true},      /* U+200F RLM */
        {"\xe2\x80\xaa", true},      /* U+202A LRE */
        {"\xe2\x80\xae", true},      /* U+202E RLO */
        {"\xe2\x81\xa6", true},      /* U+2066 LRI */
        {"\xe2\x81\xa9", true},      /* U+2069 PDI */
        {"\xe2\x80\x8d", false},     /* U+200D ZWJ (emoji need it) */
        {"\xe2\x80\xa9", false},     /* U+2029 */
        {"\xe2\x80\xaf", false},     /* U+202F narrow no-break space */
        {"\xe2\x81\xa5", false},     /* U+2065 */
        {"\xe2\x81\xaa", false},     /* U+206A */
        {"\xe2\x82\xac", false},     /* € */
        {"\xd8\x9b", false},          /* U+061B */
        {"a", false},
    };
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        const unsigned char *u = (const unsigned char *)b[i].seq;
        size_t len = fg_utf8_seq(u, strlen(b[i].seq));
        CHECK(len == strlen(b[i].seq));
        if (fg_utf8_is_bidi_control(u, len) != b[i].bidi)
            TAP_FAIL("row %zu", i);
    }
}

