"""tus 1.0 resumable uploads against real nginx and the worker: creation,
HEAD, PATCH (offsets, checksums, sizes), termination, expiry, the early
refusal of a chunk with a bad token, another seller's token, a restart in
the middle of an upload, and finishing uploads into a delivery through the
JSON body of POST /v1/orders/{order}/deliveries.
"""
import base64
import hashlib
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import TOP, Service, check, finish, body_files, read_final  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402


TUS = {"Tus-Resumable": "1.0.0"}
MAX_FILE = 4 * 1024 * 1024
MAX_DELIVERY = 5 * 1024 * 1024


def meta(name):
    return "filename " + base64.b64encode(name.encode()).decode()


def code(r):
    try:
        return (json.loads(r.body).get("error") or {}).get("code")
    except (ValueError, AttributeError):
        return None


def create(svc, order, token, length, name="a.bin", extra=None):
    h = dict(TUS, **{"Upload-Length": str(length), "Upload-Metadata": meta(name)})
    h.update(extra or {})
    return svc.request("POST", "/v1/orders/%s/uploads" % order, token=token, headers=h)


def patch(svc, loc, token, offset, data, extra=None, ctype="application/offset+octet-stream"):
    h = dict(TUS, **{"Upload-Offset": str(offset), "Content-Type": ctype})
    h.update(extra or {})
    return svc.request("PATCH", loc, body=data, token=token, headers=h)


def head(svc, loc, token):
    return svc.request("HEAD", loc, token=token, headers=TUS)


def finish_uploads(svc, order, token, ids, message="done", extra=None):
    h = {"Content-Type": "application/json"}
    h.update(extra or {})
    return svc.request("POST", "/v1/orders/%s/deliveries" % order, token=token, headers=h,
                       body=json.dumps({"uploads": ids, "message": message}).encode())


def sha_b64(data):
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


svc = Service(env={"FILIGRANE_MAX_FILE_BYTES": str(MAX_FILE), "FILIGRANE_MAX_FILES": "4",
                   "FILIGRANE_MAX_DELIVERY_BYTES": str(MAX_DELIVERY)})
