#!/usr/bin/env python3
"""State faults fail closed, tried with real packets (docs/state.md, segd(8) STATE FAULTS).

    test_state_faults.py [--segd BIN] [--segctl BIN] [--probe BIN] [--build DIR] [--only REGEX]
                         [--keep-log] [--timeout-ms N]

Each test has its own topology (tests/lib/topology.py: a bridge in a hub namespace, one veth'd
namespace per endpoint) and its own segd: endpoints a (serving TCP and UDP on 80 and 81) and b,
labelled app=<name> in NetworkPolicy namespace t; policy a-ingress isolates a's ingress.

  write-ahead  the state dir is a small tmpfs, filled up; an apply that would open a:80 to b is
               refused (507, "state not saved: No space left on device") while a hammer in b
               (segd-probe hammer: a new TCP connect to a:80 every 100 us, each refused at once
               by --deny-action reject) runs from before the apply until after its answer: not
               one connect may complete, and the policy stays as it was.
  entry        an invalid endpoint entry in state.json (a's labels): after a restart a is
               quarantined (state error, quarantined, the reason names state.json:LINE:COLUMN),
               default-deny both ways in its namespace: b -> a and a -> b are denied.
  journal      a garbled state.journal line that still names a (its relabel, with a label value
               that is not a string): the same, the reason names state.journal:1:COLUMN.
  no-state     state.json removed, state.journal kept (a's relabel): segd refuses to start,
               naming both files; a's table is left exactly as it was and b -> a stays denied
               (from the journal alone a would have no policy: allow-all).

Prints PASS/FAIL per test and `N passed, N failed`.
"""

import json
import os
import re
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import topology as T  # noqa: E402
from topology import check_flows, flows  # noqa: E402
from test_netns import common_args, np  # noqa: E402
from test_bad_input import http  # noqa: E402

NS = "t"
A_DENY = np("a-ingress", NS, {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Ingress"]})
A_OPEN_80 = np("a-ingress", NS, {
    "podSelector": {"matchLabels": {"app": "a"}},
    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "b"}}}],
                 "ports": [{"port": 80, "protocol": "TCP"}]}],
    "policyTypes": ["Ingress"]})


class Hammer:
    """segd-probe hammer in a namespace: TCP connects to one target until stop(). Counts the
    refused ones as they are printed (so a caller can wait for N of them: no sleeping) and
    keeps every completed one."""

    def __init__(self, probe, netns, target):
        cmd = ["ip", "netns", "exec", netns, probe, "hammer", "--stop-on-eof",
               "--duration-ms", "600000", "--interval-us", "100", "--concurrency", "64",
               "--timeout-ms", "200", target]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.ok, self.refused, self.summary, self.other = [], 0, {}, []
        self.cond = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            with self.cond:
                if parts[:1] == ["ok"]:
                    self.ok.append(line.strip())
                elif parts[:1] == ["refused"]:
                    self.refused += 1
                elif parts[:1] == ["attempts"]:
                    self.summary = {parts[i]: int(parts[i + 1]) for i in range(0, len(parts) - 1, 2)}
                else:
                    self.other.append(line.rstrip())
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_refused(self, n, timeout=10.0):
        """Until n refused connects were seen in all; False if the hammer stopped first."""
        with self.cond:
            return self.cond.wait_for(lambda: self.refused >= n or self.proc.poll() is not None,
                                      timeout) and self.refused >= n

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.t.join(10)
        return self.summary


