"""Benchmark (g): a fleet of segd nodes sharing policies and endpoints through etcd v3.

etcd: a 3-member cluster on loopback (Debian's etcd-server, members started here on free ports
with temporary data dirs under the run's output dir, fsync on; health polled). Every etcd
request below goes through etcd's v3 JSON gateway (/v3/kv/put, /v3/kv/txn, /v3/watch) from
this script over HTTP/1.1 on loopback, as segd itself talks to it.

Arms (interleaved where they share a setup; the first round of each is a warm-up):
  floor      a plain put-to-watch round trip: a watcher streaming /v3/watch on one key and a
             writer doing /v3/kv/put; time from sending the put to the event read by the
             watcher (p50/p99), and the put's own round trip
  apply      3 real segd nodes (own state dir, socket, --store etcd:..., a few netns endpoints
             each added with `segctl endpoint add`); POST /v1/apply on node 0 alternating two
             versions of one NetworkPolicy (ingress from role=v1 / role=v2); measured until
             (a) node 0's GET /v1/fleet shows every node's enforced_revision >= the revision
             the apply returned, and (b) kernel evidence: the address of node 0's role=v2
             endpoint is present / absent in the peer set of node 2's web endpoint, seen by an
             independent observer polling that namespace's ruleset with libnftables (`nft -j
             list ruleset` in-process, no segd code)
  endpoint   `segctl endpoint add` on node 0 (a fresh namespace with an address, labelled as
             the peers of a policy on node 1's web endpoint) until the address is in node 1's
             web endpoint's peer set; then `segctl endpoint del` until it is gone
  remote     one real node with 3 local endpoints whose policy takes peers by label, and F
             simulated nodes x 200 endpoints written straight into etcd (values as segd's
             fleet_endpoint_format writes them; 100 of them selected at every F, so that the peer
             set, the output of a change, is the same size and only the fleet grows). One remote change at a
             time: relabel into / out of the selector, add / remove a selected endpoint, and a
             relabel that no selector sees; time from the etcd write to the local set showing
             it, and segd's own work for it: CPU (schedstat delta, minus a no-change baseline
             doing the same reads), namespaces committed, plans compiled, netlink messages
             (GET /metrics deltas) and the fleet counters. F = 5 and 50 (1,000 and 10,000
             remote endpoints): the work per change must not grow with F. Also: ingesting the
             F x 200 endpoints through the watch, and the re-list of all of them at a restart.
Targets: segd's CPU per remote change (relabel into the selector, add; medians, net of the
reads) at the largest F <= 1.5x F=5, with the peer set held at 100 addresses; no namespace
committed for a change no selector sees. Every change must be observed in the kernel (within
20 s) or the benchmark fails. Quick: F = 5, 50 (~20 s); full: F = 5, 50, 100 (~1 min).
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import benchlib
from benchlib import fmt, log, median, percentile, ratio

ID = "g"
TITLE = "Fleet: policies and endpoints through etcd (3 nodes, simulated fleets)"
PACKAGES = ["etcd-server", "libnftables1"]
TARGETS = ["daemon/segd", "cli/segctl"]
NS = "fleet"
RATIO_MAX = 1.5
PER_NODE = 200
SELECTED_NODES = 5  # role=client: every 10th endpoint of the first 5 fake nodes (100 peers at
                    # every F, so that the peer set, the output, is the same size at every F)


def config(profile):
    if profile.quick:
        return dict(floor=100, apply=10, endpoint=10, remote=12, fleets=(5, 50))
    return dict(floor=1000, apply=60, endpoint=60, remote=40, fleets=(5, 50, 100))


def _p(xs):
    return (percentile(xs, 50), percentile(xs, 99)) if xs else (None, None)


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


# ------------------------------------------------------------------ etcd
class Etcd:
    """A 3-member etcd cluster on loopback and a small v3 JSON gateway client."""

    def __init__(self, ctx, members=3):
        self.ctx = ctx
        self.dir = tempfile.mkdtemp(prefix="etcd-", dir=ctx.outdir)
        ports = free_ports(2 * members)
        self.client = ["http://127.0.0.1:%d" % ports[2 * i] for i in range(members)]
        peer = ["http://127.0.0.1:%d" % ports[2 * i + 1] for i in range(members)]
        cluster = ",".join("m%d=%s" % (i, peer[i]) for i in range(members))
        self.procs = []
        for i in range(members):
            logf = open(os.path.join(self.dir, "m%d.log" % i), "w")
            self.procs.append(ctx.popen(
                ["etcd", "--name", "m%d" % i, "--data-dir", os.path.join(self.dir, "m%d" % i),
                 "--listen-client-urls", self.client[i], "--advertise-client-urls", self.client[i],
                 "--listen-peer-urls", peer[i], "--initial-advertise-peer-urls", peer[i],
                 "--initial-cluster", cluster, "--initial-cluster-state", "new",
                 "--initial-cluster-token", "sgb%d" % os.getpid(), "--log-level", "error"],
                stdout=logf, stderr=logf))
        ctx.on_cleanup(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        self.conn = None
        self.wait_healthy()

    def urls(self):
        return ",".join(self.client)

    def wait_healthy(self, timeout=60):
        deadline = time.monotonic() + timeout
        pending = set(self.client)
        while pending and time.monotonic() < deadline:
            for u in list(pending):
                try:
                    c = http.client.HTTPConnection(u[7:], timeout=2)
                    c.request("GET", "/health")
                    r = c.getresponse()
                    if r.status == 200 and json.loads(r.read()).get("health") in ("true", True):
                        pending.discard(u)
                    c.close()
                except (OSError, ValueError, http.client.HTTPException):
                    pass
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("etcd member exited %d (logs in %s)" % (p.returncode, self.dir))
            if pending:
                time.sleep(0.05)
        if pending:
            raise RuntimeError("etcd members not healthy within %d s: %s" % (timeout, pending))

    def call(self, path, body, conn=None):
        c = conn or self.conn
        if c is None:
            c = self.conn = http.client.HTTPConnection(self.client[0][7:], timeout=60)
        c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        txt = r.read()
        if r.status != 200:
            raise RuntimeError("etcd %s: %d %s" % (path, r.status, txt[:300]))
        return json.loads(txt)

    def put(self, key, value, conn=None):
        return int(self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)}, conn)
                   ["header"]["revision"])

    def delete(self, key, prefix=False):
        body = {"key": b64(key)}
        if prefix:
            body["range_end"] = b64(prefix_end(key))
        return int(self.call("/v3/kv/deleterange", body)["header"]["revision"])

    def put_many(self, kvs, per_txn=100):
        rev = 0
        for i in range(0, len(kvs), per_txn):
            ops = [{"request_put": {"key": b64(k), "value": b64(v)}} for k, v in kvs[i:i + per_txn]]
            rev = int(self.call("/v3/kv/txn", {"success": ops})["header"]["revision"])
        return rev


def prefix_end(key):
    b = bytearray(key.encode())
    b[-1] += 1
    return bytes(b)


class Watcher:
    """One /v3/watch stream on a key; a thread records (monotonic time, revision) per event."""

    def __init__(self, etcd, key):
        self.conn = http.client.HTTPConnection(etcd.client[1][7:], timeout=60)
        self.conn.request("POST", "/v3/watch", body=json.dumps(
            {"create_request": {"key": b64(key)}}), headers={"Content-Type": "application/json"})
        self.resp = self.conn.getresponse()
        self.events = []
        self.cv = threading.Condition()
        first = json.loads(self.resp.readline())
        if not first.get("result", {}).get("created"):
            raise RuntimeError("etcd watch not created: %r" % first)
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                t = time.monotonic()
                res = json.loads(line).get("result", {})
                with self.cv:
                    for ev in res.get("events", []):
                        self.events.append((t, int(ev["kv"]["mod_revision"])))
                    self.cv.notify_all()
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return  # closed

    def wait_rev(self, rev, timeout=10):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for t, r in self.events:
                    if r >= rev:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("watch event for revision %d not seen in %d s" % (rev, timeout))
                self.cv.wait(left)

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def run_floor(etcd, n):
    w = Watcher(etcd, "/bench/floor")
    lat, put_rt = [], []
    try:
        for i in range(n + 1):
            t0 = time.monotonic()
            rev = etcd.put("/bench/floor", "v%d" % i)
            t1 = time.monotonic()
            t_ev = w.wait_rev(rev)
            if i:
                lat.append((t_ev - t0) * 1e3)
                put_rt.append((t1 - t0) * 1e3)
    finally:
        w.close()
    return lat, put_rt


# ------------------------------------------------------------------ the kernel observer
OBSERVER = r"""
import ctypes, json, sys, time
lib = ctypes.CDLL("libnftables.so.1")
lib.nft_ctx_new.restype = ctypes.c_void_p
lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
ctx = lib.nft_ctx_new(0)
lib.nft_ctx_output_set_flags(ctx, 1 << 4)  # NFT_CTX_OUTPUT_JSON
lib.nft_ctx_buffer_output(ctx)
lib.nft_ctx_buffer_error(ctx)

