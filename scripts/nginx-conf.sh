#!/bin/sh
# Writes the nginx configuration for one filigrane data directory.
#   scripts/nginx-conf.sh DATA PORT SOCKET MAX_DELIVERY_BYTES > nginx.conf
# and reads FILIGRANE_RATE_UPLOADS, FILIGRANE_RATE_WEBHOOKS and FILIGRANE_RATE_TUS itself,
# and FILIGRANE_S3_ENDPOINT, FILIGRANE_S3_BUCKET and FILIGRANE_S3_ADDRESSING
# for the /_s3/ location (blobs in S3; never the keys: nginx fetches only
# URLs the worker presigned).
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

# Blobs in S3 (FILIGRANE_S3_ENDPOINT): the worker answers a download with
# X-Accel-Redirect: /_s3/<path and query of a presigned GET>, and nginx
# fetches it from the one endpoint configured here and streams it to the
# client, so the bytes never pass through the worker. The endpoint is
# fixed at start (an upstream block: no resolver, no host taken from a
# request); the Host header is the one the URL was signed for.
s3_die() {
    echo "filigrane: $*" >&2
    exit 2
}
s3_http="" s3_location=""
if [ -n "${FILIGRANE_S3_ENDPOINT:-}" ]; then
    ep=${FILIGRANE_S3_ENDPOINT%/}
    case $ep in
    http://*) s3_scheme=http s3_rest=${ep#http://} s3_default=80 ;;
    https://*) s3_scheme=https s3_rest=${ep#https://} s3_default=443 ;;
    *) s3_die "FILIGRANE_S3_ENDPOINT must be http://host[:port] or https://host[:port]" ;;
    esac
    # Host characters only: the value goes into this configuration.
    case $s3_rest in
    '' | *[!A-Za-z0-9.:\[\]-]*)
        s3_die "FILIGRANE_S3_ENDPOINT must be http://host[:port] or https://host[:port], without user, path or query"
        ;;
    esac
    case $s3_rest in
    \[*\]:*) s3_host=${s3_rest%:*} s3_port=${s3_rest##*:} ;;
    \[*\]) s3_host=$s3_rest s3_port=$s3_default ;;
    *:*) s3_host=${s3_rest%:*} s3_port=${s3_rest##*:} ;;
    *) s3_host=$s3_rest s3_port=$s3_default ;;
    esac
    case $s3_port in
    '' | *[!0-9]*) s3_die "FILIGRANE_S3_ENDPOINT has a bad port" ;;
    esac
    bucket=${FILIGRANE_S3_BUCKET:-}
    case $bucket in
    '' | *[!a-z0-9.-]*) s3_die "FILIGRANE_S3_BUCKET must be 3 to 63 of a-z, 0-9, '.' and '-'" ;;
    esac
    # The Host the URL was signed for: the endpoint's (its port left out
    # when it is the scheme's), or bucket.endpoint's.
    s3_authority=$s3_host
    [ "$s3_port" = "$s3_default" ] || s3_authority=$s3_host:$s3_port
    s3_sni=$s3_host
    case ${FILIGRANE_S3_ADDRESSING:-path} in
    path) ;;
    virtual) s3_authority=$bucket.$s3_authority s3_sni=$bucket.$s3_host ;;
    *) s3_die "FILIGRANE_S3_ADDRESSING must be path or virtual" ;;
    esac
    # *.localhost is loopback (RFC 6761), as libcurl resolves it for the
    # worker; the system's resolver may not know the name.
    s3_connect=$s3_host
    case $s3_host in
    localhost | *.localhost) s3_connect=127.0.0.1 ;;
    esac
    s3_tls=""
    if [ "$s3_scheme" = https ]; then
        s3_tls="
            proxy_ssl_server_name on;
            proxy_ssl_name $s3_sni;
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 4;
            proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;"
    fi
    s3_http="    upstream filigrane_s3 {
        server $s3_connect:$s3_port;
        keepalive 8;
    }

    # A Range goes to S3 only when it stands: no If-Range, or an If-Range
    # naming the blob (its ETag, \"<sha256>\"), as nginx decides for a
    # local file. Any other If-Range asks for the whole file.
    map \"\$http_if_range:\$blob_sha\" \$filigrane_s3_range_ok {
        \"~^:\"                               1;
        \"~^\\\"([0-9a-f]{64})\\\":\\1\$\"          1;
        default                             0;
    }
    # One range only: S3 answers several (bytes=0-1,5-6) with the whole
    # file anyway, and some servers with less; so they get the whole file
    # here too, as nginx sends it for overlapping ranges of a local file.
    map \"\$filigrane_s3_range_ok:\$http_range\" \$filigrane_s3_range {
        \"~^1:(?<filigrane_s3_one>bytes=([0-9]+-[0-9]*|-[0-9]+))\$\"  \$filigrane_s3_one;
        default                                                    \"\";
    }"
    s3_location="        # Stored files in S3, fetched by nginx once the worker has said yes
        # (X-Accel-Redirect to a presigned GET it wrote, valid
        # FILIGRANE_S3_PRESIGN_SECONDS). Never reachable from outside.
        # Nothing of the client's request goes to S3 but its Range: not
        # its token, not its cookies. Our ETag, Content-Type,
        # Content-Disposition and Cache-Control (from the worker's answer)
        # are what the client gets, never S3's; S3's own headers stay here.
        # The worker answers If-None-Match itself (304) before redirecting.
        location ~ \"^/_s3(?<s3_path>/[A-Za-z0-9._/-]*/(?<blob_sha>[0-9a-f]{64}))\$\" {
            internal;
