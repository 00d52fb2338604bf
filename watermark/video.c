/* Video previews: decode, scale to at most 720p, mark every frame, encode
 * H.264 and AAC into an MP4, and keep one marked frame as the poster.
 *
 * libavformat and libavcodec, in this process (the sandboxed child), with
 * no exec: the demuxer is the one the content was detected as (a file
 * that says MP4 is never read as a playlist that opens other files or
 * URLs), reading only the file protocol. Every size a header claims is
 * checked before a decoder allocates for it (the pixel limit, also handed
 * to the decoder as its max_pixels, which holds for every frame), and the
 * sandbox's memory, CPU and wall-clock limits hold the rest.
 *
 * The mark is the images' (watermark/mark.h): laid out once for the
 * output size with the file's seed, then blended into each frame in YUV,
 * with the picture under it replaced by a coarse mosaic plus noise drawn
 * for this preview (as in images: from OpenSSL's DRBG, never from the
 * seed), the same in every frame, so frames can be neither averaged nor
 * inverted back to the original under the letters. Nothing of the original's metadata is
 * copied: no global or stream tags, chapters or attachments; the muxer is
 * bitexact, so not even an encoder tag is written. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vips/vips.h>

#include "watermark/formats.h"
#include "watermark/mark.h"
#include "watermark/sandbox.h"
#include "watermark/save.h"
#include "watermark/seccomp.h"
#include "watermark/trace.h"

/* The traceable mark's strength in a frame's luma, times the images'
 * (watermark/trace.c; a level of limited-range luma is 255 / 219 of an
 * RGB level, so this is 1.75 times their change in RGB). H.264 at CRF 23
 * quantises away much of a change this small: at 1 a frame of a
 * synthetic clip taken from the preview was found at 1.3 s and not at
 * 4.1 s, nor as JPEG or at half size; at 1.5 every frame tried was, at
 * 1.11 times the preview's size (2 cost 1.35 times: README, Tracing). */
#define VIDEO_TRACE_GAIN 1.5

/* The demuxer for each type detection says is a video. */
static const struct {
    const char *mime, *demuxer;
} demuxers[] = {
    {"video/mp4", "mov"},       {"video/quicktime", "mov"},       {"video/webm", "matroska"},
    {"video/x-matroska", "matroska"}, {"video/x-msvideo", "avi"},
};

typedef struct noise_rng {
    EVP_CIPHER_CTX *ctx;
    unsigned char buf[4096];
    int used;
} noise_rng;

typedef struct job {
    const wm_options *o;
    fg_reason *r;
    /* in */
    AVFormatContext *ic;
    int vi, ai;
    AVCodecContext *vdec, *adec;
    AVRational vtb;
    int64_t start_pts; /* of the first video frame, AV_NOPTS_VALUE before */
    int64_t frames_in;
    int decode_errors;
    double duration;   /* of the source, seconds; 0 unknown */
    double cap;        /* seconds previewed at most */
    bool video_done, audio_done;
    /* out */
    wm_outfile file;
    AVFormatContext *oc;
    AVStream *vst, *ast;
    AVCodecContext *venc, *aenc;
    struct SwsContext *sws;
    SwrContext *swr;
    AVAudioFifo *fifo;
    AVFrame *yuv, *aframe;
    AVPacket *pkt;
    int ow, oh;
    int64_t last_out_pts;
    double last_kept_t, last_t;
    int64_t audio_samples; /* written to the encoder */
    bool header_written;
    /* the mark, the notice and the poster */
    wm_mark_plane mark;
    noise_rng rng;
    unsigned char *samples; /* one row of block samples */
    unsigned char *noise;   /* a random byte per pixel, drawn once */
    unsigned char clamp[1280]; /* clamp[512 + v]: v clamped to 0..255 */
    unsigned char ink_y[256];  /* the ink's grey as limited-range luma */
    VipsImage *notice;      /* one band, the cap notice's letters; NULL: none */
    double notice_from;     /* seconds */
    unsigned char *poster;  /* RGB of the poster frame, ow * oh * 3 */
    bool poster_set;
    double poster_at;
    /* the traceable mark: this preview's chips; trace false without one */
    signed char chip[WM_TRACE_NCELLS];
    bool trace;
} job;

