/* The metadata store: orders, deliveries, files, processed webhook ids,
 * the outbox of outgoing events and the audit trail (storage/audit.h),
 * behind one interface.
 *
 * Backends sit behind an ops table (storage/meta_impl.h), as curl's vtls:
 * SQLite today (storage/meta_sqlite.c), PostgreSQL later; the worker and
 * the CLI only ever see this header.
 *
 * Threads: a store_meta handle is NOT thread-safe. Each worker thread opens
 * its own handle on the same database and keeps it for its life; handles
 * in several threads and processes share the database safely (SQLite WAL:
 * readers never block the one writer, writers queue on busy_timeout).
 *
 * Strings: every struct below holds its strings in fixed arrays sized from
 * common/limits.h, so a struct filled by a get is the caller's outright
 * (nothing to free). Lists are heap arrays freed by their _release.
 * Inputs longer than their limit are refused with FG_ELIMIT, never cut.
 *
 * Times are RFC 3339 UTC with milliseconds, "2026-11-22T10:00:00.000Z"
 * (store_time_now); every `at`/`created_at` argument may be NULL (or "")
 * for now, and also accepts "2026-11-22T10:00:00Z", stored with ".000".
 * Any other form is FG_EUSAGE: convert offsets to UTC first.
 *
 * Errors: FG_ENOTFOUND for an unknown order/file/delivery, FG_ESTATE for a
 * conflicting record or a refused state change, FG_ELIMIT for an over-long
 * input, FG_EUSAGE for a malformed one (bad id, bad state name, misuse of
 * transactions), FG_EIO when the database fails us (the reason says what,
 * never the path), FG_ECORRUPT when a stored row holds a value this
 * interface could not have written (the file was altered by hand). */
#ifndef STORE_META_H
#define STORE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/result.h"

typedef struct store_meta store_meta;

/* "2026-11-22T10:00:00.000Z" plus its NUL. */
#define STORE_TIME_MAX 25
/* A SHA-256 in lowercase hex plus its NUL. */
#define STORE_HEX_MAX 65
/* A file id: 128 random bits in lowercase hex (32 chars) plus its NUL. */
#define STORE_FILE_ID_LEN 32
#define STORE_FILE_ID_MAX (STORE_FILE_ID_LEN + 1)
/* Longest state / preview / kind name plus its NUL. */
#define STORE_WORD_MAX 16

/* Writes the current UTC time as RFC 3339 with milliseconds into out.
 * This function can't fail. */
void store_time_now(char out[STORE_TIME_MAX] /* out */);

/* ---- opening ---- */

/* Opens (creating if needed) the SQLite database at path and brings its
 * schema up to date (storage/schema_sqlite.c: the pending steps and the
 * schema_version check run in one BEGIN IMMEDIATE transaction, so two
 * processes opening a fresh database at once apply each step once).
 * Settings: journal_mode=WAL, foreign_keys=ON, busy_timeout (5 s),
 * synchronous=FULL: a webhook is answered 200 only after its commit, and
 * the order system will not send it again, so a commit must survive a
 * power cut too (NORMAL in WAL mode may lose the last commits then).
 * Fails with FG_EIO (cannot open, not a database, locked past the busy
 * timeout) or FG_ECORRUPT (schema newer than this program). On success
 * *out is the caller's, freed with store_meta_free; on failure *out is
 * NULL. */
FG_MUST_CHECK fg_result store_meta_open_sqlite(const char *path,
                                               store_meta **out /* out */,
                                               fg_reason *r);

/* Opens the store the settings name: with database_url set (not NULL, not
 * ""), the PostgreSQL database there (postgres:// or postgresql://, libpq's
 * URI syntax: storage/pg_conn.h), its schema brought up to date; otherwise
 * SQLite at data_dir/filigrane.db, as store_meta_open_sqlite. Every
 * program opens its store through this (the worker, its runners and the
 * CLI), so both engines are reached the same way. FG_EUSAGE for another
 * URL scheme; FG_EIO "cannot connect to PostgreSQL at
 * postgres://user:***@host:port/db: <reason>" when the server cannot be
 * reached (the password never appears in a reason); otherwise as
 * store_meta_open_sqlite. On success *out is the caller's
 * (store_meta_free); on failure *out is NULL. */
