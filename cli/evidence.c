/* filigrane evidence verify BUNDLE [--key JWK]: checks an evidence bundle
 * (GET /v1/orders/{order}/evidence) offline, with no database and no
 * network: every entry's hash recomputed from its fields
 * (storage/audit.h), every link (seq 1, 2, 3, ..., each prev_hash the
 * previous hash, the first genesis), the head equal to the last entry,
 * and the Ed25519 signature over the signed bytes (common/evidence.h).
 *
 * The key. With --key FILE (a JWK, or the JWK set GET /v1/keys answers),
 * the signature must verify with the key of the bundle's kid from that
 * file: this shows the service holding that key issued the bundle.
 * Without --key, the key carried in the bundle is used and the summary
 * says so: anyone can re-sign an edited bundle with a key of their own,
 * so that proves only that the bundle is intact as its signer made it,
 * not who the signer was. Either way a JWK whose kid is not derived from
 * its x (common/sign.h) is refused.
 *
 * Exit 0 and a summary when intact; exit 4 naming what broke (which
 * entry, the head, the signature); 2 for a bad command line; 1 when the
 * files cannot be read. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli/cli.h"
#include "common/evidence.h"
#include "common/id.h"
#include "common/sign.h"
#include "storage/audit.h"

static const char USAGE[] = "filigrane evidence verify BUNDLE [--key JWK]";

/* A bundle larger than this is refused before it is parsed (10,000
 * entries with webhook bodies take a few MB). */
#define EVIDENCE_FILE_MAX (512L * 1024 * 1024)

static json_t *load(const char *path, const char *what, int *status)
{
    struct stat st;
    json_error_t err;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        *status = cli_error(path, FG_EUSAGE, "cannot read it");
        return NULL;
    }
    if (st.st_size > EVIDENCE_FILE_MAX) {
        *status = cli_error(path, FG_ELIMIT, "larger than 512 MiB");
        return NULL;
    }
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        printf("evidence: BROKEN: the %s is not JSON (line %d: %s)\n", what, err.line, err.text);
        *status = fg_result_exit(FG_ECORRUPT);
    }
    return j;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Copies s into a field of cap bytes; false if absent or too long. */
static bool field(char *out, size_t cap, const char *s)
{
    if (!s || strlen(s) >= cap)
        return false;
    memcpy(out, s, strlen(s) + 1);
    return true;
}

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* Checks the JWK is an Ed25519 public key whose kid is derived from x;
 * NULL if so, else what is wrong. */
static const char *jwk_problem(json_t *k)
{
    unsigned char pub[FG_SIGN_PUB_BYTES + 1];
    char kid[FG_SIGN_KID_MAX];
    const char *x = str(k, "x"), *stated = str(k, "kid");
    if (!json_is_object(k) || !str(k, "kty") || strcmp(str(k, "kty"), "OKP") != 0 ||
        !str(k, "crv") || strcmp(str(k, "crv"), "Ed25519") != 0 || !x || !stated)
        return "the key is not an Ed25519 JWK (kty OKP, crv Ed25519, x, kid)";
    if (fg_b64url_decode(x, pub, sizeof pub) != FG_SIGN_PUB_BYTES)
        return "the key's x is not 32 bytes of base64url";
    fg_sign_kid(pub, kid);
    if (strcmp(kid, stated) != 0)
        return "the key's kid is not the one its x gives";
    return NULL;
}

