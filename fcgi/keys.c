#include "fcgi/keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcgi/config.h"

static const char *const NAMES[FCGI_KS_COUNT] = {
    "FILIGRANE_JWT_SECRET", "FILIGRANE_JWT_SECRETS", "FILIGRANE_WEBHOOK_SECRET",
    "FILIGRANE_WEBHOOK_SECRETS", "FILIGRANE_EVENTS_SECRET", "FILIGRANE_METRICS_TOKEN",
};

#define WS " \t\r\n"

const char *fcgi_key_source_name(enum fcgi_key_source i)
{
    return (unsigned)i < FCGI_KS_COUNT ? NAMES[i] : "?";
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void wipe_free(char **s)
{
    if (*s) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
    }
    *s = NULL;
}

void fcgi_key_sources_release(struct fcgi_key_sources *s)
{
    if (!s)
        return;
    for (int i = 0; i < FCGI_KS_COUNT; i++) {
        wipe_free(&s->value[i]);
        free(s->file[i]);
        s->file[i] = NULL;
    }
    free(s->signing_file);
    free(s->retired_dir);
    s->signing_file = s->retired_dir = NULL;
}

static fg_result dup_into(const char *v, char **out, fg_reason *r)
{
    *out = NULL;
    if (v && !(*out = strdup(v)))
        return fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
    return FG_OK;
}

fg_result fcgi_key_sources_capture(struct fcgi_key_sources *s, fg_reason *r)
{
    fg_result rc = FG_OK;
    char file_var[64];
    memset(s, 0, sizeof *s);
    for (int i = 0; i < FCGI_KS_COUNT && rc == FG_OK; i++) {
        snprintf(file_var, sizeof file_var, "%s_FILE", NAMES[i]);
        const char *v = env(NAMES[i]), *f = env(file_var);
        if (v && f)
            rc = fg_fail(r, FG_EUSAGE, "set %s or %s, not both", NAMES[i], file_var);
        else if ((rc = dup_into(v, &s->value[i], r)) == FG_OK)
            rc = dup_into(f, &s->file[i], r);
    }
    if (rc == FG_OK)
        rc = dup_into(env("FILIGRANE_SIGNING_KEY_FILE"), &s->signing_file, r);
    if (rc == FG_OK)
        rc = dup_into(env("FILIGRANE_SIGNING_KEYS_RETIRED_DIR"), &s->retired_dir, r);
    if (rc != FG_OK)
        fcgi_key_sources_release(s);
    return rc;
}

/* The text of source i now: its value, or its file read again. */
static fg_result source_text(const struct fcgi_key_sources *s, int i, char **out, fg_reason *r)
{
    char file_var[64];
    *out = NULL;
    if (s->file[i]) {
        snprintf(file_var, sizeof file_var, "%s_FILE", NAMES[i]);
        return fcgi_secret_file(file_var, s->file[i], out, r);
    }
    return dup_into(s->value[i], out, r);
}

static void keys_free(fcgi_keys *k)
{
    if (!k)
        return;
    wipe_free(&k->jwt_secret);
    wipe_free(&k->metrics_token);
    for (size_t i = 0; i < FCGI_JWT_KEYS_MAX; i++) {
        char *sec = (char *)k->jwt[i].secret;
        wipe_free(&sec);
    }
    for (size_t i = 0; i < FCGI_WEBHOOK_KEYS_MAX; i++)
        fcgi_webhook_key_release(&k->hooks[i]);
    fcgi_webhook_key_release(&k->events);
    EVP_PKEY_free(k->sign_key);
    free(k);
}

void fcgi_keys_put(fcgi_keys *k)
{
    if (k && atomic_fetch_sub(&k->refs, 1) == 1)
        keys_free(k);
}

