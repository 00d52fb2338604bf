#define TAP_MAIN
#include "tests/unit/tap.h"

#include "fcgi/multipart.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---- */

struct mem {
    const char *p;
    size_t n, off;
};

static long long mem_read(void *ctx, void *buf, size_t n)
{
    struct mem *m = ctx;
    size_t left = m->n - m->off;
    if (n > left)
        n = left;
    memcpy(buf, m->p + m->off, n);
    m->off += n;
    return (long long)n;
}

static char tmpdir[64];

static void mkdir_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fg-mp-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
}

static int dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void rm_tmp(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
}

static void sha_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    SHA256(p, n, d);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* One byte from two hex digits. */
static int hex_byte(const char *s, unsigned *v)
{
    char b[3] = {s[0], s[1], 0}, *end = NULL;
    *v = (unsigned)strtoul(b, &end, 16);
    return end == b + 2;
}

/* Reads a whole small file into a static buffer. */
static const char *slurp(const char *path, size_t *n)
{
    static char buf[1 << 20];
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    *n = fread(buf, 1, sizeof buf - 1, f);
    buf[*n] = '\0';
    fclose(f);
    return buf;
}

static const char *CT = "multipart/form-data; boundary=XyZ";

static fg_result parse_n(const char *body, size_t n, const char *ct,
                         const struct fcgi_upload_limits *lim,
                         struct fcgi_multipart *out, fg_reason *r)
{
    struct mem m = {body, n, 0};
    struct fcgi_body b = {mem_read, &m, -1};
    struct fcgi_upload_limits def;
    if (!lim) {
        fcgi_upload_limits_init(&def);
        lim = &def;
    }
    return fcgi_multipart_parse(&b, ct, tmpdir, lim, out, r);
}

static fg_result parse(const char *body, struct fcgi_multipart *out,
                       fg_reason *r)
{
    return parse_n(body, strlen(body), CT, NULL, out, r);
}

#define PART_FILE(name, fname, content)                                      \
    "--XyZ\r\nContent-Disposition: form-data; name=\"" name                  \
    "\"; filename=\"" fname "\"\r\nContent-Type: application/octet-stream"   \
    "\r\n\r\n" content "\r\n"

static const char *TWO_FILES =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"message\"\r\n"
    "\r\n"
    "Here is v1.\r\nLine two.\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"logo final.png\"\r\n"
    "Content-Type: image/png\r\n"
    "\r\n"
    "PNGDATA\r\n--XyZnotyet\r\n\r\n-- XyZ\r\n"
    "--XyZ\r\n"
    "content-disposition: FORM-DATA; filename=\"b.txt\"; name=file2\r\n"
    "\r\n"
    "hello\n"
    "\r\n--XyZ--\r\n";

/* ---- tests ---- */

TEST("one file and a message: content, size and sha256 as sent")
{
    mkdir_tmp();
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    const char *body = "preamble is ignored\r\n"
                       "--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"file\"; "
                       "filename=\"a.bin\"\r\n"
                       "Content-Type: application/octet-stream\r\n"
                       "\r\n"
                       "0123456789\r\n"
                       "--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"message\"\r\n"
                       "\r\n"
                       "Zoë's delivery\r\n"
                       "--XyZ--\r\n"
                       "epilogue is ignored";
    CHECK_INT(parse(body, &m, &r), FG_OK);
    CHECK_INT(m.nfiles, 1);
    CHECK_INT(m.nfields, 1);
    CHECK_STR(m.files[0].field, "file");
    CHECK_STR(m.files[0].filename, "a.bin");
    CHECK_STR(m.files[0].content_type, "application/octet-stream");
    CHECK_INT(m.files[0].size, 10);
    char want[65];
    sha_hex("0123456789", 10, want);
    CHECK_STR(m.files[0].sha256, want);
    size_t n;
    CHECK_STR(slurp(m.files[0].path, &n), "0123456789");
    struct stat st;
    CHECK(stat(m.files[0].path, &st) == 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    CHECK(strncmp(m.files[0].path, tmpdir, strlen(tmpdir)) == 0);
    CHECK_STR(m.fields[0].name, "message");
    CHECK_STR(m.fields[0].value, "Zoë's delivery");
    CHECK_INT(m.fields[0].len, strlen("Zoë's delivery"));
    fcgi_multipart_release(&m);
    CHECK_INT(dir_entries(), 0);
    rm_tmp();
}

/* SHA-256(salt || content) from the salt's hex, as a buyer would check it. */
static void commit_hex(const char *salt_hex, const void *p, size_t n, char out[65])
{
    unsigned char buf[32 + 256];
    CHECK(strlen(salt_hex) == 64 && n <= 256);
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        CHECK(hex_byte(salt_hex + 2 * i, &v));
        buf[i] = (unsigned char)v;
    }
    memcpy(buf + 32, p, n);
    sha_hex(buf, 32 + n, out);
}

