/* Audio previews (watermark/audio.c, audio_mark.c, audio_wave.c): WAV
 * inputs written here, stamped in a forked child under the sandbox's
 * seccomp filter (the stamper refuses to run anywhere else), the MP3
 * preview decoded back here with libavcodec and listened to with a
 * Goertzel filter at the pitches the seed chose, where the seed placed
 * them. */
#define _GNU_SOURCE
#include <dirent.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswresample/swresample.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vips/vips.h>

#include "watermark/audio.h"
#include "watermark/audio_mark.h"
#include "watermark/options.h"
#include "watermark/seccomp.h"

#define TAP_MAIN
#include "tests/unit/tap.h"

#include "tests/unit/cli_fixture.h"

static void setup(void)
{
    fixture_setup("fg-audio");
}

/* Runs fn(in, out) in a forked child that enters the sandbox first, as
 * `filigrane stamp --sandboxed` does; its result comes back as the exit
 * status, its reason through a pipe. A child killed by a signal is
 * FG_ECRASH. libvips is started in the child only: this process forks
 * again and again, and must hold no threads of libvips when it does. */
static int in_child(fg_result (*fn)(const char *, const char *, const wm_options *, uint64_t,
                                    fg_reason *),
                    const char *in, const char *out, const wm_options *o, uint64_t seed,
                    fg_reason *r)
{
    int fds[2];
    memset(r, 0, sizeof *r);
    if (pipe(fds) != 0)
        abort();
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        fg_reason cr = {{0}};
        close(fds[0]);
        /* A child that hangs fails its test instead of the whole run. */
        alarm(60);
        fg_result rc = wm_init("test_audio", true, &cr);
        if (rc == FG_OK)
            rc = wm_sandbox_enter(&cr);
        if (rc == FG_OK)
            rc = fn(in, out, o, seed, &cr);
        (void)!write(fds[1], cr.text, strlen(cr.text));
        _exit(rc);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < sizeof r->text && (k = read(fds[0], r->text + n, sizeof r->text - 1 - n)) > 0)
        n += (size_t)k;
    r->text[n] = '\0';
    close(fds[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid)
        abort();
    return WIFEXITED(st) ? WEXITSTATUS(st) : FG_ECRASH;
}

static fg_result stamp(const char *in, const char *out, const wm_options *o, uint64_t seed,
                       fg_reason *r)
{
    return (fg_result)in_child(wm_stamp_audio, in, out, o, seed, r);
}

static fg_result audio_only(const char *in, const char *out, const wm_options *o, uint64_t seed,
                            fg_reason *r)
{
    (void)out, (void)o, (void)seed, (void)r;
    return wm_audio_only(in) ? FG_OK : FG_EUNSUPPORTED;
}

static void le16(FILE *f, unsigned v) { fputc(v & 255, f), fputc((v >> 8) & 255, f); }
static void le32(FILE *f, unsigned v) { le16(f, v & 0xffff), le16(f, v >> 16); }

/* A 16-bit PCM WAV of noise at amplitude amp: its header states `stated`
 * seconds, its data holds `actual`; with a title, a LIST/INFO chunk
 * carries it (the tag a preview must not keep). */
static void write_wav(const char *p, int rate, int ch, double stated, double actual, double amp,
                      const char *title)
{
    FILE *f = fopen(p, "wb");
    if (!f)
        abort();
    unsigned frames = (unsigned)(stated * rate), have = (unsigned)(actual * rate);
    unsigned data = frames * ch * 2;
    unsigned list = 0;
    size_t tl = title ? strlen(title) + 1 : 0;
    if (title)
        list = 4 + 8 + (unsigned)((tl + 1) & ~1u);
    fwrite("RIFF", 1, 4, f);
    le32(f, 4 + (8 + 16) + (list ? 8 + list : 0) + 8 + data);
    fwrite("WAVEfmt ", 1, 8, f);
    le32(f, 16);
    le16(f, 1);
    le16(f, (unsigned)ch);
    le32(f, (unsigned)rate);
    le32(f, (unsigned)(rate * ch * 2));
    le16(f, (unsigned)ch * 2);
    le16(f, 16);
    if (title) {
        fwrite("LIST", 1, 4, f);
        le32(f, list);
        fwrite("INFOINAM", 1, 8, f);
        le32(f, (unsigned)tl);
        fwrite(title, 1, tl, f);
        if (tl & 1)
            fputc(0, f);
    }
    fwrite("data", 1, 4, f);
    le32(f, data);
    uint32_t x = 12345;
    for (unsigned i = 0; i < have * (unsigned)ch; i++) {
        x = x * 1664525u + 1013904223u;
        double v = ((double)(x >> 8) / (1 << 24) * 2 - 1) * amp;
        le16(f, (unsigned)(int16_t)(v * 32767));
    }
    fclose(f);
}

