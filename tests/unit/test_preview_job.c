/* What a preview job records (orders/preview_job.c) on a real store, with
 * no stamping: the outcome is guarded by the job's lease, and a job whose
 * runners died too often fails its file, its audit entry and its
 * delivery's event in one transaction, without stamping again. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <time.h>

#include "orders/delivery.h"
#include "orders/preview_job.h"
#include "storage/audit.h"
#include "storage/blob.h"
#include "storage/blob_refs.h"
#include "storage/jobs.h"

#define T0 ((int64_t)time(NULL) * 1000 + 5000)
#define LEASE 1000LL

struct world {
    struct db d;
    char scratch[300];
    store_blob *b;
    char file_id[STORE_FILE_ID_MAX];
    orders_preview_env env;
};

static void world_open(struct world *w)
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
    fputs("not really a photo", f);
    fclose(f);
    if (store_blob_hash_file(path, hex, NULL, &r) || store_blob_ref_touch(w->d.m, hex, &r) ||
        store_blob_put_file(w->b, path, hex, NULL, NULL, &r))
        TAP_FAIL("put: %s", r.text);
    CHECK_INT(store_order_create(w->d.m, "ord-1", "s-1", "b-1", NULL, NULL, NULL, &created, &r),
              FG_OK);
    orders_file_in in;
    memset(&in, 0, sizeof in);
    snprintf(in.name, sizeof in.name, "photo.jpg");
    snprintf(in.sha256, sizeof in.sha256, "%s", hex);
    in.size = 18;
    snprintf(in.mime, sizeof in.mime, "image/jpeg");
    snprintf(in.kind, sizeof in.kind, "image");
    size_t jobs = 0;
    CHECK_INT(orders_delivery_record(w->d.m, "ord-1", "seller:s-1", NULL, &in, 1, NULL, NULL, &number, &jobs,
                                     &r),
              FG_OK);
    CHECK_INT(jobs, 1);
    snprintf(w->file_id, sizeof w->file_id, "%s", in.id);
    /* No stamper: a test that reached it would fail on this path. */
    snprintf(w->scratch, sizeof w->scratch, "%s/tmp", w->d.dir);
    w->env = (orders_preview_env){.blobs = w->b, .scratch = w->scratch,
                                  .cli = "/nonexistent/stamper",
                                  .mark_template = "x",
                                  .mark_key = "mark-key-0123456789-abcdefghij-xyz",
                                  .sandbox = NULL, .max_attempts = 1};
}

static void world_close(struct world *w)
{
    store_blob_free(w->b);
    db_close(&w->d);
}

static int count_action(store_meta *m, const char *action)
{
    store_audit_list l = {0};
    fg_reason r = {""};
    int n = 0;
    if (store_audit_list_get(m, "ord-1", 0, 0, &l, &r) != FG_OK)
        TAP_FAIL("audit: %s", r.text);
    for (size_t i = 0; i < l.n; i++)
        n += strcmp(l.items[i].action, action) == 0;
    store_audit_list_release(&l);
    return n;
}

static int count_events(store_meta *m, const char *type)
{
    store_outbox_list l = {0};
    fg_reason r = {""};
    int n = 0;
    if (store_outbox_due(m, INT64_MAX / 2, 0, &l, &r) != FG_OK)
        TAP_FAIL("outbox: %s", r.text);
    for (size_t i = 0; i < l.n; i++)
        n += strcmp(l.items[i].type, type) == 0;
    store_outbox_list_release(&l);
    return n;
}

