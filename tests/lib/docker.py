"""Real Docker containers for segd's tests: a private dockerd, containers, networks, cleanup.

Everything this module creates carries the name prefix "sgd<pid>-" (containers, networks):
parallel runs never collide, and whatever a crashed run left behind is removed by the next run
once that pid is gone.

The environment comes from scripts/docker-env.sh: a private containerd and dockerd (state dir
/run/segd-docker, data root /var/lib/segd-docker, sockets STATE/docker.sock and
STATE/containerd.sock; no iptables, no default bridge, live-restore), the test image, and with
a runtime (segd-runc) segd's OCI hooks in every container. A data root serves one dockerd, so
the runs share that environment: a run starts it when it is not running (reconfiguring it when
it runs with another runtime or segd socket) and at the end stops it only if it started it
(or adopted it from a test run that is gone: STATE/test-run.pid).

Facts about Docker 20.10 (Debian's docker.io) this relies on (checked on the project's machines):
- the CLI is /usr/bin/docker (another docker may come first on PATH), with DOCKER_HOST and
  DOCKER_CONFIG from the env script (the user's ~/.docker is not read).
- with --bridge=none there is no default network: every container here is on a user-defined
  bridge network, 10.78.N.0/24 (Podman's suites use 10.77.N.0/24).
- SandboxKey is EXEC_ROOT/netns/<sandbox id[:12]>; a --network container:X joiner has
  NetworkMode "container:<X's id>" and an empty SandboxKey; a --network host container has
  NetworkMode "host" and SandboxKey EXEC_ROOT/netns/default, a bind mount of the host's
  namespace.
- live-restore: with dockerd stopped, containerd and the containers keep running; a container
  whose task dies meanwhile is found exited when dockerd returns, or, with --restart always,
  is started again then (in a new sandbox). While dockerd is away, exec goes through
  containerd (`ctr -n moby tasks exec`).
- `docker stop` on a container whose PID 1 ignores SIGTERM (segd-probe serve) waits the full
  stop timeout: always stop with -t 0.
"""

import atexit
import ipaddress
import itertools
import json
import os
import re
import subprocess
import time

import topology as T
from engine import (IMAGE, ContainerEngine, _parse_env, _pid_alive, free_subnets, host_routes,
                    run_env_script)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
ENV_SCRIPT = os.path.join(ROOT, "scripts", "docker-env.sh")
STATE_DIR = "/run/segd-docker"
DOCKER_CLI = "/usr/bin/docker"
PREFIX_RE = re.compile(r"^sgd(\d+)-")
SUBNET_BASE = "10.78"

log = T.log


def docker_raw(args, denv, check=True, timeout=120, input=None):
    """Debian's docker CLI with denv (DOCKER_HOST, DOCKER_CONFIG)."""
    env = dict(os.environ)
    env.update(denv)
    p = subprocess.run([DOCKER_CLI] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, env=env, input=input)
    if check and p.returncode != 0:
        raise RuntimeError("docker %s failed (%d): %s%s" % (" ".join(map(str, args)), p.returncode,
                                                              p.stdout, p.stderr))
    return p


def remove_prefixed(denv, prefix_ok):
    """Remove containers and networks whose name matches prefix_ok(name)."""
    p = docker_raw(["ps", "-a", "--format", "{{.Names}}"], denv, check=False)
    ctrs = [n.strip() for n in p.stdout.splitlines() if prefix_ok(n.strip())]
    if ctrs:
        docker_raw(["rm", "-f"] + ctrs, denv, check=False, timeout=180)
    p = docker_raw(["network", "ls", "--format", "{{.Name}}"], denv, check=False)
    nets = [n.strip() for n in p.stdout.splitlines() if prefix_ok(n.strip())]
    if nets:
        docker_raw(["network", "rm"] + nets, denv, check=False, timeout=120)


def cleanup_stale(denv):
    """Whatever runs that are gone left behind: containers, networks."""
    def stale(name):
        m = PREFIX_RE.match(name)
        return bool(m) and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1)))
    remove_prefixed(denv, stale)


