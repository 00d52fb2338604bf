#!/bin/sh
# Writes the nginx configuration for one filigrane data directory.
#   scripts/nginx-conf.sh DATA PORT SOCKET MAX_DELIVERY_BYTES > nginx.conf
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
sed -e "s|@DATA@|$data|g" -e "s|@PORT@|$port|g" -e "s|@SOCKET@|$socket|g" \
    -e "s|@MAX_DELIVERY_BYTES@|$max|g" -e "s|@USER_LINE@|$user_line|g" \
    "$top/nginx.conf"
