#!/bin/sh
# Service benchmark: the worker behind real nginx, measured with wrk and
# /proc, against references measured in the same run.
#
#  1. An authorized GET of a ~100 KB preview through nginx + worker
#     (X-Accel-Redirect; repeats answered by nginx's preview cache,
#     FILIGRANE_PREVIEW_DECISION_TTL), against the same file served by
#     nginx as a plain static file. Target: at least 85% of the static
#     requests per second. Beside it, the seller's GET of the original:
#     decided by the worker on every request, never cached.
#  2. A 1 GB raw upload: the worker's peak RSS (VmHWM) and the upload's
#     throughput, against `cp` of the same file on the same disk.
#
# Prints a Markdown table. RUNS (default 3) runs each; medians reported.
# BENCH_UPLOAD=0 leaves out the upload part.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${FILIGRANE_BIN:-$top/bin}
runs=${RUNS:-3}
secs=${WRK_SECONDS:-8}
conns=${WRK_CONNECTIONS:-32}
work=$(mktemp -d /tmp/filigrane-bench.XXXXXX)
chmod 755 "$work"
export FILIGRANE_DATA="$work/data" FILIGRANE_PORT=$((20000 + $$ % 20000))
export FILIGRANE_JWT_SECRET=$(openssl rand -hex 32)
export FILIGRANE_WEBHOOK_SECRET="whsec_$(openssl rand -base64 32)"
export FILIGRANE_QUIET=1 FILIGRANE_BIN="$bin" FILIGRANE_LOG_FORMAT=json
export FILIGRANE_MAX_FILE_BYTES=2G FILIGRANE_MAX_DELIVERY_BYTES=2G
url="http://127.0.0.1:$FILIGRANE_PORT"
static_port=$((FILIGRANE_PORT + 1))
svc_pid="" static_pid=""
cleanup() {
    [ -n "$static_pid" ] && kill "$static_pid" 2>/dev/null
    [ -n "$svc_pid" ] && kill -TERM "$svc_pid" 2>/dev/null && wait "$svc_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

"$top/scripts/run.sh" >/dev/null 2>&1 &
svc_pid=$!
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# The order system creates an order (signed webhook), the seller delivers.
hook() {
    id="msg_$(openssl rand -hex 8)" ts=$(date +%s)
    key=$(printf '%s' "${FILIGRANE_WEBHOOK_SECRET#whsec_}" | openssl base64 -d -A | od -An -tx1 | tr -d ' \n')
    sig=$(printf '%s.%s.%s' "$id" "$ts" "$1" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | openssl base64 -A)
    curl -sf -X POST "$url/v1/hooks/orders" -H "webhook-id: $id" -H "webhook-timestamp: $ts" \
        -H "webhook-signature: v1,$sig" --data-binary "$1" >/dev/null
}
hook '{"type":"order.created","data":{"order_id":"ord-bench","seller_id":"s-b","buyer_id":"b-b","buyer_name":"Bench"}}'
seller=$("$bin/filigrane" token --role seller --sub s-b --ord ord-bench --ttl 3600)
buyer=$("$bin/filigrane" token --role buyer --sub b-b --ord ord-bench --ttl 3600)
[ "${BENCH_AS_SELLER:-0}" = 1 ] && BENCH_TOKEN=$seller

# A photo-like image whose preview is about 100 KB.
vips gaussnoise "$work/n.v" 880 660 --sigma 3 --mean 128
vips copy "$work/n.v" "$work/photo.jpg[Q=90]"
curl -sf -H "Authorization: Bearer $seller" -F "file=@$work/photo.jpg" \
    "$url/v1/orders/ord-bench/deliveries" >"$work/delivery.json"
file_id=$(sed -n 's/.*"id":"\([0-9a-f]\{32\}\)".*/\1/p' "$work/delivery.json" | head -n 1)
# The preview is made by a job runner after the 201: wait for it.
for _ in $(seq 300); do
    curl -sf -o /dev/null -H "Authorization: Bearer $buyer" "$url/v1/files/$file_id/preview" && break
    sleep 0.1
done
curl -sf -o "$work/preview.jpg" -H "Authorization: Bearer $buyer" "$url/v1/files/$file_id/preview" || {
    echo "bench: the preview could not be fetched" >&2
    cat "$work/delivery.json" >&2
    exit 1
}
preview_kb=$(($(stat -c %s "$work/preview.jpg") / 1024))

# The reference: nginx serving the same bytes as a static file.
mkdir -p "$work/static/www" "$work/static/logs"
cp "$work/preview.jpg" "$work/static/www/preview.jpg"
cat >"$work/static/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $work/static/nginx.pid;
error_log $work/static/logs/error.log warn;
$( [ "$(id -u)" = 0 ] && echo "user root root;" )
events { worker_connections 1024; }
http {
    access_log $work/static/logs/access.log;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$static_port;
        root $work/static/www;
        # The same file without TCP_CORK, as the preview cache sends it
        # (scripts/nginx-conf.sh): the fairer reference for it.
        location /nocork/ { alias $work/static/www/; tcp_nopush off; }
    }
}
CONF
/usr/sbin/nginx -p "$work/static" -c "$work/static/nginx.conf" -e "$work/static/logs/error.log" &
static_pid=$!
sleep 0.5