TEST("each file part gets its own salt and its commitment, with reads of any size")
{
    const size_t chunks[] = {0, 1, 7};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        mkdir_tmp();
        struct fcgi_multipart m;
        struct fcgi_upload_limits lim;
        fg_reason r = {{0}};
        char want[65];
        size_t n;
        fcgi_upload_limits_init(&lim);
        lim.read_chunk = chunks[c];
        CHECK_INT(parse_n(TWO_FILES, strlen(TWO_FILES), CT, &lim, &m, &r), FG_OK);
        CHECK_INT(m.nfiles, 2);
        for (size_t i = 0; i < 2; i++) {
            const char *content = slurp(m.files[i].path, &n);
            commit_hex(m.files[i].salt, content, n, want);
            CHECK_STR(m.files[i].commitment, want);
            sha_hex(content, n, want);
            CHECK_STR(m.files[i].sha256, want);
            CHECK(strcmp(m.files[i].commitment, m.files[i].sha256) != 0);
        }
        CHECK(strcmp(m.files[0].salt, m.files[1].salt) != 0);
        fcgi_multipart_release(&m);
        rm_tmp();
    }
}

TEST("several files, a message, near-boundaries inside content")
{
    mkdir_tmp();
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse(TWO_FILES, &m, &r), FG_OK);
    CHECK_INT(m.nfiles, 2);
    CHECK_INT(m.nfields, 1);
    CHECK_STR(m.fields[0].value, "Here is v1.\r\nLine two.");
    size_t n;
    CHECK_STR(slurp(m.files[0].path, &n), "PNGDATA\r\n--XyZnotyet\r\n\r\n-- XyZ");
    CHECK_STR(m.files[0].content_type, "image/png");
    CHECK_STR(m.files[1].field, "file2");
    CHECK_STR(m.files[1].filename, "b.txt");
    CHECK(m.files[1].content_type == NULL);
    CHECK_STR(slurp(m.files[1].path, &n), "hello\n");
    CHECK_INT(dir_entries(), 2);
    fcgi_multipart_release(&m);
    CHECK_INT(dir_entries(), 0);
    rm_tmp();
}

TEST("the same body parses identically with every small read size")
{
    mkdir_tmp();
    struct fcgi_upload_limits lim;
    fcgi_upload_limits_init(&lim);
    for (size_t chunk = 1; chunk <= 40; chunk++) {
        struct fcgi_multipart m;
        fg_reason r = {{0}};
        lim.read_chunk = chunk;
        fg_result got = parse_n(TWO_FILES, strlen(TWO_FILES), CT, &lim, &m, &r);
        if (got != FG_OK)
            TAP_FAIL("chunk %zu: %s", chunk, r.text);
        size_t n;
        CHECK_INT(m.nfiles, 2);
        CHECK_STR(slurp(m.files[0].path, &n),
                  "PNGDATA\r\n--XyZnotyet\r\n\r\n-- XyZ");
        CHECK_STR(slurp(m.files[1].path, &n), "hello\n");
        CHECK_STR(m.fields[0].value, "Here is v1.\r\nLine two.");
        fcgi_multipart_release(&m);
    }
    CHECK_INT(dir_entries(), 0);
    rm_tmp();
}