def addrs():
    lib.nft_run_cmd_from_buffer(ctx, b"list ruleset")
    out = lib.nft_ctx_get_output_buffer(ctx) or b"{}"
    found = set()
    for o in json.loads(out).get("nftables", []):
        s = o.get("set")
        if s:
            for e in s.get("elem", []):
                if isinstance(e, str):
                    found.add(e)
                elif isinstance(e, dict) and isinstance(e.get("elem", {}).get("val"), str):
                    found.add(e["elem"]["val"])
    return found

for line in sys.stdin:
    addr, want, timeout = line.split()
    want = want == "present"
    deadline = time.monotonic() + float(timeout)
    polls, t_first = 0, time.monotonic()
    ok = (addr in addrs()) == want
    polls += 1
    print("armed %d" % ok, flush=True)
    while not ok and time.monotonic() < deadline:
        ok = (addr in addrs()) == want
        polls += 1
    t = time.monotonic()
    print("%s %.9f %d %.9f" % ("ok" if ok else "timeout", t, polls, t - t_first), flush=True)
"""


class Observer:
    """A process in a namespace polling its nftables sets for one address (libnftables)."""

    def __init__(self, ctx, netns):
        self.p = ctx.popen(["ip", "netns", "exec", netns, sys.executable, "-c", OBSERVER],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.periods = []

    def arm(self, addr, present, timeout=20):
        self.p.stdin.write("%s %s %g\n" % (addr, "present" if present else "absent", timeout))
        self.p.stdin.flush()
        line = self.p.stdout.readline().split()
        if not line or line[0] != "armed":
            raise RuntimeError("observer: %r" % line)
        return line[1] == "1"  # already true

    def result(self):
        line = self.p.stdout.readline().split()
        if not line or line[0] != "ok":
            raise RuntimeError("observer: %s" % (line or "exited"))
        polls, span = int(line[2]), float(line[3])
        if polls > 1:
            self.periods.append(span / (polls - 1))
        return float(line[1])


# ------------------------------------------------------------------ segd nodes
def mk_netns(name, addr):
    benchlib.run(["ip", "netns", "add", name])
    benchlib.run(["ip", "-n", name, "link", "set", "lo", "up"])
    benchlib.run(["ip", "-n", name, "addr", "add", addr + "/32", "dev", "lo"])


def segd_cpu_ns(pid):
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
            total += int(f.read().split()[0])
    return total


def metrics(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError("GET /metrics: %d %s" % (r.status, body[:200]))
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        k, _, v = line.rpartition(" ")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


WORK_KEYS = (("commits", "segd_namespace_commits_total"), ("plans", "segd_plans_compiled_total"),
             ("messages", "segd_netlink_messages_total"), ("reconciles", "segd_reconciles_total"),
             ("reconcile_s", "segd_reconcile_duration_seconds_sum"))


def work_of(m):
    out = {}
    for short, name in WORK_KEYS:
        out[short] = sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))
    return out


class Node:
    def __init__(self, ctx, etcd, name, base):
        self.ctx, self.name = ctx, name
        self.work = os.path.join(base, name)
        os.makedirs(self.work, exist_ok=True)
        self.sock = os.path.join(self.work, "segd.sock")
        self.metrics_port = free_ports(1)[0]
        self.extra = ["--flow-log", "none", "--store", "etcd:" + etcd.urls(), "--node", name,
                      "--metrics-listen", "127.0.0.1:%d" % self.metrics_port]
        self.start()

    def start(self):
        t0 = time.monotonic()
        self.p, self.conn, self.t_answer, self.logf = benchlib.start_segd(
            self.ctx, self.work, self.extra)
        deadline = time.monotonic() + 120
        while not self.fleet()["connected"]:
            if time.monotonic() > deadline:
                raise RuntimeError("node %s not connected to etcd: %s" % (self.name, self.fleet()))
            time.sleep(0.01)
        self.t_connected = time.monotonic() - t0

    def stop(self):
        self.conn.close()
        self.ctx.stop(self.p)
        self.logf.close()

    def api(self, method, path, body=None):
        return benchlib.api(self.conn, method, path, body)

    def fleet(self):
        return self.api("GET", "/v1/fleet")

    def segctl(self, *args):
        return benchlib.run([self.ctx.product("cli/segctl"), "--socket", self.sock] + list(args))


def netpol(name, pod, peer):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"podSelector": {"matchLabels": pod},
                     "ingress": [{"from": [{"podSelector": {"matchLabels": peer}}],
                                  "ports": [{"protocol": "TCP", "port": 80}]}]}}


def apply(node, objs, fname):
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
    return node.api("POST", "/v1/apply?file=" + fname, text)


def wait_for(fn, what, timeout=30, step=0.002):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for %s" % what)
        time.sleep(step)


# ------------------------------------------------------------------ arms 2 and 3
def run_nodes(ctx, etcd, cfg, base):
    pre = ctx.prefix + "g"
    nodes = [Node(ctx, etcd, "n%d" % i, base) for i in range(3)]
    addr = {}
    for i, n in enumerate(nodes):
        for j, (ep, labels) in enumerate((("web", ["app=web"]), ("cli1", ["role=v1"]),
                                          ("cli2", ["role=v2"]))):
            ns = "%s%s%d" % (pre, ep, i)
            addr[(ep, i)] = "10.210.%d.%d" % (i, j + 1)
            mk_netns(ns, addr[(ep, i)])
            args = ["endpoint", "add", "%s-%d" % (ep, i), "--netns", ns, "-n", NS]
            for lab in labels:
                args += ["-l", lab]
            n.segctl(*args)
    # every node sees the 9 endpoints (6 remote)
    for n in nodes:
        wait_for(lambda: len(n.api("GET", "/v1/endpoints?namespace=" + NS)["items"]) >= 9,
                 "node %s to see 9 endpoints" % n.name)
    web2 = "%sweb2" % pre
    obs = Observer(ctx, web2)
    target = addr[("cli2", 0)]   # node 0's role=v2 endpoint, a peer of node 2's web
    versions = [[netpol("web", {"app": "web"}, {"role": "v1"})],
                [netpol("web", {"app": "web"}, {"role": "v2"})]]
    apply_s = []
    for rep in range(2 * cfg["apply"] + 2):
        v = rep % 2
        already = obs.arm(target, present=(v == 1))
        t0 = time.monotonic()
        ans = apply(nodes[0], versions[v], "bench-g.json")
        t_api = time.monotonic() - t0
        rev = ans.get("revision")
        if rev is None:
            raise RuntimeError("POST /v1/apply gave no revision: %s" % ans)
        t_kernel = obs.result()

        def all_enforced():
            f = nodes[0].fleet()
            live = [x for x in f["nodes"] if x["state"] != "lost"]
            return len(live) >= 3 and all(x["enforced_revision"] >= rev for x in live)
        wait_for(all_enforced, "every node at revision %d" % rev, step=0.001)
        t_all = time.monotonic()
        if rep >= 2 and not already:
            apply_s.append(dict(version=v + 1, revision=rev, api_ms=t_api * 1e3,
                                fleet_ms=(t_all - t0) * 1e3, kernel_ms=(t_kernel - t0) * 1e3))
    apply_period = median(obs.periods)
    obs.periods = []

    # arm 3: segctl endpoint add on node 0, seen in node 1's web endpoint's peer set
    apply(nodes[0], [netpol("web", {"app": "web"}, {"role": "v1"}),
                     netpol("newcomer", {"app": "web"}, {"role": "newcomer"})], "bench-g.json")
    obs1 = Observer(ctx, "%sweb1" % pre)
    ep_s = []
    for rep in range(cfg["endpoint"] + 1):
        ns = "%snew%d" % (pre, rep)
        a = "10.211.%d.%d" % (rep // 250, rep % 250 + 1)
        mk_netns(ns, a)
        t0 = time.monotonic()
        nodes[0].segctl("status")   # reference: a segctl process and one API round trip
        t_ref = time.monotonic() - t0
        obs1.arm(a, present=True)
        t0 = time.monotonic()
        nodes[0].segctl("endpoint", "add", "new-%d" % rep, "--netns", ns, "-n", NS,
                        "-l", "role=newcomer")
        t_cli = time.monotonic() - t0
        t_in = obs1.result()
        obs1.arm(a, present=False)
        t1 = time.monotonic()
        nodes[0].segctl("endpoint", "del", "new-%d" % rep)
        t_out = obs1.result()
        benchlib.remove_netns([ns])
        if rep:
            ep_s.append(dict(status_cli_ms=t_ref * 1e3, add_cli_ms=t_cli * 1e3, add_ms=(t_in - t0) * 1e3,
                             del_ms=(t_out - t1) * 1e3))
    ep_period = median(obs1.periods)
    for n in nodes:
        n.stop()
    ctx.stop(obs.p)
    ctx.stop(obs1.p)
    benchlib.remove_netns(benchlib.list_netns(pre))
    return apply_s, apply_period, ep_s, ep_period


# ------------------------------------------------------------------ arm 4: simulated fleet
def fake_ep(node, j, idx, role, net="10.200"):
    return json.dumps({"name": "e%d" % j, "namespace": NS,
                       "labels": {"app": "fake", "role": role},
                       "addresses": ["%s.%d.%d" % (net, idx // 250, idx % 250 + 1)],
                       "ports": [], "node": node}, separators=(",", ":"))


def fake_addr(idx, net="10.200"):
    return "%s.%d.%d" % (net, idx // 250, idx % 250 + 1)


def fake_node_kvs(k, now):
    node = "fake-%02d" % k
    kvs = [("/segd/members/" + node, json.dumps({"name": node, "joined": now})),
           ("/segd/nodes/" + node, json.dumps({"name": node, "enforced_revision": 0,
                                               "endpoints": PER_NODE, "heartbeat": now,
                                               "started": now, "not_committed": 0}))]
    for j in range(PER_NODE):
        idx = k * PER_NODE + j
        kvs.append(("/segd/endpoints/%s/e%d" % (node, j),
                    fake_ep(node, j, idx, "client" if k < SELECTED_NODES and j % 10 == 0
                            else "other")))
    return kvs


def remote_count(node):
    return sum(1 for e in node.api("GET", "/v1/endpoints")["items"] if e.get("remote"))


def run_remote(ctx, etcd, cfg, base):
    pre = ctx.prefix + "r"
    etcd.delete("/segd/", prefix=True)
    node = Node(ctx, etcd, "real", base)
    for i in range(3):
        ns = "%sweb%d" % (pre, i)
        mk_netns(ns, "10.212.0.%d" % (i + 1))
        node.segctl("endpoint", "add", "web-%d" % i, "--netns", ns, "-n", NS, "-l", "app=web")
    apply(node, [netpol("webf", {"app": "web"}, {"role": "client"})], "bench-g-remote.json")
    obs = Observer(ctx, "%sweb0" % pre)
    now = int(time.time())
    out = {"points": [], "relist": [], "ingest": []}
    have = 0
    for F in cfg["fleets"]:
        kvs = []
        for k in range(have, F):
            kvs += fake_node_kvs(k, now)
        # done when segd's own count of remote changes moved by as many (GET /v1/fleet is
        # cheap; GET /v1/endpoints of 10,000 endpoints would cost segd more than the ingest)
        r0 = node.fleet()["counters"]["remote_changes"]
        added = (F - have) * PER_NODE
        t0 = time.monotonic()
        cpu0 = segd_cpu_ns(node.p.pid)
        etcd.put_many(kvs)
        t_written = time.monotonic() - t0
        wait_for(lambda: node.fleet()["counters"]["remote_changes"] >= r0 + added,
                 "%d remote endpoints" % (F * PER_NODE), timeout=300, step=0.01)
        out["ingest"].append(dict(F=F, added=added, write_s=t_written,
                                  seen_s=time.monotonic() - t0,
                                  cpu_s=(segd_cpu_ns(node.p.pid) - cpu0) / 1e9))
        if remote_count(node) != F * PER_NODE:
            raise RuntimeError("GET /v1/endpoints: %d remote endpoints, %d written" % (
                remote_count(node), F * PER_NODE))
        have = F
        log("(g) remote F=%d: %d endpoints ingested in %.2f s" % (F, F * PER_NODE,
                                                               out["ingest"][-1]["seen_s"]))
        out["points"].append(remote_changes(ctx, etcd, node, obs, F, cfg["remote"], now))
        # the re-list of everything at a restart
        node.stop()
        node.start()
        # connected: the re-list is done (it is one range request, applied before the watch)
        cpu = segd_cpu_ns(node.p.pid) / 1e9
        f = node.fleet()
        if f["counters"]["remote_changes"] < F * PER_NODE or remote_count(node) != F * PER_NODE:
            raise RuntimeError("re-list: %s remote changes, %d remote endpoints, %d written" % (
                f["counters"]["remote_changes"], remote_count(node), F * PER_NODE))
        out["relist"].append(dict(F=F, remote=F * PER_NODE, answer_s=node.t_answer,
                                  connected_s=node.t_connected, cpu_s=cpu,
                                  relists=f["counters"]["relists"]))
        log("(g) remote F=%d: restart + re-list %.2f s" % (F, node.t_connected))
    node.stop()
    ctx.stop(obs.p)
    benchlib.remove_netns(benchlib.list_netns(pre))
    out["period_ms"] = median(obs.periods) * 1e3 if obs.periods else None
    return out


def remote_changes(ctx, etcd, node, obs, F, reps, now):
    """One remote change at a time in a fleet of F x 200; segd's work for each."""
    pid = node.p.pid
    k = F - 1                                  # the last fake node
    fnode = "fake-%02d" % k
    j_in = 1                                   # role=other, relabelled to client and back
    j_quiet = 2                                # role=other <-> other2: no selector sees it
    idx_in = k * PER_NODE + j_in
    samples = {a: [] for a in ("baseline", "relabel_in", "relabel_out", "add", "remove", "quiet")}

    def batches():
        return node.fleet()["counters"]["batches"]

    pending = []                               # selected endpoints "add" wrote (key, addr)
    serial = [F * 20]                          # addresses unique across the points (F <= 100)

    def new_ep():
        i = serial[0]
        serial[0] += 1
        val = json.dumps({"name": "x%d" % i, "namespace": NS,
                          "labels": {"app": "fake", "role": "client"},
                          "addresses": [fake_addr(i, "10.201")], "ports": [], "node": fnode},
                         separators=(",", ":"))
        return "/segd/endpoints/%s/x%d" % (fnode, i), val, fake_addr(i, "10.201")

    for rep in range(reps + 1):
        arms = list(samples)
        arms = arms[rep % len(arms):] + arms[:rep % len(arms)]
        for arm in arms:
            addr, present, kv, delkey = None, None, None, None
            if arm == "relabel_in":
                addr, present = fake_addr(idx_in), True
                kv = ("/segd/endpoints/%s/e%d" % (fnode, j_in), fake_ep(fnode, j_in, idx_in, "client"))
            elif arm == "relabel_out":
                addr, present = fake_addr(idx_in), False
                kv = ("/segd/endpoints/%s/e%d" % (fnode, j_in), fake_ep(fnode, j_in, idx_in, "other"))
            elif arm == "add":
                key, val, addr = new_ep()
                present, kv = True, (key, val)
                pending.append((key, addr))
            elif arm == "remove":
                if not pending:                # not timed: something to remove
                    key, val, a = new_ep()
                    b0 = batches()
                    etcd.put(key, val)
                    wait_for(lambda: batches() > b0, "segd to see an add", step=0.001)
                    pending.append((key, a))
                delkey, addr = pending.pop()
                present = False
            elif arm == "quiet":
                role = "other2" if rep % 2 == 0 else "other"
                kv = ("/segd/endpoints/%s/e%d" % (fnode, j_quiet),
                      fake_ep(fnode, j_quiet, k * PER_NODE + j_quiet, role))
            if arm == "relabel_in" or arm == "relabel_out":
                # relabel_out needs it in, relabel_in needs it out: put it in the right state
                want_in = arm == "relabel_out"
                other = fake_ep(fnode, j_in, idx_in, "client" if want_in else "other")
                b0 = batches()
                etcd.put(kv[0], other)
                wait_for(lambda: batches() > b0, "segd to see the set-up", step=0.001)
            b0 = batches()
            w0 = work_of(metrics(node.metrics_port))
            if addr and obs.arm(addr, present):
                raise RuntimeError("(g) %s: %s already %s" % (arm, addr,
                                                            "present" if present else "absent"))
            c0 = segd_cpu_ns(pid)
            t0 = time.monotonic()
            if delkey:
                etcd.delete(delkey)
            elif kv:
                etcd.put(*kv)
            t_seen = obs.result() if addr else None
            # done: segd's batch counter moved (the baseline reads it once, changing nothing);
            # each read costs segd the baseline's CPU, subtracted per read below
            reads = 1
            while batches() <= b0 and arm != "baseline":
                reads += 1
                if time.monotonic() - t0 > 30:
                    raise RuntimeError("segd did not see the %s change in 30 s" % arm)
                time.sleep(0.001)
            c1 = segd_cpu_ns(pid)
            t_done = time.monotonic()
            w1 = work_of(metrics(node.metrics_port))
            s = dict(arm=arm, cpu_us=(c1 - c0) / 1e3, reads=reads,
                     seen_ms=(t_seen - t0) * 1e3 if t_seen else None,
                     done_ms=(t_done - t0) * 1e3, **{key: w1[key] - w0[key] for key in w0})
            if rep:
                samples[arm].append(s)
    b0 = batches()
    etcd.delete("/segd/endpoints/%s/x" % fnode, prefix=True)
    if pending:
        wait_for(lambda: batches() > b0, "segd to see the clean-up", step=0.001)
    base = median([s["cpu_us"] for s in samples["baseline"]])
    point = dict(F=F, remote=F * PER_NODE, baseline_cpu_us=base, arms={})
    for ss in samples.values():
        for s in ss:
            s["cpu_net_us"] = round(s["cpu_us"] - s["reads"] * base, 1)
    for arm, ss in samples.items():
        seen = [s["seen_ms"] for s in ss if s["seen_ms"] is not None]
        point["arms"][arm] = dict(
            n=len(ss), seen_p50_ms=_p(seen)[0], seen_p99_ms=_p(seen)[1],
            done_p50_ms=_p([s["done_ms"] for s in ss])[0],
            cpu_us=median([s["cpu_us"] for s in ss]),
            cpu_net_us=median([s["cpu_net_us"] for s in ss]), reads=median([s["reads"] for s in ss]),
            **{key: median([s[key] for s in ss]) for key, _ in WORK_KEYS})
    ctx.emit(dict(bench=ID, arm="remote", point={"F": F, "remote": F * PER_NODE},
                  anchor="baseline", load=benchlib.loadavg(), **point))
    return point


