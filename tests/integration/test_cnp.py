#!/usr/bin/env python3
"""ClusterNetworkPolicy as an object of segd: applied through segctl (a List mixing a
Namespace, a NetworkPolicy and a ClusterNetworkPolicy), listed, kept over a restart and over
kill -9 (the state dir), audited, deleted by name and by file.

    test_cnp.py [--build DIR] [--segd BIN] [--segctl BIN] [--probe BIN] [--only REGEX]

Two endpoints in real network namespaces, red/a (app=a) and blue/b (app=b), serving TCP and
UDP on 80; namespace red has the label team=red. Last, packets: an Admin Deny from blue
beats a NetworkPolicy allowing everything into a, and deleting it reopens; an egress nodes
peer denies a Node's address (b's) while the Node carries the selected label.
Prints PASS/FAIL per scenario and `N passed, N failed`.
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import topology as T  # noqa: E402
from test_netns import common_args, np  # noqa: E402

CNP_API = "policy.networking.k8s.io/v1alpha2"
RED = {"apiVersion": "v1", "kind": "Namespace",
       "metadata": {"name": "red", "labels": {"team": "red"}}}
NP = np("a-ingress", "red", {"podSelector": {"matchLabels": {"app": "a"}},
                             "policyTypes": ["Ingress"]})
CNP = {"apiVersion": CNP_API, "kind": "ClusterNetworkPolicy",
       "metadata": {"name": "deny-red"},
       "spec": {"tier": "Admin", "priority": 10,
                "subject": {"namespaces": {"matchLabels": {"team": "red"}}},
                "ingress": [{"name": "from-blue", "action": "Deny",
                             "from": [{"namespaces": {"matchLabels": {
                                 "kubernetes.io/metadata.name": "blue"}}}]}]}}
BASE = {"apiVersion": CNP_API, "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "base-b"},
        "spec": {"tier": "Baseline", "priority": 500,
                 "subject": {"pods": {"namespaceSelector": {},
                                      "podSelector": {"matchLabels": {"app": "b"}}}},
                 "egress": [{"action": "Accept", "to": [{"networks": ["10.0.0.0/8"]}]}]}}


class Suite:
    def __init__(self, args):
        self.a = args
        self.r = T.Results()
        self.topo = None
        self.segd = None

    def setup(self):
        self.topo = T.Topology(self.a.probe)
        for ep in ("a", "b"):
            self.topo.add_endpoint(ep)
            self.topo.start_server(ep)
        self.segd = T.Segd(self.a.segd, self.a.segctl, deny_action=self.a.deny_action)
        self.segd.start()
        for ep, ns in (("a", "red"), ("b", "blue")):
            p = self.segd.endpoint_add(ep, self.topo.endpoints[ep].netns, ns, {"app": ep})
            if p.returncode != 0:
                raise RuntimeError("segctl endpoint add %s: %d %s" % (ep, p.returncode, p.stderr))

    def cnp_names(self):
        return [c["metadata"]["name"] for c in self.segd.items("clusternetworkpolicies", False)]

    def state(self):
        with open(os.path.join(self.segd.state_dir, "state.json")) as f:
            return json.load(f)

    def stored_cnps(self):
        return [o["metadata"]["name"] for o in self.state()["objects"]["items"]
                if o["kind"] == "ClusterNetworkPolicy"]

    def enforced(self):
        items = {it["name"]: it for it in self.segd.items("endpoints")}
        return all(items.get(ep, {}).get("state") == "enforced" for ep in ("a", "b"))

    # ------------------------------------------------------------------ scenarios

    def t_apply_mixed(self):
        p = self.segd.apply_objects([RED, NP, CNP, BASE], "mixed.json")
        self.r.check(p.returncode == 0, "apply: %d %s" % (p.returncode, p.stderr))
        self.r.check(p.stdout.splitlines() == [
            "namespace/red created", "networkpolicy/red/a-ingress created",
            "clusternetworkpolicy/deny-red created", "clusternetworkpolicy/base-b created"],
            "apply output: %r" % p.stdout)
        # apply returns once enforced: no waiting here
        self.r.check(self.enforced(), "endpoints not enforced when apply returned")
        self.r.check(self.cnp_names() == ["base-b", "deny-red"], "get cnp: %s" % self.cnp_names())
        got = self.segd.ctl_json("get", "clusternetworkpolicy", "deny-red")
        self.r.check(got["kind"] == "ClusterNetworkPolicy" and got["apiVersion"] == CNP_API,
                     "get cnp NAME: %s" % got)
        self.r.check(got["spec"]["tier"] == "Admin" and got["spec"]["priority"] == 10 and
                     got["spec"]["subject"] == CNP["spec"]["subject"] and
                     got["spec"]["ingress"][0]["name"] == "from-blue" and
                     got["spec"]["ingress"][0]["action"] == "Deny",
                     "get cnp NAME -o json: %s" % json.dumps(got))
        p = self.segd.ctl("get", "cnp", "-o", "wide")
        self.r.check(p.returncode == 0 and re.search(
            r"^deny-red\s+Admin\s+10\s+namespaces:team=red\s+1\s+0$", p.stdout, re.M),
            "get cnp -o wide: %r" % p.stdout)
        st = self.segd.status()
        self.r.check(st.get("clusternetworkpolicies") == 2, "status: %s" % st.get("clusternetworkpolicies"))
        # again: unchanged, nothing audited
        p = self.segd.apply_objects([RED, NP, CNP, BASE], "mixed.json")
        self.r.check("clusternetworkpolicy/deny-red unchanged" in p.stdout, "re-apply: %r" % p.stdout)
        with open(self.segd.audit_log) as f:
            changes = [c for line in f for c in json.loads(line).get("changes", [])
                       if c["kind"] == "ClusterNetworkPolicy"]
        self.r.check(sorted((c["name"], c["action"]) for c in changes) ==
                     [("base-b", "created"), ("deny-red", "created")],
                     "audit: %s" % [(c["name"], c["action"]) for c in changes])
        self.r.check(self.state()["version"] == 2 and self.stored_cnps() == ["base-b", "deny-red"],
                     "state.json: version %s, %s" % (self.state()["version"], self.stored_cnps()))

    def t_invalid_changes_nothing(self):
        bad = json.loads(json.dumps(CNP))
        bad["metadata"]["name"] = "bad"
        bad["spec"]["priority"] = 1001
        p = self.segd.apply_objects([NP, bad], "bad.json")
        self.r.check(p.returncode != 0 and "priority" in p.stderr, "bad apply: %d %r" % (p.returncode, p.stderr))
        self.r.check(self.cnp_names() == ["base-b", "deny-red"], "after a refused apply: %s" % self.cnp_names())

    def t_restart(self):
        self.segd.stop()
        self.segd.start()
        self.r.check(self.cnp_names() == ["base-b", "deny-red"], "after restart: %s" % self.cnp_names())
        got = self.segd.ctl_json("get", "cnp", "base-b")
        self.r.check(got["spec"]["tier"] == "Baseline" and got["spec"]["priority"] == 500 and
                     got["spec"]["subject"] == BASE["spec"]["subject"] and
                     got["spec"]["egress"][0]["to"] == [{"networks": ["10.0.0.0/8"]}],
                     "base-b after restart: %s" % json.dumps(got))
        self.r.check(T.eventually(lambda: not self.enforced(), 5.0) is False, "not enforced after restart")

    def t_kill9(self):
        self.segd.kill9()
        self.segd.start()
        self.r.check(self.cnp_names() == ["base-b", "deny-red"], "after kill -9: %s" % self.cnp_names())

    def t_delete_by_name(self):
        p = self.segd.ctl("delete", "cnp", "deny-red")
        self.r.check(p.returncode == 0 and p.stdout.strip() == "clusternetworkpolicy/deny-red deleted",
                     "delete: %d %r %r" % (p.returncode, p.stdout, p.stderr))
        self.r.check(self.cnp_names() == ["base-b"], "after delete: %s" % self.cnp_names())
        p = self.segd.ctl("delete", "clusternetworkpolicy", "deny-red")
        self.r.check(p.returncode == 1 and "clusternetworkpolicy deny-red not found" in p.stderr,
                     "delete again: %d %r" % (p.returncode, p.stderr))
        p = self.segd.ctl("get", "cnp", "deny-red")
        self.r.check(p.returncode == 1, "get deleted: %d" % p.returncode)
        self.segd.stop()
        self.segd.start()
        self.r.check(self.cnp_names() == ["base-b"], "deleted one back after restart: %s" % self.cnp_names())

    def t_delete_file(self):
        p = self.segd.apply_objects([RED, NP, CNP, BASE], "mixed.json")
        self.r.check(p.returncode == 0, "apply: %r" % p.stderr)
        path = os.path.join(self.segd.workdir, "mixed.json")
        p = self.segd.ctl("delete", "-f", path)
        self.r.check(p.returncode == 0, "delete -f: %d %r" % (p.returncode, p.stderr))
        self.r.check(self.cnp_names() == [] and self.segd.items("networkpolicies") == [],
                     "after delete -f: %s" % self.cnp_names())
        self.r.check(self.state()["version"] == 1 and self.stored_cnps() == [],
                     "state.json after delete -f: version %s" % self.state()["version"])
        p = self.segd.ctl("get", "cnp")
        self.r.check(p.returncode == 0 and p.stdout == "" and "No resources found." in p.stderr,
                     "get cnp when none: %r %r" % (p.stdout, p.stderr))

    def t_packets(self):
        """Enforced: an Admin Deny beats the NetworkPolicy that allows everything into a;
        deleted, the NetworkPolicy decides again."""
        allow_a = np("allow-a", "red", {"podSelector": {"matchLabels": {"app": "a"}},
                                        "ingress": [{}], "policyTypes": ["Ingress"]})
        p = self.segd.apply_objects([RED, allow_a, CNP], "packets.json")
        self.r.check(p.returncode == 0, "apply: %r" % p.stderr)
        self.r.no_problems(T.check_flows(self.topo, T.flows(["b"], ["a"], ("tcp", "udp"), (80,),
                                                              expect=False) +
                                         T.flows(["a"], ["b"], ("tcp",), (80,)),
                                         self.a.timeout_ms),
                           "Admin Deny from blue in force")
        p = self.segd.ctl("delete", "cnp", "deny-red")
        self.r.check(p.returncode == 0, "delete: %r" % p.stderr)
        self.r.no_problems(T.check_flows(self.topo, T.flows(["b"], ["a"], ("tcp", "udp"), (80,)),
                                         self.a.timeout_ms),
                           "ClusterNetworkPolicy deleted: the NetworkPolicy allows")
        p = self.segd.ctl("delete", "-f", os.path.join(self.segd.workdir, "packets.json"),)
        self.r.check(p.returncode == 1, "delete -f with the CNP gone: %d" % p.returncode)
        self.segd.ctl("delete", "networkpolicy", "allow-a", "-n", "red")

    def t_node_packets(self):
        """An egress nodes peer matches the addresses of the Nodes it selects: a Node that
        carries b's address and the selected label makes a's Deny bite; relabelled, it no
        longer does (a Node change alone recompiles a); deleted by name."""
        deny = {"apiVersion": CNP_API, "kind": "ClusterNetworkPolicy",
                "metadata": {"name": "deny-nodes"},
                "spec": {"tier": "Admin", "priority": 20,
                         "subject": {"namespaces": {"matchLabels": {"team": "red"}}},
                         "egress": [{"action": "Deny",
                                     "to": [{"nodes": {"matchLabels": {"os": "linux"}}}]}]}}

        def node(os_label):
            return {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": "n1", "labels": {"os": os_label}},
                    "status": {"addresses": [
                        {"type": "Hostname", "address": "n1"},
                        {"type": "InternalIP", "address": str(self.topo.endpoints["b"].addr(4))},
                        {"type": "ExternalIP", "address": str(self.topo.endpoints["b"].addr(6))}]}}
        p = self.segd.apply_objects([RED, deny], "nodes.json")
        self.r.check(p.returncode == 0, "apply: %r" % p.stderr)
        self.r.no_problems(T.check_flows(self.topo, T.flows(["a"], ["b"], ("tcp", "udp"), (80,)),
                                         self.a.timeout_ms), "no Node: nothing to deny")
        p = self.segd.apply_objects([node("linux")], "node.json")
        self.r.check(p.returncode == 0 and p.stdout.strip() == "node/n1 created",
                     "apply Node: %d %r %r" % (p.returncode, p.stdout, p.stderr))
        self.r.no_problems(T.check_flows(self.topo, T.flows(["a"], ["b"], ("tcp", "udp"), (80,),
                                                              expect=False) +
                                         T.flows(["b"], ["a"], ("tcp",), (80,)),
                                         self.a.timeout_ms), "the Node's address denied")
        p = self.segd.ctl("get", "k8snodes")
        self.r.check(p.returncode == 0 and re.search(
            r"^n1\s+%s,%s\s+os=linux$" % (re.escape(str(self.topo.endpoints["b"].addr(4))),
                                           re.escape(str(self.topo.endpoints["b"].addr(6)))),
            p.stdout, re.M),
            "get k8snodes: %r" % p.stdout)
        p = self.segd.apply_objects([node("windows")], "node.json")
        self.r.check(p.returncode == 0 and p.stdout.strip() == "node/n1 configured",
                     "relabel Node: %r" % p.stdout)
        self.r.no_problems(T.check_flows(self.topo, T.flows(["a"], ["b"], ("tcp", "udp"), (80,)),
                                         self.a.timeout_ms), "relabelled Node: not selected")
        p = self.segd.ctl("delete", "k8snode", "n1")
        self.r.check(p.returncode == 0 and p.stdout.strip() == "node/n1 deleted",
                     "delete k8snode: %d %r" % (p.returncode, p.stderr))
        self.r.check(self.segd.items("k8snodes", False) == [], "k8snodes after delete")
        self.segd.ctl("delete", "cnp", "deny-nodes")

    def main(self):
        try:
            self.setup()
        except Exception as e:  # noqa: BLE001
            print("SETUP FAILED: %s" % e)
            if self.segd:
                print(self.segd.log_tail())
            self.r.failed += 1
            return self.r.summary()
        tests = [("apply a mixed List: listed, got, audited, stored", self.t_apply_mixed),
                 ("an invalid ClusterNetworkPolicy refuses the whole input", self.t_invalid_changes_nothing),
                 ("kept over a restart", self.t_restart),
                 ("kept over kill -9", self.t_kill9),
                 ("delete by name, gone after a restart", self.t_delete_by_name),
                 ("delete -f of the mixed List", self.t_delete_file),
                 ("packets: an Admin Deny beats a NetworkPolicy; deleted, it reopens", self.t_packets),
                 ("packets: a nodes peer follows the Node's labels", self.t_node_packets)]
        try:
            for name, fn in tests:
                if self.a.only and not re.search(self.a.only, name):
                    continue
                self.r.run(name, fn)
        finally:
            if self.a.keep_log:
                print("# segd log: %s" % self.segd.log_path)
            self.segd.close()
            self.topo.close()
        return self.r.summary()


if __name__ == "__main__":
    sys.exit(Suite(common_args(__doc__)).main())