FG_MUST_CHECK fg_result store_meta_open_url(const char *database_url,
                                            const char *data_dir,
                                            store_meta **out /* out */,
                                            fg_reason *r);

/* Opens the store at db: a postgres:// or postgresql:// URL (PostgreSQL,
 * as store_meta_open_url), or else the path of a SQLite file (as
 * store_meta_open_sqlite). For the parts of a program that open one
 * handle per thread on the store the program was started with (request
 * threads, job runners, the event sender, the collector): they are handed
 * one string, whichever engine it names. Errors and ownership as
 * store_meta_open_url. */
FG_MUST_CHECK fg_result store_meta_open_db(const char *db,
                                           store_meta **out /* out */,
                                           fg_reason *r);

/* Closes the handle; an open transaction is rolled back. Accepts NULL. */
void store_meta_free(store_meta *m);

/* The schema version the database is at (the highest applied step).
 * Fails with FG_EIO only. */
FG_MUST_CHECK fg_result store_meta_schema_version(store_meta *m,
                                                  int *version /* out */,
                                                  fg_reason *r);

/* ---- transactions ----
 *
 * Every call below outside a transaction is atomic on its own. Group
 * calls that must commit together (webhook id + state change + audit
 * row) between store_meta_begin and store_meta_commit. Transactions do not
 * nest: a begin inside one fails with FG_EUSAGE. */

/* Starts a write transaction (BEGIN IMMEDIATE: takes the write lock now,
 * so no later statement in it can fail with "busy" halfway; waits up to
 * busy_timeout for another writer). FG_EIO if the lock is not had. */
FG_MUST_CHECK fg_result store_meta_begin(store_meta *m, fg_reason *r);

/* Starts a read transaction: one consistent snapshot for several reads
 * (an order with its deliveries and files). Writes inside it fail with
 * FG_EUSAGE. */
FG_MUST_CHECK fg_result store_meta_begin_read(store_meta *m, fg_reason *r);

/* Commits. On failure the transaction is rolled back and FG_EIO returned;
 * either way the handle is out of the transaction afterwards. */
FG_MUST_CHECK fg_result store_meta_commit(store_meta *m, fg_reason *r);

/* Rolls back the open transaction, if any. Safe to call when none is open
 * (so an error path can always call it). This function can't fail. */
void store_meta_rollback(store_meta *m);

/* True while a transaction begun with store_meta_begin* is open. */
bool store_meta_in_tx(const store_meta *m);

/* ---- orders ---- */

/* Order states. The storage knows the names (and refuses others); which
 * transitions are allowed is the worker's business rule, passed in as
 * allowed_from. */
#define STORE_STATE_OPEN "open"
#define STORE_STATE_DISPUTED "disputed"
#define STORE_STATE_ACCEPTED "accepted"
#define STORE_STATE_CANCELLED "cancelled"

typedef struct store_order {
    char id[FG_MAX_ID + 1];
    char state[STORE_WORD_MAX];   /* one of STORE_STATE_* */
    char seller_id[FG_MAX_ID + 1];
    char buyer_id[FG_MAX_ID + 1];
    char buyer_name[FG_MAX_BUYER_NAME + 1]; /* "" when none was given */
    char labels[FG_MAX_LABELS_JSON + 1];    /* JSON text, "{}" when none */
    char created_at[STORE_TIME_MAX];
    char released_at[STORE_TIME_MAX]; /* "" until accepted */
    /* Pages of a paged document's preview that order.created asked for
     * (preview_pages); 0 when it did not ask: the kind's default. */
    int preview_pages;
} store_order;

/* Creates order id in state "open". buyer_name and labels_json may be
 * NULL ("" and "{}"); labels_json is stored as given (the caller has
 * produced it with a JSON library). Creating an order that exists with the
 * same seller and buyer is a success that changes nothing (*created false),
 * so a replayed order.created is harmless; with different parties it is
 * FG_ESTATE. Ids (order, seller, buyer) must be 1..FG_MAX_ID bytes of
 * A-Z a-z 0-9 and "-._~:@+" (they appear in URL paths and audit actors):
 * FG_EUSAGE otherwise, FG_ELIMIT when too long. created may be NULL. */
