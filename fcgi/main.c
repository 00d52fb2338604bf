/* filigrane-fcgi: the worker. N threads accept FastCGI requests from nginx
 * on a unix socket (FCGX_Accept_r), each with its own metadata handle.
 *
 * SIGTERM and SIGINT stop it cleanly: the listening socket is shut down so
 * every blocked accept returns, threads finish the request in hand, the
 * event sender (fcgi/outbox.h) drops the request it has in flight, and
 * the process exits 0.
 *
 * Started as root (make run as root, CI), it pins the stamper program and
 * then becomes FILIGRANE_USER for good before it opens anything in the data
 * directory; it never serves a request as root. Its files are its own
 * (umask 077): the database, blobs and socket are 0600, directories 0700.
 * nginx's workers run as the same user, so they still reach them. */
#include <limits.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/privs.h"
#include "fcgi/blob_gc.h"
#include "fcgi/checkpoints.h"
#include "orders/checkpoint_job.h"
#include "fcgi/body_file.h"
#include "fcgi/http.h"
#include "fcgi/jobs_handler.h"
#include "fcgi/log.h"
#include "fcgi/outbox.h"
#include "fcgi/previews.h"
#include "fcgi/router.h"
#include "fcgi/worker.h"
#include "jobs/runner.h"
#include "storage/pg_conn.h"
#include "storage/tmp_clean.h"

static atomic_bool stopping;
static struct fcgi_signer signer;
static int listen_fd = -1;

typedef struct thread_arg {
    fcgi_ctx ctx;
    pthread_t tid;
    int no;
} thread_arg;

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void serve_one(FCGX_Request *fx, fcgi_ctx *ctx)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fcgi_req req;
    fg_reason r = {{0}};
    if (fcgi_req_init(&req, fx, ctx, &r) != FG_OK)
        fcgi_send_error(&req, FG_EUSAGE, NULL, r.text);
    else
        fcgi_route(&req);
    if (!req.status) /* a handler that forgot to answer is a bug, not a hang */
        fcgi_send_error(&req, FG_EIO, NULL, "no answer");
    /* A handler that failed mid-transaction must not leave it open for
     * the next request on this thread. */
    if (store_meta_in_tx(ctx->meta))
        store_meta_rollback(ctx->meta);
    fcgi_log(FCGI_LOG_INFO, "req=%s method=%s path=\"%s\" status=%d ms=%.1f", req.id,
             req.method ? req.method : "-", req.path, req.status, ms_since(&t0));
    fcgi_req_release(&req);
}

static void *thread_main(void *p)
{
    thread_arg *a = p;
    FCGX_Request fx;
    if (FCGX_InitRequest(&fx, listen_fd, 0) != 0) {
        fcgi_log(FCGI_LOG_ERROR, "thread=%d cannot initialise a request", a->no);
        return NULL;
    }
    while (!atomic_load(&stopping)) {
        if (FCGX_Accept_r(&fx) < 0)
            break;
        serve_one(&fx, &a->ctx);
        FCGX_Finish_r(&fx);
    }
    FCGX_Free(&fx, 1);
    return NULL;
}

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stopping, true);
    /* Wakes every thread blocked in accept(); async-signal-safe. */
    if (listen_fd >= 0)
        shutdown(listen_fd, SHUT_RDWR);
}

