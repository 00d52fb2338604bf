/* Durable jobs in the metadata store (the queue of jobs/queue.h).
 *
 * A job row is written in the transaction of its cause (a delivery's file
 * rows), so a job exists if and only if its cause committed, and survives
 * any crash. A runner claims one with a lease: the row is marked running,
 * with the runner's name and the time its lease ends; a runner that dies
 * loses the job when the lease runs out, and the next claim takes it
 * again. Outcomes are guarded by the lease: only the runner that holds a
 * job may finish it, so a runner that was presumed dead and comes back
 * cannot record a second outcome.
 *
 * Times here are unix milliseconds (compared, never shown), passed in so
 * that tests can move the clock. */
#ifndef STORE_JOBS_H
#define STORE_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/result.h"
#include "storage/meta.h"

#define STORE_JOB_PREVIEW "preview"
#define STORE_JOB_PURGE "purge"
#define STORE_JOB_REBUILD "rebuild"
/* The periodic audit checkpoint (orders/checkpoint_job.h); schema step 9
 * adds it to the jobs table's kinds. */
#define STORE_JOB_CHECKPOINT "checkpoint"

#define STORE_JOB_PENDING "pending"
#define STORE_JOB_RUNNING "running"
#define STORE_JOB_DONE "done"
#define STORE_JOB_FAILED "failed"

/* A lease owner: "host/pid/thread/random" and its NUL. */
#define STORE_JOB_OWNER_MAX 128

typedef struct store_job {
    int64_t id;
    char kind[STORE_WORD_MAX];    /* STORE_JOB_PREVIEW, ... */
    char subject[FG_MAX_ID + 1];  /* a file id for a preview */
    char order_id[FG_MAX_ID + 1]; /* "" when none */
    char state[STORE_WORD_MAX];   /* STORE_JOB_PENDING, ... */
    int attempts;                 /* claims so far */
    char lease_owner[STORE_JOB_OWNER_MAX]; /* "" unless running */
    int64_t lease_until;          /* unix ms; 0 unless running */
    int64_t run_at;               /* unix ms: due from then */
    char last_error[FG_REASON_MAX];
    char created_at[STORE_TIME_MAX];
    char updated_at[STORE_TIME_MAX];
} store_job;

typedef struct store_job_list {
    store_job *items; /* heap, owned by the list */
    size_t n;
} store_job_list;

typedef struct store_job_owners {
    char (*items)[STORE_JOB_OWNER_MAX]; /* heap, owned by the list */
    size_t n;
} store_job_owners;

/* Adds a pending job of `kind` about `subject` (an id) for order_id (an
 * id, or NULL), due at run_at (unix ms; 0: now). If a pending or running
 * job of that kind and subject exists, nothing is added and *added is
 * false (a job already waiting will do the work). Joins the caller's write
 * transaction if one is open, else commits on its own. FG_EUSAGE for a bad
 * kind or id or inside a read transaction. added and id_out may be NULL. */
FG_MUST_CHECK fg_result store_job_add(store_meta *m, const char *kind,
                                      const char *subject, const char *order_id,
                                      int64_t run_at, bool *added /* out */,
                                      int64_t *id_out /* out */, fg_reason *r);

/* Claims the oldest due job: a pending one with run_at <= now, or a
 * running one whose lease ended (lease_until <= now: its runner died). It
 * becomes running, owned by owner until now + lease_ms, its attempts
 * counted. Takes the store's write lock for one transaction (it must be
 * called outside any transaction: FG_EUSAGE otherwise), so two claims,
 * from any thread or process, never get the same job. *got is false
 * (FG_OK) when nothing is due. FG_EIO if the store fails. */
FG_MUST_CHECK fg_result store_job_claim(store_meta *m, const char *owner,
                                        int64_t now, int64_t lease_ms,
                                        store_job *out /* out */,
                                        bool *got /* out */, fg_reason *r);

