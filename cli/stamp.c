/* filigrane stamp: a watermarked preview of one file. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "watermark/options.h"
#include "watermark/wm.h"

static const char usage_line[] =
    "filigrane stamp [--text T] [--var NAME=VALUE]... [--max-edge N] "
    "[--opacity F] [--seed S] [--quality Q] [--max-pixels N] "
    "[--max-bytes N] [--max-frames N] INPUT OUTPUT";

static const char help[] =
    "Writes a watermarked preview of INPUT to OUTPUT, whose extension\n"
    "(.jpg .png .webp .gif) picks the format; any other name gets JPEG,\n"
    "PNG where there is alpha, GIF for an animation.\n"
    "\n"
    "  --text T         watermark template, {name} filled by --var\n"
    "                   (default \"PREVIEW \xc2\xb7 {order}\")\n"
    "  --var NAME=VALUE a template value, repeatable\n"
    "  --max-edge N     longest edge of the preview (default 2048, 0: keep)\n"
    "  --opacity F      of the mark, 0.01 to 1 (default 0.3)\n"
    "  --seed S         placement jitter (default: from the input's bytes)\n"
    "  --quality Q      JPEG/WebP quality, 1 to 100 (default 85)\n"
    "  --max-pixels N   refuse larger inputs (width x height x frames)\n"
    "  --max-bytes N    refuse larger input files\n"
    "  --max-frames N   refuse animations with more frames\n"
    "\n"
    "Exit status: 0 ok, 2 usage, 3 type withheld, 4 unreadable or corrupt,\n"
    "5 over a limit, 1 anything else.\n";

enum { OPT_TEXT = 1000, OPT_VAR, OPT_HELP, OPT_SET };

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
    {NULL, 0, NULL, 0},
};

int cli_stamp(int argc, char **argv)
{
    wm_options o;
    fg_reason r = {{0}};
    int c, idx = 0;
    if (wm_options_init(&o, &r) != FG_OK)
        return cli_usage_error("stamp", usage_line, r.text);
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
        switch (c) {
        case OPT_TEXT:
            o.text_template = optarg;
            break;
        case OPT_VAR:
            if (wm_options_add_var(&o, optarg, &r) != FG_OK)
                return cli_usage_error("stamp", usage_line, r.text);
            break;
        case OPT_HELP:
            printf("usage: %s\n\n%s", usage_line, help);
            return 0;
        case OPT_SET:
            if (wm_options_set(&o, longopts[idx].name, optarg, &r) != FG_OK)
                return cli_usage_error("stamp", usage_line, r.text);
            break;
        default: {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown or incomplete option '%.60s'",
                     argv[optind - 1]);
            return cli_usage_error("stamp", usage_line, msg);
        }
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("stamp", usage_line,
                               "want an INPUT and an OUTPUT");
    const char *in = argv[optind], *out = argv[optind + 1];
    fg_result rc = wm_init(argv[0], false, &r);
    if (rc == FG_OK)
        rc = wm_stamp_file(in, out, &o, &r);
    int status = rc == FG_OK ? 0 : cli_error(in, rc, r.text);
    wm_shutdown();
    return status;
}
