#!/bin/sh
# Runs filigrane as a cluster on one machine: a PostgreSQL server, an S3
# server and two nodes (each nginx + worker, through scripts/run.sh) that
# share them, until Ctrl-C or SIGTERM stops everything.
#
# Everything lives under the data directory's cluster/ folder (README,
# "Several nodes"), so `make run`'s single node and the cluster never share
# a database:
#   cluster/secrets.env   the secrets both nodes share (made once, 0600)
#   cluster/pg/           PostgreSQL (scripts/pg.sh), on FILIGRANE_CLUSTER_PG_PORT
#   cluster/s3/           the S3 server (scripts/s3-server.sh), on FILIGRANE_CLUSTER_S3_PORT
#   cluster/node1/, node2/  each node's FILIGRANE_DATA: its nginx conf, pid,
#                         socket, scratch, logs; nodes on FILIGRANE_PORT, +1
#
# With FILIGRANE_DATABASE_URL set, no PostgreSQL is started: the nodes use
# that one (a managed server). With FILIGRANE_S3_ENDPOINT set, no S3 server
# is started: the nodes use it, with the FILIGRANE_S3_* settings given.
#
# A node that stops is reported and the others run on (that is what a
# cluster is for); when none is left, or at Ctrl-C, everything stops.
# FILIGRANE_QUIET=1 prints only the URL lines (the tests use it).
set -eu
umask 077
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${FILIGRANE_BIN:-$top/bin}
export FILIGRANE_BIN="$bin"

die() {
    echo "filigrane cluster: $*" >&2
    exit 1
}

