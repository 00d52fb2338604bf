#include "cli/token.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "fcgi/keys.h"

static const char USAGE[] =
    "usage: filigrane token --role seller|buyer|admin --sub USER "
    "[--ord ORDER] [--ttl SECONDS] [--kid KID]\n";

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past the value.
 * Returns 1 on a match (with *val set, NULL if the value is missing). */
static int option(int argc, char **argv, int *i, const char *name,
                  const char **val)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

fg_result cli_token_parse(int argc, char **argv, struct cli_token_args *a,
                          fg_reason *r)
{
    const char *role = NULL, *ttl = NULL;
    memset(a, 0, sizeof *a);
    a->ttl = CLI_TOKEN_TTL_DEFAULT;

    for (int i = 1; i < argc; i++) {
        const char *v = NULL, **slot;
        const char *opt = argv[i];
        if (strcmp(opt, "-h") == 0 || strcmp(opt, "--help") == 0) {
            a->help = 1;
            return FG_OK;
        }
        if (option(argc, argv, &i, "--role", &v))
            slot = &role;
        else if (option(argc, argv, &i, "--sub", &v))
            slot = &a->sub;
        else if (option(argc, argv, &i, "--ord", &v))
            slot = &a->ord;
        else if (option(argc, argv, &i, "--ttl", &v))
            slot = &ttl;
        else if (option(argc, argv, &i, "--kid", &v))
            slot = &a->kid;
        else
            return fg_fail(r, FG_EUSAGE, "unknown argument \"%.40s\"", opt);
        if (!v || !*v)
            return fg_fail(r, FG_EUSAGE, "%.10s needs a value", opt);
        if (*slot)
            return fg_fail(r, FG_EUSAGE, "%.10s given twice", opt);
        *slot = v;
    }
    if (!role || !a->sub)
        return fg_fail(r, FG_EUSAGE, "--role and --sub are required");
    a->role = fcgi_role_parse(role);
    if (!a->role)
        return fg_fail(r, FG_EUSAGE, "--role must be seller, buyer or admin");
    if (!a->ord && a->role != FCGI_ROLE_ADMIN)
        return fg_fail(r, FG_EUSAGE, "a %s token needs --ord",
                       fcgi_role_name(a->role));
    if (a->kid && !fcgi_jwt_kid_valid(a->kid))
        return fg_fail(r, FG_EUSAGE, "--kid must be 1 to %d of A-Z a-z 0-9 . _ -",
                       FCGI_JWT_KID_MAX);
    if (ttl) {
        char *end = NULL;
        errno = 0;
        long long t = strtoll(ttl, &end, 10);
        if (*ttl < '0' || *ttl > '9' || errno || *end || t < 1 ||
            t > FG_JWT_MAX_TTL_SECONDS)
            return fg_fail(r, FG_EUSAGE, "--ttl must be 1 to %lld seconds",
                           FG_JWT_MAX_TTL_SECONDS);
        a->ttl = t;
    }
    return FG_OK;
}

int cli_token(int argc, char **argv)
{
    struct cli_token_args a;
    fg_reason r = {{0}};
    char *token = NULL, *secret = NULL;
    fg_result res = cli_token_parse(argc, argv, &a, &r);
    if (res == FG_OK && a.help) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (res == FG_OK && (res = fcgi_keys_mint_secret(a.kid, &secret, &r)) == FG_OK) {
        /* The worker refuses a token without its audience once
         * FILIGRANE_JWT_AUDIENCE is set. */
        const char *aud = getenv("FILIGRANE_JWT_AUDIENCE");
        res = fcgi_jwt_mint_ex(secret, a.kid, aud && *aud ? aud : NULL, a.role, a.sub, a.ord,
                               a.ttl, (long long)time(NULL), &token, &r);
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
    if (res != FG_OK) {
        fprintf(stderr, "filigrane token: %s\n", r.text);
        if (res == FG_EUSAGE)
            fputs(USAGE, stderr);
        return fg_result_exit(res);
    }
    printf("%s\n", token);
    free(token);
    return fflush(stdout) == 0 ? 0 : 1;
}
