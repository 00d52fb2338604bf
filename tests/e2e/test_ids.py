"""One rule for identifiers, end to end: an order id the order system may
send (1 to 128 bytes of [A-Za-z0-9._~:@+-], not starting with '.') is
created by webhook and then reachable at every URL, raw or
percent-encoded; an id outside the rule is refused the same way by the
webhook, the URLs and the tokens."""
import hashlib
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402


def enc(s):
    """Every byte but letters and digits percent-encoded."""
    return "".join(c if c.isalnum() else "%%%02X" % ord(c) for c in s)


def wait_ready(svc, order, token, n_files, path_order=None):
    """Waits for every file of the order to leave `processing`."""
    deadline = time.time() + 60
    while True:
        r = svc.get("/v1/orders/%s" % (path_order or order), token=token)
        files = [f for d in (r.json() or {}).get("deliveries", []) for f in d.get("files", [])]
        if len(files) >= n_files and all(f.get("preview") != "processing" for f in files):
            return files
        if time.time() > deadline:
            return files
        time.sleep(0.2)


def error_code(r):
    return ((r.json() or {}).get("error") or {}).get("code")


svc = Service()
try:
    photo = image("jpg", 400, 300)

    # ---- ord:42, the whole story ----
    oid, sid, bid = "ord:42", "seller@studio.example", "buyer+1@example.com"
    seller = svc.token("seller", sid, oid)
    buyer = svc.token("buyer", bid, oid)
    r = svc.create_order(oid, sid, bid)
    check("order.created for ord:42 is applied",
          r.status == 200 and (r.json() or {}).get("effect") == "created", r)
    r = svc.upload(oid, [("logo.jpg", photo)], seller)
    check("the seller of ord:42 (sub with @) uploads to /v1/orders/ord:42/deliveries: 201",
          r.status == 201, r)
    fid = ((r.json() or {}).get("files") or [{}])[0].get("id")
    files = wait_ready(svc, oid, seller, 1)
    check("ord:42's preview is made", files and files[0].get("preview") == "ready", files)
    r = svc.get("/v1/orders/ord:42", token=buyer)
    check("GET /v1/orders/ord:42 answers the order to its buyer",
          r.status == 200 and (r.json() or {}).get("id") == oid, r)
    for path in ("/v1/orders/ord%3A42", "/v1/orders/ord%3a42", "/v1/orders/%6Frd:42",
                 "/v1/orders/" + enc(oid)):
        r = svc.get(path, token=buyer)
        check("a percent-encoded path names the same order (%s)" % path,
              r.status == 200 and (r.json() or {}).get("id") == oid, r)
    r = svc.get("/v1/orders/ord:42/audit", token=buyer)
    check("ord:42's audit trail answers", r.status == 200
          and any(e.get("action") == "delivery.created" for e in (r.json() or {}).get("entries", [])), r)
    r = svc.get("/v1/files/%s/preview" % fid, token=buyer)
    check("ord:42's buyer gets the preview", r.status == 200 and r.body[:2] == b"\xff\xd8", r)
    r = svc.get("/v1/files/%s/original" % fid, token=buyer)
    check("ord:42's buyer is refused the original before acceptance",
          r.status == 403 and error_code(r) == "not_released", r)
    r = svc.hook("order.accepted", {"order_id": oid})
    check("order.accepted for ord:42 is applied",
          r.status == 200 and (r.json() or {}).get("effect") == "accepted", r)
    r = svc.get("/v1/files/%s/original" % fid, token=buyer)
    check("after acceptance ord:42's buyer downloads the original byte for byte",
          r.status == 200 and hashlib.sha256(r.body).digest() == hashlib.sha256(photo).digest(), r)
    r = svc.get("/v1/orders/ord:42/deliveries/1/archive", token=buyer)
    check("ord:42's archive downloads", r.status == 200 and r.body[:2] == b"PK", r)
    r = svc.get("/v1/orders/ord%3A42/deliveries/1/archive", token=buyer)
    check("ord:42's archive at its percent-encoded path too", r.status == 200 and r.body[:2] == b"PK", r)

    # ---- every punctuation of the rule, and the 128-byte edge ----
    others = ["a@b", "o+1", "~tilde", "x_y.z", "-:@+~._", "U" * 128]
    for i, oid in enumerate(others):
        seller = svc.token("seller", "s-%d" % i, oid)
        buyer = svc.token("buyer", "b-%d" % i, oid)
        r = svc.create_order(oid, "s-%d" % i, "b-%d" % i)
        ok = r.status == 200
        # Uploaded through the percent-encoded URL: nginx's location and the
        # worker's early check both see the decoded path.
        boundary = "b%d" % i
        body = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n"
                "Content-Type: image/jpeg\r\n\r\n" % boundary).encode() + photo + \
            ("\r\n--%s--\r\n" % boundary).encode()
        r = svc.request("POST", "/v1/orders/%s/deliveries" % enc(oid), body=body, token=seller,
                        headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        ok = ok and r.status == 201
        fid = ((r.json() or {}).get("files") or [{}])[0].get("id")
        wait_ready(svc, oid, seller, 1)
        ok = ok and svc.get("/v1/orders/%s" % oid, token=buyer).status == 200
        ok = ok and svc.get("/v1/files/%s/preview" % fid, token=buyer).status == 200
        ok = ok and svc.hook("order.accepted", {"order_id": oid}).status == 200
        r = svc.get("/v1/files/%s/original" % fid, token=buyer)
        ok = ok and r.status == 200 and r.body == photo
        ok = ok and svc.get("/v1/orders/%s/deliveries/1/archive" % oid, token=buyer).status == 200
        check("order %r (%d bytes): created, uploaded, previewed, accepted, downloaded"
              % (oid if len(oid) < 20 else oid[:8] + "...", len(oid)), ok, r)

    # ---- ids outside the rule: refused everywhere alike ----
    admin = svc.token("admin", "ops")
    for bad in ["V" * 129, ".hidden", "a%2Fb", "a b", "ord/1"]:
        r = svc.create_order(bad, "s-x", "b-x")
        want = 413 if len(bad) > 128 else 400
        check("order.created with id %r is refused %d" % (bad[:12], want), r.status == want, r)
    r = svc.get("/v1/orders/" + "V" * 129, token=admin)
    check("a 129-byte order id in a URL answers 400 bad_id",
          r.status == 400 and error_code(r) == "bad_id", r)
    r = svc.get("/v1/orders/" + "V" * 128, token=admin)
    check("a 128-byte order id that does not exist answers 404", r.status == 404, r)
    for path in ("/v1/orders/.hidden", "/v1/orders/%2Ehidden", "/v1/orders/a%20b",
                 "/v1/orders/a%25b", "/v1/files/%2E%2E/preview"):
        r = svc.get(path, token=admin)
        check("%s answers 400" % path, r.status == 400, r)
    r = svc.get("/v1/orders/a%2Fb", token=admin)
    check("%2F is a slash: /v1/orders/a%2Fb is no order route (404)", r.status == 404, r)
    r = svc.get("/v1/orders/ord:42", token=svc.token("buyer", "b 9", "ord:42"))
    check("a token whose sub is not an id is refused 401", r.status == 401, r)
    r = svc.get("/v1/orders/ord:42", token=svc.token("buyer", "buyer+1@example.com", ".ord"))
    check("a token whose ord is not an id is refused 401", r.status == 401, r)
    r = svc.hook("order.disputed", {"order_id": "ord:42"}, hook_id="msg 1")
    check("a webhook-id outside the rule is refused 401", r.status == 401, r)
finally:
    svc.stop()
finish()
