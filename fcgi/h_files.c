/* GET /v1/files/{file}/preview and GET /v1/files/{file}/original.
 *
 * The worker decides and records; nginx sends the bytes (X-Accel-Redirect
 * to the internal blob location), so a download never holds a thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi/access.h"
#include "fcgi/disposition.h"
#include "fcgi/download_count.h"
#include "fcgi/handlers.h"
#include "fcgi/log.h"
#include "fcgi/metrics.h"
#include "fcgi/outbox.h"
#include "fcgi/worker.h"
#include "storage/audit.h"
#include "storage/links.h"

/* Reads the file and its order in one read transaction: one consistent
 * view (an acceptance cannot land between the two reads), and one WAL read
 * lock instead of two, which the worker's threads otherwise queue on. */
static fg_result read_file_order(store_meta *m, const char *id, store_file *f,
                                 store_order *o, fg_reason *r)
{
    fg_result rc = store_meta_begin_read(m, r);
    if (rc == FG_OK && (rc = store_file_get(m, id, f, r)) == FG_OK)
        rc = store_order_get(m, f->order_id, o, r);
    store_meta_rollback(m);
    return rc;
}

static bool load_file(fcgi_req *req, ord_action want, struct fcgi_claims *who,
                      store_order *o, store_file *f)
{
    fg_reason r = {{0}};
    if (!fcgi_authenticate(req, who))
        return false;
    fg_result rc = read_file_order(req->ctx->meta, req->params[0], f, o, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, rc == FG_ENOTFOUND ? "no such file" : r.text);
        return false;
    }
    /* The order's existence is no secret from a token of another order
     * here: file ids are 128 random bits, known only to its parties. */
    if (!fcgi_may_name_order(req, who, f->order_id))
        return false;
    if (!fcgi_may(req, who, o, want))
        return false;
    /* After the access check: only the file's parties learn it was
     * purged. Its bytes are gone, or go with the collector's next pass. */
    if (f->purged_at[0]) {
        fcgi_send_error(req, FG_EGONE, "purged", "the file was purged after the retention period");
        return false;
    }
    return true;
}

/* Records a buyer's fetch: every download of an original (counter and
 * audit row), and the first view of a preview. What counts as either is
 * fcgi/download_count.h (no HEAD, no 304, no range past byte 0). Later
 * views are not written: a page of thumbnails would otherwise put a synced
 * database write on every image, and the first view is the evidence that
 * matters ("the buyer saw the work"). A failure to record a view is
 * logged, not fatal: the record is evidence, the view is the service. An
 * original is different: its count enforces max_downloads, so it is sent
 * only once counted. False when the request was answered (refused). */
