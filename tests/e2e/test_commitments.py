"""Commitments, not hashes, before release: a buyer who wants a short secret
(a 4-digit PIN, a licence key) for free hashes every candidate and compares
against everything the service shows them. Before acceptance no buyer-visible
answer (order JSON, audit trail, previews and their archive manifest, refused
originals and archives, their headers) may hold the plain SHA-256 of an
original or of an archive entry. After acceptance the revealed salts must
open the commitments shown before, entry by entry."""
import hashlib
import hmac
import io
import json
import os
import sys
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402

ORDER = "ord-pin"
PIN = b"4821\n"
LICENCE = b"FLG-7Q2K-99XM-04PL-LICENCE\n"
ENTRY_LABEL = b"filigrane-entry-v1"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def committed(salt_hex, data):
    return hashlib.sha256(bytes.fromhex(salt_hex) + data).hexdigest()


def entry_salt(file_salt_hex, name):
    return hmac.new(bytes.fromhex(file_salt_hex), ENTRY_LABEL + name.encode(),
                    hashlib.sha256).hexdigest()


def answer_bytes(r):
    """Everything a client receives: status line parts, headers, body."""
    head = "".join("%s: %s\n" % kv for kv in sorted(r.headers.items()))
    return head.encode() + b"\n" + r.body


def manifest_of(zip_bytes):
    try:
        z = zipfile.ZipFile(io.BytesIO(zip_bytes))
        return z.read("MANIFEST.txt").decode()
    except (zipfile.BadZipFile, KeyError):
        return ""


def manifest_rows(text):
    rows = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        if len(f) == 6:
            rows[f[4]] = f
    return rows


