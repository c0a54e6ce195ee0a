#!/usr/bin/env python3
"""Crash and restart: segd is SIGKILLed with policies enforced; the rules must stay in every
namespace (fail closed), and a restarted segd on the same state dir must re-adopt them.

    test_restart.py [--segd BIN] [--segctl BIN] [--probe BIN] [--build DIR] [--kills N]

Endpoints t/a, t/b, t/c, t/d (app=<name>) serve TCP and UDP on 80 and 81, IPv4 and IPv6.
Policies: a accepts only b on 80 (TCP and UDP); c may send nothing. While segd is dead a
prober keeps sending denied flows (and allowed ones) into the namespaces; none may get
through. Prints PASS/FAIL per scenario and `N passed, N failed`; exit non-zero on failure.
"""

import json
import os
import random
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import topology as T  # noqa: E402
from topology import check_flows, flows, eventually  # noqa: E402
from test_netns import common_args, np  # noqa: E402

EPS = ["a", "b", "c", "d"]
NS = "t"
A_INGRESS = np("a-ingress", NS, {
    "podSelector": {"matchLabels": {"app": "a"}},
    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "b"}}}],
                 "ports": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"}]}],
    "policyTypes": ["Ingress"]})
C_EGRESS = np("c-egress-deny", NS, {"podSelector": {"matchLabels": {"app": "c"}}, "policyTypes": ["Egress"]})
B_INGRESS = np("b-ingress-deny", NS, {"podSelector": {"matchLabels": {"app": "b"}}, "policyTypes": ["Ingress"]})


def expected(b_isolated=False, a_policy=True):
    """The full flow table for the policies in force."""
    spec = []
    for s in EPS:
        for d in EPS:
            if s == d:
                continue
            for pr in ("tcp", "udp"):
                for po in (80, 81):
                    ok = True
                    if s == "c":
                        ok = False
                    if d == "a" and a_policy and not (s == "b" and po == 80):
                        ok = False
                    if d == "b" and b_isolated:
                        ok = False
                    for f in (4, 6):
                        spec.append((s, d, pr, po, f, ok))
    return spec


class GapProber(threading.Thread):
    """Keeps probing denied and allowed flows until stopped; records what it saw."""

    def __init__(self, topo, denied, allowed, timeout_ms=200):
        super().__init__(daemon=True)
        self.topo, self.denied, self.allowed, self.timeout_ms = topo, denied, allowed, timeout_ms
        self.stop_ev = threading.Event()
        self.rounds = 0
        self.violations = []     # denied flow connected
        self.lost = []           # allowed flow failed
        self.errors = []

    def run(self):
        while not self.stop_ev.is_set():
            try:
                plan = {}
                for (s, d, pr, po, f) in self.denied + self.allowed:
                    plan.setdefault(s, []).append(self.topo.endpoints[d].target(pr, f, po))
                res = self.topo.probe_matrix(plan, self.timeout_ms)
                for (s, d, pr, po, f) in self.denied:
                    if res[s][self.topo.endpoints[d].target(pr, f, po)]:
                        self.violations.append((time.monotonic(), s, d, pr, po, f))
                for (s, d, pr, po, f) in self.allowed:
                    if not res[s][self.topo.endpoints[d].target(pr, f, po)]:
                        self.lost.append((time.monotonic(), s, d, pr, po, f))
                self.rounds += 1
            except Exception as e:  # noqa: BLE001
                self.errors.append(str(e))
                time.sleep(0.05)

    def stop(self):
        self.stop_ev.set()
        self.join(10)

    def wait_rounds(self, n, timeout=15.0):
        """Wait until at least n rounds are complete; True on success."""
        return not eventually(lambda: self.rounds < n and self.is_alive(), timeout, 0.02) and \
            self.rounds >= n


