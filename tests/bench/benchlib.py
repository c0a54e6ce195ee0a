"""Shared harness for segd benchmarks (tests/bench): context, statistics, cleanup.

A benchmark module tests/bench/bench_<id>.py uses only what is here and the Python stdlib.
See tests/bench/README.md for the module interface.
"""

import atexit
import ctypes
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

RUN_DIR = "/run/netns"
PREFIX_RE = re.compile(r"^sgb(\d+)-")


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ------------------------------------------------------------------ statistics
def percentile(xs, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(xs)
    if not s:
        return None
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def median(xs):
    s = sorted(xs)
    if not s:
        return None
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def fmt(x, digits=3):
    if x is None:
        return "–"
    if isinstance(x, float):
        if abs(x) >= 100:
            return "%.0f" % x
        return ("%%.%dg" % digits) % x
    return str(x)


# ------------------------------------------------------------------ processes
def run(cmd, check=True, input=None, timeout=120, **kw):
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (
            p.returncode, " ".join(map(str, cmd)), p.stdout[-2000:], p.stderr[-2000:]))
    return p


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


_libc = None


def _umount_unlink(path):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    _libc.umount2(path.encode(), 2)  # MNT_DETACH
    try:
        os.unlink(path)
    except OSError:
        pass


def netns_pids(name):
    p = run(["ip", "netns", "pids", name], check=False)
    return [int(t) for t in p.stdout.split() if t.isdigit()]


def remove_netns(names, kill=True):
    for n in names:
        if kill:
            for pid in netns_pids(n):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        _umount_unlink(os.path.join(RUN_DIR, n))


def list_netns(prefix):
    try:
        return sorted(n for n in os.listdir(RUN_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def cleanup_stale():
    """Namespaces left by benchmark runs whose driver is gone."""
    stale = []
    for n in list_netns("sgb"):
        m = PREFIX_RE.match(n)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            stale.append(n)
    if stale:
        log("removing %d stale benchmark namespaces" % len(stale))
        remove_netns(stale)


# ------------------------------------------------------------------ environment
def _cmd_version(cmd, pat=r"v?(\d+\.\d+(?:\.\d+)?)"):
    try:
        out = run(cmd, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(pat, out.stdout + out.stderr)
    return m.group(1) if m else None


def _pkg_version(pkg):
    p = run(["dpkg-query", "-W", "-f", "${Version}", pkg], check=False)
    return p.stdout.strip() or None if p.returncode == 0 else None


def machine_facts():
    facts = {
        "kernel": platform.release(),
        "nproc": os.cpu_count(),
        "nft": _cmd_version(["nft", "--version"]),
        "libnftnl": _pkg_version("libnftnl11"),
        "libmnl": _pkg_version("libmnl0"),
        "libnftables": _pkg_version("libnftables1"),
        "iptables": _cmd_version(["iptables", "--version"]),
        "iperf3": _cmd_version(["iperf3", "--version"]) if shutil.which("iperf3") else None,
        "sockperf": _cmd_version(["sockperf", "--version"], r"(\d+\.\d+[\w.-]*)")
        if shutil.which("sockperf") else None,
    }
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            facts["cpu"] = m.group(1).strip() if m else None
    except OSError:
        facts["cpu"] = None
    try:
        with open("/proc/meminfo") as f:
            facts["mem_gib"] = round(int(f.readline().split()[1]) / 1048576.0, 1)
    except OSError:
        pass
    gov = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
    facts["governor"] = open(gov).read().strip() if os.path.exists(gov) else "n/a"
    return facts


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ------------------------------------------------------------------ context
class Profile:
    def __init__(self, name):
        self.name = name  # "quick" or "full"
        self.quick = name == "quick"
        self.full = name == "full"


class Context:
    """What the driver hands to bench modules."""

    def __init__(self, srcdir, builddir, outdir, profile, command):
        self.srcdir = srcdir            # repository root
        self.builddir = builddir        # meson build dir with the helpers
        self.outdir = outdir
        self.profile = profile
        self.command = command          # exact command line of this run
        self.prefix = "sgb%d-" % os.getpid()  # every netns a benchmark creates starts with it
        self.facts = machine_facts()
        self.started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        self._procs = []
        self._cleanups = []
        self._jsonl = open(os.path.join(outdir, "results.jsonl"), "a")
        self._closed = False

    def get(self, key, default=None):
        """Dict-style access to the attributes above (some modules use ctx.get)."""
        return getattr(self, key, default)

    # paths
    def helper(self, name):
        p = os.path.join(self.builddir, "tests", "bench", name)
        if not os.path.exists(p):
            raise RuntimeError("helper %s not built (%s)" % (name, p))
        return p

    def product(self, relpath):
        """A product binary in the build dir, e.g. 'daemon/segd'."""
        return os.path.join(self.builddir, relpath)

    # results
    def emit(self, result):
        """Writes one JSON line (bench, arm, point, ...) with the run's metadata."""
        r = dict(result)
        r.setdefault("profile", self.profile.name)
        r["run"] = {"started": self.started, "pid": os.getpid(), "command": self.command}
        r["env"] = {k: self.facts.get(k) for k in ("kernel", "nft", "libnftnl", "libmnl",
                                                     "libnftables", "nproc", "cpu")}
        self._jsonl.write(json.dumps(r, sort_keys=True) + "\n")
        self._jsonl.flush()
        return r

    # processes and cleanup
    def popen(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self._procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=5):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def on_cleanup(self, fn):
        self._cleanups.append(fn)

    def netns_names(self, tag, n):
        return ["%s%s%d" % (self.prefix, tag, i) for i in range(n)]

    def close(self):
        if self._closed:
            return
        self._closed = True
        for fn in reversed(self._cleanups):
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                log("cleanup: %s" % e)
        for p in self._procs:
            try:
                self.stop(p, timeout=3)
            except Exception:  # noqa: BLE001
                pass
        left = list_netns(self.prefix)
        if left:
            log("removing %d namespaces" % len(left))
            remove_netns(left)
        self._jsonl.close()


def install_signal_cleanup(ctx):
    atexit.register(ctx.close)

    def handler(signum, frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, handler)


def nofile_hard():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def nofile_preexec(n=None):
    """preexec_fn giving the child a soft RLIMIT_NOFILE of min(n, hard) (n=None: the hard
    limit). The hard limit is never raised: that needs CAP_SYS_RESOURCE, which the project's
    VMs do not grant (hard limit 20000 there)."""
    n = nofile_hard() if n is None else min(n, nofile_hard())

    def f():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, nofile_hard()))
    return f


# ------------------------------------------------------------------ segd over its unix socket
class Unreachable(Exception):
    """A point that could not run (segd out of descriptors, an API error while registering the
    fleet, ...). Benchmarks report it as a missed target with this measured reason instead of
    failing the whole run."""


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=600):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def api(conn, method, path, body=None):
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    txt = r.read()
    if r.status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, r.status, txt[:300]))
    return json.loads(txt) if txt else {}


