/* filigrane stamp: a watermarked preview of one file. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "watermark/office.h"
#include "watermark/options.h"
#include "watermark/sandbox.h"
#include "watermark/landlock.h"
#include "watermark/seccomp.h"
#include "watermark/trace.h"
#include "watermark/wm.h"

static const char usage_line[] =
    "filigrane stamp [--text T] [--var NAME=VALUE]... [--max-edge N] "
    "[--opacity F] [--seed S] [--quality Q] [--max-pixels N] "
    "[--max-bytes N] [--max-frames N] [--pdf-dpi N] [--max-pages N] "
    "[--max-seconds N] [--audio-mark-interval S] [--audio-max-rate N] "
    "[--excerpt-pages N] [--text-max-line N] [--salt HEX] "
    "[--trace-payload HEX] [--trace] INPUT OUTPUT";

static const char help[] =
    "Writes a watermarked preview of INPUT to OUTPUT, whose extension\n"
    "(.jpg .png .webp .gif) picks the format; any other name gets JPEG,\n"
    "PNG where there is alpha, GIF for an animation. PDFs, text, source\n"
    "code and office documents (LibreOffice) get an image-only PDF.\n"
    "\n"
    "  --text T         watermark template, {name} filled by --var\n"
    "                   (default \"PREVIEW \xc2\xb7 {order}\")\n"
    "  --var NAME=VALUE a template value, repeatable\n"
    "  --max-edge N     longest edge of the preview (default 2048, 0: keep)\n"
    "  --opacity F      of the mark, 0.01 to 1 (default 0.3)\n"
    "  --seed S         placement of the mark (default: keyed by\n"
    "                   FILIGRANE_MARK_KEY from the input's SHA-256 and the\n"
    "                   order and buyer variables; without a key, random)\n"
    "  --quality Q      JPEG/WebP quality, 1 to 100 (default 85)\n"
    "  --max-pixels N   refuse larger inputs (width x height x frames)\n"
    "  --max-bytes N    refuse larger input files\n"
    "  --max-frames N   refuse animations with more frames\n"
    "  --pdf-dpi N      resolution PDF pages are rendered at (default 100)\n"
    "  --max-pages N    PDF pages previewed (default 200); given, also the\n"
    "                   pages of a text or office excerpt\n"
    "  --excerpt-pages N pages of a text, code or office preview (default 3,\n"
    "                   FILIGRANE_EXCERPT_PAGES), at most --max-pages\n"
    "  --text-max-line N bytes of a text line laid out at once (default\n"
    "                   16384, FILIGRANE_TEXT_MAX_LINE); longer lines break\n"
    "  --max-seconds N  video and audio previewed up to this (default 600)\n"
    "  --audio-mark-interval S  seconds between the audio mark's chimes\n"
    "                   (default 15)\n"
    "  --audio-max-rate N  refuse audio with more samples per second,\n"
    "                   sample rate x channels (default 768000)\n"
    "  --salt HEX       an archive's commitment salt (64 hex digits): the\n"
    "                   manifest shows each entry's SHA-256(entry salt ||\n"
    "                   bytes), entry salt = HMAC-SHA256(salt,\n"
    "                   \"filigrane-entry-v1\" || name); without it\n"
    "                   withheld entries show no hash; also read from\n"
    "                   FILIGRANE_STAMP_SALT (kept off the command line)\n"
    "  --trace-payload HEX  the traceable mark's 64-bit payload (16 hex\n"
    "                   digits), embedded under the pattern key in\n"
    "                   FILIGRANE_TRACE_PATTERN (64 hex digits)\n"
    "  --trace          search INPUT for a traceable mark instead, and write\n"
    "                   the candidates found to OUTPUT (filigrane trace)\n"
    "\n"
    "INPUT is decoded in a sandboxed child process (resource limits,\n"
    "seccomp, FILIGRANE_SANDBOX_* and FILIGRANE_STAMP_TIMEOUT; a video's\n"
    "FILIGRANE_SANDBOX_VIDEO_CPU, _TIMEOUT and _MEMORY). A video's preview\n"
    "is an MP4, with its poster frame at OUTPUT.poster (JPEG). An audio\n"
    "file's is an MP3 with a two-tone chime at intervals, its waveform at\n"
    "OUTPUT.poster (JPEG).\n"
    "\n"
    "Exit status: 0 ok, 2 usage, 3 type withheld, 4 unreadable or corrupt,\n"
    "5 over a limit, 1 anything else.\n";

enum { OPT_TEXT = 1000, OPT_VAR, OPT_HELP, OPT_SET, OPT_SANDBOXED, OPT_TRACE };

/* Every option without its own case is set through wm_options_set under
 * its long name, so the names here and in the environment agree. */
