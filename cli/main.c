/* filigrane: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/token.h"

static const struct command {
    const char *name;
    cli_fn fn;
    const char *help;
} commands[] = {
    {"stamp", cli_stamp, "write a watermarked preview of a file"},
    {"detect", cli_detect, "print a file's MIME type and kind, from content"},
    {"token", cli_token, "mint an access token (FILIGRANE_JWT_SECRET) for a role and order"},
    {"audit", cli_audit, "verify the evidence trail's hash chain: audit verify [--data DIR]"},
    {"blobs", cli_blobs, "remove blobs no file references: blobs gc [--data DIR] [--grace D]"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static int usage(FILE *to)
{
    fprintf(to, "usage: filigrane COMMAND [OPTIONS] ARGS...\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(to, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(to, "\n'filigrane COMMAND --help' describes a command.\n");
    return fg_result_exit(FG_EUSAGE);
}

int cli_error(const char *file, fg_result code, const char *reason)
{
    const char *slash = file ? strrchr(file, '/') : NULL;
    const char *name = slash ? slash + 1 : file;
    if (name && *name)
        fprintf(stderr, "filigrane: %s: %s\n", name, reason);
    else
        fprintf(stderr, "filigrane: %s\n", reason);
    return fg_result_exit(code);
}

int cli_usage_error(const char *cmd, const char *usage_line,
                    const char *reason)
{
    fprintf(stderr, "filigrane %s: %s\nusage: %s\n", cmd, reason, usage_line);
    return fg_result_exit(FG_EUSAGE);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 ||
        strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return usage(argc < 2 ? stderr : stdout);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "filigrane: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
