/* The worker's checkpoint timer: a thread that every
 * FILIGRANE_CHECKPOINT_INTERVAL makes sure a checkpoint job is waiting
 * when some audit chain's head moved (orders/checkpoint_job.h), and wakes
 * the job runners, which write it. It is apart from the maintenance loop
 * (fcgi/blob_gc.h) because its period is a minute, not ten, and because
 * FILIGRANE_BLOB_GC_INTERVAL=0 must not turn the checkpoints off. In a
 * cluster every node's timer asks; the jobs table keeps one job. */
#ifndef FCGI_CHECKPOINTS_H
#define FCGI_CHECKPOINTS_H

#include "common/result.h"

typedef struct fcgi_checkpoints fcgi_checkpoints;

/* Starts the timer thread with its own metadata handle on db_path (a
 * SQLite file or a postgres:// URL: store_meta_open_db); it
 * asks at once, then every interval seconds (1 .. a day). FG_EIO if the
 * database or the thread cannot be had. */
FG_MUST_CHECK fg_result fcgi_checkpoints_start(long long interval, const char *db_path,
                                               fcgi_checkpoints **out /* out */,
                                               fg_reason *r);

/* Stops the thread and frees it. Accepts NULL. Can't fail. */
void fcgi_checkpoints_stop(fcgi_checkpoints *c);

#endif