static const struct option longopts[] = {
    {"text", required_argument, NULL, OPT_TEXT},
    {"var", required_argument, NULL, OPT_VAR},
    {"help", no_argument, NULL, OPT_HELP},
    {"max-edge", required_argument, NULL, OPT_SET},
    {"opacity", required_argument, NULL, OPT_SET},
    {"seed", required_argument, NULL, OPT_SET},
    {"quality", required_argument, NULL, OPT_SET},
    {"max-pixels", required_argument, NULL, OPT_SET},
    {"max-bytes", required_argument, NULL, OPT_SET},
    {"max-frames", required_argument, NULL, OPT_SET},
    {"pdf-dpi", required_argument, NULL, OPT_SET},
    {"max-pages", required_argument, NULL, OPT_SET},
    {"max-seconds", required_argument, NULL, OPT_SET},
    {"audio-mark-interval", required_argument, NULL, OPT_SET},
    {"audio-max-rate", required_argument, NULL, OPT_SET},
    {"excerpt-pages", required_argument, NULL, OPT_SET},
    {"text-max-line", required_argument, NULL, OPT_SET},
    {"salt", required_argument, NULL, OPT_SET},
    {"trace-payload", required_argument, NULL, OPT_SET},
    {"trace", no_argument, NULL, OPT_TRACE},
    /* Set by the parent for its sandboxed child (run_sandboxed). */
    {"sandboxed", no_argument, NULL, OPT_SANDBOXED},
    {NULL, 0, NULL, 0},
};

static void free_args(char **c, int argc);

/* The parent's side: the same command again, as a sandboxed child
 * (watermark/sandbox.h), with the options as given (orig: argv before
 * getopt reordered it; given: copies of its strings, before --var split
 * them), INPUT and OUTPUT left out. */
static int run_sandboxed(int argc, char *const *orig, char **given,
                         const char *in, const char *out,
                         const char *const *extra)
{
    fg_reason r = {{0}};
    wm_sandbox_limits l;
    char self[4096];
    const char *args[FG_SANDBOX_MAX_ARGS + 1];
    int k = 0;
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return cli_error(in, FG_EIO, "cannot find the filigrane program");
    self[len] = '\0';
    /* The limits of the input's kind (a video's are longer): libmagic
     * reads only the first bytes, and is safe in this process. An input
     * it cannot read gets the general ones, and the child says why. */
    wm_type type;
    fg_reason ignored = {{0}};
    const char *kind = wm_detect_file(in, &type, &ignored) == FG_OK ? wm_kind_name(type.kind)
                                                                    : NULL;
    if (wm_sandbox_limits_init_kind(&l, kind, &r) != FG_OK)
        return cli_usage_error("stamp", usage_line, r.text);
    for (int i = 1; i < argc; i++) {
        if (orig[i] == in || orig[i] == out || strcmp(given[i], "--") == 0)
            continue;
        if (k == FG_SANDBOX_MAX_ARGS)
            return cli_usage_error("stamp", usage_line, "too many options");
        args[k++] = given[i];
    }
    for (; extra && *extra; extra++) {
        if (k == FG_SANDBOX_MAX_ARGS)
            return cli_usage_error("stamp", usage_line, "too many options");
        args[k++] = *extra;
    }
    args[k] = NULL;
    fg_result rc = wm_sandbox_stamp(self, in, out, args, &l, &r);
    return rc == FG_OK ? 0 : cli_error(in, rc, r.text);
}

/* Copies of argv's strings, taken before getopt reorders argv and --var
 * splits its argument in place; NULL when out of memory. */
static char **copy_args(int argc, char **argv)
{
    char **c = calloc((size_t)argc + 1, sizeof *c);
    for (int i = 0; c && i < argc; i++)
        if (!(c[i] = strdup(argv[i]))) {
            free_args(c, argc);
            return NULL;
        }
    return c;
}

/* The last value given to template variable name, or NULL. */
static const char *var_value(const wm_options *o, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < o->nvars; i++)
        if (strcmp(o->vars[i].name, name) == 0)
            v = o->vars[i].value;
    return v;
}

/* The placement when --seed is not given, chosen here, in the parent, so
 * that the key never has to be read by the sandboxed child: keyed by
 * FILIGRANE_MARK_KEY from the input's SHA-256 and the order and buyer
 * variables (what the worker does, with the buyer's id), else random.
 * Never the input's plain hash: a buyer who can compute the placement can
 * stamp black and white with it and invert the mark. Returns an exit
 * status, 0 with seed set. */
static int choose_seed(const wm_options *o, const char *in, uint64_t *seed)
{
    fg_reason r = {{0}};
    const char *key = NULL;
    if (wm_mark_key_from_env(&key, &r) != FG_OK)
        return cli_usage_error("stamp", usage_line, r.text);
    fg_result rc = FG_ECORRUPT;
    struct stat st;
    /* An input the child will refuse for its size is not worth hashing. */
    if (key && stat(in, &st) == 0 && st.st_size <= o->max_bytes)
        rc = wm_mark_seed_file(key, strlen(key), in, var_value(o, "order"),
                               var_value(o, "buyer"), seed, &r);
    /* An input that cannot be hashed cannot be stamped either: the child
     * says why, in its own words; any seed does until then. */
    if (rc == FG_ECORRUPT)
        rc = wm_random_seed(seed, &r);
    return rc == FG_OK ? 0 : cli_error(in, rc, r.text);
}

