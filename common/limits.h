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
#define FG_MAX_WEBHOOK_ID FG_MAX_ID

/* Longest audit actor ("seller:s-7") and action ("file.downloaded"). */
#define FG_MAX_ACTOR (FG_MAX_ID + 16)
#define FG_MAX_ACTION 64

/* Longest audit detail (JSON text), in bytes. It holds ids, a file name,
 * sizes and hashes, or a delivery's message: text escaped as JSON is at
 * most 6x its bytes. */
#define FG_MAX_AUDIT_DETAIL (8 * FG_MAX_FILE_NAME + 6 * FG_MAX_MESSAGE)

/* Longest MIME type stored (matches the engine's WM_MIME_MAX - 1). */
#define FG_MAX_MIME 127

/* Most rows one list call returns (audit pages, files of an order). */
#define FG_MAX_LIST_ROWS 100000

/* GET /v1/orders/{order}/audit answers in pages (?after=<seq>&limit=<n>):
 * this many entries by default, at most FG_AUDIT_PAGE_MAX, so one request
 * holds a bounded amount of memory however long the trail (6,550 entries
 * in one answer were 4.4 MB and grew the worker by 70 MB). */
#define FG_AUDIT_PAGE_DEFAULT 500
#define FG_AUDIT_PAGE_MAX 5000

/* ---- worker auth and uploads (fcgi/) ---- */

/* Longest bearer token accepted, checked before it is decoded. Our claims
 * fit in a few hundred bytes; 4 KiB leaves room for an order system that
 * adds its own claims without letting a header-sized blob reach the JSON
 * parser. */
#define FG_JWT_MAX_TOKEN_BYTES 4096

/* Longest `sub` (user id) and `ord` (order id) claim, in bytes. They are
 * compared with path segments and written to the audit trail. */
#define FG_JWT_MAX_ID_BYTES FG_MAX_ID

/* Shortest FILIGRANE_JWT_SECRET accepted: HS256 keys should carry at
 * least the hash's 256 bits (RFC 7518 section 3.2). */
#define FG_JWT_MIN_SECRET_BYTES 32

/* Clock skew tolerated between the order system that mints tokens and this
 * worker, on `exp`, `nbf` and `iat`, in seconds. */
#define FG_JWT_CLOCK_SKEW_SECONDS 30

/* Longest lifetime `filigrane token` mints (--ttl), and the default of
 * FILIGRANE_JWT_MAX_TTL, the longest lifetime (exp - iat) a token may
 * have to be accepted, in seconds: 30 days. */
#define FG_JWT_MAX_TTL_SECONDS (30LL * 24 * 3600)

/* The largest FILIGRANE_JWT_MAX_TTL an operator may set: one year. */
#define FG_JWT_MAX_TTL_LIMIT (365LL * 24 * 3600)

/* A secret (FILIGRANE_JWT_SECRET, the key of FILIGRANE_WEBHOOK_SECRET)
 * with fewer distinct byte values than this, or this many equal bytes in
 * a row, is refused as weak (fcgi_secret_weak). */
#define FG_SECRET_MIN_DISTINCT 8
#define FG_SECRET_MAX_RUN 8

/* Standard Webhooks: a timestamp further than this from our clock, either
 * way, is refused, so a captured request cannot be replayed later. */
#define FG_WEBHOOK_TOLERANCE_SECONDS (5 * 60)

/* Longest webhook-id (an id: common/id.h; it is stored as the replay key)
 * and longest webhook-signature header (several "v1,<base64>" entries
 * during a key rotation). */
#define FG_WEBHOOK_MAX_ID_BYTES FG_MAX_ID
#define FG_WEBHOOK_MAX_SIG_HEADER_BYTES 2048

/* Standard Webhooks secrets are 24 to 64 random bytes (after base64). */
#define FG_WEBHOOK_MIN_KEY_BYTES 24
#define FG_WEBHOOK_MAX_KEY_BYTES 64

/* Largest delivered file. Fiverr takes 5 GB per file; we start at 2 GiB.
 * (FILIGRANE_MAX_FILE_BYTES) */
#define FG_UPLOAD_MAX_FILE_BYTES_DEFAULT (2LL * 1024 * 1024 * 1024)

