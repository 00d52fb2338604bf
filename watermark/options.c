/* Stamping options: defaults from common/limits.h, then environment
 * overrides, then (in the CLI) command-line options, all through one
 * table so that every route has the same names and bounds; and the keyed
 * or random seed that places the mark. */
#include "watermark/options.h"
#include "common/hex.h"

#include "common/commit.h"
#include "common/setting.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Not limits on input, so not in common/limits.h: how a preview looks. */
#define PREVIEW_OPACITY_DEFAULT 0.3
#define PREVIEW_QUALITY_DEFAULT 85

/* The PDF renderer names its own defaults in common/limits.h; these stand
 * in until that section exists. */
#ifndef FG_PDF_DPI_DEFAULT
#define FG_PDF_DPI_DEFAULT 110
#endif
#ifndef FG_MAX_PDF_PAGES_DEFAULT
#define FG_MAX_PDF_PAGES_DEFAULT 20
#endif

typedef enum { T_INT, T_LL, T_DOUBLE, T_SEED, T_SALT, T_PAYLOAD, T_PATTERN } opt_type;

static const struct opt {
    const char *name;
    const char *env;
    opt_type type;
    size_t offset;
    double min, max;
} opts[] = {
    {"max-edge", "FILIGRANE_PREVIEW_EDGE", T_INT,
     offsetof(wm_options, max_edge), 0, 65000},
    {"opacity", "FILIGRANE_OPACITY", T_DOUBLE, offsetof(wm_options, opacity),
     0.01, 1},
    {"seed", NULL, T_SEED, offsetof(wm_options, seed), 0, 0},
    {"salt", "FILIGRANE_STAMP_SALT", T_SALT, offsetof(wm_options, salt), 0, 0},
    {"trace-payload", NULL, T_PAYLOAD, offsetof(wm_options, trace_payload), 0, 0},
    {"trace-pattern", "FILIGRANE_TRACE_PATTERN", T_PATTERN, offsetof(wm_options, trace_key), 0,
     0},
    {"quality", "FILIGRANE_QUALITY", T_INT,
     offsetof(wm_options, jpeg_quality), 1, 100},
    {"max-pixels", "FILIGRANE_MAX_PIXELS", T_LL,
     offsetof(wm_options, max_pixels), 1, 1e15},
    {"max-bytes", "FILIGRANE_MAX_INPUT_BYTES", T_LL,
     offsetof(wm_options, max_bytes), 1, 1e15},
    {"max-frames", "FILIGRANE_MAX_FRAMES", T_INT,
     offsetof(wm_options, max_frames), 1, 100000},
    {"pdf-dpi", "FILIGRANE_PDF_DPI", T_INT, offsetof(wm_options, pdf_dpi),
     18, 1200},
    {"max-pages", "FILIGRANE_MAX_PAGES", T_INT,
     offsetof(wm_options, max_pages), 1, 100000},
    {"excerpt-pages", "FILIGRANE_EXCERPT_PAGES", T_INT,
     offsetof(wm_options, excerpt_pages), 1, FG_MAX_PREVIEW_PAGES},
    {"text-max-line", "FILIGRANE_TEXT_MAX_LINE", T_INT,
     offsetof(wm_options, text_max_line), 256, 1 << 24},
    {"max-seconds", "FILIGRANE_PREVIEW_MAX_SECONDS", T_INT,
     offsetof(wm_options, max_seconds), 1, 86400},
    {"audio-mark-interval", "FILIGRANE_AUDIO_MARK_INTERVAL", T_INT,
     offsetof(wm_options, audio_mark_interval), 2, 3600},
    {"audio-max-rate", "FILIGRANE_AUDIO_MAX_RATE", T_LL,
     offsetof(wm_options, audio_max_rate), 8000, 100000000},
};
#define NOPTS (sizeof opts / sizeof opts[0])

