"""Real-network test topology for segd: network namespaces, a bridge, probes, the daemon.

Layout (nothing is created in, or attached to, the host's network namespace):

    netns PREFIX+"hub":  br0 --+-- p0 ==veth== eth0 in netns PREFIX+"x-a"   10.213.0.10, fd00:213::ad5:a
                               +-- p1 ==veth== eth0 in netns PREFIX+"x-b"   10.213.0.11, ...
                               ...

PREFIX is "sgt<pid>-": parallel runs never collide (each has its own hub, so even the
addresses may repeat), and namespaces left behind by a crashed run are found by their prefix
and removed when the owning pid is gone.

IPv6 addresses embed the IPv4 address in fd00:213::/96 (fd00:213::<v4 bits>), so every
IPv4 CIDR has an exact IPv6 image containing the same pods (see v6_image_of_cidr).
"""

import atexit
import glob
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

V4_NET = ipaddress.ip_network("10.213.0.0/24")
V6_NET = ipaddress.ip_network("fd00:213::/64")
V6_EMBED_BASE = int(ipaddress.ip_address("fd00:213::"))  # fd00:213::/96 + IPv4 bits
HOST_BASE = 10  # first endpoint gets .10

PREFIX_RE = re.compile(r"^sgt(\d+)-")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, check=True, input=None, timeout=60):
    """Run a command; raise with its stderr on failure when check."""
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (
            p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p



def probe_results(src, targets, stdout):
    """segd-probe connect's output (one "TARGET ok|fail ..." line per target, in order) as
    {target: bool}; anything else raises."""
    lines = stdout.splitlines()
    if len(lines) != len(targets):
        raise RuntimeError("probe from %s: %d lines for %d targets" % (src, len(lines), len(targets)))
    res = {}
    for t, line in zip(targets, lines):
        parts = line.split()
        if len(parts) < 2 or parts[0] != t or parts[1] not in ("ok", "fail"):
            raise RuntimeError("probe from %s: bad line %r for %s" % (src, line, t))
        res[t] = parts[1] == "ok"
    return res


def probe_in_parallel(probe, plan, timeout_ms):
    """probe(src, targets, timeout_ms) for every source of plan ({src: [targets]}) at once;
    {src: {target: bool}}, or the first error raised."""
    out, errors, threads = {}, [], []

    def one(src, targets):
        try:
            out[src] = probe(src, targets, timeout_ms)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    for src, targets in plan.items():
        t = threading.Thread(target=one, args=(src, list(targets)))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out

def v6_of_v4(v4):
    """The IPv6 address of a pod whose IPv4 address is v4 (fd00:213::/96 embedding)."""
    return ipaddress.IPv6Address(V6_EMBED_BASE | int(ipaddress.IPv4Address(v4)))


def v6_image_of_cidr(cidr):
    """Exact IPv6 image of an IPv4 CIDR under the pod address embedding.

    a.b.c.d/L -> fd00:213::a.b.c.d/(96+L). A pod's IPv4 address lies in the IPv4 CIDR iff its
    IPv6 address lies in the image, and containment between CIDRs (ipBlock.except inside
    ipBlock.cidr) is preserved. Host bits are kept as written.
    """
    addr, _, plen = cidr.partition("/")
    v4 = ipaddress.IPv4Address(addr)
    plen = int(plen) if plen else 32
    if not 0 <= plen <= 32:
        raise ValueError("bad IPv4 prefix length in %r" % cidr)
    return "%s/%d" % (ipaddress.IPv6Address(V6_EMBED_BASE | int(v4)), 96 + plen)


def sctp_available():
    """True when this kernel can open SCTP sockets."""
    try:
        with open("/proc/net/protocols") as f:
            if any(line.split()[:1] == ["SCTP"] for line in f):
                return True
    except OSError:
        pass
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, getattr(socket, "IPPROTO_SCTP", 132))
        s.close()
        return True
    except OSError:
        return False


