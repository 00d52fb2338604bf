"""Blob references across nodes: the same bytes uploaded at once through
both nodes to two orders, one of which is then cancelled and purged (its
retention is 0 days) while the collector runs every 2 s on both nodes.
Afterwards every blob's count in PostgreSQL equals the file rows that use
it, the kept order's copy is intact on both nodes and in S3, and the blob
only the purged order used is gone from S3."""
import concurrent.futures as cf
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, plain_pass_only, skip_unless_ready  # noqa: E402
from service import check, finish, image  # noqa: E402

plain_pass_only()
skip_unless_ready()

GRACE = 5  # FILIGRANE_BLOB_GRACE: longer than an upload's store-then-record


def key(sha):
    return "sha256/" + sha


def counts_off(c):
    """Blobs whose reference count is not the number of live file rows
    naming them (as original or as preview)."""
    return c.sql(
        "SELECT b.sha256, b.refs, "
        "  (SELECT count(*) FROM files f WHERE f.sha256 = b.sha256 AND f.purged_at = '') + "
        "  (SELECT count(*) FROM files f WHERE f.preview_sha256 = b.sha256 AND f.purged_at = '') "
        "FROM blob_refs b WHERE b.refs <> "
        "  (SELECT count(*) FROM files f WHERE f.sha256 = b.sha256 AND f.purged_at = '') + "
        "  (SELECT count(*) FROM files f WHERE f.preview_sha256 = b.sha256 AND f.purged_at = '')")


c = Cluster(env={"FILIGRANE_RETENTION_DAYS": "0", "FILIGRANE_BLOB_GC_INTERVAL": "2s",
                 "FILIGRANE_BLOB_GRACE": "%ds" % GRACE})
n1, n2 = c.nodes
try:
    for o in ("ord-gone", "ord-kept"):
        c.create_order(o, "s-" + o, "b-" + o)
    tok = {o: c.token("seller", "s-" + o, o) for o in ("ord-gone", "ord-kept")}
    shared = image("png", 120, 90)
    only_gone = os.urandom(50000)
    sha_shared = hashlib.sha256(shared).hexdigest()
    sha_gone = hashlib.sha256(only_gone).hexdigest()

    def deliver(k):
        node = c.nodes[k % 2]
        o = ("ord-gone", "ord-kept")[(k // 2) % 2]
        files = [("shared.png", shared)]
        if o == "ord-gone":
            files.append(("only.bin", only_gone))
        return o, node.upload(o, files, tok[o], message="m%d" % k)

    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(deliver, range(8)))
    check("8 uploads of the same bytes at once, through both nodes, to two orders: all 201",
          all(r.status == 201 for _, r in answers), [r for _, r in answers if r.status != 201][:2])
    for o in ("ord-gone", "ord-kept"):
        c.wait_ready(o, tok[o], timeout=180)
    off = counts_off(c)
    check("every blob's count equals the file rows that use it", not off, off)
    refs = c.sql("SELECT refs FROM blob_refs WHERE sha256 = '%s'" % sha_shared)
    check("the shared bytes are one blob counted 8 times", refs == [["8"]], refs)

    r = n2.hook("order.cancelled", {"order_id": "ord-gone"})
    check("node 2 takes the cancellation", r.status == 200, r)
    gone_ids = [f["id"] for d in (c.get("/v1/orders/ord-gone", token=tok["ord-gone"]).json()
                                  or {}).get("deliveries", []) for f in d["files"]]
    deadline = time.time() + 90
    purged = False
    while time.time() < deadline and not purged:
        rr = [n1.get("/v1/files/%s/original" % i, token=tok["ord-gone"]) for i in gone_ids]
        purged = bool(rr) and all(x.status == 410 for x in rr)
        time.sleep(0.5)
    check("the cancelled order's files are purged (410 from node 1)", purged,
          [x.status for x in rr])
    # Two collector passes past the grace, on either node.
    time.sleep(GRACE + 5)
    off = counts_off(c)
    check("after the purge every count still equals the live file rows", not off, off)
    refs = c.sql("SELECT refs FROM blob_refs WHERE sha256 = '%s'" % sha_shared)
    check("the shared blob keeps the kept order's 4 references", refs == [["4"]], refs)
    kept_ids = [f["id"] for d in (c.get("/v1/orders/ord-kept", token=tok["ord-kept"]).json()
                                  or {}).get("deliveries", []) for f in d["files"]]
    for node in (n1, n2):
        bodies = [node.get("/v1/files/%s/original" % i, token=tok["ord-kept"]) for i in kept_ids]
        check("node %d gives the kept order's 4 copies byte for byte" % node.n,
              len(bodies) == 4 and all(b.status == 200 and b.body == shared for b in bodies),
              [(b.status, len(b.body)) for b in bodies])
    status, _ = c.s3("HEAD", key(sha_shared))
    check("the shared blob is still in S3", status == 200, status)
    status, _ = c.s3("HEAD", key(sha_gone))
    check("the blob only the purged order used is gone from S3 (the collector)",
          status == 404, status)
    left = c.sql("SELECT refs FROM blob_refs WHERE sha256 = '%s'" % sha_gone)
    check("and its reference row with it", left == [], left)
finally:
    c.stop()
finish()