/* The preview decoded to mono float at WM_AUDIO_RATE; *n samples. */
static float *decode(const char *p, long *n, int *channels, long *bitrate)
{
    AVFormatContext *fc = NULL;
    AVCodecContext *dc = NULL;
    const AVCodec *codec = NULL;
    SwrContext *swr = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    float *pcm = NULL;
    long len = 0, cap = 0;
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    av_log_set_level(AV_LOG_ERROR);
    if (avformat_open_input(&fc, p, NULL, NULL) < 0 || avformat_find_stream_info(fc, NULL) < 0)
        abort();
    int si = av_find_best_stream(fc, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
    if (si < 0)
        abort();
    *channels = fc->streams[si]->codecpar->ch_layout.nb_channels;
    *bitrate = (long)fc->streams[si]->codecpar->bit_rate;
    dc = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(dc, fc->streams[si]->codecpar);
    if (avcodec_open2(dc, codec, NULL) < 0)
        abort();
    bool flushing = false;
    for (;;) {
        int ret = flushing ? 0 : av_read_frame(fc, pkt);
        if (!flushing && ret < 0) {
            flushing = true;
            avcodec_send_packet(dc, NULL);
        } else if (!flushing) {
            if (pkt->stream_index == si)
                avcodec_send_packet(dc, pkt);
            av_packet_unref(pkt);
        }
        while (avcodec_receive_frame(dc, fr) >= 0) {
            if (!swr) {
                swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLT, WM_AUDIO_RATE, &fr->ch_layout,
                                    fr->format, fr->sample_rate, 0, NULL);
                swr_init(swr);
            }
            if (len + fr->nb_samples + 64 > cap) {
                cap = (len + fr->nb_samples + 64) * 2;
                pcm = realloc(pcm, (size_t)cap * sizeof *pcm);
            }
            uint8_t *o = (uint8_t *)(pcm + len);
            int k = swr_convert(swr, &o, (int)(cap - len), (const uint8_t **)fr->extended_data,
                                fr->nb_samples);
            len += k > 0 ? k : 0;
            av_frame_unref(fr);
        }
        if (flushing)
            break;
    }
    *n = len;
    swr_free(&swr);
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&dc);
    avformat_close_input(&fc);
    return pcm;
}

/* How much of the window [a, a+len) is a sine at f: about 1 for a pure
 * tone, near 0 for noise or another pitch. */
static double tone_ratio(const float *x, long a, long len, double f)
{
    double w = 2 * M_PI * f / WM_AUDIO_RATE, c = 2 * cos(w), s1 = 0, s2 = 0, e = 0;
    for (long i = a; i < a + len; i++) {
        double s0 = x[i] + c * s1 - s2;
        s2 = s1;
        s1 = s0;
        e += (double)x[i] * x[i];
    }
    double p = s1 * s1 + s2 * s2 - c * s1 * s2;
    return e > 0 ? 2 * p / ((double)len * e) : 0;
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Nothing in the scratch directory but the inputs the tests wrote. */
static int leftovers(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp-") || strstr(e->d_name, "bad-out"))
            n++;
    if (d)
        closedir(d);
    return n;
}

static wm_options opts(void)
{
    wm_options o;
    fg_reason r;
    if (wm_options_init(&o, &r) != FG_OK)
        abort();
    return o;
}

TEST("every seed gives pitches on the 50 Hz grid in their bands and a first chime from 0.5 to 3 s")
{
    static const uint64_t seeds[] = {0, 1, 12, 0xffffffffffffffffull, 0x123456789abcdefull,
                                     1ull << 32, 1ull << 16, 987654321};
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
        wm_chime c;
        wm_chime_init(&c, seeds[i], 44100, 15);
        CHECK(c.f1 >= 800 && c.f1 <= 1400 && c.f1 % 50 == 0);
        CHECK(c.f2 >= 1600 && c.f2 <= 2400 && c.f2 % 50 == 0);
        CHECK(c.first >= 22050 && c.first < 3 * 44100);
        CHECK_INT(c.interval, 15 * 44100);
        CHECK_INT(c.tone, 8820);
    }
}