# wrk prints "Requests/sec: N" and, with --latency, "99% Xms|Xus|Xs".
wrk_run() { # url [header]
    wrk -t2 -c"$conns" -d"${secs}s" --latency ${2:+-H "$2"} "$1" >"$work/wrk.txt"
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
    p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else {sub(/s/,"",v); v*=1000}; print v}' "$work/wrk.txt")
    echo "$rps $p99"
}
: >"$work/svc" ; : >"$work/static.txt" ; : >"$work/orig" ; : >"$work/nocork"
for _ in $(seq "$runs"); do
    wrk_run "$url/v1/files/$file_id/preview" "Authorization: Bearer ${BENCH_TOKEN:-$buyer}" >>"$work/svc"
    wrk_run "http://127.0.0.1:$static_port/preview.jpg" >>"$work/static.txt"
    wrk_run "$url/v1/files/$file_id/original" "Authorization: Bearer $seller" >>"$work/orig"
    wrk_run "http://127.0.0.1:$static_port/nocork/preview.jpg" >>"$work/nocork"
done
nc_rps=$(cut -d' ' -f1 "$work/nocork" | median)
svc_rps=$(cut -d' ' -f1 "$work/svc" | median)
svc_p99=$(cut -d' ' -f2 "$work/svc" | median)
st_rps=$(cut -d' ' -f1 "$work/static.txt" | median)
st_p99=$(cut -d' ' -f2 "$work/static.txt" | median)
orig_rps=$(cut -d' ' -f1 "$work/orig" | median)
# How nginx answered the preview GETs (JSON access log, "cache" field).
hits=$(grep -c '"path":"/v1/files/[0-9a-f]*/preview".*"cache":"HIT"' "$FILIGRANE_DATA/log/nginx-access.log" || :)
all_previews=$(grep -c '"path":"/v1/files/[0-9a-f]*/preview"' "$FILIGRANE_DATA/log/nginx-access.log" || :)
echo "bench: preview GETs answered from nginx's cache: $hits of $all_previews" >&2
orig_kb=$(($(stat -c %s "$work/photo.jpg") / 1024))
echo "bench: preview req/s per run: $(cut -d' ' -f1 "$work/svc" | tr '\n' ' '); static: $(cut -d' ' -f1 "$work/static.txt" | tr '\n' ' '); original: $(cut -d' ' -f1 "$work/orig" | tr '\n' ' '); static without TCP_CORK: $(cut -d' ' -f1 "$work/nocork" | tr '\n' ' ')" >&2
if [ "${BENCH_UPLOAD:-1}" = 0 ]; then
    echo
    echo "### Service ($(date -u +%Y-%m-%d), $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1))"
    echo
    echo "| measure | filigrane (nginx + worker) | reference | ratio | target |"
    echo "|---|---|---|---|---|"
    awk -v a="$svc_rps" -v b="$st_rps" -v kb="$preview_kb" -v c="$conns" \
        'BEGIN {printf "| GET %d KB preview, req/s (wrk, %d connections) | %.0f | %.0f (nginx static) | %.0f%% | >= 85%% |\n", kb, c, a, b, 100 * a / b}'
    echo "| p99 latency | ${svc_p99} ms | ${st_p99} ms (nginx static) | | |"
    awk -v a="$svc_rps" -v b="$nc_rps" -v kb="$preview_kb" \
        'BEGIN {printf "| the same GET, against nginx static without TCP_CORK (as the cache sends) | %.0f | %.0f | %.0f%% | >= 85%% |\n", a, b, 100 * a / b}'
    awk -v a="$orig_rps" -v b="$st_rps" -v kb="$orig_kb" \
        'BEGIN {printf "| GET %d KB original (decided by the worker every time), req/s | %.0f | %.0f (nginx static, the preview) | %.0f%% | |\n", kb, a, b, 100 * a / b}'
    echo
    echo "Medians of $runs runs; wrk -t2 -c$conns -d${secs}s."
    exit 0
