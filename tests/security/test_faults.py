#!/usr/bin/env python3
"""Failures stay where they are: one endpoint segd cannot commit holds nothing else up.

    test_faults.py [--segd BIN] [--segctl BIN] [--probe BIN] [--build DIR] [--only REGEX]
                   [--keep-log] [--timeout-ms N]

Topology (tests/lib/topology.py): a bridge in a private hub namespace and one veth'd namespace
per endpoint, all in NetworkPolicy namespace `flt`: v, p and w registered by hand (segctl
endpoint add, labels app=<name>), f not registered (it comes through the OCI hook), each
serving TCP and UDP on 80 (segd-probe). The OCI hook is the real one (segd-oci-hook, next to
segd), fed an OCI state the way a runtime would at createRuntime.

1. A container whose process is in v's namespace (`podman run --network ns:...`): the hook's
   registration is refused with 409 naming v; v's ruleset stays exactly as it was; no second
   endpoint exists for that namespace; an unrelated apply and a relabel succeed and are
   enforced (real packets); status lists the refusal, the metric counts it.
2. The kernel refuses f's ruleset for real: a process root in f's namespace has filled the
   input hook with its own base chains (the kernel allows 1024 per hook), so no table with an
   input chain can be committed there. f is `failed` with the kernel's reason and retried with
   backoff; an unrelated apply and a relabel succeed and are enforced; the answer lists f as
   not committed; status and metrics show it. Once the chains are gone, a retry commits f's
   ruleset by itself (no request), and packets show it enforced.

Prints PASS/FAIL per test and `N passed, N failed`.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import topology as T  # noqa: E402
from topology import check_flows, eventually  # noqa: E402

NS = "flt"
HAND = ["v", "p", "w"]
ID_V = "f417" + "0" * 60        # the container in v's namespace
ID_F = "f417" + "1" * 60        # the container in f's namespace


def np(name, target, *peers):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"podSelector": {"matchLabels": {"app": target}},
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": p}}}
                                           for p in peers]}] if peers else [],
                     "policyTypes": ["Ingress"]}}


def fl(s, d, expect, protos=("tcp", "udp"), families=(4, 6)):
    return [(s, d, pr, 80, f, expect) for pr in protos for f in families]


def ns_ident(path):
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


class Suite:
    def __init__(self, a):
        self.a = a
        self.r = T.Results()
        self.topo = None
        self.segd = None
        self.hook = os.path.join(os.path.dirname(os.path.abspath(a.segd)), "segd-oci-hook")
        self.bundle = tempfile.mkdtemp(prefix="segd-faults-bundle-")

    # ================================================================== plumbing
    def setup(self):
        if not os.access(self.hook, os.X_OK):
            raise RuntimeError("%s is not executable" % self.hook)
        self.topo = T.Topology(self.a.probe)
        for e in HAND + ["f"]:
            self.topo.add_endpoint(e)
            self.topo.start_server(e, tcp=(80,), udp=(80,))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.metrics_port = s.getsockname()[1]
        self.segd = T.Segd(self.a.segd, self.a.segctl, extra_args=[
            "--metrics-listen", "127.0.0.1:%d" % self.metrics_port])
        self.segd.start()
        for e in HAND:
            p = self.segd.endpoint_add(e, self.ns(e), NS, {"app": e})
            if p.returncode != 0:
                raise RuntimeError("segctl endpoint add %s: %s" % (e, (p.stderr or p.stdout).strip()))
        # the bundle's config.json: a network namespace with no path (the runtime made it;
        # segd finds it by the pid), as runc writes for a container of its own
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump({"ociVersion": "1.0.2", "linux": {"namespaces": [{"type": "network"}]}}, f)

    def ns(self, name):
        return self.topo.endpoints[name].netns

    def flows_ok(self, spec, what):
        return self.r.no_problems(check_flows(self.topo, spec, self.a.timeout_ms), what)

    def policies(self, *objs):
        self.segd.only_policies(objs)

    def endpoints(self):
        return {it["name"]: it for it in self.segd.items("endpoints")}

    def metrics(self):
        url = "http://127.0.0.1:%d/metrics" % self.metrics_port
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            m = re.match(r'^([a-z_]+(?:\{[^}]*\})?) (\S+)$', line)
            if m and not line.startswith("#"):
                values[m.group(1)] = float(m.group(2))
        return values

    def run_hook(self, cid, pid, labels):
        """segd-oci-hook createRuntime with the OCI state a runtime gives it."""
        state = {"ociVersion": "1.0.2", "id": cid, "status": "created", "pid": pid,
                 "bundle": self.bundle, "annotations": {"segd.io/labels": labels}}
        return subprocess.run([self.hook, "--socket", self.segd.socket, "--timeout-ms", "5000",
                               "createRuntime"], input=json.dumps(state), capture_output=True,
                              text=True, timeout=30)

    def poststop(self, cid):
        subprocess.run([self.hook, "--socket", self.segd.socket, "poststop"],
                       input=json.dumps({"ociVersion": "1.0.2", "id": cid, "status": "stopped"}),
                       capture_output=True, text=True, timeout=30)

    def unrelated_changes_work(self, what, not_committed=None):
        """An apply that touches only w and a relabel of p: both succeed and are enforced."""
        pols = [np("v-from-p", "v", "p"), np("w-from-v", "w", "v")]
        if not_committed:
            pols.append(np("f-from-p", "f", "p"))
        p = self.segd.apply_objects(pols, name="faults.json")
        if not self.r.check(p.returncode == 0, "%s: apply refused (%d): %s" % (
                what, p.returncode, (p.stderr or p.stdout).strip())):
            return
        if not_committed:
            self.r.check(not_committed in p.stderr and "not committed" in p.stderr,
                         "%s: apply did not say %s is not committed yet: %r" % (what, not_committed, p.stderr))
        self.flows_ok(fl("v", "w", True) + fl("p", "w", False) + fl("p", "v", True) + fl("w", "v", False),
                      "%s: after the apply" % what)
        p = self.segd.endpoint_label("p", {"app": "q"})
        if not self.r.check(p.returncode == 0, "%s: relabel refused (%d): %s" % (
                what, p.returncode, (p.stderr or p.stdout).strip())):
            return
        self.flows_ok(fl("p", "v", False) + fl("v", "w", True), "%s: after relabelling p" % what)
        p = self.segd.endpoint_label("p", {"app": "p"})
        self.r.check(p.returncode == 0, "%s: relabel back refused: %s" % (what, (p.stderr or p.stdout).strip()))
        self.flows_ok(fl("p", "v", True), "%s: after relabelling p back" % what)

    # ===================================================================== tests
    def t_hook_into_hand_made(self):
        self.policies(np("v-from-p", "v", "p"))
        self.flows_ok(fl("p", "v", True) + fl("w", "v", False) + fl("v", "w", True), "before the hook")
        before = T.run(["ip", "netns", "exec", self.ns("v"), "nft", "list", "table", "inet", "segd"]).stdout
        pid = self.topo.endpoints["v"].server.pid
        if not self.r.check(ns_ident("/proc/%d/ns/net" % pid) == ns_ident("/run/netns/" + self.ns("v")),
                            "the server process is not in v's namespace"):
            return
        h = self.run_hook(ID_V, pid, "app=intruder")
        self.r.check(h.returncode == 0, "hook exit %d (the container must start, under v's ruleset): %s" % (
            h.returncode, h.stderr.strip()))
        self.r.check("already endpoint v" in h.stderr,
                     "the hook did not say the namespace is endpoint v: %r" % h.stderr.strip())
        eps = self.endpoints()
        extra = [n for n, e in eps.items() if n not in HAND]
        self.r.check(not extra, "a second endpoint for v's namespace: %s" % extra)
        self.r.check(eps.get("v", {}).get("state") == "enforced", "v: %s" % eps.get("v"))
        # v's confinement: not weakened, not even touched
        after = T.run(["ip", "netns", "exec", self.ns("v"), "nft", "list", "table", "inet", "segd"]).stdout
        self.r.check(T.strip_volatile(after) == T.strip_volatile(before), "v's table changed:\n%s" % after)
        self.flows_ok(fl("p", "v", True) + fl("w", "v", False), "v after the hook")

        self.unrelated_changes_work("after the refused registration")

        st = self.segd.status()
        msgs = [e.get("message", "") for e in st.get("last_errors") or []]
        self.r.check(any(ID_V[:12] in m and "already endpoint v" in m for m in msgs),
                     "status does not list the refusal: %s" % msgs[-5:])
        m = self.metrics()
        self.r.check(m.get("segd_endpoint_registrations_refused_total", 0) >= 1,
                     "refusal not counted: %s" % m.get("segd_endpoint_registrations_refused_total"))
        # the same namespace by hand, under another name: refused as well, naming v
        link = "%sv-again" % self.topo.prefix
        T.run(["touch", "/run/netns/" + link])
        try:
            T.run(["mount", "--bind", "/run/netns/" + self.ns("v"), "/run/netns/" + link])
            p = self.segd.endpoint_add("v2", link, NS, {"app": "v2"})
            self.r.check(p.returncode != 0 and "already endpoint v" in (p.stderr + p.stdout),
                         "second registration of v's namespace by hand: %d %s" % (
                             p.returncode, (p.stderr or p.stdout).strip()))
            self.r.check("v2" not in self.endpoints(), "v2 registered")
        finally:
            T.run(["umount", "/run/netns/" + link], check=False)
            T.run(["rm", "-f", "/run/netns/" + link], check=False)
        self.poststop(ID_V)

    def fill_input_hook(self, ns):
        """Base chains on the input hook in ns until the kernel takes no more; returns how many."""
        T.run(["ip", "netns", "exec", ns, "nft", "add", "table", "inet", "hog"])
        n = 0
        for step in (256, 64, 16, 4, 1):
            while True:
                text = "".join("add chain inet hog c%d { type filter hook input priority %d; }\n" % (
                    n + i, 100 + n + i) for i in range(step))
                p = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=text,
                                   capture_output=True, text=True, timeout=60)
                if p.returncode != 0:
                    break
                n += step
        return n

    def t_kernel_refuses_one(self):
        self.policies(np("v-from-p", "v", "p"))
        n = self.fill_input_hook(self.ns("f"))
        if not self.r.check(n > 900, "only %d base chains on the input hook" % n):
            return
        m0 = self.metrics()
        h = self.run_hook(ID_F, self.topo.endpoints["f"].server.pid, "app=f;segd.io/namespace=" + NS)
        eps = self.endpoints()
        fe = next((e for e in eps.values() if e.get("id") == ID_F), None)
        if not self.r.check(fe is not None, "no endpoint for f's container (hook: %d %s)" % (
                h.returncode, h.stderr.strip())):
            return
        fname = fe["name"]
        self.r.check(fe.get("state") == "failed" and "kernel refused" in (fe.get("error") or ""),
                     "f: state %s, error %s" % (fe.get("state"), fe.get("error")))
        self.r.check((fe.get("retry") or {}).get("failures", 0) >= 1, "f has no retry: %s" % fe)

        self.unrelated_changes_work("with f failing", not_committed=fname)

        st = self.segd.status()
        failed = {e["name"]: e for e in st.get("failed_endpoints") or []}
        self.r.check(st.get("failed") == 1 and fname in failed and "kernel refused" in failed[fname].get("error", ""),
                     "status: failed %s %s" % (st.get("failed"), st.get("failed_endpoints")))
        text = self.segd.ctl("status").stdout
        self.r.check(re.search(r"failed: %s: kernel refused" % re.escape(fname), text) is not None,
                     "segctl status does not show f:\n%s" % text)
        # retried on its own, with backoff: more failures come without any request
        def not_retried():
            v = self.metrics()
            return None if v.get("segd_endpoint_commit_retries_total", 0) >= \
                m0.get("segd_endpoint_commit_retries_total", 0) + 3 else v
        self.r.check(eventually(not_retried, timeout=5, interval=0.1) is None, "f not retried")
        m = self.metrics()
        self.r.check(m.get("segd_endpoints_failed") == 1 and m.get('segd_endpoints{state="failed"}') == 1,
                     "failed gauge: %s %s" % (m.get("segd_endpoints_failed"), m.get('segd_endpoints{state="failed"}')))
        self.r.check(m.get("segd_endpoint_commit_failures_total", 0) >=
                     m0.get("segd_endpoint_commit_failures_total", 0) + 4, "failures not counted")
        fe = self.endpoints().get(fname, {})
        self.r.check(0 < (fe.get("retry") or {}).get("next_in_ms", -1) <= 30000, "retry: %s" % fe.get("retry"))

        # the hog goes: f's retry commits its ruleset, nobody asks
        T.run(["ip", "netns", "exec", self.ns("f"), "nft", "delete", "table", "inet", "hog"])
        def not_enforced():
            e = self.endpoints().get(fname, {})
            return None if e.get("state") == "enforced" else "%s %s" % (e.get("state"), e.get("error"))
        bad = eventually(not_enforced, timeout=40, interval=0.2)
        if not self.r.check(bad is None, "f not enforced after the hog went: %s" % bad):
            return
        self.flows_ok(fl("p", "f", True) + fl("w", "f", False), "f after its retry")
        m = self.metrics()
        self.r.check(m.get("segd_endpoints_failed") == 0, "failed gauge after recovery: %s" % m.get("segd_endpoints_failed"))
        self.r.check(self.segd.status().get("failed") == 0, "status still lists a failed endpoint")
        self.poststop(ID_F)

    # ====================================================================== main
    def main(self):
        try:
            self.setup()
        except Exception as e:  # noqa: BLE001
            print("SETUP FAILED: %s" % e, flush=True)
            if self.segd:
                print(self.segd.log_tail(), flush=True)
            self.r.failed += 1
            self.teardown()
            return self.r.summary()
        tests = [
            ("1 OCI hook for a container in a hand-made endpoint's namespace: refused, nothing else held up",
             self.t_hook_into_hand_made),
            ("2 kernel refuses one endpoint: failed, retried with backoff, other changes go on",
             self.t_kernel_refuses_one),
        ]
        t0 = time.monotonic()
        try:
            for name, fn in tests:
                if self.a.only and not re.search(self.a.only, name):
                    continue
                self.r.run(name, fn)
        finally:
            print("# faults suite: %.1fs" % (time.monotonic() - t0), flush=True)
            self.teardown()
        return self.r.summary()

    def teardown(self):
        if self.a.keep_log and self.segd:
            print("# segd log: %s" % self.segd.log_path, flush=True)
        if self.segd:
            self.segd.close()
        if self.topo:
            self.topo.close()
        subprocess.run(["rm", "-rf", self.bundle], check=False)


def args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    ap.add_argument("--build", default=os.environ.get("SEGD_BUILD", os.path.join(root, "build")))
    ap.add_argument("--segd")
    ap.add_argument("--segctl")
    ap.add_argument("--probe")
    ap.add_argument("--timeout-ms", type=int, default=500)
    ap.add_argument("--only", help="regex on test names")
    ap.add_argument("--keep-log", action="store_true")
    return T.netns_suite_args(ap, tools=("nft", "ip"))


if __name__ == "__main__":
    sys.exit(Suite(args()).main())