class Docker(ContainerEngine):
    """One test run's Docker world."""

    kind = "docker"

    def __init__(self, runtime=None, segd_socket=None, hook_timeout_ms=None, probe_static=None,
                 prefix=None, hook_config=None, state_dir=STATE_DIR, oci_hook=None,
                 runc_on_path=False):
        super().__init__(prefix or "sgd%d-" % os.getpid())
        self.state_dir = state_dir
        self.probe_static = probe_static
        # The runtime's configuration (docker-env.sh setup's options; see setup)
        self.runtime, self.segd_socket, self.hook_timeout_ms = runtime, segd_socket, hook_timeout_ms
        self.hook_config = hook_config  # segd's config file, for the hook's hook-fail-open
        self.oci_hook = oci_hook        # SEGD_OCI_HOOK (may be missing: segd-runc refuses)
        self.runc_on_path = runc_on_path  # segd-runc as `runc` first on containerd's PATH
        self.service_stopped = False   # dockerd stopped by stop_service: exec via containerd
        self._exec_ids = itertools.count()
        self._closed = False
        env = _parse_env(self._env_script("env").stdout)
        self.api_socket = env["SEGD_DOCKER_SOCKET"]
        # Stop at the end only what a test run started: this one, or one that is gone (a
        # dockerd somebody started by hand is left running).
        self._owner_file = os.path.join(self.state_dir, "test-run.pid")
        self.started_env = not self.api_answers() or self._owner_gone()
        self.setup()
        if self.started_env:
            with open(self._owner_file, "w") as f:
                f.write("%d\n" % os.getpid())
        cleanup_stale(self.denv)
        atexit.register(self.close)
        T._exit_on_sigterm()

    # ------------------------------------------------------------- environment
    def _owner_gone(self):
        try:
            with open(self._owner_file) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return False
        if pid == os.getpid() or _pid_alive(pid):
            return False
        log("docker: adopting the environment of test run %d, which is gone" % pid)
        return True

    def _env_script(self, sub, *extra, timeout=900):
        return run_env_script(ENV_SCRIPT, sub, ["--state-dir", self.state_dir] + list(extra),
                              timeout=timeout)

    def setup(self):
        """Starts (or reconfigures) containerd and dockerd, builds the image."""
        args = []
        if self.runtime:
            args += ["--runtime", self.runtime, "--segd-socket", self.segd_socket or "/run/segd/segd.sock"]
            if self.hook_timeout_ms:
                args += ["--hook-timeout-ms", str(self.hook_timeout_ms)]
            if self.hook_config:
                args += ["--hook-config", self.hook_config]
            if self.oci_hook:
                args += ["--oci-hook", self.oci_hook]
            if self.runc_on_path:
                args += ["--runc-on-path"]
        if self.probe_static:
            args += ["--probe-static", self.probe_static]
        env = _parse_env(self._env_script("setup", *args).stdout)
        self.api_socket = env["SEGD_DOCKER_SOCKET"]
        self.containerd_socket = env["SEGD_DOCKER_CONTAINERD"]
        self.exec_root = env["SEGD_DOCKER_EXEC_ROOT"]
        self.image = env.get("SEGD_DOCKER_IMAGE", IMAGE)
        self.denv = {"DOCKER_HOST": env["DOCKER_HOST"], "DOCKER_CONFIG": env["DOCKER_CONFIG"]}
        return env

    def reconfigure(self, **kw):
        """setup with some of the runtime's configuration changed (the attributes of __init__:
        oci_hook, runc_on_path, ...); the daemons restart, the containers keep running."""
        for k, v in kw.items():
            if k not in ("runtime", "segd_socket", "hook_timeout_ms", "hook_config", "oci_hook",
                         "runc_on_path"):
                raise TypeError("reconfigure: unknown setting %s" % k)
            setattr(self, k, v)
        return self.setup()

    def docker(self, *args, check=True, timeout=120, input=None):
        return docker_raw(list(args), self.denv, check=check, timeout=timeout, input=input)

    cli = docker

    def cli_command(self):
        """(argv prefix, env) to run docker as a long-lived process (Popen)."""
        return [DOCKER_CLI], dict(os.environ, **self.denv)

    def ctr(self, *args, check=True, timeout=60):
        """ctr on our containerd, in dockerd's namespace (moby)."""
        return T.run(["ctr", "--address", self.containerd_socket, "-n", "moby"] + [str(a) for a in args],
                     check=check, timeout=timeout)

    # --------------------------------------------------------- API service
    def service_pid(self):
        try:
            with open(os.path.join(self.state_dir, "dockerd.pid")) as f:
                pid = int(f.read().strip())
            return pid if _pid_alive(pid) else None
        except (OSError, ValueError):
            return None

    def stop_service(self):
        """Stops dockerd only: containerd and the containers keep running (live-restore)."""
        self._env_script("stop", "--dockerd-only", timeout=120)
        self.service_stopped = True

    def start_service(self):
        """setup again: starts dockerd (and containerd) when not running."""
        self.setup()
        self.service_stopped = False

    def restart_service(self):
        self.stop_service()
        self.start_service()

    # ------------------------------------------------------------- networks
    def network_create(self, short, third_octet=None):
        """A bridge network with its own /24 (10.78.N.0/24, N free: no other Docker network and
        no route of the host, Podman's bridges included, overlaps it); returns (name, subnet)."""
        name = self.name(short)
        used = set(host_routes())
        p = self.docker("network", "ls", "-q")
        if p.stdout.split():
            q = self.docker("network", "inspect", *p.stdout.split(), check=False)
            try:
                for net in json.loads(q.stdout or "[]"):
                    for c in (net.get("IPAM") or {}).get("Config") or []:
                        if c.get("Subnet"):
                            used.add(ipaddress.ip_network(c["Subnet"], strict=False))
            except (ValueError, TypeError):
                pass
        start = third_octet if third_octet is not None else 20 + os.getpid() % 200
        last = ""
        for sn in free_subnets(SUBNET_BASE, used, start):
            q = self.docker("network", "create", "--driver", "bridge", "--subnet", str(sn), name,
                            check=False)
            if q.returncode == 0:
                return name, sn
            last = q.stderr
        raise RuntimeError("docker network create %s: no free subnet (%s)" % (name, last))

    # ----------------------------------------------------------- containers
    def _run_flags(self, hooks=True, **kw):
        # Without segd's hooks: the plain runc runtime every dockerd has (segd-runc is the
        # default runtime only with --runtime).
        return [] if hooks else ["--runtime", "runc"]

    def run(self, short, cmd=None, labels=None, network=None, ip=None, mac=None, extra=(),
            serve=None, timeout=120, hooks=True):
        """docker run -d; returns the Container. serve=(tcp ports): run segd-probe serve.
        hooks=False: under plain runc, without segd's hooks."""
        args = self.run_args(short, cmd, labels, network, ip, mac, extra, serve, hooks=hooks)
        p = self.docker(*args, check=False, timeout=timeout)
        return self.started(short, p, labels, ip, None, network)

    def rm(self, short):
        self.forget(short)
        return self.docker("rm", "-f", self.name(short), check=False)

    def container_id(self, short):
        c = self.containers.get(self.name(short))
        if c:
            return c.id
        return ((self.inspect(short) or {}).get("Id")) or None

    def exec(self, short, cmd, check=True, timeout=60, input=None, interactive=False):
        """docker exec; while dockerd is stopped, the same through containerd."""
        if not self.service_stopped:
            return super().exec(short, cmd, check=check, timeout=timeout, input=input,
                                interactive=interactive)
        args = ["ctr", "--address", self.containerd_socket, "-n", "moby", "tasks", "exec",
                "--fifo-dir", os.path.join(self.state_dir, "fifo"),
                "--exec-id", "%s%d" % (self.prefix, next(self._exec_ids)),
                self.container_id(short)] + list(cmd)
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise RuntimeError("ctr exec in %s failed (%d): %s" % (short, p.returncode, p.stderr))
        return p

    def bundle_config(self, short):
        """The config.json containerd gave the runtime for the container (its OCI bundle, with
        the hooks segd-runc added)."""
        path = os.path.join(self.state_dir, "containerd", "io.containerd.runtime.v2.task", "moby",
                            self.container_id(short), "config.json")
        with open(path) as f:
            return json.load(f)

    def task_ids(self):
        """The ids of the containers containerd has a task for (running or not)."""
        p = self.ctr("tasks", "ls", "-q", check=False)
        return set(p.stdout.split())

    def kill_task(self, short, timeout=20):
        """SIGKILL the container's task through containerd (works while dockerd is away) and
        wait until containerd reports it stopped."""
        cid = self.container_id(short)
        self.ctr("tasks", "kill", "-a", "-s", "SIGKILL", cid)
        deadline = time.monotonic() + timeout
        while True:
            p = self.ctr("tasks", "ls", check=False)
            row = [ln.split() for ln in p.stdout.splitlines() if ln.startswith(cid)]
            if not row or row[0][-1] == "STOPPED":
                return
            if time.monotonic() >= deadline:
                raise RuntimeError("task of %s still %s %.0fs after SIGKILL" % (short, row[0][-1], timeout))
            time.sleep(0.1)

    # -------------------------------------------------------------- teardown
    def cleanup(self):
        """Remove everything of this run (containers, networks)."""
        if self.service_stopped:
            self.start_service()
        remove_prefixed(self.denv, lambda n: n.startswith(self.prefix))
        with self._lock:
            self.containers.clear()

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            self.cleanup()
        finally:
            if self.started_env:
                try:
                    self._env_script("stop", timeout=180)
                    os.unlink(self._owner_file)
                except Exception as e:  # noqa: BLE001
                    log("docker: stopping the environment: %s" % e)
