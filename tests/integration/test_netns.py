#!/usr/bin/env python3
"""Integration test: the real segd in real network namespaces, with real TCP/UDP traffic.

    test_netns.py [--segd BIN] [--segctl BIN] [--probe BIN] [--build DIR] [--keep-log]

Topology (tests/lib/topology.py): a bridge in a private hub netns; endpoints
prod/web (app=web), prod/db (app=db), prod/client (app=client), dev/other (app=client), each
serving TCP and UDP on 80 and 81, IPv4 and IPv6. Scenarios run in order, each building on the
state the previous one left; every scenario prints PASS/FAIL, the last line is
`N passed, N failed`, and the exit status is non-zero if anything failed.
"""

import argparse
import json
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import topology as T  # noqa: E402
from topology import check_flows, flows, eventually  # noqa: E402

EPS = {"web": ("prod", {"app": "web"}), "db": ("prod", {"app": "db"}),
       "client": ("prod", {"app": "client"}), "other": ("dev", {"app": "client"})}
ALL = list(EPS)
PORTS = [("http", 80, "TCP"), ("alt", 81, "TCP"), ("dns-ish", 80, "UDP")]


def np(name, ns, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


DENY_DB = np("deny-db", "prod", {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]})
ALLOW_WEB_81 = np("allow-web-81", "prod", {
    "podSelector": {"matchLabels": {"app": "db"}},
    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                 "ports": [{"port": 81, "protocol": "TCP"}]}],
    "policyTypes": ["Ingress"]})
CLIENT_EGRESS = np("client-egress", "prod", {
    "podSelector": {"matchLabels": {"app": "client"}},
    "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                "ports": [{"port": 80, "protocol": "TCP"}]}],
    "policyTypes": ["Egress"]})
ALLOW_BLUE = np("allow-blue-ns", "prod", {
    "podSelector": {"matchLabels": {"app": "db"}},
    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}],
                 "ports": [{"port": 80, "protocol": "TCP"}]}],
    "policyTypes": ["Ingress"]})
DENY_DEV = np("deny-dev", "dev", {"podSelector": {}, "policyTypes": ["Ingress"]})

BAD_YAML = """\
# one good policy, then a bad one: the whole file must be refused
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: good-one
  namespace: prod
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: bad-one
  namespace: prod
spec:
  podSelector: {}
  ingress:
  - from:
    - ipBlock:
        cidr: 10.0.0.0/33
"""
BAD_YAML_LINE = 21  # the cidr line

BAD_JSON = """{
  "apiVersion": "networking.k8s.io/v1",
  "kind": "NetworkPolicy",
  "metadata": {"name": "bad-json", "namespace": "prod"},
  "spec": {"podSelector": {}
           "policyTypes": ["Ingress"]}
}
"""
BAD_JSON_LINE = 6  # missing comma before this line