/* Sets the pages a preview of a paged document (text, code, office
 * documents, PDFs) of order id shows: 1..FG_MAX_PREVIEW_PAGES, or 0 for
 * the kind's default. FG_EUSAGE when out of range, FG_ENOTFOUND when there
 * is no such order. Previews made later follow it; made ones stay. */
FG_MUST_CHECK fg_result store_order_set_preview_pages(store_meta *m, const char *id, int pages,
                                                      fg_reason *r);

FG_MUST_CHECK fg_result store_order_create(store_meta *m, const char *id,
                                           const char *seller_id,
                                           const char *buyer_id,
                                           const char *buyer_name,
                                           const char *labels_json,
                                           const char *created_at,
                                           bool *created /* out */,
                                           fg_reason *r);

/* Fills *out with order id. FG_ENOTFOUND if there is none (also for an id
 * that could not be one). */
FG_MUST_CHECK fg_result store_order_get(store_meta *m, const char *id,
                                        store_order *out /* out */,
                                        fg_reason *r);

/* Moves order id to state `to` if, and only if, its current state is one of
 * allowed_from (a NULL-terminated list of state names), in one atomic
 * statement: two racing webhooks cannot both succeed from the same state.
 * Moving to "accepted" sets released_at to `at` (NULL: now). If prev is
 * not NULL it receives the state the order was in (also on FG_ESTATE, so
 * the caller can tell "already accepted" from "cancelled").
 * FG_ENOTFOUND: no such order; FG_ESTATE: current state not allowed;
 * FG_EUSAGE: `to` or an allowed_from entry is not a state name. */
FG_MUST_CHECK fg_result store_order_set_state(store_meta *m, const char *id,
                                              const char *to,
                                              const char *const *allowed_from,
                                              const char *at,
                                              char prev[STORE_WORD_MAX] /* out */,
                                              fg_reason *r);

/* ---- deliveries ---- */

typedef struct store_delivery {
    char order_id[FG_MAX_ID + 1];
    int number; /* 1, 2, ... per order */
    char message[FG_MAX_MESSAGE + 1]; /* "" when none */
    char created_at[STORE_TIME_MAX];
} store_delivery;

typedef struct store_delivery_list {
    store_delivery *items; /* heap, owned by the list */
    size_t n;
} store_delivery_list;

/* Creates the next delivery of order_id: number 1 for the first, then 2,
 * 3, ... (computed and inserted in one statement, so two uploads racing
 * get distinct numbers). message may be NULL. FG_ENOTFOUND if the order
 * does not exist; the caller checks the order's state (in the same
 * transaction if it must be exact). */
FG_MUST_CHECK fg_result store_delivery_create(store_meta *m,
                                              const char *order_id,
                                              const char *message,
                                              const char *created_at,
                                              int *number /* out */,
                                              fg_reason *r);

/* Fills *out with delivery `number` of order_id; FG_ENOTFOUND if none. */
FG_MUST_CHECK fg_result store_delivery_get(store_meta *m, const char *order_id,
                                           int number,
                                           store_delivery *out /* out */,
                                           fg_reason *r);

/* Lists the deliveries of order_id by number (an unknown order gives an
 * empty list). On success the caller owns *out (store_delivery_list_release);
 * on failure *out is empty. */
FG_MUST_CHECK fg_result store_delivery_list_get(store_meta *m,
                                                const char *order_id,
                                                store_delivery_list *out /* out */,
                                                fg_reason *r);

/* Frees the items and empties the list. Accepts NULL and empty lists. */
void store_delivery_list_release(store_delivery_list *l);

/* ---- files ---- */

/* Preview states and kinds, as in DESIGN. */
#define STORE_PREVIEW_PROCESSING "processing"
#define STORE_PREVIEW_READY "ready"
#define STORE_PREVIEW_WITHHELD "withheld"
#define STORE_PREVIEW_FAILED "failed"

