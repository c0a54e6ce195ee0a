#!/usr/bin/env python3
"""Unit tests of run.py's pure parts (no root, no kernel): IPv6 translation of ipBlock and
`networks`, topology parsing and its bounds, grouping of cases by topology, the features
skip, and how a step's policy set becomes `segctl apply -f` / `segctl delete -f` calls (against
a recording stand-in for segctl: what is tested is the runner's bookkeeping, never segd)."""

import copy
import ipaddress
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as R  # noqa: E402


def topo(pods=None, ports=None, nss=None):
    return {"namespaces": nss if nss is not None else {"a": {"kubernetes.io/metadata.name": "a"}},
            "pods": pods if pods is not None else [{"name": "a/p0", "labels": {"app": "p0"}},
                                                   {"name": "b/h", "host_network": True}],
            "ports": ports if ports is not None else [{"port": 80, "protocol": "TCP", "name": "web"},
                                                      {"port": 53, "protocol": "UDP"},
                                                      {"port": 9003, "protocol": "SCTP"}]}


class Translate(unittest.TestCase):
    def test_v6_image(self):
        self.assertEqual(R.v6_image("0.0.0.0/0"), "::/0")
        self.assertEqual(R.v6_image("10.213.0.11/32"), "fd00:213::ad5:b/128")
        self.assertEqual(R.v6_image("0.0.0.0/31"), "fd00:213::/127")
        self.assertEqual(R.v6_image("0.0.0.0/4"), "fd00:213::/100")
        self.assertRaises(ValueError, R.v6_image, "10.0.0.1/33")
        self.assertRaises(ValueError, R.v6_image, "nonsense/0")

    def test_networks(self):
        nets = ["0.0.0.0/0", "::/0", "10.213.0.11/32"]
        self.assertEqual(R.translate_networks(nets, 6), ["::/0", "fd00:213::ad5:b/128"])
        self.assertEqual(R.translate_networks(nets, "both"),
                         ["0.0.0.0/0", "::/0", "10.213.0.11/32", "fd00:213::ad5:b/128"])
        self.assertEqual(R.translate_ipblocks({"to": [{"networks": nets}]}, 4), {"to": [{"networks": nets}]})
        self.assertRaises(R.CaseError, R.translate_networks, ["10.1.2.3/40"], 6)

    def test_ipblock(self):
        peer = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.213.0.11/32"]}}
        self.assertEqual(R.translate_ipblocks([peer], 6),
                         [{"ipBlock": {"cidr": "::/0", "except": ["fd00:213::ad5:b/128"]}}])
        both = R.translate_ipblocks([peer], "both")
        self.assertEqual(both[0], peer)
        self.assertEqual(both[1]["ipBlock"]["cidr"], "::/0")
        v6 = {"ipBlock": {"cidr": "fd00::/8"}}
        self.assertEqual(R.translate_ipblocks([v6], "both"), [v6])

    def test_address_peers(self):
        self.assertTrue(R.has_address_peers({"steps": [{"policies": []}, {"policies": [
            {"spec": {"egress": [{"to": [{"networks": ["::/0"]}]}]}}]}]}))
        self.assertTrue(R.has_address_peers({"policies": [{"spec": {"x": "{{net:a/b:4}}"}}]}))
        self.assertFalse(R.has_address_peers({"policies": [{"spec": {"podSelector": {}}}]}))

    def test_placeholders(self):
        ips = {"a/p0": ipaddress.IPv4Address("10.213.0.10")}
        self.assertEqual(R.substitute_v4({"networks": ["{{ip:a/p0}}/32", "{{net:a/p0:4}}"]}, ips),
                         {"networks": ["10.213.0.10/32", "0.0.0.0/4"]})
        self.assertRaises(R.CaseError, R.substitute_v4, "{{ip:z/q}}/32", ips)


