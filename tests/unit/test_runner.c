/* The job runners (jobs/runner.c): their settings at the edges, and
 * threads that take every job once. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <stdatomic.h>
#include <time.h>

#include "jobs/runner.h"
#include "storage/jobs.h"

static fg_result load(const char *threads, const char *lease, long long timeout, jobs_settings *s,
                      fg_reason *r)
{
    if (threads)
        setenv("FILIGRANE_JOB_THREADS", threads, 1);
    else
        unsetenv("FILIGRANE_JOB_THREADS");
    if (lease)
        setenv("FILIGRANE_JOB_LEASE", lease, 1);
    else
        unsetenv("FILIGRANE_JOB_LEASE");
    return jobs_settings_load(s, timeout, r);
}

TEST("job settings: defaults, 0 runners, and the edges of both")
{
    jobs_settings s;
    fg_reason r = {""};
    CHECK_INT(load(NULL, NULL, 120, &s, &r), FG_OK);
    CHECK_INT(s.threads, 2);
    CHECK_INT(s.lease, 600);
    CHECK_INT(load("0", NULL, 120, &s, &r), FG_OK);
    CHECK_INT(s.threads, 0);
    CHECK_INT(load("64", "10m", 120, &s, &r), FG_OK);
    CHECK_INT(s.threads, 64);
    CHECK_INT(s.lease, 600);
    CHECK_INT(load("65", NULL, 120, &s, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_JOB_THREADS") != NULL);
    CHECK_INT(load("-1", NULL, 120, &s, &r), FG_EUSAGE);
    CHECK_INT(load("two", NULL, 120, &s, &r), FG_EUSAGE);
    CHECK_INT(load(NULL, "121", 120, &s, &r), FG_OK);
    CHECK_INT(s.lease, 121);
    /* A lease the stamping can outlive hands a live job to a second runner. */
    CHECK_INT(load(NULL, "120", 120, &s, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_JOB_LEASE") != NULL &&
          strstr(r.text, "FILIGRANE_STAMP_TIMEOUT") != NULL);
    CHECK_INT(load(NULL, "0", 0, &s, &r), FG_EUSAGE);
    CHECK_INT(load(NULL, "soon", 120, &s, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_JOB_LEASE") != NULL);
    CHECK_INT(load(NULL, NULL, 120, &s, &r), FG_OK);
    CHECK_INT(s.attempts, 3);
    setenv("FILIGRANE_JOB_ATTEMPTS", "1", 1);
    CHECK_INT(load(NULL, NULL, 120, &s, &r), FG_OK);
    CHECK_INT(s.attempts, 1);
    setenv("FILIGRANE_JOB_ATTEMPTS", "100", 1);
    CHECK_INT(load(NULL, NULL, 120, &s, &r), FG_OK);
    CHECK_INT(s.attempts, 100);
    setenv("FILIGRANE_JOB_ATTEMPTS", "0", 1);
    CHECK_INT(load(NULL, NULL, 120, &s, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_JOB_ATTEMPTS") != NULL);
    setenv("FILIGRANE_JOB_ATTEMPTS", "101", 1);
    CHECK_INT(load(NULL, NULL, 120, &s, &r), FG_EUSAGE);
    unsetenv("FILIGRANE_JOB_ATTEMPTS");
    unsetenv("FILIGRANE_JOB_THREADS");
    unsetenv("FILIGRANE_JOB_LEASE");
}

#define NJOBS 40
static atomic_int handled[NJOBS + 1];
static atomic_int total;

static void handler(void *ctx, store_meta *m, const store_job *job, const char *owner,
                    double wait)
{
    fg_reason r = {""};
    (void)ctx;
    (void)wait;
    if (job->id >= 1 && job->id <= NJOBS)
        atomic_fetch_add(&handled[job->id], 1);
    if (store_meta_begin(m, &r) == FG_OK &&
        store_job_finish(m, job->id, owner, STORE_JOB_DONE, NULL, &r) == FG_OK &&
        store_meta_commit(m, &r) == FG_OK)
        atomic_fetch_add(&total, 1);
    else
        store_meta_rollback(m);
}

TEST("two runners take every job once, woken by jobs_wake")
{
    struct db d;
    jobs_settings s = {.threads = 2, .lease = 60};
    jobs_runner *j = NULL;
    fg_reason r = {""};
    char subject[16];
    int64_t n = -1;
    db_open(&d);
    CHECK_INT(jobs_runner_start(&s, d.path, handler, NULL, NULL, &j, &r), FG_OK);
    for (int i = 0; i < NJOBS; i++) {
        snprintf(subject, sizeof subject, "f-%d", i);
        CHECK_INT(store_job_add(d.m, STORE_JOB_PREVIEW, subject, NULL, 0, NULL, NULL, &r), FG_OK);
        jobs_wake();
    }
    for (int t = 0; t < 500 && atomic_load(&total) < NJOBS; t++)
        usleep(10000);
    jobs_runner_stop(j);
    CHECK_INT(atomic_load(&total), NJOBS);
    int twice = 0;
    for (int i = 1; i <= NJOBS; i++)
        twice += atomic_load(&handled[i]) != 1;
    CHECK_INT(twice, 0);
    CHECK_INT(store_job_count(d.m, STORE_JOB_DONE, &n, &r), FG_OK);
    CHECK_INT(n, NJOBS);
    db_close(&d);
}

TEST("0 runners start nothing")
{
    jobs_settings s = {.threads = 0, .lease = 60};
    jobs_runner *j = (jobs_runner *)1;
    fg_reason r = {""};
    CHECK_INT(jobs_runner_start(&s, "/nonexistent/db", handler, NULL, NULL, &j, &r), FG_OK);
    CHECK(j == NULL);
    jobs_runner_stop(j);
}
