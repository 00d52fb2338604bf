"""A dispute freezes an order: the buyer gets no original (file, archive,
plain hash) until the mediation accepts it, while the seller keeps
delivering revisions and the buyer keeps seeing their previews. Accepted
and cancelled end the dispute for good."""
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402


def error_code(r):
    return ((r.json() or {}).get("error") or {}).get("code")


def wait_ready(svc, order, token, n_files):
    deadline = time.time() + 60
    while True:
        r = svc.get("/v1/orders/%s" % order, token=token)
        files = [f for d in (r.json() or {}).get("deliveries", []) for f in d.get("files", [])]
        if len(files) >= n_files and all(f.get("preview") != "processing" for f in files):
            return files
        if time.time() > deadline:
            return files
        time.sleep(0.2)


svc = Service()
try:
    v1, v2 = image("jpg", 400, 300), image("png", 300, 200)
    seller = svc.token("seller", "s-d", "ord-disp")
    buyer = svc.token("buyer", "b-d", "ord-disp")
    check("the order is created", svc.create_order("ord-disp", "s-d", "b-d").status == 200)
    r = svc.upload("ord-disp", [("v1.jpg", v1)], seller, message="first")
    check("the first version is delivered", r.status == 201, r)
    f1 = ((r.json() or {}).get("files") or [{}])[0].get("id")
    wait_ready(svc, "ord-disp", seller, 1)

    r = svc.hook("order.disputed", {"order_id": "ord-disp", "reason": "colours are off"})
    check("order.disputed is applied", r.status == 200
          and (r.json() or {}).get("effect") == "disputed", r)
    r = svc.get("/v1/orders/ord-disp", token=buyer)
    doc = r.json() or {}
    check("the order reads disputed, not released", doc.get("state") == "disputed"
          and doc.get("released_at") is None, doc)
    check("a disputed order shows the buyer no plain hash",
          all(f.get("sha256") is None for d in doc.get("deliveries", []) for f in d["files"]), doc)

    r = svc.get("/v1/files/%s/original" % f1, token=buyer)
    check("while disputed the buyer's original is refused 403 not_released",
          r.status == 403 and error_code(r) == "not_released", r)
    check("the refusal carries no original byte", v1[100:164] not in r.body)
    r = svc.get("/v1/orders/ord-disp/deliveries/1/archive", token=buyer)
    check("while disputed the buyer's archive is refused 403 not_released",
          r.status == 403 and error_code(r) == "not_released" and v1[100:164] not in r.body, r)
    r = svc.get("/v1/files/%s/original" % f1, token=buyer, headers={"Range": "bytes=0-99"})
    check("a range request while disputed is refused too", r.status == 403, r)
    r = svc.get("/v1/files/%s/preview" % f1, token=buyer)
    check("while disputed the buyer still sees the preview", r.status == 200, r)
    r = svc.get("/v1/files/%s/original" % f1, token=seller)
    check("while disputed the seller still gets their original", r.status == 200 and r.body == v1, r)

    r = svc.upload("ord-disp", [("v2.png", v2)], seller, message="revision for the dispute")
    check("the seller delivers a revision while disputed: 201, version 2",
          r.status == 201 and (r.json() or {}).get("number") == 2, r)
    f2 = ((r.json() or {}).get("files") or [{}])[0].get("id")
    files = wait_ready(svc, "ord-disp", seller, 2)
    check("the revision's preview is made", any(f.get("id") == f2 and f.get("preview") == "ready"
                                                for f in files), files)
    r = svc.get("/v1/files/%s/preview" % f2, token=buyer)
    check("the buyer sees the revision's preview", r.status == 200, r)
    r = svc.get("/v1/files/%s/original" % f2, token=buyer)
    check("the revision's original stays frozen", r.status == 403 and error_code(r) == "not_released", r)
    r = svc.get("/v1/orders/ord-disp/audit", token=buyer)
    acts = [e.get("action") for e in (r.json() or {}).get("entries", [])]
    check("the trail holds the dispute before the revision",
          "order.disputed" in acts and acts.count("delivery.created") == 2
          and acts.index("order.disputed") < len(acts) - 1 - acts[::-1].index("delivery.created")
          and "file.released" not in acts, acts)

    r = svc.upload("ord-disp", [("hack.jpg", v1)], buyer)
    check("the buyer cannot deliver during a dispute (403 not_seller)",
          r.status == 403 and error_code(r) == "not_seller", r)

    r = svc.hook("order.disputed", {"order_id": "ord-disp"})
    check("a repeated dispute is unchanged", r.status == 200
          and (r.json() or {}).get("effect") == "unchanged", r)

    r = svc.hook("order.accepted", {"order_id": "ord-disp"})
    check("the mediation accepts: order.accepted applies to a disputed order",
          r.status == 200 and (r.json() or {}).get("effect") == "accepted", r)
    r1 = svc.get("/v1/files/%s/original" % f1, token=buyer)
    r2 = svc.get("/v1/files/%s/original" % f2, token=buyer)
    check("once accepted the buyer downloads both versions byte for byte",
          r1.status == 200 and r1.body == v1 and r2.status == 200 and r2.body == v2, (r1, r2))
    r = svc.upload("ord-disp", [("late.jpg", v1)], seller)
    check("after acceptance a delivery is refused 409 wrong_state",
          r.status == 409 and error_code(r) == "wrong_state", r)

    # ---- a dispute that ends cancelled never releases ----
    seller = svc.token("seller", "s-c", "ord-dc")
    buyer = svc.token("buyer", "b-c", "ord-dc")
    svc.create_order("ord-dc", "s-c", "b-c")
    r = svc.upload("ord-dc", [("v1.jpg", v1)], seller)
    fc = ((r.json() or {}).get("files") or [{}])[0].get("id")
    wait_ready(svc, "ord-dc", seller, 1)
    svc.hook("order.disputed", {"order_id": "ord-dc"})
    r = svc.hook("order.cancelled", {"order_id": "ord-dc", "reason": "refund"})
    check("the mediation cancels: order.cancelled applies to a disputed order",
          r.status == 200 and (r.json() or {}).get("effect") == "cancelled", r)
    r = svc.get("/v1/files/%s/original" % fc, token=buyer)
    check("a cancelled dispute releases nothing", r.status == 403 and v1[100:164] not in r.body, r)
    r = svc.get("/v1/files/%s/preview" % fc, token=buyer)
    check("a cancelled dispute revokes the buyer's previews (403 revoked)",
          r.status == 403 and error_code(r) == "revoked", r)
    r = svc.hook("order.accepted", {"order_id": "ord-dc"})
    check("a late acceptance of a cancelled order answers 409", r.status == 409, r)
    r = svc.get("/v1/files/%s/original" % fc, token=buyer)
    check("and still releases nothing", r.status == 403, r)
    r = svc.hook("order.disputed", {"order_id": "ord-dc"})
    check("a cancelled order cannot be disputed again (409)", r.status == 409, r)
finally:
    svc.stop()
finish()
