#!/usr/bin/env python3
"""Regenerate cases-tiers/1NN-*.json from the upstream conformance suite.

Usage: gen_tiers.py UPSTREAM_GIT_DIR OUT_DIR

UPSTREAM_GIT_DIR is a clone (bare is fine) of
kubernetes-sigs/network-policy-api holding commit COMMIT below. Not part of
any test run: it documents how the committed cases were made and lets them be
remade. It reads the manifests (data) and, from each ConformanceTest's Go
source, the sequence of what upstream does: which pod it probes from and to,
on which port, expecting what, and which changes it makes to the policies or
namespaces between probes. Each change pattern it understands is translated
into the equivalent change of the JSON objects; any other statement that
mutates state stops the generator, so nothing is silently dropped. The
tables are then computed with tiers_model.py (and checked by check_tiers.py).
"""

import copy
import json
import os
import re
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiers_model as m  # noqa: E402

COMMIT = "0eec1b0e5fa92715b4c0f4c48d3c8d2913ed2159"
REPO_URL = "https://github.com/kubernetes-sigs/network-policy-api"
HOST_PORT_BASE = 34345  # upstream default HostNetworkPortRangeStart
PFX = "network-policy-conformance-"
COVERED = {
    "CNPAdminTierIngressTCP": "01-admin-ingress-tcp.json",
    "CNPAdminTierIntegration": "09-admin-pass-networkpolicy-baseline.json",
    "CNPBaselineTierIngressTCP": "13-baseline-ingress-tcp.json",
}
# output order and file names (upstream test -> NNN-name)
ORDER = [
    ("CNPAdminTierIngressUDP", "admin-ingress-udp"),
    ("CNPAdminTierIngressSCTP", "admin-ingress-sctp"),
    ("CNPAdminTierEgressTCP", "admin-egress-tcp"),
    ("CNPAdminTierEgressUDP", "admin-egress-udp"),
    ("CNPAdminTierEgressSCTP", "admin-egress-sctp"),
    ("CNPAdminTierGress", "admin-gress-combined"),
    ("CNPAdminTierPriorityField", "admin-priority"),
    ("CNPAdminTierEgressInlineCIDRPeers", "admin-egress-inline-cidr"),
    ("CNPAdminTierEgressNamedPort", "admin-egress-named-port"),
    ("CNPAdminTierIngressNamedPort", "admin-ingress-named-port"),
    ("CNPAdminTierEgressNodePeers", "admin-egress-node-peers"),
    ("CNPBaselineTierIngressUDP", "baseline-ingress-udp"),
    ("CNPBaselineTierIngressSCTP", "baseline-ingress-sctp"),
    ("CNPBaselineTierEgressTCP", "baseline-egress-tcp"),
    ("CNPBaselineTierEgressUDP", "baseline-egress-udp"),
    ("CNPBaselineTierEgressSCTP", "baseline-egress-sctp"),
    ("CNPBaselineTierGress", "baseline-gress-combined"),
    ("CNPBaselineTierEgressInlineCIDRPeers", "baseline-egress-inline-cidr"),
    ("CNPBaselineTierEgressNamedPort", "baseline-egress-named-port"),
    ("CNPBaselineTierIngressNamedPort", "baseline-ingress-named-port"),
    ("CNPBaselineTierEgressNodePeers", "baseline-egress-node-peers"),
]
FIRST_NUMBER = 100

HOUSES = [
    ("gryffindor", "harry-potter", False),
    ("slytherin", "draco-malfoy", False),
    ("hufflepuff", "cedric-diggory", False),
    ("ravenclaw", "luna-lovegood", False),
    ("forbidden-forrest", "centaur", True),
]
BASE_PORTS = [
    {"port": 80, "protocol": "TCP", "name": "web"},
    {"port": 8080, "protocol": "TCP"},
    {"port": 53, "protocol": "UDP", "name": "dns"},
    {"port": 5353, "protocol": "UDP"},
    {"port": 9003, "protocol": "SCTP"},
    {"port": 9005, "protocol": "SCTP"},
]
# upstream centaur (hostNetwork) containers, in HostNetworkPorts index order
HOST_PROTOS = ["TCP", "TCP", "UDP", "TCP", "UDP", "TCP", "SCTP", "SCTP"]

