"""GET /v1/orders/{order}/deliveries/{n}/archive: a zip of one delivery's
originals, under the same rule as the originals themselves, with names
that cannot escape the folder the buyer extracts to."""
import hashlib
import io
import os
import sys
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402

svc = Service()
try:
    svc.create_order("ord-z", "s-z", "b-z")
    seller = svc.token("seller", "s-z", "ord-z")
    buyer = svc.token("buyer", "b-z", "ord-z")
    photo = image("jpg", 500, 400)
    notes = b"notes of the delivery\n" * 100
    files = [("photo.jpg", photo), ("../../evil.txt", b"zip slip attempt\n"),
             ("notes.txt", notes), ("notes.txt", b"a second file of the same name\n")]
    r = svc.upload("ord-z", files, seller)
    check("a delivery of four files is answered 201", r.status == 201, r)
    path = "/v1/orders/ord-z/deliveries/1/archive"

    r = svc.get(path, token=buyer)
    check("the buyer's archive is refused before acceptance with not_released",
          r.status == 403 and ((r.json() or {}).get("error") or {}).get("code") == "not_released", r)
    check("the refusal carries no original byte", photo[100:160] not in r.body and notes[:30] not in r.body)
    r = svc.get(path, token=svc.token("buyer", "b-other", "ord-other"))
    check("another order's token is refused 403", r.status == 403, r)
    check("no token is refused 401", svc.get(path).status == 401)

    r = svc.get(path, token=seller)
    check("the seller gets the archive as a zip attachment",
          r.status == 200 and r.header("content-type") == "application/zip"
          and (r.header("content-disposition") or "").startswith("attachment")
          and r.header("cache-control") == "private, no-store", r)
    try:
        z = zipfile.ZipFile(io.BytesIO(r.body))
        names = z.namelist()
        bad = z.testzip()
    except zipfile.BadZipFile as e:
        z, names, bad = None, [], str(e)
    check("the archive is a valid zip with one entry per file", bad is None and len(names) == 4, names)
    check("no entry name climbs out of the extraction folder",
          names and all(not n.startswith("/") and ".." not in n.split("/") for n in names), names)
    check("two files of one name get distinct entries", len(set(names)) == 4, names)
    if z:
        digests = sorted(hashlib.sha256(z.read(n)).hexdigest() for n in names)
        want = sorted(hashlib.sha256(d).hexdigest() for _, d in files)
        check("every entry is its original, byte for byte", digests == want)

    svc.hook("order.accepted", {"order_id": "ord-z"})
    r = svc.get(path, token=buyer)
    check("after acceptance the buyer gets the archive", r.status == 200 and r.body[:2] == b"PK", r)
    r = svc.get("/v1/orders/ord-z/audit", token=buyer)
    actions = [e["action"] for e in (r.json() or {}).get("entries", [])]
    check("the buyer's archive download is recorded", "delivery.downloaded" in actions, actions)
    r = svc.get("/v1/orders/ord-z/deliveries/2/archive", token=buyer)
    check("an unknown delivery number is 404", r.status == 404, r)
    r = svc.get("/v1/orders/ord-z/deliveries/x1/archive", token=buyer)
    check("a delivery number that is not a number is 400", r.status == 400, r)
finally:
    svc.stop()
finish()
