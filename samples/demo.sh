#!/bin/sh
# The whole story against a running filigrane (`make run` in another
# terminal), with curl: order created, delivery uploaded, preview fetched,
# original refused, acceptance webhook, original downloaded and checked.
#
#   samples/demo.sh [URL]        (default http://127.0.0.1:${FILIGRANE_PORT:-8080})
#
# Reads the secrets the way `make run` does: from the environment, else from
# $FILIGRANE_DATA/secrets.env (default: as `make run`, scripts/data-dir.sh).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
url=${1:-http://127.0.0.1:${FILIGRANE_PORT:-8080}}
data=$("$top/scripts/data-dir.sh" "$top")
bin=${FILIGRANE_BIN:-$top/bin}
if [ -f "$data/secrets.env" ]; then
    : "${FILIGRANE_JWT_SECRET:=$(sed -n 's/^FILIGRANE_JWT_SECRET=//p' "$data/secrets.env")}"
    : "${FILIGRANE_WEBHOOK_SECRET:=$(sed -n 's/^FILIGRANE_WEBHOOK_SECRET=//p' "$data/secrets.env")}"
fi
export FILIGRANE_JWT_SECRET FILIGRANE_WEBHOOK_SECRET
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

order="ord-demo-$(date +%s)"
step() { printf '\n== %s\n' "$*"; }

# Signs a webhook body as the order system does (Standard Webhooks).
hook() { # body
    id="msg_$(openssl rand -hex 8)"
    ts=$(date +%s)
    key=$(printf '%s' "${FILIGRANE_WEBHOOK_SECRET#whsec_}" | openssl base64 -d -A | od -An -tx1 | tr -d ' \n')
    sig=$(printf '%s.%s.%s' "$id" "$ts" "$1" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | openssl base64 -A)
    curl -sS -X POST "$url/v1/hooks/orders" -H "webhook-id: $id" -H "webhook-timestamp: $ts" \
        -H "webhook-signature: v1,$sig" -H 'Content-Type: application/json' --data-binary "$1"
    echo
}

step "the order system creates $order"
hook "{\"type\":\"order.created\",\"timestamp\":\"$(date -u +%FT%TZ)\",\"data\":{\"order_id\":\"$order\",\"seller_id\":\"s-demo\",\"buyer_id\":\"b-demo\",\"buyer_name\":\"Zoë Martin\"}}"
seller=$("$bin/filigrane" token --role seller --sub s-demo --ord "$order" --ttl 3600)
buyer=$("$bin/filigrane" token --role buyer --sub b-demo --ord "$order" --ttl 3600)

step "the seller delivers a photo"
vips gaussnoise "$work/noise.v" 1600 1200
vips copy "$work/noise.v" "$work/photo.jpg"
curl -sS -H "Authorization: Bearer $seller" -F "message=first version" \
    -F "file=@$work/photo.jpg;filename=photo final.jpg" "$url/v1/orders/$order/deliveries" | tee "$work/delivery.json"
echo
file_id=$(sed -n 's/.*"id":"\([0-9a-f]\{32\}\)".*/\1/p' "$work/delivery.json")

step "the delivery is answered at once (processing); a job runner makes the preview"
for _ in $(seq 100); do
    state=$(curl -sS -H "Authorization: Bearer $seller" "$url/v1/orders/$order" |
        sed -n 's/.*"number":1,[^]]*"state":"\([a-z]*\)".*/\1/p' | head -n 1)
    [ -n "$state" ] && [ "$state" != processing ] && break
    sleep 0.2
done
echo "delivery 1: $state"

step "the buyer fetches the watermarked preview"
curl -sS -o "$work/preview.jpg" -w 'HTTP %{http_code} %{content_type} %{size_download} bytes\n' \
    -H "Authorization: Bearer $buyer" "$url/v1/files/$file_id/preview"

step "the buyer asks for the original before acceptance (refused)"
curl -sS -w '\nHTTP %{http_code}\n' -H "Authorization: Bearer $buyer" "$url/v1/files/$file_id/original"

step "the order system accepts the order"
hook "{\"type\":\"order.accepted\",\"timestamp\":\"$(date -u +%FT%TZ)\",\"data\":{\"order_id\":\"$order\"}}"

step "the buyer downloads the original"
curl -sS -o "$work/original.jpg" -w 'HTTP %{http_code} %{size_download} bytes\n' \
    -H "Authorization: Bearer $buyer" "$url/v1/files/$file_id/original"
up=$(sha256sum <"$work/photo.jpg" | cut -d' ' -f1)
down=$(sha256sum <"$work/original.jpg" | cut -d' ' -f1)
echo "uploaded   sha256 $up"
echo "downloaded sha256 $down"
if [ "$up" = "$down" ]; then
    echo "the original came back byte for byte"
else
    echo "MISMATCH: the original did not come back intact" >&2
    exit 1
fi

step "the evidence trail"
curl -sS -H "Authorization: Bearer $buyer" "$url/v1/orders/$order/audit" | head -c 1500
echo
