#!/usr/bin/env python3
"""Reference evaluator of the truth-table derivation rules for tier cases.

Pure Python, no dependencies, independent of segd and of the runner. It
implements the rules of the conformance README ("How the tables are derived")
so that a case's tables can be computed and checked:

- label selectors: matchLabels and matchExpressions (In, NotIn, Exists,
  DoesNotExist); an empty selector matches everything;
- ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2): tiers Admin and
  Baseline, subject (namespaces | pods), peers namespaces / pods / nodes /
  networks, protocols tcp/udp/sctp with destinationPort number or inclusive
  range, destinationNamedPort resolved on the destination pod, actions
  Accept / Deny / Pass, ordering by priority then rule order;
- NetworkPolicy (networking.k8s.io/v1): podSelector, policyTypes, peers
  podSelector / namespaceSelector / ipBlock (cidr, except), ports by number,
  name and endPort;
- host-networked pods: never a subject, never selected by a pod/namespace
  peer, matched by address peers (networks, ipBlock, nodes);
- a pod connecting to itself is not subject to ClusterNetworkPolicy
  (NetworkPolicy still applies; such pairs are loopback and not judged).

Addresses: pods get synthetic IPv4 addresses 10.123.0.11, .12, ... in
topology order; `{{ip:NS/POD}}` and `{{net:NS/POD:LEN}}` are expanded against
them. A case must not depend on where literal CIDRs other than 0.0.0.0/0 fall
relative to the pod subnet (the tables here only use placeholders and /0).
"""

import ipaddress
import re

PROTOCOLS = ("TCP", "UDP", "SCTP")
_PLACEHOLDER = re.compile(r"\{\{(ip|net):([^}:]+)(?::(\d+))?\}\}")


class ModelError(Exception):
    pass


# ---------------------------------------------------------------- selectors
def selector_matches(sel, labels):
    """Kubernetes LabelSelector semantics; None is treated by callers."""
    if not isinstance(sel, dict):
        raise ModelError("selector must be an object: %r" % (sel,))
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        key, op = e.get("key"), e.get("operator")
        vals = e.get("values") or []
        if op == "In":
            if key not in labels or labels[key] not in vals:
                return False
        elif op == "NotIn":
            if key in labels and labels[key] in vals:
                return False
        elif op == "Exists":
            if key not in labels:
                return False
        elif op == "DoesNotExist":
            if key in labels:
                return False
        else:
            raise ModelError("unknown selector operator %r" % (op,))
    return True


# ---------------------------------------------------------------- world
class World:
    """The state a step is evaluated in: pods, labels, addresses, nodes."""

    def __init__(self, topology, ns_labels=None, pod_labels=None):
        self.topology = topology
        self.pods = [p["name"] for p in topology["pods"]]
        self.host = {p["name"]: bool(p.get("host_network")) for p in topology["pods"]}
        self.ns_labels = dict(ns_labels if ns_labels is not None else topology["namespaces"])
        self.pod_labels = {p["name"]: dict(p.get("labels") or {}) for p in topology["pods"]}
        if pod_labels:
            self.pod_labels.update(pod_labels)
        self.ip = {n: ipaddress.ip_address("10.123.0.%d" % (11 + i)) for i, n in enumerate(self.pods)}
        self.ports = topology["ports"]
        self.named = {}
        for p in self.ports:
            if p.get("name"):
                self.named[p["name"]] = (p["port"], p["protocol"].upper())
        self.nodes = topology.get("nodes") or []

    def ns_of(self, pod):
        return pod.split("/", 1)[0]

    def nslabels(self, pod):
        ns = self.ns_of(pod)
        if ns not in self.ns_labels:
            raise ModelError("pod %s in unknown namespace" % pod)
        return self.ns_labels[ns]

    def expand(self, text):
        def sub(m):
            kind, pod, ln = m.group(1), m.group(2), m.group(3)
            if pod not in self.ip:
                raise ModelError("placeholder names unknown pod %s" % pod)
            if kind == "ip":
                return str(self.ip[pod])
            if ln is None:
                raise ModelError("net placeholder without length: %s" % m.group(0))
            return str(ipaddress.ip_network("%s/%s" % (self.ip[pod], ln), strict=False))

        return _PLACEHOLDER.sub(sub, text)

    def in_cidr(self, pod, cidr):
        net = ipaddress.ip_network(self.expand(cidr), strict=False)
        addr = self.ip[pod]
        return addr.version == net.version and addr in net


