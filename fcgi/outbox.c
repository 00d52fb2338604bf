#include "fcgi/outbox.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi/keys.h"
#include "fcgi/log.h"
#include "fcgi/metrics.h"
#include "fcgi/webhook_sig.h"

/* ---- recording ---- */

fg_result fcgi_event_enqueue(store_meta *m, const char *type, const char *order_id,
                             json_t *data, fg_reason *r)
{
    char now[STORE_TIME_MAX];
    store_time_now(now);
    /* "o" steals data, also when the pack fails. */
    json_t *doc = data ? json_pack("{s:s, s:s, s:o}", "type", type, "timestamp", now, "data",
                                   data)
                       : NULL;
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    fg_result rc = body ? store_outbox_add(m, type, order_id, body, NULL, r)
                        : fg_fail(r, FG_EIO, "cannot make the %s event", type);
    free(body);
    return rc;
}

/* ---- the schedule ---- */

/* Standard Webhooks' example schedule: the wait after the 1st, 2nd, ...
 * failed try. The 1st try is immediate; after the 10th, give up. */
static const long long SCHEDULE[] = {5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600,
                                     10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600};
#define SCHEDULE_LEN ((int)(sizeof SCHEDULE / sizeof SCHEDULE[0]))

long long fcgi_outbox_retry_delay(int attempts, int scale)
{
    if (attempts < 1 || attempts > SCHEDULE_LEN)
        return -1;
    long long s = scale > 1 ? scale : 1;
    return (SCHEDULE[attempts - 1] + s - 1) / s;
}

/* ---- the sender ---- */

struct fcgi_outbox {
    const struct fcgi_config *cfg;
    store_meta *meta;
    CURLM *multi;
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    bool stop;         /* under mu */
};

static bool stopping(fcgi_outbox *o)
{
    pthread_mutex_lock(&o->mu);
    bool s = o->stop;
    pthread_mutex_unlock(&o->mu);
    return s;
}

