#include "jobs/runner.h"

#include <errno.h>
#include <limits.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/duration.h"
#include "common/setting.h"

/* How long an idle runner sleeps before looking again on its own: bounds
 * the delay for jobs added by another process (`filigrane previews
 * rebuild`) and for taking over a dead runner's job. */
#define IDLE_POLL_MS 1000

typedef struct runner {
    struct jobs_runner *pool;
    store_meta *meta;
    pthread_t tid;
    char owner[STORE_JOB_OWNER_MAX];
} runner;

struct jobs_runner {
    jobs_settings s;
    jobs_handler fn;
    jobs_error_fn on_error;
    void *ctx;
    runner *r;
    int started;
    int64_t released; /* dead runners' jobs released at the start */
};

/* One wake-up for the process: requests enqueue, runners wait. A counter,
 * not a flag, so that a wake between a runner's empty claim and its wait
 * is not lost. */
static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv;
static pthread_once_t wake_once = PTHREAD_ONCE_INIT;
static unsigned long long wake_gen;
static atomic_bool stopping;

static void wake_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wake_cv, &ca);
    pthread_condattr_destroy(&ca);
}

void jobs_wake(void)
{
    pthread_once(&wake_once, wake_init);
    pthread_mutex_lock(&wake_mu);
    wake_gen++;
    pthread_cond_broadcast(&wake_cv);
    pthread_mutex_unlock(&wake_mu);
}

int64_t jobs_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

fg_result jobs_settings_load(jobs_settings *s, long long stamp_timeout, fg_reason *r)
{
    long long threads = JOBS_THREADS_DEFAULT, lease = JOBS_LEASE_DEFAULT;
    long long attempts = JOBS_ATTEMPTS_DEFAULT;
    fg_result rc;
    if ((rc = fg_env_count("FILIGRANE_JOB_THREADS", false, 0, JOBS_THREADS_MAX, &threads, r)) ||
        (rc = fg_duration_env("FILIGRANE_JOB_LEASE", 1, 7LL * 86400, &lease, r)) ||
        (rc = fg_env_count("FILIGRANE_JOB_ATTEMPTS", false, 1, JOBS_ATTEMPTS_MAX, &attempts, r)))
        return rc;
    /* A lease that can run out while its runner is still stamping hands
     * the job to a second runner: the work would be done twice. */
    if (lease <= stamp_timeout)
        return fg_fail(r, FG_EUSAGE,
                       "FILIGRANE_JOB_LEASE must be longer than FILIGRANE_STAMP_TIMEOUT "
                       "(%lld s)", stamp_timeout);
    s->threads = (int)threads;
    s->lease = lease;
    s->attempts = (int)attempts;
    return FG_OK;
}

/* This host's name, cut as the owner names carry it ("%.60s/"), and the
 * '/' after it: the prefix of every owner name of this host. */
static void host_prefix(char prefix[64])
{
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    snprintf(prefix, 64, "%.60s/", host);
}

/* The pid of an owner name "<prefix>pid/runner/random", or 0 if the name
 * after the prefix does not start with a pid and a '/' (not a runner's
 * name: left alone). */
static pid_t owner_pid(const char *owner, size_t prefix_len)
{
    const char *p = owner + prefix_len;
    long long v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 10) {
        v = v * 10 + (*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || *p != '/' || v <= 0 || v > INT_MAX)
        return 0;
    return (pid_t)v;
}

/* Only ESRCH says the process is gone: EPERM is a live process of
 * another user (a reused pid, or the dead run was started as root). A
 * zombie answers kill() too, yet runs nothing: a worker killed while its
 * parent (the service script, or whatever inherits it) has not reaped it
 * yet. Its state letter in /proc, after the command's closing ')', says
 * so. */
