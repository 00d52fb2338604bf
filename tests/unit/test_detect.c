#define TAP_MAIN
#include "tests/unit/tap.h"

#include <stdlib.h>
#include <unistd.h>

#include "watermark/wm.h"

/* A 1x1 PNG, complete. */
static const unsigned char png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
    0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
    0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

#define S(lit) lit, sizeof lit - 1

static const struct {
    const char *what;
    const void *buf;
    size_t len;
    const char *mime;
    wm_kind kind;
} cases[] = {
    {"png", png, sizeof png, "image/png", WM_KIND_IMAGE},
    {"jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01",
     20, "image/jpeg", WM_KIND_IMAGE},
    {"gif", "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14, "image/gif",
     WM_KIND_IMAGE},
    {"pdf", "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", 36,
     "application/pdf", WM_KIND_PDF},
    {"zip", "PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22,
     "application/zip", WM_KIND_ARCHIVE},
    {"gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00"
             "\x00\x00\x00\x00\x00",
     20, "application/gzip", WM_KIND_ARCHIVE},
    {"text", "just some words\n", 16, "text/plain", WM_KIND_TEXT},
    {"c source", S("#include <stdio.h>\nint main(void) { return 0; }\n"), "text/x-c",
     WM_KIND_TEXT},
    {"python", S("#!/usr/bin/env python3\nimport os\nprint(1)\n"),
     "text/x-script.python", WM_KIND_TEXT},
    {"json", S("{\"a\": [1, 2]}\n"), "application/json", WM_KIND_TEXT},
    {"csv", S("a,b,c\n1,2,3\n4,5,6\n"), "text/csv", WM_KIND_TEXT},
    {"html as text", S("<!DOCTYPE html><html><body><p>hi</p></body></html>\n"),
     "text/html", WM_KIND_TEXT},
    {"rtf is a document",
     S("{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}}\\f0 hello\\par}\n"), "text/rtf",
     WM_KIND_DOCUMENT},
    {"random bytes", S("\x8f\x13\xd2\x07\xa1\xfe\x00\x9c\x44\xe3\x11\x80\x02\xbb\x7d\x00"),
     "application/octet-stream", WM_KIND_OTHER},
    {"empty", "", 0, "application/x-empty", WM_KIND_OTHER},
};

TEST("buffers are detected by content, table of cases")
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wm_type t;
        fg_reason r = {{0}};
        CHECK_INT(wm_detect_buffer(cases[i].buf, cases[i].len, &t, &r),
                  FG_OK);
        if (strcmp(t.mime, cases[i].mime) != 0 || t.kind != cases[i].kind)
            fprintf(stderr, "  case %s: %s %s\n", cases[i].what, t.mime,
                    wm_kind_name(t.kind));
        CHECK_STR(t.mime, cases[i].mime);
        CHECK_INT(t.kind, cases[i].kind);
    }
}

static char *write_temp(const char *suffix, const void *buf, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_detect_XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0)
        return NULL;
    ssize_t n = write(fd, buf, len);
    close(fd);
    return n == (ssize_t)len ? path : NULL;
}

TEST("a file is detected by its content, not its name")
{
    char *path = write_temp(".pdf", png, sizeof png);
    CHECK(path != NULL);
    wm_type t;
    fg_reason r = {{0}};
    fg_result rc = wm_detect_file(path, &t, &r);
    unlink(path);
    CHECK_INT(rc, FG_OK);
    CHECK_STR(t.mime, "image/png");
    CHECK_STR(wm_kind_name(t.kind), "image");
}

TEST("text named .jpg is detected as text")
{
    char *path = write_temp(".jpg", "hello, not a photo\n", 19);
    CHECK(path != NULL);
    wm_type t;
    fg_reason r = {{0}};
    fg_result rc = wm_detect_file(path, &t, &r);
    unlink(path);
    CHECK_INT(rc, FG_OK);
    CHECK_STR(t.mime, "text/plain");
    /* Text it is (the stamper calls it damaged: its name promises a
     * picture). */
    CHECK_STR(wm_kind_name(t.kind), "text");
}

TEST("a missing file or a directory is an i/o error with a reason")
{
    wm_type t;
    fg_reason r = {{0}};
    CHECK_INT(wm_detect_file("/nonexistent/x.png", &t, &r), FG_EIO);
    CHECK(strstr(r.text, "no such file") != NULL);
    CHECK(strstr(r.text, "/nonexistent") == NULL);
    r.text[0] = '\0';
    CHECK_INT(wm_detect_file("/tmp", &t, &r), FG_EIO);
    CHECK(strstr(r.text, "not a regular file") != NULL);
}

TEST("every kind has its stable name")
{
    CHECK_STR(wm_kind_name(WM_KIND_IMAGE), "image");
    CHECK_STR(wm_kind_name(WM_KIND_PDF), "pdf");
    CHECK_STR(wm_kind_name(WM_KIND_ARCHIVE), "archive");
    CHECK_STR(wm_kind_name(WM_KIND_VIDEO), "video");
    CHECK_STR(wm_kind_name(WM_KIND_AUDIO), "audio");
    CHECK_STR(wm_kind_name(WM_KIND_DOCUMENT), "document");
    CHECK_STR(wm_kind_name(WM_KIND_TEXT), "text");
    CHECK_STR(wm_kind_name(WM_KIND_OTHER), "other");
    CHECK_STR(wm_kind_name((wm_kind)99), "other");
}
