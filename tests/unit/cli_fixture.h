/* For unit tests that run the real CLI on files they make: where the CLI
 * is (the build under test: $FILIGRANE_BIN/filigrane, else bin/), and a
 * scratch directory made once per test program. Header-only, tests only. */
#ifndef CLI_FIXTURE_H
#define CLI_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

static char cli[512]; /* the filigrane CLI under test */
/* Its test copy with FILIGRANE_TEST_HOOK compiled in (Makefile:
 * BUILD/filigrane-hooks; $FILIGRANE_HOOKS_CLI, else build/). */
static char hooks_cli[512];
static char dir[600]; /* the scratch directory */

/* Sets up the CLI path and the scratch directory (named after prefix) on
 * the first call; later calls do nothing. Aborts if no directory can be
 * made: no test could run. */
static void fixture_setup(const char *prefix)
{
    if (cli[0])
        return;
    const char *bin = getenv("FILIGRANE_BIN");
    snprintf(cli, sizeof cli, "%s/filigrane", bin ? bin : "bin");
    const char *hooks = getenv("FILIGRANE_HOOKS_CLI");
    snprintf(hooks_cli, sizeof hooks_cli, "%s", hooks ? hooks : "build/filigrane-hooks");
    snprintf(dir, sizeof dir, "/tmp/%s-XXXXXX", prefix);
    if (!mkdtemp(dir))
        abort();
}

/* A path in the scratch directory. Rotates over four buffers, so up to
 * four results can be used in one expression. */
__attribute__((unused)) static char *path(const char *name)
{
    static char p[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

/* Removes the scratch directory and everything the tests left in it when
 * the test program ends. */
__attribute__((destructor)) static void fixture_cleanup(void)
{
    if (!cli[0])
        return;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

#endif
