/* Video previews (watermark/video.c) through the real CLI, in its sandbox,
 * on clips ffmpeg makes here from its test sources; the previews are read
 * back with libavformat and libvips. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/cli_fixture.h"

#include <libavformat/avformat.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "watermark/options.h"

static void setup(void) { fixture_setup("fg-video"); }

/* Runs a shell command; its exit status. */
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A clip of testsrc2 (and a sine unless silent) of w x h for secs. */
static void clip(const char *name, int w, int h, double secs, const char *extra)
{
    if (sh("ffmpeg -nostdin -y -loglevel error -f lavfi -i testsrc2=size=%dx%d:rate=25:duration=%g "
           "-f lavfi -i sine=frequency=440:duration=%g -shortest %s '%s'",
           w, h, secs, secs, extra ? extra : "", path(name)) != 0)
        TAP_FAIL("ffmpeg could not make %s", name);
}

/* Stamps in to out with the CLI; its exit status, its stderr in err. */
static int stamp(const char *in, const char *out, const char *env, char *err, size_t len)
{
    char errf[800];
    snprintf(errf, sizeof errf, "%s.err", out);
    int st = sh("%s '%s' stamp --seed 42 --var order=ord-v '%s' '%s' 2>'%s'", env ? env : "", cli,
                in, out, errf);
    FILE *f = fopen(errf, "r");
    err[0] = '\0';
    if (f) {
        size_t n = fread(err, 1, len - 1, f);
        err[n] = '\0';
        fclose(f);
    }
    return st;
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

typedef struct probe {
    int vcodec, acodec, w, h, nstreams;
    double duration;
    bool tags; /* any global or stream tag but what muxing writes */
} probe;

static bool probe_file(const char *p, probe *out)
{
    AVFormatContext *ic = NULL;
    memset(out, 0, sizeof *out);
    if (avformat_open_input(&ic, p, NULL, NULL) < 0)
        return false;
    if (avformat_find_stream_info(ic, NULL) < 0) {
        avformat_close_input(&ic);
        return false;
    }
    out->nstreams = (int)ic->nb_streams;
    out->duration = (double)ic->duration / AV_TIME_BASE;
    const AVDictionaryEntry *e = NULL;
    while ((e = av_dict_get(ic->metadata, "", e, AV_DICT_IGNORE_SUFFIX)))
        if (strcmp(e->key, "major_brand") && strcmp(e->key, "minor_version") &&
            strcmp(e->key, "compatible_brands"))
            out->tags = true;
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        AVCodecParameters *c = ic->streams[i]->codecpar;
        if (c->codec_type == AVMEDIA_TYPE_VIDEO) {
            out->vcodec = c->codec_id;
            out->w = c->width;
            out->h = c->height;
        } else if (c->codec_type == AVMEDIA_TYPE_AUDIO) {
            out->acodec = c->codec_id;
        }
        e = NULL;
        while ((e = av_dict_get(ic->streams[i]->metadata, "", e, AV_DICT_IGNORE_SUFFIX)))
            if (strcmp(e->key, "language") && strcmp(e->key, "handler_name") &&
                strcmp(e->key, "vendor_id"))
                out->tags = true;
    }
    avformat_close_input(&ic);
    return true;
}

/* The whole file, searched for a string. */
static bool file_has(const char *p, const char *needle)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return false;
    static char buf[64 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return memmem(buf, n, needle, strlen(needle)) != NULL;
}

TEST("a 1080p MP4 is previewed as an H.264/AAC MP4 at 1280x720, its length kept, with a JPEG poster")
{
    char err[512];
    setup();
    clip("hd.mp4", 1920, 1080, 4, NULL);
    CHECK_INT(stamp(path("hd.mp4"), path("hd.out"), NULL, err, sizeof err), 0);
    probe p;
    CHECK(probe_file(path("hd.out"), &p));
    CHECK_INT(p.vcodec, AV_CODEC_ID_H264);
    CHECK_INT(p.acodec, AV_CODEC_ID_AAC);
    CHECK_INT(p.w, 1280);
    CHECK_INT(p.h, 720);
    CHECK(p.duration > 3.8 && p.duration < 4.2);
    VipsImage *poster = vips_image_new_from_file(path("hd.out.poster"), NULL);
    CHECK(poster != NULL);
    if (poster) {
        CHECK_STR(vips_foreign_find_load(path("hd.out.poster")), "VipsForeignLoadJpegFile");
        CHECK_INT(poster->Xsize, 1280);
        CHECK_INT(poster->Ysize, 720);
        g_object_unref(poster);
    }
}

