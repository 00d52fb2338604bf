/* SigV4 as filigrane computes it (storage/s3_sign.c), against AWS's
 * published examples, and the small XML reader (storage/s3_xml.c). */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <stdlib.h>

#include "storage/s3.h"
#include "storage/s3_sign.h"
#include "storage/s3_xml.h"

/* AWS's example credentials (documentation only, they open nothing). */
#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EXAMPLE_TIME 1369353600 /* 2013-05-24T00:00:00Z */
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static s3_client *example_client(s3_addressing a, const char *endpoint)
{
    s3_config cfg = {
        .endpoint = endpoint, .bucket = "examplebucket",
        .region = "us-east-1", .access_key_id = AKID,
        .secret_access_key = SECRET, .addressing = a,
    };
    s3_client *c = NULL;
    fg_reason r = {""};
    if (s3_client_new(&cfg, &c, &r) != FG_OK)
        TAP_FAIL("client: %s", r.text);
    return c;
}

TEST("presigned GET matches AWS's published query-parameter example")
{
    /* "Authenticating Requests: Using Query Parameters (AWS Signature
     * Version 4)": GET examplebucket/test.txt, 86400 s, at 20130524T000000Z. */
    s3_client *c = example_client(S3_ADDRESSING_VIRTUAL, "https://s3.amazonaws.com");
    char url[S3_URL_MAX];
    fg_reason r = {""};
    CHECK(s3_presign_get(c, "test.txt", 86400, EXAMPLE_TIME, NULL, 0, url,
                         sizeof url, &r) == FG_OK);
    CHECK_STR(url,
              "https://examplebucket.s3.amazonaws.com/test.txt"
              "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
              "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
              "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    s3_client_free(c);
}

TEST("a presigned url changes with the secret, the key, the time and the expiry")
{
    s3_client *c = example_client(S3_ADDRESSING_VIRTUAL, "https://s3.amazonaws.com");
    char base[S3_URL_MAX], other[S3_URL_MAX];
    fg_reason r = {""};
    CHECK(s3_presign_get(c, "test.txt", 86400, EXAMPLE_TIME, NULL, 0, base,
                         sizeof base, &r) == FG_OK);
    CHECK(s3_presign_get(c, "test.txT", 86400, EXAMPLE_TIME, NULL, 0, other,
                         sizeof other, &r) == FG_OK);
    CHECK(strcmp(strstr(base, "Signature="), strstr(other, "Signature=")) != 0);
    CHECK(s3_presign_get(c, "test.txt", 86401, EXAMPLE_TIME, NULL, 0, other,
                         sizeof other, &r) == FG_OK);
    CHECK(strcmp(strstr(base, "Signature="), strstr(other, "Signature=")) != 0);
    CHECK(s3_presign_get(c, "test.txt", 86400, EXAMPLE_TIME + 1, NULL, 0, other,
                         sizeof other, &r) == FG_OK);
    CHECK(strcmp(strstr(base, "Signature="), strstr(other, "Signature=")) != 0);
    s3_client_free(c);
    s3_config cfg = {
        .endpoint = "https://s3.amazonaws.com", .bucket = "examplebucket",
        .access_key_id = AKID, .secret_access_key = SECRET "x",
        .addressing = S3_ADDRESSING_VIRTUAL,
    };
    CHECK(s3_client_new(&cfg, &c, &r) == FG_OK);
    CHECK(s3_presign_get(c, "test.txt", 86400, EXAMPLE_TIME, NULL, 0, other,
                         sizeof other, &r) == FG_OK);
    CHECK(strcmp(strstr(base, "Signature="), strstr(other, "Signature=")) != 0);
    s3_client_free(c);
}

/* The header-signing examples of "Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk": the same
 * canonical-request code the tests use to check libcurl's signatures. */
TEST("canonical request signing matches AWS's GET Object example")
{
    s3_header h[] = {{"host", "examplebucket.s3.amazonaws.com"},
                     {"range", "bytes=0-9"},
                     {"x-amz-content-sha256", EMPTY},
                     {"x-amz-date", "20130524T000000Z"}};
    s3_sign_input in = {.method = "GET", .path = "/test.txt", .query = "",
                        .headers = h, .nheaders = 4, .payload = EMPTY,
                        .amz_date = "20130524T000000Z", .region = "us-east-1",
                        .service = "s3", .secret = SECRET};
    char sig[65];
    CHECK(s3_sign(&in, sig, NULL) == FG_OK);
    CHECK_STR(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST("canonical request signing matches AWS's PUT Object example")
{
    const char *body = "Welcome to Amazon S3.";
    char hash[65];
    s3_sha256_hex(body, strlen(body), hash);
    CHECK_STR(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    s3_header h[] = {{"date", "Fri, 24 May 2013 00:00:00 GMT"},
                     {"host", "examplebucket.s3.amazonaws.com"},
                     {"x-amz-content-sha256", hash},
                     {"x-amz-date", "20130524T000000Z"},
                     {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
    s3_sign_input in = {.method = "PUT", .path = "/test%24file.text", .query = "",
                        .headers = h, .nheaders = 5, .payload = hash,
                        .amz_date = "20130524T000000Z", .region = "us-east-1",
                        .service = "s3", .secret = SECRET};
    char sig[65];
    CHECK(s3_sign(&in, sig, NULL) == FG_OK);
    CHECK_STR(sig, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST("canonical request signing matches AWS's GET Bucket list example")
{
    s3_header h[] = {{"host", "examplebucket.s3.amazonaws.com"},
                     {"x-amz-content-sha256", EMPTY},
                     {"x-amz-date", "20130524T000000Z"}};
    s3_sign_input in = {.method = "GET", .path = "/", .query = "max-keys=2&prefix=J",
                        .headers = h, .nheaders = 3, .payload = EMPTY,
                        .amz_date = "20130524T000000Z", .region = "us-east-1",
                        .service = "s3", .secret = SECRET};
    char sig[65];
    CHECK(s3_sign(&in, sig, NULL) == FG_OK);
    CHECK_STR(sig, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST("signed query parameters are encoded as AWS wants and sorted by name")
{
    s3_client *c = example_client(S3_ADDRESSING_PATH, "http://127.0.0.1:9000");
    s3_param p[] = {{"response-content-type", "image/png"},
                    {"response-content-disposition",
                     "attachment; filename=\"a b.png\"; filename*=UTF-8''a%20b.png"}};
    char url[S3_URL_MAX];
    fg_reason r = {""};
    CHECK(s3_presign_get(c, "sha256/ab:c", 300, EXAMPLE_TIME, p, 2, url, sizeof url,
                         &r) == FG_OK);
    /* path style, port kept, key encoded with '/' kept */
    CHECK(strncmp(url, "http://127.0.0.1:9000/examplebucket/sha256/ab%3Ac?", 50) == 0);
    /* uppercase X-Amz-* sort before lowercase names; disposition before type */
    const char *d = strstr(url, "&response-content-disposition=");
    const char *t = strstr(url, "&response-content-type=image%2Fpng");
    const char *s = strstr(url, "&X-Amz-SignedHeaders=host&");
    CHECK(d && t && s && s < d && d < t);
    CHECK(strstr(url, "attachment%3B%20filename%3D%22a%20b.png%22%3B%20filename%2A%3D"
                      "UTF-8%27%27a%2520b.png&") != NULL);
    s3_client_free(c);
}

TEST("the scheme's default port is left out of the signed host")
{
    s3_client *c = example_client(S3_ADDRESSING_VIRTUAL, "https://s3.amazonaws.com:443/");
    char url[S3_URL_MAX];
    CHECK(s3_presign_get(c, "test.txt", 86400, EXAMPLE_TIME, NULL, 0, url,
                         sizeof url, NULL) == FG_OK);
    CHECK(strstr(url, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
    s3_client_free(c);
}

TEST("presigning refuses an expiry outside 1..604800 seconds and a short buffer")
{
    s3_client *c = example_client(S3_ADDRESSING_PATH, "http://127.0.0.1:9000");
    char url[S3_URL_MAX];
    fg_reason r = {""};
    CHECK(s3_presign_get(c, "k", 0, EXAMPLE_TIME, NULL, 0, url, sizeof url, &r) == FG_EUSAGE);
    CHECK(s3_presign_get(c, "k", 604801, EXAMPLE_TIME, NULL, 0, url, sizeof url, &r) ==
          FG_EUSAGE);
    CHECK(s3_presign_get(c, "k", 604800, EXAMPLE_TIME, NULL, 0, url, sizeof url, &r) == FG_OK);
    size_t need = strlen(url) + 1;
    /* every size below the one needed fails cleanly, the exact one works */
    for (size_t cap = 0; cap < need; cap++)
        CHECK(s3_presign_get(c, "k", 604800, EXAMPLE_TIME, NULL, 0, url, cap, &r) ==
              FG_ELIMIT);
    CHECK(s3_presign_get(c, "k", 604800, EXAMPLE_TIME, NULL, 0, url, need, &r) == FG_OK);
    CHECK(strstr(r.text, SECRET) == NULL);
    s3_client_free(c);
}

TEST("uri encoding keeps only A-Z a-z 0-9 - _ . ~ (and / in paths)")
{
    static const struct {
        const char *in;
        bool slash;
        const char *want;
    } rows[] = {
        {"abcXYZ019-_.~", false, "abcXYZ019-_.~"},
        {"a/b", true, "a/b"},
        {"a/b", false, "a%2Fb"},
        {"a b+c*d'e(f)g!", false, "a%20b%2Bc%2Ad%27e%28f%29g%21"},
        {"é", false, "%C3%A9"},
        {"%", true, "%25"},
        {"", false, ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[64];
        size_t len = 0;
        CHECK(s3_uri_encode(rows[i].in, rows[i].slash, out, sizeof out, &len, NULL) ==
              FG_OK);
        CHECK_STR(out, rows[i].want);
        CHECK_INT(len, strlen(rows[i].want));
    }
    char small[4];
    size_t len = 0;
    CHECK(s3_uri_encode("é", false, small, sizeof small, &len, NULL) == FG_ELIMIT);
    CHECK_INT(len, 0);
}

TEST("client settings are checked and the reason never shows the secret")
{
    static const struct {
        const char *endpoint, *bucket, *region, *secret;
        const char *want; /* in the reason */
    } rows[] = {
        {NULL, "bkt", NULL, "s", "FILIGRANE_S3_ENDPOINT"},
        {"ftp://h", "bkt", NULL, "s", "FILIGRANE_S3_ENDPOINT"},
        {"http://", "bkt", NULL, "s", "FILIGRANE_S3_ENDPOINT"},
        {"http://h/path", "bkt", NULL, "s", "FILIGRANE_S3_ENDPOINT"},
        {"http://user@h", "bkt", NULL, "s", "FILIGRANE_S3_ENDPOINT"},
        {"http://h:99999", "bkt", NULL, "s", "FILIGRANE_S3_ENDPOINT"},
        {"http://h:9000?x", "bkt", NULL, "s", "FILIGRANE_S3_ENDPOINT"},
        {"http://h", "BK", NULL, "s", "FILIGRANE_S3_BUCKET"},
        {"http://h", "a/b", NULL, "s", "FILIGRANE_S3_BUCKET"},
        {"http://h", "bkt", "US East", "s", "FILIGRANE_S3_REGION"},
        {"http://h", "bkt", NULL, "", "FILIGRANE_S3_SECRET_ACCESS_KEY"},
        {"http://h", "bkt", NULL, "top secret", "FILIGRANE_S3_SECRET_ACCESS_KEY"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        s3_config cfg = {.endpoint = rows[i].endpoint, .bucket = rows[i].bucket,
                         .region = rows[i].region, .access_key_id = "AK",
                         .secret_access_key = rows[i].secret};
        s3_client *c = NULL;
        fg_reason r = {""};
        if (s3_client_new(&cfg, &c, &r) != FG_EUSAGE || c)
            TAP_FAIL("row %zu accepted", i);
        if (!strstr(r.text, rows[i].want))
            TAP_FAIL("row %zu: \"%s\" does not name %s", i, r.text, rows[i].want);
        CHECK(strstr(r.text, "top secret") == NULL);
    }
}

TEST("FILIGRANE_S3_PART_SIZE is refused below 5 MiB and above 5 GiB")
{
    static const struct {
        int64_t size;
        fg_result want;
    } rows[] = {
        {0, FG_OK}, /* the default */
        {S3_PART_SIZE_MIN - 1, FG_EUSAGE},
        {S3_PART_SIZE_MIN, FG_OK},
        {S3_PART_SIZE_MAX, FG_OK},
        {S3_PART_SIZE_MAX + 1, FG_EUSAGE},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        s3_config cfg = {.endpoint = "http://h", .bucket = "bkt", .access_key_id = "AK",
                         .secret_access_key = "S", .part_size = rows[i].size};
        s3_client *c = NULL;
        fg_reason r = {""};
        CHECK_INT(s3_client_new(&cfg, &c, &r), rows[i].want);
        if (rows[i].want != FG_OK)
            CHECK(strstr(r.text, "FILIGRANE_S3_PART_SIZE") != NULL);
        else
            CHECK_INT(s3_client_part_size(c),
                      rows[i].size ? rows[i].size : S3_PART_SIZE_DEFAULT);
        s3_client_free(c);
    }
}

TEST("xml: elements are found by exact name and entities decoded")
{
    const char *doc =
        "<?xml version=\"1.0\"?><ListBucketResult><KeyCount>2</KeyCount>"
        "<Contents><Key>a&amp;b&lt;&#233;&#x41;</Key><Size>6</Size></Contents>"
        "<Contents><Key attr=\"x\">c</Key></Contents><Empty/></ListBucketResult>";
    char out[64];
    CHECK(s3_xml_text(doc, strlen(doc), "Key", out, sizeof out));
    CHECK_STR(out, "a&b<\xc3\xa9" "A");
    CHECK(s3_xml_text(doc, strlen(doc), "KeyCount", out, sizeof out));
    CHECK_STR(out, "2");
    CHECK(s3_xml_text(doc, strlen(doc), "Empty", out, sizeof out));
    CHECK_STR(out, "");
    CHECK(!s3_xml_text(doc, strlen(doc), "Missing", out, sizeof out));
    const char *p = doc, *in;
    size_t n, count = 0;
    while (s3_xml_next(&p, doc + strlen(doc), "Contents", &in, &n))
        count++;
    CHECK_INT(count, 2);
}

TEST("xml: unknown entities, NUL references, unclosed elements and overlong text are refused")
{
    static const char *bad[] = {
        "<Code>&foo;</Code>", "<Code>&#0;</Code>", "<Code>&#xD800;</Code>",
        "<Code>&#99999999999;</Code>", "<Code>a &amp b</Code>", "<Code>abc",
        "<Code>0123456789abcdef</Code>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[16];
        if (s3_xml_text(bad[i], strlen(bad[i]), "Code", out, sizeof out))
            TAP_FAIL("accepted %s", bad[i]);
    }
    /* every truncated prefix of a valid document: no crash, no overread */
    const char *good = "<Error><Code>NoSuchKey</Code></Error>";
    for (size_t len = 0; len < strlen(good); len++) {
        char *copy = malloc(len ? len : 1);
        memcpy(copy, good, len);
        char out[32];
        bool ok = s3_xml_text(copy, len, "Code", out, sizeof out);
        CHECK(!ok || strcmp(out, "NoSuchKey") == 0);
        free(copy);
    }
}
