/* A preview job's companion image (orders/preview_job.c): the poster the
 * stamper writes at OUT.poster is stored as a blob and recorded with the
 * preview, only as JPEG, never when the preview failed; and the job runs
 * the stamper with the limits of the file's kind. The stamper here is a
 * shell script that writes fixed bytes (FAKE_MODE says which), so what is
 * tested is the job, not a decoder. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "orders/delivery.h"
#include "orders/preview_job.h"
#include "storage/blob.h"
#include "storage/blob_refs.h"
#include "storage/jobs.h"
#include "watermark/sandbox.h"

#define T0 ((int64_t)time(NULL) * 1000 + 5000)

/* Arguments: stamp --sandboxed [options] IN OUT. An MP4 header and a JPEG
 * header are enough for libmagic. */
static const char stamper[] =
    "#!/bin/sh\n"
    "for a; do out=$a; done\n"
    "mp4() { printf '\\000\\000\\000\\030ftypisom\\000\\000\\002\\000isomiso2avc1mp41"
    "\\000\\000\\000\\010free' > \"$1\"; }\n"
    "jpg() { printf '\\377\\330\\377\\340\\000\\020JFIF\\000\\001\\001\\000\\000\\001"
    "\\000\\001\\000\\000\\377\\331' > \"$1\"; }\n"
    "case \"$FAKE_MODE\" in\n"
    "poster) mp4 \"$out\"; jpg \"$out.poster\" ;;\n"
    "none) mp4 \"$out\" ;;\n"
    "html) mp4 \"$out\"; printf '<html><script>alert(1)</script></html>' > \"$out.poster\" ;;\n"
    "fail) jpg \"$out.poster\"; echo 'filigrane: in: broken on purpose' >&2; exit 4 ;;\n"
    "slow) sleep 3; mp4 \"$out\"; jpg \"$out.poster\" ;;\n"
    "esac\n";

struct world {
    struct db d;
    char dir_cli[300], cli[340], scratch[300];
    store_blob *b;
    char file_id[STORE_FILE_ID_MAX];
    wm_sandbox_limits general, video;
    orders_preview_env env;
};

