/* filigrane-fcgi: the worker. N threads accept FastCGI requests from nginx
 * on a unix socket (FCGX_Accept_r), each with its own metadata handle.
 *
 * SIGTERM and SIGINT stop it cleanly: the listening socket is shut down so
 * every blocked accept returns, threads finish the request in hand, the
 * event sender (fcgi/outbox.h) drops the request it has in flight, and
 * the process exits 0.
 *
 * SIGHUP reloads the keys (fcgi/keys.h: the secrets' files are read
 * again; a set that does not load is not installed, and the log says why)
 * and reopens FILIGRANE_LOG_FILE, while requests go on: SIGHUP is blocked
 * in every thread and taken by one thread of its own with sigwait, so no
 * handler runs and no system call of a request thread is interrupted.
 *
 * Started as root (make run as root, CI), it pins the stamper program and
 * then becomes FILIGRANE_USER for good before it opens anything in the data
 * directory; it never serves a request as root. Its files are its own
 * (umask 077): the database, blobs and socket are 0600, directories 0700.
 * nginx's workers run as the same user, so they still reach them. */
#include <errno.h>
#include <fcntl.h>
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
#include "fcgi/metrics.h"
#include "fcgi/outbox.h"
#include "fcgi/previews.h"
#include "fcgi/router.h"
#include "fcgi/sd_notify.h"
#include "fcgi/worker.h"
#include "jobs/runner.h"
#include "storage/pg_conn.h"
#include "storage/tmp_clean.h"
#include "watermark/wm.h"

static atomic_bool stopping;
static atomic_bool reloader_stop;
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
    double ms = ms_since(&t0);
    fcgi_histogram_observe(FCGI_H_REQUEST, ms / 1e3);
    fcgi_log(FCGI_LOG_INFO, "req=%s method=%s path=\"%s\" status=%d ms=%.1f", req.id,
             req.method ? req.method : "-", fcgi_req_log_path(&req), req.status, ms);
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

/* Points stderr (the log, fcgi/log.h) at FILIGRANE_LOG_FILE, opened anew:
 * after logrotate moved the old file, lines go to the new one. dup2 swaps
 * the descriptor in one step, so a line being written by another thread
 * lands whole in the old file or in the new one. */
static bool log_reopen(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    bool ok = dup2(fd, STDERR_FILENO) >= 0;
    close(fd);
    return ok;
}

/* when: a literal of the caller's, one word ("started", "reloaded"). */
static void log_keys(const char *when, const fcgi_keys *k)
{
    fcgi_log(FCGI_LOG_INFO,
             "keys=%s generation=%llu jwt_default=%s jwt_kids=%zu webhook_keys=%zu "
             "events_key=%s signing_kid=%s retired_kids=%zu",
             when, k->generation, k->jwt_secret ? "set" : "unset", k->n_jwt, k->n_hooks,
             k->events_is_webhook ? "webhook" : "own", k->sign_key ? k->sign.kid : "none",
             k->n_retired);
    if (k->events_is_webhook)
        fcgi_log(FCGI_LOG_WARN, "FILIGRANE_EVENTS_SECRET is not set: outgoing events are signed "
                                "with the first webhook key, which the order system also signs "
                                "with; give events their own key");
}

/* One SIGHUP: the secrets, then the signing keys, each kept as it was when
 * its new version does not load; then the log file. */
static void reload(struct fcgi_config *cfg)
{
    fg_reason r = {{0}};
    fcgi_keys *cur = fcgi_keyring_get(cfg->keys), *next = NULL, *signing = NULL;
    if (fcgi_keys_build(&cfg->key_sources, cur, FCGI_KEYS_SECRETS, &next, &r) != FG_OK)
        fcgi_log(FCGI_LOG_ERROR, "SIGHUP: kept the previous secrets, error=\"%s\"", r.text);
    if (fcgi_keys_build(&cfg->key_sources, next ? next : cur, FCGI_KEYS_SIGNING, &signing, &r) !=
        FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "SIGHUP: kept the previous signing keys, error=\"%s\"", r.text);
    } else {
        fcgi_keys_put(next);
        next = signing;
    }
    if (next) {
        fcgi_keyring_swap(cfg->keys, next);
        log_keys("reloaded", next);
    }
    fcgi_keys_put(cur);
    if (cfg->log_file[0]) {
        if (log_reopen(cfg->log_file))
            fcgi_log(FCGI_LOG_INFO, "SIGHUP: reopened FILIGRANE_LOG_FILE");
        else
            fcgi_log(FCGI_LOG_ERROR, "SIGHUP: cannot reopen FILIGRANE_LOG_FILE (errno %d): still "
                                     "writing to the previous file", errno);
    }
}

