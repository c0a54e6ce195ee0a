#!/usr/bin/env python3
"""segd following real containers of Podman or Docker: labels, relabel, stop, shared namespaces, restarts.

    test_containers.py [--engine podman|docker] [--segd BIN] [--segctl BIN] [--probe BIN]
                       [--hook BIN] [--runtime BIN] [--build DIR] [--only REGEX] [--keep-log]
                       [--timeout-ms N] [--converge-s N]

Podman (the default): scripts/podman-env.sh (its own API service on a private socket, the OCI
hook pointing at this run's segd). Docker: scripts/docker-env.sh (a private containerd and
dockerd, no iptables, live-restore; with --runtime, default BUILD/daemon/segd-runc when built,
every container runs under segd-runc, which gives it segd's OCI hooks). Each run creates a
bridge network with its own /24 and runs containers of the image localhost/segd-test (busybox
+ a static segd-probe serving TCP 8080 and 5432). Every check of access is a real TCP
connection between containers (ENGINE exec segd-probe connect; while dockerd is stopped,
the same exec through containerd), plus segctl get endpoints / segctl rules.

Namespace shop; policies: api accepts only app=web on its named port http (8080/TCP); db
accepts only app=api on 5432/TCP; everything else is open.

Scenarios: (a) labelled containers and the policy, (b) relabel by recreate, (c) stop and
start, (d) a pod is one endpoint (Podman), (e) --network container:X joins X's endpoint, (f)
the namespace from a Compose project label, segd.io/namespace first, (g) the engine goes away
and returns (Podman: its API service restarts; Docker: dockerd restarts while containers die
and come back), (h) kill -9 of segd with containers coming and going (the hook fails closed;
Docker needs segd-runc), (i) the host-side guard table of a container removed while segd was
down is collected, (j) a host-network container is unenforceable. Prints PASS/FAIL per
scenario and `N passed, N failed`.
"""

import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import topology as T  # noqa: E402
import engine as E  # noqa: E402
from topology import eventually  # noqa: E402

NS = "shop"
COMPOSE_LABEL = "com.docker.compose.project"
COMPOSE_NS = "sgdproj"
PORTS = (8080, 5432)


def np(name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


POLICIES = [
    np("api-ingress", {"podSelector": {"matchLabels": {"app": "api"}},
                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                    "ports": [{"port": "http", "protocol": "TCP"}]}],
                       "policyTypes": ["Ingress"]}),
    np("db-ingress", {"podSelector": {"matchLabels": {"app": "db"}},
                      "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "api"}}}],
                                   "ports": [{"port": 5432, "protocol": "TCP"}]}],
                      "policyTypes": ["Ingress"]}),
]


def allowed(src_app, dst_app, port):
    if dst_app == "api":
        return src_app == "web" and port == 8080
    if dst_app == "db":
        return src_app == "api" and port == 5432
    return True