NOTES = (
    "Upstream topology: five namespaces with their conformance-house labels; StatefulSets harry-potter, "
    "draco-malfoy, cedric-diggory, luna-lovegood with their 2 replicas each (pods -0 and -1, label "
    "conformance-house=<house>), and centaur (hostNetwork) with 1 replica: it stands for both upstream "
    "replicas, so upstream probes of centaur-1 are written against centaur-0. A host-networked pod is never "
    "selected by a subject or by a namespaces/pods peer. Every pod serves 80/TCP (named web), 8080/TCP, "
    "53/UDP (named dns), 5353/UDP, 9003/SCTP and 9005/SCTP, as upstream{extra}; the tables cover all of them "
    "for all 81 ordered pairs. SCTP expectations are kept for completeness; where the kernel has no SCTP they "
    "are not probed. Each upstream subtest is one step, probed after the same changes upstream makes before "
    "its probes{split}; upstream_probes lists upstream's own PokeServer calls of that step (client, server, "
    "port, expected), every one of which the table agrees with. The rest of each table follows from the API "
    "semantics (Admin tier by priority then rule order, NetworkPolicy, Baseline, default allow; Pass skips to "
    "the next tier; a pod reaching its own IP is not subject to ClusterNetworkPolicy). Tables computed with "
    "tests/conformance/tiers_model.py and checked with check_tiers.py.{more}"
)


def git_show(gitdir, path):
    return subprocess.run(
        ["git", "-C", gitdir, "show", "%s:%s" % (COMMIT, path)], check=True, capture_output=True, text=True
    ).stdout


def topology(with_nodes):
    t = {"namespaces": {}, "pods": [], "ports": copy.deepcopy(BASE_PORTS)}
    for house, sts, host in HOUSES:
        ns = PFX + house
        t["namespaces"][ns] = {"conformance-house": house, "kubernetes.io/metadata.name": ns}
        for i in (0, 1) if not host else (0,):
            p = {"name": "%s/%s-%d" % (ns, sts, i)}
            if host:
                p["host_network"] = True
            p["labels"] = {"conformance-house": house, "statefulset.kubernetes.io/pod-name": "%s-%d" % (sts, i)}
            t["pods"].append(p)
    if with_nodes:
        for i, proto in enumerate(HOST_PROTOS):
            t["ports"].append({"port": HOST_PORT_BASE + i, "protocol": proto})
        t["nodes"] = [
            {
                "name": "network-policy-conformance-node",
                "labels": {
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/hostname": "network-policy-conformance-node",
                },
                "pods": [PFX + "forbidden-forrest/centaur-0"],
            }
        ]
    return t


def load_manifest(gitdir, rel):
    text = git_show(gitdir, "conformance/" + rel)
    text = re.sub(
        r"\{\{\s*index \.HostNetworkPorts (\d+)\s*\}\}", lambda mm: str(HOST_PORT_BASE + int(mm.group(1))), text
    )
    return [_no_nulls(d, rel) for d in yaml.safe_load_all(text) if d]


