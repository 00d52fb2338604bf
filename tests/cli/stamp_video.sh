#!/bin/sh
# filigrane stamp on videos: an MP4 preview and its poster, what ffprobe
# reads of them, the cap, and hostile files each refused with its exit
# code and one line naming the file, nothing left behind.
. "$(dirname "$0")/lib.inc"
# DESIGN, Settled details (test time): media suites run in the plain pass
# only (tests/unit/test_video.c runs the converter under ASan).
case "${FILIGRANE_BIN:-}" in
*/asan | */asan/) echo "# the video CLI suite runs in the plain pass only"; exit 0 ;;
esac
TOP=$(cd "$(dirname "$0")/../.." && pwd)

clip() { # out w h seconds [ffmpeg output options...]
    out=$1 w=$2 h=$3 s=$4
    shift 4
    ffmpeg -nostdin -y -loglevel error -f lavfi -i "testsrc2=size=${w}x$h:rate=25:duration=$s" \
        -f lavfi -i "sine=frequency=440:duration=$s" -shortest "$@" "$out"
}
probe() { ffprobe -v error -of default=nw=1:nk=1 "$@"; }

clip "$T/in.mov" 1920 1080 3 -metadata title=CliSecretTitle
"$FG" stamp --var order=ord-9 "$T/in.mov" "$T/out" 2>"$T/err"
ok $? "a MOV is stamped (exit 0)"
[ "$(probe -show_entries format=format_name "$T/out")" = "mov,mp4,m4a,3gp,3g2,mj2" ] &&
    [ "$(probe -select_streams v -show_entries stream=codec_name,width,height,pix_fmt "$T/out" | tr '\n' ' ')" = "h264 1280 720 yuv420p " ] &&
    [ "$(probe -select_streams a -show_entries stream=codec_name "$T/out")" = "aac" ]
ok $? "its preview is an MP4 of H.264 1280x720 yuv420p and AAC"
[ "$(head -c 8 "$T/out" | tail -c 4)" = "ftyp" ] && ! grep -q CliSecretTitle "$T/out" &&
    [ -z "$(probe -show_entries format_tags "$T/out" | grep -v -e isom -e 512 -e mp41)" ]
ok $? "the original's title is gone and no tag but the brand is written"
# faststart: the index (moov) comes before the frames (mdat).
python3 -c "
import sys; b=open(sys.argv[1],'rb').read(); sys.exit(0 if 0 < b.find(b'moov') < b.find(b'mdat') else 1)" "$T/out"
ok $? "the index comes first (faststart): a browser plays it while it loads"
[ "$(file --mime-type -b "$T/out.poster")" = "image/jpeg" ] &&
    [ "$(vipsheader -f width "$T/out.poster")x$(vipsheader -f height "$T/out.poster")" = "1280x720" ]
ok $? "its poster frame is a 1280x720 JPEG beside it (OUTPUT.poster)"

clip "$T/long.webm" 320 240 6
FILIGRANE_PREVIEW_MAX_SECONDS=2 "$FG" stamp "$T/long.webm" "$T/cap" &&
    python3 -c "import sys; d=float(sys.argv[1]); sys.exit(0 if 1.8 < d < 2.2 else 1)" \
        "$(probe -show_entries format=duration "$T/cap")"
ok $? "FILIGRANE_PREVIEW_MAX_SECONDS=2 cuts a 6 s WebM to 2 s"
"$FG" stamp --max-seconds 0 "$T/long.webm" "$T/cap0" 2>"$T/err"
[ $? -eq 2 ] && grep -q "max-seconds" "$T/err"
ok $? "--max-seconds 0 is a usage error naming the option"

# expect STATUS NAME SUBSTRING FILE [env...]: fails with STATUS, one line
# "filigrane: NAME: ...SUBSTRING", no output and no poster left.
expect() {
    want=$1 name=$2 says=$3 file=$4
    shift 4
    rm -rf "$T/dir"
    mkdir "$T/dir"
    env "$@" "$FG" stamp "$file" "$T/dir/out" 2>"$T/err"
    got=$?
    [ "$got" -eq "$want" ] || { echo "# exit $got, want $want: $(cat "$T/err")" >&2; return 1; }
    [ "$(wc -l <"$T/err")" -eq 1 ] || { cat "$T/err" >&2; return 1; }
    grep -q "^filigrane: $name: .*$says" "$T/err" || { cat "$T/err" >&2; return 1; }
    [ -z "$(ls -A "$T/dir")" ] || { ls -A "$T/dir" >&2; return 1; }
}

python3 "$TOP/tests/tools/mkv_huge.py" "$T/huge.mkv"
expect 5 huge.mkv "100000x100000, over the limit" "$T/huge.mkv"
ok $? "a Matroska header claiming 100000x100000 is over a limit (5), nothing left"

clip "$T/full.mp4" 320 240 4
head -c $(($(wc -c <"$T/full.mp4") / 2)) "$T/full.mp4" >"$T/half.mp4"
expect 4 half.mp4 "not a readable video" "$T/half.mp4"
ok $? "half an MP4 is unreadable (4), nothing left"

clip "$T/full.mkv" 320 240 4
head -c $(($(wc -c <"$T/full.mkv") * 6 / 10)) "$T/full.mkv" >"$T/cut.mkv"
expect 4 cut.mkv "truncated" "$T/cut.mkv"
ok $? "a Matroska file cut short is truncated (4), nothing left"

clip "$T/full.avi" 320 240 4
head -c $(($(wc -c <"$T/full.avi") * 6 / 10)) "$T/full.avi" >"$T/cut.avi"
expect 4 cut.avi "truncated" "$T/cut.avi"
ok $? "an AVI cut short is truncated by its RIFF size (4), nothing left"

head -c 100000 /dev/urandom >"$T/noise.mp4"
expect 4 noise.mp4 "not what its name says" "$T/noise.mp4"
ok $? "random bytes named .mp4 are unreadable (4)"

clip "$T/slow.mp4" 1920 1080 20 -preset ultrafast
expect 1 slow.mp4 "timed out after 1 s" "$T/slow.mp4" FILIGRANE_SANDBOX_VIDEO_TIMEOUT=1
ok $? "FILIGRANE_SANDBOX_VIDEO_TIMEOUT=1 stops a 20 s 1080p encode (1), nothing left"
FILIGRANE_SANDBOX_VIDEO_MEMORY=1k "$FG" stamp "$T/slow.mp4" "$T/x" 2>"$T/err"
[ $? -eq 2 ] && grep -q "FILIGRANE_SANDBOX_VIDEO_MEMORY must be" "$T/err" && [ ! -e "$T/x" ]
ok $? "a malformed FILIGRANE_SANDBOX_VIDEO_MEMORY is a usage error (2) naming it"

finish