TEST("a runner that lost its lease records nothing; the holder records once")
{
    struct world w;
    store_job stale, held;
    store_file f;
    fg_reason r = {""};
    bool got = false;
    orders_preview_outcome out;
    world_open(&w);
    int64_t t0 = T0;
    CHECK_INT(store_job_claim(w.d.m, "a", t0, LEASE, &stale, &got, &r), FG_OK);
    CHECK(got);
    CHECK_INT(store_job_claim(w.d.m, "b", t0 + LEASE, LEASE, &held, &got, &r), FG_OK);
    CHECK(got);
    CHECK_INT(held.attempts, 2);
    /* a comes back: its outcome is refused, nothing is written. (Its
     * copy counts past the attempts, so that no stamper runs here: the
     * recording is what is tested.) */
    stale.attempts = 9;
    CHECK_INT(orders_preview_job_run(&w.env, w.d.m, &stale, "a", &out, &r), FG_OK);
    CHECK(!out.recorded);
    CHECK_INT(store_file_get(w.d.m, w.file_id, &f, &r), FG_OK);
    CHECK_STR(f.preview, STORE_PREVIEW_PROCESSING);
    CHECK_INT(count_action(w.d.m, "file.preview"), 0);
    CHECK_INT(count_events(w.d.m, "delivery.failed") + count_events(w.d.m, "delivery.ready"), 0);
    /* b holds it: its second claim is past FILIGRANE_JOB_ATTEMPTS (1). */
    CHECK_INT(orders_preview_job_run(&w.env, w.d.m, &held, "b", &out, &r), FG_OK);
    CHECK(out.recorded && !out.stamped);
    CHECK_STR(out.state, STORE_PREVIEW_FAILED);
    CHECK_INT(store_file_get(w.d.m, w.file_id, &f, &r), FG_OK);
    CHECK_STR(f.preview, STORE_PREVIEW_FAILED);
    CHECK(strstr(f.reason, "interrupted 1 times") != NULL);
    CHECK_INT(count_action(w.d.m, "file.preview"), 1);
    CHECK_INT(count_events(w.d.m, "delivery.failed"), 1);
    /* And never twice. */
    CHECK_INT(orders_preview_job_run(&w.env, w.d.m, &held, "b", &out, &r), FG_OK);
    CHECK(!out.recorded);
    CHECK_INT(count_action(w.d.m, "file.preview"), 1);
    CHECK_INT(count_events(w.d.m, "delivery.failed"), 1);
    world_close(&w);
}

TEST("a delivery's state follows its files; nothing to preview is ready with its event")
{
    struct world w;
    fg_reason r = {""};
    store_file_list l = {0};
    int number = 0;
    world_open(&w);
    CHECK_INT(store_file_list_delivery(w.d.m, "ord-1", 1, &l, &r), FG_OK);
    CHECK_STR(orders_delivery_state(&l, "ord-1", 1), ORDERS_DELIVERY_PROCESSING);
    store_file_list_release(&l);
    CHECK_INT(count_events(w.d.m, "delivery.ready"), 0);
    orders_file_in in;
    memset(&in, 0, sizeof in);
    snprintf(in.name, sizeof in.name, "notes.txt");
    snprintf(in.sha256, sizeof in.sha256, "%064d", 0);
    in.size = 3;
    snprintf(in.mime, sizeof in.mime, "text/plain");
    snprintf(in.kind, sizeof in.kind, "other");
    size_t jobs = 9;
    CHECK_INT(orders_delivery_record(w.d.m, "ord-1", "seller:s-1", NULL, &in, 1, NULL, NULL, &number, &jobs,
                                     &r),
              FG_OK);
    CHECK_INT(number, 2);
    CHECK_INT(jobs, 0);
    CHECK_INT(store_file_list_delivery(w.d.m, "ord-1", 2, &l, &r), FG_OK);
    CHECK_STR(orders_delivery_state(&l, "ord-1", 2), ORDERS_DELIVERY_READY);
    store_file_list_release(&l);
    CHECK_INT(count_events(w.d.m, "delivery.ready"), 1);
    world_close(&w);
}