static void *reloader_main(void *p)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (atomic_load(&reloader_stop))
            break;
        reload(p);
    }
    return NULL;
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
    orders_preview_env preview_env = {0};
    wm_options stamp_options;
    fcgi_jobs_env job_env;
    fg_reason r = {{0}};
    struct timespec started_at;
    /* Temp files older than this process are a dead run's leftovers. */
    clock_gettime(CLOCK_REALTIME, &started_at);
    int status = 1, started = 0;
    char db_path[PATH_MAX + 16];
    pthread_t reloader;
    bool reloader_started = false;

    /* Blocked here, before any thread exists, so that every thread
     * inherits the mask and only the reloader's sigwait takes SIGHUP. The
     * stamping children clear their mask (watermark/sandbox.c). */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, NULL);

    /* Before anything can start a thread or a child. */
    fcgi_sd_notify_init();
    if (fcgi_config_load(&cfg, &r) != FG_OK) {
        fprintf(stderr, "filigrane-fcgi: %s\n", r.text);
        return 2;
    }
    if (wm_sandbox_limits_init(&sandbox, &r) != FG_OK ||
        wm_sandbox_limits_init_kind(&sandbox_video, "video", &r) != FG_OK ||
        wm_sandbox_limits_init_kind(&sandbox_audio, "audio", &r) != FG_OK ||
        wm_sandbox_limits_init_kind(&sandbox_document, "document", &r) != FG_OK ||
        /* The stamping options (FILIGRANE_MAX_PIXELS, _AUDIO_MARK_INTERVAL,
         * ...) are read by each stamping child: checked here too, so a
         * typo stops the worker instead of failing every preview. */
        wm_options_init(&stamp_options, &r) != FG_OK ||
        fcgi_blob_gc_settings_load(&gc_settings, &r) != FG_OK ||
        jobs_settings_load(&job_settings, sandbox.wall_seconds, &r) != FG_OK ||
        wm_sandbox_limits_fit_lease(&sandbox_video, "video", job_settings.lease, &r) != FG_OK ||
        wm_sandbox_limits_fit_lease(&sandbox_audio, "audio", job_settings.lease, &r) != FG_OK ||
        wm_sandbox_limits_fit_lease(&sandbox_document, "document", job_settings.lease, &r) !=
            FG_OK ||
        orders_checkpoint_interval_load(&checkpoint_interval, &r) != FG_OK ||
        orders_preview_pages_load(&preview_env, &r) != FG_OK) {
        fprintf(stderr, "filigrane-fcgi: %s\n", r.text);
        fcgi_config_release(&cfg); /* its secrets are wiped, not left behind */
        return 2;
    }
    gc_settings.idem_ttl = cfg.idem_ttl;
    fcgi_log_set_level(cfg.log_level);
    fcgi_log_set_json(cfg.log_json);
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
    /* The log file is opened as the service user, whose it is, so a
     * reopen after a rotation (SIGHUP) may create it again. */
    if (cfg.log_file[0] && !log_reopen(cfg.log_file)) {
        fcgi_log(FCGI_LOG_ERROR, "cannot open FILIGRANE_LOG_FILE (errno %d)", errno);
        goto out;
    }
    /* The signing keys are read as the service user, whose they must be
     * (common/sign.h): after dropping root, so a key root alone can
     * read is refused. Unset: the service runs, evidence is refused. */
    {
        fcgi_keys *cur = fcgi_keyring_get(cfg.keys), *next = NULL;
        fg_result krc = fcgi_keys_build(&cfg.key_sources, cur, FCGI_KEYS_SIGNING, &next, &r);
        fcgi_keys_put(cur);
        if (krc != FG_OK) {
            fcgi_log(FCGI_LOG_ERROR, "%s", r.text);
            goto out;
        }
        fcgi_keyring_swap(cfg.keys, next);
        log_keys("started", next);
        if (!next->sign_key)
            fcgi_log(FCGI_LOG_WARN, "FILIGRANE_SIGNING_KEY_FILE is not set: evidence bundles "
                                    "are refused (503)");
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
    int excerpt_pages = preview_env.excerpt_pages, max_pages = preview_env.max_pages;
    preview_env = (orders_preview_env){.blobs = blobs, .scratch = cfg.blob.scratch, .cli = cfg.cli,
                                       .mark_template = cfg.mark_template,
                                       .mark_key = cfg.mark_key,
                                       .sandbox = &sandbox,
                                       .sandbox_video = &sandbox_video,
                                       .sandbox_audio = &sandbox_audio,
                                       .sandbox_document = &sandbox_document,
                                       .max_attempts = job_settings.attempts,
                                       .excerpt_pages = excerpt_pages,
                                       .max_pages = max_pages};
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
        a->ctx = (fcgi_ctx){.cfg = &cfg, .sandbox = &sandbox, .blobs = blobs};
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
    if (pthread_create(&reloader, NULL, reloader_main, &cfg) != 0) {
        fcgi_log(FCGI_LOG_ERROR, "cannot start the SIGHUP thread");
        goto stop;
    }
    reloader_started = true;
    fcgi_log(FCGI_LOG_INFO, "filigrane-fcgi ready threads=%d pid=%d", cfg.threads, (int)getpid());
    /* systemd (Type=notify, systemd/filigrane-fcgi.service): the socket
     * is listening and every thread runs, so nginx may start. */
    fcgi_sd_notify("READY=1");
    status = 0;
stop:
    if (status != 0)
        on_signal(0);
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i].tid, NULL);
        store_meta_free(threads[i].ctx.meta);
    }
    fcgi_sd_notify("STOPPING=1");
    fcgi_log(FCGI_LOG_INFO, "filigrane-fcgi stopped");
out:
    if (reloader_started) {
        atomic_store(&reloader_stop, true);
        pthread_kill(reloader, SIGHUP);
        pthread_join(reloader, NULL);
    }
    jobs_runner_stop(runners);
    fcgi_checkpoints_stop(checkpoints);
    fcgi_blob_gc_stop(gc);
    fcgi_outbox_stop(outbox);
    if (listen_fd >= 0) {
        close(listen_fd);
        unlink(cfg.socket);
    }
    free(threads);
    fcgi_body_file_release();
    store_blob_free(blobs);
    fcgi_config_release(&cfg);
    return status;
}
