"""Starts filigrane as a cluster for a test: PostgreSQL, an S3 server and
two nodes (each nginx + worker), through scripts/run-cluster.sh (the
script behind `make run-cluster`), on free loopback ports in a fresh
temp directory the service user can reach; and tears it all down.

Not a test itself: the test_cluster*.py files import it. A Cluster speaks
HTTP like a load balancer in front of the nodes (each request to the next
node in turn), so a suite written for one Service runs against it
unchanged; cluster.nodes[0] and [1] speak to one node each.
"""
import base64
import http.client
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, TOP, Service, check, free_port  # noqa: E402,F401

RUN_CLUSTER = os.path.join(TOP, "scripts", "run-cluster.sh")


def plain_pass_only():
    """DESIGN, Settled details (test time): the cluster suites run in the
    plain pass, not again under the sanitizers (the worker code they drive
    is the same, and every single-node suite runs it under ASan)."""
    if os.path.basename(os.path.normpath(BIN)) == "asan":
        print("# the cluster suites run in the plain pass only")
        sys.exit(0)


def missing():
    """What this tree or machine lacks to start a cluster, or "" when
    nothing: the parts come from other work (scripts/pg.sh,
    scripts/s3-server.sh and its npm package)."""
    for part in ("pg.sh", "s3-server.sh", "run-cluster.sh"):
        if not os.access(os.path.join(TOP, "scripts", part), os.X_OK):
            return "scripts/%s is not in this tree" % part
    for src, what in (("storage/meta_pg.c", "PostgreSQL metadata store"),
                      ("storage/blob_s3.c", "S3 blob store")):
        if not os.path.exists(os.path.join(TOP, src)):
            return "this tree has no %s (%s)" % (what, src)
    if not os.path.exists(os.path.join(TOP, "tests", "e2e", "node_modules", "@20minutes",
                                       "s3rver")):
        return "s3rver is not installed (make deps)"
    if subprocess.run([os.path.join(TOP, "scripts", "pg.sh"), "bindir"],
                      capture_output=True).returncode != 0:
        return "PostgreSQL's server binaries are not installed (make deps)"
    return ""


def skip_unless_ready():
    why = missing()
    if why:
        # No check at all, so no pass is claimed: the summary line shows
        # this suite ran nothing, and says why.
        print("# SKIP the cluster cannot be started: " + why)
        sys.exit(0)


def free_pair():
    """A port p with p + 1 free too (the two nodes' nginx)."""
    for _ in range(50):
        p = free_port()
        if p >= 65534:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def processes_under(root):
    """Every live process of this machine whose command line or
    environment names ROOT, and their descendants: the cluster's
    postgres (its helpers name nothing), S3 server, nginx, workers and
    stamping children (a worker's command line names no path, its
    FILIGRANE_DATA does). [(pid, command line)]"""
    needle = root.encode()
    procs = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if fields[0] == "Z":
            continue
        env = b""
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read()
        except OSError:
            pass
        procs[int(pid)] = (int(fields[1]), needle in cmd or needle in env,
                           cmd.replace(b"\0", b" ").decode(errors="replace").strip())
    hit = {p for p, (_, yes, _) in procs.items() if yes}
    grew = True
    while grew:
        more = {p for p, (ppid, _, _) in procs.items() if ppid in hit and p not in hit}
        hit |= more
        grew = bool(more)
    return sorted((p, procs[p][2]) for p in hit)


