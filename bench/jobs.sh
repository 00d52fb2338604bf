#!/bin/sh
# Jobs benchmark: a delivery is answered before its previews are made.
#
#  1. The time to the 201 of one delivery of 50 files of 20 MB each (1 GB,
#     multipart, through nginx): what the request does is store, hash and
#     record; the previews are the job runners'.
#  2. Previews per minute with 2 runners (FILIGRANE_JOB_THREADS=2): from
#     the 201 to the delivery's "ready", 50 stamps of a 20 MB JPEG.
#  3. Queue wait: how long jobs waited for a runner (mean from
#     filigrane_job_wait_seconds, and the longest bucket reached).
#
# Prints a Markdown table. These are figures, not pass/fail targets.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${FILIGRANE_BIN:-$top/bin}
nfiles=${BENCH_FILES:-50}
work=$(mktemp -d /tmp/filigrane-bench-jobs.XXXXXX)
chmod 755 "$work"
export FILIGRANE_DATA="$work/data" FILIGRANE_PORT=$((20000 + ($$ + 7919) % 20000))
export FILIGRANE_JWT_SECRET=$(openssl rand -hex 32)
export FILIGRANE_WEBHOOK_SECRET="whsec_$(openssl rand -base64 32)"
export FILIGRANE_METRICS_TOKEN=$(openssl rand -hex 16)
export FILIGRANE_QUIET=1 FILIGRANE_BIN="$bin" FILIGRANE_JOB_THREADS=2
export FILIGRANE_MAX_FILE_BYTES=64M FILIGRANE_MAX_DELIVERY_BYTES=2G
export FILIGRANE_RATE_UPLOADS=1000 FILIGRANE_RATE_WEBHOOKS=1000
url="http://127.0.0.1:$FILIGRANE_PORT"
svc_pid=""
cleanup() {
    [ -n "$svc_pid" ] && kill -TERM "$svc_pid" 2>/dev/null && wait "$svc_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$top/scripts/run.sh" >/dev/null 2>&1 &
svc_pid=$!
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

hook() {
    id="msg_$(openssl rand -hex 8)" ts=$(date +%s)
    key=$(printf '%s' "${FILIGRANE_WEBHOOK_SECRET#whsec_}" | openssl base64 -d -A | od -An -tx1 | tr -d ' \n')
    sig=$(printf '%s.%s.%s' "$id" "$ts" "$1" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | openssl base64 -A)
    curl -sf -X POST "$url/v1/hooks/orders" -H "webhook-id: $id" -H "webhook-timestamp: $ts" \
        -H "webhook-signature: v1,$sig" --data-binary "$1" >/dev/null
}
hook '{"type":"order.created","data":{"order_id":"ord-jobs","seller_id":"s-b","buyer_id":"b-b","buyer_name":"Bench"}}'
seller=$("$bin/filigrane" token --role seller --sub s-b --ord ord-jobs --ttl 7200)

# A 20 MB photo-like JPEG (noise at full quality), then 50 files that
# differ in their last bytes (after the image's end): 50 distinct blobs,
# 50 real stamps.
vips gaussnoise "$work/n.v" 4400 3300 --sigma 40 --mean 128
vips copy "$work/n.v" "$work/base.jpg[Q=100]"
size=$(stat -c %s "$work/base.jpg")
want=$((20 * 1024 * 1024))
[ "$size" -lt "$want" ] && head -c $((want - size - 16)) /dev/urandom >"$work/pad" || : >"$work/pad"
set --
for i in $(seq "$nfiles"); do
    { cat "$work/base.jpg" "$work/pad"; printf '%016d' "$i"; } >"$work/f$i.jpg"
    set -- "$@" -F "file=@$work/f$i.jpg"
done
mb=$(du -cm "$work"/f*.jpg | tail -n 1 | cut -f1)
sync

t0=$(date +%s.%N)
code=$(curl -s -o "$work/delivery.json" -w '%{http_code}' -H "Authorization: Bearer $seller" \
    -H "Expect:" "$@" "$url/v1/orders/ord-jobs/deliveries")
t1=$(date +%s.%N)
[ "$code" = 201 ] || { echo "bench: the delivery was answered $code" >&2; cat "$work/delivery.json" >&2; exit 1; }
processing=$(grep -o '"preview":"processing"' "$work/delivery.json" | wc -l)

# Until the delivery is ready (or failed).
state=processing
while [ "$state" = processing ]; do
    sleep 0.2
    state=$(curl -sf -H "Authorization: Bearer $seller" "$url/v1/orders/ord-jobs" |
        sed -n 's/.*"number":1,[^]]*"state":"\([a-z]*\)".*/\1/p' | head -n 1)
    [ -n "$state" ] || state=processing
done
t2=$(date +%s.%N)
curl -sf -H "Authorization: Bearer $FILIGRANE_METRICS_TOKEN" "$url/metrics" >"$work/metrics"
wait_sum=$(awk '$1 == "filigrane_job_wait_seconds_sum" {print $2}' "$work/metrics")
wait_n=$(awk '$1 == "filigrane_job_wait_seconds_count" {print $2}' "$work/metrics")
stamp_sum=$(awk '$1 == "filigrane_stamp_duration_seconds_sum" {print $2}' "$work/metrics")
# The smallest bucket holding every job: the longest wait's upper bound.
wait_max=$(awk -v n="$wait_n" '/^filigrane_job_wait_seconds_bucket/ && $2 == n {
    v=$1; sub(/.*le="/,"",v); sub(/".*/,"",v); print v; exit}' "$work/metrics")

echo "### Jobs ($(date -u +%Y-%m-%d), $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1))"
echo
echo "| measure | value |"
echo "|---|---|"
echo "$t1 $t0 $mb $nfiles $processing" |
    awk '{printf "| time to the 201, one delivery of %d files of 20 MB (%d MB, multipart) | %.2f s (%d files processing in the answer) |\n", $4, $3, $1 - $2, $5}'
echo "$t2 $t1 $nfiles $state" |
    awk '{printf "| previews per minute, 2 runners (20 MB JPEGs, 201 to %s) | %.1f (%d in %.1f s) |\n", $4, 60 * $3 / ($1 - $2), $3, $1 - $2}'
echo "$stamp_sum $wait_n" | awk '{printf "| mean stamping time | %.2f s |\n", $1 / ($2 ? $2 : 1)}'
echo "$wait_sum $wait_n $wait_max" |
    awk '{printf "| queue wait, mean / longest (bucket) | %.1f s / <= %s s |\n", $1 / ($2 ? $2 : 1), $3}'
