"""What the Podman and Docker fixtures of segd's tests share (tests/lib/podman.py, docker.py).

ContainerEngine is one test run's world of one engine: names with the run's prefix, `run`
with labels, networks, addresses and the probe serving TCP, exec, real TCP probes between
containers (segd-probe connect inside the source container), inspect, the netns path, the
nft table in a container's namespace, and the API socket's _ping. A subclass provides the
command line (`cli`), the engine-specific run flags and removal, networks, the API service
and teardown.

Also here: EngineSegd (segd following an engine), set_elements, guard_tables_holding, and the
base class, option parsing and teardown every container suite uses.
"""

import ipaddress
import json
import os
import re
import socket
import subprocess
import threading

import topology as T

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
IMAGE = "localhost/segd-test:latest"
PROBE_IN_IMAGE = "/usr/local/bin/segd-probe"

log = T.log


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _parse_env(text):
    """The `export NAME=VALUE` lines an env script prints (values quoted with %q)."""
    env = {}
    for line in text.splitlines():
        m = re.match(r"^export ([A-Z_]+)=(.*)$", line.strip())
        if m:
            v = m.group(2)
            if len(v) >= 2 and v[0] == v[-1] == "'":
                v = v[1:-1]
            env[m.group(1)] = v.replace("\\ ", " ")
    return env


def run_env_script(script, sub, args, timeout=900):
    """bash SCRIPT SUB ARGS...; raises with its output when it fails."""
    cmd = ["bash", script, sub] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


def host_routes():
    """The IPv4 networks of the host's routes (bridges of every engine, the uplink)."""
    out = []
    p = T.run(["ip", "-4", "-o", "route", "show", "table", "all"], check=False)
    for line in p.stdout.splitlines():
        tok = line.split()
        if tok and tok[0] == "local":
            tok = tok[1:]
        if not tok or tok[0] in ("default", "broadcast", "unreachable"):
            continue
        try:
            out.append(ipaddress.ip_network(tok[0], strict=False))
        except ValueError:
            pass
    return out


def free_subnets(base, used, start):
    """base.N.0/24 for N from start (20..249, wrapping) that overlap nothing in used."""
    for i in range(230):
        n = 20 + (start - 20 + i) % 230
        sn = ipaddress.ip_network("%s.%d.0/24" % (base, n))
        if not any(sn.overlaps(u) for u in used):
            yield sn


class Container:
    def __init__(self, name, cid, labels, ip=None, pod=None, network=None):
        self.name, self.id, self.labels, self.ip = name, cid, dict(labels or {}), ip
        self.pod, self.network = pod, network