TEST("two seeds differing in each slice give a different pitch pair or first offset")
{
    wm_chime a, b, c, d;
    wm_chime_init(&a, 0, 44100, 15);
    wm_chime_init(&b, 1, 44100, 15);
    wm_chime_init(&c, 1ull << 16, 44100, 15);
    wm_chime_init(&d, 1ull << 32, 44100, 15);
    CHECK(a.f1 != b.f1);
    CHECK(a.f2 != c.f2);
    CHECK(a.first != d.first);
}

TEST("the chime is silent and leaves the program alone between chimes, and ducks it during one")
{
    wm_chime c;
    float g;
    wm_chime_init(&c, 42, 44100, 5);
    CHECK(wm_chime_sample(&c, c.first - 1, &g) == 0.0f && g == 1.0f);
    CHECK(wm_chime_sample(&c, c.first + 2 * c.tone + 10, &g) == 0.0f && g == 1.0f);
    float peak = 0;
    for (long long k = 0; k < 2 * c.tone; k++) {
        float v = fabsf(wm_chime_sample(&c, c.first + c.interval * 3 + k, &g));
        peak = v > peak ? v : peak;
        CHECK(g <= 1.0f && g >= WM_CHIME_DUCK - 1e-6f);
    }
    CHECK(peak > 0.9f * WM_CHIME_LEVEL && peak <= WM_CHIME_LEVEL + WM_CHIME_NOISE + 1e-6f);
    wm_chime_sample(&c, c.first + c.tone, &g);
    CHECK(fabsf(g - WM_CHIME_DUCK) < 1e-6f);
}

/* The noise part of chime c at k samples into its first tone's steady
 * middle (envelope 1, program fully ducked). */
static double noise_part(const wm_chime *c, long long k)
{
    float g;
    long long t = c->tone / 4 + k;
    return wm_chime_sample(c, c->first + c->interval + t, &g) -
           WM_CHIME_LEVEL * sin(2 * M_PI * c->f1 * (double)t / c->rate);
}

TEST("noise lies under the chime, keyed by the seed, and nowhere else")
{
    wm_chime a, b;
    float g;
    wm_chime_init(&a, 42, 44100, 5);
    wm_chime_init(&b, 43, 44100, 5);
    double level = 0, diff = 0;
    for (long long k = 0; k < 2000; k++) {
        level += fabs(noise_part(&a, k));
        diff += fabs(noise_part(&a, k) - noise_part(&b, k));
    }
    /* Uniform noise: its mean magnitude is half its level, and two
     * independent ones differ by two thirds of it on average. */
    CHECK(level / 2000 > WM_CHIME_NOISE * 0.4 && level / 2000 < WM_CHIME_NOISE * 0.6);
    CHECK(diff / 2000 > WM_CHIME_NOISE * 0.55 && diff / 2000 < WM_CHIME_NOISE * 0.8);
    CHECK(wm_chime_sample(&a, a.first + 2 * a.tone + 5, &g) == 0.0f);
    CHECK(wm_chime_sample(&a, a.first - 1, &g) == 0.0f);
}

TEST("mixing clips at full scale instead of wrapping")
{
    wm_chime c;
    wm_chime_init(&c, 7, 44100, 5);
    float buf[4000], *pl[1] = {buf};
    for (int i = 0; i < 4000; i++)
        buf[i] = 1.0f;
    wm_chime_mix(&c, pl, 1, 4000, c.first);
    for (int i = 0; i < 4000; i++)
        CHECK(buf[i] <= 1.0f && buf[i] >= -1.0f);
}

