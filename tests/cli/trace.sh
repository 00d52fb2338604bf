#!/bin/sh
# The traceable mark through the CLI: `stamp --trace-payload` embeds it
# under FILIGRANE_TRACE_PATTERN, `stamp --trace` reads it back in the
# sandbox, and `filigrane trace` refuses to run without what it needs.
. "$(dirname "$0")/lib.inc"

gradient "$T/grad.png" 1200 800
vips gaussnoise "$T/n.v" 1200 800 --sigma 12 --mean 0
vips bandjoin "$T/n.v $T/n.v $T/n.v" "$T/n3.v"
vips add "$T/grad.png" "$T/n3.v" "$T/s.v"
vips cast "$T/s.v" "$T/photo.png" uchar
PAT=$(printf '%064x' 77)

FILIGRANE_TRACE_PATTERN=$PAT "$FG" stamp --seed 3 --trace-payload 00112233445566ff \
    "$T/photo.png" "$T/p.jpg" &&
    FILIGRANE_TRACE_PATTERN=$PAT "$FG" stamp --trace "$T/p.jpg" "$T/r.txt" &&
    sed -n 1p "$T/r.txt" | grep -qx "filigrane-trace-v1" &&
    sed -n 2p "$T/r.txt" | grep -q "^candidate [0-9.]* [0-9.]* 00112233445566ff "
ok $? "stamp --trace-payload embeds and stamp --trace reads the payload back"

FILIGRANE_TRACE_PATTERN=$(printf '%064x' 78) "$FG" stamp --trace "$T/p.jpg" "$T/r2.txt" &&
    [ "$(cat "$T/r2.txt")" = "filigrane-trace-v1" ]
ok $? "under another pattern key the decoder reports no candidate"

"$FG" stamp --seed 3 "$T/photo.png" "$T/plain.jpg" &&
    FILIGRANE_TRACE_PATTERN=$PAT "$FG" stamp --trace "$T/plain.jpg" "$T/r3.txt" &&
    [ "$(cat "$T/r3.txt")" = "filigrane-trace-v1" ]
ok $? "a preview stamped without a payload has no candidate"

FILIGRANE_TRACE_PATTERN=zz "$FG" stamp --seed 3 "$T/photo.png" "$T/x.jpg" 2>"$T/err"
[ $? -eq 2 ] && grep -q "FILIGRANE_TRACE_PATTERN" "$T/err" && [ ! -e "$T/x.jpg" ]
ok $? "a malformed FILIGRANE_TRACE_PATTERN is a usage error naming it (2)"

FILIGRANE_TRACE_PATTERN=${PAT}0 "$FG" stamp --seed 3 "$T/photo.png" "$T/x.jpg" 2>"$T/err"
[ $? -eq 2 ] && grep -q "FILIGRANE_TRACE_PATTERN" "$T/err"
ok $? "FILIGRANE_TRACE_PATTERN one digit too long is refused (2)"

FILIGRANE_TRACE_PATTERN=$(printf '%063x' 1) "$FG" stamp --seed 3 "$T/photo.png" "$T/x.jpg" 2>"$T/err"
[ $? -eq 2 ] && grep -q "FILIGRANE_TRACE_PATTERN" "$T/err"
ok $? "FILIGRANE_TRACE_PATTERN one digit short is refused (2)"

"$FG" stamp --seed 3 --trace-payload 0011223344556 "$T/photo.png" "$T/x.jpg" 2>"$T/err"
[ $? -eq 2 ] && grep -q "trace-payload" "$T/err"
ok $? "a malformed --trace-payload is a usage error (2)"

env -u FILIGRANE_TRACE_PATTERN "$FG" stamp --trace "$T/p.jpg" "$T/r4.txt" 2>"$T/err"
[ $? -eq 2 ] && grep -q "FILIGRANE_TRACE_PATTERN" "$T/err" && [ ! -e "$T/r4.txt" ]
ok $? "stamp --trace without a pattern key is a usage error naming it (2)"

echo "plain words" >"$T/words.txt"
FILIGRANE_TRACE_PATTERN=$PAT "$FG" stamp --trace "$T/words.txt" "$T/r5.txt" 2>"$T/err"
[ $? -eq 3 ] && [ ! -e "$T/r5.txt" ]
ok $? "a text file cannot be traced (3)"

