"""What counts as a download (DESIGN, Settled details): a GET answered 200,
or 206 starting at byte 0; an archive counts once for each file in it; HEAD
and 304 never count. Every counted download is one file.downloaded audit
entry and one file.downloaded event; the two agree with the counts. Also:
every download route carries nosniff and, but for PDFs, a sandbox CSP."""
import hashlib
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402

svc = Service()
try:
    svc.create_order("ord-c", "s-c", "b-c")
    seller = svc.token("seller", "s-c", "ord-c")
    buyer = svc.token("buyer", "b-c", "ord-c")
    photo = image("jpg", 320, 240)
    notes = b"line of the delivery notes\n" * 40
    r = svc.upload_done("ord-c", [("photo.jpg", photo), ("notes.txt", notes)], seller)
    check("a delivery of two files is answered 201", r.status == 201, r)
    files = {f["name"]: f for f in (r.json() or {}).get("files", [])}
    pid, nid = files.get("photo.jpg", {}).get("id"), files.get("notes.txt", {}).get("id")
    svc.hook("order.accepted", {"order_id": "ord-c"})
    orig = "/v1/files/%s/original" % nid
    etag = '"%s"' % hashlib.sha256(notes).hexdigest()

    def counted():
        """file.downloaded audit entries per file id, the last count each
        carries, and file.downloaded events per file id (the outbox)."""
        entries = (svc.get("/v1/orders/ord-c/audit", token=seller).json() or {}).get("entries", [])
        audit, last = {}, {}
        for e in entries:
            if e["action"] == "file.downloaded":
                d = json.loads(e["detail"])
                audit[d["file_id"]] = audit.get(d["file_id"], 0) + 1
                last[d["file_id"]] = d["count"]
        db = sqlite3.connect(os.path.join(svc.data, "filigrane.db"))
        events = {}
        for (payload,) in db.execute("SELECT payload FROM outbox WHERE type = 'file.downloaded'"):
            fid = json.loads(payload)["data"]["file_id"]
            events[fid] = events.get(fid, 0) + 1
        db.close()
        return audit, last, events

    def expect(what, status, n_notes, n_photo=0):
        audit, last, events = counted()
        check("%s: answered %d" % (what, status[0]), status[0] == status[1], status)
        check("%s: the notes have %d download(s) in the audit and the events" % (what, n_notes),
              audit.get(nid, 0) == n_notes and events.get(nid, 0) == n_notes
              and last.get(nid, 0) == n_notes, (audit, last, events))
        check("%s: the photo has %d download(s) in the audit and the events" % (what, n_photo),
              audit.get(pid, 0) == n_photo and events.get(pid, 0) == n_photo, (audit, events))

    r = svc.request("HEAD", orig, token=buyer)
    expect("HEAD of an original", (r.status, 200), 0)
    r = svc.get(orig, token=buyer, headers={"If-None-Match": etag})
    expect("a conditional GET answered 304", (r.status, 304), 0)
    r = svc.get(orig, token=buyer, headers={"Range": "bytes=10-"})
    check("a range from byte 10 sends the rest", r.body == notes[10:], r)
    expect("a range from byte 10", (r.status, 206), 0)
    r = svc.get(orig, token=buyer, headers={"Range": "bytes=10-", "If-Range": etag})
    expect("a range from byte 10 with a matching If-Range", (r.status, 206), 0)
    r = svc.get(orig, token=buyer)
    check("a plain GET sends the whole file", r.body == notes, r)
    expect("a plain GET", (r.status, 200), 1)
    r = svc.get(orig, token=buyer, headers={"Range": "bytes=0-0"})
    expect("a range from byte 0 (bytes=0-0)", (r.status, 206), 2)
    # Ranges that make nginx send the whole file count, whatever they start at.
    r = svc.get(orig, token=buyer, headers={"Range": "bytes=10-", "If-Range": '"other"'})
    check("If-Range naming another version gets the whole file", r.body == notes, r)
    expect("a range past 0 with a stale If-Range", (r.status, 200), 3)
    r = svc.get(orig, token=buyer, headers={"Range": "bytes=1-,1-"})
    expect("overlapping ranges that add up to more than the file", (r.status, 200), 4)
    r = svc.get(orig, token=buyer, headers={"Range": "bytes=99999-"})
    expect("a range past the end", (r.status, 416), 4)

    arch = "/v1/orders/ord-c/deliveries/1/archive"
    r = svc.request("HEAD", arch, token=buyer)
    expect("HEAD of the archive", (r.status, 200), 4, 0)
    r = svc.get(arch, token=buyer)
    check("the archive holds both files", r.body[:2] == b"PK" and notes[:40] in r.body, r)
    expect("an archive download", (r.status, 200), 5, 1)
    r = svc.get(orig, token=seller)
    expect("the seller's own download", (r.status, 200), 5, 1)

    # First views of a preview: HEAD and 304 are no view.
    prev = "/v1/files/%s/preview" % pid

    def previewed():
        entries = (svc.get("/v1/orders/ord-c/audit", token=seller).json() or {}).get("entries", [])
        return sum(1 for e in entries if e["action"] == "file.previewed")

    r = svc.request("HEAD", prev, token=buyer)
    check("HEAD of a preview is no view", r.status == 200 and previewed() == 0, r)
    r = svc.get(prev, token=svc.token("buyer", "b-c", "ord-c"))
    check("a GET of a preview is the buyer's first view", r.status == 200 and previewed() == 1, r)

    # The headers of every download route.
    for what, path in (("an original", orig), ("a preview", prev), ("an archive", arch)):
        r = svc.get(path, token=buyer)
        check("%s is sent with nosniff and a sandbox CSP" % what,
              r.header("x-content-type-options") == "nosniff"
              and r.header("content-security-policy") == "sandbox", r.headers)
finally:
    svc.stop()
finish()
