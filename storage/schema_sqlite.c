/* The SQLite schema, as numbered steps. A step, once released, is never
 * edited: a change is a new step at the end. PostgreSQL gets its own list
 * of the same steps (types differ, meaning does not). */
#include "storage/schema_sqlite.h"

#include <stddef.h>
#include <string.h>

#include "storage/meta.h"

static const char *const steps[] = {
    /* 1: orders, deliveries, files, processed webhook ids. Times are RFC
     * 3339 UTC text in one fixed form, so they sort as strings. */
    "CREATE TABLE orders ("
    "  id TEXT PRIMARY KEY,"
    "  state TEXT NOT NULL DEFAULT 'open'"
    "    CHECK (state IN ('open','disputed','accepted','cancelled')),"
    "  seller_id TEXT NOT NULL,"
    "  buyer_id TEXT NOT NULL,"
    "  buyer_name TEXT NOT NULL DEFAULT '',"
    "  labels TEXT NOT NULL DEFAULT '{}',"
    "  created_at TEXT NOT NULL,"
    "  released_at TEXT"
    ") STRICT;"
    "CREATE TABLE deliveries ("
    "  order_id TEXT NOT NULL REFERENCES orders(id),"
    "  number INTEGER NOT NULL CHECK (number >= 1),"
    "  message TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL,"
    "  PRIMARY KEY (order_id, number)"
    ") STRICT;"
    /* seq is the upload order; id is the opaque name clients see. */
    "CREATE TABLE files ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  order_id TEXT NOT NULL,"
    "  delivery INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  size INTEGER NOT NULL CHECK (size >= 0),"
    "  sha256 TEXT NOT NULL,"
    "  mime TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('image','pdf','archive','other')),"
    "  preview TEXT NOT NULL"
    "    CHECK (preview IN ('processing','ready','withheld','failed')),"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  preview_sha256 TEXT NOT NULL DEFAULT '',"
    "  preview_mime TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL,"
    "  buyer_views INTEGER NOT NULL DEFAULT 0,"
    "  buyer_downloads INTEGER NOT NULL DEFAULT 0,"
    "  FOREIGN KEY (order_id, delivery) REFERENCES deliveries(order_id, number)"
    ") STRICT;"
    "CREATE INDEX files_by_delivery ON files(order_id, delivery, seq);"
    /* Which files still use a blob: for purging after retention. */
    "CREATE INDEX files_by_sha256 ON files(sha256);"
    "CREATE INDEX files_by_preview ON files(preview_sha256);"
    "CREATE TABLE webhooks ("
    "  id TEXT PRIMARY KEY,"
    "  at TEXT NOT NULL"
    ") STRICT;",

    /* 2: the audit chain. No foreign key to orders: events about orders we
     * refused to create are evidence too. The triggers make the table
     * append-only for every client of the file, not only for our code. */
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
    "  order_id TEXT,"
    "  at TEXT NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX audit_by_order ON audit(order_id, seq);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;",

    /* 3: the outbox of outgoing events. next_attempt_at is unix seconds
     * (compared with the clock, never shown); the partial index keeps the
     * sender's "what is due" query to the pending rows. */
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  created_at TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  order_id TEXT,"
    "  payload TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
    "  next_attempt_at INTEGER NOT NULL,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (state IN ('pending','sent','dead')),"
    "  sent_at TEXT"
    ") STRICT;"
    "CREATE INDEX outbox_due ON outbox(next_attempt_at, id)"
    "  WHERE state = 'pending';",

    /* 4: commitments. A file's random salt and SHA-256(salt || content),
     * shown to the buyer instead of the plain sha256 until release
     * (common/commit.h). '' for files stored before this step: they have
     * no commitment, and the buyer sees no hash of them until release. */
    "ALTER TABLE files ADD COLUMN salt TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE files ADD COLUMN commitment TEXT NOT NULL DEFAULT '';",

    /* 5: blob references (DESIGN, Settled details): refs counts the file
     * rows that name a blob, originals and previews alike, kept by
     * triggers so that it changes in the very statement, hence the
     * transaction, that adds, changes or removes a file row, whoever
     * writes it. A blob is registered (refs 0, seen_at now, unix seconds)
     * before it is stored, so a blob whose row never comes (a rejected
     * upload, a crash) is known and collected once it is older than the
     * grace period (storage/blob_refs.h). The step counts the rows that
     * exist. A later step that rebuilds the files table must recreate
     * these triggers. */
    "CREATE TABLE blob_refs ("
    "  sha256 TEXT PRIMARY KEY,"
    "  refs INTEGER NOT NULL DEFAULT 0 CHECK (refs >= 0),"
    "  seen_at INTEGER NOT NULL"
    ") STRICT;"
    "INSERT INTO blob_refs(sha256, refs, seen_at)"
    "  SELECT sha256, COUNT(*), CAST(strftime('%s','now') AS INTEGER) FROM ("
    "    SELECT sha256 FROM files"
    "    UNION ALL SELECT preview_sha256 FROM files WHERE preview_sha256 <> ''"
    "  ) GROUP BY sha256;"
    "CREATE INDEX blob_refs_unused ON blob_refs(seen_at) WHERE refs = 0;"
    "CREATE TRIGGER blob_refs_file_insert AFTER INSERT ON files BEGIN"
    "  INSERT OR IGNORE INTO blob_refs(sha256, refs, seen_at)"
    "    SELECT new.sha256, 0, CAST(strftime('%s','now') AS INTEGER);"
    "  UPDATE blob_refs SET refs = refs + 1 WHERE sha256 = new.sha256;"
    "  INSERT OR IGNORE INTO blob_refs(sha256, refs, seen_at)"
    "    SELECT new.preview_sha256, 0, CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE new.preview_sha256 <> '';"
    "  UPDATE blob_refs SET refs = refs + 1"
    "    WHERE new.preview_sha256 <> '' AND sha256 = new.preview_sha256;"
    "END;"
    /* A reference dropped to 0 restarts the grace period: seen_at now. */
    "CREATE TRIGGER blob_refs_file_delete AFTER DELETE ON files BEGIN"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE sha256 = old.sha256;"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE old.preview_sha256 <> '' AND sha256 = old.preview_sha256;"
    "END;"
    "CREATE TRIGGER blob_refs_file_update AFTER UPDATE OF sha256, preview_sha256"
    "  ON files BEGIN"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE sha256 = old.sha256;"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE old.preview_sha256 <> '' AND sha256 = old.preview_sha256;"
    "  INSERT OR IGNORE INTO blob_refs(sha256, refs, seen_at)"
    "    SELECT new.sha256, 0, CAST(strftime('%s','now') AS INTEGER);"
    "  UPDATE blob_refs SET refs = refs + 1 WHERE sha256 = new.sha256;"
    "  INSERT OR IGNORE INTO blob_refs(sha256, refs, seen_at)"
    "    SELECT new.preview_sha256, 0, CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE new.preview_sha256 <> '';"
    "  UPDATE blob_refs SET refs = refs + 1"
    "    WHERE new.preview_sha256 <> '' AND sha256 = new.preview_sha256;"
    "END;",

    /* 6: Idempotency-Key and retention purges.
     * idempotency_keys: one row per (seller, order, key) (DESIGN, Settled
     * details). delivery is NULL while the first request is in flight
     * (claimed_at, unix seconds, with the claimer's random token), then
     * the delivery it recorded and the fingerprint of what it delivered;
     * rows older than the lifetime are deleted by the maintenance loop.
     * files.purged_at: set when retention purged the file ('' until
     * then). The row stays, so the order and its audit still show what
     * was delivered, but a purged row holds no blob reference: the
     * triggers of step 5 are recreated so that purging drops both
     * references in the purging statement, and a purged row neither
     * takes nor drops one afterwards. */
    "CREATE TABLE idempotency_keys ("
    "  seller_id TEXT NOT NULL,"
    "  order_id TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  token TEXT NOT NULL,"
    "  fingerprint TEXT NOT NULL DEFAULT '',"
    "  delivery INTEGER CHECK (delivery IS NULL OR delivery >= 1),"
    "  claimed_at INTEGER NOT NULL,"
    "  PRIMARY KEY (seller_id, order_id, key)"
    ") STRICT;"
    "CREATE INDEX idempotency_keys_by_age ON idempotency_keys(claimed_at);"
    "ALTER TABLE files ADD COLUMN purged_at TEXT NOT NULL DEFAULT '';"
    "DROP TRIGGER blob_refs_file_delete;"
    "DROP TRIGGER blob_refs_file_update;"
    "CREATE TRIGGER blob_refs_file_delete AFTER DELETE ON files"
    "  WHEN old.purged_at = '' BEGIN"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE sha256 = old.sha256;"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE old.preview_sha256 <> '' AND sha256 = old.preview_sha256;"
    "END;"
    "CREATE TRIGGER blob_refs_file_update"
    "  AFTER UPDATE OF sha256, preview_sha256, purged_at ON files BEGIN"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE old.purged_at = '' AND sha256 = old.sha256;"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE old.purged_at = '' AND old.preview_sha256 <> ''"
    "      AND sha256 = old.preview_sha256;"
    "  INSERT OR IGNORE INTO blob_refs(sha256, refs, seen_at)"
    "    SELECT new.sha256, 0, CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE new.purged_at = '';"
    "  UPDATE blob_refs SET refs = refs + 1"
    "    WHERE new.purged_at = '' AND sha256 = new.sha256;"
    "  INSERT OR IGNORE INTO blob_refs(sha256, refs, seen_at)"
    "    SELECT new.preview_sha256, 0, CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE new.purged_at = '' AND new.preview_sha256 <> '';"
    "  UPDATE blob_refs SET refs = refs + 1"
    "    WHERE new.purged_at = '' AND new.preview_sha256 <> ''"
    "      AND sha256 = new.preview_sha256;"
    "END;",

    /* 7: durable jobs (jobs/queue.h). A job is written in the transaction
     * of its cause (a delivery's files) and claimed by one runner with a
     * lease: lease_until (unix ms) past, a running job is anyone's again.
     * run_at (unix ms) lets scheduled work (purges) share the queue.
     * subject names what the job is about (a file id for 'preview'). At
     * most one pending or running job per kind and subject: a rebuild
     * asked twice, or of a file still waiting, is one stamping. */
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL CHECK (kind IN ('preview','purge','rebuild')),"
    "  subject TEXT NOT NULL,"
    "  order_id TEXT,"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (state IN ('pending','running','done','failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
    "  lease_owner TEXT NOT NULL DEFAULT '',"
    "  lease_until INTEGER NOT NULL DEFAULT 0,"
    "  run_at INTEGER NOT NULL,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX jobs_pending ON jobs(run_at, id) WHERE state = 'pending';"
    "CREATE INDEX jobs_running ON jobs(lease_until) WHERE state = 'running';"
    "CREATE UNIQUE INDEX jobs_active ON jobs(kind, subject)"
    "  WHERE state IN ('pending','running');"
    /* Files a run before this step left processing (it stamped inside
     * the request, and died): a job each, so they end. */
    "INSERT INTO jobs(kind, subject, order_id, run_at, created_at, updated_at)"
    "  SELECT 'preview', id, order_id,"
    "    CAST(strftime('%s','now') AS INTEGER) * 1000,"
    "    strftime('%Y-%m-%dT%H:%M:%fZ','now'), strftime('%Y-%m-%dT%H:%M:%fZ','now')"
    "  FROM files WHERE preview = 'processing' ORDER BY seq;",
    /* 8: tus uploads in progress (storage/uploads.h). received is the
     * offset; the two hash states are those after exactly `received`
     * bytes (common/sha256_state.h); expires_at is unix seconds, moved on
     * by each chunk. A finished upload's row goes in the transaction that
     * records its delivery. */
    "CREATE TABLE uploads ("
    "  id TEXT PRIMARY KEY,"
    "  order_id TEXT NOT NULL,"
    "  seller_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  length INTEGER NOT NULL CHECK (length > 0),"
    "  received INTEGER NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= length),"
    "  sha_state TEXT NOT NULL,"
    "  commit_state TEXT NOT NULL,"
    "  salt TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  expires_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX uploads_by_order ON uploads(order_id);"
    "CREATE INDEX uploads_by_expiry ON uploads(expires_at);",

    /* 9: one audit chain per order (storage/audit.h). The global chain's
     * rows move to the new table, rehashed into per-order chains, by C
     * code that runs right after this SQL in the same transaction
     * (store_sqlite_audit_rechain, storage/audit_migrate_sqlite.c): it
     * verifies the old chain first and records its last hash in the
     * first checkpoint. seq keeps the storage order (the old seq for
     * moved rows); chain is order_id, '' for the service chain. Heads
     * are written in each append's transaction; checkpoints by a job,
     * whose kind joins the jobs table's check (the table is rebuilt: a
     * CHECK cannot be altered). */
    /* IF EXISTS: a file whose triggers were dropped (tampered with) must
     * migrate too, and its break be reported, not block the start. */
    "DROP TRIGGER IF EXISTS audit_no_update;"
    "DROP TRIGGER IF EXISTS audit_no_delete;"
    "DROP INDEX IF EXISTS audit_by_order;"
    "ALTER TABLE audit RENAME TO audit_v1;"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
    "  order_id TEXT,"
    "  chain TEXT NOT NULL,"
    "  chain_seq INTEGER NOT NULL CHECK (chain_seq >= 1),"
    "  at TEXT NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  UNIQUE (chain, chain_seq)"
    ") STRICT;"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "CREATE TABLE audit_heads ("
    "  chain TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL CHECK (seq >= 0),"
    "  hash TEXT NOT NULL,"
    "  at TEXT NOT NULL,"
    "  checkpointed INTEGER NOT NULL DEFAULT 0 CHECK (checkpointed >= 0)"
    ") STRICT;"
    "CREATE INDEX audit_heads_changed ON audit_heads(chain) WHERE seq > checkpointed;"
    "CREATE TABLE audit_checkpoints ("
    "  seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
    "  at TEXT NOT NULL,"
    "  heads TEXT NOT NULL,"
    "  legacy TEXT NOT NULL DEFAULT '',"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL"
    ") STRICT;"
    "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;"
    "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;"
    "CREATE TABLE jobs_v9 ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL"
    "    CHECK (kind IN ('preview','purge','rebuild','checkpoint')),"
    "  subject TEXT NOT NULL,"
    "  order_id TEXT,"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (state IN ('pending','running','done','failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
    "  lease_owner TEXT NOT NULL DEFAULT '',"
    "  lease_until INTEGER NOT NULL DEFAULT 0,"
    "  run_at INTEGER NOT NULL,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ") STRICT;"
    "INSERT INTO jobs_v9(id, kind, subject, order_id, state, attempts, lease_owner,"
    "  lease_until, run_at, last_error, created_at, updated_at)"
    "  SELECT id, kind, subject, order_id, state, attempts, lease_owner,"
    "  lease_until, run_at, last_error, created_at, updated_at FROM jobs;"
    "DROP TABLE jobs;"
    "ALTER TABLE jobs_v9 RENAME TO jobs;"
    "CREATE INDEX jobs_pending ON jobs(run_at, id) WHERE state = 'pending';"
    "CREATE INDEX jobs_running ON jobs(lease_until) WHERE state = 'running';"
    "CREATE UNIQUE INDEX jobs_active ON jobs(kind, subject)"
    "  WHERE state IN ('pending','running');",

    /* 10: every kind DESIGN lists (video, audio, document, text join
     * image, pdf, archive, other), and a preview's companion image: a
     * video's poster frame, an audio file's waveform (poster_sha256,
     * poster_mime; '' when there is none). A CHECK cannot be altered, so
     * the files table is rebuilt, row for row with the same seq, and its
     * indexes and the blob reference triggers of step 6 are recreated,
     * now counting the companion as a reference too. */
    "DROP TRIGGER blob_refs_file_insert;"
    "DROP TRIGGER blob_refs_file_delete;"
    "DROP TRIGGER blob_refs_file_update;"
    "CREATE TABLE files_v10 ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  order_id TEXT NOT NULL,"
    "  delivery INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  size INTEGER NOT NULL CHECK (size >= 0),"
    "  sha256 TEXT NOT NULL,"
    "  mime TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('image','pdf','archive','video',"
    "    'audio','document','text','other')),"
    "  preview TEXT NOT NULL"
    "    CHECK (preview IN ('processing','ready','withheld','failed')),"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  preview_sha256 TEXT NOT NULL DEFAULT '',"
    "  preview_mime TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL,"
    "  buyer_views INTEGER NOT NULL DEFAULT 0,"
    "  buyer_downloads INTEGER NOT NULL DEFAULT 0,"
    "  salt TEXT NOT NULL DEFAULT '',"
    "  commitment TEXT NOT NULL DEFAULT '',"
    "  purged_at TEXT NOT NULL DEFAULT '',"
    "  poster_sha256 TEXT NOT NULL DEFAULT '',"
    "  poster_mime TEXT NOT NULL DEFAULT '',"
    "  FOREIGN KEY (order_id, delivery) REFERENCES deliveries(order_id, number)"
    ") STRICT;"
    "INSERT INTO files_v10(seq, id, order_id, delivery, name, size, sha256, mime,"
    "  kind, preview, reason, preview_sha256, preview_mime, created_at,"
    "  buyer_views, buyer_downloads, salt, commitment, purged_at)"
    "  SELECT seq, id, order_id, delivery, name, size, sha256, mime, kind,"
    "  preview, reason, preview_sha256, preview_mime, created_at, buyer_views,"
    "  buyer_downloads, salt, commitment, purged_at FROM files;"
    "DROP TABLE files;"
    "ALTER TABLE files_v10 RENAME TO files;"
    "CREATE INDEX files_by_delivery ON files(order_id, delivery, seq);"
    "CREATE INDEX files_by_sha256 ON files(sha256);"
    "CREATE INDEX files_by_preview ON files(preview_sha256);"
    "CREATE INDEX files_by_poster ON files(poster_sha256) WHERE poster_sha256 <> '';"
    /* One reference per non-empty blob column of a live (unpurged) row. */
    "CREATE TRIGGER blob_refs_file_insert AFTER INSERT ON files"
    "  WHEN new.purged_at = '' BEGIN"
    "  INSERT OR IGNORE INTO blob_refs(sha256, refs, seen_at)"
    "    SELECT h, 0, CAST(strftime('%s','now') AS INTEGER) FROM (SELECT new.sha256 AS h"
    "      UNION ALL SELECT new.preview_sha256 UNION ALL SELECT new.poster_sha256)"
    "    WHERE h <> '';"
    "  UPDATE blob_refs SET refs = refs + 1 WHERE sha256 = new.sha256;"
    "  UPDATE blob_refs SET refs = refs + 1"
    "    WHERE new.preview_sha256 <> '' AND sha256 = new.preview_sha256;"
    "  UPDATE blob_refs SET refs = refs + 1"
    "    WHERE new.poster_sha256 <> '' AND sha256 = new.poster_sha256;"
    "END;"
    "CREATE TRIGGER blob_refs_file_delete AFTER DELETE ON files"
    "  WHEN old.purged_at = '' BEGIN"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE sha256 = old.sha256;"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE old.preview_sha256 <> '' AND sha256 = old.preview_sha256;"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE old.poster_sha256 <> '' AND sha256 = old.poster_sha256;"
    "END;"
    "CREATE TRIGGER blob_refs_file_update"
    "  AFTER UPDATE OF sha256, preview_sha256, poster_sha256, purged_at ON files BEGIN"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE old.purged_at = '' AND sha256 = old.sha256;"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE old.purged_at = '' AND old.preview_sha256 <> ''"
    "      AND sha256 = old.preview_sha256;"
    "  UPDATE blob_refs SET refs = MAX(refs - 1, 0),"
    "    seen_at = CAST(strftime('%s','now') AS INTEGER)"
    "    WHERE old.purged_at = '' AND old.poster_sha256 <> ''"
    "      AND sha256 = old.poster_sha256;"
    "  INSERT OR IGNORE INTO blob_refs(sha256, refs, seen_at)"
    "    SELECT h, 0, CAST(strftime('%s','now') AS INTEGER) FROM (SELECT new.sha256 AS h"
    "      UNION ALL SELECT new.preview_sha256 UNION ALL SELECT new.poster_sha256)"
    "    WHERE new.purged_at = '' AND h <> '';"
    "  UPDATE blob_refs SET refs = refs + 1"
    "    WHERE new.purged_at = '' AND sha256 = new.sha256;"
    "  UPDATE blob_refs SET refs = refs + 1"
    "    WHERE new.purged_at = '' AND new.preview_sha256 <> ''"
    "      AND sha256 = new.preview_sha256;"
    "  UPDATE blob_refs SET refs = refs + 1"
    "    WHERE new.purged_at = '' AND new.poster_sha256 <> ''"
    "      AND sha256 = new.poster_sha256;"
    "END;",

    /* 11: scoped links (storage/links.h) and order.created's
     * max_downloads. A link row is keyed by the SHA-256 of its id, never
     * the id (the credential); uses never pass max_uses (the CHECK backs
     * the guarded UPDATE). No foreign key to files: a purge or a
     * cleanup must never be blocked by a link. max_downloads NULL: no
     * limit. */
    "CREATE TABLE links ("
    "  hash TEXT PRIMARY KEY,"
    "  file_id TEXT NOT NULL,"
    "  order_id TEXT NOT NULL,"
    "  purpose TEXT NOT NULL CHECK (purpose IN ('preview','original')),"
    "  minted_by TEXT NOT NULL,"
    "  minted_role TEXT NOT NULL CHECK (minted_role IN ('seller','buyer','admin')),"
    "  created_at TEXT NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  max_uses INTEGER NOT NULL CHECK (max_uses >= 1),"
    "  uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),"
    "  revoked_at TEXT NOT NULL DEFAULT ''"
    ") STRICT;"
    "CREATE INDEX links_by_file ON links(file_id);"
    "ALTER TABLE orders ADD COLUMN max_downloads INTEGER"
    "  CHECK (max_downloads IS NULL OR max_downloads >= 1);",

    /* 12: traceable marks: the preview a payload names (storage/trace.h). No
     * foreign keys: a trace outlives a purge of the order's files. */
    "CREATE TABLE trace_marks ("
    "  payload TEXT PRIMARY KEY CHECK (length(payload) = 16),"
    "  order_id TEXT NOT NULL,"
    "  buyer_id TEXT NOT NULL,"
    "  file_id TEXT NOT NULL,"
    "  created_at TEXT NOT NULL"
    ") STRICT;",

    /* 13: the pages a buyer's preview of a paged document shows
     * (order.created's preview_pages; 0: FILIGRANE_EXCERPT_PAGES for
     * text, code and office documents, --max-pages for PDFs). */
    "ALTER TABLE orders ADD COLUMN preview_pages INTEGER NOT NULL DEFAULT 0"
    "  CHECK (preview_pages >= 0);",
};

/* C code a step needs after its SQL, in the migration's transaction, found
 * by a fragment of the step's SQL (so it follows the step wherever the
 * steps are ordered). */
static const struct {
    const char *fragment;
    fg_result (*run)(sqlite3 *db, fg_reason *r);
} step_code[] = {
    {"CREATE TABLE audit_heads", store_sqlite_audit_rechain},
};

int store_sqlite_schema_latest(void)
{
    return (int)(sizeof steps / sizeof steps[0]);
}

static fg_result exec(sqlite3 *db, const char *sql, const char *what,
                      fg_reason *r)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return fg_fail(r, FG_EIO, "cannot %s: %s", what, sqlite3_errmsg(db));
    return FG_OK;
}

/* The version recorded, or -1 if there is no schema_version table yet. A
 * plain read: it takes no lock, so it never waits for a writer. */
static int current_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int store_sqlite_schema_step_of(const char *fragment)
{
    for (int v = 1; v <= store_sqlite_schema_latest(); v++)
        if (strstr(steps[v - 1], fragment))
            return v;
    return 0;
}

fg_result store_sqlite_migrate(sqlite3 *db, fg_reason *r)
{
    return store_sqlite_migrate_to(db, store_sqlite_schema_latest(), r);
}

fg_result store_sqlite_migrate_to(sqlite3 *db, int target, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    int have = 0;
    char now[STORE_TIME_MAX];
    if (target < 0 || target > store_sqlite_schema_latest())
        return fg_fail(r, FG_EUSAGE, "no schema step %d", target);
    /* Up to date (the common case: every worker thread opening its
     * handle): no write lock, so opening never waits behind a writer. */
    if (current_version(db) == target)
        return FG_OK;
    fg_result rc = exec(db, "BEGIN IMMEDIATE", "lock the database for migration", r);
    if (rc)
        return rc;
    if ((rc = exec(db,
                   "CREATE TABLE IF NOT EXISTS schema_version ("
                   "  version INTEGER PRIMARY KEY,"
                   "  applied_at TEXT NOT NULL) STRICT",
                   "create schema_version", r)))
        goto out;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = fg_fail(r, FG_EIO, "cannot read schema version: %s",
                     sqlite3_errmsg(db));
        goto out;
    }
    have = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (have > store_sqlite_schema_latest()) {
        rc = fg_fail(r, FG_ECORRUPT,
                     "database schema %d is newer than this program's %d",
                     have, store_sqlite_schema_latest());
        goto out;
    }
    store_time_now(now);
    for (int v = have + 1; v <= target; v++) {
        if ((rc = exec(db, steps[v - 1], "apply a schema migration", r)))
            goto out;
        for (size_t k = 0; k < sizeof step_code / sizeof step_code[0]; k++)
            if (strstr(steps[v - 1], step_code[k].fragment) &&
                (rc = step_code[k].run(db, r)))
                goto out;
        if (sqlite3_prepare_v2(db,
                               "INSERT INTO schema_version(version, applied_at)"
                               " VALUES (?1, ?2)",
                               -1, &st, NULL) != SQLITE_OK ||
            sqlite3_bind_int(st, 1, v) != SQLITE_OK ||
            sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE) {
            rc = fg_fail(r, FG_EIO, "cannot record schema version: %s",
                         sqlite3_errmsg(db));
            goto out;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    rc = exec(db, "COMMIT", "commit the schema migration", r);
out:
    sqlite3_finalize(st);
    if (rc)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}
