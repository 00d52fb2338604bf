/* The watermark engine: type detection and stamped previews.
 *
 * It knows nothing of HTTP or storage: paths or buffers in, a preview and a
 * result code with its reason out. The worker never calls the decoding half
 * of this API in its own address space; it goes through the sandbox
 * (watermark/sandbox.h), which runs `filigrane stamp` in a child. */
#ifndef WM_H
#define WM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/result.h"

/* ---- detection (libmagic only: safe to link into the worker) ---- */

typedef enum wm_kind {
    WM_KIND_IMAGE,
    WM_KIND_PDF,
    WM_KIND_ARCHIVE,
    WM_KIND_VIDEO,    /* MP4, MOV, WebM, MKV, AVI */
    WM_KIND_AUDIO,    /* MP3, WAV, FLAC, Ogg/Opus, M4A/AAC */
    WM_KIND_DOCUMENT, /* office documents, converted to PDF first */
    WM_KIND_TEXT,     /* plain text and source code, rendered to pages */
    WM_KIND_OTHER,
} wm_kind;

#define WM_MIME_MAX 128
typedef struct wm_type {
    char mime[WM_MIME_MAX]; /* "image/png", "application/pdf", ... */
    wm_kind kind;
} wm_type;

/* Detects the type of a file from its content (never its name).
 * Returns FG_EIO if the file cannot be opened; an unknown type is FG_OK
 * with kind WM_KIND_OTHER. Thread-safe: each call uses its own magic
 * handle. */
FG_MUST_CHECK fg_result wm_detect_file(const char *path, wm_type *out /* out */,
                                       fg_reason *r);
FG_MUST_CHECK fg_result wm_detect_buffer(const void *buf, size_t len,
                                         wm_type *out /* out */, fg_reason *r);

/* "image", "pdf", "archive", "video", "audio", "document", "text" or
 * "other". This function can't fail. */
const char *wm_kind_name(wm_kind kind);

/* ---- templates (pure C: safe everywhere) ---- */

#define WM_DEFAULT_TEMPLATE "PREVIEW \xc2\xb7 {order}"

typedef struct wm_var {
    const char *name;  /* borrowed */
    const char *value; /* borrowed */
} wm_var;

/* Expands {name} placeholders of tmpl from vars. A placeholder with no
 * value expands to nothing, and the separators left dangling around it
 * (" · " and spaces) are trimmed, so "PREVIEW · {order}" with no order is
 * "PREVIEW". "{{" and "}}" are literal braces. The result is cut to
 * FG_MAX_MARK_TEXT bytes at a UTF-8 boundary. Returns a heap string the
 * caller frees, or NULL when out of memory. Plain text: markup escaping is
 * the renderer's job. */
char *wm_template_expand(const char *tmpl, const wm_var *vars, int nvars);

/* ---- stamping (libvips: only in the CLI and the sandbox child) ---- */

typedef struct wm_options {
    const char *text_template;             /* NULL: WM_DEFAULT_TEMPLATE */
    wm_var vars[FG_MAX_TEMPLATE_VARS];     /* borrowed strings */
    int nvars;
    int max_edge;                          /* 0 keeps the original size */
    double opacity;                        /* 0 < opacity <= 1 */
    bool has_seed;                         /* false: a fresh random seed */
    uint64_t seed;
    int jpeg_quality;                      /* 1..100 */
    long long max_pixels;                  /* width x height x frames */
    long long max_bytes;
    int max_frames;
    int pdf_dpi;                           /* PDF page render resolution */
    int max_pages;                         /* PDF pages previewed */
    bool max_pages_given;                  /* --max-pages on the command line */
    /* Pages of a text, code or office preview (an excerpt), capped by
     * max_pages; --max-pages given replaces it. */
    int excerpt_pages;
    int text_max_line;                     /* bytes laid out as one paragraph */
    int max_seconds;                       /* video and audio previewed */
    int audio_mark_interval;               /* seconds between two chimes */
    long long audio_max_rate;              /* sample rate x channels */
    /* The file's commitment salt (--salt, common/commit.h): an archive's
     * manifest then shows each entry's commitment instead of its sha256;
     * without it, withheld entries show no hash at all. */
    bool has_salt;
    unsigned char salt[32];
    /* The traceable mark (watermark/trace.h): its payload (--trace-payload,
     * 16 hex digits) and its pattern key (FILIGRANE_TRACE_PATTERN, 64 hex
     * digits); a preview carries it only when both are set. */
    bool has_trace;
    uint64_t trace_payload;
    bool has_trace_key;
    unsigned char trace_key[32];
} wm_options;

/* Fills o with the defaults of common/limits.h, then applies the
 * FILIGRANE_* environment overrides the README documents. Returns
 * FG_EUSAGE with a reason if an override is malformed. */
FG_MUST_CHECK fg_result wm_options_init(wm_options *o /* out */, fg_reason *r);

/* Starts libvips for this process: untrusted loaders blocked, operation
 * cache off (a long-running process must not hold decoded images).
 * allow_untrusted is true only in the sandbox child. */
FG_MUST_CHECK fg_result wm_init(const char *argv0, bool allow_untrusted,
                                fg_reason *r);
void wm_shutdown(void);

/* Writes a watermarked preview of the file at in to the file at out.
 * The output format follows out's extension (.jpg .jpeg .png .webp .gif
 * .pdf .zip); with no known extension it is chosen from the content:
 * JPEG, PNG where there is alpha, GIF for an animation, PDF for a PDF, ZIP
 * for an archive, MP4 for a video (whatever out's extension), with its
 * poster frame beside it at out ".poster" (JPEG). Returns FG_EUNSUPPORTED (a type that is withheld),
 * FG_ECORRUPT (unreadable), FG_ELIMIT (over a limit), FG_EIO (cannot write)
 * with a reason. On failure no file is left at out (nor at out ".poster"). */
FG_MUST_CHECK fg_result wm_stamp_file(const char *in, const char *out,
                                      const wm_options *o, fg_reason *r);

#endif
