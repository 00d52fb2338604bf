#!/bin/sh
# filigrane stamp on audio, as a user runs it: inputs made here with
# ffmpeg, sox and espeak-ng in every accepted format, previews read back
# with ffprobe; tags and cover art gone; limits and damaged files answered
# with their exit status and nothing left behind.
. "$(dirname "$0")/lib.inc"
# DESIGN, Settled details (test time): media suites run in the plain pass
# only (tests/unit/test_audio.c runs the stamper under ASan; this suite
# passed under ASan too when it was written).
case "${FILIGRANE_BIN:-}" in
*/asan | */asan/) echo "# the audio CLI suite runs in the plain pass only"; exit 0 ;;
esac

ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
# One field of the preview's first audio stream or of its container.
probe() { # file entries
    ffprobe -v error -show_entries "$2" -of default=nw=1:nk=1 "$1" | head -n 1
}
near() { # got want tolerance
    python3 -c "import sys; sys.exit(0 if abs(float('$1') - float('$2')) <= float('$3') else 1)"
}
# Only the inputs are in the directory: no preview, poster or temp file.
clean_dir() { ! ls -A "$T/out" | grep -q .; }
mkdir -p "$T/out"

# 6 s of music-like sound: two notes and a little noise, 44.1 kHz stereo.
ff -f lavfi -i "sine=f=330:d=6" -f lavfi -i "sine=f=495:d=6" -f lavfi -i "anoisesrc=d=6:a=0.05" \
    -filter_complex "[0][1][2]amix=inputs=3,volume=2,aformat=channel_layouts=stereo" \
    -ar 44100 "$T/song.wav"
ff -i "$T/song.wav" -c:a libmp3lame -b:a 192k "$T/song.mp3"
ff -i "$T/song.wav" -c:a flac "$T/song.flac"
ff -i "$T/song.wav" -c:a libvorbis "$T/song.ogg"
ff -i "$T/song.wav" -c:a libopus -ar 48000 "$T/song.opus"
ff -i "$T/song.wav" -c:a aac "$T/song.m4a"
ff -i "$T/song.wav" -c:a aac -f adts "$T/song.aac"
sox -n -r 22050 -c 1 "$T/tone.wav" synth 4 sine 440 vol 0.5
espeak-ng -w "$T/speech.wav" "this is a voice over for the preview test" 2>/dev/null

for f in song.wav song.mp3 song.flac song.ogg song.opus song.m4a song.aac; do
    "$FG" stamp "$T/$f" "$T/$f.prev" 2>"$T/err"
    ok $? "$f is previewed"
    ok "$( [ "$(file -b --mime-type "$T/$f.prev")" = audio/mpeg ]; echo $?)" \
        "$f's preview is audio/mpeg"
    ok "$( [ "$(probe "$T/$f.prev" stream=codec_name)" = mp3 ] &&
        [ "$(probe "$T/$f.prev" stream=sample_rate)" = 44100 ] &&
        [ "$(probe "$T/$f.prev" stream=channels)" = 2 ] &&
        [ "$(probe "$T/$f.prev" stream=bit_rate)" = 128000 ]; echo $?)" \
        "$f's preview is mp3, 44.1 kHz, stereo, 128 kbit/s"
    ok "$(near "$(probe "$T/$f.prev" format=duration)" 6 0.15; echo $?)" \
        "$f's preview lasts as long as the original (6 s)"
    ok "$(vipsheader -f width "$T/$f.prev.poster" | grep -qx 1200 &&
        vipsheader -f height "$T/$f.prev.poster" | grep -qx 200 &&
        [ "$(file -b --mime-type "$T/$f.prev.poster")" = image/jpeg ]; echo $?)" \
        "$f's waveform is a 1200x200 jpeg beside it"
done

"$FG" stamp "$T/tone.wav" "$T/tone.prev"
ok "$( [ "$(probe "$T/tone.prev" stream=channels)" = 1 ] &&
    [ "$(probe "$T/tone.prev" stream=bit_rate)" = 64000 ] &&
    near "$(probe "$T/tone.prev" format=duration)" 4 0.15; echo $?)" \
    "a sox mono tone becomes a 64 kbit/s mono preview of the same length"
"$FG" stamp "$T/speech.wav" "$T/speech.prev"
ok "$( [ "$(probe "$T/speech.prev" stream=codec_name)" = mp3 ] &&
    near "$(probe "$T/speech.prev" format=duration)" \
        "$(probe "$T/speech.wav" format=duration)" 0.15; echo $?)" \
    "an espeak-ng voice over is previewed at its length"

