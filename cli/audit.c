/* filigrane audit verify: proves the evidence trail untouched.
 *
 * Walks the whole hash chain of the data directory's database (the same
 * storage code as the worker) and prints the entry count and the head
 * hash, which an operator keeps elsewhere (a ticket, a log shipped off the
 * machine): a later run printing a different head for the same count means
 * the trail was rewritten, which no in-database check could see alone. */
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
        printf("audit: BROKEN at entry %lld of %lld: %s\n", (long long)rep.first_bad,
               (long long)rep.count, rep.why);
        return fg_result_exit(rc);
    }
    if (rc != FG_OK)
        return cli_error("filigrane.db", rc, r.text);
    printf("audit: intact, %lld entries, head %s\n", (long long)rep.count, rep.head);
    return 0;
}