static void world_open(struct world *w, const char *kind)
{
    fg_reason r = {""};
    char path[400], hex[STORE_HEX_MAX];
    int number = 0;
    bool created;
    memset(w, 0, sizeof *w);
    db_open(&w->d);
    if (store_blob_open_fs(w->d.dir, &w->b, &r))
        TAP_FAIL("blobs: %s", r.text);
    snprintf(path, sizeof path, "%s/tmp/in", w->d.dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    fputs("a clip", f);
    fclose(f);
    if (store_blob_hash_file(path, hex, NULL, &r) || store_blob_ref_touch(w->d.m, hex, &r) ||
        store_blob_put_file(w->b, path, hex, NULL, NULL, &r))
        TAP_FAIL("put: %s", r.text);
    snprintf(w->cli, sizeof w->cli, "%s/stamper.sh", w->d.dir);
    f = fopen(w->cli, "w");
    CHECK(f != NULL);
    fputs(stamper, f);
    fclose(f);
    CHECK(chmod(w->cli, 0755) == 0);
    CHECK_INT(store_order_create(w->d.m, "ord-1", "s-1", "b-1", NULL, NULL, NULL, &created, &r),
              FG_OK);
    orders_file_in in;
    memset(&in, 0, sizeof in);
    snprintf(in.name, sizeof in.name, "clip.mp4");
    snprintf(in.sha256, sizeof in.sha256, "%s", hex);
    in.size = 6;
    snprintf(in.mime, sizeof in.mime, "video/mp4");
    snprintf(in.kind, sizeof in.kind, "%s", kind);
    size_t jobs = 0;
    CHECK_INT(orders_delivery_record(w->d.m, "ord-1", "seller:s-1", NULL, &in, 1, NULL, NULL,
                                     &number, &jobs, &r),
              FG_OK);
    snprintf(w->file_id, sizeof w->file_id, "%s", in.id);
    snprintf(w->scratch, sizeof w->scratch, "%s/tmp", w->d.dir);
    CHECK_INT(wm_sandbox_limits_init(&w->general, &r), FG_OK);
    w->video = w->general;
    w->general.wall_seconds = 1;
    w->video.wall_seconds = 20;
    w->env = (orders_preview_env){.blobs = w->b, .scratch = w->scratch, .cli = w->cli,
                                  .mark_template = "x",
                                  .mark_key = "mark-key-0123456789-abcdefghij-xyz",
                                  .sandbox = &w->general, .sandbox_video = &w->video,
                                  .max_attempts = 3};
}

static void world_close(struct world *w)
{
    store_blob_free(w->b);
    db_close(&w->d);
}

static void run(struct world *w, const char *mode, orders_preview_outcome *out)
{
    fg_reason r = {""};
    store_job job;
    bool got = false;
    setenv("FAKE_MODE", mode, 1);
    CHECK_INT(store_job_claim(w->d.m, "a", T0, 60000, &job, &got, &r), FG_OK);
    CHECK(got);
    CHECK_INT(orders_preview_job_run(&w->env, w->d.m, &job, "a", out, &r), FG_OK);
    CHECK(out->recorded);
}

static int64_t refs(store_meta *m, const char *hex)
{
    fg_reason r;
    int64_t n = -1;
    bool known = false;
    if (store_blob_ref_count(m, hex, &n, &known, &r))
        TAP_FAIL("count: %s", r.text);
    return n;
}

static bool stored(struct world *w, const char *hex)
{
    fg_reason r;
    bool exists = false;
    int64_t size = 0;
    CHECK_INT(store_blob_stat(w->b, hex, &exists, &size, &r), FG_OK);
    return exists;
}

TEST("the stamper's poster is stored as a blob and recorded with the preview")
{
    struct world w;
    fg_reason r;
    store_file f;
    orders_preview_outcome out;
    world_open(&w, "video");
    run(&w, "poster", &out);
    CHECK_STR(out.state, STORE_PREVIEW_READY);
    CHECK_INT(store_file_get(w.d.m, w.file_id, &f, &r), FG_OK);
    CHECK_STR(f.preview_mime, "video/mp4");
    CHECK_STR(f.poster_mime, "image/jpeg");
    CHECK_INT((int)strlen(f.poster_sha256), 64);
    CHECK(strcmp(f.poster_sha256, f.preview_sha256) != 0);
    CHECK(stored(&w, f.poster_sha256));
    CHECK_INT(refs(w.d.m, f.poster_sha256), 1);
    world_close(&w);
}

TEST("a preview without a poster records none, and a rebuild without one clears the old")
{
    struct world w;
    fg_reason r;
    store_file f;
    orders_preview_outcome out;
    world_open(&w, "video");
    run(&w, "poster", &out);
    CHECK_INT(store_file_get(w.d.m, w.file_id, &f, &r), FG_OK);
    char old[STORE_HEX_MAX];
    snprintf(old, sizeof old, "%s", f.poster_sha256);
    CHECK_INT(store_job_add(w.d.m, STORE_JOB_PREVIEW, w.file_id, "ord-1", 0, NULL, NULL, &r),
              FG_OK);
    run(&w, "none", &out);
    CHECK(out.rebuild);
    CHECK_STR(out.state, STORE_PREVIEW_READY);
    CHECK_INT(store_file_get(w.d.m, w.file_id, &f, &r), FG_OK);
    CHECK_STR(f.poster_sha256, "");
    CHECK_STR(f.poster_mime, "");
    CHECK_INT(refs(w.d.m, old), 0);
    world_close(&w);
}

TEST("a poster that is not a JPEG (HTML from a hostile decoder) fails the preview")
{
    struct world w;
    fg_reason r;
    store_file f;
    orders_preview_outcome out;
    world_open(&w, "video");
    run(&w, "html", &out);
    CHECK_STR(out.state, STORE_PREVIEW_FAILED);
    CHECK_INT(store_file_get(w.d.m, w.file_id, &f, &r), FG_OK);
    CHECK(strstr(f.reason, "poster of type text/html") != NULL);
    CHECK_STR(f.poster_sha256, "");
    CHECK_STR(f.preview_sha256, "");
    world_close(&w);
}

TEST("a stamper that fails after writing its poster leaves no poster recorded, stored or on disk")
{
    struct world w;
    fg_reason r;
    store_file f;
    orders_preview_outcome out;
    world_open(&w, "video");
    run(&w, "fail", &out);
    CHECK_STR(out.state, STORE_PREVIEW_FAILED);
    CHECK_INT(store_file_get(w.d.m, w.file_id, &f, &r), FG_OK);
    CHECK(strstr(f.reason, "broken on purpose") != NULL);
    CHECK_STR(f.poster_sha256, "");
    /* The JPEG the fake wrote, made again here: never stored. */
    char cmd[1000], hex[STORE_HEX_MAX];
    snprintf(cmd, sizeof cmd, "cd '%s' && FAKE_MODE=poster '%s' in again", w.d.dir, w.cli);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s/again.poster", w.d.dir);
    CHECK_INT(store_blob_hash_file(cmd, hex, NULL, &r), FG_OK);
    CHECK(!stored(&w, hex));
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep stamp-)\"", w.scratch);
    CHECK(system(cmd) == 0);
    world_close(&w);
}

TEST("a video's preview runs with the video limits, another kind's with the general ones")
{
    struct world w;
    fg_reason r;
    store_file f;
    orders_preview_outcome out;
    world_open(&w, "video");
    run(&w, "slow", &out);
    CHECK_STR(out.state, STORE_PREVIEW_READY);
    world_close(&w);
    world_open(&w, "image");
    run(&w, "slow", &out);
    CHECK_STR(out.state, STORE_PREVIEW_FAILED);
    CHECK_INT(store_file_get(w.d.m, w.file_id, &f, &r), FG_OK);
    CHECK(strstr(f.reason, "timed out after 1 s") != NULL);
    world_close(&w);
}