@BLOB_EXTRA@
            proxy_pass $s3_scheme://filigrane_s3\$s3_path\$is_args\$args;$s3_tls
            proxy_http_version 1.1;
            proxy_method GET;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Host $s3_authority;
            proxy_set_header Connection \"\";
            proxy_set_header Range \$filigrane_s3_range;
            # Large originals stream through a small buffer, never to disk.
            proxy_buffering off;
            proxy_max_temp_file_size 0;
            proxy_connect_timeout 10s;
            proxy_read_timeout 60s;
            proxy_hide_header ETag;
            proxy_hide_header Content-Type;
            proxy_hide_header Content-Disposition;
            proxy_hide_header Cache-Control;
            proxy_hide_header Expires;
            proxy_hide_header Last-Modified;
            proxy_hide_header Set-Cookie;
            proxy_hide_header x-amz-request-id;
            proxy_hide_header x-amz-id-2;
            proxy_hide_header x-amz-version-id;
            proxy_hide_header x-amz-delete-marker;
            proxy_hide_header x-amz-server-side-encryption;
            proxy_hide_header x-amz-storage-class;
            proxy_hide_header x-amz-expiration;
            proxy_hide_header x-amz-restore;
            proxy_hide_header x-amz-replication-status;
            proxy_hide_header x-amz-mp-parts-count;
            proxy_hide_header x-amz-tagging-count;
            proxy_hide_header x-amz-checksum-sha256;
            proxy_hide_header x-amz-checksum-crc32;
            proxy_hide_header x-amz-checksum-crc32c;
            proxy_hide_header x-amz-checksum-sha1;
            # S3 refusing the URL (expired, tampered: 403) or missing the
            # blob (404) is our failure, not the client's, and its XML
            # error is not the file: a JSON 502 instead.
            proxy_intercept_errors on;
            error_page 400 403 404 500 502 503 504 = @s3_failed;
            error_page 416 = @s3_range;
            add_header ETag \"\\\"\$blob_sha\\\"\" always;
            add_header X-Content-Type-Options nosniff always;
            add_header Content-Security-Policy \$filigrane_blob_csp always;
            add_header Referrer-Policy no-referrer always;
            add_header X-Request-Id \$request_id always;
        }

        # A range past the end: 416 as for a local file, not S3's XML.
        location @s3_range {
            default_type application/json;
            add_header Cache-Control no-store always;
            return 416 '{\"error\":{\"code\":\"range_not_satisfiable\",\"message\":\"the range is outside the file\"}}\\n';
        }

        location @s3_failed {
            default_type application/json;
            add_header Cache-Control no-store always;
            # No upstream at all: a client named /_s3/ itself (internal
            # answered 404); the route does not exist for it.
            if (\$upstream_status = \"\") {
                return 404 '{\"error\":{\"code\":\"not_found\",\"message\":\"no such route\"}}\\n';
            }
            return 502 '{\"error\":{\"code\":\"store_unavailable\",\"message\":\"the file store did not answer as expected; retry later\"}}\\n';
        }"
fi

# Worker log format, and nginx's access log in the same one
# (FILIGRANE_LOG_FORMAT: text, the default, or json).
case ${FILIGRANE_LOG_FORMAT:-text} in
text) access_format=filigrane ;;
json) access_format=filigrane_json ;;
*)
    echo "filigrane: FILIGRANE_LOG_FORMAT must be text or json" >&2
    exit 2
    ;;
esac