/* Most files in one delivery. (FILIGRANE_MAX_FILES) */
#define FG_UPLOAD_MAX_FILES_DEFAULT 50

/* Largest delivery, all parts and multipart framing together. nginx's
 * client_max_body_size must be at least this. (FILIGRANE_MAX_DELIVERY_BYTES) */
#define FG_UPLOAD_MAX_DELIVERY_BYTES_DEFAULT (4LL * 1024 * 1024 * 1024)

/* Largest header block of one multipart part (Content-Disposition,
 * Content-Type, ...). Browsers send well under 1 KiB. */
#define FG_UPLOAD_MAX_PART_HEADER_BYTES 8192

/* Most parts in one multipart body, files and fields together. */
#define FG_UPLOAD_MAX_PARTS_DEFAULT 64

/* Largest form field without a filename (the delivery `message`), kept in
 * memory. */
#define FG_UPLOAD_MAX_FIELD_BYTES_DEFAULT (64 * 1024)

/* Longest filename and field name taken from a part, in bytes after
 * decoding. Longer names are refused, not cut: a cut name could collide. */
#define FG_UPLOAD_MAX_NAME_BYTES 255

/* Longest multipart boundary (RFC 2046 says 70). */
#define FG_UPLOAD_MAX_BOUNDARY_BYTES 70

/* The read buffer uploads stream through: memory per upload is this, not
 * the size of the upload. */
#define FG_UPLOAD_BUFFER_BYTES (64 * 1024)

/* The watermark on the worker's previews: a template of watermark/wm.h
 * filled with the order's id, the buyer's name and the date.
 * (FILIGRANE_MARK_TEXT) */
#define FCGI_MARK_TEMPLATE_DEFAULT "PREVIEW \xc2\xb7 {buyer} \xc2\xb7 {order}"

/* Request threads in the worker, each in FCGX_Accept_r.
 * (FILIGRANE_THREADS) */
#define FG_WORKER_THREADS_DEFAULT 4
#define FG_WORKER_THREADS_MAX 256

/* Longest FILIGRANE_SOCKET: a unix socket path must fit
 * sockaddr_un.sun_path (108 bytes with its NUL). */
#define FG_WORKER_SOCKET_PATH_MAX 107

/* Longest filename put in a Content-Disposition header, in bytes of the
 * stored name; a longer one is cut at a UTF-8 boundary. */
#define FG_DISPOSITION_MAX_NAME_BYTES 255

/* ---- PDFs (watermark/pdf.c) ---- */

/* Resolution pages are rendered at: 100 dpi reads well on a screen and
 * keeps a page under a megapixel. (--pdf-dpi, FILIGRANE_PDF_DPI) */
#define FG_PDF_DPI_DEFAULT 100

/* Most pages previewed; a longer document gets these and a last page
 * saying "Preview limited to N of M pages". (--max-pages,
 * FILIGRANE_MAX_PAGES) */
#define FG_MAX_PDF_PAGES_DEFAULT 200

/* The most pages an order's preview_pages may ask for, and the range of
 * --max-pages and FILIGRANE_EXCERPT_PAGES. */
#define FG_MAX_PREVIEW_PAGES 100000

/* Pages a text, source code or office preview shows by default: a
 * watermark does not stop anyone reading, so these are excerpts, ending
 * with a page that says how many are held back. (FILIGRANE_EXCERPT_PAGES;
 * an order's preview_pages overrides it) */
#define FG_EXCERPT_PAGES_DEFAULT 3

/* ---- text and source code (watermark/text.c) ---- */

/* Bytes of one line laid out as one paragraph: a longer line (a minified
 * file, a 100 MB line) is broken there and goes on, so Pango never lays
 * out more than this at once. (FILIGRANE_TEXT_MAX_LINE) */
#define FG_TEXT_MAX_LINE_DEFAULT 16384

/* Longest stretch of a video or an audio file previewed, in seconds; a
 * longer one is previewed up to this and the preview says so.
 * (--max-seconds, FILIGRANE_PREVIEW_MAX_SECONDS) */
#define FG_PREVIEW_MAX_SECONDS_DEFAULT 600

/* ---- video (watermark/video.c) ---- */

/* The preview's frame fits a 1280 x 720 box (720 x 1280 upright): 720p,
 * enough to judge an edit, too small to be the delivery. */
