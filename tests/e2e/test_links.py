"""Scoped links: POST /v1/files/{file}/links, DELETE /v1/links/{id}, GET /l/{id}.

A link is a bearer credential for one file and one purpose. The attacks: a
buyer who mints an original link before release, a link for file A used
to reach file B, a preview link of a cancelled order, guessed ids, a
revoked link answered from a cache, two requests racing for the last use,
and a link id that leaks through the audit trail the buyer can read."""
import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import TOP, Service, check, finish, image  # noqa: E402

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def mint(svc, fid, token, purpose="original", ttl=None, max_uses=None):
    body = {"purpose": purpose}
    if ttl is not None:
        body["ttl"] = ttl
    if max_uses is not None:
        body["max_uses"] = max_uses
    return svc.request("POST", "/v1/files/%s/links" % fid, body=json.dumps(body).encode(),
                       token=token, headers={"Content-Type": "application/json"})


def code(r):
    return ((r.json() or {}).get("error") or {}).get("code")


def sha(b):
    return hashlib.sha256(b).hexdigest()


svc = Service()
try:
    svc.create_order("ord-l", "s-l", "b-l")
    seller = svc.token("seller", "s-l", "ord-l")
    buyer = svc.token("buyer", "b-l", "ord-l")
    admin = svc.token("admin", "ops")
    photo = image("jpg", 320, 240)
    notes = b"the notes of the delivery, secret until release\n" * 30
    r = svc.upload_done("ord-l", [("photo.jpg", photo), ("notes.txt", notes)], seller)
    check("a delivery of two files is answered 201", r.status == 201, r)
    files = {f["name"]: f for f in (r.json() or {}).get("files", [])}
    A, B = files["photo.jpg"]["id"], files["notes.txt"]["id"]
    preview = svc.get("/v1/files/%s/preview" % A, token=seller).body

    # ---- minting, and who may ----
    r = mint(svc, B, buyer, "original")
    check("a buyer minting an original link before release is refused 403 not_released",
          r.status == 403 and code(r) == "not_released", r)
    r = mint(svc, A, svc.token("buyer", "b-l", "ord-other"), "preview")
    check("a token of another order cannot mint a link on this file (403)", r.status == 403, r)
    r = mint(svc, A, buyer, "preview", ttl=600, max_uses=3)
    doc = r.json() or {}
    check("a buyer mints a preview link before release: 201", r.status == 201, r)
    check("the answer has id, url /l/<id>, expires_at, purpose, max_uses and uses 0",
          HEX64.match(doc.get("id", "")) and doc.get("url") == "/l/" + doc.get("id", "")
          and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc.get("expires_at", ""))
          and doc.get("purpose") == "preview" and doc.get("max_uses") == 3
          and doc.get("uses") == 0, doc)
    pv = doc.get("url", "/l/x")
    r = svc.get(pv)
    check("the preview link needs no token and serves the watermarked preview",
          r.status == 200 and r.body == preview and r.body != photo, r.status)
    check("a link's answer is private, no-store (no cache may answer for it after a revocation)",
          r.header("cache-control") == "private, no-store", r.headers)
    check("a link's answer carries the ETag of what it serves",
          r.header("etag") == '"%s"' % sha(preview), r.headers)

    for ttl, mu, why in ((0, 1, "ttl 0"), (7 * 86400 + 1, 1, "ttl past FILIGRANE_LINK_MAX_TTL"),
                         (60, 0, "max_uses 0"), (60, 10001, "max_uses 10001"),
                         ("60", 1, "a ttl that is a string")):
        r = mint(svc, A, seller, "preview", ttl=ttl, max_uses=mu)
        check("minting with %s is refused 400" % why, r.status == 400, r)
    r = mint(svc, A, seller, "preview", ttl=7 * 86400 + 1)
    check("the refusal of a long ttl names FILIGRANE_LINK_MAX_TTL",
          "FILIGRANE_LINK_MAX_TTL" in ((r.json() or {}).get("error") or {}).get("message", ""), r)
    r = mint(svc, A, seller, "preview", ttl=7 * 86400, max_uses=10000)
    check("ttl of exactly 7 days and max_uses 10000 (the edges) are accepted", r.status == 201, r)
    r = mint(svc, A, seller, "everything")
    check("an unknown purpose is refused 400 bad_purpose",
          r.status == 400 and code(r) == "bad_purpose", r)

    # ---- an original link the seller mints: uses count by the download rule ----
    r = mint(svc, B, seller, "original", ttl=600, max_uses=2)
    check("the seller mints an original link: 201", r.status == 201, r)
    ol = (r.json() or {}).get("url", "/l/x")
    etag = '"%s"' % sha(notes)
    r = svc.request("HEAD", ol)
    check("HEAD of an original link answers 200 and uses nothing", r.status == 200, r.status)
    r = svc.get(ol, headers={"If-None-Match": etag})
    check("a conditional GET is answered 304 and uses nothing", r.status == 304, r.status)
    r = svc.get(ol, headers={"Range": "bytes=100-199"})
    check("a range past byte 0 is answered 206 and uses nothing",
          r.status == 206 and r.body == notes[100:200], r.status)
    r = svc.get(ol)
    check("the first use serves the original byte for byte, as an attachment",
          r.status == 200 and r.body == notes
          and "attachment" in (r.header("content-disposition") or ""), r.status)
    r = svc.get(ol, headers={"Range": "bytes=0-9"})
    check("a range from byte 0 is a use (the second): 206", r.status == 206 and r.body == notes[:10],
          r.status)
    r = svc.get(ol)
    check("past max_uses the link answers 410 link_used_up",
          r.status == 410 and code(r) == "link_used_up", r)
    r = svc.request("HEAD", ol)
    check("HEAD of a used-up link answers 410 too", r.status == 410, r.status)

    # ---- link A never reaches file B ----
    lid = ol.rsplit("/", 1)[1]
    pid = pv.rsplit("/", 1)[1]
    r = svc.get("/v1/files/%s/original" % A, token=pid)
    check("a link id used as a bearer token on another file's route is 401", r.status == 401, r)
    r = svc.get("/v1/files/%s/original?token=%s" % (B, pid))
    check("a link id used as ?token= is 401", r.status == 401, r)
    r = svc.get("/l/%s/../../v1/files/%s/original" % (pid, B))
    check("a path past the link id reaches nothing", r.status in (400, 404) and r.body != notes,
          r.status)
    r = svc.get(pv + "?file=" + B)
    check("a query naming file B still serves only the link's own file",
          r.status == 200 and r.body == preview, r.status)

    # ---- guessing ----
    guesses = [os.urandom(32).hex() for _ in range(100)]
    flipped = pid[:-1] + ("0" if pid[-1] != "0" else "1")
    statuses = {svc.get("/l/" + g).status for g in guesses + [flipped, pid.upper(), pid[:32]]}
    check("100 random ids, the id with its last digit changed, upper-cased or cut: all 404",
          statuses == {404}, statuses)
    r = svc.get("/l/..")
    check("a dot-dot link id is refused", r.status in (400, 404), r.status)

    # ---- expiry ----
    r = mint(svc, A, buyer, "preview", ttl=1)
    el = (r.json() or {}).get("url", "/l/x")
    check("a 1-second link works at once", svc.get(el).status == 200)
    time.sleep(2.2)
    r = svc.get(el)
    check("after its ttl the link answers 410 link_expired",
          r.status == 410 and code(r) == "link_expired", r)

    # ---- revocation ----
    r = mint(svc, A, buyer, "preview", ttl=600, max_uses=100)
    rl = (r.json() or {}).get("url", "/l/x")
    rid = rl.rsplit("/", 1)[1]
    first = svc.get(rl)
    check("a link to revoke works first", first.status == 200, first.status)
    r = svc.request("DELETE", "/v1/links/" + rid, token=seller)
    check("the seller may not revoke the buyer's link: 403 not_minter",
          r.status == 403 and code(r) == "not_minter", r)
    r = svc.request("DELETE", "/v1/links/" + rid, token=svc.token("buyer", "b-l", "ord-other"))
    check("the same buyer with a token of another order may not revoke it (403)",
          r.status == 403, r)
    r = svc.request("DELETE", "/v1/links/" + rid, token=buyer)
    check("its minter revokes it: 204", r.status == 204, r)
    r = svc.get(rl)
    check("a revoked link answers 410 link_revoked at once",
          r.status == 410 and code(r) == "link_revoked", r)
    r = svc.get(rl, headers={"If-None-Match": first.header("etag") or '"x"'})
    check("a revoked link with the ETag a cache holds is 410, never 304",
          r.status == 410, r.status)
    r = svc.request("HEAD", rl)
    check("HEAD of a revoked link is 410", r.status == 410, r.status)
    r = svc.request("DELETE", "/v1/links/" + rid, token=buyer)
    check("revoking it again is 204 (nothing changes)", r.status == 204, r)
    r = svc.request("DELETE", "/v1/links/" + os.urandom(32).hex(), token=admin)
    check("revoking an unknown link is 404", r.status == 404, r)
    r = svc.request("DELETE", "/v1/links/" + pid)
    check("revoking without a token is 401", r.status == 401, r)
    r = svc.request("DELETE", "/v1/links/" + pid, token=admin)
    check("the admin revokes anyone's link: 204, and it is dead",
          r.status == 204 and svc.get(pv).status == 410, r)

    # ---- two requests for the last use: exactly one wins ----
    for round_ in range(3):
        r = mint(svc, B, seller, "original", ttl=600, max_uses=1)
        race = (r.json() or {}).get("url", "/l/x")
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            got = list(ex.map(lambda _: svc.get(race), range(8)))
        ok = [g for g in got if g.status == 200]
        gone = [g for g in got if g.status == 410 and code(g) == "link_used_up"]
        check("8 requests at once for a link's one use (round %d): one 200, seven 410"
              % (round_ + 1), len(ok) == 1 and len(gone) == 7 and ok[0].body == notes,
              [g.status for g in got])

    # ---- release: a buyer's original link ----
    svc.hook("order.accepted", {"order_id": "ord-l"})
    r = mint(svc, B, buyer, "original", ttl=600, max_uses=1)
    check("after release the buyer mints an original link: 201", r.status == 201, r)
    bl = (r.json() or {}).get("url", "/l/x")
    r = svc.get(bl)
    check("and it serves the original byte for byte", r.status == 200 and r.body == notes,
          r.status)

    # ---- the audit trail: every mint, use and revoke, never the secret ----
    r = svc.get("/v1/orders/ord-l/audit?limit=5000", token=buyer)
    entries = (r.json() or {}).get("entries", [])
    acts = [e["action"] for e in entries]
    check("mints, uses and revocations are audit entries of the order",
          acts.count("link.minted") == 9 and acts.count("link.used") >= 5
          and acts.count("link.revoked") == 2, {a: acts.count(a) for a in set(acts)})
    used = [json.loads(e["detail"]) for e in entries if e["action"] == "link.used"]
    check("a use entry names the link by a 16-hex reference, the file and the purpose",
          used and all(re.match(r"^[0-9a-f]{16}$", u.get("link", "")) and u.get("file_id")
                       and u.get("purpose") in ("preview", "original") for u in used), used[:3])
    secrets = [pid, lid, rid, bl.rsplit("/", 1)[1]]
    text = r.body.decode()
    check("no link id appears anywhere in the audit trail the buyer reads",
          not any(s in text for s in secrets))
    check("nor its first 16 hex digits (the reference is of the hash)",
          not any(s[:16] in text for s in secrets))
    ev = svc.get("/v1/orders/ord-l/evidence", token=buyer)
    check("nor in the evidence bundle",
          ev.status == 200 and not any(s in ev.body.decode() for s in secrets), ev.status)
    bundle = os.path.join(svc.data, "links-bundle.json")
    with open(bundle, "wb") as f:
        f.write(ev.body)
    fg = os.path.join(os.environ.get("FILIGRANE_BIN", os.path.join(TOP, "bin")), "filigrane")
    p = subprocess.run([fg, "evidence", "verify", bundle], capture_output=True, text=True,
                       timeout=60)
    check("the bundle with its link entries verifies (filigrane evidence verify)",
          p.returncode == 0, p.stdout + p.stderr)
    logs = ""
    for name in ("worker.log", "nginx-access.log", "nginx-error.log"):
        p = os.path.join(svc.data, "log", name)
        if os.path.exists(p):
            logs += open(p, errors="replace").read()
    check("nor in the worker's log or nginx's access and error logs (a link path reads /l/-)",
          "/l/-" in logs and not any(s in logs for s in secrets), logs.count("/l/-"))

    # ---- a cancelled order: its preview links stop, whoever minted them ----
    svc.create_order("ord-x", "s-l", "b-l")
    sx = svc.token("seller", "s-l", "ord-x")
    bx = svc.token("buyer", "b-l", "ord-x")
    r = svc.upload_done("ord-x", [("pic.jpg", photo)], sx)
    X = ((r.json() or {}).get("files") or [{}])[0].get("id", "0" * 32)
    by_buyer = (mint(svc, X, bx, "preview", ttl=600, max_uses=50).json() or {}).get("url", "/l/x")
    by_seller = (mint(svc, X, sx, "preview", ttl=600, max_uses=50).json() or {}).get("url", "/l/x")
    orig_seller = (mint(svc, X, sx, "original", ttl=600, max_uses=50).json() or {}).get("url",
                                                                                       "/l/x")
    check("before the cancellation both preview links work",
          svc.get(by_buyer).status == 200 and svc.get(by_seller).status == 200)
    svc.hook("order.cancelled", {"order_id": "ord-x"})
    r1, r2 = svc.get(by_buyer), svc.get(by_seller)
    check("after order.cancelled the buyer's preview link answers 410 link_revoked",
          r1.status == 410 and code(r1) == "link_revoked", r1)
    check("and so does the seller's preview link",
          r2.status == 410 and code(r2) == "link_revoked", r2)
    r = mint(svc, X, bx, "preview")
    check("a preview link of a cancelled order cannot be minted (403 revoked)",
          r.status == 403 and code(r) == "revoked", r)
    r = mint(svc, X, bx, "original")
    check("nor an original link by its buyer (403 not_released)",
          r.status == 403 and code(r) == "not_released", r)
    r = svc.get(orig_seller)
    check("the seller's own original link still serves the seller's file",
          r.status == 200 and r.body == photo, r.status)