/* Waits a second, or less if stopped. */
static void pause_a_second(fcgi_outbox *o)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&o->mu);
    while (!o->stop && pthread_cond_timedwait(&o->cv, &o->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&o->mu);
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

/* Keeps printable ASCII only: the error is stored (UTF-8 checked) and
 * logged inside quotes. */
static void clean(char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"')
            *s = '?';
}

enum outcome { SENT, FAILED, ABANDONED };

/* One POST of event e. FAILED fills err; ABANDONED: stopped meanwhile. */
static enum outcome post(fcgi_outbox *o, const store_outbox_event *e, char *err, size_t cap)
{
    char id[32], hdr_id[64], hdr_ts[64], hdr_sig[FCGI_WEBHOOK_SIG_BYTES + 32];
    char sig[FCGI_WEBHOOK_SIG_BYTES], curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = NULL, *h2;
    fg_reason r = {{0}};
    enum outcome res = FAILED;
    size_t len = strlen(e->payload);
    long long ts = (long long)time(NULL);
    CURL *c = NULL;
    bool added = false;

    snprintf(id, sizeof id, "evt_%" PRId64, e->id);
    /* FILIGRANE_EVENTS_SECRET (or the first webhook key) of this moment:
     * a retry after a rotation is signed with the new key. */
    fcgi_keys *keys = fcgi_keyring_get(o->cfg->keys);
    fg_result signed_rc = fcgi_webhook_sign(&keys->events, id, ts, e->payload, len, sig, &r);
    fcgi_keys_put(keys);
    if (signed_rc != FG_OK) {
        snprintf(err, cap, "cannot sign: %.200s", r.text);
        goto out;
    }
    snprintf(hdr_id, sizeof hdr_id, "webhook-id: %s", id);
    snprintf(hdr_ts, sizeof hdr_ts, "webhook-timestamp: %lld", ts);
    snprintf(hdr_sig, sizeof hdr_sig, "webhook-signature: %s", sig);
    const char *lines[] = {"Content-Type: application/json", hdr_id, hdr_ts, hdr_sig,
                           "User-Agent: filigrane", "Expect:"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!(h2 = curl_slist_append(h, lines[i]))) {
            snprintf(err, cap, "out of memory");
            goto out;
        }
        h = h2;
    }
    if (!(c = curl_easy_init())) {
        snprintf(err, cap, "cannot start libcurl");
        goto out;
    }
    /* NOSIGNAL: several threads, and signals belong to main.c. Redirects
     * are not followed (the default, said here): 3xx is a failure. */
    if (curl_easy_setopt(c, CURLOPT_URL, o->cfg->events_url) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)FG_EVENTS_CONNECT_TIMEOUT_S) !=
            CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)FG_EVENTS_TIMEOUT_S) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, e->payload) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err) != CURLE_OK) {
        snprintf(err, cap, "cannot set up libcurl");
        goto out;
    }
    if (curl_multi_add_handle(o->multi, c) != CURLM_OK) {
        snprintf(err, cap, "cannot start the request");
        goto out;
    }
    added = true;
    /* The multi interface, so a stop (curl_multi_wakeup) ends the wait at
     * once instead of after the transfer's timeout. */
    int running = 1;
    while (running) {
        if (stopping(o)) {
            res = ABANDONED;
            goto out;
        }
        if (curl_multi_perform(o->multi, &running) != CURLM_OK) {
            snprintf(err, cap, "libcurl failed");
            goto out;
        }
        if (running && curl_multi_poll(o->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
            snprintf(err, cap, "libcurl failed");
            goto out;
        }
    }
    CURLMsg *msg;
    int left;
    CURLcode done = CURLE_FAILED_INIT;
    while ((msg = curl_multi_info_read(o->multi, &left)))
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == c)
            done = msg->data.result;
    if (done != CURLE_OK) {
        snprintf(err, cap, "%s", curl_err[0] ? curl_err : curl_easy_strerror(done));
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
        res = SENT;
    else
        snprintf(err, cap, "answered %ld", status);
out:
    if (added)
        curl_multi_remove_handle(o->multi, c);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (res == FAILED)
        clean(err);
    return res;
}

static void send_one(fcgi_outbox *o, const store_outbox_event *e)
{
    char err[FG_REASON_MAX] = "";
    fg_reason r = {{0}};
    int attempt = e->attempts + 1;
    enum outcome res = post(o, e, err, sizeof err);
    if (res == ABANDONED) {
        /* Not a try: the event is due again at once for the next sender
         * (this worker's next run, or another node), not after the lease. */
        if (store_outbox_release(o->meta, e, &r) != FG_OK)
            fcgi_log(FCGI_LOG_ERROR, "event=evt_%" PRId64 " error=\"cannot give it back: %s\"",
                     e->id, r.text);
        return;
    }
    if (res == SENT) {
        fcgi_metric_inc(FCGI_M_EVENTS_SENT);
        fcgi_log(FCGI_LOG_INFO, "event=evt_%" PRId64 " type=%s order=%s sent attempt=%d", e->id,
                 e->type, e->order_id[0] ? e->order_id : "-", attempt);
        if (store_outbox_mark_sent(o->meta, e->id, &r) != FG_OK)
            fcgi_log(FCGI_LOG_ERROR, "event=evt_%" PRId64 " error=\"cannot record it sent: %s\"",
                     e->id, r.text);
        return;
    }
    fcgi_metric_inc(FCGI_M_EVENTS_FAILED);
    long long wait = fcgi_outbox_retry_delay(attempt, o->cfg->events_retry_scale);
    fg_result rc;
    if (wait < 0) {
        fcgi_metric_inc(FCGI_M_EVENTS_DEAD);
        fcgi_log(FCGI_LOG_ERROR,
                 "event=evt_%" PRId64 " type=%s order=%s dead attempts=%d error=\"%s\"", e->id,
                 e->type, e->order_id[0] ? e->order_id : "-", attempt, err);
        rc = store_outbox_mark_failed(o->meta, e->id, err, STORE_OUTBOX_GIVE_UP, &r);
    } else {
        fcgi_log(FCGI_LOG_WARN,
                 "event=evt_%" PRId64 " type=%s order=%s failed attempt=%d retry_in=%llds "
                 "error=\"%s\"",
                 e->id, e->type, e->order_id[0] ? e->order_id : "-", attempt, wait, err);
        rc = store_outbox_mark_failed(o->meta, e->id, err, (int64_t)time(NULL) + wait, &r);
    }
    if (rc != FG_OK)
        fcgi_log(FCGI_LOG_ERROR, "event=evt_%" PRId64 " error=\"cannot record the try: %s\"",
                 e->id, r.text);
}

