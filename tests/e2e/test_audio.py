"""Audio deliveries through nginx and the worker: MP3, WAV, FLAC, Ogg
Opus and M4A made here with ffmpeg, sox and espeak-ng become MP3 previews
of the right type, bitrate and length (capped by
FILIGRANE_PREVIEW_MAX_SECONDS), carrying a two-tone chime found here by
listening blind (a Goertzel filter over every pitch the seed may choose)
at its interval, keyed per buyer; tags and covers gone; damaged and
oversized files failed with their reason."""
import array
import hashlib
import math
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish  # noqa: E402

# DESIGN, Settled details (test time): media suites run in the plain pass,
# not again under the sanitizers (tests/unit/test_audio.c and
# tests/cli/stamp_audio.sh run the same stamper under ASan).
if os.path.basename(os.path.normpath(os.environ.get("FILIGRANE_BIN", ""))) == "asan":
    print("# the audio suite runs in the plain pass only")
    sys.exit(0)

INTERVAL = 4      # FILIGRANE_AUDIO_MARK_INTERVAL for this suite
CAP = 8           # FILIGRANE_PREVIEW_MAX_SECONDS for this suite
RATE = 8000       # the rate previews are decoded at to listen to them
F1 = [800 + 50 * i for i in range(13)]    # watermark/audio_mark.h
F2 = [1600 + 50 * i for i in range(17)]
TITLE = "platypus secret title"

tmp = tempfile.mkdtemp(prefix="filigrane-e2e-audio-")


def ff(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"] +
                   list(args), check=True)


def p(name):
    return os.path.join(tmp, name)


def read(name):
    with open(p(name), "rb") as f:
        return f.read()


def probe(data, entries):
    """ffprobe's values for entries (e.g. stream=codec_name) of data."""
    with tempfile.NamedTemporaryFile(dir=tmp) as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", entries, "-of",
                              "default=nw=1", f.name], capture_output=True, text=True).stdout
    return out.strip().splitlines()


def pcm(data):
    """data decoded to mono floats at RATE."""
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", "pipe:0", "-ac", "1",
                          "-ar", str(RATE), "-f", "f32le", "pipe:1"], input=data,
                         capture_output=True, check=True).stdout
    a = array.array("f")
    a.frombytes(out)
    return a


def ratio(x, start, n, f):
    """How much of x[start:start+n] is a sine at f (about 1: all of it)."""
    c = 2 * math.cos(2 * math.pi * f / RATE)
    s1 = s2 = e = 0.0
    for v in x[start:start + n]:
        s1, s2 = v + c * s1 - s2, s1
        e += v * v
    power = s1 * s1 + s2 * s2 - c * s1 * s2
    return 2 * power / (n * e) if e > 0 else 0.0


def listen(x):
    """The chimes heard in x, knowing nothing of the seed: windows of 100 ms
    every 50 ms where one pitch of the first band holds most of the energy,
    followed 200 ms later by one of the second band. Returns [(start in
    seconds, f1, f2)], one per chime."""
    win, hop = RATE // 10, RATE // 20
    heard = []
    i = 0
    while i + win + RATE // 5 < len(x):
        best = max(F1, key=lambda f: ratio(x, i, win, f))
        if ratio(x, i, win, best) > 0.6:
            j = i + RATE // 5
            second = max(F2, key=lambda f: ratio(x, j, win, f))
            if ratio(x, j, win, second) > 0.6:
                heard.append((i / RATE, best, second))
                i += RATE  # past this chime
                continue
        i += hop
    return heard


