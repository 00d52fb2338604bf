/* Stamping an audio file: demux, decode, resample to 44.1 kHz, mix in the
 * chime, encode MP3, all in one streaming pass.
 *
 * Memory stays flat whatever the length: one decoded frame and one
 * encoder frame are held at a time, and the waveform keeps one byte per
 * 10 ms. Reading stops at o->max_seconds of output, so an hour-long file
 * costs no more than the cap; what one second costs is bounded by
 * o->audio_max_rate (sample rate x channels), from the header and again
 * for every decoded frame, since a stream may change format midway.
 *
 * Nothing of the original's container is carried over: no metadata is
 * copied, cover pictures are other streams and are never read, and the
 * MP3 muxer writes no ID3 tag at all (id3v2_version 0). */
#include "watermark/audio.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/avstring.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "watermark/audio_mark.h"
#include "watermark/save.h"
#include "watermark/seccomp.h"

/* The demuxers an audio upload may reach. Without this list libavformat
 * probes for any of its hundreds of formats, playlists and image
 * sequences among them, which open further files by name. */
#define DEMUXERS "mp3,wav,flac,ogg,mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,aac"

/* The decoders an audio upload may reach: those of the formats above
 * (MP3 and MP2, AAC and ALAC in M4A, FLAC, Vorbis and Opus in Ogg, PCM
 * and the two common ADPCMs in WAV). libavcodec has hundreds more, each
 * a parser of hostile bytes; a stream in any other codec is withheld, and
 * stream probing may open none of them either. */
#define DECODERS                                                                           \
    "mp3float,mp3,mp2float,mp2,aac,aac_fixed,alac,flac,vorbis,libvorbis,opus,libopus,"     \
    "adpcm_ima_wav,adpcm_ms,pcm_s8,pcm_u8,pcm_s16le,pcm_s16be,pcm_u16le,pcm_u16be,"        \
    "pcm_s24le,pcm_s24be,pcm_u24le,pcm_u24be,pcm_s32le,pcm_s32be,pcm_u32le,pcm_u32be,"     \
    "pcm_s64le,pcm_s64be,pcm_f16le,pcm_f24le,pcm_f32le,pcm_f32be,pcm_f64le,pcm_f64be,"     \
    "pcm_alaw,pcm_mulaw"

/* A fade at a cut end, so the preview stops without a click. */
#define FADE_MS 50

/* The lowest input sample rate read: nothing recorded for listening is
 * below 8 kHz telephony (old formats have 5512 Hz), and every input
 * sample becomes 44100 / rate output samples: at 1 Hz one FLAC block of
 * 65535 samples would resample into 2.9 billion. */
#define MIN_RATE 4000

/* Undecodable packets tolerated before the file is called damaged: one
 * bad frame in a long MP3 is common and audible as a blip, a stream of
 * them is not music. */
#define MAX_BAD_PACKETS 8

typedef struct conv {
    AVFormatContext *in;
    AVCodecContext *dec;
    int sidx;
    SwrContext *swr;
    AVAudioFifo *fifo;
    AVFormatContext *out;
    AVCodecContext *enc;
    AVStream *ost;
    AVFrame *frame, *ef;
    AVPacket *pkt, *opkt;
    uint8_t **buf; /* resampler output, planar */
    int buf_samples;
    int out_ch;
    long long written; /* samples sent to the encoder */
    long long limit;   /* o->max_seconds of samples */
    int in_rate, in_ch, in_fmt;
    wm_chime chime;
    wm_wave wave;
} conv;