# ------------------------------------------------------------------ arm 5: a member hangs
def run_stall(ctx, etcd, base):
    """The etcd member segd talks to stops answering (SIGSTOP: connections stay open, nothing
    is read); a local label change then makes segd publish. Measures the longest GET
    /v1/status round trip seen by a prober (every ~10 ms) meanwhile, i.e. how long segd's event
    loop (API, OCI hook, netlink events) waits on etcd, and when segd answers from another
    member."""
    node = Node(ctx, etcd, "stall", base)
    ns = ctx.prefix + "stall0"
    mk_netns(ns, "10.213.0.1")
    node.segctl("endpoint", "add", "web-0", "--netns", ns, "-n", NS, "-l", "app=web")
    url = node.fleet()["url"]
    member = etcd.procs[etcd.client.index(url)]
    probes, stop = [], threading.Event()

    def prober():
        c = benchlib.UnixHTTP(node.sock)
        while not stop.is_set():
            t0 = time.monotonic()
            benchlib.api(c, "GET", "/v1/status")
            probes.append((t0, time.monotonic() - t0))
            stop.wait(0.01)
        c.close()
    th = threading.Thread(target=prober, daemon=True)
    th.start()
    wait_for(lambda: len(probes) >= 5, "the prober")
    member.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        node.api("PATCH", "/v1/endpoints/web-0/labels", {"set": {"stall": "1"}})
        t_patch = time.monotonic() - t0
        f = wait_for(lambda: (lambda v: v if v["url"] != url and v["connected"] else None)(
            node.fleet()), "segd to move to another member", timeout=60, step=0.01)
        t_moved = time.monotonic() - t0
        wait_for(lambda: probes[-1][0] > t0 + t_moved, "a probe after the move")
    finally:
        member.send_signal(signal.SIGCONT)
        stop.set()
        th.join(10)
    during = [d for t, d in probes if t >= t0 - 0.02]
    before = [d for t, d in probes if t < t0 - 0.02]
    node.stop()
    benchlib.remove_netns([ns])
    return dict(patch_ms=t_patch * 1e3, moved_s=t_moved, api_max_s=max(during),
                api_p50_before_ms=median(before) * 1e3, probes=len(during), url_after=f["url"])