typedef struct store_file {
    char id[STORE_FILE_ID_MAX]; /* 32 lowercase hex */
    char order_id[FG_MAX_ID + 1];
    int delivery;                      /* the delivery's number */
    char name[FG_MAX_FILE_NAME + 1];   /* original name, metadata only */
    int64_t size;                      /* bytes */
    char sha256[STORE_HEX_MAX];        /* of the original (its blob) */
    char salt[STORE_HEX_MAX];          /* 32 random bytes as hex; "" for
                                          files stored without one */
    char commitment[STORE_HEX_MAX];    /* SHA-256(salt || content), hex;
                                          "" exactly when salt is */
    char mime[FG_MAX_MIME + 1];        /* detected from content */
    char kind[STORE_WORD_MAX];         /* image|pdf|archive|other */
    char preview[STORE_WORD_MAX];      /* STORE_PREVIEW_* */
    char reason[FG_REASON_MAX];        /* "" unless failed/withheld */
    char preview_sha256[STORE_HEX_MAX]; /* "" until ready */
    char preview_mime[FG_MAX_MIME + 1]; /* "" until ready */
    char poster_sha256[STORE_HEX_MAX];  /* the preview's companion image
                                           (a video's poster frame, an audio
                                           file's waveform); "" for none */
    char poster_mime[FG_MAX_MIME + 1];  /* "" exactly when poster_sha256 is */
    char created_at[STORE_TIME_MAX];
    int64_t buyer_views;     /* buyer preview views (store_file_count) */
    int64_t buyer_downloads; /* buyer original downloads */
    char purged_at[STORE_TIME_MAX]; /* "" unless retention purged it
                                       (storage/purge.h): then its blobs
                                       are no longer kept for it */
} store_file;

typedef struct store_file_list {
    store_file *items; /* heap, owned by the list */
    size_t n;
} store_file_list;

/* Generates a file id: 16 bytes of OpenSSL RAND_bytes as 32 lowercase hex.
 * FG_EIO if the generator fails. */
FG_MUST_CHECK fg_result store_file_id_new(char out[STORE_FILE_ID_MAX] /* out */,
                                          fg_reason *r);

/* True if s is a well-formed file id (32 lowercase hex). Can't fail. */
bool store_file_id_valid(const char *s);

/* Adds a file row. Read from *in: id ("" to have one generated), order_id,
 * delivery, name, size, sha256, salt, commitment, mime, kind, preview,
 * reason, preview_sha256, preview_mime, created_at ("" for now); the
 * counters are ignored (start at 0). salt and commitment are both 64
 * lowercase hex, or both "" (a file with no commitment: FG_EUSAGE if only
 * one is given); the store cannot check that one belongs to the other. The delivery must exist (FG_ENOTFOUND otherwise).
 * Every field is checked: name is 1..FG_MAX_FILE_NAME bytes of valid UTF-8
 * (anything else is accepted: escaping it on output is the writer's job),
 * hex fields are 64 lowercase hex, kind and preview come from their sets,
 * size >= 0: FG_EUSAGE, or FG_ELIMIT for a length, otherwise.
 * An id that exists already is FG_ESTATE. id_out (may be NULL) receives
 * the id stored. */
FG_MUST_CHECK fg_result store_file_add(store_meta *m, const store_file *in,
                                       char id_out[STORE_FILE_ID_MAX] /* out */,
                                       fg_reason *r);

/* Sets the preview fields of file id: preview state, reason (NULL or ""
 * for none), preview_sha256 and preview_mime (NULL or "" for none; a
 * "ready" preview must have both). FG_ENOTFOUND if no such file. */
FG_MUST_CHECK fg_result store_file_set_preview(store_meta *m, const char *id,
                                               const char *preview,
                                               const char *reason,
                                               const char *preview_sha256,
                                               const char *preview_mime,
                                               fg_reason *r);

/* Sets the companion image of file id's preview (storage/schema step 10:
 * counted as a blob reference like the preview): poster_sha256 (64
 * lowercase hex) and poster_mime, both given, or both NULL or "" to have
 * none. FG_EUSAGE for a malformed hash or type or only one of the two,
 * FG_ENOTFOUND if no such file. store_file_add always starts without. */
FG_MUST_CHECK fg_result store_file_set_poster(store_meta *m, const char *id,
                                              const char *poster_sha256,
                                              const char *poster_mime, fg_reason *r);

/* Fills *out with file id (its order_id included). FG_ENOTFOUND if none,
 * also for an id that is not well formed (client input). */
FG_MUST_CHECK fg_result store_file_get(store_meta *m, const char *id,
                                       store_file *out /* out */,
                                       fg_reason *r);

/* Lists the files of one delivery, or of every delivery of an order, in
 * upload order (delivery number first for the order list). Unknown order
 * or delivery: an empty list. The caller owns *out on success
 * (store_file_list_release); on failure *out is empty. */
