#!/usr/bin/env python3
"""Escapes from confinement, tried for real: every attack must fail, every legitimate flow work.

    test_security.py [--segd BIN] [--segctl BIN] [--probe BIN] [--build DIR] [--only REGEX]
                     [--keep-log] [--timeout-ms N]

Topology (tests/lib/topology.py): a bridge in a private hub namespace and one veth'd namespace
per endpoint, all in NetworkPolicy namespace `sec`: v (the victim), p (v's allowed peer), a
(the attacker), w (a bystander), each labelled app=<name> and serving TCP and UDP on 80
(segd-probe). u is on the bridge but unregistered (a plain host, the control for router
attacks). The attacker is root in its own namespace, with CAP_NET_RAW and CAP_NET_ADMIN there:
this process enters namespaces with setns(2) (tests/security/seclib.py), hand-builds frames
(AF_PACKET), forges conntrack entries (`conntrack -I`), adds nft chains, and takes addresses.

Every test runs a positive control through the same path first (a legitimate flow that must
work), then the attack, then checks that the attack had no effect; "must not arrive" is a
short receive window (1 s) after a control proved the path delivers. One segd serves the
whole module; each test sets exactly the policies it needs. The segd fixes these tests expect
(host-side guard, conntrack cuts, link-local handling, ...) are described per test and in
tests/security/README.md. Prints PASS/FAIL per test and `N passed, N failed`.
"""

import argparse
import ipaddress
import json
import os
import re
import select
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import topology as T  # noqa: E402
import seclib as S  # noqa: E402
from topology import check_flows, eventually  # noqa: E402

NS = "sec"
EPS = ["v", "p", "a", "w"]
WINDOW = 1.0          # receive window for "must not arrive", after a positive control
ARRIVE = 3.0          # deadline for "must arrive" (positive controls; normally milliseconds)
FOLLOW = 2.0          # segd's deadline to follow an address change (as test_netns uses)
RA_PREFIX = "2001:db8:a7::/64"       # the attacker's router advertisement
RA_CTL_PREFIX = "2001:db8:c0::/64"   # the control advertisement (hub -> u)
REDIRECT_DST = "2001:db8:99::1"