def raw_http(sock_path, method, path, body=None, timeout=60):
    """One request as raw bytes on a fresh connection to the unix socket (Connection: close),
    timed from connect() to the last byte of the answer. Returns (seconds, status, body)."""
    data = b"" if body is None else (body if isinstance(body, bytes) else
                                      (body if isinstance(body, str) else json.dumps(body)).encode())
    req = ("%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Content-Length: %d\r\nConnection: close\r\n\r\n" % (method, path, len(data))
           ).encode() + data
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(req)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    dt = time.monotonic() - t0
    resp = b"".join(chunks)
    head, _, payload = resp.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise RuntimeError("%s %s: no HTTP answer (%r)" % (method, path, resp[:200]))
    if status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, status, payload[:300]))
    return dt, status, payload


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM", "RssAnon", "VmData")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0]) * 1024
    out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    return out


def proc_nofile(pid):
    """segd's soft RLIMIT_NOFILE as the kernel reports it."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                v = line.split()[3]
                return int(v) if v.isdigit() else None
    return None


def stop_fdstore_holder(work):
    for pidfile in (os.path.join(work, "fdstore.pid"), os.path.join(work, "state", "fdstore.pid")):
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            continue
        if pid > 1:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass


def start_segd(ctx, work, extra=(), nofile=None):
    """segd on WORK/segd.sock with state in WORK/state, --engine none, its soft RLIMIT_NOFILE
    set to the hard limit (or nofile). Returns (process, connection, seconds to first answer,
    log file). Waits by polling the socket until GET /v1/status answers."""
    sock = os.path.join(work, "segd.sock")
    logf = open(os.path.join(work, "segd.log"), "a")
    # segd starts its fd holder (segd-fdstore) detached, and it outlives segd by design (it
    # keeps the owner sockets for the next segd): stop it too, or it keeps a fleet's
    # namespaces alive after the benchmark.
    ctx.on_cleanup(lambda: stop_fdstore_holder(work))
    t0 = time.monotonic()
    p = ctx.popen([ctx.product("daemon/segd"), "--socket", sock,
                   "--state-dir", os.path.join(work, "state"),
                   "--audit-log", os.path.join(work, "state", "audit.jsonl"),
                   "--engine", "none", "--log-level", "warning"] + list(extra),
                  stdout=logf, stderr=logf, preexec_fn=nofile_preexec(nofile))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if os.path.exists(sock):
            try:
                conn = UnixHTTP(sock)
                api(conn, "GET", "/v1/status")
                return p, conn, time.monotonic() - t0, logf
            except OSError:
                pass
        if p.poll() is not None:
            logf.close()
            raise Unreachable("segd exited %d at start (log %s)" % (
                p.returncode, os.path.join(work, "segd.log")))
        time.sleep(0.01)
    raise Unreachable("segd did not answer within 300 s")


def register_fleet(conn, pid, bodies):
    """POSTs each body to /v1/endpoints; returns the seconds it took. A refusal becomes
    Unreachable naming the endpoint, segd's descriptors and its limit (EMFILE shows here)."""
    t0 = time.monotonic()
    for i, body in enumerate(bodies):
        try:
            api(conn, "POST", "/v1/endpoints", body)
        except (RuntimeError, OSError) as e:
            try:
                fds, lim = proc_status(pid)["fds"], proc_nofile(pid)
            except OSError:
                fds, lim = None, None
            raise Unreachable("registration stopped at endpoint %d of %d after %.1f s: %s "
                              "(segd holds %s descriptors, soft limit %s, hard limit here %d)" % (
                                  i, len(bodies), time.monotonic() - t0, str(e)[:300], fds, lim,
                                  nofile_hard()))
    return time.monotonic() - t0


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r) + " |")
    return "\n".join(out)
