/* Archive previews: a zip of stamped previews of every image and PDF entry
 * of an archive, and a MANIFEST.txt listing every entry.
 *
 * The archive is read once, in order (libarchive reads sequentially).
 * Every entry is hashed for the manifest; image and PDF entries are also
 * kept in memory (bounded per entry) and stamped in small batches by two
 * threads, then written to the preview zip in archive order. An entry
 * that is not previewed is listed and never copied: no byte of it reaches
 * the preview. Names are only ever shown (escaped) and used inside the
 * preview zip (made relative): nothing here writes an entry to disk. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <locale.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/commit.h"
#include "common/hex.h"
#include "watermark/archive_guard.h"
#include "watermark/archive_name.h"
#include "watermark/archive_preview.h"
#include "watermark/formats.h"
#include "watermark/save.h"

/* Bytes of an entry libmagic looks at: enough for every format we
 * preview, and for telling a nested archive. */
#define HEAD_BYTES (64 * 1024)
/* A batch is stamped in parallel once it holds this many entries or
 * bytes: two workers, and enough queued that neither waits for long. */
#define BATCH_JOBS 8
#define BATCH_BYTES (256LL * 1024 * 1024)
#define CHUNK (256 * 1024)

typedef struct run {
    struct archive *in;
    struct archive *out;
    const wm_options *o;
    uint64_t seed;
    wm_archive_guard guard;
    GPtrArray *lines;      /* manifest lines, in archive order */
    GHashTable *names;     /* paths used in the preview zip */
    wm_preview_job *batch[BATCH_JOBS];
    int nbatch;
    long long batch_bytes;
    long previewed;
    unsigned char *chunk; /* CHUNK bytes: what one read unpacks */
} run;

/* An error from libarchive, shown without letting an entry name forge
 * anything: escaped and cut. */
static fg_result archive_failed(struct archive *a, fg_result code,
                                const char *what, fg_reason *r)
{
    const char *msg = archive_error_string(a);
    char *safe = wm_archive_name_escape(msg ? msg : "unknown error", 120);
    fg_result rc;
    if (msg && (strstr(msg, "ncrypt") || strstr(msg, "assphrase")))
        rc = fg_fail(r, FG_EUNSUPPORTED,
                     "archive is encrypted: it is withheld");
    else
        rc = fg_fail(r, code, "%s: %s", what, safe ? safe : "unknown error");
    free(safe);
    return rc;
}

static void add_line(run *u, const char *state, long long size,
                     const char *sha, const char *mime, const char *name,
                     const char *detail)
{
    char sz[32];
    if (size >= 0)
        snprintf(sz, sizeof sz, "%lld", size);
    else
        snprintf(sz, sizeof sz, "-");
    g_ptr_array_add(u->lines, g_strdup_printf("%s\t%s\t%s\t%s\t%s\t%s", state,
                                              sz, sha, mime, name, detail));
}

static fg_result write_entry(run *u, const char *path, const void *data,
                             size_t len, fg_reason *r)
{
    struct archive_entry *e = archive_entry_new();
    fg_result rc = FG_OK;
    if (!e)
        return fg_fail(r, FG_EIO, "cannot write preview zip: out of memory");
    archive_entry_set_pathname_utf8(e, path);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_mtime(e, time(NULL), 0);
    if (archive_write_header(u->out, e) != ARCHIVE_OK ||
        (len && archive_write_data(u->out, data, len) != (la_ssize_t)len))
        rc = archive_failed(u->out, FG_EIO, "cannot write preview zip", r);
    archive_entry_free(e);
    return rc;
}

/* The path of a preview in the zip: the entry's safe path, with the
 * preview's extension added when it is not already there, and a "~N"
 * when two entries come out the same. */
static char *zip_path(run *u, const char *name, long index, const char *ext)
{
    char *safe = wm_archive_name_safe(name, index);
    const char *dot = strrchr(safe, '.');
    const char *slash = strrchr(safe, '/');
    bool same = dot && (!slash || dot > slash) &&
                (g_ascii_strcasecmp(dot, ext) == 0 ||
                 (strcmp(ext, ".jpg") == 0 &&
                  g_ascii_strcasecmp(dot, ".jpeg") == 0));
    char *path = same ? g_strdup(safe) : g_strconcat(safe, ext, NULL);
    for (int n = 2; g_hash_table_contains(u->names, path); n++) {
        g_free(path);
        path = same ? g_strdup_printf("%.*s~%d%s", (int)(dot - safe), safe, n,
                                      dot)
                    : g_strdup_printf("%s~%d%s", safe, n, ext);
    }
    free(safe);
    g_hash_table_add(u->names, path);
    return path;
}