def list_netns():
    p = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def kill_netns_pids(ns):
    p = run(["ip", "netns", "pids", ns], check=False)
    for tok in p.stdout.split():
        try:
            os.kill(int(tok), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


def kill_stale(pidfile, comm, who):
    """Kills the process pidfile names if its command is still `comm` (of a run that is gone)."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip() or 0)
        with open("/proc/%d/comm" % pid) as f:
            if pid > 0 and f.read().strip() == comm:
                log("%s: killing stale %s pid %d of a run that is gone" % (who, comm, pid))
                os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


def cleanup_stale():
    """Remove namespaces (and segd daemons) left by earlier runs whose process is gone."""
    for piddir in glob.glob(os.path.join(tempfile.gettempdir(), "segd-test-*-*")):
        m = re.match(r"segd-test-(\d+)-", os.path.basename(piddir))
        if not m or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        try:
            with open(os.path.join(piddir, "segd.pid")) as f:
                spid = int(f.read().strip() or 0)
            if spid > 0 and os.path.basename(os.readlink("/proc/%d/exe" % spid)).startswith("segd"):
                log("topology: killing stale segd pid %d of a run that is gone" % spid)
                os.kill(spid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
        # segd's fd holder outlives segd on purpose (Segd.fdstore_pid)
        kill_stale(os.path.join(piddir, "fdstore.pid"), "segd-fdstore", "topology")
        if os.environ.get("SEGD_TEST_KEEP") != "1":
            shutil.rmtree(piddir, ignore_errors=True)
    for ns in list_netns():
        m = PREFIX_RE.match(ns)
        if not m:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        log("topology: removing stale netns %s (pid %d is gone)" % (ns, pid))
        kill_netns_pids(ns)
        run(["ip", "netns", "del", ns], check=False)


class Endpoint:
    def __init__(self, name, netns, ifname, v4, v6, index):
        self.name = name      # logical name, e.g. "x-a"
        self.netns = netns    # e.g. "sgt123-x-a"
        self.ifname = ifname  # inside the endpoint netns
        self.v4 = v4          # ipaddress.IPv4Address
        self.v6 = v6          # ipaddress.IPv6Address
        self.index = index
        self.server = None    # Popen of segd-probe serve
        self.sport_next = 20000

    def addr(self, family):
        return self.v4 if family == 4 else self.v6

    def target(self, proto, family, port):
        a = self.addr(family)
        return "%s:%s:%d" % (proto.lower(), ("[%s]" % a) if family == 6 else a, port)


class Topology:
    """A bridge in its own netns and one veth'd netns per endpoint."""

    def __init__(self, probe_bin, prefix=None):
        self.probe_bin = os.path.abspath(probe_bin)
        self.prefix = prefix or ("sgt%d-" % os.getpid())
        self.hub = self.prefix + "hub"
        self.endpoints = {}
        self._created = []
        self._closed = False
        self._lock = threading.Lock()
        cleanup_stale()
        atexit.register(self.close)
        _exit_on_sigterm()
        self._make_hub()

    # ---------------------------------------------------------------- building
    def _netns_add(self, ns):
        run(["ip", "netns", "add", ns])
        self._created.append(ns)

    def add_netns(self, name):
        """An extra namespace PREFIX+name with lo up, removed with the rest at close (for
        links that are not a veth on the hub: a macvlan's lower device, a namespace
        re-created under an endpoint's name). Returns its full name."""
        ns = self.prefix + name
        self._netns_add(ns)
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return ns

    def hub_port(self, name):
        """The hub-side end of an endpoint's veth (as add_endpoint named it)."""
        return "p%d" % self.endpoints[name].index

    def ns_exec(self, ns, cmd, check=True, timeout=60):
        return run(["ip", "netns", "exec", ns] + list(cmd), check=check, timeout=timeout)

    def _make_hub(self):
        self._netns_add(self.hub)
        h = self.hub
        self.ns_exec(h, ["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])
        self.ns_exec(h, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
        run(["ip", "-n", h, "link", "set", "lo", "up"])
        run(["ip", "-n", h, "link", "add", "br0", "type", "bridge",
             "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"])
        run(["ip", "-n", h, "link", "set", "br0", "up"])

    def add_endpoint(self, name, v4=None):
        """Create netns PREFIX+name with eth0 on the bridge, IPv4 and IPv6, lo up."""
        if name in self.endpoints:
            raise ValueError("endpoint %s exists" % name)
        index = len(self.endpoints)
        if v4 is None:
            v4 = V4_NET.network_address + HOST_BASE + index
        v4 = ipaddress.IPv4Address(v4)
        v6 = v6_of_v4(v4)
        ns = self.prefix + name
        self._netns_add(ns)
        self.ns_exec(ns, ["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"])
        self.ns_exec(ns, ["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"])
        # Both ends are created directly in their namespaces: the host never sees them.
        port = "p%d" % index
        run(["ip", "link", "add", "name", "eth0", "netns", ns, "type", "veth",
             "peer", "name", port, "netns", self.hub])
        run(["ip", "-n", self.hub, "link", "set", port, "master", "br0", "up"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", ns, "addr", "add", "%s/%d" % (v4, V4_NET.prefixlen), "dev", "eth0"])
        run(["ip", "-n", ns, "-6", "addr", "add", "%s/%d" % (v6, V6_NET.prefixlen),
             "dev", "eth0", "nodad"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        ep = Endpoint(name, ns, "eth0", v4, v6, index)
        self.endpoints[name] = ep
        return ep

    def start_server(self, name, tcp=(80, 81), udp=(80, 81), timeout=10):
        ep = self.endpoints[name]
        cmd = ["ip", "netns", "exec", ep.netns, self.probe_bin, "serve"]
        if tcp:
            cmd += ["--tcp", ",".join(str(p) for p in tcp)]
        if udp:
            cmd += ["--udp", ",".join(str(p) for p in udp)]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = _readline_timeout(p.stdout, timeout)
        if line.strip() != "ready":
            p.kill()
            err = p.stderr.read() if p.poll() is not None else ""
            raise RuntimeError("segd-probe serve in %s did not start: %r %s" % (ep.netns, line, err))
        ep.server = p
        return p

    def stop_server(self, name):
        ep = self.endpoints[name]
        if ep.server and ep.server.poll() is None:
            ep.server.terminate()
            try:
                ep.server.wait(5)
            except subprocess.TimeoutExpired:
                ep.server.kill()
                ep.server.wait()
        ep.server = None

    # ----------------------------------------------------------------- probing
    def _sport_range(self, ep, n):
        """Disjoint source-port ranges per source netns: no 5-tuple is ever reused."""
        with self._lock:
            if ep.sport_next + n > 60000:
                ep.sport_next = 20000
            base = ep.sport_next
            ep.sport_next += n + 1
        return base

    def probe(self, src, targets, timeout_ms=500, bind=()):
        """Run one segd-probe connect in endpoint src. Returns {target: bool}.

        bind: source addresses (at most one IPv4, one IPv6) for targets of that family."""
        ep = self.endpoints[src]
        if not targets:
            return {}
        res = {}
        for i in range(0, len(targets), 4096):
            chunk = targets[i:i + 4096]
            cmd = ["ip", "netns", "exec", ep.netns, self.probe_bin, "connect",
                   "--timeout-ms", str(timeout_ms),
                   "--sport-base", str(self._sport_range(ep, len(chunk)))]
            for b in bind:
                cmd += ["--bind", str(b)]
            cmd += chunk
            p = run(cmd, check=False, timeout=30 + timeout_ms / 1000.0 * 3)
            if p.returncode != 0:
                raise RuntimeError("probe from %s failed (%d): %s" % (src, p.returncode, p.stderr))
            res.update(probe_results(src, chunk, p.stdout))
        return res

    def probe_matrix(self, plan, timeout_ms=500):
        """plan: {src_endpoint: [target, ...]}; sources run in parallel.

        Returns {src: {target: bool}}."""
        return probe_in_parallel(self.probe, plan, timeout_ms)

    def can(self, src, dst, proto, port, family=4, timeout_ms=500, bind=()):
        t = self.endpoints[dst].target(proto, family, port)
        return self.probe(src, [t], timeout_ms, bind)[t]

    def nft_table(self, name, table="inet segd"):
        """`nft list table` inside an endpoint netns (observer only); None if absent."""
        p = self.ns_exec(self.endpoints[name].netns, ["nft", "list", "table"] + table.split(),
                         check=False)
        return p.stdout if p.returncode == 0 else None

    # ---------------------------------------------------------------- teardown
    def close(self):
        if self._closed:
            return
        self._closed = True
        for name in list(self.endpoints):
            try:
                self.stop_server(name)
            except Exception:  # noqa: BLE001
                pass
        for ns in reversed(self._created):
            kill_netns_pids(ns)
            run(["ip", "netns", "del", ns], check=False)
        self._created = []


def _exit_on_sigterm():
    """SIGTERM/SIGHUP run atexit handlers (teardown) instead of killing us outright."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, handler)


def _readline_timeout(f, timeout):
    box = []
    t = threading.Thread(target=lambda: box.append(f.readline()), daemon=True)
    t.start()
    t.join(timeout)
    return box[0] if box else ""


SANITIZER_MARKERS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "SUMMARY: UndefinedBehaviorSanitizer")
ALL_SEGDS = []
# Reports found in the logs of segds closed (their work dir removed) before the summary.
CLOSED_REPORTS = {}


def _sanitizer_report(s):
    """The first sanitizer report in segd s's log, or None."""
    try:
        with open(s.log_path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return None
    for i, line in enumerate(lines):
        if any(m in line for m in SANITIZER_MARKERS):
            return "%s: %s" % (s.log_path, "".join(lines[i:i + 12]).rstrip())
    return None


def sanitizer_failures():
    """Stops every segd this process started and returns the sanitizer reports in their logs,
    also those of segds already closed (Segd.close keeps them before their logs go).

    A sanitized segd that hits UB or leaks must fail the suite even when every probe passed."""
    found = dict(CLOSED_REPORTS)
    for s in ALL_SEGDS:
        s.stop()
        report = _sanitizer_report(s)
        if report:
            found[s.log_path] = report
    return list(found.values())


class Segd:
    """segd on a private socket and state dir; segctl helpers."""

    def __init__(self, segd_bin, segctl_bin, workdir=None, deny_action=None, extra_args=(),
                 log_level="debug", engine="none", resync_interval=None):
        self.segd_bin = os.path.abspath(segd_bin)
        self.segctl_bin = os.path.abspath(segctl_bin)
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="segd-test-%d-" % os.getpid())
        self.socket = os.path.join(self.workdir, "segd.sock")
        self.state_dir = os.path.join(self.workdir, "state")
        self.audit_log = os.path.join(self.workdir, "audit.jsonl")
        os.makedirs(self.state_dir, exist_ok=True)
        self.deny_action = deny_action
        self.engine = engine
        self.resync_interval = resync_interval
        self.extra_args = list(extra_args)
        self.log_level = log_level
        self.proc = None
        self.log_path = os.path.join(self.workdir, "segd.log")
        self._logf = None
        self.starts = 0
        ALL_SEGDS.append(self)
        atexit.register(self.close)

    def start(self, timeout=15):
        if self.proc and self.proc.poll() is None:
            raise RuntimeError("segd already running")
        cmd = [self.segd_bin, "--socket", self.socket, "--state-dir", self.state_dir,
               "--engine", self.engine, "--audit-log", self.audit_log]
        if self.resync_interval:
            cmd += ["--resync-interval", str(self.resync_interval)]
        if self.deny_action:
            cmd += ["--deny-action", self.deny_action]
        if self.log_level:
            cmd += ["--log-level", self.log_level]
        cmd += self.extra_args
        self._logf = open(self.log_path, "a")
        self._logf.write("==== start %d: %s\n" % (self.starts, " ".join(cmd)))
        self._logf.flush()
        self.starts += 1
        self.proc = subprocess.Popen(cmd, stdout=self._logf, stderr=self._logf)
        with open(os.path.join(self.workdir, "segd.pid"), "w") as f:
            f.write("%d\n" % self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("segd exited with %d during start-up; log %s:\n%s" % (
                    self.proc.returncode, self.log_path, self.log_tail()))
            if os.path.exists(self.socket):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(self.socket)
                    return self
                except OSError:
                    pass
                finally:
                    s.close()
            time.sleep(0.02)
        raise RuntimeError("segd not ready after %ss; log %s:\n%s" % (timeout, self.log_path, self.log_tail()))

    def log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._logf:
            self._logf.close()
            self._logf = None

    def fdstore_pid(self):
        """The pid of segd's fd holder (`segd-fdstore`, pid file fdstore.pid next to the
        socket) if one is running, else None. It keeps segd's tables owned while segd is
        down, so it outlives segd on purpose."""
        try:
            with open(os.path.join(os.path.dirname(self.socket), "fdstore.pid")) as f:
                pid = int(f.read().strip() or 0)
            with open("/proc/%d/comm" % pid) as f:
                return pid if pid > 0 and f.read().strip() == "segd-fdstore" else None
        except (OSError, ValueError):
            return None

    def kill_fdstore(self):
        pid = self.fdstore_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pid

    def close(self):
        self.stop()
        self.kill_fdstore()
        report = _sanitizer_report(self)  # suites close before their summary reads the logs
        if report:
            CLOSED_REPORTS[self.log_path] = report
        if self._own_workdir and os.environ.get("SEGD_TEST_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ------------------------------------------------------------------ segctl
    def ctl(self, *args, input=None, check=False, timeout=60):
        """Run segctl; returns CompletedProcess (text)."""
        cmd = [self.segctl_bin, "--socket", self.socket] + [str(a) for a in args]
        return run(cmd, check=check, input=input, timeout=timeout)

    def ctl_json(self, *args, input=None, timeout=60):
        p = self.ctl(*args, "-o", "json", input=input, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("segctl %s failed (%d): %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        try:
            return json.loads(p.stdout)
        except ValueError as e:
            raise RuntimeError("segctl %s: bad JSON (%s): %r" % (" ".join(args), e, p.stdout[:400]))

    def apply_objects(self, objs, name="policies.json"):
        """segctl apply -f FILE with a kind: List of objects. Returns CompletedProcess."""
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": list(objs)}, f, indent=1)
        return self.ctl("apply", "-f", path)

    def only_policies(self, objs):
        """Exactly these NetworkPolicy objects in force (the others deleted); returns when
        committed, raises RuntimeError when segd refuses."""
        want = {o["metadata"]["name"] for o in objs}
        for it in self.items("networkpolicies"):
            md = it["metadata"]
            if md["name"] not in want:
                p = self.ctl("delete", "networkpolicy", md["name"], "-n", md["namespace"])
                if p.returncode != 0:
                    raise RuntimeError("delete %s: %s" % (md["name"], (p.stderr or p.stdout).strip()))
        if objs:
            p = self.apply_objects(objs)
            if p.returncode != 0:
                raise RuntimeError("apply %s: %s" % (sorted(want), (p.stderr or p.stdout).strip()))

    def endpoint_add(self, name, netns, namespace, labels=None, ports=()):
        args = ["endpoint", "add", name, "--netns", netns, "--namespace", namespace]
        for k, v in sorted((labels or {}).items()):
            args += ["--label", "%s=%s" % (k, v)]
        for pname, port, proto in ports:
            args += ["--port", "%s=%d/%s" % (pname, port, proto)]
        return self.ctl(*args)

    def endpoint_label(self, name, set_labels=None, remove=()):
        args = ["endpoint", "label", name]
        args += ["%s=%s" % (k, v) for k, v in sorted((set_labels or {}).items())]
        args += ["%s-" % k for k in remove]
        return self.ctl(*args)

    def status(self):
        """segctl status -o json (GET /v1/status): counters tests wait on instead of sleeping
        (engine.lists/events/inspections/connects, commits, changes, drift.detected, ...)."""
        return self.ctl_json("status")

    def items(self, what, all_namespaces=True):
        args = ["get", what] + (["-A"] if all_namespaces else [])
        return self.ctl_json(*args).get("items", [])


# ------------------------------------------------------------- test helpers
def binaries_args(argv=None):
    """--segd BIN --segctl BIN --probe BIN, as every root suite takes them."""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--segd", required=True)
    ap.add_argument("--segctl", required=True)
    ap.add_argument("--probe", required=True)
    return ap.parse_args(argv)


def flows(srcs, dsts, protos=("tcp", "udp"), ports=(80,), families=(4, 6), expect=True):
    """Expand to [(src, dst, proto, port, family, expect)] for src != dst."""
    return [(s, d, pr, po, f, expect) for s in srcs for d in dsts if s != d
            for pr in protos for po in ports for f in families]


def check_flows(topo, spec, timeout_ms=500, bind=None):
    """Probe every flow in spec; returns a list of mismatch descriptions.

    bind: {src: [addresses]} to send from specific source addresses."""
    plan, index = {}, {}
    for (s, d, pr, po, f, exp) in spec:
        t = topo.endpoints[d].target(pr, f, po)
        plan.setdefault(s, []).append(t)
        index[(s, t)] = (d, exp)
    res = {}
    if bind:
        for s in plan:
            res[s] = topo.probe(s, plan[s], timeout_ms, bind.get(s, ()))
    else:
        res = topo.probe_matrix(plan, timeout_ms)
    bad = []
    for (s, t), (d, exp) in sorted(index.items()):
        got = res[s][t]
        if got != exp:
            bad.append("%s -> %s %s: expected %s, got %s" % (
                s, d, t, "allow" if exp else "deny", "allow" if got else "deny"))
    return bad


def eventually(fn, timeout=2.0, interval=0.1):
    """Call fn until it returns a falsy 'problems' value or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        r = fn()
        if not r or time.monotonic() >= deadline:
            return r
        time.sleep(interval)


class Results:
    """Named tests with checks; prints PASS/FAIL lines and the final summary."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self._problems = None
        self._name = None

    def check(self, cond, what):
        if not cond:
            self._problems.append(what)
        return bool(cond)

    def no_problems(self, problems, what, limit=12):
        for p in problems[:limit]:
            self._problems.append("%s: %s" % (what, p))
        if len(problems) > limit:
            self._problems.append("%s: ... %d more" % (what, len(problems) - limit))
        return not problems

    def run(self, name, fn, *args):
        self._name, self._problems = name, []
        t0 = time.monotonic()
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - a crash is a failure of this test
            import traceback
            self._problems.append("exception: %s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()))
        dt = time.monotonic() - t0
        if self._problems:
            self.failed += 1
            print("FAIL %s (%.2fs)" % (name, dt), flush=True)
            for p in self._problems:
                print("    " + p.replace("\n", "\n    "), flush=True)
        else:
            self.passed += 1
            print("PASS %s (%.2fs)" % (name, dt), flush=True)
        return not self._problems

    def summary(self):
        for report in sanitizer_failures():
            self.failed += 1
            print("FAIL sanitizer report from segd\n    " + report.replace("\n", "\n    "), flush=True)
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


def netns_suite_args(ap, tools=()):
    """Parses a namespace suite's arguments (--build, --segd, --segctl, --probe, --keep-log),
    fills the binaries from --build, and exits unless root with every binary and tool."""
    a = ap.parse_args()
    a.segd = a.segd or os.path.join(a.build, "daemon", "segd")
    a.segctl = a.segctl or os.path.join(a.build, "cli", "segctl")
    a.probe = a.probe or os.path.join(a.build, "tests", "tools", "segd-probe")
    if a.keep_log:
        os.environ["SEGD_TEST_KEEP"] = "1"
    if os.geteuid() != 0:
        sys.exit("%s: needs root (network namespaces)" % sys.argv[0])
    for b in (a.segd, a.segctl, a.probe):
        if not os.access(b, os.X_OK):
            sys.exit("%s: %s is not executable" % (sys.argv[0], b))
    for tool in tools:
        dirs = os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/sbin"]
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in dirs):
            sys.exit("%s: %s not found (scripts/deps.sh installs it)" % (sys.argv[0], tool))
    print("# kernel %s" % os.uname().release, flush=True)
    return a


def strip_volatile(nft_text):
    """nft list output without counters (they move with traffic), without the elements of the
    dynamic sets (peers4/peers6: whom the endpoint had flows with) and without the table's
    owner annotations (`# progname segd`, `flags owner`: they go when the owner dies)."""
    t = re.sub(r"counter packets \d+ bytes \d+", "counter", nft_text or "")
    t = re.sub(r"(set peers[46] \{[^}]*?)\n\s*elements = \{[^}]*\}", r"\1", t)
    t = re.sub(r"^(table [^{]*\{)[^\n]*\n(\s*flags[^\n]*\n)?", r"\1\n", t, flags=re.M)
    return t


def policy_sets_text(rules_json):
    """The sets of a `segctl rules -o json` answer as JSON text, without the dynamic ones
    (peers4/peers6 record whom the endpoint had flows with, not whom policy allows)."""
    return json.dumps([s for s in (rules_json or {}).get("sets") or []
                       if "dynamic" not in (s.get("flags") or [])], sort_keys=True)


def ruleset_signature(rules_json):
    """segctl rules -o json without counters and handles, for before/after comparisons."""
    def clean(o):
        if isinstance(o, dict):
            dynamic = "dynamic" in (o.get("flags") or [])  # a set filled by traffic
            return {k: clean(v) for k, v in o.items()
                    if k not in ("packets", "bytes", "handle") and not (dynamic and k == "elements")}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o
    return json.dumps(clean(rules_json), sort_keys=True)