TEST("a large file straddling the 64 KiB buffer keeps every byte")
{
    mkdir_tmp();
    size_t fsz = 3 * FG_UPLOAD_BUFFER_BYTES + 17;
    const char *head = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; "
                       "filename=\"big.bin\"\r\n\r\n";
    const char *tail = "\r\n--XyZ--\r\n";
    size_t n = strlen(head) + fsz + strlen(tail);
    char *body = malloc(n);
    CHECK(body != NULL);
    memcpy(body, head, strlen(head));
    char *data = body + strlen(head);
    /* Content full of near-delimiters: CR LF - - X y at every offset. */
    static const char pat[] = "\r\n--Xy\r\n-\r\r\n--XyZx";
    for (size_t i = 0; i < fsz; i++)
        data[i] = pat[i % (sizeof pat - 1)];
    memcpy(data + fsz, tail, strlen(tail));
    /* Put the delimiter so it straddles the first buffer boundary too. */
    for (size_t off = FG_UPLOAD_BUFFER_BYTES - 8; off < FG_UPLOAD_BUFFER_BYTES;
         off += 3) {
        struct fcgi_multipart m;
        fg_reason r = {{0}};
        size_t cut = off - strlen(head); /* file size so the end lands at off */
        memmove(data + cut, tail, strlen(tail));
        CHECK_INT(parse_n(body, strlen(head) + cut + strlen(tail), CT, NULL, &m,
                          &r),
                  FG_OK);
        CHECK_INT(m.files[0].size, cut);
        char want[65];
        sha_hex(data, cut, want);
        CHECK_STR(m.files[0].sha256, want);
        fcgi_multipart_release(&m);
        for (size_t i = cut; i < cut + strlen(tail); i++)
            data[i] = pat[i % (sizeof pat - 1)];
    }
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse_n(body, n, CT, NULL, &m, &r), FG_OK);
    CHECK_INT(m.files[0].size, fsz);
    char want[65];
    sha_hex(data, fsz, want);
    CHECK_STR(m.files[0].sha256, want);
    fcgi_multipart_release(&m);
    free(body);
    rm_tmp();
}

TEST("the body can come from a file descriptor")
{
    mkdir_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s.body", tmpdir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    fputs(TWO_FILES, f);
    fclose(f);
    struct fcgi_body b = {NULL, NULL, -1};
    b.fd = open(path, O_RDONLY);
    CHECK(b.fd >= 0);
    struct fcgi_upload_limits lim;
    fcgi_upload_limits_init(&lim);
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_multipart_parse(&b, CT, tmpdir, &lim, &m, &r), FG_OK);
    CHECK_INT(m.nfiles, 2);
    close(b.fd);
    unlink(path);
    fcgi_multipart_release(&m);
    rm_tmp();
}