svc = Service()
try:
    seller = svc.token("seller", "s-pin", ORDER)
    buyer = svc.token("buyer", "b-pin", ORDER)
    admin = svc.token("admin", "ops")
    photo = image("jpg", 320, 240)
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("secrets/pin.txt", PIN)
        z.writestr("licence.key", LICENCE)
        z.writestr("photo.jpg", photo)
    bundle = zbuf.getvalue()
    entries = {"secrets/pin.txt": PIN, "licence.key": LICENCE, "photo.jpg": photo}
    originals = {"pin.txt": PIN, "licence.key": LICENCE, "bundle.zip": bundle}

    check("order.created is applied", svc.create_order(ORDER, "s-pin", "b-pin").status == 200)
    # The PIN alone as a raw body (hashed by the blob store), the rest as
    # multipart (hashed while the body is split): both hashing passes.
    r = svc.request("POST", "/v1/orders/%s/deliveries?filename=pin.txt" % ORDER, body=PIN,
                    token=seller, headers={"Content-Type": "application/octet-stream"})
    check("a raw delivery of the PIN file is answered 201", r.status == 201, r)
    r = svc.upload_done(ORDER, [("licence.key", LICENCE), ("bundle.zip", bundle)], seller)
    check("a multipart delivery of the licence key and a zip is answered 201", r.status == 201, r)

    # ---- the seller and the admin see plain hashes before release ----
    r = svc.get("/v1/orders/" + ORDER, token=seller)
    sfiles = {f["name"]: f for d in (r.json() or {}).get("deliveries", []) for f in d["files"]}
    check("the seller sees every original's plain sha256, its salt and its commitment before release",
          set(sfiles) == set(originals)
          and all(sfiles[n]["sha256"] == sha(originals[n]) for n in originals)
          and all(committed(sfiles[n]["salt"], originals[n]) == sfiles[n]["commitment"]
                  for n in originals), sfiles)
    r = svc.get("/v1/orders/" + ORDER, token=admin)
    afiles = {f["name"]: f for d in (r.json() or {}).get("deliveries", []) for f in d["files"]}
    check("the admin sees plain sha256s before release",
          all(afiles.get(n, {}).get("sha256") == sha(originals[n]) for n in originals), afiles)
    check("each file has its own salt",
          len({f["salt"] for f in sfiles.values()}) == len(originals), sfiles)

    # ---- everything the buyer can see before release ----
    seen = b""
    r = svc.get("/v1/orders/" + ORDER, token=buyer)
    seen += answer_bytes(r)
    bfiles = {f["name"]: f for d in (r.json() or {}).get("deliveries", []) for f in d["files"]}
    check("before release the buyer's files show sha256 null, a commitment and no salt",
          set(bfiles) == set(originals)
          and all(f["sha256"] is None and len(f.get("commitment") or "") == 64 and "salt" not in f
                  for f in bfiles.values()), bfiles)
    before = {n: f["commitment"] for n, f in bfiles.items()}
    r = svc.get("/v1/orders/%s/audit" % ORDER, token=buyer)
    seen += answer_bytes(r)
    audit_before = (r.json() or {}).get("entries", [])
    uploaded = [json.loads(e["detail"]) for e in audit_before if e["action"] == "file.uploaded"]
    check("each upload's audit entry carries the commitment, and no sha256 field",
          len(uploaded) == 3 and all("sha256" not in d for d in uploaded)
          and sorted(d.get("commitment") for d in uploaded) == sorted(before.values()), uploaded)
    check("no file.released entry before release",
          not any(e["action"] == "file.released" for e in audit_before))
    r = svc.get("/v1/orders/%s/evidence" % ORDER, token=buyer)
    check("the buyer gets the order's signed evidence bundle before release", r.status == 200, r)
    seen += answer_bytes(r)
    manifest = ""
    for name, f in bfiles.items():
        r = svc.get("/v1/files/%s/preview" % f["id"], token=buyer)
        seen += answer_bytes(r)
        if name == "bundle.zip":
            check("the buyer gets the zip's preview", r.status == 200, r)
            manifest = manifest_of(r.body)
            seen += manifest.encode()
        r = svc.get("/v1/files/%s/original" % f["id"], token=buyer)
        seen += answer_bytes(r)
        check("the buyer's %s original is refused before release" % name, r.status == 403, r)
        r = svc.get("/v1/files/%s/original" % f["id"], token=buyer,
                    headers={"If-None-Match": '"%s"' % sha(originals[name])})
        seen += answer_bytes(r)
        check("a guessed If-None-Match on %s is refused 403, not confirmed by a 304" % name,
              r.status == 403, r)
        r = svc.request("HEAD", "/v1/files/%s/original" % f["id"], token=buyer)
        seen += answer_bytes(r)
    for n in (1, 2):
        r = svc.get("/v1/orders/%s/deliveries/%d/archive" % (ORDER, n), token=buyer)
        seen += answer_bytes(r)
        check("the buyer's archive of delivery %d is refused before release" % n, r.status == 403, r)
    rows = manifest_rows(manifest)
    check("the manifest lists the zip's three entries", set(rows) == set(entries), manifest)

    low = seen.lower()
    leaked = [n for n, d in list(originals.items()) + list(entries.items())
              if sha(d).encode() in low]
    check("no buyer-visible answer before release holds the plain sha256 of any original or entry",
          not leaked, leaked)

    # The attack: hash every 4-digit PIN, with and without a newline, and
    # look for each one in everything the buyer has seen.
    hits = [p for i in range(10000) for p in ("%04d\n" % i, "%04d" % i)
            if sha(p.encode()).encode() in low]
    check("brute force over all 10,000 PINs finds no match in what the buyer saw", not hits, hits)
    check("the licence key's plain sha256 is nowhere in what the buyer saw",
          sha(LICENCE).encode() not in low and sha(LICENCE.strip()).encode() not in low)

    # ---- release ----
    r = svc.hook("order.accepted", {"order_id": ORDER})
    check("order.accepted is applied", r.status == 200, r)

    r = svc.get("/v1/orders/" + ORDER, token=buyer)
    after = {f["name"]: f for d in (r.json() or {}).get("deliveries", []) for f in d["files"]}
    check("after release the buyer sees sha256, salt and the same commitment",
          all(after[n]["sha256"] == sha(originals[n]) and len(after[n].get("salt") or "") == 64
              and after[n]["commitment"] == before[n] for n in originals), after)
    ok = True
    for name, f in after.items():
        r = svc.get("/v1/files/%s/original" % f["id"], token=buyer)
        ok = ok and r.status == 200 and sha(r.body) == f["sha256"] \
            and committed(f["salt"], r.body) == before[name]
    check("each released original hashes to its sha256, and SHA-256(salt || original) "
          "is the commitment shown before release", ok)

    r = svc.get("/v1/orders/%s/audit" % ORDER, token=buyer)
    audit = (r.json() or {}).get("entries", [])
    released = {json.loads(e["detail"])["file_id"]: json.loads(e["detail"])
                for e in audit if e["action"] == "file.released"}
    check("the release writes one file.released entry per file with its salt and sha256",
          set(released) == {f["id"] for f in after.values()}
          and all(released[f["id"]]["salt"] == f["salt"]
                  and released[f["id"]]["sha256"] == f["sha256"] for f in after.values()),
          released)
    up = {json.loads(e["detail"])["file_id"]: json.loads(e["detail"])
          for e in audit if e["action"] == "file.uploaded"}
    check("the trail alone checks: each revealed salt opens the commitment recorded at upload",
          all(committed(released[i]["salt"], originals[up[i]["name"]]) == up[i]["commitment"]
              for i in up), (up, released))

    def entry_hash(e):
        data = b"filigrane-audit-v2\n"
        for v in (e["order_id"] or "", str(e["seq"]), e["at"], e["actor"], e["action"],
                  e["detail"], e["prev_hash"]):
            b = v.encode()
            data += str(len(b)).encode() + b":" + b + b","
        return sha(data)

    check("every audit entry the buyer reads, release included, hashes as documented",
          audit and all(entry_hash(e) == e["hash"] for e in audit))

    bsalt = after["bundle.zip"]["salt"]
    ok = all(rows[n][2] == committed(entry_salt(bsalt, n), data) for n, data in entries.items())
    check("with the zip's revealed salt every manifest commitment opens on its entry's bytes",
          ok, (bsalt, rows))
finally:
    svc.stop()
finish()