# The preview cache (FILIGRANE_PREVIEW_DECISION_TTL, README "Preview
# cache"): seconds, or with an s, m, h or d suffix (DESIGN's durations),
# 0 to 60 s; 0 turns it off. The
# worker reads the same setting and caps each answer's lifetime by it.
ttl=${FILIGRANE_PREVIEW_DECISION_TTL:-5}
case $ttl in
*s) ttl_n=${ttl%s} mult=1 ;;
*m) ttl_n=${ttl%m} mult=60 ;;
*h) ttl_n=${ttl%h} mult=3600 ;;
*d) ttl_n=${ttl%d} mult=86400 ;;
*) ttl_n=$ttl mult=1 ;;
esac
case $ttl_n in
'' | *[!0-9]*)
    echo "filigrane: FILIGRANE_PREVIEW_DECISION_TTL must be 0 to 60 seconds (0 turns the preview cache off)" >&2
    exit 2
    ;;
esac
# Decimal, as the worker reads it (a leading 0 would make it octal here).
while [ "${ttl_n#0}" != "$ttl_n" ] && [ ${#ttl_n} -gt 1 ]; do ttl_n=${ttl_n#0}; done
if [ ${#ttl_n} -gt 6 ] || [ $((ttl_n * mult)) -gt 60 ]; then
    echo "filigrane: FILIGRANE_PREVIEW_DECISION_TTL must be 0 to 60 seconds (0 turns the preview cache off)" >&2
    exit 2
fi
ttl=$((ttl_n * mult))
preview_http="" preview_location="" preview_server=""
if [ "$ttl" -gt 0 ]; then
    # Two layers, because nginx never stores an answer that carries
    # X-Accel-Redirect: ngx_http_upstream_process_headers() follows it and
    # ends the upstream request with NGX_DECLINED, which frees the cache
    # entry unwritten (nginx 1.22, src/http/ngx_http_upstream.c). So the
    # public location caches what a second, private server answers
    # (over a unix socket in the data directory): the worker's decision
    # already followed, the preview's bytes and headers.
    preview_http="
    # Allowed preview decisions, with the preview they allowed, for at
    # most FILIGRANE_PREVIEW_DECISION_TTL seconds (X-Accel-Expires from the
    # worker; nothing else makes an entry). 0700 in the data directory:
    # keys hold the credential.
    proxy_cache_path @DATA@/preview-cache levels=1:2 keys_zone=filigrane_previews:10m
                     max_size=512m inactive=2m use_temp_path=off;

    upstream filigrane_preview_layer {
        server unix:@DATA@/run/preview.sock;
        keepalive 16;
    }

    # Requests that must reach the worker every time: anything but a plain
    # GET (HEAD, a Range, a conditional request). None is answered from the
    # cache, none makes an entry: a request that does not count as a view
    # (DESIGN, \"What counts as a download\") never stands in for one that
    # does.
    map \"\$request_method:\$http_range\$http_if_range\$http_if_none_match\$http_if_match\$http_if_modified_since\$http_if_unmodified_since\" \$filigrane_preview_direct {
        \"GET:\"      0;
        default     1;
    }"
    preview_location="        # A preview (GET /v1/files/{file}/preview), answered from the cache
        # when the same URI (its query, ?token= included) with the same
        # Authorization header was allowed less than the entry's lifetime
        # ago. Originals, archives, links and every other route are never
        # cached: they are decided by the worker on every request.
        location ~ \"^/v1/files/[^/]+/preview\$\" {
            if (\$filigrane_preview_direct) {
                rewrite ^ /_preview_direct\$uri last;
            }
            proxy_pass http://filigrane_preview_layer;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host localhost;
            proxy_set_header X-Filigrane-Client \$remote_addr;
            proxy_set_header X-Request-Id \$request_id;
            # A hit with TCP_CORK (tcp_nopush) left its last partial
            # segment waiting for the client's delayed ACK: 44 ms a
            # request on one connection, against 54 us without it
            # (measured with wrk -c1 on a 100 KB preview).
            tcp_nopush off;
            proxy_cache filigrane_previews;
            proxy_cache_key \"\$request_uri|\$http_authorization\";
            proxy_cache_methods GET;
            proxy_cache_convert_head off;
            # The worker's Cache-Control (private, no-cache) is for
            # browsers; X-Accel-Expires alone gives an entry its life, and
            # no proxy_cache_valid: an answer without it is never kept.
            proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;
            proxy_cache_use_stale off;
            proxy_cache_revalidate off;
            proxy_hide_header X-Request-Id;
            proxy_hide_header Referrer-Policy;
            add_header X-Request-Id \$request_id always;
            add_header X-Filigrane-Cache \$upstream_cache_status always;
            add_header Referrer-Policy no-referrer always;
        }
        # HEAD, Range and conditional preview requests: to the worker.
        location ^~ /_preview_direct/ {
            internal;
            fastcgi_pass filigrane_worker;
        }"
    preview_server="
    # The preview cache's private layer: reached only through its unix
    # socket (0700 data directory), by the preview location above. The
    # client's address and the request id come from that location, which
    # sets both; its Authorization header and URI pass unchanged.
    server {
        listen unix:@DATA@/run/preview.sock;
        server_name filigrane-preview;
        access_log off;
        fastcgi_param REQUEST_METHOD  \$request_method;
        fastcgi_param REQUEST_URI     \$request_uri;
        fastcgi_param QUERY_STRING    \$query_string;
        fastcgi_param CONTENT_TYPE    \"\";
        fastcgi_param CONTENT_LENGTH  \"\";
        fastcgi_param REMOTE_ADDR     \$http_x_filigrane_client;
        fastcgi_param SERVER_PROTOCOL \$server_protocol;
        fastcgi_param REQUEST_ID      \$http_x_request_id;
        fastcgi_pass_request_body off;
        fastcgi_read_timeout 300s;
        location ~ \"^/v1/files/[^/]+/preview\$\" {
            fastcgi_pass filigrane_worker;
        }
        location / {
            return 404;
        }
@BLOB_LOCATIONS@
    }"
fi
# The worker's X-Accel-Expires, passed on by the private layer's copy of
# the blob locations, from the worker's answer (taken before a /_s3/
# proxy replaces the upstream); only on a 200 (add_header without always).
blob_extra_preview='            set $filigrane_preview_ttl $upstream_http_x_accel_expires;
            add_header X-Accel-Expires $filigrane_preview_ttl;'

S3_HTTP=$s3_http S3_LOCATION=$s3_location PREVIEW_HTTP=$preview_http \
PREVIEW_LOCATION=$preview_location PREVIEW_SERVER=$preview_server \
    awk '$0 == "@S3_HTTP@" { print ENVIRON["S3_HTTP"]; next }
         $0 == "@S3_LOCATION@" { print ENVIRON["S3_LOCATION"]; next }
         $0 == "@PREVIEW_HTTP@" { print ENVIRON["PREVIEW_HTTP"]; next }
         $0 == "@PREVIEW_LOCATION@" { print ENVIRON["PREVIEW_LOCATION"]; next }
         $0 == "@PREVIEW_SERVER@" { print ENVIRON["PREVIEW_SERVER"]; next }
         { print }' "$top/nginx.conf" |
# The blob locations (local and S3) serve both servers: printed in place
# without the extra lines, and again in the private layer's with them.
BLOB_EXTRA=$blob_extra_preview awk '
    { l[NR] = $0 }
    /#@BLOB_LOCATIONS_BEGIN@/ { inb = 1; next }
    /#@BLOB_LOCATIONS_END@/ { inb = 0; next }
    inb { nb++; b[nb] = $0 }
    END {
        for (i = 1; i <= NR; i++) {
            if (l[i] ~ /#@BLOB_LOCATIONS_(BEGIN|END)@/)
                continue
            if (l[i] == "@BLOB_EXTRA@")
                continue
            if (l[i] == "@BLOB_LOCATIONS@") {
                for (j = 1; j <= nb; j++) {
                    if (b[j] == "@BLOB_EXTRA@")
                        print ENVIRON["BLOB_EXTRA"]
                    else
                        print b[j]
                }
                continue
            }
            print l[i]
        }
    }' |
sed -e "s|@PAGE_CSP@|$page_csp|g" -e "s|@DATA@|$data|g" -e "s|@PORT@|$port|g" -e "s|@SOCKET@|$socket|g" \
    -e "s|@MAX_DELIVERY_BYTES@|$max|g" -e "s|@USER_LINE@|$user_line|g" \
    -e "s|@ACCESS_FORMAT@|$access_format|g" \
    -e "s|@RATE_UPLOADS@|$rate_uploads|g" -e "s|@BURST_UPLOADS@|$((rate_uploads - 1))|g" \
    -e "s|@RATE_WEBHOOKS@|$rate_webhooks|g" -e "s|@BURST_WEBHOOKS@|$((rate_webhooks - 1))|g" \
    -e "s|@RATE_TUS@|$rate_tus|g" -e "s|@BURST_TUS@|$((rate_tus - 1))|g"
