"""Real podman containers for segd's tests: environment, containers, pods, networks, cleanup.

Everything this module creates carries the name prefix "sgp<pid>-" (containers, pods,
networks, the state directory /run/segd-podman/sgp<pid>): parallel runs never collide, and
whatever a crashed run left behind is removed by the next run once that pid is gone.

The environment comes from scripts/podman-env.sh (packages, containers.conf with runc and
explicit ulimits, the test image, the OCI hook files). Each run has its own podman API
service on a private socket (STATE/podman.sock), so tests may restart it freely without
disturbing anyone else's. Every podman command gets CONTAINERS_CONF from the run's state dir
(with hooks, or the hook-less copy for control runs); /etc is never touched.

Facts about podman 4.3 this relies on (checked on the project's machines):
- `podman stop` on a container whose PID 1 ignores SIGTERM (segd-probe serve) waits the full
  stop timeout: always stop with -t 0.
- a container another one joined with --network container:X cannot be removed before its
  dependents: rm uses --depend.
- pod members have HostConfig.NetworkMode "container:<infra id>"; the infra container is named
  "<pod id[:12]>-infra" and carries the pod's labels; all share NetworkSettings.SandboxKey.
- a network other than the default one reports its address only under
  NetworkSettings.Networks[NAME].IPAddress (NetworkSettings.IPAddress is empty).
- `podman run` sometimes failed once with "error setting rlimit type 7": retried once.
"""

import atexit
import glob
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import topology as T

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
ENV_SCRIPT = os.path.join(ROOT, "scripts", "podman-env.sh")
STATE_BASE = "/run/segd-podman"
PREFIX_RE = re.compile(r"^sgp(\d+)-")
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
    env = {}
    for line in text.splitlines():
        m = re.match(r"^export ([A-Z_]+)=(.*)$", line.strip())
        if m:
            v = m.group(2)
            if len(v) >= 2 and v[0] == v[-1] == "'":
                v = v[1:-1]
            env[m.group(1)] = v.replace("\\ ", " ")
    return env


def podman_raw(args, penv, check=True, timeout=120, input=None):
    """podman with penv (CONTAINERS_CONF and, with private storage, CONTAINERS_STORAGE_CONF)."""
    env = dict(os.environ)
    env.pop("CONTAINERS_STORAGE_CONF", None)
    env.update(penv)
    p = subprocess.run(["podman"] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, env=env, input=input)
    if check and p.returncode != 0:
        raise RuntimeError("podman %s failed (%d): %s%s" % (" ".join(map(str, args)), p.returncode,
                                                              p.stdout, p.stderr))
    return p


def _names(penv, what):
    """Names of all containers / pods / networks."""
    if what == "container":
        p = podman_raw(["ps", "-a", "--format", "{{.Names}}"], penv, check=False)
    elif what == "pod":
        p = podman_raw(["pod", "ps", "--format", "{{.Name}}"], penv, check=False)
    else:
        p = podman_raw(["network", "ls", "--format", "{{.Name}}"], penv, check=False)
    return [n.strip() for n in p.stdout.splitlines() if n.strip()]


def remove_prefixed(penv, prefix_ok):
    """Remove containers, pods and networks whose name matches prefix_ok(name)."""
    ctrs = [n for n in _names(penv, "container") if prefix_ok(n)]
    if ctrs:
        podman_raw(["rm", "-f", "-t", "0", "--depend"] + ctrs, penv, check=False, timeout=180)
    pods = [n for n in _names(penv, "pod") if prefix_ok(n)]
    if pods:
        podman_raw(["pod", "rm", "-f", "-t", "0"] + pods, penv, check=False, timeout=180)
    nets = [n for n in _names(penv, "network") if prefix_ok(n)]
    if nets:
        podman_raw(["network", "rm", "-f"] + nets, penv, check=False, timeout=120)


def cleanup_stale(penv):
    """Whatever runs that are gone left behind: containers, pods, networks, API services."""
    def stale(name):
        m = PREFIX_RE.match(name)
        return bool(m) and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1)))
    remove_prefixed(penv, stale)
    for d in glob.glob(os.path.join(STATE_BASE, "sgp*")):
        base = os.path.basename(d)
        if not stale(base + "-"):
            continue
        log("podman: removing state of a run that is gone: %s" % d)
        subprocess.run(["bash", ENV_SCRIPT, "stop", "--state-dir", d,
                        "--api-socket", os.path.join(d, "podman.sock")],
                       capture_output=True, timeout=60)
        shutil.rmtree(d, ignore_errors=True)