TEST("the preview carries the seeded chime at each interval, at both its pitches, and nothing "
     "between")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    uint64_t seed = 0x5eed5eed12345678ull;
    o.audio_mark_interval = 3;
    write_wav(path("noise.wav"), 48000, 2, 12, 12, 0.1, NULL);
    CHECK_INT(stamp(path("noise.wav"), path("noise.mp3"), &o, seed, &r), FG_OK);
    long n, br;
    int ch;
    float *x = decode(path("noise.mp3"), &n, &ch, &br);
    wm_chime c;
    wm_chime_init(&c, seed, WM_AUDIO_RATE, 3);
    long win = WM_AUDIO_RATE * 12 / 100, skip = WM_AUDIO_RATE * 4 / 100;
    int chimes = 0;
    for (long long at = c.first; at + 2 * c.tone < n; at += c.interval, chimes++) {
        CHECK(tone_ratio(x, at + skip, win, c.f1) > 0.8);
        CHECK(tone_ratio(x, at + c.tone + skip, win, c.f2) > 0.8);
        /* The other pitch is not there, nor any chime a second later. */
        CHECK(tone_ratio(x, at + skip, win, c.f2) < 0.05);
        CHECK(tone_ratio(x, at + WM_AUDIO_RATE, win, c.f1) < 0.05);
        CHECK(tone_ratio(x, at + WM_AUDIO_RATE, win, c.f2) < 0.05);
    }
    CHECK(chimes >= 3);
    CHECK_INT(ch, 2);
    CHECK_INT(br, WM_AUDIO_BITRATE_STEREO);
    free(x);
}

TEST("another seed puts the chime at other pitches: the first seed's pitches are absent")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    wm_chime a, b;
    uint64_t s1 = 3, s2 = 4;
    wm_chime_init(&a, s1, WM_AUDIO_RATE, 3);
    do
        wm_chime_init(&b, ++s2, WM_AUDIO_RATE, 3);
    while (a.f1 == b.f1 || a.f2 == b.f2);
    CHECK(a.f1 != b.f1 && a.f2 != b.f2);
    o.audio_mark_interval = 3;
    write_wav(path("noise2.wav"), 44100, 1, 7, 7, 0.1, NULL);
    CHECK_INT(stamp(path("noise2.wav"), path("noise2.mp3"), &o, s2, &r), FG_OK);
    long n, br;
    int ch;
    float *x = decode(path("noise2.mp3"), &n, &ch, &br);
    long win = WM_AUDIO_RATE * 12 / 100, skip = WM_AUDIO_RATE * 4 / 100;
    CHECK(tone_ratio(x, b.first + skip, win, b.f1) > 0.8);
    CHECK(tone_ratio(x, b.first + skip, win, a.f1) < 0.05);
    CHECK_INT(ch, 1);
    CHECK_INT(br, WM_AUDIO_BITRATE_MONO);
    free(x);
}

TEST("a file longer than max_seconds is cut there, without decoding the rest")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    o.max_seconds = 4;
    write_wav(path("long.wav"), 44100, 2, 30, 30, 0.1, NULL);
    CHECK_INT(stamp(path("long.wav"), path("long.mp3"), &o, 1, &r), FG_OK);
    long n, br;
    int ch;
    float *x = decode(path("long.mp3"), &n, &ch, &br);
    CHECK(labs(n - 4L * WM_AUDIO_RATE) < WM_AUDIO_RATE / 20);
    /* The cut fades out: the last 5 ms are near silence. */
    float tail = 0;
    for (long i = n - WM_AUDIO_RATE / 200; i < n; i++)
        tail = fabsf(x[i]) > tail ? fabsf(x[i]) : tail;
    CHECK(tail < 0.02f);
    free(x);
}

TEST("a short file keeps its length")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    write_wav(path("short.wav"), 22050, 1, 2.5, 2.5, 0.1, NULL);
    CHECK_INT(stamp(path("short.wav"), path("short.mp3"), &o, 1, &r), FG_OK);
    long n, br;
    int ch;
    float *x = decode(path("short.mp3"), &n, &ch, &br);
    CHECK(labs(n - WM_AUDIO_RATE * 5 / 2) < WM_AUDIO_RATE / 20);
    free(x);
}