static bool pid_dead(pid_t pid)
{
    if (kill(pid, 0) != 0)
        return errno == ESRCH;
    char path[32], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

fg_result jobs_release_dead(store_meta *m, int64_t *released, fg_reason *r)
{
    char prefix[64];
    store_job_owners owners = {0};
    int64_t total = 0;
    fg_result rc;
    if (released)
        *released = 0;
    host_prefix(prefix);
    size_t plen = strlen(prefix);
    /* A plain read: the release below is guarded row by row, so an owner
     * whose jobs changed since is harmless. */
    if ((rc = store_job_owners_get(m, prefix, &owners, r)))
        return rc;
    bool any = false;
    for (size_t i = 0; i < owners.n; i++) {
        pid_t pid = owner_pid(owners.items[i], plen);
        if (pid > 0 && pid != getpid() && pid_dead(pid))
            any = true;
        else
            owners.items[i][0] = '\0'; /* alive, ours, or not a runner's name */
    }
    if (!any)
        goto out;
    if ((rc = store_meta_begin(m, r)))
        goto out;
    for (size_t i = 0; i < owners.n && rc == FG_OK; i++) {
        int64_t n = 0;
        if (owners.items[i][0] && (rc = store_job_release_owner(m, owners.items[i], &n, r)) == FG_OK)
            total += n;
    }
    if (rc == FG_OK)
        rc = store_meta_commit(m, r);
    else
        store_meta_rollback(m);
out:
    store_job_owners_release(&owners);
    if (rc == FG_OK && released)
        *released = total;
    return rc;
}

int64_t jobs_runner_released(const jobs_runner *j)
{
    return j ? j->released : 0;
}

static void *run(void *p)
{
    runner *me = p;
    jobs_runner *pool = me->pool;
    fg_reason r = {{0}};
    while (!atomic_load(&stopping)) {
        pthread_mutex_lock(&wake_mu);
        unsigned long long gen = wake_gen;
        pthread_mutex_unlock(&wake_mu);
        store_job job;
        bool got = false;
        int64_t now = jobs_now_ms();
        fg_result rc = store_job_claim(me->meta, me->owner, now, pool->s.lease * 1000, &job,
                                       &got, &r);
        if (rc != FG_OK && pool->on_error) {
            char why[sizeof r.text + 32];
            snprintf(why, sizeof why, "cannot claim a job: %s", r.text);
            pool->on_error(pool->ctx, why);
        }
        if (rc == FG_OK && got) {
            double wait = job.run_at < now ? (double)(now - job.run_at) / 1e3 : 0;
            pool->fn(pool->ctx, me->meta, &job, me->owner, wait);
            if (store_meta_in_tx(me->meta))
                store_meta_rollback(me->meta);
            continue;
        }
        /* Nothing due (or the store is busy: try again shortly). */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += IDLE_POLL_MS / 1000;
        until.tv_nsec += (long)(IDLE_POLL_MS % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&wake_mu);
        while (!atomic_load(&stopping) && wake_gen == gen &&
               pthread_cond_timedwait(&wake_cv, &wake_mu, &until) == 0)
            ;
        pthread_mutex_unlock(&wake_mu);
    }
    return NULL;
}

fg_result jobs_runner_start(const jobs_settings *s, const char *db_path, jobs_handler fn,
                            jobs_error_fn on_error, void *ctx, jobs_runner **out, fg_reason *r)
{
    jobs_runner *j = NULL;
    unsigned char rnd[4];
    char prefix[64];
    fg_result rc = FG_OK;
    *out = NULL;
    if (s->threads == 0)
        return FG_OK;
    pthread_once(&wake_once, wake_init);
    atomic_store(&stopping, false);
    host_prefix(prefix);
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return fg_fail(r, FG_EIO, "cannot name the job runners: no randomness");
    if (!(j = calloc(1, sizeof *j)) || !(j->r = calloc((size_t)s->threads, sizeof *j->r))) {
        free(j);
        return fg_fail(r, FG_EIO, "cannot start the job runners: out of memory");
    }
    j->s = *s;
    j->fn = fn;
    j->on_error = on_error;
    j->ctx = ctx;
    for (int i = 0; i < s->threads; i++) {
        runner *me = &j->r[i];
        me->pool = j;
        /* Unique across hosts, processes and restarts (a pid is reused). */
        snprintf(me->owner, sizeof me->owner, "%s%d/%d/%02x%02x%02x%02x", prefix,
                 (int)getpid(), i, rnd[0], rnd[1], rnd[2], rnd[3]);
        if ((rc = store_meta_open_db(db_path, &me->meta, r)))
            break;
        /* Before any runner of ours claims: a dead run's jobs are due at
         * once instead of a lease later. A failure only costs that wait. */
        fg_reason rr = {{0}};
        if (i == 0 && jobs_release_dead(me->meta, &j->released, &rr) != FG_OK && on_error) {
            char why[sizeof rr.text + 48];
            snprintf(why, sizeof why, "cannot release the jobs of dead runs: %s", rr.text);
            on_error(ctx, why);
        }
        if (pthread_create(&me->tid, NULL, run, me) != 0) {
            store_meta_free(me->meta);
            rc = fg_fail(r, FG_EIO, "cannot start job runner %d", i);
            break;
        }
        j->started++;
    }
    if (rc) {
        jobs_runner_stop(j);
        return rc;
    }
    *out = j;
    return FG_OK;
}

void jobs_runner_stop(jobs_runner *j)
{
    if (!j)
        return;
    atomic_store(&stopping, true);
    jobs_wake();
    for (int i = 0; i < j->started; i++) {
        pthread_join(j->r[i].tid, NULL);
        store_meta_free(j->r[i].meta);
    }
    free(j->r);
    free(j);
}