#define FG_VIDEO_BOX_LONG 1280
#define FG_VIDEO_BOX_SHORT 720

/* A stream claiming more frames a second than this is refused before
 * decoding (high-speed cameras record up to 960); one that has more than
 * FG_VIDEO_OUT_FPS is previewed at FG_VIDEO_OUT_FPS, frames dropped. */
#define FG_VIDEO_MAX_FPS 1000
#define FG_VIDEO_OUT_FPS 60

/* H.264 by libx264: the veryfast preset at CRF 23 (x264's default
 * quality) with the bitrate held to 4 Mb/s (VBV, 8 Mb buffer): at 720p a
 * good-looking preview of a few MB a minute, and 3x faster than the
 * medium preset. AAC at 128 kb/s stereo (64 kb/s mono). */
#define FG_VIDEO_PRESET "veryfast"
#define FG_VIDEO_CRF "23"
#define FG_VIDEO_MAXRATE 4000000
#define FG_VIDEO_BUFSIZE 8000000
#define FG_VIDEO_AUDIO_BITRATE 128000

/* Damaged packets tolerated before the file is refused as corrupt: a
 * camera file may have a glitch; a crafted one has many. */
#define FG_VIDEO_MAX_DECODE_ERRORS 8

/* A preview cut at --max-seconds says so in its last seconds. */
#define FG_VIDEO_NOTICE_SECONDS 3.0

/* The poster frame: this far into the previewed stretch. */
#define FG_VIDEO_POSTER_AT 0.1

/* ---- audio (watermark/audio.c) ---- */

/* Seconds between two chimes of the audio mark; the first one falls at a
 * keyed offset within the first seconds. 15 s leaves no usable stretch of
 * a song free of it. (--audio-mark-interval, FILIGRANE_AUDIO_MARK_INTERVAL) */
#define FG_AUDIO_MARK_INTERVAL_DEFAULT 15

/* Most samples per second of input, every channel counted (sample rate x
 * channels), checked from the header and again on every decoded frame:
 * the work of decoding and resampling one second grows with it, and an
 * hour at 384 kHz on 8 channels is 11 billion samples. 768000 admits
 * 96 kHz 8-channel, 192 kHz 4-channel and 384 kHz stereo masters.
 * (--audio-max-rate, FILIGRANE_AUDIO_MAX_RATE) */
#define FG_AUDIO_MAX_RATE_DEFAULT 768000

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

/* Video's own limits (wm_sandbox_limits_init_kind "video"): a 10-minute
 * clip is 15,000 frames to decode, scale, mark and encode. Measured on 2
 * shared cores: 30 s of 1080p to 720p H.264 (veryfast) takes 9.8 s wall
 * and 8.8 s CPU with ffmpeg alone, so 10 minutes about 200 s and 180 s,
 * and the mark adds a little: 540 s of wall time is 2.5x that, and stays
 * under the default job lease (600 s, FILIGRANE_JOB_LEASE). CPU is all
 * threads together: the encoder keeps two cores busy.
 * (FILIGRANE_SANDBOX_VIDEO_TIMEOUT, FILIGRANE_SANDBOX_VIDEO_CPU; the
 * address space is FILIGRANE_SANDBOX_VIDEO_MEMORY, default the general
 * one) */
#define FG_SANDBOX_VIDEO_TIMEOUT_DEFAULT 540
#define FG_SANDBOX_VIDEO_CPU_DEFAULT 1080

/* Largest file a stamping child may write (RLIMIT_FSIZE): the preview.
 * (FILIGRANE_SANDBOX_FILE_SIZE, bytes or with a K, M or G suffix) */
#define FG_SANDBOX_FILE_SIZE_DEFAULT (1024LL * 1024 * 1024)

/* Open files of a stamping child (RLIMIT_NOFILE): libvips, fontconfig and
 * a PDF's fonts need a few dozen. (FILIGRANE_SANDBOX_FILES) */
#define FG_SANDBOX_OPEN_FILES_DEFAULT 256

/* Most extra stamp options passed to a sandboxed child. */
#define FG_SANDBOX_MAX_ARGS 64

/* ---- the worker's requests (fcgi/) ---- */

/* Largest order webhook body. The events are a few hundred bytes; the
 * bound keeps a hostile sender from making the worker buffer much. */
