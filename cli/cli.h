/* The filigrane command line: one function per subcommand.
 *
 * A subcommand gets its own argv (argv[0] is its name) and returns the
 * process exit status, fg_result_exit() of its result. It reports an
 * error as one line on stderr with cli_error. Adding one is a line in
 * cli/main.c's table and a declaration here. */
#ifndef CLI_H
#define CLI_H

#include "common/result.h"

typedef int (*cli_fn)(int argc, char **argv);

int cli_stamp(int argc, char **argv);
int cli_detect(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_blobs(int argc, char **argv);
int cli_purge(int argc, char **argv);
int cli_jobs(int argc, char **argv);
int cli_previews(int argc, char **argv);

/* Prints "filigrane: NAME: reason" (NAME is file's basename: a server
 * path never reaches a log or a client) and returns fg_result_exit(code).
 * This function can't fail. */
int cli_error(const char *file, fg_result code, const char *reason);

/* Prints "filigrane CMD: reason" and the command's usage line, and
 * returns the usage exit status (2). This function can't fail. */
int cli_usage_error(const char *cmd, const char *usage, const char *reason);

#endif