TEST("every container (MOV, WebM, MKV, AVI) is previewed as MP4; a portrait clip fits 720x1280")
{
    const char *names[] = {"c.mov", "c.webm", "c.mkv", "c.avi"};
    char err[512], out[64];
    probe p;
    setup();
    for (int i = 0; i < 4; i++) {
        clip(names[i], 640, 360, 2, NULL);
        snprintf(out, sizeof out, "%s.out", names[i]);
        CHECK_INT(stamp(path(names[i]), path(out), NULL, err, sizeof err), 0);
        CHECK(probe_file(path(out), &p) && p.vcodec == AV_CODEC_ID_H264 && p.w == 640 &&
              p.h == 360 && p.acodec == AV_CODEC_ID_AAC);
    }
    clip("tall.mp4", 1080, 1920, 1, NULL);
    CHECK_INT(stamp(path("tall.mp4"), path("tall.out"), NULL, err, sizeof err), 0);
    CHECK(probe_file(path("tall.out"), &p));
    CHECK_INT(p.w, 720);
    CHECK_INT(p.h, 1280);
    /* Odd sides become even, and a small clip is not enlarged. */
    clip("odd.mp4", 321, 241, 1, NULL);
    CHECK_INT(stamp(path("odd.mp4"), path("odd.out"), NULL, err, sizeof err), 0);
    CHECK(probe_file(path("odd.out"), &p));
    CHECK(p.w % 2 == 0 && p.h % 2 == 0 && p.w <= 322 && p.h <= 242);
}

TEST("a clip without sound is previewed without sound")
{
    char err[512];
    probe p;
    setup();
    CHECK_INT(sh("ffmpeg -nostdin -y -loglevel error -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 "
                 "'%s'",
                 path("mute.mp4")),
              0);
    CHECK_INT(stamp(path("mute.mp4"), path("mute.out"), NULL, err, sizeof err), 0);
    CHECK(probe_file(path("mute.out"), &p));
    CHECK_INT(p.nstreams, 1);
    CHECK_INT(p.acodec, 0);
}

TEST("the original's title, comment, location and creation time are not in the preview")
{
    char err[512];
    probe p;
    setup();
    clip("tags.mp4", 320, 240, 2,
         "-metadata title=SecretTitle7 -metadata comment=SecretComment7 "
         "-metadata location=+48.8584+002.2945/ -metadata creation_time=2020-01-02T03:04:05Z "
         "-metadata:s:v:0 title=StreamSecret7");
    CHECK(file_has(path("tags.mp4"), "SecretTitle7"));
    CHECK_INT(stamp(path("tags.mp4"), path("tags.out"), NULL, err, sizeof err), 0);
    CHECK(probe_file(path("tags.out"), &p));
    CHECK(!p.tags);
    CHECK(!file_has(path("tags.out"), "SecretTitle7"));
    CHECK(!file_has(path("tags.out"), "SecretComment7"));
    CHECK(!file_has(path("tags.out"), "StreamSecret7"));
    CHECK(!file_has(path("tags.out"), "+48.8584"));
    CHECK(!file_has(path("tags.out"), "Lavf")); /* not even the muxer's name */
}

TEST("a clip longer than --max-seconds is cut there, and says so in its last seconds")
{
    char err[512];
    probe p;
    setup();
    clip("long.mp4", 640, 360, 8, NULL);
    CHECK_INT(stamp(path("long.mp4"), path("long.out"), "FILIGRANE_PREVIEW_MAX_SECONDS=4", err,
                    sizeof err),
              0);
    CHECK(probe_file(path("long.out"), &p));
    CHECK(p.duration > 3.8 && p.duration < 4.2);
    /* The notice's band: the bottom of a late frame is darker than the
     * same place early on. */
    CHECK_INT(sh("ffmpeg -nostdin -y -loglevel error -ss 3.5 -i '%s' -frames:v 1 '%s' && "
                 "ffmpeg -nostdin -y -loglevel error -ss 0.5 -i '%s' -frames:v 1 '%s'",
                 path("long.out"), path("late.png"), path("long.out"), path("early.png")),
              0);
    VipsImage *late = vips_image_new_from_file(path("late.png"), NULL);
    VipsImage *early = vips_image_new_from_file(path("early.png"), NULL);
    VipsImage *a = NULL, *b = NULL;
    double la = 0, ea = 0;
    CHECK(late && early && vips_crop(late, &a, 0, 320, 640, 40, NULL) == 0 &&
          vips_crop(early, &b, 0, 320, 640, 40, NULL) == 0 && vips_avg(a, &la, NULL) == 0 &&
          vips_avg(b, &ea, NULL) == 0);
    CHECK(la < ea * 0.7);
    VipsImage *all[] = {late, early, a, b};
    for (int i = 0; i < 4; i++)
        if (all[i])
            g_object_unref(all[i]);
    /* A clip inside the cap has no band. */
    clip("short.mp4", 640, 360, 3, NULL);
    CHECK_INT(stamp(path("short.mp4"), path("short.out"), "FILIGRANE_PREVIEW_MAX_SECONDS=4", err,
                    sizeof err),
              0);
    CHECK(probe_file(path("short.out"), &p) && p.duration > 2.8 && p.duration < 3.2);
}

