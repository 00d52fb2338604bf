"""max_downloads (order.created, per file, for the buyer): the next original
download past it answers 403 download_limit. Counted by the Settled rule
(HEAD, 304 and ranges past byte 0 never count), atomically (parallel
downloads cannot pass it), archives once per file and refused as a whole
when one file would pass, a buyer's links included, the seller's and the
admin's downloads never."""
import concurrent.futures
import hashlib
import io
import json
import os
import sys
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish  # noqa: E402


def code(r):
    return ((r.json() or {}).get("error") or {}).get("code")


def created(svc, order, limit):
    data = {"order_id": order, "seller_id": "s-d", "buyer_id": "b-d"}
    if limit is not None:
        data["max_downloads"] = limit
    return svc.hook("order.created", data)


svc = Service()
try:
    # ---- the webhook's field ----
    for bad in (0, -1, 1000001, "3", 2.5, True):
        r = created(svc, "ord-bad-%s" % str(bad).replace(".", "_"), bad)
        check("order.created with max_downloads %r is refused 400" % (bad,),
              r.status == 400, r)
    r = svc.get("/v1/orders/ord-bad-0", token=svc.token("admin", "ops"))
    check("and no order was created by the refused event", r.status == 404, r)
    r = created(svc, "ord-edge", 1000000)
    check("max_downloads 1000000 (the edge) is accepted", r.status == 200, r)
    r = created(svc, "ord-null", None)
    check("an order without max_downloads is created", r.status == 200, r)

    # ---- one file, limit 2 ----
    r = created(svc, "ord-d", 2)
    check("order.created with max_downloads 2 is applied", r.status == 200, r)
    seller = svc.token("seller", "s-d", "ord-d")
    buyer = svc.token("buyer", "b-d", "ord-d")
    admin = svc.token("admin", "ops")
    a_bytes = b"first deliverable, limited\n" * 50
    b_bytes = b"second deliverable, limited\n" * 50
    r = svc.upload_done("ord-d", [("a.txt", a_bytes), ("b.txt", b_bytes)], seller)
    files = {f["name"]: f["id"] for f in (r.json() or {}).get("files", [])}
    A, B = files.get("a.txt"), files.get("b.txt")
    oa = "/v1/files/%s/original" % A
    r = created(svc, "ord-d", 5)
    check("a replayed order.created (new webhook id) is unchanged", r.status == 200, r)
    doc = svc.get("/v1/orders/ord-d", token=buyer).json() or {}
    check("the order document shows max_downloads 2 (the first event's)",
          doc.get("max_downloads") == 2, doc.get("max_downloads"))
    doc = svc.get("/v1/orders/ord-null", token=svc.token("admin", "ops")).json() or {}
    check("and null for an order without a limit",
          "max_downloads" in doc and doc["max_downloads"] is None, doc)

    r = svc.get(oa, token=buyer)
    check("before release the buyer is refused 403 not_released (not download_limit)",
          r.status == 403 and code(r) == "not_released", r)
    svc.hook("order.accepted", {"order_id": "ord-d"})
    etag = '"%s"' % hashlib.sha256(a_bytes).hexdigest()
    r = svc.request("HEAD", oa, token=buyer)
    check("HEAD is answered 200 and not counted", r.status == 200, r.status)
    r = svc.get(oa, token=buyer, headers={"If-None-Match": etag})
    check("a 304 is not counted", r.status == 304, r.status)
    r = svc.get(oa, token=buyer, headers={"Range": "bytes=10-19"})
    check("a range past byte 0 is not counted", r.status == 206, r.status)
    r1 = svc.get(oa, token=buyer)
    r2 = svc.get(oa, token=buyer, headers={"Range": "bytes=0-99"})
    check("the first download (200) and a range from byte 0 (206) are the two allowed",
          r1.status == 200 and r1.body == a_bytes and r2.status == 206, (r1.status, r2.status))
    r = svc.get(oa, token=buyer)
    check("the third download answers 403 download_limit",
          r.status == 403 and code(r) == "download_limit", r)
    check("and carries none of the file's bytes", a_bytes[:40] not in r.body, r.body[:200])
    r = svc.get(oa, token=buyer, headers={"Range": "bytes=0-0"})
    check("a range from byte 0 past the limit is refused too", r.status == 403, r.status)
    r = svc.get(oa + "?token=" + buyer)
    check("so is a ?token= download past the limit", r.status == 403, r.status)
    r = svc.get(oa, token=buyer, headers={"Range": "bytes=10-19"})
    check("a range past byte 0 is still served (it is no download)", r.status == 206, r.status)
    ok = all(svc.get(oa, token=seller).status == 200 for _ in range(4))
    check("the seller downloads past the buyer's limit, uncounted", ok)
    ok = all(svc.get(oa, token=admin).status == 200 for _ in range(3))
    check("so does the admin", ok)
    doc = svc.get("/v1/orders/ord-d/audit?limit=5000", token=seller).json() or {}
    downloads = [json.loads(e["detail"]) for e in doc.get("entries", [])
                 if e["action"] == "file.downloaded"]
    check("exactly two file.downloaded entries: refusals and the seller's fetches leave none",
          len([d for d in downloads if d["file_id"] == A]) == 2, downloads)

    # ---- archives: once per file, refused as a whole ----
    arc = "/v1/orders/ord-d/deliveries/1/archive"
    r = svc.get(arc, token=buyer)
    check("an archive holding a file at its limit is refused 403 download_limit",
          r.status == 403 and code(r) == "download_limit", r.status)
    r = svc.get("/v1/files/%s/original" % B, token=buyer)
    r = svc.get("/v1/files/%s/original" % B, token=buyer)
    check("the refused archive counted nothing: b.txt still downloads twice",
          r.status == 200 and r.body == b_bytes, r.status)
    r = svc.get("/v1/files/%s/original" % B, token=buyer)
    check("and then is at its limit", r.status == 403 and code(r) == "download_limit", r.status)
    r = svc.get(arc, token=seller)
    names = zipfile.ZipFile(io.BytesIO(r.body)).namelist() if r.status == 200 else []
    check("the seller's archive is never limited", r.status == 200 and len(names) == 2, r.status)

    r = created(svc, "ord-z", 1)
    sz = svc.token("seller", "s-d", "ord-z")
    bz = svc.token("buyer", "b-d", "ord-z")
    r = svc.upload_done("ord-z", [("x.txt", b"x" * 300), ("y.txt", b"y" * 300)], sz)
    zf = {f["name"]: f["id"] for f in (r.json() or {}).get("files", [])}
    svc.hook("order.accepted", {"order_id": "ord-z"})
    arz = "/v1/orders/ord-z/deliveries/1/archive"
    r = svc.request("HEAD", arz, token=bz)
    check("HEAD of an archive counts nothing", r.status == 200, r.status)
    r = svc.get(arz, token=bz)
    check("with max_downloads 1 the first archive is served",
          r.status == 200 and len(zipfile.ZipFile(io.BytesIO(r.body)).namelist()) == 2, r.status)
    r = svc.get("/v1/files/%s/original" % zf.get("x.txt"), token=bz)
    check("it counted once for each file in it: x.txt is now at its limit",
          r.status == 403 and code(r) == "download_limit", r.status)
    r = svc.get(arz, token=bz)
    check("and a second archive is refused as a whole", r.status == 403, r.status)

    # ---- parallel downloads cannot pass the limit ----
    for n, limit in ((1, 1), (2, 3)):
        order = "ord-p%d" % n
        created(svc, order, limit)
        sp = svc.token("seller", "s-d", order)
        bp = svc.token("buyer", "b-d", order)
        r = svc.upload_done(order, [("p.txt", b"parallel\n" * 100)], sp)
        fid = ((r.json() or {}).get("files") or [{}])[0].get("id")
        svc.hook("order.accepted", {"order_id": order})
        with concurrent.futures.ThreadPoolExecutor(10) as ex:
            got = list(ex.map(lambda _: svc.get("/v1/files/%s/original" % fid, token=bp),
                              range(10)))
        ok = [g for g in got if g.status == 200]
        refused = [g for g in got if g.status == 403 and code(g) == "download_limit"]
        check("10 parallel downloads with max_downloads %d: exactly %d served, the rest 403"
              % (limit, limit), len(ok) == limit and len(refused) == 10 - limit,
              [g.status for g in got])

    # ---- a buyer's link cannot pass the buyer's limit ----
    created(svc, "ord-k", 1)
    sk = svc.token("seller", "s-d", "ord-k")
    bk = svc.token("buyer", "b-d", "ord-k")
    r = svc.upload_done("ord-k", [("k.txt", b"linked\n" * 100)], sk)
    kid = ((r.json() or {}).get("files") or [{}])[0].get("id")
    svc.hook("order.accepted", {"order_id": "ord-k"})
    r = svc.request("POST", "/v1/files/%s/links" % kid, token=bk,
                    body=json.dumps({"purpose": "original", "ttl": 600, "max_uses": 5}).encode())
    link = (r.json() or {}).get("url", "/l/x")
    r1 = svc.get(link)
    r2 = svc.get(link)
    check("a buyer's original link counts as the buyer's download: the second use is 403 "
          "download_limit", r1.status == 200 and r2.status == 403 and code(r2) == "download_limit",
          (r1.status, r2.status))
    r = svc.get("/v1/files/%s/original" % kid, token=bk)
    check("and the token route agrees (403)", r.status == 403, r.status)
    r = svc.request("POST", "/v1/files/%s/links" % kid, token=sk,
                    body=json.dumps({"purpose": "original", "max_uses": 3}).encode())
    sl = (r.json() or {}).get("url", "/l/x")
    check("a seller's original link is not held to the buyer's limit",
          svc.get(sl).status == 200 and svc.get(sl).status == 200)

    # ---- without max_downloads there is no limit ----
    sn = svc.token("seller", "s-d", "ord-null")
    bn = svc.token("buyer", "b-d", "ord-null")
    r = svc.upload_done("ord-null", [("n.txt", b"n" * 100)], sn)
    nid = ((r.json() or {}).get("files") or [{}])[0].get("id")
    svc.hook("order.accepted", {"order_id": "ord-null"})
    ok = all(svc.get("/v1/files/%s/original" % nid, token=bn).status == 200 for _ in range(6))
    check("an order without max_downloads serves its buyer every time", ok)
finally:
    svc.stop()
finish()
