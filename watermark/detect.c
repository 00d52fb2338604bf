/* Type detection from content, with libmagic.
 *
 * A magic_t is not safe to share between threads, and the worker is
 * threaded, so every call opens its own handle. Loading the compiled
 * database is a mmap: cheap next to what the caller does with the file. */
#include "watermark/wm.h"

#include <errno.h>
#include <fcntl.h>
#include <magic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *mime;
    wm_kind kind;
} kinds[] = {
    {"application/pdf", WM_KIND_PDF},
    {"application/zip", WM_KIND_ARCHIVE},
    {"application/x-tar", WM_KIND_ARCHIVE},
    {"application/gzip", WM_KIND_ARCHIVE},
    {"application/x-gzip", WM_KIND_ARCHIVE},
    {"application/x-bzip2", WM_KIND_ARCHIVE},
    {"application/x-xz", WM_KIND_ARCHIVE},
    {"application/zstd", WM_KIND_ARCHIVE},
    {"application/x-zstd", WM_KIND_ARCHIVE},
    {"application/x-7z-compressed", WM_KIND_ARCHIVE},
    {"application/x-rar", WM_KIND_ARCHIVE},
    {"application/vnd.rar", WM_KIND_ARCHIVE},
    /* What libmagic says of the files ffmpeg makes in these containers. */
    {"video/mp4", WM_KIND_VIDEO},
    {"video/quicktime", WM_KIND_VIDEO},
    {"video/webm", WM_KIND_VIDEO},
    {"video/x-matroska", WM_KIND_VIDEO},
    {"video/x-msvideo", WM_KIND_VIDEO},
    /* Audio as libmagic names what ffmpeg, sox and LAME write. An M4A
     * without the "M4A " brand, or an Opus in WebM, reads as video/mp4 or
     * video/webm: the sandboxed stamper previews a video file that has no
     * picture as audio (watermark/engine.c). */
    {"audio/mpeg", WM_KIND_AUDIO},
    {"audio/x-wav", WM_KIND_AUDIO},
    {"audio/wav", WM_KIND_AUDIO},
    {"audio/flac", WM_KIND_AUDIO},
    {"audio/x-flac", WM_KIND_AUDIO},
    {"audio/ogg", WM_KIND_AUDIO},
    {"audio/x-m4a", WM_KIND_AUDIO},
    {"audio/mp4", WM_KIND_AUDIO},
    {"audio/x-hx-aac-adts", WM_KIND_AUDIO},
    {"audio/aac", WM_KIND_AUDIO},
    /* Office documents: converted by LibreOffice (watermark/office.h). */
    {"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     WM_KIND_DOCUMENT},
    {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", WM_KIND_DOCUMENT},
    {"application/vnd.openxmlformats-officedocument.presentationml.presentation",
     WM_KIND_DOCUMENT},
    {"application/vnd.ms-word.document.macroEnabled.12", WM_KIND_DOCUMENT},
    {"application/vnd.ms-excel.sheet.macroEnabled.12", WM_KIND_DOCUMENT},
    {"application/vnd.ms-powerpoint.presentation.macroEnabled.12", WM_KIND_DOCUMENT},
    {"application/vnd.oasis.opendocument.text", WM_KIND_DOCUMENT},
    {"application/vnd.oasis.opendocument.spreadsheet", WM_KIND_DOCUMENT},
    {"application/vnd.oasis.opendocument.presentation", WM_KIND_DOCUMENT},
    {"application/msword", WM_KIND_DOCUMENT},
    {"application/vnd.ms-excel", WM_KIND_DOCUMENT},
    {"application/vnd.ms-powerpoint", WM_KIND_DOCUMENT},
    {"application/vnd.ms-office", WM_KIND_DOCUMENT},
    {"text/rtf", WM_KIND_DOCUMENT},
    {"application/rtf", WM_KIND_DOCUMENT},
    /* Text that libmagic files under application/: rendered as text. */
    {"application/json", WM_KIND_TEXT},
    {"application/x-ndjson", WM_KIND_TEXT},
    {"application/javascript", WM_KIND_TEXT},
    {"application/xml", WM_KIND_TEXT},
    {"application/x-wine-extension-ini", WM_KIND_TEXT},
};

/* Every image/ type is an image: whether it can be previewed is the
 * stamper's decision (an image it cannot read is withheld there). Every
 * text/ type (plain, csv, source code, markdown, HTML, XML...) but RTF is
 * text, laid out as it is written: HTML and SVG source are shown as
 * source, never rendered. */
static wm_kind kind_of(const char *mime)
{
    if (strncmp(mime, "image/", 6) == 0)
        return WM_KIND_IMAGE;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(mime, kinds[i].mime) == 0)
            return kinds[i].kind;
    if (strncmp(mime, "text/", 5) == 0)
        return WM_KIND_TEXT;
    return WM_KIND_OTHER;
}

static magic_t open_magic(fg_reason *r)
{
    magic_t m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
    if (!m) {
        fg_fail(r, FG_EIO, "cannot detect type: out of memory");
        return NULL;
    }
    if (magic_load(m, NULL) != 0) {
        fg_fail(r, FG_EIO, "cannot detect type: no magic database");
        magic_close(m);
        return NULL;
    }
    return m;
}

static fg_result fill(const char *mime, wm_type *out, fg_reason *r)
{
    if (!mime)
        return fg_fail(r, FG_EIO, "cannot detect type: libmagic failed");
    size_t n = strlen(mime);
    if (n >= sizeof out->mime)
        n = sizeof out->mime - 1;
    memcpy(out->mime, mime, n);
    out->mime[n] = '\0';
    out->kind = kind_of(out->mime);
    return FG_OK;
}

fg_result wm_detect_buffer(const void *buf, size_t len, wm_type *out,
                           fg_reason *r)
{
    memset(out, 0, sizeof *out);
    out->kind = WM_KIND_OTHER;
    magic_t m = open_magic(r);
    if (!m)
        return FG_EIO;
    fg_result rc = fill(magic_buffer(m, buf, len), out, r);
    magic_close(m);
    return rc;
}

fg_result wm_detect_file(const char *path, wm_type *out, fg_reason *r)
{
    memset(out, 0, sizeof *out);
    out->kind = WM_KIND_OTHER;
    fg_result rc = FG_OK;
    magic_t m = NULL;
    /* Opened here rather than by libmagic, so that a directory or a FIFO
     * is refused before anything reads from it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        rc = fg_fail(r, FG_EIO, "cannot open file: %s",
                     errno == ENOENT ? "no such file" : "permission denied "
                                                        "or unreadable");
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fg_fail(r, FG_EIO, "cannot open file: not a regular file");
        goto out;
    }
    m = open_magic(r);
    if (!m) {
        rc = FG_EIO;
        goto out;
    }
    rc = fill(magic_descriptor(m, fd), out, r);
out:
    if (m)
        magic_close(m);
    if (fd >= 0)
        close(fd);
    return rc;
}

const char *wm_kind_name(wm_kind kind)
{
    switch (kind) {
    case WM_KIND_IMAGE: return "image";
    case WM_KIND_PDF: return "pdf";
    case WM_KIND_ARCHIVE: return "archive";
    case WM_KIND_VIDEO: return "video";
    case WM_KIND_AUDIO: return "audio";
    case WM_KIND_DOCUMENT: return "document";
    case WM_KIND_TEXT: return "text";
    default: return "other";
    }
}