static bool record_buyer(fcgi_req *req, const struct fcgi_claims *who,
                         const store_file *f, bool original)
{
    if (who->role != FCGI_ROLE_BUYER || (!original && f->buyer_views > 0))
        return true;
    if (!fcgi_download_counts_req(req, original ? f->sha256 : f->preview_sha256,
                                  original ? f->size : -1))
        return true;
    fg_reason r = {{0}};
    int64_t n = 0;
    bool taken = true;
    store_meta *m = req->ctx->meta;
    char actor[FG_MAX_ACTOR + 1];
    fcgi_actor(who, actor, sizeof actor);
    /* Counter, audit row and outgoing event commit together. An
     * original's counter is also the order's max_downloads: counted
     * within the limit in one guarded statement (storage/links.h), or
     * refused. */
    if (store_meta_begin(m, &r) != FG_OK ||
        (original ? store_file_count_download(m, f->id, &taken, &n, &r)
                  : store_file_count(m, f->id, STORE_COUNT_BUYER_VIEW, &n, &r)) != FG_OK)
        goto fail;
    if (!taken) {
        store_meta_rollback(m);
        fcgi_send_error(req, FG_EFORBIDDEN, "download_limit",
                        "the buyer has downloaded this file as often as the order allows");
        return false;
    }
    if (original || n == 1) {
        const char *what = original ? "file.downloaded" : "file.previewed";
        json_t *d = json_pack("{s:s, s:s, s:I}", "file_id", f->id, "sha256",
                              original ? f->sha256 : f->preview_sha256, "count", (json_int_t)n);
        char *detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(d);
        /* No detail, no download record: never an empty "{}" entry. */
        fg_result rc = detail ? store_audit_append(m, f->order_id, actor, what, detail, NULL,
                                                   NULL, &r)
                              : fg_fail(&r, FG_EIO, "cannot build the audit entry");
        free(detail);
        if (rc == FG_OK)
            rc = fcgi_event_enqueue(m, what, f->order_id,
                                    original ? json_pack("{s:s, s:s, s:I}", "order_id",
                                                         f->order_id, "file_id", f->id, "count",
                                                         (json_int_t)n)
                                             : json_pack("{s:s, s:s}", "order_id", f->order_id,
                                                         "file_id", f->id),
                                    &r);
        if (rc != FG_OK)
            goto fail;
    }
    if (store_meta_commit(m, &r) != FG_OK)
        goto fail;
    return true;
fail:
    store_meta_rollback(m);
    fcgi_log(FCGI_LOG_ERROR, "req=%s file=%s error=\"cannot record download: %s\"", req->id,
             f->id, r.text);
    /* A preview's first view is evidence only; an original's count is
     * the download limit, so an original not counted is not sent. */
    if (!original)
        return true;
    fcgi_send_error(req, FG_EIO, NULL, "cannot record the download");
    return false;
}

/* send_blob(cache_ttl): seconds nginx may replay this answer (an allowed
 * preview decision only, see preview_cache_ttl); 0: never. */
static void send_blob(fcgi_req *req, const char *sha, const char *mime,
                      const char *name, bool inline_, const char *cache, long long cache_ttl)
{
    fg_reason r = {{0}};
    char target[STORE_BLOB_TARGET_MAX];
    char disp[FCGI_DISPOSITION_BYTES];
    fcgi_disposition(inline_ ? FCGI_DISPOSITION_INLINE : FCGI_DISPOSITION_ATTACHMENT, name, disp);
    if (store_blob_download_target(req->ctx->blobs, sha, disp, target, sizeof target, &r) !=
        FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "req=%s error=\"cannot name the download: %s\"", req->id,
                 r.text);
        fcgi_send_error(req, FG_EIO, NULL, "stored file is unreadable");
        return;
    }
    /* Set here, after the last way this answer could become an error: an
     * error must never carry a lifetime nginx would cache. */
    if (cache_ttl > 0) {
        char v[24];
        snprintf(v, sizeof v, "%lld", cache_ttl);
        fcgi_add_header(req, "X-Accel-Expires", v);
    }
    fcgi_file_reply reply = {target, sha, mime, disp, cache};
    fcgi_send_file(req, &reply);
}

/* "logo final.png" -> "logo final (preview).jpg": the name says what it
 * is and carries the preview's own extension. */
static void preview_name(const store_file *f, char *out, size_t len)
{
    const char *ext = strcmp(f->preview_mime, "image/png") == 0         ? ".png"
                      : strcmp(f->preview_mime, "image/gif") == 0       ? ".gif"
                      : strcmp(f->preview_mime, "image/webp") == 0      ? ".webp"
                      : strcmp(f->preview_mime, "application/pdf") == 0 ? ".pdf"
                      : strcmp(f->preview_mime, "application/zip") == 0 ? ".zip"
                      : strcmp(f->preview_mime, "video/mp4") == 0       ? ".mp4"
                      : strcmp(f->preview_mime, "audio/mpeg") == 0      ? ".mp3"
                      : strcmp(f->preview_mime, "audio/ogg") == 0       ? ".ogg"
                      : strcmp(f->preview_mime, "audio/mp4") == 0       ? ".m4a"
                                                                        : ".jpg";
    const char *dot = strrchr(f->name, '.');
    int stem = dot && dot != f->name ? (int)(dot - f->name) : (int)strlen(f->name);
    snprintf(out, len, "%.*s (preview)%s", stem, f->name, ext);
}

