/* fcgi_multipart_parse on a fuzzed Content-Type and body.
 *
 * Input: the first line is the request's Content-Type, the rest the body.
 * The body is read through a memory reader that hands out at most a few
 * bytes at a time (the count taken from the input's length), so that
 * delimiters and header blocks straddle reads. Small limits, so that every
 * limit is reachable.
 *
 * Invariants: the result is FG_OK, FG_EUSAGE or FG_ELIMIT (never FG_EIO:
 * the disk and memory do not fail here), a failure has a reason (valid
 * UTF-8, as it goes into a JSON body; no server path) and leaves the temp
 * dir empty and *out empty; on success there are at most
 * max_files files, each the only owner of one temp file in the dir, whose
 * size and SHA-256 are the ones reported, within max_file_bytes, with a
 * valid UTF-8 filename free of control characters, and the fields are
 * within their limits; after fcgi_multipart_release the dir is empty. */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/utf8.h"
#include "fcgi/multipart.h"
#include "tests/fuzz/fuzz.h"

static char tmpdir[4096];

struct mem {
    const uint8_t *p;
    size_t n, off, step;
};

static long long mem_read(void *ctx, void *buf, size_t n)
{
    struct mem *m = ctx;
    size_t left = m->n - m->off;
    if (n > m->step)
        n = m->step;
    if (n > left)
        n = left;
    if (n)
        memcpy(buf, m->p + m->off, n);
    m->off += n;
    return (long long)n;
}

static int dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    FUZZ_CHECK(d != NULL, "temp dir gone");
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void file_digest(const char *path, long long *size, char hex[65])
{
    unsigned char buf[4096], d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "temp file missing");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    FUZZ_CHECK(md && EVP_DigestInit_ex(md, EVP_sha256(), NULL), "sha256");
    *size = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        FUZZ_CHECK(n >= 0, "read temp file");
        if (n == 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)n);
        *size += n;
    }
    close(fd);
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    for (unsigned i = 0; i < dl; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* One dir for the whole run (a dir per input costs five times the
 * parse), made under $TMPDIR: libFuzzer leaves without running atexit
 * handlers, so `make fuzz` and smoke.sh point TMPDIR at a dir they remove
 * afterwards. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *base = getenv("TMPDIR");
    (void)argc;
    (void)argv;
    if (!base || !*base)
        base = "/tmp";
    int n = snprintf(tmpdir, sizeof tmpdir, "%s/fg-fuzz-mp-XXXXXX", base);
    if (n < 0 || (size_t)n >= sizeof tmpdir || !mkdtemp(tmpdir)) {
        fprintf(stderr, "fuzz_multipart: cannot make a temp dir in %s\n", base);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ctl = nl ? (size_t)(nl - data) : size;
    char *ctype = fuzz_strndup(data, ctl);
    struct mem mem = {
        .p = nl ? nl + 1 : data + size,
        .n = nl ? size - ctl - 1 : 0,
        .step = 1 + size % 97,
    };
    struct fcgi_body body = {.read = mem_read, .ctx = &mem, .fd = -1};
    struct fcgi_upload_limits l = {
        .max_file_bytes = 2048,
        .max_files = 4,
        .max_delivery_bytes = 8192,
        .max_part_header_bytes = 512,
        .max_parts = 8,
        .max_field_bytes = 512,
        .read_chunk = 1 + size % 251,
    };
    struct fcgi_multipart mp;
    fg_reason r = {{0}};

    fg_result res = fcgi_multipart_parse(&body, ctype, tmpdir, &l, &mp, &r);
    FUZZ_CHECK(res == FG_OK || res == FG_EUSAGE || res == FG_ELIMIT,
               "result %s: %s", fg_result_name(res), r.text);
    if (res != FG_OK) {
        FUZZ_CHECK(r.text[0] != '\0', "failure without a reason");
        /* The reason goes out in a JSON error body: UTF-8 only, and no
         * server path (unless the client sent that text itself). */
        FUZZ_CHECK(fg_utf8_valid(r.text, strlen(r.text)),
                   "reason is not valid UTF-8: %s", r.text);
        FUZZ_CHECK(strstr(r.text, tmpdir) == NULL ||
                       memmem(data, size, tmpdir, strlen(tmpdir)) != NULL,
                   "reason holds a path");
        FUZZ_CHECK(mp.nfiles == 0 && mp.nfields == 0 && !mp.files &&
                       !mp.fields,
                   "output left after a failure");
        FUZZ_CHECK(dir_entries() == 0, "temp files left after: %s", r.text);
        goto out;
    }

    FUZZ_CHECK(mp.nfiles <= (size_t)l.max_files, "%zu files", mp.nfiles);
    FUZZ_CHECK(mp.nfiles + mp.nfields <= (size_t)l.max_parts, "%zu parts",
               mp.nfiles + mp.nfields);
    FUZZ_CHECK(dir_entries() == (int)mp.nfiles, "%d temp files for %zu files",
               dir_entries(), mp.nfiles);
    long long total = 0;
    for (size_t i = 0; i < mp.nfiles; i++) {
        struct fcgi_upload_file *f = &mp.files[i];
        long long sz;
        char hex[65];
        FUZZ_CHECK(f->path && strncmp(f->path, tmpdir, strlen(tmpdir)) == 0,
                   "file %zu outside the temp dir", i);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(mp.files[j].path, f->path) != 0, "shared path");
        file_digest(f->path, &sz, hex);
        FUZZ_CHECK(sz == f->size, "size %lld on disk, %lld reported", sz,
                   f->size);
        FUZZ_CHECK(strcmp(hex, f->sha256) == 0, "sha256 differs");
        FUZZ_CHECK(f->size <= l.max_file_bytes, "file over the limit");
        total += f->size;
        FUZZ_CHECK(f->field && f->filename, "file without field or filename");
        size_t fl = strlen(f->filename);
        FUZZ_CHECK(fg_utf8_valid(f->filename, fl), "filename not UTF-8");
        for (size_t k = 0; k < fl; k++)
            FUZZ_CHECK((unsigned char)f->filename[k] >= 0x20 &&
                           f->filename[k] != 0x7f,
                       "control character in filename");
    }
    FUZZ_CHECK(total <= (long long)mem.n, "more file bytes than body bytes");
    for (size_t i = 0; i < mp.nfields; i++) {
        FUZZ_CHECK(mp.fields[i].name && mp.fields[i].value, "field %zu", i);
        FUZZ_CHECK(mp.fields[i].len <= l.max_field_bytes, "field too long");
        FUZZ_CHECK(mp.fields[i].value[mp.fields[i].len] == '\0',
                   "field not terminated");
    }
    fcgi_multipart_release(&mp);
    FUZZ_CHECK(dir_entries() == 0, "release left temp files");
out:
    free(ctype);
    return 0;
}