finally:
    svc.stop()

# ---- FILIGRANE_LINK_MAX_TTL: its edges, and a shorter one ----
for value, ok in (("0", False), ("366d", False), ("1", True), ("365d", True)):
    env = dict(os.environ, FILIGRANE_DATA="/nonexistent/x", FILIGRANE_LINK_MAX_TTL=value,
               FILIGRANE_JWT_SECRET="", FILIGRANE_WEBHOOK_SECRET="")
    p = subprocess.run([os.path.join(os.environ.get("FILIGRANE_BIN", os.path.join(TOP, "bin")),
                                     "filigrane-fcgi")], env=env, capture_output=True, text=True,
                       timeout=20)
    named = "FILIGRANE_LINK_MAX_TTL" in p.stderr
    check("FILIGRANE_LINK_MAX_TTL=%s is %s" % (value, "accepted" if ok else
                                                "refused with a message naming it"),
          (not named) if ok else (p.returncode != 0 and named), p.stderr)

svc = Service(env={"FILIGRANE_LINK_MAX_TTL": "1m"})
try:
    svc.create_order("ord-t", "s-t", "b-t")
    st = svc.token("seller", "s-t", "ord-t")
    r = svc.upload_done("ord-t", [("a.txt", b"hello\n")], st)
    fid = ((r.json() or {}).get("files") or [{}])[0].get("id", "0" * 32)
    check("with FILIGRANE_LINK_MAX_TTL=1m a 60 s link is minted",
          mint(svc, fid, st, ttl=60).status == 201)
    r = mint(svc, fid, st, ttl=61)
    check("and a 61 s link is refused 400, naming the setting",
          r.status == 400 and "FILIGRANE_LINK_MAX_TTL" in r.body.decode(), r)
    r = mint(svc, fid, st)
    doc = r.json() or {}
    check("a link minted without ttl lives no longer than the setting",
          r.status == 201 and doc.get("expires_at", "") <= time.strftime(
              "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 62)), doc)
finally:
    svc.stop()
finish()
