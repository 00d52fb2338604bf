"""Downloads in a real browser (Debian's Chromium through playwright-core,
tests/e2e/browser/downloads.mjs): the PDF preview shows in the built-in
viewer, an uploaded HTML page runs no script from any route, and every
download route carries nosniff and the sandbox CSP (PDFs excepted, by
design: nginx.conf says why)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = "/usr/bin/chromium"


def make_pdf(pages=2):
    """A small valid PDF written by hand: catalog, pages, a text stream each."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", None,
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for i in range(pages):
        stream = "BT /F1 36 Tf 72 600 Td (Delivery page %d) Tj ET" % (i + 1)
        objs.append("<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        objs.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                    "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % len(objs))
        kids.append("%d 0 R" % len(objs))
    objs[1] = "<< /Type /Pages /Kids [%s] /Count %d >>" % (" ".join(kids), pages)
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += ("%d 0 obj\n%s\nendobj\n" % (n, body)).encode()
    xref = len(out)
    out += ("xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)).encode()
    out += b"".join(("%010d 00000 n \n" % o).encode() for o in offsets)
    out += ("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objs) + 1, xref)).encode()
    return out


def deviation(png):
    """Standard deviation of a screenshot's pixels: near 0 for a blank one."""
    p = subprocess.run(["vips", "deviate", png], capture_output=True, text=True)
    try:
        return float(p.stdout.strip())
    except ValueError:
        return 0.0


# DESIGN, Settled details (test time): browser suites run in the plain
# pass, not again under the sanitizers (the worker code they drive is the
# same, and every other e2e suite runs it under ASan).
if os.path.basename(os.path.normpath(os.environ.get("FILIGRANE_BIN", ""))) == "asan":
    print("# the browser suite runs in the plain pass only")
    sys.exit(0)

ready = os.path.exists(CHROMIUM) and os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core"))
if not check("chromium and playwright-core are installed (make deps)", ready):
    finish()

HTML = (b"<!doctype html><html><head><title>x</title></head><body>"
        b"<script>document.title='RAN';fetch('/ran-fetch');alert('ran');"
        b"top.location='/ran-navigate';</script>hello</body></html>\n")

svc = Service()
shots = tempfile.mkdtemp(prefix="filigrane-shots-")
try:
    svc.create_order("ord-b", "s-b", "b-b")
    seller = svc.token("seller", "s-b", "ord-b")
    buyer = svc.token("buyer", "b-b", "ord-b")
    r = svc.upload_done("ord-b", [("quote.pdf", make_pdf()), ("photo.jpg", image("jpg", 400, 300)),
                             ("page.html", HTML)], seller)
    files = {f["name"]: f for f in (r.json() or {}).get("files", [])}
    check("a PDF, a photo and an HTML page are delivered, the previews made",
          r.status == 201 and files.get("quote.pdf", {}).get("preview") == "ready"
          and files.get("photo.jpg", {}).get("preview") == "ready", r)
    svc.hook("order.accepted", {"order_id": "ord-b"})
    base = "http://127.0.0.1:%d" % svc.port
    url = lambda p, tok: "%s%s?token=%s" % (base, p, tok)  # noqa: E731
    fid = lambda n: files.get(n, {}).get("id", "none")  # noqa: E731
    case = {
        "blank": base + "/healthz",
        "pdf_preview": url("/v1/files/%s/preview" % fid("quote.pdf"), buyer),
        "image_preview": url("/v1/files/%s/preview" % fid("photo.jpg"), buyer),
        "html_original": url("/v1/files/%s/original" % fid("page.html"), buyer),
        "pdf_shot": os.path.join(shots, "pdf.png"),
        "image_shot": os.path.join(shots, "image.png"),
        "routes": [
            ["the PDF preview", url("/v1/files/%s/preview" % fid("quote.pdf"), buyer), False],
            ["the image preview", url("/v1/files/%s/preview" % fid("photo.jpg"), buyer), True],
            ["a PDF original", url("/v1/files/%s/original" % fid("quote.pdf"), buyer), False],
            ["an image original", url("/v1/files/%s/original" % fid("photo.jpg"), buyer), True],
            ["an HTML original", url("/v1/files/%s/original" % fid("page.html"), buyer), True],
            ["the delivery's archive", url("/v1/orders/ord-b/deliveries/1/archive", buyer), True],
        ],
    }
    p = subprocess.run(["node", os.path.join(HERE, "browser", "downloads.mjs")], cwd=HERE,
                       env=dict(os.environ, FILIGRANE_BROWSER_CASE=json.dumps(case)),
                       capture_output=True, text=True, timeout=300)
    sys.stdout.write(p.stdout)
    sys.stdout.flush()
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
    check("the browser run ended cleanly", p.returncode == 0 and "not ok" not in p.stdout,
          p.stderr[-1500:])
    dev = deviation(case["pdf_shot"]) if os.path.exists(case["pdf_shot"]) else 0.0
    print("# PDF viewer screenshot deviation: %.1f" % dev)
    check("the PDF viewer's screenshot is not blank", dev > 5, dev)
    check("the image preview's screenshot is not blank",
          os.path.exists(case["image_shot"]) and deviation(case["image_shot"]) > 5)
finally:
    svc.stop()
    if os.environ.get("FILIGRANE_KEEP"):
        print("# screenshots in %s" % shots)
    else:
        shutil.rmtree(shots, ignore_errors=True)
finish()