TEST("the original's tags do not reach the preview, which has no ID3 tag at all")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    write_wav(path("tagged.wav"), 44100, 2, 2, 2, 0.1, "quokka secret title");
    CHECK_INT(stamp(path("tagged.wav"), path("tagged.mp3"), &o, 1, &r), FG_OK);
    FILE *f = fopen(path("tagged.mp3"), "rb");
    CHECK(f);
    static char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CHECK(len > 1000);
    CHECK(memmem(buf, len, "quokka", 6) == NULL);
    /* No ID3v2 header at the start, no ID3v1 block in the last 128
     * bytes (three bytes anywhere else are chance: the preview is
     * compressed noise). */
    CHECK(memcmp(buf, "ID3", 3) != 0 && memcmp(buf + len - 128, "TAG", 3) != 0);
    CHECK((unsigned char)buf[0] == 0xff && ((unsigned char)buf[1] & 0xe0) == 0xe0);
}

TEST("sample rate x channels at the limit is accepted, one over is refused naming the setting")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    write_wav(path("rate.wav"), 48000, 2, 1, 1, 0.1, NULL);
    o.audio_max_rate = 96000;
    CHECK_INT(stamp(path("rate.wav"), path("rate-ok.mp3"), &o, 1, &r), FG_OK);
    o.audio_max_rate = 95999;
    CHECK_INT(stamp(path("rate.wav"), path("bad-out-rate.mp3"), &o, 1, &r), FG_ELIMIT);
    CHECK(strstr(r.text, "FILIGRANE_AUDIO_MAX_RATE"));
    CHECK(!exists(path("bad-out-rate.mp3")) && !exists(path("bad-out-rate.mp3.poster")));
    CHECK_INT(leftovers(), 0);
}

TEST("an hour at 384 kHz on 8 channels is refused from its header, before any decoding")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    /* The header states the hour; the data is one second. */
    write_wav(path("huge.wav"), 384000, 8, 3600, 0.01, 0.0, NULL);
    CHECK_INT(stamp(path("huge.wav"), path("bad-out-huge.mp3"), &o, 1, &r), FG_ELIMIT);
    CHECK(strstr(r.text, "384000 Hz x 8 channels"));
    CHECK_INT(leftovers(), 0);
}

TEST("a sample rate under 4000 Hz is refused as no audio; 4000 Hz is read")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    write_wav(path("low.wav"), 3999, 1, 1, 1, 0.1, NULL);
    CHECK_INT(stamp(path("low.wav"), path("bad-out-low.mp3"), &o, 1, &r), FG_ECORRUPT);
    CHECK(strstr(r.text, "3999 Hz"));
    write_wav(path("low4k.wav"), 4000, 1, 1, 1, 0.1, NULL);
    CHECK_INT(stamp(path("low4k.wav"), path("low4k.mp3"), &o, 1, &r), FG_OK);
    CHECK_INT(leftovers(), 0);
}

TEST("a WAV shorter than its header states fails as truncated, leaving nothing")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    write_wav(path("cut.wav"), 44100, 2, 10, 3, 0.1, NULL);
    CHECK_INT(stamp(path("cut.wav"), path("bad-out-cut.mp3"), &o, 1, &r), FG_ECORRUPT);
    CHECK(strstr(r.text, "truncated"));
    CHECK(!exists(path("bad-out-cut.mp3")) && !exists(path("bad-out-cut.mp3.poster")));
    CHECK_INT(leftovers(), 0);
}

TEST("every prefix of a WAV's first 200 bytes fails with a reason and leaves nothing")
{
    setup();
    wm_options o = opts();
    write_wav(path("whole.wav"), 8000, 1, 1, 1, 0.1, NULL);
    FILE *f = fopen(path("whole.wav"), "rb");
    CHECK(f);
    char buf[200];
    CHECK(fread(buf, 1, sizeof buf, f) == sizeof buf);
    fclose(f);
    for (size_t len = 1; len <= sizeof buf; len++) {
        fg_reason r = {{0}};
        FILE *g = fopen(path("prefix.wav"), "wb");
        fwrite(buf, 1, len, g);
        fclose(g);
        fg_result rc = stamp(path("prefix.wav"), path("bad-out-prefix.mp3"), &o, 1, &r);
        if (rc != FG_ECORRUPT)
            TAP_FAIL("prefix of %zu bytes: %s (%s)", len, fg_result_name(rc), r.text);
        CHECK(r.text[0]);
        CHECK(!exists(path("bad-out-prefix.mp3")));
    }
    CHECK_INT(leftovers(), 0);
}

