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
import subprocess

import topology as T
from engine import (IMAGE, PROBE_IN_IMAGE, Container, ContainerEngine, EngineSegd,  # noqa: F401
                    _parse_env, _pid_alive, free_subnets, run_env_script, set_elements,
                    suite_args, suite_parser, suite_teardown)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
ENV_SCRIPT = os.path.join(ROOT, "scripts", "podman-env.sh")
STATE_BASE = "/run/segd-podman"
PREFIX_RE = re.compile(r"^sgp(\d+)-")

log = T.log

# The shared part (tests/lib/engine.py) stays importable from here: the suites use P.NAME.
__all__ = ["ENV_SCRIPT", "IMAGE", "PROBE_IN_IMAGE", "Container", "EngineSegd", "Podman",
           "cleanup_stale", "podman_raw", "remove_prefixed", "set_elements", "suite_args",
           "suite_parser", "suite_teardown"]


def podman_env(penv):
    """The environment podman runs with: penv (CONTAINERS_CONF and, with private storage,
    CONTAINERS_STORAGE_CONF) over ours."""
    env = dict(os.environ)
    env.pop("CONTAINERS_STORAGE_CONF", None)
    env.update(penv)
    return env


def podman_raw(args, penv, check=True, timeout=120, input=None):
    """podman with penv (podman_env)."""
    env = podman_env(penv)
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


class Podman(ContainerEngine):
    """One test run's podman world."""

    kind = "podman"

    def __init__(self, hook=None, segd_socket=None, hook_timeout_ms=None, probe_static=None,
                 prefix=None, private_storage=True, hook_config=None):
        super().__init__(prefix or "sgp%d-" % os.getpid())
        self.state_dir = os.path.join(STATE_BASE, self.prefix.rstrip("-"))
        self.api_socket = os.path.join(self.state_dir, "podman.sock")
        self.probe_static = probe_static
        self.private_storage = private_storage
        self.hook_config = hook_config  # segd's config file, for the hook's hook-fail-open
        self._closed = False
        os.makedirs(self.state_dir, exist_ok=True)
        self.setup(hook, segd_socket, hook_timeout_ms)
        cleanup_stale(self.penv)
        atexit.register(self.close)
        T._exit_on_sigterm()

    # ------------------------------------------------------------- environment
    def _env_script(self, sub, *extra, timeout=900):
        return run_env_script(ENV_SCRIPT, sub, ["--state-dir", self.state_dir,
                                                "--api-socket", self.api_socket] + list(extra),
                              timeout=timeout)

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

    cli = podman

    def cli_command(self):
        """(argv prefix, env) to run podman as a long-lived process (Popen)."""
        return ["podman"], podman_env(self.penv)

    # --------------------------------------------------------- API service
    def service_pid(self):
        try:
            with open(os.path.join(self.state_dir, "podman-service.pid")) as f:
                pid = int(f.read().strip())
            return pid if _pid_alive(pid) else None
        except (OSError, ValueError):
            return None

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
        for sn in free_subnets("10.77", used, start):
            q = self.podman("network", "create", "--subnet", str(sn), name, check=False)
            if q.returncode == 0:
                return name, sn
            last = q.stderr
        raise RuntimeError("podman network create %s: no free subnet (%s)" % (name, last))

    # ----------------------------------------------------------- containers
    def _run_flags(self, annotations=None, pod=None):
        args = []
        for k, v in sorted((annotations or {}).items()):
            args += ["--annotation", "%s=%s" % (k, v)]
        if pod:
            args += ["--pod", self.name(pod)]
        return args

    def run(self, short, cmd=None, labels=None, annotations=None, network=None, ip=None, mac=None,
            pod=None, hooks=True, extra=(), serve=None, timeout=120):
        """podman run -d; returns the Container. serve=(tcp ports): run segd-probe serve."""
        name = self.name(short)
        args = self.run_args(short, cmd, labels, network, ip, mac, extra, serve,
                             annotations=annotations, pod=pod)
        p = self.podman(*args, check=False, hooks=hooks, timeout=timeout)
        if p.returncode != 0 and "rlimit" in p.stderr:
            log("podman: retrying run of %s after: %s" % (name, p.stderr.strip()))
            self.podman("rm", "-f", "-t", "0", name, check=False)
            p = self.podman(*args, check=False, hooks=hooks, timeout=timeout)
        return self.started(short, p, labels, ip, pod, network)

    def rm(self, short):
        self.forget(short)
        return self.podman("rm", "-f", "-t", "0", "--depend", self.name(short), check=False)

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
