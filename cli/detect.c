/* filigrane detect: the type of a file, from its content. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "watermark/wm.h"

int cli_detect(int argc, char **argv)
{
    static const char usage_line[] = "filigrane detect FILE";
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: %s\n\nPrints the MIME type and the kind (image, pdf, "
               "archive, other)\nof FILE, from its content.\n",
               usage_line);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error("detect", usage_line, "want one FILE");
    wm_type t;
    fg_reason r = {{0}};
    fg_result rc = wm_detect_file(argv[1], &t, &r);
    if (rc != FG_OK)
        return cli_error(argv[1], rc, r.text);
    printf("%s %s\n", t.mime, wm_kind_name(t.kind));
    return 0;
}
