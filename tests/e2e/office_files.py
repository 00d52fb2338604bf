"""Office documents for the tests, made here by LibreOffice from text and
flat ODF (never stored in the repository), and the hostile ones: a zip bomb
docx, a document linking a picture on a local port, one with an auto-run
macro. Used by tests/e2e/test_documents.py and, through its command line,
by tests/cli/stamp_documents.sh:

    python3 tests/e2e/office_files.py KIND DIR [ARG]   # prints the path
"""
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

WORD = "wombatique"  # a word no preview may give back as text


def make_pdf(pages=3):
    """A small valid PDF with WORD on every page, written by hand (as
    tests/e2e/test_formats.py does): catalog, pages, one content stream
    each."""
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


def _soffice(src, fmt, outdir):
    """Converts src to fmt in outdir with a throwaway LibreOffice profile."""
    prof = tempfile.mkdtemp(prefix="fg-lo-")
    try:
        subprocess.run(["soffice", "-env:UserInstallation=file://" + prof, "--headless",
                        "--norestore", "--convert-to", fmt, "--outdir", outdir, src],
                       capture_output=True, timeout=180, check=False)
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    base = os.path.splitext(os.path.basename(src))[0]
    out = os.path.join(outdir, base + "." + fmt.split(":")[0])
    if not os.path.exists(out):
        raise RuntimeError("soffice made no %s of %s" % (fmt, src))
    return out


def long_text(d, lines=600, name="long.txt"):
    """A text of `lines` numbered lines (about 11 pages in a word processor)."""
    p = os.path.join(d, name)
    with open(p, "w") as f:
        for i in range(lines):
            f.write("line %d of the %s manuscript, plain words only\n" % (i + 1, WORD))
    return p


def docx(d, lines=600):
    return _soffice(long_text(d, lines, "report.txt"), "docx:MS Word 2007 XML", d)


def odt(d, lines=600):
    return _soffice(long_text(d, lines, "essay.txt"), "odt", d)


def xlsx(d, rows=300):
    p = os.path.join(d, "sheet.csv")
    with open(p, "w") as f:
        for i in range(rows):
            f.write("%d,%s,%d\n" % (i, WORD, i * i))
    return _soffice(p, "xlsx:Calc MS Excel 2007 XML", d)


FODP = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.presentation">
 <office:body><office:presentation>%s</office:presentation></office:body>
</office:document>
"""
SLIDE = ('<draw:page draw:name="s%d"><draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" '
         'svg:height="4cm"><draw:text-box><text:p>slide %d %s</text:p></draw:text-box>'
         '</draw:frame></draw:page>')


def pptx(d, slides=5):
    p = os.path.join(d, "deck.fodp")
    with open(p, "w") as f:
        f.write(FODP % "".join(SLIDE % (i, i + 1, WORD) for i in range(slides)))
    return _soffice(p, "pptx:Impress MS PowerPoint 2007 XML", d)


def zip_bomb_docx(d, mb=200):
    """A real docx with one more entry: mb megabytes of zeros (a ratio
    near 1000 to 1)."""
    src = docx(d, 20)
    out = os.path.join(d, "bomb.docx")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        with zout.open("word/media/zeros.bin", "w") as z:
            block = bytes(1 << 20)
            for _ in range(mb):
                z.write(block)
    return out


LINK_FODT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:xlink="http://www.w3.org/1999/xlink"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
 <office:body><office:text>
  <text:p>linked picture %s</text:p>
  <text:p><draw:frame draw:name="pic" svg:width="5cm" svg:height="5cm" text:anchor-type="as-char">
   <draw:image xlink:href="http://127.0.0.1:%d/pixel.png" xlink:type="simple" xlink:show="embed"
    xlink:actuate="onLoad"/></draw:frame></text:p>
 </office:text></office:body>
</office:document>
"""


def local_link_odt(d, picture):
    """An odt whose picture is a link to the local file picture: a seller
    trying to pull another file of the host into his preview."""
    p = os.path.join(d, "local.fodt")
    with open(p, "w") as f:
        f.write(LINK_FODT.replace("http://127.0.0.1:%d/pixel.png", "file://" + picture)
                % (WORD,))
    return _soffice(p, "odt", d)


