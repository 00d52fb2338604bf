"""Text, source code and office documents through nginx and the worker:
each previewed in the sandbox as an image-only excerpt (3 pages by
default, the order's preview_pages when it asks, PDFs included), the mark
on every page, the original's words never extractable; and the hostile
ones (a zip-bomb docx, a document linking a picture on a local port, a
100 MB line) failed or handled with a reason, the worker still up."""
import os
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(__file__))
import office_files  # noqa: E402
from office_files import WORD  # noqa: E402
from service import Service, check, finish  # noqa: E402
from office_files import make_pdf  # noqa: E402

# DESIGN, Settled details (test time): like the media suites, this one
# (LibreOffice, a 100 MB upload) runs in the plain pass only; the ASan pass
# runs the same code through tests/cli/stamp_documents.sh and the units.
if os.path.basename(os.path.normpath(os.environ.get("FILIGRANE_BIN", ""))) == "asan":
    print("# the documents suite runs in the plain pass only")
    sys.exit(0)


def pdf_info(body):
    """(pages, text of every page, [gray pages as (w, h, bytes)])."""
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "p.pdf")
        with open(p, "wb") as f:
            f.write(body)
        info = subprocess.run(["pdfinfo", p], capture_output=True, text=True).stdout
        pages = [int(l.split()[-1]) for l in info.splitlines() if l.startswith("Pages:")]
        text = subprocess.run(["pdftotext", p, "-"], capture_output=True, text=True).stdout
        subprocess.run(["pdftoppm", "-r", "40", "-gray", p, os.path.join(d, "g")], check=False)
        grays = []
        for name in sorted(n for n in os.listdir(d) if n.startswith("g")):
            grays.append(read_pgm(os.path.join(d, name)))
    return (pages[0] if pages else 0), text, grays


def read_pgm(path):
    data = open(path, "rb").read()
    fields, i = [], 0
    while len(fields) < 4:
        while data[i:i + 1].isspace():
            i += 1
        j = i
        while not data[j:j + 1].isspace():
            j += 1
        fields.append(data[i:j])
        i = j
    return int(fields[1]), int(fields[2]), data[i + 1:]


