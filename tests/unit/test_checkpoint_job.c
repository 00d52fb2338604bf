/* Audit checkpoints as jobs (orders/checkpoint_job.c on storage/jobs.c and
 * storage/audit.c): a job is asked for only when a chain's head moved, at
 * most one is active, a claimed one writes the checkpoint and ends done,
 * and FILIGRANE_CHECKPOINT_INTERVAL is checked at its edges. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <time.h>

#include "orders/checkpoint_job.h"
#include "storage/audit.h"
#include "storage/jobs.h"
#include "storage/meta.h"

#define LEASE 60000LL

static void append(store_meta *m, const char *order)
{
    fg_reason r = {""};
    if (store_audit_append(m, order, "order-system", "order.created", NULL, NULL, NULL, &r))
        TAP_FAIL("append: %s", r.text);
}

TEST("a checkpoint job is asked for only when a head moved, and only one at a time")
{
    struct db d;
    fg_reason r = {""};
    bool added = true;
    int64_t id = 0, n = -1;
    db_open(&d);
    CHECK_INT(orders_checkpoint_job_schedule(d.m, 0, &added, &id, &r), FG_OK);
    CHECK(!added);
    CHECK_INT(id, 0);
    append(d.m, "ord-1");
    CHECK_INT(orders_checkpoint_job_schedule(d.m, 0, &added, &id, &r), FG_OK);
    CHECK(added);
    CHECK(id > 0);
    append(d.m, "ord-2");
    CHECK_INT(orders_checkpoint_job_schedule(d.m, 0, &added, NULL, &r), FG_OK);
    CHECK(!added);
    CHECK_INT(store_job_count(d.m, STORE_JOB_PENDING, &n, &r), FG_OK);
    CHECK_INT(n, 1);
    db_close(&d);
}

TEST("a claimed checkpoint job checkpoints every moved head and ends done")
{
    struct db d;
    fg_reason r = {""};
    store_job job;
    bool got = false, added = false;
    orders_checkpoint_outcome out;
    store_audit_report rep;
    db_open(&d);
    append(d.m, "ord-1");
    append(d.m, "ord-2");
    append(d.m, NULL);
    CHECK_INT(orders_checkpoint_job_schedule(d.m, 0, &added, NULL, &r), FG_OK);
    CHECK_INT(store_job_claim(d.m, "t/1", (int64_t)time(NULL) * 1000 + 1000, LEASE, &job, &got, &r), FG_OK);
    CHECK(got);
    CHECK_STR(job.kind, STORE_JOB_CHECKPOINT);
    CHECK_INT(orders_checkpoint_job_run(d.m, &job, "t/1", &out, &r), FG_OK);
    CHECK(out.recorded);
    CHECK(!out.failed);
    CHECK_INT(out.stats.checkpoints, 1);
    CHECK_INT(out.stats.heads, 3);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.checkpoints, 1);
    /* Nothing moved since: no job. */
    CHECK_INT(orders_checkpoint_job_schedule(d.m, 0, &added, NULL, &r), FG_OK);
    CHECK(!added);
    store_job_list l = {0};
    CHECK_INT(store_job_list_get(d.m, STORE_JOB_DONE, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, 1);
    store_job_list_release(&l);
    /* A job of another kind is not run. */
    snprintf(job.kind, sizeof job.kind, "%s", STORE_JOB_PURGE);
    CHECK_INT(orders_checkpoint_job_run(d.m, &job, "t/1", &out, &r), FG_EUSAGE);
    db_close(&d);
}

TEST("FILIGRANE_CHECKPOINT_INTERVAL: 60 s by default, 1 s to 1 d, named when refused")
{
    static const struct {
        const char *v;
        fg_result want;
        long long s;
    } rows[] = {
        {NULL, FG_OK, 60},     {"", FG_OK, 60},        {"1", FG_OK, 1},
        {"1s", FG_OK, 1},      {"5m", FG_OK, 300},     {"1d", FG_OK, 86400},
        {"86400", FG_OK, 86400}, {"0", FG_EUSAGE, 0},  {"86401", FG_EUSAGE, 0},
        {"2d", FG_EUSAGE, 0},  {"-1", FG_EUSAGE, 0},   {"soon", FG_EUSAGE, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fg_reason r = {""};
        long long s = -1;
        if (rows[i].v)
            setenv("FILIGRANE_CHECKPOINT_INTERVAL", rows[i].v, 1);
        else
            unsetenv("FILIGRANE_CHECKPOINT_INTERVAL");
        fg_result rc = orders_checkpoint_interval_load(&s, &r);
        if (rc != rows[i].want || (rc == FG_OK && s != rows[i].s))
            TAP_FAIL("%s: got %s %lld (%s)", rows[i].v ? rows[i].v : "(unset)",
                     fg_result_name(rc), s, r.text);
        if (rc != FG_OK)
            CHECK(strstr(r.text, "FILIGRANE_CHECKPOINT_INTERVAL") != NULL);
    }
    unsetenv("FILIGRANE_CHECKPOINT_INTERVAL");
}
