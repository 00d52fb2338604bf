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

#endif