class Node(Service):
    """One node of a cluster: its own nginx, the cluster's secrets."""

    def __init__(self, cluster, n, port):  # noqa: super().__init__ starts a service
        self.cluster = cluster
        self.n = n
        self.port = port
        self.data = os.path.join(cluster.data, "node%d" % n)
        self.jwt_secret = cluster.jwt_secret
        self.hook_key = cluster.hook_key
        self.hook_secret = cluster.hook_secret
        self.metrics_token = cluster.metrics_token
        self.mark_key = cluster.mark_key
        self.env = cluster.env

    def worker_pid(self):
        """The pid of this node's worker (its log's last ready line)."""
        try:
            text = open(os.path.join(self.data, "log", "worker.log"), errors="replace").read()
        except OSError:
            return None
        pids = re.findall(r"filigrane-fcgi ready threads=\d+ pid=(\d+)", text)
        return int(pids[-1]) if pids else None

    def logs(self):
        out = ""
        for name in ("run.log", "worker.log", "nginx-error.log"):
            p = os.path.join(self.data, "log", name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out += "\n--- node%d %s\n%s" % (self.n, name, f.read()[-3000:])
        return out


def start_cluster(root, env):
    """Runs scripts/run-cluster.sh with FILIGRANE_DATA=ROOT and ENV until
    both nodes answer or it ends. Returns (proc, ok); its stdout and
    stderr are in ROOT/run-cluster.out and .err."""
    out = open(os.path.join(root, "run-cluster.out"), "wb")
    err = open(os.path.join(root, "run-cluster.err"), "wb")
    try:
        # SIGINT back to its default: a test run started in the background
        # (`make test &`, a CI runner) hands its children SIGINT ignored,
        # and a shell cannot trap a signal ignored on entry, so the
        # script's Ctrl-C path would never run.
        proc = subprocess.Popen([RUN_CLUSTER], env=env, stdout=out, stderr=err,
                                start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    finally:
        out.close()
        err.close()
    deadline = time.time() + 180
    marker = "filigrane cluster: node 1 on"
    while time.time() < deadline and proc.poll() is None:
        try:
            if marker in open(os.path.join(root, "run-cluster.out"), errors="replace").read():
                return proc, True
        except OSError:
            pass
        time.sleep(0.1)
    return proc, False


class Cluster(Service):
    """PostgreSQL + an S3 server + two nodes. env: settings for every
    node (and for run-cluster.sh, which passes them on)."""

    def __init__(self, env=None):  # noqa: super().__init__ starts a single node
        self.root = tempfile.mkdtemp(prefix="filigrane-cluster-")
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, "cluster")
        # The secrets a Service would make, shared by both nodes.
        self.jwt_secret = "jwt-" + uuid.uuid4().hex + uuid.uuid4().hex
        self.hook_key = os.urandom(32)
        self.hook_secret = "whsec_" + base64.b64encode(self.hook_key).decode()
        self.metrics_token = "metrics-" + uuid.uuid4().hex
        self.mark_key = "mark-" + uuid.uuid4().hex + uuid.uuid4().hex
        self.env = env or {}
        self._turn = itertools.count()
        self.proc = None
        why = ""
        for _ in range(3):
            self.port = free_pair()
            e = self.environ()
            self.proc, ok = start_cluster(self.root, e)
            if ok:
                self.nodes = [Node(self, 1, self.port), Node(self, 2, self.port + 1)]
                return
            why += "\n--- attempt on ports %d-%d:\n%s" % (self.port, self.port + 3, self.output())
            self._kill()
        self._wipe()
        raise RuntimeError("the cluster did not start:" + why)

    def environ(self, port=None):
        """The environment run-cluster.sh is started with."""
        port = self.port if port is None else port
        e = dict(os.environ)
        for k in list(e):
            # The test's own environment must not point the cluster at
            # another database or store.
            if k.startswith("FILIGRANE_S3_") or k == "FILIGRANE_DATABASE_URL":
                del e[k]
        e.update({
            "FILIGRANE_DATA": self.root,
            "FILIGRANE_PORT": str(port),
            "FILIGRANE_CLUSTER_PG_PORT": str(free_port()),
            "FILIGRANE_CLUSTER_S3_PORT": str(free_port()),
            "FILIGRANE_JWT_SECRET": self.jwt_secret,
            "FILIGRANE_WEBHOOK_SECRET": self.hook_secret,
            "FILIGRANE_METRICS_TOKEN": self.metrics_token,
            "FILIGRANE_MARK_KEY": self.mark_key,
            "FILIGRANE_BIN": BIN,
            "FILIGRANE_QUIET": "1",
            "FILIGRANE_PG_UNSAFE_FAST": "1",
            "FILIGRANE_RATE_UPLOADS": "1000000",
            "FILIGRANE_RATE_WEBHOOKS": "1000000",
            "FILIGRANE_RATE_TUS": "1000000",
        })
        e.update(self.env)
        return e

    def output(self):
        """What run-cluster.sh printed, stdout then stderr."""
        out = ""
        for name in ("run-cluster.out", "run-cluster.err"):
            try:
                out += open(os.path.join(self.root, name), errors="replace").read()
            except OSError:
                pass
        return out

    # ---- the shared state ----

    def database_url(self):
        with open(os.path.join(self.data, "pg", "url")) as f:
            return f.read().strip()

    def s3_settings(self):
        """The FILIGRANE_S3_* settings the nodes were given."""
        out = {}
        try:
            for line in open(os.path.join(self.data, "s3.env")):
                k, _, v = line.strip().partition("=")
                if k.startswith("FILIGRANE_S3_"):
                    out[k] = v
        except OSError:
            pass
        return out

    def s3(self, method, key, headers=()):
        """A request signed with the cluster's S3 key (curl's SigV4; the key
        goes through curl's config on stdin, not argv): (status, the
        answer's head as text)."""
        s3 = self.s3_settings()
        args = ["curl", "-s", "-o", "/dev/null", "-D", "-", "-X", method, "--aws-sigv4",
                "aws:amz:%s:s3" % s3.get("FILIGRANE_S3_REGION", "us-east-1"), "-K", "-",
                "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
        for h in headers:
            args += ["-H", h]
        if method == "HEAD":
            args[args.index("-X"):args.index("-X") + 2] = ["-I"]
        args.append("%s/%s/%s" % (s3["FILIGRANE_S3_ENDPOINT"], s3["FILIGRANE_S3_BUCKET"], key))
        p = subprocess.run(args, capture_output=True, text=True,
                           input='user = "%s:%s"\n' % (s3["FILIGRANE_S3_ACCESS_KEY_ID"],
                                                        s3["FILIGRANE_S3_SECRET_ACCESS_KEY"]))
        m = re.match(r"HTTP/[\d.]+ (\d+)", p.stdout)
        return (int(m.group(1)) if m else None), p.stdout

    def sql(self, query):
        """Runs QUERY with psql on the cluster's database; rows as lists
        of strings. The password goes through the environment, not argv."""
        u = urllib.parse.urlsplit(self.database_url())
        env = dict(os.environ, PGPASSWORD=urllib.parse.unquote(u.password or ""))
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-h", u.hostname, "-p", str(u.port), "-U", u.username,
                            "-d", u.path.lstrip("/"), "-c", query],
                           capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise RuntimeError("psql: " + p.stderr)
        return [l.split("\t") for l in p.stdout.splitlines() if l]

    def cli(self, *args, node=1):
        """Runs bin/filigrane against the cluster's database and store,
        from node N's data directory."""
        env = dict(os.environ)
        env.update({k: v for k, v in self.environ(self.port).items()
                    if k.startswith("FILIGRANE_") and k not in ("FILIGRANE_CLUSTER_PG_PORT",
                                                              "FILIGRANE_CLUSTER_S3_PORT")})
        env.update(self.s3_settings())
        env["FILIGRANE_DATABASE_URL"] = self.database_url()
        env["FILIGRANE_DATA"] = self.nodes[node - 1].data
        return subprocess.run([os.path.join(BIN, "filigrane")] + list(args),
                              capture_output=True, text=True, env=env)

    # ---- HTTP: like a load balancer, each request to the next node ----

    def request(self, method, path, body=None, headers=None, token=None):
        node = self.nodes[next(self._turn) % len(self.nodes)]
        return node.request(method, path, body=body, headers=headers, token=token)

    def logs(self):
        return self.output() + "".join(n.logs() for n in getattr(self, "nodes", []))

    # ---- stopping ----

    def _kill(self):
        """SIGTERM to run-cluster.sh alone (as a service manager would),
        which stops the nodes, the S3 server and PostgreSQL itself; after
        60 s, SIGKILL to everything left under the root."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        deadline = time.time() + 10
        while processes_under(self.root) and time.time() < deadline:
            time.sleep(0.2)

    def _wipe(self):
        for pid, _ in processes_under(self.root):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not os.environ.get("FILIGRANE_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def stop(self):
        """Stops the cluster and checks that nothing of it is left running
        and that no worker's log holds a sanitizer report."""
        self._kill()
        left = processes_under(self.root)
        check("the cluster stops with no process of it left (postgres, S3 server, nginx, "
              "workers)", not left, left)
        for n in getattr(self, "nodes", []):
            log = os.path.join(n.data, "log", "worker.log")
            text = open(log, errors="replace").read() if os.path.exists(log) else ""
            bad = [l for l in text.splitlines()
                   if "AddressSanitizer" in l or "runtime error:" in l or "LeakSanitizer" in l]
            check("node %d's worker log holds no sanitizer report" % n.n, not bad,
                  "\n".join(bad[:20]))
        self._wipe()


def secrets_in(text, cluster, extra=()):
    """The secrets found in TEXT (none should be): the shared ones, the
    database password, the S3 secret key, and EXTRA."""
    found = []
    names = {"jwt secret": cluster.jwt_secret, "webhook secret": cluster.hook_secret,
             "mark key": cluster.mark_key, "metrics token": cluster.metrics_token}
    try:
        pw = urllib.parse.urlsplit(cluster.database_url()).password
        if pw:
            names["database password"] = pw
    except OSError:
        pass
    s3 = cluster.s3_settings().get("FILIGRANE_S3_SECRET_ACCESS_KEY")
    # s3rver's one key pair is S3RVER/S3RVER: its secret cannot be told
    # from its access key id, which may be printed.
    if s3 and s3 != cluster.s3_settings().get("FILIGRANE_S3_ACCESS_KEY_ID"):
        names["S3 secret key"] = s3
    for i, x in enumerate(extra):
        names["given secret %d" % i] = x
    for name, value in names.items():
        if value and value in text:
            found.append(name)
    return found


def http_get(port, path, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()