fi

# 1 GB raw upload: throughput against cp, and the worker's peak RSS.
head -c 1073741824 /dev/urandom >"$work/big.bin"
worker_pid=$(pgrep -n -f "^$bin/filigrane-fcgi" || pgrep -n filigrane-fcgi)
: >"$work/up" ; : >"$work/cp"
for _ in $(seq "$runs"); do
    sync
    t0=$(date +%s.%N)
    cp "$work/big.bin" "$work/big.copy"
    sync
    t1=$(date +%s.%N)
    rm -f "$work/big.copy"
    echo "$t1 $t0" | awk '{print 1024 / ($1 - $2)}' >>"$work/cp"
    # New leading bytes each run: a new blob to write and sync, not one the
    # store already holds (which it would only drop).
    head -c 64 /dev/urandom | dd of="$work/big.bin" conv=notrunc status=none
    sync
    t0=$(date +%s.%N)
    # -T streams the file (--data-binary would read it all into memory).
    curl -sf -o /dev/null -X POST -T "$work/big.bin" -H "Expect:" \
        -H "Authorization: Bearer $seller" -H "Content-Type: application/octet-stream" \
        "$url/v1/orders/ord-bench/deliveries?filename=big.bin"
    sync
    t1=$(date +%s.%N)
    echo "$t1 $t0" | awk '{print 1024 / ($1 - $2)}' >>"$work/up"
done
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$worker_pid/status")
up_mbs=$(median <"$work/up")
cp_mbs=$(median <"$work/cp")

echo
echo "### Service ($(date -u +%Y-%m-%d), $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1))"
echo
echo "| measure | filigrane (nginx + worker) | reference | ratio | target |"
echo "|---|---|---|---|---|"
awk -v a="$svc_rps" -v b="$st_rps" -v kb="$preview_kb" -v c="$conns" \
    'BEGIN {printf "| GET %d KB preview, req/s (wrk, %d connections) | %.0f | %.0f (nginx static) | %.0f%% | >= 85%% |\n", kb, c, a, b, 100 * a / b}'
echo "| p99 latency | ${svc_p99} ms | ${st_p99} ms (nginx static) | | |"
awk -v a="$svc_rps" -v b="$nc_rps" -v kb="$preview_kb" \
    'BEGIN {printf "| the same GET, against nginx static without TCP_CORK (as the cache sends) | %.0f | %.0f | %.0f%% | >= 85%% |\n", a, b, 100 * a / b}'
awk -v a="$orig_rps" -v b="$st_rps" -v kb="$orig_kb" \
    'BEGIN {printf "| GET %d KB original (decided by the worker every time), req/s | %.0f | %.0f (nginx static, the preview) | %.0f%% | |\n", kb, a, b, 100 * a / b}'
awk -v a="$up_mbs" -v b="$cp_mbs" \
    'BEGIN {printf "| 1 GB raw upload, MB/s | %.0f | %.0f (cp + sync) | %.2f | |\n", a, b, a / b}'
awk -v r="$rss_kb" 'BEGIN {printf "| worker peak RSS over the run | %.1f MB | | | < 64 MB |\n", r / 1024}'
echo
echo "Medians of $runs runs; wrk -t2 -c$conns -d${secs}s."
