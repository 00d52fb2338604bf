/* Archive previews: the name and limit rules alone, then archives made
 * here with libarchive's writer (friendly and hostile), stamped by the real
 * CLI through its sandbox, and the preview zip read back. */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <cairo-pdf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vips/vips.h>

#include "common/commit.h"
#include "common/limits.h"
#include "watermark/archive_guard.h"
#include "watermark/archive_name.h"

#define TAP_MAIN
#include "tests/unit/tap.h"

/* ---- names and limits, without an archive ---- */

TEST("entry names are shown as valid utf-8 with every odd byte escaped")
{
    static const struct {
        const char *raw, *want;
    } rows[] = {
        {"photos/a.jpg", "photos/a.jpg"},
        {"Zo\xc3\xab \xc5\x81ukasiewicz.png", "Zo\xc3\xab \xc5\x81ukasiewicz.png"},
        {"caf\xe9.jpg", "caf\\xe9.jpg"},             /* latin-1 */
        {"tab\there\nnl", "tab\\x09here\\x0anl"},    /* cannot forge lines */
        {"dos\\path", "dos\\x5cpath"},
        {"\xc0\xaf", "\\xc0\\xaf"},                  /* overlong '/' */
        {"\xed\xa0\x80", "\\xed\\xa0\\x80"},         /* surrogate */
        {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"}, /* past U+10FFFF */
        {"cut\xe2\x82", "cut\\xe2\\x82"},            /* truncated sequence */
        /* bidi controls, which reorder a shown name, are escaped */
        {"invoice\xe2\x80\xaegpj.exe", "invoice\\xe2\\x80\\xaegpj.exe"},
        {"a\xe2\x81\xa6" "b\xd8\x9c", "a\\xe2\\x81\\xa6" "b\\xd8\\x9c"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *got = wm_archive_name_escape(rows[i].raw, FG_ARCHIVE_MAX_NAME);
        CHECK(got);
        CHECK_STR(got, rows[i].want);
        free(got);
    }
    char *cut = wm_archive_name_escape("abcdef", 3);
    CHECK_STR(cut, "abc");
    free(cut);
}

TEST("preview paths never climb out or start at the root")
{
    static const struct {
        const char *name, *want;
    } rows[] = {
        {"a/b.jpg", "a/b.jpg"},
        {"../../etc/evil.jpg", "etc/evil.jpg"},
        {"/etc/abs.png", "etc/abs.png"},
        {"C:/win/x.png", "win/x.png"},
        {"./a/./b//c.png", "a/b/c.png"},
        {"a/../../b.png", "a/b.png"},
        {"..", "entry-7"},
        {"/", "entry-7"},
        {"..\\x5c..\\x5cwin.png", ".._x5c.._x5cwin.png"}, /* one name */
        {"a/c:\\x5cx.png", "a/c__x5cx.png"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *got = wm_archive_name_safe(rows[i].name, 7);
        CHECK(got);
        CHECK_STR(got, rows[i].want);
        free(got);
    }
}

static wm_archive_limits small_limits(void)
{
    return (wm_archive_limits){.max_entries = 3,
                               .max_total = 64LL << 20,
                               .max_entry = 1 << 20,
                               .max_ratio = 100};
}

TEST("the guard counts entries, declared sizes and unpacked bytes")
{
    wm_archive_limits l = small_limits();
    wm_archive_guard g;
    fg_reason r = {{0}};
    wm_archive_guard_init(&g, &l, 1 << 20);
    for (int i = 0; i < 3; i++)
        CHECK_INT(wm_archive_guard_entry(&g, 10, &r), FG_OK);
    CHECK_INT(wm_archive_guard_entry(&g, 10, &r), FG_ELIMIT);
    CHECK_STR(r.text, "archive has more than 3 entries: over the limit");

    /* Declared sizes alone: over the total, and over 100x the file. */
    wm_archive_guard_init(&g, &l, 1 << 20);
    CHECK_INT(wm_archive_guard_entry(&g, 65LL << 20, &r), FG_ELIMIT);
    CHECK_STR(r.text, "archive unpacks to more than 64 MB: over the limit");
    wm_archive_guard_init(&g, &l, 100 * 1024);
    CHECK_INT(wm_archive_guard_entry(&g, 20LL << 20, &r), FG_ELIMIT);
    CHECK(strstr(r.text, "decompression bomb") != NULL);
    wm_archive_guard_init(&g, &l, 1 << 20);
    CHECK_INT(wm_archive_guard_entry(&g, 1LL << 62, &r), FG_ELIMIT);

    /* Running count: a 1 MB read that unpacks 100 MB is a bomb; a small
     * file of zeros under the floor is not. */
    wm_archive_guard_init(&g, &l, 1 << 20);
    CHECK_INT(wm_archive_guard_bytes(&g, 4 << 20, 1000, &r), FG_OK);
    CHECK_INT(wm_archive_guard_bytes(&g, 8 << 20, 256 << 10, &r), FG_OK);
    CHECK_INT(wm_archive_guard_bytes(&g, 40 << 20, 256 << 10, &r), FG_ELIMIT);
    CHECK(strstr(r.text, "expands more than 100x") != NULL);
}

TEST("archive limits come from the environment, malformed ones refused")
{
    wm_archive_limits l;
    fg_reason r = {{0}};
    setenv("FILIGRANE_ARCHIVE_MAX_TOTAL", "3G", 1);
    setenv("FILIGRANE_ARCHIVE_MAX_ENTRIES", "12", 1);
    CHECK_INT(wm_archive_limits_init(&l, &r), FG_OK);
    CHECK_INT(l.max_total, 3LL << 30);
    CHECK_INT(l.max_entries, 12);
    CHECK_INT(l.max_ratio, FG_ARCHIVE_MAX_RATIO_DEFAULT);
    setenv("FILIGRANE_ARCHIVE_MAX_ENTRIES", "12k", 1);
    CHECK_INT(wm_archive_limits_init(&l, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_ARCHIVE_MAX_ENTRIES") != NULL);
    unsetenv("FILIGRANE_ARCHIVE_MAX_ENTRIES");
    unsetenv("FILIGRANE_ARCHIVE_MAX_TOTAL");
}

/* ---- archives through the CLI ---- */

#include "tests/unit/cli_fixture.h"

static void setup(void) { fixture_setup("fg-archive"); }

/* Runs `filigrane stamp IN OUT`; its exit status, its stderr in err. */
static int stamp(const char *in, const char *out, char *err, size_t errlen)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s stamp '%s' '%s' 2>&1", cli, in, out);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(err, 1, errlen - 1, p);
    err[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct blob {
    void *data;
    size_t len;
} blob;

static blob jpeg(int w, int h, int alpha)
{
    VipsImage *x = NULL, *c = NULL;
    blob b = {0};
    if (vips_xyz(&x, w, h, NULL) || vips_cast(x, &c, VIPS_FORMAT_UCHAR, NULL))
        abort();
    if (alpha) {
        VipsImage *t = NULL;
        double ones[1] = {200};
        if (vips_bandjoin_const(c, &t, ones, 1, NULL) ||
            vips_bandjoin_const1(t, &x, 255, NULL))
            abort();
        g_object_unref(t);
        if (vips_pngsave_buffer(x, &b.data, &b.len, NULL))
            abort();
    } else {
        VipsImage *t = NULL;
        double v[1] = {90};
        if (vips_bandjoin_const(c, &t, v, 1, NULL) ||
            vips_jpegsave_buffer(t, &b.data, &b.len, NULL))
            abort();
        g_object_unref(t);
    }
    g_object_unref(x);
    g_object_unref(c);
    return b;
}

static cairo_status_t to_blob(void *closure, const unsigned char *d,
                              unsigned int n)
{
    blob *b = closure;
    b->data = g_realloc(b->data, b->len + n);
    memcpy((char *)b->data + b->len, d, n);
    b->len += n;
    return CAIRO_STATUS_SUCCESS;
}

static blob pdf(const char *word)
{
    blob b = {0};
    cairo_surface_t *s = cairo_pdf_surface_create_for_stream(to_blob, &b, 300, 200);
    cairo_t *cr = cairo_create(s);
    cairo_move_to(cr, 20, 100);
    cairo_show_text(cr, word);
    cairo_show_page(cr);
    cairo_destroy(cr);
    cairo_surface_finish(s);
    cairo_surface_destroy(s);
    return b;
}

typedef struct entry {
    const char *name;
    blob data;
    char kind; /* 'f' file, 'l' symlink, 'h' hard link, 'd' directory */
    const char *target;
} entry;

static void make_archive(const char *file, int format, int filter,
                         const entry *e, int n, const char *passphrase)
{
    struct archive *a = archive_write_new();
    archive_write_set_format(a, format);
    if (filter != ARCHIVE_FILTER_NONE)
        archive_write_add_filter(a, filter);
    if (format == ARCHIVE_FORMAT_ZIP)
        archive_write_set_options(a, "zip:compression=store");
    if (passphrase) {
        archive_write_set_options(a, "zip:encryption=zipcrypt");
        archive_write_set_passphrase(a, passphrase);
    }
    if (archive_write_open_filename(a, file) != ARCHIVE_OK)
        abort();
    for (int i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_copy_pathname(ae, e[i].name);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_mtime(ae, 1700000000, 0);
        switch (e[i].kind) {
        case 'l':
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_copy_symlink(ae, e[i].target);
            break;
        case 'h':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_copy_hardlink(ae, e[i].target);
            break;
        case 'd':
            archive_entry_set_filetype(ae, AE_IFDIR);
            break;
        default:
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_size(ae, (la_int64_t)e[i].data.len);
        }
        if (archive_write_header(a, ae) != ARCHIVE_OK)
            abort();
        if (e[i].kind == 'f' && e[i].data.len &&
            archive_write_data(a, e[i].data.data, e[i].data.len) !=
                (la_ssize_t)e[i].data.len)
            abort();
        archive_entry_free(ae);
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        abort();
    archive_write_free(a);
}

/* The preview zip, read back: every entry's name and bytes. */
typedef struct preview {
    int n;
    char *names[64];
    blob data[64];
    char *manifest;
} preview;

static void read_preview(const char *file, preview *p)
{
    memset(p, 0, sizeof *p);
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    archive_read_support_format_zip(a);
    if (archive_read_open_filename(a, file, 65536) != ARCHIVE_OK)
        abort();
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        la_int64_t size = archive_entry_size(e);
        char *buf = g_malloc((size_t)size + 1);
        if (archive_read_data(a, buf, (size_t)size) != size)
            abort();
        buf[size] = '\0';
        if (strcmp(archive_entry_pathname(e), "MANIFEST.txt") == 0) {
            p->manifest = buf;
            continue;
        }
        if (p->n == 64)
            abort();
        p->names[p->n] = g_strdup(archive_entry_pathname(e));
        p->data[p->n++] = (blob){buf, (size_t)size};
    }
    archive_read_free(a);
}

static void free_preview(preview *p)
{
    for (int i = 0; i < p->n; i++) {
        g_free(p->names[i]);
        g_free(p->data[i].data);
    }
    g_free(p->manifest);
}

static bool has_name(const preview *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->names[i], name) == 0)
            return true;
    return false;
}

/* The manifest line of the entry called name, or NULL. */
static const char *line_of(const char *manifest, const char *name, char *buf,
                           size_t len)
{
    char *copy = g_strdup(manifest);
    const char *found = NULL;
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        char **f = g_strsplit(l, "\t", 7);
        if (g_strv_length(f) == 6 && strcmp(f[4], name) == 0) {
            g_strlcpy(buf, l, len);
            found = buf;
        }
        g_strfreev(f);
        if (found)
            break;
    }
    g_free(copy);
    return found;
}

static bool file_contains(const char *file, const char *needle)
{
    gchar *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(file, &data, &len, NULL))
        abort();
    bool hit = memmem(data, len, needle, strlen(needle)) != NULL;
    g_free(data);
    return hit;
}

#define MARKER "SECRET-MARKER-2f9c"

TEST("a zip of photos, a pdf and hostile entries: previews and a manifest")
{
    setup();
    blob photo = jpeg(640, 480, 0), logo = jpeg(200, 100, 1), doc = pdf("x");
    blob text = {g_strdup("notes: " MARKER "\n"), strlen("notes: " MARKER "\n")};
    entry inner_e[] = {{"inner.txt", text, 'f', NULL}};
    make_archive(path("inner.zip"), ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE,
                 inner_e, 1, NULL);
    blob inner = {0};
    CHECK(g_file_get_contents(path("inner.zip"), (gchar **)&inner.data,
                              &inner.len, NULL));
    entry e[] = {
        {"photos/", {0}, 'd', NULL},
        {"photos/sunset.jpg", photo, 'f', NULL},
        {"photos/logo.png", logo, 'f', NULL},
        {"docs/brief.pdf", doc, 'f', NULL},
        {"notes.txt", text, 'f', NULL},
        {"../../evil.jpg", photo, 'f', NULL},
        {"/etc/abs.jpg", photo, 'f', NULL},
        {"link", {0}, 'l', "/etc/passwd"},
        {"inner.zip", inner, 'f', NULL},
        {"caf\xe9.jpg", photo, 'f', NULL},
    };
    const int n = sizeof e / sizeof e[0];
    make_archive(path("delivery.zip"), ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE,
                 e, n, NULL);
    CHECK(file_contains(path("delivery.zip"), MARKER)); /* stored, in clear */

    char err[4096];
    CHECK_INT(stamp(path("delivery.zip"), path("preview.zip"), err, sizeof err),
              0);
    /* No original byte of a withheld entry, not even nested. */
    CHECK(!file_contains(path("preview.zip"), MARKER));
    CHECK(!file_contains(path("preview.zip"), "/etc/passwd"));

    preview p;
    read_preview(path("preview.zip"), &p);
    CHECK_INT(p.n, 6);
    CHECK(has_name(&p, "photos/sunset.jpg"));
    CHECK(has_name(&p, "photos/logo.png"));
    CHECK(has_name(&p, "docs/brief.pdf"));
    CHECK(has_name(&p, "evil.jpg"));
    CHECK(has_name(&p, "etc/abs.jpg"));
    CHECK(has_name(&p, "caf_xe9.jpg"));
    for (int i = 0; i < p.n; i++) {
        CHECK(p.names[i][0] != '/' && !strstr(p.names[i], ".."));
        /* A stamped preview, not the original bytes. */
        CHECK(p.data[i].len != photo.len ||
              memcmp(p.data[i].data, photo.data, photo.len) != 0);
        if (g_str_has_suffix(p.names[i], ".pdf")) {
            CHECK(memcmp(p.data[i].data, "%PDF-", 5) == 0);
            continue;
        }
        VipsImage *im = vips_image_new_from_buffer(p.data[i].data,
                                                   p.data[i].len, "", NULL);
        CHECK(im);
        if (g_str_has_suffix(p.names[i], "logo.png")) {
            CHECK(vips_image_hasalpha(im));
        } else {
            CHECK_INT(im->Xsize, 640);
        }
        g_object_unref(im);
    }

    CHECK(p.manifest);
    CHECK(g_utf8_validate(p.manifest, -1, NULL));
    char line[2048];
    CHECK(line_of(p.manifest, "photos/sunset.jpg", line, sizeof line));
    CHECK(g_str_has_prefix(line, "previewed\t"));
    CHECK(strstr(line, "\timage/jpeg\t") != NULL);
    char sha[65];
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, photo.data, photo.len);
    g_strlcpy(sha, g_checksum_get_string(ck), sizeof sha);
    g_checksum_free(ck);
    CHECK(strstr(line, sha) != NULL);
    char size[32];
    snprintf(size, sizeof size, "\t%zu\t", photo.len);
    CHECK(strstr(line, size) != NULL);
    CHECK(line_of(p.manifest, "notes.txt", line, sizeof line));
    CHECK(g_str_has_prefix(line, "withheld\t"));
    CHECK(g_str_has_suffix(line, "\tnot an image or a pdf"));
    /* Without --salt a withheld entry shows no hash at all. */
    ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, text.data, text.len);
    CHECK(strstr(p.manifest, g_checksum_get_string(ck)) == NULL);
    g_checksum_free(ck);
    snprintf(size, sizeof size, "withheld\t%zu\t-\t", text.len);
    CHECK(g_str_has_prefix(line, size));
    CHECK(line_of(p.manifest, "link", line, sizeof line));
    CHECK(g_str_has_suffix(line, "\tsymbolic link: not followed"));
    CHECK(line_of(p.manifest, "inner.zip", line, sizeof line));
    CHECK(g_str_has_suffix(line, "\tnested archive: not opened"));
    CHECK(line_of(p.manifest, "../../evil.jpg", line, sizeof line));
    CHECK(g_str_has_suffix(line, "\tevil.jpg"));
    CHECK(line_of(p.manifest, "caf\\xe9.jpg", line, sizeof line));
    CHECK(g_str_has_suffix(line, "\tcaf_xe9.jpg"));
    CHECK(line_of(p.manifest, "photos/", line, sizeof line));
    CHECK(g_str_has_prefix(line, "directory\t"));
    CHECK(strstr(p.manifest, "# 10 entries, 6 previewed\n") != NULL);
    free_preview(&p);
    g_free(photo.data);
    g_free(logo.data);
    g_free(doc.data);
    g_free(text.data);
    g_free(inner.data);
}

