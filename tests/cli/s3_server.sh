#!/bin/sh
# scripts/s3-server.sh: starts s3rver on loopback with the bucket made,
# prints settings to eval, refuses a second server on the same directory,
# stops cleanly (twice too). Without node: one TAP skip, a failure on CI.
. "$(dirname "$0")/lib.inc"
top=$(cd "$(dirname "$0")/../.." && pwd)
script=$top/scripts/s3-server.sh

if ! command -v node >/dev/null 2>&1; then
    if [ -n "${CI:-}" ]; then
        echo "not ok - scripts/s3-server.sh needs node, and CI must run it"
        exit 1
    fi
    echo "ok - scripts/s3-server.sh # SKIP node is not installed (make deps)"
    exit 0
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$(sh "$script" start "$T/s3" "$port" 2>"$T/err")
ok $? "start answers 0"
eval "$out"
[ "$FILIGRANE_S3_ENDPOINT" = "http://127.0.0.1:$port" ] && [ "$FILIGRANE_S3_BUCKET" = filigrane ] &&
    [ "$FILIGRANE_S3_REGION" = us-east-1 ] && [ -n "$FILIGRANE_S3_ACCESS_KEY_ID" ] &&
    [ -n "$FILIGRANE_S3_SECRET_ACCESS_KEY" ]
ok $? "start prints the five settings, ready to eval"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 5 ]
ok $? "stdout holds nothing else"

E=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
    -u "$FILIGRANE_S3_ACCESS_KEY_ID:$FILIGRANE_S3_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: $E" -I "$FILIGRANE_S3_ENDPOINT/$FILIGRANE_S3_BUCKET")
[ "$code" = 200 ]
ok $? "the bucket exists and answers a signed HEAD"
code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
    -u "$FILIGRANE_S3_ACCESS_KEY_ID:not-the-secret" \
    -H "x-amz-content-sha256: $E" -I "$FILIGRANE_S3_ENDPOINT/$FILIGRANE_S3_BUCKET")
[ "$code" = 403 ]
ok $? "a request signed with another secret is refused (403)"
ss -ltn 2>/dev/null | grep -q "127.0.0.1:$port " && ! ss -ltn 2>/dev/null | grep -q "0.0.0.0:$port "
ok $? "it listens on 127.0.0.1 only"

sh "$script" start "$T/s3" "$port" >/dev/null 2>"$T/err2"
[ $? -ne 0 ] && grep -q "already runs" "$T/err2"
ok $? "a second start on the same directory is refused"
sh "$script" start "$T/other" "x1" >/dev/null 2>"$T/err3"
[ $? -ne 0 ] && grep -q "PORT must be a number" "$T/err3"
ok $? "a port that is not a number is refused"

pid=$(cat "$T/s3/s3rver.pid")
sh "$script" stop "$T/s3"
ok $? "stop answers 0"
! kill -0 "$pid" 2>/dev/null && [ ! -e "$T/s3/s3rver.pid" ]
ok $? "the server is gone and its pid file removed"
sh "$script" stop "$T/s3"
ok $? "stopping again is fine"
finish