TEST("boundary from the content-type: quoted, unquoted, other parameters")
{
    static const struct {
        const char *ct, *want;
    } ok[] = {
        {"multipart/form-data; boundary=XyZ", "XyZ"},
        {"multipart/form-data;boundary=XyZ", "XyZ"},
        {"Multipart/Form-Data; BOUNDARY=\"XyZ\"", "XyZ"},
        {"multipart/form-data; charset=utf-8; boundary=\"a b:c\"", "a b:c"},
        {"multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
         "----WebKitFormBoundary7MA4YWxkTrZu0gW"},
        {"multipart/form-data; boundary=xyz ; charset=utf-8", "xyz"},
        {"multipart/form-data; boundary="
         "1234567890123456789012345678901234567890123456789012345678901234567890",
         "1234567890123456789012345678901234567890123456789012345678901234567890"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char b[FG_UPLOAD_MAX_BOUNDARY_BYTES + 1];
        fg_reason r = {{0}};
        if (fcgi_multipart_boundary(ok[i].ct, b, &r) != FG_OK)
            TAP_FAIL("refused %s: %s", ok[i].ct, r.text);
        CHECK_STR(b, ok[i].want);
    }
    static const char *const bad[] = {
        NULL, "", "text/plain", "multipart/form-data", "multipart/mixed; boundary=x",
        "multipart/form-dataX; boundary=x", "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"", "multipart/form-data; boundary=\"abc",
        "multipart/form-data; boundary=\"ends with space \"",
        "multipart/form-data; boundary=a<b", "multipart/form-data; boundary=a\"b",
        "multipart/form-data; boundary="
        "12345678901234567890123456789012345678901234567890123456789012345678901",
        "multipart/form-data; boundary=a; boundary=b",
        "multipart/form-data boundary=x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char b[FG_UPLOAD_MAX_BOUNDARY_BYTES + 1];
        fg_reason r = {{0}};
        if (fcgi_multipart_boundary(bad[i], b, &r) != FG_EUSAGE)
            TAP_FAIL("accepted %s", bad[i] ? bad[i] : "(null)");
    }
}

TEST("a quoted boundary with a space parses a body")
{
    mkdir_tmp();
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    const char *body = "--a b\r\nContent-Disposition: form-data; name=m\r\n\r\n"
                       "x\r\n--a b--";
    CHECK_INT(parse_n(body, strlen(body),
                      "multipart/form-data; boundary=\"a b\"", NULL, &m, &r),
              FG_OK);
    CHECK_STR(m.fields[0].value, "x");
    fcgi_multipart_release(&m);
    rm_tmp();
}

TEST("an empty file part is kept as a zero-byte file")
{
    mkdir_tmp();
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse(PART_FILE("f", "empty.txt", "") "--XyZ--\r\n", &m, &r), FG_OK);
    CHECK_INT(m.nfiles, 1);
    CHECK_INT(m.files[0].size, 0);
    CHECK_STR(m.files[0].sha256,
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    fcgi_multipart_release(&m);
    rm_tmp();
}

TEST("an empty file input (no filename, no content) is dropped")
{
    mkdir_tmp();
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse(PART_FILE("f", "", "") PART_FILE("g", "x", "1") "--XyZ--",
                    &m, &r),
              FG_OK);
    CHECK_INT(m.nfiles, 1);
    CHECK_STR(m.files[0].filename, "x");
    CHECK_INT(dir_entries(), 1);
    fcgi_multipart_release(&m);
    rm_tmp();
}

TEST("filenames are metadata: traversal kept as sent, never in the path")
{
    mkdir_tmp();
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse(PART_FILE("f", "../../etc/passwd", "root:x")
                        PART_FILE("f", "C:\\Users\\me\\a.txt", "w") "--XyZ--",
                    &m, &r),
              FG_OK);
    CHECK_STR(m.files[0].filename, "../../etc/passwd");
    CHECK(strstr(m.files[0].path, "passwd") == NULL);
    CHECK(strstr(m.files[0].path, "..") == NULL);
    CHECK_STR(m.files[1].filename, "C:\\Users\\me\\a.txt");
    CHECK_INT(dir_entries(), 2);
    fcgi_multipart_release(&m);
    rm_tmp();
}