class Container:
    def __init__(self, name, cid, labels, ip=None, pod=None, network=None):
        self.name, self.id, self.labels, self.ip = name, cid, dict(labels or {}), ip
        self.pod, self.network = pod, network


class Podman:
    """One test run's podman world."""

    def __init__(self, hook=None, segd_socket=None, hook_timeout_ms=None, probe_static=None,
                 prefix=None, private_storage=True, hook_config=None):
        self.prefix = prefix or "sgp%d-" % os.getpid()
        self.state_dir = os.path.join(STATE_BASE, self.prefix.rstrip("-"))
        self.api_socket = os.path.join(self.state_dir, "podman.sock")
        self.probe_static = probe_static
        self.private_storage = private_storage
        self.containers = {}
        self.hook_config = hook_config  # segd's config file, for the hook's hook-fail-open
        self._closed = False
        self._lock = threading.Lock()
        os.makedirs(self.state_dir, exist_ok=True)
        self.setup(hook, segd_socket, hook_timeout_ms)
        cleanup_stale(self.penv)
        atexit.register(self.close)
        T._exit_on_sigterm()

    # ------------------------------------------------------------- environment
    def _env_script(self, sub, *extra, timeout=900):
        cmd = ["bash", ENV_SCRIPT, sub, "--state-dir", self.state_dir,
               "--api-socket", self.api_socket] + list(extra)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
        return p

    def setup(self, hook=None, segd_socket=None, hook_timeout_ms=None):
        """(Re)writes the confs and hook files, builds the image, starts our API service."""
        args = []
        if hook:
            args += ["--hook", hook, "--segd-socket", segd_socket or "/run/segd/segd.sock"]
            if hook_timeout_ms:
                args += ["--hook-timeout-ms", str(hook_timeout_ms)]
            if self.hook_config:
                args += ["--hook-config", self.hook_config]
        if self.probe_static:
            args += ["--probe-static", self.probe_static]
        if self.private_storage:
            args.append("--private-storage")
        p = self._env_script("setup", *args)
        env = _parse_env(p.stdout)
        self.conf = env["CONTAINERS_CONF"]
        self.conf_nohooks = env["SEGD_PODMAN_CONF_NOHOOKS"]
        self.image = env.get("SEGD_PODMAN_IMAGE", IMAGE)
        extra = {"CONTAINERS_STORAGE_CONF": env["CONTAINERS_STORAGE_CONF"]} if "CONTAINERS_STORAGE_CONF" in env else {}
        self.penv = dict(extra, CONTAINERS_CONF=self.conf)
        self.penv_nohooks = dict(extra, CONTAINERS_CONF=self.conf_nohooks)
        self.hook, self._segd_socket, self._hook_timeout_ms = hook, segd_socket, hook_timeout_ms
        return env

    def podman(self, *args, check=True, timeout=120, hooks=True, input=None):
        return podman_raw(list(args), self.penv if hooks else self.penv_nohooks, check=check,
                          timeout=timeout, input=input)

    def name(self, short):
        return short if short.startswith(self.prefix) else self.prefix + short

    # --------------------------------------------------------- API service
    def service_pid(self):
        try:
            with open(os.path.join(self.state_dir, "podman-service.pid")) as f:
                pid = int(f.read().strip())
            return pid if _pid_alive(pid) else None
        except (OSError, ValueError):
            return None

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

    def stop_service(self):
        self._env_script("stop", timeout=60)

    def start_service(self):
        """setup again: starts the service when nothing answers on our socket."""
        self.setup(self.hook, self._segd_socket, self._hook_timeout_ms)

    def restart_service(self):
        self.stop_service()
        self.start_service()

    # ------------------------------------------------------------- networks
    def network_create(self, short, third_octet=None):
        """A bridge network with its own /24 (10.77.N.0/24, N free); returns (name, subnet)."""
        name = self.name(short)
        used = set()
        p = self.podman("network", "ls", "--format", "{{.Name}}")
        for n in p.stdout.split():
            q = self.podman("network", "inspect", n, check=False)
            try:
                for net in json.loads(q.stdout):
                    for sn in net.get("subnets") or []:
                        used.add(ipaddress.ip_network(sn["subnet"], strict=False))
            except (ValueError, KeyError, TypeError):
                pass
        start = third_octet if third_octet is not None else 20 + os.getpid() % 200
        last = ""
        for i in range(230):
            n = 20 + (start - 20 + i) % 230
            sn = ipaddress.ip_network("10.77.%d.0/24" % n)
            if any(sn.overlaps(u) for u in used):
                continue
            q = self.podman("network", "create", "--subnet", str(sn), name, check=False)
            if q.returncode == 0:
                return name, sn
            last = q.stderr
        raise RuntimeError("podman network create %s: no free subnet (%s)" % (name, last))

    # ----------------------------------------------------------- containers
    def run(self, short, cmd=None, labels=None, annotations=None, network=None, ip=None, mac=None,
            pod=None, hooks=True, extra=(), serve=None, timeout=120):
        """podman run -d; returns the Container. serve=(tcp ports): run segd-probe serve."""
        name = self.name(short)
        args = ["run", "-d", "--name", name]
        for k, v in sorted((labels or {}).items()):
            args += ["--label", "%s=%s" % (k, v)]
        for k, v in sorted((annotations or {}).items()):
            args += ["--annotation", "%s=%s" % (k, v)]
        if pod:
            args += ["--pod", self.name(pod)]
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
        args += list(cmd or ["sleep", "100000"])
        p = self.podman(*args, check=False, hooks=hooks, timeout=timeout)
        if p.returncode != 0 and "rlimit" in p.stderr:
            log("podman: retrying run of %s after: %s" % (name, p.stderr.strip()))
            self.podman("rm", "-f", "-t", "0", name, check=False)
            p = self.podman(*args, check=False, hooks=hooks, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("podman run %s failed (%d): %s" % (name, p.returncode, p.stderr.strip()))
        cid = p.stdout.strip().splitlines()[-1]
        c = Container(name, cid, labels, ip, pod, network)
        with self._lock:
            self.containers[name] = c
        return c

    def stop(self, short, timeout=0):
        return self.podman("stop", "-t", str(timeout), self.name(short))

    def start(self, short):
        return self.podman("start", self.name(short))

    def rm(self, short):
        name = self.name(short)
        with self._lock:
            self.containers.pop(name, None)
        return self.podman("rm", "-f", "-t", "0", "--depend", name, check=False)

    def pod_create(self, short, network=None, ip=None, labels=None, mac=None):
        name = self.name(short)
        args = ["pod", "create", "--name", name]
        for k, v in sorted((labels or {}).items()):
            args += ["--label", "%s=%s" % (k, v)]
        if network:
            args += ["--network", network]
        if ip:
            args += ["--ip", str(ip)]
        if mac:
            args += ["--mac-address", mac]
        p = self.podman(*args)
        return p.stdout.strip().splitlines()[-1]

    def pod_rm(self, short):
        return self.podman("pod", "rm", "-f", "-t", "0", self.name(short), check=False)

    def pod_inspect(self, short):
        d = json.loads(self.podman("pod", "inspect", self.name(short)).stdout)
        return d[0] if isinstance(d, list) else d

    def inspect(self, short):
        p = self.podman("inspect", "--type", "container", self.name(short), check=False)
        if p.returncode != 0:
            return None
        d = json.loads(p.stdout)
        return d[0] if d else None

    def netns_path(self, short):
        d = self.inspect(short) or {}
        return (d.get("NetworkSettings") or {}).get("SandboxKey") or None

    def exec(self, short, cmd, check=True, timeout=60, input=None, interactive=False):
        args = ["exec"] + (["-i"] if interactive else []) + [self.name(short)] + list(cmd)
        return self.podman(*args, check=check, timeout=timeout, input=input)

    def probe(self, short, targets, timeout_ms=500):
        """segd-probe connect inside the container: {target: bool}."""
        if not targets:
            return {}
        p = self.exec(short, [PROBE_IN_IMAGE, "connect", "--timeout-ms", str(timeout_ms)] + list(targets),
                      check=False, timeout=30 + timeout_ms / 1000.0 * 3)
        if p.returncode != 0:
            raise RuntimeError("probe from %s failed (%d): %s" % (short, p.returncode, p.stderr.strip()))
        lines = p.stdout.splitlines()
        res = {}
        for t, line in zip(targets, lines):
            parts = line.split()
            if len(parts) < 2 or parts[0] != t or parts[1] not in ("ok", "fail"):
                raise RuntimeError("probe from %s: bad line %r for %s" % (short, line, t))
            res[t] = parts[1] == "ok"
        if len(res) != len(targets):
            raise RuntimeError("probe from %s: %d lines for %d targets" % (short, len(lines), len(targets)))
        return res

    def probe_matrix(self, plan, timeout_ms=500):
        """plan: {container: [targets]}, sources in parallel: {container: {target: bool}}."""
        out, errors, threads = {}, [], []

        def one(src, targets):
            try:
                out[src] = self.probe(src, targets, timeout_ms)
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

    def nft_table(self, short, table="inet segd"):
        """`nft list table` in the container's network namespace (observer only); None if absent."""
        path = self.netns_path(short)
        if not path:
            return None
        p = T.run(["nsenter", "--net=" + path, "nft", "list", "table"] + table.split(), check=False)
        return p.stdout if p.returncode == 0 else None

    # -------------------------------------------------------------- teardown
    def cleanup(self):
        """Remove everything of this run (containers, pods, networks)."""
        remove_prefixed(self.penv, lambda n: n.startswith(self.prefix))
        with self._lock:
            self.containers.clear()

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            self.cleanup()
        finally:
            try:
                self.stop_service()
            except Exception as e:  # noqa: BLE001
                log("podman: stopping the API service: %s" % e)
            if os.environ.get("SEGD_TEST_KEEP") != "1":
                shutil.rmtree(self.state_dir, ignore_errors=True)


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
def suite_parser(doc, probe_help="accepted for symmetry with the other suites; unused"):
    """The options every Podman suite takes: where the binaries are, the hook, the image's
    probe, keeping the log."""
    import argparse
    ap = argparse.ArgumentParser(description=doc.split("\n")[1])
    ap.add_argument("--build", default=os.environ.get("SEGD_BUILD", os.path.join(HERE, "..", "..", "build")))
    ap.add_argument("--segd")
    ap.add_argument("--segctl")
    ap.add_argument("--probe", help=probe_help)
    ap.add_argument("--hook", help="segd-oci-hook; default BUILD/daemon/segd-oci-hook; 'none' = no hook")
    ap.add_argument("--probe-static", help="statically linked probe for the image "
                    "(default BUILD/tests/tools/segd-probe-static if present, else built by podman-env.sh)")
    ap.add_argument("--hook-timeout-ms", type=int)
    ap.add_argument("--keep-log", action="store_true")
    return ap


def suite_args(ap, argv=None):
    """Parses, fills the defaults from --build, and exits unless root with every binary."""
    import sys
    a = ap.parse_args(argv)
    a.segd = a.segd or os.path.join(a.build, "daemon", "segd")
    a.segctl = a.segctl or os.path.join(a.build, "cli", "segctl")
    if a.hook == "none":
        a.hook = None
    elif not a.hook:
        a.hook = os.path.join(os.path.dirname(os.path.abspath(a.segd)), "segd-oci-hook")
    if not a.probe_static:
        cand = os.path.join(a.build, "tests", "tools", "segd-probe-static")
        a.probe_static = cand if os.access(cand, os.X_OK) else None
    if a.keep_log:
        os.environ["SEGD_TEST_KEEP"] = "1"
    if os.geteuid() != 0:
        sys.exit("%s: needs root" % sys.argv[0])
    for b in [a.segd, a.segctl] + ([a.hook] if a.hook else []):
        if not os.access(b, os.X_OK):
            sys.exit("%s: %s is not executable" % (sys.argv[0], b))
    print("# kernel %s" % os.uname().release, flush=True)
    return a


def suite_teardown(suite):
    """Closes a suite's Podman fixture (suite.pm) and segd (suite.segd)."""
    if suite.a.keep_log and suite.segd:
        print("# segd log: %s" % suite.segd.log_path, flush=True)
    if suite.pm:
        suite.pm.close()
    if suite.segd:
        suite.segd.stop()