TEST("a closed order takes no delivery, and no job is left behind")
{
    struct world w;
    fg_reason r = {""};
    int number = 0;
    int64_t n = -1;
    world_open(&w);
    const char *from[] = {STORE_STATE_OPEN, NULL};
    CHECK_INT(store_order_set_state(w.d.m, "ord-1", STORE_STATE_CANCELLED, from, NULL, NULL, &r),
              FG_OK);
    orders_file_in in;
    memset(&in, 0, sizeof in);
    snprintf(in.name, sizeof in.name, "late.jpg");
    snprintf(in.sha256, sizeof in.sha256, "%064d", 1);
    in.size = 3;
    snprintf(in.mime, sizeof in.mime, "image/jpeg");
    snprintf(in.kind, sizeof in.kind, "image");
    CHECK_INT(orders_delivery_record(w.d.m, "ord-1", "seller:s-1", NULL, &in, 1, NULL, NULL, &number, NULL, &r),
              FG_ESTATE);
    CHECK_INT(store_job_count(w.d.m, STORE_JOB_PENDING, &n, &r), FG_OK);
    CHECK_INT(n, 1); /* the first delivery's only */
    world_close(&w);
}

TEST("the stamper's --max-pages by kind: excerpts for text and office, the order's pages, the cap")
{
    static const struct {
        const char *kind;
        int excerpt, max, order_pages, want;
    } rows[] = {
        {"text", 3, 200, 0, 3},        /* the excerpt by default */
        {"document", 3, 200, 0, 3},
        {"text", 5, 200, 0, 5},        /* FILIGRANE_EXCERPT_PAGES */
        {"text", 3, 200, 10, 10},      /* the order asks for more */
        {"document", 3, 200, 1, 1},    /* or fewer */
        {"text", 3, 200, 500, 200},    /* capped by FILIGRANE_MAX_PAGES */
        {"text", 300, 200, 0, 200},
        {"pdf", 3, 200, 0, 0},         /* a PDF: the stamper's own default */
        {"pdf", 3, 200, 12, 12},       /* preview_pages applies to PDFs too */
        {"pdf", 3, 50, 120, 50},
        {"image", 3, 200, 12, 0},      /* not paged: nothing passed */
        {"archive", 3, 200, 12, 0},
        {"other", 3, 200, 12, 0},
        {"text", 0, 0, 0, FG_EXCERPT_PAGES_DEFAULT}, /* unset: the defaults */
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        orders_preview_env env = {.excerpt_pages = rows[i].excerpt, .max_pages = rows[i].max};
        int got = orders_preview_pages_for(&env, rows[i].kind, rows[i].order_pages);
        if (got != rows[i].want)
            TAP_FAIL("row %zu (%s, excerpt %d, max %d, order %d): %d, want %d", i, rows[i].kind,
                     rows[i].excerpt, rows[i].max, rows[i].order_pages, got, rows[i].want);
    }
}

TEST("FILIGRANE_EXCERPT_PAGES and FILIGRANE_MAX_PAGES are read at their edges, errors name them")
{
    orders_preview_env env = {0};
    fg_reason r = {{0}};
    unsetenv("FILIGRANE_EXCERPT_PAGES");
    unsetenv("FILIGRANE_MAX_PAGES");
    CHECK_INT(orders_preview_pages_load(&env, &r), FG_OK);
    CHECK_INT(env.excerpt_pages, FG_EXCERPT_PAGES_DEFAULT);
    CHECK_INT(env.max_pages, FG_MAX_PDF_PAGES_DEFAULT);
    setenv("FILIGRANE_EXCERPT_PAGES", "1", 1);
    CHECK_INT(orders_preview_pages_load(&env, &r), FG_OK);
    CHECK_INT(env.excerpt_pages, 1);
    setenv("FILIGRANE_EXCERPT_PAGES", "0", 1);
    CHECK_INT(orders_preview_pages_load(&env, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_EXCERPT_PAGES") != NULL);
    setenv("FILIGRANE_EXCERPT_PAGES", "100000", 1);
    CHECK_INT(orders_preview_pages_load(&env, &r), FG_OK);
    setenv("FILIGRANE_EXCERPT_PAGES", "100001", 1);
    CHECK_INT(orders_preview_pages_load(&env, &r), FG_EUSAGE);
    unsetenv("FILIGRANE_EXCERPT_PAGES");
    setenv("FILIGRANE_MAX_PAGES", "x", 1);
    CHECK_INT(orders_preview_pages_load(&env, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_MAX_PAGES") != NULL);
    unsetenv("FILIGRANE_MAX_PAGES");
}