TEST("bytes that are no audio fail as unreadable")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    FILE *f = fopen(path("junk.mp3"), "wb");
    for (int i = 0; i < 5000; i++)
        fputc((i * 7919) & 0x7f, f);
    fclose(f);
    CHECK_INT(stamp(path("junk.mp3"), path("bad-out-junk.mp3"), &o, 1, &r), FG_ECORRUPT);
    CHECK_INT(leftovers(), 0);
}

TEST("a WAV is detected as audio/x-wav of the audio kind (the other formats: tests/e2e)")
{
    setup();
    write_wav(path("kind.wav"), 8000, 1, 1, 1, 0.1, NULL);
    wm_type t;
    fg_reason r;
    CHECK_INT(wm_detect_file(path("kind.wav"), &t, &r), FG_OK);
    CHECK_STR(t.mime, "audio/x-wav");
    CHECK_INT(t.kind, WM_KIND_AUDIO);
    CHECK_STR(wm_kind_name(t.kind), "audio");
}

/* A 32-bit float WAV whose samples cycle through NaN, the infinities,
 * huge values and a plain one: what a hostile seller can write. */
static void write_float_wav(const char *p, int rate, double seconds)
{
    FILE *f = fopen(p, "wb");
    if (!f)
        abort();
    unsigned frames = (unsigned)(seconds * rate), data = frames * 2 * 4;
    fwrite("RIFF", 1, 4, f);
    le32(f, 36 + data);
    fwrite("WAVEfmt ", 1, 8, f);
    le32(f, 16);
    le16(f, 3);
    le16(f, 2);
    le32(f, (unsigned)rate);
    le32(f, (unsigned)rate * 8);
    le16(f, 8);
    le16(f, 32);
    fwrite("data", 1, 4, f);
    le32(f, data);
    const float vals[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 0.25f};
    for (unsigned i = 0; i < frames * 2; i++)
        fwrite(&vals[i % 6], 4, 1, f);
    fclose(f);
}

TEST("float samples that are NaN, infinite or huge are silenced or clipped, not handed to "
     "LAME (which aborts on them)")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    /* 44.1 kHz goes straight to the encoder; 48 kHz through the
     * resampler, which spreads a NaN over its filter's length. */
    write_float_wav(path("nan44.wav"), 44100, 2);
    write_float_wav(path("nan48.wav"), 48000, 2);
    CHECK_INT(stamp(path("nan44.wav"), path("nan44.mp3"), &o, 1, &r), FG_OK);
    CHECK_INT(stamp(path("nan48.wav"), path("nan48.mp3"), &o, 1, &r), FG_OK);
    long n, br;
    int ch;
    float *x = decode(path("nan48.mp3"), &n, &ch, &br);
    CHECK(n > WM_AUDIO_RATE);
    for (long i = 0; i < n; i++)
        CHECK(isfinite(x[i]) && fabsf(x[i]) <= 1.5f);
    free(x);
}

TEST("a WAV is audio only; junk is not")
{
    setup();
    write_wav(path("ao.wav"), 8000, 1, 1, 1, 0.1, NULL);
    fg_reason r;
    CHECK_INT(in_child(audio_only, path("ao.wav"), NULL, NULL, 0, &r), FG_OK);
    FILE *f = fopen(path("ao-junk"), "wb");
    fputs("hello, not audio at all", f);
    fclose(f);
    CHECK_INT(in_child(audio_only, path("ao-junk"), NULL, NULL, 0, &r), FG_EUNSUPPORTED);
    /* Outside the sandbox it says no without opening the file. */
    CHECK(!wm_audio_only(path("ao.wav")));
}

