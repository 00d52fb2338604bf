/* watermark/text.c: text laid out on pages, read back with poppler (the
 * words and where they landed), and the page count of what is not laid
 * out. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <glib.h>
#include <poppler.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "watermark/formats.h"
#include "watermark/text.h"
#include "watermark/wm.h"

#define MAX_LINE 16384

typedef struct laid {
    void *pdf;
    size_t len;
    int total;
    PopplerDocument *doc;
} laid;

static void lay(laid *l, const char *text, size_t len, int pages, int max_line)
{
    fg_reason r = {{0}};
    GError *e = NULL;
    memset(l, 0, sizeof *l);
    if (wm_text_layout(text, len, pages, max_line, &l->pdf, &l->len, &l->total, &r) != FG_OK)
        TAP_FAIL("layout failed: %s", r.text);
    GBytes *b = g_bytes_new_static(l->pdf, l->len);
    l->doc = poppler_document_new_from_bytes(b, NULL, &e);
    g_bytes_unref(b);
    if (!l->doc)
        TAP_FAIL("the laid out pdf does not open: %s", e ? e->message : "?");
}

static void unlay(laid *l)
{
    if (l->doc)
        g_object_unref(l->doc);
    g_free(l->pdf);
}

static char *page_text(laid *l, int i)
{
    PopplerPage *p = poppler_document_get_page(l->doc, i);
    char *t = poppler_page_get_text(p);
    g_object_unref(p);
    return t;
}

/* The left x of needle's first occurrence on page 0, or -1. */
static double x_of(laid *l, const char *needle)
{
    PopplerPage *p = poppler_document_get_page(l->doc, 0);
    GList *found = poppler_page_find_text(p, needle);
    double x = -1;
    if (found)
        x = ((PopplerRectangle *)found->data)->x1;
    g_list_free_full(found, (GDestroyNotify)poppler_rectangle_free);
    g_object_unref(p);
    return x;
}

static char *repeat(const char *line, int times, size_t *len)
{
    size_t n = strlen(line);
    char *s = malloc(n * (size_t)times + 1);
    for (int i = 0; i < times; i++)
        memcpy(s + n * (size_t)i, line, n);
    s[n * (size_t)times] = '\0';
    *len = n * (size_t)times;
    return s;
}

TEST("an empty text is one empty page")
{
    laid l;
    lay(&l, "", 0, 3, MAX_LINE);
    CHECK_INT(l.total, 1);
    CHECK_INT(poppler_document_get_n_pages(l.doc), 1);
    unlay(&l);
}

TEST("only the excerpt is laid out, and the whole text's pages are counted")
{
    size_t len;
    char *text = repeat("a line of prose, short enough for one row\n", 1000, &len);
    laid some, all;
    lay(&some, text, len, 3, MAX_LINE);
    lay(&all, text, len, 100000, MAX_LINE);
    CHECK_INT(poppler_document_get_n_pages(some.doc), 3);
    /* Counting without layout agrees with laying everything out. */
    CHECK(all.total > 3);
    CHECK_INT(poppler_document_get_n_pages(all.doc), all.total);
    CHECK_INT(some.total, all.total);
    unlay(&some);
    unlay(&all);
    free(text);
}

TEST("long lines wrap at the margin, and wrapped rows are counted the same laid out or not")
{
    size_t len;
    char *text = repeat("0123456789", 3000, &len); /* one 30,000-byte line */
    laid some, all;
    lay(&some, text, len, 1, MAX_LINE);
    lay(&all, text, len, 100000, MAX_LINE);
    CHECK_INT(poppler_document_get_n_pages(some.doc), 1);
    CHECK(all.total > 1);
    CHECK_INT(poppler_document_get_n_pages(all.doc), all.total);
    CHECK_INT(some.total, all.total);
    unlay(&some);
    unlay(&all);
    free(text);
}

TEST("a line longer than the line limit is broken there (FILIGRANE_TEXT_MAX_LINE)")
{
    laid l;
    lay(&l, "abcdefghijklmnopqrstuvwxyz\n", 27, 3, 16);
    char *t = page_text(&l, 0);
    CHECK(t != NULL);
    CHECK(strstr(t, "abcdefghijklmnop\nqrstuvwxyz") != NULL);
    g_free(t);
    unlay(&l);
}