static fg_result jwt_secret_check(const char *var, const char *kid, const char *s, fg_reason *r)
{
    char what[FCGI_JWT_KID_MAX + 64];
    if (kid)
        snprintf(what, sizeof what, "%s (kid %s)", var, kid);
    else
        snprintf(what, sizeof what, "%s", var);
    if (strlen(s) < FG_JWT_MIN_SECRET_BYTES)
        return fg_fail(r, FG_EUSAGE, "%s is shorter than %d bytes", what,
                       FG_JWT_MIN_SECRET_BYTES);
    if (fcgi_secret_weak((const unsigned char *)s, strlen(s)))
        return fg_fail(r, FG_EUSAGE,
                       "%s is too weak: fewer than %d distinct bytes or "
                       "%d equal bytes in a row (use openssl rand -hex 32)",
                       what, FG_SECRET_MIN_DISTINCT, FG_SECRET_MAX_RUN);
    return FG_OK;
}

/* "kid:secret kid:secret" (spaces, tabs or newlines between entries). */
static fg_result parse_jwt_secrets(char *text, fcgi_keys *k, fg_reason *r)
{
    const char *var = NAMES[FCGI_KS_JWT_SECRETS];
    char *save = NULL;
    size_t n = 0;
    for (char *e = strtok_r(text, WS, &save); e; e = strtok_r(NULL, WS, &save), n++) {
        char *colon = strchr(e, ':');
        if (!colon)
            return fg_fail(r, FG_EUSAGE, "%s: entry %zu is not kid:secret", var, n + 1);
        *colon = '\0';
        if (!fcgi_jwt_kid_valid(e))
            return fg_fail(r, FG_EUSAGE,
                           "%s: entry %zu: a kid is 1 to %d of A-Z a-z 0-9 . _ -", var, n + 1,
                           FCGI_JWT_KID_MAX);
        if (k->n_jwt == FCGI_JWT_KEYS_MAX)
            return fg_fail(r, FG_EUSAGE, "%s holds more than %d keys", var, FCGI_JWT_KEYS_MAX);
        for (size_t i = 0; i < k->n_jwt; i++)
            if (strcmp(k->jwt[i].kid, e) == 0)
                return fg_fail(r, FG_EUSAGE, "%s names kid %s twice", var, e);
        fg_result rc = jwt_secret_check(var, e, colon + 1, r);
        if (rc != FG_OK)
            return rc;
        snprintf(k->jwt[k->n_jwt].kid, sizeof k->jwt[k->n_jwt].kid, "%s", e);
        if (!(k->jwt[k->n_jwt].secret = strdup(colon + 1)))
            return fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
        k->n_jwt++;
    }
    return FG_OK;
}

/* One whsec_ key into *key; the reason names var. */
static fg_result hook_key(const char *var, const char *text, struct fcgi_webhook_key *key,
                          fg_reason *r)
{
    fg_reason why = {{0}};
    if (fcgi_webhook_key_init(key, text, &why) != FG_OK)
        return fg_fail(r, FG_EUSAGE, "%s: %s", var, why.text);
    if (fcgi_secret_weak(key->key, key->len))
        return fg_fail(r, FG_EUSAGE,
                       "%s is too weak: its key has fewer than %d "
                       "distinct bytes or %d equal bytes in a row (use whsec_ and openssl "
                       "rand -base64 32)",
                       var, FG_SECRET_MIN_DISTINCT, FG_SECRET_MAX_RUN);
    return FG_OK;
}

