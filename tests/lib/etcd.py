#!/usr/bin/env python3
"""A real etcd v3 cluster for segd's fleet tests: N members (3 by default) of Debian's
etcd-server on loopback, each with its own data dir, on free ports, over plain HTTP or over
TLS with client certificates (a CA, a server certificate for IP:127.0.0.1 and client
certificates made with the openssl CLI; peers talk TLS too).

    cluster = EtcdCluster(members=3, tls=False)   # started and healthy when it returns
    cluster.urls()            # client URLs, member order
    cluster.leader()          # index of the member that leads, None without a leader
    cluster.kill(i, sig)      # signal a member and wait for it to exit
    cluster.start(i)          # start it again (same data dir and ports)
    cluster.stop_all(); cluster.restart_all()
    cluster.compact()         # compacts to the current revision: older watches get -ESTALE
    cluster.get_prefix("/segd/"), cluster.put(k, v), cluster.delete(k)
    cluster.close()           # (or cleanup()) also at exit

Readiness is polled (GET /health on every member, with a deadline), never slept for. Every
request goes through etcd's v3 JSON gateway with the stdlib (urllib, ssl); etcdctl() runs
the real etcdctl with the cluster's endpoints and credentials for anything else.

Run alone it is its own self-test (needs etcd, etcdctl and openssl; no root):

    python3 tests/lib/etcd.py [--tls] [--keep]

Processes left by a run that died are found by their work dirs (segd-etcd-PID-*, a pid file
per member) and killed on the next run, as tests/lib/topology.py does for namespaces.
"""

import atexit
import base64
import glob
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import topology  # noqa: E402  (kill_stale: one way to end a gone run's processes)

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
DIR_RE = re.compile(r"^segd-etcd-(\d+)-")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def _b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def _unb64(s):
    return base64.b64decode(s or "")


def prefix_end(prefix):
    """The range_end of every key starting with prefix (etcd's convention)."""
    b = bytearray(prefix.encode())
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return b"\0"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def cleanup_stale():
    """Kill etcd members of earlier runs whose process is gone; remove their dirs."""
    for d in glob.glob(os.path.join(tempfile.gettempdir(), "segd-etcd-*-*")):
        m = DIR_RE.match(os.path.basename(d))
        if not m or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        for pidfile in glob.glob(os.path.join(d, "m*.pid")):
            topology.kill_stale(pidfile, "etcd", "etcd")
        if os.environ.get("SEGD_TEST_KEEP") != "1":
            shutil.rmtree(d, ignore_errors=True)


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (held together while picked, so distinct)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _run(cmd, timeout=30, input=None, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input, env=env)
    if p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(cmd), p.stdout,
                                                               p.stderr))
    return p