class Topology(unittest.TestCase):
    def test_spec(self):
        sp = R.topology_spec({"topology": topo()})
        self.assertEqual(sp.pods, ["a/p0", "b/h"])
        self.assertEqual(sp.host_network, {"b/h"})
        self.assertEqual(sp.named_ports, [("web", 80, "TCP")])
        self.assertEqual(sp.order, ["80/TCP", "53/UDP", "9003/SCTP"])
        self.assertEqual(set(sp.ns_labels), {"a", "b"})  # a namespace only named by a pod
        self.assertTrue(sp.served("9003/SCTP") and not sp.served("81/TCP"))

    def test_rejects(self):
        bad = [topo(pods=[]), topo(pods=[{"name": "nons"}]), topo(pods=[{"name": "a/x"}, {"name": "a/x"}]),
               topo(ports=[{"port": 0}]), topo(ports=[{"port": 80, "protocol": "ICMP"}]),
               topo(ports=[{"port": 80, "name": "w"}, {"port": 81, "name": "w"}]),
               topo(pods=[{"name": "a/p%d" % i} for i in range(R.MAX_PODS + 1)])]
        for t in bad:
            self.assertRaises(R.CaseError, R.topology_spec, {"topology": t})
        # nodes: each named once, on host-network pods of the topology only
        for nodes in ([{"name": "n1", "pods": ["a/p0"]}], [{"name": "n1", "pods": ["z/q"]}],
                      [{"name": "n1"}, {"name": "n1"}], [{"pods": ["b/h"]}], {"name": "n1"},
                      [{"name": "n1", "labels": []}]):
            t = topo()
            t["nodes"] = nodes
            self.assertRaises(R.CaseError, R.topology_spec, {"topology": t})

    def test_nodes(self):
        t = topo()
        t["nodes"] = [{"name": "n1", "labels": {"kubernetes.io/os": "linux"}, "pods": ["b/h"]}]
        sp = R.topology_spec({"topology": t})
        self.assertEqual(sp.nodes, [("n1", {"kubernetes.io/os": "linux"}, ["b/h"])])
        # nodes are part of the topology: another node set is another topology
        self.assertNotEqual(sp.key, R.topology_spec({"topology": topo()}).key)

    def test_grouping(self):
        l1 = topo()
        l2 = copy.deepcopy(l1)
        l2["pods"][0]["labels"] = {"other": "labels"}  # labels do not make another topology
        cases = [{"name": "np1"}, {"name": "t1", "topology": l1}, {"name": "np2"},
                 {"name": "t2", "topology": l2}, {"name": "t3", "topology": topo(ports=[{"port": 81}])}]
        r = R.Runner(Args(), cases)
        got = [(s.own, [c["name"] for c in cs]) for s, cs in r.plan()]
        self.assertEqual(got, [(False, ["np1", "np2"]), (True, ["t1", "t2"]), (True, ["t3"])])

    def test_features(self):
        r = R.Runner(Args(), [])
        self.assertIsNone(r.skip_reason({"features": ["ClusterNetworkPolicy"]}))
        self.assertIsNone(r.skip_reason({"features": ["ClusterNetworkPolicy",
                                                      "ClusterNetworkPolicyEgressNodePeers"]}))
        why = r.skip_reason({"features": ["ClusterNetworkPolicy", "ClusterNetworkPolicyDomainNames"]})
        self.assertIn("ClusterNetworkPolicyDomainNames", why)
        self.assertRaises(R.CaseError, r.skip_reason, {"features": "ClusterNetworkPolicy"})


class Args:
    family = "both"
    no_explain = True
    jsonl = None


