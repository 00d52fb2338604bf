/* Setting stamping options by name, from the environment or the CLI.
 *
 * One table maps each option name ("max-pixels") to its field, its range
 * and its environment variable (FILIGRANE_MAX_PIXELS), so the CLI, the
 * environment and the sandbox runner agree on spelling and bounds. Pure C:
 * safe to link into the worker. */
#ifndef WM_OPTIONS_H
#define WM_OPTIONS_H

#include "watermark/wm.h"

/* Parses value and stores it in the option called name (without the
 * leading "--"): max-edge, opacity, seed, quality, max-pixels, max-bytes,
 * max-frames, pdf-dpi, max-pages, salt (64 hex digits). Returns FG_EUSAGE with a reason naming
 * the option if the name is unknown or the value malformed or out of
 * range; o is unchanged then. */
FG_MUST_CHECK fg_result wm_options_set(wm_options *o, const char *name,
                                       const char *value, fg_reason *r);

/* Adds a template variable from "name=value", splitting spec in place
 * (its '=' becomes the name's terminator) and borrowing both halves: spec
 * must outlive o. A name given twice keeps the last value. Returns
 * FG_EUSAGE if spec has no '=', an invalid name, or there are already
 * FG_MAX_TEMPLATE_VARS; o and spec are unchanged then. */
FG_MUST_CHECK fg_result wm_options_add_var(wm_options *o, char *spec,
                                           fg_reason *r);

#endif
