#!/usr/bin/env python3
"""The host-side guard with real Podman containers: spoofing, address takeover, AF_PACKET and
forged conntrack entries from a container with NET_ADMIN and NET_RAW must all fail.

    test_podman_security.py [--build DIR] [--segd BIN] [--segctl BIN] [--hook BIN]
                            [--probe-static BIN] [--only REGEX] [--keep-log] [--timeout-ms N]

Sets Podman up with scripts/podman-env.sh (tests/lib/podman.py: private storage, its own API
service, the offline test image with segd-probe), makes a dual-stack bridge network of its own
(10.77.N.0/24 and fd77:N::/64; the bridge and the containers' veths live in the host's network
namespace) and runs three containers labelled segd.io/namespace=sec: v (the victim), p (v's
allowed peer) and a (the attacker, `--cap-add NET_ADMIN,NET_RAW`), each serving TCP and UDP on
80. segd follows Podman (--engine unix://SOCK) and the OCI hook. What only root in the
attacker's network namespace can do is done from there: `podman exec` in the container where
the image has the tool (busybox ip, segd-probe connect with --bind and --sport-base), otherwise
this process enters the container's namespace (setns; AF_PACKET frames, conntrack -I) -- the
container has exactly those capabilities there. Frames go only to our containers' MAC addresses
(no broadcast reaches the host's bridge address). Prints PASS/FAIL per test and
`N passed, N failed`.
"""

import ipaddress
import json
import os
import re
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import topology as T  # noqa: E402
import podman as P  # noqa: E402
import seclib as S  # noqa: E402
from topology import eventually  # noqa: E402

NS = "sec"
WINDOW = 1.0
ARRIVE = 3.0
FOLLOW = 2.0
APPS = {"v": 10, "p": 11, "a": 12}