TEST("filename* (RFC 5987) wins over filename and is decoded")
{
    static const struct {
        const char *cd, *want;
    } rows[] = {
        {"form-data; name=f; filename=\"Zoe.pdf\"; "
         "filename*=UTF-8''Zo%C3%AB%20%C5%81ukasiewicz.pdf",
         "Zoë Łukasiewicz.pdf"},
        {"form-data; name=f; filename*=utf-8'en'%E2%82%AC.txt", "€.txt"},
        {"form-data; name=f; filename*=iso-8859-1''caf%E9.txt", "café.txt"},
        {"form-data; name=f; filename=\"plain.txt\"; filename*=koi8-r''x",
         "plain.txt"},
        {"form-data; name=f; filename=\"a\\\"b.txt\"", "a\"b.txt"},
        {"form-data; name=f; filename=\"bad\xff\xfe.txt\"",
         "bad\xef\xbf\xbd\xef\xbf\xbd.txt"},
        {"form-data; name=f; filename*=UTF-8''a%0D%0Ab", "a__b"},
        {"form-data; name=f; filename*=UTF-8''%ED%A0%80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    };
    mkdir_tmp();
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "--XyZ\r\nContent-Disposition: %s\r\n\r\ndata\r\n--XyZ--",
                 rows[i].cd);
        struct fcgi_multipart m;
        fg_reason r = {{0}};
        if (parse(body, &m, &r) != FG_OK)
            TAP_FAIL("row %zu refused: %s", i, r.text);
        CHECK_INT(m.nfiles, 1);
        CHECK_STR(m.files[0].filename, rows[i].want);
        fcgi_multipart_release(&m);
    }
    rm_tmp();
}

/* Malformed bodies: FG_EUSAGE, and nothing left in the temp dir. */
TEST("malformed bodies are refused as usage errors without leftovers")
{
    static const char *const bad[] = {
        "", "no boundary at all", "--XyZ", "--XyZ\r\n",
        "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue",
        "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue\r\n--XyZ",
        "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ\r\n",
        "--XyZ\r\n\r\nno headers\r\n--XyZ--",
        "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=a\r\n"
        "Content-Disposition: form-data; name=b\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition form-data; name=a\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%G1\r\n"
        "\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=a; filename*=nothing\r\n"
        "\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''a%00b"
        "\r\n\r\nx\r\n--XyZ--",
        "--XyZ-junk\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ-",
        "--XyZ\r\nContent-Disposition: form-data; name=a; filename=f\r\n\r\n"
        "file bytes then the body stops",
        "--XYZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XYZ--",
    };
    mkdir_tmp();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fcgi_multipart m;
        fg_reason r = {{0}};
        fg_result got = parse(bad[i], &m, &r);
        if (got != FG_EUSAGE)
            TAP_FAIL("row %zu: result %d (%s)", i, got, r.text);
        if (strncmp(r.text, "malformed", 9) != 0 || strstr(r.text, tmpdir))
            TAP_FAIL("row %zu: reason \"%s\"", i, r.text);
        CHECK(m.nfiles == 0 && m.files == NULL && m.fields == NULL);
        if (dir_entries() != 0)
            TAP_FAIL("row %zu left a temp file", i);
    }
    rm_tmp();
}

TEST("a header block over the limit is refused as malformed")
{
    mkdir_tmp();
    char body[FG_UPLOAD_MAX_PART_HEADER_BYTES + 512];
    char pad[FG_UPLOAD_MAX_PART_HEADER_BYTES];
    memset(pad, 'a', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    snprintf(body, sizeof body,
             "--XyZ\r\nContent-Disposition: form-data; name=a\r\nX-Pad: %s\r\n"
             "\r\nx\r\n--XyZ--",
             pad);
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse(body, &m, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "headers longer") != NULL);
    /* The same block just under the limit passes. */
    struct fcgi_upload_limits lim;
    fcgi_upload_limits_init(&lim);
    lim.max_part_header_bytes = strlen(body);
    CHECK_INT(parse_n(body, strlen(body), CT, &lim, &m, &r), FG_OK);
    fcgi_multipart_release(&m);
    rm_tmp();
}