def periodic(heard, duration):
    """True when the chimes keep one pitch pair, start within the first
    3 s, and follow each other every INTERVAL s to the end."""
    if not heard:
        return False
    pairs = {(a, b) for _, a, b in heard}
    first = heard[0][0]
    # Every chime that fits whole is heard; one cut by the end may be.
    whole = int((duration - first - 0.4) // INTERVAL) + 1
    part = int((duration - first - 0.3) // INTERVAL) + 1
    gaps = [b[0] - a[0] for a, b in zip(heard, heard[1:])]
    return (len(pairs) == 1 and first < 3.05 and whole <= len(heard) <= part and
            all(abs(g - INTERVAL) < 0.12 for g in gaps))


# ---- the inputs ----
# 12 s of something like music: two notes, a slow tremolo, some noise.
ff("-f", "lavfi", "-i", "sine=f=330:d=12", "-f", "lavfi", "-i", "sine=f=495:d=12",
   "-f", "lavfi", "-i", "anoisesrc=d=12:a=0.08", "-filter_complex",
   "[0][1][2]amix=inputs=3,volume=2.5,tremolo=f=0.5:d=0.4,aformat=channel_layouts=stereo",
   "-ar", "44100", p("song.wav"))
subprocess.run(["vips", "black", p("c.v"), "48", "48", "--bands", "3"], check=True)
subprocess.run(["vips", "linear", p("c.v"), p("cover.jpg"), "1", "180"], check=True)
ff("-i", p("song.wav"), "-i", p("cover.jpg"), "-map", "0", "-map", "1", "-c:a", "libmp3lame",
   "-b:a", "192k", "-c:v", "copy", "-metadata", "title=" + TITLE, "-disposition:v",
   "attached_pic", "-id3v2_version", "3", p("song.mp3"))
ff("-i", p("song.wav"), "-i", p("cover.jpg"), "-map", "0", "-map", "1", "-c:a", "flac",
   "-c:v", "copy", "-metadata", "title=" + TITLE, "-disposition:v", "attached_pic",
   p("song.flac"))
ff("-i", p("song.wav"), "-c:a", "libopus", "-ar", "48000", "-metadata", "title=" + TITLE,
   p("song.opus"))
ff("-i", p("song.wav"), "-i", p("cover.jpg"), "-map", "0", "-map", "1", "-c:a", "aac",
   "-c:v", "copy", "-metadata", "title=" + TITLE, "-disposition:v", "attached_pic",
   p("song.m4a"))
# AAC in a plain MP4 (brand isom, no "M4A "): libmagic says video/mp4.
ff("-i", p("song.wav"), "-c:a", "aac", "-f", "mp4", p("song.mp4"))
subprocess.run(["sox", "-n", "-r", "22050", "-c", "1", p("tone.wav"), "synth", "6", "sine",
                "440", "vol", "0.4"], check=True)
subprocess.run(["espeak-ng", "-w", p("voice.wav"),
                "this is the voice over the buyer is about to hear, with a chime in it"],
               check=True, capture_output=True)
# Hostile: a FLAC cut in half, 384 kHz on 8 channels, bytes that are no audio.
song_flac = read("song.flac")
subprocess.run(["sox", "-n", "-r", "384000", "-c", "8", "-b", "16", p("hi.flac"), "synth", "1",
                "sine", "1000", "vol", "0.01"], check=True)
junk = bytes((i * 7919) & 0x7F for i in range(20000))
# MP3 frame headers with garbage between: libmagic says audio/mpeg, so it
# reaches the decoder, which chokes on every frame.
rnd = hashlib.sha256(b"garbage").digest() * 13
garbage = b"".join(b"\xff\xfb\x90\x64" + rnd[:413] for _ in range(300))

svc = Service(env={"FILIGRANE_PREVIEW_MAX_SECONDS": str(CAP),
                   "FILIGRANE_AUDIO_MARK_INTERVAL": str(INTERVAL)})
try:
    svc.create_order("ord-a", "s-a", "b-a", buyer_name="Ada Buyer")
    seller = svc.token("seller", "s-a", "ord-a")
    buyer = svc.token("buyer", "b-a", "ord-a")
    names = ["song.wav", "song.mp3", "song.flac", "song.opus", "song.m4a", "song.mp4",
             "tone.wav", "voice.wav"]
    uploads = [(n, read(n)) for n in names]
    uploads += [("half.flac", song_flac[:len(song_flac) // 2]), ("hi.flac", read("hi.flac")),
                ("junk.mp3", junk), ("garbage.mp3", garbage)]
    r = svc.upload_done("ord-a", uploads, seller, timeout=300)
    files = {f["name"]: f for f in (r.json() or {}).get("files", [])}
    check("an audio delivery of twelve files is answered 201",
          r.status == 201 and len(files) == 12,
          r)

    mimes = {"song.wav": "audio/x-wav", "song.mp3": "audio/mpeg", "song.flac": "audio/flac",
             "song.opus": "audio/ogg", "song.m4a": "audio/x-m4a"}
    for name, mime in mimes.items():
        f = files.get(name, {})
        check("%s is typed %s, kind audio, and previewed" % (name, mime),
              f.get("type") == mime and f.get("kind") == "audio" and f.get("preview") == "ready",
              f)

    heard_song = None
    for name in names:
        f = files.get(name, {})
        r = svc.get("/v1/files/%s/preview" % f.get("id"), token=buyer)
        check("the buyer gets %s's preview as audio/mpeg" % name,
              r.status == 200 and r.header("content-type") == "audio/mpeg", r)
        prev = r.body
        original = read(name)
        stereo = name.startswith("song")
        info = probe(prev, "stream=codec_name,sample_rate,channels,bit_rate:format=duration")
        want = ["codec_name=mp3", "sample_rate=44100", "channels=%d" % (2 if stereo else 1),
                "bit_rate=%d" % (128000 if stereo else 64000)]
        check("%s's preview is mp3, 44.1 kHz, %s, %s kbit/s" %
              (name, "stereo" if stereo else "mono", 128 if stereo else 64),
              all(w in info for w in want), info)
        src = float(probe(original, "format=duration")[0].split("=")[1])
        dur = float([x for x in info if x.startswith("duration=")][0].split("=")[1])
        expect = min(src, CAP)
        check("%s's preview lasts %.1f s (the original's %.1f s, capped at %d)" %
              (name, expect, src, CAP), abs(dur - expect) < 0.1, dur)
        check("%s's preview shares no bytes with the original (its own hash)" % name,
              hashlib.sha256(prev).hexdigest() != hashlib.sha256(original).hexdigest() and
              original[1000:1064] not in prev)
        tags = probe(prev, "format_tags:stream_tags:stream=codec_type")
        check("%s's preview has no title, no cover, no tag but the encoder's name" % name,
              [t for t in tags if not t.startswith("TAG:encoder=Lavf")] == ["codec_type=audio"]
              and TITLE.encode() not in prev and b"JFIF" not in prev, tags)
        heard = listen(pcm(prev))
        check("%s's preview chimes at one keyed pitch pair every %d s from the first 3 s" %
              (name, INTERVAL), periodic(heard, dur), heard)
        if name == "song.wav":
            heard_song = heard
        r = svc.get("/v1/files/%s/poster" % f.get("id"), token=buyer)
        with tempfile.NamedTemporaryFile(dir=tmp, suffix=".jpg") as j:
            j.write(r.body)
            j.flush()
            size = subprocess.run(["vipsheader", "-f", "width", j.name], capture_output=True,
                                  text=True).stdout.strip()
        check("%s's waveform is served as its poster, a 1200-wide JPEG" % name,
              f.get("poster") is True and r.status == 200 and
              r.header("content-type") == "image/jpeg" and r.body[:3] == b"\xff\xd8\xff" and
              size == "1200", (f.get("poster"), r.status, size))
        # The original itself has no chime: the test hears only the mark.
        if name == "song.wav":
            check("the original song has no chime the listener would hear",
                  listen(pcm(original)[:CAP * RATE]) == [])

    f = files.get("song.mp4", {})
    check("an MP4 with sound and no picture is typed video/mp4 yet previewed as audio",
          f.get("type") == "video/mp4" and f.get("kind") == "video" and
          f.get("preview") == "ready", f)
    f = files.get("junk.mp3", {})
    check("bytes named .mp3 that are no audio are withheld, never decoded",
          f.get("kind") == "other" and f.get("preview") == "withheld", f)
    for name, why in [("half.flac", "truncated"), ("hi.flac", "FILIGRANE_AUDIO_MAX_RATE"),
                      ("garbage.mp3", "decode")]:
        f = files.get(name, {})
        check("%s fails with a reason%s" % (name, " naming " + why if why else ""),
              f.get("preview") == "failed" and why in (f.get("reason") or "") and f.get("reason"),
              f)
        r = svc.get("/v1/files/%s/preview" % f.get("id"), token=buyer)
        check("%s has no preview to fetch" % name, r.status != 200, r)
        r = svc.get("/v1/files/%s/poster" % f.get("id"), token=buyer)
        check("%s has no waveform to fetch either" % name, r.status == 404, r)
    check("garbage.mp3 was typed audio/mpeg: the decoder, not the type, refused it",
          files.get("garbage.mp3", {}).get("type") == "audio/mpeg", files.get("garbage.mp3"))
    scratch = os.path.join(svc.data, "tmp")
    left = [d for d in os.listdir(scratch) if d.startswith("stamp-")] if os.path.isdir(
        scratch) else []
    check("no stamping directory is left in the scratch directory", left == [], left)

    # The same song sold to another buyer is chimed at other pitches or
    # another time: the mark is keyed per order and buyer.
    svc.create_order("ord-b", "s-a", "b-b", buyer_name="Bo Buyer")
    seller_b = svc.token("seller", "s-a", "ord-b")
    buyer_b = svc.token("buyer", "b-b", "ord-b")
    r = svc.upload_done("ord-b", [("song.wav", read("song.wav"))], seller_b)
    fb = ((r.json() or {}).get("files") or [{}])[0]
    r = svc.get("/v1/files/%s/preview" % fb.get("id"), token=buyer_b)
    other = listen(pcm(r.body)) if r.status == 200 else []
    check("the same song for another buyer chimes too", periodic(other, CAP), other)
    check("and at another pitch pair or another time",
          bool(other and heard_song) and
          (other[0][1:] != heard_song[0][1:] or abs(other[0][0] - heard_song[0][0]) > 0.1),
          (other[:1], (heard_song or [])[:1]))
finally:
    svc.stop()

# A malformed audio setting stops the worker at start, naming it, instead
# of failing every audio preview later.
for var, value in [("FILIGRANE_AUDIO_MARK_INTERVAL", "1"), ("FILIGRANE_AUDIO_MAX_RATE", "lots")]:
    try:
        bad = Service(env={var: value})
        bad.stop()
        check("%s=%s stops the worker, naming it" % (var, value), False, "it started")
    except RuntimeError as e:
        check("%s=%s stops the worker, naming it" % (var, value), var in str(e), str(e)[-400:])
shutil.rmtree(tmp, ignore_errors=True)
finish()