# ------------------------------------------------------------------ driver interface
def run(profile, ctx):
    cfg = config(profile)
    if not shutil.which("etcd"):
        return [ctx.emit(dict(bench=ID, arm="setup", point={}, skipped="etcd not installed"))]
    base = tempfile.mkdtemp(prefix="bench-g-", dir=ctx.outdir)
    results = []
    t0 = time.monotonic()
    etcd = Etcd(ctx)
    log("(g) etcd: 3 members healthy in %.2f s" % (time.monotonic() - t0))

    lat, put_rt = run_floor(etcd, cfg["floor"])
    results.append(ctx.emit(dict(
        bench=ID, arm="floor", point={"puts": len(lat)}, anchor="floor", load=benchlib.loadavg(),
        watch_p50_ms=_p(lat)[0], watch_p99_ms=_p(lat)[1],
        put_p50_ms=_p(put_rt)[0], put_p99_ms=_p(put_rt)[1])))
    floor = results[-1]["watch_p50_ms"]
    log("(g) floor: put-to-watch p50 %.2f ms p99 %.2f ms" % _p(lat))

    apply_s, apply_period, ep_s, ep_period = run_nodes(ctx, etcd, cfg, base)
    for arm, ss, keys, period in (("apply", apply_s, ("api_ms", "fleet_ms", "kernel_ms"), apply_period),
                                  ("endpoint", ep_s, ("status_cli_ms", "add_cli_ms", "add_ms", "del_ms"), ep_period)):
        r = dict(bench=ID, arm=arm, point={"nodes": 3, "reps": len(ss)}, anchor="floor",
                 load=benchlib.loadavg(), poll_ms=period * 1e3 if period else None)
        for k in keys:
            p50, p99 = _p([s[k] for s in ss])
            r[k[:-3] + "_p50_ms"], r[k[:-3] + "_p99_ms"] = p50, p99
            r[k[:-3] + "_p50_vs_floor"] = ratio(p50, floor)
        results.append(ctx.emit(r))
        log("(g) %s: %s" % (arm, {k: fmt(v) for k, v in r.items() if k.endswith("_ms")}))

    rem = run_remote(ctx, etcd, cfg, base)
    for pt in rem["points"]:
        results.append(dict(bench=ID, arm="remote", point={"F": pt["F"]}, **pt))
    for x in rem["ingest"]:
        results.append(ctx.emit(dict(bench=ID, arm="ingest", point={"F": x["F"]}, **x)))
    for x in rem["relist"]:
        results.append(ctx.emit(dict(bench=ID, arm="relist", point={"F": x["F"]}, **x)))
    results.append(dict(bench=ID, arm="poll", point={}, remote_poll_ms=rem["period_ms"]))
    st = run_stall(ctx, etcd, base)
    results.append(ctx.emit(dict(bench=ID, arm="stall", point={}, load=benchlib.loadavg(), **st)))
    log("(g) stall: API blocked up to %.2f s while the etcd member hung" % st["api_max_s"])
    return results


