#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for segd's HTTP API (docs/api.md) on a unix socket, for testing segctl.

Serves canned objects, records every request as one JSON line in --log:
  {"method", "path", "query", "content_type", "body"}
Special names trigger error paths: see the handlers below.
"""
import argparse
import copy
import json
import os
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

ENDPOINTS = [
    {"name": "x-a", "namespace": "x", "netns": "x-a",
     "labels": {"pod": "a", "app": "web"},
     "ports": [{"name": "serve-80-tcp", "port": 80, "protocol": "TCP"}],
     "addresses": ["10.71.0.2", "fd71::2"], "state": "enforced", "error": None,
     "policies": ["x/deny-all", "x/allow-b"],
     "isolation": {"ingress": True, "egress": False},
     "guard": {"state": "enforced", "reason": None,
               "devices": [{"interface": "eth0", "device": "p0", "netns": "hub",
                            "table": "segd-5", "installed": True}]}},
    {"name": "y-b", "namespace": "y", "netns": "y-b", "labels": {}, "ports": [],
     "addresses": [], "state": "error", "error": "netns y-b vanished",
     "policies": [], "isolation": {"ingress": False, "egress": False},
     "guard": {"state": "none", "reason": "mv0 (macvlan): no host-side device to guard",
               "devices": []}},
]

def netpol(ns, name, sel, types):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"podSelector": sel, "policyTypes": types, "ingress": [{}]}}

NETPOLS = [
    netpol("default", "web", {"matchLabels": {"app": "web", "tier": "front"}}, ["Ingress"]),
    netpol("x", "allow-b", {"matchLabels": {"pod": "a"},
                            "matchExpressions": [
                                {"key": "env", "operator": "In", "values": ["prod", "stage"]},
                                {"key": "legacy", "operator": "DoesNotExist"}]},
           ["Ingress", "Egress"]),
    netpol("x", "deny-all", {}, ["Ingress"]),
]

# ClusterNetworkPolicies (policy.networking.k8s.io/v1alpha2), as segd serializes them
CNPS = [
    {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
     "metadata": {"name": "block-x"},
     "spec": {"tier": "Admin", "priority": 10,
              "subject": {"namespaces": {"matchLabels": {"team": "red"}}},
              "ingress": [{"name": "deny-all", "action": "Deny",
                           "from": [{"namespaces": {}}]}],
              "egress": [{"action": "Pass", "to": [{"networks": ["10.0.0.0/8"]}]},
                         {"action": "Accept", "to": [{"namespaces": {}}]}]}},
    {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
     "metadata": {"name": "default-deny"},
     "spec": {"tier": "Baseline", "priority": 1000,
              "subject": {"pods": {"namespaceSelector": {},
                                   "podSelector": {"matchLabels": {"app": "web"}}}},
              "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}},
]

# Nodes (v1), as segd serializes them
NODES = [
    {"apiVersion": "v1", "kind": "Node",
     "metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux"}},
     "status": {"addresses": [{"type": "InternalIP", "address": "10.1.0.1"},
                              {"type": "InternalIP", "address": "fd00::1"}]}},
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"},
     "status": {"addresses": []}},
]

NAMESPACES = [
    {"apiVersion": "v1", "kind": "Namespace",
     "metadata": {"name": "default", "labels": {"kubernetes.io/metadata.name": "default"}}},
    {"apiVersion": "v1", "kind": "Namespace",
     "metadata": {"name": "x", "labels": {"kubernetes.io/metadata.name": "x", "team": "red"}}},
]

RULES = {
    "endpoint": "x-a", "netns": "x-a", "table": "inet segd", "flags": ["owner", "persist"],
    "in_sync": True,
    "chains": [{"name": "input", "hook": "input", "priority": 0, "policy": "accept",
                "rules": [{"handle": 4, "expr": "iifname \"lo\" accept",
                           "comment": "segd: loopback", "packets": 0, "bytes": 0},
                          {"handle": 9, "expr": "ip saddr @i0_p4 tcp dport 80 counter accept",
                           "comment": "x/allow-b ingress[0]", "policy": "x/allow-b",
                           "direction": "ingress", "rule": 0, "packets": 3, "bytes": 180}]},
               {"name": "output", "hook": "output", "priority": 0, "policy": "accept",
                "rules": []}],
    "sets": [{"name": "i0_p4", "type": "ipv4_addr", "flags": [], "elements": ["10.71.0.3"]},
             {"name": "i1_c4", "type": "ipv4_addr", "flags": ["interval"],
              "elements": ["10.0.0.0-10.0.255.255"]},
             {"name": "i0_p6", "type": "ipv6_addr", "flags": [], "elements": []}],
}

STATUS = {"version": "0.1.0", "pid": 4242, "uptime_seconds": 3723, "endpoints": 2,
          "networkpolicies": 3, "clusternetworkpolicies": 2, "namespaces": 2, "enforced": 1, "errors": 1,
          "table_flags": ["owner", "persist"],
          "hook_fail_open": {"names": ["db", "cache"], "config": "/etc/segd/segd.conf"},
          "last_errors": [{"time": "2024-05-01T10:00:00Z", "message": "netns y-b vanished"}]}


# The fleet (docs/fleet.md, GET /v1/fleet). Without a change in flight: one node of each state,
# heartbeats relative to now ("3s", "2m30s" and "21m" old, or unknown).
def fleet_nodes(now):
    return [
        {"name": "n1", "state": "ready", "self": True, "enforced_revision": 42,
         "endpoints": 12, "heartbeat": now - 3, "not_committed": 0},
        {"name": "n2", "state": "behind", "self": False, "enforced_revision": 41,
         "endpoints": 3, "heartbeat": now - 150, "not_committed": 1},
        {"name": "n3", "state": "lost", "self": False, "enforced_revision": 0,
         "endpoints": 0, "heartbeat": 0, "not_committed": 0},
        {"name": "n4", "state": "ready", "self": False, "enforced_revision": 42,
         "endpoints": 0, "heartbeat": now - 1300, "not_committed": 0},
        {"name": "n5\x1b[31m", "state": "disconnected", "self": False, "enforced_revision": 7,
         "heartbeat": None},
    ]


# A change's answer carries a revision (a fleet) when its body or namespace says FLEET...;
# then GET /v1/fleet plays the nodes catching up with it, poll by poll:
#   converge  n1 at once, n2 at the third look, n3 lost (behind, and not waited for)
#   stuck     n2 stays one behind, n5 (disconnected: still waited for) has no revision,
#             n1 has lost etcd
#   many      20 nodes stay one behind
#   nolive    every node lost
#   gone      GET /v1/fleet fails
# A change without a marker keeps the play going (apply of several files); any other request
# ends it.
class Fleet:
    def __init__(self):
        self.lock = threading.Lock()
        self.scenario = None
        self.revision = 0
        self.looks = 0

    def answer(self):
        with self.lock:
            self.looks += 1
            sc, rev, looks = self.scenario, self.revision, self.looks
        now = int(time.time())
        fleet = {"store": "etcd", "node": "n1", "revision": 42, "connected": True,
                 "error": None, "nodes": fleet_nodes(now)}
        if sc is None:
            return 200, fleet
        if sc == "gone":
            return error(503, "etcd unreachable: connection refused", 111)
        fleet["revision"] = rev
        node = lambda name, state, r: {"name": name, "state": state, "self": name == "n1",
                                       "enforced_revision": r, "endpoints": 1,
                                       "heartbeat": now - 1, "not_committed": 0}
        if sc == "converge":
            fleet["nodes"] = [node("n1", "ready", rev),
                              node("n2", "ready" if looks >= 3 else "behind",
                                   rev if looks >= 3 else rev - 1),
                              node("n3", "lost", rev - 2)]
        elif sc == "stuck":
            fleet["connected"] = False
            fleet["error"] = "etcd: connection refused"
            fleet["nodes"] = [node("n1", "ready", rev), node("n2", "behind", rev - 1),
                              node("n3", "lost", rev - 2), node("n5", "disconnected", None)]
        elif sc == "many":
            fleet["nodes"] = [node("n1", "ready", rev)] + [
                node("m%02d" % i, "behind", rev - 1) for i in range(20)]
        elif sc == "nolive":
            fleet["nodes"] = [node("n1", "lost", rev), node("n2", "lost", rev)]
        return 200, fleet

    def change(self, text, answer):
        """Adds a revision to a change's answer when `text` (its body and path) asks for one:
        FLEET... in the body, fleet... in a name."""
        for marker, sc in (("FLEETOK", "converge"), ("FLEETSTUCK", "stuck"),
                           ("FLEETNOLIVE", "nolive"), ("FLEETGONE", "gone"),
                           ("FLEETMANY", "many")):
            if marker in text or marker.lower() in text:
                with self.lock:
                    self.scenario, self.revision, self.looks = sc, 42, 0
                answer["revision"] = 42
        if "FLEETWRONGREV" in text:
            answer["revision"] = "42"
        if "FLEETNEGREV" in text:
            answer["revision"] = -1
        if "FLEETZEROREV" in text:
            answer["revision"] = 0
        return answer


def error(status, message, errno=22, diagnostics=None):
    e = {"message": message, "errno": errno}
    if diagnostics is not None:
        e["diagnostics"] = diagnostics
    return status, {"error": e}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def address_string(self):
        return "unix"

    def reply(self, status, body, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        change = self.command in ("POST", "DELETE") and url.path != "/v1/fleet"
        if url.path != "/v1/fleet" and not change:
            with self.server.fleet.lock:
                self.server.fleet.scenario = None
        with open(self.server.log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": url.path, "query": query,
                                "time": time.monotonic(),
                                "raw_query": url.query,
                                "content_type": self.headers.get("Content-Type"),
                                "body": body}) + "\n")
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        if parts[:1] != ["v1"]:
            return self.reply(*error(404, "no such route"))
        if parts[1:] == ["endpoints", "huge", "rules"]:
            # Over segctl's 64 MiB cap, with no Content-Length up front.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b" " * (1 << 20)
            try:
                for _ in range(70):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return
        status, obj, raw = self.route(self.command, parts[1:], query, body)
        if 200 <= status < 300 and isinstance(obj, dict) and (
                parts[1:] in (["apply"], ["delete"]) or self.command == "DELETE"):
            obj = self.server.fleet.change(body + self.path, obj)
        self.reply(status, obj, raw)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = handle_any

    def route(self, method, p, q, body):
        ns = q.get("namespace")
        if method == "GET" and p == ["status"]:
            return 200, STATUS, None
        if method == "GET" and p == ["fleet"]:
            return self.server.fleet.answer() + (None,)
        if method == "DELETE" and p[:2] == ["fleet", "nodes"] and len(p) == 3:
            if p[2] == "nope":
                return error(404, "node nope is not in the fleet", 2) + (None,)
            if p[2] == "single":
                return error(409, "a single host has no fleet (segd --store)", 1) + (None,)
            return 200, {"deleted": p[2]}, None
        if method == "GET" and p == ["endpoints", "garbage"]:
            return 200, None, b"this is not json"
        if method == "GET" and p == ["endpoints", "fail-plain"]:
            return 500, None, b"Internal Server Error"
        if method == "GET" and p == ["endpoints", "array"]:
            return 200, None, b"[1, 2]"
        if method == "POST" and p in (["apply"], ["delete"]):
            if "BAD" in body:
                return error(400, "%s: invalid policy (2 problems)" % q.get("file", "?"),
                             74, [{"file": q.get("file"), "line": 14, "column": 9,
                                   "path": "spec.ingress[0].from[1].ipBlock.cidr",
                                   "message": "invalid CIDR \"10.0.0.0/33\""},
                                  {"file": q.get("file"), "line": 3, "column": 1,
                                   "path": "", "message": "unknown field \"spek\""}]) + (None,)
            if "ClusterNetworkPolicy" in body:
                if p == ["delete"]:
                    return 200, {"deleted": [{"kind": "ClusterNetworkPolicy",
                                              "name": "block-x"},
                                             {"kind": "NetworkPolicy", "namespace": "x",
                                              "name": "allow-b"}],
                                 "endpoints_updated": 2}, None
                return 200, {"applied": [
                    {"kind": "Namespace", "name": "x", "action": "unchanged"},
                    {"kind": "NetworkPolicy", "namespace": "x", "name": "allow-b",
                     "action": "created"},
                    {"kind": "ClusterNetworkPolicy", "name": "block-x",
                     "action": "created"}], "endpoints_updated": 2}, None
            if p == ["delete"]:
                if "MISSING" in body:
                    return error(404, "networkpolicy x/missing not found", 2) + (None,)
                return 200, {"deleted": [{"kind": "NetworkPolicy", "namespace": "x",
                                          "name": "allow-b"}], "endpoints_updated": 1}, None
            if body.strip() == "":
                return 200, {"applied": [], "endpoints_updated": 0}, None
            if "NOTCOMMITTED" in body:
                return 200, {"applied": [
                    {"kind": "NetworkPolicy", "namespace": "x", "name": "allow-b",
                     "action": "created"}], "endpoints_updated": 1,
                    "not_committed": [{"name": "ctr-f4", "error": "kernel refused ruleset: "
                                       "Argument list too long"}]}, None
            return 200, {"applied": [
                {"kind": "Namespace", "namespace": "", "name": "x", "action": "configured"},
                {"kind": "NetworkPolicy", "namespace": "x", "name": "allow-b",
                 "action": "created"},
                {"kind": "NetworkPolicy", "namespace": "x", "name": "deny-all",
                 "action": "unchanged"}], "endpoints_updated": 2}, None
        if method == "GET" and p == ["check"]:
            if q.get("from") == "nobody":
                return error(404, "nobody: no such endpoint (name, container id prefix) or IP address", 2) + (None,)
            deny = {"endpoint": "x-a", "enforced": True, "isolated": True, "allowed": False,
                    "selected_by": ["x/deny-all"], "rules": [],
                    "reason": "x-a is selected by x/deny-all for ingress, and none of their rules matches"}
            allow = {"endpoint": q.get("from"), "enforced": True, "isolated": False, "allowed": True,
                     "selected_by": [], "rules": [], "reason": "no policy with Egress in policyTypes selects it",
                     "guard": {"state": "none", "reason": "mv0 (macvlan): no host-side device to guard",
                               "devices": []}}
            side = {"endpoint": q.get("from"), "namespace": "x", "address": "10.71.0.3"}
            return 200, {"from": q.get("from"), "to": q.get("to"), "port": q.get("port"),
                         "verdict": "denied", "family": "ipv4", "egress": allow, "ingress": deny,
                         "checks": [{"family": "ipv4", "from": side,
                                     "to": {"endpoint": "x-a", "namespace": "x", "address": "10.71.0.2"},
                                     "egress": allow, "ingress": deny, "allowed": False}],
                         "kernel": [{"endpoint": q.get("from"), "in_sync": True},
                                    {"endpoint": "x-a", "in_sync": False}],
                         "kernel_mismatch": True}, None
        if method == "GET" and p == ["matrix"]:
            ports = (q.get("ports") or "80/TCP").split(",")
            eps = [{"name": "x-a", "namespace": "x"}, {"name": "x,b", "namespace": "x"},
                   {"name": "y-c", "namespace": "y"}]
            # segd's rows: one character per cell (Y allowed, . denied, - itself, ? no
            # address family in common); namespace "nofamily": y-c shares none with x-a;
            # namespace "badrows": a row too short
            def cell(f, t, pt):
                if f == t:
                    return "-"
                if ns == "nofamily" and {f["name"], t["name"]} == {"x-a", "y-c"}:
                    return "?"
                return "Y" if t["name"] != "x-a" or pt == "53/UDP" else "."
            rows = [["".join(cell(f, t, pt) for t in eps) for f in eps] for pt in ports]
            if ns == "badrows":
                rows[0][0] = rows[0][0][:-1]
            return 200, {"endpoints": eps, "ports": ports, "rows": rows,
                         "not_enforced": [{"name": "y-b", "state": "error"}]}, None
        if p[:1] == ["networkpolicies"]:
            if len(p) == 3 and method == "DELETE" and p[1] == "fleet":
                return 200, {"deleted": [{"kind": "NetworkPolicy", "namespace": p[1],
                                          "name": p[2]}], "endpoints_updated": 1}, None
            if method == "GET" and len(p) == 1:
                return 200, {"items": [n for n in NETPOLS
                                       if ns is None or n["metadata"]["namespace"] == ns]}, None
            if len(p) == 3:
                found = [n for n in NETPOLS if n["metadata"]["namespace"] == p[1]
                         and n["metadata"]["name"] == p[2]]
                if not found:
                    return error(404, "networkpolicy %s/%s not found" % (p[1], p[2]), 2) + (None,)
                if method == "GET":
                    return 200, found[0], None
                if method == "DELETE":
                    return 200, {"deleted": [{"kind": "NetworkPolicy", "namespace": p[1],
                                              "name": p[2]}], "endpoints_updated": 1}, None
        if p[:1] == ["clusternetworkpolicies"]:
            if method == "GET" and len(p) == 1:
                return 200, {"items": CNPS}, None
            if len(p) == 2:
                found = [c for c in CNPS if c["metadata"]["name"] == p[1]]
                if not found:
                    return error(404, "clusternetworkpolicy %s not found" % p[1], 2) + (None,)
                if method == "GET":
                    return 200, found[0], None
                if method == "DELETE":
                    return 200, {"deleted": [{"kind": "ClusterNetworkPolicy",
                                              "name": p[1]}], "endpoints_updated": 1}, None
        if p[:1] == ["nodes"]:
            if method == "GET" and len(p) == 1:
                return 200, {"items": NODES}, None
            if len(p) == 2:
                found = [n for n in NODES if n["metadata"]["name"] == p[1]]
                if not found:
                    return error(404, "node %s not found" % p[1], 2) + (None,)
                if method == "GET":
                    return 200, found[0], None
                if method == "DELETE":
                    return 200, {"deleted": [{"kind": "Node", "name": p[1]}],
                                 "endpoints_updated": 1}, None
        if p == ["namespaces"] and method == "GET":
            return 200, {"items": NAMESPACES}, None
        if p[:1] == ["endpoints"]:
            if len(p) == 1 and method == "GET":
                # the list says on which node of the fleet x-a runs; y-b's is unknown
                items = [dict(e, node="n1") if e["name"] == "x-a" else e for e in ENDPOINTS]
                return 200, {"items": [e for e in items
                                       if ns is None or e["namespace"] == ns]}, None
            if len(p) == 1 and method == "POST":
                req = json.loads(body)
                if any(e["name"] == req["name"] for e in ENDPOINTS):
                    return error(409, "endpoint \"%s\" exists" % req["name"], 17) + (None,)
                ep = {"name": req["name"], "namespace": req.get("namespace", "default"),
                      "netns": req["netns"], "labels": req.get("labels", {}),
                      "ports": req.get("ports", []), "addresses": [], "state": "pending",
                      "error": None, "policies": [],
                      "isolation": {"ingress": False, "egress": False}}
                return 201, ep, None
            found = [e for e in ENDPOINTS if len(p) > 1 and e["name"] == p[1]]
            if not found:
                return error(404, "endpoint \"%s\" not found" % p[1], 2) + (None,)
            ep = copy.deepcopy(found[0])
            if len(p) == 2 and method == "GET":
                return 200, ep, None
            if len(p) == 2 and method == "DELETE":
                return 200, {"deleted": [{"kind": "Endpoint", "name": p[1]}]}, None
            if p[2:] == ["labels"] and method == "PATCH":
                req = json.loads(body)
                ep["labels"].update(req.get("set", {}))
                for k in req.get("remove", []):
                    ep["labels"].pop(k, None)
                return 200, ep, None
            if p[2:] == ["rules"] and method == "GET":
                rules = copy.deepcopy(RULES)
                rules["endpoint"] = rules["netns"] = p[1]
                if p[1] == "y-b":
                    rules["in_sync"] = False
                return 200, rules, None
        return error(404, "no such route", 2) + (None,)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    try:
        os.unlink(a.socket)
    except FileNotFoundError:
        pass
    srv = Server(a.socket, Handler)
    srv.log = a.log
    srv.fleet = Fleet()
    print("ready", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
