#include "fcgi/previews.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fcgi/log.h"
#include "fcgi/metrics.h"
#include "storage/audit.h"
#include "storage/blob_refs.h"
#include "storage/tmp_clean.h"
#include "watermark/options.h"
#include "watermark/wm.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* The types a preview may have. It is served inline under the type
 * libmagic reads from the child's output, and the child is the process
 * that decoded hostile content: a stamper made to write HTML or SVG would
 * otherwise have it served as a page on our origin. */
static const char *const preview_types[] = {
    "image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf",
    "application/zip", "video/mp4", "audio/mpeg", "audio/ogg", "audio/mp4",
};

static fg_result preview_type_allowed(const char *mime, fg_reason *r)
{
    for (size_t i = 0; i < sizeof preview_types / sizeof *preview_types; i++)
        if (strcmp(mime, preview_types[i]) == 0)
            return FG_OK;
    return fg_fail(r, FG_ECORRUPT, "the stamper wrote a preview of type %.60s, which is not served",
                   mime);
}

/* Runs the stamper; on FG_OK the preview is stored and *hex, *mime set. */
static fg_result stamp(fcgi_ctx *ctx, const store_order *o, const store_file *f,
                       char hex[STORE_HEX_MAX], char mime[WM_MIME_MAX], fg_reason *r)
{
    char in[4096], out[4200], date[16];
    char v_order[FG_MAX_ID + 8], v_buyer[FG_MAX_BUYER_NAME + 8], v_date[32];
    fg_result rc = store_blob_local_path(ctx->blobs, f->sha256, in, sizeof in, r);
    if (rc != FG_OK)
        return rc;
    /* A directory of its own for each job: the sandboxed child may write
     * only there (watermark/landlock.h), not beside other uploads in the
     * temp directory. No extension on the output: the stamper picks the
     * format from the content (JPEG, PNG with alpha, GIF, PDF, ZIP). */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/stamp-XXXXXX", store_blob_tmp_dir(ctx->blobs));
    if (!mkdtemp(dir))
        return fg_fail(r, FG_EIO, "cannot make a working directory for the preview");
    snprintf(out, sizeof out, "%s/preview", dir);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    snprintf(v_order, sizeof v_order, "order=%s", o->id);
    snprintf(v_buyer, sizeof v_buyer, "buyer=%s", o->buyer_name[0] ? o->buyer_name : o->buyer_id);
    snprintf(v_date, sizeof v_date, "date=%s", date);
    /* Where the mark goes: keyed per file, order and buyer, so nothing a
     * buyer sees lets him recompute it, and one file sold twice is marked
     * in two places. */
    uint64_t seed = 0;
    char v_seed[24];
    const char *key = ctx->cfg->mark_key;
    if ((rc = wm_mark_seed(key, strlen(key), f->sha256, o->id, o->buyer_id, &seed, r)) !=
        FG_OK) {
        store_tmp_remove_tree(dir);
        return rc;
    }
    snprintf(v_seed, sizeof v_seed, "%llu", (unsigned long long)seed);
    const char *args[] = {"--text", ctx->cfg->mark_template, "--var", v_order, "--var",
                          v_buyer, "--var", v_date, "--seed", v_seed, NULL, NULL, NULL};
    /* An archive's manifest commits to its entries under the file's salt
     * (common/commit.h); other kinds have no use for it. */
    if (f->salt[0] && strcmp(f->kind, "archive") == 0) {
        args[10] = "--salt";
        args[11] = f->salt;
    }
    double t0 = now_ms();
    rc = wm_sandbox_stamp(ctx->cfg->cli, in, out, args, ctx->sandbox, r);
    fcgi_metric_add(FCGI_M_STAMP_MS_TOTAL, (unsigned long long)(now_ms() - t0));
    wm_type type;
    /* The preview's blob is registered before it is stored
     * (storage/blob_refs.h): if its row is never written, the collector
     * removes it after the grace period. */
    if (rc == FG_OK && (rc = wm_detect_file(out, &type, r)) == FG_OK &&
        (rc = preview_type_allowed(type.mime, r)) == FG_OK &&
        (rc = store_blob_hash_file(out, hex, NULL, r)) == FG_OK &&
        (rc = store_blob_ref_touch(ctx->meta, hex, r)) == FG_OK &&
        (rc = store_blob_put_file(ctx->blobs, out, hex, hex, NULL, r)) == FG_OK)
        snprintf(mime, WM_MIME_MAX, "%s", type.mime);
    /* Whatever the outcome (stored, failed, timed out, the child killed
     * or crashed), the job's directory goes, with anything the child left
     * in it: its half-written temp files, its scratch files (its TMPDIR is
     * this directory). */
    store_tmp_remove_tree(dir);
    return rc;
}

void fcgi_preview_make(fcgi_ctx *ctx, const store_order *o, const store_file *f,
                       const char *req_id)
{
    fg_reason r = {{0}}, r2 = {{0}};
    char hex[STORE_HEX_MAX] = "", mime[WM_MIME_MAX] = "";
    fg_result rc = stamp(ctx, o, f, hex, mime, &r);
    /* A type the engine will not preview (it says so with "unsupported")
     * is withheld like any other; everything else that went wrong is a
     * failure, with the reason shown to the seller. */
    const char *state = rc == FG_OK               ? STORE_PREVIEW_READY
                        : rc == FG_EUNSUPPORTED ? STORE_PREVIEW_WITHHELD
                                                : STORE_PREVIEW_FAILED;
    fcgi_metric_inc(rc == FG_OK               ? FCGI_M_PREVIEWS_READY
                    : rc == FG_EUNSUPPORTED ? FCGI_M_PREVIEWS_WITHHELD
                                              : FCGI_M_PREVIEWS_FAILED);
    if (rc != FG_OK)
        fcgi_log(FCGI_LOG_WARN, "req=%s file=%s preview=%s reason=\"%s\"", req_id, f->id, state,
                 r.text);
    json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "file_id", f->id, "preview", state,
                          "preview_sha256", hex, "reason", rc == FG_OK ? "" : r.text);
    char *detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    store_meta *m = ctx->meta;
    fg_result wr = store_meta_begin(m, &r2);
    if (wr == FG_OK)
        wr = store_file_set_preview(m, f->id, state, rc == FG_OK ? NULL : r.text,
                                    rc == FG_OK ? hex : NULL, rc == FG_OK ? mime : NULL, &r2);
    /* No detail, no preview record: never an empty "{}" entry (the file
     * then stays "processing" and the failure is logged below). */
    if (wr == FG_OK)
        wr = detail ? store_audit_append(m, o->id, "filigrane", "file.preview", detail, NULL,
                                         NULL, &r2)
                    : fg_fail(&r2, FG_EIO, "cannot build the audit entry");
    if (wr == FG_OK)
        wr = store_meta_commit(m, &r2);
    if (wr != FG_OK) {
        store_meta_rollback(m);
        fcgi_log(FCGI_LOG_ERROR, "req=%s file=%s error=\"cannot record preview: %s\"", req_id,
                 f->id, r2.text);
    }
    free(detail);
}
