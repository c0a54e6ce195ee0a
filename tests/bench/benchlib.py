"""Shared harness for segd benchmarks (tests/bench): context, statistics, cleanup.

A benchmark module tests/bench/bench_<id>.py uses only what is here and the Python stdlib.
See tests/bench/README.md for the module interface.
"""

import atexit
import ctypes
import json
import os
import platform
import re
import resource
import shutil
import signal
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


FDS_PER_ENDPOINT = 2  # segd: its nf_tables socket (which keeps the namespace), NFLOG (flow logs on, the default)


def nofile_hard():
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def max_fleet():
    """The largest fleet segd can hold under this process's hard RLIMIT_NOFILE (raising it
    needs CAP_SYS_RESOURCE, which the project's VMs do not grant: hard limit 20000)."""
    return (nofile_hard() - 512) // FDS_PER_ENDPOINT


def fleet_sizes(wanted):
    """`wanted`, with points over max_fleet() replaced by max_fleet() (rounded down to
    hundreds), each at most once; the caller reports the substitution."""
    cap = max_fleet() // 100 * 100
    out = []
    for n in wanted:
        n = min(n, cap)
        if n not in out:
            out.append(n)
    return out


def nofile_preexec(n):
    """preexec_fn giving the child min(n, hard) open files."""
    import resource
    n = min(n, nofile_hard())

    def f():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return f


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r) + " |")
    return "\n".join(out)