/* Mean absolute difference of two images over one cell. */
static double cell(VipsImage *x, VipsImage *y, int l, int t, int w, int h)
{
    VipsImage *cx = NULL, *cy = NULL, *d = NULL, *ab = NULL;
    double avg = -1;
    if (vips_crop(x, &cx, l, t, w, h, NULL) == 0 && vips_crop(y, &cy, l, t, w, h, NULL) == 0 &&
        vips_subtract(cx, cy, &d, NULL) == 0 && vips_abs(d, &ab, NULL) == 0)
        vips_avg(ab, &avg, NULL);
    VipsImage *all[] = {cx, cy, d, ab};
    for (int i = 0; i < 4; i++)
        if (all[i])
            g_object_unref(all[i]);
    return avg;
}

/* The share of a cell's pixels whose grey level differs by more than 24
 * between two images: what a mark changes, and encoding alone does not. */
static double changed(VipsImage *x, VipsImage *y, int l, int t, int w, int h)
{
    VipsImage *cx = NULL, *cy = NULL, *gx = NULL, *gy = NULL, *d = NULL, *ab = NULL, *m = NULL;
    double avg = -1;
    if (vips_crop(x, &cx, l, t, w, h, NULL) == 0 && vips_crop(y, &cy, l, t, w, h, NULL) == 0 &&
        vips_colourspace(cx, &gx, VIPS_INTERPRETATION_B_W, NULL) == 0 &&
        vips_colourspace(cy, &gy, VIPS_INTERPRETATION_B_W, NULL) == 0 &&
        vips_subtract(gx, gy, &d, NULL) == 0 && vips_abs(d, &ab, NULL) == 0 &&
        vips_more_const1(ab, &m, 24, NULL) == 0 && vips_avg(m, &avg, NULL) == 0)
        avg /= 255;
    VipsImage *all[] = {cx, cy, gx, gy, d, ab, m};
    for (int i = 0; i < 7; i++)
        if (all[i])
            g_object_unref(all[i]);
    return avg;
}

/* The least share of changed pixels over the cells of an 8x8 grid. */
static double least_changed(VipsImage *x, VipsImage *y)
{
    int cw = x->Xsize / 8, ch = x->Ysize / 8;
    double least = 2;
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 8; i++) {
            double c = changed(x, y, i * cw, j * ch, cw, ch);
            least = c < least ? c : least;
        }
    return least;
}

static double most_changed(VipsImage *x, VipsImage *y)
{
    int cw = x->Xsize / 8, ch = x->Ysize / 8;
    double most = -1;
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 8; i++) {
            double c = changed(x, y, i * cw, j * ch, cw, ch);
            most = c > most ? c : most;
        }
    return most;
}

