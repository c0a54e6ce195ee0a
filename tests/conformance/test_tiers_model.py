#!/usr/bin/env python3
"""Unit tests of tiers_model.py and check_tiers.py (no root, no network).

The upstream-derived cases exercise only part of the model (no
matchExpressions, ipBlock, NetworkPolicy named ports or endPort); these tests
pin down the rest, and show that the checker fails on a wrong table, a wrong
probe, an unknown pod and a missing port.
"""

import copy
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_tiers  # noqa: E402
import tiers_model as m  # noqa: E402

TOPO = {
    "namespaces": {
        "a": {"kubernetes.io/metadata.name": "a", "team": "red"},
        "b": {"kubernetes.io/metadata.name": "b", "team": "blue"},
        "h": {"kubernetes.io/metadata.name": "h"},
    },
    "pods": [
        {"name": "a/p0", "labels": {"app": "web", "tier": "front"}},
        {"name": "a/p1", "labels": {"app": "db"}},
        {"name": "b/p0", "labels": {"app": "web"}},
        {"name": "h/host", "labels": {"app": "web"}, "host_network": True},
    ],
    "ports": [
        {"port": 80, "protocol": "TCP", "name": "web"},
        {"port": 81, "protocol": "TCP"},
        {"port": 53, "protocol": "UDP", "name": "dns"},
    ],
    "nodes": [{"name": "n1", "labels": {"kubernetes.io/os": "linux"}, "pods": ["h/host"]}],
}


def cnp(name, tier, prio, subject, ingress=None, egress=None):
    spec = {"tier": tier, "priority": prio, "subject": subject}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": name}, "spec": spec}


def np(name, ns, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


NS_A = {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "a"}}}
NS_B = {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}


def ev(policies, ns=None):
    return m.evaluate(TOPO, policies, ns)


class Selectors(unittest.TestCase):
    def test_match_expressions(self):
        lab = {"app": "web", "tier": "front"}
        ok = [
            {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "x"]}]},
            {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]},
            {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["db"]}]},
            {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
            {"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]},
            {},
        ]
        bad = [
            {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]},
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["db"]}]},
            {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]},
            {"matchExpressions": [{"key": "zone", "operator": "Exists"}]},
            {"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]},
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
        ]
        for s in ok:
            self.assertTrue(m.selector_matches(s, lab), s)
        for s in bad:
            self.assertFalse(m.selector_matches(s, lab), s)
        with self.assertRaises(m.ModelError):
            m.selector_matches({"matchExpressions": [{"key": "a", "operator": "Gt"}]}, lab)


