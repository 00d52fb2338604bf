/* The job runners (jobs/runner.c): their settings at the edges, and
 * threads that take every job once, on SQLite and (DB_TEST) PostgreSQL. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/wait.h>
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

DB_TEST("two runners take every job once, woken by jobs_wake")
{
    struct db d;
    jobs_settings s = {.threads = 2, .lease = 60};
    jobs_runner *j = NULL;
    fg_reason r = {""};
    char subject[16];
    int64_t n = -1;
    /* Counted afresh for each engine's run. */
    atomic_store(&total, 0);
    for (int i = 0; i <= NJOBS; i++)
        atomic_store(&handled[i], 0);
    db_open(&d);
    CHECK_INT(jobs_runner_start(&s, d.engine == DB_SQLITE ? d.path : d.url, handler, NULL, NULL,
                                &j, &r), FG_OK);
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

/* This host's prefix as the runners write it (jobs/runner.c). */
static void host_prefix(char prefix[64])
{
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    snprintf(prefix, 64, "%.60s/", host);
}

/* A pid that existed and is gone: a child that exited and was reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return pid;
}

/* Adds a job and has it claimed by owner, as a runner of that name would. */
static int64_t held_by(store_meta *m, const char *subject, const char *owner)
{
    fg_reason r = {""};
    store_job j;
    bool got = false;
    int64_t id = 0;
    if (store_job_add(m, STORE_JOB_PREVIEW, subject, NULL, 0, NULL, &id, &r) != FG_OK ||
        store_job_claim(m, owner, jobs_now_ms(), 600000, &j, &got, &r) != FG_OK || !got ||
        j.id != id)
        TAP_FAIL("hold %s by %s: %s", subject, owner, r.text);
    return id;
}

static void state_of(store_meta *m, int64_t id, store_job *out)
{
    store_job_list l = {0};
    fg_reason r = {""};
    memset(out, 0, sizeof *out);
    if (store_job_list_get(m, NULL, 0, &l, &r) != FG_OK)
        TAP_FAIL("list: %s", r.text);
    for (size_t i = 0; i < l.n; i++)
        if (l.items[i].id == id)
            *out = l.items[i];
    store_job_list_release(&l);
}

/* Whether pid is a zombie, from its state letter in /proc. */
static bool is_zombie(pid_t pid)
{
    char path[32], buf[512] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'Z';
}