def _by(results, arm):
    return [r for r in results if r.get("arm") == arm]


def check(results, profile):
    out = []
    pts = sorted(_by(results, "remote"), key=lambda r: r["F"])
    if len(pts) >= 2:
        lo, hi = pts[0], pts[-1]
        for arm in ("relabel_in", "add"):
            a, b = lo["arms"][arm]["cpu_net_us"], hi["arms"][arm]["cpu_net_us"]
            # the floor of the measure: a few tens of µs of scheduler noise on a loaded host
            rr = ratio(max(b, 50.0), max(a, 50.0))
            out.append(dict(target="segd CPU per remote %s at %d remote endpoints <= %.1fx %d" % (
                arm, hi["remote"], RATIO_MAX, lo["remote"]), met=rr is not None and rr <= RATIO_MAX,
                detail="%.2fx (%.0f -> %.0f us, net of the reads)" % (rr or 0, a, b), value=rr))
        for p in pts:
            q = p["arms"]["quiet"]
            out.append(dict(target="no namespace committed for a change no selector sees (F=%d)" %
                            p["F"], met=q["commits"] == 0,
                            detail="median %s namespace commits" % fmt(q["commits"]),
                            value=q["commits"]))
    return out


def summarize(results, ctx):
    fl = _by(results, "floor")[0]
    ap = _by(results, "apply")[0]
    ep = _by(results, "endpoint")[0]
    lines = [
        "Method: 3 etcd members (Debian etcd-server %s, fsync on, data dirs on the run's "
        "output dir) on loopback; every request through etcd's v3 JSON gateway over HTTP/1.1. "
        "segd nodes run with `--engine none --flow-log none --store etcd:URLS --node NAME`, each "
        "with its own state dir and socket, endpoints in network namespaces added with "
        "`segctl endpoint add`. Kernel evidence is taken by an independent observer: a process "
        "inside the target namespace polling `nft -j list ruleset` through libnftables (no segd "
        "code) until the address is present / absent in a set; its poll period is given "
        "(the granularity of every *kernel* figure). Load average during the run: %s." % (
            benchlib._pkg_version("etcd-server"), fmt(fl.get("load"))),
        "",
        benchlib.md_table(
            ["what", "n", "p50 ms", "p99 ms", "p50 / floor", "poll ms"],
            [["floor: etcd put → watch event (3 members)", fl["point"]["puts"], fl["watch_p50_ms"],
              fl["watch_p99_ms"], "1", "–"],
             ["floor: etcd put round trip", fl["point"]["puts"], fl["put_p50_ms"], fl["put_p99_ms"],
              fmt(ratio(fl["put_p50_ms"], fl["watch_p50_ms"])), "–"],
             ["apply: POST /v1/apply answered (revision)", ap["point"]["reps"], ap["api_p50_ms"],
              ap["api_p99_ms"], fmt(ap["api_p50_vs_floor"]), "–"],
             ["apply → every node's enforced_revision ≥ rev (node 0's /v1/fleet)",
              ap["point"]["reps"], ap["fleet_p50_ms"], ap["fleet_p99_ms"],
              fmt(ap["fleet_p50_vs_floor"]), "1"],
             ["apply → element changed in node 2's nft set (kernel)", ap["point"]["reps"],
              ap["kernel_p50_ms"], ap["kernel_p99_ms"], fmt(ap["kernel_p50_vs_floor"]),
              fmt(ap["poll_ms"])],
             ["reference: `segctl status` (a process, one API call)", ep["point"]["reps"],
              ep["status_cli_p50_ms"], ep["status_cli_p99_ms"], fmt(ep["status_cli_p50_vs_floor"]),
              "–"],
             ["`segctl endpoint add` on node 0 returns", ep["point"]["reps"], ep["add_cli_p50_ms"],
              ep["add_cli_p99_ms"], fmt(ep["add_cli_p50_vs_floor"]), "–"],
             ["`segctl endpoint add` on node 0 → address in node 1's peer set (kernel)",
              ep["point"]["reps"], ep["add_p50_ms"], ep["add_p99_ms"], fmt(ep["add_p50_vs_floor"]),
              fmt(ep["poll_ms"])],
             ["`segctl endpoint del` on node 0 → address gone on node 1 (kernel)",
              ep["point"]["reps"], ep["del_p50_ms"], ep["del_p99_ms"], fmt(ep["del_p50_vs_floor"]),
              fmt(ep["poll_ms"])]]),
        "",
        "Simulated fleet: one real node (3 local endpoints app=web, policy: ingress from "
        "role=client), F fake nodes × 200 endpoints written into etcd as segd writes them "
        "(role=client on 100 of them at every F: the peer set, 100 addresses, stays the same "
        "size and only the fleet grows). Per remote change (medians over the repetitions, arms interleaved): "
        "kernel time from the etcd write to the local set showing it, segd's CPU for it "
        "(schedstat of all its threads, minus the `baseline` arm doing the same API reads and "
        "no change), and its own counters (GET /metrics deltas).",
        "",
    ]
    rows = []
    for p in sorted(_by(results, "remote"), key=lambda r: r["F"]):
        for arm, a in p["arms"].items():
            rows.append([str(p["remote"]), arm, a["seen_p50_ms"], a["seen_p99_ms"],
                         a["done_p50_ms"], a["cpu_us"], a["cpu_net_us"], a["commits"], a["plans"],
                         a["messages"], a["reconciles"]])
    lines.append(benchlib.md_table(
        ["remote eps", "change", "kernel p50 ms", "kernel p99 ms", "processed p50 ms",
         "segd CPU µs", "net of baseline µs", "ns commits", "plans", "netlink msgs", "reconciles"],
        rows))
    lines.append("")
    rows = []
    for x in sorted(_by(results, "ingest"), key=lambda r: r["F"]):
        rows.append(["ingest via the watch", str(x["F"] * PER_NODE), str(x["added"]), x["write_s"],
                     x["seen_s"], x["cpu_s"]])
    for x in sorted(_by(results, "relist"), key=lambda r: r["F"]):
        rows.append(["restart + re-list", str(x["remote"]), str(x["remote"]), x["answer_s"],
                     x["connected_s"], x["cpu_s"]])
    lines.append(benchlib.md_table(
        ["one-time", "remote eps", "endpoints moved", "etcd write s / first answer s",
         "all seen s / connected s", "segd CPU s"], rows))
    pts = sorted(_by(results, "remote"), key=lambda r: r["F"])
    if len(pts) >= 2:
        lo, hi = pts[0], pts[-1]
        lines.append("\nWork per change from %d to %d remote endpoints (segd CPU net of the reads, "
                     "medians; the targets below take relabel_in and add): %s." % (
                         lo["remote"], hi["remote"], ", ".join(
                             "%s %s×" % (arm, fmt(ratio(max(hi["arms"][arm]["cpu_net_us"], 50.0),
                                                        max(lo["arms"][arm]["cpu_net_us"], 50.0))))
                             for arm in lo["arms"] if arm != "baseline")))
    poll = _by(results, "poll")
    if poll:
        lines.append("\nObserver poll period in the simulated fleet's namespace: %s ms." %
                     fmt(poll[0]["remote_poll_ms"]))
    for st in _by(results, "stall"):
        lines.append(
            "\nA hung etcd member (SIGSTOP of the member segd talks to; a local label change "
            "then makes segd publish): the longest GET /v1/status round trip meanwhile was "
            "**%.2f s** (%s ms before the stop), segd answered from another member %.2f s "
            "after the change; the label change itself answered in %s ms (the publication "
            "runs after the answer, in the same loop). Information, no target: see the "
            "finding on blocking etcd requests below." % (
                st["api_max_s"], fmt(st["api_p50_before_ms"]), st["moved_s"],
                fmt(st["patch_ms"])))
    for t in check(results, None):
        lines.append("- %s: **%s** — %s" % (t["target"], "met" if t["met"] else "missed",
                                             t["detail"]))
    return "\n".join(lines)
