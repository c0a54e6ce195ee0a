#!/usr/bin/env python3
"""segd-runc with real Docker: dockerd -> containerd -> containerd-shim-runc-v2 -> segd-runc.

    test_docker_runc.py [--build DIR] [--segd BIN] [--segctl BIN] [--runtime BIN] [--keep-log]

The Docker environment is scripts/docker-env.sh's (tests/lib/docker.py: a private containerd
and dockerd, the test image) with segd-runc (default BUILD/daemon/segd-runc) the default runtime,
`--runc-on-path` (segd-runc linked as `runc` first on containerd's PATH, SEGD_RUNC the real
runc) and SEGD_HOOK_TIMEOUT_MS=1500 in containerd's environment, and this build's segd following
that dockerd. The containers are on a bridge network of their own (10.78.N.0/24).

Scenarios: (a) with segd up, a container's namespace has segd's table before its command runs
(segd's log: the createRuntime hook enforced it), the hooks follow Docker's libnetwork prestart
hook in its config.json, and the shim (so segd-runc and the hook) got containerd's environment,
not dockerd's; (b) with segd stopped, a container starts default-deny (the hook's own table);
(c) with SEGD_OCI_HOOK naming a missing hook (`--oci-hook`), docker run fails with segd-runc's
reason and no container runs; (d) `--runtime runc`, with segd-runc as `runc` on containerd's
PATH, goes through segd-runc too; (e) stop and rm pass through. Prints PASS/FAIL per scenario
and `N passed, N failed`. Run as root, under the kernel test lock.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import topology as T  # noqa: E402
import engine as E  # noqa: E402
from topology import eventually  # noqa: E402

HOOK_TIMEOUT_MS = 1500


def environ(pid):
    """{NAME: VALUE} of a process's environment."""
    with open("/proc/%d/environ" % pid, "rb") as f:
        items = [e.decode(errors="replace") for e in f.read().split(b"\0") if e]
    return dict(e.split("=", 1) for e in items if "=" in e)