static fg_result build_secrets(const struct fcgi_key_sources *s, fcgi_keys *k, fg_reason *r)
{
    char *text[FCGI_KS_COUNT] = {NULL};
    fg_result rc = FG_OK;
    for (int i = 0; i < FCGI_KS_COUNT && rc == FG_OK; i++)
        rc = source_text(s, i, &text[i], r);
    if (rc != FG_OK)
        goto out;

    if (text[FCGI_KS_JWT_SECRET]) {
        if ((rc = jwt_secret_check(NAMES[FCGI_KS_JWT_SECRET], NULL, text[FCGI_KS_JWT_SECRET],
                                   r)) != FG_OK)
            goto out;
        k->jwt_secret = text[FCGI_KS_JWT_SECRET];
        text[FCGI_KS_JWT_SECRET] = NULL;
    }
    if (text[FCGI_KS_JWT_SECRETS] &&
        (rc = parse_jwt_secrets(text[FCGI_KS_JWT_SECRETS], k, r)) != FG_OK)
        goto out;
    if (!k->jwt_secret && k->n_jwt == 0) {
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_JWT_SECRET (or _FILE) is not set");
        goto out;
    }

    if (text[FCGI_KS_WEBHOOK_SECRET]) {
        if ((rc = hook_key(NAMES[FCGI_KS_WEBHOOK_SECRET], text[FCGI_KS_WEBHOOK_SECRET],
                           &k->hooks[0], r)) != FG_OK)
            goto out;
        k->n_hooks = 1;
    }
    if (text[FCGI_KS_WEBHOOK_SECRETS]) {
        char *save = NULL;
        const char *var = NAMES[FCGI_KS_WEBHOOK_SECRETS];
        for (char *e = strtok_r(text[FCGI_KS_WEBHOOK_SECRETS], WS, &save); e;
             e = strtok_r(NULL, WS, &save)) {
            if (k->n_hooks == FCGI_WEBHOOK_KEYS_MAX) {
                rc = fg_fail(r, FG_EUSAGE,
                             "FILIGRANE_WEBHOOK_SECRET and %s hold more than %d keys", var,
                             FCGI_WEBHOOK_KEYS_MAX);
                goto out;
            }
            if ((rc = hook_key(var, e, &k->hooks[k->n_hooks], r)) != FG_OK)
                goto out;
            k->n_hooks++;
        }
    }
    if (k->n_hooks == 0) {
        rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_WEBHOOK_SECRET (or _FILE) is not set");
        goto out;
    }
    if (text[FCGI_KS_EVENTS_SECRET]) {
        if ((rc = hook_key(NAMES[FCGI_KS_EVENTS_SECRET], text[FCGI_KS_EVENTS_SECRET],
                           &k->events, r)) != FG_OK)
            goto out;
    } else {
        k->events = k->hooks[0];
        k->events_is_webhook = true;
    }
    /* Optional: without it /metrics is refused to everyone. */
    if (text[FCGI_KS_METRICS_TOKEN]) {
        const char *t = text[FCGI_KS_METRICS_TOKEN];
        size_t n = strlen(t);
        bool visible = true;
        for (size_t i = 0; i < n; i++)
            visible = visible && t[i] > 0x20 && t[i] < 0x7f;
        if (n < FCGI_METRICS_TOKEN_MIN || n > FCGI_METRICS_TOKEN_MAX || !visible) {
            rc = fg_fail(r, FG_EUSAGE,
                         "FILIGRANE_METRICS_TOKEN must be %d to %d visible ASCII bytes",
                         FCGI_METRICS_TOKEN_MIN, FCGI_METRICS_TOKEN_MAX);
            goto out;
        }
        k->metrics_token = text[FCGI_KS_METRICS_TOKEN];
        text[FCGI_KS_METRICS_TOKEN] = NULL;
    }
out:
    for (int i = 0; i < FCGI_KS_COUNT; i++)
        wipe_free(&text[i]);
    return rc;
}

