#include "orders/preview_job.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/limits.h"
#include "common/setting.h"
#include "orders/delivery.h"
#include "storage/audit.h"
#include "storage/blob_refs.h"
#include "storage/tmp_clean.h"
#include "common/hex.h"
#include "storage/trace.h"
#include "watermark/options.h"
#include "watermark/sandbox.h"
#include "watermark/trace_code.h"
#include "watermark/wm.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
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

fg_result orders_preview_pages_load(orders_preview_env *env, fg_reason *r)
{
    long long excerpt = FG_EXCERPT_PAGES_DEFAULT, max = FG_MAX_PDF_PAGES_DEFAULT;
    fg_result rc;
    if ((rc = fg_env_count("FILIGRANE_EXCERPT_PAGES", false, 1, FG_MAX_PREVIEW_PAGES, &excerpt,
                           r)) != FG_OK ||
        (rc = fg_env_count("FILIGRANE_MAX_PAGES", false, 1, FG_MAX_PREVIEW_PAGES, &max, r)) !=
            FG_OK)
        return rc;
    env->excerpt_pages = (int)excerpt;
    env->max_pages = (int)max;
    return FG_OK;
}

int orders_preview_pages_for(const orders_preview_env *env, const char *kind, int preview_pages)
{
    int max = env->max_pages > 0 ? env->max_pages : FG_MAX_PDF_PAGES_DEFAULT;
    int n;
    if (strcmp(kind, "text") == 0 || strcmp(kind, "document") == 0)
        n = preview_pages > 0         ? preview_pages
            : env->excerpt_pages > 0 ? env->excerpt_pages
                                     : FG_EXCERPT_PAGES_DEFAULT;
    else if (strcmp(kind, "pdf") == 0)
        n = preview_pages;
    else
        return 0;
    return n > max ? max : n;
}

/* A companion image is a picture and nothing else: JPEG only. */
static fg_result poster_type_allowed(const char *mime, fg_reason *r)
{
    if (strcmp(mime, "image/jpeg") == 0)
        return FG_OK;
    return fg_fail(r, FG_ECORRUPT, "the stamper wrote a poster of type %.60s, which is not served",
                   mime);
}

/* The limits for the file's kind. */
static const wm_sandbox_limits *limits_for(const orders_preview_env *env, const char *kind)
{
    const wm_sandbox_limits *l = NULL;
    if (strcmp(kind, "video") == 0)
        l = env->sandbox_video;
    else if (strcmp(kind, "audio") == 0)
        l = env->sandbox_audio;
    else if (strcmp(kind, "document") == 0)
        l = env->sandbox_document;
    return l ? l : env->sandbox;
}

/* The companion image at path, if the stamper wrote one: stored like the
 * preview (registered first, then put) and *hex, *mime set; none leaves
 * them "". */
static fg_result store_poster(const orders_preview_env *env, store_meta *m, const char *path,
                              char hex[STORE_HEX_MAX], char mime[WM_MIME_MAX], fg_reason *r)
{
    wm_type type;
    struct stat st;
    fg_result rc;
    hex[0] = mime[0] = '\0';
    if (lstat(path, &st) != 0)
        return FG_OK;
    if (!S_ISREG(st.st_mode))
        return fg_fail(r, FG_ECORRUPT, "the stamper's poster is not a regular file");
    if ((rc = wm_detect_file(path, &type, r)) == FG_OK &&
        (rc = poster_type_allowed(type.mime, r)) == FG_OK &&
        (rc = store_blob_hash_file(path, hex, NULL, r)) == FG_OK &&
        (rc = store_blob_ref_touch(m, hex, r)) == FG_OK &&
        (rc = store_blob_put_file(env->blobs, path, hex, hex, NULL, r)) == FG_OK)
        snprintf(mime, WM_MIME_MAX, "%s", type.mime);
    if (rc != FG_OK)
        hex[0] = '\0';
    return rc;
}

/* The stamper's arguments for file f of order o: every one is built here,
 * and only here. The strings live in the caller's buffers. */
typedef struct stamp_args {
    char v_order[FG_MAX_ID + 8];
    char v_buyer[FG_MAX_BUYER_NAME + 8];
    char v_date[32];
    char v_seed[24];
    char env_salt[32 + STORE_HEX_MAX];
    char v_trace[24];
    char env_trace[64 + 2 * WM_TRACE_KEY_BYTES];
    char pages[16];
    const char *argv[22];
    const char *envp[3];
} stamp_args;

