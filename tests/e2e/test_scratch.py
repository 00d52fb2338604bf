"""FILIGRANE_SCRATCH with the local blob store: a scratch directory apart
from the data directory (made by the worker, 0700) takes the multipart
parts and the stamping jobs, blobs still land in the data directory, and
nothing is left in either; a scratch directory others may write to stops
the worker at start, naming the variable.
"""
import grp
import hashlib
import os
import pwd
import shutil
import stat
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402

USER = os.environ.get("FILIGRANE_USER", "filigrane")


def own_dir():
    """A directory the worker's user may make its scratch in."""
    d = tempfile.mkdtemp(prefix="filigrane-scratch-")
    if os.geteuid() == 0:
        os.chown(d, pwd.getpwnam(USER).pw_uid, grp.getgrgid(pwd.getpwnam(USER).pw_gid).gr_gid)
    return d


def ours(d):
    return [n for n in os.listdir(d) if n.startswith(("upload-", "stamp-", "blob-"))]


parent = own_dir()
scratch = os.path.join(parent, "scratch")
svc = Service(env={"FILIGRANE_SCRATCH": scratch})
try:
    st = os.stat(scratch)
    check("the worker makes FILIGRANE_SCRATCH, owner only (0700)",
          stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode))
    svc.create_order("ord-x", "s-x", "b-x")
    seller = svc.token("seller", "s-x", "ord-x")
    buyer = svc.token("buyer", "b-x", "ord-x")
    photo = image("jpg", 400, 300)
    data_tmp = os.path.join(svc.data, "tmp")
    before = (os.stat(scratch).st_mtime_ns, os.stat(data_tmp).st_mtime_ns)
    r = svc.upload_done("ord-x", [("photo.jpg", photo), ("notes.txt", b"notes\n" * 100)], seller)
    files = {f["name"]: f for f in (r.json() or {}).get("files", [])}
    check("a multipart delivery with a scratch elsewhere is stored and previewed",
          r.status == 201 and files.get("photo.jpg", {}).get("preview") == "ready", r)
    # An entry made or removed in a directory changes its mtime: the parts
    # and the stamping job's directory came and went in the scratch, not
    # in the data directory's tmp (nginx's body files are in tmp/body).
    after = (os.stat(scratch).st_mtime_ns, os.stat(data_tmp).st_mtime_ns)
    check("the parts and the stamping went through the scratch, not the data directory's tmp",
          after[0] != before[0] and after[1] == before[1], (before, after))
    sha = hashlib.sha256(photo).hexdigest()
    check("the blob is in the data directory's store",
          os.path.exists(os.path.join(svc.data, "blobs", "sha256", sha[:2], sha[2:4], sha)))
    check("nothing of ours is left in the scratch or the data directory's tmp",
          ours(scratch) == [] and ours(os.path.join(svc.data, "tmp")) == [],
          (ours(scratch), ours(os.path.join(svc.data, "tmp"))))
    svc.hook("order.accepted", {"order_id": "ord-x"})
    r = svc.get("/v1/files/%s/original" % files.get("photo.jpg", {}).get("id"), token=buyer)
    check("the original downloads byte for byte", r.status == 200 and r.body == photo, r.status)
finally:
    svc.stop()

# A scratch others may write to: a local user could plant a symlink where a
# copy of an original goes.
open_dir = tempfile.mkdtemp(prefix="filigrane-scratch-open-")
os.chmod(open_dir, 0o1777)
try:
    s = Service(env={"FILIGRANE_SCRATCH": open_dir})
    s.stop()
    check("a world-writable FILIGRANE_SCRATCH stops the worker", False, "it started")
except RuntimeError as e:
    check("a world-writable FILIGRANE_SCRATCH stops the worker, naming the variable",
          "FILIGRANE_SCRATCH" in str(e), str(e)[-1500:])
shutil.rmtree(open_dir, ignore_errors=True)
shutil.rmtree(parent, ignore_errors=True)
finish()