class Suite:
    def __init__(self, args):
        self.a = args
        self.r = T.Results()
        self.topo = self.segd = None
        self.mounted = None
        self.n = 0

    # ------------------------------------------------------------------ set-up
    def fresh(self, deny_action=None, tmpfs_kb=None):
        """A new topology (a serving, b) and a new segd with a, b registered and A_DENY
        applied, a's ingress denied (checked with packets)."""
        self.teardown()
        self.n += 1
        self.topo = T.Topology(self.a.probe, prefix="sgs%d-%d-" % (os.getpid(), self.n))
        for ep in ("a", "b"):
            self.topo.add_endpoint(ep)
        self.topo.start_server("a")
        self.segd = T.Segd(self.a.segd, self.a.segctl, deny_action=deny_action)
        if tmpfs_kb:
            T.run(["mount", "-t", "tmpfs", "-o", "size=%dk,mode=0700" % tmpfs_kb, "segd-state",
                   self.segd.state_dir])
            self.mounted = self.segd.state_dir
        self.segd.start()
        for ep in ("a", "b"):
            p = self.segd.endpoint_add(ep, self.topo.endpoints[ep].netns, NS, {"app": ep},
                                       [("http", 80, "TCP")])
            if p.returncode != 0:
                raise RuntimeError("endpoint add %s: %s" % (ep, (p.stderr or p.stdout).strip()))
        p = self.segd.apply_objects([A_DENY])
        if p.returncode != 0:
            raise RuntimeError("apply a-ingress: %s" % (p.stderr or p.stdout).strip())
        self.flows_ok(flows(["b"], ["a"], ports=(80, 81), expect=False), "a's ingress denied")

    def teardown(self):
        if self.segd:
            self.segd.stop()
            if self.mounted:
                subprocess.run(["umount", self.mounted], check=False)
                self.mounted = None
            self.segd.close()
            if self.a.keep_log:
                print("# segd log: %s" % self.segd.log_path)
            self.segd = None
        if self.topo:
            self.topo.close()
            self.topo = None

    def flows_ok(self, spec, what):
        return self.r.no_problems(check_flows(self.topo, spec, self.a.timeout_ms), what)

    def path(self, name):
        return os.path.join(self.segd.state_dir, name)

    def endpoint(self, name):
        return {it["name"]: it for it in self.segd.items("endpoints")}.get(name)

    def quarantined(self, name, where_re):
        """Endpoint name is listed, quarantined, in error with a reason that matches
        where_re (file:line:column), and its namespace is default-deny both ways."""
        e = self.endpoint(name)
        if not self.r.check(e is not None, "%s is not listed after the restart (dropped)" % name):
            return
        self.r.check(e.get("quarantined") is True, "%s not quarantined: %s" % (name, e))
        self.r.check(e.get("state") == "error", "%s: state %s, not error" % (name, e.get("state")))
        self.r.check(re.search(where_re, e.get("error") or ""),
                     "%s: reason %r does not name %s" % (name, e.get("error"), where_re))
        st = self.segd.status()
        self.r.check(st.get("errors", 0) >= 1, "status counts no error: %s" % st.get("errors"))
        self.r.check(any(name in (x.get("message") or "") for x in st.get("last_errors") or []),
                     "status last_errors do not name %s: %s" % (name, st.get("last_errors")))
        # default-deny both ways: b -> a (as before) and now a -> b too (a's egress was open)
        self.topo.start_server("b")
        self.flows_ok(flows(["b"], ["a"], ports=(80, 81), expect=False), "b -> quarantined a")
        self.flows_ok(flows(["a"], ["b"], ports=(80, 81), expect=False), "quarantined a -> b")

    # ------------------------------------------------------------------- tests
    def t_write_ahead(self):
        self.fresh(deny_action="reject", tmpfs_kb=64)
        target = "tcp:%s:80" % self.topo.endpoints["a"].v4
        # Fill the state dir: every byte of the tmpfs taken.
        filler = self.path("filler")
        with open(filler, "wb", buffering=0) as f:
            for size in (65536, 4096, 512, 1):
                while True:
                    try:
                        f.write(b"\0" * size)
                    except OSError:
                        break
        with open(self.path("state.json"), "rb") as f:
            state_before = f.read()
        ham = Hammer(self.topo.probe_bin, self.topo.endpoints["b"].netns, target)
        try:
            # the hammer is under way (its connects are refused, by the reject rule) before the
            # apply starts, and still after its answer
            self.r.check(ham.wait_refused(200), "hammer made no refused connects before the apply: %s" %
                         ham.other[-5:])
            body = json.dumps({"apiVersion": "v1", "kind": "List", "items": [A_OPEN_80]}).encode()
            status, answer = http(self.segd.socket, "POST", "/v1/apply?file=open.json", body)
            seen = ham.refused
            self.r.check(ham.wait_refused(seen + 200), "hammer stopped during the apply: %s" % ham.other[-5:])
        finally:
            summary = ham.stop()
        msg = ((answer or {}).get("error") or {}).get("message") or ""
        self.r.check(status == 507, "apply on a full state dir: HTTP %s %s, not 507" % (status, answer))
        self.r.check("state not saved" in msg and "No space left on device" in msg,
                     "refusal does not say the state was not saved: %r" % msg)
        self.r.check(not ham.ok, "%d connect(s) to a:80 completed during the refused apply: %s" % (
            len(ham.ok), ham.ok[:5]))
        print("    hammer: %s" % summary, flush=True)
        self.r.check(summary.get("attempts", 0) >= 400, "hammer summary: %s" % summary)
        pol = [it for it in self.segd.items("networkpolicies") if it["metadata"]["name"] == "a-ingress"]
        self.r.check(len(pol) == 1 and not pol[0]["spec"].get("ingress"),
                     "a-ingress changed by the refused apply: %s" % pol)
        with open(self.path("state.json"), "rb") as f:
            self.r.check(f.read() == state_before, "state.json changed by the refused apply")
        self.flows_ok(flows(["b"], ["a"], ports=(80, 81), expect=False), "after the refused apply")
        # with room again, the same apply goes through
        os.unlink(filler)
        p = self.segd.apply_objects([A_OPEN_80])
        self.r.check(p.returncode == 0, "apply with room failed: %s" % (p.stderr or p.stdout).strip())
        self.flows_ok(flows(["b"], ["a"], protos=("tcp",), ports=(80,), expect=True), "apply with room")

    def t_invalid_entry(self):
        self.fresh()
        self.segd.stop()
        # the apply wrote every endpoint into state.json: the journal adds nothing
        open(self.path("state.journal"), "w").close()
        with open(self.path("state.json")) as f:
            state = json.load(f)
        names = [e.get("name") for e in state["endpoints"]]
        if not self.r.check("a" in names, "a not in state.json: %s" % names):
            return
        for e in state["endpoints"]:
            if e["name"] == "a":
                e["labels"] = {"app": "a", "not a key!": "x"}
        with open(self.path("state.json"), "w") as f:
            json.dump(state, f, indent=1)
        self.segd.start()
        self.quarantined("a", r"state\.json:\d+:\d+: endpoints\[\d+\]: labels: ")
        b = self.endpoint("b")
        self.r.check(b and b.get("state") == "enforced" and not b.get("quarantined"),
                     "b is not enforced as before: %s" % b)

    def t_garbled_journal(self):
        self.fresh()
        p = self.segd.ctl("endpoint", "label", "a", "tier=x")
        if not self.r.check(p.returncode == 0, "endpoint label a: %s" % (p.stderr or p.stdout).strip()):
            return
        self.segd.stop()
        with open(self.path("state.journal")) as f:
            lines = f.read().splitlines()
        # state.json has a and b already (the apply): keep only a's relabel, garbled
        last = [ln for ln in lines if '"name":"a"' in ln][-1]
        garbled = last.replace('"tier":"x"', '"tier":7')
        if not self.r.check(garbled != last, "no relabel of a in the journal: %s" % lines):
            return
        col = garbled.index('{"app"') + 1
        with open(self.path("state.journal"), "w") as f:
            f.write(garbled + "\n")
        self.segd.start()
        self.quarantined("a", r"state\.journal:1:%d: endpoint: labels" % col)

    def t_no_state(self):
        self.fresh()
        # a's relabel after the policy: a journal line on top of state.json (were segd to start
        # from the journal alone, a would come back with no policy: allow-all)
        p = self.segd.ctl("endpoint", "label", "a", "tier=x")
        if not self.r.check(p.returncode == 0, "endpoint label a: %s" % (p.stderr or p.stdout).strip()):
            return
        before = self.topo.nft_table("a")
        self.segd.stop()
        os.unlink(self.path("state.json"))
        self.r.check(os.path.getsize(self.path("state.journal")) > 0, "the journal is empty")
        started = True
        try:
            self.segd.start(timeout=10)
        except RuntimeError:
            started = False
        self.r.check(not started, "segd started without state.json (journal present)")
        with open(self.segd.log_path) as f:
            log = f.read()
        self.r.check("state.json: missing" in log and "state.journal:1:1" in log,
                     "the refusal does not name the files: %s" % self.segd.log_tail(8))
        after = self.topo.nft_table("a")
        self.r.check(after is not None, "a's table is gone")
        if after is not None and T.strip_volatile(after) != T.strip_volatile(before):
            gone = [ln.strip() for ln in T.strip_volatile(before).splitlines()
                    if ln not in T.strip_volatile(after).splitlines()]
            self.r.check(False, "a's table changed; lines gone: %s" % gone[:8])
        self.flows_ok(flows(["b"], ["a"], ports=(80, 81), expect=False), "segd refused to start")

    def main(self):
        tests = [("write-ahead: a change the full state dir cannot take never reaches the kernel",
                  self.t_write_ahead),
                 ("an invalid endpoint entry in state.json quarantines it", self.t_invalid_entry),
                 ("a garbled journal line quarantines the endpoint it names", self.t_garbled_journal),
                 ("state.json lost, journal kept: refused, every table as it was", self.t_no_state)]
        try:
            for name, fn in tests:
                if self.a.only and not re.search(self.a.only, name):
                    continue
                self.r.run(name, fn)
        finally:
            self.teardown()
        return self.r.summary()


if __name__ == "__main__":
    sys.exit(Suite(common_args(__doc__)).main())
