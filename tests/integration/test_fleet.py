#!/usr/bin/env python3
"""A fleet (docs/fleet.md): three segd nodes sharing a real 3-member etcd cluster.

    test_fleet.py [--build DIR] [--segd BIN] [--segctl BIN] [--probe BIN] [--only REGEX]
                  [--deny-action drop|reject] [--timeout-ms MS] [--keep-log]

etcd (tests/lib/etcd.py): three members on loopback, plain HTTP; a second cluster with TLS and
client certificates for the last scenario. Nodes n1, n2, n3 (`segd --store etcd:URL,URL,URL
--node nN --node-ttl 5`, each with its own state dir and socket) register endpoints in real
network namespaces by hand, all on one bridge (tests/lib/topology.py), so packets between
endpoints of different nodes are real:

    n1: a1 (app=a)     n2: b2 (app=b), c2 (app=c)     n3: d3 (app=d)
    later: e3 (app=e) on n3, f1 (app=b) on n1 while etcd is down, t1 on a node of the TLS cluster

all in Kubernetes namespace `fleet`, serving TCP and UDP on 80 and 81, IPv4 and IPv6. Every
scenario proves its point with packets (segd-probe) before and after. Denied flows are
rejected (--deny-action reject unless told otherwise): a refused probe answers at once, so
the suite stays short. Scenarios run in order, each on what the previous one left; PASS/FAIL
per scenario, then `N passed, N failed`.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import topology as T  # noqa: E402
import etcd as E  # noqa: E402
from topology import check_flows, flows, eventually  # noqa: E402
from test_netns import common_args, np  # noqa: E402
from test_restart import GapProber  # noqa: E402

NS = "fleet"
TTL = 5
NODES = ("n1", "n2", "n3")
HOME = {"a1": "n1", "b2": "n2", "c2": "n2", "d3": "n3"}  # endpoint -> node
LABELS = {"a1": "a", "b2": "b", "c2": "c", "d3": "d", "e3": "e", "f1": "b", "t1": "t"}

# b accepts only a; d accepts only b (tests a-c); a accepts only e (test b on)
P_B = np("b-from-a", NS, {"podSelector": {"matchLabels": {"app": "b"}},
                          "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}],
                          "policyTypes": ["Ingress"]})
P_D = np("d-from-b", NS, {"podSelector": {"matchLabels": {"app": "d"}},
                          "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "b"}}}]}],
                          "policyTypes": ["Ingress"]})
P_A = np("a-from-e", NS, {"podSelector": {"matchLabels": {"app": "a"}},
                          "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "e"}}}]}],
                          "policyTypes": ["Ingress"]})


def toggle(port):
    """The two versions of test d: d also accepts a, on one port."""
    return np("d-toggle", NS, {"podSelector": {"matchLabels": {"app": "d"}},
                               "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}],
                                            "ports": [{"port": port, "protocol": "TCP"}]}],
                               "policyTypes": ["Ingress"]})


STORE_ERROR = re.compile(r"etcd|store|unavailable|unreachable|503|connect|timed out|not answer",
                         re.I)


def api(segd, method, path, body=None, timeout=10):
    """(status, decoded JSON) of one request on segd's socket (HTTP/1.0, as segctl)."""
    data = b"" if body is None else json.dumps(body).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(segd.socket)
        head = "%s %s HTTP/1.0\r\nHost: segd\r\n" % (method, path)
        if body is not None:
            head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
        s.sendall(head.encode() + b"\r\n" + data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    hdr, _, payload = out.partition(b"\r\n\r\n")
    try:
        return int(hdr.split()[1]), json.loads(payload or b"{}")
    except (IndexError, ValueError):
        return 0, {"raw": out[:300].decode(errors="replace")}


class Suite:
    def __init__(self, args):
        self.a = args
        self.r = T.Results()
        self.topo = None
        self.etcd = None
        self.nodes = {}
        self.tls = None
        self.extra = []  # segds of the TLS scenario

    # ------------------------------------------------------------------ plumbing
    def node_args(self, name, store, tls_args=()):
        return ["--store", store, "--node", name, "--node-ttl", str(TTL)] + list(tls_args)

    def new_node(self, name, store, tls_args=()):
        s = T.Segd(self.a.segd, self.a.segctl, deny_action=self.a.deny_action,
                   extra_args=self.node_args(name, store, tls_args))
        s.node = name
        return s

    def fleet(self, node):
        """GET /v1/fleet of a node (a dict), {} when it does not answer."""
        try:
            st, body = api(self.nodes.get(node) or node, "GET", "/v1/fleet")
        except OSError as e:
            return {"error": "unreachable: %s" % e}
        return body if st == 200 else {"http": st, "body": body}

    def fleet_nodes(self, node):
        return {n.get("name"): n for n in self.fleet(node).get("nodes") or []}

    def endpoints(self, node):
        """{qualified name: item} of `segctl get endpoints -A -o json` on a node: local ones
        by name, remote ones as NODE/NAME (whether segd writes the name qualified or not)."""
        out = {}
        for it in self.nodes[node].items("endpoints"):
            name = it.get("name", "")
            if (it.get("remote") or it.get("state") == "remote") and "/" not in name:
                name = "%s/%s" % (it.get("node"), name)
            out[name] = it
        return out

    def peers_problems(self, node, want, absent=()):
        """Problems while node's endpoints lack one of want ({qualified name: labels or None})
        or still have one of absent."""
        try:
            eps = self.endpoints(node)
        except RuntimeError as e:
            return ["get endpoints on %s: %s" % (node, e)]
        bad = []
        for name, labels in want.items():
            it = eps.get(name)
            if it is None:
                bad.append("%s: %s missing (has %s)" % (node, name, sorted(eps)))
            elif labels is not None and it.get("labels") != labels:
                bad.append("%s: %s labels %s, want %s" % (node, name, it.get("labels"), labels))
            elif "/" in name and it.get("state") != "remote":
                bad.append("%s: %s state %s, want remote" % (node, name, it.get("state")))
        bad += ["%s: %s still there" % (node, n) for n in absent if n in eps]
        return bad

    def wait_peers(self, node, want, absent=(), timeout=10.0):
        return eventually(lambda: self.peers_problems(node, want, absent), timeout, 0.1)

    def fleet_problems(self, viewer, want, connected=True):
        """Problems while viewer's GET /v1/fleet does not show want ({node: state})."""
        f = self.fleet(viewer)
        bad = []
        if connected is not None and f.get("connected") is not connected:
            bad.append("%s: connected %s (error %s)" % (viewer, f.get("connected"), f.get("error")))
        have = {n.get("name"): n.get("state") for n in f.get("nodes") or []}
        for n, st in want.items():
            if have.get(n) != st:
                bad.append("%s sees %s %s, want %s" % (viewer, n, have.get(n), st))
        return bad

    def wait_fleet(self, viewer, want, connected=True, timeout=15.0):
        return eventually(lambda: self.fleet_problems(viewer, want, connected), timeout, 0.1)

    def behind(self, viewer, rev, nodes=NODES):
        """Nodes that viewer's GET /v1/fleet shows below revision rev (or not ready)."""
        fn = self.fleet_nodes(viewer)
        bad = []
        for n in nodes:
            got = fn.get(n) or {}
            er = got.get("enforced_revision")
            if not isinstance(er, int) or er < rev or got.get("state") != "ready":
                bad.append("%s sees %s at %s (%s), want >= %d" % (viewer, n, er, got.get("state"), rev))
        return bad

    def apply(self, node, objs, name="apply.json", timeout=60):
        """segctl apply on node: (CompletedProcess, revision or None). The revision is the
        one apply prints, else the newest one the node knows right after it (GET /v1/fleet:
        nothing else writes policies meanwhile)."""
        s = self.nodes[node]
        path = os.path.join(s.workdir, name)
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": list(objs)}, f)
        p = s.ctl("apply", "-f", path, timeout=timeout)
        rev = None
        if p.returncode == 0:
            m = re.search(r"revision[\" :=]+(\d+)", p.stdout + p.stderr)
            rev = int(m.group(1)) if m else self.fleet(node).get("revision")
        return p, rev

    def flows_ok(self, spec, what):
        return self.r.no_problems(check_flows(self.topo, spec, self.a.timeout_ms), what)

    def f(self, srcs, dsts, expect, protos=("tcp", "udp"), ports=(80,), families=(4, 6)):
        return flows(srcs, dsts, protos, ports, families, expect)

    def add_endpoint(self, node, ep):
        p = self.nodes[node].endpoint_add(ep, self.topo.endpoints[ep].netns, NS,
                                          {"app": LABELS[ep]})
        if p.returncode != 0:
            raise RuntimeError("segctl endpoint add %s on %s: %d %s" % (ep, node, p.returncode,
                                                                      p.stderr))

    def new_netns(self, ep):
        self.topo.add_endpoint(ep)
        self.topo.start_server(ep)

    def all_peers(self, eps):
        """{node: {qualified name: labels}}: every endpoint of eps as every node sees it."""
        out = {}
        for n in self.nodes:
            out[n] = {(ep if HOME[ep] == n else "%s/%s" % (HOME[ep], ep)): {"app": LABELS[ep]}
                      for ep in eps}
        return out

    # ------------------------------------------------------------------ set-up
    def setup(self):
        t0 = time.monotonic()
        self.etcd = E.EtcdCluster(members=3)
        print("# etcd: 3 members healthy in %.2fs, %s" % (time.monotonic() - t0, self.etcd.urls()),
              flush=True)
        self.topo = T.Topology(self.a.probe)
        for ep in HOME:
            self.new_netns(ep)
        store = self.etcd.store_arg()
        for n in NODES:
            self.nodes[n] = self.new_node(n, store)
            self.nodes[n].start()
        for ep, n in HOME.items():
            self.add_endpoint(n, ep)
        bad = self.wait_fleet("n1", {n: "ready" for n in NODES})
        if bad:
            raise RuntimeError("fleet not ready: %s" % bad)
        for n, want in self.all_peers(HOME).items():
            bad = self.wait_peers(n, want)
            if bad:
                raise RuntimeError("endpoints not shared: %s" % bad)
        print("# fleet of 3 ready, every endpoint a peer everywhere, in %.2fs" % (
            time.monotonic() - t0), flush=True)

    # ------------------------------------------------------------------ a
    def t_apply_everywhere(self):
        """A policy applied on n1 is enforced on n2 and n3 when segctl apply returns."""
        self.flows_ok(self.f(["d3", "c2"], ["b2"], True) + self.f(["a1", "c2"], ["d3"], True),
                      "before: no policy")
        p, rev = self.apply("n1", [P_B, P_D])
        if not self.r.check(p.returncode == 0, "apply on n1: %d %s" % (p.returncode, p.stderr)):
            return
        # no waiting: apply returned, so every node enforces it
        self.flows_ok(self.f(["d3", "c2"], ["b2"], False) + self.f(["a1"], ["b2"], True) +
                      self.f(["a1", "c2"], ["d3"], False) + self.f(["b2"], ["d3"], True),
                      "when apply on n1 returned (b2 on n2, d3 on n3)")
        if not self.r.check(isinstance(rev, int) and rev > 0, "no revision for the apply: %r" % rev):
            return
        # n1's view is what segctl waited on: exact now; the others learn n1's status (and
        # each other's) through their watches, a moment later
        self.r.no_problems(self.behind("n1", rev), "when apply returned")
        for viewer in ("n2", "n3"):
            bad = eventually(lambda: self.behind(viewer, rev), 3.0, 0.1)
            self.r.no_problems(bad, "3 s after the apply")
        for n in ("n2", "n3"):
            names = sorted(it["metadata"]["name"] for it in self.nodes[n].items("networkpolicies"))
            self.r.check(names == ["b-from-a", "d-from-b"], "policies on %s: %s" % (n, names))
        stored = self.etcd.get_json("/segd/policy/NetworkPolicy/%s/b-from-a" % NS)
        self.r.check(stored and stored.get("node") == "n1" and
                     stored.get("object", {}).get("spec") == P_B["spec"],
                     "etcd's /segd/policy/NetworkPolicy/%s/b-from-a: %s" % (NS, stored))
        p = self.nodes["n2"].ctl("get", "nodes")
        self.r.check(p.returncode == 0 and all(re.search(r"^%s\s+ready\s" % n, p.stdout, re.M)
                                               for n in NODES),
                     "segctl get nodes on n2: %d %r %r" % (p.returncode, p.stdout, p.stderr))

    # ------------------------------------------------------------------ b
    def t_remote_endpoint(self):
        """An endpoint added on n3 becomes a peer on n1: a's allow rule for app=e lets it in."""
        self.new_netns("e3")
        HOME["e3"] = "n3"
        p, _ = self.apply("n1", [P_A], "a.json")
        if not self.r.check(p.returncode == 0, "apply a-from-e: %s" % p.stderr):
            return
        self.flows_ok(self.f(["e3", "d3", "b2"], ["a1"], False), "before e3 is registered")
        self.add_endpoint("n3", "e3")
        t0 = time.monotonic()
        bad = self.wait_peers("n1", {"n3/e3": {"app": "e"}})
        if not self.r.check(not bad, "n3/e3 not a peer on n1 after 10 s: %s" % bad):
            return
        print("    n3/e3 listed on n1 %.2fs after endpoint add on n3" % (time.monotonic() - t0),
              flush=True)
        it = self.endpoints("n1")["n3/e3"]
        self.r.check(it.get("node") == "n3" and it.get("remote") is True,
                     "n3/e3 on n1: %s" % it)
        addrs = set(it.get("addresses") or [])
        want = {str(self.topo.endpoints["e3"].v4), str(self.topo.endpoints["e3"].v6)}
        self.r.check(want <= addrs, "n3/e3's addresses on n1: %s, want %s" % (sorted(addrs), sorted(want)))
        self.flows_ok(self.f(["e3"], ["a1"], True) + self.f(["d3", "b2"], ["a1"], False),
                      "e3 a peer on n1")
        p = self.nodes["n1"].ctl("get", "endpoints", "-A")
        self.r.check(p.returncode == 0 and re.search(r"\bNODE\b", p.stdout) and
                     re.search(r"n3/e3", p.stdout), "get endpoints -A on n1: %r" % p.stdout)

    # ------------------------------------------------------------------ c
    def t_relabel(self):
        """A relabel on n2 changes n1's verdict."""
        self.flows_ok(self.f(["c2"], ["a1"], False), "before: c2 is app=c")
        p = self.nodes["n2"].endpoint_label("c2", {"app": "e"})
        if not self.r.check(p.returncode == 0, "endpoint label on n2: %s" % p.stderr):
            return
        bad = self.wait_peers("n1", {"n2/c2": {"app": "e"}})
        self.r.check(not bad, "relabel not seen on n1: %s" % bad)
        self.flows_ok(self.f(["c2"], ["a1"], True), "c2 relabelled app=e on n2")
        p = self.nodes["n2"].endpoint_label("c2", {"app": "c"})
        self.r.check(p.returncode == 0, "endpoint label back: %s" % p.stderr)
        bad = self.wait_peers("n1", {"n2/c2": {"app": "c"}})
        self.r.check(not bad, "relabel back not seen on n1: %s" % bad)
        self.flows_ok(self.f(["c2"], ["a1"], False), "c2 relabelled back app=c")

    # ------------------------------------------------------------------ hostile value
    def t_hostile_value(self):
        """A policy value in etcd that is not valid (not written by segd) changes nothing on
        any node; each shows the key and the error in segctl status."""
        key = "/segd/policy/NetworkPolicy/%s/evil" % NS
        # would open a to everyone if taken: an allow-all ingress rule with a port out of range
        evil = np("evil", NS, {"podSelector": {"matchLabels": {"app": "a"}},
                               "ingress": [{"ports": [{"port": 70000, "protocol": "TCP"}]}],
                               "policyTypes": ["Ingress"]})
        self.etcd.put(key, {"node": "n9", "object": evil})
        self.etcd.put("/segd/policy/NetworkPolicy/%s/garbage" % NS, "{not json")

        def not_shown():
            return [n for n in NODES if "evil" not in self.nodes[n].ctl("status").stdout +
                    self.nodes[n].ctl("status", "-o", "json").stdout]
        def not_counted():  # the daemon's side: GET /v1/fleet counts them
            return ["%s: %s" % (n, (self.fleet(n).get("counters") or {}).get("bad_values"))
                    for n in NODES if not (self.fleet(n).get("counters") or {}).get("bad_values", 0) >= 2]
        bad = eventually(not_counted, 10.0, 0.1)
        self.r.check(not bad, "counters.bad_values of GET /v1/fleet below 2: %s" % bad)
        bad = eventually(not_shown, 3.0, 0.2)
        self.r.check(not bad, "the invalid key not shown in segctl status on %s" % bad)
        self.flows_ok(self.f(["d3", "b2"], ["a1"], False, ports=(80, 81)), "the invalid policy changed nothing")
        for n in NODES:
            names = sorted(it["metadata"]["name"] for it in self.nodes[n].items("networkpolicies"))
            self.r.check("evil" not in names and "garbage" not in names, "policies on %s: %s" % (n, names))
            self.r.check(self.nodes[n].alive(), "%s died of the invalid values" % n)
        self.etcd.delete(key)
        self.etcd.delete("/segd/policy/NetworkPolicy/%s/garbage" % NS)

    # ------------------------------------------------------------------ d
    def t_leader_kill(self):
        """100 applies (two versions in turn, on n1, n2, n3 in turn) while etcd's leader is
        killed twice: every acknowledged apply is enforced everywhere, the last one wins, and a
        must-deny pair never connects."""
        denied = [("c2", "d3", "tcp", 80, 4), ("c2", "d3", "tcp", 81, 6), ("d3", "b2", "tcp", 80, 4),
                  ("d3", "b2", "udp", 80, 6), ("e3", "d3", "tcp", 81, 4)]
        allowed = [("b2", "d3", "tcp", 80, 4), ("a1", "b2", "tcp", 81, 6)]
        prober = GapProber(self.topo, denied, allowed, self.a.timeout_ms)
        prober.start()
        self.r.check(prober.wait_rounds(1), "prober made no round: %s" % prober.errors[:3])
        acked, retries, other_errors, killed, messages = [], 0, [], [], []
        versions = (80, 81)
        deadline = time.monotonic() + 120
        t0 = time.monotonic()
        i = 0
        while i < 100 and time.monotonic() < deadline:
            node = NODES[i % 3]
            port = versions[i % 2]
            s = self.nodes[node]
            path = os.path.join(s.workdir, "toggle.json")
            with open(path, "w") as fh:
                json.dump(toggle(port), fh)
            proc = subprocess.Popen([s.segctl_bin, "--socket", s.socket, "apply", "-f", path],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if i in (25, 75) and i not in [k[0] for k in killed]:  # while this apply is under way
                lead = self.etcd.leader()
                if lead is not None:
                    self.etcd.kill(lead, signal.SIGKILL)
                    killed.append((i, lead))
            out, err = proc.communicate(timeout=90)
            if proc.returncode != 0:
                messages.append("apply %d on %s: %d %s" % (i, node, proc.returncode, err.strip()[:200]))
                if STORE_ERROR.search(out + err):
                    retries += 1
                else:
                    other_errors.append("apply %d on %s: %d %s" % (i, node, proc.returncode, err.strip()))
                continue  # the same apply again
            m = re.search(r"revision[\" :=]+(\d+)", out + err)
            rev = int(m.group(1)) if m else self.fleet(node).get("revision")
            acked.append((i, node, port, rev))
            # segctl returned: every live node enforces rev (as its node saw: what it waited on)
            behind = self.behind(node, rev) if isinstance(rev, int) else ["no revision"]
            if behind:
                other_errors.append("apply %d (rev %s) acknowledged: %s" % (i, rev, behind))
            if i % 5 == 0:  # the packets agree with the acknowledged version
                got = self.topo.probe("a1", [self.topo.endpoints["d3"].target("tcp", 4, p)
                                             for p in versions], self.a.timeout_ms)
                want = [p == port for p in versions]
                if list(got.values()) != want:
                    other_errors.append("apply %d (port %d) acknowledged: a1->d3 80,81 %s" % (
                        i, port, list(got.values())))
            if i == 50 and killed:  # the first victim back before the second kill
                self.etcd.start(killed[0][1])
            i += 1
        for _, m in killed:
            if m not in self.etcd.running():
                self.etcd.start(m, wait=False)
        self.etcd.wait_healthy()
        prober.stop()
        print("    %d applies acknowledged in %.1fs, %d retried after a store error, leader kills "
              "%s; prober %d rounds" % (len(acked), time.monotonic() - t0, retries, killed,
                                         prober.rounds), flush=True)
        for msg in messages[:6]:
            print("      " + msg, flush=True)
        self.r.check(len(acked) == 100, "only %d of 100 applies acknowledged in 120 s" % len(acked))
        self.r.check(len(killed) == 2, "leader kills: %s" % killed)
        self.r.no_problems(other_errors, "during the applies")
        revs = [a[3] for a in acked]
        self.r.check(all(isinstance(x, int) for x in revs) and revs == sorted(revs),
                     "acknowledged revisions go backwards: %s" % revs)
        self.r.check(not prober.violations, "must-deny flows connected: %s" % prober.violations[:5])
        self.r.check(not prober.lost, "allowed flows lost: %s" % prober.lost[:5])
        self.r.check(not prober.errors, "prober errors: %s" % prober.errors[:3])
        if not acked:
            return
        last_port, last_rev = acked[-1][2], acked[-1][3]
        stored = self.etcd.get_json("/segd/policy/NetworkPolicy/%s/d-toggle" % NS) or {}
        self.r.check(stored.get("object", {}).get("spec") == toggle(last_port)["spec"],
                     "etcd holds %s, the last acknowledged is port %d" % (stored, last_port))
        for n in NODES:
            got = [it["spec"] for it in self.nodes[n].items("networkpolicies")
                   if it["metadata"]["name"] == "d-toggle"]
            self.r.check(got == [toggle(last_port)["spec"]], "d-toggle on %s: %s" % (n, got))
            if isinstance(last_rev, int):
                self.r.no_problems(eventually(lambda: self.behind(n, last_rev), 3.0, 0.1),
                                   "after the applies")
        self.flows_ok(self.f(["a1"], ["d3"], True, ("tcp",), (last_port,)) +
                      self.f(["a1"], ["d3"], False, ("tcp",), (161 - last_port,)) +
                      self.f(["c2"], ["d3"], False, ports=(80, 81)),
                      "final state: the last acknowledged version (port %d)" % last_port)
        p = self.nodes["n1"].ctl("delete", "networkpolicy", "d-toggle", "-n", NS)
        self.r.check(p.returncode == 0, "delete d-toggle: %s" % p.stderr)

    # ------------------------------------------------------------------ e
    def matrix(self, eps):
        plan = {s: [self.topo.endpoints[d].target(pr, fam, 80) for d in eps if d != s
                    for pr in ("tcp", "udp") for fam in (4, 6)] for s in eps}
        return self.topo.probe_matrix(plan, self.a.timeout_ms)

    def t_etcd_down(self):
        """All of etcd stopped: every verdict stays on every node, an apply fails and changes
        nothing, a local endpoint added meanwhile is isolated by the cached policies; etcd
        back, the fleet converges (the new endpoint becomes a peer elsewhere)."""
        eps = ["a1", "b2", "c2", "d3", "e3"]
        before = self.matrix(eps)
        self.new_netns("f1")
        HOME["f1"] = "n1"
        self.etcd.stop_all()
        t0 = time.monotonic()
        bad = eventually(lambda: [n for n in NODES if self.fleet(n).get("connected") is not False],
                         10.0, 0.1)
        self.r.check(not bad, "nodes still connected with etcd stopped: %s" % bad)
        print("    every node saw etcd gone in %.2fs" % (time.monotonic() - t0), flush=True)
        for n in NODES:
            f = self.fleet(n)
            self.r.check(f.get("error"), "%s: no error with etcd down: %s" % (n, f))
            me = self.fleet_nodes(n).get(n) or {}
            self.r.check(me.get("state") == "disconnected", "%s's own state with etcd down: %s" % (n, me))
        st, body = api(self.nodes["n1"], "DELETE", "/v1/fleet/nodes/n3")
        self.r.check(st == 503, "DELETE /v1/fleet/nodes/n3 with etcd down: %d %s" % (st, body))
        after = self.matrix(eps)
        diff = ["%s -> %s: %s then %s" % (s, t, before[s][t], after[s][t])
                for s in before for t in before[s] if before[s][t] != after[s][t]]
        self.r.no_problems(diff, "verdicts changed with etcd down")
        pols = sorted(it["metadata"]["name"] for it in self.nodes["n2"].items("networkpolicies"))
        p, _ = self.apply("n2", [toggle(80)], "down.json", timeout=60)
        self.r.check(p.returncode != 0, "apply with etcd down succeeded: %r" % p.stdout)
        self.r.check(sorted(it["metadata"]["name"] for it in self.nodes["n2"].items("networkpolicies"))
                     == pols, "a failed apply changed the policies on n2")
        # f1 (app=b) on n1 while etcd is down: b-from-a isolates it at once
        self.add_endpoint("n1", "f1")
        self.flows_ok(self.f(["d3", "c2", "b2", "e3"], ["f1"], False) + self.f(["a1"], ["f1"], True),
                      "f1 added on n1 with etcd down: isolated by the cached b-from-a")
        self.flows_ok(self.f(["f1"], ["d3"], False), "f1 unknown to n3 with etcd down")
        after = self.matrix(eps)
        diff = ["%s -> %s: %s then %s" % (s, t, before[s][t], after[s][t])
                for s in before for t in before[s] if before[s][t] != after[s][t]]
        self.r.no_problems(diff, "verdicts changed by the endpoint added with etcd down")
        t0 = time.monotonic()
        self.etcd.restart_all()
        bad = self.wait_peers("n3", {"n1/f1": {"app": "b"}}, timeout=20.0)
        self.r.check(not bad, "f1 not a peer on n3 after etcd came back: %s" % bad)
        bad = self.wait_fleet("n2", {n: "ready" for n in NODES}, timeout=15.0)
        self.r.check(not bad, "the fleet did not converge: %s" % bad)
        print("    converged %.2fs after etcd's restart" % (time.monotonic() - t0), flush=True)
        self.flows_ok(self.f(["f1"], ["d3"], True), "f1 a peer on n3: d-from-b lets it in")
        final = self.matrix(eps)
        diff = ["%s -> %s: %s then %s" % (s, t, before[s][t], final[s][t])
                for s in before for t in before[s] if before[s][t] != final[s][t]]
        self.r.no_problems(diff, "verdicts changed across etcd's restart")

    # ------------------------------------------------------------------ f
    def t_node_killed(self):
        """kill -9 of n2: its endpoints stay peers until its lease expires (TTL 5 s), then
        it is lost; restarted it re-adopts its tables and becomes ready; node delete."""
        self.flows_ok(self.f(["b2"], ["d3"], True), "before: b2 a peer on n3")
        denied = [("d3", "b2", "tcp", 80, 4), ("d3", "b2", "udp", 80, 6), ("c2", "b2", "tcp", 81, 4),
                  ("e3", "b2", "tcp", 80, 6)]
        prober = GapProber(self.topo, denied, [], self.a.timeout_ms)
        prober.start()
        self.r.check(prober.wait_rounds(1), "prober made no round: %s" % prober.errors[:3])
        n2 = self.nodes["n2"]
        n2.kill9()
        t_kill = time.monotonic()
        bad = self.peers_problems("n1", {"n2/b2": {"app": "b"}, "n2/c2": {"app": "c"}})
        self.r.check(not bad, "n2's endpoints gone from n1 at once: %s" % bad)
        self.flows_ok(self.f(["b2"], ["d3"], True, families=(4,)), "n2 dead, its lease alive")
        bad = self.wait_fleet("n1", {"n2": "lost", "n1": "ready", "n3": "ready"}, timeout=TTL + 10.0)
        t_lost = time.monotonic() - t_kill
        self.r.check(not bad, "n2 not lost: %s" % bad)
        self.r.check(t_lost >= TTL - 1.5, "n2 lost %.2fs after the kill, before its TTL" % t_lost)
        print("    n2 lost on n1 %.2fs after kill -9" % t_lost, flush=True)
        p = self.nodes["n1"].ctl("get", "nodes")
        self.r.check(re.search(r"^n2\s+lost\b", p.stdout, re.M), "get nodes on n1: %r" % p.stdout)
        for n in ("n1", "n3"):
            bad = self.wait_peers(n, {}, absent=("n2/b2", "n2/c2"), timeout=3.0)
            self.r.check(not bad, "n2's endpoints after its lease: %s" % bad)
        self.flows_ok(self.f(["b2"], ["d3"], False), "n2 lost: b2 no longer a peer on n3")
        t0 = time.monotonic()
        n2.start()
        self.flows_ok(self.f(["d3", "c2"], ["b2"], False), "n2 restarted: isolation at once")
        bad = self.wait_fleet("n1", {n: "ready" for n in NODES}, timeout=15.0)
        self.r.check(not bad, "n2 not ready again: %s" % bad)
        bad = self.wait_peers("n3", {"n2/b2": {"app": "b"}}, timeout=5.0)
        self.r.check(not bad, "b2 not a peer on n3 again: %s" % bad)
        bad = self.wait_peers("n2", {"n1/a1": {"app": "a"}, "n3/d3": {"app": "d"}}, timeout=5.0)
        self.r.check(not bad, "n2 restarted does not know the other nodes' endpoints: %s" % bad)
        print("    n2 ready %.2fs after its restart" % (time.monotonic() - t0), flush=True)
        self.flows_ok(self.f(["b2"], ["d3"], True) + self.f(["a1"], ["b2"], True) +
                      self.f(["d3"], ["b2"], False), "n2 back")
        for ep in ("b2", "c2"):
            table = self.topo.nft_table(ep) or ""
            self.r.check(re.search(r"^\s*flags .*owner", table, re.M), "%s's table not re-adopted" % ep)
        # node delete: at once on the deleting node, then n2 (running) comes back. n2 is
        # stopped (SIGSTOP) meanwhile, well under its TTL: its next heartbeat would publish it
        # again, so without that the absence could not be seen reliably.
        os.kill(n2.proc.pid, signal.SIGSTOP)
        try:
            p = self.nodes["n1"].ctl("node", "delete", "n2")
            self.r.check(p.returncode == 0, "segctl node delete n2: %d %s" % (p.returncode, p.stderr))
            if "unknown command" in p.stderr:  # the daemon's side still tested, through its API
                st, body = api(self.nodes["n1"], "DELETE", "/v1/fleet/nodes/n2")
                self.r.check(st == 200 and body == {"deleted": "n2"},
                             "DELETE /v1/fleet/nodes/n2: %d %s" % (st, body))
            bad = self.peers_problems("n1", {}, absent=("n2/b2", "n2/c2"))
            self.r.check(not bad, "node delete: n2's endpoints still on n1: %s" % bad)
            self.r.check("n2" not in self.fleet_nodes("n1"), "node delete: n2 still listed on n1")
            bad = self.wait_peers("n3", {}, absent=("n2/b2", "n2/c2"), timeout=3.0)
            self.r.check(not bad, "node delete: n2's endpoints still on n3: %s" % bad)
            left = [k for k in self.etcd.get_prefix("/segd/") if re.match(r"^/segd/(members|nodes|endpoints)/n2(/|$)", k)]
            self.r.check(not left, "node delete left n2's keys: %s" % left)
            self.flows_ok(self.f(["b2"], ["d3"], False, families=(4,)), "n2 deleted: b2 not a peer on n3")
        finally:
            os.kill(n2.proc.pid, signal.SIGCONT)
        t0 = time.monotonic()
        bad = self.wait_fleet("n1", {n: "ready" for n in NODES}, timeout=TTL + 5.0)
        self.r.check(not bad, "n2 (running) did not publish itself again: %s" % bad)
        bad = self.wait_peers("n3", {"n2/b2": {"app": "b"}}, timeout=5.0)
        self.r.check(not bad, "b2 not a peer on n3 after n2 came back: %s" % bad)
        print("    n2 back %.2fs after node delete" % (time.monotonic() - t0), flush=True)
        self.flows_ok(self.f(["b2"], ["d3"], True), "n2 republished")
        p = self.nodes["n1"].ctl("node", "delete", "n7")
        self.r.check(p.returncode == 1 and "unknown command" not in p.stderr,
                     "node delete of an unknown node: %d %r" % (p.returncode, p.stderr))
        st, body = api(self.nodes["n1"], "DELETE", "/v1/fleet/nodes/n7")
        self.r.check(st == 404, "DELETE /v1/fleet/nodes/n7: %d %s" % (st, body))
        prober.stop()
        self.r.check(not prober.violations, "must-deny flows into n2's endpoints connected: %s" %
                     prober.violations[:5])
        self.r.check(not prober.errors, "prober errors: %s" % prober.errors[:3])

    # ------------------------------------------------------------------ g
    def t_tls(self):
        """A TLS cluster with client certificates: a node without the client certificate
        (or with one of another CA) cannot connect and says why; with it, apply works."""
        t0 = time.monotonic()
        self.tls = E.EtcdCluster(members=3, tls=True)
        print("    TLS cluster healthy in %.2fs" % (time.monotonic() - t0), flush=True)
        store = self.tls.store_arg()
        c = self.tls.certs
        cases = {"t-nocert": ["--store-cacert", c.ca[0]],
                 "t-rogue": ["--store-cacert", c.ca[0], "--store-cert", c.rogue_client[0],
                             "--store-key", c.rogue_client[1]],
                 "t-ok": self.tls.segd_tls_args()}
        for name, tls_args in cases.items():
            s = self.new_node(name, store, tls_args)
            self.extra.append(s)
            self.nodes[name] = s
            try:
                s.start()
            except RuntimeError as e:
                self.r.check(False, "%s did not start: %s" % (name, e))
                return
        self.new_netns("t1")
        HOME["t1"] = "t-ok"
        self.add_endpoint("t-ok", "t1")
        bad = self.wait_fleet("t-ok", {"t-ok": "ready"}, timeout=15.0)
        self.r.check(not bad, "t-ok not connected: %s" % bad)
        for name in ("t-nocert", "t-rogue"):
            bad = eventually(lambda: [] if self.fleet(name).get("connected") is False and
                             self.fleet(name).get("error") else [self.fleet(name)], 10.0, 0.1)
            self.r.check(not bad, "%s: %s" % (name, bad))
            # the node retries: the message may change between two looks (read before and after)
            errs = [self.fleet(name).get("error") or ""]
            shown = "".join(p.stdout + p.stderr for p in (self.nodes[name].ctl("status"),
                                                            self.nodes[name].ctl("get", "nodes")))
            errs.append(self.fleet(name).get("error") or "")
            self.r.check(any(e and e in shown for e in errs),
                         "%s: the error %r not in segctl status / get nodes: %r" % (name, errs, shown[-600:]))
            p, _ = self.apply(name, [P_A], "tls.json", timeout=60)
            self.r.check(p.returncode != 0, "%s: apply without a working store succeeded" % name)
            self.r.check(name not in self.fleet_nodes("t-ok"), "%s joined the fleet" % name)
        deny_t = np("t-deny", NS, {"podSelector": {"matchLabels": {"app": "t"}},
                                   "policyTypes": ["Ingress"]})
        self.flows_ok(self.f(["a1", "b2"], ["t1"], True), "before the apply over TLS")
        p, rev = self.apply("t-ok", [deny_t], "tls.json")
        self.r.check(p.returncode == 0, "apply on t-ok: %d %s" % (p.returncode, p.stderr))
        self.flows_ok(self.f(["a1", "b2"], ["t1"], False), "apply over TLS returned")
        stored = self.tls.get_json("/segd/policy/NetworkPolicy/%s/t-deny" % NS)
        self.r.check(stored and stored.get("node") == "t-ok", "t-deny in the TLS etcd: %s" % stored)
        with open(c.client[1]) as fh:
            secret = "".join(fh.read().splitlines()[1:-1])[:40]
        for s in self.extra:
            self.r.check(secret not in (open(s.log_path, errors="replace").read()),
                         "%s logged its client key" % s.node)

    # ------------------------------------------------------------------ main
    def main(self):
        t_start = time.monotonic()
        try:
            self.setup()
        except Exception as e:  # noqa: BLE001
            print("SETUP FAILED: %s" % e)
            for s in self.nodes.values():
                print("--- %s (%s)\n%s" % (s.node, s.log_path, s.log_tail()))
            self.r.failed += 1
            rc = self.r.summary()
            self.close()
            return rc
        tests = [("a: a policy applied on n1 is enforced on n2 and n3 when apply returns",
                  self.t_apply_everywhere),
                 ("b: an endpoint added on n3 becomes a peer on n1", self.t_remote_endpoint),
                 ("c: a relabel on n2 changes n1's verdict", self.t_relabel),
                 ("an invalid policy value in etcd changes nothing", self.t_hostile_value),
                 ("d: etcd's leader killed during 100 applies: none lost, nothing opened",
                  self.t_leader_kill),
                 ("e: all of etcd stopped: verdicts kept, new endpoint isolated, converges after",
                  self.t_etcd_down),
                 ("f: kill -9 of n2: peers until its lease expires, lost, restarted, node delete",
                  self.t_node_killed),
                 ("g: TLS with client certificates", self.t_tls)]
        try:
            for name, fn in tests:
                if self.a.only and not re.search(self.a.only, name):
                    continue
                dead = [n for n, s in self.nodes.items() if not s.alive()]
                if dead:
                    self.r.run(name, lambda: self.r.check(False, "segd %s not running; log tail:\n%s" % (
                        dead, "\n".join(self.nodes[n].log_tail(15) for n in dead))))
                    continue
                self.r.run(name, fn)
        finally:
            if self.a.keep_log:
                for s in self.nodes.values():
                    print("# %s log: %s" % (s.node, s.log_path))
            for s in self.nodes.values():
                s.stop()
        print("# fleet suite: %.1fs" % (time.monotonic() - t_start), flush=True)
        rc = self.r.summary()  # reads the sanitizer reports in the logs: before close()
        self.close()
        return rc

    def close(self):
        for s in self.nodes.values():
            s.close()
        for c in (self.etcd, self.tls):
            if c:
                c.close()
        if self.topo:
            self.topo.close()


if __name__ == "__main__":
    args = common_args(__doc__)
    args.deny_action = args.deny_action or "reject"
    sys.exit(Suite(args).main())