try:
    svc.create_order("ord-t", "s-t", "b-t")
    svc.create_order("ord-u", "s-u", "b-u")
    seller = svc.token("seller", "s-t", "ord-t")
    other = svc.token("seller", "s-u", "ord-u")
    buyer = svc.token("buyer", "b-t", "ord-t")

    r = svc.request("OPTIONS", "/v1/uploads")
    check("OPTIONS lists Tus-Version, the extensions, Tus-Max-Size and sha256",
          r.status == 204 and r.header("tus-version") == "1.0.0"
          and r.header("tus-extension") == "creation,termination,expiration,checksum"
          and r.header("tus-max-size") == str(MAX_FILE)
          and r.header("tus-checksum-algorithm") == "sha256", r)

    # ---- creation ----
    data = os.urandom(1024 * 1024 + 12345)
    r = create(svc, "ord-t", seller, len(data), "photo é.jpg")
    loc = r.header("location") or ""
    check("creation answers 201 with Location /v1/uploads/{id}, Upload-Expires and "
          "Tus-Resumable", r.status == 201 and loc.startswith("/v1/uploads/")
          and r.header("upload-expires", ) and r.header("tus-resumable") == "1.0.0", r)
    r = svc.request("PUT", loc, body=b"x" * 1024, token=seller, headers=TUS)
    check("a PUT on an upload is refused early 405 naming tus's methods, with Tus-Resumable",
          r.status == 405 and "PATCH" in (r.header("allow") or "")
          and "POST" not in (r.header("allow") or "")
          and r.header("tus-resumable") == "1.0.0", r)
    r2 = svc.request("POST", "/v1/orders/ord-t/uploads", token=seller,
                     headers={"Upload-Length": "10", "Upload-Metadata": meta("x")})
    check("a request without Tus-Resumable is answered 412 with Tus-Version",
          r2.status == 412 and r2.header("tus-version") == "1.0.0", r2)
    r2 = create(svc, "ord-t", seller, 10, extra={"Tus-Resumable": "0.2.2"})
    check("a request with another Tus-Resumable is answered 412", r2.status == 412, r2)
    r2 = svc.request("POST", "/v1/orders/ord-t/uploads", token=seller,
                     headers=dict(TUS, **{"Upload-Metadata": meta("x")}))
    check("creation without Upload-Length is answered 400", r2.status == 400, r2)
    r2 = create(svc, "ord-t", seller, MAX_FILE + 1)
    check("creation of one byte more than FILIGRANE_MAX_FILE_BYTES is answered 413 naming it",
          r2.status == 413 and b"FILIGRANE_MAX_FILE_BYTES" in r2.body, r2)
    r2 = create(svc, "ord-t", seller, MAX_FILE)
    check("creation of exactly FILIGRANE_MAX_FILE_BYTES is taken (201)", r2.status == 201, r2)
    if r2.status == 201:
        svc.request("DELETE", r2.header("location"), token=seller, headers=TUS)
    r2 = svc.request("POST", "/v1/orders/ord-t/uploads", token=seller,
                     headers=dict(TUS, **{"Upload-Length": "10"}))
    check("creation without Upload-Metadata filename is answered 400", r2.status == 400, r2)
    for bad, why in (("a/b", "a slash"), ("x\x01y", "a control character"),
                     ("evil\u202egpj.exe", "a direction override")):
        r2 = create(svc, "ord-t", seller, 10, bad)
        check("a file name with %s is refused at creation (400)" % why, r2.status == 400, r2)
    r2 = create(svc, "ord-t", buyer, 10)
    check("the buyer cannot create an upload (403)", r2.status == 403, r2)
    r2 = create(svc, "ord-t", other, 10)
    check("another order's seller cannot create an upload on this order (403)",
          r2.status == 403, r2)
    r2 = create(svc, "ord-t", None, 10)
    check("creation without a token is answered 401", r2.status == 401, r2)

    # ---- HEAD / PATCH ----
    r = head(svc, loc, seller)
    check("HEAD gives Upload-Offset 0, Upload-Length, Cache-Control no-store, Upload-Expires",
          r.status == 200 and r.header("upload-offset") == "0"
          and r.header("upload-length") == str(len(data))
          and "no-store" in (r.header("cache-control") or "") and r.header("upload-expires"), r)
    half = 600 * 1024
    r = patch(svc, loc, seller, 0, data[:half], ctype="application/octet-stream")
    check("a PATCH with another Content-Type is answered 415", r.status == 415, r)
    r = patch(svc, loc, seller, 5, data[:half])
    check("a PATCH at the wrong Upload-Offset is answered 409", r.status == 409, r)
    r = patch(svc, loc, seller, 0, data[:half], {"Upload-Checksum": sha_b64(b"other")})
    check("a PATCH whose Upload-Checksum does not match is answered 460",
          r.status == 460 and r.header("tus-resumable") == "1.0.0", r)
    r = head(svc, loc, seller)
    check("the chunk refused for its checksum was discarded (offset still 0)",
          r.header("upload-offset") == "0", r)
    r = patch(svc, loc, seller, 0, data[:half], {"Upload-Checksum": sha_b64(data[:half])})
    check("a PATCH with the right checksum answers 204 with the new Upload-Offset",
          r.status == 204 and r.header("upload-offset") == str(half)
          and r.header("upload-expires"), r)
    r = patch(svc, loc, other, half, data[half:])
    check("another seller's token on the upload is refused (404), before its body",
          r.status == 404, r)
    check("nginx's early refusal says Tus-Resumable too", r.header("tus-resumable") == "1.0.0",
          r)
    r = patch(svc, loc, buyer, half, data[half:])
    check("the buyer's token on the upload is refused (404)", r.status == 404, r)
    r = head(svc, loc, other)
    check("another seller's HEAD is refused (404)", r.status == 404, r)
    r = patch(svc, loc, seller, half, data[half:] + b"x")
    check("a PATCH longer than what is left is answered 413", r.status == 413, r)

    # A restart in the middle: the state is in the store, the bytes stay.
    svc._kill()
    svc._start()
    r = head(svc, loc, seller)
    check("after a restart the upload is still there at its offset",
          r.status == 200 and r.header("upload-offset") == str(half), r)
    # A crash between append and commit: bytes past the offset are cut.
    uid = loc.rsplit("/", 1)[1]
    with open(os.path.join(svc.data, "tmp", "tus-" + uid), "ab") as f:
        f.write(b"garbage of a dead request")
    # Another chunk of this upload being written (its lock held): refused.
    import fcntl
    with open(os.path.join(svc.data, "tmp", "tus-" + uid), "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        r = patch(svc, loc, seller, half, data[half:])
        fcntl.flock(held, fcntl.LOCK_UN)
    check("a chunk while another chunk of the upload is being written answers 409 upload_busy",
          r.status == 409 and code(r) == "upload_busy", r)
    r = patch(svc, loc, seller, half, data[half:])
    check("the last chunk completes the upload (204, offset = length)",
          r.status == 204 and r.header("upload-offset") == str(len(data)), r)

    # ---- finishing ----
    small = b"second file\n"
    r = create(svc, "ord-t", seller, len(small), "notes.txt")
    loc2 = r.header("location")
    id2 = loc2.rsplit("/", 1)[1]
    r = finish_uploads(svc, "ord-t", seller, [uid, id2])
    check("finishing with an incomplete upload is answered 409",
          r.status == 409 and id2.encode() in r.body, r)
    patch(svc, loc2, seller, 0, small)
    r = finish_uploads(svc, "ord-t", other, [uid, id2])
    check("another seller cannot finish these uploads (403)", r.status in (403, 404), r)
    r = finish_uploads(svc, "ord-u", other, [id2])
    check("a seller cannot deliver another order's upload to their own order (404)",
          r.status == 404 and code(r) == "not_found", r)
    r = finish_uploads(svc, "ord-t", seller, [uid, uid])
    check("an upload listed twice is answered 400", r.status == 400, r)
    r = finish_uploads(svc, "ord-t", seller, [uid, id2], "two files", {"Idempotency-Key": "k1"})
    d = r.json() or {}
    files = d.get("files") or []
    check("finished uploads become one delivery (201) with both files in order",
          r.status == 201 and [f.get("name") for f in files] == ["photo é.jpg", "notes.txt"]
          and d.get("message") == "two files", r)
    check("the delivered files' sizes are the uploads'",
          [f.get("size") for f in files] == [len(data), len(small)], files)
    doc = svc.wait_ready("ord-t", seller, number=d.get("number")) or {}
    r = svc.request("POST", "/v1/orders/ord-t/deliveries", token=seller,
                    headers={"Content-Type": "application/json", "Idempotency-Key": "k1"},
                    body=json.dumps({"uploads": [uid, id2], "message": "two files"}).encode())
    check("the same JSON delivery retried with its Idempotency-Key answers the first (201)",
          r.status == 201 and (r.json() or {}).get("number") == d.get("number"), r)
    r = finish_uploads(svc, "ord-t", seller, [uid])
    check("a finished upload used twice is answered 404", r.status == 404, r)
    check("the finished uploads' data files are gone",
          not [f for f in os.listdir(os.path.join(svc.data, "tmp")) if f.startswith("tus-")],
          os.listdir(os.path.join(svc.data, "tmp")))
    # Accept, then the original must be byte for byte, with the sha256
    # computed chunk by chunk.
    svc.hook("order.accepted", {"order_id": "ord-t"})
    fid = files[0].get("id") if files else ""
    r = svc.get("/v1/files/%s/original" % fid, token=buyer)
    check("the released original is the uploaded file byte for byte",
          r.status == 200 and r.body == data, (r.status, len(r.body)))
    db = sqlite3.connect(os.path.join(svc.data, "filigrane.db"))
    row = db.execute("SELECT sha256, salt, commitment FROM files WHERE id = ?", (fid,)).fetchone()
    check("the sha256 computed as chunks arrived is the file's",
          row and row[0] == hashlib.sha256(data).hexdigest(), row)
    check("the commitment is SHA-256(salt || content)",
          row and row[2] == hashlib.sha256(bytes.fromhex(row[1]) + data).hexdigest(), row)
    r = create(svc, "ord-t", seller, 10)
    check("an accepted order takes no more uploads (409)", r.status == 409, r)

    # ---- termination, expiry, limits ----
    r = create(svc, "ord-u", other, 100, "t.bin")
    loc3 = r.header("location")
    r = svc.request("DELETE", loc3, token=seller, headers=TUS)
    check("another seller cannot terminate the upload (404)", r.status == 404, r)
    r = svc.request("DELETE", loc3, token=other, headers=TUS)
    check("termination answers 204", r.status == 204, r)
    r = head(svc, loc3, other)
    check("a terminated upload is gone (404)", r.status == 404, r)
    locs = [create(svc, "ord-u", other, 10, "n%d" % i).header("location") for i in range(4)]
    r = create(svc, "ord-u", other, 10, "n5")
    check("an order holds at most FILIGRANE_MAX_FILES unfinished uploads (413 naming it)",
          r.status == 413 and b"FILIGRANE_MAX_FILES" in r.body, r)
    # The files of a JSON delivery add up under FILIGRANE_MAX_DELIVERY_BYTES.
    svc.create_order("ord-w", "s-w", "b-w")
    wt = svc.token("seller", "s-w", "ord-w")
    big = os.urandom(MAX_DELIVERY // 2)
    ids = []
    for i, size in enumerate((len(big), len(big), 1)):
        loc5 = create(svc, "ord-w", wt, size, "p%d.bin" % i).header("location")
        patch(svc, loc5, wt, 0, big[:size])
        ids.append(loc5.rsplit("/", 1)[1])
    r = finish_uploads(svc, "ord-w", wt, ids)
    check("uploads adding up to one byte more than FILIGRANE_MAX_DELIVERY_BYTES are refused "
          "(413 naming it)", r.status == 413 and b"FILIGRANE_MAX_DELIVERY_BYTES" in r.body, r)
    r = finish_uploads(svc, "ord-w", wt, ids[:2])
    check("uploads adding up to exactly FILIGRANE_MAX_DELIVERY_BYTES become a delivery (201)",
          r.status == 201, r)

    # ---- early refusal: no body spooled for a bad token ----
    svc.create_order("ord-v", "s-v", "b-v")
    r = create(svc, "ord-v", svc.token("seller", "s-v", "ord-v"), MAX_FILE, "big.bin")
    loc4 = r.header("location")
    for name, tok in (("no token", None), ("another seller's token", other)):
        time.sleep(0.3)  # earlier requests' body files are cleaned up
        earlier = set(body_files(svc))
        s = socket.create_connection(("127.0.0.1", svc.port))
        h = ("PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
             "Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n"
             "Expect: 100-continue\r\n" % (loc4, MAX_FILE))
        if tok:
            h += "Authorization: Bearer %s\r\n" % tok
        s.sendall((h + "\r\n").encode())
        got, hd, body = read_final(s)
        spooled = set(body_files(svc)) - earlier
        s.close()
        check("a PATCH with %s is refused before its body is sent, nothing spooled" % name,
              got in (401, 404) and not spooled, (got, hd, spooled))

    # The version too: a good token without Tus-Resumable: 1.0.0 is
    # answered 412 by the early check, before a byte of the chunk is sent.
    seller_v = svc.token("seller", "s-v", "ord-v")
    for name, line in (("no Tus-Resumable", ""), ("Tus-Resumable: 0.2.2",
                                                  "Tus-Resumable: 0.2.2\r\n")):
        time.sleep(0.3)
        earlier = set(body_files(svc))
        s = socket.create_connection(("127.0.0.1", svc.port))
        s.sendall(("PATCH %s HTTP/1.1\r\nHost: x\r\n%sUpload-Offset: 0\r\n"
                   "Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n"
                   "Expect: 100-continue\r\nAuthorization: Bearer %s\r\n\r\n"
                   % (loc4, line, MAX_FILE, seller_v)).encode())
        got, hd, body = read_final(s)
        spooled = set(body_files(svc)) - earlier
        s.close()
        hdl = hd.lower() if isinstance(hd, str) else ""
        try:
            err = json.loads(body.split(b"\n")[0]).get("error") or {}
        except ValueError:
            err = {}
        check("a seller's PATCH with %s (Expect: 100-continue, 4 MiB announced) is answered "
              "412 before its body is sent, nothing spooled" % name,
              got == 412 and not spooled, (got, hd, spooled))
        check("that early 412 says Tus-Version: 1.0.0 and Tus-Resumable: 1.0.0",
              "\r\ntus-version: 1.0.0" in hdl and "\r\ntus-resumable: 1.0.0" in hdl, hd)
        check("that early 412 is our JSON error (tus_version, with a request id)",
              err.get("code") == "tus_version" and "1.0.0" in err.get("message", "")
              and err.get("request_id"), body)
    r = svc.request("HEAD", loc4, token=seller_v, headers={"Tus-Resumable": "0.2.2"})
    check("a HEAD with another Tus-Resumable is answered 412 with Tus-Version",
          r.status == 412 and r.header("tus-version") == "1.0.0", r)
    r = svc.request("OPTIONS", loc4)
    check("OPTIONS on an upload needs no Tus-Resumable (204)", r.status == 204, r)
    r = head(svc, loc4, seller_v)
    check("the refused chunks left the upload at offset 0",
          r.status == 200 and r.header("upload-offset") == "0", r)
finally:
    svc.stop()

# ---- expiry, in a service whose uploads expire after 3 s ----
# Upload-Expires is an HTTP date, whole seconds: an upload lives between
# FILIGRANE_UPLOAD_EXPIRY - 1 s and FILIGRANE_UPLOAD_EXPIRY after its last
# activity; the sleeps below keep clear of that second.
svc = Service(env={"FILIGRANE_UPLOAD_EXPIRY": "3s", "FILIGRANE_BLOB_GC_INTERVAL": "1"})
try:
    svc.create_order("ord-x", "s-x", "b-x")
    tok = svc.token("seller", "s-x", "ord-x")
    r = create(svc, "ord-x", tok, 10, "gone.bin")
    gone = r.header("location")
    keep = create(svc, "ord-x", tok, 10, "kept.bin").header("location")
    r2 = create(svc, "ord-x", tok, 10, "swept.bin")
    swept = r2.header("location")
    stamp = time.time()
    r = patch(svc, gone, tok, 0, b"12345")
    exp = r.header("upload-expires") or ""
    want = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(int(stamp) + 3))
    check("Upload-Expires is last activity + FILIGRANE_UPLOAD_EXPIRY in RFC 9110 form",
          r.status == 204 and exp in (want, time.strftime(
              "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(int(stamp) + 4))), (exp, want))
    time.sleep(1.5)
    r = patch(svc, keep, tok, 0, b"1")
    check("activity before the expiry keeps an upload (204)", r.status == 204, r)
    time.sleep(0.8)
    r = head(svc, keep, tok)
    check("the upload touched 0.8 s before is still there", r.status == 200, r)
    time.sleep(1.0)
    r = head(svc, gone, tok)
    check("an upload untouched for FILIGRANE_UPLOAD_EXPIRY answers 410 (or 404 once swept)",
          r.status in (404, 410), r)
    time.sleep(4)
    left = [f for f in os.listdir(os.path.join(svc.data, "tmp")) if f.startswith("tus-")]
    n = sqlite3.connect(os.path.join(svc.data, "filigrane.db")).execute(
        "SELECT count(*) FROM uploads").fetchone()[0]
    check("expired uploads are removed by the maintenance loop, rows and data files",
          not left and n == 0, (left, n))
    r = patch(svc, swept, tok, 0, b"1")
    check("a chunk for a swept upload is refused (404)", r.status == 404, r)
finally:
    svc.stop()

# ---- FILIGRANE_RATE_TUS: nginx's per-client rate of tus requests ----
svc = Service(env={"FILIGRANE_RATE_TUS": "3"})
try:
    svc.create_order("ord-r", "s-r", "b-r")
    tok = svc.token("seller", "s-r", "ord-r")
    statuses = [create(svc, "ord-r", tok, 10, "r%d" % i).status for i in range(4)]
    check("FILIGRANE_RATE_TUS=3: three tus requests in a burst pass, the fourth is 429",
          statuses == [201, 201, 201, 429], statuses)
    r = create(svc, "ord-r", tok, 10, "r5")
    check("the 429 says Tus-Resumable", r.status == 429 and r.header("tus-resumable") == "1.0.0",
          r)
finally:
    svc.stop()
for value, ok in (("0", False), ("1000001", False), ("1", True), ("1000000", True)):
    env = dict(os.environ, FILIGRANE_RATE_TUS=value, FILIGRANE_USER="nobody")
    p = subprocess.run(["sh", os.path.join(TOP, "scripts", "nginx-conf.sh"), "/tmp", "8080",
                        "/tmp/s.sock", "4G"], env=env, capture_output=True, text=True)
    if ok:
        check("FILIGRANE_RATE_TUS=%s (an edge) is written into the nginx configuration" % value,
              p.returncode == 0 and "zone=filigrane_tus:10m rate=%sr/m" % value in p.stdout,
              p.stderr)
    else:
        check("FILIGRANE_RATE_TUS=%s is refused with a message naming it" % value,
              p.returncode != 0 and "FILIGRANE_RATE_TUS" in p.stderr, p.stderr)

# ---- FILIGRANE_UPLOAD_EXPIRY's edges: 1 s to 30 d ----
for value, ok in (("0", False), ("31d", False), ("1", True), ("30d", True)):
    env = dict(os.environ, FILIGRANE_DATA="/nonexistent/x", FILIGRANE_UPLOAD_EXPIRY=value,
               FILIGRANE_JWT_SECRET="", FILIGRANE_WEBHOOK_SECRET="")
    p = subprocess.run([os.path.join(os.environ.get("FILIGRANE_BIN", os.path.join(TOP, "bin")),
                                     "filigrane-fcgi")], env=env, capture_output=True, text=True,
                       timeout=20)
    named = "FILIGRANE_UPLOAD_EXPIRY" in p.stderr
    check("FILIGRANE_UPLOAD_EXPIRY=%s is %s" % (value, "accepted" if ok else
                                                 "refused with a message naming it"),
          (not named) if ok else (p.returncode != 0 and named), p.stderr)
finish()