static fg_result av_failed(job *j, fg_result code, const char *what, int err)
{
    char msg[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(err, msg, sizeof msg);
    return fg_fail(j->r, code, "%s: %s", what, msg);
}

/* ---- the noise under the mark (as watermark/mark.c: ChaCha20 under a
 * key from OpenSSL's DRBG, never from the seed) ---- */

static fg_result rng_init(noise_rng *g, fg_reason *r)
{
    unsigned char key[48];
    g->used = sizeof g->buf;
    g->ctx = EVP_CIPHER_CTX_new();
    int ok = g->ctx && RAND_bytes(key, sizeof key) == 1 &&
             EVP_EncryptInit_ex(g->ctx, EVP_chacha20(), NULL, key, key + 32) == 1;
    OPENSSL_cleanse(key, sizeof key);
    return ok ? FG_OK : fg_fail(r, FG_EIO, "no randomness for the mark");
}

static int rng_refill(noise_rng *g)
{
    int n = 0;
    memset(g->buf, 0, sizeof g->buf);
    if (EVP_EncryptUpdate(g->ctx, g->buf, &n, g->buf, (int)sizeof g->buf) != 1 ||
        n != (int)sizeof g->buf)
        return -1;
    g->used = 0;
    return 0;
}

static inline int rng_byte(noise_rng *g)
{
    if (g->used == (int)sizeof g->buf && rng_refill(g) != 0)
        return -1;
    return g->buf[g->used++];
}

static void rng_release(noise_rng *g)
{
    EVP_CIPHER_CTX_free(g->ctx);
    OPENSSL_cleanse(g->buf, sizeof g->buf);
}

static unsigned char clamp8(int v)
{
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* v / 255 for 0 <= v <= 255 * 255 + 127, without a division. */
static inline unsigned char div255(unsigned v)
{
    return (unsigned char)((v + 1 + (v >> 8)) >> 8);
}

/* The mark into one YUV 4:2:0 frame (limited range). Under the ink the
 * luma is a block's first pixel plus noise, the chroma the block's first
 * sample: the picture under the letters is not there to recover. The
 * noise is drawn once for the preview, not for each frame: noise that
 * changed from frame to frame would cancel out when frames of a still
 * scene are averaged, and the encoder would spend the whole bitrate on it
 * (a 20 s clip came out 3.4 times the size of a plain transcode, at 1.4
 * times its CPU); fixed noise does neither, and is still fresh for each
 * preview, never from the seed. */
static fg_result blend_mark(job *j, AVFrame *f)
{
    const wm_mark_plane *m = &j->mark;
    int bs = m->block, w = j->ow, h = j->oh;
    for (int y = 0; y < h; y++) {
        unsigned char *row = f->data[0] + (size_t)y * f->linesize[0];
        const unsigned char *cov = m->cover + (size_t)y * w;
        const unsigned char *ink = m->ink + (size_t)y * w;
        /* A block's sample is read on its first row, before that row is
         * changed. */
        if (y % bs == 0)
            for (int x = 0, k = 0; x < w; x += bs, k++)
                j->samples[k] = row[x];
        const unsigned char *nz = j->noise + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            unsigned c = cov[x];
            if (!c)
                continue;
            int s = j->clamp[512 + j->samples[x / bs] + m->noise[nz[x]]];
            row[x] = div255(c * j->ink_y[ink[x]] + (255 - c) * s + 127);
        }
    }
    int cbs = bs / 2 > 0 ? bs / 2 : 1;
    for (int p = 1; p <= 2; p++) {
        for (int y = 0; y < h / 2; y++) {
            unsigned char *row = f->data[p] + (size_t)y * f->linesize[p];
            const unsigned char *brow = f->data[p] + (size_t)(y / cbs * cbs) * f->linesize[p];
            const unsigned char *cov = m->cover + (size_t)(2 * y) * w;
            for (int x = 0; x < w / 2; x++) {
                unsigned c = cov[2 * x];
                if (!c)
                    continue;
                /* The block's first sample, unchanged unless it is
                 * under the mark itself (then already grey-ward). */
                int s = brow[x / cbs * cbs];
                row[x] = div255(c * 128 + (255 - c) * s + 127);
            }
        }
    }
    return FG_OK;
}

/* The cap notice over the bottom of the frame: white letters on a dark
 * band, the colour taken out of the band. */
static void blend_notice(job *j, AVFrame *f)
{
    VipsImage *t = j->notice;
    int tw = t->Xsize, th = t->Ysize, pad = th / 3 + 2;
    int x0 = (j->ow - tw) / 2, y0 = j->oh - th - 2 * pad;
    if (x0 < 0 || y0 < 0)
        return;
    for (int y = y0 - pad; y < j->oh; y++) {
        unsigned char *row = f->data[0] + (size_t)y * f->linesize[0];
        for (int x = 0; x < j->ow; x++) {
            int v = 16 + (row[x] - 16) * 30 / 100;
            int ty = y - y0, tx = x - x0;
            if (ty >= 0 && ty < th && tx >= 0 && tx < tw) {
                int a = *VIPS_IMAGE_ADDR(t, tx, ty);
                v += (235 - v) * a / 255;
            }
            row[x] = (unsigned char)v;
        }
    }
    for (int p = 1; p <= 2; p++)
        for (int y = (y0 - pad) / 2; y < j->oh / 2; y++)
            memset(f->data[p] + (size_t)y * f->linesize[p], 128, (size_t)j->ow / 2);
}

static void clock_text(char *buf, size_t len, double s)
{
    long t = (long)floor(s);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

/* The notice's letters, rendered once: "Preview limited to 10:00 of
 * 47:12" (or "... to 10:00" when the whole length is unknown). */
static fg_result make_notice(job *j)
{
    char cap[32], whole[32], text[128];
    clock_text(cap, sizeof cap, j->cap);
    if (j->duration > 0) {
        clock_text(whole, sizeof whole, j->duration);
        snprintf(text, sizeof text, "Preview limited to %s of %s", cap, whole);
    } else {
        snprintf(text, sizeof text, "Preview limited to %s", cap);
    }
    /* A line about 4.5% of the frame's height: 12 pt at this dpi. */
    int dpi = (int)lround(j->oh * 0.045 * 72.0 / 12.0 * 1.3);
    VipsImage *t = NULL;
    if (vips_text(&t, text, "font", "DejaVu Sans Bold 12", "dpi", dpi > 8 ? dpi : 8,
                  "width", j->ow * 9 / 10, NULL) != 0) {
        vips_error_clear();
        return fg_fail(j->r, FG_EIO, "cannot make the preview: the notice cannot be drawn");
    }
    VipsImage *mem = vips_image_copy_memory(t);
    g_object_unref(t);
    if (!mem) {
        vips_error_clear();
        return fg_fail(j->r, FG_EIO, "cannot make the preview: out of memory");
    }
    j->notice = mem;
    j->notice_from = j->cap - FG_VIDEO_NOTICE_SECONDS;
    return FG_OK;
}

/* ---- input ---- */

static fg_result check_size(job *j, int w, int h, const char *when)
{
    if (w < 0 || h < 0 || (long long)w * h > j->o->max_pixels)
        return fg_fail(j->r, FG_ELIMIT,
                       "video %s is %dx%d, over the limit of %lld pixels a frame "
                       "(--max-pixels)",
                       when, w, h, j->o->max_pixels);
    return FG_OK;
}

static fg_result open_decoder(job *j, int si, AVCodecContext **out, bool video)
{
    AVStream *st = j->ic->streams[si];
    const AVCodec *c = avcodec_find_decoder(st->codecpar->codec_id);
    int err;
    if (!c)
        return fg_fail(j->r, video ? FG_EUNSUPPORTED : FG_ECORRUPT,
                       "its %s codec %s cannot be decoded", video ? "video" : "audio",
                       avcodec_get_name(st->codecpar->codec_id));
    AVCodecContext *d = avcodec_alloc_context3(c);
    if (!d)
        return fg_fail(j->r, FG_EIO, "cannot decode: out of memory");
    *out = d;
    if ((err = avcodec_parameters_to_context(d, st->codecpar)) < 0)
        return av_failed(j, FG_ECORRUPT, "cannot read its codec parameters", err);
    d->pkt_timebase = st->time_base;
    /* As many threads as ffmpeg would take (the sandbox's CPU limit
     * counts them all). */
    d->thread_count = 0;
    if (video)
        d->max_pixels = j->o->max_pixels;
    if ((err = avcodec_open2(d, c, NULL)) < 0)
        return av_failed(j, FG_ECORRUPT, "cannot start its decoder", err);
    return FG_OK;
}

/* An AVI without its index is read to wherever it stops, and its length
 * taken from what is there: its RIFF header still says how long it was
 * written. (MP4 and Matroska say it in their indexes and durations.) */
static fg_result check_riff(job *j, const char *in)
{
    unsigned char h[12];
    FILE *f = fopen(in, "rb");
    if (!f)
        return fg_fail(j->r, FG_ECORRUPT, "cannot open the file");
    size_t n = fread(h, 1, sizeof h, f);
    long long have = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    fclose(f);
    if (n < sizeof h || memcmp(h, "RIFF", 4) != 0 || have < 0)
        return fg_fail(j->r, FG_ECORRUPT, "not a readable video: no RIFF header");
    long long want = 8LL + (h[4] | h[5] << 8 | h[6] << 16 | (long long)h[7] << 24);
    if (have < want)
        return fg_fail(j->r, FG_ECORRUPT, "truncated: the file holds %lld of its %lld bytes",
                       have, want);
    return FG_OK;
}

/* Matroska keeps a stream's length in a DURATION tag ("HH:MM:SS.nnn"),
 * when the muxer wrote one; 0 when there is none or it does not parse. */
static double tag_duration(const AVStream *st)
{
    const AVDictionaryEntry *e = av_dict_get(st->metadata, "DURATION", NULL, 0);
    if (!e)
        return 0;
    const char *p = e->value;
    char *end = NULL;
    double parts[3];
    for (int i = 0; i < 3; i++) {
        parts[i] = strtod(p, &end);
        if (end == p || (i < 2 && *end != ':') || parts[i] < 0)
            return 0;
        p = end + 1;
    }
    return parts[0] * 3600 + parts[1] * 60 + parts[2];
}

static fg_result open_input(job *j, const char *in)
{
    wm_type type;
    const AVInputFormat *fmt = NULL;
    AVDictionary *opts = NULL;
    fg_result rc;
    int err;
    if ((rc = wm_detect_file(in, &type, j->r)) != FG_OK)
        return rc;
    for (size_t i = 0; i < sizeof demuxers / sizeof *demuxers; i++)
        if (strcmp(type.mime, demuxers[i].mime) == 0)
            fmt = av_find_input_format(demuxers[i].demuxer);
    if (!fmt)
        return fg_fail(j->r, FG_EUNSUPPORTED, "type %s is withheld", type.mime);
    if (strcmp(type.mime, "video/x-msvideo") == 0 && (rc = check_riff(j, in)) != FG_OK)
        return rc;
    /* Only this file: no other protocol (http, a pipe, a concat list),
     * and no reference to another file (a QuickTime dref). */
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    av_dict_set(&opts, "enable_drefs", "0", 0);
    err = avformat_open_input(&j->ic, in, fmt, &opts);
    av_dict_free(&opts);
    if (err < 0)
        return av_failed(j, FG_ECORRUPT, "not a readable video", err);
    /* The sizes the headers claim, before any decoder allocates. */
    for (unsigned i = 0; i < j->ic->nb_streams; i++) {
        AVCodecParameters *p = j->ic->streams[i]->codecpar;
        if (p->codec_type == AVMEDIA_TYPE_VIDEO &&
            (rc = check_size(j, p->width, p->height, "header")) != FG_OK)
            return rc;
    }
    if ((err = avformat_find_stream_info(j->ic, NULL)) < 0)
        return av_failed(j, FG_ECORRUPT, "not a readable video", err);
    j->vi = av_find_best_stream(j->ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (j->vi < 0)
        return fg_fail(j->r, FG_ECORRUPT, "no video stream in the file");
    AVStream *vs = j->ic->streams[j->vi];
    if ((rc = check_size(j, vs->codecpar->width, vs->codecpar->height, "stream")) != FG_OK)
        return rc;
    if (vs->codecpar->width <= 0 || vs->codecpar->height <= 0)
        return fg_fail(j->r, FG_ECORRUPT, "the video stream has no frame size");
    AVRational fr = av_guess_frame_rate(j->ic, vs, NULL);
    if (fr.num > 0 && fr.den > 0 && av_q2d(fr) > FG_VIDEO_MAX_FPS)
        return fg_fail(j->r, FG_ELIMIT, "frame rate of %.0f a second, over the limit of %d",
                       av_q2d(fr), FG_VIDEO_MAX_FPS);
    j->vtb = vs->time_base;
    /* The video's own length where the container says it: its sound may
     * run longer. */
    if (vs->duration > 0 && vs->duration != AV_NOPTS_VALUE)
        j->duration = (double)vs->duration * av_q2d(vs->time_base);
    else if (tag_duration(vs) > 0)
        j->duration = tag_duration(vs);
    else if (j->ic->duration > 0)
        j->duration = (double)j->ic->duration / AV_TIME_BASE;
    if ((rc = open_decoder(j, j->vi, &j->vdec, true)) != FG_OK)
        return rc;
    j->ai = av_find_best_stream(j->ic, AVMEDIA_TYPE_AUDIO, -1, j->vi, NULL, 0);
    /* A sound track in a codec we have no decoder for is left out: the
     * picture is what the preview is for. */
    if (j->ai >= 0 && !avcodec_find_decoder(j->ic->streams[j->ai]->codecpar->codec_id))
        j->ai = -1;
    if (j->ai >= 0 && (rc = open_decoder(j, j->ai, &j->adec, false)) != FG_OK)
        return rc;
    /* Every other stream (subtitles, data, attachments, cover art) is
     * never read. */
    for (unsigned i = 0; i < j->ic->nb_streams; i++)
        if ((int)i != j->vi && (int)i != j->ai)
            j->ic->streams[i]->discard = AVDISCARD_ALL;
    return FG_OK;
}

/* ---- output ---- */

/* The preview's size: the display aspect kept (sample aspect applied),
 * fitted in the 720p box, never enlarged, even sides. */
static void out_size(job *j)
{
    AVStream *vs = j->ic->streams[j->vi];
    AVRational sar = av_guess_sample_aspect_ratio(j->ic, vs, NULL);
    double w = vs->codecpar->width, h = vs->codecpar->height;
    if (sar.num > 0 && sar.den > 0)
        w = w * sar.num / sar.den;
    double lng = w > h ? w : h, sht = w > h ? h : w;
    double s = 1.0;
    if (lng * s > FG_VIDEO_BOX_LONG)
        s = FG_VIDEO_BOX_LONG / lng;
    if (sht * s > FG_VIDEO_BOX_SHORT)
        s = FG_VIDEO_BOX_SHORT / sht;
    j->ow = 2 * (int)lround(w * s / 2);
    j->oh = 2 * (int)lround(h * s / 2);
    if (j->ow < 2)
        j->ow = 2;
    if (j->oh < 2)
        j->oh = 2;
}

static fg_result open_video_encoder(job *j)
{
    const AVCodec *c = avcodec_find_encoder_by_name("libx264");
    AVDictionary *opts = NULL;
    int err;
    if (!c)
        return fg_fail(j->r, FG_EIO, "cannot make the preview: no H.264 encoder (libx264)");
    AVCodecContext *e = j->venc = avcodec_alloc_context3(c);
    if (!e)
        return fg_fail(j->r, FG_EIO, "cannot make the preview: out of memory");
    AVStream *vs = j->ic->streams[j->vi];
    AVRational fr = av_guess_frame_rate(j->ic, vs, NULL);
    if (fr.num <= 0 || fr.den <= 0 || av_q2d(fr) > FG_VIDEO_OUT_FPS)
        fr = (AVRational){FG_VIDEO_OUT_FPS, 1};
    e->width = j->ow;
    e->height = j->oh;
    e->pix_fmt = AV_PIX_FMT_YUV420P;
    e->sample_aspect_ratio = (AVRational){1, 1};
    e->time_base = j->vtb;
    e->framerate = fr;
    e->rc_max_rate = FG_VIDEO_MAXRATE;
    e->rc_buffer_size = FG_VIDEO_BUFSIZE;
    e->flags |= AV_CODEC_FLAG_BITEXACT;
    if (j->oc->oformat->flags & AVFMT_GLOBALHEADER)
        e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    av_dict_set(&opts, "preset", FG_VIDEO_PRESET, 0);
    av_dict_set(&opts, "crf", FG_VIDEO_CRF, 0);
    err = avcodec_open2(e, c, &opts);
    av_dict_free(&opts);
    if (err < 0)
        return av_failed(j, FG_EIO, "cannot start the H.264 encoder", err);
    if (!(j->vst = avformat_new_stream(j->oc, NULL)))
        return fg_fail(j->r, FG_EIO, "cannot make the preview: out of memory");
    if ((err = avcodec_parameters_from_context(j->vst->codecpar, e)) < 0)
        return av_failed(j, FG_EIO, "cannot make the preview", err);
    j->vst->time_base = e->time_base;
    /* A phone's upright video is stored sideways with a rotation: the
     * rotation is kept (it is how to show the frames, not who shot them). */
    size_t n = 0;
    const uint8_t *m = av_stream_get_side_data(vs, AV_PKT_DATA_DISPLAYMATRIX, &n);
    if (m && n == 9 * sizeof(int32_t)) {
        uint8_t *copy = av_stream_new_side_data(j->vst, AV_PKT_DATA_DISPLAYMATRIX, n);
        if (copy)
            memcpy(copy, m, n);
    }
    if (!(j->yuv = av_frame_alloc()))
        return fg_fail(j->r, FG_EIO, "cannot make the preview: out of memory");
    j->yuv->format = AV_PIX_FMT_YUV420P;
    j->yuv->width = j->ow;
    j->yuv->height = j->oh;
    if ((err = av_frame_get_buffer(j->yuv, 0)) < 0)
        return av_failed(j, FG_EIO, "cannot make the preview", err);
    return FG_OK;
}

static fg_result open_audio_encoder(job *j)
{
    const AVCodec *c = avcodec_find_encoder(AV_CODEC_ID_AAC);
    int err;
    if (!c)
        return fg_fail(j->r, FG_EIO, "cannot make the preview: no AAC encoder");
    AVCodecContext *e = j->aenc = avcodec_alloc_context3(c);
    if (!e)
        return fg_fail(j->r, FG_EIO, "cannot make the preview: out of memory");
    AVCodecContext *d = j->adec;
    int rate = d->sample_rate;
    /* AAC's usual rates; anything else (a hostile 5 MHz) becomes 48 kHz. */
    if (rate != 44100 && rate != 48000 && rate != 32000 && rate != 22050 && rate != 24000 &&
        rate != 16000)
        rate = 48000;
    int ch = d->ch_layout.nb_channels >= 2 ? 2 : 1;
    av_channel_layout_default(&e->ch_layout, ch);
    e->sample_rate = rate;
    e->sample_fmt = AV_SAMPLE_FMT_FLTP;
    e->bit_rate = ch == 2 ? FG_VIDEO_AUDIO_BITRATE : FG_VIDEO_AUDIO_BITRATE / 2;
    e->time_base = (AVRational){1, rate};
    e->flags |= AV_CODEC_FLAG_BITEXACT;
    if (j->oc->oformat->flags & AVFMT_GLOBALHEADER)
        e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((err = avcodec_open2(e, c, NULL)) < 0)
        return av_failed(j, FG_EIO, "cannot start the AAC encoder", err);
    if (!(j->ast = avformat_new_stream(j->oc, NULL)))
        return fg_fail(j->r, FG_EIO, "cannot make the preview: out of memory");
    if ((err = avcodec_parameters_from_context(j->ast->codecpar, e)) < 0)
        return av_failed(j, FG_EIO, "cannot make the preview", err);
    j->ast->time_base = e->time_base;
    AVChannelLayout in_layout;
    if (d->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || d->ch_layout.nb_channels <= 0)
        av_channel_layout_default(&in_layout, d->ch_layout.nb_channels > 0
                                                  ? d->ch_layout.nb_channels
                                                  : 1);
    else if (av_channel_layout_copy(&in_layout, &d->ch_layout) < 0)
        return fg_fail(j->r, FG_EIO, "cannot make the preview: out of memory");
    err = swr_alloc_set_opts2(&j->swr, &e->ch_layout, e->sample_fmt, e->sample_rate, &in_layout,
                              d->sample_fmt, d->sample_rate, 0, NULL);
    av_channel_layout_uninit(&in_layout);
    if (err < 0 || (err = swr_init(j->swr)) < 0)
        return av_failed(j, FG_ECORRUPT, "cannot convert its sound", err);
    if (!(j->fifo = av_audio_fifo_alloc(e->sample_fmt, ch, e->frame_size > 0 ? e->frame_size : 1024)))
        return fg_fail(j->r, FG_EIO, "cannot make the preview: out of memory");
    if (!(j->aframe = av_frame_alloc()))
        return fg_fail(j->r, FG_EIO, "cannot make the preview: out of memory");
    return FG_OK;
}

static fg_result open_output(job *j, const char *out)
{
    fg_result rc;
    int err;
    AVDictionary *opts = NULL;
    if ((rc = wm_outfile_open(&j->file, out, j->r)) != FG_OK)
        return rc;
    if ((err = avformat_alloc_output_context2(&j->oc, NULL, "mp4", NULL)) < 0)
        return av_failed(j, FG_EIO, "cannot make the preview", err);
    /* No tags at all, not even the muxer's own name. */
    j->oc->flags |= AVFMT_FLAG_BITEXACT;
    if ((rc = open_video_encoder(j)) != FG_OK ||
        (j->adec && (rc = open_audio_encoder(j)) != FG_OK))
        return rc;
    av_freep(&j->oc->url);
    if (!(j->oc->url = av_strdup(j->file.tmp)))
        return fg_fail(j->r, FG_EIO, "cannot make the preview: out of memory");
    if ((err = avio_open(&j->oc->pb, j->file.tmp, AVIO_FLAG_WRITE)) < 0)
        return av_failed(j, FG_EIO, "cannot write the preview", err);
    /* The index first (faststart): a browser starts playing before the
     * whole preview has arrived. */
    av_dict_set(&opts, "movflags", "+faststart", 0);
    err = avformat_write_header(j->oc, &opts);
    av_dict_free(&opts);
    if (err < 0)
        return av_failed(j, FG_EIO, "cannot write the preview", err);
    j->header_written = true;
    return FG_OK;
}

/* Writes what the encoder has. */
static fg_result drain(job *j, AVCodecContext *e, AVStream *st)
{
    for (;;) {
        int err = avcodec_receive_packet(e, j->pkt);
        if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
            return FG_OK;
        if (err < 0)
            return av_failed(j, FG_EIO, "cannot encode the preview", err);
        av_packet_rescale_ts(j->pkt, e->time_base, st->time_base);
        j->pkt->stream_index = st->index;
        err = av_interleaved_write_frame(j->oc, j->pkt);
        if (err < 0)
            return av_failed(j, FG_EIO, "cannot write the preview", err);
    }
}

/* ---- frames ---- */

static fg_result keep_poster(job *j, AVFrame *f)
{
    uint8_t *dst[4] = {j->poster, NULL, NULL, NULL};
    int stride[4] = {j->ow * 3, 0, 0, 0};
    struct SwsContext *s = sws_getContext(j->ow, j->oh, AV_PIX_FMT_YUV420P, j->ow, j->oh,
                                          AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!s)
        return fg_fail(j->r, FG_EIO, "cannot make the poster frame");
    sws_scale(s, (const uint8_t *const *)f->data, f->linesize, 0, j->oh, dst, stride);
    sws_freeContext(s);
    j->poster_set = true;
    return FG_OK;
}

static fg_result video_frame(job *j, AVFrame *in)
{
    fg_result rc;
    int err;
    int64_t pts = in->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE)
        pts = in->pts;
    if (pts == AV_NOPTS_VALUE)
        return FG_OK; /* no time: nowhere to put it */
    if (j->start_pts == AV_NOPTS_VALUE)
        j->start_pts = pts;
    double t = (double)(pts - j->start_pts) * av_q2d(j->vtb);
    if (t < 0)
        return FG_OK;
    if (t >= j->cap) {
        j->video_done = true;
        return FG_OK;
    }
    if (++j->frames_in > (int64_t)(j->cap + 1) * FG_VIDEO_MAX_FPS)
        return fg_fail(j->r, FG_ELIMIT, "more than %d frames a second", FG_VIDEO_MAX_FPS);
    if ((rc = check_size(j, in->width, in->height, "frame")) != FG_OK)
        return rc;
    j->last_t = t;
    /* At most FG_VIDEO_OUT_FPS frames a second reach the encoder. */
    if (j->last_out_pts != AV_NOPTS_VALUE && t - j->last_kept_t < 1.0 / FG_VIDEO_OUT_FPS - 1e-6)
        return FG_OK;
    int64_t opts = pts - j->start_pts;
    if (j->last_out_pts != AV_NOPTS_VALUE && opts <= j->last_out_pts)
        return FG_OK;
    j->sws = sws_getCachedContext(j->sws, in->width, in->height, in->format, j->ow, j->oh,
                                  AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!j->sws)
        return fg_fail(j->r, FG_ECORRUPT, "cannot scale its frames (pixel format %s)",
                       av_get_pix_fmt_name(in->format) ? av_get_pix_fmt_name(in->format) : "?");
    if ((err = av_frame_make_writable(j->yuv)) < 0)
        return av_failed(j, FG_EIO, "cannot make the preview", err);
    sws_scale(j->sws, (const uint8_t *const *)in->data, in->linesize, 0, in->height,
              j->yuv->data, j->yuv->linesize);
    if ((rc = blend_mark(j, j->yuv)) != FG_OK)
        return rc;
    if (j->notice && t >= j->notice_from)
        blend_notice(j, j->yuv);
    /* The traceable mark last, over the visible one and the notice (as
     * in images), the same pattern in every frame: constant, the encoder
     * carries it from frame to frame through its references instead of
     * spending bits on a change, and averaging frames only keeps it. */
    if (j->trace)
        wm_trace_embed_plane(j->yuv->data[0], j->yuv->linesize[0], j->ow, j->oh, j->chip,
                             VIDEO_TRACE_GAIN, 16, 235);
    /* The first frame stands in until the poster's moment comes. */
    if ((!j->poster_set || (t >= j->poster_at && j->poster_at >= 0)) &&
        (rc = keep_poster(j, j->yuv)) != FG_OK)
        return rc;
    if (t >= j->poster_at)
        j->poster_at = -1; /* taken */
    j->yuv->pts = opts;
    j->last_out_pts = opts;
    j->last_kept_t = t;
    if ((err = avcodec_send_frame(j->venc, j->yuv)) < 0)
        return av_failed(j, FG_EIO, "cannot encode the preview", err);
    return drain(j, j->venc, j->vst);
}

static fg_result audio_push(job *j, bool flush)
{
    int err, fs = j->aenc->frame_size > 0 ? j->aenc->frame_size : 1024;
    while (av_audio_fifo_size(j->fifo) >= fs || (flush && av_audio_fifo_size(j->fifo) > 0)) {
        int n = av_audio_fifo_size(j->fifo) < fs ? av_audio_fifo_size(j->fifo) : fs;
        av_frame_unref(j->aframe);
        j->aframe->nb_samples = n;
        j->aframe->format = j->aenc->sample_fmt;
        j->aframe->sample_rate = j->aenc->sample_rate;
        if ((err = av_channel_layout_copy(&j->aframe->ch_layout, &j->aenc->ch_layout)) < 0 ||
            (err = av_frame_get_buffer(j->aframe, 0)) < 0)
            return av_failed(j, FG_EIO, "cannot make the preview", err);
        if (av_audio_fifo_read(j->fifo, (void **)j->aframe->data, n) < n)
            return fg_fail(j->r, FG_EIO, "cannot make the preview: sound buffer");
        j->aframe->pts = j->audio_samples;
        j->audio_samples += n;
        if ((err = avcodec_send_frame(j->aenc, j->aframe)) < 0)
            return av_failed(j, FG_EIO, "cannot encode the sound", err);
        fg_result rc = drain(j, j->aenc, j->ast);
        if (rc != FG_OK)
            return rc;
    }
    return FG_OK;
}

/* Converts n of the frame's samples (NULL: what the resampler holds) and
 * queues them. */
static fg_result audio_convert(job *j, const AVFrame *in, int n)
{
    int cap = swr_get_out_samples(j->swr, n);
    if (cap <= 0)
        return FG_OK;
    uint8_t **buf = NULL;
    int err = av_samples_alloc_array_and_samples(&buf, NULL, j->aenc->ch_layout.nb_channels, cap,
                                                 j->aenc->sample_fmt, 0);
    if (err < 0)
        return av_failed(j, FG_EIO, "cannot make the preview", err);
    int got = swr_convert(j->swr, buf, cap, in ? (const uint8_t **)in->extended_data : NULL,
                          in ? n : 0);
    fg_result rc = FG_OK;
    if (got < 0)
        rc = av_failed(j, FG_ECORRUPT, "cannot convert its sound", got);
    else if (got > 0 && av_audio_fifo_write(j->fifo, (void **)buf, got) < got)
        rc = fg_fail(j->r, FG_EIO, "cannot make the preview: sound buffer");
    av_freep(&buf[0]);
    av_freep(&buf);
    return rc;
}

static fg_result audio_frame(job *j, AVFrame *in)
{
    int64_t pts = in->best_effort_timestamp != AV_NOPTS_VALUE ? in->best_effort_timestamp
                                                                : in->pts;
    AVRational tb = j->ic->streams[j->ai]->time_base;
    /* Time from the video's start, so both stop at the cap together. */
    int64_t start = j->start_pts != AV_NOPTS_VALUE
                        ? av_rescale_q(j->start_pts, j->vtb, tb)
                        : (j->ic->streams[j->ai]->start_time != AV_NOPTS_VALUE
                               ? j->ic->streams[j->ai]->start_time
                               : 0);
    double t = pts == AV_NOPTS_VALUE ? (double)j->audio_samples / j->aenc->sample_rate
                                     : (double)(pts - start) * av_q2d(tb);
    if (t >= j->cap) {
        j->audio_done = true;
        return FG_OK;
    }
    int n = in->nb_samples;
    if (in->sample_rate > 0 && t + (double)n / in->sample_rate > j->cap)
        n = (int)((j->cap - (t > 0 ? t : 0)) * in->sample_rate);
    fg_result rc = audio_convert(j, in, n > 0 ? n : 0);
    return rc == FG_OK ? audio_push(j, false) : rc;
}

/* Feeds one packet (NULL: flush) to its decoder, and its frames on. */
static fg_result decode(job *j, AVCodecContext *d, const AVPacket *p, AVFrame *f, bool video)
{
    int err = avcodec_send_packet(d, p);
    if (err == AVERROR_INVALIDDATA) {
        if (++j->decode_errors > FG_VIDEO_MAX_DECODE_ERRORS)
            return fg_fail(j->r, FG_ECORRUPT, "damaged: more than %d undecodable packets",
                           FG_VIDEO_MAX_DECODE_ERRORS);
        return FG_OK;
    }
    if (err < 0 && err != AVERROR_EOF)
        return av_failed(j, FG_ECORRUPT, "damaged", err);
    for (;;) {
        err = avcodec_receive_frame(d, f);
        if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
            return FG_OK;
        if (err == AVERROR_INVALIDDATA) {
            if (++j->decode_errors > FG_VIDEO_MAX_DECODE_ERRORS)
                return fg_fail(j->r, FG_ECORRUPT, "damaged: more than %d undecodable frames",
                               FG_VIDEO_MAX_DECODE_ERRORS);
            continue;
        }
        if (err < 0)
            return av_failed(j, err == AVERROR(ENOMEM) ? FG_ELIMIT : FG_ECORRUPT,
                             "cannot decode", err);
        fg_result rc = video ? video_frame(j, f) : audio_frame(j, f);
        av_frame_unref(f);
        if (rc != FG_OK)
            return rc;
    }
}

static fg_result transcode(job *j)
{
    AVPacket *in = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    fg_result rc = FG_OK;
    int err;
    if (!in || !f) {
        rc = fg_fail(j->r, FG_EIO, "cannot make the preview: out of memory");
        goto out;
    }
    while (!(j->video_done && (j->ai < 0 || j->audio_done))) {
        err = av_read_frame(j->ic, in);
        if (err == AVERROR_EOF)
            break;
        if (err < 0) {
            rc = av_failed(j, FG_ECORRUPT, "damaged or truncated", err);
            goto out;
        }
        if (in->stream_index == j->vi && !j->video_done)
            rc = decode(j, j->vdec, in, f, true);
        else if (in->stream_index == j->ai && !j->audio_done)
            rc = decode(j, j->adec, in, f, false);
        av_packet_unref(in);
        if (rc != FG_OK)
            goto out;
    }
    if ((rc = decode(j, j->vdec, NULL, f, true)) != FG_OK ||
        (j->adec && (rc = decode(j, j->adec, NULL, f, false)) != FG_OK))
        goto out;
    if (j->last_out_pts == AV_NOPTS_VALUE) {
        rc = fg_fail(j->r, FG_ECORRUPT, "no frame of its video could be decoded");
        goto out;
    }
    /* A file cut short still decodes what it holds: the container says
     * how long it should have been. */
    double want = j->duration < j->cap ? j->duration : j->cap;
    AVRational fr = av_guess_frame_rate(j->ic, j->ic->streams[j->vi], NULL);
    double frame = fr.num > 0 && fr.den > 0 ? av_q2d(av_inv_q(fr)) : 0.04;
    frame = frame > 2.0 ? 2.0 : frame;
    /* Its last frame starts one frame before its end; half a second and
     * 5% more for containers that round. */
    if (j->duration > 0 && j->last_t + frame + 0.5 < want * 0.95) {
        rc = fg_fail(j->r, FG_ECORRUPT, "truncated: its video stops at %.1f s of %.1f s",
                     j->last_t, j->duration);
        goto out;
    }
    if ((err = avcodec_send_frame(j->venc, NULL)) < 0) {
        rc = av_failed(j, FG_EIO, "cannot encode the preview", err);
        goto out;
    }
    if ((rc = drain(j, j->venc, j->vst)) != FG_OK)
        goto out;
    if (j->aenc) {
        if ((rc = audio_convert(j, NULL, 0)) != FG_OK || (rc = audio_push(j, true)) != FG_OK)
            goto out;
        if ((err = avcodec_send_frame(j->aenc, NULL)) < 0) {
            rc = av_failed(j, FG_EIO, "cannot encode the sound", err);
            goto out;
        }
        if ((rc = drain(j, j->aenc, j->ast)) != FG_OK)
            goto out;
    }
out:
    av_packet_free(&in);
    av_frame_free(&f);
    return rc;
}

static fg_result save_poster(job *j, const char *path)
{
    VipsImage *im = vips_image_new_from_memory(j->poster, (size_t)j->ow * j->oh * 3, j->ow, j->oh,
                                               3, VIPS_FORMAT_UCHAR);
    if (!im) {
        vips_error_clear();
        return fg_fail(j->r, FG_EIO, "cannot make the poster frame");
    }
    im->Type = VIPS_INTERPRETATION_sRGB;
    wm_options po = *j->o;
    fg_result rc = wm_save_image(im, path, &po, j->r);
    g_object_unref(im);
    return rc;
}

static void job_release(job *j)
{
    if (j->oc) {
        if (j->oc->pb)
            avio_closep(&j->oc->pb);
        avformat_free_context(j->oc);
    }
    avcodec_free_context(&j->venc);
    avcodec_free_context(&j->aenc);
    avcodec_free_context(&j->vdec);
    avcodec_free_context(&j->adec);
    avformat_close_input(&j->ic);
    sws_freeContext(j->sws);
    swr_free(&j->swr);
    if (j->fifo)
        av_audio_fifo_free(j->fifo);
    av_frame_free(&j->yuv);
    av_frame_free(&j->aframe);
    av_packet_free(&j->pkt);
    wm_mark_plane_release(&j->mark);
    rng_release(&j->rng);
    free(j->samples);
    free(j->noise);
    free(j->poster);
    if (j->notice)
        g_object_unref(j->notice);
    wm_outfile_abort(&j->file);
}

fg_result wm_stamp_video(const char *in, const char *out, const wm_options *o, uint64_t seed,
                         fg_reason *r)
{
    job j = {.o = o, .r = r, .vi = -1, .ai = -1, .start_pts = AV_NOPTS_VALUE,
             .last_out_pts = AV_NOPTS_VALUE, .file = {.fd = -1}};
    char poster[4200];
    fg_result rc;
    int err;
    /* The reason is ours, in one line; libav's own messages would be
     * the child's first line of stderr instead. */
    av_log_set_level(AV_LOG_QUIET);
    /* libavcodec's decoders are the untrusted code here: never run them
     * anywhere but in the sandboxed child. */
    if (!wm_sandbox_active())
        return fg_fail(r, FG_EUNSUPPORTED, "video previews are made only in the sandbox");
    if (snprintf(poster, sizeof poster, "%s%s", out, WM_POSTER_SUFFIX) >= (int)sizeof poster)
        return fg_fail(r, FG_EUSAGE, "cannot write the preview: name too long");
    j.cap = o->max_seconds;
    if ((rc = rng_init(&j.rng, r)) != FG_OK || (rc = open_input(&j, in)) != FG_OK)
        goto out;
    out_size(&j);
    if ((rc = wm_mark_plane_init(&j.mark, o, seed, j.ow, j.oh, r)) != FG_OK ||
        (rc = wm_trace_chips(o, j.chip, &j.trace, r)) != FG_OK)
        goto out;
    for (int i = 0; i < (int)sizeof j.clamp; i++)
        j.clamp[i] = clamp8(i - 512);
    for (int i = 0; i < 256; i++)
        j.ink_y[i] = (unsigned char)(16 + i * 219 / 255);
    j.samples = malloc((size_t)j.ow / j.mark.block + 2);
    j.noise = malloc((size_t)j.ow * j.oh);
    for (size_t i = 0; j.noise && i < (size_t)j.ow * j.oh; i++) {
        int b = rng_byte(&j.rng);
        if (b < 0) {
            rc = fg_fail(r, FG_EIO, "no randomness for the mark");
            goto out;
        }
        j.noise[i] = (unsigned char)b;
    }
    j.poster = malloc((size_t)j.ow * j.oh * 3);
    j.pkt = av_packet_alloc();
    if (!j.samples || !j.noise || !j.poster || !j.pkt) {
        rc = fg_fail(r, FG_EIO, "cannot make the preview: out of memory");
        goto out;
    }
    double span = j.duration > 0 && j.duration < j.cap ? j.duration : j.cap;
    j.poster_at = span * FG_VIDEO_POSTER_AT;
    /* Cut short, and it says so: a source longer than the cap, or of
     * unknown length (it might be). */
    if ((j.duration <= 0 || j.duration > j.cap) && (rc = make_notice(&j)) != FG_OK)
        goto out;
    if ((rc = open_output(&j, out)) != FG_OK || (rc = transcode(&j)) != FG_OK)
        goto out;
    if ((err = av_write_trailer(j.oc)) < 0) {
        rc = av_failed(&j, FG_EIO, "cannot write the preview", err);
        goto out;
    }
    if ((err = avio_closep(&j.oc->pb)) < 0) {
        rc = av_failed(&j, FG_EIO, "cannot write the preview", err);
        goto out;
    }
    if ((rc = save_poster(&j, poster)) != FG_OK)
        goto out;
    if ((rc = wm_outfile_commit(&j.file, r)) != FG_OK)
        (void)unlink(poster);
out:
    job_release(&j);
    return rc;
}