class Tiers(unittest.TestCase):
    def test_no_policy_allows_all(self):
        t = ev([])
        self.assertTrue(all(all(c.values()) for c in t.values()))

    def test_admin_deny_and_rule_order(self):
        p = cnp("x", "Admin", 1, NS_A, ingress=[
            {"action": "Accept", "from": [NS_B], "protocols": [{"tcp": {"destinationPort": {"number": 80}}}]},
            {"action": "Deny", "from": [NS_B]},
        ])
        t = ev([p])
        self.assertTrue(t["80/TCP"][("b/p0", "a/p0")])
        self.assertFalse(t["81/TCP"][("b/p0", "a/p0")])
        self.assertFalse(t["53/UDP"][("b/p0", "a/p1")])
        self.assertTrue(t["81/TCP"][("a/p1", "a/p0")])  # peer does not match
        self.assertTrue(t["81/TCP"][("a/p0", "b/p0")])  # b is not a subject

    def test_priority_lower_first(self):
        deny = cnp("d", "Admin", 20, NS_A, ingress=[{"action": "Deny", "from": [NS_B]}])
        allow = cnp("a", "Admin", 10, NS_A, ingress=[{"action": "Accept", "from": [NS_B]}])
        self.assertTrue(ev([deny, allow])["81/TCP"][("b/p0", "a/p0")])
        allow["spec"]["priority"] = 30
        self.assertFalse(ev([deny, allow])["81/TCP"][("b/p0", "a/p0")])

    def test_pass_networkpolicy_baseline(self):
        pas = cnp("p", "Admin", 1, NS_A, ingress=[{"action": "Pass", "from": [NS_B]}])
        base = cnp("b", "Baseline", 1, NS_A, ingress=[{"action": "Deny", "from": [NS_B]}])
        self.assertFalse(ev([pas, base])["80/TCP"][("b/p0", "a/p0")])
        allow_np = np("n", "a", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]})
        self.assertTrue(ev([pas, base, allow_np])["80/TCP"][("b/p0", "a/p0")])
        # an Admin Deny wins over the NetworkPolicy
        pas["spec"]["ingress"][0]["action"] = "Deny"
        self.assertFalse(ev([pas, base, allow_np])["80/TCP"][("b/p0", "a/p0")])
        # Baseline Pass: nothing below, allowed
        pas["spec"]["ingress"][0]["action"] = "Pass"
        base["spec"]["ingress"][0]["action"] = "Pass"
        self.assertTrue(ev([pas, base])["80/TCP"][("b/p0", "a/p0")])

    def test_egress_and_both_directions(self):
        eg = cnp("e", "Admin", 1, NS_B, egress=[{"action": "Deny", "to": [NS_A]}])
        t = ev([eg])
        self.assertFalse(t["80/TCP"][("b/p0", "a/p0")])
        self.assertTrue(t["80/TCP"][("a/p0", "b/p0")])

    def test_host_network(self):
        allns = {"namespaces": {}}
        deny = cnp("d", "Admin", 1, allns, ingress=[{"action": "Deny", "from": [allns]}])
        t = ev([deny])
        self.assertTrue(t["80/TCP"][("h/host", "a/p0")])  # no pod peer matches a host pod
        self.assertTrue(t["80/TCP"][("a/p0", "h/host")])  # a host pod is no subject
        self.assertFalse(t["80/TCP"][("a/p1", "a/p0")])
        net = cnp("n", "Admin", 1, allns, ingress=[{"action": "Deny", "from": [{"networks": ["0.0.0.0/0"]}]}])
        self.assertFalse(ev([net])["80/TCP"][("h/host", "a/p0")])

    def test_loopback_not_subject_to_cnp(self):
        deny = cnp("d", "Admin", 1, NS_A, ingress=[{"action": "Deny", "from": [NS_A]}])
        t = ev([deny])
        self.assertTrue(t["80/TCP"][("a/p0", "a/p0")])
        self.assertFalse(t["80/TCP"][("a/p1", "a/p0")])
        iso = np("n", "a", {"podSelector": {}, "policyTypes": ["Ingress"]})
        self.assertFalse(ev([iso])["80/TCP"][("a/p0", "a/p0")])  # NetworkPolicy still applies

    def test_pods_peer_and_namespace_labels(self):
        peer = {"pods": {"namespaceSelector": {"matchLabels": {"team": "red"}},
                         "podSelector": {"matchLabels": {"app": "db"}}}}
        deny = cnp("d", "Admin", 1, NS_B, ingress=[{"action": "Deny", "from": [peer]}])
        self.assertFalse(ev([deny])["80/TCP"][("a/p1", "b/p0")])
        self.assertTrue(ev([deny])["80/TCP"][("a/p0", "b/p0")])
        ns = copy.deepcopy(TOPO["namespaces"])
        ns["a"] = {"kubernetes.io/metadata.name": "a"}
        self.assertTrue(ev([deny], ns)["80/TCP"][("a/p1", "b/p0")])

    def test_protocols_range_named(self):
        rng = cnp("r", "Admin", 1, NS_A, ingress=[
            {"action": "Deny", "from": [NS_B], "protocols": [{"tcp": {"destinationPort": {"range": {"start": 81, "end": 90}}}}]},
        ])
        t = ev([rng])
        self.assertTrue(t["80/TCP"][("b/p0", "a/p0")])
        self.assertFalse(t["81/TCP"][("b/p0", "a/p0")])
        named = cnp("n", "Admin", 1, NS_A, ingress=[
            {"action": "Deny", "from": [NS_B], "protocols": [{"destinationNamedPort": "dns"}]},
        ])
        t = ev([named])
        self.assertFalse(t["53/UDP"][("b/p0", "a/p0")])
        self.assertTrue(t["80/TCP"][("b/p0", "a/p0")])
        anyudp = cnp("u", "Admin", 1, NS_A, ingress=[{"action": "Deny", "from": [NS_B], "protocols": [{"udp": {}}]}])
        t = ev([anyudp])
        self.assertFalse(t["53/UDP"][("b/p0", "a/p0")])
        self.assertTrue(t["81/TCP"][("b/p0", "a/p0")])

    def test_networks_nodes_placeholders(self):
        one = cnp("o", "Admin", 1, NS_A, egress=[
            {"action": "Accept", "to": [{"networks": ["{{ip:b/p0}}/32"]}]},
            {"action": "Accept", "to": [{"nodes": {"matchLabels": {"kubernetes.io/os": "linux"}}}]},
            {"action": "Deny", "to": [{"networks": ["{{net:a/p0:24}}"]}]},
        ])
        t = ev([one])
        self.assertTrue(t["80/TCP"][("a/p0", "b/p0")])
        self.assertTrue(t["80/TCP"][("a/p0", "h/host")])
        self.assertFalse(t["80/TCP"][("a/p0", "a/p1")])
        with self.assertRaises(m.ModelError):
            ev([cnp("z", "Admin", 1, NS_A, egress=[{"action": "Deny", "to": [{"networks": ["{{ip:q/q}}/32"]}]}])])


