#!/bin/sh
# scripts/nginx-conf.sh and blobs in S3: no /_s3/ location without
# FILIGRANE_S3_ENDPOINT; with it, one fixed upstream (loopback for
# *.localhost), the Host the URL is signed for (bucket.host with virtual
# addressing), TLS checked for https, nothing of the client's request but
# its Range; a hostile endpoint or bucket cannot write into the
# configuration. Every configuration written passes `nginx -t`.
. "$(dirname "$0")/lib.inc"
conf="$(dirname "$0")/../../scripts/nginx-conf.sh"
mkdir -p "$T/data/run" "$T/data/log" "$T/data/tmp"
user=$(id -un)
[ "$(id -u)" = 0 ] && user=nobody && chown nobody "$T/data"

gen() { # out, then VAR=value... for the environment
    out=$1
    shift
    env -u FILIGRANE_S3_ENDPOINT -u FILIGRANE_S3_BUCKET -u FILIGRANE_S3_ADDRESSING \
        FILIGRANE_USER=$user "$@" sh "$conf" "$T/data" 8080 "$T/data/run/fcgi.sock" 100 \
        >"$out" 2>"$T/err"
}

valid() { /usr/sbin/nginx -t -q -p "$T/data" -c "$1" -e "$T/data/log/e.log" 2>"$T/nginx-t"; }

gen "$T/local.conf"
ok $? "without FILIGRANE_S3_ENDPOINT the configuration is written"
! grep -q 'location ~ "^/_s3' "$T/local.conf" && ! grep -q 'upstream filigrane_s3' "$T/local.conf"
ok $? "without FILIGRANE_S3_ENDPOINT there is no /_s3/ location and no S3 upstream"
valid "$T/local.conf"
ok $? "the local configuration passes nginx -t"

gen "$T/path.conf" FILIGRANE_S3_ENDPOINT=http://127.0.0.1:9000 FILIGRANE_S3_BUCKET=filigrane
ok $? "with FILIGRANE_S3_ENDPOINT the configuration is written"
grep -q 'server 127.0.0.1:9000;' "$T/path.conf" &&
    grep -q 'proxy_pass http://filigrane_s3$s3_path$is_args$args;' "$T/path.conf"
ok $? "the /_s3/ location proxies to one upstream fixed at start (no host from a request)"
grep -q 'proxy_set_header Host 127.0.0.1:9000;' "$T/path.conf"
ok $? "path addressing sends the endpoint's Host, as signed"
grep -q 'proxy_pass_request_headers off;' "$T/path.conf" &&
    grep -q 'proxy_set_header Range $filigrane_s3_range;' "$T/path.conf" &&
    ! grep -q 'resolver' "$T/path.conf"
ok $? "nothing of the client's request goes to S3 but its Range, and no resolver is used"
bad=0
for h in ETag Content-Type Content-Disposition Cache-Control x-amz-request-id x-amz-id-2; do
    grep -q "proxy_hide_header $h;" "$T/path.conf" || { echo "# not hidden: $h"; bad=1; }
done
ok $bad "S3's ETag, Content-Type, Content-Disposition, Cache-Control and x-amz-* are hidden"
grep -q 'proxy_buffering off;' "$T/path.conf" && grep -q 'proxy_max_temp_file_size 0;' "$T/path.conf"
ok $? "originals stream through a small buffer, never to disk"
valid "$T/path.conf"
ok $? "the S3 configuration passes nginx -t"

gen "$T/virtual.conf" FILIGRANE_S3_ENDPOINT=http://s3.localhost:9000 FILIGRANE_S3_BUCKET=filigrane \
    FILIGRANE_S3_ADDRESSING=virtual
grep -q 'server 127.0.0.1:9000;' "$T/virtual.conf" &&
    grep -q 'proxy_set_header Host filigrane.s3.localhost:9000;' "$T/virtual.conf"
ok $? "virtual addressing sends bucket.host as Host; *.localhost is reached on loopback"
valid "$T/virtual.conf"
ok $? "the virtual-addressing configuration passes nginx -t"

gen "$T/tls.conf" FILIGRANE_S3_ENDPOINT=https://s3.eu-west-3.amazonaws.com FILIGRANE_S3_BUCKET=my-bucket \
    FILIGRANE_S3_ADDRESSING=virtual
grep -q 'server s3.eu-west-3.amazonaws.com:443;' "$T/tls.conf" &&
    grep -q 'proxy_pass https://filigrane_s3' "$T/tls.conf" &&
    grep -q 'proxy_set_header Host my-bucket.s3.eu-west-3.amazonaws.com;' "$T/tls.conf" &&
    grep -q 'proxy_ssl_verify on;' "$T/tls.conf" &&
    grep -q 'proxy_ssl_name my-bucket.s3.eu-west-3.amazonaws.com;' "$T/tls.conf"
ok $? "https: the certificate is verified for the signed host name; the default port is left out of Host"

bad=0
for v in 'http://127.0.0.1:9000;}server{listen 80;' 'http://u:p@127.0.0.1:9000' \
    'http://127.0.0.1:9000/x' 'ftp://127.0.0.1' 'http://127.0.0.1:90a0' "http://a b"; do
    if gen "$T/bad.conf" FILIGRANE_S3_ENDPOINT="$v" FILIGRANE_S3_BUCKET=filigrane ||
        ! grep -q FILIGRANE_S3_ENDPOINT "$T/err"; then
        echo "# not refused as it should be: $v"
        bad=1
    fi
done
ok $bad "an endpoint with anything but scheme, host and port is refused, naming the variable"
bad=0
for v in 'fili;grane' 'Filigrane' '' 'a b'; do
    if gen "$T/bad.conf" FILIGRANE_S3_ENDPOINT=http://127.0.0.1:9000 FILIGRANE_S3_BUCKET="$v" ||
        ! grep -q FILIGRANE_S3_BUCKET "$T/err"; then
        echo "# not refused as it should be: $v"
        bad=1
    fi
done
ok $bad "a bucket name outside S3's characters is refused, naming the variable"
! gen "$T/bad.conf" FILIGRANE_S3_ENDPOINT=http://127.0.0.1:9000 FILIGRANE_S3_BUCKET=filigrane \
    FILIGRANE_S3_ADDRESSING=host && grep -q FILIGRANE_S3_ADDRESSING "$T/err"
ok $? "an unknown addressing is refused, naming the variable"
finish