TEST("the mark covers the whole frame: every cell of an 8x8 grid differs from a plain transcode")
{
    char err[512];
    setup();
    clip("m.mp4", 1280, 720, 2, "-c:v libx264 -qp 0");
    CHECK_INT(stamp(path("m.mp4"), path("m.out"), NULL, err, sizeof err), 0);
    /* The floor: the same encoder and settings, no mark. */
    CHECK_INT(sh("ffmpeg -nostdin -y -loglevel error -i '%s' -c:v libx264 -preset veryfast -crf 23 "
                 "'%s'",
                 path("m.mp4"), path("plain.mp4")),
              0);
    CHECK_INT(sh("ffmpeg -nostdin -y -loglevel error -ss 1 -i '%s' -frames:v 1 '%s'", path("m.out"),
                 path("mf.png")),
              0);
    CHECK_INT(sh("ffmpeg -nostdin -y -loglevel error -ss 1 -i '%s' -frames:v 1 '%s'",
                 path("plain.mp4"), path("pf.png")),
              0);
    CHECK_INT(sh("ffmpeg -nostdin -y -loglevel error -ss 1 -i '%s' -frames:v 1 '%s'", path("m.mp4"),
                 path("of.png")),
              0);
    VipsImage *m = vips_image_new_from_file(path("mf.png"), NULL);
    VipsImage *p = vips_image_new_from_file(path("pf.png"), NULL);
    VipsImage *o = vips_image_new_from_file(path("of.png"), NULL);
    CHECK(m && p && o);
    if (m && p && o) {
        double marked = least_changed(m, o), plain = most_changed(p, o);
        printf("# least share of a cell marked: %.3f; most a plain transcode changes: %.3f\n",
               marked, plain);
        CHECK(marked > 0.015);
        CHECK(plain * 2 < marked);
    }
    VipsImage *all[] = {m, p, o};
    for (int i = 0; i < 3; i++)
        if (all[i])
            g_object_unref(all[i]);
}

/* 255 where a frame of flat grey was marked. */
static VipsImage *mark_mask(VipsImage *x)
{
    VipsImage *g = NULL, *d = NULL, *ab = NULL, *m = NULL;
    VipsImage *t = NULL;
    /* Averaged over 8x8 blocks: how much of each block is marked, the
     * noise evened out. */
    if (vips_colourspace(x, &g, VIPS_INTERPRETATION_B_W, NULL) == 0 &&
        vips_linear1(g, &d, 1, -128, NULL) == 0 && vips_abs(d, &ab, NULL) == 0 &&
        vips_more_const1(ab, &t, 20, NULL) == 0)
        vips_shrink(t, &m, 8, 8, NULL);
    VipsImage *all[] = {g, d, ab, t};
    for (int i = 0; i < 4; i++)
        if (all[i])
            g_object_unref(all[i]);
    return m;
}

TEST("one seed places the mark alike; another seed elsewhere")
{
    char err[512];
    setup();
    clip("flat.mp4", 640, 360, 1, "-vf drawbox=c=gray:t=fill");
    /* (path() has four buffers: one command each.) */
    CHECK_INT(sh("'%s' stamp --seed 1 '%s' '%s'", cli, path("flat.mp4"), path("s1a")), 0);
    CHECK_INT(sh("'%s' stamp --seed 1 '%s' '%s'", cli, path("flat.mp4"), path("s1b")), 0);
    CHECK_INT(sh("'%s' stamp --seed 2 '%s' '%s'", cli, path("flat.mp4"), path("s2")), 0);
    VipsImage *a = vips_image_new_from_file(path("s1a.poster"), NULL);
    VipsImage *b = vips_image_new_from_file(path("s1b.poster"), NULL);
    VipsImage *c = vips_image_new_from_file(path("s2.poster"), NULL);
    CHECK(a && b && c);
    if (a && b && c) {
        /* Where each is marked: away from the flat grey. The noise under
         * the mark is fresh each time; where the mark is is not. */
        VipsImage *ma = mark_mask(a), *mb = mark_mask(b), *mc = mark_mask(c);
        double same = ma && mb ? cell(ma, mb, 0, 0, 80, 45) / 255 : 1;
        double other = ma && mc ? cell(ma, mc, 0, 0, 80, 45) / 255 : 0;
        printf("# marked share of 8x8 blocks, mean difference: same seed %.3f, another %.3f\n", same,
               other);
        CHECK(other > same * 3);
        VipsImage *m3[] = {ma, mb, mc};
        for (int i = 0; i < 3; i++)
            if (m3[i])
                g_object_unref(m3[i]);
    }
    VipsImage *all[] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (all[i])
            g_object_unref(all[i]);
    (void)err;
}

