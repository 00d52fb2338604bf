/* Opening the metadata store for a subcommand, as the worker does:
 * PostgreSQL when FILIGRANE_DATABASE_URL is set, else the data directory's
 * SQLite file. */
#include "cli/cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "storage/meta.h"

int cli_open_store(const char *cmd, const char *usage, const char *data, store_meta **m)
{
    char path[PATH_MAX];
    fg_reason r = {{0}};
    const char *url = getenv("FILIGRANE_DATABASE_URL");
    *m = NULL;
    if (url && *url) {
        /* The reason names the server with its password hidden
         * (storage/pg_conn.h); nothing here prints the URL itself. */
        fg_result rc = store_meta_open_url(url, NULL, m, &r);
        return rc == FG_OK ? 0 : cli_error(NULL, rc, r.text);
    }
    if (snprintf(path, sizeof path, "%s/filigrane.db", data) >= (int)sizeof path)
        return cli_usage_error(cmd, usage, "data directory path is too long");
    /* Opening would create an empty database: a mistyped --data must not
     * read as "intact, 0 entries", "no jobs", or sweep every blob away. */
    if (access(path, R_OK) != 0)
        return cli_error("filigrane.db", FG_ENOTFOUND, "no database in the data directory");
    fg_result rc = store_meta_open_sqlite(path, m, &r);
    return rc == FG_OK ? 0 : cli_error("filigrane.db", rc, r.text);
}