/* The hex of SHA-256(salt || data). */
static void commit_of(const unsigned char salt[FG_SALT_BYTES], const blob *b,
                      char out[FG_HEX32_MAX])
{
    fg_reason r;
    if (fg_commit_buffer(salt, b->data, b->len, out, &r) != FG_OK)
        abort();
}

TEST("with --salt every entry shows a commitment under its derived salt, and no plain sha256")
{
    setup();
    blob photo = jpeg(320, 240, 0);
    blob pin = {g_strdup("4821\n"), 5};
    blob key = {g_strdup("FLG-7Q2K-99XM-04PL\n"), 19};
    entry e[] = {
        {"secrets/pin.txt", pin, 'f', NULL},
        {"licence.key", key, 'f', NULL},
        {"photo.jpg", photo, 'f', NULL},
    };
    make_archive(path("salted.zip"), ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, e, 3, NULL);
    unsigned char salt[FG_SALT_BYTES];
    char salt_hex[FG_HEX32_MAX], cmd[2048], err[4096];
    fg_reason r;
    CHECK_INT(fg_salt_new(salt, &r), FG_OK);
    fg_hex_encode(salt, sizeof salt, salt_hex);
    snprintf(cmd, sizeof cmd, "%s stamp --salt %s '%s' '%s' 2>&1", cli, salt_hex,
             path("salted.zip"), path("salted-preview.zip"));
    FILE *pp = popen(cmd, "r");
    CHECK(pp != NULL);
    size_t n = fread(err, 1, sizeof err - 1, pp);
    err[n] = '\0';
    CHECK_INT(pclose(pp), 0);
    preview p;
    read_preview(path("salted-preview.zip"), &p);
    CHECK(p.manifest);
    CHECK(strstr(p.manifest, "\tcommitment\t") != NULL);
    for (int i = 0; i < 3; i++) {
        char line[2048], want[FG_HEX32_MAX], plain[FG_HEX32_MAX];
        unsigned char es[FG_SALT_BYTES];
        CHECK(line_of(p.manifest, e[i].name, line, sizeof line));
        CHECK_INT(fg_commit_entry_salt(salt, e[i].name, es, &r), FG_OK);
        commit_of(es, &e[i].data, want);
        if (!strstr(line, want))
            TAP_FAIL("%s: no commitment %s in \"%s\"", e[i].name, want, line);
        GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
        g_checksum_update(ck, e[i].data.data, e[i].data.len);
        g_strlcpy(plain, g_checksum_get_string(ck), sizeof plain);
        g_checksum_free(ck);
        CHECK(strstr(p.manifest, plain) == NULL);
    }
    char line[2048];
    CHECK(line_of(p.manifest, "secrets/pin.txt", line, sizeof line));
    CHECK(g_str_has_prefix(line, "withheld\t5\t"));
    /* A salt is 64 hex digits, nothing else. */
    snprintf(cmd, sizeof cmd, "%s stamp --salt %.63s '%s' '%s' 2>&1", cli, salt_hex,
             path("salted.zip"), path("bad-salt.zip"));
    pp = popen(cmd, "r");
    CHECK(pp != NULL);
    n = fread(err, 1, sizeof err - 1, pp);
    err[n] = '\0';
    int st = pclose(pp);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    CHECK(strstr(err, "--salt") != NULL);
    free_preview(&p);
    g_free(photo.data);
    g_free(pin.data);
    g_free(key.data);
}

