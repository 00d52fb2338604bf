"""Two nodes sharing PostgreSQL and an S3 server (scripts/run-cluster.sh):
the whole story across nodes (upload through node 1, previews from node 2,
the acceptance webhook to node 2, the original from node 1 byte for byte,
with Range and ETag); 12 deliveries at once through both nodes, numbered
1 to 12 with the audit chains intact; a tus upload started on node 1 and
resumed on node 2."""
import base64
import concurrent.futures as cf
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, plain_pass_only, skip_unless_ready  # noqa: E402
from service import check, finish, image  # noqa: E402

plain_pass_only()
skip_unless_ready()

TUS = {"Tus-Resumable": "1.0.0"}


def files_under(d):
    out = []
    for root, _, names in os.walk(d):
        out += [os.path.join(root, n) for n in names]
    return out


def holds(paths, data):
    """The paths among PATHS whose content is DATA."""
    out = []
    for p in paths:
        try:
            if os.path.getsize(p) == len(data) and open(p, "rb").read() == data:
                out.append(p)
        except OSError:
            pass
    return out


def store_answers_suffix_from_zero(c, sha):
    """Whether the S3 server itself answers a signed "Range: bytes=-100"
    with the first bytes (s3rver does)."""
    if not sha or not c.s3_settings().get("FILIGRANE_S3_ENDPOINT"):
        return False
    _, head = c.s3("GET", "sha256/" + sha, ["Range: bytes=-100"])
    return bool(re.search(r"(?im)^content-range: bytes 0-", head))


def audit_seqs(node, order, token):
    r = node.get("/v1/orders/%s/audit?limit=5000" % order, token=token)
    return [e.get("seq") for e in (r.json() or {}).get("entries", [])], r