static void free_args(char **c, int argc)
{
    for (int i = 0; c && i < argc; i++)
        free(c[i]);
    free(c);
}

int cli_stamp(int argc, char **argv)
{
    wm_options o;
    fg_reason r = {{0}};
    int c, idx = 0;
    bool sandboxed = false, trace = false;
    char *const *orig = NULL;
    char **given = NULL;
    int status;
    if (wm_options_init(&o, &r) != FG_OK)
        return cli_usage_error("stamp", usage_line, r.text);
    /* orig keeps the pointers in their given order, given the strings. */
    orig = calloc((size_t)argc + 1, sizeof *orig);
    given = copy_args(argc, argv);
    if (!orig || !given) {
        status = cli_error(NULL, FG_EIO, "out of memory");
        goto out;
    }
    memcpy((void *)orig, argv, (size_t)argc * sizeof *argv);
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
        switch (c) {
        case OPT_TEXT:
            o.text_template = optarg;
            break;
        case OPT_VAR:
            if (wm_options_add_var(&o, optarg, &r) != FG_OK) {
                status = cli_usage_error("stamp", usage_line, r.text);
                goto out;
            }
            break;
        case OPT_HELP:
            printf("usage: %s\n\n%s", usage_line, help);
            status = 0;
            goto out;
        case OPT_SET:
            if (wm_options_set(&o, longopts[idx].name, optarg, &r) != FG_OK) {
                status = cli_usage_error("stamp", usage_line, r.text);
                goto out;
            }
            break;
        case OPT_SANDBOXED:
            sandboxed = true;
            break;
        case OPT_TRACE:
            trace = true;
            break;
        default: {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown or incomplete option '%.60s'",
                     argv[optind - 1]);
            status = cli_usage_error("stamp", usage_line, msg);
            goto out;
        }
        }
    }
    if (argc - optind != 2) {
        status = cli_usage_error("stamp", usage_line,
                                 "want an INPUT and an OUTPUT");
        goto out;
    }
    const char *in = argv[optind], *out = argv[optind + 1];
    if (!sandboxed && trace) {
        /* No placement to choose: the child only reads. */
        unsetenv(WM_MARK_KEY_ENV);
        status = run_sandboxed(argc, orig, given, in, out, NULL);
        goto out;
    }
    if (!sandboxed) {
        char seed_arg[24];
        const char *extra[] = {"--seed", seed_arg, NULL};
        uint64_t seed = 0;
        if (!o.has_seed) {
            if ((status = choose_seed(&o, in, &seed)) != 0)
                goto out;
            snprintf(seed_arg, sizeof seed_arg, "%llu",
                     (unsigned long long)seed);
        }
        /* The child inherits the environment and gets the seed, never the
         * key: a decoder exploit there must not find it. This process has
         * no threads, and the key is not used past this point. */
        unsetenv(WM_MARK_KEY_ENV);
        status = run_sandboxed(argc, orig, given, in, out,
                               o.has_seed ? NULL : extra);
        goto out;
    }
    /* The sandboxed child: the only process where libvips's untrusted
     * loaders (PDF, SVG) are allowed, under the seccomp filter, and able
     * to read only its input and system files and to write only beside its
     * output. Landlock first, while this process
     * has no threads yet: the rules then hold for every thread. */
    bool started = false;
    wm_type type = {.kind = WM_KIND_OTHER};
    char pdf[4096] = "";
    fg_result rc = FG_OK;
    /* An office document is converted first, by LibreOffice, while this
     * process has no threads and may still exec; the converter confines
     * itself (its own namespaces, Landlock rules and seccomp filter:
     * watermark/office.h) before it reads a byte. libmagic reads the file
     * as the worker did to file it. */
    struct stat st;
    if (!trace && wm_detect_file(in, &type, &r) == FG_OK && type.kind == WM_KIND_DOCUMENT) {
        /* wm_stamp_file's byte limit, before LibreOffice reads a byte. */
        if (stat(in, &st) == 0 && st.st_size > o.max_bytes)
            rc = fg_fail(&r, FG_ELIMIT, "%lld bytes, over the limit of %lld (--max-bytes)",
                         (long long)st.st_size, o.max_bytes);
        else
            rc = wm_office_convert(in, &type, out, pdf, sizeof pdf, &r);
    }
    if (rc == FG_OK)
        rc = wm_sandbox_confine(in, out, &r);
    if (rc == FG_OK && (rc = wm_init(argv[0], true, &r)) == FG_OK)
        started = true;
    if (rc == FG_OK)
        rc = wm_sandbox_enter(&r);
    if (rc == FG_OK)
        rc = trace    ? wm_trace_file(in, out, &o, &r)
             : pdf[0] ? wm_stamp_office_pdf(pdf, out, &o, &r)
                      : wm_stamp_file(in, out, &o, &r);
    wm_office_cleanup(pdf);
    status = rc == FG_OK ? 0 : cli_error(in, rc, r.text);
    if (started)
        wm_shutdown();
out:
    free_args(given, argc);
    free((void *)orig);
    return status;
}