def red_png(path, size=64):
    """A solid red PNG, written with zlib alone."""
    import struct
    import zlib
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * size for _ in range(size))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2,
                                                                       0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def has_red(pdf):
    """True when a page of pdf, rendered small, has a clearly red pixel."""
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["pdftoppm", "-r", "30", pdf, os.path.join(d, "p")], check=False)
        for name in os.listdir(d):
            data = open(os.path.join(d, name), "rb").read()
            # P6 header: magic, width, height, maxval, then RGB bytes.
            parts = data.split(b"\n", 3)
            px = parts[3] if len(parts) == 4 else b""
            for i in range(0, len(px) - 2, 3):
                if px[i] > 200 and px[i + 1] < 80 and px[i + 2] < 80:
                    return True
    return False


def link_odt(d, port):
    """An odt whose picture is a link to http://127.0.0.1:port/pixel.png.
    Made before anything listens there (LibreOffice tries the link when it
    converts the flat file)."""
    p = os.path.join(d, "linked.fodt")
    with open(p, "w") as f:
        f.write(LINK_FODT % (WORD, port))
    return _soffice(p, "odt", d)


MACRO_FODT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0"
 xmlns:xlink="http://www.w3.org/1999/xlink"
 xmlns:ooo="http://openoffice.org/2004/office"
 xmlns:dom="http://www.w3.org/2001/xml-events"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
 <office:scripts>
  <office:script script:language="ooo:Basic">
   <ooo:libraries>
    <ooo:library-embedded ooo:name="Standard">
     <ooo:module ooo:name="Module1">
      <ooo:source-code>Sub Main
  Dim n As Integer
  n = FreeFile
  Open "%s" For Output As #n
  Print #n, "macro ran"
  Close #n
End Sub
</ooo:source-code>
     </ooo:module>
    </ooo:library-embedded>
   </ooo:libraries>
  </office:script>
  <office:event-listeners>
   <script:event-listener script:language="ooo:script" script:event-name="dom:load"
    xlink:href="vnd.sun.star.script:Standard.Module1.Main?language=Basic&amp;location=document"
    xlink:type="simple"/>
  </office:event-listeners>
 </office:scripts>
 <office:body><office:text><text:p>macro document %s</text:p></office:text></office:body>
</office:document>
"""


def macro_odt(d, target):
    """An odt with a Basic macro bound to its load event, which writes the
    file target. Converting the flat file does not run it (LibreOffice's
    default security)."""
    p = os.path.join(d, "macro.fodt")
    with open(p, "w") as f:
        f.write(MACRO_FODT % (target, WORD))
    return _soffice(p, "odt", d)


LOW_SECURITY = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def macro_runs_unguarded(doc, target, seconds=40):
    """The control: a LibreOffice with macro security off, opening doc and
    running its macro by name, writes target. True when it did."""
    prof = tempfile.mkdtemp(prefix="fg-lo-")
    os.makedirs(os.path.join(prof, "user"))
    with open(os.path.join(prof, "user", "registrymodifications.xcu"), "w") as f:
        f.write(LOW_SECURITY)
    try:
        p = subprocess.Popen(["soffice", "-env:UserInstallation=file://" + prof, "--headless",
                              "--norestore", doc,
                              "vnd.sun.star.script:Standard.Module1.Main?language=Basic"
                              "&location=document"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        import time
        deadline = time.time() + seconds
        while time.time() < deadline and not os.path.exists(target):
            time.sleep(0.5)
        os.killpg(p.pid, 9)
        p.wait()
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    return os.path.exists(target)


if __name__ == "__main__":
    kind, d = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else None
    makers = {"docx": docx, "odt": odt, "xlsx": xlsx, "pptx": pptx, "bomb": zip_bomb_docx,
              "text": long_text}
    if kind == "link":
        print(link_odt(d, int(arg)))
    elif kind == "local-link":
        print(local_link_odt(d, red_png(arg)))
    elif kind == "has-red":
        sys.exit(0 if has_red(d) else 1)
    elif kind == "macro":
        print(macro_odt(d, arg))
    elif kind == "macro-control":
        sys.exit(0 if macro_runs_unguarded(d, arg) else 1)
    else:
        print(makers[kind](d))