def _no_nulls(obj, where):
    """An empty YAML selector (`podSelector:`) is null; write it as {}."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if v is None:
                if not (k.endswith("Selector") or k in ("namespaces", "nodes")):
                    raise SystemExit("%s: unexpected null %s" % (where, k))
                v = {}
            out[k] = _no_nulls(v, where)
        return out
    if isinstance(obj, list):
        return [_no_nulls(v, where) for v in obj]
    return obj


def pod_name(ns, pod):
    if pod == "centaur-1":
        pod = "centaur-0"
    return "%s/%s" % (ns, pod)


def parse_tests(gitdir):
    """{ShortName: {file, features, manifests, body, registered}}."""
    files = subprocess.run(
        ["git", "-C", gitdir, "ls-tree", "-r", "--name-only", COMMIT, "conformance/tests"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    tests = {}
    registered = set()
    for f in files:
        if not f.endswith(".go") or f.endswith("main.go"):
            continue
        src = git_show(gitdir, f)
        # a test may be registered by another file's init()
        for init in re.finditer(r"ConformanceTests = append\(ConformanceTests,(.*?)\)", src, re.S):
            registered.update(re.findall(r"(\w+),", init.group(1)))
        starts = [mm.start() for mm in re.finditer(r"\nvar \w+ = suite\.ConformanceTest\{", src)] + [len(src)]
        for a, b in zip(starts, starts[1:]):
            block = src[a:b]
            var = re.search(r"var (\w+) =", block).group(1)
            name = re.search(r'ShortName:\s*"(\w+)"', block).group(1)
            feats = re.findall(r"suite\.Support(\w+)", block)
            mans = re.findall(r'"(base/[^"]+\.yaml)"', re.search(r"Manifests:.*", block).group(0))
            body = block[block.index("Test: func") :]
            tests[name] = {
                "file": f,
                "features": feats,
                "manifests": mans,
                "body": body,
                "var": var,
            }
    for t in tests.values():
        t["registered"] = t.pop("var") in registered
    return tests


def strip_comments(body):
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return "\n".join(re.sub(r"//.*$", "", line) for line in body.split("\n"))


TOKENS = [
    ("run", r't\.Run\("([^"]+)"'),
    ("getpod", r'(\w+)\s*:?=\s*kubernetes\.GetPod\(t, s\.Client, "([^"]+)", "([^"]+)"'),
    (
        "poke",
        r'kubernetes\.PokeServer\(t, s\.ClientSet, &s\.KubeConfig, "([^"]+)", "([^"]+)", "(\w+)",\s*'
        r"(\w+)\.Status\.PodIP, int32\(([^()]*)\), s\.TimeoutConfig, (true|false)\)",
    ),
    ("getcnp", r'(\w+)\s*:?=\s*kubernetes\.GetClusterNetworkPolicy\(t, s\.Client, "([^"]+)"'),
    ("deepcopy", r"(\w+)\s*:=\s*cnp\.DeepCopy\(\)"),
    ("tmprule", r"(\w+)\s*:=\s*mutate(?:\.DeepCopy\(\))?\.Spec\.(Ingress|Egress)\[(\d+)\]\s*\n"),
    ("copyrule", r"mutate\.Spec\.(Ingress|Egress)\[(\d+)\] = mutate\.Spec\.(Ingress|Egress)\[(\d+)\]\s*\n"),
    ("setrule", r"mutate\.Spec\.(Ingress|Egress)\[(\d+)\] = (\w+)\s*\n"),
    ("action", r"mutate\.Spec\.(Ingress|Egress)\[(\d+)\]\.Action = api\.ClusterNetworkPolicyRuleAction(\w+)"),
    ("priority", r"mutate\.Spec\.Priority = (\d+)"),
    ("strvar", r'(\w+) := "(\w+)"'),
    (
        "namedport",
        r"(\w+)\.Protocols = \[\]api\.ClusterNetworkPolicyProtocol\{\s*\{\s*DestinationNamedPort: (\w+),\s*\},\s*\}",
    ),
    (
        "newrule",
        r"newRule := \[\]api\.ClusterNetworkPolicyEgressRule\{\s*\{\s*Name:\s*\"([^\"]+)\",\s*Action:\s*\"(\w+)\","
        r"\s*To: \[\]api\.ClusterNetworkPolicyEgressPeer\{\s*\{\s*Networks: \[\]api\.CIDR\{(.*?)\},\s*\},\s*\},"
        r"\s*\},\s*\}",
    ),
    ("prepend", r"mutate\.Spec\.Egress = append\(newRule, mutate\.Spec\.Egress\.\.\.\)"),
    ("patchcnp", r"kubernetes\.PatchClusterNetworkPolicy\(t, s\.Client, cnp, mutate,"),
    ("getns", r'namespace\s*:?=\s*kubernetes\.GetNamespace\(t, s\.Client, "([^"]+)"'),
    ("nslabels", r"mutateNamespace\.SetLabels\(map\[string\]string\{([^}]*)\}\)"),
    ("patchns", r"kubernetes\.PatchNamespace\(t, s\.Client, namespace, mutateNamespace,"),
    ("npname", r'Namespace:\s*"([^"]+)",\s*Name:\s*"([^"]+)",\s*\}, np\)'),
    ("npdelete", r"s\.Client\.Delete\(ctx, np\)"),
    ("ipv4mask", r'mask = "/32"'),
    ("nsdeepcopy", r"mutateNamespace\s*:?=\s*namespace\.DeepCopy\(\)"),
]
# statements that change state and must have been understood by a token above
SUSPICIOUS = re.compile(r"mutate|Patch|Delete|Create|Update|SetLabels|append\(")


def interpret(test, manifests_objs, topo):
    """Yields (subtest, action text, policies, namespaces or None, probes) steps."""
    body = strip_comments(test["body"])
    hits = []
    for kind, rx in TOKENS:
        for mm in re.finditer(rx, body, re.S):
            hits.append((mm.start(), mm.end(), kind, mm.groups()))
    hits.sort()
    covered = [(a, b) for a, b, _, _ in hits]
    for mm in re.finditer(r"[^\n]*", body):
        line = mm.group(0)
        if SUSPICIOUS.search(line) and not any(a <= mm.start() + len(line) and mm.start() <= b for a, b in covered):
            raise SystemExit("%s: statement not understood: %r" % (test["name"], line.strip()))

    policies = [copy.deepcopy(o) for o in manifests_objs]
    ns_labels = copy.deepcopy(topo["namespaces"])
    ns_changed = False
    pods = {}
    strs = {}
    tmp = {}
    mutate = None
    cnp_name = None
    new_rule = None
    ns_target = None
    ns_new = None
    np_target = None
    steps = []
    cur = None
    pending = ["apply " + ", ".join(test["manifests"])]

    def close():
        nonlocal cur
        if cur is not None:
            steps.append(cur)
        cur = None

    def change(desc):
        nonlocal cur
        if cur is not None and cur["probes"]:
            sub = cur["subtest"]
            close()
            cur = {"subtest": sub, "probes": [], "actions": []}
        if cur is None:
            pending.append(desc)
        else:
            cur["actions"].append(desc)

    def find_cnp(name):
        for o in policies:
            if o["kind"] == "ClusterNetworkPolicy" and o["metadata"]["name"] == name:
                return o
        raise SystemExit("%s: no ClusterNetworkPolicy %s" % (test["name"], name))

    for _, _, kind, g in hits:
        if kind == "run":
            close()
            cur = {"subtest": g[0], "probes": [], "actions": pending}
            pending = []
        elif kind == "getpod":
            pods[g[0]] = pod_name(g[1], g[2])
        elif kind == "poke":
            if cur is None:
                raise SystemExit("%s: probe outside a subtest" % test["name"])
            ns, pod, proto, var, port, exp = g
            pm = re.fullmatch(r"s\.HostNetworkPorts\[(\d+)\]", port)
            port = HOST_PORT_BASE + int(pm.group(1)) if pm else int(port)
            if var not in pods:
                raise SystemExit("%s: unknown server variable %s" % (test["name"], var))
            cur["probes"].append(
                [pod_name(ns, pod), pods[var], "%d/%s" % (port, proto.upper()), exp == "true"]
            )
            cur.setdefault("policies", copy.deepcopy(policies))
            cur.setdefault("namespaces", copy.deepcopy(ns_labels) if ns_changed else None)
        elif kind == "getcnp":
            cnp_name = g[1]
        elif kind == "deepcopy":
            mutate = copy.deepcopy(find_cnp(cnp_name))
        elif kind == "tmprule":
            tmp[g[0]] = copy.deepcopy(mutate["spec"][g[1].lower()][int(g[2])])
        elif kind == "copyrule":
            mutate["spec"][g[0].lower()][int(g[1])] = copy.deepcopy(mutate["spec"][g[2].lower()][int(g[3])])
        elif kind == "setrule":
            mutate["spec"][g[0].lower()][int(g[1])] = copy.deepcopy(tmp[g[2]])
        elif kind == "action":
            mutate["spec"][g[0].lower()][int(g[1])]["action"] = g[2]
        elif kind == "priority":
            mutate["spec"]["priority"] = int(g[0])
        elif kind == "strvar":
            strs[g[0]] = g[1]
        elif kind == "namedport":
            tmp[g[0]]["protocols"] = [{"destinationNamedPort": strs[g[1]]}]
        elif kind == "newrule":
            nets = []
            for var in re.findall(r"api\.CIDR\((\w+)\.Status\.PodIP \+ mask\)", g[2]):
                nets.append("{{ip:%s}}/32" % pods[var])
            new_rule = {"name": g[0], "action": g[1], "to": [{"networks": nets}]}
        elif kind == "prepend":
            mutate["spec"]["egress"] = [new_rule] + mutate["spec"]["egress"]
        elif kind in ("ipv4mask", "nsdeepcopy"):
            pass
        elif kind == "patchcnp":
            old = find_cnp(cnp_name)
            desc = describe(old, mutate)
            old.clear()
            old.update(mutate)
            change(desc)
        elif kind == "getns":
            ns_target = g[0]
        elif kind == "nslabels":
            ns_new = dict(re.findall(r'"([^"]+)":\s*"([^"]*)"', g[0]))
        elif kind == "patchns":
            labels = dict(ns_new)
            # SetLabels replaces the whole map; the API server sets
            # kubernetes.io/metadata.name again on every namespace update.
            labels["kubernetes.io/metadata.name"] = ns_target
            ns_labels[ns_target] = labels
            ns_changed = True
            change("namespace %s: labels replaced by %s" % (ns_target, json.dumps(ns_new)))
        elif kind == "npname":
            np_target = (g[0], g[1])
        elif kind == "npdelete":
            before = len(policies)
            policies = [
                o
                for o in policies
                if not (
                    o["kind"] == "NetworkPolicy"
                    and (o["metadata"].get("namespace"), o["metadata"]["name"]) == np_target
                )
            ]
            if len(policies) != before - 1:
                raise SystemExit("%s: NetworkPolicy %s not found" % (test["name"], np_target))
            change("delete NetworkPolicy %s/%s" % np_target)
    close()
    return steps


def describe(old, new):
    name = old["metadata"]["name"]
    parts = []
    if old["spec"].get("priority") != new["spec"].get("priority"):
        parts.append("priority %s -> %s" % (old["spec"].get("priority"), new["spec"].get("priority")))
    for key in ("ingress", "egress"):
        a, b = old["spec"].get(key) or [], new["spec"].get(key) or []
        if a == b:
            continue
        if len(a) == len(b):
            diff = [i for i in range(len(a)) if a[i] != b[i]]
            if len(diff) == 2 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
                parts.append("swap %s rules %d and %d" % (key, diff[0], diff[1]))
                continue
            for i in diff:
                changed = [k for k in set(a[i]) | set(b[i]) if a[i].get(k) != b[i].get(k)]
                if changed == ["action"]:
                    parts.append("%s rule %d action -> %s" % (key, i, b[i]["action"]))
                elif changed == ["protocols"]:
                    parts.append("%s rule %d (%s) protocols -> %s" % (key, i, b[i]["name"], json.dumps(b[i]["protocols"])))
                else:
                    parts.append("%s rule %d replaced" % (key, i))
        elif len(b) == len(a) + 1 and b[1:] == a:
            parts.append("insert %s rule %s at index 0" % (key, json.dumps(b[0])))
        else:
            parts.append("%s rules replaced" % key)
    return "%s: %s" % (name, "; ".join(parts))


def build_case(short, slug, test, gitdir):
    needs_nodes = "ClusterNetworkPolicyEgressNodePeers" in test["features"]
    topo = topology(needs_nodes)
    objs = []
    for man in test["manifests"]:
        objs.extend(load_manifest(gitdir, man))
    raw = interpret(dict(test, name=short), objs, topo)
    pods = [p["name"] for p in topo["pods"]]
    steps = []
    subtests = [s["subtest"] for s in raw]
    for i, s in enumerate(raw):
        if not s["probes"]:
            raise SystemExit("%s: subtest %r without probes" % (short, s["subtest"]))
        if s["actions"]:
            action = "; ".join(s["actions"])
        else:
            action = "no change (the next upstream subtest probes the same state)"
        if subtests.count(s["subtest"]) > 1:
            k = [j for j in range(len(raw)) if raw[j]["subtest"] == s["subtest"]].index(i) + 1
            action += " [probe phase %d of %d of this upstream subtest]" % (k, subtests.count(s["subtest"]))
        step = {"action": action, "upstream_subtest": s["subtest"], "policies": s["policies"]}
        if s["namespaces"] is not None or any(r.get("namespaces") for r in raw[:i]):
            step["namespaces"] = s["namespaces"] or topo["namespaces"]
        step["upstream_probes"] = s["probes"]
        table = m.evaluate(topo, s["policies"], step.get("namespaces"), None)
        step["expect"] = m.expect_from_table(table, pods)
        steps.append(step)
    features = ["ClusterNetworkPolicy"] + [
        f for f in test["features"] if f in ("ClusterNetworkPolicyNamedPorts", "ClusterNetworkPolicyEgressNodePeers")
    ]
    tier = "Baseline tier" if "Baseline" in short else "Admin tier"
    extra = ""
    more = ""
    if needs_nodes:
        extra = (
            "; and, as upstream's centaur containers, %d-%d (TCP, TCP, UDP, TCP, UDP, TCP, SCTP, SCTP; upstream's "
            "default HostNetworkPorts range starting at %d, which the manifests' templates use)"
        ) % (HOST_PORT_BASE, HOST_PORT_BASE + 7, HOST_PORT_BASE)
        more += (
            " topology.nodes holds one node labelled kubernetes.io/os=linux (what the manifest's nodes peers "
            "select) whose address is centaur-0's; a nodes peer matches that address only."
        )
    split = ""
    if len(set(subtests)) != len(subtests):
        split = (
            "; an upstream subtest that changes state between its own probes is split into one step per "
            "probe phase (the action says which)"
        )
    if any("namespaces" in s for s in steps):
        more += (
            " Namespace labels: upstream's SetLabels replaces the whole label map; the API server puts "
            "kubernetes.io/metadata.name back on every namespace update, so the step's namespaces keep it."
        )
    if "InlineCIDR" in short:
        more += (
            " Upstream builds the inserted networks from the pods' IPs with /32 (/128 over IPv6); they are "
            "written {{ip:NS/POD}}/32, which the runner makes /128 over IPv6."
        )
    if "NamedPort" in short:
        more += (
            " Upstream applies a different ConformanceTest's manifest (%s) and changes one rule to a "
            "destinationNamedPort; the named ports are those of the topology (web = 80/TCP, dns = 53/UDP)."
        ) % ", ".join(test["manifests"])
    case = {
        "name": slug,
        "source": "%s: %s (%s)" % (test["file"], short, tier),
        "source_url": "%s/blob/%s/%s" % (REPO_URL, COMMIT, test["file"]),
        "origin": "network-policy-api-conformance",
        "upstream": {
            "repository": REPO_URL,
            "commit": COMMIT,
            "file": test["file"],
            "test": short,
            "manifests": ["conformance/" + x for x in test["manifests"]],
            "features": features,
            "registered": test["registered"],
        },
        "features": features,
        "topology": topo,
        "sctp": True,
        "ignore_loopback": True,
        "notes": NOTES.format(extra=extra, split=split, more=more),
        "steps": steps,
    }
    return case


def dumps(obj, ind=0, prefix=0, trail=0):
    """JSON, 2-space indent; a container that fits in 120 columns on one line."""
    pad, inner = "  " * ind, "  " * (ind + 1)
    one = json.dumps(obj)
    if not isinstance(obj, (dict, list)) or not obj or len(pad) + prefix + len(one) + trail <= 120:
        return one
    if isinstance(obj, dict):
        items = []
        for i, (k, v) in enumerate(obj.items()):
            pre = "%s: " % json.dumps(k)
            items.append(inner + pre + dumps(v, ind + 1, len(pre), int(i < len(obj) - 1)))
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    items = [inner + dumps(v, ind + 1, 0, int(i < len(obj) - 1)) for i, v in enumerate(obj)]
    return "[\n" + ",\n".join(items) + "\n" + pad + "]"


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    gitdir, out = argv[1], argv[2]
    tests = parse_tests(gitdir)
    named = {s for s, _ in ORDER} | set(COVERED)
    missing = set(tests) - named
    if missing:
        raise SystemExit("upstream tests not mapped: %s" % sorted(missing))
    os.makedirs(out, exist_ok=True)
    for n, (short, slug) in enumerate(ORDER):
        case = build_case(short, slug, tests[short], gitdir)
        path = os.path.join(out, "%d-%s.json" % (FIRST_NUMBER + n, slug))
        with open(path, "w") as f:
            f.write(dumps(case) + "\n")
        print("%s: %s, %d steps, %d probes" % (path, short, len(case["steps"]),
                                               sum(len(s["upstream_probes"]) for s in case["steps"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