# ------------------------------------------------------------------ certificates
_CNF = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = %(cn)s
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
"""


def _openssl_key_csr(d, name, cn):
    cnf = os.path.join(d, name + ".cnf")
    with open(cnf, "w") as f:
        f.write(_CNF % {"cn": cn})
    key = os.path.join(d, name + ".key")
    _run([OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-out", key])
    os.chmod(key, 0o600)
    return cnf, key


def make_ca(d, name, cn):
    """A self-signed CA: (cert, key) paths."""
    cnf, key = _openssl_key_csr(d, name, cn)
    crt = os.path.join(d, name + ".crt")
    _run([OPENSSL, "req", "-config", cnf, "-new", "-x509", "-key", key, "-out", crt, "-days", "2",
          "-extensions", "ca", "-sha256"])
    return crt, key


def make_cert(d, name, cn, ca, kind):
    """A certificate signed by ca ((cert, key)); kind "server" (SAN IP:127.0.0.1, server and
    client auth: members use it to each other too) or "client". (cert, key) paths."""
    cnf, key = _openssl_key_csr(d, name, cn)
    csr = os.path.join(d, name + ".csr")
    crt = os.path.join(d, name + ".crt")
    _run([OPENSSL, "req", "-config", cnf, "-new", "-key", key, "-out", csr])
    _run([OPENSSL, "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
          "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-out", crt, "-days", "2",
          "-extfile", cnf, "-extensions", kind, "-sha256"])
    return crt, key


class Certs:
    """ca, server, client: (cert, key) paths; rogue_ca and rogue_client: another CA and a
    client certificate it signed (etcd must refuse it)."""

    def __init__(self, d):
        os.makedirs(d, exist_ok=True)
        self.dir = d
        self.ca = make_ca(d, "ca", "segd-test-etcd-ca")
        self.server = make_cert(d, "server", "etcd", self.ca, "server")
        self.client = make_cert(d, "client", "segd", self.ca, "client")
        self.rogue_ca = make_ca(d, "rogue-ca", "segd-test-rogue-ca")
        self.rogue_client = make_cert(d, "rogue-client", "segd", self.rogue_ca, "client")


# ------------------------------------------------------------------ the cluster
class Member:
    def __init__(self, index, client_port, peer_port, data_dir, log_path, pid_path):
        self.index = index
        self.name = "m%d" % index
        self.client_port = client_port
        self.peer_port = peer_port
        self.data_dir = data_dir
        self.log_path = log_path
        self.pid_path = pid_path
        self.proc = None
        self.starts = 0

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class EtcdCluster:
    def __init__(self, members=3, tls=False, workdir=None, start_timeout=30.0,
                 heartbeat_ms=100, election_ms=1000):
        if members < 1 or members > 7:
            raise ValueError("members: 1..7")
        for b in (ETCD, ETCDCTL, OPENSSL):
            if not os.access(b, os.X_OK):
                raise RuntimeError("%s not found (scripts/deps.sh installs etcd-server, "
                                   "etcd-client and openssl)" % b)
        cleanup_stale()
        self.tls = tls
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="segd-etcd-%d-" % os.getpid())
        self.heartbeat_ms, self.election_ms = heartbeat_ms, election_ms
        self.certs = Certs(os.path.join(self.workdir, "pki")) if tls else None
        self.scheme = "https" if tls else "http"
        self.token = "segd-test-%d-%s" % (os.getpid(), os.urandom(4).hex())
        self.members = []
        self._closed = False
        self._ssl = None
        if tls:
            ctx = ssl.create_default_context(cafile=self.certs.ca[0])
            ctx.load_cert_chain(*self.certs.client)
            self._ssl = ctx
        atexit.register(self.close)
        # Free ports are picked before etcd binds them: another process may take one in
        # between. A member that cannot bind exits at once; then the whole cluster is made
        # again on new ports (a few times, not forever).
        last = None
        for attempt in range(4):
            self._make_members(members)
            try:
                self._start_all_new(start_timeout)
                return
            except RuntimeError as e:
                last = e
                bound = any("address already in use" in self._log_text(m) for m in self.members)
                self._kill_all()
                if not bound:
                    break
                log("etcd: a port was taken meanwhile, again on other ports (%d)" % attempt)
                for m in self.members:
                    shutil.rmtree(m.data_dir, ignore_errors=True)
        self.close()
        raise last

    # -------------------------------------------------------------- processes
    def _make_members(self, n):
        ports = free_ports(2 * n)
        self.members = []
        for i in range(n):
            self.members.append(Member(i, ports[2 * i], ports[2 * i + 1],
                                       os.path.join(self.workdir, "m%d.data" % i),
                                       os.path.join(self.workdir, "m%d.log" % i),
                                       os.path.join(self.workdir, "m%d.pid" % i)))

    def _url(self, m):
        return "%s://127.0.0.1:%d" % (self.scheme, m.client_port)

    def _peer_url(self, m):
        return "%s://127.0.0.1:%d" % (self.scheme, m.peer_port)

    def urls(self):
        """Client URLs of every member, in member order."""
        return [self._url(m) for m in self.members]

    def store_arg(self, members=None):
        """segd's --store value: etcd:URL,URL,... (members: indexes, default all)."""
        idx = range(len(self.members)) if members is None else members
        return "etcd:" + ",".join(self._url(self.members[i]) for i in idx)

    def segd_tls_args(self, client=True):
        """segd's TLS flags for this cluster: the CA, and (client) the client certificate."""
        if not self.tls:
            return []
        args = ["--store-cacert", self.certs.ca[0]]
        if client:
            args += ["--store-cert", self.certs.client[0], "--store-key", self.certs.client[1]]
        return args

    def _cmd(self, m):
        cluster = ",".join("%s=%s" % (x.name, self._peer_url(x)) for x in self.members)
        cmd = [ETCD, "--name", m.name, "--data-dir", m.data_dir,
               "--listen-client-urls", self._url(m), "--advertise-client-urls", self._url(m),
               "--listen-peer-urls", self._peer_url(m),
               "--initial-advertise-peer-urls", self._peer_url(m),
               "--initial-cluster", cluster, "--initial-cluster-state", "new",
               "--initial-cluster-token", self.token,
               "--heartbeat-interval", str(self.heartbeat_ms),
               "--election-timeout", str(self.election_ms),
               "--logger", "zap", "--log-outputs", "stderr", "--log-level", "info"]
        if self.tls:
            c = self.certs
            cmd += ["--cert-file", c.server[0], "--key-file", c.server[1],
                    "--trusted-ca-file", c.ca[0], "--client-cert-auth",
                    "--peer-cert-file", c.server[0], "--peer-key-file", c.server[1],
                    "--peer-trusted-ca-file", c.ca[0], "--peer-client-cert-auth"]
        return cmd

    def _spawn(self, m):
        if m.running():
            raise RuntimeError("etcd member %s is running" % m.name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(m.log_path, "a") as logf:
            logf.write("==== start %d: %s\n" % (m.starts, " ".join(self._cmd(m))))
            logf.flush()
            m.proc = subprocess.Popen(self._cmd(m), stdout=logf, stderr=logf, env=env,
                                      stdin=subprocess.DEVNULL)
        m.starts += 1
        with open(m.pid_path, "w") as f:
            f.write("%d\n" % m.proc.pid)

    def _start_all_new(self, timeout):
        for m in self.members:
            self._spawn(m)
        self.wait_healthy(timeout=timeout)

    def _log_text(self, m):
        try:
            with open(m.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, i, n=20):
        return "".join(self._log_text(self.members[i]).splitlines(True)[-n:])

    def running(self):
        """Indexes of the members whose process runs."""
        return [m.index for m in self.members if m.running()]

    def kill(self, i, sig=signal.SIGKILL, timeout=15):
        """Signal member i and wait until it has exited (SIGTERM: a clean stop)."""
        m = self.members[i]
        if not m.running():
            return
        m.proc.send_signal(sig)
        try:
            m.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            m.proc.kill()
            m.proc.wait()

    def start(self, i, wait=True, timeout=20.0):
        """Start member i again (its data dir and ports); wait: until it reports healthy
        (which needs a quorum: start the others first, or wait=False)."""
        self._spawn(self.members[i])
        if wait:
            self.wait_healthy([i], timeout)

    def stop_all(self, sig=signal.SIGTERM):
        """Every member stopped (all at once: no member sees a smaller cluster first)."""
        for m in self.members:
            if m.running():
                m.proc.send_signal(sig)
        for m in self.members:
            if m.proc is not None:
                try:
                    m.proc.wait(15)
                except subprocess.TimeoutExpired:
                    m.proc.kill()
                    m.proc.wait()

    def restart_all(self, timeout=30.0):
        """Start every member that is not running; wait until all are healthy."""
        for m in self.members:
            if not m.running():
                self._spawn(m)
        self.wait_healthy(timeout=timeout)

    def _kill_all(self):
        for m in self.members:
            if m.running():
                m.proc.kill()
                m.proc.wait()

    def close(self):
        if self._closed:
            return
        self._closed = True
        self._kill_all()
        if self._own_workdir and os.environ.get("SEGD_TEST_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    cleanup = close

    # -------------------------------------------------------------- requests
    def request(self, i, path, body=None, timeout=2.0):
        """One request to member i's JSON gateway: POST (body: dict) or GET; the decoded
        answer. Raises OSError (unreachable), RuntimeError (HTTP error: etcd's message)."""
        url = self._url(self.members[i]) + path
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ssl) as r:
                return json.loads(r.read().decode() or "{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s: HTTP %d %s" % (url, e.code, e.read()[:300].decode(errors="replace")))

    def _any(self, path, body, timeout=2.0):
        """The request on the first running member that answers it."""
        last = None
        for i in self.running():
            try:
                return self.request(i, path, body, timeout)
            except (OSError, RuntimeError) as e:
                last = e
        raise RuntimeError("no etcd member answered %s: %s" % (path, last))

    def healthy(self, i):
        try:
            return self.request(i, "/health", timeout=1.0).get("health") in ("true", True)
        except (OSError, RuntimeError, ValueError):
            return False

    def wait_healthy(self, members=None, timeout=20.0):
        """Polls /health of members (default all) until each says so; raises with the logs
        of those that did not when timeout passes or one exits."""
        idx = list(range(len(self.members))) if members is None else list(members)
        deadline = time.monotonic() + timeout
        pending = list(idx)
        while True:
            pending = [i for i in pending if not self.healthy(i)]
            if not pending:
                return
            dead = [i for i in pending if not self.members[i].running()]
            if dead or time.monotonic() >= deadline:
                raise RuntimeError("etcd member(s) %s not healthy%s:\n%s" % (
                    [self.members[i].name for i in pending],
                    " (exited)" if dead else " after %.0fs" % timeout,
                    "\n".join("--- %s\n%s" % (self.members[i].name, self.log_tail(i))
                              for i in pending)))
            time.sleep(0.05)

    def status(self, i):
        """Member i's /v3/maintenance/status answer."""
        return self.request(i, "/v3/maintenance/status", {})

    def member_ids(self):
        """{member_id (string, as etcd writes it): index} of the running members."""
        ids = {}
        for i in self.running():
            try:
                ids[self.status(i)["header"]["member_id"]] = i
            except (OSError, RuntimeError, KeyError, ValueError):
                pass
        return ids

    def leader(self):
        """Index of the leader the running members agree on (a majority of those that
        answer), None when there is none."""
        votes, ids = {}, {}
        for i in self.running():
            try:
                st = self.status(i)
            except (OSError, RuntimeError, ValueError):
                continue
            ids[st["header"]["member_id"]] = i
            lead = st.get("leader")
            if lead and lead != "0":
                votes[lead] = votes.get(lead, 0) + 1
        if not votes:
            return None
        lead, n = max(votes.items(), key=lambda kv: kv[1])
        if n * 2 <= sum(votes.values()) or lead not in ids:
            return None
        return ids[lead]

    def wait_leader(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lead = self.leader()
            if lead is not None:
                return lead
            time.sleep(0.05)
        raise RuntimeError("no etcd leader after %.0fs" % timeout)

    def revision(self):
        return int(self._any("/v3/kv/range", {"key": _b64("\0"), "limit": 1})["header"]["revision"])

    def compact(self, revision=None):
        """Compacts the history up to revision (default: the current one), physically;
        returns that revision."""
        rev = revision or self.revision()
        self._any("/v3/kv/compaction", {"revision": str(rev), "physical": True}, timeout=10.0)
        return rev

    def get_prefix(self, prefix):
        """{key: {"value": str, "lease": int, "mod_revision": int}} of every key under prefix."""
        r = self._any("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))})
        out = {}
        for kv in r.get("kvs") or []:
            out[_unb64(kv["key"]).decode(errors="replace")] = {
                "value": _unb64(kv.get("value")).decode(errors="replace"),
                "lease": int(kv.get("lease", 0)), "mod_revision": int(kv.get("mod_revision", 0))}
        return out

    def get_json(self, key):
        """The JSON value of key, None when absent."""
        kv = self.get_prefix(key).get(key)
        return None if kv is None else json.loads(kv["value"])

    def put(self, key, value):
        """Writes value (str, or anything JSON) under key; the revision it made."""
        v = value if isinstance(value, (str, bytes)) else json.dumps(value)
        return int(self._any("/v3/kv/put", {"key": _b64(key), "value": _b64(v)})["header"]["revision"])

    def delete(self, key, prefix=False):
        body = {"key": _b64(key)}
        if prefix:
            body["range_end"] = _b64(prefix_end(key))
        r = self._any("/v3/kv/deleterange", body)
        return int(r.get("deleted", 0))

    def etcdctl(self, *args, timeout=30):
        """The real etcdctl against this cluster (endpoints and credentials); CompletedProcess."""
        cmd = [ETCDCTL, "--endpoints", ",".join(self.urls()), "--dial-timeout", "2s"]
        if self.tls:
            cmd += ["--cacert", self.certs.ca[0], "--cert", self.certs.client[0],
                    "--key", self.certs.client[1]]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        env["ETCDCTL_API"] = "3"
        return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                              env=env)


# ------------------------------------------------------------------ self-test
def _self_test(tls, keep):
    ok = [0, 0]

    def check(cond, what):
        ok[0 if cond else 1] += 1
        print("%s %s" % ("PASS" if cond else "FAIL", what), flush=True)
        return cond

    t0 = time.monotonic()
    c = EtcdCluster(members=3, tls=tls)
    print("# cluster of 3 (%s) healthy in %.2fs: %s" % ("TLS" if tls else "HTTP",
                                                        time.monotonic() - t0, c.urls()), flush=True)
    try:
        check(all(u.startswith("https://" if tls else "http://") for u in c.urls()), "urls")
        rev = c.put("/t/a", {"x": 1})
        check(c.get_json("/t/a") == {"x": 1}, "put then get through the gateway")
        p = c.etcdctl("get", "/t/a", "--print-value-only")
        check(p.returncode == 0 and p.stdout.strip() == '{"x": 1}', "etcdctl get: %r %r" % (p.stdout, p.stderr))
        p = c.etcdctl("endpoint", "health", "-w", "json")
        check(p.returncode == 0 and len(json.loads(p.stdout)) == 3, "etcdctl endpoint health: %r" % p.stderr)
        if tls:
            # without a client certificate, and with one of another CA: refused
            for name, cert in (("none", None), ("rogue", c.certs.rogue_client)):
                ctx = ssl.create_default_context(cafile=c.certs.ca[0])
                if cert:
                    ctx.load_cert_chain(*cert)
                refused = False
                try:
                    urllib.request.urlopen(c.urls()[0] + "/health", timeout=2, context=ctx).read()
                except (OSError, ssl.SSLError):
                    refused = True
                check(refused, "client certificate %s refused" % name)
        lead = c.leader()
        check(lead is not None, "leader: %s" % lead)
        t1 = time.monotonic()
        c.kill(lead)
        new = c.wait_leader()
        check(new != lead, "a new leader after kill -9 of %d: %d in %.2fs" % (lead, new, time.monotonic() - t1))
        c.put("/t/b", "during")
        c.start(lead)
        check(c.healthy(lead) and c.get_json("/t/a") == {"x": 1}, "the killed member back")
        r2 = c.put("/t/a", {"x": 2})
        check(c.compact() >= r2 > rev, "compact")
        p = c.etcdctl("watch", "/t/a", "--rev", str(rev), timeout=10)
        check(p.returncode != 0 and "compacted" in (p.stdout + p.stderr),
              "a watch from a compacted revision is refused: %r" % (p.stdout + p.stderr)[:200])
        c.stop_all()
        check(c.running() == [] and not c.healthy(0), "stop_all")
        t1 = time.monotonic()
        c.restart_all()
        check(c.get_json("/t/a") == {"x": 2} and c.get_prefix("/t/b")["/t/b"]["value"] == "during",
              "restart_all keeps the data (%.2fs)" % (time.monotonic() - t1))
        check(c.delete("/t/", prefix=True) == 2 and c.get_prefix("/t/") == {}, "delete prefix")
    finally:
        if keep:
            print("# kept %s" % c.workdir)
            os.environ["SEGD_TEST_KEEP"] = "1"
        c.close()
    print("%d passed, %d failed" % tuple(ok), flush=True)
    return 1 if ok[1] else 0


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="self-test of the etcd cluster fixture")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    sys.exit(_self_test(a.tls, a.keep))