DB_TEST("at the start, only the jobs of this host's dead processes are released")
{
    struct db d;
    char prefix[64], owner[STORE_JOB_OWNER_MAX];
    fg_reason r = {""};
    store_job j;
    int64_t n = -1;
    host_prefix(prefix);
    pid_t dead = dead_pid();
    pid_t live = fork();
    if (live == 0) {
        /* Gone with this test even if a check fails before its kill. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        alarm(60);
        pause();
        _exit(0);
    }
    /* A zombie: exited, not reaped yet (a killed worker whose parent has
     * not waited for it). */
    pid_t zombie = fork();
    if (zombie == 0)
        _exit(0);
    CHECK(dead > 0 && live > 0 && zombie > 0);
    for (int i = 0; i < 200 && !is_zombie(zombie); i++)
        usleep(10000);
    CHECK(is_zombie(zombie));
    db_open(&d);
    snprintf(owner, sizeof owner, "%s%d/0/deadbeef", prefix, (int)dead);
    int64_t of_dead = held_by(d.m, "f-dead", owner);
    snprintf(owner, sizeof owner, "%s%d/1/deadbeef", prefix, (int)dead);
    int64_t of_dead2 = held_by(d.m, "f-dead2", owner);
    snprintf(owner, sizeof owner, "%s%d/0/0badcafe", prefix, (int)getpid());
    int64_t of_ours = held_by(d.m, "f-ours", owner);
    snprintf(owner, sizeof owner, "%s%d/0/0badcafe", prefix, (int)zombie);
    int64_t of_zombie = held_by(d.m, "f-zombie", owner);
    snprintf(owner, sizeof owner, "%s%d/0/0badcafe", prefix, (int)live);
    int64_t of_live = held_by(d.m, "f-live", owner);
    /* Another host, whose name starts like ours: its pids mean nothing here. */
    snprintf(owner, sizeof owner, "%.*sx/%d/0/deadbeef", (int)strlen(prefix) - 1, prefix,
             (int)dead);
    int64_t of_other = held_by(d.m, "f-other", owner);
    snprintf(owner, sizeof owner, "elsewhere.example/%d/0/deadbeef", (int)dead);
    int64_t of_far = held_by(d.m, "f-far", owner);
    snprintf(owner, sizeof owner, "%snot-a-pid/0/deadbeef", prefix);
    int64_t of_odd = held_by(d.m, "f-odd", owner);

    CHECK_INT(jobs_release_dead(d.m, &n, &r), FG_OK);
    CHECK_INT(n, 3);
    waitpid(zombie, NULL, 0);
    state_of(d.m, of_zombie, &j);
    CHECK_STR(j.state, STORE_JOB_PENDING);
    state_of(d.m, of_dead, &j);
    CHECK_STR(j.state, STORE_JOB_PENDING);
    CHECK_INT(j.attempts, 1);
    state_of(d.m, of_dead2, &j);
    CHECK_STR(j.state, STORE_JOB_PENDING);
    int64_t kept[] = {of_ours, of_live, of_other, of_far, of_odd};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        state_of(d.m, kept[i], &j);
        CHECK_STR(j.state, STORE_JOB_RUNNING);
    }
    CHECK_INT(jobs_release_dead(d.m, &n, &r), FG_OK);
    CHECK_INT(n, 0);
    /* The live worker dies too: now its jobs go. */
    kill(live, SIGKILL);
    waitpid(live, NULL, 0);
    CHECK_INT(jobs_release_dead(d.m, &n, &r), FG_OK);
    CHECK_INT(n, 1);
    state_of(d.m, of_live, &j);
    CHECK_STR(j.state, STORE_JOB_PENDING);
    db_close(&d);
}

static atomic_int seen_attempts;

static void note_attempts(void *ctx, store_meta *m, const store_job *job, const char *owner,
                          double wait)
{
    fg_reason r = {""};
    (void)ctx;
    (void)wait;
    if (store_meta_begin(m, &r) == FG_OK &&
        store_job_finish(m, job->id, owner, STORE_JOB_DONE, NULL, &r) == FG_OK &&
        store_meta_commit(m, &r) == FG_OK)
        atomic_store(&seen_attempts, job->attempts);
    else
        store_meta_rollback(m);
}

DB_TEST("runners that start take a dead run's job at once, not a lease later")
{
    struct db d;
    char prefix[64], owner[STORE_JOB_OWNER_MAX];
    jobs_settings s = {.threads = 1, .lease = 600};
    jobs_runner *j = NULL;
    fg_reason r = {""};
    int64_t n = -1;
    host_prefix(prefix);
    atomic_store(&seen_attempts, 0); /* afresh for each engine's run */
    db_open(&d);
    snprintf(owner, sizeof owner, "%s%d/0/deadbeef", prefix, (int)dead_pid());
    held_by(d.m, "f-interrupted", owner);
    CHECK_INT(jobs_runner_start(&s, d.engine == DB_SQLITE ? d.path : d.url, note_attempts, NULL,
                                NULL, &j, &r), FG_OK);
    CHECK_INT(jobs_runner_released(j), 1);
    for (int t = 0; t < 500 && atomic_load(&seen_attempts) == 0; t++)
        usleep(10000);
    jobs_runner_stop(j);
    /* The second claim: the one that died still counts. */
    CHECK_INT(atomic_load(&seen_attempts), 2);
    CHECK_INT(store_job_count(d.m, STORE_JOB_DONE, &n, &r), FG_OK);
    CHECK_INT(n, 1);
    CHECK_INT(jobs_runner_released(NULL), 0);
    db_close(&d);
}
