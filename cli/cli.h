/* The filigrane command line: one function per subcommand.
 *
 * A subcommand gets its own argv (argv[0] is its name) and returns the
 * process exit status, fg_result_exit() of its result. It reports an
 * error as one line on stderr with cli_error. Adding one is a line in
 * cli/main.c's table and a declaration here. */
#ifndef CLI_H
#define CLI_H

#include "common/result.h"

struct store_meta;

typedef int (*cli_fn)(int argc, char **argv);

int cli_stamp(int argc, char **argv);
int cli_detect(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_evidence(int argc, char **argv);
int cli_blobs(int argc, char **argv);
int cli_purge(int argc, char **argv);
int cli_jobs(int argc, char **argv);
int cli_previews(int argc, char **argv);
int cli_trace(int argc, char **argv);

/* Prints "filigrane: NAME: reason" (NAME is file's basename: a server
 * path never reaches a log or a client) and returns fg_result_exit(code).
 * This function can't fail. */
int cli_error(const char *file, fg_result code, const char *reason);

/* Prints "filigrane CMD: reason" and the command's usage line, and
 * returns the usage exit status (2). This function can't fail. */
int cli_usage_error(const char *cmd, const char *usage, const char *reason);

/* Opens the metadata store into *m: PostgreSQL at FILIGRANE_DATABASE_URL
 * when it is set (the password never printed), else data/filigrane.db,
 * which must exist (opening would create an empty one: a mistyped --data
 * must not look like an empty store). Returns 0, or the exit status after
 * printing the error (CMD and USAGE for a usage error). */
int cli_open_store(const char *cmd, const char *usage, const char *data,
                   struct store_meta **m /* out */);

#endif
