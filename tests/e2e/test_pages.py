"""The order page (/o/{order}, web/) in a real browser: Debian's Chromium
through playwright-core (tests/e2e/browser/pages.mjs). The seller drops
three files (one of 200 MB), the connection is cut in the middle of the big
one, the upload resumes and the delivery is made; the buyer sees the
previews turn ready and the originals locked; after the acceptance webhook
the buyer downloads an original through the page, byte for byte; the page
fits 390 px and speaks French. Screenshots of every step are written to
build/pages-screens/ (kept, also after a failure)."""
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from service import TOP, Service, check, finish, image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = "/usr/bin/chromium"
BIG = 200 * 1000 * 1000 + 12345
HOSTILE_MESSAGE = "<img src=/xss-message onerror=\"document.title='PWNED'\"><script>document.title='PWNED'</script>"
HOSTILE_NAME = "<svg onload=alert(1)>.txt"

# DESIGN, Settled details (test time): browser suites run in the plain
# pass only.
if os.path.basename(os.path.normpath(os.environ.get("FILIGRANE_BIN", ""))) == "asan":
    print("# the browser suite runs in the plain pass only")
    sys.exit(0)

ready = (os.path.exists(CHROMIUM)
         and os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core"))
         and os.path.exists(os.path.join(TOP, "web", "node_modules", "tus-js-client", "dist",
                                         "tus.min.js")))
if not check("chromium, playwright-core and tus-js-client are installed (make deps)", ready):
    finish()

# Every error code the service can answer a person with has a sentence in
# both languages (web/i18n.js), so the page never shows a bare code. The
# codes only the operator or the order system meets are exempt.
NOT_FOR_PEOPLE = {"bad_body_file", "bad_metrics_token", "bad_webhook", "metrics_disabled", "ok",
                  "unhealthy", "stale_webhook", "bad_signature"}
# POST /v1/trace is the admin's (fcgi/h_trace.c): no page shows its answers.
NOT_FOR_PEOPLE |= {"no_mark", "not_admin"}
codes = set()
for d in ("fcgi", "orders"):
    for n in sorted(os.listdir(os.path.join(TOP, d))):
        if n.endswith(".c"):
            text = open(os.path.join(TOP, d, n)).read()
            codes |= set(re.findall(r'fcgi_send_error\([^;]*?"([a-z_]+)"', text, re.S))
codes |= set(re.findall(r'\] = "([a-z_]+)"', open(os.path.join(TOP, "common", "result.c")).read()))
codes |= set(re.findall(r'"code":"([a-z_]+)"', open(os.path.join(TOP, "nginx.conf")).read()))
codes |= {"not_released", "revoked", "download_limit", "wrong_order", "not_party", "purged"}
i18n = open(os.path.join(TOP, "web", "i18n.js")).read()
en, fr = i18n[:i18n.index("const fr")], i18n[i18n.index("const fr"):]
missing = sorted(c for c in codes - NOT_FOR_PEOPLE
                 if ("err_%s:" % c) not in en or ("err_%s:" % c) not in fr)
check("every error code a person can meet (%d) has a sentence in English and French"
      % len(codes - NOT_FOR_PEOPLE), len(codes) > 30 and not missing, missing)

shots = os.path.join(TOP, "build", "pages-screens")
shutil.rmtree(shots, ignore_errors=True)
os.makedirs(shots)
work = tempfile.mkdtemp(prefix="filigrane-pages-")
svc = Service()


def tiny_pdf():
    """A one-page PDF written by hand (catalog, page, font, one text line)."""
    stream = b"BT /F1 36 Tf 72 600 Td (Quote, page 1) Tj ET"
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"]
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def keep(name, data):
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def run(phase, case):
    path = os.path.join(work, "case.json")
    with open(path, "w") as f:
        json.dump(case, f)
    p = subprocess.run(["node", os.path.join(HERE, "browser", "pages.mjs")], cwd=HERE,
                       env=dict(os.environ, FILIGRANE_PAGES_CASE=path,
                                FILIGRANE_PAGES_PHASE=phase),
                       capture_output=True, text=True, timeout=900)
    sys.stdout.write(p.stdout)
    sys.stdout.flush()
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
    check("the browser's %s phase ended cleanly" % phase,
          p.returncode == 0 and "not ok" not in p.stdout, p.stderr[-1500:])