FG_MUST_CHECK fg_result store_file_list_delivery(store_meta *m,
                                                 const char *order_id,
                                                 int delivery,
                                                 store_file_list *out /* out */,
                                                 fg_reason *r);
FG_MUST_CHECK fg_result store_file_list_order(store_meta *m,
                                              const char *order_id,
                                              store_file_list *out /* out */,
                                              fg_reason *r);

/* Frees the items and empties the list. Accepts NULL and empty lists. */
void store_file_list_release(store_file_list *l);

typedef enum store_counter {
    STORE_COUNT_BUYER_VIEW,     /* a buyer fetched the preview */
    STORE_COUNT_BUYER_DOWNLOAD, /* a buyer fetched the original */
} store_counter;

/* Adds one to a counter of file id atomically; *after (may be NULL) gets
 * the new value, so 1 means "first time" (for the file.previewed event).
 * FG_ENOTFOUND if no such file. */
FG_MUST_CHECK fg_result store_file_count(store_meta *m, const char *id,
                                         store_counter which,
                                         int64_t *after /* out */,
                                         fg_reason *r);

/* ---- processed webhook ids ---- */

/* Records webhook_id (an id: common/id.h) as processed at `at`.
 * *seen is true if it had been recorded before (nothing changes then),
 * false if this call recorded it. Call it inside the transaction that
 * applies the webhook's effect, so the id and the effect commit together
 * or not at all. */
FG_MUST_CHECK fg_result store_webhook_record(store_meta *m,
                                             const char *webhook_id,
                                             const char *at,
                                             bool *seen /* out */,
                                             fg_reason *r);

/* ---- the outbox of outgoing events ----
 *
 * Events for the order system (DESIGN, "Outgoing events") are written
 * here in the transaction of their cause and sent later by a sender
 * (fcgi/outbox.c; one per worker, each claiming what it sends), so an
 * event exists if and only if its cause committed, and survives restarts
 * until it is sent or given up. */

#define STORE_OUTBOX_PENDING "pending"
#define STORE_OUTBOX_SENT "sent"
#define STORE_OUTBOX_DEAD "dead"

/* next_attempt_at for store_outbox_mark_failed: give up (state "dead"). */
#define STORE_OUTBOX_GIVE_UP ((int64_t)-1)

typedef struct store_outbox_event {
    int64_t id;                          /* 1, 2, ... in order of creation */
    char created_at[STORE_TIME_MAX];
    char type[FG_MAX_EVENT_TYPE + 1];    /* "delivery.ready", ... */
    char order_id[FG_MAX_ID + 1];        /* "" when none */
    char *payload;                       /* heap, owned by the list */
    int attempts;                        /* tries made so far */
    int64_t next_attempt_at;             /* unix seconds */
    char last_error[FG_REASON_MAX];      /* "" until a try failed */
    char state[STORE_WORD_MAX];          /* STORE_OUTBOX_* */
    char sent_at[STORE_TIME_MAX];        /* "" until sent */
} store_outbox_event;

typedef struct store_outbox_list {
    store_outbox_event *items; /* heap, owned by the list */
    size_t n;
} store_outbox_list;

/* Records a pending event, due at once: type (1..FG_MAX_EVENT_TYPE bytes of
 * a-z 0-9 ._-), order_id (an id, or NULL/"" for none), payload_json (the
 * exact body to send, 1..FG_MAX_EVENT_PAYLOAD bytes of UTF-8; the caller
 * produced it with a JSON library). Inside an open write transaction it
 * joins it, so the event commits or rolls back with its cause (as
 * store_audit_append); outside one it commits on its own. FG_EUSAGE /
 * FG_ELIMIT for bad input or inside a read transaction. id_out (may be
 * NULL) receives the event's id. */
FG_MUST_CHECK fg_result store_outbox_add(store_meta *m, const char *type,
                                         const char *order_id,
                                         const char *payload_json,
                                         int64_t *id_out /* out */,
                                         fg_reason *r);

/* Lists up to `limit` pending events due at `now` (unix seconds:
 * next_attempt_at <= now), oldest due first (0 or over FG_MAX_LIST_ROWS:
 * FG_MAX_LIST_ROWS). The caller owns *out on success
 * (store_outbox_list_release); on failure *out is empty. */
