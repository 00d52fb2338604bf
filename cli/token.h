/* `filigrane token`: mints an access token for operators and tests.
 *
 *   filigrane token --role seller|buyer|admin --sub USER [--ord ORDER]
 *                   [--ttl SECONDS] [--kid KID]
 *
 * Signs with FILIGRANE_JWT_SECRET (the worker's secret, at least
 * FG_JWT_MIN_SECRET_BYTES), or with --kid, with that kid's secret in
 * FILIGRANE_JWT_SECRETS, naming the kid in the header (each from its
 * _FILE too, fcgi/keys.h); adds aud = FILIGRANE_JWT_AUDIENCE when that is
 * set; prints the token and a newline on stdout. */
#ifndef CLI_TOKEN_H
#define CLI_TOKEN_H

#include "common/result.h"
#include "fcgi/jwt.h"

#define CLI_TOKEN_TTL_DEFAULT 3600

struct cli_token_args {
    enum fcgi_role role;
    const char *sub; /* borrowed from argv */
    const char *ord; /* borrowed from argv; NULL if not given */
    const char *kid; /* borrowed from argv; NULL if not given */
    long long ttl;
    int help;
};

/* Parses argv[1..argc) (argv[0] is the command name, "token"): --role,
 * --sub, --ord, --ttl, --kid, each as "--opt VALUE" or "--opt=VALUE", and
 * -h/--help. FG_EUSAGE with a reason for an unknown or repeated option, a
 * missing value, an unknown role, a ttl that is not 1 to
 * FG_JWT_MAX_TTL_SECONDS, no --role or --sub, or no --ord for a seller or
 * buyer. */
FG_MUST_CHECK fg_result cli_token_parse(int argc, char **argv,
                                        struct cli_token_args *a /* out */,
                                        fg_reason *r);

/* The command: returns the process exit status (0, or 2 with a reason and
 * the usage line on stderr for bad arguments or a missing secret). */
int cli_token(int argc, char **argv);

#endif
