"""Blobs in S3 (FILIGRANE_S3_ENDPOINT), end to end: the real worker and
nginx against a private s3rver (scripts/s3-server.sh), which checks every
signature, presigned URLs included.

An original released after acceptance comes out of nginx byte for byte from
S3, with the headers a local blob gets (our ETag, Content-Disposition,
Content-Type, Cache-Control; none of S3's), ranges (206 and the right
bytes), If-None-Match (304) and If-Range as nginx decides them for a local
file. The worker only names a presigned URL: it never reads the bytes, and
with S3 gone the download fails. A presigned URL taken from the worker is
refused by S3 once expired or when any part of it is changed, and a client
cannot reach the internal /_s3/ location itself. Uploads (multipart and
tus), previews and archives work through the store; the data directory
holds no blob. A worker with wrong keys or no bucket refuses to start and
says why, without the secret.
"""
import base64
import hashlib
import http.client
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from service import TOP, Service, check, finish, free_port, image  # noqa: E402

TUS = {"Tus-Resumable": "1.0.0"}
PRESIGN = 4  # seconds: long enough for nginx, short enough to watch expire


def s3_start():
    d = tempfile.mkdtemp(prefix="filigrane-s3-")
    port = free_port()
    out = subprocess.run(["sh", os.path.join(TOP, "scripts", "s3-server.sh"), "start", d,
                          str(port)], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("s3-server.sh: " + out.stderr)
    env = dict(line.split("=", 1) for line in out.stdout.split())
    return d, env


def s3_stop(d):
    subprocess.run(["sh", os.path.join(TOP, "scripts", "s3-server.sh"), "stop", d],
                   capture_output=True, timeout=60)


# ---- a minimal FastCGI client, to see what the worker tells nginx ----

def fcgi_record(rtype, content, rid=1):
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), 0) + content


def fcgi_length(n):
    return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)


def fcgi_get(sock_path, uri, token, extra=None):
    """A GET to the worker's socket as nginx would send it; returns
    (headers, body) of the worker's own answer."""
    import socket
    params = {"REQUEST_METHOD": "GET", "REQUEST_URI": uri, "QUERY_STRING": "",
              "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
              "HTTP_AUTHORIZATION": "Bearer " + token}
    params.update(extra or {})
    pairs = b"".join(fcgi_length(len(k)) + fcgi_length(len(v)) + k + v
                     for k, v in ((k.encode(), v.encode()) for k, v in params.items()))
    msg = fcgi_record(1, struct.pack(">HB5x", 1, 0)) + fcgi_record(4, pairs)
    msg += fcgi_record(4, b"") + fcgi_record(5, b"")
    out, buf = b"", b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(sock_path)
        s.sendall(msg)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    while len(buf) >= 8:
        _, rtype, _, clen, plen = struct.unpack(">BBHHB", buf[:7])
        if rtype == 6:
            out += buf[8:8 + clen]
        buf = buf[8 + clen + plen:]
    head, _, body = out.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode(errors="replace").split("\r\n"):
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return headers, body


