#!/bin/sh
# Runs filigrane: the worker and Debian's nginx in front of it, both in the
# foreground of this script, until Ctrl-C or SIGTERM stops both.
#
# Settings (README, "Configuration"): FILIGRANE_PORT (8080), FILIGRANE_DATA
# (./var), FILIGRANE_JWT_SECRET, FILIGRANE_WEBHOOK_SECRET, FILIGRANE_MARK_KEY
# (each generated into $FILIGRANE_DATA/secrets.env when unset),
# FILIGRANE_SIGNING_KEY_FILE (generated as $FILIGRANE_DATA/signing-key.pem,
# 0600, when unset), and the worker's
# own. FILIGRANE_BIN names the build to run (default ./bin). With
# FILIGRANE_QUIET=1 it prints only the URL line (the tests use it).
#
# Run as root, it runs nothing as root but nginx's master: nginx's workers
# and the worker run as FILIGRANE_USER (default filigrane, a system user
# made here if missing), which owns the data directory (README, "Users").
set -eu
# Everything made here is the service user's alone: secrets, database,
# blobs, logs (0600 files, 0700 directories).
umask 077
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${FILIGRANE_BIN:-$top/bin}
port=${FILIGRANE_PORT:-8080}
data=$("$top/scripts/data-dir.sh" "$top")
mkdir -p "$data"
data=$(cd "$data" && pwd)
export FILIGRANE_DATA="$data"
mkdir -p "$data/run" "$data/log" "$data/tmp/body" "$data/blobs" "$data/nginx"

# Development secrets: made once, kept in the data directory (0600), and
# used unless the environment sets its own.
secrets="$data/secrets.env"
if [ ! -f "$secrets" ]; then
    {
        echo "FILIGRANE_JWT_SECRET=$(openssl rand -hex 32)"
        echo "FILIGRANE_WEBHOOK_SECRET=whsec_$(openssl rand -base64 32)"
    } >"$secrets"
    new_secrets=1
fi
# Added to a secrets file made before /metrics needed a token.
grep -q '^FILIGRANE_METRICS_TOKEN=' "$secrets" ||
    echo "FILIGRANE_METRICS_TOKEN=$(openssl rand -hex 32)" >>"$secrets"
# The key of the mark's placement, added to a secrets file made before it.
if ! grep -q '^FILIGRANE_MARK_KEY=' "$secrets"; then
    echo "FILIGRANE_MARK_KEY=$(openssl rand -hex 32)" >>"$secrets"
fi
# The evidence signing key (Ed25519, PEM, 0600): made once, next to the
# other secrets; the worker refuses it unless the service user owns it
# and no one else can read it.
if [ -z "${FILIGRANE_SIGNING_KEY_FILE:-}" ]; then
    if [ ! -f "$data/signing-key.pem" ]; then
        (umask 077 && openssl genpkey -algorithm ed25519 -out "$data/signing-key.pem.tmp" &&
            mv "$data/signing-key.pem.tmp" "$data/signing-key.pem") || {
            echo "filigrane: cannot make the evidence signing key" >&2
            exit 1
        }
    fi
    export FILIGRANE_SIGNING_KEY_FILE="$data/signing-key.pem"
fi
jwt_file=$(sed -n 's/^FILIGRANE_JWT_SECRET=//p' "$secrets")
hook_file=$(sed -n 's/^FILIGRANE_WEBHOOK_SECRET=//p' "$secrets")
metrics_file=$(sed -n 's/^FILIGRANE_METRICS_TOKEN=//p' "$secrets")
mark_file=$(sed -n 's/^FILIGRANE_MARK_KEY=//p' "$secrets")
# Only a secret this script made (secrets.env) is ever printed; one that
# came from the environment is the operator's and stays unseen.
jwt_shown="(from the environment, not shown)"
hook_shown="(from the environment, not shown)"
metrics_shown="(from the environment, not shown)"
# A secret the operator set, as the variable or as its _FILE (read by the
# worker itself), is left alone: filling in the other would be refused.
# set_default VAR VALUE: exports VAR=VALUE unless VAR or VAR_FILE is set;
# fails (status 1) when it left it alone.
set_default() {
    eval "cur=\${$1:-}; cur_file=\${$1_FILE:-}"
    [ -z "$cur" ] && [ -z "$cur_file" ] || return 1
    eval "$1=\$2; export $1"
}
set_default FILIGRANE_JWT_SECRET "$jwt_file" && jwt_shown=$jwt_file
set_default FILIGRANE_WEBHOOK_SECRET "$hook_file" && hook_shown=$hook_file
set_default FILIGRANE_METRICS_TOKEN "$metrics_file" && metrics_shown=$metrics_file
set_default FILIGRANE_MARK_KEY "$mark_file" || :

if [ "$(id -u)" = 0 ]; then
    user=${FILIGRANE_USER:-filigrane}
    if ! id -u "$user" >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$user" || {
            echo "filigrane: cannot create the system user $user (FILIGRANE_USER)" >&2
            exit 1
        }
        echo "filigrane: created the system user $user (FILIGRANE_USER)" >&2
    fi
    group=$(id -gn "$user")
    if [ "$(id -u "$user")" = 0 ]; then
        echo "filigrane: FILIGRANE_USER must not be root" >&2
        exit 1
    fi
    # The worker and nginx's workers open these as the service user; the
    # links in the tree are not followed (-h, and find does not descend
    # through them).
    find "$data" \( ! -user "$user" -o ! -group "$group" \) -exec chown -h "$user:$group" {} +
    # The checkout may sit where that user cannot enter (/root is 0700):
    # the worker is started as root and pins what it needs from there before
    # it drops, but the data directory must be reachable by the user itself.
    if ! setpriv --reuid="$user" --regid="$group" --clear-groups test -x "$data/."; then
        echo "filigrane: user $user cannot reach $data (a parent directory is closed to it);" \
            "set FILIGRANE_DATA to a directory it can enter, e.g. /var/lib/filigrane" >&2
        exit 1
    fi
    export FILIGRANE_USER="$user"
fi
# Owner only, also for a data directory made by an older version.
find "$data" ! -type l -perm /077 -exec chmod go-rwx {} +

# The order page: nginx's workers run as the service user, who may not
# enter the checkout (/root is 0700), so the page is served from a copy
# in the data directory, made afresh at each start, with tus-js-client's
# browser bundle (web/package.json, installed by `make deps`) beside it.
rm -rf "$data/web.new"
mkdir -p "$data/web.new"
cp "$top"/web/*.html "$top"/web/*.css "$top"/web/*.js "$data/web.new/"
tus_js="$top/web/node_modules/tus-js-client/dist/tus.min.js"
if [ -f "$tus_js" ]; then
    cp "$tus_js" "$data/web.new/tus.min.js"
else
    echo "filigrane: $tus_js is missing (make deps): the seller's upload page will not work" >&2
fi
[ -n "${FILIGRANE_USER:-}" ] && chown -R "$FILIGRANE_USER:$(id -gn "$FILIGRANE_USER")" "$data/web.new"
rm -rf "$data/web"
mv "$data/web.new" "$data/web"

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
    echo "  FILIGRANE_JWT_SECRET=$jwt_shown"
    echo "  FILIGRANE_WEBHOOK_SECRET=$hook_shown"
    echo "  FILIGRANE_METRICS_TOKEN=$metrics_shown"
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
