/* filigrane audit verify: proves the evidence trail untouched.
 *
 * Checks every order's chain, the chains' head rows and the checkpoints of
 * the data directory's database (the same storage code as the worker,
 * storage/audit.h), and prints the entry, chain and checkpoint counts and
 * the last checkpoint's hash, which an operator keeps elsewhere (a ticket,
 * a log shipped off the machine): a later run printing another hash for
 * the same checkpoint count means the checkpoints were rewritten, which no
 * in-database check could see alone. A broken trail is named: which
 * order's chain (or the service chain) and which entry, or which
 * checkpoint; exit 4. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "storage/audit.h"
#include "storage/meta.h"

static const char USAGE[] = "filigrane audit verify [--data DIR]   (default $FILIGRANE_DATA or ./var)";

int cli_audit(int argc, char **argv)
{
    const char *data = getenv("FILIGRANE_DATA");
    if (!data || !*data)
        data = "./var";
    if (argc < 2 || strcmp(argv[1], "verify") != 0)
        return cli_usage_error("audit", USAGE, "the only action is verify");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else
            return cli_usage_error("audit", USAGE, "unknown argument");
    }
    store_meta *m = NULL;
    store_audit_report rep;
    fg_reason r = {{0}};
    int status = cli_open_store("audit", USAGE, data, &m);
    if (status)
        return status;
    fg_result rc = store_audit_verify(m, &rep, &r);
    store_meta_free(m);
    if (rc == FG_ECORRUPT) {
        if (rep.first_bad == 0)
            printf("audit: BROKEN: %s\n", rep.why);
        else if (rep.in_checkpoints)
            printf("audit: BROKEN at checkpoint %lld: %s\n", (long long)rep.first_bad, rep.why);
        else if (rep.chain[0])
            printf("audit: BROKEN in the chain of order %s at entry %lld: %s\n", rep.chain,
                   (long long)rep.first_bad, rep.why);
        else
            printf("audit: BROKEN in the service chain at entry %lld: %s\n",
                   (long long)rep.first_bad, rep.why);
        return fg_result_exit(rc);
    }
    if (rc != FG_OK)
        return cli_error("filigrane.db", rc, r.text);
    printf("audit: intact, %lld entries in %lld chains, %lld checkpoints, head %s\n",
           (long long)rep.count, (long long)rep.chains, (long long)rep.checkpoints, rep.head);
    if (rep.legacy_entries > 0)
        printf("audit: %lld entries were moved from the single chain of before (its head %s)\n",
               (long long)rep.legacy_entries, rep.legacy_head);
    return 0;
}