static void *run(void *p)
{
    fcgi_outbox *o = p;
    /* One event per claim: with several senders (nodes), an event waits
     * only for a sender to be free, never behind another's slow try, and a
     * sender that dies holds one event for one lease. The lease outlasts
     * a whole try (FG_EVENTS_TIMEOUT_S), so a live sender's claim never
     * runs out under it and no try is made twice. */
    while (!stopping(o)) {
        store_outbox_list due = {0};
        fg_reason r = {{0}};
        if (store_outbox_claim(o->meta, (int64_t)time(NULL), FG_OUTBOX_LEASE_S, 1, &due,
                               &r) != FG_OK)
            fcgi_log(FCGI_LOG_ERROR, "error=\"cannot read the outbox: %s\"", r.text);
        for (size_t i = 0; i < due.n; i++)
            send_one(o, &due.items[i]);
        /* One sent: more may be due now. */
        bool more = due.n > 0;
        store_outbox_list_release(&due);
        if (!more)
            pause_a_second(o);
    }
    return NULL;
}

/* Frees what start made; the thread is not running. */
static void release(fcgi_outbox *o, bool mu, bool cv, bool curl)
{
    if (o->multi)
        curl_multi_cleanup(o->multi);
    store_meta_free(o->meta);
    if (cv)
        pthread_cond_destroy(&o->cv);
    if (mu)
        pthread_mutex_destroy(&o->mu);
    if (curl)
        curl_global_cleanup();
    free(o);
}

fg_result fcgi_outbox_start(const struct fcgi_config *cfg, const char *db_path,
                            fcgi_outbox **out, fg_reason *r)
{
    pthread_condattr_t ca;
    bool mu = false, cv = false, curl = false;
    fg_result rc = FG_OK;
    *out = NULL;
    fcgi_outbox *o = calloc(1, sizeof *o);
    if (!o)
        return fg_fail(r, FG_EIO, "cannot start the event sender: out of memory");
    o->cfg = cfg;
    if (!(mu = pthread_mutex_init(&o->mu, NULL) == 0) ||
        pthread_condattr_init(&ca) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot start the event sender: no mutex");
        goto out;
    }
    cv = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
         pthread_cond_init(&o->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cv) {
        rc = fg_fail(r, FG_EIO, "cannot start the event sender: no condition variable");
        goto out;
    }
    if (!(curl = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK) ||
        !(o->multi = curl_multi_init())) {
        rc = fg_fail(r, FG_EIO, "cannot start the event sender: libcurl failed");
        goto out;
    }
    if ((rc = store_meta_open_db(db_path, &o->meta, r)) != FG_OK)
        goto out;
    if (pthread_create(&o->tid, NULL, run, o) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot start the event sender: no thread");
        goto out;
    }
    *out = o;
    return FG_OK;
out:
    release(o, mu, cv, curl);
    return rc;
}

void fcgi_outbox_stop(fcgi_outbox *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    o->stop = true;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    curl_multi_wakeup(o->multi);
    pthread_join(o->tid, NULL);
    release(o, true, true, true);
}