def same_netns(a, b):
    """Two paths name one network namespace (segd may name it by the engine's SandboxKey or,
    when the hook told it first, by /proc/PID/ns/net)."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, TypeError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def labels_for(app):
    lab = {"app": app, "segd.io/namespace": NS}
    if app == "api":
        lab["segd.io/ports"] = "http=8080/TCP"
    elif app == "db":
        lab["segd.io/ports"] = "pg=5432/TCP"
    return lab


class Suite(E.EngineSuite):
    def __init__(self, a):
        super().__init__(a)
        self.live = {}      # short name -> (app, ip): containers in the access matrix
        self.exec_in = {}   # short name -> container to run probes in (a pod's member)
        self.policy_on = False
        self.leaked_guards = []  # guard tables segd left behind (a failure; removed at teardown)
        self.gone_while_down = None  # address of the container (h) removed while segd was down

    # ------------------------------------------------------------------ setup
    def setup(self):
        self.segd = E.EngineSegd(self.a.segd, self.a.segctl, engine="unix://placeholder",
                                 resync_interval=self.a.resync_interval, deny_action=self.a.deny_action)
        if self.a.engine == "docker":
            import docker as D
            self.eng = D.Docker(runtime=self.a.runtime, segd_socket=self.segd.socket,
                                hook_timeout_ms=self.a.hook_timeout_ms, probe_static=self.a.probe_static)
            hooked = "runtime %s" % self.a.runtime
        else:
            import podman as P
            self.eng = P.Podman(hook=self.a.hook, segd_socket=self.segd.socket,
                                hook_timeout_ms=self.a.hook_timeout_ms, probe_static=self.a.probe_static)
            hooked = "hook %s" % self.a.hook
        self.segd.engine = "unix://" + self.eng.api_socket
        self.net, self.subnet = self.eng.network_create("net")
        print("# %s network %s %s; API %s (pid %s); %s" % (
            self.a.engine, self.net, self.subnet, self.eng.api_socket, self.eng.service_pid(), hooked),
            flush=True)
        self.segd.start()

    @property
    def hooked(self):
        """segd's OCI hooks run in every new container (Podman: --hook; Docker: segd-runc)."""
        return bool(self.a.runtime if self.a.engine == "docker" else self.a.hook)

    def ip(self, host):
        return str(self.subnet.network_address + host)

    def n(self, short):
        return self.eng.name(short)

    def run_app(self, short, app, host, **kw):
        c = self.eng.run(short, labels=labels_for(app), network=self.net, ip=self.ip(host),
                         serve=PORTS, **kw)
        self.live[short] = (app, self.ip(host))
        return c

    # ---------------------------------------------------------------- checks
    def endpoint_problems(self, present=(), absent=()):
        """present: short names that must be enforced endpoints with their labels and address."""
        try:
            eps = self.segd.endpoints()
        except Exception as e:  # noqa: BLE001
            return ["get endpoints: %s" % e]
        bad = []
        for short in present:
            app, ip = self.live[short]
            ep = eps.get(self.n(short))
            if ep is None:
                bad.append("%s: no endpoint" % short)
                continue
            c = self.eng.containers.get(self.n(short))
            if ep.get("state") != "enforced":
                bad.append("%s: state %s (%s)" % (short, ep.get("state"), ep.get("error")))
            if (ep.get("labels") or {}).get("app") != app:
                bad.append("%s: labels %s, want app=%s" % (short, ep.get("labels"), app))
            if ep.get("namespace") != NS:
                bad.append("%s: namespace %s" % (short, ep.get("namespace")))
            if ep.get("kind") != "container":
                bad.append("%s: kind %s" % (short, ep.get("kind")))
            if c and ep.get("id") != c.id:
                bad.append("%s: id %s, container is %s" % (short, ep.get("id"), c.id[:12]))
            if ip not in (ep.get("addresses") or []):
                bad.append("%s: addresses %s lack %s" % (short, ep.get("addresses"), ip))
        for short in absent:
            if self.n(short) in eps:
                bad.append("%s: endpoint still present (state %s)" % (short, eps[self.n(short)].get("state")))
        return bad

    def wait_endpoints(self, present=(), absent=(), what="", timeout=None):
        t0 = time.monotonic()
        bad = eventually(lambda: self.endpoint_problems(present, absent),
                         timeout=timeout or self.a.converge_s, interval=0.2)
        self.r.no_problems(bad or [], "endpoints %s" % what)
        return time.monotonic() - t0

    def matrix_problems(self, overrides=None):
        """Probe every live container to every other on 8080 and 5432; compare with policy.

        overrides: {(src, dst): bool} forcing an expectation (e.g. default-deny)."""
        plan, index = {}, {}
        for s in self.live:
            for d, (dapp, dip) in self.live.items():
                if s == d:
                    continue
                for port in PORTS:
                    t = "tcp:%s:%d" % (dip, port)
                    plan.setdefault(s, []).append(t)
                    exp = allowed(self.live[s][0], dapp, port) if self.policy_on else True
                    if overrides and (s, d) in overrides:
                        exp = overrides[(s, d)]
                    index[(s, t)] = (d, port, exp)
        res = self.eng.probe_matrix({self.exec_in.get(s, s): t for s, t in plan.items()}, self.a.timeout_ms)
        res = {s: res[self.exec_in.get(s, s)] for s in plan}
        bad = []
        for (s, t), (d, port, exp) in sorted(index.items()):
            got = res[s][t]
            if got != exp:
                bad.append("%s(%s) -> %s(%s):%d expected %s, got %s" % (
                    s, self.live[s][0], d, self.live[d][0], port, "allow" if exp else "deny",
                    "allow" if got else "deny"))
        return bad

    def matrix_ok(self, what, overrides=None, settle=None):
        """Flows must match; a short settle time allows set updates still in flight."""
        bad = eventually(lambda: self.matrix_problems(overrides), timeout=settle or 3.0, interval=0.3)
        return self.r.no_problems(bad or [], what)

    def peer_sets(self, short):
        return E.set_elements(self.segd.rules(self.n(short)))

    def rules_in_sync(self, shorts, what):
        for short in shorts:
            rj = self.segd.rules(self.n(short))
            if self.r.check(rj is not None, "%s: segctl rules %s failed" % (what, short)):
                self.r.check(rj.get("in_sync") is True, "%s: rules of %s not in_sync" % (what, short))

    # ------------------------------------------------------------- scenarios
    def t_basic(self):
        t0 = time.monotonic()
        for short, app, host in (("web", "web", 10), ("api", "api", 11), ("db", "db", 12),
                                 ("intruder", "intruder", 13)):
            self.run_app(short, app, host)
        t_run = time.monotonic() - t0
        dt = self.wait_endpoints(present=list(self.live), what="after start")
        print("    4 containers: %s run %.2fs, all endpoints enforced %.2fs later" % (self.a.engine, t_run, dt),
              flush=True)
        self.matrix_ok("no policy yet: everything open")
        p = self.segd.apply_objects(POLICIES)
        if not self.r.check(p.returncode == 0, "apply failed: %s" % (p.stderr or p.stdout).strip()):
            return
        self.policy_on = True
        self.matrix_ok("policy applied")
        eps = self.segd.endpoints()
        api = eps.get(self.n("api")) or {}
        self.r.check(same_netns(api.get("netns"), self.eng.netns_path("api")),
                     "api endpoint netns %s is not the namespace of %s's SandboxKey %s" % (
                         api.get("netns"), self.a.engine, self.eng.netns_path("api")))
        self.r.check([c.get("name") for c in api.get("containers") or []] == [self.n("api")],
                     "api endpoint containers %s" % api.get("containers"))
        self.r.check(sorted(api.get("policies") or []) == ["shop/api-ingress"], "api policies %s" % api.get("policies"))
        self.r.check((api.get("isolation") or {}).get("ingress") is True, "api not isolated for ingress")
        self.r.check(any(pt.get("name") == "http" and pt.get("port") == 8080 for pt in api.get("ports") or []),
                     "api named ports %s" % api.get("ports"))
        elems = self.peer_sets("api")
        self.r.check(self.ip(10) in elems, "web's %s not in api's sets %s" % (self.ip(10), sorted(elems)))
        self.r.check(self.ip(13) not in elems, "intruder's %s in api's sets" % self.ip(13))
        self.rules_in_sync(self.live, "policy applied")
        self.r.check(self.eng.nft_table("api") is not None, "no table inet segd in api's netns")
        if self.a.engine == "docker" and self.a.runtime:
            rt = ((self.eng.inspect("api") or {}).get("HostConfig") or {}).get("Runtime")
            self.r.check(rt == "segd", "api runs under runtime %r, not segd (segd-runc)" % rt)

    def t_relabel(self):
        old_id = self.eng.containers[self.n("intruder")].id
        self.eng.rm("intruder")
        self.run_app("intruder", "web", 13)
        self.wait_endpoints(present=["intruder"], what="recreated as app=web")
        new = (self.segd.endpoints().get(self.n("intruder")) or {}).get("id")
        self.r.check(new and new != old_id, "endpoint id %s after recreate (old %s)" % (new, old_id[:12]))
        self.matrix_ok("intruder recreated as app=web")
        ok = eventually(lambda: self.ip(13) not in self.peer_sets("api"), timeout=3)
        self.r.check(not ok, "%s (now app=web) missing from api's sets" % self.ip(13))
        self.eng.rm("intruder")
        self.run_app("intruder", "intruder", 13)
        self.wait_endpoints(present=["intruder"], what="recreated as app=intruder")
        self.matrix_ok("intruder recreated as app=intruder again")
        bad = eventually(lambda: self.ip(13) in self.peer_sets("api"), timeout=3)
        self.r.check(not bad, "%s (app=intruder again) still in api's sets" % self.ip(13))

    def t_stop(self):
        self.eng.stop("web")
        web = self.live.pop("web")
        t0 = time.monotonic()
        self.wait_endpoints(absent=["web"], present=list(self.live), what="web stopped")
        t_gone = time.monotonic() - t0
        bad = eventually(lambda: web[1] in self.peer_sets("api"), timeout=3)
        self.r.check(not bad, "stopped web's %s still in api's sets" % web[1])
        self.matrix_ok("web stopped")
        self.eng.start("web")
        self.live["web"] = web
        t0 = time.monotonic()
        self.wait_endpoints(present=["web"], what="web started again")
        print("    stop: endpoint gone %.2fs after %s stop; start: enforced %.2fs after %s start" % (
            t_gone, self.a.engine, time.monotonic() - t0, self.a.engine), flush=True)
        ok = eventually(lambda: web[1] not in self.peer_sets("api"), timeout=3)
        self.r.check(not ok, "restarted web's %s not back in api's sets" % web[1])
        self.matrix_ok("web started again (new netns)")

    def t_pod(self):
        lab = labels_for("api")
        self.eng.pod_create("pod", network=self.net, ip=self.ip(20), labels=lab)
        p1 = self.eng.run("pod-a", labels=lab, pod="pod", serve=(8080,))
        p2 = self.eng.run("pod-b", labels=lab, pod="pod", serve=(5432,))
        pinfo = self.eng.pod_inspect("pod")
        infra = pinfo.get("InfraContainerID") or ""
        want = {p1.id, p2.id}

        def pod_problems():
            eps = self.segd.endpoints()
            holders = [e for e in eps.values()
                       if want & {c.get("id") for c in e.get("containers") or []}
                       or e.get("id") in want | {infra}]
            if len(holders) != 1:
                return ["%d endpoints hold the pod's containers: %s" % (
                    len(holders), [(e["name"], [c.get("name") for c in e.get("containers") or []]) for e in holders])]
            e = holders[0]
            bad = []
            ids = {c.get("id") for c in e.get("containers") or []}
            if not want <= ids:
                bad.append("endpoint %s containers %s lack pod-a/pod-b" % (e["name"], e.get("containers")))
            if e.get("state") != "enforced":
                bad.append("endpoint %s state %s (%s)" % (e["name"], e.get("state"), e.get("error")))
            if (e.get("labels") or {}).get("app") != "api":
                bad.append("endpoint %s labels %s" % (e["name"], e.get("labels")))
            if self.ip(20) not in (e.get("addresses") or []):
                bad.append("endpoint %s addresses %s" % (e["name"], e.get("addresses")))
            return bad
        bad = eventually(pod_problems, timeout=self.a.converge_s, interval=0.2)
        self.r.no_problems(bad or [], "pod")
        eps = self.segd.endpoints()
        for e in eps.values():
            if want & {c.get("id") for c in e.get("containers") or []}:
                print("    pod endpoint: name %s id %s containers %s" % (
                    e["name"], (e.get("id") or "")[:12],
                    [c.get("name") for c in e.get("containers") or []]), flush=True)
        # Real traffic: the pod is app=api (pod-a serves 8080, pod-b 5432, one address).
        self.live["pod"] = ("api", self.ip(20))
        self.exec_in["pod"] = "pod-a"
        self.matrix_ok("pod as app=api")
        # Pod removed: its endpoint goes, its address leaves db's sets.
        self.eng.pod_rm("pod")
        self.live.pop("pod")
        bad = eventually(lambda: [e["name"] for e in self.segd.endpoints().values()
                                  if want & {c.get("id") for c in e.get("containers") or []}],
                         timeout=self.a.converge_s, interval=0.2)
        self.r.check(not bad, "pod removed but endpoints remain: %s" % bad)
        bad = eventually(lambda: self.ip(20) in self.peer_sets("db"), timeout=3)
        self.r.check(not bad, "removed pod's %s still in db's sets" % self.ip(20))

    def t_joiner(self):
        """--network container:api joins api's netns: still one endpoint, and leaving keeps it."""
        side = self.eng.run("side", labels=labels_for("api"), network="container:" + self.n("api"))

        def side_problems():
            eps = self.segd.endpoints()
            bad = []
            if self.n("side") in eps:
                bad.append("container:api joiner has its own endpoint %s" % self.n("side"))
            api = eps.get(self.n("api")) or {}
            ids = {c.get("id") for c in api.get("containers") or []}
            if side.id not in ids:
                bad.append("api endpoint containers %s lack side" % [c.get("name") for c in api.get("containers") or []])
            if api.get("state") != "enforced":
                bad.append("api state %s" % api.get("state"))
            return bad
        bad = eventually(side_problems, timeout=self.a.converge_s, interval=0.2)
        self.r.no_problems(bad or [], "--network container:api")
        self.eng.rm("side")

        def side_gone():
            api = self.segd.endpoints().get(self.n("api")) or {}
            ids = [c.get("id") for c in api.get("containers") or []]
            bad = []
            if side.id in ids:
                bad.append("side still listed in api's containers")
            if api.get("state") != "enforced":
                bad.append("api state %s after side left" % api.get("state"))
            return bad
        bad = eventually(side_gone, timeout=self.a.converge_s, interval=0.2)
        self.r.no_problems(bad or [], "side removed")
        self.r.check(self.eng.nft_table("api") is not None, "api's table gone after side left its netns")
        self.matrix_ok("after the container:api joiner left")

    def t_compose(self):
        """A Compose project label names the namespace when segd.io/namespace is absent;
        segd.io/namespace wins when both are there. Both containers are app=api: only the
        one in namespace shop may reach db (shop's db-ingress admits app=api of shop)."""
        lab = dict(labels_for("api"), **{COMPOSE_LABEL: COMPOSE_NS})
        only_compose = {k: v for k, v in lab.items() if k != "segd.io/namespace"}
        self.eng.run("cmp", labels=only_compose, network=self.net, ip=self.ip(21), serve=PORTS)
        self.eng.run("cmpboth", labels=lab, network=self.net, ip=self.ip(22), serve=PORTS)
        want = {"cmp": COMPOSE_NS, "cmpboth": NS}

        def problems():
            eps = self.segd.endpoints()
            bad = []
            for short, ns in want.items():
                ep = eps.get(self.n(short))
                if ep is None:
                    bad.append("%s: no endpoint" % short)
                    continue
                if ep.get("namespace") != ns:
                    bad.append("%s (labels %s): namespace %s, want %s" % (
                        short, sorted(self.eng.containers[self.n(short)].labels), ep.get("namespace"), ns))
                if ep.get("state") != "enforced":
                    bad.append("%s: state %s (%s)" % (short, ep.get("state"), ep.get("error")))
            return bad
        bad = eventually(problems, timeout=self.a.converge_s, interval=0.2)
        self.r.no_problems(bad or [], "compose project namespace")
        db = self.live["db"][1]
        cmp, both = "tcp:%s:8080" % self.ip(21), "tcp:%s:8080" % self.ip(22)

        def traffic(cmp_open):
            want = {("cmp", "tcp:%s:5432" % db): False, ("cmpboth", "tcp:%s:5432" % db): True,
                    ("web", cmp): cmp_open, ("web", both): True,
                    ("intruder", cmp): cmp_open, ("intruder", both): False}
            plan = {}
            for src, t in want:
                plan.setdefault(src, []).append(t)
            got = self.eng.probe_matrix(plan, self.a.timeout_ms)
            return ["%s -> %s: expected %s, got %s" % (src, t, "allow" if exp else "deny",
                                                      "allow" if got[src][t] else "deny")
                    for (src, t), exp in sorted(want.items()) if got[src][t] != exp]
        bad = eventually(lambda: traffic(True), timeout=3, interval=0.3)
        self.r.no_problems(bad or [], "traffic of the compose containers (%s open)" % COMPOSE_NS)
        # A policy of namespace COMPOSE_NS applies to cmp alone.
        deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "deny-ingress", "namespace": COMPOSE_NS},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
        p = self.segd.apply_objects([deny], name="compose.json")
        if self.r.check(p.returncode == 0, "apply %s/deny-ingress: %s" % (COMPOSE_NS, (p.stderr or p.stdout).strip())):
            bad = eventually(lambda: traffic(False), timeout=3, interval=0.3)
            self.r.no_problems(bad or [], "%s/deny-ingress applied" % COMPOSE_NS)
            p = self.segd.ctl("delete", "networkpolicy", "deny-ingress", "-n", COMPOSE_NS)
            self.r.check(p.returncode == 0, "delete %s/deny-ingress: %s" % (COMPOSE_NS, (p.stderr or p.stdout).strip()))
        self.eng.rm("cmp")
        self.eng.rm("cmpboth")
        self.wait_endpoints(absent=["cmp", "cmpboth"], present=list(self.live), what="compose containers removed")

    def t_api_restart(self):
        docker = self.a.engine == "docker"
        if docker:
            # "late" will die while dockerd is away and be started again by dockerd when it
            # returns (--restart always), in a new sandbox: a container that is gone and back.
            self.run_app("late", "web", 14, extra=("--restart", "always"))
            self.wait_endpoints(present=["late"], what="late (restart always) before the outage")
            late_netns = self.eng.netns_path("late")
        old_pid = self.eng.service_pid()
        e0 = self.segd.status().get("engine") or {}
        self.eng.stop_service()
        self.r.check(not self.eng.api_answers(), "API service still answers after stop")
        if docker:
            # While dockerd is away (containerd keeps the containers): intruder dies for good,
            # late dies and comes back with dockerd; the others are still enforced (probes
            # through containerd).
            self.eng.kill_task("intruder")
            self.eng.kill_task("late")
            late = self.live.pop("late")
            self.live.pop("intruder")
            self.matrix_ok("dockerd down: enforcement unchanged")
        else:
            # While the engine API is down: one container starts (the hook still reaches segd),
            # one goes away.
            self.run_app("late", "web", 14)
            if self.hooked:
                ov = {("late", d): False for d in self.live if d != "late"}
                ov.update({(s, "late"): False for s in self.live if s != "late"})
                bad = self.matrix_problems(overrides=ov)
                self.r.no_problems(bad, "engine API down: new container must be default-deny (labels unknown)")
            self.eng.rm("intruder")
            self.live.pop("intruder")
        # Not a fixed second of downtime: segd must have seen the engine go and tried again at
        # least twice, each time with a container list that failed (which must not read as an
        # empty one), before the API comes back.
        def retried():
            if not self.segd.alive():
                return None
            e = self.segd.status().get("engine") or {}
            ok = (not e.get("connected") and e.get("connects", 0) >= e0.get("connects", 0) + 2 and
                  e.get("lists", 0) >= e0.get("lists", 0) + 2)
            return not ok and "segd did not retry the engine twice while it was down: %s -> %s" % (
                json.dumps(e0, sort_keys=True), json.dumps(e, sort_keys=True))
        bad = eventually(retried, timeout=15, interval=0.1)
        self.r.check(not bad, bad)
        self.r.check(self.segd.alive(), "segd died while the engine API was down:\n" + self.segd.log_tail())
        self.eng.start_service()
        new_pid = self.eng.service_pid()
        if docker:
            self.live["late"] = late
        dt = self.wait_endpoints(present=list(self.live), absent=["intruder"], what="after API restart")
        print("    API service pid %s -> %s; converged %.2fs after it answered again" % (
            old_pid, new_pid, dt), flush=True)
        if docker:
            self.eng.rm("intruder")
            now = self.eng.netns_path("late")
            self.r.check(now and now != late_netns, "late restarted by dockerd: sandbox %s, before %s" % (now, late_netns))
            ep = self.segd.endpoints().get(self.n("late")) or {}
            self.r.check(same_netns(ep.get("netns"), now),
                         "late's endpoint netns %s is not the namespace of dockerd's SandboxKey %s" % (
                             ep.get("netns"), now))
        self.matrix_ok("after API restart")
        bad = eventually(lambda: self.ip(13) in self.peer_sets("api") or self.ip(13) in self.peer_sets("db"),
                         timeout=3)
        self.r.check(not bad, "removed intruder's %s still in a peer set" % self.ip(13))
        # And events flow again: a container started now is picked up.
        self.run_app("after", "api", 16)
        t1 = time.monotonic()
        self.wait_endpoints(present=["after"], what="container started after the API restart")
        print("    container started after the restart enforced in %.2fs" % (time.monotonic() - t1), flush=True)
        self.matrix_ok("with a container started after the API restart")
        self.rules_in_sync(self.live, "after API restart")

    def t_segd_kill(self):
        if self.a.engine == "docker" and not self.a.runtime:
            # Not a skip: without segd-runc nothing isolates a Docker container started while
            # segd is down, which is what this scenario exists to prove.
            return self.r.check(False, "needs segd-runc (--runtime; BUILD/daemon/segd-runc is "
                                "not built): without segd's hooks a container started while segd "
                                "is down runs open")
        self.segd.kill9()
        tables = {s: self.eng.nft_table(s) for s in self.live}
        missing = [s for s, t in tables.items() if t is None]
        self.r.check(not missing, "tables gone after kill -9: %s" % missing)
        self.matrix_ok("segd dead: enforcement unchanged", settle=0.1)
        # Containers come and go while segd is down.
        t0 = time.monotonic()
        self.run_app("x1", "web", 15)
        t_run = time.monotonic() - t0
        print("    %s run with segd down: %.2fs (the hook's fail-closed path)" % (self.a.engine, t_run), flush=True)
        gone_ip = self.live["late"][1]
        self.eng.rm("late")
        self.live.pop("late")
        if self.hooked:
            self.r.check(self.eng.nft_table("x1") is not None,
                         "container started while segd was down has no table inet segd (hook failed open)")
            ov = {("x1", d): False for d in self.live if d != "x1"}
            ov.update({(s, "x1"): False for s in self.live if s != "x1"})
            self.matrix_ok("segd down: new container is default-deny", overrides=ov, settle=0.1)
        t0 = time.monotonic()
        self.segd.start()
        t_ready = time.monotonic() - t0
        dt = self.wait_endpoints(present=list(self.live), absent=["late"], what="after segd restart")
        print("    segd restart: socket %.2fs, all endpoints enforced %.2fs" % (t_ready, t_ready + dt), flush=True)
        self.matrix_ok("after segd restart")
        bad = eventually(lambda: gone_ip in self.peer_sets("api") or gone_ip in self.peer_sets("db"), timeout=3)
        self.r.check(not bad, "container removed while segd was down: %s still in a peer set" % gone_ip)
        self.rules_in_sync(self.live, "after segd restart")
        self.gone_while_down = gone_ip

    def t_guard_gc(self):
        """The host-side device of the container removed while segd was down ((h)) is gone:
        the guard table segd had on it must go too once segd is back."""
        gone_ip = self.gone_while_down
        if not gone_ip:
            return self.r.check(False, "(h) did not get to remove a container while segd was "
                                "down: nothing to check")
        left = eventually(lambda: E.guard_tables_holding(gone_ip), timeout=self.a.converge_s, interval=0.5)
        if not self.r.check(not left, "guard table(s) %s of the container removed while segd was down "
                            "(own4 %s) still in the host's namespace %.0fs after segd's restart" % (
                                left, gone_ip, self.a.converge_s)):
            self.leaked_guards += left  # deleted at teardown: segd's socket owns them till then

    def t_host(self):
        self.eng.run("hostnet", labels=labels_for("web"), network="host")

        def problems():
            ep = self.segd.endpoints().get(self.n("hostnet"))
            if ep is None:
                return ["no endpoint for the host-network container"]
            if ep.get("state") != "unenforceable":
                return ["state %s, want unenforceable" % ep.get("state")]
            if not ep.get("error"):
                return ["unenforceable without a reason in error"]
            return []
        bad = eventually(problems, timeout=self.a.converge_s, interval=0.2)
        self.r.no_problems(bad or [], "host-network container")
        ep = self.segd.endpoints().get(self.n("hostnet")) or {}
        print("    hostnet: state %s, error %r" % (ep.get("state"), ep.get("error")), flush=True)
        p = T.run(["nft", "list", "table", "inet", "segd"], check=False)
        self.r.check(p.returncode != 0, "a table inet segd appeared in the host's network namespace")
        self.eng.rm("hostnet")
        self.matrix_ok("after the host-network container")

    # ------------------------------------------------------------------ main
    def main(self):
        if not self.set_up():
            return self.r.summary()
        if self.a.engine == "docker":
            restart = ("(g) dockerd restart (live-restore): containers die and come back while it is "
                       "away; reconnect and converge")
        else:
            restart = "(g) podman API service restart: reconnect and converge"
        tests = [("(a) labelled containers, policy web->api:http, api->db:5432", self.t_basic),
                 ("(b) relabel by recreate (same name, same address)", self.t_relabel),
                 ("(c) stop: endpoint and peer address go; start: back", self.t_stop),
                 ("(d) a pod is one endpoint", self.t_pod),
                 ("(e) --network container:X joins X's endpoint", self.t_joiner),
                 ("(f) namespace from the Compose project label; segd.io/namespace first", self.t_compose),
                 (restart, self.t_api_restart),
                 ("(h) kill -9 segd while containers come and go", self.t_segd_kill),
                 ("(i) the guard table of a container removed while segd was down goes", self.t_guard_gc),
                 ("(j) host-network container is unenforceable", self.t_host)]
        if self.a.engine == "docker":  # Docker has no pods; --network container:X is (e)
            tests = [t for t in tests if t[1] != self.t_pod]
        try:
            for name, fn in tests:
                if self.a.only and not re.search(self.a.only, name):
                    continue
                if not self.segd.alive() and fn is not self.t_segd_kill:
                    self.r.run(name, lambda: self.r.check(False, "segd is not running; log tail:\n" +
                                                          self.segd.log_tail()))
                    continue
                self.r.run(name, fn)
                if self.r._problems and self.a.keep_log:
                    print("    segd log tail:\n" + self.segd.log_tail(15), flush=True)
        finally:
            self.teardown()
        return self.r.summary()

    def teardown(self):
        E.suite_teardown(self)
        for t in self.leaked_guards:  # the suite leaves nothing behind, even when segd does
            p = T.run(["nft", "delete", "table", "netdev", t], check=False)
            print("# deleted the leaked guard table netdev %s%s" % (t, p.returncode and ": " + p.stderr.strip() or ""),
                  flush=True)


def args():
    ap = E.suite_parser(__doc__)
    ap.add_argument("--engine", choices=["podman", "docker"], default="podman")
    ap.add_argument("--resync-interval", type=int, default=5)
    ap.add_argument("--timeout-ms", type=int, default=500)
    ap.add_argument("--converge-s", type=float, default=15.0)
    ap.add_argument("--deny-action", choices=["drop", "reject"])
    ap.add_argument("--only", help="regex on scenario names")
    return E.suite_args(ap)


if __name__ == "__main__":
    sys.exit(Suite(args()).main())
