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
#include "watermark/options.h"
#include "watermark/wm.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
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
        rmdir(dir);
        return rc;
    }
    snprintf(v_seed, sizeof v_seed, "%llu", (unsigned long long)seed);
    const char *args[] = {"--text", ctx->cfg->mark_template, "--var", v_order, "--var",
                          v_buyer, "--var", v_date, "--seed", v_seed, NULL};
    double t0 = now_ms();
    rc = wm_sandbox_stamp(ctx->cfg->cli, in, out, args, ctx->sandbox, r);
    fcgi_metric_add(FCGI_M_STAMP_MS_TOTAL, (unsigned long long)(now_ms() - t0));
    wm_type type;
    if (rc == FG_OK && (rc = wm_detect_file(out, &type, r)) == FG_OK &&
        (rc = store_blob_put_file(ctx->blobs, out, NULL, hex, NULL, r)) == FG_OK)
        snprintf(mime, WM_MIME_MAX, "%s", type.mime);
    unlink(out); /* already gone when stored; a leftover otherwise */
    rmdir(dir);
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
    if (wr == FG_OK)
        wr = store_audit_append(m, o->id, "filigrane", "file.preview", detail, NULL, NULL, &r2);
    if (wr == FG_OK)
        wr = store_meta_commit(m, &r2);
    if (wr != FG_OK) {
        store_meta_rollback(m);
        fcgi_log(FCGI_LOG_ERROR, "req=%s file=%s error=\"cannot record preview: %s\"", req_id,
                 f->id, r2.text);
    }
    free(detail);
}