static fg_result stamp_args_init(stamp_args *a, const orders_preview_env *env, store_meta *m,
                                 const store_order *o, const store_file *f, fg_reason *r)
{
    char date[16];
    time_t t = time(NULL);
    struct tm tm;
    size_t n = 0;
    /* Where the mark goes: keyed per file, order and buyer, so nothing a
     * buyer sees lets him recompute it, and one file sold twice is marked
     * in two places. The child gets the seed, never the key. */
    uint64_t seed = 0;
    fg_result rc = wm_mark_seed(env->mark_key, strlen(env->mark_key), f->sha256, o->id,
                                o->buyer_id, &seed, r);
    if (rc != FG_OK)
        return rc;
    snprintf(a->v_seed, sizeof a->v_seed, "%llu", (unsigned long long)seed);
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    snprintf(a->v_order, sizeof a->v_order, "order=%s", o->id);
    snprintf(a->v_buyer, sizeof a->v_buyer, "buyer=%s",
             o->buyer_name[0] ? o->buyer_name : o->buyer_id);
    snprintf(a->v_date, sizeof a->v_date, "date=%s", date);
    a->argv[n++] = "--text";
    a->argv[n++] = env->mark_template;
    a->argv[n++] = "--var";
    a->argv[n++] = a->v_order;
    a->argv[n++] = "--var";
    a->argv[n++] = a->v_buyer;
    a->argv[n++] = "--var";
    a->argv[n++] = a->v_date;
    a->argv[n++] = "--seed";
    a->argv[n++] = a->v_seed;
    /* The traceable mark (watermark/trace.h): the payload, recorded in
     * the store first so that trace can name this preview; the child gets
     * the pattern key, never the mark key. */
    uint64_t payload = 0;
    unsigned char pk[WM_TRACE_KEY_BYTES];
    char pk_hex[2 * WM_TRACE_KEY_BYTES + 1];
    if ((rc = wm_trace_payload(env->mark_key, strlen(env->mark_key), o->id, o->buyer_id, f->id,
                               &payload, r)) != FG_OK ||
        (rc = store_trace_put(m, payload, o->id, o->buyer_id, f->id, r)) != FG_OK ||
        (rc = wm_trace_pattern_key(env->mark_key, strlen(env->mark_key), pk, r)) != FG_OK)
        return rc;
    fg_hex_encode(pk, sizeof pk, pk_hex);
    snprintf(a->v_trace, sizeof a->v_trace, "%016llx", (unsigned long long)payload);
    snprintf(a->env_trace, sizeof a->env_trace, "%s=%s", WM_TRACE_PATTERN_ENV, pk_hex);
    OPENSSL_cleanse(pk, sizeof pk);
    OPENSSL_cleanse(pk_hex, sizeof pk_hex);
    a->argv[n++] = "--trace-payload";
    a->argv[n++] = a->v_trace;
    /* Text, code and office previews are excerpts (DESIGN, Settled
     * details): the pages shown are chosen here, by kind, and the stamper
     * says on a last page how many are held back. */
    int pages = orders_preview_pages_for(env, f->kind, o->preview_pages);
    if (pages > 0) {
        snprintf(a->pages, sizeof a->pages, "%d", pages);
        a->argv[n++] = "--max-pages";
        a->argv[n++] = a->pages;
    }
    a->argv[n] = NULL;
    /* An archive's manifest commits to its entries under the file's salt
     * (common/commit.h); other kinds have no use for it. The salt opens
     * the commitments the buyer holds, so it goes in the environment
     * (FILIGRANE_STAMP_SALT), which only our own user can read, never in
     * the command line, which every local user can. */
    size_t e = 0;
    a->envp[e++] = a->env_trace;
    if (f->salt[0] && strcmp(f->kind, "archive") == 0) {
        snprintf(a->env_salt, sizeof a->env_salt, "FILIGRANE_STAMP_SALT=%s", f->salt);
        a->envp[e++] = a->env_salt;
    }
    a->envp[e] = NULL;
    return FG_OK;
}