class Suite:
    def __init__(self, args):
        self.a = args
        self.r = T.Results()
        self.topo = None
        self.segd = None

    # ----------------------------------------------------------------- helpers
    def apply(self, *objs, name="p.json"):
        p = self.segd.apply_objects(objs, name)
        self.r.check(p.returncode == 0, "segctl apply %s failed (%d): %s" % (
            ",".join(o["metadata"]["name"] for o in objs), p.returncode, (p.stderr or p.stdout).strip()))
        return p.returncode == 0

    def delete_np(self, name, ns):
        p = self.segd.ctl("delete", "networkpolicy", name, "-n", ns)
        self.r.check(p.returncode == 0, "segctl delete networkpolicy %s -n %s failed (%d): %s" % (
            name, ns, p.returncode, (p.stderr or p.stdout).strip()))

    def label(self, ep, set_labels=None, remove=()):
        p = self.segd.endpoint_label(ep, set_labels, remove)
        self.r.check(p.returncode == 0, "segctl endpoint label %s failed (%d): %s" % (
            ep, p.returncode, (p.stderr or p.stdout).strip()))

    def flows_ok(self, spec, what, **kw):
        return self.r.no_problems(check_flows(self.topo, spec, self.a.timeout_ms, **kw), what)

    def endpoint(self, name):
        for it in self.segd.items("endpoints"):
            if it.get("name") == name:
                return it
        return None

    def link_local(self, ep):
        p = T.run(["ip", "-n", self.topo.endpoints[ep].netns, "-6", "-o", "addr", "show", "dev", "eth0",
                   "scope", "link"], check=False)
        m = re.search(r"inet6 (fe80::[0-9a-f:]+)/", p.stdout)
        return m.group(1) if m else None

    def rules_sig(self):
        out = {}
        for ep in EPS:
            p = self.segd.ctl("rules", ep, "-o", "json")
            out[ep] = T.ruleset_signature(json.loads(p.stdout)) if p.returncode == 0 else "error %d" % p.returncode
        return out

    # --------------------------------------------------------------- scenarios
    def setup(self):
        self.topo = T.Topology(self.a.probe)
        for ep in EPS:
            self.topo.add_endpoint(ep)
            self.topo.start_server(ep)
        self.segd = T.Segd(self.a.segd, self.a.segctl, deny_action=self.a.deny_action)
        self.segd.start()
        for ep, (ns, labels) in EPS.items():
            p = self.segd.endpoint_add(ep, self.topo.endpoints[ep].netns, ns, labels, PORTS)
            if p.returncode != 0:
                raise RuntimeError("segctl endpoint add %s: %d %s" % (ep, p.returncode, p.stderr))

    def t_registered(self):
        items = {it["name"]: it for it in self.segd.items("endpoints")}
        self.r.check(sorted(items) == sorted(EPS), "endpoints listed: %s" % sorted(items))
        for ep, (ns, labels) in EPS.items():
            it = items.get(ep)
            if not it:
                continue
            self.r.check(it.get("namespace") == ns, "%s namespace %r" % (ep, it.get("namespace")))
            self.r.check(it.get("labels") == labels, "%s labels %r" % (ep, it.get("labels")))
            e = self.topo.endpoints[ep]
            addrs = set(it.get("addresses") or [])
            self.r.check(str(e.v4) in addrs and str(e.v6) in addrs,
                         "%s addresses %s lack %s or %s" % (ep, sorted(addrs), e.v4, e.v6))
            self.r.check(it.get("state") not in ("error", "unenforceable"),
                         "%s state %s error %s" % (ep, it.get("state"), it.get("error")))

        nss = [it["metadata"]["name"] for it in self.segd.items("namespaces")]
        self.r.check("prod" in nss and "dev" in nss,
                     "get namespaces lacks the implicit namespaces prod/dev: %s" % nss)

    def t_no_policy(self):
        self.flows_ok(flows(ALL, ALL, ports=(80, 81)), "no policy")
        ll = self.link_local("db")
        if ll:
            tg = ["%s:[%s%%eth0]:80" % (pr, ll) for pr in ("tcp", "udp")]
            got = self.topo.probe("web", tg, self.a.timeout_ms)
            self.r.check(all(got.values()), "link-local flows to db fail without policy: %s" % got)

    def t_default_deny_ingress(self):
        if not self.apply(DENY_DB):
            return
        spec = flows(["web", "client", "other"], ["db"], ports=(80, 81), expect=False)
        spec += flows(["db"], ["web", "client", "other"], ports=(80,))      # egress untouched
        spec += flows(["web", "client", "other"], ["web", "client", "other"], ports=(80,))
        self.flows_ok(spec, "deny-db")
        # IPv6 link-local is IPv6 too (RELIABILITY A2): denied the same way.
        ll = self.link_local("db")
        if self.r.check(ll, "db has no fe80:: address"):
            tg = ["%s:[%s%%eth0]:%d" % (pr, ll, po) for pr in ("tcp", "udp") for po in (80, 81)]
            got = self.topo.probe("web", tg, self.a.timeout_ms)
            self.r.check(not any(got.values()), "link-local flows to db allowed: %s" % [t for t, ok in got.items() if ok])
        it = self.endpoint("db") or {}
        self.r.check(it.get("state") == "enforced", "db state %s (error %s)" % (it.get("state"), it.get("error")))
        self.r.check((it.get("isolation") or {}).get("ingress") is True, "db isolation %s" % it.get("isolation"))
        self.r.check("prod/deny-db" in (it.get("policies") or []), "db policies %s" % it.get("policies"))
        # The kernel, seen by an independent observer.
        table = self.topo.nft_table("db")
        self.r.check(table is not None, "nft list table inet segd in db's netns: no table")
        p = self.segd.ctl("rules", "db", "-o", "json")
        self.r.check(p.returncode == 0, "segctl rules db failed: %s" % p.stderr.strip())
        if p.returncode == 0:
            rules = json.loads(p.stdout)
            self.r.check(rules.get("in_sync") is True, "segctl rules db: in_sync=%s" % rules.get("in_sync"))
            self.r.check(rules.get("table") == "inet segd", "segctl rules db: table=%s" % rules.get("table"))

    def t_allow_label_port(self):
        if not self.apply(ALLOW_WEB_81):
            return
        spec = flows(["web"], ["db"], protos=("tcp",), ports=(81,))
        spec += flows(["web"], ["db"], protos=("tcp",), ports=(80,), expect=False)
        spec += flows(["web"], ["db"], protos=("udp",), ports=(80, 81), expect=False)
        spec += flows(["client", "other"], ["db"], ports=(80, 81), expect=False)
        self.flows_ok(spec, "allow-web-81")
        table = self.topo.nft_table("db") or ""
        self.r.check("allow-web-81" in table,
                     "nft table in db's netns has no rule naming prod/allow-web-81 (provenance comment)")

    def t_egress(self):
        if not self.apply(CLIENT_EGRESS):
            return
        spec = flows(["client"], ["web"], protos=("tcp",), ports=(80,))
        spec += flows(["client"], ["web"], protos=("tcp",), ports=(81,), expect=False)
        spec += flows(["client"], ["web"], protos=("udp",), ports=(80,), expect=False)
        spec += flows(["client"], ["other", "db"], ports=(80,), expect=False)
        spec += flows(["web", "other"], ["client"], ports=(80, 81))       # ingress untouched
        spec += flows(["other"], ["web"], ports=(80, 81))                 # dev/other has app=client but is not in prod
        self.flows_ok(spec, "client-egress")
        it = self.endpoint("client") or {}
        self.r.check((it.get("isolation") or {}).get("egress") is True, "client isolation %s" % it.get("isolation"))

    def t_relabel(self):
        self.label("client", {"app": "web"})
        spec = flows(["client"], ["db"], protos=("tcp",), ports=(81,))       # now a web peer
        spec += flows(["client"], ["other"], ports=(80,))                     # no longer egress-limited
        self.flows_ok(spec, "client relabelled app=web")
        self.label("other", {"app": "web"})
        self.flows_ok(flows(["other"], ["db"], protos=("tcp",), ports=(81,), expect=False),
                      "dev/other app=web (podSelector is namespace-scoped)")
        self.label("other", {"app": "client"})
        self.label("client", remove=["app"])
        spec = flows(["client"], ["db"], protos=("tcp",), ports=(81,), expect=False)
        spec += flows(["client"], ["other"], ports=(80,))
        self.flows_ok(spec, "client without app label")
        it = self.endpoint("client") or {}
        self.r.check(it.get("labels") == {}, "client labels after removal: %s" % it.get("labels"))
        self.label("client", {"app": "client"})
        spec = flows(["client"], ["db"], protos=("tcp",), ports=(81,), expect=False)
        spec += flows(["client"], ["other"], ports=(80,), expect=False)
        spec += flows(["client"], ["web"], protos=("tcp",), ports=(80,))
        self.flows_ok(spec, "client back to app=client")

    def t_namespace_labels(self):
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev", "labels": {"team": "blue"}}}
        if not (self.apply(ns, name="ns.json") and self.apply(ALLOW_BLUE)):
            return
        spec = flows(["other"], ["db"], protos=("tcp",), ports=(80,))
        spec += flows(["client", "web"], ["db"], protos=("tcp",), ports=(80,), expect=False)
        self.flows_ok(spec, "namespace dev team=blue")
        ns["metadata"]["labels"] = {"team": "red"}
        self.apply(ns, name="ns.json")
        self.flows_ok(flows(["other"], ["db"], protos=("tcp",), ports=(80,), expect=False),
                      "namespace dev team=red")
        self.delete_np("allow-blue-ns", "prod")

    def t_address_change(self):
        web, client, db = (self.topo.endpoints[n] for n in ("web", "client", "db"))
        new_web4, new_web6 = "10.213.0.200", "fd00:213::ad5:c8"
        new_cl4, new_cl6 = "10.213.0.201", "fd00:213::ad5:c9"
        t = [db.target("tcp", 4, 81), db.target("tcp", 6, 81)]
        T.run(["ip", "-n", web.netns, "addr", "add", new_web4 + "/24", "dev", "eth0"])
        T.run(["ip", "-n", web.netns, "addr", "add", new_web6 + "/64", "dev", "eth0", "nodad"])
        T.run(["ip", "-n", client.netns, "addr", "add", new_cl4 + "/24", "dev", "eth0"])
        T.run(["ip", "-n", client.netns, "addr", "add", new_cl6 + "/64", "dev", "eth0", "nodad"])
        t0 = time.monotonic()
        bad = eventually(lambda: [x for x, ok in self.topo.probe(
            "web", t, self.a.timeout_ms, (new_web4, new_web6)).items() if not ok], timeout=2.0)
        dt = time.monotonic() - t0
        self.r.check(not bad, "web from its new addresses %s, %s to db:81 still denied after %.1fs: %s" % (
            new_web4, new_web6, dt, bad))
        it = self.endpoint("web") or {}
        self.r.check(new_web4 in (it.get("addresses") or []) and new_web6 in (it.get("addresses") or []),
                     "segctl get endpoints: web addresses %s lack the new ones" % it.get("addresses"))
        got = self.topo.probe("client", t, self.a.timeout_ms, (new_cl4, new_cl6))
        self.r.check(not any(got.values()), "client from its new addresses reached db:81: %s" % got)
        # The old address keeps working; removal is followed too.
        self.flows_ok(flows(["web"], ["db"], protos=("tcp",), ports=(81,)), "web from its first address")
        T.run(["ip", "-n", web.netns, "addr", "del", new_web4 + "/24", "dev", "eth0"])
        T.run(["ip", "-n", web.netns, "addr", "del", new_web6 + "/64", "dev", "eth0"])
        T.run(["ip", "-n", client.netns, "addr", "del", new_cl4 + "/24", "dev", "eth0"])
        T.run(["ip", "-n", client.netns, "addr", "del", new_cl6 + "/64", "dev", "eth0"])

        def stale():
            table = T.strip_volatile(self.topo.nft_table("db") or "")
            return [a for a in (new_web4, new_web6) if a in table]
        left = eventually(stale, timeout=2.0)
        self.r.check(not left, "removed addresses %s still in db's nft sets after 2 s" % left)
        print("    (address add followed in %.2fs)" % dt, flush=True)

    def t_bad_policy(self):
        before_np = json.dumps(self.segd.items("networkpolicies"), sort_keys=True)
        before_rules = self.rules_sig()
        plan = {src: [self.topo.endpoints[d].target(pr, 4, po) for d in ("db", "client") if d != src
                      for pr in ("tcp", "udp") for po in (80, 81)] for src in ALL}
        flows0 = self.topo.probe_matrix(plan, self.a.timeout_ms)
        for fname, text, line in (("bad-policy.yaml", BAD_YAML, BAD_YAML_LINE),
                                  ("bad-policy.json", BAD_JSON, BAD_JSON_LINE)):
            path = os.path.join(self.segd.workdir, fname)
            with open(path, "w") as f:
                f.write(text)
            p = self.segd.ctl("apply", "-f", path)
            msg = (p.stderr + p.stdout).strip()
            self.r.check(p.returncode != 0, "segctl apply -f %s exited 0: %s" % (fname, msg))
            m = re.search(re.escape(fname) + r":(\d+):(\d+)", msg)
            self.r.check(m is not None, "%s: no file:line:column diagnostic in: %s" % (fname, msg))
            if m:
                self.r.check(int(m.group(1)) == line, "%s: diagnostic names line %s, the error is on line %d: %s" % (
                    fname, m.group(1), line, msg))
            # The same text on stdin.
            p = self.segd.ctl("apply", "-f", "-", input=text)
            self.r.check(p.returncode != 0, "segctl apply -f - (%s) exited 0" % fname)
        after_np = json.dumps(self.segd.items("networkpolicies"), sort_keys=True)
        self.r.check(before_np == after_np, "policies changed by a refused apply")
        after_rules = self.rules_sig()
        for ep in EPS:
            self.r.check(before_rules[ep] == after_rules[ep], "rules of %s changed by a refused apply" % ep)
        flows1 = self.topo.probe_matrix(plan, self.a.timeout_ms)
        changed = ["%s -> %s: %s, was %s" % (src, t, flows1[src][t], flows0[src][t])
                   for src in flows0 for t in flows0[src] if flows0[src][t] != flows1[src][t]]
        self.r.no_problems(changed, "flows changed by a refused apply")

    def t_delete(self):
        self.delete_np("deny-db", "prod")
        path = os.path.join(self.segd.workdir, "delete.json")
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": [ALLOW_WEB_81, CLIENT_EGRESS]}, f)
        p = self.segd.ctl("delete", "-f", path)
        self.r.check(p.returncode == 0, "segctl delete -f failed (%d): %s" % (p.returncode, (p.stderr or p.stdout).strip()))
        left = self.segd.items("networkpolicies")
        self.r.check(not left, "policies left: %s" % [i["metadata"]["name"] for i in left])
        self.flows_ok(flows(ALL, ALL, ports=(80, 81)), "after deleting every policy")
        p = self.segd.ctl("delete", "networkpolicy", "deny-db", "-n", "prod")
        self.r.check(p.returncode != 0, "deleting an absent policy exited 0")

    def t_endpoint_del(self):
        if not self.apply(DENY_DEV):
            return
        self.flows_ok(flows(["web", "db"], ["other"], ports=(80,), expect=False), "deny-dev")
        p = self.segd.ctl("endpoint", "del", "other")
        self.r.check(p.returncode == 0, "segctl endpoint del other failed: %s" % (p.stderr or p.stdout).strip())
        gone = eventually(lambda: self.topo.nft_table("other") is not None, timeout=2.0)
        self.r.check(not gone, "table inet segd still in other's netns after endpoint del")
        self.r.check(self.endpoint("other") is None, "other still listed after endpoint del")
        self.flows_ok(flows(["web", "db"], ["other"], ports=(80,)), "other unregistered")
        self.delete_np("deny-dev", "dev")

    def closer_pid(self):
        """segd's closer: its child named segd-closer (closer.h), None if absent."""
        for d in os.listdir("/proc"):
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except (OSError, ValueError):
                continue
            comm = st[st.index("(") + 1:st.rindex(")")]
            if comm == "segd-closer" and int(st[st.rindex(")") + 2:].split()[1]) == self.segd.proc.pid:
                return int(d)
        return None

    def t_readd_without_teardown(self):
        """The second add of a namespace never waits on the teardown of the first: with segd's
        closer stopped, nothing of the deleted endpoint is released (its sockets wait in the
        closer), yet the delete removes its table, and the add that follows is answered,
        enforces, and binds the namespace's NFLOG group (the old socket gave it back)."""
        pid = self.closer_pid()
        self.r.check(pid is not None, "segd has no segd-closer child: teardown happens on the request path")
        if pid is None:
            return
        netns = self.topo.endpoints["other"].netns
        ns, labels = EPS["other"]
        if self.endpoint("other") is not None:  # run alone (--only): start from its deletion
            self.segd.ctl("endpoint", "del", "other")
        os.kill(pid, signal.SIGSTOP)
        try:
            stopped = eventually(lambda: None if open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] == "T"
                                 else "running", timeout=5.0)
            self.r.check(not stopped, "segd-closer did not stop")
            if not self.apply(DENY_DEV):
                return
            for i in range(3):
                p = self.segd.endpoint_add("other", netns, ns, labels, PORTS)
                self.r.check(p.returncode == 0, "endpoint add other (round %d) failed: %s" % (i, (p.stderr or p.stdout).strip()))
                self.r.check(self.topo.nft_table("other") is not None, "no table in other's netns after add (round %d)" % i)
                self.flows_ok(flows(["web"], ["other"], ports=(80,), expect=False), "deny-dev, other added again (round %d)" % i)
                p = self.segd.ctl("endpoint", "del", "other")
                self.r.check(p.returncode == 0, "endpoint del other (round %d) failed: %s" % (i, (p.stderr or p.stdout).strip()))
                self.r.check(self.topo.nft_table("other") is None, "table still in other's netns after del (round %d)" % i)
            p = self.segd.endpoint_add("other", netns, ns, labels, PORTS)
            self.r.check(p.returncode == 0, "endpoint add other failed: %s" % (p.stderr or p.stdout).strip())
            self.r.check("no flow logs from netns %s" % netns not in open(self.segd.log_path, errors="replace").read(),
                         "an added endpoint found its NFLOG group taken by its deleted self")
        finally:
            os.kill(pid, signal.SIGCONT)
        self.delete_np("deny-dev", "dev")

    def t_daemon_alive(self):
        self.r.check(self.segd.alive(), "segd died; log tail:\n" + self.segd.log_tail())
        st = self.segd.ctl_json("status")
        self.r.check(st.get("errors", 0) == 0, "status reports errors: %s" % st.get("last_errors"))

    def main(self):
        try:
            self.setup()
        except Exception as e:  # noqa: BLE001
            print("SETUP FAILED: %s" % e)
            if self.segd:
                print(self.segd.log_tail())
            self.r.failed += 1
            return self.r.summary()
        tests = [("endpoints registered with labels and addresses", self.t_registered),
                 ("no policy: all TCP/UDP v4/v6 flows allowed", self.t_no_policy),
                 ("default-deny ingress: TCP+UDP, IPv4+IPv6 denied; nft table present", self.t_default_deny_ingress),
                 ("allow from label on one port", self.t_allow_label_port),
                 ("egress policy", self.t_egress),
                 ("relabel endpoint: access follows labels", self.t_relabel),
                 ("namespace labels and namespaceSelector", self.t_namespace_labels),
                 ("address change inside a namespace is followed", self.t_address_change),
                 ("bad policy: non-zero exit, file:line:column, nothing changes", self.t_bad_policy),
                 ("delete policies: open again", self.t_delete),
                 ("endpoint del removes its table", self.t_endpoint_del),
                 ("endpoint added again: never waits on the teardown of the deleted one", self.t_readd_without_teardown),
                 ("daemon alive, no errors", self.t_daemon_alive)]
        try:
            for name, fn in tests:
                if self.a.only and not re.search(self.a.only, name):
                    continue
                if not self.segd.alive() and fn != self.t_daemon_alive:
                    self.r.run(name, lambda: self.r.check(False, "segd is not running; log tail:\n" + self.segd.log_tail()))
                    continue
                self.r.run(name, fn)
        finally:
            if self.a.keep_log:
                print("# segd log: %s" % self.segd.log_path)
            self.segd.close()
            self.topo.close()
        return self.r.summary()


def common_args(doc):
    ap = argparse.ArgumentParser(description=doc.split("\n")[1])
    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    ap.add_argument("--build", default=os.environ.get("SEGD_BUILD", os.path.join(root, "build")))
    ap.add_argument("--segd")
    ap.add_argument("--segctl")
    ap.add_argument("--probe")
    ap.add_argument("--timeout-ms", type=int, default=500)
    ap.add_argument("--deny-action", choices=["drop", "reject"])
    ap.add_argument("--only", help="regex on test names")
    ap.add_argument("--keep-log", action="store_true")
    return T.netns_suite_args(ap)


if __name__ == "__main__":
    sys.exit(Suite(common_args(__doc__)).main())
