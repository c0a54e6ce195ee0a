#!/usr/bin/env python3
"""segd-runc with real Docker: dockerd -> containerd -> containerd-shim-runc-v2 -> segd-runc.

    test_docker_runc.py --build DIR [--keep]

Starts a private containerd and dockerd (everything under a temporary directory: data root,
exec root, sockets; /var/lib/docker and /run/docker are not used) with segd-runc registered as
the default runtime (daemon.json, as contrib/docker/daemon.json), and this build's segd
following that dockerd. containerd gets SEGD_SOCKET and SEGD_HOOK_TIMEOUT_MS in its
environment, dockerd a variable of its own: the shim, and so segd-runc, has containerd's.
The image is busybox-static imported from a tarball (no registry).

Scenarios: (a) with segd up, a container's namespace has segd's table before its command runs
(segd's log: the createRuntime hook enforced it), the hooks follow Docker's libnetwork prestart
hook in its config.json, and the hook got containerd's SEGD_SOCKET; (b) with segd stopped, a
container starts default-deny (the hook's own table); (c) with the hook missing, docker run
fails with segd-runc's reason and no container runs; (d) `--runtime runc`, with segd-runc as
`runc` on containerd's PATH, goes through segd-runc too; (e) stop and rm pass through.
Prints PASS/FAIL per scenario and `N passed, N failed`; SKIP when Docker is not installed.
Run as root, under the kernel test lock.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DOCKER = "/usr/bin/docker"  # the 20.10 client that goes with dockerd
NET_SUBNET = "10.77.93.0/24"


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def sock_answers(path):
    if not os.path.exists(path):
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Env:
    def __init__(self, build, d):
        self.build = os.path.abspath(build)
        self.d = d
        self.procs = {}
        self.bin = os.path.join(d, "bin")
        os.makedirs(self.bin)
        for b in ("segd-runc", "segd-oci-hook"):
            shutil.copy2(os.path.join(self.build, "daemon", b), self.bin)
        self.pathbin = os.path.join(d, "pathbin")
        os.makedirs(self.pathbin)
        os.symlink(os.path.join(self.bin, "segd-runc"), os.path.join(self.pathbin, "runc"))
        self.segd_sock = os.path.join(d, "segd.sock")
        self.docker_sock = os.path.join(d, "docker.sock")

    def spawn(self, name, cmd, env=None):
        log = open(os.path.join(self.d, name + ".log"), "a")
        p = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, start_new_session=True)
        self.procs[name] = p
        return p

    def stop(self, name):
        p = self.procs.pop(name, None)
        if p and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def docker(self, *args, check=True):
        r = subprocess.run([DOCKER, "-H", "unix://" + self.docker_sock] + list(args),
                           capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError("docker %s: %s" % (" ".join(args), r.stderr.strip()))
        return r

    def start_engine(self):
        d = self.d
        with open(os.path.join(d, "containerd.toml"), "w") as f:
            f.write('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                    '[plugins."io.containerd.internal.v1.opt"]\n  path = "%s/opt"\n' % d)
        with open(os.path.join(d, "daemon.json"), "w") as f:
            json.dump({"runtimes": {"segd": {"path": os.path.join(self.bin, "segd-runc")}},
                       "default-runtime": "segd"}, f)
        env = dict(os.environ, PATH=self.pathbin + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
                   SEGD_RUNC=shutil.which("runc") or "/usr/sbin/runc",
                   SEGD_SOCKET=self.segd_sock, SEGD_HOOK_TIMEOUT_MS="1500")
        self.spawn("containerd", ["containerd", "--root", d + "/ctd-root", "--state",
                                  d + "/ctd-state", "--address", d + "/containerd.sock",
                                  "--config", d + "/containerd.toml"], env)
        wait_for(lambda: sock_answers(d + "/containerd.sock"), 30, "containerd")
        self.spawn("dockerd", ["dockerd", "--config-file", d + "/daemon.json", "--data-root",
                               d + "/data", "--exec-root", d + "/exec", "-H",
                               "unix://" + self.docker_sock, "--containerd",
                               d + "/containerd.sock", "--pidfile", d + "/docker.pid",
                               "--iptables=false", "--ip-masq=false", "--bridge=none"],
                   dict(os.environ, SEGD_ONLY_DOCKERD="1"))
        wait_for(lambda: self.docker("info", check=False).returncode == 0, 60, "dockerd")
        rootfs = os.path.join(d, "rootfs")
        os.makedirs(rootfs + "/bin")
        os.makedirs(rootfs + "/tmp")
        shutil.copy2(shutil.which("busybox"), rootfs + "/bin/busybox")
        applets = subprocess.run([rootfs + "/bin/busybox", "--list"], capture_output=True,
                                 text=True, check=True).stdout.split()
        for a in applets:
            if a != "busybox":
                os.symlink("busybox", os.path.join(rootfs, "bin", a))
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run([DOCKER, "-H", "unix://" + self.docker_sock, "import", "-c",
                        'CMD ["/bin/sh"]', "-", "segd-test:latest"], stdin=tar.stdout,
                       check=True, capture_output=True)
        tar.wait()
        self.docker("network", "create", "--subnet", NET_SUBNET, "segrunc")

    def start_segd(self):
        self.spawn("segd", [os.path.join(self.build, "daemon", "segd"), "--socket",
                            self.segd_sock, "--state-dir", self.d + "/segd-state", "--engine",
                            "unix://" + self.docker_sock, "--audit-log", "none", "--fdstore",
                            "none"])
        wait_for(lambda: sock_answers(self.segd_sock), 30, "segd")

    def segd_log(self):
        with open(os.path.join(self.d, "segd.log")) as f:
            return f.read()

    def close(self):
        for c in ("c1", "c2", "c3", "c4"):
            self.docker("rm", "-f", c, check=False)
        self.docker("network", "rm", "segrunc", check=False)
        for name in ("segd", "dockerd", "containerd"):
            self.stop(name)


def run_container(env, name, *extra):
    r = env.docker("run", "-d", "--name", name, "--network", "segrunc", *extra,
                   "segd-test:latest", "sleep", "300", check=False)
    return r


def inspect(env, name, fmt):
    return env.docker("inspect", "-f", fmt, name).stdout.strip()


def table(pid):
    r = subprocess.run(["nsenter", "--net=/proc/%s/ns/net" % pid, "nft", "list", "table", "inet",
                        "segd"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else ""


def config_of(env, cid):
    with open("%s/ctd-state/io.containerd.runtime.v2.task/moby/%s/config.json" % (env.d, cid)) as f:
        return json.load(f)


def scenario_a(env):
    env.start_segd()
    r = run_container(env, "c1")
    assert r.returncode == 0, r.stderr
    cid, pid = inspect(env, "c1", "{{.Id}}"), inspect(env, "c1", "{{.State.Pid}}")
    assert inspect(env, "c1", "{{.HostConfig.Runtime}}") == "segd"
    assert "chain input" in table(pid), "no inet segd table in c1's namespace"
    hooks = config_of(env, cid)["hooks"]
    assert hooks["prestart"][0]["args"][0] == "libnetwork-setkey", hooks
    cr = hooks["createRuntime"]
    assert len(cr) == 1 and cr[0]["path"] == os.path.join(env.bin, "segd-oci-hook"), cr
    assert cr[0]["args"] == ["segd-oci-hook", "--socket", env.segd_sock, "--timeout-ms", "1500",
                             "createRuntime"], cr
    assert hooks["poststop"][0]["args"][-1] == "poststop"
    # the hook made segd enforce (the createRuntime stage: before the command)
    wait_for(lambda: ("Hook: container %s enforced" % cid[:12]) in env.segd_log(), 10,
             "segd's log of the hook")
    # containerd's environment reached the shim; dockerd's did not
    shim = subprocess.run(["pgrep", "-f", "containerd-shim-runc-v2 -namespace moby -id " + cid],
                          capture_output=True, text=True).stdout.split()
    assert shim, "no shim"
    with open("/proc/%s/environ" % shim[0], "rb") as f:
        environ = f.read().split(b"\0")
    assert b"SEGD_SOCKET=" + env.segd_sock.encode() in environ
    assert not any(e.startswith(b"SEGD_ONLY_DOCKERD=") for e in environ)


def scenario_b(env):
    env.stop("segd")
    r = run_container(env, "c2")
    assert r.returncode == 0, r.stderr
    t = table(inspect(env, "c2", "{{.State.Pid}}"))
    assert 'drop comment "segd: default deny"' in t, t


def scenario_c(env):
    hook = os.path.join(env.bin, "segd-oci-hook")
    os.rename(hook, hook + ".away")
    try:
        r = run_container(env, "c3")
    finally:
        os.rename(hook + ".away", hook)
    assert r.returncode != 0
    assert "segd-runc: segd-oci-hook" in r.stderr and "the container is not started" in r.stderr, \
        r.stderr
    assert inspect(env, "c3", "{{.State.Running}}") == "false"


def scenario_d(env):
    r = run_container(env, "c4", "--runtime", "runc")
    assert r.returncode == 0, r.stderr
    cid, pid = inspect(env, "c4", "{{.Id}}"), inspect(env, "c4", "{{.State.Pid}}")
    assert config_of(env, cid)["hooks"]["createRuntime"][-1]["args"][0] == "segd-oci-hook"
    assert "segd: default deny" in table(pid)


def scenario_e(env):
    env.docker("stop", "-t", "1", "c1", "c2", "c4")
    env.docker("rm", "c1", "c2", "c3", "c4")
    assert env.docker("ps", "-aq").stdout.strip() == ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    for tool in ("dockerd", "containerd", "containerd-shim-runc-v2", "runc", "busybox", "nft"):
        if not shutil.which(tool) or not os.path.exists(DOCKER):
            print("SKIP: %s not installed\n0 passed, 0 failed" % tool)
            return 0
    d = tempfile.mkdtemp(prefix="segd-docker-runc.")
    env = Env(args.build, d)
    passed = failed = 0
    try:
        env.start_engine()
        for name, fn in (("a segd up: enforced at createRuntime", scenario_a),
                         ("b segd down: default-deny from the hook", scenario_b),
                         ("c hook missing: refused", scenario_c),
                         ("d --runtime runc through PATH", scenario_d),
                         ("e stop and rm pass through", scenario_e)):
            try:
                fn(env)
                print("PASS", name)
                passed += 1
            except Exception as e:  # noqa: BLE001 - each scenario reports its own failure
                print("FAIL", name + ":", repr(e))
                failed += 1
    except Exception as e:  # noqa: BLE001
        print("FAIL set-up:", repr(e))
        failed += 1
    finally:
        env.close()
        if args.keep or failed:
            print("logs in", d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