/* Runs the stamper; on FG_OK the preview is stored and *hex, *mime set. */
static fg_result stamp(const orders_preview_env *env, store_meta *m, const store_order *o,
                       const store_file *f, char hex[STORE_HEX_MAX], char mime[WM_MIME_MAX],
                       char poster_hex[STORE_HEX_MAX], char poster_mime[WM_MIME_MAX],
                       orders_preview_outcome *out, fg_reason *r)
{
    char in[4096], dst[4200], dir[4096], poster[4300];
    stamp_args args;
    if (!env->scratch || !*env->scratch)
        return fg_fail(r, FG_EUSAGE, "no scratch directory for the preview (FILIGRANE_SCRATCH)");
    /* The original as a local file for the stamper (S3: a copy in the
     * scratch directory), given back whatever happens below. */
    fg_result rc = store_blob_acquire_local(env->blobs, f->sha256, in, sizeof in, r);
    if (rc != FG_OK)
        return rc;
    /* A directory of its own for each job: the sandboxed child may write
     * only there (watermark/landlock.h), not beside other uploads in the
     * temp directory. No extension on the output: the stamper picks the
     * format from the content (JPEG, PNG with alpha, GIF, PDF, ZIP). A
     * runner killed before it removes it leaves a stamp- directory that the
     * next start removes (storage/tmp_clean.h). */
    if (snprintf(dir, sizeof dir, "%s/stamp-XXXXXX", env->scratch) >= (int)sizeof dir ||
        !mkdtemp(dir)) {
        store_blob_release_local(env->blobs, in);
        return fg_fail(r, FG_EIO, "cannot make a working directory for the preview");
    }
    snprintf(dst, sizeof dst, "%s/preview", dir);
    snprintf(poster, sizeof poster, "%s%s", dst, WM_POSTER_SUFFIX);
    if ((rc = stamp_args_init(&args, env, m, o, f, r)) != FG_OK) {
        store_tmp_remove_tree(dir);
        store_blob_release_local(env->blobs, in);
        return rc;
    }
    double t0 = now_s();
    rc = wm_sandbox_stamp_env(env->cli, in, dst, args.argv, args.envp, limits_for(env, f->kind),
                              r);
    out->stamped = true;
    out->stamp_seconds = now_s() - t0;
    wm_type type;
    /* The preview's blob is registered before it is stored
     * (storage/blob_refs.h): if its row is never written (the lease was
     * lost, the worker died), the collector removes it after the grace
     * period. */
    if (rc == FG_OK && (rc = wm_detect_file(dst, &type, r)) == FG_OK &&
        (rc = preview_type_allowed(type.mime, r)) == FG_OK &&
        (rc = store_blob_hash_file(dst, hex, NULL, r)) == FG_OK &&
        (rc = store_blob_ref_touch(m, hex, r)) == FG_OK &&
        (rc = store_blob_put_file(env->blobs, dst, hex, hex, NULL, r)) == FG_OK &&
        (rc = store_poster(env, m, poster, poster_hex, poster_mime, r)) == FG_OK)
        snprintf(mime, WM_MIME_MAX, "%s", type.mime);
    /* Whatever the outcome (stored, failed, timed out, the child killed
     * or crashed), the job's directory goes, with anything the child left
     * in it: its half-written temp files, its scratch files (its TMPDIR is
     * this directory). */
    store_tmp_remove_tree(dir);
    store_blob_release_local(env->blobs, in);
    return rc;
}

/* The outcome, in one transaction: the job's end first (it fails unless
 * this runner still holds the job, and then nothing is written: whoever
 * holds it now records its own outcome), then the file, its audit entry
 * and, for the delivery's last file, its event. */
