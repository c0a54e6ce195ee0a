#!/usr/bin/env python3
"""The daemon's structure, checked: every include between daemon modules goes to the same or a
lower layer, the module graph has no cycle, HTTP (libmicrohttpd) is used only at the edge,
and no C file in the tree is over 800 lines.

    check-layers.py SOURCE_ROOT

A module is a daemon/NAME.{c,h} pair (ops-*.c and upkeep.c belong to ops, state-*.c to
state, registry-*.c to registry, etcd-*.{c,h} to etcd). Prints every violation; exit status 1 if any.
"""
import os
import re
import subprocess
import sys

# Top down (docs/architecture.md). A module may include its own layer and the ones below.
LAYERS = [
    ["main", "hook", "hook-config", "fdstore-holder", "runc-wrap", "runc-args"],
    ["manager"],
    ["settings"],
    ["api", "api-conn", "metrics", "engine", "engine-parse", "fleet"],
    ["ops"],
    ["reconcile", "containers", "state", "explain", "views", "spec"],
    ["endpoint", "registry", "store", "drift", "audit", "guard"],
    ["loop", "http-multi", "etcd", "fleet-parse", "netlink", "netns", "netns-watch", "addr", "addr-watch", "links", "flows", "mhd-loop", "conn-limit", "errlog", "error", "json-pos", "json-util", "histogram", "backoff",
     "nft", "nft-sock", "nft-txn", "nft-table", "nft-decode", "nft-dump", "nft-verify",
     "nft-events", "nftnl-util", "conntrack", "closer", "fdstore", "fdstore-proto", "fdtable", "owner",
     "oci-state", "oci-bundle"],
]
HTTP_MODULES = {"api", "api-conn", "metrics", "mhd-loop"}
MAX_LINES = 800


def module_of(filename):
    name = os.path.splitext(os.path.basename(filename))[0]
    if name.startswith("ops-") or name == "upkeep":
        return "ops"
    if name.startswith("state-"):
        return "state"
    if name.startswith("registry-"):
        return "registry"
    if name in ("fleet-write", "fleet-internal"):
        return "fleet"
    if name.startswith("reconcile-"):
        return "reconcile"
    if name.startswith("etcd-"):
        return "etcd"
    return name


def main():
    root = sys.argv[1]
    daemon = os.path.join(root, "daemon")
    layer = {m: i for i, ms in enumerate(LAYERS) for m in ms}
    problems = []
    graph = {}
    for f in sorted(os.listdir(daemon)):
        if not f.endswith((".c", ".h")):
            continue
        m = module_of(f)
        if m not in layer:
            problems.append("daemon/%s: module %s is in no layer (add it to LAYERS and to "
                            "docs/architecture.md)" % (f, m))
            continue
        text = open(os.path.join(daemon, f), encoding="utf-8").read()
        for inc in re.findall(r'^#include "([^"]+)\.h"', text, re.M):
            dep = module_of(inc)
            if not os.path.exists(os.path.join(daemon, inc + ".h")):
                continue  # common/ or libpolicy
            if dep == m:
                continue
            graph.setdefault(m, set()).add(dep)
            if layer.get(dep, -1) < layer[m]:
                problems.append("daemon/%s includes %s.h: %s (layer %d) may not depend on %s "
                                "(layer %d, above it)" % (f, inc, m, layer[m], dep, layer[dep]))
        if m not in HTTP_MODULES and re.search(r"\bMHD_|microhttpd\.h", text):
            problems.append("daemon/%s uses libmicrohttpd: HTTP belongs to the API's edge" % f)

    # No cycle among modules (a cycle within one layer would pass the check above).
    state = {}

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                problems.append("include cycle: %s" % " -> ".join(path + [m, d]))
            elif d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])

    files = subprocess.run(["git", "-C", root, "ls-files", "*.c"], capture_output=True,
                           text=True).stdout.split()
    if not files:  # not a git checkout: every C file there is
        files = [os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root)
                 for f in fs if f.endswith(".c") and "/build" not in d]
    for f in files:
        path = os.path.join(root, f)
        if os.path.exists(path):
            n = sum(1 for _ in open(path, encoding="utf-8", errors="replace"))
            if n > MAX_LINES:
                problems.append("%s: %d lines, over %d" % (f, n, MAX_LINES))

    for p in problems:
        print("FAIL " + p)
    print("%d module(s) checked, %d problem(s)" % (len(layer), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