class ContainerEngine:
    """The engine-independent half of a test run's container world."""

    kind = None          # "podman" / "docker"
    api_socket = None

    def __init__(self, prefix):
        self.prefix = prefix
        self.containers = {}
        self._lock = threading.Lock()

    # subclasses: cli(*args, check, timeout, input, **kw), _run_flags(**kw), rm(short)
    def cli(self, *args, check=True, timeout=120, input=None, **kw):
        raise NotImplementedError

    def _run_flags(self, **kw):
        return []

    def name(self, short):
        return short if short.startswith(self.prefix) else self.prefix + short

    def api_answers(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(self.api_socket)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            return b" 200 " in s.recv(256)
        except OSError:
            return False
        finally:
            s.close()

    # ----------------------------------------------------------- containers
    def run_args(self, short, cmd=None, labels=None, network=None, ip=None, mac=None, extra=(),
                 serve=None, **kw):
        """The arguments of `ENGINE run -d` (kw: engine-specific flags, see _run_flags)."""
        args = ["run", "-d", "--name", self.name(short)]
        for k, v in sorted((labels or {}).items()):
            args += ["--label", "%s=%s" % (k, v)]
        args += self._run_flags(**kw)
        if network:
            args += ["--network", network]
        if ip:
            args += ["--ip", str(ip)]
        if mac:
            args += ["--mac-address", mac]
        args += list(extra)
        args.append(self.image)
        if serve:
            cmd = [PROBE_IN_IMAGE, "serve", "--tcp", ",".join(str(p) for p in serve)]
        return args + list(cmd or ["sleep", "100000"])

    def started(self, short, p, labels=None, ip=None, pod=None, network=None):
        """Records the container `run` started (p: its completed run command)."""
        name = self.name(short)
        if p.returncode != 0:
            raise RuntimeError("%s run %s failed (%d): %s" % (self.kind, name, p.returncode, p.stderr.strip()))
        c = Container(name, p.stdout.strip().splitlines()[-1], labels, ip, pod, network)
        with self._lock:
            self.containers[name] = c
        return c

    def forget(self, short):
        with self._lock:
            self.containers.pop(self.name(short), None)

    def stop(self, short, timeout=0):
        return self.cli("stop", "-t", str(timeout), self.name(short))

    def start(self, short):
        return self.cli("start", self.name(short))

    def inspect(self, short):
        p = self.cli("inspect", "--type", "container", self.name(short), check=False)
        if p.returncode != 0:
            return None
        d = json.loads(p.stdout)
        return d[0] if d else None

    def netns_path(self, short):
        d = self.inspect(short) or {}
        return (d.get("NetworkSettings") or {}).get("SandboxKey") or None

    def exec(self, short, cmd, check=True, timeout=60, input=None, interactive=False, **kw):
        args = ["exec"] + (["-i"] if interactive else []) + [self.name(short)] + list(cmd)
        return self.cli(*args, check=check, timeout=timeout, input=input, **kw)

    def probe(self, short, targets, timeout_ms=500):
        """segd-probe connect inside the container: {target: bool}."""
        if not targets:
            return {}
        p = self.exec(short, [PROBE_IN_IMAGE, "connect", "--timeout-ms", str(timeout_ms)] + list(targets),
                      check=False, timeout=30 + timeout_ms / 1000.0 * 3)
        if p.returncode != 0:
            raise RuntimeError("probe from %s failed (%d): %s" % (short, p.returncode, p.stderr.strip()))
        return T.probe_results(self.name(short), list(targets), p.stdout)

    def probe_matrix(self, plan, timeout_ms=500):
        """plan: {container: [targets]}, sources in parallel: {container: {target: bool}}."""
        return T.probe_in_parallel(self.probe, plan, timeout_ms)

    def nft_table(self, short, table="inet segd"):
        """`nft list table` in the container's network namespace (observer only); None if absent."""
        path = self.netns_path(short)
        if not path:
            return None
        p = T.run(["nsenter", "--net=" + path, "nft", "list", "table"] + table.split(), check=False)
        return p.stdout if p.returncode == 0 else None


class EngineSegd(T.Segd):
    """segd following a container engine (--engine unix://SOCK) instead of --engine none."""

    def __init__(self, segd_bin, segctl_bin, engine, resync_interval=None, **kw):
        super().__init__(segd_bin, segctl_bin, engine=engine, resync_interval=resync_interval, **kw)

    def endpoints(self):
        """{name: Endpoint JSON} from segctl get endpoints -A -o json."""
        return {it["name"]: it for it in self.items("endpoints")}

    def rules(self, name):
        p = self.ctl("rules", name, "-o", "json")
        if p.returncode != 0:
            return None
        try:
            return json.loads(p.stdout)
        except ValueError:
            return None


def guard_tables_holding(addr):
    """The host's `netdev segd-*` tables (segd's guards of endpoints' host-side devices) whose
    own4 set holds addr (a string), or an address in it (an ipaddress network)."""
    p = T.run(["nft", "-j", "list", "sets", "netdev"], check=False)
    try:
        items = json.loads(p.stdout or "{}").get("nftables") or []
    except ValueError:
        return ["unreadable: %s" % p.stdout[:200]]

    def holds(elems):
        if isinstance(addr, str):
            return addr in elems
        return any(isinstance(e, str) and ipaddress.ip_address(e) in addr for e in elems)
    out = []
    for it in items:
        st = it.get("set") or {}
        if st.get("table", "").startswith("segd-") and st.get("name") == "own4" and holds(st.get("elem") or []):
            out.append(st["table"])
    return out


def set_elements(rules_json):
    """Every element of every policy set of a `segctl rules -o json` answer (not the dynamic
    sets, peers4/peers6, which record whom the endpoint had flows with)."""
    out = set()
    for s in (rules_json or {}).get("sets") or []:
        if "dynamic" in (s.get("flags") or []):
            continue
        for e in s.get("elements") or []:
            out.add(str(e))
    return out


# ------------------------------------------------------------- suite plumbing
class EngineSuite:
    """Where a container suite's Suite starts: its arguments (a), results (r), engine fixture
    (eng), segd, network (net, subnet). The suite has setup() and teardown()."""

    def __init__(self, a):
        self.a = a
        self.r = T.Results()
        self.eng = None
        self.segd = None
        self.net = None
        self.subnet = None

    def set_up(self):
        """self.setup(); when it fails: says why (with segd's log tail), counts a failure and
        tears down; returns whether it worked."""
        try:
            self.setup()
            return True
        except Exception as e:  # noqa: BLE001 - reported as the suite's failure
            print("SETUP FAILED: %s" % e, flush=True)
            if self.segd:
                print(self.segd.log_tail(), flush=True)
            self.r.failed += 1
            self.teardown()
            return False


def suite_parser(doc, probe_help="accepted for symmetry with the other suites; unused"):
    """The options every container suite takes: where the binaries are, the hook (Podman) or
    runtime (Docker), the image's probe, keeping the log."""
    import argparse
    ap = argparse.ArgumentParser(description=doc.split("\n")[1])
    ap.add_argument("--build", default=os.environ.get("SEGD_BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--segd")
    ap.add_argument("--segctl")
    ap.add_argument("--probe", help=probe_help)
    ap.add_argument("--hook", help="segd-oci-hook; default BUILD/daemon/segd-oci-hook; 'none' = no hook")
    ap.add_argument("--runtime", help="segd-runc for Docker; default BUILD/daemon/segd-runc when it "
                    "exists; 'none' = runc without segd's hooks")
    ap.add_argument("--probe-static", help="statically linked probe for the image "
                    "(default BUILD/tests/tools/segd-probe-static if present, else built by the env script)")
    ap.add_argument("--hook-timeout-ms", type=int)
    ap.add_argument("--keep-log", action="store_true")
    return ap


def suite_args(ap, argv=None):
    """Parses, fills the defaults from --build, and exits unless root with every binary."""
    import sys
    a = ap.parse_args(argv)
    a.segd = a.segd or os.path.join(a.build, "daemon", "segd")
    a.segctl = a.segctl or os.path.join(a.build, "cli", "segctl")
    bindir = os.path.dirname(os.path.abspath(a.segd))
    if a.hook == "none":
        a.hook = None
    elif not a.hook:
        a.hook = os.path.join(bindir, "segd-oci-hook")
    if a.runtime == "none":
        a.runtime = None
    elif not a.runtime:
        cand = os.path.join(bindir, "segd-runc")
        a.runtime = cand if os.access(cand, os.X_OK) else None
    if not a.probe_static:
        cand = os.path.join(a.build, "tests", "tools", "segd-probe-static")
        a.probe_static = cand if os.access(cand, os.X_OK) else None
    if a.keep_log:
        os.environ["SEGD_TEST_KEEP"] = "1"
    if os.geteuid() != 0:
        sys.exit("%s: needs root" % sys.argv[0])
    for b in [a.segd, a.segctl] + ([a.hook] if a.hook else []) + ([a.runtime] if a.runtime else []):
        if not os.access(b, os.X_OK):
            sys.exit("%s: %s is not executable" % (sys.argv[0], b))
    print("# kernel %s" % os.uname().release, flush=True)
    return a


def suite_teardown(suite):
    """Closes a suite's engine fixture (suite.eng, or suite.pm) and segd (suite.segd)."""
    if suite.a.keep_log and suite.segd:
        print("# segd log: %s" % suite.segd.log_path, flush=True)
    eng = getattr(suite, "eng", None) or getattr(suite, "pm", None)
    if eng:
        eng.close()
    if suite.segd:
        suite.segd.stop()