/* Stamps the queued entries (two at a time) and writes them in order. */
static fg_result flush(run *u, fg_reason *r)
{
    fg_result rc = FG_OK;
    wm_preview_run(u->batch, u->nbatch, u->o);
    for (int i = 0; i < u->nbatch; i++) {
        wm_preview_job *j = u->batch[i];
        if (rc == FG_OK) {
            if (j->rc == FG_OK) {
                char *path = zip_path(u, j->name, j->index, j->ext);
                rc = write_entry(u, path, j->out, j->out_len, r);
                g_ptr_array_index(u->lines, j->line) = g_strdup_printf(
                    "previewed\t%zu\t%s\t%s\t%s\t%s", j->len, j->sha, j->mime,
                    j->name, path);
                u->previewed++;
            } else {
                g_ptr_array_index(u->lines, j->line) = g_strdup_printf(
                    "withheld\t%zu\t%s\t%s\t%s\t%s", j->len,
                    u->o->has_salt ? j->sha : "-", j->mime, j->name,
                    j->why.text);
            }
        }
        wm_preview_job_free(j);
        u->batch[i] = NULL;
    }
    u->nbatch = 0;
    u->batch_bytes = 0;
    return rc;
}

/* Reads a regular entry: hashes all of it, keeps it if it may be
 * previewed, and queues it or lists it. */
static fg_result read_entry(run *u, long index, char *name, fg_reason *r)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    /* With the file's salt: the entry's commitment, in the same pass. */
    EVP_MD_CTX *cm = u->o->has_salt ? EVP_MD_CTX_new() : NULL;
    GByteArray *keep = g_byte_array_new();
    bool keeping = true, detected = false, too_large = false;
    wm_type type = {.mime = "application/octet-stream", .kind = WM_KIND_OTHER};
    unsigned char digest[32], entry_salt[FG_SALT_BYTES];
    char sha[65];
    long long size = 0;
    fg_result rc = FG_OK;
    unsigned char *chunk = u->chunk;

    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        rc = fg_fail(r, FG_EIO, "cannot hash archive entry: out of memory");
        goto out;
    }
    if (u->o->has_salt &&
        ((rc = fg_commit_entry_salt(u->o->salt, name, entry_salt, r)) ||
         (rc = fg_commit_start(cm, entry_salt, r))))
        goto out;
    for (;;) {
        la_ssize_t n = archive_read_data(u->in, chunk, CHUNK);
        if (n == 0)
            break;
        if (n < 0) {
            const char *msg = archive_error_string(u->in);
            if (msg && (strstr(msg, "ncrypt") || strstr(msg, "assphrase"))) {
                add_line(u, "withheld", -1, "-", "-", name, "encrypted");
                goto out;
            }
            rc = archive_failed(u->in, FG_ECORRUPT, "archive is damaged", r);
            goto out;
        }
        if ((rc = wm_archive_guard_bytes(&u->guard, n,
                                         archive_filter_bytes(u->in, -1), r)))
            goto out;
        EVP_DigestUpdate(md, chunk, (size_t)n);
        if (cm)
            EVP_DigestUpdate(cm, chunk, (size_t)n);
        size += n;
        if (keeping && size > u->guard.l.max_entry) {
            too_large = true;
            keeping = false;
        }
        /* The head is kept in any case: the type is told from it. */
        if (keeping)
            g_byte_array_append(keep, chunk, (guint)n);
        else if (keep->len < HEAD_BYTES)
            g_byte_array_append(keep, chunk,
                                (guint)MIN((size_t)n, HEAD_BYTES - keep->len));
        if (!detected && keep->len >= HEAD_BYTES) {
            detected = true;
            if (wm_detect_buffer(keep->data, keep->len, &type, NULL) != FG_OK)
                type.kind = WM_KIND_OTHER;
            if (type.kind != WM_KIND_IMAGE && type.kind != WM_KIND_PDF)
                keeping = false;
        }
        if (!keeping && keep->len > HEAD_BYTES)
            g_byte_array_set_size(keep, HEAD_BYTES);
    }
    if (!detected && wm_detect_buffer(keep->data, keep->len, &type, NULL) != FG_OK)
        type.kind = WM_KIND_OTHER;
    EVP_DigestFinal_ex(md, digest, NULL);
    /* The manifest's column: the commitment with a salt; without one, the
     * plain sha256 for a previewed entry and nothing for a withheld one
     * (a plain hash of a short secret gives the secret away). */
    if (cm) {
        unsigned char c[32];
        EVP_DigestFinal_ex(cm, c, NULL);
        fg_hex_encode(c, sizeof c, sha);
    } else {
        fg_hex_encode(digest, sizeof digest, sha);
    }

    char *mime = wm_archive_name_escape(type.mime, WM_MIME_MAX);
    const char *why = NULL;
    if (type.kind == WM_KIND_ARCHIVE)
        why = "nested archive: not opened";
    else if (type.kind != WM_KIND_IMAGE && type.kind != WM_KIND_PDF)
        why = "not an image or a pdf";
    else if (too_large)
        why = "too large to preview";
    if (why) {
        add_line(u, "withheld", size, cm ? sha : "-", mime, name, why);
        free(mime);
        goto out;
    }
    /* Queued: its manifest line is filled in when it has been stamped. */
    uint64_t s = 0;
    memcpy(&s, digest, sizeof s);
    wm_preview_job *j = wm_preview_job_new(index, name, mime, type.kind, sha,
                                           keep, u->seed ^ s);
    free(mime);
    keep = NULL; /* the job owns it now */
    if (!j) {
        rc = fg_fail(r, FG_EIO, "cannot preview archive: out of memory");
        goto out;
    }
    j->line = u->lines->len;
    g_ptr_array_add(u->lines, NULL);
    u->batch[u->nbatch++] = j;
    u->batch_bytes += (long long)j->len;
    if (u->nbatch == BATCH_JOBS || u->batch_bytes >= BATCH_BYTES)
        rc = flush(u, r);