TEST("a header claiming 100000x100000 is refused before decoding, naming the limit; nothing is left")
{
    char err[512];
    setup();
    CHECK_INT(sh("python3 tests/tools/mkv_huge.py '%s'", path("huge.mkv")), 0);
    CHECK_INT(stamp(path("huge.mkv"), path("huge.out"), NULL, err, sizeof err), 5);
    CHECK(strstr(err, "100000x100000") && strstr(err, "--max-pixels"));
    CHECK(!exists(path("huge.out")) && !exists(path("huge.out.poster")));
    /* An MP4 whose sample entry says 65535x65535. */
    clip("big.mp4", 320, 240, 1, NULL);
    CHECK_INT(sh("python3 -c \"import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); "
                 "i=b.index(b'avc1', b.index(b'stsd'))+28; b[i:i+4]=b'\\xff\\xff\\xff\\xff'; "
                 "open(p,'wb').write(b)\" '%s'",
                 path("big.mp4")),
              0);
    CHECK_INT(stamp(path("big.mp4"), path("big.out"), NULL, err, sizeof err), 5);
    CHECK(strstr(err, "65535x65535") != NULL);
    CHECK(!exists(path("big.out")) && !exists(path("big.out.poster")));
}

TEST("truncated MP4 (either index place), MKV, WebM and AVI fail as corrupt with a reason; nothing is left")
{
    const char *names[] = {"t.mp4", "tf.mp4", "t.mkv", "t.webm", "t.avi"};
    char err[512], cut[64], out[64];
    setup();
    for (int i = 0; i < 5; i++) {
        clip(names[i], 320, 240, 6, i == 1 ? "-movflags +faststart" : NULL);
        snprintf(cut, sizeof cut, "cut-%s", names[i]);
        snprintf(out, sizeof out, "cut-%s.out", names[i]);
        CHECK_INT(sh("n=$(stat -c %%s '%s'); head -c $((n * 6 / 10)) '%s' > '%s'", path(names[i]),
                     path(names[i]), path(cut)),
                  0);
        int st = stamp(path(cut), path(out), NULL, err, sizeof err);
        if (st != 4)
            printf("# %s: exit %d: %s", names[i], st, err);
        CHECK_INT(st, 4);
        CHECK(strstr(err, "truncated") || strstr(err, "not a readable video") ||
              strstr(err, "damaged"));
        CHECK(!exists(path(out)));
        snprintf(out, sizeof out, "cut-%s.out.poster", names[i]);
        CHECK(!exists(path(out)));
    }
}

TEST("garbage named .mp4 fails as corrupt; an MP4 header with nothing after it too")
{
    char err[512];
    setup();
    CHECK_INT(sh("head -c 200000 /dev/urandom > '%s'", path("junk.mp4")), 0);
    CHECK_INT(stamp(path("junk.mp4"), path("junk.out"), NULL, err, sizeof err), 4);
    CHECK(strstr(err, "not what its name says") != NULL);
    CHECK_INT(sh("printf '\\000\\000\\000\\030ftypisom\\000\\000\\002\\000isomiso2avc1mp41' > '%s'; "
                 "head -c 5000 /dev/urandom >> '%s'",
                 path("hdr.mp4"), path("hdr.mp4")),
              0);
    CHECK_INT(stamp(path("hdr.mp4"), path("hdr.out"), NULL, err, sizeof err), 4);
    CHECK(!exists(path("hdr.out")) && !exists(path("hdr.out.poster")));
}

TEST("a video is not decoded outside the sandbox")
{
    wm_options o;
    fg_reason r = {{0}};
    setup();
    clip("ns.mp4", 320, 240, 1, NULL);
    CHECK_INT(wm_options_init(&o, &r), FG_OK);
    CHECK_INT(wm_stamp_file(path("ns.mp4"), path("ns.out"), &o, &r), FG_EUNSUPPORTED);
    CHECK_STR(r.text, "video previews are made only in the sandbox");
    CHECK(!exists(path("ns.out")));
}

TEST("the video limits apply to a video: a 1 s FILIGRANE_SANDBOX_VIDEO_TIMEOUT kills a long encode")
{
    char err[512];
    setup();
    clip("slow.mp4", 1920, 1080, 20, "-preset ultrafast");
    int st = stamp(path("slow.mp4"), path("slow.out"),
                   "FILIGRANE_SANDBOX_VIDEO_TIMEOUT=1", err, sizeof err);
    CHECK(st != 0);
    CHECK(strstr(err, "timed out after 1 s") != NULL);
    CHECK(!exists(path("slow.out")) && !exists(path("slow.out.poster")));
    st = stamp(path("slow.mp4"), path("slow.out"), "FILIGRANE_SANDBOX_VIDEO_TIMEOUT=abc", err,
               sizeof err);
    CHECK_INT(st, 2);
    CHECK(strstr(err, "FILIGRANE_SANDBOX_VIDEO_TIMEOUT") != NULL);
}

__attribute__((constructor(101))) static void start(void)
{
    if (VIPS_INIT("test_video") != 0)
        abort();
}
