#!/bin/sh
# Audio previews against their floor, a plain ffmpeg transcode with the
# same settings; peak memory for 1 and 10 minutes; and the costliest file
# the default limits admit. Prints a Markdown section. Inputs are cached
# in bench/out/.
#
# Input: 10 minutes of 44.1 kHz stereo FLAC (two notes, tremolo, noise).
#   a  filigrane stamp     decode, resample, chime, MP3 128k, waveform
#      (in its sandboxed child, start-up included)
#   b  ffmpeg -i in.flac -ar 44100 -ac 2 -c:a libmp3lame -b:a 128k
#      -map_metadata -1 -id3v2_version 0 out.mp3: the floor
cd "$(dirname "$0")/.." || exit 1
FG=${FILIGRANE_BIN:-bin}/filigrane
out=bench/out
mkdir -p "$out"
runs=${BENCH_RUNS:-3}
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }

song() { # seconds out
    ff -f lavfi -i "sine=f=330:d=$1" -f lavfi -i "sine=f=495:d=$1" \
        -f lavfi -i "anoisesrc=d=$1:a=0.05" -filter_complex \
        "[0][1][2]amix=inputs=3,volume=2.5,tremolo=f=0.5:d=0.4,aformat=channel_layouts=stereo" \
        -ar 44100 -c:a flac "$2"
}
[ -s "$out/song600.flac" ] || song 600 "$out/song600.flac"
[ -s "$out/song60.flac" ] || song 60 "$out/song60.flac"
# At FILIGRANE_AUDIO_MAX_RATE's default: 96 kHz on 8 channels, 10 minutes.
[ -s "$out/wide600.flac" ] ||
    sox -n -r 96000 -c 8 -b 16 "$out/wide600.flac" synth 600 sine 1000 vol 0.05

a="$FG stamp $out/song600.flac $out/a.mp3"
b="ffmpeg -nostdin -v error -y -i $out/song600.flac -ar 44100 -ac 2 -c:a libmp3lame \
-b:a 128k -map_metadata -1 -id3v2_version 0 $out/b.mp3"
hyperfine -w 1 -r "$runs" --export-json "$out/audio.json" -n a "$a" -n b "$b" \
    >"$out/hyperfine-audio.log" 2>&1 ||
    { cat "$out/hyperfine-audio.log"; exit 1; }

median() { # json name
    python3 -c "
import json
for r in json.load(open('$1'))['results']:
    if r['command'] == '$2':
        print('%.2f' % r['median'])"
}
rss() { # command: peak RSS in MB (the sandboxed child included)
    /usr/bin/time -f '%M' -o "$out/rss" sh -c "$1" >/dev/null 2>&1
    echo $(($(tail -1 "$out/rss") / 1024))
}
# CPU seconds (user + system, children included; hyperfine's mean): on a
# shared machine wall time measures the neighbours as much as the code.
cpu() { # json name
    python3 -c "
import json
for r in json.load(open('$1'))['results']:
    if r['command'] == '$2':
        print('%.2f' % (r['user'] + r['system']))"
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
ta=$(median "$out/audio.json" a)
tb=$(median "$out/audio.json" b)
ca=$(cpu "$out/audio.json" a)
cb=$(cpu "$out/audio.json" b)
r60=$(rss "$FG stamp $out/song60.flac $out/r60.mp3")
r600=$(rss "$FG stamp $out/song600.flac $out/r600.mp3")
tw=$( { /usr/bin/time -f '%e %U %M' sh -c "$FG stamp $out/wide600.flac $out/w.mp3" ; } 2>&1 |
    tail -1)

echo "### Audio previews (10 minutes of 44.1 kHz stereo FLAC to MP3 128 kbit/s)"
echo
echo "| | wall (median of $runs) | CPU (mean) | x real time | vs filigrane (wall) |"
echo "|---|---|---|---|---|"
echo "| filigrane stamp (sandbox, resample, chime, MP3, waveform) | ${ta} s | ${ca} s | $(python3 -c "print('%.0f' % (600 / $ta))")x | 1.00x |"
echo "| ffmpeg, same settings (the floor) | ${tb} s | ${cb} s | $(python3 -c "print('%.0f' % (600 / $tb))")x | $(ratio "$tb" "$ta")x |"
echo
echo "filigrane takes $(ratio "$ta" "$tb")x the wall time and $(ratio "$ca" "$cb")x the CPU time of a plain ffmpeg transcode ($(cut -d, -f1 /proc/loadavg | cut -d' ' -f1) load average as it ended)."
echo "Peak memory: ${r60} MB for 1 minute, ${r600} MB for 10 minutes (flat: one frame at a time)."
set -- $tw
echo "At the default FILIGRANE_AUDIO_MAX_RATE (96 kHz, 8 channels, 10 minutes): $1 s wall, $2 s CPU, $(($3 / 1024)) MB peak, within the default sandbox limits (120 s, 240 s CPU)."