TEST("tar (plain, gz, bz2, xz, zstd) and 7z archives are previewed too")
{
    setup();
    static const struct {
        const char *name;
        int format, filter;
    } kinds[] = {
        {"a.tar", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE},
        {"a.tar.gz", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_GZIP},
        {"a.tar.bz2", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_BZIP2},
        {"a.tar.xz", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_XZ},
        {"a.tar.zst", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_ZSTD},
        {"a.7z", ARCHIVE_FORMAT_7ZIP, ARCHIVE_FILTER_NONE},
    };
    blob photo = jpeg(300, 200, 0);
    blob text = {g_strdup(MARKER), strlen(MARKER)};
    entry e[] = {{"pic.jpg", photo, 'f', NULL}, {"read.me", text, 'f', NULL}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char err[2048];
        make_archive(path(kinds[i].name), kinds[i].format, kinds[i].filter, e,
                     2, NULL);
        int rc = stamp(path(kinds[i].name), path("out.zip"), err, sizeof err);
        if (rc != 0)
            TAP_FAIL("%s: exit %d: %s", kinds[i].name, rc, err);
        preview p;
        read_preview(path("out.zip"), &p);
        CHECK_INT(p.n, 1);
        CHECK(has_name(&p, "pic.jpg"));
        CHECK(strstr(p.manifest, "# 2 entries, 1 previewed\n") != NULL);
        free_preview(&p);
        CHECK(!file_contains(path("out.zip"), MARKER));
    }
    g_free(photo.data);
    g_free(text.data);
}

