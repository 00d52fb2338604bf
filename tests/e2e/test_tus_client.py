"""The reference tus client, tus-js-client in Node (tests/e2e/tus/client.mjs),
against the API alone: resume after an interruption, expiry, termination,
a wrong checksum rejected, and another seller's token refused; then the
resumed upload becomes a delivery whose original is the file byte for byte.
"""
import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

if not check("node and tus-js-client are installed (make deps)",
             os.path.isdir(os.path.join(HERE, "node_modules", "tus-js-client"))):
    finish()


def run(svc, order, token, other, path, *scenarios, env=None):
    e = dict(os.environ, BASE="http://127.0.0.1:%d" % svc.port, ORDER=order, TOKEN=token,
             OTHER=other, FILE=path)
    e.update(env or {})
    p = subprocess.run(["node", os.path.join(HERE, "tus", "client.mjs")] + list(scenarios),
                       cwd=HERE, env=e, capture_output=True, text=True, timeout=300)
    out = {}
    for line in p.stdout.splitlines():
        try:
            d = json.loads(line)
            out[d["scenario"]] = d
        except (ValueError, KeyError):
            pass
    if p.returncode != 0 or len(out) != len(scenarios):
        print("# node: rc=%d %s" % (p.returncode, p.stderr[-2000:]), file=sys.stderr)
    return out


blob = os.urandom(3 * 1024 * 1024 + 4321)
svc = Service()
path = os.path.join(svc.data, "client-file.bin")
try:
    with open(path, "wb") as f:
        f.write(blob)
    svc.create_order("ord-c", "s-c", "b-c")
    svc.create_order("ord-o", "s-o", "b-o")
    seller = svc.token("seller", "s-c", "ord-c")
    other = svc.token("seller", "s-o", "ord-o")
    got = run(svc, "ord-c", seller, other, path, "resume", "terminate", "other", "checksum")

    d = got.get("resume", {})
    seen = d.get("seen") or {}
    before = int((d.get("before") or {}).get("offset") or -1)
    check("an upload aborted mid-way is left by the server at a chunk boundary past 0",
          0 < before < len(blob) and before % (256 * 1024) == 0, d)
    check("a new client resumes from the server's offset (its first PATCH is there)",
          seen.get("patchOffsets", [None])[0] == before and not seen.get("error"), d)
    check("the resumed upload completes (offset = length)",
          (d.get("after") or {}).get("offset") == str(len(blob)), d)
    upload_id = (d.get("url") or "").rsplit("/", 1)[-1]
    r = svc.request("POST", "/v1/orders/ord-c/deliveries", token=seller,
                    headers={"Content-Type": "application/json"},
                    body=json.dumps({"uploads": [upload_id], "message": "resumed"}).encode())
    files = (r.json() or {}).get("files") or []
    check("the resumed upload becomes a delivery (201)", r.status == 201 and len(files) == 1, r)
    svc.hook("order.accepted", {"order_id": "ord-c"})
    r = svc.get("/v1/files/%s/original" % (files[0]["id"] if files else "x"),
                token=svc.token("buyer", "b-c", "ord-c"))
    check("the released original's sha256 is the file's",
          r.status == 200 and hashlib.sha256(r.body).hexdigest() == hashlib.sha256(blob).hexdigest(),
          (r.status, len(r.body)))

    d = got.get("terminate", {})
    check("tus-js-client's terminate succeeds and the upload is gone (HEAD 404)",
          d.get("terminated") is True and (d.get("after") or {}).get("status") == 404, d)

    d = got.get("other", {})
    seen = d.get("seen") or {}
    check("another seller's token cannot resume the upload (HEAD 404, the client gives up)",
          seen.get("heads") == [404] and seen.get("error") and not seen.get("patchOffsets"), d)
    check("another seller's token cannot create an upload on the order (403)",
          d.get("create") == 403, d)
    check("the upload refused to the other seller is untouched",
          (d.get("after") or {}).get("status") == 200, d)

    d = got.get("checksum", {})
    check("a chunk with a wrong Upload-Checksum is refused 460 and discarded",
          d.get("status") == 460 and (d.get("after") or {}).get("offset") == d.get("offsetBefore"),
          d)
finally:
    svc.stop()

svc = Service(env={"FILIGRANE_UPLOAD_EXPIRY": "2s"})
path = os.path.join(svc.data, "client-file.bin")
try:
    with open(path, "wb") as f:
        f.write(blob)
    svc.create_order("ord-e", "s-e", "b-e")
    seller = svc.token("seller", "s-e", "ord-e")
    got = run(svc, "ord-e", seller, seller, path, "expiry", env={"WAIT_MS": "3000"})
    d = got.get("expiry", {})
    seen = d.get("seen") or {}
    check("an upload left for longer than FILIGRANE_UPLOAD_EXPIRY answers 410",
          (d.get("direct") or {}).get("status") == 410, d)
    check("the client then starts a new upload, which completes",
          seen.get("url") and seen.get("url") != d.get("url") and not seen.get("error")
          and seen.get("patchOffsets", [None])[0] == 0, d)
finally:
    svc.stop()
finish()