class NetworkPolicies(unittest.TestCase):
    def test_ipblock_except(self):
        p = np("n", "a", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
            {"to": [{"ipBlock": {"cidr": "{{net:a/p0:4}}", "except": ["{{ip:b/p0}}/32"]}}]}]})
        t = ev([p])
        self.assertTrue(t["80/TCP"][("a/p0", "a/p1")])
        self.assertTrue(t["80/TCP"][("a/p0", "h/host")])
        self.assertFalse(t["80/TCP"][("a/p0", "b/p0")])

    def test_named_port_and_endport(self):
        p = np("n", "a", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [
            {"ports": [{"port": "web"}, {"port": 81, "endPort": 81}, {"protocol": "UDP", "port": "dns"}]}]})
        t = ev([p])
        for k in ("80/TCP", "81/TCP", "53/UDP"):
            self.assertTrue(t[k][("b/p0", "a/p0")])
        p["spec"]["ingress"][0]["ports"] = [{"port": "dns"}]  # dns is UDP; TCP by default: no match
        t = ev([p])
        self.assertFalse(t["53/UDP"][("b/p0", "a/p0")])
        self.assertTrue(t["53/UDP"][("b/p0", "a/p1")])  # not selected

    def test_peer_default_namespace_and_host(self):
        p = np("n", "a", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]})
        t = ev([p])
        self.assertTrue(t["80/TCP"][("a/p1", "a/p0")])
        self.assertFalse(t["80/TCP"][("b/p0", "a/p0")])
        p["spec"]["ingress"][0]["from"] = [{"namespaceSelector": {}}]
        t = ev([p])
        self.assertTrue(t["80/TCP"][("b/p0", "a/p0")])
        self.assertFalse(t["80/TCP"][("h/host", "a/p0")])


class Checker(unittest.TestCase):
    def _case(self):
        pol = [cnp("x", "Admin", 1, NS_A, ingress=[{"action": "Deny", "from": [NS_B]}])]
        pods = [p["name"] for p in TOPO["pods"]]
        expect = m.expect_from_table(ev(pol), pods)
        return {"topology": TOPO, "features": ["ClusterNetworkPolicy", "ClusterNetworkPolicyEgressNodePeers"],
                "steps": [{"policies": pol, "expect": expect,
                           "upstream_probes": [["b/p0", "a/p0", "80/TCP", False]]}]}

    def _run(self, case):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(case, f)
        try:
            counts = {"steps": 0, "cells": 0, "probes": 0, "bad_cells": 0, "bad_probes": 0}
            return check_tiers.check_case(f.name, counts)
        finally:
            os.unlink(f.name)

    def test_good_case_passes(self):
        self.assertEqual(self._run(self._case()), [])

    def test_wrong_cell(self):
        c = self._case()
        c["steps"][0]["expect"]["81/TCP"]["exceptions"].append(["a/p1", "b/p0", False])
        self.assertTrue(any("model True" in e for e in self._run(c)))

    def test_wrong_probe(self):
        c = self._case()
        c["steps"][0]["upstream_probes"][0][3] = True
        self.assertTrue(any("upstream probe" in e for e in self._run(c)))

    def test_unknown_pod_missing_port_extra_key(self):
        c = self._case()
        c["steps"][0]["upstream_probes"].append(["x/y", "a/p0", "80/TCP", True])
        del c["steps"][0]["expect"]["53/UDP"]
        c["steps"][0]["expect"]["99/TCP"] = {"allowed_default": True, "exceptions": []}
        errs = self._run(c)
        self.assertTrue(any("unknown pods" in e or "unknown pod" in e for e in errs))
        self.assertTrue(any("no table for served port 53/UDP" in e for e in errs))
        self.assertTrue(any("99/TCP is not a served port" in e for e in errs))

    def test_node_feature_needs_nodes(self):
        c = self._case()
        c["topology"] = dict(TOPO)
        del c["topology"]["nodes"]
        self.assertTrue(any("topology.nodes" in e for e in self._run(c)))


if __name__ == "__main__":
    unittest.main()
