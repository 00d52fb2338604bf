"""The previews' mark through real nginx and the real worker: one photo sold
on two orders (two buyers) is marked in two different places, while the
same photo delivered twice on one order keeps its place. A buyer cannot
recompute the placement from what he sees (the file's hash, his order, his
name): it is keyed by FILIGRANE_MARK_KEY, which service.py sets."""
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, Service, check, finish  # noqa: E402

PHOTO = "/usr/lib/python3/dist-packages/skimage/data/coffee.png"


def vips(*args):
    return subprocess.run(["vips"] + [str(a) for a in args], check=True,
                          capture_output=True, text=True).stdout.strip()


def preview_of(svc, order, number, token):
    """The bytes of the first file's preview of a delivery, once ready."""
    deadline = time.time() + 120
    while time.time() < deadline:
        o = svc.get("/v1/orders/%s" % order, token=token).json() or {}
        ds = [d for d in o.get("deliveries", []) if d.get("number") == number]
        f = ds[0]["files"][0] if ds and ds[0].get("files") else {}
        if f.get("preview") == "ready":
            r = svc.get("/v1/files/%s/preview" % f["id"], token=token)
            return r.body if r.status == 200 else None
        if f.get("preview") not in (None, "processing"):
            return None
        time.sleep(0.2)
    return None


def mark_mask(d, name, preview, original):
    """Where the preview departs from the original by more than JPEG noise:
    a one-band 0/255 mask, blurred first so stray JPEG errors drop out."""
    p = os.path.join(d, name + ".jpg")
    with open(p, "wb") as f:
        f.write(preview)
    diff = os.path.join(d, name + "-d.v")
    vips("subtract", p, original, diff)
    vips("abs", diff, os.path.join(d, name + "-a.v"))
    vips("bandmean", os.path.join(d, name + "-a.v"), os.path.join(d, name + "-m.v"))
    vips("gaussblur", os.path.join(d, name + "-m.v"), os.path.join(d, name + "-b.v"), 1.5)
    mask = os.path.join(d, name + "-mask.v")
    vips("relational_const", os.path.join(d, name + "-b.v"), mask, "more", 12)
    return mask


def distance(d, a, b):
    """Pixels marked in one mask but not the other, among those marked in
    either: near 0 for the same place, near 1 for unrelated places."""
    x, o = os.path.join(d, "x.v"), os.path.join(d, "o.v")
    vips("boolean", a, b, x, "eor")
    vips("boolean", a, b, o, "or")
    return float(vips("avg", x)) / max(float(vips("avg", o)), 1e-9)


if not os.path.exists(PHOTO):
    check("the real photo of this test is installed (python3-skimage, make deps)", False, PHOTO)
    finish()

photo = open(PHOTO, "rb").read()
svc = Service()
tmp = tempfile.mkdtemp(prefix="filigrane-mark-")
try:
    svc.create_order("ord-m1", "s-m", "b-m1", buyer_name="Ann Buyer")
    svc.create_order("ord-m2", "s-m", "b-m2", buyer_name="Ann Buyer")
    s1, s2 = svc.token("seller", "s-m", "ord-m1"), svc.token("seller", "s-m", "ord-m2")
    b1, b2 = svc.token("buyer", "b-m1", "ord-m1"), svc.token("buyer", "b-m2", "ord-m2")
    ok = all(svc.upload(o, [("coffee.png", photo)], t).status == 201
             for o, t in (("ord-m1", s1), ("ord-m1", s1), ("ord-m2", s2)))
    check("one photo is delivered twice on one order and once on another", ok)

    p11, p12 = preview_of(svc, "ord-m1", 1, b1), preview_of(svc, "ord-m1", 2, b1)
    p2 = preview_of(svc, "ord-m2", 1, b2)
    check("each delivery of the photo has a preview", p11 and p12 and p2)

    m11 = mark_mask(tmp, "p11", p11, PHOTO)
    m12 = mark_mask(tmp, "p12", p12, PHOTO)
    m2 = mark_mask(tmp, "p2", p2, PHOTO)
    share = float(vips("avg", m11)) / 255
    same, other = distance(tmp, m11, m12), distance(tmp, m11, m2)
    print("# marked %.3f; distance same order %.3f, other order %.3f" % (share, same, other))
    check("the mark covers part of the photo, not all of it", 0.05 < share < 0.6, share)
    check("the same photo on the same order is marked in the same place", same < 0.35, same)
    check("the same photo on another order, for another buyer, is marked elsewhere",
          other > 0.6 and other > 2 * same, (same, other))
    check("the two previews of one order differ in their pixels (fresh noise under the mark)",
          p11 != p12)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
    svc.stop()

# The stamping child is handed the seed, never the key: a decoder exploit
# there must not find FILIGRANE_MARK_KEY in its environment. A wrapper put
# in place of the CLI records the environment the child starts with.
spy = tempfile.mkdtemp(prefix="filigrane-mark-spy-")
os.chmod(spy, 0o777)
wrapper = os.path.join(spy, "filigrane")
with open(wrapper, "w") as f:
    # The service user may not enter the checkout (a clone under /root):
    # the wrapper runs a copy of the CLI from its own directory.
    real = os.path.join(spy, "filigrane-real")
    shutil.copy(os.path.join(BIN, "filigrane"), real)
    os.chmod(real, 0o755)
    f.write('#!/bin/sh\nenv > "%s/env.$$"\nprintf "%%s\\n" "$@" > "%s/args.$$"\n'
            'exec "%s" "$@"\n' % (spy, spy, real))
os.chmod(wrapper, 0o755)
svc = Service(env={"FILIGRANE_CLI": wrapper})
try:
    svc.create_order("ord-m3", "s-m", "b-m3")
    r = svc.upload("ord-m3", [("coffee.png", photo)], svc.token("seller", "s-m", "ord-m3"))
    p3 = preview_of(svc, "ord-m3", 1, svc.token("buyer", "b-m3", "ord-m3"))
    dumps = [open(os.path.join(spy, n)).read() for n in os.listdir(spy) if n.startswith("env.")]
    check("the stamping child ran through the recording wrapper", r.status == 201 and p3 and dumps,
          (r, len(dumps)))
    check("the stamping child's environment holds no FILIGRANE_MARK_KEY, nor the key's value",
          dumps and not any("FILIGRANE_MARK_KEY" in d or svc.mark_key in d for d in dumps))

    # An archive's salt opens the commitments a buyer holds: it reaches
    # the child in its environment (readable by the service user alone),
    # never on its command line (readable by every local user in /proc).
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("pin.txt", "4821\n")
        z.writestr("photo.png", photo)
    seller = svc.token("seller", "s-m", "ord-m3")
    r = svc.upload_done("ord-m3", [("d.zip", zbuf.getvalue())], seller)
    salt = ((r.json() or {}).get("files") or [{}])[0].get("salt") or ""
    envs = [open(os.path.join(spy, n)).read() for n in os.listdir(spy) if n.startswith("env.")]
    argv = [open(os.path.join(spy, n)).read() for n in os.listdir(spy) if n.startswith("args.")]
    check("the archive's salt reaches the stamping child in its environment",
          len(salt) == 64 and any("FILIGRANE_STAMP_SALT=" + salt in d for d in envs), (r, salt))
    check("no stamping child's command line holds the salt",
          len(salt) == 64 and argv and not any(salt in a for a in argv))
finally:
    shutil.rmtree(spy, ignore_errors=True)
    svc.stop()
finish()
