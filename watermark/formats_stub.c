/* Stand-ins for the PDF and archive stampers until they exist: both kinds
 * are withheld. */
#include "watermark/formats.h"

fg_result wm_stamp_pdf(const char *in, const char *out, const wm_options *o,
                       uint64_t seed, fg_reason *r)
{
    (void)in, (void)out, (void)o, (void)seed;
    return fg_fail(r, FG_EUNSUPPORTED, "pdf previews are not available yet");
}

fg_result wm_stamp_archive(const char *in, const char *out,
                           const wm_options *o, uint64_t seed, fg_reason *r)
{
    (void)in, (void)out, (void)o, (void)seed;
    return fg_fail(r, FG_EUNSUPPORTED,
                   "archive previews are not available yet");
}