try:
    svc.create_order("ord-pages", "s-pages", "b-pages")
    seller = svc.token("seller", "s-pages", "ord-pages", ttl=3600)
    buyer = svc.token("buyer", "b-pages", "ord-pages", ttl=3600)
    # The 200 MB file: random bytes, written in pieces, hashed as written.
    big = os.path.join(work, "masters.bin")
    h = hashlib.sha256()
    with open(big, "wb") as f:
        left = BIG
        while left:
            chunk = os.urandom(min(left, 8 << 20))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    svc.create_order("ord-resume", "s-pages", "b-pages")
    draft = keep("draft.bin", os.urandom(48 << 20))
    with open(draft, "rb") as f:
        draft_sha = hashlib.sha256(f.read()).hexdigest()
    photo = image("png", 1600, 1200)
    # An archive: its manifest is shown as a table on the buyer's page.
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("art/cover.png", image("png", 300, 200))
        z.writestr("notes.txt", "draft notes\n" * 50)
    svc.create_order("ord-archive", "s-pages", "b-pages")
    # A hostile seller: markup in the message and in a file name.
    r = svc.upload_done("ord-archive", [("bundle.zip", zbuf.getvalue()),
                                        (HOSTILE_NAME, b"just text\n"),
                                        ("quote.pdf", tiny_pdf())],
                        svc.token("seller", "s-pages", "ord-archive"), message=HOSTILE_MESSAGE)
    check("an archive is delivered and previewed",
          r.status == 201 and (r.json() or {}).get("files", [{}])[0].get("preview") == "ready", r)
    poster = image("jpg", 1200, 900)
    # Are the tus routes there? A creation of one byte, then its removal.
    r = svc.request("POST", "/v1/orders/ord-pages/uploads", token=seller,
                    headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1",
                             "Upload-Metadata": "filename eC5iaW4="})
    tus = r.status == 201 and (r.header("location") or "").startswith("/v1/uploads/")
    if tus:
        svc.request("DELETE", r.header("location"), token=seller, headers={"Tus-Resumable": "1.0.0"})
    else:
        print("# no tus routes in this build (POST .../uploads answered %d): the seller's"
              " files are delivered by multipart instead, and the upload steps are not run"
              % r.status)
        with open(big, "rb") as f:
            bigdata = f.read()
        r = svc.upload("ord-pages", [("photo.png", photo), ("poster.jpg", poster),
                                     ("masters.bin", bigdata)], seller,
                       message="Voici les fichiers finaux")
        del bigdata
        check("the delivery is made by multipart", r.status == 201, r)
    case = {
        "base": "http://127.0.0.1:%d" % svc.port,
        "order": "ord-pages",
        "seller": seller,
        "buyer": buyer,
        "expired": svc.token("buyer", "b-pages", "ord-pages", ttl=-60),
        "tus": tus,
        "shots": shots,
        "message": "Voici les fichiers finaux",
        "dropped": [{"name": "photo.png", "type": "image/png", "path": keep("photo.png", photo)},
                    {"name": "poster.jpg", "type": "image/jpeg", "path": keep("poster.jpg", poster)}],
        "resume": {"order": "ord-resume", "path": draft, "size": 48 << 20, "sha256": draft_sha,
                   "seller": svc.token("seller", "s-pages", "ord-resume", ttl=3600)},
        "archive": {"order": "ord-archive", "message": HOSTILE_MESSAGE, "name": HOSTILE_NAME,
                    "buyer": svc.token("buyer", "b-pages", "ord-archive", ttl=3600)},
        "big": {"path": big, "size": BIG, "sha256": h.hexdigest()},
        "download": {"name": "photo.png", "size": len(photo),
                     "sha256": hashlib.sha256(photo).hexdigest()},
    }
    run("before", case)
    r = svc.hook("order.accepted", {"order_id": "ord-pages"})
    check("the acceptance webhook is taken", r.status == 200, r)
    run("after", case)
finally:
    print("# screenshots of every step in %s" % shots)
    svc.stop()
    shutil.rmtree(work, ignore_errors=True)
finish()
