#!/usr/bin/env python3
"""NetworkPolicy / ClusterNetworkPolicy truth-table conformance runner for segd (real
namespaces, real traffic).

    run.py --segd BIN --segctl BIN --probe BIN [--family 4|6|both] [CASE.json|DIR]...

Runs every case in the format of shared/conformance/README.md: the pods (the nine x/y/z pods, or
a case's own `topology`) as network namespaces on one bridge, registered with one segd as
endpoints (except `host_network` pods: they have an address and serve, but segd does not know
them); for each case (or each step of its `steps`) the policies (NetworkPolicy and
ClusterNetworkPolicy) are applied, labels set, and every ordered pair of pods is probed on every
listed port with real TCP handshakes and UDP echoes, then compared with `expect`.

Cases are grouped by topology (stable order): one bridge, set of namespaces and one segd serve
every consecutive case with the same topology, and are torn down when it changes. A case that
needs an upstream feature outside CLAIMED_FEATURES is skipped, naming the feature.

A topology's `nodes` are applied as Node objects (status.addresses: the InternalIPs, of the
families in use, of the host-network pods on each) with `segctl apply -f` once its segd is up,
and deleted with `segctl delete -f` when the runner moves on to another topology.

Between cases: every policy is deleted and pod/namespace labels are reset to the case's.
Output: one line per case `PASS|FAIL|SKIP name (...)`, mismatches listed under a failing case,
and the final line `N passed, N failed[, N skipped]`. Exit 1 if any case failed, 2 on a
harness/setup error.

IPv6: pods' IPv6 addresses embed their IPv4 address (fd00:213::/96 + v4), so any IPv4 ipBlock
or `networks` entry (placeholder or literal) has an exact IPv6 image selecting the same pods
(prefix length 0 becomes ::/0). With --family 6 the blocks are translated; with both, each IPv4
ipBlock peer is followed by its IPv6 image and each IPv4 `networks` entry by its image (peers
and networks are ORed, and an IPv4 block never matches IPv6 traffic, so the union is exactly
the single-family table for each family, in one run from one clean state); a `networks` list
that then names a block twice keeps it once. Before each step's probes every pod's IPv6
neighbour table is flushed, so addresses are resolved under the policies in force.
"""

import argparse
import copy
import glob
import ipaddress
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import topology as T  # noqa: E402

SCTP_REASON = "SCTP not available in this kernel"
# The upstream conformance features this runner (and segd) claim; a case whose `features`
# name any other is skipped, naming it.
CLAIMED_FEATURES = frozenset({"ClusterNetworkPolicy", "ClusterNetworkPolicyNamedPorts",
                              "ClusterNetworkPolicyEgressNodePeers"})
MAX_NODES = 16
NP_KIND = "NetworkPolicy"
CNP_KIND = "ClusterNetworkPolicy"
MAX_PODS = 200          # one /24 from .10, with room
MAX_PORTS = 64
DEFAULT_TOPOLOGY = "default nine pods x/y/z"
DEFAULT_NAMED_PORTS = [("serve-80-tcp", 80, "TCP"), ("serve-81-tcp", 81, "TCP"),
                       ("serve-80-udp", 80, "UDP"), ("serve-81-udp", 81, "UDP")]
RE_IP = re.compile(r"\{\{ip:([^}:]+)\}\}")
RE_NET = re.compile(r"\{\{net:([^}:]+):(\d+)\}\}")
MAX_LISTED = 40


class CaseError(Exception):
    pass


def port_key(p):
    return "%d/%s" % (int(p["port"]), p.get("protocol", "TCP").upper())


def parse_key(key):
    port, _, proto = key.partition("/")
    return int(port), (proto or "TCP").upper()