class FakeSegctl:
    """Records the runner's segctl calls and keeps the objects a real segd would list."""

    def __init__(self):
        self.workdir = tempfile.mkdtemp(prefix="cnprunner-unit-")
        self.objs = {}
        self.calls = []

    def apply_objects(self, objs, name):
        self.calls.append(("apply", [R.key_text(R.policy_key(o)) for o in objs]))
        for o in objs:
            self.objs[R.policy_key(o)] = o
        return Done(0)

    def ctl(self, *args):
        if args[:2] == ("delete", "-f"):
            with open(args[2]) as f:
                items = json.load(f)["items"]
            self.calls.append(("delete-f", [R.key_text(R.policy_key(o)) for o in items]))
            for o in items:
                assert "spec" in o, "delete -f needs whole objects"
                self.objs.pop(R.policy_key(o), None)
        elif args[:2] == ("delete", "clusternetworkpolicy"):
            self.calls.append(("delete-cnp", args[2]))
            self.objs.pop((R.CNP_KIND, "", args[2]), None)
        elif args[:2] == ("delete", "networkpolicy"):
            self.calls.append(("delete-np", args[4] + "/" + args[2]))
            self.objs.pop((R.NP_KIND, args[4], args[2]), None)
        return Done(0)

    def items(self, what):
        assert what == "networkpolicies"
        return [o for k, o in self.objs.items() if k[0] == R.NP_KIND]

    def ctl_json(self, *args):
        assert args == ("get", "clusternetworkpolicies")
        return {"items": [o for k, o in self.objs.items() if k[0] == R.CNP_KIND]}


class Done:
    def __init__(self, rc):
        self.returncode, self.stdout, self.stderr = rc, "", ""


def np(name, ns="a", sel=None):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"podSelector": sel or {}, "policyTypes": ["Ingress"]}}


def cnp(name, prio, nets=None):
    spec = {"tier": "Admin", "priority": prio, "subject": {"namespaces": {}}}
    if nets:
        spec["egress"] = [{"action": "Deny", "to": [{"networks": nets}]}]
    return {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": R.CNP_KIND,
            "metadata": {"name": name}, "spec": spec}


class Policies(unittest.TestCase):
    def runner(self):
        r = R.Runner(Args(), [])
        r.segd = FakeSegctl()
        r.cnp_api = True
        r.pods = ["a/p0"]
        r.epn = {"a/p0": "a-p0"}
        r.ips = lambda family=4: {"a/p0": ipaddress.IPv4Address("10.213.0.10")}
        return r

    def test_steps(self):
        r = self.runner()
        r.set_policies([np("n1"), cnp("c1", 3, ["{{ip:a/p0}}/32"])])
        self.assertEqual(r.segd.calls, [("apply", ["a/n1", "ClusterNetworkPolicy c1"])])
        nets = r.segd.objs[(R.CNP_KIND, "", "c1")]["spec"]["egress"][0]["to"][0]["networks"]
        self.assertEqual(nets, ["10.213.0.10/32", "fd00:213::ad5:a/128"])
        r.segd.calls = []
        r.set_policies([np("n1"), cnp("c1", 4)])  # c1 changed, n1 unchanged
        self.assertEqual(r.segd.calls, [("apply", ["ClusterNetworkPolicy c1"])])
        r.segd.calls = []
        r.set_policies([cnp("c1", 4)])  # n1 vanished
        self.assertEqual(r.segd.calls, [("delete-f", ["a/n1"])])
        self.assertEqual(r.cnps_in_force, {"c1"})
        self.assertTrue(r.in_force("c1") and r.in_force("ClusterNetworkPolicy/c1") and not r.in_force("a/n1"))
        r.segd.calls = []
        r.set_policies([])
        self.assertEqual(r.segd.calls, [("delete-f", ["ClusterNetworkPolicy c1"])])
        self.assertRaises(R.CaseError, r.set_policies, [np("x"), np("x")])
        self.assertRaises(R.CaseError, r.set_policies, [{"kind": "Pod", "metadata": {"name": "p"}}])

    def test_reset(self):
        r = self.runner()
        r.segd.objs = {(R.NP_KIND, "b", "old"): np("old", "b"), (R.CNP_KIND, "", "c9"): cnp("c9", 1)}
        r.delete_all_policies()
        self.assertEqual(sorted(r.segd.calls), [("delete-cnp", "c9"), ("delete-np", "b/old")])
        self.assertEqual(r.segd.objs, {})

    def test_no_cnp_api(self):
        r = self.runner()
        r.cnp_api, r.cnp_api_error = False, "unknown resource"
        r.set_policies([np("n1")])
        with self.assertRaises(R.CaseError) as e:
            r.set_policies([cnp("c1", 1)])
        self.assertIn("unknown resource", str(e.exception))


if __name__ == "__main__":
    unittest.main()