TEST("every truncated prefix of a valid body is refused without leftovers")
{
    mkdir_tmp();
    size_t n = strlen(TWO_FILES);
    struct fcgi_upload_limits lim;
    fcgi_upload_limits_init(&lim);
    /* The closing "--" is the end of the body proper; what follows is the
     * epilogue, which may be cut. */
    size_t need = (size_t)(strstr(TWO_FILES, "--XyZ--") - TWO_FILES) + 7;
    for (size_t chunk = 1; chunk <= 7; chunk += 6) {
        lim.read_chunk = chunk;
        for (size_t i = 0; i < n; i++) {
            struct fcgi_multipart m;
            fg_reason r = {{0}};
            fg_result got = parse_n(TWO_FILES, i, CT, &lim, &m, &r);
            if (i < need && got != FG_EUSAGE)
                TAP_FAIL("prefix %zu (chunk %zu): result %d", i, chunk, got);
            if (i >= need && got != FG_OK)
                TAP_FAIL("prefix %zu with the closing boundary refused", i);
            fcgi_multipart_release(&m);
            if (dir_entries() != 0)
                TAP_FAIL("prefix %zu left a temp file", i);
        }
    }
    rm_tmp();
}

TEST("too many files is refused as over the limit, naming it")
{
    mkdir_tmp();
    struct fcgi_upload_limits lim;
    fcgi_upload_limits_init(&lim);
    lim.max_files = 2;
    const char *body = PART_FILE("f", "1", "a") PART_FILE("f", "2", "b")
        PART_FILE("f", "3", "c") "--XyZ--";
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse_n(body, strlen(body), CT, &lim, &m, &r), FG_ELIMIT);
    CHECK(strstr(r.text, "FILIGRANE_MAX_FILES") != NULL);
    CHECK_INT(dir_entries(), 0);
    lim.max_files = 3;
    CHECK_INT(parse_n(body, strlen(body), CT, &lim, &m, &r), FG_OK);
    CHECK_INT(m.nfiles, 3);
    fcgi_multipart_release(&m);
    rm_tmp();
}

TEST("a file over the size limit is refused; at the limit it passes")
{
    mkdir_tmp();
    struct fcgi_upload_limits lim;
    fcgi_upload_limits_init(&lim);
    lim.max_file_bytes = 5;
    lim.read_chunk = 2;
    const char *body = PART_FILE("f", "1", "12345") PART_FILE("f", "2", "123456")
        "--XyZ--";
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse_n(body, strlen(body), CT, &lim, &m, &r), FG_ELIMIT);
    CHECK(strstr(r.text, "FILIGRANE_MAX_FILE_BYTES") != NULL);
    CHECK_INT(dir_entries(), 0);
    lim.max_file_bytes = 6;
    CHECK_INT(parse_n(body, strlen(body), CT, &lim, &m, &r), FG_OK);
    fcgi_multipart_release(&m);
    rm_tmp();
}

TEST("a body over the delivery limit is refused, naming it")
{
    mkdir_tmp();
    struct fcgi_upload_limits lim;
    fcgi_upload_limits_init(&lim);
    const char *body = PART_FILE("f", "1", "12345") PART_FILE("f", "2", "123456")
        "--XyZ--";
    lim.max_delivery_bytes = (long long)strlen(body) - 1;
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse_n(body, strlen(body), CT, &lim, &m, &r), FG_ELIMIT);
    CHECK(strstr(r.text, "FILIGRANE_MAX_DELIVERY_BYTES") != NULL);
    CHECK_INT(dir_entries(), 0);
    lim.max_delivery_bytes = (long long)strlen(body);
    CHECK_INT(parse_n(body, strlen(body), CT, &lim, &m, &r), FG_OK);
    fcgi_multipart_release(&m);
    rm_tmp();
}

TEST("too many parts, and a field over its limit, are refused")
{
    mkdir_tmp();
    struct fcgi_upload_limits lim;
    fcgi_upload_limits_init(&lim);
    lim.max_parts = 2;
    const char *body =
        "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=b\r\n\r\n22\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=c\r\n\r\n333\r\n--XyZ--";
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse_n(body, strlen(body), CT, &lim, &m, &r), FG_ELIMIT);
    lim.max_parts = 3;
    lim.max_field_bytes = 2;
    CHECK_INT(parse_n(body, strlen(body), CT, &lim, &m, &r), FG_ELIMIT);
    CHECK(strstr(r.text, "\"c\"") != NULL);
    lim.max_field_bytes = 3;
    CHECK_INT(parse_n(body, strlen(body), CT, &lim, &m, &r), FG_OK);
    CHECK_INT(m.nfields, 3);
    CHECK_STR(m.fields[2].value, "333");
    fcgi_multipart_release(&m);
    rm_tmp();
}