int main(void)
{
    struct fcgi_config cfg;
    wm_sandbox_limits sandbox, sandbox_video, sandbox_audio, sandbox_document;
    store_blob *blobs = NULL;
    thread_arg *threads = NULL;
    fcgi_outbox *outbox = NULL;
    fcgi_blob_gc *gc = NULL;
    fcgi_checkpoints *checkpoints = NULL;
    long long checkpoint_interval = 0;
    fcgi_blob_gc_settings gc_settings;
    jobs_settings job_settings;
    jobs_runner *runners = NULL;
    orders_preview_env preview_env;
    fcgi_jobs_env job_env;
    fg_reason r = {{0}};
    struct timespec started_at;
    /* Temp files older than this process are a dead run's leftovers. */
    clock_gettime(CLOCK_REALTIME, &started_at);
    int status = 1, started = 0;
    char db_path[PATH_MAX + 16];

    if (fcgi_config_load(&cfg, &r) != FG_OK) {
        fprintf(stderr, "filigrane-fcgi: %s\n", r.text);
        return 2;
    }
    if (wm_sandbox_limits_init(&sandbox, &r) != FG_OK ||
        wm_sandbox_limits_init_kind(&sandbox_video, "video", &r) != FG_OK ||
        wm_sandbox_limits_init_kind(&sandbox_audio, "audio", &r) != FG_OK ||
        wm_sandbox_limits_init_kind(&sandbox_document, "document", &r) != FG_OK ||
        fcgi_blob_gc_settings_load(&gc_settings, &r) != FG_OK ||
        jobs_settings_load(&job_settings, sandbox.wall_seconds, &r) != FG_OK ||
        wm_sandbox_limits_fit_lease(&sandbox_video, "video", job_settings.lease, &r) != FG_OK ||
        wm_sandbox_limits_fit_lease(&sandbox_audio, "audio", job_settings.lease, &r) != FG_OK ||
        wm_sandbox_limits_fit_lease(&sandbox_document, "document", job_settings.lease, &r) !=
            FG_OK ||
        orders_checkpoint_interval_load(&checkpoint_interval, &r) != FG_OK) {
        fprintf(stderr, "filigrane-fcgi: %s\n", r.text);
        fcgi_config_release(&cfg); /* its secrets are wiped, not left behind */
        return 2;
    }
    gc_settings.idem_ttl = cfg.idem_ttl;
    fcgi_log_set_level(cfg.log_level);
    /* FastCGI peers that vanish mid-answer must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    umask(077);

    /* The stamper is opened while this process can still reach it: the
     * checkout may sit where FILIGRANE_USER cannot enter (/root). */
    if (wm_sandbox_pin_program(cfg.cli, &r) != FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "%s", r.text);
        goto out;
    }
    if (geteuid() == 0) {
        uid_t uid;
        gid_t gid;
        if (fg_privs_lookup(cfg.run_user, &uid, &gid, &r) != FG_OK ||
            fg_privs_drop(uid, gid, &r) != FG_OK) {
            fcgi_log(FCGI_LOG_ERROR,
                     "started as root and cannot become FILIGRANE_USER: %s (scripts/run.sh "
                     "creates the user)",
                     r.text);
            goto out;
        }
        fcgi_log(FCGI_LOG_INFO, "dropped root: running as %s uid=%d gid=%d", cfg.run_user,
                 (int)uid, (int)gid);
    }
    /* nginx's workers and the stamping children run as this same user:
     * not dumpable, none of them may ptrace this process or read its
     * /proc/PID/environ, which holds every secret. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        fcgi_log(FCGI_LOG_ERROR, "cannot make the worker undumpable");
        goto out;
    }
    /* The signing key is read as the service user, whose it must be
     * (common/sign.h): after dropping root, so a key root alone can
     * read is refused. Unset: the service runs, evidence is refused. */
    const char *key_file = getenv("FILIGRANE_SIGNING_KEY_FILE");
    if (key_file && *key_file) {
        if (fg_sign_key_load("FILIGRANE_SIGNING_KEY_FILE", key_file, &signer.key, &r) != FG_OK ||
            fg_sign_key_public(signer.key, signer.x, signer.kid, &r) != FG_OK) {
            fcgi_log(FCGI_LOG_ERROR, "%s", r.text);
            goto out;
        }
        fcgi_log(FCGI_LOG_INFO, "evidence signing key kid=%s", signer.kid);
    } else {
        fcgi_log(FCGI_LOG_WARN, "FILIGRANE_SIGNING_KEY_FILE is not set: evidence bundles are "
                                "refused (503)");
    }

    if (fcgi_body_file_init(cfg.data, &r) != FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "%s", r.text);
        goto out;
    }

    store_blob_settings blob_settings;
    fcgi_blob_env_settings(&cfg.blob, cfg.data, &blob_settings);
    if (store_blob_open(&blob_settings, &blobs, &r) != FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "cannot open the blob store: %s", r.text);
        goto out;
    }
    /* A store we cannot write to (S3: wrong keys, no bucket, nobody
     * answering) is found now, not at the first delivery. */
    if (store_blob_check(blobs, &r) != FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "the blob store is not usable: %s", r.text);
        goto out;
    }
    fcgi_log(FCGI_LOG_INFO, "blob store backend=%s scratch=%s", store_blob_backend(blobs),
             cfg.blob.scratch);
    if (snprintf(db_path, sizeof db_path, "%s/filigrane.db", cfg.data) >= (int)sizeof db_path) {
        fcgi_log(FCGI_LOG_ERROR, "FILIGRANE_DATA is too long");
        goto out;
    }
    /* The store every handle below opens: PostgreSQL when
     * FILIGRANE_DATABASE_URL is set (shared by the nodes), else the data
     * directory's SQLite file. A first handle now, so an unreachable
     * server, a wrong password or a newer schema stops the start with its
     * reason, before any thread runs; it migrates the schema once. */
    const char *db = cfg.database_url ? cfg.database_url : db_path;
    {
        store_meta *probe = NULL;
        char shown[STORE_PG_URL_MAX];
        if (store_meta_open_db(db, &probe, &r) != FG_OK) {
            fcgi_log(FCGI_LOG_ERROR, "cannot open the metadata store: %s", r.text);
            goto out;
        }
        store_meta_free(probe);
        store_pg_redact_url(cfg.database_url, shown, sizeof shown);
        fcgi_log(FCGI_LOG_INFO, "metadata store: %s", cfg.database_url ? shown : "sqlite");
    }
    /* What a previous run left when it died mid-upload or mid-preview
     * (kill -9, power cut): our prefixes only, never nginx's body files,
     * and nothing is in flight for this process yet. */
    int64_t swept = 0;
    char data_tmp[PATH_MAX + 8];
    snprintf(data_tmp, sizeof data_tmp, "%s/tmp", cfg.data);
    const char *tmp_dirs[] = {data_tmp, cfg.blob.scratch};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && strcmp(tmp_dirs[0], tmp_dirs[1]) == 0)
            break;
        if (store_tmp_clean(tmp_dirs[i], &started_at, &swept, &r) != FG_OK)
            fcgi_log(FCGI_LOG_WARN, "cannot clean the temp directory %s: %s", tmp_dirs[i],
                     r.text);
        else if (swept)
            fcgi_log(FCGI_LOG_INFO, "removed %lld temp entries left by a previous run in %s",
                     (long long)swept, tmp_dirs[i]);
    }

    if (FCGX_Init() != 0) {
        fcgi_log(FCGI_LOG_ERROR, "cannot initialise libfcgi");
        goto out;
    }
    unlink(cfg.socket); /* a stale socket of a previous run */
    /* 0600: only this user (the worker, and nginx's workers, which run as
     * it) may speak FastCGI to it. Whoever reaches the socket can name any
     * REMOTE_ADDR and any parameter. */
    mode_t old = umask(0177);
    listen_fd = FCGX_OpenSocket(cfg.socket, 128);
    umask(old);
    if (listen_fd >= 0 && chmod(cfg.socket, 0600) != 0) {
        close(listen_fd);
        listen_fd = -1;
    }
    if (listen_fd < 0) {
        fcgi_log(FCGI_LOG_ERROR, "cannot listen on the worker socket");
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    /* Before the request threads: it initialises libcurl. Without a URL,
     * events are still recorded, and sent by a later run that has one. */
    if (!cfg.events_url[0]) {
        fcgi_log(FCGI_LOG_WARN, "FILIGRANE_EVENTS_URL is not set: events are recorded, not sent");
    } else if (fcgi_outbox_start(&cfg, db, &outbox, &r) != FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "%s", r.text);
        goto out;
    } else {
        fcgi_log(FCGI_LOG_INFO, "event sender started retry_scale=%d", cfg.events_retry_scale);
    }

    if (fcgi_blob_gc_start(&gc_settings, db, blobs, &gc, &r) != FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "%s", r.text);
        goto out;
    }
    /* Audit checkpoints (storage/audit.h): asked for by a timer, written
     * by the job runners. */
    if (fcgi_checkpoints_start(checkpoint_interval, db, &checkpoints, &r) != FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "%s", r.text);
        goto out;
    }

    /* The job runners: previews are made here, off the requests. Jobs a
     * dead run of this host held are released at their start (another
     * node's wait for their lease); its scratch directories went with the
     * temp cleaning above. */
    preview_env = (orders_preview_env){.blobs = blobs, .scratch = cfg.blob.scratch, .cli = cfg.cli,
                                       .mark_template = cfg.mark_template,
                                       .mark_key = cfg.mark_key,
                                       .sandbox = &sandbox,
                                       .sandbox_video = &sandbox_video,
                                       .sandbox_audio = &sandbox_audio,
                                       .sandbox_document = &sandbox_document,
                                       .max_attempts = job_settings.attempts};
    /* They also run the retention purges the maintenance loop schedules. */
    job_env = (fcgi_jobs_env){.preview = &preview_env, .retention = &gc_settings.retention};
    if (jobs_runner_start(&job_settings, db, fcgi_job_handle, fcgi_job_error,
                          &job_env, &runners, &r) != FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "%s", r.text);
        goto out;
    }
    fcgi_log(FCGI_LOG_INFO,
             "job runners started threads=%d lease_s=%lld released_dead_runner_jobs=%lld",
             job_settings.threads, job_settings.lease, (long long)jobs_runner_released(runners));

    threads = calloc((size_t)cfg.threads, sizeof *threads);
    if (!threads)
        goto out;
    for (int i = 0; i < cfg.threads; i++) {
        thread_arg *a = &threads[i];
        a->no = i;
        a->ctx = (fcgi_ctx){.cfg = &cfg, .hook = &cfg.webhook_key, .sandbox = &sandbox, .blobs = blobs, .signer = &signer};
        if (store_meta_open_db(db, &a->ctx.meta, &r) != FG_OK) {
            fcgi_log(FCGI_LOG_ERROR, "cannot open the metadata store: %s", r.text);
            goto stop;
        }
        if (pthread_create(&a->tid, NULL, thread_main, a) != 0) {
            store_meta_free(a->ctx.meta);
            fcgi_log(FCGI_LOG_ERROR, "cannot start worker thread %d", i);
            goto stop;
        }
        started++;
    }
    fcgi_log(FCGI_LOG_INFO, "filigrane-fcgi ready threads=%d pid=%d", cfg.threads, (int)getpid());
    status = 0;
stop:
    if (status != 0)
        on_signal(0);
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i].tid, NULL);
        store_meta_free(threads[i].ctx.meta);
    }
    fcgi_log(FCGI_LOG_INFO, "filigrane-fcgi stopped");
out:
    jobs_runner_stop(runners);
    fcgi_checkpoints_stop(checkpoints);
    fcgi_blob_gc_stop(gc);
    fcgi_outbox_stop(outbox);
    if (listen_fd >= 0) {
        close(listen_fd);
        unlink(cfg.socket);
    }
    free(threads);
    EVP_PKEY_free(signer.key);
    fcgi_body_file_release();
    store_blob_free(blobs);
    fcgi_config_release(&cfg);
    return status;
}