FG_MUST_CHECK fg_result store_outbox_due(store_meta *m, int64_t now,
                                         size_t limit,
                                         store_outbox_list *out /* out */,
                                         fg_reason *r);

/* The created_at of the oldest pending event (the first by id: ids
 * follow creation), "" when none is pending; /readyz measures the
 * outbox's backlog by it, whatever retries did to next_attempt_at.
 * FG_EIO when the store does not answer. */
FG_MUST_CHECK fg_result store_outbox_oldest(store_meta *m,
                                            char created_at[STORE_TIME_MAX] /* out */,
                                            fg_reason *r);

/* Claims up to `limit` pending events due at `now` (unix seconds), oldest
 * due first (0 or over FG_MAX_LIST_ROWS: FG_MAX_LIST_ROWS), for one sender:
 * in the statement that picks them, their next_attempt_at moves to now +
 * lease_s, so no other sender, on this node or another, sees them due
 * until the lease ends. The sender then records the try
 * (store_outbox_mark_sent / _failed), or gives the event back unsent
 * (store_outbox_release); a sender that dies loses its claims when the
 * lease ends, and the event is tried again by whichever sender claims it
 * next. So each try is made once, by one sender. The items hold
 * next_attempt_at = now + lease_s (the claim's token for release). Takes
 * its own write transaction: FG_EUSAGE inside one, or for a lease_s < 1,
 * a negative now or one so large the lease end would overflow. The
 * caller owns *out on success (store_outbox_list_release); on failure
 * *out is empty. */
FG_MUST_CHECK fg_result store_outbox_claim(store_meta *m, int64_t now,
                                           int64_t lease_s, size_t limit,
                                           store_outbox_list *out /* out */,
                                           fg_reason *r);

/* Gives back event e, claimed by store_outbox_claim and not tried (its
 * sender is stopping): it is due again at once, its attempts unchanged.
 * Only while the claim holds (next_attempt_at still the claim's lease
 * end): a claim that ran out and was taken by another sender is left
 * alone, and that is no error. */
FG_MUST_CHECK fg_result store_outbox_release(store_meta *m,
                                             const store_outbox_event *e,
                                             fg_reason *r);

/* Marks pending event id sent (now), counting the try; last_error keeps
 * the error of the try before, if any (why it was late). FG_ENOTFOUND if
 * there is no pending event id (unknown, sent or dead already). */
FG_MUST_CHECK fg_result store_outbox_mark_sent(store_meta *m, int64_t id,
                                               fg_reason *r);

/* Records a failed try of pending event id: counts it, keeps `error`
 * (0..FG_REASON_MAX-1 bytes of UTF-8: cut it first) as last_error, and
 * either reschedules it at next_attempt_at (unix seconds, >= 0) or, with
 * STORE_OUTBOX_GIVE_UP, marks it dead. FG_ENOTFOUND if there is no
 * pending event id; FG_EUSAGE for another negative time. */
FG_MUST_CHECK fg_result store_outbox_mark_failed(store_meta *m, int64_t id,
                                                 const char *error,
                                                 int64_t next_attempt_at,
                                                 fg_reason *r);

/* Lists up to `limit` events in `state` (STORE_OUTBOX_*; "dead": the ones
 * given up) with id > after, by id (0 or over FG_MAX_LIST_ROWS:
 * FG_MAX_LIST_ROWS), for the operator (GET /v1/admin/events). FG_EUSAGE
 * for another state or a negative after. The caller owns *out on success
 * (store_outbox_list_release); on failure *out is empty. */
FG_MUST_CHECK fg_result store_outbox_list_state(store_meta *m, const char *state,
                                                int64_t after, size_t limit,
                                                store_outbox_list *out /* out */,
                                                fg_reason *r);

/* Puts given-up event id back to be sent: pending, due at once, its
 * attempts back to 0 (the whole retry schedule again), last_error kept.
 * FG_ENOTFOUND if there is no dead event id (unknown, pending or sent):
 * a replay never sends an event twice at once. */
FG_MUST_CHECK fg_result store_outbox_replay(store_meta *m, int64_t id, fg_reason *r);

/* Frees the payloads and items and empties the list. Accepts NULL and
 * empty lists. */
void store_outbox_list_release(store_outbox_list *l);

#endif