def np(name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def sel(app):
    return {"podSelector": {"matchLabels": {"app": app}}}


def ingress_from(target, *peers, name=None):
    rules = [{"from": [sel(p) for p in peers]}] if peers else []
    return np(name or "%s-ingress" % target, {"podSelector": sel(target)["podSelector"],
                                             "ingress": rules, "policyTypes": ["Ingress"]})


def egress_to(src, *peers, name=None, to=None):
    rules = [{"to": to if to is not None else [sel(p) for p in peers]}] if (peers or to) else []
    return np(name or "%s-egress" % src, {"podSelector": sel(src)["podSelector"],
                                         "egress": rules, "policyTypes": ["Egress"]})


def fl(s, d, protos=("tcp", "udp"), families=(4, 6), port=80, expect=True):
    return [(s, d, pr, port, f, expect) for pr in protos for f in families]


class Suite:
    def __init__(self, a):
        self.a = a
        self.r = T.Results()
        self.topo = None
        self.segd = None
        self.mac = {}
        self.ll = {}
        self.sport = 30000

    # ================================================================== plumbing
    def ep(self, name):
        return self.topo.endpoints[name]

    def ns(self, name):
        return self.topo.endpoints[name].netns

    def addr(self, name, fam):
        return str(self.topo.endpoints[name].addr(fam))

    def next_port(self):
        self.sport += 1
        return self.sport

    def setup(self):
        self.topo = T.Topology(self.a.probe)
        for e in EPS + ["u"]:
            self.topo.add_endpoint(e)
        for e in EPS:
            self.topo.start_server(e, tcp=(80,), udp=(80,))
        self.segd = T.Segd(self.a.segd, self.a.segctl)
        self.segd.start()
        for e in EPS:
            self.register(e)
        for e in EPS + ["u"]:
            self.mac[e] = S.mac_of(self.ns(e))
            self.ll[e] = S.link_local_of(self.ns(e))
            if not self.ll[e]:
                raise RuntimeError("%s has no IPv6 link-local address" % e)

    def register(self, e, netns=None):
        p = self.segd.endpoint_add(e, netns or self.ns(e), NS, {"app": e})
        if p.returncode != 0:
            raise RuntimeError("segctl endpoint add %s: %d %s" % (e, p.returncode, (p.stderr or p.stdout).strip()))

    def unregister(self, e):
        return self.segd.ctl("endpoint", "del", e)

    def policies(self, *objs):
        """Exactly these policies in force (others deleted); returns when committed."""
        self.segd.only_policies(objs)

    def flows_ok(self, spec, what, **kw):
        return self.r.no_problems(check_flows(self.topo, spec, self.a.timeout_ms, **kw), what)

    def endpoint(self, name):
        p = self.segd.ctl("get", "endpoint", name, "-o", "json")
        if p.returncode != 0:
            return None
        d = json.loads(p.stdout)
        if isinstance(d, dict) and "items" in d:
            d = next((i for i in d["items"] if i.get("name") == name), None)
        return d

    def endpoints(self):
        return {it["name"]: it for it in self.segd.items("endpoints")}

    def wait_settled(self, names, timeout=5.0):
        """Every endpoint in names listed and past `pending` (after a restart)."""
        def problems():
            try:
                eps = self.endpoints()
            except Exception as e:  # noqa: BLE001
                return ["get endpoints: %s" % e]
            return ["%s: %s" % (n, (eps.get(n) or {}).get("state", "missing")) for n in names
                    if (eps.get(n) or {}).get("state") in (None, "pending")]
        return eventually(problems, timeout=timeout, interval=0.05)

    def wait_enforced(self, names, timeout=5.0):
        def problems():
            try:
                eps = self.endpoints()
            except Exception as e:  # noqa: BLE001
                return ["get endpoints: %s" % e]
            return ["%s: %s (%s)" % (n, (eps.get(n) or {}).get("state", "missing"), (eps.get(n) or {}).get("error"))
                    for n in names if (eps.get(n) or {}).get("state") != "enforced"]
        return eventually(problems, timeout=timeout, interval=0.05)

    def restart_segd(self, extra=None, kill=False):
        """Stops segd (SIGTERM, or SIGKILL), starts it again (with extra options, else the
        defaults), waits until every registered endpoint is settled. Returns an error text."""
        if kill:
            self.segd.kill9()
        else:
            self.segd.stop()
        self.segd.extra_args = list(extra or [])
        try:
            self.segd.start()
        except RuntimeError as e:
            return str(e).splitlines()[0] + "\n" + self.segd.log_tail(5)
        bad = self.wait_settled(self.registered)
        return "not settled after restart: %s" % bad if bad else None

    def ensure_segd(self):
        """segd running with the default options (after a test that changed or killed it)."""
        if self.segd.alive() and not self.segd.extra_args:
            return
        self.segd.stop()
        self.segd.extra_args = []
        self.segd.start()
        bad = self.wait_settled(self.registered)
        if bad:
            raise RuntimeError("segd not settled after restart: %s" % bad)

    @property
    def registered(self):
        return sorted(self._registered)

    def conntrack(self, name_or_ns, *args, check=False):
        ns = self.ns(name_or_ns) if name_or_ns in self.topo.endpoints else name_or_ns
        return S.ns_run(ns, ["conntrack"] + list(args), check=check)

    def ns_ip(self, name, *args, check=True):
        return T.run(["ip", "-n", self.ns(name)] + list(args), check=check)

    # ============================================================== the attacks
    def t_spoof(self):
        """1. A sends UDP and a TCP SYN with P's source address to V, which accepts only P."""
        self.policies(ingress_from("v", "p"))
        self.flows_ok(fl("p", "v") + fl("a", "v", expect=False) + fl("a", "w"),
                      "controls (p reaches v, a does not, a reaches w)")
        port = 7001
        with S.Receiver(self.ns("v"), port) as rx, S.Sniffer(self.ns("v")) as sn:
            ctl, atk, syn = [], [], []
            for fam in (4, 6):
                v, p = self.addr("v", fam), self.addr("p", fam)
                n = S.nonce("ctl%d" % fam)
                ctl.append(n)
                cs, cisn = self.next_port(), 1000 + fam
                pf = [S.udp_frame(self.mac["p"], self.mac["v"], p, v, self.next_port(), port, n),
                      S.syn_frame(self.mac["p"], self.mac["v"], p, v, cs, 80, cisn)]
                S.send_frames(self.ns("p"), pf)
                syn.append((fam, v, cs, cisn, True))
            got = rx.wait(ctl, ARRIVE)
            self.r.check(all(n in got for n in ctl), "control: the same hand-built UDP from p itself "
                         "did not reach v: got %s" % sorted(got))
            for fam, v, cs, isn, _ in syn:
                self.r.check(sn.wait(S.synack_for(v, cs, 80, isn), ARRIVE),
                             "control: the same hand-built SYN from p itself got no SYN-ACK (IPv%d)" % fam)
            frames, syn = [], []
            for fam in (4, 6):
                v, p = self.addr("v", fam), self.addr("p", fam)
                n = S.nonce("spoof%d" % fam)
                atk.append(n)
                asport, isn = self.next_port(), 5000 + fam
                frames += [S.udp_frame(self.mac["a"], self.mac["v"], p, v, self.next_port(), port, n),
                           S.syn_frame(self.mac["a"], self.mac["v"], p, v, asport, 80, isn)]
                syn.append((fam, v, asport, isn))
            S.send_frames(self.ns("a"), frames)
            got = rx.wait((), WINDOW)
            for n in atk:
                self.r.check(n not in got, "UDP from a with p's source address was delivered to v's socket "
                             "(%s, seen from %s)" % (n.decode(), got.get(n)))
            for fam, v, asport, isn in syn:
                sa = sn.find(S.synack_for(v, asport, 80, isn))
                self.r.check(not sa, "TCP SYN from a with p's source address was answered: v sent a "
                             "SYN-ACK to %s (IPv%d)" % (sa[0]["dst"] if sa else "?", fam))
        self.flows_ok(fl("p", "v"), "after the attack: p still reaches v")

    def t_takeover(self):
        """2. A adds P's addresses, announces them (gratuitous ARP, unsolicited NA), connects."""
        self.policies(ingress_from("v", "p"))
        # the control also gives v neighbour entries for p, which the announcements overwrite
        self.flows_ok(fl("p", "v", protos=("tcp",)) + fl("a", "v", protos=("tcp",), expect=False),
                      "controls (p reaches v, a does not)")
        p4, p6 = self.addr("p", 4), self.addr("p", 6)
        try:
            self.ns_ip("a", "addr", "add", p4 + "/24", "dev", "eth0")
            # deprecated (preferred_lft 0, still permanent): the attack binds to it, while a's
            # own traffic keeps its own source, so the control below tests the guard alone
            self.ns_ip("a", "-6", "addr", "add", p6 + "/64", "dev", "eth0", "nodad",
                       "preferred_lft", "0")
            S.send_frames(self.ns("a"), [
                S.gratuitous_arp(self.mac["a"], p4),
                S.na_frame(self.mac["a"], S.all_nodes_mac(), p6, "ff02::1", p6, self.mac["a"])])
            tg = [self.ep("v").target("tcp", f, 80) for f in (4, 6)]
            got = self.topo.probe("a", tg, self.a.timeout_ms, bind=(p4, p6))
            self.r.check(not any(got.values()), "a connected to v from p's addresses: %s" %
                         [t for t, ok in got.items() if ok])
            neigh = self.ns_ip("v", "neigh", "show", "dev", "eth0").stdout
            poisoned = [ln for ln in neigh.splitlines()
                        if ln.split()[0] in (p4, p6) and self.mac["a"] in ln]
            self.r.check(not poisoned, "v's neighbour cache maps p's addresses to a's MAC: %s" % poisoned)

            def flagged():
                a = self.endpoint("a") or {}
                text = json.dumps(a.get("address_conflicts") or [])
                return [x for x in (p4, p6) if x not in text]
            miss = eventually(flagged, timeout=FOLLOW)
            self.r.check(not miss, "a's claim of p's addresses %s is not flagged in segctl get endpoint "
                         "a -o json (address_conflicts: %s)" % (miss, (self.endpoint("a") or {}).get("address_conflicts")))
            paddrs = (self.endpoint("p") or {}).get("addresses") or []
            self.r.check(p4 in paddrs and p6 in paddrs, "p lost its addresses to a: %s" % paddrs)
            self.flows_ok(fl("p", "v", protos=("tcp",)) + fl("a", "w", protos=("tcp",)),
                          "after the attack: p still reaches v, a still reaches w from its own addresses")
        finally:
            self.ns_ip("a", "addr", "del", p4 + "/24", "dev", "eth0", check=False)
            self.ns_ip("a", "-6", "addr", "del", p6 + "/64", "dev", "eth0", check=False)
            self.ns_ip("v", "neigh", "flush", "dev", "eth0", check=False)

    def t_packet_socket(self):
        """3. An egress-isolated A writes IPv4/IPv6 UDP frames with AF_PACKET (no netfilter
        output hook on that path) to V, which accepts anyone."""
        self.policies(egress_to("a", "p"))
        self.flows_ok(fl("a", "p") + fl("a", "v", expect=False), "controls (a reaches p, not v)")
        port = 7003
        with S.Receiver(self.ns("v"), port) as rv, S.Receiver(self.ns("p"), port) as rp:
            ctl, atk, frames = [], [], []
            for fam in (4, 6):
                a = self.addr("a", fam)
                n, m = S.nonce("top%d" % fam), S.nonce("tov%d" % fam)
                ctl.append(n)
                atk.append(m)
                frames.append(S.udp_frame(self.mac["a"], self.mac["p"], a, self.addr("p", fam),
                                          self.next_port(), port, n))
                frames.append(S.udp_frame(self.mac["a"], self.mac["v"], a, self.addr("v", fam),
                                          self.next_port(), port, m))
            S.send_frames(self.ns("a"), frames)
            got = rp.wait(ctl, ARRIVE)
            self.r.check(all(n in got for n in ctl), "control: a's hand-built frames to p (allowed) did "
                         "not arrive: %s" % sorted(got))
            got = rv.wait((), WINDOW)
            for m in atk:
                self.r.check(m not in got, "a's AF_PACKET frame reached v's socket past a's egress policy "
                             "(%s from %s)" % (m.decode(), got.get(m)))

    def t_guard_replies(self):
        """3b. Not an attack: an egress-isolated A still answers connections its ingress
        accepts (replies pass the guard), so a guard cannot pass by dropping all of A's egress."""
        self.policies(egress_to("a", "p"))
        self.flows_ok(fl("v", "a") + fl("w", "a") + fl("a", "p"),
                      "v and w reach a (a's ingress is open; a's answers are replies), a reaches p")

    def t_link_local_egress(self):
        """5. 'Internet but not the cluster' egress: A reaches V over V's fe80:: address."""
        to = [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [str(T.V4_NET)]}},
              {"ipBlock": {"cidr": "::/0", "except": [str(T.V6_NET)]}}]
        self.policies(egress_to("a", to=to, name="a-internet"))
        ext4, ext6 = "192.0.2.10", "2001:db8:5::10"
        try:
            # an 'internet' address: w holds it (outside the pod CIDRs), a routes to it on-link
            self.ns_ip("w", "addr", "add", ext4 + "/24", "dev", "eth0")
            self.ns_ip("w", "-6", "addr", "add", ext6 + "/64", "dev", "eth0", "nodad")
            self.ns_ip("a", "route", "add", "192.0.2.0/24", "dev", "eth0")
            self.ns_ip("a", "-6", "route", "add", "2001:db8:5::/64", "dev", "eth0")
            ext = ["%s:%s:80" % (pr, a) for pr in ("tcp", "udp") for a in (ext4, "[%s]" % ext6)]
            # w's new addresses are followed within FOLLOW (a guard pinning w's sources needs them)
            bad = eventually(lambda: [t for t, ok in self.topo.probe("a", ext, self.a.timeout_ms).items() if not ok],
                             timeout=FOLLOW)
            self.r.check(not bad, "control: a cannot reach w's addresses outside the pod CIDRs within %.0f s: %s" % (
                FOLLOW, bad))
            self.flows_ok(fl("a", "v", expect=False) + fl("a", "w", expect=False),
                          "control: a reaches no pod address")
            tg = ["%s:[%s%%eth0]:80" % (pr, self.ll["v"]) for pr in ("tcp", "udp")]
            got = self.topo.probe("a", tg, self.a.timeout_ms)
            self.r.check(not any(got.values()), "a reached v over its link-local address %s through the "
                         "ipBlock ::/0: %s" % (self.ll["v"], [t for t, ok in got.items() if ok]))
        finally:
            self.ns_ip("a", "route", "del", "192.0.2.0/24", "dev", "eth0", check=False)
            self.ns_ip("a", "-6", "route", "del", "2001:db8:5::/64", "dev", "eth0", check=False)
            self.ns_ip("w", "addr", "del", ext4 + "/24", "dev", "eth0", check=False)
            self.ns_ip("w", "-6", "addr", "del", ext6 + "/64", "dev", "eth0", check=False)

    def t_link_local_peer(self):
        """6. Not an attack: an allowed peer reaches V over V's link-local address."""
        self.policies(ingress_from("v", "p"))
        self.flows_ok(fl("p", "v", families=(6,)) + fl("a", "v", families=(6,), expect=False),
                      "controls (global IPv6: p reaches v, a does not)")
        tg = ["%s:[%s%%eth0]:80" % (pr, self.ll["v"]) for pr in ("tcp", "udp")]
        got = self.topo.probe("p", tg, self.a.timeout_ms)
        self.r.check(all(got.values()), "p (allowed) cannot reach v over v's link-local address: %s" %
                     [t for t, ok in got.items() if not ok])
        got = self.topo.probe("a", tg, self.a.timeout_ms)
        self.r.check(not any(got.values()), "a (not allowed) reaches v over v's link-local address: %s" %
                     [t for t, ok in got.items() if ok])

    def _ra_state(self, name, prefix):
        net = ipaddress.ip_network(prefix)
        default = S.routes6(self.ns(name), "default").strip()
        addrs = [a for a, _, _, _ in S.addrs_of(self.ns(name), family=6) if ipaddress.ip_address(a) in net]
        return default, addrs

    def _sysctls(self, name, values):
        old = {}
        for k, v in values.items():
            old[k] = S.ns_run(self.ns(name), ["sysctl", "-n", k]).stdout.strip()
            S.ns_run(self.ns(name), ["sysctl", "-qw", "%s=%s" % (k, v)])
        return old

    def _ra_cleanup(self, name, prefix):
        ns = self.ns(name)
        T.run(["ip", "-n", ns, "-6", "route", "flush", "proto", "ra"], check=False)
        T.run(["ip", "-n", ns, "-6", "addr", "flush", "dev", "eth0", "dynamic"], check=False)
        T.run(["ip", "-n", ns, "-6", "route", "del", prefix, "dev", "eth0"], check=False)

    def t_router_advert(self):
        """7. P sends V a Router Advertisement (prefix for SLAAC, router lifetime 1800 s)."""
        self.policies(ingress_from("v", "p"))
        ra = {"net.ipv6.conf.eth0.accept_ra": "2", "net.ipv6.conf.eth0.autoconf": "1",
              "net.ipv6.conf.all.forwarding": "0"}
        old = {e: self._sysctls(e, ra) for e in ("v", "u")}
        try:
            # control: the same advertisement reaches u (a plain host) straight from its hub port
            hub_mac = "02:00:00:00:5e:01"
            S.send_frames(self.topo.hub, [S.ra_frame(hub_mac, self.mac["u"], "fe80::1", "ff02::1", RA_CTL_PREFIX)],
                          ifname=self.topo.hub_port("u"))
            bad = eventually(lambda: [] if all(self._ra_state("u", RA_CTL_PREFIX)) else ["no"],
                             timeout=ARRIVE, interval=0.02)
            self.r.check(not bad, "control: u took no default route or address from the hand-built "
                         "advertisement: %s" % (self._ra_state("u", RA_CTL_PREFIX),))
            S.send_frames(self.ns("p"), [S.ra_frame(self.mac["p"], self.mac["v"], self.ll["p"], "ff02::1", RA_PREFIX)])
            eventually(lambda: not any(self._ra_state("v", RA_PREFIX)), timeout=WINDOW, interval=0.02)
            default, addrs = self._ra_state("v", RA_PREFIX)
            self.r.check(not default, "v took a default route from p's advertisement: %s" % default)
            self.r.check(not addrs, "v autoconfigured %s from p's advertisement" % addrs)
            listed = [a for a in (self.endpoint("v") or {}).get("addresses") or []
                      if ipaddress.ip_address(a) in ipaddress.ip_network(RA_PREFIX)]
            self.r.check(not listed, "segd lists v's address %s from p's advertised prefix" % listed)
            self.flows_ok(fl("p", "v", families=(6,)), "after the attack: p still reaches v")
        finally:
            for e in ("v", "u"):
                self._ra_cleanup(e, RA_PREFIX if e == "v" else RA_CTL_PREFIX)
                for k, val in old[e].items():
                    S.ns_run(self.ns(e), ["sysctl", "-qw", "%s=%s" % (k, val)], check=False)

    def _route_via(self, name, dst):
        out = T.run(["ip", "-n", self.ns(name), "-6", "route", "get", dst], check=False).stdout
        m = re.search(r" via (\S+)", out)
        return m.group(1) if m else None

    def t_redirect(self):
        """7b. P, v's first hop for a prefix, sends V an ICMPv6 Redirect to A's link-local."""
        self.policies(ingress_from("v", "p"))
        net = "2001:db8:99::/64"
        try:
            self.ns_ip("u", "-6", "route", "add", net, "via", "fe80::1", "dev", "eth0")
            self.ns_ip("v", "-6", "route", "add", net, "via", self.ll["p"], "dev", "eth0")
            hub_mac = "02:00:00:00:5e:01"
            S.send_frames(self.topo.hub, [S.redirect_frame(hub_mac, self.mac["u"], "fe80::1", self.ll["u"],
                                                           self.ll["a"], REDIRECT_DST, self.mac["a"])],
                          ifname=self.topo.hub_port("u"))
            bad = eventually(lambda: self._route_via("u", REDIRECT_DST) != self.ll["a"], timeout=ARRIVE, interval=0.02)
            self.r.check(not bad, "control: u did not follow the hand-built redirect (route via %s)" %
                         self._route_via("u", REDIRECT_DST))
            S.send_frames(self.ns("p"), [S.redirect_frame(self.mac["p"], self.mac["v"], self.ll["p"], self.ll["v"],
                                                          self.ll["a"], REDIRECT_DST, self.mac["a"])])
            eventually(lambda: self._route_via("v", REDIRECT_DST) == self.ll["p"], timeout=WINDOW, interval=0.02)
            via = self._route_via("v", REDIRECT_DST)
            self.r.check(via == self.ll["p"], "v's route to %s now goes via %s (a: %s), p redirected it" % (
                REDIRECT_DST, via, self.ll["a"]))
            self.flows_ok(fl("p", "v", families=(6,)), "after the attack: p still reaches v")
        finally:
            self.ns_ip("u", "-6", "route", "del", net, check=False)
            self.ns_ip("v", "-6", "route", "del", net, check=False)
            for e in ("u", "v"):
                self.ns_ip(e, "-6", "route", "flush", "cache", check=False)

    def t_dynamic_address(self):
        """7c. segd reads only permanent addresses: one with a lifetime (as SLAAC gives) is
        nobody's peer address."""
        self.policies()
        dyn, perm = "2001:db8:d7::5", "2001:db8:d7::6"
        try:
            self.ns_ip("v", "-6", "addr", "add", dyn + "/64", "dev", "eth0", "nodad",
                       "valid_lft", "600", "preferred_lft", "600")
            self.ns_ip("v", "-6", "addr", "add", perm + "/64", "dev", "eth0", "nodad")
            miss = eventually(lambda: perm not in ((self.endpoint("v") or {}).get("addresses") or []), timeout=FOLLOW)
            self.r.check(not miss, "control: segd did not list v's new permanent address %s within %.0f s" % (perm, FOLLOW))
            listed = (self.endpoint("v") or {}).get("addresses") or []
            self.r.check(dyn not in listed, "segd lists v's address %s that has a finite lifetime "
                         "(not permanent): %s" % (dyn, listed))
        finally:
            self.ns_ip("v", "-6", "addr", "del", dyn + "/64", "dev", "eth0", check=False)
            self.ns_ip("v", "-6", "addr", "del", perm + "/64", "dev", "eth0", check=False)

    def _udp_flow(self, fam, sport):
        """v's connected UDP socket to p:80 (p's segd-probe echoes): a live flow."""
        s = S.sock_in(self.ns("v"), fam, socket.SOCK_DGRAM, (self.addr("v", fam), sport))
        s.connect((self.addr("p", fam), 80))
        s.settimeout(ARRIVE)
        s.send(b"ping")
        s.recv(100)
        return s

    @staticmethod
    def _refused(s, timeout):
        """'refused' if s reports ECONNREFUSED within timeout, else what happened."""
        s.settimeout(timeout)
        try:
            s.recv(100)
            return "data"
        except socket.timeout:
            return "timeout"
        except ConnectionRefusedError:
            return "refused"
        except OSError as e:
            return "error %s" % e

    def _icmp_frame(self, sender, fam, sport):
        v, p = self.addr("v", fam), self.addr("p", fam)
        pkt = S.port_unreachable(self.addr(sender, fam), v, v, p, sport, 80, b"ping")
        return S.frame_of_ip(self.mac[sender], self.mac["v"], pkt)

    def t_icmp_forgery(self):
        """8. A (not allowed to reach V) forges a port unreachable quoting V's live UDP flow
        to P, from A's own address."""
        self.policies(ingress_from("v", "p"))
        self.flows_ok(fl("a", "v", expect=False), "control: a does not reach v")
        socks = []
        try:
            # control: the hand-built error from p, the flow's peer, is believed
            for fam in (4, 6):
                sp = self.next_port()
                s = self._udp_flow(fam, sp)
                socks.append(s)
                S.send_frames(self.ns("p"), [self._icmp_frame("p", fam, sp)])
                got = self._refused(s, ARRIVE)
                self.r.check(got == "refused", "control: the hand-built port unreachable from p "
                             "(IPv%d) gave v's socket %s, not ECONNREFUSED" % (fam, got))
            atk = []
            for fam in (4, 6):
                sp = self.next_port()
                s = self._udp_flow(fam, sp)
                socks.append(s)
                atk.append((fam, s))
                S.send_frames(self.ns("a"), [self._icmp_frame("a", fam, sp)])
            deadline = time.monotonic() + WINDOW
            for fam, s in atk:
                got = self._refused(s, max(0.01, deadline - time.monotonic()))
                self.r.check(got != "refused", "v's connected UDP socket (IPv%d) got ECONNREFUSED from "
                             "a's forged port unreachable" % fam)
                if got != "refused":
                    s.settimeout(ARRIVE)
                    s.send(b"again")
                    try:
                        s.recv(100)
                    except OSError as e:
                        self.r.check(False, "v's flow to p (IPv%d) is dead after a's forgery: %s" % (fam, e))
            # positive control: p really closes the port
            for fam in (4, 6):
                s = S.sock_in(self.ns("v"), fam, socket.SOCK_DGRAM, (self.addr("v", fam), self.next_port()))
                socks.append(s)
                s.connect((self.addr("p", fam), 9))   # nothing listens on p:9
                s.send(b"anyone?")
                got = self._refused(s, ARRIVE)
                self.r.check(got == "refused", "control: p's real port unreachable (IPv%d) gave v's socket %s" % (fam, got))
        finally:
            for s in socks:
                s.close()

    def t_conntrack_forgery(self):
        """9. A (egress-isolated, allowed only to P) forges ESTABLISHED conntrack entries for
        A -> V with `conntrack -I`, then sends on them (UDP and TCP)."""
        self.policies(egress_to("a", "p"))
        self.flows_ok(fl("a", "p") + fl("a", "v", expect=False), "controls (a reaches p, not v)")
        uport, tport = 7009, 7019
        socks = []
        try:
            with S.Receiver(self.ns("v"), uport) as rv, S.Receiver(self.ns("p"), uport) as rp:
                listeners = {}
                for fam in (4, 6):
                    ls = S.sock_in(self.ns("v"), fam, socket.SOCK_STREAM, (self.addr("v", fam), tport))
                    ls.listen(4)
                    ls.setblocking(False)
                    listeners[fam] = ls
                    socks.append(ls)
                ctl, atk, pending = [], [], []
                for fam in (4, 6):
                    a, v = self.addr("a", fam), self.addr("v", fam)
                    us, ts = self.next_port(), self.next_port()
                    for proto, sp, dp, extra in (("udp", us, uport, []), ("tcp", ts, tport, ["--state", "ESTABLISHED"])):
                        r = self.conntrack("a", "-I", "-p", proto, "-s", a, "-d", v, "--sport", str(sp),
                                           "--dport", str(dp), "-r", v, "-q", a, "--reply-port-src", str(dp),
                                           "--reply-port-dst", str(sp), "-t", "120", "-u", "SEEN_REPLY,ASSURED", *extra)
                        self.r.check(r.returncode == 0, "conntrack -I in a failed (%d): %s" % (
                            r.returncode, r.stderr.strip()))
                    # control: a to p (allowed) from a plain socket
                    n = S.nonce("ctp%d" % fam)
                    ctl.append(n)
                    c = S.sock_in(self.ns("a"), fam, socket.SOCK_DGRAM)
                    socks.append(c)
                    c.sendto(n, (self.addr("p", fam), uport))
                    m = S.nonce("ctv%d" % fam)
                    atk.append(m)
                    u = S.sock_in(self.ns("a"), fam, socket.SOCK_DGRAM, (a, us))
                    socks.append(u)
                    try:
                        u.sendto(m, (v, uport))
                    except PermissionError:
                        pass   # refused in a's output chain: not sent
                    t = S.sock_in(self.ns("a"), fam, socket.SOCK_STREAM, (a, ts))
                    socks.append(t)
                    t.setblocking(False)
                    t.connect_ex((v, tport))
                    pending.append(fam)
                got = rp.wait(ctl, ARRIVE)
                self.r.check(all(n in got for n in ctl), "control: a's datagrams to p did not arrive: %s" % sorted(got))
                got = rv.wait((), WINDOW)
                for m in atk:
                    self.r.check(m not in got, "a's datagram on a forged conntrack entry reached v (%s)" % m.decode())
                for fam in pending:
                    try:
                        conn, peer = listeners[fam].accept()
                        conn.close()
                        self.r.check(False, "a's TCP connection on a forged conntrack entry was accepted by "
                                     "v (IPv%d, from %s)" % (fam, peer[0]))
                    except BlockingIOError:
                        pass
        finally:
            for s in socks:
                s.close()
            self.conntrack("a", "-F")

    def t_nft_rewrite(self):
        """10. A (egress-isolated, allowed only to P) adds its own chains: an output nat chain
        before segd's that DNATs W (forbidden) to P (allowed), and a netdev egress chain on
        eth0 that writes W back as the destination."""
        self.policies(egress_to("a", "p"))
        port = 7010
        rules = self.segd.ctl_json("rules", "a")
        prio = next((c.get("priority") for c in rules.get("chains") or [] if c.get("hook") == "output"), None)
        if not self.r.check(isinstance(prio, int), "no output chain priority in segctl rules a: %s" % rules.get("chains")):
            return
        # The nat chain goes just before segd's output chain; nat cannot hook at or below
        # conntrack (-200): then the application sends to p itself and only the egress
        # rewrite is left -- which alone is enough anyway.
        dnat = prio - 10 > -200
        print("    segd's output chain: priority %d; attacker's nat chain: %s" % (
            prio, "priority %d" % (prio - 10) if dnat else "impossible, egress rewrite only"), flush=True)
        w4, w6, p4, p6 = self.addr("w", 4), self.addr("w", 6), self.addr("p", 4), self.addr("p", 6)
        wm = self.mac["w"]
        ruleset = ""
        if dnat:
            ruleset += (
                "table ip atk {\n chain out { type nat hook output priority %d; "
                "ip daddr %s udp dport %d dnat to %s; }\n}\n"
                "table ip6 atk6 {\n chain out { type nat hook output priority %d; "
                "ip6 daddr %s udp dport %d dnat to %s; }\n}\n") % (prio - 10, w4, port, p4, prio - 10, w6, port, p6)
        ruleset += (
            "table netdev atke {\n chain eg { type filter hook egress device eth0 priority 0;\n"
            "  ip daddr %s udp dport %d ip daddr set %s ether daddr set %s\n"
            "  ip6 daddr %s udp dport %d ip6 daddr set %s ether daddr set %s\n }\n}\n") % (
            p4, port, w4, wm, p6, port, w6, wm)
        app_dst = {4: w4 if dnat else p4, 6: w6 if dnat else p6}
        socks = []
        try:
            with S.Receiver(self.ns("w"), port) as rw, S.Receiver(self.ns("p"), port) as rp, \
                    S.Receiver(self.ns("p"), port + 1) as rp1:
                ctl, pre = [], []
                for fam in (4, 6):
                    s = S.sock_in(self.ns("a"), fam, socket.SOCK_DGRAM)
                    socks.append(s)
                    n, m = S.nonce("pre%d" % fam), S.nonce("prew%d" % fam)
                    ctl.append(n)
                    pre.append(m)
                    s.sendto(n, (self.addr("p", fam), port))
                    try:
                        s.sendto(m, (self.addr("w", fam), port))
                    except PermissionError:
                        pass
                got = rp.wait(ctl, ARRIVE)
                self.r.check(all(n in got for n in ctl), "control: a's datagrams to p did not arrive: %s" % sorted(got))
                r = S.ns_run(self.ns("a"), ["nft", "-f", "-"], check=False, input=ruleset)
                if not self.r.check(r.returncode == 0, "the attacker's nft ruleset was refused: %s" % r.stderr.strip()):
                    return
                atk, ctl = [], []
                for fam in (4, 6):
                    s = S.sock_in(self.ns("a"), fam, socket.SOCK_DGRAM)
                    socks.append(s)
                    n, m = S.nonce("ok%d" % fam), S.nonce("trick%d" % fam)
                    ctl.append(n)
                    atk.append(m)
                    s.sendto(n, (self.addr("p", fam), port + 1))
                    try:
                        s.sendto(m, (app_dst[fam], port))
                    except PermissionError:
                        pass
                got = rp1.wait(ctl, ARRIVE)
                self.r.check(all(n in got for n in ctl), "control: with the attacker's chains in place a's "
                             "datagrams to p:%d did not arrive: %s" % (port + 1, sorted(got)))
                got = rw.wait((), WINDOW)
                for m in pre:
                    self.r.check(m not in got, "control: a reached w before any trick (%s)" % m.decode())
                for m in atk:
                    self.r.check(m not in got, "a reached w (forbidden) through its %segress rewrite (%s)" % (
                        "DNAT + " if dnat else "", m.decode()))
        finally:
            for s in socks:
                s.close()
            for t in ("ip atk", "ip6 atk6", "netdev atke"):
                S.ns_run(self.ns("a"), ["nft", "delete", "table"] + t.split(), check=False)
            self.conntrack("a", "-F")

    # -------------------------------------------------- 4. conntrack on tightening
    def _open_flows(self, client, server, port):
        """A TCP connection and a UDP flow client -> server per family, data both ways."""
        flows = []
        for fam in (4, 6):
            sa = self.addr(server, fam)
            ls = S.sock_in(self.ns(server), fam, socket.SOCK_STREAM, (sa, port))
            ls.listen(1)
            ls.settimeout(ARRIVE)
            c = S.sock_in(self.ns(client), fam, socket.SOCK_STREAM)
            c.settimeout(ARRIVE)
            c.connect((sa, port))
            s, _ = ls.accept()
            ls.close()
            us = S.sock_in(self.ns(server), fam, socket.SOCK_DGRAM, (sa, port))
            uc = S.sock_in(self.ns(client), fam, socket.SOCK_DGRAM)
            uc.connect((sa, port))
            f = {"fam": fam, "c": c, "s": s, "uc": uc, "us": us, "peer": None}
            for k in ("c", "s", "uc", "us"):
                f[k].settimeout(ARRIVE)
            c.sendall(b"c-hello")
            self._expect(s, b"c-hello")
            s.sendall(b"s-hello")
            self._expect(c, b"s-hello")
            uc.send(b"u-hello")
            data, f["peer"] = us.recvfrom(100)
            us.sendto(b"u-back", f["peer"])
            self._expect(uc, b"u-back")
            flows.append(f)
        return flows

    @staticmethod
    def _expect(s, data):
        got = b""
        while len(got) < len(data):
            chunk = s.recv(len(data) - len(got))
            if not chunk:
                raise RuntimeError("connection closed")
            got += chunk
        if got != data:
            raise RuntimeError("got %r, want %r" % (got, data))

    @staticmethod
    def _close_flows(flows):
        for f in flows:
            for k in ("c", "s", "uc", "us"):
                try:
                    f[k].close()
                except OSError:
                    pass

    def _send_after(self, flows):
        """After a change: the initiator sends (TCP, UDP), then the responder (TCP).
        Returns {socket: payload it must or must not receive}."""
        want = {}
        for f in flows:
            fam = f["fam"]
            for k, sock, what in (("c", f["c"], b"c-after%d" % fam), ("uc", f["uc"], b"u-after%d" % fam)):
                try:
                    sock.send(what)
                except OSError:
                    pass
                want[f["s" if k == "c" else "us"]] = (what, "%s from the initiator (IPv%d)" % (
                    "TCP data" if k == "c" else "UDP datagram", fam))
        for f in flows:
            fam = f["fam"]
            try:
                f["s"].send(b"s-after%d" % fam)
            except OSError:
                pass
            want[f["c"]] = (b"s-after%d" % fam, "TCP data from the responder (IPv%d)" % fam)
        return want

    @staticmethod
    def _collect(want, timeout, until_all=False):
        """Reads what arrives on the sockets of want for timeout (or until every one got its
        payload); returns {socket: bytes or 'error ...'}."""
        got = {s: b"" for s in want}
        deadline = time.monotonic() + timeout
        for s in want:
            s.setblocking(False)
        while True:
            left = deadline - time.monotonic()
            done = all(want[s][0] in got[s] for s in want if isinstance(got[s], bytes))
            if left <= 0 or (until_all and done):
                return got
            r, _, _ = select.select([s for s in want if isinstance(got[s], bytes)], [], [], left)
            for s in r:
                try:
                    data = s.recv(65535)
                    got[s] += data if data else b""
                    if not data:
                        got[s] = "closed"
                except BlockingIOError:
                    pass
                except OSError as e:
                    got[s] = "error %s" % e.strerror

    def _tighten_case(self, client, server, allow, tighten, what):
        """Flows client -> server while `allow` is in force; then `tighten`: nothing more may
        get through on them (UDP: the initiator's datagrams; the responder may legitimately
        open a flow of its own)."""
        self.policies(allow)
        flows = self._open_flows(client, server, self.next_port())
        try:
            self.policies(tighten)
            want = self._send_after(flows)
            got = self._collect(want, WINDOW)
            for s, (payload, desc) in want.items():
                self.r.check(not (isinstance(got[s], bytes) and payload in got[s]),
                             "%s: %s still got through after the tightening apply returned" % (what, desc))
        finally:
            self._close_flows(flows)

    def t_cut_ingress(self):
        """4a. P -> V flows established while allowed; V's ingress tightened: cut at once."""
        self._tighten_case("p", "v", ingress_from("v", "p"), ingress_from("v"), "v's ingress tightened")
        self.flows_ok(fl("p", "v", expect=False) + fl("v", "p"), "after: p no longer reaches v, v reaches p")

    def t_cut_egress(self):
        """4b. A -> V flows established while allowed; A's egress tightened: cut at once."""
        self._tighten_case("a", "v", egress_to("a", "v"), egress_to("a"), "a's egress tightened")
        self.flows_ok(fl("a", "v", expect=False) + fl("v", "a"), "after: a no longer reaches v, v reaches a")

    def t_cut_after_restart(self):
        """4c. Flows established, segd restarted, then the policy tightened: cut."""
        self.policies(ingress_from("v", "p"))
        flows = self._open_flows("p", "v", self.next_port())
        try:
            err = self.restart_segd()
            if not self.r.check(err is None, "restart: %s" % err):
                return
            self.policies(ingress_from("v"))
            want = self._send_after(flows)
            got = self._collect(want, WINDOW)
            for s, (payload, desc) in want.items():
                self.r.check(not (isinstance(got[s], bytes) and payload in got[s]),
                             "restarted segd, then v's ingress tightened: %s still got through" % desc)
        finally:
            self._close_flows(flows)

    def t_keep_established(self):
        """4d. With --keep-established (opt-in, the old behaviour) established flows survive."""
        self.policies(ingress_from("v", "p"))
        err = self.restart_segd(extra=["--keep-established"])
        try:
            if not self.r.check(err is None, "segd --keep-established: %s" % err):
                return
            flows = self._open_flows("p", "v", self.next_port())
            try:
                self.policies(ingress_from("v"))
                want = self._send_after(flows)
                # UDP from the initiator is kept too (the flow's conntrack entry stays)
                got = self._collect(want, ARRIVE, until_all=True)
                for s, (payload, desc) in want.items():
                    self.r.check(isinstance(got[s], bytes) and payload in got[s],
                                 "--keep-established: %s was cut (%s)" % (
                                     desc, got[s] if not isinstance(got[s], bytes) else "nothing arrived"))
            finally:
                self._close_flows(flows)
            self.flows_ok(fl("p", "v", expect=False), "--keep-established: new flows from p are denied")
        finally:
            self.ensure_segd()

    # --------------------------------------------------------- 11-15: segd itself
    def _k(self):
        """Endpoint k (app=k), accepting only p: the target of the kill tests."""
        if "k" not in self.topo.endpoints:
            self.topo.add_endpoint("k")
            self.topo.start_server("k", tcp=(80,), udp=(80,))
        if "k" not in self._registered:
            self.register("k")
            self._registered.add("k")
        self.policies(ingress_from("k", "p"))
        return self.flows_ok(fl("p", "k") + fl("a", "k", expect=False), "controls (p reaches k, a does not)")

    def t_kill_delete(self):
        """11. segd SIGKILLed; root in k's namespace deletes table inet segd."""
        if not self._k():
            return
        try:
            self.segd.kill9()
            r = S.ns_run(self.ns("k"), ["nft", "delete", "table", "inet", "segd"], check=False)
            self.r.check(r.returncode != 0, "with segd dead, `nft delete table inet segd` in k succeeded")
            if r.returncode != 0:
                self.r.check("Operation not permitted" in r.stderr,
                             "the delete failed, but not with EPERM: %s" % r.stderr.strip())
            self.r.check(self.topo.nft_table("k") is not None, "table inet segd gone from k")
            self.flows_ok(fl("p", "k") + fl("a", "k", expect=False), "k, segd dead: p reaches k, a must not")
        finally:
            self.ensure_segd()

    def t_kill_squat(self):
        """12. segd and its holder killed; root in k's namespace replaces `inet segd` with its
        own owned table; segd restarted must flag k and still isolate it."""
        if not self._k():
            return
        squat = None
        try:
            self.segd.kill9()
            holder = self.segd.kill_fdstore()
            print("    fd holder: %s" % ("pid %d killed" % holder if holder else "none running"), flush=True)
            squat = subprocess.Popen(S.ns_cmd(self.ns("k"), [sys.executable, os.path.join(HERE, "nft_squat.py")]),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = T._readline_timeout(squat.stdout, 10).strip()
            if line != "ready":
                # the kernel refused: the attack is impossible; k must still be enforced
                print("    squatter: %s" % (line or squat.stderr.read()), flush=True)
                self.ensure_segd()
                self.r.check(not self.wait_enforced(["k"]), "k not enforced after restart")
                self.flows_ok(fl("p", "k") + fl("a", "k", expect=False), "squat refused: k still isolated")
                return
            self.segd.start()
            bad = self.wait_settled(self.registered)
            self.r.check(not bad, "endpoints not settled 5 s after restart: %s" % bad)
            k = self.endpoint("k") or {}
            self.r.check(k.get("state") == "compromised", "k reported as %r (error %r), not \"compromised\", "
                         "while another process owns its table inet segd" % (k.get("state"), k.get("error")))
            st = self.segd.status()
            ncomp = sum(1 for e in self.endpoints().values() if e.get("state") == "compromised")
            self.r.check(st.get("compromised") == ncomp and ncomp >= 1,
                         "segctl status: compromised=%r, endpoints in state compromised: %d" % (
                             st.get("compromised"), ncomp))
            others = {n: e.get("state") for n, e in self.endpoints().items() if n != "k"}
            self.r.check(all(s == "enforced" for s in others.values()), "other endpoints: %s" % others)
            self.flows_ok(fl("p", "k") + fl("a", "k", expect=False), "k compromised: p reaches k, a must not")
        finally:
            if squat:
                squat.kill()
                squat.wait()
            # the squatter's table is an orphan now; remove it and hand k back to segd
            S.ns_run(self.ns("k"), ["nft", "delete", "table", "inet", "segd"], check=False)
            self.unregister("k")
            self._registered.discard("k")
            self.ensure_segd()

    def t_netns_recreated(self):
        """13. A registered namespace deleted and re-created under the same name: segd's table
        must be in the new one within 1 s."""
        if "r" not in self.topo.endpoints:
            self.topo.add_endpoint("r")
            self.topo.start_server("r", tcp=(80,), udp=(80,))
            self.register("r")
            self._registered.add("r")
        self.policies(ingress_from("r", "p"))
        self.flows_ok(fl("p", "r") + fl("a", "r", expect=False), "controls (p reaches r, a does not)")
        r = self.ep("r")
        # the new eth0 keeps the old MAC: the peers' neighbour entries stay right, so the
        # probes below fail only if segd's rules say so
        mac = S.mac_of(r.netns)
        self.topo.stop_server("r")
        T.kill_netns_pids(r.netns)
        T.run(["ip", "-n", self.topo.hub, "link", "del", self.topo.hub_port("r")])
        T.run(["ip", "netns", "del", r.netns])
        t0 = time.monotonic()
        T.run(["ip", "netns", "add", r.netns])
        port = "pr%d" % int(t0 * 1000 % 100000)
        S.ns_run(r.netns, ["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"])
        T.run(["ip", "link", "add", "name", "eth0", "address", mac, "netns", r.netns, "type", "veth",
               "peer", "name", port, "netns", self.topo.hub])
        T.run(["ip", "-n", self.topo.hub, "link", "set", port, "master", "br0", "up"])
        T.run(["ip", "-n", r.netns, "link", "set", "lo", "up"])
        T.run(["ip", "-n", r.netns, "addr", "add", "%s/%d" % (r.v4, T.V4_NET.prefixlen), "dev", "eth0"])
        T.run(["ip", "-n", r.netns, "-6", "addr", "add", "%s/%d" % (r.v6, T.V6_NET.prefixlen), "dev", "eth0", "nodad"])
        T.run(["ip", "-n", r.netns, "link", "set", "eth0", "up"])
        # the requirement is the deadline: 1 s after `ip netns add`
        while self.topo.nft_table("r") is None and time.monotonic() - t0 < 1.0:
            time.sleep(0.02)
        dt = time.monotonic() - t0
        have = self.topo.nft_table("r") is not None
        self.r.check(have, "no table inet segd in the re-created namespace %s 1 s after `ip netns add`" % r.netns)
        if have:
            print("    table in the new namespace %.2fs after ip netns add" % dt, flush=True)
        self.topo.start_server("r", tcp=(80,), udp=(80,))
        bad = eventually(lambda: check_flows(self.topo, fl("p", "r"), self.a.timeout_ms), timeout=FOLLOW)
        if self.r.no_problems(bad or [], "re-created r: p (allowed) reaches it within %.0f s" % FOLLOW):
            self.flows_ok(fl("a", "r", expect=False), "re-created r: a (not allowed) must not reach it")

    def _conflicts(self, name):
        return (self.endpoint(name) or {}).get("address_conflicts")

    def t_duplicate_address(self):
        """14. Two endpoints with the same address: both flagged, `segctl check ADDR` refuses."""
        self.policies()
        dup = "10.213.0.77"
        for d in ("d1", "d2"):
            if d not in self.topo.endpoints:
                self.topo.add_endpoint(d, v4=dup)
        try:
            for order in (("d1", "d2"), ("d2", "d1")):
                for d in order:
                    self.register(d)
                    self._registered.add(d)

                def unflagged():
                    bad = []
                    for d in ("d1", "d2"):
                        other = "d2" if d == "d1" else "d1"
                        text = json.dumps(self._conflicts(d) or [])
                        if not (self._conflicts(d) and dup in text and other in text):
                            bad.append("%s: address_conflicts %s" % (d, self._conflicts(d)))
                    return bad
                bad = eventually(unflagged, timeout=FOLLOW)
                self.r.check(not bad, "registered %s then %s with the same %s: %s" % (order[0], order[1], dup, bad))
                clean = self._conflicts("v")
                self.r.check(not clean, "v (no conflict) has address_conflicts %s" % clean)
                p = self.segd.ctl("check", dup, "v", "80")
                out = p.stdout + p.stderr
                self.r.check(p.returncode != 0 and "ambiguous" in out.lower() and "d1" in out and "d2" in out,
                             "segctl check %s v 80 (order %s): exit %d, %r; want non-zero, 'ambiguous', d1 and d2" % (
                                 dup, "/".join(order), p.returncode, out.strip()[:300]))
                p = self.segd.ctl("check", self.addr("a", 4), "v", "80")
                self.r.check(p.returncode == 0, "control: segctl check %s v 80 exit %d: %s" % (
                    self.addr("a", 4), p.returncode, (p.stdout + p.stderr).strip()[:200]))
                # one of them goes: the other is no longer in conflict
                self.unregister(order[1])
                self._registered.discard(order[1])
                bad = eventually(lambda: self._conflicts(order[0]) or [], timeout=FOLLOW)
                self.r.check(not bad, "%s still has address_conflicts %s after %s was removed" % (order[0], bad, order[1]))
                p = self.segd.ctl("check", dup, "v", "80")
                self.r.check(p.returncode == 0, "segctl check %s v 80 with only %s holding it: exit %d %s" % (
                    dup, order[0], p.returncode, (p.stdout + p.stderr).strip()[:200]))
                self.unregister(order[0])
                self._registered.discard(order[0])
        finally:
            for d in ("d1", "d2"):
                if d in self._registered:
                    self.unregister(d)
                    self._registered.discard(d)

    def t_unguarded(self):
        """15. An endpoint with no host-side device (macvlan, ipvlan) is shown as not guarded."""
        self.policies(ingress_from("v", "p"))
        made = []
        # the lower device: one end of a veth pair that lives entirely in a namespace of ours
        lower = self.topo.add_netns("ml")
        T.run(["ip", "-n", lower, "link", "add", "l0", "type", "veth", "peer", "name", "l1"])
        T.run(["ip", "-n", lower, "link", "set", "l0", "up"])
        T.run(["ip", "-n", lower, "link", "set", "l1", "up"])
        kinds = [("mv", "macvlan", ["mode", "bridge"], "10.99.0.2"), ("iv", "ipvlan", ["mode", "l2"], "10.99.0.3")]
        for name, kind, opts, ip4 in kinds:
            p = T.run(["ip", "-n", lower, "link", "add", "link", "l0", "name", name + "0", "type", kind] + opts,
                      check=False)
            if p.returncode != 0:
                print("    %s: not available in this kernel (%s)" % (kind, p.stderr.strip()), flush=True)
                continue
            ns = self.topo.add_netns(name)
            T.run(["ip", "-n", lower, "link", "set", name + "0", "netns", ns])
            T.run(["ip", "-n", ns, "link", "set", name + "0", "name", "eth0"])
            T.run(["ip", "-n", ns, "addr", "add", ip4 + "/24", "dev", "eth0"])
            T.run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            self.register(name, netns=ns)
            self._registered.add(name)
            made.append((name, kind))
        try:
            if not self.r.check(made, "neither macvlan nor ipvlan could be made"):
                return
            eps = self.endpoints()
            for name, kind in made:
                e = eps.get(name) or {}
                self.r.check(e.get("state") == "enforced", "%s (%s): state %s (%s): its own table is still "
                             "expected" % (name, kind, e.get("state"), e.get("error")))
                g = e.get("guard")
                self.r.check(isinstance(g, dict) and g.get("state") == "none" and isinstance(g.get("reason"), str)
                             and g.get("reason"), "%s (%s interface): guard %r, want {\"state\": \"none\", "
                             "\"reason\": \"...\"}" % (name, kind, g))
            for name in EPS:
                g = (eps.get(name) or {}).get("guard")
                want = self.topo.hub_port(name)
                self.r.check(isinstance(g, dict) and g.get("state") == "enforced" and
                             want in [d.get("device") for d in g.get("devices") or []],
                             "%s (veth, hub side %s): guard %r, want state enforced, device %s" % (name, want, g, want))
            st = self.segd.status()
            none = sum(1 for e in eps.values() if (e.get("guard") or {}).get("state") == "none")
            self.r.check(st.get("unguarded") == none and none >= len(made),
                         "segctl status: unguarded=%r; endpoints listed with guard state none: %d (want >= %d)" % (
                             st.get("unguarded"), none, len(made)))
        finally:
            for name, _ in made:
                self.unregister(name)
                self._registered.discard(name)

    # ====================================================================== main
    def main(self):
        self._registered = set(EPS)
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
            ("1 spoofed source: UDP and TCP SYN from a as p reach v's sockets / get a SYN-ACK", self.t_spoof),
            ("2 address takeover: a takes p's addresses, announces them, connects to v", self.t_takeover),
            ("3 AF_PACKET frames from egress-isolated a to v", self.t_packet_socket),
            ("3b egress-isolated a still answers connections its ingress accepts", self.t_guard_replies),
            ("5 ipBlock ::/0 except the pod CIDR: a reaches v over link-local", self.t_link_local_egress),
            ("6 an allowed peer reaches v over link-local", self.t_link_local_peer),
            ("7 router advertisement from p: no default route, no SLAAC address, not listed", self.t_router_advert),
            ("7b ICMPv6 redirect from p (v's first hop) to a", self.t_redirect),
            ("7c an address with a finite lifetime is not listed", self.t_dynamic_address),
            ("8 forged port unreachable from a kills v's UDP flow to p", self.t_icmp_forgery),
            ("9 conntrack -I in egress-isolated a: forged ESTABLISHED entries to v", self.t_conntrack_forgery),
            ("10 a's own nft chains: DNAT before segd's output chain, netdev egress rewrite back", self.t_nft_rewrite),
            ("14 duplicate address: both flagged, segctl check ADDR is ambiguous", self.t_duplicate_address),
            ("15 macvlan/ipvlan endpoints: guard none, counted unguarded", self.t_unguarded),
            ("13 namespace deleted and re-created under the same name: table within 1 s", self.t_netns_recreated),
            ("4a established flows cut when v's ingress is tightened", self.t_cut_ingress),
            ("4b established flows cut when a's egress is tightened", self.t_cut_egress),
            ("4c established flows cut when tightened after a segd restart", self.t_cut_after_restart),
            ("4d --keep-established: established flows survive a tightening", self.t_keep_established),
            ("11 segd killed: nft delete table inet segd in k is refused", self.t_kill_delete),
            ("12 segd and holder killed, table squatted: k compromised and still isolated", self.t_kill_squat),
        ]
        t0 = time.monotonic()
        try:
            for name, fn in tests:
                if self.a.only and not re.search(self.a.only, name):
                    continue
                if not self.segd.alive():
                    try:
                        self.ensure_segd()
                    except Exception as e:  # noqa: BLE001
                        msg = "segd is not running: %s\n%s" % (e, self.segd.log_tail())
                        self.r.run(name, lambda: self.r.check(False, msg))
                        continue
                self.r.run(name, fn)
        finally:
            print("# security suite: %.1fs" % (time.monotonic() - t0), flush=True)
            self.teardown()
        return self.r.summary()

    def teardown(self):
        if self.a.keep_log and self.segd:
            print("# segd log: %s" % self.segd.log_path, flush=True)
        if self.segd:
            self.segd.close()
        if self.topo:
            self.topo.close()


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
    return T.netns_suite_args(ap, tools=("conntrack", "nft", "ip", "nsenter"))


if __name__ == "__main__":
    sys.exit(Suite(args()).main())