static fg_result copy_secrets(const fcgi_keys *prev, fcgi_keys *k, fg_reason *r)
{
    if (prev->jwt_secret && !(k->jwt_secret = strdup(prev->jwt_secret)))
        return fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
    for (size_t i = 0; i < prev->n_jwt; i++) {
        k->jwt[i] = prev->jwt[i];
        if (!(k->jwt[i].secret = strdup(prev->jwt[i].secret)))
            return fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
        k->n_jwt = i + 1;
    }
    if (prev->metrics_token && !(k->metrics_token = strdup(prev->metrics_token)))
        return fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
    memcpy(k->hooks, prev->hooks, sizeof k->hooks);
    k->n_hooks = prev->n_hooks;
    k->events = prev->events;
    k->events_is_webhook = prev->events_is_webhook;
    return FG_OK;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.pem in the retired directory, sorted by name. The directory,
 * like its files, must be the service user's and closed to others'
 * writes: a key slipped in there would be published as ours. */
static fg_result load_retired(const char *dir, fcgi_keys *k, fg_reason *r)
{
    const char *var = "FILIGRANE_SIGNING_KEYS_RETIRED_DIR";
    char *names[FCGI_SIGN_RETIRED_MAX + 1];
    size_t n = 0;
    fg_result rc = FG_OK;
    struct stat st;
    DIR *d = opendir(dir);
    if (!d)
        return fg_fail(r, FG_EUSAGE, "%s cannot be opened (errno %d)", var, errno);
    if (fstat(dirfd(d), &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
        rc = fg_fail(r, FG_EUSAGE,
                     "%s must be owned by the service user (uid %d) and not writable by others",
                     var, (int)geteuid());
        goto out;
    }
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".pem") != 0)
            continue;
        if (n == FCGI_SIGN_RETIRED_MAX) {
            rc = fg_fail(r, FG_EUSAGE, "%s holds more than %d .pem files", var,
                         FCGI_SIGN_RETIRED_MAX);
            goto out;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = fg_fail(r, FG_EIO, "out of memory");
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof names[0], by_name);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], what[96];
        struct fcgi_sign_pub p;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path) {
            rc = fg_fail(r, FG_EUSAGE, "%s: a path is too long", var);
            goto out;
        }
        snprintf(what, sizeof what, "%s's %.40s", var, names[i]);
        if ((rc = fg_sign_public_load(what, path, p.x, p.kid, r)) != FG_OK)
            goto out;
        bool seen = strcmp(p.kid, k->sign.kid) == 0;
        for (size_t j = 0; j < k->n_retired && !seen; j++)
            seen = strcmp(p.kid, k->retired[j].kid) == 0;
        if (!seen)
            k->retired[k->n_retired++] = p;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    closedir(d);
    return rc;
}

static fg_result build_signing(const struct fcgi_key_sources *s, fcgi_keys *k, fg_reason *r)
{
    fg_result rc;
    if (s->signing_file) {
        if ((rc = fg_sign_key_load("FILIGRANE_SIGNING_KEY_FILE", s->signing_file, &k->sign_key,
                                   r)) != FG_OK ||
            (rc = fg_sign_key_public(k->sign_key, k->sign.x, k->sign.kid, r)) != FG_OK)
            return rc;
    }
    if (s->retired_dir)
        return load_retired(s->retired_dir, k, r);
    return FG_OK;
}

static void copy_signing(const fcgi_keys *prev, fcgi_keys *k)
{
    if (prev->sign_key && EVP_PKEY_up_ref(prev->sign_key) == 1)
        k->sign_key = prev->sign_key;
    k->sign = prev->sign;
    memcpy(k->retired, prev->retired, sizeof k->retired);
    k->n_retired = prev->n_retired;
}

fg_result fcgi_keys_build(const struct fcgi_key_sources *s, const fcgi_keys *prev,
                          unsigned what, fcgi_keys **out, fg_reason *r)
{
    fg_result rc = FG_OK;
    fcgi_keys *k = calloc(1, sizeof *k);
    *out = NULL;
    if (!k)
        return fg_fail(r, FG_EIO, "cannot load configuration: out of memory");
    atomic_init(&k->refs, 1);
    if (what & FCGI_KEYS_SECRETS)
        rc = build_secrets(s, k, r);
    else if (prev)
        rc = copy_secrets(prev, k, r);
    if (rc != FG_OK)
        goto out;
    if (what & FCGI_KEYS_SIGNING)
        rc = build_signing(s, k, r);
    else if (prev)
        copy_signing(prev, k);
out:
    if (rc != FG_OK)
        keys_free(k);
    else
        *out = k;
    return rc;
}