TEST("a filename longer than the name limit is refused")
{
    mkdir_tmp();
    char name[FG_UPLOAD_MAX_NAME_BYTES + 2], body[1024];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(body, sizeof body,
             "--XyZ\r\nContent-Disposition: form-data; name=f; filename=\"%s\""
             "\r\n\r\nx\r\n--XyZ--",
             name);
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse(body, &m, &r), FG_ELIMIT);
    CHECK_INT(dir_entries(), 0);
    rm_tmp();
}

TEST("taking a path keeps the file after release")
{
    mkdir_tmp();
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(parse(TWO_FILES, &m, &r), FG_OK);
    char *p = fcgi_upload_file_take_path(&m.files[0]);
    CHECK(p != NULL);
    CHECK(fcgi_upload_file_take_path(&m.files[0]) == NULL);
    fcgi_multipart_release(&m);
    CHECK_INT(dir_entries(), 1);
    CHECK(access(p, F_OK) == 0);
    unlink(p);
    free(p);
    fcgi_multipart_release(NULL);
    rm_tmp();
}

TEST("a temp dir that cannot be written is an I/O error without leftovers")
{
    struct fcgi_upload_limits lim;
    fcgi_upload_limits_init(&lim);
    struct mem mm = {TWO_FILES, strlen(TWO_FILES), 0};
    struct fcgi_body b = {mem_read, &mm, -1};
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_multipart_parse(&b, CT, "/nonexistent/dir", &lim, &m, &r),
              FG_EIO);
    CHECK(strstr(r.text, "/nonexistent") == NULL);
}

static long long failing_read(void *ctx, void *buf, size_t n)
{
    (void)ctx;
    (void)buf;
    (void)n;
    errno = EIO;
    return -1;
}

TEST("a read error is an I/O error without leftovers")
{
    mkdir_tmp();
    struct fcgi_upload_limits lim;
    fcgi_upload_limits_init(&lim);
    struct fcgi_body b = {failing_read, NULL, -1};
    struct fcgi_multipart m;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_multipart_parse(&b, CT, tmpdir, &lim, &m, &r), FG_EIO);
    CHECK_INT(dir_entries(), 0);
    rm_tmp();
}

TEST("bodies with random bytes changed never crash nor leave temp files")
{
    mkdir_tmp();
    size_t n = strlen(TWO_FILES);
    char *buf = malloc(n);
    CHECK(buf != NULL);
    struct fcgi_upload_limits lim;
    fcgi_upload_limits_init(&lim);
    static const char alphabet[] = "\r\n-\"';=*%XyZ \t\\\xff\x00a";
    unsigned seed = 12345;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, TWO_FILES, n);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            seed = seed * 1103515245u + 12345u;
            buf[at] = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
        }
        lim.read_chunk = 1 + (size_t)iter % 9;
        struct fcgi_multipart m;
        fg_reason r = {{0}};
        fg_result got = parse_n(buf, n, CT, &lim, &m, &r);
        if (got != FG_OK && got != FG_EUSAGE && got != FG_ELIMIT)
            TAP_FAIL("iteration %d: result %d (%s)", iter, got, r.text);
        if (got == FG_OK)
            for (size_t i = 0; i < m.nfiles; i++)
                CHECK(access(m.files[i].path, F_OK) == 0);
        fcgi_multipart_release(&m);
        if (dir_entries() != 0)
            TAP_FAIL("iteration %d left a temp file", iter);
    }
    free(buf);
    rm_tmp();
}
