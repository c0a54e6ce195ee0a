#!/usr/bin/env python3
"""The Compose example (examples/compose) isolated by its policy, with real Docker containers.

    test_compose.py [--segd BIN] [--segctl BIN] [--runtime BIN] [--build DIR] [--keep-log]

Starts the private Docker of scripts/docker-env.sh (every container under segd-runc) and this
build's segd following it, runs `docker-compose -p shop up -d` on examples/compose/compose.yaml
(Debian's Compose v1; IMAGE is the offline test image, whose busybox serves the example's
httpd commands and has segd-probe), then checks, with real TCP connections between the
containers:
  (a) before any policy, every container reaches every other's port; the Compose project is
      each container's namespace (no segd.io/namespace anywhere) and Compose's own labels
      (paths, a 64-character hash) do not quarantine it;
  (b) after `segctl apply -f examples/compose/policy.yaml`: web -> api:8080 and api -> db:5432
      only, as the policy file says; segctl check agrees for an allowed and a denied pair;
  (c) `docker-compose down`: the endpoints go.
Prints PASS/FAIL per scenario and `N passed, N failed`.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import topology as T  # noqa: E402
import engine as E  # noqa: E402
import docker as D  # noqa: E402
from topology import eventually  # noqa: E402

PROJECT = "shop"
COMPOSE = os.path.join(ROOT, "examples", "compose", "compose.yaml")
POLICY = os.path.join(ROOT, "examples", "compose", "policy.yaml")
PORT = {"web": 80, "api": 8080, "db": 5432}
ALLOWED = {("web", "api"), ("api", "db")}


class Suite:
    def __init__(self, a):
        self.a = a
        self.r = T.Results()
        self.eng = self.segd = None
        self.up = False

    def compose(self, *args, check=True):
        env = dict(os.environ, IMAGE=self.eng.image, **self.eng.denv)
        p = subprocess.run(["docker-compose", "-p", PROJECT, "-f", COMPOSE] + list(args),
                           env=env, capture_output=True, text=True, timeout=300)
        if check and p.returncode != 0:
            raise RuntimeError("docker-compose %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                                     p.stderr.strip()))
        return p

    def setup(self):
        if not self.a.runtime:
            raise RuntimeError("needs segd-runc (--runtime, default BUILD/daemon/segd-runc)")
        self.segd = E.EngineSegd(self.a.segd, self.a.segctl, engine="unix://placeholder",
                                 resync_interval=5)
        # Compose names its containers PROJECT_SERVICE_1: the fixture's prefix is the
        # project's, so its cleanup removes what a failed run left.
        self.eng = D.Docker(runtime=self.a.runtime, segd_socket=self.segd.socket,
                            probe_static=self.a.probe_static, prefix=PROJECT + "_")
        self.segd.engine = "unix://" + self.eng.api_socket
        self.segd.start()
        self.compose("up", "-d")
        self.up = True
        self.ips = {}
        for svc in PORT:
            j = self.eng.inspect("%s_1" % svc) or {}
            nets = (j.get("NetworkSettings") or {}).get("Networks") or {}
            self.ips[svc] = next((n.get("IPAddress") for n in nets.values() if n.get("IPAddress")), None)
            if not self.ips[svc]:
                raise RuntimeError("no address for %s: %s" % (svc, nets))
        print("# compose project %s: %s" % (PROJECT, self.ips), flush=True)

    def name(self, svc):
        return self.eng.name("%s_1" % svc)

    def matrix_problems(self, allowed):
        plan = {"%s_1" % s: ["tcp:%s:%d" % (self.ips[d], PORT[d]) for d in PORT if d != s]
                for s in PORT}
        try:
            got = self.eng.probe_matrix(plan)
        except RuntimeError as e:
            return [str(e)]
        bad = []
        for s in PORT:
            for d in PORT:
                if d == s:
                    continue
                want = allowed(s, d)
                have = got["%s_1" % s]["tcp:%s:%d" % (self.ips[d], PORT[d])]
                if have != want:
                    bad.append("%s -> %s:%d %s, want %s" % (s, d, PORT[d], "ok" if have else "denied",
                                                             "ok" if want else "denied"))
        return bad

    def t_open(self):
        def problems():
            eps = self.segd.endpoints()
            bad = []
            for svc in PORT:
                e = eps.get(self.name(svc)) or {}
                if e.get("state") != "enforced" or e.get("namespace") != PROJECT or \
                        (e.get("labels") or {}).get("app") != svc:
                    bad.append("%s: %s namespace %s app %s (%s)" % (
                        svc, e.get("state"), e.get("namespace"), (e.get("labels") or {}).get("app"),
                        e.get("error")))
            return bad
        bad = eventually(problems, timeout=20, interval=0.2)
        self.r.check(not bad, "Compose containers as endpoints: %s" % bad)
        bad = eventually(lambda: self.matrix_problems(lambda s, d: True), timeout=10, interval=0.5)
        self.r.check(not bad, "no policy yet: %s" % bad)

    def t_policy(self):
        p = self.segd.ctl("apply", "-f", POLICY)
        if not self.r.check(p.returncode == 0, "segctl apply -f %s: %s" % (POLICY, p.stderr or p.stdout)):
            return
        bad = eventually(lambda: self.matrix_problems(lambda s, d: (s, d) in ALLOWED), timeout=10,
                         interval=0.5)
        self.r.check(not bad, "with examples/compose/policy.yaml: %s" % bad)
        ok = self.segd.ctl("check", self.name("web"), self.name("api"), "8080/TCP")
        no = self.segd.ctl("check", self.name("db"), self.name("web"), "80/TCP")
        first = lambda p: (p.stdout.splitlines() or [""])[0]  # noqa: E731
        self.r.check(ok.returncode == 0 and first(ok).endswith(": allowed"),
                     "segctl check web api 8080/TCP: %s%s" % (ok.stdout, ok.stderr))
        self.r.check(no.returncode == 0 and first(no).endswith(": DENIED"),
                     "segctl check db web 80/TCP: %s%s" % (no.stdout, no.stderr))

    def t_down(self):
        self.compose("down", "-t", "1")  # httpd as PID 1 ignores SIGTERM
        self.up = False
        bad = eventually(lambda: [s for s in PORT if self.name(s) in self.segd.endpoints()],
                         timeout=15, interval=0.2)
        self.r.check(not bad, "endpoints left after docker-compose down: %s" % bad)

    def main(self):
        try:
            self.setup()
        except Exception as e:  # noqa: BLE001
            print("SETUP FAILED: %s" % e, flush=True)
            self.r.failed += 1
            self.teardown()
            return self.r.summary()
        try:
            self.r.run("(a) Compose containers: the project is the namespace, every port open",
                       self.t_open)
            self.r.run("(b) examples/compose/policy.yaml: web -> api:8080, api -> db:5432 only",
                       self.t_policy)
            self.r.run("(c) docker-compose down: the endpoints go", self.t_down)
        finally:
            self.teardown()
        return self.r.summary()

    def teardown(self):
        if self.up:
            self.compose("down", "-t", "1", check=False)
        E.suite_teardown(self)


def args():
    return E.suite_args(E.suite_parser(__doc__))


if __name__ == "__main__":
    sys.exit(Suite(args()).main())