__attribute__((format(printf, 1, 2))) static int broken(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("evidence: BROKEN: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    return fg_result_exit(FG_ECORRUPT);
}

static int verify(json_t *b, json_t *keyset)
{
    fg_reason r = {{0}};
    char prev[STORE_HEX_MAX] = STORE_AUDIT_GENESIS, hash[STORE_HEX_MAX];
    char msg[FG_EVIDENCE_SIGNED_MAX];
    const char *oid = str(b, "order_id");
    json_t *entries = json_object_get(b, "entries"), *head = json_object_get(b, "head");
    json_t *sig = json_object_get(b, "signature"), *key = NULL;
    size_t n;

    if (!str(b, "format") || strcmp(str(b, "format"), FG_EVIDENCE_FORMAT) != 0)
        return broken("format is not %s", FG_EVIDENCE_FORMAT);
    if (!oid || fg_id_check(oid, strlen(oid)) != FG_ID_OK)
        return broken("order_id is missing or not an id");
    if (json_object_get(b, "order") && str(json_object_get(b, "order"), "id") &&
        strcmp(str(json_object_get(b, "order"), "id"), oid) != 0)
        return broken("the order object is not order %s", oid);
    if (!json_is_array(entries))
        return broken("entries is not a list");
    n = json_array_size(entries);
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_array_get(entries, i);
        store_audit_entry e = {0};
        char want_seq[24];
        long long seq = (long long)i + 1;
        snprintf(want_seq, sizeof want_seq, "%lld", seq);
        snprintf(e.order_id, sizeof e.order_id, "%s", oid);
        e.chain_seq = seq;
        e.detail = (char *)str(j, "detail");
        if (!json_is_object(j) || !str(j, "seq") || !field(e.at, sizeof e.at, str(j, "at")) ||
            !field(e.actor, sizeof e.actor, str(j, "actor")) ||
            !field(e.action, sizeof e.action, str(j, "action")) || !e.detail ||
            !is_hex64(str(j, "prev_hash")) || !is_hex64(str(j, "hash")))
            return broken("entry %lld: a field is missing, not a string or too long", seq);
        if (strcmp(str(j, "seq"), want_seq) != 0)
            return broken("entry %lld: its seq is not the next one (an entry dropped or "
                          "moved)", seq);
        if (strcmp(str(j, "prev_hash"), prev) != 0)
            return broken("entry %lld: its prev_hash is not the previous entry's hash (an "
                          "entry dropped, added or moved)", seq);
        snprintf(e.prev_hash, sizeof e.prev_hash, "%s", prev);
        if (store_audit_hash(&e, hash, &r) != FG_OK)
            return cli_error("evidence", FG_EIO, r.text);
        if (strcmp(hash, str(j, "hash")) != 0)
            return broken("entry %lld: its fields do not hash to its hash (changed)", seq);
        snprintf(prev, sizeof prev, "%s", hash);
    }
    const char *hseq = str(head, "seq"), *hhash = str(head, "hash");
    char want[24];
    snprintf(want, sizeof want, "%zu", n);
    if (!hseq || !hhash || strcmp(hseq, want) != 0 || strcmp(hhash, prev) != 0)
        return broken("the head is not the last entry (entries cut off the end, or the head "
                      "changed)");
    /* The key: from --key by kid, else the bundle's own. */
    const char *kid = str(sig, "kid"), *value = str(sig, "value"), *issued = str(b, "issued_at");
    if (!kid || !value || !issued)
        return broken("the signature, its kid or issued_at is missing");
    if (keyset) {
        json_t *list = json_object_get(keyset, "keys");
        if (!list && json_is_object(keyset)) {
            key = str(keyset, "kid") && strcmp(str(keyset, "kid"), kid) == 0 ? keyset : NULL;
        } else {
            for (size_t i = 0; i < json_array_size(list); i++)
                if (str(json_array_get(list, i), "kid") &&
                    strcmp(str(json_array_get(list, i), "kid"), kid) == 0)
                    key = json_array_get(list, i);
        }
        if (!key)
            return broken("the bundle is signed by kid %s, which --key does not hold", kid);
    } else {
        key = json_object_get(b, "key");
        if (!str(key, "kid") || strcmp(str(key, "kid"), kid) != 0)
            return broken("the bundle's key is not kid %s, the signature's", kid);
    }
    const char *p = jwk_problem(key);
    if (p)
        return broken("%s", p);
    size_t len = fg_evidence_signed(oid, (long long)n, prev, issued, msg, sizeof msg);
    if (len == 0)
        return broken("issued_at is too long");
    fg_result rc = fg_sign_verify(str(key, "x"), msg, len, value, &r);
    if (rc == FG_ECORRUPT)
        return broken("the signature: %s", r.text);
    if (rc != FG_OK)
        return cli_error("evidence", rc, r.text);
    printf("evidence: intact, order %s, %zu entries, head %s, issued %s, signed by kid %s\n", oid,
           n, prev, issued, kid);
    if (keyset)
        printf("evidence: the signature is checked against the key given with --key\n");
    else
        printf("evidence: the signature is checked against the key in the bundle itself: this "
               "proves the bundle intact, not who signed it; pass --key with the service's "
               "published key (GET /v1/keys) for that\n");
    return 0;
}

int cli_evidence(int argc, char **argv)
{
    const char *bundle = NULL, *keyfile = NULL;
    json_t *b = NULL, *k = NULL;
    int status = 0;
    if (argc < 2 || strcmp(argv[1], "verify") != 0)
        return cli_usage_error("evidence", USAGE, "the only action is verify");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
            keyfile = argv[++i];
        else if (argv[i][0] != '-' && !bundle)
            bundle = argv[i];
        else
            return cli_usage_error("evidence", USAGE, "unknown argument");
    }
    if (!bundle)
        return cli_usage_error("evidence", USAGE, "which bundle?");
    if (!(b = load(bundle, "bundle", &status)))
        goto out;
    if (keyfile && !(k = load(keyfile, "key", &status)))
        goto out;
    status = verify(b, k);
out:
    json_decref(k);
    json_decref(b);
    return status;
}