# Tags and cover art: an MP3 with ID3 text and a picture, a FLAC with
# Vorbis comments and a picture, an M4A with iTunes tags and a cover.
vips black "$T/cover0.v" 64 64 --bands 3 && vips linear "$T/cover0.v" "$T/cover.jpg" 1 200
ff -i "$T/song.wav" -i "$T/cover.jpg" -map 0 -map 1 -c:a libmp3lame -c:v copy \
    -metadata title="wombat secret title" -metadata artist="wombat artist" \
    -metadata:s:v comment="Cover (front)" -disposition:v attached_pic -id3v2_version 3 \
    "$T/tagged.mp3"
ff -i "$T/song.wav" -i "$T/cover.jpg" -map 0 -map 1 -c:a flac -c:v copy \
    -metadata title="wombat secret title" -disposition:v attached_pic "$T/tagged.flac"
ff -i "$T/song.wav" -i "$T/cover.jpg" -map 0 -map 1 -c:a aac -c:v copy \
    -metadata title="wombat secret title" -disposition:v attached_pic "$T/tagged.m4a"
for f in tagged.mp3 tagged.flac tagged.m4a; do
    ok "$(ffprobe -v error -show_entries format_tags:stream=codec_type "$T/$f" |
        grep -q wombat && [ "$(ffprobe -v error -show_entries stream=codec_type \
        -of csv=p=0 "$T/$f" | grep -c video)" = 1 ]; echo $?)" \
        "$f has a title tag and a cover picture"
    "$FG" stamp "$T/$f" "$T/$f.prev"
    ok $? "$f is previewed"
    # The one tag there is our own: the encoder's name in the LAME header.
    ok "$( [ -z "$(ffprobe -v error -show_entries format_tags:stream_tags \
        -of default=nw=1 "$T/$f.prev" | grep -v '^TAG:encoder=Lavf$')" ]; echo $?)" \
        "$f's preview has no tag but the encoder's name"
    ok "$( [ "$(ffprobe -v error -show_entries stream=codec_type -of csv=p=0 \
        "$T/$f.prev")" = audio ]; echo $?)" "$f's preview has one audio stream and no picture"
    # "ID3" is only looked for where a tag would be (the first bytes, the
    # last 128): three bytes anywhere in compressed noise are chance.
    ok "$(! grep -qa -e wombat -e JFIF "$T/$f.prev" &&
        [ "$(head -c 3 "$T/$f.prev")" != ID3 ] &&
        [ "$(tail -c 128 "$T/$f.prev" | head -c 3)" != TAG ]; echo $?)" \
        "$f's preview holds no byte of the title or the cover, and no ID3 tag"
done

# Codecs: Apple Lossless in M4A and 24-bit or IMA ADPCM WAV are read;
# a WAV in a codec outside the decoder list (G.726) is withheld, exit 3,
# without any decoder of it being opened.
ff -i "$T/song.wav" -c:a alac "$T/alac.m4a"
ff -i "$T/song.wav" -c:a pcm_s24le "$T/s24.wav"
ff -i "$T/song.wav" -c:a adpcm_ima_wav "$T/ima.wav"
ff -i "$T/song.wav" -ar 8000 -ac 1 -c:a g726 "$T/g726.wav"
for f in alac.m4a s24.wav ima.wav; do
    "$FG" stamp "$T/$f" "$T/$f.prev"
    ok "$( [ $? -eq 0 ] && near "$(probe "$T/$f.prev" format=duration)" 6 0.15; echo $?)" \
        "$f is previewed at its length"
done
"$FG" stamp "$T/g726.wav" "$T/out/g726.prev" 2>"$T/err"
ok "$( [ $? -eq 3 ] && grep -q "g726 is withheld" "$T/err" && clean_dir; echo $?)" \
    "a G.726 WAV is withheld (exit 3): its decoder is not on the list"

# The cap: --max-seconds, and FILIGRANE_PREVIEW_MAX_SECONDS.
"$FG" stamp --max-seconds 2 "$T/song.flac" "$T/cap.prev"
ok "$(near "$(probe "$T/cap.prev" format=duration)" 2 0.1; echo $?)" \
    "--max-seconds 2 cuts a 6 s file at 2 s"
FILIGRANE_PREVIEW_MAX_SECONDS=3 "$FG" stamp "$T/song.ogg" "$T/cap3.prev"
ok "$(near "$(probe "$T/cap3.prev" format=duration)" 3 0.1; echo $?)" \
    "FILIGRANE_PREVIEW_MAX_SECONDS=3 cuts a 6 s file at 3 s"