/* How long nginx's preview cache (nginx.conf, README "Preview cache") may
 * replay this allowed decision to the same credential:
 * FILIGRANE_PREVIEW_DECISION_TTL, cut so that the entry dies at least a
 * second before the token does (nginx keeps an entry until the end of its
 * last second). 0, never cached: the setting is 0, or the request is not
 * a plain GET. nginx sends HEAD, Range and conditional requests here
 * directly and caches none of them; they are refused a lifetime here too,
 * so that a request which does not count as a view (fcgi/download_count.h)
 * could never stand in for one that does. */
static long long preview_cache_ttl(const fcgi_req *req, const struct fcgi_claims *who)
{
    static const char *const conditional[] = {
        "HTTP_RANGE", "HTTP_IF_RANGE", "HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH",
        "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE",
    };
    long long ttl = req->ctx->cfg->preview_decision_ttl;
    if (ttl <= 0 || !req->method || strcmp(req->method, "GET") != 0)
        return 0;
    for (size_t i = 0; i < sizeof conditional / sizeof conditional[0]; i++) {
        const char *v = fcgi_param(req, conditional[i]);
        if (v && *v)
            return 0;
    }
    long long left = who->exp - (long long)time(NULL) - 1;
    return left < ttl ? (left > 0 ? left : 0) : ttl;
}

void fcgi_h_file_preview(fcgi_req *req)
{
    struct fcgi_claims who;
    store_order o;
    store_file f;
    if (!load_file(req, ORD_PREVIEW, &who, &o, &f))
        return;
    if (strcmp(f.preview, STORE_PREVIEW_READY) != 0) {
        char msg[FG_REASON_MAX + 64];
        snprintf(msg, sizeof msg, "no preview: the file is %s%s%s", f.preview,
                 f.reason[0] ? ": " : "", f.reason);
        fcgi_send_error(req, FG_ESTATE, "no_preview", msg);
        return;
    }
    char name[FG_MAX_FILE_NAME + 32];
    preview_name(&f, name, sizeof name);
    fcgi_metric_inc(FCGI_M_DOWNLOADS_PREVIEW);
    record_buyer(req, &who, &f, false);
    /* Previews may be cached by the browser but must be revalidated: a
     * cancelled order revokes them. */
    send_blob(req, f.preview_sha256, f.preview_mime, name, true, "private, no-cache",
              preview_cache_ttl(req, &who));
}

/* GET /v1/files/{file}/poster: the preview's companion image (a video's
 * poster frame, an audio file's waveform), under the preview's rules and
 * headers. It is a thumbnail shown beside the preview, so it counts as no
 * view of it: the buyer's views are counted on the preview itself. */
void fcgi_h_file_poster(fcgi_req *req)
{
    struct fcgi_claims who;
    store_order o;
    store_file f;
    if (!load_file(req, ORD_PREVIEW, &who, &o, &f))
        return;
    if (strcmp(f.preview, STORE_PREVIEW_READY) != 0 || !f.poster_sha256[0]) {
        fcgi_send_error(req, FG_ENOTFOUND, "no_poster", "this file's preview has no poster");
        return;
    }
    char name[FG_MAX_FILE_NAME + 32];
    const char *dot = strrchr(f.name, '.');
    int stem = dot && dot != f.name ? (int)(dot - f.name) : (int)strlen(f.name);
    snprintf(name, sizeof name, "%.*s (poster).jpg", stem, f.name);
    send_blob(req, f.poster_sha256, f.poster_mime, name, true, "private, no-cache", 0);
}

void fcgi_h_file_original(fcgi_req *req)
{
    struct fcgi_claims who;
    store_order o;
    store_file f;
    if (!load_file(req, ORD_ORIGINAL, &who, &o, &f))
        return;
    if (!record_buyer(req, &who, &f, true))
        return;
    fcgi_metric_inc(FCGI_M_DOWNLOADS_ORIGINAL);
    send_blob(req, f.sha256, f.mime, f.name, false, "private, no-store", 0);
}