# Video previews: every frame carries the payload (media suites run in
# the plain pass only). H.264 may cost a frame a bit or two of the raw
# payload, which the store's lookup flips back (up to 8 weak bits).
near() { # report payload: its strongest candidate is within 2 bits of payload
    python3 -c "
import sys
l = open(sys.argv[1]).read().split('\\n')
c = l[1].split() if len(l) > 1 else []
sys.exit(0 if len(c) > 3 and c[0] == 'candidate' and
         bin(int(c[3], 16) ^ int(sys.argv[2], 16)).count('1') <= 2 else 1)" "$1" "$2"
}
case "${FILIGRANE_BIN:-}" in
*/asan | */asan/) echo "# the video part runs in the plain pass only" ;;
*)
    ffmpeg -nostdin -y -loglevel error \
        -f lavfi -i "testsrc2=size=1280x720:rate=25:duration=3,noise=alls=12:allf=t" \
        -c:v libx264 -crf 18 "$T/clip.mp4"
    FILIGRANE_TRACE_PATTERN=$PAT "$FG" stamp --seed 3 --trace-payload 00112233445566ff \
        "$T/clip.mp4" "$T/v.mp4"
    ok $? "stamp --trace-payload makes a video preview (exit 0)"
    for at in 0.6 2.4; do
        ffmpeg -nostdin -y -loglevel error -ss $at -i "$T/v.mp4" -frames:v 1 "$T/f$at.png" &&
            FILIGRANE_TRACE_PATTERN=$PAT "$FG" stamp --trace "$T/f$at.png" "$T/rf$at.txt" &&
            near "$T/rf$at.txt" 00112233445566ff
        ok $? "a frame at $at s of a video preview gives back its payload (2 bit errors at most)"
    done
    FILIGRANE_TRACE_PATTERN=$PAT "$FG" stamp --trace "$T/v.mp4.poster" "$T/rp.txt" &&
        sed -n 2p "$T/rp.txt" | grep -q "^candidate [0-9.]* [0-9.]* 00112233445566ff "
    ok $? "the video preview's poster gives back its payload"
    "$FG" stamp --seed 3 "$T/clip.mp4" "$T/vplain.mp4" &&
        ffmpeg -nostdin -y -loglevel error -ss 1 -i "$T/vplain.mp4" -frames:v 1 "$T/fp.png" &&
        FILIGRANE_TRACE_PATTERN=$PAT "$FG" stamp --trace "$T/fp.png" "$T/rfp.txt" &&
        [ "$(cat "$T/rfp.txt")" = "filigrane-trace-v1" ]
    ok $? "a frame of a video preview stamped without a payload has no candidate"
    FILIGRANE_TRACE_PATTERN=$PAT "$FG" stamp --trace "$T/v.mp4" "$T/rv.txt" 2>"$T/err"
    [ $? -eq 3 ] && [ ! -e "$T/rv.txt" ] && grep -q "cannot be traced" "$T/err"
    ok $? "a video file itself is not traced (3): a frame taken from it is"
    ;;
esac

mkdir -p "$T/data"
env -u FILIGRANE_MARK_KEY "$FG" trace --data "$T/data" "$T/p.jpg" 2>"$T/err"
[ $? -eq 2 ] && grep -q "FILIGRANE_MARK_KEY" "$T/err"
ok $? "filigrane trace without FILIGRANE_MARK_KEY is a usage error naming it (2)"

FILIGRANE_MARK_KEY=short "$FG" trace --data "$T/data" "$T/p.jpg" 2>"$T/err"
[ $? -eq 2 ] && grep -q "FILIGRANE_MARK_KEY" "$T/err"
ok $? "filigrane trace with a short FILIGRANE_MARK_KEY is a usage error naming it (2)"

FILIGRANE_MARK_KEY=$(printf '%040d' 5) "$FG" trace --data "$T/nowhere" "$T/p.jpg" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 6 ] && ! grep -q "no mark found" "$T/out"
ok $? "filigrane trace with a missing data directory fails with 6, never 'no mark found' (1)"

finish
