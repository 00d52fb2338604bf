/* fcgi/views.c: what each party is shown of a file's hashes. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include "fcgi/views.h"

#define SHA "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SALT "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
#define COMMIT "750eb9543f041175588ba0eef376f484e59d2385fe47c0881693f5154538f1c9"

static store_file file(bool with_salt)
{
    store_file f;
    memset(&f, 0, sizeof f);
    snprintf(f.id, sizeof f.id, "0123456789abcdef0123456789abcdef");
    snprintf(f.order_id, sizeof f.order_id, "ord-1");
    f.delivery = 1;
    snprintf(f.name, sizeof f.name, "pin.txt");
    f.size = 5;
    snprintf(f.sha256, sizeof f.sha256, SHA);
    if (with_salt) {
        snprintf(f.salt, sizeof f.salt, SALT);
        snprintf(f.commitment, sizeof f.commitment, COMMIT);
    }
    snprintf(f.mime, sizeof f.mime, "text/plain");
    snprintf(f.kind, sizeof f.kind, "other");
    snprintf(f.preview, sizeof f.preview, "withheld");
    snprintf(f.created_at, sizeof f.created_at, "2026-11-22T10:00:00.000Z");
    return f;
}

/* The whole JSON text, for searching it as a client would. */
static char *text(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return s;
}

TEST("unrevealed: sha256 is null, the commitment shown, the salt and plain hash nowhere")
{
    store_file f = file(true);
    json_t *v = fcgi_view_file(&f, false);
    CHECK(v != NULL);
    CHECK(json_is_null(json_object_get(v, "sha256")));
    CHECK_STR(json_string_value(json_object_get(v, "commitment")), COMMIT);
    CHECK(json_object_get(v, "salt") == NULL);
    char *s = text(v);
    CHECK(s && !strstr(s, SHA) && !strstr(s, SALT));
    free(s);
}

TEST("revealed: sha256, salt and the same commitment")
{
    store_file f = file(true);
    json_t *v = fcgi_view_file(&f, true);
    CHECK_STR(json_string_value(json_object_get(v, "sha256")), SHA);
    CHECK_STR(json_string_value(json_object_get(v, "salt")), SALT);
    CHECK_STR(json_string_value(json_object_get(v, "commitment")), COMMIT);
    json_decref(v);
}

TEST("a file stored without a salt shows no hash at all until revealed")
{
    store_file f = file(false);
    char *s = text(fcgi_view_file(&f, false));
    CHECK(s && strstr(s, "\"sha256\":null") && strstr(s, "\"commitment\":null"));
    CHECK(!strstr(s, SHA) && !strstr(s, "salt"));
    free(s);
    json_t *v = fcgi_view_file(&f, true);
    CHECK_STR(json_string_value(json_object_get(v, "sha256")), SHA);
    CHECK(json_object_get(v, "salt") == NULL);
    json_decref(v);
}

TEST("who is shown plain hashes: seller and admin always, the buyer once accepted")
{
    static const struct {
        enum fcgi_role role;
        const char *state;
        bool want;
    } rows[] = {
        {FCGI_ROLE_SELLER, STORE_STATE_OPEN, true},
        {FCGI_ROLE_ADMIN, STORE_STATE_OPEN, true},
        {FCGI_ROLE_BUYER, STORE_STATE_OPEN, false},
        {FCGI_ROLE_BUYER, STORE_STATE_DISPUTED, false},
        {FCGI_ROLE_BUYER, STORE_STATE_CANCELLED, false},
        {FCGI_ROLE_BUYER, STORE_STATE_ACCEPTED, true},
        {FCGI_ROLE_SELLER, STORE_STATE_CANCELLED, true},
        {(enum fcgi_role)0, STORE_STATE_ACCEPTED, false}, /* no such role */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct fcgi_claims who;
        store_order o;
        memset(&who, 0, sizeof who);
        memset(&o, 0, sizeof o);
        who.role = rows[i].role;
        snprintf(o.state, sizeof o.state, "%s", rows[i].state);
        if (fcgi_view_reveals(&who, &o) != rows[i].want)
            TAP_FAIL("row %zu: role %d, state %s", i, (int)rows[i].role, rows[i].state);
    }
}

TEST("a ready preview says whether it has a poster; other states say nothing, and its hash is never shown")
{
    store_file f = file(true);
    json_t *v = fcgi_view_file(&f, false);
    CHECK(json_object_get(v, "poster") == NULL); /* withheld */
    json_decref(v);
    snprintf(f.preview, sizeof f.preview, "ready");
    snprintf(f.preview_sha256, sizeof f.preview_sha256, SALT);
    snprintf(f.preview_mime, sizeof f.preview_mime, "video/mp4");
    v = fcgi_view_file(&f, true);
    CHECK(json_is_false(json_object_get(v, "poster")));
    json_decref(v);
    snprintf(f.poster_sha256, sizeof f.poster_sha256,
             "1111111111111111111111111111111111111111111111111111111111111111");
    snprintf(f.poster_mime, sizeof f.poster_mime, "image/jpeg");
    v = fcgi_view_file(&f, true);
    CHECK(json_is_true(json_object_get(v, "poster")));
    char *s = text(v);
    CHECK(s && !strstr(s, "1111111111111111"));
    free(s);
    snprintf(f.preview, sizeof f.preview, "processing");
    v = fcgi_view_file(&f, true);
    CHECK(json_object_get(v, "poster") == NULL);
    json_decref(v);
}