# ---------------------------------------------------------------- CNP
def _cnp_subject(world, subj, pod):
    if world.host[pod]:
        return False
    return _cnp_pod_peer(world, subj, pod)


def _cnp_pod_peer(world, peer, pod):
    """namespaces / pods peer (also used for subject); endpoints only."""
    if world.host[pod]:
        return False
    keys = [k for k in ("namespaces", "pods") if k in peer]
    if len(keys) != 1:
        raise ModelError("subject/peer must have exactly one of namespaces, pods: %r" % (peer,))
    if keys[0] == "namespaces":
        return selector_matches(peer["namespaces"], world.nslabels(pod))
    p = peer["pods"]
    return selector_matches(p.get("namespaceSelector", {}), world.nslabels(pod)) and selector_matches(
        p.get("podSelector", {}), world.pod_labels[pod]
    )


def _cnp_peer(world, peer, pod):
    if "namespaces" in peer or "pods" in peer:
        return _cnp_pod_peer(world, peer, pod)
    if "networks" in peer:
        return any(world.in_cidr(pod, c) for c in peer["networks"])
    if "nodes" in peer:
        for node in world.nodes:
            if selector_matches(peer["nodes"], node.get("labels") or {}) and pod in node.get("pods", []):
                return True
        return False
    raise ModelError("unknown peer %r" % (peer,))


def _cnp_protocols(world, protocols, port, proto):
    if protocols is None:
        return True
    for entry in protocols:
        if "destinationNamedPort" in entry:
            # resolved on the destination pod; every endpoint serves the
            # topology's named ports
            named = world.named.get(entry["destinationNamedPort"])
            if named == (port, proto):
                return True
            continue
        for key in entry:
            if key.upper() not in PROTOCOLS:
                raise ModelError("unknown protocol entry %r" % (entry,))
            if key.upper() != proto:
                continue
            dp = (entry[key] or {}).get("destinationPort")
            if dp is None:
                return True
            if "number" in dp and dp["number"] == port:
                return True
            if "range" in dp and dp["range"]["start"] <= port <= dp["range"]["end"]:
                return True
    return False


def _tier_verdict(world, cnps, tier, direction, local, remote, port, proto):
    """Accept / Deny / Pass / None for one tier at the pod `local`."""
    key = "ingress" if direction == "ingress" else "egress"
    peer_key = "from" if direction == "ingress" else "to"
    chosen = [
        c
        for c in cnps
        if c["spec"].get("tier") == tier and c["spec"].get(key) and _cnp_subject(world, c["spec"]["subject"], local)
    ]
    chosen.sort(key=lambda c: c["spec"].get("priority", 0))
    for c in chosen:
        for rule in c["spec"][key]:
            if not any(_cnp_peer(world, p, remote) for p in rule.get(peer_key) or []):
                continue
            if not _cnp_protocols(world, rule.get("protocols"), port, proto):
                continue
            action = rule.get("action")
            if action not in ("Accept", "Deny", "Pass"):
                raise ModelError("unknown action %r" % (action,))
            return action
    return None


# ---------------------------------------------------------------- NetworkPolicy
def _np_types(np):
    spec = np["spec"]
    types = spec.get("policyTypes")
    if types:
        return set(types)
    t = {"Ingress"}
    if "egress" in spec:
        t.add("Egress")
    return t


def _np_selects(world, np, pod, typ):
    if world.host[pod]:
        return False
    if np["metadata"].get("namespace") != world.ns_of(pod):
        return False
    if typ not in _np_types(np):
        return False
    return selector_matches(np["spec"].get("podSelector") or {}, world.pod_labels[pod])


def _np_peer(world, np, peer, remote):
    if "ipBlock" in peer:
        b = peer["ipBlock"]
        if not world.in_cidr(remote, b["cidr"]):
            return False
        return not any(world.in_cidr(remote, e) for e in b.get("except") or [])
    if world.host[remote]:
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], world.nslabels(remote)):
            return False
    elif world.ns_of(remote) != np["metadata"].get("namespace"):
        return False
    if "podSelector" in peer:
        return selector_matches(peer["podSelector"], world.pod_labels[remote])
    return True