void fcgi_keys_jwt_policy(const fcgi_keys *k, long long max_ttl, const char *audience,
                          struct fcgi_jwt_policy *p)
{
    *p = (struct fcgi_jwt_policy){.secret = k->jwt_secret,
                                  .keys = k->jwt,
                                  .n_keys = k->n_jwt,
                                  .max_ttl = max_ttl,
                                  .audience = audience};
}

/* ---- the holder ---- */

struct fcgi_keyring {
    pthread_mutex_t mu; /* guards cur: taking a reference is one increment
                           under it, so a swap never frees a set between
                           a reader's load and its increment */
    fcgi_keys *cur;
    unsigned long long generation;
};

fcgi_keyring *fcgi_keyring_new(fcgi_keys *initial)
{
    fcgi_keyring *ring = calloc(1, sizeof *ring);
    if (!ring) {
        fcgi_keys_put(initial);
        return NULL;
    }
    pthread_mutex_init(&ring->mu, NULL);
    ring->cur = initial;
    ring->generation = 1;
    if (initial)
        initial->generation = 1;
    return ring;
}

fcgi_keys *fcgi_keyring_get(fcgi_keyring *ring)
{
    pthread_mutex_lock(&ring->mu);
    fcgi_keys *k = ring->cur;
    if (k)
        atomic_fetch_add(&k->refs, 1);
    pthread_mutex_unlock(&ring->mu);
    return k;
}

void fcgi_keyring_swap(fcgi_keyring *ring, fcgi_keys *next)
{
    pthread_mutex_lock(&ring->mu);
    fcgi_keys *old = ring->cur;
    next->generation = ++ring->generation;
    ring->cur = next;
    pthread_mutex_unlock(&ring->mu);
    fcgi_keys_put(old);
}

void fcgi_keyring_free(fcgi_keyring *ring)
{
    if (!ring)
        return;
    fcgi_keys_put(ring->cur);
    pthread_mutex_destroy(&ring->mu);
    free(ring);
}

fg_result fcgi_keys_mint_secret(const char *kid, char **secret, fg_reason *r)
{
    struct fcgi_key_sources s;
    fcgi_keys k;
    char *text = NULL;
    fg_result rc;
    int src = kid ? FCGI_KS_JWT_SECRETS : FCGI_KS_JWT_SECRET;
    *secret = NULL;
    memset(&k, 0, sizeof k);
    if ((rc = fcgi_key_sources_capture(&s, r)) != FG_OK)
        return rc;
    if ((rc = source_text(&s, src, &text, r)) != FG_OK)
        goto out;
    if (!text) {
        rc = fg_fail(r, FG_EUSAGE, "%s (or _FILE) is not set", NAMES[src]);
        goto out;
    }
    if (!kid) {
        if ((rc = jwt_secret_check(NAMES[src], NULL, text, r)) == FG_OK) {
            *secret = text;
            text = NULL;
        }
        goto out;
    }
    if ((rc = parse_jwt_secrets(text, &k, r)) != FG_OK)
        goto out;
    rc = fg_fail(r, FG_EUSAGE, "FILIGRANE_JWT_SECRETS has no kid %s", kid);
    for (size_t i = 0; i < k.n_jwt; i++)
        if (strcmp(k.jwt[i].kid, kid) == 0) {
            *secret = (char *)k.jwt[i].secret;
            k.jwt[i].secret = NULL;
            rc = FG_OK;
        }
out:
    for (size_t i = 0; i < k.n_jwt; i++) {
        char *sec = (char *)k.jwt[i].secret;
        wipe_free(&sec);
    }
    wipe_free(&text);
    fcgi_key_sources_release(&s);
    return rc;
}