# A port setting: a whole number, 1 to 65535.
port_of() { # NAME DEFAULT
    v=$(eval "printf %s \"\${$1:-$2}\"")
    case $v in
    '' | *[!0-9]* | 0*) die "$1 must be a port number, 1 to 65535" ;;
    esac
    { [ ${#v} -le 5 ] && [ "$v" -le 65535 ]; } || die "$1 must be a port number, 1 to 65535"
    printf %s "$v"
}
port=$(port_of FILIGRANE_PORT 8080)
[ "$port" -lt 65535 ] || die "FILIGRANE_PORT must leave room for the second node (FILIGRANE_PORT+1)"
port2=$((port + 1))
pg_port=$(port_of FILIGRANE_CLUSTER_PG_PORT $(((port + 2) % 65536)))
s3_port=$(port_of FILIGRANE_CLUSTER_S3_PORT $(((port + 3) % 65536)))

base=$("$top/scripts/data-dir.sh" "$top")
mkdir -p "$base/cluster"
root=$(cd "$base/cluster" && pwd)

# The URL with its password replaced, in the user part and in a
# password= parameter (libpq takes both): the only form ever printed.
hide_password() {
    printf '%s\n' "$1" |
        sed -e 's|^\([a-z]*://[^:/@?#]*\):[^/?#]*@|\1:***@|' -e 's|\([?&]password=\)[^&#]*|\1***|g'
}

# ---- the secrets both nodes share (a token minted for one is good on
# the other; a webhook may land on either) ----
secrets="$root/secrets.env"
if [ ! -f "$secrets" ]; then
    {
        echo "FILIGRANE_JWT_SECRET=$(openssl rand -hex 32)"
        echo "FILIGRANE_WEBHOOK_SECRET=whsec_$(openssl rand -base64 32)"
        echo "FILIGRANE_METRICS_TOKEN=$(openssl rand -hex 32)"
        echo "FILIGRANE_MARK_KEY=$(openssl rand -hex 32)"
    } >"$secrets"
    new_secrets=1
fi
from_file() { sed -n "s/^$1=//p" "$secrets"; }
shown() { # NAME: the generated value, or a note when the environment set it
    if [ -n "$(eval "printf %s \"\${$1:-}\"")" ]; then
        echo "(from the environment, not shown)"
    else
        from_file "$1"
    fi
}
jwt_shown=$(shown FILIGRANE_JWT_SECRET)
hook_shown=$(shown FILIGRANE_WEBHOOK_SECRET)
metrics_shown=$(shown FILIGRANE_METRICS_TOKEN)
export FILIGRANE_JWT_SECRET="${FILIGRANE_JWT_SECRET:-$(from_file FILIGRANE_JWT_SECRET)}"
export FILIGRANE_WEBHOOK_SECRET="${FILIGRANE_WEBHOOK_SECRET:-$(from_file FILIGRANE_WEBHOOK_SECRET)}"
export FILIGRANE_METRICS_TOKEN="${FILIGRANE_METRICS_TOKEN:-$(from_file FILIGRANE_METRICS_TOKEN)}"
export FILIGRANE_MARK_KEY="${FILIGRANE_MARK_KEY:-$(from_file FILIGRANE_MARK_KEY)}"

# Run as root, the parts run as the service user (scripts/run.sh and
# scripts/pg.sh; the S3 server is scripts/s3-server.sh's), who must own
# and reach the cluster's directory: made here as run.sh would make it.
if [ "$(id -u)" = 0 ]; then
    user=${FILIGRANE_USER:-filigrane}
    if ! id -u "$user" >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$user" || die "cannot create the system user $user (FILIGRANE_USER)"
        echo "filigrane cluster: created the system user $user (FILIGRANE_USER)" >&2
    fi
    [ "$(id -u "$user")" != 0 ] || die "FILIGRANE_USER must not be root"
    chown "$user:$(id -gn "$user")" "$root"
    if ! setpriv --reuid="$user" --regid="$(id -gn "$user")" --clear-groups test -x "$root/."; then
        die "user $user cannot reach $root (a parent directory is closed to it);" \
            "set FILIGRANE_DATA to a directory it can enter, e.g. /var/lib/filigrane"
    fi
    export FILIGRANE_USER="$user"
fi

# The evidence signing key both nodes sign with (Ed25519, 0600, the
# service user's): one key, so /v1/keys on either node checks a bundle
# made by the other.
if [ -z "${FILIGRANE_SIGNING_KEY_FILE:-}" ]; then
    key="$root/signing-key.pem"
    if [ ! -f "$key" ]; then
        (umask 077 && openssl genpkey -algorithm ed25519 -out "$key.tmp" && mv "$key.tmp" "$key") ||
            die "cannot make the evidence signing key"
    fi
    [ -n "${FILIGRANE_USER:-}" ] && chown "$FILIGRANE_USER:$(id -gn "$FILIGRANE_USER")" "$key"
    export FILIGRANE_SIGNING_KEY_FILE="$key"
fi

pg_started="" s3_started="" node1_pid="" node2_pid=""
stop() { # EXIT-STATUS
    trap - INT TERM EXIT
    # The nodes first (each run.sh stops its nginx and its worker), then
    # what they use.
    for p in $node1_pid $node2_pid; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $node1_pid $node2_pid; do wait "$p" 2>/dev/null || true; done
    if [ -n "$s3_started" ]; then
        "$top/scripts/s3-server.sh" stop "$root/s3" >/dev/null 2>>"$root/s3.log" ||
            echo "filigrane cluster: the S3 server did not stop cleanly (see $root/s3.log)" >&2
    fi
    if [ -n "$pg_started" ] && [ -f "$root/pg/data/postmaster.pid" ]; then
        "$top/scripts/pg.sh" stop "$root/pg" >/dev/null 2>>"$root/pg.log" ||
            echo "filigrane cluster: PostgreSQL did not stop cleanly (see $root/pg.log)" >&2
    fi
    exit "$1"
}
# Ctrl-C and SIGTERM are the way to stop it: status 0, as `make run`.
trap 'stop 0' INT TERM
trap 'stop $?' EXIT

# ---- PostgreSQL ----
if [ -n "${FILIGRANE_DATABASE_URL:-}" ]; then
    db_where="$(hide_password "$FILIGRANE_DATABASE_URL") (FILIGRANE_DATABASE_URL, not started here)"
else
    [ -x "$top/scripts/pg.sh" ] || die "scripts/pg.sh is missing"
    pg_started=1
    url=$("$top/scripts/pg.sh" start "$root/pg" "$pg_port" 2>>"$root/pg.log") || {
        tail -n 5 "$root/pg.log" >&2
        die "PostgreSQL did not start on 127.0.0.1:$pg_port (FILIGRANE_CLUSTER_PG_PORT; see $root/pg.log)"
    }
    export FILIGRANE_DATABASE_URL="$url"
    db_where="$(hide_password "$url") (in $root/pg)"
fi

# ---- the S3 server ----
if [ -n "${FILIGRANE_S3_ENDPOINT:-}" ]; then
    s3_where="$FILIGRANE_S3_ENDPOINT bucket ${FILIGRANE_S3_BUCKET:-?} (FILIGRANE_S3_ENDPOINT, not started here)"
else
    [ -x "$top/scripts/s3-server.sh" ] || die "scripts/s3-server.sh is missing"
    s3_started=1
    "$top/scripts/s3-server.sh" start "$root/s3" "$s3_port" >"$root/s3.env" 2>>"$root/s3.log" || {
        tail -n 5 "$root/s3.log" >&2
        die "the S3 server did not start on 127.0.0.1:$s3_port (FILIGRANE_CLUSTER_S3_PORT; see $root/s3.log)"
    }
    # s3-server.sh prints the settings that reach it (FILIGRANE_S3_*=...).
    while IFS= read -r line; do
        case $line in
        FILIGRANE_S3_*=*) export "$line" ;;
        esac
    done <"$root/s3.env"
    export FILIGRANE_S3_ENDPOINT="${FILIGRANE_S3_ENDPOINT:-http://127.0.0.1:$s3_port}"
    s3_where="$FILIGRANE_S3_ENDPOINT bucket ${FILIGRANE_S3_BUCKET:-?} (in $root/s3)"
fi

# ---- the nodes: each its own data directory (nginx conf, pid, socket,
# scratch, logs); the shared state is in PostgreSQL and S3 ----
unset FILIGRANE_SOCKET FILIGRANE_SCRATCH
start_node() { # N PORT
    d="$root/node$1"
    mkdir -p "$d/log"
    # Each run.sh in its own process group, so that stopping one node
    # (or its dying) leaves the other alone.
    FILIGRANE_DATA="$d" FILIGRANE_PORT="$2" FILIGRANE_QUIET=1 \
        setsid "$top/scripts/run.sh" >"$d/log/run.log" 2>&1 &
    pid=$!
    eval "node$1_pid=$pid"
    i=0
    until curl -sf -o /dev/null "http://127.0.0.1:$2/healthz"; do
        i=$((i + 1))
        if ! kill -0 "$pid" 2>/dev/null || [ $i -gt 600 ]; then
            cat "$d/log/run.log" >&2
            die "node $1 did not start on 127.0.0.1:$2 (see $d/log/)"
        fi
        sleep 0.1
    done
}
start_node 1 "$port"
start_node 2 "$port2"

url1="http://127.0.0.1:$port"
url2="http://127.0.0.1:$port2"
echo "filigrane cluster: node 1 on $url1, node 2 on $url2 (data in $root)"
if [ "${FILIGRANE_QUIET:-0}" != 1 ]; then
    [ -n "${new_secrets:-}" ] && echo "filigrane cluster: new development secrets written to $secrets"
    echo "  PostgreSQL: $db_where"
    echo "  S3: $s3_where"
    echo "  FILIGRANE_JWT_SECRET=$jwt_shown"
    echo "  FILIGRANE_WEBHOOK_SECRET=$hook_shown"
    echo "  FILIGRANE_METRICS_TOKEN=$metrics_shown"
    echo "  seller token (order ord-demo): $("$bin/filigrane" token --role seller --sub s-demo --ord ord-demo --ttl 86400)"
    echo "  buyer token  (order ord-demo): $("$bin/filigrane" token --role buyer --sub b-demo --ord ord-demo --ttl 86400)"
    # demo.sh reads the secrets from the environment, else from
    # $FILIGRANE_DATA/secrets.env: here, the cluster's.
    echo "  try: FILIGRANE_DATA=$root samples/demo.sh $url1   (a token is good on either node)"
    echo "  logs: $root/node1/log/ $root/node2/log/   stop: Ctrl-C"
fi

# The cluster runs while a node does.
while :; do
    for n in 1 2; do
        p=$(eval "printf %s \"\$node${n}_pid\"")
        [ -n "$p" ] || continue
        if ! kill -0 "$p" 2>/dev/null; then
            wait "$p" 2>/dev/null || true
            eval "node${n}_pid="
            echo "filigrane cluster: node $n stopped (see $root/node$n/log/)" >&2
        fi
    done
    if [ -z "$node1_pid$node2_pid" ]; then
        echo "filigrane cluster: no node is left; shutting down" >&2
        stop 1
    fi
    sleep 0.5
done