c = Cluster()
n1, n2 = c.nodes
try:
    # ---- the whole story across nodes ----
    r = n1.create_order("ord-x", "s-x", "b-x")
    check("node 1 takes the order.created webhook", r.status == 200, r)
    seller = c.token("seller", "s-x", "ord-x")
    buyer = c.token("buyer", "b-x", "ord-x")
    photo = image("jpg", 800, 600)
    big = os.urandom(3 * 1024 * 1024 + 17)  # a withheld file, several S3 parts' worth of Range
    r = n1.upload("ord-x", [("photo.jpg", photo), ("source.bin", big)], seller, message="v1")
    d = r.json() or {}
    check("node 1 takes the delivery (201)", r.status == 201 and d.get("number") == 1, r)
    ids = {f["name"]: f["id"] for f in d.get("files", [])}
    doc = n2.wait_ready("ord-x", buyer, number=1, timeout=180) or {}
    dl = (doc.get("deliveries") or [{}])[0]
    check("node 2 sees the delivery node 1 took, and its previews made",
          dl.get("state") == "ready" and
          [f["preview"] for f in dl.get("files", [])] == ["ready", "withheld"], dl)
    r = n2.get("/v1/files/%s/preview" % ids.get("photo.jpg"), token=buyer)
    check("node 2 serves the buyer the preview (a JPEG, not the original)",
          r.status == 200 and r.body[:3] == b"\xff\xd8\xff" and r.body != photo and
          photo[2000:2064] not in r.body, r)
    for node in (n1, n2):
        r = node.get("/v1/files/%s/original" % ids.get("photo.jpg"), token=buyer)
        check("node %d refuses the buyer the original before acceptance (403 not_released)"
              % node.n, r.status == 403 and b"not_released" in r.body and
              photo[2000:2064] not in r.body, r)
    r = n2.hook("order.accepted", {"order_id": "ord-x"})
    check("node 2 takes the acceptance webhook", r.status == 200, r)
    r = n1.get("/v1/files/%s/original" % ids.get("photo.jpg"), token=buyer)
    check("node 1 then gives the buyer the original, byte for byte",
          r.status == 200 and r.body == photo, (r.status, len(r.body), len(photo)))
    etag = r.header("etag")
    check("the original carries an ETag", bool(etag), r.headers)
    r = n1.get("/v1/files/%s/original" % ids.get("source.bin"), token=buyer)
    check("node 1 gives the 3 MB withheld original byte for byte",
          r.status == 200 and hashlib.sha256(r.body).digest() == hashlib.sha256(big).digest(),
          (r.status, len(r.body)))
    big_etag = r.header("etag")
    r = n1.get("/v1/files/%s/original" % ids.get("source.bin"), token=buyer,
               headers={"Range": "bytes=1048570-2097160"})
    check("a Range request is answered 206 with exactly those bytes and Content-Range",
          r.status == 206 and r.body == big[1048570:2097161] and
          r.header("content-range") == "bytes 1048570-2097160/%d" % len(big),
          (r.status, r.headers, len(r.body)))
    r = n1.get("/v1/files/%s/original" % ids.get("source.bin"), token=buyer,
               headers={"Range": "bytes=-100"})
    if store_answers_suffix_from_zero(c, d.get("files", [{}, {}])[1].get("sha256")):
        # s3rver reads "bytes=-100" as "bytes=0-100" (AWS, MinIO and the
        # others answer the last 100 bytes): what comes through nginx is
        # what the store sends, so this is shown, not asserted, on it.
        print("# known gap of the test S3 server: a suffix Range answers %s (%s)"
              % (r.status, r.header("content-range")))
    else:
        check("a suffix Range gives the last 100 bytes",
              r.status == 206 and r.body == big[-100:], r)
    r = n1.get("/v1/files/%s/original" % ids.get("photo.jpg"), token=buyer,
               headers={"If-None-Match": etag or "x"})
    check("If-None-Match with that ETag is answered 304 with no body",
          r.status == 304 and r.body == b"", r)
    r = n2.get("/v1/files/%s/original" % ids.get("photo.jpg"), token=buyer,
               headers={"If-None-Match": etag or "x"})
    check("node 2 answers the same ETag 304 too (one ETag for one blob, whatever the node)",
          r.status == 304, r)
    r = n2.get("/v1/files/%s/original" % ids.get("source.bin"), token=buyer)
    check("node 2 gives the same bytes and the same ETag",
          r.status == 200 and r.body == big and r.header("etag") == big_etag,
          (r.status, r.header("etag"), big_etag))
    # The blobs are in the shared store, not in either node's directory.
    local = files_under(n1.data) + files_under(n2.data)
    check("no node's data directory holds the originals (they are in S3)",
          not holds(local, photo) and not holds(local, big), holds(local, photo) + holds(local, big))
    check("the S3 server's directory holds them",
          bool(holds(files_under(os.path.join(c.data, "s3")), big)))
    # Evidence: both nodes sign with the one key run-cluster.sh made, so
    # node 1's published key checks a bundle node 2 signed.
    keys = [node.get("/v1/keys").json() or {} for node in (n1, n2)]
    check("both nodes publish the same signing key (GET /v1/keys)",
          bool(keys[0].get("keys")) and keys[0] == keys[1], keys)
    r = n2.get("/v1/orders/ord-x/evidence", token=buyer)
    check("node 2 answers the order's evidence bundle", r.status == 200, r)
    with tempfile.TemporaryDirectory() as t:
        bundle, jwks = os.path.join(t, "bundle.json"), os.path.join(t, "keys.json")
        with open(bundle, "wb") as f:
            f.write(r.body)
        with open(jwks, "w") as f:
            json.dump(keys[0], f)
        v = subprocess.run([os.path.join(os.environ.get("FILIGRANE_BIN", "bin"), "filigrane"),
                            "evidence", "verify", bundle, "--key", jwks],
                           capture_output=True, text=True, timeout=60)
    check("node 2's bundle verifies offline against node 1's published key",
          v.returncode == 0, v.stdout + v.stderr)
    for node in (n1, n2):
        r = node.get("/v1/orders/ord-x/audit", token=seller)
        acts = [e.get("action") for e in (r.json() or {}).get("entries", [])]
        check("node %d shows the order's audit trail with the release and the download"
              % node.n, r.status == 200 and any("release" in (a or "") or "accepted" in (a or "")
                                                 for a in acts) and
              any("download" in (a or "") for a in acts), acts)

    # ---- 12 deliveries at once through both nodes ----
    c.create_order("ord-m", "s-m", "b-m")
    seller_m = c.token("seller", "s-m", "ord-m")
    small = [image("png", 40 + k, 30) for k in range(12)]

    def deliver(k):
        node = c.nodes[k % 2]
        return node.upload("ord-m", [("f%02d.png" % k, small[k])], seller_m, message="m%d" % k)

    with cf.ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(deliver, range(12)))
    numbers = sorted((a.json() or {}).get("number", 0) for a in answers)
    check("12 deliveries sent at once through both nodes are all answered 201",
          all(a.status == 201 for a in answers), [a for a in answers if a.status != 201][:2])
    check("they are numbered 1 to 12, each number once", numbers == list(range(1, 13)), numbers)
    doc = c.wait_ready("ord-m", seller_m, timeout=240) or {}
    ds = doc.get("deliveries") or []
    check("all 12 become ready", len(ds) == 12 and all(x.get("state") == "ready" for x in ds),
          [(x.get("number"), x.get("state")) for x in ds])
    msgs = {x.get("number"): x.get("message") for x in ds}
    by_answer = {(a.json() or {}).get("number"): (a.json() or {}).get("message") for a in answers}
    check("each number holds the delivery it was answered with", msgs == by_answer,
          (msgs, by_answer))
    for node in (n1, n2):
        seqs, r = audit_seqs(node, "ord-m", seller_m)
        check("node %d: the order's chain is numbered 1..n with no gap or repeat" % node.n,
              r.status == 200 and seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 13,
              seqs[:40])
    out = c.cli("audit", "verify")
    check("`filigrane audit verify` against the cluster's database: every chain intact",
          out.returncode == 0 and "intact" in out.stdout and "BROKEN" not in out.stdout,
          out.stdout + out.stderr)
    # The same check fails when a row is changed behind its back.
    try:
        # The table refuses updates (a trigger): the attacker here is the
        # database's owner, who can lift it.
        c.sql("ALTER TABLE audit DISABLE TRIGGER USER; "
              "UPDATE audit SET detail = detail || ' ' WHERE chain = 'ord-m' AND chain_seq = 2; "
              "ALTER TABLE audit ENABLE TRIGGER USER")
        out = c.cli("audit", "verify")
        check("and it reports a chain broken once an entry is changed in PostgreSQL",
              out.returncode != 0 and "BROKEN" in out.stdout, out.stdout + out.stderr)
    except RuntimeError as e:
        check("the audit table can be tampered with for the check", False, e)

    # ---- tus: started on node 1, resumed on node 2 ----
    c.create_order("ord-t", "s-t", "b-t")
    seller_t = c.token("seller", "s-t", "ord-t")
    blob = os.urandom(2 * 1024 * 1024 + 333)
    half = 1024 * 1024
    h = dict(TUS, **{"Upload-Length": str(len(blob)),
                     "Upload-Metadata": "filename " + base64.b64encode(b"resumed.bin").decode()})
    r = n1.request("POST", "/v1/orders/ord-t/uploads", token=seller_t, headers=h)
    loc = r.header("location") or ""
    check("node 1 creates the tus upload (201, Location)",
          r.status == 201 and loc.startswith("/v1/uploads/"), r)
    r = n1.request("PATCH", loc, body=blob[:half], token=seller_t,
                   headers=dict(TUS, **{"Upload-Offset": "0",
                                        "Content-Type": "application/offset+octet-stream"}))
    check("node 1 takes the first chunk", r.status == 204 and
          r.header("upload-offset") == str(half), r)
    r = n2.request("HEAD", loc, token=seller_t, headers=TUS)
    check("node 2 knows the upload and its offset", r.status == 200 and
          r.header("upload-offset") == str(half) and
          r.header("upload-length") == str(len(blob)), r)
    r = n2.request("PATCH", loc, body=blob[half:], token=seller_t,
                   headers=dict(TUS, **{"Upload-Offset": str(half),
                                        "Content-Type": "application/offset+octet-stream"}))
    check("node 2 takes the rest", r.status == 204 and
          r.header("upload-offset") == str(len(blob)), r)
    r = n1.request("PATCH", loc, body=b"x", token=seller_t,
                   headers=dict(TUS, **{"Upload-Offset": str(half),
                                        "Content-Type": "application/offset+octet-stream"}))
    check("node 1 refuses a chunk at the old offset (409): it sees node 2's progress",
          r.status in (409, 413), r)
    uid = loc.rsplit("/", 1)[-1]
    r = n1.request("POST", "/v1/orders/ord-t/deliveries", token=seller_t,
                   headers={"Content-Type": "application/json"},
                   body=json.dumps({"uploads": [uid], "message": "tus"}).encode())
    f0 = ((r.json() or {}).get("files") or [{}])[0]
    check("node 1 turns the upload into a delivery, with the whole file's sha256",
          r.status == 201 and f0.get("sha256") == hashlib.sha256(blob).hexdigest() and
          f0.get("size") == len(blob), r)
    r = n2.get("/v1/files/%s/original" % f0.get("id"), token=seller_t)
    check("node 2 gives the seller the assembled file byte for byte",
          r.status == 200 and r.body == blob, (r.status, len(r.body)))
    local = files_under(n1.data) + files_under(n2.data)
    check("no chunk or assembled copy is left in either node's directory",
          not holds(local, blob) and not holds(local, blob[:half]) and
          not holds(local, blob[half:]), holds(local, blob))
finally:
    c.stop()
finish()