out:
    if (keep)
        g_byte_array_free(keep, TRUE);
    EVP_MD_CTX_free(cm);
    EVP_MD_CTX_free(md);
    return rc;
}

static fg_result one_entry(run *u, struct archive_entry *e, long index,
                           fg_reason *r)
{
    const char *raw = archive_entry_pathname_utf8(e);
    if (!raw)
        raw = archive_entry_pathname(e);
    char *name = wm_archive_name_escape(raw, FG_ARCHIVE_MAX_NAME);
    long long declared =
        archive_entry_size_is_set(e) ? (long long)archive_entry_size(e) : -1;
    fg_result rc = FG_OK;
    if (!name)
        return fg_fail(r, FG_EIO, "cannot read archive: out of memory");
    if ((rc = wm_archive_guard_entry(&u->guard, declared, r)))
        goto out;
    mode_t type = archive_entry_filetype(e);
    if (archive_entry_hardlink(e))
        add_line(u, "withheld", declared, "-", "-", name,
                 "hard link: not followed");
    else if (type == AE_IFLNK)
        add_line(u, "withheld", declared, "-", "-", name,
                 "symbolic link: not followed");
    else if (type == AE_IFDIR)
        add_line(u, "directory", -1, "-", "-", name, "-");
    else if (type != AE_IFREG)
        add_line(u, "withheld", declared, "-", "-", name, "special file");
    else if (archive_entry_is_encrypted(e))
        add_line(u, "withheld", declared, "-", "-", name, "encrypted");
    else
        rc = read_entry(u, index, name, r);
out:
    free(name);
    return rc;
}

static fg_result write_manifest(run *u, fg_reason *r)
{
    GString *m = g_string_new(
        "# filigrane archive preview: every entry of the original archive, in "
        "order.\n"
        "# Previewed entries are in this zip, stamped; withheld ones are "
        "listed only.\n");
    if (u->o->has_salt)
        g_string_append(
            m, "# commitment = SHA-256(entry salt || entry bytes), entry salt = "
               "HMAC-SHA256(key = the file's salt, \"" FG_ENTRY_SALT_LABEL
               "\" || name); the file's salt is revealed at release.\n"
               "# state\tsize\tcommitment\ttype\tname\tpreview or reason\n");
    else
        g_string_append(m, "# state\tsize\tsha256\ttype\tname\tpreview or reason\n");
    for (guint i = 0; i < u->lines->len; i++) {
        const char *line = g_ptr_array_index(u->lines, i);
        g_string_append(m, line ? line : "withheld\t-\t-\t-\t-\tnot stamped");
        g_string_append_c(m, '\n');
    }
    g_string_append_printf(m, "# %u entries, %ld previewed\n", u->lines->len,
                           u->previewed);
    /* The manifest is text and compresses well; the previews are JPEG,
     * PNG and PDF, which do not. */
    fg_result rc = FG_OK;
    if (archive_write_zip_set_compression_deflate(u->out) != ARCHIVE_OK)
        rc = archive_failed(u->out, FG_EIO, "cannot write preview zip", r);
    if (rc == FG_OK)
        rc = write_entry(u, "MANIFEST.txt", m->str, m->len, r);
    g_string_free(m, TRUE);
    return rc;
}