static fg_result set(wm_options *o, const struct opt *d, const char *label,
                     const char *value, fg_reason *r)
{
    char *end = NULL;
    char *field = (char *)o + d->offset;
    errno = 0;
    if (!value || !*value)
        return fg_fail(r, FG_EUSAGE, "%s: missing value", label);
    if (d->type == T_DOUBLE) {
        double v = strtod(value, &end);
        if (errno || *end || !isfinite(v) || v < d->min || v > d->max)
            return fg_fail(r, FG_EUSAGE, "%s: want a number from %g to %g",
                           label, d->min, d->max);
        *(double *)field = v;
        return FG_OK;
    }
    if (d->type == T_SALT) {
        unsigned char salt[sizeof o->salt];
        if (!fg_hex_decode(value, salt, sizeof salt))
            return fg_fail(r, FG_EUSAGE, "%s: want %zu bytes as %zu hex digits", label,
                           sizeof salt, 2 * sizeof salt);
        memcpy(o->salt, salt, sizeof salt);
        o->has_salt = true;
        return FG_OK;
    }
    if (d->type == T_PATTERN) {
        unsigned char key[sizeof o->trace_key];
        if (!fg_hex_decode(value, key, sizeof key))
            return fg_fail(r, FG_EUSAGE, "%s: want %zu bytes as %zu hex digits", label,
                           sizeof key, 2 * sizeof key);
        memcpy(o->trace_key, key, sizeof key);
        o->has_trace_key = true;
        return FG_OK;
    }
    if (d->type == T_PAYLOAD) {
        unsigned char b[8];
        if (!fg_hex_decode(value, b, sizeof b))
            return fg_fail(r, FG_EUSAGE, "%s: want 16 hex digits", label);
        o->trace_payload = 0;
        for (int i = 0; i < 8; i++)
            o->trace_payload = (o->trace_payload << 8) | b[i];
        o->has_trace = true;
        return FG_OK;
    }
    if (d->type == T_SEED) {
        /* Decimal or 0x-hex, the full 64 bits. */
        if (value[0] == '-')
            return fg_fail(r, FG_EUSAGE, "%s: want an unsigned integer",
                           label);
        unsigned long long v = strtoull(value, &end, 0);
        if (errno || *end)
            return fg_fail(r, FG_EUSAGE, "%s: want an unsigned integer",
                           label);
        o->seed = v;
        o->has_seed = true;
        return FG_OK;
    }
    long long v = 0;
    if (!fg_parse_count(value, false, (long long)d->min, (long long)d->max, &v))
        return fg_fail(r, FG_EUSAGE, "%s: want an integer from %lld to %lld",
                       label, (long long)d->min, (long long)d->max);
    if (d->type == T_INT)
        *(int *)field = (int)v;
    else
        *(long long *)field = v;
    return FG_OK;
}

fg_result wm_options_set(wm_options *o, const char *name, const char *value,
                         fg_reason *r)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].name, name) == 0) {
            char label[64];
            snprintf(label, sizeof label, "--%s", name);
            fg_result rc = set(o, &opts[i], label, value, r);
            /* Pages asked for on the command line are what an excerpt
             * shows too; FILIGRANE_MAX_PAGES alone only caps it. */
            if (rc == FG_OK && strcmp(name, "max-pages") == 0)
                o->max_pages_given = true;
            return rc;
        }
    return fg_fail(r, FG_EUSAGE, "unknown option --%.40s", name);
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n > FG_MAX_VAR_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

fg_result wm_options_add_var(wm_options *o, char *spec, fg_reason *r)
{
    char *eq = strchr(spec, '=');
    if (!eq)
        return fg_fail(r, FG_EUSAGE, "--var: want name=value");
    size_t n = (size_t)(eq - spec);
    if (!valid_name(spec, n))
        return fg_fail(r, FG_EUSAGE,
                       "--var: a name is 1 to %d letters, digits, _ - or .",
                       FG_MAX_VAR_NAME);
    if (o->nvars >= FG_MAX_TEMPLATE_VARS)
        return fg_fail(r, FG_EUSAGE, "--var: at most %d variables",
                       FG_MAX_TEMPLATE_VARS);
    *eq = '\0';
    o->vars[o->nvars].name = spec;
    o->vars[o->nvars].value = eq + 1;
    o->nvars++;
    return FG_OK;
}

fg_result wm_options_init(wm_options *o, fg_reason *r)
{
    memset(o, 0, sizeof *o);
    o->text_template = NULL;
    o->max_edge = FG_PREVIEW_EDGE_DEFAULT;
    o->opacity = PREVIEW_OPACITY_DEFAULT;
    o->jpeg_quality = PREVIEW_QUALITY_DEFAULT;
    o->max_pixels = FG_MAX_INPUT_PIXELS_DEFAULT;
    o->max_bytes = FG_MAX_INPUT_BYTES_DEFAULT;
    o->max_frames = FG_MAX_FRAMES_DEFAULT;
    o->pdf_dpi = FG_PDF_DPI_DEFAULT;
    o->max_pages = FG_MAX_PDF_PAGES_DEFAULT;
    o->max_seconds = FG_PREVIEW_MAX_SECONDS_DEFAULT;
    o->audio_mark_interval = FG_AUDIO_MARK_INTERVAL_DEFAULT;
    o->audio_max_rate = FG_AUDIO_MAX_RATE_DEFAULT;
    o->excerpt_pages = FG_EXCERPT_PAGES_DEFAULT;
    o->text_max_line = FG_TEXT_MAX_LINE_DEFAULT;
    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = opts[i].env ? getenv(opts[i].env) : NULL;
        if (!v)
            continue;
        fg_result rc = set(o, &opts[i], opts[i].env, v, r);
        if (rc != FG_OK)
            return rc;
    }
    return FG_OK;
}

