"""The whole story through real nginx and the real worker: order created,
delivery uploaded, preview seen, original refused, acceptance webhook,
original downloaded byte for byte, evidence trail verifiable."""
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402

svc = Service()
try:
    photo = image("jpg", 800, 600)
    notes = b"\x00\x01seller notes: FILIGRANE-SECRET-MARKER-7731\n" * 20  # no previewable type
    seller = svc.token("seller", "s-7", "ord-1")
    buyer = svc.token("buyer", "b-9", "ord-1")

    r = svc.create_order("ord-1", "s-7", "b-9")
    check("order.created webhook is applied", r.status == 200, r)

    r = svc.upload("ord-1", [("logo final.jpg", photo), ("notes.bin", notes)], seller,
                   message="first version")
    check("a seller's multipart delivery is answered 201", r.status == 201, r)
    d = r.json() or {}
    files = {f["name"]: f for f in d.get("files", [])}
    check("the delivery is number 1 with its message",
          d.get("number") == 1 and d.get("message") == "first version", d)
    jpg, txt = files.get("logo final.jpg", {}), files.get("notes.bin", {})
    check("the photo's sha256 and size are recorded",
          jpg.get("sha256") == hashlib.sha256(photo).hexdigest() and jpg.get("size") == len(photo), jpg)
    check("the photo's type comes from its content", jpg.get("type") == "image/jpeg"
          and jpg.get("kind") == "image", jpg)
    check("the delivery is answered at once, still processing, the photo's preview too",
          d.get("state") == "processing" and jpg.get("preview") == "processing", d)
    o = svc.wait_ready("ord-1", seller) or {}
    jpg = {f["name"]: f for f in o["deliveries"][0]["files"]}.get("logo final.jpg", {}) \
        if o.get("deliveries") else {}
    check("the delivery then becomes ready with the photo's preview",
          o.get("deliveries", [{}])[0].get("state") == "ready" and jpg.get("preview") == "ready", o)
    check("a file of no previewable type is withheld with its name, size, type and sha256",
          txt.get("preview") == "withheld" and txt.get("size") == len(notes)
          and txt.get("sha256") == hashlib.sha256(notes).hexdigest()
          and txt.get("type") == "application/octet-stream", txt)

    r = svc.get("/v1/orders/ord-1", token=buyer)
    o = r.json() or {}
    check("the buyer reads the order", r.status == 200 and o.get("state") == "open"
          and o.get("released_at") is None and len(o.get("deliveries", [])) == 1, r)

    r = svc.get("/v1/files/%s/preview" % jpg.get("id"), token=buyer)
    check("the buyer gets the watermarked preview", r.status == 200
          and r.header("content-type") == "image/jpeg" and r.body[:2] == b"\xff\xd8", r)
    check("the preview is not the original", r.body != photo and photo[200:264] not in r.body)
    r2 = svc.get("/v1/files/%s/preview?token=%s" % (jpg.get("id"), buyer))
    check("a preview link with ?token= works (for <img src>)", r2.status == 200 and r2.body == r.body, r2)

    svc.get("/v1/files/%s/preview" % jpg.get("id"), token=buyer)
    r = svc.get("/v1/orders/ord-1/audit", token=buyer)
    seen = [e for e in (r.json() or {}).get("entries", []) if e["action"] == "file.previewed"]
    check("a buyer's first view of a preview is recorded, once", len(seen) == 1, seen)

    r = svc.get("/v1/files/%s/original" % jpg.get("id"), token=buyer)
    check("the buyer's original is refused before acceptance with not_released",
          r.status == 403 and (r.json() or {}).get("error", {}).get("code") == "not_released", r)
    check("the refusal carries no original byte", photo[200:264] not in r.body)

    r = svc.get("/v1/files/%s/original" % jpg.get("id"), token=seller)
    check("the seller always gets the original", r.status == 200 and r.body == photo, r)

    r = svc.hook("order.accepted", {"order_id": "ord-1"})
    check("the acceptance webhook is applied", r.status == 200
          and (r.json() or {}).get("effect") == "accepted", r)

    r = svc.get("/v1/files/%s/original" % jpg.get("id"), token=buyer)
    check("after acceptance the buyer downloads the original, byte for byte",
          r.status == 200 and hashlib.sha256(r.body).hexdigest() == hashlib.sha256(photo).hexdigest(), r)
    check("the original is sent private and never stored by caches",
          r.header("cache-control") == "private, no-store", r.headers)
    check("downloads tell the browser not to leak the link in a Referer",
          r.header("referrer-policy") == "no-referrer", r.headers)
    check("the original's ETag is its sha256",
          r.header("etag") == '"%s"' % hashlib.sha256(photo).hexdigest(), r.headers)
    cd = r.header("content-disposition") or ""
    check("the download keeps the original file name (RFC 6266)",
          cd.startswith("attachment") and "filename*=UTF-8''logo%20final.jpg" in cd, cd)
    r = svc.get("/v1/files/%s/original" % jpg.get("id"), token=buyer, headers={"Range": "bytes=0-99"})
    check("ranges are served", r.status == 206 and r.body == photo[:100], r)
    r = svc.get("/v1/files/%s/original" % jpg.get("id"), token=buyer,
                headers={"If-None-Match": '"%s"' % hashlib.sha256(photo).hexdigest()})
    check("If-None-Match with the sha256 answers 304", r.status == 304 and not r.body, r)

    r = svc.get("/v1/files/%s/original" % txt.get("id"), token=buyer)
    check("a withheld file is released too once accepted", r.status == 200 and r.body == notes, r)

    r = svc.get("/v1/orders/ord-1", token=buyer)
    o = r.json() or {}
    check("the order shows accepted with its release time",
          o.get("state") == "accepted" and o.get("released_at"), o)

    r = svc.get("/v1/orders/ord-1/audit", token=buyer)
    entries = (r.json() or {}).get("entries", [])
    actions = [e["action"] for e in entries]
    for a in ("order.created", "delivery.created", "file.uploaded", "file.previewed",
              "order.accepted", "file.downloaded"):
        check("the audit trail records %s" % a, a in actions, actions)

    def entry_hash(e):
        def ns(s):
            b = s.encode() if isinstance(s, str) else s
            return str(len(b)).encode() + b":" + b + b","
        data = b"filigrane-audit-v2\n" + b"".join(ns(x) for x in (
            e["order_id"] or "", str(e["seq"]), e["at"], e["actor"], e["action"],
            e["detail"], e["prev_hash"]))
        return hashlib.sha256(data).hexdigest()
    check("every audit entry's hash recomputes from its fields",
          entries and all(entry_hash(e) == e["hash"] for e in entries),
          [(e["seq"], entry_hash(e), e["hash"]) for e in entries][:3])
    # The order's trail is its own chain: the buyer checks every link.
    check("the order's trail is one whole chain: seq 1..n, each prev_hash the previous hash",
          [e["seq"] for e in entries] == list(range(1, len(entries) + 1)) and
          entries[0]["prev_hash"] == "0" * 64 and
          all(entries[i]["prev_hash"] == entries[i - 1]["hash"] for i in range(1, len(entries))),
          [(e["seq"], e["prev_hash"][:8], e["hash"][:8]) for e in entries])

    r = svc.request("POST", "/v1/orders/ord-1/deliveries?filename=late.jpg", body=photo,
                    token=seller, headers={"Content-Type": "image/jpeg"})
    check("no new delivery once the order is accepted", r.status == 409, r)

    svc.create_order("ord-2", "s-7", "b-9")
    seller2 = svc.token("seller", "s-7", "ord-2")
    r = svc.request("POST", "/v1/orders/ord-2/deliveries?filename=r%C3%A9sum%C3%A9.png",
                    body=image("png", 300, 200), token=seller2,
                    headers={"Content-Type": "application/octet-stream"})
    check("a raw body upload with ?filename= is answered 201", r.status == 201, r)
    o = svc.wait_ready("ord-2", seller2) or {}
    f = ((o.get("deliveries") or [{}])[0].get("files") or [{}])[0]
    check("its UTF-8 name is kept and its PNG type detected",
          f.get("name") == "résumé.png" and f.get("type") == "image/png"
          and f.get("preview") == "ready", f)
finally:
    svc.stop()
finish()
