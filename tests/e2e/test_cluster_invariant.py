"""The invariant matrix (test_invariant.py) against the cluster: two nodes
sharing PostgreSQL and an S3 server, each request to the next node in turn
(as a load balancer would send them), so an order created on one node is
uploaded, decided and downloaded through both. Then what only a cluster
has: the internal S3 location is as closed as the file one, and a
presigned URL the worker hands nginx never reaches the client."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, http_get, plain_pass_only, skip_unless_ready  # noqa: E402
from service import check, finish  # noqa: E402
from test_invariant import matrix  # noqa: E402

plain_pass_only()
skip_unless_ready()

c = Cluster()
try:
    orders = matrix(c)
    oid, files, photo, text = orders["open"]
    sha = files["photo.png"]["sha256"]
    admin = c.token("admin", "ops")
    for node in c.nodes:
        for path in ("/_s3/sha256/" + sha, "/_s3/filigrane/sha256/" + sha,
                     "/_s3/", "/_blobs/sha256/%s/%s/%s" % (sha[:2], sha[2:4], sha)):
            r = node.get(path, token=admin)
            check("node %d: the internal location %s cannot be reached from outside"
                  % (node.n, path.split("sha256")[0] or path),
                  r.status == 404 and photo[100:160] not in r.body, r)
    # The seller's original from either node: the answer carries the
    # bytes, never a presigned URL, a signature or the S3 endpoint.
    seller = c.token("seller", "s-open", oid)
    for node in c.nodes:
        r = node.get("/v1/files/%s/original" % files["photo.png"]["id"], token=seller)
        leaked = [h for h, v in r.headers.items()
                  if "x-amz" in h or "X-Amz-" in v or "/_s3/" in v or "sha256/" in v]
        check("node %d: the seller's original is the bytes, no S3 URL in any header" % node.n,
              r.status == 200 and r.body == photo and not leaked, (r.status, leaked))
    # The S3 server itself: a request without a signature is refused
    # (tests/e2e/s3rver.js makes s3rver's public buckets private, as a
    # real bucket is), so no local user reads an original from it.
    s3 = c.s3_settings()
    endpoint = s3.get("FILIGRANE_S3_ENDPOINT", "")
    bucket = s3.get("FILIGRANE_S3_BUCKET", "filigrane")
    check("the cluster's S3 settings are known (s3.env)", bool(endpoint), s3)
    if endpoint:
        port = int(endpoint.rsplit(":", 1)[1].split("/")[0])
        for path in ("/%s/sha256/%s" % (bucket, sha), "/%s?list-type=2" % bucket):
            status, body = http_get(port, path)
            check("an unsigned GET %s from the S3 server is refused (403), no blob bytes"
                  % path.split("?")[0].replace(sha, "<sha>"),
                  status == 403 and photo[100:160] not in body, (status, body[:200]))
finally:
    c.stop()
finish()
