/* Job runners: threads that take durable jobs from the metadata store
 * (storage/jobs.h) and hand each to a handler. Knows nothing of HTTP or
 * formats: what a job does is the handler's (orders/preview_job.h).
 *
 * Each runner has its own metadata handle and its own lease owner name
 * ("host/pid/runner/random"). It claims the oldest due job (or one whose
 * lease ran out: its runner died), runs it, and claims again; with nothing
 * due it sleeps until jobs_wake() or a second has passed (jobs added by
 * another process, a lease running out). The lease must outlast the
 * longest stamping (FILIGRANE_STAMP_TIMEOUT), or a job still being worked
 * on would be claimed by a second runner; the second outcome is then
 * refused (the end of a job is guarded by its owner) but the work is
 * done twice.
 *
 * A worker restarted after a crash does not wait for those leases: at
 * its start, before its runners claim anything, the jobs held by runners
 * of a dead process of this host go back to pending (jobs_release_dead).
 * Other hosts' jobs wait for their leases: from here we cannot tell
 * whether a process elsewhere is alive. */
#ifndef JOBS_RUNNER_H
#define JOBS_RUNNER_H

#include "common/result.h"
#include "storage/jobs.h"
#include "storage/meta.h"

#define JOBS_THREADS_DEFAULT 2
#define JOBS_THREADS_MAX 64
#define JOBS_LEASE_DEFAULT 600 /* seconds */
#define JOBS_ATTEMPTS_DEFAULT 3
#define JOBS_ATTEMPTS_MAX 100

typedef struct jobs_settings {
    int threads;     /* FILIGRANE_JOB_THREADS: 0 .. JOBS_THREADS_MAX; 0 runs none */
    long long lease; /* FILIGRANE_JOB_LEASE, seconds, > the stamp timeout */
    int attempts;    /* FILIGRANE_JOB_ATTEMPTS: claims a job may have, 1 .. 100 */
} jobs_settings;

/* Reads FILIGRANE_JOB_THREADS (0 to 64, default 2), FILIGRANE_JOB_LEASE
 * (a duration, default 10m, at most 7 days, and longer than
 * stamp_timeout seconds) and FILIGRANE_JOB_ATTEMPTS (1 to 100, default 3:
 * how many times a job is claimed before a handler gives it up, its
 * runners having died each time). FG_EUSAGE naming the variable
 * otherwise. */
FG_MUST_CHECK fg_result jobs_settings_load(jobs_settings *s /* out */,
                                           long long stamp_timeout, fg_reason *r);

/* Runs one claimed job on the runner's handle m. wait_seconds is how long
 * the job waited for a runner (from when it was due). */
typedef void (*jobs_handler)(void *ctx, store_meta *m, const store_job *job,
                             const char *owner, double wait_seconds);

/* Told when a claim fails (the store is unreachable or locked past its
 * busy timeout; the runner tries again a second later) or when the
 * release of dead runs' jobs at the start fails (those jobs then wait for
 * their lease). reason says which. */
typedef void (*jobs_error_fn)(void *ctx, const char *reason);

typedef struct jobs_runner jobs_runner;

/* Starts s->threads runners, each with its own handle on db_path (a
 * SQLite file or a postgres:// URL: store_meta_open_db), calling
 * fn(ctx, ...) for each job and on_error(ctx, ...) (may be NULL) when a
 * claim fails (fn, on_error and ctx are shared by the threads). Before
 * the first runner starts, the jobs of this host's dead runners are
 * released (jobs_release_dead; jobs_runner_released tells how many). With
 * 0 threads nothing starts and *out is NULL (FG_OK). FG_EIO if a handle
 * or a thread cannot be had (none is left running then). */
FG_MUST_CHECK fg_result jobs_runner_start(const jobs_settings *s, const char *db_path,
                                          jobs_handler fn, jobs_error_fn on_error,
                                          void *ctx,
                                          jobs_runner **out /* out */, fg_reason *r);

/* Puts back to pending, in one transaction, every running job whose
 * lease owner is a runner of this host ("host/pid/..." with this host's
 * name) in a process that no longer exists (kill(pid, 0) fails with
 * ESRCH) and is not this one. A live process's jobs (another worker on
 * this host; or a pid that was reused: it looks alive) and other hosts'
 * jobs are left to their leases; so is a job that was finished or claimed
 * again meanwhile. attempts stay as they are (storage/jobs.h,
 * store_job_release_owner). Call it outside any transaction, before this
 * process's runners start. *released (may be NULL) receives the number
 * of jobs put back. FG_EIO if the store fails (nothing is released
 * then). */
FG_MUST_CHECK fg_result jobs_release_dead(store_meta *m, int64_t *released /* out */,
                                          fg_reason *r);

/* How many jobs of dead runners jobs_runner_start released. 0 for NULL
 * (no runners). Can't fail. */
int64_t jobs_runner_released(const jobs_runner *j);

/* Stops the runners (each finishes the job in hand) and frees them.
 * Accepts NULL. Can't fail. */
void jobs_runner_stop(jobs_runner *j);

/* Wakes this process's idle runners: call it after committing jobs. Can't
 * fail; does nothing without runners. */
void jobs_wake(void);

/* The current time in unix milliseconds, the queue's clock. */
int64_t jobs_now_ms(void);

#endif