/* Ends job id as `state` (STORE_JOB_DONE or STORE_JOB_FAILED) with error
 * (NULL or "" for none; cut to FG_REASON_MAX - 1 bytes), only if it is
 * still running and owned by owner: FG_ESTATE otherwise (the lease ran out
 * and another runner has it, or it is finished already). Call it inside
 * the transaction that records the job's outcome, so that the outcome and
 * the end of the job commit together or not at all. */
FG_MUST_CHECK fg_result store_job_finish(store_meta *m, int64_t id,
                                         const char *owner, const char *state,
                                         const char *error, fg_reason *r);

/* Lists up to limit jobs (0 or over FG_MAX_LIST_ROWS: FG_MAX_LIST_ROWS) in
 * state (NULL: pending, running and failed), oldest first. The caller owns
 * *out on success (store_job_list_release); on failure *out is empty. */
FG_MUST_CHECK fg_result store_job_list_get(store_meta *m, const char *state,
                                       size_t limit, store_job_list *out /* out */,
                                       fg_reason *r);

/* Counts the jobs in state (FG_EUSAGE for an unknown one). */
FG_MUST_CHECK fg_result store_job_count(store_meta *m, const char *state,
                                        int64_t *n /* out */, fg_reason *r);

/* Asks for every file of order_id (NULL: of every order that is not
 * cancelled) that has a kind with previews to be stamped again: one
 * preview job each, in one statement, except where one is waiting or
 * running already. *added (may be NULL) receives the number of jobs
 * added. FG_EUSAGE for a bad order id. */
FG_MUST_CHECK fg_result store_job_rebuild_previews(store_meta *m, const char *order_id,
                                                   int64_t *added /* out */, fg_reason *r);

/* Lists the distinct lease owners of running jobs whose name starts with
 * prefix (byte for byte: no pattern characters), up to FG_MAX_LIST_ROWS,
 * sorted. A worker reads it at its start to find the runners of a dead
 * run on its host (jobs/runner.h, jobs_release_dead). The caller owns
 * *out on success (store_job_owners_release); on failure *out is empty.
 * FG_EUSAGE for an empty or over-long prefix. */
FG_MUST_CHECK fg_result store_job_owners_get(store_meta *m, const char *prefix,
                                             store_job_owners *out /* out */,
                                             fg_reason *r);

/* Puts every job that is running and still owned by owner back to
 * pending, due at once, without waiting for its lease to run out: the
 * caller knows the owner is dead. A job that changed meanwhile (finished,
 * or claimed by another runner since its lease ran out) is left alone.
 * attempts are kept, so FILIGRANE_JOB_ATTEMPTS still bounds a file that
 * kills its runners. Joins the caller's write transaction if one is open,
 * else commits on its own. *released (may be NULL) receives the number
 * of jobs put back. FG_EUSAGE for a bad owner or inside a read
 * transaction. */
FG_MUST_CHECK fg_result store_job_release_owner(store_meta *m, const char *owner,
                                                int64_t *released /* out */,
                                                fg_reason *r);

/* Deletes the jobs in state done whose updated_at (the time they ended)
 * is before older_than (unix ms): what is left of a finished job is only
 * a row nobody reads. Failed jobs are kept: an operator reads them
 * (`filigrane jobs --state failed`) to learn why a preview is missing,
 * and there are few. Pending and running jobs are never touched. Joins
 * the caller's write transaction if one is open, else commits on its
 * own. *removed (may be NULL) receives the number of rows deleted.
 * FG_EUSAGE for a negative time or inside a read transaction. */
FG_MUST_CHECK fg_result store_job_prune(store_meta *m, int64_t older_than,
                                        int64_t *removed /* out */, fg_reason *r);

/* Frees the items and empties the list. Accepts NULL and empty lists. */
void store_job_list_release(store_job_list *l);

/* Frees the items and empties the list. Accepts NULL and empty lists. */
void store_job_owners_release(store_job_owners *l);

#endif
