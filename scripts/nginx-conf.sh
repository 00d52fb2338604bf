#!/bin/sh
# Writes the nginx configuration for one filigrane data directory.
#   scripts/nginx-conf.sh DATA PORT SOCKET MAX_DELIVERY_BYTES > nginx.conf
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
data=$1 port=$2 socket=$3 max=$4
# Started as root, nginx's workers would run as nobody; they only need to
# read blobs, write body temp files and reach the socket, all in the data
# directory, so they run as the data directory's owner instead.
user_line=""
if [ "$(id -u)" = 0 ]; then
    owner=$(stat -c %U "$data")
    group=$(stat -c %G "$data")
    user_line="user $owner $group;"
fi
sed -e "s|@DATA@|$data|g" -e "s|@PORT@|$port|g" -e "s|@SOCKET@|$socket|g" \
    -e "s|@MAX_DELIVERY_BYTES@|$max|g" -e "s|@USER_LINE@|$user_line|g" \
    "$top/nginx.conf"
