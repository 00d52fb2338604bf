"""Traceable previews through real nginx and the real worker: previews the
service made carry an invisible payload naming the order, buyer and file;
after each transformation of issue 13 (made here with libvips) both
`filigrane trace` and POST /v1/trace name them; unmarked images give
`no mark found`; another buyer's preview of the same file names that
buyer; frames taken out of a video preview (and its poster) name their
order, buyer and file too; tracing is admin-only and audited."""
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, Service, check, finish  # noqa: E402

DATA = "/usr/lib/python3/dist-packages/skimage/data"

# DESIGN, Settled details (test time): the tracing suites run in the plain
# pass, not again under the sanitizers (the decoder's memory safety is
# checked under ASan by tests/unit/test_trace.c's lighter run).
if os.path.basename(os.path.normpath(os.environ.get("FILIGRANE_BIN", ""))) == "asan":
    print("# the tracing suite runs in the plain pass only")
    sys.exit(0)


def vips(*args):
    return subprocess.run(["vips"] + [str(a) for a in args], check=True,
                          capture_output=True, text=True).stdout.strip()


def header(path, field):
    return int(subprocess.run(["vipsheader", "-f", field, path], check=True,
                              capture_output=True, text=True).stdout.strip())


def photo(d, w=1800, h=1200):
    """A photo-like JPEG: gradients, soft blobs and fine grain (as
    bench/images.sh makes), so it compresses and textures like a photo."""
    p = lambda n: os.path.join(d, n)  # noqa: E731
    vips("xyz", p("xy.v"), w, h)
    vips("extract_band", p("xy.v"), p("x.v"), 0)
    vips("extract_band", p("xy.v"), p("y.v"), 1)
    vips("linear", p("x.v"), p("r.v"), 180 / w, 40)
    vips("linear", p("y.v"), p("g.v"), 160 / h, 50)
    vips("add", p("x.v"), p("y.v"), p("s.v"))
    vips("linear", p("s.v"), p("b.v"), 120 / (w + h), 70)
    vips("bandjoin", "%s %s %s" % (p("r.v"), p("g.v"), p("b.v")), p("grad.v"))
    vips("gaussnoise", p("n.v"), w // 32, h // 32, "--sigma", 40, "--mean", 0)
    vips("bandjoin", "%s %s %s" % (p("n.v"), p("n.v"), p("n.v")), p("n3.v"))
    vips("resize", p("n3.v"), p("blob.v"), 32, "--kernel", "linear")
    vips("gaussnoise", p("fine.v"), w, h, "--sigma", 6, "--mean", 0)
    vips("add", p("grad.v"), p("blob.v"), p("a.v"))
    vips("add", p("a.v"), p("fine.v"), p("c.v"))
    vips("cast", p("c.v"), p("u.v"), "uchar")
    vips("copy", p("u.v"), p("photo.jpg") + "[Q=90]")
    with open(p("photo.jpg"), "rb") as f:
        return f.read()


def make_pdf(pages=2):
    """A small valid PDF of text pages, written by hand."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", None,
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for i in range(pages):
        stream = "BT /F1 24 Tf 72 700 Td (Quote page %d) Tj ET" % (i + 1)
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


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error"] + [str(a) for a in args],
                   check=True, capture_output=True)


def grey_frame(path, at, w=1280, h=720):
    """The frame at `at` seconds of the video at path, as w x h bytes of
    grey (ffmpeg decodes it: no image library needed)."""
    return subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-ss", str(at), "-i",
                           path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                          check=True, capture_output=True).stdout


def agreeing_psnr(a, b, x, w=1280, h=720, mb=16):
    """PSNR of x against a over the 16 x 16 blocks where a and b (two
    previews of the same clip without a payload) agree within 2 levels,
    and the share of the frame those blocks cover. Two previews never
    agree everywhere: the noise under the visible mark is drawn afresh
    for each preview, and the encoder's choices differ around it."""
    se = n = 0
    for by in range(0, h - mb + 1, mb):
        for bx in range(0, w - mb + 1, mb):
            rows = [(by + y) * w + bx for y in range(mb)]
            if any(abs(a[r + i] - b[r + i]) > 2 for r in rows for i in range(mb)):
                continue
            for r in rows:
                for i in range(mb):
                    d = a[r + i] - x[r + i]
                    se += d * d
                    n += 1
    if n == 0:
        return 0.0, 0.0
    return (99.0 if se == 0 else 10 * math.log10(255.0 ** 2 * n / se)), n / (w * h)


def ready_file(svc, order, token):
    deadline = time.time() + 180
    while time.time() < deadline:
        o = svc.get("/v1/orders/%s" % order, token=token).json() or {}
        files = [f for d in o.get("deliveries", []) for f in d.get("files", [])]
        if files and all(f.get("preview") == "ready" for f in files):
            return files[-1]
        if files and any(f.get("preview") not in (None, "processing", "ready") for f in files):
            return None
        time.sleep(0.2)
    return None


def preview(svc, f, token, path):
    r = svc.get("/v1/files/%s/preview" % f["id"], token=token)
    with open(path, "wb") as out:
        out.write(r.body)
    return r.status == 200


def cli_trace(svc, path):
    env = dict(os.environ, FILIGRANE_MARK_KEY=svc.mark_key)
    env.pop("FILIGRANE_DATABASE_URL", None)
    return subprocess.run([os.path.join(BIN, "filigrane"), "trace", "--data", svc.data, path],
                          capture_output=True, text=True, env=env, timeout=300)


def api_trace(svc, path, token):
    with open(path, "rb") as f:
        return svc.request("POST", "/v1/trace", body=f.read(), token=token)


svc = Service()
tmp = tempfile.mkdtemp(prefix="filigrane-trace-")
os.chmod(tmp, 0o755)
P = lambda n: os.path.join(tmp, n)  # noqa: E731
try:
    admin = svc.token("admin", "ops")
    img = photo(tmp)
    svc.create_order("ord-t1", "s-t", "b-t1", buyer_name="Ann")
    svc.create_order("ord-t2", "s-t", "b-t2", buyer_name="Bob")
    s1, s2 = svc.token("seller", "s-t", "ord-t1"), svc.token("seller", "s-t", "ord-t2")
    ok = all(svc.upload(o, [("photo.jpg", img)], t).status == 201
             for o, t in (("ord-t1", s1), ("ord-t2", s2)))
    f1, f2 = ready_file(svc, "ord-t1", s1), ready_file(svc, "ord-t2", s2)
    check("the same photo delivered on two orders gets two previews", ok and f1 and f2)
    if not (f1 and f2):
        finish()
    preview(svc, f1, s1, P("p1.jpg"))
    preview(svc, f2, s2, P("p2.jpg"))
    want1 = "order ord-t1 buyer b-t1 file %s" % f1["id"]
    want2 = "order ord-t2 buyer b-t2 file %s" % f2["id"]

    out = cli_trace(svc, P("p1.jpg"))
    check("filigrane trace names the order, buyer and file of a preview, exit 0",
          out.returncode == 0 and out.stdout.startswith(want1 + " confidence "),
          out.stdout + out.stderr)
    out = cli_trace(svc, P("p2.jpg"))
    check("the other buyer's preview of the same file traces to that buyer",
          out.returncode == 0 and out.stdout.startswith(want2 + " confidence "),
          out.stdout + out.stderr)

    # The transformations of issue 13, each made with libvips.
    w, h = header(P("p1.jpg"), "width"), header(P("p1.jpg"), "height")
    vips("copy", P("p1.jpg"), P("q50.jpg") + "[Q=50]")
    vips("resize", P("p1.jpg"), P("half.jpg") + "[Q=85]", 0.5)
    cw, ch = w // 5, h // 5
    vips("extract_area", P("p1.jpg"), P("crop.png"), cw, ch, w - 2 * cw, h - 2 * ch)
    vips("linear", P("p1.jpg"), P("bright.png"), 1, 38)
    vips("linear", "--", P("p1.jpg"), P("dim.png"), 1, -38)
    vips("linear", P("p1.jpg"), P("lowcontrast.png"), 0.85, 19)
    vips("linear", "--", P("p1.jpg"), P("highcontrast.png"), 1.15, -19)
    vips("resize", P("p1.jpg"), P("screenshot.png"), 0.8)
    vips("resize", P("p1.jpg"), P("retina.png"), 1.25)
    vips("colourspace", P("p1.jpg"), P("grey.jpg") + "[Q=85]", "b-w")
    # Removing the visible mark: where the preview departs from the
    # original (the letters), the pixels are cleared, widened by 2 pixels,
    # and filled from their nearest unmarked neighbours.
    with open(P("orig.jpg"), "wb") as f:
        f.write(img)
    vips("resize", P("orig.jpg"), P("orig-s.v"), w / header(P("orig.jpg"), "width"))
    vips("extract_area", P("orig-s.v"), P("orig-c.v"), 0, 0, w, h)
    vips("subtract", P("p1.jpg"), P("orig-c.v"), P("d.v"))
    vips("abs", P("d.v"), P("a.v"))
    vips("bandmean", P("a.v"), P("m.v"))
    vips("relational_const", P("m.v"), P("mask0.v"), "more", 12)
    vips("rank", P("mask0.v"), P("mask.v"), 5, 5, 24)
    vips("invert", P("mask.v"), P("inv.v"))
    vips("linear", P("inv.v"), P("keep.v"), 1 / 255, 0)
    vips("multiply", P("p1.jpg"), P("keep.v"), P("holef.v"))
    vips("cast", P("holef.v"), P("hole.v"), "uchar")
    vips("fill_nearest", P("hole.v"), P("filled.v"))
    vips("cast", P("filled.v"), P("inpainted.png"), "uchar")
    marked = float(vips("avg", P("mask.v"))) / 255
    check("the inpainting attack covers the letters (%.0f%% of the pixels)" % (100 * marked),
          marked > 0.1, marked)
    vips("extract_area", P("half.jpg"), P("cropscale.png"), cw // 2, ch // 2,
         w // 2 - cw, h // 2 - ch)
    cases = [("JPEG quality 50", "q50.jpg"), ("a 50% downscale", "half.jpg"),
             ("a 20% crop from each side", "crop.png"),
             ("brightness +15%", "bright.png"), ("brightness -15%", "dim.png"),
             ("contrast -15%", "lowcontrast.png"), ("contrast +15%", "highcontrast.png"),
             ("a screenshot (80% and PNG)", "screenshot.png"),
             ("a screenshot (125% and PNG)", "retina.png"),
             ("greyscale", "grey.jpg"),
             ("the visible mark inpainted", "inpainted.png"),
             ("a 50% downscale and a 20% crop", "cropscale.png")]
    for name, f in cases:
        r = api_trace(svc, P(f), admin)
        d = r.json() or {}
        check("POST /v1/trace names order, buyer and file after %s" % name,
              r.status == 200 and d.get("order_id") == "ord-t1" and d.get("buyer_id") == "b-t1"
              and d.get("file_id") == f1["id"], "%d %s" % (r.status, r.body[:300]))
    # A PDF's preview, and a photo inside an archive's preview.
    svc.create_order("ord-t3", "s-t", "b-t3", buyer_name="Cy")
    s3 = svc.token("seller", "s-t", "ord-t3")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("shoot/photo.jpg", img)
    ok = svc.upload("ord-t3", [("quote.pdf", make_pdf()), ("shoot.zip", zbuf.getvalue())],
                    s3).status == 201
    f3 = ready_file(svc, "ord-t3", s3)
    o3 = svc.get("/v1/orders/ord-t3", token=s3).json() or {}
    files3 = {f["name"]: f for d in o3.get("deliveries", []) for f in d.get("files", [])}
    pdf, arc = files3.get("quote.pdf"), files3.get("shoot.zip")
    check("a PDF and an archive get previews", ok and f3 and pdf and arc, files3)
    if pdf and arc:
        preview(svc, pdf, s3, P("quote-preview.pdf"))
        r = api_trace(svc, P("quote-preview.pdf"), admin)
        d = r.json() or {}
        check("a PDF's preview traces to its order, buyer and file",
              r.status == 200 and d.get("order_id") == "ord-t3" and d.get("buyer_id") == "b-t3"
              and d.get("file_id") == pdf["id"], "%d %s" % (r.status, r.body[:300]))
        preview(svc, arc, s3, P("shoot-preview.zip"))
        with zipfile.ZipFile(P("shoot-preview.zip")) as z:
            names = [n for n in z.namelist() if n.lower().endswith((".jpg", ".png"))]
            with open(P("from-zip.jpg"), "wb") as f:
                f.write(z.read(names[0]) if names else b"")
        r = api_trace(svc, P("from-zip.jpg"), admin)
        d = r.json() or {}
        check("a photo taken out of an archive's preview traces to the archive",
              r.status == 200 and d.get("order_id") == "ord-t3" and d.get("file_id") == arc["id"],
              "%d %s" % (r.status, r.body[:300]))

    out = cli_trace(svc, P("crop.png"))
    check("filigrane trace names them after a crop too",
          out.returncode == 0 and out.stdout.startswith(want1), out.stdout + out.stderr)

    # Video: every frame of the preview and its poster carry the payload.
    # A 6 s 720p clip with grain (as a camera's), delivered on two orders
    # with different buyers.
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=6,noise=alls=12:allf=t",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=6", "-shortest",
           "-c:v", "libx264", "-crf", "18", P("clip.mp4"))
    with open(P("clip.mp4"), "rb") as f:
        vid = f.read()
    svc.create_order("ord-t4", "s-t", "b-t4", buyer_name="Di")
    svc.create_order("ord-t5", "s-t", "b-t5", buyer_name="Ed")
    s4, s5 = svc.token("seller", "s-t", "ord-t4"), svc.token("seller", "s-t", "ord-t5")
    ok = all(svc.upload(o, [("clip.mp4", vid)], t).status == 201
             for o, t in (("ord-t4", s4), ("ord-t5", s5)))
    v4, v5 = ready_file(svc, "ord-t4", s4), ready_file(svc, "ord-t5", s5)
    check("the same video delivered on two orders gets two video previews",
          ok and v4 and v5 and v4.get("kind") == "video", (v4, v5))
    if v4 and v5:
        preview(svc, v4, s4, P("v4.mp4"))
        preview(svc, v5, s5, P("v5.mp4"))
        wantv4 = "order ord-t4 buyer b-t4 file %s" % v4["id"]
        for at in (1.5, 4.5):
            ffmpeg("-ss", at, "-i", P("v4.mp4"), "-frames:v", "1", P("f%g.png" % at))
            vips("copy", P("f%g.png" % at), P("f%g.jpg" % at) + "[Q=75]")
            vips("resize", P("f%g.png" % at), P("f%g-half.png" % at), 0.5)
            out = cli_trace(svc, P("f%g.png" % at))
            check("filigrane trace names order, buyer and file of a frame at %g s of a video "
                  "preview" % at, out.returncode == 0 and out.stdout.startswith(wantv4 + " "),
                  out.stdout + out.stderr)
            for name, f in (("as PNG", "f%g.png"), ("as JPEG q75", "f%g.jpg"),
                            ("downscaled 50%", "f%g-half.png")):
                r = api_trace(svc, P(f % at), admin)
                d = r.json() or {}
                check("POST /v1/trace names them from the frame at %g s %s" % (at, name),
                      r.status == 200 and d.get("order_id") == "ord-t4"
                      and d.get("buyer_id") == "b-t4" and d.get("file_id") == v4["id"],
                      "%d %s" % (r.status, r.body[:300]))
        ffmpeg("-ss", 3, "-i", P("v5.mp4"), "-frames:v", "1", P("g3.png"))
        out = cli_trace(svc, P("g3.png"))
        check("a frame of the other buyer's preview of the same video traces to that buyer",
              out.returncode == 0 and out.stdout.startswith(
                  "order ord-t5 buyer b-t5 file %s " % v5["id"]), out.stdout + out.stderr)
        po = svc.get("/v1/files/%s/poster" % v4["id"], token=s4)
        with open(P("v4-poster.jpg"), "wb") as f:
            f.write(po.body)
        r = api_trace(svc, P("v4-poster.jpg"), admin)
        d = r.json() or {}
        check("the video's poster traces to its order, buyer and file",
              po.status == 200 and r.status == 200 and d.get("order_id") == "ord-t4"
              and d.get("buyer_id") == "b-t4" and d.get("file_id") == v4["id"],
              "%d %d %s" % (po.status, r.status, r.body[:300]))
        # The original clip itself carries nothing.
        ffmpeg("-ss", 3, "-i", P("clip.mp4"), "-frames:v", "1", P("orig-frame.png"))
        out = cli_trace(svc, P("orig-frame.png"))
        check("a frame of the original video: no mark found, exit 1",
              out.returncode == 1 and out.stdout.strip() == "no mark found",
              out.stdout + out.stderr)

    # Invisible: the same clip (without grain: two previews agree only
    # where the encoder had nothing random to code) stamped by the CLI
    # twice without a payload and once with one; the traced frame against
    # a plain one where the two plain ones agree.
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=3",
           "-c:v", "libx264", "-crf", "18", P("clean.mp4"))
    fg = os.path.join(BIN, "filigrane")
    penv = dict(os.environ, FILIGRANE_TRACE_PATTERN="%064x" % 77)
    for name, extra in (("pa.mp4", []), ("pb.mp4", []),
                        ("pt.mp4", ["--trace-payload", "00112233445566ff"])):
        subprocess.run([fg, "stamp", "--seed", "5"] + extra + [P("clean.mp4"), P(name)],
                       check=True, capture_output=True, env=penv)
    for at in (0.8, 2.2):
        a, b, x = (grey_frame(P(n), at) for n in ("pa.mp4", "pb.mp4", "pt.mp4"))
        db, share = agreeing_psnr(a, b, x)
        print("# frame at %g s: PSNR %.1f dB over the %.0f%% of the frame where two "
              "previews without a payload agree" % (at, db, 100 * share))
        check("a traced video frame is at least 40 dB PSNR from the same preview without the "
              "payload (at %g s, where two previews without it agree)" % at,
              share >= 0.3 and 40.0 <= db < 99.0, (db, share))

    # Unmarked: the original, a preview stamped by hand without a payload,
    # and a real photo from a Debian package.
    subprocess.run([os.path.join(BIN, "filigrane"), "stamp", "--seed", "7", P("orig.jpg"),
                    P("plain.jpg")], check=True, capture_output=True)
    for name, f in (("the original", P("orig.jpg")), ("a preview without a payload",
                                                      P("plain.jpg")),
                    ("a real photo", os.path.join(DATA, "astronaut.png"))):
        out = cli_trace(svc, f)
        check("filigrane trace on %s: no mark found, exit 1" % name,
              out.returncode == 1 and out.stdout.strip() == "no mark found",
              out.stdout + out.stderr)
    r = api_trace(svc, P("orig.jpg"), admin)
    check("POST /v1/trace of an unmarked image is 404 no_mark",
          r.status == 404 and (r.json() or {}).get("error", {}).get("code") == "no_mark",
          r.status)

    # Only an admin, and only after the token: a buyer cannot probe whose
    # preview a file is.
    r = api_trace(svc, P("p1.jpg"), svc.token("buyer", "b-t1", "ord-t1"))
    check("a buyer's token is refused 403", r.status == 403, r.status)
    r = api_trace(svc, P("p1.jpg"), None)
    check("no token is refused 401", r.status == 401, r.status)
    r = svc.request("POST", "/v1/trace", body=b"not an image", token=admin)
    check("a text file is refused 415 (cannot be traced)", r.status == 415, r.body[:200])

    # Audited: on the order found, and on the service chain when none.
    a = svc.get("/v1/orders/ord-t1/audit", token=admin).json() or {}
    acts = [e for e in a.get("entries", []) if e.get("action") == "trace.matched"]
    det = json.loads(acts[-1]["detail"]) if acts and isinstance(acts[-1].get("detail"), str) \
        else (acts[-1].get("detail") if acts else {})
    check("each match is in the order's audit trail, by the admin, with the suspect's hash",
          len(acts) >= len(cases) and acts[-1].get("actor") == "admin:ops"
          and len(det.get("suspect_sha256", "")) == 64, acts[-1:] if acts else a)
    db = os.path.join(svc.data, "filigrane.db")
    rows = subprocess.run(["sqlite3", db, "SELECT count(*) FROM audit WHERE chain = ''"
                           " AND action = 'trace.no_mark'"], capture_output=True, text=True)
    check("a trace that names nobody is on the service chain",
          rows.returncode == 0 and int(rows.stdout.strip() or 0) >= 1, rows.stdout + rows.stderr)
    out = subprocess.run([os.path.join(BIN, "filigrane"), "audit", "verify", "--data", svc.data],
                         capture_output=True, text=True)
    check("the audit trail still verifies", out.returncode == 0, out.stdout + out.stderr)
finally:
    svc.stop()
    shutil.rmtree(tmp, ignore_errors=True)
finish()
