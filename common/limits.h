/* Every bound on untrusted input, in one place.
 *
 * Each limit is a named default; where a setting overrides it, the name of
 * the environment variable or CLI option is given beside it and the README
 * documents it. A limit is checked before the memory it guards is
 * allocated, and hitting it is answered with FG_ELIMIT and a reason that
 * names the limit. */
#ifndef FG_LIMITS_H
#define FG_LIMITS_H

/* ---- images (watermark/) ---- */

/* Largest input, width x height x frames, checked from the header before any
 * pixel is decoded. 100 MP covers a 12000x8000 medium-format photo; larger
 * is almost always a decompression bomb. (--max-pixels,
 * FILIGRANE_MAX_PIXELS) */
#define FG_MAX_INPUT_PIXELS_DEFAULT (100LL * 1000 * 1000)

/* Largest input file the engine opens. Fiverr takes 5 GB per delivered file,
 * but no image or PDF page worth previewing is that big. (--max-bytes,
 * FILIGRANE_MAX_INPUT_BYTES) */
#define FG_MAX_INPUT_BYTES_DEFAULT (512LL * 1024 * 1024)

/* Most frames of an animated image that are decoded and stamped.
 * (--max-frames, FILIGRANE_MAX_FRAMES) */
#define FG_MAX_FRAMES_DEFAULT 200

/* Longest edge of a preview, in pixels; 0 keeps the original size.
 * (--max-edge, FILIGRANE_PREVIEW_EDGE) */
#define FG_PREVIEW_EDGE_DEFAULT 2048

/* Longest watermark text after template expansion, in bytes. A longer text
 * is cut at a UTF-8 boundary: it would be unreadable as a tile anyway. */
#define FG_MAX_MARK_TEXT 256

/* Most --var NAME=VALUE pairs, and longest name, for a template. */
#define FG_MAX_TEMPLATE_VARS 16
#define FG_MAX_VAR_NAME 32

/* ---- PDFs (watermark/pdf.c) ---- */

/* Resolution pages are rendered at: 100 dpi reads well on a screen and
 * keeps a page under a megapixel. (--pdf-dpi, FILIGRANE_PDF_DPI) */
#define FG_PDF_DPI_DEFAULT 100

/* Most pages previewed; a longer document gets these and a last page
 * saying "Preview limited to N of M pages". (--max-pages,
 * FILIGRANE_MAX_PAGES) */
#define FG_MAX_PDF_PAGES_DEFAULT 200

/* Largest page, in points on either side (200 inches): poppler happily
 * renders a 14400 x 14400 inch page into a bomb. Each rendered page must
 * also fit the pixel limit (--max-pixels). */
#define FG_PDF_MAX_PAGE_POINTS 14400.0

/* ---- archives (watermark/archive.c) ---- */

/* Most entries in one archive, directories and links included.
 * (FILIGRANE_ARCHIVE_MAX_ENTRIES) */
#define FG_ARCHIVE_MAX_ENTRIES_DEFAULT 10000

/* Most bytes unpacked from one archive, every entry together: each entry
 * is read once, to hash it for the manifest. (FILIGRANE_ARCHIVE_MAX_TOTAL,
 * bytes or with a K, M or G suffix) */
#define FG_ARCHIVE_MAX_TOTAL_DEFAULT (2048LL * 1024 * 1024)

/* Largest entry that is previewed: it is held in memory to be decoded.
 * A bigger one is hashed and listed, and withheld.
 * (FILIGRANE_ARCHIVE_MAX_ENTRY, bytes or with a K, M or G suffix) */
#define FG_ARCHIVE_MAX_ENTRY_DEFAULT (128LL * 1024 * 1024)

/* Most bytes unpacked per compressed byte read. Text and raw images
 * deflate 3-20x; a zip bomb is thousands. Checked on the sizes the headers
 * declare before anything is unpacked, then on the running count while
 * unpacking, once FG_ARCHIVE_RATIO_FLOOR bytes are out (a tiny file of
 * zeros is not a bomb). (FILIGRANE_ARCHIVE_MAX_RATIO) */
#define FG_ARCHIVE_MAX_RATIO_DEFAULT 100
#define FG_ARCHIVE_RATIO_FLOOR (8LL * 1024 * 1024)

/* Longest entry name kept, in bytes; a longer one is cut in the manifest
 * and the preview zip. */
#define FG_ARCHIVE_MAX_NAME 1024

/* ---- the sandbox (watermark/sandbox.c) ---- */

/* Address space of a stamping child (RLIMIT_AS). Address space, not
 * resident memory: glibc reserves a 64 MB heap per thread arena and 8 MB
 * of stack per thread, so a libvips child with a handful of threads maps
 * several hundred MB before it decodes a pixel. 2 GiB leaves room for a
 * 100 MP image decoded sequentially. (FILIGRANE_SANDBOX_MEMORY, bytes or
 * with a K, M or G suffix) */
#define FG_SANDBOX_MEMORY_DEFAULT (2048LL * 1024 * 1024)

/* CPU seconds of a stamping child, all its threads together (RLIMIT_CPU).
 * Twice the wall-clock limit: libvips keeps two cores busy.
 * (FILIGRANE_SANDBOX_CPU) */
#define FG_SANDBOX_CPU_DEFAULT 240

/* Wall-clock seconds before a stamping child is killed, whatever it is
 * doing: a 500-page PDF or a zip of a few hundred photos fits.
 * (FILIGRANE_STAMP_TIMEOUT) */
#define FG_STAMP_TIMEOUT_DEFAULT 120

/* Largest file a stamping child may write (RLIMIT_FSIZE): the preview.
 * (FILIGRANE_SANDBOX_FILE_SIZE, bytes or with a K, M or G suffix) */
#define FG_SANDBOX_FILE_SIZE_DEFAULT (1024LL * 1024 * 1024)

/* Open files of a stamping child (RLIMIT_NOFILE): libvips, fontconfig and
 * a PDF's fonts need a few dozen. (FILIGRANE_SANDBOX_FILES) */
#define FG_SANDBOX_OPEN_FILES_DEFAULT 256

/* Most extra stamp options passed to a sandboxed child. */
#define FG_SANDBOX_MAX_ARGS 64

#endif
