/* filigrane: dispatch to a subcommand. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/privs.h"
#include "watermark/sandbox.h"

#include "cli/cli.h"
#include "cli/token.h"

static const struct command {
    const char *name;
    cli_fn fn;
    const char *help;
} commands[] = {
    {"stamp", cli_stamp, "write a watermarked preview of a file"},
    {"trace", cli_trace, "name the order a leaked preview came from: trace [--data DIR] FILE"},
    {"detect", cli_detect, "print a file's MIME type and kind, from content"},
    {"token", cli_token, "mint an access token (FILIGRANE_JWT_SECRET) for a role and order"},
    {"audit", cli_audit, "verify the evidence trail's hash chains and checkpoints: audit verify [--data DIR]"},
    {"evidence", cli_evidence,
     "check an evidence bundle offline: evidence verify BUNDLE [--key JWK]"},
    {"blobs", cli_blobs, "remove blobs no file references: blobs gc [--data DIR] [--grace D]"},
    {"purge", cli_purge, "purge orders past retention: purge [--data DIR] [--now TIME]"},
    {"jobs", cli_jobs, "list pending, running and failed jobs: jobs [--data DIR] [--state S]"},
    {"previews", cli_previews,
     "stamp previews again: previews rebuild (--order O | --all) [--data DIR]"},
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

/* Commands that open no data directory run as whoever calls them; every
 * other one (audit, and any added later) is assumed to. */
static bool touches_data(const char *cmd)
{
    return strcmp(cmd, "stamp") != 0 && strcmp(cmd, "detect") != 0 && strcmp(cmd, "token") != 0 &&
           strcmp(cmd, "evidence") != 0;
}

/* A command run as root on a data directory becomes the directory's owner
 * first (the user the worker runs as, FILIGRANE_USER): SQLite files it
 * would create as root (-wal, -shm, journals) would lock the worker out of
 * its own database, and a root process has no business there anyway. The
 * directory is --data DIR (or --data=DIR), else FILIGRANE_DATA, else ./var.
 * A directory owned by root, or missing, changes nothing. Returns false
 * (with a message) if the switch was needed and failed. */
static bool become_data_owner(int argc, char **argv)
{
    const char *data = getenv("FILIGRANE_DATA");
    struct stat st;
    fg_reason r = {{0}};
    if (geteuid() != 0)
        return true;
    if (!data || !*data)
        data = "./var";
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[i + 1];
        else if (strncmp(argv[i], "--data=", 7) == 0)
            data = argv[i] + 7;
    }
    if (stat(data, &st) != 0 || st.st_uid == 0)
        return true;
    if (fg_privs_drop(st.st_uid, st.st_gid, &r) != FG_OK) {
        fprintf(stderr, "filigrane: cannot become the data directory's owner: %s\n", r.text);
        return false;
    }
    return true;
}

/* Pins this very program as the sandbox's stamper (watermark/sandbox.h). */
static bool pin_self(void)
{
    char self[4096];
    fg_reason r = {{0}};
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        fprintf(stderr, "filigrane: cannot find the filigrane program\n");
        return false;
    }
    self[len] = '\0';
    if (wm_sandbox_pin_program(self, &r) != FG_OK) {
        fprintf(stderr, "filigrane: %s\n", r.text);
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 ||
        strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return usage(argc < 2 ? stderr : stdout);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            /* trace runs the stamper: opened while still root, as the
             * worker does, because the data directory's owner may not
             * reach the checkout this program runs from (a 0700 home). */
            if (strcmp(argv[1], "trace") == 0 && geteuid() == 0 &&
                !pin_self())
                return fg_result_exit(FG_EIO);
            if (touches_data(argv[1]) && !become_data_owner(argc, argv))
                return fg_result_exit(FG_EIO);
            return commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "filigrane: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
