/* The engine's entry points: start-up, and one file in, one preview out. */
#include "watermark/wm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "watermark/audio.h"
#include "watermark/formats.h"
#include "watermark/options.h"

static void silence(const gchar *domain, GLogLevelFlags level,
                    const gchar *message, gpointer data)
{
    (void)domain, (void)level, (void)message, (void)data;
}

fg_result wm_init(const char *argv0, bool allow_untrusted, fg_reason *r)
{
    if (VIPS_INIT(argv0 ? argv0 : "filigrane") != 0) {
        vips_error_clear();
        return fg_fail(r, FG_EIO, "cannot start libvips");
    }
    vips_block_untrusted_set(!allow_untrusted);
    /* Errors are reported once, as a reason; libvips's own warnings
     * ("error in tile ...") would add lines a caller cannot act on. */
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, silence, NULL);
    /* A cached operation holds its decoded pixels: nothing is reused
     * between files, so keep nothing. */
    vips_cache_set_max(0);
    return FG_OK;
}

void wm_shutdown(void)
{
    vips_shutdown();
}

/* A file whose name promises a previewable type but whose content is
 * something else (text named .jpg) is damaged, not merely withheld. */
static int name_promises_preview(const char *path)
{
    static const char *const exts[] = {
        "jpg", "jpeg", "png", "gif", "webp", "tif", "tiff", "heic",
        "heif", "avif", "pdf", "zip", "tar", "tgz", "gz", "7z", "rar",
        "mp4", "mov", "m4v", "webm", "mkv", "avi",
        "mp3", "wav", "flac", "ogg", "oga", "opus", "m4a", "aac"};
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    for (size_t i = 0; dot && i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot + 1, exts[i]) == 0)
            return 1;
    return 0;
}

typedef fg_result (*stamp_fn)(const char *, const char *, const wm_options *,
                              uint64_t, fg_reason *);

static fg_result dispatch(const wm_type *t, const char *in, const char *out,
                          const wm_options *o, uint64_t seed, fg_reason *r)
{
    static const stamp_fn by_kind[] = {
        [WM_KIND_IMAGE] = wm_stamp_image,
        [WM_KIND_PDF] = wm_stamp_pdf,
        [WM_KIND_ARCHIVE] = wm_stamp_archive,
        [WM_KIND_VIDEO] = wm_stamp_video,
        [WM_KIND_AUDIO] = wm_stamp_audio,
        [WM_KIND_TEXT] = wm_stamp_text,
    };
    /* A video container with sound and no picture (an M4A libmagic calls
     * video/mp4, an audio-only WebM) is previewed as audio: whether it
     * has a picture is known only by demuxing it, here in the sandbox. */
    if (t->kind == WM_KIND_VIDEO && wm_audio_only(in))
        return wm_stamp_audio(in, out, o, seed, r);
    /* An office document is converted by LibreOffice before the sandbox's
     * filter is loaded (cli/stamp.c, watermark/office.h): reaching here
     * means it was not. */
    if (t->kind == WM_KIND_DOCUMENT)
        return fg_fail(r, FG_EUNSUPPORTED,
                       "office documents are previewed only by the sandboxed stamper");
    /* Text named .pdf or .jpg is a damaged or disguised file, as before
     * text was previewed: said so rather than shown as text. */
    if (t->kind == WM_KIND_TEXT && name_promises_preview(in))
        return fg_fail(r, FG_ECORRUPT, "content is %s, not what its name says", t->mime);
    if ((size_t)t->kind < sizeof by_kind / sizeof by_kind[0] &&
        by_kind[t->kind])
        return by_kind[t->kind](in, out, o, seed, r);
    if (name_promises_preview(in))
        return fg_fail(r, FG_ECORRUPT, "content is %s, not what its name says",
                       t->mime);
    return fg_fail(r, FG_EUNSUPPORTED, "type %s is withheld", t->mime);
}

fg_result wm_stamp_file(const char *in, const char *out, const wm_options *o,
                        fg_reason *r)
{
    fg_result rc = FG_OK;
    wm_type type;
    uint64_t seed = o->seed;
    int fd = open(in, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0) {
        rc = fg_fail(r, FG_ECORRUPT, "cannot open the file: %s",
                     errno == ENOENT ? "no such file" : "not readable");
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fg_fail(r, FG_ECORRUPT, "not a regular file");
        goto out;
    }
    if (st.st_size == 0) {
        rc = fg_fail(r, FG_ECORRUPT, "the file is empty");
        goto out;
    }
    if (st.st_size > o->max_bytes) {
        rc = fg_fail(r, FG_ELIMIT, "%lld bytes, over the limit of %lld "
                                   "(--max-bytes)",
                     (long long)st.st_size, o->max_bytes);
        goto out;
    }
    if ((rc = wm_detect_file(in, &type, r)) != FG_OK)
        goto out;
    /* Never a seed from the content: a buyer sees the file's hash, and a
     * placement he can reproduce is a mark he can invert. The callers that
     * want a reproducible placement (the worker, the CLI with
     * FILIGRANE_MARK_KEY) pass a keyed seed. */
    if (!o->has_seed && (rc = wm_random_seed(&seed, r)) != FG_OK)
        goto out;
    rc = dispatch(&type, in, out, o, seed, r);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}
