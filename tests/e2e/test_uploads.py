"""Hostile and edge-case uploads: every one gets a clear JSON error with a
fitting status, nothing half-recorded, and the worker stays up."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402

LIMIT_FILE = 200000
svc = Service(env={"FILIGRANE_MAX_FILE_BYTES": str(LIMIT_FILE), "FILIGRANE_MAX_FILES": "3",
                   "FILIGRANE_MAX_DELIVERY_BYTES": "1000000"})
try:
    svc.create_order("ord-u", "s-u", "b-u")
    seller = svc.token("seller", "s-u", "ord-u")
    admin = svc.token("admin", "ops")

    def deliveries():
        r = svc.get("/v1/orders/ord-u", token=admin)
        return len((r.json() or {}).get("deliveries", []))

    def error_code(r):
        return ((r.json() or {}).get("error") or {}).get("code")

    r = svc.upload("ord-u", [("big.bin", os.urandom(LIMIT_FILE + 1))], seller)
    check("a file one byte over the file limit answers 413 JSON",
          r.status == 413 and error_code(r) == "too_large", r)
    r = svc.upload("ord-u", [("edge.bin", os.urandom(LIMIT_FILE))], seller)
    check("a file exactly at the file limit is taken", r.status == 201, r)
    r = svc.request("POST", "/v1/orders/ord-u/deliveries?filename=huge.bin",
                    body=os.urandom(1000001), token=seller,
                    headers={"Content-Type": "application/octet-stream"})
    check("a body over the delivery limit is refused by nginx with 413 JSON",
          r.status == 413 and error_code(r) == "too_large", r)
    r = svc.upload("ord-u", [("f%d.txt" % i, b"x%d" % i) for i in range(4)], seller)
    check("more files than the limit answers 413", r.status == 413, r)
    n = deliveries()

    boundary = "XyZ"
    bad = [
        ("a body with no closing boundary",
         b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nabc"),
        ("a body with a wrong boundary",
         b"--Other\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nabc\r\n--Other--\r\n"),
        ("a part without Content-Disposition", b"--XyZ\r\n\r\nabc\r\n--XyZ--\r\n"),
        ("garbage", os.urandom(3000)),
    ]
    for name, body in bad:
        r = svc.request("POST", "/v1/orders/ord-u/deliveries", body=body, token=seller,
                        headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        check("%s answers 400 JSON" % name, r.status == 400 and error_code(r), r)
    r = svc.request("POST", "/v1/orders/ord-u/deliveries", body=b"abc", token=seller,
                    headers={"Content-Type": "multipart/form-data"})
    check("multipart without a boundary answers 400", r.status == 400, r)
    check("no delivery was recorded by the broken uploads", deliveries() == n)

    r = svc.upload("ord-u", [("../../etc/passwd", b"root:x:0:0\n")], seller)
    f = ((r.json() or {}).get("files") or [{}])[0]
    check("a ../../etc/passwd file name is kept as a name only",
          r.status == 201 and f.get("name") == "../../etc/passwd", r)
    r = svc.get("/v1/files/%s/original" % f.get("id"), token=seller)
    check("and its content is the uploaded one", r.status == 200 and r.body == b"root:x:0:0\n", r)

    r = svc.upload("ord-u", [("empty.txt", b"")], seller)
    check("an empty file answers 400", r.status == 400, r)
    r = svc.request("POST", "/v1/orders/ord-u/deliveries?filename=x.bin", body=b"", token=seller,
                    headers={"Content-Type": "application/octet-stream"})
    check("an empty raw body answers 400", r.status == 400, r)
    r = svc.request("POST", "/v1/orders/ord-u/deliveries", body=b"abc", token=seller,
                    headers={"Content-Type": "application/octet-stream"})
    check("a raw body without ?filename= answers 400", r.status == 400, r)

    r = svc.upload_done("ord-u", [("fake.jpg", b"this is text, not a JPEG\n" * 10)], seller)
    f = ((r.json() or {}).get("files") or [{}])[0]
    check("a text file named .jpg is typed by content: text, not an image",
          r.status == 201 and f.get("kind") == "text" and f.get("type", "").startswith("text/"), f)
    jpg = image("jpg", 400, 300)
    r = svc.upload_done("ord-u", [("cut.jpg", jpg[: len(jpg) // 2])], seller)
    f = ((r.json() or {}).get("files") or [{}])[0]
    check("a truncated JPEG gets a failed preview with a reason",
          r.status == 201 and f.get("preview") == "failed" and f.get("reason"), f)

    buyer = svc.token("buyer", "b-u", "ord-u")
    r = svc.upload("ord-u", [("a.txt", b"abc")], buyer)
    check("a buyer cannot deliver", r.status == 403, r)
    r = svc.upload("ord-zz", [("a.txt", b"abc")], svc.token("seller", "s-u", "ord-zz"))
    check("a delivery to an unknown order answers 404", r.status == 404, r)

    r = svc.request("DELETE", "/v1/orders/ord-u", token=admin)
    check("a wrong method answers 405 with Allow", r.status == 405 and "GET" in (r.header("allow") or ""), r)
    r = svc.get("/v1/nothing/here", token=admin)
    check("an unknown route answers 404 JSON", r.status == 404 and error_code(r) == "not_found", r)
    check("the worker is still up after hostile uploads", svc.get("/healthz").status == 200)
    tmp = os.path.join(svc.data, "tmp")
    left = [n for n in os.listdir(tmp) if os.path.isfile(os.path.join(tmp, n))]
    check("no temp file is left behind", not left, left)
finally:
    svc.stop()
finish()