class Suite(E.EngineSuite):
    def __init__(self, a):
        super().__init__(a)
        self.hook = os.path.join(os.path.dirname(os.path.realpath(a.runtime)), "segd-oci-hook")
        self.runc_path = None

    def setup(self):
        import docker as D
        self.segd = E.EngineSegd(self.a.segd, self.a.segctl, engine="unix://placeholder")
        self.eng = D.Docker(runtime=self.a.runtime, segd_socket=self.segd.socket,
                            hook_timeout_ms=HOOK_TIMEOUT_MS, probe_static=self.a.probe_static,
                            runc_on_path=True)
        self.runc_path = os.path.join(self.eng.state_dir, "runc-path")
        self.segd.engine = "unix://" + self.eng.api_socket
        self.net, self.subnet = self.eng.network_create("net")
        print("# docker network %s %s; API %s (pid %s); runtime %s" % (
            self.net, self.subnet, self.eng.api_socket, self.eng.service_pid(), self.a.runtime), flush=True)
        self.segd.start()

    def run(self, short, *extra):
        return self.eng.run(short, network=self.net, extra=extra)

    def field(self, short, *path):
        d = self.eng.inspect(short) or {}
        for k in path:
            d = (d or {}).get(k)
        return d

    def hooks_of(self, short):
        return self.eng.bundle_config(short).get("hooks") or {}

    def table(self, short):
        return self.eng.nft_table(short) or ""

    # -------------------------------------------------------------- scenarios
    def t_hooked(self):
        c = self.run("c1")
        r = self.r
        r.check(self.field("c1", "HostConfig", "Runtime") == "segd", "c1's runtime is not segd")
        r.check("chain input" in self.table("c1"), "no inet segd table in c1's namespace")
        hooks = self.hooks_of("c1")
        pre = hooks.get("prestart") or [{}]
        r.check((pre[0].get("args") or [""])[0] == "libnetwork-setkey",
                "prestart: Docker's libnetwork hook is not first: %r" % pre)
        cr = hooks.get("createRuntime") or []
        r.check(len(cr) == 1 and cr[0].get("path") == self.hook, "createRuntime: %r" % cr)
        want = ["segd-oci-hook", "--socket", self.segd.socket, "--timeout-ms", str(HOOK_TIMEOUT_MS),
                "createRuntime"]
        r.check(cr and cr[0].get("args") == want, "createRuntime args %r, want %r" % (cr, want))
        ps = hooks.get("poststop") or [{}]
        r.check((ps[0].get("args") or [""])[-1] == "poststop", "poststop: %r" % ps)
        # the hook made segd enforce (the createRuntime stage: before the command)
        line = "Hook: container %s enforced" % c.id[:12]

        def not_logged():
            with open(self.segd.log_path, errors="replace") as f:
                return line not in f.read()
        r.check(not eventually(not_logged, timeout=10), "segd's log has no %r" % line)
        # containerd's environment reached the shim, dockerd's did not (their PATHs differ:
        # containerd's has the runc-path directory)
        p = T.run(["pgrep", "-f", "containerd-shim-runc-v2 -namespace moby -id " + c.id], check=False)
        if not r.check(p.stdout.split(), "no shim for c1"):
            return
        shim = environ(int(p.stdout.split()[0]))
        dockerd = environ(self.eng.service_pid())
        r.check(shim.get("SEGD_SOCKET") == self.segd.socket, "the shim's SEGD_SOCKET: %r" % shim.get("SEGD_SOCKET"))
        r.check(shim.get("SEGD_HOOK_TIMEOUT_MS") == str(HOOK_TIMEOUT_MS), "the shim's SEGD_HOOK_TIMEOUT_MS")
        r.check(self.runc_path in shim.get("PATH", "").split(":"), "the shim's PATH: %r" % shim.get("PATH"))
        r.check("SEGD_SOCKET" not in dockerd and self.runc_path not in dockerd.get("PATH", ""),
                "dockerd has the runtime's environment too: the check cannot tell whose the shim has")

    def t_segd_down(self):
        self.segd.stop()
        self.run("c2")
        t = self.table("c2")
        self.r.check('drop comment "segd: default deny"' in t, "c2's table: %r" % t)

    def t_hook_missing(self):
        missing = os.path.join(self.eng.state_dir, "no-such-dir", "segd-oci-hook")
        self.r.check(not os.path.exists(missing), "%s exists" % missing)
        self.eng.reconfigure(oci_hook=missing)
        try:
            p = self.eng.docker(*self.eng.run_args("c3", network=self.net), check=False)
        finally:
            self.eng.reconfigure(oci_hook=None)
        r = self.r
        r.check(p.returncode != 0, "docker run succeeded: %s" % p.stdout)
        r.check("segd-runc: segd-oci-hook %s" % missing in p.stderr and
                "the container is not started" in p.stderr, "docker run's error: %r" % p.stderr)
        r.check(self.field("c3", "State", "Running") is False, "c3 is running (or not there)")
        cid = self.eng.container_id("c3")
        r.check(cid and cid not in self.eng.task_ids(), "containerd has a task for c3")
        r.check(self.eng.docker("ps", "-q", "--filter", "name=" + self.eng.name("c3")).stdout.strip() == "",
                "docker ps lists c3")

    def t_runtime_runc(self):
        self.run("c4", "--runtime", "runc")
        r = self.r
        r.check(self.field("c4", "HostConfig", "Runtime") == "runc", "c4's runtime is not runc")
        cr = self.hooks_of("c4").get("createRuntime") or [{}]
        r.check(cr[-1].get("path") == self.hook and (cr[-1].get("args") or [""])[0] == "segd-oci-hook",
                "c4's bundle has no segd hook (segd-runc did not run): %r" % cr)
        t = self.table("c4")
        r.check("segd: default deny" in t, "c4's table: %r" % t)

    def t_stop_rm(self):
        names = {s: self.eng.name(s) for s in ("c1", "c2", "c3", "c4")}
        ids = [self.eng.container_id(s) for s in names]
        self.eng.docker("stop", "-t", "1", names["c1"], names["c2"], names["c4"])
        self.eng.docker("rm", *names.values())
        for s in names:
            self.eng.forget(s)
        left = self.eng.docker("ps", "-aq", "--filter", "name=^" + self.eng.prefix).stdout.split()
        self.r.check(not left, "containers left: %s" % left)
        tasks = self.eng.task_ids() & set(ids)
        self.r.check(not tasks, "containerd tasks left: %s" % tasks)

    # ------------------------------------------------------------------ main
    def main(self):
        if not self.set_up():
            return self.r.summary()
        try:
            for name, fn in (("(a) segd up: enforced at createRuntime", self.t_hooked),
                             ("(b) segd down: default-deny from the hook", self.t_segd_down),
                             ("(c) hook missing: refused", self.t_hook_missing),
                             ("(d) --runtime runc through PATH", self.t_runtime_runc),
                             ("(e) stop and rm pass through", self.t_stop_rm)):
                self.r.run(name, fn)
        finally:
            self.teardown()
        return self.r.summary()

    def teardown(self):
        """Leaves nothing behind: the containers went while segd was down ((b) stopped it), so
        segd comes back to delete the guard tables it had on their host-side devices (a table
        it leaves is a failure, deleted here)."""
        if self.segd and self.segd.starts and not self.segd.alive():
            try:
                self.segd.start()
            except Exception as e:  # noqa: BLE001 - reported, the rest of the teardown goes on
                print("# segd did not start again: %s" % e, flush=True)
        if self.eng:
            self.eng.cleanup()  # with dockerd still there for segd to follow
        left = []
        if self.subnet and self.segd and self.segd.alive():
            left = eventually(lambda: E.guard_tables_holding(self.subnet), timeout=15, interval=0.5)
        E.suite_teardown(self)
        for t in left:
            p = T.run(["nft", "delete", "table", "netdev", t], check=False)
            print("FAIL teardown: segd left the guard table netdev %s (deleted%s)" % (
                t, p.returncode and ": " + p.stderr.strip() or ""), flush=True)
            self.r.failed += 1


def args():
    a = E.suite_args(E.suite_parser(__doc__))
    if not a.runtime:
        sys.exit("%s: no segd-runc (build it or pass --runtime)" % sys.argv[0])
    return a


if __name__ == "__main__":
    sys.exit(Suite(args()).main())
