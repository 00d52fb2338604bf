/* What counts as a download (fcgi/download_count.h), request by request:
 * the settled rule, and nginx's answers to ranges, predicted. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include "fcgi/download_count.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ETAG "\"" SHA "\""

TEST("each kind of request counts or not by the settled rule")
{
    static const struct {
        const char *what;
        fcgi_download_req q;
        bool counts;
    } rows[] = {
        {"plain GET (200)", {"GET", NULL, NULL, NULL}, true},
        {"HEAD", {"HEAD", NULL, NULL, NULL}, false},
        {"HEAD with a range from 0", {"HEAD", NULL, "bytes=0-", NULL}, false},
        {"POST", {"POST", NULL, NULL, NULL}, false},
        {"no method", {NULL, NULL, NULL, NULL}, false},
        {"If-None-Match naming the file (304)", {"GET", ETAG, NULL, NULL}, false},
        {"weak If-None-Match naming the file", {"GET", "W/" ETAG, NULL, NULL}, false},
        {"If-None-Match: *", {"GET", "*", NULL, NULL}, false},
        {"If-None-Match in a list", {"GET", "\"x\", " ETAG, NULL, NULL}, false},
        {"If-None-Match naming another file (200)", {"GET", "\"abc\"", NULL, NULL}, true},
        {"bytes=0-0 (206 from 0)", {"GET", NULL, "bytes=0-0", NULL}, true},
        {"bytes=0- (206 from 0)", {"GET", NULL, "bytes=0-", NULL}, true},
        {"bytes=0-99", {"GET", NULL, "bytes=0-99", NULL}, true},
        {"BYTES=0-0, any case", {"GET", NULL, "BYTES=0-0", NULL}, true},
        {"bytes=10- (206 from 10)", {"GET", NULL, "bytes=10-", NULL}, false},
        {"bytes=10-20", {"GET", NULL, "bytes=10-20", NULL}, false},
        {"bytes=1-", {"GET", NULL, "bytes=1-", NULL}, false},
        {"suffix shorter than the file", {"GET", NULL, "bytes=-100", NULL}, false},
        {"suffix covering the whole file", {"GET", NULL, "bytes=-1000", NULL}, true},
        {"suffix longer than the file", {"GET", NULL, "bytes=-5000", NULL}, true},
        {"several ranges, one from 0", {"GET", NULL, "bytes=10-20,0-5", NULL}, true},
        {"several ranges past 0", {"GET", NULL, "bytes=10-20,30-40", NULL}, false},
        /* nginx sends the whole file when the ranges add up to more. */
        {"overlapping ranges past 0 adding up to more than the file",
         {"GET", NULL, "bytes=1-,1-", NULL}, true},
        {"spaces nginx allows", {"GET", NULL, "bytes= 10 - 20 ", NULL}, false},
        {"start past the end (416)", {"GET", NULL, "bytes=1000-", NULL}, false},
        {"garbage range (416)", {"GET", NULL, "bytes=abc", NULL}, false},
        {"range with trailing garbage (416)", {"GET", NULL, "bytes=10-20x", NULL}, false},
        {"overflowing range (416)", {"GET", NULL, "bytes=99999999999999999999-", NULL}, false},
        {"not a bytes range: ignored (200)", {"GET", NULL, "items=10-20", NULL}, true},
        {"too short to be a range: ignored (200)", {"GET", NULL, "bytes=", NULL}, true},
        {"If-Range with the file's ETag: the range holds", {"GET", NULL, "bytes=10-", ETAG}, false},
        {"If-Range with another ETag: whole file", {"GET", NULL, "bytes=10-", "\"abc\""}, true},
        {"If-Range weak: whole file", {"GET", NULL, "bytes=10-", "W/" ETAG}, true},
        {"If-Range with a date: counted", {"GET", NULL, "bytes=10-",
                                           "Sat, 28 Nov 2026 08:00:00 GMT"}, true},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (fcgi_download_counts(&rows[i].q, SHA, 1000) != rows[i].counts)
            TAP_FAIL("%s: counts %d, want %d", rows[i].what, !rows[i].counts,
                     rows[i].counts);
}

TEST("every prefix of a range header is decided without overrunning it")
{
    static const char full[] = "bytes=0-0,10-20,-5";
    char buf[sizeof full];
    for (size_t n = 0; n < sizeof full; n++) {
        memcpy(buf, full, n);
        buf[n] = '\0';
        fcgi_download_req q = {"GET", NULL, buf, NULL};
        (void)fcgi_download_counts(&q, SHA, 1000);
    }
    /* A trailing comma: nginx refuses the header (416), nothing sent. */
    fcgi_download_req q = {"GET", NULL, "bytes=0-0,", NULL};
    CHECK(!fcgi_download_counts(&q, SHA, 1000));
}