def _np_ports(world, ports, port, proto):
    if not ports:
        return True
    for p in ports:
        pr = (p.get("protocol") or "TCP").upper()
        if pr != proto:
            continue
        if "port" not in p:
            return True
        v = p["port"]
        if isinstance(v, str) and not v.isdigit():
            if world.named.get(v) == (port, proto):
                return True
            continue
        v = int(v)
        end = p.get("endPort", v)
        if v <= port <= end:
            return True
    return False


def _np_verdict(world, nps, direction, local, remote, port, proto):
    """True / False when NetworkPolicies select `local`, else None."""
    typ = "Ingress" if direction == "ingress" else "Egress"
    rkey = "ingress" if direction == "ingress" else "egress"
    pkey = "from" if direction == "ingress" else "to"
    sel = [n for n in nps if _np_selects(world, n, local, typ)]
    if not sel:
        return None
    for n in sel:
        for rule in n["spec"].get(rkey) or []:
            peers = rule.get(pkey)
            if peers and not any(_np_peer(world, n, p, remote) for p in peers):
                continue
            if _np_ports(world, rule.get("ports"), port, proto):
                return True
    return False


# ---------------------------------------------------------------- decision
def direction_allows(world, cnps, nps, direction, local, remote, port, proto):
    if world.host[local]:
        return True  # not an endpoint: nothing is enforced there
    self_pair = local == remote
    if not self_pair:
        v = _tier_verdict(world, cnps, "Admin", direction, local, remote, port, proto)
        if v == "Accept":
            return True
        if v == "Deny":
            return False
    v = _np_verdict(world, nps, direction, local, remote, port, proto)
    if v is not None:
        return v
    if not self_pair:
        v = _tier_verdict(world, cnps, "Baseline", direction, local, remote, port, proto)
        if v == "Accept":
            return True
        if v == "Deny":
            return False
    return True


def split_policies(policies):
    cnps, nps = [], []
    for p in policies:
        kind = p.get("kind")
        if kind == "ClusterNetworkPolicy":
            cnps.append(p)
        elif kind == "NetworkPolicy":
            nps.append(p)
        else:
            raise ModelError("unknown policy kind %r" % (kind,))
    return cnps, nps


def port_key(p):
    return "%d/%s" % (p["port"], p["protocol"].upper())


def evaluate(topology, policies, ns_labels=None, pod_labels=None):
    """{port_key: {(from, to): bool}} for every served port and ordered pair."""
    world = World(topology, ns_labels, pod_labels)
    cnps, nps = split_policies(policies)
    out = {}
    for p in world.ports:
        port, proto = p["port"], p["protocol"].upper()
        cells = {}
        for src in world.pods:
            for dst in world.pods:
                eg = direction_allows(world, cnps, nps, "egress", src, dst, port, proto)
                ing = direction_allows(world, cnps, nps, "ingress", dst, src, port, proto)
                cells[(src, dst)] = eg and ing
        out[port_key(p)] = cells
    return out


def step_state(case, step, prev_ns=None, prev_pods=None):
    """Label state of a step: a step's namespaces/pods, else the previous."""
    topo = case["topology"]
    ns = step.get("namespaces")
    if ns is None:
        ns = prev_ns if prev_ns is not None else case.get("namespaces", topo["namespaces"])
    pods = step.get("pods")
    if pods is not None:
        pods = {p["name"]: p.get("labels") or {} for p in pods}
    else:
        pods = prev_pods
        if pods is None and case.get("pods"):
            pods = {p["name"]: p.get("labels") or {} for p in case["pods"]}
    return ns, pods


def table_from_expect(expect, pods):
    out = {}
    for key, t in expect.items():
        cells = {(a, b): bool(t["allowed_default"]) for a in pods for b in pods}
        for a, b, v in t.get("exceptions", []):
            cells[(a, b)] = bool(v)
        out[key] = cells
    return out


def expect_from_table(table, pods):
    """Compact form: the majority value as allowed_default (ties: true)."""
    out = {}
    for key, cells in table.items():
        trues = sum(1 for v in cells.values() if v)
        default = trues * 2 >= len(cells)
        exc = [[a, b, cells[(a, b)]] for a in pods for b in pods if cells[(a, b)] != default]
        out[key] = {"allowed_default": default, "exceptions": exc}
    return out