TEST("a tar hard link is listed and never followed")
{
    setup();
    blob photo = jpeg(100, 100, 0);
    entry e[] = {{"pic.jpg", photo, 'f', NULL},
                 {"again.jpg", {0}, 'h', "pic.jpg"}};
    make_archive(path("links.tar"), ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
                 ARCHIVE_FILTER_NONE, e, 2, NULL);
    char err[2048], line[1024];
    CHECK_INT(stamp(path("links.tar"), path("links.zip"), err, sizeof err), 0);
    preview p;
    read_preview(path("links.zip"), &p);
    CHECK_INT(p.n, 1);
    CHECK(line_of(p.manifest, "again.jpg", line, sizeof line));
    CHECK(g_str_has_suffix(line, "\thard link: not followed"));
    free_preview(&p);
    g_free(photo.data);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

TEST("a zip bomb is refused within a second")
{
    setup();
    size_t big = 256u << 20;
    blob zeros = {g_malloc0(big), big};
    entry e[] = {{"zeros.bin", zeros, 'f', NULL}};
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    archive_write_set_options(a, "zip:compression=deflate,zip:compression-level=1");
    CHECK(archive_write_open_filename(a, path("bomb.zip")) == ARCHIVE_OK);
    struct archive_entry *ae = archive_entry_new();
    archive_entry_copy_pathname(ae, e[0].name);
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    archive_entry_set_size(ae, (la_int64_t)big);
    CHECK(archive_write_header(a, ae) == ARCHIVE_OK);
    CHECK(archive_write_data(a, zeros.data, big) == (la_ssize_t)big);
    archive_entry_free(ae);
    CHECK(archive_write_close(a) == ARCHIVE_OK);
    archive_write_free(a);
    g_free(zeros.data);

    char err[2048];
    double t0 = now();
    CHECK_INT(stamp(path("bomb.zip"), path("bomb-preview.zip"), err, sizeof err),
              5);
    CHECK(now() - t0 < 1.0);
    CHECK(strstr(err, "bomb.zip: archive expands more than 100x: refused as a "
                      "decompression bomb") != NULL);
    CHECK(access(path("bomb-preview.zip"), F_OK) != 0);
}

TEST("encrypted entries are listed and withheld, the others previewed")
{
    setup();
    blob photo = jpeg(120, 80, 0);
    entry e[] = {{"secret.jpg", photo, 'f', NULL}};
    make_archive(path("locked.zip"), ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, e,
                 1, "hunter2");
    char err[2048], line[1024];
    CHECK_INT(stamp(path("locked.zip"), path("locked-preview.zip"), err,
                    sizeof err),
              0);
    preview p;
    read_preview(path("locked-preview.zip"), &p);
    CHECK_INT(p.n, 0);
    CHECK(line_of(p.manifest, "secret.jpg", line, sizeof line));
    CHECK(g_str_has_prefix(line, "withheld\t"));
    CHECK(g_str_has_suffix(line, "\tencrypted"));
    free_preview(&p);
    g_free(photo.data);
}

TEST("a 10,000-entry zip is listed in full; one entry more is refused")
{
    setup();
    static entry e[10000];
    static char names[10000][24];
    blob tiny = {(void *)"x", 1};
    for (int i = 0; i < 10000; i++) {
        snprintf(names[i], sizeof names[i], "f/%05d.txt", i);
        e[i] = (entry){names[i], tiny, 'f', NULL};
    }
    make_archive(path("many.zip"), ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, e,
                 10000, NULL);
    char err[2048];
    CHECK_INT(stamp(path("many.zip"), path("many-preview.zip"), err, sizeof err),
              0);
    preview p;
    read_preview(path("many-preview.zip"), &p);
    CHECK_INT(p.n, 0);
    CHECK(strstr(p.manifest, "# 10000 entries, 0 previewed\n") != NULL);
    CHECK(strstr(p.manifest, "\tf/09999.txt\t") != NULL);
    free_preview(&p);
    setenv("FILIGRANE_ARCHIVE_MAX_ENTRIES", "9999", 1);
    CHECK_INT(stamp(path("many.zip"), path("many-preview2.zip"), err,
                    sizeof err),
              5);
    unsetenv("FILIGRANE_ARCHIVE_MAX_ENTRIES");
    CHECK(strstr(err, "archive has more than 9999 entries") != NULL);
}

TEST("size limits: the total is refused, a large entry withheld")
{
    setup();
    blob photo = jpeg(400, 300, 0);
    entry e[] = {{"pic.jpg", photo, 'f', NULL}};
    make_archive(path("sized.zip"), ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, e,
                 1, NULL);
    char err[2048], line[1024];
    setenv("FILIGRANE_ARCHIVE_MAX_ENTRY", "100", 1);
    CHECK_INT(stamp(path("sized.zip"), path("sized-preview.zip"), err,
                    sizeof err),
              0);
    unsetenv("FILIGRANE_ARCHIVE_MAX_ENTRY");
    preview p;
    read_preview(path("sized-preview.zip"), &p);
    CHECK_INT(p.n, 0);
    CHECK(line_of(p.manifest, "pic.jpg", line, sizeof line));
    CHECK(g_str_has_suffix(line, "\ttoo large to preview"));
    free_preview(&p);
    setenv("FILIGRANE_ARCHIVE_MAX_TOTAL", "1K", 1);
    CHECK_INT(stamp(path("sized.zip"), path("sized-preview2.zip"), err,
                    sizeof err),
              5);
    unsetenv("FILIGRANE_ARCHIVE_MAX_TOTAL");
    CHECK(strstr(err, "archive unpacks to more than 0 MB") != NULL);
    g_free(photo.data);
}

TEST("a truncated archive is unreadable and leaves nothing behind")
{
    setup();
    blob photo = jpeg(640, 480, 0);
    entry e[] = {{"a.jpg", photo, 'f', NULL}, {"b.jpg", photo, 'f', NULL}};
    make_archive(path("whole.zip"), ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, e,
                 2, NULL);
    gchar *data = NULL;
    gsize len = 0;
    CHECK(g_file_get_contents(path("whole.zip"), &data, &len, NULL));
    CHECK(g_file_set_contents(path("cut.zip"), data, (gssize)(len / 2), NULL));
    g_free(data);
    char err[2048];
    CHECK_INT(stamp(path("cut.zip"), path("cut-preview.zip"), err, sizeof err),
              4);
    CHECK(strstr(err, "cut.zip: archive") != NULL);
    CHECK(access(path("cut-preview.zip"), F_OK) != 0);
    g_free(photo.data);
}

__attribute__((constructor(101))) static void start(void)
{
    if (VIPS_INIT("test_archive") != 0)
        abort();
}
