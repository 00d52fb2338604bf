"""PDF and zip deliveries through nginx and the worker: each gets a
preview made in the sandbox, and neither preview carries the original's
extractable text or a withheld entry's bytes."""
import io
import os
import subprocess
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402

WORD = "QUOTATIONSECRET"


def make_pdf(pages=3):
    """A small valid PDF with WORD on every page, written by hand (the
    stdlib has no PDF writer): catalog, pages, one content stream each."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", None,
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for i in range(pages):
        stream = "BT /F1 24 Tf 72 700 Td (%s page %d) Tj ET" % (WORD, i + 1)
        objs.append("<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content = len(objs)
        objs.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                    "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content)
        kids.append("%d 0 R" % len(objs))
    objs[1] = "<< /Type /Pages /Kids [%s] /Count %d >>" % (" ".join(kids), pages)
    out = b"%PDF-1.4\n"
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += ("%d 0 obj\n%s\nendobj\n" % (n, body)).encode()
    xref = len(out)
    out += ("xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)).encode()
    out += b"".join(("%010d 00000 n \n" % o).encode() for o in offsets)
    out += ("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objs) + 1, xref)).encode()
    return out


svc = Service()
try:
    svc.create_order("ord-f", "s-f", "b-f")
    seller = svc.token("seller", "s-f", "ord-f")
    buyer = svc.token("buyer", "b-f", "ord-f")
    pdf = make_pdf()
    buf = io.BytesIO()
    secret_text = b"WITHHELD-ENTRY-MARKER-5521\n" * 50
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("photos/one.png", image("png", 500, 400))
        z.writestr("notes/readme.txt", secret_text)
    archive = buf.getvalue()

    r = svc.upload_done("ord-f", [("quote.pdf", pdf), ("assets.zip", archive)], seller)
    files = {f["name"]: f for f in (r.json() or {}).get("files", [])}
    check("a PDF and a zip delivery is answered 201", r.status == 201 and len(files) == 2, r)
    p, z = files.get("quote.pdf", {}), files.get("assets.zip", {})
    check("the PDF is typed by content and previewed",
          p.get("type") == "application/pdf" and p.get("kind") == "pdf" and p.get("preview") == "ready", p)
    check("the zip is typed by content and previewed",
          z.get("kind") == "archive" and z.get("preview") == "ready", z)

    r = svc.get("/v1/files/%s/preview" % p.get("id"), token=buyer)
    check("the buyer gets the PDF preview as a PDF",
          r.status == 200 and r.header("content-type") == "application/pdf" and r.body[:5] == b"%PDF-", r)
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(r.body)
        f.flush()
        info = subprocess.run(["pdfinfo", f.name], capture_output=True, text=True).stdout
        text = subprocess.run(["pdftotext", f.name, "-"], capture_output=True, text=True).stdout
    pages = [l.split()[-1] for l in info.splitlines() if l.startswith("Pages:")]
    check("the PDF preview keeps the page count", pages == ["3"], info)
    check("the PDF preview's text cannot be extracted", WORD not in text and WORD.encode() not in r.body,
          text[:200])

    r = svc.get("/v1/files/%s/preview" % z.get("id"), token=buyer)
    check("the buyer gets the archive preview as a zip", r.status == 200 and r.body[:2] == b"PK", r)
    try:
        names = zipfile.ZipFile(io.BytesIO(r.body)).namelist()
    except zipfile.BadZipFile:
        names = []
    check("the archive preview lists every entry and holds the stamped image",
          any(n.upper().startswith("MANIFEST") for n in names) and any("one" in n for n in names), names)
    check("the withheld entry's bytes are not in the archive preview",
          b"WITHHELD-ENTRY-MARKER" not in r.body)
    r = svc.get("/v1/files/%s/original" % z.get("id"), token=buyer)
    check("the archive's original stays refused before acceptance", r.status == 403, r)
finally:
    svc.stop()
finish()