class Suite:
    def __init__(self, args):
        self.a = args
        self.r = T.Results()
        self.topo = None
        self.segd = None
        self.tables = {}
        self.rules = {}
        self.prober = None

    def setup(self):
        self.topo = T.Topology(self.a.probe)
        for ep in EPS:
            self.topo.add_endpoint(ep)
            self.topo.start_server(ep)
        self.segd = T.Segd(self.a.segd, self.a.segctl, deny_action=self.a.deny_action)
        self.segd.start()
        for ep in EPS:
            p = self.segd.endpoint_add(ep, self.topo.endpoints[ep].netns, NS, {"app": ep},
                                       [("http", 80, "TCP"), ("http-udp", 80, "UDP")])
            if p.returncode != 0:
                raise RuntimeError("segctl endpoint add %s: %d %s" % (ep, p.returncode, p.stderr))

    def flows_ok(self, spec, what, **kw):
        return self.r.no_problems(check_flows(self.topo, spec, self.a.timeout_ms, **kw), what)

    def snapshot_tables(self):
        return {ep: self.topo.nft_table(ep) for ep in EPS}

    def wait_enforced(self, timeout=5.0):
        def problems():
            try:
                items = {it["name"]: it for it in self.segd.items("endpoints")}
            except Exception as e:  # noqa: BLE001
                return ["get endpoints: %s" % e]
            return ["%s: %s" % (ep, (items.get(ep) or {}).get("state", "missing")) for ep in EPS
                    if (items.get(ep) or {}).get("state") != "enforced"]
        return eventually(problems, timeout=timeout, interval=0.1)

    # --------------------------------------------------------------- scenarios
    def t_enforced(self):
        p = self.segd.apply_objects([A_INGRESS, C_EGRESS])
        if not self.r.check(p.returncode == 0, "apply failed: %s" % (p.stderr or p.stdout).strip()):
            return
        self.flows_ok(expected(), "before the crash")
        self.tables = self.snapshot_tables()
        for ep in EPS:
            self.r.check(self.tables[ep] is not None, "no table inet segd in %s's netns" % ep)
        for ep in EPS:
            rj = self.segd.ctl_json("rules", ep)
            self.rules[ep] = rj
            if ep == "a":
                flags = rj.get("flags") or []
                print("    table flags (segctl rules a): %s" % flags, flush=True)
                self.r.check("persist" in flags, "table of a lacks the persist flag: %s (kernel %s has it)" % (
                    flags, os.uname().release))

    def a_sets(self):
        return self.topo.nft_table("a") or ""

    def t_kill9(self):
        denied = [("c", "a", "tcp", 80, 4), ("c", "a", "udp", 80, 6), ("d", "a", "tcp", 80, 4),
                  ("d", "a", "udp", 80, 4), ("d", "a", "tcp", 80, 6), ("b", "a", "tcp", 81, 4),
                  ("b", "a", "tcp", 81, 6), ("c", "b", "tcp", 80, 4), ("c", "d", "udp", 81, 6)]
        allowed = [("b", "a", "tcp", 80, 4), ("b", "a", "udp", 80, 6), ("a", "b", "tcp", 80, 6)]
        # b gets an extra address now (segd follows it), which is removed while segd is dead.
        T.run(["ip", "-n", self.topo.endpoints["b"].netns, "addr", "add", "10.213.0.212/24", "dev", "eth0"])
        miss = eventually(lambda: "10.213.0.212" not in self.a_sets(), timeout=2.0)
        self.r.check(not miss, "b's extra address 10.213.0.212 not in a's sets within 2 s")
        self.tables = self.snapshot_tables()
        self.prober = GapProber(self.topo, denied, allowed)
        self.prober.start()
        # the prober is under way (a full round done) before the kill: the gap is covered from
        # its first moment
        self.r.check(self.prober.wait_rounds(1), "gap prober made no round before the kill: %s" %
                     self.prober.errors[:3])
        self.segd.kill9()
        rounds_at_kill = self.prober.rounds
        after = self.snapshot_tables()
        for ep in EPS:
            self.r.check(after[ep] is not None, "table inet segd gone from %s's netns after kill -9" % ep)
            if after[ep] is not None and self.tables.get(ep) is not None:
                self.r.check(T.strip_volatile(after[ep]) == T.strip_volatile(self.tables[ep]),
                             "table of %s changed by the crash" % ep)
        self.flows_ok(expected(), "segd dead")
        # State changes while segd is down: new addresses in b (allowed peer) and d (not allowed).
        T.run(["ip", "-n", self.topo.endpoints["b"].netns, "addr", "add", "10.213.0.210/24", "dev", "eth0"])
        T.run(["ip", "-n", self.topo.endpoints["d"].netns, "addr", "add", "10.213.0.211/24", "dev", "eth0"])
        T.run(["ip", "-n", self.topo.endpoints["b"].netns, "addr", "del", "10.213.0.212/24", "dev", "eth0"])
        # Not a fixed 1.5 s: two more full rounds, so that at least one whole round probed the
        # namespaces as they are now, with segd still dead.
        r0 = self.prober.rounds
        self.r.check(self.prober.wait_rounds(r0 + 2), "gap prober made %d of 2 rounds after the "
                     "address changes: %s" % (self.prober.rounds - r0, self.prober.errors[:3]))
        self.r.check(not self.prober.violations, "denied flows connected while segd was dead: %s" %
                     self.prober.violations[:5])
        got = self.topo.probe("d", [self.topo.endpoints["a"].target("tcp", 4, 80)], self.a.timeout_ms,
                              ("10.213.0.211",))
        self.r.check(not any(got.values()), "d from a new address reached a while segd was dead")
        print("    gap prober: %d rounds while dead, %d violations, %d allowed flows lost" % (
            self.prober.rounds - rounds_at_kill, len(self.prober.violations), len(self.prober.lost)),
            flush=True)

    def t_restart(self):
        t0 = time.monotonic()
        self.segd.start()
        t_ready = time.monotonic() - t0
        bad = self.wait_enforced()
        t_enf = time.monotonic() - t0
        self.r.check(not bad, "endpoints not enforced 5 s after restart: %s" % bad)
        print("    restart: socket ready %.2fs, all endpoints enforced %.2fs" % (t_ready, t_enf), flush=True)
        self.prober.stop()
        self.r.check(not self.prober.violations, "denied flows connected across the crash/restart: %s" %
                     self.prober.violations[:5])
        self.r.check(not self.prober.lost, "allowed flows failed across the crash/restart (%d): %s" % (
            len(self.prober.lost), self.prober.lost[:5]))
        self.r.check(not self.prober.errors, "prober errors: %s" % self.prober.errors[:3])
        names = sorted((it["metadata"]["namespace"], it["metadata"]["name"]) for it in self.segd.items("networkpolicies"))
        self.r.check(names == [(NS, "a-ingress"), (NS, "c-egress-deny")], "policies after restart: %s" % names)
        eps = sorted(it["name"] for it in self.segd.items("endpoints"))
        self.r.check(eps == EPS, "endpoints after restart: %s" % eps)
        for ep in EPS:
            p = self.segd.ctl("rules", ep, "-o", "json")
            if self.r.check(p.returncode == 0, "segctl rules %s failed: %s" % (ep, p.stderr.strip())):
                self.r.check(json.loads(p.stdout).get("in_sync") is True, "rules of %s not in_sync after restart" % ep)
        for ep in EPS:
            table = self.topo.nft_table(ep) or ""
            self.r.check(re.search(r"^\s*flags .*owner", table, re.M) is not None,
                         "table of %s not re-adopted (no owner flag) after restart" % ep)
        self.flows_ok(expected(), "after restart")
        # The address b gained while segd was down must be picked up; d's must not open anything.
        tgt = [self.topo.endpoints["a"].target("tcp", 4, 80)]
        miss = eventually(lambda: [t for t, ok in self.topo.probe("b", tgt, self.a.timeout_ms,
                                                                   ("10.213.0.210",)).items() if not ok], timeout=2.0)
        self.r.check(not miss, "b from the address added while segd was down cannot reach a:80")
        got = self.topo.probe("d", tgt, self.a.timeout_ms, ("10.213.0.211",))
        self.r.check(not any(got.values()), "d from the address added while segd was down reached a:80")
        stale = eventually(lambda: "10.213.0.212" in self.a_sets(), timeout=2.0)
        self.r.check(not stale, "address 10.213.0.212 removed from b while segd was down is still "
                     "allowed in a's sets 2 s after restart")
        st = self.segd.ctl_json("status")
        print("    status after restart: endpoints=%s enforced=%s errors=%s table_flags=%s" % (
            st.get("endpoints"), st.get("enforced"), st.get("errors"), st.get("table_flags")), flush=True)

    def t_apply_after_restart(self):
        p = self.segd.apply_objects([B_INGRESS])
        if not self.r.check(p.returncode == 0, "apply b-ingress-deny failed: %s" % (p.stderr or p.stdout).strip()):
            return
        self.flows_ok(expected(b_isolated=True), "b-ingress-deny applied after restart")
        p = self.segd.ctl("delete", "networkpolicy", "a-ingress", "-n", NS)
        self.r.check(p.returncode == 0, "delete a-ingress failed: %s" % (p.stderr or p.stdout).strip())
        self.flows_ok(expected(b_isolated=True, a_policy=False), "a-ingress deleted after restart")

    def t_journal(self):
        """Endpoint registrations go to state.journal (not a rewrite of state.json); a restart
        replays them, skipping a torn last record."""
        state = os.path.join(self.segd.state_dir, "state.json")
        journal = os.path.join(self.segd.state_dir, "state.journal")
        with open(state, "rb") as f:
            before = f.read()
        # full saves (policy changes) leave the journal: its lines are in state.json too
        jstart = os.path.getsize(journal) if os.path.exists(journal) else 0
        for ep in ("x1", "x2"):
            self.topo.add_endpoint(ep)
            p = self.segd.endpoint_add(ep, self.topo.endpoints[ep].netns, NS, {"app": ep}, [])
            if not self.r.check(p.returncode == 0, "endpoint add %s: %s" % (ep, p.stderr.strip())):
                return
        p = self.segd.ctl("endpoint", "label", "x1", "tier=journal")
        self.r.check(p.returncode == 0, "endpoint label x1: %s" % (p.stderr or p.stdout).strip())
        p = self.segd.ctl("endpoint", "del", "x2")
        self.r.check(p.returncode == 0, "endpoint del x2: %s" % (p.stderr or p.stdout).strip())
        with open(state, "rb") as f:
            self.r.check(f.read() == before, "state.json was rewritten for endpoint registrations")
        with open(journal) as f:
            f.seek(jstart)
            ops = [json.loads(line)["op"] for line in f]
        self.r.check(ops == ["put", "put", "put", "remove"], "journal records: %s" % ops)
        # a crash in the middle of an append: the unacknowledged record is cut short
        with open(journal, "a") as f:
            f.write('{"op":"remove","name":"x1"')
        self.segd.kill9()
        self.segd.start()
        bad = self.wait_enforced()
        self.r.check(not bad, "not enforced after restart: %s" % bad)
        items = {it["name"]: it for it in self.segd.items("endpoints")}
        self.r.check("x2" not in items, "x2 (removed before the crash) is back after restart")
        x1 = items.get("x1")
        if self.r.check(x1 is not None, "x1 (journaled) missing after restart: %s" % sorted(items)):
            self.r.check(x1.get("labels", {}).get("tier") == "journal",
                         "x1's relabel lost after restart: %s" % x1.get("labels"))
            self.r.check(x1.get("state") == "enforced", "x1 not enforced after restart: %s" % x1.get("state"))
        with open(self.segd.log_path) as f:
            self.r.check("incomplete last record" in f.read(), "the torn journal record was not reported")
        p = self.segd.ctl("endpoint", "del", "x1")
        self.r.check(p.returncode == 0, "endpoint del x1: %s" % (p.stderr or p.stdout).strip())

    def t_kill_during_updates(self):
        """C1-lite: SIGKILL at random moments during policy updates; the table is never
        absent and after each restart the kernel matches what segd says is in force."""
        rnd = random.Random(int(os.environ.get("SEGD_TEST_SEED", "1")))
        for i in range(self.a.kills):
            have_b = any(it["metadata"]["name"] == "b-ingress-deny" for it in self.segd.items("networkpolicies"))
            path = os.path.join(self.segd.workdir, "toggle.json")
            with open(path, "w") as f:
                json.dump(B_INGRESS, f)
            verb = "delete" if have_b else "apply"
            cmd = [self.segd.segctl_bin, "--socket", self.segd.socket, verb, "-f", path]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Not synchronisation: a seeded random moment to kill at is this test's input.
            time.sleep(rnd.uniform(0, 0.03))
            self.segd.kill9()
            proc.wait(10)
            missing = [ep for ep in EPS if self.topo.nft_table(ep) is None]
            self.r.check(not missing, "round %d: table absent in %s after kill during %s" % (i, missing, verb))
            self.segd.start()
            bad = self.wait_enforced()
            self.r.check(not bad, "round %d: not enforced after restart: %s" % (i, bad))
            now_b = any(it["metadata"]["name"] == "b-ingress-deny" for it in self.segd.items("networkpolicies"))
            if proc.returncode == 0:
                self.r.check(now_b != have_b, "round %d: %s was acknowledged but is not in force after restart" % (i, verb))
            self.flows_ok(expected(b_isolated=now_b, a_policy=False), "round %d (%s, acked=%s, in force=%s)" % (
                i, verb, proc.returncode == 0, now_b))

    def t_sigterm(self):
        """A clean stop must not fail open either: the rules stay until segd is back."""
        before = self.snapshot_tables()
        have_b = any(it["metadata"]["name"] == "b-ingress-deny" for it in self.segd.items("networkpolicies"))
        self.segd.stop()
        after = self.snapshot_tables()
        for ep in EPS:
            self.r.check(after[ep] is not None, "table gone from %s's netns after SIGTERM" % ep)
            if after[ep] is not None and before[ep] is not None:
                self.r.check(T.strip_volatile(after[ep]) == T.strip_volatile(before[ep]),
                             "table of %s changed by SIGTERM" % ep)
        self.flows_ok(expected(b_isolated=have_b, a_policy=False), "segd stopped with SIGTERM")
        self.segd.start()
        bad = self.wait_enforced()
        self.r.check(not bad, "not enforced after restart: %s" % bad)
        self.flows_ok(expected(b_isolated=have_b, a_policy=False), "after restart from SIGTERM")

    def main(self):
        try:
            self.setup()
        except Exception as e:  # noqa: BLE001
            print("SETUP FAILED: %s" % e)
            if self.segd:
                print(self.segd.log_tail())
            self.r.failed += 1
            return self.r.summary()
        tests = [("policies enforced; tables present", self.t_enforced),
                 ("kill -9: tables stay, flows still enforced during the gap", self.t_kill9),
                 ("restart on the same state dir re-adopts and reconciles", self.t_restart),
                 ("policy changes after restart take effect", self.t_apply_after_restart),
                 ("endpoint changes journaled and replayed after kill -9", self.t_journal),
                 ("kill -9 during policy updates (%d rounds)" % self.a.kills, self.t_kill_during_updates),
                 ("SIGTERM: tables stay, restart re-adopts", self.t_sigterm)]
        try:
            for name, fn in tests:
                if self.a.only and not re.search(self.a.only, name):
                    continue
                if not self.segd.alive() and fn not in (self.t_restart, self.t_sigterm):
                    self.r.run(name, lambda: self.r.check(False, "segd is not running; log tail:\n" + self.segd.log_tail()))
                    continue
                self.r.run(name, fn)
        finally:
            if self.prober and self.prober.is_alive():
                self.prober.stop()
            if self.a.keep_log:
                print("# segd log: %s" % self.segd.log_path)
            self.segd.close()
            self.topo.close()
        return self.r.summary()


if __name__ == "__main__":
    # --kills is specific to this test; peel it off before the common parser runs.
    kills = 5
    argv = sys.argv[1:]
    if "--kills" in argv:
        i = argv.index("--kills")
        kills = int(argv[i + 1])
        del argv[i:i + 2]
        sys.argv = [sys.argv[0]] + argv
    args = common_args(__doc__)
    args.kills = kills
    sys.exit(Suite(args).main())