static fg_result av_fail(fg_reason *r, fg_result code, const char *what, int err)
{
    char msg[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(err, msg, sizeof msg);
    /* libav's messages start with a capital; ours are lowercase. */
    if (msg[0] >= 'A' && msg[0] <= 'Z')
        msg[0] = (char)(msg[0] - 'A' + 'a');
    return fg_fail(r, code, "%s: %s", what, msg);
}

/* Opens path with the demuxers and, when probe is true, reads its
 * streams' parameters (decoding a little, with DECODERS only). */
static int open_input(AVFormatContext **in, const char *path, bool probe)
{
    AVDictionary *opts = NULL;
    char url[4200];
    /* "file:" always: a path with a colon must not name another protocol. */
    if (snprintf(url, sizeof url, "file:%s", path) >= (int)sizeof url)
        return AVERROR(ENAMETOOLONG);
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    av_dict_set(&opts, "format_whitelist", DEMUXERS, 0);
    av_dict_set(&opts, "codec_whitelist", DECODERS, 0);
    int ret = avformat_open_input(in, url, NULL, &opts);
    av_dict_free(&opts);
    if (ret >= 0 && probe && (ret = avformat_find_stream_info(*in, NULL)) < 0)
        avformat_close_input(in);
    return ret;
}

static void quiet(void)
{
    /* The child's first line on stderr is the file's reason: libav's own
     * chatter would take its place. */
    av_log_set_level(AV_LOG_QUIET);
}

bool wm_audio_only(const char *in)
{
    AVFormatContext *fc = NULL;
    bool audio = false, video = false;
    /* Demuxing is parsing hostile bytes: in the sandboxed child only. */
    if (!wm_sandbox_active())
        return false;
    quiet();
    /* The containers that get here (MP4, WebM) name their streams' types
     * in their headers: nothing needs decoding to know them. */
    if (open_input(&fc, in, false) < 0)
        return false;
    for (unsigned i = 0; i < fc->nb_streams; i++) {
        const AVStream *st = fc->streams[i];
        if (st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
            audio = true;
        else if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
                 !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
            video = true;
    }
    avformat_close_input(&fc);
    return audio && !video;
}

static fg_result check_rate(const wm_options *o, int rate, int ch, fg_reason *r)
{
    if (rate <= 0 || ch <= 0)
        return fg_fail(r, FG_ECORRUPT, "the audio stream has no sample rate or no channels");
    if (rate < MIN_RATE)
        return fg_fail(r, FG_ECORRUPT, "a sample rate of %d Hz is not audio (at least %d)", rate,
                       MIN_RATE);
    if ((long long)rate * ch > o->audio_max_rate)
        return fg_fail(r, FG_ELIMIT,
                       "%d Hz x %d channels is over the limit of %lld samples per second "
                       "(FILIGRANE_AUDIO_MAX_RATE)",
                       rate, ch, o->audio_max_rate);
    return FG_OK;
}

static fg_result open_decoder(conv *c, const char *in, const wm_options *o, fg_reason *r)
{
    const AVCodec *codec = NULL;
    int ret = open_input(&c->in, in, true);
    if (ret < 0)
        return av_fail(r, FG_ECORRUPT, "cannot read the audio", ret);
    c->sidx = av_find_best_stream(c->in, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
    if (c->sidx < 0 || !codec)
        return fg_fail(r, FG_ECORRUPT, c->sidx == AVERROR_DECODER_NOT_FOUND
                                           ? "no decoder for its audio stream"
                                           : "the file has no audio stream");
    if (!av_match_list(codec->name, DECODERS, ','))
        return fg_fail(r, FG_EUNSUPPORTED, "audio in %.40s is withheld", codec->name);
    /* Pictures, lyrics, chapters: never read. */
    for (unsigned i = 0; i < c->in->nb_streams; i++)
        if ((int)i != c->sidx)
            c->in->streams[i]->discard = AVDISCARD_ALL;
    const AVCodecParameters *par = c->in->streams[c->sidx]->codecpar;
    fg_result rc = check_rate(o, par->sample_rate, par->ch_layout.nb_channels, r);
    if (rc != FG_OK)
        return rc;
    if (!(c->dec = avcodec_alloc_context3(codec)))
        return fg_fail(r, FG_EIO, "cannot decode: out of memory");
    if ((ret = avcodec_parameters_to_context(c->dec, par)) < 0)
        return av_fail(r, FG_ECORRUPT, "cannot decode the audio", ret);
    /* One thread: with frame threads a damaged packet's error surfaces
     * later, from another packet's receive, where it can no longer be
     * counted against MAX_BAD_PACKETS; and the CPU time is the same
     * (bench/audio.sh). */
    c->dec->thread_count = 1;
    AVDictionary *dopts = NULL;
    av_dict_set(&dopts, "codec_whitelist", DECODERS, 0);
    ret = avcodec_open2(c->dec, codec, &dopts);
    av_dict_free(&dopts);
    if (ret < 0)
        return av_fail(r, FG_ECORRUPT, "cannot decode the audio", ret);
    return FG_OK;
}

static fg_result open_encoder(conv *c, const char *tmp, int in_ch, fg_reason *r)
{
    AVDictionary *mopts = NULL;
    char url[4200];
    int ret;
    const AVCodec *codec = avcodec_find_encoder_by_name("libmp3lame");
    if (!codec)
        return fg_fail(r, FG_EIO, "cannot encode: no mp3 encoder (libmp3lame) in libavcodec");
    c->out_ch = in_ch >= 2 ? 2 : 1;
    if (!(c->enc = avcodec_alloc_context3(codec)))
        return fg_fail(r, FG_EIO, "cannot encode: out of memory");
    av_channel_layout_default(&c->enc->ch_layout, c->out_ch);
    c->enc->sample_rate = WM_AUDIO_RATE;
    c->enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
    c->enc->bit_rate = c->out_ch == 2 ? WM_AUDIO_BITRATE_STEREO : WM_AUDIO_BITRATE_MONO;
    c->enc->time_base = (AVRational){1, WM_AUDIO_RATE};
    c->enc->flags |= AV_CODEC_FLAG_BITEXACT;
    if ((ret = avcodec_open2(c->enc, codec, NULL)) < 0)
        return av_fail(r, FG_EIO, "cannot encode", ret);
    if ((ret = avformat_alloc_output_context2(&c->out, NULL, "mp3", NULL)) < 0)
        return av_fail(r, FG_EIO, "cannot encode", ret);
    c->out->flags |= AVFMT_FLAG_BITEXACT;
    if (!(c->ost = avformat_new_stream(c->out, NULL)))
        return fg_fail(r, FG_EIO, "cannot encode: out of memory");
    if ((ret = avcodec_parameters_from_context(c->ost->codecpar, c->enc)) < 0)
        return av_fail(r, FG_EIO, "cannot encode", ret);
    c->ost->time_base = c->enc->time_base;
    snprintf(url, sizeof url, "file:%s", tmp);
    if ((ret = avio_open(&c->out->pb, url, AVIO_FLAG_WRITE)) < 0)
        return av_fail(r, FG_EIO, "cannot write the preview", ret);
    av_dict_set(&mopts, "id3v2_version", "0", 0);
    ret = avformat_write_header(c->out, &mopts);
    av_dict_free(&mopts);
    if (ret < 0)
        return av_fail(r, FG_EIO, "cannot write the preview", ret);
    return FG_OK;
}

/* The resampler, from the first decoded frame's format: the codec's
 * parameters before decoding may be incomplete (a layout left unset). */
static fg_result open_resampler(conv *c, const AVFrame *f, fg_reason *r)
{
    AVChannelLayout in_layout = {0}, out_layout = {0};
    fg_result rc = FG_OK;
    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
        av_channel_layout_default(&in_layout, f->ch_layout.nb_channels);
    else if (av_channel_layout_copy(&in_layout, &f->ch_layout) < 0) {
        rc = fg_fail(r, FG_EIO, "cannot resample: out of memory");
        goto out;
    }
    av_channel_layout_default(&out_layout, c->out_ch);
    if (swr_alloc_set_opts2(&c->swr, &out_layout, AV_SAMPLE_FMT_FLTP, WM_AUDIO_RATE,
                            &in_layout, (enum AVSampleFormat)f->format, f->sample_rate, 0,
                            NULL) < 0 ||
        swr_init(c->swr) < 0) {
        rc = fg_fail(r, FG_ECORRUPT, "cannot resample its audio (%d channels, %d Hz)",
                     f->ch_layout.nb_channels, f->sample_rate);
        goto out;
    }
    c->in_rate = f->sample_rate;
    c->in_ch = f->ch_layout.nb_channels;
    c->in_fmt = f->format;
out:
    av_channel_layout_uninit(&in_layout);
    av_channel_layout_uninit(&out_layout);
    return rc;
}

static fg_result write_packets(conv *c, fg_reason *r)
{
    int ret;
    while ((ret = avcodec_receive_packet(c->enc, c->opkt)) >= 0) {
        av_packet_rescale_ts(c->opkt, c->enc->time_base, c->ost->time_base);
        c->opkt->stream_index = c->ost->index;
        if ((ret = av_interleaved_write_frame(c->out, c->opkt)) < 0)
            return av_fail(r, FG_EIO, "cannot write the preview", ret);
    }
    if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
        return av_fail(r, FG_EIO, "cannot encode", ret);
    return FG_OK;
}

/* Encodes what the FIFO holds in encoder-sized frames; at the end (last)
 * the remainder too. Stops at the limit. */
static fg_result drain(conv *c, bool last, fg_reason *r)
{
    int fs = c->enc->frame_size > 0 ? c->enc->frame_size : 1152;
    for (;;) {
        int avail = av_audio_fifo_size(c->fifo);
        long long room = c->limit - c->written;
        int n = avail < fs ? avail : fs;
        if (n > room)
            n = (int)room;
        if (n <= 0 || (n < fs && !last && n < room))
            return FG_OK;
        av_frame_unref(c->ef);
        c->ef->nb_samples = n;
        c->ef->format = AV_SAMPLE_FMT_FLTP;
        c->ef->sample_rate = WM_AUDIO_RATE;
        if (av_channel_layout_copy(&c->ef->ch_layout, &c->enc->ch_layout) < 0 ||
            av_frame_get_buffer(c->ef, 0) < 0)
            return fg_fail(r, FG_EIO, "cannot encode: out of memory");
        if (av_audio_fifo_read(c->fifo, (void **)c->ef->data, n) != n)
            return fg_fail(r, FG_EIO, "cannot encode: resampler buffer failed");
        float *const *pl = (float *const *)c->ef->data;
        /* Float PCM carries whatever the seller wrote: NaN and infinities
         * pass through the resampler, and LAME aborts on them (an
         * assertion in its psychoacoustic model). Silence them, and clip
         * the rest to full scale. */
        for (int ch = 0; ch < c->out_ch; ch++)
            for (int i = 0; i < n; i++) {
                float v = pl[ch][i];
                pl[ch][i] = !isfinite(v) ? 0.0f : v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v;
            }
        wm_chime_mix(&c->chime, pl, c->out_ch, n, c->written);
        /* The cut: a short fade into the limit, never a click. */
        long long fade = (long long)FADE_MS * WM_AUDIO_RATE / 1000;
        if (c->limit - (c->written + n) < fade) {
            for (int i = 0; i < n; i++) {
                long long left = c->limit - (c->written + i);
                if (left < fade)
                    for (int ch = 0; ch < c->out_ch; ch++)
                        pl[ch][i] *= (float)left / (float)fade;
            }
        }
        fg_result rc = wm_wave_add(&c->wave, (const float *const *)pl, c->out_ch, n, r);
        if (rc != FG_OK)
            return rc;
        c->ef->pts = c->written;
        c->written += n;
        int ret = avcodec_send_frame(c->enc, c->ef);
        if (ret < 0)
            return av_fail(r, FG_EIO, "cannot encode", ret);
        if ((rc = write_packets(c, r)) != FG_OK)
            return rc;
    }
}

/* Resamples one decoded frame (or, f NULL, what the resampler still
 * holds) into the FIFO and encodes what is ready. */
static fg_result take(conv *c, const AVFrame *f, fg_reason *r)
{
    fg_result rc;
    if (f) {
        /* A format that changes mid-stream would need a new resampler;
         * refused, since it is also how a stream would claim a small rate
         * in its header and decode at a huge one (receive checks each
         * frame's rate against the limit before this). */
        if (!c->swr && (rc = open_resampler(c, f, r)) != FG_OK)
            return rc;
        if (f->sample_rate != c->in_rate || f->ch_layout.nb_channels != c->in_ch ||
            f->format != c->in_fmt)
            return fg_fail(r, FG_ECORRUPT, "the audio changes format in the middle of the stream");
    } else if (!c->swr) {
        return FG_OK;
    }
    int want = swr_get_out_samples(c->swr, f ? f->nb_samples : 0);
    if (want < 0)
        return fg_fail(r, FG_ECORRUPT, "cannot resample its audio");
    if (want > c->buf_samples) {
        if (c->buf) {
            av_freep(&c->buf[0]);
            av_freep(&c->buf);
        }
        c->buf_samples = 0;
        if (av_samples_alloc_array_and_samples(&c->buf, NULL, c->out_ch, want,
                                               AV_SAMPLE_FMT_FLTP, 0) < 0)
            return fg_fail(r, FG_EIO, "cannot resample: out of memory");
        c->buf_samples = want;
    }
    int n = swr_convert(c->swr, c->buf, want, f ? (const uint8_t **)f->extended_data : NULL,
                        f ? f->nb_samples : 0);
    if (n < 0)
        return fg_fail(r, FG_ECORRUPT, "cannot resample its audio");
    if (n > 0 && av_audio_fifo_write(c->fifo, (void **)c->buf, n) != n)
        return fg_fail(r, FG_EIO, "cannot resample: out of memory");
    return drain(c, f == NULL, r);
}

/* Decoded samples of whatever the decoder has ready, checked against the
 * rate limit frame by frame. */
static fg_result receive(conv *c, const wm_options *o, fg_reason *r)
{
    int ret;
    while ((ret = avcodec_receive_frame(c->dec, c->frame)) >= 0) {
        fg_result rc = check_rate(o, c->frame->sample_rate, c->frame->ch_layout.nb_channels, r);
        if (rc == FG_OK)
            rc = take(c, c->frame, r);
        av_frame_unref(c->frame);
        if (rc != FG_OK)
            return rc;
        if (c->written >= c->limit)
            return FG_OK;
    }
    if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
        return av_fail(r, FG_ECORRUPT, "cannot decode the audio", ret);
    return FG_OK;
}

/* The length the container states for the stream, in seconds, when it is
 * read from the header or the stream's own timestamps (not a guess from
 * the bitrate); 0 when there is none. */
static double stated_seconds(const conv *c)
{
    const AVStream *st = c->in->streams[c->sidx];
    if (c->in->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE)
        return 0;
    if (st->duration > 0 && st->duration != AV_NOPTS_VALUE)
        return (double)st->duration * av_q2d(st->time_base);
    if (c->in->duration > 0 && c->in->duration != AV_NOPTS_VALUE)
        return (double)c->in->duration / AV_TIME_BASE;
    return 0;
}

static unsigned le32(const unsigned char *p)
{
    return p[0] | (unsigned)p[1] << 8 | (unsigned)p[2] << 16 | (unsigned)p[3] << 24;
}

/* libavformat's WAV reader shortens a data chunk to what the file holds,
 * so a WAV cut short reads as a shorter WAV: the chunk header is read
 * here. FG_ECORRUPT when the data chunk states more bytes than follow
 * it. Chunks are walked within the first 64 KiB only (a longer header is
 * left to libavformat). Size 0 and 0xffffffff mean "unknown" (a stream
 * written before its length was known) and pass. */
static fg_result check_wav_length(const char *in, fg_reason *r)
{
    unsigned char h[8];
    FILE *f = fopen(in, "rb");
    fg_result rc = FG_OK;
    long long size, pos = 12;
    if (!f || fseeko(f, 0, SEEK_END) != 0 || (size = ftello(f)) < 12)
        goto out;
    while (pos + 8 <= size && pos < 65536) {
        if (fseeko(f, pos, SEEK_SET) != 0 || fread(h, 1, 8, f) != 8)
            break;
        unsigned len = le32(h + 4);
        if (memcmp(h, "data", 4) == 0) {
            if (len != 0 && len != 0xffffffffu && pos + 8 + (long long)len > size)
                rc = fg_fail(r, FG_ECORRUPT,
                             "the audio is truncated: its data ends %lld bytes before "
                             "its header states",
                             pos + 8 + (long long)len - size);
            break;
        }
        pos += 8 + (long long)len + (len & 1);
    }
out:
    if (f)
        fclose(f);
    return rc;
}

static fg_result convert(conv *c, const wm_options *o, fg_reason *r)
{
    int bad = 0;
    fg_result rc = FG_OK;
    while (c->written < c->limit) {
        int ret = av_read_frame(c->in, c->pkt);
        if (ret == AVERROR_EOF)
            break;
        if (ret < 0)
            return av_fail(r, FG_ECORRUPT, "cannot read the audio", ret);
        if (c->pkt->stream_index != c->sidx) {
            av_packet_unref(c->pkt);
            continue;
        }
        ret = avcodec_send_packet(c->dec, c->pkt);
        av_packet_unref(c->pkt);
        if (ret == AVERROR_INVALIDDATA && ++bad <= MAX_BAD_PACKETS)
            continue;
        if (ret < 0 && ret != AVERROR(EAGAIN))
            return av_fail(r, FG_ECORRUPT, "cannot decode the audio", ret);
        if ((rc = receive(c, o, r)) != FG_OK)
            return rc;
    }
    bool cut = c->written >= c->limit;
    if (!cut) {
        /* The decoder's and the resampler's last samples. */
        if (avcodec_send_packet(c->dec, NULL) >= 0 && (rc = receive(c, o, r)) != FG_OK)
            return rc;
        if (c->written < c->limit && (rc = take(c, NULL, r)) != FG_OK)
            return rc;
    }
    if (c->written == 0)
        return fg_fail(r, FG_ECORRUPT, "no audio could be decoded from the file");
    /* A file cut short still decodes up to the cut: what tells is a header
     * (WAV, FLAC, Ogg, MP4) stating more than there is. A 2% or half-second
     * margin absorbs encoder padding and rounding. */
    double got = (double)c->written / WM_AUDIO_RATE;
    double stated = stated_seconds(c);
    if (!cut && stated > 0) {
        double expect = stated < o->max_seconds ? stated : o->max_seconds;
        double margin = expect * 0.02 > 0.5 ? expect * 0.02 : 0.5;
        if (got + margin < expect)
            return fg_fail(r, FG_ECORRUPT,
                           "the audio is truncated: %.1f s decoded of the %.1f s its header "
                           "states",
                           got, stated);
    }
    int ret = avcodec_send_frame(c->enc, NULL);
    if (ret < 0)
        return av_fail(r, FG_EIO, "cannot encode", ret);
    if ((rc = write_packets(c, r)) != FG_OK)
        return rc;
    if ((ret = av_write_trailer(c->out)) < 0)
        return av_fail(r, FG_EIO, "cannot write the preview", ret);
    return FG_OK;
}

static void conv_release(conv *c)
{
    if (c->out) {
        if (c->out->pb)
            avio_closep(&c->out->pb);
        avformat_free_context(c->out);
    }
    avcodec_free_context(&c->enc);
    avcodec_free_context(&c->dec);
    avformat_close_input(&c->in);
    swr_free(&c->swr);
    if (c->fifo)
        av_audio_fifo_free(c->fifo);
    if (c->buf) {
        av_freep(&c->buf[0]);
        av_freep(&c->buf);
    }
    av_frame_free(&c->frame);
    av_frame_free(&c->ef);
    av_packet_free(&c->pkt);
    av_packet_free(&c->opkt);
    wm_wave_release(&c->wave);
}

fg_result wm_stamp_audio(const char *in, const char *out, const wm_options *o, uint64_t seed,
                         fg_reason *r)
{
    conv c = {.sidx = -1};
    wm_outfile f = {.fd = -1};
    char poster[4200];
    fg_result rc;
    /* libavformat and libavcodec are the untrusted parsers here, as
     * poppler is for PDFs: never anywhere but the sandboxed child. */
    if (!wm_sandbox_active())
        return fg_fail(r, FG_EUNSUPPORTED, "audio previews are made only in the sandbox");
    quiet();
    if (snprintf(poster, sizeof poster, "%s%s", out, WM_POSTER_SUFFIX) >= (int)sizeof poster) {
        rc = fg_fail(r, FG_EUSAGE, "cannot write the preview: bad name");
        goto out;
    }
    c.limit = (long long)o->max_seconds * WM_AUDIO_RATE;
    wm_chime_init(&c.chime, seed, WM_AUDIO_RATE, o->audio_mark_interval);
    /* One peak per 10 ms. */
    wm_wave_init(&c.wave, WM_AUDIO_RATE / 100);
    if ((rc = open_decoder(&c, in, o, r)) != FG_OK)
        goto out;
    if (strcmp(c.in->iformat->name, "wav") == 0 && (rc = check_wav_length(in, r)) != FG_OK)
        goto out;
    if ((rc = wm_outfile_open(&f, out, r)) != FG_OK)
        goto out;
    if ((rc = open_encoder(&c, f.tmp, c.dec->ch_layout.nb_channels, r)) != FG_OK)
        goto out;
    c.fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, c.out_ch, 4096);
    c.frame = av_frame_alloc();
    c.ef = av_frame_alloc();
    c.pkt = av_packet_alloc();
    c.opkt = av_packet_alloc();
    if (!c.fifo || !c.frame || !c.ef || !c.pkt || !c.opkt) {
        rc = fg_fail(r, FG_EIO, "cannot decode: out of memory");
        goto out;
    }
    if ((rc = convert(&c, o, r)) != FG_OK)
        goto out;
    avio_closep(&c.out->pb);
    /* The waveform first, the preview last: a preview is never left
     * without its poster, and on failure neither stays. */
    if ((rc = wm_wave_save(&c.wave, poster, r)) != FG_OK)
        goto out;
    if ((rc = wm_outfile_commit(&f, r)) != FG_OK) {
        unlink(poster);
        goto out;
    }
out:
    wm_outfile_abort(&f);
    conv_release(&c);
    return rc;
}
