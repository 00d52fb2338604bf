#!/bin/sh
# Writes the nginx configuration for one filigrane data directory.
#   scripts/nginx-conf.sh DATA PORT SOCKET MAX_DELIVERY_BYTES > nginx.conf
# and reads FILIGRANE_RATE_UPLOADS, FILIGRANE_RATE_WEBHOOKS and FILIGRANE_RATE_TUS itself.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
data=$1 port=$2 socket=$3 max=$4
# Started as root, nginx's workers would run as nobody; they read blobs,
# write body temp files and reach the socket, all 0600/0700 in the data
# directory, so they run as the worker's user (FILIGRANE_USER), the data
# directory's owner. Never as root.
user_line=""
if [ "$(id -u)" = 0 ]; then
    owner=${FILIGRANE_USER:-$(stat -c %U "$data")}
    group=$(id -gn "$owner")
    if [ "$(id -u "$owner")" = 0 ]; then
        echo "nginx-conf: refusing to run nginx's workers as root (data directory owned by root; set FILIGRANE_USER)" >&2
        exit 1
    fi
    user_line="user $owner $group;"
fi
# Per-client rates, requests per minute (README, Configuration). nginx
# lets `rate` through at once (burst = rate - 1), then one each 60/rate s.
rate() {
    v=$(eval "printf %s \"\${$1:-$2}\"")
    case $v in
    '' | *[!0-9]* | 0*)
        echo "filigrane: $1 must be a whole number of requests per minute, 1 to 1000000" >&2
        exit 2
        ;;
    esac
    if [ ${#v} -gt 7 ] || [ "$v" -gt 1000000 ]; then
        echo "filigrane: $1 must be a whole number of requests per minute, 1 to 1000000" >&2
        exit 2
    fi
    printf %s "$v"
}
rate_uploads=$(rate FILIGRANE_RATE_UPLOADS 30)
rate_webhooks=$(rate FILIGRANE_RATE_WEBHOOKS 600)
rate_tus=$(rate FILIGRANE_RATE_TUS 600)
# The order page's Content-Security-Policy (README, "The order page"):
# everything from this origin only, nothing inline; previews are shown as
# images and opened (PDFs) in their own tab, never embedded as plugins.
page_csp="default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self'; connect-src 'self'; frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
sed -e "s|@PAGE_CSP@|$page_csp|g" -e "s|@DATA@|$data|g" -e "s|@PORT@|$port|g" -e "s|@SOCKET@|$socket|g" \
    -e "s|@MAX_DELIVERY_BYTES@|$max|g" -e "s|@USER_LINE@|$user_line|g" \
    -e "s|@RATE_UPLOADS@|$rate_uploads|g" -e "s|@BURST_UPLOADS@|$((rate_uploads - 1))|g" \
    -e "s|@RATE_WEBHOOKS@|$rate_webhooks|g" -e "s|@BURST_WEBHOOKS@|$((rate_webhooks - 1))|g" \
    -e "s|@RATE_TUS@|$rate_tus|g" -e "s|@BURST_TUS@|$((rate_tus - 1))|g" \
    "$top/nginx.conf"
