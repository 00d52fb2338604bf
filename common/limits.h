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

/* ---- storage (storage/) ---- */

/* Longest order, seller and buyer id, in bytes. Ids come from the order
 * system (webhooks, token claims); 128 bytes holds a UUID with any prefix a
 * marketplace puts in front of it. */
#define FG_MAX_ID 128

/* Longest buyer display name, in bytes of UTF-8 (a watermark label). */
#define FG_MAX_BUYER_NAME 256

/* Longest labels object of an order (JSON text), in bytes. */
#define FG_MAX_LABELS_JSON 4096

/* Longest original file name stored, in bytes of UTF-8. Most file systems
 * cap a name at 255 bytes; 1024 leaves room for names made elsewhere
 * (archives, phones) without letting a name become a payload. The name is
 * metadata only: it never becomes part of a path. */
#define FG_MAX_FILE_NAME 1024

/* Longest delivery message, in bytes of UTF-8. */
#define FG_MAX_MESSAGE 4096

/* Longest webhook-id header kept for idempotency, in bytes. */
#define FG_MAX_WEBHOOK_ID 256

/* Longest audit actor ("seller:s-7") and action ("file.downloaded"). */
#define FG_MAX_ACTOR (FG_MAX_ID + 16)
#define FG_MAX_ACTION 64

/* Longest audit detail (JSON text), in bytes. It holds ids, a file name,
 * sizes and hashes: a file name escaped as JSON is at most 6x its bytes. */
#define FG_MAX_AUDIT_DETAIL (8 * FG_MAX_FILE_NAME)

/* Longest MIME type stored (matches the engine's WM_MIME_MAX - 1). */
#define FG_MAX_MIME 127

/* Most rows one list call returns (audit pages, files of an order). */
#define FG_MAX_LIST_ROWS 100000

#endif
