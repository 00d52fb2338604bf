#!/bin/sh
# Video previews against their floor: a plain ffmpeg transcode with the
# same settings (720p, libx264 veryfast CRF 23 capped at 4 Mb/s, AAC
# 128 kb/s, faststart), which is decode, scale, encode, mux and nothing
# else; and peak memory for an hour of video. Prints a Markdown section.
# Inputs are cached in bench/out/.
#   a  filigrane stamp in.mp4 out            (sandboxed child, mark, poster)
#   b  ffmpeg -i in.mp4 -vf scale=-2:720 ... (the floor)
cd "$(dirname "$0")/.." || exit 1
FG=${FILIGRANE_BIN:-bin}/filigrane
out=bench/out
mkdir -p "$out"
runs=${BENCH_RUNS:-3}
q="-nostdin -y -loglevel error"

# 60 s of 1080p at 25 fps with sound, encoded as a camera or an editor
# would (H.264 high quality).
[ -s "$out/v1080.mp4" ] ||
    ffmpeg $q -f lavfi -i testsrc2=size=1920x1080:rate=25:duration=60 \
        -f lavfi -i sine=frequency=440:duration=60 -shortest \
        -c:v libx264 -preset veryfast -crf 18 -c:a aac "$out/v1080.mp4" || exit 1
# An hour of 320x240: one minute made once, then copied 60 times over
# (the concat demuxer, no re-encoding).
if [ ! -s "$out/v1h.mp4" ]; then
    ffmpeg $q -f lavfi -i testsrc2=size=320x240:rate=25:duration=60 \
        -f lavfi -i sine=frequency=440:duration=60 -shortest \
        -c:v libx264 -preset veryfast -g 250 -c:a aac "$out/v1m.mp4" || exit 1
    i=0
    : >"$out/v1h.txt"
    while [ $i -lt 60 ]; do
        echo "file 'v1m.mp4'" >>"$out/v1h.txt"
        i=$((i + 1))
    done
    ffmpeg $q -f concat -safe 0 -i "$out/v1h.txt" -c copy "$out/v1h.mp4" || exit 1
fi

a="$FG stamp $out/v1080.mp4 $out/va"
# The same with the traceable mark on, as the service stamps (a pattern
# key in the environment, a payload on the command line).
c="env FILIGRANE_TRACE_PATTERN=$(printf '%064x' 77) $FG stamp --trace-payload 00112233445566ff \
$out/v1080.mp4 $out/vc"
b="ffmpeg $q -i $out/v1080.mp4 -vf scale=-2:720 -c:v libx264 -preset veryfast -crf 23 \
-maxrate 4M -bufsize 8M -c:a aac -b:a 128k -movflags +faststart $out/vb.mp4"
hyperfine -w 1 -r "$runs" --export-json "$out/video.json" -n a "$a" -n b "$b" -n c "$c" \
    >"$out/hyperfine-video.log" 2>&1 ||
    { cat "$out/hyperfine-video.log"; exit 1; }

median() { # json name
    python3 -c "
import json
for r in json.load(open('$1'))['results']:
    if r['command'] == '$2':
        print('%.2f' % r['median'])"
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
ta=$(median "$out/video.json" a)
tb=$(median "$out/video.json" b)
tc=$(median "$out/video.json" c)
size() { python3 -c "print('%.1f' % ($(stat -c %s "$1") / 1e6))"; }

# Peak RSS of the sandboxed child (GNU time counts the waited-for
# children), the whole hour previewed (the cap lifted), and its time.
rss() { # label command
    /usr/bin/time -f '%M %e' -o "$out/rss" sh -c "$2" >/dev/null 2>&1 || { echo "n/a n/a"; return; }
    tail -1 "$out/rss" | awk '{printf "%d %s\n", $1 / 1024, $2}'
}
set -- $(rss 1m "FILIGRANE_PREVIEW_MAX_SECONDS=60 $FG stamp $out/v1m.mp4 $out/vm")
m1=$1
set -- $(rss 1h "FILIGRANE_PREVIEW_MAX_SECONDS=3600 FILIGRANE_SANDBOX_VIDEO_TIMEOUT=7200 \
FILIGRANE_SANDBOX_VIDEO_CPU=14400 $FG stamp $out/v1h.mp4 $out/vh")
mh=$1 th=$2
set -- $(rss 1080 "$a")
m1080=$1

echo "### Video previews (60 s of 1080p, 25 fps, with sound)"
echo
echo "| | time (median of $runs) | output | vs floor |"
echo "|---|---|---|---|"
echo "| filigrane stamp (sandboxed: decode, 720p, mark every frame, H.264 + AAC, poster) | ${ta} s | $(size "$out/va") MB | $(ratio "$ta" "$tb")x |"
echo "| the same with the traceable mark (\`--trace-payload\`, FILIGRANE_TRACE_PATTERN) | ${tc} s | $(size "$out/vc") MB | $(ratio "$tc" "$tb")x |"
echo "| ffmpeg -vf scale=-2:720 -c:v libx264 -preset veryfast -crf 23 -maxrate 4M -bufsize 8M -c:a aac (the floor) | ${tb} s | $(size "$out/vb.mp4") MB | 1.00x |"
echo
echo "filigrane takes $(ratio "$ta" "$tb")x the time of the plain transcode, $(ratio "$tc" "$tb")x with the traceable mark (target: within 1.3x); the mark costs $(ratio "$tc" "$ta")x the time and $(python3 -c "print('%.2f' % ($(stat -c %s "$out/vc") / $(stat -c %s "$out/va")))")x the size."
echo "Peak memory of the stamping child: ${m1080} MB for the 1080p minute; ${m1} MB for one minute of 320x240 and ${mh} MB for an hour of it (previewed whole with FILIGRANE_PREVIEW_MAX_SECONDS=3600, in ${th} s). Frames are never held; what grows with the length is the MP4 index the muxer keeps until it writes it at the end."