TEST("a 20 MB line is counted, not laid out: one page drawn, quickly")
{
    size_t len = 20u << 20;
    char *text = malloc(len);
    memset(text, 'w', len);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    laid l;
    lay(&l, text, len, 1, MAX_LINE);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("# 20 MB single line: %.2f s, %d pages counted\n", s, l.total);
    CHECK_INT(poppler_document_get_n_pages(l.doc), 1);
    CHECK(l.total > 2000);
    CHECK(s < 20);
    unlay(&l);
    free(text);
}

TEST("right-to-left lines start at the right margin, left-to-right ones at the left")
{
    laid l;
    const char *text = "hello world\n"
                       "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd7\xa2\xd7\x95\xd7\x9c\xd7\x9d\n" /* Hebrew */
                       "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7\n";                       /* Arabic */
    lay(&l, text, strlen(text), 3, MAX_LINE);
    double w = 0, h = 0;
    PopplerPage *p = poppler_document_get_page(l.doc, 0);
    poppler_page_get_size(p, &w, &h);
    g_object_unref(p);
    double hello = x_of(&l, "hello");
    CHECK(hello >= 0 && hello < w / 4);
    /* The Hebrew word's letters, wherever poppler puts them in its text:
     * every glyph of the second line lies in the right half. */
    PopplerPage *p0 = poppler_document_get_page(l.doc, 0);
    PopplerRectangle *rects = NULL;
    guint n = 0;
    CHECK(poppler_page_get_text_layout(p0, &rects, &n));
    double min_rtl = w, max_rtl = 0;
    char *all = poppler_page_get_text(p0);
    const char *c = all;
    for (guint i = 0; i < n && *c; i++, c = g_utf8_next_char(c)) {
        gunichar u = g_utf8_get_char(c);
        if ((u >= 0x5d0 && u <= 0x5ea) || (u >= 0x621 && u <= 0x64a)) {
            if (rects[i].x1 < min_rtl)
                min_rtl = rects[i].x1;
            if (rects[i].x2 > max_rtl)
                max_rtl = rects[i].x2;
        }
    }
    g_free(all);
    g_free(rects);
    g_object_unref(p0);
    CHECK(max_rtl > w * 0.8);
    CHECK(min_rtl > w / 2);
    unlay(&l);
}

TEST("invalid UTF-8 and control characters are shown as U+FFFD, the rest kept")
{
    laid l;
    const char text[] = "ab\xff\xfe" "cd\x01" "ef\xe2\x82" "\n";
    lay(&l, text, sizeof text - 1, 3, MAX_LINE);
    char *t = page_text(&l, 0);
    CHECK(t != NULL);
    CHECK(strstr(t, "ab\xef\xbf\xbd\xef\xbf\xbd" "cd\xef\xbf\xbd" "ef") != NULL);
    g_free(t);
    unlay(&l);
}

TEST("tabs stop every 8 columns")
{
    laid l;
    const char *text = "X\n\tY\n";
    lay(&l, text, strlen(text), 3, MAX_LINE);
    double x = x_of(&l, "X"), y = x_of(&l, "Y");
    CHECK(x > 0 && y > x);
    /* Eight cells of the monospace font (9 pt at Pango's 96 dpi: 7.2 pt
     * a cell). */
    CHECK(y - x > 50 && y - x < 60);
    unlay(&l);
}

TEST("text previews are refused outside the sandbox")
{
    char path[] = "/tmp/test_text_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "hello\n", 6) == 6);
    close(fd);
    wm_options o;
    fg_reason r = {{0}};
    CHECK_INT(wm_options_init(&o, &r), FG_OK);
    fg_result rc = wm_stamp_text(path, "/tmp/never-written.pdf", &o, 1, &r);
    unlink(path);
    CHECK_INT(rc, FG_EUNSUPPORTED);
    CHECK(strstr(r.text, "sandbox") != NULL);
    CHECK(access("/tmp/never-written.pdf", F_OK) != 0);
}