/* The seed's domain label: a MAC with the same key made for another
 * purpose can never be read as a placement, nor the other way round. */
static const char seed_label[] = "filigrane-mark-v1\n";

static int mac_netstring(EVP_MAC_CTX *c, const char *s)
{
    char len[24];
    size_t n = s ? strlen(s) : 0;
    int k = snprintf(len, sizeof len, "%zu:", n);
    return EVP_MAC_update(c, (const unsigned char *)len, (size_t)k) &&
           EVP_MAC_update(c, (const unsigned char *)(s ? s : ""), n) &&
           EVP_MAC_update(c, (const unsigned char *)",", 1);
}

fg_result wm_mark_seed(const void *key, size_t key_len, const char *sha256_hex,
                       const char *order, const char *buyer, uint64_t *seed,
                       fg_reason *r)
{
    fg_result rc = FG_OK;
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t n = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    if (!c || !EVP_MAC_init(c, key, key_len, params) ||
        !EVP_MAC_update(c, (const unsigned char *)seed_label,
                        sizeof seed_label - 1) ||
        !mac_netstring(c, sha256_hex) || !mac_netstring(c, order) ||
        !mac_netstring(c, buyer) || !EVP_MAC_final(c, md, &n, sizeof md) ||
        n < 8) {
        rc = fg_fail(r, FG_EIO, "cannot compute the mark's placement");
        goto out;
    }
    *seed = 0;
    for (int i = 0; i < 8; i++)
        *seed = (*seed << 8) | md[i];
out:
    OPENSSL_cleanse(md, sizeof md);
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    return rc;
}

fg_result wm_mark_seed_file(const void *key, size_t key_len, const char *path,
                            const char *order, const char *buyer,
                            uint64_t *seed, fg_reason *r)
{
    unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
    char hex[2 * 32 + 1];
    unsigned int n = 0;
    struct stat st;
    fg_result rc = FG_OK;
    EVP_MD_CTX *c = NULL;
    /* O_NONBLOCK: a FIFO named as input must not hang the caller. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fg_fail(r, FG_ECORRUPT, "cannot open the file as a regular file");
        goto out;
    }
    if (!(c = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        rc = fg_fail(r, FG_EIO, "cannot hash the file: out of memory");
        goto out;
    }
    for (;;) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = fg_fail(r, FG_ECORRUPT, "cannot read the file");
            goto out;
        }
        if (k == 0)
            break;
        if (!EVP_DigestUpdate(c, buf, (size_t)k)) {
            rc = fg_fail(r, FG_EIO, "cannot hash the file");
            goto out;
        }
    }
    if (!EVP_DigestFinal_ex(c, md, &n) || n != 32) {
        rc = fg_fail(r, FG_EIO, "cannot hash the file");
        goto out;
    }
    fg_hex_encode(md, n, hex);
    rc = wm_mark_seed(key, key_len, hex, order, buyer, seed, r);
out:
    EVP_MD_CTX_free(c);
    if (fd >= 0)
        close(fd);
    return rc;
}

fg_result wm_mark_key_from_env(const char **key, fg_reason *r)
{
    const char *v = getenv(WM_MARK_KEY_ENV);
    *key = NULL;
    if (!v || !*v)
        return FG_OK;
    if (strlen(v) < WM_MARK_KEY_MIN_BYTES)
        return fg_fail(r, FG_EUSAGE, "%s is shorter than %d bytes",
                       WM_MARK_KEY_ENV, WM_MARK_KEY_MIN_BYTES);
    *key = v;
    return FG_OK;
}

fg_result wm_random_seed(uint64_t *seed, fg_reason *r)
{
    uint64_t s = 0;
    ssize_t k;
    do
        k = getrandom(&s, sizeof s, 0);
    while (k < 0 && errno == EINTR);
    if (k != (ssize_t)sizeof s)
        return fg_fail(r, FG_EIO, "cannot draw a random placement");
    *seed = s;
    return FG_OK;
}
