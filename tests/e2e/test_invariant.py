"""The invariant, tried from every side: every caller against every order
state and every download endpoint. No original byte reaches anyone but the
seller or the admin before the acceptance webhook is recorded.

matrix(svc) takes anything that speaks like a Service: run as a script, one
node; test_cluster_invariant.py runs it against two nodes sharing
PostgreSQL and S3."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402


def matrix(svc):
    """Runs every check; returns {state: (order id, files by name, photo
    bytes, text bytes)} for a caller's own further checks."""
    MARK = b"ORIGINAL-BYTES-MARKER-"
    states = ["open", "disputed", "cancelled", "accepted"]
    orders = {}
    for st in states:
        oid = "ord-" + st
        svc.create_order(oid, "s-" + st, "b-" + st)
        seller = svc.token("seller", "s-" + st, oid)
        photo = image("png", 320, 240)
        # Bytes of no previewable type (text is previewed now): withheld.
        text = b"\x00\x01\x02" + MARK + st.encode() + b"\n"
        # Its previews made before the matrix asks for them (they are jobs).
        r = svc.upload_done(oid, [("photo.png", photo), ("contract.bin", text)], seller)
        files = {f["name"]: f for f in (r.json() or {}).get("files", [])}
        check("delivery uploaded to the %s order" % st, r.status == 201, r)
        orders[st] = (oid, files, photo, text)
    svc.hook("order.disputed", {"order_id": "ord-disputed"})
    svc.hook("order.cancelled", {"order_id": "ord-cancelled"})
    svc.hook("order.accepted", {"order_id": "ord-accepted"})

    def callers(st):
        oid = "ord-" + st
        good_buyer = svc.token("buyer", "b-" + st, oid)
        head, payload, sig = good_buyer.split(".")
        tampered_sig = head + "." + payload + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
        forged_payload = svc.token("buyer", "b-" + st, oid, ttl=99999).split(".")[1]
        return {
            "no token": None,
            "an expired token": svc.token("buyer", "b-" + st, oid, ttl=-120),
            "an alg none token": svc.token("admin", "ops", alg="none"),
            "an HS512 token": svc.token("admin", "ops", alg="HS512"),
            "a tampered signature": tampered_sig,
            "a tampered payload": head + "." + forged_payload + "." + sig,
            "a token signed with another secret": svc.token("admin", "ops", secret="x" * 40),
            "the buyer of another order": svc.token("buyer", "b-other", "ord-other"),
            "the seller of another order": svc.token("seller", "s-other", "ord-other"),
            "another buyer naming this order": svc.token("buyer", "b-impostor", oid),
            "the buyer": good_buyer,
            "the seller": svc.token("seller", "s-" + st, oid),
            "the admin": svc.token("admin", "order-system"),
        }

    # Expected status per caller and endpoint, by state.
    def expected(who, endpoint, st):
        if who in ("no token", "an expired token", "an alg none token", "an HS512 token",
                   "a tampered signature", "a tampered payload",
                   "a token signed with another secret"):
            return 401
        if who in ("the buyer of another order", "the seller of another order",
                   "another buyer naming this order"):
            return 403
        if who in ("the seller", "the admin"):
            return 200
        # the buyer
        if endpoint in ("original", "the delivery archive"):
            return 200 if st == "accepted" else 403
        if endpoint == "preview":
            return 403 if st == "cancelled" else 200
        return 200

    for st in states:
        oid, files, photo, text = orders[st]
        photo_id, text_id = files["photo.png"]["id"], files["contract.bin"]["id"]
        for who, tok in callers(st).items():
            for endpoint, path in (("preview", "/v1/files/%s/preview" % photo_id),
                                   ("original", "/v1/files/%s/original" % photo_id),
                                   ("order JSON", "/v1/orders/%s" % oid),
                                   ("the delivery archive", "/v1/orders/%s/deliveries/1/archive" % oid)):
                want = expected(who, endpoint, st)
                r = svc.get(path, token=tok)
                check("%s on a %s order: %s is %d" % (who, st, endpoint, want),
                      r.status == want, r)
                privileged = who in ("the seller", "the admin") or st == "accepted"
                if not privileged:
                    check("%s on a %s order: %s carries no original byte" % (who, st, endpoint),
                          photo[100:160] not in r.body and MARK not in r.body)
            r = svc.get("/v1/files/%s/original" % text_id, token=tok)
            want = expected(who, "original", st)
            check("%s on a %s order: the withheld file's original is %d" % (who, st, want),
                  r.status == want and (want != 200 or r.body == text), r)
            r = svc.get("/v1/files/%s/preview" % text_id, token=tok)
            check("%s on a %s order: a withheld file never has a preview" % (who, st),
                  r.status != 200 and MARK not in r.body, r)

    # A released original is still only the seller's before acceptance in
    # every other order, even via the ?token= link form.
    oid, files, photo, text = orders["open"]
    r = svc.get("/v1/files/%s/original?token=%s" % (files["photo.png"]["id"],
                                                     svc.token("buyer", "b-open", oid)))
    check("a ?token= link does not open an unreleased original", r.status == 403, r)
    r = svc.get("/_blobs/sha256/%s/%s/%s" % (files["photo.png"]["sha256"][:2],
                                             files["photo.png"]["sha256"][2:4],
                                             files["photo.png"]["sha256"]))
    check("the internal blob location cannot be reached from outside",
          r.status == 404 and photo[100:160] not in r.body, r)
    r = svc.get("/v1/files/%s/original" % ("0" * 32), token=svc.token("admin", "ops"))
    check("an unknown file is 404", r.status == 404, r)
    r = svc.get("/v1/files/..%2F..%2Fetc%2Fpasswd/original", token=svc.token("admin", "ops"))
    check("a path-like file id is refused", r.status in (400, 404) and b"root:" not in r.body, r)
    return orders


if __name__ == "__main__":
    svc = Service()
    try:
        matrix(svc)
    finally:
        svc.stop()
    finish()
