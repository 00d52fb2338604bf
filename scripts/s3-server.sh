#!/bin/sh
# A private S3-compatible server for the tests and `make run-cluster`:
# s3rver (npm @20minutes/s3rver, pinned in tests/e2e/package-lock.json; `make
# deps` installs it), which checks AWS Signature Version 4 on every request,
# headers and presigned URLs alike, with their expiry.
#
#   scripts/s3-server.sh start DIR PORT   starts it on 127.0.0.1:PORT with its
#                                         objects in DIR/data, makes the bucket,
#                                         prints the settings (below)
#   scripts/s3-server.sh stop DIR         stops it (the files stay)
#
# stdout gets the settings as shell assignments, ready for `eval`:
#
#   FILIGRANE_S3_ENDPOINT=http://127.0.0.1:PORT
#   FILIGRANE_S3_BUCKET=filigrane
#   FILIGRANE_S3_REGION=us-east-1
#   FILIGRANE_S3_ACCESS_KEY_ID=S3RVER
#   FILIGRANE_S3_SECRET_ACCESS_KEY=S3RVER
#
# s3rver knows one fixed key pair (S3RVER/S3RVER), a test credential that
# guards nothing: printing it is fine here, and only here.
#
# Virtual-host addressing: s3rver is started with --service-endpoint
# localhost, so http://s3.localhost:PORT is the same server and a request to
# http://filigrane.s3.localhost:PORT/key is read as bucket "filigrane"
# (libcurl resolves every *.localhost name to loopback by itself).
#
# It listens on 127.0.0.1 only. Its log is DIR/s3rver.log, its pid
# DIR/s3rver.pid.
set -eu
umask 077

die() {
    echo "s3-server.sh: $*" >&2
    exit 1
}

root=$(cd "$(dirname "$0")/.." && pwd)
server=$root/tests/e2e/s3rver.js
module=$root/tests/e2e/node_modules/@20minutes/s3rver/lib/cli.js
bucket=filigrane

start() {
    dir=$1
    port=$2
    case $port in
        '' | *[!0-9]*) die "PORT must be a number: $port" ;;
    esac
    command -v node >/dev/null 2>&1 || die "node is not installed (make deps)"
    [ -f "$module" ] || die "s3rver is not installed in tests/e2e/node_modules (make deps)"
    mkdir -p "$dir/data"
    if [ -f "$dir/s3rver.pid" ] && kill -0 "$(cat "$dir/s3rver.pid")" 2>/dev/null; then
        die "a server already runs for $dir (pid $(cat "$dir/s3rver.pid"))"
    fi
    # setsid: its own session, so a test's Ctrl-C or process-group kill
    # does not leave it half-stopped; stop kills it by its pid.
    setsid node "$server" --directory "$dir/data" --address 127.0.0.1 \
        --port "$port" --service-endpoint localhost \
        --configure-bucket "$bucket" </dev/null >"$dir/s3rver.log" 2>&1 &
    echo $! >"$dir/s3rver.pid"
    i=0
    # Ready when the bucket answers a HEAD (403 without credentials is an
    # answer: the server is up and routing).
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' -I \
            "http://127.0.0.1:$port/$bucket" 2>/dev/null || true)
        case $code in
            2?? | 3?? | 4??) break ;;
        esac
        if ! kill -0 "$(cat "$dir/s3rver.pid")" 2>/dev/null; then
            tail -n 20 "$dir/s3rver.log" >&2
            die "s3rver exited at start (log above)"
        fi
        i=$((i + 1))
        [ "$i" -lt 150 ] || { stop "$dir"; die "s3rver did not answer on 127.0.0.1:$port within 15 s"; }
        sleep 0.1
    done
    printf 'FILIGRANE_S3_ENDPOINT=http://127.0.0.1:%s\n' "$port"
    printf 'FILIGRANE_S3_BUCKET=%s\n' "$bucket"
    printf 'FILIGRANE_S3_REGION=us-east-1\n'
    printf 'FILIGRANE_S3_ACCESS_KEY_ID=S3RVER\n'
    printf 'FILIGRANE_S3_SECRET_ACCESS_KEY=S3RVER\n'
}

stop() {
    dir=$1
    [ -f "$dir/s3rver.pid" ] || return 0
    pid=$(cat "$dir/s3rver.pid")
    if kill "$pid" 2>/dev/null; then
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/s3rver.pid"
}

case ${1:-} in
    start)
        [ $# -eq 3 ] || die "usage: s3-server.sh start DIR PORT"
        start "$2" "$3"
        ;;
    stop)
        [ $# -eq 2 ] || die "usage: s3-server.sh stop DIR"
        stop "$2"
        ;;
    *) die "usage: s3-server.sh start DIR PORT | stop DIR" ;;
esac