static fg_result open_reader(run *u, int fd, fg_reason *r)
{
    /* The formats and filters we preview, and no others: "all" would
     * bring mtree (which opens files named inside it) and filters that
     * run external programs. */
    u->in = archive_read_new();
    if (!u->in)
        return fg_fail(r, FG_EIO, "cannot read archive: out of memory");
    archive_read_support_format_zip(u->in);
    archive_read_support_format_tar(u->in);
    archive_read_support_format_gnutar(u->in);
    archive_read_support_format_7zip(u->in);
    archive_read_support_format_rar(u->in);
    archive_read_support_format_rar5(u->in);
    archive_read_support_filter_gzip(u->in);
    archive_read_support_filter_bzip2(u->in);
    archive_read_support_filter_xz(u->in);
    archive_read_support_filter_lzma(u->in);
    archive_read_support_filter_zstd(u->in);
    if (archive_read_open_fd(u->in, fd, 64 * 1024) != ARCHIVE_OK)
        return archive_failed(u->in, FG_EUNSUPPORTED,
                              "archive cannot be read", r);
    return FG_OK;
}

static fg_result open_writer(run *u, int fd, fg_reason *r)
{
    u->out = archive_write_new();
    if (!u->out)
        return fg_fail(r, FG_EIO, "cannot write preview zip: out of memory");
    if (archive_write_set_format_zip(u->out) != ARCHIVE_OK ||
        archive_write_zip_set_compression_store(u->out) != ARCHIVE_OK ||
        archive_write_open_fd(u->out, fd) != ARCHIVE_OK)
        return archive_failed(u->out, FG_EIO, "cannot write preview zip", r);
    return FG_OK;
}

static fg_result preview(run *u, int in_fd, int out_fd, fg_reason *r)
{
    fg_result rc;
    struct archive_entry *e;
    long index = 0;
    if ((rc = open_reader(u, in_fd, r)) || (rc = open_writer(u, out_fd, r)))
        return rc;
    for (;;) {
        int st = archive_read_next_header(u->in, &e);
        if (st == ARCHIVE_EOF)
            break;
        if (st < ARCHIVE_WARN) {
            if (index == 0)
                return archive_failed(u->in, FG_ECORRUPT,
                                      "archive cannot be read", r);
            return archive_failed(u->in, FG_ECORRUPT, "archive is damaged", r);
        }
        if ((rc = one_entry(u, e, index++, r)))
            return rc;
    }
    if ((rc = flush(u, r)) || (rc = write_manifest(u, r)))
        return rc;
    if (archive_write_close(u->out) != ARCHIVE_OK)
        return archive_failed(u->out, FG_EIO, "cannot write preview zip", r);
    return FG_OK;
}

fg_result wm_stamp_archive(const char *in, const char *out, const wm_options *o,
                           uint64_t seed, fg_reason *r)
{
    run u = {.o = o, .seed = seed};
    wm_archive_limits lim;
    wm_outfile f = {.fd = -1};
    int in_fd = -1;
    struct stat st;
    fg_result rc;

    wm_format fmt = wm_format_from_path(out);
    if (fmt != WM_FORMAT_AUTO && fmt != WM_FORMAT_ZIP)
        return fg_fail(r, FG_EUSAGE, "the preview of an archive is a zip: "
                                     "name the output .zip");
    if ((rc = wm_archive_limits_init(&lim, r)))
        return rc;
    /* libarchive converts entry names to the locale's charset; in the C
     * locale every non-ASCII name fails to convert and comes back empty.
     * A UTF-8 locale for this thread alone gives them back as UTF-8 (and
     * names in another charset as raw bytes, escaped for the manifest). */
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;
    in_fd = open(in, O_RDONLY | O_CLOEXEC);
    if (in_fd < 0 || fstat(in_fd, &st) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot open archive: %s",
                     errno == ENOENT ? "no such file" : "not readable");
        goto out;
    }
    if (st.st_size > o->max_bytes) {
        rc = fg_fail(r, FG_ELIMIT,
                     "archive is larger than the input limit (%lld bytes)",
                     o->max_bytes);
        goto out;
    }
    wm_archive_guard_init(&u.guard, &lim, st.st_size);
    u.chunk = g_malloc(CHUNK);
    u.lines = g_ptr_array_new_with_free_func(g_free);
    u.names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_add(u.names, g_strdup("MANIFEST.txt"));
    /* Written to a temporary file and renamed, so a failure never leaves
     * half a zip at out. */
    if ((rc = wm_outfile_open(&f, out, r)) == FG_OK &&
        (rc = preview(&u, in_fd, f.fd, r)) == FG_OK)
        rc = wm_outfile_commit(&f, r);
out:
    for (int i = 0; i < u.nbatch; i++)
        wm_preview_job_free(u.batch[i]);
    if (u.in)
        archive_read_free(u.in);
    if (u.out)
        archive_write_free(u.out);
    wm_outfile_abort(&f);
    g_free(u.chunk);
    if (u.lines)
        g_ptr_array_free(u.lines, TRUE);
    if (u.names)
        g_hash_table_destroy(u.names);
    if (in_fd >= 0)
        close(in_fd);
    if (utf8) {
        uselocale(old);
        freelocale(utf8);
    }
    return rc;
}
