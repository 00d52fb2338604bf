#!/bin/sh
# Runs filigrane: the worker and Debian's nginx in front of it, both in the
# foreground of this script, until Ctrl-C or SIGTERM stops both.
#
# Settings (README, "Configuration"): FILIGRANE_PORT (8080), FILIGRANE_DATA
# (./var), FILIGRANE_JWT_SECRET, FILIGRANE_WEBHOOK_SECRET, FILIGRANE_MARK_KEY
# (each generated into $FILIGRANE_DATA/secrets.env when unset), and the worker's
# own. FILIGRANE_BIN names the build to run (default ./bin). With
# FILIGRANE_QUIET=1 it prints only the URL line (the tests use it).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${FILIGRANE_BIN:-$top/bin}
port=${FILIGRANE_PORT:-8080}
data=${FILIGRANE_DATA:-./var}
mkdir -p "$data"
data=$(cd "$data" && pwd)
export FILIGRANE_DATA="$data"
mkdir -p "$data/run" "$data/log" "$data/tmp/body" "$data/blobs" "$data/nginx"

# Development secrets: made once, kept in the data directory (0600), and
# used unless the environment sets its own.
secrets="$data/secrets.env"
if [ ! -f "$secrets" ]; then
    umask 077
    {
        echo "FILIGRANE_JWT_SECRET=$(openssl rand -hex 32)"
        echo "FILIGRANE_WEBHOOK_SECRET=whsec_$(openssl rand -base64 32)"
    } >"$secrets"
    umask 022
    new_secrets=1
fi
# The key of the mark's placement, added to a secrets file made before it.
if ! grep -q '^FILIGRANE_MARK_KEY=' "$secrets"; then
    echo "FILIGRANE_MARK_KEY=$(openssl rand -hex 32)" >>"$secrets"
    new_secrets=1
fi
jwt_file=$(sed -n 's/^FILIGRANE_JWT_SECRET=//p' "$secrets")
hook_file=$(sed -n 's/^FILIGRANE_WEBHOOK_SECRET=//p' "$secrets")
mark_file=$(sed -n 's/^FILIGRANE_MARK_KEY=//p' "$secrets")
export FILIGRANE_JWT_SECRET="${FILIGRANE_JWT_SECRET:-$jwt_file}"
export FILIGRANE_WEBHOOK_SECRET="${FILIGRANE_WEBHOOK_SECRET:-$hook_file}"
export FILIGRANE_MARK_KEY="${FILIGRANE_MARK_KEY:-$mark_file}"

socket=${FILIGRANE_SOCKET:-$data/run/fcgi.sock}
export FILIGRANE_SOCKET="$socket"
# nginx and the worker read the same limit (the worker's default: 4G).
max=${FILIGRANE_MAX_DELIVERY_BYTES:-4G}
"$top/scripts/nginx-conf.sh" "$data" "$port" "$socket" "$max" >"$data/nginx/nginx.conf"

worker_pid=""
nginx_pid=""
stop() {
    trap - INT TERM EXIT
    [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null
    [ -n "$worker_pid" ] && kill -TERM "$worker_pid" 2>/dev/null
    wait 2>/dev/null
    exit 0
}
trap stop INT TERM EXIT

"$bin/filigrane-fcgi" 2>>"$data/log/worker.log" &
worker_pid=$!
i=0
while [ ! -S "$socket" ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$worker_pid" 2>/dev/null; then
        echo "filigrane: the worker did not start; see $data/log/worker.log" >&2
        tail -n 5 "$data/log/worker.log" >&2
        exit 1
    fi
    sleep 0.05
done
/usr/sbin/nginx -p "$data/nginx" -c "$data/nginx/nginx.conf" -e "$data/log/nginx-error.log" &
nginx_pid=$!

url="http://127.0.0.1:$port"
echo "filigrane: listening on $url (data in $data)"
if [ "${FILIGRANE_QUIET:-0}" != 1 ]; then
    [ -n "${new_secrets:-}" ] && echo "filigrane: new development secrets written to $secrets"
    echo "  FILIGRANE_JWT_SECRET=$FILIGRANE_JWT_SECRET"
    echo "  FILIGRANE_WEBHOOK_SECRET=$FILIGRANE_WEBHOOK_SECRET"
    echo "  seller token (order ord-demo): $("$bin/filigrane" token --role seller --sub s-demo --ord ord-demo --ttl 86400)"
    echo "  buyer token  (order ord-demo): $("$bin/filigrane" token --role buyer --sub b-demo --ord ord-demo --ttl 86400)"
    echo "  try: samples/demo.sh $url"
    echo "  logs: $data/log/   stop: Ctrl-C"
fi
# Either process ending ends the service.
while kill -0 "$worker_pid" 2>/dev/null && kill -0 "$nginx_pid" 2>/dev/null; do
    sleep 0.5
done
echo "filigrane: a process stopped; shutting down (see $data/log/)" >&2
stop
