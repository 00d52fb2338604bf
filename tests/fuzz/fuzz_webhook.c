/* fcgi_webhook_verify on fuzzed headers and body, with a fixed key.
 *
 * Input: "id\ntimestamp\nsignature\nbody" (the body keeps any further
 * newlines and may hold NULs).
 *
 * Invariants:
 * - verify returns FG_OK only when the timestamp is digits within
 *   FG_WEBHOOK_TOLERANCE_SECONDS of now and one space-separated entry of
 *   the signature header is exactly "v1," + base64 of HMAC-SHA256(key,
 *   id "." timestamp "." body), computed here with OpenSSL's one-shot
 *   HMAC; every other outcome is FG_EAUTH with a reason;
 * - when fcgi_webhook_sign accepts the id and the timestamp is the
 *   canonical spelling of a time within the tolerance, our own signature
 *   put in front of the fuzzed header verifies (FG_OK), and the same
 *   header fails once the body has one more byte. */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fcgi/webhook_sig.h"
#include "tests/fuzz/fuzz.h"

/* The 31-byte key "fuzz-webhook-key-0123456789abcd", base64. */
#define SECRET "whsec_ZnV6ei13ZWJob29rLWtleS0wMTIzNDU2Nzg5YWJjZA=="
#define NOW 1700000000LL

static struct fcgi_webhook_key key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fg_reason r;
    (void)argc;
    (void)argv;
    if (fcgi_webhook_key_init(&key, SECRET, &r) != FG_OK) {
        fprintf(stderr, "fuzz_webhook: %s\n", r.text);
        abort();
    }
    return 0;
}

static int expected_entry(const char *id, const char *ts, const char *body,
                          size_t blen, const char *sig)
{
    size_t il = strlen(id), tl = strlen(ts);
    size_t n = il + 1 + tl + 1 + blen;
    unsigned char *msg = malloc(n + 1);
    unsigned char mac[EVP_MAX_MD_SIZE], b64[64];
    unsigned int ml = 0;
    if (!msg)
        abort();
    memcpy(msg, id, il);
    msg[il] = '.';
    memcpy(msg + il + 1, ts, tl);
    msg[il + 1 + tl] = '.';
    if (blen)
        memcpy(msg + il + 2 + tl, body, blen);
    HMAC(EVP_sha256(), key.key, (int)key.len, msg, n, mac, &ml);
    free(msg);
    EVP_EncodeBlock(b64, mac, (int)ml);

    /* Is "v1,<b64>" one whole space-separated entry of sig? */
    char want[64];
    snprintf(want, sizeof want, "v1,%s", (const char *)b64);
    size_t wl = strlen(want);
    for (const char *p = sig; (p = strstr(p, want)) != NULL; p++)
        if ((p == sig || p[-1] == ' ') && (p[wl] == '\0' || p[wl] == ' '))
            return 1;
    return 0;
}

static int ts_in_window(const char *ts, long long *v)
{
    size_t n = strlen(ts);
    if (n == 0 || n > 18)
        return 0;
    long long t = 0;
    for (size_t i = 0; i < n; i++) {
        if (ts[i] < '0' || ts[i] > '9')
            return 0;
        t = t * 10 + (ts[i] - '0');
    }
    *v = t;
    return t >= NOW - FG_WEBHOOK_TOLERANCE_SECONDS &&
           t <= NOW + FG_WEBHOOK_TOLERANCE_SECONDS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[4];
    size_t lens[4];
    size_t nf = fuzz_split(data, size, '\n', f, lens, 4);
    const char *id = f[0];
    const char *ts = nf > 1 ? f[1] : NULL;
    const char *sig = nf > 2 ? f[2] : NULL;
    const char *body = nf > 3 ? f[3] : "";
    size_t blen = nf > 3 ? lens[3] : 0;
    enum fcgi_webhook_why why;
    fg_reason r = {{0}};
    long long t = 0;

    fg_result res =
        fcgi_webhook_verify(&key, id, ts, sig, body, blen, NOW, &why, &r);
    FUZZ_CHECK(res == FG_OK || res == FG_EAUTH, "result %s",
               fg_result_name(res));
    FUZZ_CHECK((res == FG_OK) == (why == FCGI_WEBHOOK_OK), "why %d for %s",
               (int)why, fg_result_name(res));
    if (res == FG_OK) {
        FUZZ_CHECK(ts_in_window(ts, &t), "accepted a timestamp out of window");
        FUZZ_CHECK(expected_entry(id, ts, body, blen, sig),
                   "accepted a signature that is not ours");
    } else {
        FUZZ_CHECK(r.text[0] != '\0', "refused without a reason");
    }

    /* Round trip: sign, put ours first, verify. */
    char mine[FCGI_WEBHOOK_SIG_BYTES], canon[24];
    if (ts && ts_in_window(ts, &t) &&
        (size_t)snprintf(canon, sizeof canon, "%lld", t) == strlen(ts) &&
        strcmp(canon, ts) == 0 &&
        fcgi_webhook_sign(&key, id, t, body, blen, mine, &r) == FG_OK) {
        const char *rest = sig ? sig : "";
        size_t hl = strlen(mine) + 1 + strlen(rest);
        char *hdr = malloc(hl + 1);
        if (!hdr)
            abort();
        snprintf(hdr, hl + 1, "%s %s", mine, rest);
        if (hl <= FG_WEBHOOK_MAX_SIG_HEADER_BYTES) {
            res = fcgi_webhook_verify(&key, id, ts, hdr, body, blen, NOW, &why,
                                      &r);
            FUZZ_CHECK(res == FG_OK, "our own signature refused: %s", r.text);
            char *longer = malloc(blen + 1);
            if (!longer)
                abort();
            if (blen)
                memcpy(longer, body, blen);
            longer[blen] = 'x';
            /* Only a header that already carried a match for the longer
             * body could pass; ours cannot. */
            if (!expected_entry(id, ts, longer, blen + 1, hdr))
                FUZZ_CHECK(fcgi_webhook_verify(&key, id, ts, hdr, longer,
                                               blen + 1, NOW, &why,
                                               &r) == FG_EAUTH,
                           "signature held for a changed body");
            free(longer);
        }
        free(hdr);
    }
    fuzz_free_fields(f, nf);
    return 0;
}