# The rate limit: 44100 Hz x 2 channels is 88200 samples per second.
"$FG" stamp --audio-max-rate 88200 "$T/song.wav" "$T/out/edge.prev"
ok $? "a file at exactly FILIGRANE_AUDIO_MAX_RATE is previewed"
rm -f "$T/out/"*
FILIGRANE_AUDIO_MAX_RATE=88199 "$FG" stamp "$T/song.wav" "$T/out/over.prev" 2>"$T/err"
ok "$( [ $? -eq 5 ] && grep -q FILIGRANE_AUDIO_MAX_RATE "$T/err" && clean_dir; echo $?)" \
    "one sample per second over FILIGRANE_AUDIO_MAX_RATE exits 5 naming it, nothing left"
FILIGRANE_AUDIO_MAX_RATE=abc "$FG" stamp "$T/song.wav" "$T/out/bad.prev" 2>"$T/err"
ok "$( [ $? -eq 2 ] && grep -q FILIGRANE_AUDIO_MAX_RATE "$T/err"; echo $?)" \
    "a malformed FILIGRANE_AUDIO_MAX_RATE is a usage error naming it"
FILIGRANE_AUDIO_MARK_INTERVAL=1 "$FG" stamp "$T/song.wav" "$T/out/bad.prev" 2>"$T/err"
ok "$( [ $? -eq 2 ] && grep -q FILIGRANE_AUDIO_MARK_INTERVAL "$T/err"; echo $?)" \
    "FILIGRANE_AUDIO_MARK_INTERVAL under 2 s is a usage error naming it"

# High sample rates: 384 kHz on 8 channels is refused from its header;
# let through (a raised limit), an hour would cost only the cap.
sox -n -r 384000 -c 8 -b 16 "$T/hi.flac" synth 3 sine 1000 vol 0.01
"$FG" stamp "$T/hi.flac" "$T/out/hi.prev" 2>"$T/err"
ok "$( [ $? -eq 5 ] && grep -q "384000 Hz x 8 channels" "$T/err" && clean_dir; echo $?)" \
    "a 384 kHz 8-channel file is refused by FILIGRANE_AUDIO_MAX_RATE, nothing left"
FILIGRANE_AUDIO_MAX_RATE=4000000 "$FG" stamp --max-seconds 1 "$T/hi.flac" "$T/hi1.prev"
ok "$( [ $? -eq 0 ] && near "$(probe "$T/hi1.prev" format=duration)" 1 0.1; echo $?)" \
    "allowed, it is previewed up to the cap only"

# Damaged files: every one fails with exit 4 and a reason, nothing left.
size=$(stat -c %s "$T/song.flac")
head -c $((size / 2)) "$T/song.flac" >"$T/half.flac"
size=$(stat -c %s "$T/song.wav")
head -c $((size / 2)) "$T/song.wav" >"$T/half.wav"
size=$(stat -c %s "$T/song.m4a")
head -c $((size / 2)) "$T/song.m4a" >"$T/half.m4a"
head -c 30 "$T/song.mp3" >"$T/stub.mp3"
head -c 4000 /dev/urandom >"$T/noise.mp3"
# An MP3 frame header, then garbage: the decoder chokes on every frame.
python3 -c "
import sys, random
random.seed(1)
b = bytearray()
for i in range(300):
    b += bytes([0xff, 0xfb, 0x90, 0x64]) + bytes(random.getrandbits(8) for _ in range(413))
sys.stdout.buffer.write(bytes(b))" >"$T/garbage.mp3"
# Reading stops at the cap: 6 s of good MP3 followed by undecodable
# frames fails whole, and previews fine when the cap falls before them.
cat "$T/song.mp3" "$T/garbage.mp3" >"$T/badtail.mp3"
"$FG" stamp "$T/badtail.mp3" "$T/out/x.prev" 2>/dev/null
ok "$( [ $? -eq 4 ] && clean_dir; echo $?)" "an mp3 that turns to garbage after 6 s fails"
"$FG" stamp --max-seconds 5 "$T/badtail.mp3" "$T/badtail.prev"
ok $? "capped at 5 s, the same mp3 is previewed: nothing past the cap is decoded"

for f in half.flac half.wav half.m4a stub.mp3 noise.mp3 garbage.mp3; do
    "$FG" stamp "$T/$f" "$T/out/x.prev" 2>"$T/err"
    rc=$?
    ok "$( [ $rc -eq 4 ] && [ -s "$T/err" ] && clean_dir; echo $?)" \
        "damaged $f exits 4 with a reason ($(head -c 80 "$T/err")), nothing left"
done
finish