def s3_get(endpoint, target, headers=None):
    """GETs a /_s3/ target's path and query straight from S3."""
    u = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request("GET", target[len("/_s3"):], headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def worker_pid(svc):
    """The worker process run.sh started for this service."""
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if comm == "filigrane-fcgi" and ppid == svc.proc.pid:
            return int(p)
    return None


def read_chars(pid):
    with open("/proc/%d/io" % pid) as f:
        return int(dict(l.split(": ") for l in f.read().splitlines())["rchar"])


def blob_files(data):
    n = 0
    for _, _, files in os.walk(os.path.join(data, "blobs")):
        n += len(files)
    return n


def s3_objects(d, prefix):
    """Objects s3rver keeps under DIR/data/filigrane/<prefix> (its files
    end in ._S3rver_object)."""
    root = os.path.join(d, "data", "filigrane")
    found = []
    for top, _, files in os.walk(root):
        for f in files:
            if f.endswith("._S3rver_object"):
                key = os.path.relpath(os.path.join(top, f), root)[:-len("._S3rver_object")]
                if key.startswith(prefix):
                    found.append(key)
    return found


s3dir, s3env = s3_start()
svc = None
try:
    env = dict(s3env)
    env["FILIGRANE_S3_PRESIGN_SECONDS"] = str(PRESIGN)
    svc = Service(env=env)
    endpoint = s3env["FILIGRANE_S3_ENDPOINT"]
    log = open(os.path.join(svc.data, "log", "worker.log"), errors="replace").read()
    check("the worker says it keeps blobs in S3", "backend=s3" in log, log[-2000:])
    check("the worker's log never holds the S3 secret",
          s3env["FILIGRANE_S3_SECRET_ACCESS_KEY"] + "\n" not in log
          and "SECRET_ACCESS_KEY=S3RVER" not in log, log[-2000:])

    svc.create_order("ord-s3", "s-s3", "b-s3")
    seller = svc.token("seller", "s-s3", "ord-s3")
    buyer = svc.token("buyer", "b-s3", "ord-s3")
    original = os.urandom(3 * 1024 * 1024 + 17)
    photo = image("jpg", 640, 480)
    r = svc.upload_done("ord-s3", [("raw data.bin", original), ("photo.jpg", photo)], seller)
    check("a delivery with blobs in S3 is answered 201", r.status == 201, r)
    files = {f["name"]: f for f in (r.json() or {}).get("files", [])}
    fid, pid = files.get("raw data.bin", {}).get("id"), files.get("photo.jpg", {}).get("id")
    sha = hashlib.sha256(original).hexdigest()
    check("the data directory holds no blob: they are in the bucket",
          blob_files(svc.data) == 0 and ("sha256/" + sha)
          in s3_objects(s3dir, "sha256/"), (blob_files(svc.data), s3_objects(s3dir, "")))
    check("the photo's preview was stamped from the blob in S3",
          files.get("photo.jpg", {}).get("preview") == "ready", files.get("photo.jpg"))
    r = svc.get("/v1/files/%s/preview" % pid, token=buyer)
    check("the preview comes out of nginx from S3 (a JPEG)",
          r.status == 200 and r.body[:3] == b"\xff\xd8\xff", r)

    # ---- tus bytes go through the store too ----
    tus_bytes = os.urandom(700 * 1024)
    h = dict(TUS, **{"Upload-Length": str(len(tus_bytes)),
                     "Upload-Metadata": "filename " + base64.b64encode(b"tus.bin").decode()})
    r = svc.request("POST", "/v1/orders/ord-s3/uploads", token=seller, headers=h)
    loc = r.header("location") or ""
    uid = loc.rsplit("/", 1)[-1]
    ok = r.status == 201
    for off in (0, 300 * 1024):
        end = min(off + 300 * 1024 if off == 0 else len(tus_bytes), len(tus_bytes))
        r = svc.request("PATCH", loc, token=seller, body=tus_bytes[off:end],
                        headers=dict(TUS, **{"Upload-Offset": str(off),
                                             "Content-Type": "application/offset+octet-stream"}))
        ok = ok and r.status == 204
    check("a tus upload's chunks are kept as objects in the bucket",
          ok and len(s3_objects(s3dir, "uploads/%s/" % uid)) == 2, s3_objects(s3dir, "uploads/"))
    r = svc.request("HEAD", loc, token=seller, headers=TUS)
    check("HEAD gives the offset of the chunks stored",
          r.header("upload-offset") == str(len(tus_bytes)), r)
    r = svc.request("POST", "/v1/orders/ord-s3/deliveries", token=seller,
                    headers={"Content-Type": "application/json"},
                    body=json.dumps({"uploads": [uid], "message": "by tus"}).encode())
    check("the finished upload becomes a delivery", r.status == 201, r)
    tus_file = ((r.json() or {}).get("files") or [{}])[0]
    check("its chunks are removed from the bucket once delivered",
          s3_objects(s3dir, "uploads/%s/" % uid) == [], s3_objects(s3dir, "uploads/"))
    svc.wait_ready("ord-s3", seller, number=(r.json() or {}).get("number"))


    orig = "/v1/files/%s/original" % fid
    r = svc.get(orig, token=buyer)
    check("before acceptance the buyer gets no original (403)", r.status == 403, r)

    svc.hook("order.accepted", {"order_id": "ord-s3"})
    wpid = worker_pid(svc)
    before = read_chars(wpid) if wpid else 0
    r = svc.get(orig, token=buyer)
    after = read_chars(wpid) if wpid else 0
    check("after acceptance the original comes out of nginx byte for byte from S3",
          r.status == 200 and r.body == original, (r.status, len(r.body)))
    check("the worker never read the original's bytes (%d of %d read during the download)"
          % (after - before, len(original)),
          wpid is not None and after - before < len(original) // 10, (wpid, after - before))
    check("its ETag is the blob's sha256, not S3's", r.header("etag") == '"%s"' % sha, r.headers)
    check("its Content-Disposition is ours (attachment, the file's name)",
          (r.header("content-disposition") or "").startswith("attachment")
          and "raw data.bin" in urllib.parse.unquote(r.header("content-disposition") or ""),
          r.headers)
    # The type libmagic gave the bytes (random bytes are sometimes typed
    # application/x-dosexec), never S3's binary/octet-stream.
    mime = files.get("raw data.bin", {}).get("type")
    check("its Content-Type and Cache-Control are the worker's",
          mime and r.header("content-type") == mime
          and "private" in (r.header("cache-control") or ""), (mime, r.headers))
    check("no S3 header reaches the client",
          not any(k.startswith("x-amz-") for k in r.headers), r.headers)
    check("the download keeps nosniff and a sandbox CSP",
          r.header("x-content-type-options") == "nosniff"
          and r.header("content-security-policy") == "sandbox", r.headers)

    r = svc.get(orig, token=buyer, headers={"Range": "bytes=100-1099"})
    check("a Range is answered 206 with exactly those bytes from S3",
          r.status == 206 and r.body == original[100:1100]
          and r.header("content-range") == "bytes 100-1099/%d" % len(original), r.headers)
    # (A suffix range, bytes=-10, is passed on as it is: s3rver answers it
    # as bytes=0-10, AWS and MinIO as RFC 9110 says. Not checked here.)
    r = svc.get(orig, token=buyer, headers={"Range": "bytes=10-", "If-Range": '"%s"' % sha})
    check("a Range with an If-Range naming the blob is answered 206",
          r.status == 206 and r.body == original[10:], r.headers)
    r = svc.get(orig, token=buyer, headers={"Range": "bytes=10-", "If-Range": '"other"'})
    check("a Range with an If-Range naming another version gets the whole file (200)",
          r.status == 200 and r.body == original, r.headers)
    for many in ("bytes=1-,1-", "bytes=0-1,5-6"):
        r = svc.get(orig, token=buyer, headers={"Range": many})
        check("several ranges (%s) get the whole file (200), as the download count assumes"
              % many, r.status == 200 and r.body == original, (r.status, len(r.body)))
    r = svc.get(orig, token=buyer, headers={"If-None-Match": '"%s"' % sha})
    check("If-None-Match with the blob's ETag is answered 304, no body",
          r.status == 304 and r.body == b"" and r.header("etag") == '"%s"' % sha, r)
    r = svc.get(orig, token=buyer, headers={"Range": "bytes=%d-" % (len(original) + 5)})
    check("a range past the end is answered 416, not S3's XML",
          r.status == 416 and b"<?xml" not in r.body and b"Error" not in r.body, r)
    r = svc.request("HEAD", orig, token=buyer)
    check("HEAD is answered 200 with the length and no body",
          r.status == 200 and r.body == b"" and r.header("content-length") == str(len(original)),
          r)

    # ---- what the worker tells nginx, and what S3 makes of it ----
    sock = os.path.join(svc.data, "run", "fcgi.sock")
    h, body = fcgi_get(sock, orig, buyer)
    target = h.get("x-accel-redirect", "")
    check("the worker answers with headers only: an X-Accel-Redirect to /_s3/ and no body",
          target.startswith("/_s3/filigrane/sha256/") and "/" + sha + "?" in target
          and body == b"", (h, body[:200]))
    check("the presigned target carries no secret, only a signature",
          "X-Amz-Signature=" in target and "S3RVER" not in target.split("X-Amz-Credential=")[0]
          and "Secret" not in target, target)
    st, got = s3_get(endpoint, target)
    check("S3 serves the worker's presigned target as it is", st == 200 and got == original, st)
    sig = target.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    bad_sig = target[:sig] + ("0" if target[sig] != "0" else "1") + target[sig + 1:]
    st, got = s3_get(endpoint, bad_sig)
    check("a tampered signature is refused by S3 (403)", st == 403 and got != original, st)
    psha = files["photo.jpg"]["sha256"] if "sha256" in files["photo.jpg"] else None
    other = target.replace(sha, hashlib.sha256(photo).hexdigest())
    st, got = s3_get(endpoint, other)
    check("the same signature for another blob is refused by S3 (403)", st == 403, st)
    disp = target.replace("response-content-disposition=", "response-content-disposition=x")
    st, _ = s3_get(endpoint, disp)
    check("a changed response-content-disposition is refused by S3 (403)",
          disp != target and st == 403, (st, disp == target))
    longer = target.replace("X-Amz-Expires=%d" % PRESIGN, "X-Amz-Expires=604800")
    st, _ = s3_get(endpoint, longer)
    check("a longer X-Amz-Expires is refused by S3 (403)", longer != target and st == 403, st)
    time.sleep(PRESIGN + 1.5)
    st, got = s3_get(endpoint, target)
    check("once FILIGRANE_S3_PRESIGN_SECONDS have passed S3 refuses the target (403)",
          st == 403 and got != original, st)
    r = svc.get(orig, token=buyer)
    check("a new download gets a new target and its bytes", r.status == 200 and r.body == original,
          r.status)
    for path in (target, "/_s3" + "/filigrane/sha256/" + sha):
        r = svc.get(path)
        check("a client cannot fetch the internal /_s3/ location itself (%s)"
              % ("with a valid signature" if "?" in path else "unsigned"),
              r.status == 404 and r.body != original, r)

    r = svc.get("/v1/files/%s/original" % tus_file.get("id"), token=buyer)
    check("the tus upload's original comes out of S3 byte for byte",
          r.status == 200 and r.body == tus_bytes, (r.status, len(r.body)))

    # ---- the archive writer reads local copies ----
    r = svc.get("/v1/orders/ord-s3/deliveries/1/archive", token=buyer)
    names = {}
    try:
        z = zipfile.ZipFile(io.BytesIO(r.body))
        names = {i.filename: z.read(i) for i in z.infolist()}
    except zipfile.BadZipFile:
        pass
    check("the delivery's archive holds the originals read back from S3",
          r.status == 200 and names.get("raw data.bin") == original
          and names.get("photo.jpg") == photo, (r.status, list(names)))
    scratch = os.path.join(svc.data, "tmp")
    left = [n for n in os.listdir(scratch) if n.startswith(("blob-", "stamp-", "upload-"))]
    check("no local copy is left in the scratch directory", left == [], left)

    # ---- S3 gone: downloads fail, nothing is served from elsewhere ----
    s3_stop(s3dir)
    r = svc.get(orig, token=buyer)
    check("with S3 down a download fails (502 JSON), no byte of the original",
          r.status == 502 and original[:64] not in r.body
          and (r.json() or {}).get("error", {}).get("code") == "store_unavailable", r)
finally:
    if svc:
        svc.stop()
    s3_stop(s3dir)
    shutil.rmtree(s3dir, ignore_errors=True)

# ---- a worker that cannot use the bucket refuses to start ----
s3dir, s3env = s3_start()
try:
    for what, change, code in (
            ("a wrong secret", {"FILIGRANE_S3_SECRET_ACCESS_KEY": "not-the-secret-key"},
             "SignatureDoesNotMatch"),
            ("an unknown key id", {"FILIGRANE_S3_ACCESS_KEY_ID": "NOBODY"}, "InvalidAccessKeyId"),
            ("a missing bucket", {"FILIGRANE_S3_BUCKET": "no-such-bucket"}, "NoSuchBucket"),
            ("an endpoint nobody answers", {"FILIGRANE_S3_ENDPOINT": "http://127.0.0.1:%d"
                                            % free_port()}, "cannot reach")):
        env = dict(s3env)
        env.update(change)
        try:
            s = Service(env=env)
            s.stop()
            check("with %s the worker refuses to start" % what, False, "it started")
        except RuntimeError as e:
            text = str(e)
            check("with %s the worker refuses to start, saying %s" % (what, code),
                  code in text and "blob store" in text, text[-1500:])
            check("with %s the refusal never shows the secret" % what,
                  "not-the-secret-key" not in text and "=S3RVER" not in text, text[-1500:])
finally:
    s3_stop(s3dir)
    shutil.rmtree(s3dir, ignore_errors=True)

finish()
