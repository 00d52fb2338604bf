#!/bin/sh
# tus benchmark: one 1 GB file uploaded with tus 1.0 in 64 MB chunks
# (curl PATCHes through nginx, each chunk spooled by nginx, then appended
# and hashed by the worker), against `cp` of the same file on the same
# file system in the same run; then finished into a delivery. Reports
# MB/s and the worker's peak resident memory (VmHWM) before and after:
# memory stays flat whatever the size, since a chunk goes through one
# FG_TUS_BUFFER_BYTES buffer.
#
# Prints a Markdown table. These are figures, not pass/fail targets.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${FILIGRANE_BIN:-$top/bin}
mb=${BENCH_TUS_MB:-1024}
chunk_mb=64
work=$(mktemp -d /tmp/filigrane-bench-tus.XXXXXX)
chmod 755 "$work"
export FILIGRANE_DATA="$work/data" FILIGRANE_PORT=$((20000 + ($$ + 4099) % 20000))
export FILIGRANE_JWT_SECRET=$(openssl rand -hex 32)
export FILIGRANE_WEBHOOK_SECRET="whsec_$(openssl rand -base64 32)"
export FILIGRANE_QUIET=1 FILIGRANE_BIN="$bin"
export FILIGRANE_MAX_FILE_BYTES=2G FILIGRANE_MAX_DELIVERY_BYTES=2G
export FILIGRANE_RATE_UPLOADS=1000 FILIGRANE_RATE_WEBHOOKS=1000 FILIGRANE_RATE_TUS=1000
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
worker=$(pgrep -P "$svc_pid" -x filigrane-fcgi | head -n 1)

hook() {
    id="msg_$(openssl rand -hex 8)" ts=$(date +%s)
    key=$(printf '%s' "${FILIGRANE_WEBHOOK_SECRET#whsec_}" | openssl base64 -d -A | od -An -tx1 | tr -d ' \n')
    sig=$(printf '%s.%s.%s' "$id" "$ts" "$1" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | openssl base64 -A)
    curl -sf -X POST "$url/v1/hooks/orders" -H "webhook-id: $id" -H "webhook-timestamp: $ts" \
        -H "webhook-signature: v1,$sig" --data-binary "$1" >/dev/null
}
hook '{"type":"order.created","data":{"order_id":"ord-tus","seller_id":"s-b","buyer_id":"b-b","buyer_name":"Bench"}}'
seller=$("$bin/filigrane" token --role seller --sub s-b --ord ord-tus --ttl 7200)
hwm() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$1/status"; }
now() { date +%s.%N; }

# The file, and its chunks (cut before the clock starts).
head -c $((mb * 1048576)) /dev/urandom >"$work/file.bin"
mkdir "$work/chunks"
split -b ${chunk_mb}M -d -a 3 "$work/file.bin" "$work/chunks/c"
sync

t0=$(now)
cp "$work/file.bin" "$work/copy.bin"
sync
t1=$(now)
rm -f "$work/copy.bin"

rss0=$(hwm "$worker")
t2=$(now)
loc=$(curl -sf -D - -o /dev/null -X POST "$url/v1/orders/ord-tus/uploads" \
    -H "Authorization: Bearer $seller" -H "Tus-Resumable: 1.0.0" \
    -H "Upload-Length: $((mb * 1048576))" \
    -H "Upload-Metadata: filename $(printf 'bench.bin' | base64)" |
    tr -d '\r' | awk -F': ' 'tolower($1) == "location" {print $2}')
offset=0
for c in "$work"/chunks/c*; do
    size=$(stat -c %s "$c")
    curl -sf -o /dev/null -X PATCH "$url$loc" -H "Authorization: Bearer $seller" \
        -H "Tus-Resumable: 1.0.0" -H "Upload-Offset: $offset" \
        -H "Content-Type: application/offset+octet-stream" -H "Expect:" -T "$c"
    offset=$((offset + size))
done
t3=$(now)
rss_patch=$(hwm "$worker")
id=${loc##*/}
code=$(curl -s -o "$work/delivery.json" -w '%{http_code}' -X POST "$url/v1/orders/ord-tus/deliveries" \
    -H "Authorization: Bearer $seller" -H "Content-Type: application/json" \
    --data-binary "{\"uploads\":[\"$id\"],\"message\":\"bench\"}")
t4=$(now)
rss1=$(hwm "$worker")
want=$(sha256sum "$work/file.bin" | cut -c1-64)
got=$(ls "$FILIGRANE_DATA/blobs/sha256/"*/*/ 2>/dev/null | grep -c "$want" || true)

echo "### tus upload: $mb MB in $chunk_mb MB chunks"
echo
echo "| measure | value |"
echo "|---|---|"
awk -v a="$t0" -v b="$t1" -v mb="$mb" 'BEGIN {printf "| cp of the same file (same file system, synced) | %.0f MB/s (%.1f s) |\n", mb / (b - a), b - a}'
awk -v a="$t2" -v b="$t3" -v mb="$mb" 'BEGIN {printf "| tus creation + %d PATCHes through nginx (spooled, appended, hashed twice, fdatasync) | %.0f MB/s (%.1f s) |\n", mb / 64, mb / (b - a), b - a}'
awk -v a="$t3" -v b="$t4" 'BEGIN {printf "| finishing into a delivery (JSON body: link, store, record) | %.2f s |\n", b - a}'
echo "| delivery answered | $code; blob stored with the file's sha256: $([ "$got" -ge 1 ] && echo yes || echo NO) |"
echo "| worker peak RSS (VmHWM): idle / after the PATCHes / after finishing | $rss0 MB / $rss_patch MB / $rss1 MB |"
