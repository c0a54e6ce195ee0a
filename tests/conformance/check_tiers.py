#!/usr/bin/env python3
"""Check tier truth-table cases against the reference model (tiers_model.py).

Usage: check_tiers.py DIR_OR_FILE [...]

For every case (*.json) it verifies that
- every pod named (tables, probes, step labels, nodes, placeholders) exists;
- every step has a full table: every served port, and no other key;
- each table equals the model's table, cell by cell (all ordered pairs,
  loopback pairs included);
- each `upstream_probes` entry agrees with the table.
Exit status 0 when every case passes, 1 otherwise; prints counts.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiers_model as m  # noqa: E402


def case_files(args):
    for a in args:
        if os.path.isdir(a):
            for n in sorted(os.listdir(a)):
                if n.endswith(".json"):
                    yield os.path.join(a, n)
        else:
            yield a


def check_case(path, counts):
    errs = []
    with open(path) as f:
        case = json.load(f)
    topo = case.get("topology")
    if not topo:
        return ["no topology (not a tier case)"]
    pods = [p["name"] for p in topo["pods"]]
    podset = set(pods)
    served = [m.port_key(p) for p in topo["ports"]]
    if len(set(served)) != len(served):
        errs.append("topology serves a port twice")
    for node in topo.get("nodes") or []:
        for p in node.get("pods", []):
            if p not in podset:
                errs.append("node %s names unknown pod %s" % (node.get("name"), p))
    for ns in {p.split("/", 1)[0] for p in pods}:
        if ns not in topo["namespaces"]:
            errs.append("pods in namespace %s that the topology does not declare" % ns)
    needs_nodes = "ClusterNetworkPolicyEgressNodePeers" in case.get("features", [])
    if needs_nodes and not topo.get("nodes"):
        errs.append("feature ClusterNetworkPolicyEgressNodePeers without topology.nodes")
    if any(p["protocol"].upper() == "SCTP" for p in topo["ports"]) and not case.get("sctp"):
        errs.append("serves SCTP but sctp is not true")
    steps = case.get("steps")
    if not steps:
        return errs + ["no steps"]
    ns_state, pod_state = None, None
    for i, step in enumerate(steps):
        where = "step %d" % (i + 1)
        counts["steps"] += 1
        text = json.dumps(step.get("policies", []))
        for ref in re.findall(r"\{\{(?:ip|net):([^}:]+)", text):
            if ref not in podset:
                errs.append("%s: placeholder names unknown pod %s" % (where, ref))
        for p in step.get("pods") or []:
            if p["name"] not in podset:
                errs.append("%s: labels for unknown pod %s" % (where, p["name"]))
        for ns in step.get("namespaces") or {}:
            if ns not in topo["namespaces"]:
                errs.append("%s: labels for unknown namespace %s" % (where, ns))
        expect = step.get("expect") or {}
        for k in expect:
            if k not in served:
                errs.append("%s: expect key %s is not a served port" % (where, k))
        for k in served:
            if k not in expect:
                errs.append("%s: no table for served port %s (tables must be full)" % (where, k))
        for k, t in expect.items():
            for a, b, _ in t.get("exceptions", []):
                for p in (a, b):
                    if p not in podset:
                        errs.append("%s %s: unknown pod %s" % (where, k, p))
        ns_state, pod_state = m.step_state(case, step, ns_state, pod_state)
        try:
            model = m.evaluate(topo, step.get("policies", []), ns_state, pod_state)
        except (m.ModelError, KeyError, ValueError) as e:
            errs.append("%s: model cannot evaluate: %s" % (where, e))
            continue
        table = m.table_from_expect({k: v for k, v in expect.items() if k in served}, pods)
        for k, cells in table.items():
            for pair, v in cells.items():
                counts["cells"] += 1
                if model[k][pair] != v:
                    counts["bad_cells"] += 1
                    errs.append(
                        "%s %s %s -> %s: table %s, model %s" % (where, k, pair[0], pair[1], v, model[k][pair])
                    )
        for pr in step.get("upstream_probes") or []:
            counts["probes"] += 1
            a, b, k, v = pr
            if a not in podset or b not in podset:
                errs.append("%s: probe names unknown pod %r" % (where, pr))
                continue
            if k not in table:
                errs.append("%s: probe on unserved port %r" % (where, pr))
                continue
            if table[k][(a, b)] != v:
                counts["bad_probes"] += 1
                errs.append("%s: upstream probe %r disagrees with the table" % (where, pr))
    return errs


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    counts = {"cases": 0, "steps": 0, "cells": 0, "probes": 0, "bad_cells": 0, "bad_probes": 0}
    failed = 0
    for path in case_files(argv[1:]):
        counts["cases"] += 1
        try:
            errs = check_case(path, counts)
        except (OSError, ValueError, KeyError, TypeError) as e:
            errs = ["cannot check: %r" % (e,)]
        if errs:
            failed += 1
            print("FAIL %s (%d problems)" % (path, len(errs)))
            for e in errs[:20]:
                print("  " + e)
        else:
            print("ok   %s" % path)
    print(
        "%d cases, %d failed; %d steps, %d cells (%d wrong), %d upstream probes (%d wrong)"
        % (
            counts["cases"],
            failed,
            counts["steps"],
            counts["cells"],
            counts["bad_cells"],
            counts["probes"],
            counts["bad_probes"],
        )
    )
    return 1 if failed or counts["cases"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