static fg_result record(store_meta *m, const store_job *job, const char *owner,
                        fg_result stamped, const char *hex, const char *mime,
                        const char *poster_hex, const char *poster_mime,
                        orders_preview_outcome *out, fg_reason *r)
{
    store_file f;
    json_t *d = NULL;
    char *detail = NULL;
    const char *state = stamped == FG_OK               ? STORE_PREVIEW_READY
                        : stamped == FG_EUNSUPPORTED ? STORE_PREVIEW_WITHHELD
                                                       : STORE_PREVIEW_FAILED;
    out->state = state;
    fg_result rc = store_meta_begin(m, r);
    if (rc != FG_OK)
        return rc;
    rc = store_job_finish(m, job->id, owner,
                          stamped == FG_OK ? STORE_JOB_DONE : STORE_JOB_FAILED,
                          stamped == FG_OK ? NULL : out->why.text, r);
    if (rc == FG_ESTATE) {
        store_meta_rollback(m);
        out->recorded = false;
        return FG_OK;
    }
    if (rc != FG_OK || (rc = store_file_get(m, job->subject, &f, r)) != FG_OK)
        goto fail;
    out->rebuild = strcmp(f.preview, STORE_PREVIEW_PROCESSING) != 0;
    /* A rebuild that fails keeps the preview the file has: the buyer
     * keeps seeing the last good one, and the trail says why. */
    if (stamped == FG_OK || !out->rebuild)
        rc = store_file_set_preview(m, f.id, state, stamped == FG_OK ? NULL : out->why.text,
                                    stamped == FG_OK ? hex : NULL,
                                    stamped == FG_OK ? mime : NULL, r);
    /* A new preview brings its own companion, or none: an old poster
     * must not stand beside a new preview. */
    if (rc == FG_OK && stamped == FG_OK)
        rc = store_file_set_poster(m, f.id, poster_hex, poster_mime, r);
    if (rc != FG_OK)
        goto fail;
    d = json_pack("{s:s, s:s, s:s, s:s}", "file_id", f.id, "preview", state, "preview_sha256",
                  stamped == FG_OK ? hex : "", "reason", stamped == FG_OK ? "" : out->why.text);
    if (d && stamped == FG_OK && poster_hex[0] &&
        json_object_set_new(d, "poster_sha256", json_string(poster_hex)) != 0) {
        json_decref(d);
        d = NULL;
    }
    if (d && out->rebuild &&
        (json_object_set_new(d, "rebuild", json_true()) != 0 ||
         json_object_set_new(d, "previous_sha256", json_string(f.preview_sha256)) != 0)) {
        json_decref(d);
        d = NULL;
    }
    detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!detail) {
        rc = fg_fail(r, FG_EIO, "cannot write the file.preview entry");
        goto fail;
    }
    if ((rc = store_audit_append(m, f.order_id, "filigrane", "file.preview", detail, NULL, NULL,
                                 r)) != FG_OK)
        goto fail;
    /* Only the move out of "processing" can finish a delivery: a rebuild
     * announces nothing again. */
    if (!out->rebuild &&
        (rc = orders_delivery_announce_if_done(m, f.order_id, f.delivery, &out->announced, r)) !=
            FG_OK)
        goto fail;
    if ((rc = store_meta_commit(m, r)) != FG_OK)
        goto out;
    out->recorded = true;
    goto out;
fail:
    store_meta_rollback(m);
out:
    json_decref(d);
    free(detail);
    return rc;
}

fg_result orders_preview_job_run(const orders_preview_env *env, store_meta *m,
                                 const store_job *job, const char *owner,
                                 orders_preview_outcome *out, fg_reason *r)
{
    store_file f;
    store_order o;
    char hex[STORE_HEX_MAX] = "", mime[WM_MIME_MAX] = "";
    char poster_hex[STORE_HEX_MAX] = "", poster_mime[WM_MIME_MAX] = "";
    memset(out, 0, sizeof *out);
    fg_result rc;
    if (strcmp(job->kind, STORE_JOB_PREVIEW) != 0)
        return fg_fail(r, FG_EUSAGE, "job %lld is not a preview job", (long long)job->id);
    if ((rc = store_file_get(m, job->subject, &f, r)) == FG_OK)
        rc = store_order_get(m, f.order_id, &o, r);
    if (rc == FG_ENOTFOUND) {
        /* Nothing left to preview (the file was purged): the job ends. */
        snprintf(out->why.text, sizeof out->why.text, "%s", r->text);
        rc = store_meta_begin(m, r);
        if (rc == FG_OK && (rc = store_job_finish(m, job->id, owner, STORE_JOB_FAILED,
                                                  out->why.text, r)) == FG_OK)
            return store_meta_commit(m, r);
        store_meta_rollback(m);
        return rc == FG_ESTATE ? FG_OK : rc;
    }
    if (rc != FG_OK)
        return rc;
    fg_result st;
    if (env->max_attempts > 0 && job->attempts > env->max_attempts)
        st = fg_fail(&out->why, FG_ECRASH,
                     "stamping was interrupted %d times (FILIGRANE_JOB_ATTEMPTS)",
                     job->attempts - 1);
    else
        st = stamp(env, m, &o, &f, hex, mime, poster_hex, poster_mime, out, &out->why);
    return record(m, job, owner, st, hex, mime, poster_hex, poster_mime, out, r);
}