def marked_everywhere(gray, bands=4):
    """The mark tiles the whole page: the right quarter of the page, blank
    in these originals (their lines are short), has marked (grey) pixels
    in each of `bands` bands from top to bottom; an unmarked page has
    none there."""
    w, h, px = gray
    x0 = int(w * 0.75)
    for b in range(bands):
        grey = 0
        for y in range(h * b // bands, h * (b + 1) // bands):
            row = px[y * w + x0:y * w + w]
            grey += sum(1 for v in row if v < 245)
        if grey < 20:
            return False
    return True


def content_pages(grays):
    return grays[:-1] if len(grays) > 1 else grays


def note_says(text, shown, total=None):
    want = "Preview limited to %d of " % shown
    if total is not None:
        want += "%d pages" % total
    return want in text and "held back until acceptance" in text


# A picture on a local port: LibreOffice must never ask for it.
hits = []
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
port = listener.getsockname()[1]

work = tempfile.mkdtemp(prefix="fg-docs-")
long_txt = office_files.long_text(work, 600)
docx = office_files.docx(work, 600)
os.makedirs(os.path.join(work, "b"))
bomb = office_files.zip_bomb_docx(os.path.join(work, "b"))


def accept():
    listener.settimeout(None)
    while True:
        try:
            c, _ = listener.accept()
        except OSError:
            return
        hits.append(1)
        c.close()


threading.Thread(target=accept, daemon=True).start()
# LibreOffice tries the link while it makes the file: those connections
# are the control (it does fetch when nothing stops it), not the test.
os.makedirs(os.path.join(work, "l"))
linked = office_files.link_odt(os.path.join(work, "l"), port)
check("LibreOffice left alone fetches the linked picture (the control)", len(hits) > 0)
hits.clear()
code = ("#include <stdio.h>\n\nint main(void)\n{\n\tputs(\"%s\");\n\treturn 0;\n}\n" % WORD).encode()
rtl = "\u05e9\u05dc\u05d5\u05dd %s \u05e2\u05d5\u05dc\u05dd\n\u0645\u0631\u062d\u0628\u0627\n" % WORD
one_line = b"x" * (100 * 1000 * 1000)
random_bytes = os.urandom(4096)

svc = Service()
try:
    svc.create_order("ord-d", "s-d", "b-d")
    r = svc.hook("order.created", {"order_id": "ord-p", "seller_id": "s-d", "buyer_id": "b-d",
                                   "preview_pages": 5})
    check("order.created with preview_pages 5 is applied", r.status == 200, r)
    for bad in (0, -1, 100001, "5", 2.5):
        r = svc.hook("order.created", {"order_id": "ord-x", "seller_id": "s-d",
                                       "buyer_id": "b-d", "preview_pages": bad})
        check("preview_pages %r is refused with 400 bad_webhook naming it" % (bad,),
              r.status == 400 and (r.json() or {}).get("error", {}).get("code")
              == "bad_webhook" and b"preview_pages" in r.body, r)
    r = svc.get("/v1/orders/ord-x", token=svc.token("buyer", "b-d", "ord-x"))
    check("and no order was created by the refused webhooks", r.status == 404, r)
    seller = svc.token("seller", "s-d", "ord-d")
    buyer = svc.token("buyer", "b-d", "ord-d")
    pdf12 = make_pdf(12)
    files = [("novel.txt", open(long_txt, "rb").read()), ("main.c", code),
             ("rtl.txt", rtl.encode()), ("report.docx", open(docx, "rb").read()),
             ("quote.pdf", pdf12), ("bomb.docx", open(bomb, "rb").read()),
             ("linked.odt", open(linked, "rb").read()), ("blob.bin", random_bytes)]
    r = svc.upload_done("ord-d", files, seller, timeout=600)
    got = {f["name"]: f for f in (r.json() or {}).get("files", [])}
    check("a delivery of texts, code, office documents and hostile ones is answered 201",
          r.status == 201 and len(got) == len(files), r)
    order = svc.wait_ready("ord-d", buyer, timeout=600)
    now = {f["name"]: f for d in (order or {}).get("deliveries", []) for f in d.get("files", [])}
    if not now:
        now = got

    def kind_of(name):
        return now.get(name, {}).get("kind")

    check("text and code are of kind text, office documents of kind document",
          [kind_of(n) for n in ("novel.txt", "main.c", "rtl.txt", "report.docx", "linked.odt")]
          == ["text", "text", "text", "document", "document"],
          {n: (f.get("kind"), f.get("type")) for n, f in now.items()})

    def preview(name, token=buyer):
        f = now.get(name, {})
        return svc.get("/v1/files/%s/preview" % f.get("id"), token=token), f

    for name, shown in (("novel.txt", 3), ("report.docx", 3)):
        r, f = preview(name)
        check("%s is previewed as a PDF" % name,
              r.status == 200 and r.header("content-type") == "application/pdf", (f, r))
        pages, text, grays = pdf_info(r.body)
        check("%s: %d pages and a last page saying how many are held back" % (name, shown),
              pages == shown + 1 and note_says(text, shown), (pages, text[-300:]))
        check("%s: none of the original's words can be extracted" % name,
              WORD not in text and WORD.encode() not in r.body and "manuscript" not in text,
              text[:300])
        check("%s: the mark covers every page shown" % name,
              len(grays) == pages and all(marked_everywhere(g) for g in content_pages(grays)))

    r, f = preview("main.c")
    pages, text, grays = pdf_info(r.body)
    check("a short source file is one page, no note, its words not extractable",
          r.status == 200 and pages == 1 and "Preview limited" not in text and WORD not in text,
          (f, pages, text[:200]))
    check("the source file's page is marked", grays and marked_everywhere(grays[0]))
    r, f = preview("rtl.txt")
    check("right-to-left text is previewed", r.status == 200 and pdf_info(r.body)[0] == 1, f)

    r, f = preview("quote.pdf")
    pages, text, _ = pdf_info(r.body)
    check("a PDF in an order that asked nothing keeps its 12 pages (up to --max-pages)",
          r.status == 200 and pages == 12 and "Preview limited" not in text, (pages, f))

    f = now.get("bomb.docx", {})
    check("the zip-bomb docx failed with a reason, never converted",
          f.get("preview") == "failed" and "zip bomb" in (f.get("reason") or ""), f)
    f = now.get("linked.odt", {})
    check("the document linking a local picture is previewed", f.get("preview") == "ready", f)
    check("and no connection ever reached the linked port", not hits, len(hits))
    f = now.get("blob.bin", {})
    check("random bytes are still withheld", f.get("preview") == "withheld", f)

    # The order that asked for 5 pages: text, office and PDF alike.
    seller_p = svc.token("seller", "s-d", "ord-p")
    buyer_p = svc.token("buyer", "b-d", "ord-p")
    files = [("novel.txt", open(long_txt, "rb").read()), ("report.docx", open(docx, "rb").read()),
             ("quote.pdf", pdf12)]
    r = svc.upload_done("ord-p", files, seller_p, timeout=600)
    check("the second order's delivery is answered 201", r.status == 201, r)
    order = svc.wait_ready("ord-p", buyer_p, timeout=600)
    now = {f["name"]: f for d in (order or {}).get("deliveries", []) for f in d.get("files", [])}
    for name, total in (("novel.txt", None), ("report.docx", None), ("quote.pdf", 12)):
        r, f = preview(name, buyer_p)
        pages, text, grays = pdf_info(r.body)
        check("preview_pages 5: %s shows 5 pages and the note" % name,
              r.status == 200 and pages == 6 and note_says(text, 5, total), (f, pages, text[-200:]))
        check("preview_pages 5: %s's pages are all marked" % name,
              all(marked_everywhere(g) for g in content_pages(grays)))

    # A text of one 100 MB line: laid out only as far as the excerpt.
    svc.create_order("ord-l", "s-d", "b-d")
    seller_l = svc.token("seller", "s-d", "ord-l")
    buyer_l = svc.token("buyer", "b-d", "ord-l")
    r = svc.upload_done("ord-l", [("minified.js", one_line)], seller_l, timeout=600)
    f = ((r.json() or {}).get("files") or [{}])[0]
    order = svc.wait_ready("ord-l", buyer_l, timeout=600)
    f = [x for d in (order or {}).get("deliveries", []) for x in d.get("files", [])] or [f]
    f = f[0]
    r = svc.get("/v1/files/%s/preview" % f.get("id"), token=buyer_l)
    pages, text, _ = pdf_info(r.body) if r.status == 200 else (0, "", [])
    check("a 100 MB single-line text is previewed as 3 pages of thousands, with the note",
          f.get("preview") == "ready" and pages == 4 and "Preview limited to 3 of" in text,
          (f, text[-200:]))
    check("the worker is up after all of it", svc.get("/healthz").status == 200)
finally:
    listener.close()
    svc.stop()
    subprocess.run(["rm", "-rf", work])
finish()