def load_cases(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(glob.glob(os.path.join(p, "*.json")))
        else:
            files.append(p)
    cases = []
    for f in files:
        try:
            with open(f) as fh:
                c = json.load(fh)
            if not isinstance(c, dict):
                raise ValueError("not a JSON object")
            c.setdefault("name", os.path.splitext(os.path.basename(f))[0])
        except (OSError, ValueError) as e:
            c = {"name": os.path.basename(f), "_load_error": str(e)}
        c["_file"] = f
        cases.append(c)
    return cases


def case_steps(c):
    if "steps" in c:
        return c["steps"]
    return [{"policies": c.get("policies", []), "expect": c.get("expect", {})}]


def named_port_proto(name):
    for suffix in ("tcp", "udp", "sctp"):
        if name.lower().endswith("-" + suffix):
            return suffix.upper()
    return "TCP"


# --------------------------------------------------------------- placeholders
def substitute_v4(obj, ips):
    """Replace {{ip:NS/POD}} and {{net:NS/POD:LEN}} with IPv4 text in every string."""
    if isinstance(obj, dict):
        return {k: substitute_v4(v, ips) for k, v in obj.items()}
    if isinstance(obj, list):
        return [substitute_v4(v, ips) for v in obj]
    if isinstance(obj, str) and "{{" in obj:
        def ip(m):
            if m.group(1) not in ips:
                raise CaseError("placeholder names unknown pod %r" % m.group(1))
            return str(ips[m.group(1)])

        def net(m):
            if m.group(1) not in ips:
                raise CaseError("placeholder names unknown pod %r" % m.group(1))
            n = ipaddress.ip_network("%s/%s" % (ips[m.group(1)], m.group(2)), strict=False)
            return str(n)
        s = RE_NET.sub(net, RE_IP.sub(ip, obj))
        if "{{" in s:
            raise CaseError("unknown placeholder in %r" % obj)
        return s
    return obj


def v6_image(cidr):
    """The IPv6 image of an IPv4 CIDR (README "IPv6 and dual stack"): the address placed as the
    pods' are, /(N+96); prefix length 0 means every address, so 0.0.0.0/0 is ::/0."""
    addr, _, plen = cidr.partition("/")
    if plen.strip() == "0":
        ipaddress.IPv4Address(addr.strip())
        return "::/0"
    return T.v6_image_of_cidr(cidr.strip())


def is_v4_literal(cidr):
    return isinstance(cidr, str) and ":" not in cidr


def translate_networks(nets, family):
    """A ClusterNetworkPolicy `networks` list: IPv4 entries replaced by (6) or followed by
    (both) their IPv6 image; a block named twice is kept once."""
    out = []
    for n in nets:
        if is_v4_literal(n):
            try:
                img = v6_image(n)
            except ValueError as e:
                raise CaseError("cannot translate network %r to IPv6: %s" % (n, e))
            add = [img] if family == 6 else [n, img]
        else:
            add = [n]
        for x in add:
            if x not in out:
                out.append(x)
    return out


def translate_ipblocks(obj, family):
    """family 4: unchanged; 6: IPv4 ipBlocks and networks replaced by their IPv6 image; both:
    image added."""
    if family == 4:
        return obj
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "networks" and isinstance(v, list):
                out[k] = translate_networks(v, family)
            else:
                out[k] = translate_ipblocks(v, family)
        return out
    if not isinstance(obj, list):
        return obj
    out = []
    for item in obj:
        item = translate_ipblocks(item, family)
        blk = item.get("ipBlock") if isinstance(item, dict) else None
        if isinstance(blk, dict) and is_v4_literal(blk.get("cidr")):
            try:
                v6 = dict(blk)
                v6["cidr"] = v6_image(blk["cidr"])
                if "except" in blk:
                    v6["except"] = [v6_image(e) for e in blk["except"]]
            except (ValueError, TypeError, AttributeError) as e:
                raise CaseError("cannot translate ipBlock %s to IPv6: %s" % (json.dumps(blk), e))
            peer6 = dict(item)
            peer6["ipBlock"] = v6
            if family == "both":
                out.append(item)
            out.append(peer6)
        else:
            out.append(item)
    return out


def policy_key(o):
    """(kind, namespace, name): ClusterNetworkPolicy is cluster-scoped (namespace "")."""
    if not isinstance(o, dict) or not isinstance(o.get("metadata"), dict) or \
            not isinstance(o["metadata"].get("name"), str):
        raise CaseError("policy without metadata.name: %s" % json.dumps(o)[:200])
    kind = o.get("kind", NP_KIND)
    if kind == CNP_KIND:
        return (CNP_KIND, "", o["metadata"]["name"])
    if kind != NP_KIND:
        raise CaseError("unsupported policy kind %r (%s)" % (kind, o["metadata"]["name"]))
    return (NP_KIND, o["metadata"].get("namespace", "default"), o["metadata"]["name"])


def key_text(k):
    return ("%s/%s" % (k[1], k[2])) if k[0] == NP_KIND else ("%s %s" % (k[0], k[2]))


def case_features(c):
    f = c.get("features") or []
    if not isinstance(f, list) or not all(isinstance(x, str) for x in f):
        raise CaseError("features must be a list of strings")
    return f


def has_address_peers(c):
    """Policies naming addresses (ipBlock, networks or a placeholder)."""
    text = json.dumps([st.get("policies") for st in case_steps(c)])
    return any(x in text for x in ('"ipBlock"', '"networks"', "{{ip:", "{{net:"))


SANITIZER_MARKERS = T.SANITIZER_MARKERS


def sanitizer_reports(log_path):
    """The sanitizer report in one segd log, as T.sanitizer_failures() finds them (for a segd
    retired when the topology changes, before its work dir goes)."""
    try:
        with open(log_path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return []
    for i, line in enumerate(lines):
        if any(m in line for m in SANITIZER_MARKERS):
            return ["%s: %s" % (log_path, "".join(lines[i:i + 12]).rstrip())]
    return []


# ------------------------------------------------------------------- topology
class Spec:
    """The pods, namespaces and served ports one segd and one bridge serve."""

    def __init__(self, key):
        self.key = key
        self.pods = []              # "NS/POD", in order
        self.host_network = set()   # pods that are not segd endpoints
        self.ns_labels = {}         # initial namespace labels
        self.pod_labels = {}        # initial pod labels
        self.ports = {"TCP": set(), "UDP": set(), "SCTP": set()}
        self.named_ports = []       # (name, port, PROTO)
        self.order = []             # "80/TCP" in the order the case gives them
        self.own = False            # a case's own topology (not the x/y/z default)
        self.nodes = []             # (name, labels, [host-network pods on it])

    def served(self, key):
        port, proto = parse_key(key)
        return port in self.ports.get(proto, ())


def default_spec(cases):
    sp = Spec(DEFAULT_TOPOLOGY)
    sp.pods = ["%s/%s" % (ns, p) for ns in "xyz" for p in "abc"]
    sp.ports = {"TCP": set([80, 81]), "UDP": set([80, 81]), "SCTP": set()}
    sp.named_ports = list(DEFAULT_NAMED_PORTS)
    names = {n for n, _, _ in sp.named_ports}
    for c in cases:
        if "_load_error" in c or "topology" in c:
            continue
        for p in c.get("pods", []):
            if isinstance(p, dict) and p.get("name") and p["name"] not in sp.pods:
                sp.pods.append(p["name"])
        for st in case_steps(c):
            for key in (st.get("expect") or {}):
                port, proto = parse_key(key)
                if proto in sp.ports:
                    sp.ports[proto].add(port)
        for name, num in (c.get("named_ports") or {}).items():
            if name not in names:
                sp.named_ports.append((name, int(num), named_port_proto(name)))
                names.add(name)
    sp.pod_labels = {p: {"pod": p.partition("/")[2]} for p in sp.pods}
    sp.ns_labels = {}
    return sp


def topology_spec(c):
    """The Spec of a case's `topology`; CaseError on anything malformed or over the bounds."""
    t = c["topology"]
    if not isinstance(t, dict):
        raise CaseError("topology must be an object")
    nodes = t.get("nodes") or []
    if not isinstance(nodes, list) or len(nodes) > MAX_NODES:
        raise CaseError("topology.nodes must be a list of at most %d nodes" % MAX_NODES)
    nss, pods, ports = t.get("namespaces") or {}, t.get("pods"), t.get("ports")
    if not isinstance(nss, dict) or not isinstance(pods, list) or not isinstance(ports, list):
        raise CaseError("topology needs namespaces {}, pods [] and ports []")
    if not pods or len(pods) > MAX_PODS:
        raise CaseError("topology has %d pods (1 to %d)" % (len(pods), MAX_PODS))
    if not ports or len(ports) > MAX_PORTS:
        raise CaseError("topology has %d ports (1 to %d)" % (len(ports), MAX_PORTS))
    key = json.dumps({"namespaces": sorted(nss),
                      "pods": [[p.get("name"), bool(p.get("host_network"))] if isinstance(p, dict) else p
                               for p in pods],
                      "ports": ports, "nodes": nodes}, sort_keys=True)
    sp = Spec(key)
    sp.own = True
    for ns, labels in nss.items():
        if not isinstance(labels, dict):
            raise CaseError("topology namespace %s: labels must be an object" % ns)
        sp.ns_labels[ns] = dict(labels)
    for p in pods:
        name = p.get("name") if isinstance(p, dict) else None
        if not isinstance(name, str) or name.count("/") != 1 or not all(name.partition("/")[::2]):
            raise CaseError("topology pod %s: name must be NS/POD" % json.dumps(p)[:100])
        if name in sp.pod_labels:
            raise CaseError("topology pod %s listed twice" % name)
        if not isinstance(p.get("labels") or {}, dict):
            raise CaseError("topology pod %s: labels must be an object" % name)
        sp.pods.append(name)
        sp.pod_labels[name] = dict(p.get("labels") or {})
        if p.get("host_network"):
            sp.host_network.add(name)
        sp.ns_labels.setdefault(name.partition("/")[0], {})
    names = set()
    for p in ports:
        if not isinstance(p, dict):
            raise CaseError("topology port %r must be an object" % (p,))
        proto = str(p.get("protocol", "TCP")).upper()
        port = p.get("port")
        if proto not in sp.ports or not isinstance(port, int) or not 1 <= port <= 65535:
            raise CaseError("topology port %s: need port 1-65535 and protocol TCP, UDP or SCTP" % json.dumps(p))
        sp.ports[proto].add(port)
        sp.order.append("%d/%s" % (port, proto))
        if p.get("name") is not None:
            if not isinstance(p["name"], str) or p["name"] in names:
                raise CaseError("topology port %s: bad or repeated name" % json.dumps(p))
            names.add(p["name"])
            sp.named_ports.append((p["name"], port, proto))
    seen = set()
    for n in nodes:
        if not isinstance(n, dict) or not isinstance(n.get("name"), str) or n["name"] in seen:
            raise CaseError("topology node %s: needs a name, once" % json.dumps(n)[:100])
        seen.add(n["name"])
        labels, on = n.get("labels", {}), n.get("pods", [])
        labels, on = {} if labels is None else labels, [] if on is None else on
        if not isinstance(labels, dict) or not isinstance(on, list):
            raise CaseError("topology node %s: labels must be an object, pods a list" % n["name"])
        for pod in on:
            if pod not in sp.host_network:
                raise CaseError("topology node %s: %s is not a host-network pod of the topology"
                                % (n["name"], pod))
        sp.nodes.append((n["name"], dict(labels), list(on)))
    return sp


# --------------------------------------------------------------------- runner
class SetupError(Exception):
    pass


class Runner:
    def __init__(self, args, cases):
        self.args = args
        self.cases = cases
        self.families = [4, 6] if args.family == "both" else [int(args.family)]
        self.sctp = T.sctp_available()
        self.topo = None
        self.segd = None
        self.spec = None
        self.pods = []
        self.epn = {}
        self.jsonl = open(args.jsonl, "w") if args.jsonl else None
        self.ns_labels = None  # last namespace labels applied and verified
        self.total_skipped_probes = 0
        self.applied = {}      # policy key -> object last applied in this case
        self.policies_in_force = set()
        self.cnps_in_force = set()
        self.cnp_api = None    # does segctl list ClusterNetworkPolicies (asked per segd)
        self.sanitizer = []
        # segctl matrix/check evaluate every address family two endpoints share, so their
        # answers equal the truth table only when the case's ipBlocks cover both
        self.explain = args.family == "both" and not args.no_explain

    # ------------------------------------------------------------------ setup
    def plan(self):
        """[(spec, [case, ...])] in the cases' order, consecutive cases of one topology
        together (stable grouping: each topology is set up once)."""
        dflt = None
        groups, index = [], {}
        for c in self.cases:
            spec, err = None, None
            if "_load_error" not in c and "topology" in c:
                try:
                    spec = topology_spec(c)
                except CaseError as e:
                    err = str(e)
            elif "_load_error" not in c:
                if dflt is None:
                    dflt = default_spec(self.cases)
                spec = dflt
            if spec is None:  # reported as a failed case on its own
                c["_spec_error"] = err
                groups.append((None, [c]))
                continue
            if spec.key not in index:
                index[spec.key] = len(groups)
                groups.append((spec, []))
            groups[index[spec.key]][1].append(c)
        return groups

    def ep_of(self, pod):
        return self.epn[pod]

    def setup(self, spec):
        a = self.args
        self.spec = spec
        self.pods = list(spec.pods)
        self.epn = {p: "%s-%s" % tuple(p.split("/", 1)) for p in self.pods}
        if len(set(self.epn.values())) != len(self.epn):
            raise SetupError("two pods map to one endpoint name (NS-POD)")
        self.topo = T.Topology(a.probe)
        for pod in self.pods:
            self.topo.add_endpoint(self.epn[pod])
        for pod in self.pods:
            self.topo.start_server(self.epn[pod], tcp=sorted(spec.ports["TCP"]),
                                   udp=sorted(spec.ports["UDP"]))
        self.segd = T.Segd(a.segd, a.segctl, deny_action=a.deny_action)
        self.segd.start()
        for pod in self.pods:
            if pod in spec.host_network:
                continue  # has an address and serves, but segd does not know it
            ns = pod.partition("/")[0]
            ep = self.topo.endpoints[self.epn[pod]]
            p = self.segd.endpoint_add(ep.name, ep.netns, ns, spec.pod_labels[pod], spec.named_ports)
            if p.returncode != 0:
                raise SetupError("segctl endpoint add %s failed (%d): %s%s" % (
                    ep.name, p.returncode, p.stdout, p.stderr))
        self.ep_labels = {pod: dict(spec.pod_labels[pod]) for pod in self.pods}
        self.ns_labels = None
        p = self.segd.ctl("get", "clusternetworkpolicies", "-o", "json")
        try:
            self.cnp_api = p.returncode == 0 and isinstance(json.loads(p.stdout).get("items"), list)
        except ValueError:
            self.cnp_api = False
        self.cnp_api_error = "" if self.cnp_api else ((p.stderr or p.stdout).strip() + "\n").split("\n")[0][:200]
        self.node_objects = self.node_objs(spec)
        if self.node_objects:
            p = self.segd.apply_objects(self.node_objects, "topology-nodes.json")
            if p.returncode != 0:
                raise SetupError("segctl apply -f (Nodes) failed (%d): %s" % (
                    p.returncode, (p.stderr or p.stdout).strip()))

    def node_objs(self, spec):
        """The topology's nodes as Node objects: the InternalIPs (of the families in use) of
        the host-network pods on each."""
        objs = []
        for name, labels, on in spec.nodes:
            addrs = [{"type": "InternalIP", "address": str(self.topo.endpoints[self.epn[pod]].addr(f))}
                     for pod in on for f in self.families]
            objs.append({"apiVersion": "v1", "kind": "Node",
                         "metadata": {"name": name, "labels": labels},
                         "status": {"addresses": addrs}})
        return objs

    def delete_nodes(self):
        """`segctl delete -f` of the topology's Nodes, as a user moving on would."""
        objs, self.node_objects = getattr(self, "node_objects", None), None
        if not objs or not self.segd:
            return
        path = os.path.join(self.segd.workdir, "topology-nodes-deleted.json")
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": objs}, f, indent=1)
        p = self.segd.ctl("delete", "-f", path)
        if p.returncode != 0:
            self.node_delete_failed = True
            print("NODE DELETE FAILED: segctl delete -f (%d): %s" % (
                p.returncode, (p.stderr or p.stdout).strip()), flush=True)

    def teardown_topology(self):
        self.delete_nodes()
        if self.segd:
            if self.args.keep_log:
                print("segd log: %s" % self.segd.log_path)
            self.segd.stop()
            self.sanitizer += sanitizer_reports(self.segd.log_path)
            self.segd.close()
            self.segd = None
        if self.topo:
            self.topo.close()
            self.topo = None

    def ips(self, family=4):
        return {pod: self.topo.endpoints[self.epn[pod]].addr(family) for pod in self.pods}

    # ----------------------------------------------------------------- state
    def set_namespaces(self, labels_by_ns):
        nss = sorted({p.partition("/")[0] for p in self.pods} | set(labels_by_ns) | set(self.spec.ns_labels))
        wanted = {ns: dict(labels_by_ns.get(ns) or {}) for ns in nss}
        if wanted == self.ns_labels:
            return
        self.ns_labels = None
        objs = [{"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": ns, "labels": dict(labels_by_ns.get(ns) or {})}}
                for ns in nss]
        p = self.segd.apply_objects(objs, "namespaces.json")
        if p.returncode != 0:
            raise CaseError("applying Namespace labels failed (%d): %s" % (p.returncode, (p.stderr or p.stdout).strip()))
        got = {it["metadata"]["name"]: (it["metadata"].get("labels") or {})
               for it in self.segd.items("namespaces")}
        for ns in nss:
            want = dict(labels_by_ns.get(ns) or {})
            want.setdefault("kubernetes.io/metadata.name", ns)
            if got.get(ns) != want:
                raise CaseError("namespace %s labels are %s after apply, want %s" % (
                    ns, json.dumps(got.get(ns)), json.dumps(want)))
        self.ns_labels = wanted

    def set_pods(self, pods_spec):
        want = {}
        for p in pods_spec or []:
            if not isinstance(p, dict) or p.get("name") not in self.ep_labels:
                raise CaseError("case names unknown pod %r" % (p.get("name") if isinstance(p, dict) else p))
            want[p["name"]] = dict(p.get("labels") or {})
        cur = {it["name"]: (it.get("labels") or {}) for it in self.segd.items("endpoints")}
        changed = False
        for pod, labels in want.items():
            self.ep_labels[pod] = labels
            if pod in self.spec.host_network:
                continue  # not an endpoint: its labels select nothing
            have = cur.get(self.epn[pod], {})
            setl = {k: v for k, v in labels.items() if have.get(k) != v}
            rem = [k for k in have if k not in labels]
            if setl or rem:
                changed = True
                r = self.segd.endpoint_label(self.epn[pod], setl, rem)
                if r.returncode != 0:
                    raise CaseError("segctl endpoint label %s failed (%d): %s" % (
                        self.epn[pod], r.returncode, (r.stderr or r.stdout).strip()))
        if changed:
            cur = {it["name"]: (it.get("labels") or {}) for it in self.segd.items("endpoints")}
        for pod, labels in want.items():
            if pod not in self.spec.host_network and cur.get(self.epn[pod]) != labels:
                raise CaseError("endpoint %s labels are %s, want %s" % (
                    self.epn[pod], json.dumps(cur.get(self.epn[pod])), json.dumps(labels)))

    def listed_policies(self):
        """{key: object} of every policy segd lists (ClusterNetworkPolicies when segctl can)."""
        out = {}
        for it in self.segd.items("networkpolicies"):
            md = it.get("metadata", {})
            out[(NP_KIND, md.get("namespace", "default"), md.get("name"))] = it
        if self.cnp_api:
            for it in self.segd.ctl_json("get", "clusternetworkpolicies").get("items", []):
                out[(CNP_KIND, "", it.get("metadata", {}).get("name"))] = it
        return out

    def delete_one(self, k):
        if k[0] == CNP_KIND:
            p = self.segd.ctl("delete", "clusternetworkpolicy", k[2])
        else:
            p = self.segd.ctl("delete", "networkpolicy", k[2], "-n", k[1])
        if p.returncode != 0:
            raise CaseError("segctl delete %s failed (%d): %s" % (
                key_text(k), p.returncode, (p.stderr or p.stdout).strip()))

    def delete_all_policies(self):
        for k in self.listed_policies():
            self.delete_one(k)
        self.applied = {}
        left = self.listed_policies()
        if left:
            raise CaseError("policies left after deleting all: %s" % sorted(key_text(k) for k in left))

    def set_policies(self, policies):
        """The step's policies are the complete set in force: the new and changed ones with one
        `segctl apply -f` (a List mixing both kinds), the vanished ones with `segctl delete -f`."""
        fam = "both" if len(self.families) == 2 else self.families[0]
        want = {}
        for p in policies:
            o = translate_ipblocks(substitute_v4(copy.deepcopy(p), self.ips(4)), fam)
            k = policy_key(o)
            if k in want:
                raise CaseError("step names %s twice" % key_text(k))
            want[k] = o
        if any(k[0] == CNP_KIND for k in want) and not self.cnp_api:
            raise CaseError("segctl cannot list ClusterNetworkPolicies (`segctl get clusternetworkpolicies "
                            "-o json`: %s)" % (self.cnp_api_error or "no items"))
        changed = [o for k, o in want.items() if self.applied.get(k) != o]
        if changed:
            p = self.segd.apply_objects(changed, "case-policies.json")
            if p.returncode != 0:
                raise CaseError("segctl apply -f failed (%d): %s" % (p.returncode, (p.stderr or p.stdout).strip()))
        gone = [o for k, o in self.applied.items() if k not in want]
        if gone:
            objs = gone  # the objects as last applied: segctl validates a file it deletes by
            path = os.path.join(self.segd.workdir, "case-deleted.json")
            with open(path, "w") as f:
                json.dump({"apiVersion": "v1", "kind": "List", "items": objs}, f, indent=1)
            p = self.segd.ctl("delete", "-f", path)
            if p.returncode != 0:
                raise CaseError("segctl delete -f failed (%d): %s" % (p.returncode, (p.stderr or p.stdout).strip()))
        have = set(self.listed_policies())
        if have != set(want):
            raise CaseError("policies in force %s, want %s" % (
                sorted(key_text(k) for k in have), sorted(key_text(k) for k in want)))
        self.applied = want
        self.policies_in_force = {"%s/%s" % (k[1], k[2]) for k in want if k[0] == NP_KIND}
        self.cnps_in_force = {k[2] for k in want if k[0] == CNP_KIND}

    def in_force(self, name):
        """A policy named by segctl check is in force (ClusterNetworkPolicies by their name,
        however check qualifies it)."""
        if not isinstance(name, str):
            return False
        if name in self.policies_in_force:
            return True
        return any(n in self.cnps_in_force for n in (name, name.split("/")[-1], name.split(":")[-1]))

    def endpoint_problems(self):
        bad = []
        for it in self.segd.items("endpoints"):
            if it.get("state") != "enforced":
                bad.append("%s state=%s%s" % (it.get("name"), it.get("state"),
                                              (" error=%s" % it["error"]) if it.get("error") else ""))
        return bad

    def flush_neighbours(self):
        """README: every pod's IPv6 neighbour table is flushed before a step's probes, so
        addresses are resolved under the policies in force."""
        if 6 not in self.families:
            return
        eps = [self.topo.endpoints[self.epn[pod]] for pod in self.pods]
        with ThreadPoolExecutor(max_workers=8) as ex:
            list(ex.map(lambda ep: T.run(["ip", "-n", ep.netns, "-6", "neigh", "flush", "dev", ep.ifname]), eps))

    # ----------------------------------------------------------------- probes
    def probe_step(self, case, expect):
        """Returns (probes, skipped, mismatches[list of dict])."""
        ignore_lo = case.get("ignore_loopback", True)
        # A step judges exactly the ports its expect names (upstream sometimes probes fewer
        # ports after a later step); `ports` (or the topology's) only gives the order.
        order = self.spec.order if self.spec.own else [port_key(p) for p in case.get("ports", [])]
        keys = [k for k in order if k in expect]
        keys += [k for k in expect if k not in keys]
        plan, want, skipped = {}, {}, 0
        for key in keys:
            e = expect[key]
            port, proto = parse_key(key)
            if proto not in ("TCP", "UDP", "SCTP"):
                raise CaseError("unsupported protocol %s" % proto)
            if self.spec.own and not self.spec.served(key):
                raise CaseError("expect names %s, which the topology does not serve" % key)
            exc = {}
            for ex in e.get("exceptions", []):
                exc[(ex[0], ex[1])] = bool(ex[2])
            for (f, t) in exc:
                if f not in self.ep_labels or t not in self.ep_labels:
                    raise CaseError("expect %s names unknown pod in %s -> %s" % (key, f, t))
            pairs = [(f, t) for f in self.pods for t in self.pods if not (ignore_lo and f == t)]
            if proto == "SCTP":
                skipped += len(pairs) * len(self.families)
                continue
            for f, t in pairs:
                exp = exc.get((f, t), bool(e.get("allowed_default", True)))
                for fam in self.families:
                    tgt = self.topo.endpoints[self.epn[t]].target(proto, fam, port)
                    plan.setdefault(self.epn[f], []).append(tgt)
                    want[(self.epn[f], tgt)] = (key, fam, f, t, exp)
        self.flush_neighbours()
        res = self.topo.probe_matrix(plan, self.args.timeout_ms) if plan else {}
        mism = []
        for (src, tgt), (key, fam, f, t, exp) in want.items():
            got = res[src][tgt]
            if got != exp:
                mism.append({"port": key, "family": fam, "from": f, "to": t,
                             "expected": exp, "got": got})
        return len(want), skipped, mism

    # ---------------------------------------------------------------- explain
    def explain_step(self, case, expect):
        """segctl matrix must equal the truth table (SCTP included: it reads plans, not
        packets), and segctl check must give the same verdict for the step's exceptions and
        one default pair, naming policies in force, with the kernel in sync. Host-network pods
        are not endpoints: segctl knows nothing about them, so their pairs are left out."""
        keys = list(expect)
        eps = [p for p in self.pods if p not in self.spec.host_network]
        args = ["matrix", "-A", "-o", "json"]
        for k in keys:
            args += ["--port", k]
        m = self.segd.ctl_json(*args)
        got = {(p["from"], p["to"], p["port"]): p["allowed"] for p in m.get("pairs", [])}
        probs, samples = [], []
        for key in keys:
            e = expect[key]
            exc = {(x[0], x[1]): bool(x[2]) for x in e.get("exceptions", [])}
            default = bool(e.get("allowed_default", True))
            for f in eps:
                for t in eps:
                    if f == t:
                        continue  # the matrix leaves out an endpoint to itself
                    exp = exc.get((f, t), default)
                    g = got.get((self.epn[f], self.epn[t], key))
                    if g != exp:
                        probs.append("matrix %s %s -> %s: %s, expected %s" % (
                            key, f, t, g, "allow" if exp else "deny"))
            samples += [(f, t, key, v) for (f, t), v in list(exc.items())[:3]
                        if f != t and f in eps and t in eps]
            pair = next(((f, t) for f in eps for t in eps if f != t and (f, t) not in exc), None)
            if pair:
                samples.append((pair[0], pair[1], key, default))
        tiers = bool(self.cnps_in_force)
        samples = samples[:6]
        with ThreadPoolExecutor(max_workers=6) as ex:  # independent reads of one state
            answers = list(ex.map(lambda x: self.segd.ctl_json("check", self.epn[x[0]], self.epn[x[1]], x[2]),
                                  samples))
        for (f, t, key, exp), o in zip(samples, answers):
            what = "check %s -> %s %s" % (f, t, key)
            if (o.get("verdict") == "allowed") != exp:
                probs.append("%s: verdict %s, expected %s" % (what, o.get("verdict"), "allow" if exp else "deny"))
            for d in ("egress", "ingress"):
                x = o.get(d) or {}
                named = [r.get("policy") for r in x.get("rules", [])] + list(x.get("selected_by", []))
                stray = [n for n in named if not self.in_force(n)]
                if stray:
                    probs.append("%s: %s names policies not in force: %s" % (what, d, stray))
                if tiers:
                    continue  # a tier's Accept/Deny decides without a NetworkPolicy rule
                if x.get("isolated") and x.get("allowed") and not x.get("rules"):
                    probs.append("%s: %s allowed while isolated, but no rule named" % (what, d))
                if x.get("enforced") and not x.get("allowed") and not x.get("selected_by"):
                    probs.append("%s: %s denied without the selecting policies" % (what, d))
            if o.get("kernel_mismatch"):
                probs.append("%s: the kernel does not hold the plan: %s" % (what, o.get("kernel")))
        return probs

    # ------------------------------------------------------------------- case
    def skip_reason(self, c):
        missing = [f for f in case_features(c) if f not in CLAIMED_FEATURES]
        if missing:
            return "needs feature%s %s (claimed: %s)" % (
                "s" if len(missing) > 1 else "", ", ".join(missing), ", ".join(sorted(CLAIMED_FEATURES)))
        return None

    def run_case(self, c):
        t0 = time.monotonic()
        rec = {"case": c.get("name"), "file": c.get("_file"), "probes": 0, "mismatches": 0,
               "skipped_probes": 0, "steps": [], "topology": self.spec.key if self.spec.own else "default"}
        if not self.segd.alive():
            raise CaseError("segd is not running (exited %s); log tail:\n%s" % (
                self.segd.proc.returncode, self.segd.log_tail()))
        steps = case_steps(c)
        # Reset: no policies, labels as the case starts.
        self.delete_all_policies()
        base_pods = [{"name": p, "labels": self.spec.pod_labels[p]} for p in self.pods]
        given = {p["name"]: p for p in c.get("pods", []) if isinstance(p, dict) and "name" in p}
        self.set_pods([given.get(p["name"], p) for p in base_pods])
        self.set_namespaces(c.get("namespaces") or self.spec.ns_labels)
        lines = []
        last = None  # (state, expect, step) of the last probed step
        for i, st in enumerate(steps):
            label = "step %d/%d" % (i + 1, len(steps)) if "steps" in c else "policies"
            if st.get("namespaces") is not None:
                self.set_namespaces(st["namespaces"])
            if st.get("pods") is not None:
                self.set_pods(st["pods"])
            if "policies" in st:
                self.set_policies(st.get("policies") or [])
            if self.args.settle_ms:
                # Off by default (segctl returns once the change is enforced): a manual knob
                # to tell a timing problem from a wrong verdict, never needed to pass.
                time.sleep(self.args.settle_ms / 1000.0)
            if not st.get("expect"):
                continue
            # Upstream often probes one state twice (a subtest that changes nothing): the same
            # policies, labels and table give the same packets, so such a step is not probed
            # again unless --reprobe-same.
            state = json.dumps([sorted(self.applied.items()), self.ns_labels, self.ep_labels], sort_keys=True)
            if not self.args.reprobe_same and last and last[0] == state and last[1] == st["expect"]:
                rec["repeats"] = rec.get("repeats", 0) + 1
                rec["steps"].append({"step": i + 1, "repeat_of": last[2]})
                continue
            last = (state, st["expect"], i + 1)
            ts = time.monotonic()
            probes, skipped, mism = self.probe_step(c, st["expect"])
            tp = time.monotonic() - ts
            if self.explain:
                for prob in self.explain_step(c, st["expect"]):
                    mism.append({"explain": prob})
            rec["probes"] += probes
            rec["skipped_probes"] += skipped
            rec["mismatches"] += len(mism)
            srec = {"step": i + 1, "probes": probes, "mismatches": len(mism),
                    "probe_seconds": round(tp, 3), "seconds": round(time.monotonic() - ts, 3),
                    "denied_but_allowed": sum(1 for m in mism if m.get("got")),
                    "allowed_but_denied": sum(1 for m in mism if m.get("got") is False),
                    "explain": sum(1 for m in mism if "explain" in m)}
            rec["steps"].append(srec)
            if mism:
                probs = self.endpoint_problems()
                lines.append("  %s%s: %d mismatches (%d allowed but should be denied, %d denied but should be allowed, "
                             "%d from segctl matrix/check)" % (
                                 label, (" (%s)" % st["action"]) if st.get("action") else "", len(mism),
                                 srec["denied_but_allowed"], srec["allowed_but_denied"], srec["explain"]))
                merged = {}
                for m in mism:
                    if "explain" in m:
                        lines.append("    explain: %s" % m["explain"])
                        continue
                    merged.setdefault((m["port"], m["from"], m["to"], m["expected"], m["got"]), []).append(m["family"])
                for (port, f, t, exp, got), fams in sorted(merged.items())[:MAX_LISTED]:
                    lines.append("    %-7s %s -> %s [%s]: expected %s, got %s" % (
                        port, f, t, "+".join("IPv%d" % x for x in sorted(fams)),
                        "allow" if exp else "deny", "allow" if got else "deny"))
                if len(merged) > MAX_LISTED:
                    lines.append("    ... %d more" % (len(merged) - MAX_LISTED))
                if probs:
                    lines.append("    endpoints not enforced: %s" % "; ".join(probs))
        rec["seconds"] = round(time.monotonic() - t0, 3)
        return rec, lines

    def run(self):
        self.counts = {"passed": 0, "failed": 0, "skipped": 0}
        harness_error = False
        print("# kernel %s; families %s; SCTP %s; probe timeout %d ms; features claimed: %s" % (
            os.uname().release, "+".join("IPv%d" % f for f in self.families),
            "available" if self.sctp else "not available (SCTP probes skipped)",
            self.args.timeout_ms, ", ".join(sorted(CLAIMED_FEATURES))), flush=True)
        try:
            for spec, cases in self.plan():
                cases = [c for c in cases if not self.args.only or re.search(self.args.only, c.get("name", ""))]
                todo = []
                for c in cases:
                    why = None
                    try:
                        why = "_load_error" not in c and self.skip_reason(c)
                    except CaseError as e:
                        c["_spec_error"] = str(e)
                    if spec is not None and c.get("_spec_error"):
                        self.fail(c, c["_spec_error"], 0.0)
                    elif why:
                        self.counts["skipped"] += 1
                        print("SKIP %s (%s)" % (c.get("name"), why), flush=True)
                        self.emit({"case": c.get("name"), "file": c.get("_file"), "result": "SKIP", "reason": why})
                    else:
                        todo.append(c)
                if not todo:
                    continue
                if spec is None:
                    for c in todo:
                        self.fail(c, "cannot load: %s" % c["_load_error"] if "_load_error" in c
                                  else "bad topology: %s" % c.get("_spec_error"), 0.0)
                    continue
                ts = time.monotonic()
                try:
                    self.setup(spec)
                    ok = self.preflight()
                except Exception as e:  # noqa: BLE001
                    print("SETUP FAILED (topology of %s): %s: %s" % (todo[0].get("name"), type(e).__name__, e), flush=True)
                    if self.segd:
                        print(self.segd.log_tail(), flush=True)
                    ok = False
                if not ok:
                    harness_error = True
                    for c in todo:
                        self.fail(c, "topology setup or preflight failed", 0.0)
                    self.teardown_topology()
                    continue
                served = " ".join(spec.order) if spec.own else " ".join(
                    "%s/%s" % (",".join(str(x) for x in sorted(spec.ports[pr])), pr) for pr in ("TCP", "UDP"))
                print("# topology %s: %d pods (%d host-network), ports %s; ClusterNetworkPolicy API %s; "
                      "setup %.2fs" % (
                          "of " + todo[0].get("name") if spec.own else "x/y/z", len(self.pods),
                          len(spec.host_network), served,
                          "available" if self.cnp_api else "not available (%s)" % self.cnp_api_error,
                          time.monotonic() - ts), flush=True)
                for c in todo:
                    self.one(c)
                self.teardown_topology()
        finally:
            self.teardown_topology()
            if self.jsonl:
                self.jsonl.close()
        if self.total_skipped_probes:
            print("# %d probes skipped (%s)" % (self.total_skipped_probes, SCTP_REASON))
        reports = self.sanitizer + T.sanitizer_failures()
        for report in sorted(set(reports), key=reports.index):
            self.counts["failed"] += 1
            print("FAIL sanitizer report from segd\n    " + report.replace("\n", "\n    "), flush=True)
        n = self.counts
        print("%d passed, %d failed%s" % (n["passed"], n["failed"],
                                          (", %d skipped" % n["skipped"]) if n["skipped"] else ""), flush=True)
        if harness_error or getattr(self, "node_delete_failed", False):
            return 2
        return 1 if n["failed"] else 0

    def fail(self, c, why, seconds):
        self.counts["failed"] += 1
        print("FAIL %s (error: %s, %.2fs)" % (c.get("name"), why, seconds), flush=True)
        self.emit({"case": c.get("name"), "file": c.get("_file"), "result": "FAIL", "error": why})

    def run_case_dual(self, c):
        """--dual-runs: a case with address peers runs once over IPv4 as written and once over
        IPv6 translated, each from a clean state (the README's literal dual-stack procedure;
        segctl matrix/check are not compared, they judge both families at once)."""
        fams, explain = self.families, self.explain
        recs, lines = [], []
        try:
            self.explain = False
            for fam in (4, 6):
                self.families = [fam]
                rec, ls = self.run_case(c)
                recs.append(rec)
                lines += ["  IPv%d run, %s" % (fam, x.strip()) if x.startswith(("  step", "  policies"))
                          else x for x in ls]
        finally:
            self.families, self.explain = fams, explain
        rec = recs[0]
        for k in ("probes", "mismatches", "skipped_probes", "seconds", "repeats"):
            if k in rec or k in recs[1]:
                rec[k] = rec.get(k, 0) + recs[1].get(k, 0)
        rec["steps"] = [dict(s, family=4) for s in recs[0]["steps"]] + [dict(s, family=6) for s in recs[1]["steps"]]
        return rec, lines

    def one(self, c):
        name = c.get("name")
        t0 = time.monotonic()
        try:
            if self.args.dual_runs and len(self.families) == 2 and has_address_peers(c):
                rec, lines = self.run_case_dual(c)
            else:
                rec, lines = self.run_case(c)
        except CaseError as e:
            return self.fail(c, str(e), time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001
            return self.fail(c, "harness error: %s: %s" % (type(e).__name__, e), time.monotonic() - t0)
        self.total_skipped_probes += rec["skipped_probes"]
        skip_txt = (", %d skipped: %s" % (rec["skipped_probes"], SCTP_REASON)) if rec["skipped_probes"] else ""
        if rec["probes"] == 0 and rec["skipped_probes"] > 0 and not rec["mismatches"]:
            result = "SKIP"
            self.counts["skipped"] += 1
            print("SKIP %s (%d probes skipped: %s)" % (name, rec["skipped_probes"], SCTP_REASON), flush=True)
        else:
            result = "FAIL" if rec["mismatches"] else "PASS"
            self.counts["failed" if rec["mismatches"] else "passed"] += 1
            n = rec.get("repeats", 0)
            rep = (", %d step%s repeat%s the state and table before, not probed again" % (
                n, "s" if n > 1 else "", "" if n > 1 else "s")) if n else ""
            print("%s %s (%d probes, %d mismatches%s%s, %.2fs)" % (
                result, name, rec["probes"], rec["mismatches"], skip_txt, rep, rec["seconds"]), flush=True)
        for line in lines:
            print(line, flush=True)
        rec["result"] = result
        self.emit(rec)

    def preflight(self):
        """No policy: every pair must connect on every served port (topology sanity)."""
        plan, n = {}, 0
        for f in self.pods:
            for t in self.pods:
                if f == t:
                    continue
                for proto in ("TCP", "UDP"):
                    for port in sorted(self.spec.ports[proto]):
                        for fam in self.families:
                            plan.setdefault(self.epn[f], []).append(
                                self.topo.endpoints[self.epn[t]].target(proto, fam, port))
                            n += 1
        t0 = time.monotonic()
        res = self.topo.probe_matrix(plan, max(self.args.timeout_ms, 1000))
        bad = [(s, t) for s, r in res.items() for t, ok in r.items() if not ok]
        if bad:
            print("PREFLIGHT FAILED: with no policy applied, %d of %d probes failed, e.g. %s" % (
                len(bad), n, ", ".join("%s -> %s" % b for b in bad[:8])), flush=True)
            print("  endpoints not enforced: %s" % "; ".join(self.endpoint_problems()))
            return False
        print("# preflight: %d probes without policy all connected (%.2fs)" % (n, time.monotonic() - t0), flush=True)
        return True

    def emit(self, rec):
        if self.jsonl:
            self.jsonl.write(json.dumps(rec) + "\n")
            self.jsonl.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segd", required=True)
    ap.add_argument("--segctl", required=True)
    ap.add_argument("--probe", required=True, help="segd-probe binary")
    ap.add_argument("--family", choices=["4", "6", "both"], default="both")
    ap.add_argument("--timeout-ms", type=int, default=500,
                    help="how long a probe waits before calling a flow denied (default 500)")
    ap.add_argument("--deny-action", choices=["drop", "reject"], default=None)
    ap.add_argument("--settle-ms", type=int, default=0,
                    help="sleep after each change before probing (default 0: segctl returns when enforced)")
    ap.add_argument("--only", help="regex: run only cases whose name matches")
    ap.add_argument("--dual-runs", action="store_true",
                    help="with --family both, run a case with address peers twice (IPv4 as written, then "
                         "IPv6 translated) instead of once with each IPv4 block followed by its IPv6 image")
    ap.add_argument("--reprobe-same", action="store_true",
                    help="probe a step even when its policies, labels and table equal the step before's")
    ap.add_argument("--no-explain", action="store_true",
                    help="do not check segctl matrix/check against each step's truth table")
    ap.add_argument("--jsonl", help="write one JSON record per case to this file")
    ap.add_argument("--keep-log", action="store_true", help="keep the segd work dir and print its log path")
    ap.add_argument("cases", nargs="*", help="case files or directories")
    a = ap.parse_args()
    if a.keep_log:
        os.environ["SEGD_TEST_KEEP"] = "1"
    paths = a.cases
    if not paths:
        shared = os.path.join(HERE, "..", "..", "..", "shared", "conformance")
        paths = [d for d in (os.path.join(shared, "cases"), os.path.join(HERE, "cases"),
                             os.path.join(shared, "cases-tiers"), os.path.join(HERE, "cases-tiers"))
                 if os.path.isdir(d)]
    if os.geteuid() != 0:
        print("run.py: needs root (network namespaces)", file=sys.stderr)
        return 2
    for b in (a.segd, a.segctl, a.probe):
        if not os.access(b, os.X_OK):
            print("run.py: %s is not executable" % b, file=sys.stderr)
            return 2
    cases = load_cases(paths)
    if not cases:
        print("run.py: no cases found in %s" % ", ".join(paths), file=sys.stderr)
        return 2
    return Runner(a, cases).run()


if __name__ == "__main__":
    sys.exit(main())
