/* Previews of documents and containers: PDFs and archives. */
#ifndef WM_FORMATS_H
#define WM_FORMATS_H

#include "watermark/wm.h"

FG_MUST_CHECK fg_result wm_stamp_pdf(const char *in, const char *out,
                                     const wm_options *o, uint64_t seed,
                                     fg_reason *r);
FG_MUST_CHECK fg_result wm_stamp_archive(const char *in, const char *out,
                                         const wm_options *o, uint64_t seed,
                                         fg_reason *r);

#endif