TEST("the interval and rate settings have bounds and name their variables")
{
    wm_options o = opts();
    fg_reason r = {{0}};
    CHECK_INT(o.audio_mark_interval, 15);
    CHECK_INT(o.audio_max_rate, 768000);
    CHECK_INT(wm_options_set(&o, "audio-mark-interval", "2", &r), FG_OK);
    CHECK_INT(wm_options_set(&o, "audio-mark-interval", "1", &r), FG_EUSAGE);
    CHECK_INT(wm_options_set(&o, "audio-mark-interval", "3600", &r), FG_OK);
    CHECK_INT(wm_options_set(&o, "audio-mark-interval", "3601", &r), FG_EUSAGE);
    CHECK_INT(wm_options_set(&o, "audio-max-rate", "7999", &r), FG_EUSAGE);
    CHECK_INT(wm_options_set(&o, "audio-max-rate", "8000", &r), FG_OK);
    setenv("FILIGRANE_AUDIO_MARK_INTERVAL", "0", 1);
    CHECK_INT(wm_options_init(&o, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_AUDIO_MARK_INTERVAL"));
    setenv("FILIGRANE_AUDIO_MARK_INTERVAL", "7", 1);
    CHECK_INT(wm_options_init(&o, &r), FG_OK);
    CHECK_INT(o.audio_mark_interval, 7);
    unsetenv("FILIGRANE_AUDIO_MARK_INTERVAL");
    setenv("FILIGRANE_AUDIO_MAX_RATE", "12x", 1);
    CHECK_INT(wm_options_init(&o, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_AUDIO_MAX_RATE"));
    unsetenv("FILIGRANE_AUDIO_MAX_RATE");
}

TEST("outside the sandbox the stamper refuses to decode audio at all")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    write_wav(path("outside.wav"), 8000, 1, 1, 1, 0.1, NULL);
    CHECK(!wm_sandbox_active());
    CHECK_INT(wm_stamp_audio(path("outside.wav"), path("outside.mp3"), &o, 1, &r),
              FG_EUNSUPPORTED);
    CHECK(strstr(r.text, "only in the sandbox"));
    CHECK(!exists(path("outside.mp3")));
}

TEST("the waveform is a 1200 x 200 JPEG beside the preview")
{
    setup();
    wm_options o = opts();
    fg_reason r = {{0}};
    write_wav(path("wave.wav"), 44100, 2, 3, 3, 0.5, NULL);
    write_wav(path("quiet.wav"), 44100, 2, 3, 3, 0.0, NULL);
    CHECK_INT(stamp(path("wave.wav"), path("wave.mp3"), &o, 1, &r), FG_OK);
    CHECK_INT(stamp(path("quiet.wav"), path("quiet.mp3"), &o, 1, &r), FG_OK);
    /* libvips in this process, to read the posters, only now: its
     * threads must not exist when a child is forked (see in_child), so
     * this is the last test and its stamping is done. */
    fg_reason vr;
    CHECK_INT(wm_init("test_audio", false, &vr), FG_OK);
    VipsImage *im = vips_image_new_from_file(path("wave.mp3" WM_POSTER_SUFFIX), NULL);
    CHECK(im);
    CHECK_INT(vips_image_get_width(im), WM_WAVE_WIDTH);
    CHECK_INT(vips_image_get_height(im), WM_WAVE_HEIGHT);
    CHECK_STR(vips_foreign_find_load(path("wave.mp3" WM_POSTER_SUFFIX)), "VipsForeignLoadJpegFile");
    /* Noise at half scale: the middle column is drawn up to a quarter of
     * the height from the top, and a silent file's is not. */
    double avg = 0;
    VipsImage *col = NULL;
    CHECK(vips_crop(im, &col, 600, 60, 1, 20, NULL) == 0);
    CHECK(vips_avg(col, &avg, NULL) == 0);
    CHECK(avg > 80);
    g_object_unref(col);
    g_object_unref(im);
    im = vips_image_new_from_file(path("quiet.mp3" WM_POSTER_SUFFIX), NULL);
    CHECK(im && vips_crop(im, &col, 600, 60, 1, 20, NULL) == 0);
    CHECK(vips_avg(col, &avg, NULL) == 0);
    CHECK(avg < 60);
    g_object_unref(col);
    g_object_unref(im);
}