#define FG_MAX_WEBHOOK_BODY (64 * 1024)

/* ---- outgoing events (storage/ outbox, fcgi/outbox.c) ---- */

/* Longest event type ("delivery.ready"), a-z 0-9 ._- like audit actions. */
#define FG_MAX_EVENT_TYPE 64

/* Largest event body kept in the outbox. delivery.ready lists every file
 * of a delivery with its name (up to FG_MAX_FILE_NAME): 16 MiB holds
 * thousands of them; a larger event is refused, not cut. */
#define FG_MAX_EVENT_PAYLOAD (16 * 1024 * 1024)

/* Longest FILIGRANE_EVENTS_URL. */
#define FG_MAX_EVENTS_URL 2048

/* The sender's HTTP timeouts: connecting, and the whole request. */
#define FG_EVENTS_CONNECT_TIMEOUT_S 5
#define FG_EVENTS_TIMEOUT_S 15

/* How long a sender holds an event it claimed (store_outbox_claim): twice
 * a whole try, so a live sender's claim never runs out during its try,
 * and an event claimed by a sender that died is tried again half a minute
 * later by any node. */
#define FG_OUTBOX_LEASE_S (2 * FG_EVENTS_TIMEOUT_S)

/* Largest FILIGRANE_EVENTS_RETRY_SCALE (a test-only divisor of the retry
 * schedule). */
#define FG_EVENTS_RETRY_SCALE_MAX 1000000

/* Idempotency-Key (DESIGN, Settled details): a key is kept 24 h
 * (FILIGRANE_IDEMPOTENCY_TTL, at most a week), after which the same key is
 * a new key. A first request still in flight holds its key for at most
 * FG_IDEM_LEASE_SECONDS: longer than nginx lets a request live (its
 * fastcgi_read_timeout), so only a request that died (a worker crash)
 * loses its claim to a retry. */
#define FG_IDEM_TTL_SECONDS (24LL * 3600)
/* The key itself: at most this many bytes (visible ASCII but '"' and
 * '\\', storage/idempotency.h); UUIDs and ULIDs fit many times over. */
#define FG_MAX_IDEMPOTENCY_KEY 255
#define FG_IDEM_TTL_LIMIT (7LL * 86400)
#define FG_IDEM_LEASE_SECONDS 900

/* tus uploads (fcgi/h_tus.c). An upload untouched for
 * FILIGRANE_UPLOAD_EXPIRY (default 24 h, 1 s to 30 d) expires: answered
 * 410, then removed with its bytes. Chunks are read and written through a
 * buffer of FG_TUS_BUFFER_BYTES whatever their size. An order holds at
 * most FILIGRANE_MAX_FILES uploads at once (a delivery could not take
 * more), so a seller cannot fill the disk with abandoned starts. */
#define FG_UPLOAD_EXPIRY_SECONDS (24LL * 3600)
#define FG_UPLOAD_EXPIRY_LIMIT (30LL * 86400)
#define FG_TUS_BUFFER_BYTES (256 * 1024)
/* A tus data file with no row is a crash's leftover once this old (s). */
#define FG_TUS_ORPHAN_GRACE 3600
/* The JSON body that turns uploads into a delivery: ids and a message. */
#define FG_MAX_TUS_FINISH_BODY (64 * 1024)

/* Scoped links (fcgi/h_links.c). A link lives at most FILIGRANE_LINK_MAX_TTL
 * (default 7 days, 1 s to 1 year): a link is a bearer credential that may
 * end up in a mail or a chat, so its life is short by default; it may be
 * used 1..FG_LINK_MAX_USES times (a use counts as a download does). The
 * minting body is small JSON. */
#define FG_LINK_MAX_TTL_SECONDS (7LL * 86400)
#define FG_LINK_MAX_TTL_LIMIT (365LL * 86400)
#define FG_LINK_MAX_USES 10000
#define FG_MAX_LINK_BODY 1024
/* order.created's max_downloads: 1 .. this many downloads of each file by
 * its buyer. */
#define FG_MAX_DOWNLOADS_LIMIT 1000000
/* GET /v1/admin/events: rows per page (default 100). */
#define FG_ADMIN_EVENTS_PAGE 100
#define FG_ADMIN_EVENTS_PAGE_MAX 1000

#endif
