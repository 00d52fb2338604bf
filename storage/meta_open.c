/* Opening the metadata store named by the settings: PostgreSQL when a
 * database URL is given, SQLite in the data directory otherwise. */
#include "storage/meta_pg_impl.h"

#include <stdio.h>

fg_result store_meta_open_db(const char *db, store_meta **out, fg_reason *r)
{
    *out = NULL;
    if (store_pg_url_is_pg(db))
        return store_meta_open_pg(db, out, r);
    return store_meta_open_sqlite(db, out, r);
}

fg_result store_meta_open_url(const char *database_url, const char *data_dir,
                              store_meta **out, fg_reason *r)
{
    char path[4096 + 16];
    *out = NULL;
    if (database_url && *database_url) {
        if (!store_pg_url_is_pg(database_url))
            return fg_fail(r, FG_EUSAGE,
                           "FILIGRANE_DATABASE_URL must start with postgres:// or postgresql://");
        return store_meta_open_pg(database_url, out, r);
    }
    if (!data_dir || !*data_dir)
        return fg_fail(r, FG_EUSAGE, "no data directory given");
    if (snprintf(path, sizeof path, "%s/filigrane.db", data_dir) >= (int)sizeof path)
        return fg_fail(r, FG_ELIMIT, "the data directory's path is too long");
    return store_meta_open_sqlite(path, out, r);
}