def np(name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def sel(app):
    return {"matchLabels": {"app": app}}


V_INGRESS = np("v-ingress", {"podSelector": sel("v"), "ingress": [{"from": [{"podSelector": sel("p")}]}],
                             "policyTypes": ["Ingress"]})
A_EGRESS = np("a-egress", {"podSelector": sel("a"), "egress": [{"to": [{"podSelector": sel("p")}]}],
                           "policyTypes": ["Egress"]})


class Suite:
    def __init__(self, a):
        self.a = a
        self.r = T.Results()
        self.pm = None
        self.segd = None
        self.net = None
        self.v4net = self.v6net = None
        self.path, self.mac, self.ip = {}, {}, {}
        self.sport = 31000

    # ================================================================== plumbing
    def next_port(self):
        self.sport += 1
        return self.sport

    def addr(self, c, fam):
        return self.ip[c][fam]

    def network_create(self):
        """A dual-stack bridge network of our own: 10.77.N.0/24 and fd77:N::/64, N free."""
        used = set()
        for n in self.pm.podman("network", "ls", "--format", "{{.Name}}").stdout.split():
            q = self.pm.podman("network", "inspect", n, check=False)
            try:
                for net in json.loads(q.stdout):
                    for sn in net.get("subnets") or []:
                        used.add(ipaddress.ip_network(sn["subnet"], strict=False))
            except (ValueError, KeyError, TypeError):
                pass
        name = self.pm.name("sec")
        start = 20 + (os.getpid() + 97) % 200
        last = ""
        for i in range(230):
            n = 20 + (start - 20 + i) % 230
            s4, s6 = ipaddress.ip_network("10.77.%d.0/24" % n), ipaddress.ip_network("fd77:%d::/64" % n)
            if any(s4.overlaps(u) or s6.overlaps(u) for u in used if u.version in (4, 6)):
                continue
            q = self.pm.podman("network", "create", "--subnet", str(s4), "--subnet", str(s6), name, check=False)
            if q.returncode == 0:
                return name, s4, s6
            last = q.stderr
        raise RuntimeError("podman network create: no free subnet (%s)" % last)

    def setup(self):
        self.segd = P.EngineSegd(self.a.segd, self.a.segctl, engine="unix://placeholder", resync_interval=5)
        # the host's say on failing open: segd's config file, which the hook reads too
        self.conf = os.path.join(self.segd.workdir, "segd.conf")
        with open(self.conf, "w") as f:
            f.write("hook-fail-open = sgp%d-trusted\n" % os.getpid())
        self.segd.extra_args += ["--config", self.conf]
        self.pm = P.Podman(hook=self.a.hook, segd_socket=self.segd.socket,
                           hook_timeout_ms=self.a.hook_timeout_ms, probe_static=self.a.probe_static,
                           hook_config=self.conf)
        self.segd.engine = "unix://" + self.pm.api_socket
        self.net, self.v4net, self.v6net = self.network_create()
        print("# podman network %s %s %s" % (self.net, self.v4net, self.v6net), flush=True)
        self.segd.start()
        serve = [P.PROBE_IN_IMAGE, "serve", "--tcp", "80", "--udp", "80"]
        for c, host in APPS.items():
            extra = ["--cap-add", "NET_ADMIN,NET_RAW"] if c == "a" else []
            self.pm.run(c, cmd=serve, labels={"app": c, "segd.io/namespace": NS}, network=self.net,
                        ip=self.v4net.network_address + host, extra=extra)
        for c in APPS:
            d = self.pm.inspect(c)
            n = d["NetworkSettings"]["Networks"][self.net]
            self.ip[c] = {4: n["IPAddress"], 6: n["GlobalIPv6Address"]}
            self.path[c] = d["NetworkSettings"]["SandboxKey"]
            self.mac[c] = S.mac_of(self.path[c])
        bad = eventually(self.endpoint_problems, timeout=15.0, interval=0.2)
        if bad:
            raise RuntimeError("containers not enforced endpoints with both addresses: %s" % bad)

    def endpoint_problems(self):
        try:
            eps = self.segd.endpoints()
        except Exception as e:  # noqa: BLE001
            return ["get endpoints: %s" % e]
        bad = []
        for c in APPS:
            e = eps.get(self.pm.name(c)) or {}
            if e.get("state") != "enforced":
                bad.append("%s: %s" % (c, e.get("state")))
            for fam in (4, 6):
                if self.ip[c][fam] not in (e.get("addresses") or []):
                    bad.append("%s lacks %s" % (c, self.ip[c][fam]))
        return bad

    def endpoint(self, c):
        return self.segd.endpoints().get(self.pm.name(c)) or {}

    def policies(self, *objs):
        """Exactly these policies in force (others deleted); returns when committed."""
        self.segd.only_policies(objs)

    def target(self, c, proto, fam, port=80):
        a = self.addr(c, fam)
        return "%s:%s:%d" % (proto, "[%s]" % a if fam == 6 else a, port)

    def flows_ok(self, spec, what):
        """spec: [(src, dst, expect)] over TCP and UDP, IPv4 and IPv6 on port 80."""
        plan, index = {}, {}
        for s, d, exp in spec:
            for pr in ("tcp", "udp"):
                for fam in (4, 6):
                    t = self.target(d, pr, fam)
                    plan.setdefault(s, []).append(t)
                    index[(s, t)] = (d, exp)
        res = self.pm.probe_matrix(plan, self.a.timeout_ms)
        bad = ["%s -> %s %s: expected %s, got %s" % (s, d, t, "allow" if exp else "deny", "allow" if res[s][t] else "deny")
               for (s, t), (d, exp) in sorted(index.items()) if res[s][t] != exp]
        return self.r.no_problems(bad, what)

    def exec_probe(self, c, targets, *opts):
        p = self.pm.exec(c, [P.PROBE_IN_IMAGE, "connect", "--timeout-ms", str(self.a.timeout_ms)] + list(opts) + targets,
                         check=False)
        if p.returncode != 0:
            raise RuntimeError("segd-probe connect in %s: %s" % (c, p.stderr.strip()))
        return {ln.split()[0]: ln.split()[1] == "ok" for ln in p.stdout.splitlines() if len(ln.split()) >= 2}

    def host_veth(self, c):
        """The host-side end of container c's eth0 (in the host's network namespace)."""
        info = S.link_info(self.path[c], "eth0")
        peer = info.get("link_index")
        for link in json.loads(T.run(["ip", "-j", "link", "show"]).stdout):
            if link["ifindex"] == peer:
                return link["ifname"]
        return None

    # ============================================================== the tests
    def t_guard_listed(self):
        """Each container's endpoint names the guard on its host-side veth."""
        for c in APPS:
            want = self.host_veth(c)
            g = self.endpoint(c).get("guard")
            self.r.check(isinstance(g, dict) and g.get("state") == "enforced" and
                             want in [d.get("device") for d in g.get("devices") or []],
                         "%s: guard %r, want state enforced on device %s (its veth in the host namespace)" % (c, g, want))
        st = self.segd.status()
        self.r.check(st.get("unguarded") == 0, "segctl status: unguarded=%r, want 0" % st.get("unguarded"))

    def t_spoof(self):
        """1. a sends UDP and TCP SYNs with p's source address to v (which accepts only p)."""
        self.policies(V_INGRESS)
        self.flows_ok([("p", "v", True), ("a", "v", False)], "controls (p reaches v, a does not)")
        port = 7101
        with S.Receiver(self.path["v"], port) as rx, S.Sniffer(self.path["v"]) as sn:
            ctl, syn = [], []
            for fam in (4, 6):
                v, p = self.addr("v", fam), self.addr("p", fam)
                n = S.nonce("ctl%d" % fam)
                ctl.append(n)
                cs = self.next_port()
                S.send_frames(self.path["p"], [S.udp_frame(self.mac["p"], self.mac["v"], p, v, self.next_port(), port, n),
                                               S.syn_frame(self.mac["p"], self.mac["v"], p, v, cs, 80, 100 + fam)])
                syn.append((fam, v, cs, 100 + fam))
            got = rx.wait(ctl, ARRIVE)
            self.r.check(all(n in got for n in ctl), "control: the hand-built UDP from p did not reach v: %s" % sorted(got))
            for fam, v, cs, isn in syn:
                self.r.check(sn.wait(S.synack_for(v, cs, 80, isn), ARRIVE),
                             "control: p's hand-built SYN got no SYN-ACK (IPv%d)" % fam)
            atk, syn, frames = [], [], []
            for fam in (4, 6):
                v, p = self.addr("v", fam), self.addr("p", fam)
                n = S.nonce("spoof%d" % fam)
                atk.append(n)
                sp = self.next_port()
                frames += [S.udp_frame(self.mac["a"], self.mac["v"], p, v, self.next_port(), port, n),
                           S.syn_frame(self.mac["a"], self.mac["v"], p, v, sp, 80, 500 + fam)]
                syn.append((fam, v, sp, 500 + fam))
            S.send_frames(self.path["a"], frames)
            got = rx.wait((), WINDOW)
            for n in atk:
                self.r.check(n not in got, "UDP from container a with p's source address reached v (%s)" % n.decode())
            for fam, v, sp, isn in syn:
                self.r.check(not sn.find(S.synack_for(v, sp, 80, isn)),
                             "TCP SYN from container a with p's source address got a SYN-ACK from v (IPv%d)" % fam)

    def t_takeover(self):
        """2. a takes p's addresses (busybox ip, with the container's NET_ADMIN), announces
        them to v (gratuitous ARP, unsolicited NA), connects to v from them."""
        self.policies(V_INGRESS)
        self.flows_ok([("p", "v", True), ("a", "v", False)], "controls (p reaches v, a does not)")
        p4, p6 = self.addr("p", 4), self.addr("p", 6)
        try:
            self.pm.exec("a", ["ip", "addr", "add", p4 + "/24", "dev", "eth0"])
            # busybox ip has no nodad; DAD is off in Podman's containers anyway
            self.pm.exec("a", ["ip", "-6", "addr", "add", p6 + "/64", "dev", "eth0"])
            am, vm = self.mac["a"], self.mac["v"]
            S.send_frames(self.path["a"], [S.arp_frame(am, vm, 1, am, p4, "00:00:00:00:00:00", p4),
                                           S.na_frame(am, vm, p6, "ff02::1", p6, am)])
            tg = [self.target("v", "tcp", f) for f in (4, 6)]
            got = self.exec_probe("a", tg, "--bind", p4, "--bind", p6)
            self.r.check(not any(got.values()), "container a connected to v from p's addresses: %s" %
                         [t for t, ok in got.items() if ok])
            neigh = S.ns_run(self.path["v"], ["ip", "neigh", "show", "dev", "eth0"]).stdout
            bad = [ln for ln in neigh.splitlines() if ln.split()[0] in (p4, p6) and am in ln]
            self.r.check(not bad, "v's neighbour cache maps p's addresses to a's MAC: %s" % bad)

            def unflagged():
                text = json.dumps(self.endpoint("a").get("address_conflicts") or [])
                return [x for x in (p4, p6) if x not in text]
            miss = eventually(unflagged, timeout=FOLLOW)
            self.r.check(not miss, "a's claim of %s is not in its address_conflicts (%s)" % (
                miss, self.endpoint("a").get("address_conflicts")))
            self.flows_ok([("p", "v", True)], "after the attack: p still reaches v")
        finally:
            self.pm.exec("a", ["ip", "addr", "del", p4 + "/24", "dev", "eth0"], check=False)
            self.pm.exec("a", ["ip", "-6", "addr", "del", p6 + "/64", "dev", "eth0"], check=False)
            S.ns_run(self.path["v"], ["ip", "neigh", "flush", "dev", "eth0"], check=False)
        # (while a holds p's addresses, p is local to a: a's own traffic to p is checked after)
        self.flows_ok([("a", "p", True)], "after the attack: a still reaches p from its own addresses")

    def t_packet_socket(self):
        """3. Egress-isolated a writes UDP frames to v with AF_PACKET (past its output hook)."""
        self.policies(A_EGRESS)
        self.flows_ok([("a", "p", True), ("a", "v", False)], "controls (a reaches p, not v)")
        port = 7103
        with S.Receiver(self.path["v"], port) as rv, S.Receiver(self.path["p"], port) as rp:
            ctl, atk, frames = [], [], []
            for fam in (4, 6):
                a = self.addr("a", fam)
                n, m = S.nonce("top%d" % fam), S.nonce("tov%d" % fam)
                ctl.append(n)
                atk.append(m)
                frames += [S.udp_frame(self.mac["a"], self.mac["p"], a, self.addr("p", fam), self.next_port(), port, n),
                           S.udp_frame(self.mac["a"], self.mac["v"], a, self.addr("v", fam), self.next_port(), port, m)]
            S.send_frames(self.path["a"], frames)
            got = rp.wait(ctl, ARRIVE)
            self.r.check(all(n in got for n in ctl),
                         "control: a's hand-built frames to p (allowed) did not arrive: %s" % sorted(got))
            got = rv.wait((), WINDOW)
            for m in atk:
                self.r.check(m not in got, "a's AF_PACKET frame reached v past a's egress policy (%s)" % m.decode())

    def t_replies(self):
        """3b. Egress-isolated a still answers what its open ingress accepts."""
        self.policies(A_EGRESS)
        self.flows_ok([("v", "a", True), ("p", "a", True), ("a", "p", True)], "v and p reach a, a reaches p")

    def t_conntrack_forgery(self):
        """9. conntrack -I in egress-isolated a (CAP_NET_ADMIN there): ESTABLISHED entries for
        a -> v, then segd-probe in the container sends on them."""
        self.policies(A_EGRESS)
        self.flows_ok([("a", "p", True), ("a", "v", False)], "controls (a reaches p, not v)")
        uport = 7109
        try:
            with S.Receiver(self.path["v"], uport) as rv:
                for fam in (4, 6):
                    a, v = self.addr("a", fam), self.addr("v", fam)
                    base = self.next_port()
                    self.next_port()
                    for proto, sp, dp, extra in (("udp", base, uport, []),
                                                 ("tcp", base + 1, 80, ["--state", "ESTABLISHED"])):
                        r = S.ns_run(self.path["a"], [
                            "conntrack", "-I", "-p", proto, "-s", a, "-d", v, "--sport", str(sp), "--dport", str(dp),
                            "-r", v, "-q", a, "--reply-port-src", str(dp), "--reply-port-dst", str(sp), "-t", "120",
                            "-u", "SEEN_REPLY,ASSURED"] + extra, check=False)
                        self.r.check(r.returncode == 0, "conntrack -I in a: %s" % r.stderr.strip())
                    # target i goes from source port base + i: the forged entries' ports
                    tg = ["udp:%s:%d" % ("[%s]" % v if fam == 6 else v, uport), self.target("v", "tcp", fam)]
                    got = self.exec_probe("a", tg, "--sport-base", str(base))
                    self.r.check(not got.get(tg[1]), "container a completed a TCP handshake with v on a forged "
                                 "conntrack entry (IPv%d)" % fam)
                rv.wait((), WINDOW)
                senders = rv.senders()
                for fam in (4, 6):
                    self.r.check(self.addr("a", fam) not in senders, "container a's datagram on a forged conntrack "
                                 "entry reached v (IPv%d)" % fam)
        finally:
            S.ns_run(self.path["a"], ["conntrack", "-F"], check=False)

    def t_fail_open(self):
        """segd down: a container's own segd.io/fail-open=true is ignored (default-deny, real
        packets); the one the host names in hook-fail-open starts unisolated."""
        trusted = self.pm.name("trusted")
        fo = self.segd.ctl_json("status").get("hook_fail_open") or {}
        self.r.check(fo.get("names") == [trusted] and fo.get("config") == self.conf,
                     "status does not show the host's hook-fail-open: %s" % fo)
        serve = [P.PROBE_IN_IMAGE, "serve", "--tcp", "80", "--udp", "80"]
        self.segd.stop()
        try:
            for c, host in (("asker", 13), ("trusted", 14)):
                # both ask to fail open; only the host's list counts
                self.pm.run(c, cmd=serve, labels={"app": c, "segd.io/namespace": NS},
                            annotations={"segd.io/fail-open": "true"}, network=self.net,
                            ip=self.v4net.network_address + host)
                n = self.pm.inspect(c)["NetworkSettings"]["Networks"][self.net]
                self.ip[c] = {4: n["IPAddress"], 6: n["GlobalIPv6Address"]}
            self.r.check(self.pm.nft_table("asker") is not None,
                         "the container asking to fail open has no table inet segd")
            self.r.check(self.pm.nft_table("trusted") is None,
                         "the container the host named has a table inet segd: it did not fail open")
            # the positive control first, until its addresses answer (IPv6 may still be
            # tentative right after the start); then the denials, once
            def open_problems():
                plan, want = {}, []
                for s, d in (("p", "trusted"), ("trusted", "p")):
                    for pr in ("tcp", "udp"):
                        for fam in (4, 6):
                            plan.setdefault(s, []).append(self.target(d, pr, fam))
                            want.append((s, self.target(d, pr, fam)))
                res = self.pm.probe_matrix(plan, self.a.timeout_ms)
                return ["%s -> %s denied" % (s, t) for s, t in want if not res[s][t]]
            bad = eventually(open_problems, timeout=10.0, interval=0.3)
            self.r.no_problems(bad or [], "segd down: the container the host named must be reachable both ways")
            self.flows_ok([("p", "asker", False), ("asker", "p", False)],
                          "segd down: the container asking to fail open must be default-denied")
        finally:
            self.segd.start()
            for c in ("asker", "trusted"):
                self.pm.rm(c)
                self.ip.pop(c, None)

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
        tests = [("P0 every container's endpoint names the guard on its host-side veth", self.t_guard_listed),
                 ("P1 spoofed source from container a as p: no delivery, no SYN-ACK", self.t_spoof),
                 ("P2 address takeover by container a (ip addr add, ARP/NA), then TCP to v", self.t_takeover),
                 ("P3 AF_PACKET frames from egress-isolated container a to v", self.t_packet_socket),
                 ("P3b egress-isolated container a still answers connections it accepts", self.t_replies),
                 ("P9 conntrack -I in container a: forged ESTABLISHED entries to v", self.t_conntrack_forgery),
                 ("P10 segd down: segd.io/fail-open=true is ignored, the host's hook-fail-open name fails open",
                  self.t_fail_open)]
        t0 = time.monotonic()
        try:
            for name, fn in tests:
                if self.a.only and not re.search(self.a.only, name):
                    continue
                if not self.segd.alive():
                    self.r.run(name, lambda: self.r.check(False, "segd is not running; log tail:\n" + self.segd.log_tail()))
                    continue
                self.r.run(name, fn)
        finally:
            print("# podman security suite: %.1fs (setup excluded)" % (time.monotonic() - t0), flush=True)
            self.teardown()
        return self.r.summary()

    def teardown(self):
        P.suite_teardown(self)
        if self.segd:
            self.segd.close()


def args():
    ap = P.suite_parser(__doc__)
    ap.add_argument("--timeout-ms", type=int, default=500)
    ap.add_argument("--only", help="regex on test names")
    a = P.suite_args(ap)
    for tool in ("conntrack", "nsenter"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/sbin"]):
            sys.exit("%s: %s not found (scripts/deps.sh installs it)" % (sys.argv[0], tool))
    return a


if __name__ == "__main__":
    sys.exit(Suite(args()).main())
